/* sdnotify.c — see sdnotify.h. Spoken directly rather than through libsystemd: the protocol is
 * one sendto() of a short text, and a library dependency for it would also tie kmirror's build to
 * systemd's headers on hosts that do not run systemd. */
#include "sdnotify.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_UNTIL_READY_MS 1000
#define CHECK_WHEN_READY_MS 5000

struct km_sdnotify {
    int fd;
    struct sockaddr_un sa;
    socklen_t salen;
    char *spec;          /* $NOTIFY_SOCKET, for messages */
    bool failing;        /* the last send failed (said once, not per tick) */
    bool ready;          /* READY=1 sent */
    char *status;        /* the last STATUS= sent */
    int64_t watchdog_ms; /* WATCHDOG=1 every this many ms; 0: none asked */
    int64_t next_watchdog, next_check;
};

int km_sdnotify_addr(const char *spec, struct sockaddr_un *sa, socklen_t *len) {
    size_t n = spec ? strlen(spec) : 0;
    if (n < 2 || (spec[0] != '/' && spec[0] != '@') || n >= sizeof(sa->sun_path)) return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, spec, n);
    if (spec[0] == '@') sa->sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends the name */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (spec[0] == '/'));
    return 0;
}

int64_t km_sdnotify_watchdog_usec(const char *usec, const char *pid, pid_t self) {
    if (!usec || !*usec) return 0;
    char *end;
    if (pid && *pid) {
        long long p = strtoll(pid, &end, 10);
        if (*end || p != (long long)self) return 0; /* meant for another process */
    }
    errno = 0;
    long long u = strtoll(usec, &end, 10);
    return errno || *end || u <= 0 ? 0 : (int64_t)u;
}

km_sdnotify_t *km_sdnotify_new(void) {
    const char *spec = getenv("NOTIFY_SOCKET");
    if (!spec || !*spec) return NULL;
    km_sdnotify_t *n = km_xcalloc(1, sizeof(*n));
    if (km_sdnotify_addr(spec, &n->sa, &n->salen) != 0) {
        km_warn("NOTIFY_SOCKET=%s: not a unix socket path or @abstract name; the service manager is not told when kmirror is ready", spec);
        free(n);
        return NULL;
    }
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        km_warn("NOTIFY_SOCKET=%s: cannot make a socket: %s; the service manager is not told when kmirror is ready", spec, strerror(errno));
        free(n);
        return NULL;
    }
    n->spec = km_xstrdup(spec);
    int64_t usec = km_sdnotify_watchdog_usec(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), getpid());
    n->watchdog_ms = usec > 0 ? (usec / 2000 > 0 ? usec / 2000 : 1) : 0;
    return n;
}

int km_sdnotify_send(km_sdnotify_t *n, const char *msg) {
    if (!n) return 0;
    if (sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&n->sa, n->salen) >= 0) {
        n->failing = false;
        return 0;
    }
    int e = errno;
    if (!n->failing)
        km_warn("NOTIFY_SOCKET=%s: cannot tell the service manager '%.*s': %s", n->spec, (int)strcspn(msg, "\n"), msg, strerror(e));
    n->failing = true;
    errno = e;
    return -1;
}

/* STATUS= is one line: a line break in a reason would end it there. */
static void send_status(km_sdnotify_t *n, const char *prefix, const char *status) {
    char *line = km_xstrdup(status);
    for (char *p = line; *p; p++)
        if (*p == '\n') *p = ' ';
    if (!*prefix && n->status && strcmp(n->status, line) == 0) {
        free(line);
        return;
    }
    free(n->status);
    n->status = line;
    char *msg = km_xasprintf("%sSTATUS=%s", prefix, line);
    km_sdnotify_send(n, msg);
    free(msg);
}

static void check_health(km_sdnotify_t *n, km_metrics_t *m) {
    km_snapshot_t *s = km_metrics_snapshot(m, km_now_wall_ms());
    char *reason = NULL;
    bool healthy = km_metrics_healthy(s, &reason);
    km_snapshot_free(s);
    if (healthy && !n->ready) {
        n->ready = true;
        send_status(n, "READY=1\n", "every flow runs");
    } else {
        send_status(n, "", healthy ? "every flow runs" : reason);
    }
    free(reason);
}

void km_sdnotify_tick(km_sdnotify_t *n, km_metrics_t *m) {
    if (!n) return;
    int64_t now = km_now_mono_ms();
    if (n->watchdog_ms && now >= n->next_watchdog) {
        km_sdnotify_send(n, "WATCHDOG=1");
        n->next_watchdog = now + n->watchdog_ms;
    }
    if (now >= n->next_check) {
        check_health(n, m);
        n->next_check = now + (n->ready ? CHECK_WHEN_READY_MS : CHECK_UNTIL_READY_MS);
    }
}

void km_sdnotify_stopping(km_sdnotify_t *n, const char *why) {
    if (n) send_status(n, "STOPPING=1\n", why);
}

void km_sdnotify_free(km_sdnotify_t *n) {
    if (!n) return;
    close(n->fd);
    free(n->spec);
    free(n->status);
    free(n);
}
