/* test_ackq.c — positions cover only the contiguous acknowledged run of a partition, whatever
 * order delivery reports come in (acks=1 turns idempotence off; a retried batch is reported
 * after later ones), check-config says what acks other than all gives up, and the in-flight
 * budget is one process-wide key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ackq.h"
#include "config.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Pops everything acknowledged; returns the last offset popped (-1 none). */
static int64_t drain(km_ackq_t *q, int64_t last) {
    int64_t u, d;
    while (km_ackq_pop(q, &u, &d)) {
        assert_true(u > last);
        assert_int_equal(d, 1000 + u);
        last = u;
    }
    return last;
}

static void test_out_of_order_reports(void **state) {
    km_ackq_t q = {0};
    for (int64_t u = 0; u < 10; u++) km_ackq_push(&q, u);
    /* The second batch is acknowledged first: nothing is covered yet. */
    for (int64_t u = 5; u < 10; u++) assert_true(km_ackq_report(&q, u, 1000 + u));
    assert_int_equal(drain(&q, -1), -1);
    /* The first batch's retry: 0..3 acknowledged, 4 failed. The prefix ends at 3, never at 9. */
    for (int64_t u = 0; u < 4; u++) assert_true(km_ackq_report(&q, u, 1000 + u));
    assert_true(km_ackq_report(&q, 4, -1));
    assert_int_equal(drain(&q, -1), 3);
    assert_int_equal(drain(&q, 3), 3); /* the failure blocks what follows */
    /* The re-read starts over from 4. */
    km_ackq_clear(&q);
    assert_false(km_ackq_report(&q, 7, 1007)); /* a late report from before the re-read */
    for (int64_t u = 4; u < 10; u++) km_ackq_push(&q, u);
    for (int64_t u = 9; u >= 4; u--) assert_true(km_ackq_report(&q, u, 1000 + u));
    assert_int_equal(drain(&q, 3), 9);
    km_ackq_free(&q);
}

/* Offsets with holes (compaction, transaction markers), the ring wrapping and growing while
 * reports arrive in random order: the prefix is always exactly what a sorted replay gives. */
static void test_random_orders(void **state) {
    for (unsigned seed = 1; seed <= 200; seed++) {
        srand(seed);
        km_ackq_t q = {0};
        int64_t next = 0, last = -1;
        int64_t inflight[300];
        int n = 0;
        bool acked[300];
        for (int round = 0; round < 50; round++) {
            int add = rand() % 100;
            for (int i = 0; i < add && n < 300; i++) {
                next += 1 + (rand() % 4 == 0); /* ~25% holes */
                km_ackq_push(&q, next);
                inflight[n] = next;
                acked[n++] = false;
            }
            for (int k = 0; k < n / 2 + 1 && n; k++) {
                int i = rand() % n;
                if (acked[i]) continue;
                acked[i] = true;
                assert_true(km_ackq_report(&q, inflight[i], 1000 + inflight[i]));
            }
            int64_t want = last;
            int drop = 0;
            while (drop < n && acked[drop]) want = inflight[drop++];
            last = drain(&q, last);
            if (last != want) fail_msg("seed %u: prefix ends at %lld, expected %lld", seed, (long long)last, (long long)want);
            memmove(inflight, inflight + drop, (size_t)(n - drop) * sizeof(*inflight));
            memmove(acked, acked + drop, (size_t)(n - drop) * sizeof(*acked));
            n -= drop;
        }
        km_ackq_free(&q);
    }
}

static void test_acks_warning(void **state) {
    const char *text = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\n"
                       "A->B.enabled = true\nA->B.producer.acks = 1\n";
    km_config_t cfg = {0};
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "acks.properties", NULL, 0, &d), 0);
    bool found = false;
    for (size_t i = 0; i < d.nwarnings; i++)
        if (strstr(d.warnings[i], "acks=1") && strstr(d.warnings[i], "flow A->B") && strstr(d.warnings[i], "lost")) found = true;
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
        cmocka_unit_test(test_out_of_order_reports),
        cmocka_unit_test(test_random_orders),
        cmocka_unit_test(test_acks_warning),
        cmocka_unit_test(test_inflight_budget_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
