/* test_admin_waits.c — the admin calls kmirror waits on end when their timeout does, on an
 * in-process mock cluster whose broker is slow to answer: a partition's watermarks asked with a
 * 1 s timeout of a broker that answers ListOffsets after 8 s fail as timed out instead of waiting
 * for it (librdkafka 2.0.2's rd_kafka_query_watermark_offsets waits, librdkafka #4460; on a
 * broker that never answers, up to socket.timeout.ms and its retries: a start, a stop or a
 * failover command held for minutes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin.h"
#include "kt.h"
#include "mock.h"
#include "util.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>

#define SLOW_MS 8000
/* ListOffsets is ApiKey 2 (the mock's error injection takes the protocol's number). */
#define APIKEY_LIST_OFFSETS 2

static void test_watermarks_end_at_their_timeout(void **state) {
    (void)state;
    char err[512];
    km_mock_t *m = km_mock_new(1, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(km_mock_create_topic(m, "t", 2), 0);
    kt_msg_t msgs[] = {{.partition = 1, .value = "a", .value_len = 1}, {.partition = 1, .value = "b", .value_len = 1}};
    assert_int_equal(kt_produce(km_mock_bootstraps(m), "t", msgs, 2, NULL, NULL), 0);
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, km_mock_bootstraps(m), NULL);
    assert_non_null(rk);
    int64_t lo = -1, hi = -1;
    assert_int_equal(km_admin_watermarks(rk, "t", 1, &lo, &hi, 10000), 0);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 2);

    rd_kafka_mock_broker_push_request_error_rtts(km_mock_cluster(m), 1, APIKEY_LIST_OFFSETS, 2,
                                                 RD_KAFKA_RESP_ERR_NO_ERROR, SLOW_MS, RD_KAFKA_RESP_ERR_NO_ERROR, SLOW_MS);
    rd_kafka_resp_err_t e = km_admin_watermarks(rk, "t", 1, &lo, &hi, 1000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) print_message("# answered after the broker's %d ms, not at the 1000 ms timeout\n", SLOW_MS);
    assert_int_equal(e, RD_KAFKA_RESP_ERR__TIMED_OUT);

    rd_kafka_destroy(rk);
    km_mock_free(m);
}

/* The round trip that sizes a flow's prefetch (flow.c) is timed on the broker's answers, probing
 * stops once an answer decides (or a distant broker answered at all), and a broker that does not
 * answer within the probe's timeout gives "not timed" (-1: the whole share) instead of a figure,
 * or a wait for the broker. (The mock delays Metadata only broker-wide.) */
static void test_round_trip_timed_or_not(void **state) {
    (void)state;
    char err[512];
    km_mock_t *m = km_mock_new(1, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(km_mock_create_topic(m, "t", 1), 0);
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, km_mock_bootstraps(m), NULL);
    assert_non_null(rk);
    assert_true(km_admin_round_trip_us(rk, "t", 1, 0, 0, 10000) >= 0); /* connected */

    rd_kafka_mock_broker_set_rtt(km_mock_cluster(m), 1, 300);
    int64_t rtt = km_admin_round_trip_us(rk, "t", 3, 0, 60000, 10000);
    print_message("# a broker 300 ms away: %lld us\n", (long long)rtt);
    assert_true(rtt >= 300000 && rtt < 10000000);

    /* Ten probes of 300 ms would take 3 s: one answer under enough_us ends the probing, and so
     * does span_ms (here 50 ms) once the first answer came. Seen failing with neither: 3.0 s. */
    int64_t t0 = km_now_mono_ms();
    rtt = km_admin_round_trip_us(rk, "t", 10, 10000000, 60000, 10000);
    int64_t took = km_now_mono_ms() - t0;
    print_message("# the first answer was enough: %lld us, in %lld ms\n", (long long)rtt, (long long)took);
    assert_true(rtt >= 300000 && took < 1500);
    t0 = km_now_mono_ms();
    rtt = km_admin_round_trip_us(rk, "t", 10, 0, 50, 10000);
    took = km_now_mono_ms() - t0;
    print_message("# the span was over after the first answer: %lld us, in %lld ms\n", (long long)rtt, (long long)took);
    assert_true(rtt >= 300000 && took < 1500);

    rd_kafka_mock_broker_set_rtt(km_mock_cluster(m), 1, SLOW_MS);
    assert_int_equal(km_admin_round_trip_us(rk, "t", 3, 0, 60000, 300), -1);

    rd_kafka_destroy(rk);
    km_mock_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermarks_end_at_their_timeout),
        cmocka_unit_test(test_round_trip_timed_or_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
