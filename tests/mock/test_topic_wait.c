/* test_topic_wait.c — a topic that cannot be created holds back only what needs it, on mock
 * clusters (which never answer CreateTopics):
 *   - a missing remote topic: the topics whose remote topic exists are replicated while the
 *     creation of the other one still waits, and /status says why the flow is degraded;
 *   - missing internal topics (offset-syncs, checkpoints): records flow, no position is
 *     committed past an offset-sync that could not be written, the flow is degraded with the
 *     reasons, and all of it recovers by itself once the topics exist;
 *   - a slow cluster: the flows of one process start side by side, so a flow whose cluster
 *     answers slowly does not hold back the start of another. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http.h"
#include "kt.h"
#include "kt_kmirror.h"
#include "kt_metrics.h"
#include "mock.h"

#include <librdkafka/rdkafka_mock.h>
#include "util.h"

#include <jansson.h>
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

static bool log_port(void *arg) {
    env_t *e = arg;
    static const char *const said = "serving /metrics, /status and /healthz on http://127.0.0.1:";
    char *text = kt_read_file(e->log);
    const char *p = text ? strstr(text, said) : NULL;
    if (p) e->port = atoi(p + strlen(said));
    free(text);
    return e->port > 0;
}

/* The flow's /status reason mentions the topic still waiting for its remote topic. */
static bool status_waits(void *arg) {
    env_t *e = arg;
    char url[64], err[256], *body = NULL;
    int status = 0;
    snprintf(url, sizeof(url), "127.0.0.1:%d/status", e->port);
    if (km_http_get(url, 5000, &status, &body, err, sizeof(err)) != 0 || status != 200) {
        free(body);
        return false;
    }
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    json_t *f = json_array_get(json_object_get(doc, "flows"), 0);
    const char *reason = json_string_value(json_object_get(f, "reason"));
    bool hit = reason && strstr(reason, "audit") && strstr(reason, "remote topic");
    json_decref(doc);
    return hit;
}

static void test_missing_remote_topic_holds_back_only_itself(void **state) {
    char err[256];
    env_t e = {0};
    e.a = km_mock_new(1, err, sizeof(err));
    e.b = km_mock_new(1, err, sizeof(err));
    assert_non_null(e.a);
    assert_non_null(e.b);
    assert_int_equal(km_mock_create_topic(e.a, "orders", 1), 0);
    assert_int_equal(km_mock_create_topic(e.a, "audit", 1), 0);
    assert_int_equal(km_mock_create_topic(e.b, "A.orders", 1), 0); /* A.audit is missing */
    assert_int_equal(km_mock_create_mm2_topics(e.b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(e.a, "B"), 0);
    kt_msg_t msgs[5];
    for (int i = 0; i < 5; i++) msgs[i] = (kt_msg_t){.partition = 0, .key = "k", .value = "v"};
    assert_int_equal(kt_produce(km_mock_bootstraps(e.a), "orders", msgs, 5, NULL, NULL), 0);

    char cfg[] = "/tmp/kmirror-twait-XXXXXX";
    snprintf(e.log, sizeof(e.log), "/tmp/kmirror-twait-log-XXXXXX");
    int fd = mkstemp(cfg), lfd = mkstemp(e.log);
    assert_true(fd >= 0 && lfd >= 0);
    close(lfd);
    FILE *f = fdopen(fd, "w");
    /* admin.timeout.ms above the test's own deadline: a creation that held everything up would
     * fail the test, not just slow it. */
    fprintf(f, "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\nA->B.enabled = true\n"
               "A->B.topics = orders, audit\nreplication.factor = 1\noffset.flush.interval.ms = 200\n"
               "admin.timeout.ms = 120000\nshutdown.timeout.ms = 5000\nemit.checkpoints.enabled = false\n"
               "emit.heartbeats.enabled = false\nsync.topic.configs.enabled = false\nmetrics.listen = 127.0.0.1:0\n",
            km_mock_bootstraps(e.a), km_mock_bootstraps(e.b));
    fclose(f);
    const char *bin = getenv("KMIRROR_BIN");
    char *argv[] = {(char *)(bin ? bin : "build/kmirror"), cfg, NULL};
    pid_t pid = kt_spawn(argv, e.log);
    assert_true(pid > 0);
    assert_true(kt_wait_until(log_port, &e, WAIT_MS));

    kt_record_t *r;
    size_t n;
    kt_consume_opts_t o = {.expected = 5, .timeout_ms = WAIT_MS};
    int rc = kt_consume(km_mock_bootstraps(e.b), "A.orders", &o, &r, &n);
    kt_records_free(r, n);
    print_message("# %zu of 5 records of orders replicated while A.audit cannot be created\n", n);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 5);
    assert_true(kt_wait_until(status_waits, &e, WAIT_MS));

    assert_int_equal(kt_signal(pid, SIGTERM), 0);
    int status;
    assert_int_equal(kt_wait_exit(pid, 8000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(cfg);
    unlink(e.log);
    km_mock_free(e.a);
    km_mock_free(e.b);
}

/* ---- internal topics ------------------------------------------------------------------------ */

typedef struct ienv {
    km_mock_t *a, *b;
    kt_kmirror_t k;
    int port;
    const char *want[2]; /* wanted in the flow's reason; want[0] NULL: wanted healthy */
} ienv_t;

static bool reason_is(void *arg) {
    ienv_t *e = arg;
    int code;
    char *body = NULL;
    if (kt_http_get(e->port, "/status", &code, &body) != 0 || code != 200) {
        free(body);
        return false;
    }
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    json_t *f = json_array_get(json_object_get(doc, "flows"), 0);
    const char *state = json_string_value(json_object_get(f, "state")), *reason = json_string_value(json_object_get(f, "reason"));
    bool hit;
    if (!e->want[0]) hit = state && strcmp(state, "running") == 0 && json_is_true(json_object_get(doc, "healthy"));
    else hit = state && strcmp(state, "degraded") == 0 && reason && strstr(reason, e->want[0]) && (!e->want[1] || strstr(reason, e->want[1]));
    json_decref(doc);
    return hit;
}

static int64_t records_in(const char *bootstrap, const char *topic, int partitions) {
    int64_t hw[32], sum = 0;
    if (kt_high_watermarks(bootstrap, topic, hw, partitions) != 0) return -1;
    for (int i = 0; i < partitions; i++) sum += hw[i];
    return sum;
}

static bool positions_written(void *arg) {
    ienv_t *e = arg;
    return records_in(km_mock_bootstraps(e->b), "mm2-offsets.A.internal", 25) > 0 &&
           records_in(km_mock_bootstraps(e->a), "mm2-offset-syncs.B.internal", 1) > 0; /* syncs go to partition 0 */
}

static void test_missing_internal_topics_hold_back_positions_and_recover(void **state) {
    char err[256];
    ienv_t e = {0};
    e.a = km_mock_new(1, err, sizeof(err));
    e.b = km_mock_new(1, err, sizeof(err));
    assert_non_null(e.a);
    assert_non_null(e.b);
    assert_int_equal(km_mock_create_topic(e.a, "orders", 1), 0);
    assert_int_equal(km_mock_create_topic(e.b, "A.orders", 1), 0);
    assert_int_equal(km_mock_create_topic(e.b, "mm2-offsets.A.internal", 25), 0);
    assert_int_equal(km_mock_create_topic(e.b, "mm2-kmirror-tasks.A.A-mm2.internal", 1), 0);
    /* mm2-offset-syncs.B.internal on A and A.checkpoints.internal on B are missing */
    kt_msg_t msgs[5];
    for (int i = 0; i < 5; i++) msgs[i] = (kt_msg_t){.partition = 0, .key = "k", .value = "v"};
    assert_int_equal(kt_produce(km_mock_bootstraps(e.a), "orders", msgs, 5, NULL, NULL), 0);
    assert_int_equal(kt_kmirror_config(&e.k, "internal",
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = true\nA->B.topics = orders\nA->B.groups = g\nreplication.factor = 1\n"
                                       "offset.flush.interval.ms = 200\nadmin.timeout.ms = 2000\nshutdown.timeout.ms = 5000\n"
                                       "refresh.topics.interval.seconds = 1\nemit.heartbeats.enabled = false\n"
                                       "sync.topic.configs.enabled = false\nsync.topic.acls.enabled = false\n"
                                       "metrics.listen = 127.0.0.1:0\n",
                                       km_mock_bootstraps(e.a), km_mock_bootstraps(e.b)),
                     0);
    assert_int_equal(kt_kmirror_start(&e.k, NULL), 0);
    e.port = kt_kmirror_http_port(&e.k, WAIT_MS);
    assert_true(e.port > 0);

    kt_record_t *r;
    size_t n;
    kt_consume_opts_t o = {.expected = 5, .timeout_ms = WAIT_MS};
    assert_int_equal(kt_consume(km_mock_bootstraps(e.b), "A.orders", &o, &r, &n), 0);
    kt_records_free(r, n);
    assert_int_equal(n, 5);
    e.want[0] = "mm2-offset-syncs.B.internal";
    e.want[1] = "checkpoints and group offset sync are not running yet";
    if (!kt_wait_until(reason_is, &e, WAIT_MS)) {
        kt_kmirror_print_log(&e.k);
        fail();
    }
    /* Records are on B, positions are flushed every 200 ms: none may pass the unwritten syncs. */
    assert_int_equal(records_in(km_mock_bootstraps(e.b), "mm2-offsets.A.internal", 25), 0);
    assert_true(kt_kmirror_logged(&e.k, "no position is committed until it exists"));

    /* librdkafka 2.0.2's mock creates any topic a client asks metadata of (it takes Metadata
     * v0-v2, which cannot say "don't"): the task's offset-syncs producer may have had it made
     * meanwhile, with 4 partitions, which the refresher then finds. Either way it exists now. */
    assert_true(km_mock_create_topic(e.a, "mm2-offset-syncs.B.internal", 1) == 0 ||
                kt_partition_count(km_mock_bootstraps(e.a), "mm2-offset-syncs.B.internal") > 0);
    assert_int_equal(km_mock_create_topic(e.b, "A.checkpoints.internal", 1), 0);
    e.want[0] = NULL;
    if (!kt_wait_until(reason_is, &e, WAIT_MS)) {
        kt_kmirror_print_log(&e.k);
        fail();
    }
    assert_true(kt_wait_until(positions_written, &e, WAIT_MS));
    assert_true(kt_kmirror_logged(&e.k, "checkpoints and group offset sync are running now"));
    assert_int_equal(kt_kmirror_stop(&e.k, 10000), 0);
    km_mock_free(e.a);
    km_mock_free(e.b);
}

/* ---- start-up ------------------------------------------------------------------------------- */

/* Where needle first appears in the latest run's log; -1 when it does not. */
static long first_at(const kt_kmirror_t *k, const char *needle) {
    char *text = kt_kmirror_log(k);
    const char *at = text ? strstr(text, needle) : NULL;
    long pos = at ? (long)(at - text) : -1;
    free(text);
    return pos;
}

static void test_slow_cluster_holds_back_only_its_flow_start(void **state) {
    char err[256];
    km_mock_t *m[3];
    for (int i = 0; i < 3; i++) {
        m[i] = km_mock_new(1, err, sizeof(err));
        assert_non_null(m[i]);
    }
    km_mock_t *a = m[0], *b = m[1], *c = m[2];
    assert_int_equal(km_mock_create_topic(a, "orders", 1), 0);
    assert_int_equal(km_mock_create_topic(c, "orders", 1), 0);
    assert_int_equal(km_mock_create_topic(b, "A.orders", 1), 0);
    assert_int_equal(km_mock_create_topic(b, "C.orders", 1), 0);
    assert_int_equal(km_mock_create_mm2_topics(b, "A"), 0);
    assert_int_equal(km_mock_create_topic(b, "mm2-offsets.C.internal", 25), 0);
    assert_int_equal(km_mock_create_topic(b, "mm2-kmirror-tasks.C.C-mm2.internal", 1), 0);
    assert_int_equal(km_mock_create_topic(a, "mm2-offset-syncs.B.internal", 1), 0);
    assert_int_equal(km_mock_create_topic(c, "mm2-offset-syncs.B.internal", 1), 0);
    /* Every request to A takes 0.5 s: A->B needs several before it joins its group. */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(km_mock_cluster(a), 1, 500), 0);
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, "slow",
                                       "clusters = A, B, C\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "C.bootstrap.servers = %s\nA->B.enabled = true\nC->B.enabled = true\n"
                                       "topics = orders\nreplication.factor = 1\nadmin.timeout.ms = 60000\n"
                                       "shutdown.timeout.ms = 20000\nemit.heartbeats.enabled = false\n"
                                       "emit.checkpoints.enabled = false\nsync.topic.configs.enabled = false\n"
                                       "sync.topic.acls.enabled = false\n",
                                       km_mock_bootstraps(a), km_mock_bootstraps(b), km_mock_bootstraps(c)),
                     0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    if (!kt_kmirror_wait_logged(&k, "kmirror running", WAIT_MS)) kt_kmirror_print_log(&k);
    assert_true(kt_kmirror_logged(&k, "kmirror running"));
    /* A->B comes first in the configuration (clusters A, B, C), so a start one flow after the
     * other would have C->B join only after A->B; the "starting" lines come from the flows'
     * threads in any order. */
    long a_joined = first_at(&k, "flow A->B: joined group"), c_joined = first_at(&k, "flow C->B: joined group");
    if (!(c_joined >= 0 && c_joined < a_joined)) kt_kmirror_print_log(&k);
    assert_true(c_joined >= 0 && c_joined < a_joined);
    assert_int_equal(kt_kmirror_stop(&k, 30000), 0);
    for (int i = 0; i < 3; i++) km_mock_free(m[i]);
}

/* Offset-syncs that cannot be written are kept, and hold the positions back; past 4096 of them
 * on a partition its reading pauses, so memory stays bounded, and resumes where it stopped once
 * they go out: every record arrives once. Every other record on A came from B (its kmirror.path
 * says so), so A->B skips it and each record it writes starts a run, which needs its own sync
 * (offset.lag.max syncs are coalesced). Only kmirror's offset-syncs producer writes to A, so the
 * Produce errors pushed on A fail exactly its requests (3: out again after ~7 s). */
static void test_unwritten_syncs_pause_their_partition(void **state) {
    char err[256];
    km_mock_t *a = km_mock_new(1, err, sizeof(err)), *b = km_mock_new(1, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(km_mock_create_topic(a, "orders", 1), 0);
    assert_int_equal(km_mock_create_topic(a, "mm2-offset-syncs.B.internal", 1), 0);
    assert_int_equal(km_mock_create_topic(b, "orders", 1), 0);
    assert_int_equal(km_mock_create_topic(b, "mm2-offsets.A.internal", 25), 0);
    assert_int_equal(km_mock_create_topic(b, "mm2-kmirror-tasks.A.A-mm2.internal", 1), 0);
    enum { N = 20000 };
    static const kt_header_t from_b = {"kmirror.path", "B", 1};
    kt_msg_t *msgs = calloc(N, sizeof(*msgs));
    char (*vals)[16] = calloc(N, 16);
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], 16, "v%05d", i);
        msgs[i] = (kt_msg_t){.partition = 0, .key = "k", .value = vals[i], .headers = i % 2 ? &from_b : NULL, .header_cnt = i % 2};
    }
    assert_int_equal(kt_produce(km_mock_bootstraps(a), "orders", msgs, N, NULL, NULL), 0);
    free(msgs);
    rd_kafka_mock_push_request_errors(km_mock_cluster(a), 0 /* Produce */, 3, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, "syncs-bound",
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = true\nA->B.topics = orders\nreplication.factor = 1\n"
                                       "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n"
                                       "offset.flush.interval.ms = 200\nshutdown.timeout.ms = 10000\n"
                                       "emit.heartbeats.enabled = false\nemit.checkpoints.enabled = false\n"
                                       "sync.topic.configs.enabled = false\nsync.topic.acls.enabled = false\n",
                                       km_mock_bootstraps(a), km_mock_bootstraps(b)),
                     0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    bool paused = kt_kmirror_wait_logged(&k, "offset-syncs wait to be written; reading this partition pauses", WAIT_MS);
    bool resumed = paused && kt_kmirror_wait_logged(&k, "reading this partition resumes", WAIT_MS);
    if (!resumed) kt_kmirror_print_log(&k);
    assert_true(paused);
    assert_true(resumed);
    kt_record_t *r;
    size_t n;
    kt_consume_opts_t o = {.expected = N / 2, .timeout_ms = WAIT_MS};
    assert_int_equal(kt_consume(km_mock_bootstraps(b), "orders", &o, &r, &n), 0);
    assert_int_equal(n, N / 2);
    for (size_t i = 0; i < n; i++) assert_string_equal(r[i].value, vals[2 * i]); /* A's own, in order, once each */
    kt_records_free(r, n);
    free(vals);
    assert_int_equal(kt_kmirror_stop(&k, 20000), 0);
    int64_t hw[1];
    assert_int_equal(kt_high_watermarks(km_mock_bootstraps(b), "orders", hw, 1), 0);
    assert_int_equal(hw[0], N / 2); /* nothing written twice */
    km_mock_free(a);
    km_mock_free(b);
}

static int kill_children(void **state) {
    kt_kill_children();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_missing_remote_topic_holds_back_only_itself, kill_children),
        cmocka_unit_test_teardown(test_missing_internal_topics_hold_back_positions_and_recover, kill_children),
        cmocka_unit_test_teardown(test_slow_cluster_holds_back_only_its_flow_start, kill_children),
        cmocka_unit_test_teardown(test_unwritten_syncs_pause_their_partition, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
