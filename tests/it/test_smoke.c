/* test_smoke.c — proves the integration harness itself before any suite relies on it.
 *
 * Against the two real clusters in KMIRROR_IT_A and KMIRROR_IT_B (started by tests/run.sh with
 * scripts/kafka-test-cluster.sh): topics with 3 partitions are created, records with every field
 * kmirror has to carry (null/empty/binary keys and values, repeated and null headers, explicit
 * timestamps, chosen partitions) are produced and read back field by field, and a copy from A to
 * B is compared record by record, which is exactly the check the mirroring suites will make.
 * Also covers kt's waiting, naming and child-process helpers, which need no cluster.
 * Cluster tests skip when KMIRROR_IT_A / KMIRROR_IT_B are unset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"

enum { PARTITIONS = 3, RECORDS = 30 };
static const int64_t BASE_TS = 1600000000000; /* 2020-09-13, far from "now" so a default is obvious */

/* The records every cluster test writes: record i goes to partition i % 3, so within a partition
 * offset o holds record o * 3 + p. Special cases sit at fixed indexes. */
static const unsigned char BINARY[] = {0x00, 0x01, 0xff, 0x00};
enum { NULL_VALUE = 5, EMPTY_VALUE = 6, NULL_KEY = 7, EMPTY_KEY = 8, BINARY_VALUE = 9, NOW_TS = 10 };

static const kt_header_t HEADERS[] = {
    {.name = "trace", .value = "first"},
    {.name = "null-header", .value = NULL},
    {.name = "trace", .value = "second"}, /* Kafka keeps repeated names, in order */
    {.name = "empty", .value = ""},
};

typedef struct {
    char keys[RECORDS][16];
    char values[RECORDS][16];
    kt_msg_t msgs[RECORDS];
} fixture_t;

static void make_records(fixture_t *f) {
    for (int i = 0; i < RECORDS; i++) {
        snprintf(f->keys[i], sizeof f->keys[i], "key-%d", i);
        snprintf(f->values[i], sizeof f->values[i], "value-%d", i);
        f->msgs[i] = (kt_msg_t){
            .partition = i % PARTITIONS,
            .key = i == NULL_KEY ? NULL : i == EMPTY_KEY ? "" : f->keys[i],
            .value = i == NULL_VALUE    ? NULL
                     : i == EMPTY_VALUE ? ""
                     : i == BINARY_VALUE ? (const void *)BINARY
                                         : f->values[i],
            .value_len = i == BINARY_VALUE ? sizeof BINARY : 0,
            .timestamp = i == NOW_TS ? 0 : BASE_TS + i * 1000,
            .headers = i % 4 == 0 ? NULL : HEADERS,
            .header_cnt = i % 4 == 0 ? 0 : sizeof HEADERS / sizeof HEADERS[0],
        };
    }
}

static void assert_bytes(const char *got, size_t got_len, const void *want, size_t want_len) {
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    assert_int_equal(got[got_len], '\0');
}

/* Checks the read-back records against what make_records wrote, field by field. */
static void assert_records_match(const fixture_t *f, const kt_record_t *recs, size_t n, const kt_delivery_t *dr,
                                 int64_t before, int64_t after) {
    assert_int_equal(n, RECORDS);
    for (size_t k = 0; k < n; k++) {
        const kt_record_t *r = &recs[k];
        size_t i = (size_t)(r->offset * PARTITIONS + r->partition);
        assert_in_range(i, 0, RECORDS - 1);
        const kt_msg_t *m = &f->msgs[i];
        assert_int_equal(r->partition, m->partition);
        assert_int_equal(r->partition, dr[i].partition);
        assert_int_equal(r->offset, dr[i].offset);
        assert_bytes(r->key, r->key_len, m->key, m->key ? strlen(m->key) : 0);
        assert_bytes(r->value, r->value_len, m->value, m->value_len ? m->value_len : m->value ? strlen(m->value) : 0);
        assert_int_equal(r->tstype, RD_KAFKA_TIMESTAMP_CREATE_TIME);
        if (m->timestamp)
            assert_int_equal(r->timestamp, m->timestamp);
        else
            assert_in_range(r->timestamp, before, after);
        assert_int_equal(r->header_cnt, m->header_cnt);
        for (size_t h = 0; h < r->header_cnt; h++) {
            assert_string_equal(r->headers[h].name, m->headers[h].name);
            const char *hv = m->headers[h].value;
            assert_bytes(r->headers[h].value, r->headers[h].value_len, hv, hv ? strlen(hv) : 0);
        }
        if (m->header_cnt)
            assert_string_equal(kt_record_header(r, "trace")->value, "first");
        assert_null(kt_record_header(r, "absent"));
    }
}

/* Creates a 3-partition topic on bootstrap, writes the fixture, reads it back. Returns the topic
 * name in topic and the records in *recs / *n for further comparison. */
static void roundtrip(const char *bootstrap, const fixture_t *f, char *topic, size_t topic_size, kt_record_t **recs,
                      size_t *n) {
    kt_unique_name("smoke", topic, topic_size);
    assert_int_equal(kt_create_topic(bootstrap, topic, PARTITIONS, NULL), 0);
    assert_int_equal(kt_partition_count(bootstrap, topic), PARTITIONS);

    kt_delivery_t dr[RECORDS];
    int64_t before = kt_wall_ms();
    assert_int_equal(kt_produce(bootstrap, topic, f->msgs, RECORDS, NULL, dr), 0);
    int64_t after = kt_wall_ms();

    int64_t hw[PARTITIONS];
    assert_int_equal(kt_high_watermarks(bootstrap, topic, hw, PARTITIONS), 0);
    for (int p = 0; p < PARTITIONS; p++)
        assert_int_equal(hw[p], RECORDS / PARTITIONS);

    assert_int_equal(kt_consume(bootstrap, topic, NULL, recs, n), 0);
    assert_records_match(f, *recs, *n, dr, before, after);
}

static void test_roundtrip_on_a(void **state) {
    (void)state;
    if (!kt_it_ready()) skip();
    const char *a = getenv("KMIRROR_IT_A");
    fixture_t f;
    make_records(&f);
    char topic[128];
    kt_record_t *recs;
    size_t n;
    roundtrip(a, &f, topic, sizeof topic, &recs, &n);
    kt_records_free(recs, n);
    assert_int_equal(kt_delete_topic(a, topic), 0);
}

/* The check a mirroring test makes: what B holds equals what A holds, record by record. Also
 * shows the clusters are separate: the topic made on A does not exist on B. */
static void test_copy_a_to_b_matches(void **state) {
    (void)state;
    if (!kt_it_ready()) skip();
    const char *a = getenv("KMIRROR_IT_A"), *b = getenv("KMIRROR_IT_B");
    fixture_t f;
    make_records(&f);
    char topic[128];
    kt_record_t *src;
    size_t n;
    roundtrip(a, &f, topic, sizeof topic, &src, &n);
    assert_int_equal(kt_partition_count(b, topic), 0);

    assert_int_equal(kt_create_topic(b, topic, PARTITIONS, NULL), 0);
    kt_msg_t copy[RECORDS];
    for (size_t i = 0; i < n; i++)
        copy[i] = (kt_msg_t){.partition = src[i].partition,
                             .key = src[i].key,
                             .key_len = src[i].key_len,
                             .value = src[i].value,
                             .value_len = src[i].value_len,
                             .timestamp = src[i].timestamp,
                             .headers = src[i].headers,
                             .header_cnt = src[i].header_cnt};
    assert_int_equal(kt_produce(b, topic, copy, n, NULL, NULL), 0);

    kt_record_t *dst;
    size_t m;
    assert_int_equal(kt_consume(b, topic, &(kt_consume_opts_t){.expected = RECORDS}, &dst, &m), 0);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(dst[i].partition, src[i].partition);
        assert_int_equal(dst[i].offset, src[i].offset);
        assert_int_equal(dst[i].timestamp, src[i].timestamp);
        assert_bytes(dst[i].key, dst[i].key_len, src[i].key, src[i].key_len);
        assert_bytes(dst[i].value, dst[i].value_len, src[i].value, src[i].value_len);
        assert_int_equal(dst[i].header_cnt, src[i].header_cnt);
        for (size_t h = 0; h < src[i].header_cnt; h++) {
            assert_string_equal(dst[i].headers[h].name, src[i].headers[h].name);
            assert_bytes(dst[i].headers[h].value, dst[i].headers[h].value_len, src[i].headers[h].value,
                         src[i].headers[h].value_len);
        }
    }
    kt_records_free(src, n);
    kt_records_free(dst, m);
    assert_int_equal(kt_delete_topic(a, topic), 0);
    assert_int_equal(kt_delete_topic(b, topic), 0);
}

/* Partition ranges, the expected-count stop, the deadline, topic configs and deletion. */
static void test_consume_limits_and_delete(void **state) {
    (void)state;
    if (!kt_it_ready()) skip();
    const char *b = getenv("KMIRROR_IT_B");
    char topic[128];
    kt_unique_name("smoke", topic, sizeof topic);
    const char *configs[] = {"cleanup.policy", "compact", "segment.ms", "100", NULL};
    assert_int_equal(kt_create_topic(b, topic, PARTITIONS, configs), 0);
    kt_msg_t msgs[] = {{.partition = 1, .key = "a", .value = "1"},
                       {.partition = 2, .key = "b", .value = "2"},
                       {.partition = 2, .key = "c", .value = "3"}};
    assert_int_equal(kt_produce(b, topic, msgs, 3, NULL, NULL), 0);

    kt_record_t *recs;
    size_t n;
    assert_int_equal(kt_consume(b, topic, &(kt_consume_opts_t){.partition_first = 2}, &recs, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(recs[0].key, "b");
    assert_string_equal(recs[1].key, "c");
    kt_records_free(recs, n);

    print_message("# two kt_consume failure reports follow on purpose\n");
    int64_t t0 = kt_wall_ms();
    assert_int_equal(kt_consume(b, topic, &(kt_consume_opts_t){.expected = 4, .timeout_ms = 1500}, &recs, &n), -1);
    int64_t waited = kt_wall_ms() - t0;
    assert_int_equal(n, 3); /* what did arrive is still handed back */
    assert_in_range(waited, 1400, 10000);
    kt_records_free(recs, n);

    assert_int_equal(kt_consume(b, topic, &(kt_consume_opts_t){.partition_first = 1, .partition_count = 1}, &recs, &n),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].value, "1");
    kt_records_free(recs, n);

    assert_int_equal(kt_delete_topic(b, topic), 0);
    assert_int_equal(kt_partition_count(b, topic), 0);
    assert_int_equal(kt_delete_topic(b, topic), 0); /* deleting twice is fine: cleanup paths repeat */
    assert_int_equal(kt_consume(b, topic, NULL, &recs, &n), -1);
    assert_int_equal(n, 0);
}

static void test_unique_names(void **state) {
    (void)state;
    char a[64], b[64];
    kt_unique_name("t", a, sizeof a);
    kt_unique_name("t", b, sizeof b);
    assert_string_not_equal(a, b);
    assert_true(strncmp(a, "t-", 2) == 0);
    assert_int_equal(strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"), strlen(a));
}

static bool countdown(void *arg) { return --*(int *)arg <= 0; }
static bool never(void *arg) {
    (void)arg;
    return false;
}

static void test_wait_until(void **state) {
    (void)state;
    int calls = 3;
    assert_true(kt_wait_until(countdown, &calls, 5000));
    assert_int_equal(calls, 0);
    int64_t t0 = kt_wall_ms();
    assert_false(kt_wait_until(never, NULL, 300));
    assert_in_range(kt_wall_ms() - t0, 290, 2000);
}

static void test_spawn_exit_and_signals(void **state) {
    (void)state;
    char log[] = "/tmp/kt-smoke-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    close(fd);

    char *const talk[] = {"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3", NULL};
    pid_t pid = kt_spawn(talk, log);
    assert_true(pid > 0);
    int status;
    assert_int_equal(kt_wait_exit(pid, 10000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    char *text = kt_read_file(log);
    assert_non_null(text);
    assert_non_null(strstr(text, "to-stdout\n"));
    assert_non_null(strstr(text, "to-stderr\n"));
    free(text);

    print_message("# a kt_wait_exit and a kt_spawn failure report follow on purpose\n");
    char *const sleeper[] = {"sleep", "30", NULL};
    pid = kt_spawn(sleeper, log);
    assert_true(pid > 0);
    assert_int_equal(kt_wait_exit(pid, 200, &status), -1);
    assert_int_equal(kt_signal(pid, SIGTERM), 0);
    assert_int_equal(kt_wait_exit(pid, 10000, &status), 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);

    char *const missing[] = {"kt-smoke-no-such-program", NULL};
    assert_int_equal(kt_spawn(missing, log), -1);
    unlink(log);
}

int main(void) {
    /* kt reports on stderr; line-buffered TAP on stdout keeps each report next to its test when
     * tests/run.sh merges the two streams into a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unique_names),
        cmocka_unit_test(test_wait_until),
        cmocka_unit_test(test_spawn_exit_and_signals),
        cmocka_unit_test(test_roundtrip_on_a),
        cmocka_unit_test(test_copy_a_to_b_matches),
        cmocka_unit_test(test_consume_limits_and_delete),
    };
    return cmocka_run_group_tests_name("smoke", tests, NULL, NULL);
}
