/* test_provenance.c — active/active with the same topic names (IdentityReplicationPolicy), on
 * two mock clusters: a->b plus b->a must leave every record exactly once on each side, where
 * kmirror without the record path copied them back and forth forever (100 records became
 * 122,000 in 30 s). The records come from an ordinary producer, without kmirror's header.
 *
 * Settling is shown, not assumed: once both sides hold the expected count, a marker is produced
 * on each side and awaited on the other; a flow that copies records back would have put them
 * before the marker. Then every record is checked one by one (value, path header, the
 * producer's own header kept), and the same again after a restart from the committed positions.
 *
 * Second: one flow writing records whose paths differ, in rounds that each wait for the last,
 * so later records go out in header lists taken back from earlier deliveries (task.c,
 * path_headers): every record must still carry its own path and nothing else of another's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kt.h"
#include "kt_kmirror.h"
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 100
#define PARTS 2
#define WAIT_MS 60000

typedef struct {
    const char *bootstrap, *topic;
    int64_t want;
} count_t;

static bool reached(void *arg) {
    count_t *c = arg;
    return kt_topic_records(c->bootstrap, c->topic, PARTS) >= c->want;
}

static void produce(const char *bootstrap, const char *prefix, int from, int to) {
    for (int i = from; i < to; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(value, sizeof value, "%s-%d", prefix, i);
        kt_header_t h = {.name = "app", .value = prefix};
        kt_msg_t m = {.partition = i % PARTS, .key = key, .value = value, .headers = &h, .header_cnt = 1};
        assert_int_equal(kt_produce(bootstrap, "shared", &m, 1, NULL, NULL), 0);
    }
}

typedef struct {
    const char *bootstrap, *marker;
} marker_t;

static bool has_marker(void *arg) {
    marker_t *m = arg;
    kt_record_t *r;
    size_t n;
    bool found = false;
    if (kt_consume(m->bootstrap, "shared", NULL, &r, &n) == 0)
        for (size_t i = 0; i < n; i++) found |= r[i].value && strcmp(r[i].value, m->marker) == 0;
    kt_records_free(r, n);
    return found;
}

/* Clusters a and b (the mock creates no topic on request): "shared" on a, on_b on b, and the
 * internal topics of the flows between them. */
static void two_clusters(km_mock_t **a, km_mock_t **b, const char *on_b) {
    char err[256];
    *a = km_mock_new(1, err, sizeof err);
    *b = km_mock_new(1, err, sizeof err);
    assert_non_null(*a);
    assert_non_null(*b);
    assert_int_equal(km_mock_create_topic(*a, "shared", PARTS), 0);
    assert_int_equal(km_mock_create_topic(*b, on_b, PARTS), 0);
    assert_int_equal(km_mock_create_mm2_topics(*a, "b"), 0);
    assert_int_equal(km_mock_create_mm2_topics(*b, "a"), 0);
}

/* Both sides settle: the counts, then a marker from each side on the other. */
static void settle(const char *a, const char *b, int64_t want, const char *round) {
    count_t ca = {a, "shared", want}, cb = {b, "shared", want};
    assert_true(kt_wait_until(reached, &ca, WAIT_MS));
    assert_true(kt_wait_until(reached, &cb, WAIT_MS));
    char ma[32], mb[32];
    snprintf(ma, sizeof ma, "marker-a-%s", round);
    snprintf(mb, sizeof mb, "marker-b-%s", round);
    kt_msg_t m = {.partition = 0, .key = "m", .value = ma};
    assert_int_equal(kt_produce(a, "shared", &m, 1, NULL, NULL), 0);
    m.value = mb;
    assert_int_equal(kt_produce(b, "shared", &m, 1, NULL, NULL), 0);
    marker_t xa = {b, ma}, xb = {a, mb};
    assert_true(kt_wait_until(has_marker, &xa, WAIT_MS));
    assert_true(kt_wait_until(has_marker, &xb, WAIT_MS));
}

/* Every record once on cluster `self`: its own without a path, the other's with path "other". */
static void check_side(const char *bootstrap, const char *self, const char *other, int markers) {
    kt_record_t *r;
    size_t n;
    assert_int_equal(kt_consume(bootstrap, "shared", NULL, &r, &n), 0);
    if (n != (size_t)(2 * N + 2 * markers)) print_message("# %s holds %zu records\n", self, n);
    assert_int_equal(n, 2 * N + 2 * markers);
    int seen[2][N] = {{0}}, marks = 0;
    for (size_t i = 0; i < n; i++) {
        const kt_header_t *path = kt_record_header(&r[i], "kmirror.path");
        const char *v = r[i].value;
        if (strncmp(v, "marker-", 7) == 0) {
            bool mine = strncmp(v + 7, self, strlen(self)) == 0;
            if (mine) assert_null(path);
            else assert_string_equal(path->value, other);
            marks++;
            continue;
        }
        int from = strncmp(v, self, strlen(self)) == 0 ? 0 : 1, k = atoi(strchr(v, '-') + 1);
        assert_true(k >= 0 && k < N);
        seen[from][k]++;
        assert_int_equal(r[i].partition, k % PARTS);
        const kt_header_t *app = kt_record_header(&r[i], "app");
        assert_non_null(app);
        assert_string_equal(app->value, from == 0 ? self : other);
        if (from == 0) assert_null(path);
        else assert_string_equal(path->value, other);
        size_t paths = 0;
        for (size_t h = 0; h < r[i].header_cnt; h++) paths += strcmp(r[i].headers[h].name, "kmirror.path") == 0;
        assert_true(paths <= 1);
    }
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < N; k++)
            if (seen[s][k] != 1) fail_msg("%s holds %s-%d %d times", self, s == 0 ? self : other, k, seen[s][k]);
    assert_int_equal(marks, 2 * markers);
    kt_records_free(r, n);
}

static void test_identity_active_active_once_each_side(void **state) {
    km_mock_t *a, *b;
    two_clusters(&a, &b, "shared");
    const char *ba = km_mock_bootstraps(a), *bb = km_mock_bootstraps(b);
    produce(ba, "a", 0, N / 2);
    produce(bb, "b", 0, N / 2);

    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, "identity-pair",
                                       "clusters = a, b\na.bootstrap.servers = %s\nb.bootstrap.servers = %s\n"
                                       "a->b.enabled = true\nb->a.enabled = true\n"
                                       "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n"
                                       "replication.factor = 1\nrefresh.topics.interval.seconds = 1\n"
                                       "emit.checkpoints.enabled = false\nsync.topic.configs.enabled = false\n"
                                       "sync.topic.acls.enabled = false\noffset.flush.interval.ms = 200\n"
                                       "admin.timeout.ms = 3000\n",
                                       ba, bb),
                     0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    produce(ba, "a", N / 2, N);
    produce(bb, "b", N / 2, N);
    settle(ba, bb, 2 * N, "1");
    check_side(ba, "a", "b", 1);
    check_side(bb, "b", "a", 1);

    /* From the committed positions, some of them at skipped records: nothing comes back. */
    assert_int_equal(kt_kmirror_stop(&k, 30000), 0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);
    settle(ba, bb, 2 * N + 2, "2");
    check_side(ba, "a", "b", 2);
    check_side(bb, "b", "a", 2);
    assert_int_equal(kt_kmirror_stop(&k, 30000), 0);
    km_mock_free(a);
    km_mock_free(b);
}

#define ROUNDS 4
#define PER_ROUND 30

/* Record i: no header (i % 3 == 0), a path from elsewhere ("z", no alias here: only appended
 * to), or a header of its own without a path. */
static void produce_mixed(const char *bootstrap, int from, int to) {
    for (int i = from; i < to; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(value, sizeof value, "r-%d", i);
        kt_header_t h = i % 3 == 1 ? (kt_header_t){.name = "kmirror.path", .value = "z"} : (kt_header_t){.name = "app", .value = "x"};
        kt_msg_t m = {.partition = i % PARTS, .key = key, .value = value, .headers = &h, .header_cnt = i % 3 ? 1 : 0};
        assert_int_equal(kt_produce(bootstrap, "shared", &m, 1, NULL, NULL), 0);
    }
}

static void test_path_of_each_record_when_lists_are_reused(void **state) {
    km_mock_t *a, *b;
    two_clusters(&a, &b, "a.shared");
    const char *ba = km_mock_bootstraps(a), *bb = km_mock_bootstraps(b);
    kt_kmirror_t km;
    assert_int_equal(kt_kmirror_config(&km, "path-reuse",
                                       "clusters = a, b\na.bootstrap.servers = %s\nb.bootstrap.servers = %s\n"
                                       "a->b.enabled = true\nb->a.enabled = false\nreplication.factor = 1\n"
                                       "emit.checkpoints.enabled = false\nsync.topic.configs.enabled = false\n"
                                       "sync.topic.acls.enabled = false\nadmin.timeout.ms = 3000\n",
                                       ba, bb),
                     0);
    assert_int_equal(kt_kmirror_start(&km, NULL), 0);
    for (int round = 0; round < ROUNDS; round++) {
        produce_mixed(ba, round * PER_ROUND, (round + 1) * PER_ROUND);
        count_t c = {bb, "a.shared", (int64_t)(round + 1) * PER_ROUND};
        assert_true(kt_wait_until(reached, &c, WAIT_MS));
    }
    kt_record_t *r;
    size_t n;
    assert_int_equal(kt_consume(bb, "a.shared", NULL, &r, &n), 0);
    assert_int_equal(n, ROUNDS * PER_ROUND);
    int seen[ROUNDS * PER_ROUND] = {0};
    for (size_t i = 0; i < n; i++) {
        int k = atoi(r[i].value + 2);
        assert_true(k >= 0 && k < ROUNDS * PER_ROUND);
        seen[k]++;
        const kt_header_t *path = kt_record_header(&r[i], "kmirror.path"), *app = kt_record_header(&r[i], "app");
        assert_non_null(path);
        if (strcmp(path->value, k % 3 == 1 ? "z,a" : "a") != 0) fail_msg("r-%d arrived with path '%s'", k, path->value);
        assert_int_equal(r[i].header_cnt, k % 3 == 2 ? 2 : 1);
        if (k % 3 == 2) assert_string_equal(app->value, "x");
        else assert_null(app);
    }
    for (int k = 0; k < ROUNDS * PER_ROUND; k++) assert_int_equal(seen[k], 1);
    kt_records_free(r, n);
    assert_int_equal(kt_kmirror_stop(&km, 30000), 0);
    km_mock_free(a);
    km_mock_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_active_active_once_each_side),
        cmocka_unit_test(test_path_of_each_record_when_lists_are_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
