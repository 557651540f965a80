/* rk.h — creating librdkafka clients the one way kmirror does: from translated properties
 * (clientconf.c), with librdkafka's log lines routed into kmirror's log, named by client. */
#ifndef KM_RK_H
#define KM_RK_H

#include "props.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

/* A configuration from `props` with logging routed; NULL with errstr on a bad property. */
rd_kafka_conf_t *km_rk_conf(const km_props_t *props, char *errstr, size_t errlen);
/* A producer of kmirror's own low-rate records (checkpoints, heartbeats) must not be able to turn
 * fatal: librdkafka 2.0.2's idempotent producer goes fatal for good after an ordinary broker
 * fault with requests in flight (a "possibly persisted" batch, then OUT_OF_ORDER_SEQUENCE_NUMBER;
 * librdkafka #4438, fixed in 2.3.0), and every later record then fails with __FATAL: checkpoints
 * would stop while replication goes on. Without idempotence a failure is one record's, which its
 * writer sends again; one request in flight keeps the order, and a batch written twice holds the
 * same checkpoint or heartbeat twice, which readers take as one. */
void km_rk_conf_plain_producer(rd_kafka_conf_t *conf);
/* Creates the client; conf is consumed in every case. */
rd_kafka_t *km_rk_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errlen);

/* What to fix when a librdkafka log line `msg` reports a TLS or SASL failure the configuration
 * causes (untrusted CA, expired certificate, wrong host name, bad credentials), naming the keys;
 * NULL for anything else. Such lines are logged as errors with this hint. */
const char *km_rk_security_hint(const char *msg);

/* Whether consumed record m surely holds no headers, told from the record's own bytes around its
 * value. librdkafka (up to 2.15 at least) parses a consumed record's headers on every
 * rd_kafka_message_headers() call through a buffer it allocates and frees, even when there are
 * none, since a v2 record's header count is a byte of its own: ~600 instructions per record, a
 * sixth of a task thread's work at 100 B. The check relies on librdkafka handing out the value
 * where it lies in the fetched record, which km_rk_fetch_layout_known() says of the running
 * library; it is false whenever it cannot tell (the v0/v1 formats, whose value ends the message;
 * an empty or null value), and then rd_kafka_message_headers() decides. */
bool km_rk_no_headers(const rd_kafka_message_t *m);
/* Whether the running librdkafka is one whose fetch path km_rk_no_headers() was checked against. */
bool km_rk_fetch_layout_known(void);

#endif
