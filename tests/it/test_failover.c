/* test_failover.c — failover on real brokers: offset-syncs, checkpoints, exact translation,
 * group offset sync, heartbeats and topology, and interop with Apache's own MirrorMaker 2
 * client code.
 *
 * The central assertion is the one an operator cares about: a group that consumed part of a
 * topic on A and committed, when it starts on B from the translated offsets, reads exactly the
 * records it had not read — record by record, no re-reads, no skips — also across the offset
 * gaps of aborted transactions and compaction, and across a kmirror restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"

static const char *A, *B, *BIN;

static int teardown(void **state) {
    kt_kill_children();
    return 0;
}

/* For a test that crashes brokers: the next tests get their clusters back even if it failed. */
static int teardown_brokers(void **state) {
    teardown(state);
    return kt_clusters_restore();
}

static int setup(void **state) {
    A = getenv("KMIRROR_IT_A");
    B = getenv("KMIRROR_IT_B");
    BIN = getenv("KMIRROR_BIN");
    return 0;
}

/* ---- kmirror as a child process ---------------------------------------------------------------- */

typedef kt_kmirror_t km_proc_t;

static void write_config(km_proc_t *p, const char *prefix, const char *extra) {
    assert_int_equal(kt_kmirror_config(p, prefix,
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = true\nA->B.topics = %s\\..*\nA->B.groups = %s-.*\n"
                                       "replication.factor = 1\noffset-syncs.topic.replication.factor = 1\n"
                                       "checkpoints.topic.replication.factor = 1\nheartbeats.topic.replication.factor = 1\n"
                                       "refresh.topics.interval.seconds = 1\nrefresh.groups.interval.seconds = 1\n"
                                       "emit.checkpoints.interval.seconds = 1\nsync.group.offsets.enabled = true\n"
                                       "sync.group.offsets.interval.seconds = 1\noffset.flush.interval.ms = 300\n%s",
                                       A, B, prefix, prefix, extra ? extra : ""),
                     0);
}

static void start(km_proc_t *p) { assert_int_equal(kt_kmirror_start(p, NULL), 0); }

static void stop(km_proc_t *p) { assert_int_equal(kt_kmirror_stop(p, 60000), 0); }

/* ---- groups ------------------------------------------------------------------------------------ */

typedef struct {
    rd_kafka_t *rk;
    const rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t err;
} commit_arg_t;

static bool commits(void *arg) {
    commit_arg_t *c = arg;
    c->err = rd_kafka_commit(c->rk, c->l, 0);
    return c->err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Tried again until it succeeds: right after a broker restart the coordinator may still be
 * loading its offsets. */
static void commit(const char *bs, const char *group, const char *topic, int32_t partition, int64_t offset) {
    const char *conf[] = {"group.id", group, "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bs, conf);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    commit_arg_t c = {rk, l, RD_KAFKA_RESP_ERR__FAIL};
    if (!kt_wait_until(commits, &c, 60000)) print_message("# commit %s: %s\n", group, rd_kafka_err2str(c.err));
    assert_int_equal(c.err, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static int64_t committed(const char *bs, const char *group, const char *topic, int32_t partition) {
    const char *conf[] = {"group.id", group, NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bs, conf);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    int64_t r = rd_kafka_committed(rk, l, 10000) ? -2 : l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return r;
}

typedef struct {
    const char *group, *topic;
    int32_t partition;
    int64_t want;
} group_arg_t;

static bool group_at(void *arg) {
    group_arg_t *g = arg;
    return committed(B, g->group, g->topic, g->partition) == g->want;
}

/* ---- data -------------------------------------------------------------------------------------- */

static void produce_plain(const char *topic, int partitions, int from, int n) {
    kt_msg_t *m = calloc((size_t)(n * partitions), sizeof(*m));
    char(*vals)[32] = calloc((size_t)(n * partitions), 32);
    for (int p = 0; p < partitions; p++)
        for (int i = 0; i < n; i++) {
            int k = p * n + i;
            snprintf(vals[k], 32, "%s/%d/%d", topic, p, from + i);
            m[k] = (kt_msg_t){.partition = p, .key = vals[k], .value = vals[k]};
        }
    assert_int_equal(kt_produce(A, topic, m, (size_t)(n * partitions), NULL, NULL), 0);
    free(m);
    free(vals);
}

/* Committed and aborted batches, so the log holds markers and aborted records: offset gaps for
 * a read_committed reader. */
static void produce_transactions(const char *topic) {
    char txid[128];
    snprintf(txid, sizeof txid, "%s-tx", topic);
    const char *conf[] = {"transactional.id", txid, NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, A, conf);
    assert_non_null(rk);
    assert_null(rd_kafka_init_transactions(rk, 30000));
    static const int batches[][2] = {{20, 1}, {10, 0}, {20, 1}, {5, 0}, {10, 1}}; /* records, commit? */
    int seq = 0;
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        assert_null(rd_kafka_begin_transaction(rk));
        for (int i = 0; i < batches[b][0]; i++, seq++) {
            char v[160];
            snprintf(v, sizeof v, "%s/%s/%d", topic, batches[b][1] ? "c" : "aborted", seq);
            assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                               RD_KAFKA_V_VALUE(v, strlen(v)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                               RD_KAFKA_V_END), 0);
        }
        /* abort_transaction does not wait for records still being added to the transaction, and
         * the broker then answers INVALID_TXN_STATE (librdkafka #4849): deliver them first. */
        assert_int_equal(rd_kafka_flush(rk, 30000), 0);
        assert_null(batches[b][1] ? rd_kafka_commit_transaction(rk, 30000) : rd_kafka_abort_transaction(rk, 30000));
    }
    rd_kafka_destroy(rk);
}

typedef struct {
    const char *topic;
    size_t want;
} count_arg_t;

static bool fewer_than(void *arg) {
    count_arg_t *c = arg;
    kt_record_t *r;
    size_t n;
    int rc = kt_consume(A, c->topic, NULL, &r, &n);
    kt_records_free(r, n);
    return rc == 0 && n < c->want;
}

/* A compacted topic whose log really has holes: 200 records over 20 keys, the segment rolled so
 * the cleaner may work, then wait until it did. */
static void produce_compacted(const char *topic) {
    const char *cfg[] = {"cleanup.policy", "compact", "segment.ms", "100", "min.cleanable.dirty.ratio", "0.001",
                         "min.compaction.lag.ms", "0", NULL};
    assert_int_equal(kt_create_topic(A, topic, 1, cfg), 0);
    kt_msg_t m[200];
    char vals[200][160], keys[200][16];
    for (int i = 0; i < 200; i++) { /* even records keep unique keys; odd ones overwrite 5 keys */
        if (i % 2 == 0) snprintf(keys[i], sizeof keys[i], "u-%d", i);
        else snprintf(keys[i], sizeof keys[i], "dup-%d", i % 5);
        snprintf(vals[i], sizeof vals[i], "%s/%d", topic, i);
        m[i] = (kt_msg_t){.partition = 0, .key = keys[i], .value = vals[i]};
    }
    assert_int_equal(kt_produce(A, topic, m, 150, NULL, NULL), 0);
    /* later appends roll the segment (segment.ms) so the first 150 become cleanable */
    count_arg_t c = {topic, 150};
    for (int round = 0; round < 60 && !fewer_than(&c); round++) {
        kt_msg_t one = m[150 + round % 50];
        assert_int_equal(kt_produce(A, topic, &one, 1, NULL, NULL), 0);
        kt_wait_until(fewer_than, &c, 500);
    }
    assert_true(fewer_than(&c));
}

/* ---- checking a translation ------------------------------------------------------------------- */

typedef struct {
    kt_record_t *r;
    size_t n;
} recs_t;

static recs_t read_all(const char *bs, const char *topic) {
    recs_t s;
    assert_int_equal(kt_consume(bs, topic, NULL, &s.r, &s.n), 0);
    return s;
}

/* Where a consumer of partition p of the remote topic must start to continue exactly after
 * upstream offset u: the B offset of the copy of the first A record at or after u, or B's end. */
static int64_t expected_downstream(const recs_t *a, const recs_t *b, int32_t p, int64_t u, int64_t b_end) {
    const kt_record_t *first = NULL;
    for (size_t i = 0; i < a->n && !first; i++)
        if (a->r[i].partition == p && a->r[i].offset >= u) first = &a->r[i];
    if (!first) return b_end;
    for (size_t i = 0; i < b->n; i++)
        if (b->r[i].partition == p && b->r[i].value && strcmp(b->r[i].value, first->value) == 0) return b->r[i].offset;
    fail_msg("record %s is not on B", first->value);
    return -1;
}

/* The consumer's view after failover: what B holds from d on equals what A holds from u on. */
static void assert_resumes_exactly(const recs_t *a, const recs_t *b, int32_t p, int64_t u, int64_t d) {
    size_t i = 0, j = 0;
    while (i < a->n && (a->r[i].partition != p || a->r[i].offset < u)) i++;
    while (j < b->n && (b->r[j].partition != p || b->r[j].offset < d)) j++;
    for (; i < a->n && a->r[i].partition == p; i++, j++) {
        if (j >= b->n || b->r[j].partition != p) fail_msg("B ends before A's %s", a->r[i].value);
        if (strcmp(a->r[i].value, b->r[j].value) != 0)
            fail_msg("after failover at A offset %lld / B offset %lld: expected %s, B has %s", (long long)u, (long long)d,
                     a->r[i].value, b->r[j].value);
    }
    if (j < b->n && b->r[j].partition == p) fail_msg("B has an extra record %s", b->r[j].value);
}

typedef struct {
    km_proc_t *k;
    const char *group, *remote;
    int32_t partition;
    int64_t want;
    int64_t got;
} xlate_arg_t;

/* kmirror translate-offsets --json for the group, the offset of one partition or -1. */
static int64_t translated(const km_proc_t *k, const char *group, const char *remote, int32_t partition) {
    char *args[] = {(char *)BIN, "translate-offsets", (char *)k->conf, "--group", (char *)group, "--source", "A",
                    "--target", "B", "--json", "-q", NULL};
    char *out = NULL;
    int64_t r = -1;
    if (kt_run(args, &out) == 0) {
        json_t *arr = json_loads(out, 0, NULL);
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e) {
            if (strcmp(json_string_value(json_object_get(e, "topic")), remote) == 0 &&
                json_integer_value(json_object_get(e, "partition")) == partition)
                r = json_integer_value(json_object_get(e, "offset"));
        }
        json_decref(arr);
    }
    free(out);
    return r;
}

static bool translation_is(void *arg) {
    xlate_arg_t *x = arg;
    x->got = translated(x->k, x->group, x->remote, x->partition);
    return x->got == x->want;
}

static void expect_translation(km_proc_t *k, const char *group, const char *remote, int32_t p, int64_t want) {
    xlate_arg_t x = {k, group, remote, p, want, -1};
    if (!kt_wait_until(translation_is, &x, 30000))
        fail_msg("group %s %s[%d]: translated to %lld, expected %lld", group, remote, p, (long long)x.got, (long long)want);
}

typedef struct {
    km_proc_t *k;
    xlate_arg_t x;
} alive_xlate_arg_t;

/* The translation is the wanted one, or kmirror is gone (and waiting longer is pointless). */
static bool translated_or_dead(void *arg) {
    alive_xlate_arg_t *a = arg;
    return !kt_kmirror_alive(a->k) || translation_is(&a->x);
}

typedef struct {
    const char *topic;
    const int64_t *want;
    int n;
} hw_arg_t;

static bool hw_reached(void *arg) {
    hw_arg_t *h = arg;
    int64_t hw[8] = {0};
    if (kt_high_watermarks(B, h->topic, hw, h->n) != 0) return false;
    for (int i = 0; i < h->n; i++)
        if (hw[i] < h->want[i]) return false;
    return true;
}

/* Waits until the remote topic holds as many records per partition as A's read_committed view. */
static void wait_mirrored(const char *topic, const char *remote, int partitions) {
    recs_t a = read_all(A, topic);
    int64_t want[8] = {0};
    for (size_t i = 0; i < a.n; i++) want[a.r[i].partition]++;
    kt_records_free(a.r, a.n);
    hw_arg_t h = {remote, want, partitions};
    assert_true(kt_wait_until(hw_reached, &h, 60000));
}

/* One failover check: commit u for the group on A, wait for the translation, and verify both
 * the number and what a consumer starting there would read. */
static int64_t check_failover(km_proc_t *k, const char *group, const char *topic, const char *remote, int32_t p, int64_t u) {
    commit(A, group, topic, p, u);
    recs_t a = read_all(A, topic), b = read_all(B, remote);
    int64_t hw[8] = {0};
    assert_int_equal(kt_high_watermarks(B, remote, hw, p + 1), 0);
    int64_t want = expected_downstream(&a, &b, p, u, hw[p]);
    expect_translation(k, group, remote, p, want);
    assert_resumes_exactly(&a, &b, p, u, want);
    kt_records_free(a.r, a.n);
    kt_records_free(b.r, b.n);
    return want;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_exact_failover(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], plain[96], txn[96], compact[96], rplain[128], rtxn[128], rcompact[128], group[96];
    kt_unique_name("fo", prefix, sizeof prefix);
    snprintf(plain, sizeof plain, "%s.plain", prefix);
    snprintf(txn, sizeof txn, "%s.txn", prefix);
    snprintf(compact, sizeof compact, "%s.compact", prefix);
    snprintf(rplain, sizeof rplain, "A.%s", plain);
    snprintf(rtxn, sizeof rtxn, "A.%s", txn);
    snprintf(rcompact, sizeof rcompact, "A.%s", compact);
    snprintf(group, sizeof group, "%s-g", prefix);
    assert_int_equal(kt_create_topic(A, plain, 2, NULL), 0);
    assert_int_equal(kt_create_topic(A, txn, 1, NULL), 0);
    produce_plain(plain, 2, 0, 300);
    produce_transactions(txn);
    produce_compacted(compact);
    commit(A, group, plain, 0, 1); /* the group exists before kmirror lists groups */

    km_proc_t k;
    write_config(&k, prefix, NULL);
    start(&k);
    wait_mirrored(plain, rplain, 2);
    wait_mirrored(txn, rtxn, 1);
    wait_mirrored(compact, rcompact, 1);

    check_failover(&k, group, plain, rplain, 0, 120);
    check_failover(&k, group, plain, rplain, 1, 75);
    /* inside the transactional log: after the first aborted batch, on a marker, at the end */
    check_failover(&k, group, txn, rtxn, 0, 21);    /* the marker of the first commit: a gap */
    check_failover(&k, group, txn, rtxn, 0, 40);    /* the first committed record after the abort */
    int64_t txn_end[1];
    assert_int_equal(kt_high_watermarks(A, txn, txn_end, 1), 0);
    check_failover(&k, group, txn, rtxn, 0, txn_end[0]); /* everything read, markers included */
    /* a hole left by compaction */
    recs_t c = read_all(A, compact);
    int64_t hole = -1;
    for (size_t i = 1; i < c.n && hole < 0; i++)
        if (c.r[i].offset != c.r[i - 1].offset + 1) hole = c.r[i - 1].offset + 1;
    kt_records_free(c.r, c.n);
    assert_true(hole >= 0);
    check_failover(&k, group, compact, rcompact, 0, hole);

    /* group offset sync wrote the same offsets to B's (inactive) group */
    group_arg_t g = {group, rcompact, 0, translated(&k, group, rcompact, 0)};
    assert_true(kt_wait_until(group_at, &g, 30000));

    /* restart: more records, a new commit, still exact */
    stop(&k);
    produce_plain(plain, 2, 300, 100);
    start(&k);
    wait_mirrored(plain, rplain, 2);
    check_failover(&k, group, plain, rplain, 0, 350);
    check_failover(&k, group, plain, rplain, 1, 400); /* fully read */
    stop(&k);
}

static void test_group_sync_never_rewinds_and_skips_active(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128], ahead[96], active[96];
    kt_unique_name("gs", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(ahead, sizeof ahead, "%s-ahead", prefix);
    snprintf(active, sizeof active, "%s-active", prefix);
    assert_int_equal(kt_create_topic(A, topic, 1, NULL), 0);
    produce_plain(topic, 1, 0, 100);
    commit(A, ahead, topic, 0, 40);
    commit(A, active, topic, 0, 30);
    /* B's "ahead" group already went further than A's; B's "active" group has a live member */
    assert_int_equal(kt_create_topic(B, remote, 1, NULL), 0);
    commit(B, ahead, remote, 0, 90);
    const char *conf[] = {"group.id", active, "enable.auto.commit", "false", NULL};
    int assigned;
    rd_kafka_t *member = kt_group_member(B, remote, conf, 1, 10000, &assigned);
    assert_non_null(member);

    km_proc_t k;
    write_config(&k, prefix, NULL);
    start(&k);
    wait_mirrored(topic, remote, 1);
    expect_translation(&k, ahead, remote, 0, 40);
    expect_translation(&k, active, remote, 0, 30);
    char needle[160];
    snprintf(needle, sizeof needle, "not syncing the offsets of group %s", active);
    for (int i = 0; i < 100 && !kt_kmirror_logged(&k, needle); i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(member, 100); /* keep the member alive */
        if (m) rd_kafka_message_destroy(m);
    }
    assert_true(kt_kmirror_logged(&k, needle));
    assert_int_equal(committed(B, ahead, remote, 0), 90); /* never rewound */
    rd_kafka_consumer_close(member);
    rd_kafka_destroy(member);
    stop(&k);
}

/* Each cluster's broker is killed while kmirror asks its group coordinator (committed offsets on
 * the source, group state on the target) and restarted after those requests timed out. With
 * librdkafka 2.0.2's admin client, the coordinator coming back aborted kmirror (librdkafka
 * #4605); kmirror must ride both outages out and go on checkpointing and syncing the group. */
static void test_group_requests_survive_broker_outages(void **state) {
    if (!kt_it_ready()) skip();
    const char *name_a = kt_cluster_name("KMIRROR_IT_A_NAME"), *name_b = kt_cluster_name("KMIRROR_IT_B_NAME");
    if (!name_a || !name_b) {
        print_message("KMIRROR_IT_A_NAME / KMIRROR_IT_B_NAME not set: clusters not started by tests/run.sh are not crashed\n");
        skip();
    }
    char prefix[64], topic[96], remote[128], group[96], needle[256];
    kt_unique_name("go", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(group, sizeof group, "%s-g", prefix);
    assert_int_equal(kt_create_topic(A, topic, 1, NULL), 0);
    produce_plain(topic, 1, 0, 100);
    commit(A, group, topic, 0, 40);

    km_proc_t k;
    /* The group by its literal name: with A down its groups cannot be listed, and only the
     * literal names in 'groups' are checkpointed then. */
    char extra[320];
    snprintf(extra, sizeof extra, "admin.timeout.ms = 3000\nA->B.groups = %s\n", group);
    write_config(&k, prefix, extra);
    start(&k);
    wait_mirrored(topic, remote, 1);
    expect_translation(&k, group, remote, 0, 40);

    const struct {
        const char *cluster, *needle_fmt;
    } outage[] = {{name_a, "no checkpoint for group %s: cannot read its committed offsets on A"},
                  {name_b, "cannot describe group %s on B"}};
    int64_t at = 40;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(kt_cluster_ctl("kill9", outage[i].cluster), 0);
        snprintf(needle, sizeof needle, outage[i].needle_fmt, group);
        bool timed_out = kt_kmirror_wait_logged(&k, needle, 120000);
        assert_int_equal(kt_cluster_ctl("restart", outage[i].cluster), 0);
        if (!timed_out) kt_kmirror_print_log(&k);
        assert_true(timed_out);
        at += 10;
        commit(A, group, topic, 0, at);
        alive_xlate_arg_t a = {&k, {&k, group, remote, 0, at, -1}};
        assert_true(kt_wait_until(translated_or_dead, &a, 120000));
        if (!kt_kmirror_alive(&k)) {
            kt_kmirror_print_log(&k);
            fail_msg("kmirror exited (wait status 0x%x) after %s came back", k.status, outage[i].cluster);
        }
        assert_int_equal(a.x.got, at);
    }
    group_arg_t g = {group, remote, 0, at}; /* synced to B's inactive group after all */
    assert_true(kt_wait_until(group_at, &g, 60000));
    stop(&k);
}

typedef struct {
    const char *bs, *topic;
} exists_arg_t;

static bool topic_exists(void *arg) {
    exists_arg_t *e = arg;
    return kt_partition_count(e->bs, e->topic) > 0;
}

static void test_heartbeats_and_topology(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64];
    kt_unique_name("hb", prefix, sizeof prefix);
    km_proc_t k;
    write_config(&k, prefix, "emit.heartbeats.interval.seconds = 1\n");
    start(&k);
    /* B->A is disabled but, as in MM2, heartbeats still go into A; A->B carries them to B */
    typedef struct {
        const char *bs, *topic;
    } probe_t;
    probe_t probes[] = {{B, "heartbeats"}, {A, "heartbeats"}, {B, "A.heartbeats"}};
    for (size_t i = 0; i < 3; i++) {
        exists_arg_t e = {probes[i].bs, probes[i].topic};
        assert_true(kt_wait_until(topic_exists, &e, 30000));
        kt_consume_opts_t o = {.expected = 1, .timeout_ms = 30000};
        kt_record_t *r;
        size_t n;
        assert_int_equal(kt_consume(probes[i].bs, probes[i].topic, &o, &r, &n), 0);
        assert_true(n >= 1);
        assert_int_equal(r[0].value_len, 10); /* version + timestamp */
        kt_records_free(r, n);
    }
    char *args[] = {(char *)BIN, "topology", k.conf, "--cluster", "B", "--json", "-q", NULL};
    char *out = NULL;
    assert_int_equal(kt_run(args, &out), 0);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    bool found = false;
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(o, "upstream"), i, u) {
        if (strcmp(json_string_value(json_object_get(u, "cluster")), "A") == 0) {
            found = true;
            assert_int_equal(json_integer_value(json_object_get(u, "hops")), 1);
        }
    }
    assert_true(found);
    json_decref(o);
    free(out);
    char *bad[] = {(char *)BIN, "topology", k.conf, "--cluster", "C", NULL};
    assert_int_equal(kt_run(bad, &out), 1);
    free(out);
    char *nogroup[] = {(char *)BIN, "translate-offsets", k.conf, "--group", "no-such-group", "--source", "A", "--target", "B", NULL};
    assert_int_equal(kt_run(nogroup, &out), 1);
    free(out);
    stop(&k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_exact_failover, teardown),
        cmocka_unit_test_teardown(test_group_sync_never_rewinds_and_skips_active, teardown),
        cmocka_unit_test_teardown(test_heartbeats_and_topology, teardown),
        cmocka_unit_test_teardown(test_group_requests_survive_broker_outages, teardown_brokers),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
