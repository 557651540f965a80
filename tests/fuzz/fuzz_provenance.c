/* fuzz_provenance.c — the kmirror.path header (provenance.h), which any producer on a source
 * can set to anything: km_prov_decide on arbitrary header bytes, for every flow of a four-cluster
 * mesh that keeps topic names. The first input byte picks the flow, the rest is the header value.
 * A flow skips a record as "has it" exactly when one element of the path is its target; skips it
 * as "routed elsewhere" only for an origin that is an alias of the configuration whose delivery
 * tree does not use the flow; otherwise it writes the path with its source appended (its source
 * alone for an empty path), and decides the same way every time. */
#include "fuzz.h"
#include "config.h"
#include "provenance.h"

#include <string.h>

static const char MESH[] = "clusters = a, b, c, d\n"
                           "a.bootstrap.servers = h:1\nb.bootstrap.servers = h:2\nc.bootstrap.servers = h:3\n"
                           "d.bootstrap.servers = h:4\n"
                           "a->b.enabled = true\nb->c.enabled = true\nc->d.enabled = true\nd->a.enabled = true\n"
                           "a->c.enabled = true\nb->d.enabled = true\n"
                           "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n";

static km_config_t cfg;
static km_prov_route_t *routes;
static size_t nroutes;

static void setup(void) {
    km_diag_t d = {0};
    FZ_CHECK(km_config_load_buf(&cfg, MESH, strlen(MESH), "mesh.properties", NULL, 0, &d) == 0);
    km_diag_free(&d);
    routes = calloc(cfg.nflows, sizeof(*routes));
    FZ_CHECK(routes);
    for (size_t i = 0; i < cfg.nflows; i++)
        if (cfg.flows[i].enabled) km_prov_route_init(&routes[nroutes++], &cfg, &cfg.flows[i], "t", "t");
    FZ_CHECK(nroutes == 6);
}

/* Whether the path's comma-separated elements include `alias`. */
static bool path_has(const char *path, size_t len, const char *alias) {
    size_t alen = strlen(alias), start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || path[i] == ',') {
            if (i - start == alen && memcmp(path + start, alias, alen) == 0) return true;
            start = i + 1;
        }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!routes) setup();
    if (size == 0) return 0;
    const km_prov_route_t *r = &routes[data[0] % nroutes];
    const char *path = (const char *)data + 1;
    size_t len = size - 1;
    km_prov_buf_t b = {0};
    km_prov_verdict_t v = km_prov_decide(r, len ? path : NULL, len, &b);
    FZ_CHECK(v == km_prov_decide(r, len ? path : NULL, len, &b));
    FZ_CHECK(r->enabled && r->same_name);
    FZ_CHECK((v == KM_PROV_SKIP_HAS) == (len > 0 && path_has(path, len, r->target)));
    const char *comma = len ? memchr(path, ',', len) : NULL;
    const char *origin = len ? path : r->source;
    size_t olen = !len ? r->source_len : comma ? (size_t)(comma - path) : len;
    if (v == KM_PROV_SKIP_ROUTE) {
        bool alias = false;
        for (size_t i = 0; i < r->n; i++)
            if (r->alias_len[i] == olen && memcmp(r->alias[i], origin, olen) == 0) alias = !r->forward[i];
        FZ_CHECK(alias);
    } else if (v == KM_PROV_WRITE) {
        if (len == 0) {
            FZ_CHECK(b.len == r->source_len && memcmp(b.p, r->source, b.len) == 0);
        } else {
            FZ_CHECK(b.len == len + 1 + r->source_len && memcmp(b.p, path, len) == 0 && b.p[len] == ',' &&
                     memcmp(b.p + len + 1, r->source, r->source_len) == 0);
        }
    } else {
        FZ_CHECK(v == KM_PROV_SKIP_HAS);
    }
    free(b.p);
    return 0;
}
