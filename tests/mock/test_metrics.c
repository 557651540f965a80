/* test_metrics.c — the observability endpoint during real replication on in-process mock
 * clusters: /metrics, /status and /healthz are scraped over HTTP while records flow, and their
 * numbers are checked against what was produced and what arrived (record and byte counts equal,
 * lag falls to 0, latency and age within the run's bounds), also while the target is down (lag
 * builds up, health turns 503) and after a task failed. `kmirror status` reads the same
 * endpoint. Every wait has a deadline; no assertion depends on how fast anything runs. The
 * endpoint keeps answering while clients hold half-sent requests open (slowloris). */
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
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PARTS 3
#define WAIT_MS 60000

typedef struct env {
    km_mock_t *a, *b;
    km_config_t cfg;
    km_diag_t d;
    km_mirror_t *m;
    int port;
    size_t produced;
    uint64_t value_bytes;
} env_t;

/* b_brokers 2: broker 2 of B leads A.orders [1] and nothing else. extra: more configuration lines. */
static env_t *env_start_with(int b_brokers, const char *extra) {
    env_t *e = km_xcalloc(1, sizeof(*e));
    char err[256];
    e->a = km_mock_new(1, err, sizeof(err));
    e->b = km_mock_new(b_brokers, err, sizeof(err));
    assert_non_null(e->a);
    assert_non_null(e->b);
    assert_int_equal(km_mock_create_topic(e->a, "orders", PARTS), 0);
    assert_int_equal(km_mock_create_topic(e->b, "A.orders", PARTS), 0);
    assert_int_equal(km_mock_create_topic(e->b, "mm2-offsets.A.internal", 25), 0);
    assert_int_equal(km_mock_create_topic(e->b, "mm2-kmirror-tasks.A.A-mm2.internal", 1), 0); /* the flow's one task */
    /* The mock cannot create topics, and the flow holds its positions back until its offset-syncs
     * topic exists; checkpoints need theirs. No heartbeats topic on A: its partition would count.
     * Heartbeats are off: librdkafka 2.0.2's mock creates any topic a client asks metadata of
     * (it takes Metadata v0-v2, which cannot say "don't"), so B->A's heartbeats would make
     * "heartbeats" appear on A mid-test, and A->B would then wait for A.heartbeats on B. */
    assert_int_equal(km_mock_create_topic(e->a, "mm2-offset-syncs.B.internal", 1), 0);
    assert_int_equal(km_mock_create_topic(e->b, "A.checkpoints.internal", 1), 0);
    if (b_brokers == 2) {
        rd_kafka_mock_cluster_t *mb = km_mock_cluster(e->b);
        for (int p = 0; p < 25; p++) rd_kafka_mock_partition_set_leader(mb, "mm2-offsets.A.internal", p, 1);
        for (int p = 0; p < PARTS; p++) rd_kafka_mock_partition_set_leader(mb, "A.orders", p, p == 1 ? 2 : 1);
        rd_kafka_mock_partition_set_leader(mb, "mm2-kmirror-tasks.A.A-mm2.internal", 0, 1);
        rd_kafka_mock_partition_set_leader(mb, "A.checkpoints.internal", 0, 1);
    }
    char *text = km_xasprintf("clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                              "A->B.enabled = true\nreplication.factor = 1\noffset.flush.interval.ms = 200\nemit.heartbeats.enabled = false\n"
                              "admin.timeout.ms = 10000\nshutdown.timeout.ms = 20000\nmetrics.listen = 127.0.0.1:0\n%s",
                              km_mock_bootstraps(e->a), km_mock_bootstraps(e->b), extra);
    assert_int_equal(km_config_load_buf(&e->cfg, text, strlen(text), "mock.properties", NULL, 0, &e->d), 0);
    free(text);
    e->m = km_mirror_start(&e->cfg);
    assert_non_null(e->m);
    e->port = km_mirror_http_port(e->m);
    assert_true(e->port > 0);
    return e;
}

static env_t *env_start(void) { return env_start_with(1, ""); }

static void env_free(env_t *e) {
    km_mirror_stop(e->m);
    km_config_free(&e->cfg);
    km_diag_free(&e->d);
    km_mock_free(e->a);
    km_mock_free(e->b);
    free(e);
}

/* n records, timestamped by the producer's clock (now), values of different lengths. */
static void produce(env_t *e, int n) {
    kt_msg_t *msgs = km_xcalloc((size_t)n, sizeof(*msgs));
    char (*vals)[48] = km_xcalloc((size_t)n, 48);
    for (int i = 0; i < n; i++) {
        size_t k = e->produced + (size_t)i;
        snprintf(vals[i], 48, "value-%zu%.*s", k, (int)(k % 17), "xxxxxxxxxxxxxxxxx");
        e->value_bytes += strlen(vals[i]);
        msgs[i] = (kt_msg_t){.partition = (int32_t)(k % PARTS), .key = "k", .value = vals[i]};
    }
    assert_int_equal(kt_produce(km_mock_bootstraps(e->a), "orders", msgs, (size_t)n, NULL, NULL), 0);
    e->produced += (size_t)n;
    free(msgs);
    free(vals);
}

static char *get(env_t *e, const char *path, int want_code) {
    int code;
    char *body;
    assert_int_equal(kt_http_get(e->port, path, &code, &body), 0);
    if (want_code) assert_int_equal(code, want_code);
    return body;
}

static char *scrape(env_t *e) {
    char *text = get(e, "/metrics", 200), err[256];
    int n = kt_prom_check(text, err, sizeof(err));
    if (n < 0) print_message("exposition: %s\n", err);
    assert_true(n > 0);
    return text;
}

typedef struct cond {
    env_t *e;
    double records, lag; /* wanted sums */
    int healthz;         /* wanted /healthz code, 0 = any */
    const char *reason;  /* wanted in the /healthz body */
} cond_t;

/* Ticks the mirror (as its main loop would) and checks one scrape against the wanted numbers. */
static bool scraped(void *arg) {
    cond_t *c = arg;
    km_mirror_tick(c->e->m);
    char *t = scrape(c->e);
    int nlag;
    double lag = kt_prom_sum(t, "kmirror_lag_records", NULL, &nlag);
    bool ok = kt_prom_sum(t, "kmirror_record_count_total", NULL, NULL) == c->records && nlag == PARTS && lag == c->lag;
    if (ok && c->lag == 0) ok = kt_prom_max(t, "kmirror_lag_seconds", NULL) == 0;
    free(t);
    if (ok && c->healthz) {
        int code;
        char *body;
        ok = kt_http_get(c->e->port, "/healthz", &code, &body) == 0 && code == c->healthz && (!c->reason || strstr(body, c->reason));
        free(body);
    }
    return ok;
}

static void wait_for(env_t *e, double records, double lag, int healthz, const char *reason) {
    cond_t c = {e, records, lag, healthz, reason};
    if (!kt_wait_until(scraped, &c, WAIT_MS)) {
        char *t = get(e, "/status", 0);
        print_message("waited for records=%g lag=%g healthz=%d; /status:\n%s\n", records, lag, healthz, t);
        free(t);
        fail();
    }
}

/* The final scrape against what was produced, with t0..t1 the bounds of the run. */
static void check_numbers(env_t *e, int64_t t0, int64_t t1) {
    char *t = scrape(e);
    for (int p = 0; p < PARTS; p++) {
        char part[16];
        snprintf(part, sizeof(part), "partition=%d", p);
        const char *sel[] = {"source=A", "target=B", "topic=A.orders", part, NULL};
        assert_true(kt_prom_sum(t, "kmirror_record_count_total", sel, NULL) == (double)(e->produced / PARTS));
    }
    assert_true(kt_prom_sum(t, "kmirror_byte_count_total", NULL, NULL) == (double)e->value_bytes);
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_count", NULL, NULL) == (double)e->produced);
    assert_true(kt_prom_sum(t, "kmirror_record_age_ms_count", NULL, NULL) == (double)e->produced);
    double bound = (double)(t1 - t0);
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_sum", NULL, NULL) <= bound * (double)e->produced);
    assert_true(kt_prom_max(t, "kmirror_replication_latency_ms_max", NULL) <= bound);
    assert_true(kt_prom_max(t, "kmirror_replication_latency_ms_min", NULL) >= 0);
    assert_true(kt_prom_max(t, "kmirror_record_age_ms_max", NULL) <= bound);
    /* Age is taken at consumption, latency at the later acknowledgement. */
    assert_true(kt_prom_max(t, "kmirror_record_age_ms_min", NULL) <= kt_prom_max(t, "kmirror_replication_latency_ms_max", NULL));
    const char *inf[] = {"le=+Inf", NULL};
    assert_true(kt_prom_sum(t, "kmirror_replication_latency_ms_bucket", inf, NULL) == (double)e->produced);
    assert_true(kt_prom_sum(t, "kmirror_record_rate", NULL, NULL) > 0);
    assert_true(kt_prom_sum(t, "kmirror_records_skipped_total", NULL, NULL) == 0);
    assert_true(kt_prom_sum(t, "kmirror_tasks", NULL, NULL) == 1);
    int n;
    assert_true(kt_prom_sum(t, "kmirror_partition_task", NULL, &n) == 0);
    assert_int_equal(n, PARTS);
    assert_true(kt_prom_sum(t, "kmirror_process_resident_memory_bytes", NULL, NULL) > 0);
    free(t);
}

static void check_status(env_t *e) {
    char *body = get(e, "/status", 200);
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(doc, "healthy")));
    json_t *flow = json_array_get(json_object_get(doc, "flows"), 0);
    assert_string_equal(json_string_value(json_object_get(flow, "state")), "running");
    json_t *tasks = json_object_get(flow, "tasks"), *parts = json_object_get(flow, "partitions"), *p;
    assert_int_equal(json_array_size(tasks), 1);
    assert_int_equal(json_array_size(json_object_get(json_array_get(tasks, 0), "partitions")), PARTS);
    assert_int_equal(json_array_size(parts), PARTS);
    size_t i;
    json_int_t records = 0;
    json_array_foreach(parts, i, p) {
        records += json_integer_value(json_object_get(p, "records"));
        assert_int_equal(json_integer_value(json_object_get(p, "lag_records")), 0);
        assert_string_equal(json_string_value(json_object_get(p, "remote_topic")), "A.orders");
    }
    assert_int_equal(records, (json_int_t)e->produced);
    json_decref(doc);
}

/* `kmirror status` as a person would run it. */
static void check_status_command(env_t *e) {
    const char *bin = getenv("KMIRROR_BIN");
    char url[64], log[] = "/tmp/kmirror-status-XXXXXX";
    int fd = mkstemp(log), status;
    assert_true(fd >= 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", e->port);
    char *argv[] = {(char *)(bin ? bin : "build/kmirror"), "status", "--url", url, NULL};
    pid_t pid = kt_spawn(argv, log);
    assert_true(pid > 0);
    assert_int_equal(kt_wait_exit(pid, WAIT_MS, &status), 0);
    char *out = kt_read_file(log);
    unlink(log);
    assert_non_null(out);
    print_message("%s", out);
    char mirrored[32];
    snprintf(mirrored, sizeof(mirrored), " %zu ", e->produced);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(out, ": healthy"));
    assert_non_null(strstr(out, "A.orders (3)"));
    assert_non_null(strstr(out, mirrored));
    free(out);
}

static void test_numbers_match_replication(void **state) {
    env_t *e = env_start();
    int64_t t0 = km_now_wall_ms();
    wait_for(e, 0, 0, 200, NULL);
    produce(e, 300);
    wait_for(e, 300, 0, 200, NULL);
    produce(e, 300);
    wait_for(e, 600, 0, 200, NULL);
    int64_t t1 = km_now_wall_ms();
    check_numbers(e, t0, t1);
    check_status(e);
    check_status_command(e);
    env_free(e);
}

/* With the target down, lag builds up to exactly what was produced meanwhile, its age grows, the
 * flow is degraded; once the target is back, lag falls to 0 and the flow runs again. */
static void test_lag_and_health_when_target_down(void **state) {
    env_t *e = env_start();
    produce(e, 30);
    wait_for(e, 30, 0, 200, NULL);
    rd_kafka_mock_broker_set_down(km_mock_cluster(e->b), 1);
    int64_t before = km_now_wall_ms();
    produce(e, 60);
    wait_for(e, 30, 60, 503, "no connection to any broker of cluster B");
    char *t = scrape(e);
    double lag_s = kt_prom_max(t, "kmirror_lag_seconds", NULL);
    free(t);
    /* At most the time since the records were produced, plus the 1 s the end offset is sampled at. */
    assert_true(lag_s > 0);
    assert_true(lag_s * 1000 <= (double)(km_now_wall_ms() - before) + 1000);
    rd_kafka_mock_broker_set_up(km_mock_cluster(e->b), 1);
    wait_for(e, 90, 0, 200, NULL);
    env_free(e);
}

/* A target broker that leads one partition goes down while the other answers: the task still
 * has a connection to B, so only that partition's standing position shows it. The flow turns
 * degraded naming the partition, and runs again once the partition's records are delivered.
 * Seen failing before the stall clock existed: /healthz stayed 200 for the whole 60 s wait. */
static void test_health_when_a_partition_stalls(void **state) {
    env_t *e = env_start_with(2, "replication.stall.timeout.ms = 2000\n");
    produce(e, 30);
    wait_for(e, 30, 0, 200, NULL);
    rd_kafka_mock_broker_set_down(km_mock_cluster(e->b), 2);
    produce(e, 60);
    wait_for(e, 70, 20, 503, "orders [1] has not moved for ");
    char *t = scrape(e), *body = get(e, "/status", 200);
    const char *one[] = {"partition=1", NULL};
    int n;
    assert_true(kt_prom_sum(t, "kmirror_partition_stalled", NULL, &n) == 1 && n == 1);
    assert_true(kt_prom_sum(t, "kmirror_partition_stalled", one, NULL) == 1);
    json_t *doc = json_loads(body, 0, NULL), *p;
    assert_non_null(doc);
    size_t i, stalled = 0;
    json_array_foreach(json_object_get(json_array_get(json_object_get(doc, "flows"), 0), "partitions"), i, p) {
        json_t *st = json_object_get(p, "stalled");
        if (json_is_null(st)) continue;
        stalled++;
        assert_int_equal(json_integer_value(json_object_get(p, "partition")), 1);
        assert_int_equal(json_integer_value(json_object_get(st, "offset")), 10);
        assert_true(json_integer_value(json_object_get(st, "seconds")) >= 2);
    }
    assert_int_equal(stalled, 1);
    json_decref(doc);
    free(body);
    free(t);
    rd_kafka_mock_broker_set_up(km_mock_cluster(e->b), 2);
    wait_for(e, 90, 0, 200, NULL);
    env_free(e);
}

static bool flow_failed(void *arg) { return !km_mirror_tick(arg); }

static void test_health_when_flow_failed(void **state) {
    env_t *e = env_start();
    produce(e, 3);
    wait_for(e, 3, 0, 200, NULL); /* the task runs (it starts once the flow's group assigned it) */
    /* A refused topic only stops its partitions (test_engine); a refused cluster fails the task.
     * Heartbeats also produce to B, once a second: enough errors that the task's next request
     * gets one. */
    rd_kafka_mock_push_request_errors(km_mock_cluster(e->b), 0 /* Produce */, 5, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
    produce(e, 3);
    assert_true(kt_wait_until(flow_failed, e->m, WAIT_MS));
    char *body = get(e, "/healthz", 503);
    assert_non_null(strstr(body, "flow A->B is failed: task 0: "));
    free(body);
    char *t = scrape(e);
    const char *failed[] = {"state=failed", NULL};
    assert_true(kt_prom_sum(t, "kmirror_flow_state", failed, NULL) == 1);
    free(t);
    env_free(e);
}

/* ---- slow clients --------------------------------------------------------------------------- */

/* A TCP connection to 127.0.0.1:port from address src (any 127.x.y.z is this host). */
static int connect_from(const char *src, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, src, &from.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
    return fd;
}

/* n connections from src, each sending the start of a request and never the rest. */
static int *open_slow(const char *src, int port, int n) {
    static const char partial[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    int *fds = km_xcalloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        fds[i] = connect_from(src, port);
        assert_int_equal(send(fds[i], partial, sizeof(partial) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(partial) - 1));
    }
    return fds;
}

/* Whether the server has not closed fd (nothing to read yet, no end of stream). */
static bool still_open(int fd) {
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static int count_open(const int *fds, int n) {
    int open = 0;
    for (int i = 0; i < n; i++) open += still_open(fds[i]);
    return open;
}

static void close_all(int *fds, int n) {
    for (int i = 0; i < n; i++) close(fds[i]);
    free(fds);
}

/* GET path from src with everything (connect, request, whole answer) done within timeout_ms.
 * The HTTP status, or -1 when there was no complete answer in time. */
static int get_within(const char *src, int port, const char *path, int timeout_ms) {
    int64_t deadline = km_now_mono_ms() + timeout_ms;
    int fd = connect_from(src, port);
    char req[256], *resp = km_xmalloc(1 << 20);
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    int code = -1;
    size_t len = 0;
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        for (;;) {
            int64_t left = deadline - km_now_mono_ms();
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (left <= 0 || poll(&p, 1, (int)left) != 1) break;
            ssize_t r = recv(fd, resp + len, (1 << 20) - 1 - len, 0);
            if (r <= 0) { /* the whole answer: the server closed after it */
                resp[len] = '\0';
                if (r == 0 && sscanf(resp, "HTTP/1.%*d %d", &code) != 1) code = -1;
                break;
            }
            len += (size_t)r;
        }
    }
    close(fd);
    free(resp);
    return code;
}

#define SLOW 40
/* Well under the endpoint's idle timeout (5 s): an answer in time cannot be due to the server
 * having dropped the slow clients, and still_open below checks that it has not. */
#define PROBE_MS 3000

/* 40 clients hold half-sent requests (before: 32 connections at most, held for 30 s, so nothing
 * else was served); a probe and a scrape from the same address are still answered at once. */
static void test_answers_beside_slow_clients(void **state) {
    env_t *e = env_start();
    wait_for(e, 0, 0, 200, NULL);
    int *slow = open_slow("127.0.0.1", e->port, SLOW);
    assert_int_equal(get_within("127.0.0.1", e->port, "/healthz", PROBE_MS), 200);
    assert_int_equal(get_within("127.0.0.1", e->port, "/metrics", PROBE_MS), 200);
    assert_int_equal(count_open(slow, SLOW), SLOW); /* answered while every slow one was held */
    close_all(slow, SLOW);
    env_free(e);
}

typedef struct refused {
    const int *fds;
    int n, max_open;
} refused_t;

static bool at_most_open(void *arg) {
    refused_t *r = arg;
    return count_open(r->fds, r->n) <= r->max_open;
}

/* One address opening 300 slow connections gets only its share (64); the rest are closed at
 * once, and a probe from another address is answered. */
static void test_one_address_holds_only_its_share(void **state) {
    env_t *e = env_start();
    enum { N = 300, PER_ADDRESS = 64 };
    wait_for(e, 0, 0, 200, NULL);
    int *slow = open_slow("127.0.0.1", e->port, N);
    refused_t r = {slow, N, PER_ADDRESS};
    assert_true(kt_wait_until(at_most_open, &r, PROBE_MS));
    assert_int_equal(get_within("127.0.0.2", e->port, "/healthz", PROBE_MS), 200);
    assert_int_equal(get_within("127.0.0.2", e->port, "/metrics", PROBE_MS), 200);
    assert_int_equal(count_open(slow, N), PER_ADDRESS);
    close_all(slow, N);
    env_free(e);
}

int main(void) {
    km_log_set_level(KM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_match_replication),
        cmocka_unit_test(test_lag_and_health_when_target_down),
        cmocka_unit_test(test_health_when_a_partition_stalls),
        cmocka_unit_test(test_health_when_flow_failed),
        cmocka_unit_test(test_answers_beside_slow_clients),
        cmocka_unit_test(test_one_address_holds_only_its_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
