/* test_engine.c — the replication engine on in-process mock clusters: fast fidelity checks and
 * the faults librdkafka's mock can inject (request errors, a target broker going down, RTT),
 * plus stop/restart from stored positions. The same scenarios run against real Kafka in
 * tests/it; these are the quick, deterministic variants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "kt.h"
#include "log.h"
#include "mirror.h"
#include "mock.h"
#include "util.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct env {
    km_mock_t *a, *b;
    km_config_t cfg;
    km_diag_t d;
    km_mirror_t *m;
} env_t;

static env_t *env_new(const char *topic, int partitions, int b_brokers) {
    env_t *e = km_xcalloc(1, sizeof(*e));
    char err[256];
    e->a = km_mock_new(1, err, sizeof(err));
    e->b = km_mock_new(b_brokers, err, sizeof(err));
    assert_non_null(e->a);
    assert_non_null(e->b);
    char remote[256];
    snprintf(remote, sizeof(remote), "A.%s", topic);
    assert_int_equal(km_mock_create_topic(e->a, topic, partitions), 0);
    assert_int_equal(km_mock_create_topic(e->b, remote, partitions), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->a, "B"), 0);
    return e;
}

static void env_start(env_t *e) {
    char *text = km_xasprintf("clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                              "A->B.enabled = true\nreplication.factor = 1\noffset.flush.interval.ms = 200\n"
                              "admin.timeout.ms = 10000\nshutdown.timeout.ms = 20000\n",
                              km_mock_bootstraps(e->a), km_mock_bootstraps(e->b));
    memset(&e->cfg, 0, sizeof(e->cfg));
    assert_int_equal(km_config_load_buf(&e->cfg, text, strlen(text), "mock.properties", NULL, 0, &e->d), 0);
    free(text);
    e->m = km_mirror_start(&e->cfg);
    assert_non_null(e->m);
}

static int env_stop(env_t *e) {
    int rc = km_mirror_stop(e->m);
    e->m = NULL;
    km_config_free(&e->cfg);
    km_diag_free(&e->d);
    return rc;
}

static void env_free(env_t *e) {
    if (e->m) env_stop(e);
    km_mock_free(e->a);
    km_mock_free(e->b);
    free(e);
}

typedef struct waiter {
    env_t *e;
    const char *remote;
    int partitions;
    size_t want;
} waiter_t;

/* Ticks the mirror (as the main loop would) and checks the target's record count. */
static bool mirrored(void *arg) {
    waiter_t *w = arg;
    if (w->e->m) km_mirror_tick(w->e->m);
    int64_t hw[8] = {0};
    if (kt_high_watermarks(km_mock_bootstraps(w->e->b), w->remote, hw, w->partitions) != 0) return false;
    int64_t total = 0;
    for (int i = 0; i < w->partitions; i++) total += hw[i];
    return total >= (int64_t)w->want;
}

static void produce_n(env_t *e, const char *topic, int from, int n, int partitions) {
    kt_msg_t *msgs = km_xcalloc((size_t)n, sizeof(*msgs));
    char (*vals)[32] = km_xcalloc((size_t)n, 32);
    kt_header_t h[] = {{"h1", "x", 0}, {"h1", NULL, 0}, {"trace", "abc", 0}};
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], 32, "v%06d", from + i);
        msgs[i] = (kt_msg_t){.partition = (from + i) % partitions, .key = vals[i] + 1, .value = vals[i],
                             .timestamp = 1600000000000LL + from + i, .headers = h, .header_cnt = 3};
    }
    assert_int_equal(kt_produce(km_mock_bootstraps(e->a), topic, msgs, (size_t)n, NULL, NULL), 0);
    free(msgs);
    free(vals);
}

/* Every remote record equals its source record, field by field, partition by partition. */
static void assert_same(env_t *e, const char *topic, const char *remote, size_t n) {
    kt_record_t *src, *dst;
    size_t ns, nd;
    kt_consume_opts_t o = {.expected = n};
    assert_int_equal(kt_consume(km_mock_bootstraps(e->a), topic, &o, &src, &ns), 0);
    assert_int_equal(kt_consume(km_mock_bootstraps(e->b), remote, &o, &dst, &nd), 0);
    assert_int_equal(ns, n);
    assert_int_equal(nd, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(src[i].partition, dst[i].partition);
        assert_string_equal(src[i].value, dst[i].value);
        assert_string_equal(src[i].key, dst[i].key);
        assert_int_equal(src[i].timestamp, dst[i].timestamp);
        assert_int_equal(src[i].header_cnt, dst[i].header_cnt);
        for (size_t h = 0; h < src[i].header_cnt; h++) {
            assert_string_equal(src[i].headers[h].name, dst[i].headers[h].name);
            assert_int_equal(src[i].headers[h].value_len, dst[i].headers[h].value_len);
            if (src[i].headers[h].value) assert_memory_equal(src[i].headers[h].value, dst[i].headers[h].value, src[i].headers[h].value_len);
            else assert_null(dst[i].headers[h].value);
        }
    }
    kt_records_free(src, ns);
    kt_records_free(dst, nd);
}

static void test_fidelity_and_restart(void **state) {
    env_t *e = env_new("orders", 3, 1);
    produce_n(e, "orders", 0, 300, 3);
    env_start(e);
    waiter_t w = {e, "A.orders", 3, 300};
    assert_true(kt_wait_until(mirrored, &w, 30000));
    assert_int_equal(env_stop(e), 0);
    /* Stopped cleanly: more records, restart, exactly the new ones are added. */
    produce_n(e, "orders", 300, 200, 3);
    env_start(e);
    w.want = 500;
    assert_true(kt_wait_until(mirrored, &w, 30000));
    assert_int_equal(env_stop(e), 0);
    assert_same(e, "orders", "A.orders", 500);
    env_free(e);
}

static void test_produce_errors_retried(void **state) {
    env_t *e = env_new("pay", 2, 1);
    produce_n(e, "pay", 0, 400, 2);
    rd_kafka_mock_push_request_errors(km_mock_cluster(e->b), 0 /* Produce */, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
    env_start(e);
    waiter_t w = {e, "A.pay", 2, 400};
    assert_true(kt_wait_until(mirrored, &w, 30000));
    assert_int_equal(env_stop(e), 0);
    assert_same(e, "pay", "A.pay", 400); /* in order, nothing lost, nothing twice */
    env_free(e);
}

static void test_target_broker_down(void **state) {
    env_t *e = env_new("clicks", 2, 1);
    env_start(e);
    produce_n(e, "clicks", 0, 100, 2);
    waiter_t w = {e, "A.clicks", 2, 100};
    assert_true(kt_wait_until(mirrored, &w, 30000));
    rd_kafka_mock_broker_set_down(km_mock_cluster(e->b), 1);
    produce_n(e, "clicks", 100, 200, 2);
    for (int i = 0; i < 20; i++) km_mirror_tick(e->m); /* replication goes on against a dead target */
    rd_kafka_mock_broker_set_up(km_mock_cluster(e->b), 1);
    w.want = 300;
    assert_true(kt_wait_until(mirrored, &w, 60000));
    assert_int_equal(env_stop(e), 0);
    assert_same(e, "clicks", "A.clicks", 300);
    env_free(e);
}

static void test_rtt(void **state) {
    env_t *e = env_new("slow", 1, 1);
    rd_kafka_mock_broker_set_rtt(km_mock_cluster(e->a), 1, 50);
    rd_kafka_mock_broker_set_rtt(km_mock_cluster(e->b), 1, 50);
    produce_n(e, "slow", 0, 500, 1);
    env_start(e);
    waiter_t w = {e, "A.slow", 1, 500};
    assert_true(kt_wait_until(mirrored, &w, 60000));
    assert_int_equal(env_stop(e), 0);
    assert_same(e, "slow", "A.slow", 500);
    env_free(e);
}

int main(void) {
    km_log_set_level(KM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fidelity_and_restart),
        cmocka_unit_test(test_produce_errors_retried),
        cmocka_unit_test(test_target_broker_down),
        cmocka_unit_test(test_rtt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
