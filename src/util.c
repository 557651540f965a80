/* util.c — see util.h. */
#include "util.h"

#include <ctype.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

void km_oom(void) {
    fputs("kmirror: out of memory\n", stderr);
    abort();
}

void *km_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) km_oom();
    return p;
}

void *km_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) km_oom();
    return p;
}

void *km_xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) km_oom();
    return p;
}

char *km_xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d) km_oom();
    return d;
}

char *km_xstrndup(const char *s, size_t n) {
    char *d = strndup(s, n);
    if (!d) km_oom();
    return d;
}

char *km_xasprintf(const char *fmt, ...) {
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0) km_oom();
    return s;
}

char *km_strtrim(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return km_xstrndup(s, n);
}

bool km_str_starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool km_str_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

size_t km_edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    size_t *row = km_xmalloc((m + 1) * sizeof(*row));
    for (size_t j = 0; j <= m; j++) row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[m];
    free(row);
    return d;
}

size_t km_split_list(const char *s, char ***out) {
    char *t = km_strtrim(s);
    size_t n = 0;
    *out = NULL;
    if (*t) {
        char *p = t;
        for (;;) {
            char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char *item = km_xstrndup(p, len);
            char *trimmed = km_strtrim(item);
            free(item);
            *out = km_xrealloc(*out, (n + 1) * sizeof(**out));
            (*out)[n++] = trimmed;
            if (!comma) break;
            p = comma + 1;
        }
    }
    free(t);
    return n;
}

void km_strv_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int64_t clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t km_now_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

int64_t km_now_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
int64_t km_now_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }
int64_t km_now_wall_coarse_ms(void) { return clock_ms(CLOCK_REALTIME_COARSE); }

/* An eventfd: poll() on it also returns when a signal handler ran (EINTR), as nanosleep did. */
struct km_wake {
    int fd;
    atomic_int refs;
};

km_wake_t *km_wake_new(void) {
    km_wake_t *w = km_xcalloc(1, sizeof(*w));
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    atomic_init(&w->refs, 1);
    return w;
}

km_wake_t *km_wake_ref(km_wake_t *w) {
    if (w) atomic_fetch_add(&w->refs, 1);
    return w;
}

void km_wake_unref(km_wake_t *w) {
    if (!w || atomic_fetch_sub(&w->refs, 1) != 1) return;
    if (w->fd >= 0) close(w->fd);
    free(w);
}

void km_wake_signal(km_wake_t *w) {
    static const uint64_t one = 1;
    if (w && w->fd >= 0 && write(w->fd, &one, sizeof(one)) < 0) return; /* EAGAIN: a wake-up is pending anyway */
}

void km_wake_wait(km_wake_t *w, int timeout_ms) {
    if (!w || w->fd < 0) { /* no eventfd: a plain sleep, the tick as it was */
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
    uint64_t v;
    if (poll(&pfd, 1, timeout_ms) > 0 && read(w->fd, &v, sizeof(v)) < 0) return; /* EAGAIN: read by a racing wait */
}
