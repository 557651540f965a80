/* reload.h — what a new configuration file means for the flows that run (SIGHUP, or POST
 * /-/reload on the metrics endpoint; mirror.c carries it out on the main thread).
 *
 * The file is read again with the same --clusters; an invalid file changes nothing. A valid one
 * is compared, flow by flow, with what each running flow was started with: its resolved
 * settings — the connector keys with their defaults, every client's properties as written and as
 * translated for librdkafka (these carry the clusters' bootstrap servers and security, secrets
 * from config providers resolved) and the process's in-flight budget:
 *   equal              the flow runs on untouched: no task restart, no rebalance;
 *   only name filters  (topics, groups and their excludes) they are swapped into the running
 *                      flow (flow.h), which applies them at its next topic survey, at once;
 *   anything else      the flow stops cleanly (positions committed) and starts with the new ones.
 * Flows that appear start; flows that go (removed, disabled, target no longer here) stop. Pure
 * decisions over configurations, unit-tested. */
#ifndef KM_RELOAD_H
#define KM_RELOAD_H

#include "config.h"

#include <stdbool.h>

typedef enum { KM_RELOAD_SAME, KM_RELOAD_FILTERS, KM_RELOAD_RESTART } km_reload_change_t;

/* How `next` (the flow in the new file) differs from `running`; *why (caller frees) lists the
 * differing keys ("tasks.max: 1 -> 2; consumer bootstrap.servers: a:9092 -> b:9092"; secrets
 * only as "changed"), NULL for SAME. Both flows run here. */
km_reload_change_t km_reload_compare(const km_flow_t *running, const km_flow_t *next, char **why);

/* Whether the heartbeats of the pair emitted as `a` says would be emitted the same as `b` says
 * (heartbeats_here, topic, interval, replication factor, producer). */
bool km_reload_heartbeats_same(const km_flow_t *a, const km_flow_t *b);

#endif
