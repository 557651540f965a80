/* failover.h — moving consumer groups from one cluster to the other as one command:
 *   kmirror failover CONFIG --from A --to B [--groups REGEX] [--timeout S] [--fence | --unfence] [--dry-run]
 *   kmirror failback CONFIG --from B --to A [--groups REGEX] [--timeout S] [--fence | --unfence] [--dry-run]
 * Failback is the same sequence over flow B->A. The sequence is idempotent: it never moves a
 * group backwards on the target, so running it again after an interruption continues where it
 * stopped. */
#ifndef KM_FAILOVER_H
#define KM_FAILOVER_H

/* argv: the words after the command name; cmd: "failover" or "failback" (for messages).
 * Returns the exit status: 0 every selected group is on the target, 1 not, 2 usage error. */
int km_failover_main(const char *cmd, int argc, char **argv);

#endif
