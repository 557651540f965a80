/* heartbeat.c — see heartbeat.h. */
#include "heartbeat.h"

#include "admin.h"
#include "log.h"
#include "records.h"
#include "rk.h"
#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct km_heartbeats {
    char *source, *target, *topic;
    int64_t interval_ms, next_ms;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    _Atomic uint64_t sent;
    bool warned;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    km_heartbeats_t *h = opaque;
    if (!m->err) {
        atomic_fetch_add_explicit(&h->sent, 1, memory_order_relaxed);
        h->warned = false;
    } else if (!h->warned) { /* once per outage, not once per second */
        km_warn("heartbeats %s->%s: cannot write to %s on %s: %s", h->source, h->target, h->topic, h->target, rd_kafka_err2str(m->err));
        h->warned = true;
    }
}

km_heartbeats_t *km_heartbeats_start(const km_heartbeats_conf_t *c, char *errstr, size_t errlen) {
    km_heartbeats_t *h = km_xcalloc(1, sizeof(*h));
    h->source = km_xstrdup(c->source);
    h->target = km_xstrdup(c->target);
    h->topic = km_xstrdup(c->topic);
    h->interval_ms = c->interval_ms > 0 ? c->interval_ms : 1000;
    rd_kafka_conf_t *conf = km_rk_conf(c->producer, errstr, errlen);
    if (!conf) goto fail;
    rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, h);
    h->rk = km_rk_new(RD_KAFKA_PRODUCER, conf, errstr, errlen);
    if (!h->rk) goto fail;
    bool created;
    char err[512];
    if (km_admin_ensure_topic(h->rk, h->topic, 1, c->replication_factor, true, c->admin_timeout_ms, &created, err, sizeof(err)) != 0) {
        snprintf(errstr, errlen, "cannot create %s on %s: %s", h->topic, h->target, err);
        goto fail;
    }
    if (created) km_info("heartbeats %s->%s: created %s on %s", h->source, h->target, h->topic, h->target);
    h->rkt = rd_kafka_topic_new(h->rk, h->topic, NULL);
    return h;
fail:
    km_heartbeats_stop(h);
    return NULL;
}

static void emit(km_heartbeats_t *h) {
    km_heartbeat_t hb = {h->source, h->target, km_now_wall_ms()};
    char key[2 * (KM_STRING_MAX + 2)], val[10];
    int kn = km_heartbeat_encode_key(&hb, key, sizeof(key));
    km_heartbeat_encode_value(&hb, val, sizeof(val));
    rd_kafka_resp_err_t err = rd_kafka_producev(h->rk, RD_KAFKA_V_RKT(h->rkt), RD_KAFKA_V_PARTITION(0),
                                                RD_KAFKA_V_KEY(key, (size_t)kn), RD_KAFKA_V_VALUE(val, sizeof(val)),
                                                RD_KAFKA_V_TIMESTAMP(hb.timestamp), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                RD_KAFKA_V_END);
    if (err && !h->warned) {
        km_warn("heartbeats %s->%s: cannot queue a heartbeat: %s", h->source, h->target, rd_kafka_err2str(err));
        h->warned = true;
    }
}

void km_heartbeats_tick(km_heartbeats_t *h) {
    int64_t now = km_now_mono_ms();
    if (now >= h->next_ms) {
        emit(h);
        h->next_ms = now + h->interval_ms;
    }
    rd_kafka_poll(h->rk, 0);
}

uint64_t km_heartbeats_sent(const km_heartbeats_t *h) { return atomic_load_explicit(&h->sent, memory_order_relaxed); }

void km_heartbeats_stop(km_heartbeats_t *h) {
    if (!h) return;
    if (h->rk) rd_kafka_flush(h->rk, 2000);
    if (h->rkt) rd_kafka_topic_destroy(h->rkt);
    if (h->rk) rd_kafka_destroy(h->rk);
    free(h->source);
    free(h->target);
    free(h->topic);
    free(h);
}
