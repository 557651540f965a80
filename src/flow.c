/* flow.c — see flow.h.
 *
 * Assignment is MM2's: every replicated source partition, sorted by (topic, partition), dealt
 * round-robin over min(tasks.max, partitions) tasks. When a refresh only adds partitions and
 * leaves every existing one on its task, the additions are handed to the running tasks;
 * otherwise the tasks are stopped (delivering and committing everything) and restarted with the
 * new division, so a partition is never read by two tasks at once. */
#include "flow.h"

#include "admin.h"
#include "log.h"
#include "rk.h"
#include "topics.h"
#include "topicsync.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *topic, *remote;
    int32_t partition;
    int task;
} slot_t;

struct km_flow_rt {
    const km_flow_t *flow;
    km_flow_metrics_t *fm;
    rd_kafka_t *src_admin, *dst_admin;
    km_positions_t positions;
    km_task_t **tasks;
    int ntasks;
    slot_t *slots; /* current assignment, sorted */
    size_t nslots;
    char **warned; /* topics already reported as not replicable */
    size_t nwarned;
    int64_t next_refresh;
    km_topicsync_t *topicsync;
    bool failed;
};

static int timeout_ms(const km_flow_rt_t *rt) { return (int)rt->flow->s.admin_timeout_ms; }

/* Says something about a topic once per process lifetime. */
static bool first_time(km_flow_rt_t *rt, const char *topic) {
    for (size_t i = 0; i < rt->nwarned; i++)
        if (strcmp(rt->warned[i], topic) == 0) return false;
    rt->warned = km_xrealloc(rt->warned, (rt->nwarned + 1) * sizeof(*rt->warned));
    rt->warned[rt->nwarned++] = km_xstrdup(topic);
    return true;
}

static void forget_warning(km_flow_rt_t *rt, const char *topic) {
    for (size_t i = 0; i < rt->nwarned; i++)
        if (strcmp(rt->warned[i], topic) == 0) {
            free(rt->warned[i]);
            rt->warned[i] = rt->warned[--rt->nwarned];
            return;
        }
}

/* ---- target topics ------------------------------------------------------------------------- */

/* Creates the missing remote topics in one request. Returns how many partitions of each plan
 * entry can be replicated now (0 when its topic could not be made). */
static void create_missing(km_flow_rt_t *rt, km_topic_plan_t *plan, size_t n, int brokers, int *usable) {
    const km_flow_t *f = rt->flow;
    km_new_topic_t *nt = km_xcalloc(n, sizeof(*nt));
    size_t *idx = km_xcalloc(n, sizeof(*idx)), m = 0;
    bool clamped;
    int rf = km_effective_rf(f->s.replication_factor, brokers, &clamped);
    char ***cfgs = km_xcalloc(n ? n : 1, sizeof(*cfgs));
    for (size_t i = 0; i < n; i++) {
        if (plan[i].action != KM_TOPIC_CREATE) continue;
        /* MM2 creates remote topics with the source's configuration (a compacted topic stays compacted) */
        size_t nc = f->s.sync_topic_configs_enabled
                        ? km_topicsync_creation_configs(f, rt->src_admin, plan[i].source_topic, timeout_ms(rt), &cfgs[m])
                        : 0;
        nt[m] = (km_new_topic_t){.name = plan[i].remote_topic, .partitions = plan[i].source_partitions, .replication_factor = rf,
                                 .configs = (const char *const *)cfgs[m], .nconfigs = nc};
        idx[m++] = i;
    }
    if (m && clamped)
        km_warn("flow %s: replication.factor=%d but %s has %d broker(s); creating remote topics with replication factor %d",
                f->name, f->s.replication_factor, f->target, brokers, rf);
    char err[512];
    if (m && km_admin_create_topics(rt->dst_admin, nt, m, timeout_ms(rt), err, sizeof(err)) != 0) {
        for (size_t k = 0; k < m; k++)
            if (first_time(rt, nt[k].name))
                km_error("flow %s: cannot create topic %s on %s (%s); it is not replicated until it exists there",
                         f->name, nt[k].name, f->target, err);
    } else {
        for (size_t k = 0; k < m; k++) {
            size_t i = idx[k];
            if (!nt[k].err || nt[k].err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                usable[i] = plan[i].source_partitions;
                km_info("flow %s: created topic %s on %s (%d partitions)", f->name, nt[k].name, f->target, plan[i].source_partitions);
            } else if (first_time(rt, nt[k].name)) {
                km_error("flow %s: cannot create topic %s on %s: %s; it is not replicated until it exists there",
                         f->name, nt[k].name, f->target, nt[k].errstr);
            }
        }
    }
    for (size_t k = 0; k < m; k++) km_strv_free(cfgs[k], 2 * nt[k].nconfigs);
    free(cfgs);
    free(nt);
    free(idx);
}

static void grow(km_flow_rt_t *rt, km_topic_plan_t *p, int *usable) {
    char err[512];
    rd_kafka_resp_err_t e = km_admin_create_partitions(rt->dst_admin, p->remote_topic, p->source_partitions, timeout_ms(rt), err, sizeof(err));
    if (!e) {
        *usable = p->source_partitions;
        km_info("flow %s: grew %s on %s from %d to %d partitions", rt->flow->name, p->remote_topic, rt->flow->target,
                p->remote_partitions, p->source_partitions);
    } else if (first_time(rt, p->remote_topic)) {
        km_error("flow %s: %s has %d partitions on %s but %d on %s, and growing it failed: %s; partitions %d.. are not replicated",
                 rt->flow->name, p->remote_topic, p->remote_partitions, rt->flow->target, p->source_partitions,
                 rt->flow->source, err, p->remote_partitions);
    }
}

/* The source partitions that can be replicated now, per plan entry. */
static int *prepare_targets(km_flow_rt_t *rt, km_topic_plan_t *plan, size_t n, int brokers) {
    int *usable = km_xcalloc(n ? n : 1, sizeof(*usable));
    create_missing(rt, plan, n, brokers, usable);
    for (size_t i = 0; i < n; i++) {
        switch (plan[i].action) {
        case KM_TOPIC_READY: usable[i] = plan[i].source_partitions; break;
        case KM_TOPIC_GROW:
            usable[i] = plan[i].remote_partitions;
            grow(rt, &plan[i], &usable[i]);
            break;
        case KM_TOPIC_REMOTE_LARGER:
            usable[i] = plan[i].source_partitions;
            if (first_time(rt, plan[i].remote_topic))
                km_warn("flow %s: %s has %d partitions on %s, more than the %d of %s on %s; replicating partition by partition anyway",
                        rt->flow->name, plan[i].remote_topic, plan[i].remote_partitions, rt->flow->target,
                        plan[i].source_partitions, plan[i].source_topic, rt->flow->source);
            break;
        case KM_TOPIC_CREATE: break;
        }
        if (usable[i] == plan[i].source_partitions && plan[i].action != KM_TOPIC_REMOTE_LARGER) forget_warning(rt, plan[i].remote_topic);
    }
    return usable;
}

/* ---- assignment ---------------------------------------------------------------------------- */

static void slots_free(slot_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(s[i].topic);
        free(s[i].remote);
    }
    free(s);
}

static slot_t *build_slots(const km_topic_plan_t *plan, size_t n, const int *usable, int tasks_max, size_t *nslots, int *ntasks) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += (size_t)usable[i];
    slot_t *s = km_xcalloc(total ? total : 1, sizeof(*s));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < usable[i]; p++) s[k++] = (slot_t){km_xstrdup(plan[i].source_topic), km_xstrdup(plan[i].remote_topic), p, 0};
    *ntasks = total == 0 ? 0 : (int)(total < (size_t)tasks_max ? total : (size_t)tasks_max);
    for (size_t i = 0; i < total; i++) s[i].task = (int)(i % (size_t)*ntasks);
    *nslots = total;
    return s;
}

static const slot_t *find_slot(const slot_t *s, size_t n, const char *topic, int32_t partition) {
    for (size_t i = 0; i < n; i++)
        if (s[i].partition == partition && strcmp(s[i].topic, topic) == 0) return &s[i];
    return NULL;
}

/* True when every currently assigned partition stays on its task. */
static bool only_additions(const km_flow_rt_t *rt, const slot_t *s, size_t n, int ntasks) {
    if (ntasks != rt->ntasks) return false;
    for (size_t i = 0; i < rt->nslots; i++) {
        const slot_t *now = find_slot(s, n, rt->slots[i].topic, rt->slots[i].partition);
        if (!now || now->task != rt->slots[i].task) return false;
    }
    return true;
}

static km_assign_item_t *items_for(const km_flow_rt_t *rt, const slot_t *s, size_t n, int task, bool new_only, size_t *count) {
    km_assign_item_t *items = km_xcalloc(n ? n : 1, sizeof(*items));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].task != task) continue;
        if (new_only && find_slot(rt->slots, rt->nslots, s[i].topic, s[i].partition)) continue;
        items[k++] = (km_assign_item_t){s[i].topic, s[i].remote, s[i].partition,
                                        km_positions_get(&rt->positions, s[i].topic, s[i].partition)};
    }
    *count = k;
    return items;
}

static void stop_tasks(km_flow_rt_t *rt) {
    for (int i = 0; i < rt->ntasks; i++) km_task_request_stop(rt->tasks[i]);
    for (int i = 0; i < rt->ntasks; i++) {
        const char *reason;
        if (km_task_join(rt->tasks[i], &rt->positions, &reason) != 0) rt->failed = true;
        km_task_free(rt->tasks[i]);
    }
    free(rt->tasks);
    rt->tasks = NULL;
    rt->ntasks = 0;
}

static int start_tasks(km_flow_rt_t *rt, const slot_t *s, size_t n, int ntasks) {
    rt->tasks = km_xcalloc((size_t)(ntasks ? ntasks : 1), sizeof(*rt->tasks));
    for (int t = 0; t < ntasks; t++) {
        size_t count;
        km_assign_item_t *items = items_for(rt, s, n, t, false, &count);
        char err[512];
        rt->tasks[t] = km_task_start(rt->flow, rt->fm, t, items, count, err, sizeof(err));
        free(items);
        if (!rt->tasks[t]) {
            km_error("flow %s: cannot start task %d: %s", rt->flow->name, t, err);
            rt->failed = true;
            return -1;
        }
        rt->ntasks = t + 1;
    }
    return 0;
}

static void apply_assignment(km_flow_rt_t *rt, slot_t *s, size_t n, int ntasks) {
    if (rt->ntasks > 0 && only_additions(rt, s, n, ntasks)) {
        for (int t = 0; t < ntasks; t++) {
            size_t count;
            km_assign_item_t *items = items_for(rt, s, n, t, true, &count);
            if (count) km_task_add(rt->tasks[t], items, count);
            free(items);
        }
    } else {
        if (rt->ntasks > 0) km_info("flow %s: dividing %zu partition(s) anew over %d task(s)", rt->flow->name, n, ntasks);
        stop_tasks(rt);
        start_tasks(rt, s, n, ntasks);
    }
    if (n != rt->nslots) km_info("flow %s: replicating %zu partition(s) with %d task(s)", rt->flow->name, n, ntasks);
    slots_free(rt->slots, rt->nslots);
    rt->slots = s;
    rt->nslots = n;
}

/* ---- state -------------------------------------------------------------------------------- */

/* Running, or degraded while some selected topic cannot be (fully) replicated. */
static void report_state(km_flow_rt_t *rt, const km_topic_plan_t *plan, size_t n, const int *usable) {
    size_t missing = 0;
    const char *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (usable[i] >= plan[i].source_partitions) continue;
        if (!first) first = plan[i].source_topic;
        missing++;
    }
    if (!missing) {
        km_flow_metrics_state(rt->fm, KM_FLOW_RUNNING, NULL);
        return;
    }
    char *why = km_xasprintf("%zu topic(s) not fully replicated because their remote topic could not be created or grown on %s, e.g. %s (see the log)",
                             missing, rt->flow->target, first);
    km_flow_metrics_state(rt->fm, KM_FLOW_DEGRADED, why);
    free(why);
}

/* ---- refresh ------------------------------------------------------------------------------- */

/* Tells the config and ACL sync which source topics are replicated now. */
static void sync_topics(km_flow_rt_t *rt) {
    char **topics = km_xcalloc(rt->nslots ? rt->nslots : 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < rt->nslots; i++)
        if (i == 0 || strcmp(rt->slots[i].topic, rt->slots[i - 1].topic) != 0) topics[n++] = rt->slots[i].topic;
    if (rt->topicsync) km_topicsync_set_topics(rt->topicsync, topics, n);
    free(topics);
}

static int refresh(km_flow_rt_t *rt) {
    const km_flow_t *f = rt->flow;
    km_topic_meta_t *src = NULL, *dst = NULL;
    size_t nsrc = 0, ndst = 0;
    int brokers = 0;
    char err[512];
    const char *failed_on = NULL;
    if (km_admin_list_topics(rt->src_admin, timeout_ms(rt), &src, &nsrc, NULL, err, sizeof(err)) != 0) failed_on = f->source;
    else if (km_admin_list_topics(rt->dst_admin, timeout_ms(rt), &dst, &ndst, &brokers, err, sizeof(err)) != 0) failed_on = f->target;
    if (failed_on) {
        char *why = km_xasprintf("cannot list topics on %s: %s", failed_on, err);
        km_warn("flow %s: %s", f->name, why);
        km_flow_metrics_state(rt->fm, KM_FLOW_DEGRADED, why);
        free(why);
        km_topic_meta_free(src, nsrc);
        return -1;
    }
    km_topic_plan_t *plan;
    size_t n = km_topic_plan(&f->s, f->source, f->target, src, nsrc, dst, ndst, &plan);
    int *usable = prepare_targets(rt, plan, n, brokers);
    size_t nslots;
    int ntasks;
    slot_t *s = build_slots(plan, n, usable, f->s.tasks_max, &nslots, &ntasks);
    apply_assignment(rt, s, nslots, ntasks);
    sync_topics(rt);
    report_state(rt, plan, n, usable);
    free(usable);
    km_topic_plan_free(plan, n);
    km_topic_meta_free(src, nsrc);
    km_topic_meta_free(dst, ndst);
    return 0;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static rd_kafka_t *admin_client(const km_props_t *props, const char *what, const km_flow_t *f, char *errstr, size_t errlen) {
    rd_kafka_conf_t *c = km_rk_conf(props, errstr, errlen);
    if (!c) return NULL;
    rd_kafka_conf_set(c, "allow.auto.create.topics", "false", NULL, 0);
    rd_kafka_t *rk = km_rk_new(RD_KAFKA_PRODUCER, c, errstr, errlen);
    if (!rk) km_error("flow %s: cannot create the %s admin client", f->name, what);
    return rk;
}

/* The offsets topic must exist before positions can be written: compacted, 25 partitions
 * (Connect's offset.storage.partitions). */
static int ensure_offsets_topic(km_flow_rt_t *rt, char *errstr, size_t errlen) {
    const km_flow_t *f = rt->flow;
    bool created;
    if (km_admin_ensure_topic(rt->dst_admin, f->s.offsets_topic, 25, 3, true, timeout_ms(rt), &created, errstr, errlen) != 0)
        return -1;
    if (created) km_info("flow %s: created %s on %s", f->name, f->s.offsets_topic, f->target);
    return 0;
}

/* The offset-syncs topic: one partition, compacted, on the cluster offset-syncs.topic.location
 * names. Without it replication goes on; translation is what suffers, so say so. */
static void ensure_syncs_topic(km_flow_rt_t *rt) {
    const km_flow_t *f = rt->flow;
    if (!f->s.emit_offset_syncs_enabled) return;
    bool on_source = f->s.offset_syncs_location == KM_SYNCS_ON_SOURCE;
    char err[512];
    bool created;
    if (km_admin_ensure_topic(on_source ? rt->src_admin : rt->dst_admin, f->s.offset_syncs_topic, 1,
                              f->s.internal_replication_factor[2], true, timeout_ms(rt), &created, err, sizeof(err)) != 0)
        km_error("flow %s: cannot create %s on %s (%s): offset-syncs cannot be written, so consumer offsets cannot be translated",
                 f->name, f->s.offset_syncs_topic, on_source ? f->source : f->target, err);
    else if (created)
        km_info("flow %s: created %s on %s", f->name, f->s.offset_syncs_topic, on_source ? f->source : f->target);
}

static int load_positions(km_flow_rt_t *rt, char *errstr, size_t errlen) {
    const km_flow_t *f = rt->flow;
    rd_kafka_conf_t *c = km_rk_conf(&f->rk_target_admin, errstr, errlen);
    if (!c) return -1;
    if (km_positions_load(c, f->s.offsets_topic, f->source, timeout_ms(rt), &rt->positions, errstr, errlen) != 0) return -1;
    km_info("flow %s: %zu stored position(s) in %s on %s", f->name, rt->positions.n, f->s.offsets_topic, f->target);
    return 0;
}

/* Both clusters must answer before anything else is tried, so the error names the cluster. */
static int reach(km_flow_rt_t *rt, rd_kafka_t *rk, const char *alias, const km_props_t *client, char *errstr, size_t errlen) {
    km_topic_meta_t *t;
    size_t n;
    char err[512];
    if (km_admin_list_topics(rk, timeout_ms(rt), &t, &n, NULL, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot reach cluster %s (bootstrap.servers=%s) within admin.timeout.ms=%d: %s", alias,
                 km_props_get(client, "bootstrap.servers"), timeout_ms(rt), err);
        return -1;
    }
    km_topic_meta_free(t, n);
    return 0;
}

km_flow_rt_t *km_flow_rt_start(const km_flow_t *flow, km_flow_metrics_t *fm, char *errstr, size_t errlen) {
    km_flow_rt_t *rt = km_xcalloc(1, sizeof(*rt));
    rt->flow = flow;
    rt->fm = fm;
    char err[512];
    rt->src_admin = admin_client(&flow->rk_source_admin, "source", flow, errstr, errlen);
    rt->dst_admin = rt->src_admin ? admin_client(&flow->rk_target_admin, "target", flow, errstr, errlen) : NULL;
    if (!rt->dst_admin) goto fail;
    if (reach(rt, rt->src_admin, flow->source, &flow->rk_source_admin, errstr, errlen) != 0 ||
        reach(rt, rt->dst_admin, flow->target, &flow->rk_target_admin, errstr, errlen) != 0)
        goto fail;
    if (ensure_offsets_topic(rt, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot prepare %s on cluster %s: %s", flow->s.offsets_topic, flow->target, err);
        goto fail;
    }
    ensure_syncs_topic(rt);
    if (load_positions(rt, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot read positions from %s on cluster %s: %s", flow->s.offsets_topic, flow->target, err);
        goto fail;
    }
    if (refresh(rt) != 0) {
        snprintf(errstr, errlen, "cannot list topics on %s or %s (see above)", flow->source, flow->target);
        goto fail;
    }
    rt->next_refresh = km_now_mono_ms() + flow->s.refresh_topics_interval_ms;
    if (flow->s.sync_topic_configs_enabled || flow->s.sync_topic_acls_enabled) {
        rt->topicsync = km_topicsync_start(flow, err, sizeof(err));
        if (rt->topicsync) sync_topics(rt);
        else km_warn("flow %s: topic configs and ACLs are not synced: %s", flow->name, err);
    }
    return rt;
fail:
    km_flow_rt_stop(rt);
    return NULL;
}

bool km_flow_rt_tick(km_flow_rt_t *rt) {
    for (int i = 0; i < rt->ntasks; i++)
        if (km_task_failed(rt->tasks[i])) {
            rt->failed = true;
            char *why = km_xasprintf("task %d: %s", i, km_task_fail_reason(rt->tasks[i]));
            km_flow_metrics_state(rt->fm, KM_FLOW_FAILED, why);
            free(why);
        }
    if (rt->failed) return false;
    if (rt->flow->s.refresh_topics_enabled && km_now_mono_ms() >= rt->next_refresh) {
        refresh(rt);
        rt->next_refresh = km_now_mono_ms() + rt->flow->s.refresh_topics_interval_ms;
    }
    return !rt->failed;
}

int km_flow_rt_stop(km_flow_rt_t *rt) {
    stop_tasks(rt);
    int rc = rt->failed ? -1 : 0;
    km_topicsync_stop(rt->topicsync);
    if (rt->src_admin) rd_kafka_destroy(rt->src_admin);
    if (rt->dst_admin) rd_kafka_destroy(rt->dst_admin);
    km_positions_free(&rt->positions);
    slots_free(rt->slots, rt->nslots);
    km_strv_free(rt->warned, rt->nwarned);
    free(rt);
    return rc;
}

