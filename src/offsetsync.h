/* offsetsync.h — offset translation: when kmirror emits offset-syncs (the writer, run by each
 * task per source partition) and how a downstream offset is found for a committed upstream
 * offset (the store, run by the checkpoint emitter and `kmirror translate-offsets`).
 *
 * Exactness. MM2 (≥3.5) translates conservatively — "the sync at or before u, plus one" —
 * because a sync proves nothing about the offsets after it: there may be gaps (compaction,
 * transaction markers, retention). kmirror's writer emits a sync at the first record of every
 * *run* (a stretch of records contiguous on both sides) and marks it with a record header
 * (KM_SYNC_HEADER, ignored by Java readers) that says where the previous run ended. Between two
 * such marked syncs every offset is accounted for, so a committed upstream offset u translates
 * to the downstream offset of the first record at or after u — exactly. Syncs without the header
 * (Java MM2's) fall back to MM2's conservative rule.
 *
 * Records a flow skips (provenance.h) end a run like a gap. A position may stop at a skipped
 * record only once a sync of the last written record says, in its `next`, that the offsets up
 * to it hold nothing to mirror (km_sync_writer_covered); a restart there then translates the
 * skipped offsets to the first record written after them.
 *
 * All of this is pure data manipulation, unit-tested directly; task.c and checkpoint.c do the
 * I/O. */
#ifndef KM_OFFSETSYNC_H
#define KM_OFFSETSYNC_H

#include "records.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- writer: one per replicated partition ---- */
typedef struct km_sync_writer {
    bool started;
    int64_t resume_end;   /* last upstream offset replicated before this start (position), -1 none */
    int64_t prev_u, prev_d; /* last acknowledged record */
    int64_t last_sync_d;  /* downstream offset of the last emitted sync */
    int64_t synced_u;     /* upstream offset of the last emitted sync */
    int64_t synced_next;  /* its `next` */
    int64_t done;         /* last upstream offset written or skipped, in order (resume_end at start) */
} km_sync_writer_t;

void km_sync_writer_init(km_sync_writer_t *w, int64_t resume_end);
/* A record at upstream u was acknowledged at downstream d. Returns true and fills `out`
 * (topic/partition left for the caller) when a sync must be sent now. lag_max: offset.lag.max. */
bool km_sync_writer_ack(km_sync_writer_t *w, int64_t u, int64_t d, int64_t lag_max, km_offset_sync_t *out);
/* The record at upstream u was skipped (provenance.h), in order with the acknowledged ones. It
 * ends the run like a gap; no sync is due for it by itself. */
void km_sync_writer_skip(km_sync_writer_t *w, int64_t u);
/* The highest source position the emitted syncs account for. A position past the last written
 * record (skipped records after it) needs a sync of that record whose `next` covers them (a
 * flush emits it); before anything is written after a start no sync can describe what was
 * skipped, so the position stays where it started (those records are read and skipped again
 * after a restart). The caller commits min(this, the acknowledged position, km_syncq_bound). */
int64_t km_sync_writer_covered(const km_sync_writer_t *w);
/* Periodic (offset flush): the latest record's sync, if not sent yet, or a newer `next` once the
 * source position moved past offsets that hold no records (trailing transaction markers) or
 * whose records were skipped.
 * position: the source consumer's position when nothing of this partition is in flight, else -1. */
bool km_sync_writer_flush(km_sync_writer_t *w, int64_t position, km_offset_sync_t *out);

/* ---- store: syncs read back, per upstream topic-partition ---- */
typedef struct km_sync_store km_sync_store_t;

/* Per partition at most `per_partition` syncs are kept (the oldest are forgotten). */
km_sync_store_t *km_sync_store_new(int per_partition);
void km_sync_store_free(km_sync_store_t *s);
/* Adds a sync in log order (s is copied); one with out-of-range values (never decoded) is ignored. */
void km_sync_store_add(km_sync_store_t *st, const km_offset_sync_t *s);

typedef enum {
    KM_XLATE_NONE = 0,       /* no sync at or before the offset: not translatable */
    KM_XLATE_EXACT,          /* the first record at or after the offset */
    KM_XLATE_CONSERVATIVE    /* MM2's rule: may re-read, never skips */
} km_xlate_t;

km_xlate_t km_sync_store_translate(const km_sync_store_t *st, const char *topic, int32_t partition, int64_t upstream,
                                   int64_t *downstream);

#endif
