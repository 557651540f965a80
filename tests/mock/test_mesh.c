/* test_mesh.c — the ops guide's 6-cluster example (§6.3, "west/east/north", two clusters per
 * data center, active/active inside each, XDCR between west-1, east-1 and north-1), run as the
 * guide says: its configuration file unchanged but for the addresses, three kmirror processes
 * started with --clusters west-1 west-2, --clusters east-1 east-2 and --clusters north-1 north-2.
 *
 * Six in-process mock clusters. The mock cannot create topics, so the test computes every topic
 * name MirrorMaker 2 would give (DefaultReplicationPolicy: SOURCE.TOPIC, a flow never copies a
 * topic into a cluster its name already passed through) and creates them all first; kmirror
 * then only finds them. One record is produced to topic t on each cluster, and every cluster
 * must end with exactly one record in each of its topics named ...ORIGIN.t, namely ORIGIN's: every
 * record reaches every other cluster under MM2's names, once per path, never twice. Heartbeats
 * travel the same paths, and `kmirror topology` lists every other cluster as upstream. */
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

#define NCL 6
#define NFLOWS 12
#define MAXNAMES 64
#define WAIT_MS 90000

static const char *const CL[NCL] = {"west-1", "west-2", "east-1", "east-2", "north-1", "north-2"};
/* The guide's flows, as indexes into CL. */
static const int FLOWS[NFLOWS][2] = {{0, 1}, {1, 0}, {2, 3}, {3, 2}, {4, 5}, {5, 4},
                                     {0, 2}, {0, 4}, {2, 0}, {2, 4}, {4, 0}, {4, 2}};

typedef struct {
    char *name[MAXNAMES];
    int n;
} names_t;

static bool has(const names_t *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0) return true;
    return false;
}

/* Whether cluster alias is one of the sources in name's prefix ("a.b.t" passed through a, b). */
static bool passed_through(const char *name, const char *alias) {
    size_t len = strlen(alias);
    for (const char *p = name, *dot; (dot = strchr(p, '.')); p = dot + 1)
        if ((size_t)(dot - p) == len && strncmp(p, alias, len) == 0) return true;
    return false;
}

/* MM2's names on every cluster: local t and heartbeats, then SOURCE.NAME along every flow
 * until nothing changes. */
static void expected_names(names_t *names) {
    for (int c = 0; c < NCL; c++) {
        names[c].name[names[c].n++] = strdup("t");
        names[c].name[names[c].n++] = strdup("heartbeats");
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (int f = 0; f < NFLOWS; f++) {
            int s = FLOWS[f][0], t = FLOWS[f][1];
            for (int i = 0; i < names[s].n; i++) {
                if (passed_through(names[s].name[i], CL[t])) continue;
                char remote[256];
                snprintf(remote, sizeof remote, "%s.%s", CL[s], names[s].name[i]);
                if (has(&names[t], remote)) continue;
                assert_true(names[t].n < MAXNAMES);
                names[t].name[names[t].n++] = strdup(remote);
                changed = true;
            }
        }
    }
}

/* The guide's file (tests/unit/fixtures/opsguide) with real addresses and the test's pace;
 * `extra` is appended. */
static void write_config(kt_kmirror_t *k, const char *name, km_mock_t **m, const char *extra) {
    char *guide = kt_read_file("tests/unit/fixtures/opsguide/11-multi-cluster.properties");
    assert_non_null(guide);
    char text[8192];
    size_t len = 0;
    for (char *line = guide, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        int c = -1;
        for (int i = 0; i < NCL; i++) {
            char key[64];
            snprintf(key, sizeof key, "%s.bootstrap.servers = ...", CL[i]);
            if (strcmp(line, key) == 0) c = i;
        }
        if (c >= 0) len += (size_t)snprintf(text + len, sizeof text - len, "%s.bootstrap.servers = %s\n", CL[c], km_mock_bootstraps(m[c]));
        else len += (size_t)snprintf(text + len, sizeof text - len, "%s\n", line);
        assert_true(len < sizeof text);
    }
    free(guide);
    assert_int_equal(kt_kmirror_config(k, name,
                                       "%s\n# the test's pace; the mock cannot list groups\n"
                                       "replication.factor = 1\nrefresh.topics.interval.seconds = 1\n"
                                       "emit.heartbeats.interval.seconds = 1\nemit.checkpoints.enabled = false\n"
                                       "sync.topic.configs.enabled = false\nsync.topic.acls.enabled = false\n"
                                       "offset.flush.interval.ms = 300\nadmin.timeout.ms = 3000\nshutdown.timeout.ms = 20000\n%s",
                                       text, extra),
                     0);
}

/* The origin of a topic name: the last alias before the final "t" ("west-1.east-1.t": east-1). */
static const char *origin_of(const char *name, int cluster, char *buf, size_t size) {
    const char *t = strrchr(name, '.');
    if (!t) return CL[cluster];
    const char *start = t;
    while (start > name && start[-1] != '.') start--;
    snprintf(buf, size, "%.*s", (int)(t - start), start);
    return buf;
}

typedef struct {
    km_mock_t **m;
    names_t *names;
    char missing[300];
} mesh_t;

/* Every ...t topic of every cluster holds its origin's record. */
static bool all_arrived(void *arg) {
    mesh_t *x = arg;
    for (int c = 0; c < NCL; c++)
        for (int i = 0; i < x->names[c].n; i++) {
            const char *name = x->names[c].name[i];
            if (strcmp(name, "t") != 0 && !strstr(name, ".t")) continue;
            if (strlen(name) > 2 && strcmp(name + strlen(name) - 2, ".t") != 0) continue;
            int64_t hw[1] = {0};
            if (kt_high_watermarks(km_mock_bootstraps(x->m[c]), name, hw, 1) != 0 || hw[0] < 1) {
                snprintf(x->missing, sizeof x->missing, "%s on %s", name, CL[c]);
                return false;
            }
        }
    return true;
}

static void test_guide_six_clusters_three_processes(void **state) {
    char err[256];
    km_mock_t *m[NCL];
    names_t names[NCL] = {0};
    expected_names(names);
    int total = 0;
    for (int c = 0; c < NCL; c++) {
        m[c] = km_mock_new(1, err, sizeof err);
        assert_non_null(m[c]);
        for (int i = 0; i < names[c].n; i++) assert_int_equal(km_mock_create_topic(m[c], names[c].name[i], 1), 0);
        total += names[c].n;
    }
    for (int f = 0; f < NFLOWS; f++) km_mock_create_mm2_topics(m[FLOWS[f][1]], CL[FLOWS[f][0]]);
    print_message("# %d topics on 6 clusters, as MM2 names them\n", total);

    /* One process per data center, as the guide starts them. */
    kt_kmirror_t k[3];
    static const char *const dc[3][4] = {{"--clusters", "west-1", "west-2", NULL},
                                         {"--clusters", "east-1", "east-2", NULL},
                                         {"--clusters", "north-1", "north-2", NULL}};
    for (int p = 0; p < 3; p++) {
        char name[32];
        snprintf(name, sizeof name, "mesh-%s", dc[p][1]);
        write_config(&k[p], name, m, "");
        assert_int_equal(kt_kmirror_start(&k[p], dc[p]), 0);
    }

    for (int c = 0; c < NCL; c++) {
        char value[32];
        snprintf(value, sizeof value, "from-%s", CL[c]);
        kt_msg_t msg = {.partition = 0, .key = CL[c], .value = value};
        assert_int_equal(kt_produce(km_mock_bootstraps(m[c]), "t", &msg, 1, NULL, NULL), 0);
    }
    mesh_t x = {m, names, ""};
    bool arrived = kt_wait_until(all_arrived, &x, WAIT_MS);
    if (!arrived) {
        print_message("# still missing: %s\n", x.missing);
        for (int p = 0; p < 3; p++) kt_kmirror_print_log(&k[p]);
    }
    assert_true(arrived);

    /* Exactly one record per topic, its origin's; and every cluster heard from every other. */
    for (int c = 0; c < NCL; c++) {
        bool from[NCL] = {false};
        for (int i = 0; i < names[c].n; i++) {
            const char *name = names[c].name[i];
            size_t len = strlen(name);
            if (strcmp(name, "t") != 0 && (len < 2 || strcmp(name + len - 2, ".t") != 0)) continue;
            char obuf[32], want[40];
            const char *origin = origin_of(name, c, obuf, sizeof obuf);
            snprintf(want, sizeof want, "from-%s", origin);
            kt_record_t *r;
            size_t n;
            assert_int_equal(kt_consume(km_mock_bootstraps(m[c]), name, NULL, &r, &n), 0);
            if (n != 1) print_message("# %s on %s: %zu records\n", name, CL[c], n);
            assert_int_equal(n, 1);
            assert_string_equal(r[0].value, want);
            kt_records_free(r, n);
            for (int o = 0; o < NCL; o++) from[o] |= strcmp(CL[o], origin) == 0;
        }
        for (int o = 0; o < NCL; o++)
            if (!from[o]) fail_msg("nothing from %s reached %s", CL[o], CL[c]);
    }

    /* Heartbeats took the same paths: topology of west-2 names all five others upstream. */
    char *argv[] = {(char *)kt_kmirror_bin(), "topology", k[0].conf, "--cluster", "west-2", "--json", "-q", NULL};
    char *out = NULL;
    assert_int_equal(kt_run(argv, &out), 0);
    assert_non_null(out);
    for (int o = 0; o < NCL; o++) {
        char needle[48];
        snprintf(needle, sizeof needle, "\"cluster\":\"%s\"", CL[o]);
        if (o != 1 && !strstr(strstr(out, "\"upstream\""), needle)) fail_msg("topology of west-2 lacks %s: %s", CL[o], out);
    }
    free(out);

    for (int p = 0; p < 3; p++) assert_int_equal(kt_kmirror_stop(&k[p], 30000), 0);
    for (int c = 0; c < NCL; c++) {
        for (int i = 0; i < names[c].n; i++) free(names[c].name[i]);
        km_mock_free(m[c]);
    }
}

/* ---- the same six clusters with IdentityReplicationPolicy ------------------------------------
 * Every cluster has one topic t, written by ordinary producers on all six and by kmirror. With
 * the record path each record travels its origin's delivery tree: every record produced on any
 * cluster must be in t on every cluster exactly once (checked record by record), and stay so:
 * after the counts are reached, a marker from every cluster must arrive everywhere before the
 * exact counts are asserted. Heartbeat topics keep MM2's remote names under this policy. */

#define PER_CLUSTER 20

typedef struct {
    km_mock_t **m;
    int64_t want;
} all_count_t;

static bool all_have(void *arg) {
    all_count_t *x = arg;
    for (int c = 0; c < NCL; c++) {
        int64_t hw[1] = {0};
        if (kt_high_watermarks(km_mock_bootstraps(x->m[c]), "t", hw, 1) != 0 || hw[0] < x->want) return false;
    }
    return true;
}

static void produce_values(km_mock_t *m, const char *fmt, const char *cl, int count) {
    for (int i = 0; i < count; i++) {
        char value[64];
        snprintf(value, sizeof value, fmt, cl, i);
        kt_msg_t msg = {.partition = 0, .key = cl, .value = value};
        assert_int_equal(kt_produce(km_mock_bootstraps(m), "t", &msg, 1, NULL, NULL), 0);
    }
}

static void test_guide_six_clusters_identity_once_everywhere(void **state) {
    char err[256];
    km_mock_t *m[NCL];
    names_t names[NCL] = {0};
    expected_names(names);
    for (int c = 0; c < NCL; c++) {
        m[c] = km_mock_new(1, err, sizeof err);
        assert_non_null(m[c]);
        assert_int_equal(km_mock_create_topic(m[c], "t", 1), 0);
        for (int i = 0; i < names[c].n; i++) /* heartbeats are still renamed */
            if (strstr(names[c].name[i], "heartbeats")) assert_int_equal(km_mock_create_topic(m[c], names[c].name[i], 1), 0);
    }
    for (int f = 0; f < NFLOWS; f++) km_mock_create_mm2_topics(m[FLOWS[f][1]], CL[FLOWS[f][0]]);
    for (int c = 0; c < NCL; c++) produce_values(m[c], "%s-%d", CL[c], PER_CLUSTER / 2);
    kt_kmirror_t k[3];
    static const char *const dc[3][4] = {{"--clusters", "west-1", "west-2", NULL},
                                         {"--clusters", "east-1", "east-2", NULL},
                                         {"--clusters", "north-1", "north-2", NULL}};
    for (int p = 0; p < 3; p++) {
        char name[32];
        snprintf(name, sizeof name, "mesh-identity-%s", dc[p][1]);
        write_config(&k[p], name, m, "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n");
        assert_int_equal(kt_kmirror_start(&k[p], dc[p]), 0);
    }
    for (int c = 0; c < NCL; c++) produce_values(m[c], "%s-1%d", CL[c], PER_CLUSTER / 2); /* CL-10 .. CL-19 */
    all_count_t want = {m, NCL * PER_CLUSTER};
    bool arrived = kt_wait_until(all_have, &want, WAIT_MS);
    for (int c = 0; c < NCL; c++) produce_values(m[c], "marker-%s-%d", CL[c], 1);
    want.want = NCL * (PER_CLUSTER + 1);
    arrived = arrived && kt_wait_until(all_have, &want, WAIT_MS);
    if (!arrived)
        for (int p = 0; p < 3; p++) kt_kmirror_print_log(&k[p]);
    assert_true(arrived);

    for (int c = 0; c < NCL; c++) {
        kt_record_t *r;
        size_t n;
        assert_int_equal(kt_consume(km_mock_bootstraps(m[c]), "t", NULL, &r, &n), 0);
        if (n != (size_t)want.want) print_message("# t on %s: %zu records\n", CL[c], n);
        assert_int_equal(n, want.want);
        int seen[NCL][PER_CLUSTER + 1] = {{0}};
        for (size_t i = 0; i < n; i++) {
            const char *v = r[i].value;
            bool marker = strncmp(v, "marker-", 7) == 0;
            if (marker) v += 7;
            int o = -1;
            for (int x = 0; x < NCL; x++)
                if (strncmp(v, CL[x], strlen(CL[x])) == 0 && v[strlen(CL[x])] == '-') o = x;
            assert_true(o >= 0);
            int idx = marker ? PER_CLUSTER : atoi(v + strlen(CL[o]) + 1);
            assert_true(idx >= 0 && idx <= PER_CLUSTER);
            seen[o][idx]++;
            const kt_header_t *path = kt_record_header(&r[i], "kmirror.path");
            if (o == c) {
                assert_null(path);
            } else { /* the path starts at the origin and never names this cluster */
                assert_non_null(path);
                assert_true(strncmp(path->value, CL[o], strlen(CL[o])) == 0);
                char *copy = strdup(path->value);
                for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) assert_string_not_equal(tok, CL[c]);
                free(copy);
            }
        }
        for (int o = 0; o < NCL; o++)
            for (int i = 0; i <= PER_CLUSTER; i++)
                if (seen[o][i] != 1) fail_msg("t on %s holds record %d of %s %d times", CL[c], i, CL[o], seen[o][i]);
        kt_records_free(r, n);
    }
    for (int p = 0; p < 3; p++) assert_int_equal(kt_kmirror_stop(&k[p], 30000), 0);
    for (int c = 0; c < NCL; c++) {
        for (int i = 0; i < names[c].n; i++) free(names[c].name[i]);
        km_mock_free(m[c]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guide_six_clusters_three_processes),
        cmocka_unit_test(test_guide_six_clusters_identity_once_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
