/* util.h — the few helpers every file needs: allocation that cannot return NULL (kmirror has no
 * sensible way to continue without memory, so it says so and exits), string helpers and a
 * monotonic clock. */
#ifndef KM_UTIL_H
#define KM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

__attribute__((noreturn)) void km_oom(void);
void *km_xmalloc(size_t n);
void *km_xcalloc(size_t n, size_t size);
void *km_xrealloc(void *p, size_t n);
char *km_xstrdup(const char *s);
char *km_xstrndup(const char *s, size_t n);
char *km_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copy of s without leading/trailing ASCII whitespace. */
char *km_strtrim(const char *s);
bool km_str_starts_with(const char *s, const char *prefix);
bool km_str_ends_with(const char *s, const char *suffix);
/* Levenshtein distance, for "did you mean" suggestions. */
size_t km_edit_distance(const char *a, const char *b);

/* Splits a comma-separated list the way Kafka's ConfigDef LIST type does: trimmed, split on
 * \s*,\s*; an empty or blank string is an empty list. Returns the count; *out is owned by the
 * caller (km_strv_free). */
size_t km_split_list(const char *s, char ***out);
void km_strv_free(char **v, size_t n);

/* Milliseconds: monotonic for intervals, wall clock for Kafka timestamps. */
int64_t km_now_mono_ms(void);
int64_t km_now_wall_ms(void);
/* Microseconds, monotonic: for timing a step that takes less than a millisecond. */
int64_t km_now_mono_us(void);
/* The wall clock at the kernel tick (a few ms): for per-record latency, where reading the clock
 * source on every delivery report showed up in profiles (bench/results/2026-11-25.md). */
int64_t km_now_wall_coarse_ms(void);

/* A wake-up for the main thread: it waits on one between ticks (km_wake_wait), and a thread
 * that finished something the next tick takes (a positions read, a topic survey, a flow start)
 * signals it, so the hand-over costs no tick. Reference-counted: a detached thread that may
 * outlive the main loop holds its own reference. */
typedef struct km_wake km_wake_t;
km_wake_t *km_wake_new(void);
km_wake_t *km_wake_ref(km_wake_t *w);
void km_wake_unref(km_wake_t *w); /* NULL is fine */
void km_wake_signal(km_wake_t *w); /* NULL is fine */
/* Returns at a signal (sent since the last wait), a caught signal of the process, or timeout_ms. */
void km_wake_wait(km_wake_t *w, int timeout_ms);

#endif
