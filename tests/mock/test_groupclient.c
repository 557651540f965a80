/* test_groupclient.c — requests to a group's coordinator outlive an outage of its broker, on an
 * in-process mock cluster: with librdkafka 2.0.2's admin client, a group-offsets request that
 * timed out while its coordinator was down aborted the process the moment the coordinator came
 * back (librdkafka #4605). Here the requests made during the outage fail with a message, nothing
 * aborts once the broker is back, and the group's offsets are read and changed again. And a
 * group-offsets answer saying the broker is not (or not yet) the group's coordinator fails that
 * request with the broker's reason; with librdkafka 2.0.2 it was a SIGSEGV (librdkafka #5040). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "groupclient.h"
#include "kt.h"
#include "mock.h"
#include "util.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 60000
#define OUTAGE_TIMEOUT_MS 1000

typedef struct reader {
    km_groupclient_t *g;
    int64_t offset; /* the last one read, -1 when none */
} reader_t;

/* The committed offset of group g, topic t, partition 0, or -1 (no answer or none). */
static int64_t read_offset(km_groupclient_t *g, int timeout_ms, char *err, size_t errlen) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "t", 0);
    km_group_offset_t *o;
    size_t n;
    int64_t off = km_group_offsets(g, "g", parts, timeout_ms, &o, &n, err, errlen) == 0 && n == 1 ? o[0].offset : -1;
    km_group_offsets_free(o, n); /* NULL and 0 after a failure */
    rd_kafka_topic_partition_list_destroy(parts);
    return off;
}

static bool reads_offset(void *arg) {
    reader_t *r = arg;
    char err[512];
    r->offset = read_offset(r->g, 2000, err, sizeof(err));
    return r->offset >= 0;
}

static void alter(km_groupclient_t *g, int64_t offset, int timeout_ms, int want_rc) {
    char err[512] = "";
    km_group_offset_t o = {"t", 0, offset, ""};
    int rc = km_group_alter_offsets(g, "g", &o, 1, timeout_ms, err, sizeof(err));
    if (rc != want_rc) print_message("# alter to %lld: rc %d, %s\n", (long long)offset, rc, err);
    assert_int_equal(rc, want_rc);
}

/* A one-broker mock with topic t, and a group client on it that has committed offset 5 of t [0]
 * for group g. */
typedef struct fixture {
    km_mock_t *m;
    km_props_t props;
    km_groupclient_t *g;
} fixture_t;

static int setup(void **state) {
    char err[512];
    fixture_t *f = km_xcalloc(1, sizeof(*f));
    *state = f;
    f->m = km_mock_new(1, err, sizeof(err));
    assert_non_null(f->m);
    assert_int_equal(km_mock_create_topic(f->m, "t", 1), 0);
    km_props_set(&f->props, "bootstrap.servers", km_mock_bootstraps(f->m), 0);
    f->g = km_groupclient_new(&f->props, "own", err, sizeof(err));
    assert_non_null(f->g);
    alter(f->g, 5, 10000, 0);
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    km_groupclient_destroy(f->g);
    km_props_free(&f->props);
    km_mock_free(f->m);
    free(f);
    return 0;
}

static void test_coordinator_back_after_timed_out_requests(void **state) {
    fixture_t *f = *state;
    km_mock_t *m = f->m;
    km_groupclient_t *g = f->g;
    char err[512];
    reader_t r = {g, -1};
    assert_true(kt_wait_until(reads_offset, &r, WAIT_MS));
    assert_int_equal(r.offset, 5);

    /* The broker goes down: a request may fail at once (its connection closes under it), the
     * next ones wait for a coordinator past their timeout. */
    rd_kafka_mock_broker_set_down(km_mock_cluster(m), 1);
    assert_int_equal(read_offset(g, OUTAGE_TIMEOUT_MS, err, sizeof(err)), -1);
    assert_int_equal(read_offset(g, OUTAGE_TIMEOUT_MS, err, sizeof(err)), -1);
    if (!strstr(err, "no answer within")) print_message("# %s\n", err);
    assert_non_null(strstr(err, "no answer within"));
    alter(g, 9, OUTAGE_TIMEOUT_MS, -1);
    rd_kafka_consumer_group_state_t st;
    assert_int_equal(km_group_state(g, "g", OUTAGE_TIMEOUT_MS, &st, err, sizeof(err)), -1);

    /* Back: what was sent during the outage is gone, not sent late (and with librdkafka's admin
     * client, not a process abort); new requests are answered. */
    rd_kafka_mock_broker_set_up(km_mock_cluster(m), 1);
    assert_true(kt_wait_until(reads_offset, &r, WAIT_MS));
    assert_int_equal(r.offset, 5);
    alter(g, 7, 10000, 0);
    assert_int_equal(read_offset(g, 10000, err, sizeof(err)), 7);
}

/* What a broker answers while its groups move to another broker, or right after its restart. */
static void test_not_coordinator_answer_fails_the_request(void **state) {
    fixture_t *f = *state;
    km_mock_t *m = f->m;
    km_groupclient_t *g = f->g;
    char err[512];
    assert_int_equal(read_offset(g, 10000, err, sizeof(err)), 5);

    const rd_kafka_resp_err_t answers[] = {RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE};
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        rd_kafka_mock_push_request_errors(km_mock_cluster(m), 9 /* OffsetFetch */, 1, answers[i]);
        err[0] = '\0';
        assert_int_equal(read_offset(g, 10000, err, sizeof(err)), -1);
        if (!strstr(err, rd_kafka_err2str(answers[i]))) print_message("# %s\n", err);
        assert_non_null(strstr(err, rd_kafka_err2str(answers[i])));
        assert_int_equal(read_offset(g, 10000, err, sizeof(err)), 5);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_coordinator_back_after_timed_out_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_coordinator_answer_fails_the_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
