/* task.h — a replication task: one thread, one source consumer, one target producer, a set of
 * source partitions (MM2's MirrorSourceTask).
 *
 * The task owns its clients and all per-partition state; nothing in it is shared except the
 * metrics (metrics.h) that observers read and the mailbox through which the flow
 * controller adds partitions or asks it to stop. Records travel zero-copy: the consumed
 * message is handed to the producer and freed in its delivery report. A source offset counts
 * as replicated only once the target acknowledged it and everything before it; that is what
 * is committed to the offsets topic (positions.h). With exactly-once (exactly.once.support),
 * records and positions are written in one transaction instead (see task.c). */
#ifndef KM_TASK_H
#define KM_TASK_H

#include "config.h"
#include "metrics.h"
#include "positions.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct km_task km_task_t;

typedef struct km_assign_item {
    const char *topic;    /* source topic */
    const char *remote;   /* target topic */
    int32_t partition;
    int64_t position;     /* last replicated offset, -1 when none */
    int64_t position_ts;  /* timestamp of the source record at position (positions.h), -1 unknown */
} km_assign_item_t;

/* Starts a task thread for `flow` with the given partitions. NULL with errstr when a client
 * cannot be created. `consumer` and `producer` hold its replication clients' librdkafka settings
 * (the flow's, with the prefetch sized for its source and the requests in flight for its target:
 * flow.c); the task keeps at most `inflight_max` bytes of records in flight (0: no cap) within the
 * process's inflight.max.bytes. `flow`, `consumer`, `producer` and `fm` (where the task's
 * metrics go) must outlive the task. With exactly-once, the task's transactional producer is
 * initialised before this returns: a previous owner of task `id` is fenced and its open
 * transaction settled, so positions read afterwards are final. */
km_task_t *km_task_start(const km_flow_t *flow, const km_props_t *consumer, const km_props_t *producer, int64_t inflight_max,
                         km_flow_metrics_t *fm, int id, const km_assign_item_t *items, size_t n, char *errstr, size_t errlen);
/* Hands more partitions to a running task (copied; applied by the task thread). */
void km_task_add(km_task_t *t, const km_assign_item_t *items, size_t n);
/* The offset-syncs topic exists: the task may write its offset-syncs (before this they are
 * kept, and the positions wait for them). */
void km_task_syncs_ready(km_task_t *t);
/* Asks the task to stop: stop fetching, deliver what is in flight, commit positions. */
void km_task_request_stop(km_task_t *t);
/* Waits for the thread (its positions are committed by then). Returns 0, or -1 when the task
 * failed (fatal client error); *reason then describes it (owned by the task). */
int km_task_join(km_task_t *t, const char **reason);
/* A fatal error stopped the task (it is still joinable). */
bool km_task_failed(const km_task_t *t);
/* Why, once km_task_failed() returned true (owned by the task). */
const char *km_task_fail_reason(const km_task_t *t);
/* The failure was a producer's fatal error, which a new task (new clients, resuming from the
 * committed positions) does not inherit. */
bool km_task_restartable(const km_task_t *t);
/* Exactly-once: another process initialised this task's transactional id, so it runs the task
 * now; this one stopped without committing (it is still joinable; not a failure). */
bool km_task_fenced(const km_task_t *t);
void km_task_free(km_task_t *t);

#endif
