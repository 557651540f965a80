/* fuzz_config.c — the configuration entry point (km_config_load_buf, config.h): any bytes are a
 * usable configuration (0) or errors in the diagnostics (-1), and the result is always safe to
 * free. */
#include "fuzz.h"
#include "config.h"
#include "log.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet++) km_log_set_level(KM_LOG_ERROR);
    km_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    km_diag_t d = {0};
    int rc = km_config_load_buf(&cfg, (const char *)data, size, "fuzz.properties", NULL, 0, &d);
    FZ_CHECK(rc == 0 || rc == -1);
    if (rc == -1) FZ_CHECK(d.nerrors > 0);
    km_config_free(&cfg);
    km_diag_free(&d);
    return 0;
}
