/* groupclient.c — see groupclient.h. */
#include "groupclient.h"

#include "rk.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest request timeout librdkafka accepts; kmirror's own wait ends long before. */
#define LIBRDKAFKA_MAX_TIMEOUT_MS (3600 * 1000)

struct km_groupclient {
    rd_kafka_conf_t *conf; /* copied for each client made */
    rd_kafka_t *rk;        /* NULL until a request needs it, and after one was given up on */
};

km_groupclient_t *km_groupclient_new(const km_props_t *props, const char *own_group, char *errstr, size_t errlen) {
    rd_kafka_conf_t *conf = km_rk_conf(props, errstr, errlen);
    if (!conf) return NULL;
    if (rd_kafka_conf_set(conf, "group.id", own_group, errstr, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errlen) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    km_groupclient_t *g = km_xcalloc(1, sizeof(*g));
    g->conf = conf;
    return g;
}

/* Never subscribed: there is nothing for a consumer close to do, and with a broker down it waits. */
static void drop_client(km_groupclient_t *g) {
    if (g->rk) rd_kafka_destroy_flags(g->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    g->rk = NULL;
}

void km_groupclient_destroy(km_groupclient_t *g) {
    if (!g) return;
    drop_client(g);
    rd_kafka_conf_destroy(g->conf);
    free(g);
}

/* A request under way: its reply queue and options, on the client it was sent with. */
typedef struct request {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    rd_kafka_AdminOptions_t *o;
} request_t;

static int begin(km_groupclient_t *g, rd_kafka_admin_op_t op, request_t *r, char *errstr, size_t errlen) {
    if (!g->rk) g->rk = km_rk_new(RD_KAFKA_CONSUMER, rd_kafka_conf_dup(g->conf), errstr, errlen);
    if (!g->rk) return -1;
    r->rk = g->rk;
    r->q = rd_kafka_queue_new(g->rk);
    r->o = rd_kafka_AdminOptions_new(g->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(r->o, LIBRDKAFKA_MAX_TIMEOUT_MS, NULL, 0);
    return 0;
}

/* Ends the request; `ev` is its answer (destroyed here), NULL when there was none in time, and
 * then the client goes with it (see groupclient.h). */
static void end(km_groupclient_t *g, request_t *r, rd_kafka_event_t *ev) {
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(r->o);
    rd_kafka_queue_destroy(r->q);
    if (!ev) {
        drop_client(g);
    } else {
        /* Nothing else serves this client's event queue: the errors of its group handle (its
         * coordinator lookups) would pile up there for the client's life. */
        rd_kafka_poll(g->rk, 0);
    }
}

static void collect_offsets(const rd_kafka_topic_partition_list_t *l, km_group_offset_t **out, size_t *n) {
    *out = km_xcalloc(l && l->cnt ? (size_t)l->cnt : 1, sizeof(**out));
    *n = 0;
    for (int i = 0; l && i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &l->elems[i];
        if (p->err || p->offset < 0) continue; /* no committed offset */
        (*out)[(*n)++] = (km_group_offset_t){km_xstrdup(p->topic), p->partition, p->offset,
                                             km_xstrndup(p->metadata ? p->metadata : "", p->metadata_size)};
    }
}

int km_group_offsets(km_groupclient_t *g, const char *group, const rd_kafka_topic_partition_list_t *parts, int timeout_ms,
                     km_group_offset_t **out, size_t *n, char *errstr, size_t errlen) {
    *out = NULL;
    *n = 0;
    request_t r;
    if (begin(g, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, &r, errstr, errlen) != 0) return -1;
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, parts);
    rd_kafka_ListConsumerGroupOffsets(r.rk, &req, 1, r.o, r.q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = km_admin_await(r.q, timeout_ms, NULL, errstr, errlen);
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_group_result_t **res =
            rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &cnt);
        const rd_kafka_error_t *e = cnt ? rd_kafka_group_result_error(res[0]) : NULL;
        if (cnt == 0 || e) {
            snprintf(errstr, errlen, "%s", e ? rd_kafka_error_string(e) : "empty answer");
        } else {
            collect_offsets(rd_kafka_group_result_partitions(res[0]), out, n);
            rc = 0;
        }
    }
    end(g, &r, ev);
    return rc;
}

int km_group_state(km_groupclient_t *g, const char *group, int timeout_ms, rd_kafka_consumer_group_state_t *state,
                   char *errstr, size_t errlen) {
    request_t r;
    if (begin(g, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, &r, errstr, errlen) != 0) return -1;
    rd_kafka_DescribeConsumerGroups(r.rk, &group, 1, r.o, r.q);
    rd_kafka_event_t *ev = km_admin_await(r.q, timeout_ms, NULL, errstr, errlen);
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_ConsumerGroupDescription_t **d =
            rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
        const rd_kafka_error_t *e = cnt ? rd_kafka_ConsumerGroupDescription_error(d[0]) : NULL;
        if (cnt == 0 || e) {
            snprintf(errstr, errlen, "%s", e ? rd_kafka_error_string(e) : "empty answer");
        } else {
            *state = rd_kafka_ConsumerGroupDescription_state(d[0]);
            rc = 0;
        }
    }
    end(g, &r, ev);
    return rc;
}

int km_group_alter_offsets(km_groupclient_t *g, const char *group, const km_group_offset_t *offs, size_t n, int timeout_ms,
                           char *errstr, size_t errlen) {
    request_t r;
    if (begin(g, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, &r, errstr, errlen) != 0) return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_add(l, offs[i].topic, offs[i].partition);
        p->offset = offs[i].offset;
        if (offs[i].metadata && *offs[i].metadata) {
            p->metadata = km_xstrdup(offs[i].metadata);
            p->metadata_size = strlen(offs[i].metadata);
        }
    }
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
    rd_kafka_AlterConsumerGroupOffsets(r.rk, &req, 1, r.o, r.q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_event_t *ev = km_admin_await(r.q, timeout_ms, NULL, errstr, errlen);
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_group_result_t **res =
            rd_kafka_AlterConsumerGroupOffsets_result_groups(rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &cnt);
        const rd_kafka_error_t *e = cnt ? rd_kafka_group_result_error(res[0]) : NULL;
        const rd_kafka_topic_partition_list_t *parts = cnt ? rd_kafka_group_result_partitions(res[0]) : NULL;
        rd_kafka_resp_err_t perr = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; parts && i < parts->cnt; i++)
            if (parts->elems[i].err) perr = parts->elems[i].err;
        if (cnt == 0 || e || perr)
            snprintf(errstr, errlen, "%s", e ? rd_kafka_error_string(e) : cnt ? rd_kafka_err2str(perr) : "empty answer");
        else
            rc = 0;
    }
    end(g, &r, ev);
    return rc;
}
