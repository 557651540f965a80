/* groupclient.h — requests answered by a consumer group's coordinator (a group's committed
 * offsets, its state, changing its offsets), on a librdkafka client of their own.
 *
 * Why not the flow's admin client: librdkafka 2.0.2 aborts the whole process (`Assertion
 * 'eonce->refcnt > 0' failed` in rd_kafka_enq_once_del_source_return; librdkafka #4605/#3663,
 * fixed upstream only in 2026) when such a request times out while it still waits for its
 * coordinator and the coordinator comes up later: the late send frees what the failure path then
 * reads. Any outage of the coordinator's broker (or of the whole cluster) longer than the request
 * timeout ended in that abort once the broker was back. Here librdkafka is given the longest
 * timeout it accepts (an hour) and kmirror waits its own timeout_ms; a request not answered by
 * then is given up together with its client — destroying a client fails its waiting requests
 * safely — and the next request makes a new client.
 *
 * Why a consumer handle with a group.id of its own, never subscribed: librdkafka 2.0.2
 * dereferences the client's consumer-group handle, NULL in any other client, when a group-offsets
 * answer says NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE (rd_kafka_handle_OffsetFetch asks that
 * handle to look up its coordinator again; librdkafka #5040, still open). Brokers answer so while
 * a coordinator moves or a restarted broker loads its groups: a rolling restart of either cluster
 * crashed kmirror with SIGSEGV. With a handle of its own, the lookup goes to it, harmlessly, and
 * the request fails with the broker's error. One thread uses a km_groupclient_t. */
#ifndef KM_GROUPCLIENT_H
#define KM_GROUPCLIENT_H

#include "admin.h"
#include "props.h"

typedef struct km_groupclient km_groupclient_t;

/* A group client for the cluster `props` point at (admin client properties); no connection
 * before the first request. `own_group` is the group its consumer handle names (see above): one
 * the principal may already describe, as kmirror's own group.id. NULL with errstr on a bad
 * property. */
km_groupclient_t *km_groupclient_new(const km_props_t *props, const char *own_group, char *errstr, size_t errlen);
void km_groupclient_destroy(km_groupclient_t *g);

/* The group's committed offsets for `parts` (NULL: every partition it has one for), partitions
 * without one left out. Ask for the partitions explicitly where they are known: librdkafka
 * 2.0.2's mock answers the every-partition form with nothing. 0, or -1 with errstr. */
int km_group_offsets(km_groupclient_t *g, const char *group, const rd_kafka_topic_partition_list_t *parts, int timeout_ms,
                     km_group_offset_t **out, size_t *n, char *errstr, size_t errlen);
/* DescribeConsumerGroups: the group's state (DEAD for a group that does not exist). */
int km_group_state(km_groupclient_t *g, const char *group, int timeout_ms, rd_kafka_consumer_group_state_t *state,
                   char *errstr, size_t errlen);
/* AlterConsumerGroupOffsets; fails (with the broker's reason) when the group has members. */
int km_group_alter_offsets(km_groupclient_t *g, const char *group, const km_group_offset_t *offs, size_t n, int timeout_ms,
                           char *errstr, size_t errlen);

#endif
