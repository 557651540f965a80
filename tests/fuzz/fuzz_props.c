/* fuzz_props.c — the properties-file parser (props.h), Java's Properties.load syntax: any bytes
 * either parse, with every key and value a string, or fail with an error in the diagnostics. */
#include "fuzz.h"
#include "props.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    km_props_t p = {0};
    km_diag_t d = {0};
    int rc = km_props_parse_buf((const char *)data, size, "fuzz.properties", &p, &d);
    FZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        for (size_t i = 0; i < p.n; i++) {
            FZ_CHECK(p.items[i].key && p.items[i].value);
            FZ_CHECK(km_props_find(&p, p.items[i].key) != NULL);
        }
    } else {
        FZ_CHECK(d.nerrors > 0 && p.n == 0);
    }
    km_props_free(&p);
    km_diag_free(&d);
    return 0;
}
