/* test_failover_cmd.c — `kmirror failover` on real brokers, end to end with consumer groups.
 *
 * A group consumes part of a topic on A and commits; kmirror replicates A->B; the command moves
 * the group; a consumer of the group on B then reads exactly the records it had not read (record
 * by record: no re-reads, no skips). Around that: --dry-run commits nothing, a second run is
 * idempotent (never moves a group backwards), a group with members on B is left alone, and with
 * A unreachable the command falls back to B's checkpoints (unplanned). Failback B->A puts the
 * groups back on A where they stopped on B, on A's own topics and on those written on B. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt.h"
#include "kt_kmirror.h"

static const char *A, *B, *BIN;

static int teardown(void **state) {
    kt_kill_children();
    return 0;
}

static int setup(void **state) {
    A = getenv("KMIRROR_IT_A");
    B = getenv("KMIRROR_IT_B");
    BIN = getenv("KMIRROR_BIN");
    return 0;
}

/* A->B (ab) and B->A (ba) for PREFIX.* topics and PREFIX-* groups; kmirror's own group offset
 * sync is off, so whatever lands in a cluster's groups was put there by the command. */
static void write_config(kt_kmirror_t *k, const char *name, const char *a_bootstrap, const char *prefix, bool ab, bool ba) {
    assert_int_equal(kt_kmirror_config(k, name,
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = %s\nA->B.topics = %s\\..*\nA->B.groups = %s-.*\n"
                                       "replication.factor = 1\noffset-syncs.topic.replication.factor = 1\n"
                                       "checkpoints.topic.replication.factor = 1\nheartbeats.topic.replication.factor = 1\n"
                                       "refresh.topics.interval.seconds = 1\nrefresh.groups.interval.seconds = 1\n"
                                       "emit.checkpoints.interval.seconds = 1\nsync.group.offsets.enabled = false\n"
                                       "offset.flush.interval.ms = 300\n%s%s%s%s%s",
                                       a_bootstrap, B, ab ? "true" : "false", prefix, prefix,
                                       ba ? "B->A.enabled = true\nB->A.topics = " : "", ba ? prefix : "",
                                       ba ? "\\..*\nB->A.groups = " : "", ba ? prefix : "", ba ? "-.*\n" : ""),
                     0);
}

static void commit(const char *bs, const char *group, const char *topic, int32_t partition, int64_t offset) {
    const char *conf[] = {"group.id", group, "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bs, conf);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* The group's committed offset, RD_KAFKA_OFFSET_INVALID when none, -2 when B did not answer. */
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

static void produce_to(const char *bs, const char *topic, int partitions, int n) {
    kt_msg_t *m = calloc((size_t)(n * partitions), sizeof(*m));
    char(*vals)[64] = calloc((size_t)(n * partitions), 64);
    for (int p = 0; p < partitions; p++)
        for (int i = 0; i < n; i++) {
            int k = p * n + i;
            snprintf(vals[k], 64, "%d/%d", p, i);
            m[k] = (kt_msg_t){.partition = p, .key = vals[k], .value = vals[k]};
        }
    assert_int_equal(kt_produce(bs, topic, m, (size_t)(n * partitions), NULL, NULL), 0);
    free(m);
    free(vals);
}

static void produce(const char *topic, int partitions, int n) { produce_to(A, topic, partitions, n); }

typedef struct {
    const char *bs, *topic;
    int parts;
    int64_t want;
} hw_arg_t;

static bool mirrored(void *arg) {
    hw_arg_t *h = arg;
    int64_t hw[2] = {0};
    return kt_high_watermarks(h->bs, h->topic, hw, h->parts) == 0 && hw[0] >= h->want && (h->parts < 2 || hw[1] >= h->want);
}

/* `kmirror CMD CONF ARGS...` (no argument holds a single quote) with stdout and stderr in *out,
 * printed line by line (a whole run is more than cmocka prints at once): every step and its
 * evidence shows in the test's output. Returns the exit status. */
static int run_cmd(const char *cmd, char **out, const char *conf, const char *const *args) {
    char line[4096];
    int n = snprintf(line, sizeof line, "'%s' %s '%s'", BIN, cmd, conf);
    for (const char *const *a = args; *a; a++) n += snprintf(line + n, sizeof line - (size_t)n, " '%s'", *a);
    snprintf(line + n, sizeof line - (size_t)n, " 2>&1");
    char *argv[] = {"sh", "-c", line, NULL};
    int rc = kt_run(argv, out);
    print_message("# %s\n", line);
    for (const char *p = *out ? *out : ""; *p; p += *p == '\n') {
        int len = (int)strcspn(p, "\n");
        print_message("#   %.*s\n", len, p);
        p += len;
    }
    print_message("# exit status %d\n", rc);
    return rc;
}

static int run(char **out, const char *conf, const char *const *args) { return run_cmd("failover", out, conf, args); }

/* A consumer of `group` on bs subscribed to `remote` (`parts` partitions) reads the records
 * that are left and commits: partition p must yield exactly "p/first[p]" .. "p/end-1". */
static void consume_on(const char *bs, const char *group, const char *remote, int parts, const int64_t *first, int end) {
    const char *conf[] = {"group.id", group, "enable.auto.commit", "false", "auto.offset.reset", "earliest", NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bs, conf);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, remote, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(rk, sub), 0);
    rd_kafka_topic_partition_list_destroy(sub);
    int64_t next[2] = {first[0], parts > 1 ? first[1] : end};
    size_t expected = (size_t)(2 * end - next[0] - next[1]), got = 0;
    for (int polls = 0; got < expected && polls < 600; polls++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            char want[64], have[64];
            int p = m->partition;
            snprintf(want, sizeof want, "%d/%lld", p, (long long)next[p]);
            snprintf(have, sizeof have, "%.*s", (int)m->len, (const char *)m->payload);
            if (strcmp(want, have) != 0)
                fail_msg("group %s on %s, %s: expected record %s, read %s", group, bs == A ? "A" : "B", remote, want, have);
            next[p]++;
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, expected);
    assert_int_equal(rd_kafka_commit(rk, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static void consume_rest(const char *group, const char *remote, const int64_t first[2], int end) {
    consume_on(B, group, remote, 2, first, end);
}

typedef struct {
    const char *conf, *group, *remote;
    int64_t want;
} ck_arg_t;

/* translate-offsets finds the group's checkpoint for partition 0 at `want`. */
static bool checkpointed(void *arg) {
    ck_arg_t *c = arg;
    char *args[] = {(char *)BIN, "translate-offsets", (char *)c->conf, "--group", (char *)c->group, "--source", "A",
                    "--target", "B", "-q", NULL};
    char *out = NULL;
    bool ok = false;
    if (kt_run(args, &out) == 0 && out) {
        for (char *s = strstr(out, c->remote); s && !ok; s = strstr(s + 1, c->remote)) {
            int p;
            long long off;
            ok = sscanf(s + strlen(c->remote), " %d %lld", &p, &off) == 2 && p == 0 && off == c->want;
        }
    }
    free(out);
    return ok;
}

static void test_failover_moves_groups_exactly(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128], g1[96], g2[96], g3[96];
    kt_unique_name("fc", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(g1, sizeof g1, "%s-moved", prefix);
    snprintf(g2, sizeof g2, "%s-unplanned", prefix);
    snprintf(g3, sizeof g3, "%s-busy", prefix);
    assert_int_equal(kt_create_topic(A, topic, 2, NULL), 0);
    produce(topic, 2, 300);
    /* g1 read 120 records of partition 0 and 75 of partition 1 on A */
    commit(A, g1, topic, 0, 120);
    commit(A, g1, topic, 1, 75);
    commit(A, g2, topic, 0, 50);
    commit(A, g3, topic, 0, 30);

    kt_kmirror_t k;
    write_config(&k, prefix, A, prefix, true, false);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    hw_arg_t h = {B, remote, 2, 300};
    assert_true(kt_wait_until(mirrored, &h, 60000));

    /* --dry-run: the plan, nothing committed */
    char *out = NULL;
    const char *dry[] = {"--from", "A", "--to", "B", "--groups", g1, "--dry-run", NULL};
    assert_int_equal(run(&out, k.conf, dry), 0);
    assert_non_null(strstr(out, "planned failover"));
    assert_non_null(strstr(out, "would commit"));
    assert_non_null(strstr(out, "exact"));
    free(out);
    assert_int_equal(committed(B, g1, remote, 0), RD_KAFKA_OFFSET_INVALID);
    assert_int_equal(committed(B, g1, remote, 1), RD_KAFKA_OFFSET_INVALID);

    /* the failover itself; then the group on B reads exactly what it had not read on A */
    const char *go[] = {"--from", "A", "--to", "B", "--groups", g1, NULL};
    assert_int_equal(run(&out, k.conf, go), 0);
    assert_non_null(strstr(out, "committed"));
    free(out);
    assert_int_equal(committed(B, g1, remote, 0), 120);
    assert_int_equal(committed(B, g1, remote, 1), 75);
    const int64_t first[2] = {120, 75};
    consume_rest(g1, remote, first, 300);

    /* again: idempotent, and never backwards (the group on B is at the end now) */
    assert_int_equal(run(&out, k.conf, go), 0);
    assert_non_null(strstr(out, "past it (never backwards)"));
    assert_null(strstr(out, "committed\n"));
    free(out);
    assert_int_equal(committed(B, g1, remote, 0), 300);
    assert_int_equal(committed(B, g1, remote, 1), 300);

    /* a group with a live member on B is left alone, and the command says so and fails */
    const char *mconf[] = {"group.id", g3, "enable.auto.commit", "false", NULL};
    int assigned;
    rd_kafka_t *member = kt_group_member(B, remote, mconf, 1, 20000, &assigned);
    assert_non_null(member);
    assert_true(assigned > 0);
    const char *busy[] = {"--from", "A", "--to", "B", "--groups", g3, NULL};
    assert_int_equal(run(&out, k.conf, busy), 1);
    assert_non_null(strstr(out, "the group is active on B"));
    free(out);
    rd_kafka_consumer_close(member); /* closing commits nothing: auto commit is off */
    rd_kafka_destroy(member);
    assert_int_equal(committed(B, g3, remote, 0), RD_KAFKA_OFFSET_INVALID);

    /* unplanned: A unreachable, B's checkpoints are what is left */
    ck_arg_t c = {k.conf, g2, remote, 50};
    assert_true(kt_wait_until(checkpointed, &c, 30000));
    kt_kmirror_t down;
    char name[96];
    snprintf(name, sizeof name, "%s-a-down", prefix);
    write_config(&down, name, "127.0.0.1:1", prefix, true, false);
    const char *lost[] = {"--from", "A", "--to", "B", "--groups", g2, NULL};
    assert_int_equal(run(&out, down.conf, lost), 0);
    assert_non_null(strstr(out, "UNPLANNED"));
    assert_non_null(strstr(out, "may be missing"));
    assert_non_null(strstr(out, "checkpoint"));
    free(out);
    assert_int_equal(committed(B, g2, remote, 0), 50);

    /* no group matches: loud */
    const char *none[] = {"--from", "A", "--to", "B", "--groups", "no-such-group", NULL};
    assert_int_equal(run(&out, k.conf, none), 1);
    assert_non_null(strstr(out, "no consumer group on A is accepted by the groups/groups.exclude of flow A->B and --groups 'no-such-group'"));
    free(out);
    assert_int_equal(kt_kmirror_stop(&k, 60000), 0);
}

/* Failover A->B, the groups read on, producers write on B meanwhile; failback B->A puts each
 * group on A exactly where it stopped on B: in the original topic t (read on B as A.t; one group
 * read it to the end, the other stopped in the middle), and in B.local, the records written on
 * B. A failback whose file lacks flow A->B cannot translate A.t back: it says so and fails,
 * moving only the rest; run again with the whole file, it completes. */
static void test_failback_resumes_where_b_stopped(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128], local[96], back[128], g[96], g2[96], all[96], name[96];
    kt_unique_name("fb", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(local, sizeof local, "%s.local", prefix);
    snprintf(back, sizeof back, "B.%s", local);
    snprintf(g, sizeof g, "%s-app", prefix);
    snprintf(g2, sizeof g2, "%s-slow", prefix);
    snprintf(all, sizeof all, "%s-.*", prefix);
    assert_int_equal(kt_create_topic(A, topic, 2, NULL), 0);
    assert_int_equal(kt_create_topic(B, local, 1, NULL), 0);
    produce(topic, 2, 200);
    commit(A, g, topic, 0, 100);
    commit(A, g, topic, 1, 50);
    commit(A, g2, topic, 0, 60);
    commit(A, g2, topic, 1, 20);

    kt_kmirror_t k;
    write_config(&k, prefix, A, prefix, true, true);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    hw_arg_t h = {B, remote, 2, 200};
    assert_true(kt_wait_until(mirrored, &h, 60000));
    char *out = NULL;
    const char *fo[] = {"--from", "A", "--to", "B", "--groups", all, NULL};
    assert_int_equal(run(&out, k.conf, fo), 0);
    free(out);
    assert_int_equal(committed(B, g2, remote, 0), 60);
    assert_int_equal(committed(B, g2, remote, 1), 20);
    const int64_t first[2] = {100, 50};
    consume_rest(g, remote, first, 200); /* g reads A.t on B to its end */
    commit(B, g2, remote, 0, 130);        /* g2 reads on B and stops in the middle */
    commit(B, g2, remote, 1, 170);

    /* on B meanwhile: 100 records in B's own topic, of which g reads 40 */
    produce_to(B, local, 1, 100);
    commit(B, g, local, 0, 40);
    hw_arg_t hb = {A, back, 1, 100};
    assert_true(kt_wait_until(mirrored, &hb, 60000));

    /* a file without A->B: B.local moves, A.t cannot, and the command says why */
    kt_kmirror_t no_ab;
    snprintf(name, sizeof name, "%s-no-ab", prefix);
    write_config(&no_ab, name, A, prefix, false, true);
    const char *fb[] = {"--from", "B", "--to", "A", "--groups", all, NULL};
    assert_int_equal(run_cmd("failback", &out, no_ab.conf, fb), 1);
    assert_non_null(strstr(out, "moving it back needs the offset-syncs of A->B (A->B.enabled = true)"));
    free(out);
    assert_int_equal(committed(A, g, topic, 0), 100);
    assert_int_equal(committed(A, g2, topic, 1), 20);
    assert_int_equal(committed(A, g, back, 0), 40);

    /* again with the whole file: every partition where it stopped on B */
    assert_int_equal(run_cmd("failback", &out, k.conf, fb), 0);
    assert_non_null(strstr(out, "exact, back"));
    assert_null(strstr(out, "conservative"));
    free(out);
    assert_int_equal(committed(A, g, topic, 0), 200);
    assert_int_equal(committed(A, g, topic, 1), 200);
    assert_int_equal(committed(A, g, back, 0), 40);
    assert_int_equal(committed(A, g2, topic, 0), 130);
    assert_int_equal(committed(A, g2, topic, 1), 170);
    const int64_t rest[1] = {40}, mid[2] = {130, 170};
    consume_on(A, g, back, 1, rest, 100); /* g: nothing left of t; B.local from 40 on */
    consume_on(A, g2, topic, 2, mid, 200); /* g2: t from where it stopped on B */
    assert_int_equal(kt_kmirror_stop(&k, 60000), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_failover_moves_groups_exactly, teardown),
        cmocka_unit_test_teardown(test_failback_resumes_where_b_stopped, teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
