/* providers.h — Kafka's config providers: secrets kept out of the configuration file (prefix
 * km_providers_).
 *
 * As in MM2 (Kafka's ConfigTransformer), a configuration names its providers and their classes:
 *
 *   config.providers = file, dir, env
 *   config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider
 *   config.providers.dir.class  = org.apache.kafka.common.config.provider.DirectoryConfigProvider
 *   config.providers.env.class  = org.apache.kafka.common.config.provider.EnvVarConfigProvider
 *   config.providers.env.param.allowlist.pattern = KMIRROR_.*
 *
 * and any value may hold references ${provider:path:key} or ${provider:key}:
 *   ${file:/etc/kmirror/secrets.properties:password}  key of a .properties file
 *   ${dir:/run/secrets:password}                      content of /run/secrets/password
 *   ${env:NAME}                                       environment variable NAME
 * Parameters: FileConfigProvider and DirectoryConfigProvider take allowed.paths (a comma list
 * of absolute directories the path must lie under), EnvVarConfigProvider allowlist.pattern (a
 * Java regex that must be found in the variable's name).
 *
 * Unlike Kafka, which leaves an unresolvable reference in place, every reference that cannot be
 * resolved is an error naming file:line and the key. Resolved values are secrets: the caller
 * keeps the list of (reference, resolved value) pairs and passes anything it prints through
 * km_providers_redact. */
#ifndef KM_PROVIDERS_H
#define KM_PROVIDERS_H

#include "diag.h"
#include "props.h"

/* Resolves, in place, every reference in the values of `props` (the keys config.providers*
 * excepted), with the providers those keys define. `name` is the file name for messages. Each
 * resolved reference is added to `secrets`: key = the reference as written ("${env:PW}"),
 * value = what it resolved to. Returns 0, or -1 when at least one error was added to d. */
int km_providers_resolve(km_props_t *props, const char *name, km_props_t *secrets, km_diag_t *d);

/* A copy of `text` (caller frees) in which every resolved value of `secrets` is replaced by its
 * reference. */
char *km_providers_redact(const km_props_t *secrets, const char *text);

/* The same into a buffer, snprintf-like (km_log_redact_fn; ctx is a const km_props_t *): no
 * allocation, for log lines. */
size_t km_providers_redact_buf(const void *secrets, const char *in, char *out, size_t cap);

/* From now on every log line, /status and metrics reason (km_log_redact) shows these secrets as
 * their references. Copies the list into process-wide state kept until exit; call once the
 * configuration is loaded, before other threads log. */
void km_providers_redact_logs(const km_props_t *secrets);

/* The same for a reloaded configuration, while other threads log: its secrets are redacted from
 * now on as well, and the earlier ones still are (a line may quote an old value). */
void km_providers_redact_logs_more(const km_props_t *secrets);

/* The reference `value` was resolved from when the whole value is one resolved secret, else
 * NULL. */
const char *km_providers_reference(const km_props_t *secrets, const char *value);

/* Redacts every warning and error of d in place. */
void km_providers_redact_diag(const km_props_t *secrets, km_diag_t *d);

/* Overwrites the resolved values in memory, then frees the list. */
void km_providers_forget(km_props_t *secrets);

#endif
