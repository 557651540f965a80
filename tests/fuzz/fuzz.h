/* fuzz.h — shared by the libFuzzer targets in tests/fuzz: the entry point each defines, and a
 * byte reader that splits one fuzz input into the parts of a record (key, value, header).
 * A target checks the decoder's promises and abort()s when one is broken, so a wrong result is
 * a finding just like a crash. */
#ifndef KM_FUZZ_H
#define KM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} fz_in_t;

/* The next byte, 0 past the end. */
static inline unsigned fz_byte(fz_in_t *in) { return in->pos < in->len ? in->p[in->pos++] : 0; }

/* The next part: a length byte, then that many bytes (fewer at the end). */
static inline const uint8_t *fz_part(fz_in_t *in, size_t *n) {
    size_t want = fz_byte(in), left = in->len - in->pos;
    *n = want < left ? want : left;
    const uint8_t *p = in->p + in->pos;
    in->pos += *n;
    return p;
}

#define FZ_CHECK(cond) do { if (!(cond)) abort(); } while (0)

#endif
