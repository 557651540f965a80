/* rk.h — creating librdkafka clients the one way kmirror does: from translated properties
 * (clientconf.c), with librdkafka's log lines routed into kmirror's log, named by client. */
#ifndef KM_RK_H
#define KM_RK_H

#include "props.h"

#include <librdkafka/rdkafka.h>

/* A configuration from `props` with logging routed; NULL with errstr on a bad property. */
rd_kafka_conf_t *km_rk_conf(const km_props_t *props, char *errstr, size_t errlen);
/* Creates the client; conf is consumed in every case. */
rd_kafka_t *km_rk_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errlen);

/* What to fix when a librdkafka log line `msg` reports a TLS or SASL failure the configuration
 * causes (untrusted CA, expired certificate, wrong host name, bad credentials), naming the keys;
 * NULL for anything else. Such lines are logged as errors with this hint. */
const char *km_rk_security_hint(const char *msg);

#endif
