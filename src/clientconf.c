/* clientconf.c — see clientconf.h.
 *
 * Order of work for one client: (1) stores and JAAS, which expand one Java key into several
 * librdkafka keys; (2) a table of renamed/converted keys; (3) everything else is offered to
 * librdkafka as is — librdkafka answers whether it knows the name and whether the value is
 * valid, so there is no hand-kept list of pass-through names to go stale; (4) defaults. */
#include "clientconf.h"

#include "keystore.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


const char *km_client_role_name(km_client_role_t role) {
    switch (role) {
    case KM_CLIENT_CONSUMER: return "consumer";
    case KM_CLIENT_PRODUCER: return "producer";
    default: return "admin";
    }
}

typedef struct xlate {
    const km_props_t *java;
    km_client_role_t role;
    const char *file; /* configuration file name, for file:line */
    char where[512];
    km_props_t *out;
    km_diag_t *d;
    int errors;
} xlate_t;

#define XERR(x, ...) ((x)->errors++, km_diag_error((x)->d, __VA_ARGS__))

static const char *jget(const xlate_t *x, const char *key) { return km_props_get(x->java, key); }

/* "FILE:LINE: " of `key` in the configuration, or "FILE: <role> client: " for derived keys. */
static const char *at(xlate_t *x, const char *key) {
    const km_prop_t *p = km_props_find(x->java, key);
    if (p && p->line > 0) snprintf(x->where, sizeof(x->where), "%s:%d: ", x->file, p->line);
    else snprintf(x->where, sizeof(x->where), "%s: %s client: ", x->file, km_client_role_name(x->role));
    return x->where;
}

/* ---- SSL stores ------------------------------------------------------------------------------ */

/* Explicit ssl.*store.type first; else the file's first bytes; else its extension. */
static km_store_type_t store_type(const char *type, const char *path) {
    return type && *type ? km_store_type_parse(type) : km_store_type_sniff(path);
}

/* Reports a store that failed to load: the key to look at and what to do. */
static void store_error(xlate_t *x, bool trust, const char *path, km_store_err_t e, const char *why) {
    const char *loc = trust ? "ssl.truststore.location" : "ssl.keystore.location";
    const char *pass = trust ? "ssl.truststore.password" : "ssl.keystore.password";
    const char *tkey = trust ? "ssl.truststore.type" : "ssl.keystore.type";
    switch (e) {
    case KM_STORE_EINTEGRITY:
        XERR(x, "%s%s: %s = %s: %s; check %s (keytool -list -keystore %s asks for it)", at(x, pass), pass, loc, path, why,
             pass, path);
        break;
    case KM_STORE_EKEYPASS: {
        const char *k = jget(x, "ssl.key.password") ? "ssl.key.password" : "ssl.keystore.password";
        XERR(x, "%s%s: %s = %s: %s; set %s to the password the key was stored with (keytool -keypass)", at(x, k), k, loc,
             path, why, k);
        break;
    }
    case KM_STORE_EUNSUPPORTED:
        XERR(x, "%s%s = %s: %s; convert it to PKCS#12: keytool -importkeystore -srckeystore %s -destkeystore %s.p12 "
                "-deststoretype PKCS12, then set %s = %s.p12 and %s = PKCS12",
             at(x, loc), loc, path, why, path, path, loc, path, tkey);
        break;
    default: XERR(x, "%s%s = %s: %s", at(x, loc), loc, path, why); break;
    }
}

/* Reads a JKS or PKCS#12 store into `st`; false after reporting an error. */
static bool load_store(xlate_t *x, bool trust, const char *path, km_store_type_t type, km_store_t *st) {
    const char *pass = jget(x, trust ? "ssl.truststore.password" : "ssl.keystore.password");
    char why[512];
    km_store_err_t e;
    if (type == KM_STORE_JCEKS)
        e = KM_STORE_EUNSUPPORTED, snprintf(why, sizeof(why), "a JCEKS store, which kmirror does not read");
    else
        e = km_store_load(path, type, pass, trust ? NULL : jget(x, "ssl.key.password"), !trust, st, why, sizeof(why));
    if (e != KM_STORE_OK) store_error(x, trust, path, e, why);
    return e == KM_STORE_OK;
}

static void truststore(xlate_t *x) {
    const char *path = jget(x, "ssl.truststore.location");
    const char *pem = jget(x, "ssl.truststore.certificates");
    if (pem) km_props_set(x->out, "ssl.ca.pem", pem, 0);
    if (!path || !*path) return;
    km_store_type_t type = store_type(jget(x, "ssl.truststore.type"), path);
    km_store_t st = {0};
    if (type == KM_STORE_PEM) {
        km_props_set(x->out, "ssl.ca.location", path, 0);
    } else if (type == KM_STORE_UNKNOWN) {
        XERR(x, "%sssl.truststore.type = %s is not supported; use JKS, PKCS12 or PEM", at(x, "ssl.truststore.type"),
             jget(x, "ssl.truststore.type"));
    } else if (load_store(x, true, path, type, &st)) {
        if (!st.ca_pem)
            XERR(x, "%sssl.truststore.location = %s holds no certificate; add the CA with keytool -importcert -keystore %s -file ca.crt",
                 at(x, "ssl.truststore.location"), path, path);
        else km_props_set(x->out, "ssl.ca.pem", st.ca_pem, 0);
    }
    km_store_free(&st);
}

static void keystore(xlate_t *x) {
    const char *path = jget(x, "ssl.keystore.location");
    const char *key_pass = jget(x, "ssl.key.password");
    if (jget(x, "ssl.keystore.key")) km_props_set(x->out, "ssl.key.pem", jget(x, "ssl.keystore.key"), 0);
    if (jget(x, "ssl.keystore.certificate.chain"))
        km_props_set(x->out, "ssl.certificate.pem", jget(x, "ssl.keystore.certificate.chain"), 0);
    if (!path || !*path) {
        if (key_pass) km_props_set(x->out, "ssl.key.password", key_pass, 0); /* for ssl.keystore.key */
        return;
    }
    km_store_type_t type = store_type(jget(x, "ssl.keystore.type"), path);
    km_store_t st = {0};
    if (type == KM_STORE_PEM) { /* Java's PEM keystore holds the key and its certificate chain in one file. */
        km_props_set(x->out, "ssl.key.location", path, 0);
        km_props_set(x->out, "ssl.certificate.location", path, 0);
        if (key_pass) km_props_set(x->out, "ssl.key.password", key_pass, 0);
    } else if (type == KM_STORE_UNKNOWN) {
        XERR(x, "%sssl.keystore.type = %s is not supported; use JKS, PKCS12 or PEM", at(x, "ssl.keystore.type"), jget(x, "ssl.keystore.type"));
    } else if (load_store(x, false, path, type, &st)) {
        if (st.nkeys != 1 || !st.key_pem || !st.cert_pem)
            XERR(x, "%sssl.keystore.location = %s holds %d private keys; kmirror presents exactly one: keep only the client's "
                    "(keytool -list -keystore %s shows them, keytool -delete -alias removes one)",
                 at(x, "ssl.keystore.location"), path, st.nkeys, path);
        else {
            km_props_set(x->out, "ssl.key.pem", st.key_pem, 0);
            km_props_set(x->out, "ssl.certificate.pem", st.cert_pem, 0);
            int n = km_store_intermediates(st.cert_pem);
            /* librdkafka before 2.8 (issue #3225) sends only the first certificate of
             * ssl.certificate.pem; Java sends the whole chain. A root CA in the chain does not
             * matter (the broker must trust it anyway); an intermediate does. */
            if (n > 0)
                km_diag_warn(x->d, "%sssl.keystore.location = %s: the key's certificate chain has %d intermediate "
                                   "CA certificate(s), and librdkafka sends only the first certificate from memory: the brokers' trust stores must hold them",
                             at(x, "ssl.keystore.location"), path, n);
        }
    }
    km_store_free(&st);
}

/* ---- JAAS ------------------------------------------------------------------------------------ */

/* Value of option `name` in a JAAS line: name="value" or name=value (Java's JaasConfig
 * tokenizer accepts both). NULL when absent. */
static char *jaas_option(const char *jaas, const char *name) {
    size_t n = strlen(name);
    for (const char *p = jaas; (p = strstr(p, name)); p += n) {
        if (p > jaas && !isspace((unsigned char)p[-1])) continue;
        const char *q = p + n;
        while (isspace((unsigned char)*q)) q++;
        if (*q != '=') continue;
        q++;
        while (isspace((unsigned char)*q)) q++;
        if (*q == '"') {
            char *out = km_xmalloc(strlen(q));
            size_t o = 0;
            for (q++; *q && *q != '"'; q++) out[o++] = (*q == '\\' && q[1]) ? *++q : *q;
            out[o] = '\0';
            return out;
        }
        size_t len = strcspn(q, " \t\r\n;");
        return km_xstrndup(q, len);
    }
    return NULL;
}

static void set_opt(xlate_t *x, const char *jaas, const char *opt, const char *rkkey) {
    char *v = jaas_option(jaas, opt);
    if (v) km_props_set(x->out, rkkey, v, 0);
    free(v);
}

static void jaas(xlate_t *x) {
    const char *j = jget(x, "sasl.jaas.config");
    if (!j) return;
    if (strstr(j, "PlainLoginModule") || strstr(j, "ScramLoginModule")) {
        set_opt(x, j, "username", "sasl.username");
        set_opt(x, j, "password", "sasl.password");
        if (!km_props_find(x->out, "sasl.username"))
            XERR(x, "%ssasl.jaas.config has no username=\"...\" option", at(x, "sasl.jaas.config"));
    } else if (strstr(j, "Krb5LoginModule")) {
        set_opt(x, j, "keyTab", "sasl.kerberos.keytab");
        set_opt(x, j, "principal", "sasl.kerberos.principal");
    } else if (strstr(j, "OAuthBearerLoginModule")) {
        char *id = jaas_option(j, "clientId");
        if (id) {
            km_props_set(x->out, "sasl.oauthbearer.method", "oidc", 0);
            km_props_set(x->out, "sasl.oauthbearer.client.id", id, 0);
            set_opt(x, j, "clientSecret", "sasl.oauthbearer.client.secret");
            set_opt(x, j, "scope", "sasl.oauthbearer.scope");
        } else {
            char *sub = jaas_option(j, "unsecuredLoginStringClaim_sub");
            char *cfgv = km_xasprintf("principal=%s", sub ? sub : "admin");
            km_props_set(x->out, "sasl.oauthbearer.config", cfgv, 0);
            km_props_set(x->out, "enable.sasl.oauthbearer.unsecure.jwt", "true", 0);
            free(cfgv);
            free(sub);
        }
        free(id);
    } else {
        km_diag_warn(x->d, "%ssasl.jaas.config names a login module kmirror cannot translate; supported: PlainLoginModule, ScramLoginModule, Krb5LoginModule, OAuthBearerLoginModule",
                     at(x, "sasl.jaas.config"));
    }
}

/* ---- renamed and converted keys ------------------------------------------------------------ */

/* Java bytes → librdkafka kilobytes, rounded up. */
static char *bytes_to_kb(const char *v) {
    long long b = strtoll(v, NULL, 10);
    long long kb = b <= 0 ? 1 : (b + 1023) / 1024;
    return km_xasprintf("%lld", kb);
}

/* Java's -1 = "the OS default" is librdkafka's 0. */
static char *socket_buffer(const char *v) {
    long long b = strtoll(v, NULL, 10);
    return km_xasprintf("%lld", b < 0 ? 0 : b);
}

static char *offset_reset(const char *v) { return km_xstrdup(strcasecmp(v, "none") == 0 ? "error" : v); }

static char *endpoint_id(const char *v) { return km_xstrdup(*v ? v : "none"); }

typedef struct rename {
    const char *java, *rk;
    char *(*convert)(const char *value); /* NULL = same value */
    int roles;                           /* bit mask of roles; 0 = all */
} rename_t;

#define R_CONS (1 << KM_CLIENT_CONSUMER)
#define R_PROD (1 << KM_CLIENT_PRODUCER)
#define R_ADMIN (1 << KM_CLIENT_ADMIN)

static const rename_t renames[] = {
    {"buffer.memory", "queue.buffering.max.kbytes", bytes_to_kb, 0},
    {"max.request.size", "message.max.bytes", NULL, 0},
    {"send.buffer.bytes", "socket.send.buffer.bytes", socket_buffer, 0},
    {"receive.buffer.bytes", "socket.receive.buffer.bytes", socket_buffer, 0},
    {"socket.send.buffer.bytes", "socket.send.buffer.bytes", socket_buffer, 0},
    {"socket.receive.buffer.bytes", "socket.receive.buffer.bytes", socket_buffer, 0},
    {"fetch.max.wait.ms", "fetch.wait.max.ms", NULL, 0},
    {"auto.offset.reset", "auto.offset.reset", offset_reset, 0},
    {"ssl.endpoint.identification.algorithm", "ssl.endpoint.identification.algorithm", endpoint_id, 0},
    /* librdkafka's request.timeout.ms is a producer setting; consumers and admins use
     * socket.timeout.ms for the same purpose. */
    {"request.timeout.ms", "socket.timeout.ms", NULL, R_CONS | R_ADMIN},
};

/* Keys handled above (stores, JAAS) or meaningless for kmirror's byte-for-byte copy. */
static const char *const consumed_keys[] = {
    "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.type", "ssl.truststore.certificates",
    "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.type", "ssl.keystore.key",
    "ssl.keystore.certificate.chain", "ssl.key.password", "sasl.jaas.config",
};

static const char *const no_equivalent_reason[][2] = {
    {"key.serializer", "kmirror copies raw bytes"},
    {"value.serializer", "kmirror copies raw bytes"},
    {"key.deserializer", "kmirror copies raw bytes"},
    {"value.deserializer", "kmirror copies raw bytes"},
    {"max.poll.records", "kmirror consumes in batches of its own size"},
    {"ssl.cipher.suites", "Java and OpenSSL name cipher suites differently; set librdkafka's list through a flow's client keys in OpenSSL syntax"},
};

static int rename_index(const char *key, km_client_role_t role) {
    for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++)
        if (strcmp(key, renames[i].java) == 0 && (renames[i].roles == 0 || (renames[i].roles & (1 << role)))) return (int)i;
    return -1;
}

static bool is_consumed(const char *key) {
    for (size_t i = 0; i < sizeof(consumed_keys) / sizeof(consumed_keys[0]); i++)
        if (strcmp(key, consumed_keys[i]) == 0) return true;
    return false;
}

static const char *no_equivalent(const char *key) {
    for (size_t i = 0; i < sizeof(no_equivalent_reason) / sizeof(no_equivalent_reason[0]); i++)
        if (strcmp(key, no_equivalent_reason[i][0]) == 0) return no_equivalent_reason[i][1];
    return NULL;
}

/* Offers key=value to librdkafka. Unknown names are warned about; invalid values are errors. */
static void offer(xlate_t *x, rd_kafka_conf_t *scratch, const char *java_key, const char *key, const char *value) {
    char err[512];
    rd_kafka_conf_res_t r = rd_kafka_conf_set(scratch, key, value, err, sizeof(err));
    if (r == RD_KAFKA_CONF_OK) {
        km_props_set(x->out, key, value, 0);
    } else if (r == RD_KAFKA_CONF_UNKNOWN) {
        const char *why = no_equivalent(java_key);
        km_diag_warn(x->d, "%s'%s' has no librdkafka equivalent and is ignored%s%s", at(x, java_key),
                     java_key, why ? ": " : "", why ? why : "");
    } else {
        XERR(x, "%sinvalid value for '%s': %s", at(x, java_key), java_key, err);
    }
}

static void add_defaults(xlate_t *x, rd_kafka_conf_t *scratch) {
    switch (x->role) {
    case KM_CLIENT_PRODUCER:
        /* An idempotent producer keeps order and drops retry duplicates; it needs acks=all, so
         * a user who lowers acks gets a non-idempotent producer rather than a start-up error. */
        {
            const char *acks = km_props_get(x->out, "acks");
            bool all = !acks || strcmp(acks, "all") == 0 || strcmp(acks, "-1") == 0;
            if (!km_props_find(x->out, "enable.idempotence"))
                offer(x, scratch, "enable.idempotence", "enable.idempotence", all ? "true" : "false");
            /* Without an answer from the target no delivery report has an offset, and kmirror
             * reads a record reported without one again (task.c): it would never get on. */
            if (acks && strcmp(acks, "0") == 0)
                XERR(x, "%sacks=0: the target would acknowledge nothing, and kmirror moves a position only over records "
                        "the target acknowledged; use acks=all (or 1)", at(x, "acks"));
            else if (!all)
                km_diag_warn(x->d, "%sacks=%s gives up what acks=all guarantees: a record the target's leader acknowledged "
                                   "is lost if that broker fails before its followers copy it, and kmirror does not mirror it "
                                   "again; without idempotence a retried batch can also be written twice or out of order "
                                   "(positions still cover only records acknowledged without a gap)",
                             at(x, "acks"), acks);
        }
        if (!km_props_find(x->out, "acks") && !km_props_find(x->out, "request.required.acks"))
            offer(x, scratch, "acks", "acks", "all");
        break;
    case KM_CLIENT_CONSUMER:
        /* librdkafka's default of 100000 queued messages starves a replicator (a raw pipe ran
         * 4x faster with more); memory stays bounded by queued.max.messages.kbytes instead. */
        if (!km_props_find(x->out, "queued.min.messages")) offer(x, scratch, "queued.min.messages", "queued.min.messages", "1000000");
        if (!km_props_find(x->out, "queued.max.messages.kbytes"))
            offer(x, scratch, "queued.max.messages.kbytes", "queued.max.messages.kbytes", "65536");
        break;
    default: break;
    }
}

int km_clientconf_translate(const km_props_t *java, km_client_role_t role, const char *file, km_props_t *out, km_diag_t *d) {
    xlate_t x = {.java = java, .role = role, .file = file, .out = out, .d = d};
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    truststore(&x);
    keystore(&x);
    jaas(&x);
    for (size_t i = 0; i < out->n; i++) rd_kafka_conf_set(scratch, out->items[i].key, out->items[i].value, NULL, 0);
    for (size_t i = 0; i < java->n; i++) {
        const km_prop_t *p = &java->items[i];
        if (is_consumed(p->key)) continue;
        int ri = rename_index(p->key, role);
        if (ri >= 0) {
            char *v = renames[ri].convert ? renames[ri].convert(p->value) : km_xstrdup(p->value);
            offer(&x, scratch, p->key, renames[ri].rk, v);
            free(v);
        } else {
            offer(&x, scratch, p->key, p->key, p->value);
        }
    }
    add_defaults(&x, scratch);
    rd_kafka_conf_destroy(scratch);
    return x.errors;
}

/* librdkafka 2.0.2's idempotent producer busy-polls while a partition has its 5 requests in flight
 * and a queued record is older than linger.ms (its broker thread asks to be woken at the linger
 * deadline, already past, before it finds it may not send). The offset-syncs producer writes one
 * partition on the source cluster: across a 100 ms round trip its broker thread spun for most of
 * every round trip, and kmirror's CPU per record went from 2.4 to 6.8-7.8 µs (1 KB records, 16
 * partitions, bench/results/2026-12-03.md). A non-idempotent producer with one request in flight
 * never reaches that state (a second request waits in the output queue, which stops the partition
 * being served): 2.5 µs/record. Order is kept (one request in flight); a retried batch may write
 * an offset-sync twice, which readers take as the same sync. */
void km_clientconf_offset_syncs_defaults(const km_props_t *java, km_props_t *out) {
    if (km_props_find(java, "enable.idempotence") || km_props_find(java, "max.in.flight.requests.per.connection") ||
        km_props_find(java, "max.in.flight"))
        return;
    km_props_set(out, "enable.idempotence", "false", 0);
    km_props_set(out, "max.in.flight.requests.per.connection", "1", 0);
}

/* The same busy-poll cost the replication producer a quarter to two fifths of its CPU per record: with
 * records queued behind each partition's one request (librdkafka 2.0.2 counts a partition's
 * messages, not its requests, against the idempotent producer's limit of 5), its broker thread
 * spins whenever the connection has no request waiting to be sent (bench/results/2026-12-06.md
 * section 25). With one request in flight per connection, the others wait in the output queue,
 * which stops the spin: 16 partitions, 10 KB records, 6.5-9.0 against 11.3-12.0 µs per record at
 * the same rate or more; 1 KB 2.5 against 2.7 µs; 100 B 11-23% more records/s (section 27). The broker
 * works through one connection's requests one at a time anyway (Kafka Connect, so MM2, gives its
 * producers one in flight too), so what it costs is a round trip to the target per request: on a
 * LAN next to nothing, across a WAN, with librdkafka's one partition per request, most of the
 * rate. So only for a target on the same LAN, and only where idempotence keeps the order either
 * way. There, with the spin gone, records batch behind each partition's request under load, and
 * librdkafka's linger.ms of 5 mostly adds latency at a moderate one (librdkafka lingers per
 * partition, Java's producer sends every partition of a broker once one has lingered): with 2, a
 * paced 5,000 records/s of 1 KB crossed in a median of 3-4 ms instead of 4-15 at 16 partitions
 * (MM2: 4-7), 10-14 ms instead of 11-52 at 256, six rounds each, at the same records/s and about
 * the same CPU on the target broker (2026-12-07.md section 3). */
bool km_clientconf_replication_producer_defaults(const km_props_t *java, km_props_t *out, int64_t rtt_us) {
    if (rtt_us < 0 || rtt_us >= KM_LAN_RTT_US || km_props_find(java, "max.in.flight.requests.per.connection") ||
        km_props_find(java, "max.in.flight"))
        return false;
    const char *idem = km_props_get(out, "enable.idempotence");
    if (!idem || strcmp(idem, "true") != 0) return false;
    km_props_set(out, "max.in.flight.requests.per.connection", "1", 0);
    if (!km_props_find(java, "linger.ms") && !km_props_find(java, "queue.buffering.max.ms")) km_props_set(out, "linger.ms", "2", 0);
    return true;
}

/* A producer to a target on the same LAN, with one request in flight per connection, needs
 * records waiting for about one request per partition; more only waits in librdkafka's queue and
 * pins its fetch responses. Against the default budget's 64 MiB, 16 partitions
 * (bench/results/2026-12-07.md sections 1 and 2): 16 MiB took 1 KB from 176-279 MB to 116-130 MB
 * and 10 KB from 155-236 MB to 98-106 MB at the same rate, but cost 100 B about a tenth of its
 * rate (a task's 100 B records fill 16 MiB at ~33,000, so its requests are smaller and more), 8
 * MiB a quarter; 32 MiB kept 100 B's rate and took 1 KB to 127-138 MB, 10 KB to 122 MB (with
 * main.c's allocator setting). A target further away needs the whole budget: each round trip
 * carries what is in flight then. */
#define LAN_TASK_INFLIGHT_BYTES (32LL * 1024 * 1024)

int64_t km_clientconf_task_inflight_for_rtt(int64_t budget, bool set, int64_t rtt_us) {
    if (set || rtt_us < 0 || rtt_us >= KM_LAN_RTT_US) return budget;
    return LAN_TASK_INFLIGHT_BYTES < budget ? LAN_TASK_INFLIGHT_BYTES : budget;
}

/* librdkafka keeps one Fetch request in flight per broker, so a consumer reads at most
 * max.partition.fetch.bytes per partition (and fetch.max.bytes in all) per round trip to the
 * source: with librdkafka's 1 MiB that is 10 MB/s per partition across a 100 ms round trip.
 * 4 MiB: across 100 ms, 1 KB records, 225k-233k records/s against 194k-206k with 8 MiB and
 * 121k-129k with 1 MiB; on a LAN (jemalloc) 1 KB 334k-433k against 182k-221k with 8 MiB, 100 B
 * 1.17M-1.28M against 0.75M-1.22M: bigger responses (8 MiB x 16 partitions fills the 50 MiB
 * fetch.max.bytes) cost page faults and hold more records pinned (16 partitions, 2 rounds,
 * bench/results/2026-12-03.md section 4). It is kept to an eighth of inflight.max.bytes so that
 * a small budget is not filled by one partition's fetch. */
#define REPLICATION_MAX_PARTITION_FETCH (4LL * 1024 * 1024)
/* What librdkafka keeps per prefetched record beyond its bytes (the op and message around it),
 * which queued.max.messages.kbytes does not count: ~300 B measured (2026-12-03.md section 4). */
#define PREFETCH_RECORD_OVERHEAD 320
/* librdkafka's default for queued.min.messages (100,000) starves a replicator, and a smaller
 * count lowers the rate of small records (100 B, 16 partitions: 0.6x at 209k queued records
 * against 419k; bench/results/2026-12-04.md section 4), but every queued record costs memory. */
#define PREFETCH_RECORDS_MIN 10000
#define PREFETCH_RECORDS_MAX 1000000
/* librdkafka's default: more only costs memory (10 KB records, 16 partitions: 128 MiB gave no
 * more records/s than 64 MiB; bench/results/2026-12-04.md section 4). */
#define PREFETCH_KBYTES_MAX 65536
/* librdkafka checks its queue limits before it sends a Fetch, never against the response: a whole
 * response (up to fetch.max.bytes, 50 MiB by default) lands on top of a queue that is just below
 * them, and stays in memory while any of its records is queued or in flight. At 100 B a response
 * costs ~3x its size (320 B of bookkeeping per record), so with librdkafka's 50 MiB a 128 MiB
 * budget peaked at 241 MB of live memory, 153 MB with 8 MiB responses, at the same rate
 * (bench/results/2026-12-04.md section 10). A quarter of the task's prefetch share, at most
 * librdkafka's default, keeps the default budget's fetches as they were. */
#define FETCH_SHARE_DIVISOR 4
#define FETCH_MAX_BYTES_MAX (50LL * 1024 * 1024)
#define FETCH_MAX_BYTES_MIN (1LL * 1024 * 1024)

/* What a source on the same LAN needs: 56 MiB (the prefetch of a 64 MiB memory.max.bytes) keeps
 * the rate of the default's whole 448 MiB there at about half its memory (16 partitions, 1 KB
 * records: 162-177 MiB against 277-326 MiB; bench/results/2026-12-06.md section 23). Through a
 * user-space proxy 0.7-1.1 ms away it already ran at 0.67-0.82x the rate, at 11 ms 0.82-0.85x
 * and at 50 ms half (sections 23, 24): a bigger fetch amortises whatever each Fetch waits for besides
 * the bytes, and librdkafka 2.0.2 has one in flight per broker. So only a source under
 * KM_LAN_RTT_US away gets the small prefetch. It is not a clean cut: single probes of a
 * busy broker on this host took 1.0-8.6 ms among answers of 0.1-0.3 ms (which is why flow.c takes
 * the quickest of up to ten), and kmirror timed that proxy at 0.4-1.1 ms. */
#define PREFETCH_LAN_BYTES (56LL * 1024 * 1024)

int64_t km_clientconf_prefetch_for_rtt(int64_t share, int64_t rtt_us) {
    if (rtt_us < 0 || rtt_us >= KM_LAN_RTT_US) return share;
    return PREFETCH_LAN_BYTES < share ? PREFETCH_LAN_BYTES : share;
}

static void set_default_ll(const km_props_t *java, km_props_t *out, const char *key, long long v) {
    if (km_props_find(java, key)) return;
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    km_props_set(out, key, buf, 0);
}

void km_clientconf_replication_consumer_defaults(const km_props_t *java, km_props_t *out, int64_t inflight_max_bytes,
                                                  int64_t prefetch_bytes) {
    /* Half of the task's share for the records' bytes, half for librdkafka's bookkeeping of
     * them: small records reach the count first, big ones the bytes. */
    long long kbytes = prefetch_bytes / 2 / 1024, records = prefetch_bytes / 2 / PREFETCH_RECORD_OVERHEAD;
    set_default_ll(java, out, "queued.max.messages.kbytes", kbytes < 1024 ? 1024 : kbytes > PREFETCH_KBYTES_MAX ? PREFETCH_KBYTES_MAX : kbytes);
    set_default_ll(java, out, "queued.min.messages",
                   records < PREFETCH_RECORDS_MIN ? PREFETCH_RECORDS_MIN : records > PREFETCH_RECORDS_MAX ? PREFETCH_RECORDS_MAX : records);
    long long fetch = prefetch_bytes / FETCH_SHARE_DIVISOR;
    /* A max.partition.fetch.bytes the user raised (for a WAN) is not undone by the derived
     * response size, only by a fetch.max.bytes of their own. */
    const char *own = km_props_get(java, "max.partition.fetch.bytes");
    long long own_mpfb = own ? strtoll(own, NULL, 10) : 0;
    if (own_mpfb > fetch) fetch = own_mpfb;
    set_default_ll(java, out, "fetch.max.bytes",
                   fetch < FETCH_MAX_BYTES_MIN ? FETCH_MAX_BYTES_MIN : fetch > FETCH_MAX_BYTES_MAX ? FETCH_MAX_BYTES_MAX : fetch);
    if (own) return;
    long long v = REPLICATION_MAX_PARTITION_FETCH;
    if (inflight_max_bytes / 8 < v) v = inflight_max_bytes / 8;
    const char *fmb = km_props_get(out, "fetch.max.bytes");
    if (fmb && strtoll(fmb, NULL, 10) < v) v = strtoll(fmb, NULL, 10);
    if (v < 1048576) return; /* librdkafka's default */
    set_default_ll(java, out, "max.partition.fetch.bytes", v);
}

rd_kafka_conf_t *km_clientconf_new(const km_props_t *rk, char *errstr, size_t errlen) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Java's clients set TCP_NODELAY on every connection; librdkafka did not before 2.10, and a
     * small request (a fetch, an offset-sync, a heartbeat) behind unacknowledged bytes then waits
     * for the peer's delayed ACK. A key in the properties below still wins. */
    rd_kafka_conf_set(conf, "socket.nagle.disable", "true", NULL, 0);
    for (size_t i = 0; i < rk->n; i++) {
        char err[512];
        if (rd_kafka_conf_set(conf, rk->items[i].key, rk->items[i].value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errlen, "%s: %s", rk->items[i].key, err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}
