/* probe.c — the benchmark's target-side observer. It measures a mirror from the outside, the
 * same way for every contender (rawpipe, kmirror, Apache MirrorMaker 2).
 *
 *   probe watch BROKERS TOPIC EXPECTED PID [IDLE_S]
 *     Polls the high watermarks of TOPIC every 50 ms until they add up to EXPECTED (waiting for
 *     the topic to appear first) and samples user+sys CPU of process PID from /proc/PID/stat when
 *     10% and 90% of EXPECTED have arrived (interpolated between polls). Steady state is that 10%..90% window: it leaves out
 *     start-up (a JVM's above all) and the tail. Prints
 *       watch records=N seconds=S rate=R cpu_us_per_rec=C hwm_kb=H first_s=F
 *     seconds and rate over the window, H = VmHWM of PID at the end, F = seconds from the start of
 *     PID until the probe first saw a record on the target (start-up; within one poll, 50 ms). Gives up (exit 1) when the
 *     watermarks do not move for IDLE_S seconds (default 120).
 *
 *   probe latency BROKERS TOPIC EXPECTED [IDLE_S [SRC_BROKERS SRC_TOPIC]]
 *     Reads every partition of TOPIC from the beginning until EXPECTED records, and prints
 *       latency records=N p50_ms=A p99_ms=B max_ms=C method=append|receive
 *     With SRC_TOPIC (also LogAppendTime), it then reads the source the same way and adds
 *       source_p50_ms= source_p99_ms= source_max_ms=   the paced producer to the source
 *       paired=M mirror_p50_ms= mirror_p99_ms= mirror_max_ms=
 *     where the mirror's figures are target append minus source append of the same record (paired
 *     by the sequence number in its value, load.c): what the mirror alone added, in whole ms.
 *     Each value starts with the source producer's send time in microseconds (see load.c).
 *     method=append: the topic has message.timestamp.type=LogAppendTime, so the record's
 *     timestamp is the target broker's append time, and latency = append - send; the probe may
 *     read after the fact and costs nothing during the run. method=receive (clusters without
 *     LogAppendTime, like librdkafka's mock): latency = time this probe received the record -
 *     send, so the probe must run live and its own fetch delay is included.
 *
 * Uses librdkafka only, never kmirror's code. */
#include <librdkafka/rdkafka.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* isolation: read_uncommitted makes watermark queries return the high watermark even while a
 * transactional mirror (kmirror EOS) has not committed yet: `watch` measures what arrived. */
static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers, const char *isolation) {
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, NULL, 0);
    rd_kafka_conf_set(c, "log_level", "3", NULL, 0);
    rd_kafka_conf_set(c, "isolation.level", isolation, NULL, 0);
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_conf_set(c, "group.id", "kmirror-bench-probe", NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(c, "enable.partition.eof", "false", NULL, 0);
        /* A live probe must see a record as soon as it lands. */
        rd_kafka_conf_set(c, "fetch.wait.max.ms", "10", NULL, 0);
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "probe: %s\n", err);
        exit(1);
    }
    return rk;
}

/* Partition count of topic, or 0 while it does not exist. */
static int partitions(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const rd_kafka_metadata_t *md;
    int n = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err) n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* ---- watch --------------------------------------------------------------------------------- */

/* The fields of /proc/PID/stat after the command name (which may hold spaces: cut at the last
 * ')'), into buf; NULL when the process is gone. */
static const char *stat_fields(int pid, char *buf, size_t len) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return NULL;
    size_t n = fread(buf, 1, len - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] ? p + 2 : NULL;
}

/* user+sys CPU time of pid in microseconds, -1 when it is gone. */
static int64_t cpu_us(int pid) {
    char buf[1024];
    const char *f = stat_fields(pid, buf, sizeof(buf));
    unsigned long long ut, st; /* fields 14 and 15 */
    if (!f || sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (int64_t)((ut + st) * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* Seconds from the start of process PID until now (its start time, field 22 of /proc/PID/stat,
 * counts clock ticks since boot); -1 when it is gone. */
static double age_s(int pid) {
    char buf[1024];
    const char *f = stat_fields(pid, buf, sizeof(buf));
    unsigned long long start;
    if (!f || sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &start) != 1)
        return -1;
    return (double)now_us(CLOCK_BOOTTIME) / 1e6 - (double)start / (double)sysconf(_SC_CLK_TCK);
}

static long hwm_kb(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *fp = fopen(path, "r");
    long kb = -1;
    if (!fp) return -1;
    while (fgets(line, sizeof(line), fp))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(fp);
    return kb;
}

/* Watermarks of partitions [from, to) of `topic` into last[]. librdkafka fails the whole request
 * (and fills in nothing) when one partition errs, so a failed range is asked again in halves:
 * only the refusing partitions keep their last known watermark. Returns how many did. */
static int ask_watermarks(rd_kafka_t *rk, const char *topic, int from, int to, int64_t *last) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(to - from);
    for (int p = from; p < to; p++) rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, tl, 5000);
    int failed = 0;
    for (int i = 0; !err && i < tl->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &tl->elems[i];
        if (e->err || e->offset < 0) failed++;
        else if (e->offset > last[e->partition]) last[e->partition] = e->offset;
    }
    rd_kafka_topic_partition_list_destroy(tl);
    if (!err) return failed;
    if (to - from == 1 || err == RD_KAFKA_RESP_ERR__TIMED_OUT) return to - from;
    int mid = from + (to - from) / 2;
    return ask_watermarks(rk, topic, from, mid, last) + ask_watermarks(rk, topic, mid, to, last);
}

/* The records on the target: the sum of the partitions' high watermarks. A partition the broker
 * would not answer for counts with its last known watermark, never as a reason to drop the whole
 * sample: a sample dropped while the mirror writes makes the next one jump, and a window
 * interpolated across that jump is too short. On a topic the mirror had created a moment before
 * (256 partitions), the broker answered NOT_LEADER for one partition for ~2 s, most of a 1 KB run.
 * `last` holds nparts watermarks (0 before the first answer); *stale counts samples with such a
 * partition. */
static int64_t sum_watermarks(rd_kafka_t *rk, const char *topic, int nparts, int64_t *last, int *stale) {
    if (ask_watermarks(rk, topic, 0, nparts, last) > 0) (*stale)++;
    int64_t sum = 0;
    for (int p = 0; p < nparts; p++) sum += last[p];
    return sum;
}

/* Asks each partition on its own, to tell a record the mirror did not write from one this probe
 * could not see: the partitions that answer otherwise than the last sample, or not at all. */
static void explain_stuck(rd_kafka_t *rk, const char *topic, int nparts, const int64_t *last) {
    int64_t total = 0;
    for (int p = 0; p < nparts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000);
        if (err) fprintf(stderr, "probe:   %s [%d]: %s (last seen %lld)\n", topic, p, rd_kafka_err2str(err), (long long)last[p]);
        else if (hi != last[p]) fprintf(stderr, "probe:   %s [%d]: %lld now, %lld in the samples\n", topic, p, (long long)hi, (long long)last[p]);
        total += err ? last[p] : hi;
    }
    fprintf(stderr, "probe:   asked one by one: %lld records\n", (long long)total);
}

/* One watermark sample: time (µs), records on the target, CPU of the mirror (µs). */
typedef struct sample {
    int64_t t, n, cpu;
} sample_t;

/* The moment the target held `at` records, interpolated between samples a and b (a.n < at <= b.n),
 * so the window's edges are not rounded to the polling interval. */
static sample_t crossing(sample_t a, sample_t b, int64_t at) {
    double f = b.n > a.n ? (double)(at - a.n) / (double)(b.n - a.n) : 1;
    return (sample_t){a.t + (int64_t)(f * (double)(b.t - a.t)), at, a.cpu + (int64_t)(f * (double)(b.cpu - a.cpu))};
}

static int cmd_watch(const char *brokers, const char *topic, int64_t expected, int pid, int idle_s) {
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, brokers, "read_uncommitted");
    int64_t last_move = now_us(CLOCK_MONOTONIC), lo = expected / 10, hi = expected - expected / 10;
    int nparts = 0, stale = 0;
    int64_t *last = NULL;
    sample_t prev = {now_us(CLOCK_MONOTONIC), 0, cpu_us(pid)}, s10 = {0, 0, -1}, s90 = {0, 0, -1};
    long hwm = -1;
    double first_s = -1;
    for (;;) {
        if (!nparts && (nparts = partitions(rk, topic)) > 0) last = calloc((size_t)nparts, sizeof(*last));
        int64_t n = nparts ? sum_watermarks(rk, topic, nparts, last, &stale) : -1;
        sample_t cur = {now_us(CLOCK_MONOTONIC), n < 0 ? prev.n : n, cpu_us(pid)};
        long h = hwm_kb(pid);
        if (h > 0) hwm = h;
        if (cur.n > prev.n) last_move = cur.t;
        if (first_s < 0 && cur.n > 0) first_s = age_s(pid);
        /* CPU is only known while the process lives; a rawpipe that exits right after its last
         * record leaves the previous sample's figure. */
        if (cur.cpu < 0) cur.cpu = prev.cpu;
        if (!s10.t && cur.n >= lo) s10 = crossing(prev, cur, lo);
        if (!s90.t && cur.n >= hi) s90 = crossing(prev, cur, hi);
        if (cur.n >= expected) break;
        if (cpu_us(pid) < 0) {
            fprintf(stderr, "probe: process %d exited after %lld of %lld records reached %s\n", pid, (long long)cur.n,
                    (long long)expected, topic);
            return 1;
        }
        if (cur.t - last_move > (int64_t)idle_s * 1000000) {
            fprintf(stderr, "probe: %s stuck at %lld of %lld records for %d s\n", topic, (long long)cur.n,
                    (long long)expected, idle_s);
            explain_stuck(rk, topic, nparts, last);
            return 1;
        }
        prev = cur;
        sleep_ms(50);
    }
    rd_kafka_destroy(rk);
    free(last);
    double secs = (double)(s90.t - s10.t) / 1e6;
    int64_t n = s90.n - s10.n;
    printf("watch records=%lld seconds=%.3f rate=%.0f cpu_us_per_rec=%.2f hwm_kb=%ld first_s=%.2f stale_polls=%d\n", (long long)n,
           secs, secs > 0 ? (double)n / secs : 0, n > 0 && s10.cpu >= 0 ? (double)(s90.cpu - s10.cpu) / (double)n : 0, hwm,
           first_s, stale);
    return 0;
}

/* ---- latency ------------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads every partition of topic from the beginning until `expected` records that carry a send
 * time. lat[i] = append time (or, without LogAppendTime, receive time) minus send time, in µs;
 * when append_by_seq is given, append_by_seq[seq] = the record's append time in ms for every
 * record whose value carries a sequence number below nseq (load.c). Returns the count read;
 * *receive is set when a record had no LogAppendTime. */
static int64_t read_topic(const char *brokers, const char *topic, int64_t expected, int idle_s, int64_t *lat,
                          int64_t *append_by_seq, int64_t nseq, bool *receive) {
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, brokers, "read_committed");
    int nparts = 0;
    int64_t start = now_us(CLOCK_MONOTONIC);
    while (!(nparts = partitions(rk, topic))) {
        if (now_us(CLOCK_MONOTONIC) - start > (int64_t)idle_s * 1000000) {
            fprintf(stderr, "probe: topic %s did not appear within %d s\n", topic, idle_s);
            rd_kafka_destroy(rk);
            return 0;
        }
        sleep_ms(100);
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++) rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    int64_t n = 0, last_move = now_us(CLOCK_MONOTONIC);
    rd_kafka_message_t *batch[1000];
    while (n < expected) {
        ssize_t got = rd_kafka_consume_batch_queue(q, 100, batch, 1000);
        int64_t now = now_us(CLOCK_REALTIME);
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = batch[i];
            if (!m->err && m->len >= 8 && n < expected) {
                int64_t sent, seq;
                memcpy(&sent, m->payload, 8);
                rd_kafka_timestamp_type_t tt;
                int64_t ts = rd_kafka_message_timestamp(m, &tt);
                bool append = tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME;
                if (!append) *receive = true;
                lat[n++] = (append ? ts * 1000 : now) - sent;
                if (append_by_seq && append && m->len >= 16) {
                    memcpy(&seq, (const char *)m->payload + 8, 8);
                    if (seq >= 0 && seq < nseq) append_by_seq[seq] = ts;
                }
            }
            rd_kafka_message_destroy(m);
        }
        if (got > 0) last_move = now_us(CLOCK_MONOTONIC);
        else if (now_us(CLOCK_MONOTONIC) - last_move > (int64_t)idle_s * 1000000) {
            fprintf(stderr, "probe: read %lld of %lld records of %s, then nothing for %d s\n", (long long)n,
                    (long long)expected, topic, idle_s);
            break;
        }
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* " NAME_p50_ms=A NAME_p99_ms=B NAME_max_ms=C" of n values in µs (sorts them). */
static void print_percentiles(const char *name, int64_t *v, int64_t n) {
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    printf(" %sp50_ms=%.1f %sp99_ms=%.1f %smax_ms=%.1f", name, (double)v[n / 2] / 1000, name, (double)v[n * 99 / 100] / 1000,
           name, (double)v[n - 1] / 1000);
}

static int cmd_latency(const char *brokers, const char *topic, int64_t expected, int idle_s, const char *src_brokers,
                       const char *src_topic) {
    int64_t *lat = malloc((size_t)expected * sizeof(*lat)), *tgt_at = NULL, *src_at = NULL, *src_lat = NULL, ns = 0;
    bool receive = false;
    if (src_topic) {
        tgt_at = malloc((size_t)expected * sizeof(*tgt_at));
        src_at = malloc((size_t)expected * sizeof(*src_at));
        for (int64_t i = 0; i < expected; i++) tgt_at[i] = src_at[i] = -1;
    }
    int64_t n = read_topic(brokers, topic, expected, idle_s, lat, tgt_at, expected, &receive);
    if (n == 0) return 1;
    printf("latency records=%lld", (long long)n);
    print_percentiles("", lat, n);
    printf(" method=%s", receive ? "receive" : "append");
    if (src_topic) {
        src_lat = malloc((size_t)expected * sizeof(*src_lat));
        ns = read_topic(src_brokers, src_topic, expected, idle_s, src_lat, src_at, expected, &receive);
        if (ns > 0) print_percentiles("source_", src_lat, ns);
        /* The mirror's own share: target append minus source append of the same record. */
        int64_t m = 0;
        for (int64_t i = 0; i < expected; i++)
            if (tgt_at[i] >= 0 && src_at[i] >= 0) lat[m++] = (tgt_at[i] - src_at[i]) * 1000;
        if (m > 0) {
            printf(" paired=%lld", (long long)m);
            print_percentiles("mirror_", lat, m);
        }
    }
    printf("\n");
    free(lat);
    free(tgt_at);
    free(src_at);
    free(src_lat);
    return n == expected && (!src_topic || ns == expected) ? 0 : 1;
}

int main(int argc, char **argv) {
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "watch") == 0)
        return cmd_watch(argv[2], argv[3], atoll(argv[4]), atoi(argv[5]), argc == 7 ? atoi(argv[6]) : 120);
    if ((argc == 5 || argc == 6 || argc == 8) && strcmp(argv[1], "latency") == 0)
        return cmd_latency(argv[2], argv[3], atoll(argv[4]), argc >= 6 ? atoi(argv[5]) : 120, argc == 8 ? argv[6] : NULL,
                           argc == 8 ? argv[7] : NULL);
    fprintf(stderr, "usage: probe watch BROKERS TOPIC EXPECTED PID [IDLE_S] | "
                    "probe latency BROKERS TOPIC EXPECTED [IDLE_S [SRC_BROKERS SRC_TOPIC]]\n");
    return 2;
}
