/* test_topic_wait.c — a remote topic that cannot be created holds back only itself: on mock
 * clusters (which never answer CreateTopics) with a long admin.timeout.ms, the topics whose remote
 * topic exists are replicated while the creation of the other one still waits, and /status says
 * why the flow is degraded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http.h"
#include "kt.h"
#include "mock.h"
#include "util.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 60000

typedef struct env {
    km_mock_t *a, *b;
    char log[64];
    int port;
} env_t;

static bool log_port(void *arg) {
    env_t *e = arg;
    static const char *const said = "serving /metrics, /status and /healthz on http://127.0.0.1:";
    char *text = kt_read_file(e->log);
    const char *p = text ? strstr(text, said) : NULL;
    if (p) e->port = atoi(p + strlen(said));
    free(text);
    return e->port > 0;
}

/* The flow's /status reason mentions the topic still waiting for its remote topic. */
static bool status_waits(void *arg) {
    env_t *e = arg;
    char url[64], err[256], *body = NULL;
    int status = 0;
    snprintf(url, sizeof(url), "127.0.0.1:%d/status", e->port);
    if (km_http_get(url, 5000, &status, &body, err, sizeof(err)) != 0 || status != 200) {
        free(body);
        return false;
    }
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    json_t *f = json_array_get(json_object_get(doc, "flows"), 0);
    const char *reason = json_string_value(json_object_get(f, "reason"));
    bool hit = reason && strstr(reason, "audit") && strstr(reason, "remote topic");
    json_decref(doc);
    return hit;
}

static void test_missing_remote_topic_holds_back_only_itself(void **state) {
    char err[256];
    env_t e = {0};
    e.a = km_mock_new(1, err, sizeof(err));
    e.b = km_mock_new(1, err, sizeof(err));
    assert_non_null(e.a);
    assert_non_null(e.b);
    assert_int_equal(km_mock_create_topic(e.a, "orders", 1), 0);
    assert_int_equal(km_mock_create_topic(e.a, "audit", 1), 0);
    assert_int_equal(km_mock_create_topic(e.b, "A.orders", 1), 0); /* A.audit is missing */
    assert_int_equal(km_mock_create_mm2_topics(e.b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(e.a, "B"), 0);
    kt_msg_t msgs[5];
    for (int i = 0; i < 5; i++) msgs[i] = (kt_msg_t){.partition = 0, .key = "k", .value = "v"};
    assert_int_equal(kt_produce(km_mock_bootstraps(e.a), "orders", msgs, 5, NULL, NULL), 0);

    char cfg[] = "/tmp/kmirror-twait-XXXXXX";
    snprintf(e.log, sizeof(e.log), "/tmp/kmirror-twait-log-XXXXXX");
    int fd = mkstemp(cfg), lfd = mkstemp(e.log);
    assert_true(fd >= 0 && lfd >= 0);
    close(lfd);
    FILE *f = fdopen(fd, "w");
    /* admin.timeout.ms above the test's own deadline: a creation that held everything up would
     * fail the test, not just slow it. */
    fprintf(f, "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\nA->B.enabled = true\n"
               "A->B.topics = orders, audit\nreplication.factor = 1\noffset.flush.interval.ms = 200\n"
               "admin.timeout.ms = 120000\nshutdown.timeout.ms = 5000\nemit.checkpoints.enabled = false\n"
               "emit.heartbeats.enabled = false\nsync.topic.configs.enabled = false\nmetrics.listen = 127.0.0.1:0\n",
            km_mock_bootstraps(e.a), km_mock_bootstraps(e.b));
    fclose(f);
    const char *bin = getenv("KMIRROR_BIN");
    char *argv[] = {(char *)(bin ? bin : "build/kmirror"), cfg, NULL};
    pid_t pid = kt_spawn(argv, e.log);
    assert_true(pid > 0);
    assert_true(kt_wait_until(log_port, &e, WAIT_MS));

    kt_record_t *r;
    size_t n;
    kt_consume_opts_t o = {.expected = 5, .timeout_ms = WAIT_MS};
    int rc = kt_consume(km_mock_bootstraps(e.b), "A.orders", &o, &r, &n);
    kt_records_free(r, n);
    print_message("# %zu of 5 records of orders replicated while A.audit cannot be created\n", n);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 5);
    assert_true(kt_wait_until(status_waits, &e, WAIT_MS));

    assert_int_equal(kt_signal(pid, SIGTERM), 0);
    int status;
    assert_int_equal(kt_wait_exit(pid, 8000, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(cfg);
    unlink(e.log);
    km_mock_free(e.a);
    km_mock_free(e.b);
}

static int kill_children(void **state) {
    kt_kill_children();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_missing_remote_topic_holds_back_only_itself, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
