/* flow.h — the controller of one replication flow {source}->{target} (MM2's
 * MirrorSourceConnector): it decides which source partitions are replicated, makes sure their
 * remote topics exist, divides the partitions among the group's tasks (division.h) and runs the
 * tasks that the flow's group (coord.h) assigns to this process, restarting a task whose
 * partitions change. It runs on the main thread; the tasks do the copying. */
#ifndef KM_FLOW_H
#define KM_FLOW_H

#include "config.h"
#include "task.h"

#include <stdbool.h>

typedef struct km_flow_rt km_flow_rt_t;

/* Connects to both clusters, creates what is missing and joins the flow's group; tasks start
 * from km_flow_rt_tick once the group assigned them. NULL with errstr when the flow cannot start
 * (unreachable cluster, unreadable positions, no group membership possible). */
km_flow_rt_t *km_flow_rt_start(const km_flow_t *flow, char *errstr, size_t errlen);
/* Periodic work (group protocol, topic refresh when due, task health, starting and stopping
 * tasks). Returns false once the flow failed. */
bool km_flow_rt_tick(km_flow_rt_t *rt);
/* Stops the tasks gracefully, leaves the group and frees everything. Returns 0, or -1 when the
 * flow had failed. */
int km_flow_rt_stop(km_flow_rt_t *rt);
const km_flow_t *km_flow_rt_flow(const km_flow_rt_t *rt);
/* Every partition of the tasks running here, with its counters (from any thread). */
void km_flow_rt_visit(km_flow_rt_t *rt, km_part_visit_fn fn, void *arg);

/* A source partition of a task; valid during the visit only. */
typedef struct km_task_partition {
    const char *topic;
    int32_t partition;
} km_task_partition_t;
typedef void (*km_flow_task_visit_fn)(void *arg, const km_flow_t *flow, int task, const km_task_partition_t *parts,
                                      size_t n);
/* Every task running here now, with its source partitions (from any thread; for /status). */
void km_flow_rt_visit_tasks(km_flow_rt_t *rt, km_flow_task_visit_fn fn, void *arg);
/* The configuration conflict with other processes of the group, or NULL; owned by the caller. */
char *km_flow_rt_conflict(km_flow_rt_t *rt);

#endif
