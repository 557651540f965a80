/* test_topicsync.c — which topic configs and ACLs MM2 copies to the target (topicsync.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "topicsync.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void test_configs_to_mirror(void **state) {
    km_diag_t d = {0};
    km_pattern_t *ex = km_pattern_new("min\\.insync\\.replicas, leader\\.replication\\.throttled\\.replicas", "x", &d);
    km_topic_config_t in[] = {
        {"cleanup.policy", "compact", RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, false, false},
        {"retention.ms", "604800000", RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG, false, false},
        {"min.insync.replicas", "2", RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, false, false}, /* excluded */
        {"segment.bytes", "1024", RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG, false, false},   /* the broker's */
        {"sasl.secret", NULL, RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, false, true},        /* sensitive */
        {"message.format.version", "3.0", RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, true, false}, /* read-only */
        {"max.message.bytes", "2000000", RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, false, false},
    };
    const km_topic_config_t **out;
    size_t n = km_configs_to_mirror(ex, false, in, 7, &out);
    assert_int_equal(n, 2);
    assert_string_equal(out[0]->name, "cleanup.policy");
    assert_string_equal(out[1]->name, "max.message.bytes");
    free(out);
    n = km_configs_to_mirror(ex, true, in, 7, &out); /* use.defaults.from=source adds source defaults */
    assert_int_equal(n, 3);
    assert_string_equal(out[1]->name, "retention.ms");
    free(out);
    km_pattern_free(ex);
}

static void test_acls_to_mirror(void **state) {
    const char *text = "clusters = A, B\nA.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\nA->B.enabled = true\n"
                       "A->B.topics = orders.*\n";
    km_config_t cfg;
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "t", NULL, 0, &d), 0);
    const km_flow_t *f = km_config_flow(&cfg, "A", "B");
    km_acl_t in[] = {
        {"orders", "User:alice", "*", RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_RESOURCE_PATTERN_LITERAL, RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW},
        {"orders", "User:bob", "*", RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_RESOURCE_PATTERN_LITERAL, RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW},
        {"orders", "User:carol", "*", RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_RESOURCE_PATTERN_LITERAL, RD_KAFKA_ACL_OPERATION_ALL, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW},
        {"orders", "User:mallory", "*", RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_RESOURCE_PATTERN_LITERAL, RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_PERMISSION_TYPE_DENY},
        {"payments", "User:alice", "*", RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_RESOURCE_PATTERN_LITERAL, RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW},
        {"orders", "User:dave", "*", RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_RESOURCE_PATTERN_PREFIXED, RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW},
        {"orders", "User:*", "*", RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_RESOURCE_PATTERN_LITERAL, RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_PERMISSION_TYPE_DENY},
    };
    km_acl_t *out;
    size_t n = km_acls_to_mirror(f, in, 7, &out); /* the fence (User:*) is not copied */
    assert_int_equal(n, 3);
    assert_string_equal(out[0].name, "A.orders");
    assert_string_equal(out[0].principal, "User:alice");
    assert_string_equal(out[1].principal, "User:carol");
    assert_int_equal(out[1].operation, RD_KAFKA_ACL_OPERATION_READ); /* ALLOW ALL becomes READ */
    assert_string_equal(out[2].principal, "User:mallory");             /* a DENY WRITE is kept */
    km_acls_free(out, n);
    km_config_free(&cfg);
    km_diag_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configs_to_mirror),
        cmocka_unit_test(test_acls_to_mirror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
