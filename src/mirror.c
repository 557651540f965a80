/* mirror.c — see mirror.h.
 *
 * Configurations are shared by reference. Every flow runs on the km_flow_t of the file it was
 * started from (its tasks read it for as long as they run), so a file read by a reload lives as
 * long as a flow started from it runs, and is freed with the last one (cfg_ref_t; counted on
 * the main thread only). A flow that a reload leaves unchanged keeps running on its older file.
 *
 * A reload (reload.h) is worked out on the main thread; what waits on a cluster — stopping a
 * flow, starting one — runs on a thread per flow beside it (flow_run_t.worker), and the main
 * thread takes the outcome at a later tick. Meanwhile the flow is neither ticked nor reloaded
 * again: a reload that comes then waits until every such thread is done. */
#include "mirror.h"

#include "admin.h"
#include "checkpoint.h"
#include "flow.h"
#include "heartbeat.h"
#include "http.h"
#include "log.h"
#include "providers.h"
#include "reload.h"
#include "sdnotify.h"
#include "util.h"

#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The longest the main thread sleeps between ticks: a thread whose work the next tick takes
 * wakes it at once (km_wake_t), so this only paces the periodic checks. */
#define TICK_MS 100
/* How long POST /-/reload waits for its reload (behind a flow that is still starting, say). */
#define HTTP_RELOAD_WAIT_S 30

static volatile sig_atomic_t stop_signal;
/* SIGHUPs received; the main thread compares it with the count it has served, so the handler
 * never has to clear anything. */
static volatile sig_atomic_t reload_signals;

static void on_signal(int sig) {
    if (stop_signal) _exit(128 + sig);
    stop_signal = sig;
}

static void on_hup(int sig) {
    (void)sig;
    reload_signals++;
}

/* A crash (a librdkafka assertion's abort included) leaves its call stack on stderr, in the log
 * an operator or CI keeps, since a core file is rarely kept. backtrace_symbols_fd writes
 * without allocating; the stack is taken once at start so that the unwinder library is loaded
 * before a handler needs it. Not under AddressSanitizer, whose own report says more. */
#if !defined(__SANITIZE_ADDRESS__)
static void on_crash(int sig) {
    static const char head[] = "kmirror: fatal signal; call stack:\n";
    void *frames[64];
    int n = backtrace(frames, 64);
    if (write(STDERR_FILENO, head, sizeof(head) - 1) > 0) backtrace_symbols_fd(frames, n, STDERR_FILENO);
    raise(sig); /* SA_RESETHAND: the default action now, a core dump where enabled */
}
#endif

static void install_crash_report(void) {
#if !defined(__SANITIZE_ADDRESS__)
    void *warm[1];
    backtrace(warm, 1);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) sigaction(fatal[i], &sa, NULL);
#endif
}

void km_mirror_install_signals(void) {
    install_crash_report();
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

bool km_mirror_stop_requested(void) { return stop_signal != 0; }

typedef struct cfg_ref {
    km_config_t *cfg;
    bool owned; /* read by a reload: freed with the last reference (else the caller's) */
    int refs;
} cfg_ref_t;

static cfg_ref_t *cfg_ref_new(km_config_t *cfg, bool owned) {
    cfg_ref_t *r = km_xcalloc(1, sizeof(*r));
    *r = (cfg_ref_t){cfg, owned, 1};
    return r;
}

static cfg_ref_t *cfg_hold(cfg_ref_t *r) {
    r->refs++;
    return r;
}

static void cfg_release(cfg_ref_t *r) {
    if (!r || --r->refs > 0) return;
    if (r->owned) {
        km_config_free(r->cfg);
        free(r->cfg);
    }
    free(r);
}

/* A flow that runs here and its once-per-flow work: checkpoints and group offset sync run in the
 * one process of the flow's group that runs task 0 (two emitters would interleave checkpoints
 * of different ages). */
typedef struct flow_run {
    cfg_ref_t *cfg; /* holds `flow` */
    km_flow_t *flow;
    km_flow_metrics_t *fm;
    km_flow_rt_t *rt;                /* NULL while the worker has the flow, or after a failed start */
    km_checkpointer_t *checkpointer; /* NULL while another process leads, or when off */
    bool checkpoints_broken;         /* could not start: said once, not retried */
    int64_t running_since;           /* when rt started */
    /* The first start, or a reload's stop and/or start, on the worker thread while busy: */
    bool busy;
    pthread_t worker;
    _Atomic bool done;
    km_flow_rt_t *retiring; /* stopped first */
    cfg_ref_t *retiring_cfg;
    bool start;             /* then `flow` is started (else the flow goes) */
    km_flow_rt_t *started;
    char err[1024];
    km_wake_t *wake; /* the mirror's, signalled when the worker is done */
} flow_run_t;

struct km_mirror {
    flow_run_t **runs;
    size_t nruns;
    cfg_ref_t *cfg;               /* the configuration read last */
    km_heartbeats_t **heartbeats; /* by flow of cfg: one per pair with heartbeats_here */
    km_metrics_t *metrics;
    km_http_t *http; /* NULL unless metrics.listen / --metrics-listen */
    km_mirror_opts_t opts;
    sig_atomic_t reloads_served; /* SIGHUPs */
    bool reload_waits;           /* a reload waits for a worker: said once */
    /* POST /-/reload: the HTTP thread asks and waits; the main thread answers every request
     * asked before the reload it ran. */
    pthread_mutex_t lock;
    pthread_cond_t answered_cond;
    uint64_t asked, answered;
    int answer_rc;
    char answer[1024];
    bool closing;
    km_wake_t *wake; /* the main thread waits on it between ticks */
};

/* Checkpoints need offset-syncs; without them a flow still replicates. */
static bool checkpoints_wanted(const km_flow_t *f) {
    return f->s.emit_offset_syncs_enabled && (f->s.emit_checkpoints_enabled || f->s.sync_group_offsets_enabled);
}

static void stop_checkpointer(flow_run_t *r) {
    if (r->checkpointer) km_checkpointer_stop(r->checkpointer);
    r->checkpointer = NULL;
}

static void follow_lead(km_mirror_t *m, flow_run_t *r) {
    bool lead = checkpoints_wanted(r->flow) && !r->checkpoints_broken && km_flow_rt_leads(r->rt);
    if (lead && !r->checkpointer) {
        char err[1024];
        rd_kafka_t *src, *dst;
        km_flow_rt_admins(r->rt, &src, &dst);
        r->checkpointer = km_checkpointer_start(r->flow, m->metrics, src, dst, err, sizeof(err));
        if (!r->checkpointer && !km_admin_stopping()) {
            km_error("flow %s: checkpoints and group offset sync are not running: %s", r->flow->name, err);
            r->checkpoints_broken = true;
        }
    } else if (!lead && r->checkpointer) {
        stop_checkpointer(r);
    }
}

/* ---- heartbeats ---------------------------------------------------------------------------- */

/* Heartbeats are not replication: a pair whose target cannot take them is reported, not fatal. */
static km_heartbeats_t *start_heartbeats(const km_flow_t *f) {
    km_heartbeats_conf_t hc = {f->source, f->target, f->s.heartbeats_topic, &f->rk_producer,
                               f->s.emit_heartbeats_interval_ms, f->s.internal_replication_factor[0],
                               (int)f->s.admin_timeout_ms};
    char err[1024];
    km_heartbeats_t *h = km_heartbeats_start(&hc, err, sizeof(err));
    if (!h) km_warn("heartbeats %s: not emitted: %s", f->name, err);
    return h;
}

static void start_all_heartbeats(km_mirror_t *m) {
    const km_config_t *cfg = m->cfg->cfg;
    m->heartbeats = km_xcalloc(cfg->nflows ? cfg->nflows : 1, sizeof(*m->heartbeats));
    for (size_t i = 0; i < cfg->nflows && !km_admin_stopping(); i++)
        if (cfg->flows[i].heartbeats_here) m->heartbeats[i] = start_heartbeats(&cfg->flows[i]);
}

/* Emitters whose pair emits the same keep running (they copied what they need); the others stop
 * and the new file's start. */
static void reload_heartbeats(km_mirror_t *m, const km_config_t *next) {
    const km_config_t *old = m->cfg->cfg;
    km_heartbeats_t **hb = km_xcalloc(next->nflows ? next->nflows : 1, sizeof(*hb));
    for (size_t j = 0; j < next->nflows; j++) {
        const km_flow_t *nf = &next->flows[j];
        const km_flow_t *of = km_config_flow(old, nf->source, nf->target);
        size_t i = of ? (size_t)(of - old->flows) : 0;
        if (of && m->heartbeats[i] && km_reload_heartbeats_same(of, nf)) {
            hb[j] = m->heartbeats[i];
            m->heartbeats[i] = NULL;
        } else if (nf->heartbeats_here) {
            hb[j] = start_heartbeats(nf);
        }
    }
    for (size_t i = 0; i < old->nflows; i++)
        if (m->heartbeats[i]) km_heartbeats_stop(m->heartbeats[i]);
    free(m->heartbeats);
    m->heartbeats = hb;
}

static void stop_all_heartbeats(km_mirror_t *m) {
    for (size_t i = 0; m->heartbeats && i < m->cfg->cfg->nflows; i++)
        if (m->heartbeats[i]) km_heartbeats_stop(m->heartbeats[i]);
    free(m->heartbeats);
    m->heartbeats = NULL;
}

/* ---- flows started and stopped beside the main thread -------------------------------------- */

static void *worker_main(void *arg) {
    flow_run_t *r = arg;
    if (r->retiring && km_flow_rt_stop(r->retiring) != 0) km_warn("flow %s: it had failed before it was stopped", r->flow->name);
    r->retiring = NULL;
    if (r->start && !km_admin_stopping()) {
        km_info("flow %s: starting (%s -> %s)", r->flow->name, km_props_get(&r->flow->rk_consumer, "bootstrap.servers"),
                km_props_get(&r->flow->rk_producer, "bootstrap.servers"));
        r->started = km_flow_rt_start(r->flow, r->fm, r->wake, r->err, sizeof(r->err));
    }
    atomic_store(&r->done, true);
    km_wake_signal(r->wake);
    return NULL;
}

/* Stops whatever of r runs, then starts `next` (from `cfg`) in its place, or lets r go when
 * next is NULL; on the worker thread. */
static void hand_off(km_mirror_t *m, flow_run_t *r, cfg_ref_t *cfg, km_flow_t *next) {
    stop_checkpointer(r);
    r->checkpoints_broken = false;
    r->retiring = r->rt;
    r->rt = NULL;
    r->retiring_cfg = r->cfg;
    r->cfg = next ? cfg_hold(cfg) : NULL;
    r->start = next != NULL;
    if (next) {
        r->flow = next;
        r->fm = km_metrics_add_flow(m->metrics, next); /* the same series, starting again */
    }
    atomic_store(&r->done, false);
    r->busy = true;
    if (pthread_create(&r->worker, NULL, worker_main, r) != 0) {
        km_warn("flow %s: cannot start a thread for its stop or start; doing it on the main thread", r->flow->name);
        r->busy = false;
        worker_main(r);
    }
}

static void run_free(flow_run_t *r) {
    cfg_release(r->cfg);
    free(r);
}

/* Takes in what the worker of run i did (it was joined). False when the run is gone. */
static bool finish(km_mirror_t *m, size_t i) {
    flow_run_t *r = m->runs[i];
    r->busy = false;
    if (!r->start) {
        km_info("flow %s: stopped; it no longer runs here", r->flow->name);
        cfg_release(r->retiring_cfg); /* r->flow lived there */
        km_metrics_retire_flow(m->metrics, r->fm);
        run_free(r);
        m->runs[i] = m->runs[--m->nruns];
        return false;
    }
    cfg_release(r->retiring_cfg);
    r->retiring_cfg = NULL;
    r->rt = r->started;
    r->started = NULL;
    r->running_since = km_now_mono_ms();
    if (r->rt) {
        km_info("flow %s: running with the reloaded configuration", r->flow->name);
    } else if (km_admin_stopping()) {
        km_info("flow %s: start-up interrupted by the stop", r->flow->name);
    } else {
        km_error("flow %s: cannot start: %s (the other flows go on; the next reload tries it again)", r->flow->name, r->err);
        km_flow_metrics_state(r->fm, KM_FLOW_FAILED, r->err);
    }
    return true;
}

/* Joins a worker that is done; with wait, one that is not (a stop: its start gives up early). */
static bool collect(km_mirror_t *m, size_t i, bool wait) {
    flow_run_t *r = m->runs[i];
    if (!r->busy) return true;
    if (!wait && !atomic_load(&r->done)) return true;
    pthread_join(r->worker, NULL);
    return finish(m, i);
}

/* ---- reload -------------------------------------------------------------------------------- */

static flow_run_t *find_run(const km_mirror_t *m, const char *source, const char *target) {
    for (size_t i = 0; i < m->nruns; i++)
        if (strcmp(m->runs[i]->flow->source, source) == 0 && strcmp(m->runs[i]->flow->target, target) == 0) return m->runs[i];
    return NULL;
}

static void reload_flows(km_mirror_t *m, cfg_ref_t *ref) {
    for (size_t i = 0; i < m->nruns; i++) {
        flow_run_t *r = m->runs[i];
        km_flow_t *nf = km_config_flow(ref->cfg, r->flow->source, r->flow->target);
        if (!nf || !nf->runs_here) {
            km_info("flow %s: no longer enabled here by the configuration; stopping it", r->flow->name);
            hand_off(m, r, NULL, NULL);
            continue;
        }
        if (!r->rt) { /* its start had failed */
            km_info("flow %s: starting it again with the reloaded configuration", r->flow->name);
            hand_off(m, r, ref, nf);
            continue;
        }
        char *why;
        switch (km_reload_compare(r->flow, nf, &why)) {
        case KM_RELOAD_SAME: km_debug("flow %s: unchanged; it runs on", r->flow->name); break;
        case KM_RELOAD_FILTERS:
            km_info("flow %s: name filters changed (%s); applying them without restarting its tasks", r->flow->name, why);
            stop_checkpointer(r); /* it reads the groups filter on its thread; follow_lead starts it again */
            km_flow_rt_refilter(r->rt, nf);
            break;
        case KM_RELOAD_RESTART:
            km_info("flow %s: settings changed (%s); restarting it: its tasks stop, committing their positions", r->flow->name, why);
            hand_off(m, r, ref, nf);
            break;
        }
        free(why);
    }
    for (size_t j = 0; j < ref->cfg->nflows; j++) {
        km_flow_t *nf = &ref->cfg->flows[j];
        if (!nf->runs_here || find_run(m, nf->source, nf->target)) continue;
        km_info("flow %s: added by the configuration", nf->name);
        flow_run_t *r = km_xcalloc(1, sizeof(*r));
        r->wake = m->wake;
        r->flow = nf;
        m->runs = km_xrealloc(m->runs, (m->nruns + 1) * sizeof(*m->runs));
        m->runs[m->nruns++] = r;
        hand_off(m, r, ref, nf);
    }
}

/* Process-wide settings that can change while running; the endpoint itself cannot move. */
static void reload_process(km_mirror_t *m, const km_config_t *next) {
    int lvl = km_log_level_resolve(m->opts.log_level ? m->opts.log_level : next->log_level, m->opts.verbosity);
    if (lvl >= 0) km_log_set_level((km_log_level_t)lvl);
    km_log_set_format(next->log_json ? KM_LOG_JSON : KM_LOG_TEXT);
    const char *was = m->cfg->cfg->metrics_listen, *now = next->metrics_listen;
    if (!m->opts.metrics_listen && (!was != !now || (was && now && strcmp(was, now) != 0)))
        km_warn("metrics.listen changed from %s to %s: the endpoint moves only when kmirror restarts", was ? was : "off",
                now ? now : "off");
    if (m->http) km_http_set_lifecycle(m->http, next->metrics_lifecycle);
}

/* The budget's split is derived (config.c): said at start and after each reload, so that a file
 * that sets memory.max.bytes alone shows what it gets in flight. */
static void log_budget(const km_config_t *cfg) {
    long long share = 0;
    for (size_t i = 0; i < cfg->nflows; i++)
        if (cfg->flows[i].enabled && cfg->flows[i].runs_here) share = (long long)cfg->flows[i].s.prefetch_max_bytes;
    if (share == 0) return; /* no flow runs here */
    km_info("memory budget: memory.max.bytes %lld MiB, %lld MiB of it for records in flight (inflight.max.bytes), each "
            "task's prefetch at most %lld MiB", (long long)(cfg->memory_max_bytes >> 20), (long long)(cfg->inflight_max_bytes >> 20),
            share >> 20);
}

/* Reads the file again and applies it; 0, or -1 with why (nothing changed). */
static int reload(km_mirror_t *m, char *why, size_t whylen) {
    const char *path = m->cfg->cfg->path;
    km_info("reloading the configuration from %s", path);
    km_config_t *next = km_xcalloc(1, sizeof(*next));
    km_diag_t d = {0};
    int rc = km_config_load(next, path, m->opts.clusters, m->opts.nclusters, &d);
    km_providers_redact_logs_more(&next->secrets); /* before its values can reach a log line */
    km_diag_log(&d);
    if (rc != 0) {
        snprintf(why, whylen, "%s: %zu error(s), the first: %s", path, d.nerrors, d.nerrors ? d.errors[0] : "unknown");
        km_error("configuration reload FAILED: %s: %zu error(s), see above; nothing changed: kmirror runs on with the configuration it had",
                 path, d.nerrors);
        km_metrics_reloaded(m->metrics, why);
        km_config_free(next);
        free(next);
        km_diag_free(&d);
        return -1;
    }
    km_diag_free(&d);
    cfg_ref_t *ref = cfg_ref_new(next, true);
    reload_process(m, next);
    km_metrics_set_budget(m->metrics, next->memory_max_bytes, next->inflight_max_bytes);
    log_budget(next);
    reload_flows(m, ref);
    reload_heartbeats(m, next);
    cfg_release(m->cfg); /* `path` may go with it */
    m->cfg = ref;
    km_metrics_reloaded(m->metrics, NULL);
    km_info("configuration reloaded from %s", next->path);
    return 0;
}

/* Runs the reload that SIGHUPs or POST /-/reload asked for, once no flow is being started or
 * stopped. */
static void serve_reloads(km_mirror_t *m) {
    sig_atomic_t hups = reload_signals;
    pthread_mutex_lock(&m->lock);
    uint64_t asked = m->asked;
    pthread_mutex_unlock(&m->lock);
    if (hups == m->reloads_served && asked == m->answered) return;
    for (size_t i = 0; i < m->nruns; i++) {
        flow_run_t *r = m->runs[i];
        /* A flow whose group member got no assignment yet could only leave its group without
         * LeaveGroup (coord.c): its group would then wait a session timeout for it. */
        bool joining = r->rt && !km_flow_rt_assigned(r->rt) && km_now_mono_ms() < r->running_since + 2 * r->flow->s.session_timeout_ms;
        if (r->busy || joining) {
            if (!m->reload_waits)
                km_info("the configuration reload waits until flow %s has %s", r->flow->name,
                        r->busy ? "stopped or started" : "its first task assignment from its group");
            m->reload_waits = true;
            return;
        }
    }
    m->reload_waits = false;
    if (hups != m->reloads_served) km_info("SIGHUP received");
    m->reloads_served = hups;
    char why[1024] = "";
    int rc = reload(m, why, sizeof(why));
    pthread_mutex_lock(&m->lock);
    m->answered = asked;
    m->answer_rc = rc;
    snprintf(m->answer, sizeof(m->answer), "%s", why);
    pthread_cond_broadcast(&m->answered_cond);
    pthread_mutex_unlock(&m->lock);
}

/* POST /-/reload, on the HTTP thread: asks the main thread and waits for its answer. */
static int http_reload(void *arg, char *why, size_t whylen) {
    km_mirror_t *m = arg;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += HTTP_RELOAD_WAIT_S;
    pthread_mutex_lock(&m->lock);
    uint64_t mine = ++m->asked;
    km_wake_signal(m->wake);
    while (m->answered < mine && !m->closing && pthread_cond_timedwait(&m->answered_cond, &m->lock, &until) != ETIMEDOUT)
        ;
    int rc = 1;
    if (m->answered >= mine) {
        rc = m->answer_rc;
        snprintf(why, whylen, "%s", m->answer);
    } else {
        snprintf(why, whylen, m->closing ? "kmirror is stopping" : "the reload was not done within %d s (a flow is still starting or stopping); it will be",
                 HTTP_RELOAD_WAIT_S);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* The endpoint comes up before the flows so that /healthz answers "starting" while they connect. */
static int start_http(km_mirror_t *m, const km_config_t *cfg) {
    char err[512];
    m->http = km_http_start(cfg->metrics_listen, m->metrics, cfg->metrics_web, err, sizeof(err));
    if (!m->http) {
        km_error("metrics.listen=%s: %s", cfg->metrics_listen, err);
        return -1;
    }
    km_http_on_reload(m->http, http_reload, m);
    km_http_set_lifecycle(m->http, cfg->metrics_lifecycle);
    char *host, *port;
    km_http_parse_listen(cfg->metrics_listen, &host, &port, err, sizeof(err));
    km_info("serving /metrics, /status and /healthz on %s://%s%s%s:%d%s%s", km_webconfig_cert_pem(cfg->metrics_web) ? "https" : "http",
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", km_http_port(m->http),
            km_webconfig_has_users(cfg->metrics_web) ? " (basic auth)" : "", cfg->metrics_lifecycle ? ", and POST /-/reload" : "");
    free(host);
    free(port);
    return 0;
}

/* Every flow of the process starts on its own thread (worker_main), all at once: a cluster that
 * is slow to answer holds back only its own flows' start, not the others'. The process runs
 * once all have started; a flow that cannot start stops it (km_mirror_start returns NULL). */
static void start_flows(km_mirror_t *m) {
    for (size_t i = 0; i < m->nruns; i++) {
        flow_run_t *r = m->runs[i];
        r->start = true;
        r->busy = pthread_create(&r->worker, NULL, worker_main, r) == 0;
        if (!r->busy) worker_main(r);
    }
    for (size_t i = 0; i < m->nruns; i++) {
        flow_run_t *r = m->runs[i];
        if (r->busy) pthread_join(r->worker, NULL);
        r->busy = false;
        r->rt = r->started;
        r->started = NULL;
        r->running_since = km_now_mono_ms();
    }
}

km_mirror_t *km_mirror_start(km_config_t *cfg) {
    km_mirror_t *m = km_xcalloc(1, sizeof(*m));
    m->cfg = cfg_ref_new(cfg, false);
    m->wake = km_wake_new();
    m->metrics = km_metrics_new();
    km_metrics_set_budget(m->metrics, cfg->memory_max_bytes, cfg->inflight_max_bytes);
    log_budget(cfg);
    m->reloads_served = reload_signals;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->answered_cond, &ca);
    pthread_condattr_destroy(&ca);
    m->runs = km_xcalloc(cfg->nflows ? cfg->nflows : 1, sizeof(*m->runs));
    for (size_t i = 0; i < cfg->nflows; i++) {
        if (!cfg->flows[i].runs_here) continue;
        flow_run_t *r = km_xcalloc(1, sizeof(*r));
        r->wake = m->wake;
        r->cfg = cfg_hold(m->cfg);
        r->flow = &cfg->flows[i];
        r->fm = km_metrics_add_flow(m->metrics, r->flow);
        m->runs[m->nruns++] = r;
    }
    bool ok = !cfg->metrics_listen || start_http(m, cfg) == 0;
    if (ok) {
        start_flows(m);
        for (size_t i = 0; i < m->nruns; i++) {
            flow_run_t *r = m->runs[i];
            if (r->rt) continue;
            if (km_admin_stopping()) {
                km_info("flow %s: start-up interrupted by the stop", r->flow->name);
            } else {
                km_error("flow %s: cannot start: %s", r->flow->name, r->err);
                km_flow_metrics_state(r->fm, KM_FLOW_FAILED, r->err);
            }
            ok = false;
        }
    }
    if (!ok) {
        km_mirror_stop(m);
        return NULL;
    }
    start_all_heartbeats(m);
    return m;
}

bool km_mirror_tick(km_mirror_t *m) {
    km_metrics_main_ran(m->metrics);
    bool ok = true;
    for (size_t i = 0; i < m->nruns;) {
        if (!collect(m, i, false)) continue; /* the run at i is gone: another took its place */
        flow_run_t *r = m->runs[i++];
        if (r->busy || !r->rt) continue;
        ok &= km_flow_rt_tick(r->rt);
        follow_lead(m, r);
    }
    for (size_t i = 0; i < m->cfg->cfg->nflows; i++)
        if (m->heartbeats && m->heartbeats[i]) km_heartbeats_tick(m->heartbeats[i]);
    if (ok) serve_reloads(m);
    return ok;
}

int km_mirror_stop(km_mirror_t *m) {
    pthread_mutex_lock(&m->lock);
    m->closing = true; /* a waiting POST /-/reload answers now */
    pthread_cond_broadcast(&m->answered_cond);
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < m->nruns;)
        if (collect(m, i, true)) i++;
    int rc = 0;
    for (size_t i = 0; i < m->nruns; i++) stop_checkpointer(m->runs[i]);
    stop_all_heartbeats(m);
    for (size_t i = 0; i < m->nruns; i++)
        if (m->runs[i]->rt && km_flow_rt_stop(m->runs[i]->rt) != 0) rc = -1;
    km_http_stop(m->http);
    for (size_t i = 0; i < m->nruns; i++) run_free(m->runs[i]);
    free(m->runs);
    cfg_release(m->cfg);
    km_metrics_free(m->metrics);
    pthread_cond_destroy(&m->answered_cond);
    pthread_mutex_destroy(&m->lock);
    km_wake_unref(m->wake);
    free(m);
    return rc;
}

km_metrics_t *km_mirror_metrics(km_mirror_t *m) { return m->metrics; }

int km_mirror_http_port(const km_mirror_t *m) { return m->http ? km_http_port(m->http) : 0; }

int km_mirror_main(km_config_t *cfg, const km_mirror_opts_t *opts) {
    km_mirror_install_signals();
    km_mirror_t *m = km_mirror_start(cfg);
    if (!m && stop_signal) {
        km_info("stopped during start-up; nothing was replicated yet");
        return 0;
    }
    if (!m) return 1;
    if (opts) m->opts = *opts;
    km_info("kmirror running; SIGTERM or Ctrl-C stops it, SIGHUP reloads %s", cfg->path);
    km_sdnotify_t *sd = km_sdnotify_new(); /* NULL unless run by systemd with Type=notify */
    bool ok = true;
    while (!km_mirror_stop_requested() && (ok = km_mirror_tick(m))) {
        km_sdnotify_tick(sd, m->metrics);
        km_wake_wait(m->wake, TICK_MS);
    }
    const char *why = ok ? "stopping: delivering records in flight and committing positions" : "a flow failed; stopping";
    km_info("%s", why);
    km_sdnotify_stopping(sd, why);
    km_sdnotify_free(sd);
    int rc = km_mirror_stop(m);
    if (rc == 0 && ok) km_info("stopped cleanly");
    return rc == 0 && ok ? 0 : 1;
}
