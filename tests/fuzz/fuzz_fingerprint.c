/* fuzz_fingerprint.c — the settings records of the tasks topic (fingerprint.h, coord.h), which
 * every process of a flow reads from the others: a record that decodes names a process, its
 * keys hash to its fingerprint, and it encodes back to a record that decodes to the same
 * fingerprint, keys and process. Anything else is refused without a leak. */
#include "fuzz.h"
#include "fingerprint.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    km_fingerprint_t fp;
    char *process = NULL;
    int rc = km_fingerprint_decode(data, size, &fp, &process);
    FZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FZ_CHECK(!process && fp.keys.n == 0);
        return 0;
    }
    FZ_CHECK(process && strlen(fp.hex) == KM_FINGERPRINT_HEX);
    char *again = km_fingerprint_encode(&fp, process);
    km_fingerprint_t fp2;
    char *process2 = NULL;
    FZ_CHECK(km_fingerprint_decode(again, strlen(again), &fp2, &process2) == 0);
    FZ_CHECK(strcmp(fp.hex, fp2.hex) == 0 && strcmp(process, process2) == 0 && fp.keys.n == fp2.keys.n);
    char *diff = km_fingerprint_diff(&fp, &fp2);
    FZ_CHECK(diff == NULL);
    free(again);
    free(process);
    free(process2);
    km_fingerprint_free(&fp);
    km_fingerprint_free(&fp2);
    return 0;
}
