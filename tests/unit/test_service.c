/* test_service.c — what kmirror tells a service manager and a log shipper, without clusters:
 * the sd_notify protocol (socket addresses, the watchdog's environment, READY=1 only once every
 * flow runs, STATUS= on changes, STOPPING=1, WATCHDOG=1) against a socket this test listens on,
 * and log.format = json (every line one JSON object that a strict parser reads back unchanged,
 * whatever bytes the message holds). tests/mock/test_service.c runs the same through the binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "sdnotify.h"
#include "util.h"

#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a listening socket ----------------------------------------------------------------- */

typedef struct listener {
    int fd;
    char spec[108]; /* what NOTIFY_SOCKET says */
} listener_t;

static void listen_at(listener_t *l, bool abstract) {
    static int seq;
    if (abstract) snprintf(l->spec, sizeof(l->spec), "@kmirror-test-%d-%d", (int)getpid(), seq++);
    else snprintf(l->spec, sizeof(l->spec), "/tmp/kmirror-notify-%d-%d", (int)getpid(), seq++);
    struct sockaddr_un sa;
    socklen_t len;
    assert_int_equal(km_sdnotify_addr(l->spec, &sa, &len), 0);
    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(l->fd >= 0);
    assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, len), 0);
    setenv("NOTIFY_SOCKET", l->spec, 1);
}

static void listen_close(listener_t *l) {
    close(l->fd);
    if (l->spec[0] == '/') unlink(l->spec);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

/* The next message within timeout_ms into buf, or "" when none came. */
static const char *next_msg(listener_t *l, char *buf, size_t cap, int timeout_ms) {
    struct pollfd p = {l->fd, POLLIN, 0};
    buf[0] = '\0';
    if (poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = recv(l->fd, buf, cap - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
    }
    return buf;
}

/* ---- protocol pieces ------------------------------------------------------------------------ */

static void test_addresses(void **state) {
    struct sockaddr_un sa;
    socklen_t len;
    assert_int_equal(km_sdnotify_addr("/run/systemd/notify", &sa, &len), 0);
    assert_string_equal(sa.sun_path, "/run/systemd/notify");
    assert_int_equal(km_sdnotify_addr("@abc", &sa, &len), 0);
    assert_int_equal(sa.sun_path[0], '\0');
    assert_memory_equal(sa.sun_path + 1, "abc", 3);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 4); /* the name has no NUL */
    assert_int_equal(km_sdnotify_addr("relative/path", &sa, &len), -1);
    assert_int_equal(km_sdnotify_addr("@", &sa, &len), -1);
    assert_int_equal(km_sdnotify_addr("", &sa, &len), -1);
    assert_int_equal(km_sdnotify_addr(NULL, &sa, &len), -1);
    char longpath[200];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(km_sdnotify_addr(longpath, &sa, &len), -1);
}

static void test_watchdog_environment(void **state) {
    assert_int_equal(km_sdnotify_watchdog_usec("30000000", NULL, 42), 30000000);
    assert_int_equal(km_sdnotify_watchdog_usec("30000000", "42", 42), 30000000);
    assert_int_equal(km_sdnotify_watchdog_usec("30000000", "43", 42), 0); /* another process's */
    assert_int_equal(km_sdnotify_watchdog_usec(NULL, NULL, 42), 0);
    assert_int_equal(km_sdnotify_watchdog_usec("", NULL, 42), 0);
    assert_int_equal(km_sdnotify_watchdog_usec("0", NULL, 42), 0);
    assert_int_equal(km_sdnotify_watchdog_usec("-5", NULL, 42), 0);
    assert_int_equal(km_sdnotify_watchdog_usec("12s", NULL, 42), 0);
    assert_int_equal(km_sdnotify_watchdog_usec("99999999999999999999", NULL, 42), 0);
}

static void test_no_socket_no_handle(void **state) {
    unsetenv("NOTIFY_SOCKET");
    assert_null(km_sdnotify_new());
    setenv("NOTIFY_SOCKET", "not-absolute", 1);
    assert_null(km_sdnotify_new()); /* said in the log, never a crash */
    unsetenv("NOTIFY_SOCKET");
    km_sdnotify_tick(NULL, NULL);
    km_sdnotify_stopping(NULL, "x");
    assert_int_equal(km_sdnotify_send(NULL, "READY=1"), 0);
    km_sdnotify_free(NULL);
}

static void send_to(bool abstract) {
    listener_t l;
    char buf[512];
    listen_at(&l, abstract);
    km_sdnotify_t *n = km_sdnotify_new();
    assert_non_null(n);
    assert_int_equal(km_sdnotify_send(n, "STATUS=hello"), 0);
    assert_string_equal(next_msg(&l, buf, sizeof(buf), 5000), "STATUS=hello");
    km_sdnotify_stopping(n, "stopping: one\ntwo");
    assert_string_equal(next_msg(&l, buf, sizeof(buf), 5000), "STOPPING=1\nSTATUS=stopping: one two");
    km_sdnotify_free(n);
    listen_close(&l);
}

static void test_send_abstract(void **state) { send_to(true); }
static void test_send_path(void **state) { send_to(false); }

/* Nobody listens: a send fails with errno, and kmirror goes on. */
static void test_send_fails_loudly(void **state) {
    setenv("NOTIFY_SOCKET", "/nonexistent-dir/notify", 1);
    km_sdnotify_t *n = km_sdnotify_new();
    assert_non_null(n);
    assert_int_equal(km_sdnotify_send(n, "READY=1"), -1);
    assert_int_equal(km_sdnotify_send(n, "READY=1"), -1);
    km_sdnotify_free(n);
    unsetenv("NOTIFY_SOCKET");
}

/* ---- READY, STATUS, WATCHDOG from the main loop's tick ------------------------------------ */

typedef struct one_flow {
    km_config_t cfg;
    km_diag_t d;
    km_metrics_t *m;
    km_flow_metrics_t *fm;
} one_flow_t;

static void one_flow_new(one_flow_t *o) {
    static const char text[] = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\n"
                               "A->B.enabled = true\n";
    memset(o, 0, sizeof(*o));
    assert_int_equal(km_config_load_buf(&o->cfg, text, strlen(text), "t.properties", NULL, 0, &o->d), 0);
    o->m = km_metrics_new();
    for (size_t i = 0; i < o->cfg.nflows; i++)
        if (o->cfg.flows[i].runs_here) o->fm = km_metrics_add_flow(o->m, &o->cfg.flows[i]);
    assert_non_null(o->fm);
}

static void one_flow_free(one_flow_t *o) {
    km_metrics_free(o->m);
    km_config_free(&o->cfg);
    km_diag_free(&o->d);
}

/* Ticks as the main loop does (every 10 ms here) until a message starting with `want` arrives;
 * every other message is appended to `seen`. */
static bool tick_until(km_sdnotify_t *n, one_flow_t *o, listener_t *l, const char *want, char *seen, size_t cap) {
    int64_t deadline = km_now_mono_ms() + 10000;
    char buf[512];
    while (km_now_mono_ms() < deadline) {
        km_sdnotify_tick(n, o->m);
        while (*next_msg(l, buf, sizeof(buf), 10)) {
            if (strncmp(buf, want, strlen(want)) == 0) return true;
            if (strlen(seen) + strlen(buf) + 2 < cap) strcat(strcat(seen, buf), "|");
        }
    }
    return false;
}

static void test_ready_once_every_flow_runs(void **state) {
    listener_t l;
    one_flow_t o;
    char seen[4096] = "";
    listen_at(&l, true);
    one_flow_new(&o);
    km_sdnotify_t *n = km_sdnotify_new();
    assert_non_null(n);
    /* starting: a STATUS saying so, no READY */
    assert_true(tick_until(n, &o, &l, "STATUS=flow A->B is starting", seen, sizeof(seen)));
    km_flow_metrics_state(o.fm, KM_FLOW_DEGRADED, "topic t cannot be created");
    assert_true(tick_until(n, &o, &l, "STATUS=flow A->B is degraded: topic t cannot be created", seen, sizeof(seen)));
    km_flow_metrics_state(o.fm, KM_FLOW_RUNNING, NULL);
    assert_true(tick_until(n, &o, &l, "READY=1\nSTATUS=every flow runs", seen, sizeof(seen)));
    assert_null(strstr(seen, "READY")); /* not before */
    /* after READY, changes are still told, READY is not repeated */
    km_flow_metrics_state(o.fm, KM_FLOW_DEGRADED, "lost");
    assert_true(tick_until(n, &o, &l, "STATUS=flow A->B is degraded: lost", seen, sizeof(seen)));
    km_flow_metrics_state(o.fm, KM_FLOW_RUNNING, NULL);
    seen[0] = '\0';
    assert_true(tick_until(n, &o, &l, "STATUS=every flow runs", seen, sizeof(seen)));
    assert_string_equal(seen, ""); /* and nothing else: no WATCHDOG without WATCHDOG_USEC */
    km_sdnotify_free(n);
    one_flow_free(&o);
    listen_close(&l);
}

static void test_watchdog(void **state) {
    listener_t l;
    one_flow_t o;
    char seen[4096] = "", pid[32];
    listen_at(&l, true);
    one_flow_new(&o);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_USEC", "100000", 1); /* 100 ms: a WATCHDOG=1 every 50 ms */
    setenv("WATCHDOG_PID", pid, 1);
    km_sdnotify_t *n = km_sdnotify_new();
    assert_non_null(n);
    for (int i = 0; i < 3; i++) assert_true(tick_until(n, &o, &l, "WATCHDOG=1", seen, sizeof(seen)));
    km_sdnotify_free(n);
    /* meant for another process: none */
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    n = km_sdnotify_new();
    int64_t until = km_now_mono_ms() + 300;
    char buf[512];
    while (km_now_mono_ms() < until) {
        km_sdnotify_tick(n, o.m);
        while (*next_msg(&l, buf, sizeof(buf), 10)) assert_null(strstr(buf, "WATCHDOG"));
    }
    km_sdnotify_free(n);
    one_flow_free(&o);
    listen_close(&l);
}

/* ---- log.format = json -------------------------------------------------------------------- */

/* Runs km_log with stderr sent to a file; returns what was written (caller frees). */
static char *log_capture(km_log_format_t f, km_log_level_t lvl, const char *msg) {
    char path[] = "/tmp/kmirror-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    km_log_set_format(f);
    km_log(lvl, "%s", msg);
    km_log_set_format(KM_LOG_TEXT);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    char *out = km_xcalloc(1, 65536);
    ssize_t n = read(fd, out, 65535);
    assert_true(n > 0);
    close(fd);
    unlink(path);
    return out;
}

/* One line, one object {"ts","level","msg"}, msg as given (or as shipped after U+FFFD). */
static void assert_json_line(const char *line, const char *level, const char *msg) {
    const char *nl = strchr(line, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0'); /* exactly one line */
    json_error_t err;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    if (!o) print_error("not JSON (%s): %s", err.text, line);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 3);
    const char *ts = json_string_value(json_object_get(o, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-11-25T12:00:00.123Z"));
    assert_int_equal(ts[strlen(ts) - 1], 'Z');
    assert_string_equal(json_string_value(json_object_get(o, "level")), level);
    if (msg) assert_string_equal(json_string_value(json_object_get(o, "msg")), msg);
    json_decref(o);
}

static void test_json_lines(void **state) {
    static const struct { km_log_level_t lvl; const char *name, *msg; } cases[] = {
        {KM_LOG_ERROR, "error", "flow A->B: topic \"orders\" \\ partition 3"},
        {KM_LOG_WARN, "warn", "tab\there, newline\nthere, cr\r, bell\a, del\x7f, esc\x1b"},
        {KM_LOG_INFO, "info", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"}, /* UTF-8 passes unchanged */
        {KM_LOG_INFO, "info", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = log_capture(KM_LOG_JSON, cases[i].lvl, cases[i].msg);
        assert_json_line(out, cases[i].name, cases[i].msg);
        free(out);
    }
    /* not UTF-8 (a lone continuation byte, a cut sequence, an overlong '/', a surrogate) */
    char *out = log_capture(KM_LOG_JSON, KM_LOG_WARN, "a\x80" "b\xe2\x82" "c\xc0\xaf" "d\xed\xa0\x80");
    assert_json_line(out, "warn", "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
                                  "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(out);
    /* text stays as it was */
    out = log_capture(KM_LOG_TEXT, KM_LOG_WARN, "plain \"text\"");
    assert_non_null(strstr(out, "Z WARN  plain \"text\"\n"));
    free(out);
}

/* A message longer than a line holds is cut, still one valid object. */
static void test_json_long_message(void **state) {
    char *msg = km_xmalloc(20000);
    for (size_t i = 0; i < 19999; i++) msg[i] = i % 7 == 0 ? '"' : 'x'; /* escapes double some bytes */
    msg[19999] = '\0';
    char *out = log_capture(KM_LOG_JSON, KM_LOG_ERROR, msg);
    assert_json_line(out, "error", NULL);
    free(out);
    free(msg);
    /* the escaper never splits an escape or a character at the cut */
    char buf[8];
    assert_int_equal(km_log_json_escape(buf, 3, "ab\"cd", 5), 2); /* \" does not fit after a b */
    assert_int_equal(km_log_json_escape(buf, 3, "a\x01", 2), 1);  /* \u0001 does not fit */
    assert_int_equal(km_log_json_escape(buf, 3, "a\xe2\x82\xac", 4), 1);
}

static void test_config_key(void **state) {
    static const char base[] = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\n"
                               "A->B.enabled = true\n";
    const char *vals[] = {"json", " JSON ", "text"};
    for (size_t i = 0; i < 3; i++) {
        char *text = km_xasprintf("%slog.format = %s\n", base, vals[i]);
        km_config_t cfg;
        km_diag_t d = {0};
        assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "t.properties", NULL, 0, &d), 0);
        assert_int_equal(d.nwarnings, 0); /* a known key */
        assert_int_equal(cfg.log_json, i < 2);
        km_config_free(&cfg);
        km_diag_free(&d);
        free(text);
    }
    char *text = km_xasprintf("%slog.format = logfmt\n", base);
    km_config_t cfg;
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "t.properties", NULL, 0, &d), -1);
    assert_int_equal(d.nerrors, 1);
    assert_non_null(strstr(d.errors[0], "log.format must be text or json, got 'logfmt'"));
    km_config_free(&cfg);
    km_diag_free(&d);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_watchdog_environment),
        cmocka_unit_test(test_no_socket_no_handle),
        cmocka_unit_test(test_send_abstract),
        cmocka_unit_test(test_send_path),
        cmocka_unit_test(test_send_fails_loudly),
        cmocka_unit_test(test_ready_once_every_flow_runs),
        cmocka_unit_test(test_watchdog),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_json_long_message),
        cmocka_unit_test(test_config_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
