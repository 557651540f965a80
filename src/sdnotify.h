/* sdnotify.h — telling a service manager (systemd's Type=notify) how kmirror is doing.
 *
 * The protocol of sd_notify(3), spoken directly: one datagram of "KEY=VALUE" lines per message to
 * the unix socket named by $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). kmirror
 * sends READY=1 once every flow runs (what /healthz calls healthy), STATUS= whenever that changes,
 * WATCHDOG=1 from the main loop at half of $WATCHDOG_USEC, and STOPPING=1 when a stop begins.
 * Without $NOTIFY_SOCKET every call is a no-op (the handle is NULL). Main thread only. */
#ifndef KM_SDNOTIFY_H
#define KM_SDNOTIFY_H

#include "metrics.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

typedef struct km_sdnotify km_sdnotify_t;

/* From the environment; NULL (and nothing is ever sent) when $NOTIFY_SOCKET is unset. A socket
 * that cannot be used is logged with its name and also yields NULL. */
km_sdnotify_t *km_sdnotify_new(void);
/* Main-loop hook, once per tick: WATCHDOG=1 when due, READY=1 and STATUS= from the flows' health
 * in m (looked at every second until ready, every 5 s after). */
void km_sdnotify_tick(km_sdnotify_t *n, km_metrics_t *m);
/* STOPPING=1 with STATUS=why. */
void km_sdnotify_stopping(km_sdnotify_t *n, const char *why);
void km_sdnotify_free(km_sdnotify_t *n);

/* Sends one message ("READY=1\nSTATUS=..."): 0, or -1 with errno. */
int km_sdnotify_send(km_sdnotify_t *n, const char *msg);

/* The address of $NOTIFY_SOCKET `spec` ("/path" or "@abstract"): 0, or -1 when it is neither or
 * too long. */
int km_sdnotify_addr(const char *spec, struct sockaddr_un *sa, socklen_t *len);
/* The watchdog interval in microseconds from $WATCHDOG_USEC and $WATCHDOG_PID (either may be
 * NULL): 0 when no watchdog is asked of process `self`. */
int64_t km_sdnotify_watchdog_usec(const char *usec, const char *pid, pid_t self);

#endif
