/* test_clientconf.c — Java client properties → librdkafka: pass-through checked by librdkafka
 * itself, renamed and converted keys, stores, JAAS, warnings for names with no equivalent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clientconf.h"
#include "rk.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct xl {
    km_props_t in, out;
    km_diag_t d;
    int errors;
} xl_t;

static void run(xl_t *x, km_client_role_t role) { x->errors = km_clientconf_translate(&x->in, role, "f.properties", &x->out, &x->d); }

static void done(xl_t *x) {
    km_props_free(&x->in);
    km_props_free(&x->out);
    km_diag_free(&x->d);
}

static bool warned(const xl_t *x, const char *frag) {
    for (size_t i = 0; i < x->d.nwarnings; i++)
        if (strstr(x->d.warnings[i], frag)) return true;
    return false;
}

static bool errored(const xl_t *x, const char *frag) {
    for (size_t i = 0; i < x->d.nerrors; i++)
        if (strstr(x->d.errors[i], frag)) return true;
    return false;
}

static void test_pass_through_and_invalid(void **state) {
    xl_t x = {0};
    km_props_set(&x.in, "bootstrap.servers", "h:9092", 1);
    km_props_set(&x.in, "compression.type", "zstd", 2);
    km_props_set(&x.in, "linger.ms", "bogus", 3);
    run(&x, KM_CLIENT_PRODUCER);
    assert_string_equal(km_props_get(&x.out, "bootstrap.servers"), "h:9092");
    assert_string_equal(km_props_get(&x.out, "compression.type"), "zstd");
    assert_null(km_props_get(&x.out, "linger.ms"));
    assert_int_equal(x.errors, 1);
    assert_true(errored(&x, "f.properties:3: invalid value for 'linger.ms'"));
    done(&x);
}

static void test_unit_conversions(void **state) {
    xl_t x = {0};
    km_props_set(&x.in, "buffer.memory", "32768", 1);          /* ops guide: 32 KB */
    km_props_set(&x.in, "max.request.size", "2097152", 2);
    km_props_set(&x.in, "send.buffer.bytes", "-1", 3);         /* Java: OS default */
    km_props_set(&x.in, "socket.receive.buffer.bytes", "1048576", 4); /* ops guide §6.2 */
    run(&x, KM_CLIENT_PRODUCER);
    assert_int_equal(x.errors, 0);
    assert_string_equal(km_props_get(&x.out, "queue.buffering.max.kbytes"), "32");
    assert_string_equal(km_props_get(&x.out, "message.max.bytes"), "2097152");
    assert_string_equal(km_props_get(&x.out, "socket.send.buffer.bytes"), "0");
    assert_string_equal(km_props_get(&x.out, "socket.receive.buffer.bytes"), "1048576");
    done(&x);
    xl_t y = {0};
    km_props_set(&y.in, "buffer.memory", "1000", 1);
    run(&y, KM_CLIENT_PRODUCER);
    assert_string_equal(km_props_get(&y.out, "queue.buffering.max.kbytes"), "1"); /* rounded up */
    done(&y);
}

static void test_consumer_renames(void **state) {
    xl_t x = {0};
    km_props_set(&x.in, "fetch.max.wait.ms", "100", 1);
    km_props_set(&x.in, "auto.offset.reset", "none", 2);
    km_props_set(&x.in, "request.timeout.ms", "20000", 3);
    km_props_set(&x.in, "max.poll.records", "500", 4);
    km_props_set(&x.in, "key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer", 5);
    run(&x, KM_CLIENT_CONSUMER);
    assert_string_equal(km_props_get(&x.out, "fetch.wait.max.ms"), "100");
    assert_string_equal(km_props_get(&x.out, "auto.offset.reset"), "error");
    assert_string_equal(km_props_get(&x.out, "socket.timeout.ms"), "20000");
    assert_null(km_props_get(&x.out, "max.poll.records"));
    assert_true(warned(&x, "f.properties:4: 'max.poll.records' has no librdkafka equivalent"));
    assert_true(warned(&x, "'key.deserializer' has no librdkafka equivalent and is ignored: kmirror copies raw bytes"));
    assert_string_equal(km_props_get(&x.out, "queued.min.messages"), "1000000");
    done(&x);
}

static void test_producer_defaults(void **state) {
    xl_t x = {0};
    run(&x, KM_CLIENT_PRODUCER);
    assert_string_equal(km_props_get(&x.out, "enable.idempotence"), "true");
    assert_string_equal(km_props_get(&x.out, "acks"), "all");
    assert_false(warned(&x, "acks"));
    done(&x);
    xl_t y = {0};
    km_props_set(&y.in, "acks", "1", 1);
    run(&y, KM_CLIENT_PRODUCER);
    assert_string_equal(km_props_get(&y.out, "acks"), "1");
    assert_string_equal(km_props_get(&y.out, "enable.idempotence"), "false");
    /* what acks=1 gives up is said where the key is (check-config and the start log print it) */
    assert_true(warned(&y, "f.properties:1: acks=1 gives up what acks=all guarantees"));
    done(&y);
    /* acks=0: no delivery report would carry an offset, and positions would never move */
    xl_t z = {0};
    km_props_set(&z.in, "acks", "0", 1);
    run(&z, KM_CLIENT_PRODUCER);
    assert_int_equal(z.errors, 1);
    assert_true(errored(&z, "f.properties:1: acks=0: the target would acknowledge nothing"));
    done(&z);
}

static void test_jaas(void **state) {
    xl_t x = {0};
    km_props_set(&x.in, "sasl.mechanism", "SCRAM-SHA-512", 1);
    km_props_set(&x.in, "security.protocol", "SASL_SSL", 2);
    km_props_set(&x.in, "sasl.jaas.config",
                 "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3\\\"cret\";", 3);
    run(&x, KM_CLIENT_CONSUMER);
    assert_int_equal(x.errors, 0);
    assert_string_equal(km_props_get(&x.out, "sasl.username"), "alice");
    assert_string_equal(km_props_get(&x.out, "sasl.password"), "s3\"cret");
    assert_null(km_props_get(&x.out, "sasl.jaas.config"));
    done(&x);
    xl_t y = {0};
    km_props_set(&y.in, "sasl.jaas.config", "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/etc/k.keytab\" principal=\"mm2@EX.COM\";", 1);
    run(&y, KM_CLIENT_ADMIN);
    assert_string_equal(km_props_get(&y.out, "sasl.kerberos.keytab"), "/etc/k.keytab");
    assert_string_equal(km_props_get(&y.out, "sasl.kerberos.principal"), "mm2@EX.COM");
    done(&y);
}

static char *write_tmp(const char *name, const void *data, size_t len) {
    char *path = km_xasprintf("/tmp/kmirror-test-%d-%s", (int)getpid(), name);
    FILE *fp = fopen(path, "wb");
    fwrite(data, 1, len, fp);
    fclose(fp);
    return path;
}

static void test_stores(void **state) {
    static const unsigned char jks[] = {0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2};
    const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    char *jks_path = write_tmp("trust.store", jks, sizeof(jks)); /* no telling extension: sniffed */
    char *pem_path = write_tmp("trust.pem", pem, sizeof(pem) - 1);
    xl_t x = {0};
    km_props_set(&x.in, "ssl.truststore.location", jks_path, 7);
    run(&x, KM_CLIENT_PRODUCER);
    assert_int_equal(x.errors, 1);
    assert_true(errored(&x, "f.properties:7: ssl.truststore.location"));
    assert_true(errored(&x, "truncated JKS store"));
    done(&x);
    xl_t y = {0};
    km_props_set(&y.in, "ssl.truststore.location", pem_path, 1);
    km_props_set(&y.in, "ssl.keystore.location", "/nonexistent/client.p12", 2);
    km_props_set(&y.in, "ssl.keystore.password", "pw", 3);
    run(&y, KM_CLIENT_PRODUCER);
    assert_string_equal(km_props_get(&y.out, "ssl.ca.location"), pem_path);
    /* Stores are read when the configuration is, so a missing one is a file:line error. */
    assert_int_equal(y.errors, 1);
    assert_true(errored(&y, "f.properties:2: ssl.keystore.location = /nonexistent/client.p12: cannot open it: No such file"));
    assert_null(km_props_get(&y.out, "ssl.keystore.password"));
    done(&y);
    unlink(jks_path);
    unlink(pem_path);
    free(jks_path);
    free(pem_path);
}

static void test_conf_new(void **state) {
    km_props_t p = {0};
    km_props_set(&p, "bootstrap.servers", "h:1", 0);
    char err[256];
    rd_kafka_conf_t *c = km_clientconf_new(&p, err, sizeof(err));
    assert_non_null(c);
    char v[16];
    size_t n = sizeof(v);
    assert_int_equal(rd_kafka_conf_get(c, "socket.nagle.disable", v, &n), RD_KAFKA_CONF_OK);
    assert_string_equal(v, "true"); /* as Java's clients: TCP_NODELAY */
    rd_kafka_conf_destroy(c);
    km_props_set(&p, "socket.nagle.disable", "false", 0);
    c = km_clientconf_new(&p, err, sizeof(err));
    n = sizeof(v);
    assert_int_equal(rd_kafka_conf_get(c, "socket.nagle.disable", v, &n), RD_KAFKA_CONF_OK);
    assert_string_equal(v, "false");
    rd_kafka_conf_destroy(c);
    km_props_set(&p, "no.such.property", "x", 0);
    assert_null(km_clientconf_new(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "no.such.property"));
    km_props_free(&p);
}

/* The ops guide's buffers for a high-latency link, in both spellings, end up in the librdkafka
 * configuration the consumer is created from (not only in the translated properties). */
static void test_socket_buffers_reach_librdkafka(void **state) {
    const char *names[][2] = {{"receive.buffer.bytes", "send.buffer.bytes"},
                              {"socket.receive.buffer.bytes", "socket.send.buffer.bytes"}};
    for (int i = 0; i < 2; i++) {
        xl_t x = {0};
        km_props_set(&x.in, names[i][0], "4194304", 1);
        km_props_set(&x.in, names[i][1], "2097152", 2);
        run(&x, KM_CLIENT_CONSUMER);
        assert_int_equal(x.errors, 0);
        char err[256], v[64];
        size_t n = sizeof(v);
        rd_kafka_conf_t *c = km_clientconf_new(&x.out, err, sizeof(err));
        assert_non_null(c);
        assert_int_equal(rd_kafka_conf_get(c, "socket.receive.buffer.bytes", v, &n), RD_KAFKA_CONF_OK);
        assert_string_equal(v, "4194304");
        n = sizeof(v);
        assert_int_equal(rd_kafka_conf_get(c, "socket.send.buffer.bytes", v, &n), RD_KAFKA_CONF_OK);
        assert_string_equal(v, "2097152");
        rd_kafka_conf_destroy(c);
        done(&x);
    }
}

static void test_offset_syncs_defaults(void **state) {
    xl_t x = {0};
    run(&x, KM_CLIENT_PRODUCER);
    km_clientconf_offset_syncs_defaults(&x.in, &x.out);
    assert_string_equal(km_props_get(&x.out, "enable.idempotence"), "false");
    assert_string_equal(km_props_get(&x.out, "max.in.flight.requests.per.connection"), "1");
    assert_string_equal(km_props_get(&x.out, "acks"), "all");
    done(&x);
    /* the user's choice wins */
    const char *keys[] = {"enable.idempotence", "max.in.flight.requests.per.connection", "max.in.flight"};
    const char *vals[] = {"true", "5", "3"};
    for (int i = 0; i < 3; i++) {
        xl_t y = {0};
        km_props_set(&y.in, keys[i], vals[i], 1);
        run(&y, KM_CLIENT_PRODUCER);
        km_clientconf_offset_syncs_defaults(&y.in, &y.out);
        assert_string_equal(km_props_get(&y.out, "enable.idempotence"), "true");
        if (i > 0) assert_string_equal(km_props_get(&y.out, keys[i]), vals[i]);
        else assert_null(km_props_get(&y.out, "max.in.flight.requests.per.connection"));
        done(&y);
    }
}

static void test_replication_consumer_defaults(void **state) {
    xl_t x = {0};
    run(&x, KM_CLIENT_CONSUMER);
    km_clientconf_replication_consumer_defaults(&x.in, &x.out, 256LL << 20, 256LL << 20);
    assert_string_equal(km_props_get(&x.out, "max.partition.fetch.bytes"), "4194304");
    /* the prefetch share: half of it (at most 64 MiB) for the bytes, half for 320 B of
     * bookkeeping per record */
    assert_string_equal(km_props_get(&x.out, "queued.max.messages.kbytes"), "65536");
    assert_string_equal(km_props_get(&x.out, "queued.min.messages"), "419430");
    /* a response lands on top of the queue: a quarter of the share, at most librdkafka's 50 MiB */
    assert_string_equal(km_props_get(&x.out, "fetch.max.bytes"), "52428800");
    done(&x);
    xl_t u = {0}; /* 128 MiB: 64 MiB of prefetch */
    run(&u, KM_CLIENT_CONSUMER);
    km_clientconf_replication_consumer_defaults(&u.in, &u.out, 64LL << 20, 64LL << 20);
    assert_string_equal(km_props_get(&u.out, "fetch.max.bytes"), "16777216");
    assert_string_equal(km_props_get(&u.out, "max.partition.fetch.bytes"), "4194304");
    done(&u);
    xl_t y = {0}; /* a small budget: an eighth of it */
    run(&y, KM_CLIENT_CONSUMER);
    km_clientconf_replication_consumer_defaults(&y.in, &y.out, 16LL << 20, 1LL << 20);
    /* and no more than the response, itself at least 1 MiB */
    assert_string_equal(km_props_get(&y.out, "fetch.max.bytes"), "1048576");
    assert_string_equal(km_props_get(&y.out, "max.partition.fetch.bytes"), "1048576");
    /* a small share: floors of 1 MiB and 10,000 records */
    assert_string_equal(km_props_get(&y.out, "queued.max.messages.kbytes"), "1024");
    assert_string_equal(km_props_get(&y.out, "queued.min.messages"), "10000");
    done(&y);
    xl_t z = {0}; /* the user's fetch.max.bytes caps it; their max.partition.fetch.bytes wins */
    km_props_set(&z.in, "fetch.max.bytes", "3000000", 1);
    run(&z, KM_CLIENT_CONSUMER);
    km_clientconf_replication_consumer_defaults(&z.in, &z.out, 256LL << 20, 256LL << 20);
    assert_string_equal(km_props_get(&z.out, "max.partition.fetch.bytes"), "3000000");
    assert_string_equal(km_props_get(&z.out, "fetch.max.bytes"), "3000000");
    done(&z);
    xl_t w = {0};
    km_props_set(&w.in, "max.partition.fetch.bytes", "65536", 1);
    run(&w, KM_CLIENT_CONSUMER);
    km_clientconf_replication_consumer_defaults(&w.in, &w.out, 256LL << 20, 256LL << 20);
    assert_string_equal(km_props_get(&w.out, "max.partition.fetch.bytes"), "65536");
    done(&w);
    xl_t t = {0}; /* a user-raised max.partition.fetch.bytes is not capped by the derived response */
    km_props_set(&t.in, "max.partition.fetch.bytes", "33554432", 1);
    run(&t, KM_CLIENT_CONSUMER);
    km_clientconf_replication_consumer_defaults(&t.in, &t.out, 64LL << 20, 64LL << 20);
    assert_string_equal(km_props_get(&t.out, "max.partition.fetch.bytes"), "33554432");
    assert_string_equal(km_props_get(&t.out, "fetch.max.bytes"), "33554432");
    done(&t);
    xl_t v = {0}; /* never below librdkafka's 1 MiB default */
    run(&v, KM_CLIENT_CONSUMER);
    km_clientconf_replication_consumer_defaults(&v.in, &v.out, 2LL << 20, 8LL << 30);
    assert_null(km_props_get(&v.out, "max.partition.fetch.bytes"));
    assert_string_equal(km_props_get(&v.out, "queued.min.messages"), "1000000"); /* a huge share: 1 M records at most */
    done(&v);
}

/* librdkafka's own lines (2.0.2's wording, the second as a Kafka 4 broker without Kerberos
 * answered it) get the hint that says what to change; a network fault gets none. */
static void test_security_hints(void **state) {
    const char *h = km_rk_security_hint("sasl_ssl://b:9093/bootstrap: Failed to initialize SASL authentication: SASL GSSAPI "
                                        "authentication not supported by broker (after 3ms in state AUTH_REQ)");
    assert_non_null(h);
    assert_non_null(strstr(h, "librdkafka before 2.11.0 cannot use SASL/GSSAPI"));
    h = km_rk_security_hint("SASL GSSAPI mechanism handshake failed: Broker: Unsupported SASL mechanism: broker's supported "
                            "mechanisms: SCRAM-SHA-512,PLAIN (after 302ms in state AUTH_HANDSHAKE)");
    assert_non_null(h);
    assert_non_null(strstr(h, "check sasl.mechanism"));
    assert_null(km_rk_security_hint("Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_through_and_invalid), cmocka_unit_test(test_unit_conversions),
        cmocka_unit_test(test_consumer_renames),         cmocka_unit_test(test_producer_defaults),
        cmocka_unit_test(test_jaas),                     cmocka_unit_test(test_stores),
        cmocka_unit_test(test_conf_new),                 cmocka_unit_test(test_socket_buffers_reach_librdkafka),
        cmocka_unit_test(test_offset_syncs_defaults),    cmocka_unit_test(test_replication_consumer_defaults),
        cmocka_unit_test(test_security_hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
