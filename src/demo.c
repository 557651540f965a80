/* demo.c — `kmirror demo [--seconds N]`.
 *
 * Two in-process mock clusters, "west" and "east", each with topics of its own; keyed records
 * with headers are produced into both while kmirror runs the flows west->east and east->west
 * from an ordinary MM2 configuration (so cycle detection keeps east.payments from travelling
 * back). A table shows per flow and topic what was mirrored, the rate and the latency; at the
 * end every remote topic must hold exactly what was produced, partition by partition. Two
 * consumer groups then commit offsets on their clusters, and their checkpoints — the offsets
 * translated for the other cluster — must appear there, and are printed. */
#include "demo.h"

#include "config.h"
#include "log.h"
#include "mirror.h"
#include "mock.h"
#include "records.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RATE_PER_TOPIC 500 /* records per second */

typedef struct demo_topic {
    const char *cluster; /* where it is produced */
    const char *name;
    int partitions;
    uint64_t produced;
    uint64_t last_mirrored;
} demo_topic_t;

typedef struct demo {
    km_mock_t *west, *east;
    rd_kafka_t *pw, *pe; /* producers into west and east */
    demo_topic_t topics[4];
    size_t ntopics;
} demo_t;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static rd_kafka_t *producer(const char *bootstrap, char *err, size_t errlen) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(c, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, errlen);
    if (!rk) rd_kafka_conf_destroy(c);
    return rk;
}

static int setup(demo_t *d, char *err, size_t errlen) {
    static const demo_topic_t topics[] = {
        {"west", "orders", 4, 0, 0}, {"west", "inventory", 2, 0, 0}, {"east", "payments", 3, 0, 0}, {"east", "clicks", 2, 0, 0}};
    memcpy(d->topics, topics, sizeof(topics));
    d->ntopics = 4;
    d->west = km_mock_new(1, err, (int)errlen);
    d->east = d->west ? km_mock_new(1, err, (int)errlen) : NULL;
    if (!d->east) return -1;
    /* The mock cannot create topics on request: create local, remote and internal ones here. */
    for (size_t i = 0; i < d->ntopics; i++) {
        bool west = strcmp(d->topics[i].cluster, "west") == 0;
        char remote[64];
        snprintf(remote, sizeof(remote), "%s.%s", d->topics[i].cluster, d->topics[i].name);
        km_mock_create_topic(west ? d->west : d->east, d->topics[i].name, d->topics[i].partitions);
        km_mock_create_topic(west ? d->east : d->west, remote, d->topics[i].partitions);
    }
    km_mock_create_mm2_topics(d->east, "west");
    km_mock_create_mm2_topics(d->west, "east");
    d->pw = producer(km_mock_bootstraps(d->west), err, errlen);
    d->pe = d->pw ? producer(km_mock_bootstraps(d->east), err, errlen) : NULL;
    return d->pe ? 0 : -1;
}

static char *config_text(const demo_t *d) {
    return km_xasprintf("# the ops guide's active/active example, on two local clusters\n"
                        "clusters = west, east\n"
                        "west.bootstrap.servers = %s\n"
                        "east.bootstrap.servers = %s\n"
                        "west->east.enabled = true\n"
                        "east->west.enabled = true\n"
                        "replication.factor = 1\n"
                        "refresh.topics.interval.seconds = 5\n"
                        "offset.flush.interval.ms = 1000\n"
                        "admin.timeout.ms = 10000\n"
                        "# the mock cannot list groups: name them\n"
                        "groups = billing, fraud-check\n"
                        "emit.checkpoints.interval.seconds = 1\n",
                        km_mock_bootstraps(d->west), km_mock_bootstraps(d->east));
}

/* One tick's worth of records into every topic: keyed, with headers. */
static void produce_tick(demo_t *d, int per_topic, uint64_t *seq) {
    for (size_t i = 0; i < d->ntopics; i++) {
        demo_topic_t *t = &d->topics[i];
        rd_kafka_t *rk = strcmp(t->cluster, "west") == 0 ? d->pw : d->pe;
        for (int k = 0; k < per_topic; k++) {
            char key[32], val[128];
            int kl = snprintf(key, sizeof(key), "customer-%llu", (unsigned long long)(*seq % 97));
            int vl = snprintf(val, sizeof(val), "{\"id\":%llu,\"topic\":\"%s\",\"amount\":%llu}",
                              (unsigned long long)*seq, t->name, (unsigned long long)(*seq * 7 % 1000));
            rd_kafka_headers_t *h = rd_kafka_headers_new(2);
            rd_kafka_header_add(h, "origin", -1, t->cluster, -1);
            rd_kafka_header_add(h, "trace-id", -1, key, kl);
            if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(t->name), RD_KAFKA_V_KEY(key, (size_t)kl), RD_KAFKA_V_VALUE(val, (size_t)vl),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END) == 0) {
                t->produced++;
                (*seq)++;
            } else {
                rd_kafka_headers_destroy(h);
            }
        }
        rd_kafka_poll(rk, 0);
    }
}

typedef struct view_row {
    const char *flow;
    const char *remote;
    uint64_t records;
    uint64_t latency_sum, latency_count; /* over the metrics window (30-60 s) */
    int64_t latency_max;
} view_row_t;

typedef struct view {
    view_row_t rows[16];
    size_t n;
} view_t;

static void collect(view_t *v, const km_flow_snap_t *f, const km_part_snap_t *p) {
    size_t i = 0;
    while (i < v->n && strcmp(v->rows[i].remote, p->remote) != 0) i++;
    if (i == v->n) {
        if (v->n == sizeof(v->rows) / sizeof(v->rows[0])) return;
        v->rows[v->n++] = (view_row_t){f->name, p->remote, 0, 0, 0, 0};
    }
    v->rows[i].records += p->records;
    v->rows[i].latency_sum += p->latency_w.sum;
    v->rows[i].latency_count += p->latency_w.count;
    if (p->latency_w.count && p->latency_w.max > v->rows[i].latency_max) v->rows[i].latency_max = p->latency_w.max;
}

static void show(demo_t *d, km_mirror_t *m, int second) {
    view_t v = {0};
    km_snapshot_t *snap = km_metrics_snapshot(km_mirror_metrics(m), km_now_wall_ms());
    for (size_t f = 0; f < snap->nflows; f++)
        for (size_t p = 0; p < snap->flows[f].nparts; p++) collect(&v, &snap->flows[f], &snap->flows[f].parts[p]);
    printf("\n t=%2ds  %-12s %-16s %10s %10s %9s %9s\n", second, "flow", "remote topic", "produced", "mirrored", "rate/s", "lat avg/max ms");
    for (size_t i = 0; i < v.n; i++) {
        demo_topic_t *t = NULL;
        for (size_t k = 0; k < d->ntopics; k++)
            if (strcmp(strchr(v.rows[i].remote, '.') + 1, d->topics[k].name) == 0) t = &d->topics[k];
        if (!t) continue;
        uint64_t rate = v.rows[i].records - t->last_mirrored;
        t->last_mirrored = v.rows[i].records;
        printf("        %-12s %-16s %10llu %10llu %9llu %6llu/%lld\n", v.rows[i].flow, v.rows[i].remote,
               (unsigned long long)t->produced, (unsigned long long)v.rows[i].records, (unsigned long long)rate,
               (unsigned long long)(v.rows[i].latency_count ? v.rows[i].latency_sum / v.rows[i].latency_count : 0),
               (long long)v.rows[i].latency_max);
    }
    km_snapshot_free(snap);
    fflush(stdout);
}

/* Records in a remote topic: the sum of its partitions' high watermarks. */
static int64_t count_records(rd_kafka_t *rk, const char *topic, int partitions) {
    int64_t total = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000)) return -1;
        total += hi - lo;
    }
    return total;
}

static bool all_mirrored(demo_t *d, bool print) {
    bool ok = true;
    for (size_t i = 0; i < d->ntopics; i++) {
        demo_topic_t *t = &d->topics[i];
        bool west = strcmp(t->cluster, "west") == 0;
        char remote[64];
        snprintf(remote, sizeof(remote), "%s.%s", t->cluster, t->name);
        int64_t n = count_records(west ? d->pe : d->pw, remote, t->partitions);
        bool same = n == (int64_t)t->produced;
        ok &= same;
        if (print)
            printf("  %-5s %-10s produced %7llu   %-5s %-16s holds %7lld   %s\n", t->cluster, t->name, (unsigned long long)t->produced,
                   west ? "east" : "west", remote, (long long)n, same ? "OK" : "MISMATCH");
    }
    return ok;
}

/* The target can hold a record a moment before kmirror has processed its acknowledgement: the
 * last view waits for both, so its "mirrored" column is final. */
static bool counted_all(const demo_t *d, km_mirror_t *m) {
    uint64_t produced = 0, counted = 0;
    for (size_t i = 0; i < d->ntopics; i++) produced += d->topics[i].produced;
    km_snapshot_t *snap = km_metrics_snapshot(km_mirror_metrics(m), km_now_wall_ms());
    for (size_t f = 0; f < snap->nflows; f++)
        for (size_t p = 0; p < snap->flows[f].nparts; p++) counted += snap->flows[f].parts[p].records;
    km_snapshot_free(snap);
    return counted >= produced;
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* A consumer group of the demo: it committed, on `cluster`, offset `committed` of every partition
 * of topic `name` (half of what was produced into it). */
typedef struct demo_group {
    const char *group;
    demo_topic_t *topic;
    int64_t committed[8];
    int64_t translated[8]; /* from its checkpoints on the other cluster; -1 none yet */
} demo_group_t;

static int commit_half(demo_t *d, demo_group_t *g) {
    bool west = strcmp(g->topic->cluster, "west") == 0;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", km_mock_bootstraps(west ? d->west : d->east), NULL, 0);
    rd_kafka_conf_set(c, "group.id", g->group, NULL, 0);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(c);
        return -1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(g->topic->partitions);
    for (int p = 0; p < g->topic->partitions; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(rk, g->topic->name, p, &lo, &hi, 5000);
        g->committed[p] = hi / 2;
        g->translated[p] = -1;
        rd_kafka_topic_partition_list_add(l, g->topic->name, p)->offset = g->committed[p];
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (e) km_error("demo: group %s cannot commit on %s: %s", g->group, g->topic->cluster, rd_kafka_err2str(e));
    return e ? -1 : 0;
}

/* Reads the checkpoints {source}.checkpoints.internal holds on the other cluster into
 * g->translated (the last one per partition wins, as for a consumer failing over). */
static void read_checkpoints(demo_t *d, demo_group_t *g) {
    bool west = strcmp(g->topic->cluster, "west") == 0;
    char topic[64], remote[64];
    snprintf(topic, sizeof(topic), "%s.checkpoints.internal", g->topic->cluster);
    snprintf(remote, sizeof(remote), "%s.%s", g->topic->cluster, g->topic->name);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", km_mock_bootstraps(west ? d->east : d->west), NULL, 0);
    rd_kafka_conf_set(c, "group.id", "kmirror-demo-reader", NULL, 0);
    rd_kafka_conf_set(c, "enable.partition.eof", "true", NULL, 0);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(c);
        return;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (int64_t deadline = km_now_mono_ms() + 3000; km_now_mono_ms() < deadline;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) continue;
        bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        km_checkpoint_t k;
        if (!m->err && km_checkpoint_decode(m->key, m->key_len, m->payload, m->len, &k) == 0) {
            if (strcmp(k.group, g->group) == 0 && strcmp(k.topic, remote) == 0 && k.partition >= 0 && k.partition < g->topic->partitions)
                g->translated[k.partition] = k.downstream_offset;
            km_checkpoint_free(&k);
        }
        rd_kafka_message_destroy(m);
        if (eof) break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* Every committed offset has its checkpoint. The remote topics started empty, so offsets are the
 * same on both sides and the translation must give back the committed offset. */
static bool checkpointed(const demo_group_t *g) {
    for (int p = 0; p < g->topic->partitions; p++)
        if (g->translated[p] != g->committed[p]) return false;
    return true;
}

static bool check_checkpoints(demo_t *d, km_mirror_t *m) {
    demo_group_t groups[] = {{"billing", &d->topics[0], {0}, {0}}, {"fraud-check", &d->topics[2], {0}, {0}}};
    size_t n = sizeof(groups) / sizeof(groups[0]);
    for (size_t i = 0; i < n; i++)
        if (commit_half(d, &groups[i]) != 0) return false;
    bool ok = false;
    for (int64_t deadline = km_now_mono_ms() + 20000; !ok && km_now_mono_ms() < deadline;) {
        for (int t = 0; t < 10; t++) {
            km_mirror_tick(m);
            sleep_ms(100);
        }
        ok = true;
        for (size_t i = 0; i < n; i++) {
            read_checkpoints(d, &groups[i]);
            ok &= checkpointed(&groups[i]);
        }
    }
    printf("\ncheckpoints (consumer offsets committed on one cluster, translated for the other):\n");
    for (size_t i = 0; i < n; i++) {
        demo_group_t *g = &groups[i];
        bool west = strcmp(g->topic->cluster, "west") == 0;
        for (int p = 0; p < g->topic->partitions; p++)
            printf("  group %-12s %-5s %s[%d] committed %6lld   %-5s %s.%s[%d] translated %6lld   %s\n", g->group, g->topic->cluster,
                   g->topic->name, p, (long long)g->committed[p], west ? "east" : "west", g->topic->cluster, g->topic->name, p,
                   (long long)g->translated[p], g->translated[p] == g->committed[p] ? "OK" : g->translated[p] < 0 ? "MISSING" : "MISMATCH");
    }
    return ok;
}

static void teardown(demo_t *d) {
    if (d->pw) rd_kafka_destroy(d->pw);
    if (d->pe) rd_kafka_destroy(d->pe);
    km_mock_free(d->west);
    km_mock_free(d->east);
}

static int run(demo_t *d, int seconds) {
    char *text = config_text(d);
    km_config_t cfg;
    km_diag_t diag = {0};
    int rc = km_config_load_buf(&cfg, text, strlen(text), "demo.properties", NULL, 0, &diag);
    km_diag_log(&diag);
    free(text);
    km_mirror_t *m = rc == 0 ? km_mirror_start(&cfg) : NULL;
    if (!m) {
        km_config_free(&cfg);
        km_diag_free(&diag);
        return 1;
    }
    uint64_t seq = 0;
    for (int s = 1; s <= seconds && !km_mirror_stop_requested(); s++) {
        for (int tick = 0; tick < 10; tick++) {
            produce_tick(d, RATE_PER_TOPIC / 10, &seq);
            km_mirror_tick(m);
            sleep_ms(100);
        }
        show(d, m, s);
    }
    rd_kafka_flush(d->pw, 10000);
    rd_kafka_flush(d->pe, 10000);
    int64_t deadline = km_now_mono_ms() + 15000;
    while (!(all_mirrored(d, false) && counted_all(d, m)) && km_now_mono_ms() < deadline) {
        km_mirror_tick(m);
        sleep_ms(100);
    }
    show(d, m, seconds);
    printf("\nsummary (record counts on the target clusters):\n");
    bool ok = all_mirrored(d, true);
    printf("%s\n", ok ? "every topic was mirrored completely: mirrored == produced" : "MISMATCH: not everything was mirrored");
    bool ck = check_checkpoints(d, m);
    printf("%s\n", ck ? "every committed offset has its checkpoint on the other cluster" : "MISSING: not every committed offset was checkpointed");
    rc = km_mirror_stop(m) == 0 && ok && ck ? 0 : 1;
    km_config_free(&cfg);
    km_diag_free(&diag);
    return rc;
}

int km_demo_main(int argc, char **argv) {
    int seconds = 10;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) seconds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: kmirror demo [--seconds N]\n");
            return 2;
        }
    }
    if (km_log_get_level() == KM_LOG_INFO) km_log_set_level(KM_LOG_WARN);
    km_mirror_install_signals();
    printf("kmirror demo: clusters west and east (local mock clusters), flows west->east and east->west, %d s\n", seconds);
    demo_t d = {0};
    char err[512];
    int rc = 1;
    if (setup(&d, err, sizeof(err)) != 0) km_error("demo: %s", err);
    else rc = run(&d, seconds);
    teardown(&d);
    return rc;
}
