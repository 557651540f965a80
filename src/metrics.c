/* metrics.c — see metrics.h.
 *
 * Layout: window and histogram primitives; the per-partition update functions the task calls;
 * series tables (append-only, lock-free to read); flows, task slots and checkpoints; snapshots;
 * then the three renderings (Prometheus text, /status JSON, health). */
#include "metrics.h"
#include "reject.h"

#include "log.h"
#include "util.h"

#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define RLX memory_order_relaxed

static const int64_t hist_bounds[KM_HIST_NBOUNDS] = KM_HIST_BOUNDS;

/* Single-writer increment: a load and a store, no locked instruction (see metrics.h). */
static void bump(_Atomic uint64_t *c, uint64_t v) { atomic_store_explicit(c, atomic_load_explicit(c, RLX) + v, RLX); }
static uint64_t ld(const _Atomic uint64_t *c) { return atomic_load_explicit(c, RLX); }
static int64_t ld64(const _Atomic int64_t *c) { return atomic_load_explicit(c, RLX); }
static void st64(_Atomic int64_t *c, int64_t v) { atomic_store_explicit(c, v, RLX); }

/* ---- windows and histograms ---------------------------------------------------------------- */

/* Entering a new epoch: a seqlock-style reset, so a reader never combines old and new values.
 * Slots hold epoch + 1, so that 0 (a zeroed slot, or one being reset) matches no epoch. */
static void slot_reset(km_window_slot_t *s, int64_t tag) {
    st64(&s->epoch, 0);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->count, 0, RLX);
    atomic_store_explicit(&s->sum, 0, RLX);
    atomic_store_explicit(&s->extra, 0, RLX);
    st64(&s->min, INT64_MAX);
    st64(&s->max, INT64_MIN);
    atomic_store_explicit(&s->epoch, tag, memory_order_release);
}

void km_window_observe(km_window_t *w, int64_t now_ms, int64_t value, uint64_t extra) {
    int64_t epoch = now_ms / KM_WINDOW_MS;
    km_window_slot_t *s = &w->slot[epoch & 1];
    if (ld64(&s->epoch) != epoch + 1) slot_reset(s, epoch + 1);
    bump(&s->extra, extra);
    if (value < 0) return;
    bump(&s->count, 1);
    bump(&s->sum, (uint64_t)value);
    if (value < ld64(&s->min)) st64(&s->min, value);
    if (value > ld64(&s->max)) st64(&s->max, value);
}

/* Adds slot s to v when it belongs to the current or the previous epoch and was not being reset. */
static void slot_read(const km_window_slot_t *s, int64_t epoch, km_window_view_t *v) {
    int64_t e1 = atomic_load_explicit(&s->epoch, memory_order_acquire);
    if (e1 <= 0 || (e1 != epoch + 1 && e1 != epoch)) return;
    uint64_t count = ld(&s->count), sum = ld(&s->sum), extra = ld(&s->extra);
    int64_t mn = ld64(&s->min), mx = ld64(&s->max);
    atomic_thread_fence(memory_order_acquire);
    if (ld64(&s->epoch) != e1) return;
    v->extra += extra;
    if (count == 0) return;
    if (v->count == 0 || mn < v->min) v->min = mn;
    if (v->count == 0 || mx > v->max) v->max = mx;
    v->count += count;
    v->sum += sum;
}

km_window_view_t km_window_read(const km_window_t *w, int64_t now_ms) {
    km_window_view_t v = {0};
    int64_t epoch = now_ms / KM_WINDOW_MS;
    slot_read(&w->slot[0], epoch, &v);
    slot_read(&w->slot[1], epoch, &v);
    if (v.count) v.avg = (double)v.sum / (double)v.count;
    v.seconds = (double)(now_ms - (epoch - 1) * KM_WINDOW_MS) / 1000.0;
    return v;
}

/* The first bound >= value (KM_HIST_NBOUNDS: none), by bisection: it runs twice per record, and
 * a backlog's ages sit in the last buckets. */
int km_hist_bucket(int64_t value) {
    int lo = 0, hi = KM_HIST_NBOUNDS;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (value > hist_bounds[mid]) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

void km_hist_observe(km_hist_t *h, int64_t value) {
    if (value < 0) value = 0;
    bump(&h->bucket[km_hist_bucket(value)], 1);
    bump(&h->sum, (uint64_t)value);
}

km_hist_view_t km_hist_read(const km_hist_t *h) {
    km_hist_view_t v = {0};
    for (int i = 0; i <= KM_HIST_NBOUNDS; i++) {
        v.bucket[i] = ld(&h->bucket[i]);
        v.count += v.bucket[i];
    }
    v.sum = ld(&h->sum);
    return v;
}

/* ---- the record path ----------------------------------------------------------------------- */

void km_part_polled(km_part_stats_t *s, size_t value_len, int64_t ts, int64_t now_ms) {
    bump(&s->bytes, value_len);
    int64_t age = ts > 0 ? now_ms - ts : -1;
    if (ts > 0 && age < 0) age = 0; /* clocks differ between hosts */
    if (age >= 0) km_hist_observe(&s->age, age);
    km_window_observe(&s->age_w, now_ms, age, value_len);
}

void km_part_acked(km_part_stats_t *s, int64_t ts, int64_t now_ms) {
    bump(&s->records, 1);
    int64_t lat = ts > 0 ? now_ms - ts : -1;
    if (ts > 0 && lat < 0) lat = 0;
    if (lat >= 0) {
        km_hist_observe(&s->latency, lat);
        st64(&s->acked_ts, ts);
    }
    km_window_observe(&s->latency_w, now_ms, lat, 1);
}

void km_part_delivery_failed(km_part_stats_t *s) { bump(&s->delivery_errors, 1); }
void km_part_resent(km_part_stats_t *s, uint64_t n) { bump(&s->resent, n); }
void km_part_log_checked(km_part_stats_t *s) { bump(&s->log_checks, 1); }
void km_part_target_found_empty(km_part_stats_t *s) { bump(&s->target_empty, 1); }
void km_part_skipped(km_part_stats_t *s, uint64_t n) { bump(&s->skipped, n); }
void km_part_path_skipped(km_part_stats_t *s) { bump(&s->path_skipped, 1); }

void km_part_blocked(km_part_stats_t *s, int err, bool by_source, int64_t offset) {
    atomic_store_explicit(&s->blocked_offset, offset, RLX);
    atomic_store_explicit(&s->blocked_by_source, by_source, RLX);
    atomic_store_explicit(&s->blocked_err, err, RLX);
}
void km_part_positions_unread(km_part_stats_t *s, bool unread) { atomic_store_explicit(&s->positions_unread, unread, RLX); }
void km_part_offset_sync_emitted(km_part_stats_t *s) { bump(&s->offset_syncs, 1); }

void km_part_watermarks(km_part_stats_t *s, int64_t high_watermark, int64_t next, bool waits, int64_t now_ms, int64_t mono_ms) {
    int64_t before = ld64(&s->next);
    st64(&s->high_watermark, high_watermark);
    st64(&s->next, next);
    bool caught_up = high_watermark >= 0 && next >= high_watermark;
    if (caught_up) st64(&s->caught_up_ms, now_ms);
    atomic_store_explicit(&s->behind_txn, waits && !caught_up, RLX);
    if (caught_up || waits || next != before || ld64(&s->moved_ms) == 0) st64(&s->moved_ms, mono_ms);
}

/* A partition taken over starts its stall clock afresh: it stood still while nobody ran it. */
void km_part_assigned(km_part_stats_t *s, int task) {
    st64(&s->moved_ms, 0);
    atomic_store_explicit(&s->task, task, RLX);
}

/* ---- series tables ------------------------------------------------------------------------- */

/* Append-only: entries never move or go away, so a reader loads the published count (acquire)
 * and reads entries [0, n) without a lock. Writers (assignment, checkpoints) take the mutex and
 * find entries through an open-addressing index. */
#define CHUNK 1024
#define MAX_CHUNKS 1024 /* up to a million series per flow and kind */

typedef struct series_key {
    const char *a, *b; /* b may be NULL */
    int32_t partition;
} series_key_t;

typedef struct series_table {
    pthread_mutex_t lock;
    void **chunks[MAX_CHUNKS];
    _Atomic size_t n;
    series_key_t *keys; /* writers only; strings belong to the entries */
    uint32_t *index;    /* entry number + 1, 0 = empty */
    size_t nindex;
} series_table_t;

static uint64_t key_hash(series_key_t k) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *s = k.a; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    for (const char *s = k.b ? k.b : ""; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ (uint64_t)(uint32_t)k.partition) * 1099511628211ULL;
}

static bool key_eq(series_key_t x, series_key_t y) {
    return x.partition == y.partition && strcmp(x.a, y.a) == 0 && (x.b == y.b || (x.b && y.b && strcmp(x.b, y.b) == 0));
}

static void *table_at(const series_table_t *t, size_t i) { return t->chunks[i / CHUNK][i % CHUNK]; }

static size_t table_count(const series_table_t *t) { return atomic_load_explicit(&t->n, memory_order_acquire); }

/* The index slot of k: where it is, or the empty slot where it would go. */
static size_t table_probe(const series_table_t *t, series_key_t k) {
    size_t i = key_hash(k) & (t->nindex - 1);
    while (t->index[i] && !key_eq(t->keys[t->index[i] - 1], k)) i = (i + 1) & (t->nindex - 1);
    return i;
}

static void table_grow(series_table_t *t) {
    size_t n = atomic_load_explicit(&t->n, RLX);
    free(t->index);
    t->nindex = t->nindex ? t->nindex * 2 : 64;
    t->index = km_xcalloc(t->nindex, sizeof(*t->index));
    for (size_t i = 0; i < n; i++) t->index[table_probe(t, t->keys[i])] = (uint32_t)i + 1;
}

/* A new zeroed entry on its own cache lines: partitions of different tasks never share a line. */
static void *entry_new(size_t size) {
    size_t rounded = (size + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) km_oom();
    memset(p, 0, rounded);
    return p;
}

/* Called with t->lock held; `make` builds the entry and returns its own copy of the key. */
typedef void *(*entry_make_fn)(series_key_t k, const void *arg, series_key_t *own);

static void *table_get(series_table_t *t, series_key_t k, entry_make_fn make, const void *arg) {
    size_t n = atomic_load_explicit(&t->n, RLX);
    if (t->nindex < 2 * (n + 1)) table_grow(t);
    size_t slot = table_probe(t, k);
    if (t->index[slot]) return table_at(t, t->index[slot] - 1);
    if (n == (size_t)CHUNK * MAX_CHUNKS) {
        fprintf(stderr, "kmirror: more than %d metric series in one flow\n", CHUNK * MAX_CHUNKS);
        abort();
    }
    if (n % CHUNK == 0) t->chunks[n / CHUNK] = km_xcalloc(CHUNK, sizeof(void *));
    series_key_t own;
    void *e = make(k, arg, &own);
    t->chunks[n / CHUNK][n % CHUNK] = e;
    t->keys = km_xrealloc(t->keys, (n + 1) * sizeof(*t->keys));
    t->keys[n] = own;
    t->index[slot] = (uint32_t)n + 1;
    atomic_store_explicit(&t->n, n + 1, memory_order_release);
    return e;
}

static void table_free(series_table_t *t, void (*free_entry)(void *)) {
    size_t n = atomic_load_explicit(&t->n, RLX);
    for (size_t i = 0; i < n; i++) free_entry(table_at(t, i));
    for (size_t c = 0; c < MAX_CHUNKS && t->chunks[c]; c++) free(t->chunks[c]);
    free(t->keys);
    free(t->index);
    pthread_mutex_destroy(&t->lock);
}

/* ---- flows, tasks, checkpoints ------------------------------------------------------------- */

typedef struct ckpt_stats {
    char *group, *topic;
    int32_t partition;
    km_hist_t h;
    km_window_t w;
} ckpt_stats_t;

struct km_flow_metrics {
    char *source, *target, *name;
    pthread_mutex_t lock; /* state and reason: the flow controller writes them, readers copy */
    km_flow_state_t state;
    char *reason;
    char *ckpt_problem; /* why checkpoints are not written (the checkpointer sets it); under lock */
    /* By task id. The group's task count (coord.h) may exceed tasks.max, so slots are added on
     * first use, under lock; each is allocated on its own so task threads keep their pointers. */
    km_task_slot_t **tasks;
    int ntasks;
    series_table_t parts;
    series_table_t ckpts; /* its lock also serialises checkpoint observations */
    km_group_status_t *groups; /* under lock */
    size_t ngroups;
    bool retired; /* the flow no longer runs here (a reload removed it): not shown; under the registry's lock */
    km_metrics_t *registry; /* the process's, for its in-flight budget */
    _Atomic int64_t stall_ms; /* replication.stall.timeout.ms of the flow's current run */
    _Atomic int64_t source_rtt_us, prefetch_bytes; /* as the current run measured and sized them; -1, 0 before */
    _Atomic int64_t target_rtt_us, task_inflight_bytes, produce_requests; /* likewise */
};

/* A reload may add and remove flows while the HTTP thread takes snapshots, so the flow list and
 * the reload outcome are read and written under `lock`. A removed flow's entry stays (a snapshot
 * may point into it) and is taken up again if a later reload brings the flow back. */
struct km_metrics {
    pthread_mutex_t lock;
    km_flow_metrics_t **flows;
    size_t nflows;
    int64_t start_ms;
    bool reload_ok;
    int64_t reload_ok_ms; /* the last successful load, wall clock */
    char *reload_error;   /* why the last reload failed; NULL after a success */
    /* The process's records in flight (read, not yet acknowledged by a target) against
     * inflight.max.bytes: tasks add their share after each batch and poll, and hold back over it. */
    _Atomic int64_t inflight_bytes, inflight_max_bytes, memory_max_bytes;
    _Atomic int64_t main_ran_ms; /* monotonic; 0 before the main loop's first run */
};

const char *km_flow_state_name(km_flow_state_t s) {
    static const char *const names[] = {"starting", "running", "degraded", "failed"};
    return names[s];
}

km_metrics_t *km_metrics_new(void) {
    km_metrics_t *m = km_xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->start_ms = km_now_wall_ms();
    m->reload_ok = true;
    m->reload_ok_ms = m->start_ms; /* the file was read at start-up, as Prometheus counts it */
    return m;
}

static void part_free(void *e) {
    km_part_stats_t *p = e;
    free(p->topic);
    free(p->remote);
    free(p);
}

static void ckpt_free(void *e) {
    ckpt_stats_t *c = e;
    free(c->group);
    free(c->topic);
    free(c);
}

static void groups_free(km_group_status_t *g, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(g[i].group);
        free(g[i].reason);
    }
    free(g);
}

static km_group_status_t *groups_copy(const km_group_status_t *g, size_t n) {
    km_group_status_t *c = km_xcalloc(n ? n : 1, sizeof(*c));
    for (size_t i = 0; i < n; i++)
        c[i] = (km_group_status_t){km_xstrdup(g[i].group), g[i].last_ms, g[i].partitions, g[i].reason ? km_xstrdup(g[i].reason) : NULL};
    return c;
}

int km_metrics_checkpoint_groups(km_metrics_t *m, const char *source, const char *target, const km_group_status_t *g,
                                 size_t n) {
    km_flow_metrics_t *fm = km_metrics_flow(m, source, target);
    if (!fm) return -1;
    km_group_status_t *c = groups_copy(g, n);
    pthread_mutex_lock(&fm->lock);
    groups_free(fm->groups, fm->ngroups);
    fm->groups = c;
    fm->ngroups = n;
    pthread_mutex_unlock(&fm->lock);
    return 0;
}

void km_metrics_free(km_metrics_t *m) {
    if (!m) return;
    for (size_t i = 0; i < m->nflows; i++) {
        km_flow_metrics_t *fm = m->flows[i];
        table_free(&fm->parts, part_free);
        table_free(&fm->ckpts, ckpt_free);
        groups_free(fm->groups, fm->ngroups);
        pthread_mutex_destroy(&fm->lock);
        for (int t = 0; t < fm->ntasks; t++) free(fm->tasks[t]);
        free(fm->tasks);
        free(fm->reason);
        free(fm->ckpt_problem);
        free(fm->source);
        free(fm->target);
        free(fm->name);
        free(fm);
    }
    free(m->flows);
    free(m->reload_error);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static km_flow_metrics_t *find_flow(const km_metrics_t *m, const char *source, const char *target) {
    for (size_t i = 0; i < m->nflows; i++)
        if (strcmp(m->flows[i]->source, source) == 0 && strcmp(m->flows[i]->target, target) == 0) return m->flows[i];
    return NULL;
}

km_flow_metrics_t *km_metrics_add_flow(km_metrics_t *m, const km_flow_t *flow) {
    int last_task = (flow->s.tasks_max > 0 ? flow->s.tasks_max : 1) - 1;
    pthread_mutex_lock(&m->lock);
    km_flow_metrics_t *fm = find_flow(m, flow->source, flow->target);
    if (fm) {
        fm->retired = false;
        atomic_store(&fm->stall_ms, flow->s.stall_timeout_ms);
        km_flow_metrics_prefetch(fm, -1, 0);
        km_flow_metrics_target_rtt(fm, -1, 0);
        km_flow_metrics_produce_requests(fm, 0);
        pthread_mutex_unlock(&m->lock);
        pthread_mutex_lock(&fm->lock);
        fm->state = KM_FLOW_STARTING; /* a new run of the flow: even a failed one starts over */
        free(fm->reason);
        fm->reason = NULL;
        free(fm->ckpt_problem);
        fm->ckpt_problem = NULL;
        pthread_mutex_unlock(&fm->lock);
        km_flow_metrics_task(fm, last_task);
        return fm;
    }
    fm = km_xcalloc(1, sizeof(*fm));
    fm->source = km_xstrdup(flow->source);
    fm->target = km_xstrdup(flow->target);
    fm->name = km_xstrdup(flow->name);
    fm->registry = m;
    atomic_store(&fm->stall_ms, flow->s.stall_timeout_ms);
    km_flow_metrics_prefetch(fm, -1, 0);
    km_flow_metrics_target_rtt(fm, -1, 0);
    km_flow_metrics_produce_requests(fm, 0);
    pthread_mutex_init(&fm->lock, NULL);
    pthread_mutex_init(&fm->parts.lock, NULL);
    pthread_mutex_init(&fm->ckpts.lock, NULL);
    km_flow_metrics_task(fm, last_task);
    m->flows = km_xrealloc(m->flows, (m->nflows + 1) * sizeof(*m->flows));
    m->flows[m->nflows++] = fm;
    pthread_mutex_unlock(&m->lock);
    return fm;
}

void km_metrics_retire_flow(km_metrics_t *m, km_flow_metrics_t *fm) {
    pthread_mutex_lock(&m->lock);
    fm->retired = true;
    pthread_mutex_unlock(&m->lock);
}

km_flow_metrics_t *km_metrics_flow(km_metrics_t *m, const char *source, const char *target) {
    pthread_mutex_lock(&m->lock);
    km_flow_metrics_t *fm = find_flow(m, source, target);
    pthread_mutex_unlock(&m->lock);
    return fm;
}

void km_metrics_set_budget(km_metrics_t *m, int64_t memory_max_bytes, int64_t inflight_max_bytes) {
    atomic_store(&m->memory_max_bytes, memory_max_bytes);
    atomic_store(&m->inflight_max_bytes, inflight_max_bytes);
}

void km_flow_metrics_inflight_add(km_flow_metrics_t *fm, int64_t delta) { atomic_fetch_add(&fm->registry->inflight_bytes, delta); }

int64_t km_flow_metrics_inflight_room(const km_flow_metrics_t *fm) {
    int64_t max = atomic_load(&fm->registry->inflight_max_bytes);
    return max > 0 ? max - atomic_load(&fm->registry->inflight_bytes) : INT64_MAX;
}

void km_metrics_reloaded(km_metrics_t *m, const char *error) {
    char *copy = NULL;
    if (error) { /* shown by /status: secrets from config providers stay out */
        size_t n = km_log_redact(error, NULL, 0);
        copy = km_xmalloc(n + 1);
        km_log_redact(error, copy, n + 1);
    }
    pthread_mutex_lock(&m->lock);
    m->reload_ok = !error;
    if (!error) m->reload_ok_ms = km_now_wall_ms();
    free(m->reload_error);
    m->reload_error = copy;
    pthread_mutex_unlock(&m->lock);
}

void km_flow_metrics_state(km_flow_metrics_t *fm, km_flow_state_t state, const char *reason) {
    pthread_mutex_lock(&fm->lock);
    if (fm->state != KM_FLOW_FAILED) { /* failed is final */
        fm->state = state;
        free(fm->reason);
        fm->reason = NULL;
        if (reason) { /* shown by /status and metrics: secrets from config providers stay out */
            size_t n = km_log_redact(reason, NULL, 0);
            fm->reason = km_xmalloc(n + 1);
            km_log_redact(reason, fm->reason, n + 1);
        }
    }
    pthread_mutex_unlock(&fm->lock);
}

void km_flow_metrics_prefetch(km_flow_metrics_t *fm, int64_t source_rtt_us, int64_t prefetch_bytes) {
    atomic_store(&fm->source_rtt_us, source_rtt_us);
    atomic_store(&fm->prefetch_bytes, prefetch_bytes);
}

void km_flow_metrics_target_rtt(km_flow_metrics_t *fm, int64_t target_rtt_us, int64_t task_inflight_bytes) {
    atomic_store(&fm->target_rtt_us, target_rtt_us);
    atomic_store(&fm->task_inflight_bytes, task_inflight_bytes);
}

void km_flow_metrics_produce_requests(km_flow_metrics_t *fm, int64_t max_inflight) {
    atomic_store(&fm->produce_requests, max_inflight);
}

void km_flow_metrics_checkpoints(km_flow_metrics_t *fm, const char *why) {
    char *copy = why ? km_xstrdup(why) : NULL;
    pthread_mutex_lock(&fm->lock);
    free(fm->ckpt_problem);
    fm->ckpt_problem = copy;
    pthread_mutex_unlock(&fm->lock);
}

static void *part_make(series_key_t k, const void *remote, series_key_t *own) {
    km_part_stats_t *p = entry_new(sizeof(*p));
    p->topic = km_xstrdup(k.a);
    p->remote = km_xstrdup(remote);
    p->partition = k.partition;
    p->task = -1;
    p->high_watermark = p->next = -1;
    *own = (series_key_t){p->topic, NULL, k.partition};
    return p;
}

km_part_stats_t *km_flow_metrics_part(km_flow_metrics_t *fm, const char *topic, const char *remote, int32_t partition) {
    pthread_mutex_lock(&fm->parts.lock);
    km_part_stats_t *p = table_get(&fm->parts, (series_key_t){topic, NULL, partition}, part_make, remote);
    pthread_mutex_unlock(&fm->parts.lock);
    return p;
}

km_task_slot_t *km_flow_metrics_task(km_flow_metrics_t *fm, int id) {
    pthread_mutex_lock(&fm->lock);
    if (id >= fm->ntasks) {
        fm->tasks = km_xrealloc(fm->tasks, (size_t)(id + 1) * sizeof(*fm->tasks));
        for (int t = fm->ntasks; t <= id; t++) fm->tasks[t] = km_xcalloc(1, sizeof(**fm->tasks));
        fm->ntasks = id + 1;
    }
    km_task_slot_t *ts = fm->tasks[id];
    pthread_mutex_unlock(&fm->lock);
    return ts;
}

void km_task_slot_restarted(km_task_slot_t *ts) { bump(&ts->restarts, 1); }

void km_task_slot_budget_wait(km_task_slot_t *ts, int64_t us) {
    if (us > 0) bump(&ts->budget_wait_us, (uint64_t)us);
}

void km_task_slot_started(km_task_slot_t *ts) {
    ts->seen_retries = ts->seen_errors = 0;
    atomic_store(&ts->source_up, -1);
    atomic_store(&ts->target_up, -1);
    atomic_store(&ts->running, true);
}

void km_task_slot_stopped(km_task_slot_t *ts) { atomic_store(&ts->running, false); }

/* librdkafka reports produce request retries and errors as per-broker totals of the client. */
static void add_client_totals(km_task_slot_t *ts, uint64_t retries, uint64_t errors) {
    if (retries >= ts->seen_retries) bump(&ts->request_retries, retries - ts->seen_retries);
    if (errors >= ts->seen_errors) bump(&ts->request_errors, errors - ts->seen_errors);
    ts->seen_retries = retries;
    ts->seen_errors = errors;
}

void km_task_slot_client_stats(km_task_slot_t *ts, bool is_producer, const char *json, size_t len) {
    json_t *doc = json_loadb(json, len, 0, NULL);
    km_task_slot_client_stats_doc(ts, is_producer, doc);
    json_decref(doc);
}

void km_task_slot_client_stats_doc(km_task_slot_t *ts, bool is_producer, const json_t *doc) {
    json_t *brokers = json_object_get((json_t *)doc, "brokers");
    if (!json_is_object(brokers)) return;
    int up = 0;
    uint64_t retries = 0, errors = 0;
    const char *name;
    json_t *b;
    json_object_foreach(brokers, name, b) {
        const char *source = json_string_value(json_object_get(b, "source"));
        /* "internal" and "logical" entries are not connections to the cluster. */
        if (!source || (strcmp(source, "learned") != 0 && strcmp(source, "configured") != 0)) continue;
        const char *state = json_string_value(json_object_get(b, "state"));
        if (state && strcmp(state, "UP") == 0) up++;
        retries += (uint64_t)json_integer_value(json_object_get(b, "txretries"));
        errors += (uint64_t)json_integer_value(json_object_get(b, "txerrs"));
    }
    atomic_store(is_producer ? &ts->target_up : &ts->source_up, up);
    if (is_producer) add_client_totals(ts, retries, errors);
}

static void *ckpt_make(series_key_t k, const void *arg, series_key_t *own) {
    ckpt_stats_t *c = entry_new(sizeof(*c));
    c->group = km_xstrdup(k.a);
    c->topic = km_xstrdup(k.b);
    c->partition = k.partition;
    *own = (series_key_t){c->group, c->topic, k.partition};
    return c;
}

int km_metrics_checkpoint_observe(km_metrics_t *m, const char *source, const char *target, const char *group,
                                  const char *topic, int32_t partition, int64_t latency_ms) {
    km_flow_metrics_t *fm = km_metrics_flow(m, source, target);
    if (!fm) return -1;
    if (latency_ms < 0) latency_ms = 0;
    pthread_mutex_lock(&fm->ckpts.lock);
    ckpt_stats_t *c = table_get(&fm->ckpts, (series_key_t){group, topic, partition}, ckpt_make, NULL);
    km_hist_observe(&c->h, latency_ms);
    km_window_observe(&c->w, km_now_wall_ms(), latency_ms, 1);
    pthread_mutex_unlock(&fm->ckpts.lock);
    return 0;
}

/* ---- snapshots ----------------------------------------------------------------------------- */

static void part_snap(const km_part_stats_t *p, int64_t now, km_part_snap_t *o) {
    *o = (km_part_snap_t){.topic = p->topic, .remote = p->remote, .partition = p->partition,
                          .task = atomic_load_explicit(&p->task, RLX), .records = ld(&p->records), .bytes = ld(&p->bytes),
                          .skipped = ld(&p->skipped), .path_skipped = ld(&p->path_skipped), .delivery_errors = ld(&p->delivery_errors), .resent = ld(&p->resent),
                          .log_checks = ld(&p->log_checks), .target_empty = ld(&p->target_empty),
                          .offset_syncs = ld(&p->offset_syncs), .lag_records = -1, .lag_ms = -1,
                          .blocked_err = atomic_load_explicit(&p->blocked_err, RLX), .blocked_offset = ld64(&p->blocked_offset),
                          .blocked_by_source = atomic_load_explicit(&p->blocked_by_source, RLX),
                          .positions_unread = atomic_load_explicit(&p->positions_unread, RLX)};
    o->latency_w = km_window_read(&p->latency_w, now);
    o->age_w = km_window_read(&p->age_w, now);
    o->latency = km_hist_read(&p->latency);
    o->age = km_hist_read(&p->age);
    o->record_rate = (double)o->latency_w.extra / o->latency_w.seconds;
    o->byte_rate = (double)o->age_w.extra / o->age_w.seconds;
    int64_t hw = ld64(&p->high_watermark), next = ld64(&p->next);
    if (o->task < 0 || hw < 0 || next < 0) return;
    o->lag_records = hw > next ? hw - next : 0;
    /* The oldest unmirrored record is younger than the last one mirrored and than the last
     * moment nothing was left to mirror: its age is at most now minus the later of the two. */
    int64_t floor = ld64(&p->acked_ts), caught_up = ld64(&p->caught_up_ms);
    if (caught_up > floor) floor = caught_up;
    if (o->lag_records == 0) o->lag_ms = 0;
    else if (floor > 0) o->lag_ms = now > floor ? now - floor : 0;
    o->next = next;
    int64_t moved = ld64(&p->moved_ms), mono = km_now_mono_ms();
    if (o->lag_records > 0 && moved > 0 && mono > moved) o->still_ms = mono - moved;
    o->behind_txn = atomic_load_explicit(&p->behind_txn, RLX) && o->lag_records > 0;
}

static int part_cmp(const void *x, const void *y) {
    const km_part_snap_t *a = x, *b = y;
    int c = strcmp(a->topic, b->topic);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static int ckpt_cmp(const void *x, const void *y) {
    const km_ckpt_snap_t *a = x, *b = y;
    int c = strcmp(a->group, b->group);
    if (!c) c = strcmp(a->topic, b->topic);
    return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static void tasks_snap(const km_flow_metrics_t *fm, km_flow_snap_t *o) {
    o->tasks = km_xcalloc((size_t)fm->ntasks, sizeof(*o->tasks));
    for (int i = 0; i < fm->ntasks; i++) {
        const km_task_slot_t *ts = fm->tasks[i];
        if (!atomic_load(&ts->running)) continue;
        km_task_snap_t *t = &o->tasks[o->ntasks++];
        *t = (km_task_snap_t){i, true, atomic_load(&ts->source_up), atomic_load(&ts->target_up), 0};
        for (size_t k = 0; k < o->nparts; k++) t->partitions += o->parts[k].task == i;
    }
}

/* A running flow one of whose tasks has no connection to a cluster is degraded. */
static void connectivity(const km_flow_metrics_t *fm, km_flow_snap_t *o) {
    for (int i = 0; i < o->ntasks && o->state == KM_FLOW_RUNNING; i++) {
        const km_task_snap_t *t = &o->tasks[i];
        const char *cluster = t->source_up == 0 ? fm->source : t->target_up == 0 ? fm->target : NULL;
        if (!cluster) continue;
        o->state = KM_FLOW_DEGRADED;
        o->reason = km_xasprintf("task %d has no connection to any broker of cluster %s", t->id, cluster);
    }
}

/* Why a blocked partition does not flow, for a flow's reason. */
static const char *blocked_why(const km_part_snap_t *p) {
    if (!p->blocked_by_source) return "the target refuses the record";
    if (p->blocked_err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        return "the source log went back (the topic deleted and re-created, or cut by an unclean leader election; see the "
               "log and kmirror reset-position)";
    if (p->blocked_err == RD_KAFKA_RESP_ERR__INCONSISTENT)
        return "the source log was replaced under the position (the topic deleted and re-created, or an unclean leader "
               "election; see the log and kmirror reset-position)";
    return "the source refuses to let it be read";
}

/* A running flow with a partition the target refuses records of (or the source will not let be
 * read) is degraded: the rest flows, that partition does not. The reason names the first one
 * and counts the others. */
static void blocked_parts(km_flow_snap_t *o) {
    const km_part_snap_t *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < o->nparts; i++)
        if (o->parts[i].blocked_err && o->parts[i].task >= 0 && n++ == 0) first = &o->parts[i];
    if (!first || o->state != KM_FLOW_RUNNING) return;
    char more[64] = "";
    if (n > 1) snprintf(more, sizeof(more), " (and %zu more partition(s))", n - 1);
    o->state = KM_FLOW_DEGRADED;
    o->reason = km_xasprintf("%s [%d] is stopped at offset %lld: %s: %s%s", first->topic, (int)first->partition,
                             (long long)first->blocked_offset, blocked_why(first),
                             rd_kafka_err2str((rd_kafka_resp_err_t)first->blocked_err), more);
}

/* A running flow with a partition whose position has not moved for replication.stall.timeout.ms
 * while it had records to mirror is degraded, whatever holds it: a target broker down while
 * others answer, a source partition without a leader, a delivery report that never comes, a
 * task thread that hangs. Partitions already reported blocked are not counted again. */
static void stalled_parts(const km_flow_metrics_t *fm, km_flow_snap_t *o) {
    int64_t limit = atomic_load(&fm->stall_ms);
    km_part_snap_t *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < o->nparts && limit > 0; i++) {
        km_part_snap_t *p = &o->parts[i];
        p->stalled = p->task >= 0 && !p->blocked_err && p->still_ms >= limit;
        if (p->stalled && n++ == 0) first = p;
    }
    if (!first || o->state != KM_FLOW_RUNNING) return;
    char more[64] = "";
    if (n > 1) snprintf(more, sizeof(more), " (and %zu more partition(s))", n - 1);
    o->state = KM_FLOW_DEGRADED;
    o->reason = km_xasprintf("%s [%d] has not moved for %lld s at offset %lld with %lld record(s) to mirror "
                             "(replication.stall.timeout.ms = %lld)%s",
                             first->topic, (int)first->partition, (long long)(first->still_ms / 1000), (long long)first->next,
                             (long long)first->lag_records, (long long)limit, more);
}

static void flow_snap(km_flow_metrics_t *fm, int64_t now, km_flow_snap_t *o) {
    o->source = fm->source;
    o->target = fm->target;
    o->name = fm->name;
    o->source_rtt_us = atomic_load(&fm->source_rtt_us);
    o->prefetch_bytes = atomic_load(&fm->prefetch_bytes);
    o->target_rtt_us = atomic_load(&fm->target_rtt_us);
    o->task_inflight_bytes = atomic_load(&fm->task_inflight_bytes);
    o->produce_requests = atomic_load(&fm->produce_requests);
    pthread_mutex_lock(&fm->lock);
    o->state = fm->state;
    o->reason = fm->reason ? km_xstrdup(fm->reason) : NULL;
    if (fm->ckpt_problem && o->state == KM_FLOW_RUNNING) {
        o->state = KM_FLOW_DEGRADED;
        o->reason = km_xstrdup(fm->ckpt_problem);
    } else if (fm->ckpt_problem && o->state == KM_FLOW_DEGRADED) {
        char *both = km_xasprintf("%s; %s", o->reason ? o->reason : "", fm->ckpt_problem);
        free(o->reason);
        o->reason = both;
    }
    o->groups = groups_copy(fm->groups, fm->ngroups);
    o->ngroups = fm->ngroups;
    pthread_mutex_unlock(&fm->lock);
    o->nparts = table_count(&fm->parts);
    o->parts = km_xcalloc(o->nparts, sizeof(*o->parts));
    for (size_t i = 0; i < o->nparts; i++) part_snap(table_at(&fm->parts, i), now, &o->parts[i]);
    qsort(o->parts, o->nparts, sizeof(*o->parts), part_cmp);
    o->nckpts = table_count(&fm->ckpts);
    o->ckpts = km_xcalloc(o->nckpts, sizeof(*o->ckpts));
    for (size_t i = 0; i < o->nckpts; i++) {
        const ckpt_stats_t *c = table_at(&fm->ckpts, i);
        o->ckpts[i] = (km_ckpt_snap_t){c->group, c->topic, c->partition, km_window_read(&c->w, now), km_hist_read(&c->h)};
    }
    qsort(o->ckpts, o->nckpts, sizeof(*o->ckpts), ckpt_cmp);
    pthread_mutex_lock(&fm->lock);
    for (int i = 0; i < fm->ntasks; i++) {
        o->request_retries += ld(&fm->tasks[i]->request_retries);
        o->request_errors += ld(&fm->tasks[i]->request_errors);
        o->task_restarts += ld(&fm->tasks[i]->restarts);
        o->budget_wait_us += ld(&fm->tasks[i]->budget_wait_us);
    }
    tasks_snap(fm, o);
    pthread_mutex_unlock(&fm->lock);
    connectivity(fm, o);
    blocked_parts(o);
    stalled_parts(fm, o);
}

static uint64_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

km_snapshot_t *km_metrics_snapshot(km_metrics_t *m, int64_t now_ms) {
    km_snapshot_t *s = km_xcalloc(1, sizeof(*s));
    s->now_ms = now_ms;
    s->start_ms = m->start_ms;
    s->cpu_seconds = cpu_seconds();
    s->rss_bytes = rss_bytes();
    s->inflight_bytes = atomic_load(&m->inflight_bytes);
    s->inflight_max_bytes = atomic_load(&m->inflight_max_bytes);
    s->memory_max_bytes = atomic_load(&m->memory_max_bytes);
    int64_t ran = atomic_load(&m->main_ran_ms);
    s->main_idle_ms = ran ? km_now_mono_ms() - ran : -1;
    pthread_mutex_lock(&m->lock);
    s->reload_ok = m->reload_ok;
    s->reload_ok_ms = m->reload_ok_ms;
    s->reload_error = m->reload_error ? km_xstrdup(m->reload_error) : NULL;
    s->flows = km_xcalloc(m->nflows ? m->nflows : 1, sizeof(*s->flows));
    for (size_t i = 0; i < m->nflows; i++)
        if (!m->flows[i]->retired) flow_snap(m->flows[i], now_ms, &s->flows[s->nflows++]);
    pthread_mutex_unlock(&m->lock);
    return s;
}

void km_snapshot_free(km_snapshot_t *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nflows; i++) {
        free(s->flows[i].reason);
        free(s->flows[i].tasks);
        free(s->flows[i].parts);
        free(s->flows[i].ckpts);
        groups_free(s->flows[i].groups, s->flows[i].ngroups);
    }
    free(s->flows);
    free(s->reload_error);
    free(s);
}

/* ---- Prometheus text format 0.0.4 ---------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void bprintf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf_t *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) km_oom();
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 1;
        b->p = km_xrealloc(b->p, b->cap);
    }
}

/* Label values escape backslash, double quote and newline (0.0.4). */
static void label(buf_t *b, const char *name, const char *value, bool first) {
    bprintf(b, "%s%s=\"", first ? "" : ",", name);
    for (const char *s = value; *s; s++) {
        if (*s == '\\') bprintf(b, "\\\\");
        else if (*s == '"') bprintf(b, "\\\"");
        else if (*s == '\n') bprintf(b, "\\n");
        else bprintf(b, "%c", *s);
    }
    bprintf(b, "\"");
}

static void family(buf_t *b, const char *name, const char *type, const char *help) {
    bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The label sets of one flow's series, built once per rendering ("source=..,target=.." etc.). */
typedef struct labelsets {
    char *flow;
    char **parts, **ckpts;
} labelsets_t;

static char *labels_of(const km_flow_snap_t *f, const char *group, const char *topic, int32_t partition) {
    buf_t b = {km_xmalloc(128), 0, 128};
    b.p[0] = '\0';
    label(&b, "source", f->source, true);
    label(&b, "target", f->target, false);
    if (group) label(&b, "group", group, false);
    if (topic) {
        char p[16];
        snprintf(p, sizeof(p), "%d", partition);
        label(&b, "topic", topic, false);
        label(&b, "partition", p, false);
    }
    return b.p;
}

static labelsets_t *labelsets_new(const km_snapshot_t *s) {
    labelsets_t *l = km_xcalloc(s->nflows, sizeof(*l));
    for (size_t i = 0; i < s->nflows; i++) {
        const km_flow_snap_t *f = &s->flows[i];
        l[i].flow = labels_of(f, NULL, NULL, 0);
        l[i].parts = km_xcalloc(f->nparts, sizeof(char *));
        for (size_t k = 0; k < f->nparts; k++) l[i].parts[k] = labels_of(f, NULL, f->parts[k].remote, f->parts[k].partition);
        l[i].ckpts = km_xcalloc(f->nckpts, sizeof(char *));
        for (size_t k = 0; k < f->nckpts; k++) l[i].ckpts[k] = labels_of(f, f->ckpts[k].group, f->ckpts[k].topic, f->ckpts[k].partition);
    }
    return l;
}

static void labelsets_free(labelsets_t *l, const km_snapshot_t *s) {
    for (size_t i = 0; i < s->nflows; i++) {
        free(l[i].flow);
        km_strv_free(l[i].parts, s->flows[i].nparts);
        km_strv_free(l[i].ckpts, s->flows[i].nckpts);
    }
    free(l);
}

/* Per-partition scalar series: which value of a km_part_snap_t, and whether it exists. */
typedef enum {
    P_RECORDS, P_RECORD_RATE, P_BYTES, P_BYTE_RATE, P_AGE_MIN, P_AGE_MAX, P_AGE_AVG, P_LAT_MIN, P_LAT_MAX, P_LAT_AVG,
    P_LAG_RECORDS, P_LAG_SECONDS, P_SKIPPED, P_PATH_SKIPPED, P_DELIVERY_ERRORS, P_RESENT, P_LOG_CHECKS, P_TARGET_EMPTY, P_OFFSET_SYNCS, P_ASSIGNED
} part_value_t;

static const struct part_family {
    const char *name, *type, *help;
    part_value_t what;
} part_families[] = {
    {"kmirror_record_count_total", "counter", "Records replicated: acknowledged by the target (MM2 record-count).", P_RECORDS},
    {"kmirror_record_rate", "gauge", "Records replicated per second over the last 30-60 s (MM2 record-rate).", P_RECORD_RATE},
    {"kmirror_byte_count_total", "counter", "Value bytes of the records consumed from the source (MM2 byte-count).", P_BYTES},
    {"kmirror_byte_rate", "gauge", "Value bytes consumed per second over the last 30-60 s (MM2 byte-rate).", P_BYTE_RATE},
    {"kmirror_record_age_ms_min", "gauge", "Smallest record age at consumption in the last 30-60 s, ms (MM2 record-age-ms-min).", P_AGE_MIN},
    {"kmirror_record_age_ms_max", "gauge", "Largest record age at consumption in the last 30-60 s, ms (MM2 record-age-ms-max).", P_AGE_MAX},
    {"kmirror_record_age_ms_avg", "gauge", "Average record age at consumption in the last 30-60 s, ms (MM2 record-age-ms-avg).", P_AGE_AVG},
    {"kmirror_replication_latency_ms_min", "gauge", "Smallest replication latency in the last 30-60 s, ms (MM2 replication-latency-ms-min).", P_LAT_MIN},
    {"kmirror_replication_latency_ms_max", "gauge", "Largest replication latency in the last 30-60 s, ms (MM2 replication-latency-ms-max).", P_LAT_MAX},
    {"kmirror_replication_latency_ms_avg", "gauge", "Average replication latency in the last 30-60 s, ms (MM2 replication-latency-ms-avg).", P_LAT_AVG},
    {"kmirror_lag_records", "gauge", "Records on the source not yet replicated: source end offset minus next offset to mirror.", P_LAG_RECORDS},
    {"kmirror_lag_seconds", "gauge", "Age of the oldest record not yet replicated, seconds (0 when caught up).", P_LAG_SECONDS},
    {"kmirror_records_skipped_total", "counter", "Records the source deleted (retention) before they were replicated.", P_SKIPPED},
    {"kmirror_records_path_skipped_total", "counter", "Records not written because their kmirror.path shows the target has them or gets them along another flow.", P_PATH_SKIPPED},
    {"kmirror_producer_errors_total", "counter", "Records whose delivery to the target failed (they are re-sent).", P_DELIVERY_ERRORS},
    {"kmirror_records_resent_total", "counter", "Records read and sent again after a failed delivery.", P_RESENT},
    {"kmirror_source_log_checks_total", "counter", "Times the last mirrored record was read again to check that the source log is the one mirrored (at a start, after an idle spell).", P_LOG_CHECKS},
    {"kmirror_target_found_empty_total", "counter", "Times the target partition was found empty under a stored position: its topic was deleted and re-created while kmirror was stopped, and the records mirrored before are missing there.", P_TARGET_EMPTY},
    {"kmirror_offset_syncs_total", "counter", "Offset-sync records emitted for the partition.", P_OFFSET_SYNCS},
    {"kmirror_partition_task", "gauge", "The task replicating the partition (absent when none).", P_ASSIGNED},
};

static bool part_value(const km_part_snap_t *p, part_value_t what, double *v) {
    switch (what) {
    case P_RECORDS: *v = (double)p->records; return true;
    case P_RECORD_RATE: *v = p->record_rate; return true;
    case P_BYTES: *v = (double)p->bytes; return true;
    case P_BYTE_RATE: *v = p->byte_rate; return true;
    case P_AGE_MIN: *v = (double)p->age_w.min; return p->age_w.count > 0;
    case P_AGE_MAX: *v = (double)p->age_w.max; return p->age_w.count > 0;
    case P_AGE_AVG: *v = p->age_w.avg; return p->age_w.count > 0;
    case P_LAT_MIN: *v = (double)p->latency_w.min; return p->latency_w.count > 0;
    case P_LAT_MAX: *v = (double)p->latency_w.max; return p->latency_w.count > 0;
    case P_LAT_AVG: *v = p->latency_w.avg; return p->latency_w.count > 0;
    case P_LAG_RECORDS: *v = (double)p->lag_records; return p->lag_records >= 0;
    case P_LAG_SECONDS: *v = (double)p->lag_ms / 1000.0; return p->lag_ms >= 0;
    case P_SKIPPED: *v = (double)p->skipped; return true;
    case P_PATH_SKIPPED: *v = (double)p->path_skipped; return true;
    case P_DELIVERY_ERRORS: *v = (double)p->delivery_errors; return true;
    case P_RESENT: *v = (double)p->resent; return true;
    case P_LOG_CHECKS: *v = (double)p->log_checks; return true;
    case P_TARGET_EMPTY: *v = (double)p->target_empty; return true;
    case P_OFFSET_SYNCS: *v = (double)p->offset_syncs; return true;
    case P_ASSIGNED: *v = p->task; return p->task >= 0;
    }
    return false;
}

static void sample(buf_t *b, const char *name, const char *labels, double v) {
    bprintf(b, "%s{%s} %.15g\n", name, labels, v);
}

static void render_parts(buf_t *b, const km_snapshot_t *s, const labelsets_t *l) {
    for (size_t k = 0; k < sizeof(part_families) / sizeof(part_families[0]); k++) {
        const struct part_family *pf = &part_families[k];
        family(b, pf->name, pf->type, pf->help);
        for (size_t i = 0; i < s->nflows; i++)
            for (size_t j = 0; j < s->flows[i].nparts; j++) {
                double v;
                if (part_value(&s->flows[i].parts[j], pf->what, &v)) sample(b, pf->name, l[i].parts[j], v);
            }
    }
}

static void render_not_replicated(buf_t *b, const km_snapshot_t *s, const labelsets_t *l) {
    family(b, "kmirror_partition_not_replicated", "gauge", "1 while a partition the flow found is not started (reason: why); the flow is degraded meanwhile.");
    for (size_t i = 0; i < s->nflows; i++)
        for (size_t j = 0; j < s->flows[i].nparts; j++)
            if (s->flows[i].parts[j].positions_unread)
                bprintf(b, "kmirror_partition_not_replicated{%s,reason=\"positions_unreadable\"} 1\n", l[i].parts[j]);
}

static void render_blocked(buf_t *b, const km_snapshot_t *s, const labelsets_t *l) {
    family(b, "kmirror_partition_blocked", "gauge", "1 while the target refuses a record of the partition (reason: the Kafka error); the partition is stopped there, the rest flows.");
    for (size_t i = 0; i < s->nflows; i++)
        for (size_t j = 0; j < s->flows[i].nparts; j++) {
            const km_part_snap_t *p = &s->flows[i].parts[j];
            if (p->blocked_err && p->task >= 0)
                bprintf(b, "kmirror_partition_blocked{%s,reason=\"%s\"} 1\n", l[i].parts[j], rd_kafka_err2name((rd_kafka_resp_err_t)p->blocked_err));
        }
}

static void render_stalled(buf_t *b, const km_snapshot_t *s, const labelsets_t *l) {
    family(b, "kmirror_partition_stalled", "gauge", "1 while the partition's position has not moved for replication.stall.timeout.ms although it has records to mirror; the flow is degraded meanwhile.");
    for (size_t i = 0; i < s->nflows; i++)
        for (size_t j = 0; j < s->flows[i].nparts; j++)
            if (s->flows[i].parts[j].stalled) bprintf(b, "kmirror_partition_stalled{%s} 1\n", l[i].parts[j]);
}

static void hist_samples(buf_t *b, const char *name, const char *labels, const km_hist_view_t *h) {
    static const int64_t bounds[KM_HIST_NBOUNDS] = KM_HIST_BOUNDS;
    uint64_t cum = 0;
    for (int i = 0; i < KM_HIST_NBOUNDS; i++) {
        cum += h->bucket[i];
        bprintf(b, "%s_bucket{%s,le=\"%" PRId64 "\"} %" PRIu64 "\n", name, labels, bounds[i], cum);
    }
    bprintf(b, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels, h->count);
    bprintf(b, "%s_sum{%s} %" PRIu64 "\n%s_count{%s} %" PRIu64 "\n", name, labels, h->sum, name, labels, h->count);
}

static void render_histograms(buf_t *b, const km_snapshot_t *s, const labelsets_t *l) {
    family(b, "kmirror_replication_latency_ms", "histogram", "Replication latency: time from the record's timestamp to the target's acknowledgement, ms (MM2 replication-latency-ms).");
    for (size_t i = 0; i < s->nflows; i++)
        for (size_t j = 0; j < s->flows[i].nparts; j++) hist_samples(b, "kmirror_replication_latency_ms", l[i].parts[j], &s->flows[i].parts[j].latency);
    family(b, "kmirror_record_age_ms", "histogram", "Record age: time from the record's timestamp to its consumption from the source, ms (MM2 record-age-ms).");
    for (size_t i = 0; i < s->nflows; i++)
        for (size_t j = 0; j < s->flows[i].nparts; j++) hist_samples(b, "kmirror_record_age_ms", l[i].parts[j], &s->flows[i].parts[j].age);
    family(b, "kmirror_checkpoint_latency_ms", "histogram", "Checkpoint latency: time from the checkpoint record's timestamp to its acknowledgement, ms (MM2 checkpoint-latency-ms); _count is the number of checkpoints emitted.");
    for (size_t i = 0; i < s->nflows; i++)
        for (size_t j = 0; j < s->flows[i].nckpts; j++) hist_samples(b, "kmirror_checkpoint_latency_ms", l[i].ckpts[j], &s->flows[i].ckpts[j].h);
}

static void render_ckpt_windows(buf_t *b, const km_snapshot_t *s, const labelsets_t *l) {
    static const char *const names[] = {"kmirror_checkpoint_latency_ms_min", "kmirror_checkpoint_latency_ms_max", "kmirror_checkpoint_latency_ms_avg"};
    static const char *const what[] = {"Smallest", "Largest", "Average"};
    for (int k = 0; k < 3; k++) {
        char help[160];
        snprintf(help, sizeof(help), "%s checkpoint latency in the last 30-60 s, ms (MM2 checkpoint-latency-ms-%s).", what[k], names[k] + strlen(names[k]) - 3);
        family(b, names[k], "gauge", help);
        for (size_t i = 0; i < s->nflows; i++)
            for (size_t j = 0; j < s->flows[i].nckpts; j++) {
                const km_window_view_t *w = &s->flows[i].ckpts[j].w;
                if (w->count) sample(b, names[k], l[i].ckpts[j], k == 0 ? (double)w->min : k == 1 ? (double)w->max : w->avg);
            }
    }
}

/* The round trip each flow timed to its source or target cluster when it started. */
static void render_round_trips(buf_t *b, const km_snapshot_t *s, const labelsets_t *l, bool target) {
    const char *name = target ? "kmirror_target_round_trip_seconds" : "kmirror_source_round_trip_seconds";
    bprintf(b, "# HELP %s The round trip to the %s cluster, timed when the flow started (absent: it could not be timed).\n"
               "# TYPE %s gauge\n", name, target ? "target" : "source", name);
    for (size_t i = 0; i < s->nflows; i++) {
        int64_t us = target ? s->flows[i].target_rtt_us : s->flows[i].source_rtt_us;
        if (us >= 0) sample(b, name, l[i].flow, (double)us / 1e6);
    }
}

static void render_flows(buf_t *b, const km_snapshot_t *s, const labelsets_t *l) {
    family(b, "kmirror_flow_state", "gauge", "1 for the flow's current state (starting, running, degraded, failed), 0 for the others; /status gives the reason.");
    for (size_t i = 0; i < s->nflows; i++)
        for (int st = KM_FLOW_STARTING; st <= KM_FLOW_FAILED; st++)
            bprintf(b, "kmirror_flow_state{%s,state=\"%s\"} %d\n", l[i].flow, km_flow_state_name((km_flow_state_t)st), s->flows[i].state == (km_flow_state_t)st);
    family(b, "kmirror_tasks", "gauge", "Tasks running for the flow.");
    for (size_t i = 0; i < s->nflows; i++) sample(b, "kmirror_tasks", l[i].flow, s->flows[i].ntasks);
    family(b, "kmirror_producer_request_retries_total", "counter", "Produce requests to the target that librdkafka retried.");
    for (size_t i = 0; i < s->nflows; i++) sample(b, "kmirror_producer_request_retries_total", l[i].flow, (double)s->flows[i].request_retries);
    family(b, "kmirror_producer_request_errors_total", "counter", "Produce requests to the target that failed (librdkafka).");
    for (size_t i = 0; i < s->nflows; i++) sample(b, "kmirror_producer_request_errors_total", l[i].flow, (double)s->flows[i].request_errors);
    family(b, "kmirror_task_restarts_total", "counter", "Tasks the flow started again after their producer went fatal.");
    for (size_t i = 0; i < s->nflows; i++) sample(b, "kmirror_task_restarts_total", l[i].flow, (double)s->flows[i].task_restarts);
    bprintf(b, "# HELP kmirror_inflight_wait_seconds_total Time the flow's tasks held back reading because the process's "
               "records in flight were over inflight.max.bytes, or a task's over its own cap (kmirror_task_inflight_max_bytes), or a "
               "task had %d records in flight.\n"
               "# TYPE kmirror_inflight_wait_seconds_total counter\n",
            KM_TASK_INFLIGHT_MAX_RECORDS);
    for (size_t i = 0; i < s->nflows; i++)
        sample(b, "kmirror_inflight_wait_seconds_total", l[i].flow, (double)s->flows[i].budget_wait_us / 1e6);
    render_round_trips(b, s, l, false);
    family(b, "kmirror_prefetch_max_bytes", "gauge",
           "What each task of the flow may prefetch from the source: its share of memory.max.bytes, less for a source close by.");
    for (size_t i = 0; i < s->nflows; i++) sample(b, "kmirror_prefetch_max_bytes", l[i].flow, (double)s->flows[i].prefetch_bytes);
    render_round_trips(b, s, l, true);
    family(b, "kmirror_task_inflight_max_bytes", "gauge",
           "The most each task of the flow keeps in flight: inflight.max.bytes, less for a target close by.");
    for (size_t i = 0; i < s->nflows; i++)
        if (s->flows[i].task_inflight_bytes > 0)
            sample(b, "kmirror_task_inflight_max_bytes", l[i].flow, (double)s->flows[i].task_inflight_bytes);
    family(b, "kmirror_produce_requests_in_flight_max", "gauge",
           "Produce requests the flow's producers keep in flight per broker connection: 1 for a target on the same LAN.");
    for (size_t i = 0; i < s->nflows; i++)
        if (s->flows[i].produce_requests > 0)
            sample(b, "kmirror_produce_requests_in_flight_max", l[i].flow, (double)s->flows[i].produce_requests);
}

static void render_groups(buf_t *b, const km_snapshot_t *s) {
    family(b, "kmirror_checkpoint_last_timestamp_seconds", "gauge", "When the last checkpoint of the consumer group was written, seconds since the Unix epoch (absent: none yet; /status gives the reason).");
    for (size_t i = 0; i < s->nflows; i++)
        for (size_t k = 0; k < s->flows[i].ngroups; k++) {
            const km_group_status_t *g = &s->flows[i].groups[k];
            if (!g->last_ms) continue;
            char *l = labels_of(&s->flows[i], g->group, NULL, 0);
            bprintf(b, "kmirror_checkpoint_last_timestamp_seconds{%s} %.3f\n", l, (double)g->last_ms / 1000.0);
            free(l);
        }
}

static void render_process(buf_t *b, const km_snapshot_t *s) {
    family(b, "kmirror_process_cpu_seconds_total", "counter", "User and system CPU time of the process, seconds.");
    bprintf(b, "kmirror_process_cpu_seconds_total %.6f\n", s->cpu_seconds);
    family(b, "kmirror_process_resident_memory_bytes", "gauge", "Resident memory of the process, bytes.");
    bprintf(b, "kmirror_process_resident_memory_bytes %" PRIu64 "\n", s->rss_bytes);
    family(b, "kmirror_inflight_bytes", "gauge", "Memory held by the records read and not yet acknowledged by their target, all flows of the process, bytes: librdkafka's per-record bookkeeping, and the key and value bytes read since the oldest of them (a record keeps its whole fetch response).");
    bprintf(b, "kmirror_inflight_bytes %" PRId64 "\n", s->inflight_bytes);
    family(b, "kmirror_inflight_max_bytes", "gauge", "The process's budget for records in flight (inflight.max.bytes): over it, reading pauses.");
    bprintf(b, "kmirror_inflight_max_bytes %" PRId64 "\n", s->inflight_max_bytes);
    family(b, "kmirror_memory_max_bytes", "gauge", "The process's memory budget (memory.max.bytes): records in flight and the consumers' prefetch.");
    bprintf(b, "kmirror_memory_max_bytes %" PRId64 "\n", s->memory_max_bytes);
    family(b, "kmirror_process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, seconds.");
    bprintf(b, "kmirror_process_start_time_seconds %.3f\n", (double)s->start_ms / 1000.0);
    family(b, "kmirror_config_last_reload_successful", "gauge", "Whether the last configuration reload succeeded (1) or failed (0).");
    bprintf(b, "kmirror_config_last_reload_successful %d\n", s->reload_ok ? 1 : 0);
    family(b, "kmirror_config_last_reload_success_timestamp_seconds", "gauge", "When the configuration was last loaded successfully, seconds since the Unix epoch.");
    bprintf(b, "kmirror_config_last_reload_success_timestamp_seconds %.3f\n", (double)s->reload_ok_ms / 1000.0);
}

static void rejected_sample(const char *topic, uint64_t count, void *arg) {
    bprintf(arg, "kmirror_internal_records_rejected_total{topic=\"%s\"} %" PRIu64 "\n", topic, count); /* Kafka names need no escaping */
}

char *km_metrics_prometheus(const km_snapshot_t *s) {
    buf_t b = {km_xmalloc(65536), 0, 65536};
    b.p[0] = '\0';
    labelsets_t *l = labelsets_new(s);
    render_flows(&b, s, l);
    render_parts(&b, s, l);
    render_blocked(&b, s, l);
    render_stalled(&b, s, l);
    render_not_replicated(&b, s, l);
    render_histograms(&b, s, l);
    render_ckpt_windows(&b, s, l);
    render_groups(&b, s);
    render_process(&b, s);
    family(&b, "kmirror_internal_records_rejected_total", "counter", "Invalid records read from an internal topic (positions, checkpoints, offset-syncs, heartbeats) and rejected.");
    km_reject_each(rejected_sample, &b);
    labelsets_free(l, s);
    return b.p;
}

/* ---- /status JSON -------------------------------------------------------------------------- */

static json_t *window_json(const km_window_view_t *w) {
    if (!w->count) return json_null();
    return json_pack("{s:I,s:I,s:f,s:I}", "min", (json_int_t)w->min, "max", (json_int_t)w->max, "avg", w->avg, "count", (json_int_t)w->count);
}

static json_t *opt_int(int64_t v) { return v >= 0 ? json_integer(v) : json_null(); }

static json_t *part_json(const km_part_snap_t *p) {
    json_t *o = json_pack("{s:s,s:s,s:i,s:I,s:I,s:f,s:f,s:I,s:I,s:I,s:I}", "topic", p->topic, "remote_topic", p->remote,
                          "partition", (int)p->partition, "records", (json_int_t)p->records, "bytes", (json_int_t)p->bytes,
                          "record_rate", p->record_rate, "byte_rate", p->byte_rate, "skipped", (json_int_t)p->skipped,
                          "producer_errors", (json_int_t)p->delivery_errors, "resent", (json_int_t)p->resent,
                          "offset_syncs", (json_int_t)p->offset_syncs);
    json_object_set_new(o, "path_skipped", json_integer((json_int_t)p->path_skipped));
    json_object_set_new(o, "source_log_checks", json_integer((json_int_t)p->log_checks));
    json_object_set_new(o, "target_found_empty", json_integer((json_int_t)p->target_empty));
    json_object_set_new(o, "task", p->task >= 0 ? json_integer(p->task) : json_null());
    json_object_set_new(o, "lag_records", opt_int(p->lag_records));
    json_object_set_new(o, "lag_seconds", p->lag_ms >= 0 ? json_real((double)p->lag_ms / 1000.0) : json_null());
    json_object_set_new(o, "replication_latency_ms", window_json(&p->latency_w));
    json_object_set_new(o, "record_age_ms", window_json(&p->age_w));
    json_object_set_new(o, "not_replicated", p->positions_unread ? json_string("its stored position cannot be read yet (retrying)") : json_null());
    json_object_set_new(o, "blocked", p->blocked_err ? json_pack("{s:I,s:s,s:s,s:s}", "offset", (json_int_t)p->blocked_offset, "error",
                                                                 rd_kafka_err2name((rd_kafka_resp_err_t)p->blocked_err), "reason",
                                                                 rd_kafka_err2str((rd_kafka_resp_err_t)p->blocked_err), "by",
                                                                 p->blocked_by_source ? "source" : "target")
                                                     : json_null());
    json_object_set_new(o, "behind_open_transaction", json_boolean(p->behind_txn));
    json_object_set_new(o, "stalled", p->stalled ? json_pack("{s:I,s:I}", "offset", (json_int_t)p->next, "seconds",
                                                             (json_int_t)(p->still_ms / 1000))
                                                 : json_null());
    return o;
}

static json_t *task_json(const km_flow_snap_t *f, const km_task_snap_t *t) {
    json_t *parts = json_array();
    for (size_t k = 0; k < f->nparts; k++)
        if (f->parts[k].task == t->id) json_array_append_new(parts, json_pack("{s:s,s:i}", "topic", f->parts[k].topic, "partition", (int)f->parts[k].partition));
    json_t *o = json_pack("{s:i,s:o}", "id", t->id, "partitions", parts);
    json_object_set_new(o, "source_connected_brokers", t->source_up >= 0 ? json_integer(t->source_up) : json_null());
    json_object_set_new(o, "target_connected_brokers", t->target_up >= 0 ? json_integer(t->target_up) : json_null());
    return o;
}

static json_t *flow_json(const km_flow_snap_t *f) {
    json_t *tasks = json_array(), *parts = json_array(), *ckpts = json_array(), *groups = json_array();
    for (size_t i = 0; i < f->ngroups; i++) {
        const km_group_status_t *g = &f->groups[i];
        json_t *o = json_pack("{s:s,s:I}", "group", g->group, "partitions_checkpointed", (json_int_t)g->partitions);
        json_object_set_new(o, "last_checkpoint_ms", g->last_ms ? json_integer(g->last_ms) : json_null());
        json_object_set_new(o, "reason", g->reason ? json_string(g->reason) : json_null());
        json_array_append_new(groups, o);
    }
    for (int i = 0; i < f->ntasks; i++) json_array_append_new(tasks, task_json(f, &f->tasks[i]));
    for (size_t i = 0; i < f->nparts; i++) json_array_append_new(parts, part_json(&f->parts[i]));
    for (size_t i = 0; i < f->nckpts; i++) {
        const km_ckpt_snap_t *c = &f->ckpts[i];
        json_t *o = json_pack("{s:s,s:s,s:i,s:I}", "group", c->group, "topic", c->topic, "partition", (int)c->partition, "checkpoints", (json_int_t)c->h.count);
        json_object_set_new(o, "checkpoint_latency_ms", window_json(&c->w));
        json_array_append_new(ckpts, o);
    }
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:o,s:o,s:o}", "name", f->name, "source", f->source, "target", f->target,
                          "state", km_flow_state_name(f->state), "producer_request_retries", (json_int_t)f->request_retries,
                          "producer_request_errors", (json_int_t)f->request_errors, "tasks", tasks, "partitions", parts,
                          "checkpoints", ckpts);
    json_object_set_new(o, "task_restarts", json_integer((json_int_t)f->task_restarts));
    json_object_set_new(o, "inflight_wait_seconds", json_real((double)f->budget_wait_us / 1e6));
    json_object_set_new(o, "source_round_trip_ms", f->source_rtt_us >= 0 ? json_real((double)f->source_rtt_us / 1e3) : json_null());
    json_object_set_new(o, "prefetch_max_bytes", json_integer((json_int_t)f->prefetch_bytes));
    json_object_set_new(o, "target_round_trip_ms", f->target_rtt_us >= 0 ? json_real((double)f->target_rtt_us / 1e3) : json_null());
    json_object_set_new(o, "task_inflight_max_bytes",
                        f->task_inflight_bytes > 0 ? json_integer((json_int_t)f->task_inflight_bytes) : json_null());
    json_object_set_new(o, "produce_requests_in_flight_max",
                        f->produce_requests > 0 ? json_integer((json_int_t)f->produce_requests) : json_null());
    json_object_set_new(o, "reason", f->reason ? json_string(f->reason) : json_null());
    json_object_set_new(o, "groups", groups);
    return o;
}

json_t *km_metrics_status_json(const km_snapshot_t *s) {
    json_t *flows = json_array();
    for (size_t i = 0; i < s->nflows; i++) json_array_append_new(flows, flow_json(&s->flows[i]));
    char *reason = NULL;
    bool healthy = km_metrics_healthy(s, &reason);
    json_t *o = json_pack("{s:b,s:f,s:f,s:I,s:I,s:I,s:I,s:o}", "healthy", healthy, "uptime_seconds",
                          (double)(s->now_ms - s->start_ms) / 1000.0, "cpu_seconds", s->cpu_seconds, "rss_bytes",
                          (json_int_t)s->rss_bytes, "memory_max_bytes", (json_int_t)s->memory_max_bytes, "inflight_bytes",
                          (json_int_t)s->inflight_bytes, "inflight_max_bytes", (json_int_t)s->inflight_max_bytes, "flows", flows);
    json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());
    free(reason);
    json_t *cfg = json_pack("{s:b,s:f}", "last_reload_successful", s->reload_ok, "last_reload_success_timestamp_seconds",
                            (double)s->reload_ok_ms / 1000.0);
    json_object_set_new(cfg, "last_reload_error", s->reload_error ? json_string(s->reload_error) : json_null());
    json_object_set_new(o, "config", cfg);
    return o;
}

void km_metrics_main_ran(km_metrics_t *m) { atomic_store(&m->main_ran_ms, km_now_mono_ms()); }

bool km_metrics_healthy(const km_snapshot_t *s, char **reason) {
    buf_t b = {km_xmalloc(256), 0, 256};
    b.p[0] = '\0';
    if (s->main_idle_ms >= KM_MAIN_STUCK_MS)
        bprintf(&b, "kmirror's main loop has not run for %lld s (it runs every 0.1 s): the process is stuck; restart it",
                (long long)(s->main_idle_ms / 1000));
    for (size_t i = 0; i < s->nflows; i++) {
        const km_flow_snap_t *f = &s->flows[i];
        if (f->state == KM_FLOW_RUNNING) continue;
        bprintf(&b, "%sflow %s is %s%s%s", b.len ? "; " : "", f->name, km_flow_state_name(f->state), f->reason ? ": " : "",
                f->reason ? f->reason : "");
    }
    if (s->nflows == 0) bprintf(&b, "%sno flow runs in this process", b.len ? "; " : "");
    bool ok = b.len == 0;
    if (reason && !ok) *reason = b.p;
    else free(b.p);
    return ok;
}
