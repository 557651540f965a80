/* test_keystore.c — JKS and PKCS#12 stores made by keytool at test time, read into PEM; wrong
 * passwords, tampering, JCEKS and truncation give errors naming the key, never a crash.
 * Needs keytool (the JDK's); without it the store tests skip and say so on stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clientconf.h"
#include "keystore.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

static char dir[64];
static bool have_keytool;

static char *path_of(const char *name) { return km_xasprintf("%s/%s", dir, name); }

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char cmd[2048];
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char *full = km_xasprintf("cd %s && { %s; } >>keytool.log 2>&1", dir, cmd);
    int rc = system(full);
    if (rc != 0) fprintf(stderr, "# command failed (%d), see %s/keytool.log: %s\n", rc, dir, cmd);
    assert_int_equal(rc, 0);
    free(full);
}

static unsigned char *slurp(const char *name, size_t *len) {
    char *p = path_of(name);
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    unsigned char *buf = km_xmalloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, fp);
    fclose(fp);
    free(p);
    return buf;
}

static void spit(const char *name, const unsigned char *buf, size_t len) {
    char *p = path_of(name);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    fwrite(buf, 1, len, fp);
    fclose(fp);
    free(p);
}

/* One key pair and the stores an MM2 user has: keystore (JKS, key password different from the
 * store password), the same with key password = store password, a trust store holding the
 * certificate, and the keystore as PKCS#12. Five JVM starts, about five seconds. */
static int make_stores(void **state) {
    snprintf(dir, sizeof(dir), "/tmp/kmirror-keystore-%d", (int)getpid());
    char *cmd = km_xasprintf("rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0) return -1;
    free(cmd);
    have_keytool = system("command -v keytool >/dev/null 2>&1") == 0;
    if (!have_keytool) {
        fprintf(stderr, "# SKIP: keytool (from a JDK) is not on PATH; the JKS and PKCS#12 store tests cannot make stores\n");
        return 0;
    }
    sh("keytool -genkeypair -alias client -keyalg EC -groupname secp256r1 -dname CN=client -validity 2 "
       "-storetype JKS -keystore ks.jks -storepass store-pw -keypass key-pw");
    sh("keytool -exportcert -rfc -alias client -keystore ks.jks -storepass store-pw -file client.crt");
    sh("keytool -importcert -noprompt -alias ca -file client.crt -storetype JKS -keystore trust.jks -storepass trust-pw");
    sh("keytool -importkeystore -srckeystore ks.jks -srcstoretype JKS -srcstorepass store-pw -srckeypass key-pw "
       "-srcalias client -destkeystore same.jks -deststoretype JKS -deststorepass store-pw -destkeypass store-pw");
    sh("keytool -importkeystore -srckeystore same.jks -srcstoretype JKS -srcstorepass store-pw "
       "-destkeystore ks.p12 -deststoretype PKCS12 -deststorepass p12-pw");
    return 0;
}

static int remove_stores(void **state) {
    char *cmd = km_xasprintf("rm -rf %s", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

#define NEED_KEYTOOL()                                                                                                 \
    do {                                                                                                               \
        if (!have_keytool) {                                                                                           \
            fprintf(stderr, "# SKIP %s: no keytool\n", __func__);                                                      \
            skip();                                                                                                    \
        }                                                                                                              \
    } while (0)

/* The PEM key opens, the certificate PEM is the one keytool exported, and they belong together. */
static void assert_key_matches(const km_store_t *st) {
    assert_non_null(st->key_pem);
    assert_non_null(st->cert_pem);
    assert_non_null(strstr(st->key_pem, "-----BEGIN PRIVATE KEY-----"));
    BIO *kb = BIO_new_mem_buf(st->key_pem, -1), *cb = BIO_new_mem_buf(st->cert_pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    X509 *c = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    assert_non_null(k);
    assert_non_null(c);
    assert_int_equal(X509_check_private_key(c, k), 1);
    size_t len;
    unsigned char *exported = slurp("client.crt", &len);
    BIO *eb = BIO_new_mem_buf(exported, (int)len);
    X509 *e = PEM_read_bio_X509(eb, NULL, NULL, NULL);
    assert_non_null(e);
    assert_int_equal(X509_cmp(c, e), 0);
    X509_free(e);
    BIO_free(eb);
    free(exported);
    X509_free(c);
    EVP_PKEY_free(k);
    BIO_free(kb);
    BIO_free(cb);
}

static km_store_err_t load(const char *name, km_store_type_t type, const char *sp, const char *kp, bool want_key,
                           km_store_t *st, char *err) {
    char *p = path_of(name);
    km_store_err_t e = km_store_load(p, type, sp, kp, want_key, st, err, 512);
    free(p);
    return e;
}

static void test_jks_keystore(void **state) {
    NEED_KEYTOOL();
    km_store_t st;
    char err[512] = "";
    assert_int_equal(load("ks.jks", KM_STORE_JKS, "store-pw", "key-pw", true, &st, err), KM_STORE_OK);
    assert_int_equal(st.nkeys, 1);
    assert_key_matches(&st);
    km_store_free(&st);
    /* No key password: the store password decrypts the key, as in Java. */
    assert_int_equal(load("same.jks", KM_STORE_JKS, "store-pw", NULL, true, &st, err), KM_STORE_OK);
    assert_key_matches(&st);
    km_store_free(&st);
    /* A wrong key password is caught by the key protection's own check. */
    assert_int_equal(load("ks.jks", KM_STORE_JKS, "store-pw", "nope", true, &st, err), KM_STORE_EKEYPASS);
    assert_non_null(strstr(err, "private key 'client'"));
    assert_null(st.key_pem);
}

static void test_jks_truststore(void **state) {
    NEED_KEYTOOL();
    km_store_t st;
    char err[512] = "";
    assert_int_equal(load("trust.jks", KM_STORE_JKS, "trust-pw", NULL, false, &st, err), KM_STORE_OK);
    size_t len;
    unsigned char *exported = slurp("client.crt", &len);
    BIO *a = BIO_new_mem_buf(exported, (int)len), *b = BIO_new_mem_buf(st.ca_pem, -1);
    X509 *xa = PEM_read_bio_X509(a, NULL, NULL, NULL), *xb = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_non_null(xb);
    assert_int_equal(X509_cmp(xa, xb), 0);
    X509_free(xa);
    X509_free(xb);
    BIO_free(a);
    BIO_free(b);
    free(exported);
    km_store_free(&st);
    /* No password: read without verification, as Java opens a trust store without one. */
    assert_int_equal(load("trust.jks", KM_STORE_JKS, NULL, NULL, false, &st, err), KM_STORE_OK);
    assert_non_null(st.ca_pem);
    km_store_free(&st);
    assert_int_equal(load("trust.jks", KM_STORE_JKS, "wrong", NULL, false, &st, err), KM_STORE_EINTEGRITY);
    assert_non_null(strstr(err, "integrity"));
}

static void test_tampered(void **state) {
    NEED_KEYTOOL();
    size_t len;
    unsigned char *buf = slurp("trust.jks", &len);
    buf[len / 2] ^= 0x01; /* inside the certificate */
    spit("tampered.jks", buf, len);
    km_store_t st;
    char err[512] = "";
    assert_int_equal(load("tampered.jks", KM_STORE_JKS, "trust-pw", NULL, false, &st, err), KM_STORE_EINTEGRITY);
    assert_non_null(strstr(err, "tampered"));
    assert_null(st.ca_pem);
    free(buf);
}

/* Every prefix and every single-byte corruption of a real store, unverified so that the parser
 * sees them: an error or a result, never an overrun (run under ASan in make SANITIZE=1). */
static void test_truncated_and_corrupt(void **state) {
    NEED_KEYTOOL();
    size_t len;
    unsigned char *buf = slurp("ks.jks", &len);
    char err[512];
    for (size_t n = 0; n < len; n++) {
        km_store_t st;
        assert_int_not_equal(km_jks_parse(buf, n, NULL, "key-pw", true, &st, err, sizeof(err)), KM_STORE_OK);
        assert_null(st.key_pem);
    }
    for (size_t i = 0; i < len; i += 3) {
        unsigned char saved = buf[i];
        buf[i] ^= 0xA5;
        km_store_t st;
        km_jks_parse(buf, len, NULL, "key-pw", true, &st, err, sizeof(err));
        km_store_free(&st);
        buf[i] = saved;
    }
    free(buf);
}

static void test_pkcs12(void **state) {
    NEED_KEYTOOL();
    km_store_t st;
    char err[512] = "";
    assert_int_equal(load("ks.p12", KM_STORE_PKCS12, "p12-pw", NULL, true, &st, err), KM_STORE_OK);
    assert_key_matches(&st);
    km_store_free(&st);
    assert_int_equal(load("ks.p12", KM_STORE_PKCS12, "wrong", NULL, true, &st, err), KM_STORE_EINTEGRITY);
}

typedef struct xl {
    km_props_t in, out;
    km_diag_t d;
    int errors;
} xl_t;

static void translate(xl_t *x) { x->errors = km_clientconf_translate(&x->in, KM_CLIENT_CONSUMER, "f.properties", &x->out, &x->d); }

static void done(xl_t *x) {
    km_props_free(&x->in);
    km_props_free(&x->out);
    km_diag_free(&x->d);
}

static bool errored(const xl_t *x, const char *a, const char *b) {
    for (size_t i = 0; i < x->d.nerrors; i++)
        if (strstr(x->d.errors[i], a) && (!b || strstr(x->d.errors[i], b))) return true;
    return false;
}

/* The ops guide's TLS fragment as is, on keytool's stores: librdkafka gets PEM strings, no file. */
static void test_clientconf_guide(void **state) {
    NEED_KEYTOOL();
    char *ks = path_of("ks.jks"), *ts = path_of("trust.jks");
    xl_t x = {0};
    km_props_set(&x.in, "bootstrap.servers", "h:1", 1);
    km_props_set(&x.in, "security.protocol", "SSL", 2);
    km_props_set(&x.in, "ssl.truststore.location", ts, 3);
    km_props_set(&x.in, "ssl.truststore.password", "trust-pw", 4);
    km_props_set(&x.in, "ssl.keystore.location", ks, 5);
    km_props_set(&x.in, "ssl.keystore.password", "store-pw", 6);
    km_props_set(&x.in, "ssl.key.password", "key-pw", 7);
    translate(&x);
    assert_int_equal(x.errors, 0);
    assert_non_null(strstr(km_props_get(&x.out, "ssl.ca.pem"), "BEGIN CERTIFICATE"));
    assert_non_null(strstr(km_props_get(&x.out, "ssl.certificate.pem"), "BEGIN CERTIFICATE"));
    assert_non_null(strstr(km_props_get(&x.out, "ssl.key.pem"), "BEGIN PRIVATE KEY"));
    assert_null(km_props_get(&x.out, "ssl.keystore.location"));
    assert_null(km_props_get(&x.out, "ssl.key.location"));
    assert_null(km_props_get(&x.out, "ssl.ca.location"));
    char e[512];
    rd_kafka_conf_t *c = km_clientconf_new(&x.out, e, sizeof(e));
    assert_non_null(c);
    rd_kafka_conf_destroy(c);
    done(&x);

    /* Wrong passwords name the key to fix, at its line. */
    xl_t y = {0};
    km_props_set(&y.in, "ssl.truststore.location", ts, 3);
    km_props_set(&y.in, "ssl.truststore.password", "wrong", 4);
    km_props_set(&y.in, "ssl.keystore.location", ks, 5);
    km_props_set(&y.in, "ssl.keystore.password", "store-pw", 6);
    km_props_set(&y.in, "ssl.key.password", "wrong", 7);
    translate(&y);
    assert_int_equal(y.errors, 2);
    assert_true(errored(&y, "f.properties:4: ssl.truststore.password: ssl.truststore.location = ", "integrity check failed"));
    assert_true(errored(&y, "f.properties:7: ssl.key.password: ssl.keystore.location = ", "does not decrypt"));
    done(&y);

    /* PKCS#12 keystores are read too: no password reaches librdkafka. */
    char *p12 = path_of("ks.p12");
    xl_t z = {0};
    km_props_set(&z.in, "ssl.keystore.location", p12, 1);
    km_props_set(&z.in, "ssl.keystore.password", "p12-pw", 2);
    translate(&z);
    assert_int_equal(z.errors, 0);
    assert_non_null(km_props_get(&z.out, "ssl.key.pem"));
    assert_null(km_props_get(&z.out, "ssl.keystore.password"));
    done(&z);
    free(p12);
    free(ks);
    free(ts);
}

static void test_jceks_and_unknown(void **state) {
    static const unsigned char jceks[] = {0xCE, 0xCE, 0xCE, 0xCE, 0, 0, 0, 2, 0, 0, 0, 0};
    spit("old.jceks", jceks, sizeof(jceks));
    char *p = path_of("old.jceks");
    xl_t x = {0};
    km_props_set(&x.in, "ssl.truststore.location", p, 3);
    km_props_set(&x.in, "ssl.keystore.location", p, 5);
    km_props_set(&x.in, "ssl.keystore.type", "JCEKS", 6);
    translate(&x);
    assert_int_equal(x.errors, 2);
    assert_true(errored(&x, "f.properties:3: ssl.truststore.location", "JCEKS store"));
    assert_true(errored(&x, "f.properties:5: ssl.keystore.location", "keytool -importkeystore"));
    done(&x);
    xl_t y = {0};
    km_props_set(&y.in, "ssl.truststore.location", p, 3);
    km_props_set(&y.in, "ssl.truststore.type", "BCFKS", 4);
    translate(&y);
    assert_true(errored(&y, "f.properties:4: ssl.truststore.type = BCFKS is not supported", NULL));
    done(&y);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jks_keystore),      cmocka_unit_test(test_jks_truststore),
        cmocka_unit_test(test_tampered),          cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_pkcs12),            cmocka_unit_test(test_clientconf_guide),
        cmocka_unit_test(test_jceks_and_unknown),
    };
    return cmocka_run_group_tests(tests, make_stores, remove_stores);
}
