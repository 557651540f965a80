/* test_topics_positions.c — pure decisions of the replication engine: which topics a flow
 * replicates and what must be created or grown on the target (topics.c), and the byte-exact
 * Connect offsets-topic records kmirror shares with Java MM2 (positions.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "positions.h"
#include "topics.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static km_config_t *flow_config(const char *extra, km_flow_t **flow) {
    char *text = km_xasprintf("clusters = A, B\nA.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\n"
                              "A->B.enabled = true\nB->A.enabled = true\n%s", extra);
    km_config_t *cfg = km_xcalloc(1, sizeof(*cfg));
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(cfg, text, strlen(text), "t", NULL, 0, &d), 0);
    km_diag_free(&d);
    free(text);
    *flow = km_config_flow(cfg, "A", "B");
    return cfg;
}

static void free_config(km_config_t *cfg) {
    km_config_free(cfg);
    free(cfg);
}

static void test_selection(void **state) {
    km_flow_t *f;
    km_config_t *cfg = flow_config("A->B.topics = orders.*, heartbeats, B\\..*\n", &f);
    const km_flow_settings_t *s = &f->s;
    assert_true(km_topic_selected(s, "B", "orders"));
    assert_true(km_topic_selected(s, "B", "orders-eu"));
    assert_false(km_topic_selected(s, "B", "payments"));
    assert_false(km_topic_selected(s, "B", "__consumer_offsets"));
    assert_false(km_topic_selected(s, "B", "mm2-offsets.A.internal"));
    assert_false(km_topic_selected(s, "B", "orders.replica"));       /* default exclude */
    assert_true(km_topic_selected(s, "B", "heartbeats"));
    assert_true(km_topic_selected(s, "B", "C.heartbeats"));           /* heartbeats always travel */
    assert_false(km_topic_selected(s, "B", "B.orders"));              /* came from B: a cycle */
    free_config(cfg);
    cfg = flow_config("heartbeats.replication.enabled = false\nA->B.topics = orders\n", &f);
    assert_false(km_topic_selected(&f->s, "B", "heartbeats"));
    free_config(cfg);
}

static void test_plan(void **state) {
    km_flow_t *f;
    km_config_t *cfg = flow_config("", &f);
    km_topic_meta_t src[] = {{"orders", 4}, {"payments", 3}, {"clicks", 2}, {"stock", 2}, {"__consumer_offsets", 50}, {"B.echo", 1}};
    km_topic_meta_t dst[] = {{"A.payments", 2}, {"A.clicks", 2}, {"A.stock", 5}};
    km_topic_plan_t *plan;
    size_t n = km_topic_plan(&f->s, "A", "B", src, 6, dst, 3, &plan);
    assert_int_equal(n, 4);
    /* sorted by source topic */
    assert_string_equal(plan[0].source_topic, "clicks");
    assert_int_equal(plan[0].action, KM_TOPIC_READY);
    assert_string_equal(plan[1].source_topic, "orders");
    assert_string_equal(plan[1].remote_topic, "A.orders");
    assert_int_equal(plan[1].action, KM_TOPIC_CREATE);
    assert_int_equal(plan[1].remote_partitions, -1);
    assert_int_equal(plan[1].source_partitions, 4);
    assert_string_equal(plan[2].source_topic, "payments");
    assert_int_equal(plan[2].action, KM_TOPIC_GROW);
    assert_int_equal(plan[2].remote_partitions, 2);
    assert_string_equal(plan[3].source_topic, "stock");
    assert_int_equal(plan[3].action, KM_TOPIC_REMOTE_LARGER);
    km_topic_plan_free(plan, n);
    free_config(cfg);
}

static void test_effective_rf(void **state) {
    bool clamped;
    assert_int_equal(km_effective_rf(2, 1, &clamped), 1);
    assert_true(clamped);
    assert_int_equal(km_effective_rf(2, 3, &clamped), 2);
    assert_false(clamped);
    assert_int_equal(km_effective_rf(-1, 3, &clamped), -1);
}

static void test_position_bytes(void **state) {
    size_t len;
    char *k = km_pos_encode_key("source", "london", 1, &len);
    const char *want = "[\"MirrorSourceConnector\",{\"cluster\":\"source\",\"partition\":1,\"topic\":\"london\"}]";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(k, want, len);
    char *v = km_pos_encode_value(89, &len);
    assert_int_equal(len, 13);
    assert_memory_equal(v, "{\"offset\":89}", 13);
    char *c, *t;
    int32_t p;
    int64_t off;
    assert_int_equal(km_pos_decode_key(k, strlen(k), &c, &t, &p), 0);
    assert_string_equal(c, "source");
    assert_string_equal(t, "london");
    assert_int_equal(p, 1);
    assert_int_equal(km_pos_decode_value(v, len, &off), 0);
    assert_int_equal(off, 89);
    free(c);
    free(t);
    free(k);
    free(v);
    /* Java writes with other key orders too; any order reads. Other connectors' keys do not. */
    const char *other = "[\"MirrorSourceConnector\",{\"topic\":\"t\",\"partition\":7,\"cluster\":\"x\"}]";
    assert_int_equal(km_pos_decode_key(other, strlen(other), &c, &t, &p), 0);
    assert_int_equal(p, 7);
    free(c);
    free(t);
    const char *hb = "[\"MirrorHeartbeatConnector\",{\"sourceClusterAlias\":\"a\",\"targetClusterAlias\":\"b\"}]";
    assert_int_equal(km_pos_decode_key(hb, strlen(hb), &c, &t, &p), -1);
    assert_int_equal(km_pos_decode_value("{\"offset\":-1}", 13, &off), -1);
    assert_int_equal(km_pos_decode_value("garbage", 7, &off), -1);
}

/* Out-of-range fields of a position key or value are rejected (-2 for a key: it names a topic of
 * ours, so the caller can say which), never wrapped into another partition or offset. */
static void test_position_out_of_range(void **state) {
    char *c = NULL, *t = NULL;
    int32_t p = -1;
    int64_t off = -1;
    const char *big = "[\"MirrorSourceConnector\",{\"cluster\":\"s\",\"partition\":4294967297,\"topic\":\"t\"}]";
    assert_int_equal(km_pos_decode_key(big, strlen(big), &c, &t, &p), -2);
    assert_string_equal(t, "t");
    assert_int_not_equal(p, 1);
    free(c);
    free(t);
    const char *neg = "[\"MirrorSourceConnector\",{\"cluster\":\"s\",\"partition\":-3,\"topic\":\"t\"}]";
    assert_int_equal(km_pos_decode_key(neg, strlen(neg), &c, &t, &p), -2);
    free(c);
    free(t);
    const char *max = "[\"MirrorSourceConnector\",{\"cluster\":\"s\",\"partition\":2147483647,\"topic\":\"t\"}]";
    assert_int_equal(km_pos_decode_key(max, strlen(max), &c, &t, &p), 0);
    assert_int_equal(p, INT32_MAX);
    free(c);
    free(t);
    /* corrupt keys are -2 too, not "someone else's": they are reported, not passed over */
    const char *strp = "[\"MirrorSourceConnector\",{\"cluster\":\"s\",\"partition\":\"1\",\"topic\":\"t\"}]";
    assert_int_equal(km_pos_decode_key(strp, strlen(strp), &c, &t, &p), -2);
    assert_string_equal(c, "s");
    free(c);
    free(t);
    assert_int_equal(km_pos_decode_key("garbage", 7, &c, &t, &p), -2);
    assert_null(c);
    assert_null(t);
    const char *huge = "[\"MirrorSourceConnector\",{\"cluster\":\"s\",\"partition\":99999999999999999999,\"topic\":\"t\"}]";
    assert_int_equal(km_pos_decode_key(huge, strlen(huge), &c, &t, &p), -2);
    free(c);
    free(t);
    /* replication resumes at offset + 1: INT64_MAX would overflow */
    assert_int_equal(km_pos_decode_value("{\"offset\":9223372036854775807}", 30, &off), -1);
    assert_int_equal(km_pos_decode_value("{\"offset\":9223372036854775806}", 30, &off), 0);
    assert_int_equal(off, INT64_MAX - 1);
}

/* A rejected position is remembered as such (not as "no position": that would silently start
 * the partition from the beginning) until a valid record or a tombstone replaces it. */
static void test_positions_rejected(void **state) {
    km_positions_t m = {0};
    km_positions_set(&m, "a", 1, 10, -1);
    km_positions_reject(&m, "a", 1, 77);
    assert_int_equal(km_positions_get(&m, "a", 1), -1);
    assert_int_equal(km_positions_rejected(&m, "a", 1), 77);
    assert_int_equal(km_positions_rejected(&m, "a", 2), -1);
    km_positions_set(&m, "a", 1, 12, -1);
    assert_int_equal(km_positions_rejected(&m, "a", 1), -1);
    assert_int_equal(km_positions_get(&m, "a", 1), 12);
    km_positions_reject(&m, "b", 0, 5);
    km_positions_remove(&m, "b", 0);
    assert_int_equal(km_positions_rejected(&m, "b", 0), -1);
    km_positions_free(&m);
}

/* The timestamp header: decimal ms, strictly; a rejected or replaced position forgets it. */
static void test_position_timestamp(void **state) {
    int64_t ts = -1;
    char buf[21];
    assert_int_equal(km_pos_encode_ts(1733350000123LL, buf), 13);
    assert_int_equal(km_pos_decode_ts(buf, 13, &ts), 0);
    assert_int_equal(ts, 1733350000123LL);
    const char *bad[] = {"", "0", "012", "-5", "12a", " 12", "1234567890123456789", NULL};
    for (int i = 0; bad[i]; i++) assert_int_equal(km_pos_decode_ts(bad[i], strlen(bad[i]), &ts), -1);
    assert_int_equal(km_pos_decode_ts(NULL, 0, &ts), -1);
    km_positions_t m = {0};
    km_positions_set(&m, "a", 0, 10, 1733350000123LL);
    assert_int_equal(km_positions_ts(&m, "a", 0), 1733350000123LL);
    km_positions_set(&m, "a", 0, 11, -1);
    assert_int_equal(km_positions_ts(&m, "a", 0), -1);
    km_positions_set(&m, "a", 0, 12, 5);
    km_positions_reject(&m, "a", 0, 3);
    assert_int_equal(km_positions_ts(&m, "a", 0), -1);
    assert_int_equal(km_positions_ts(&m, "b", 0), -1);
    km_positions_free(&m);
}

static void test_positions_map(void **state) {
    km_positions_t m = {0};
    km_positions_set(&m, "b", 1, 10, -1);
    km_positions_set(&m, "a", 2, 20, -1);
    km_positions_set(&m, "a", 10, 30, -1);
    km_positions_set(&m, "b", 1, 11, -1);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.items[0].topic, "a");
    assert_int_equal(m.items[0].partition, 2);
    assert_int_equal(m.items[1].partition, 10);
    assert_int_equal(km_positions_get(&m, "b", 1), 11);
    assert_int_equal(km_positions_get(&m, "b", 2), -1);
    km_positions_remove(&m, "a", 2);
    assert_int_equal(km_positions_get(&m, "a", 2), -1);
    assert_int_equal(m.n, 2);
    km_positions_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selection),      cmocka_unit_test(test_plan),
        cmocka_unit_test(test_effective_rf),   cmocka_unit_test(test_position_bytes),
        cmocka_unit_test(test_positions_map),
        cmocka_unit_test(test_position_timestamp),
        cmocka_unit_test(test_position_out_of_range), cmocka_unit_test(test_positions_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
