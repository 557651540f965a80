/* rawpipe.c — the benchmark's ceiling: the least a librdkafka program must do to mirror a topic.
 *
 *   rawpipe SRC_BROKERS DST_BROKERS SRC_TOPIC DST_TOPIC COUNT [consumer.KEY=VALUE|producer.KEY=VALUE]...
 *
 * The optional arguments set librdkafka keys on top of the settings below (bench/run.sh's WAN
 * runs give the pipe the same fetch settings as kmirror).
 * Reads every partition of SRC_TOPIC from the beginning and produces each record to the same
 * partition of DST_TOPIC (which must exist), keeping key, value, headers and timestamp, with the
 * client settings a default kmirror flow uses (what `kmirror check-config` prints: consumer
 * queued.min.messages=1000000, queued.max.messages.kbytes=65536, auto.offset.reset=earliest;
 * idempotent producer, acks=all). Zero-copy: the consumed message's payload goes to the producer
 * without RD_KAFKA_MSG_F_COPY and the consumed message is the delivery's opaque, destroyed in the
 * delivery report. No positions, no metrics, no error recovery: nothing a real mirror needs beyond
 * moving the bytes.
 *
 * The main thread consumes and produces with RD_KAFKA_MSG_F_BLOCK; a second thread serves the
 * delivery reports, because a blocked produce() waits for exactly the queue space that serving
 * them frees. It stops after COUNT delivered records or on SIGTERM/SIGINT and prints one line:
 *   rawpipe records=N seconds=S rate=R p50_ms=A p99_ms=B max_ms=C errors=E
 * seconds run from the first consumed record to the last delivery report; latency is delivery
 * report time minus the source record's timestamp. Uses librdkafka only, never kmirror's code. */
#include <librdkafka/rdkafka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 10000
#define LAT_BUCKETS 600001 /* one per millisecond, up to 10 minutes; the last one holds the rest */

static volatile sig_atomic_t stop_signal;
static atomic_bool done;
static atomic_llong delivered;
static long long target_count, errors;
static int64_t t_first_us, t_last_us;
static uint32_t *lat_hist; /* written by the delivery-report thread only */

static void on_signal(int sig) { stop_signal = sig; }

static int64_t now_us(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rawpipe: %s\n", err);
        exit(1);
    }
}

/* The optional PREFIXKEY=VALUE arguments after COUNT. */
static void extra(rd_kafka_conf_t *c, const char *prefix, int argc, char **argv) {
    for (int i = 6; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || (strncmp(argv[i], "consumer.", 9) != 0 && strncmp(argv[i], "producer.", 9) != 0)) {
            fprintf(stderr, "rawpipe: bad argument '%s' (consumer.KEY=VALUE or producer.KEY=VALUE)\n", argv[i]);
            exit(2);
        }
        if (strncmp(argv[i], prefix, strlen(prefix)) != 0) continue;
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i] - strlen(prefix)), argv[i] + strlen(prefix));
        set(c, key, eq + 1);
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *dr, void *opaque) {
    rd_kafka_message_t *src = dr->_private;
    if (dr->err) {
        if (errors++ == 0) fprintf(stderr, "rawpipe: delivery failed: %s\n", rd_kafka_err2str(dr->err));
    } else {
        int64_t ts = rd_kafka_message_timestamp(src, NULL);
        int64_t lat = ts > 0 ? now_us(CLOCK_REALTIME) / 1000 - ts : 0;
        lat_hist[lat < 0 ? 0 : lat >= LAT_BUCKETS ? LAT_BUCKETS - 1 : lat]++;
    }
    rd_kafka_message_destroy(src);
    if (atomic_fetch_add(&delivered, 1) + 1 == target_count) {
        t_last_us = now_us(CLOCK_MONOTONIC);
        atomic_store(&done, true);
    }
}

static void *dr_thread(void *arg) {
    rd_kafka_t *producer = arg;
    while (!atomic_load(&done) && !stop_signal) rd_kafka_poll(producer, 100);
    return NULL;
}

static int percentile(double q) {
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < LAT_BUCKETS; i++) total += lat_hist[i];
    uint64_t rank = (uint64_t)(q * (double)total);
    for (int i = 0; i < LAT_BUCKETS; i++)
        if ((seen += lat_hist[i]) > rank) return i;
    return 0;
}

static int max_latency(void) {
    for (int i = LAT_BUCKETS - 1; i > 0; i--)
        if (lat_hist[i]) return i;
    return 0;
}

/* Assigns every partition of the topic from its beginning. A topic loaded a moment before may
 * still answer without a leader (or not at all) for a while: asked again for up to 30 s. */
static void assign_all(rd_kafka_t *consumer, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(consumer, topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    for (int attempt = 0; attempt < 60 && !stop_signal; attempt++) {
        if (attempt) usleep(500 * 1000);
        err = rd_kafka_metadata(consumer, 0, rkt, &md, 5000);
        if (err) continue;
        err = md->topic_cnt != 1 ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC : md->topics[0].err;
        for (int p = 0; !err && p < md->topics[0].partition_cnt; p++) err = md->topics[0].partitions[p].err;
        if (!err) break;
        rd_kafka_metadata_destroy(md);
        md = NULL;
    }
    if (!md) {
        fprintf(stderr, "rawpipe: cannot read metadata of %s: %s\n", topic, rd_kafka_err2str(err));
        exit(1);
    }
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int p = 0; p < md->topics[0].partition_cnt; p++)
        rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(consumer, tl);
    rd_kafka_topic_partition_list_destroy(tl);
}

int main(int argc, char **argv) {
    if (argc < 6 || (target_count = atoll(argv[5])) <= 0) {
        fprintf(stderr, "usage: rawpipe SRC_BROKERS DST_BROKERS SRC_TOPIC DST_TOPIC COUNT [consumer.KEY=VALUE|producer.KEY=VALUE]...\n");
        return 2;
    }
    char err[512];
    lat_hist = calloc(LAT_BUCKETS, sizeof(*lat_hist));
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    set(cc, "bootstrap.servers", argv[1]);
    set(cc, "group.id", "kmirror-bench-rawpipe");
    set(cc, "auto.offset.reset", "earliest");
    set(cc, "enable.auto.commit", "false");
    set(cc, "enable.auto.offset.store", "false");
    set(cc, "enable.partition.eof", "false");
    set(cc, "queued.min.messages", "1000000");
    set(cc, "queued.max.messages.kbytes", "65536");
    extra(cc, "consumer.", argc, argv);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
    if (!consumer) {
        fprintf(stderr, "rawpipe: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);

    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    set(pc, "bootstrap.servers", argv[2]);
    set(pc, "enable.idempotence", "true");
    set(pc, "acks", "all");
    set(pc, "allow.auto.create.topics", "false");
    extra(pc, "producer.", argc, argv);
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
    if (!producer) {
        fprintf(stderr, "rawpipe: %s\n", err);
        return 1;
    }
    rd_kafka_topic_t *dst = rd_kafka_topic_new(producer, argv[4], NULL);
    pthread_t drt;
    pthread_create(&drt, NULL, dr_thread, producer);

    assign_all(consumer, argv[3]);
    rd_kafka_message_t **batch = malloc(BATCH_MAX * sizeof(*batch));
    long long consumed = 0;
    while (!stop_signal && !atomic_load(&done)) {
        ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch, BATCH_MAX);
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (m->err || consumed >= target_count) {
                if (m->err) fprintf(stderr, "rawpipe: consumer: %s\n", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            if (consumed++ == 0) t_first_us = now_us(CLOCK_MONOTONIC);
            rd_kafka_headers_t *hdrs = NULL;
            if (rd_kafka_message_detach_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) hdrs = NULL;
            int64_t ts = rd_kafka_message_timestamp(m, NULL);
            rd_kafka_resp_err_t e = rd_kafka_producev(
                producer, RD_KAFKA_V_RKT(dst), RD_KAFKA_V_PARTITION(m->partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_BLOCK),
                RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
                RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
            if (e) {
                fprintf(stderr, "rawpipe: produce: %s\n", rd_kafka_err2str(e));
                if (hdrs) rd_kafka_headers_destroy(hdrs);
                rd_kafka_message_destroy(m);
                stop_signal = SIGTERM;
            }
        }
    }
    pthread_join(drt, NULL);
    if (!t_last_us) t_last_us = now_us(CLOCK_MONOTONIC);
    double secs = t_first_us ? (double)(t_last_us - t_first_us) / 1e6 : 0;
    long long n = atomic_load(&delivered);
    printf("rawpipe records=%lld seconds=%.3f rate=%.0f p50_ms=%d p99_ms=%d max_ms=%d errors=%lld\n", n, secs,
           secs > 0 ? (double)n / secs : 0, percentile(0.50), percentile(0.99), max_latency(), errors);
    fflush(stdout);

    /* Whatever is still in flight after a SIGTERM is delivered (or purged) before the consumer
     * that owns those payloads goes away. */
    rd_kafka_flush(producer, 10000);
    rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(producer, 0);
    rd_kafka_topic_destroy(dst);
    rd_kafka_destroy(producer);
    free(batch);
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    free(lat_hist);
    return errors ? 1 : 0;
}
