/* fuzz_jks.c — libFuzzer entry point for the JKS parser (src/keystore.c).
 *
 * Each input is parsed twice: without a password, so that the parser walks the entries instead of
 * stopping at the integrity check, and with one, so that the digest and key-recovery paths run.
 * Any result is fine; an overrun, leak or crash is the finding. */
#include "keystore.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    km_store_t st;
    km_jks_parse(data, size, NULL, "changeit", true, &st, err, sizeof(err));
    km_store_free(&st);
    km_jks_parse(data, size, "changeit", NULL, true, &st, err, sizeof(err));
    km_store_free(&st);
    return 0;
}
