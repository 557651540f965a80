/* log.c — see log.h. Each line is formatted into one buffer and written with a single
 * fwrite so that lines from librdkafka's threads never interleave mid-line. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

static _Atomic int log_level = KM_LOG_INFO;

void km_log_set_level(km_log_level_t lvl) { atomic_store(&log_level, (int)lvl); }
km_log_level_t km_log_get_level(void) { return (km_log_level_t)atomic_load(&log_level); }

int km_log_parse_level(const char *s) {
    static const struct { const char *name; km_log_level_t lvl; } names[] = {
        {"error", KM_LOG_ERROR}, {"warn", KM_LOG_WARN}, {"warning", KM_LOG_WARN},
        {"info", KM_LOG_INFO},   {"debug", KM_LOG_DEBUG}, {"trace", KM_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0) return (int)names[i].lvl;
    return -1;
}

void km_log(km_log_level_t lvl, const char *fmt, ...) {
    static const char *tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    if ((int)lvl > atomic_load(&log_level)) return;
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %s ", ts.tv_nsec / 1000000L, tags[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2) n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}
