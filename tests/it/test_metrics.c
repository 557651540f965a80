/* test_metrics.c — the kmirror binary against the two real clusters (KMIRROR_IT_A, KMIRROR_IT_B)
 * with `--metrics-listen 127.0.0.1:0`: while it replicates a fresh topic, /metrics parses line by
 * line and its numbers match what was produced and what arrived (record and byte counts equal,
 * lag falls to 0, latency within the run's bounds), /status agrees, /healthz answers 200, and
 * SIGTERM still stops it cleanly. A transactional topic beside it ends in a commit marker, which
 * is not lag. Skips when the clusters are not given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"
#include "kt_metrics.h"

enum { PARTITIONS = 3, RECORDS = 600, WAIT_MS = 90000 };

typedef struct run {
    const kt_kmirror_t *k;
    int port;
    const char *remote;
    uint64_t records;
    int partitions;
} run_t;

/* The port kmirror logged when it started serving. */
static bool port_logged(void *arg) {
    run_t *r = arg;
    char *text = kt_kmirror_log(r->k);
    const char *at = text ? strstr(text, "/healthz on http://127.0.0.1:") : NULL;
    if (at) r->port = atoi(at + strlen("/healthz on http://127.0.0.1:"));
    free(text);
    return r->port > 0;
}

static bool caught_up(void *arg) {
    run_t *r = arg;
    int code;
    char *t;
    if (kt_http_get(r->port, "/metrics", &code, &t) != 0) return false;
    char topic[160];
    snprintf(topic, sizeof(topic), "topic=%s", r->remote);
    const char *sel[] = {"source=A", "target=B", topic, NULL};
    int n;
    double lag = kt_prom_sum(t, "kmirror_lag_records", sel, &n);
    bool ok = code == 200 && kt_prom_sum(t, "kmirror_record_count_total", sel, NULL) == (double)r->records &&
              n == r->partitions && lag == 0;
    free(t);
    return ok;
}

/* A transactional producer that has written n records to partition 0 of topic in a transaction
 * it leaves open (written to the log, flushed). */
static rd_kafka_t *open_transaction(const char *bootstrap, const char *topic, int n) {
    char txid[160];
    snprintf(txid, sizeof txid, "%s-tx", topic);
    const char *conf[] = {"transactional.id", txid, NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bootstrap, conf);
    assert_non_null(rk);
    assert_null(rd_kafka_init_transactions(rk, 30000));
    assert_null(rd_kafka_begin_transaction(rk));
    for (int i = 0; i < n; i++)
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE("t", 1),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                         0);
    assert_int_equal(rd_kafka_flush(rk, 30000), 0);
    return rk;
}

/* n records in one committed transaction to partition 0: the log ends with the commit marker,
 * one offset past the last record. */
static void produce_committed(const char *bootstrap, const char *topic, int n) {
    rd_kafka_t *rk = open_transaction(bootstrap, topic, n);
    assert_null(rd_kafka_commit_transaction(rk, 30000));
    rd_kafka_destroy(rk);
}

static void check_metrics(const run_t *r, uint64_t value_bytes, int64_t t0, int64_t t1) {
    int code;
    char *t, err[256];
    assert_int_equal(kt_http_get(r->port, "/metrics", &code, &t), 0);
    int samples = kt_prom_check(t, err, sizeof(err));
    if (samples < 0) print_message("exposition: %s\n", err);
    assert_true(samples > 0);
    char topic[160];
    snprintf(topic, sizeof(topic), "topic=%s", r->remote);
    const char *sel[] = {"source=A", "target=B", topic, NULL};
    assert_true(kt_prom_sum(t, "kmirror_byte_count_total", sel, NULL) == (double)value_bytes);
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_count", sel, NULL) == RECORDS);
    assert_true(kt_prom_max(t, "kmirror_replication_latency_ms_max", sel) <= (double)(t1 - t0));
    assert_true(kt_prom_max(t, "kmirror_replication_latency_ms_min", sel) >= 0);
    assert_true(kt_prom_max(t, "kmirror_lag_seconds", sel) == 0);
    assert_true(kt_prom_sum(t, "kmirror_records_skipped_total", sel, NULL) == 0);
    free(t);
    assert_int_equal(kt_http_get(r->port, "/healthz", &code, &t), 0);
    if (code != 200) print_message("/healthz: %s\n", t);
    assert_int_equal(code, 200);
    free(t);
    assert_int_equal(kt_http_get(r->port, "/status", &code, &t), 0);
    json_t *doc = json_loads(t, 0, NULL);
    free(t);
    json_t *flow = json_array_get(json_object_get(doc, "flows"), 0), *p;
    assert_string_equal(json_string_value(json_object_get(flow, "state")), "running");
    size_t i;
    json_int_t records = 0;
    json_array_foreach(json_object_get(flow, "partitions"), i, p)
        if (strcmp(json_string_value(json_object_get(p, "remote_topic")), r->remote) == 0) records += json_integer_value(json_object_get(p, "records"));
    assert_int_equal(records, RECORDS);
    json_decref(doc);
}

static void test_metrics_of_a_real_run(void **state) {
    if (!kt_it_ready()) skip();
    const char *a = getenv("KMIRROR_IT_A"), *b = getenv("KMIRROR_IT_B");
    char topic[128], remote[160], txn[128], txn_remote[160];
    kt_unique_name("metrics", topic, sizeof topic);
    snprintf(remote, sizeof remote, "A.%s", topic);
    kt_unique_name("metrics-txn", txn, sizeof txn);
    snprintf(txn_remote, sizeof txn_remote, "A.%s", txn);
    assert_int_equal(kt_create_topic(a, topic, PARTITIONS, NULL), 0);
    assert_int_equal(kt_create_topic(a, txn, 1, NULL), 0);
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, "metrics",
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = true\nA->B.topics = %s, %s\nreplication.factor = 1\n"
                                       "offset.flush.interval.ms = 500\nmetrics.listen = 127.0.0.1:0\n",
                                       a, b, topic, txn),
                     0);

    /* Committed before kmirror starts, so that every end offset kmirror learns is past the
     * marker: a lag of 0 read before the commit (when the end was the transaction's start)
     * cannot pass for the answer. */
    produce_committed(a, txn, 30);
    int64_t t0 = kt_wall_ms();
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    run_t r = {&k, 0, remote, RECORDS, PARTITIONS};
    assert_true(kt_wait_until(port_logged, &r, WAIT_MS));

    static char values[RECORDS][32];
    kt_msg_t msgs[RECORDS];
    uint64_t value_bytes = 0;
    for (int i = 0; i < RECORDS; i++) {
        snprintf(values[i], sizeof values[i], "v%d%.*s", i, i % 11, "yyyyyyyyyyy");
        value_bytes += strlen(values[i]);
        msgs[i] = (kt_msg_t){.partition = i % PARTITIONS, .key = "k", .value = values[i]};
    }
    assert_int_equal(kt_produce(a, topic, msgs, RECORDS, NULL, NULL), 0);
    run_t tr = {&k, r.port, txn_remote, 30, 1};
    bool done = kt_wait_until(caught_up, &r, WAIT_MS) && kt_wait_until(caught_up, &tr, WAIT_MS);
    if (!done) kt_kmirror_print_log(&k);
    assert_true(done);
    check_metrics(&r, value_bytes, t0, kt_wall_ms());

    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
    kt_delete_topic(a, topic);
    kt_delete_topic(a, txn);
}

typedef struct txn_view {
    int port;
    const char *remote;
    bool behind; /* /status says the partition's lag is an open transaction's */
    int healthz;
} txn_view_t;

static bool behind_open_transaction(void *arg) {
    txn_view_t *v = arg;
    int code;
    char *t = NULL;
    if (kt_http_get(v->port, "/status", &code, &t) != 0) return false;
    json_t *doc = json_loads(t, 0, NULL);
    free(t);
    json_t *parts = json_object_get(json_array_get(json_object_get(doc, "flows"), 0), "partitions"), *p = NULL, *q;
    size_t i;
    json_array_foreach(parts, i, q) if (strcmp(json_string_value(json_object_get(q, "remote_topic")), v->remote) == 0) p = q;
    v->behind = json_is_true(json_object_get(p, "behind_open_transaction")) && json_integer_value(json_object_get(p, "lag_records")) == 10;
    json_decref(doc);
    if (kt_http_get(v->port, "/healthz", &v->healthz, &t) != 0) return false;
    free(t);
    return v->behind;
}

/* A source transaction left open holds a read_committed reader at its start: its records are lag,
 * but the partition is not stalled. kmirror must not call the flow degraded for as long as it
 * lasts (here 2.5 stall timeouts), and /status says what the lag is; once it commits, its records
 * arrive. With the last-stable-offset check disabled it fails at the first wait (the partition
 * is never reported behind the transaction); the 503 itself was not reproduced here. The window
 * is watched by polling every 200 ms: what is asserted is that nothing happens in it. */
static void test_open_source_transaction_is_no_stall(void **state) {
    if (!kt_it_ready()) skip();
    const char *a = getenv("KMIRROR_IT_A"), *b = getenv("KMIRROR_IT_B");
    char topic[128], remote[160];
    kt_unique_name("metrics-open", topic, sizeof topic);
    snprintf(remote, sizeof remote, "A.%s", topic);
    assert_int_equal(kt_create_topic(a, topic, 1, NULL), 0);
    kt_kmirror_t k;
    /* Longer than librdkafka's 5 s statistics, which carry the last stable offset, plus a refresh. */
    const int stall_ms = 10000;
    assert_int_equal(kt_kmirror_config(&k, "open-txn",
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = true\nA->B.topics = %s\nreplication.factor = 1\n"
                                       "offset.flush.interval.ms = 500\nmetrics.listen = 127.0.0.1:0\n"
                                       "replication.stall.timeout.ms = %d\ngroup.id = metrics-open-txn\n",
                                       a, b, topic, stall_ms),
                     0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    run_t r = {&k, 0, remote, 5, 1};
    assert_true(kt_wait_until(port_logged, &r, WAIT_MS));
    kt_msg_t msgs[5];
    for (int i = 0; i < 5; i++) msgs[i] = (kt_msg_t){.partition = 0, .key = "k", .value = "plain"};
    assert_int_equal(kt_produce(a, topic, msgs, 5, NULL, NULL), 0);
    assert_true(kt_wait_until(caught_up, &r, WAIT_MS));

    rd_kafka_t *tx = open_transaction(a, topic, 10);
    txn_view_t v = {r.port, remote, false, 0};
    assert_true(kt_wait_until(behind_open_transaction, &v, WAIT_MS));
    int64_t until = kt_wall_ms() + stall_ms * 5 / 2;
    while (kt_wall_ms() < until) {
        assert_true(behind_open_transaction(&v));
        if (v.healthz != 200) kt_kmirror_print_log(&k);
        assert_int_equal(v.healthz, 200);
        usleep(200 * 1000); /* how often to look during the window, not a wait for a condition */
    }
    assert_null(rd_kafka_commit_transaction(tx, 30000));
    rd_kafka_destroy(tx);
    r.records = 15;
    assert_true(kt_wait_until(caught_up, &r, WAIT_MS));
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
    kt_delete_topic(a, topic);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_of_a_real_run),
        cmocka_unit_test(test_open_source_transaction_is_no_stall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
