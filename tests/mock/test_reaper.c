/* test_reaper.c — the task's reaper (reaper.h) destroys every consumed message handed to it, in
 * whatever way the task lets go of it: batches handed over while records flow, a flush, a free
 * without a flush, no reaper at all. Messages come from a real consumer of a mock cluster, and
 * the consumer is destroyed afterwards: librdkafka's destroy does not return while a consumed
 * message is still alive (each holds a reference on its partition), so a message the reaper lost
 * hangs the test into its deadline, and a sanitizer build reports it as a leak as well. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kt.h"
#include "mock.h"
#include "reaper.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 20000
#define WAIT_MS 30000

static km_mock_t *mk;

static int setup(void **state) {
    (void)state;
    char err[256];
    mk = km_mock_new(1, err, sizeof err);
    if (!mk || km_mock_create_topic(mk, "t", 2) != 0) return -1;
    static char value[100];
    memset(value, 'v', sizeof value);
    kt_msg_t *msgs = calloc(N, sizeof(*msgs));
    for (int i = 0; i < N; i++) msgs[i] = (kt_msg_t){.partition = i % 2, .value = value, .value_len = sizeof value};
    const char *conf[] = {"linger.ms", "20", NULL};
    int rc = kt_produce(km_mock_bootstraps(mk), "t", msgs, N, conf, NULL);
    free(msgs);
    return rc;
}

static int teardown(void **state) {
    (void)state;
    km_mock_free(mk);
    return 0;
}

static rd_kafka_t *consumer(void) {
    const char *conf[] = {"group.id", "test-reaper", "enable.auto.commit", "false", NULL};
    rd_kafka_t *c = kt_client(RD_KAFKA_CONSUMER, km_mock_bootstraps(mk), conf);
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++) rd_kafka_topic_partition_list_add(tl, "t", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tl), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(tl);
    return c;
}

/* Reads every record and hands each to r, ticking every `tick` records (0: never). */
static void consume_into(rd_kafka_t *c, km_reaper_t *r, int tick) {
    int seen = 0;
    int64_t deadline = kt_wall_ms() + WAIT_MS;
    while (seen < N && kt_wall_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        km_reaper_add(r, m);
        if (tick && ++seen % tick == 0) km_reaper_tick(r);
        if (!tick) seen++;
    }
    assert_int_equal(seen, N);
}

typedef struct {
    rd_kafka_t *c;
    _Atomic bool done;
} closing_t;

static void *close_consumer(void *arg) {
    closing_t *x = arg;
    rd_kafka_consumer_close(x->c);
    rd_kafka_destroy(x->c);
    atomic_store(&x->done, true);
    return NULL;
}

static bool closed(void *arg) { return atomic_load(&((closing_t *)arg)->done); }

/* The consumer's destroy returns: no consumed message is left alive. */
static void assert_consumer_closes(rd_kafka_t *c) {
    static closing_t x;
    x.c = c;
    atomic_store(&x.done, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, close_consumer, &x), 0);
    if (!kt_wait_until(closed, &x, WAIT_MS)) fail_msg("the consumer did not close: a consumed message is still alive");
    pthread_join(th, NULL);
}

static void test_flush_while_flowing(void **state) {
    (void)state;
    rd_kafka_t *c = consumer();
    km_reaper_t *r = km_reaper_new("test");
    assert_non_null(r);
    consume_into(c, r, 500);
    km_reaper_flush(r);
    assert_consumer_closes(c);
    km_reaper_free(r);
}

/* No ticks: only full batches are handed over, the rest waits for the free. */
static void test_free_without_flush(void **state) {
    (void)state;
    rd_kafka_t *c = consumer();
    km_reaper_t *r = km_reaper_new("test");
    assert_non_null(r);
    consume_into(c, r, 0);
    km_reaper_free(r);
    assert_consumer_closes(c);
}

static void test_without_a_reaper(void **state) {
    (void)state;
    rd_kafka_t *c = consumer();
    consume_into(c, NULL, 100);
    km_reaper_flush(NULL);
    km_reaper_tick(NULL);
    km_reaper_free(NULL);
    assert_consumer_closes(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_while_flowing),
        cmocka_unit_test(test_free_without_flush),
        cmocka_unit_test(test_without_a_reaper),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
