/* fuzz_filter.c — topic/group filters (filter.h): an include list, an exclude list and a name,
 * separated by the input's first two NUL bytes. A list either compiles or is rejected with an
 * error; matching never fails. */
#include "fuzz.h"
#include "filter.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 3);
    FZ_CHECK(buf);
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = '\0';
    const char *include = buf, *exclude = include + strlen(include) + 1;
    if (exclude > buf + size) exclude = buf + size + 1;
    const char *name = exclude + strlen(exclude) + 1;
    if (name > buf + size + 1) name = buf + size + 2;
    km_diag_t d = {0};
    km_name_filter_t f = {0};
    if (km_name_filter_init(&f, include, "topics", exclude, "topics.exclude", &d) == 0) {
        km_name_filter_accepts(&f, name);
        km_name_filter_accepts(&f, include);
    } else {
        FZ_CHECK(d.nerrors > 0);
    }
    km_name_filter_free(&f);
    km_diag_free(&d);
    free(buf);
    return 0;
}
