/* policy.c — MM2's DefaultReplicationPolicy and IdentityReplicationPolicy, line for line.
 *
 * Topic names are how MM2 deployments remember where data came from (remote topic prefixes,
 * heartbeat chains, cycle detection), so these functions reproduce Java's results exactly,
 * including String.split's dropping of trailing empty parts in topicSource(). */
#include "policy.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char *class_names[][2] = {
    {"DefaultReplicationPolicy", "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"},
    {"IdentityReplicationPolicy", "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"},
};

int km_policy_init(km_policy_t *p, const char *class_name, const char *separator, bool internal_separator_enabled,
                   const char *source_alias, km_diag_t *d) {
    *p = (km_policy_t){0};
    char *cls = km_strtrim(class_name ? class_name : class_names[0][1]);
    int kind = -1;
    for (int i = 0; i < 2; i++)
        if (strcmp(cls, class_names[i][0]) == 0 || strcmp(cls, class_names[i][1]) == 0) kind = i;
    if (kind < 0) {
        km_diag_error(d, "replication.policy.class: '%s' is not supported; use %s or %s (a custom Java class cannot run in kmirror)",
                      cls, class_names[0][1], class_names[1][1]);
        free(cls);
        return -1;
    }
    free(cls);
    const char *sep = separator && *separator ? separator : ".";
    p->kind = kind == 0 ? KM_POLICY_DEFAULT : KM_POLICY_IDENTITY;
    p->separator = km_xstrdup(sep);
    p->internal_separator = km_xstrdup(internal_separator_enabled ? sep : ".");
    p->source_alias = source_alias ? km_xstrdup(source_alias) : NULL;
    return 0;
}

void km_policy_free(km_policy_t *p) {
    free(p->separator);
    free(p->internal_separator);
    free(p->source_alias);
    *p = (km_policy_t){0};
}

/* DefaultReplicationPolicy.topicSource: topic.split(quote(sep)) keeps the text before the first
 * separator, unless no non-empty part follows it (Java drops trailing empty strings). */
static char *default_topic_source(const km_policy_t *p, const char *topic) {
    const char *sep = p->separator;
    size_t slen = strlen(sep);
    const char *first = strstr(topic, sep);
    if (!first) return NULL;
    for (const char *q = first; *q;) {
        if (strncmp(q, sep, slen) == 0) q += slen;
        else return km_xstrndup(topic, (size_t)(first - topic));
    }
    return NULL;
}

static char *default_upstream_topic(const km_policy_t *p, const char *topic) {
    char *source = default_topic_source(p, topic);
    if (!source) return NULL;
    char *up = km_xstrdup(topic + strlen(source) + strlen(p->separator));
    free(source);
    return up;
}

static char *default_original_topic(const km_policy_t *p, const char *topic) {
    char *cur = km_xstrdup(topic);
    for (;;) {
        char *up = default_upstream_topic(p, cur);
        if (!up || strcmp(up, cur) == 0) {
            free(up);
            return cur;
        }
        free(cur);
        cur = up;
    }
}

/* IdentityReplicationPolicy.looksLikeHeartbeat: only heartbeats keep remote naming. */
static bool looks_like_heartbeat(const char *topic) { return km_str_ends_with(topic, "heartbeats"); }

static bool identity_plain(const km_policy_t *p, const char *topic) {
    return p->kind == KM_POLICY_IDENTITY && !looks_like_heartbeat(topic);
}

char *km_policy_format_remote_topic(const km_policy_t *p, const char *source, const char *topic) {
    if (identity_plain(p, topic)) return km_xstrdup(topic);
    return km_xasprintf("%s%s%s", source, p->separator, topic);
}

char *km_policy_topic_source(const km_policy_t *p, const char *topic) {
    if (identity_plain(p, topic)) return p->source_alias ? km_xstrdup(p->source_alias) : NULL;
    return default_topic_source(p, topic);
}

char *km_policy_upstream_topic(const km_policy_t *p, const char *topic) {
    if (identity_plain(p, topic)) return km_xstrdup(topic);
    return default_upstream_topic(p, topic);
}

char *km_policy_original_topic(const km_policy_t *p, const char *topic) {
    if (identity_plain(p, topic)) return km_xstrdup(topic);
    return default_original_topic(p, topic);
}

char *km_policy_heartbeats_topic(const km_policy_t *p) {
    (void)p;
    return km_xstrdup("heartbeats");
}

char *km_policy_offset_syncs_topic(const km_policy_t *p, const char *cluster_alias) {
    return km_xasprintf("mm2-offset-syncs%s%s%sinternal", p->internal_separator, cluster_alias, p->internal_separator);
}

char *km_policy_checkpoints_topic(const km_policy_t *p, const char *cluster_alias) {
    return km_xasprintf("%s%scheckpoints%sinternal", cluster_alias, p->internal_separator, p->internal_separator);
}

bool km_policy_is_heartbeats_topic(const km_policy_t *p, const char *topic) {
    char *orig = km_policy_original_topic(p, topic);
    bool r = strcmp(orig, "heartbeats") == 0;
    free(orig);
    return r;
}

bool km_policy_is_checkpoints_topic(const km_policy_t *p, const char *topic) {
    char *suffix = km_xasprintf("%scheckpoints%sinternal", p->internal_separator, p->internal_separator);
    bool r = km_str_ends_with(topic, suffix);
    free(suffix);
    return r;
}

bool km_policy_is_mm2_internal_topic(const km_policy_t *p, const char *topic) {
    char *suffix = km_xasprintf("%sinternal", p->internal_separator);
    bool r = km_str_ends_with(topic, suffix);
    free(suffix);
    return r;
}

bool km_policy_is_internal_topic(const km_policy_t *p, const char *topic) {
    bool kafka_internal = km_str_starts_with(topic, "__") || km_str_starts_with(topic, ".");
    bool connect_default = km_str_ends_with(topic, "-internal") || km_str_ends_with(topic, ".internal");
    return km_policy_is_mm2_internal_topic(p, topic) || kafka_internal || connect_default;
}

bool km_policy_is_cycle(const km_policy_t *p, const char *target_alias, const char *topic) {
    char *cur = km_xstrdup(topic);
    bool cycle = false;
    for (;;) {
        char *source = km_policy_topic_source(p, cur);
        if (!source) break;
        cycle = strcmp(source, target_alias) == 0;
        free(source);
        if (cycle) break;
        char *up = km_policy_upstream_topic(p, cur);
        if (!up || strcmp(up, cur) == 0) { /* IdentityReplicationPolicy cannot see cycles */
            free(up);
            break;
        }
        free(cur);
        cur = up;
    }
    free(cur);
    return cycle;
}

/* MirrorClient.countHopsForTopic. */
int km_policy_count_hops(const km_policy_t *p, const char *topic, const char *upstream_alias) {
    char *cur = km_xstrdup(topic);
    char **visited = NULL;
    size_t nv = 0;
    int hops = -1;
    for (int h = 1;; h++) {
        char *src = km_policy_topic_source(p, cur);
        bool seen = false;
        for (size_t i = 0; src && i < nv; i++) seen |= strcmp(visited[i], src) == 0;
        if (!src || seen) {
            free(src);
            break;
        }
        if (strcmp(src, upstream_alias) == 0) {
            free(src);
            hops = h;
            break;
        }
        visited = km_xrealloc(visited, (nv + 1) * sizeof(*visited));
        visited[nv++] = src;
        char *up = km_policy_upstream_topic(p, cur);
        free(cur);
        cur = up ? up : km_xstrdup("");
    }
    km_strv_free(visited, nv);
    free(cur);
    return hops;
}

/* MirrorClient.allSources. */
size_t km_policy_all_sources(const km_policy_t *p, const char *topic, char ***out) {
    *out = NULL;
    size_t n = 0;
    char *cur = km_xstrdup(topic);
    char *src = km_policy_topic_source(p, cur);
    while (src) {
        bool seen = false;
        for (size_t i = 0; i < n; i++) seen |= strcmp((*out)[i], src) == 0;
        if (seen) break;
        *out = km_xrealloc(*out, (n + 1) * sizeof(**out));
        (*out)[n++] = src;
        char *up = km_policy_upstream_topic(p, cur);
        free(cur);
        cur = up ? up : km_xstrdup("");
        src = km_policy_topic_source(p, cur);
    }
    free(src);
    free(cur);
    return n;
}
