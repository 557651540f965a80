/* fuzz_heartbeats.c — the heartbeat decoder (records.h): a heartbeat that decodes has a
 * timestamp >= 0 and encodes back to the bytes of its value. */
#include "fuzz.h"
#include "records.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_in_t in = {data, size, 0};
    size_t kn;
    const uint8_t *k = fz_part(&in, &kn);
    const uint8_t *v = in.p + in.pos;
    size_t vn = in.len - in.pos;
    km_heartbeat_t h;
    int rc = km_heartbeat_decode(k, kn, v, vn, &h);
    FZ_CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc != 0) {
        FZ_CHECK(!h.source && !h.target);
        return 0;
    }
    FZ_CHECK(h.timestamp >= 0 && vn == 10);
    char vb[10];
    FZ_CHECK(km_heartbeat_encode_value(&h, vb, sizeof(vb)) == 10 && memcmp(vb, v, 10) == 0);
    km_heartbeat_free(&h);
    return 0;
}
