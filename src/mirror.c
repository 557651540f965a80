/* mirror.c — see mirror.h. */
#include "mirror.h"

#include "admin.h"
#include "checkpoint.h"
#include "flow.h"
#include "heartbeat.h"
#include "http.h"
#include "log.h"
#include "sdnotify.h"
#include "util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t hup_count; /* SIGHUPs not yet reported in the log */

static void on_signal(int sig) {
    if (stop_signal) _exit(128 + sig);
    stop_signal = sig;
}

/* There is no configuration reload yet; SIGHUP (a closed terminal, `systemctl reload`, a
 * logrotate postrotate) must not stop replication without committing positions. */
static void on_hup(int sig) {
    (void)sig;
    hup_count++;
}

void km_mirror_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    km_admin_stop_on(&stop_signal); /* start-up and admin waits end early on a stop */
}

bool km_mirror_stop_requested(void) {
    if (hup_count) {
        hup_count = 0;
        km_warn("SIGHUP received and ignored: kmirror cannot reload its configuration yet (restart it to apply changes; "
                "SIGTERM stops it cleanly)");
    }
    return stop_signal != 0;
}

/* A running flow and its once-per-flow work: checkpoints and group offset sync run in the one
 * process of the flow's group that runs task 0 (two emitters would interleave checkpoints of
 * different ages). */
typedef struct flow_run {
    const km_flow_t *flow;
    km_flow_rt_t *rt;
    km_checkpointer_t *checkpointer; /* NULL while another process leads, or when off */
    bool checkpoints_broken;         /* could not start: said once, not retried */
} flow_run_t;

struct km_mirror {
    flow_run_t *flows;
    size_t nflows;
    km_heartbeats_t **heartbeats; /* one per pair with heartbeats_here */
    size_t nheartbeats;
    km_metrics_t *metrics;
    km_http_t *http; /* NULL unless metrics.listen / --metrics-listen */
};

/* Checkpoints need offset-syncs; without them a flow still replicates. */
static bool checkpoints_wanted(const km_flow_t *f) {
    return f->s.emit_offset_syncs_enabled && (f->s.emit_checkpoints_enabled || f->s.sync_group_offsets_enabled);
}

static void follow_lead(km_mirror_t *m, flow_run_t *r) {
    bool lead = checkpoints_wanted(r->flow) && !r->checkpoints_broken && km_flow_rt_leads(r->rt);
    if (lead && !r->checkpointer) {
        char err[1024];
        r->checkpointer = km_checkpointer_start(r->flow, m->metrics, err, sizeof(err));
        if (!r->checkpointer && !km_admin_stopping()) {
            km_error("flow %s: checkpoints and group offset sync are not running: %s", r->flow->name, err);
            r->checkpoints_broken = true;
        }
    } else if (!lead && r->checkpointer) {
        km_checkpointer_stop(r->checkpointer);
        r->checkpointer = NULL;
    }
}

/* Heartbeats are not replication: a pair whose target cannot take them is reported, not fatal. */
static void start_heartbeats(km_mirror_t *m, const km_config_t *cfg) {
    m->heartbeats = km_xcalloc(cfg->nflows, sizeof(*m->heartbeats));
    for (size_t i = 0; i < cfg->nflows; i++) {
        const km_flow_t *f = &cfg->flows[i];
        if (!f->heartbeats_here || km_admin_stopping()) continue;
        km_heartbeats_conf_t hc = {f->source, f->target, f->s.heartbeats_topic, &f->rk_producer,
                                   f->s.emit_heartbeats_interval_ms, f->s.internal_replication_factor[0],
                                   (int)f->s.admin_timeout_ms};
        char err[1024];
        km_heartbeats_t *h = km_heartbeats_start(&hc, err, sizeof(err));
        if (h) m->heartbeats[m->nheartbeats++] = h;
        else km_warn("heartbeats %s: not emitted: %s", f->name, err);
    }
}

/* The endpoint comes up before the flows so that /healthz answers "starting" while they connect. */
static int start_http(km_mirror_t *m, const char *listen, km_webconfig_t *web) {
    char err[512];
    m->http = km_http_start(listen, m->metrics, web, err, sizeof(err));
    if (!m->http) {
        km_error("metrics.listen=%s: %s", listen, err);
        return -1;
    }
    char *host, *port;
    km_http_parse_listen(listen, &host, &port, err, sizeof(err));
    km_info("serving /metrics, /status and /healthz on %s://%s%s%s:%d%s", km_webconfig_cert_pem(web) ? "https" : "http",
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", km_http_port(m->http),
            km_webconfig_has_users(web) ? " (basic auth)" : "");
    free(host);
    free(port);
    return 0;
}

km_mirror_t *km_mirror_start(const km_config_t *cfg) {
    km_mirror_t *m = km_xcalloc(1, sizeof(*m));
    m->flows = km_xcalloc(cfg->nflows, sizeof(*m->flows));
    m->metrics = km_metrics_new();
    km_flow_metrics_t **fms = km_xcalloc(cfg->nflows, sizeof(*fms));
    for (size_t i = 0; i < cfg->nflows; i++)
        if (cfg->flows[i].runs_here) fms[i] = km_metrics_add_flow(m->metrics, &cfg->flows[i]);
    bool ok = !cfg->metrics_listen || start_http(m, cfg->metrics_listen, cfg->metrics_web) == 0;
    for (size_t i = 0; ok && i < cfg->nflows; i++) {
        const km_flow_t *f = &cfg->flows[i];
        if (!f->runs_here) continue;
        char err[1024];
        km_info("flow %s: starting (%s -> %s)", f->name, km_props_get(&f->rk_consumer, "bootstrap.servers"),
                km_props_get(&f->rk_producer, "bootstrap.servers"));
        km_flow_rt_t *rt = km_flow_rt_start(f, fms[i], err, sizeof(err));
        if (!rt && km_admin_stopping()) {
            km_info("flow %s: start-up interrupted by the stop", f->name);
            ok = false;
        } else if (!rt) {
            km_error("flow %s: cannot start: %s", f->name, err);
            km_flow_metrics_state(fms[i], KM_FLOW_FAILED, err);
            ok = false;
        } else {
            m->flows[m->nflows++] = (flow_run_t){f, rt, NULL, false};
        }
    }
    free(fms);
    if (!ok) {
        km_mirror_stop(m);
        return NULL;
    }
    start_heartbeats(m, cfg);
    return m;
}

bool km_mirror_tick(km_mirror_t *m) {
    bool ok = true;
    for (size_t i = 0; i < m->nflows; i++) {
        ok &= km_flow_rt_tick(m->flows[i].rt);
        follow_lead(m, &m->flows[i]);
    }
    for (size_t i = 0; i < m->nheartbeats; i++) km_heartbeats_tick(m->heartbeats[i]);
    return ok;
}

int km_mirror_stop(km_mirror_t *m) {
    int rc = 0;
    for (size_t i = 0; i < m->nflows; i++)
        if (m->flows[i].checkpointer) km_checkpointer_stop(m->flows[i].checkpointer);
    for (size_t i = 0; i < m->nheartbeats; i++) km_heartbeats_stop(m->heartbeats[i]);
    free(m->heartbeats);
    for (size_t i = 0; i < m->nflows; i++)
        if (km_flow_rt_stop(m->flows[i].rt) != 0) rc = -1;
    km_http_stop(m->http);
    km_metrics_free(m->metrics);
    free(m->flows);
    free(m);
    return rc;
}

km_metrics_t *km_mirror_metrics(km_mirror_t *m) { return m->metrics; }

int km_mirror_http_port(const km_mirror_t *m) { return m->http ? km_http_port(m->http) : 0; }

int km_mirror_main(const km_config_t *cfg) {
    km_mirror_install_signals();
    km_mirror_t *m = km_mirror_start(cfg);
    if (!m && stop_signal) {
        km_info("stopped during start-up; nothing was replicated yet");
        return 0;
    }
    if (!m) return 1;
    km_info("kmirror running; SIGTERM or Ctrl-C stops it");
    km_sdnotify_t *sd = km_sdnotify_new(); /* NULL unless run by systemd with Type=notify */
    bool ok = true;
    while (!km_mirror_stop_requested() && (ok = km_mirror_tick(m))) {
        km_sdnotify_tick(sd, m->metrics);
        struct timespec ts = {0, TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *why = ok ? "stopping: delivering records in flight and committing positions" : "a flow failed; stopping";
    km_info("%s", why);
    km_sdnotify_stopping(sd, why);
    km_sdnotify_free(sd);
    int rc = km_mirror_stop(m);
    if (rc == 0 && ok) km_info("stopped cleanly");
    return rc == 0 && ok ? 0 : 1;
}
