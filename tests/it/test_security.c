/* test_security.c — kmirror on brokers that require TLS and SASL (issue 12), end to end.
 *
 * The suite starts its own two secured clusters with scripts/kafka-test-cluster.sh (the plain
 * it-a/it-b of tests/run.sh cannot be secured): a requires SASL_SSL (SCRAM-SHA-512 and PLAIN),
 * b requires mutual TLS; both run StandardAuthorizer with only super users allowed. The script
 * makes a fresh CA and certificates per start, as PEM, PKCS#12 and JKS. kmirror is configured
 * the way the ops guide's "Securing Replication Flows" example does it: JKS trust and key stores
 * with their passwords, and sasl.jaas.config. Verdicts come from the clusters (records read back
 * one by one) or from kmirror's log for the misconfigurations, each of which must produce an error
 * naming the cluster and what to fix within a bounded time, without a crash.
 *
 * Needs java, keytool and openssl; without them it skips and says so. Runs from the checkout's
 * root (tests/run.sh does), where the cluster script is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"

enum { WAIT_MS = 60000, ERROR_MS = 30000, STOP_MS = 40000, N = 200 };
static const char CLUSTER_SCRIPT[] = "scripts/kafka-test-cluster.sh";

static char A[64], B[64], A_NAME[32], B_NAME[32], A_TLS[512], B_TLS[512];
static bool ready;
static const char *skip_why = "the secured clusters did not start (see the suite's output)";

static char a_ca[600], b_ca[600], b_cert[600], b_key[600];
static const char *a_conf[] = {"security.protocol", "SASL_SSL", "sasl.mechanism", "PLAIN", "sasl.username", "admin",
                               "sasl.password", "admin-secret", "ssl.ca.location", a_ca, NULL};
static const char *b_conf[] = {"security.protocol", "SSL", "ssl.ca.location", b_ca, "ssl.certificate.location", b_cert,
                               "ssl.key.location", b_key, NULL};

/* PORT and PORT+1 both bindable on 127.0.0.1 now. */
static bool port_free(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

static int free_port_pair(void) {
    for (int i = 0; i < 200; i++) {
        int p = 20000 + (int)(random() % 20000);
        if (port_free(p) && port_free(p + 1)) return p;
    }
    return -1;
}

static bool have(const char *tool) {
    char *cmd = NULL;
    if (asprintf(&cmd, "command -v %s >/dev/null 2>&1", tool) < 0) return false;
    bool ok = system(cmd) == 0;
    free(cmd);
    return ok;
}

/* Starts cluster `name` with `security` on a free port pair; its address into addr. */
static int start_cluster(const char *name, const char *security, char *addr, size_t addrlen) {
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = free_port_pair();
        if (port < 0) return -1;
        char ps[16];
        snprintf(ps, sizeof(ps), "%d", port);
        char *out = NULL;
        char *argv[] = {(char *)CLUSTER_SCRIPT, "start", (char *)name, ps, (char *)security, NULL};
        int rc = kt_run(argv, &out);
        const char *line = out ? strstr(out, "bootstrap.servers=") : NULL;
        if (rc == 0 && line) {
            snprintf(addr, addrlen, "%.*s", (int)strcspn(line + 18, "\n"), line + 18);
            free(out);
            return 0;
        }
        free(out); /* a port taken between the check and the start: try another */
    }
    return -1;
}

static int setup(void **state) {
    srandom((unsigned)getpid());
    if (!getenv("KMIRROR_BIN")) {
        skip_why = "KMIRROR_BIN is not set (tests/run.sh sets it)";
        return 0;
    }
    if (!have("java") || !have("keytool") || !have("openssl")) {
        skip_why = "java, keytool and openssl are needed to run secured brokers";
        fprintf(stderr, "# SKIP test_security: %s\n", skip_why);
        return 0;
    }
    snprintf(A_NAME, sizeof(A_NAME), "sec-a-%d", (int)getpid());
    snprintf(B_NAME, sizeof(B_NAME), "sec-b-%d", (int)getpid());
    if (start_cluster(A_NAME, "sasl_ssl", A, sizeof(A)) != 0 || start_cluster(B_NAME, "mtls", B, sizeof(B)) != 0) {
        fprintf(stderr, "# could not start the secured clusters %s / %s\n", A_NAME, B_NAME);
        return 0;
    }
    char cwd[400];
    if (!getcwd(cwd, sizeof(cwd))) return -1;
    snprintf(A_TLS, sizeof(A_TLS), "%s/build/kafka/%s/tls", cwd, A_NAME);
    snprintf(B_TLS, sizeof(B_TLS), "%s/build/kafka/%s/tls", cwd, B_NAME);
    snprintf(a_ca, sizeof(a_ca), "%s/ca.pem", A_TLS);
    snprintf(b_ca, sizeof(b_ca), "%s/ca.pem", B_TLS);
    snprintf(b_cert, sizeof(b_cert), "%s/admin.pem", B_TLS);
    snprintf(b_key, sizeof(b_key), "%s/admin.key", B_TLS);
    kt_cluster_conf(A, a_conf);
    kt_cluster_conf(B, b_conf);
    ready = true;
    return 0;
}

static int teardown(void **state) {
    kt_kill_children();
    for (int i = 0; i < 2; i++) {
        const char *name = i ? B_NAME : A_NAME;
        if (!*name) continue;
        char *argv[] = {(char *)CLUSTER_SCRIPT, "stop", (char *)name, NULL};
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

static int after_test(void **state) {
    kt_kill_children();
    return 0;
}

/* ---- kmirror's configuration --------------------------------------------------------------- */

/* Connection lines of cluster a: SASL_SSL with `mechanism` and `password`, trust store `ts`. */
static char *a_lines(const char *mechanism, const char *password, const char *ts) {
    const char *module = strcmp(mechanism, "PLAIN") == 0 ? "plain.PlainLoginModule" : "scram.ScramLoginModule";
    char *s = NULL;
    if (asprintf(&s,
                 "a.bootstrap.servers = %s\n"
                 "a.security.protocol = SASL_SSL\n"
                 "a.sasl.mechanism = %s\n"
                 "a.sasl.jaas.config = org.apache.kafka.common.security.%s required username=\"admin\" password=\"%s\";\n"
                 "a.ssl.truststore.location = %s/%s\n"
                 "a.ssl.truststore.password = trust-secret\n",
                 A, mechanism, module, password, A_TLS, ts) < 0)
        return NULL;
    return s;
}

/* Connection lines of cluster b as in the ops guide: SSL with JKS stores, at address `host`. */
static char *b_lines(const char *host, const char *ts, const char *ks) {
    char *s = NULL;
    if (asprintf(&s,
                 "b.bootstrap.servers = %s\n"
                 "b.security.protocol = SSL\n"
                 "b.ssl.truststore.location = %s/%s\n"
                 "b.ssl.truststore.password = trust-secret\n"
                 "b.ssl.keystore.location = %s/%s\n"
                 "b.ssl.keystore.password = store-secret\n"
                 "b.ssl.key.password = key-secret\n",
                 host, B_TLS, ts, B_TLS, ks) < 0)
        return NULL;
    return s;
}

static void km_start(kt_kmirror_t *k, const char *name, const char *a, const char *b, const char *topic) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(kt_kmirror_config(k, name,
                                       "clusters = a, b\n%s%s"
                                       "a->b.enabled = true\n"
                                       "a->b.topics = %s\n"
                                       "replication.factor = 1\n"
                                       "refresh.topics.interval.seconds = 1\n"
                                       "offset.flush.interval.ms = 300\n"
                                       "emit.heartbeats.enabled = false\n"
                                       "emit.checkpoints.enabled = false\n"
                                       "sync.topic.configs.enabled = false\n"
                                       "sync.topic.acls.enabled = false\n"
                                       "shutdown.timeout.ms = 20000\n"
                                       /* how long kmirror tries to reach a cluster at start */
                                       "admin.timeout.ms = 15000\n",
                                       a, b, topic),
                     0);
    assert_int_equal(kt_kmirror_start(k, NULL), 0);
}

/* ---- replication ----------------------------------------------------------------------------- */

static void produce_numbered(const char *topic, int partitions) {
    static char keys[N][16], values[N][32];
    kt_msg_t msgs[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        snprintf(values[i], sizeof(values[i]), "secured value %d", i);
        msgs[i] = (kt_msg_t){.partition = i % partitions, .key = keys[i], .value = values[i], .timestamp = 1600000000000 + i};
    }
    assert_int_equal(kt_produce(A, topic, msgs, N, NULL, NULL), 0);
}

/* a.T on b equals T on a, partition by partition, record by record. */
static void assert_replicated(const char *topic) {
    char remote[300];
    snprintf(remote, sizeof(remote), "a.%s", topic);
    kt_record_t *src = NULL, *dst = NULL;
    size_t ns = 0, nd = 0;
    assert_int_equal(kt_consume(A, topic, NULL, &src, &ns), 0);
    kt_consume_opts_t o = {.expected = ns, .timeout_ms = WAIT_MS};
    int rc = kt_consume(B, remote, &o, &dst, &nd);
    if (rc != 0 || nd != ns) print_message("# %s: %zu of %zu records arrived\n", remote, nd, ns);
    assert_int_equal(nd, ns);
    for (size_t i = 0; i < ns; i++) {
        assert_int_equal(dst[i].partition, src[i].partition);
        assert_int_equal(dst[i].offset, src[i].offset);
        assert_int_equal(dst[i].timestamp, src[i].timestamp);
        assert_string_equal(dst[i].key, src[i].key);
        assert_string_equal(dst[i].value, src[i].value);
    }
    kt_records_free(src, ns);
    kt_records_free(dst, nd);
}

typedef struct {
    kt_kmirror_t *k;
    const char *remote;
} remote_wait_t;

static bool remote_exists(void *arg) {
    remote_wait_t *w = arg;
    return kt_partition_count(B, w->remote) > 0 || !kt_kmirror_alive(w->k);
}

static void wait_remote_topic(kt_kmirror_t *k, const char *topic) {
    char remote[300];
    snprintf(remote, sizeof(remote), "a.%s", topic);
    remote_wait_t w = {k, remote};
    kt_wait_until(remote_exists, &w, WAIT_MS);
    if (kt_partition_count(B, remote) <= 0) kt_kmirror_print_log(k);
    assert_true(kt_partition_count(B, remote) > 0);
}

/* The guide's example: b with JKS key and trust stores (mutual TLS), a with SASL_SSL/PLAIN. */
static void test_sasl_ssl_to_mutual_tls(void **state) {
    need_clusters();
    char topic[128];
    kt_unique_name("sec", topic, sizeof(topic));
    assert_int_equal(kt_create_topic(A, topic, 3, NULL), 0);
    produce_numbered(topic, 3);
    kt_kmirror_t k;
    char *a = a_lines("PLAIN", "admin-secret", "truststore.jks"), *b = b_lines(B, "truststore.jks", "admin.jks");
    km_start(&k, "sasl-to-mtls", a, b, topic);
    free(a);
    free(b);
    wait_remote_topic(&k, topic);
    assert_replicated(topic);
    /* Records written while kmirror runs follow too. */
    produce_numbered(topic, 3);
    assert_replicated(topic);
    assert_false(kt_kmirror_logged(&k, "ERROR"));
    assert_int_equal(kt_kmirror_stop(&k, STOP_MS), 0);
}

/* ---- misconfigurations: a clear, bounded error, no crash ------------------------------------- */

/* kmirror logs `needle` and the cluster's `address` on one line within ERROR_MS, then gives up on
 * the cluster after admin.timeout.ms, saying "cannot reach cluster ALIAS", and exits with a
 * non-zero status, not by a signal. */
static void expect_error(kt_kmirror_t *k, const char *needle, const char *address, const char *alias) {
    bool seen = kt_kmirror_wait_logged(k, needle, ERROR_MS);
    char *log = kt_kmirror_log(k);
    assert_non_null(log);
    const char *at = seen ? strstr(log, needle) : NULL;
    if (at) { /* the same line names the cluster */
        const char *bol = at;
        while (bol > log && bol[-1] != '\n') bol--;
        char *line = strndup(bol, strcspn(bol, "\n"));
        if (!strstr(line, address)) print_message("# the error line does not name %s: %s\n", address, line);
        assert_non_null(strstr(line, address));
        free(line);
    }
    free(log);
    if (!seen) kt_kmirror_print_log(k);
    assert_true(seen);
    int rc = kt_kmirror_wait_exit(k, WAIT_MS);
    if (rc != 0) kt_kmirror_print_log(k);
    assert_int_equal(rc, 0);
    assert_false(WIFSIGNALED(k->status));
    assert_true(WIFEXITED(k->status) && WEXITSTATUS(k->status) != 0);
    char gave_up[64];
    snprintf(gave_up, sizeof(gave_up), "cannot reach cluster %s", alias);
    assert_true(kt_kmirror_logged(k, gave_up));
}

static void test_wrong_sasl_password(void **state) {
    need_clusters();
    kt_kmirror_t k;
    char *a = a_lines("PLAIN", "not-the-password", "truststore.jks"), *b = b_lines(B, "truststore.jks", "admin.jks");
    km_start(&k, "wrong-sasl-password", a, b, "nothing");
    free(a);
    free(b);
    expect_error(&k, "SASL authentication failed: check sasl.jaas.config", A, "a");
}

/* A wrong store password is caught when the configuration is read: file:line and the key. */
static void test_wrong_store_password(void **state) {
    need_clusters();
    kt_kmirror_t k;
    char *a = a_lines("PLAIN", "admin-secret", "truststore.jks"), *b = b_lines(B, "truststore.jks", "admin.jks");
    char *bad = NULL;
    assert_true(asprintf(&bad, "%sb.ssl.keystore.password = not-the-password\n", b) > 0);
    km_start(&k, "wrong-store-password", a, bad, "nothing");
    free(a);
    free(b);
    free(bad);
    assert_int_equal(kt_kmirror_wait_exit(&k, ERROR_MS), 0);
    assert_true(WIFEXITED(k.status) && WEXITSTATUS(k.status) != 0);
    assert_true(kt_kmirror_logged(&k, "ssl.keystore.password: ssl.keystore.location = "));
    assert_true(kt_kmirror_logged(&k, "integrity check failed"));
}

static void test_unknown_ca(void **state) {
    need_clusters();
    kt_kmirror_t k;
    char *a = a_lines("PLAIN", "admin-secret", "truststore.jks"), *b = b_lines(B, "other-truststore.jks", "admin.jks");
    km_start(&k, "unknown-ca", a, b, "nothing");
    free(a);
    free(b);
    expect_error(&k, "not signed by a CA in ssl.truststore.location", B, "b");
}

static void test_expired_client_certificate(void **state) {
    need_clusters();
    kt_kmirror_t k;
    char *a = a_lines("PLAIN", "admin-secret", "truststore.jks"), *b = b_lines(B, "truststore.jks", "expired.jks");
    km_start(&k, "expired-certificate", a, b, "nothing");
    free(a);
    free(b);
    expect_error(&k, "refused the client certificate in ssl.keystore.location", B, "b");
}

/* The broker's certificate is for 127.0.0.1 only. */
static void test_wrong_hostname(void **state) {
    need_clusters();
    char host[64];
    snprintf(host, sizeof(host), "localhost%s", strchr(B, ':'));
    kt_kmirror_t k;
    char *a = a_lines("PLAIN", "admin-secret", "truststore.jks"), *b = b_lines(host, "truststore.jks", "admin.jks");
    km_start(&k, "wrong-hostname", a, b, "nothing");
    free(a);
    free(b);
    expect_error(&k, "does not name the host in bootstrap.servers", host, "b");
}

/* SCRAM-SHA-512 from the format-time credentials: replicates where librdkafka can do SCRAM with
 * this broker; librdkafka before 2.6.1 cannot with Kafka 4.0 and newer (edenhill/kcat#462), and
 * then kmirror must say so instead of retrying in silence. */
static void test_scram(void **state) {
    need_clusters();
    char topic[128];
    kt_unique_name("scram", topic, sizeof(topic));
    assert_int_equal(kt_create_topic(A, topic, 1, NULL), 0);
    produce_numbered(topic, 1);
    kt_kmirror_t k;
    char *a = a_lines("SCRAM-SHA-512", "admin-secret", "truststore.p12"), *b = b_lines(B, "truststore.jks", "admin.jks");
    km_start(&k, "scram", a, b, topic);
    free(a);
    free(b);
    if (rd_kafka_version() < 0x020601ff) {
        print_message("# librdkafka %s < 2.6.1: SCRAM cannot work with this Kafka 4 broker; expecting kmirror to say so\n",
                      rd_kafka_version_str());
        expect_error(&k, "librdkafka before 2.6.1 cannot use SCRAM", A, "a");
        return;
    }
    wait_remote_topic(&k, topic);
    assert_replicated(topic);
    assert_int_equal(kt_kmirror_stop(&k, STOP_MS), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sasl_ssl_to_mutual_tls, after_test),
        cmocka_unit_test_teardown(test_scram, after_test),
        cmocka_unit_test_teardown(test_wrong_sasl_password, after_test),
        cmocka_unit_test_teardown(test_wrong_store_password, after_test),
        cmocka_unit_test_teardown(test_unknown_ca, after_test),
        cmocka_unit_test_teardown(test_expired_client_certificate, after_test),
        cmocka_unit_test_teardown(test_wrong_hostname, after_test),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
