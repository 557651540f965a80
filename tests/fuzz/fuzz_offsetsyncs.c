/* fuzz_offsetsyncs.c — the offset-sync decoder (records.h) and the translation store fed with
 * what it accepts (offsetsync.h): a sequence of records, each a key, a value and an optional
 * kmirror header, then translations of offsets around every stored sync and of arbitrary ones.
 * Decoded syncs have valid partitions and offsets; translating never overflows (UBSan) and an
 * answer is a valid offset. */
#include "fuzz.h"
#include "offsetsync.h"
#include "records.h"

#include <string.h>

#define MAX_SYNCS 64

static void translate(const km_sync_store_t *st, const char *topic, int32_t p, int64_t x) {
    int64_t d = -1;
    km_xlate_t r = km_sync_store_translate(st, topic, p, x, &d);
    if (r != KM_XLATE_NONE) FZ_CHECK(d >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_in_t in = {data, size, 0};
    km_sync_store_t *st = km_sync_store_new((int)(fz_byte(&in) % 16));
    km_offset_sync_t seen[MAX_SYNCS];
    size_t n = 0;
    while (in.pos < in.len && n < MAX_SYNCS) {
        size_t kn, vn, hn;
        const uint8_t *k = fz_part(&in, &kn), *v = fz_part(&in, &vn), *h = fz_part(&in, &hn);
        km_offset_sync_t s;
        int rc = km_offset_sync_decode(k, kn, v, vn, hn ? h : NULL, hn, &s);
        FZ_CHECK(rc == 0 || rc == -1 || rc == -2);
        if (rc != 0) {
            FZ_CHECK(!s.topic);
            continue;
        }
        FZ_CHECK(s.partition >= 0 && KM_OFFSET_VALID(s.upstream_offset) && KM_OFFSET_VALID(s.downstream_offset));
        if (s.exact) FZ_CHECK(s.prev_end == -1 || KM_OFFSET_VALID(s.prev_end));
        km_sync_store_add(st, &s);
        seen[n++] = s;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t u = seen[i].upstream_offset;
        translate(st, seen[i].topic, seen[i].partition, u);
        if (u > 0) translate(st, seen[i].topic, seen[i].partition, u - 1);
        translate(st, seen[i].topic, seen[i].partition, u + 1);
        translate(st, seen[i].topic, seen[i].partition, INT64_MAX - 1);
        translate(st, seen[i].topic, seen[i].partition, 0);
        if (seen[i].exact && seen[i].prev_end >= 0) translate(st, seen[i].topic, seen[i].partition, seen[i].prev_end + 1);
    }
    for (size_t i = 0; i < n; i++) km_offset_sync_free(&seen[i]);
    km_sync_store_free(st);
    return 0;
}
