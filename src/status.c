/* status.c — `kmirror status --url http://HOST:PORT [--partitions]`: reads a running kmirror's
 * /status (http.c, metrics.c) and prints it for a person at a terminal: health, each flow with
 * its state and tasks, then per topic (or per partition) what was mirrored, lag, rate and latency. */
#include "status.h"

#include "http.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET_TIMEOUT_MS 10000

/* One table row: a topic, or one partition with --partitions. */
typedef struct row {
    const char *flow, *topic, *remote;
    int partition; /* -1 for a topic row */
    int task;      /* -1: none or several */
    int parts;
    uint64_t records;
    int64_t lag;    /* -1 unknown */
    double lag_s;   /* -1 unknown */
    double rate;
    uint64_t lat_sum, lat_count;
    int64_t lat_max;
} row_t;

static uint64_t uint_of(json_t *o, const char *key) { return (uint64_t)json_integer_value(json_object_get(o, key)); }

static void add_partition(row_t *r, json_t *p) {
    json_t *lag = json_object_get(p, "lag_records"), *lag_s = json_object_get(p, "lag_seconds");
    json_t *lat = json_object_get(p, "replication_latency_ms");
    r->parts++;
    r->records += uint_of(p, "records");
    r->rate += json_number_value(json_object_get(p, "record_rate"));
    if (r->lag >= 0) r->lag = json_is_integer(lag) ? r->lag + json_integer_value(lag) : -1;
    if (r->lag_s >= 0) r->lag_s = json_is_number(lag_s) ? (json_number_value(lag_s) > r->lag_s ? json_number_value(lag_s) : r->lag_s) : -1;
    if (json_is_object(lat)) {
        uint64_t n = uint_of(lat, "count");
        r->lat_count += n;
        r->lat_sum += (uint64_t)(json_number_value(json_object_get(lat, "avg")) * (double)n);
        if (json_integer_value(json_object_get(lat, "max")) > r->lat_max) r->lat_max = json_integer_value(json_object_get(lat, "max"));
    }
}

static void print_row(const row_t *r) {
    char name[160], lag[24], lag_s[24], lat[48];
    if (r->partition >= 0) snprintf(name, sizeof(name), "%s [%d]", r->remote, r->partition);
    else snprintf(name, sizeof(name), "%s (%d)", r->remote, r->parts);
    snprintf(lag, sizeof(lag), r->lag >= 0 ? "%lld" : "-", (long long)r->lag);
    snprintf(lag_s, sizeof(lag_s), r->lag_s >= 0 ? "%.1f" : "-", r->lag_s);
    if (r->lat_count) snprintf(lat, sizeof(lat), "%llu / %lld", (unsigned long long)(r->lat_sum / r->lat_count), (long long)r->lat_max);
    else snprintf(lat, sizeof(lat), "-");
    char task[16] = "";
    if (r->partition >= 0) snprintf(task, sizeof(task), r->task >= 0 ? "%d" : "-", r->task);
    printf("%-14s %-34s %5s %12llu %10s %8s %10.1f %16s\n", r->flow, name, task, (unsigned long long)r->records, lag, lag_s,
           r->rate, lat);
}

static void print_flow_rows(json_t *flow, bool partitions) {
    const char *name = json_string_value(json_object_get(flow, "name"));
    json_t *parts = json_object_get(flow, "partitions"), *p;
    size_t i;
    row_t r = {0};
    json_array_foreach(parts, i, p) {
        const char *remote = json_string_value(json_object_get(p, "remote_topic"));
        if (partitions || !r.remote || strcmp(r.remote, remote) != 0) {
            if (r.remote) print_row(&r);
            json_t *task = json_object_get(p, "task");
            r = (row_t){name, json_string_value(json_object_get(p, "topic")), remote, partitions ? (int)json_integer_value(json_object_get(p, "partition")) : -1,
                        json_is_integer(task) ? (int)json_integer_value(task) : -1, 0, 0, 0, 0, 0, 0, 0, 0};
        }
        add_partition(&r, p);
    }
    if (r.remote) print_row(&r);
}

static void print_flows(json_t *flows) {
    printf("%-14s %-9s %5s %10s %10s  %s\n", "FLOW", "STATE", "TASKS", "RETRIES", "ERRORS", "REASON");
    json_t *f;
    size_t i;
    json_array_foreach(flows, i, f) {
        const char *reason = json_string_value(json_object_get(f, "reason"));
        printf("%-14s %-9s %5zu %10llu %10llu  %s\n", json_string_value(json_object_get(f, "name")),
               json_string_value(json_object_get(f, "state")), json_array_size(json_object_get(f, "tasks")),
               (unsigned long long)uint_of(f, "producer_request_retries"), (unsigned long long)uint_of(f, "producer_request_errors"),
               reason ? reason : "");
    }
}

/* Per consumer group: when its last checkpoint was written, how many partitions have one, and
 * why there is none when there is none. Printed only when some flow checkpoints groups. */
static void print_groups(json_t *flows, int64_t now_ms) {
    json_t *f, *g;
    size_t i, k, n = 0;
    json_array_foreach(flows, i, f) n += json_array_size(json_object_get(f, "groups"));
    if (!n) return;
    printf("\n%-14s %-30s %12s %10s  %s\n", "FLOW", "GROUP", "CHECKPOINTED", "PARTITIONS", "WHY NONE");
    json_array_foreach(flows, i, f) {
        json_array_foreach(json_object_get(f, "groups"), k, g) {
            json_t *last = json_object_get(g, "last_checkpoint_ms");
            const char *reason = json_string_value(json_object_get(g, "reason"));
            char when[32] = "never";
            if (json_is_integer(last)) snprintf(when, sizeof(when), "%llds ago", (long long)((now_ms - json_integer_value(last)) / 1000));
            printf("%-14s %-30s %12s %10llu  %s\n", json_string_value(json_object_get(f, "name")),
                   json_string_value(json_object_get(g, "group")), when, (unsigned long long)uint_of(g, "partitions_checkpointed"),
                   reason ? reason : "");
        }
    }
}

static void print_status(const char *url, json_t *doc, bool partitions) {
    const char *reason = json_string_value(json_object_get(doc, "reason"));
    double up = json_number_value(json_object_get(doc, "uptime_seconds"));
    printf("kmirror at %s: %s%s%s\n", url, json_is_true(json_object_get(doc, "healthy")) ? "healthy" : "UNHEALTHY",
           reason ? ": " : "", reason ? reason : "");
    printf("up %dh%02dm%02ds, cpu %.1f s, rss %.1f MiB (budget %.1f MiB), in flight %.1f of %.1f MiB\n", (int)(up / 3600),
           (int)up % 3600 / 60, (int)up % 60, json_number_value(json_object_get(doc, "cpu_seconds")),
           (double)uint_of(doc, "rss_bytes") / 1048576.0, (double)uint_of(doc, "memory_max_bytes") / 1048576.0,
           (double)uint_of(doc, "inflight_bytes") / 1048576.0, (double)uint_of(doc, "inflight_max_bytes") / 1048576.0);
    /* A failed reload leaves kmirror running on the configuration it had: worth a line. */
    json_t *cfg = json_object_get(doc, "config");
    const char *reload_error = json_string_value(json_object_get(cfg, "last_reload_error"));
    if (json_is_false(json_object_get(cfg, "last_reload_successful")))
        printf("configuration: the last reload FAILED (running on the configuration before it): %s\n", reload_error ? reload_error : "");
    printf("\n");
    json_t *flows = json_object_get(doc, "flows"), *f;
    print_flows(flows);
    print_groups(flows, km_now_wall_ms());
    printf("\n%-14s %-34s %5s %12s %10s %8s %10s %16s\n", "FLOW", partitions ? "REMOTE TOPIC [PARTITION]" : "REMOTE TOPIC (PARTITIONS)",
           partitions ? "TASK" : "", "MIRRORED", "LAG", "LAG s", "RECORDS/s", "LATENCY avg/max");
    size_t i;
    json_array_foreach(flows, i, f) print_flow_rows(f, partitions);
}

static char *status_url(const char *base) {
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') n--;
    return km_xasprintf("%.*s/status", (int)n, base);
}

int km_status_main(int argc, char **argv) {
    const char *url = NULL;
    bool partitions = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) url = argv[++i];
        else if (strcmp(argv[i], "--partitions") == 0) partitions = true;
        else url = NULL, i = argc;
    }
    if (!url) {
        fprintf(stderr, "usage: kmirror status --url http://HOST:PORT [--partitions]\n");
        return 2;
    }
    char *full = status_url(url), *body = NULL, err[512];
    int code = 0, rc = 1;
    json_error_t jerr;
    json_t *doc = NULL;
    if (km_http_get(full, GET_TIMEOUT_MS, &code, &body, err, sizeof(err)) != 0) fprintf(stderr, "kmirror status: %s\n", err);
    else if (code != 200) fprintf(stderr, "kmirror status: %s answered HTTP %d\n", full, code);
    else if (!(doc = json_loads(body, 0, &jerr))) fprintf(stderr, "kmirror status: %s: not JSON: %s\n", full, jerr.text);
    else {
        print_status(url, doc, partitions);
        rc = json_is_true(json_object_get(doc, "healthy")) ? 0 : 1;
    }
    json_decref(doc);
    free(body);
    free(full);
    return rc;
}
