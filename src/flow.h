/* flow.h — the controller of one replication flow {source}->{target} (MM2's
 * MirrorSourceConnector): it decides which source partitions are replicated, makes sure their
 * remote topics exist, divides the partitions among the group's tasks (division.h) and runs the
 * tasks that the flow's group (coord.h) assigns to this process, restarting a task whose
 * partitions change. It runs on the main thread, which never waits on a cluster for it: topic
 * listing, creation and growth run on its refresher thread, the positions that tasks and new
 * partitions start from are read on threads of their own; the tasks do the copying. */
#ifndef KM_FLOW_H
#define KM_FLOW_H

#include "config.h"
#include "metrics.h"
#include "util.h"

#include <librdkafka/rdkafka.h>

#include <stdbool.h>

typedef struct km_flow_rt km_flow_rt_t;

/* Connects to both clusters, creates what is missing and joins the flow's group; tasks start
 * from km_flow_rt_tick once the group assigned them. NULL with errstr when the flow cannot start
 * (unreachable cluster, unreadable positions, no group membership possible). The flow's state
 * and its tasks' metrics go to fm, which must outlive the flow; so must `flow`. `wake` (the main
 * thread's, or NULL) is signalled when work the next tick takes is done. */
km_flow_rt_t *km_flow_rt_start(km_flow_t *flow, km_flow_metrics_t *fm, km_wake_t *wake, char *errstr, size_t errlen);
/* Periodic work (group protocol, topic refresh when due, task health, starting and stopping
 * tasks, flow state). Returns false once the flow failed. */
bool km_flow_rt_tick(km_flow_rt_t *rt);
/* A reload changed only the flow's name filters (topics, groups and their excludes) to those of
 * `next`: they replace the running flow's own (rt's km_flow_t is changed in place; nothing keeps
 * `next`), the topics are surveyed again at once and the group learns the new fingerprint. The
 * caller has stopped anything else that reads the filters (checkpoints). */
void km_flow_rt_refilter(km_flow_rt_t *rt, const km_flow_t *next);
/* The flow's group gave this process its first assignment (possibly of no task). */
bool km_flow_rt_assigned(const km_flow_rt_t *rt);
/* This process runs task 0 of the flow's group: it does the flow's once-per-group work. */
bool km_flow_rt_leads(const km_flow_rt_t *rt);
/* The flow's admin clients for its source and target, for the checkpointer to borrow: they live
 * until km_flow_rt_stop. */
void km_flow_rt_admins(const km_flow_rt_t *rt, rd_kafka_t **src, rd_kafka_t **dst);
/* Stops the tasks gracefully, leaves the group and frees everything; a positions read still in
 * flight at shutdown.timeout.ms is left to end on its own (it frees itself). Returns 0, or -1
 * when the flow had failed. */
int km_flow_rt_stop(km_flow_rt_t *rt);

#endif
