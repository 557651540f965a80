/* test_failover_cli.c — `kmirror failover`/`failback` refuse a command line that cannot mean a
 * failover before touching a cluster: an unknown cluster alias, the same cluster twice, a flow
 * that is not enabled, an invalid --groups, missing options. Each is one error on stderr naming
 * the option or config key, and a non-zero exit. The clusters of the file do not exist: every
 * refusal comes before a connection (a group filter that matches nothing needs a cluster to
 * list the groups of; test_failover_cmd checks that one on real brokers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kt_kmirror.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nothing listens on these: a command that tried to connect would fail with another message. */
#define CONF                                                                                               \
    "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:2\n"             \
    "A->B.enabled = true\nB->A.enabled = false\n"

/* `kmirror ARGS` (a single-quoted shell word each) with stderr and stdout in *out; exit status. */
static int run(char **out, const char *args) {
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, "failover-cli", CONF), 0);
    char *cmd = km_xasprintf("'%s' %s 2>&1", kt_kmirror_bin(), args);
    char *p = strstr(cmd, "CONFIG");
    char *full = km_xasprintf("%.*s'%s'%s", (int)(p - cmd), cmd, k.conf, p + strlen("CONFIG"));
    char *argv[] = {"sh", "-c", full, NULL};
    int rc = kt_run(argv, out);
    print_message("# kmirror %s: exit %d: %s", args, rc, *out ? *out : "(no output)\n");
    free(cmd);
    free(full);
    return rc;
}

static void refused(const char *args, int status, const char *needle1, const char *needle2) {
    char *out = NULL;
    assert_int_equal(run(&out, args), status);
    assert_non_null(out);
    if (!strstr(out, needle1) || (needle2 && !strstr(out, needle2)))
        fail_msg("kmirror %s: expected '%s'%s%s%s in the output", args, needle1, needle2 ? " and '" : "",
                 needle2 ? needle2 : "", needle2 ? "'" : "");
    assert_null(strstr(out, "step 1")); /* refused before the sequence started */
    free(out);
}

static void test_unknown_alias(void **state) {
    refused("failover CONFIG --from X --to B", 1, "--from 'X' is not a cluster alias", "clusters = A, B");
    refused("failover CONFIG --from A --to C", 1, "--to 'C' is not a cluster alias", "clusters = A, B");
    refused("failback CONFIG --from b --to A", 1, "--from 'b' is not a cluster alias", NULL);
}

static void test_same_cluster(void **state) { refused("failover CONFIG --from A --to A", 1, "--from and --to are both 'A'", NULL); }

static void test_flow_not_enabled(void **state) {
    /* B->A.enabled = false: failback B->A has nothing to translate with */
    refused("failback CONFIG --from B --to A", 1, "flow B->A is not enabled", "B->A.enabled");
}

static void test_bad_groups(void **state) {
    refused("failover CONFIG --from A --to B --groups '('", 1, "'--groups'", "missing closing parenthesis");
}

static void test_usage(void **state) {
    refused("failover CONFIG --from A", 2, "usage: kmirror failover CONFIG --from A --to B", NULL);
    refused("failback CONFIG --from B --to A --timeout soon", 2, "--timeout takes whole seconds, not 'soon'", NULL);
    refused("failover CONFIG --from A --to B --fast", 2, "unexpected '--fast'", NULL);
    refused("failover CONFIG --from A --to B --fence --unfence", 2, "--fence and --unfence exclude each other", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_alias),  cmocka_unit_test(test_same_cluster), cmocka_unit_test(test_flow_not_enabled),
        cmocka_unit_test(test_bad_groups),     cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
