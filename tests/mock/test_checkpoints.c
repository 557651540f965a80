/* test_checkpoints.c — checkpoints and group offset sync of the kmirror binary on in-process mock
 * clusters: a group that committed on the source gets a checkpoint with the translated offset on
 * the target and its offsets synced there; a group without committed offsets gets none, and
 * /status says why, per group, with the last checkpoint's time for the other; a checkpoint the
 * target refused goes out again although its group's offset did not move; a sequence error stops
 * neither checkpoints nor heartbeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http.h"
#include "kt.h"
#include "kt_kmirror.h"
#include "mock.h"
#include "records.h"
#include "util.h"

#include <jansson.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 60000

typedef struct env {
    km_mock_t *a, *b;
    char log[64];
    int port;
} env_t;

/* Commits `offset` for partition 0 of topic as group on the cluster (a simple consumer's
 * OffsetCommit, no membership). */
static void commit(const char *bootstrap, const char *group, const char *topic, int64_t offset) {
    const char *conf[] = {"group.id", group, "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bootstrap, conf);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, l, 0);
    if (err) print_message("# commit %s %s: %s\n", group, topic, rd_kafka_err2str(err));
    assert_int_equal(err, 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* The group's committed offset of partition 0 of topic on the cluster, -1 when none. */
static int64_t committed(const char *bootstrap, const char *group, const char *topic) {
    const char *conf[] = {"group.id", group, "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bootstrap, conf);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0);
    int64_t off = rd_kafka_committed(rk, l, 5000) == 0 && !l->elems[0].err ? l->elems[0].offset : -1;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

typedef struct want {
    env_t *env;
    const char *group;
    int64_t up, down;
} want_t;

/* A checkpoint of want->group for A.orders partition 0 with the wanted offsets is on B. */
static bool has_checkpoint(void *arg) {
    want_t *w = arg;
    kt_record_t *r;
    size_t n;
    kt_consume_opts_t o = {.timeout_ms = 2000};
    kt_consume(km_mock_bootstraps(w->env->b), "A.checkpoints.internal", &o, &r, &n);
    bool hit = false;
    for (size_t i = 0; i < n && !hit; i++) {
        km_checkpoint_t k;
        if (km_checkpoint_decode(r[i].key, r[i].key_len, r[i].value, r[i].value_len, &k) != 0) continue;
        hit = strcmp(k.group, w->group) == 0 && strcmp(k.topic, "A.orders") == 0 && k.partition == 0 &&
              k.upstream_offset == w->up && k.downstream_offset == w->down;
        km_checkpoint_free(&k);
    }
    kt_records_free(r, n);
    return hit;
}

static bool group_synced(void *arg) {
    want_t *w = arg;
    return committed(km_mock_bootstraps(w->env->b), w->group, "A.orders") == w->down;
}

/* /status's entry for the group in flow A->B, or NULL (caller json_decref's the whole). */
static json_t *status_group(env_t *e, const char *group, json_t **doc) {
    char url[64], err[256], *body = NULL;
    int status = 0;
    snprintf(url, sizeof(url), "127.0.0.1:%d/status", e->port);
    *doc = NULL;
    if (km_http_get(url, 5000, &status, &body, err, sizeof(err)) != 0 || status != 200) {
        free(body);
        return NULL;
    }
    *doc = json_loads(body, 0, NULL);
    free(body);
    json_t *flows = json_object_get(*doc, "flows"), *f, *g;
    size_t i, k;
    json_array_foreach(flows, i, f) {
        json_array_foreach(json_object_get(f, "groups"), k, g) {
            if (strcmp(json_string_value(json_object_get(g, "group")), group) == 0) return g;
        }
    }
    return NULL;
}

typedef struct status_want {
    env_t *env;
    const char *group;
    bool checkpointed; /* else: a reason */
} status_want_t;

static bool status_says(void *arg) {
    status_want_t *w = arg;
    json_t *doc, *g = status_group(w->env, w->group, &doc);
    bool hit = false;
    if (g && w->checkpointed)
        hit = json_is_integer(json_object_get(g, "last_checkpoint_ms")) &&
              json_integer_value(json_object_get(g, "partitions_checkpointed")) >= 1 && json_is_null(json_object_get(g, "reason"));
    else if (g)
        hit = json_is_null(json_object_get(g, "last_checkpoint_ms")) && json_is_string(json_object_get(g, "reason")) &&
              strstr(json_string_value(json_object_get(g, "reason")), "no committed offsets");
    json_decref(doc);
    return hit;
}

static bool log_port(void *arg) {
    env_t *e = arg;
    char *text = kt_read_file(e->log);
    const char *p = text ? strstr(text, "serving /metrics, /status and /healthz on http://127.0.0.1:") : NULL;
    if (p) e->port = atoi(p + strlen("serving /metrics, /status and /healthz on http://127.0.0.1:"));
    free(text);
    return e->port > 0;
}

static void print_log_tail(const char *path) {
    char *text = kt_read_file(path);
    if (!text) return;
    const char *p = text + strlen(text);
    for (int n = 25; p > text && n >= 0;)
        if (*--p == '\n') n--;
    for (const char *nl; (nl = strchr(p, '\n')); p = nl + 1) print_message("# %.*s\n", (int)(nl - p), p);
    free(text);
}

/* Source A with topic orders holding 10 records, target B (with b_brokers brokers) with
 * A.orders and the flow's internal topics. */
static void clusters_with_orders(env_t *e, int b_brokers) {
    char err[256];
    e->a = km_mock_new(1, err, sizeof(err));
    e->b = km_mock_new(b_brokers, err, sizeof(err));
    assert_non_null(e->a);
    assert_non_null(e->b);
    assert_int_equal(km_mock_create_topic(e->a, "orders", 1), 0);
    assert_int_equal(km_mock_create_topic(e->b, "A.orders", 1), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->a, "B"), 0);
    kt_msg_t msgs[10];
    for (int i = 0; i < 10; i++) msgs[i] = (kt_msg_t){.partition = 0, .key = "k", .value = "v"};
    assert_int_equal(kt_produce(km_mock_bootstraps(e->a), "orders", msgs, 10, NULL, NULL), 0);
}

static void test_checkpoints_and_group_sync(void **state) {
    env_t e = {0};
    clusters_with_orders(&e, 1);
    commit(km_mock_bootstraps(e.a), "billing", "orders", 7);

    char cfg[] = "/tmp/kmirror-ckpt-XXXXXX";
    snprintf(e.log, sizeof(e.log), "/tmp/kmirror-ckpt-log-XXXXXX");
    int fd = mkstemp(cfg), lfd = mkstemp(e.log);
    assert_true(fd >= 0 && lfd >= 0);
    close(lfd);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\nA->B.enabled = true\n"
               "A->B.topics = orders\nreplication.factor = 1\noffset.flush.interval.ms = 200\nadmin.timeout.ms = 5000\n"
               "groups = billing, idle\nemit.checkpoints.interval.seconds = 1\nsync.group.offsets.enabled = true\n"
               "sync.group.offsets.interval.seconds = 1\nemit.heartbeats.enabled = false\nmetrics.listen = 127.0.0.1:0\n",
            km_mock_bootstraps(e.a), km_mock_bootstraps(e.b));
    fclose(f);
    const char *bin = getenv("KMIRROR_BIN");
    char *argv[] = {(char *)(bin ? bin : "build/kmirror"), cfg, NULL};
    pid_t pid = kt_spawn(argv, e.log);
    assert_true(pid > 0);
    assert_true(kt_wait_until(log_port, &e, WAIT_MS));

    /* Records 0..9 land at the same offsets on B, so offset 7 translates to 7. */
    want_t w = {&e, "billing", 7, 7};
    bool ok = kt_wait_until(has_checkpoint, &w, WAIT_MS);
    if (!ok) print_log_tail(e.log);
    assert_true(ok);
    assert_true(kt_wait_until(group_synced, &w, WAIT_MS));
    status_want_t billing = {&e, "billing", true}, idle = {&e, "idle", false};
    ok = kt_wait_until(status_says, &billing, WAIT_MS) && kt_wait_until(status_says, &idle, WAIT_MS);
    if (!ok) print_log_tail(e.log);
    assert_true(ok);

    /* Said once, not every round. */
    char *text = kt_read_file(e.log);
    const char *first = strstr(text, "no checkpoint for group idle");
    assert_non_null(first);
    assert_null(strstr(first + 1, "no checkpoint for group idle"));
    free(text);

    assert_int_equal(kt_signal(pid, SIGTERM), 0);
    int status;
    assert_int_equal(kt_wait_exit(pid, WAIT_MS, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(cfg);
    unlink(e.log);
    km_mock_free(e.a);
    km_mock_free(e.b);
}

typedef struct hw_want {
    env_t *env;
    const char *topic; /* on B */
    int partitions;
    int64_t total;
} hw_want_t;

static bool target_holds(void *arg) {
    hw_want_t *w = arg;
    return kt_topic_records(km_mock_bootstraps(w->env->b), w->topic, w->partitions) >= w->total;
}

/* Every topic on B led by broker 1, but the checkpoints topic by broker ckpt and the heartbeats
 * topic by broker hb, so that errors injected there can only be those producers'. */
static void lead_on_one_but(rd_kafka_mock_cluster_t *mb, int ckpt, int hb) {
    const char *on_one[] = {"A.orders", "mm2-offset-syncs.A.internal", "A.heartbeats", "mm2-kmirror-tasks.A.A-mm2.internal"};
    for (size_t i = 0; i < sizeof(on_one) / sizeof(*on_one); i++) rd_kafka_mock_partition_set_leader(mb, on_one[i], 0, 1);
    for (int p = 0; p < 25; p++) rd_kafka_mock_partition_set_leader(mb, "mm2-offsets.A.internal", p, 1);
    rd_kafka_mock_partition_set_leader(mb, "A.checkpoints.internal", 0, ckpt);
    rd_kafka_mock_partition_set_leader(mb, "heartbeats", 0, hb);
}

/* Starts kmirror (named `name`) on e's clusters for group billing with checkpoints every second
 * and the heartbeats line given, and waits for the records, then their positions
 * (offset.flush.records), which wait for the offset-syncs: from then on offset 7 translates to 7. */
static void start_replicated(env_t *e, kt_kmirror_t *k, const char *name, const char *heartbeats) {
    assert_int_equal(kt_kmirror_config(k, name,
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\nA->B.enabled = true\n"
                                       "A->B.topics = orders\nreplication.factor = 1\noffset.flush.interval.ms = 600000\n"
                                       "offset.flush.records = 10\nadmin.timeout.ms = 5000\ngroups = billing\n"
                                       "emit.checkpoints.interval.seconds = 1\n%s\n",
                                       km_mock_bootstraps(e->a), km_mock_bootstraps(e->b), heartbeats),
                     0);
    assert_int_equal(kt_kmirror_start(k, NULL), 0);
    hw_want_t replicated = {e, "A.orders", 1, 10}, positions = {e, "mm2-offsets.A.internal", 25, 1};
    assert_true(kt_wait_until(target_holds, &replicated, WAIT_MS));
    assert_true(kt_wait_until(target_holds, &positions, WAIT_MS));
}

/* A checkpoint goes out when its group's offset moves. One the target did not take must go out
 * again: a group that stopped committing (the one a failover is for) would otherwise never get
 * its last checkpoint. Here the target refuses the first checkpoint with a permanent error.
 * Seen failing before the fix: the WARN, then no checkpoint within 60 s. */
static void test_failed_checkpoint_emitted_again(void **state) {
    env_t e = {0};
    clusters_with_orders(&e, 2);
    /* Broker 2 of B leads the checkpoints topic and nothing else, so the error injected there
     * below can only be the checkpoint's. */
    rd_kafka_mock_cluster_t *mb = km_mock_cluster(e.b);
    lead_on_one_but(mb, 2, 1);

    kt_kmirror_t k;
    start_replicated(&e, &k, "refused", "emit.heartbeats.enabled = false"); /* the checkpoint below does not change */

    rd_kafka_mock_broker_push_request_error_rtts(mb, 2, 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_POLICY_VIOLATION, 0);
    commit(km_mock_bootstraps(e.a), "billing", "orders", 7);
    assert_true(kt_kmirror_wait_logged(&k, "a checkpoint could not be written to A.checkpoints.internal", WAIT_MS));
    want_t w = {&e, "billing", 7, 7};
    bool ok = kt_wait_until(has_checkpoint, &w, WAIT_MS);
    if (!ok) kt_kmirror_print_log(&k);
    assert_true(ok);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
    km_mock_free(e.a);
    km_mock_free(e.b);
}

/* A sequence error on a producer's first request in flight turns an idempotent producer fatal
 * for good (librdkafka 2.0.2 #4438 gets there after ordinary broker faults). The checkpoints and
 * heartbeats must go on after one such error: only that record fails, and it is written again.
 * Seen failing before the fix: no checkpoint within 60 s ("Local: Fatal error" at every interval),
 * and no heartbeat after the error. */
static void test_sequence_error_leaves_checkpoints_and_heartbeats(void **state) {
    env_t e = {0};
    clusters_with_orders(&e, 3);
    rd_kafka_mock_cluster_t *mb = km_mock_cluster(e.b);
    lead_on_one_but(mb, 2, 3);
    kt_kmirror_t k;
    start_replicated(&e, &k, "sequence", "emit.heartbeats.interval.seconds = 1");
    hw_want_t beating = {&e, "heartbeats", 1, 1};
    assert_true(kt_wait_until(target_holds, &beating, WAIT_MS));

    for (int broker = 2; broker <= 3; broker++)
        rd_kafka_mock_broker_push_request_error_rtts(mb, broker, 0 /* Produce */, 1,
                                                     RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 0);
    commit(km_mock_bootstraps(e.a), "billing", "orders", 7);
    assert_true(kt_kmirror_wait_logged(&k, "a checkpoint could not be written to A.checkpoints.internal", WAIT_MS));
    assert_true(kt_kmirror_wait_logged(&k, "heartbeats A->B: cannot write to heartbeats", WAIT_MS));
    want_t w = {&e, "billing", 7, 7};
    bool ok = kt_wait_until(has_checkpoint, &w, WAIT_MS);
    /* Heartbeats written after the error: three more than when it was reported. */
    beating.total = kt_topic_records(km_mock_bootstraps(e.b), "heartbeats", 1) + 3;
    ok = ok && kt_wait_until(target_holds, &beating, WAIT_MS);
    if (!ok) kt_kmirror_print_log(&k);
    assert_true(ok);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
    km_mock_free(e.a);
    km_mock_free(e.b);
}

static int kill_children(void **state) {
    kt_kill_children();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_checkpoints_and_group_sync, kill_children),
        cmocka_unit_test_teardown(test_failed_checkpoint_emitted_again, kill_children),
        cmocka_unit_test_teardown(test_sequence_error_leaves_checkpoints_and_heartbeats, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
