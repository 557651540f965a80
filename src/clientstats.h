/* clientstats.h — the statistics of one task's clients, read beside its record path (prefix
 * km_cstats_).
 *
 * librdkafka hands a client's statistics (statistics.interval.ms: one JSON document with an entry
 * per broker, topic and partition) to the thread that polls the client: for a task, the record
 * path. The document grows with the partitions: ~180 KB at 256 partitions, ~1.4 MB at 2,048,
 * which jansson took 6–12 ms and 73–100 ms to read, for the consumer and again for the producer
 * every interval, while every record of the task waited. So the record path only hands the
 * document over (km_cstats_offer: a pointer under a lock); a thread of this module reads it,
 * stores what the metrics show into the task's slot (brokers up, request retries and errors:
 * metrics.h), and keeps the source's last stable offsets until the record path takes them
 * (km_cstats_take_lsos, from the lag measurement, their only reader). At most one document per
 * client waits: a newer one replaces it, so a slow read never piles documents up. */
#ifndef KM_CLIENTSTATS_H
#define KM_CLIENTSTATS_H

#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct km_cstats km_cstats_t;

/* The last stable offsets of one consumer document, grouped by topic (entries of a topic are
 * next to each other and share its name pointer). */
typedef struct km_lso {
    const char *topic; /* one of km_lsos_t.topics */
    int32_t partition;
    int64_t lso;
} km_lso_t;

typedef struct km_lsos {
    km_lso_t *v;
    size_t n;
    char **topics;
    size_t ntopics;
} km_lsos_t;

/* Starts the reader thread; NULL when no thread can be started. */
km_cstats_t *km_cstats_start(km_task_slot_t *slot);
/* Hands a client's statistics document over. True: cs took json (librdkafka's buffer, freed with
 * rd_kafka_mem_free; the statistics callback must then return 1). False: cs is stopping. */
bool km_cstats_offer(km_cstats_t *cs, bool is_producer, char *json, size_t len);
/* The last stable offsets read since the last call, NULL when there are none; free with
 * km_lsos_free. An atomic load when there are none. */
km_lsos_t *km_cstats_take_lsos(km_cstats_t *cs);
void km_lsos_free(km_lsos_t *l);
/* Reads what was offered still, stops the thread and frees everything; NULL is ignored. */
void km_cstats_stop(km_cstats_t *cs);

/* Reads the last stable offsets out of a consumer's statistics document; NULL when it has none
 * (what the thread does; exposed for tests). */
km_lsos_t *km_cstats_read_lsos(const char *json, size_t len);

#endif
