/* test_fetchwake.c — a replication consumer whose prefetch holds fewer records than it reads in a
 * second keeps reading (fetchwake.h). librdkafka 2.0.2 stops fetching when its queue holds
 * queued.min.messages records and fetches again only when something else wakes its broker
 * thread, at the latest after a fixed second: 20 refills of a 1,000-record queue took about 20 s
 * without the waker. With it, each refill follows the drain at once, whether the task takes the
 * queue in small batches or all of it in one (kmirror's batch holds up to 10,000 records, more
 * than half of a small budget's prefetch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fetchwake.h"
#include "kt.h"
#include "mock.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define QUEUE_RECORDS 1000
#define REFILLS 20
/* Each refill that waits out librdkafka's second costs ~1 s: 20 of them cannot finish in 10 s. */
#define DEADLINE_MS 10000

static void refilled_at_once(size_t batch_max) {
    char err[256];
    km_mock_t *m = km_mock_new(1, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(km_mock_create_topic(m, "t", 1), 0);
    size_t total = QUEUE_RECORDS * REFILLS;
    kt_msg_t *msgs = km_xcalloc(total, sizeof(*msgs));
    for (size_t i = 0; i < total; i++) msgs[i] = (kt_msg_t){.partition = 0, .value = "0123456789"};
    /* Small batches: the mock answers a Fetch with whole batches, up to max.partition.fetch.bytes. */
    const char *pconf[] = {"batch.num.messages", "50", NULL};
    assert_int_equal(kt_produce(km_mock_bootstraps(m), "t", msgs, total, pconf, NULL), 0);
    free(msgs);

    char qmin[16];
    snprintf(qmin, sizeof(qmin), "%d", QUEUE_RECORDS);
    /* Fetches far smaller than the queue, so that the queue fills before the fetcher stops. */
    const char *conf[] = {"group.id", "fetchwake", "queued.min.messages", qmin, "max.partition.fetch.bytes", "4096",
                          "enable.partition.eof", "false", NULL};
    rd_kafka_t *c = kt_client(RD_KAFKA_CONSUMER, km_mock_bootstraps(m), conf);
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, "t", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tl), 0);
    rd_kafka_topic_partition_list_destroy(tl);
    km_fetchwake_t *w = km_fetchwake_new(c, "test", QUEUE_RECORDS, 65536);
    assert_non_null(w);

    /* A task busier than the fetcher: the queue fills up and the fetcher stops, then the task
     * takes it in batches (passing the half-way mark), then finds it full again. */
    rd_kafka_message_t *batch[QUEUE_RECORDS];
    size_t got = 0;
    int64_t deadline = km_now_mono_ms() + DEADLINE_MS;
    while (got < total && km_now_mono_ms() < deadline) {
        size_t want = total - got < QUEUE_RECORDS ? total - got : QUEUE_RECORDS;
        while ((size_t)rd_kafka_queue_length(q) < want && km_now_mono_ms() < deadline) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
        for (size_t taken = 0; taken < want && got < total;) {
            ssize_t n = rd_kafka_consume_batch_queue(q, 100, batch, batch_max);
            if (n <= 0) break;
            int64_t bytes = 0;
            for (ssize_t i = 0; i < n; i++) {
                assert_int_equal(batch[i]->err, 0);
                assert_int_equal(batch[i]->offset, (int64_t)got);
                bytes += (int64_t)batch[i]->len;
                got++;
                rd_kafka_message_destroy(batch[i]);
            }
            taken += (size_t)n;
            km_fetchwake_observe(w, rd_kafka_queue_length(q), n, bytes);
        }
    }
    if (got < total)
        fprintf(stderr, "%zu of %zu records read in %d s: the fetcher waited for its own timer\n", got, total,
                DEADLINE_MS / 1000);
    assert_int_equal(got, total);

    km_fetchwake_free(w);
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    km_mock_free(m);
}

static void test_drained_prefetch_is_refilled_at_once(void **state) {
    (void)state;
    refilled_at_once(100);
}

/* The batch that empties a full queue is the only one the waker sees: before 2026-12-06 it judged
 * the queue by what the batch left (nothing), never armed, and 20 refills took ~20 s. */
static void test_queue_taken_in_one_batch_is_refilled_at_once(void **state) {
    (void)state;
    refilled_at_once(QUEUE_RECORDS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drained_prefetch_is_refilled_at_once),
        cmocka_unit_test(test_queue_taken_in_one_batch_is_refilled_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
