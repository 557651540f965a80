/* admin.c — see admin.h. */
#include "admin.h"

#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A metadata request is re-sent every slice, so a slow but live cluster must answer within one:
 * a second is far above a metadata round trip and still a short delay for a stop. */
#define METADATA_SLICE_MS 1000

static const volatile sig_atomic_t *stop_flag;

void km_admin_stop_on(const volatile sig_atomic_t *flag) { stop_flag = flag; }

bool km_admin_stopping(void) { return stop_flag && *stop_flag; }

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool km_admin_pause(int ms) {
    for (int64_t end = km_now_mono_ms() + ms, left; !km_admin_stopping() && (left = end - km_now_mono_ms()) > 0;)
        sleep_ms(left < 50 ? (int)left : 50);
    return !km_admin_stopping();
}

rd_kafka_resp_err_t km_admin_metadata(rd_kafka_t *rk, rd_kafka_topic_t *only, const rd_kafka_metadata_t **md,
                                      int timeout_ms) {
    int64_t deadline = km_now_mono_ms() + timeout_ms;
    for (;;) {
        if (km_admin_stopping()) return RD_KAFKA_RESP_ERR__DESTROY;
        int64_t left = deadline - km_now_mono_ms();
        int slice = left < METADATA_SLICE_MS ? (int)(left > 1 ? left : 1) : METADATA_SLICE_MS;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, only ? 0 : 1, only, md, slice);
        if (km_now_mono_ms() >= deadline) return err;
        /* A request asked while every broker is down fails at once instead of waiting for one:
         * what a single long call would have waited through is waited through here too. */
        if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
            if (!km_admin_pause(100)) return RD_KAFKA_RESP_ERR__DESTROY;
        } else if (err != RD_KAFKA_RESP_ERR__TIMED_OUT) {
            return err;
        }
    }
}

int km_admin_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr, size_t errlen) {
    int64_t deadline = km_now_mono_ms() + timeout_ms;
    for (;;) {
        const rd_kafka_metadata_t *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int64_t left = deadline - km_now_mono_ms();
        rd_kafka_resp_err_t err = km_admin_metadata(rk, rkt, &md, left > 0 ? (int)left : 1);
        rd_kafka_topic_destroy(rkt);
        if (err) {
            snprintf(errstr, errlen, "metadata for %s: %s", topic, km_admin_err2str(err));
            return -1;
        }
        rd_kafka_resp_err_t terr = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        int n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(md);
        if (!terr) return n;
        if (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return 0;
        if (terr != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE || km_now_mono_ms() + 50 >= deadline || !km_admin_pause(50)) {
            snprintf(errstr, errlen, "metadata for %s: %s", topic, km_admin_err2str(terr));
            return -1;
        }
    }
}

int64_t km_admin_round_trip_us(rd_kafka_t *rk, const char *topic, int probes, int64_t enough_us, int span_ms, int timeout_ms) {
    /* One named topic: a large cluster's answer about all of them would time the broker, not the
     * network (and librdkafka asks for all of them when given none). */
    rd_kafka_topic_t *rkt = topic ? rd_kafka_topic_new(rk, topic, NULL) : NULL;
    int64_t best = -1, last_start = km_now_mono_us() + (int64_t)span_ms * 1000;
    for (int i = 0; (rkt || !topic) && i < probes && !km_admin_stopping(); i++) {
        if (i > 0 && ((best >= 0 && best < enough_us) || km_now_mono_us() > last_start)) break;
        const rd_kafka_metadata_t *md;
        int64_t t0 = km_now_mono_us();
        if (rd_kafka_metadata(rk, !rkt, rkt, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
        int64_t took = km_now_mono_us() - t0;
        rd_kafka_metadata_destroy(md);
        if (best < 0 || took < best) best = took;
    }
    if (rkt) rd_kafka_topic_destroy(rkt);
    return best;
}

const char *km_admin_err2str(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR__DESTROY && km_admin_stopping() ? "interrupted: kmirror is stopping" : rd_kafka_err2str(err);
}

int km_admin_list_topics(rd_kafka_t *rk, int timeout_ms, km_topic_meta_t **out, size_t *n, int *brokers,
                         char *errstr, size_t errlen) {
    const rd_kafka_metadata_t *md;
    rd_kafka_resp_err_t err = km_admin_metadata(rk, NULL, &md, timeout_ms);
    *out = NULL;
    *n = 0;
    if (err) {
        snprintf(errstr, errlen, "%s", km_admin_err2str(err));
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

rd_kafka_event_t *km_admin_await(rd_kafka_queue_t *q, int timeout_ms, const _Atomic bool *cancel, char *errstr,
                                 size_t errlen) {
    int64_t deadline = km_now_mono_ms() + timeout_ms + 1000;
    rd_kafka_event_t *ev = NULL;
    while (!ev && km_now_mono_ms() < deadline && !(cancel && atomic_load(cancel)) && !km_admin_stopping())
        ev = rd_kafka_queue_poll(q, 100);
    if (!ev) {
        if (km_admin_stopping()) snprintf(errstr, errlen, "interrupted: kmirror is stopping");
        else snprintf(errstr, errlen, "no answer within %d ms", timeout_ms);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errlen, "%s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

rd_kafka_AdminOptions_t *km_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms) {
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, NULL, 0);
    /* Only topic operations have an operation timeout; the others refuse it harmlessly. */
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
    rd_kafka_AdminOptions_t *o = km_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
    rd_kafka_CreateTopics(rk, nt, n, o, q);
    rd_kafka_event_t *ev = km_admin_await(q, timeout_ms, NULL, errstr, errlen);
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

int km_admin_delete_topic(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr, size_t errlen) {
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = km_admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms);
    rd_kafka_DeleteTopics(rk, &dt, 1, o, q);
    rd_kafka_event_t *ev = km_admin_await(q, timeout_ms, NULL, errstr, errlen);
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_topic_result_t **res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);
        rd_kafka_resp_err_t err = cnt ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
        if (!err || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) rc = 0;
        else snprintf(errstr, errlen, "%s", rd_kafka_err2str(err));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

rd_kafka_resp_err_t km_admin_create_partitions(rd_kafka_t *rk, const char *topic, int total, int timeout_ms,
                                               char *errstr, size_t errlen) {
    char e[256];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, (size_t)total, e, sizeof(e));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = km_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, timeout_ms);
    rd_kafka_CreatePartitions(rk, &np, 1, o, q);
    rd_kafka_event_t *ev = km_admin_await(q, timeout_ms, NULL, errstr, errlen);
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

/* ---- consumer groups ------------------------------------------------------------------------ */

void km_group_offsets_free(km_group_offset_t *o, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(o[i].topic);
        free(o[i].metadata);
    }
    free(o);
}

int km_admin_list_groups(rd_kafka_t *rk, int timeout_ms, char ***groups, size_t *n, char *errstr, size_t errlen) {
    *groups = NULL;
    *n = 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = km_admin_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout_ms);
    rd_kafka_ListConsumerGroups(rk, o, q);
    rd_kafka_event_t *ev = km_admin_await(q, timeout_ms, NULL, errstr, errlen);
    int rc = -1;
    if (ev) {
        const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
        size_t cnt, nerr;
        const rd_kafka_ConsumerGroupListing_t **l = rd_kafka_ListConsumerGroups_result_valid(res, &cnt);
        rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
        if (nerr > 0 && cnt == 0) {
            snprintf(errstr, errlen, "every broker refused to list groups");
        } else {
            *groups = km_xcalloc(cnt ? cnt : 1, sizeof(char *));
            for (size_t i = 0; i < cnt; i++) (*groups)[i] = km_xstrdup(rd_kafka_ConsumerGroupListing_group_id(l[i]));
            *n = cnt;
            rc = 0;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Leadership of a topic created a moment ago may not have reached every broker yet. */
static bool transient(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION || err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
           err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
           err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE;
}

/* One end of partitions first..first+n-1: ListOffsets with the logical timestamp `which` (-2
 * earliest, -1 latest) for all of them at once. Through rd_kafka_offsets_for_times, whose wait
 * ends at timeout_ms: rd_kafka_query_watermark_offsets in librdkafka 2.0.2 waits for a broker
 * that does not answer as long as socket.timeout.ms and its retries allow (minutes), whatever its
 * timeout (librdkafka #4460). */
static rd_kafka_resp_err_t ends_of(rd_kafka_t *rk, const char *topic, int32_t first, int n, int64_t which, int64_t *out,
                                   int timeout_ms, int *failed) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) rd_kafka_topic_partition_list_add(tl, topic, first + i)->offset = which;
    *failed = -1;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, tl, timeout_ms);
    for (int i = 0; !err && i < tl->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &tl->elems[i];
        if (e->err) {
            err = e->err;
            *failed = e->partition;
        } else if (e->partition >= first && e->partition < first + n) {
            out[e->partition - first] = e->offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(tl);
    return err;
}

/* Both ends of partitions first..first+n-1, retried on a transient error until timeout_ms. */
static rd_kafka_resp_err_t both_ends(rd_kafka_t *rk, const char *topic, int32_t first, int n, int64_t *lo, int64_t *hi,
                                     int timeout_ms, int *failed) {
    int64_t deadline = km_now_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - km_now_mono_ms();
        rd_kafka_resp_err_t err = ends_of(rk, topic, first, n, RD_KAFKA_OFFSET_BEGINNING, lo, left > 0 ? (int)left : 1, failed);
        if (!err) {
            left = deadline - km_now_mono_ms();
            err = ends_of(rk, topic, first, n, RD_KAFKA_OFFSET_END, hi, left > 0 ? (int)left : 1, failed);
        }
        if (!err || !transient(err) || km_now_mono_ms() + 200 >= deadline) return err;
        if (!km_admin_pause(200)) return RD_KAFKA_RESP_ERR__DESTROY;
    }
}

rd_kafka_resp_err_t km_admin_watermarks_all(rd_kafka_t *rk, const char *topic, int n, int64_t *lo, int64_t *hi, int timeout_ms,
                                            int *failed) {
    return both_ends(rk, topic, 0, n, lo, hi, timeout_ms, failed);
}

rd_kafka_resp_err_t km_admin_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo, int64_t *hi,
                                        int timeout_ms) {
    int failed;
    return both_ends(rk, topic, partition, 1, lo, hi, timeout_ms, &failed);
}
