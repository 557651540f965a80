/* positions.h — where each source partition's replication stands, stored the way MM2 stores it.
 *
 * MM2 (a Kafka Connect source connector) keeps "the last replicated upstream offset" of every
 * source partition in Connect's offsets topic on the target, mm2-offsets.{source}.internal:
 *   key   ["MirrorSourceConnector",{"cluster":"<src>","partition":<p>,"topic":"<t>"}]
 *   value {"offset":<last replicated offset>}
 * (mm2-reference.md §2.5). kmirror writes byte-identical records to the partition Java's
 * producer would choose (murmur2 of the key), so Java MM2 and kmirror can take over from each
 * other; replication resumes at offset + 1.
 *
 * kmirror also puts a record header on each position (KM_POS_TS_HEADER, which Connect and Java
 * MM2 ignore): the timestamp of the source record at that offset. A start compares it with the
 * record the source now holds there, which tells a log that was replaced under the position (a
 * topic deleted and re-created with at least as many records) from the one that was mirrored:
 * without topic ids (librdkafka 2.0.2) nothing else can.
 *
 * km_positions_t is a plain sorted map (topic, partition) → last replicated offset, owned by
 * the flow controller; tasks report into it when they stop. */
#ifndef KM_POSITIONS_H
#define KM_POSITIONS_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct km_position {
    char *topic;
    int32_t partition;
    int64_t offset; /* last replicated source offset; -1 while rejected */
    int64_t ts;     /* timestamp of the source record at offset (KM_POS_TS_HEADER), -1 unknown */
    int64_t rejected_at; /* offset in the offsets topic of the invalid record that is the last
                          * word on this partition, else -1: see km_positions_rejected */
} km_position_t;

typedef struct km_positions {
    km_position_t *items; /* sorted by (topic, partition) */
    size_t n, cap;
} km_positions_t;

/* Connect's exact bytes. Returned buffers are owned by the caller. */
char *km_pos_encode_key(const char *cluster, const char *topic, int32_t partition, size_t *len);
char *km_pos_encode_value(int64_t offset, size_t *len);
/* 0 when key is a MirrorSourceConnector position key; *cluster and *topic are then owned by the
 * caller. -1 for another connector's key (a JSON array led by another name) or a NULL key.
 * -2 for anything else, a corrupt key: bytes that are not such an array, missing fields, or a
 * partition that is not an int32 >= 0 (it must not become another partition); *cluster and
 * *topic are then the strings the key holds (caller frees) or NULL, *partition is not set. */
int km_pos_decode_key(const void *key, size_t len, char **cluster, char **topic, int32_t *partition);
/* 0 with *offset set; -1 when not {"offset":N} with N in KM_OFFSET_VALID's range. */
int km_pos_decode_value(const void *value, size_t len, int64_t *offset);

/* The position record's header: the source record's timestamp in ms, as decimal ASCII. */
#define KM_POS_TS_HEADER "kmirror.timestamp"
/* Writes a timestamp > 0 into buf (at least 21 bytes); returns its length. */
size_t km_pos_encode_ts(int64_t ts, char *buf);
/* 0 with *ts set when value is a decimal timestamp > 0 of at most 18 digits, no leading zero; -1 otherwise. */
int km_pos_decode_ts(const void *value, size_t len, int64_t *ts);

/* -1 when unknown or rejected. */
int64_t km_positions_get(const km_positions_t *p, const char *topic, int32_t partition);
/* The timestamp stored with the position, -1 when unknown. */
int64_t km_positions_ts(const km_positions_t *p, const char *topic, int32_t partition);
/* ts: the timestamp of the record at offset, -1 when unknown. */
void km_positions_set(km_positions_t *p, const char *topic, int32_t partition, int64_t offset, int64_t ts);
/* The last record for (topic, partition), at offsets-topic offset `at`, is invalid: the true
 * position is unknown, which is not the same as "none" (that would restart the partition from
 * its beginning without a word). A later valid record or tombstone clears it. */
void km_positions_reject(km_positions_t *p, const char *topic, int32_t partition, int64_t at);
/* The offsets-topic offset of the rejected record for (topic, partition), or -1. */
int64_t km_positions_rejected(const km_positions_t *p, const char *topic, int32_t partition);
/* How many partitions have a rejected position (the first one in *first, when not NULL). */
size_t km_positions_nrejected(const km_positions_t *p, const km_position_t **first);
void km_positions_remove(km_positions_t *p, const char *topic, int32_t partition);
void km_positions_free(km_positions_t *p);

/* Reads the whole offsets topic `topic` with client configuration `conf` (consumed), keeping
 * the positions of source cluster `cluster` (last record per key wins, tombstones delete).
 * Invalid records of that cluster are logged (rate-limited, with their offsets-topic partition
 * and offset); a key naming an impossible partition is ignored, an invalid value marks its
 * partition rejected (km_positions_reject).
 * Only committed records count (read_committed), up to the high watermark at the call: with
 * exactly-once, positions written in a transaction that is still open elsewhere are waited
 * for, never skipped, and those of aborted transactions never seen. A missing topic is an empty
 * result; any other error of the topic (not authorized, say) is an error. Returns 0, or -1 with
 * errstr (unreachable cluster, timeout, or *cancel set: cancel may
 * be NULL; it is looked at between requests and while reading, so a single metadata or
 * watermark request still runs to its own timeout). */
int km_positions_load(rd_kafka_conf_t *conf, const char *topic, const char *cluster, int timeout_ms,
                      const _Atomic bool *cancel, km_positions_t *out, char *errstr, size_t errlen);

#endif
