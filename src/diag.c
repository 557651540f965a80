/* diag.c — see diag.h. Out-of-memory is the only failure here and aborts: a diagnostic that
 * silently disappears would be worse than no diagnostics at all. */
#include "diag.h"
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same finding reached through several flows or clients is reported once. */
static void diag_add(char ***list, size_t *n, const char *fmt, va_list ap) {
    char *msg;
    if (vasprintf(&msg, fmt, ap) < 0) km_oom();
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], msg) == 0) {
            free(msg);
            return;
        }
    *list = km_xrealloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = msg;
}

void km_diag_warn(km_diag_t *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_add(&d->warnings, &d->nwarnings, fmt, ap);
    va_end(ap);
}

void km_diag_error(km_diag_t *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    diag_add(&d->errors, &d->nerrors, fmt, ap);
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
    d->warnings = d->errors = NULL;
    d->nwarnings = d->nerrors = 0;
}
