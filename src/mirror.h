/* mirror.h — one kmirror process: every flow that runs here, started together, ticked from the
 * main thread, stopped together. Also owns the process's one global, the stop flag set by
 * SIGTERM/SIGINT. */
#ifndef KM_MIRROR_H
#define KM_MIRROR_H

#include "config.h"
#include "flow.h"

#include <stdbool.h>

typedef struct km_mirror km_mirror_t;

/* Starts every flow with runs_here. NULL (errors logged) when any flow cannot start. */
km_mirror_t *km_mirror_start(const km_config_t *cfg);
/* Periodic work; false once a flow failed. */
bool km_mirror_tick(km_mirror_t *m);
/* Graceful stop of everything; 0, or -1 when a flow had failed. Frees m. */
int km_mirror_stop(km_mirror_t *m);

typedef void (*km_flow_part_visit_fn)(void *arg, const km_flow_t *flow, const char *topic, const char *remote,
                                      int32_t partition, const km_part_stats_t *stats);
void km_mirror_visit(km_mirror_t *m, km_flow_part_visit_fn fn, void *arg);

/* The tasks this process runs now, per flow, with their source partitions (for /status:
 * "tasks": [{"flow": "a->b", "task": 0, "partitions": [...]}]). Callable from any thread. */
void km_mirror_visit_tasks(km_mirror_t *m, km_flow_task_visit_fn fn, void *arg);
/* Flows whose group has processes with different settings: fn gets the differing keys
 * (coord.h). For /status and /healthz. Callable from any thread. */
typedef void (*km_flow_conflict_fn)(void *arg, const km_flow_t *flow, const char *conflict);
void km_mirror_visit_conflicts(km_mirror_t *m, km_flow_conflict_fn fn, void *arg);

/* SIGTERM/SIGINT set the stop flag; a second signal exits at once. */
void km_mirror_install_signals(void);
bool km_mirror_stop_requested(void);

/* `kmirror CONFIG`: runs until a signal or a failure; the process exit status. */
int km_mirror_main(const km_config_t *cfg);

#endif
