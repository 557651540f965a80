/* The clients' statistics, read beside the record path (clientstats.h): the last stable offsets
 * a consumer's document holds, what reaches the task's metrics slot, and what a stop still reads. */
#include "kt.h"

#include "clientstats.h"
#include "metrics.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* As librdkafka 2.0.2 writes it (trimmed): "-1" is its unassigned partition, a partition it has
 * not fetched yet has no ls_offset worth keeping (-1001 is still an integer: kept as is). */
static const char CONSUMER_DOC[] =
    "{\"name\":\"rdkafka#consumer-1\",\"type\":\"consumer\","
    "\"brokers\":{\"127.0.0.1:9092/1\":{\"name\":\"127.0.0.1:9092/1\",\"source\":\"learned\",\"state\":\"UP\"},"
    "\"GroupCoordinator\":{\"source\":\"logical\",\"state\":\"UP\"}},"
    "\"topics\":{"
    "\"orders\":{\"topic\":\"orders\",\"partitions\":{"
    "\"0\":{\"partition\":0,\"hi_offset\":120,\"ls_offset\":100},"
    "\"1\":{\"partition\":1,\"hi_offset\":7,\"ls_offset\":7},"
    "\"-1\":{\"partition\":-1,\"ls_offset\":-1001}}},"
    "\"payments\":{\"topic\":\"payments\",\"partitions\":{"
    "\"3\":{\"partition\":3,\"ls_offset\":-1001},"
    "\"4\":{\"partition\":4}}},"
    "\"empty\":{\"topic\":\"empty\",\"partitions\":{}}}}";

static const char PRODUCER_DOC[] = "{\"brokers\":{\"b/1\":{\"source\":\"learned\",\"state\":\"UP\",\"txretries\":5,\"txerrs\":2}}}";

static void assert_lso(const km_lso_t *e, const char *topic, int32_t partition, int64_t lso) {
    assert_string_equal(e->topic, topic);
    assert_int_equal(e->partition, partition);
    assert_int_equal(e->lso, lso);
}

static void assert_consumer_lsos(const km_lsos_t *l) {
    assert_non_null(l);
    assert_int_equal(l->n, 3);
    assert_int_equal(l->ntopics, 2);
    assert_lso(&l->v[0], "orders", 0, 100);
    assert_lso(&l->v[1], "orders", 1, 7);
    assert_lso(&l->v[2], "payments", 3, -1001);
    assert_ptr_equal(l->v[0].topic, l->v[1].topic); /* one name per topic: the record path compares pointers */
}

static void test_lsos_read(void **state) {
    km_lsos_t *l = km_cstats_read_lsos(CONSUMER_DOC, strlen(CONSUMER_DOC));
    assert_consumer_lsos(l);
    km_lsos_free(l);
    assert_null(km_cstats_read_lsos(PRODUCER_DOC, strlen(PRODUCER_DOC))); /* no topics */
    assert_null(km_cstats_read_lsos("{\"topics\":", 10));                  /* cut off */
    static const char bad_key[] = "{\"topics\":{\"t\":{\"partitions\":{\"x\":{\"ls_offset\":1}}}}}";
    assert_null(km_cstats_read_lsos(bad_key, strlen(bad_key))); /* not a partition number */
    (void)state;
}

typedef struct fixture {
    km_flow_t flow;
    km_metrics_t *m;
    km_flow_metrics_t *fm;
    km_task_slot_t *slot;
    km_cstats_t *cs;
    km_lsos_t *taken;
} fixture_t;

static int setup(void **state) {
    fixture_t *x = km_xcalloc(1, sizeof(*x));
    x->flow.source = (char *)"A";
    x->flow.target = (char *)"B";
    x->flow.name = (char *)"A->B";
    x->flow.s.tasks_max = 1;
    x->m = km_metrics_new();
    x->fm = km_metrics_add_flow(x->m, &x->flow);
    x->slot = km_flow_metrics_task(x->fm, 0);
    km_task_slot_started(x->slot);
    km_flow_metrics_state(x->fm, KM_FLOW_RUNNING, NULL);
    x->cs = km_cstats_start(x->slot);
    assert_non_null(x->cs);
    *state = x;
    return 0;
}

static int teardown(void **state) {
    fixture_t *x = *state;
    km_cstats_stop(x->cs);
    km_lsos_free(x->taken);
    km_metrics_free(x->m);
    free(x);
    return 0;
}

/* librdkafka's buffer: the module frees what it takes with rd_kafka_mem_free (free). */
static void offer(fixture_t *x, bool is_producer, const char *doc) {
    char *json = km_xstrdup(doc);
    assert_true(km_cstats_offer(x->cs, is_producer, json, strlen(json)));
}

static bool lsos_taken(void *arg) {
    fixture_t *x = arg;
    return (x->taken = km_cstats_take_lsos(x->cs)) != NULL;
}

static void test_reader_feeds_the_record_path_and_the_slot(void **state) {
    fixture_t *x = *state;
    assert_null(km_cstats_take_lsos(x->cs)); /* nothing read yet */
    offer(x, false, CONSUMER_DOC);
    assert_true(kt_wait_until(lsos_taken, x, 10000));
    assert_consumer_lsos(x->taken);
    assert_null(km_cstats_take_lsos(x->cs)); /* taken once */
    km_snapshot_t *s = km_metrics_snapshot(x->m, km_now_wall_ms());
    assert_int_equal(s->flows[0].tasks[0].source_up, 1); /* the logical coordinator is no connection */
    km_snapshot_free(s);
}

/* A stop reads what was handed over before it: a stopping task's last figures are not lost. */
static void test_stop_reads_what_waits(void **state) {
    fixture_t *x = *state;
    offer(x, true, PRODUCER_DOC);
    offer(x, false, "not json"); /* read as nothing */
    km_cstats_stop(x->cs);
    x->cs = NULL;
    km_snapshot_t *s = km_metrics_snapshot(x->m, km_now_wall_ms());
    assert_int_equal(s->flows[0].tasks[0].target_up, 1);
    assert_int_equal(s->flows[0].request_retries, 5);
    assert_int_equal(s->flows[0].request_errors, 2);
    km_snapshot_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lsos_read),
        cmocka_unit_test_setup_teardown(test_reader_feeds_the_record_path_and_the_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_reads_what_waits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
