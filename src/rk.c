/* rk.c — see rk.h. */
#include "rk.h"

#include "clientconf.h"
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

/* librdkafka uses syslog levels (3 error, 4 warning, 6 info, 7 debug). Its "errors" are mostly
 * transient connection trouble it retries by itself, so they are warnings here; its info lines
 * are chatty connection notices, shown only with -v. */
/* Whether the same hint was logged for the same client in the last 30 s: librdkafka retries every
 * second or so, and one error line per cause and client is enough to act on. */
static bool repeated(const rd_kafka_t *rk, const char *hint) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static struct {
        const rd_kafka_t *rk;
        const char *hint;
        time_t at;
    } seen[32];
    static size_t next;
    time_t now = time(NULL);
    bool rep = false;
    pthread_mutex_lock(&lock);
    size_t i;
    for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
        if (seen[i].rk == rk && seen[i].hint == hint) break;
    if (i < sizeof(seen) / sizeof(seen[0]) && now - seen[i].at < 30) rep = true;
    else {
        if (i == sizeof(seen) / sizeof(seen[0])) i = next++ % (sizeof(seen) / sizeof(seen[0]));
        seen[i].rk = rk, seen[i].hint = hint, seen[i].at = now;
    }
    pthread_mutex_unlock(&lock);
    return rep;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    const char *hint = level <= 5 ? km_rk_security_hint(buf) : NULL;
    if (hint && !repeated(rk, hint)) { /* the configuration, not the network: an error saying what to fix */
        char servers[512] = "";
        size_t n = sizeof(servers);
        rd_kafka_conf_get(rd_kafka_conf((rd_kafka_t *)rk), "bootstrap.servers", servers, &n);
        km_log(KM_LOG_ERROR, "cluster at %s (client %s): %s: %s", servers, rd_kafka_name(rk), hint, buf);
        return;
    }
    if (hint) level = 7;
    km_log_level_t l = level <= 2 ? KM_LOG_ERROR : level <= 5 ? KM_LOG_WARN : KM_LOG_DEBUG;
    km_log(l, "librdkafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* librdkafka reports TLS and SASL failures as connection failures and retries them forever, in
 * OpenSSL's words. These are the ones a configuration causes, with the keys that fix them. */
const char *km_rk_security_hint(const char *msg) {
    static const struct {
        const char *needle, *hint;
    } hints[] = {
        {"Unsupported SASL mechanism", "the broker does not offer this SASL mechanism: check sasl.mechanism"},
        {"invalid credentials with SASL mechanism SCRAM",
         "SASL/SCRAM authentication failed: check sasl.jaas.config's username and password and sasl.mechanism "
         "(librdkafka before 2.6.1 cannot use SCRAM with Kafka 4.0 or newer brokers at all: use PLAIN over SASL_SSL there)"},
        /* librdkafka 2.0.2 takes JoinGroup v0 as the broker's sign of GSSAPI support; brokers
         * that dropped it (KIP-896) get no GSSAPI from it at all (#4948, fixed in 2.11.0). */
        {"SASL GSSAPI authentication not supported by broker",
         "librdkafka before 2.11.0 cannot use SASL/GSSAPI (Kerberos) with a broker that no longer accepts JoinGroup v0 "
         "(KIP-896): use PLAIN over SASL_SSL or mutual TLS with it, or build kmirror against a newer librdkafka"},
        {"SASL authentication error", "SASL authentication failed: check sasl.jaas.config's username and password and sasl.mechanism"},
        /* OpenSSL's verification results, which verify_cb puts into librdkafka's messages. */
        {"hostname mismatch", "the broker's TLS certificate does not name the host in bootstrap.servers: connect by a name or address "
                              "in its subjectAltName (ssl.endpoint.identification.algorithm = https checks it, as Java does)"},
        {"IP address mismatch", "the broker's TLS certificate does not name the address in bootstrap.servers: connect by a name or "
                                "address in its subjectAltName (ssl.endpoint.identification.algorithm = https checks it, as Java does)"},
        {"certificate has expired", "the broker's TLS certificate has expired (or this machine's clock is wrong): renew it on the broker"},
        {"certificate is not yet valid", "the broker's TLS certificate is not valid yet (or this machine's clock is wrong)"},
        {"local issuer certificate", "the broker's TLS certificate is not signed by a CA in ssl.truststore.location: add its CA to the trust store"},
        {"self-signed certificate", "the broker's TLS certificate is not signed by a CA in ssl.truststore.location: add its CA to the trust store"},
        {"self signed certificate", "the broker's TLS certificate is not signed by a CA in ssl.truststore.location: add its CA to the trust store"},
        {"certificate verify failed", "the broker's TLS certificate could not be verified: check ssl.truststore.location"},
        /* TLS alerts from a broker that refuses the client certificate. */
        {"alert certificate expired", "the broker refused the client certificate because it has expired: renew the certificate in ssl.keystore.location"},
        {"alert unknown ca", "the broker does not trust the CA of the client certificate in ssl.keystore.location"},
        {"alert bad certificate", "the broker refused the client certificate in ssl.keystore.location"},
        {"alert certificate unknown", "the broker refused the client certificate in ssl.keystore.location (expired, or not signed by a CA it trusts)"},
        {"alert certificate required", "the broker requires a client certificate: set ssl.keystore.location (mutual TLS)"},
        {"alert handshake failure", "the TLS handshake failed: check ssl.keystore.location, ssl.truststore.location and security.protocol"},
        {"wrong version number", "the listener does not speak TLS: check security.protocol and the port in bootstrap.servers"},
    };
    for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
        if (strcasestr(msg, hints[i].needle)) return hints[i].hint;
    return NULL;
}

/* Keeps OpenSSL's verdict on the broker's certificate, but puts the reason into librdkafka's
 * message, which otherwise says only "certificate verify failed" whether the CA is unknown, the
 * certificate expired or the host name does not match. */
static int verify_cb(rd_kafka_t *rk, const char *broker_name, int32_t broker_id, int *x509_error, int depth,
                     const char *buf, size_t size, char *errstr, size_t errstr_size, void *opaque) {
    if (*x509_error == X509_V_OK) return 1;
    snprintf(errstr, errstr_size, "broker %s certificate (depth %d): %s", broker_name, depth,
             X509_verify_cert_error_string(*x509_error));
    return 0;
}

rd_kafka_conf_t *km_rk_conf(const km_props_t *props, char *errstr, size_t errlen) {
    rd_kafka_conf_t *conf = km_clientconf_new(props, errstr, errlen);
    if (!conf) return NULL;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    const char *proto = km_props_get(props, "security.protocol");
    if (proto && strcasestr(proto, "SSL")) rd_kafka_conf_set_ssl_cert_verify_cb(conf, verify_cb);
    return conf;
}

void km_rk_conf_plain_producer(rd_kafka_conf_t *conf) {
    rd_kafka_conf_set(conf, "enable.idempotence", "false", NULL, 0);
    rd_kafka_conf_set(conf, "max.in.flight.requests.per.connection", "1", NULL, 0);
}

rd_kafka_t *km_rk_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errlen) {
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errlen);
    if (!rk) rd_kafka_conf_destroy(conf);
    return rk;
}

/* The layout read here (rdkafka_msgset_reader.c): a v2 record is [length][attributes]
 * [timestamp delta][offset delta][key length][key][value length][value][header count][headers],
 * lengths and counts as zigzag varints, the value pointing into the fetched (or decompressed)
 * batch; at least six bytes of the record precede the value and the header count follows it, so
 * every byte read lies in the record. A v0/v1 message ends with an INT32 value length and the
 * value, and the byte after it is another message's or none: there, the bytes before the value
 * never read as the varint of its length (a varint's bytes before its last carry the high bit,
 * which the INT32's cannot below 2^31; a one-byte varint is twice the length), so the check says
 * false without reading past the value. */
bool km_rk_no_headers(const rd_kafka_message_t *m) {
    if (!m->payload || m->len == 0 || m->len > INT32_MAX) return false; /* an empty value is a static "" */
    const unsigned char *v = m->payload;
    if (m->len < 64) return v[-1] == (unsigned char)(m->len << 1) && v[m->len] == 0; /* a one-byte varint */
    unsigned char zz[5];
    size_t n = 0;
    for (uint64_t z = (uint64_t)m->len << 1;; z >>= 7) {
        zz[n++] = (unsigned char)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
        if (z <= 0x7f) break;
    }
    return memcmp(v - n, zz, n) == 0 && v[m->len] == 0;
}

bool km_rk_fetch_layout_known(void) {
    int v = rd_kafka_version();
    return v >= 0x02000000 && v < 0x02100000; /* 2.0.0 to 2.15.x read */
}
