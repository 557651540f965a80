/* flow.c — see flow.h.
 *
 * Division: partition p of topic t belongs to task (h(t) + p) mod ntasks (division.h), ntasks
 * being the group's task count (coord.h). Which tasks run here is the group's decision; this
 * file reconciles, every tick, the tasks running here with the tasks the group assigned and the
 * partitions each has. Because the division never moves a partition while ntasks stays, a
 * refresh only ever adds partitions to a task (handed to it while it runs) or takes some away
 * (the task is stopped, delivering and committing everything, and started again), so a
 * partition is never read by two tasks at once. A task (re)started here first fences its
 * previous owner (with exactly-once) and then reads the positions, so it resumes exactly where
 * the previous owner — in this or another process — committed. The positions are read on a
 * thread of their own (pos_job_t): the task runs without partitions until a read that started
 * after its creation is done, and the main thread goes on ticking the other flows meanwhile. */
#include "flow.h"

#include "admin.h"
#include "clientconf.h"
#include "coord.h"
#include "division.h"
#include "log.h"
#include "rk.h"
#include "task.h"
#include "topics.h"
#include "topicsync.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A set of topic names (the refresher's memory). */
typedef struct names {
    char **v;
    size_t n;
} names_t;

static bool names_has(const names_t *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) return true;
    return false;
}

/* Adds name; true if it was not there yet. */
static bool names_add(names_t *s, const char *name) {
    if (names_has(s, name)) return false;
    s->v = km_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->v[s->n++] = km_xstrdup(name);
    return true;
}

static void names_remove(names_t *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0) {
            free(s->v[i]);
            s->v[i] = s->v[--s->n];
            return;
        }
}

/* A refresh that left a topic out (its remote topic could not be created or grown, a listing
 * failed) is tried again this soon, or at the refresh interval if that is sooner. */
#define RETRY_MS 10000
#define FIRST_SURVEY_WAIT_MS 1000 /* how long the start waits for the remote topics (km_flow_rt_start) */

/* What the refresher found: the plan and how many partitions of each entry can be replicated
 * now, or why the topics could not be listed. Handed from the refresher to the main thread. */
typedef struct survey {
    km_topic_plan_t *plan;
    size_t n;
    int *usable;
    bool attempted; /* creations and growths were tried (else: still to come) */
    char *failed;   /* the listing failed: why; then plan is NULL */
} survey_t;

typedef struct slot {
    char *topic, *remote;
    int32_t partition;
    int task;
} slot_t;

struct km_flow_rt {
    km_flow_t *flow; /* its filters may be replaced (km_flow_rt_refilter) */
    km_flow_metrics_t *fm;
    km_wake_t *wake; /* the main thread's: a survey or a positions read done wakes it */
    rd_kafka_t *src_admin, *dst_admin;
    km_props_t rk_consumer; /* the flow's replication consumer settings, prefetch sized for its source */
    km_props_t rk_producer; /* and producer settings, requests in flight for its target (pace_producer) */
    int64_t task_inflight;  /* the most a task keeps in flight for that target (pace_producer) */
    km_coord_t *coord;
    km_task_t **tasks;    /* by task id; NULL where the task does not run here */
    bool *fenced;         /* by task id: another process took it over; not restarted before the group reassigns it */
    int ntasks;           /* the group's task count */
    slot_t *slots;        /* every replicable partition with its task, sorted */
    size_t nslots;
    bool divided;         /* the first refresh succeeded: slots are known */
    char *running;        /* the task ids last logged as running here */
    char *topics_problem; /* why some selected topic is not (fully) replicated; NULL when none */
    char *conflict;       /* the group's configuration conflict (coord.h); NULL when none */
    char *positions_problem; /* partitions left unreplicated because their stored position is invalid; NULL when none */
    char *start_problem;     /* tasks not started because their positions could not be read; NULL when none */
    /* New partitions not handed to their tasks yet because the positions could not be read:
     * every slot outside `handed` (the division as last handed) waits; retried with backoff. */
    slot_t *handed;
    size_t nhanded;
    bool unhanded;
    int64_t hand_retry_at, hand_backoff_ms;
    char *hand_problem; /* the reason, for /status and /healthz; NULL when none */
    /* The offset-syncs topic is made sure of by the refresher, beside replication: until it
     * exists the tasks keep their syncs (and positions) back. */
    _Atomic bool syncs_ready;
    char *syncs_failure;  /* refresher -> main thread, under lock: why it could not be created */
    bool syncs_said;      /* refresher: the failure was logged (once; an INFO line follows the fix) */
    bool syncs_told;      /* main: the tasks know the topic is there */
    char *syncs_problem;  /* main: the reason shown while it is missing; NULL when none */
    names_t warned;       /* topics already reported as not replicable */
    names_t replicated;   /* remote topics seen on the target and replicated into */
    int64_t next_start;   /* after positions could not be read: when to try again */
    /* One positions read at a time. Each need (tasks just created, new partitions to hand)
     * asks for a generation and is served by the first read started at that generation or
     * later: a read that began before the need may miss what was committed just before it. */
    struct pos_job *job;  /* the read in flight, or done and not taken yet; NULL when none */
    uint64_t pos_asked;   /* generation of the latest need */
    uint64_t pos_started; /* generation the latest read started at */
    uint64_t *awaiting;   /* by task id: the task waits for a read of this generation; 0: it has its partitions */
    uint64_t hand_gen;    /* the new partitions wait for a read of this generation; 0: none asked */
    km_topicsync_t *topicsync; /* while this process leads the group (follow_lead) */
    bool topicsync_broken;     /* could not start: said once, not retried */
    bool failed;
    int64_t restarts_since; /* start of the window restart_task counts in */
    int restarts;           /* task restarts in that window */
    /* The refresher thread lists the topics and creates or grows remote topics, so that a
     * cluster that does not answer holds back only the topics it concerns, never the main
     * thread. It alone uses `warned` and `replicated`; the main thread takes its surveys. */
    pthread_t refresher;
    bool refresher_started;
    _Atomic bool surveyed; /* the refresher's first survey is done (the start waits for it) */
    _Atomic bool refresher_stop;
    _Atomic bool refresh_now; /* the filters changed: survey again without waiting for the interval */
    pthread_mutex_t lock; /* guards survey, and the flow's filters against a reload */
    survey_t *survey;     /* the latest, not yet applied */
};

static int timeout_ms(const km_flow_rt_t *rt) { return (int)rt->flow->s.admin_timeout_ms; }

/* Says something about a topic once per process lifetime. */
static bool first_time(km_flow_rt_t *rt, const char *topic) { return names_add(&rt->warned, topic); }

static void forget_warning(km_flow_rt_t *rt, const char *topic) { names_remove(&rt->warned, topic); }

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
        if (names_has(&rt->replicated, plan[i].remote_topic))
            km_error("flow %s: topic %s disappeared from %s while it was replicated (deleted there?); re-creating it. "
                     "The records mirrored into it before are gone from %s, and consumer offsets translated into it "
                     "earlier do not point at the same records any more; offsets of records from before the "
                     "re-creation are no longer translated. Replication goes on from the committed positions",
                     f->name, plan[i].remote_topic, f->target, f->target);
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

/* The source partitions that can be replicated before any creation or growth, per plan entry. */
static int *usable_now(const km_topic_plan_t *plan, size_t n) {
    int *usable = km_xcalloc(n ? n : 1, sizeof(*usable));
    for (size_t i = 0; i < n; i++)
        usable[i] = plan[i].action == KM_TOPIC_GROW ? plan[i].remote_partitions
                    : plan[i].action == KM_TOPIC_CREATE ? 0
                                                         : plan[i].source_partitions;
    return usable;
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
        if (usable[i] > 0) names_add(&rt->replicated, plan[i].remote_topic);
    }
    return usable;
}

/* ---- positions ----------------------------------------------------------------------------- */

static int load_positions(km_flow_rt_t *rt, km_positions_t *out, char *errstr, size_t errlen) {
    const km_flow_t *f = rt->flow;
    rd_kafka_conf_t *c = km_rk_conf(&f->rk_target_admin, errstr, errlen);
    if (!c) return -1;
    return km_positions_load(c, f->s.offsets_topic, f->source, timeout_ms(rt), NULL, out, errstr, errlen);
}

/* One positions read, on its own detached thread. It owns copies of all it needs, so that a stop
 * which gives up on it at its deadline can free the flow while the read runs on: whichever of the
 * flow and the thread lets go last frees it. */
typedef struct pos_job {
    pthread_mutex_t lock;
    pthread_cond_t done_cv; /* on CLOCK_MONOTONIC */
    int refs;
    _Atomic bool cancel;
    bool done;
    uint64_t gen;
    rd_kafka_conf_t *conf;
    char *topic, *cluster;
    int timeout_ms;
    int rc;
    km_positions_t pos;
    char err[512];
    km_wake_t *wake; /* its own reference: the job may outlive the flow */
} pos_job_t;

static void job_release(pos_job_t *j) {
    pthread_mutex_lock(&j->lock);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->lock);
    if (!last) return;
    if (j->conf) rd_kafka_conf_destroy(j->conf);
    free(j->topic);
    free(j->cluster);
    km_positions_free(&j->pos);
    km_wake_unref(j->wake);
    pthread_cond_destroy(&j->done_cv);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

static void *job_main(void *arg) {
    pos_job_t *j = arg;
    km_positions_t pos = {0};
    char err[512] = "";
    rd_kafka_conf_t *conf = j->conf;
    j->conf = NULL; /* km_positions_load consumes it */
    int rc = km_positions_load(conf, j->topic, j->cluster, j->timeout_ms, &j->cancel, &pos, err, sizeof(err));
    pthread_mutex_lock(&j->lock);
    j->rc = rc;
    j->pos = pos;
    memcpy(j->err, err, sizeof(err));
    j->done = true;
    pthread_cond_signal(&j->done_cv);
    pthread_mutex_unlock(&j->lock);
    km_wake_signal(j->wake);
    job_release(j);
    return NULL;
}

/* Starts a read at the latest generation asked for, unless one is in flight (then the next tick
 * that takes its result starts this one). A read that cannot even start is a failed read. */
static void read_if_asked(km_flow_rt_t *rt) {
    if (rt->job || rt->pos_started == rt->pos_asked) return;
    const km_flow_t *f = rt->flow;
    pos_job_t *j = km_xcalloc(1, sizeof(*j));
    pthread_mutex_init(&j->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    j->refs = 1;
    j->gen = rt->pos_asked;
    j->topic = km_xstrdup(f->s.offsets_topic);
    j->cluster = km_xstrdup(f->source);
    j->timeout_ms = timeout_ms(rt);
    j->wake = km_wake_ref(rt->wake);
    j->conf = km_rk_conf(&f->rk_target_admin, j->err, sizeof(j->err));
    rt->job = j;
    rt->pos_started = j->gen;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    j->refs++;
    if (!j->conf || pthread_create(&th, &attr, job_main, j) != 0) {
        if (j->conf) snprintf(j->err, sizeof(j->err), "cannot start a thread to read them");
        j->refs--;
        j->rc = -1;
        j->done = true;
    }
    pthread_attr_destroy(&attr);
}

/* A need for positions; its generation. */
static uint64_t ask_positions(km_flow_rt_t *rt) {
    rt->pos_asked++;
    read_if_asked(rt);
    return rt->pos_asked;
}

/* ---- division ------------------------------------------------------------------------------ */

static void slots_free(slot_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(s[i].topic);
        free(s[i].remote);
    }
    free(s);
}

static slot_t *slots_copy(const slot_t *s, size_t n) {
    slot_t *c = km_xcalloc(n ? n : 1, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i] = s[i];
        c[i].topic = km_xstrdup(s[i].topic);
        c[i].remote = km_xstrdup(s[i].remote);
    }
    return c;
}

static slot_t *build_slots(const km_topic_plan_t *plan, size_t n, const int *usable, size_t *nslots) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += (size_t)usable[i];
    slot_t *s = km_xcalloc(total ? total : 1, sizeof(*s));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < usable[i]; p++) s[k++] = (slot_t){km_xstrdup(plan[i].source_topic), km_xstrdup(plan[i].remote_topic), p, 0};
    *nslots = total;
    return s;
}

static void divide(slot_t *s, size_t n, int ntasks) {
    for (size_t i = 0; i < n; i++) s[i].task = km_division_task(s[i].topic, s[i].partition, ntasks);
}

static const slot_t *find_slot(const slot_t *s, size_t n, const char *topic, int32_t partition) {
    for (size_t i = 0; i < n; i++)
        if (s[i].partition == partition && strcmp(s[i].topic, topic) == 0) return &s[i];
    return NULL;
}

/* How many partitions each task has (ntasks entries; caller frees). */
static size_t *task_loads(const km_flow_rt_t *rt) {
    size_t *load = km_xcalloc((size_t)(rt->ntasks ? rt->ntasks : 1), sizeof(*load));
    for (size_t i = 0; i < rt->nslots; i++) load[rt->slots[i].task]++;
    return load;
}

/* Partitions whose stored position was rejected (positions.h) are not handed out: with the true
 * position unknown, starting anywhere would skip or repeat records without a word. They count
 * in *skipped (the first one named in *first) and the flow reports degraded until the position
 * is repaired (a valid record or a tombstone for its key) and the tasks start again. */
typedef struct {
    size_t n;
    char *first; /* "topic-partition at offset N" */
} skipped_t;

/* The partitions of `task` in s that `except` does not have, with their positions. */
static km_assign_item_t *items_for(const slot_t *s, size_t n, int task, const slot_t *except, size_t nexcept,
                                   const km_positions_t *pos, size_t *count, skipped_t *skipped) {
    km_assign_item_t *items = km_xcalloc(n ? n : 1, sizeof(*items));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].task != task || find_slot(except, nexcept, s[i].topic, s[i].partition)) continue;
        int64_t bad = km_positions_rejected(pos, s[i].topic, s[i].partition);
        if (bad >= 0) {
            if (skipped->n++ == 0) skipped->first = km_xasprintf("%s-%d at offset %lld", s[i].topic, s[i].partition, (long long)bad);
            continue;
        }
        items[k++] = (km_assign_item_t){s[i].topic, s[i].remote, s[i].partition, km_positions_get(pos, s[i].topic, s[i].partition),
                                        km_positions_ts(pos, s[i].topic, s[i].partition)};
    }
    *count = k;
    return items;
}

static void report(km_flow_rt_t *rt);

/* Takes sk->first. clear: the tasks just given partitions are all those running here, so no
 * skipped partition means none is left unreplicated. */
static void report_skipped(km_flow_rt_t *rt, skipped_t *sk, bool clear) {
    if (sk->n == 0 && !(clear && rt->positions_problem)) return;
    char *why = NULL;
    if (sk->n) {
        why = km_xasprintf("%zu partition(s) not replicated because their stored position in %s on %s is invalid, e.g. %s "
                           "(write a valid position or a tombstone for its key, then restart)",
                           sk->n, rt->flow->s.offsets_topic, rt->flow->target, sk->first);
        km_error("flow %s: %s", rt->flow->name, why);
    }
    free(rt->positions_problem);
    rt->positions_problem = why;
    free(sk->first);
    sk->first = NULL;
    report(rt);
}

/* ---- tasks --------------------------------------------------------------------------------- */

/* "running task(s) 0,2 of 4 here", logged whenever the set changes. */
static void log_running(km_flow_rt_t *rt) {
    char *ids = km_xstrdup("");
    for (int t = 0; t < rt->ntasks; t++) {
        if (!rt->tasks[t]) continue;
        char *next = km_xasprintf("%s%s%d", ids, *ids ? "," : "", t);
        free(ids);
        ids = next;
    }
    if (rt->running && strcmp(rt->running, ids) == 0) {
        free(ids);
        return;
    }
    if (*ids) km_info("flow %s: running task(s) %s of %d here", rt->flow->name, ids, rt->ntasks);
    else km_info("flow %s: running no task of %d here", rt->flow->name, rt->ntasks);
    free(rt->running);
    rt->running = ids;
}

/* Stops the tasks together (each delivers and commits) and forgets them. */
static void stop_tasks(km_flow_rt_t *rt, const int *ids, size_t n) {
    km_task_t **stopping = km_xcalloc(n ? n : 1, sizeof(*stopping));
    for (size_t i = 0; i < n; i++) {
        stopping[i] = rt->tasks[ids[i]];
        rt->tasks[ids[i]] = NULL;
        rt->awaiting[ids[i]] = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (stopping[i]) km_task_request_stop(stopping[i]);
    for (size_t i = 0; i < n; i++) {
        if (!stopping[i]) continue;
        if (km_task_join(stopping[i], NULL) != 0) rt->failed = true;
        km_task_free(stopping[i]);
    }
    free(stopping);
}

static void stop_all(km_flow_rt_t *rt) {
    int *ids = km_xcalloc((size_t)(rt->ntasks ? rt->ntasks : 1), sizeof(*ids));
    size_t n = 0;
    for (int t = 0; t < rt->ntasks; t++)
        if (rt->tasks[t]) ids[n++] = t;
    stop_tasks(rt, ids, n);
    free(ids);
}

/* The group took tasks away: they stop here before anyone else may start them. */
static void on_revoke(void *arg, const int *ids, size_t n) {
    km_flow_rt_t *rt = arg;
    stop_tasks(rt, ids, n);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < rt->ntasks) rt->fenced[ids[i]] = false;
    log_running(rt);
}

/* Creates the tasks first — with exactly-once that fences their previous owners and settles
 * their transactions — then asks for the positions they resume from (give_tasks). */
static void start_tasks(km_flow_rt_t *rt, const int *ids, size_t n) {
    char err[512];
    for (size_t i = 0; i < n && !rt->failed; i++) {
        rt->tasks[ids[i]] = km_task_start(rt->flow, &rt->rk_consumer, &rt->rk_producer, rt->task_inflight, rt->fm, ids[i], NULL, 0, err,
                                       sizeof(err));
        if (rt->tasks[ids[i]] && rt->syncs_told) km_task_syncs_ready(rt->tasks[ids[i]]);
        if (!rt->tasks[ids[i]]) {
            km_error("flow %s: cannot start task %d: %s", rt->flow->name, ids[i], err);
            char *why = km_xasprintf("task %d cannot start: %s", ids[i], err);
            km_flow_metrics_state(rt->fm, KM_FLOW_FAILED, why);
            free(why);
            rt->failed = true;
        }
    }
    if (rt->failed) {
        stop_tasks(rt, ids, n);
        return;
    }
    uint64_t gen = ask_positions(rt);
    for (size_t i = 0; i < n; i++) rt->awaiting[ids[i]] = gen;
}

/* The read asked for by start_tasks is done: the tasks get their partitions, or stop and start
 * again in a second. */
static void give_tasks(km_flow_rt_t *rt, const int *ids, size_t n, const pos_job_t *j) {
    if (j->rc != 0) {
        km_warn("flow %s: cannot read positions from %s on %s (%s); starting task(s) again in a second", rt->flow->name,
                rt->flow->s.offsets_topic, rt->flow->target, j->err);
        stop_tasks(rt, ids, n);
        rt->next_start = km_now_mono_ms() + 1000;
        log_running(rt);
        /* Nothing of these tasks is replicated meanwhile: the flow is not healthy, however long it
         * takes (an ACL taken away from the positions topic does not heal by itself). */
        free(rt->start_problem);
        rt->start_problem = km_xasprintf("%zu task(s) not started: cannot read positions from %s on %s: %s; retrying", n,
                                         rt->flow->s.offsets_topic, rt->flow->target, j->err);
        report(rt);
        return;
    }
    if (rt->start_problem) {
        km_info("flow %s: positions read; the task(s) start", rt->flow->name);
        free(rt->start_problem);
        rt->start_problem = NULL;
        report(rt);
    }
    skipped_t sk = {0};
    for (size_t i = 0; i < n; i++) {
        size_t count;
        km_assign_item_t *items = items_for(rt->slots, rt->nslots, ids[i], NULL, 0, &j->pos, &count, &sk);
        km_task_add(rt->tasks[ids[i]], items, count);
        free(items);
        rt->awaiting[ids[i]] = 0;
    }
    size_t running = 0;
    for (int t = 0; t < rt->ntasks; t++) running += rt->tasks[t] && !rt->awaiting[t];
    report_skipped(rt, &sk, running == n);
}

/* Runs exactly the tasks the group assigned here that have partitions. */
static void reconcile(km_flow_rt_t *rt) {
    if (!rt->divided || rt->failed || km_now_mono_ms() < rt->next_start) return;
    int *start = km_xcalloc((size_t)(rt->ntasks ? rt->ntasks : 1), sizeof(*start));
    int *stop = km_xcalloc((size_t)(rt->ntasks ? rt->ntasks : 1), sizeof(*stop));
    size_t nstart = 0, nstop = 0, *load = task_loads(rt);
    for (int t = 0; t < rt->ntasks; t++) {
        bool want = km_coord_owns(rt->coord, t) && !rt->fenced[t] && load[t] > 0;
        if (want && !rt->tasks[t]) start[nstart++] = t;
        else if (!want && rt->tasks[t]) stop[nstop++] = t;
    }
    if (nstop) stop_tasks(rt, stop, nstop);
    if (nstart) start_tasks(rt, start, nstart);
    if (nstart || nstop) log_running(rt);
    free(load);
    free(start);
    free(stop);
}

/* A task whose producer went fatal starts again with new clients, from the positions it
 * committed (records after them are written again, as after any restart). More than
 * RESTARTS_MAX restarts in RESTARTS_WINDOW_MS fail the flow instead: a fault that comes back at
 * once is not one a restart cures, and a loop of restarts would hide it. */
#define RESTARTS_MAX 5
#define RESTARTS_WINDOW_MS (10 * 60 * 1000)

static bool restart_task(km_flow_rt_t *rt, int t) {
    int64_t now = km_now_mono_ms();
    if (rt->restarts == 0 || now - rt->restarts_since > RESTARTS_WINDOW_MS) {
        rt->restarts = 0;
        rt->restarts_since = now;
    }
    const char *why = km_task_fail_reason(rt->tasks[t]);
    if (rt->restarts >= RESTARTS_MAX) {
        km_error("flow %s: task %d failed again (%s): %d restarts in %d min did not cure it; the flow stops", rt->flow->name,
                 t, why, RESTARTS_MAX, RESTARTS_WINDOW_MS / 60000);
        return false;
    }
    rt->restarts++;
    km_warn("flow %s: task %d: %s; starting it again with new clients from its committed positions (restart %d of at most "
            "%d in %d min; records after those positions are written again)",
            rt->flow->name, t, why, rt->restarts, RESTARTS_MAX, RESTARTS_WINDOW_MS / 60000);
    km_task_slot_restarted(km_flow_metrics_task(rt->fm, t));
    km_task_t *old = rt->tasks[t];
    rt->tasks[t] = NULL;
    rt->awaiting[t] = 0;
    km_task_request_stop(old);
    km_task_join(old, NULL);
    km_task_free(old);
    start_tasks(rt, &t, 1);
    return true;
}

/* A fenced task is let go (its new owner runs it); a failed one is started again when a new one
 * may do better (restart_task); any other failure fails the flow. */
static void reap(km_flow_rt_t *rt) {
    for (int t = 0; t < rt->ntasks; t++) {
        if (!rt->tasks[t]) continue;
        if (km_task_fenced(rt->tasks[t])) {
            stop_tasks(rt, &t, 1);
            rt->fenced[t] = true;
            log_running(rt);
        } else if (km_task_restartable(rt->tasks[t]) && restart_task(rt, t)) {
            continue;
        } else if (km_task_failed(rt->tasks[t])) {
            char *why = km_xasprintf("task %d: %s", t, km_task_fail_reason(rt->tasks[t]));
            km_flow_metrics_state(rt->fm, KM_FLOW_FAILED, why);
            free(why);
            rt->failed = true;
        }
    }
}

/* The group's task count changed (its topic grew, or was re-created while no process ran):
 * almost every partition changes task, so every task here stops and the division starts over. */
static void resize(km_flow_rt_t *rt, int ntasks) {
    stop_all(rt);
    rt->tasks = km_xrealloc(rt->tasks, (size_t)ntasks * sizeof(*rt->tasks));
    rt->fenced = km_xrealloc(rt->fenced, (size_t)ntasks * sizeof(*rt->fenced));
    rt->awaiting = km_xrealloc(rt->awaiting, (size_t)ntasks * sizeof(*rt->awaiting));
    for (int t = 0; t < ntasks; t++) {
        rt->tasks[t] = NULL;
        rt->fenced[t] = false;
        rt->awaiting[t] = 0;
    }
    rt->ntasks = ntasks;
    divide(rt->slots, rt->nslots, ntasks);
}

/* Task t lost a partition the new division `s` no longer has (a deleted topic, say). */
static bool loses(const km_flow_rt_t *rt, const slot_t *s, size_t n, int t) {
    for (size_t i = 0; i < rt->nslots; i++)
        if (rt->slots[i].task == t && !find_slot(s, n, rt->slots[i].topic, rt->slots[i].partition)) return true;
    return false;
}

#define HAND_BACKOFF_MIN_MS 1000
#define HAND_BACKOFF_MAX_MS 60000

/* New partitions (those of s outside base) go to the running tasks they belong to, with any
 * stored positions from j. False when the positions could not be read: nothing is handed then.
 * Tasks still waiting for positions are left out: give_tasks hands them all of theirs. One that
 * give_tasks served with an earlier read has them already; it ignores a partition it has. */
static bool hand_additions(km_flow_rt_t *rt, const slot_t *s, size_t n, const slot_t *base, size_t nbase, const pos_job_t *j) {
    if (j->rc != 0) {
        size_t waiting = 0;
        const slot_t *first = NULL;
        for (size_t i = 0; i < n; i++)
            if (!find_slot(base, nbase, s[i].topic, s[i].partition)) {
                if (!first) first = &s[i];
                waiting++;
                km_part_positions_unread(km_flow_metrics_part(rt->fm, s[i].topic, s[i].remote, s[i].partition), true);
            }
        free(rt->hand_problem);
        rt->hand_problem = first ? km_xasprintf("%zu new partition(s) not replicated yet, e.g. %s [%d]: cannot read positions: %s",
                                                waiting, first->topic, first->partition, j->err)
                                 : NULL;
        if (first)
            km_warn("flow %s: cannot read positions (%s); %zu new partition(s), e.g. %s [%d], are not replicated until they can be read (retrying)",
                    rt->flow->name, j->err, waiting, first->topic, first->partition);
        report(rt);
        return false;
    }
    skipped_t sk = {0};
    for (int t = 0; t < rt->ntasks; t++) {
        if (!rt->tasks[t] || rt->awaiting[t]) continue;
        size_t count;
        km_assign_item_t *items = items_for(s, n, t, base, nbase, &j->pos, &count, &sk);
        if (count) km_task_add(rt->tasks[t], items, count);
        free(items);
    }
    report_skipped(rt, &sk, false);
    for (size_t i = 0; i < n; i++)
        if (!find_slot(base, nbase, s[i].topic, s[i].partition) && (rt->hand_problem || rt->tasks[s[i].task]))
            km_part_positions_unread(km_flow_metrics_part(rt->fm, s[i].topic, s[i].remote, s[i].partition), false);
    if (rt->hand_problem) km_info("flow %s: positions read; the new partitions are replicated now", rt->flow->name);
    free(rt->hand_problem);
    rt->hand_problem = NULL;
    report(rt);
    return true;
}

/* s (the division about to replace rt->slots) has new partitions: they wait for a fresh read
 * (those of the tasks here are reported as such meanwhile), handed to their tasks by
 * hand_or_defer. What was handed stays the base until then. */
static void ask_hand(km_flow_rt_t *rt, const slot_t *s, size_t n) {
    if (!rt->unhanded) {
        rt->handed = slots_copy(rt->slots, rt->nslots);
        rt->nhanded = rt->nslots;
        rt->unhanded = true;
        rt->hand_backoff_ms = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (rt->tasks[s[i].task] && !find_slot(rt->handed, rt->nhanded, s[i].topic, s[i].partition))
            km_part_positions_unread(km_flow_metrics_part(rt->fm, s[i].topic, s[i].remote, s[i].partition), true);
    rt->hand_gen = ask_positions(rt);
}

/* The read ask_hand asked for is done: hands the new partitions; when it failed, retries with
 * backoff. */
static void hand_or_defer(km_flow_rt_t *rt, const pos_job_t *j) {
    if (hand_additions(rt, rt->slots, rt->nslots, rt->handed, rt->nhanded, j)) {
        slots_free(rt->handed, rt->nhanded);
        rt->handed = NULL;
        rt->nhanded = 0;
        rt->unhanded = false;
        return;
    }
    rt->hand_backoff_ms = !rt->hand_backoff_ms ? HAND_BACKOFF_MIN_MS
                          : rt->hand_backoff_ms * 2 > HAND_BACKOFF_MAX_MS ? HAND_BACKOFF_MAX_MS
                                                                           : rt->hand_backoff_ms * 2;
    rt->hand_retry_at = km_now_mono_ms() + rt->hand_backoff_ms;
}

/* Takes a finished read: the new partitions first (to the tasks that have theirs), then the
 * tasks waiting for it. Starts the next read if a need came after this one began. */
static void take_positions(km_flow_rt_t *rt) {
    pos_job_t *j = rt->job;
    if (!j) return;
    pthread_mutex_lock(&j->lock);
    bool done = j->done;
    pthread_mutex_unlock(&j->lock);
    if (!done) return;
    rt->job = NULL;
    if (rt->hand_gen && rt->hand_gen <= j->gen) {
        rt->hand_gen = 0;
        hand_or_defer(rt, j);
    }
    int *ids = km_xcalloc((size_t)(rt->ntasks ? rt->ntasks : 1), sizeof(*ids));
    size_t n = 0;
    for (int t = 0; t < rt->ntasks; t++)
        if (rt->tasks[t] && rt->awaiting[t] && rt->awaiting[t] <= j->gen) ids[n++] = t;
    if (n) give_tasks(rt, ids, n, j);
    free(ids);
    job_release(j);
    read_if_asked(rt);
}

static void apply_slots(km_flow_rt_t *rt, slot_t *s, size_t n) {
    divide(s, n, rt->ntasks);
    int *restart = km_xcalloc((size_t)(rt->ntasks ? rt->ntasks : 1), sizeof(*restart));
    size_t nrestart = 0;
    for (int t = 0; t < rt->ntasks; t++) /* one waiting for positions has none yet: give_tasks hands it s's */
        if (rt->tasks[t] && !rt->awaiting[t] && loses(rt, s, n, t)) restart[nrestart++] = t;
    if (nrestart) {
        km_info("flow %s: %zu task(s) lose partitions; restarting them", rt->flow->name, nrestart);
        stop_tasks(rt, restart, nrestart); /* reconcile starts them again */
    }
    bool gained = false;
    for (size_t i = 0; i < n && !gained; i++) gained = !find_slot(rt->slots, rt->nslots, s[i].topic, s[i].partition);
    if (gained && rt->divided) ask_hand(rt, s, n);
    if (n != rt->nslots || !rt->divided)
        km_info("flow %s: replicating %zu partition(s), divided into the group's %d task(s)", rt->flow->name, n, rt->ntasks);
    free(restart);
    slots_free(rt->slots, rt->nslots);
    rt->slots = s;
    rt->nslots = n;
    rt->divided = true;
}

/* ---- state -------------------------------------------------------------------------------- */

/* Running, or degraded while a selected topic cannot be (fully) replicated or the processes of
 * the group run the flow with different settings. */
static void report(km_flow_rt_t *rt) {
    char *conflict = rt->conflict ? km_xasprintf("configuration conflict in group %s: %s", rt->flow->s.group_id, rt->conflict) : NULL;
    const char *parts[] = {rt->topics_problem, rt->positions_problem, rt->start_problem, rt->hand_problem, rt->syncs_problem,
                           conflict};
    size_t len = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++) len += parts[i] ? strlen(parts[i]) + 2 : 0;
    if (!len) {
        km_flow_metrics_state(rt->fm, KM_FLOW_RUNNING, NULL);
        return;
    }
    char *why = km_xcalloc(1, len + 1);
    for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++)
        if (parts[i]) {
            if (*why) strcat(why, "; ");
            strcat(why, parts[i]);
        }
    km_flow_metrics_state(rt->fm, KM_FLOW_DEGRADED, why);
    free(why);
    free(conflict);
}

/* Takes `why` (NULL: no problem). */
static void set_topics_problem(km_flow_rt_t *rt, char *why) {
    free(rt->topics_problem);
    rt->topics_problem = why;
    report(rt);
}

static void report_topics(km_flow_rt_t *rt, const km_topic_plan_t *plan, size_t n, const int *usable, bool attempted) {
    size_t missing = 0;
    const char *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (usable[i] >= plan[i].source_partitions) continue;
        if (!first) first = plan[i].source_topic;
        missing++;
    }
    if (!missing) set_topics_problem(rt, NULL);
    else if (!attempted)
        set_topics_problem(rt, km_xasprintf("%zu topic(s) wait for their remote topic to be created or grown on %s, e.g. %s",
                                            missing, rt->flow->target, first));
    else
        set_topics_problem(rt, km_xasprintf("%zu topic(s) not fully replicated because their remote topic could not be created or grown on %s, e.g. %s (see the log); retrying",
                                            missing, rt->flow->target, first));
}

static void report_conflict(km_flow_rt_t *rt) {
    char *c = km_coord_conflict(rt->coord);
    if ((!c && !rt->conflict) || (c && rt->conflict && strcmp(c, rt->conflict) == 0)) {
        free(c);
        return;
    }
    free(rt->conflict);
    rt->conflict = c;
    report(rt);
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

static void survey_free(survey_t *v) {
    if (!v) return;
    km_topic_plan_free(v->plan, v->n);
    free(v->usable);
    free(v->failed);
    free(v);
}

/* Hands a survey to the main thread, replacing one it has not taken yet. */
static void offer(km_flow_rt_t *rt, survey_t *v) {
    pthread_mutex_lock(&rt->lock);
    survey_free(rt->survey);
    rt->survey = v;
    pthread_mutex_unlock(&rt->lock);
    km_wake_signal(rt->wake);
}

static survey_t *copy_plan(const km_topic_plan_t *plan, size_t n, const int *usable, bool attempted) {
    survey_t *v = km_xcalloc(1, sizeof(*v));
    v->plan = km_xcalloc(n ? n : 1, sizeof(*v->plan));
    for (size_t i = 0; i < n; i++) {
        v->plan[i] = plan[i];
        v->plan[i].source_topic = km_xstrdup(plan[i].source_topic);
        v->plan[i].remote_topic = km_xstrdup(plan[i].remote_topic);
    }
    v->n = n;
    v->usable = km_xcalloc(n ? n : 1, sizeof(*v->usable));
    memcpy(v->usable, usable, n * sizeof(*usable));
    v->attempted = attempted;
    return v;
}

/* One refresh, on the refresher thread: the topics that can be replicated as they are go to the
 * main thread at once; then missing remote topics are created and short ones grown (which may
 * wait admin.timeout.ms), and the outcome follows. True when something was left out. */
static bool survey(km_flow_rt_t *rt) {
    const km_flow_t *f = rt->flow;
    km_topic_meta_t *src = NULL, *dst = NULL;
    size_t nsrc = 0, ndst = 0;
    int brokers = 0;
    char err[512];
    const char *failed_on = NULL;
    if (km_admin_list_topics(rt->src_admin, timeout_ms(rt), &src, &nsrc, NULL, err, sizeof(err)) != 0) failed_on = f->source;
    else if (km_admin_list_topics(rt->dst_admin, timeout_ms(rt), &dst, &ndst, &brokers, err, sizeof(err)) != 0) failed_on = f->target;
    if (failed_on) {
        survey_t *v = km_xcalloc(1, sizeof(*v));
        v->failed = km_xasprintf("cannot list topics on %s: %s", failed_on, err);
        if (!km_admin_stopping()) km_warn("flow %s: %s; trying again", f->name, v->failed);
        offer(rt, v);
        km_topic_meta_free(src, nsrc);
        return true;
    }
    km_topic_plan_t *plan;
    pthread_mutex_lock(&rt->lock);
    size_t n = km_topic_plan(&f->s, f->source, f->target, src, nsrc, dst, ndst, &plan);
    pthread_mutex_unlock(&rt->lock);
    km_topic_meta_free(src, nsrc);
    km_topic_meta_free(dst, ndst);
    int *usable = usable_now(plan, n);
    bool work = false;
    for (size_t i = 0; i < n; i++) work |= plan[i].action == KM_TOPIC_CREATE || plan[i].action == KM_TOPIC_GROW;
    if (work) offer(rt, copy_plan(plan, n, usable, false));
    free(usable);
    usable = prepare_targets(rt, plan, n, brokers);
    bool short_of = false;
    for (size_t i = 0; i < n; i++) short_of |= usable[i] < plan[i].source_partitions;
    offer(rt, copy_plan(plan, n, usable, true));
    free(usable);
    km_topic_plan_free(plan, n);
    return short_of;
}

/* The offset-syncs topic: one partition, compacted, on the cluster offset-syncs.topic.location
 * names; on the refresher thread, tried at every survey until it exists. Replication goes on
 * without it, but no position passes a sync that is not written (task.c), so say so. */
static bool ensure_syncs_topic(km_flow_rt_t *rt) {
    const km_flow_t *f = rt->flow;
    if (atomic_load(&rt->syncs_ready)) return true;
    bool on_source = f->s.offset_syncs_location == KM_SYNCS_ON_SOURCE;
    const char *where = on_source ? f->source : f->target;
    char err[512];
    bool created;
    char *failure = NULL;
    if (km_admin_ensure_topic(on_source ? rt->src_admin : rt->dst_admin, f->s.offset_syncs_topic, 1,
                              f->s.internal_replication_factor[2], true, timeout_ms(rt), &created, err, sizeof(err)) != 0) {
        failure = km_xasprintf("cannot create %s on %s (%s): no offset-sync is written and no position is committed until it exists; retrying",
                               f->s.offset_syncs_topic, where, err);
        if (!rt->syncs_said && !km_admin_stopping()) km_error("flow %s: %s", f->name, failure);
        rt->syncs_said = true;
    } else {
        if (created) km_info("flow %s: created %s on %s", f->name, f->s.offset_syncs_topic, where);
        else if (rt->syncs_said) km_info("flow %s: %s exists on %s now: offset-syncs and positions are written again", f->name, f->s.offset_syncs_topic, where);
        atomic_store(&rt->syncs_ready, true);
    }
    pthread_mutex_lock(&rt->lock);
    free(rt->syncs_failure);
    rt->syncs_failure = failure;
    pthread_mutex_unlock(&rt->lock);
    return failure == NULL;
}

/* Main thread: the tasks learn that the offset-syncs topic is there; /status learns why not. */
static void take_syncs_state(km_flow_rt_t *rt) {
    if (!rt->syncs_told && atomic_load(&rt->syncs_ready)) {
        for (int i = 0; i < rt->ntasks; i++)
            if (rt->tasks[i]) km_task_syncs_ready(rt->tasks[i]);
        rt->syncs_told = true;
    }
    pthread_mutex_lock(&rt->lock);
    char *why = rt->syncs_failure ? km_xstrdup(rt->syncs_failure) : NULL;
    pthread_mutex_unlock(&rt->lock);
    if ((!why && !rt->syncs_problem) || (why && rt->syncs_problem && strcmp(why, rt->syncs_problem) == 0)) {
        free(why);
        return;
    }
    free(rt->syncs_problem);
    rt->syncs_problem = why;
    report(rt);
}

/* One survey of the topics, and the offset-syncs topic until it exists; returns when the next is
 * due. */
static int64_t refresh(km_flow_rt_t *rt) {
    const km_flow_settings_t *s = &rt->flow->s;
    bool retry = survey(rt);
    atomic_store(&rt->surveyed, true);
    retry |= !ensure_syncs_topic(rt);
    int64_t interval = s->refresh_topics_enabled ? s->refresh_topics_interval_ms : INT64_MAX / 4;
    return km_now_mono_ms() + (retry && RETRY_MS < interval ? RETRY_MS : interval);
}

static void *refresher_main(void *arg) {
    km_flow_rt_t *rt = arg;
    int64_t next = 0;
    while (!atomic_load(&rt->refresher_stop)) {
        if (atomic_exchange(&rt->refresh_now, false)) next = 0;
        if (km_now_mono_ms() < next) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        next = refresh(rt);
    }
    return NULL;
}

/* Applies the refresher's latest survey, if any (main thread). */
static void take_survey(km_flow_rt_t *rt) {
    pthread_mutex_lock(&rt->lock);
    survey_t *v = rt->survey;
    rt->survey = NULL;
    pthread_mutex_unlock(&rt->lock);
    if (!v) return;
    if (v->failed) {
        set_topics_problem(rt, v->failed);
        v->failed = NULL;
    } else {
        size_t nslots;
        slot_t *sl = build_slots(v->plan, v->n, v->usable, &nslots);
        apply_slots(rt, sl, nslots);
        sync_topics(rt);
        report_topics(rt, v->plan, v->n, v->usable, v->attempted);
    }
    survey_free(v);
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
static int ensure_offsets_topic(km_flow_rt_t *rt, bool *created, char *errstr, size_t errlen) {
    const km_flow_t *f = rt->flow;
    if (km_admin_ensure_topic(rt->dst_admin, f->s.offsets_topic, 25, 3, true, timeout_ms(rt), created, errstr, errlen) != 0)
        return -1;
    if (*created) km_info("flow %s: created %s on %s", f->name, f->s.offsets_topic, f->target);
    return 0;
}

/* Unreadable positions at start-up are an error with the cluster's name, not a silent retry.
 * A topic this process just created holds none, and reading it at once costs the wait for its
 * partitions' leaders (~200 ms of a first start on Kafka 4.4): the tasks read it later anyway. */
static int check_positions(km_flow_rt_t *rt, bool created, char *errstr, size_t errlen) {
    if (created) {
        km_info("flow %s: 0 stored position(s) in %s on %s (created just now)", rt->flow->name, rt->flow->s.offsets_topic,
                rt->flow->target);
        return 0;
    }
    km_positions_t pos = {0};
    if (load_positions(rt, &pos, errstr, errlen) != 0) return -1;
    size_t bad = km_positions_nrejected(&pos, NULL);
    km_info("flow %s: %zu stored position(s) in %s on %s%s", rt->flow->name, pos.n - bad, rt->flow->s.offsets_topic, rt->flow->target,
            bad ? ", and invalid ones (see above)" : "");
    km_positions_free(&pos);
    return 0;
}

/* The offsets topic exists (`have` partitions; 0: missing, created here) and its positions can
 * be read. */
static int prepare_offsets(km_flow_rt_t *rt, int have, char *errstr, size_t errlen) {
    const km_flow_t *f = rt->flow;
    char err[512];
    bool created = false;
    if (have == 0 && ensure_offsets_topic(rt, &created, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot prepare %s on cluster %s: %s", f->s.offsets_topic, f->target, err);
        return -1;
    }
    if (!f->s.emit_offset_syncs_enabled) atomic_store(&rt->syncs_ready, true);
    if (check_positions(rt, created, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot read positions from %s on cluster %s: %s", f->s.offsets_topic, f->target, err);
        return -1;
    }
    return 0;
}

/* Both clusters must answer before anything else is tried, so the error names the cluster. It
 * lists the cluster's topics; *smallest (if asked) gets the name of the one with the fewest
 * partitions, NULL when there is none, for the caller to free. */
static int reach(km_flow_rt_t *rt, rd_kafka_t *rk, const char *alias, const km_props_t *client, char **smallest, char *errstr,
                 size_t errlen) {
    km_topic_meta_t *t;
    size_t n;
    char err[512];
    if (km_admin_list_topics(rk, timeout_ms(rt), &t, &n, NULL, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot reach cluster %s (bootstrap.servers=%s) within admin.timeout.ms=%d: %s", alias,
                 km_props_get(client, "bootstrap.servers"), timeout_ms(rt), err);
        return -1;
    }
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (t[i].partitions < t[best].partitions) best = i;
    if (smallest) *smallest = n ? km_xstrdup(t[best].name) : NULL;
    km_topic_meta_free(t, n);
    return 0;
}

/* Round trips timed to size the prefetch (source) and the producers' requests in flight
 * (target). The quickest counts: a first one may wait for a connection to another broker, and a
 * broker busy with a load, or pausing for its garbage collector, answered single probes on this
 * host in 1.0-8.6 ms among answers of 0.1-0.3 ms, and the quickest of three was twice 0.5 ms or
 * more (bench/results/2026-12-06.md section 25). So up to RTT_PROBES, until one answers under the
 * LAN cut-off, none started after RTT_PROBE_SPAN_MS (a cluster across a WAN is told by its first
 * answer, and its flow's start is not held up for ten round trips), each given at most
 * RTT_PROBE_TIMEOUT_MS: a cluster that slow counts as far away, and the flow's start is not held
 * up for admin.timeout.ms. */
#define RTT_PROBES 10
#define RTT_PROBE_SPAN_MS 50
#define RTT_PROBE_TIMEOUT_MS 5000

/* A replication consumer reads about a quarter of its prefetch per round trip to the source
 * (librdkafka 2.0.2 has one Fetch in flight per broker), so a source across a WAN needs all of
 * the task's share of memory.max.bytes and one on the same LAN a fraction of it (clientconf.h).
 * The round trip is timed once per start, on the admin client's connection. */
static int64_t time_round_trip(km_flow_rt_t *rt, rd_kafka_t *admin, const char *topic) {
    int probe_ms = timeout_ms(rt) < RTT_PROBE_TIMEOUT_MS ? timeout_ms(rt) : RTT_PROBE_TIMEOUT_MS;
    return km_admin_round_trip_us(admin, topic, RTT_PROBES, KM_LAN_RTT_US, RTT_PROBE_SPAN_MS, probe_ms);
}

static void size_prefetch(km_flow_rt_t *rt, const char *topic) {
    const km_flow_t *f = rt->flow;
    int64_t rtt = time_round_trip(rt, rt->src_admin, topic);
    int64_t share = f->s.prefetch_max_bytes, prefetch = km_clientconf_prefetch_for_rtt(share, rtt);
    km_props_copy(&rt->rk_consumer, &f->rk_consumer);
    km_clientconf_replication_consumer_defaults(&f->consumer, &rt->rk_consumer, f->s.inflight_max_bytes, prefetch);
    km_flow_metrics_prefetch(rt->fm, rtt, prefetch);
    if (rtt < 0)
        km_warn("flow %s: the round trip to cluster %s could not be timed: each task may prefetch its whole share of "
                "memory.max.bytes, %lld MiB", f->name, f->source, (long long)(share >> 20));
    else
        km_info("flow %s: cluster %s answers in %.2f ms: each task prefetches up to %lld MiB of its %lld MiB share of "
                "memory.max.bytes", f->name, f->source, (double)rtt / 1000.0, (long long)(prefetch >> 20),
                (long long)(share >> 20));
}

/* The replication producer keeps one request in flight per connection to a target on the same
 * LAN (clientconf.c: librdkafka 2.0.2's idempotent producer spins otherwise), and each task a
 * fraction of inflight.max.bytes; its tasks report what librdkafka took
 * (km_flow_metrics_produce_requests). Timed like the source. */
static void pace_producer(km_flow_rt_t *rt, const char *topic) {
    const km_flow_t *f = rt->flow;
    int64_t rtt = time_round_trip(rt, rt->dst_admin, topic), budget = f->s.inflight_max_bytes;
    km_props_copy(&rt->rk_producer, &f->rk_producer);
    bool one = km_clientconf_replication_producer_defaults(&f->producer, &rt->rk_producer, rtt);
    rt->task_inflight = km_clientconf_task_inflight_for_rtt(budget, f->s.inflight_max_set, rtt);
    km_flow_metrics_target_rtt(rt->fm, rtt, rt->task_inflight);
    if (rtt < 0) {
        km_warn("flow %s: the round trip to cluster %s could not be timed: its producers keep the requests in flight "
                "their settings give (librdkafka's 5 per broker when idempotent), as for a target across a WAN, and each "
                "task up to all of inflight.max.bytes in flight, %lld MiB", f->name, f->target, (long long)(budget >> 20));
        return;
    }
    char how[128] = "produce requests in flight as the producer settings say";
    if (one) {
        const char *linger = km_props_get(&rt->rk_producer, "linger.ms");
        if (!linger) linger = km_props_get(&rt->rk_producer, "queue.buffering.max.ms");
        snprintf(how, sizeof(how), "one produce request in flight per broker, linger.ms %s", linger ? linger : "5");
    }
    km_info("flow %s: cluster %s answers in %.2f ms: %s, each task up to %lld MiB of records in flight of "
            "inflight.max.bytes %lld MiB", f->name, f->target, (double)rtt / 1000.0, how,
            (long long)(rt->task_inflight >> 20), (long long)(budget >> 20));
}

km_flow_rt_t *km_flow_rt_start(km_flow_t *flow, km_flow_metrics_t *fm, km_wake_t *wake, char *errstr, size_t errlen) {
    km_flow_rt_t *rt = km_xcalloc(1, sizeof(*rt));
    rt->flow = flow;
    rt->fm = fm;
    rt->wake = km_wake_ref(wake);
    pthread_mutex_init(&rt->lock, NULL);
    char err[512];
    rt->src_admin = admin_client(&flow->rk_source_admin, "source", flow, errstr, errlen);
    rt->dst_admin = rt->src_admin ? admin_client(&flow->rk_target_admin, "target", flow, errstr, errlen) : NULL;
    if (!rt->dst_admin) goto fail;
    char *probe = NULL, *dst_probe = NULL;
    if (reach(rt, rt->src_admin, flow->source, &flow->rk_source_admin, &probe, errstr, errlen) != 0 ||
        reach(rt, rt->dst_admin, flow->target, &flow->rk_target_admin, &dst_probe, errstr, errlen) != 0) {
        free(probe);
        free(dst_probe);
        goto fail;
    }
    size_prefetch(rt, probe);
    pace_producer(rt, dst_probe);
    free(probe);
    free(dst_probe);
    /* Before the first topic is created: a group held by Java MirrorMaker 2 is refused untouched. */
    if (km_coord_check_group(flow, rt->dst_admin, errstr, errlen) != 0) goto fail;
    /* Positions are read before the join: a member that joined is not served (its assignment
     * waits, and with it the group's rebalance) until this function returns. */
    int have = km_admin_partition_count(rt->dst_admin, flow->s.offsets_topic, timeout_ms(rt), err, sizeof(err));
    if (have < 0) {
        snprintf(errstr, errlen, "cannot read positions from %s on cluster %s: %s", flow->s.offsets_topic, flow->target, err);
        goto fail;
    }
    if (have > 0 && prepare_offsets(rt, have, errstr, errlen) != 0) goto fail;
    rt->coord = km_coord_start(flow, rt->dst_admin, on_revoke, rt, errstr, errlen);
    if (!rt->coord) goto fail;
    resize(rt, km_coord_ntasks(rt->coord));
    if (pthread_create(&rt->refresher, NULL, refresher_main, rt) != 0) {
        snprintf(errstr, errlen, "cannot start the topic refresher thread");
        goto fail;
    }
    rt->refresher_started = true;
    if (have > 0) return rt;
    /* A first start. A broker makes a new topic's partitions, one topic after the other, before
     * its metadata shows the next topic (~10 ms per partition on Kafka 4.4). The group's join
     * needs the tasks topic and the first record the remote topics, not the offsets topic's 25
     * partitions (one this process creates holds no positions): created last, the join and the
     * tasks' start run while the broker makes them. Bounded: a cluster slow to create topics holds
     * back those topics, not the flow's start. No task starts before this function returns, so
     * the offsets topic exists by then. */
    int64_t surveyed_by = km_now_mono_ms() + FIRST_SURVEY_WAIT_MS;
    while (!atomic_load(&rt->surveyed) && km_now_mono_ms() < surveyed_by && km_admin_pause(5)) {}
    if (prepare_offsets(rt, 0, errstr, errlen) != 0) goto fail;
    return rt;
fail:
    km_flow_rt_stop(rt);
    return NULL;
}

/* Topic config and ACL sync, like checkpoints, run once per group: in the process that runs
 * task 0 (two would each rewrite the remote topics' configs). */
static void follow_lead(km_flow_rt_t *rt) {
    const km_flow_t *f = rt->flow;
    bool lead = (f->s.sync_topic_configs_enabled || f->s.sync_topic_acls_enabled) && !rt->topicsync_broken &&
                km_coord_owns(rt->coord, 0);
    if (lead && !rt->topicsync) {
        char err[512];
        rt->topicsync = km_topicsync_start(f, rt->src_admin, rt->dst_admin, err, sizeof(err));
        if (rt->topicsync) sync_topics(rt);
        else km_warn("flow %s: topic configs and ACLs are not synced: %s", f->name, err);
        rt->topicsync_broken = !rt->topicsync;
    } else if (!lead && rt->topicsync) {
        km_topicsync_stop(rt->topicsync);
        rt->topicsync = NULL;
    }
}

bool km_flow_rt_tick(km_flow_rt_t *rt) {
    if (km_coord_poll(rt->coord) != 0) rt->failed = true;
    reap(rt);
    report_conflict(rt);
    if (rt->failed) return false;
    if (km_coord_ntasks(rt->coord) != rt->ntasks) resize(rt, km_coord_ntasks(rt->coord));
    take_survey(rt);
    take_syncs_state(rt);
    if (rt->unhanded && !rt->hand_gen && km_now_mono_ms() >= rt->hand_retry_at) rt->hand_gen = ask_positions(rt);
    take_positions(rt);
    reconcile(rt);
    follow_lead(rt);
    return !rt->failed;
}

bool km_flow_rt_leads(const km_flow_rt_t *rt) { return km_coord_owns(rt->coord, 0); }

void km_flow_rt_admins(const km_flow_rt_t *rt, rd_kafka_t **src, rd_kafka_t **dst) {
    *src = rt->src_admin;
    *dst = rt->dst_admin;
}

bool km_flow_rt_assigned(const km_flow_rt_t *rt) { return km_coord_assigned(rt->coord); }

/* The topic sync reads the filters on its own thread: it stops first and follow_lead starts it
 * again with them. The refresher reads them under the lock; its next survey, at once, applies
 * them: partitions they add are handed to the running tasks, a task that loses some stops
 * (delivering and committing) and starts again, every other task runs on untouched. */
void km_flow_rt_refilter(km_flow_rt_t *rt, const km_flow_t *next) {
    if (rt->topicsync) {
        km_topicsync_stop(rt->topicsync);
        rt->topicsync = NULL;
    }
    rt->topicsync_broken = false;
    pthread_mutex_lock(&rt->lock);
    km_config_flow_refilter(rt->flow, next);
    pthread_mutex_unlock(&rt->lock);
    atomic_store(&rt->refresh_now, true);
    km_coord_republish(rt->coord);
}

/* A read still running at the deadline is let go: it frees itself when it ends. */
static void let_go(km_flow_rt_t *rt, pos_job_t *j, int64_t deadline) {
    pthread_mutex_lock(&j->lock);
    while (!j->done) {
        int64_t left = deadline - km_now_mono_ms();
        if (left <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j->done_cv, &j->lock, &ts);
    }
    bool done = j->done;
    pthread_mutex_unlock(&j->lock);
    if (!done)
        km_warn("flow %s: stopped without waiting any longer for the positions read from %s on %s (shutdown.timeout.ms=%lld)",
                rt->flow->name, rt->flow->s.offsets_topic, rt->flow->target, (long long)rt->flow->s.shutdown_timeout_ms);
    job_release(j);
}

int km_flow_rt_stop(km_flow_rt_t *rt) {
    int64_t deadline = km_now_mono_ms() + rt->flow->s.shutdown_timeout_ms;
    if (rt->job) atomic_store(&rt->job->cancel, true);
    atomic_store(&rt->refresher_stop, true);
    if (rt->refresher_started) pthread_join(rt->refresher, NULL);
    survey_free(rt->survey);
    pthread_mutex_destroy(&rt->lock);
    stop_all(rt);
    km_coord_stop(rt->coord, deadline); /* leaves the group once the tasks are committed */
    int rc = rt->failed ? -1 : 0;
    km_topicsync_stop(rt->topicsync);
    if (rt->src_admin) rd_kafka_destroy(rt->src_admin);
    if (rt->dst_admin) rd_kafka_destroy(rt->dst_admin);
    km_props_free(&rt->rk_consumer);
    km_props_free(&rt->rk_producer);
    slots_free(rt->slots, rt->nslots);
    if (rt->unhanded) slots_free(rt->handed, rt->nhanded);
    free(rt->hand_problem);
    km_strv_free(rt->warned.v, rt->warned.n);
    km_strv_free(rt->replicated.v, rt->replicated.n);
    if (rt->job) let_go(rt, rt->job, deadline);
    free(rt->tasks);
    free(rt->fenced);
    free(rt->awaiting);
    free(rt->running);
    free(rt->topics_problem);
    free(rt->positions_problem);
    free(rt->start_problem);
    free(rt->syncs_failure);
    free(rt->syncs_problem);
    free(rt->conflict);
    km_wake_unref(rt->wake);
    free(rt);
    return rc;
}

