/* test_signals.c — signals to the kmirror binary at each stage of its life, on in-process mock
 * clusters (some made unreachable): SIGHUP reloads the configuration and leaves it running; SIGTERM, whatever kmirror is
 * waiting for, ends it with exit status 0 within shutdown.timeout.ms; a crash leaves its call
 * stack in the log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kt.h"
#include "mock.h"
#include "util.h"

#include <arpa/inet.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 60000
#define SHUTDOWN_MS 5000
/* Slack over shutdown.timeout.ms for process exit itself (librdkafka's threads, a loaded machine). */
#define EXIT_SLACK_MS 3000

typedef struct child {
    pid_t pid;
    char cfg[64], log[64];
} child_t;

/* The last n lines of a log, one print_message each (it cuts long texts). */
static void print_log_tail(const char *path, int n) {
    char *text = kt_read_file(path);
    if (!text) return;
    const char *p = text + strlen(text);
    while (p > text && n >= 0)
        if (*--p == '\n') n--;
    for (const char *nl; (nl = strchr(p, '\n')); p = nl + 1) print_message("# %.*s\n", (int)(nl - p), p);
    free(text);
}

/* Starts kmirror on a flow A->B with the given bootstraps and extra configuration lines. */
static void start(child_t *c, const char *a, const char *b, const char *extra) {
    snprintf(c->cfg, sizeof(c->cfg), "/tmp/kmirror-sig-XXXXXX");
    snprintf(c->log, sizeof(c->log), "/tmp/kmirror-sig-log-XXXXXX");
    int fd = mkstemp(c->cfg), lfd = mkstemp(c->log);
    assert_true(fd >= 0 && lfd >= 0);
    close(lfd);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\nA->B.enabled = true\n"
               "replication.factor = 1\noffset.flush.interval.ms = 200\nadmin.timeout.ms = 60000\n"
               "shutdown.timeout.ms = %d\nemit.checkpoints.enabled = false\n%s",
            a, b, SHUTDOWN_MS, extra ? extra : "");
    fclose(f);
    const char *bin = getenv("KMIRROR_BIN");
    char *argv[] = {(char *)(bin ? bin : "build/kmirror"), c->cfg, NULL};
    c->pid = kt_spawn(argv, c->log);
    assert_true(c->pid > 0);
}

typedef struct seen {
    const char *log, *what;
} seen_t;

static bool log_has(void *arg) {
    seen_t *s = arg;
    char *text = kt_read_file(s->log);
    bool hit = text && strstr(text, s->what);
    free(text);
    return hit;
}

static void wait_log(const child_t *c, const char *what) {
    seen_t s = {c->log, what};
    bool hit = kt_wait_until(log_has, &s, WAIT_MS);
    if (!hit) {
        print_message("# the log never said \"%s\":\n", what);
        print_log_tail(c->log, 20);
    }
    assert_true(hit);
}

/* SIGTERM, then exit status 0 within shutdown.timeout.ms (and a little for the process to end),
 * with `said` in the log unless NULL. */
static void stop_cleanly_saying(child_t *c, const char *said) {
    int64_t t0 = km_now_mono_ms();
    assert_int_equal(kt_signal(c->pid, SIGTERM), 0);
    int status = 0;
    int rc = kt_wait_exit(c->pid, SHUTDOWN_MS + EXIT_SLACK_MS, &status);
    int64_t took = km_now_mono_ms() - t0;
    print_message("# SIGTERM to exit: %lld ms\n", (long long)took);
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_message("# %s\n", rc != 0 ? "still running" : WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exit status not 0");
        if (rc == 0 && WIFEXITED(status)) print_message("# exit status %d\n", WEXITSTATUS(status));
        print_log_tail(c->log, 20);
    }
    assert_int_equal(rc, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    if (said) {
        seen_t s = {c->log, said};
        if (!log_has(&s)) print_message("# the log never said \"%s\"\n", said);
        assert_true(log_has(&s));
    }
    unlink(c->cfg);
    unlink(c->log);
}

static void stop_cleanly(child_t *c) { stop_cleanly_saying(c, NULL); }

typedef struct fixture {
    km_mock_t *a, *b;
} fixture_t;

/* Two mock clusters with what A->B needs, except the topics named in `omit` on B (which the
 * mock cannot create: kmirror then waits for CreateTopics until admin.timeout.ms). */
static fixture_t *clusters(const char *const *omit) {
    char err[256];
    fixture_t *fx = calloc(1, sizeof(*fx));
    fx->a = km_mock_new(1, err, sizeof(err));
    fx->b = km_mock_new(1, err, sizeof(err));
    if (!fx->a || !fx->b) return NULL;
    static const char *const on_b[] = {"A.orders", "mm2-offsets.A.internal", "A.checkpoints.internal", "heartbeats",
                                       "mm2-kmirror-tasks.A.A-mm2.internal", "A.heartbeats", NULL};
    int rc = km_mock_create_topic(fx->a, "orders", 2) | km_mock_create_mm2_topics(fx->a, "B");
    for (int i = 0; on_b[i]; i++) {
        bool skip = false;
        for (int k = 0; omit && omit[k]; k++) skip |= strcmp(omit[k], on_b[i]) == 0;
        if (!skip) rc |= km_mock_create_topic(fx->b, on_b[i], i == 0 ? 2 : i == 1 ? 25 : 1);
    }
    return rc ? NULL : fx;
}

static int setup(void **state) {
    *state = clusters(NULL);
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    kt_kill_children();
    fixture_t *fx = *state;
    if (!fx) return 0;
    if (fx->a) km_mock_free(fx->a);
    if (fx->b) km_mock_free(fx->b);
    free(fx);
    return 0;
}

/* SIGHUP while running: the configuration is read again (test_reload.c has the rest); SIGTERM
 * then stops cleanly. */
static void test_sighup_reloads(void **state) {
    fixture_t *fx = *state;
    child_t c;
    start(&c, km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), NULL);
    wait_log(&c, "kmirror running");
    assert_int_equal(kt_signal(c.pid, SIGHUP), 0);
    wait_log(&c, "configuration reloaded from");
    assert_int_equal(waitpid(c.pid, NULL, WNOHANG), 0); /* still running */
    stop_cleanly(&c);
}

/* A crash leaves its call stack in the log and still kills the process by its signal (a core
 * dump where enabled), as it would without the report. */
static void test_crash_leaves_call_stack(void **state) {
    fixture_t *fx = *state;
    child_t c;
    start(&c, km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), NULL);
    wait_log(&c, "kmirror running");
    assert_int_equal(kt_signal(c.pid, SIGSEGV), 0);
    int st;
    assert_int_equal(kt_wait_exit(c.pid, WAIT_MS, &st), 0);
#if defined(__SANITIZE_ADDRESS__)
    /* make test SANITIZE=1: AddressSanitizer's own report (the signal may land on any thread) */
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    wait_log(&c, "ERROR: AddressSanitizer: SEGV");
    wait_log(&c, "SUMMARY: AddressSanitizer: SEGV");
#else
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    wait_log(&c, "kmirror: fatal signal; call stack:");
    wait_log(&c, "kmirror("); /* a frame of the binary itself */
#endif
    unlink(c.cfg);
    unlink(c.log);
}

/* "127.0.0.1:PORT" where nothing listens. */
static const char *closed_port(char *buf, size_t len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(buf, len, "127.0.0.1:%d", ntohs(sa.sin_port));
    return buf;
}

/* librdkafka's second report of a refused connection: kmirror has been waiting for the cluster
 * for a second or more (past the first slice of its metadata waits). */
#define STILL_REFUSED "identical error(s) suppressed"

/* SIGTERM once the log says `stage`, while kmirror waits on a cluster that does not answer. */
static void sigterm_at(const char *a, const char *b, const char *stage, const char *extra) {
    child_t c;
    start(&c, a, b, extra);
    wait_log(&c, stage);
    stop_cleanly(&c);
}

/* Connecting to the source, which refuses connections. */
static void test_sigterm_source_unreachable(void **state) {
    fixture_t *fx = *state;
    char port[64];
    sigterm_at(closed_port(port, sizeof(port)), km_mock_bootstraps(fx->b), STILL_REFUSED, NULL);
}

/* Connecting to the target, which refuses connections. */
static void test_sigterm_target_unreachable(void **state) {
    fixture_t *fx = *state;
    char port[64];
    sigterm_at(km_mock_bootstraps(fx->a), closed_port(port, sizeof(port)), STILL_REFUSED, NULL);
}

/* The target's only broker is down (it accepts nothing). */
static void test_sigterm_target_broker_down(void **state) {
    fixture_t *fx = *state;
    rd_kafka_mock_broker_set_down(km_mock_cluster(fx->b), 1);
    sigterm_at(km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), STILL_REFUSED, NULL);
    rd_kafka_mock_broker_set_up(km_mock_cluster(fx->b), 1);
}

/* Creating the positions topic on a target that never answers CreateTopics: the start creates
 * it once it has joined the group. */
static void test_sigterm_creating_offsets_topic(void **state) {
    static const char *const omit[] = {"mm2-offsets.A.internal", NULL};
    fixture_t *fx = *state = clusters(omit);
    assert_non_null(fx);
    sigterm_at(km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), "joined group", NULL);
}

/* Creating the group's tasks topic (coordinator set-up), the first topic a start creates. */
static void test_sigterm_creating_tasks_topic(void **state) {
    static const char *const omit[] = {"mm2-kmirror-tasks.A.A-mm2.internal", "A.heartbeats", NULL};
    fixture_t *fx = *state = clusters(omit);
    assert_non_null(fx);
    sigterm_at(km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), "flow A->B: starting", NULL);
}

/* Creating the remote topic, right after joining the group (before any assignment). */
static void test_sigterm_creating_remote_topic(void **state) {
    static const char *const omit[] = {"A.orders", NULL};
    fixture_t *fx = *state = clusters(omit);
    assert_non_null(fx);
    sigterm_at(km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), "joined group", NULL);
}

/* Creating the heartbeats topic. */
static void test_sigterm_creating_heartbeats_topic(void **state) {
    static const char *const omit[] = {"heartbeats", NULL};
    fixture_t *fx = *state = clusters(omit);
    assert_non_null(fx);
    sigterm_at(km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), "divided into the group", NULL);
}

/* Waiting for the first task assignment: the consumer must not be closed in the way that makes
 * librdkafka 2.0.2's sticky assignor abort. */
static void test_sigterm_waiting_for_assignment(void **state) {
    fixture_t *fx = *state;
    sigterm_at(km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), "joined group", NULL);
}

/* librdkafka's group debug line once the group answered the JoinGroup and the member waits for
 * its SyncGroup (the state the tests below stop in). */
#define CGRP_DEBUG "log.level = debug\nB.consumer.debug = cgrp\n"
#define JOIN_ANSWERED "-> wait-sync"

/* SyncGroup (API key 14) answers from B held back by rtt_ms, n times: the group has answered
 * the member's JoinGroup but not yet sent its assignment. */
static void hold_sync(fixture_t *fx, int n, int rtt_ms) {
    for (int i = 0; i < n; i++)
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(km_mock_cluster(fx->b), 1, 14, 1,
                                                                      RD_KAFKA_RESP_ERR_NO_ERROR, rtt_ms),
                         0);
}

/* Between JoinGroup and the first SyncGroup answer, the state in which librdkafka 2.0.2 aborts
 * when the consumer is destroyed (#4312): the stop waits for the assignment, which comes before
 * shutdown.timeout.ms. */
static void test_sigterm_waiting_for_sync(void **state) {
    fixture_t *fx = *state;
    hold_sync(fx, 1, 3000);
    sigterm_at(km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), JOIN_ANSWERED, CGRP_DEBUG);
}

/* The same with an assignment that comes only after shutdown.timeout.ms: the stop still ends in
 * time, says why the member was left behind, and does not abort. */
static void test_sigterm_sync_past_deadline(void **state) {
    fixture_t *fx = *state;
    hold_sync(fx, 3, 20000);
    child_t c;
    start(&c, km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), CGRP_DEBUG);
    wait_log(&c, JOIN_ANSWERED);
    stop_cleanly_saying(&c, "sent no assignment before the stop's deadline");
}

/* Setting up checkpoints: the checkpoints topic cannot be created. */
static void test_sigterm_creating_checkpoints_topic(void **state) {
    static const char *const omit[] = {"A.checkpoints.internal", NULL};
    fixture_t *fx = *state = clusters(omit);
    assert_non_null(fx);
    sigterm_at(km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), "running task(s) 0", "emit.checkpoints.enabled = true\n");
}

/* A heartbeats topic that cannot be created (admin.timeout.ms = 60 s) does not hold up the
 * start: kmirror runs before the creation gave up, and stops cleanly meanwhile. */
static void test_heartbeats_setup_beside_start(void **state) {
    static const char *const omit[] = {"heartbeats", NULL};
    fixture_t *fx = *state = clusters(omit);
    assert_non_null(fx);
    child_t c;
    start(&c, km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), NULL);
    wait_log(&c, "kmirror running");
    char *text = kt_read_file(c.log);
    assert_non_null(text);
    bool gave_up = strstr(text, "heartbeats A->B: not emitted") != NULL;
    if (gave_up) print_message("# kmirror ran only after the heartbeats set-up gave up\n");
    free(text);
    assert_false(gave_up);
    stop_cleanly(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sighup_reloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_leaves_call_stack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_source_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_target_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_target_broker_down, setup, teardown),
        cmocka_unit_test_teardown(test_sigterm_creating_offsets_topic, teardown),
        cmocka_unit_test_teardown(test_sigterm_creating_tasks_topic, teardown),
        cmocka_unit_test_teardown(test_sigterm_creating_remote_topic, teardown),
        cmocka_unit_test_teardown(test_sigterm_creating_heartbeats_topic, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_waiting_for_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_waiting_for_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_sync_past_deadline, setup, teardown),
        cmocka_unit_test_teardown(test_sigterm_creating_checkpoints_topic, teardown),
        cmocka_unit_test_teardown(test_heartbeats_setup_beside_start, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
