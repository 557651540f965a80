/* test_division_fingerprint.c — the pure pieces of scale-out: which task replicates which
 * partition (division.c) — every process must compute the same, across versions — and the
 * settings fingerprint processes compare (fingerprint.c), plus the group settings the
 * configuration model resolves for them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "division.h"
#include "fingerprint.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---- division ---- */

static void test_division_is_pinned(void **state) {
    /* FNV-1a 32 of the name, plus the partition, mod the task count: fixed forever, because
     * processes of different builds share one group. */
    assert_int_equal(km_division_task("orders", 0, 4), 0);     /* fnv1a("orders") = 845059820 */
    assert_int_equal(km_division_task("orders", 1, 4), 1);
    assert_int_equal(km_division_task("orders", 5, 4), 1);
    assert_int_equal(km_division_task("orders", 0, 7), 3);
    assert_int_equal(km_division_task("payments", 0, 4), 2);   /* 3392796198 */
    assert_int_equal(km_division_task("A.heartbeats", 1, 4), 0); /* 1342775339 */
    assert_int_equal(km_division_task("", 0, 4), 1);           /* the offset basis itself */
}

static void test_division_spreads_each_topic_evenly(void **state) {
    static const char *const topics[] = {"a", "orders", "payments.eu", "x.y.z"};
    for (size_t t = 0; t < 4; t++)
        for (int ntasks = 1; ntasks <= 6; ntasks++) {
            int load[6] = {0};
            for (int p = 0; p < 3 * ntasks; p++) {
                int task = km_division_task(topics[t], p, ntasks);
                assert_true(task >= 0 && task < ntasks);
                load[task]++;
            }
            for (int k = 0; k < ntasks; k++) assert_int_equal(load[k], 3);
        }
}

static void test_division_rotates_within_a_topic(void **state) {
    /* Consecutive partitions go to consecutive tasks, so a topic that grows hands its new
     * partitions to the next tasks in its rotation and its old ones stay where they are. */
    for (int p = 0; p < 12; p++)
        assert_int_equal(km_division_task("orders", p + 1, 4), (km_division_task("orders", p, 4) + 1) % 4);
    for (int p = 0; p < 12; p++) assert_int_equal(km_division_task("orders", p, 1), 0);
}

/* ---- fingerprint ---- */

static km_config_t *load(const char *extra) {
    char *text = km_xasprintf("clusters = A, B\nA.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\n"
                              "A->B.enabled = true\n%s", extra);
    km_config_t *cfg = km_xcalloc(1, sizeof(*cfg));
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(cfg, text, strlen(text), "t", NULL, 0, &d), 0);
    km_diag_free(&d);
    free(text);
    return cfg;
}

static void unload(km_config_t *cfg) {
    km_config_free(cfg);
    free(cfg);
}

static void fingerprint_of(const char *extra, km_fingerprint_t *fp) {
    km_config_t *cfg = load(extra);
    km_fingerprint_of(km_config_flow(cfg, "A", "B"), fp);
    unload(cfg);
}

static void test_fingerprint_follows_replication_settings_only(void **state) {
    km_fingerprint_t base, same, local, other;
    fingerprint_of("tasks.max = 4\n", &base);
    fingerprint_of("A->B.tasks.max = 4\n", &same); /* resolved value, not the way it was written */
    fingerprint_of("tasks.max = 4\nshutdown.timeout.ms = 1000\nadmin.timeout.ms = 5000\nB.session.timeout.ms = 6000\n", &local);
    fingerprint_of("tasks.max = 6\n", &other);
    assert_int_equal(strlen(base.hex), KM_FINGERPRINT_HEX);
    assert_string_equal(base.hex, same.hex);
    assert_string_equal(base.hex, local.hex);
    assert_string_not_equal(base.hex, other.hex);
    assert_null(km_props_get(&base.keys, "shutdown.timeout.ms"));
    assert_string_equal(km_props_get(&base.keys, "tasks.max"), "4");
    km_fingerprint_free(&base);
    km_fingerprint_free(&same);
    km_fingerprint_free(&local);
    km_fingerprint_free(&other);
}

static void test_fingerprint_roundtrip_and_rejects(void **state) {
    km_fingerprint_t fp, back;
    fingerprint_of("topics = orders.*\n", &fp);
    char *enc = km_fingerprint_encode(&fp, "host-1:42");
    char *process = NULL;
    assert_int_equal(km_fingerprint_decode(enc, strlen(enc), &back, &process), 0);
    assert_string_equal(back.hex, fp.hex);
    assert_string_equal(process, "host-1:42");
    assert_string_equal(km_props_get(&back.keys, "topics"), "orders.*");
    assert_null(km_fingerprint_diff(&fp, &back));
    km_fingerprint_free(&back);
    free(process);
    /* a value that does not hash to its fingerprint is not trusted */
    char *bad = km_xstrdup(enc), *at = strstr(bad, "orders.*");
    at[0] = 'O';
    assert_int_equal(km_fingerprint_decode(bad, strlen(bad), &back, &process), -1);
    assert_int_equal(km_fingerprint_decode("{\"fingerprint\":\"x\"}", 19, &back, &process), -1);
    assert_int_equal(km_fingerprint_decode("not json", 8, &back, &process), -1);
    assert_int_equal(km_fingerprint_decode(NULL, 0, &back, &process), -1);
    free(bad);
    free(enc);
    km_fingerprint_free(&fp);
}

static void test_fingerprint_diff_names_each_key(void **state) {
    km_fingerprint_t here, there;
    fingerprint_of("tasks.max = 4\noffset.lag.max = 100\n", &here);
    fingerprint_of("tasks.max = 6\noffset.lag.max = 100\nexactly.once.support = required\n", &there);
    char *d = km_fingerprint_diff(&here, &there);
    assert_string_equal(d, "tasks.max: 4 here, 6 there; exactly.once.support: only there (required)");
    free(d);
    d = km_fingerprint_diff(&there, &here);
    assert_string_equal(d, "exactly.once.support: only here (required); tasks.max: 6 here, 4 there");
    free(d);
    km_fingerprint_free(&here);
    km_fingerprint_free(&there);
}

/* ---- group settings in the configuration model ---- */

static void test_group_settings(void **state) {
    km_config_t *cfg = load("");
    km_flow_t *f = km_config_flow(cfg, "A", "B");
    assert_int_equal(f->s.session_timeout_ms, 10000); /* Connect's worker defaults */
    assert_int_equal(f->s.heartbeat_interval_ms, 3000);
    assert_string_equal(f->s.tasks_topic, "mm2-kmirror-tasks.A.A-mm2.internal");
    unload(cfg);
    /* worker keys come from the target cluster's settings, as MM2 reads them */
    cfg = load("B.session.timeout.ms = 6000\nB.group.id = mirror group:1\n");
    f = km_config_flow(cfg, "A", "B");
    assert_int_equal(f->s.session_timeout_ms, 6000);
    assert_string_equal(f->s.group_id, "mirror group:1");
    assert_string_equal(f->s.tasks_topic, "mm2-kmirror-tasks.A.mirror_group_1.internal");
    unload(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_division_is_pinned),
        cmocka_unit_test(test_division_spreads_each_topic_evenly),
        cmocka_unit_test(test_division_rotates_within_a_topic),
        cmocka_unit_test(test_fingerprint_follows_replication_settings_only),
        cmocka_unit_test(test_fingerprint_roundtrip_and_rejects),
        cmocka_unit_test(test_fingerprint_diff_names_each_key),
        cmocka_unit_test(test_group_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
