/* topics.c — see topics.h. */
#include "topics.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

bool km_topic_selected(const km_flow_settings_t *s, const char *target_alias, const char *topic) {
    const km_policy_t *p = &s->policy;
    bool wanted = km_name_filter_accepts(&s->topics, topic) ||
                  (s->heartbeats_replication_enabled && km_policy_is_heartbeats_topic(p, topic));
    return wanted && !km_policy_is_internal_topic(p, topic) && !km_policy_is_cycle(p, target_alias, topic);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const km_topic_plan_t *)a)->source_topic, ((const km_topic_plan_t *)b)->source_topic);
}

static const km_topic_meta_t *lookup(const km_topic_meta_t *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

size_t km_topic_plan(const km_flow_settings_t *s, const char *source_alias, const char *target_alias,
                     const km_topic_meta_t *src, size_t nsrc, const km_topic_meta_t *dst, size_t ndst,
                     km_topic_plan_t **out) {
    size_t n = 0;
    *out = NULL;
    for (size_t i = 0; i < nsrc; i++) {
        if (src[i].partitions <= 0 || !km_topic_selected(s, target_alias, src[i].name)) continue;
        km_topic_plan_t t = {0};
        t.source_topic = km_xstrdup(src[i].name);
        t.remote_topic = km_policy_format_remote_topic(&s->policy, source_alias, src[i].name);
        t.source_partitions = src[i].partitions;
        const km_topic_meta_t *r = lookup(dst, ndst, t.remote_topic);
        t.remote_partitions = r ? r->partitions : -1;
        if (!r) t.action = KM_TOPIC_CREATE;
        else if (r->partitions < t.source_partitions) t.action = KM_TOPIC_GROW;
        else if (r->partitions > t.source_partitions) t.action = KM_TOPIC_REMOTE_LARGER;
        else t.action = KM_TOPIC_READY;
        *out = km_xrealloc(*out, (n + 1) * sizeof(**out));
        (*out)[n++] = t;
    }
    if (n > 1) qsort(*out, n, sizeof(**out), by_name);
    return n;
}

void km_topic_plan_free(km_topic_plan_t *plan, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(plan[i].source_topic);
        free(plan[i].remote_topic);
    }
    free(plan);
}

int km_effective_rf(int configured, int brokers, bool *clamped) {
    *clamped = false;
    if (configured <= 0) return -1; /* the broker's default.replication.factor */
    if (brokers > 0 && configured > brokers) {
        *clamped = true;
        return brokers;
    }
    return configured;
}

void km_topic_meta_free(km_topic_meta_t *t, size_t n) {
    for (size_t i = 0; i < n; i++) free(t[i].name);
    free(t);
}
