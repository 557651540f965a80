/* heartbeat.c — see heartbeat.h. */
#include "heartbeat.h"

#include "admin.h"
#include "log.h"
#include "records.h"
#include "rk.h"
#include "util.h"

#include <pthread.h>
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
    int replication_factor, admin_timeout_ms;
    pthread_t setup; /* makes sure the topic exists, beside the main thread */
    bool setup_started;
    _Atomic bool ready; /* the topic exists: heartbeats go out */
};

/* Creating the topic may wait admin.timeout.ms for a target that does not answer; the main
 * thread (every flow's tick) must not wait with it. Until it exists, no heartbeat is sent. */
static void *setup_main(void *arg) {
    km_heartbeats_t *h = arg;
    bool created;
    char err[512];
    if (km_admin_ensure_topic(h->rk, h->topic, 1, h->replication_factor, true, h->admin_timeout_ms, &created, err, sizeof(err)) != 0) {
        if (!km_admin_stopping())
            km_warn("heartbeats %s->%s: not emitted: cannot create %s on %s: %s", h->source, h->target, h->topic, h->target, err);
        return NULL;
    }
    if (created) km_info("heartbeats %s->%s: created %s on %s", h->source, h->target, h->topic, h->target);
    atomic_store(&h->ready, true);
    return NULL;
}

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
    km_rk_conf_plain_producer(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, h);
    h->rk = km_rk_new(RD_KAFKA_PRODUCER, conf, errstr, errlen);
    if (!h->rk) goto fail;
    h->rkt = rd_kafka_topic_new(h->rk, h->topic, NULL);
    h->replication_factor = c->replication_factor;
    h->admin_timeout_ms = c->admin_timeout_ms;
    if (pthread_create(&h->setup, NULL, setup_main, h) != 0) {
        snprintf(errstr, errlen, "cannot start a thread");
        goto fail;
    }
    h->setup_started = true;
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
    if (!atomic_load(&h->ready)) return;
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
    if (h->setup_started) pthread_join(h->setup, NULL);
    if (h->rk) rd_kafka_flush(h->rk, 2000);
    if (h->rkt) rd_kafka_topic_destroy(h->rkt);
    if (h->rk) rd_kafka_destroy(h->rk);
    free(h->source);
    free(h->target);
    free(h->topic);
    free(h);
}
