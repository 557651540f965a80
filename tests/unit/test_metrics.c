/* test_metrics.c — the metric model without Kafka: window and histogram arithmetic, lag, the
 * Prometheus exposition (checked line by line by tests/support/kt_metrics.c), the /status
 * document, health, librdkafka statistics parsing and the HTTP endpoint itself. Time is passed
 * in explicitly, so nothing here waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http.h"
#include "kt_metrics.h"
#include "metrics.h"
#include "reject.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W KM_WINDOW_MS

/* ---- windows and histograms ---------------------------------------------------------------- */

static void test_window(void **state) {
    km_window_t w = {0};
    km_window_view_t v = km_window_read(&w, 1000);
    assert_int_equal(v.count, 0);
    km_window_observe(&w, 1000, 5, 10);
    km_window_observe(&w, 1500, 7, 10);
    km_window_observe(&w, 2000, 3, 10);
    km_window_observe(&w, 2500, -1, 10); /* no value, only extra */
    v = km_window_read(&w, 3000);
    assert_int_equal(v.count, 3);
    assert_int_equal(v.min, 3);
    assert_int_equal(v.max, 7);
    assert_true(v.avg == 5.0);
    assert_int_equal(v.extra, 40);
    assert_true(v.seconds == (3000.0 + W) / 1000.0); /* the previous epoch counts as covered */
    /* Next epoch: both slots are read. */
    km_window_observe(&w, W + 100, 10, 0);
    v = km_window_read(&w, W + 200);
    assert_int_equal(v.count, 4);
    assert_int_equal(v.min, 3);
    assert_int_equal(v.max, 10);
    /* Two epochs on, the first slot is reset before it is reused. */
    km_window_observe(&w, 2 * W + 1, 1, 0);
    v = km_window_read(&w, 2 * W + 2);
    assert_int_equal(v.count, 2);
    assert_int_equal(v.min, 1);
    assert_int_equal(v.max, 10);
    assert_true(v.avg == 5.5);
    assert_int_equal(v.extra, 0);
    /* Nothing observed for a while: old slots age out on their own. */
    v = km_window_read(&w, 3 * W + 5);
    assert_int_equal(v.count, 1);
    assert_int_equal(v.max, 1);
    v = km_window_read(&w, 4 * W + 5);
    assert_int_equal(v.count, 0);
}

static void test_histogram(void **state) {
    static const int64_t cases[][2] = {{-5, 0}, {0, 0}, {1, 0}, {2, 1}, {5, 1}, {6, 2}, {1000, 8}, {1001, 9},
                                       {3600000, KM_HIST_NBOUNDS - 1}, {3600001, KM_HIST_NBOUNDS}};
    static const int64_t bounds[KM_HIST_NBOUNDS] = KM_HIST_BOUNDS;
    for (int i = 0; i < KM_HIST_NBOUNDS; i++) { /* a bound is in its own bucket, one past it in the next */
        assert_int_equal(km_hist_bucket(bounds[i]), i);
        assert_int_equal(km_hist_bucket(bounds[i] + 1), i + 1);
    }
    km_hist_t h = {0};
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(km_hist_bucket(cases[i][0]), cases[i][1]);
        km_hist_observe(&h, cases[i][0]);
        sum += cases[i][0] > 0 ? (uint64_t)cases[i][0] : 0;
    }
    km_hist_view_t v = km_hist_read(&h);
    assert_int_equal(v.count, sizeof(cases) / sizeof(cases[0]));
    assert_int_equal(v.sum, sum);
    assert_int_equal(v.bucket[0], 3);
    assert_int_equal(v.bucket[KM_HIST_NBOUNDS], 1);
}

/* ---- a registry with known contents -------------------------------------------------------- */

static km_flow_t flow_named(const char *source, const char *target) {
    km_flow_t f;
    memset(&f, 0, sizeof(f));
    f.source = (char *)source;
    f.target = (char *)target;
    f.name = km_xasprintf("%s->%s", source, target);
    f.s.tasks_max = 2;
    return f;
}

typedef struct fixture {
    km_flow_t f1, f2;
    km_metrics_t *m;
    km_flow_metrics_t *fm1, *fm2;
} fixture_t;

#define T0 1700000000000LL /* a wall clock */

/* A->B: orders[0] replicated 3 records (latencies 10, 20, 30 ms, ages 4, 5, 6 ms), 5 behind;
 * orders[1] caught up. B->A: nothing yet, one checkpoint with a group name needing escapes. */
static int setup(void **state) {
    fixture_t *x = km_xcalloc(1, sizeof(*x));
    x->f1 = flow_named("A", "B");
    x->f2 = flow_named("B", "A");
    x->m = km_metrics_new();
    x->fm1 = km_metrics_add_flow(x->m, &x->f1);
    x->fm2 = km_metrics_add_flow(x->m, &x->f2);
    km_part_stats_t *p1 = km_flow_metrics_part(x->fm1, "orders", "A.orders", 1);
    km_part_stats_t *p0 = km_flow_metrics_part(x->fm1, "orders", "A.orders", 0);
    assert_ptr_equal(km_flow_metrics_part(x->fm1, "orders", "A.orders", 0), p0);
    km_part_assigned(p0, 0);
    km_part_assigned(p1, 1);
    for (int i = 1; i <= 3; i++) {
        km_part_polled(p0, 100, T0 - 3 + i, T0 + i); /* age 3 + ... see below */
        km_part_acked(p0, T0 - 3 + i, T0 - 3 + i + 10 * i);
    }
    km_part_watermarks(p0, 15, 10, false, T0 + 100, km_now_mono_ms());
    km_part_watermarks(p1, 7, 7, false, T0 + 100, km_now_mono_ms());
    km_task_slot_started(km_flow_metrics_task(x->fm1, 0));
    km_task_slot_started(km_flow_metrics_task(x->fm1, 1));
    km_flow_metrics_state(x->fm1, KM_FLOW_RUNNING, NULL);
    km_flow_metrics_state(x->fm2, KM_FLOW_RUNNING, NULL);
    assert_int_equal(km_metrics_checkpoint_observe(x->m, "B", "A", "we\"ird\\group\nx", "payments", 2, 42), 0);
    assert_int_equal(km_metrics_checkpoint_observe(x->m, "C", "A", "g", "t", 0, 1), -1);
    *state = x;
    return 0;
}

static int teardown(void **state) {
    fixture_t *x = *state;
    km_metrics_free(x->m);
    free(x->f1.name);
    free(x->f2.name);
    free(x);
    return 0;
}

static void test_snapshot_values(void **state) {
    fixture_t *x = *state;
    km_snapshot_t *s = km_metrics_snapshot(x->m, T0 + 1000);
    assert_int_equal(s->nflows, 2);
    const km_flow_snap_t *f = &s->flows[0];
    assert_string_equal(f->name, "A->B");
    assert_int_equal(f->nparts, 2);
    const km_part_snap_t *p0 = &f->parts[0], *p1 = &f->parts[1]; /* sorted by partition */
    assert_int_equal(p0->partition, 0);
    assert_int_equal(p0->records, 3);
    assert_int_equal(p0->bytes, 300);
    assert_int_equal(p0->latency_w.min, 10);
    assert_int_equal(p0->latency_w.max, 30);
    assert_true(p0->latency_w.avg == 20.0);
    assert_int_equal(p0->latency.count, 3);
    assert_int_equal(p0->latency.sum, 60);
    assert_int_equal(p0->age_w.min, 3);
    assert_int_equal(p0->age_w.max, 3);
    assert_int_equal(p0->lag_records, 5);
    /* Behind: the oldest unmirrored record is at most as old as the last one mirrored (T0). */
    assert_int_equal(p0->lag_ms, 1000);
    assert_int_equal(p1->lag_records, 0);
    assert_int_equal(p1->lag_ms, 0);
    assert_int_equal(f->ntasks, 2);
    assert_int_equal(f->tasks[0].partitions, 1);
    assert_int_equal(s->flows[1].nckpts, 1);
    assert_int_equal(s->flows[1].ckpts[0].h.count, 1);
    assert_true(s->rss_bytes > 0);
    km_snapshot_free(s);
}

static void test_unassigned_partition_has_no_lag(void **state) {
    fixture_t *x = *state;
    km_part_assigned(km_flow_metrics_part(x->fm1, "orders", "A.orders", 0), -1);
    km_snapshot_t *s = km_metrics_snapshot(x->m, T0 + 1000);
    assert_int_equal(s->flows[0].parts[0].task, -1);
    assert_int_equal(s->flows[0].parts[0].lag_records, -1);
    assert_int_equal(s->flows[0].parts[0].lag_ms, -1);
    km_snapshot_free(s);
}

/* ---- Prometheus ---------------------------------------------------------------------------- */

static char *render(fixture_t *x) {
    km_snapshot_t *s = km_metrics_snapshot(x->m, T0 + 1000);
    char *text = km_metrics_prometheus(s);
    km_snapshot_free(s);
    return text;
}

static void test_exposition_parses(void **state) {
    fixture_t *x = *state;
    char *text = render(x), err[256] = "";
    int n = kt_prom_check(text, err, sizeof(err));
    if (n < 0) print_message("%s\n", err);
    assert_true(n > 50);
    free(text);
}

static void test_exposition_values(void **state) {
    fixture_t *x = *state;
    char *t = render(x);
    const char *p0[] = {"source=A", "target=B", "topic=A.orders", "partition=0", NULL};
    const char *ab[] = {"source=A", "target=B", NULL};
    assert_true(kt_prom_sum(t, "kmirror_record_count_total", p0, NULL) == 3);
    assert_true(kt_prom_sum(t, "kmirror_byte_count_total", ab, NULL) == 300);
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_max", p0, NULL) == 30);
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_avg", p0, NULL) == 20);
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_count", p0, NULL) == 3);
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_sum", p0, NULL) == 60);
    const char *le10[] = {"topic=A.orders", "partition=0", "le=10", NULL}, *le25[] = {"topic=A.orders", "partition=0", "le=25", NULL};
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_bucket", le10, NULL) == 1);
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_bucket", le25, NULL) == 2);
    assert_true(kt_prom_sum(t, "kmirror_lag_records", ab, NULL) == 5);
    assert_true(kt_prom_sum(t, "kmirror_lag_seconds", p0, NULL) == 1.0);
    const char *running[] = {"source=A", "target=B", "state=running", NULL};
    assert_true(kt_prom_sum(t, "kmirror_flow_state", running, NULL) == 1);
    assert_true(kt_prom_sum(t, "kmirror_flow_state", ab, NULL) == 1);
    int n;
    kt_prom_sum(t, "kmirror_partition_task", ab, &n);
    assert_int_equal(n, 2);
    /* A partition with no record in the window has no min/max/avg sample rather than a made-up 0. */
    const char *p1[] = {"topic=A.orders", "partition=1", NULL};
    kt_prom_sum(t, "kmirror_replication_latency_ms_min", p1, &n);
    assert_int_equal(n, 0);
    /* The label value is escaped in the text and comes back intact. */
    assert_non_null(strstr(t, "group=\"we\\\"ird\\\\group\\nx\""));
    const char *ck[] = {"source=B", "target=A", "group=we\"ird\\group\nx", "topic=payments", "partition=2", NULL};
    assert_true(kt_prom_sum(t, "kmirror_checkpoint_latency_ms_sum", ck, NULL) == 42);
    assert_true(kt_prom_sum(t, "kmirror_checkpoint_latency_ms_count", ck, NULL) == 1);
    assert_true(kt_prom_sum(t, "kmirror_process_resident_memory_bytes", NULL, NULL) > 0);
    free(t);
}

/* Records rejected from internal topics are counted per topic, each distinct record once. */
static void test_rejected_records_counted(void **state) {
    fixture_t *x = *state;
    km_reject("mm2-offsets.A.internal", 3, 17, "test");
    km_reject("mm2-offsets.A.internal", 3, 17, "test"); /* read again: not counted again */
    km_reject("mm2-offsets.A.internal", 3, 18, "test");
    char *t = render(x), err[256] = "";
    const char *topic[] = {"topic=mm2-offsets.A.internal", NULL};
    assert_true(kt_prom_sum(t, "kmirror_internal_records_rejected_total", topic, NULL) == 2);
    assert_true(kt_prom_check(t, err, sizeof(err)) > 0);
    free(t);
}

/* The checker must reject what Prometheus would reject, or passing it proves nothing. */
static void test_checker_rejects(void **state) {
    static const char *const bad[] = {
        "x 1\n",                                                           /* no TYPE */
        "# TYPE x gauge\nx{a=\"b} 1\n",                                    /* unterminated value */
        "# TYPE x gauge\nx{a=\"\\t\"} 1\n",                                /* bad escape */
        "# TYPE x gauge\nx{a=\"1\"} one\n",                                /* bad value */
        "# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"2\"} 1\n",         /* not contiguous */
        "# TYPE x gauge\nx 1\n# HELP x late\n",                            /* HELP after samples */
        "# TYPE x counter\nx 1\n",                                         /* counter without _total */
        "# TYPE x gauge\nx 1\nx 2\n",                                      /* duplicate series */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", /* not cumulative */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",        /* count mismatch */
        "# TYPE x gauge\nx 1",                                             /* no final newline */
        "# TYPE 1x gauge\n",                                               /* bad name */
    };
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (kt_prom_check(bad[i], err, sizeof(err)) >= 0) print_message("accepted: %s", bad[i]);
        assert_int_equal(kt_prom_check(bad[i], err, sizeof(err)), -1);
    }
    assert_int_equal(kt_prom_check("# HELP x y\n# TYPE x gauge\nx{a=\"\\\"\\\\\\n\"} +Inf\nx 1 1700000000000\n", err, sizeof(err)), 2);
}

/* ---- /status and health -------------------------------------------------------------------- */

static void test_status_json(void **state) {
    fixture_t *x = *state;
    km_snapshot_t *s = km_metrics_snapshot(x->m, T0 + 1000);
    json_t *doc = km_metrics_status_json(s);
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    km_snapshot_free(s);
    doc = json_loads(text, 0, NULL); /* what a client gets */
    free(text);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(doc, "healthy")));
    json_t *f = json_array_get(json_object_get(doc, "flows"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "state")), "running");
    json_t *p0 = json_array_get(json_object_get(f, "partitions"), 0);
    assert_int_equal(json_integer_value(json_object_get(p0, "records")), 3);
    assert_int_equal(json_integer_value(json_object_get(p0, "lag_records")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p0, "replication_latency_ms"), "max")), 30);
    json_t *t0 = json_array_get(json_object_get(f, "tasks"), 0);
    assert_int_equal(json_array_size(json_object_get(t0, "partitions")), 1);
    json_t *ck = json_array_get(json_object_get(json_array_get(json_object_get(doc, "flows"), 1), "checkpoints"), 0);
    assert_string_equal(json_string_value(json_object_get(ck, "group")), "we\"ird\\group\nx");
    json_decref(doc);
}

static void test_health(void **state) {
    fixture_t *x = *state;
    km_snapshot_t *s = km_metrics_snapshot(x->m, T0);
    char *reason = NULL;
    assert_int_equal(s->main_idle_ms, -1); /* before the main loop's first run */
    assert_true(km_metrics_healthy(s, &reason));
    assert_null(reason);
    km_snapshot_free(s);
    km_metrics_main_ran(x->m);
    s = km_metrics_snapshot(x->m, T0);
    assert_in_range(s->main_idle_ms, 0, 1000);
    assert_true(km_metrics_healthy(s, NULL));
    /* A main loop that stopped running (blocked in a call that never returns) is a stuck
     * process, whatever the flows last said. */
    s->main_idle_ms = KM_MAIN_STUCK_MS + 5000;
    assert_false(km_metrics_healthy(s, &reason));
    assert_string_equal(reason, "kmirror's main loop has not run for 65 s (it runs every 0.1 s): the process is stuck; restart it");
    free(reason);
    reason = NULL;
    km_snapshot_free(s);
    km_flow_metrics_state(x->fm2, KM_FLOW_DEGRADED, "cannot list topics on B: timed out");
    s = km_metrics_snapshot(x->m, T0);
    assert_false(km_metrics_healthy(s, &reason));
    assert_string_equal(reason, "flow B->A is degraded: cannot list topics on B: timed out");
    free(reason);
    km_snapshot_free(s);
    /* A task without a connection to its target degrades a running flow. */
    const char *stats = "{\"brokers\":{\"b:1/1\":{\"source\":\"learned\",\"state\":\"DOWN\",\"txretries\":3,\"txerrs\":1},"
                        "\"b:1/bootstrap\":{\"source\":\"configured\",\"state\":\"INIT\",\"txretries\":1,\"txerrs\":0},"
                        "\"GroupCoordinator\":{\"source\":\"logical\",\"state\":\"UP\",\"txretries\":100,\"txerrs\":100}}}";
    km_task_slot_client_stats(km_flow_metrics_task(x->fm1, 1), true, stats, strlen(stats));
    km_flow_metrics_state(x->fm1, KM_FLOW_FAILED, "task 0: cannot write");
    km_flow_metrics_state(x->fm1, KM_FLOW_RUNNING, NULL); /* failed is final */
    s = km_metrics_snapshot(x->m, T0);
    assert_int_equal(s->flows[0].state, KM_FLOW_FAILED);
    assert_int_equal(s->flows[0].request_retries, 4);
    assert_int_equal(s->flows[0].request_errors, 1);
    assert_int_equal(s->flows[0].tasks[1].target_up, 0);
    km_snapshot_free(s);
}

static void test_connectivity_degrades(void **state) {
    fixture_t *x = *state;
    km_task_slot_t *ts = km_flow_metrics_task(x->fm1, 0);
    const char *down = "{\"brokers\":{\"a:1/1\":{\"source\":\"learned\",\"state\":\"CONNECT\"}}}";
    const char *up = "{\"brokers\":{\"a:1/1\":{\"source\":\"learned\",\"state\":\"UP\"}}}";
    km_task_slot_client_stats(ts, false, down, strlen(down));
    km_snapshot_t *s = km_metrics_snapshot(x->m, T0);
    assert_int_equal(s->flows[0].state, KM_FLOW_DEGRADED);
    assert_string_equal(s->flows[0].reason, "task 0 has no connection to any broker of cluster A");
    km_snapshot_free(s);
    km_task_slot_client_stats(ts, false, up, strlen(up));
    s = km_metrics_snapshot(x->m, T0);
    assert_int_equal(s->flows[0].state, KM_FLOW_RUNNING);
    km_snapshot_free(s);
    /* A new producer starts counting from 0 again: its totals are added, not subtracted. */
    const char *p1 = "{\"brokers\":{\"b/1\":{\"source\":\"learned\",\"state\":\"UP\",\"txretries\":5,\"txerrs\":0}}}";
    km_task_slot_client_stats(ts, true, p1, strlen(p1));
    km_task_slot_stopped(ts);
    km_task_slot_started(ts);
    const char *p2 = "{\"brokers\":{\"b/1\":{\"source\":\"learned\",\"state\":\"UP\",\"txretries\":2,\"txerrs\":0}}}";
    km_task_slot_client_stats(ts, true, p2, strlen(p2));
    s = km_metrics_snapshot(x->m, T0);
    assert_int_equal(s->flows[0].request_retries, 7);
    km_snapshot_free(s);
}

/* ---- the endpoint -------------------------------------------------------------------------- */

static void test_listen_parse(void **state) {
    static const char *const good[][3] = {{"9464", "127.0.0.1", "9464"}, {":9464", "127.0.0.1", "9464"},
                                          {"0.0.0.0:80", "0.0.0.0", "80"}, {"[::1]:9464", "::1", "9464"},
                                          {"localhost:0", "localhost", "0"}};
    char *host, *port, err[256];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(km_http_parse_listen(good[i][0], &host, &port, err, sizeof(err)), 0);
        assert_string_equal(host, good[i][1]);
        assert_string_equal(port, good[i][2]);
        free(host);
        free(port);
    }
    static const char *const bad[] = {"", "host:", "host:http", "[::1]9464", "1.2.3.4:70000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(km_http_parse_listen(bad[i], &host, &port, err, sizeof(err)), -1);
}

static void test_http_endpoint(void **state) {
    fixture_t *x = *state;
    char err[256];
    km_http_t *h = km_http_start("127.0.0.1:0", x->m, NULL, err, sizeof(err));
    assert_non_null(h);
    int port = km_http_port(h), code;
    assert_true(port > 0);
    char *body;
    assert_int_equal(kt_http_get(port, "/metrics", &code, &body), 0);
    assert_int_equal(code, 200);
    assert_true(kt_prom_check(body, err, sizeof(err)) > 0);
    free(body);
    assert_int_equal(kt_http_get(port, "/healthz", &code, &body), 0);
    assert_int_equal(code, 200);
    assert_string_equal(body, "ok\n");
    free(body);
    km_flow_metrics_state(x->fm1, KM_FLOW_FAILED, "task 0: cannot write to A.orders [0] on B: Broker: Topic authorization failed");
    assert_int_equal(kt_http_get(port, "/healthz", &code, &body), 0);
    assert_int_equal(code, 503);
    assert_non_null(strstr(body, "flow A->B is failed: task 0: cannot write"));
    free(body);
    assert_int_equal(kt_http_get(port, "/nothing", &code, &body), 0);
    assert_int_equal(code, 404);
    free(body);
    /* kmirror's own client, used by `kmirror status`. */
    char *url = km_xasprintf("http://127.0.0.1:%d/status", port);
    assert_int_equal(km_http_get(url, 5000, &code, &body, err, sizeof(err)), 0);
    assert_int_equal(code, 200);
    json_t *doc = json_loads(body, 0, NULL);
    assert_false(json_is_true(json_object_get(doc, "healthy")));
    json_decref(doc);
    free(body);
    free(url);
    /* The port is taken now. */
    char *again = km_xasprintf("127.0.0.1:%d", port);
    assert_null(km_http_start(again, x->m, NULL, err, sizeof(err)));
    free(again);
    km_http_stop(h);
}

/* The reload outcome (Prometheus's metric names), a flow a reload removed (hidden, its entry
 * kept) and brought back (its counters go on, starting again), and POST /-/reload. */
typedef struct fake {
    int rc, calls;
} fake_t;

static int fake_reload(void *arg, char *why, size_t whylen) {
    fake_t *f = arg;
    f->calls++;
    snprintf(why, whylen, "x.properties:3: flow A->B: 'tasks.max' must be an integer");
    return f->rc;
}

/* Two flows' tasks share one in-flight budget: their shares add up, the total holds every flow
 * back once over inflight.max.bytes, and the total and the budget are shown. */
static void test_inflight_budget_shared_and_shown(void **state) {
    fixture_t *x = *state;
    km_metrics_set_budget(x->m, 4000, 1000);
    km_flow_metrics_inflight_add(x->fm1, 600);
    assert_int_equal(km_flow_metrics_inflight_room(x->fm2), 400);
    km_flow_metrics_inflight_add(x->fm2, 500);
    assert_int_equal(km_flow_metrics_inflight_room(x->fm1), -100);
    assert_int_equal(km_flow_metrics_inflight_room(x->fm2), -100);
    char *t = render(x);
    assert_true(kt_prom_sum(t, "kmirror_inflight_bytes", NULL, NULL) == 1100);
    assert_true(kt_prom_sum(t, "kmirror_inflight_max_bytes", NULL, NULL) == 1000);
    assert_true(kt_prom_sum(t, "kmirror_memory_max_bytes", NULL, NULL) == 4000);
    free(t);
    km_snapshot_t *s = km_metrics_snapshot(x->m, T0);
    json_t *doc = km_metrics_status_json(s);
    assert_int_equal(json_integer_value(json_object_get(doc, "inflight_bytes")), 1100);
    assert_int_equal(json_integer_value(json_object_get(doc, "inflight_max_bytes")), 1000);
    assert_int_equal(json_integer_value(json_object_get(doc, "memory_max_bytes")), 4000);
    json_decref(doc);
    km_snapshot_free(s);
    km_flow_metrics_inflight_add(x->fm1, -600); /* acknowledged */
    assert_int_equal(km_flow_metrics_inflight_room(x->fm1), 500);
}

static void test_reload_outcome(void **state) {
    fixture_t *x = *state;
    km_snapshot_t *s = km_metrics_snapshot(x->m, T0);
    char *text = km_metrics_prometheus(s);
    assert_true(kt_prom_sum(text, "kmirror_config_last_reload_successful", NULL, NULL) == 1);
    double t0 = kt_prom_sum(text, "kmirror_config_last_reload_success_timestamp_seconds", NULL, NULL);
    assert_true(t0 > 0);
    free(text);
    km_snapshot_free(s);

    km_metrics_reloaded(x->m, "x.properties:3: bad");
    km_metrics_retire_flow(x->m, x->fm2);
    s = km_metrics_snapshot(x->m, T0);
    text = km_metrics_prometheus(s);
    char err[256];
    assert_true(kt_prom_check(text, err, sizeof(err)) > 0);
    assert_true(kt_prom_sum(text, "kmirror_config_last_reload_successful", NULL, NULL) == 0);
    assert_true(kt_prom_sum(text, "kmirror_config_last_reload_success_timestamp_seconds", NULL, NULL) == t0);
    assert_null(strstr(text, "source=\"B\""));
    free(text);
    json_t *doc = km_metrics_status_json(s);
    json_t *cfg = json_object_get(doc, "config");
    assert_true(json_is_false(json_object_get(cfg, "last_reload_successful")));
    assert_string_equal(json_string_value(json_object_get(cfg, "last_reload_error")), "x.properties:3: bad");
    assert_int_equal(json_array_size(json_object_get(doc, "flows")), 1);
    json_decref(doc);
    km_snapshot_free(s);

    assert_ptr_equal(km_metrics_add_flow(x->m, &x->f2), x->fm2); /* back: the same series */
    km_metrics_reloaded(x->m, NULL);
    s = km_metrics_snapshot(x->m, T0);
    assert_int_equal(s->nflows, 2);
    assert_true(s->reload_ok && !s->reload_error);
    km_snapshot_free(s);

    km_http_t *h = km_http_start("127.0.0.1:0", x->m, NULL, err, sizeof(err));
    assert_non_null(h);
    fake_t fake = {-1, 0};
    int code, port = km_http_port(h);
    km_http_on_reload(h, fake_reload, &fake);
    char *body;
    assert_int_equal(kt_http_request(port, "POST", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 403);
    free(body);
    km_http_set_lifecycle(h, true);
    assert_int_equal(kt_http_request(port, "GET", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 405);
    free(body);
    assert_int_equal(fake.calls, 0);
    assert_int_equal(kt_http_request(port, "POST", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 500);
    assert_string_equal(body, "x.properties:3: flow A->B: 'tasks.max' must be an integer\n");
    free(body);
    fake.rc = 0;
    assert_int_equal(kt_http_request(port, "PUT", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 200);
    free(body);
    assert_int_equal(fake.calls, 2);
    km_http_stop(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test_setup_teardown(test_snapshot_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unassigned_partition_has_no_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exposition_parses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exposition_values, setup, teardown),
        cmocka_unit_test(test_checker_rejects),
        cmocka_unit_test_setup_teardown(test_rejected_records_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connectivity_degrades, setup, teardown),
        cmocka_unit_test(test_listen_parse),
        cmocka_unit_test_setup_teardown(test_http_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_budget_shared_and_shown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
