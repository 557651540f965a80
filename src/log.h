/* log.h — timestamped, levelled log lines on stderr.
 *
 * One line per event: "2026-11-25T12:00:00.123Z WARN  message", or with log.format = json one
 * JSON object per line for log shippers: {"ts":"2026-11-25T12:00:00.123Z","level":"warn","msg":"..."}.
 * Callers name the flow, topic and partition in the message. librdkafka's own log lines are
 * routed here too (see km_log_rdkafka). The level and the format are process-wide state set
 * at start-up (and by a configuration reload) from -v/-q, log.level and log.format; they are the one piece of mutable module state
 * besides the signal flag, because stderr itself is process-wide. */
#ifndef KM_LOG_H
#define KM_LOG_H

#include <stddef.h>

typedef enum {
    KM_LOG_ERROR = 0,
    KM_LOG_WARN = 1,
    KM_LOG_INFO = 2,
    KM_LOG_DEBUG = 3,
} km_log_level_t;

typedef enum { KM_LOG_TEXT = 0, KM_LOG_JSON = 1 } km_log_format_t;

void km_log_set_level(km_log_level_t lvl);
km_log_level_t km_log_get_level(void);
/* Parses "error|warn|info|debug" (any case, also "warning"/"trace"); -1 when unknown. */
int km_log_parse_level(const char *s);
/* The level for a named one (NULL: info) moved by verbosity (-v +1, -q -1) and kept within
 * error..debug; -1 when the name is unknown. */
int km_log_level_resolve(const char *named, int verbosity);
void km_log_set_format(km_log_format_t f);
/* Parses "text|json" (any case); -1 when unknown. */
int km_log_parse_format(const char *s);
/* s[0..len) as the inside of a JSON string into out (at most cap bytes, cut before an escape or a
 * character, never inside one); bytes that are not UTF-8 become U+FFFD. Returns the length. */
size_t km_log_json_escape(char *out, size_t cap, const char *s, size_t len);
void km_log(km_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A rewrite applied to every message before it is written, and by km_log_redact: secrets that
 * came from config providers become their ${...} references (providers.h). snprintf-like: writes
 * at most cap bytes of out, NUL-terminated, and returns the full length. Installed at start-up
 * before any thread logs; NULL removes it. */
typedef size_t (*km_log_redact_fn)(const void *ctx, const char *in, char *out, size_t cap);
void km_log_set_redactor(km_log_redact_fn fn, const void *ctx);
/* `in` through the installed rewrite (a plain copy when none), snprintf-like, for text that
 * leaves the process another way (/status, metrics). */
size_t km_log_redact(const char *in, char *out, size_t cap);

#define km_error(...) km_log(KM_LOG_ERROR, __VA_ARGS__)
#define km_warn(...) km_log(KM_LOG_WARN, __VA_ARGS__)
#define km_info(...) km_log(KM_LOG_INFO, __VA_ARGS__)
#define km_debug(...) km_log(KM_LOG_DEBUG, __VA_ARGS__)

#endif
