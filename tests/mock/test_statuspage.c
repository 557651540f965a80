/* test_statuspage.c — the status page (GET / of the metrics endpoint) as a person sees it: kmirror
 * runs as a child on two in-process mock clusters with two flows, A->B replicating and B->A
 * degraded (its remote topic is missing on A and the mock cannot create it); headless Chromium
 * (Debian's `chromium`, installed by scripts/install-deps.sh) loads the page, lets its script
 * read /status, and the rendered DOM must name both flows, their states and the degraded flow's
 * reason as /status gives it. The screenshot is kept as test-logs/statuspage.png beside the
 * binary under test. Without chromium the test fails: it is a declared dependency, not optional. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kt.h"
#include "kt_kmirror.h"
#include "kt_metrics.h"
#include "mock.h"

#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 60000
#define RECORDS 500
#define CHROMIUM_TIMEOUT_S "120" /* bounds a hung browser; the page itself needs a few seconds */

typedef struct run {
    kt_kmirror_t *k;
    int port;
    char *reason; /* B->A's reason in /status, once A->B mirrored everything and B->A is degraded */
} run_t;

static bool port_logged(void *arg) {
    run_t *r = arg;
    char *text = kt_kmirror_log(r->k);
    const char *at = text ? strstr(text, "/healthz on http://127.0.0.1:") : NULL;
    if (at) r->port = atoi(at + strlen("/healthz on http://127.0.0.1:"));
    free(text);
    return r->port > 0;
}

static json_t *flow_named(json_t *doc, const char *name) {
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "flows"), i, f) if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0) return f;
    return NULL;
}

/* A->B running with every record of orders mirrored (so the page has figures to show), B->A degraded. */
static bool settled(void *arg) {
    run_t *r = arg;
    int code;
    char *body;
    if (kt_http_get(r->port, "/status", &code, &body) != 0) return false;
    json_t *doc = json_loads(body, 0, NULL), *ab = flow_named(doc, "A->B"), *ba = flow_named(doc, "B->A"), *p;
    free(body);
    json_int_t records = 0;
    size_t i;
    json_array_foreach(json_object_get(ab, "partitions"), i, p) if (strcmp(json_string_value(json_object_get(p, "topic")), "orders") == 0)
        records += json_integer_value(json_object_get(p, "records"));
    const char *ba_state = json_string_value(json_object_get(ba, "state")), *reason = json_string_value(json_object_get(ba, "reason"));
    bool ok = ab && ba && strcmp(json_string_value(json_object_get(ab, "state")), "running") == 0 && records == RECORDS &&
              ba_state && strcmp(ba_state, "degraded") == 0 && reason;
    if (ok) {
        free(r->reason);
        r->reason = strdup(reason);
    }
    json_decref(doc);
    return ok;
}

/* The text of the DOM dump with the entities HTML serialisation uses turned back into characters,
 * so that flow names ("A->B") and reasons compare as /status writes them. */
static void unescape_html(char *s) {
    static const struct { const char *ent; char c; } ents[] = {{"&gt;", '>'}, {"&lt;", '<'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&amp;", '&'}};
    char *out = s;
    for (const char *in = s; *in;) {
        size_t i = 0;
        while (i < sizeof(ents) / sizeof(ents[0]) && strncmp(in, ents[i].ent, strlen(ents[i].ent)) != 0) i++;
        if (i < sizeof(ents) / sizeof(ents[0])) *out++ = ents[i].c, in += strlen(ents[i].ent);
        else *out++ = *in++;
    }
    *out = '\0';
}

static bool in_path(const char *prog) {
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/bin:/bin"), *save = NULL, full[1024];
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        snprintf(full, sizeof(full), "%s/%s", d, prog);
        found = access(full, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* Runs headless chromium on url with the page's script given 8 s of virtual time (a first read of
 * /status and a refresh); `action` is --dump-dom or --screenshot=PATH. Returns its exit status. */
static int chromium(const char *url, const char *action, char **out) {
    char profile[600];
    snprintf(profile, sizeof(profile), "--user-data-dir=%s/chromium-profile", kt_kmirror_dir());
    char *argv[] = {"timeout", CHROMIUM_TIMEOUT_S, "chromium", "--headless", "--disable-gpu", "--no-sandbox",
                    "--no-first-run", "--hide-scrollbars", "--window-size=1280,1500", "--virtual-time-budget=8000",
                    profile, (char *)action, (char *)url, NULL};
    return kt_run(argv, out);
}

static void expect_in(const char *dom, const char *what) {
    if (!strstr(dom, what)) print_error("the rendered page lacks \"%s\"\n", what);
    assert_non_null(strstr(dom, what));
}

static void test_statuspage(void **state) {
    if (!in_path("chromium")) fail_msg("chromium is not installed: run scripts/install-deps.sh (Debian package chromium)");
    char err[256];
    km_mock_t *a = km_mock_new(1, err, sizeof(err)), *b = km_mock_new(1, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(km_mock_create_topic(a, "orders", 2), 0);
    assert_int_equal(km_mock_create_topic(b, "A.orders", 2), 0);
    assert_int_equal(km_mock_create_topic(b, "items", 1), 0); /* B.items is missing on A: B->A cannot run */
    assert_int_equal(km_mock_create_mm2_topics(b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(a, "B"), 0);
    kt_msg_t msgs[RECORDS];
    for (int i = 0; i < RECORDS; i++) msgs[i] = (kt_msg_t){.partition = i % 2, .key = "k", .value = "a record for the page"};
    assert_int_equal(kt_produce(km_mock_bootstraps(a), "orders", msgs, RECORDS, NULL, NULL), 0);

    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, "statuspage",
                                       "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                                       "A->B.enabled = true\nB->A.enabled = true\nreplication.factor = 1\n"
                                       "offset.flush.interval.ms = 200\nadmin.timeout.ms = 2000\n"
                                       "refresh.topics.interval.seconds = 1\nshutdown.timeout.ms = 20000\n"
                                       "emit.checkpoints.enabled = false\n", /* the mock cannot list groups */
                                       km_mock_bootstraps(a), km_mock_bootstraps(b)),
                     0);
    const char *extra[] = {"--metrics-listen", "127.0.0.1:0", NULL};
    assert_int_equal(kt_kmirror_start(&k, extra), 0);
    run_t r = {&k, 0, NULL};
    if (!kt_wait_until(port_logged, &r, WAIT_MS) || !kt_wait_until(settled, &r, WAIT_MS)) kt_kmirror_print_log(&k);
    assert_true(r.port > 0);
    assert_non_null(r.reason);
    print_message("# B->A degraded: %s\n", r.reason);

    /* The page as served: HTML that loads nothing from anywhere. */
    int code;
    char *page;
    assert_int_equal(kt_http_get(r.port, "/", &code, &page), 0);
    assert_int_equal(code, 200);
    char *source = kt_read_file("src/statuspage.html"); /* tests/run.sh runs suites from the top of the tree */
    assert_non_null(source);
    /* The whole file went into the binary, byte for byte (and the binary is not older than it). */
    if (strcmp(page, source) != 0) print_error("GET / (%zu bytes) is not src/statuspage.html (%zu bytes)\n", strlen(page), strlen(source));
    assert_int_equal(strcmp(page, source), 0);
    free(source);
    const char *external[] = {"<script src", "<link", "@import", "src=\"http", "href=\"http", "fetch(\"http", "fetch(\"/"};
    for (size_t i = 0; i < sizeof(external) / sizeof(external[0]); i++) assert_null(strstr(page, external[i]));
    for (const char *u = page; (u = strstr(u, "url(")); u++) assert_int_equal(u[4], '#'); /* only the page's own markers */
    free(page);

    char url[64], *dom = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", r.port);
    /* The reason may change between the read of /status above and the page's own read (a topic
     * refresh rewords it): the page must show the reason /status gives at that time, so a
     * mismatch is read again, a few times. */
    for (int attempt = 0; attempt < 3; attempt++) {
        free(dom);
        dom = NULL;
        assert_int_equal(chromium(url, "--dump-dom", &dom), 0);
        assert_non_null(dom);
        unescape_html(dom);
        if (strstr(dom, r.reason)) break;
        print_message("# the page does not show '%s' (yet); /status again\n", r.reason);
        assert_true(kt_wait_until(settled, &r, WAIT_MS));
    }
    expect_in(dom, "id=\"flow-A->B\"");
    expect_in(dom, "id=\"flow-B->A\"");
    expect_in(dom, "data-flow=\"A->B\" data-state=\"running\"");
    expect_in(dom, "data-flow=\"B->A\" data-state=\"degraded\"");
    expect_in(dom, "class=\"edge\" data-flow=\"A->B\""); /* both arrows of the graph */
    expect_in(dom, "class=\"edge\" data-flow=\"B->A\"");
    expect_in(dom, "Flow B->A is degraded: ");           /* the problems list, in words */
    expect_in(dom, r.reason);
    expect_in(dom, "orders → A.orders"); /* A->B's topic row */
    free(dom);

    char shot[600];
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", kt_kmirror_dir());
    snprintf(shot, sizeof(shot), "--screenshot=%s/statuspage.png", dirname(dir));
    assert_int_equal(chromium(url, shot, NULL), 0);
    struct stat st;
    assert_int_equal(stat(shot + strlen("--screenshot="), &st), 0);
    assert_true(st.st_size > 10000); /* a drawn page, not an empty PNG */
    print_message("# screenshot: %s\n", shot + strlen("--screenshot="));

    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
    free(r.reason);
    km_mock_free(a);
    km_mock_free(b);
}

static int kill_children(void **state) {
    kt_kill_children();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_statuspage, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
