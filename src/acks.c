/* acks.c — see acks.h. */
#include "acks.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---- records in flight ----------------------------------------------------------------------- */

static km_rec_t *at(const km_recs_t *r, size_t i) { return &r->slot[(r->head + i) & (r->cap - 1)]; }

static void push(km_recs_t *r, km_rec_t rec) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        km_rec_t *slot = km_xmalloc(cap * sizeof(*slot));
        for (size_t i = 0; i < r->n; i++) slot[i] = *at(r, i);
        free(r->slot);
        *r = (km_recs_t){slot, 0, r->n, cap};
    }
    *at(r, r->n++) = rec;
}

void km_recs_push(km_recs_t *r, int64_t u, int64_t ts, uint32_t size, int64_t mark) {
    push(r, (km_rec_t){u, -1, ts, KM_REC_INFLIGHT, size, mark});
}

void km_recs_push_skipped(km_recs_t *r, int64_t u) {
    push(r, (km_rec_t){u, -1, 0, KM_REC_SKIPPED, 0, r->n ? at(r, r->n - 1)->mark : 0});
}

bool km_recs_front_mark(const km_recs_t *r, int64_t *mark) {
    if (r->n == 0) return false;
    *mark = at(r, 0)->mark;
    return true;
}

/* The index of source offset u, or r->n. Reports mostly come in produce order and the acknowledged
 * prefix is popped after each, so u is mostly at the front; without gaps in the source offsets
 * (compaction, transaction markers) its index is u minus the front's offset. */
static size_t find(const km_recs_t *r, int64_t u) {
    if (r->n == 0) return 0;
    int64_t guess = u - at(r, 0)->u;
    if (guess >= 0 && (uint64_t)guess < r->n && at(r, (size_t)guess)->u == u) return (size_t)guess;
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t x = at(r, mid)->u;
        if (x == u) return mid;
        if (x < u) lo = mid + 1;
        else hi = mid;
    }
    return r->n;
}

bool km_recs_report(km_recs_t *r, int64_t u, int64_t d, uint32_t *size) {
    size_t i = find(r, u);
    if (i == r->n) return false;
    km_rec_t *x = at(r, i);
    if (x->state == KM_REC_SKIPPED) return false;
    x->state = d >= 0 ? KM_REC_ACKED : KM_REC_FAILED;
    x->d = d;
    if (size) *size = x->size;
    return true;
}

bool km_recs_pop_acked(km_recs_t *r, km_rec_t *out) {
    if (r->n == 0 || (at(r, 0)->state != KM_REC_ACKED && at(r, 0)->state != KM_REC_SKIPPED)) return false;
    *out = *at(r, 0);
    r->head = (r->head + 1) & (r->cap - 1);
    r->n--;
    return true;
}

void km_recs_clear(km_recs_t *r) { r->head = r->n = 0; }

void km_recs_free(km_recs_t *r) {
    free(r->slot);
    *r = (km_recs_t){0};
}

/* ---- offset-syncs pending -------------------------------------------------------------------- */

km_pending_sync_t *km_syncq_add(km_syncq_t *q, const km_offset_sync_t *s) {
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 4;
        q->q = km_xrealloc(q->q, q->cap * sizeof(*q->q));
    }
    km_pending_sync_t *e = &q->q[q->n++];
    *e = (km_pending_sync_t){*s, q->next_seq++, false};
    return q->broken ? NULL : e;
}

void km_syncq_sending(km_syncq_t *q, bool ok) {
    if (ok) q->inflight++;
    else q->broken = true;
}

bool km_syncq_report(km_syncq_t *q, uint64_t seq, bool ok) {
    bool news = false;
    if (q->inflight > 0) q->inflight--;
    if (!ok) {
        news = !q->broken;
        q->broken = true;
    } else if (q->n && seq >= q->q[0].seq && seq - q->q[0].seq < q->n) {
        q->q[seq - q->q[0].seq].acked = true;
    }
    size_t done = 0;
    while (done < q->n && q->q[done].acked) done++;
    if (done) {
        memmove(q->q, q->q + done, (q->n - done) * sizeof(*q->q));
        q->n -= done;
    }
    return !news;
}

bool km_syncq_resend_due(km_syncq_t *q) {
    if (!q->broken || q->inflight > 0) return false;
    q->broken = false;
    for (size_t i = 0; i < q->n; i++) q->q[i].acked = false;
    return true;
}

int64_t km_syncq_bound(const km_syncq_t *q, int64_t acked) {
    if (q->n == 0) return acked;
    int64_t before = q->q[0].s.upstream_offset - 1;
    return acked < before ? acked : before;
}

void km_syncq_clear(km_syncq_t *q) {
    q->n = 0;
    q->broken = false;
}

void km_syncq_free(km_syncq_t *q) {
    free(q->q);
    *q = (km_syncq_t){0};
}
