/* rk.c — see rk.h. */
#include "rk.h"

#include "clientconf.h"
#include "log.h"

#include <stdio.h>

/* librdkafka uses syslog levels (3 error, 4 warning, 6 info, 7 debug). Its "errors" are mostly
 * transient connection trouble it retries by itself, so they are warnings here; its info lines
 * are chatty connection notices, shown only with -v. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    km_log_level_t l = level <= 2 ? KM_LOG_ERROR : level <= 5 ? KM_LOG_WARN : KM_LOG_DEBUG;
    km_log(l, "librdkafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

rd_kafka_conf_t *km_rk_conf(const km_props_t *props, char *errstr, size_t errlen) {
    rd_kafka_conf_t *conf = km_clientconf_new(props, errstr, errlen);
    if (conf) rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
}

rd_kafka_t *km_rk_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errlen) {
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errlen);
    if (!rk) rd_kafka_conf_destroy(conf);
    return rk;
}
