/* test_engine.c — the replication engine on in-process mock clusters: fast fidelity checks and
 * the faults librdkafka's mock can inject (request errors, a target broker going down, RTT),
 * plus stop/restart from stored positions. The same scenarios run against real Kafka in
 * tests/it; these are the quick, deterministic variants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clientconf.h"
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

static void env_start_with(env_t *e, const char *extra) {
    char *text = km_xasprintf("clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                              "A->B.enabled = true\nreplication.factor = 1\noffset.flush.interval.ms = 200\n"
                              "admin.timeout.ms = 10000\nshutdown.timeout.ms = 20000\n%s",
                              km_mock_bootstraps(e->a), km_mock_bootstraps(e->b), extra);
    memset(&e->cfg, 0, sizeof(e->cfg));
    assert_int_equal(km_config_load_buf(&e->cfg, text, strlen(text), "mock.properties", NULL, 0, &e->d), 0);
    free(text);
    e->m = km_mirror_start(&e->cfg);
    assert_non_null(e->m);
}

static void env_start(env_t *e) { env_start_with(e, ""); }

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
    return kt_topic_records(km_mock_bootstraps(w->e->b), w->remote, w->partitions) >= (int64_t)w->want;
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
        /* the source's headers in order, then the record path kmirror adds (provenance.h) */
        assert_int_equal(src[i].header_cnt + 1, dst[i].header_cnt);
        assert_string_equal(dst[i].headers[src[i].header_cnt].name, "kmirror.path");
        assert_string_equal(dst[i].headers[src[i].header_cnt].value, "A");
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

/* The round trips to both clusters the flow timed at its start, the prefetch it gave each task
 * and the produce requests in flight its producers took from librdkafka (one for a target under
 * KM_LAN_RTT_US away, else librdkafka's 5 for an idempotent producer), as /status and /metrics
 * show them. Returns the prefetch. */
static int64_t assert_clients_sized(env_t *e, int64_t min_rtt_us, int64_t max_rtt_us) {
    km_snapshot_t *s = km_metrics_snapshot(km_mirror_metrics(e->m), km_now_wall_ms());
    int64_t rtt = s->flows[0].source_rtt_us, share = e->cfg.flows[0].s.prefetch_max_bytes, trtt = s->flows[0].target_rtt_us;
    if (rtt < min_rtt_us || rtt > max_rtt_us || trtt < min_rtt_us || trtt > max_rtt_us)
        print_message("# round trips: source %lld us, target %lld us\n", (long long)rtt, (long long)trtt);
    assert_true(rtt >= min_rtt_us && rtt <= max_rtt_us);
    assert_true(trtt >= min_rtt_us && trtt <= max_rtt_us);
    assert_int_equal(s->flows[0].prefetch_bytes, km_clientconf_prefetch_for_rtt(share, rtt));
    assert_int_equal(s->flows[0].produce_requests, trtt < KM_LAN_RTT_US ? 1 : 5);
    assert_int_equal(s->flows[0].task_inflight_bytes, trtt < KM_LAN_RTT_US ? 33554432 : e->cfg.inflight_max_bytes);
    char *text = km_metrics_prometheus(s);
    assert_non_null(strstr(text, "\nkmirror_source_round_trip_seconds{"));
    assert_non_null(strstr(text, "\nkmirror_prefetch_max_bytes{"));
    assert_non_null(strstr(text, "\nkmirror_target_round_trip_seconds{"));
    assert_non_null(strstr(text, "\nkmirror_produce_requests_in_flight_max{"));
    assert_non_null(strstr(text, "\nkmirror_task_inflight_max_bytes{"));
    free(text);
    int64_t prefetch = s->flows[0].prefetch_bytes;
    km_snapshot_free(s);
    return prefetch;
}

static void test_fidelity_and_restart(void **state) {
    env_t *e = env_new("orders", 3, 1);
    produce_n(e, "orders", 0, 300, 3);
    env_start(e);
    waiter_t w = {e, "A.orders", 3, 300};
    assert_true(kt_wait_until(mirrored, &w, 30000));
    /* clusters on this host: timed, and the prefetch and requests in flight those round trips
     * call for (the LAN's when under 0.5 ms, which a busy or sanitized run may not be) */
    assert_clients_sized(e, 0, 9999);
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

/* Clusters 50 ms away: replication is complete, each task gets its whole share of the budget as
 * prefetch, and its producer librdkafka's 5 requests in flight (flow.c, clientconf.c). */
static void test_rtt(void **state) {
    env_t *e = env_new("slow", 1, 1);
    rd_kafka_mock_broker_set_rtt(km_mock_cluster(e->a), 1, 50);
    rd_kafka_mock_broker_set_rtt(km_mock_cluster(e->b), 1, 50);
    produce_n(e, "slow", 0, 500, 1);
    env_start(e);
    waiter_t w = {e, "A.slow", 1, 500};
    assert_true(kt_wait_until(mirrored, &w, 60000));
    assert_int_equal(assert_clients_sized(e, 50000, 1000000), e->cfg.flows[0].s.prefetch_max_bytes);
    assert_int_equal(env_stop(e), 0);
    assert_same(e, "slow", "A.slow", 500);
    env_free(e);
}


/* The flow's state and reason, and the blocked-partition lines of /metrics. */
typedef struct health {
    km_flow_state_t state;
    char reason[512];
    char blocked_metric[512];
    int64_t blocked_offset;
    int blocked_partition;
} health_t;

static void read_health(env_t *e, health_t *h) {
    km_snapshot_t *s = km_metrics_snapshot(km_mirror_metrics(e->m), km_now_wall_ms());
    h->state = s->flows[0].state;
    snprintf(h->reason, sizeof(h->reason), "%s", s->flows[0].reason ? s->flows[0].reason : "");
    h->blocked_partition = -1;
    for (size_t i = 0; i < s->flows[0].nparts; i++)
        if (s->flows[0].parts[i].blocked_err) {
            h->blocked_partition = s->flows[0].parts[i].partition;
            h->blocked_offset = s->flows[0].parts[i].blocked_offset;
        }
    char *text = km_metrics_prometheus(s);
    const char *line = strstr(text, "\nkmirror_partition_blocked{");
    h->blocked_metric[0] = '\0';
    if (line) snprintf(h->blocked_metric, sizeof(h->blocked_metric), "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
    free(text);
    km_snapshot_free(s);
}

typedef struct part_waiter {
    env_t *e;
    const char *remote;
    int64_t want[4]; /* high watermark per partition */
    int partitions;
} part_waiter_t;

/* Ticks (a failed flow ends the wait) until each partition reached its count. */
static bool parts_reached(void *arg) {
    part_waiter_t *w = arg;
    if (!km_mirror_tick(w->e->m)) return true;
    int64_t hw[4] = {0};
    if (kt_high_watermarks(km_mock_bootstraps(w->e->b), w->remote, hw, w->partitions) != 0) return false;
    for (int i = 0; i < w->partitions; i++)
        if (hw[i] < w->want[i]) return false;
    return true;
}

static bool is_blocked(void *arg) {
    env_t *e = arg;
    if (!km_mirror_tick(e->m)) return true;
    health_t h;
    read_health(e, &h);
    return h.blocked_partition >= 0;
}

/* A record the target refuses (larger than its producer's message.max.bytes) stops its own
 * partition only: the other partitions, and the records before it, are all replicated, the
 * flow runs on, degraded, and says which partition, offset and why. Before: the task failed,
 * the flow failed and the process exited, and after a restart it hit the same record again. */
static void test_refused_record_stops_only_its_partition(void **state) {
    env_t *e = env_new("big", 3, 1);
    produce_n(e, "big", 0, 30, 3); /* 10 per partition */
    static char huge[20000];
    memset(huge, 'x', sizeof(huge) - 1);
    kt_msg_t big = {.partition = 1, .key = "big", .value = huge};
    assert_int_equal(kt_produce(km_mock_bootstraps(e->a), "big", &big, 1, NULL, NULL), 0); /* partition 1, offset 10 */
    produce_n(e, "big", 30, 30, 3);
    env_start_with(e, "B.producer.message.max.bytes = 5000\n");
    part_waiter_t w = {e, "A.big", {20, 10, 20}, 3};
    assert_true(kt_wait_until(parts_reached, &w, 30000));
    assert_true(kt_wait_until(is_blocked, e, 30000));
    health_t h;
    read_health(e, &h);
    assert_int_equal(h.state, KM_FLOW_DEGRADED);
    print_message("# reason: %s\n# metric: %s\n", h.reason, h.blocked_metric);
    assert_non_null(strstr(h.reason, "big [1] is stopped at offset 10"));
    assert_int_equal(h.blocked_partition, 1);
    assert_int_equal(h.blocked_offset, 10);
    assert_non_null(strstr(h.blocked_metric, "partition=\"1\""));
    assert_non_null(strstr(h.blocked_metric, "reason=\"MSG_SIZE_TOO_LARGE\""));
    /* It stays that way through retries, and new records of the other partitions still flow. */
    produce_n(e, "big", 60, 30, 3);
    part_waiter_t more = {e, "A.big", {30, 10, 30}, 3};
    assert_true(kt_wait_until(parts_reached, &more, 30000));
    assert_true(km_mirror_tick(e->m));
    int64_t hw[3];
    assert_int_equal(kt_high_watermarks(km_mock_bootstraps(e->b), "A.big", hw, 3), 0);
    assert_int_equal(hw[1], 10); /* nothing after the refused record was written out of order */
    assert_int_equal(env_stop(e), 0);
    env_free(e);
}

static bool flowing_again(void *arg) {
    part_waiter_t *w = arg;
    if (!parts_reached(arg)) return false;
    health_t h;
    read_health(w->e, &h);
    return h.state == KM_FLOW_RUNNING && h.blocked_partition < 0;
}

static bool positions_stored(void *arg) {
    env_t *e = arg;
    km_mirror_tick(e->m);
    kt_record_t *r;
    size_t n, found = 0;
    kt_consume(km_mock_bootstraps(e->b), "mm2-offsets.A.internal", NULL, &r, &n);
    for (size_t i = 0; i < n; i++) found += r[i].value && strstr(r[i].value, "\"offset\":9");
    kt_records_free(r, n);
    return found >= 2;
}

/* The cause goes away (here: the target stops refusing): the partition resumes by itself where
 * it stopped, nothing lost, nothing twice, and the flow is healthy again. */
static void test_refused_partition_resumes(void **state) {
    env_t *e = env_new("acl", 2, 1);
    /* nothing else produces to B, so the injected errors hit the replicated records */
    env_start_with(e, "emit.heartbeats.enabled = false\nemit.checkpoints.enabled = false\n");
    produce_n(e, "acl", 0, 20, 2);
    waiter_t w0 = {e, "A.acl", 2, 20};
    assert_true(kt_wait_until(mirrored, &w0, 30000));
    /* Once both positions (offset 9) are stored, the next Produce requests are the records'. */
    assert_true(kt_wait_until(positions_stored, e, 30000));
    rd_kafka_mock_push_request_errors(km_mock_cluster(e->b), 0 /* Produce */, 2, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    produce_n(e, "acl", 20, 40, 2);
    assert_true(kt_wait_until(is_blocked, e, 30000));
    part_waiter_t w = {e, "A.acl", {30, 30}, 2};
    assert_true(kt_wait_until(flowing_again, &w, 60000));
    assert_int_equal(env_stop(e), 0);
    assert_same(e, "acl", "A.acl", 60);
    env_free(e);
}

static uint64_t budget_wait_us(env_t *e) {
    km_snapshot_t *s = km_metrics_snapshot(km_mirror_metrics(e->m), km_now_wall_ms());
    uint64_t us = s->flows[0].budget_wait_us;
    km_snapshot_free(s);
    return us;
}

/* A record the target refused stays at the front of its partition's ring through the backoff
 * (it is read again from there), with nothing of that partition in flight. It must not count
 * against the in-flight budget: the budget counts the bytes read since the oldest record in
 * flight, and counted from the refused one it grew with every record the other partitions read
 * until the task held back reading on every partition, with next to nothing in flight. Here
 * partition 0 gets 4 MB in chunks of 400 KB, each mirrored before the next, against a 1 MiB
 * budget: the task never has to wait. (Before the fix: it waited, and the counter said so.) */
static void test_refused_record_leaves_the_budget(void **state) {
    env_t *e = env_new("tight", 2, 2);
    rd_kafka_mock_cluster_t *mb = km_mock_cluster(e->b);
    for (int p = 0; p < 25; p++) rd_kafka_mock_partition_set_leader(mb, "mm2-offsets.A.internal", p, 1);
    rd_kafka_mock_partition_set_leader(mb, "mm2-kmirror-tasks.A.A-mm2.internal", 0, 1);
    rd_kafka_mock_partition_set_leader(mb, "A.tight", 0, 1);
    rd_kafka_mock_partition_set_leader(mb, "A.tight", 1, 2); /* only partition 1 on broker 2 */
    env_start_with(e, "emit.heartbeats.enabled = false\nemit.checkpoints.enabled = false\n"
                      "memory.max.bytes = 16777216\ninflight.max.bytes = 1048576\n");
    produce_n(e, "tight", 0, 20, 2);
    waiter_t w0 = {e, "A.tight", 2, 20};
    assert_true(kt_wait_until(mirrored, &w0, 30000));
    /* Six refusals: partition 1 backs off 1, 2, 4, 8 and 16 s, blocked for over 30 s, longer than
     * the chunks below take even under a sanitizer (three, 7 s, were not). The mock cannot take
     * back errors pushed on a broker, so the test stops with the partition still blocked; that it
     * resumes is test_refused_partition_resumes. */
    for (int i = 0; i < 6; i++)
        rd_kafka_mock_broker_push_request_error_rtts(mb, 2, 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_INVALID_RECORD, 0);
    produce_n(e, "tight", 20, 2, 2); /* one record each; the one of partition 1 is refused */
    assert_true(kt_wait_until(is_blocked, e, 30000));
    uint64_t waited = budget_wait_us(e);
    for (int chunk = 1; chunk <= 10; chunk++) {
        assert_int_equal(kt_produce_sized(km_mock_bootstraps(e->a), "tight", 100, 1, 4000, NULL), 0); /* partition 0 */
        part_waiter_t w = {e, "A.tight", {11 + 100 * chunk, 0}, 2};
        assert_true(kt_wait_until(parts_reached, &w, 30000));
    }
    health_t h;
    read_health(e, &h);
    print_message("# partition 1 still blocked: %s; waited for the budget: %llu us\n", h.blocked_partition == 1 ? "yes" : "no",
                  (unsigned long long)(budget_wait_us(e) - waited));
    assert_int_equal(h.blocked_partition, 1); /* the check above ran while the refused record was held */
    assert_int_equal(budget_wait_us(e) - waited, 0);
    assert_int_equal(env_stop(e), 0);
    env_free(e);
}

int main(void) {
    km_log_set_level(KM_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fidelity_and_restart),
        cmocka_unit_test(test_produce_errors_retried),
        cmocka_unit_test(test_target_broker_down),
        cmocka_unit_test(test_rtt),
        cmocka_unit_test(test_refused_record_stops_only_its_partition),
        cmocka_unit_test(test_refused_partition_resumes),
        cmocka_unit_test(test_refused_record_leaves_the_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
