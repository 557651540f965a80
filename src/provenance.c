/* provenance.c — see provenance.h for the header format and the rules.
 *
 * Everything per topic (trees, the alias table) is computed when a task takes the topic up, so
 * the per-record decision is a scan of a short header value with memchr/memcmp and one table
 * lookup: no allocation, no hashing. */
#include "provenance.h"

#include "topics.h"
#include "util.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

static size_t cluster_index(const km_config_t *cfg, const char *alias) {
    for (size_t i = 0; i < cfg->nclusters; i++)
        if (strcmp(cfg->clusters[i].alias, alias) == 0) return i;
    return cfg->nclusters;
}

/* A flow delivers `topic` under the same name: the edge may be on a delivery tree. */
static bool keeps_name(const km_flow_t *f, const char *topic) {
    if (!f->enabled || !f->s.policy.separator || !km_topic_selected(&f->s, f->target, topic)) return false;
    char *remote = km_policy_format_remote_topic(&f->s.policy, f->source, topic);
    bool same = strcmp(remote, topic) == 0;
    free(remote);
    return same;
}

void km_prov_tree(const km_config_t *cfg, const char *topic, size_t origin, int *parent) {
    size_t n = cfg->nclusters;
    int *dist = km_xmalloc(n * sizeof(*dist));
    bool *edge = km_xmalloc((cfg->nflows ? cfg->nflows : 1) * sizeof(*edge));
    for (size_t i = 0; i < cfg->nflows; i++) edge[i] = keeps_name(&cfg->flows[i], topic);
    for (size_t v = 0; v < n; v++) dist[v] = parent[v] = -1;
    dist[origin] = 0;
    /* Level by level, so that every candidate parent of a cluster is known before it is chosen. */
    for (int level = 0;; level++) {
        bool grew = false;
        for (size_t v = 0; v < n; v++) {
            if (dist[v] >= 0) continue;
            int best = -1;
            for (size_t i = 0; i < cfg->nflows; i++) {
                if (!edge[i] || strcmp(cfg->flows[i].target, cfg->clusters[v].alias) != 0) continue;
                size_t u = cluster_index(cfg, cfg->flows[i].source);
                if (dist[u] != level) continue;
                if (best < 0 || strcmp(cfg->clusters[u].alias, cfg->clusters[best].alias) < 0) best = (int)u;
            }
            if (best >= 0) {
                parent[v] = best;
                grew = true;
            }
        }
        if (!grew) break;
        for (size_t v = 0; v < n; v++)
            if (dist[v] < 0 && parent[v] >= 0) dist[v] = level + 1;
    }
    free(dist);
    free(edge);
}

void km_prov_route_init(km_prov_route_t *r, const km_config_t *cfg, const km_flow_t *f, const char *topic,
                        const char *remote) {
    *r = (km_prov_route_t){.enabled = f->s.provenance, .same_name = strcmp(topic, remote) == 0, .n = cfg->nclusters,
                           .source = f->source, .target = f->target, .source_len = strlen(f->source),
                           .target_len = strlen(f->target)};
    r->alias = km_xcalloc(r->n, sizeof(*r->alias));
    r->alias_len = km_xcalloc(r->n, sizeof(*r->alias_len));
    r->forward = km_xcalloc(r->n, sizeof(*r->forward));
    for (size_t i = 0; i < r->n; i++) {
        r->alias[i] = cfg->clusters[i].alias;
        r->alias_len[i] = strlen(r->alias[i]);
    }
    if (!r->enabled || !r->same_name) return;
    size_t src = cluster_index(cfg, f->source), dst = cluster_index(cfg, f->target);
    int *parent = km_xmalloc(r->n * sizeof(*parent));
    for (size_t o = 0; o < r->n; o++) {
        km_prov_tree(cfg, topic, o, parent);
        r->forward[o] = parent[dst] == (int)src;
    }
    free(parent);
}

void km_prov_route_free(km_prov_route_t *r) {
    free(r->alias);
    free(r->alias_len);
    free(r->forward);
    *r = (km_prov_route_t){0};
}

static void buf_reserve(km_prov_buf_t *b, size_t need) {
    if (need <= b->cap) return;
    b->cap = need < 256 ? 256 : need * 2;
    b->p = km_xrealloc(b->p, b->cap);
}

/* Whether the origin `o` (an alias, not NUL-terminated) routes its records over this flow. */
static bool routed_here(const km_prov_route_t *r, const char *o, size_t olen) {
    for (size_t i = 0; i < r->n; i++)
        if (r->alias_len[i] == olen && memcmp(r->alias[i], o, olen) == 0) return r->forward[i];
    return true; /* not an alias of this configuration: not routed, only the path rule applies */
}

km_prov_verdict_t km_prov_decide(const km_prov_route_t *r, const char *path, size_t len, km_prov_buf_t *buf) {
    if (!path || len == 0) {
        if (r->same_name && !routed_here(r, r->source, r->source_len)) return KM_PROV_SKIP_ROUTE;
        buf_reserve(buf, r->source_len);
        memcpy(buf->p, r->source, r->source_len);
        buf->len = r->source_len;
        return KM_PROV_WRITE;
    }
    const char *end = path + len, *origin = path;
    size_t origin_len = 0;
    for (const char *p = path;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (p == path) origin_len = (size_t)(e - p);
        if ((size_t)(e - p) == r->target_len && memcmp(p, r->target, r->target_len) == 0) return KM_PROV_SKIP_HAS;
        if (!comma) break;
        p = comma + 1;
    }
    if (r->same_name && !routed_here(r, origin, origin_len)) return KM_PROV_SKIP_ROUTE;
    buf_reserve(buf, len + 1 + r->source_len);
    memcpy(buf->p, path, len);
    buf->p[len] = ',';
    memcpy(buf->p + len + 1, r->source, r->source_len);
    buf->len = len + 1 + r->source_len;
    return KM_PROV_WRITE;
}

/* ---- loops in the configuration -------------------------------------------------------------- */

/* A sample topic: any name a flow accepts behaves like it under the policies (filters are not
 * considered: a loop is refused even where today's topic lists happen not to close it). */
#define SAMPLE_TOPIC "t"

static bool keeps_names(const km_flow_t *f) {
    char *remote = km_policy_format_remote_topic(&f->s.policy, f->source, SAMPLE_TOPIC);
    bool same = strcmp(remote, SAMPLE_TOPIC) == 0;
    free(remote);
    return same;
}

typedef struct {
    const km_config_t *cfg;
    int *color;      /* 0 unseen, 1 on the stack, 2 done */
    size_t *stack;   /* flow indexes */
    size_t depth;
    bool found;
} dfs_t;

static void report_cycle(dfs_t *s, size_t from_cluster, const char *name, km_diag_t *d) {
    size_t i = 0;
    while (i < s->depth && strcmp(s->cfg->flows[s->stack[i]].source, s->cfg->clusters[from_cluster].alias) != 0) i++;
    char *list = NULL;
    for (; i < s->depth; i++) {
        char *next = km_xasprintf("%s%s%s", list ? list : "", list ? ", " : "", s->cfg->flows[s->stack[i]].name);
        free(list);
        list = next;
    }
    km_diag_error(d, "%s: flows %s form a cycle that keeps topic names (IdentityReplicationPolicy) while %s = false: "
                     "every record would be copied around it forever; remove '%s = false' (the record path stops the loop) "
                     "or disable one of these flows",
                  name, list, KM_PROVENANCE_KEY, KM_PROVENANCE_KEY);
    free(list);
    s->found = true;
}

static void dfs(dfs_t *s, size_t v, const char *name, km_diag_t *d) {
    s->color[v] = 1;
    for (size_t i = 0; i < s->cfg->nflows && !s->found; i++) {
        const km_flow_t *f = &s->cfg->flows[i];
        if (!f->enabled || strcmp(f->source, s->cfg->clusters[v].alias) != 0 || !keeps_names(f)) continue;
        size_t w = cluster_index(s->cfg, f->target);
        s->stack[s->depth++] = i;
        if (s->color[w] == 1) report_cycle(s, w, name, d);
        else if (s->color[w] == 0) dfs(s, w, name, d);
        s->depth--;
    }
    s->color[v] = 2;
}

/* Topic names along the flows, from SAMPLE_TOPIC on every cluster: a name still accepted after
 * more hops than any chain of distinct names can have grows forever. */
typedef struct {
    size_t cluster;
    char *name;
} seen_t;

typedef struct {
    const km_config_t *cfg;
    size_t **out; /* per cluster: its enabled outgoing flows (a mesh has tens of thousands) */
    size_t *nout;
    void *seen;   /* tsearch tree of seen_t: (cluster, name) states already explored */
    size_t nseen;
    size_t *stack;
    char **names;
    size_t depth, limit;
    bool found;
} grow_t;

#define GROW_MAX_STATES 20000

static int cmp_seen(const void *a, const void *b) {
    const seen_t *x = a, *y = b;
    if (x->cluster != y->cluster) return x->cluster < y->cluster ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool seen_before(grow_t *g, size_t cluster, const char *name) {
    seen_t *s = km_xmalloc(sizeof(*s));
    *s = (seen_t){cluster, km_xstrdup(name)};
    seen_t **at = tsearch(s, &g->seen, cmp_seen);
    if (!at) km_oom();
    if (*at == s) {
        g->nseen++;
        return false;
    }
    free(s->name);
    free(s);
    return true;
}

static void free_seen(void *p) {
    seen_t *s = p;
    free(s->name);
    free(s);
}

static void report_growth(grow_t *g, const char *name, km_diag_t *d) {
    char *flows = NULL, *names = km_xstrdup("'" SAMPLE_TOPIC "'");
    for (size_t i = 0; i < g->depth; i++) {
        const char *fn = g->cfg->flows[g->stack[i]].name;
        bool dup = false;
        for (size_t j = 0; j < i; j++) dup |= g->stack[j] == g->stack[i];
        if (!dup) {
            char *next = km_xasprintf("%s%s%s", flows ? flows : "", flows ? ", " : "", fn);
            free(flows);
            flows = next;
        }
        if (i < 4) {
            char *next = km_xasprintf("%s -> '%s'", names, g->names[i]);
            free(names);
            names = next;
        }
    }
    km_diag_error(d, "%s: flows %s replicate a topic around a cycle under ever longer names (%s -> ...): their replication "
                     "policies cannot tell a copy from its original there (a replication.policy.separator that also occurs "
                     "in aliases, or policies mixed along the cycle); use one policy and a separator no alias contains",
                  name, flows, names);
    free(flows);
    free(names);
    g->found = true;
}

static void grow(grow_t *g, size_t v, const char *topic, const char *name, km_diag_t *d) {
    if (g->found || g->nseen >= GROW_MAX_STATES || seen_before(g, v, topic)) return;
    for (size_t k = 0; k < g->nout[v] && !g->found; k++) {
        size_t i = g->out[v][k];
        const km_flow_t *f = &g->cfg->flows[i];
        if (km_policy_is_internal_topic(&f->s.policy, topic) || km_policy_is_cycle(&f->s.policy, f->target, topic)) continue;
        char *remote = km_policy_format_remote_topic(&f->s.policy, f->source, topic);
        g->stack[g->depth] = i;
        g->names[g->depth++] = remote;
        if (g->depth > g->limit) report_growth(g, name, d);
        else grow(g, cluster_index(g->cfg, f->target), remote, name, d);
        free(g->names[--g->depth]);
    }
}

/* One DefaultReplicationPolicy on every enabled flow, with a separator no alias contains: each
 * hop prefixes an alias that isCycle then recognises, so a name passes a cluster at most once
 * and cannot grow forever. The search below would otherwise walk the chains of a large mesh
 * (a 200-cluster full mesh: a minute of check-config) to find nothing. */
static bool names_cannot_grow(const km_config_t *cfg) {
    const char *sep = NULL;
    for (size_t i = 0; i < cfg->nflows; i++) {
        const km_policy_t *p = &cfg->flows[i].s.policy;
        if (!cfg->flows[i].enabled) continue;
        if (p->kind != KM_POLICY_DEFAULT || !*p->separator || (sep && strcmp(sep, p->separator) != 0)) return false;
        sep = p->separator;
    }
    for (size_t v = 0; sep && v < cfg->nclusters; v++)
        if (strstr(cfg->clusters[v].alias, sep)) return false;
    return true;
}

void km_prov_check(const km_config_t *cfg, const char *name, km_diag_t *d) {
    size_t n = cfg->nclusters;
    for (size_t i = 0; i < cfg->nflows; i++)
        if (cfg->flows[i].enabled && !cfg->flows[i].s.policy.separator) return; /* reported already */
    if (!cfg->provenance) {
        dfs_t s = {.cfg = cfg, .color = km_xcalloc(n, sizeof(int)), .stack = km_xcalloc(cfg->nflows + 1, sizeof(size_t))};
        for (size_t v = 0; v < n && !s.found; v++)
            if (s.color[v] == 0) dfs(&s, v, name, d);
        free(s.color);
        free(s.stack);
    }
    if (names_cannot_grow(cfg)) return;
    /* Distinct clusters in a name's prefixes, plus hops that keep the name: at most n·(n+1). */
    grow_t g = {.cfg = cfg, .limit = n * (n + 1) + 1};
    g.stack = km_xcalloc(g.limit + 1, sizeof(size_t));
    g.names = km_xcalloc(g.limit + 1, sizeof(char *));
    g.out = km_xcalloc(n ? n : 1, sizeof(*g.out));
    g.nout = km_xcalloc(n ? n : 1, sizeof(*g.nout));
    for (size_t i = 0; i < cfg->nflows; i++) {
        if (!cfg->flows[i].enabled) continue;
        size_t u = cluster_index(cfg, cfg->flows[i].source);
        g.out[u] = km_xrealloc(g.out[u], (g.nout[u] + 1) * sizeof(**g.out));
        g.out[u][g.nout[u]++] = i;
    }
    for (size_t v = 0; v < n && !g.found; v++) grow(&g, v, SAMPLE_TOPIC, name, d);
    tdestroy(g.seen, free_seen);
    for (size_t v = 0; v < n; v++) free(g.out[v]);
    free(g.out);
    free(g.nout);
    free(g.stack);
    free(g.names);
}
