/* test_producer_settings.c — the record path's settings: check-config says what acks other than
 * all gives up, and the in-flight budget is one process-wide key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void test_acks_warning(void **state) {
    const char *text = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\n"
                       "A->B.enabled = true\nA->B.producer.acks = 1\n";
    km_config_t cfg = {0};
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "acks.properties", NULL, 0, &d), 0);
    bool found = false;
    for (size_t i = 0; i < d.nwarnings; i++)
        if (strstr(d.warnings[i], "acks=1") && strstr(d.warnings[i], "gives up")) {
            assert_false(found); /* said once */
            found = true;
        }
    assert_true(found);
    km_config_free(&cfg);
    km_diag_free(&d);
}

static void test_inflight_budget_key(void **state) {
    const char *base = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"
                       "B->A.enabled = true\n";
    km_config_t cfg = {0};
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(&cfg, base, strlen(base), "b.properties", NULL, 0, &d), 0);
    for (size_t i = 0; i < cfg.nflows; i++) assert_int_equal(cfg.flows[i].s.inflight_max_bytes, KM_INFLIGHT_MAX_BYTES_DEFAULT);
    km_config_free(&cfg);
    km_diag_free(&d);
    char *text = km_xasprintf("%sinflight.max.bytes = 8388608\n", base);
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "b.properties", NULL, 0, &d), 0);
    for (size_t i = 0; i < cfg.nflows; i++) assert_int_equal(cfg.flows[i].s.inflight_max_bytes, 8388608);
    assert_int_equal(d.nwarnings, 0); /* a known top-level key */
    km_config_free(&cfg);
    km_diag_free(&d);
    free(text);
    text = km_xasprintf("%sinflight.max.bytes = 10\n", base);
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "b.properties", NULL, 0, &d), -1);
    km_config_free(&cfg);
    km_diag_free(&d);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_warning),
        cmocka_unit_test(test_inflight_budget_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
