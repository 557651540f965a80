/* test_secrets.c — secrets never printed (issue 12 item 6): kmirror's output for check-config,
 * check-config --json, the store error paths, a short run at log.level = debug and a running
 * replication (its log, /status, /metrics, /healthz, the status page, `kmirror status`, and every
 * record on both clusters) must contain none of the known secret strings put in every
 * secret-bearing key (misspelt ones too, one resolved by a config provider), nor the base64 body
 * of a private key kmirror decrypted from a JKS store.
 *
 * Runs $KMIRROR_BIN (tests/run.sh sets it). The JKS store is made with keytool; without keytool
 * the store part is left out and the suite says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt.h"
#include "kt_kmirror.h"
#include "kt_metrics.h"
#include "mock.h"

#include <librdkafka/rdkafka.h>

static char dir[64], conf[128];
static bool have_keytool;
static char key_body[80]; /* a line from the middle of the decrypted key's PEM */

static const char *const secrets[] = {"S3CRET-jaas", "S3CRET-trust", "S3CRET-ks", "S3CRET-key", "S3CRET-misspelt",
                                      "S3CRET-sasl", "S3CRET-oauth", "S3CRET-top", "S3CRET-env"};

/* Runs `kmirror ARGS` with stdout and stderr into one string (caller frees). */
static char *run(const char *args) {
    const char *bin = getenv("KMIRROR_BIN");
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "%s %s 2>&1", bin ? bin : "build/kmirror", args) > 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t r;
    while ((r = fread(out + n, 1, cap - n - 1, p)) > 0)
        if ((n += r) == cap - 1) out = realloc(out, cap *= 2);
    out[n] = '\0';
    pclose(p);
    free(cmd);
    return out;
}

static void assert_no_secret(const char *what, const char *out) {
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (strstr(out, secrets[i])) print_message("# %s printed the secret %s:\n%s\n", what, secrets[i], out);
        assert_null(strstr(out, secrets[i]));
    }
    if (*key_body) {
        if (strstr(out, key_body)) print_message("# %s printed the decrypted private key\n", what);
        assert_null(strstr(out, key_body));
    }
}

static void write_conf(const char *extra) {
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "clusters = a, b\n"
            "a.bootstrap.servers = 127.0.0.1:1\n"
            "b.bootstrap.servers = 127.0.0.1:2\n"
            "a->b.enabled = true\n"
            "admin.timeout.ms = 2000\n"
            "ssl.truststore.password = S3CRET-top\n"
            "a.security.protocol = SASL_SSL\n"
            "a.sasl.mechanism = PLAIN\n"
            "a.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"S3CRET-jaas\";\n"
            "a.ssl.truststore.password = S3CRET-trust\n"
            "a.sasl.password = S3CRET-sasl\n"
            "b.ssl.truststore.pasword = S3CRET-misspelt\n"
            "%s",
            extra);
    fclose(f);
}

static int setup(void **state) {
    snprintf(dir, sizeof(dir), "/tmp/kmirror-secrets-%d", (int)getpid());
    snprintf(conf, sizeof(conf), "%s/k.properties", dir);
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf %s && mkdir -p %s", dir, dir) < 0 || system(cmd) != 0) return -1;
    free(cmd);
    have_keytool = system("command -v keytool >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1") == 0;
    if (!have_keytool) {
        fprintf(stderr, "# keytool/openssl missing: the JKS parts of test_secrets are left out\n");
        return 0;
    }
    if (asprintf(&cmd,
                 "cd %s && keytool -genkeypair -alias c -keyalg EC -groupname secp256r1 -dname CN=c -storetype JKS "
                 "-keystore ks.jks -storepass S3CRET-ks -keypass S3CRET-key >/dev/null 2>&1 && "
                 "keytool -importkeystore -srckeystore ks.jks -srcstorepass S3CRET-ks -srckeypass S3CRET-key -srcalias c "
                 "-destkeystore k.p12 -deststoretype PKCS12 -deststorepass S3CRET-ks >/dev/null 2>&1 && "
                 "openssl pkcs12 -in k.p12 -passin pass:S3CRET-ks -nocerts -nodes 2>/dev/null | openssl pkcs8 -topk8 -nocrypt > key.pem",
                 dir) < 0 ||
        system(cmd) != 0)
        return -1;
    free(cmd);
    char *path = NULL;
    if (asprintf(&path, "%s/key.pem", dir) < 0) return -1;
    char *pem = kt_read_file(path);
    free(path);
    if (!pem) return -1;
    const char *line = strchr(pem, '\n'); /* the first base64 line: the start of the key */
    if (!line) return -1;
    snprintf(key_body, sizeof(key_body), "%.*s", (int)strcspn(line + 1, "\n"), line + 1);
    free(pem);
    return 0;
}

static int teardown(void **state) {
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf %s", dir) < 0) return -1;
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static void check_all(const char *label) {
    char *args = NULL;
    assert_true(asprintf(&args, "check-config %s", conf) > 0);
    char *out = run(args);
    assert_no_secret(label, out);
    free(out);
    free(args);
    assert_true(asprintf(&args, "check-config --json %s", conf) > 0);
    out = run(args);
    assert_no_secret(label, out);
    free(out);
    free(args);
}

static void test_check_config(void **state) {
    char *extra = NULL;
    if (have_keytool) assert_true(asprintf(&extra, "b.ssl.keystore.location = %s/ks.jks\nb.ssl.keystore.password = S3CRET-ks\nb.ssl.key.password = S3CRET-key\n", dir) > 0);
    char *all = NULL; /* an OAuth secret: an error in this librdkafka build, so only here */
    assert_true(asprintf(&all, "%sa.sasl.oauthbearer.client.secret = S3CRET-oauth\n", extra ? extra : "") > 0);
    write_conf(all);
    check_all("check-config");
    free(all);
    free(extra);
}

/* Each store error path: wrong store password, wrong key password, JCEKS, missing file. */
static void test_store_errors(void **state) {
    if (!have_keytool) {
        print_message("# SKIP: no keytool\n");
        skip();
    }
    const char *cases[] = {
        "b.ssl.keystore.location = %s/ks.jks\nb.ssl.keystore.password = S3CRET-trust\nb.ssl.key.password = S3CRET-key\n",
        "b.ssl.keystore.location = %s/ks.jks\nb.ssl.keystore.password = S3CRET-ks\nb.ssl.key.password = S3CRET-trust\n",
        "b.ssl.keystore.location = %s/ks.jks\nb.ssl.keystore.type = JCEKS\nb.ssl.keystore.password = S3CRET-ks\n",
        "b.ssl.truststore.location = %s/none.jks\nb.ssl.truststore.password = S3CRET-ks\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *extra = NULL;
        assert_true(asprintf(&extra, cases[i], dir) > 0);
        write_conf(extra);
        char *out = run(conf);
        assert_non_null(strstr(out, "ERROR")); /* the error path was taken */
        assert_no_secret("a store error", out);
        free(out);
        free(extra);
    }
}

/* A run at log.level = debug until kmirror gives up on the unreachable clusters. */
static void test_debug_run(void **state) {
    char *extra = NULL;
    if (have_keytool) assert_true(asprintf(&extra, "log.level = debug\nb.ssl.keystore.location = %s/ks.jks\nb.ssl.keystore.password = S3CRET-ks\nb.ssl.key.password = S3CRET-key\nb.security.protocol = SSL\n", dir) > 0);
    write_conf(extra ? extra : "log.level = debug\n");
    char *args = NULL;
    assert_true(asprintf(&args, "%s", conf) > 0);
    char *out = run(args);
    if (!strstr(out, "cannot reach cluster")) print_message("# the run did not reach the clusters' timeout:\n%s\n", out);
    assert_non_null(strstr(out, "cannot reach cluster")); /* it ran until it gave up */
    assert_no_secret("a debug run", out);
    free(out);
    free(args);
    free(extra);
}

/* Every record kmirror wrote or copied: no secret in a key, value or header. */
static void assert_no_secret_in_topics(const char *bootstrap) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    assert_non_null(rk);
    const rd_kafka_metadata_t *md;
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < md->topic_cnt; i++) {
        kt_record_t *r;
        size_t n;
        kt_consume_opts_t o = {.timeout_ms = 10000};
        kt_consume(bootstrap, md->topics[i].topic, &o, &r, &n);
        for (size_t j = 0; j < n; j++) {
            char what[300];
            snprintf(what, sizeof what, "a record in %s [%d] at %lld", md->topics[i].topic, r[j].partition,
                     (long long)r[j].offset);
            char *text = calloc(1, r[j].key_len + r[j].value_len + 2);
            if (r[j].key) memcpy(text, r[j].key, r[j].key_len);
            if (r[j].value) memcpy(text + r[j].key_len + 1, r[j].value, r[j].value_len);
            text[r[j].key_len] = ' ';
            for (size_t k = 0; k < r[j].key_len + r[j].value_len + 1; k++)
                if (!text[k]) text[k] = ' '; /* binary records: search them as text */
            assert_no_secret(what, text);
            free(text);
            for (size_t h = 0; h < r[j].header_cnt; h++)
                if (r[j].headers[h].value) {
                    char hv[1024];
                    snprintf(hv, sizeof hv, "%.*s", (int)r[j].headers[h].value_len, (const char *)r[j].headers[h].value);
                    assert_no_secret(what, hv);
                }
        }
        kt_records_free(r, n);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
}

typedef struct {
    const char *bootstrap;
    int64_t want;
} count_t;

static bool arrived(void *arg) {
    count_t *c = arg;
    int64_t hw[2] = {0};
    return kt_high_watermarks(c->bootstrap, "a.orders", hw, 2) == 0 && hw[0] + hw[1] >= c->want;
}

/* A real replication with secrets in every kind of key (one from an environment provider):
 * the log, /status, /metrics, /healthz, `kmirror status` and every record on both clusters. */
static void test_running_replication(void **state) {
    char err[256];
    km_mock_t *a = km_mock_new(1, err, sizeof err), *b = km_mock_new(1, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(km_mock_create_mm2_topics(a, "b"), 0);
    assert_int_equal(km_mock_create_mm2_topics(b, "a"), 0);
    assert_int_equal(km_mock_create_topic(a, "orders", 2), 0);
    assert_int_equal(km_mock_create_topic(b, "a.orders", 2), 0);
    setenv("KM_TEST_SECRET", "S3CRET-env", 1);
    kt_kmirror_t k;
    assert_int_equal(
        kt_kmirror_config(&k, "running",
                          "clusters = a, b\na.bootstrap.servers = %s\nb.bootstrap.servers = %s\n"
                          "a->b.enabled = true\na->b.topics = orders\nreplication.factor = 1\n"
                          "offset.flush.interval.ms = 200\nmetrics.listen = 127.0.0.1:0\nlog.level = debug\n"
                          "config.providers = env\n"
                          "config.providers.env.class = org.apache.kafka.common.config.provider.EnvVarConfigProvider\n"
                          "a.ssl.truststore.password = S3CRET-trust\nb.ssl.key.password = S3CRET-key\n"
                          "b.ssl.truststore.pasword = S3CRET-misspelt\na.ssl.keystore.password = ${env:KM_TEST_SECRET}\n"
                          "a->b.producer.ssl.truststore.password = S3CRET-top\n",
                          km_mock_bootstraps(a), km_mock_bootstraps(b)),
        0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    if (!kt_kmirror_wait_logged(&k, "serving /metrics", 30000)) kt_kmirror_print_log(&k);
    char *log = kt_kmirror_log(&k);
    const char *at = strstr(log, "serving /metrics");
    assert_non_null(at);
    at = strstr(at, "127.0.0.1:");
    assert_non_null(at);
    int port = atoi(at + strlen("127.0.0.1:"));
    free(log);
    assert_true(port > 0);

    kt_msg_t msgs[100];
    char vals[100][32];
    for (int i = 0; i < 100; i++) {
        snprintf(vals[i], sizeof vals[i], "v%d", i);
        msgs[i] = (kt_msg_t){.partition = i % 2, .key = vals[i], .value = vals[i]};
    }
    assert_int_equal(kt_produce(km_mock_bootstraps(a), "orders", msgs, 100, NULL, NULL), 0);
    count_t c = {km_mock_bootstraps(b), 100};
    if (!kt_wait_until(arrived, &c, 60000)) kt_kmirror_print_log(&k);
    assert_true(kt_wait_until(arrived, &c, 1));

    const char *paths[] = {"/status", "/metrics", "/healthz", "/"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int status = 0;
        char *body = NULL;
        assert_int_equal(kt_http_get(port, paths[i], &status, &body), 0);
        assert_no_secret(paths[i], body);
        free(body);
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    char *argv[] = {(char *)kt_kmirror_bin(), "status", "--url", url, "--partitions", NULL};
    char *out = NULL;
    assert_int_equal(kt_run(argv, &out), 0);
    assert_non_null(strstr(out, "a->b"));
    assert_no_secret("kmirror status", out);
    free(out);

    assert_int_equal(kt_kmirror_stop(&k, 30000), 0);
    log = kt_kmirror_log(&k);
    assert_no_secret("the run's log", log);
    free(log);
    assert_no_secret_in_topics(km_mock_bootstraps(a));
    assert_no_secret_in_topics(km_mock_bootstraps(b));
    km_mock_free(a);
    km_mock_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_store_errors),
        cmocka_unit_test(test_debug_run),
        cmocka_unit_test(test_running_replication),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
