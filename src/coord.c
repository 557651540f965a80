/* coord.c — see coord.h.
 *
 * The settings registry is partition 0 of the tasks topic: every process writes
 * "member/{host}:{pid}:{start}" → its settings (fingerprint.h) when it starts and then every
 * session.timeout.ms, and a tombstone when it stops; every process follows the partition. A
 * process whose last record is older than three such intervals is gone (killed). This needs no
 * admin call: librdkafka 2.0's DescribeConsumerGroups can abort the process on some broker
 * errors (librdkafka #4605), which a replicator must not risk every few seconds. Liveness
 * compares the writer's record timestamp with this host's clock, so hosts need synchronised
 * clocks (to well within the interval). */
#include "coord.h"

#include "admin.h"
#include "fingerprint.h"
#include "log.h"
#include "rk.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MEMBER_KEY "member/"
#define CHECK_INTERVAL_MS 1000   /* settings comparison: local work only */
#define COUNT_INTERVAL_MS 10000  /* the tasks topic's partition count: a metadata request */
/* km_coord_poll runs on the main thread: a count not answered by then (no broker, the tasks
 * topic's leader being elected) is asked again at the next interval. */
#define COUNT_TIMEOUT_MS 2000
/* The group check before start-up is a courtesy (joining refuses a group of another kind too,
 * only later): a cluster with a broker down, which cannot answer it completely, delays a start
 * by this much at most, not by admin.timeout.ms. */
#define GROUP_CHECK_MS 10000
#define END_QUERY_MS 2000 /* the registry's end offset at start-up; without it, the end-of-partition event */
#define LEADER_WAIT_MS 500 /* the registry's leader before it is read (open_registry) */
#define PUBLISH_FLUSH_MS 2000 /* this process's first registry record; it is published again later anyway */

typedef struct member {
    char *key;     /* "member/host:pid:start" */
    char *process; /* "host:pid" */
    km_fingerprint_t fp;
    int64_t at;    /* wall-clock ms of its latest record */
} member_t;

struct km_coord {
    const km_flow_t *flow;
    rd_kafka_t *admin;    /* borrowed */
    rd_kafka_t *consumer; /* the group member */
    rd_kafka_t *producer; /* writes this process's settings record */
    rd_kafka_topic_t *registry_rkt; /* the tasks topic, on producer (see open_registry) */
    rd_kafka_t *reader;   /* follows everyone's settings records */
    km_coord_revoke_fn revoke;
    void *arg;
    km_fingerprint_t fp;
    char *process, *key;
    bool *owned; /* by task id, ntasks entries */
    int ntasks;
    member_t *members; /* other processes, as last read */
    size_t nmembers;
    bool caught_up; /* the reader reached the end of the registry once */
    int64_t end;    /* the registry's end offset when catching up began (-1: unknown) */
    bool publish_failed;
    int64_t next_publish, next_check, next_count;
    bool fatal;
    bool assigned_once; /* the group gave this member its first assignment (possibly empty) */
    bool watch_connect; /* Connect's config topic was absent at start: its creation is the signal */
    pthread_mutex_t lock; /* guards conflict */
    char *conflict;
};

static int timeout_ms(const km_coord_t *c) { return (int)c->flow->s.admin_timeout_ms; }
static int64_t publish_interval_ms(const km_coord_t *c) { return c->flow->s.session_timeout_ms; }

/* librdkafka 2.0.2 aborts (an assertion in the cooperative-sticky assignor, librdkafka #4312,
 * exit 134) when a group consumer is destroyed after the group answered its JoinGroup but before
 * its first SyncGroup brought an assignment: the assignor is chosen, its state not yet made. So a
 * stop waits for the first assignment: this long while the member has not joined yet (it is then
 * destroyed without closing, which is safe: it does not send LeaveGroup, and the group rebalances
 * once its session expires, which loses nothing, a member without an assignment ran no task), and
 * up to the stop's deadline once it has joined (the SyncGroup normally follows within a round
 * trip; a leader that died holds it up to a session timeout). */
#define FIRST_ASSIGNMENT_WAIT_MS 2000
/* A close (LeaveGroup, rebalance callbacks) that takes longer than this is given up. */
#define CLOSE_WAIT_MS 3000

/* Closes a consumer within wait_ms and destroys it; past the bound (a cluster that does not
 * answer) it is destroyed without closing. Rebalance events of the close (the member's last
 * revocation) go to c's rebalance handling; c is NULL for a consumer that only assigns. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque);
static void close_consumer(rd_kafka_t *rk, km_coord_t *c, int wait_ms) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(rk, q);
    bool closed = false;
    if (e) {
        rd_kafka_error_destroy(e);
    } else {
        int64_t deadline = km_now_mono_ms() + wait_ms;
        while (!(closed = rd_kafka_consumer_closed(rk)) && km_now_mono_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
                if (c) rebalance_cb(rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), c);
                else rd_kafka_assign(rk, NULL);
            }
            if (ev) rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy_flags(rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

/* ---- the settings registry ----------------------------------------------------------------- */

static void publish_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    km_coord_t *c = opaque;
    if (m->err && !c->publish_failed)
        km_warn("flow %s: cannot publish this process's settings to %s on %s (%s); other processes cannot compare them",
                c->flow->name, c->flow->s.tasks_topic, c->flow->target, rd_kafka_err2str(m->err));
    c->publish_failed = m->err != 0;
}

static int open_registry(km_coord_t *c, char *errstr, size_t errlen) {
    const km_flow_t *f = c->flow;
    rd_kafka_conf_t *pc = km_rk_conf(&f->rk_target_admin, errstr, errlen);
    if (!pc) return -1;
    rd_kafka_conf_set(pc, "allow.auto.create.topics", "false", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(pc, publish_dr);
    rd_kafka_conf_set_opaque(pc, c);
    c->producer = km_rk_new(RD_KAFKA_PRODUCER, pc, errstr, errlen);
    /* A topic handle asks for the topic's leader at once. librdkafka 2.0.2 does not when a
     * record names its topic (RD_KAFKA_V_TOPIC): the first record then waited for the next
     * metadata scan, ~1 s, and the start waits for that record (start). */
    if (c->producer && !(c->registry_rkt = rd_kafka_topic_new(c->producer, f->s.tasks_topic, NULL))) {
        snprintf(errstr, errlen, "%s: %s", f->s.tasks_topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    rd_kafka_conf_t *rc = c->producer ? km_rk_conf(&f->rk_target_admin, errstr, errlen) : NULL;
    if (!rc) return -1;
    rd_kafka_conf_set(rc, "group.id", "kmirror-settings-reader", NULL, 0);
    rd_kafka_conf_set(rc, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(rc, "enable.partition.eof", "true", NULL, 0);
    c->reader = km_rk_new(RD_KAFKA_CONSUMER, rc, errstr, errlen);
    if (!c->reader) return -1;
    /* librdkafka 2.0.2 looks up a logical start offset of a partition whose leader it does not
     * know yet only after a fixed 500 ms: learning the leader first took a restart's join (which
     * reads this topic to its end) from ~0.5 s to ~0.03 s. Bounded by that same 500 ms. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->reader, f->s.tasks_topic, NULL);
    const rd_kafka_metadata_t *md;
    if (rd_kafka_metadata(c->reader, 0, rkt, &md, LEADER_WAIT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, f->s.tasks_topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(c->reader, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (err) snprintf(errstr, errlen, "cannot read %s: %s", f->s.tasks_topic, rd_kafka_err2str(err));
    return err ? -1 : 0;
}

static void close_registry(km_coord_t *c) {
    if (c->reader) close_consumer(c->reader, NULL, CLOSE_WAIT_MS);
    if (c->registry_rkt) rd_kafka_topic_destroy(c->registry_rkt);
    if (c->producer) rd_kafka_destroy(c->producer);
    c->reader = c->producer = NULL;
    c->registry_rkt = NULL;
}

/* This process's record; a tombstone (value NULL) when it leaves. */
static void publish(km_coord_t *c, bool leaving) {
    char *val = leaving ? NULL : km_fingerprint_encode(&c->fp, c->process);
    rd_kafka_producev(c->producer, RD_KAFKA_V_RKT(c->registry_rkt), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_KEY(c->key, strlen(c->key)), RD_KAFKA_V_VALUE(val, val ? strlen(val) : 0),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    free(val);
    c->next_publish = km_now_mono_ms() + publish_interval_ms(c);
}

static void member_free(member_t *m) {
    free(m->key);
    free(m->process);
    km_fingerprint_free(&m->fp);
}

static void forget(km_coord_t *c, size_t i) {
    member_free(&c->members[i]);
    c->members[i] = c->members[--c->nmembers];
}

static void learn(km_coord_t *c, const rd_kafka_message_t *m) {
    size_t plen = strlen(MEMBER_KEY);
    if (!m->key || m->key_len <= plen || memcmp(m->key, MEMBER_KEY, plen) != 0) return;
    if (m->key_len == strlen(c->key) && memcmp(m->key, c->key, m->key_len) == 0) return;
    size_t i = 0;
    while (i < c->nmembers && !(strlen(c->members[i].key) == m->key_len && memcmp(c->members[i].key, m->key, m->key_len) == 0)) i++;
    member_t nm = {0};
    bool valid = m->payload && km_fingerprint_decode(m->payload, m->len, &nm.fp, &nm.process) == 0;
    if (i < c->nmembers) forget(c, i);
    if (!valid) return; /* a tombstone: that process left */
    nm.key = km_xstrndup(m->key, m->key_len);
    nm.at = rd_kafka_message_timestamp(m, NULL);
    c->members = km_xrealloc(c->members, (c->nmembers + 1) * sizeof(*c->members));
    c->members[c->nmembers++] = nm;
}

/* Applies whatever the registry got since the last call. */
static void follow(km_coord_t *c, int wait_ms) {
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(c->reader, wait_ms))) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) c->caught_up = true;
        else if (!m->err) {
            learn(c, m);
            if (c->end >= 0 && m->offset + 1 >= c->end) c->caught_up = true;
        }
        rd_kafka_message_destroy(m);
        wait_ms = 0;
    }
}

/* The end offset, asked first, says when the last record is in: waiting for the end-of-partition
 * event instead costs a fetch the broker holds for fetch.wait.max.ms (500 ms), on every start and
 * most of all on a new, empty registry. The event still ends the wait when the query failed. */
static void catch_up(km_coord_t *c) {
    int64_t deadline = km_now_mono_ms() + timeout_ms(c), lo = -1, hi = -1;
    c->end = -1;
    int ask_ms = timeout_ms(c) < END_QUERY_MS ? timeout_ms(c) : END_QUERY_MS; /* on the start's path: kept short */
    if (km_admin_watermarks(c->reader, c->flow->s.tasks_topic, 0, &lo, &hi, ask_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        c->end = hi;
        if (hi <= lo) c->caught_up = true;
    }
    while (!c->caught_up && km_now_mono_ms() < deadline && !km_admin_stopping()) follow(c, 100);
}

static bool alive(const km_coord_t *c, const member_t *m) {
    return m->at >= km_now_wall_ms() - 3 * publish_interval_ms(c);
}

static size_t live_members(const km_coord_t *c) {
    size_t n = 0;
    for (size_t i = 0; i < c->nmembers; i++) n += alive(c, &c->members[i]);
    return n;
}

/* ---- configuration conflicts --------------------------------------------------------------- */

/* "process(es) h:1, h:2: tasks.max: 4 here, 6 there | process(es) …" for the live processes
 * whose settings differ, grouped by fingerprint; NULL when all agree. */
static char *describe_conflict(const km_coord_t *c) {
    char *text = NULL;
    bool *done = km_xcalloc(c->nmembers ? c->nmembers : 1, sizeof(*done));
    for (size_t i = 0; i < c->nmembers; i++) {
        const member_t *m = &c->members[i];
        if (done[i] || !alive(c, m) || strcmp(m->fp.hex, c->fp.hex) == 0) continue;
        char *who = km_xstrdup(m->process);
        for (size_t j = i + 1; j < c->nmembers; j++) {
            if (done[j] || !alive(c, &c->members[j]) || strcmp(c->members[j].fp.hex, m->fp.hex) != 0) continue;
            char *more = km_xasprintf("%s, %s", who, c->members[j].process);
            free(who);
            who = more;
            done[j] = true;
        }
        char *diff = km_fingerprint_diff(&c->fp, &m->fp);
        char *next = km_xasprintf("%s%sprocess(es) %s: %s", text ? text : "", text ? " | " : "", who, diff);
        free(diff);
        free(who);
        free(text);
        text = next;
    }
    free(done);
    return text;
}

static void set_conflict(km_coord_t *c, char *text) {
    const km_flow_t *f = c->flow;
    pthread_mutex_lock(&c->lock);
    bool same = (!text && !c->conflict) || (text && c->conflict && strcmp(text, c->conflict) == 0);
    bool had = c->conflict != NULL;
    free(c->conflict);
    c->conflict = text;
    pthread_mutex_unlock(&c->lock);
    if (same) return;
    if (text)
        km_error("flow %s: CONFIGURATION CONFLICT in group %s on %s: other processes run this flow with different settings: %s. "
                 "Each process runs the tasks the group gives it with its own settings (the task count, %d, is the group's); "
                 "make the configurations equal",
                 f->name, f->s.group_id, f->target, text, c->ntasks);
    else if (had)
        km_info("flow %s: configuration conflict resolved: every process of group %s has the same settings", f->name, f->s.group_id);
}

/* ---- the tasks topic ----------------------------------------------------------------------- */

/* Partitions of `topic` (km_admin_partition_count: 0 when it does not exist, -1 when the cluster
 * did not answer or answered for the topic with an error). A topic this principal may not
 * describe is not a missing one, which start() would try to create and recreate_topic() would
 * take for deleted. Callers that read a refusal as "absent" on purpose pass no errstr. */
static int topic_partitions(rd_kafka_t *rk, const char *topic, int timeout, char *errstr, size_t errlen) {
    char scratch[256];
    if (!errstr) {
        errstr = scratch;
        errlen = sizeof(scratch);
    }
    return km_admin_partition_count(rk, topic, timeout, errstr, errlen);
}

/* Creates the topic with `want` partitions if missing; the partitions it then has. *created_here
 * (if not NULL) says whether this call created it. */
static int create_topic(km_coord_t *c, int want, bool *created_here, char *errstr, size_t errlen) {
    const km_flow_t *f = c->flow;
    bool created;
    if (km_admin_ensure_topic(c->admin, f->s.tasks_topic, want, 3, true, timeout_ms(c), &created, errstr, errlen) != 0) return -1;
    if (created_here) *created_here = created;
    if (created) km_info("flow %s: created %s on %s (%d task(s))", f->name, f->s.tasks_topic, f->target, want);
    /* A topic created a moment ago (here or by a process starting alongside) may not be in the
     * metadata yet: it usually is within tens of ms, and the start waits for it. */
    int64_t deadline = km_now_mono_ms() + timeout_ms(c);
    int n, pause = 10;
    char why[256];
    while ((n = topic_partitions(c->admin, f->s.tasks_topic, timeout_ms(c), why, sizeof(why))) == 0 && km_now_mono_ms() < deadline && km_admin_pause(pause))
        pause = pause < 100 ? pause * 2 : 100;
    if (n < 0) snprintf(errstr, errlen, "cannot read the tasks topic on %s: %s", f->target, why);
    else if (n == 0) snprintf(errstr, errlen, "%s on %s is not in the cluster's metadata after its creation", f->s.tasks_topic, f->target);
    return n;
}

/* Shrinking a topic is deleting and re-creating it: once the deleted topic has left the
 * metadata, create it anew (a creation may be refused while the deletion settles). */
static int recreate_topic(km_coord_t *c, int want, char *errstr, size_t errlen) {
    const char *topic = c->flow->s.tasks_topic;
    close_registry(c); /* it followed the old topic */
    if (km_admin_delete_topic(c->admin, topic, timeout_ms(c), errstr, errlen) != 0) return -1;
    int64_t deadline = km_now_mono_ms() + timeout_ms(c);
    char why[256];
    int n;
    while ((n = topic_partitions(c->admin, topic, timeout_ms(c), why, sizeof(why))) != 0) {
        if (km_now_mono_ms() > deadline) {
            if (n < 0) snprintf(errstr, errlen, "cannot tell whether %s is gone after its deletion: %s", topic, why);
            else snprintf(errstr, errlen, "%s is still there %d ms after its deletion", topic, timeout_ms(c));
            return -1;
        }
        if (!km_admin_pause(200)) {
            snprintf(errstr, errlen, "interrupted: kmirror is stopping");
            return -1;
        }
    }
    int have;
    while ((have = create_topic(c, want, NULL, errstr, errlen)) != want) {
        if (km_now_mono_ms() > deadline) {
            snprintf(errstr, errlen, "%s was deleted but could not be re-created with %d partitions (%d)", topic, want, have);
            return -1;
        }
        if (!km_admin_pause(200)) {
            snprintf(errstr, errlen, "interrupted: kmirror is stopping");
            return -1;
        }
    }
    return open_registry(c, errstr, errlen) == 0 ? want : -1;
}

static int members_subscribed(km_coord_t *c, const char *topic);

/* The group's task count: tasks.max when this process is the only one running the flow (then
 * the topic is grown, or re-created smaller), else what the running processes use. Running is
 * a recent record in the registry, or a member of the group: a process that started a moment
 * ago may hold tasks before its record can be read (seen under load: a second process, started
 * 0.8 s after the first, re-created the topic under it). */
static int prepare_topic(km_coord_t *c, int have, char *errstr, size_t errlen) {
    const km_flow_t *f = c->flow;
    int want = f->s.tasks_max;
    if (have == want) return have;
    int members = live_members(c) > 0 ? 1 : members_subscribed(c, f->s.tasks_topic);
    if (members < 0)
        km_warn("flow %s: cannot describe group %s on %s, so only the registry in %s says no other process runs the flow",
                f->name, f->s.group_id, f->target, f->s.tasks_topic);
    if (members > 0) {
        km_warn("flow %s: tasks.max=%d here, but the processes already running the flow run %d task(s) (%s on %s); using %d. "
                "A new tasks.max applies once every process of group %s was stopped and one is started with it",
                f->name, want, have, f->s.tasks_topic, f->target, have, f->s.group_id);
        return have;
    }
    km_info("flow %s: the group's task count changes from %d to %d (tasks.max)", f->name, have, want);
    if (have > want) return recreate_topic(c, want, errstr, errlen);
    rd_kafka_resp_err_t err = km_admin_create_partitions(c->admin, f->s.tasks_topic, want, timeout_ms(c), errstr, errlen);
    return err ? -1 : want;
}

/* ---- clients of another kind ----------------------------------------------------------------- */

/* Group members listed for a message: "client id 'x' on /10.0.0.1, ...". */
static char *members_text(const struct rd_kafka_group_info *g) {
    char *text = km_xstrdup("");
    for (int i = 0; i < g->member_cnt && i < 5; i++) {
        char *next = km_xasprintf("%s%sclient id '%s' on %s", text, i ? ", " : "", g->members[i].client_id ? g->members[i].client_id : "",
                                  g->members[i].client_host ? g->members[i].client_host : "?");
        free(text);
        text = next;
    }
    if (g->member_cnt > 5) {
        char *next = km_xasprintf("%s and %d more", text, g->member_cnt - 5);
        free(text);
        text = next;
    }
    return text;
}

/* rd_kafka_list_groups (ListGroups and DescribeGroups), re-asked in one-second slices so that a
 * stop interrupts it (as km_admin_metadata). This legacy call, unlike DescribeConsumerGroups in
 * librdkafka 2.0.2, describes a group of any protocol type, members' client ids and hosts
 * included. NULL with *err when there is no answer. */
static const struct rd_kafka_group_list *describe_group(rd_kafka_t *rk, const char *group, int timeout,
                                                         rd_kafka_resp_err_t *err) {
    int64_t deadline = km_now_mono_ms() + timeout;
    for (;;) {
        const struct rd_kafka_group_list *gl = NULL;
        int64_t left = deadline - km_now_mono_ms();
        *err = rd_kafka_list_groups(rk, group, &gl, left < 1000 ? (left > 0 ? (int)left : 1) : 1000);
        if (!*err || *err == RD_KAFKA_RESP_ERR__PARTIAL) return gl;
        if (km_admin_stopping()) *err = RD_KAFKA_RESP_ERR__DESTROY;
        if (*err != RD_KAFKA_RESP_ERR__TIMED_OUT || km_now_mono_ms() >= deadline) return NULL;
    }
}

int km_coord_check_group(const km_flow_t *f, rd_kafka_t *admin, char *errstr, size_t errlen) {
    rd_kafka_resp_err_t err;
    int timeout = f->s.admin_timeout_ms < GROUP_CHECK_MS ? (int)f->s.admin_timeout_ms : GROUP_CHECK_MS;
    const struct rd_kafka_group_list *gl = describe_group(admin, f->s.group_id, timeout, &err);
    if (!gl) {
        if (err == RD_KAFKA_RESP_ERR__DESTROY) {
            snprintf(errstr, errlen, "interrupted: kmirror is stopping");
            return -1;
        }
        /* Not conclusive, not fatal: joining refuses a group held by another kind of client. */
        km_warn("flow %s: cannot tell whether group %s on %s is used by clients of another kind (%s); going on",
                f->name, f->s.group_id, f->target, rd_kafka_err2str(err));
        return 0;
    }
    int rc = 0;
    for (int i = 0; i < gl->group_cnt && rc == 0; i++) {
        const struct rd_kafka_group_info *g = &gl->groups[i];
        /* An empty group is taken by whoever joins first, whatever its protocol type. */
        if (g->err || strcmp(g->group, f->s.group_id) != 0 || g->member_cnt == 0 || !g->protocol_type ||
            strcmp(g->protocol_type, "consumer") == 0)
            continue;
        char *who = members_text(g);
        bool proto = g->protocol && *g->protocol; /* none while the group rebalances */
        snprintf(errstr, errlen,
                 "group %s on %s is in use by %d client(s) of another kind (protocol type '%s'%s%s%s: %s): "
                 "Kafka Connect or Java MirrorMaker 2 workers, with which kmirror cannot share a group. Nothing was "
                 "created or changed on %s for this flow: stop them, or give kmirror a group of its own (%s.group.id)",
                 g->group, f->target, g->member_cnt, g->protocol_type, proto ? ", protocol '" : "", proto ? g->protocol : "",
                 proto ? "'" : "", who, f->target, f->target);
        free(who);
        rc = -1;
    }
    rd_kafka_group_list_destroy(gl);
    return rc;
}

/* A Java MirrorMaker 2 (Kafka Connect) worker of this group that starts while kmirror holds the
 * group is refused by the broker (INCONSISTENT_GROUP_PROTOCOL, its herder dies), and the broker
 * tells the group's members nothing: no rebalance, no member to see. What it leaves is Connect's
 * config topic, which a worker creates before joining, and which kmirror never creates. Asked
 * through the admin client, which never auto-creates a topic it asks about (the group member's
 * configuration is the user's): a config topic made by kmirror with broker defaults would break
 * Connect, which needs it compacted. */
static void watch_connect(km_coord_t *c) {
    const km_flow_t *f = c->flow;
    if (!c->watch_connect || topic_partitions(c->admin, f->s.connect_configs_topic, COUNT_TIMEOUT_MS, NULL, 0) <= 0) return;
    km_warn("flow %s: a Kafka Connect worker of group %s (a Java MirrorMaker 2?) started against %s: it created %s. "
            "It cannot join group %s, which kmirror holds (the broker refuses clients of another kind, its herder stops "
            "with InconsistentGroupProtocolException): stop it, or give one of them another group.id",
            f->name, f->s.group_id, f->target, f->s.connect_configs_topic, f->s.group_id);
    c->watch_connect = false;
}

/* ---- membership ---------------------------------------------------------------------------- */

/* The group's task count follows the topic's partitions (another process may have grown it). */
static void resize(km_coord_t *c, int ntasks) {
    if (ntasks <= 0 || ntasks == c->ntasks) return;
    if (c->ntasks) km_info("flow %s: the group now runs %d task(s) (%s has %d partitions)", c->flow->name, ntasks, c->flow->s.tasks_topic, ntasks);
    c->owned = km_xrealloc(c->owned, (size_t)ntasks * sizeof(*c->owned));
    for (int i = c->ntasks; i < ntasks; i++) c->owned[i] = false;
    c->ntasks = ntasks;
}

static void set_owned(km_coord_t *c, const rd_kafka_topic_partition_list_t *parts, bool owned) {
    for (int i = 0; i < parts->cnt; i++) {
        int32_t task = parts->elems[i].partition;
        if (owned && task >= c->ntasks) resize(c, task + 1); /* assigned before our metadata saw the growth */
        if (task < c->ntasks) c->owned[task] = owned;
    }
}

static void assigned(km_coord_t *c, rd_kafka_topic_partition_list_t *parts) {
    c->assigned_once = true;
    rd_kafka_error_t *e = rd_kafka_incremental_assign(c->consumer, parts);
    if (e) {
        km_error("flow %s: cannot take the tasks the group assigned: %s", c->flow->name, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return;
    }
    rd_kafka_pause_partitions(c->consumer, parts); /* membership only, no reading */
    set_owned(c, parts, true);
}

/* The tasks are stopped before librdkafka is told they are let go: only then may the group
 * hand them to another process. */
static void revoked(km_coord_t *c, rd_kafka_topic_partition_list_t *parts) {
    int *ids = km_xcalloc((size_t)(parts->cnt ? parts->cnt : 1), sizeof(*ids));
    size_t n = 0;
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition < c->ntasks && c->owned[parts->elems[i].partition]) ids[n++] = parts->elems[i].partition;
    if (n && rd_kafka_assignment_lost(c->consumer))
        km_warn("flow %s: this process lost %zu task(s) (its group session expired); stopping them", c->flow->name, n);
    if (n) c->revoke(c->arg, ids, n);
    free(ids);
    set_owned(c, parts, false);
    rd_kafka_error_t *e = rd_kafka_incremental_unassign(c->consumer, parts);
    if (e) {
        km_warn("flow %s: giving tasks back to the group: %s", c->flow->name, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque) {
    km_coord_t *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) assigned(c, parts);
    else revoked(c, parts);
}

static void member_error(km_coord_t *c, const rd_kafka_message_t *m) {
    const km_flow_t *f = c->flow;
    if (m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED || m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        km_error("flow %s: not authorized to join group %s or to read %s on %s (%s): kmirror needs READ on both to share the flow's tasks",
                 f->name, f->s.group_id, f->s.tasks_topic, f->target, rd_kafka_message_errstr(m));
        c->fatal = true;
    } else if (m->err == RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL) {
        km_error("flow %s: group %s on %s is in use by clients of another kind (a Kafka Connect or Java MirrorMaker 2 cluster?): "
                 "set group.id to a group of kmirror's own", f->name, f->s.group_id, f->target);
        c->fatal = true;
    } else {
        km_warn("flow %s: group %s on %s: %s", f->name, f->s.group_id, f->target, rd_kafka_message_errstr(m));
    }
}

static int set_ms(rd_kafka_conf_t *conf, const char *key, int64_t ms, char *errstr, size_t errlen) {
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)ms);
    return rd_kafka_conf_set(conf, key, num, errstr, errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

static int join(km_coord_t *c, char *errstr, size_t errlen) {
    const km_flow_t *f = c->flow;
    rd_kafka_conf_t *conf = km_rk_conf(&f->rk_target_consumer, errstr, errlen);
    if (!conf) return -1;
    char *client_id = km_xasprintf("%s|kmirror-tasks|%s", f->name, c->process);
    rd_kafka_conf_set(conf, "client.id", client_id, NULL, 0);
    free(client_id);
    rd_kafka_conf_set(conf, "group.id", f->s.group_id, NULL, 0);
    rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    if (set_ms(conf, "session.timeout.ms", f->s.session_timeout_ms, errstr, errlen) != 0 ||
        set_ms(conf, "heartbeat.interval.ms", f->s.heartbeat_interval_ms, errstr, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->consumer = km_rk_new(RD_KAFKA_CONSUMER, conf, errstr, errlen);
    if (!c->consumer) return -1;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, f->s.tasks_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->consumer, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (err) snprintf(errstr, errlen, "cannot subscribe to %s: %s", f->s.tasks_topic, rd_kafka_err2str(err));
    return err ? -1 : 0;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void identify(km_coord_t *c) {
    char host[256] = "?";
    gethostname(host, sizeof(host) - 1);
    c->process = km_xasprintf("%s:%d", host, (int)getpid());
    c->key = km_xasprintf(MEMBER_KEY "%s:%lld", c->process, (long long)km_now_wall_ms());
    km_fingerprint_of(c->flow, &c->fp);
}

/* Members of the group that subscribe to `topic` (their subscription metadata names it). -1
 * when the group cannot be described. */
static int members_subscribed(km_coord_t *c, const char *topic) {
    rd_kafka_resp_err_t err;
    const struct rd_kafka_group_list *gl = describe_group(c->admin, c->flow->s.group_id, timeout_ms(c), &err);
    if (!gl) return -1;
    int n = 0;
    size_t len = strlen(topic);
    for (int i = 0; i < gl->group_cnt; i++)
        for (int m = 0; m < gl->groups[i].member_cnt; m++) {
            const struct rd_kafka_group_member_info *mi = &gl->groups[i].members[m];
            if (mi->member_metadata && memmem(mi->member_metadata, (size_t)mi->member_metadata_size, topic, len)) n++;
        }
    rd_kafka_group_list_destroy(gl);
    return n;
}

/* kmirror before this version named the tasks topic legacy_tasks_topic (config.c says why it
 * changed). Its partition count is the group's task count, so the new topic starts with as many.
 * A process of the older version subscribes to the old topic: running both at once would run
 * each task twice, so a member that does refuses the start. Returns the new topic's partitions,
 * 0 when there is no old topic, -1 on error. */
static int take_over_legacy(km_coord_t *c, char *errstr, size_t errlen) {
    const km_flow_t *f = c->flow;
    /* A principal granted only the current topic is refused the old name, which it never used. */
    int old = topic_partitions(c->admin, f->s.legacy_tasks_topic, timeout_ms(c), NULL, 0);
    if (old <= 0) return 0;
    int older = members_subscribed(c, f->s.legacy_tasks_topic);
    if (older > 0) {
        snprintf(errstr, errlen,
                 "group %s on %s has %d member(s) of an older kmirror, which divide the tasks through %s; this version "
                 "uses %s. Stop every older process of the group first (with both at once each task would run twice)",
                 f->s.group_id, f->target, older, f->s.legacy_tasks_topic, f->s.tasks_topic);
        return -1;
    }
    if (older < 0)
        km_warn("flow %s: cannot tell whether older kmirror processes still use %s on %s; make sure none runs",
                f->name, f->s.legacy_tasks_topic, f->target);
    int have = create_topic(c, old, NULL, errstr, errlen);
    if (have > 0)
        km_info("flow %s: %s on %s takes over from %s, which an older kmirror used (%d task(s)); delete %s once no "
                "older kmirror runs",
                f->name, f->s.tasks_topic, f->target, f->s.legacy_tasks_topic, old, f->s.legacy_tasks_topic);
    return have;
}

static int start(km_coord_t *c, char *errstr, size_t errlen) {
    const km_flow_t *f = c->flow;
    /* Present already (a Java MirrorMaker 2 ran here before): no signal to wait for. */
    c->watch_connect = f->s.connect_configs_topic && topic_partitions(c->admin, f->s.connect_configs_topic, timeout_ms(c), NULL, 0) == 0;
    char why[256];
    int have = topic_partitions(c->admin, f->s.tasks_topic, timeout_ms(c), why, sizeof(why));
    if (have < 0) {
        snprintf(errstr, errlen, "cannot read the tasks topic on %s: %s", f->target, why);
        return -1;
    }
    if (have == 0 && (have = take_over_legacy(c, errstr, errlen)) < 0) return -1;
    bool fresh = false;
    if (have == 0 && (have = create_topic(c, f->s.tasks_max, &fresh, errstr, errlen)) <= 0) return -1;
    if (open_registry(c, errstr, errlen) != 0) return -1;
    /* A registry this process just created holds nothing to catch up with: a process starting
     * alongside found it there and writes after this moment, which follow() reads. Asking a
     * topic this new for its end offset took ~0.5 s of every first start (leader not known yet). */
    if (fresh) c->caught_up = true;
    else catch_up(c);
    int ntasks = prepare_topic(c, have, errstr, errlen);
    if (ntasks <= 0) return -1;
    resize(c, ntasks);
    publish(c, false);
    /* In the registry before joining: a process starting next sees this one either way. */
    rd_kafka_flush(c->producer, PUBLISH_FLUSH_MS);
    return join(c, errstr, errlen);
}

km_coord_t *km_coord_start(const km_flow_t *flow, rd_kafka_t *admin, km_coord_revoke_fn revoke, void *arg,
                           char *errstr, size_t errlen) {
    km_coord_t *c = km_xcalloc(1, sizeof(*c));
    c->flow = flow;
    c->admin = admin;
    c->revoke = revoke;
    c->arg = arg;
    pthread_mutex_init(&c->lock, NULL);
    identify(c);
    char err[512];
    if (start(c, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot join the flow's group %s on %s (%s): %s", flow->s.group_id, flow->target,
                 flow->s.tasks_topic, err);
        km_coord_stop(c, km_now_mono_ms());
        return NULL;
    }
    km_info("flow %s: joined group %s on %s, which runs %d task(s) (settings fingerprint %s, %zu other process(es) seen)",
            flow->name, flow->s.group_id, flow->target, c->ntasks, c->fp.hex, live_members(c));
    return c;
}

int km_coord_poll(km_coord_t *c) {
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(c->consumer, 0))) {
        if (m->err) member_error(c, m);
        rd_kafka_message_destroy(m);
    }
    follow(c, 0);
    rd_kafka_poll(c->producer, 0);
    int64_t now = km_now_mono_ms();
    if (now >= c->next_publish) publish(c, false);
    if (now >= c->next_check) {
        set_conflict(c, describe_conflict(c));
        c->next_check = now + CHECK_INTERVAL_MS;
    }
    if (now >= c->next_count) {
        resize(c, topic_partitions(c->consumer, c->flow->s.tasks_topic, COUNT_TIMEOUT_MS, NULL, 0));
        watch_connect(c);
        c->next_count = now + COUNT_INTERVAL_MS;
    }
    return c->fatal ? -1 : 0;
}

void km_coord_republish(km_coord_t *c) {
    km_fingerprint_free(&c->fp);
    km_fingerprint_of(c->flow, &c->fp);
    publish(c, false);
    c->next_check = 0;
    km_info("flow %s: settings fingerprint now %s (published to group %s)", c->flow->name, c->fp.hex, c->flow->s.group_id);
}

int km_coord_ntasks(const km_coord_t *c) { return c->ntasks; }

bool km_coord_assigned(const km_coord_t *c) { return c->assigned_once; }

bool km_coord_owns(const km_coord_t *c, int task) { return task >= 0 && task < c->ntasks && c->owned[task]; }

char *km_coord_conflict(km_coord_t *c) {
    pthread_mutex_lock(&c->lock);
    char *s = c->conflict ? km_xstrdup(c->conflict) : NULL;
    pthread_mutex_unlock(&c->lock);
    return s;
}

/* Whether the group answered a JoinGroup of this member: librdkafka then knows the rebalance
 * protocol (NONE before; NULL when it cannot say, taken as joined). */
static bool joined_group(rd_kafka_t *rk) {
    const char *p = rd_kafka_rebalance_protocol(rk);
    return !p || strcmp(p, "NONE") != 0;
}

/* Leaves the group by the only way librdkafka 2.0.2 survives (see FIRST_ASSIGNMENT_WAIT_MS). */
static void leave_group(km_coord_t *c, int64_t deadline) {
    int64_t brief = km_now_mono_ms() + FIRST_ASSIGNMENT_WAIT_MS, end = deadline > brief ? deadline : brief;
    while (!c->assigned_once) {
        int64_t now = km_now_mono_ms();
        if (now >= end || (now >= brief && !joined_group(c->consumer))) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->consumer, 100);
        if (m) rd_kafka_message_destroy(m);
    }
    if (c->assigned_once) {
        close_consumer(c->consumer, c, CLOSE_WAIT_MS);
    } else if (!joined_group(c->consumer)) {
        km_info("flow %s: leaving group %s without LeaveGroup (no assignment yet); it rebalances after session.timeout.ms",
                c->flow->name, c->flow->s.group_id);
        rd_kafka_destroy_flags(c->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    } else {
        /* Destroying it would abort the process. Unpolled, librdkafka takes it out of the group
         * after max.poll.interval.ms; the process exit ends it sooner. */
        km_error("flow %s: group %s on %s joined this member but sent no assignment before the stop's deadline "
                 "(shutdown.timeout.ms); its consumer is left running unpolled (librdkafka 2.0.2 aborts when one is "
                 "destroyed in this state, #4312) and leaves the group after max.poll.interval.ms or at exit",
                 c->flow->name, c->flow->s.group_id, c->flow->target);
    }
    c->consumer = NULL;
}

void km_coord_stop(km_coord_t *c, int64_t deadline) {
    if (!c) return;
    if (c->consumer) leave_group(c, deadline);
    if (c->producer) {
        publish(c, true);
        rd_kafka_flush(c->producer, 2000);
    }
    close_registry(c);
    for (size_t i = 0; i < c->nmembers; i++) member_free(&c->members[i]);
    free(c->members);
    km_fingerprint_free(&c->fp);
    free(c->process);
    free(c->key);
    free(c->owned);
    free(c->conflict);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
