/* test_source_reset.c — a source topic deleted and re-created under kmirror's stored position, on
 * the two real clusters (KMIRROR_IT_A, KMIRROR_IT_B): kmirror mirrors 20 records; the topic is
 * re-created on A with new records, 5 (the position, 19, is past the new log) or 30 (offset 19
 * holds another record now), while kmirror is stopped or while it runs. kmirror must stop that
 * partition loudly (ERROR, /healthz 503) instead of mirroring anything of the new log on top of its
 * old position, which with 30 records would skip the first 20. `kmirror reset-position` refuses
 * while the flow runs (its group has a member), and once kmirror is stopped forgets the position;
 * the next start mirrors the new records after the 20 old ones. Skips when the clusters are not
 * given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kt.h"
#include "kt_kmirror.h"
#include "kt_metrics.h"

enum { WAIT_MS = 90000 };

typedef struct want {
    const char *bootstrap, *topic;
    int64_t records;
} want_t;

static bool holds(void *arg) {
    want_t *w = arg;
    int64_t hw[1];
    return kt_high_watermarks(w->bootstrap, w->topic, hw, 1) == 0 && hw[0] == w->records;
}

static void produce(const char *a, const char *topic, const char *prefix, int n) {
    kt_msg_t msgs[32];
    char values[32][32];
    for (int i = 0; i < n; i++) {
        snprintf(values[i], sizeof values[i], "%s-%d", prefix, i);
        msgs[i] = (kt_msg_t){.partition = 0, .key = "k", .value = values[i]};
    }
    assert_int_equal(kt_produce(a, topic, msgs, (size_t)n, NULL, NULL), 0);
}

/* `kmirror reset-position` for partition 0 of topic; its exit status, and its output in *out. */
static int reset_position(const kt_kmirror_t *k, const char *topic, char **out) {
    static int runs;
    char log[600];
    snprintf(log, sizeof log, "%s/reset-position-%d.out", kt_kmirror_dir(), ++runs); /* kt_spawn appends */
    char *argv[] = {(char *)kt_kmirror_bin(), "reset-position", (char *)k->conf, "--source", "A", "--target", "B",
                    "--topic", (char *)topic, "--partition", "0", NULL};
    pid_t pid = kt_spawn(argv, log);
    int status = -1;
    assert_true(pid > 0);
    assert_int_equal(kt_wait_exit(pid, WAIT_MS, &status), 0);
    *out = kt_read_file(log);
    print_message("%s", *out ? *out : "");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Mirrors 20 records, re-creates the topic with `fresh` new ones (while kmirror runs, or while it
 * is stopped) and expects kmirror to log `logged` and report `health`, then to mirror all of them
 * after a reset. */
/* Creates a topic named after `name` on A (its name in topic, its remote's in remote), writes 20
 * records, starts kmirror (config `name`) and waits until B has them all. */
static void mirror_twenty(const char *name, char *topic, char *remote, kt_kmirror_t *k) {
    if (!kt_it_ready()) skip();
    const char *a = getenv("KMIRROR_IT_A"), *b = getenv("KMIRROR_IT_B");
    kt_unique_name(name, topic, 128);
    snprintf(remote, 160, "A.%s", topic);
    assert_int_equal(kt_create_topic(a, topic, 1, NULL), 0);
    produce(a, topic, "old", 20);
    assert_int_equal(kt_kmirror_config(k, name,
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = true\nA->B.topics = %s\nreplication.factor = 1\n"
                                       "offset.flush.interval.ms = 200\nemit.checkpoints.enabled = false\n"
                                       "metrics.listen = 127.0.0.1:0\n",
                                       a, b, topic),
                     0);
    assert_int_equal(kt_kmirror_start(k, NULL), 0);
    want_t old = {b, remote, 20};
    assert_true(kt_wait_until(holds, &old, WAIT_MS));
}

static void recreated(int fresh, bool running, const char *logged, const char *health) {
    if (!kt_it_ready()) skip();
    const char *a = getenv("KMIRROR_IT_A"), *b = getenv("KMIRROR_IT_B");
    char topic[128], remote[160];
    kt_kmirror_t k;
    mirror_twenty("reset", topic, remote, &k);
    want_t old = {b, remote, 20};
    if (!running) assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0); /* commits the position: 19 */

    assert_int_equal(kt_delete_topic(a, topic), 0);
    assert_int_equal(kt_create_topic(a, topic, 1, NULL), 0);
    produce(a, topic, "new", fresh);
    if (!running) assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    bool said = kt_kmirror_wait_logged(&k, logged, WAIT_MS);
    if (!said) kt_kmirror_print_log(&k);
    assert_true(said);
    int port = kt_kmirror_http_port(&k, WAIT_MS), code;
    char *body = NULL;
    assert_int_equal(kt_http_get(port, "/healthz", &code, &body), 0);
    assert_int_equal(code, 503);
    assert_non_null(strstr(body, health));
    free(body);
    assert_true(holds(&old)); /* nothing of the new log */

    char *out = NULL;
    assert_int_equal(reset_position(&k, topic, &out), 1);
    assert_non_null(strstr(out, "runs: group A-mm2 on B has 1 member(s)"));
    free(out);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
    assert_int_equal(reset_position(&k, topic, &out), 0);
    assert_non_null(strstr(out, "[0]: stored position 19"));
    free(out);

    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    want_t all = {b, remote, 20 + fresh};
    bool done = kt_wait_until(holds, &all, WAIT_MS);
    if (!done) kt_kmirror_print_log(&k);
    assert_true(done);
    kt_record_t *recs = NULL;
    size_t n = 0;
    assert_int_equal(kt_consume(b, remote, NULL, &recs, &n), 0);
    assert_int_equal(n, (size_t)(20 + fresh));
    char last[32];
    snprintf(last, sizeof last, "new-%d", fresh - 1);
    assert_string_equal(recs[19].value, "old-19");
    assert_string_equal(recs[20].value, "new-0");
    assert_string_equal(recs[n - 1].value, last);
    kt_records_free(recs, n);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
    kt_delete_topic(a, topic);
}

static void test_recreated_shorter(void **state) {
    recreated(5, false, "went back: the next offset to mirror is 20, but the source now reads from 0",
              "[0] is stopped at offset 20: the source log went back");
}

/* Seen failing before the position's timestamp: the new records 20..29 were mirrored, 0..19 never. */
static void test_recreated_longer(void **state) {
    recreated(30, false, "was replaced: the record at offset 19, the last one mirrored, had timestamp",
              "[0] is stopped at offset 20: the source log was replaced");
}

/* librdkafka reads the new log from the old position without a word. Seen failing before the
 * partition was read again after an idle time: the target held 30 records (the new 20..29),
 * /healthz said ok, and nothing was logged. */
static void test_recreated_while_running(void **state) {
    recreated(30, true, "was replaced: the record at offset 19, the last one mirrored, had timestamp",
              "[0] is stopped at offset 20: the source log was replaced");
}

/* The remote topic deleted on the target while kmirror is stopped: kmirror creates it again and
 * mirrors on from its position, so the records mirrored before are missing on the target. That
 * cannot be undone by itself, but it must be said. Seen failing before: only "created topic". */
static void test_target_topic_recreated(void **state) {
    if (!kt_it_ready()) skip();
    const char *a = getenv("KMIRROR_IT_A"), *b = getenv("KMIRROR_IT_B");
    char topic[128], remote[160];
    kt_kmirror_t k;
    mirror_twenty("gone", topic, remote, &k);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);

    assert_int_equal(kt_delete_topic(b, remote), 0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    produce(a, topic, "new", 5);
    bool said = kt_kmirror_wait_logged(&k, "[0] on B was empty when kmirror wrote to it, but its source partition", WAIT_MS);
    if (!said) kt_kmirror_print_log(&k);
    assert_true(said);
    assert_true(kt_kmirror_wait_logged(&k, "records up to source offset 19 were mirrored into a topic that was deleted since",
                                       1000));
    want_t fresh = {b, remote, 5};
    assert_true(kt_wait_until(holds, &fresh, WAIT_MS)); /* the new records, after the position */
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
    kt_delete_topic(a, topic);
    kt_delete_topic(b, remote);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recreated_shorter),
        cmocka_unit_test(test_recreated_longer),
        cmocka_unit_test(test_recreated_while_running),
        cmocka_unit_test(test_target_topic_recreated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
