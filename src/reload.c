/* reload.c — see reload.h. */
#include "reload.h"

#include "util.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Adds `item` (consumed) to the "; "-separated list. */
static void append(char **text, char *item) {
    char *next = km_xasprintf("%s%s%s", *text ? *text : "", *text ? "; " : "", item);
    free(item);
    free(*text);
    *text = next;
}

static void describe(char **why, const char *what, const char *key, const char *was, const char *now) {
    const char *sp = *what ? " " : "";
    if (km_config_is_secret(key)) append(why, km_xasprintf("%s%s%s changed", what, sp, key));
    else append(why, km_xasprintf("%s%s%s: %s -> %s", what, sp, key, was ? was : "(unset)", now ? now : "(unset)"));
}

/* The replication consumer's limits that config.c derives from the process's memory budget and
 * its task count: a reload that only enables or disables another flow changes them, and
 * restarting every flow for that would stop replication; a running flow keeps its limits until
 * it restarts (the budget keys themselves and the user's own values are compared as such). */
static const char *const budget_derived[] = {"queued.min.messages", "queued.max.messages.kbytes", "fetch.max.bytes",
                                             "max.partition.fetch.bytes", NULL};

static bool listed(const char *const *list, const char *key) {
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], key) == 0) return true;
    return false;
}

/* Notes each key whose value differs between a and b under `what`, except the keys of skip;
 * *filters counts the name filter keys among them, *others the rest. */
static void diff(const km_props_t *a, const km_props_t *b, const char *what, bool filter_keys_count, const char *const *skip,
                 char **why, int *filters, int *others) {
    for (size_t i = 0; i < a->n; i++) {
        if (listed(skip, a->items[i].key)) continue;
        const char *v = km_props_get(b, a->items[i].key);
        if (v && strcmp(v, a->items[i].value) == 0) continue;
        describe(why, what, a->items[i].key, a->items[i].value, v);
        if (filter_keys_count && km_config_is_filter_key(a->items[i].key)) (*filters)++;
        else (*others)++;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (km_props_find(a, b->items[i].key) || listed(skip, b->items[i].key)) continue;
        describe(why, what, b->items[i].key, NULL, b->items[i].value);
        if (filter_keys_count && km_config_is_filter_key(b->items[i].key)) (*filters)++;
        else (*others)++;
    }
}

km_reload_change_t km_reload_compare(const km_flow_t *running, const km_flow_t *next, char **why) {
    *why = NULL;
    int filters = 0, others = 0;
    diff(&running->config, &next->config, "", true, NULL, why, &filters, &others);
    static const struct { size_t off; const char *what; } clients[] = {
        {offsetof(km_flow_t, consumer), "consumer"},         {offsetof(km_flow_t, producer), "producer"},
        {offsetof(km_flow_t, source_admin), "source admin"}, {offsetof(km_flow_t, target_admin), "target admin"},
        {offsetof(km_flow_t, source_producer), "source producer"}, {offsetof(km_flow_t, target_consumer), "target consumer"},
    };
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++)
        diff((const km_props_t *)((const char *)running + clients[i].off), (const km_props_t *)((const char *)next + clients[i].off),
             clients[i].what, false, NULL, why, &filters, &others);
    /* The librdkafka forms follow from the above, except what kmirror derives from files (key
     * and trust stores): said once, without the values. */
    static const size_t rk[] = {offsetof(km_flow_t, rk_consumer),     offsetof(km_flow_t, rk_producer),
                                offsetof(km_flow_t, rk_source_admin), offsetof(km_flow_t, rk_target_admin),
                                offsetof(km_flow_t, rk_source_producer), offsetof(km_flow_t, rk_target_consumer)};
    char *rk_why = NULL;
    int rk_changes = 0;
    for (size_t i = 0; i < sizeof(rk) / sizeof(rk[0]); i++)
        diff((const km_props_t *)((const char *)running + rk[i]), (const km_props_t *)((const char *)next + rk[i]), "", false,
             budget_derived, &rk_why, &filters, &rk_changes);
    free(rk_why);
    if (rk_changes && !others) append(why, km_xstrdup("client properties derived from key or trust stores"));
    others += rk_changes;
    if (running->s.inflight_max_bytes != next->s.inflight_max_bytes) {
        append(why, km_xasprintf("inflight.max.bytes: %lld -> %lld", (long long)running->s.inflight_max_bytes,
                                 (long long)next->s.inflight_max_bytes));
        others++;
    } else if (running->s.inflight_max_set != next->s.inflight_max_set) { /* a task's cap for a close target */
        append(why, km_xasprintf("inflight.max.bytes: %s", next->s.inflight_max_set ? "set" : "no longer set"));
        others++;
    }
    if (running->s.memory_max_bytes != next->s.memory_max_bytes) {
        append(why, km_xasprintf("memory.max.bytes: %lld -> %lld", (long long)running->s.memory_max_bytes,
                                 (long long)next->s.memory_max_bytes));
        others++;
    }
    return others ? KM_RELOAD_RESTART : filters ? KM_RELOAD_FILTERS : KM_RELOAD_SAME;
}

static bool props_equal(const km_props_t *a, const km_props_t *b) {
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++) {
        const char *v = km_props_get(b, a->items[i].key);
        if (!v || strcmp(v, a->items[i].value) != 0) return false;
    }
    return true;
}

bool km_reload_heartbeats_same(const km_flow_t *a, const km_flow_t *b) {
    if (!a->heartbeats_here || !b->heartbeats_here) return a->heartbeats_here == b->heartbeats_here;
    return strcmp(a->s.heartbeats_topic, b->s.heartbeats_topic) == 0 &&
           a->s.emit_heartbeats_interval_ms == b->s.emit_heartbeats_interval_ms &&
           a->s.internal_replication_factor[0] == b->s.internal_replication_factor[0] &&
           a->s.admin_timeout_ms == b->s.admin_timeout_ms && props_equal(&a->rk_producer, &b->rk_producer);
}
