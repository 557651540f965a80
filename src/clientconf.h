/* clientconf.h — Java Kafka client properties → librdkafka properties.
 *
 * MM2 users configure Java clients ({alias}.consumer.fetch.max.bytes, sasl.jaas.config, JKS
 * stores...). kmirror keeps those files working: names librdkafka knows pass through (checked
 * against librdkafka itself, so every value is validated before any client starts); common
 * Java-only names are translated (units, stores, JAAS); names with no equivalent are warned
 * about, never silently dropped. kmirror's own client defaults (idempotent acks=all producer,
 * replicator-sized consumer queues) are added where the user set nothing. */
#ifndef KM_CLIENTCONF_H
#define KM_CLIENTCONF_H

#include "diag.h"
#include "props.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

typedef enum { KM_CLIENT_CONSUMER, KM_CLIENT_PRODUCER, KM_CLIENT_ADMIN } km_client_role_t;

/* Translates `java` into `out` (librdkafka names and values). `file` is the configuration file
 * name for "file:line:" in messages. Returns the number of errors added to d. */
int km_clientconf_translate(const km_props_t *java, km_client_role_t role, const char *file,
                            km_props_t *out, km_diag_t *d);

/* Defaults of the offset-syncs producer (it writes to the source cluster, often across a WAN), on
 * top of km_clientconf_translate's producer defaults: not idempotent, one request in flight, unless
 * the user set enable.idempotence or max.in.flight(.requests.per.connection). See clientconf.c. */
void km_clientconf_offset_syncs_defaults(const km_props_t *java, km_props_t *out);

/* Defaults of the replication consumer once the process's memory budget is shared out (config.c),
 * each unless the user set it: max.partition.fetch.bytes = 4 MiB, at most inflight_max_bytes / 8
 * and fetch.max.bytes, at least 1 MiB; queued.max.messages.kbytes, queued.min.messages and
 * fetch.max.bytes (a quarter, 1 to 50 MiB) from prefetch_bytes, this consumer's share of the
 * budget. See clientconf.c. */
void km_clientconf_replication_consumer_defaults(const km_props_t *java, km_props_t *out, int64_t inflight_max_bytes,
                                                  int64_t prefetch_bytes);

/* A cluster that answers in under this many microseconds is on the same LAN. */
#define KM_LAN_RTT_US 500

/* The prefetch a replication consumer gets out of `share` (its task's part of memory.max.bytes)
 * when the source answers in `rtt_us`: 56 MiB for a source on the same LAN (under
 * KM_LAN_RTT_US), else (or not measured, < 0) the whole share. A consumer reads about a
 * quarter of its prefetch per round trip. See clientconf.c. */
int64_t km_clientconf_prefetch_for_rtt(int64_t share, int64_t rtt_us);

/* The most records a task of a flow keeps in flight (read, not yet acknowledged) when its target
 * answers in `rtt_us` (< 0: not timed), out of `budget` (inflight.max.bytes, the whole
 * process's): 32 MiB for a target on the same LAN (under KM_LAN_RTT_US) unless the user set
 * inflight.max.bytes (`set`), else all of the budget. See clientconf.c. */
int64_t km_clientconf_task_inflight_for_rtt(int64_t budget, bool set, int64_t rtt_us);

/* The replication producer's defaults for a target that answers in `rtt_us` (< 0: not timed):
 * on the same LAN (under KM_LAN_RTT_US), an idempotent producer gets one request in flight per
 * broker connection unless the user set max.in.flight.requests.per.connection (or librdkafka's
 * max.in.flight), and then linger.ms = 2 unless the user set it (or queue.buffering.max.ms).
 * `java` holds the user's keys. True when it set the requests in flight. See clientconf.c. */
bool km_clientconf_replication_producer_defaults(const km_props_t *java, km_props_t *out, int64_t rtt_us);

/* A librdkafka configuration holding every entry of `rk`; NULL with errstr on failure. */
rd_kafka_conf_t *km_clientconf_new(const km_props_t *rk, char *errstr, size_t errlen);

const char *km_client_role_name(km_client_role_t role);

#endif
