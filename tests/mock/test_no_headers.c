/* test_no_headers.c — km_rk_no_headers() (rk.h), which lets the task skip librdkafka's header
 * parse for records that have none, against the running librdkafka's real fetch path: records
 * are produced to a mock cluster and read back with an ordinary consumer, and for every one the
 * check must agree with rd_kafka_message_headers(). It may never say "none" for a record that has
 * headers (they would be lost on the target); it must say "none" for a v2 record without headers
 * and with a value (or the task pays the parse again); and it must not guess for a value it
 * cannot place (empty, null) or for the v0/v1 formats, where the byte after the value is not the
 * record's. Every compression codec, values whose length takes one to three varint bytes, keys
 * and no keys, several records per batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kt.h"
#include "mock.h"
#include "rk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 30000

typedef struct {
    const char *name;
    size_t value_len; /* 0: empty value; SIZE_MAX: null value */
    int headers;      /* how many headers the record carries */
    bool key;
} shape_t;

static const shape_t shapes[] = {
    {"small", 5, 0, true},          {"small-nokey", 5, 0, false},    {"two-byte-len", 200, 0, true},
    {"three-byte-len", 70000, 0, true}, {"63", 63, 0, true},         {"64", 64, 0, true},
    {"one-header", 5, 1, true},     {"two-headers", 200, 2, false},  {"empty", 0, 0, true},
    {"null", SIZE_MAX, 0, true},    {"empty-header", 0, 1, true},    {"null-header", SIZE_MAX, 1, true},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))
#define ROUNDS 3 /* each shape several times, so that batches hold several records */

static void produce_all(const char *bootstrap, const char *topic, const char *const *conf) {
    rd_kafka_t *p = kt_client(RD_KAFKA_PRODUCER, bootstrap, conf);
    assert_non_null(p);
    char *big = malloc(70000);
    assert_non_null(big);
    for (size_t i = 0; i < 70000; i++) big[i] = (char)('a' + i % 26);
    for (int r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < NSHAPES; i++) {
            const shape_t *s = &shapes[i];
            rd_kafka_headers_t *h = NULL;
            if (s->headers) {
                h = rd_kafka_headers_new(2);
                rd_kafka_header_add(h, "h1", -1, "one", -1);
                if (s->headers > 1) rd_kafka_header_add(h, "h2", -1, NULL, 0);
            }
            const void *v = s->value_len == SIZE_MAX ? NULL : s->value_len == 0 ? "" : big;
            size_t vlen = s->value_len == SIZE_MAX ? 0 : s->value_len;
            rd_kafka_resp_err_t err = rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(s->key ? s->name : NULL, s->key ? strlen(s->name) : 0),
                RD_KAFKA_V_VALUE((void *)v, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
        }
    assert_int_equal(rd_kafka_flush(p, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    free(big);
    rd_kafka_destroy(p);
}

/* The shape a record was produced with: by its key, or (no key) by its value's length. */
static const shape_t *shape_of(const rd_kafka_message_t *m) {
    for (size_t i = 0; i < NSHAPES; i++) {
        const shape_t *s = &shapes[i];
        if (s->key ? (m->key_len == strlen(s->name) && memcmp(m->key, s->name, m->key_len) == 0)
                   : (!m->key && m->len == s->value_len))
            return s;
    }
    return NULL;
}

/* Reads every record of the topic back and checks each one; returns how many said "none". */
static int check_all(const char *bootstrap, const char *topic, const char *const *conf, const char *what) {
    rd_kafka_t *c = kt_client(RD_KAFKA_CONSUMER, bootstrap, conf);
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, tl), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(tl);
    size_t seen = 0;
    int none = 0;
    int64_t deadline = kt_wall_ms() + WAIT_MS;
    while (seen < ROUNDS * NSHAPES && kt_wall_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        const shape_t *s = shape_of(m);
        if (!s) fail_msg("%s: offset %lld matches no produced record", what, (long long)m->offset);
        bool said_none = km_rk_no_headers(m);
        rd_kafka_headers_t *h = NULL;
        size_t count = rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_header_cnt(h) : 0;
        if (count != (size_t)s->headers) fail_msg("%s: '%s' came back with %zu headers", what, s->name, count);
        if (said_none && count) fail_msg("%s: '%s' has %zu headers but the check said none", what, s->name, count);
        bool placeable = s->value_len != 0 && s->value_len != SIZE_MAX;
        if (!said_none && !count && placeable && km_rk_fetch_layout_known())
            fail_msg("%s: '%s' has no headers but the check could not tell", what, s->name);
        if (said_none && !placeable) fail_msg("%s: '%s' has no value to place, yet the check said none", what, s->name);
        none += said_none;
        seen++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    if (seen != ROUNDS * NSHAPES) fail_msg("%s: read %zu of %zu records", what, seen, (size_t)(ROUNDS * NSHAPES));
    return none;
}

static const char *const consumer_conf[] = {"group.id", "test-no-headers", "enable.auto.commit", "false", NULL};

static void test_v2_every_codec(void **state) {
    (void)state;
    char err[256];
    km_mock_t *mk = km_mock_new(1, err, sizeof err);
    assert_non_null(mk);
    const char *codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        char topic[64];
        snprintf(topic, sizeof topic, "v2-%s", codecs[i]);
        assert_int_equal(km_mock_create_topic(mk, topic, 1), 0);
        const char *pconf[] = {"compression.type", codecs[i], "linger.ms", "50", NULL};
        produce_all(km_mock_bootstraps(mk), topic, pconf);
        int none = check_all(km_mock_bootstraps(mk), topic, consumer_conf, topic);
        /* the six shapes with a value and no header, every round */
        if (km_rk_fetch_layout_known()) assert_int_equal(none, 6 * ROUNDS);
    }
    km_mock_free(mk);
}

/* The v0/v1 formats cannot be produced to this librdkafka's mock (it refuses Produce v1) nor to
 * Kafka 4, so a v1 message is laid out by hand as librdkafka reads it: [offset][size][crc]
 * [magic][attributes][timestamp][key length -1][value length][value], then the next message, whose
 * offset starts with a zero byte, the very byte a v2 header count of 0 would be. The check must
 * not take it for one. The last message of a set ends its buffer: allocated to the byte, so that
 * a sanitizer build reports any read past the value. */
static void test_v1_never_guessed(void **state) {
    (void)state;
    static const unsigned char v1[] = {0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 27, 1, 2, 3, 4, 1, 0, 0, 0, 1, 0x8f, 0, 0, 0, 0,
                                       0xff, 0xff, 0xff, 0xff, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o',
                                       0, 0, 0, 0, 0, 0, 0, 8};
    rd_kafka_message_t m = {.payload = (void *)(v1 + 34), .len = 5};
    assert_false(km_rk_no_headers(&m));

    unsigned char *last = malloc(39);
    assert_non_null(last);
    memcpy(last, v1, 39);
    m.payload = last + 34;
    assert_false(km_rk_no_headers(&m));
    free(last);

    /* The same value in a v2 record: [length][attributes][timestamp delta][offset delta][key -1]
     * [value length 5 as zigzag][value][header count 0]. */
    static const unsigned char v2[] = {0x18, 0, 0, 0, 0x01, 0x0a, 'h', 'e', 'l', 'l', 'o', 0};
    m.payload = (void *)(v2 + 6);
    assert_true(km_rk_no_headers(&m));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_every_codec),
        cmocka_unit_test(test_v1_never_guessed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
