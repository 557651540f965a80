/* mirror.h — one kmirror process: every flow that runs here, started together, ticked from the
 * main thread, stopped together. Also owns the process's one global, the stop flag set by
 * SIGTERM/SIGINT. */
#ifndef KM_MIRROR_H
#define KM_MIRROR_H

#include "config.h"
#include "metrics.h"

#include <stdbool.h>

typedef struct km_mirror km_mirror_t;

/* Starts every flow with runs_here, and the metrics endpoint when cfg->metrics_listen is set.
 * NULL (errors logged) when any flow or the endpoint cannot start. */
km_mirror_t *km_mirror_start(const km_config_t *cfg);
/* Periodic work; false once a flow failed. */
bool km_mirror_tick(km_mirror_t *m);
/* Graceful stop of everything; 0, or -1 when a flow had failed. Frees m. */
int km_mirror_stop(km_mirror_t *m);

/* Every flow's metrics (metrics.h), valid until km_mirror_stop. */
km_metrics_t *km_mirror_metrics(km_mirror_t *m);
/* The port /metrics is served on, 0 when metrics.listen is off. */
int km_mirror_http_port(const km_mirror_t *m);

/* SIGTERM/SIGINT set the stop flag; a second signal exits at once. SIGHUP is ignored (no reload
 * yet): km_mirror_stop_requested logs that it was. */
void km_mirror_install_signals(void);
bool km_mirror_stop_requested(void);

/* `kmirror CONFIG`: runs until a signal or a failure; the process exit status. */
int km_mirror_main(const km_config_t *cfg);

#endif
