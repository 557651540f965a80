/* load.c — the benchmark's source-side helper: creates and deletes topics, and writes records.
 *
 *   load create BROKERS TOPIC PARTITIONS [KEY=VALUE...]   create a topic (topic configs as args)
 *   load delete BROKERS TOPIC...                          delete topics (missing ones are fine)
 *   load fill BROKERS TOPIC COUNT SIZE                    COUNT records of SIZE bytes, as fast as
 *                                                         possible, round-robin over partitions
 *   load pace BROKERS TOPIC RATE SECONDS SIZE             RATE records/s for SECONDS, evenly paced
 *
 * Every value starts with the wall-clock time of its produce() call in microseconds (8 bytes,
 * little endian), so a reader on the target can compute latency without trusting anything the
 * mirror did to the record's timestamp, then (values of 16 bytes or more) the record's sequence
 * number in this run (8 bytes, little endian), which lets a reader pair a record on the target
 * with the same record on the source. Records have no key: SIZE is the record size. The rest of
 * a value is 'x' repeated, unless LOAD_VALUE=text (fill only): then each value is a different
 * window of 1 MiB of generated JSON-like log lines (fixed seed), which gzip shrinks about 3 to 4
 * times instead of about 100 times, for compression benchmarks.
 * Prints one line: "load records=N seconds=S rate=R". Uses librdkafka only, never kmirror's code. */
#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "load: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int64_t now_us(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) die("%s", err);
}

static rd_kafka_t *client(const char *brokers, rd_kafka_conf_t *c, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *)) {
    char err[256];
    set(c, "bootstrap.servers", brokers);
    if (dr) rd_kafka_conf_set_dr_msg_cb(c, dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (!rk) die("%s", err);
    return rk;
}

/* ---- admin --------------------------------------------------------------------------------- */

static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (!ev) die("no answer from the cluster within 60 s");
    if (rd_kafka_event_error(ev)) die("%s", rd_kafka_event_error_string(ev));
    return ev;
}

static int cmd_create(const char *brokers, const char *topic, int partitions, char **configs, int nconfigs) {
    rd_kafka_t *rk = client(brokers, rd_kafka_conf_new(), NULL);
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof(err));
    if (!nt) die("%s", err);
    for (int i = 0; i < nconfigs; i++) {
        char *eq = strchr(configs[i], '=');
        if (!eq) die("topic config '%s' is not KEY=VALUE", configs[i]);
        *eq = '\0';
        rd_kafka_NewTopic_set_config(nt, configs[i], eq + 1);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q);
    size_t n;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (n == 1 && rd_kafka_topic_result_error(res[0])) die("%s", rd_kafka_topic_result_error_string(res[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    /* CreateTopics returns before every partition has a leader; a produce or a mirror started
     * right after would see UNKNOWN_TOPIC_OR_PART for a moment. Wait until metadata is whole. */
    for (int tries = 0; tries < 300; tries++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const rd_kafka_metadata_t *md;
        int ok = 0;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt == partitions) {
                ok = 1;
                for (int p = 0; p < partitions; p++) ok &= md->topics[0].partitions[p].leader >= 0;
            }
            rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        if (ok) break;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rd_kafka_destroy(rk);
    return 0;
}

static int cmd_delete(const char *brokers, char **topics, int n) {
    rd_kafka_t *rk = client(brokers, rd_kafka_conf_new(), NULL);
    rd_kafka_DeleteTopic_t **dt = calloc((size_t)n, sizeof(*dt));
    for (int i = 0; i < n; i++) dt[i] = rd_kafka_DeleteTopic_new(topics[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, dt, (size_t)n, NULL, q);
    rd_kafka_event_destroy(admin_wait(q)); /* per-topic errors (unknown topic) do not matter */
    rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
    free(dt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return 0;
}

/* ---- records ------------------------------------------------------------------------------- */

static int64_t failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (m->err && failed++ == 0) fprintf(stderr, "load: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

static int partition_count(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const rd_kafka_metadata_t *md;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("cannot read metadata of %s", topic);
    int n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (n <= 0) die("topic %s does not exist", topic);
    return n;
}

/* Produces one record to partition p, waiting for queue space by serving delivery reports. */
static void produce(rd_kafka_t *rk, const char *topic, int32_t p, char *buf, size_t size, int64_t seq) {
    if (size >= 16) memcpy(buf + 8, &seq, 8);
    for (;;) {
        int64_t t = now_us(CLOCK_REALTIME);
        if (size >= 8) memcpy(buf, &t, 8);
        rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(p),
                                                    RD_KAFKA_V_VALUE(buf, size), RD_KAFKA_V_TIMESTAMP(t / 1000),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!err) return;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("%s", rd_kafka_err2str(err));
        rd_kafka_poll(rk, 10);
    }
}

static int finish(rd_kafka_t *rk, int64_t records, int64_t t0) {
    while (rd_kafka_outq_len(rk) > 0) rd_kafka_poll(rk, 100);
    double secs = (double)(now_us(CLOCK_MONOTONIC) - t0) / 1e6;
    rd_kafka_destroy(rk);
    printf("load records=%lld seconds=%.3f rate=%.0f failed=%lld\n", (long long)records, secs, (double)records / secs,
           (long long)failed);
    return failed ? 1 : 0;
}

/* LOAD_VALUE=text: 1 MiB of log-like lines, the same on every run. */
#define TEXT_POOL (1024 * 1024)
static char *text_pool(void) {
    static const char *const words[] = {"GET", "POST", "/api/v1/orders", "/api/v1/users", "/health", "ok", "error",
                                        "timeout", "us-east-1", "eu-west-1", "checkout", "payment", "cart", "session",
                                        "INFO", "WARN", "user_id", "order_id", "latency_ms", "status"};
    char *pool = malloc(TEXT_POOL + 64);
    uint64_t x = 88172645463325252ULL;
    size_t n = 0;
    while (n < TEXT_POOL) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        n += (size_t)snprintf(pool + n, 64, "{\"%s\":\"%s\",\"n\":%llu} ", words[x % 20], words[(x >> 8) % 20],
                              (unsigned long long)((x >> 16) % 1000000));
    }
    return pool;
}

static int cmd_fill(const char *brokers, const char *topic, long long count, size_t size) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    /* Bulk loading is not measured: big batches and acks=1 make it quick. */
    set(c, "linger.ms", "20");
    set(c, "batch.size", "1000000");
    set(c, "acks", "1");
    set(c, "queue.buffering.max.kbytes", "262144");
    rd_kafka_t *rk = client(brokers, c, dr_cb);
    int parts = partition_count(rk, topic);
    char *buf = calloc(1, size ? size : 1);
    memset(buf, 'x', size);
    const char *lv = getenv("LOAD_VALUE");
    char *pool = lv && strcmp(lv, "text") == 0 && size < TEXT_POOL ? text_pool() : NULL;
    int64_t t0 = now_us(CLOCK_MONOTONIC);
    for (long long i = 0; i < count; i++) {
        if (pool) memcpy(buf, pool + (size_t)(i * 7919) % (TEXT_POOL - size), size);
        produce(rk, topic, (int32_t)(i % parts), buf, size, i);
        if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    free(buf);
    free(pool);
    return finish(rk, count, t0);
}

/* Paced: every millisecond, sends what the schedule says is due, so records leave evenly instead
 * of in per-second bursts that would show up as latency. linger.ms is librdkafka's default of 5,
 * not 0: with 0, every record was a request of its own, and at 5,000 records/s over 16 partitions
 * the source broker spent 56% of a core on them, on a 2-core machine that also runs the target
 * broker and the mirror (all latencies then grew with that contention). What the producer's
 * batching adds is measured apart: bench/run.sh gives the source topic LogAppendTime. */
static int cmd_pace(const char *brokers, const char *topic, double rate, double seconds, size_t size) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "linger.ms", "5");
    set(c, "acks", "1");
    rd_kafka_t *rk = client(brokers, c, dr_cb);
    int parts = partition_count(rk, topic);
    char *buf = calloc(1, size ? size : 1);
    memset(buf, 'x', size);
    int64_t t0 = now_us(CLOCK_MONOTONIC), sent = 0, total = (int64_t)(rate * seconds);
    while (sent < total) {
        int64_t due = (int64_t)((double)(now_us(CLOCK_MONOTONIC) - t0) * rate / 1e6);
        if (due > total) due = total;
        for (; sent < due; sent++) produce(rk, topic, (int32_t)(sent % parts), buf, size, sent);
        rd_kafka_poll(rk, 0);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    free(buf);
    return finish(rk, sent, t0);
}

static long long num(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0) die("'%s' is not a non-negative number", s);
    return v;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "create") == 0) return cmd_create(argv[2], argv[3], (int)num(argv[4]), argv + 5, argc - 5);
    if (argc >= 4 && strcmp(argv[1], "delete") == 0) return cmd_delete(argv[2], argv + 3, argc - 3);
    if (argc == 6 && strcmp(argv[1], "fill") == 0) return cmd_fill(argv[2], argv[3], num(argv[4]), (size_t)num(argv[5]));
    if (argc == 7 && strcmp(argv[1], "pace") == 0)
        return cmd_pace(argv[2], argv[3], (double)num(argv[4]), (double)num(argv[5]), (size_t)num(argv[6]));
    fprintf(stderr, "usage: load create BROKERS TOPIC PARTITIONS [KEY=VALUE...] | load delete BROKERS TOPIC... |\n"
                    "       load fill BROKERS TOPIC COUNT SIZE | load pace BROKERS TOPIC RATE SECONDS SIZE\n");
    return 2;
}
