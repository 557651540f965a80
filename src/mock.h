/* mock.h — local Kafka-protocol clusters on loopback, from librdkafka's mock cluster.
 *
 * For people trying kmirror (`kmirror mock-cluster`), for the demo and for fast tests. The
 * mock speaks the data path, groups, idempotence and transactions, but not CreateTopics,
 * configs, ACLs or group listing: topics are created here, through the mock's own API. */
#ifndef KM_MOCK_H
#define KM_MOCK_H

typedef struct km_mock km_mock_t;

/* NULL with errstr on failure. */
km_mock_t *km_mock_new(int brokers, char *errstr, int errlen);
const char *km_mock_bootstraps(const km_mock_t *m);
/* 0, or -1 when the mock refused. */
int km_mock_create_topic(km_mock_t *m, const char *topic, int partitions);
/* MM2's internal topics on this cluster for the flows between it and `peer` in both
 * directions: positions and checkpoints of peer->here, offset-syncs of here->peer (default
 * location: the source), heartbeats, the peer's replicated heartbeats and the tasks topic of
 * peer->here (one task). 0, or -1 when the mock refused one. */
int km_mock_create_mm2_topics(km_mock_t *m, const char *peer);
void km_mock_free(km_mock_t *m);
/* The librdkafka mock itself, for fault injection in tests (broker down, RTT, request errors). */
struct rd_kafka_mock_cluster_s *km_mock_cluster(km_mock_t *m);

/* `kmirror mock-cluster [--brokers N] [--topic NAME:PARTITIONS]... [--mm2-peer ALIAS]...`; returns the exit status. */
int km_mock_main(int argc, char **argv);

#endif
