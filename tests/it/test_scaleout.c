/* test_scaleout.c — several kmirror processes sharing one flow on real brokers: the group on the
 * target divides the tasks, adding, stopping and killing processes moves them without losing a
 * record, exactly-once keeps exactly one copy of every record through kill -9, and processes
 * with different settings say so.
 *
 * Which tasks a process runs, with which partitions, is read from its /status (metrics.listen).
 * Records are checked one by one: every source record carries its partition and sequence number
 * in its value, so the target's copies can be counted per record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"
#include "kt_metrics.h"

#define SESSION_MS 6000 /* the brokers' group.min.session.timeout.ms */
#define MOVE_MS 60000   /* deadline for tasks to settle after a membership change */

static const char *A, *B, *BIN;

static int teardown(void **state) {
    kt_kill_children();
    return 0;
}

static int setup(void **state) {
    A = getenv("KMIRROR_IT_A");
    B = getenv("KMIRROR_IT_B");
    BIN = getenv("KMIRROR_BIN");
    return 0;
}

/* ---- kmirror processes --------------------------------------------------------------------- */

typedef struct {
    kt_kmirror_t k;
    int port; /* of /status; 0 until logged */
} proc_t;

/* One process of the test's group: every process of a test shares prefix (topics, group.id),
 * `extra` adds or overrides settings. */
static void configure(proc_t *p, const char *prefix, int n, int tasks_max, const char *extra) {
    char name[96];
    snprintf(name, sizeof name, "%s-%d", prefix, n);
    p->port = 0;
    assert_int_equal(kt_kmirror_config(&p->k, name,
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = true\nA->B.topics = %s\\..*\ngroup.id = %s-group\ntasks.max = %d\n"
                                       "replication.factor = 1\noffset-syncs.topic.replication.factor = 1\n"
                                       "checkpoints.topic.replication.factor = 1\nheartbeats.topic.replication.factor = 1\n"
                                       "emit.checkpoints.enabled = false\nemit.heartbeats.enabled = false\n"
                                       "session.timeout.ms = %d\nheartbeat.interval.ms = 1000\n"
                                       "refresh.topics.interval.seconds = 1\noffset.flush.interval.ms = 500\n"
                                       "metrics.listen = 127.0.0.1:0\n%s",
                                       A, B, prefix, prefix, tasks_max, SESSION_MS, extra ? extra : ""),
                     0);
}

static void start(proc_t *p) {
    p->port = 0;
    assert_int_equal(kt_kmirror_start(&p->k, NULL), 0);
}

static void stop(proc_t *p) { assert_int_equal(kt_kmirror_stop(&p->k, 60000), 0); }

static void kill9(proc_t *p) { assert_int_equal(kt_kmirror_kill9(&p->k), 0); }

/* The port a process serves /status on, once it logged it; 0 before. A restarted process
 * appends to its log: only what it wrote since its start counts. */
static int status_port(proc_t *p) {
    static const char needle[] = "/healthz on http://127.0.0.1:";
    if (p->port) return p->port;
    char *log = kt_kmirror_log(&p->k);
    const char *at = log ? strstr(log, needle) : NULL;
    if (at) p->port = atoi(at + strlen(needle));
    free(log);
    return p->port;
}

/* The tasks a process runs according to its /status, as a bit set (-1 when it does not answer),
 * adding the partitions of `topic` each task lists to copies[partition]. */
static long status_tasks(proc_t *p, const char *topic, int *copies, int partitions) {
    int code = 0;
    char *body = NULL;
    if (!status_port(p) || kt_http_get(p->port, "/status", &code, &body) != 0 || code != 200) {
        free(body);
        return -1;
    }
    json_t *st = json_loads(body, 0, NULL), *flow;
    free(body);
    long set = 0;
    size_t i, j, k;
    json_array_foreach(json_object_get(st, "flows"), i, flow) {
        if (strcmp(json_string_value(json_object_get(flow, "name")), "A->B") != 0) continue;
        json_t *task, *part;
        json_array_foreach(json_object_get(flow, "tasks"), j, task) {
            set |= 1L << json_integer_value(json_object_get(task, "id"));
            json_array_foreach(json_object_get(task, "partitions"), k, part) {
                int n = (int)json_integer_value(json_object_get(part, "partition"));
                if (strcmp(json_string_value(json_object_get(part, "topic")), topic) == 0 && n < partitions) copies[n]++;
            }
        }
    }
    json_decref(st);
    return set;
}

typedef struct {
    proc_t **procs;
    int n, ntasks;
    int min_each; /* every running process runs at least this many tasks */
    const char *topic;
    int partitions;
} split_arg_t;

/* The running processes run every task exactly once between them, and every partition of the
 * topic is in exactly one of their tasks. */
static bool split(void *arg) {
    split_arg_t *s = arg;
    long all = 0;
    int copies[64] = {0};
    for (int i = 0; i < s->n; i++) {
        if (!kt_kmirror_alive(&s->procs[i]->k)) continue;
        long set = status_tasks(s->procs[i], s->topic, copies, s->partitions);
        if (set < 0 || (set & all) || __builtin_popcountl((unsigned long)set) < s->min_each) return false;
        all |= set;
    }
    for (int p = 0; p < s->partitions; p++)
        if (copies[p] != 1) return false;
    return all == (1L << s->ntasks) - 1;
}

static void expect_split(proc_t **procs, int n, int ntasks, int min_each, const char *topic, int partitions) {
    split_arg_t s = {procs, n, ntasks, min_each, topic, partitions};
    if (kt_wait_until(split, &s, MOVE_MS)) return;
    for (int i = 0; i < n; i++) {
        int copies[64] = {0};
        print_message("process %d (%s): %s, tasks 0x%lx in /status\n", i, procs[i]->k.log, kt_kmirror_alive(&procs[i]->k) ? "running" : "stopped",
                      kt_kmirror_alive(&procs[i]->k) ? status_tasks(procs[i], topic, copies, partitions) : 0);
    }
    fail_msg("the %d task(s) and the %d partition(s) of %s were not split among the running processes", ntasks, partitions, topic);
}

typedef struct {
    const kt_kmirror_t *k;
    const char *needle;
} log_arg_t;

static bool log_has(void *arg) {
    log_arg_t *l = arg;
    return kt_kmirror_logged(l->k, l->needle);
}

/* ---- records ------------------------------------------------------------------------------- */

typedef struct {
    const char *topic;
    int partitions, from, per_partition;
} batch_t;

/* Records from..from+per_partition-1 of every partition; value "p/seq". */
static int produce(const batch_t *b) {
    size_t n = (size_t)(b->partitions * b->per_partition);
    kt_msg_t *m = calloc(n, sizeof(*m));
    char(*vals)[24] = calloc(n, 24);
    for (int p = 0; p < b->partitions; p++)
        for (int i = 0; i < b->per_partition; i++) {
            size_t k = (size_t)(p * b->per_partition + i);
            snprintf(vals[k], 24, "%d/%d", p, b->from + i);
            m[k] = (kt_msg_t){.partition = p, .key = vals[k], .value = vals[k]};
        }
    int rc = kt_produce(A, b->topic, m, n, NULL, NULL);
    free(m);
    free(vals);
    return rc;
}

/* A load that keeps producing while processes come and go. */
typedef struct {
    const char *topic;
    int partitions, batches, per_batch;
    int failed;
    pthread_t thread;
} load_t;

static void *load_main(void *arg) {
    load_t *l = arg;
    for (int b = 0; b < l->batches && !l->failed; b++) {
        batch_t bt = {l->topic, l->partitions, b * l->per_batch, l->per_batch};
        if (produce(&bt) != 0) l->failed = 1;
    }
    return NULL;
}

static void load_start(load_t *l) { assert_int_equal(pthread_create(&l->thread, NULL, load_main, l), 0); }

static void load_join(load_t *l) {
    assert_int_equal(pthread_join(l->thread, NULL), 0);
    assert_int_equal(l->failed, 0);
}

static const char *const READ_COMMITTED[] = {"isolation.level", "read_committed", NULL};

typedef struct {
    const char *remote;
    size_t want;
    size_t got;
} count_arg_t;

/* At least `want` committed records on the target. */
static bool mirrored(void *arg) {
    count_arg_t *c = arg;
    kt_consume_opts_t o = {.conf = READ_COMMITTED};
    kt_record_t *r;
    size_t n;
    if (kt_consume(B, c->remote, &o, &r, &n) != 0) n = 0;
    kt_records_free(r, n);
    c->got = n;
    return n >= c->want;
}

static void wait_mirrored(const char *remote, size_t want) {
    count_arg_t c = {remote, want, 0};
    if (!kt_wait_until(mirrored, &c, 120000)) fail_msg("%s: %zu of %zu record(s) mirrored", remote, c.got, want);
}

/* Every source record of partitions × per_partition is on the target: at least once, or with
 * `exactly`, once and in order. */
static void check_copies(const char *remote, int partitions, int per_partition, bool exactly) {
    kt_consume_opts_t o = {.conf = READ_COMMITTED, .timeout_ms = 60000};
    kt_record_t *r;
    size_t n;
    assert_int_equal(kt_consume(B, remote, &o, &r, &n), 0);
    int *copies = calloc((size_t)(partitions * per_partition), sizeof(*copies));
    int *last = calloc((size_t)partitions, sizeof(*last));
    for (int p = 0; p < partitions; p++) last[p] = -1;
    for (size_t i = 0; i < n; i++) {
        int p, seq;
        assert_int_equal(sscanf(r[i].value, "%d/%d", &p, &seq), 2);
        assert_int_equal(p, r[i].partition);
        assert_true(seq >= 0 && seq < per_partition);
        copies[p * per_partition + seq]++;
        if (exactly && seq != last[p] + 1)
            fail_msg("%s [%d]: record %d follows %d (offset %lld)", remote, p, seq, last[p], (long long)r[i].offset);
        last[p] = seq;
    }
    for (int p = 0; p < partitions; p++)
        for (int s = 0; s < per_partition; s++) {
            int c = copies[p * per_partition + s];
            if (c == 0) fail_msg("%s: record %d/%d is missing", remote, p, s);
            if (exactly && c != 1) fail_msg("%s: record %d/%d is there %d times", remote, p, s, c);
        }
    free(copies);
    free(last);
    kt_records_free(r, n);
}

/* ---- tests --------------------------------------------------------------------------------- */

/* Two processes split four tasks; a new topic reaches the process whose task it falls to; a
 * stopped process's tasks go to the other. */
static void test_two_processes_split_and_hand_over(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128], topic2[96], remote2[128];
    kt_unique_name("so2", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(topic2, sizeof topic2, "%s.later", prefix);
    snprintf(remote2, sizeof remote2, "A.%s", topic2);
    assert_int_equal(kt_create_topic(A, topic, 8, NULL), 0);
    batch_t first = {topic, 8, 0, 200};
    assert_int_equal(produce(&first), 0);

    proc_t p1, p2, *procs[] = {&p1, &p2};
    configure(&p1, prefix, 1, 4, NULL);
    configure(&p2, prefix, 2, 4, NULL);
    start(&p1);
    expect_split(procs, 1, 4, 4, topic, 8);
    start(&p2);
    expect_split(procs, 2, 4, 2, topic, 8); /* cooperative-sticky: two each */
    batch_t second = {topic, 8, 200, 200};
    assert_int_equal(produce(&second), 0);

    assert_int_equal(kt_create_topic(A, topic2, 3, NULL), 0);
    batch_t other = {topic2, 3, 0, 100};
    assert_int_equal(produce(&other), 0);
    wait_mirrored(remote2, 300);
    check_copies(remote2, 3, 100, false);

    stop(&p1);
    expect_split(procs, 2, 4, 4, topic, 8);
    batch_t third = {topic, 8, 400, 200};
    assert_int_equal(produce(&third), 0);
    wait_mirrored(remote, 8 * 600);
    stop(&p2);
    check_copies(remote, 8, 600, true); /* graceful hand-over: nothing replicated twice */
}

/* Three processes under load; one joins late, one is killed: its tasks move to the others
 * within the session timeout and no record is lost. */
static void test_three_processes_join_and_kill(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128];
    kt_unique_name("so3", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    assert_int_equal(kt_create_topic(A, topic, 6, NULL), 0);

    proc_t p1, p2, p3, *procs[] = {&p1, &p2, &p3};
    for (int i = 0; i < 3; i++) configure(procs[i], prefix, i + 1, 6, NULL);
    start(&p1);
    start(&p2);
    expect_split(procs, 2, 6, 3, topic, 6);
    load_t load = {topic, 6, 40, 100, 0, 0};
    load_start(&load);
    start(&p3);
    expect_split(procs, 3, 6, 2, topic, 6);
    count_arg_t some = {remote, 6 * 1000, 0};
    assert_true(kt_wait_until(mirrored, &some, 120000));
    kill9(&p2);
    expect_split(procs, 3, 6, 3, topic, 6); /* p2's two tasks went to p1 and p3 */
    load_join(&load);
    wait_mirrored(remote, 6 * 40 * 100);
    stop(&p1);
    stop(&p3);
    check_copies(remote, 6, 40 * 100, false);
}

/* Exactly-once: two processes, one killed with -9 in the middle of a load and started again;
 * a read_committed consumer on the target sees every record once, in order. */
static void test_eos_kill9_leaves_one_copy(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128];
    kt_unique_name("soe", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    assert_int_equal(kt_create_topic(A, topic, 4, NULL), 0);

    proc_t p1, p2, *procs[] = {&p1, &p2};
    configure(&p1, prefix, 1, 2, "exactly.once.support = required\n");
    configure(&p2, prefix, 2, 2, "exactly.once.support = required\n");
    start(&p1);
    start(&p2);
    expect_split(procs, 2, 2, 1, topic, 4);
    load_t load = {topic, 4, 100, 250, 0, 0};
    load_start(&load);
    count_arg_t some = {remote, 4 * 5000, 0};
    assert_true(kt_wait_until(mirrored, &some, 120000));
    kill9(&p1); /* with a transaction open: it commits every 500 ms under load */
    expect_split(procs, 2, 2, 2, topic, 4);
    start(&p1);
    expect_split(procs, 2, 2, 1, topic, 4);
    load_join(&load);
    wait_mirrored(remote, 4 * 100 * 250);
    stop(&p1);
    stop(&p2);
    check_copies(remote, 4, 100 * 250, true);
}

/* Two processes of one group with different settings: both report the differing key. */
static void test_config_conflict_reported(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96];
    kt_unique_name("soc", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    assert_int_equal(kt_create_topic(A, topic, 2, NULL), 0);
    proc_t p1, p2, *procs[] = {&p1, &p2};
    configure(&p1, prefix, 1, 2, "offset.lag.max = 100\n");
    configure(&p2, prefix, 2, 2, "offset.lag.max = 50\n");
    start(&p1);
    start(&p2);
    expect_split(procs, 2, 2, 1, topic, 2); /* the conflict does not stop the group from sharing the work */
    log_arg_t l1 = {&p1.k, "CONFIGURATION CONFLICT"}, l2 = {&p2.k, "CONFIGURATION CONFLICT"};
    assert_true(kt_wait_until(log_has, &l1, 30000));
    assert_true(kt_wait_until(log_has, &l2, 30000));
    log_arg_t k1 = {&p1.k, "offset.lag.max: 100 here, 50 there"}, k2 = {&p2.k, "offset.lag.max: 50 here, 100 there"};
    assert_true(log_has(&k1));
    assert_true(log_has(&k2));
    /* /healthz and /status say so too */
    int code = 0;
    char *body = NULL;
    assert_int_equal(kt_http_get(status_port(&p1), "/healthz", &code, &body), 0);
    assert_int_equal(code, 503);
    assert_non_null(strstr(body, "configuration conflict"));
    free(body);
    assert_int_equal(kt_http_get(p2.port, "/status", &code, &body), 0);
    assert_non_null(strstr(body, "\"degraded\""));
    assert_non_null(strstr(body, "offset.lag.max: 50 here, 100 there"));
    free(body);
    stop(&p2);
    log_arg_t gone = {&p1.k, "configuration conflict resolved"};
    assert_true(kt_wait_until(log_has, &gone, 30000));
    stop(&p1);
}

/* The group's task count is its tasks topic's: a new tasks.max takes effect when no other
 * process runs (grown, or re-created smaller); while others run, theirs is kept. */
static void test_task_count_follows_tasks_max(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128];
    kt_unique_name("sot", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    assert_int_equal(kt_create_topic(A, topic, 4, NULL), 0);
    batch_t b = {topic, 4, 0, 100};
    proc_t two, four, late, alone;
    configure(&two, prefix, 1, 2, NULL);
    configure(&four, prefix, 2, 4, NULL);
    configure(&late, prefix, 3, 2, NULL);
    configure(&alone, prefix, 4, 2, NULL);
    proc_t *first[] = {&two}, *grown[] = {&four, &late}, *shrunk[] = {&alone};

    start(&two);
    expect_split(first, 1, 2, 2, topic, 4);
    assert_int_equal(produce(&b), 0);
    stop(&two);
    start(&four); /* alone in the group: the tasks topic grows to 4 partitions */
    expect_split(grown, 1, 4, 4, topic, 4);
    b.from = 100;
    assert_int_equal(produce(&b), 0);
    start(&late); /* tasks.max=2, but the group runs 4: it takes 2 of them */
    expect_split(grown, 2, 4, 2, topic, 4);
    log_arg_t said = {&late.k, "but the processes already running the flow run 4 task(s)"};
    assert_true(kt_wait_until(log_has, &said, 30000));
    b.from = 200;
    assert_int_equal(produce(&b), 0);
    stop(&four);
    stop(&late);
    start(&alone); /* nobody else alive: the topic is re-created with 2 partitions */
    expect_split(shrunk, 1, 2, 2, topic, 4);
    b.from = 300;
    assert_int_equal(produce(&b), 0);
    wait_mirrored(remote, 4 * 400);
    stop(&alone);
    check_copies(remote, 4, 400, true);
}

typedef struct {
    rd_kafka_t *member;
    log_arg_t *said;
} member_arg_t;

static bool member_polls_until_said(void *arg) {
    member_arg_t *a = arg;
    kt_member_poll(a->member, 100);
    return log_has(a->said);
}

/* A member of the group whose registry record is not (yet) readable — a process that started
 * a moment ago — counts as running: a process started next keeps the group's task count instead
 * of changing it under that member. The member here is a bare consumer of the tasks topic with
 * no record at all. */
static void test_member_without_record_keeps_task_count(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], group[96], tasks[192];
    kt_unique_name("som", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(group, sizeof group, "%s-group", prefix);
    snprintf(tasks, sizeof tasks, "mm2-kmirror-tasks.A.%s.internal", group);
    assert_int_equal(kt_create_topic(A, topic, 2, NULL), 0);
    proc_t two, four;
    configure(&two, prefix, 1, 2, NULL);
    configure(&four, prefix, 2, 4, NULL);
    start(&two);
    log_arg_t joined = {&two.k, "joined group"};
    assert_true(kt_wait_until(log_has, &joined, MOVE_MS));
    stop(&two); /* leaves a tombstone: the registry says nobody runs */
    assert_int_equal(kt_partition_count(B, tasks), 2);

    const char *conf[] = {"group.id", group, "partition.assignment.strategy", "cooperative-sticky",
                          "enable.auto.commit", "false", "session.timeout.ms", "6000", NULL};
    int assigned;
    rd_kafka_t *member = kt_group_member(B, tasks, conf, 1, MOVE_MS, &assigned);
    assert_non_null(member);
    assert_true(assigned > 0);
    member_arg_t ma = {member, NULL};

    start(&four);
    log_arg_t kept = {&four.k, "but the processes already running the flow run 2 task(s)"};
    ma.said = &kept; /* the member keeps polling, so it stays in the group meanwhile */
    bool said = kt_wait_until(member_polls_until_said, &ma, MOVE_MS);
    if (!said) kt_kmirror_print_log(&four.k);
    assert_true(said);
    assert_int_equal(kt_partition_count(B, tasks), 2);
    rd_kafka_consumer_close(member);
    rd_kafka_destroy(member);
    stop(&four);
}

static bool group_empty(void *arg) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, B, NULL);
    const struct rd_kafka_group_list *gl = NULL;
    bool empty = rd_kafka_list_groups(rk, arg, &gl, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && gl->group_cnt == 1 &&
                 gl->groups[0].member_cnt == 0;
    if (gl) rd_kafka_group_list_destroy(gl);
    rd_kafka_destroy(rk);
    return empty;
}

/* An older kmirror's tasks topic (kmirror-tasks.*, which Apache's tools took for a remote topic):
 * while a member of the group still uses it, a new process refuses to start and creates
 * nothing; once it has left, the new process takes the group's task count over to
 * mm2-kmirror-tasks.* and replicates. */
static void test_legacy_tasks_topic_taken_over(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128], group[96], legacy[160], tasks[160];
    kt_unique_name("sol", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(group, sizeof group, "%s-group", prefix);
    snprintf(legacy, sizeof legacy, "kmirror-tasks.A.%s.internal", group);
    snprintf(tasks, sizeof tasks, "mm2-kmirror-tasks.A.%s.internal", group);
    assert_int_equal(kt_create_topic(A, topic, 2, NULL), 0);
    assert_int_equal(kt_create_topic(B, legacy, 3, NULL), 0);

    /* a process of the older version: a member of the group on the old topic */
    const char *conf[] = {"group.id", group, "partition.assignment.strategy", "cooperative-sticky", NULL};
    int mine;
    rd_kafka_t *old = kt_group_member(B, legacy, conf, 3, 60000, &mine);
    assert_non_null(old);
    assert_int_equal(mine, 3);

    proc_t p;
    configure(&p, prefix, 1, 3, NULL);
    start(&p);
    assert_int_equal(kt_kmirror_wait_exit(&p.k, 60000), 0);
    assert_true(WIFEXITED(p.k.status) && WEXITSTATUS(p.k.status) != 0);
    log_arg_t refused = {&p.k, "member(s) of an older kmirror"};
    assert_true(log_has(&refused));
    assert_int_equal(kt_partition_count(B, tasks), 0);

    rd_kafka_consumer_close(old);
    rd_kafka_destroy(old);
    assert_true(kt_wait_until(group_empty, group, 60000)); /* the broker has seen it leave */
    start(&p);
    log_arg_t took = {&p.k, "takes over from"};
    assert_true(kt_wait_until(log_has, &took, 60000));
    assert_int_equal(kt_partition_count(B, tasks), 3);
    batch_t b = {topic, 2, 0, 50};
    assert_int_equal(produce(&b), 0);
    wait_mirrored(remote, 100);
    stop(&p);
    check_copies(remote, 2, 50, true);
}

/* An argument runs only the tests whose names match it (a cmocka pattern: * and ?). */
int main(int argc, char **argv) {
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_processes_split_and_hand_over, teardown),
        cmocka_unit_test_teardown(test_three_processes_join_and_kill, teardown),
        cmocka_unit_test_teardown(test_eos_kill9_leaves_one_copy, teardown),
        cmocka_unit_test_teardown(test_config_conflict_reported, teardown),
        cmocka_unit_test_teardown(test_task_count_follows_tasks_max, teardown),
        cmocka_unit_test_teardown(test_member_without_record_keeps_task_count, teardown),
        cmocka_unit_test_teardown(test_legacy_tasks_topic_taken_over, teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
