/* mirror.h — one kmirror process: every flow that runs here, started together, ticked from the
 * main thread, stopped together, and changed by configuration reloads (reload.h) in between.
 * Also owns the process's one global state, the signal flags: the stop flag set by
 * SIGTERM/SIGINT and the count of SIGHUPs, which ask for a reload. */
#ifndef KM_MIRROR_H
#define KM_MIRROR_H

#include "config.h"
#include "metrics.h"

#include <stdbool.h>

typedef struct km_mirror km_mirror_t;

/* Starts every flow with runs_here, and the metrics endpoint when cfg->metrics_listen is set.
 * NULL (errors logged) when any flow or the endpoint cannot start. cfg is the caller's and must
 * outlive km_mirror_stop; a reload that changes only a flow's name filters changes them in cfg. */
km_mirror_t *km_mirror_start(km_config_t *cfg);
/* Periodic work, and a reload when one was asked for (SIGHUP, POST /-/reload); false once a flow
 * failed. */
bool km_mirror_tick(km_mirror_t *m);
/* Graceful stop of everything; 0, or -1 when a flow had failed. Frees m. */
int km_mirror_stop(km_mirror_t *m);

/* Every flow's metrics (metrics.h), valid until km_mirror_stop. */
km_metrics_t *km_mirror_metrics(km_mirror_t *m);
/* The port /metrics is served on, 0 when metrics.listen is off. */
int km_mirror_http_port(const km_mirror_t *m);

/* SIGTERM/SIGINT set the stop flag; a second signal exits at once. SIGHUP asks for a reload,
 * which km_mirror_tick carries out. */
void km_mirror_install_signals(void);
bool km_mirror_stop_requested(void);

/* What the command line said that a reload keeps applying (borrowed; may outlive nothing but
 * km_mirror_main). */
typedef struct km_mirror_opts {
    char **clusters; /* --clusters (NULL: every cluster of the file) */
    size_t nclusters;
    const char *metrics_listen; /* --metrics-listen */
    const char *log_level;      /* --log-level, which beats log.level */
    int verbosity;              /* -v / -q */
} km_mirror_opts_t;

/* `kmirror CONFIG`: runs until a signal or a failure; the process exit status. A reload reads
 * cfg->path again. */
int km_mirror_main(km_config_t *cfg, const km_mirror_opts_t *opts);

#endif
