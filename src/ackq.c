/* ackq.c — see ackq.h. */
#include "ackq.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

static km_ackq_entry_t *at(const km_ackq_t *q, size_t i) { return &q->e[(q->head + i) & (q->cap - 1)]; }

void km_ackq_push(km_ackq_t *q, int64_t u) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        km_ackq_entry_t *e = km_xmalloc(cap * sizeof(*e));
        for (size_t i = 0; i < q->n; i++) e[i] = *at(q, i);
        free(q->e);
        q->e = e;
        q->cap = cap;
        q->head = 0;
    }
    *at(q, q->n++) = (km_ackq_entry_t){u, KM_ACKQ_PENDING};
}

bool km_ackq_report(km_ackq_t *q, int64_t u, int64_t d) {
    /* Reports mostly come in order: the head first, then a binary search (offsets ascend). */
    size_t lo = 0, hi = q->n;
    if (q->n && at(q, 0)->u != u) {
        lo = 1;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (at(q, mid)->u < u) lo = mid + 1;
            else hi = mid;
        }
    }
    if (lo >= q->n || at(q, lo)->u != u) return false;
    at(q, lo)->d = d >= 0 ? d : KM_ACKQ_FAILED;
    return true;
}

bool km_ackq_pop(km_ackq_t *q, int64_t *u, int64_t *d) {
    if (!q->n || at(q, 0)->d < 0) return false;
    *u = at(q, 0)->u;
    *d = at(q, 0)->d;
    q->head = (q->head + 1) & (q->cap - 1);
    q->n--;
    return true;
}

void km_ackq_clear(km_ackq_t *q) { q->head = q->n = 0; }

void km_ackq_free(km_ackq_t *q) {
    free(q->e);
    memset(q, 0, sizeof(*q));
}
