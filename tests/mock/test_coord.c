/* test_coord.c — joining a flow's group (coord.c) on in-process mock clusters, where the tasks
 * topic is not what start-up expects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "coord.h"
#include "log.h"
#include "mock.h"
#include "rk.h"
#include "util.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASKS_TOPIC "mm2-kmirror-tasks.A.A-mm2.internal"

static void no_revoke(void *arg, const int *tasks, size_t n) {
    (void)arg;
    (void)tasks;
    (void)n;
}

/* The target answers for the tasks topic with an error other than "unknown topic" (here not
 * authorized, as for a principal without DESCRIBE on it). That topic is not missing: the start
 * fails at once, naming the topic and the broker's error, instead of trying to create it and
 * failing only after admin.timeout.ms with an error that names neither. Seen failing before the
 * fix: "Failed while waiting for controller: Local: Timed out" after 20 s (the mock never answers
 * the CreateTopics it was sent). */
static void test_undescribable_tasks_topic_is_named(void **state) {
    (void)state;
    char err[512];
    km_mock_t *a = km_mock_new(1, err, sizeof(err)), *b = km_mock_new(1, err, sizeof(err));
    assert_true(a && b);
    assert_int_equal(km_mock_create_mm2_topics(b, "A"), 0);
    rd_kafka_mock_topic_set_error(km_mock_cluster(b), TASKS_TOPIC, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    char *text = km_xasprintf("clusters = A, B\nA.bootstrap.servers = %s\nB.bootstrap.servers = %s\n"
                              "A->B.enabled = true\nreplication.factor = 1\nadmin.timeout.ms = 20000\n",
                              km_mock_bootstraps(a), km_mock_bootstraps(b));
    km_config_t cfg = {0};
    km_diag_t d = {0};
    assert_int_equal(km_config_load_buf(&cfg, text, strlen(text), "mock.properties", NULL, 0, &d), 0);
    free(text);
    const km_flow_t *flow = NULL;
    for (size_t i = 0; i < cfg.nflows; i++)
        if (strcmp(cfg.flows[i].name, "A->B") == 0) flow = &cfg.flows[i];
    assert_non_null(flow);
    rd_kafka_conf_t *conf = km_rk_conf(&flow->rk_target_admin, err, sizeof(err));
    assert_non_null(conf);
    rd_kafka_t *admin = km_rk_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(admin);

    int64_t began = km_now_mono_ms();
    err[0] = '\0';
    km_coord_t *c = km_coord_start(flow, admin, no_revoke, NULL, err, sizeof(err));
    int64_t took = km_now_mono_ms() - began;
    print_message("# %s (%lld ms)\n", err, (long long)took);
    assert_null(c);
    assert_non_null(strstr(err, "cannot read the tasks topic on B: metadata for " TASKS_TOPIC));
    assert_non_null(strstr(err, "uthoriz"));

    rd_kafka_destroy(admin);
    km_config_free(&cfg);
    km_diag_free(&d);
    km_mock_free(a);
    km_mock_free(b);
}

int main(void) {
    km_log_set_level(KM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_undescribable_tasks_topic_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
