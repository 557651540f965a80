/* diag.c — see diag.h. Out-of-memory is the only failure here and aborts: a diagnostic that
 * silently disappears would be worse than no diagnostics at all. */
#include "diag.h"
#include "log.h"
#include "util.h"

#include <search.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for one more in an array of n: doubled at each power of two, so that appending 100,000
 * messages is not quadratic (the arrays are public and carry no capacity). */
static char **grow(char **v, size_t n) {
    if (n & (n - 1)) return v;
    return km_xrealloc(v, (n ? n * 2 : 1) * sizeof(*v));
}

static int cmp_text(const void *a, const void *b) { return strcmp(a, b); }

/* Whether `msg` was reported before; if not, remembers it. The texts are copies in a glibc
 * search tree (a generated file can produce 100,000 messages): callers may rewrite a message in
 * place (providers.h redacts secrets out of them), and a finding is the same finding by the text
 * it was first reported with. */
static bool seen_before(km_diag_t *d, char kind, const char *msg) {
    char *text = km_xasprintf("%c%s", kind, msg); /* a warning and an error are kept apart */
    char **hit = tsearch(text, &d->seen, cmp_text);
    if (!hit) km_oom();
    if (*hit == text) return false;
    free(text);
    return true;
}

/* The same finding reached through several flows or clients is reported once. */
static void diag_add(km_diag_t *d, char kind, char ***list, size_t *n, const char *fmt, va_list ap) {
    char *msg;
    if (vasprintf(&msg, fmt, ap) < 0) km_oom();
    if (seen_before(d, kind, msg)) {
        free(msg);
        return;
    }
    *list = grow(*list, *n);
    (*list)[(*n)++] = msg;
}

void km_diag_warn(km_diag_t *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, 'W', &d->warnings, &d->nwarnings, fmt, ap);
    va_end(ap);
}

void km_diag_error(km_diag_t *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, 'E', &d->errors, &d->nerrors, fmt, ap);
    va_end(ap);
}

void km_diag_log(const km_diag_t *d) {
    for (size_t i = 0; i < d->nwarnings; i++) km_log(KM_LOG_WARN, "%s", d->warnings[i]);
    for (size_t i = 0; i < d->nerrors; i++) km_log(KM_LOG_ERROR, "%s", d->errors[i]);
}

void km_diag_free(km_diag_t *d) {
    for (size_t i = 0; i < d->nwarnings; i++) free(d->warnings[i]);
    for (size_t i = 0; i < d->nerrors; i++) free(d->errors[i]);
    free(d->warnings);
    free(d->errors);
    tdestroy(d->seen, free);
    *d = (km_diag_t){0};
}
