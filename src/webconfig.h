/* webconfig.h — protection of the metrics endpoint: TLS and HTTP basic auth, configured by a web
 * configuration file in the format of the Prometheus exporter-toolkit, so the file an operator
 * already writes for node_exporter (and the scrape config that goes with it) works unchanged:
 *
 *   tls_server_config:
 *     cert_file: server.pem              # PEM; relative paths are relative to this file
 *     key_file: server.key               # PEM, unencrypted
 *     client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (the default)
 *     client_ca_file: clients-ca.pem
 *     min_version: TLS12                 # or TLS13
 *   basic_auth_users:
 *     prometheus: $2y$10$...             # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\n')
 *
 * Only this block-mapping subset of YAML is read; anything else is an error at its line, never
 * ignored, since a setting skipped here would leave the endpoint less protected than written.
 * The file is `metrics.web.config.file`; it holds hashes only, so it is no secret of its own. */
#ifndef KM_WEBCONFIG_H
#define KM_WEBCONFIG_H

#include "diag.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct km_webconfig km_webconfig_t;

/* Reads and checks the file: YAML subset, known keys, certificate and key readable and matching,
 * bcrypt hashes well-formed. NULL with every problem in d, each as "PATH:LINE: ..." prefixed by
 * `where` (the properties file:line that named it). */
km_webconfig_t *km_webconfig_load(const char *path, const char *where, km_diag_t *d);
void km_webconfig_free(km_webconfig_t *w);

/* TLS: the certificate chain and key (PEM text), or NULL for plain HTTP. */
const char *km_webconfig_cert_pem(const km_webconfig_t *w);
const char *km_webconfig_key_pem(const km_webconfig_t *w);
/* The CAs client certificates must chain to, or NULL when clients need none. */
const char *km_webconfig_client_ca_pem(const km_webconfig_t *w);
/* GnuTLS priority string for min_version. */
const char *km_webconfig_tls_priorities(const km_webconfig_t *w);

/* Whether basic auth is required (basic_auth_users is not empty). */
bool km_webconfig_has_users(const km_webconfig_t *w);
/* Whether user/password match basic_auth_users. Safe from several threads. Takes as long for an
 * unknown user as for a wrong password; a pair once verified is remembered (as a SHA-256) so a
 * scraper does not pay for bcrypt on every scrape. */
bool km_webconfig_check_user(km_webconfig_t *w, const char *user, const char *password);

#endif
