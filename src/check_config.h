/* check_config.h — `kmirror check-config`: the resolved configuration, for people and scripts. */
#ifndef KM_CHECK_CONFIG_H
#define KM_CHECK_CONFIG_H

#include "config.h"

#include <stdbool.h>
#include <stdio.h>

/* Prints cfg (which may be partially loaded, with errors in d) as text or as one JSON object.
 * Secrets are masked. */
void km_check_config_print(FILE *out, const km_config_t *cfg, const km_diag_t *d, bool json);

#endif
