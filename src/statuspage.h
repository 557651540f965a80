/* statuspage.h — the status page served on GET / of the metrics endpoint (prefix km_statuspage). */
#ifndef KM_STATUSPAGE_H
#define KM_STATUSPAGE_H

#include <stddef.h>

/* The page: one self-contained HTML document (inline CSS and JavaScript, no external resource)
 * that draws itself from /status. Static storage, never freed; *len gets its size in bytes. */
const char *km_statuspage_html(size_t *len);

#endif
