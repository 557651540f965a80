/* reset.c — see reset.h. */
#include "reset.h"

#include "config.h"
#include "log.h"
#include "positions.h"
#include "providers.h"
#include "rk.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTITIONS 1024 /* named with --partition in one run */

typedef struct args {
    const char *config, *source, *target, *topic;
    int32_t partitions[MAX_PARTITIONS];
    int npartitions;
    bool dry_run, force;
} args_t;

static const char usage[] = "kmirror reset-position CONFIG --source A --target B --topic T [--partition P]... [--dry-run] [--force]";

static int parse(int argc, char **argv, args_t *a) {
    for (int i = 0; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--source") == 0) slot = &a->source;
        else if (strcmp(argv[i], "--target") == 0) slot = &a->target;
        else if (strcmp(argv[i], "--topic") == 0) slot = &a->topic;
        if (slot && i + 1 < argc) *slot = argv[++i];
        else if (strcmp(argv[i], "--partition") == 0 && i + 1 < argc && a->npartitions < MAX_PARTITIONS) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || p < 0 || p > INT32_MAX) {
                fprintf(stderr, "kmirror: --partition '%s' is not a partition number\n", argv[i]);
                return -1;
            }
            a->partitions[a->npartitions++] = (int32_t)p;
        } else if (strcmp(argv[i], "--dry-run") == 0) a->dry_run = true;
        else if (strcmp(argv[i], "--force") == 0) a->force = true;
        else if (argv[i][0] != '-' && !a->config) a->config = argv[i];
        else {
            fprintf(stderr, "kmirror: unexpected '%s'\nusage: %s\n", argv[i], usage);
            return -1;
        }
    }
    if (a->config && a->source && a->target && a->topic) return 0;
    fprintf(stderr, "usage: %s\n", usage);
    return -1;
}

/* 0 when no process runs the flow: its group on the target has no member. */
static int nobody_runs(const km_flow_t *f, rd_kafka_t *rk) {
    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t err = rd_kafka_list_groups(rk, f->s.group_id, &gl, (int)f->s.admin_timeout_ms);
    /* A group the coordinator could not describe (loading, say) shows no member: no answer. */
    for (int i = 0; !err && i < gl->group_cnt; i++)
        if (gl->groups[i].err && gl->groups[i].err != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) err = gl->groups[i].err;
    if (err) {
        if (gl) rd_kafka_group_list_destroy(gl);
        km_error("cannot tell whether a process runs flow %s (group %s on %s: %s): nothing was reset; --force resets "
                 "without asking, once you made sure no process runs it",
                 f->name, f->s.group_id, f->target, rd_kafka_err2str(err));
        return -1;
    }
    int members = 0;
    const char *who = "";
    for (int i = 0; i < gl->group_cnt; i++)
        if (strcmp(gl->groups[i].group, f->s.group_id) == 0 && gl->groups[i].member_cnt > 0) {
            if (!members) who = gl->groups[i].members[0].client_host;
            members += gl->groups[i].member_cnt;
        }
    if (members > 0)
        km_error("flow %s runs: group %s on %s has %d member(s) (%s%s); a running task would write its position again. "
                 "Stop every kmirror (or MM2) process of the flow, wait session.timeout.ms after a kill -9, and run this "
                 "again: nothing was reset",
                 f->name, f->s.group_id, f->target, members, who, members > 1 ? ", ..." : "");
    rd_kafka_group_list_destroy(gl);
    return members > 0 ? -1 : 0;
}

static bool stored(const km_positions_t *pos, const char *topic, int32_t p) {
    return km_positions_get(pos, topic, p) >= 0 || km_positions_rejected(pos, topic, p) >= 0;
}

/* The partitions to reset: those named, or every one of the topic, that have a position (valid
 * or rejected); a named one without is said and left out. Returns how many are in *out
 * (allocated). */
static int chosen(const args_t *a, const km_positions_t *pos, int32_t **out) {
    *out = km_xcalloc(pos->n + (size_t)a->npartitions + 1, sizeof(**out));
    int n = 0;
    for (int i = 0; i < a->npartitions; i++)
        if (stored(pos, a->topic, a->partitions[i])) (*out)[n++] = a->partitions[i];
        else printf("%s [%d]: no stored position\n", a->topic, a->partitions[i]);
    for (size_t i = 0; !a->npartitions && i < pos->n; i++)
        if (strcmp(pos->items[i].topic, a->topic) == 0) (*out)[n++] = pos->items[i].partition;
    return n;
}

static void count_failed(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) {
        km_error("tombstone for %.*s not written: %s", (int)m->key_len, (const char *)m->key, rd_kafka_err2str(m->err));
        ++*(int *)m->_private;
    }
}

/* One tombstone per partition, where Connect's producer puts the key (murmur2). */
static int write_tombstones(const km_flow_t *f, const char *topic, const int32_t *parts, int n) {
    char err[512];
    rd_kafka_conf_t *c = km_rk_conf(&f->rk_target_admin, err, sizeof(err));
    if (!c) {
        km_error("cannot configure a producer for %s: %s", f->target, err);
        return -1;
    }
    rd_kafka_conf_set(c, "acks", "all", NULL, 0);
    rd_kafka_conf_set(c, "allow.auto.create.topics", "false", NULL, 0);
    rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(c, count_failed);
    rd_kafka_t *rk = km_rk_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (!rk) {
        km_error("cannot create a producer for %s: %s", f->target, err);
        return -1;
    }
    int failed = 0;
    /* A handle, not the topic's name per record: librdkafka 2.0.2 asks for the leader of a
     * topic named by a record only at its next metadata scan, a second later. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, f->s.offsets_topic, NULL);
    if (!rkt) {
        km_error("cannot write to %s on %s: %s", f->s.offsets_topic, f->target, rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(rk);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        size_t klen;
        char *key = km_pos_encode_key(f->source, topic, parts[i], &klen);
        rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, klen),
                                                  RD_KAFKA_V_VALUE(NULL, 0), RD_KAFKA_V_OPAQUE(&failed),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) {
            km_error("cannot queue the tombstone for %s [%d]: %s", topic, parts[i], rd_kafka_err2str(e));
            failed++;
        }
        free(key);
    }
    if (rd_kafka_flush(rk, (int)f->s.admin_timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        km_error("%d tombstone(s) not acknowledged by %s within admin.timeout.ms (%lld ms)", rd_kafka_outq_len(rk), f->target,
                 (long long)f->s.admin_timeout_ms);
        failed++;
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return failed ? -1 : 0;
}

static int load(const km_flow_t *f, km_positions_t *pos) {
    char err[512];
    rd_kafka_conf_t *c = km_rk_conf(&f->rk_target_admin, err, sizeof(err));
    if (c && km_positions_load(c, f->s.offsets_topic, f->source, (int)f->s.admin_timeout_ms, NULL, pos, err, sizeof(err)) == 0)
        return 0;
    km_error("cannot read the positions of flow %s from %s on %s: %s", f->name, f->s.offsets_topic, f->target, err);
    return -1;
}

static void show(const km_positions_t *pos, const char *topic, int32_t p) {
    int64_t at = km_positions_get(pos, topic, p), bad = km_positions_rejected(pos, topic, p);
    if (at >= 0) printf("%s [%d]: stored position %lld (it would resume at %lld)\n", topic, p, (long long)at, (long long)at + 1);
    else printf("%s [%d]: stored position invalid (offsets-topic offset %lld)\n", topic, p, (long long)bad);
}

static int run(const km_flow_t *f, const args_t *a) {
    char err[512];
    rd_kafka_conf_t *c = km_rk_conf(&f->rk_target_admin, err, sizeof(err));
    rd_kafka_t *admin = c ? km_rk_new(RD_KAFKA_PRODUCER, c, err, sizeof(err)) : NULL;
    if (!admin) {
        km_error("cannot create a client for %s: %s", f->target, err);
        return 1;
    }
    int rc = a->force ? 0 : nobody_runs(f, admin);
    rd_kafka_destroy(admin);
    km_positions_t pos = {0};
    if (rc != 0 || load(f, &pos) != 0) {
        km_positions_free(&pos);
        return 1;
    }
    int32_t *parts;
    int n = chosen(a, &pos, &parts);
    if (n == 0) printf("no stored position for topic %s of flow %s in %s on %s: nothing to reset\n", a->topic, f->name,
                       f->s.offsets_topic, f->target);
    for (int i = 0; i < n; i++) show(&pos, a->topic, parts[i]);
    km_positions_free(&pos);
    if (n > 0 && !a->dry_run) {
        rc = write_tombstones(f, a->topic, parts, n);
        if (rc == 0 && load(f, &pos) == 0) {
            for (int i = 0; i < n && rc == 0; i++)
                if (stored(&pos, a->topic, parts[i])) {
                    km_error("%s [%d] still has a position in %s after the reset: another process wrote it", a->topic,
                             parts[i], f->s.offsets_topic);
                    rc = -1;
                }
            km_positions_free(&pos);
        } else rc = -1;
        if (rc == 0)
            printf("reset: %d partition(s) of %s have no stored position now; the next start of flow %s mirrors them from "
                   "auto.offset.reset (earliest by default: their whole log)\n", n, a->topic, f->name);
    } else if (n > 0) printf("dry run: nothing was written\n");
    free(parts);
    return rc == 0 ? 0 : 1;
}

int km_reset_position_main(int argc, char **argv) {
    args_t a = {0};
    if (parse(argc, argv, &a) != 0) return 2;
    km_config_t cfg;
    km_diag_t d = {0};
    int rc = km_config_load(&cfg, a.config, NULL, 0, &d);
    km_providers_redact_logs(&cfg.secrets);
    km_diag_log(&d);
    km_diag_free(&d);
    if (rc != 0) {
        km_config_free(&cfg);
        return 1;
    }
    const km_flow_t *f = km_config_flow(&cfg, a.source, a.target);
    if (!f || !f->enabled) {
        km_error("flow %s->%s is not enabled in %s (%s->%s.enabled is not true): it has no positions to reset", a.source,
                 a.target, a.config, a.source, a.target);
        km_config_free(&cfg);
        return 1;
    }
    rc = run(f, &a);
    km_config_free(&cfg);
    return rc;
}
