/* test_reload.c — configuration reload of the kmirror binary (SIGHUP, POST /-/reload), on two
 * in-process mock clusters A and B: an invalid file changes nothing and says where it is wrong;
 * an added flow starts while the running one is not touched; a topics filter change replicates
 * the new topic without restarting the running task; a removed flow stops cleanly and, enabled
 * again, resumes where it stopped; across a series of reloads under continuous production every
 * record arrives exactly once; POST /-/reload works only with metrics.lifecycle.enabled; two
 * processes report a configuration conflict until both reloaded the same file.
 *
 * The mock cannot create topics, so every topic either flow needs exists from the start. The
 * topic refresh interval is long (300 s): a filter change that shows within the test's deadline
 * took effect through the reload, not through a periodic refresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kt.h"
#include "kt_kmirror.h"
#include "kt_metrics.h"
#include "mock.h"
#include "util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS 60000

typedef struct fixture {
    km_mock_t *a, *b;
} fixture_t;

static int setup(void **state) {
    char err[256];
    fixture_t *fx = calloc(1, sizeof(*fx));
    *state = fx;
    fx->a = km_mock_new(1, err, sizeof(err));
    fx->b = km_mock_new(1, err, sizeof(err));
    if (!fx->a || !fx->b) return -1;
    int rc = km_mock_create_topic(fx->a, "orders", 2) | km_mock_create_topic(fx->a, "payments", 1) |
             km_mock_create_topic(fx->a, "B.events", 1) | km_mock_create_mm2_topics(fx->a, "B") |
             km_mock_create_topic(fx->b, "A.orders", 2) | km_mock_create_topic(fx->b, "A.payments", 1) |
             km_mock_create_topic(fx->b, "events", 1) | km_mock_create_mm2_topics(fx->b, "A");
    return rc ? -1 : 0;
}

static int teardown(void **state) {
    kt_kill_children();
    fixture_t *fx = *state;
    if (fx) {
        km_mock_free(fx->a);
        km_mock_free(fx->b);
        free(fx);
    }
    return 0;
}

/* The configuration: flow A->B of `topics`, then `extra` lines. */
#define BASE_CONF                                                                                                    \
    "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"                                          \
    "A->B.enabled = true\nA->B.topics = %s\n"                                                                        \
    "replication.factor = 1\nrefresh.topics.interval.seconds = 300\noffset.flush.interval.ms = 200\n"                \
    "emit.checkpoints.enabled = false\nsync.topic.configs.enabled = false\nsync.topic.acls.enabled = false\n"         \
    "admin.timeout.ms = 5000\nshutdown.timeout.ms = 10000\nmetrics.listen = 127.0.0.1:0\n%s"
#define WITH_B_TO_A "B->A.enabled = true\nB->A.topics = events\n"

static void config(kt_kmirror_t *k, const char *name, fixture_t *fx, const char *topics, const char *extra) {
    assert_int_equal(kt_kmirror_config(k, name, BASE_CONF, km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), topics, extra), 0);
}

static void rewrite(kt_kmirror_t *k, fixture_t *fx, const char *topics, const char *extra) {
    assert_int_equal(kt_kmirror_rewrite(k, BASE_CONF, km_mock_bootstraps(fx->a), km_mock_bootstraps(fx->b), topics, extra), 0);
}

/* ---- what the child says ------------------------------------------------------------------- */

static int count_in(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static int logged_times(const kt_kmirror_t *k, const char *needle) {
    char *text = kt_kmirror_log(k);
    int n = count_in(text, needle);
    free(text);
    return n;
}

typedef struct until_logged {
    const kt_kmirror_t *k;
    const char *needle;
    int times;
} until_logged_t;

static bool logged_enough(void *arg) {
    until_logged_t *u = arg;
    return logged_times(u->k, u->needle) >= u->times;
}

/* Waits until the child's log says needle `times` times in all. */
static void wait_logged_times(const kt_kmirror_t *k, const char *needle, int times) {
    until_logged_t u = {k, needle, times};
    bool hit = kt_wait_until(logged_enough, &u, WAIT_MS);
    if (!hit) {
        print_message("# the log never said \"%s\" %d time(s):\n", needle, times);
        kt_kmirror_print_log(k);
    }
    assert_true(hit);
}

/* How long the log is now: what comes after it was said after this moment. */
static size_t log_mark(const kt_kmirror_t *k) {
    char *text = kt_kmirror_log(k);
    size_t n = text ? strlen(text) : 0;
    free(text);
    return n;
}

static bool said_since(const kt_kmirror_t *k, size_t mark, const char *needle) {
    char *text = kt_kmirror_log(k);
    bool hit = text && strlen(text) >= mark && strstr(text + mark, needle);
    free(text);
    return hit;
}

/* Sends SIGHUP and waits for the outcome: the count of "configuration reloaded" (or of the
 * failure) goes up by one. */
static void sighup(const kt_kmirror_t *k, bool expect_ok) {
    const char *outcome = expect_ok ? "configuration reloaded from" : "configuration reload FAILED";
    int before = logged_times(k, outcome);
    assert_int_equal(kt_signal(k->pid, SIGHUP), 0);
    wait_logged_times(k, outcome, before + 1);
}

static int metrics_port(kt_kmirror_t *k) {
    int port = kt_kmirror_http_port(k, WAIT_MS);
    assert_true(port > 0);
    return port;
}

static double metric(int port, const char *name, const char *const *labels) {
    int code;
    char *body = NULL;
    assert_int_equal(kt_http_get(port, "/metrics", &code, &body), 0);
    assert_int_equal(code, 200);
    int n = 0;
    double v = kt_prom_sum(body, name, labels, &n);
    free(body);
    return n ? v : -1;
}

typedef struct metric_at_least {
    int port;
    const char *name;
    const char *const *labels;
    double want;
} metric_at_least_t;

static bool metric_reached(void *arg) {
    metric_at_least_t *w = arg;
    return metric(w->port, w->name, w->labels) >= w->want;
}

static void wait_metric(const kt_kmirror_t *k, int port, const char *name, const char *const *labels, double want) {
    metric_at_least_t w = {port, name, labels, want};
    bool ok = kt_wait_until(metric_reached, &w, WAIT_MS);
    if (!ok) {
        print_message("# %s is %g, not %g or more\n", name, metric(port, name, labels), want);
        kt_kmirror_print_log(k);
    }
    assert_true(ok);
}

static char *get(int port, const char *path) {
    int code;
    char *body = NULL;
    assert_int_equal(kt_http_get(port, path, &code, &body), 0);
    return body;
}

/* ---- records ------------------------------------------------------------------------------- */

/* n records "name-i" (i from first) into topic, spread over its partitions by key. */
static void produce(const char *bootstrap, const char *topic, const char *name, int first, int n) {
    kt_msg_t *msgs = calloc((size_t)n, sizeof(*msgs));
    char (*text)[64] = calloc((size_t)n, sizeof(*text));
    for (int i = 0; i < n; i++) {
        snprintf(text[i], sizeof(text[i]), "%s-%06d", name, first + i);
        msgs[i] = (kt_msg_t){.partition = KT_ANY_PARTITION, .key = text[i], .value = text[i]};
    }
    assert_int_equal(kt_produce(bootstrap, topic, msgs, (size_t)n, NULL, NULL), 0);
    free(msgs);
    free(text);
}

static int64_t records_in(const char *bootstrap, const char *topic, int partitions) {
    int64_t hw[8] = {0}, sum = 0;
    if (kt_high_watermarks(bootstrap, topic, hw, partitions) != 0) return -1;
    for (int i = 0; i < partitions; i++) sum += hw[i];
    return sum;
}

typedef struct arrival {
    const char *bootstrap, *topic;
    int partitions;
    int64_t want;
} arrival_t;

static bool arrived(void *arg) {
    arrival_t *a = arg;
    return records_in(a->bootstrap, a->topic, a->partitions) >= a->want;
}

/* Waits until topic holds `want` records, then checks it holds no more (none twice). */
static void wait_records(const kt_kmirror_t *k, const char *bootstrap, const char *topic, int partitions, int64_t want) {
    arrival_t a = {bootstrap, topic, partitions, want};
    bool ok = kt_wait_until(arrived, &a, WAIT_MS);
    if (!ok) {
        print_message("# %s holds %lld of %lld records\n", topic, (long long)records_in(bootstrap, topic, partitions), (long long)want);
        kt_kmirror_print_log(k);
    }
    assert_true(ok);
    assert_int_equal(records_in(bootstrap, topic, partitions), want);
}

/* What shows that A->B was not restarted or rebalanced since mark. */
static void a_to_b_untouched_since(const kt_kmirror_t *k, size_t mark) {
    static const char *const restarted[] = {"flow A->B: starting", "flow A->B: joined group", "flow A->B: running task",
                                            "flow A->B: settings changed", "lose partitions", "flow A->B: stopped"};
    for (size_t i = 0; i < sizeof(restarted) / sizeof(restarted[0]); i++) {
        if (said_since(k, mark, restarted[i])) {
            print_message("# after the reload the log says \"%s\":\n", restarted[i]);
            kt_kmirror_print_log(k);
        }
        assert_false(said_since(k, mark, restarted[i]));
    }
}

/* ---- tests --------------------------------------------------------------------------------- */

/* (a) An invalid file changes nothing: the error names file:line, the metric and /status say the
 * reload failed, replication goes on; the valid file again makes it 1 without touching A->B. */
static void test_invalid_file_changes_nothing(void **state) {
    fixture_t *fx = *state;
    const char *a = km_mock_bootstraps(fx->a), *b = km_mock_bootstraps(fx->b);
    kt_kmirror_t k;
    config(&k, "invalid", fx, "orders", "");
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    int port = metrics_port(&k);
    produce(a, "orders", "o", 0, 50);
    wait_records(&k, b, "A.orders", 2, 50);
    assert_true(metric(port, "kmirror_config_last_reload_successful", NULL) == 1);
    double loaded_at = metric(port, "kmirror_config_last_reload_success_timestamp_seconds", NULL);
    assert_true(loaded_at > 0);

    size_t mark = log_mark(&k);
    /* BASE_CONF has 14 lines: the bad one is line 15. */
    rewrite(&k, fx, "orders", "A->B.tasks.max = many\n");
    sighup(&k, false);
    char where[600];
    snprintf(where, sizeof(where), "%s:15:", k.conf);
    if (!said_since(&k, mark, where)) kt_kmirror_print_log(&k);
    assert_true(said_since(&k, mark, where));
    assert_true(said_since(&k, mark, "tasks.max"));
    assert_true(metric(port, "kmirror_config_last_reload_successful", NULL) == 0);
    assert_true(metric(port, "kmirror_config_last_reload_success_timestamp_seconds", NULL) == loaded_at);
    char *status = get(port, "/status");
    assert_non_null(strstr(status, "\"last_reload_successful\": false"));
    assert_non_null(strstr(status, where));
    free(status);
    char url[64], *out = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    char *argv[] = {(char *)kt_kmirror_bin(), "status", "--url", url, NULL};
    kt_run(argv, &out);
    assert_non_null(out);
    assert_non_null(strstr(out, "the last reload FAILED"));
    free(out);

    produce(a, "orders", "o", 50, 50); /* replication goes on with the old configuration */
    wait_records(&k, b, "A.orders", 2, 100);
    a_to_b_untouched_since(&k, mark);

    rewrite(&k, fx, "orders", "");
    sighup(&k, true);
    assert_true(metric(port, "kmirror_config_last_reload_successful", NULL) == 1);
    assert_true(metric(port, "kmirror_config_last_reload_success_timestamp_seconds", NULL) >= loaded_at);
    status = get(port, "/status");
    assert_non_null(strstr(status, "\"last_reload_successful\": true"));
    free(status);
    a_to_b_untouched_since(&k, mark);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
}

/* (b) A flow added by a reload starts and replicates; the running flow's task goes on
 * untouched, its record counter with it. */
static void test_added_flow_starts_alone(void **state) {
    fixture_t *fx = *state;
    const char *a = km_mock_bootstraps(fx->a), *b = km_mock_bootstraps(fx->b);
    kt_kmirror_t k;
    config(&k, "add", fx, "orders", "");
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    int port = metrics_port(&k);
    produce(a, "orders", "o", 0, 100);
    wait_records(&k, b, "A.orders", 2, 100);
    const char *ab[] = {"source=A", "target=B", NULL};
    wait_metric(&k, port, "kmirror_record_count_total", ab, 100); /* counted at the acknowledgement, after the arrival */
    double before = metric(port, "kmirror_record_count_total", ab);

    size_t mark = log_mark(&k);
    rewrite(&k, fx, "orders", WITH_B_TO_A);
    sighup(&k, true);
    wait_logged_times(&k, "flow B->A: running with the reloaded configuration", 1);
    /* the budget is shared again (a log line says how), and the new flow sized its tasks' prefetch
     * for its source within its share; A->B keeps its old share until it restarts */
    wait_logged_times(&k, "memory budget: memory.max.bytes 512 MiB, 64 MiB of it for records in flight (inflight.max.bytes), "
                          "each task's prefetch at most 448 MiB", 1);
    wait_logged_times(&k, "each task's prefetch at most 224 MiB", 1);
    wait_logged_times(&k, "flow B->A: cluster B answers in", 1);
    wait_logged_times(&k, "MiB of its 224 MiB share of memory.max.bytes", 1);
    produce(b, "events", "e", 0, 30);
    wait_records(&k, a, "B.events", 1, 30);
    produce(a, "orders", "o", 100, 100);
    wait_records(&k, b, "A.orders", 2, 200);
    wait_metric(&k, port, "kmirror_record_count_total", ab, before + 100); /* counted at the acknowledgement, after the arrival */
    a_to_b_untouched_since(&k, mark);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
}

/* (c) A topics filter change: the new topic is replicated at once (no refresh is due for 300 s),
 * the running task and its partitions go on untouched. */
static void test_topics_filter_swapped(void **state) {
    fixture_t *fx = *state;
    const char *a = km_mock_bootstraps(fx->a), *b = km_mock_bootstraps(fx->b);
    kt_kmirror_t k;
    config(&k, "filter", fx, "orders", "");
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    int port = metrics_port(&k);
    produce(a, "orders", "o", 0, 50);
    produce(a, "payments", "p", 0, 20);
    wait_records(&k, b, "A.orders", 2, 50);

    size_t mark = log_mark(&k);
    rewrite(&k, fx, "orders, payments", "");
    sighup(&k, true);
    assert_true(said_since(&k, mark, "flow A->B: name filters changed"));
    wait_records(&k, b, "A.payments", 1, 20);
    produce(a, "orders", "o", 50, 50);
    produce(a, "payments", "p", 20, 10);
    wait_records(&k, b, "A.orders", 2, 100);
    wait_records(&k, b, "A.payments", 1, 30);
    a_to_b_untouched_since(&k, mark);
    const char *orders0[] = {"source=A", "target=B", "topic=A.orders", "partition=0", NULL};
    assert_true(metric(port, "kmirror_partition_task", orders0) == 0);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
}

/* (d) A flow removed by a reload stops cleanly (positions committed, nothing left in flight)
 * and leaves /status; enabled again, it resumes where it stopped: nothing lost, nothing twice. */
static void test_removed_flow_stops_cleanly(void **state) {
    fixture_t *fx = *state;
    const char *a = km_mock_bootstraps(fx->a), *b = km_mock_bootstraps(fx->b);
    kt_kmirror_t k;
    config(&k, "remove", fx, "orders", WITH_B_TO_A);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    int port = metrics_port(&k);
    produce(b, "events", "e", 0, 40);
    wait_records(&k, a, "B.events", 1, 40);
    produce(a, "orders", "o", 0, 20); /* A->B runs its task too before the mark: its start is not a restart */
    wait_records(&k, b, "A.orders", 2, 20);

    size_t mark = log_mark(&k);
    rewrite(&k, fx, "orders", "B->A.enabled = false\n");
    sighup(&k, true);
    wait_logged_times(&k, "flow B->A: stopped; it no longer runs here", 1);
    assert_false(said_since(&k, mark, "not acknowledged at shutdown"));
    assert_false(said_since(&k, mark, "still in flight at the shutdown deadline"));
    char *status = get(port, "/status");
    assert_null(strstr(status, "\"B->A\""));
    assert_non_null(strstr(status, "\"A->B\""));
    free(status);
    produce(a, "orders", "o", 20, 30); /* A->B goes on */
    wait_records(&k, b, "A.orders", 2, 50);
    a_to_b_untouched_since(&k, mark);

    produce(b, "events", "e", 40, 25); /* while B->A does not run */
    rewrite(&k, fx, "orders", WITH_B_TO_A);
    sighup(&k, true);
    wait_records(&k, a, "B.events", 1, 65);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
}

/* Produces "s-N" records to orders on A, in small batches, until told to stop. */
typedef struct producer {
    const char *bootstrap;
    _Atomic bool stop;
    _Atomic int produced;
    bool failed;
} producer_t;

/* Paced: the mock keeps ~100,000 records per partition and drops the oldest, which the check
 * would count as missing. Unpaced, a slow series of reloads (16 s) made 300,600 records. */
#define PRODUCE_PACE_NS 5000000L /* per 20 records: at most 4,000 records/s */

static void *produce_main(void *arg) {
    producer_t *p = arg;
    const struct timespec pace = {0, PRODUCE_PACE_NS};
    for (; !atomic_load(&p->stop); nanosleep(&pace, NULL)) {
        int first = atomic_load(&p->produced);
        kt_msg_t msgs[20];
        char text[20][32];
        for (int i = 0; i < 20; i++) {
            snprintf(text[i], sizeof(text[i]), "s-%06d", first + i);
            msgs[i] = (kt_msg_t){.partition = KT_ANY_PARTITION, .key = text[i], .value = text[i]};
        }
        if (kt_produce(p->bootstrap, "orders", msgs, 20, NULL, NULL) != 0) {
            p->failed = true;
            return NULL;
        }
        atomic_store(&p->produced, first + 20);
    }
    return NULL;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* (e) Records produced all along a series of reloads — a filter that adds a topic, one that
 * drops the running topic, one that brings it back, a setting that restarts the flow, a new
 * flow, an invalid file, the valid one again — arrive exactly once, record by record. */
static void test_exactly_once_across_reloads(void **state) {
    fixture_t *fx = *state;
    const char *a = km_mock_bootstraps(fx->a), *b = km_mock_bootstraps(fx->b);
    kt_kmirror_t k;
    config(&k, "series", fx, "orders", "");
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    metrics_port(&k);
    producer_t p = {.bootstrap = a};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, produce_main, &p), 0);
    /* So that dropping orders takes it from a task: a task that still waits for its positions
     * (read beside the main thread) when the filter changes is simply handed the new set. */
    arrival_t some = {b, "A.orders", 2, 1};
    if (!kt_wait_until(arrived, &some, WAIT_MS)) kt_kmirror_print_log(&k);
    assert_true(records_in(b, "A.orders", 2) >= 1);

    rewrite(&k, fx, "orders, payments", "");
    sighup(&k, true);
    rewrite(&k, fx, "payments", "");
    sighup(&k, true);
    wait_logged_times(&k, "lose partitions", 1); /* orders was let go, its positions committed */
    rewrite(&k, fx, "orders, payments", "");
    sighup(&k, true);
    rewrite(&k, fx, "orders, payments", "offset.lag.max = 50\n");
    sighup(&k, true);
    wait_logged_times(&k, "flow A->B: running with the reloaded configuration", 1);
    rewrite(&k, fx, "orders, payments", "offset.lag.max = 50\n" WITH_B_TO_A);
    sighup(&k, true);
    wait_logged_times(&k, "flow B->A: running with the reloaded configuration", 1);
    rewrite(&k, fx, "orders, payments", "offset.lag.max = 50\n" WITH_B_TO_A "B->A.tasks.max = none\n");
    sighup(&k, false);
    rewrite(&k, fx, "orders, payments", "offset.lag.max = 50\n" WITH_B_TO_A);
    sighup(&k, true);

    atomic_store(&p.stop, true);
    pthread_join(thread, NULL);
    assert_false(p.failed);
    int n = atomic_load(&p.produced);
    print_message("# %d records produced across 7 reloads\n", n);
    assert_true(n > 0);
    arrival_t all = {b, "A.orders", 2, n};
    if (!kt_wait_until(arrived, &all, WAIT_MS)) kt_kmirror_print_log(&k);
    assert_true(records_in(b, "A.orders", 2) >= n);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0); /* nothing more can arrive */

    kt_record_t *recs;
    size_t nrecs;
    assert_int_equal(kt_consume(b, "A.orders", NULL, &recs, &nrecs), 0);
    char **seen = calloc(nrecs ? nrecs : 1, sizeof(char *));
    for (size_t i = 0; i < nrecs; i++) seen[i] = (char *)recs[i].value;
    qsort(seen, nrecs, sizeof(char *), cmp_str);
    int missing = 0, twice = 0;
    size_t j = 0;
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "s-%06d", i);
        int copies = 0;
        while (j < nrecs && strcmp(seen[j], want) < 0) j++;
        while (j < nrecs && strcmp(seen[j], want) == 0) copies++, j++;
        if (copies == 0 && missing++ < 5) print_message("# missing: %s\n", want);
        if (copies > 1 && twice++ < 5) print_message("# %d copies of %s\n", copies, want);
    }
    free(seen);
    kt_records_free(recs, nrecs);
    assert_int_equal(missing, 0);
    assert_int_equal(twice, 0);
    assert_int_equal((int)nrecs, n);
}

/* (f) POST /-/reload: 403 while metrics.lifecycle.enabled is off, 405 for GET; once a reload
 * turned it on, 200 for a valid file and 500 with file:line for an invalid one. */
static void test_http_reload_needs_lifecycle(void **state) {
    fixture_t *fx = *state;
    kt_kmirror_t k;
    config(&k, "http", fx, "orders", "");
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    int port = metrics_port(&k);
    int code;
    char *body;
    assert_int_equal(kt_http_request(port, "POST", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 403);
    assert_non_null(strstr(body, "metrics.lifecycle.enabled"));
    free(body);
    assert_int_equal(logged_times(&k, "reloading the configuration"), 0);

    rewrite(&k, fx, "orders", "metrics.lifecycle.enabled = true\n");
    sighup(&k, true);
    assert_int_equal(kt_http_request(port, "GET", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 405);
    free(body);
    size_t mark = log_mark(&k);
    assert_int_equal(kt_http_request(port, "POST", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 200);
    free(body);
    assert_true(said_since(&k, mark, "configuration reloaded from"));

    rewrite(&k, fx, "orders", "metrics.lifecycle.enabled = true\nA->B.topics.exclude = (\n"); /* line 16 */
    assert_int_equal(kt_http_request(port, "POST", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 500);
    char where[600];
    snprintf(where, sizeof(where), "%s:16:", k.conf);
    if (!strstr(body, where)) print_message("# answer: %s", body);
    assert_non_null(strstr(body, where));
    free(body);
    assert_true(metric(port, "kmirror_config_last_reload_successful", NULL) == 0);

    rewrite(&k, fx, "orders", "metrics.lifecycle.enabled = true\n");
    assert_int_equal(kt_http_request(port, "PUT", "/-/reload", &code, &body), 0);
    assert_int_equal(code, 200);
    free(body);
    assert_true(metric(port, "kmirror_config_last_reload_successful", NULL) == 1);
    a_to_b_untouched_since(&k, mark);
    assert_int_equal(kt_kmirror_stop(&k, WAIT_MS), 0);
}

typedef struct status_says {
    int port;
    const char *needle;
    bool present;
} status_says_t;

static bool status_matches(void *arg) {
    status_says_t *s = arg;
    int code;
    char *body = NULL;
    if (kt_http_get(s->port, "/status", &code, &body) != 0) return false;
    bool hit = strstr(body, s->needle) != NULL;
    free(body);
    return hit == s->present;
}

static void wait_status(const kt_kmirror_t *k, int port, const char *needle, bool present) {
    status_says_t s = {port, needle, present};
    bool ok = kt_wait_until(status_matches, &s, WAIT_MS);
    if (!ok) {
        print_message("# /status never %s \"%s\"\n", present ? "said" : "stopped saying", needle);
        kt_kmirror_print_log(k);
    }
    assert_true(ok);
}

/* Two processes of one flow: after only one reloaded a changed setting they report a
 * configuration conflict; once both reloaded the same file it clears. */
static void test_conflict_clears_when_all_reloaded(void **state) {
    fixture_t *fx = *state;
    const char *timing = "session.timeout.ms = 6000\nheartbeat.interval.ms = 1000\n";
    kt_kmirror_t k1, k2;
    config(&k1, "conflict1", fx, "orders", timing);
    config(&k2, "conflict2", fx, "orders", timing);
    assert_int_equal(kt_kmirror_start(&k1, NULL), 0);
    assert_int_equal(kt_kmirror_start(&k2, NULL), 0);
    int p1 = metrics_port(&k1), p2 = metrics_port(&k2);
    wait_logged_times(&k1, "flow A->B: joined group", 1);
    wait_logged_times(&k2, "flow A->B: joined group", 1);
    wait_status(&k1, p1, "configuration conflict", false);

    char changed[256];
    snprintf(changed, sizeof(changed), "%soffset.lag.max = 50\n", timing);
    rewrite(&k1, fx, "orders", changed);
    sighup(&k1, true);
    wait_status(&k1, p1, "offset.lag.max: 50 here, 100 there", true);
    wait_status(&k2, p2, "offset.lag.max: 100 here, 50 there", true);

    rewrite(&k2, fx, "orders", changed);
    sighup(&k2, true);
    wait_status(&k1, p1, "configuration conflict", false);
    wait_status(&k2, p2, "configuration conflict", false);
    wait_logged_times(&k1, "configuration conflict resolved", 1);
    /* Replication goes on: the group settled, so no member stops while it waits for its
     * assignment (librdkafka #4312, see coord.c). */
    produce(km_mock_bootstraps(fx->a), "orders", "o", 0, 20);
    wait_records(&k1, km_mock_bootstraps(fx->b), "A.orders", 2, 20);
    assert_int_equal(kt_kmirror_stop(&k1, WAIT_MS), 0);
    assert_int_equal(kt_kmirror_stop(&k2, WAIT_MS), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_invalid_file_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_added_flow_starts_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topics_filter_swapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_flow_stops_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exactly_once_across_reloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_reload_needs_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_clears_when_all_reloaded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
