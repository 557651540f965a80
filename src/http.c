/* http.c — see http.h. */
#include "http.h"

#include "statuspage.h"
#include "util.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A client that is idle this long (not a byte of its request, or not reading the answer) is
 * dropped: a scrape or a probe sends its request at once, so a few seconds only ever cut off a
 * slowloris, and a slot it held is free again soon. */
#define IDLE_TIMEOUT_S 5
/* Connections held at once from one address, and in all. One address (a slowloris, or a
 * runaway script) can take a quarter of the slots at most, so a scraper and a liveness probe
 * from elsewhere are still served; the total keeps the endpoint's file descriptors bounded. */
#define MAX_PER_ADDRESS 64
#define MAX_CONNECTIONS 256
/* Threads serving connections, each polling its share with epoll: a client that holds its
 * connection open costs a slot, never a thread, and the answers are rendered in these threads. */
#define THREADS 2

struct km_http {
    struct MHD_Daemon *daemon;
    km_metrics_t *metrics;
    km_webconfig_t *web; /* NULL: plain HTTP, no authentication */
    int port;
    _Atomic bool lifecycle; /* metrics.lifecycle.enabled: a reload may switch it */
    km_http_reload_fn reload;
    void *reload_arg;
};

int km_http_parse_listen(const char *listen, char **host, char **port, char *errstr, size_t errlen) {
    const char *colon = strrchr(listen, ':');
    const char *h = listen, *hend = colon ? colon : listen;
    const char *p = colon ? colon + 1 : listen;
    if (*listen == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') goto bad;
        h = listen + 1;
        hend = close;
    }
    if (!*p || strspn(p, "0123456789") != strlen(p) || atol(p) > 65535) goto bad;
    *host = h == hend ? km_xstrdup("127.0.0.1") : km_xstrndup(h, (size_t)(hend - h));
    *port = km_xstrdup(p);
    return 0;
bad:
    snprintf(errstr, errlen, "'%s' is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464 or just 9464 for loopback)", listen);
    return -1;
}

/* ---- server -------------------------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *type, char *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* The page may run only its own inline script and style and talk only to this endpoint. */
static enum MHD_Result serve_page(struct MHD_Connection *c) {
    size_t len;
    const char *html = km_statuspage_html(&len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)html, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; img-src data:");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve(km_http_t *h, struct MHD_Connection *c, const char *url) {
    km_snapshot_t *s = km_metrics_snapshot(h->metrics, km_now_wall_ms());
    enum MHD_Result ret;
    if (strcmp(url, "/metrics") == 0) {
        ret = respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", km_metrics_prometheus(s));
    } else if (strcmp(url, "/status") == 0) {
        json_t *doc = km_metrics_status_json(s);
        char *text = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        if (!text) km_oom();
        ret = respond(c, MHD_HTTP_OK, "application/json", km_xasprintf("%s\n", text));
        free(text);
    } else {
        char *reason = NULL;
        bool ok = km_metrics_healthy(s, &reason);
        ret = respond(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                      ok ? km_xstrdup("ok\n") : km_xasprintf("unhealthy: %s\n", reason));
        free(reason);
    }
    km_snapshot_free(s);
    return ret;
}

/* Whether the client presented a certificate that chains to client_ca_file. GnuTLS only asks for
 * one during the handshake (libmicrohttpd does not make it mandatory), so it is checked here. */
static bool client_verified(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned status = 0, n = 0;
    if (!info || !info->tls_session) return false;
    gnutls_session_t session = (gnutls_session_t)info->tls_session;
    return gnutls_certificate_get_peers(session, &n) && n > 0 && gnutls_certificate_verify_peers2(session, &status) == GNUTLS_E_SUCCESS &&
           status == 0;
}

/* Basic auth per basic_auth_users. A liveness probe (kubelet, systemd, a load balancer) rarely
 * carries credentials, so /healthz answers without them, but with its status code and "ok" or
 * "unhealthy" only: the reason names flows and clusters and is for authenticated clients. */
static enum MHD_Result authenticate(km_http_t *h, struct MHD_Connection *c, const char *url, bool *ok) {
    char *password = NULL, *user = MHD_basic_auth_get_username_password(c, &password);
    *ok = user && password && km_webconfig_check_user(h->web, user, password);
    if (password) {
        explicit_bzero(password, strlen(password));
        MHD_free(password);
    }
    MHD_free(user);
    if (*ok) return MHD_YES;
    if (strcmp(url, "/healthz") == 0) {
        km_snapshot_t *s = km_metrics_snapshot(h->metrics, km_now_wall_ms());
        bool healthy = km_metrics_healthy(s, NULL);
        km_snapshot_free(s);
        return respond(c, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                       km_xstrdup(healthy ? "ok\n" : "unhealthy\n"));
    }
    const char *msg = "authentication required (basic_auth_users of metrics.web.config.file)\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    enum MHD_Result ret = MHD_queue_basic_auth_fail_response(c, "kmirror", r);
    MHD_destroy_response(r);
    return ret;
}

/* Prometheus's lifecycle endpoint: POST (or PUT) /-/reload answers once the reload was done,
 * 200 or 500 with the reason. libmicrohttpd calls a request with a body once per chunk of it;
 * the body means nothing here and is skipped, the answer goes with the last call. */
static enum MHD_Result serve_reload(km_http_t *h, struct MHD_Connection *c, const char *method, size_t *upload_size, void **req) {
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0 && strcmp(method, MHD_HTTP_METHOD_PUT) != 0)
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", km_xstrdup("only POST or PUT\n"));
    if (!*req) {
        *req = h; /* the headers were seen */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (!atomic_load(&h->lifecycle) || !h->reload)
        return respond(c, MHD_HTTP_FORBIDDEN, "text/plain",
                       km_xstrdup("the lifecycle API is not enabled: set metrics.lifecycle.enabled = true (or send SIGHUP)\n"));
    char why[2048];
    int rc = h->reload(h->reload_arg, why, sizeof(why));
    return rc == 0 ? respond(c, MHD_HTTP_OK, "text/plain", km_xstrdup("reloaded\n"))
                   : respond(c, rc > 0 ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
                             km_xasprintf("%s\n", why));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **req) {
    km_http_t *h = cls;
    bool reload = strcmp(url, "/-/reload") == 0;
    if (!reload && strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", km_xstrdup("only GET\n"));
    if (km_webconfig_client_ca_pem(h->web) && !client_verified(c))
        return respond(c, MHD_HTTP_FORBIDDEN, "text/plain",
                       km_xstrdup("a client certificate signed by client_ca_file of metrics.web.config.file is required\n"));
    if (km_webconfig_has_users(h->web)) {
        bool ok;
        enum MHD_Result ret = authenticate(h, c, url, &ok);
        if (!ok) return ret;
    }
    if (strcmp(url, "/") == 0) return serve_page(c);
    /* after the certificate and password checks: a reload is no way around them */
    if (reload) return serve_reload(h, c, method, upload_size, req);
    if (strcmp(url, "/metrics") == 0 || strcmp(url, "/status") == 0 || strcmp(url, "/healthz") == 0) return serve(h, c, url);
    return respond(c, MHD_HTTP_NOT_FOUND, "text/plain",
                   km_xstrdup("kmirror serves / (status page), /metrics, /status, /healthz and POST /-/reload\n"));
}

km_http_t *km_http_start(const char *listen, km_metrics_t *m, km_webconfig_t *web, char *errstr, size_t errlen) {
    char *host, *port;
    if (km_http_parse_listen(listen, &host, &port, errstr, errlen) != 0) return NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    km_http_t *h = NULL;
    bool tls = km_webconfig_cert_pem(web) != NULL;
    if (gai != 0) {
        snprintf(errstr, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
    } else if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(errstr, errlen, "tls_server_config of metrics.web.config.file: this libmicrohttpd is built without TLS");
    } else {
        h = km_xcalloc(1, sizeof(*h));
        h->metrics = m;
        h->web = web;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                         (tls ? MHD_USE_TLS : 0);
        /* Options after the first MHD_OPTION_END are not read: without TLS the list stops there. */
        h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                                     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)MAX_PER_ADDRESS,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                                     tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, km_webconfig_cert_pem(web),
                                     MHD_OPTION_HTTPS_MEM_KEY, km_webconfig_key_pem(web),
                                     MHD_OPTION_HTTPS_PRIORITIES, km_webconfig_tls_priorities(web),
                                     km_webconfig_client_ca_pem(web) ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END,
                                     km_webconfig_client_ca_pem(web), MHD_OPTION_END);
        if (!h->daemon) {
            snprintf(errstr, errlen, "cannot listen on %s port %s: %s", host, port, errno ? strerror(errno) : "libmicrohttpd refused");
            free(h);
            h = NULL;
        } else {
            const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
            h->port = info ? info->port : atoi(port);
        }
    }
    if (ai) freeaddrinfo(ai);
    free(host);
    free(port);
    return h;
}

int km_http_port(const km_http_t *h) { return h->port; }

void km_http_on_reload(km_http_t *h, km_http_reload_fn fn, void *arg) {
    h->reload = fn;
    h->reload_arg = arg;
}

void km_http_set_lifecycle(km_http_t *h, bool enabled) { atomic_store(&h->lifecycle, enabled); }

void km_http_stop(km_http_t *h) {
    if (!h) return;
    MHD_stop_daemon(h->daemon);
    free(h);
}

/* ---- client -------------------------------------------------------------------------------- */

static int connect_to(const char *host, const char *port, int timeout_ms, char *errstr, size_t errlen) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(errstr, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        /* On Linux the send timeout also bounds connect(). */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) snprintf(errstr, errlen, "cannot connect to %s:%s: %s", host, port, strerror(err));
    return fd;
}

static char *read_all(int fd, size_t *len) {
    size_t cap = 65536, n = 0;
    char *buf = km_xmalloc(cap);
    for (;;) {
        if (cap - n < 4096) buf = km_xrealloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* "http://host:port/path" → host, port, path (each allocated). */
static void split_url(const char *url, char **host, char **port, char **path) {
    if (km_str_starts_with(url, "http://")) url += 7;
    const char *slash = strchr(url, '/');
    char *authority = slash ? km_xstrndup(url, (size_t)(slash - url)) : km_xstrdup(url);
    *path = km_xstrdup(slash ? slash : "/");
    char *close = authority[0] == '[' ? strchr(authority, ']') : NULL;
    char *colon = strrchr(close ? close : authority, ':');
    if (colon) *colon = '\0';
    *port = km_xstrdup(colon ? colon + 1 : "80");
    if (close) *close = '\0';
    *host = km_xstrdup(close ? authority + 1 : authority);
    free(authority);
}

int km_http_get(const char *url, int timeout_ms, int *status, char **body, char *errstr, size_t errlen) {
    char *host, *port, *path;
    split_url(url, &host, &port, &path);
    int rc = -1, fd = connect_to(host, port, timeout_ms, errstr, errlen);
    if (fd >= 0) {
        char *req = km_xasprintf("GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
        size_t len;
        char *resp = send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req) ? read_all(fd, &len) : NULL;
        char *sep = resp ? strstr(resp, "\r\n\r\n") : NULL;
        if (sep && sscanf(resp, "HTTP/%*d.%*d %d", status) == 1) {
            *body = km_xstrdup(sep + 4);
            rc = 0;
        } else {
            snprintf(errstr, errlen, "no HTTP answer from %s:%s", host, port);
        }
        free(resp);
        free(req);
        close(fd);
    }
    free(host);
    free(port);
    free(path);
    return rc;
}
