/* config.h — the MirrorMaker 2 configuration model.
 *
 * kmirror reads MM2's connect-mirror-maker.properties as is. km_config_load() parses the file,
 * resolves every ordered cluster pair into a flow with MM2's precedence rules
 * (mm2-reference.md §1.2), fills MM2's defaults (§1.3–1.6), validates what would break
 * replication, and collects every warning and error in a km_diag_t. The result is plain data:
 * the replication engine, check-config and the tests all read the same structs.
 *
 * Precedence (low → high), as MM2:
 *   connector keys:   top-level  <  {src}->{tgt}.k
 *   source consumer:  connection({src}) < {src}->{tgt}.consumer.k < {src}.consumer.k
 *                     < {src}->{tgt}.source.consumer.k
 *   target producer:  connection({tgt}) < {src}->{tgt}.producer.k < {tgt}.producer.k
 *                     < {src}->{tgt}.target.producer.k
 *   admin clients:    the same with .admin. on each side.
 * connection(x) = bootstrap.servers, security.protocol, ssl.*, sasl.* from {x}.k, else top level.
 * Note the consumer order is MM2's (a cluster-level key beats a flow-level one); kmirror applies
 * the same shape to the producer so the two read alike. */
#ifndef KM_CONFIG_H
#define KM_CONFIG_H

#include "diag.h"
#include "filter.h"
#include "policy.h"
#include "props.h"
#include "webconfig.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct km_cluster {
    char *alias;
    km_props_t props; /* every {alias}.k with the prefix stripped */
} km_cluster_t;

typedef enum { KM_SYNCS_ON_SOURCE, KM_SYNCS_ON_TARGET } km_syncs_location_t;
typedef enum { KM_EOS_DISABLED, KM_EOS_REQUESTED, KM_EOS_REQUIRED } km_eos_t;

/* The typed, validated view of a flow's connector settings (names as in MM2). */
typedef struct km_flow_settings {
    km_name_filter_t topics;          /* topics / topics.exclude */
    km_name_filter_t groups;          /* groups / groups.exclude */
    km_pattern_t *config_exclude;     /* config.properties.exclude */
    km_policy_t policy;
    bool refresh_topics_enabled;
    int64_t refresh_topics_interval_ms;
    bool refresh_groups_enabled;
    int64_t refresh_groups_interval_ms;
    bool sync_topic_configs_enabled;
    int64_t sync_topic_configs_interval_ms;
    bool sync_topic_acls_enabled;
    int64_t sync_topic_acls_interval_ms;
    bool emit_heartbeats_enabled;
    int64_t emit_heartbeats_interval_ms;
    bool heartbeats_replication_enabled;
    bool emit_checkpoints_enabled;
    int64_t emit_checkpoints_interval_ms;
    bool sync_group_offsets_enabled;
    int64_t sync_group_offsets_interval_ms;
    bool emit_offset_syncs_enabled;
    km_syncs_location_t offset_syncs_location;
    int64_t offset_lag_max;
    int replication_factor;               /* remote topics */
    int internal_replication_factor[3];   /* heartbeats, checkpoints, offset-syncs */
    int tasks_max;
    int64_t consumer_poll_timeout_ms;
    int64_t admin_timeout_ms;
    int64_t offset_flush_interval_ms;     /* how often positions are committed */
    int64_t offset_flush_records;         /* ... and after how many records at most */
    int64_t memory_max_bytes;             /* the process's memory budget (top-level key) */
    int64_t inflight_max_bytes;           /* the part of it for records in flight (top-level key) */
    bool inflight_max_set;                /* ... set in the file: no smaller cap for a target close by */
    int64_t prefetch_max_bytes;           /* a task's share of the rest, for its consumer's prefetch */
    bool provenance;                      /* replication.provenance.enabled (top-level key, provenance.h) */
    int64_t shutdown_timeout_ms;          /* bound on a graceful stop */
    int64_t stall_timeout_ms;             /* a partition not moving this long is reported; 0: never */
    int64_t session_timeout_ms;           /* group membership: a silent process loses its tasks after this */
    int64_t heartbeat_interval_ms;
    km_eos_t exactly_once;
    char *offsets_topic;                  /* positions on the target (offset.storage.topic) */
    char *offset_syncs_topic;             /* on the cluster offset_syncs_location names */
    char *checkpoints_topic;              /* {source}.checkpoints.internal on the target */
    char *heartbeats_topic;               /* "heartbeats" on the target */
    char *group_id;                       /* worker group on the target ({src}-mm2) */
    char *tasks_topic;                    /* mm2-kmirror-tasks.{source}.{group.id}.internal on the target (coord.h) */
    char *legacy_tasks_topic;             /* kmirror-tasks.{source}.{group.id}.internal: its name before */
    /* Kafka Connect's config topic of group.id on the target (config.storage.topic, in MM2
     * mm2-configs.{source}.internal): a Java MirrorMaker 2 worker creates it before it joins the
     * group; kmirror never does (coord.h). */
    char *connect_configs_topic;
} km_flow_settings_t;

typedef struct km_flow {
    const struct km_config *cfg; /* the whole topology, for delivery paths (provenance.h) */
    char *source, *target; /* aliases, owned by the km_cluster_t entries */
    char *name;            /* "source->target" */
    bool enabled;
    bool runs_here;        /* enabled and target ∈ --clusters */
    /* This process emits heartbeats into the target for this pair: target ∈ --clusters and
     * emit.heartbeats.enabled, even when the flow itself is disabled — as MM2, whose herders
     * exist for every such pair (MirrorMakerConfig.clusterPairs), so that A's heartbeats reach
     * B as A.heartbeats. For a disabled flow only rk_producer and the heartbeat settings of `s`
     * are filled. */
    bool heartbeats_here;
    km_props_t config;     /* resolved connector-level keys, defaults filled, as strings */
    km_props_t consumer;   /* Java client properties, resolved */
    km_props_t producer;
    km_props_t source_admin;
    km_props_t target_admin;
    km_props_t source_producer; /* offset-syncs written to the source cluster */
    km_props_t target_consumer; /* checkpoints, offset-syncs read on the target cluster */
    km_props_t rk_consumer; /* the same, translated for librdkafka */
    km_props_t rk_producer;
    km_props_t rk_source_admin;
    km_props_t rk_target_admin;
    km_props_t rk_source_producer;
    km_props_t rk_target_consumer;
    km_flow_settings_t s;  /* typed view; valid only when the flow is enabled and error-free */
} km_flow_t;

/* memory.max.bytes: the process's memory budget, all flows and tasks together; by default an
 * eighth of it is inflight.max.bytes (records read and not yet acknowledged), the rest the
 * consumers' prefetch. Half in flight (before 2026-12-06) filled up whenever the target was the
 * slower side and bought no rate: at 512 MiB, 1 KB and 10 KB records at 16 and 256 partitions
 * peaked at 0.41-0.49 GB with half and 0.23-0.30 GB with an eighth, at the same records/s, also
 * across a 100 ms round trip. 100 B records get a larger prefetch (more queued records): 0.9-1.3x
 * the rate for 0.51-0.61 GB instead of 0.38-0.52 (bench/results/2026-12-06.md section 19). */
#define KM_MEMORY_MAX_BYTES_DEFAULT (512LL * 1024 * 1024)
#define KM_INFLIGHT_SHARE_DIVISOR 8
#define KM_MEMORY_MIN_BYTES (16LL * 1024 * 1024)

typedef struct km_config {
    char *path;
    km_props_t raw;     /* values with their ${provider:...} references resolved */
    km_props_t secrets; /* reference as written → resolved value (providers.h), for redaction */
    km_cluster_t *clusters;
    size_t nclusters;
    km_flow_t *flows; /* every ordered pair (n·(n−1)), enabled or not */
    size_t nflows;
    char **here;      /* --clusters, or every alias */
    size_t nhere;
    char *metrics_listen; /* metrics.listen, NULL when off */
    km_webconfig_t *metrics_web; /* metrics.web.config.file read and checked, NULL when not set */
    char *log_level;      /* log.level, NULL when not set */
    bool log_json;        /* log.format = json */
    bool provenance;      /* replication.provenance.enabled */
    int64_t memory_max_bytes;   /* memory.max.bytes: the process's memory budget */
    int64_t inflight_max_bytes; /* inflight.max.bytes: the part of it for records in flight */
    bool metrics_lifecycle; /* metrics.lifecycle.enabled: POST /-/reload on the metrics endpoint */
} km_config_t;

/* Loads and resolves `path`. only/nonly: the --clusters list (NULL/0 = all clusters).
 * Returns 0 when usable (warnings may be in d), -1 when d holds at least one error.
 * cfg is always safe to pass to km_config_free afterwards. */
int km_config_load(km_config_t *cfg, const char *path, char **only, size_t nonly, km_diag_t *d);
/* Same from an in-memory buffer; `name` stands in for the file name in messages. */
int km_config_load_buf(km_config_t *cfg, const char *buf, size_t len, const char *name,
                       char **only, size_t nonly, km_diag_t *d);
void km_config_free(km_config_t *cfg);

const km_cluster_t *km_config_cluster(const km_config_t *cfg, const char *alias);
km_flow_t *km_config_flow(const km_config_t *cfg, const char *source, const char *target);
/* The connector keys that only select names (topics, groups and their excludes): a reload that
 * changes nothing else of a flow swaps them into the running flow (reload.h). */
bool km_config_is_filter_key(const char *key);
/* Gives the running flow f the name filters of `from` (the same flow in a newer file, which
 * passed validation): its filter keys in f->config and its compiled topics/groups filters. The
 * caller keeps every reader of those away meanwhile. */
void km_config_flow_refilter(km_flow_t *f, const km_flow_t *from);
/* A secret is any key containing password, secret, jaas, token or key.password: masked in output. */
bool km_config_is_secret(const char *key);

#endif
