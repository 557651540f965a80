/* kt_metrics.h — test support for kmirror's observability endpoint (prefix kt_): an HTTP GET of
 * its own and a line-by-line checker of the Prometheus text format 0.0.4, written from the format's
 * description and not from kmirror's renderer, so a renderer bug cannot hide in the checker. */
#ifndef KT_METRICS_H
#define KT_METRICS_H

#include <stddef.h>

/* GET http://127.0.0.1:port/path. 0 with the status code and body (caller frees), -1 otherwise. */
int kt_http_get(int port, const char *path, int *status, char **body);
/* The same with another method (no request body), e.g. POST /-/reload. */
int kt_http_request(int port, const char *method, const char *path, int *status, char **body);

/* Checks an exposition line by line: every line is "# HELP name text", "# TYPE name type" or a
 * sample "name{label="value",...} value"; names and label names are valid, label values use
 * only the escapes \\ \" \n, values parse as numbers (or +Inf/-Inf/NaN); HELP and TYPE come before
 * the first sample of their family, each family is one contiguous group, every sample belongs to
 * a TYPEd family, counters end in _total, histogram buckets are cumulative and end in le="+Inf"
 * equal to _count, no series appears twice. Returns the number of samples, or -1 with the first
 * problem (and its line number) in err. */
int kt_prom_check(const char *text, char *err, size_t errlen);

/* Sum of the values of samples called `name` whose labels include every "key=value" of
 * `labels` (NULL-terminated; NULL matches all; values unescaped). *count (if not NULL) gets the
 * number of samples summed. */
double kt_prom_sum(const char *text, const char *name, const char *const *labels, int *count);
/* The largest such value, or -1 when none matches. */
double kt_prom_max(const char *text, const char *name, const char *const *labels);

#endif
