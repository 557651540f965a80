/* offsetsync.c — see offsetsync.h for the model. Terms used below: a *run* is a stretch of
 * records whose upstream and downstream offsets both advance by one per record; `lo` is the
 * newest stored sync at or before the offset being translated, `hi` the oldest after it. */
#include "offsetsync.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---- writer ---------------------------------------------------------------------------------- */

void km_sync_writer_init(km_sync_writer_t *w, int64_t resume_end) {
    *w = (km_sync_writer_t){.resume_end = resume_end, .prev_u = -1, .prev_d = -1, .last_sync_d = -1, .synced_u = -1,
                            .synced_next = -1, .done = resume_end};
}

void km_sync_writer_skip(km_sync_writer_t *w, int64_t u) { w->done = u; }

int64_t km_sync_writer_covered(const km_sync_writer_t *w) {
    if (!w->started) return w->resume_end;
    if (w->done <= w->prev_u) return w->done;
    int64_t c = w->synced_u == w->prev_u && w->synced_next - 1 > w->prev_u ? w->synced_next - 1 : w->prev_u;
    return c < w->done ? c : w->done;
}

static void emit(km_sync_writer_t *w, int64_t u, int64_t d, km_sync_kind_t kind, int64_t prev_end, int64_t next,
                 km_offset_sync_t *out) {
    *out = (km_offset_sync_t){.upstream_offset = u, .downstream_offset = d, .exact = 1, .kind = kind,
                              .prev_end = prev_end, .next = next};
    w->last_sync_d = d;
    w->synced_u = u;
    w->synced_next = next;
}

bool km_sync_writer_ack(km_sync_writer_t *w, int64_t u, int64_t d, int64_t lag_max, km_offset_sync_t *out) {
    bool sent = true;
    if (!w->started) {
        w->started = true;
        emit(w, u, d, KM_SYNC_AFTER_START, w->resume_end, u + 1, out);
    } else if (u != w->prev_u + 1 || d != w->prev_d + 1) {
        /* If upstream went backwards (a re-read), the new copies supersede from u on. */
        int64_t prev_end = w->prev_u < u ? w->prev_u : u - 1;
        emit(w, u, d, KM_SYNC_AFTER_GAP, prev_end, u + 1, out);
    } else if (d - (w->last_sync_d + 1) >= lag_max) {
        emit(w, u, d, KM_SYNC_IN_RUN, -1, u + 1, out); /* for Java readers' conservative rule */
    } else {
        sent = false;
    }
    w->prev_u = u;
    w->prev_d = d;
    w->done = u;
    return sent;
}

bool km_sync_writer_flush(km_sync_writer_t *w, int64_t position, km_offset_sync_t *out) {
    if (!w->started) return false;
    int64_t next = position > w->prev_u + 1 ? position : w->prev_u + 1;
    if (w->done + 1 > next) next = w->done + 1;
    if (w->synced_u == w->prev_u && next <= w->synced_next) return false;
    emit(w, w->prev_u, w->prev_d, KM_SYNC_IN_RUN, -1, next, out);
    return true;
}

/* ---- store ----------------------------------------------------------------------------------- */

typedef struct {
    int64_t u, d, prev_end, next;
    km_sync_kind_t kind;
    bool exact;
} sync_t;

typedef struct {
    char *topic;
    int32_t partition;
    sync_t *syncs; /* ascending upstream offsets */
    size_t n, cap;
} part_t;

struct km_sync_store {
    part_t *parts; /* sorted by (topic, partition) */
    size_t n, cap;
    int per_partition;
};

km_sync_store_t *km_sync_store_new(int per_partition) {
    km_sync_store_t *s = km_xcalloc(1, sizeof(*s));
    s->per_partition = per_partition > 4 ? per_partition : 4;
    return s;
}

void km_sync_store_free(km_sync_store_t *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->parts[i].topic);
        free(s->parts[i].syncs);
    }
    free(s->parts);
    free(s);
}

static int cmp_key(const char *topic, int32_t partition, const part_t *p) {
    int c = strcmp(topic, p->topic);
    return c ? c : (partition > p->partition) - (partition < p->partition);
}

/* Index of the partition, or where it would go (*found false). */
static size_t find_part(const km_sync_store_t *s, const char *topic, int32_t partition, bool *found) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_key(topic, partition, &s->parts[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    *found = false;
    return lo;
}

static part_t *get_part(km_sync_store_t *s, const char *topic, int32_t partition) {
    bool found;
    size_t i = find_part(s, topic, partition, &found);
    if (found) return &s->parts[i];
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->parts = km_xrealloc(s->parts, s->cap * sizeof(*s->parts));
    }
    memmove(&s->parts[i + 1], &s->parts[i], (s->n - i) * sizeof(*s->parts));
    s->n++;
    s->parts[i] = (part_t){.topic = km_xstrdup(topic), .partition = partition};
    return &s->parts[i];
}

/* Drops every sync with upstream offset >= from: they describe records that were replicated
 * again (a restart that resumed earlier, a re-read) or a source topic that was reset. */
static void truncate_from(part_t *p, int64_t from) {
    while (p->n > 0 && p->syncs[p->n - 1].u >= from) p->n--;
}

static long newest_at_or_before(const part_t *p, int64_t x);

static void make_room(km_sync_store_t *st, part_t *p) {
    if (p->n == (size_t)st->per_partition) { /* forget the oldest quarter */
        size_t drop = p->n / 4;
        memmove(p->syncs, p->syncs + drop, (p->n - drop) * sizeof(*p->syncs));
        p->n -= drop;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->syncs = km_xrealloc(p->syncs, p->cap * sizeof(*p->syncs));
    }
}

/* A sync that lands in the log after a newer one (a failed sync sent again, or a producer
 * without idempotence that retried a batch): its copy lies before the newest downstream, which
 * a restart or a re-read never does (their copies come after everything). It goes where it
 * belongs by upstream offset, unless a stored sync shows it was superseded: an older upstream
 * offset copied later, or a newer one copied earlier. Truncating from it instead would drop the
 * newer run starts, and translation would then bridge their gaps. */
static void add_late(km_sync_store_t *st, part_t *p, const km_offset_sync_t *s) {
    size_t i = (size_t)(newest_at_or_before(p, s->upstream_offset) + 1);
    if (i > 0 && p->syncs[i - 1].u == s->upstream_offset) {
        sync_t *same = &p->syncs[i - 1];
        if (same->d == s->downstream_offset && s->next > same->next) same->next = s->next;
        return;
    }
    if ((i > 0 && p->syncs[i - 1].d >= s->downstream_offset) || (i < p->n && p->syncs[i].d <= s->downstream_offset)) return;
    size_t before = p->n;
    make_room(st, p);
    i -= before - p->n; /* make_room may have forgotten the oldest */
    if ((long)i < 0) return;
    memmove(&p->syncs[i + 1], &p->syncs[i], (p->n - i) * sizeof(*p->syncs));
    p->n++;
    p->syncs[i] = (sync_t){s->upstream_offset, s->downstream_offset, s->prev_end, s->next, s->kind, s->exact != 0};
}

void km_sync_store_add(km_sync_store_t *st, const km_offset_sync_t *s) {
    if (s->partition < 0 || !KM_OFFSET_VALID(s->upstream_offset) || !KM_OFFSET_VALID(s->downstream_offset)) return;
    part_t *p = get_part(st, s->topic, s->partition);
    sync_t *last = p->n ? &p->syncs[p->n - 1] : NULL;
    if (last && s->downstream_offset < last->d && s->upstream_offset > last->u) {
        /* Later upstream yet earlier downstream: no single remote log holds that, so the remote
         * partition was re-created (deleted on the target) or rewritten. What is stored maps
         * onto records that are gone; forgetting it leaves those offsets untranslatable, never
         * translated onto other records. */
        p->n = 0;
        last = NULL;
    }
    if (last && s->downstream_offset < last->d) {
        add_late(st, p, s);
        return;
    }
    if (last && s->exact && last->exact && s->kind == KM_SYNC_IN_RUN && last->u == s->upstream_offset &&
        last->d == s->downstream_offset) {
        if (s->next > last->next) last->next = s->next; /* a later flush of the same record: keep its run start */
        return;
    }
    if (s->exact && s->kind == KM_SYNC_AFTER_START && s->prev_end < INT64_MAX) truncate_from(p, s->prev_end + 1);
    truncate_from(p, s->upstream_offset);
    make_room(st, p);
    p->syncs[p->n++] = (sync_t){s->upstream_offset, s->downstream_offset, s->prev_end, s->next, s->kind, s->exact != 0};
}

/* Index of the newest sync with u <= x, or -1. */
static long newest_at_or_before(const part_t *p, int64_t x) {
    long lo = 0, hi = (long)p->n;
    while (lo < hi) {
        long mid = (lo + hi) / 2;
        if (p->syncs[mid].u <= x) lo = mid + 1;
        else hi = mid;
    }
    return lo - 1;
}

km_xlate_t km_sync_store_translate(const km_sync_store_t *st, const char *topic, int32_t partition, int64_t x,
                                   int64_t *downstream) {
    bool found;
    size_t i = find_part(st, topic, partition, &found);
    if (!found) return KM_XLATE_NONE;
    const part_t *p = &st->parts[i];
    long l = newest_at_or_before(p, x);
    const sync_t *lo = l >= 0 ? &p->syncs[l] : NULL;
    const sync_t *hi = (size_t)(l + 1) < p->n ? &p->syncs[l + 1] : NULL;
    if (lo && lo->u == x) {
        *downstream = lo->d;
        return lo->exact ? KM_XLATE_EXACT : KM_XLATE_CONSERVATIVE;
    }
    if (hi && hi->exact && hi->kind != KM_SYNC_IN_RUN && x > hi->prev_end) {
        *downstream = hi->d; /* x falls in the gap before hi's run: hi is the first record at or after x */
        return KM_XLATE_EXACT;
    }
    if (!lo) return KM_XLATE_NONE; /* older than anything we know */
    if (lo->exact && x < lo->next && hi && hi->exact && hi->kind != KM_SYNC_IN_RUN) {
        /* x is in lo's tail, offsets that hold no record to mirror (skipped, or transaction
         * markers): lo's run ended there, and the first record after it starts hi's run. Needed
         * where hi is a restart whose position lay inside the tail (prev_end >= x). */
        *downstream = hi->d;
        return KM_XLATE_EXACT;
    }
    if (lo->exact && hi && hi->exact) {
        /* same run as lo; a sum past INT64_MAX means the syncs contradict each other */
        if (__builtin_add_overflow(lo->d, x - lo->u, downstream)) return KM_XLATE_NONE;
        return KM_XLATE_EXACT;
    }
    if (lo->exact && !hi && x <= lo->next) {
        *downstream = lo->d + 1; /* only empty offsets between lo and x: the next record lands at lo.d+1 */
        return KM_XLATE_EXACT;
    }
    *downstream = lo->d + 1;
    return KM_XLATE_CONSERVATIVE;
}
