/* kt.h — test-support library for the integration suites in tests/it (prefix kt_).
 *
 * The suites drive real Kafka clusters (tests/run.sh starts them with
 * scripts/kafka-test-cluster.sh and passes their addresses in KMIRROR_IT_A / KMIRROR_IT_B) and
 * the kmirror binary (KMIRROR_BIN). kt wraps what every such test repeats: topics in, records in,
 * records out, waiting, and child processes. It uses librdkafka directly, never kmirror's own
 * code, so a bug in kmirror cannot hide itself by also being in the checker.
 *
 * Conventions: functions return 0 (or a count) on success and -1 on failure, after printing one
 * line to stderr that says which call failed on what and why; tests then assert on the return
 * value and the TAP output carries the reason. Every network call gives up after KT_TIMEOUT_MS
 * unless it takes its own timeout. Calls share no state (each makes its own client), so a test may
 * run them from several threads, e.g. produce while kt_consume waits for an expected count. */
#ifndef KT_H
#define KT_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KT_TIMEOUT_MS 30000
/* kt_msg_t.partition value that lets librdkafka's partitioner choose. */
#define KT_ANY_PARTITION RD_KAFKA_PARTITION_UA

/* A record header. In kt_msg_t it points at the caller's memory; in a kt_record_t it is owned by
 * the record. value == NULL is a null header value (distinct from an empty one). */
typedef struct kt_header {
    const char *name;
    const void *value;
    size_t value_len; /* when producing: 0 with a non-NULL value means strlen(value) */
} kt_header_t;

/* One record to produce. Zero-initialised fields mean: partition 0, null key, null value
 * (a tombstone), timestamp "now", no headers. For key and value, a length of 0 with a non-NULL
 * pointer means strlen(pointer), so string literals need no lengths ("" is an empty key). */
typedef struct kt_msg {
    int32_t partition; /* or KT_ANY_PARTITION */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp; /* ms since the epoch; 0 = the producer's clock */
    const kt_header_t *headers;
    size_t header_cnt;
} kt_msg_t;

/* Where a produced record landed. */
typedef struct kt_delivery {
    int32_t partition;
    int64_t offset;
} kt_delivery_t;

/* A consumed record; every pointer is owned by the record (kt_records_free). key and value are
 * NULL for null, and otherwise followed by a NUL byte that is not counted in the length, so text
 * compares with assert_string_equal. Header values are NUL-terminated the same way. */
typedef struct kt_record {
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    rd_kafka_timestamp_type_t tstype;
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    kt_header_t *headers;
    size_t header_cnt;
} kt_record_t;

/* What kt_consume reads and when it stops. All-zero (or a NULL pointer) means: every partition
 * of the topic, from the beginning up to the end the partitions have when the call starts,
 * giving up after KT_TIMEOUT_MS. */
typedef struct kt_consume_opts {
    int32_t partition_first;
    int32_t partition_count; /* 0 = all partitions from partition_first on */
    size_t expected;         /* > 0: stop at this many records (or the deadline) instead of at the end */
    int timeout_ms;          /* 0 = KT_TIMEOUT_MS */
    const char *const *conf; /* extra consumer properties: "key", "value", ..., NULL */
} kt_consume_opts_t;

/* A client of the given type for bootstrap, with extra properties ("key", "value", ..., NULL;
 * conf may be NULL). Errors from librdkafka's background threads are printed to stderr. */
rd_kafka_t *kt_client(rd_kafka_type_t type, const char *bootstrap, const char *const *conf);

/* A group member: a consumer for bootstrap (conf as kt_client's, with "group.id") subscribed to
 * topic and polled until the group gave it at least `min` partitions or timeout_ms passed; the
 * count it holds goes to *assigned. NULL when the client cannot be made. The caller polls it to
 * keep it in the group (kt_member_poll), then closes and destroys it. */
rd_kafka_t *kt_group_member(const char *bootstrap, const char *topic, const char *const *conf, int min, int timeout_ms,
                            int *assigned);
/* Polls member once for up to timeout_ms (a record read is dropped): the partitions it holds. */
int kt_member_poll(rd_kafka_t *member, int timeout_ms);

/* Connection properties ("key", "value", ..., NULL; kept by reference, so static) that every
 * client kt makes for `bootstrap` gets, before the call's own: for secured clusters. */
void kt_cluster_conf(const char *bootstrap, const char *const *conf);

/* Creates topic with `partitions` partitions at the broker's default replication factor and
 * topic configs ("key", "value", ..., NULL; configs may be NULL), and waits until every partition
 * has a leader, so the topic is usable as soon as this returns 0. */
int kt_create_topic(const char *bootstrap, const char *topic, int partitions, const char *const *configs);
/* Deletes topic and waits until the cluster no longer lists it. A missing topic is success. */
int kt_delete_topic(const char *bootstrap, const char *topic);
/* The number of partitions of topic, 0 if it does not exist, -1 if the cluster did not answer. */
int kt_partition_count(const char *bootstrap, const char *topic);
/* Grows topic to `total` partitions (CreatePartitions) and waits until every one has a leader. */
int kt_create_partitions(const char *bootstrap, const char *topic, int total);
/* Deletes the records of topic's partition before offset `before` (DeleteRecords, what retention
 * does), so the partition's log start offset becomes `before`. */
int kt_delete_records(const char *bootstrap, const char *topic, int32_t partition, int64_t before);

/* Produces n records to topic, one by one in order, waits for every acknowledgement and fails if
 * any record failed. acks=all with idempotence, so a record is written exactly once. conf adds or
 * overrides producer properties (may be NULL); out, if not NULL, receives n deliveries. */
int kt_produce(const char *bootstrap, const char *topic, const kt_msg_t *msgs, size_t n, const char *const *conf,
               kt_delivery_t *out);
/* kt_produce of n records keyed "k" whose values are value_size bytes of 'v', record i to
 * partition i % partitions: load for tests that count bytes, not contents. */
int kt_produce_sized(const char *bootstrap, const char *topic, int n, int partitions, size_t value_size,
                     const char *const *conf);

/* Reads records of topic from the beginning (see kt_consume_opts_t) into *out, sorted by
 * partition and offset, count in *n. Partitions are assigned, not subscribed, and nothing is
 * committed, so no consumer group appears on the cluster. Returns 0 when the end or the expected count was reached, -1 otherwise
 * (deadline, unknown topic); *out and *n are filled either way so a failing test can show what
 * did arrive. Free with kt_records_free. */
int kt_consume(const char *bootstrap, const char *topic, const kt_consume_opts_t *opts, kt_record_t **out, size_t *n);
void kt_records_free(kt_record_t *recs, size_t n);
/* The first header of r called name, or NULL. */
const kt_header_t *kt_record_header(const kt_record_t *r, const char *name);

/* High watermarks (the offset the next record will get) of partitions 0..n-1 of topic into hw. */
int kt_high_watermarks(const char *bootstrap, const char *topic, int64_t *hw, int32_t n);
/* The sum of those high watermarks: how many records partitions 0..n-1 ever took (n <= 1024),
 * or -1 when one cannot be read. */
int64_t kt_topic_records(const char *bootstrap, const char *topic, int32_t n);

/* Calls cond(arg) until it returns true or timeout_ms have passed, backing off from 10 ms to
 * 200 ms between calls. Returns whether cond became true. */
bool kt_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* "prefix-PID-START-N" in buf: unique per process (N counts up) and per run (PID and the start
 * time in seconds), so suites running against long-lived clusters do not collide. Only [A-Za-z0-9-]
 * are added, never '.', which replication policies treat as a separator. Returns buf. */
char *kt_unique_name(const char *prefix, char *buf, size_t bufsize);

/* Milliseconds since the epoch (what record timestamps are compared with). */
int64_t kt_wall_ms(void);

/* Starts argv[0] (searched in PATH) with argv, stdin from /dev/null, stdout and stderr appended
 * to log_path. Returns the child's pid or -1. */
pid_t kt_spawn(char *const argv[], const char *log_path);
/* SIGKILLs every child kt_spawn started that is still running (also run at exit): a cmocka
 * teardown for tests that spawn. */
void kt_kill_children(void);
/* kill(pid, sig) that reports failure. */
int kt_signal(pid_t pid, int sig);
/* Waits up to timeout_ms for child pid to exit and stores its wait status (WIFEXITED etc.) in
 * *status if not NULL. Returns 0 when it exited, -1 on timeout or error (the child lives on). */
int kt_wait_exit(pid_t pid, int timeout_ms, int *status);

/* The whole content of a file, NUL-terminated, or NULL if it cannot be read; caller frees. */
char *kt_read_file(const char *path);

#endif
