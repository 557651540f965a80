/* reset.h — `kmirror reset-position`: forget the stored positions of source partitions, so that
 * the next start mirrors them from auto.offset.reset (earliest by default: the whole log).
 *
 *   kmirror reset-position CONFIG --source A --target B --topic T [--partition P]... [--dry-run] [--force]
 *
 * What an operator runs after kmirror stopped a partition whose source log went back (the topic
 * deleted and re-created, or cut by an unclean leader election: task.c), once they know that
 * mirroring it from its start is what they want. It writes a tombstone for each position to the
 * flow's offsets topic on the target, to the partition Connect's producer would choose, as a
 * Connect worker's offset reset does; Java MM2 reads the same. It refuses while any process runs
 * the flow (its group on the target has members): a running task would write its position again;
 * --force skips that check (a principal without DESCRIBE on the group). */
#ifndef KM_RESET_H
#define KM_RESET_H

/* argv: the words after the command name. Returns the exit status (0, 1 error, 2 usage). */
int km_reset_position_main(int argc, char **argv);

#endif
