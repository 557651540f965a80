/* reaper.c — see reaper.h.
 *
 * Two arrays change hands: the owner fills `filling`; a hand-over swaps it with the helper's empty
 * `handed` under the lock, so the owner never waits on the helper's work, only on the lock. */
#include "reaper.h"

#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* A batch is full at this many messages or once its values add up to REAPER_BYTES_MAX: large
 * records each pin a large fetched batch, whose release must not wait for thousands of them. */
#define REAPER_MSGS_MAX 4096
#define REAPER_BYTES_MAX (4 * 1024 * 1024)

struct km_reaper {
    /* owner thread only */
    rd_kafka_message_t **filling;
    size_t nfilling;
    size_t bytes;
    /* under lock */
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    rd_kafka_message_t **handed;
    size_t nhanded;
    bool busy; /* the helper holds a batch it has not finished destroying */
    bool stop;
    pthread_t thread;
};

static void destroy_all(rd_kafka_message_t **msgs, size_t n) {
    for (size_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
}

static void *reaper_main(void *arg) {
    km_reaper_t *r = arg;
    rd_kafka_message_t **mine = km_xmalloc(REAPER_MSGS_MAX * sizeof(*mine));
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->nhanded && !r->stop) pthread_cond_wait(&r->work, &r->lock);
        if (!r->nhanded) break; /* stopping, nothing left */
        rd_kafka_message_t **batch = r->handed;
        size_t n = r->nhanded;
        r->handed = mine;
        r->nhanded = 0;
        r->busy = true;
        pthread_mutex_unlock(&r->lock);
        destroy_all(batch, n);
        mine = batch;
        pthread_mutex_lock(&r->lock);
        r->busy = false;
        pthread_cond_broadcast(&r->done);
    }
    pthread_mutex_unlock(&r->lock);
    free(mine);
    return NULL;
}

static void release(km_reaper_t *r) {
    pthread_cond_destroy(&r->done);
    pthread_cond_destroy(&r->work);
    pthread_mutex_destroy(&r->lock);
    free(r->handed);
    free(r->filling);
    free(r);
}

km_reaper_t *km_reaper_new(const char *name) {
    km_reaper_t *r = km_xcalloc(1, sizeof(*r));
    r->filling = km_xmalloc(REAPER_MSGS_MAX * sizeof(*r->filling));
    r->handed = km_xmalloc(REAPER_MSGS_MAX * sizeof(*r->handed));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->work, NULL);
    pthread_cond_init(&r->done, NULL);
    if (pthread_create(&r->thread, NULL, reaper_main, r) != 0) {
        km_warn("%s: cannot start the thread that frees consumed records; the task frees them itself", name);
        release(r);
        return NULL;
    }
    return r;
}

/* Swaps the owner's batch in when the helper has taken the last one; false otherwise. */
static bool hand_over(km_reaper_t *r) {
    pthread_mutex_lock(&r->lock);
    bool free_slot = r->nhanded == 0;
    if (free_slot) {
        rd_kafka_message_t **empty = r->handed;
        r->handed = r->filling;
        r->nhanded = r->nfilling;
        r->filling = empty;
        r->nfilling = 0;
        r->bytes = 0;
        pthread_cond_signal(&r->work);
    }
    pthread_mutex_unlock(&r->lock);
    return free_slot;
}

/* A batch the helper cannot take yet is not held back for it. */
static void hand_over_or_destroy(km_reaper_t *r) {
    if (hand_over(r)) return;
    destroy_all(r->filling, r->nfilling);
    r->nfilling = 0;
    r->bytes = 0;
}

void km_reaper_add(km_reaper_t *r, rd_kafka_message_t *m) {
    if (!r) {
        rd_kafka_message_destroy(m);
        return;
    }
    r->filling[r->nfilling++] = m;
    r->bytes += m->len;
    if (r->nfilling >= REAPER_MSGS_MAX || r->bytes >= REAPER_BYTES_MAX) hand_over_or_destroy(r);
}

void km_reaper_tick(km_reaper_t *r) {
    if (r && r->nfilling) hand_over(r);
}

void km_reaper_flush(km_reaper_t *r) {
    if (!r) return;
    if (r->nfilling) hand_over_or_destroy(r);
    pthread_mutex_lock(&r->lock);
    while (r->nhanded || r->busy) pthread_cond_wait(&r->done, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

void km_reaper_free(km_reaper_t *r) {
    if (!r) return;
    km_reaper_flush(r);
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    release(r);
}
