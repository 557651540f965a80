/* reject.h — the one place internal-topic records that fail validation are reported.
 *
 * Positions, checkpoints, offset-syncs and heartbeats are read back from Kafka topics anyone
 * with write access can corrupt; their decoders reject out-of-range values (records.h,
 * positions.h) and the readers call km_reject for each rejected record. A record is logged once
 * (the same topic/partition/offset read again, as positions are at every task start, is not
 * logged again while it is among the last ones seen), at most KM_REJECT_BURST lines per internal
 * topic per minute, with a count of those left out; every distinct rejected record is counted
 * (kmirror_internal_records_rejected_total{topic}). Process-wide state behind a mutex: rejected
 * records are rare and never on the record path. */
#ifndef KM_REJECT_H
#define KM_REJECT_H

#include <stddef.h>
#include <stdint.h>

#define KM_REJECT_BURST 5

/* Logs (a WARN naming topic, partition, offset and the reason fmt) and counts a rejected record. */
void km_reject(const char *topic, int32_t partition, int64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Distinct rejected records of `topic` so far. */
uint64_t km_reject_count(const char *topic);
/* Calls fn for each internal topic with rejections, in first-seen order. */
void km_reject_each(void (*fn)(const char *topic, uint64_t count, void *arg), void *arg);

#endif
