/* failover.c — see failover.h. The sequence, each step printed with its evidence:
 *
 *   planned (the source answers within a few seconds):
 *     1. the flow source->target is enabled, the source answers;
 *     2. groups: those on the source that the flow's `groups` filter and --groups accept;
 *     2a. --fence: DENY WRITE for User:* on the source's topics the flow replicates, read back
 *        from the authorizer; refused (nothing committed) when the source has no authorizer;
 *     2b. --fence: wait (until the deadline) until the flow has copied every record of those
 *        topics, so the target holds everything producers wrote before the fence;
 *     3. wait (until the deadline) until each is inactive on the source (Empty or Dead), so its
 *        committed offsets are final;
 *     4. read the offset-syncs and translate each committed offset, waiting (same deadline) until
 *        the translation is exact, which is when the mirror has replicated up to that offset;
 *   unplanned (the source does not answer):
 *     2-4. the last checkpoint of each group in {source}.checkpoints.internal on the target,
 *        with a warning that what was produced on the source after it may be missing;
 *   both:
 *     5. commit the offsets to the group on the target when the group is inactive there, only
 *        partitions where that moves the group forwards; report each partition.
 *
 * --unfence deletes those ACLs again and moves nothing. Nothing here is kept between runs: a
 * second run recomputes everything and finds the fence in the source's authorizer and the
 * partitions already committed, which is what makes an interrupted run safe to repeat. */
#include "failover.h"

#include "admin.h"
#include "checkpoint.h"
#include "config.h"
#include "filter.h"
#include "groupclient.h"
#include "log.h"
#include "offsetsync.h"
#include "providers.h"
#include "records.h"
#include "rk.h"
#include "topics.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNCS_PER_PARTITION 65536
#define PROBE_MS 5000  /* how long the source gets to answer before the failover is unplanned */
#define ADMIN_MS 10000

typedef struct fo_args {
    const char *config, *from, *to, *groups;
    int64_t timeout_ms;
    bool dry_run, fence, unfence;
} fo_args_t;

/* One partition to move. */
typedef struct move {
    char *topic;  /* on the source */
    char *remote; /* on the target */
    int32_t partition;
    int64_t up, down; /* committed on the source; where to resume on the target (-1 none) */
    km_xlate_t how;   /* planned: the translation; unplanned: KM_XLATE_NONE with down >= 0 */
    int64_t reread;   /* conservative: at most this many records are read again */
    bool replicated;  /* the flow replicates the topic, or (back) the reverse flow did */
    bool back;        /* failback: a remote topic of the target, translated back with the reverse flow's syncs */
    char *metadata;
} move_t;

/* The offset-syncs of one flow, read into a store. */
typedef struct syncs {
    const km_flow_t *f;
    rd_kafka_t *rk;
    km_sync_store_t *store;
    size_t n;
} syncs_t;

typedef struct fo {
    const char *cmd;
    fo_args_t a;
    const km_flow_t *f;
    km_pattern_t *only; /* --groups, NULL: every group the flow accepts */
    rd_kafka_t *src, *dst;
    km_groupclient_t *src_groups, *dst_groups;
    syncs_t fwd; /* the flow's */
    syncs_t rev; /* the reverse flow's (to->from), for groups that fail back; rk NULL when disabled */
    int64_t deadline;
} fo_t;

static int parse(int argc, char **argv, fo_args_t *a, const char *usage) {
    a->timeout_ms = 60000;
    for (int i = 0; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--from") == 0) slot = &a->from;
        else if (strcmp(argv[i], "--to") == 0) slot = &a->to;
        else if (strcmp(argv[i], "--groups") == 0) slot = &a->groups;
        if (slot && i + 1 < argc) *slot = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            long s = strtol(argv[++i], &end, 10);
            if (*end || s < 0) {
                fprintf(stderr, "kmirror: --timeout takes whole seconds, not '%s'\n", argv[i]);
                return -1;
            }
            a->timeout_ms = (int64_t)s * 1000;
        } else if (strcmp(argv[i], "--dry-run") == 0) a->dry_run = true;
        else if (strcmp(argv[i], "--fence") == 0) a->fence = true;
        else if (strcmp(argv[i], "--unfence") == 0) a->unfence = true;
        else if (argv[i][0] != '-' && !a->config) a->config = argv[i];
        else {
            fprintf(stderr, "kmirror: unexpected '%s'\nusage: %s\n", argv[i], usage);
            return -1;
        }
    }
    if (a->fence && a->unfence) {
        fprintf(stderr, "kmirror: --fence and --unfence exclude each other: --unfence removes what --fence created\n");
        return -1;
    }
    return 0;
}

static rd_kafka_t *client(const km_props_t *props, rd_kafka_type_t type, char *err, size_t errlen) {
    rd_kafka_conf_t *c = km_rk_conf(props, err, errlen);
    if (!c) return NULL;
    if (type == RD_KAFKA_CONSUMER) {
        if (!km_props_get(props, "group.id")) rd_kafka_conf_set(c, "group.id", "kmirror-failover", NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(c, "enable.partition.eof", "false", NULL, 0);
    }
    return km_rk_new(type, c, err, errlen);
}

static void moves_free(move_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].topic);
        free(v[i].remote);
        free(v[i].metadata);
    }
    free(v);
}

static bool selected(const fo_t *fo, const char *group) {
    return km_name_filter_accepts(&fo->f->s.groups, group) && (!fo->only || km_pattern_match(fo->only, group) == 1);
}

static bool inactive(rd_kafka_consumer_group_state_t st) {
    return st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY || st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
}

/* ---- offset-syncs ---------------------------------------------------------------------------- */

static void poll_one(syncs_t *sy, int64_t until) {
    do {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(sy->rk, 100);
        if (!m) continue;
        rd_kafka_headers_t *h;
        const void *hv = NULL;
        size_t hl = 0;
        km_offset_sync_t s;
        if (!m->err && rd_kafka_message_headers(m, &h) == 0) rd_kafka_header_get_last(h, KM_SYNC_HEADER, &hv, &hl);
        if (!m->err && km_offset_sync_decode(m->key, m->key_len, m->payload, m->len, hv, hl, &s) == 0) {
            km_sync_store_add(sy->store, &s); /* undecodable ones are skipped, as MM2 does */
            km_offset_sync_free(&s);
            sy->n++;
        }
        rd_kafka_message_destroy(m);
    } while (km_now_mono_ms() < until);
}

static void poll_syncs(fo_t *fo, int ms) {
    int64_t until = km_now_mono_ms() + ms;
    poll_one(&fo->fwd, fo->rev.rk ? until - ms / 2 : until);
    if (fo->rev.rk) poll_one(&fo->rev, until);
}

static void close_syncs(syncs_t *sy) {
    if (!sy->rk) return;
    rd_kafka_consumer_close(sy->rk);
    rd_kafka_destroy(sy->rk);
    sy->rk = NULL;
}

/* Reads the offset-syncs topic to its end as of now; the consumer stays assigned, so later
 * syncs arrive with poll_syncs. */
static int read_syncs(syncs_t *sy) {
    const km_flow_t *f = sy->f;
    int64_t lo, hi;
    rd_kafka_resp_err_t err = km_admin_watermarks(sy->rk, f->s.offset_syncs_topic, 0, &lo, &hi, ADMIN_MS);
    if (err) {
        km_error("cannot read %s: %s", f->s.offset_syncs_topic, rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, f->s.offset_syncs_topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(sy->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    int64_t until = km_now_mono_ms() + 30000;
    for (;;) {
        poll_one(sy, km_now_mono_ms() + 200);
        tl = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tl, f->s.offset_syncs_topic, 0);
        rd_kafka_position(sy->rk, tl);
        int64_t pos = tl->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(tl);
        if (pos >= hi) return 0;
        if (km_now_mono_ms() > until) {
            km_error("%s was not read to its end (offset %lld) within 30 s", f->s.offset_syncs_topic, (long long)hi);
            return -1;
        }
    }
}

/* At most how many records a consumer reads again from the conservative offset d for upstream
 * x: those after the newest sync at or before x. That sync's upstream offset is the largest
 * y < x whose translation lies below d (translation grows with the offset). */
static int64_t reread_bound(const km_sync_store_t *st, const char *topic, int32_t p, int64_t x, int64_t d) {
    int64_t lo = -1, hi = x;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2, dm;
        if (km_sync_store_translate(st, topic, p, mid, &dm) == KM_XLATE_NONE || dm < d) lo = mid;
        else hi = mid;
    }
    return x - lo - 1;
}

static bool reaches(const km_sync_store_t *st, const char *topic, int32_t p, int64_t u, int64_t d) {
    int64_t x;
    return km_sync_store_translate(st, topic, p, u, &x) != KM_XLATE_NONE && x >= d;
}

/* Failback: the offset u on the origin whose copy starts at offset d of the remote topic, i.e.
 * the smallest u that the flow origin->here translates to d or beyond (translation grows with
 * the offset; the offsets before it that hold no record need not be read). */
static km_xlate_t untranslate(const km_sync_store_t *st, const char *topic, int32_t p, int64_t d, int64_t *u) {
    int64_t lo = -1, hi = 0, x;
    while (!reaches(st, topic, p, hi, d)) {
        if (hi >= (INT64_C(1) << 62)) return KM_XLATE_NONE; /* d lies beyond what the syncs know */
        lo = hi;
        hi = hi ? hi * 2 : 1;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (reaches(st, topic, p, mid, d)) hi = mid;
        else lo = mid;
    }
    km_xlate_t r = km_sync_store_translate(st, topic, p, hi, &x);
    *u = hi;
    return x == d ? r : KM_XLATE_NONE; /* no origin offset maps to d: resuming at hi would skip */
}

static void translate(fo_t *fo, move_t *m) {
    if (!m->replicated) return;
    m->reread = 0;
    if (m->back) {
        if (!fo->rev.rk) { /* without the reverse flow's syncs there is no exact way back */
            m->how = KM_XLATE_NONE;
            m->down = -1;
            return;
        }
        m->how = untranslate(fo->rev.store, m->remote, m->partition, m->up, &m->down);
        if (m->how == KM_XLATE_NONE) m->down = -1;
        m->reread = -1; /* a conservative sync does not say how far back it lies */
        return;
    }
    m->how = km_sync_store_translate(fo->fwd.store, m->topic, m->partition, m->up, &m->down);
    if (m->how == KM_XLATE_NONE) m->down = -1;
    if (m->how == KM_XLATE_CONSERVATIVE) m->reread = reread_bound(fo->fwd.store, m->topic, m->partition, m->up, m->down);
}

/* ---- planned: offsets from the source -------------------------------------------------------- */

static int select_on_source(fo_t *fo, char ***out, size_t *n) {
    char **all, err[512];
    size_t na;
    *out = NULL;
    *n = 0;
    if (km_admin_list_groups(fo->src, ADMIN_MS, &all, &na, err, sizeof(err)) != 0) {
        km_error("cannot list the consumer groups of %s: %s", fo->a.from, err);
        return -1;
    }
    for (size_t i = 0; i < na; i++)
        if (selected(fo, all[i])) {
            *out = km_xrealloc(*out, (*n + 1) * sizeof(char *));
            (*out)[(*n)++] = km_xstrdup(all[i]);
        }
    km_strv_free(all, na);
    return 0;
}

/* Step 3: until every group is inactive on the source or the deadline passed; ok[i] says which. */
static void wait_inactive(fo_t *fo, char **groups, size_t n, bool *ok) {
    printf("step 3: waiting up to %lld s for the groups to be inactive on %s (no member may commit any more)\n",
           (long long)(fo->a.timeout_ms / 1000), fo->a.from);
    rd_kafka_consumer_group_state_t *st = km_xcalloc(n ? n : 1, sizeof(*st));
    char err[512];
    bool all;
    do {
        all = true;
        for (size_t i = 0; i < n; i++) {
            if (ok[i]) continue;
            if (km_group_state(fo->src_groups, groups[i], ADMIN_MS, &st[i], err, sizeof(err)) != 0) {
                km_warn("cannot describe group %s on %s: %s", groups[i], fo->a.from, err);
                st[i] = RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN;
            }
            ok[i] = inactive(st[i]);
            all &= ok[i];
        }
        if (!all && km_now_mono_ms() < fo->deadline) poll_syncs(fo, 1000);
    } while (!all && km_now_mono_ms() < fo->deadline);
    for (size_t i = 0; i < n; i++)
        printf("  %-40s %s on %s%s\n", groups[i], rd_kafka_consumer_group_state_name(st[i]), fo->a.from,
               ok[i] ? "" : ": still active at the deadline, not moved");
    free(st);
}

/* The group's committed offsets on the source, translated; waits (until the deadline) while a
 * replicated partition's translation is not exact yet. */
static int plan_group(fo_t *fo, const char *group, move_t **out, size_t *n) {
    const km_flow_t *f = fo->f;
    km_group_offset_t *offs;
    size_t no;
    char err[512];
    *out = NULL;
    *n = 0;
    if (km_group_offsets(fo->src_groups, group, NULL, ADMIN_MS, &offs, &no, err, sizeof(err)) != 0) {
        km_error("cannot read the committed offsets of group %s on %s: %s", group, fo->a.from, err);
        return -1;
    }
    *out = km_xcalloc(no ? no : 1, sizeof(**out));
    for (size_t i = 0; i < no; i++) {
        move_t *m = &(*out)[(*n)++];
        *m = (move_t){.topic = km_xstrdup(offs[i].topic), .partition = offs[i].partition, .up = offs[i].offset,
                      .down = -1, .metadata = km_xstrdup(offs[i].metadata)};
        m->replicated = km_topic_selected(&f->s, f->target, m->topic);
        m->remote = km_checkpoint_topic(&f->s, f->source, f->target, m->topic);
        char *origin = km_policy_topic_source(&f->s.policy, m->topic);
        if (!m->replicated && origin && strcmp(origin, f->target) == 0) {
            /* records that came from the target: back to the topic they were copied from there
             * (one hop up; MM2's originalTopic would also strip a '.' inside that name) */
            m->replicated = m->back = true;
            free(m->remote);
            m->remote = km_policy_upstream_topic(&f->s.policy, m->topic);
        }
        free(origin);
    }
    km_group_offsets_free(offs, no);
    for (;;) {
        bool exact = true;
        for (size_t i = 0; i < *n; i++) {
            translate(fo, &(*out)[i]);
            const move_t *m = &(*out)[i];
            exact &= !m->replicated || m->how == KM_XLATE_EXACT || (m->back && !fo->rev.rk); /* waiting cannot help */
        }
        if (exact || km_now_mono_ms() >= fo->deadline) return 0;
        poll_syncs(fo, 500);
    }
}

/* ---- unplanned: offsets from the target's checkpoints ---------------------------------------- */

typedef struct {
    char *group;
    move_t m;
} ck_t;

static void keep_checkpoint(fo_t *fo, ck_t **v, size_t *n, const km_checkpoint_t *c) {
    if (!selected(fo, c->group)) return;
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].m.partition == c->partition && strcmp((*v)[i].m.remote, c->topic) == 0 &&
            strcmp((*v)[i].group, c->group) == 0) {
            (*v)[i].m.up = c->upstream_offset;
            (*v)[i].m.down = c->downstream_offset;
            free((*v)[i].m.metadata);
            (*v)[i].m.metadata = km_xstrdup(c->metadata);
            return;
        }
    *v = km_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = (ck_t){km_xstrdup(c->group),
                          {.remote = km_xstrdup(c->topic), .partition = c->partition, .up = c->upstream_offset,
                           .down = c->downstream_offset, .replicated = true, .metadata = km_xstrdup(c->metadata)}};
}

/* Partition 0 of the checkpoints topic on the target, from the beginning to its end. */
static int read_checkpoints(fo_t *fo, ck_t **v, size_t *n) {
    const char *topic = fo->f->s.checkpoints_topic;
    char err[512];
    rd_kafka_t *rk = client(&fo->f->rk_target_consumer, RD_KAFKA_CONSUMER, err, sizeof(err));
    if (!rk) {
        km_error("cannot create a client for %s: %s", fo->a.to, err);
        return -1;
    }
    int64_t lo, hi;
    rd_kafka_resp_err_t e = km_admin_watermarks(rk, topic, 0, &lo, &hi, ADMIN_MS);
    int rc = -1;
    if (e) {
        km_error("cannot read %s on %s: %s", topic, fo->a.to, rd_kafka_err2str(e));
        goto out;
    }
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, 0)->offset = lo;
    rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    int64_t next = lo, until = km_now_mono_ms() + 30000;
    while (next < hi && km_now_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) continue;
        km_checkpoint_t c;
        if (!m->err) {
            next = m->offset + 1;
            if (km_checkpoint_decode(m->key, m->key_len, m->payload, m->len, &c) == 0) {
                keep_checkpoint(fo, v, n, &c);
                km_checkpoint_free(&c);
            }
        }
        rd_kafka_message_destroy(m);
    }
    if (next < hi) km_error("%s on %s was not read to its end (offset %lld) within 30 s", topic, fo->a.to, (long long)hi);
    else rc = 0;
out:
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- step 5: the target ---------------------------------------------------------------------- */

static const char *how_name(const move_t *m, char *buf, size_t len) {
    if (!m->replicated) return "-";
    switch (m->how) {
    case KM_XLATE_CONSERVATIVE:
        if (m->reread < 0) return m->back ? "conservative, back" : "conservative";
        snprintf(buf, len, "conservative, re-reads <= %lld", (long long)m->reread);
        return buf;
    case KM_XLATE_EXACT: return m->back ? "exact, back" : "exact";
    default: return m->down >= 0 ? "checkpoint" : "none";
    }
}

/* Commits what moves the group forwards on the target. Returns whether the group is there. */
static bool move_group(fo_t *fo, const char *group, move_t *v, size_t n) {
    char err[512];
    rd_kafka_consumer_group_state_t st;
    printf("\ngroup %s\n", group);
    if (km_group_state(fo->dst_groups, group, ADMIN_MS, &st, err, sizeof(err)) != 0) {
        printf("  not moved: cannot describe the group on %s: %s\n", fo->a.to, err);
        return false;
    }
    bool active = !inactive(st);
    km_group_offset_t *have = NULL;
    size_t nh = 0;
    /* asked for by name: 2.0.2's mock answers the every-partition form with nothing */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    for (size_t i = 0; i < n; i++)
        if (v[i].remote) rd_kafka_topic_partition_list_add(parts, v[i].remote, v[i].partition);
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY && parts->cnt > 0) {
        int e = km_group_offsets(fo->dst_groups, group, parts, ADMIN_MS, &have, &nh, err, sizeof(err));
        if (e != 0) {
            rd_kafka_topic_partition_list_destroy(parts);
            printf("  not moved: cannot read its committed offsets on %s: %s\n", fo->a.to, err);
            return false;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    km_group_offset_t *want = km_xcalloc(n ? n : 1, sizeof(*want));
    size_t nw = 0;
    bool ok = !active;
    char on_topic[128], on_from[64], on_to[64];
    snprintf(on_topic, sizeof on_topic, "TOPIC ON %s", fo->a.to);
    snprintf(on_from, sizeof on_from, "ON %s", fo->a.from);
    snprintf(on_to, sizeof on_to, "ON %s", fo->a.to);
    printf("  %-36s %5s %12s %12s  %-24s %s\n", on_topic, "PART", on_from, on_to, "TRANSLATION", "ACTION");
    for (size_t i = 0; i < n; i++) {
        move_t *m = &v[i];
        int64_t cur = -1;
        for (size_t j = 0; j < nh; j++)
            if (have[j].partition == m->partition && strcmp(have[j].topic, m->remote) == 0) cur = have[j].offset;
        char action[320], hb[64];
        if (!m->replicated) {
            snprintf(action, sizeof action, "none: %s is not replicated by %s", m->topic, fo->f->name);
        } else if (m->down < 0) {
            if (m->back && fo->rev.f && !fo->rev.rk)
                snprintf(action, sizeof action, "skipped: it came from %s; the offset-syncs of %s that move it back are unreadable (see above)",
                         fo->a.to, fo->rev.f->name);
            else if (m->back && !fo->rev.rk)
                snprintf(action, sizeof action, "skipped: it came from %s; moving it back needs the offset-syncs of %s->%s (%s->%s.enabled = true)",
                         fo->a.to, fo->a.to, fo->a.from, fo->a.to, fo->a.from);
            else if (m->back)
                snprintf(action, sizeof action, "skipped: no offset of %s's %s maps to %lld in the offset-syncs of %s",
                         fo->a.to, m->remote, (long long)m->up, fo->rev.f->name);
            else
                snprintf(action, sizeof action, "skipped: no offset-sync at or before offset %lld yet", (long long)m->up);
            ok = false;
        } else if (cur >= m->down) {
            snprintf(action, sizeof action, cur == m->down ? "already there" : "skipped: %s is at %lld, past it (never backwards)",
                     fo->a.to, (long long)cur);
        } else if (active) {
            snprintf(action, sizeof action, "skipped: the group is active on %s (state %s)", fo->a.to,
                     rd_kafka_consumer_group_state_name(st));
        } else {
            want[nw++] = (km_group_offset_t){m->remote, m->partition, m->down, m->metadata};
            snprintf(action, sizeof action, fo->a.dry_run ? "would commit (dry run)" : "committed");
        }
        printf("  %-36s %5d %12lld %12lld  %-24s %s\n", m->remote, m->partition, (long long)m->up, (long long)m->down,
               how_name(m, hb, sizeof hb), action);
    }
    if (nw > 0 && !fo->a.dry_run &&
        km_group_alter_offsets(fo->dst_groups, group, want, nw, ADMIN_MS, err, sizeof(err)) != 0) {
        printf("  not moved: committing on %s failed: %s (did a consumer join the group?)\n", fo->a.to, err);
        ok = false;
    }
    if (active) printf("  not moved: the group has members on %s (state %s); stop them and run again\n", fo->a.to,
                       rd_kafka_consumer_group_state_name(st));
    free(want);
    km_group_offsets_free(have, nh);
    return ok;
}

/* ---- --fence / --unfence: the source's producers stopped by its authorizer ------------------- */

/* One ACL per topic: DENY WRITE for User:* from any host, on the literal topic name. DENY beats
 * every ALLOW in Kafka's authorizer, so only super users still write; kmirror only reads the
 * source for this flow, so the fence does not stop the flow it waits for. IdempotentWrite is a
 * cluster permission shared with every other topic, so it is left alone. */
#define FENCE_PRINCIPAL "User:*"
#define FENCE_HOST "*"

/* A topic the fence covers: the flow replicates it and applications write it. Heartbeats and
 * remote topics (named after another cluster of the file) are written into the source by
 * kmirror's own flows, which a DENY for User:* would stop as well. */
static bool fenceable(const km_flow_t *f, const char *topic) {
    if (!km_topic_selected(&f->s, f->target, topic) || km_policy_is_heartbeats_topic(&f->s.policy, topic)) return false;
    char *origin = km_policy_topic_source(&f->s.policy, topic);
    bool remote = origin && km_config_cluster(f->cfg, origin);
    free(origin);
    return !remote;
}

/* With the same name in both directions (IdentityReplicationPolicy), a flow into the source
 * writes the fenced topic too, and the DENY stops it unless its principal is a super user. */
static void warn_written_by_flows(const fo_t *fo, const char *topic) {
    const km_config_t *cfg = fo->f->cfg;
    for (size_t i = 0; i < cfg->nflows; i++) {
        const km_flow_t *g = &cfg->flows[i];
        if (!g->enabled || g == fo->f || strcmp(g->target, fo->a.from) != 0 || !km_topic_selected(&g->s, g->target, topic))
            continue;
        char *remote = km_policy_format_remote_topic(&g->s.policy, g->source, topic);
        if (strcmp(remote, topic) == 0)
            km_warn("--fence: flow %s writes %s on %s under the same name; the DENY WRITE for %s stops it too unless "
                    "its principal on %s is a super user", g->name, topic, fo->a.from, FENCE_PRINCIPAL, fo->a.from);
        free(remote);
    }
}

static void fence_error(const fo_t *fo, const char *opt, const char *what, rd_kafka_resp_err_t code, const char *err) {
    if (code == RD_KAFKA_RESP_ERR_SECURITY_DISABLED)
        km_error("%s: %s has no authorizer (%s: %s): no ACL can keep its producers from writing. Set "
                 "authorizer.class.name on its brokers, or stop the producers another way and run without %s",
                 opt, fo->a.from, what, err, opt);
    else if (code == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED)
        km_error("%s: kmirror's principal on %s may not %s (%s): it needs ALTER (create, delete) and DESCRIBE on "
                 "the cluster resource kafka-cluster", opt, fo->a.from, what, err);
    else km_error("%s: %s on %s failed: %s", opt, what, fo->a.from, err);
}

/* The answer to an ACL request, or NULL with *code and err when the request failed as a whole
 * (no answer, no authorizer, not allowed). */
static rd_kafka_event_t *acl_await(rd_kafka_queue_t *q, rd_kafka_resp_err_t *code, char *err, size_t len) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_MS + 1000);
    if (!ev) {
        *code = RD_KAFKA_RESP_ERR__TIMED_OUT;
        snprintf(err, len, "no answer within %d ms", ADMIN_MS);
        return NULL;
    }
    if ((*code = rd_kafka_event_error(ev))) {
        snprintf(err, len, "%s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

static rd_kafka_AclBindingFilter_t *fence_filter(const char *topic) {
    return rd_kafka_AclBindingFilter_new(RD_KAFKA_RESOURCE_TOPIC, topic, RD_KAFKA_RESOURCE_PATTERN_LITERAL, FENCE_PRINCIPAL,
                                         FENCE_HOST, RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_PERMISSION_TYPE_DENY, NULL, 0);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The topics whose fence ACL the source's authorizer holds now (sorted names). */
static int fenced_now(const fo_t *fo, char ***names, size_t *n, rd_kafka_resp_err_t *code, char *err, size_t len) {
    *names = NULL;
    *n = 0;
    rd_kafka_AclBindingFilter_t *f = fence_filter(NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(fo->src);
    rd_kafka_AdminOptions_t *o = km_admin_options(fo->src, RD_KAFKA_ADMIN_OP_DESCRIBEACLS, ADMIN_MS);
    rd_kafka_DescribeAcls(fo->src, f, o, q);
    rd_kafka_AclBinding_destroy(f);
    rd_kafka_event_t *ev = acl_await(q, code, err, len);
    if (ev) {
        size_t cnt;
        const rd_kafka_AclBinding_t **b = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &cnt);
        *names = km_xcalloc(cnt ? cnt : 1, sizeof(char *));
        for (size_t i = 0; i < cnt; i++) (*names)[(*n)++] = km_xstrdup(rd_kafka_AclBinding_name(b[i]));
        qsort(*names, *n, sizeof(char *), cmp_name);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return ev ? 0 : -1;
}

static bool listed(char **names, size_t n, const char *topic) {
    return bsearch(&topic, names, n, sizeof(char *), cmp_name) != NULL;
}

/* How many of topics[] are (want) or are not (!want) listed as fenced, asked again for up to
 * ADMIN_MS: the controller acknowledges a change before the broker's authorizer applies it. */
static int count_fenced(const fo_t *fo, char **topics, size_t n, bool want, size_t *off, rd_kafka_resp_err_t *code,
                        char *err, size_t len) {
    int64_t until = km_now_mono_ms() + ADMIN_MS;
    for (;;) {
        char **have;
        size_t nh;
        if (fenced_now(fo, &have, &nh, code, err, len) != 0) return -1;
        *off = 0;
        for (size_t i = 0; i < n; i++) *off += listed(have, nh, topics[i]) != want;
        km_strv_free(have, nh);
        if (*off == 0 || km_now_mono_ms() >= until) return 0;
        km_admin_pause(200);
    }
}

/* 1 when A's brokers have an authorizer, 0 when authorizer.class.name is empty, -1 when their
 * configuration is unreadable. A dry run needs this: it creates nothing, and librdkafka 2.0.2's
 * DescribeAcls answers "no ACLs" where the broker said it has no authorizer. */
static int has_authorizer(const fo_t *fo, char *err, size_t len) {
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(fo->src, 0, NULL, &md, ADMIN_MS);
    if (e || md->broker_cnt == 0) {
        snprintf(err, len, "%s", e ? rd_kafka_err2str(e) : "no broker in the metadata");
        if (!e) rd_kafka_metadata_destroy(md);
        return -1;
    }
    char id[16];
    snprintf(id, sizeof id, "%d", md->brokers[0].id);
    rd_kafka_metadata_destroy(md);
    rd_kafka_ConfigResource_t *r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, id);
    rd_kafka_queue_t *q = rd_kafka_queue_new(fo->src);
    rd_kafka_AdminOptions_t *o = km_admin_options(fo->src, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, ADMIN_MS);
    rd_kafka_DescribeConfigs(fo->src, &r, 1, o, q);
    rd_kafka_ConfigResource_destroy(r);
    rd_kafka_resp_err_t code;
    rd_kafka_event_t *ev = acl_await(q, &code, err, len);
    int rc = -1;
    if (ev) {
        size_t cnt, nc;
        const rd_kafka_ConfigResource_t **res = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt);
        if (cnt == 1 && rd_kafka_ConfigResource_error(res[0]))
            snprintf(err, len, "%s", rd_kafka_ConfigResource_error_string(res[0]));
        else if (cnt == 1) {
            const rd_kafka_ConfigEntry_t **c = rd_kafka_ConfigResource_configs(res[0], &nc);
            snprintf(err, len, "authorizer.class.name is not among broker %s's configs", id);
            for (size_t i = 0; i < nc; i++)
                if (strcmp(rd_kafka_ConfigEntry_name(c[i]), "authorizer.class.name") == 0) {
                    const char *v = rd_kafka_ConfigEntry_value(c[i]);
                    rc = v && *v;
                    snprintf(err, len, "broker %s: authorizer.class.name is empty", id);
                }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

static int create_fence(const fo_t *fo, char **topics, size_t n, rd_kafka_resp_err_t *code, char *err, size_t len) {
    rd_kafka_AclBinding_t **b = km_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < n; i++)
        b[i] = rd_kafka_AclBinding_new(RD_KAFKA_RESOURCE_TOPIC, topics[i], RD_KAFKA_RESOURCE_PATTERN_LITERAL, FENCE_PRINCIPAL,
                                       FENCE_HOST, RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_PERMISSION_TYPE_DENY, NULL, 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(fo->src);
    rd_kafka_AdminOptions_t *o = km_admin_options(fo->src, RD_KAFKA_ADMIN_OP_CREATEACLS, ADMIN_MS);
    rd_kafka_CreateAcls(fo->src, b, n, o, q);
    rd_kafka_AclBinding_destroy_array(b, n);
    free(b);
    rd_kafka_event_t *ev = acl_await(q, code, err, len);
    int rc = ev ? 0 : -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_acl_result_t **r = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &cnt);
        for (size_t i = 0; i < cnt && rc == 0; i++) {
            const rd_kafka_error_t *e = rd_kafka_acl_result_error(r[i]);
            if (!e) continue;
            *code = rd_kafka_error_code(e);
            snprintf(err, len, "%s: %s", i < n ? topics[i] : "?", rd_kafka_error_string(e));
            rc = -1;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

static int delete_fence(const fo_t *fo, char **topics, size_t n, rd_kafka_resp_err_t *code, char *err, size_t len) {
    rd_kafka_AclBindingFilter_t **f = km_xcalloc(n, sizeof(*f));
    for (size_t i = 0; i < n; i++) f[i] = fence_filter(topics[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(fo->src);
    rd_kafka_AdminOptions_t *o = km_admin_options(fo->src, RD_KAFKA_ADMIN_OP_DELETEACLS, ADMIN_MS);
    rd_kafka_DeleteAcls(fo->src, f, n, o, q);
    rd_kafka_AclBinding_destroy_array(f, n);
    free(f);
    rd_kafka_event_t *ev = acl_await(q, code, err, len);
    int rc = ev ? 0 : -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_DeleteAcls_result_response_t **r =
            rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev), &cnt);
        for (size_t i = 0; i < cnt && rc == 0; i++) {
            const rd_kafka_error_t *e = rd_kafka_DeleteAcls_result_response_error(r[i]);
            if (!e) continue;
            *code = rd_kafka_error_code(e);
            snprintf(err, len, "%s: %s", i < n ? topics[i] : "?", rd_kafka_error_string(e));
            rc = -1;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

static void print_acl(const char *topic, const char *what) {
    printf("  DENY %s WRITE on TOPIC %s (LITERAL, host %s): %s\n", FENCE_PRINCIPAL, topic, FENCE_HOST, what);
}

/* Step 2a: every topic of the source that the flow replicates and producers write carries the
 * fence, read back from the authorizer (a dry run only asks whether it would take it). *out: the
 * fenced topics with their partition counts, for the lag step. */
static int fence(fo_t *fo, km_topic_meta_t **out, size_t *nout) {
    const char *from = fo->a.from;
    printf("step 2a: fencing the producers of %s: DENY WRITE for %s (host %s), one literal ACL per topic that %s "
           "replicates%s\n", from, FENCE_PRINCIPAL, FENCE_HOST, fo->f->name,
           fo->a.dry_run ? " (dry run: nothing is created)" : "");
    km_topic_meta_t *all;
    size_t na;
    int brokers;
    char err[512];
    *out = NULL;
    *nout = 0;
    if (km_admin_list_topics(fo->src, ADMIN_MS, &all, &na, &brokers, err, sizeof(err)) != 0) {
        km_error("--fence: cannot list the topics of %s: %s", from, err);
        return -1;
    }
    *out = km_xcalloc(na ? na : 1, sizeof(**out));
    char **names = km_xcalloc(na ? na : 1, sizeof(char *));
    for (size_t i = 0; i < na; i++) {
        if (!fenceable(fo->f, all[i].name)) {
            if (km_topic_selected(&fo->f->s, fo->f->target, all[i].name))
                printf("  %s: not fenced, kmirror's own flows write it on %s\n", all[i].name, from);
            continue;
        }
        names[*nout] = all[i].name;
        (*out)[(*nout)++] = (km_topic_meta_t){km_xstrdup(all[i].name), all[i].partitions};
        warn_written_by_flows(fo, all[i].name);
    }
    char **have = NULL, **missing = km_xcalloc(na ? na : 1, sizeof(char *));
    size_t nh = 0, nm = 0;
    rd_kafka_resp_err_t code = 0;
    int rc = -1;
    if (*nout == 0) {
        km_error("--fence: flow %s replicates no topic of %s that producers write: nothing to fence", fo->f->name, from);
        goto done;
    }
    if (fenced_now(fo, &have, &nh, &code, err, sizeof(err)) != 0) {
        fence_error(fo, "--fence", "listing its ACLs", code, err);
        goto done;
    }
    for (size_t i = 0; i < *nout; i++)
        if (!listed(have, nh, names[i])) missing[nm++] = names[i];
        else print_acl(names[i], "already in place");
    if (fo->a.dry_run) {
        int authz = has_authorizer(fo, err, sizeof(err));
        if (authz == 0) {
            fence_error(fo, "--fence", "its brokers' configuration", RD_KAFKA_RESP_ERR_SECURITY_DISABLED, err);
            goto done;
        }
        if (authz < 0)
            km_warn("--fence: cannot tell whether %s has an authorizer (its brokers' configuration: %s); the real run "
                    "finds out when it creates the ACLs", from, err);
        for (size_t i = 0; i < nm; i++) print_acl(missing[i], "would create");
        rc = 0;
        goto done;
    }
    if (nm && create_fence(fo, missing, nm, &code, err, sizeof(err)) != 0) {
        fence_error(fo, "--fence", "creating the DENY WRITE ACLs", code, err);
        goto done;
    }
    km_strv_free(have, nh);
    have = NULL;
    nh = 0;
    size_t absent;
    if (count_fenced(fo, missing, nm, true, &absent, &code, err, sizeof(err)) != 0 ||
        fenced_now(fo, &have, &nh, &code, err, sizeof(err)) != 0) {
        fence_error(fo, "--fence", "listing its ACLs back", code, err);
        goto done;
    }
    for (size_t i = 0; i < nm; i++)
        print_acl(missing[i], listed(have, nh, missing[i]) ? "created, listed by the authorizer" : "created, but NOT listed by the authorizer");
    if (absent) {
        km_error("--fence: %s does not list %zu of the DENY WRITE ACLs just created (see above): its producers are "
                 "not fenced; nothing was committed, run again", from, absent);
        goto done;
    }
    printf("  verified: %s's authorizer lists the fence on all %zu topic(s); its super users are not fenced, and "
           "kmirror only reads %s for %s, so the flow goes on\n", from, *nout, from, fo->f->name);
    printf("  to let producers write to %s again: kmirror %s %s --from %s --to %s --unfence\n", from, fo->cmd,
           fo->a.config, from, fo->a.to);
    rc = 0;
done:
    km_strv_free(have, nh);
    free(missing);
    free(names);
    km_topic_meta_free(all, na);
    return rc;
}

/* Step 2b: with the producers fenced, the end of each fenced partition on the source stops
 * moving; the lag is 0 once that end translates exactly, i.e. the flow has copied every record
 * before it. 0 when every partition got there before the deadline. */
static int wait_lag_zero(fo_t *fo, const km_topic_meta_t *t, size_t n) {
    printf("step 2b: waiting up to %lld s until %s holds every record of the fenced topics (lag 0)\n",
           (long long)(fo->a.timeout_ms / 1000), fo->a.to);
    size_t np = 0;
    for (size_t i = 0; i < n; i++) np += (size_t)t[i].partitions;
    int64_t *end = km_xcalloc(np ? np : 1, sizeof(int64_t)), *down = km_xcalloc(np ? np : 1, sizeof(int64_t));
    size_t behind;
    do {
        behind = 0;
        for (size_t i = 0, k = 0; i < n; i++)
            for (int32_t p = 0; p < t[i].partitions; p++, k++) {
                int64_t lo;
                end[k] = down[k] = -1;
                if (km_admin_watermarks(fo->src, t[i].name, p, &lo, &end[k], ADMIN_MS) != 0) end[k] = -1;
                else if (lo == end[k]) down[k] = 0; /* nothing to copy */
                else if (km_sync_store_translate(fo->fwd.store, t[i].name, p, end[k], &down[k]) != KM_XLATE_EXACT) down[k] = -1;
                behind += down[k] < 0;
            }
        if (behind && km_now_mono_ms() < fo->deadline) poll_syncs(fo, 500);
    } while (behind && km_now_mono_ms() < fo->deadline);
    printf("  %-36s %5s %12s %12s  %s\n", "TOPIC", "PART", "END", "ON TARGET", "LAG");
    for (size_t i = 0, k = 0; i < n; i++)
        for (int32_t p = 0; p < t[i].partitions; p++, k++) {
            if (end[k] < 0) printf("  %-36s %5d %12s %12s  unknown: its end offset on %s is unreadable\n", t[i].name, p, "?", "-", fo->a.from);
            else if (down[k] < 0) printf("  %-36s %5d %12lld %12s  not 0: not replicated to its end yet\n", t[i].name, p, (long long)end[k], "-");
            else printf("  %-36s %5d %12lld %12lld  0\n", t[i].name, p, (long long)end[k], (long long)down[k]);
        }
    if (behind)
        km_error("%zu partition(s) of the fenced topics are not fully on %s after %lld s (see above): nothing was "
                 "committed; the fence stays, run again", behind, fo->a.to, (long long)(fo->a.timeout_ms / 1000));
    free(end);
    free(down);
    return behind ? -1 : 0;
}

/* --unfence: deletes exactly the fence ACLs on the topics the flow replicates, including those
 * of topics deleted since; another DENY of the operator's is not touched. */
static int run_unfence(fo_t *fo) {
    const char *from = fo->a.from;
    printf("unfence: removing the DENY WRITE for %s that --fence put on the topics of %s that %s replicates%s\n",
           FENCE_PRINCIPAL, from, fo->f->name, fo->a.dry_run ? " (dry run: nothing is deleted)" : "");
    char **have, err[512];
    size_t nh;
    rd_kafka_resp_err_t code = 0;
    if (fenced_now(fo, &have, &nh, &code, err, sizeof(err)) != 0) {
        fence_error(fo, "--unfence", "listing its ACLs", code, err);
        return 1;
    }
    char **mine = km_xcalloc(nh ? nh : 1, sizeof(char *));
    size_t nm = 0;
    for (size_t i = 0; i < nh; i++)
        if (fenceable(fo->f, have[i])) mine[nm++] = have[i];
    int rc = 1;
    if (nm == 0 && has_authorizer(fo, err, sizeof(err)) == 0)
        printf("  %s has no authorizer (%s), so it carries no fence: nothing to remove\n", from, err);
    else if (nm == 0) printf("  no fence of %s on %s: nothing to remove\n", fo->f->name, from);
    for (size_t i = 0; i < nm; i++) print_acl(mine[i], fo->a.dry_run ? "would delete" : "deleting");
    if (nm && !fo->a.dry_run && delete_fence(fo, mine, nm, &code, err, sizeof(err)) != 0) {
        fence_error(fo, "--unfence", "deleting the DENY WRITE ACLs", code, err);
        goto out;
    }
    if (nm && !fo->a.dry_run) {
        size_t still;
        if (count_fenced(fo, mine, nm, false, &still, &code, err, sizeof(err)) != 0) {
            fence_error(fo, "--unfence", "listing its ACLs back", code, err);
            goto out;
        }
        if (still) {
            km_error("--unfence: %s still lists %zu of the DENY WRITE ACLs; run again", from, still);
            goto out;
        }
        printf("  verified: %s's authorizer lists none of them any more; producers with an ALLOW WRITE write again\n", from);
    }
    rc = 0;
out:
    free(mine);
    km_strv_free(have, nh);
    return rc;
}

/* ---- the sequence ---------------------------------------------------------------------------- */

static int run_planned(fo_t *fo) {
    char **groups;
    size_t n;
    if (select_on_source(fo, &groups, &n) != 0) return 1;
    printf("step 2: %zu group(s) on %s accepted by the groups filter of %s%s%s:", n, fo->a.from, fo->f->name,
           fo->a.groups ? " and --groups " : "", fo->a.groups ? fo->a.groups : "");
    for (size_t i = 0; i < n; i++) printf(" %s", groups[i]);
    printf("\n");
    if (n == 0) {
        km_error("no consumer group on %s is accepted by the groups/groups.exclude of flow %s%s%s%s: nothing to move",
                 fo->a.from, fo->f->name, fo->a.groups ? " and --groups '" : "", fo->a.groups ? fo->a.groups : "",
                 fo->a.groups ? "'" : "");
        return 1;
    }
    const km_flow_t *f = fo->f;
    const char *where = f->s.offset_syncs_location == KM_SYNCS_ON_SOURCE ? fo->a.from : fo->a.to;
    km_topic_meta_t *fenced = NULL;
    size_t nf = 0;
    if (fo->a.fence && fence(fo, &fenced, &nf) != 0) {
        km_topic_meta_free(fenced, nf);
        km_strv_free(groups, n);
        return 1;
    }
    if (fo->rev.rk && read_syncs(&fo->rev) != 0) {
        km_warn("without the offset-syncs of %s, groups are not moved back on topics that came from %s", fo->rev.f->name, fo->a.to);
        close_syncs(&fo->rev);
    }
    int lag = 0;
    if (read_syncs(&fo->fwd) != 0) lag = -1;
    else if (fo->a.fence && !fo->a.dry_run) lag = wait_lag_zero(fo, fenced, nf);
    else if (fo->a.fence) printf("step 2b: dry run: not waiting for lag 0, the producers of %s are not fenced\n", fo->a.from);
    km_topic_meta_free(fenced, nf);
    if (lag != 0) {
        km_strv_free(groups, n);
        return 1;
    }
    bool *ok = km_xcalloc(n, sizeof(bool));
    wait_inactive(fo, groups, n, ok);
    printf("step 4: translating the committed offsets with the offset-syncs of %s on %s (waiting until the mirror has reached them)\n",
           f->s.offset_syncs_topic, where);
    size_t moved = 0;
    move_t **plans = km_xcalloc(n, sizeof(*plans));
    size_t *np = km_xcalloc(n, sizeof(*np));
    for (size_t i = 0; i < n; i++)
        if (ok[i] && plan_group(fo, groups[i], &plans[i], &np[i]) != 0) ok[i] = false;
    printf("  %zu offset-sync(s) read", fo->fwd.n);
    if (fo->rev.rk)
        printf("; for topics that came from %s, %zu of %s from %s", fo->a.to, fo->rev.n, fo->rev.f->name,
               fo->rev.f->s.offset_syncs_topic);
    printf("\n");
    printf("step 5: committing the translated offsets to the groups on %s%s\n", fo->a.to,
           fo->a.dry_run ? " (dry run: nothing is committed)" : "");
    for (size_t i = 0; i < n; i++) {
        if (!ok[i]) {
            printf("\ngroup %s\n  not moved: still active on %s or its offsets could not be read\n", groups[i], fo->a.from);
            continue;
        }
        if (move_group(fo, groups[i], plans[i], np[i])) moved++;
        moves_free(plans[i], np[i]);
    }
    printf("\n%s: %zu of %zu group(s) %s %s\n", fo->cmd, moved, n, fo->a.dry_run ? "can be moved to" : "are on", fo->a.to);
    free(plans);
    free(np);
    free(ok);
    km_strv_free(groups, n);
    if (moved < n) km_error("%zu group(s) not moved; see above why, and run again", n - moved);
    return moved == n ? 0 : 1;
}

static int run_unplanned(fo_t *fo) {
    const char *topic = fo->f->s.checkpoints_topic;
    printf("step 2-4: UNPLANNED: %s does not answer; using the last checkpoints in %s on %s\n", fo->a.from, topic, fo->a.to);
    km_warn("%s is unreachable: records produced on %s after the last replicated offset may be missing on %s, and "
            "commits made on %s after the last checkpoint are lost (those records are read again)",
            fo->a.from, fo->a.from, fo->a.to, fo->a.from);
    ck_t *v = NULL;
    size_t n = 0;
    if (read_checkpoints(fo, &v, &n) != 0) return 1;
    char **groups = NULL;
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < ng && !seen; k++) seen = strcmp(groups[k], v[i].group) == 0;
        if (!seen) {
            groups = km_xrealloc(groups, (ng + 1) * sizeof(char *));
            groups[ng++] = v[i].group;
        }
    }
    printf("  %zu group(s) with checkpoints accepted by the groups filter of %s%s%s:", ng, fo->f->name,
           fo->a.groups ? " and --groups " : "", fo->a.groups ? fo->a.groups : "");
    for (size_t k = 0; k < ng; k++) printf(" %s", groups[k]);
    printf("\nstep 5: committing the checkpointed offsets to the groups on %s%s\n", fo->a.to,
           fo->a.dry_run ? " (dry run: nothing is committed)" : "");
    size_t moved = 0;
    move_t *mv = km_xcalloc(n ? n : 1, sizeof(*mv));
    for (size_t k = 0; k < ng; k++) {
        size_t nm = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].group, groups[k]) == 0) mv[nm++] = v[i].m;
        if (move_group(fo, groups[k], mv, nm)) moved++;
    }
    printf("\n%s (unplanned): %zu of %zu group(s) %s %s; records produced on %s after its last replicated offset may be missing\n",
           fo->cmd, moved, ng, fo->a.dry_run ? "can be moved to" : "are on", fo->a.to, fo->a.from);
    free(mv);
    free(groups);
    for (size_t i = 0; i < n; i++) {
        free(v[i].group);
        free(v[i].m.remote);
        free(v[i].m.metadata);
    }
    free(v);
    if (ng == 0) km_error("no checkpoints of a selected group in %s on %s", topic, fo->a.to);
    else if (moved < ng) km_error("%zu group(s) not moved; see above why, and run again", ng - moved);
    return ng > 0 && moved == ng ? 0 : 1;
}

/* A misspelt alias on the command line is named as such, not as a flow that is not enabled. */
static bool known_alias(const km_config_t *cfg, const char *opt, const char *alias) {
    if (km_config_cluster(cfg, alias)) return true;
    char *list = km_xstrdup("");
    for (size_t i = 0; i < cfg->nclusters; i++) {
        char *next = km_xasprintf("%s%s%s", list, i ? ", " : "", cfg->clusters[i].alias);
        free(list);
        list = next;
    }
    km_error("%s '%s' is not a cluster alias of %s (clusters = %s)", opt, alias, cfg->path, list);
    free(list);
    return false;
}

int km_failover_main(const char *cmd, int argc, char **argv) {
    char usage[200];
    snprintf(usage, sizeof usage,
             "kmirror %s CONFIG --from A --to B [--groups REGEX] [--timeout SECONDS] [--fence | --unfence] [--dry-run]", cmd);
    fo_t fo = {.cmd = cmd};
    /* line by line: an operator who pipes the output into a log sees each step as it happens */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse(argc, argv, &fo.a, usage) != 0) return 2;
    if (!fo.a.config || !fo.a.from || !fo.a.to) {
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    km_config_t cfg;
    km_diag_t d = {0};
    int rc = km_config_load(&cfg, fo.a.config, NULL, 0, &d);
    km_providers_redact_logs(&cfg.secrets); /* bootstrap.servers and errors are printed */
    km_diag_log(&d);
    km_diag_free(&d);
    if (rc != 0) {
        km_config_free(&cfg);
        return 1;
    }
    rc = 1;
    char err[512];
    if (!known_alias(&cfg, "--from", fo.a.from) || !known_alias(&cfg, "--to", fo.a.to)) goto out;
    if (strcmp(fo.a.from, fo.a.to) == 0) {
        km_error("--from and --to are both '%s': groups move between two clusters", fo.a.from);
        goto out;
    }
    fo.f = km_config_flow(&cfg, fo.a.from, fo.a.to);
    if (!fo.f || !fo.f->enabled) {
        km_error("flow %s->%s is not enabled in %s (%s->%s.enabled is not true): there are no offset-syncs or checkpoints "
                 "of it to move groups with", fo.a.from, fo.a.to, fo.a.config, fo.a.from, fo.a.to);
        goto out;
    }
    if (fo.a.groups) {
        km_diag_t pd = {0};
        fo.only = km_pattern_new(fo.a.groups, "--groups", &pd);
        km_diag_log(&pd);
        km_diag_free(&pd);
        if (!fo.only) goto out;
    }
    fo.deadline = km_now_mono_ms() + fo.a.timeout_ms;
    bool on_source = fo.f->s.offset_syncs_location == KM_SYNCS_ON_SOURCE;
    const km_flow_t *rev = km_config_flow(&cfg, fo.a.to, fo.a.from);
    fo.fwd = (syncs_t){.f = fo.f, .store = km_sync_store_new(SYNCS_PER_PARTITION)};
    fo.rev = (syncs_t){.f = rev && rev->enabled ? rev : NULL, .store = km_sync_store_new(SYNCS_PER_PARTITION)};
    if (!(fo.src = client(&fo.f->rk_source_admin, RD_KAFKA_PRODUCER, err, sizeof(err))) ||
        !(fo.dst = client(&fo.f->rk_target_admin, RD_KAFKA_PRODUCER, err, sizeof(err))) ||
        !(fo.src_groups = km_groupclient_new(&fo.f->rk_source_admin, fo.f->s.group_id, err, sizeof(err))) ||
        !(fo.dst_groups = km_groupclient_new(&fo.f->rk_target_admin, fo.f->s.group_id, err, sizeof(err))) ||
        !(fo.fwd.rk = client(on_source ? &fo.f->rk_consumer : &fo.f->rk_target_consumer, RD_KAFKA_CONSUMER, err, sizeof(err))) ||
        (fo.rev.f && !(fo.rev.rk = client(rev->s.offset_syncs_location == KM_SYNCS_ON_SOURCE ? &rev->rk_consumer : &rev->rk_target_consumer,
                                          RD_KAFKA_CONSUMER, err, sizeof(err))))) {
        km_error("cannot create the clients of flow %s: %s", fo.f->name, err);
        goto out;
    }
    printf("kmirror %s %s -> %s%s\n", cmd, fo.a.from, fo.a.to, fo.a.dry_run ? " (dry run)" : "");
    const struct rd_kafka_metadata *md;
    if (fo.a.unfence) { /* moves no group: the target need not answer */
        if (rd_kafka_metadata(fo.src, 0, NULL, &md, PROBE_MS * 2) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            km_error("--unfence: %s does not answer (bootstrap.servers=%s): its fence ACLs cannot be removed now", fo.a.from,
                     km_props_get(&fo.f->rk_source_admin, "bootstrap.servers"));
            goto out;
        }
        rd_kafka_metadata_destroy(md);
        rc = run_unfence(&fo);
        goto out;
    }
    if (rd_kafka_metadata(fo.dst, 0, NULL, &md, PROBE_MS * 2) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        km_error("%s (the target) does not answer (bootstrap.servers=%s): nothing can be moved there", fo.a.to,
                 km_props_get(&fo.f->rk_target_admin, "bootstrap.servers"));
        goto out;
    }
    rd_kafka_metadata_destroy(md);
    bool planned = rd_kafka_metadata(fo.src, 0, NULL, &md, PROBE_MS) == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (planned) rd_kafka_metadata_destroy(md);
    printf("step 1: flow %s is enabled; %s %s within %d s (bootstrap.servers=%s): %s %s\n", fo.f->name, fo.a.from,
           planned ? "answers" : "does NOT answer", PROBE_MS / 1000, km_props_get(&fo.f->rk_source_admin, "bootstrap.servers"),
           planned ? "planned" : "UNPLANNED", fo.cmd);
    if (!planned && !on_source) /* the syncs are readable, but the committed offsets are not */
        printf("  (the offset-syncs are on %s, but the groups' committed offsets on %s are not readable)\n", fo.a.to, fo.a.from);
    if (!planned && fo.a.fence) {
        km_error("--fence: %s does not answer, so no fence can be set on it and nothing was committed; run without "
                 "--fence to fail over from what %s already holds", fo.a.from, fo.a.to);
        goto out;
    }
    rc = planned ? run_planned(&fo) : run_unplanned(&fo);
out:
    close_syncs(&fo.fwd);
    close_syncs(&fo.rev);
    km_sync_store_free(fo.fwd.store);
    km_sync_store_free(fo.rev.store);
    if (fo.src) rd_kafka_destroy(fo.src);
    if (fo.dst) rd_kafka_destroy(fo.dst);
    km_groupclient_destroy(fo.src_groups);
    km_groupclient_destroy(fo.dst_groups);
    km_pattern_free(fo.only);
    km_config_free(&cfg);
    return rc;
}
