/* ackq.h — the acknowledged prefix of one partition's records in flight.
 *
 * A source offset counts as replicated only when the target acknowledged it and every record
 * before it. With acks=all and idempotence, delivery reports arrive in produce order and the
 * highest acknowledged offset is that prefix; with acks=1 (idempotence off) a retried batch is
 * reported after later ones, so "highest acknowledged" can cover a record that later fails and
 * is lost in a crash. The queue holds the in-flight offsets in produce order (ascending) and
 * gives back the acknowledged ones only from the head, in order, stopping at the first record
 * not yet acknowledged or failed.
 *
 * One ring per partition, grown by doubling: no allocation per record once it has the size of
 * the partition's in-flight window. Pure data, unit-tested directly; task.c does the I/O. */
#ifndef KM_ACKQ_H
#define KM_ACKQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct km_ackq_entry {
    int64_t u; /* source offset */
    int64_t d; /* target offset once acknowledged; KM_ACKQ_PENDING / KM_ACKQ_FAILED before */
} km_ackq_entry_t;

#define KM_ACKQ_PENDING (-1)
#define KM_ACKQ_FAILED (-2)

typedef struct km_ackq {
    km_ackq_entry_t *e;
    size_t cap, head, n; /* cap is 0 or a power of two */
} km_ackq_t;

/* A record at source offset u was produced (u greater than every offset in the queue). */
void km_ackq_push(km_ackq_t *q, int64_t u);
/* Its delivery report: acknowledged at target offset d (>= 0), or failed (d < 0). False when u
 * is not in flight (a report for a record dropped by km_ackq_clear). */
bool km_ackq_report(km_ackq_t *q, int64_t u, int64_t d);
/* Takes the head when it is acknowledged: true with its offsets. False when the queue is empty
 * or the head is still in flight or failed (nothing after a failure counts until the re-read). */
bool km_ackq_pop(km_ackq_t *q, int64_t *u, int64_t *d);
/* Forgets everything (the partition is re-read from its first failed offset). */
void km_ackq_clear(km_ackq_t *q);
void km_ackq_free(km_ackq_t *q);

#endif
