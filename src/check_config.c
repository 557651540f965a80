/* check_config.c — renders the configuration model for `kmirror check-config`.
 *
 * The JSON form is a contract for scripts and tests:
 *   {"clusters":[...],"flows":[{"source","target","enabled","runs_here","config":{...},
 *    "consumer":{...},"producer":{...},"admin":{...},"source_admin":{...}}],
 *    "warnings":[...],"errors":[...]}
 * "admin" is the target-side admin client (it creates topics); "source_admin" reads the source.
 * Client objects hold the final librdkafka properties.
 *
 * Nothing secret is printed: a secret key's value is masked, and a value that came from a config
 * provider (providers.h) is shown as the ${...} reference it was written as. */
#include "check_config.h"

#include "clientconf.h"
#include "providers.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MASK "********"

/* What to print for key = value (caller frees). A secret key shows its reference only when the
 * whole value is one: any other text in it may be a secret written inline. */
static char *shown(const km_props_t *secrets, const char *key, const char *value) {
    if (km_config_is_secret(key)) {
        const char *ref = km_providers_reference(secrets, value);
        return km_xstrdup(ref ? ref : MASK);
    }
    return km_providers_redact(secrets, value);
}

static json_t *props_json(const km_props_t *secrets, const km_props_t *p) {
    km_props_t sorted = {0};
    km_props_copy(&sorted, p);
    km_props_sort(&sorted);
    json_t *o = json_object();
    for (size_t i = 0; i < sorted.n; i++) {
        char *v = shown(secrets, sorted.items[i].key, sorted.items[i].value);
        json_object_set_new(o, sorted.items[i].key, json_string(v));
        free(v);
    }
    km_props_free(&sorted);
    return o;
}

static json_t *strings_json(char **v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
    return a;
}

static void print_json(FILE *out, const km_config_t *cfg, const km_diag_t *d) {
    json_t *root = json_object();
    json_t *clusters = json_array();
    for (size_t i = 0; i < cfg->nclusters; i++) json_array_append_new(clusters, json_string(cfg->clusters[i].alias));
    json_object_set_new(root, "clusters", clusters);
    json_t *flows = json_array();
    for (size_t i = 0; i < cfg->nflows; i++) {
        const km_flow_t *f = &cfg->flows[i];
        json_t *o = json_object();
        json_object_set_new(o, "source", json_string(f->source));
        json_object_set_new(o, "target", json_string(f->target));
        json_object_set_new(o, "enabled", json_boolean(f->enabled));
        json_object_set_new(o, "runs_here", json_boolean(f->runs_here));
        json_object_set_new(o, "config", props_json(&cfg->secrets, &f->config));
        json_object_set_new(o, "consumer", props_json(&cfg->secrets, &f->rk_consumer));
        json_object_set_new(o, "producer", props_json(&cfg->secrets, &f->rk_producer));
        json_object_set_new(o, "admin", props_json(&cfg->secrets, &f->rk_target_admin));
        json_object_set_new(o, "source_admin", props_json(&cfg->secrets, &f->rk_source_admin));
        json_array_append_new(flows, o);
    }
    json_object_set_new(root, "flows", flows);
    json_object_set_new(root, "warnings", strings_json(d->warnings, d->nwarnings));
    json_object_set_new(root, "errors", strings_json(d->errors, d->nerrors));
    json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
}

static void print_props(FILE *out, const char *title, const km_props_t *p, const km_props_t *secrets) {
    km_props_t sorted = {0};
    km_props_copy(&sorted, p);
    km_props_sort(&sorted);
    fprintf(out, "  %s:\n", title);
    for (size_t i = 0; i < sorted.n; i++) {
        char *v = shown(secrets, sorted.items[i].key, sorted.items[i].value);
        /* PEM blobs are long; their presence is what matters here. */
        if (strchr(v, '\n')) fprintf(out, "    %s = <%zu bytes>\n", sorted.items[i].key, strlen(v));
        else fprintf(out, "    %s = %s\n", sorted.items[i].key, v);
        free(v);
    }
    km_props_free(&sorted);
}

static void print_text(FILE *out, const km_config_t *cfg) {
    fprintf(out, "configuration: %s\nclusters:\n", cfg->path ? cfg->path : "-");
    for (size_t i = 0; i < cfg->nclusters; i++) {
        const char *bs = km_props_get(&cfg->clusters[i].props, "bootstrap.servers");
        char *v = bs ? km_providers_redact(&cfg->secrets, bs) : NULL;
        fprintf(out, "  %-16s bootstrap.servers = %s\n", cfg->clusters[i].alias, v ? v : "(not set)");
        free(v);
    }
    for (size_t i = 0; i < cfg->nflows; i++) {
        const km_flow_t *f = &cfg->flows[i];
        fprintf(out, "\nflow %s: %s%s\n", f->name, f->enabled ? "enabled" : "disabled",
                f->enabled ? (f->runs_here ? ", runs here" : ", not run here (target not in --clusters)") : "");
        if (!f->enabled) continue;
        print_props(out, "connector settings", &f->config, &cfg->secrets);
        print_props(out, "source consumer (librdkafka)", &f->rk_consumer, &cfg->secrets);
        fprintf(out, "    (prefetch limits for the task's whole share of memory.max.bytes, %lld MiB: the flow lowers the ones you\n"
                     "     did not set for a source close by when it starts; its log and /status say to what)\n",
                (long long)(f->s.prefetch_max_bytes >> 20));
        print_props(out, "target producer (librdkafka)", &f->rk_producer, &cfg->secrets);
        fprintf(out, "    (for a target on the same LAN the flow sets max.in.flight.requests.per.connection = 1 and\n"
                     "     linger.ms = 2 when it starts, unless you set them, and keeps each task to %lld MiB of\n"
                     "     inflight.max.bytes's %lld MiB in flight, unless you set inflight.max.bytes; its log and\n"
                     "     /status say so)\n",
                (long long)(km_clientconf_task_inflight_for_rtt(f->s.inflight_max_bytes, f->s.inflight_max_set, 0) >> 20),
                (long long)(f->s.inflight_max_bytes >> 20));
        print_props(out, "target admin (librdkafka)", &f->rk_target_admin, &cfg->secrets);
        print_props(out, "source admin (librdkafka)", &f->rk_source_admin, &cfg->secrets);
    }
}

void km_check_config_print(FILE *out, const km_config_t *cfg, const km_diag_t *d, bool json) {
    if (json) print_json(out, cfg, d);
    else print_text(out, cfg);
}
