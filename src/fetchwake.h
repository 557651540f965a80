/* fetchwake.h — wakes librdkafka 2.0.2's fetcher when a replication consumer's prefetch drains.
 *
 * When the consumer queue holds queued.min.messages records (or queued.max.messages.kbytes),
 * librdkafka 2.0.2 stops fetching and its broker thread sleeps until some request or response
 * of that broker wakes it, at the latest after 1 s (a fixed constant; 2.2.0 added
 * fetch.queue.backoff.ms for it). A prefetch smaller than one second of records therefore runs
 * dry and the task idles until the second is over: that is why a small memory.max.bytes cost
 * small records their rate. The waker watches the queue the task consumes from and, once it
 * was full and has drained to half, has a helper thread ask the source for the partitions' end
 * offsets (ListOffsets, which the task's DESCRIBE on the topic allows): the request goes through
 * the very broker threads that fetch, and they fetch again at once. */
#ifndef KM_FETCHWAKE_H
#define KM_FETCHWAKE_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

typedef struct km_fetchwake km_fetchwake_t;

/* consumer must outlive the waker; max_records and max_kbytes are the consumer's
 * queued.min.messages and queued.max.messages.kbytes. NULL if no thread could be started
 * (the consumer then works as librdkafka has it). */
km_fetchwake_t *km_fetchwake_new(rd_kafka_t *consumer, const char *name, int64_t max_records, int64_t max_kbytes);
/* From the consuming thread after each batch: queued is rd_kafka_queue_length of the consumer
 * queue, record_bytes the value bytes of the batch just consumed and records its count. */
void km_fetchwake_observe(km_fetchwake_t *w, int64_t queued, int64_t records, int64_t record_bytes);
/* Stops and joins the helper thread. NULL is fine. */
void km_fetchwake_free(km_fetchwake_t *w);

#endif
