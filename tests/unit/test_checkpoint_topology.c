/* test_checkpoint_topology.c — the decisions of the checkpoint emitter and group offset sync
 * (checkpoint.c), and MirrorClient's topology helpers over heartbeat topic names (policy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "checkpoint.h"
#include "policy.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void test_monotonic_checkpoints(void **state) {
    assert_true(km_checkpoint_should_emit(false, 0, 0, 10, 5));   /* first for the partition */
    assert_true(km_checkpoint_should_emit(true, 10, 5, 12, 7));   /* downstream advanced */
    assert_false(km_checkpoint_should_emit(true, 10, 5, 12, 5));  /* nothing new downstream */
    assert_false(km_checkpoint_should_emit(true, 10, 5, 11, 4));  /* never a downstream rewind */
    assert_true(km_checkpoint_should_emit(true, 10, 5, 3, 2));    /* the group was reset upstream */
}

static void test_checkpoint_topic_names(void **state) {
    km_flow_settings_t s = {0};
    km_diag_t d = {0};
    assert_int_equal(km_policy_init(&s.policy, "DefaultReplicationPolicy", ".", false, "A", &d), 0);
    char *t = km_checkpoint_topic(&s, "A", "B", "orders");
    assert_string_equal(t, "A.orders");
    free(t);
    t = km_checkpoint_topic(&s, "A", "B", "B.orders"); /* failback: B's own topic, mirrored to A and back */
    assert_string_equal(t, "orders");
    free(t);
    t = km_checkpoint_topic(&s, "A", "B", "C.orders");
    assert_string_equal(t, "A.C.orders");
    free(t);
    km_policy_free(&s.policy);
}

static void test_group_sync_plan(void **state) {
    km_group_offset_t want[] = {{"A.t", 0, 50, ""}, {"A.t", 1, 20, ""}, {"A.t", 2, 7, ""}, {"A.u", 0, 3, ""}};
    km_group_offset_t have[] = {{"A.t", 0, 40, ""}, {"A.t", 1, 25, ""}, {"A.t", 2, 7, ""}};
    const km_group_offset_t **plan;
    size_t n = km_group_sync_plan(want, 4, have, 3, &plan);
    assert_int_equal(n, 2);
    assert_ptr_equal(plan[0], &want[0]); /* forward */
    assert_ptr_equal(plan[1], &want[3]); /* no offset on the target yet */
    free(plan);                          /* 1 would rewind, 2 is already there */
    n = km_group_sync_plan(want, 4, NULL, 0, &plan); /* a group unknown on the target: everything */
    assert_int_equal(n, 4);
    free(plan);
}

static void test_topology_hops(void **state) {
    km_policy_t p;
    km_diag_t d = {0};
    assert_int_equal(km_policy_init(&p, NULL, ".", false, NULL, &d), 0);
    assert_int_equal(km_policy_count_hops(&p, "A.heartbeats", "A"), 1);
    assert_int_equal(km_policy_count_hops(&p, "C.B.A.heartbeats", "A"), 3);
    assert_int_equal(km_policy_count_hops(&p, "C.B.A.heartbeats", "B"), 2);
    assert_int_equal(km_policy_count_hops(&p, "heartbeats", "A"), -1);
    assert_int_equal(km_policy_count_hops(&p, "A.B.A.heartbeats", "C"), -1); /* a loop ends the walk */
    char **src;
    size_t n = km_policy_all_sources(&p, "C.B.A.heartbeats", &src);
    assert_int_equal(n, 3);
    assert_string_equal(src[0], "C");
    assert_string_equal(src[2], "A");
    km_strv_free(src, n);
    n = km_policy_all_sources(&p, "A.B.A.heartbeats", &src);
    assert_int_equal(n, 2);
    km_strv_free(src, n);
    km_policy_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotonic_checkpoints),
        cmocka_unit_test(test_checkpoint_topic_names),
        cmocka_unit_test(test_group_sync_plan),
        cmocka_unit_test(test_topology_hops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
