/* test_reload.c — what a reloaded file means for a running flow (reload.h): equal settings keep
 * it, name filters alone are swapped in (and the running flow's filters then accept what the new
 * file's do), anything else — a connector key, a cluster's bootstrap servers or security, a
 * client key, the in-flight budget — restarts it, and secrets are never quoted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "reload.h"
#include "topics.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE "clusters = a, b\na.bootstrap.servers = a1:9092\nb.bootstrap.servers = b1:9092\na->b.enabled = true\n"

static km_config_t *load(const char *text) {
    km_config_t *cfg = km_xcalloc(1, sizeof(*cfg));
    km_diag_t d = {0};
    int rc = km_config_load_buf(cfg, text, strlen(text), "test.properties", NULL, 0, &d);
    for (size_t i = 0; i < d.nerrors; i++) print_message("# %s\n", d.errors[i]);
    km_diag_free(&d);
    assert_int_equal(rc, 0);
    return cfg;
}

static void unload(km_config_t *cfg) {
    km_config_free(cfg);
    free(cfg);
}

/* The change from `before` to `after` for flow a->b, with its description. */
static km_reload_change_t change(const char *before, const char *after, char **why) {
    km_config_t *x = load(before), *y = load(after);
    km_reload_change_t c = km_reload_compare(km_config_flow(x, "a", "b"), km_config_flow(y, "a", "b"), why);
    unload(x);
    unload(y);
    return c;
}

static void test_same_file_keeps_the_flow(void **state) {
    char *why;
    assert_int_equal(change(BASE "tasks.max = 2\n", BASE "# a comment\ntasks.max = 2\n", &why), KM_RELOAD_SAME);
    assert_null(why);
    /* another flow's settings are not this one's */
    assert_int_equal(change(BASE, BASE "b->a.enabled = true\nb->a.tasks.max = 3\n", &why), KM_RELOAD_SAME);
    assert_null(why);
}

static void test_filters_alone_are_swapped(void **state) {
    char *why;
    assert_int_equal(change(BASE "topics = orders\n", BASE "topics = orders, payments\n", &why), KM_RELOAD_FILTERS);
    assert_string_equal(why, "topics: orders -> orders, payments");
    free(why);
    assert_int_equal(change(BASE, BASE "a->b.groups.exclude = test-.*\n", &why), KM_RELOAD_FILTERS);
    free(why);
    /* a filter and anything else: a restart */
    assert_int_equal(change(BASE "topics = x\n", BASE "topics = y\ntasks.max = 4\n", &why), KM_RELOAD_RESTART);
    assert_non_null(strstr(why, "tasks.max: 1 -> 4"));
    assert_non_null(strstr(why, "topics: x -> y"));
    free(why);
}

static void test_other_changes_restart(void **state) {
    char *why;
    assert_int_equal(change(BASE, BASE "offset.lag.max = 50\n", &why), KM_RELOAD_RESTART);
    assert_string_equal(why, "offset.lag.max: 100 -> 50");
    free(why);
    /* a cluster's address: every client of the flow on that cluster */
    const char *moved = "clusters = a, b\na.bootstrap.servers = a2:9092\nb.bootstrap.servers = b1:9092\na->b.enabled = true\n";
    assert_int_equal(change(BASE, moved, &why), KM_RELOAD_RESTART);
    assert_non_null(strstr(why, "consumer bootstrap.servers: a1:9092 -> a2:9092"));
    free(why);
    assert_int_equal(change(BASE, BASE "b.producer.linger.ms = 20\n", &why), KM_RELOAD_RESTART);
    assert_non_null(strstr(why, "producer linger.ms: (unset) -> 20"));
    free(why);
    assert_int_equal(change(BASE, BASE "inflight.max.bytes = 1048576\n", &why), KM_RELOAD_RESTART);
    assert_non_null(strstr(why, "inflight.max.bytes"));
    free(why);
    assert_int_equal(change(BASE, BASE "memory.max.bytes = 1073741824\n", &why), KM_RELOAD_RESTART);
    assert_non_null(strstr(why, "memory.max.bytes: 536870912 -> 1073741824"));
    free(why);
}

static void test_secrets_are_not_quoted(void **state) {
    char *why;
    const char *sec = BASE "a.security.protocol = SASL_SSL\na.sasl.mechanism = PLAIN\n"
                           "a.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"%s\";\n";
    char before[1024], after[1024];
    snprintf(before, sizeof(before), sec, "old-secret");
    snprintf(after, sizeof(after), sec, "new-secret");
    assert_int_equal(change(before, after, &why), KM_RELOAD_RESTART);
    assert_non_null(strstr(why, "sasl.jaas.config changed"));
    assert_null(strstr(why, "secret"));
    free(why);
}

/* The running flow takes the new filters: it then selects what the new file's flow selects. */
static void test_refilter_takes_the_new_filters(void **state) {
    km_config_t *x = load(BASE "topics = orders\ngroups = g1\n"), *y = load(BASE "topics = orders, pay.*\ngroups.exclude = g1\n");
    km_flow_t *run = km_config_flow(x, "a", "b");
    const km_flow_t *next = km_config_flow(y, "a", "b");
    assert_false(km_topic_selected(&run->s, "b", "payments"));
    km_config_flow_refilter(run, next);
    assert_true(km_topic_selected(&run->s, "b", "payments"));
    assert_true(km_topic_selected(&run->s, "b", "orders"));
    assert_false(km_topic_selected(&run->s, "b", "other"));
    assert_false(km_name_filter_accepts(&run->s.groups, "g1"));
    char *why;
    assert_int_equal(km_reload_compare(run, next, &why), KM_RELOAD_SAME);
    assert_null(why);
    unload(x);
    unload(y);
}

static void test_heartbeats(void **state) {
    km_config_t *x = load(BASE), *y = load(BASE "emit.heartbeats.interval.seconds = 5\n"), *z = load(BASE "# same\n");
    assert_false(km_reload_heartbeats_same(km_config_flow(x, "a", "b"), km_config_flow(y, "a", "b")));
    assert_true(km_reload_heartbeats_same(km_config_flow(x, "a", "b"), km_config_flow(z, "a", "b")));
    unload(x);
    unload(y);
    unload(z);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_file_keeps_the_flow),
        cmocka_unit_test(test_filters_alone_are_swapped),
        cmocka_unit_test(test_other_changes_restart),
        cmocka_unit_test(test_secrets_are_not_quoted),
        cmocka_unit_test(test_refilter_takes_the_new_filters),
        cmocka_unit_test(test_heartbeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
