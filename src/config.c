/* config.c — loads MM2's connect-mirror-maker.properties into the model of config.h.
 *
 * Three passes over the parsed file:
 *   1. classify every key: top-level, cluster ({alias}.k), flow ({src}->{tgt}.k) — with
 *      warnings for keys nobody reads (typos, wrong-case aliases, MM2's dropped top-level
 *      consumer.* keys) so that a misconfiguration is never silent;
 *   2. resolve every ordered pair of clusters into a flow (connector keys with MM2 defaults,
 *      and the Java client properties of its consumer, producer and admin clients);
 *   3. validate what would break replication (missing or bogus bootstrap.servers, bad regexes,
 *      bad numbers, unknown --clusters aliases, nothing to run) and build the typed settings.
 * Client properties are translated for librdkafka by clientconf.c. */
#include "config.h"

#include "http.h"

#include "clientconf.h"
#include "log.h"
#include "provenance.h"
#include "providers.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Connector-level keys MM2 defines, with the defaults kmirror fills in (NULL = no default;
 * the key is accepted and shown only when set). kmirror's own keys are at the end. */
static const struct { const char *key, *dflt; } connector_keys[] = {
    {"topics", ".*"},
    {"topics.exclude", ".*[\\-\\.]internal, .*\\.replica, __.*"},
    {"groups", ".*"},
    {"groups.exclude", "console-consumer-.*, connect-.*, __.*"},
    {"config.properties.exclude",
     "follower\\.replication\\.throttled\\.replicas, leader\\.replication\\.throttled\\.replicas, "
     "message\\.timestamp\\.difference\\.max\\.ms, message\\.timestamp\\.type, "
     "unclean\\.leader\\.election\\.enable, min\\.insync\\.replicas"},
    {"use.defaults.from", "target"},
    {"replication.policy.class", "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"},
    {"replication.policy.separator", "."},
    {"replication.policy.internal.topic.separator.enabled", "true"},
    {"refresh.topics.enabled", "true"},
    {"refresh.topics.interval.seconds", "600"},
    {"refresh.groups.enabled", "true"},
    {"refresh.groups.interval.seconds", "600"},
    {"sync.topic.configs.enabled", "true"},
    {"sync.topic.configs.interval.seconds", "600"},
    {"sync.topic.acls.enabled", "true"},
    {"sync.topic.acls.interval.seconds", "600"},
    {"emit.heartbeats.enabled", "true"},
    {"emit.heartbeats.interval.seconds", "1"},
    {"heartbeats.replication.enabled", "true"},
    {"emit.checkpoints.enabled", "true"},
    {"emit.checkpoints.interval.seconds", "60"},
    {"sync.group.offsets.enabled", "false"},
    {"sync.group.offsets.interval.seconds", "60"},
    {"emit.offset-syncs.enabled", "true"},
    {"offset-syncs.topic.location", "source"},
    {"offset.lag.max", "100"},
    {"replication.factor", "2"},
    {"heartbeats.topic.replication.factor", "3"},
    {"checkpoints.topic.replication.factor", "3"},
    {"offset-syncs.topic.replication.factor", "3"},
    {"tasks.max", "1"},
    {"consumer.poll.timeout.ms", "1000"},
    {"admin.timeout.ms", "60000"},
    {"exactly.once.support", NULL},
    {"transaction.boundary", NULL},
    {"topic.filter.class", NULL},
    {"group.filter.class", NULL},
    {"config.property.filter.class", NULL},
    {"forwarding.admin.class", NULL},
    {"metric.reporters", NULL},
    {"use.incremental.alter.configs", NULL},
    {"add.source.alias.to.metrics", NULL},
    {"topics.blacklist", NULL},
    {"groups.blacklist", NULL},
    {"config.properties.blacklist", NULL},
    {"transforms", NULL},
    {"predicates", NULL},
    {"config.action.reload", NULL},
    {"offsets.storage.topic", NULL},
    {"name", NULL},
    {"connector.class", NULL},
    {"source.cluster.alias", NULL},
    {"target.cluster.alias", NULL},
    /* kmirror: how often positions are committed (Connect's worker key; MM2 leaves it at 60 s,
     * kmirror commits every second, and after offset.flush.records records at the latest, so a
     * crash replays about a second of traffic at most, at any rate). */
    {"offset.flush.interval.ms", "1000"},
    {"offset.flush.records", "100000"},
    /* kmirror: bound on a graceful stop (SIGTERM → exit). */
    {"shutdown.timeout.ms", "30000"},
    /* kmirror: a partition whose position has not moved for this long while it has records to
     * mirror makes its flow degraded (0: never). Java's delivery.timeout.ms default: whatever
     * holds a partition longer than a record may take to be delivered is worth a look. */
    {"replication.stall.timeout.ms", "120000"},
};
#define N_CONNECTOR_KEYS (sizeof(connector_keys) / sizeof(connector_keys[0]))

/* Keys read at the top level only (driver and kmirror process settings). */
static const char *const global_keys[] = {
    "clusters", "metrics.listen", "metrics.web.config.file", "metrics.lifecycle.enabled", "log.level", "log.format",
    "dedicated.mode.enable.internal.rest", "inflight.max.bytes", "memory.max.bytes",
    "replication.provenance.enabled", /* KM_PROVENANCE_KEY */
};

/* Connect worker keys MM2 accepts at top level or per cluster; kmirror has no Connect worker,
 * so these are accepted without effect except where named in config.h. */
static const char *const worker_prefixes[] = {
    "offset.storage", "config.storage", "status.storage", "key.converter", "value.converter",
    "header.converter", "task.", "worker.", "config.providers", "listeners", "rest.",
    "inter.worker.", "errors.",
};
static const char *const worker_keys[] = {
    "group.id", "client.id", "exactly.once.source.support", "offset.flush.timeout.ms",
    "session.timeout.ms", "heartbeat.interval.ms", "rebalance.timeout.ms", "connect.protocol",
    "scheduled.rebalance.max.delay.ms", "worker.sync.timeout.ms", "worker.unsync.backoff.ms",
    "plugin.path", "admin.listeners",
};

static bool in_list(const char *key, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0) return true;
    return false;
}
#define IN(key, arr) in_list(key, arr, sizeof(arr) / sizeof(arr[0]))

static bool has_prefix_in(const char *key, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (km_str_starts_with(key, list[i])) return true;
    return false;
}

static int connector_key_index(const char *key) {
    for (size_t i = 0; i < N_CONNECTOR_KEYS; i++)
        if (strcmp(key, connector_keys[i].key) == 0) return (int)i;
    return -1;
}

/* bootstrap.servers, security.protocol, ssl.*, sasl.* (MirrorClientConfig.CLIENT_CONFIG_DEF). */
static bool is_connection_key(const char *key) {
    return strcmp(key, "bootstrap.servers") == 0 || strcmp(key, "security.protocol") == 0 ||
           km_str_starts_with(key, "ssl.") || km_str_starts_with(key, "sasl.");
}

static bool is_client_prefixed(const char *key) {
    return km_str_starts_with(key, "producer.") || km_str_starts_with(key, "consumer.") ||
           km_str_starts_with(key, "admin.");
}

static bool is_worker_key(const char *key) {
    return IN(key, worker_keys) ||
           has_prefix_in(key, worker_prefixes, sizeof(worker_prefixes) / sizeof(worker_prefixes[0]));
}

static bool is_known_toplevel(const char *key) {
    return connector_key_index(key) >= 0 || IN(key, global_keys) || is_connection_key(key) ||
           is_worker_key(key) || km_str_starts_with(key, "replication.policy.");
}

bool km_config_is_secret(const char *key) {
    static const char *const words[] = {"password", "secret", "jaas", "token", "key.password", "key.pem", "keystore.key"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(key, words[i])) return true;
    return false;
}

/* ---- suggestions --------------------------------------------------------------------------- */

static size_t len_apart(size_t a, size_t b) { return a > b ? a - b : b - a; }

/* The known connector/global key closest to `key`, or NULL when nothing is close. */
static const char *suggest_key(const char *key) {
    const char *best = NULL;
    size_t best_d = (size_t)-1, len = strlen(key);
    /* "enable" vs "enabled", "topic" vs "topics": a few edits, relative to the key's length. */
    size_t limit = len < 8 ? 2 : 3;
    for (size_t i = 0; i < N_CONNECTOR_KEYS + sizeof(global_keys) / sizeof(global_keys[0]); i++) {
        const char *k = i < N_CONNECTOR_KEYS ? connector_keys[i].key : global_keys[i - N_CONNECTOR_KEYS];
        /* The distance is at least the difference in length: a key (or a 10 MB one) that far off
         * is never suggested, so its edit distance is not worth computing. */
        if (len_apart(len, strlen(k)) > limit) continue;
        size_t d = km_edit_distance(key, k);
        if (d < best_d) best_d = d, best = k;
    }
    if (best_d <= limit) return best;
    /* "emit.heartbeats" for "emit.heartbeats.enabled". */
    for (size_t i = 0; i < N_CONNECTOR_KEYS; i++)
        if (km_str_starts_with(connector_keys[i].key, key) && connector_keys[i].key[strlen(key)] == '.') return connector_keys[i].key;
    return NULL;
}

/* The alias closest to `name` (equal but for case counts as distance 0), or NULL. */
static const km_cluster_t *suggest_alias(const km_config_t *cfg, const char *name, size_t maxd) {
    const km_cluster_t *best = NULL;
    size_t best_d = (size_t)-1, len = strlen(name);
    for (size_t i = 0; i < cfg->nclusters; i++) {
        const char *a = cfg->clusters[i].alias;
        if (len_apart(len, strlen(a)) > maxd) continue; /* too far apart to be suggested */
        size_t d = strcasecmp(a, name) == 0 ? 0 : km_edit_distance(a, name);
        if (d < best_d) best_d = d, best = &cfg->clusters[i];
    }
    return best_d <= maxd ? best : NULL;
}

/* For a key that names no alias: the split "alias.rest" whose alias part is nearest a real
 * alias. Returns the alias guess (owned by caller) and the near cluster, or NULL. */
static char *guess_alias_prefix(const km_config_t *cfg, const char *key, const km_cluster_t **near) {
    char *best = NULL;
    size_t best_d = (size_t)-1, longest = 0;
    *near = NULL;
    for (size_t i = 0; i < cfg->nclusters; i++)
        if (strlen(cfg->clusters[i].alias) > longest) longest = strlen(cfg->clusters[i].alias);
    /* A prefix longer than every alias by more than suggest_alias's distance names none: a key
     * with thousands of dots is not split thousands of times. */
    for (const char *dot = strchr(key, '.'); dot && (size_t)(dot - key) <= longest + 2; dot = strchr(dot + 1, '.')) {
        char *prefix = km_xstrndup(key, (size_t)(dot - key));
        const km_cluster_t *c = suggest_alias(cfg, prefix, 2);
        if (c) {
            size_t d = strcasecmp(c->alias, prefix) == 0 ? 1 : km_edit_distance(c->alias, prefix);
            if (d < best_d) {
                best_d = d;
                free(best);
                best = prefix;
                prefix = NULL;
                *near = c;
            }
        }
        free(prefix);
    }
    return best;
}

/* ---- clusters ------------------------------------------------------------------------------ */

static void add_cluster(km_config_t *cfg, const char *alias) {
    cfg->clusters = km_xrealloc(cfg->clusters, (cfg->nclusters + 1) * sizeof(*cfg->clusters));
    km_cluster_t *c = &cfg->clusters[cfg->nclusters++];
    memset(c, 0, sizeof(*c));
    c->alias = km_xstrdup(alias);
}

const km_cluster_t *km_config_cluster(const km_config_t *cfg, const char *alias) {
    for (size_t i = 0; i < cfg->nclusters; i++)
        if (strcmp(cfg->clusters[i].alias, alias) == 0) return &cfg->clusters[i];
    return NULL;
}

/* The cluster whose "alias." prefixes key (the longest, as aliases may contain dots). */
static km_cluster_t *cluster_prefix(const km_config_t *cfg, const char *key) {
    km_cluster_t *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < cfg->nclusters; i++) {
        size_t n = strlen(cfg->clusters[i].alias);
        if (n > best_len && strncmp(key, cfg->clusters[i].alias, n) == 0 && key[n] == '.') {
            best = &cfg->clusters[i];
            best_len = n;
        }
    }
    return best;
}

/* Every ordered pair of clusters is a flow, resolved and kept whether enabled or not (about
 * 16 kB each): 256 clusters are 65,280 flows and about 1 GB. Past that a file (a 10 MB
 * 'clusters' value) would run the process out of memory instead of being refused. */
#define MAX_CLUSTERS 256

static int too_many_clusters(const char *name, km_diag_t *d) {
    km_diag_error(d, "%s: more than %d cluster aliases; kmirror runs at most %d (every ordered pair of clusters is a flow: %d flows), split the mesh over several configurations",
                  name, MAX_CLUSTERS, MAX_CLUSTERS, MAX_CLUSTERS * (MAX_CLUSTERS - 1));
    return -1;
}

/* clusters = ...; when missing, MM2 fails — kmirror infers the aliases from
 * {alias}.bootstrap.servers keys (as the ops guide's active/passive example expects). */
static int define_clusters(km_config_t *cfg, const char *name, km_diag_t *d) {
    const km_prop_t *p = km_props_find(&cfg->raw, "clusters");
    if (p) {
        char **v;
        size_t n = km_split_list(p->value, &v);
        for (size_t i = 0; i < n; i++) {
            if (!*v[i]) continue;
            if (strstr(v[i], "->")) {
                km_diag_error(d, "%s:%d: clusters: '%s' is not a cluster alias ('->' separates flows)", name, p->line, v[i]);
            } else if (km_config_cluster(cfg, v[i])) {
                km_diag_warn(d, "%s:%d: clusters: alias '%s' is listed twice", name, p->line, v[i]);
            } else if (cfg->nclusters == MAX_CLUSTERS) {
                km_strv_free(v, n);
                return too_many_clusters(name, d);
            } else {
                add_cluster(cfg, v[i]);
            }
        }
        km_strv_free(v, n);
        if (cfg->nclusters == 0) km_diag_error(d, "%s:%d: clusters is empty: list the cluster aliases, e.g. clusters = primary, secondary", name, p->line);
        return 0;
    }
    for (size_t i = 0; i < cfg->raw.n; i++) {
        const char *k = cfg->raw.items[i].key;
        if (!km_str_ends_with(k, ".bootstrap.servers") || strstr(k, "->")) continue;
        size_t alen = strlen(k) - strlen(".bootstrap.servers");
        char *alias = km_xstrndup(k, alen);
        /* admin./consumer./producer.bootstrap.servers belong to an alias already seen. */
        bool client = km_str_ends_with(alias, ".admin") || km_str_ends_with(alias, ".consumer") ||
                      km_str_ends_with(alias, ".producer");
        bool add = alen && !client && !km_config_cluster(cfg, alias);
        if (add && cfg->nclusters == MAX_CLUSTERS) {
            free(alias);
            return too_many_clusters(name, d);
        }
        if (add) add_cluster(cfg, alias);
        free(alias);
    }
    if (cfg->nclusters == 0) {
        km_diag_error(d, "%s: no clusters defined: add 'clusters = a, b' and 'a.bootstrap.servers = host:9092' for each alias", name);
        return -1;
    }
    char *list = NULL;
    for (size_t i = 0; i < cfg->nclusters; i++) {
        char *next = km_xasprintf("%s%s%s", list ? list : "", list ? ", " : "", cfg->clusters[i].alias);
        free(list);
        list = next;
    }
    km_diag_warn(d, "%s: 'clusters' is not set; using the aliases that have bootstrap.servers: %s (MM2 requires 'clusters = %s')", name, list, list);
    free(list);
    return 0;
}

/* ---- pass 1: classify keys ----------------------------------------------------------------- */

typedef struct flow_key {
    const km_prop_t *prop;
    km_cluster_t *source, *target;
    const char *rest; /* key after "src->tgt." */
} flow_key_t;

/* Ignored keys listed one by one; past this they are counted in one closing warning. A generated
 * file with 100,000 stray keys gets a readable report, and the suggestion work (an edit distance
 * per known key) stays bounded. */
#define IGNORED_LISTED 100

/* What one load keeps beside the model: the ignored-key count, and the top-level keys every flow
 * needs, taken out of the file once (a 200-cluster full mesh has 39,800 flows and as many keys:
 * scanning the file per flow is quadratic). */
typedef struct load {
    const char *name;
    km_diag_t *d;
    size_t ignored;              /* keys found ignored so far, listed or not */
    km_props_t conn;             /* top-level connection keys (is_connection_key) */
    km_props_t connector;        /* top-level connector keys, replication.policy.* included */
    const km_prop_t **by_line;   /* the raw keys by line, for raw_key_at */
    bool *servers_reported;      /* by cluster: its missing bootstrap.servers was reported */
} load_t;

/* Counts an ignored key; true while it is still to be listed. */
static bool list_ignored(load_t *ld) { return ++ld->ignored <= IGNORED_LISTED; }

static void warn_unknown_alias_key(km_config_t *cfg, load_t *ld, const km_prop_t *p) {
    if (!list_ignored(ld)) return;
    const char *name = ld->name;
    km_diag_t *d = ld->d;
    const km_cluster_t *near;
    char *guess = guess_alias_prefix(cfg, p->key, &near);
    if (guess) {
        km_diag_warn(d, "%s:%d: '%s': '%s' is not a cluster alias (aliases are case-sensitive); did you mean '%s%s'? The key is ignored",
                     name, p->line, p->key, guess, near->alias, p->key + strlen(guess));
    } else if (is_client_prefixed(p->key)) {
        km_diag_warn(d, "%s:%d: '%s' is ignored at the top level (as in MM2); write it per cluster ('{alias}.%s') or per flow ('{source}->{target}.%s')",
                     name, p->line, p->key, p->key, p->key);
    } else {
        const char *s = suggest_key(p->key);
        if (s) km_diag_warn(d, "%s:%d: unknown key '%s' is ignored; did you mean '%s'?", name, p->line, p->key, s);
        else km_diag_warn(d, "%s:%d: unknown key '%s' is ignored", name, p->line, p->key);
    }
    free(guess);
}

/* "src->tgt.rest": finds both aliases or reports the unknown one. Returns 0 when resolved. */
static int parse_flow_key(km_config_t *cfg, load_t *ld, const km_prop_t *p, flow_key_t *fk) {
    const char *name = ld->name;
    km_diag_t *d = ld->d;
    const char *arrow = strstr(p->key, "->");
    char *src = km_xstrndup(p->key, (size_t)(arrow - p->key));
    const char *after = arrow + 2;
    fk->prop = p;
    fk->source = (km_cluster_t *)km_config_cluster(cfg, src);
    fk->target = cluster_prefix(cfg, after);
    fk->rest = fk->target ? after + strlen(fk->target->alias) + 1 : NULL;
    int rc = 0;
    if (!fk->source) {
        const km_cluster_t *near = suggest_alias(cfg, src, 3);
        km_diag_error(d, "%s:%d: '%s': the flow's source '%s' is not a cluster alias%s%s%s", name, p->line, p->key, src,
                      near ? "; did you mean '" : "", near ? near->alias : "", near ? "'?" : "");
        rc = -1;
    }
    if (!fk->target) {
        const km_cluster_t *near;
        char *guess = guess_alias_prefix(cfg, after, &near);
        if (guess && strcmp(near->alias, src) != 0) /* never suggest a flow into its own source */
            km_diag_error(d, "%s:%d: '%s': the flow's target '%s' is not a cluster alias; did you mean '%s->%s%s'?", name,
                          p->line, p->key, guess, src, near->alias, after + strlen(guess));
        else
            km_diag_error(d, "%s:%d: '%s': the flow's target is not a cluster alias (write '{source}->{target}.{key}' with aliases from 'clusters')",
                          name, p->line, p->key);
        free(guess);
        rc = -1;
    }
    if (fk->source && fk->target && fk->source == fk->target) {
        km_diag_error(d, "%s:%d: '%s': a flow from cluster '%s' to itself is not possible (it would copy every topic into the same cluster)",
                      name, p->line, p->key, src);
        rc = -1;
    }
    free(src);
    return rc;
}

static void classify_keys(km_config_t *cfg, load_t *ld, flow_key_t **fkeys, size_t *nfkeys) {
    *fkeys = km_xcalloc(cfg->raw.n ? cfg->raw.n : 1, sizeof(**fkeys));
    for (size_t i = 0; i < cfg->raw.n; i++) {
        const km_prop_t *p = &cfg->raw.items[i];
        if (strstr(p->key, "->")) {
            if (parse_flow_key(cfg, ld, p, &(*fkeys)[*nfkeys]) == 0) (*nfkeys)++;
            continue;
        }
        km_cluster_t *c = cluster_prefix(cfg, p->key);
        if (c) {
            km_props_set(&c->props, p->key + strlen(c->alias) + 1, p->value, p->line);
            continue;
        }
        if (is_connection_key(p->key)) km_props_set(&ld->conn, p->key, p->value, p->line);
        if (connector_key_index(p->key) >= 0 || km_str_starts_with(p->key, "replication.policy."))
            km_props_set(&ld->connector, p->key, p->value, p->line);
        if (!is_known_toplevel(p->key)) warn_unknown_alias_key(cfg, ld, p);
    }
}

/* Orders flow keys by flow, as load_buf makes the flows (source, then target, in 'clusters'
 * order), and by place in the file within a flow; each flow then takes its keys from one run. */
static int cmp_flow_key(const void *a, const void *b) {
    const flow_key_t *x = a, *y = b;
    if (x->source != y->source) return x->source < y->source ? -1 : 1;
    if (x->target != y->target) return x->target < y->target ? -1 : 1;
    return x->prop < y->prop ? -1 : x->prop > y->prop;
}

/* ---- pass 2: resolve flows ----------------------------------------------------------------- */

/* Connection keys of a cluster: its own, then the top-level ones where it has none. */
static void connection_props(const load_t *ld, const km_cluster_t *c, km_props_t *out) {
    for (size_t i = 0; i < c->props.n; i++)
        if (is_connection_key(c->props.items[i].key)) km_props_set(out, c->props.items[i].key, c->props.items[i].value, c->props.items[i].line);
    for (size_t i = 0; i < ld->conn.n; i++) {
        const km_prop_t *p = &ld->conn.items[i];
        if (!km_props_find(out, p->key)) km_props_set(out, p->key, p->value, p->line);
    }
}

/* Copies the entries of `from` that start with `prefix`, with the prefix stripped. */
static void copy_stripped(km_props_t *to, const km_props_t *from, const char *prefix) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < from->n; i++)
        if (strncmp(from->items[i].key, prefix, n) == 0 && from->items[i].key[n])
            km_props_set(to, from->items[i].key + n, from->items[i].value, from->items[i].line);
}

/* One client's Java properties (see the precedence in config.h). role: "consumer", "producer"
 * or "admin"; side: "source" or "target". */
static void resolve_client(const load_t *ld, const km_cluster_t *c, const km_props_t *flowkeys,
                           const char *role, const char *side, km_props_t *out) {
    km_props_t conn = {0};
    connection_props(ld, c, &conn);
    km_props_copy(out, &conn);
    char *prefix = km_xasprintf("%s.", role);
    copy_stripped(out, flowkeys, prefix);
    km_props_t cluster_level = {0};
    copy_stripped(&cluster_level, &c->props, prefix);
    for (size_t i = 0; i < conn.n; i++)
        if (!km_props_find(&cluster_level, conn.items[i].key))
            km_props_set(&cluster_level, conn.items[i].key, conn.items[i].value, conn.items[i].line);
    km_props_copy(out, &cluster_level);
    char *side_prefix = km_xasprintf("%s.%s.", side, role);
    copy_stripped(out, flowkeys, side_prefix);
    free(side_prefix);
    free(prefix);
    km_props_free(&cluster_level);
    km_props_free(&conn);
}

static void set_client_id(km_props_t *p, const km_flow_t *f, const char *connector, const char *role) {
    const char *user = km_props_get(p, "client.id");
    char *id = km_xasprintf("%s%s%s|%s|%s", user ? user : "", user ? "|" : "", f->name, connector, role);
    km_props_set(p, "client.id", id, 0);
    free(id);
}

/* Connector keys: defaults < top level < flow ({src}->{tgt}.k). Flow keys that are not
 * connector keys and not client keys are typos → warned. */
static void resolve_connector(const km_config_t *cfg, km_flow_t *f, const km_props_t *flowkeys, load_t *ld) {
    const char *name = ld->name;
    km_diag_t *d = ld->d;
    for (size_t i = 0; i < N_CONNECTOR_KEYS; i++)
        if (connector_keys[i].dflt) km_props_set(&f->config, connector_keys[i].key, connector_keys[i].dflt, 0);
    km_props_copy(&f->config, &ld->connector);
    /* Worker keys MM2 reads from the target cluster's settings. */
    const km_cluster_t *tgt = km_config_cluster(cfg, f->target);
    static const char *const from_target[] = {"offset.flush.interval.ms", "offset.storage.topic", "group.id",
                                              "exactly.once.source.support", "session.timeout.ms", "heartbeat.interval.ms"};
    for (size_t i = 0; i < sizeof(from_target) / sizeof(from_target[0]); i++) {
        const km_prop_t *p = km_props_find(&tgt->props, from_target[i]);
        if (!p) p = km_props_find(&cfg->raw, from_target[i]);
        if (p) km_props_set(&f->config, p->key, p->value, p->line);
    }
    for (size_t i = 0; i < flowkeys->n; i++) {
        const km_prop_t *p = &flowkeys->items[i];
        if (strcmp(p->key, "enabled") == 0 || strcmp(p->key, "enable") == 0) continue;
        bool client = is_client_prefixed(p->key) || km_str_starts_with(p->key, "source.") || km_str_starts_with(p->key, "target.");
        if (!client && !is_known_toplevel(p->key)) {
            if (!list_ignored(ld)) continue;
            const char *s = suggest_key(p->key);
            km_diag_warn(d, "%s:%d: unknown key '%s.%s' is ignored%s%s%s", name, p->line, f->name, p->key,
                         s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
            continue;
        }
        if (!client) km_props_set(&f->config, p->key, p->value, p->line);
    }
    if (!km_props_find(flowkeys, "topics.exclude") && !km_props_find(&cfg->raw, "topics.exclude")) {
        const km_prop_t *bl = km_props_find(&f->config, "topics.blacklist");
        if (bl) km_props_set(&f->config, "topics.exclude", bl->value, bl->line);
    }
    if (!km_props_find(flowkeys, "groups.exclude") && !km_props_find(&cfg->raw, "groups.exclude")) {
        const km_prop_t *bl = km_props_find(&f->config, "groups.blacklist");
        if (bl) km_props_set(&f->config, "groups.exclude", bl->value, bl->line);
    }
    char *dflt = km_xasprintf("mm2-offsets.%s.internal", f->source);
    km_props_set_default(&f->config, "offset.storage.topic", dflt);
    free(dflt);
    dflt = km_xasprintf("%s-mm2", f->source);
    km_props_set_default(&f->config, "group.id", dflt);
    free(dflt);
    /* Connect's worker defaults: a process that dies loses its tasks within 10 s. */
    km_props_set_default(&f->config, "session.timeout.ms", "10000");
    km_props_set_default(&f->config, "heartbeat.interval.ms", "3000");
    km_props_set(&f->config, "source.cluster.alias", f->source, 0);
    km_props_set(&f->config, "target.cluster.alias", f->target, 0);
}

static void resolve_enabled(km_flow_t *f, const km_props_t *flowkeys, const char *name, km_diag_t *d) {
    const km_prop_t *en = km_props_find(flowkeys, "enabled");
    const km_prop_t *en2 = km_props_find(flowkeys, "enable");
    if (en2) {
        km_diag_warn(d, "%s:%d: '%s.enable' is not an MM2 key; accepted as '%s.enabled'", name, en2->line, f->name, f->name);
        if (!en || en2->line > en->line) en = en2;
    }
    f->enabled = false;
    if (!en) return;
    char *v = km_strtrim(en->value);
    if (strcasecmp(v, "true") == 0) f->enabled = true;
    else if (strcasecmp(v, "false") != 0)
        km_diag_error(d, "%s:%d: '%s': expected true or false, got '%s'", name, en->line, en->key, v);
    free(v);
    km_props_set(&f->config, "enabled", f->enabled ? "true" : "false", en->line);
}

/* fkeys[0..nfkeys) are this flow's keys. */
static void resolve_flow(km_config_t *cfg, km_flow_t *f, const flow_key_t *fkeys, size_t nfkeys, load_t *ld) {
    km_props_t flowkeys = {0};
    for (size_t i = 0; i < nfkeys; i++) km_props_set(&flowkeys, fkeys[i].rest, fkeys[i].prop->value, fkeys[i].prop->line);
    resolve_enabled(f, &flowkeys, ld->name, ld->d);
    resolve_connector(cfg, f, &flowkeys, ld);
    const km_cluster_t *src = km_config_cluster(cfg, f->source), *tgt = km_config_cluster(cfg, f->target);
    resolve_client(ld, src, &flowkeys, "consumer", "source", &f->consumer);
    resolve_client(ld, tgt, &flowkeys, "producer", "target", &f->producer);
    resolve_client(ld, src, &flowkeys, "admin", "source", &f->source_admin);
    resolve_client(ld, tgt, &flowkeys, "admin", "target", &f->target_admin);
    resolve_client(ld, src, &flowkeys, "producer", "source", &f->source_producer);
    resolve_client(ld, tgt, &flowkeys, "consumer", "target", &f->target_consumer);
    /* MM2 forces these on the replication consumer. */
    km_props_set(&f->consumer, "enable.auto.commit", "false", 0);
    km_props_set_default(&f->consumer, "auto.offset.reset", "earliest");
    set_client_id(&f->consumer, f, "MirrorSourceConnector", "replication-consumer");
    set_client_id(&f->producer, f, "MirrorSourceConnector", "replication-producer");
    set_client_id(&f->source_admin, f, "MirrorSourceConnector", "replication-source-admin");
    set_client_id(&f->target_admin, f, "MirrorSourceConnector", "replication-target-admin");
    set_client_id(&f->source_producer, f, "MirrorSourceConnector", "offset-syncs-producer");
    set_client_id(&f->target_consumer, f, "MirrorCheckpointConnector", "checkpoint-consumer");
    km_props_free(&flowkeys);
}

/* ---- pass 3: validation and typed settings ------------------------------------------------- */

static const km_prop_t *cfg_prop(const km_flow_t *f, const char *key) { return km_props_find(&f->config, key); }

typedef struct checker {
    const km_flow_t *f;
    const char *name;
    km_diag_t *d;
    int errors;
} checker_t;

static void where(const checker_t *ck, const km_prop_t *p, char *buf, size_t n) {
    if (p->line > 0) snprintf(buf, n, "%s:%d: ", ck->name, p->line);
    else snprintf(buf, n, "%s: ", ck->name);
}

static bool get_bool(checker_t *ck, const char *key) {
    const km_prop_t *p = cfg_prop(ck->f, key);
    char *v = km_strtrim(p->value);
    bool r = strcasecmp(v, "true") == 0;
    if (!r && strcasecmp(v, "false") != 0) {
        char w[256];
        where(ck, p, w, sizeof(w));
        km_diag_error(ck->d, "%sflow %s: '%s' must be true or false, got '%s'", w, ck->f->name, key, v);
        ck->errors++;
    }
    free(v);
    return r;
}

/* Every number kmirror itself interprets goes through here: an integer within [min, max], so
 * that check-config exit 0 means the value runs as written (no wrap-around in a cast, no
 * overflow when converted to milliseconds). */
static int64_t get_long(checker_t *ck, const char *key, int64_t min, int64_t max) {
    const km_prop_t *p = cfg_prop(ck->f, key);
    char *v = km_strtrim(p->value), *end;
    errno = 0;
    long long r = strtoll(v, &end, 10);
    if (errno || end == v || *end || r < min || r > max) {
        char w[256];
        where(ck, p, w, sizeof(w));
        km_diag_error(ck->d, "%sflow %s: '%s' must be an integer from %lld to %lld, got '%s'", w, ck->f->name, key,
                      (long long)min, (long long)max, v);
        ck->errors++;
        r = min;
    }
    free(v);
    return (int64_t)r;
}

#define MAX_INT32 2147483647LL
#define MAX_SECONDS (365LL * 24 * 3600) /* a year: any interval beyond is a typo */

static int64_t get_seconds_ms(checker_t *ck, const char *key) { return get_long(ck, key, 0, MAX_SECONDS) * 1000; }

static void check_class_key(checker_t *ck, const char *key, const char *default_simple) {
    const km_prop_t *p = cfg_prop(ck->f, key);
    if (!p) return;
    char *v = km_strtrim(p->value);
    const char *simple = strrchr(v, '.') ? strrchr(v, '.') + 1 : v;
    if (strcmp(simple, default_simple) != 0) {
        char w[256];
        where(ck, p, w, sizeof(w));
        km_diag_error(ck->d, "%sflow %s: '%s = %s': kmirror cannot load Java classes; only %s semantics are built in (remove the key)",
                      w, ck->f->name, key, v, default_simple);
        ck->errors++;
    }
    free(v);
}

/* host:port[,host:port...], optionally PROTOCOL://host:port; [v6]:port. */
static bool valid_address(const char *a) {
    const char *s = strstr(a, "://");
    if (s) a = s + 3;
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a) return false;
    if (a[0] == '[' && colon[-1] != ']') return false;
    for (const char *h = a; h < colon; h++)
        if (!(isalnum((unsigned char)*h) || strchr("-._[]:", *h))) return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return *end == '\0' && end != colon + 1 && port > 0 && port < 65536;
}

/* A key in the raw file that looks meant for `alias` (wrong case, small typo). */
static const km_prop_t *near_alias_key(const km_config_t *cfg, const char *alias, const char *suffix) {
    for (size_t i = 0; i < cfg->raw.n; i++) {
        const char *k = cfg->raw.items[i].key;
        if (!km_str_ends_with(k, suffix) || strstr(k, "->")) continue;
        size_t alen = strlen(k) - strlen(suffix);
        if (alen == 0 || k[alen - 1] != '.') continue;
        char *a = km_xstrndup(k, alen - 1);
        bool near = strcmp(a, alias) != 0 && !km_config_cluster(cfg, a) &&
                    (strcasecmp(a, alias) == 0 || km_edit_distance(a, alias) <= 2);
        free(a);
        if (near) return &cfg->raw.items[i];
    }
    return NULL;
}

/* The key as the user wrote it on `line` (e.g. "us-east.admin.bootstrap.servers"). */
static int cmp_line(const void *a, const void *b) {
    int x = (*(const km_prop_t *const *)a)->line, y = (*(const km_prop_t *const *)b)->line;
    return (x > y) - (x < y);
}

static const char *raw_key_at(const km_config_t *cfg, const load_t *ld, int line, const char *fallback) {
    km_prop_t probe = {.line = line};
    const km_prop_t *pp = &probe, **hit = line > 0 ? bsearch(&pp, ld->by_line, cfg->raw.n, sizeof(*ld->by_line), cmp_line) : NULL;
    return hit ? (*hit)->key : fallback;
}

static void check_servers(checker_t *ck, const km_config_t *cfg, load_t *ld, const km_props_t *client, const char *alias) {
    const km_prop_t *p = km_props_find(client, "bootstrap.servers");
    if (!p) {
        /* Said once per cluster: each of its flows would say the same, after a scan of the file. */
        bool *reported = &ld->servers_reported[km_config_cluster(cfg, alias) - cfg->clusters];
        ck->errors++;
        if (*reported) return;
        *reported = true;
        const km_prop_t *near = near_alias_key(cfg, alias, "bootstrap.servers");
        if (near)
            km_diag_error(ck->d, "%s:%d: cluster '%s' has no bootstrap.servers, which its enabled flows need: the key '%s' does not name it — aliases are case-sensitive; rename it to '%s.bootstrap.servers'",
                          ck->name, near->line, alias, near->key, alias);
        else
            km_diag_error(ck->d, "%s: cluster '%s' has no bootstrap.servers, which its enabled flows need: add '%s.bootstrap.servers = host:9092'",
                          ck->name, alias, alias);
        return;
    }
    char **v;
    size_t n = km_split_list(p->value, &v);
    const char *key = raw_key_at(cfg, ld, p->line, "bootstrap.servers");
    char w[256];
    where(ck, p, w, sizeof(w));
    for (size_t i = 0; i < n; i++) {
        if (valid_address(v[i])) continue;
        km_diag_error(ck->d, "%s'%s': '%s' is not a host:port address; list the brokers of cluster '%s', e.g. '%s = broker1:9092,broker2:9092'",
                      w, key, v[i], alias, key);
        ck->errors++;
        break;
    }
    if (n == 0) {
        km_diag_error(ck->d, "%s'%s' is empty: list the brokers of cluster '%s'", w, key, alias);
        ck->errors++;
    }
    km_strv_free(v, n);
}

static km_pattern_t *get_pattern(checker_t *ck, const char *key) {
    const km_prop_t *p = cfg_prop(ck->f, key);
    km_diag_t scratch = {0}; /* the filter's findings, to be told with where they came from */
    km_pattern_t *pat = km_pattern_new(p->value, key, &scratch);
    if (!pat) ck->errors++;
    char w[256];
    where(ck, p, w, sizeof(w));
    for (size_t i = 0; i < scratch.nerrors; i++) km_diag_error(ck->d, "%sflow %s: %s", w, ck->f->name, scratch.errors[i]);
    km_diag_free(&scratch);
    return pat;
}

static void build_filters(checker_t *ck, km_flow_settings_t *s) {
    s->topics.include = get_pattern(ck, "topics");
    s->topics.exclude = get_pattern(ck, "topics.exclude");
    s->groups.include = get_pattern(ck, "groups");
    s->groups.exclude = get_pattern(ck, "groups.exclude");
    s->config_exclude = get_pattern(ck, "config.properties.exclude");
}

static void build_policy(checker_t *ck, km_flow_settings_t *s) {
    const km_prop_t *cls = cfg_prop(ck->f, "replication.policy.class");
    bool internal_sep = get_bool(ck, "replication.policy.internal.topic.separator.enabled");
    const char *sep = cfg_prop(ck->f, "replication.policy.separator")->value;
    if (km_policy_init(&s->policy, cls->value, sep, internal_sep, ck->f->source, ck->d) != 0) ck->errors++;
}

static km_eos_t build_eos(checker_t *ck) {
    const km_prop_t *p = cfg_prop(ck->f, "exactly.once.support");
    const km_prop_t *w = cfg_prop(ck->f, "exactly.once.source.support");
    if (p) {
        char *v = km_strtrim(p->value);
        km_eos_t r = KM_EOS_DISABLED;
        if (strcasecmp(v, "required") == 0) r = KM_EOS_REQUIRED;
        else if (strcasecmp(v, "requested") == 0) r = KM_EOS_REQUESTED;
        else {
            km_diag_error(ck->d, "%s:%d: flow %s: exactly.once.support must be 'requested' or 'required', got '%s'", ck->name, p->line, ck->f->name, v);
            ck->errors++;
        }
        free(v);
        return r;
    }
    if (w && strcasecmp(w->value, "enabled") == 0) return KM_EOS_REQUESTED;
    return KM_EOS_DISABLED;
}

/* mm2-kmirror-tasks.{source}.{group.id}.internal (coord.h): per group, so that separate
 * deployments with their own group.id do not share tasks, and per source, so that flows into one
 * target that share a group.id keep their tasks apart. "mm2" in front and the policy's internal
 * separator make Apache's ReplicationPolicy.isInternalTopic hold for it (MirrorClient and MM2
 * then never take it for a remote topic); kmirror before that used `legacy` (coord.c takes an
 * existing one over). Characters a topic name cannot hold become '_'. */
static char *tasks_topic(const char *source, const char *group_id, const char *isep, bool legacy) {
    char *t = legacy ? km_xasprintf("kmirror-tasks.%s.%s.internal", source, group_id)
                     : km_xasprintf("mm2-kmirror-tasks%s%s%s%s%sinternal", isep, source, isep, group_id, isep);
    for (char *c = t; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-') *c = '_';
    return t;
}

static void build_settings(checker_t *ck, km_flow_t *f) {
    km_flow_settings_t *s = &f->s;
    build_filters(ck, s);
    build_policy(ck, s);
    s->refresh_topics_enabled = get_bool(ck, "refresh.topics.enabled");
    s->refresh_topics_interval_ms = get_seconds_ms(ck, "refresh.topics.interval.seconds");
    s->refresh_groups_enabled = get_bool(ck, "refresh.groups.enabled");
    s->refresh_groups_interval_ms = get_seconds_ms(ck, "refresh.groups.interval.seconds");
    s->sync_topic_configs_enabled = get_bool(ck, "sync.topic.configs.enabled");
    s->sync_topic_configs_interval_ms = get_seconds_ms(ck, "sync.topic.configs.interval.seconds");
    s->sync_topic_acls_enabled = get_bool(ck, "sync.topic.acls.enabled");
    s->sync_topic_acls_interval_ms = get_seconds_ms(ck, "sync.topic.acls.interval.seconds");
    s->emit_heartbeats_enabled = get_bool(ck, "emit.heartbeats.enabled");
    s->emit_heartbeats_interval_ms = get_seconds_ms(ck, "emit.heartbeats.interval.seconds");
    s->heartbeats_replication_enabled = get_bool(ck, "heartbeats.replication.enabled");
    s->emit_checkpoints_enabled = get_bool(ck, "emit.checkpoints.enabled");
    s->emit_checkpoints_interval_ms = get_seconds_ms(ck, "emit.checkpoints.interval.seconds");
    s->sync_group_offsets_enabled = get_bool(ck, "sync.group.offsets.enabled");
    s->sync_group_offsets_interval_ms = get_seconds_ms(ck, "sync.group.offsets.interval.seconds");
    s->emit_offset_syncs_enabled = get_bool(ck, "emit.offset-syncs.enabled");
    const km_prop_t *loc = cfg_prop(f, "offset-syncs.topic.location");
    char *lv = km_strtrim(loc->value);
    if (strcasecmp(lv, "target") == 0) s->offset_syncs_location = KM_SYNCS_ON_TARGET;
    else if (strcasecmp(lv, "source") == 0) s->offset_syncs_location = KM_SYNCS_ON_SOURCE;
    else {
        km_diag_error(ck->d, "%s:%d: flow %s: offset-syncs.topic.location must be 'source' or 'target', got '%s'", ck->name, loc->line, f->name, lv);
        ck->errors++;
    }
    free(lv);
    s->offset_lag_max = get_long(ck, "offset.lag.max", 0, INT64_MAX / 2);
    s->replication_factor = (int)get_long(ck, "replication.factor", -1, 32767);
    s->internal_replication_factor[0] = (int)get_long(ck, "heartbeats.topic.replication.factor", -1, 32767);
    s->internal_replication_factor[1] = (int)get_long(ck, "checkpoints.topic.replication.factor", -1, 32767);
    s->internal_replication_factor[2] = (int)get_long(ck, "offset-syncs.topic.replication.factor", -1, 32767);
    s->tasks_max = (int)get_long(ck, "tasks.max", 1, 4096);
    s->consumer_poll_timeout_ms = get_long(ck, "consumer.poll.timeout.ms", 0, MAX_INT32);
    s->admin_timeout_ms = get_long(ck, "admin.timeout.ms", 1, MAX_INT32);
    s->offset_flush_interval_ms = get_long(ck, "offset.flush.interval.ms", 1, MAX_INT32);
    s->offset_flush_records = get_long(ck, "offset.flush.records", 1, MAX_INT32);
    s->shutdown_timeout_ms = get_long(ck, "shutdown.timeout.ms", 0, MAX_INT32);
    s->stall_timeout_ms = get_long(ck, "replication.stall.timeout.ms", 0, MAX_INT32);
    s->session_timeout_ms = get_long(ck, "session.timeout.ms", 1, MAX_INT32);
    s->heartbeat_interval_ms = get_long(ck, "heartbeat.interval.ms", 1, MAX_INT32);
    s->exactly_once = build_eos(ck);
    s->offsets_topic = km_strtrim(cfg_prop(f, "offset.storage.topic")->value);
    const km_prop_t *gid = cfg_prop(f, "group.id");
    s->group_id = km_strtrim(gid->value);
    if (!*s->group_id) {
        km_diag_error(ck->d, "%s:%d: flow %s: 'group.id' is empty; the flow's tasks group and group requests need a name "
                             "(remove the key for the default, %s-mm2)",
                      ck->name, gid->line, f->name, f->source);
        ck->errors++;
    }
    s->tasks_topic = tasks_topic(f->source, s->group_id, s->policy.internal_separator ? s->policy.internal_separator : ".", false);
    s->legacy_tasks_topic = tasks_topic(f->source, s->group_id, ".", true);
    if (s->policy.separator) {
        s->offset_syncs_topic = km_policy_offset_syncs_topic(
            &s->policy, s->offset_syncs_location == KM_SYNCS_ON_SOURCE ? f->target : f->source);
        s->checkpoints_topic = km_policy_checkpoints_topic(&s->policy, f->source);
        s->heartbeats_topic = km_policy_heartbeats_topic(&s->policy);
    }
    check_class_key(ck, "topic.filter.class", "DefaultTopicFilter");
    check_class_key(ck, "group.filter.class", "DefaultGroupFilter");
    check_class_key(ck, "config.property.filter.class", "DefaultConfigPropertyFilter");
    const km_prop_t *tr = cfg_prop(f, "transforms");
    if (tr && *tr->value) {
        km_diag_error(ck->d, "%s:%d: flow %s: 'transforms' is set, but kmirror does not run Kafka Connect transforms (SMTs); records would not be transformed — remove the key",
                      ck->name, tr->line, f->name);
        ck->errors++;
    }
    if (!s->emit_offset_syncs_enabled && (s->emit_checkpoints_enabled || s->sync_group_offsets_enabled))
        km_diag_warn(ck->d, "%s: flow %s: emit.offset-syncs.enabled=false, so checkpoints and group offset sync cannot translate offsets", ck->name, f->name);
}

/* A Connect worker key as MM2 reads it for the flow's herder: the target cluster's, else the
 * top-level one, else MM2's default. It stays out of f->config: kmirror runs no Connect worker,
 * and the fingerprint (coord.h) is over f->config. */
static char *worker_topic(const km_config_t *cfg, const km_flow_t *f, const char *key, const char *dflt_prefix) {
    const char *v = km_props_get(&km_config_cluster(cfg, f->target)->props, key);
    if (!v) v = km_props_get(&cfg->raw, key);
    return v ? km_strtrim(v) : km_xasprintf("%s%s.internal", dflt_prefix, f->source);
}

static void validate_flow(km_config_t *cfg, km_flow_t *f, load_t *ld) {
    const char *name = ld->name;
    km_diag_t *d = ld->d;
    checker_t ck = {.f = f, .name = name, .d = d};
    f->s.connect_configs_topic = worker_topic(cfg, f, "config.storage.topic", "mm2-configs.");
    check_servers(&ck, cfg, ld, &f->consumer, f->source);
    check_servers(&ck, cfg, ld, &f->producer, f->target);
    check_servers(&ck, cfg, ld, &f->source_admin, f->source);
    check_servers(&ck, cfg, ld, &f->target_admin, f->target);
    build_settings(&ck, f);
    km_clientconf_translate(&f->consumer, KM_CLIENT_CONSUMER, name, &f->rk_consumer, d);
    km_clientconf_translate(&f->producer, KM_CLIENT_PRODUCER, name, &f->rk_producer, d);
    km_clientconf_translate(&f->source_admin, KM_CLIENT_ADMIN, name, &f->rk_source_admin, d);
    km_clientconf_translate(&f->target_admin, KM_CLIENT_ADMIN, name, &f->rk_target_admin, d);
    km_clientconf_translate(&f->source_producer, KM_CLIENT_PRODUCER, name, &f->rk_source_producer, d);
    km_clientconf_offset_syncs_defaults(&f->source_producer, &f->rk_source_producer);
    km_clientconf_translate(&f->target_consumer, KM_CLIENT_CONSUMER, name, &f->rk_target_consumer, d);
}

/* --clusters: every alias must exist; a flow runs here when enabled and its target is listed. */
static void apply_here(km_config_t *cfg, char **only, size_t nonly, const char *name, km_diag_t *d) {
    if (nonly == 0) {
        cfg->nhere = cfg->nclusters;
        cfg->here = km_xcalloc(cfg->nhere, sizeof(char *));
        for (size_t i = 0; i < cfg->nclusters; i++) cfg->here[i] = km_xstrdup(cfg->clusters[i].alias);
    } else {
        cfg->here = km_xcalloc(nonly, sizeof(char *));
        for (size_t i = 0; i < nonly; i++) {
            if (!km_config_cluster(cfg, only[i])) {
                const km_cluster_t *near = suggest_alias(cfg, only[i], 3);
                km_diag_error(d, "--clusters: '%s' is not a cluster alias defined in %s%s%s%s", only[i], name,
                              near ? "; did you mean '" : "", near ? near->alias : "", near ? "'?" : "");
                continue;
            }
            cfg->here[cfg->nhere++] = km_xstrdup(only[i]);
        }
    }
    for (size_t i = 0; i < cfg->nflows; i++) {
        km_flow_t *f = &cfg->flows[i];
        f->runs_here = false;
        for (size_t j = 0; j < cfg->nhere && f->enabled; j++)
            if (strcmp(cfg->here[j], f->target) == 0) f->runs_here = true;
    }
}

/* Heartbeats for pairs whose flow is disabled (see heartbeats_here). Problems there are not
 * the user's replication problems: such a pair is quietly left out, as it would add nothing
 * but heartbeats. */
static void prepare_heartbeats_only(km_flow_t *f, const char *name) {
    km_diag_t scratch = {0};
    checker_t ck = {.f = f, .name = name, .d = &scratch};
    f->s.emit_heartbeats_enabled = get_bool(&ck, "emit.heartbeats.enabled");
    f->s.emit_heartbeats_interval_ms = get_seconds_ms(&ck, "emit.heartbeats.interval.seconds");
    f->s.internal_replication_factor[0] = (int)get_long(&ck, "heartbeats.topic.replication.factor", -1, 32767);
    f->s.admin_timeout_ms = get_long(&ck, "admin.timeout.ms", 1, MAX_INT32);
    if (km_props_find(&f->producer, "bootstrap.servers") && ck.errors == 0 && f->s.emit_heartbeats_enabled)
        km_clientconf_translate(&f->producer, KM_CLIENT_PRODUCER, name, &f->rk_producer, &scratch);
    f->heartbeats_here = f->s.emit_heartbeats_enabled && ck.errors == 0 && scratch.nerrors == 0 && f->rk_producer.n > 0;
    if (f->heartbeats_here) {
        free(f->s.heartbeats_topic);
        f->s.heartbeats_topic = km_xstrdup("heartbeats");
    }
    km_diag_free(&scratch);
}

static void check_something_runs(const km_config_t *cfg, const char *name, km_diag_t *d) {
    size_t enabled = 0, here = 0;
    for (size_t i = 0; i < cfg->nflows; i++) {
        enabled += cfg->flows[i].enabled;
        here += cfg->flows[i].runs_here;
    }
    if (enabled == 0)
        km_diag_error(d, "%s: no replication flow is enabled: add '{source}->{target}.enabled = true', e.g. '%s->%s.enabled = true'",
                      name, cfg->nclusters > 1 ? cfg->clusters[0].alias : "a", cfg->nclusters > 1 ? cfg->clusters[1].alias : "b");
    else if (here == 0)
        km_diag_error(d, "%s: no enabled flow has its target in --clusters, so this process has nothing to replicate", name);
}

/* A top-level byte count of at least min; def when the key is absent, -1 (an error in d) when
 * it is not such a number. */
static int64_t bytes_key(const km_config_t *cfg, const char *key, int64_t min, int64_t def, const char *name, km_diag_t *d) {
    const km_prop_t *p = km_props_find(&cfg->raw, key);
    if (!p) return def;
    char *v = km_strtrim(p->value), *end;
    errno = 0;
    long long r = strtoll(v, &end, 10);
    bool ok = !errno && end != v && !*end && r >= min;
    if (!ok) km_diag_error(d, "%s:%d: %s must be an integer >= %lld, got '%s'", name, p->line, key, (long long)min, v);
    free(v);
    return ok ? r : -1;
}

/* memory.max.bytes is the process's one memory budget: inflight.max.bytes of it (an eighth unless
 * set, config.h) for the records handed to the producers and not yet acknowledged, the rest for the
 * consumers' prefetch, shared out evenly over the tasks the process can run (the tasks.max of
 * every flow that runs here, --clusters) and turned into librdkafka's prefetch limits (clientconf.c): the
 * most a task may prefetch, which a flow lowers for a source close by when it starts (flow.c). A file that
 * sets only inflight.max.bytes (it came first) gets twice that as the budget. */
static void memory_budget(km_config_t *cfg, const char *name, km_diag_t *d) {
    int64_t inflight = bytes_key(cfg, "inflight.max.bytes", 1048576, 0, name, d);
    int64_t def = inflight > 0 ? 2 * inflight : KM_MEMORY_MAX_BYTES_DEFAULT;
    int64_t mem = bytes_key(cfg, "memory.max.bytes", KM_MEMORY_MIN_BYTES, def > KM_MEMORY_MIN_BYTES ? def : KM_MEMORY_MIN_BYTES, name, d);
    if (inflight == 0 && mem > 0) inflight = mem / KM_INFLIGHT_SHARE_DIVISOR;
    if (mem < 0 || inflight < 0) return;
    if (inflight > mem - KM_MEMORY_MIN_BYTES / 2) {
        km_diag_error(d, "%s: inflight.max.bytes (%lld) leaves too little of memory.max.bytes (%lld) for the consumers' prefetch: "
                         "keep it at most memory.max.bytes - %lld, or raise memory.max.bytes",
                      name, (long long)inflight, (long long)mem, (long long)(KM_MEMORY_MIN_BYTES / 2));
        return;
    }
    int64_t tasks = 0;
    for (size_t i = 0; i < cfg->nflows; i++)
        if (cfg->flows[i].runs_here) tasks += cfg->flows[i].s.tasks_max > 0 ? cfg->flows[i].s.tasks_max : 1;
    cfg->memory_max_bytes = mem;
    cfg->inflight_max_bytes = inflight;
    for (size_t i = 0; i < cfg->nflows; i++) {
        km_flow_t *f = &cfg->flows[i];
        f->s.memory_max_bytes = mem;
        f->s.inflight_max_bytes = inflight;
        f->s.inflight_max_set = km_props_find(&cfg->raw, "inflight.max.bytes") != NULL;
        f->s.prefetch_max_bytes = (mem - inflight) / (tasks ? tasks : 1);
        if (f->enabled)
            km_clientconf_replication_consumer_defaults(&f->consumer, &f->rk_consumer, inflight, f->s.prefetch_max_bytes);
    }
}

static int load_buf(km_config_t *cfg, const char *buf, size_t len, const char *name,
                    char **only, size_t nonly, km_diag_t *d) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->path = km_xstrdup(name);
    size_t errors_before = d->nerrors;
    if (km_props_parse_buf(buf, len, name, &cfg->raw, d) != 0) return -1;
    if (km_providers_resolve(&cfg->raw, name, &cfg->secrets, d) != 0) return -1;
    if (define_clusters(cfg, name, d) != 0) return -1;
    load_t ld = {.name = name, .d = d};
    flow_key_t *fkeys = NULL;
    size_t nfkeys = 0, next = 0;
    classify_keys(cfg, &ld, &fkeys, &nfkeys);
    qsort(fkeys, nfkeys, sizeof(*fkeys), cmp_flow_key);
    cfg->flows = km_xcalloc(cfg->nclusters * cfg->nclusters, sizeof(*cfg->flows));
    for (size_t i = 0; i < cfg->nclusters; i++)
        for (size_t j = 0; j < cfg->nclusters; j++) {
            if (i == j) continue;
            km_flow_t *f = &cfg->flows[cfg->nflows++];
            f->cfg = cfg;
            f->source = cfg->clusters[i].alias;
            f->target = cfg->clusters[j].alias;
            f->name = km_xasprintf("%s->%s", f->source, f->target);
            size_t first = next;
            while (next < nfkeys && fkeys[next].source == &cfg->clusters[i] && fkeys[next].target == &cfg->clusters[j]) next++;
            resolve_flow(cfg, f, fkeys + first, next - first, &ld);
        }
    free(fkeys);
    if (ld.ignored > IGNORED_LISTED)
        km_diag_warn(d, "%s: %zu keys are ignored in all (unknown keys, or cluster aliases that are not defined); the first %d are listed",
                     name, ld.ignored, IGNORED_LISTED);
    apply_here(cfg, only, nonly, name, d);
    ld.by_line = km_xcalloc(cfg->raw.n ? cfg->raw.n : 1, sizeof(*ld.by_line));
    for (size_t i = 0; i < cfg->raw.n; i++) ld.by_line[i] = &cfg->raw.items[i];
    qsort(ld.by_line, cfg->raw.n, sizeof(*ld.by_line), cmp_line);
    ld.servers_reported = km_xcalloc(cfg->nclusters, sizeof(bool));
    for (size_t i = 0; i < cfg->nflows; i++)
        if (cfg->flows[i].enabled) validate_flow(cfg, &cfg->flows[i], &ld);
    free(ld.by_line);
    free(ld.servers_reported);
    km_props_free(&ld.conn);
    km_props_free(&ld.connector);
    for (size_t i = 0; i < cfg->nflows; i++) {
        km_flow_t *f = &cfg->flows[i];
        if (f->enabled) {
            f->heartbeats_here = f->runs_here && f->s.emit_heartbeats_enabled;
            continue;
        }
        for (size_t j = 0; j < cfg->nhere; j++)
            if (strcmp(cfg->here[j], f->target) == 0) prepare_heartbeats_only(f, name);
    }
    check_something_runs(cfg, name, d);
    const km_prop_t *ml = km_props_find(&cfg->raw, "metrics.listen");
    if (ml && *ml->value) {
        cfg->metrics_listen = km_strtrim(ml->value);
        char *host, *port, err[256];
        if (km_http_parse_listen(cfg->metrics_listen, &host, &port, err, sizeof(err)) != 0) {
            km_diag_error(d, "%s:%d: metrics.listen: %s", name, ml->line, err);
        } else {
            free(host);
            free(port);
        }
    }
    const km_prop_t *wc = km_props_find(&cfg->raw, "metrics.web.config.file");
    if (wc) {
        char *file = km_strtrim(wc->value), *where = km_xasprintf("%s:%d", name, wc->line);
        if (!*file) km_diag_error(d, "%s: metrics.web.config.file is empty (leave it out for an unprotected endpoint)", where);
        else cfg->metrics_web = km_webconfig_load(file, where, d);
        free(file);
        free(where);
    }
    memory_budget(cfg, name, d);
    cfg->provenance = true;
    const km_prop_t *pv = km_props_find(&cfg->raw, KM_PROVENANCE_KEY);
    if (pv) {
        char *v = km_strtrim(pv->value);
        if (strcasecmp(v, "false") == 0) cfg->provenance = false;
        else if (strcasecmp(v, "true") != 0) km_diag_error(d, "%s:%d: %s must be true or false, got '%s'", name, pv->line, KM_PROVENANCE_KEY, v);
        free(v);
    }
    for (size_t i = 0; i < cfg->nflows; i++) cfg->flows[i].s.provenance = cfg->provenance;
    if (d->nerrors == errors_before) km_prov_check(cfg, name, d);
    const char *ll = km_props_get(&cfg->raw, "log.level");
    if (ll) {
        cfg->log_level = km_strtrim(ll);
        if (km_log_parse_level(cfg->log_level) < 0)
            km_diag_error(d, "%s: log.level must be error, warn, info or debug, got '%s'", name, cfg->log_level);
    }
    const km_prop_t *lc = km_props_find(&cfg->raw, "metrics.lifecycle.enabled");
    if (lc) {
        char *v = km_strtrim(lc->value);
        cfg->metrics_lifecycle = strcasecmp(v, "true") == 0;
        if (!cfg->metrics_lifecycle && strcasecmp(v, "false") != 0)
            km_diag_error(d, "%s:%d: metrics.lifecycle.enabled must be true or false, got '%s'", name, lc->line, v);
        free(v);
    }
    const char *lf = km_props_get(&cfg->raw, "log.format");
    if (lf) {
        char *v = km_strtrim(lf);
        int f = km_log_parse_format(v);
        if (f < 0) km_diag_error(d, "%s: log.format must be text or json, got '%s'", name, v);
        cfg->log_json = f == KM_LOG_JSON;
        free(v);
    }
    return d->nerrors > errors_before ? -1 : 0;
}

int km_config_load_buf(km_config_t *cfg, const char *buf, size_t len, const char *name,
                       char **only, size_t nonly, km_diag_t *d) {
    int rc = load_buf(cfg, buf, len, name, only, nonly, d);
    km_providers_redact_diag(&cfg->secrets, d); /* messages quote values, which may be secrets */
    return rc;
}

int km_config_load(km_config_t *cfg, const char *path, char **only, size_t nonly, km_diag_t *d) {
    memset(cfg, 0, sizeof(*cfg));
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        km_diag_error(d, "%s: cannot open the configuration file: %s", path, strerror(errno));
        cfg->path = km_xstrdup(path);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 65536 > cap) buf = km_xrealloc(buf, cap = (cap + 65536) * 2);
        got = fread(buf + len, 1, cap - len, fp);
        len += got;
    } while (got > 0);
    bool failed = ferror(fp);
    fclose(fp);
    if (failed) {
        free(buf);
        km_diag_error(d, "%s: cannot read the configuration file: %s", path, strerror(errno));
        cfg->path = km_xstrdup(path);
        return -1;
    }
    int rc = km_config_load_buf(cfg, buf, len, path, only, nonly, d);
    free(buf);
    return rc;
}

km_flow_t *km_config_flow(const km_config_t *cfg, const char *source, const char *target) {
    for (size_t i = 0; i < cfg->nflows; i++)
        if (strcmp(cfg->flows[i].source, source) == 0 && strcmp(cfg->flows[i].target, target) == 0) return &cfg->flows[i];
    return NULL;
}

static void flow_free(km_flow_t *f) {
    free(f->name);
    km_props_free(&f->config);
    km_props_t *all[] = {&f->consumer, &f->producer, &f->source_admin, &f->target_admin,
                         &f->rk_consumer, &f->rk_producer, &f->rk_source_admin, &f->rk_target_admin,
                         &f->source_producer, &f->target_consumer, &f->rk_source_producer, &f->rk_target_consumer};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) km_props_free(all[i]);
    km_name_filter_free(&f->s.topics);
    km_name_filter_free(&f->s.groups);
    km_pattern_free(f->s.config_exclude);
    km_policy_free(&f->s.policy);
    free(f->s.offsets_topic);
    free(f->s.group_id);
    free(f->s.tasks_topic);
    free(f->s.legacy_tasks_topic);
    free(f->s.connect_configs_topic);
    free(f->s.offset_syncs_topic);
    free(f->s.checkpoints_topic);
    free(f->s.heartbeats_topic);
}

static const char *const filter_keys[] = {"topics", "topics.exclude", "topics.blacklist", "groups", "groups.exclude", "groups.blacklist"};

bool km_config_is_filter_key(const char *key) {
    for (size_t i = 0; i < sizeof(filter_keys) / sizeof(filter_keys[0]); i++)
        if (strcmp(key, filter_keys[i]) == 0) return true;
    return false;
}

void km_config_flow_refilter(km_flow_t *f, const km_flow_t *from) {
    for (size_t i = 0; i < sizeof(filter_keys) / sizeof(filter_keys[0]); i++) {
        const km_prop_t *p = km_props_find(&from->config, filter_keys[i]);
        if (p) km_props_set(&f->config, p->key, p->value, p->line);
        else km_props_unset(&f->config, filter_keys[i]);
    }
    km_name_filter_free(&f->s.topics);
    km_name_filter_free(&f->s.groups);
    km_diag_t d = {0}; /* `from` compiled them already: they compile */
    km_name_filter_init(&f->s.topics, km_props_get(&f->config, "topics"), "topics", km_props_get(&f->config, "topics.exclude"),
                        "topics.exclude", &d);
    km_name_filter_init(&f->s.groups, km_props_get(&f->config, "groups"), "groups", km_props_get(&f->config, "groups.exclude"),
                        "groups.exclude", &d);
    km_diag_free(&d);
}

void km_config_free(km_config_t *cfg) {
    for (size_t i = 0; i < cfg->nflows; i++) flow_free(&cfg->flows[i]);
    free(cfg->flows);
    for (size_t i = 0; i < cfg->nclusters; i++) {
        free(cfg->clusters[i].alias);
        km_props_free(&cfg->clusters[i].props);
    }
    free(cfg->clusters);
    km_strv_free(cfg->here, cfg->nhere);
    km_props_free(&cfg->raw);
    km_providers_forget(&cfg->secrets);
    free(cfg->path);
    free(cfg->metrics_listen);
    km_webconfig_free(cfg->metrics_web);
    free(cfg->log_level);
    memset(cfg, 0, sizeof(*cfg));
}
