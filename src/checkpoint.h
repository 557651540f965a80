/* checkpoint.h — MM2's checkpoint connector for one flow (MirrorCheckpointTask): it follows the
 * offset-syncs, and every emit.checkpoints.interval.seconds turns the committed offsets of the
 * source's consumer groups into checkpoints on the target ({source}.checkpoints.internal), and,
 * with sync.group.offsets.enabled, into the target's own group offsets for groups not active
 * there. Translation is offsetsync.h's (exact for kmirror's syncs).
 *
 * Rules kept from MM2 (mm2-reference.md §3.4–3.5): nothing is emitted before the offset-syncs
 * were read to the end; previous checkpoints are reloaded on start; a checkpoint is emitted only
 * when it is the first for its partition, the upstream offset went back, or the downstream
 * offset advanced; group offsets on the target never move backwards.
 *
 * It runs in its own thread, set-up included (creating the checkpoints topic, reloading the
 * previous checkpoints and the offset-syncs), because those and group listing and offset fetching
 * are blocking admin calls that must not hold up replication. */
#ifndef KM_CHECKPOINT_H
#define KM_CHECKPOINT_H

#include "admin.h"
#include "config.h"
#include "metrics.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct km_checkpointer km_checkpointer_t;

/* `metrics` receives checkpoint-latency-ms and the group table (may be NULL). src_admin and
 * dst_admin are the flow's admin clients, borrowed: they must outlive the checkpointer. Returns
 * at once; the thread sets itself up (retrying, see checkpoint.c). NULL with errstr only when
 * the thread cannot be started. */
km_checkpointer_t *km_checkpointer_start(const km_flow_t *flow, km_metrics_t *metrics, rd_kafka_t *src_admin,
                                         rd_kafka_t *dst_admin, char *errstr, size_t errlen);
void km_checkpointer_stop(km_checkpointer_t *c);
/* Checkpoints acknowledged by the target so far. */
uint64_t km_checkpointer_emitted(const km_checkpointer_t *c);

/* ---- decisions, pure ---- */

/* MM2's monotonicity rule for a new checkpoint against the last one of the same
 * (group, topic, partition); has_prev false when there is none. */
bool km_checkpoint_should_emit(bool has_prev, int64_t prev_up, int64_t prev_down, int64_t up, int64_t down);

/* The downstream topic a checkpoint names: the original topic when the upstream topic came from
 * the target (failback: B.t on A is t on B), else the remote topic. New string. */
char *km_checkpoint_topic(const km_flow_settings_t *s, const char *source, const char *target, const char *upstream_topic);

/* Group offset sync: which translated offsets (want, n) to write to a target group whose
 * current offsets are `have` (m): those the group has none for, or that move it forward.
 * Returns the count; *out holds pointers into `want`. */
size_t km_group_sync_plan(const km_group_offset_t *want, size_t n, const km_group_offset_t *have, size_t m,
                          const km_group_offset_t ***out);

#endif
