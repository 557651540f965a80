/* acks.h — what the target has acknowledged, per replicated partition (prefix km_recs_ and
 * km_syncq_).
 *
 * A replicated position must never cover a record that is not on the target, nor pass an
 * offset-sync that is not on its cluster (translation would bridge the gap that sync describes
 * and call the answer exact). Delivery reports make both hard: with acks other than all the
 * producer is not idempotent and reports can come back out of order; an offset-sync can fail
 * while a later one succeeds. Two small structures keep the truth:
 *
 *   km_recs_t   the records in flight, in produce (= source offset) order, each in flight,
 *               acknowledged (with its target offset) or failed; the position is the end of
 *               the acknowledged prefix, and the offset-sync writer sees records in that order.
 *   km_syncq_t  the offset-syncs sent and not yet acknowledged in order; one that fails (or
 *               cannot be queued) stays, and once none is in flight every pending one is sent
 *               again in log order. A position stops before the oldest pending sync.
 *
 * Pure data, no I/O (task.c does that); unit-tested and exercised by the crash/gap simulation
 * in tests/unit/test_records_offsetsync.c. Growth doubles; nothing is allocated per record. */
#ifndef KM_ACKS_H
#define KM_ACKS_H

#include "records.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SKIPPED: not written at all (provenance.h), done as soon as every record before it is. */
typedef enum { KM_REC_INFLIGHT, KM_REC_ACKED, KM_REC_FAILED, KM_REC_SKIPPED } km_rec_state_t;

typedef struct km_rec {
    int64_t u, d;  /* source offset; target offset once acknowledged */
    int64_t ts;    /* source timestamp (latency metrics) */
    km_rec_state_t state;
    uint32_t size; /* what the record counts against the in-flight budget (a record is < 2 GiB) */
    int64_t mark;  /* the caller's, kept with the record: task.c's bytes read before it */
} km_rec_t;

typedef struct km_recs {
    km_rec_t *slot; /* ring; capacity a power of two */
    size_t head, n, cap;
} km_recs_t;

/* Records must be pushed in ascending source offset order. */
void km_recs_push(km_recs_t *r, int64_t u, int64_t ts, uint32_t size, int64_t mark);
/* A record that is not written; it follows the records before it out (callers skip the push
 * when nothing is in flight: it is done at once) and takes the mark of the one before it. */
void km_recs_push_skipped(km_recs_t *r, int64_t u);
/* The mark of the oldest record still held; false when none is. */
bool km_recs_front_mark(const km_recs_t *r, int64_t *mark);
/* A delivery report for source offset u: acknowledged at target offset d, or failed when d < 0;
 * *size (unless NULL) gets the size it was pushed with. False when u is not in flight (a clear
 * dropped it). Reports in produce order cost O(1), others a binary search. */
bool km_recs_report(km_recs_t *r, int64_t u, int64_t d, uint32_t *size);
/* Takes the front record into *out if it is acknowledged or skipped (out->state says which). */
bool km_recs_pop_acked(km_recs_t *r, km_rec_t *out);
/* Forgets every record (after a rewind: they are read again). */
void km_recs_clear(km_recs_t *r);
void km_recs_free(km_recs_t *r);

typedef struct km_pending_sync {
    km_offset_sync_t s; /* s.topic is borrowed from the caller and must outlive the queue entry */
    uint64_t seq;
    bool acked;
} km_pending_sync_t;

typedef struct km_syncq {
    km_pending_sync_t *q; /* log order, oldest first */
    size_t n, cap;
    uint64_t next_seq;
    int inflight; /* handed to the producer, not reported yet */
    bool broken;  /* one failed or could not be queued: the rest wait and all go again */
} km_syncq_t;

/* Queues s. Returns the entry to send now, or NULL when it must wait for a re-send. */
km_pending_sync_t *km_syncq_add(km_syncq_t *q, const km_offset_sync_t *s);
/* The producer took the entry (ok) or refused it (!ok: the queue is broken). */
void km_syncq_sending(km_syncq_t *q, bool ok);
/* The delivery report of entry seq. Returns false when it failed and the queue was not broken
 * before (the caller says so once). */
bool km_syncq_report(km_syncq_t *q, uint64_t seq, bool ok);
/* Whether every pending entry must be sent again now (broken, nothing in flight); if so the
 * queue is whole again and the caller sends q->q[0..n) in order through km_syncq_sending. */
bool km_syncq_resend_due(km_syncq_t *q);
/* The highest position that may be committed when the acknowledged prefix ends at acked. */
int64_t km_syncq_bound(const km_syncq_t *q, int64_t acked);
void km_syncq_clear(km_syncq_t *q);
void km_syncq_free(km_syncq_t *q);

#endif
