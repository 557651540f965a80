/* heartbeat.h — MM2's heartbeat emitter (MirrorHeartbeatTask): every
 * emit.heartbeats.interval.seconds a record keyed {source, target} with the current time goes
 * to the `heartbeats` topic of the flow's target cluster (created on start: one partition,
 * compacted). Replicated onward under MM2's rules, these records and the topic names they
 * produce (A.heartbeats, B.A.heartbeats...) let anyone derive upstream clusters and hop counts
 * (`kmirror topology`, RemoteClusterUtils). Runs on the main thread; producing is async; the
 * topic is made sure of by a thread of its own, so a target that does not answer holds up
 * nothing (no heartbeat is sent until the topic exists; a failure is logged). */
#ifndef KM_HEARTBEAT_H
#define KM_HEARTBEAT_H

#include "props.h"

#include <stdint.h>

typedef struct km_heartbeats km_heartbeats_t;

typedef struct km_heartbeats_conf {
    const char *source, *target; /* aliases */
    const char *topic;           /* the policy's heartbeats topic */
    const km_props_t *producer;  /* librdkafka properties of the target producer */
    int64_t interval_ms;
    int replication_factor;      /* heartbeats.topic.replication.factor */
    int admin_timeout_ms;
} km_heartbeats_conf_t;

/* NULL with errstr when the producer cannot be made; returns before the topic exists. */
km_heartbeats_t *km_heartbeats_start(const km_heartbeats_conf_t *c, char *errstr, size_t errlen);
/* Emits when due and serves delivery reports. */
void km_heartbeats_tick(km_heartbeats_t *h);
/* Heartbeats acknowledged so far. */
uint64_t km_heartbeats_sent(const km_heartbeats_t *h);
void km_heartbeats_stop(km_heartbeats_t *h);

#endif
