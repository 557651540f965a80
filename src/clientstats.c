/* clientstats.c — see clientstats.h.
 *
 * The record path takes the lock only to swap a pointer (an offer, a take); the thread reads
 * documents without it. Stopping reads what is still waiting first, so the last numbers of a
 * stopping task still reach its slot. */
#include "clientstats.h"

#include "util.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct doc {
    char *json; /* librdkafka's; NULL none */
    size_t len;
} doc_t;

struct km_cstats {
    km_task_slot_t *slot; /* not owned; written by the thread only */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    doc_t waiting[2];  /* under lock; [0] consumer, [1] producer */
    km_lsos_t *lsos;   /* under lock: read, not taken yet */
    _Atomic bool has_lsos;
    bool stop;         /* under lock */
};

static void drop_doc(doc_t *d) {
    if (d->json) rd_kafka_mem_free(NULL, d->json);
    *d = (doc_t){0};
}

void km_lsos_free(km_lsos_t *l) {
    if (!l) return;
    for (size_t i = 0; i < l->ntopics; i++) free(l->topics[i]);
    free(l->topics);
    free(l->v);
    free(l);
}

static void add_topic(km_lsos_t *l, const char *name, json_t *parts) {
    const char *key;
    json_t *part;
    const char *own = NULL;
    if (!json_object_size(parts)) return;
    l->v = km_xrealloc(l->v, (l->n + json_object_size(parts)) * sizeof(*l->v));
    json_object_foreach(parts, key, part) {
        json_t *lso = json_object_get(part, "ls_offset");
        char *end;
        long j = strtol(key, &end, 10);
        if (*end || j < 0 || j > INT32_MAX || !json_is_integer(lso)) continue; /* "-1": librdkafka's unassigned partition */
        if (!own) {
            l->topics = km_xrealloc(l->topics, (l->ntopics + 1) * sizeof(*l->topics));
            own = l->topics[l->ntopics++] = km_xstrdup(name);
        }
        l->v[l->n++] = (km_lso_t){own, (int32_t)j, json_integer_value(lso)};
    }
}

static km_lsos_t *lsos_of(json_t *doc) {
    km_lsos_t *l = km_xcalloc(1, sizeof(*l));
    const char *name;
    json_t *topic;
    json_object_foreach(json_object_get(doc, "topics"), name, topic) add_topic(l, name, json_object_get(topic, "partitions"));
    if (l->n) return l;
    km_lsos_free(l);
    return NULL;
}

km_lsos_t *km_cstats_read_lsos(const char *json, size_t len) {
    json_t *doc = json_loadb(json, len, 0, NULL);
    km_lsos_t *l = doc ? lsos_of(doc) : NULL;
    json_decref(doc);
    return l;
}

static void read_doc(km_cstats_t *cs, bool is_producer, const doc_t *d) {
    json_t *doc = json_loadb(d->json, d->len, 0, NULL);
    if (!doc) return; /* librdkafka writes valid JSON; nothing to show from anything else */
    km_task_slot_client_stats_doc(cs->slot, is_producer, doc);
    km_lsos_t *l = is_producer ? NULL : lsos_of(doc);
    json_decref(doc);
    if (!l) return;
    pthread_mutex_lock(&cs->lock);
    km_lsos_free(cs->lsos); /* not taken: the newer ones replace them */
    cs->lsos = l;
    atomic_store(&cs->has_lsos, true);
    pthread_mutex_unlock(&cs->lock);
}

static void *reader_main(void *arg) {
    km_cstats_t *cs = arg;
    pthread_mutex_lock(&cs->lock);
    for (;;) {
        int i = cs->waiting[0].json ? 0 : cs->waiting[1].json ? 1 : -1;
        if (i < 0 && cs->stop) break;
        if (i < 0) {
            pthread_cond_wait(&cs->cond, &cs->lock);
            continue;
        }
        doc_t d = cs->waiting[i];
        cs->waiting[i] = (doc_t){0};
        pthread_mutex_unlock(&cs->lock);
        read_doc(cs, i == 1, &d);
        drop_doc(&d);
        pthread_mutex_lock(&cs->lock);
    }
    pthread_mutex_unlock(&cs->lock);
    return NULL;
}

km_cstats_t *km_cstats_start(km_task_slot_t *slot) {
    km_cstats_t *cs = km_xcalloc(1, sizeof(*cs));
    cs->slot = slot;
    pthread_mutex_init(&cs->lock, NULL);
    pthread_cond_init(&cs->cond, NULL);
    if (pthread_create(&cs->thread, NULL, reader_main, cs) != 0) {
        pthread_cond_destroy(&cs->cond);
        pthread_mutex_destroy(&cs->lock);
        free(cs);
        return NULL;
    }
    return cs;
}

bool km_cstats_offer(km_cstats_t *cs, bool is_producer, char *json, size_t len) {
    pthread_mutex_lock(&cs->lock);
    bool took = !cs->stop;
    doc_t old = {0};
    if (took) {
        old = cs->waiting[is_producer];
        cs->waiting[is_producer] = (doc_t){json, len};
        pthread_cond_signal(&cs->cond);
    }
    pthread_mutex_unlock(&cs->lock);
    drop_doc(&old); /* outside the lock: the reader never waits for a free */
    return took;
}

km_lsos_t *km_cstats_take_lsos(km_cstats_t *cs) {
    if (!atomic_load_explicit(&cs->has_lsos, memory_order_relaxed)) return NULL;
    pthread_mutex_lock(&cs->lock);
    km_lsos_t *l = cs->lsos;
    cs->lsos = NULL;
    atomic_store(&cs->has_lsos, false);
    pthread_mutex_unlock(&cs->lock);
    return l;
}

void km_cstats_stop(km_cstats_t *cs) {
    if (!cs) return;
    pthread_mutex_lock(&cs->lock);
    cs->stop = true;
    pthread_cond_signal(&cs->cond);
    pthread_mutex_unlock(&cs->lock);
    pthread_join(cs->thread, NULL);
    km_lsos_free(cs->lsos);
    pthread_cond_destroy(&cs->cond);
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}
