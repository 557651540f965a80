/* test_corrupt.c — corrupted internal topics on mock clusters: records anyone with write access
 * could put into mm2-offsets and the checkpoints topic end in a loud, bounded outcome, never in a
 * wrong resume position. A position naming partition 4294967297 must not become partition 1; a
 * position {"offset":INT64_MAX} must neither overflow nor restart its partition from the
 * beginning; `kmirror translate-offsets` must not print a checkpoint with partition -3 or an
 * offset of INT64_MAX as a resume point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "kt.h"
#include "metrics.h"
#include "mirror.h"
#include "mock.h"
#include "records.h"
#include "reject.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OFFSETS "mm2-offsets.A.internal"
#define CHECKPOINTS "A.checkpoints.internal"

typedef struct env {
    km_mock_t *a, *b;
    km_config_t cfg;
    km_diag_t d;
    km_mirror_t *m;
    char *cfg_path;
} env_t;

static env_t *env_new(void) {
    env_t *e = km_xcalloc(1, sizeof(*e));
    char err[256];
    e->a = km_mock_new(1, err, sizeof(err));
    e->b = km_mock_new(1, err, sizeof(err));
    assert_non_null(e->a);
    assert_non_null(e->b);
    assert_int_equal(km_mock_create_topic(e->a, "orders", 2), 0);
    assert_int_equal(km_mock_create_topic(e->b, "A.orders", 2), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->b, "A"), 0);
    assert_int_equal(km_mock_create_mm2_topics(e->a, "B"), 0);
    return e;
}

static char *config_text(const env_t *e) {
    return km_xasprintf("clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                        "A->B.enabled = true\nreplication.factor = 1\noffset.flush.interval.ms = 200\n"
                        "admin.timeout.ms = 10000\nshutdown.timeout.ms = 20000\nemit.checkpoints.enabled = false\n",
                        km_mock_bootstraps(e->a), km_mock_bootstraps(e->b));
}

static void env_free(env_t *e) {
    if (e->m) km_mirror_stop(e->m);
    km_config_free(&e->cfg);
    km_diag_free(&e->d);
    km_mock_free(e->a);
    km_mock_free(e->b);
    if (e->cfg_path) unlink(e->cfg_path);
    free(e->cfg_path);
    free(e);
}

static void produce(env_t *e, km_mock_t *on, const char *topic, const kt_msg_t *msgs, size_t n) {
    assert_int_equal(kt_produce(km_mock_bootstraps(on), topic, msgs, n, NULL, NULL), 0);
}

static void produce_orders(env_t *e, int n) {
    kt_msg_t *msgs = km_xcalloc((size_t)n, sizeof(*msgs));
    char (*vals)[16] = km_xcalloc((size_t)n, 16);
    for (int i = 0; i < n; i++) {
        snprintf(vals[i], 16, "v%d", i);
        msgs[i] = (kt_msg_t){.partition = i % 2, .value = vals[i], .value_len = strlen(vals[i])};
    }
    produce(e, e->a, "orders", msgs, (size_t)n);
    free(msgs);
    free(vals);
}

static kt_msg_t position(int32_t on, const char *key, const char *value) {
    return (kt_msg_t){.partition = on, .key = key, .key_len = strlen(key), .value = value, .value_len = value ? strlen(value) : 0};
}

typedef struct waiter {
    env_t *e;
    int64_t want[2]; /* records in A.orders-0 and -1 */
    bool healthy;
    char *reason;    /* the last unhealthy reason */
} waiter_t;

/* Ticks the mirror (as its main loop would); true once A.orders holds the wanted record counts
 * and the health is as wanted. */
static bool settled(void *arg) {
    waiter_t *w = arg;
    km_mirror_tick(w->e->m);
    int64_t hw[2] = {0};
    if (kt_high_watermarks(km_mock_bootstraps(w->e->b), "A.orders", hw, 2) != 0 || hw[0] != w->want[0] || hw[1] != w->want[1])
        return false;
    km_snapshot_t *s = km_metrics_snapshot(km_mirror_metrics(w->e->m), km_now_wall_ms());
    free(w->reason);
    w->reason = NULL;
    bool healthy = km_metrics_healthy(s, &w->reason);
    km_snapshot_free(s);
    return healthy == w->healthy;
}

static void test_corrupt_positions(void **state) {
    env_t *e = env_new();
    produce_orders(e, 20); /* 10 per partition */
    uint64_t rejected_before = km_reject_count(OFFSETS);
    kt_msg_t pos[] = {
        /* partition 4294967297 wraps to 1 when read as int32: partition 1 must still start at 0 */
        position(3, "[\"MirrorSourceConnector\",{\"cluster\":\"A\",\"partition\":4294967297,\"topic\":\"orders\"}]",
                 "{\"offset\":5}"),
        /* offset + 1 overflows: partition 0 must neither overflow nor restart from the beginning */
        position(7, "[\"MirrorSourceConnector\",{\"cluster\":\"A\",\"partition\":0,\"topic\":\"orders\"}]",
                 "{\"offset\":9223372036854775807}"),
        /* not even JSON: reported too, not taken for another connector's key */
        position(11, "orders-1", "{\"offset\":5}"),
    };
    produce(e, e->b, OFFSETS, pos, 3);

    char *text = config_text(e);
    assert_int_equal(km_config_load_buf(&e->cfg, text, strlen(text), "mock.properties", NULL, 0, &e->d), 0);
    free(text);
    e->m = km_mirror_start(&e->cfg);
    assert_non_null(e->m);
    waiter_t w = {e, {0, 10}, false, NULL};
    bool ok = kt_wait_until(settled, &w, 30000);
    if (!ok) print_message("reason: %s\n", w.reason ? w.reason : "(healthy)");
    assert_true(ok);
    /* loud: degraded, naming the partition and where the bad record is */
    assert_non_null(strstr(w.reason, "orders-0 at offset 0"));
    assert_non_null(strstr(w.reason, OFFSETS));
    free(w.reason);
    assert_int_equal(km_reject_count(OFFSETS) - rejected_before, 3);
    /* safe: partition 0 was not replicated from anywhere, partition 1 completely */
    int64_t hw[2];
    assert_int_equal(kt_high_watermarks(km_mock_bootstraps(e->b), "A.orders", hw, 2), 0);
    assert_int_equal(hw[0], 0);
    assert_int_equal(hw[1], 10);

    /* A valid position replaces the bad one: after a restart partition 0 resumes after it. */
    assert_int_equal(km_mirror_stop(e->m), 0);
    e->m = NULL;
    kt_msg_t fix = position(7, "[\"MirrorSourceConnector\",{\"cluster\":\"A\",\"partition\":0,\"topic\":\"orders\"}]",
                            "{\"offset\":3}");
    produce(e, e->b, OFFSETS, &fix, 1);
    e->m = km_mirror_start(&e->cfg);
    assert_non_null(e->m);
    waiter_t w0 = {e, {6, 10}, true, NULL}; /* offsets 4..9 of partition 0 added; running again */
    ok = kt_wait_until(settled, &w0, 30000);
    if (!ok) print_message("reason: %s\n", w0.reason ? w0.reason : "(healthy)");
    assert_true(ok);
    free(w0.reason);
    env_free(e);
}

static void checkpoint(kt_msg_t *m, char *kb, char *vb, int32_t partition, int64_t up, int64_t down) {
    km_checkpoint_t c = {"g", "A.orders", partition, up, down, ""};
    int kn = km_checkpoint_encode_key(&c, kb, 64), vn = km_checkpoint_encode_value(&c, vb, 64);
    assert_true(kn > 0 && vn > 0);
    *m = (kt_msg_t){.partition = 0, .key = kb, .key_len = (size_t)kn, .value = vb, .value_len = (size_t)vn};
}

static void test_translate_offsets_skips_corrupt_checkpoints(void **state) {
    env_t *e = env_new();
    char kb[4][64], vb[4][64];
    kt_msg_t cks[4];
    checkpoint(&cks[0], kb[0], vb[0], 0, 5, 5);
    checkpoint(&cks[1], kb[1], vb[1], -3, 5, 5);
    checkpoint(&cks[2], kb[2], vb[2], 1, 5, INT64_MAX);
    checkpoint(&cks[3], kb[3], vb[3], 1, -1, 7);
    produce(e, e->b, CHECKPOINTS, cks, 4);

    char path[] = "/tmp/kmirror-corrupt-XXXXXX", log[64];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *text = config_text(e);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    free(text);
    e->cfg_path = km_xstrdup(path);
    snprintf(log, sizeof(log), "%s.out", path);
    const char *bin = getenv("KMIRROR_BIN") ? getenv("KMIRROR_BIN") : "build/kmirror";
    char *args[] = {(char *)bin, "translate-offsets", path, "--group", "g", "--source", "A", "--target", "B", "--json", NULL};
    pid_t pid = kt_spawn(args, log);
    assert_true(pid > 0);
    int status = -1;
    assert_int_equal(kt_wait_exit(pid, 60000, &status), 0);
    char *out = kt_read_file(log);
    unlink(log);
    assert_non_null(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) print_message("%s\n", out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* only the valid checkpoint is a resume point; each bad one is named in a warning */
    assert_non_null(strstr(out, "[{\"topic\":\"A.orders\",\"partition\":0,\"offset\":5}]"));
    assert_null(strstr(out, "\"partition\":-3"));
    assert_null(strstr(out, "9223372036854775807"));
    assert_non_null(strstr(out, "internal topic " CHECKPOINTS " partition 0 offset 1: invalid record rejected"));
    assert_non_null(strstr(out, "internal topic " CHECKPOINTS " partition 0 offset 2: invalid record rejected"));
    assert_non_null(strstr(out, "internal topic " CHECKPOINTS " partition 0 offset 3: invalid record rejected"));
    free(out);
    env_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corrupt_positions),
        cmocka_unit_test(test_translate_offsets_skips_corrupt_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
