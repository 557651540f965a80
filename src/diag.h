/* diag.h — collected warnings and errors.
 *
 * Configuration loading does not print as it goes: it collects every finding in a km_diag_t so
 * that `check-config --json` can return them as data and the CLI can print them all at once
 * (a user fixing a file wants every problem, not the first). Messages are complete sentences
 * that name the file:line, key, alias or topic involved. */
#ifndef KM_DIAG_H
#define KM_DIAG_H

#include <stddef.h>

typedef struct km_diag {
    char **warnings;
    size_t nwarnings;
    char **errors;
    size_t nerrors;
    void *seen; /* private to diag.c: every text reported so far, to report a finding once */
} km_diag_t;

void km_diag_warn(km_diag_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void km_diag_error(km_diag_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs every collected message to stderr (warnings at WARN, errors at ERROR). */
void km_diag_log(const km_diag_t *d);
void km_diag_free(km_diag_t *d);

#endif
