/* test_webconfig.c — the metrics endpoint protected by metrics.web.config.file (webconfig.h):
 * TLS with a certificate made here by openssl, basic auth against a bcrypt hash made by Apache
 * htpasswd (another implementation than the one kmirror verifies with), client certificates; each
 * checked from outside with curl, as a Prometheus scrape would see it: 401 without or with wrong
 * credentials, 200 with them, /healthz answered for a probe without credentials but without its
 * reason, no plain HTTP on a TLS port. Then every mistake in a web config file is an error at its
 * file:line when the configuration is read. Needs openssl and curl; skips without them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "http.h"
#include "kt.h"
#include "kt_kmirror.h"
#include "metrics.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* htpasswd -nbB prometheus password */
#define HASH "$2y$10$VhbeCHM9IsG/9n9JU/cN/ufketp3fOhcPCfBxjHKrTYdc4iZRKQ0i"

static char dir[] = "/tmp/kmirror-webconfig-XXXXXX";
static bool tools;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    int rc = n < 0 ? -1 : system(cmd);
    free(cmd);
    return rc;
}

static void write_file(const char *name, const char *text) {
    char *path = km_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

/* A CA; the server's certificate for IP 127.0.0.1; a client certificate by the same CA; and one
 * by another CA. */
static int setup(void **state) {
    tools = sh("command -v openssl >/dev/null && command -v curl >/dev/null") == 0;
    if (!tools || !mkdtemp(dir)) return 0;
    return sh("cd %s && exec >openssl.log 2>&1 && "
              "for ca in ca other; do openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $ca.key "
              "  -out $ca.pem -days 2 -subj /CN=$ca; done && "
              "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=kmirror && "
              "printf 'subjectAltName=IP:127.0.0.1\\n' >san.ext && "
              "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem && "
              "for c in client:ca stranger:other; do n=${c%%:*}; ca=${c#*:}; "
              "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.csr -subj /CN=$n && "
              "  openssl x509 -req -in $n.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial -days 2 -out $n.pem || exit 1; done",
              dir) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    if (tools) sh("rm -rf %s", dir);
    return 0;
}

/* The configuration with `metrics.web.config.file = DIR/file` (and any extra lines). */
static int load(km_config_t *cfg, km_diag_t *d, const char *file, const char *extra) {
    char *text = km_xasprintf("clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:1\n"
                              "A->B.enabled = true\nmetrics.listen = 127.0.0.1:0\nmetrics.web.config.file = %s/%s\n%s",
                              dir, file, extra ? extra : "");
    memset(cfg, 0, sizeof(*cfg));
    memset(d, 0, sizeof(*d));
    int rc = km_config_load_buf(cfg, text, strlen(text), "kmirror.properties", NULL, 0, d);
    free(text);
    return rc;
}

typedef struct server {
    km_config_t cfg;
    km_diag_t d;
    km_metrics_t *m;
    km_flow_metrics_t *fm;
    km_http_t *h;
} server_t;

static server_t *serve(const char *web) {
    server_t *s = km_xcalloc(1, sizeof(*s));
    write_file("web.yml", web);
    if (load(&s->cfg, &s->d, "web.yml", NULL) != 0)
        for (size_t i = 0; i < s->d.nerrors; i++) print_message("%s\n", s->d.errors[i]);
    assert_int_equal(s->d.nerrors, 0);
    assert_non_null(s->cfg.metrics_web);
    s->m = km_metrics_new();
    for (size_t i = 0; i < s->cfg.nflows; i++)
        if (s->cfg.flows[i].enabled) s->fm = km_metrics_add_flow(s->m, &s->cfg.flows[i]);
    km_flow_metrics_state(s->fm, KM_FLOW_RUNNING, NULL);
    char err[256];
    s->h = km_http_start("127.0.0.1:0", s->m, s->cfg.metrics_web, err, sizeof(err));
    if (!s->h) print_message("%s\n", err);
    assert_non_null(s->h);
    return s;
}

static void stop(server_t *s) {
    km_http_stop(s->h);
    km_metrics_free(s->m);
    km_config_free(&s->cfg);
    km_diag_free(&s->d);
    free(s);
}

/* curl's HTTP status for url with the options in opts (space-separated, no quoting needed),
 * 0 when there was no HTTP answer; the body into *body when body is not NULL. */
static int curl(const char *opts, const char *url, char **body) {
    char *out_file = km_xasprintf("%s/body", dir), *argv[32];
    char *copy = km_xasprintf("curl -s --max-time 20 -o %s -w %%{http_code} %s %s", out_file, opts, url), *save = NULL;
    int n = 0;
    for (char *t = strtok_r(copy, " ", &save); t && n < 31; t = strtok_r(NULL, " ", &save)) argv[n++] = t;
    argv[n] = NULL;
    char *out = NULL;
    unlink(out_file);
    kt_run(argv, &out);
    int code = out ? atoi(out) : 0;
    if (body) *body = code ? kt_read_file(out_file) : NULL;
    free(out);
    free(copy);
    free(out_file);
    return code;
}

static char *url(server_t *s, const char *scheme, const char *path) {
    return km_xasprintf("%s://127.0.0.1:%d%s", scheme, km_http_port(s->h), path);
}

static void need_tools(void) {
    if (!tools) {
        print_message("# SKIP: openssl and curl are needed\n");
        skip();
    }
}

static int counted_reload(void *arg, char *why, size_t whylen) {
    (*(int *)arg)++;
    return 0;
}

static void test_tls_and_basic_auth(void **state) {
    need_tools();
    char *web = km_xasprintf("# as exporter-toolkit documents it\ntls_server_config:\n  cert_file: server.pem\n  key_file: \"%s/server.key\"\n"
                             "basic_auth_users:\n  prometheus: %s\n  'other': '" HASH "'  # same password\n",
                             dir, HASH);
    server_t *s = serve(web);
    free(web);
    char *ca = km_xasprintf("--cacert %s/ca.pem", dir), *cred = km_xasprintf("%s -u prometheus:password", ca);
    char *wrong = km_xasprintf("%s -u prometheus:passwore", ca), *nobody = km_xasprintf("%s -u nobody:password", ca);
    char *metrics = url(s, "https", "/metrics"), *status = url(s, "https", "/status"), *healthz = url(s, "https", "/healthz");
    char *page = url(s, "https", "/"), *plain = url(s, "http", "/metrics"), *body = NULL;

    assert_int_equal(curl(ca, metrics, NULL), 401);
    assert_int_equal(curl(wrong, metrics, NULL), 401);
    assert_int_equal(curl(nobody, metrics, NULL), 401);
    assert_int_equal(curl(ca, status, NULL), 401);
    assert_int_equal(curl(ca, page, NULL), 401);
    assert_int_equal(curl(cred, metrics, &body), 200);
    assert_non_null(strstr(body, "kmirror_flow_state"));
    free(body);
    assert_int_equal(curl(cred, metrics, NULL), 200); /* again: the remembered pair */
    assert_int_equal(curl(cred, status, NULL), 200);
    /* the lifecycle API is behind the same credentials */
    int reloads = 0;
    km_http_on_reload(s->h, counted_reload, &reloads);
    km_http_set_lifecycle(s->h, true);
    char *reload = url(s, "https", "/-/reload"), *post = km_xasprintf("%s -X POST", ca), *cred_post = km_xasprintf("%s -X POST", cred);
    assert_int_equal(curl(post, reload, NULL), 401);
    assert_int_equal(reloads, 0);
    assert_int_equal(curl(cred_post, reload, NULL), 200);
    assert_int_equal(reloads, 1);
    free(reload), free(post), free(cred_post);
    assert_int_equal(curl(ca, plain, NULL), 0); /* no plain HTTP on the TLS port */
    assert_int_equal(curl("", metrics, NULL), 0); /* a client that does not trust the CA */

    /* A liveness probe needs no credentials, and learns nothing but healthy or not. */
    assert_int_equal(curl(ca, healthz, &body), 200);
    assert_string_equal(body, "ok\n");
    free(body);
    km_flow_metrics_state(s->fm, KM_FLOW_FAILED, "task 0: cannot write to A.orders [0] on B: Broker: Topic authorization failed");
    assert_int_equal(curl(ca, healthz, &body), 503);
    assert_string_equal(body, "unhealthy\n");
    free(body);
    assert_int_equal(curl(cred, healthz, &body), 503);
    assert_non_null(strstr(body, "cannot write to A.orders [0] on B"));
    free(body);
    /* TLS 1.2 is the floor, as exporter-toolkit's default min_version. */
    char *old = km_xasprintf("%s --tls-max 1.1", cred);
    assert_int_equal(curl(old, metrics, NULL), 0);
    free(old);

    free(ca), free(cred), free(wrong), free(nobody), free(metrics), free(status), free(healthz), free(page), free(plain);
    stop(s);
}

static void test_client_certificates(void **state) {
    need_tools();
    server_t *s = serve("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
                        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS13\n");
    char *ca = km_xasprintf("--cacert %s/ca.pem", dir), *client = km_xasprintf("%s --cert %s/client.pem --key %s/client.key", ca, dir, dir);
    char *stranger = km_xasprintf("%s --cert %s/stranger.pem --key %s/stranger.key", ca, dir, dir);
    char *metrics = url(s, "https", "/metrics"), *healthz = url(s, "https", "/healthz");
    assert_int_equal(curl(client, metrics, NULL), 200);
    assert_int_equal(curl(ca, metrics, NULL), 403);
    assert_int_equal(curl(ca, healthz, NULL), 403);
    assert_int_equal(curl(stranger, metrics, NULL), 403);
    free(ca), free(client), free(stranger), free(metrics), free(healthz);
    stop(s);
}

/* Each bad file gives an error naming the properties line, the web config file and its line. */
static void test_mistakes_are_errors_at_their_line(void **state) {
    need_tools();
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"basic_auth_users:\n  prometheus: password\n", "bad.yml:2: basic_auth_users: user 'prometheus' needs a bcrypt hash"},
        {"basic_auth_users:\n  a: " HASH "\n  a: " HASH "\n", "bad.yml:3: basic_auth_users: user 'a' is listed twice"},
        {"tls_server_config:\n  cert_file: server.pem\n", "bad.yml:1: tls_server_config needs both cert_file and key_file"},
        {"tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n", "bad.yml:3: key_file client.key is not the key of"},
        {"tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n", "bad.yml:2: cert_file: cannot read"},
        {"tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n", "bad.yml:2: cert_file: "},
        {"tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n",
         "bad.yml:4: client_auth_type RequireAndVerifyClientCert needs client_ca_file"},
        {"tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n",
         "bad.yml:4: client_auth_type VerifyClientCertIfGiven is not supported"},
        {"tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS10\n", "bad.yml:4: min_version TLS10"},
        {"tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
         "bad.yml:4: "},
        {"tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  cipher_suites: x\n",
         "bad.yml:4: tls_server_config: cipher_suites is not supported by kmirror"},
        {"tls_server_config:\n  cert_fille: server.pem\n", "bad.yml:2: tls_server_config: unknown key 'cert_fille'"},
        {"http_server_config:\n  http2: false\n", "bad.yml:1: http_server_config is not supported"},
        {"basic_auth_user:\n  a: " HASH "\n", "bad.yml:1: unknown key 'basic_auth_user'"},
        {"basic_auth_users:\n\ta: " HASH "\n", "bad.yml:2: a tab in the indentation"},
        {"basic_auth_users:\n  a:\n    b: " HASH "\n", "bad.yml:2: a has no value"},
        {"basic_auth_users:\n  a: \"" HASH "\n", "bad.yml:2: unterminated quoted value"},
        {"basic_auth_users:\n  - a\n", "bad.yml:2: a list is not expected here"},
        {"tls_server_config: server.pem\n", "bad.yml:1: tls_server_config must be a mapping"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        km_config_t cfg;
        km_diag_t d;
        write_file("bad.yml", cases[i].text);
        int rc = load(&cfg, &d, "bad.yml", NULL);
        bool found = false;
        for (size_t k = 0; k < d.nerrors; k++) {
            found |= strstr(d.errors[k], cases[i].want) != NULL && strstr(d.errors[k], "kmirror.properties:6: metrics.web.config.file: ");
            print_message("case %zu: %s\n", i, d.errors[k]);
        }
        if (!found) print_message("case %zu: wanted an error with '%s'\n", i, cases[i].want);
        assert_int_equal(rc, -1);
        assert_true(found);
        assert_null(cfg.metrics_web);
        km_config_free(&cfg);
        km_diag_free(&d);
    }
    km_config_t cfg;
    km_diag_t d;
    assert_int_equal(load(&cfg, &d, "none.yml", NULL), -1);
    assert_non_null(strstr(d.errors[0], "cannot read"));
    km_config_free(&cfg);
    km_diag_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_and_basic_auth),
        cmocka_unit_test(test_client_certificates),
        cmocka_unit_test(test_mistakes_are_errors_at_their_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
