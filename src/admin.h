/* admin.h — the few admin operations the replication engine needs, as thin synchronous calls
 * over librdkafka's admin API with explicit timeouts. Decisions live in topics.c. */
#ifndef KM_ADMIN_H
#define KM_ADMIN_H

#include "topics.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Every wait here (and the start-up waits built on these calls) gives up within about a second
 * once *flag is set: the process's stop flag (mirror.c), so that a SIGTERM while a cluster does
 * not answer is not held up for admin.timeout.ms. Until called, nothing is interrupted. */
void km_admin_stop_on(const volatile sig_atomic_t *flag);
/* The stop flag is set. */
bool km_admin_stopping(void);
/* Sleeps ms in short slices; false (early) once stopping. */
bool km_admin_pause(int ms);
/* rd_kafka_metadata (of every topic, or only `only`) re-asked in one-second slices until
 * timeout_ms, so that a stop interrupts it: then RD_KAFKA_RESP_ERR__DESTROY. */
rd_kafka_resp_err_t km_admin_metadata(rd_kafka_t *rk, rd_kafka_topic_t *only, const rd_kafka_metadata_t **md,
                                      int timeout_ms);
/* Partitions of `topic`: 0 when it does not exist, -1 with errstr on any other error of the topic
 * (not authorized, say: never taken for "missing"). A leader still being elected (a topic created
 * a moment ago) is waited for, within timeout_ms. */
int km_admin_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr, size_t errlen);
/* The round trip to the cluster: the quickest of up to `probes` metadata requests for `topic`,
 * one after the other, on a connection already up (call it after a request that succeeded). It
 * stops at the first answer under `enough_us` (a quicker one would tell the caller nothing more)
 * and starts no request span_ms after the first one started (a distant cluster is told by its
 * first answer). The topic must exist (with librdkafka's metadata versions a broker may create a
 * topic it is asked about) and be small; NULL asks for every topic, for a cluster that has none.
 * -1 when none was answered within timeout_ms each. */
int64_t km_admin_round_trip_us(rd_kafka_t *rk, const char *topic, int probes, int64_t enough_us, int span_ms, int timeout_ms);
/* rd_kafka_err2str, but "interrupted: kmirror is stopping" for a wait the stop flag ended. */
const char *km_admin_err2str(rd_kafka_resp_err_t err);

/* The one result event of an admin request on `q`, or NULL with errstr (no answer within
 * timeout_ms, or the request failed as a whole). A set *cancel (may be NULL) ends the wait early,
 * so a stopping thread is not held up by a silent cluster. */
rd_kafka_event_t *km_admin_await(rd_kafka_queue_t *q, int timeout_ms, const _Atomic bool *cancel, char *errstr,
                                 size_t errlen);
/* Admin options with request (and, where it applies, operation) timeout. */
rd_kafka_AdminOptions_t *km_admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms);

/* Every topic with its partition count, and the number of brokers. 0, or -1 with errstr. */
int km_admin_list_topics(rd_kafka_t *rk, int timeout_ms, km_topic_meta_t **out, size_t *n, int *brokers,
                         char *errstr, size_t errlen);

typedef struct km_new_topic {
    const char *name;
    int partitions;
    int replication_factor; /* -1: broker default */
    const char *const *configs; /* key, value, key, value, ... */
    size_t nconfigs;            /* number of pairs */
    rd_kafka_resp_err_t err;    /* out */
    char errstr[256];           /* out */
} km_new_topic_t;

/* Creates the topics in one request; per-topic outcome in t[i].err/errstr. Returns 0 when the
 * request completed (whatever the per-topic results), -1 when it failed as a whole (timeout,
 * unsupported), with errstr. */
int km_admin_create_topics(rd_kafka_t *rk, km_new_topic_t *t, size_t n, int timeout_ms, char *errstr, size_t errlen);
/* Deletes a topic; a missing one is success. 0, or -1 with errstr. */
int km_admin_delete_topic(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr, size_t errlen);
/* Grows `topic` to `total` partitions. Returns the error code (0 on success). */
rd_kafka_resp_err_t km_admin_create_partitions(rd_kafka_t *rk, const char *topic, int total, int timeout_ms,
                                               char *errstr, size_t errlen);

/* Makes sure an internal topic exists (MirrorUtils.createSinglePartitionCompactedTopic and
 * friends): creates it when missing, with the replication factor clamped to the broker count.
 * *created says whether this call made it. 0, or -1 with errstr. */
int km_admin_ensure_topic(rd_kafka_t *rk, const char *name, int partitions, int rf, bool compact, int timeout_ms,
                          bool *created, char *errstr, size_t errlen);

/* A committed consumer offset (the group is implied by the call). */
typedef struct km_group_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
    char *metadata; /* "" when none */
} km_group_offset_t;
void km_group_offsets_free(km_group_offset_t *o, size_t n);

/* Every consumer group of the cluster (ListConsumerGroups, asked of every broker). 0, or -1 with
 * errstr. Requests a group's coordinator answers are in groupclient.h, and why. */
int km_admin_list_groups(rd_kafka_t *rk, int timeout_ms, char ***groups, size_t *n, char *errstr, size_t errlen);

/* Low and high watermarks of partitions 0..n-1 of topic (lo[n], hi[n]): one ListOffsets request
 * per leader for each end instead of two per partition, retried like km_admin_watermarks. On
 * error *failed is the partition it names, or -1 for the whole request. */
rd_kafka_resp_err_t km_admin_watermarks_all(rd_kafka_t *rk, const char *topic, int n, int64_t *lo, int64_t *hi, int timeout_ms,
                                            int *failed);

/* Low and high watermark of one partition, retried while its leader is still being established
 * (a topic created a moment ago); never waits past timeout_ms (which librdkafka 2.0.2's
 * rd_kafka_query_watermark_offsets does, see admin.c). */
rd_kafka_resp_err_t km_admin_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo, int64_t *hi,
                                        int timeout_ms);

#endif
