/* test_providers.c — config providers (providers.h): ${file:...}, ${dir:...} and ${env:...}
 * resolved as MM2 resolves them, every way a reference can fail as a file:line error naming the
 * key, and resolved values never printed: not by check-config (text, --json, the binary's
 * stdout and stderr), not in warnings or errors. Files live in a mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "check_config.h"
#include "config.h"
#include "kt_kmirror.h"
#include "log.h"
#include "metrics.h"
#include "providers.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_PW "s3cret-from-file"
#define DIR_PW "s3cret-from-dir"
#define ENV_USER "s3cret-env-user"
#define ENV_TOPICS "orders\\..*"

#define PROVIDERS                                                                          \
    "config.providers = file, dir, env\n"                                                  \
    "config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider\n" \
    "config.providers.dir.class = org.apache.kafka.common.config.provider.DirectoryConfigProvider\n" \
    "config.providers.env.class = org.apache.kafka.common.config.provider.EnvVarConfigProvider\n" \
    "config.providers.env.param.allowlist.pattern = ^KMTEST_\n"
#define BASE "clusters = a, b\na.bootstrap.servers = a1:9092\nb.bootstrap.servers = b1:9092\na->b.enabled = true\n"

static char dir[64];
#define ENV_BOOT "127.0.0.2:7" /* loopback, nothing listens: librdkafka logs it as it fails */
static const char *const secrets[] = {FILE_PW, DIR_PW, ENV_USER, "s3cret-level", ENV_BOOT};

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/kmprov.XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char *p = km_xasprintf("%s/secrets.properties", dir);
    write_file(p, "user = nobody\npassword = " FILE_PW "\nhash = pw #1 \\u00e9\n");
    free(p);
    p = km_xasprintf("%s/secrets", dir);
    mkdir(p, 0700);
    free(p);
    p = km_xasprintf("%s/secrets/b-password", dir);
    write_file(p, DIR_PW);
    free(p);
    p = km_xasprintf("%s/secrets/with-newline", dir);
    write_file(p, DIR_PW "\n");
    free(p);
    setenv("KMTEST_USER", ENV_USER, 1);
    setenv("KMTEST_TOPICS", ENV_TOPICS, 1);
    setenv("KMTEST_LEVEL", "s3cret-level", 1);
    setenv("KMTEST_BOOT", ENV_BOOT, 1);
    setenv("OTHER_PASSWORD", "not-allowed", 1);
    unsetenv("KMTEST_UNSET");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char *cmd = km_xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

typedef struct loaded {
    km_config_t cfg;
    km_diag_t d;
    int rc;
} loaded_t;

/* Loads BASE + PROVIDERS + extra, with every "DIR" in extra replaced by the temporary directory. */
static loaded_t *load(const char *extra) {
    char *text = km_xasprintf("%s%s", BASE PROVIDERS, "");
    for (const char *s = extra; *s;) {
        const char *at = strstr(s, "DIR");
        size_t n = at ? (size_t)(at - s) : strlen(s);
        char *next = km_xasprintf("%s%.*s%s", text, (int)n, s, at ? dir : "");
        free(text);
        text = next;
        s += n + (at ? 3 : 0);
    }
    loaded_t *l = km_xcalloc(1, sizeof(*l));
    l->rc = km_config_load_buf(&l->cfg, text, strlen(text), "test.properties", NULL, 0, &l->d);
    free(text);
    return l;
}

static void unload(loaded_t *l) {
    km_config_free(&l->cfg);
    km_diag_free(&l->d);
    free(l);
}

static bool has_msg(char **msgs, size_t n, const char *a, const char *b) {
    for (size_t i = 0; i < n; i++)
        if (strstr(msgs[i], a) && (!b || strstr(msgs[i], b))) return true;
    return false;
}

/* Fails naming the secret and where it showed. */
static void assert_no_secret(const char *what, const char *text) {
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (strstr(text, secrets[i])) fail_msg("%s contains the secret '%s':\n%s", what, secrets[i], text);
    }
}

static void assert_diag_clean(const loaded_t *l) {
    for (size_t i = 0; i < l->d.nwarnings; i++) assert_no_secret("a warning", l->d.warnings[i]);
    for (size_t i = 0; i < l->d.nerrors; i++) assert_no_secret("an error", l->d.errors[i]);
}

#define SECURED                                                                                              \
    "a.security.protocol = SASL_PLAINTEXT\na.sasl.mechanism = PLAIN\n"                                       \
    "a.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required "                \
    "username=\"${env:KMTEST_USER}\" password=\"${file:DIR/secrets.properties:password}\";\n"               \
    "b.security.protocol = SASL_PLAINTEXT\nb.sasl.mechanism = SCRAM-SHA-512\n"                               \
    "b.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required "                \
    "username=\"mirror\" password=\"${dir:DIR/secrets:b-password}\";\n"                                      \
    "a->b.topics = ${env:KMTEST_TOPICS}\n"

static void test_each_provider_resolves(void **state) {
    (void)state;
    loaded_t *l = load(SECURED);
    assert_int_equal(l->rc, 0);
    km_flow_t *f = km_config_flow(&l->cfg, "a", "b");
    assert_string_equal(km_props_get(&f->rk_consumer, "sasl.username"), ENV_USER);
    assert_string_equal(km_props_get(&f->rk_consumer, "sasl.password"), FILE_PW);
    assert_string_equal(km_props_get(&f->rk_producer, "sasl.username"), "mirror");
    assert_string_equal(km_props_get(&f->rk_producer, "sasl.password"), DIR_PW);
    assert_string_equal(km_props_get(&f->config, "topics"), ENV_TOPICS);
    assert_true(km_name_filter_accepts(&f->s.topics, "orders.eu"));
    assert_false(km_name_filter_accepts(&f->s.topics, "payments"));
    /* the secrets file is read as Java reads it: " #" is part of a value there */
    unload(l);
    l = load("a.ssl.key.password = ${file:DIR/secrets.properties:hash}\n");
    assert_int_equal(l->rc, 0);
    assert_string_equal(km_props_get(&l->cfg.raw, "a.ssl.key.password"), "pw #1 \xc3\xa9");
    /* literal text around references stays; ${x} names no provider and stays as written */
    unload(l);
    l = load("a->b.group.id = g-${env:KMTEST_TOPICS}-${x}-${file:DIR/secrets.properties:user}\n");
    assert_int_equal(l->rc, 0);
    assert_string_equal(km_props_get(&km_config_flow(&l->cfg, "a", "b")->config, "group.id"), "g-" ENV_TOPICS "-${x}-nobody");
    unload(l);
}

/* check-config text and --json, through the printing function. */
static void test_check_config_shows_references(void **state) {
    (void)state;
    loaded_t *l = load(SECURED);
    assert_int_equal(l->rc, 0);
    for (int json = 0; json <= 1; json++) {
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        km_check_config_print(m, &l->cfg, &l->d, json);
        fclose(m);
        assert_no_secret(json ? "check-config --json" : "check-config", out);
        assert_non_null(strstr(out, "${file:"));
        assert_non_null(strstr(out, "/secrets.properties:password}"));
        assert_non_null(strstr(out, "/secrets:b-password}"));
        assert_non_null(strstr(out, "${env:KMTEST_TOPICS}"));
        free(out);
    }
    unload(l);
}

/* The built binary: stdout and stderr of check-config, text and --json. */
static void test_binary_never_prints_secrets(void **state) {
    (void)state;
    kt_kmirror_t k;
    char *sec = km_xasprintf("%s/secrets", dir);
    assert_int_equal(kt_kmirror_config(&k, "providers",
                                       BASE PROVIDERS
                                       "a.security.protocol = SASL_PLAINTEXT\na.sasl.mechanism = PLAIN\n"
                                       "a.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required "
                                       "username=\"${env:KMTEST_USER}\" password=\"${file:%s/secrets.properties:password}\";\n"
                                       "b.security.protocol = SASL_PLAINTEXT\nb.sasl.mechanism = SCRAM-SHA-512\n"
                                       "b.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required "
                                       "username=\"mirror\" password=\"${dir:%s:b-password}\";\n"
                                       "log.level = ${env:KMTEST_LEVEL}\n",
                                       dir, sec),
                     0);
    free(sec);
    for (int json = 0; json <= 1; json++) {
        char *cmd = km_xasprintf("'%s' check-config %s '%s' 2>&1", kt_kmirror_bin(), json ? "--json" : "", k.conf);
        char *argv[] = {"sh", "-c", cmd, NULL};
        char *out = NULL;
        /* log.level resolves to a value that is no level: an error quoting it, redacted */
        assert_int_not_equal(kt_run(argv, &out), 0);
        assert_non_null(out);
        assert_no_secret(json ? "kmirror check-config --json" : "kmirror check-config", out);
        assert_non_null(strstr(out, "${env:KMTEST_LEVEL}"));
        free(out);
        free(cmd);
    }
}

/* A run at log.level = debug: kmirror's own lines and librdkafka's quote the reference. */
static void test_run_log_redacted(void **state) {
    (void)state;
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, "providers-run",
                                       "clusters = a, b\n" PROVIDERS
                                       "a.bootstrap.servers = ${env:KMTEST_BOOT}\nb.bootstrap.servers = ${env:KMTEST_BOOT}\n"
                                       "a.sasl.mechanism = PLAIN\na.security.protocol = SASL_PLAINTEXT\n"
                                       "a.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required "
                                       "username=\"${env:KMTEST_USER}\" password=\"${file:%s/secrets.properties:password}\";\n"
                                       "a->b.enabled = true\nlog.level = debug\nadmin.timeout.ms = 2000\n",
                                       dir),
                     0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    /* the cluster cannot be reached: kmirror says so, naming bootstrap.servers, and exits */
    assert_int_equal(kt_kmirror_wait_exit(&k, 30000), 0);
    char *log = kt_kmirror_log(&k);
    assert_non_null(log);
    assert_non_null(strstr(log, "${env:KMTEST_BOOT}/bootstrap")); /* librdkafka's own lines */
    assert_non_null(strstr(log, "bootstrap.servers=${env:KMTEST_BOOT}"));
    assert_no_secret("the log of a run at log.level = debug", log);
    free(log);
}

/* /status and /metrics: a flow's reason is stored redacted; the process-wide log rewrite outlives
 * the configuration and covers lines longer than the log's buffer. */
static void test_status_and_metrics_redacted(void **state) {
    (void)state;
    loaded_t *l = load("a.bootstrap.servers = ${env:KMTEST_BOOT}\n");
    assert_int_equal(l->rc, 0);
    km_providers_redact_logs(&l->cfg.secrets);
    km_metrics_t *m = km_metrics_new();
    km_flow_metrics_t *fm = km_metrics_add_flow(m, km_config_flow(&l->cfg, "a", "b"));
    km_flow_metrics_state(fm, KM_FLOW_FAILED, "cannot reach cluster a (bootstrap.servers=" ENV_BOOT ")");
    km_snapshot_t *snap = km_metrics_snapshot(m, km_now_mono_ms());
    json_t *st = km_metrics_status_json(snap);
    char *status = json_dumps(st, 0);
    char *prom = km_metrics_prometheus(snap);
    assert_non_null(strstr(status, "bootstrap.servers=${env:KMTEST_BOOT}"));
    assert_no_secret("/status", status);
    assert_no_secret("/metrics", prom);
    free(status);
    free(prom);
    json_decref(st);
    km_snapshot_free(snap);
    km_metrics_free(m);
    /* the process-wide copy outlives the configuration it came from */
    unload(l);
    char line[128];
    km_log_redact("x " ENV_BOOT " y", line, sizeof(line));
    assert_string_equal(line, "x ${env:KMTEST_BOOT} y");
    /* a line longer than the log's buffer: no head of a secret survives the cut */
    char *logged = km_xasprintf("%s/long.log", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = freopen(logged, "w", stderr);
    assert_non_null(f);
    km_error("%4090s" ENV_BOOT, "");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *text = NULL;
    size_t tlen = 0;
    FILE *r = fopen(logged, "r");
    assert_non_null(r);
    assert_int_not_equal(getdelim(&text, &tlen, '\0', r), -1);
    fclose(r);
    assert_null(strstr(text, "127.0"));
    assert_non_null(strstr(text, "     ${env"));
    free(text);
    free(logged);
    km_props_t none = {0};
    km_providers_redact_logs(&none);
    km_log_redact("x " ENV_BOOT " y", line, sizeof(line));
    assert_string_equal(line, "x " ENV_BOOT " y");
}

static void test_messages_are_redacted(void **state) {
    (void)state;
    loaded_t *l = load("log.level = ${env:KMTEST_LEVEL}\na->b.offset-syncs.topic.location = ${file:DIR/secrets.properties:password}\n");
    assert_int_equal(l->rc, -1);
    assert_true(has_msg(l->d.errors, l->d.nerrors, "log.level", "${env:KMTEST_LEVEL}"));
    assert_true(has_msg(l->d.errors, l->d.nerrors, "offset-syncs.topic.location", "/secrets.properties:password}"));
    assert_diag_clean(l);
    unload(l);
}

/* One reference that cannot be resolved: the error names test.properties:line and the key. */
static void expect_error(const char *extra, int line, const char *key, const char *why) {
    loaded_t *l = load(extra);
    char *at = km_xasprintf("test.properties:%d: ", line);
    char *k = km_xasprintf("'%s'", key);
    if (l->rc != -1 || !has_msg(l->d.errors, l->d.nerrors, at, k) || !has_msg(l->d.errors, l->d.nerrors, at, why)) {
        for (size_t i = 0; i < l->d.nerrors; i++) fprintf(stderr, "# error: %s\n", l->d.errors[i]);
        fail_msg("no error at %s naming %s and saying '%s' for: %s", at, k, why, extra);
    }
    assert_diag_clean(l);
    free(at);
    free(k);
    unload(l);
}

#define L 10 /* the line after BASE and PROVIDERS */

static void test_file_errors(void **state) {
    (void)state;
    expect_error("a.ssl.key.password = ${file:DIR/nope.properties:password}\n", L, "a.ssl.key.password",
                 "nope.properties: No such file or directory");
    expect_error("a.ssl.key.password = ${file:DIR/secrets.properties:passwd}\n", L, "a.ssl.key.password", "has no key 'passwd'");
    expect_error("a.ssl.key.password = ${file:password}\n", L, "a.ssl.key.password", "needs a file");
    expect_error("a.ssl.key.password = ${file:DIR:password}\n", L, "a.ssl.key.password", "is not a regular file");
    expect_error("a.ssl.key.password = ${file:/dev/zero:password}\n", L, "a.ssl.key.password", "/dev/zero is not a regular file");
    expect_error("config.providers.file.param.allowed.paths = DIR/secrets\n"
                 "a.ssl.key.password = ${file:DIR/secrets/../secrets.properties:password}\n",
                 L + 1, "a.ssl.key.password", "not under config.providers.file.param.allowed.paths");
    loaded_t *l = load("config.providers.file.param.allowed.paths = /nonexistent, DIR\n"
                       "a.ssl.key.password = ${file:DIR/./secrets.properties:password}\n");
    assert_int_equal(l->rc, 0);
    assert_string_equal(km_props_get(&l->cfg.raw, "a.ssl.key.password"), FILE_PW);
    unload(l);
    l = load("config.providers.file.param.allowed.paths =\n"
             "a.ssl.key.password = ${file:DIR/secrets.properties:password}\n");
    assert_int_equal(l->rc, 0); /* empty: no restriction, as in Kafka */
    unload(l);
    expect_error("config.providers.file.param.allowed.paths = relative/dir\n", L, "config.providers.file.param.allowed.paths",
                 "not an absolute path");
}

static void test_dir_errors(void **state) {
    (void)state;
    expect_error("a.ssl.key.password = ${dir:DIR/secrets:nope}\n", L, "a.ssl.key.password", "no file 'nope'");
    expect_error("a.ssl.key.password = ${dir:DIR/absent:b-password}\n", L, "a.ssl.key.password", "cannot read directory");
    expect_error("a.ssl.key.password = ${dir:DIR/secrets.properties:password}\n", L, "a.ssl.key.password", "is not a directory");
    expect_error("a.ssl.key.password = ${dir:DIR:secrets/b-password}\n", L, "a.ssl.key.password", "is not a file name");
    expect_error("a.ssl.key.password = ${dir:DIR:secrets}\n", L, "a.ssl.key.password", "no file 'secrets'");
    /* a trailing newline is kept, as Kafka keeps it, and said */
    loaded_t *l = load("a.ssl.key.password = ${dir:DIR/secrets:with-newline}\n");
    assert_int_equal(l->rc, 0);
    assert_string_equal(km_props_get(&l->cfg.raw, "a.ssl.key.password"), DIR_PW "\n");
    assert_true(has_msg(l->d.warnings, l->d.nwarnings, "test.properties:10: 'a.ssl.key.password'", "ends with a newline"));
    assert_diag_clean(l);
    unload(l);
}

static void test_env_errors(void **state) {
    (void)state;
    expect_error("a.ssl.key.password = ${env:KMTEST_UNSET}\n", L, "a.ssl.key.password", "'KMTEST_UNSET' is not set");
    expect_error("a.ssl.key.password = ${env:OTHER_PASSWORD}\n", L, "a.ssl.key.password",
                 "'OTHER_PASSWORD' is not allowed by config.providers.env.param.allowlist.pattern = ^KMTEST_");
    expect_error("a.ssl.key.password = ${env:/x:KMTEST_USER}\n", L, "a.ssl.key.password", "takes no path");
    expect_error("config.providers.env.param.allowlist.pattern = (\n", L, "config.providers.env.param.allowlist.pattern",
                 "invalid regular expression");
}

static void test_provider_errors(void **state) {
    (void)state;
    expect_error("a.ssl.key.password = ${vault:secret/kafka:password}\n", L, "a.ssl.key.password",
                 "unknown config provider 'vault'");
    /* without config.providers every reference names an unknown provider */
    const char *text = BASE "a.ssl.key.password = ${env:KMTEST_USER}\n";
    loaded_t *l = km_xcalloc(1, sizeof(*l));
    l->rc = km_config_load_buf(&l->cfg, text, strlen(text), "test.properties", NULL, 0, &l->d);
    assert_int_equal(l->rc, -1);
    assert_true(has_msg(l->d.errors, l->d.nerrors, "test.properties:5: 'a.ssl.key.password'", "config.providers is not set"));
    unload(l);
    /* an unknown class, a short class name, a listed provider without a class */
    const char *bad = BASE "config.providers = file, vault, short\n"
                           "config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider\n"
                           "config.providers.vault.class = io.confluent.VaultConfigProvider\n"
                           "config.providers.short.class = EnvVarConfigProvider\n"
                           "config.providers.unlisted.class = org.apache.kafka.common.config.provider.EnvVarConfigProvider\n"
                           "config.providers.file.param.colour = blue\n";
    l = km_xcalloc(1, sizeof(*l));
    l->rc = km_config_load_buf(&l->cfg, bad, strlen(bad), "test.properties", NULL, 0, &l->d);
    assert_int_equal(l->rc, -1);
    assert_true(has_msg(l->d.errors, l->d.nerrors, "test.properties:7: 'config.providers.vault.class'", "unknown config provider class 'io.confluent.VaultConfigProvider'"));
    assert_true(has_msg(l->d.errors, l->d.nerrors, "test.properties:8: 'config.providers.short.class'", "unknown config provider class 'EnvVarConfigProvider'"));
    assert_true(has_msg(l->d.warnings, l->d.nwarnings, "test.properties:9: 'config.providers.unlisted.class'", "not listed in config.providers"));
    assert_true(has_msg(l->d.warnings, l->d.nwarnings, "test.properties:10: 'config.providers.file.param.colour'", "takes no parameter"));
    unload(l);
    const char *noclass = BASE "config.providers = env\n";
    l = km_xcalloc(1, sizeof(*l));
    l->rc = km_config_load_buf(&l->cfg, noclass, strlen(noclass), "test.properties", NULL, 0, &l->d);
    assert_int_equal(l->rc, -1);
    assert_true(has_msg(l->d.errors, l->d.nerrors, "test.properties:5: config.providers lists 'env'", "'config.providers.env.class' is not set"));
    unload(l);
}

static void test_redact(void **state) {
    (void)state;
    km_props_t s = {0};
    km_props_set(&s, "${env:A}", "abc", 1);
    km_props_set(&s, "${env:B}", "abcdef", 1);
    char *r = km_providers_redact(&s, "x abcdef y abc z ab");
    assert_string_equal(r, "x ${env:B} y ${env:A} z ab");
    free(r);
    assert_string_equal(km_providers_reference(&s, "abc"), "${env:A}");
    assert_null(km_providers_reference(&s, "abcd"));
    km_providers_forget(&s);
    assert_int_equal(s.n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_provider_resolves),
        cmocka_unit_test(test_check_config_shows_references),
        cmocka_unit_test(test_binary_never_prints_secrets),
        cmocka_unit_test(test_run_log_redacted),
        cmocka_unit_test(test_status_and_metrics_redacted),
        cmocka_unit_test(test_messages_are_redacted),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_dir_errors),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_provider_errors),
        cmocka_unit_test(test_redact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
