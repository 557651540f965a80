/* coord.h — how the processes that run a flow divide its tasks among themselves: Kafka's own
 * consumer group protocol on the flow's target cluster, no coordinator of kmirror's.
 *
 * The flow's tasks are the partitions of a small compacted topic on the target,
 * mm2-kmirror-tasks.{source}.{group.id}.internal: partition i is task i, so the topic's partition
 * count is the group's task count (tasks.max of the process that created it). Every process
 * joins the group group.id ({source}-mm2, where MM2 keeps its workers) as a consumer of that
 * topic with the cooperative-sticky assignor, and runs the tasks whose partitions it is
 * assigned. A process that dies loses its tasks after session.timeout.ms; a rebalance moves only
 * the tasks that must move, the others keep running. A revoked task is stopped — records delivered, positions committed —
 * inside the rebalance callback, before the revocation is acknowledged, so its next owner starts
 * from the committed positions and a task never runs in two processes at once (with
 * exactly-once, a process the group already gave up on is moreover fenced by the new owner's
 * transactional producer). The member never reads the topic (its partitions are paused).
 *
 * Configuration conflicts: every process writes its flow settings with their fingerprint
 * (fingerprint.h) to partition 0 of the tasks topic when it starts and every
 * session.timeout.ms, and follows what the others write. When live processes disagree, every
 * one of them logs the differing keys as an error and km_coord_conflict() says so. Each process
 * keeps running the tasks the group gives it with its own settings, as nobody can tell which
 * settings are the intended ones; the task count is the group's (the topic's), so the division
 * of partitions into tasks — and therefore "a partition is read by one task" — holds anyway.
 *
 * tasks.max changes apply when no other process of the group is alive: the starting process
 * grows the topic, or deletes and re-creates it to shrink it. While others run, a different
 * tasks.max is reported and the group's count is used.
 *
 * Java MirrorMaker 2 on the same group.id: Kafka Connect's workers use the group protocol with
 * protocol type "connect", kmirror "consumer", and the broker lets a client join only a group that
 * is empty or of its own type. When the Java side holds the group, km_coord_check_group says so
 * before kmirror touches the target. When kmirror holds it, the broker refuses the Java worker
 * (its herder dies with InconsistentGroupProtocolException) and tells no member of the group:
 * with any client API, kmirror cannot see the attempt itself. The best signal it has is the
 * worker's footprint: Connect creates its config topic (config.storage.topic, in MM2
 * mm2-configs.{source}.internal) before it joins, and kmirror never creates it, so its
 * appearance while kmirror runs is warned about, naming the group. Where that topic exists
 * already (a Java MirrorMaker 2 ran here before), a later attempt leaves no trace kmirror can see.
 *
 * Everything here runs on the flow's (main) thread, except km_coord_conflict. */
#ifndef KM_COORD_H
#define KM_COORD_H

#include "config.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

typedef struct km_coord km_coord_t;

/* Called from km_coord_poll when tasks are taken away from this process: it must stop them
 * (deliver, commit) before returning. */
typedef void (*km_coord_revoke_fn)(void *arg, const int *tasks, size_t n);

/* Refuses (-1 with errstr) when group.id on the flow's target is held by clients of another
 * kind — a Kafka Connect / Java MirrorMaker 2 cluster (protocol type "connect") — naming their
 * protocol and client ids and hosts. Called before anything is created or changed on the target
 * (km_coord_start would create or grow the tasks topic, then fail to join). An unanswered
 * description is warned about and not fatal. */
int km_coord_check_group(const km_flow_t *flow, rd_kafka_t *admin, char *errstr, size_t errlen);

/* Prepares the tasks topic, publishes this process's settings and joins the group. `admin` is
 * the flow's target admin client (borrowed). NULL with errstr when that fails. */
km_coord_t *km_coord_start(const km_flow_t *flow, rd_kafka_t *admin, km_coord_revoke_fn revoke, void *arg,
                           char *errstr, size_t errlen);
/* Serves the group protocol (revocations run in here) and, when due, compares the members'
 * settings. Returns -1 once membership is impossible (not authorized, group taken by other kinds
 * of clients); the reason was logged. */
int km_coord_poll(km_coord_t *c);
/* The flow's settings changed in place (a reload's new filters, reload.h): publishes the new
 * fingerprint now, so the group's conflict report follows at once. */
void km_coord_republish(km_coord_t *c);
/* The group's task count. */
int km_coord_ntasks(const km_coord_t *c);
/* The group gave this member its first assignment (possibly empty). Until then a stop can only
 * leave without LeaveGroup (librdkafka #4312, coord.c), which holds the group up for a session
 * timeout. */
bool km_coord_assigned(const km_coord_t *c);
/* Whether task `task` is assigned to this process. */
bool km_coord_owns(const km_coord_t *c, int task);
/* The current configuration conflict ("… offset.lag.max: 100 here, 50 there"), or NULL; a copy
 * owned by the caller. Callable from any thread. */
char *km_coord_conflict(km_coord_t *c);
/* Leaves the group (the flow's tasks are stopped by then) and frees c. A member the group
 * joined but has not assigned yet is waited for until deadline (km_now_mono_ms clock). */
void km_coord_stop(km_coord_t *c, int64_t deadline);

#endif
