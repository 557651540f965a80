/* metrics.h — what kmirror measures, and how it is read: MirrorMaker 2's metrics (mm2-reference.md
 * §1.13) plus lag, errors, flow state, tasks and the process, rendered as Prometheus text 0.0.4
 * (/metrics) and as JSON (/status); http.c serves both, `kmirror status` prints the JSON.
 *
 * The model is a registry (km_metrics_t, one per process, owned by mirror.c) of flows
 * (km_flow_metrics_t), and per flow an append-only table of partition series (km_part_stats_t)
 * and checkpoint series. A series is created the first time its partition is assigned and lives
 * as long as the registry, so counters survive task restarts and memory is one fixed-size entry
 * per partition ever replicated (a few hundred bytes, cache-line aligned).
 *
 * Cost on the record path. Every partition has exactly one writer at a time: the thread of the
 * task it is assigned to (a partition moves only after its old task was joined). So updates are
 * plain relaxed loads and stores of the partition's own cache line — no locks, no read-modify-
 * write instructions, no allocation, no formatting: per record a histogram bucket, a sum, a count
 * and a two-slot window. Readers (the HTTP thread) take snapshots with relaxed loads and never
 * take a lock that a task thread holds; a snapshot may be a record apart between two fields.
 *
 * Windows. MM2's min/max/avg come from Kafka metrics with two 30-second samples; a km_window_t
 * is the same: two slots tagged with their 30 s epoch, the writer resets a slot when it enters a
 * new epoch, a reader combines the slots of the current and the previous epoch (30–60 s of
 * data). Histograms are cumulative since start (Prometheus computes any window from them). */
#ifndef KM_METRICS_H
#define KM_METRICS_H

#include "config.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_WINDOW_MS 30000
/* Histogram bucket upper bounds in ms (Prometheus `le`); one more bucket catches the rest. */
#define KM_HIST_BOUNDS {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 3600000}
#define KM_HIST_NBOUNDS 16

typedef struct km_window_slot {
    _Atomic int64_t epoch; /* 1 + now / KM_WINDOW_MS when the slot was (re)started; 0 unused or resetting */
    _Atomic uint64_t count, sum, extra;
    _Atomic int64_t min, max;
} km_window_slot_t;

typedef struct km_window {
    km_window_slot_t slot[2];
} km_window_t;

typedef struct km_hist {
    _Atomic uint64_t bucket[KM_HIST_NBOUNDS + 1]; /* not cumulative; the renderer adds them up */
    _Atomic uint64_t sum;
} km_hist_t;

/* What a reader sees of a window: count == 0 means no observation in the last 30–60 s. */
typedef struct km_window_view {
    uint64_t count, sum, extra; /* count/sum/min/max/avg of the values; extra summed */
    int64_t min, max;
    double avg;
    double seconds; /* time the view covers, for rates */
} km_window_view_t;

typedef struct km_hist_view {
    uint64_t bucket[KM_HIST_NBOUNDS + 1];
    uint64_t sum, count;
} km_hist_view_t;

/* Window and histogram primitives; single writer per instance (see above). A window value < 0
 * means "no value": only `extra` is added (e.g. an acknowledged record without a timestamp still
 * counts towards the record rate). Histogram values < 0 count as 0. */
void km_window_observe(km_window_t *w, int64_t now_ms, int64_t value, uint64_t extra);
km_window_view_t km_window_read(const km_window_t *w, int64_t now_ms);
void km_hist_observe(km_hist_t *h, int64_t value);
km_hist_view_t km_hist_read(const km_hist_t *h);
/* The bucket index km_hist_observe uses for value. */
int km_hist_bucket(int64_t value);

/* ---- per partition (the record path) -------------------------------------------------------- */

/* One replicated source partition of one flow. Labels are immutable; the rest is written only by
 * the partition's task thread through the km_part_* functions below. */
typedef struct km_part_stats {
    char *topic;  /* source topic */
    char *remote; /* remote (target) topic: MM2's `topic` tag */
    int32_t partition;
    _Atomic int task;               /* task id while assigned, -1 otherwise */
    _Atomic uint64_t records;       /* acknowledged by the target */
    _Atomic uint64_t bytes;         /* value bytes consumed (MM2's byte-count: values only, at poll) */
    _Atomic uint64_t skipped;       /* deleted on the source (retention) before they were mirrored */
    _Atomic uint64_t path_skipped;  /* not written: the target has them or gets them along another path (provenance.h) */
    _Atomic uint64_t delivery_errors; /* records whose delivery to the target failed */
    _Atomic uint64_t resent;        /* records read and sent again after a failed delivery */
    _Atomic uint64_t log_checks;    /* last mirrored record read again to check the source log (task.c, same_log) */
    _Atomic uint64_t target_empty;  /* target partition found empty under a stored position (task.c, target_was_empty) */
    _Atomic uint64_t offset_syncs;  /* offset-sync records emitted for this partition */
    _Atomic int64_t high_watermark; /* source end offset at the last refresh, -1 unknown */
    _Atomic int64_t next;           /* next source offset to mirror at the same refresh, -1 unknown */
    _Atomic int64_t caught_up_ms;   /* wall clock of the last refresh that found nothing to mirror */
    _Atomic int64_t moved_ms;       /* monotonic clock of the last refresh that found it moved, waiting or with nothing
                                     * to mirror (a wall-clock step must not make a partition look stalled); 0 none since assigned */
    _Atomic bool behind_txn;        /* at the last refresh, what is left waits for an open source transaction */
    _Atomic int64_t acked_ts;       /* timestamp of the last record acknowledged */
    _Atomic int blocked_err;        /* librdkafka error that stops the partition, 0 when it flows */
    _Atomic bool blocked_by_source; /* the error is the source's (else the target's) */
    _Atomic int64_t blocked_offset; /* the source offset it stopped at */
    _Atomic bool positions_unread;  /* found, not started: its stored position could not be read yet */
    km_hist_t latency, age;         /* replication-latency-ms (at ack), record-age-ms (at poll) */
    km_window_t latency_w, age_w;   /* the same for min/max/avg; extra: records acked, value bytes */
} km_part_stats_t;

/* A record was consumed: record-age = now − its timestamp (ts <= 0: no timestamp, age not
 * measured), value bytes counted. */
void km_part_polled(km_part_stats_t *s, size_t value_len, int64_t ts, int64_t now_ms);
/* The target acknowledged a record: record-count, replication-latency = now − its timestamp. */
void km_part_acked(km_part_stats_t *s, int64_t ts, int64_t now_ms);
void km_part_delivery_failed(km_part_stats_t *s);
void km_part_resent(km_part_stats_t *s, uint64_t n);
void km_part_log_checked(km_part_stats_t *s);
void km_part_target_found_empty(km_part_stats_t *s);
void km_part_skipped(km_part_stats_t *s, uint64_t n);
void km_part_path_skipped(km_part_stats_t *s);
void km_part_offset_sync_emitted(km_part_stats_t *s);
/* The partition stopped at source offset `offset` because the target refused a record with
 * `err` (a librdkafka error code), or the source refused to be read (by_source; OFFSET_OUT_OF_RANGE:
 * its log went back), or flows again (err 0). The flow is degraded meanwhile. */
void km_part_blocked(km_part_stats_t *s, int err, bool by_source, int64_t offset);
/* The flow found the partition but cannot start it until its position is read (flow.c). */
void km_part_positions_unread(km_part_stats_t *s, bool unread);
/* Periodic refresh from the task: the source's high watermark and the next offset to mirror
 * (either may be -1, unknown). Lag = high_watermark − next. A partition whose next offset stays
 * put with lag for longer than the flow's replication.stall.timeout.ms is stalled, unless it
 * waits: everything a read_committed consumer may read is mirrored, and the rest belongs to a
 * transaction still open on the source. now_ms is the wall clock, mono_ms the monotonic one. */
void km_part_watermarks(km_part_stats_t *s, int64_t high_watermark, int64_t next, bool waits, int64_t now_ms, int64_t mono_ms);
/* The partition is now replicated by task `task` (-1: by none). */
void km_part_assigned(km_part_stats_t *s, int task);

/* ---- per flow ------------------------------------------------------------------------------- */

typedef enum { KM_FLOW_STARTING, KM_FLOW_RUNNING, KM_FLOW_DEGRADED, KM_FLOW_FAILED } km_flow_state_t;
const char *km_flow_state_name(km_flow_state_t s);

/* One task of a flow, by task id. Written by that task's thread. */
typedef struct km_task_slot {
    _Atomic bool running;
    _Atomic int source_up, target_up; /* brokers connected in the latest client statistics; -1 unknown */
    _Atomic uint64_t request_retries; /* librdkafka produce request retries, over every run of the task */
    _Atomic uint64_t request_errors;  /* librdkafka produce request errors, likewise */
    _Atomic uint64_t restarts;        /* the flow started the task again after a fatal client error */
    _Atomic uint64_t budget_wait_us;  /* time reading held back, the process over inflight.max.bytes */
    uint64_t seen_retries, seen_errors; /* what the current producer had reported; task thread only */
} km_task_slot_t;

typedef struct km_flow_metrics km_flow_metrics_t;
typedef struct km_metrics km_metrics_t;

km_metrics_t *km_metrics_new(void);
/* Frees the registry; no task, server or snapshot may use it any more. */
void km_metrics_free(km_metrics_t *m);
/* Registers a flow in state starting. A flow registered before (restarted or brought back by a
 * reload) gets its old entry again: its counters go on. Thread-safe against snapshots. */
km_flow_metrics_t *km_metrics_add_flow(km_metrics_t *m, const km_flow_t *flow);
/* The flow stopped for good (a reload removed it): its series are no longer shown. */
void km_metrics_retire_flow(km_metrics_t *m, km_flow_metrics_t *fm);
km_flow_metrics_t *km_metrics_flow(km_metrics_t *m, const char *source, const char *target);
/* The outcome of a configuration reload: error NULL for a success, else why it failed
 * (kmirror_config_last_reload_successful, /status "config"). */
void km_metrics_reloaded(km_metrics_t *m, const char *error);
/* memory.max.bytes, the process's memory budget, and inflight.max.bytes, the part of it every
 * task of the process holds its records in flight to (config.c shares it out). */
void km_metrics_set_budget(km_metrics_t *m, int64_t memory_max_bytes, int64_t inflight_max_bytes);

/* Flow state, set by the flow controller (main thread). reason: NULL for RUNNING/STARTING. A
 * RUNNING flow whose task cannot reach a cluster is reported degraded (see km_task_slot_t). */
void km_flow_metrics_state(km_flow_metrics_t *fm, km_flow_state_t state, const char *reason);
/* Why the flow's checkpoints and group offset sync are not running (NULL: they are); a running
 * flow with such a reason is reported degraded. Thread-safe (the checkpointer's thread). */
void km_flow_metrics_checkpoints(km_flow_metrics_t *fm, const char *why);
/* The round trip to the source the flow timed when it started (-1: it could not) and what each of
 * its tasks may prefetch for it (flow.c). Thread-safe. */
void km_flow_metrics_prefetch(km_flow_metrics_t *fm, int64_t source_rtt_us, int64_t prefetch_bytes);
/* The round trip to the target the flow timed when it started (-1: it could not) and the most
 * each of its tasks keeps in flight for it (flow.c), and the produce requests in flight per broker
 * connection its tasks' producers keep, as librdkafka took the setting (task.c). Thread-safe. */
void km_flow_metrics_target_rtt(km_flow_metrics_t *fm, int64_t target_rtt_us, int64_t task_inflight_bytes);
void km_flow_metrics_produce_requests(km_flow_metrics_t *fm, int64_t max_inflight);
/* The process's records in flight, which every flow's tasks share: a task adds its change
 * (bytes, negative when acknowledged), and holds back while the total is over the budget. */
void km_flow_metrics_inflight_add(km_flow_metrics_t *fm, int64_t delta);
/* What is left of the budget (negative when over it); INT64_MAX when there is none. */
int64_t km_flow_metrics_inflight_room(const km_flow_metrics_t *fm);
/* The series of a source partition, created on first use; stable for the registry's lifetime.
 * Thread-safe; called when a partition is assigned, not per record. */
km_part_stats_t *km_flow_metrics_part(km_flow_metrics_t *fm, const char *topic, const char *remote, int32_t partition);
/* The slot of task `id` (>= 0; created on first use, stable for the registry's lifetime). */
km_task_slot_t *km_flow_metrics_task(km_flow_metrics_t *fm, int id);

void km_task_slot_started(km_task_slot_t *ts);
void km_task_slot_restarted(km_task_slot_t *ts);
/* Records a task keeps in flight at most, whatever their bytes: each holds the fetch response it
 * lives in (task.c). */
#define KM_TASK_INFLIGHT_MAX_RECORDS 200000
/* The task held back reading for `us` microseconds because the process was over its budget (or
 * the task at KM_TASK_INFLIGHT_MAX_RECORDS). */
void km_task_slot_budget_wait(km_task_slot_t *ts, int64_t us);
void km_task_slot_stopped(km_task_slot_t *ts);
/* Feeds a librdkafka statistics JSON document of the task's producer (is_producer) or consumer:
 * broker connectivity, and for the producer its request retries and errors. */
void km_task_slot_client_stats(km_task_slot_t *ts, bool is_producer, const char *json, size_t len);
/* The same from the parsed document (jansson's json_t), for a caller that reads it too. */
struct json_t;
void km_task_slot_client_stats_doc(km_task_slot_t *ts, bool is_producer, const struct json_t *doc);

/* ---- checkpoints ---------------------------------------------------------------------------- */

/* MM2's checkpoint-latency-ms for (source, target, group, topic, partition): call once per
 * checkpoint record the target acknowledged, with now − the checkpoint record's timestamp.
 * `topic` is the topic the checkpoint is about, as MM2 tags it. Thread-safe, from any thread
 * (a per-flow mutex serialises writers; readers take no lock). Series are created on first use.
 * The count of observations is exported as the number of checkpoints emitted. Returns -1 when
 * no flow source->target is registered. */
int km_metrics_checkpoint_observe(km_metrics_t *m, const char *source, const char *target, const char *group,
                                  const char *topic, int32_t partition, int64_t latency_ms);

/* Where checkpoints stand for one consumer group of the flow. */
typedef struct km_group_status {
    char *group;
    int64_t last_ms;   /* wall-clock ms of the last checkpoint written for it; 0: none yet */
    size_t partitions; /* its partitions that have a checkpoint */
    char *reason;      /* why no checkpoint is written for it now; NULL when they are */
} km_group_status_t;

/* Replaces the flow's group table (copied) for /status and
 * kmirror_checkpoint_last_timestamp_seconds. Thread-safe. -1 when no flow source->target. */
int km_metrics_checkpoint_groups(km_metrics_t *m, const char *source, const char *target, const km_group_status_t *g,
                                 size_t n);

/* ---- reading -------------------------------------------------------------------------------- */

typedef struct km_part_snap {
    const char *topic, *remote;
    int32_t partition;
    int task;
    uint64_t records, bytes, skipped, path_skipped, delivery_errors, resent, log_checks, target_empty, offset_syncs;
    int64_t lag_records; /* -1 unknown */
    int64_t lag_ms;      /* -1 unknown */
    int blocked_err;     /* 0 when the partition flows */
    bool blocked_by_source;
    int64_t blocked_offset;
    bool positions_unread;
    int64_t next;       /* next source offset to mirror; -1 unknown */
    int64_t still_ms;   /* how long next has not moved while there was lag; 0 when it moves */
    bool stalled;       /* still_ms reached the flow's replication.stall.timeout.ms */
    bool behind_txn;    /* the lag is records of a transaction still open on the source */
    double record_rate, byte_rate; /* per second over the window */
    km_window_view_t latency_w, age_w;
    km_hist_view_t latency, age;
} km_part_snap_t;

typedef struct km_ckpt_snap {
    const char *group, *topic;
    int32_t partition;
    km_window_view_t w;
    km_hist_view_t h;
} km_ckpt_snap_t;

typedef struct km_task_snap {
    int id;
    bool running;
    int source_up, target_up;
    size_t partitions;
} km_task_snap_t;

typedef struct km_flow_snap {
    const char *source, *target, *name;
    km_flow_state_t state;
    char *reason; /* NULL when running */
    uint64_t request_retries, request_errors, task_restarts;
    uint64_t budget_wait_us; /* over every task */
    int64_t source_rtt_us;   /* -1: not timed */
    int64_t prefetch_bytes;  /* per task */
    int64_t target_rtt_us;   /* -1: not timed */
    int64_t task_inflight_bytes; /* the most a task keeps in flight; 0 before the flow started */
    int64_t produce_requests; /* in flight per broker connection; 0: no task has a producer yet */
    km_task_snap_t *tasks; /* running tasks only */
    int ntasks;
    km_part_snap_t *parts; /* sorted by topic, partition */
    size_t nparts;
    km_ckpt_snap_t *ckpts;
    size_t nckpts;
    km_group_status_t *groups; /* owned by the snapshot */
    size_t ngroups;
} km_flow_snap_t;

typedef struct km_snapshot {
    int64_t now_ms, start_ms;
    double cpu_seconds;
    uint64_t rss_bytes;
    int64_t inflight_bytes, inflight_max_bytes; /* the process's records in flight and their budget */
    int64_t memory_max_bytes;                   /* memory.max.bytes */
    km_flow_snap_t *flows;
    size_t nflows;
    int64_t main_idle_ms; /* since the main loop last ran (km_metrics_main_ran); -1 before it ran */
    bool reload_ok;       /* the last configuration reload succeeded (or there was none) */
    int64_t reload_ok_ms; /* when the configuration was last loaded successfully */
    char *reload_error;   /* why the last reload failed; NULL when it did not */
} km_snapshot_t;

/* A consistent-enough copy of everything at now_ms (wall clock). Strings point into the registry:
 * free the snapshot before the registry. */
km_snapshot_t *km_metrics_snapshot(km_metrics_t *m, int64_t now_ms);
void km_snapshot_free(km_snapshot_t *s);

/* Prometheus text exposition format 0.0.4; caller frees. */
char *km_metrics_prometheus(const km_snapshot_t *s);
/* The /status document (format in README.md, "Metrics"); caller owns the reference. */
json_t *km_metrics_status_json(const km_snapshot_t *s);
/* The main loop ran: it runs every 100 ms, so a snapshot that finds it idle for
 * KM_MAIN_STUCK_MS is of a process stuck where no flow can say so. */
void km_metrics_main_ran(km_metrics_t *m);
#define KM_MAIN_STUCK_MS 60000

/* True when every flow runs and the main loop is not stuck; otherwise *reason (caller frees)
 * says what is wrong. */
bool km_metrics_healthy(const km_snapshot_t *s, char **reason);

#endif
