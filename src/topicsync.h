/* topicsync.h — what MM2 copies besides records: remote topics get the source topic's
 * configuration when they are created and again every sync.topic.configs.interval.seconds, and
 * the source's topic ACLs are copied to the target every sync.topic.acls.interval.seconds
 * (MirrorSourceConnector.syncTopicConfigs / syncTopicAcls, mm2-reference.md §1.4).
 *
 * Decisions are pure functions over plain data (unit-tested); the km_topicsync_* calls around
 * them are thin admin requests. librdkafka 2.0.2 has no IncrementalAlterConfigs, so configs are
 * written with AlterConfigs: the target topic's dynamic configs become exactly the mirrored
 * set (MM2 before 3.5 did the same). */
#ifndef KM_TOPICSYNC_H
#define KM_TOPICSYNC_H

#include "config.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct km_topic_config {
    char *name, *value;
    rd_kafka_ConfigSource_t source; /* DYNAMIC_TOPIC_CONFIG = set on the topic itself */
    bool read_only, sensitive;
} km_topic_config_t;

typedef struct km_acl {
    char *name, *principal, *host;
    int resource_type, pattern_type, operation, permission; /* librdkafka enums */
} km_acl_t;

/* ---- decisions ---- */

/* DefaultConfigPropertyFilter + MirrorSourceConnector.targetConfig: not read-only, not
 * sensitive, not excluded by config.properties.exclude, and set on the topic (not a broker or
 * built-in default) unless use_source_defaults. Returns the count; *out points into `in`. */
size_t km_configs_to_mirror(const km_pattern_t *exclude, bool use_source_defaults, const km_topic_config_t *in,
                            size_t n, const km_topic_config_t ***out);
/* Source ACLs to create on the target: literal TOPIC bindings of replicated topics, renamed to
 * the remote topic; ALLOW WRITE skipped, ALLOW ALL downgraded to READ (nobody but the mirror
 * should write a remote topic), DENY WRITE for User:* (a failover fence) skipped. New list
 * (km_acls_free). */
size_t km_acls_to_mirror(const km_flow_t *f, const km_acl_t *in, size_t n, km_acl_t **out);
void km_acls_free(km_acl_t *a, size_t n);
void km_topic_configs_free(km_topic_config_t *c, size_t n);

/* ---- admin ---- */

/* Every call waits at most timeout_ms, and gives up early once *cancel (may be NULL) is set. */
/* Configs of one topic. 0, or -1 with errstr. */
int km_topicsync_describe(rd_kafka_t *rk, const char *topic, int timeout_ms, const _Atomic bool *cancel,
                          km_topic_config_t **out, size_t *n, char *errstr, size_t errlen);
/* Replaces the topic's dynamic configs with `c`. */
int km_topicsync_alter(rd_kafka_t *rk, const char *topic, const km_topic_config_t *const *c, size_t n, int timeout_ms,
                       const _Atomic bool *cancel, char *errstr, size_t errlen);
/* Every literal TOPIC ACL. -1 with errstr (e.g. "Security features are disabled") on failure. */
int km_topicsync_describe_acls(rd_kafka_t *rk, int timeout_ms, const _Atomic bool *cancel, km_acl_t **out, size_t *n,
                               char *errstr, size_t errlen);
int km_topicsync_create_acls(rd_kafka_t *rk, const km_acl_t *a, size_t n, int timeout_ms, const _Atomic bool *cancel,
                             char *errstr, size_t errlen);

/* ---- a flow's sync: its own thread ---- */

typedef struct km_topicsync km_topicsync_t;
/* Config sync every sync.topic.configs.interval.seconds, ACL sync every
 * sync.topic.acls.interval.seconds (first at start), through the flow's admin clients (borrowed:
 * they must outlive km_topicsync_stop). NULL with errstr when its thread cannot start. */
km_topicsync_t *km_topicsync_start(const km_flow_t *f, rd_kafka_t *src_admin, rd_kafka_t *dst_admin, char *errstr,
                                   size_t errlen);
/* The source topics replicated now (copied). */
void km_topicsync_set_topics(km_topicsync_t *ts, char **topics, size_t n);
void km_topicsync_stop(km_topicsync_t *ts);
/* The configs a new remote topic of `topic` is created with, as key, value pairs (2 * count
 * strings, km_strv_free(pairs, 2 * count)). 0 pairs, with a warning, when they cannot be read. */
size_t km_topicsync_creation_configs(const km_flow_t *f, rd_kafka_t *src, const char *topic, int timeout_ms, char ***pairs);

#endif
