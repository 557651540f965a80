/* test_interop.c — kmirror next to Apache's own MirrorMaker 2 (the jars of the test harness):
 *   - Apache's RemoteClusterUtils.translateOffsets reads kmirror's checkpoints and gets the same
 *     offsets as `kmirror translate-offsets`;
 *   - after Apache MM2 replicated a topic and stopped, kmirror resumes from MM2's positions
 *     (nothing replicated twice) and translates a group from MM2's offset-syncs with MM2's own
 *     conservative rule (they carry no kmirror header, so their spacing proves nothing);
 *   - on one group.id, whichever starts second is refused, and kmirror says so either way: started
 *     after Apache MM2 it exits without creating anything on the target; started before, it warns
 *     when Apache MM2's worker (refused by the broker) shows up.
 * Skips when the clusters, Java or the harness's MirrorMaker jars are not available. */
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
static char MM2_LIBS[1024];

static int teardown(void **state) {
    kt_kill_children();
    return 0;
}

static int setup(void **state) {
    A = getenv("KMIRROR_IT_A");
    B = getenv("KMIRROR_IT_B");
    BIN = getenv("KMIRROR_BIN");
    FILE *p = popen("scripts/kafka-test-cluster.sh jars mirror-maker 2>/dev/null | tail -1", "r");
    if (p) {
        if (!fgets(MM2_LIBS, sizeof MM2_LIBS, p)) MM2_LIBS[0] = '\0';
        MM2_LIBS[strcspn(MM2_LIBS, "\n")] = '\0';
        pclose(p);
    }
    return 0;
}

static void need_everything(void) {
    if (!kt_it_ready()) skip();
    if (!MM2_LIBS[0] || access(MM2_LIBS, R_OK) != 0 || system("javac -version >/dev/null 2>&1") != 0) {
        print_message("Apache MirrorMaker 2 jars or a JDK are not available\n");
        skip();
    }
}

static void commit(const char *bs, const char *group, const char *topic, int32_t partition, int64_t offset) {
    const char *conf[] = {"group.id", group, "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bs, conf);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static void produce_from(const char *topic, int from, int n) {
    kt_msg_t *m = calloc((size_t)n, sizeof(*m));
    char(*v)[64] = calloc((size_t)n, 64);
    for (int i = 0; i < n; i++) {
        snprintf(v[i], 64, "r%d", from + i);
        m[i] = (kt_msg_t){.partition = 0, .key = v[i], .value = v[i]};
    }
    assert_int_equal(kt_produce(A, topic, m, (size_t)n, NULL, NULL), 0);
    free(m);
    free(v);
}

typedef struct {
    const char *cfg, *group, *remote;
    int64_t want, got;
} xl_t;

static int64_t kmirror_translation(const char *cfg, const char *group, const char *remote) {
    char *args[] = {(char *)BIN, "translate-offsets", (char *)cfg, "--group", (char *)group, "--source", "A",
                    "--target", "B", "--json", NULL};
    char *out = NULL;
    int64_t r = -1;
    if (kt_run(args, &out) == 0) {
        json_t *arr = json_loads(out, 0, NULL), *e;
        size_t i;
        json_array_foreach(arr, i, e) if (strcmp(json_string_value(json_object_get(e, "topic")), remote) == 0) r =
            json_integer_value(json_object_get(e, "offset"));
        json_decref(arr);
    }
    free(out);
    return r;
}

/* Some translation; with want >= 0, exactly that one (before everything is replicated a
 * conservative, smaller one may come first). */
static bool translated(void *arg) {
    xl_t *x = arg;
    int64_t r = kmirror_translation(x->cfg, x->group, x->remote);
    if (r >= 0) x->got = r;
    return x->want >= 0 ? r == x->want : r >= 0;
}

typedef struct {
    const char *bs, *topic;
    int64_t want;
} hw_t;

static bool hw_is(void *arg) {
    hw_t *h = arg;
    int64_t hw[1] = {0};
    return kt_high_watermarks(h->bs, h->topic, hw, 1) == 0 && hw[0] >= h->want;
}

/* SIGTERM and a bounded wait; Apache MM2 too, so not kt_kmirror_stop. */
static void stop(pid_t pid, int timeout_ms) {
    assert_int_equal(kt_signal(pid, SIGTERM), 0);
    int status;
    assert_int_equal(kt_wait_exit(pid, timeout_ms, &status), 0);
}

static const char *COMMON =
    "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\nA->B.enabled = true\nB->A.enabled = false\n"
    "A->B.topics = %s\\..*\nA->B.groups = %s\nreplication.factor = 1\noffset-syncs.topic.replication.factor = 1\n"
    "checkpoints.topic.replication.factor = 1\nheartbeats.topic.replication.factor = 1\n"
    "offset.storage.replication.factor = 1\nstatus.storage.replication.factor = 1\nconfig.storage.replication.factor = 1\n"
    "refresh.topics.interval.seconds = 1\nrefresh.groups.interval.seconds = 1\nemit.checkpoints.interval.seconds = 1\n";

static void test_apache_client_reads_kmirror_checkpoints(void **state) {
    need_everything();
    char prefix[64], topic[96], remote[128], group[96];
    kt_unique_name("ia", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(group, sizeof group, "%s-g", prefix);
    assert_int_equal(kt_create_topic(A, topic, 1, NULL), 0);
    produce_from(topic, 0, 100);
    commit(A, group, topic, 0, 37);
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, prefix, COMMON, A, B, prefix, group), 0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    xl_t x = {k.conf, group, remote, 37, -1}; /* one partition, nothing before: B offsets equal A's */
    assert_true(kt_wait_until(translated, &x, 60000));
    char cp[1200];
    snprintf(cp, sizeof cp, "%s/*", MM2_LIBS);
    char *jargv[] = {"java", "-cp", cp, "tests/interop/TranslateOffsets.java", (char *)B, "A", group, NULL};
    char *out = NULL;
    assert_int_equal(kt_run(jargv, &out), 0);
    char want[256];
    snprintf(want, sizeof want, "%s 0 37\n", remote);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(kt_kmirror_stop(&k, 60000), 0);
}

/* MM2's offset-syncs for `topic`, as (upstream, downstream) pairs, read back from A. */
static size_t java_syncs(const char *topic, int64_t (*out)[2], size_t max) {
    char name[] = "mm2-offset-syncs.B.internal";
    kt_record_t *r;
    size_t n, k = 0;
    kt_consume(A, name, NULL, &r, &n);
    size_t tlen = strlen(topic);
    for (size_t i = 0; i < n && k < max; i++) {
        const unsigned char *key = (const unsigned char *)r[i].key, *v = (const unsigned char *)r[i].value;
        if (!key || r[i].key_len != 2 + tlen + 4 || memcmp(key + 2, topic, tlen) != 0 || r[i].value_len != 16) continue;
        int64_t u = 0, d = 0;
        for (int b = 0; b < 8; b++) u = u << 8 | v[b], d = d << 8 | v[8 + b];
        out[k][0] = u;
        out[k][1] = d;
        k++;
    }
    kt_records_free(r, n);
    return k;
}

typedef struct {
    const char *topic;
    size_t want;
} syncs_t;

static bool has_syncs(void *arg) {
    syncs_t *s = arg;
    int64_t tmp[64][2];
    return java_syncs(s->topic, tmp, 64) >= s->want;
}

static void test_kmirror_takes_over_from_apache_mm2(void **state) {
    need_everything();
    char prefix[64], topic[96], remote[128], group[96], mlog[600];
    kt_unique_name("im", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(group, sizeof group, "%s-g", prefix);
    snprintf(mlog, sizeof mlog, "%s/%s-mm2.log", kt_kmirror_dir(), prefix);
    assert_int_equal(kt_create_topic(A, topic, 1, NULL), 0);
    produce_from(topic, 0, 250);

    /* Apache MM2 first; it checkpoints no group ("groups" matches nothing for it) */
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, prefix, COMMON, A, B, prefix, ""), 0);
    char cp[1200];
    snprintf(cp, sizeof cp, "%s/*", MM2_LIBS);
    char *margv[] = {"java", "-cp", cp, "org.apache.kafka.connect.mirror.MirrorMaker", k.conf, NULL};
    pid_t mm2 = kt_spawn(margv, mlog);
    assert_true(mm2 > 0);
    hw_t h = {B, remote, 250};
    assert_true(kt_wait_until(hw_is, &h, 120000));
    syncs_t s = {topic, 2}; /* the first record, then every offset.lag.max (100) */
    assert_true(kt_wait_until(has_syncs, &s, 60000));
    stop(mm2, 60000); /* a graceful stop commits MM2's positions */

    commit(A, group, topic, 0, 150);
    assert_int_equal(kt_kmirror_config(&k, prefix, COMMON, A, B, prefix, group), 0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    xl_t x = {k.conf, group, remote, -1, -1};
    assert_true(kt_wait_until(translated, &x, 60000));

    /* MM2's conservative rule on MM2's syncs: the newest sync at or before 150, plus one */
    int64_t syncs[64][2];
    size_t n = java_syncs(topic, syncs, 64);
    int64_t want = -1;
    for (size_t i = 0; i < n; i++)
        if (syncs[i][0] <= 150) want = syncs[i][0] == 150 ? syncs[i][1] : syncs[i][1] + 1;
    assert_true(want >= 0);
    assert_int_equal(x.got, want);
    assert_true(x.got <= 150); /* never past what the group read: no skipped records */

    /* kmirror resumed where MM2 stopped: new records arrive right after MM2's 250, which they
     * would not if anything had been replicated a second time (order is kept per partition) */
    produce_from(topic, 250, 10);
    hw_t h2 = {B, remote, 260};
    assert_true(kt_wait_until(hw_is, &h2, 60000));
    int64_t hw[1];
    assert_int_equal(kt_high_watermarks(B, remote, hw, 1), 0);
    assert_int_equal(hw[0], 260);
    assert_int_equal(kt_kmirror_stop(&k, 60000), 0);
}

/* One group.id, and Connect topics of the test's own, shared by kmirror and Apache MM2. */
static const char *SAME_GROUP =
    "%sB.group.id = %s-grp\nB.offset.storage.topic = %s-offsets\nB.config.storage.topic = %s-configs\n"
    "B.status.storage.topic = %s-status\n";

/* Whether `group` on B has members of protocol type "connect": Apache MM2's herder holds it. */
static bool connect_holds(void *arg) {
    const char *group = arg;
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, B, NULL);
    const struct rd_kafka_group_list *gl = NULL;
    bool held = false;
    if (rk && rd_kafka_list_groups(rk, group, &gl, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < gl->group_cnt; i++) {
            const struct rd_kafka_group_info *g = &gl->groups[i];
            held |= strcmp(g->group, group) == 0 && g->member_cnt > 0 && g->protocol_type && strcmp(g->protocol_type, "connect") == 0;
        }
        rd_kafka_group_list_destroy(gl);
    }
    if (rk) rd_kafka_destroy(rk);
    return held;
}

typedef struct {
    const char *path, *needle;
} file_has_t;

static bool file_has(void *arg) {
    file_has_t *f = arg;
    char *text = kt_read_file(f->path);
    bool has = text && strstr(text, f->needle);
    free(text);
    return has;
}

/* Apache MM2 holds the group: kmirror exits with an error naming the group and the other kind,
 * before it creates anything on B (before: it created its tasks topic there, then was refused at
 * the join with a generic message). */
static void test_refused_when_apache_mm2_holds_the_group(void **state) {
    need_everything();
    char prefix[64], topic[96], group[96], tasks[160], mlog[600], common[2048], want[256];
    kt_unique_name("ij", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(group, sizeof group, "%s-grp", prefix);
    snprintf(tasks, sizeof tasks, "mm2-kmirror-tasks.A.%s.internal", group);
    snprintf(mlog, sizeof mlog, "%s/%s-mm2.log", kt_kmirror_dir(), prefix);
    assert_int_equal(kt_create_topic(A, topic, 1, NULL), 0);
    produce_from(topic, 0, 10);
    snprintf(common, sizeof common, COMMON, A, B, prefix, "");
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, prefix, SAME_GROUP, common, prefix, prefix, prefix, prefix), 0);
    char cp[1200];
    snprintf(cp, sizeof cp, "%s/*", MM2_LIBS);
    char *margv[] = {"java", "-cp", cp, "org.apache.kafka.connect.mirror.MirrorMaker", k.conf, NULL};
    pid_t mm2 = kt_spawn(margv, mlog);
    assert_true(mm2 > 0);
    assert_true(kt_wait_until(connect_holds, group, 120000));

    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    assert_int_equal(kt_kmirror_wait_exit(&k, 120000), 0);
    if (!WIFEXITED(k.status) || WEXITSTATUS(k.status) == 0) kt_kmirror_print_log(&k);
    assert_true(WIFEXITED(k.status) && WEXITSTATUS(k.status) != 0);
    snprintf(want, sizeof want, "group %s on B is in use by", group);
    if (!kt_kmirror_logged(&k, want) || !kt_kmirror_logged(&k, "protocol type 'connect'")) kt_kmirror_print_log(&k);
    assert_true(kt_kmirror_logged(&k, want));
    assert_true(kt_kmirror_logged(&k, "protocol type 'connect'"));
    assert_int_equal(kt_partition_count(B, tasks), 0); /* nothing created */
    assert_true(connect_holds(group));                /* and Apache MM2 undisturbed */
    stop(mm2, 60000);
}

/* kmirror holds the group: the broker refuses Apache MM2's worker (its herder dies) without
 * telling kmirror; kmirror warns, naming the group, once the worker's config topic appears, and
 * keeps running (before: nothing in kmirror's log). */
static void test_warns_when_apache_mm2_tries_to_join(void **state) {
    need_everything();
    char prefix[64], topic[96], group[96], mlog[600], common[2048], want[256];
    kt_unique_name("ik", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(group, sizeof group, "%s-grp", prefix);
    snprintf(mlog, sizeof mlog, "%s/%s-mm2.log", kt_kmirror_dir(), prefix);
    assert_int_equal(kt_create_topic(A, topic, 1, NULL), 0);
    produce_from(topic, 0, 10);
    snprintf(common, sizeof common, COMMON, A, B, prefix, "");
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, prefix, SAME_GROUP, common, prefix, prefix, prefix, prefix), 0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    snprintf(want, sizeof want, "joined group %s on B", group);
    assert_true(kt_kmirror_wait_logged(&k, want, 120000));

    char cp[1200];
    snprintf(cp, sizeof cp, "%s/*", MM2_LIBS);
    char *margv[] = {"java", "-cp", cp, "org.apache.kafka.connect.mirror.MirrorMaker", k.conf, NULL};
    pid_t mm2 = kt_spawn(margv, mlog);
    assert_true(mm2 > 0);
    file_has_t refused = {mlog, "InconsistentGroupProtocol"}; /* the scenario: the broker refused it */
    assert_true(kt_wait_until(file_has, &refused, 120000));
    snprintf(want, sizeof want, "a Kafka Connect worker of group %s", group);
    if (!kt_kmirror_wait_logged(&k, want, 60000)) kt_kmirror_print_log(&k);
    assert_true(kt_kmirror_logged(&k, want));
    assert_true(kt_kmirror_alive(&k));
    stop(mm2, 60000);
    assert_int_equal(kt_kmirror_stop(&k, 60000), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_apache_client_reads_kmirror_checkpoints, teardown),
        cmocka_unit_test_teardown(test_kmirror_takes_over_from_apache_mm2, teardown),
        cmocka_unit_test_teardown(test_refused_when_apache_mm2_holds_the_group, teardown),
        cmocka_unit_test_teardown(test_warns_when_apache_mm2_tries_to_join, teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
