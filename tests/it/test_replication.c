/* test_replication.c — the replication engine (issue 3) end to end, against real Kafka.
 *
 * kmirror runs as a child process ($KMIRROR_BIN CONFIG) between the clusters in KMIRROR_IT_A
 * (alias a) and KMIRROR_IT_B (alias b), exactly as a user runs it. Every test works on topics of
 * its own (kt_unique_name) and restricts kmirror's topic filter to them, so tests neither see
 * each other's topics nor depend on their order. Verdicts come from the clusters, never from
 * kmirror: the remote topic a.T on b is read back and compared with T on a, partition by
 * partition and record by record (key, value, headers, timestamp, offset).
 *
 * The broker crash tests need to kill and restart a cluster, which only works on the clusters
 * tests/run.sh started itself with scripts/kafka-test-cluster.sh; it exports their names in
 * KMIRROR_IT_A_NAME / KMIRROR_IT_B_NAME (and the tests run from the checkout's root, where the
 * script is). Against external clusters those two tests skip.
 *
 * The last run's kmirror configurations and logs stay in <dir of KMIRROR_BIN>/it-logs/ for a
 * post-mortem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"
#include "kt_metrics.h"

/* Generous: the suite shares two cores with two brokers. Waits end as soon as the condition
 * holds, so only a failing test ever waits this long. */
enum { WAIT_MS = 60000, STOP_MS = 40000 };
static const int64_t BASE_TS = 1600000000000; /* 2020-09-13: a kept timestamp is never "now" */

static const char *A, *B;

static void need_clusters(void) {
    if (!kt_it_ready()) skip();
    A = getenv("KMIRROR_IT_A");
    B = getenv("KMIRROR_IT_B");
}

/* ---- kmirror as a child process ------------------------------------------------------------ */

typedef kt_kmirror_t kmirror_t;

/* Starts kmirror on a configuration made of the shared settings and `flows` (the flow lines:
 * which directions, which topics). Short intervals keep the suite fast: positions are
 * committed every 300 ms and topics re-listed every second. */
static void km_start(kmirror_t *k, const char *name, const char *flows) {
    assert_int_equal(kt_kmirror_config(k, name,
                                       "clusters = a, b\n"
                                       "a.bootstrap.servers = %s\n"
                                       "b.bootstrap.servers = %s\n"
                                       "replication.factor = 1\n"
                                       "refresh.topics.interval.seconds = 1\n"
                                       "offset.flush.interval.ms = 300\n"
                                       "shutdown.timeout.ms = 30000\n"
                                       "%s",
                                       A, B, flows),
                     0);
    assert_int_equal(kt_kmirror_start(k, NULL), 0);
}

static void km_spawn(kmirror_t *k) { assert_int_equal(kt_kmirror_start(k, NULL), 0); }

static bool km_alive(kmirror_t *k) { return kt_kmirror_alive(k); }

static char *km_log_text(const kmirror_t *k) {
    char *text = kt_kmirror_log(k);
    assert_non_null(text);
    return text;
}

static bool km_logged(const kmirror_t *k, const char *needle) { return kt_kmirror_logged(k, needle); }

/* SIGTERM, then the graceful stop the README promises: exit status 0 and "stopped cleanly". */
static void km_stop(kmirror_t *k) { assert_int_equal(kt_kmirror_stop(k, STOP_MS), 0); }

static void km_kill9(kmirror_t *k) { assert_int_equal(kt_kmirror_kill9(k), 0); }

/* ---- records ------------------------------------------------------------------------------- */

/* Record number seq: partition seq % partitions, a unique key, value, timestamp and a header
 * naming its number, so any record found twice or out of place can be identified. */
typedef struct numbered {
    char key[24], value[24], seq[24];
    kt_header_t header;
} numbered_t;

static kt_msg_t number(numbered_t *b, int partitions, int seq) {
    snprintf(b->key, sizeof b->key, "k%d", seq);
    snprintf(b->value, sizeof b->value, "value-%d", seq);
    snprintf(b->seq, sizeof b->seq, "%d", seq);
    b->header = (kt_header_t){.name = "seq", .value = b->seq};
    return (kt_msg_t){.partition = seq % partitions, .key = b->key, .value = b->value, .timestamp = BASE_TS + seq,
                      .headers = &b->header, .header_cnt = 1};
}

/* Produces records first .. first + n - 1. */
static void produce_numbered(const char *bootstrap, const char *topic, int partitions, int first, int n) {
    kt_msg_t *msgs = calloc((size_t)n, sizeof *msgs);
    numbered_t *bufs = calloc((size_t)n, sizeof *bufs);
    assert_true(msgs && bufs);
    for (int i = 0; i < n; i++) msgs[i] = number(&bufs[i], partitions, first + i);
    int rc = kt_produce(bootstrap, topic, msgs, (size_t)n, NULL, NULL);
    free(msgs);
    free(bufs);
    assert_int_equal(rc, 0);
}

/* Why a and b differ as mirrored records (partition, key, value, timestamp, headers), or NULL
 * when they are the same record. Offsets are not compared here. */
static const char *record_diff(const kt_record_t *a, const kt_record_t *b) {
#define SAME_BYTES(x, xl, y, yl) ((x) == NULL ? (y) == NULL : (y) != NULL && (xl) == (yl) && memcmp(x, y, xl) == 0)
    if (a->partition != b->partition) return "partition";
    if (!SAME_BYTES(a->key, a->key_len, b->key, b->key_len)) return "key";
    if (!SAME_BYTES(a->value, a->value_len, b->value, b->value_len)) return "value";
    if (a->timestamp != b->timestamp) return "timestamp";
    /* b, the copy, has a's headers in order and then the record path kmirror adds (provenance.h) */
    if (a->header_cnt + 1 != b->header_cnt) return "header count";
    if (strcmp(b->headers[a->header_cnt].name, "kmirror.path") != 0 || !b->headers[a->header_cnt].value) return "record path";
    for (size_t h = 0; h < a->header_cnt; h++) {
        if (strcmp(a->headers[h].name, b->headers[h].name) != 0) return "header name";
        if (!SAME_BYTES(a->headers[h].value, a->headers[h].value_len, b->headers[h].value, b->headers[h].value_len))
            return "header value";
    }
    return NULL;
#undef SAME_BYTES
}

typedef struct mirror_check {
    size_t records;    /* in the source topic */
    size_t duplicates; /* remote records that repeat an earlier one */
} mirror_check_t;

/* Reads topic on src_bs and remote on dst_bs and checks, partition by partition, that the
 * remote holds every source record in source order. A remote record may only repeat a run of
 * records already mirrored (a replay after a crash); anything else — a gap, a reordering, a
 * changed field, a stray record — fails the test. exact: additionally no repeats, and every
 * record at the same offset as on the source. */
static mirror_check_t check_mirror(const char *src_bs, const char *topic, const char *dst_bs, const char *remote,
                                   bool exact) {
    kt_record_t *src, *dst;
    size_t ns, nd;
    assert_int_equal(kt_consume(src_bs, topic, NULL, &src, &ns), 0);
    assert_int_equal(kt_consume(dst_bs, remote, NULL, &dst, &nd), 0);
    mirror_check_t res = {.records = ns};
    size_t si = 0, di = 0;
    while (si < ns || di < nd) {
        int32_t p = si < ns && (di >= nd || src[si].partition <= dst[di].partition) ? src[si].partition
                                                                                     : dst[di].partition;
        /* next: the source record the remote should hold now; done: how far it got at most. */
        size_t s0 = si, next = si, done = si;
        while (si < ns && src[si].partition == p) si++;
        for (; di < nd && dst[di].partition == p; di++) {
            const kt_record_t *r = &dst[di];
            if (next < si && !record_diff(&src[next], r)) {
                if (exact && r->offset != src[next].offset)
                    fail_msg("%s [%d]: source offset %lld is at remote offset %lld", remote, p,
                             (long long)src[next].offset, (long long)r->offset);
                if (next < done) res.duplicates++;
                if (++next > done) done = next;
                continue;
            }
            size_t j = next; /* a replay restarts at some record already mirrored */
            while (j > s0 && record_diff(&src[j - 1], r)) j--;
            if (j == s0 || exact)
                fail_msg("%s [%d] offset %lld: %s instead of source offset %lld (%s differs)", remote, p,
                         (long long)r->offset, j == s0 ? "unexpected record" : "a repeated record",
                         next < si ? (long long)src[next].offset : -1LL,
                         next < si ? record_diff(&src[next], r) : "nothing left to mirror");
            res.duplicates++;
            next = j;
        }
        if (done < si)
            fail_msg("%s [%d]: source offsets %lld..%lld are missing on the remote", remote, p,
                     (long long)src[done].offset, (long long)src[si - 1].offset);
    }
    kt_records_free(src, ns);
    kt_records_free(dst, nd);
    return res;
}

/* ---- waiting ------------------------------------------------------------------------------- */

typedef struct count_wait {
    const char *bootstrap, *topic;
    int64_t want;
    kmirror_t *k; /* stop waiting when it died */
} count_wait_t;

static int64_t record_count(const char *bootstrap, const char *topic) {
    int n = kt_partition_count(bootstrap, topic);
    return n <= 0 ? 0 : kt_topic_records(bootstrap, topic, n);
}

static bool count_reached(void *arg) {
    count_wait_t *w = arg;
    return (w->k && !km_alive(w->k)) || record_count(w->bootstrap, w->topic) >= w->want;
}

/* Waits until topic holds at least want records (the sum of its high watermarks). */
static void wait_count(kmirror_t *k, const char *bootstrap, const char *topic, int64_t want) {
    count_wait_t w = {bootstrap, topic, want, k};
    bool ok = kt_wait_until(count_reached, &w, WAIT_MS);
    if (k && !km_alive(k)) fail_msg("kmirror exited (wait status 0x%x); log: %s", k->status, k->log);
    if (!ok)
        fail_msg("%s holds %lld records after %d ms, expected at least %lld", topic,
                 (long long)record_count(bootstrap, topic), WAIT_MS, (long long)want);
}

/* Waits until the remote holds as many records as the source (both stable by then). */
static void wait_caught_up(kmirror_t *k, const char *topic, const char *remote) {
    wait_count(k, B, remote, record_count(A, topic));
}

static char *remote_of(const char *source_alias, const char *topic, char *buf, size_t size) {
    if (snprintf(buf, size, "%s.%s", source_alias, topic) >= (int)size) fail_msg("topic name %s too long", topic);
    return buf;
}

/* ---- a producer that keeps writing while kmirror is stopped, killed or cut off ------------- */

typedef struct loader {
    const char *bootstrap;
    char topic[128]; /* a copy: the thread may outlive the failed test that started it */
    int partitions;
    bool running;
    atomic_bool stop;
    atomic_int batches;
    pthread_t thread;
} loader_t;

/* One at a time, static so that the teardown can stop it after a failed test. */
static loader_t loader;

enum { LOAD_BATCH = 300 };

/* Batches of numbered records until told to stop. A batch that fails (its broker is being
 * killed) is not retried: the verdicts compare with what the source holds, not with what was
 * sent, and every record carries a number of its own either way. */
static void *load(void *arg) {
    loader_t *l = arg;
    for (int first = 0; !atomic_load(&l->stop); first += LOAD_BATCH) {
        kt_msg_t msgs[LOAD_BATCH];
        numbered_t bufs[LOAD_BATCH];
        for (int i = 0; i < LOAD_BATCH; i++) msgs[i] = number(&bufs[i], l->partitions, first + i);
        kt_produce(l->bootstrap, l->topic, msgs, LOAD_BATCH, NULL, NULL);
        atomic_fetch_add(&l->batches, 1);
    }
    return NULL;
}

static loader_t *loader_start(const char *bootstrap, const char *topic, int partitions) {
    loader_t *l = &loader;
    assert_false(l->running);
    *l = (loader_t){.bootstrap = bootstrap, .partitions = partitions};
    snprintf(l->topic, sizeof l->topic, "%s", topic);
    assert_int_equal(pthread_create(&l->thread, NULL, load, l), 0);
    l->running = true;
    return l;
}

typedef struct batch_wait {
    loader_t *l;
    int want;
} batch_wait_t;

static bool batches_done(void *arg) {
    batch_wait_t *w = arg;
    return atomic_load(&w->l->batches) >= w->want;
}

/* Lets the loader write `more` further batches (successful or not). */
static void loader_wait_batches(loader_t *l, int more) {
    batch_wait_t w = {l, atomic_load(&l->batches) + more};
    assert_true(kt_wait_until(batches_done, &w, 2 * WAIT_MS));
}

static void loader_stop(loader_t *l) {
    if (!l->running) return;
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    l->running = false;
}

/* After every test, also a failed one: no kmirror and no loader outlives it. */
static int teardown(void **state) {
    (void)state;
    loader_stop(&loader);
    kt_kill_children();
    return 0;
}

/* ---- 1. remote topics: created, grown, discovered ------------------------------------------ */

static void test_remote_topics_created_grown_and_discovered(void **state) {
    (void)state;
    need_clusters();
    char prefix[96], grows[128], late[128], wide[128], r_grows[160], r_late[160], r_wide[160], flows[256];
    kt_unique_name("topics", prefix, sizeof prefix);
    snprintf(grows, sizeof grows, "%s-grows", prefix);
    snprintf(late, sizeof late, "%s-late", prefix);
    snprintf(wide, sizeof wide, "%s-wide", prefix);
    remote_of("a", grows, r_grows, sizeof r_grows);
    remote_of("a", late, r_late, sizeof r_late);
    remote_of("a", wide, r_wide, sizeof r_wide);

    assert_int_equal(kt_create_topic(A, grows, 3, NULL), 0);
    produce_numbered(A, grows, 3, 0, 30);
    /* A remote topic that already has more partitions than its source is used as it is. */
    assert_int_equal(kt_create_topic(A, wide, 2, NULL), 0);
    assert_int_equal(kt_create_topic(B, r_wide, 4, NULL), 0);
    produce_numbered(A, wide, 2, 0, 20);

    kmirror_t k;
    snprintf(flows, sizeof flows, "a->b.enabled = true\na->b.topics = %s-.*\n", prefix);
    km_start(&k, prefix, flows);
    wait_count(&k, B, r_grows, 30);
    assert_int_equal(kt_partition_count(B, r_grows), 3);
    wait_count(&k, B, r_wide, 20);
    assert_int_equal(kt_partition_count(B, r_wide), 4);
    assert_true(km_logged(&k, "has 4 partitions on b, more than the 2 of"));

    /* The source grows while kmirror runs: the remote grows too and the new partitions flow. */
    assert_int_equal(kt_create_partitions(A, grows, 5), 0);
    produce_numbered(A, grows, 5, 30, 50);
    wait_count(&k, B, r_grows, 80);
    assert_int_equal(kt_partition_count(B, r_grows), 5);
    char grew[256];
    snprintf(grew, sizeof grew, "grew %s on b from 3 to 5 partitions", r_grows);
    assert_true(km_logged(&k, grew));

    /* A topic created while kmirror runs is picked up at the next refresh. */
    assert_int_equal(kt_create_topic(A, late, 2, NULL), 0);
    produce_numbered(A, late, 2, 0, 20);
    wait_count(&k, B, r_late, 20);
    assert_int_equal(kt_partition_count(B, r_late), 2);

    km_stop(&k);
    assert_int_equal(check_mirror(A, grows, B, r_grows, true).records, 80);
    assert_int_equal(check_mirror(A, wide, B, r_wide, true).records, 20);
    assert_int_equal(check_mirror(A, late, B, r_late, true).records, 20);
}

/* ---- 2. record fidelity -------------------------------------------------------------------- */

enum { FID_PARTITIONS = 4, FID_RECORDS = 64, BIG_SIZE = 1536 * 1024 };
/* Special records, at fixed indexes; record i goes to partition i % FID_PARTITIONS. */
enum { NULL_KEY = 1, EMPTY_KEY = 2, TOMBSTONE = 3, EMPTY_VALUE = 4, BINARY = 5, NOW_TS = 6, BIG = 13 };

static const unsigned char BIN[] = {0x00, 0xff, 0x00, 0x7f, 0x80, '\n', 0x00};
static const kt_header_t REPEATED[] = {
    {.name = "trace", .value = "first"},
    {.name = "null-header", .value = NULL},
    {.name = "trace", .value = "second"}, /* repeated names are kept, in order */
    {.name = "empty", .value = ""},
};
static const kt_header_t BINARY_HEADERS[] = {
    {.name = "bin", .value = BIN, .value_len = sizeof BIN},
    {.name = "\xc3\xa9t\xc3\xa9", .value = "utf-8 name"},
};

typedef struct fixture {
    char text[FID_RECORDS][2][24];
    char big[BIG_SIZE];
    kt_msg_t msgs[FID_RECORDS];
} fixture_t;

static void make_fixture(fixture_t *f) {
    for (size_t i = 0; i < BIG_SIZE; i++) f->big[i] = (char)('a' + i * 7 % 26);
    for (int i = 0; i < FID_RECORDS; i++) {
        snprintf(f->text[i][0], sizeof f->text[i][0], "key-%d", i);
        snprintf(f->text[i][1], sizeof f->text[i][1], "value-%d", i);
        kt_msg_t *m = &f->msgs[i];
        *m = (kt_msg_t){.partition = i % FID_PARTITIONS, .key = f->text[i][0], .value = f->text[i][1],
                        .timestamp = BASE_TS + i * 1000};
        if (i % 3 == 1) {
            m->headers = REPEATED;
            m->header_cnt = sizeof REPEATED / sizeof REPEATED[0];
        } else if (i % 3 == 2) {
            m->headers = BINARY_HEADERS;
            m->header_cnt = sizeof BINARY_HEADERS / sizeof BINARY_HEADERS[0];
        }
    }
    f->msgs[NULL_KEY].key = NULL;
    f->msgs[EMPTY_KEY].key = "";
    f->msgs[TOMBSTONE].value = NULL;
    f->msgs[EMPTY_VALUE].value = "";
    f->msgs[BINARY].key = BIN;
    f->msgs[BINARY].key_len = sizeof BIN;
    f->msgs[BINARY].value = BIN;
    f->msgs[BINARY].value_len = sizeof BIN;
    f->msgs[NOW_TS].timestamp = 0;
    f->msgs[BIG].value = f->big;
    f->msgs[BIG].value_len = BIG_SIZE;
}

static void assert_bytes(const char *got, size_t got_len, const void *want, size_t want_len) {
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
}

static size_t len_of(const void *p, size_t len) { return p && !len ? strlen(p) : len; }

/* The remote records are what was produced, field by field: checks the special cases directly,
 * so that comparing remote with source cannot pass by both sides missing the same thing. */
static void assert_fixture(const fixture_t *f, const kt_record_t *recs, size_t n) {
    assert_int_equal(n, FID_RECORDS);
    for (size_t k = 0; k < n; k++) {
        const kt_record_t *r = &recs[k];
        size_t i = (size_t)(r->offset * FID_PARTITIONS + r->partition);
        assert_in_range(i, 0, FID_RECORDS - 1);
        const kt_msg_t *m = &f->msgs[i];
        assert_int_equal(r->partition, m->partition);
        assert_bytes(r->key, r->key_len, m->key, len_of(m->key, m->key_len));
        assert_bytes(r->value, r->value_len, m->value, len_of(m->value, m->value_len));
        assert_int_equal(r->tstype, RD_KAFKA_TIMESTAMP_CREATE_TIME);
        if (m->timestamp) assert_int_equal(r->timestamp, m->timestamp);
        assert_int_equal(r->header_cnt, m->header_cnt + 1); /* + the record path (provenance.h) */
        assert_string_equal(r->headers[m->header_cnt].name, "kmirror.path");
        for (size_t h = 0; h < m->header_cnt; h++) {
            assert_string_equal(r->headers[h].name, m->headers[h].name);
            const kt_header_t *mh = &m->headers[h];
            assert_bytes(r->headers[h].value, r->headers[h].value_len, mh->value, len_of(mh->value, mh->value_len));
        }
    }
}

static void test_record_fidelity(void **state) {
    (void)state;
    need_clusters();
    /* Room for the 1.5 MB record on both sides. The remote topic is made beforehand with the
     * same setting because kmirror does not copy topic configurations (yet); its producer is
     * allowed the size through MM2's max.request.size. */
    static const char *const big_topic[] = {"max.message.bytes", "3000000", NULL};
    static const char *const big_client[] = {"message.max.bytes", "3000000", NULL};
    static const char *const log_append[] = {"message.timestamp.type", "LogAppendTime", NULL};
    char prefix[96], topic[128], appended[128], remote[160], r_appended[160], flows[512];
    kt_unique_name("fidelity", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s-records", prefix);
    snprintf(appended, sizeof appended, "%s-appended", prefix);
    remote_of("a", topic, remote, sizeof remote);
    remote_of("a", appended, r_appended, sizeof r_appended);

    static fixture_t fixture; /* static: big, and not leaked when an assertion ends the test */
    fixture_t *f = &fixture;
    make_fixture(f);
    assert_int_equal(kt_create_topic(A, topic, FID_PARTITIONS, big_topic), 0);
    assert_int_equal(kt_create_topic(B, remote, FID_PARTITIONS, big_topic), 0);
    assert_int_equal(kt_produce(A, topic, f->msgs, FID_RECORDS, big_client, NULL), 0);
    /* On a LogAppendTime topic the broker's append time is the record's time; it is what the
     * remote (a CreateTime topic) must carry. */
    assert_int_equal(kt_create_topic(A, appended, 2, log_append), 0);
    produce_numbered(A, appended, 2, 0, 10);

    kmirror_t k;
    snprintf(flows, sizeof flows,
             "a->b.enabled = true\na->b.topics = %s-.*\nb.producer.max.request.size = 3000000\n", prefix);
    km_start(&k, prefix, flows);
    wait_count(&k, B, remote, FID_RECORDS);
    wait_count(&k, B, r_appended, 10);
    km_stop(&k);

    assert_int_equal(check_mirror(A, topic, B, remote, true).records, FID_RECORDS);
    kt_record_t *recs;
    size_t n;
    assert_int_equal(kt_consume(B, remote, NULL, &recs, &n), 0);
    assert_fixture(f, recs, n);
    kt_records_free(recs, n);

    assert_int_equal(check_mirror(A, appended, B, r_appended, true).records, 10);
    kt_record_t *src;
    size_t ns;
    assert_int_equal(kt_consume(A, appended, NULL, &src, &ns), 0);
    assert_int_equal(kt_consume(B, r_appended, NULL, &recs, &n), 0);
    assert_int_equal(n, ns);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(src[i].tstype, RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME);
        assert_true(src[i].timestamp > BASE_TS + 1000);
        assert_int_equal(recs[i].tstype, RD_KAFKA_TIMESTAMP_CREATE_TIME);
        assert_int_equal(recs[i].timestamp, src[i].timestamp);
    }
    kt_records_free(src, ns);
    kt_records_free(recs, n);
}

/* ---- 3. topic filters ---------------------------------------------------------------------- */

static void test_topic_filters(void **state) {
    (void)state;
    need_clusters();
    char prefix[96], flows[512];
    kt_unique_name("filters", prefix, sizeof prefix);
    /* topics is a list of regexes, topics.exclude wins over it. */
    static const char *const names[] = {"keep-1", "keep-x1", "other", "also", "keep-x2", "keep-2"};
    static const bool wanted[] = {true, false, false, true, false, true};
    enum { STARTUP = 4, ALL = 6 };
    char topics[ALL][128], remotes[ALL][160];
    for (int i = 0; i < ALL; i++) {
        snprintf(topics[i], sizeof topics[i], "%s-%s", prefix, names[i]);
        remote_of("a", topics[i], remotes[i], sizeof remotes[i]);
    }
    for (int i = 0; i < STARTUP; i++) {
        assert_int_equal(kt_create_topic(A, topics[i], 1, NULL), 0);
        produce_numbered(A, topics[i], 1, 0, 5);
    }
    kmirror_t k;
    snprintf(flows, sizeof flows,
             "a->b.enabled = true\na->b.topics = %s-keep-.*, %s-also\na->b.topics.exclude = %s-keep-x.*\n", prefix,
             prefix, prefix);
    km_start(&k, prefix, flows);
    /* The excluded topic is created before the included one: the refresh that finds keep-2
     * has seen keep-x2 too, so its absence afterwards is a decision, not a delay. */
    for (int i = STARTUP; i < ALL; i++) {
        assert_int_equal(kt_create_topic(A, topics[i], 1, NULL), 0);
        produce_numbered(A, topics[i], 1, 0, 5);
    }
    for (int i = 0; i < ALL; i++)
        if (wanted[i]) wait_count(&k, B, remotes[i], 5);
    km_stop(&k);
    for (int i = 0; i < ALL; i++) {
        if (wanted[i]) assert_int_equal(check_mirror(A, topics[i], B, remotes[i], true).records, 5);
        else if (kt_partition_count(B, remotes[i]) != 0) fail_msg("%s was mirrored against the filters", topics[i]);
    }
}

/* ---- 4. active/active ---------------------------------------------------------------------- */

static void test_active_active_without_cycles(void **state) {
    (void)state;
    need_clusters();
    char prefix[96], flows[512], x[128], y[128], z[128], w[128];
    char a_x[160], b_y[160], b_z[160], a_w[160], b_a_x[200], a_b_y[200];
    kt_unique_name("active", prefix, sizeof prefix);
    snprintf(x, sizeof x, "%s-x", prefix); /* on a */
    snprintf(y, sizeof y, "%s-y", prefix); /* on b */
    snprintf(z, sizeof z, "%s-z", prefix); /* on b, later */
    snprintf(w, sizeof w, "%s-w", prefix); /* on a, later */
    remote_of("a", x, a_x, sizeof a_x);
    remote_of("b", y, b_y, sizeof b_y);
    remote_of("b", z, b_z, sizeof b_z);
    remote_of("a", w, a_w, sizeof a_w);
    remote_of("b", a_x, b_a_x, sizeof b_a_x);
    remote_of("a", b_y, a_b_y, sizeof a_b_y);

    assert_int_equal(kt_create_topic(A, x, 2, NULL), 0);
    assert_int_equal(kt_create_topic(B, y, 2, NULL), 0);
    produce_numbered(A, x, 2, 0, 20);
    produce_numbered(B, y, 2, 100, 20);
    /* The filter also matches the remote topics (a.PREFIX-x): only cycle detection keeps them
     * from going back where they came from. */
    kmirror_t k;
    snprintf(flows, sizeof flows, "a->b.enabled = true\nb->a.enabled = true\ntopics = .*%s-.*\n", prefix);
    km_start(&k, prefix, flows);
    wait_count(&k, B, a_x, 20);
    wait_count(&k, A, b_y, 20);
    /* z appears on b after a.x did, so the b->a refresh that mirrors z has seen a.x; likewise w. */
    assert_int_equal(kt_create_topic(B, z, 1, NULL), 0);
    assert_int_equal(kt_create_topic(A, w, 1, NULL), 0);
    produce_numbered(B, z, 1, 0, 3);
    produce_numbered(A, w, 1, 0, 3);
    wait_count(&k, A, b_z, 3);
    wait_count(&k, B, a_w, 3);
    km_stop(&k);

    assert_int_equal(kt_partition_count(A, b_a_x), 0);
    assert_int_equal(kt_partition_count(B, a_b_y), 0);
    assert_int_equal(check_mirror(A, x, B, a_x, true).records, 20);
    assert_int_equal(check_mirror(B, y, A, b_y, true).records, 20);
    assert_int_equal(check_mirror(B, z, A, b_z, true).records, 3);
    assert_int_equal(check_mirror(A, w, B, a_w, true).records, 3);
}

/* ---- 5, 6. stopping and crashing kmirror under load ---------------------------------------- */

/* Last committed position (source offset) per partition of topic, from mm2-offsets.a.internal on
 * b, read the way a restarted kmirror reads it; -1 where there is none. False when the offsets
 * topic could not be read or holds something unreadable for topic. */
static bool committed_positions(const char *topic, int64_t *pos, int partitions) {
    static const char part_key[] = "\"cluster\":\"a\",\"partition\":";
    for (int p = 0; p < partitions; p++) pos[p] = -1;
    kt_record_t *recs;
    size_t n;
    bool ok = kt_consume(B, "mm2-offsets.a.internal", NULL, &recs, &n) == 0;
    char needle[200];
    snprintf(needle, sizeof needle, "\"topic\":\"%s\"}", topic);
    for (size_t i = 0; ok && i < n; i++) {
        const char *part = recs[i].key ? strstr(recs[i].key, part_key) : NULL;
        if (!part || !strstr(recs[i].key, needle)) continue;
        int p = atoi(part + strlen(part_key));
        long long off;
        if (p < 0 || p >= partitions) ok = false;
        else if (!recs[i].value) pos[p] = -1;
        else if (sscanf(recs[i].value, "{\"offset\":%lld}", &off) == 1) pos[p] = off;
        else ok = false;
        if (!ok) fprintf(stderr, "unexpected position record for %s: %s\n", topic, recs[i].value);
    }
    kt_records_free(recs, n);
    return ok;
}

typedef struct position_wait {
    const char *topic;
    int partitions;
    const int64_t *want; /* per partition; -1: any position at all */
} position_wait_t;

static bool positions_reached(void *arg) {
    position_wait_t *w = arg;
    int64_t pos[16];
    if (!committed_positions(w->topic, pos, w->partitions)) return false;
    for (int p = 0; p < w->partitions; p++)
        if (pos[p] < w->want[p] || pos[p] < 0) return false;
    return true;
}

/* Waits until kmirror committed a position of at least want[p] for every partition of topic.
 * On a timeout it shows what was committed, whether k still runs, and its /status (or its log
 * when it serves none). */
static void wait_positions(kmirror_t *k, const char *topic, int partitions, const int64_t *want) {
    position_wait_t w = {topic, partitions, want};
    if (kt_wait_until(positions_reached, &w, WAIT_MS)) return;
    int64_t pos[16];
    bool read = committed_positions(topic, pos, partitions);
    for (int p = 0; read && p < partitions; p++)
        print_message("# %s [%d]: position %lld committed, %lld wanted\n", topic, p, (long long)pos[p], (long long)want[p]);
    if (!kt_kmirror_alive(k)) print_message("# kmirror is not running: wait status 0x%x\n", (unsigned)k->status);
    int port = kt_kmirror_http_port(k, 0); /* prints kmirror's log when it serves none */
    char *body = NULL;
    int status = 0;
    if (port && kt_http_get(port, "/status", &status, &body) == 0) print_message("# /status: %s\n", body);
    free(body);
    fail_msg("positions of %s were not committed", topic);
}

enum { LOAD_PARTITIONS = 3 };

static void test_sigterm_restart_loses_and_repeats_nothing(void **state) {
    (void)state;
    need_clusters();
    char topic[128], remote[160], flows[256];
    kt_unique_name("sigterm", topic, sizeof topic);
    remote_of("a", topic, remote, sizeof remote);
    assert_int_equal(kt_create_topic(A, topic, LOAD_PARTITIONS, NULL), 0);
    loader_t *l = loader_start(A, topic, LOAD_PARTITIONS);
    loader_wait_batches(l, 2);

    kmirror_t k;
    snprintf(flows, sizeof flows, "a->b.enabled = true\na->b.topics = %s\n", topic);
    km_start(&k, topic, flows);
    for (int round = 0; round < 2; round++) {
        /* Stop while records are flowing, let the source run ahead, start again. */
        wait_count(&k, B, remote, record_count(B, remote) + LOAD_BATCH);
        km_stop(&k);
        loader_wait_batches(l, 2);
        km_spawn(&k);
    }
    loader_stop(l);
    wait_caught_up(&k, topic, remote);
    km_stop(&k);
    mirror_check_t c = check_mirror(A, topic, B, remote, true);
    print_message("# %zu records mirrored through two SIGTERM restarts\n", c.records);
    assert_true(c.records >= 6 * LOAD_BATCH);
}

static void test_kill9_restart_loses_nothing(void **state) {
    (void)state;
    need_clusters();
    char topic[128], remote[160], flows[256];
    kt_unique_name("kill9", topic, sizeof topic);
    remote_of("a", topic, remote, sizeof remote);
    assert_int_equal(kt_create_topic(A, topic, LOAD_PARTITIONS, NULL), 0);
    loader_t *l = loader_start(A, topic, LOAD_PARTITIONS);
    loader_wait_batches(l, 2);

    kmirror_t k;
    /* Positions every 2 s rather than 300 ms: the kill below then usually finds records mirrored
     * but not yet committed, which the restart must replay. */
    snprintf(flows, sizeof flows, "a->b.enabled = true\na->b.topics = %s\na->b.offset.flush.interval.ms = 2000\n",
             topic);
    km_start(&k, topic, flows);
    /* Kill in the middle of the stream, once positions have been committed, so the restart
     * resumes from them rather than from the beginning. */
    const int64_t any[LOAD_PARTITIONS] = {-1, -1, -1};
    wait_positions(&k, topic, LOAD_PARTITIONS, any);
    loader_wait_batches(l, 2);
    km_kill9(&k);

    /* The restart resumes after the committed positions, so at most what was mirrored beyond
     * them is mirrored twice. */
    int64_t pos[LOAD_PARTITIONS], hw[LOAD_PARTITIONS];
    assert_true(committed_positions(topic, pos, LOAD_PARTITIONS));
    assert_int_equal(kt_high_watermarks(B, remote, hw, LOAD_PARTITIONS), 0);
    size_t bound = 0;
    for (int p = 0; p < LOAD_PARTITIONS; p++) {
        assert_true(pos[p] < hw[p]);
        bound += (size_t)(hw[p] - (pos[p] + 1));
    }
    loader_wait_batches(l, 2);
    km_spawn(&k);
    loader_wait_batches(l, 2);
    loader_stop(l);
    /* Positions cover a record only once it and all before it are on the remote. */
    int64_t end[LOAD_PARTITIONS];
    assert_int_equal(kt_high_watermarks(A, topic, end, LOAD_PARTITIONS), 0);
    for (int p = 0; p < LOAD_PARTITIONS; p++) end[p]--;
    wait_positions(&k, topic, LOAD_PARTITIONS, end);
    km_stop(&k);
    mirror_check_t c = check_mirror(A, topic, B, remote, false);
    print_message("# %zu records, %zu mirrored twice after kill -9 (at most %zu allowed)\n", c.records, c.duplicates,
                  bound);
    assert_true(c.duplicates <= bound);
}

/* ---- 7. broker crashes --------------------------------------------------------------------- */

static const char *cluster_name(const char *env) {
    const char *v = kt_cluster_name(env);
    if (!v) {
        print_message("%s is not set: these clusters were not started by tests/run.sh, so they are not crashed\n", env);
        skip();
    }
    return v;
}

static int teardown_brokers(void **state) {
    teardown(state);
    return kt_clusters_restore();
}

/* kill -9 of the source or the target broker while kmirror replicates a stream, then restart:
 * kmirror rides it out and nothing is lost. */
static void broker_crash(const char *name_env, const char *what) {
    need_clusters();
    const char *name = cluster_name(name_env);
    char topic[128], remote[160], flows[256];
    kt_unique_name(what, topic, sizeof topic);
    remote_of("a", topic, remote, sizeof remote);
    assert_int_equal(kt_create_topic(A, topic, LOAD_PARTITIONS, NULL), 0);
    loader_t *l = loader_start(A, topic, LOAD_PARTITIONS);
    loader_wait_batches(l, 2);

    kmirror_t k;
    /* A partition stuck after the restart is reported (with /status) before the wait ends. */
    snprintf(flows, sizeof flows,
             "a->b.enabled = true\na->b.topics = %s\nreplication.stall.timeout.ms = 20000\n"
             "metrics.listen = 127.0.0.1:0\n",
             topic);
    km_start(&k, topic, flows);
    wait_count(&k, B, remote, LOAD_BATCH);
    assert_int_equal(kt_cluster_ctl("kill9", name), 0);
    assert_int_equal(kt_cluster_ctl("restart", name), 0);
    loader_wait_batches(l, 3);
    loader_stop(l);
    int64_t end[LOAD_PARTITIONS];
    assert_int_equal(kt_high_watermarks(A, topic, end, LOAD_PARTITIONS), 0);
    for (int p = 0; p < LOAD_PARTITIONS; p++) end[p]--;
    wait_positions(&k, topic, LOAD_PARTITIONS, end);
    km_stop(&k);
    mirror_check_t c = check_mirror(A, topic, B, remote, false);
    print_message("# %zu records across a %s crash, %zu mirrored twice\n", c.records, what, c.duplicates);
}

static void test_source_broker_crash_loses_nothing(void **state) {
    (void)state;
    broker_crash("KMIRROR_IT_A_NAME", "source");
}

static void test_target_broker_crash_loses_nothing(void **state) {
    (void)state;
    broker_crash("KMIRROR_IT_B_NAME", "target");
}

/* ---- 8. records lost to retention are reported --------------------------------------------- */

static void test_retention_skip_reported(void **state) {
    (void)state;
    need_clusters();
    char topic[128], remote[160], flows[256];
    kt_unique_name("retention", topic, sizeof topic);
    remote_of("a", topic, remote, sizeof remote);
    assert_int_equal(kt_create_topic(A, topic, 2, NULL), 0);
    /* Record seq goes to partition seq % 2 at offset seq / 2. */
    produce_numbered(A, topic, 2, 0, 100);
    kmirror_t k;
    snprintf(flows, sizeof flows, "a->b.enabled = true\na->b.topics = %s\n", topic);
    km_start(&k, topic, flows);
    const int64_t first_half[] = {49, 49}, all[] = {99, 99};
    wait_positions(&k, topic, 2, first_half);
    km_stop(&k);

    /* While kmirror is down, 50 more records per partition arrive and "retention" deletes
     * partition 0 up to offset 80: offsets 50..79 were never mirrored. */
    produce_numbered(A, topic, 2, 100, 100);
    assert_int_equal(kt_delete_records(A, topic, 0, 80), 0);
    km_spawn(&k);
    wait_positions(&k, topic, 2, all);
    km_stop(&k);

    char needle[300];
    snprintf(needle, sizeof needle,
             "%s [0]: 30 record(s) at offsets 50..79 were deleted on a (retention) before they were mirrored", topic);
    char *text = km_log_text(&k);
    const char *hit = strstr(text, needle);
    if (!hit) fail_msg("kmirror did not report the 30 skipped records (\"%s\"); log: %s", needle, k.log);
    const char *line = hit;
    while (line > text && line[-1] != '\n') line--;
    assert_non_null(strstr(line, " ERROR ")); /* loud: an error line, not a warning */
    assert_true(strstr(line, " ERROR ") < hit);
    snprintf(needle, sizeof needle, "%s [1]", topic);
    assert_null(strstr(text, needle)); /* partition 1 lost nothing: nothing to say */
    free(text);

    /* The remote has everything that still existed: partition 0 jumps from 49 to 80. */
    kt_record_t *recs;
    size_t n, per[2] = {0, 0};
    assert_int_equal(kt_consume(B, remote, NULL, &recs, &n), 0);
    for (size_t i = 0; i < n; i++) {
        const kt_record_t *r = &recs[i];
        int64_t source_offset = r->partition == 0 && r->offset >= 50 ? r->offset + 30 : r->offset;
        int64_t seq = 2 * source_offset + r->partition;
        char want[32];
        snprintf(want, sizeof want, "value-%lld", (long long)seq);
        assert_string_equal(r->value, want);
        assert_int_equal(r->timestamp, BASE_TS + seq);
        assert_int_equal((int64_t)per[r->partition]++, r->offset);
    }
    assert_int_equal(per[0], 70);
    assert_int_equal(per[1], 100);
    kt_records_free(recs, n);
}

/* ---- 9. a remote topic deleted on the target mid-run --------------------------------------- */

/* Someone deletes a.T on b while kmirror runs. Only T is affected: the other topic keeps flowing
 * record for record; kmirror says loudly that what it had mirrored of T is gone from b,
 * re-creates a.T and mirrors every record written after the deletion, once. */
static void test_remote_topic_deleted_mid_run(void **state) {
    (void)state;
    need_clusters();
    char prefix[96], gone[128], other[128], r_gone[160], r_other[160], flows[320];
    kt_unique_name("deleted", prefix, sizeof prefix);
    snprintf(gone, sizeof gone, "%s-gone", prefix);
    snprintf(other, sizeof other, "%s-other", prefix);
    remote_of("a", gone, r_gone, sizeof r_gone);
    remote_of("a", other, r_other, sizeof r_other);
    assert_int_equal(kt_create_topic(A, gone, 2, NULL), 0);
    assert_int_equal(kt_create_topic(A, other, 2, NULL), 0);
    produce_numbered(A, gone, 2, 0, 100);
    produce_numbered(A, other, 2, 0, 100);
    kmirror_t k;
    snprintf(flows, sizeof flows, "a->b.enabled = true\na->b.topics = %s-.*\n", prefix);
    km_start(&k, prefix, flows);
    wait_count(&k, B, r_gone, 100);
    wait_count(&k, B, r_other, 100);
    const int64_t first[] = {49, 49}, all[] = {99, 99};
    wait_positions(&k, gone, 2, first);

    assert_int_equal(kt_delete_topic(B, r_gone), 0);
    produce_numbered(A, gone, 2, 100, 100);
    produce_numbered(A, other, 2, 100, 100);
    wait_count(&k, B, r_other, 200);
    wait_count(&k, B, r_gone, 100);
    wait_positions(&k, gone, 2, all);
    assert_true(km_alive(&k));
    km_stop(&k);
    mirror_check_t c = check_mirror(A, other, B, r_other, true);
    assert_int_equal(c.records, 200);

    /* a.T now holds exactly source offsets 50..99 of each partition, in order, once */
    kt_record_t *recs;
    size_t n, per[2] = {0, 0};
    assert_int_equal(kt_consume(B, r_gone, NULL, &recs, &n), 0);
    for (size_t i = 0; i < n; i++) {
        const kt_record_t *r = &recs[i];
        int64_t seq = 2 * (50 + r->offset) + r->partition;
        char want[32];
        snprintf(want, sizeof want, "value-%lld", (long long)seq);
        if (strcmp(r->value, want) != 0)
            fail_msg("%s [%d] offset %lld: %s, expected %s", r_gone, r->partition, (long long)r->offset, r->value, want);
        assert_int_equal((int64_t)per[r->partition]++, r->offset);
    }
    kt_records_free(recs, n);
    assert_int_equal(per[0], 50);
    assert_int_equal(per[1], 50);
    char needle[256];
    snprintf(needle, sizeof needle, "%s", r_gone);
    char *text = km_log_text(&k);
    const char *line = strstr(text, " ERROR ");
    bool named = false;
    for (; line; line = strstr(line + 1, " ERROR ")) {
        const char *eol = strchr(line, '\n');
        if (strstr(line, needle) && (!eol || strstr(line, needle) < eol)) named = true;
    }
    if (!named) fail_msg("no ERROR line names %s; log: %s", r_gone, k.log);
    free(text);
}

/* An argument runs only the tests whose names match it (a cmocka pattern: * and ?). */
int main(int argc, char **argv) {
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    /* kt and kmirror's teardown report on stderr; line-buffered TAP on stdout keeps each report
     * next to its test when tests/run.sh merges the two streams. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_remote_topics_created_grown_and_discovered, teardown),
        cmocka_unit_test_teardown(test_record_fidelity, teardown),
        cmocka_unit_test_teardown(test_topic_filters, teardown),
        cmocka_unit_test_teardown(test_active_active_without_cycles, teardown),
        cmocka_unit_test_teardown(test_sigterm_restart_loses_and_repeats_nothing, teardown),
        cmocka_unit_test_teardown(test_kill9_restart_loses_nothing, teardown),
        cmocka_unit_test_teardown(test_retention_skip_reported, teardown),
        cmocka_unit_test_teardown(test_remote_topic_deleted_mid_run, teardown),
        cmocka_unit_test_teardown(test_source_broker_crash_loses_nothing, teardown_brokers),
        cmocka_unit_test_teardown(test_target_broker_crash_loses_nothing, teardown_brokers),
    };
    return cmocka_run_group_tests_name("replication", tests, NULL, NULL);
}
