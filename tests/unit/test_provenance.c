/* test_provenance.c — the record path (provenance.h): the header value a flow writes, what it
 * skips, delivery trees, a whole mesh simulated record by record with the same decisions the
 * tasks make, and the configurations refused because they would loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "provenance.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDENTITY "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n"

static int load(km_config_t *cfg, km_diag_t *d, const char *text) {
    *d = (km_diag_t){0};
    return km_config_load_buf(cfg, text, strlen(text), "test.properties", NULL, 0, d);
}

static const char *const PAIR = "clusters = a, b\na.bootstrap.servers = h:1\nb.bootstrap.servers = h:2\n"
                                "a->b.enabled = true\nb->a.enabled = true\n";

static void test_path_values(void **state) {
    km_config_t cfg;
    km_diag_t d;
    char text[1024];
    snprintf(text, sizeof text, "%s" IDENTITY, PAIR);
    assert_int_equal(load(&cfg, &d, text), 0);
    km_prov_route_t r;
    km_prov_route_init(&r, &cfg, km_config_flow(&cfg, "a", "b"), "shared", "shared");
    km_prov_buf_t b = {0};
    assert_int_equal(km_prov_decide(&r, NULL, 0, &b), KM_PROV_WRITE); /* a producer's record: local to a */
    assert_int_equal(b.len, 1);
    assert_memory_equal(b.p, "a", 1);
    assert_int_equal(km_prov_decide(&r, "b", 1, &b), KM_PROV_SKIP_HAS); /* it came from b */
    assert_int_equal(km_prov_decide(&r, "x,b", 3, &b), KM_PROV_SKIP_HAS);
    assert_int_equal(km_prov_decide(&r, "bb,x", 4, &b), KM_PROV_WRITE); /* whole aliases only */
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.p, "bb,x,a", 6);
    km_prov_route_free(&r);
    free(b.p);
    km_config_free(&cfg);
    km_diag_free(&d);
}

/* The ops guide's 6-cluster example (tests/unit/fixtures/opsguide/11-multi-cluster.properties). */
static const char *const CL[] = {"west-1", "west-2", "east-1", "east-2", "north-1", "north-2"};
#define NCL 6

static void mesh_config(km_config_t *cfg, km_diag_t *d, const char *extra) {
    char *guide = km_xasprintf("%s", "");
    FILE *fp = fopen("tests/unit/fixtures/opsguide/11-multi-cluster.properties", "r");
    assert_non_null(fp);
    char line[512];
    while (fgets(line, sizeof line, fp)) {
        char *next = strstr(line, "= ...") ? km_xasprintf("%s%.*s= h:1\n", guide, (int)(strstr(line, "= ...") - line), line)
                                            : km_xasprintf("%s%s", guide, line);
        free(guide);
        guide = next;
    }
    fclose(fp);
    char *text = km_xasprintf("%s\n%s", guide, extra);
    assert_int_equal(load(cfg, d, text), 0);
    free(text);
    free(guide);
}

static void test_mesh_trees(void **state) {
    km_config_t cfg;
    km_diag_t d;
    mesh_config(&cfg, &d, IDENTITY);
    int parent[NCL];
    km_prov_tree(&cfg, "t", 1, parent); /* from west-2: west-1, then the other hubs, then their pairs */
    int want[NCL] = {1, -1, 0, 2, 0, 4};
    assert_memory_equal(parent, want, sizeof want);
    km_prov_tree(&cfg, "t", 0, parent);
    int want0[NCL] = {-1, 0, 0, 2, 0, 4};
    assert_memory_equal(parent, want0, sizeof want0);
    km_config_free(&cfg);
    km_diag_free(&d);
}

/* One record from every cluster, moved along every enabled flow by km_prov_decide, as the
 * tasks do, until nothing moves: every cluster must hold each record exactly once. */
typedef struct {
    int origin;
    char path[128];
} rec_t;

static void simulate_mesh(const char *extra, bool renamed) {
    km_config_t cfg;
    km_diag_t d;
    mesh_config(&cfg, &d, extra);
    rec_t held[NCL][64];
    int n[NCL] = {0};
    for (int c = 0; c < NCL; c++) held[c][n[c]++] = (rec_t){c, ""};
    km_prov_buf_t b = {0};
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < cfg.nflows; i++) {
            const km_flow_t *f = &cfg.flows[i];
            if (!f->enabled) continue;
            int s = -1, t = -1;
            for (int c = 0; c < NCL; c++) {
                if (strcmp(CL[c], f->source) == 0) s = c;
                if (strcmp(CL[c], f->target) == 0) t = c;
            }
            char *remote = km_policy_format_remote_topic(&f->s.policy, f->source, "t");
            km_prov_route_t r;
            km_prov_route_init(&r, &cfg, f, "t", remote);
            for (int k = 0; k < n[s]; k++) {
                rec_t *x = &held[s][k];
                size_t len = strlen(x->path);
                if (km_prov_decide(&r, len ? x->path : NULL, len, &b) != KM_PROV_WRITE) continue;
                /* has t got this very copy already (the flow ran before)? */
                char path[128];
                snprintf(path, sizeof path, "%.*s", (int)b.len, b.p);
                bool have = false;
                for (int j = 0; j < n[t]; j++) have |= held[t][j].origin == x->origin && strcmp(held[t][j].path, path) == 0;
                if (have) continue;
                assert_true(n[t] < 64);
                held[t][n[t]] = (rec_t){x->origin, ""};
                snprintf(held[t][n[t]].path, sizeof held[t][n[t]].path, "%s", path);
                n[t]++;
                moved = true;
            }
            km_prov_route_free(&r);
            free(remote);
        }
    }
    for (int c = 0; c < NCL; c++) {
        int count[NCL] = {0};
        for (int k = 0; k < n[c]; k++) count[held[c][k].origin]++;
        for (int o = 0; o < NCL; o++) {
            if (renamed) assert_true(count[o] >= 1); /* MM2's names: once per path, in distinct topics */
            else if (count[o] != 1) fail_msg("%s holds %d copies of %s's record", CL[c], count[o], CL[o]);
        }
    }
    free(b.p);
    km_config_free(&cfg);
    km_diag_free(&d);
}

static void test_identity_mesh_delivers_once(void **state) { simulate_mesh(IDENTITY, false); }

/* DefaultReplicationPolicy: nothing is routed (the names keep the copies apart), only marked. */
static void test_default_mesh_unchanged(void **state) { simulate_mesh("", true); }

static void test_identity_loop_without_provenance_refused(void **state) {
    km_config_t cfg;
    km_diag_t d;
    char text[1024];
    snprintf(text, sizeof text, "%s" IDENTITY "replication.provenance.enabled = false\n", PAIR);
    assert_int_equal(load(&cfg, &d, text), -1);
    assert_int_equal(d.nerrors, 1);
    assert_non_null(strstr(d.errors[0], "flows a->b, b->a form a cycle"));
    assert_non_null(strstr(d.errors[0], "replication.provenance.enabled"));
    km_config_free(&cfg);
    km_diag_free(&d);
    snprintf(text, sizeof text, "%s" IDENTITY, PAIR); /* with the record path: fine */
    assert_int_equal(load(&cfg, &d, text), 0);
    km_config_free(&cfg);
    km_diag_free(&d);
    snprintf(text, sizeof text, "%sreplication.provenance.enabled = false\n", PAIR); /* names tell copies apart */
    assert_int_equal(load(&cfg, &d, text), 0);
    km_config_free(&cfg);
    km_diag_free(&d);
    snprintf(text, sizeof text, "%sreplication.provenance.enabled = maybe\n", PAIR);
    assert_int_equal(load(&cfg, &d, text), -1);
    assert_non_null(strstr(d.errors[0], "replication.provenance.enabled must be true or false"));
    km_config_free(&cfg);
    km_diag_free(&d);
}

static void test_growing_names_refused(void **state) {
    km_config_t cfg;
    km_diag_t d;
    /* '-' also occurs in the aliases: DefaultReplicationPolicy reads us-west-t as coming from "us" */
    const char *sep = "clusters = us-west, us-east\nus-west.bootstrap.servers = h:1\nus-east.bootstrap.servers = h:2\n"
                      "us-west->us-east.enabled = true\nus-east->us-west.enabled = true\nreplication.policy.separator = -\n";
    assert_int_equal(load(&cfg, &d, sep), -1);
    assert_non_null(strstr(d.errors[0], "flows us-west->us-east, us-east->us-west replicate a topic around a cycle under ever longer names"));
    assert_non_null(strstr(d.errors[0], "'us-west-t'"));
    km_config_free(&cfg);
    km_diag_free(&d);
    /* policies mixed along the cycle */
    char text[1024];
    snprintf(text, sizeof text, "%sa->b." IDENTITY, PAIR);
    assert_int_equal(load(&cfg, &d, text), -1);
    assert_non_null(strstr(d.errors[0], "ever longer names"));
    km_config_free(&cfg);
    km_diag_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_values),
        cmocka_unit_test(test_mesh_trees),
        cmocka_unit_test(test_identity_mesh_delivers_once),
        cmocka_unit_test(test_default_mesh_unchanged),
        cmocka_unit_test(test_identity_loop_without_provenance_refused),
        cmocka_unit_test(test_growing_names_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
