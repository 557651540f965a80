/* policy.h — replication policies: how remote topics are named and how a topic's origin is read
 * back from its name (MM2's ReplicationPolicy, DefaultReplicationPolicy, IdentityReplicationPolicy).
 *
 * Every function returning char * returns a new string owned by the caller, or NULL where MM2
 * returns null. */
#ifndef KM_POLICY_H
#define KM_POLICY_H

#include "diag.h"

#include <stdbool.h>

typedef enum { KM_POLICY_DEFAULT, KM_POLICY_IDENTITY } km_policy_kind_t;

typedef struct km_policy {
    km_policy_kind_t kind;
    char *separator;          /* replication.policy.separator, default "." */
    char *internal_separator; /* separator if internal.topic.separator.enabled, else "." */
    char *source_alias;       /* the flow's source; IdentityReplicationPolicy.topicSource */
} km_policy_t;

/* class_name: replication.policy.class, simple or fully qualified name of MM2's two policies.
 * Anything else: -1 with an error naming the key and the accepted values. */
int km_policy_init(km_policy_t *p, const char *class_name, const char *separator,
                   bool internal_separator_enabled, const char *source_alias, km_diag_t *d);
void km_policy_free(km_policy_t *p);

char *km_policy_format_remote_topic(const km_policy_t *p, const char *source, const char *topic);
char *km_policy_topic_source(const km_policy_t *p, const char *topic);
char *km_policy_upstream_topic(const km_policy_t *p, const char *topic);
char *km_policy_original_topic(const km_policy_t *p, const char *topic);

char *km_policy_heartbeats_topic(const km_policy_t *p);
char *km_policy_offset_syncs_topic(const km_policy_t *p, const char *cluster_alias);
char *km_policy_checkpoints_topic(const km_policy_t *p, const char *cluster_alias);

bool km_policy_is_heartbeats_topic(const km_policy_t *p, const char *topic);
bool km_policy_is_checkpoints_topic(const km_policy_t *p, const char *topic);
bool km_policy_is_mm2_internal_topic(const km_policy_t *p, const char *topic);
bool km_policy_is_internal_topic(const km_policy_t *p, const char *topic);
/* True when replicating `topic` to `target_alias` would close a loop (MirrorSourceConnector.isCycle). */
bool km_policy_is_cycle(const km_policy_t *p, const char *target_alias, const char *topic);

/* MirrorClient's topology helpers, over heartbeat topic names: how many replication hops the
 * topic is from cluster `upstream_alias` (-1 when it does not come from there), and every
 * cluster it passed through (km_strv_free). */
int km_policy_count_hops(const km_policy_t *p, const char *topic, const char *upstream_alias);
size_t km_policy_all_sources(const km_policy_t *p, const char *topic, char ***out);

#endif
