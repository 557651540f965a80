/* operator.h — commands for operators during a failover, MM2's RemoteClusterUtils/MirrorClient
 * on the command line:
 *   kmirror translate-offsets CONFIG --group G --source A --target B [--json]
 *   kmirror topology CONFIG --cluster B [--json]
 * Both only read (checkpoints, topic names, heartbeats); they never write to a cluster. */
#ifndef KM_OPERATOR_H
#define KM_OPERATOR_H

/* argv: the words after the command name. Returns the exit status (0, 1 error, 2 usage). */
int km_translate_offsets_main(int argc, char **argv);
int km_topology_main(int argc, char **argv);

#endif
