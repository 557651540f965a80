/* positions.c — see positions.h. */
#include "positions.h"

#include "admin.h"
#include "log.h"
#include "records.h"
#include "reject.h"
#include "util.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONNECTOR "MirrorSourceConnector"

char *km_pos_encode_key(const char *cluster, const char *topic, int32_t partition, size_t *len) {
    /* JSON_PRESERVE_ORDER + this insertion order reproduces Connect's cluster, partition, topic. */
    json_t *obj = json_object();
    json_object_set_new(obj, "cluster", json_string(cluster));
    json_object_set_new(obj, "partition", json_integer(partition));
    json_object_set_new(obj, "topic", json_string(topic));
    json_t *arr = json_array();
    json_array_append_new(arr, json_string(CONNECTOR));
    json_array_append_new(arr, obj);
    char *s = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(arr);
    if (!s) km_oom();
    *len = strlen(s);
    return s;
}

char *km_pos_encode_value(int64_t offset, size_t *len) {
    char *s = km_xasprintf("{\"offset\":%lld}", (long long)offset);
    *len = strlen(s);
    return s;
}

int km_pos_decode_key(const void *key, size_t len, char **cluster, char **topic, int32_t *partition) {
    *cluster = *topic = NULL;
    if (!key) return -1;
    json_t *j = json_loadb(key, len, 0, NULL);
    json_t *name = json_array_get(j, 0), *obj = json_array_get(j, 1);
    int rc = -2; /* corrupt, unless another connector's or ours */
    if (json_is_string(name) && strcmp(json_string_value(name), CONNECTOR) != 0) {
        rc = -1;
    } else if (json_is_object(obj)) {
        json_t *c = json_object_get(obj, "cluster"), *t = json_object_get(obj, "topic"), *p = json_object_get(obj, "partition");
        if (json_is_string(c)) *cluster = km_xstrdup(json_string_value(c));
        if (json_is_string(t)) *topic = km_xstrdup(json_string_value(t));
        json_int_t v = json_is_integer(p) ? json_integer_value(p) : -1;
        if (json_array_size(j) == 2 && json_is_string(name) && *cluster && *topic && v >= 0 && v <= INT32_MAX) {
            *partition = (int32_t)v;
            rc = 0;
        }
    }
    json_decref(j);
    if (rc == -1) {
        free(*cluster);
        free(*topic);
        *cluster = *topic = NULL;
    }
    return rc;
}

int km_pos_decode_value(const void *value, size_t len, int64_t *offset) {
    if (!value) return -1;
    json_t *j = json_loadb(value, len, 0, NULL);
    json_t *o = json_object_get(j, "offset");
    int rc = -1;
    if (json_is_integer(o) && KM_OFFSET_VALID(json_integer_value(o))) {
        *offset = json_integer_value(o);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

size_t km_pos_encode_ts(int64_t ts, char *buf) { return (size_t)snprintf(buf, 21, "%lld", (long long)ts); }

int km_pos_decode_ts(const void *value, size_t len, int64_t *ts) {
    const char *s = value;
    if (!s || len == 0 || len > 18 || s[0] == '0') return -1; /* 18 digits cannot overflow */
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *ts = v;
    return 0;
}

static int cmp(const char *topic, int32_t partition, const km_position_t *p) {
    int c = strcmp(topic, p->topic);
    return c ? c : (partition > p->partition) - (partition < p->partition);
}

/* Index of (topic, partition), or of where it would be inserted (*found = 0). */
static size_t find(const km_positions_t *p, const char *topic, int32_t partition, int *found) {
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp(topic, partition, &p->items[mid]);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    *found = 0;
    return lo;
}

int64_t km_positions_get(const km_positions_t *p, const char *topic, int32_t partition) {
    int found;
    size_t i = find(p, topic, partition, &found);
    return found ? p->items[i].offset : -1;
}

int64_t km_positions_ts(const km_positions_t *p, const char *topic, int32_t partition) {
    int found;
    size_t i = find(p, topic, partition, &found);
    return found && p->items[i].offset >= 0 ? p->items[i].ts : -1;
}

void km_positions_set(km_positions_t *p, const char *topic, int32_t partition, int64_t offset, int64_t ts) {
    int found;
    size_t i = find(p, topic, partition, &found);
    if (found) {
        p->items[i].offset = offset;
        p->items[i].ts = ts;
        p->items[i].rejected_at = -1;
        return;
    }
    if (p->n == p->cap) p->items = km_xrealloc(p->items, (p->cap = p->cap ? p->cap * 2 : 64) * sizeof(*p->items));
    memmove(&p->items[i + 1], &p->items[i], (p->n - i) * sizeof(*p->items));
    p->items[i] = (km_position_t){km_xstrdup(topic), partition, offset, ts, -1};
    p->n++;
}

void km_positions_reject(km_positions_t *p, const char *topic, int32_t partition, int64_t at) {
    km_positions_set(p, topic, partition, -1, -1);
    int found;
    p->items[find(p, topic, partition, &found)].rejected_at = at;
}

int64_t km_positions_rejected(const km_positions_t *p, const char *topic, int32_t partition) {
    int found;
    size_t i = find(p, topic, partition, &found);
    return found ? p->items[i].rejected_at : -1;
}

size_t km_positions_nrejected(const km_positions_t *p, const km_position_t **first) {
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->items[i].rejected_at >= 0 && n++ == 0 && first) *first = &p->items[i];
    return n;
}

void km_positions_remove(km_positions_t *p, const char *topic, int32_t partition) {
    int found;
    size_t i = find(p, topic, partition, &found);
    if (!found) return;
    free(p->items[i].topic);
    memmove(&p->items[i], &p->items[i + 1], (p->n - i - 1) * sizeof(*p->items));
    p->n--;
}

void km_positions_free(km_positions_t *p) {
    for (size_t i = 0; i < p->n; i++) free(p->items[i].topic);
    free(p->items);
    memset(p, 0, sizeof(*p));
}

/* The KM_POS_TS_HEADER of a position record, -1 without one. An unreadable one only costs the
 * check it enables, so it is reported and the position kept. */
static int64_t record_ts(const rd_kafka_message_t *m, const char *topic, int32_t partition) {
    rd_kafka_headers_t *h;
    const void *v;
    size_t len;
    int64_t ts = -1;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, KM_POS_TS_HEADER, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (km_pos_decode_ts(v, len, &ts) != 0) {
        km_reject(rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                  "the %s header of the position of %s-%d is not a timestamp; the position is kept, without the check "
                  "that the source log is still the one mirrored", KM_POS_TS_HEADER, topic, partition);
        return -1;
    }
    return ts;
}

static void apply_record(const rd_kafka_message_t *m, const char *cluster, km_positions_t *out) {
    char *c, *t;
    int32_t part;
    int rc = km_pos_decode_key(m->key, m->key_len, &c, &t, &part);
    const char *otopic = rd_kafka_topic_name(m->rkt);
    int64_t off;
    if (rc == -1 || (c && strcmp(c, cluster) != 0)) {
        /* another connector's key, or another source cluster's position */
    } else if (rc == -2) {
        km_reject(otopic, m->partition, m->offset,
                  "not a position key: MirrorSourceConnector, a cluster, a topic and a partition in 0..2147483647 expected%s%s%s; ignored",
                  t ? " (topic " : "", t ? t : "", t ? ")" : "");
    } else if (!m->payload) {
        km_positions_remove(out, t, part);
    } else if (km_pos_decode_value(m->payload, m->len, &off) == 0) {
        km_positions_set(out, t, part, off, record_ts(m, t, part));
    } else {
        km_reject(otopic, m->partition, m->offset,
                  "the position of %s-%d is not {\"offset\":N} with 0 <= N < 2^63-1; the partition is not replicated until a valid position or a tombstone replaces it",
                  t, part);
        km_positions_reject(out, t, part, m->offset);
    }
    free(c);
    free(t);
}

static bool cancelled(const _Atomic bool *cancel, char *errstr, size_t errlen) {
    if (!cancel || !atomic_load(cancel)) return false;
    snprintf(errstr, errlen, "interrupted: the read was called off");
    return true;
}

/* Assigns every partition of `topic` from the beginning and records the high watermarks
 * to read up to, as `marks` (a read_uncommitted client) sees them: past open transactions.
 * Returns the partition count, 0 when the topic does not exist, -1 on error. */
static int assign_all(rd_kafka_t *rk, rd_kafka_t *marks, const char *topic, int timeout_ms, const _Atomic bool *cancel,
                      int64_t **ends, char *errstr, size_t errlen) {
    /* A topic the cluster will not describe (no DESCRIBE ACL, say) is an error, not "no
     * positions, start every partition afresh". */
    int n = km_admin_partition_count(rk, topic, timeout_ms, errstr, errlen);
    if (n < 0) return -1;
    if (n == 0) return 0;
    if (cancelled(cancel, errstr, errlen)) return -1;
    int64_t *lo = km_xcalloc((size_t)n, sizeof(*lo)), *hi = km_xcalloc((size_t)n, sizeof(*hi));
    int failed;
    rd_kafka_resp_err_t err = km_admin_watermarks_all(marks, topic, n, lo, hi, timeout_ms > 1000 ? timeout_ms : 1000, &failed);
    if (err) {
        if (failed >= 0) snprintf(errstr, errlen, "watermarks of %s-%d: %s", topic, failed, rd_kafka_err2str(err));
        else snprintf(errstr, errlen, "watermarks of %s: %s", topic, rd_kafka_err2str(err));
        free(lo);
        free(hi);
        return -1;
    }
    *ends = km_xcalloc((size_t)n, sizeof(**ends));
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) {
        (*ends)[p] = hi[p] > lo[p] ? hi[p] : 0; /* nothing to read: not waited for */
        if (hi[p] > lo[p]) rd_kafka_topic_partition_list_add(tl, topic, p)->offset = lo[p];
    }
    free(lo);
    free(hi);
    err = rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (err) {
        snprintf(errstr, errlen, "assign %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    return n;
}

static int read_to_end(rd_kafka_t *rk, const char *cluster, int n, const int64_t *ends, int timeout_ms,
                       const _Atomic bool *cancel, km_positions_t *out, char *errstr, size_t errlen) {
    int64_t deadline = km_now_mono_ms() + timeout_ms;
    int64_t *next = km_xcalloc((size_t)n, sizeof(*next));
    int remaining = 0;
    for (int p = 0; p < n; p++) remaining += ends[p] > 0;
    int rc = 0;
    /* A partition is done when the next offset reaches its end (compaction leaves holes). */
    for (int p = 0; p < n; p++) next[p] = -1;
    while (remaining > 0) {
        if (km_now_mono_ms() > deadline) {
            snprintf(errstr, errlen, "timed out reading positions (%d partition(s) unread)", remaining);
            rc = -1;
            break;
        }
        if (cancelled(cancel, errstr, errlen)) {
            rc = -1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* read_committed stops at the first open transaction: not the end yet */
            if (m->partition < n && next[m->partition] < ends[m->partition] && m->offset >= ends[m->partition]) {
                next[m->partition] = ends[m->partition];
                remaining--;
            }
        } else if (m->err) {
            km_debug("reading positions: %s", rd_kafka_message_errstr(m));
        } else if (m->partition < n) {
            apply_record(m, cluster, out);
            bool was_open = next[m->partition] < ends[m->partition];
            next[m->partition] = m->offset + 1;
            if (was_open && next[m->partition] >= ends[m->partition]) remaining--;
        }
        rd_kafka_message_destroy(m);
    }
    free(next);
    return rc;
}

static rd_kafka_t *reader(rd_kafka_conf_t *conf, const char *isolation, char *errstr, size_t errlen) {
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "kmirror-positions-reader", NULL, 0);
    rd_kafka_conf_set(conf, "isolation.level", isolation, NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errlen);
    if (!rk) rd_kafka_conf_destroy(conf);
    return rk;
}

static void close_reader(rd_kafka_t *rk) {
    if (!rk) return;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

int km_positions_load(rd_kafka_conf_t *conf, const char *topic, const char *cluster, int timeout_ms,
                      const _Atomic bool *cancel, km_positions_t *out, char *errstr, size_t errlen) {
    rd_kafka_t *marks = reader(rd_kafka_conf_dup(conf), "read_uncommitted", errstr, errlen);
    rd_kafka_t *rk = reader(conf, "read_committed", errstr, errlen);
    int rc = -1;
    if (rk && marks) {
        int64_t *ends = NULL;
        int n = assign_all(rk, marks, topic, timeout_ms, cancel, &ends, errstr, errlen);
        rc = n < 0 ? -1 : 0;
        if (n > 0) rc = read_to_end(rk, cluster, n, ends, timeout_ms, cancel, out, errstr, errlen);
        free(ends);
    }
    close_reader(marks);
    close_reader(rk);
    return rc;
}
