/* kt_kmirror.h — kmirror as a child process, for the suites that run the binary (prefix
 * kt_kmirror_).
 *
 * Every such test repeats the same steps: write a configuration file, start `$KMIRROR_BIN CONFIG`
 * with its output in a log, wait for something in the log or on the clusters, then stop it with
 * SIGTERM (expecting the clean stop the README promises) or kill -9 it, and maybe start it again on
 * the same files. This is that sequence, once.
 *
 * Files live in <dir of KMIRROR_BIN>/test-logs/<suite>/, emptied when a suite first uses it, so the
 * logs of the last run of each suite stay for a person to read and never pile up. A restarted
 * child appends to its log; the "current run" functions only look at what it wrote since its
 * latest start. Children are killed at exit and by kt_kill_children (see kt.h), so a failing test
 * never leaves one running. Like kt, the functions print one line to stderr on failure. */
#ifndef KT_KMIRROR_H
#define KT_KMIRROR_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct kt_kmirror {
    char conf[512], log[512];
    pid_t pid;     /* 0 when not running */
    int status;    /* wait status of the latest run, once it has exited */
    long log_mark; /* size of the log when the latest run started */
} kt_kmirror_t;

/* The kmirror binary under test: $KMIRROR_BIN, else build/kmirror. */
const char *kt_kmirror_bin(void);

/* This suite's directory for kmirror's files (and any other log a test wants kept). */
const char *kt_kmirror_dir(void);

/* Writes the configuration NAME.properties (text from fmt, printf-style) and names the log
 * NAME.log, removing the log of an earlier test of the same name. k is reset. Returns 0 or -1. */
int kt_kmirror_config(kt_kmirror_t *k, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes k's configuration file anew (for a reload: SIGHUP or POST /-/reload), leaving the run
 * and its log alone. Returns 0 or -1. */
int kt_kmirror_rewrite(const kt_kmirror_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts `kmirror CONFIG [extra...]`: extra is NULL or a NULL-terminated list of options
 * (e.g. "--clusters", "a", "b"; at most 13). Returns 0 or -1. */
int kt_kmirror_start(kt_kmirror_t *k, const char *const *extra);

/* Whether the latest run still runs; reaps it (keeping its status) once it has exited. */
bool kt_kmirror_alive(kt_kmirror_t *k);

/* SIGTERM and wait up to timeout_ms. Returns 0 only for the clean stop: exit status 0 and
 * "stopped cleanly" in the log; otherwise -1 after saying what happened instead. */
int kt_kmirror_stop(kt_kmirror_t *k, int timeout_ms);

/* SIGKILL and reap. Returns 0 or -1. */
int kt_kmirror_kill9(kt_kmirror_t *k);

/* Waits up to timeout_ms for the latest run to exit by itself; its wait status is then in
 * k->status. Returns 0 when it exited, -1 if it still runs. */
int kt_kmirror_wait_exit(kt_kmirror_t *k, int timeout_ms);

/* What the latest run has logged so far (caller frees), or NULL if the log cannot be read. */
char *kt_kmirror_log(const kt_kmirror_t *k);
bool kt_kmirror_logged(const kt_kmirror_t *k, const char *needle);
/* Waits up to timeout_ms until the latest run logged needle. */
bool kt_kmirror_wait_logged(const kt_kmirror_t *k, const char *needle, int timeout_ms);
/* The port of the latest run's metrics endpoint (metrics.listen = 127.0.0.1:0), once it logged
 * it, waiting up to timeout_ms; 0 (after printing the log) when it did not. */
int kt_kmirror_http_port(const kt_kmirror_t *k, int timeout_ms);
/* Prints the latest run's log as cmocka-visible lines (a failing test shows why). */
void kt_kmirror_print_log(const kt_kmirror_t *k);

/* Whether tests/run.sh's environment names both IT clusters (KMIRROR_IT_A, KMIRROR_IT_B) and
 * the kmirror binary (KMIRROR_BIN); when not, says which is missing. A test skips when false. */
bool kt_it_ready(void);

/* The name tests/run.sh gave a cluster it started (env: KMIRROR_IT_A_NAME or KMIRROR_IT_B_NAME),
 * or NULL: clusters started elsewhere are not crashed or restarted by a test. */
const char *kt_cluster_name(const char *env);
/* scripts/kafka-test-cluster.sh CMD NAME (kill9, restart, status, ...), its output kept in this
 * suite's directory. Returns 0 when it exited 0; otherwise -1, after saying so. */
int kt_cluster_ctl(const char *cmd, const char *name);
/* Restarts whichever of those clusters is not running (a test that failed between kill9 and
 * restart must not leave the next tests without one). Returns 0, or -1 when one stays down. */
int kt_clusters_restore(void);

/* Runs argv[0] (searched in PATH) to completion with stdin from /dev/null, stdout into *out
 * (caller frees; may be NULL to discard) and stderr discarded. Returns the exit status, or -1 if
 * it did not exit normally or could not start. */
int kt_run(char *const argv[], char **out);

#endif
