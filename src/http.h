/* http.h — kmirror's observability endpoint and the small client that reads it.
 *
 * The server (libmicrohttpd, on its own thread) answers
 *   GET /metrics   Prometheus text format 0.0.4
 *   GET /status    JSON: flows, state, tasks, partitions with lag, rate, latency
 *   GET /healthz   200 "ok" when every flow runs, 503 with the reason otherwise
 *   POST /-/reload re-reads the configuration (reload.h) when metrics.lifecycle.enabled is true,
 *                  as Prometheus's lifecycle API: 200, or 500 with the error; 403 when not
 *                  enabled, 405 for another method
 * from snapshots of a km_metrics_t (metrics.h): a scrape reads atomics and never holds a lock a
 * replication thread waits for. It is off unless `metrics.listen` / `--metrics-listen` is given
 * and binds loopback unless a host says otherwise; `metrics.web.config.file` (webconfig.h) adds
 * TLS and basic auth. The client is what `kmirror status` uses: a
 * plain HTTP/1.0 GET over a socket, enough for this one server. */
#ifndef KM_HTTP_H
#define KM_HTTP_H

#include "metrics.h"
#include "webconfig.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct km_http km_http_t;

/* Splits "HOST:PORT", "[IPV6]:PORT", ":PORT" or "PORT" (the last two bind 127.0.0.1) into
 * host and port (caller frees both). -1 with errstr when malformed. */
int km_http_parse_listen(const char *listen, char **host, char **port, char *errstr, size_t errlen);
/* Starts serving m on `listen` (port 0: any free port), over TLS and with basic auth as web says
 * (NULL: plain HTTP, open to whoever reaches it). NULL with errstr when it cannot bind.
 * m and web must outlive the server. */
km_http_t *km_http_start(const char *listen, km_metrics_t *m, km_webconfig_t *web, char *errstr, size_t errlen);
/* The port actually bound. */
int km_http_port(const km_http_t *h);
/* Carries out a reload for POST /-/reload, on the HTTP thread, once it is done: 0, or -1 with
 * the error in why (500), or 1 with why when it could not be done in time (503). */
typedef int (*km_http_reload_fn)(void *arg, char *why, size_t whylen);
/* Installs the reload (before requests may come) and switches POST /-/reload on or off. */
void km_http_on_reload(km_http_t *h, km_http_reload_fn fn, void *arg);
void km_http_set_lifecycle(km_http_t *h, bool enabled);
/* Stops the server, waiting for a scrape in progress. */
void km_http_stop(km_http_t *h);

/* GET url ("http://HOST:PORT/PATH" or "HOST:PORT/PATH"). 0 with the HTTP status in *status and the
 * body in *body (NUL-terminated, caller frees); -1 with errstr when there is no HTTP answer. */
int km_http_get(const char *url, int timeout_ms, int *status, char **body, char *errstr, size_t errlen);

#endif
