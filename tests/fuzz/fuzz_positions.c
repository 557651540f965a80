/* fuzz_positions.c — the positions decoders (positions.h): a key and a value of the offsets
 * topic. A key that decodes names a partition 0..INT32_MAX and encodes back to a key that
 * decodes to the same; a value that decodes is an offset replication can resume after. The
 * value's bytes are also read as a timestamp header: one that decodes is > 0 and encodes back
 * to the same bytes. */
#include "fuzz.h"
#include "positions.h"
#include "records.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_in_t in = {data, size, 0};
    size_t kn, vn;
    const uint8_t *k = fz_part(&in, &kn);
    const uint8_t *v = in.p + in.pos;
    vn = in.len - in.pos;
    char *c = NULL, *t = NULL;
    int32_t p = -1;
    int64_t off = -1;
    int rc = km_pos_decode_key(k, kn, &c, &t, &p);
    FZ_CHECK(rc == 0 || rc == -1 || rc == -2);
    km_positions_t m = {0};
    if (rc == 0) {
        FZ_CHECK(p >= 0);
        size_t len;
        char *again = km_pos_encode_key(c, t, p, &len), *c2, *t2;
        int32_t p2;
        FZ_CHECK(km_pos_decode_key(again, len, &c2, &t2, &p2) == 0);
        FZ_CHECK(strcmp(c, c2) == 0 && strcmp(t, t2) == 0 && p == p2);
        free(again);
        free(c2);
        free(t2);
    }
    int64_t ts = -1;
    if (km_pos_decode_ts(v, vn, &ts) == 0) {
        char buf[21];
        FZ_CHECK(ts > 0 && km_pos_encode_ts(ts, buf) == vn && memcmp(buf, v, vn) == 0);
    }
    if (km_pos_decode_value(v, vn, &off) == 0) {
        FZ_CHECK(KM_OFFSET_VALID(off));
        if (rc == 0) {
            km_positions_set(&m, t, p, off, ts);
            FZ_CHECK(km_positions_get(&m, t, p) == off && km_positions_ts(&m, t, p) == ts);
        }
    } else if (rc == 0) {
        km_positions_reject(&m, t, p, 0);
        FZ_CHECK(km_positions_get(&m, t, p) == -1 && km_positions_rejected(&m, t, p) == 0);
    }
    km_positions_free(&m);
    free(c);
    free(t);
    return 0;
}
