/* admin.c — see admin.h. */
#include "admin.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int km_admin_list_topics(rd_kafka_t *rk, int timeout_ms, km_topic_meta_t **out, size_t *n, int *brokers,
                         char *errstr, size_t errlen) {
    const rd_kafka_metadata_t *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    *out = NULL;
    *n = 0;
    if (err) {
        snprintf(errstr, errlen, "%s", rd_kafka_err2str(err));
        return -1;
    }
    *out = km_xcalloc((size_t)md->topic_cnt, sizeof(**out));
    for (int i = 0; i < md->topic_cnt; i++) {
        if (md->topics[i].err) continue;
        (*out)[*n].name = km_xstrdup(md->topics[i].topic);
        (*out)[(*n)++].partitions = md->topics[i].partition_cnt;
    }
    if (brokers) *brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Waits for the one result event of an admin request on `q`. */
static rd_kafka_event_t *await(rd_kafka_queue_t *q, int timeout_ms, char *errstr, size_t errlen) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (!ev) {
        snprintf(errstr, errlen, "no answer within %d ms", timeout_ms);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errlen, "%s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

static rd_kafka_AdminOptions_t *options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms) {
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, NULL, 0);
    return o;
}

int km_admin_create_topics(rd_kafka_t *rk, km_new_topic_t *t, size_t n, int timeout_ms, char *errstr, size_t errlen) {
    rd_kafka_NewTopic_t **nt = km_xcalloc(n, sizeof(*nt));
    for (size_t i = 0; i < n; i++) {
        char e[256];
        nt[i] = rd_kafka_NewTopic_new(t[i].name, t[i].partitions, t[i].replication_factor, e, sizeof(e));
        for (size_t c = 0; nt[i] && c < t[i].nconfigs; c++)
            rd_kafka_NewTopic_set_config(nt[i], t[i].configs[2 * c], t[i].configs[2 * c + 1]);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
    rd_kafka_CreateTopics(rk, nt, n, o, q);
    rd_kafka_event_t *ev = await(q, timeout_ms, errstr, errlen);
    int rc = ev ? 0 : -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t r = 0; r < cnt; r++)
            for (size_t i = 0; i < n; i++)
                if (strcmp(rd_kafka_topic_result_name(res[r]), t[i].name) == 0) {
                    t[i].err = rd_kafka_topic_result_error(res[r]);
                    const char *es = rd_kafka_topic_result_error_string(res[r]);
                    snprintf(t[i].errstr, sizeof(t[i].errstr), "%s", es ? es : rd_kafka_err2str(t[i].err));
                }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(nt, n);
    free(nt);
    return rc;
}

rd_kafka_resp_err_t km_admin_create_partitions(rd_kafka_t *rk, const char *topic, int total, int timeout_ms,
                                               char *errstr, size_t errlen) {
    char e[256];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, (size_t)total, e, sizeof(e));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = options(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, timeout_ms);
    rd_kafka_CreatePartitions(rk, &np, 1, o, q);
    rd_kafka_event_t *ev = await(q, timeout_ms, errstr, errlen);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &cnt);
        err = cnt ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
        if (err) snprintf(errstr, errlen, "%s", cnt && rd_kafka_topic_result_error_string(res[0]) ? rd_kafka_topic_result_error_string(res[0]) : rd_kafka_err2str(err));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy(np);
    return err;
}

int km_admin_ensure_topic(rd_kafka_t *rk, const char *name, int partitions, int rf, bool compact, int timeout_ms,
                          bool *created, char *errstr, size_t errlen) {
    km_topic_meta_t *t;
    size_t n;
    int brokers;
    *created = false;
    if (km_admin_list_topics(rk, timeout_ms, &t, &n, &brokers, errstr, errlen) != 0) return -1;
    bool exists = false;
    for (size_t i = 0; i < n; i++) exists |= strcmp(t[i].name, name) == 0;
    km_topic_meta_free(t, n);
    if (exists) return 0;
    bool clamped;
    static const char *const compacted[] = {"cleanup.policy", "compact"};
    km_new_topic_t nt = {.name = name, .partitions = partitions, .replication_factor = km_effective_rf(rf, brokers, &clamped),
                         .configs = compact ? compacted : NULL, .nconfigs = compact ? 1 : 0};
    if (km_admin_create_topics(rk, &nt, 1, timeout_ms, errstr, errlen) != 0) return -1;
    if (nt.err && nt.err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(errstr, errlen, "%s", nt.errstr);
        return -1;
    }
    *created = nt.err == 0;
    return 0;
}
