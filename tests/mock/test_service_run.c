/* test_service_run.c — the kmirror binary under a service manager, on in-process mock clusters:
 * the test listens on the $NOTIFY_SOCKET it gives kmirror (as systemd does for Type=notify) and
 * checks that READY=1 comes only once the flow runs (not while its remote topic is missing),
 * WATCHDOG=1 comes when $WATCHDOG_USEC asks for it, SIGTERM brings STOPPING=1 and exit status 0,
 * and, with log.format = json, that every line kmirror wrote is one JSON object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kt.h"
#include "mock.h"
#include "sdnotify.h"
#include "util.h"

#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 60000

typedef struct notes {
    int fd;
    bool ready, watchdog, stopping; /* seen */
    char status[512];               /* the last STATUS= */
} notes_t;

/* Reads what arrives for up to timeout_ms, stopping early once want (a whole line) was seen. */
static bool read_notes(notes_t *n, const char *want, int timeout_ms) {
    int64_t deadline = km_now_mono_ms() + timeout_ms;
    for (int64_t left; (left = deadline - km_now_mono_ms()) > 0;) {
        struct pollfd p = {n->fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) != 1) continue;
        char buf[1024];
        ssize_t len = recv(n->fd, buf, sizeof(buf) - 1, 0);
        if (len <= 0) continue;
        buf[len] = '\0';
        bool hit = false;
        for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            n->ready |= strcmp(line, "READY=1") == 0;
            n->watchdog |= strcmp(line, "WATCHDOG=1") == 0;
            n->stopping |= strcmp(line, "STOPPING=1") == 0;
            if (strncmp(line, "STATUS=", 7) == 0) {
                snprintf(n->status, sizeof(n->status), "%s", line + 7);
                print_message("# %s\n", line);
            }
            hit |= want && strcmp(line, want) == 0;
        }
        if (hit) return true;
    }
    return false;
}

static void bind_notify_socket(notes_t *n) {
    char spec[64];
    snprintf(spec, sizeof(spec), "@kmirror-test-run-%d", (int)getpid());
    struct sockaddr_un sa;
    socklen_t len;
    assert_int_equal(km_sdnotify_addr(spec, &sa, &len), 0);
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(n->fd >= 0);
    assert_int_equal(bind(n->fd, (struct sockaddr *)&sa, len), 0);
    setenv("NOTIFY_SOCKET", spec, 1);
    setenv("WATCHDOG_USEC", "1000000", 1); /* a WATCHDOG=1 every 0.5 s */
}

/* Every line of the log is {"ts":..,"level":..,"msg":..}; returns how many say `msg`. */
static int check_json_log(const char *log, const char *msg) {
    int lines = 0, found = 0;
    for (const char *p = log; *p; lines++) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        json_error_t err;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (!o) print_error("log line %d is not JSON (%s): %.*s\n", lines + 1, err.text, (int)(nl - p), p);
        assert_non_null(o);
        assert_non_null(json_string_value(json_object_get(o, "ts")));
        assert_non_null(json_string_value(json_object_get(o, "level")));
        const char *m = json_string_value(json_object_get(o, "msg"));
        assert_non_null(m);
        found += strcmp(m, msg) == 0;
        json_decref(o);
        p = nl + 1;
    }
    assert_true(lines > 0);
    return found;
}

/* The last n lines of a log, one print_message each (it cuts long texts). */
static void print_log_tail(const char *text, int n) {
    const char *p = text + strlen(text);
    while (p > text && n >= 0)
        if (*--p == '\n') n--;
    for (const char *nl; (nl = strchr(p, '\n')); p = nl + 1) print_message("# %.*s\n", (int)(nl - p), p);
}

static void test_ready_watchdog_stopping(void **state) {
    char err[256];
    km_mock_t *a = km_mock_new(1, err, sizeof(err)), *b = km_mock_new(1, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(km_mock_create_topic(a, "orders", 2), 0);
    assert_int_equal(km_mock_create_mm2_topics(b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(a, "B"), 0);
    /* A.orders is missing on B, and the mock cannot create it: the flow cannot run yet. */
    char cfg[] = "/tmp/kmirror-svc-XXXXXX", log[] = "/tmp/kmirror-svc-log-XXXXXX";
    int fd = mkstemp(cfg), lfd = mkstemp(log);
    assert_true(fd >= 0 && lfd >= 0);
    close(lfd);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\nA->B.enabled = true\n"
               "replication.factor = 1\noffset.flush.interval.ms = 200\nadmin.timeout.ms = 2000\n"
               "refresh.topics.interval.seconds = 1\nshutdown.timeout.ms = 20000\nlog.format = json\n"
               "emit.checkpoints.enabled = false\n", /* the mock cannot list groups; nothing to check here */
            km_mock_bootstraps(a), km_mock_bootstraps(b));
    fclose(f);

    notes_t n = {0};
    bind_notify_socket(&n);
    const char *bin = getenv("KMIRROR_BIN");
    char *argv[] = {(char *)(bin ? bin : "build/kmirror"), cfg, NULL};
    pid_t pid = kt_spawn(argv, log);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    assert_true(pid > 0);

    /* Not ready while the flow is degraded; the status says why. */
    int64_t deadline = km_now_mono_ms() + WAIT_MS;
    while (!strstr(n.status, "degraded") && km_now_mono_ms() < deadline) read_notes(&n, NULL, 200);
    assert_non_null(strstr(n.status, "flow A->B is degraded"));
    assert_false(n.ready);
    assert_int_equal(km_mock_create_topic(b, "A.orders", 2), 0);
    assert_true(read_notes(&n, "READY=1", WAIT_MS));
    assert_string_equal(n.status, "every flow runs");
    assert_true(read_notes(&n, "WATCHDOG=1", WAIT_MS));

    assert_int_equal(kt_signal(pid, SIGTERM), 0);
    assert_true(read_notes(&n, "STOPPING=1", WAIT_MS));
    int status;
    assert_int_equal(kt_wait_exit(pid, WAIT_MS, &status), 0);
    char *text = kt_read_file(log);
    assert_non_null(text);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) print_log_tail(text, 20);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(check_json_log(text, "stopped cleanly"), 1);
    free(text);
    unlink(cfg);
    unlink(log);
    close(n.fd);
    km_mock_free(a);
    km_mock_free(b);
}

static int kill_children(void **state) {
    kt_kill_children();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ready_watchdog_stopping, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
