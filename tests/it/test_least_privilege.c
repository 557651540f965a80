/* test_least_privilege.c — kmirror as a principal holding exactly the ACLs the README's
 * "Least privilege" table lists (issue 12), on brokers whose authorizer refuses everything else.
 *
 * Two SASL_SSL clusters (scripts/kafka-test-cluster.sh, StandardAuthorizer, only super users
 * allowed by default); kmirror logs in as alice, whom the test grants the table's ACLs through
 * librdkafka's CreateAcls as admin. With all of them, records arrive and checkpoints are written.
 * Then, one at a time, an ACL is taken away and a fresh kmirror must say which operation on which
 * resource was refused (its log) and keep the rest running, never hang silently.
 *
 * The table here and the README's are the same rows: a row added to one belongs in the other.
 * Needs java, keytool and openssl (skips without). KMIRROR_LP_CLUSTERS=NAME_A,NAME_B runs on two
 * sasl_ssl clusters already started by the script (to iterate on this suite) instead of starting
 * two. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"

enum { WAIT_MS = 90000, N = 60 };
static const char CLUSTER_SCRIPT[] = "scripts/kafka-test-cluster.sh";

static char A[64], B[64], NAME[2][64], TLS[2][512], CA[2][600];
static bool ready, started_here;
static const char *skip_why = "the secured clusters did not start (see the suite's output)";
static const char *a_conf[] = {"security.protocol", "SASL_SSL", "sasl.mechanism", "PLAIN", "sasl.username", "admin",
                               "sasl.password", "admin-secret", "ssl.ca.location", CA[0], NULL};
static const char *b_conf[] = {"security.protocol", "SASL_SSL", "sasl.mechanism", "PLAIN", "sasl.username", "admin",
                               "sasl.password", "admin-secret", "ssl.ca.location", CA[1], NULL};

/* ---- the ACL table --------------------------------------------------------------------------- */

#define TOPIC RD_KAFKA_RESOURCE_TOPIC
#define GROUP RD_KAFKA_RESOURCE_GROUP
#define CLUSTER RD_KAFKA_RESOURCE_BROKER
#define LIT RD_KAFKA_RESOURCE_PATTERN_LITERAL
#define PRE RD_KAFKA_RESOURCE_PATTERN_PREFIXED

typedef struct grant {
    int cluster; /* 0: a (source), 1: b (target) */
    rd_kafka_ResourceType_t type;
    const char *name;
    rd_kafka_ResourcePatternType_t pattern;
    rd_kafka_AclOperation_t op;
    const char *feature;
} grant_t;

/* Flow a->b, topics lp-*, groups lp-app*, group.id a-mm2 (the default). */
static const grant_t grants[] = {
    {0, TOPIC, "lp-", PRE, RD_KAFKA_ACL_OPERATION_READ, "replication: read source topics"},
    {0, TOPIC, "lp-", PRE, RD_KAFKA_ACL_OPERATION_DESCRIBE, "replication: list source topics"},
    {0, TOPIC, "lp-", PRE, RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS, "config sync: read source topic configs"},
    {0, CLUSTER, "kafka-cluster", LIT, RD_KAFKA_ACL_OPERATION_DESCRIBE, "ACL sync: read source ACLs; checkpoints: list groups"},
    {0, GROUP, "lp-app", PRE, RD_KAFKA_ACL_OPERATION_DESCRIBE, "checkpoints: read the groups' offsets"},
    {0, GROUP, "a-mm2", LIT, RD_KAFKA_ACL_OPERATION_READ, "replication: the consumer's group (never joined, but looked up)"},
    {0, TOPIC, "heartbeats", LIT, RD_KAFKA_ACL_OPERATION_CREATE, "heartbeats b->a: create"},
    {0, TOPIC, "heartbeats", LIT, RD_KAFKA_ACL_OPERATION_WRITE, "heartbeats b->a: write"},
    {0, TOPIC, "heartbeats", LIT, RD_KAFKA_ACL_OPERATION_DESCRIBE, "heartbeats b->a: describe"},
    {0, TOPIC, "heartbeats", LIT, RD_KAFKA_ACL_OPERATION_READ, "heartbeats: replicated to a.heartbeats"},
    {0, TOPIC, "heartbeats", LIT, RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS, "heartbeats: config sync"},
    {0, TOPIC, "mm2-offset-syncs.b.internal", LIT, RD_KAFKA_ACL_OPERATION_CREATE, "offset-syncs: create"},
    {0, TOPIC, "mm2-offset-syncs.b.internal", LIT, RD_KAFKA_ACL_OPERATION_WRITE, "offset-syncs: write"},
    {0, TOPIC, "mm2-offset-syncs.b.internal", LIT, RD_KAFKA_ACL_OPERATION_READ, "offset-syncs: read (checkpoints)"},
    {0, TOPIC, "mm2-offset-syncs.b.internal", LIT, RD_KAFKA_ACL_OPERATION_DESCRIBE, "offset-syncs: describe"},
    {1, TOPIC, "a.", PRE, RD_KAFKA_ACL_OPERATION_CREATE, "remote and a.checkpoints.internal topics: create"},
    {1, TOPIC, "a.", PRE, RD_KAFKA_ACL_OPERATION_WRITE, "remote topics, checkpoints: write"},
    {1, TOPIC, "a.", PRE, RD_KAFKA_ACL_OPERATION_READ, "checkpoints: read back on restart"},
    {1, TOPIC, "a.", PRE, RD_KAFKA_ACL_OPERATION_DESCRIBE, "remote topics: describe"},
    {1, TOPIC, "a.", PRE, RD_KAFKA_ACL_OPERATION_ALTER, "remote topics: add partitions"},
    {1, TOPIC, "a.", PRE, RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS, "config sync: read remote configs"},
    {1, TOPIC, "a.", PRE, RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS, "config sync: set remote configs"},
    {1, CLUSTER, "kafka-cluster", LIT, RD_KAFKA_ACL_OPERATION_ALTER, "ACL sync: create ACLs on the target"},
    {1, TOPIC, "heartbeats", LIT, RD_KAFKA_ACL_OPERATION_CREATE, "heartbeats: create"},
    {1, TOPIC, "heartbeats", LIT, RD_KAFKA_ACL_OPERATION_WRITE, "heartbeats: write"},
    {1, TOPIC, "heartbeats", LIT, RD_KAFKA_ACL_OPERATION_DESCRIBE, "heartbeats: describe"},
    {1, TOPIC, "mm2-offsets.a.internal", LIT, RD_KAFKA_ACL_OPERATION_ALL, "positions: create, read, write"},
    {1, TOPIC, "mm2-kmirror-tasks.a.a-mm2.internal", LIT, RD_KAFKA_ACL_OPERATION_ALL, "tasks topic: create, read, write"},
    {1, GROUP, "a-mm2", LIT, RD_KAFKA_ACL_OPERATION_READ, "tasks group: join"},
    {1, GROUP, "lp-app", PRE, RD_KAFKA_ACL_OPERATION_READ, "group offset sync: commit"},
    {1, GROUP, "lp-app", PRE, RD_KAFKA_ACL_OPERATION_DESCRIBE, "group offset sync: see whether the group is active"},
};
#define NGRANTS (sizeof(grants) / sizeof(grants[0]))

static rd_kafka_AclBinding_t *binding(const grant_t *g) {
    char err[256];
    rd_kafka_AclBinding_t *b = rd_kafka_AclBinding_new(g->type, g->name, g->pattern, "User:alice", "*", g->op,
                                                       RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, err, sizeof(err));
    if (!b) fail_msg("ACL for %s: %s", g->name, err);
    return b;
}

/* Creates (add) or deletes the ACLs of grants[from..to) on their clusters, as admin. */
static void change_acls(size_t from, size_t to, bool add) {
    for (int c = 0; c < 2; c++) {
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, c ? B : A, NULL);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AclBinding_t *b[NGRANTS];
        rd_kafka_AclBindingFilter_t *f[NGRANTS];
        size_t n = 0;
        char err[256];
        for (size_t i = from; i < to; i++) {
            if (grants[i].cluster != c) continue;
            if (add) b[n++] = binding(&grants[i]);
            else
                f[n++] = rd_kafka_AclBindingFilter_new(grants[i].type, grants[i].name, grants[i].pattern, "User:alice", "*", grants[i].op,
                                                       RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, err, sizeof(err));
        }
        if (n) {
            if (add) rd_kafka_CreateAcls(rk, b, n, NULL, q);
            else rd_kafka_DeleteAcls(rk, f, n, NULL, q);
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
            assert_non_null(ev);
            if (rd_kafka_event_error(ev)) fail_msg("%s ACLs: %s", add ? "create" : "delete", rd_kafka_event_error_string(ev));
            rd_kafka_event_destroy(ev);
            for (size_t i = 0; i < n; i++) add ? rd_kafka_AclBinding_destroy(b[i]) : rd_kafka_AclBinding_destroy(f[i]);
        }
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
    }
}

/* ---- clusters ------------------------------------------------------------------------------- */

static bool have(const char *tool) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static int cluster_addr(const char *verb, const char *name, const char *port, char *addr, size_t len) {
    char *out = NULL;
    char *argv[] = {(char *)CLUSTER_SCRIPT, (char *)verb, (char *)name, (char *)port, "sasl_ssl", NULL};
    if (!port) argv[3] = NULL;
    int rc = kt_run(argv, &out);
    const char *line = out ? strstr(out, "bootstrap.servers=") : NULL;
    if (line) snprintf(addr, len, "%.*s", (int)strcspn(line + 18, "\n"), line + 18);
    free(out);
    return rc == 0 && line ? 0 : -1;
}

static int setup(void **state) {
    srandom((unsigned)getpid());
    if (!getenv("KMIRROR_BIN") || !have("java") || !have("keytool") || !have("openssl")) {
        skip_why = "KMIRROR_BIN (tests/run.sh sets it), java, keytool and openssl are needed";
        fprintf(stderr, "# SKIP test_least_privilege: %s\n", skip_why);
        return 0;
    }
    const char *given = getenv("KMIRROR_LP_CLUSTERS");
    char *addr[2] = {A, B};
    for (int c = 0; c < 2; c++) {
        if (given) {
            snprintf(NAME[c], sizeof(NAME[c]), "%.*s", c ? (int)strlen(strchr(given, ',') + 1) : (int)strcspn(given, ","),
                     c ? strchr(given, ',') + 1 : given);
            if (cluster_addr("status", NAME[c], NULL, addr[c], 64) != 0) return 0;
            continue;
        }
        snprintf(NAME[c], sizeof(NAME[c]), "lp-%c-%d", 'a' + c, (int)getpid());
        bool ok = false;
        for (int attempt = 0; attempt < 3 && !ok; attempt++) { /* a port taken meanwhile: another */
            char port[16];
            snprintf(port, sizeof(port), "%d", 20000 + 2 * (int)(random() % 10000));
            ok = cluster_addr("start", NAME[c], port, addr[c], 64) == 0;
        }
        if (!ok) return 0;
        started_here = true;
    }
    char cwd[400];
    if (!getcwd(cwd, sizeof(cwd))) return -1;
    for (int c = 0; c < 2; c++) {
        snprintf(TLS[c], sizeof(TLS[c]), "%s/build/kafka/%s/tls", cwd, NAME[c]);
        snprintf(CA[c], sizeof(CA[c]), "%s/ca.pem", TLS[c]);
    }
    kt_cluster_conf(A, a_conf);
    kt_cluster_conf(B, b_conf);
    ready = true;
    return 0;
}

static int teardown(void **state) {
    kt_kill_children();
    for (int c = 0; c < 2 && started_here; c++) {
        char *argv[] = {(char *)CLUSTER_SCRIPT, "stop", NAME[c], NULL};
        kt_run(argv, NULL);
    }
    return 0;
}

static void need_clusters(void) {
    if (!ready) {
        print_message("# SKIP: %s\n", skip_why);
        skip();
    }
}

/* ---- kmirror as alice ------------------------------------------------------------------------ */

static void km_start(kt_kmirror_t *k, const char *name, const char *topic) {
    char conn[2][1024];
    for (int c = 0; c < 2; c++)
        snprintf(conn[c], sizeof(conn[c]),
                 "%c.bootstrap.servers = %s\n%c.security.protocol = SASL_SSL\n%c.sasl.mechanism = PLAIN\n"
                 "%c.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"alice-secret\";\n"
                 "%c.ssl.truststore.location = %s/truststore.jks\n%c.ssl.truststore.password = trust-secret\n",
                 'a' + c, c ? B : A, 'a' + c, 'a' + c, 'a' + c, 'a' + c, TLS[c], 'a' + c);
    assert_int_equal(kt_kmirror_config(k, name,
                                       "clusters = a, b\n%s%s"
                                       "a->b.enabled = true\n"
                                       "a->b.topics = %s\n"
                                       "a->b.groups = lp-app.*\n"
                                       "replication.factor = 1\n"
                                       "checkpoints.topic.replication.factor = 1\n"
                                       "heartbeats.topic.replication.factor = 1\n"
                                       "offset-syncs.topic.replication.factor = 1\n"
                                       "refresh.topics.interval.seconds = 1\n"
                                       "refresh.groups.interval.seconds = 1\n"
                                       "emit.checkpoints.interval.seconds = 1\n"
                                       "sync.group.offsets.enabled = true\n"
                                       "sync.group.offsets.interval.seconds = 1\n"
                                       "offset.flush.interval.ms = 300\n"
                                       "offset.lag.max = 0\n"
                                       "shutdown.timeout.ms = 20000\n"
                                       "admin.timeout.ms = 15000\n",
                                       conn[0], conn[1], topic),
                     0);
    assert_int_equal(kt_kmirror_start(k, NULL), 0);
}

static void produce(const char *topic) {
    static char values[N][32];
    kt_msg_t msgs[N];
    for (int i = 0; i < N; i++) {
        snprintf(values[i], sizeof(values[i]), "value %d", i);
        msgs[i] = (kt_msg_t){.partition = i % 2, .key = "k", .value = values[i]};
    }
    assert_int_equal(kt_produce(A, topic, msgs, N, NULL, NULL), 0);
}

/* Group `group` on a has consumed all N records of topic (committed, as admin). */
static void commit_group(const char *group, const char *topic) {
    const char *conf[] = {"group.id", group, NULL};
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, A, conf);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < 2; p++) rd_kafka_topic_partition_list_add(l, topic, p)->offset = N / 2;
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

typedef struct arrived {
    const char *bootstrap, *topic;
    size_t want;
    kt_kmirror_t *k;
} arrived_t;

static bool has_records(void *arg) {
    arrived_t *a = arg;
    kt_record_t *r = NULL;
    size_t n = 0;
    kt_consume_opts_t o = {.expected = a->want, .timeout_ms = 2000};
    kt_consume(a->bootstrap, a->topic, &o, &r, &n);
    kt_records_free(r, n);
    return n >= a->want || !kt_kmirror_alive(a->k);
}

static void wait_records(kt_kmirror_t *k, const char *bootstrap, const char *topic, size_t want) {
    arrived_t a = {bootstrap, topic, want, k};
    if (!kt_wait_until(has_records, &a, WAIT_MS) || !kt_kmirror_alive(k)) {
        kt_kmirror_print_log(k);
        fail_msg("%s did not get %zu records", topic, want);
    }
}

/* With exactly the table's ACLs: records arrive, offset-syncs and checkpoints are written, no
 * authorization error is logged. */
static void test_the_table_is_enough(void **state) {
    need_clusters();
    change_acls(0, NGRANTS, true);
    char topic[128], remote[160];
    kt_unique_name("lp-all", topic, sizeof(topic));
    snprintf(remote, sizeof(remote), "a.%s", topic);
    assert_int_equal(kt_create_topic(A, topic, 2, NULL), 0);
    produce(topic);
    commit_group("lp-app-1", topic);
    kt_kmirror_t k;
    km_start(&k, "all-acls", topic);
    wait_records(&k, B, remote, N);
    wait_records(&k, A, "mm2-offset-syncs.b.internal", 1);
    wait_records(&k, B, "a.checkpoints.internal", 1);
    wait_records(&k, B, "heartbeats", 1);
    char *log = kt_kmirror_log(&k);
    bool refused = strstr(log, "uthoriz") != NULL;
    if (refused) kt_kmirror_print_log(&k);
    free(log);
    assert_false(refused);
    assert_int_equal(kt_kmirror_stop(&k, 40000), 0);
}

/* The row of grants with this resource name and operation. */
static size_t row(const char *name, rd_kafka_AclOperation_t op, int cluster) {
    for (size_t i = 0; i < NGRANTS; i++)
        if (grants[i].cluster == cluster && strcmp(grants[i].name, name) == 0 && grants[i].op == op) return i;
    fail_msg("no row %s", name);
    return 0;
}

typedef struct missing {
    const char *name;
    rd_kafka_AclOperation_t op;
    int cluster;
    const char *says[3]; /* all in one log line: the operation, the resource, the cluster */
    bool partitions_only; /* only the refused partitions wait: kmirror keeps running and they
                             flow again by themselves once the ACL is back */
    const char *recovered; /* logged once they flow again; says[0] is logged once per partition */
} missing_t;

static bool logged_line(void *arg) {
    void **a = arg;
    const kt_kmirror_t *k = a[0];
    const missing_t *m = a[1];
    char *log = kt_kmirror_log(k), *save = NULL;
    bool found = false;
    for (char *line = log ? strtok_r(log, "\n", &save) : NULL; line && !found; line = strtok_r(NULL, "\n", &save))
        found = strstr(line, m->says[0]) && strstr(line, m->says[1]) && strstr(line, m->says[2]);
    free(log);
    return found;
}

/* Each ACL taken away in turn: a fresh kmirror names what was refused, on which resource and
 * cluster, within a bounded time; the ACL is given back afterwards. */
static void test_each_missing_acl_is_named(void **state) {
    need_clusters();
    change_acls(0, NGRANTS, true);
    static const missing_t cases[] = {
        {"lp-", RD_KAFKA_ACL_OPERATION_READ, 0, {"not authorized to read", "lp-miss", " on a"}, true, NULL},
        {"a-mm2", RD_KAFKA_ACL_OPERATION_READ, 0, {"not authorized", "group a-mm2", " on a"}, false, NULL},
        {"a.", RD_KAFKA_ACL_OPERATION_WRITE, 1, {"the target refuses the record", "a.lp-miss", "Topic authorization failed"}, true, NULL},
        {"a.", RD_KAFKA_ACL_OPERATION_CREATE, 1, {"cannot create", "a.lp-miss", " on b"}, true, NULL},
        {"a-mm2", RD_KAFKA_ACL_OPERATION_READ, 1, {"not authorized to join group a-mm2", "mm2-kmirror-tasks.a.a-mm2.internal", " on b"}, false, NULL},
        {"mm2-offset-syncs.b.internal", RD_KAFKA_ACL_OPERATION_WRITE, 0, {"could not be written to mm2-offset-syncs.b.internal", "the offset-sync of ", "Topic authorization failed"}, true,
         "are written again"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const missing_t *m = &cases[i];
        size_t r = row(m->name, m->op, m->cluster);
        print_message("# without %s on %s (%s)\n", m->name, m->cluster ? "b" : "a", grants[r].feature);
        change_acls(r, r + 1, false);
        char topic[128], name[32];
        kt_unique_name("lp-miss", topic, sizeof(topic));
        assert_int_equal(kt_create_topic(A, topic, 2, NULL), 0);
        produce(topic);
        kt_kmirror_t k;
        snprintf(name, sizeof(name), "missing-%zu", i);
        km_start(&k, name, topic);
        void *arg[] = {&k, (void *)m};
        bool said = kt_wait_until(logged_line, arg, WAIT_MS);
        if (!said) {
            kt_kmirror_print_log(&k);
            print_message("# wanted one line with '%s', '%s' and '%s'\n", m->says[0], m->says[1], m->says[2]);
        }
        if (!said || !m->partitions_only) {
            kt_kmirror_stop(&k, 40000); /* not kill -9: its group membership would outlive it */
            change_acls(r, r + 1, true);
            assert_true(said);
            continue;
        }
        change_acls(r, r + 1, true);
        char remote[160];
        snprintf(remote, sizeof(remote), "a.%s", topic);
        wait_records(&k, B, remote, N); /* also fails if kmirror exited */
        if (m->recovered) {
            if (!kt_kmirror_wait_logged(&k, m->recovered, WAIT_MS)) kt_kmirror_print_log(&k);
            assert_true(kt_kmirror_logged(&k, m->recovered));
            /* Once per partition (the flow's own heartbeats partition has syncs too): no
             * "offset-sync of TOPIC [P]" warned twice. */
            char *log = kt_kmirror_log(&k), seen[8][192];
            int nseen = 0;
            for (const char *at = log; (at = strstr(at, m->says[0])); at++) {
                const char *line = at;
                while (line > log && line[-1] != '\n') line--;
                const char *from = strstr(line, m->says[1]), *to = from ? strstr(from, " at upstream offset") : NULL;
                if (!from || !to || to > at) continue;
                char tp[192];
                snprintf(tp, sizeof(tp), "%.*s", (int)(to - from), from);
                for (int j = 0; j < nseen; j++)
                    if (strcmp(seen[j], tp) == 0) fail_msg("'%s' logged twice for %s", m->says[0], tp + strlen(m->says[1]));
                if (nseen < 8) snprintf(seen[nseen++], sizeof(seen[0]), "%s", tp);
            }
            free(log);
        }
        assert_int_equal(kt_kmirror_stop(&k, 40000), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_table_is_enough),
        cmocka_unit_test(test_each_missing_acl_is_named),
    };
    return cmocka_run_group_tests_name("least privilege", tests, setup, teardown);
}
