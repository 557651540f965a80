/* flow.h — the controller of one replication flow {source}->{target} (MM2's
 * MirrorSourceConnector): it decides which source partitions are replicated, makes sure their
 * remote topics exist, divides the partitions among tasks.max tasks and restarts that division
 * when topics or partitions appear. It runs on the main thread; the tasks do the copying. */
#ifndef KM_FLOW_H
#define KM_FLOW_H

#include "config.h"
#include "task.h"

#include <stdbool.h>

typedef struct km_flow_rt km_flow_rt_t;

/* Connects to both clusters, loads positions, creates what is missing and starts the tasks.
 * NULL with errstr when the flow cannot start (unreachable cluster, unreadable positions).
 * The flow's state and its tasks' metrics go to fm, which must outlive the flow. */
km_flow_rt_t *km_flow_rt_start(const km_flow_t *flow, km_flow_metrics_t *fm, char *errstr, size_t errlen);
/* Periodic work (topic refresh when due, task health, flow state). Returns false once the flow failed. */
bool km_flow_rt_tick(km_flow_rt_t *rt);
/* Stops the tasks gracefully and frees everything. Returns 0, or -1 when the flow had failed. */
int km_flow_rt_stop(km_flow_rt_t *rt);

#endif
