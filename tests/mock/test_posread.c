/* test_posread.c — a flow whose positions cannot be read holds back only itself: two flows in one
 * process (A->B and C->D, on in-process mock clusters), and while flow A->B waits for the
 * positions of a new partition from a broker that is down, flow C->D takes up a new partition
 * of its own and replicates it. The main thread ticks both flows; it must not wait on A->B's
 * read. A stop does not wait for such a read past shutdown.timeout.ms either. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "kt.h"
#include "kt_metrics.h"
#include "log.h"
#include "mirror.h"
#include "mock.h"
#include "positions.h"
#include "util.h"

#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct env {
    km_mock_t *a, *b, *c, *d;
    km_config_t cfg;
    km_diag_t d_;
    km_mirror_t *m;
    _Atomic int64_t tick_since; /* when the tick in progress began; 0 between ticks */
    pthread_t watchdog;
    atomic_bool watching;
} env_t;

/* A tick stuck on one flow's read holds every flow: say so and end the test, instead of waiting
 * there for as long as librdkafka does (beyond admin.timeout.ms when the leader is down). */
#define STUCK_TICK_MS 90000

static void tick(env_t *e) {
    atomic_store(&e->tick_since, km_now_mono_ms());
    km_mirror_tick(e->m);
    atomic_store(&e->tick_since, 0);
}

static void *watchdog_main(void *arg) {
    env_t *e = arg;
    while (atomic_load(&e->watching)) {
        int64_t since = atomic_load(&e->tick_since);
        if (since && km_now_mono_ms() - since > STUCK_TICK_MS) {
            fprintf(stderr, "the main thread has been in one tick for %d s: a flow's positions read holds every flow\n",
                    STUCK_TICK_MS / 1000);
            _exit(1); /* the test thread is stuck in librdkafka: nothing left to clean up */
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* B's broker 2 leads only A->B's offsets topic, so taking it down stalls A->B's positions reads
 * and nothing else: the flow's group, its tasks topic and its remote topics stay on broker 1. */
static void lead(km_mock_t *m, const char *topic, int partitions, int broker) {
    for (int p = 0; p < partitions; p++)
        assert_int_equal(rd_kafka_mock_partition_set_leader(km_mock_cluster(m), topic, p, broker), 0);
}

static env_t *env_new(void) {
    env_t *e = km_xcalloc(1, sizeof(*e));
    char err[256];
    e->a = km_mock_new(1, err, sizeof(err));
    e->b = km_mock_new(2, err, sizeof(err));
    e->c = km_mock_new(1, err, sizeof(err));
    e->d = km_mock_new(1, err, sizeof(err));
    assert_true(e->a && e->b && e->c && e->d);
    assert_int_equal(km_mock_create_topic(e->a, "one", 1), 0);
    assert_int_equal(km_mock_create_topic(e->c, "one", 1), 0);
    assert_int_equal(km_mock_create_topic(e->d, "C.one", 1), 0);
    /* the mock has no CreateTopics: remote topics exist beforehand */
    const char *on_b[] = {"A.one", "A.second"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(km_mock_create_topic(e->b, on_b[i], 1), 0);
        lead(e->b, on_b[i], 1, 1);
    }
    assert_int_equal(km_mock_create_topic(e->d, "C.second", 1), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->a, "B"), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->d, "C"), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->c, "D"), 0);
    lead(e->b, "mm2-offsets.A.internal", 25, 2);
    const char *single[] = {"A.checkpoints.internal", "mm2-offset-syncs.A.internal", "heartbeats", "A.heartbeats",
                            "mm2-kmirror-tasks.A.A-mm2.internal"};
    for (int i = 0; i < 5; i++) lead(e->b, single[i], 1, 1);
    assert_int_equal(rd_kafka_mock_coordinator_set(km_mock_cluster(e->b), "group", "A-mm2", 1), 0);
    assert_int_equal(rd_kafka_mock_coordinator_set(km_mock_cluster(e->b), "group", "kmirror-positions-reader", 1), 0);
    return e;
}

/* shutdown_ms: shutdown.timeout.ms. */
static void env_start(env_t *e, int shutdown_ms) {
    /* admin.timeout.ms far beyond the test: A->B's read stays in flight, it neither fails nor ends */
    char *text = km_xasprintf("clusters = A, B, C, D\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                              "C.bootstrap.servers = %s\nD.bootstrap.servers = %s\n"
                              "A->B.enabled = true\nC->D.enabled = true\nreplication.factor = 1\n"
                              "admin.timeout.ms = 120000\nshutdown.timeout.ms = %d\n"
                              "refresh.topics.interval.seconds = 1\nemit.heartbeats.enabled = false\n"
                              "emit.checkpoints.enabled = false\nsync.topic.configs.enabled = false\n"
                              "sync.topic.acls.enabled = false\nmetrics.listen = 127.0.0.1:0\n",
                              km_mock_bootstraps(e->a), km_mock_bootstraps(e->b), km_mock_bootstraps(e->c),
                              km_mock_bootstraps(e->d), shutdown_ms);
    assert_int_equal(km_config_load_buf(&e->cfg, text, strlen(text), "mock.properties", NULL, 0, &e->d_), 0);
    free(text);
    e->m = km_mirror_start(&e->cfg);
    assert_non_null(e->m);
    atomic_store(&e->watching, true);
    assert_int_equal(pthread_create(&e->watchdog, NULL, watchdog_main, e), 0);
}

static void env_free(env_t *e) {
    atomic_store(&e->watching, false);
    pthread_join(e->watchdog, NULL);
    if (e->m) km_mirror_stop(e->m);
    km_config_free(&e->cfg);
    km_diag_free(&e->d_);
    km_mock_free(e->a);
    km_mock_free(e->b);
    km_mock_free(e->c);
    km_mock_free(e->d);
    free(e);
}

static void produce(km_mock_t *m, const char *topic, int n) {
    kt_msg_t *msgs = km_xcalloc((size_t)n, sizeof(*msgs));
    for (int i = 0; i < n; i++) msgs[i] = (kt_msg_t){.partition = 0, .key = "k", .value = "v"};
    assert_int_equal(kt_produce(km_mock_bootstraps(m), topic, msgs, (size_t)n, NULL, NULL), 0);
    free(msgs);
}

typedef struct arrived {
    env_t *e;
    km_mock_t *target;
    const char *topic;
    int64_t want;
    bool a_read_pending; /* ... and A->B has not given up on its read: it is still in flight */
} arrived_t;

/* Ticks the mirror, as the main loop does, and looks at the target topic's one partition. */
static bool arrived(void *arg) {
    arrived_t *w = arg;
    tick(w->e);
    int64_t hw = 0;
    if (kt_high_watermarks(km_mock_bootstraps(w->target), w->topic, &hw, 1) != 0 || hw < w->want) return false;
    if (!w->a_read_pending) return true;
    int status;
    char *body;
    if (kt_http_get(km_mirror_http_port(w->e->m), "/status", &status, &body) != 0) return false;
    bool failed = strstr(body, "not replicated yet") != NULL;
    free(body);
    return status == 200 && !failed;
}

typedef struct waiting {
    env_t *e;
    const char *remote;
} waiting_t;

/* The flow reports the new partition as waiting for its positions. */
static bool waits(void *arg) {
    waiting_t *w = arg;
    tick(w->e);
    int status;
    char *body;
    if (kt_http_get(km_mirror_http_port(w->e->m), "/metrics", &status, &body) != 0) return false;
    char *label = km_xasprintf("topic=%s", w->remote);
    const char *const labels[] = {label, NULL};
    bool ok = status == 200 && kt_prom_sum(body, "kmirror_partition_not_replicated", labels, NULL) >= 1;
    free(label);
    free(body);
    return ok;
}

static void test_stalled_positions_read_holds_back_only_its_flow(void **state) {
    env_t *e = env_new();
    env_start(e, 10000);
    produce(e->a, "one", 10);
    produce(e->c, "one", 10);
    arrived_t a1 = {e, e->b, "A.one", 10, false}, c1 = {e, e->d, "C.one", 10, false};
    assert_true(kt_wait_until(arrived, &a1, 30000));
    assert_true(kt_wait_until(arrived, &c1, 30000));

    /* A->B finds a new partition while its offsets topic's broker is down: its positions read
     * hangs (for admin.timeout.ms, far longer than this test). */
    rd_kafka_mock_broker_set_down(km_mock_cluster(e->b), 2);
    assert_int_equal(km_mock_create_topic(e->a, "second", 1), 0);
    produce(e->a, "second", 20);
    waiting_t w = {e, "A.second"};
    assert_true(kt_wait_until(waits, &w, 30000));

    /* Only now does C->D get a new partition: taking it up needs the main thread (and C->D's own
     * positions read, from D), while A->B's read is still in flight. */
    assert_int_equal(km_mock_create_topic(e->c, "second", 1), 0);
    produce(e->c, "second", 30);
    arrived_t c2 = {e, e->d, "C.second", 30, true};
    assert_true(kt_wait_until(arrived, &c2, 60000));

    /* The broker is back: A->B's read ends and the new partition is replicated. */
    rd_kafka_mock_broker_set_up(km_mock_cluster(e->b), 2);
    arrived_t a2 = {e, e->b, "A.second", 20, false};
    assert_true(kt_wait_until(arrived, &a2, 60000));
    assert_int_equal(km_mirror_stop(e->m), 0);
    e->m = NULL;
    env_free(e);
}

typedef struct stopper {
    env_t *e;
    int rc;
    atomic_bool done;
} stopper_t;

static void *stop_thread(void *arg) {
    stopper_t *s = arg;
    s->rc = km_mirror_stop(s->e->m);
    atomic_store(&s->done, true);
    return NULL;
}

static bool stopped(void *arg) { return atomic_load(&((stopper_t *)arg)->done); }

/* A stop while A->B's positions read hangs (admin.timeout.ms = 120 s) does not wait for it past
 * shutdown.timeout.ms (3 s); the deadline below is far from both. The read, let go, frees what it
 * holds once it ends. */
static void test_stop_during_stalled_read(void **state) {
    env_t *e = env_new();
    env_start(e, 3000);
    produce(e->a, "one", 10);
    arrived_t a1 = {e, e->b, "A.one", 10, false};
    assert_true(kt_wait_until(arrived, &a1, 30000));
    rd_kafka_mock_broker_set_down(km_mock_cluster(e->b), 2);
    assert_int_equal(km_mock_create_topic(e->a, "second", 1), 0);
    waiting_t w = {e, "A.second"};
    assert_true(kt_wait_until(waits, &w, 30000));
    stopper_t s = {.e = e};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_thread, &s), 0);
    if (!kt_wait_until(stopped, &s, 60000)) {
        fprintf(stderr, "the stop did not end within 60 s (shutdown.timeout.ms = 3000)\n");
        _exit(1); /* the stopping thread waits on the read: nothing left to clean up */
    }
    pthread_join(th, NULL);
    e->m = NULL;
    assert_int_equal(s.rc, 0);
    env_free(e);
}

/* The same stop while the read may wait for an answer that takes longer than the whole test (a
 * ListOffsets to the offsets topic's leader, held back 100 s): a read that has sent it cannot be
 * called off, so the stop gives up on it at shutdown.timeout.ms and the read frees what it holds
 * once it ends; one that has not sent it yet is called off. Which of the two happens depends on
 * how far the read got when the stop came; either way the stop is bounded and nothing leaks. */
static void test_stop_gives_up_on_unanswered_read(void **state) {
    env_t *e = env_new();
    env_start(e, 3000);
    produce(e->a, "one", 10);
    arrived_t a1 = {e, e->b, "A.one", 10, false};
    assert_true(kt_wait_until(arrived, &a1, 30000));
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(km_mock_cluster(e->b), 2, 2 /* ListOffsets */, 1,
                                                                  RD_KAFKA_RESP_ERR_NO_ERROR, 100000),
                     0);
    assert_int_equal(km_mock_create_topic(e->a, "second", 1), 0);
    waiting_t w = {e, "A.second"};
    assert_true(kt_wait_until(waits, &w, 30000));
    stopper_t s = {.e = e};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_thread, &s), 0);
    if (!kt_wait_until(stopped, &s, 60000)) {
        fprintf(stderr, "the stop did not end within 60 s (shutdown.timeout.ms = 3000)\n");
        _exit(1);
    }
    pthread_join(th, NULL);
    e->m = NULL;
    assert_int_equal(s.rc, 0);
    env_free(e);
}

/* The positions topic answers with an error other than "unknown topic" (here not authorized, as
 * for a principal that lost DESCRIBE on it): the read is an error naming the topic, not an empty
 * result that would start every partition afresh (from auto.offset.reset: all again, or, with
 * latest, skipping what was not mirrored yet). Seen failing before the fix: rc 0, no positions. */
static void test_unauthorized_positions_topic_is_an_error(void **state) {
    (void)state;
    char err[512];
    km_mock_t *b = km_mock_new(1, err, sizeof(err));
    assert_non_null(b);
    assert_int_equal(km_mock_create_mm2_topics(b, "A"), 0);
    rd_kafka_mock_topic_set_error(km_mock_cluster(b), "mm2-offsets.A.internal", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", km_mock_bootstraps(b), err, sizeof(err)), RD_KAFKA_CONF_OK);
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0); /* librdkafka warns per partition of the refused topic */
    km_positions_t pos = {0};
    err[0] = '\0';
    int rc = km_positions_load(conf, "mm2-offsets.A.internal", "A", 10000, NULL, &pos, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "mm2-offsets.A.internal"));
    assert_non_null(strstr(err, "uthoriz"));
    km_positions_free(&pos);
    km_mock_free(b);
}

typedef struct healthz_wait {
    km_mirror_t *m;
    int want;             /* the status code */
    const char *needle;   /* in /status, or NULL */
    km_mock_t *target;    /* and records arrived there, or NULL */
    int64_t records;
} healthz_wait_t;

static bool healthz_is(void *arg) {
    healthz_wait_t *w = arg;
    km_mirror_tick(w->m);
    int status, st;
    char *body, *doc;
    if (kt_http_get(km_mirror_http_port(w->m), "/healthz", &status, &body) != 0) return false;
    free(body);
    if (kt_http_get(km_mirror_http_port(w->m), "/status", &st, &doc) != 0) return false;
    bool ok = status == w->want && (!w->needle || strstr(doc, w->needle));
    free(doc);
    int64_t hw = 0;
    if (ok && w->target)
        ok = kt_high_watermarks(km_mock_bootstraps(w->target), "A.one", &hw, 1) == 0 && hw >= w->records;
    return ok;
}

/* Positions that become unreadable between the start-up check and the tasks' start (an ACL
 * taken away, say) leave the tasks unstarted: the flow must say so (degraded, /healthz 503, the
 * reason names the topic), not only log a warning a second while /healthz says all is well. It
 * heals by itself once the topic can be read. */
static void test_unreadable_positions_at_task_start_degrade_the_flow(void **state) {
    (void)state;
    char err[512];
    km_mock_t *a = km_mock_new(1, err, sizeof(err)), *b = km_mock_new(1, err, sizeof(err));
    assert_true(a && b);
    assert_int_equal(km_mock_create_topic(a, "one", 1), 0);
    assert_int_equal(km_mock_create_topic(b, "A.one", 1), 0);
    assert_int_equal(km_mock_create_mm2_topics(b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(a, "B"), 0);
    produce(a, "one", 10);
    char *text = km_xasprintf("clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                              "A->B.enabled = true\nreplication.factor = 1\nadmin.timeout.ms = 5000\n"
                              "emit.heartbeats.enabled = false\nemit.checkpoints.enabled = false\n"
                              "sync.topic.configs.enabled = false\nsync.topic.acls.enabled = false\n"
                              "metrics.listen = 127.0.0.1:0\n",
                              km_mock_bootstraps(a), km_mock_bootstraps(b));
    km_config_t cfg = {0};
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "mock.properties", NULL, 0, &d), 0);
    free(text);
    km_mirror_t *m = km_mirror_start(&cfg); /* the start-up check has read the positions */
    assert_non_null(m);
    /* The tasks start at a later tick, once the group has assigned them. */
    rd_kafka_mock_topic_set_error(km_mock_cluster(b), "mm2-offsets.A.internal", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    healthz_wait_t degraded = {m, 503, "not started: cannot read positions from mm2-offsets.A.internal", NULL, 0};
    assert_true(kt_wait_until(healthz_is, &degraded, 30000));

    rd_kafka_mock_topic_set_error(km_mock_cluster(b), "mm2-offsets.A.internal", RD_KAFKA_RESP_ERR_NO_ERROR);
    healthz_wait_t healed = {m, 200, NULL, b, 10};
    assert_true(kt_wait_until(healthz_is, &healed, 30000));

    km_mirror_stop(m);
    km_config_free(&cfg);
    km_diag_free(&d);
    km_mock_free(a);
    km_mock_free(b);
}

int main(void) {
    km_log_set_level(KM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stalled_positions_read_holds_back_only_its_flow),
        cmocka_unit_test(test_stop_during_stalled_read),
        cmocka_unit_test(test_stop_gives_up_on_unanswered_read),
        cmocka_unit_test(test_unauthorized_positions_topic_is_an_error),
        cmocka_unit_test(test_unreadable_positions_at_task_start_degrade_the_flow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
