/* division.h — which task replicates which source partition.
 *
 * Every process of a flow's group computes the division by itself from the source's metadata, so
 * it must be a pure function of (topic, partition, task count) that all processes agree on. MM2
 * deals the sorted (topic, partition) list round-robin; there, a new topic that sorts first
 * shifts every partition to another task, and while processes refresh at different moments two
 * of them would replicate the same partition. kmirror rotates per topic instead: partition p of
 * topic t goes to task (h(t) + p) mod ntasks, with h a fixed hash of the name (FNV-1a). Each
 * topic is spread evenly over the tasks, and a partition never changes task while the task
 * count stays the same — new topics and partitions only add work to one task each. */
#ifndef KM_DIVISION_H
#define KM_DIVISION_H

#include <stdint.h>

/* The task (0 .. ntasks-1) of a partition; ntasks >= 1. */
int km_division_task(const char *topic, int32_t partition, int ntasks);

#endif
