/* records.c — see records.h. A tiny cursor over a byte buffer does all the work; every
 * encoder checks the buffer size and every decoder checks that it consumed the whole record,
 * so a record from a newer or corrupt writer is rejected rather than half-read. */
#include "records.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *p;
    size_t len, pos;
    int err;
} wr_t;

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    int err;
} rd_t;

static void put_be(wr_t *w, uint64_t v, int bytes) {
    if (w->err || w->pos + (size_t)bytes > w->len) {
        w->err = 1;
        return;
    }
    for (int i = bytes - 1; i >= 0; i--) w->p[w->pos++] = (unsigned char)(v >> (8 * i));
}

static void put_str(wr_t *w, const char *s) {
    size_t n = s ? strlen(s) : 0; /* a NULL string is written as "" (Java's are never null) */
    if (n > KM_STRING_MAX) {
        w->err = 1;
        return;
    }
    put_be(w, n, 2);
    if (w->err || w->pos + n > w->len) {
        w->err = 1;
        return;
    }
    if (n) memcpy(w->p + w->pos, s, n);
    w->pos += n;
}

static int wr_done(const wr_t *w) { return w->err ? -1 : (int)w->pos; }

static uint64_t get_be(rd_t *r, int bytes) {
    if (r->err || r->pos + (size_t)bytes > r->len) {
        r->err = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = v << 8 | r->p[r->pos++];
    return v;
}

static char *get_str(rd_t *r) {
    int16_t n = (int16_t)get_be(r, 2);
    if (r->err || n < 0 || r->pos + (size_t)n > r->len) {
        r->err = 1;
        return NULL;
    }
    char *s = km_xstrndup((const char *)r->p + r->pos, (size_t)n);
    r->pos += (size_t)n;
    return s;
}

static int rd_done(const rd_t *r) { return r->err || r->pos != r->len ? -1 : 0; }

static size_t str_size(const char *s) { return 2 + (s ? strlen(s) : 0); }

/* ---- heartbeat ----------------------------------------------------------------------------- */

size_t km_heartbeat_key_size(const km_heartbeat_t *h) { return str_size(h->source) + str_size(h->target); }

int km_heartbeat_encode_key(const km_heartbeat_t *h, char *buf, size_t size) {
    wr_t w = {(unsigned char *)buf, size, 0, 0};
    put_str(&w, h->source);
    put_str(&w, h->target);
    return wr_done(&w);
}

int km_heartbeat_encode_value(const km_heartbeat_t *h, char *buf, size_t size) {
    wr_t w = {(unsigned char *)buf, size, 0, 0};
    put_be(&w, 0, 2); /* version */
    put_be(&w, (uint64_t)h->timestamp, 8);
    return wr_done(&w);
}

int km_heartbeat_decode(const void *key, size_t klen, const void *val, size_t vlen, km_heartbeat_t *out) {
    *out = (km_heartbeat_t){0};
    rd_t k = {key, klen, 0, 0}, v = {val, vlen, 0, 0};
    out->source = get_str(&k);
    out->target = get_str(&k);
    int16_t version = (int16_t)get_be(&v, 2);
    out->timestamp = (int64_t)get_be(&v, 8);
    int rc = rd_done(&k) || rd_done(&v) || version != 0 ? -1 : out->timestamp < 0 ? -2 : 0;
    if (rc) km_heartbeat_free(out);
    return rc;
}

void km_heartbeat_free(km_heartbeat_t *h) {
    free(h->source);
    free(h->target);
    *h = (km_heartbeat_t){0};
}

/* ---- checkpoint ---------------------------------------------------------------------------- */

size_t km_checkpoint_key_size(const km_checkpoint_t *c) { return str_size(c->group) + str_size(c->topic) + 4; }
size_t km_checkpoint_value_size(const km_checkpoint_t *c) { return 2 + 8 + 8 + str_size(c->metadata); }

int km_checkpoint_encode_key(const km_checkpoint_t *c, char *buf, size_t size) {
    wr_t w = {(unsigned char *)buf, size, 0, 0};
    put_str(&w, c->group);
    put_str(&w, c->topic);
    put_be(&w, (uint32_t)c->partition, 4);
    return wr_done(&w);
}

int km_checkpoint_encode_value(const km_checkpoint_t *c, char *buf, size_t size) {
    wr_t w = {(unsigned char *)buf, size, 0, 0};
    put_be(&w, 0, 2); /* version */
    put_be(&w, (uint64_t)c->upstream_offset, 8);
    put_be(&w, (uint64_t)c->downstream_offset, 8);
    put_str(&w, c->metadata);
    return wr_done(&w);
}

int km_checkpoint_decode(const void *key, size_t klen, const void *val, size_t vlen, km_checkpoint_t *out) {
    *out = (km_checkpoint_t){0};
    rd_t k = {key, klen, 0, 0}, v = {val, vlen, 0, 0};
    out->group = get_str(&k);
    out->topic = get_str(&k);
    out->partition = (int32_t)get_be(&k, 4);
    int16_t version = (int16_t)get_be(&v, 2);
    out->upstream_offset = (int64_t)get_be(&v, 8);
    out->downstream_offset = (int64_t)get_be(&v, 8);
    out->metadata = get_str(&v);
    int rc = rd_done(&k) || rd_done(&v) || version != 0 ? -1
             : out->partition < 0 || !KM_OFFSET_VALID(out->upstream_offset) || !KM_OFFSET_VALID(out->downstream_offset) ? -2
             : 0;
    if (rc) km_checkpoint_free(out);
    return rc;
}

void km_checkpoint_free(km_checkpoint_t *c) {
    free(c->group);
    free(c->topic);
    free(c->metadata);
    *c = (km_checkpoint_t){0};
}

/* ---- offset sync --------------------------------------------------------------------------- */

size_t km_offset_sync_key_size(const km_offset_sync_t *s) { return str_size(s->topic) + 4; }

int km_offset_sync_encode_key(const km_offset_sync_t *s, char *buf, size_t size) {
    wr_t w = {(unsigned char *)buf, size, 0, 0};
    put_str(&w, s->topic);
    put_be(&w, (uint32_t)s->partition, 4);
    return wr_done(&w);
}

int km_offset_sync_encode_value(const km_offset_sync_t *s, char *buf, size_t size) {
    wr_t w = {(unsigned char *)buf, size, 0, 0};
    put_be(&w, (uint64_t)s->upstream_offset, 8);
    put_be(&w, (uint64_t)s->downstream_offset, 8);
    return wr_done(&w);
}

int km_offset_sync_encode_header(const km_offset_sync_t *s, char *buf, size_t size) {
    wr_t w = {(unsigned char *)buf, size, 0, 0};
    put_be(&w, 0, 1); /* version */
    put_be(&w, (uint64_t)s->kind, 1);
    put_be(&w, (uint64_t)s->prev_end, 8);
    put_be(&w, (uint64_t)s->next, 8);
    return wr_done(&w);
}

/* -1: unreadable (a newer writer's), -2: readable with values no writer produces. prev_end is
 * -1 or an offset (after a restart it may lie past the sync's: a reset source topic); next is
 * -1 or past the sync's offset. */
static int decode_header(const void *hdr, size_t hlen, km_offset_sync_t *out) {
    rd_t h = {hdr, hlen, 0, 0};
    int version = (int)get_be(&h, 1);
    int kind = (int)get_be(&h, 1);
    out->prev_end = (int64_t)get_be(&h, 8);
    out->next = (int64_t)get_be(&h, 8);
    if (rd_done(&h) || version != 0 || kind > KM_SYNC_AFTER_START) return -1;
    if ((out->prev_end != -1 && !KM_OFFSET_VALID(out->prev_end)) || (out->next != -1 && out->next <= out->upstream_offset))
        return -2;
    out->kind = (km_sync_kind_t)kind;
    out->exact = 1;
    return 0;
}

int km_offset_sync_decode(const void *key, size_t klen, const void *val, size_t vlen, const void *hdr, size_t hlen,
                          km_offset_sync_t *out) {
    *out = (km_offset_sync_t){0};
    rd_t k = {key, klen, 0, 0}, v = {val, vlen, 0, 0};
    out->topic = get_str(&k);
    out->partition = (int32_t)get_be(&k, 4);
    out->upstream_offset = (int64_t)get_be(&v, 8);
    out->downstream_offset = (int64_t)get_be(&v, 8);
    int rc = rd_done(&k) || rd_done(&v) ? -1
             : out->partition < 0 || !KM_OFFSET_VALID(out->upstream_offset) || !KM_OFFSET_VALID(out->downstream_offset) ? -2
             : 0;
    /* A header we cannot read makes the sync a plain (conservative) one, never an error:
     * Java MM2 would still use it. One with impossible values is corrupt: so is the sync. */
    int hrc = rc == 0 && hdr ? decode_header(hdr, hlen, out) : 0;
    if (hrc == -2) rc = -2;
    if (rc) {
        km_offset_sync_free(out);
        return rc;
    }
    if (hrc == -1) {
        out->exact = 0;
        out->kind = KM_SYNC_IN_RUN;
    }
    if (!out->exact) out->prev_end = out->next = -1;
    return 0;
}

void km_offset_sync_free(km_offset_sync_t *s) {
    free(s->topic);
    *s = (km_offset_sync_t){0};
}
