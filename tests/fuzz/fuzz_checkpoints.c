/* fuzz_checkpoints.c — the checkpoint decoder (records.h). A checkpoint that decodes has a
 * partition >= 0 and valid offsets, and encodes back to the very bytes it came from. */
#include "fuzz.h"
#include "records.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_in_t in = {data, size, 0};
    size_t kn;
    const uint8_t *k = fz_part(&in, &kn);
    const uint8_t *v = in.p + in.pos;
    size_t vn = in.len - in.pos;
    km_checkpoint_t c;
    int rc = km_checkpoint_decode(k, kn, v, vn, &c);
    FZ_CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc != 0) {
        FZ_CHECK(!c.group && !c.topic && !c.metadata);
        return 0;
    }
    FZ_CHECK(c.partition >= 0 && KM_OFFSET_VALID(c.upstream_offset) && KM_OFFSET_VALID(c.downstream_offset));
    size_t ks = km_checkpoint_key_size(&c), vs = km_checkpoint_value_size(&c);
    char *kb = malloc(ks), *vb = malloc(vs);
    FZ_CHECK(kb && vb);
    /* strings with a NUL inside decode shorter than they were encoded: compare only the rest */
    if (ks == kn) FZ_CHECK(km_checkpoint_encode_key(&c, kb, ks) == (int)kn && memcmp(kb, k, kn) == 0);
    if (vs == vn) FZ_CHECK(km_checkpoint_encode_value(&c, vb, vs) == (int)vn && memcmp(vb, v, vn) == 0);
    free(kb);
    free(vb);
    km_checkpoint_free(&c);
    return 0;
}
