/* test_producer_settings.c — the record path's settings: check-config says what acks other than
 * all gives up, and the in-flight budget is one process-wide key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clientconf.h"
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

/* Loads base + extra into cfg for a process running the flows into `here` (NULL: all);
 * returns km_config_load_buf's result (diagnostics in d). */
static int load_here(km_config_t *cfg, km_diag_t *d, const char *base, const char *extra, const char *here) {
    char *text = km_xasprintf("%s%s", base, extra);
    char *only[] = {(char *)here};
    memset(cfg, 0, sizeof(*cfg));
    int rc = km_config_load_buf(cfg, text, strlen(text), "b.properties", here ? only : NULL, here ? 1 : 0, d);
    free(text);
    return rc;
}

static int load(km_config_t *cfg, km_diag_t *d, const char *base, const char *extra) { return load_here(cfg, d, base, extra, NULL); }

static void unload(km_config_t *cfg, km_diag_t *d) {
    km_config_free(cfg);
    km_diag_free(d);
}

/* memory.max.bytes: an eighth of it in flight unless inflight.max.bytes says otherwise, the rest the
 * prefetch of the process's tasks (here two flows of one task each), as librdkafka's limits. */
static void test_memory_budget_keys(void **state) {
    const char *base = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"
                       "B->A.enabled = true\n";
    km_config_t cfg;
    km_diag_t d = {0};
    assert_int_equal(load(&cfg, &d, base, ""), 0);
    assert_int_equal(cfg.memory_max_bytes, KM_MEMORY_MAX_BYTES_DEFAULT);
    for (size_t i = 0; i < cfg.nflows; i++) {
        assert_int_equal(cfg.flows[i].s.inflight_max_bytes, KM_MEMORY_MAX_BYTES_DEFAULT / 8);
        /* (512 MiB - 64 MiB) / 2 tasks = 224 MiB each: 112 MiB of bytes (64 MiB at most), 112 MiB / 320 B records */
        assert_string_equal(km_props_get(&cfg.flows[i].rk_consumer, "queued.max.messages.kbytes"), "65536");
        assert_string_equal(km_props_get(&cfg.flows[i].rk_consumer, "queued.min.messages"), "367001");
    }
    unload(&cfg, &d);

    /* a process for B alone (--clusters B) runs one task: it gets the whole prefetch part */
    assert_int_equal(load_here(&cfg, &d, base, "", "B"), 0);
    km_flow_t *ab = km_config_flow(&cfg, "A", "B");
    assert_non_null(ab);
    assert_string_equal(km_props_get(&ab->rk_consumer, "queued.min.messages"), "734003");
    unload(&cfg, &d);

    assert_int_equal(load(&cfg, &d, base, "memory.max.bytes = 134217728\nA.consumer.queued.min.messages = 5000\n"), 0);
    assert_int_equal(d.nwarnings, 0); /* a known top-level key */
    for (size_t i = 0; i < cfg.nflows; i++) {
        km_flow_t *f = &cfg.flows[i];
        assert_int_equal(f->s.memory_max_bytes, 134217728);
        assert_int_equal(f->s.inflight_max_bytes, 16777216);
        assert_string_equal(km_props_get(&f->rk_consumer, "queued.max.messages.kbytes"), "28672");
        /* the user's value wins on the flow that reads from A */
        assert_string_equal(km_props_get(&f->rk_consumer, "queued.min.messages"), strcmp(f->source, "A") == 0 ? "5000" : "91750");
    }
    unload(&cfg, &d);

    /* a file from before memory.max.bytes: twice its in-flight budget (at least 16 MiB) */
    assert_int_equal(load(&cfg, &d, base, "inflight.max.bytes = 8388608\n"), 0);
    assert_int_equal(cfg.memory_max_bytes, 16777216);
    for (size_t i = 0; i < cfg.nflows; i++) assert_int_equal(cfg.flows[i].s.inflight_max_bytes, 8388608);
    unload(&cfg, &d);
    assert_int_equal(load(&cfg, &d, base, "inflight.max.bytes = 536870912\n"), 0);
    assert_int_equal(cfg.memory_max_bytes, 1073741824);
    unload(&cfg, &d);

    static const char *const bad[] = {"inflight.max.bytes = 10\n", "memory.max.bytes = 1048576\n", "memory.max.bytes = lots\n",
                                      "memory.max.bytes = 33554432\ninflight.max.bytes = 33554432\n"};
    static const char *const said[] = {"inflight.max.bytes must be an integer >= 1048576", "memory.max.bytes must be an integer >= 16777216",
                                       "memory.max.bytes must be an integer", "leaves too little of memory.max.bytes"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(load(&cfg, &d, base, bad[i]), -1);
        bool found = false;
        for (size_t k = 0; k < d.nerrors; k++) found |= strstr(d.errors[k], said[i]) != NULL;
        if (!found) print_message("# no error saying '%s' for %s", said[i], bad[i]);
        assert_true(found);
        unload(&cfg, &d);
    }
}

/* A task's prefetch is small for a source on the same LAN, else its share of memory.max.bytes,
 * and the consumer's limits follow the prefetch, the user's own values still winning. */
static void test_prefetch_for_round_trip(void **state) {
    const int64_t share = 469762048; /* one task of the default budget: 512 MiB - 64 MiB */
    assert_int_equal(km_clientconf_prefetch_for_rtt(share, 300), 58720256); /* a LAN: 56 MiB */
    assert_int_equal(km_clientconf_prefetch_for_rtt(share, 499), 58720256);
    assert_int_equal(km_clientconf_prefetch_for_rtt(share, 500), share); /* further: all of it */
    assert_int_equal(km_clientconf_prefetch_for_rtt(share, 100000), share);
    assert_int_equal(km_clientconf_prefetch_for_rtt(share, -1), share);      /* not timed */
    assert_int_equal(km_clientconf_prefetch_for_rtt(16777216, 300), 16777216); /* never above the share */

    const char *base = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"
                       "A.consumer.queued.min.messages = 5000\n";
    km_config_t cfg;
    km_diag_t d = {0};
    assert_int_equal(load(&cfg, &d, base, ""), 0);
    km_flow_t *f = km_config_flow(&cfg, "A", "B");
    assert_int_equal(f->s.prefetch_max_bytes, share);
    assert_string_equal(km_props_get(&f->rk_consumer, "fetch.max.bytes"), "52428800"); /* the share's */
    km_props_t lan = {0};
    km_props_copy(&lan, &f->rk_consumer);
    km_clientconf_replication_consumer_defaults(&f->consumer, &lan, f->s.inflight_max_bytes, km_clientconf_prefetch_for_rtt(share, 300));
    assert_string_equal(km_props_get(&lan, "queued.max.messages.kbytes"), "28672");
    assert_string_equal(km_props_get(&lan, "queued.min.messages"), "5000");
    assert_string_equal(km_props_get(&lan, "fetch.max.bytes"), "14680064");
    assert_string_equal(km_props_get(&lan, "max.partition.fetch.bytes"), "4194304");
    assert_string_equal(km_props_get(&lan, "bootstrap.servers"), "a:9092");
    km_props_free(&lan);
    unload(&cfg, &d);
}

/* got is want, both NULL or the same string (cmocka's string assertion takes no NULL). */
static void assert_same_value(const char *got, const char *want) {
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
}

/* The replication producer keeps one request in flight per connection to a target on the same
 * LAN, with a linger.ms of 2, and only when idempotent and the user did not choose (clientconf.c). */
static void test_requests_in_flight_for_round_trip(void **state) {
    const char *base = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n";
    static const struct {
        const char *extra;
        int64_t rtt_us;
        const char *want, *linger; /* NULL: left to librdkafka */
        bool set;
    } cases[] = {
        {"", 300, "1", "2", true},
        {"", 499, "1", "2", true},
        {"", 500, NULL, NULL, false}, /* further away: a round trip per request would cost the rate */
        {"", 100000, NULL, NULL, false},
        {"", -1, NULL, NULL, false}, /* not timed */
        {"A->B.producer.acks = 1\n", 300, NULL, NULL, false}, /* not idempotent: left as it was */
        {"A->B.producer.max.in.flight.requests.per.connection = 3\n", 300, "3", NULL, false}, /* the user's */
        {"A->B.producer.max.in.flight = 2\n", 300, NULL, NULL, false}, /* the user's, as librdkafka names it */
        {"A->B.producer.linger.ms = 20\n", 300, "1", "20", true},
        {"A->B.producer.queue.buffering.max.ms = 20\n", 300, "1", NULL, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        km_config_t cfg;
        km_diag_t d = {0};
        assert_int_equal(load(&cfg, &d, base, cases[i].extra), 0);
        km_flow_t *f = km_config_flow(&cfg, "A", "B");
        km_props_t out = {0};
        km_props_copy(&out, &f->rk_producer);
        assert_int_equal(km_clientconf_replication_producer_defaults(&f->producer, &out, cases[i].rtt_us), cases[i].set);
        const char *got = km_props_get(&out, "max.in.flight.requests.per.connection"), *linger = km_props_get(&out, "linger.ms");
        assert_same_value(got, cases[i].want);
        assert_same_value(linger, cases[i].linger);
        assert_string_equal(km_props_get(&out, "bootstrap.servers"), "b:9092");
        km_props_free(&out);
        unload(&cfg, &d);
    }
}

/* A task keeps 32 MiB in flight for a target on the same LAN, all of inflight.max.bytes for one
 * further away or not timed, and all of it whenever the file sets inflight.max.bytes, even to
 * the default's value. */
static void test_task_inflight_for_round_trip(void **state) {
    const char *base = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n";
    static const struct {
        const char *extra;
        int64_t rtt_us, want;
    } cases[] = {
        {"", 300, 33554432},
        {"", 499, 33554432},
        {"", 500, 67108864}, /* further away: each round trip carries what is in flight */
        {"", -1, 67108864},  /* not timed */
        {"memory.max.bytes = 134217728\n", 300, 16777216}, /* never above the budget */
        {"inflight.max.bytes = 67108864\n", 300, 67108864}, /* the user's */
        {"inflight.max.bytes = 8388608\n", 300, 8388608},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        km_config_t cfg;
        km_diag_t d = {0};
        assert_int_equal(load(&cfg, &d, base, cases[i].extra), 0);
        const km_flow_t *f = km_config_flow(&cfg, "A", "B");
        int64_t got = km_clientconf_task_inflight_for_rtt(f->s.inflight_max_bytes, f->s.inflight_max_set, cases[i].rtt_us);
        if (got != cases[i].want) print_message("# case %zu: %lld\n", i, (long long)got);
        assert_int_equal(got, cases[i].want);
        unload(&cfg, &d);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_warning),
        cmocka_unit_test(test_memory_budget_keys),
        cmocka_unit_test(test_prefetch_for_round_trip),
        cmocka_unit_test(test_requests_in_flight_for_round_trip),
        cmocka_unit_test(test_task_inflight_for_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
