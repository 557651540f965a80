/* kt.c — implementation of the integration-test support library declared in kt.h.
 *
 * Each call makes its own short-lived librdkafka client: tests are slow anyway because of the
 * brokers, and a fresh client per call means no state (metadata cache, consumer position,
 * producer id) carries over from one check to the next. No cmocka here: kt reports on stderr and
 * through return values, and the suites decide what is a failure. */
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "kt: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "kt: out of memory allocating %zu x %zu bytes\n", n, size);
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "kt: out of memory reallocating to %zu bytes\n", n);
        abort();
    }
    return q;
}

/* Copy of len bytes plus a NUL, so text payloads read as C strings; NULL stays NULL because a
 * null key or value must remain distinguishable from an empty one. */
static char *dup_bytes(const void *p, size_t len) {
    if (!p)
        return NULL;
    char *q = xmalloc(len + 1);
    memcpy(q, p, len);
    q[len] = '\0';
    return q;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kt_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* ---- clients ---- */

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    fprintf(stderr, "kt: %s: %s%s: %s\n", rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t)err),
            err == RD_KAFKA_RESP_ERR__FATAL ? " (fatal)" : "", reason);
}

static int set_conf(rd_kafka_conf_t *c, const char *who, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(c, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: cannot set %s=%s: %s\n", who, key, value, err);
        return -1;
    }
    return 0;
}

/* Applies a "key", "value", ..., NULL list. */
static int set_conf_list(rd_kafka_conf_t *c, const char *who, const char *const *kv) {
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (!kv[i + 1]) {
            fprintf(stderr, "%s: property %s has no value (the list must be key, value, ..., NULL)\n", who, kv[i]);
            return -1;
        }
        if (set_conf(c, who, kv[i], kv[i + 1]) != 0)
            return -1;
    }
    return 0;
}

/* kt_cluster_conf's registry: a few secured clusters per suite at most. */
static struct {
    char *bootstrap;
    const char *const *conf;
} cluster_confs[8];

void kt_cluster_conf(const char *bootstrap, const char *const *conf) {
    for (size_t i = 0; i < sizeof(cluster_confs) / sizeof(cluster_confs[0]); i++) {
        if (cluster_confs[i].bootstrap && strcmp(cluster_confs[i].bootstrap, bootstrap) != 0) continue;
        if (!cluster_confs[i].bootstrap) cluster_confs[i].bootstrap = strdup(bootstrap);
        cluster_confs[i].conf = conf;
        return;
    }
    fprintf(stderr, "kt_cluster_conf(%s): too many clusters\n", bootstrap);
    abort();
}

static const char *const *cluster_conf(const char *bootstrap) {
    for (size_t i = 0; i < sizeof(cluster_confs) / sizeof(cluster_confs[0]) && cluster_confs[i].bootstrap; i++)
        if (strcmp(cluster_confs[i].bootstrap, bootstrap) == 0) return cluster_confs[i].conf;
    return NULL;
}

/* Completes c (which it always consumes) with bootstrap, the cluster's connection properties
 * (kt_cluster_conf), extra properties and the error callback, and creates the client. */
static rd_kafka_t *new_client(rd_kafka_conf_t *c, rd_kafka_type_t type, const char *bootstrap,
                              const char *const *conf, const char *who) {
    char err[512];
    if (!bootstrap || !*bootstrap) {
        fprintf(stderr, "%s: no bootstrap servers given\n", who);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    if (set_conf(c, who, "bootstrap.servers", bootstrap) != 0 || set_conf_list(c, who, cluster_conf(bootstrap)) != 0 ||
        set_conf_list(c, who, conf) != 0) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_conf_set_error_cb(c, error_cb);
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s: cannot create a librdkafka client for %s: %s\n", who, bootstrap, err);
        rd_kafka_conf_destroy(c);
    }
    return rk;
}

rd_kafka_t *kt_client(rd_kafka_type_t type, const char *bootstrap, const char *const *conf) {
    return new_client(rd_kafka_conf_new(), type, bootstrap, conf, "kt_client");
}

int kt_member_poll(rd_kafka_t *member, int timeout_ms) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(member, timeout_ms);
    if (m) rd_kafka_message_destroy(m);
    rd_kafka_topic_partition_list_t *as = NULL;
    int n = rd_kafka_assignment(member, &as) == 0 ? as->cnt : 0;
    if (as) rd_kafka_topic_partition_list_destroy(as);
    return n;
}

rd_kafka_t *kt_group_member(const char *bootstrap, const char *topic, const char *const *conf, int min, int timeout_ms,
                            int *assigned) {
    *assigned = 0;
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bootstrap, conf);
    if (!rk) return NULL;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        fprintf(stderr, "kt_group_member(%s): cannot subscribe: %s\n", topic, rd_kafka_err2str(err));
        return rk;
    }
    int64_t deadline = now_ms() + timeout_ms;
    while (*assigned < min && now_ms() < deadline) *assigned = kt_member_poll(rk, 100);
    return rk;
}

/* ---- topics ---- */

/* Partition count of topic (0 if absent) and whether every partition has a leader; -1 if the
 * cluster did not answer the metadata request. */
static int topic_state(rd_kafka_t *rk, const char *topic, bool *all_led, const char *who) {
    const struct rd_kafka_metadata *md;
    /* All topics rather than one topic handle: asking for a single unknown topic would make
     * librdkafka remember and re-query it, and a producer would even ask for it to be created. */
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 5000);
    if (err) {
        fprintf(stderr, "%s(%s): metadata request failed: %s\n", who, topic, rd_kafka_err2str(err));
        return -1;
    }
    int count = 0;
    *all_led = true;
    for (int i = 0; i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];
        if (strcmp(t->topic, topic) != 0 || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        count = t->partition_cnt;
        for (int p = 0; p < t->partition_cnt; p++)
            if (t->partitions[p].leader < 0)
                *all_led = false;
    }
    rd_kafka_metadata_destroy(md);
    return count;
}

int kt_partition_count(const char *bootstrap, const char *topic) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    if (!rk)
        return -1;
    bool all_led;
    int n = topic_state(rk, topic, &all_led, "kt_partition_count");
    rd_kafka_destroy(rk);
    return n;
}

/* Waits for the result event of one admin request on q. */
static rd_kafka_event_t *admin_result(rd_kafka_queue_t *q, const char *who, const char *topic) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, KT_TIMEOUT_MS + 5000);
    if (!ev) {
        fprintf(stderr, "%s(%s): no answer from the cluster within %d ms\n", who, topic, KT_TIMEOUT_MS + 5000);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "%s(%s): %s\n", who, topic, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

static rd_kafka_AdminOptions_t *admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op) {
    char err[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    /* The operation timeout makes the controller answer only once the change is applied. */
    rd_kafka_AdminOptions_set_request_timeout(o, KT_TIMEOUT_MS, err, sizeof err);
    rd_kafka_AdminOptions_set_operation_timeout(o, KT_TIMEOUT_MS, err, sizeof err);
    return o;
}

/* Polls metadata until topic has `want` partitions (0: is gone), all led. */
static int wait_topic_state(rd_kafka_t *rk, const char *topic, int want, const char *who) {
    int64_t deadline = now_ms() + KT_TIMEOUT_MS;
    int have = -1;
    bool all_led = false;
    do {
        have = topic_state(rk, topic, &all_led, who);
        if (have == want && all_led)
            return 0;
        sleep_ms(50);
    } while (now_ms() < deadline);
    fprintf(stderr, "%s(%s): after %d ms the cluster lists %d partitions%s, expected %d\n", who, topic, KT_TIMEOUT_MS,
            have, all_led ? "" : " (some without a leader)", want);
    return -1;
}

int kt_create_topic(const char *bootstrap, const char *topic, int partitions, const char *const *configs) {
    static const char who[] = "kt_create_topic";
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof err);
    if (!nt) {
        fprintf(stderr, "%s(%s, %d partitions): %s\n", who, topic, partitions, err);
        return -1;
    }
    for (size_t i = 0; configs && configs[i]; i += 2) {
        if (!configs[i + 1]) {
            fprintf(stderr, "%s(%s): config %s has no value (the list must be key, value, ..., NULL)\n", who, topic,
                    configs[i]);
            rd_kafka_NewTopic_destroy(nt);
            return -1;
        }
        rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
    }
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    if (!rk) {
        rd_kafka_NewTopic_destroy(nt);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(rk, &nt, 1, o, q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);

    int rc = -1;
    rd_kafka_event_t *ev = admin_result(q, who, topic);
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        if (cnt == 1 && rd_kafka_topic_result_error(res[0]) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = 0;
        else if (cnt == 1)
            fprintf(stderr, "%s(%s, %d partitions): %s: %s\n", who, topic, partitions,
                    rd_kafka_err2name(rd_kafka_topic_result_error(res[0])), rd_kafka_topic_result_error_string(res[0]));
        else
            fprintf(stderr, "%s(%s): the cluster answered for %zu topics instead of 1\n", who, topic, cnt);
        rd_kafka_event_destroy(ev);
    }
    if (rc == 0)
        rc = wait_topic_state(rk, topic, partitions, who);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int kt_delete_topic(const char *bootstrap, const char *topic) {
    static const char who[] = "kt_delete_topic";
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    if (!rk)
        return -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_AdminOptions_t *o = admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(rk, &dt, 1, o, q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_DeleteTopic_destroy(dt);

    int rc = -1;
    rd_kafka_event_t *ev = admin_result(q, who, topic);
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);
        rd_kafka_resp_err_t err = cnt == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__BAD_MSG;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            rc = 0;
        else if (cnt == 1)
            fprintf(stderr, "%s(%s): %s: %s\n", who, topic, rd_kafka_err2name(err),
                    rd_kafka_topic_result_error_string(res[0]));
        else
            fprintf(stderr, "%s(%s): the cluster answered for %zu topics instead of 1\n", who, topic, cnt);
        rd_kafka_event_destroy(ev);
    }
    if (rc == 0)
        rc = wait_topic_state(rk, topic, 0, who);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int kt_create_partitions(const char *bootstrap, const char *topic, int total) {
    static const char who[] = "kt_create_partitions";
    char err[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, (size_t)total, err, sizeof err);
    if (!np) {
        fprintf(stderr, "%s(%s, %d partitions): %s\n", who, topic, total, err);
        return -1;
    }
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    if (!rk) {
        rd_kafka_NewPartitions_destroy(np);
        return -1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(rk, &np, 1, o, q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewPartitions_destroy(np);

    int rc = -1;
    rd_kafka_event_t *ev = admin_result(q, who, topic);
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &cnt);
        rd_kafka_resp_err_t e = cnt == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__BAD_MSG;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = 0;
        else if (cnt == 1)
            fprintf(stderr, "%s(%s, %d partitions): %s: %s\n", who, topic, total, rd_kafka_err2name(e),
                    rd_kafka_topic_result_error_string(res[0]));
        else
            fprintf(stderr, "%s(%s): the cluster answered for %zu topics instead of 1\n", who, topic, cnt);
        rd_kafka_event_destroy(ev);
    }
    if (rc == 0)
        rc = wait_topic_state(rk, topic, total, who);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

int kt_delete_records(const char *bootstrap, const char *topic, int32_t partition, int64_t before) {
    static const char who[] = "kt_delete_records";
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, topic, partition)->offset = before;
    rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(offsets);
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_options(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS);
    rd_kafka_DeleteRecords(rk, &dr, 1, o, q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_DeleteRecords_destroy(dr);

    int rc = -1;
    rd_kafka_event_t *ev = admin_result(q, who, topic);
    if (ev) {
        const rd_kafka_topic_partition_list_t *res =
            rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
        if (!res || res->cnt != 1)
            fprintf(stderr, "%s(%s [%d]): the cluster answered for %d partitions instead of 1\n", who, topic,
                    (int)partition, res ? res->cnt : 0);
        else if (res->elems[0].err)
            fprintf(stderr, "%s(%s [%d] before %lld): %s\n", who, topic, (int)partition, (long long)before,
                    rd_kafka_err2str(res->elems[0].err));
        else
            rc = 0;
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- producing ---- */

typedef struct {
    bool done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
} delivery_slot_t;

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    delivery_slot_t *s = m->_private;
    s->done = true;
    s->err = m->err;
    s->partition = m->partition;
    s->offset = m->offset;
}

static size_t len_or_strlen(const void *p, size_t len) { return p && len == 0 ? strlen(p) : len; }

/* Enqueues msgs[i], waiting out a full local queue. */
static rd_kafka_resp_err_t enqueue(rd_kafka_t *rk, const char *topic, const kt_msg_t *m, delivery_slot_t *slot) {
    for (;;) {
        rd_kafka_headers_t *hdrs = NULL;
        if (m->header_cnt) {
            hdrs = rd_kafka_headers_new(m->header_cnt);
            for (size_t h = 0; h < m->header_cnt; h++) {
                const kt_header_t *kh = &m->headers[h];
                rd_kafka_header_add(hdrs, kh->name, -1, kh->value, (ssize_t)len_or_strlen(kh->value, kh->value_len));
            }
        }
        /* RD_KAFKA_V_VALUE takes a non-const pointer; with RD_KAFKA_MSG_F_COPY it only reads. */
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(m->partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, len_or_strlen(m->key, m->key_len)),
            RD_KAFKA_V_VALUE((void *)m->value, len_or_strlen(m->value, m->value_len)), RD_KAFKA_V_TIMESTAMP(m->timestamp),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return err; /* librdkafka owns hdrs now */
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return err;
        rd_kafka_poll(rk, 100);
    }
}

int kt_produce(const char *bootstrap, const char *topic, const kt_msg_t *msgs, size_t n, const char *const *conf,
               kt_delivery_t *out) {
    static const char who[] = "kt_produce";
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", KT_TIMEOUT_MS);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(c, dr_msg_cb);
    /* Idempotence keeps retries from duplicating or reordering what the test wrote; the message
     * timeout makes a record to a missing topic or dead broker fail within the flush below. One
     * request in flight: librdkafka 2.0.2 reports a batch the broker refused as delivered once a
     * later batch of its partition succeeds (an implicit ack, without an offset), which a topic
     * created a moment before provokes (NOT_LEADER_OR_FOLLOWER for its first batches). */
    if (set_conf(c, who, "enable.idempotence", "true") != 0 || set_conf(c, who, "message.timeout.ms", timeout) != 0 ||
        set_conf(c, who, "max.in.flight.requests.per.connection", "1") != 0) {
        rd_kafka_conf_destroy(c);
        return -1;
    }
    rd_kafka_t *rk = new_client(c, RD_KAFKA_PRODUCER, bootstrap, conf, who);
    if (!rk)
        return -1;

    int rc = 0;
    delivery_slot_t *slots = xcalloc(n, sizeof *slots);
    size_t queued = 0;
    for (; queued < n; queued++) {
        rd_kafka_resp_err_t err = enqueue(rk, topic, &msgs[queued], &slots[queued]);
        if (err) {
            fprintf(stderr, "%s(%s): record %zu (partition %d) rejected locally: %s\n", who, topic, queued,
                    (int)msgs[queued].partition, rd_kafka_err2str(err));
            rc = -1;
            break;
        }
    }
    /* Flush even after a local rejection, so the slots are no longer referenced once freed. */
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, KT_TIMEOUT_MS + 5000);
    if (ferr) {
        fprintf(stderr, "%s(%s): %d records still unacknowledged after %d ms: %s\n", who, topic, rd_kafka_outq_len(rk),
                KT_TIMEOUT_MS + 5000, rd_kafka_err2str(ferr));
        rc = -1;
    }
    size_t failed = 0;
    for (size_t i = 0; i < queued && ferr == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
        if (slots[i].err || slots[i].offset < 0) {
            /* A batch fails as a whole and usually for one reason: the first few lines say it. */
            if (++failed <= 3)
                fprintf(stderr, "%s(%s): record %zu to partition %d failed: %s\n", who, topic, i, (int)slots[i].partition,
                        slots[i].err ? rd_kafka_err2str(slots[i].err) : "acknowledged without an offset (not written)");
            rc = -1;
        } else if (out) {
            out[i].partition = slots[i].partition;
            out[i].offset = slots[i].offset;
        }
    }
    if (failed > 3)
        fprintf(stderr, "%s(%s): %zu records failed in all\n", who, topic, failed);
    rd_kafka_destroy(rk); /* after a failed flush this purges and reports what was left */
    free(slots);
    return rc;
}

int kt_produce_sized(const char *bootstrap, const char *topic, int n, int partitions, size_t value_size,
                     const char *const *conf) {
    kt_msg_t *msgs = xcalloc((size_t)n, sizeof(*msgs));
    char *value = xmalloc(value_size + 1);
    memset(value, 'v', value_size);
    value[value_size] = '\0';
    for (int i = 0; i < n; i++) msgs[i] = (kt_msg_t){.partition = i % partitions, .key = "k", .value = value};
    int rc = kt_produce(bootstrap, topic, msgs, (size_t)n, conf, NULL);
    free(msgs);
    free(value);
    return rc;
}

/* ---- consuming ---- */

static void copy_record(kt_record_t *r, const rd_kafka_message_t *m) {
    r->partition = m->partition;
    r->offset = m->offset;
    r->timestamp = rd_kafka_message_timestamp(m, &r->tstype);
    r->key = dup_bytes(m->key, m->key_len);
    r->key_len = m->key_len;
    r->value = dup_bytes(m->payload, m->len);
    r->value_len = m->len;
    r->headers = NULL;
    r->header_cnt = 0;
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    size_t cnt = rd_kafka_header_cnt(hdrs);
    r->headers = xmalloc(cnt * sizeof *r->headers);
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; i < cnt && !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
        r->headers[i] = (kt_header_t){.name = dup_bytes(name, strlen(name)), .value = dup_bytes(val, size),
                                      .value_len = size};
        r->header_cnt++;
    }
}

static int cmp_record(const void *a, const void *b) {
    const kt_record_t *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

int kt_consume(const char *bootstrap, const char *topic, const kt_consume_opts_t *opts, kt_record_t **out, size_t *n) {
    static const char who[] = "kt_consume";
    const kt_consume_opts_t defaults = {0};
    const kt_consume_opts_t *o = opts ? opts : &defaults;
    int timeout = o->timeout_ms > 0 ? o->timeout_ms : KT_TIMEOUT_MS;
    *out = NULL;
    *n = 0;

    rd_kafka_conf_t *c = rd_kafka_conf_new();
    /* librdkafka wants a group.id even for assign(); the partitions are assigned by hand and
     * nothing is committed, so the group never shows up on the cluster. */
    char group[64];
    snprintf(group, sizeof group, "kt-consume-%ld", (long)getpid());
    if (set_conf(c, who, "group.id", group) != 0 || set_conf(c, who, "enable.partition.eof", "true") != 0 ||
        set_conf(c, who, "enable.auto.commit", "false") != 0) {
        rd_kafka_conf_destroy(c);
        return -1;
    }
    rd_kafka_t *rk = new_client(c, RD_KAFKA_CONSUMER, bootstrap, o->conf, who);
    if (!rk)
        return -1;

    int32_t first = o->partition_first, count = o->partition_count;
    if (count <= 0) {
        bool all_led;
        int total = topic_state(rk, topic, &all_led, who);
        if (total <= first) { /* including -1: topic_state has said why */
            if (total == 0)
                fprintf(stderr, "%s(%s): the topic does not exist\n", who, topic);
            else if (total > 0)
                fprintf(stderr, "%s(%s): the topic has %d partitions, none from %d on\n", who, topic, total,
                        (int)first);
            rd_kafka_destroy(rk);
            return -1;
        }
        count = total - first;
    }

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(count);
    for (int32_t p = first; p < first + count; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (aerr) {
        fprintf(stderr, "%s(%s): cannot assign partitions %d..%d: %s\n", who, topic, (int)first,
                (int)(first + count - 1), rd_kafka_err2str(aerr));
        rd_kafka_destroy(rk);
        return -1;
    }

    bool *at_end = xcalloc((size_t)count, sizeof *at_end);
    int32_t ended = 0;
    size_t cap = 0;
    rd_kafka_resp_err_t last_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t deadline = now_ms() + timeout;
    bool done = false;
    while (!done && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            int32_t i = m->partition - first;
            if (i >= 0 && i < count && !at_end[i]) {
                at_end[i] = true;
                ended++;
            }
        } else if (m->err) {
            /* Errors repeat every fetch; one line per change of error is enough to explain. */
            if (m->err != last_err)
                fprintf(stderr, "%s(%s): partition %d: %s\n", who, topic, (int)m->partition, rd_kafka_message_errstr(m));
            last_err = m->err;
        } else {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                *out = xrealloc(*out, cap * sizeof **out);
            }
            copy_record(&(*out)[(*n)++], m);
        }
        rd_kafka_message_destroy(m);
        done = o->expected > 0 ? *n >= o->expected : ended == count;
    }
    free(at_end);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);

    if (*n > 1)
        qsort(*out, *n, sizeof **out, cmp_record);
    if (done)
        return 0;
    if (o->expected > 0)
        fprintf(stderr, "%s(%s): %zu of %zu expected records arrived within %d ms\n", who, topic, *n, o->expected,
                timeout);
    else
        fprintf(stderr, "%s(%s): %d of %d partitions reached their end within %d ms (%zu records read)\n", who, topic,
                (int)ended, (int)count, timeout, *n);
    return -1;
}

void kt_records_free(kt_record_t *recs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free((void *)recs[i].key);
        free((void *)recs[i].value);
        for (size_t h = 0; h < recs[i].header_cnt; h++) {
            free((void *)recs[i].headers[h].name);
            free((void *)recs[i].headers[h].value);
        }
        free(recs[i].headers);
    }
    free(recs);
}

const kt_header_t *kt_record_header(const kt_record_t *r, const char *name) {
    for (size_t i = 0; i < r->header_cnt; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return &r->headers[i];
    return NULL;
}

int kt_high_watermarks(const char *bootstrap, const char *topic, int64_t *hw, int32_t n) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, bootstrap, NULL);
    if (!rk)
        return -1;
    int rc = 0;
    for (int32_t p = 0; p < n && rc == 0; p++) {
        int64_t low;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &low, &hw[p], KT_TIMEOUT_MS);
        if (err) {
            fprintf(stderr, "kt_high_watermarks(%s): partition %d: %s\n", topic, (int)p, rd_kafka_err2str(err));
            rc = -1;
        }
    }
    rd_kafka_destroy(rk);
    return rc;
}

int64_t kt_topic_records(const char *bootstrap, const char *topic, int32_t n) {
    int64_t hw[1024], total = 0;
    if (n > 1024 || kt_high_watermarks(bootstrap, topic, hw, n) != 0)
        return -1;
    for (int32_t p = 0; p < n; p++)
        total += hw[p];
    return total;
}

/* ---- waiting and naming ---- */

bool kt_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    int pause = 10;
    for (;;) {
        if (cond(arg))
            return true;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        sleep_ms(pause < left ? pause : (int)left);
        pause = pause * 2 > 200 ? 200 : pause * 2;
    }
}

static long start_time;
static void set_start_time(void) { start_time = (long)time(NULL); }

char *kt_unique_name(const char *prefix, char *buf, size_t bufsize) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    static atomic_uint counter;
    pthread_once(&once, set_start_time);
    snprintf(buf, bufsize, "%s-%ld-%lx-%u", prefix, (long)getpid(), start_time, atomic_fetch_add(&counter, 1) + 1);
    return buf;
}

/* ---- child processes ---- */

/* Children still possibly running; a test that fails half-way must not leave a mirror behind
 * to disturb the tests after it. */
static pid_t spawned[64];
static size_t nspawned;

void kt_kill_children(void) {
    for (size_t i = 0; i < nspawned; i++)
        if (spawned[i] > 0 && waitpid(spawned[i], NULL, WNOHANG) == 0) {
            kill(spawned[i], SIGKILL);
            waitpid(spawned[i], NULL, 0);
        }
    nspawned = 0;
}

pid_t kt_spawn(char *const argv[], const char *log_path) {
    if (nspawned == 0) {
        static bool registered;
        if (!registered) atexit(kt_kill_children);
        registered = true;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    /* The test runner may have been started with signals blocked or ignored (a background job
     * ignores SIGINT); the child under test must see the signals the test sends it. */
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGQUIT);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (err) {
        fprintf(stderr, "kt_spawn(%s, log %s): %s\n", argv[0], log_path, strerror(err));
        return -1;
    }
    if (nspawned < sizeof spawned / sizeof spawned[0]) spawned[nspawned++] = pid;
    return pid;
}

int kt_signal(pid_t pid, int sig) {
    if (kill(pid, sig) == 0)
        return 0;
    fprintf(stderr, "kt_signal(pid %ld, %s): %s\n", (long)pid, strsignal(sig), strerror(errno));
    return -1;
}

int kt_wait_exit(pid_t pid, int timeout_ms, int *status) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status)
                *status = st;
            return 0;
        }
        if (r == -1 && errno != EINTR) {
            fprintf(stderr, "kt_wait_exit(pid %ld): %s\n", (long)pid, strerror(errno));
            return -1;
        }
        if (now_ms() >= deadline) {
            fprintf(stderr, "kt_wait_exit(pid %ld): still running after %d ms\n", (long)pid, timeout_ms);
            return -1;
        }
        sleep_ms(20);
    }
}

char *kt_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "kt_read_file(%s): %s\n", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0)
            buf = xrealloc(buf, cap *= 2);
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "kt_read_file(%s): read error\n", path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}
