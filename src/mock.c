/* mock.c — see mock.h. */
#include "mock.h"

#include "log.h"
#include "mirror.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct km_mock {
    rd_kafka_t *rk; /* the mock cluster lives inside a client instance */
    rd_kafka_mock_cluster_t *mc;
    int brokers;
};

km_mock_t *km_mock_new(int brokers, char *errstr, int errlen) {
    km_mock_t *m = km_xcalloc(1, sizeof(*m));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, (size_t)errlen);
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        free(m);
        return NULL;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        snprintf(errstr, (size_t)errlen, "cannot start a mock cluster with %d broker(s)", brokers);
        rd_kafka_destroy(m->rk);
        free(m);
        return NULL;
    }
    m->brokers = brokers;
    return m;
}

const char *km_mock_bootstraps(const km_mock_t *m) { return rd_kafka_mock_cluster_bootstraps(m->mc); }

int km_mock_create_topic(km_mock_t *m, const char *topic, int partitions) {
    int rf = m->brokers < 3 ? m->brokers : 3;
    return rd_kafka_mock_topic_create(m->mc, topic, partitions, rf) ? -1 : 0;
}

int km_mock_create_mm2_topics(km_mock_t *m, const char *peer) {
    char *names[6] = {
        km_xasprintf("mm2-offsets.%s.internal", peer),      /* positions of peer->self */
        km_xasprintf("%s.checkpoints.internal", peer),      /* checkpoints of peer->self */
        km_xasprintf("mm2-offset-syncs.%s.internal", peer), /* syncs of self->peer (on its source) */
        km_xstrdup("heartbeats"),
        km_xasprintf("%s.heartbeats", peer),                /* peer's heartbeats, replicated here */
        km_xasprintf("mm2-kmirror-tasks.%s.%s-mm2.internal", peer, peer), /* tasks of peer->self (tasks.max=1) */
    };
    int rc = 0;
    for (int i = 0; i < 6; i++) {
        rc |= km_mock_create_topic(m, names[i], i == 0 ? 25 : 1);
        free(names[i]);
    }
    return rc;
}

rd_kafka_mock_cluster_t *km_mock_cluster(km_mock_t *m) { return m->mc; }

void km_mock_free(km_mock_t *m) {
    if (!m) return;
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m);
}

static int usage(void) {
    fprintf(stderr, "usage: kmirror mock-cluster [--brokers N] [--topic NAME:PARTITIONS]... [--mm2-peer ALIAS]...\n"
                    "  --mm2-peer ALIAS  also create the internal topics of the flows between this cluster and ALIAS\n"
                    "                    (the mock cannot create topics on request)\n");
    return 2;
}

int km_mock_main(int argc, char **argv) {
    int brokers = 1;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            brokers = atoi(argv[++i]);
            if (brokers < 1 || brokers > 32) return usage();
        } else if ((strcmp(argv[i], "--topic") != 0 && strcmp(argv[i], "--mm2-peer") != 0) || i + 1 >= argc) {
            return usage();
        } else {
            i++;
        }
    char err[512];
    km_mock_t *m = km_mock_new(brokers, err, sizeof(err));
    if (!m) {
        km_error("mock-cluster: %s", err);
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--mm2-peer") == 0 && km_mock_create_mm2_topics(m, argv[++i]) != 0) {
            km_error("mock-cluster: cannot create the internal topics for peer '%s'", argv[i]);
            km_mock_free(m);
            return 2;
        }
        if (strcmp(argv[i], "--topic") != 0) continue;
        const char *spec = argv[++i], *colon = strrchr(spec, ':');
        int parts = colon ? atoi(colon + 1) : 1;
        char *name = colon ? km_xstrndup(spec, (size_t)(colon - spec)) : km_xstrdup(spec);
        if (!*name || parts < 1 || km_mock_create_topic(m, name, parts) != 0) {
            km_error("mock-cluster: cannot create topic '%s' (write --topic NAME:PARTITIONS)", spec);
            free(name);
            km_mock_free(m);
            return 2;
        }
        free(name);
    }
    printf("bootstrap.servers=%s\n", km_mock_bootstraps(m));
    fflush(stdout);
    km_mirror_install_signals();
    while (!km_mirror_stop_requested()) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    km_mock_free(m);
    return 0;
}
