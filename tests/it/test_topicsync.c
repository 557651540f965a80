/* test_topicsync.c — topic configuration and ACLs follow the source, on real brokers: a
 * compacted source topic gets a compacted remote topic, a config changed on the source reaches
 * the remote topic at the next sync, and the source's topic ACLs appear on the target renamed
 * (ALLOW WRITE left out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kt.h"
#include "kt_kmirror.h"

static const char *A, *B, *BIN;

static int setup(void **state) {
    A = getenv("KMIRROR_IT_A");
    B = getenv("KMIRROR_IT_B");
    BIN = getenv("KMIRROR_BIN");
    return 0;
}

static int teardown(void **state) {
    kt_kill_children();
    return 0;
}

/* The value of config `name` of `topic` on `bs`, "" when unset; NULL when unreadable. */
static char *topic_config(const char *bs, const char *topic, const char *name) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bs, NULL);
    rd_kafka_ConfigResource_t *r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &r, 1, NULL, q);
    rd_kafka_ConfigResource_destroy(r);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    char *v = NULL;
    size_t cnt, ne;
    const rd_kafka_ConfigResource_t **res = ev ? rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt) : NULL;
    if (res && cnt == 1 && !rd_kafka_ConfigResource_error(res[0])) {
        const rd_kafka_ConfigEntry_t **e = rd_kafka_ConfigResource_configs(res[0], &ne);
        v = strdup("");
        for (size_t i = 0; i < ne; i++)
            if (strcmp(rd_kafka_ConfigEntry_name(e[i]), name) == 0 && rd_kafka_ConfigEntry_value(e[i])) {
                free(v);
                v = strdup(rd_kafka_ConfigEntry_value(e[i]));
            }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return v;
}

typedef struct {
    const char *bs, *topic, *name, *want;
} cfg_arg_t;

static bool config_is(void *arg) {
    cfg_arg_t *c = arg;
    char *v = topic_config(c->bs, c->topic, c->name);
    bool r = v && strcmp(v, c->want) == 0;
    free(v);
    return r;
}

static void set_config(const char *bs, const char *topic, const char *name, const char *value) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bs, NULL);
    rd_kafka_ConfigResource_t *r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_ConfigResource_set_config(r, "cleanup.policy", "compact");
    rd_kafka_ConfigResource_set_config(r, name, value);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AlterConfigs(rk, &r, 1, NULL, q);
    rd_kafka_ConfigResource_destroy(r);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    assert_non_null(ev);
    assert_int_equal(rd_kafka_event_error(ev), 0);
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

static void create_acl(const char *bs, const char *topic, const char *principal, rd_kafka_AclOperation_t op) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bs, NULL);
    rd_kafka_AclBinding_t *b = rd_kafka_AclBinding_new(RD_KAFKA_RESOURCE_TOPIC, topic, RD_KAFKA_RESOURCE_PATTERN_LITERAL,
                                                       principal, "*", op, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, NULL, 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateAcls(rk, &b, 1, NULL, q);
    rd_kafka_AclBinding_destroy(b);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    assert_non_null(ev);
    assert_int_equal(rd_kafka_event_error(ev), 0);
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

typedef struct {
    const char *topic, *principal;
    int operation; /* expected, or -1: must be absent */
} acl_arg_t;

static int acl_operation(const char *bs, const char *topic, const char *principal) {
    rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, bs, NULL);
    rd_kafka_AclBindingFilter_t *f = rd_kafka_AclBindingFilter_new(RD_KAFKA_RESOURCE_TOPIC, topic, RD_KAFKA_RESOURCE_PATTERN_LITERAL,
                                                                   principal, NULL, RD_KAFKA_ACL_OPERATION_ANY,
                                                                   RD_KAFKA_ACL_PERMISSION_TYPE_ANY, NULL, 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeAcls(rk, f, NULL, q);
    rd_kafka_AclBinding_destroy(f);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    int op = -1;
    size_t cnt;
    if (ev && !rd_kafka_event_error(ev)) {
        const rd_kafka_AclBinding_t **b = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &cnt);
        if (cnt > 0) op = rd_kafka_AclBinding_operation(b[0]);
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return op;
}

static bool acl_is(void *arg) {
    acl_arg_t *a = arg;
    return acl_operation(B, a->topic, a->principal) == a->operation;
}

static void test_configs_and_acls_follow_the_source(void **state) {
    if (!kt_it_ready()) skip();
    char prefix[64], topic[96], remote[128];
    kt_unique_name("ts", prefix, sizeof prefix);
    snprintf(topic, sizeof topic, "%s.t", prefix);
    snprintf(remote, sizeof remote, "A.%s", topic);
    const char *tc[] = {"cleanup.policy", "compact", "max.message.bytes", "2000000", NULL};
    assert_int_equal(kt_create_topic(A, topic, 2, tc), 0);
    create_acl(A, topic, "User:reader", RD_KAFKA_ACL_OPERATION_READ);
    create_acl(A, topic, "User:writer", RD_KAFKA_ACL_OPERATION_WRITE);
    create_acl(A, topic, "User:owner", RD_KAFKA_ACL_OPERATION_ALL);
    kt_kmirror_t k;
    assert_int_equal(kt_kmirror_config(&k, prefix, "clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\nA->B.enabled = true\n"
               "A->B.topics = %s\\..*\nreplication.factor = 1\noffset-syncs.topic.replication.factor = 1\n"
               "checkpoints.topic.replication.factor = 1\nheartbeats.topic.replication.factor = 1\n"
               "sync.topic.configs.interval.seconds = 1\nsync.topic.acls.interval.seconds = 1\n",
            A, B, prefix), 0);
    assert_int_equal(kt_kmirror_start(&k, NULL), 0);

    cfg_arg_t compact = {B, remote, "cleanup.policy", "compact"};
    assert_true(kt_wait_until(config_is, &compact, 60000));           /* created with the source's configs */
    cfg_arg_t maxbytes = {B, remote, "max.message.bytes", "2000000"};
    assert_true(config_is(&maxbytes));
    set_config(A, topic, "max.message.bytes", "3000000");
    cfg_arg_t changed = {B, remote, "max.message.bytes", "3000000"};
    assert_true(kt_wait_until(config_is, &changed, 30000));           /* and kept in sync */

    acl_arg_t reader = {remote, "User:reader", RD_KAFKA_ACL_OPERATION_READ};
    assert_true(kt_wait_until(acl_is, &reader, 30000));
    acl_arg_t owner = {remote, "User:owner", RD_KAFKA_ACL_OPERATION_READ}; /* ALLOW ALL → READ */
    assert_true(acl_is(&owner));
    acl_arg_t writer = {remote, "User:writer", -1};                   /* only the mirror writes remote topics */
    assert_true(acl_is(&writer));

    assert_int_equal(kt_kmirror_stop(&k, 60000), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_configs_and_acls_follow_the_source, teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
