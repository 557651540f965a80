/* operator.c — see operator.h. The checkpoints are read the way RemoteClusterUtils does:
 * partition 0 of {source}.checkpoints.internal from the beginning to the end, the last
 * checkpoint per (topic, partition) of the group wins. */
#include "operator.h"

#include "admin.h"
#include "clientconf.h"
#include "config.h"
#include "log.h"
#include "records.h"
#include "reject.h"
#include "rk.h"
#include "providers.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct op_args {
    const char *config, *group, *source, *target, *cluster;
    bool json;
} op_args_t;

static int parse(int argc, char **argv, op_args_t *a, const char *usage) {
    for (int i = 0; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--group") == 0) slot = &a->group;
        else if (strcmp(argv[i], "--source") == 0) slot = &a->source;
        else if (strcmp(argv[i], "--target") == 0) slot = &a->target;
        else if (strcmp(argv[i], "--cluster") == 0) slot = &a->cluster;
        if (slot && i + 1 < argc) *slot = argv[++i];
        else if (strcmp(argv[i], "--json") == 0) a->json = true;
        else if (argv[i][0] != '-' && !a->config) a->config = argv[i];
        else {
            fprintf(stderr, "kmirror: unexpected '%s'\nusage: %s\n", argv[i], usage);
            return -1;
        }
    }
    return 0;
}

static int load(const char *path, km_config_t *cfg) {
    km_diag_t d = {0};
    int rc = km_config_load(cfg, path, NULL, 0, &d);
    km_providers_redact_logs(&cfg->secrets);
    if (rc != 0) km_diag_log(&d);
    km_diag_free(&d);
    return rc;
}

/* librdkafka properties for a plain client of cluster `alias`: its connection keys. */
static int cluster_client_props(const km_config_t *cfg, const char *alias, km_client_role_t role, km_props_t *out) {
    const km_cluster_t *c = km_config_cluster(cfg, alias);
    km_props_t java = {0};
    km_props_copy(&java, &c->props);
    for (size_t i = 0; i < cfg->raw.n; i++) /* top-level connection keys where the cluster has none */
        if ((km_str_starts_with(cfg->raw.items[i].key, "security.") || km_str_starts_with(cfg->raw.items[i].key, "ssl.") ||
             km_str_starts_with(cfg->raw.items[i].key, "sasl.")) && !km_props_find(&java, cfg->raw.items[i].key))
            km_props_set(&java, cfg->raw.items[i].key, cfg->raw.items[i].value, cfg->raw.items[i].line);
    km_props_t clean = {0};
    for (size_t i = 0; i < java.n; i++) /* only client keys, not {alias}.producer.x and friends */
        if (!strchr(java.items[i].key, '.') || km_str_starts_with(java.items[i].key, "bootstrap.") ||
            km_str_starts_with(java.items[i].key, "security.") || km_str_starts_with(java.items[i].key, "ssl.") ||
            km_str_starts_with(java.items[i].key, "sasl.") || km_str_starts_with(java.items[i].key, "client."))
            km_props_set(&clean, java.items[i].key, java.items[i].value, java.items[i].line);
    km_props_free(&java);
    if (!km_props_find(&clean, "bootstrap.servers")) {
        km_error("cluster %s has no bootstrap.servers in %s", alias, cfg->path);
        km_props_free(&clean);
        return -1;
    }
    km_diag_t d = {0};
    int rc = km_clientconf_translate(&clean, role, cfg->path, out, &d);
    km_diag_log(&d);
    km_diag_free(&d);
    km_props_free(&clean);
    return rc == 0 && d.nerrors == 0 ? 0 : -1;
}

static bool known_alias(const km_config_t *cfg, const char *alias, const char *what) {
    if (km_config_cluster(cfg, alias)) return true;
    km_error("%s '%s' is not a cluster alias of %s", what, alias, cfg->path);
    return false;
}

/* ---- translate-offsets ----------------------------------------------------------------------- */

typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
} xlated_t;

static void keep_last(xlated_t **v, size_t *n, const km_checkpoint_t *c) {
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].partition == c->partition && strcmp((*v)[i].topic, c->topic) == 0) {
            (*v)[i].offset = c->downstream_offset;
            return;
        }
    *v = km_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = (xlated_t){km_xstrdup(c->topic), c->partition, c->downstream_offset};
}

static int cmp_xlated(const void *a, const void *b) {
    const xlated_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Reads partition 0 of `topic` to its current end. -1 when the cluster does not answer or the
 * topic does not exist. */
static int read_checkpoints(rd_kafka_t *rk, const char *topic, const char *group, xlated_t **out, size_t *n) {
    int64_t lo, hi;
    rd_kafka_resp_err_t err = km_admin_watermarks(rk, topic, 0, &lo, &hi, 15000);
    if (err) {
        km_error("cannot read %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, 0)->offset = lo;
    rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    int64_t next = lo, deadline = km_now_mono_ms() + 30000;
    while (next < hi && km_now_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) continue;
        km_checkpoint_t c;
        if (!m->err) {
            next = m->offset + 1;
            int rc = km_checkpoint_decode(m->key, m->key_len, m->payload, m->len, &c);
            if (rc == 0) {
                if (strcmp(c.group, group) == 0) keep_last(out, n, &c);
                km_checkpoint_free(&c);
            } else { /* as MM2: skip bad ones, never print them as resume points; but say so */
                km_reject(topic, m->partition, m->offset, "%s; skipped",
                          rc == -2 ? "a checkpoint with an out-of-range partition or offset" : "not a checkpoint (truncated, trailing bytes or unknown version)");
            }
        }
        rd_kafka_message_destroy(m);
    }
    if (next < hi) {
        km_error("%s was not read to its end (offset %lld) within 30 s", topic, (long long)hi);
        return -1;
    }
    return 0;
}

static void print_offsets(const xlated_t *v, size_t n, bool json) {
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s,s:i,s:I}", "topic", v[i].topic, "partition", (int)v[i].partition,
                                                 "offset", (json_int_t)v[i].offset));
        char *s = json_dumps(arr, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(arr);
        return;
    }
    printf("%-40s %9s %14s\n", "TOPIC", "PARTITION", "OFFSET");
    for (size_t i = 0; i < n; i++) printf("%-40s %9d %14lld\n", v[i].topic, v[i].partition, (long long)v[i].offset);
}

int km_translate_offsets_main(int argc, char **argv) {
    static const char *usage = "kmirror translate-offsets CONFIG --group G --source A --target B [--json]";
    op_args_t a = {0};
    if (parse(argc, argv, &a, usage) != 0) return 2;
    if (!a.config || !a.group || !a.source || !a.target) {
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    km_config_t cfg;
    if (load(a.config, &cfg) != 0) {
        km_config_free(&cfg);
        return 1;
    }
    int rc = 1;
    km_props_t props = {0};
    rd_kafka_t *rk = NULL;
    const km_flow_t *f = NULL;
    if (!known_alias(&cfg, a.source, "--source") || !known_alias(&cfg, a.target, "--target")) goto out;
    f = km_config_flow(&cfg, a.source, a.target);
    if (!f || !f->enabled) {
        km_error("flow %s->%s is not enabled in %s, so it has no checkpoints", a.source, a.target, a.config);
        goto out;
    }
    if (cluster_client_props(&cfg, a.target, KM_CLIENT_CONSUMER, &props) != 0) goto out;
    char err[512];
    rd_kafka_conf_t *c = km_rk_conf(&props, err, sizeof(err));
    if (c) rd_kafka_conf_set(c, "group.id", "kmirror-translate-offsets", NULL, 0);
    if (c) rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
    rk = c ? km_rk_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)) : NULL;
    if (!rk) {
        km_error("cannot create a client for %s: %s", a.target, err);
        goto out;
    }
    xlated_t *v = NULL;
    size_t n = 0;
    if (read_checkpoints(rk, f->s.checkpoints_topic, a.group, &v, &n) == 0) {
        if (n == 0) {
            km_error("no checkpoints for group '%s' in %s on %s: the group is unknown there, filtered out by 'groups', or has committed no offsets on replicated topics yet",
                     a.group, f->s.checkpoints_topic, a.target);
        } else {
            qsort(v, n, sizeof(*v), cmp_xlated);
            print_offsets(v, n, a.json);
            rc = 0;
        }
    } else {
        km_error("is cluster %s (bootstrap.servers=%s) reachable?", a.target, km_props_get(&props, "bootstrap.servers"));
    }
    for (size_t i = 0; i < n; i++) free(v[i].topic);
    free(v);
out:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    km_props_free(&props);
    km_config_free(&cfg);
    return rc;
}

/* ---- topology -------------------------------------------------------------------------------- */

/* The policy to read cluster `alias`'s topic names with: that of a flow into it, else MM2's
 * default. */
static const km_policy_t *policy_for(const km_config_t *cfg, const char *alias, km_policy_t *fallback) {
    for (size_t i = 0; i < cfg->nflows; i++)
        if (cfg->flows[i].enabled && strcmp(cfg->flows[i].target, alias) == 0) return &cfg->flows[i].s.policy;
    km_diag_t d = {0};
    km_policy_init(fallback, NULL, ".", false, NULL, &d);
    km_diag_free(&d);
    return fallback;
}

/* Timestamp of the newest heartbeat in `topic` (any partition 0 record), or -1. */
static int64_t last_heartbeat(rd_kafka_t *rk, const char *topic) {
    int64_t lo, hi;
    if (km_admin_watermarks(rk, topic, 0, &lo, &hi, 10000) || hi <= lo) return -1;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, 0)->offset = hi - 1;
    rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    int64_t ts = -1, deadline = km_now_mono_ms() + 10000;
    while (ts < 0 && km_now_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) continue;
        km_heartbeat_t h;
        int rc = m->err ? 0 : km_heartbeat_decode(m->key, m->key_len, m->payload, m->len, &h);
        if (!m->err && rc == 0) {
            ts = h.timestamp;
            km_heartbeat_free(&h);
        } else if (rc != 0) {
            km_reject(topic, m->partition, m->offset, "%s; skipped",
                      rc == -2 ? "a heartbeat with a negative timestamp" : "not a heartbeat (truncated, trailing bytes or unknown version)");
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    return ts;
}

typedef struct {
    char *alias;
    int hops;
} upstream_t;

static void add_upstream(upstream_t **u, size_t *n, const char *alias, int hops) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*u)[i].alias, alias) == 0) {
            if (hops > 0 && (hops < (*u)[i].hops || (*u)[i].hops < 0)) (*u)[i].hops = hops;
            return;
        }
    *u = km_xrealloc(*u, (*n + 1) * sizeof(**u));
    (*u)[(*n)++] = (upstream_t){km_xstrdup(alias), hops};
}

static void print_topology(const char *cluster, char **hb, const int64_t *ts, size_t nhb, const upstream_t *up, size_t nup, bool json) {
    int64_t now = km_now_wall_ms();
    if (json) {
        json_t *o = json_pack("{s:s}", "cluster", cluster), *h = json_array(), *u = json_array();
        for (size_t i = 0; i < nhb; i++)
            json_array_append_new(h, json_pack("{s:s,s:I}", "topic", hb[i], "last_heartbeat_ms", (json_int_t)ts[i]));
        for (size_t i = 0; i < nup; i++) json_array_append_new(u, json_pack("{s:s,s:i}", "cluster", up[i].alias, "hops", up[i].hops));
        json_object_set_new(o, "heartbeat_topics", h);
        json_object_set_new(o, "upstream", u);
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return;
    }
    printf("cluster %s\n\nupstream clusters (replication hops):\n", cluster);
    if (nup == 0) printf("  none: no remote heartbeat topics here\n");
    for (size_t i = 0; i < nup; i++) printf("  %-20s %d hop%s\n", up[i].alias, up[i].hops, up[i].hops == 1 ? "" : "s");
    printf("\nheartbeat topics (age of the newest heartbeat):\n");
    for (size_t i = 0; i < nhb; i++) {
        if (ts[i] < 0) printf("  %-40s empty\n", hb[i]);
        else printf("  %-40s %.1f s\n", hb[i], (double)(now - ts[i]) / 1000.0);
    }
}

int km_topology_main(int argc, char **argv) {
    static const char *usage = "kmirror topology CONFIG --cluster B [--json]";
    op_args_t a = {0};
    if (parse(argc, argv, &a, usage) != 0) return 2;
    if (!a.config || !a.cluster) {
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    km_config_t cfg;
    if (load(a.config, &cfg) != 0) {
        km_config_free(&cfg);
        return 1;
    }
    int rc = 1;
    km_props_t props = {0};
    km_policy_t fallback = {0};
    rd_kafka_t *rk = NULL;
    if (!known_alias(&cfg, a.cluster, "--cluster") || cluster_client_props(&cfg, a.cluster, KM_CLIENT_CONSUMER, &props) != 0) goto out;
    char err[512];
    rd_kafka_conf_t *c = km_rk_conf(&props, err, sizeof(err));
    if (c) rd_kafka_conf_set(c, "group.id", "kmirror-topology", NULL, 0);
    rk = c ? km_rk_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)) : NULL;
    km_topic_meta_t *topics = NULL;
    size_t nt = 0;
    if (!rk || km_admin_list_topics(rk, 15000, &topics, &nt, NULL, err, sizeof(err)) != 0) {
        km_error("cannot reach cluster %s (bootstrap.servers=%s): %s", a.cluster, km_props_get(&props, "bootstrap.servers"), err);
        goto out;
    }
    const km_policy_t *pol = policy_for(&cfg, a.cluster, &fallback);
    char **hb = km_xcalloc(nt ? nt : 1, sizeof(char *));
    int64_t *ts = km_xcalloc(nt ? nt : 1, sizeof(int64_t));
    size_t nhb = 0, nup = 0;
    upstream_t *up = NULL;
    for (size_t i = 0; i < nt; i++) {
        if (!km_policy_is_heartbeats_topic(pol, topics[i].name)) continue;
        hb[nhb] = km_xstrdup(topics[i].name);
        ts[nhb++] = last_heartbeat(rk, topics[i].name);
        char **src;
        size_t ns = km_policy_all_sources(pol, topics[i].name, &src);
        for (size_t k = 0; k < ns; k++) add_upstream(&up, &nup, src[k], km_policy_count_hops(pol, topics[i].name, src[k]));
        km_strv_free(src, ns);
    }
    print_topology(a.cluster, hb, ts, nhb, up, nup, a.json);
    rc = 0;
    for (size_t i = 0; i < nup; i++) free(up[i].alias);
    free(up);
    km_strv_free(hb, nhb);
    free(ts);
    km_topic_meta_free(topics, nt);
out:
    if (rk) rd_kafka_destroy(rk);
    km_policy_free(&fallback);
    km_props_free(&props);
    km_config_free(&cfg);
    return rc;
}
