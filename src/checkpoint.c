/* checkpoint.c — see checkpoint.h.
 *
 * State: the sync store (fed continuously from the offset-syncs topic), the last checkpoint per
 * (group, remote topic, partition) (reloaded from the checkpoints topic on start, then kept as
 * emitted), and the group list (refreshed every refresh.groups.interval.seconds). All of it is
 * owned by the checkpointer thread; the only shared field is the emitted counter. */
#include "checkpoint.h"

#include "admin.h"
#include "groupclient.h"
#include "log.h"
#include "offsetsync.h"
#include "records.h"
#include "reject.h"
#include "rk.h"
#include "topics.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNCS_PER_PARTITION 4096
#define BATCH 1000

/* ---- decisions ------------------------------------------------------------------------------- */

bool km_checkpoint_should_emit(bool has_prev, int64_t prev_up, int64_t prev_down, int64_t up, int64_t down) {
    return !has_prev || up < prev_up || down > prev_down;
}

char *km_checkpoint_topic(const km_flow_settings_t *s, const char *source, const char *target, const char *upstream_topic) {
    char *origin = km_policy_topic_source(&s->policy, upstream_topic);
    bool failback = origin && strcmp(origin, target) == 0;
    free(origin);
    return failback ? km_policy_original_topic(&s->policy, upstream_topic)
                    : km_policy_format_remote_topic(&s->policy, source, upstream_topic);
}

size_t km_group_sync_plan(const km_group_offset_t *want, size_t n, const km_group_offset_t *have, size_t m,
                          const km_group_offset_t ***out) {
    *out = km_xcalloc(n ? n : 1, sizeof(**out));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const km_group_offset_t *cur = NULL;
        for (size_t j = 0; j < m && !cur; j++)
            if (have[j].partition == want[i].partition && strcmp(have[j].topic, want[i].topic) == 0) cur = &have[j];
        if (!cur || want[i].offset > cur->offset) (*out)[k++] = &want[i];
    }
    return k;
}

/* ---- last checkpoints ------------------------------------------------------------------------ */

typedef struct {
    char *group, *topic;
    int32_t partition;
    int64_t up, down;
    char *metadata;
    bool unwritten; /* this checkpoint's delivery failed: emitted again even if unchanged */
} last_t;

typedef struct {
    last_t *v;
    size_t n, cap;
} lastmap_t;

static int last_cmp(const char *g, const char *t, int32_t p, const last_t *e) {
    int c = strcmp(g, e->group);
    if (!c) c = strcmp(t, e->topic);
    return c ? c : (p > e->partition) - (p < e->partition);
}

static last_t *last_find(lastmap_t *m, const char *g, const char *t, int32_t p, bool create) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = last_cmp(g, t, p, &m->v[mid]);
        if (!c) return &m->v[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    if (!create) return NULL;
    if (m->n == m->cap) m->v = km_xrealloc(m->v, (m->cap = m->cap ? m->cap * 2 : 64) * sizeof(*m->v));
    memmove(&m->v[lo + 1], &m->v[lo], (m->n - lo) * sizeof(*m->v));
    m->n++;
    m->v[lo] = (last_t){km_xstrdup(g), km_xstrdup(t), p, -1, -1, km_xstrdup(""), false};
    return &m->v[lo];
}

static void last_free(lastmap_t *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].group);
        free(m->v[i].topic);
        free(m->v[i].metadata);
    }
    free(m->v);
}

/* ---- per-group state ------------------------------------------------------------------------- */

/* Why a group gets no checkpoint: each is said once per group (and again after it went away). */
enum {
    WHY_FETCH = 1,       /* its offsets could not be read */
    WHY_NO_OFFSETS = 2,  /* nothing committed on the replicated partitions */
    WHY_FILTERED = 4,    /* committed only on topics this flow does not replicate */
    WHY_NOT_COVERED = 8, /* committed on partitions no offset-sync covers yet */
};

typedef struct group_state {
    char *group;
    int64_t last_ms; /* wall ms of the last checkpoint the target acknowledged */
    char *reason;    /* why none is written now; NULL when they are */
    unsigned said;   /* WHY_* bits already logged */
} group_state_t;

/* ---- the checkpointer ------------------------------------------------------------------------ */

struct km_checkpointer {
    const km_flow_t *flow;
    km_metrics_t *metrics;
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    _Atomic uint64_t emitted;
    rd_kafka_t *sync_consumer, *producer;
    rd_kafka_t *src_admin, *dst_admin; /* the flow's, borrowed */
    km_groupclient_t *src_groups, *dst_groups;
    rd_kafka_topic_t *ck_rkt;
    km_sync_store_t *store;
    lastmap_t last;
    char **groups;
    size_t ngroups;
    char **skipped; /* groups reported as active on the target (said once) */
    size_t nskipped;
    group_state_t *gs; /* every group checkpointed or tried, for /status */
    size_t ngs;
    bool groups_dirty;       /* a checkpoint was acknowledged since the table was published */
    bool src_mock, dst_mock; /* librdkafka mock clusters: no group listing or describing */
    char *list_error;        /* the last group-listing failure, said once until it changes */
    int64_t list_said_ms;
    rd_kafka_topic_partition_list_t *replicated; /* source partitions of the selected topics */
    int64_t next_groups, next_emit, next_sync;
};

/* Bounded below admin.timeout.ms: a cluster that does not answer group requests (or a mock
 * that cannot) must not hold up a shutdown for a minute. */
static int timeout_ms(const km_checkpointer_t *c) {
    int64_t t = c->flow->s.admin_timeout_ms;
    return (int)(t < 10000 ? t : 10000);
}

static rd_kafka_t *consumer_for(const km_props_t *props, const km_flow_t *f, char *errstr, size_t errlen) {
    rd_kafka_conf_t *c = km_rk_conf(props, errstr, errlen);
    if (!c) return NULL;
    if (!km_props_get(props, "group.id")) rd_kafka_conf_set(c, "group.id", f->s.group_id, NULL, 0);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(c, "enable.auto.offset.store", "false", NULL, 0);
    rd_kafka_conf_set(c, "enable.partition.eof", "false", NULL, 0);
    return km_rk_new(RD_KAFKA_CONSUMER, c, errstr, errlen);
}

typedef void (*record_fn)(km_checkpointer_t *c, const rd_kafka_message_t *m);

/* Assigns partition 0 of `topic` from the beginning and feeds records to fn until the end as
 * of now. The consumer stays assigned, so later records can be polled. */
static int read_to_end(km_checkpointer_t *c, rd_kafka_t *rk, const char *topic, record_fn fn, char *errstr, size_t errlen) {
    int64_t lo, hi;
    rd_kafka_resp_err_t err = km_admin_watermarks(rk, topic, 0, &lo, &hi, timeout_ms(c));
    if (err) {
        snprintf(errstr, errlen, "cannot read the end of %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    int64_t deadline = km_now_mono_ms() + timeout_ms(c), next = lo;
    while (next < hi && !atomic_load(&c->stop) && !km_admin_stopping()) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m) {
            if (!m->err) {
                fn(c, m);
                next = m->offset + 1;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        tl = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tl, topic, 0);
        rd_kafka_position(rk, tl);
        if (tl->elems[0].offset > next) next = tl->elems[0].offset; /* markers or compacted tail */
        rd_kafka_topic_partition_list_destroy(tl);
        if (km_now_mono_ms() > deadline) {
            snprintf(errstr, errlen, "%s was not read to offset %lld within admin.timeout.ms", topic, (long long)hi);
            return -1;
        }
    }
    if (next < hi) { /* stopped: a partial read must not be used */
        snprintf(errstr, errlen, "interrupted: kmirror is stopping");
        return -1;
    }
    return 0;
}

static void on_sync(km_checkpointer_t *c, const rd_kafka_message_t *m) {
    const void *hv = NULL;
    size_t hl = 0;
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(m, &h) == 0) rd_kafka_header_get_last(h, KM_SYNC_HEADER, &hv, &hl);
    km_offset_sync_t s;
    int rc = km_offset_sync_decode(m->key, m->key_len, m->payload, m->len, hv, hl, &s);
    if (rc != 0) { /* skipped, as MM2 does, but not without a word */
        km_reject(rd_kafka_topic_name(m->rkt), m->partition, m->offset, "%s; not used for offset translation",
                  rc == -2 ? "an offset-sync with an out-of-range partition or offset" : "not an offset-sync (truncated, trailing bytes or unknown version)");
        return;
    }
    km_sync_store_add(c->store, &s);
    km_offset_sync_free(&s);
}

static void on_checkpoint(km_checkpointer_t *c, const rd_kafka_message_t *m) {
    km_checkpoint_t k;
    int rc = km_checkpoint_decode(m->key, m->key_len, m->payload, m->len, &k);
    if (rc != 0) {
        km_reject(rd_kafka_topic_name(m->rkt), m->partition, m->offset, "%s; skipped",
                  rc == -2 ? "a checkpoint with an out-of-range partition or offset" : "not a checkpoint (truncated, trailing bytes or unknown version)");
        return;
    }
    last_t *e = last_find(&c->last, k.group, k.topic, k.partition, true);
    e->up = k.upstream_offset;
    e->down = k.downstream_offset;
    free(e->metadata);
    e->metadata = km_xstrdup(k.metadata);
    km_checkpoint_free(&k);
}

/* ---- groups ---------------------------------------------------------------------------------- */

/* Where the source cannot list groups, the literal names in `groups` still work. */
static void literal_groups(km_checkpointer_t *c) {
    char **v;
    size_t n = km_split_list(km_props_get(&c->flow->config, "groups"), &v);
    for (size_t i = 0; i < n; i++)
        if (strpbrk(v[i], ".*+?[](){}|\\^$") == NULL) {
            c->groups = km_xrealloc(c->groups, (c->ngroups + 1) * sizeof(char *));
            c->groups[c->ngroups++] = km_xstrdup(v[i]);
        }
    km_strv_free(v, n);
}

/* A failing group listing is said when it starts, when its error changes, and every ten
 * minutes while it lasts; its end is said too. */
#define LIST_WARN_EVERY_MS (10 * 60 * 1000)

static void refresh_groups(km_checkpointer_t *c) {
    char **all;
    size_t n;
    char err[512];
    km_strv_free(c->groups, c->ngroups);
    c->groups = NULL;
    c->ngroups = 0;
    if (c->src_mock) { /* ListGroups hangs on librdkafka 2.0.2's mock */
        literal_groups(c);
        return;
    }
    if (km_admin_list_groups(c->src_admin, timeout_ms(c), &all, &n, err, sizeof(err)) != 0) {
        int64_t now = km_now_mono_ms();
        if (!c->list_error || strcmp(c->list_error, err) != 0 || now - c->list_said_ms >= LIST_WARN_EVERY_MS) {
            km_warn("flow %s: cannot list consumer groups on %s (%s); checkpointing only the literal names in 'groups' "
                    "(said again in ten minutes if it lasts)", c->flow->name, c->flow->source, err);
            free(c->list_error);
            c->list_error = km_xstrdup(err);
            c->list_said_ms = now;
        }
        literal_groups(c);
        return;
    }
    if (c->list_error) {
        km_info("flow %s: consumer groups on %s can be listed again", c->flow->name, c->flow->source);
        free(c->list_error);
        c->list_error = NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (km_name_filter_accepts(&c->flow->s.groups, all[i])) {
            c->groups = km_xrealloc(c->groups, (c->ngroups + 1) * sizeof(char *));
            c->groups[c->ngroups++] = km_xstrdup(all[i]);
        }
    km_strv_free(all, n);
}

/* ---- emitting -------------------------------------------------------------------------------- */

/* MM2's checkpoint-latency-ms: from building the checkpoint record to its acknowledgement. */
static void observe_latency(km_checkpointer_t *c, const rd_kafka_message_t *m) {
    km_checkpoint_t k;
    if (!c->metrics || km_checkpoint_decode(m->key, m->key_len, m->payload, m->len, &k) != 0) return;
    int64_t ts = rd_kafka_message_timestamp(m, NULL), lat = ts > 0 ? km_now_wall_ms() - ts : 0;
    km_metrics_checkpoint_observe(c->metrics, c->flow->source, c->flow->target, k.group, k.topic, k.partition,
                                  lat > 0 ? lat : 0);
    km_checkpoint_free(&k);
}

static group_state_t *group_state(km_checkpointer_t *c, const char *group) {
    for (size_t i = 0; i < c->ngs; i++)
        if (strcmp(c->gs[i].group, group) == 0) return &c->gs[i];
    c->gs = km_xrealloc(c->gs, (c->ngs + 1) * sizeof(*c->gs));
    c->gs[c->ngs] = (group_state_t){km_xstrdup(group), 0, NULL, 0};
    return &c->gs[c->ngs++];
}

/* Runs on the checkpointer thread (rd_kafka_poll of its producer). A checkpoint is emitted when
 * its group's offset moves; one that was not written would stay missing for good for a group
 * that no longer commits (the one a failover is for), so a failed one is marked to go out again
 * at the next emission. A report without an offset is not taken for written (librdkafka 2.0.2's
 * implicit acknowledgement, see task.c). */
static void ck_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    km_checkpointer_t *c = opaque;
    km_checkpoint_t k;
    bool decoded = km_checkpoint_decode(m->key, m->key_len, m->payload, m->len, &k) == 0;
    if (!m->err && m->offset >= 0) {
        atomic_fetch_add_explicit(&c->emitted, 1, memory_order_relaxed);
        observe_latency(c, m);
        if (decoded) {
            group_state(c, k.group)->last_ms = km_now_wall_ms();
            c->groups_dirty = true;
        }
    } else {
        km_warn("flow %s: a checkpoint could not be written to %s: %s; it is emitted again at the next interval", c->flow->name,
                c->flow->s.checkpoints_topic, m->err ? rd_kafka_err2str(m->err) : "reported without a target offset");
        last_t *e = decoded ? last_find(&c->last, k.group, k.topic, k.partition, false) : NULL;
        if (e && e->up == k.upstream_offset && e->down == k.downstream_offset) e->unwritten = true;
    }
    if (decoded) km_checkpoint_free(&k);
}

static void produce_checkpoint(km_checkpointer_t *c, const km_checkpoint_t *k) {
    size_t kl = km_checkpoint_key_size(k), vl = km_checkpoint_value_size(k);
    char *key = km_xmalloc(kl), *val = km_xmalloc(vl);
    if (km_checkpoint_encode_key(k, key, kl) < 0 || km_checkpoint_encode_value(k, val, vl) < 0) {
        km_warn("flow %s: group %s: a name or metadata is longer than Kafka's 32767 bytes; checkpoint skipped", c->flow->name, k->group);
        free(key);
        free(val);
        return;
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(c->producer, RD_KAFKA_V_RKT(c->ck_rkt), RD_KAFKA_V_PARTITION(0),
                                                RD_KAFKA_V_KEY(key, kl), RD_KAFKA_V_VALUE(val, vl),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
    free(key); /* librdkafka copies keys; MSG_F_FREE hands over only the value */
    if (err) {
        free(val);
        km_warn("flow %s: cannot queue a checkpoint: %s", c->flow->name, rd_kafka_err2str(err));
    }
}

/* Says `why` once for the group and cause; the group's /status reason becomes it (NULL: fine). */
static void set_reason(km_checkpointer_t *c, group_state_t *g, unsigned cause, char *why) {
    free(g->reason);
    g->reason = why;
    if (!why) {
        g->said = 0;
        return;
    }
    if (g->said & cause) return;
    g->said |= cause;
    km_info("flow %s: no checkpoint for group %s: %s", c->flow->name, g->group, why);
}

/* The source partitions of the topics this flow replicates, asked for explicitly when the
 * group's offsets are fetched. */
static void refresh_replicated(km_checkpointer_t *c) {
    km_topic_meta_t *t;
    size_t n;
    char err[512];
    if (km_admin_list_topics(c->src_admin, timeout_ms(c), &t, &n, NULL, err, sizeof(err)) != 0) return; /* keep the last */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < n; i++)
        if (km_topic_selected(&c->flow->s, c->flow->target, t[i].name))
            for (int p = 0; p < t[i].partitions; p++) rd_kafka_topic_partition_list_add(l, t[i].name, p);
    km_topic_meta_free(t, n);
    if (c->replicated) rd_kafka_topic_partition_list_destroy(c->replicated);
    c->replicated = l;
}

/* Without offsets on the replicated partitions: does the group commit on topics the flow does
 * not replicate? (Not knowable on the mock, which answers the every-partition form with nothing.) */
static char *why_no_offsets(km_checkpointer_t *c, const char *group) {
    const km_flow_t *f = c->flow;
    km_group_offset_t *all = NULL;
    size_t n = 0;
    char err[512];
    if (!c->src_mock && km_group_offsets(c->src_groups, group, NULL, timeout_ms(c), &all, &n, err, sizeof(err)) == 0 && n > 0) {
        char *why = km_xasprintf("its %zu committed offset(s) on %s are all for topics this flow does not replicate "
                                 "(topics / topics.exclude), e.g. %s", n, f->source, all[0].topic);
        km_group_offsets_free(all, n);
        return why;
    }
    km_group_offsets_free(all, n); /* an answer with no offsets still comes in an array */
    return km_xasprintf("it has no committed offsets on %s for the %d partition(s) this flow replicates", f->source,
                        c->replicated ? c->replicated->cnt : 0);
}

static void checkpoint_group(km_checkpointer_t *c, const char *group) {
    const km_flow_t *f = c->flow;
    group_state_t *g = group_state(c, group);
    km_group_offset_t *offs;
    size_t n;
    char err[512];
    if (!c->replicated || c->replicated->cnt == 0) {
        set_reason(c, g, WHY_NO_OFFSETS, km_xasprintf("this flow replicates no partition of %s yet", f->source));
        return;
    }
    if (km_group_offsets(c->src_groups, group, c->replicated, timeout_ms(c), &offs, &n, err, sizeof(err)) != 0) {
        set_reason(c, g, WHY_FETCH, km_xasprintf("cannot read its committed offsets on %s: %s", f->source, err));
        return;
    }
    if (n == 0) {
        char *why = why_no_offsets(c, group);
        set_reason(c, g, strstr(why, "does not replicate") ? WHY_FILTERED : WHY_NO_OFFSETS, why);
        km_group_offsets_free(offs, n);
        return;
    }
    size_t covered = 0, uncovered = 0;
    const km_group_offset_t *first_uncovered = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!km_topic_selected(&f->s, f->target, offs[i].topic)) continue;
        int64_t down;
        if (km_sync_store_translate(c->store, offs[i].topic, offs[i].partition, offs[i].offset, &down) == KM_XLATE_NONE) {
            if (!first_uncovered) first_uncovered = &offs[i];
            uncovered++;
            continue;
        }
        covered++;
        char *remote = km_checkpoint_topic(&f->s, f->source, f->target, offs[i].topic);
        last_t *prev = last_find(&c->last, group, remote, offs[i].partition, false);
        if ((prev && prev->unwritten) ||
            km_checkpoint_should_emit(prev != NULL, prev ? prev->up : 0, prev ? prev->down : 0, offs[i].offset, down)) {
            km_checkpoint_t k = {(char *)group, remote, offs[i].partition, offs[i].offset, down, offs[i].metadata};
            produce_checkpoint(c, &k);
            last_t *e = last_find(&c->last, group, remote, offs[i].partition, true);
            e->up = offs[i].offset;
            e->down = down;
            e->unwritten = false;
            free(e->metadata);
            e->metadata = km_xstrdup(offs[i].metadata);
        }
        free(remote);
    }
    char *why = uncovered ? km_xasprintf("%zu of its partition(s) with committed offsets are not covered by an offset-sync yet "
                                         "(nothing replicated at or before the committed offset), e.g. %s-%d at offset %lld",
                                         uncovered, first_uncovered->topic, first_uncovered->partition,
                                         (long long)first_uncovered->offset)
                          : NULL;
    if (covered && why) { /* checkpoints are written, for some partitions: say it, keep no reason */
        if (!(g->said & WHY_NOT_COVERED)) km_info("flow %s: group %s: %s", f->name, group, why);
        g->said |= WHY_NOT_COVERED;
        free(g->reason);
        g->reason = NULL;
        free(why);
    } else {
        set_reason(c, g, WHY_NOT_COVERED, why);
    }
    km_group_offsets_free(offs, n);
}

/* The group table for /status and the metrics. */
static void publish_groups(km_checkpointer_t *c) {
    c->groups_dirty = false;
    if (!c->metrics) return;
    km_group_status_t *v = km_xcalloc(c->ngs ? c->ngs : 1, sizeof(*v));
    for (size_t i = 0; i < c->ngs; i++) {
        size_t parts = 0;
        for (size_t k = 0; k < c->last.n; k++) parts += strcmp(c->last.v[k].group, c->gs[i].group) == 0;
        v[i] = (km_group_status_t){c->gs[i].group, c->gs[i].last_ms, parts, c->gs[i].reason};
    }
    km_metrics_checkpoint_groups(c->metrics, c->flow->source, c->flow->target, v, c->ngs);
    free(v);
}

/* ---- group offset sync ----------------------------------------------------------------------- */

static bool said_skipped(km_checkpointer_t *c, const char *group, bool skipped) {
    for (size_t i = 0; i < c->nskipped; i++)
        if (strcmp(c->skipped[i], group) == 0) {
            if (!skipped) {
                free(c->skipped[i]);
                c->skipped[i] = c->skipped[--c->nskipped];
            }
            return true;
        }
    if (skipped) {
        c->skipped = km_xrealloc(c->skipped, (c->nskipped + 1) * sizeof(char *));
        c->skipped[c->nskipped++] = km_xstrdup(group);
    }
    return false;
}

static void sync_group(km_checkpointer_t *c, const char *group, const last_t *from, size_t n) {
    const km_flow_t *f = c->flow;
    char err[512];
    /* The mock cannot describe groups; its groups are taken as empty (an offset commit for a
     * group with members is refused there as on a broker). */
    rd_kafka_consumer_group_state_t st = RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY;
    if (!c->dst_mock && km_group_state(c->dst_groups, group, timeout_ms(c), &st, err, sizeof(err)) != 0) {
        km_warn("flow %s: cannot describe group %s on %s: %s", f->name, group, f->target, err);
        return;
    }
    if (st != RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY && st != RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        if (!said_skipped(c, group, true))
            km_info("flow %s: not syncing the offsets of group %s: it has active consumers on %s (state %s)", f->name,
                    group, f->target, rd_kafka_consumer_group_state_name(st));
        return;
    }
    said_skipped(c, group, false);
    km_group_offset_t *have = NULL;
    size_t m = 0;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) rd_kafka_topic_partition_list_add(parts, from[i].topic, from[i].partition);
    int rc = st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY
                 ? km_group_offsets(c->dst_groups, group, parts, timeout_ms(c), &have, &m, err, sizeof(err))
                 : 0;
    rd_kafka_topic_partition_list_destroy(parts);
    if (rc != 0) {
        km_warn("flow %s: cannot read the offsets of group %s on %s: %s", f->name, group, f->target, err);
        return;
    }
    km_group_offset_t *want = km_xcalloc(n, sizeof(*want));
    for (size_t i = 0; i < n; i++) want[i] = (km_group_offset_t){from[i].topic, from[i].partition, from[i].down, from[i].metadata};
    const km_group_offset_t **plan;
    size_t k = km_group_sync_plan(want, n, have, m, &plan);
    if (k > 0) {
        km_group_offset_t *w = km_xcalloc(k, sizeof(*w));
        for (size_t i = 0; i < k; i++) w[i] = *plan[i];
        if (km_group_alter_offsets(c->dst_groups, group, w, k, timeout_ms(c), err, sizeof(err)) != 0)
            km_warn("flow %s: cannot sync the offsets of group %s on %s: %s (a consumer may have joined it)", f->name,
                    group, f->target, err);
        else
            km_debug("flow %s: synced %zu offset(s) of group %s on %s", f->name, k, group, f->target);
        free(w);
    }
    free(plan);
    free(want);
    km_group_offsets_free(have, m);
}

static void sync_groups(km_checkpointer_t *c) {
    for (size_t i = 0; i < c->last.n;) { /* entries are sorted by group: one run per group */
        size_t j = i;
        while (j < c->last.n && strcmp(c->last.v[j].group, c->last.v[i].group) == 0) j++;
        bool wanted = false;
        for (size_t g = 0; g < c->ngroups && !wanted; g++) wanted = strcmp(c->groups[g], c->last.v[i].group) == 0;
        if (wanted) sync_group(c, c->last.v[i].group, &c->last.v[i], j - i);
        i = j;
    }
}

/* ---- thread ---------------------------------------------------------------------------------- */

static void poll_syncs(km_checkpointer_t *c, int timeout) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->sync_consumer, timeout);
    for (int i = 0; m && i < BATCH; i++) {
        if (!m->err) on_sync(c, m);
        rd_kafka_message_destroy(m);
        m = rd_kafka_consumer_poll(c->sync_consumer, 0);
    }
    if (m) rd_kafka_message_destroy(m);
}

static int make_clients(km_checkpointer_t *c, char *errstr, size_t errlen);
static int load(km_checkpointer_t *c, char *errstr, size_t errlen);

/* Sleeps ms, or less when asked to stop. */
static void nap(km_checkpointer_t *c, int64_t ms) {
    int64_t until = km_now_mono_ms() + ms;
    while (!atomic_load(&c->stop) && !km_admin_stopping() && km_now_mono_ms() < until) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Sets (NULL: clears) why checkpoints are not written, for /status and /healthz. */
static void set_problem(km_checkpointer_t *c, const char *why) {
    km_flow_metrics_t *fm = km_metrics_flow(c->metrics, c->flow->source, c->flow->target);
    if (fm) km_flow_metrics_checkpoints(fm, why);
}

/* Clients are made once (a failure is a configuration error: said, not retried); the checkpoints
 * topic and the reload of checkpoints and offset-syncs are tried again, backing off from 10 s to
 * 60 s, until they succeed: the flow is degraded meanwhile, with the reason. */
static bool start_up(km_checkpointer_t *c) {
    char err[1024];
    const char *name = c->flow->name;
    if (make_clients(c, err, sizeof(err)) != 0) {
        km_error("flow %s: checkpoints and group offset sync are not running: %s", name, err);
        char *why = km_xasprintf("checkpoints and group offset sync are not running: %s", err);
        set_problem(c, why);
        free(why);
        return false;
    }
    int64_t backoff = 10000;
    bool said = false;
    while (load(c, err, sizeof(err)) != 0) {
        if (atomic_load(&c->stop) || km_admin_stopping()) return false;
        char *why = km_xasprintf("checkpoints and group offset sync are not running yet: %s; retrying", err);
        if (!said) km_error("flow %s: %s (every %lld s at most)", name, why, 60LL);
        said = true;
        set_problem(c, why);
        free(why);
        nap(c, backoff);
        backoff = backoff * 2 > 60000 ? 60000 : backoff * 2;
    }
    if (said) km_info("flow %s: checkpoints and group offset sync are running now", name);
    set_problem(c, NULL);
    return true;
}

static void *checkpointer_main(void *arg) {
    km_checkpointer_t *c = arg;
    const km_flow_settings_t *s = &c->flow->s;
    if (!start_up(c)) return NULL;
    while (!atomic_load(&c->stop)) {
        poll_syncs(c, 100);
        rd_kafka_poll(c->producer, 0);
        if (c->groups_dirty) publish_groups(c);
        int64_t now = km_now_mono_ms();
        if (now >= c->next_groups) {
            refresh_groups(c);
            c->next_groups = now + (s->refresh_groups_enabled ? s->refresh_groups_interval_ms : INT64_MAX / 2);
        }
        if (s->emit_checkpoints_enabled && now >= c->next_emit) {
            refresh_replicated(c);
            for (size_t i = 0; i < c->ngroups && !atomic_load(&c->stop); i++) checkpoint_group(c, c->groups[i]);
            rd_kafka_poll(c->producer, 0);
            publish_groups(c);
            c->next_emit = km_now_mono_ms() + s->emit_checkpoints_interval_ms;
        }
        if (s->sync_group_offsets_enabled && now >= c->next_sync) {
            sync_groups(c);
            c->next_sync = km_now_mono_ms() + s->sync_group_offsets_interval_ms;
        }
    }
    rd_kafka_flush(c->producer, 5000);
    return NULL;
}

/* The checkpoints producer: its delivery reports tell which checkpoints are on the target. */
static rd_kafka_t *producer_for(const km_props_t *props, km_checkpointer_t *ck, char *errstr, size_t errlen) {
    rd_kafka_conf_t *c = km_rk_conf(props, errstr, errlen);
    if (!c) return NULL;
    rd_kafka_conf_set(c, "allow.auto.create.topics", "false", NULL, 0);
    km_rk_conf_plain_producer(c);
    rd_kafka_conf_set_dr_msg_cb(c, ck_dr);
    rd_kafka_conf_set_opaque(c, ck);
    return km_rk_new(RD_KAFKA_PRODUCER, c, errstr, errlen);
}

/* librdkafka's mock cluster (cluster id "mockCluster…"): kmirror demo, the mock tests. */
static bool is_mock(rd_kafka_t *rk, int timeout) {
    char *id = rd_kafka_clusterid(rk, timeout);
    bool mock = id && strncmp(id, "mockCluster", 11) == 0;
    if (id) rd_kafka_mem_free(rk, id);
    return mock;
}

static int make_clients(km_checkpointer_t *c, char *errstr, size_t errlen) {
    const km_flow_t *f = c->flow;
    bool on_source = f->s.offset_syncs_location == KM_SYNCS_ON_SOURCE;
    c->sync_consumer = consumer_for(on_source ? &f->rk_consumer : &f->rk_target_consumer, f, errstr, errlen);
    c->producer = c->sync_consumer ? producer_for(&f->rk_producer, c, errstr, errlen) : NULL;
    c->src_groups = c->producer ? km_groupclient_new(&f->rk_source_admin, f->s.group_id, errstr, errlen) : NULL;
    c->dst_groups = c->src_groups ? km_groupclient_new(&f->rk_target_admin, f->s.group_id, errstr, errlen) : NULL;
    if (!c->dst_groups) return -1;
    c->src_mock = is_mock(c->src_admin, timeout_ms(c));
    c->dst_mock = is_mock(c->dst_admin, timeout_ms(c));
    if (c->src_mock)
        km_info("flow %s: %s is a librdkafka mock cluster, which cannot list consumer groups: checkpointing the literal names in 'groups'",
                f->name, f->source);
    return 0;
}

/* The checkpoints topic, then what earlier runs wrote: a failed attempt leaves nothing behind. */
static int load(km_checkpointer_t *c, char *errstr, size_t errlen) {
    const km_flow_t *f = c->flow;
    last_free(&c->last);
    c->last = (lastmap_t){0};
    km_sync_store_free(c->store);
    c->store = km_sync_store_new(SYNCS_PER_PARTITION);
    bool created;
    char err[512];
    if (km_admin_ensure_topic(c->dst_admin, f->s.checkpoints_topic, 1, f->s.internal_replication_factor[1], true,
                              timeout_ms(c), &created, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot create %s on %s: %s", f->s.checkpoints_topic, f->target, err);
        return -1;
    }
    if (!c->ck_rkt) c->ck_rkt = rd_kafka_topic_new(c->producer, f->s.checkpoints_topic, NULL);
    rd_kafka_t *reader = consumer_for(&f->rk_target_consumer, f, errstr, errlen);
    if (!reader) return -1;
    int rc = read_to_end(c, reader, f->s.checkpoints_topic, on_checkpoint, err, sizeof(err));
    rd_kafka_consumer_close(reader);
    rd_kafka_destroy(reader);
    if (rc != 0) {
        snprintf(errstr, errlen, "cannot reload previous checkpoints: %s", err);
        return -1;
    }
    /* No translation before the syncs were read to the end (KAFKA-13659). */
    if (read_to_end(c, c->sync_consumer, f->s.offset_syncs_topic, on_sync, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot read offset-syncs: %s", err);
        return -1;
    }
    km_info("flow %s: checkpoints: %zu previous checkpoint(s) reloaded from %s", f->name, c->last.n, f->s.checkpoints_topic);
    return 0;
}

km_checkpointer_t *km_checkpointer_start(const km_flow_t *flow, km_metrics_t *metrics, rd_kafka_t *src_admin,
                                         rd_kafka_t *dst_admin, char *errstr, size_t errlen) {
    km_checkpointer_t *c = km_xcalloc(1, sizeof(*c));
    c->flow = flow;
    c->metrics = metrics;
    c->src_admin = src_admin;
    c->dst_admin = dst_admin;
    c->store = km_sync_store_new(SYNCS_PER_PARTITION);
    if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
        snprintf(errstr, errlen, "cannot start the checkpointer thread");
        km_checkpointer_stop(c);
        return NULL;
    }
    c->started = true;
    return c;
}

uint64_t km_checkpointer_emitted(const km_checkpointer_t *c) { return atomic_load_explicit(&c->emitted, memory_order_relaxed); }

void km_checkpointer_stop(km_checkpointer_t *c) {
    if (!c) return;
    atomic_store(&c->stop, true);
    if (c->started) pthread_join(c->thread, NULL);
    set_problem(c, NULL); /* not running here any more: nothing to report */
    if (c->ck_rkt) rd_kafka_topic_destroy(c->ck_rkt);
    if (c->producer) rd_kafka_destroy(c->producer);
    km_groupclient_destroy(c->src_groups);
    km_groupclient_destroy(c->dst_groups);
    if (c->sync_consumer) {
        rd_kafka_consumer_close(c->sync_consumer);
        rd_kafka_destroy(c->sync_consumer);
    }
    km_sync_store_free(c->store);
    last_free(&c->last);
    km_strv_free(c->groups, c->ngroups);
    km_strv_free(c->skipped, c->nskipped);
    for (size_t i = 0; i < c->ngs; i++) {
        free(c->gs[i].group);
        free(c->gs[i].reason);
    }
    free(c->gs);
    free(c->list_error);
    if (c->replicated) rd_kafka_topic_partition_list_destroy(c->replicated);
    free(c);
}
