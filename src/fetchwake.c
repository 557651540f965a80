/* fetchwake.c — see fetchwake.h.
 *
 * The consuming thread only compares numbers (km_fetchwake_observe: no lock, no syscall unless it
 * wakes the helper); the helper thread does the blocking request. Wake-ups are coalesced: while
 * one request is out, further ones make one more request after it, which bounds them to about one
 * per round trip. */
#include "fetchwake.h"

#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* One partition per leader broker would do, but which broker leads what is librdkafka's; a
 * rotating window of the assignment reaches every leader of a few hundred partitions within a
 * few wake-ups without sending thousands of partitions each time. */
#define WAKE_PARTITIONS_MAX 64
/* The request only has to reach the brokers; its answer is not used. */
#define WAKE_TIMEOUT_MS 500 /* also what stopping a task may wait for it */

struct km_fetchwake {
    rd_kafka_t *rk; /* the consumer; not owned */
    char *name;
    int64_t max_records, max_bytes;
    /* consuming thread only */
    int64_t avg_bytes; /* value bytes per record, smoothed */
    bool armed;        /* the queue reached its limit: librdkafka has stopped fetching */
    /* helper thread only */
    int cursor;
    int64_t sent;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool pending, stop; /* under lock */
    pthread_t thread;
};

static void wake_brokers(km_fetchwake_t *w) {
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(w->rk, &a) || !a) return;
    if (a->cnt > 0) {
        int n = a->cnt < WAKE_PARTITIONS_MAX ? a->cnt : WAKE_PARTITIONS_MAX;
        rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++) {
            const rd_kafka_topic_partition_t *p = &a->elems[(w->cursor + i) % a->cnt];
            rd_kafka_topic_partition_list_add(q, p->topic, p->partition)->offset = RD_KAFKA_OFFSET_END;
        }
        w->cursor = (w->cursor + n) % a->cnt;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(w->rk, q, WAKE_TIMEOUT_MS);
        if (err) km_debug("%s: fetch wake-up request: %s", w->name, rd_kafka_err2str(err));
        w->sent++;
        rd_kafka_topic_partition_list_destroy(q);
    }
    rd_kafka_topic_partition_list_destroy(a);
}

static void *helper_main(void *arg) {
    km_fetchwake_t *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->pending && !w->stop) pthread_cond_wait(&w->cond, &w->lock);
        if (w->stop) break;
        /* Cleared before the request: a wake-up asked for while it is out (the queue may have
         * been full again when it arrived) gets a request of its own after it. */
        w->pending = false;
        pthread_mutex_unlock(&w->lock);
        wake_brokers(w);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

km_fetchwake_t *km_fetchwake_new(rd_kafka_t *consumer, const char *name, int64_t max_records, int64_t max_kbytes) {
    km_fetchwake_t *w = km_xcalloc(1, sizeof(*w));
    w->rk = consumer;
    w->name = km_xstrdup(name);
    w->max_records = max_records > 0 ? max_records : 1;
    w->max_bytes = max_kbytes > 0 ? max_kbytes * 1024 : INT64_MAX;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, helper_main, w) != 0) {
        km_warn("%s: no thread for fetch wake-ups: a small prefetch (memory.max.bytes) may cost rate", name);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w->name);
        free(w);
        return NULL;
    }
    return w;
}

void km_fetchwake_observe(km_fetchwake_t *w, int64_t queued, int64_t records, int64_t record_bytes) {
    if (!w) return;
    if (records > 0) {
        int64_t b = record_bytes / records;
        w->avg_bytes = w->avg_bytes ? w->avg_bytes + (b - w->avg_bytes) / 8 : b;
    }
    int64_t full = w->max_records;
    if (w->avg_bytes > 0 && w->max_bytes / w->avg_bytes < full) full = w->max_bytes / w->avg_bytes;
    /* What the queue held before this batch was taken is what librdkafka compared with its
     * limits: one batch can take a full queue below half (BATCH_MAX against a prefetch of a few
     * tens of thousands of records), and judged by what is left the waker never armed. */
    if (queued + records >= full - full / 10) w->armed = true;
    if (w->armed && queued <= full / 2) {
        w->armed = false;
        pthread_mutex_lock(&w->lock);
        bool idle = !w->pending;
        w->pending = true;
        pthread_mutex_unlock(&w->lock);
        if (idle) pthread_cond_signal(&w->cond);
    }
}

void km_fetchwake_free(km_fetchwake_t *w) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    km_debug("%s: %lld fetch wake-up request(s) sent", w->name, (long long)w->sent);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->name);
    free(w);
}
