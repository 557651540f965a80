/* records.h — the byte formats of MM2's internal records (mm2-reference.md §2): heartbeats,
 * checkpoints and offset-syncs, written with Kafka's protocol Struct encoding (big-endian
 * INT16/INT32/INT64, STRING = INT16 length + UTF-8 bytes, never null). Java MM2, its
 * RemoteClusterUtils and kmirror read each other's records through these functions.
 *
 * Encoders write into caller buffers sized with the *_size() helpers and return the byte count,
 * or -1 when a string is longer than Kafka's 32767-byte limit. Decoders return 0, -1 for a
 * record that is truncated, has trailing bytes or an unknown version, or -2 for a well-formed
 * record whose values are out of range (a negative partition, an offset outside
 * KM_OFFSET_VALID, a negative timestamp): internal topics are validated, never trusted, so a
 * corrupt record is rejected rather than wrapped into a plausible partition or offset. Decoded
 * strings are malloc'ed and owned by the caller (the *_free helpers); on failure *out holds
 * nothing to free.
 *
 * kmirror's own offset-syncs also carry a record header (KM_SYNC_HEADER), invisible to Java
 * readers, that makes exact translation possible; see offsetsync.h. */
#ifndef KM_RECORDS_H
#define KM_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#define KM_STRING_MAX 32767

/* An offset kmirror can store and resume from: offset + 1 must not overflow. */
#define KM_OFFSET_VALID(o) ((o) >= 0 && (o) < INT64_MAX)

typedef struct km_heartbeat {
    char *source, *target;
    int64_t timestamp;
} km_heartbeat_t;

typedef struct km_checkpoint {
    char *group, *topic; /* topic: the downstream (remote) name */
    int32_t partition;
    int64_t upstream_offset, downstream_offset;
    char *metadata; /* "" when the consumer committed none */
} km_checkpoint_t;

/* kind of a kmirror offset-sync (the header's second byte) */
typedef enum {
    KM_SYNC_IN_RUN = 0,   /* inside a run of contiguous offsets on both sides */
    KM_SYNC_AFTER_GAP = 1, /* first record of a run; the previous run ended exactly at prev_end */
    KM_SYNC_AFTER_START = 2 /* first record after (re)start; the previous run reached at least prev_end */
} km_sync_kind_t;

typedef struct km_offset_sync {
    char *topic; /* the upstream (source) topic */
    int32_t partition;
    int64_t upstream_offset, downstream_offset;
    /* From the kmirror header; exact == 0 for syncs without it (Java MM2's). */
    int exact;
    km_sync_kind_t kind;
    int64_t prev_end; /* AFTER_GAP/AFTER_START: last upstream offset of the previous run, -1 none */
    int64_t next;     /* IN_RUN: upstream offsets in (upstream_offset, next) hold no records */
} km_offset_sync_t;

#define KM_SYNC_HEADER "kmirror.sync"
#define KM_SYNC_HEADER_SIZE 18 /* version INT8, kind INT8, prev_end INT64, next INT64 */

size_t km_heartbeat_key_size(const km_heartbeat_t *h);
int km_heartbeat_encode_key(const km_heartbeat_t *h, char *buf, size_t size);
int km_heartbeat_encode_value(const km_heartbeat_t *h, char *buf, size_t size); /* 10 bytes */
int km_heartbeat_decode(const void *key, size_t klen, const void *val, size_t vlen, km_heartbeat_t *out);
void km_heartbeat_free(km_heartbeat_t *h);

size_t km_checkpoint_key_size(const km_checkpoint_t *c);
size_t km_checkpoint_value_size(const km_checkpoint_t *c);
int km_checkpoint_encode_key(const km_checkpoint_t *c, char *buf, size_t size);
int km_checkpoint_encode_value(const km_checkpoint_t *c, char *buf, size_t size);
int km_checkpoint_decode(const void *key, size_t klen, const void *val, size_t vlen, km_checkpoint_t *out);
void km_checkpoint_free(km_checkpoint_t *c);

size_t km_offset_sync_key_size(const km_offset_sync_t *s);
int km_offset_sync_encode_key(const km_offset_sync_t *s, char *buf, size_t size);
int km_offset_sync_encode_value(const km_offset_sync_t *s, char *buf, size_t size); /* 16 bytes */
int km_offset_sync_encode_header(const km_offset_sync_t *s, char *buf, size_t size);
/* hdr may be NULL (a foreign sync: exact = 0). */
int km_offset_sync_decode(const void *key, size_t klen, const void *val, size_t vlen, const void *hdr, size_t hlen,
                          km_offset_sync_t *out);
void km_offset_sync_free(km_offset_sync_t *s);

#endif
