/* topics.h — which source topics a flow replicates and what must happen on the target first.
 *
 * Pure decisions over plain data (metadata snapshots in, a plan out), so every rule is
 * unit-tested without a cluster; admin.c carries the plan out. Rules (mm2-reference.md §1.4):
 *   selected = (topics filter ∨ (heartbeats.replication.enabled ∧ heartbeats topic))
 *              ∧ ¬internal ∧ ¬cycle
 *   remote missing           → create with the source's partition count and replication.factor
 *   remote has fewer parts   → grow it (CreatePartitions)
 *   remote has more parts    → warn, replicate the source's partitions
 * Deleted source topics and shrinking are never mirrored (as MM2). */
#ifndef KM_TOPICS_H
#define KM_TOPICS_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct km_topic_meta {
    char *name;
    int partitions;
} km_topic_meta_t;

typedef enum {
    KM_TOPIC_READY,         /* remote exists with enough partitions */
    KM_TOPIC_CREATE,        /* remote missing */
    KM_TOPIC_GROW,          /* remote has fewer partitions */
    KM_TOPIC_REMOTE_LARGER, /* remote has more partitions: replicate anyway, warn */
} km_topic_action_t;

typedef struct km_topic_plan {
    char *source_topic;
    char *remote_topic;
    int source_partitions;
    int remote_partitions; /* -1 when missing */
    km_topic_action_t action;
} km_topic_plan_t;

bool km_topic_selected(const km_flow_settings_t *s, const char *target_alias, const char *topic);

/* Plans every selected source topic, sorted by source topic name. *out is owned by the caller
 * (km_topic_plan_free). Returns the count. */
size_t km_topic_plan(const km_flow_settings_t *s, const char *source_alias, const char *target_alias,
                     const km_topic_meta_t *src, size_t nsrc, const km_topic_meta_t *dst, size_t ndst,
                     km_topic_plan_t **out);
void km_topic_plan_free(km_topic_plan_t *plan, size_t n);

/* Replication factor to create with: the configured one, limited to the brokers there are
 * (a single-broker test cluster cannot hold RF 2); *clamped says whether it was limited. */
int km_effective_rf(int configured, int brokers, bool *clamped);

void km_topic_meta_free(km_topic_meta_t *t, size_t n);

#endif
