/* reaper.h — destroys a task's consumed messages on a thread of its own.
 *
 * A mirrored record's source message lives until its delivery report (it pins the fetched batch
 * its value points into, the zero-copy produce). Destroying it there is ~240 instructions per
 * record on the task thread (the op, its message, the batch's reference), the thread that bounds
 * the rate of small records (bench/results/2026-12-06.md sections 1 and 10). The task collects them
 * instead and hands them over in batches, one lock per batch; a helper thread destroys them.
 *
 * Memory stays bounded: a batch is handed over at least once per task loop iteration, and when it
 * is full (a count, or the bytes of the values it pins) while the helper still works on the
 * previous one, the task destroys it itself. km_reaper_flush returns once every message handed in
 * is destroyed: before the consumer is closed, and wherever messages must be gone. */
#ifndef KM_REAPER_H
#define KM_REAPER_H

#include <librdkafka/rdkafka.h>

typedef struct km_reaper km_reaper_t;

/* NULL when the thread cannot be started: then km_reaper_add destroys at once. */
km_reaper_t *km_reaper_new(const char *name);
/* Takes m (NULL reaper: destroys it now). Owner thread only. */
void km_reaper_add(km_reaper_t *r, rd_kafka_message_t *m);
/* Hands over what was collected unless the helper is busy (then it waits for the next call or
 * for the batch to fill). Owner thread only; once per loop iteration. */
void km_reaper_tick(km_reaper_t *r);
/* Returns once every message added so far is destroyed. Owner thread only. */
void km_reaper_flush(km_reaper_t *r);
/* Flushes and stops the thread. */
void km_reaper_free(km_reaper_t *r);

#endif
