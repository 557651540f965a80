/* test_fence.c — `kmirror failover --fence` and `--unfence` on brokers with an authorizer.
 *
 * A is a SASL_SSL cluster started here (scripts/kafka-test-cluster.sh, StandardAuthorizer, only
 * super users allowed by default); kmirror reads it as the super user admin and writes to B
 * (KMIRROR_IT_B, plaintext). alice, a plain user with ALLOW WRITE on the topic, keeps producing
 * to A while the planned failover runs with --fence: after the fence her records are refused
 * with TOPIC_AUTHORIZATION_FAILED, every record she got acknowledged is on B when the command
 * ends (lag 0), and the group resumes on B record by record; --unfence lets her write again.
 * On a cluster without an authorizer (SECURITY open) --fence fails before anything is committed.
 *
 * Needs java, keytool and openssl (skips without). KMIRROR_FENCE_CLUSTERS=SASL_NAME,OPEN_NAME runs
 * on a sasl_ssl and an open cluster already started by the script instead of starting two. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"

enum { WAIT_MS = 90000 };
static const char CLUSTER_SCRIPT[] = "scripts/kafka-test-cluster.sh";

static const char *B, *BIN;
static char A[64], OPEN[64], NAME[2][64], TLS[512], CA[600];
static bool ready, started_here;
static const char *skip_why = "the clusters did not start (see the suite's output)";
static const char *a_conf[] = {"security.protocol", "SASL_SSL", "sasl.mechanism", "PLAIN", "sasl.username", "admin",
                               "sasl.password", "admin-secret", "ssl.ca.location", CA, NULL};

/* ---- clusters ------------------------------------------------------------------------------- */

static bool have(const char *tool) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static int cluster_addr(const char *verb, const char *name, const char *port, const char *security, char *addr, size_t len) {
    char *out = NULL;
    char *argv[] = {(char *)CLUSTER_SCRIPT, (char *)verb, (char *)name, (char *)port, (char *)security, NULL};
    if (!port) argv[3] = NULL;
    int rc = kt_run(argv, &out);
    const char *line = out ? strstr(out, "bootstrap.servers=") : NULL;
    if (line) snprintf(addr, len, "%.*s", (int)strcspn(line + 18, "\n"), line + 18);
    free(out);
    return rc == 0 && line ? 0 : -1;
}

static int setup(void **state) {
    srandom((unsigned)getpid());
    B = getenv("KMIRROR_IT_B");
    BIN = getenv("KMIRROR_BIN");
    if (!B || !*B || !BIN || !have("java") || !have("keytool") || !have("openssl")) {
        skip_why = "KMIRROR_IT_B and KMIRROR_BIN (tests/run.sh sets them), java, keytool and openssl are needed";
        fprintf(stderr, "# SKIP test_fence: %s\n", skip_why);
        return 0;
    }
    const char *given = getenv("KMIRROR_FENCE_CLUSTERS");
    const char *security[2] = {"sasl_ssl", "open"};
    char *addr[2] = {A, OPEN};
    for (int c = 0; c < 2; c++) {
        if (given) {
            const char *comma = strchr(given, ',');
            if (!comma) return -1;
            snprintf(NAME[c], sizeof(NAME[c]), "%.*s", c ? (int)strlen(comma + 1) : (int)(comma - given), c ? comma + 1 : given);
            if (cluster_addr("status", NAME[c], NULL, NULL, addr[c], 64) != 0) return 0;
            continue;
        }
        snprintf(NAME[c], sizeof(NAME[c]), "fence-%s-%d", security[c], (int)getpid());
        bool ok = false;
        for (int attempt = 0; attempt < 3 && !ok; attempt++) { /* a port taken meanwhile: another */
            char port[16];
            snprintf(port, sizeof(port), "%d", 20000 + 2 * (int)(random() % 10000));
            ok = cluster_addr("start", NAME[c], port, security[c], addr[c], 64) == 0;
        }
        if (!ok) return 0;
        started_here = true;
    }
    char cwd[400];
    if (!getcwd(cwd, sizeof(cwd))) return -1;
    snprintf(TLS, sizeof(TLS), "%s/build/kafka/%s/tls", cwd, NAME[0]);
    snprintf(CA, sizeof(CA), "%s/ca.pem", TLS);
    kt_cluster_conf(A, a_conf);
    ready = true;
    return 0;
}

static int teardown_group(void **state) {
    for (int c = 0; c < 2 && started_here; c++) {
        char *argv[] = {(char *)CLUSTER_SCRIPT, "stop", NAME[c], NULL};
        kt_run(argv, NULL);
    }
    return 0;
}

static int teardown(void **state) {
    kt_kill_children();
    return 0;
}

static void need_clusters(void) {
    if (!ready) {
        print_message("# SKIP: %s\n", skip_why);
        skip();
    }
}

/* ---- helpers -------------------------------------------------------------------------------- */

/* ALLOW `op` on the literal topic for alice on A, as admin. */
static void allow_alice(const char *topic, rd_kafka_AclOperation_t op) {
    char err[256];
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, A, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AclBinding_t *b = rd_kafka_AclBinding_new(RD_KAFKA_RESOURCE_TOPIC, topic, RD_KAFKA_RESOURCE_PATTERN_LITERAL, "User:alice",
                                                       "*", op, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, err, sizeof(err));
    assert_non_null(b);
    rd_kafka_CreateAcls(rk, &b, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    assert_non_null(ev);
    if (rd_kafka_event_error(ev)) fail_msg("ALLOW for alice on %s: %s", topic, rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
    rd_kafka_AclBinding_destroy(b);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

/* How many DENY WRITE ACLs for User:* on the literal topic A's authorizer lists. */
static int fences_on(const char *topic) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, A, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AclBindingFilter_t *f =
        rd_kafka_AclBindingFilter_new(RD_KAFKA_RESOURCE_TOPIC, topic, RD_KAFKA_RESOURCE_PATTERN_LITERAL, "User:*", "*",
                                      RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_PERMISSION_TYPE_DENY, NULL, 0);
    rd_kafka_DescribeAcls(rk, f, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    assert_non_null(ev);
    if (rd_kafka_event_error(ev)) fail_msg("DescribeAcls on A: %s", rd_kafka_event_error_string(ev));
    size_t n;
    rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &n);
    rd_kafka_event_destroy(ev);
    rd_kafka_AclBinding_destroy(f);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return (int)n;
}

/* alice writes "0/i" to partition 0 of the topic, one record at a time, each waited for, until
 * one is refused (err) or she is told to stop. acked: records 0..acked-1 are on A. */
typedef struct writer {
    const char *topic;
    rd_kafka_t *rk;
    pthread_t thread;
    atomic_bool stop, done;
    atomic_long acked;
    rd_kafka_resp_err_t err;
} writer_t;

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    *(rd_kafka_resp_err_t *)m->_private = m->err;
}

/* alice's producer: A's connection with her credentials, and a delivery callback that hands each
 * record's outcome to the one waiting for it (kt_client takes no callbacks). */
static rd_kafka_t *alice(void) {
    const char *conf[] = {"bootstrap.servers", A, "security.protocol", "SASL_SSL", "sasl.mechanism", "PLAIN",
                          "sasl.username", "alice", "sasl.password", "alice-secret", "ssl.ca.location", CA,
                          "acks", "all", "linger.ms", "0", "message.timeout.ms", "10000", NULL};
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256];
    for (const char *const *kv = conf; *kv; kv += 2)
        if (rd_kafka_conf_set(c, kv[0], kv[1], err, sizeof err) != RD_KAFKA_CONF_OK) fail_msg("alice's %s: %s", kv[0], err);
    rd_kafka_conf_set_dr_msg_cb(c, dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) fail_msg("alice's producer: %s", err);
    return rk;
}

/* One record "0/i" as alice; the broker's answer. */
static rd_kafka_resp_err_t alice_writes(rd_kafka_t *rk, const char *topic, long i) {
    char v[32];
    int len = snprintf(v, sizeof v, "0/%ld", i);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_VALUE(v, (size_t)len),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&err), RD_KAFKA_V_END);
    if (e) return e;
    while (err == RD_KAFKA_RESP_ERR__IN_PROGRESS) rd_kafka_poll(rk, 100);
    return err;
}

static void *write_until_refused(void *arg) {
    writer_t *w = arg;
    while (!atomic_load(&w->stop)) {
        rd_kafka_resp_err_t e = alice_writes(w->rk, w->topic, atomic_load(&w->acked));
        if (e) {
            w->err = e;
            break;
        }
        atomic_fetch_add(&w->acked, 1);
    }
    atomic_store(&w->done, true);
    return NULL;
}

static bool acked_at_least(void *arg) {
    writer_t *w = arg;
    return atomic_load(&w->acked) >= 100 || atomic_load(&w->done);
}

static bool writer_done(void *arg) { return atomic_load(&((writer_t *)arg)->done); }

typedef struct {
    const char *bs, *topic;
    int64_t want;
} hw_arg_t;

static bool mirrored(void *arg) {
    hw_arg_t *h = arg;
    int64_t hw = 0;
    return kt_high_watermarks(h->bs, h->topic, &hw, 1) == 0 && hw >= h->want;
}

/* `kmirror failover CONF ARGS...` with stdout and stderr in *out, printed line by line so that
 * every step and its evidence shows in the test's output. Returns the exit status. */
static int run(char **out, const char *conf, const char *const *args) {
    char line[4096];
    int n = snprintf(line, sizeof line, "'%s' failover '%s'", BIN, conf);
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

static void commit(const char *bs, const char *group, const char *topic, int64_t offset) {
    const char *conf[] = {"group.id", group, "enable.auto.commit", "false", NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bs, conf);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = offset;
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static int64_t committed(const char *bs, const char *group, const char *topic) {
    const char *conf[] = {"group.id", group, NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bs, conf);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0);
    int64_t r = rd_kafka_committed(rk, l, 10000) ? -2 : l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return r;
}

/* The group, subscribed to `remote` on B, reads exactly "0/first" .. "0/end-1" and commits. */
static void consume_rest(const char *group, const char *remote, int64_t first, int64_t end) {
    const char *conf[] = {"group.id", group, "enable.auto.commit", "false", "auto.offset.reset", "earliest", NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, B, conf);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, remote, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(rk, sub), 0);
    rd_kafka_topic_partition_list_destroy(sub);
    int64_t next = first;
    for (int idle = 0; next < end && idle < WAIT_MS / 100;) { /* gives up after WAIT_MS without a record */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        idle = m ? 0 : idle + 1;
        if (!m) continue;
        if (!m->err) {
            char want[64], have_[64];
            snprintf(want, sizeof want, "0/%lld", (long long)next);
            snprintf(have_, sizeof have_, "%.*s", (int)m->len, (const char *)m->payload);
            if (strcmp(want, have_) != 0) fail_msg("group %s on B, %s: expected record %s, read %s", group, remote, want, have_);
            next++;
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(next, end);
    assert_int_equal(rd_kafka_commit(rk, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static void write_config(kt_kmirror_t *k, const char *name, const char *a_bootstrap, bool secured, const char *prefix) {
    char conn[1024] = "";
    if (secured)
        snprintf(conn, sizeof conn,
                 "A.security.protocol = SASL_SSL\nA.sasl.mechanism = PLAIN\n"
                 "A.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\";\n"
                 "A.ssl.truststore.location = %s/truststore.jks\nA.ssl.truststore.password = trust-secret\n",
                 TLS);
    assert_int_equal(kt_kmirror_config(k, name,
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n%s"
                                       "A->B.enabled = true\nA->B.topics = %s\\..*\nA->B.groups = %s-.*\n"
                                       "replication.factor = 1\noffset-syncs.topic.replication.factor = 1\n"
                                       "checkpoints.topic.replication.factor = 1\nheartbeats.topic.replication.factor = 1\n"
                                       "refresh.topics.interval.seconds = 1\nrefresh.groups.interval.seconds = 1\n"
                                       "emit.checkpoints.interval.seconds = 1\nsync.group.offsets.enabled = false\n"
                                       "offset.flush.interval.ms = 300\n",
                                       a_bootstrap, B, conn, prefix, prefix),
                     0);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static bool alice_can_write(void *arg) {
    writer_t *w = arg;
    return alice_writes(w->rk, w->topic, atomic_load(&w->acked)) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void test_fence_stops_writers_and_moves_groups_exactly(void **state) {
    need_clusters();
    static char topic[96]; /* the writer's, see below */
    char prefix[64], remote[128], group[96];
    kt_unique_name("fence", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(group, sizeof group, "%s-app", prefix);
    assert_int_equal(kt_create_topic(A, topic, 1, NULL), 0);
    allow_alice(topic, RD_KAFKA_ACL_OPERATION_WRITE);
    allow_alice(topic, RD_KAFKA_ACL_OPERATION_DESCRIBE);

    static writer_t w; /* outlives a failed assertion, which leaves the thread writing */
    memset(&w, 0, sizeof w);
    w.topic = topic;
    w.rk = alice();
    assert_int_equal(pthread_create(&w.thread, NULL, write_until_refused, &w), 0);
    assert_true(kt_wait_until(acked_at_least, &w, WAIT_MS));
    assert_false(atomic_load(&w.done)); /* alice writes with her ALLOW */
    commit(A, group, topic, 40);       /* the group read 40 records on A and stopped */

    kt_kmirror_t k;
    write_config(&k, prefix, A, true, prefix);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    hw_arg_t h = {B, remote, 100};
    assert_true(kt_wait_until(mirrored, &h, WAIT_MS));

    /* --dry-run: says what it would create, creates nothing, alice goes on writing */
    char *out = NULL;
    const char *dry[] = {"--from", "A", "--to", "B", "--groups", group, "--fence", "--dry-run", NULL};
    assert_int_equal(run(&out, k.conf, dry), 0);
    assert_non_null(strstr(out, "would create"));
    assert_non_null(strstr(out, topic));
    free(out);
    assert_int_equal(fences_on(topic), 0);
    assert_false(atomic_load(&w.done));
    assert_int_equal(committed(B, group, remote), RD_KAFKA_OFFSET_INVALID);

    /* the failover with the fence, while alice writes */
    const char *go[] = {"--from", "A", "--to", "B", "--groups", group, "--fence", NULL};
    assert_int_equal(run(&out, k.conf, go), 0);
    assert_non_null(strstr(out, "created, listed by the authorizer"));
    assert_non_null(strstr(out, "verified"));
    assert_non_null(strstr(out, "(lag 0)"));
    assert_non_null(strstr(out, "--unfence"));
    assert_non_null(strstr(out, "committed"));
    free(out);
    assert_int_equal(fences_on(topic), 1);
    bool refused = kt_wait_until(writer_done, &w, WAIT_MS);
    atomic_store(&w.stop, true);
    pthread_join(w.thread, NULL);
    assert_true(refused);
    assert_int_equal(w.err, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    long acked = atomic_load(&w.acked);
    print_message("# alice had %ld record(s) acknowledged, then: %s\n", acked, rd_kafka_err2name(w.err));

    /* lag 0 when the command ended: every acknowledged record is on B, nothing else on A */
    int64_t hw_a = 0, hw_b = 0;
    assert_int_equal(kt_high_watermarks(A, topic, &hw_a, 1), 0);
    assert_int_equal(kt_high_watermarks(B, remote, &hw_b, 1), 0);
    assert_int_equal(hw_a, acked);
    assert_int_equal(hw_b, acked);
    assert_int_equal(committed(B, group, remote), 40);
    consume_rest(group, remote, 40, acked);

    /* again: the fence is found in place, the group is past it on B */
    assert_int_equal(run(&out, k.conf, go), 0);
    assert_non_null(strstr(out, "already in place"));
    assert_non_null(strstr(out, "past it (never backwards)"));
    free(out);
    assert_int_equal(fences_on(topic), 1);

    /* --unfence: a dry run deletes nothing; then alice writes again */
    const char *undry[] = {"--from", "A", "--to", "B", "--unfence", "--dry-run", NULL};
    assert_int_equal(run(&out, k.conf, undry), 0);
    assert_non_null(strstr(out, "would delete"));
    free(out);
    assert_int_equal(fences_on(topic), 1);
    const char *un[] = {"--from", "A", "--to", "B", "--unfence", NULL};
    assert_int_equal(run(&out, k.conf, un), 0);
    assert_non_null(strstr(out, "verified"));
    free(out);
    assert_int_equal(fences_on(topic), 0);
    assert_true(kt_wait_until(alice_can_write, &w, WAIT_MS));
    rd_kafka_destroy(w.rk);
    assert_int_equal(run(&out, k.conf, un), 0); /* nothing left to remove is fine */
    assert_non_null(strstr(out, "nothing to remove"));
    free(out);
    assert_int_equal(kt_kmirror_stop(&k, 60000), 0);
}

/* A cluster without an authorizer cannot be fenced: the command says so and commits nothing,
 * in a dry run too; --unfence finds nothing to remove and says why. With A down, --fence cannot
 * be set either. */
static void test_fence_needs_an_authorizer(void **state) {
    need_clusters();
    char prefix[64], topic[96], remote[128], group[96];
    kt_unique_name("nofence", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    snprintf(group, sizeof group, "%s-app", prefix);
    assert_int_equal(kt_create_topic(OPEN, topic, 1, NULL), 0);
    commit(OPEN, group, topic, 0);
    kt_kmirror_t k;
    write_config(&k, prefix, OPEN, false, prefix);
    char *out = NULL;
    const char *dry[] = {"--from", "A", "--to", "B", "--groups", group, "--fence", "--dry-run", NULL};
    assert_int_equal(run(&out, k.conf, dry), 1);
    assert_non_null(strstr(out, "--fence: A has no authorizer"));
    free(out);
    const char *go[] = {"--from", "A", "--to", "B", "--groups", group, "--fence", NULL};
    assert_int_equal(run(&out, k.conf, go), 1);
    assert_non_null(strstr(out, "--fence: A has no authorizer"));
    assert_null(strstr(out, "step 5"));
    free(out);
    assert_int_equal(committed(B, group, remote), RD_KAFKA_OFFSET_INVALID);
    const char *un[] = {"--from", "A", "--to", "B", "--unfence", NULL};
    assert_int_equal(run(&out, k.conf, un), 0);
    assert_non_null(strstr(out, "A has no authorizer"));
    assert_non_null(strstr(out, "nothing to remove"));
    free(out);

    kt_kmirror_t down;
    char name[96];
    snprintf(name, sizeof name, "%s-down", prefix);
    write_config(&down, name, "127.0.0.1:1", false, prefix);
    assert_int_equal(run(&out, down.conf, go), 1);
    assert_non_null(strstr(out, "--fence: A does not answer"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_fence_stops_writers_and_moves_groups_exactly, teardown),
        cmocka_unit_test_teardown(test_fence_needs_an_authorizer, teardown),
    };
    return cmocka_run_group_tests(tests, setup, teardown_group);
}
