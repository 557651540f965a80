/* reject.c — see reject.h. */
#include "reject.h"

#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEN 64        /* records remembered per topic, so a re-read is not logged again */
#define WINDOW_MS 60000
#define MAX_TOPICS 64  /* internal topics of all flows; more only share the last slot's limit */

typedef struct {
    char *topic;
    uint64_t count;
    int64_t window_start;
    int lines;          /* logged in this window */
    uint64_t left_out;  /* not logged since the last line */
    struct { int32_t partition; int64_t offset; } seen[SEEN];
    size_t nseen, next_seen;
} topic_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static topic_t topics[MAX_TOPICS];
static size_t ntopics;

static topic_t *topic_get(const char *name) {
    for (size_t i = 0; i < ntopics; i++)
        if (strcmp(topics[i].topic, name) == 0) return &topics[i];
    if (ntopics == MAX_TOPICS) return &topics[MAX_TOPICS - 1];
    topics[ntopics].topic = km_xstrdup(name);
    return &topics[ntopics++];
}

void km_reject(const char *topic, int32_t partition, int64_t offset, const char *fmt, ...) {
    if (!topic) topic = "?";
    pthread_mutex_lock(&lock);
    topic_t *t = topic_get(topic);
    for (size_t i = 0; i < t->nseen; i++)
        if (t->seen[i].partition == partition && t->seen[i].offset == offset) {
            pthread_mutex_unlock(&lock);
            return;
        }
    t->seen[t->next_seen].partition = partition;
    t->seen[t->next_seen].offset = offset;
    t->next_seen = (t->next_seen + 1) % SEEN;
    if (t->nseen < SEEN) t->nseen++;
    t->count++;
    int64_t now = km_now_mono_ms();
    if (t->lines == 0 || now - t->window_start >= WINDOW_MS) {
        t->window_start = now;
        t->lines = 0;
    }
    if (t->lines >= KM_REJECT_BURST) {
        t->left_out++;
        pthread_mutex_unlock(&lock);
        return;
    }
    t->lines++;
    uint64_t left_out = t->left_out;
    t->left_out = 0;
    pthread_mutex_unlock(&lock);
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    char more[96] = "";
    if (left_out) snprintf(more, sizeof(more), " (%llu earlier rejected record(s) of %s not logged)", (unsigned long long)left_out, topic);
    km_warn("internal topic %s partition %d offset %lld: invalid record rejected: %s%s", topic, partition, (long long)offset, why, more);
}

uint64_t km_reject_count(const char *topic) {
    uint64_t n = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ntopics; i++)
        if (strcmp(topics[i].topic, topic) == 0) n = topics[i].count;
    pthread_mutex_unlock(&lock);
    return n;
}

void km_reject_each(void (*fn)(const char *topic, uint64_t count, void *arg), void *arg) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ntopics; i++) fn(topics[i].topic, topics[i].count, arg);
    pthread_mutex_unlock(&lock);
}
