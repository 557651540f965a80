/* task.c — see task.h.
 *
 * The loop, per iteration:
 *   apply mailbox (new partitions) → consume a batch → per record, read its kmirror.path and
 *   either skip it (done in order, acks.h) or produce it zero-copy with the extended path →
 *   serve delivery reports → rewind partitions whose delivery failed → commit positions
 *   when due (never past skipped records no offset-sync describes yet: offsetsync.h).
 * Delivery reports run on this thread (rd_kafka_poll on the producer), so partition state needs
 * no locks. The structural lock only guards the topic/partition tables against observers.
 *
 * Exactly-once (exactly.once.support): the producer is transactional, with a transactional.id
 * per task ({group.id}-kmirror-{flow}-{task}), so the process that takes a task over fences the
 * previous owner. Records and the position records that cover them go into one transaction,
 * committed every offset.flush.interval.ms: a position is visible exactly when the records up to
 * it are. Before each commit the transaction's records are delivered and their offset-syncs
 * acknowledged (they go to another cluster and cannot be part of the transaction), so positions
 * never run ahead of the syncs, as without EOS. A transaction that fails is aborted and every
 * partition re-read from its first offset in it; the syncs already sent for the aborted copies
 * are superseded by the re-read's (the writer marks a re-read as a new run). */
#include "task.h"

#include "acks.h"
#include "clientconf.h"
#include "clientstats.h"
#include "fetchwake.h"
#include "log.h"
#include "offsetsync.h"
#include "provenance.h"
#include "reaper.h"
#include "rk.h"
#include "util.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BATCH_MAX 10000
/* Records a batch may take however little is left of the budget (batch_max()). */
#define BATCH_MIN 16
/* How long a freshly assigned partition is given before its consumer may close (km_task_free). */
#define ASSIGN_SETTLE_MS 500
/* Offset-syncs kept per partition while they cannot be written: past this many, reading that
 * partition pauses until half of them are out (memory stays bounded; no position passes them
 * anyway, so a restart would repeat everything read meanwhile). */
#define SYNCS_KEPT_MAX 4096
/* A position held back by its offset-syncs in flight is tried again this soon. */
#define HELD_RETRY_MS 100
/* How long the stop of a task whose producer went fatal waits for answers (fail_restartable). */
#define FATAL_DRAIN_MS 2000
/* Records in flight are bounded by one budget for the whole process (inflight.max.bytes, a part
 * of memory.max.bytes: config.c), over the memory they hold (held_bytes()): librdkafka's
 * per-message bookkeeping, and the fetch responses they came in. Tasks publish their share after
 * each batch and each poll, not per record. The producer's queue.buffering.max.* limits apply on
 * top, per task: a full queue is backpressure (produce()). The total is kept by the metrics
 * registry, which shows it (kmirror_inflight_bytes, /status). */
/* What librdkafka 2.0.2 allocates per record in flight beyond its key and value, measured with
 * jemalloc's stats.allocated over 50,000 held 100 B records: ~200 B for the consumed message,
 * ~600 B for the produced one with its path header (256 before 2026-12-06 let 100 B records
 * take 3x their share). */
#define RECORD_OVERHEAD 800

typedef struct task_part {
    int32_t partition;
    bool active;
    int64_t expected;   /* next source offset we expect to consume; -1 unknown */
    int64_t acked;      /* end of the acknowledged prefix (see acks.h); -1 none */
    int64_t acked_ts;   /* timestamp of the source record at acked, -1 unknown (skipped, none): stored with
                         * the position so that a start can tell the log is still the same (same_log) */
    int64_t verify_ts;  /* acked_ts, until the record at acked was read again (same_log); -1 none */
    int64_t read_mono;  /* consumed_mono of the last record read, 0 none since assigned (read_again) */
    uint64_t read_dry;  /* dry_polls at that record */
    int64_t checked_to; /* read_again's last check was made for the record at this offset; -1 none */
    int64_t fetch_gap;  /* ms between records fetched while behind, averaged: the fetch round trip (read_again); -1 none yet */
    bool at_end;        /* at the last lag measurement, everything the source had was mirrored */
    int64_t first_check; /* the stored position at assignment until the first record is written, else -1 (target_was_empty) */
    km_recs_t recs;
    int64_t committed;  /* last offset whose position record was acknowledged */
    int64_t committing; /* offset of the position record in flight; -1 none */
    int64_t rewind_to;  /* first offset whose delivery failed; -1 none */
    /* The target refuses the record at rewind_to (too large, no WRITE ACL, topic deleted): the
     * partition is paused and tried again at retry_at, backing off; the others go on. */
    int blocked_err;
    int64_t blocked_at; /* the refused record's source offset */
    bool paused;
    int64_t retry_at, backoff_ms;
    int64_t inflight;
    km_sync_writer_t sw;
    km_syncq_t syncs; /* offset-syncs not yet acknowledged in order (see acks.h) */
    /* Failed syncs are sent again after 1 s, backing off to 60 s; said once until they flow. */
    int64_t sync_retry_at, sync_backoff_ms;
    bool sync_warned;
    bool syncs_paused; /* SYNCS_KEPT_MAX reached: reading paused */
    bool went_back;    /* the source log went back below expected, or was replaced: stopped until reassigned */
    int64_t lso;       /* the source's last stable offset, from the consumer's statistics; -1 unknown */
    int64_t txn_first;    /* EOS: first source offset read in the open transaction; -1 none */
    int64_t txn_pos;      /* EOS: position written in the open transaction; -1 none */
    km_part_stats_t *stats; /* owned by the flow's metrics; outlives the task */
} task_part_t;

typedef struct task_topic {
    char *name, *remote;
    rd_kafka_topic_t *src_rkt, *dst_rkt;
    km_prov_route_t route; /* what the record path decides (provenance.h) */
    task_part_t **parts; /* indexed by partition; NULL where not assigned */
    int nparts;
} task_topic_t;

/* The opaque of a position record (offset) or an offset-sync (seq) in flight. */
typedef struct commit_ctx {
    task_part_t *part;
    int64_t offset;
    uint64_t seq;
    const char *topic; /* an offset-sync's: the task topic's name, which lives as long as part */
} commit_ctx_t;

struct km_task {
    const km_flow_t *flow;
    const km_props_t *rk_consumer, *rk_producer; /* the replication clients' settings (km_task_start) */
    km_flow_metrics_t *fm;
    km_task_slot_t *slot;
    int id;
    char *name; /* "flow NAME task ID", for logs */
    rd_kafka_t *consumer, *producer;
    rd_kafka_queue_t *queue;
    km_fetchwake_t *fetchwake; /* NULL: librdkafka's own refetch after at most 1 s */
    km_reaper_t *reaper;       /* destroys delivered records' source messages; NULL: the task does */
    int wake_fd; /* eventfd: librdkafka signals it when the consumer or a producer queue gets work */
    rd_kafka_topic_t *offsets_rkt;
    /* Offset-syncs go to the source cluster by default (their own producer), else through
     * `producer`; sync_rk is NULL when emit.offset-syncs.enabled=false. */
    rd_kafka_t *sync_rk, *sync_producer;
    rd_kafka_topic_t *sync_rkt;
    /* The flow made sure the offset-syncs topic exists (km_task_syncs_ready); until then syncs
     * wait in their queues, unsent, and hold the positions back. */
    _Atomic bool syncs_ready;
    pthread_t thread;
    bool started;

    pthread_mutex_t lock; /* guards topics/ntopics structure and the mailbox */
    task_topic_t **topics;
    size_t ntopics;
    km_assign_item_t *mail;
    size_t nmail;
    _Atomic bool has_mail;
    km_cstats_t *cstats; /* reads the clients' statistics (clientstats.h); outlives the clients */

    _Atomic bool stop;
    _Atomic bool failed;
    _Atomic bool fenced; /* EOS: another process took the task over */
    char *fail_reason;
    bool restartable; /* set before `failed` (km_task_restartable) */
    _Atomic int64_t stop_deadline; /* set by the task itself (fail_restartable) or the flow (request_stop) */

    km_prov_buf_t path; /* the kmirror.path value of the record being produced */
    /* Header lists of delivered records that held only the path header, taken back from
     * librdkafka (spare_headers) for the next records produced without headers of their own:
     * creating, filling and destroying a list per record cost the task thread ~600 instructions
     * of ~4,400 per record at 100 B. Never more than were once in flight together; those not
     * needed for a second are freed (trim_spares). */
    rd_kafka_headers_t **spare;
    size_t nspare, spare_cap;
    size_t spare_low; /* the fewest spares since the last trim: that many were not needed */
    int64_t spare_trim_at;
    int64_t inflight_bytes, inflight_msgs;
    int64_t read_bytes;      /* key and value bytes of every record read: the marks of held_bytes() */
    int64_t avg_read;        /* key and value bytes per record read, smoothed over batches */
    int64_t fetch_max;       /* the consumer's fetch.max.bytes: what one record can keep at most */
    int64_t inflight_max;    /* this task's cap on published_bytes within the process's budget; 0: none (km_task_start) */
    int64_t published_bytes; /* the part of held_bytes() counted in the process's total */
    int64_t commit_inflight;
    int64_t acked_since_commit; /* records acknowledged since positions were last queued */
    int rewinds;
    int64_t next_commit;
    int64_t next_watermarks; /* when lag is measured next */
    int64_t consumed_at;     /* wall clock of the last consumed batch: one clock read per batch */
    int64_t consumed_mono;   /* the same on the monotonic clock */
    uint64_t dry_polls;      /* consumes that found the consumer's queue empty */
    int64_t assigned_at;     /* monotonic clock of the last assign() of partitions */
    bool reset_earliest; /* auto.offset.reset: earliest (else latest) */
    bool layout_known;   /* km_rk_no_headers() may be asked (the librdkafka it was checked against) */
    bool eos;            /* transactional producer (see the top of this file) */
    bool in_txn;         /* EOS: a transaction is open */
    bool txn_failed;     /* EOS: something in the open transaction failed; it must be aborted */
};

static void fail(km_task_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(km_task_t *t, const char *fmt, ...) {
    if (atomic_load(&t->failed)) return;
    va_list ap;
    va_start(ap, fmt);
    char *msg;
    if (vasprintf(&msg, fmt, ap) < 0) km_oom();
    va_end(ap);
    if (!t->restartable) km_error("flow %s task %d: %s", t->flow->name, t->id, msg);
    t->fail_reason = msg;
    atomic_store(&t->failed, true);
    atomic_store(&t->stop, true);
}

/* The stop ends by `at` at the latest: the earliest deadline set wins (the task's own, or the
 * flow's from another thread). */
static void stop_by(km_task_t *t, int64_t at) {
    int64_t was = atomic_load(&t->stop_deadline);
    while ((!was || at < was) && !atomic_compare_exchange_weak(&t->stop_deadline, &was, at)) {
    }
}

/* The producer went fatal: no client of this task can write again, a new task can (see
 * producer_fatal). The flow says what happened: a WARN when it restarts the task, an ERROR when
 * it gives up (flow.c, restart_task), so an alert on ERROR fires only for what was not cured. */
static void fail_restartable(km_task_t *t, const char *what, const char *why) {
    t->restartable = true;
    /* The stop before the restart waits for answers to requests already sent, never for
     * shutdown.timeout.ms: a broker that holds one would hold the main thread, which joins this
     * task (flow.c, restart_task), and every flow with it. The records not acknowledged by then
     * are purged and read again by the new task. */
    stop_by(t, km_now_mono_ms() + FATAL_DRAIN_MS);
    fail(t, "%s: %s", what, why);
}

static bool is_fencing(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR__FENCED || err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* EOS: a process that took this task over initialised the same transactional.id. Nothing of
 * the open transaction can be committed any more; the task stops without failing the flow. */
static void fenced(km_task_t *t, const char *what) {
    if (atomic_load(&t->fenced)) return;
    km_warn("flow %s task %d: %s: another process runs this task now (its producer fenced this one); stopping it here",
            t->flow->name, t->id, what);
    atomic_store(&t->fenced, true);
    atomic_store(&t->stop, true);
}

/* EOS: a transactional call failed. Fencing stops the task, a fatal error fails it, anything
 * else dooms the open transaction (aborted at the next commit point). Takes e. */
static void txn_error(km_task_t *t, const char *what, rd_kafka_error_t *e) {
    if (is_fencing(rd_kafka_error_code(e))) fenced(t, what);
    else if (rd_kafka_error_is_fatal(e)) fail_restartable(t, what, rd_kafka_error_string(e));
    else t->txn_failed = true;
    if (!atomic_load(&t->stop)) km_warn("flow %s task %d: %s: %s", t->flow->name, t->id, what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
}

/* ---- delivery reports ---------------------------------------------------------------------- */

/* librdkafka 2.0.2 also reports success without an offset: when a later request of the
 * partition succeeds while an earlier one is waiting to be retried, it takes the earlier one for
 * written ("implicitly acked", rd_kafka_dr_implicit_ack), even when the broker said it was not
 * (NOT_LEADER_OR_FOLLOWER) and, not knowing the producer on that partition yet, accepted the
 * later request as its first. Seen on a target topic created a moment before: its first record
 * was missing and nothing said so. Only a report with an offset says the record is written. */
static bool written(const rd_kafka_message_t *dr) { return !dr->err && dr->offset >= 0; }

static const char *why_unwritten(const rd_kafka_message_t *dr) {
    return dr->err ? rd_kafka_err2str(dr->err) : "reported without a target offset";
}

static void commit_delivered(km_task_t *t, const rd_kafka_message_t *dr) {
    commit_ctx_t *c = dr->_private;
    t->commit_inflight--;
    if (c->part->committing == c->offset) c->part->committing = -1;
    if (!written(dr) && t->eos)
        t->txn_failed = true;
    else if (!written(dr))
        km_warn("flow %s: committing position %lld to %s failed: %s (will retry)", t->flow->name,
                (long long)c->offset, t->flow->s.offsets_topic, why_unwritten(dr));
    else if (c->offset > c->part->committed && !t->eos) /* with EOS: once the transaction commits */
        c->part->committed = c->offset;
    free(c);
}

/* ---- offset-syncs (see acks.h) -------------------------------------------------------------- */

static void produce_sync(km_task_t *t, task_part_t *p, const km_pending_sync_t *ps) {
    if (!atomic_load_explicit(&t->syncs_ready, memory_order_acquire)) {
        km_syncq_sending(&p->syncs, false); /* kept; resend_syncs sends it once the topic is there */
        return;
    }
    char key[KM_STRING_MAX + 8], val[16], hdr[KM_SYNC_HEADER_SIZE];
    int kn = km_offset_sync_encode_key(&ps->s, key, sizeof(key));
    km_offset_sync_encode_value(&ps->s, val, sizeof(val));
    km_offset_sync_encode_header(&ps->s, hdr, sizeof(hdr));
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, KM_SYNC_HEADER, -1, hdr, sizeof(hdr));
    commit_ctx_t *c = km_xmalloc(sizeof(*c));
    *c = (commit_ctx_t){p, ps->s.upstream_offset, ps->seq, ps->s.topic};
    rd_kafka_resp_err_t err = rd_kafka_producev(
        t->sync_rk, RD_KAFKA_V_RKT(t->sync_rkt), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key, (size_t)kn),
        RD_KAFKA_V_VALUE(val, sizeof(val)), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        free(c);
        if (!p->syncs.broken && !p->sync_warned)
            km_warn("flow %s: cannot queue the offset-sync of %s [%d] at upstream offset %lld: %s; it is kept and sent again, and the partition's position waits for it",
                    t->flow->name, ps->s.topic, p->partition, (long long)ps->s.upstream_offset, rd_kafka_err2str(err));
        p->sync_warned = true;
    }
    km_syncq_sending(&p->syncs, !err);
}

/* Once none of the partition's syncs is in flight, every pending one goes out again in log
 * order, so readers see each run start. */
static void resend_syncs(km_task_t *t, task_part_t *p) {
    if (!atomic_load_explicit(&t->syncs_ready, memory_order_acquire)) return;
    int64_t now = km_now_mono_ms();
    if (p->syncs.broken && now < p->sync_retry_at) return;
    if (!km_syncq_resend_due(&p->syncs)) return;
    p->sync_backoff_ms = p->sync_backoff_ms ? p->sync_backoff_ms * 2 : 1000;
    if (p->sync_backoff_ms > 60000) p->sync_backoff_ms = 60000;
    p->sync_retry_at = now + p->sync_backoff_ms;
    for (size_t i = 0; i < p->syncs.n && !p->syncs.broken; i++) produce_sync(t, p, &p->syncs.q[i]);
}

static void send_sync(km_task_t *t, const char *topic, task_part_t *p, km_offset_sync_t *s) {
    s->topic = (char *)topic; /* the task topic's name: lives as long as p */
    s->partition = p->partition;
    km_pending_sync_t *ps = km_syncq_add(&p->syncs, s);
    km_part_offset_sync_emitted(p->stats);
    if (ps) produce_sync(t, p, ps); /* else it follows the failed one, in order */
}

static void sync_delivered(km_task_t *t, const rd_kafka_message_t *dr) {
    commit_ctx_t *c = dr->_private;
    task_part_t *p = c->part;
    const km_flow_t *f = t->flow;
    if (!km_syncq_report(&p->syncs, c->seq, written(dr)) && !atomic_load(&t->stop) && !p->sync_warned) {
        km_warn("flow %s: the offset-sync of %s [%d] at upstream offset %lld could not be written to %s on %s: %s; "
                "it is kept and sent again (backing off to every 60 s), and the partition's position waits for it",
                f->name, c->topic, p->partition, (long long)c->offset, f->s.offset_syncs_topic,
                f->s.offset_syncs_location == KM_SYNCS_ON_TARGET ? f->target : f->source, why_unwritten(dr));
        p->sync_warned = true;
    } else if (!p->syncs.broken && p->syncs.n == 0) {
        if (p->sync_warned)
            km_info("flow %s: the offset-syncs of %s [%d] are written again to %s", f->name, c->topic, p->partition,
                    f->s.offset_syncs_topic);
        p->sync_warned = false;
        p->sync_backoff_ms = 0;
    }
    free(c);
}

/* Moves the position over every acknowledged record at the front; stops at one in flight or
 * failed. The offset-sync writer sees the records in order, as it must. */
static void advance_acked(km_task_t *t, task_topic_t *tt, task_part_t *p) {
    int64_t now = -1;
    km_rec_t r;
    while (km_recs_pop_acked(&p->recs, &r)) {
        if (r.u <= p->acked) continue;
        p->acked = r.u;
        p->acked_ts = r.state == KM_REC_SKIPPED || r.ts <= 0 ? -1 : r.ts;
        if (r.state == KM_REC_SKIPPED) {
            if (t->sync_rk) km_sync_writer_skip(&p->sw, r.u);
            continue;
        }
        if (p->blocked_err && r.u >= p->blocked_at) {
            km_info("flow %s: %s [%d]: the record at source offset %lld is mirrored; the partition flows again",
                    t->flow->name, tt->name, p->partition, (long long)r.u);
            p->blocked_err = 0;
            p->backoff_ms = 0;
            km_part_blocked(p->stats, 0, false, -1);
        }
        t->acked_since_commit++;
        km_offset_sync_t sync;
        /* Run starts are what exact translation needs and always go out; an offset.lag.max sync
         * (only for Java readers) is coalesced away while the partition has one pending. */
        if (t->sync_rk && km_sync_writer_ack(&p->sw, r.u, r.d, t->flow->s.offset_lag_max, &sync) &&
            (sync.kind != KM_SYNC_IN_RUN || p->syncs.n == 0))
            send_sync(t, tt->name, p, &sync);
        if (now < 0) now = km_now_wall_coarse_ms();
        km_part_acked(p->stats, r.ts, now);
    }
}

/* Errors about one partition or topic of the target, not about the task: the partition stops
 * there and is retried (see task_part_t), everything else goes on. */
static bool partition_error(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE || err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           err == RD_KAFKA_RESP_ERR_POLICY_VIOLATION || err == RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP ||
           err == RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED;
}

#define BLOCKED_BACKOFF_MIN_MS 1000
#define BLOCKED_BACKOFF_MAX_MS 60000

/* The partition is read again from `offset` once nothing of it is in flight (rewind_failed). */
static void hold(km_task_t *t, task_part_t *p, int64_t offset) {
    if (p->rewind_to < 0) t->rewinds++;
    if (p->rewind_to < 0 || offset < p->rewind_to) p->rewind_to = offset;
}

static void block(km_task_t *t, task_topic_t *tt, task_part_t *p, int64_t offset, rd_kafka_resp_err_t err) {
    if (p->went_back) { /* stopped already, for a reason that stays */
        hold(t, p, offset);
        return;
    }
    if (!p->blocked_err)
        km_error("flow %s: %s [%d]: the target refuses the record at source offset %lld for %s: %s; this partition stops "
                 "there, every other one goes on, and it is tried again (backing off to every %d s) until the target takes "
                 "it (max.message.bytes raised, WRITE ACL added, topic re-created)",
                 t->flow->name, tt->name, p->partition, (long long)offset, tt->remote, rd_kafka_err2str(err),
                 BLOCKED_BACKOFF_MAX_MS / 1000);
    if (!p->blocked_err || p->backoff_ms == 0) p->backoff_ms = BLOCKED_BACKOFF_MIN_MS;
    p->blocked_err = err;
    p->blocked_at = offset;
    km_part_blocked(p->stats, err, false, offset);
    hold(t, p, offset);
}

static bool fatal_delivery_error(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR__FENCED || err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           err == RD_KAFKA_RESP_ERR__INVALID_ARG;
}

static int64_t record_size(const rd_kafka_message_t *m, rd_kafka_headers_t *h) {
    int64_t size = (int64_t)(m->len + m->key_len) + RECORD_OVERHEAD;
    const char *name;
    const void *val;
    size_t len;
    for (size_t i = 0; h && rd_kafka_header_get_all(h, i, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
        size += (int64_t)(strlen(name) + len);
    return size;
}

/* What this task's records in flight keep in memory. A consumed record keeps the whole fetch
 * response it came in, and a response holds records of many partitions: one record not yet
 * acknowledged keeps every byte fetched after it alive as well, acknowledged or not. So the
 * budget counts the key and value bytes read since the oldest record in flight, not only the
 * records' own (which, summed, let 10 KB records with the default 512 MiB budget pin 1.28 GB of
 * fetch responses). Records are read in fetch order, so the span is about what those responses
 * hold; but no record keeps more than its one response, which bounds the span when few records
 * are out for long (a target partition whose leader is away). A partition with nothing in
 * flight is left out: the front of its ring may be a refused record, paused for its backoff,
 * whose message went at its delivery report. One pass over the task's partitions per loop. */
static int64_t held_bytes(const km_task_t *t) {
    if (t->inflight_msgs == 0) return t->inflight_bytes;
    int64_t oldest = t->read_bytes, mark;
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            const task_part_t *p = t->topics[i]->parts[j];
            if (p && p->inflight > 0 && km_recs_front_mark(&p->recs, &mark) && mark < oldest) oldest = mark;
        }
    int64_t held = t->read_bytes - oldest, most = t->inflight_msgs * t->fetch_max;
    held = (held < most ? held : most) + t->inflight_msgs * RECORD_OVERHEAD;
    return held > t->inflight_bytes ? held : t->inflight_bytes;
}

/* What this task may still put in flight: the process's budget less every task's records, and
 * its own cap (none when 0, like the budget's) less its own; negative when over either. */
static int64_t inflight_room(const km_task_t *t) {
    int64_t room = km_flow_metrics_inflight_room(t->fm), own = t->inflight_max - t->published_bytes;
    return t->inflight_max > 0 && own < room ? own : room;
}

/* Records count against the budget only once read: a batch takes about what is left of it
 * (10,000 records of 10 KB would pass it by 100 MB), and the first one, before record sizes are
 * known, BATCH_MIN. */
static size_t batch_max(const km_task_t *t) {
    if (!t->avg_read) return BATCH_MIN;
    int64_t n = inflight_room(t) / (t->avg_read + RECORD_OVERHEAD) + 1;
    return n > BATCH_MAX ? BATCH_MAX : n < BATCH_MIN ? BATCH_MIN : (size_t)n;
}

/* Brings this task's share of the process budget up to date. */
static void publish_inflight(km_task_t *t) {
    int64_t held = held_bytes(t), delta = held - t->published_bytes;
    if (!delta) return;
    km_flow_metrics_inflight_add(t->fm, delta);
    t->published_bytes = held;
}

/* A stored position means records were written to the target partition (with offset-syncs, a
 * position only moves past skipped records once a written one is described, offsetsync.h; so
 * only then is this checked). A target partition whose
 * first record is the one kmirror writes now was therefore deleted and re-created while kmirror
 * was not running (a deletion while it runs is reported by the flow). Those records are not
 * mirrored again by themselves; say so once, with the way to do it. */
static void target_was_empty(km_task_t *t, const task_topic_t *tt, const task_part_t *p) {
    km_part_target_found_empty(p->stats);
    km_error("flow %s: %s [%d] on %s was empty when kmirror wrote to it, but its source partition %s [%d] has a stored "
             "position: records up to source offset %lld were mirrored into a topic that was deleted since (unless "
             "another writer of that position filtered every one of them out). They are not on %s and are not "
             "mirrored again; to mirror them again (the records mirrored since then are written once more): stop "
             "kmirror, run `kmirror reset-position CONFIG --source %s --target %s --topic %s --partition %d`, start "
             "kmirror",
             t->flow->name, tt->remote, p->partition, t->flow->target, tt->name, p->partition, (long long)p->first_check,
             t->flow->target, t->flow->source, t->flow->target, tt->name, p->partition);
}

/* Takes a delivered record's header list back from librdkafka for path_headers() when it holds
 * the path header alone (a record that had headers of its own keeps them with its message). */
static void spare_headers(km_task_t *t, const task_topic_t *tt, const rd_kafka_message_t *dr) {
    rd_kafka_headers_t *h;
    const char *name;
    const void *v;
    size_t len;
    if (!tt->route.enabled || rd_kafka_message_headers(dr, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_header_cnt(h) != 1 ||
        rd_kafka_header_get_all(h, 0, &name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR || strcmp(name, KM_PATH_HEADER) != 0)
        return;
    if (t->nspare == t->spare_cap) {
        if (t->spare_cap == KM_TASK_INFLIGHT_MAX_RECORDS) return;
        t->spare_cap = t->spare_cap ? t->spare_cap * 2 : 1024;
        if (t->spare_cap > KM_TASK_INFLIGHT_MAX_RECORDS) t->spare_cap = KM_TASK_INFLIGHT_MAX_RECORDS;
        t->spare = km_xrealloc(t->spare, t->spare_cap * sizeof(*t->spare));
    }
    /* The report is librdkafka's until the callback returns; detaching only moves the list's
     * ownership here, which is what the API is for. */
    rd_kafka_message_detach_headers((rd_kafka_message_t *)dr, &h);
    t->spare[t->nspare++] = h;
}

#define SPARE_TRIM_MS 1000

/* Frees the spare header lists that were not needed since the last trim (a burst of deliveries
 * is over), so they hold memory only while records flow at that rate. */
static void trim_spares(km_task_t *t) {
    int64_t now = km_now_mono_ms();
    if (now < t->spare_trim_at) return;
    t->spare_trim_at = now + SPARE_TRIM_MS;
    for (; t->spare_low > 0; t->spare_low--) rd_kafka_headers_destroy(t->spare[--t->nspare]);
    t->spare_low = t->nspare;
}

static void record_delivered(km_task_t *t, const rd_kafka_message_t *dr) {
    rd_kafka_message_t *src = dr->_private;
    task_topic_t *tt = rd_kafka_topic_opaque(src->rkt);
    task_part_t *p = tt->parts[src->partition];
    p->inflight--;
    t->inflight_msgs--;
    uint32_t size = 0;
    bool known = km_recs_report(&p->recs, src->offset, written(dr) ? dr->offset : -1, &size);
    if (!known) { /* a rewind cleared its entry: its size is worked out again, as at produce() */
        rd_kafka_headers_t *h = NULL;
        size = (uint32_t)record_size(dr, rd_kafka_message_headers(dr, &h) == RD_KAFKA_RESP_ERR_NO_ERROR ? h : NULL);
    }
    t->inflight_bytes -= size;
    bool unconfirmed = !dr->err && !written(dr); /* read again, as a failed one is */
    if (p->first_check >= 0 && written(dr)) {
        if (dr->offset == 0) target_was_empty(t, tt, p);
        p->first_check = -1;
    }
    if (unconfirmed) {
        km_part_delivery_failed(p->stats);
        if (!(t->eos ? t->txn_failed : p->rewind_to >= 0))
            km_warn("flow %s: delivery to %s [%d] at source offset %lld was %s (librdkafka took it for written because a "
                    "later request succeeded); %s",
                    t->flow->name, tt->remote, src->partition, (long long)src->offset, why_unwritten(dr),
                    t->eos ? "aborting the transaction" : "re-reading from there (the target may get duplicates)");
        if (t->eos) t->txn_failed = true;
        else hold(t, p, src->offset);
    } else if (dr->err && t->eos) {
        /* The transaction cannot commit: it is aborted and its partitions re-read. */
        if (dr->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && dr->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
            km_part_delivery_failed(p->stats);
            if (is_fencing(dr->err)) fenced(t, "delivery");
            else if (partition_error(dr->err)) block(t, tt, p, src->offset, dr->err);
            else if (fatal_delivery_error(dr->err))
                fail(t, "cannot write to %s [%d] on %s: %s", tt->remote, src->partition, t->flow->target, rd_kafka_err2str(dr->err));
            else if (!t->txn_failed)
                km_warn("flow %s: delivery to %s [%d] failed at source offset %lld: %s; aborting the transaction",
                        t->flow->name, tt->remote, src->partition, (long long)src->offset, rd_kafka_err2str(dr->err));
            t->txn_failed = true;
        }
    } else if (dr->err) {
        if (dr->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && dr->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
            km_part_delivery_failed(p->stats);
            if (partition_error(dr->err))
                block(t, tt, p, src->offset, dr->err);
            else if (fatal_delivery_error(dr->err))
                fail(t, "cannot write to %s [%d] on %s: %s", tt->remote, src->partition, t->flow->target, rd_kafka_err2str(dr->err));
            else if (p->rewind_to < 0)
                km_warn("flow %s: delivery to %s [%d] failed at source offset %lld: %s; re-reading from there",
                        t->flow->name, tt->remote, src->partition, (long long)src->offset, rd_kafka_err2str(dr->err));
        }
        hold(t, p, src->offset);
    } else if (known) {
        advance_acked(t, tt, p);
    }
    spare_headers(t, tt, dr);
    km_reaper_add(t->reaper, src);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *dr, void *opaque) {
    km_task_t *t = opaque;
    if (dr->rkt == t->offsets_rkt) commit_delivered(t, dr);
    else if (dr->rkt == t->sync_rkt) sync_delivered(t, dr);
    else record_delivered(t, dr);
}

/* ---- partitions ---------------------------------------------------------------------------- */

static task_topic_t *topic_get(km_task_t *t, const char *name, const char *remote) {
    for (size_t i = 0; i < t->ntopics; i++)
        if (strcmp(t->topics[i]->name, name) == 0) return t->topics[i];
    task_topic_t *tt = km_xcalloc(1, sizeof(*tt));
    tt->name = km_xstrdup(name);
    tt->remote = km_xstrdup(remote);
    /* A copy of the consumer's topic defaults: a fresh topic conf would drop the user's
     * topic-level settings, auto.offset.reset above all. */
    rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(t->consumer);
    rd_kafka_topic_conf_set_opaque(tc, tt);
    tt->src_rkt = rd_kafka_topic_new(t->consumer, name, tc);
    tt->dst_rkt = rd_kafka_topic_new(t->producer, remote, NULL);
    km_prov_route_init(&tt->route, t->flow->cfg, t->flow, name, remote);
    pthread_mutex_lock(&t->lock);
    t->topics = km_xrealloc(t->topics, (t->ntopics + 1) * sizeof(*t->topics));
    t->topics[t->ntopics++] = tt;
    pthread_mutex_unlock(&t->lock);
    return tt;
}

static task_part_t *part_add(km_task_t *t, task_topic_t *tt, int32_t partition) {
    pthread_mutex_lock(&t->lock);
    if (partition >= tt->nparts) {
        tt->parts = km_xrealloc(tt->parts, (size_t)(partition + 1) * sizeof(*tt->parts));
        memset(tt->parts + tt->nparts, 0, (size_t)(partition + 1 - tt->nparts) * sizeof(*tt->parts));
        tt->nparts = partition + 1;
    }
    if (!tt->parts[partition]) {
        tt->parts[partition] = km_xcalloc(1, sizeof(task_part_t));
        tt->parts[partition]->stats = km_flow_metrics_part(t->fm, tt->name, tt->remote, partition);
    }
    pthread_mutex_unlock(&t->lock);
    return tt->parts[partition];
}

/* librdkafka 2.0.2 looks up the start offset of an assigned partition without a position
 * (auto.offset.reset) only once it knows the partition's leader, and when it does not at the
 * assignment it retries after a fixed 500 ms, however soon the metadata arrives (rdkafka_partition.c,
 * rd_kafka_toppar_offset_request). A first start paid those 500 ms before the first record; one
 * metadata request first (one topic, or all topics for several) costs a round trip instead. It
 * is waited for no longer than the retry it saves (the task thread does nothing else
 * meanwhile); a failure or a slower answer only leaves it to librdkafka as before. */
#define LEADERS_WAIT_MS 500
static void learn_leaders(km_task_t *t, const rd_kafka_topic_partition_list_t *tl) {
    const char *one = NULL;
    bool several = false, needed = false;
    for (int i = 0; i < tl->cnt; i++) {
        needed |= tl->elems[i].offset < 0;
        if (!one) one = tl->elems[i].topic;
        else several |= strcmp(one, tl->elems[i].topic) != 0;
    }
    if (!needed) return;
    rd_kafka_topic_t *rkt = several ? NULL : rd_kafka_topic_new(t->consumer, one, NULL);
    const rd_kafka_metadata_t *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(t->consumer, several, rkt, &md, LEADERS_WAIT_MS);
    if (!err) rd_kafka_metadata_destroy(md);
    else km_debug("flow %s task %d: source metadata before the assignment: %s", t->flow->name, t->id, rd_kafka_err2str(err));
    if (rkt) rd_kafka_topic_destroy(rkt);
}

static void assign(km_task_t *t, const km_assign_item_t *items, size_t n) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        task_topic_t *tt = topic_get(t, items[i].topic, items[i].remote);
        task_part_t *p = part_add(t, tt, items[i].partition);
        if (p->active) continue;
        p->partition = items[i].partition;
        p->active = true;
        p->acked = p->committed = items[i].position;
        p->acked_ts = items[i].position >= 0 && items[i].position_ts > 0 ? items[i].position_ts : -1;
        /* Not with auto.offset.reset = latest: were the record at the position deleted by
         * retention just up to it, the fetch there would reset past records still to mirror. */
        p->verify_ts = t->reset_earliest ? p->acked_ts : -1;
        p->read_mono = 0;
        p->checked_to = -1;
        p->fetch_gap = -1;
        p->at_end = false;
        p->first_check = t->sync_rk ? items[i].position : -1; /* see target_was_empty */
        p->committing = p->rewind_to = -1;
        km_recs_clear(&p->recs);
        km_syncq_clear(&p->syncs);
        p->blocked_err = 0;
        p->went_back = false;
        p->lso = -1;
        p->paused = false;
        p->backoff_ms = 0;
        km_part_blocked(p->stats, 0, false, -1);
        p->txn_first = p->txn_pos = -1;
        km_sync_writer_init(&p->sw, items[i].position);
        p->expected = items[i].position >= 0 ? items[i].position + 1 : -1;
        km_part_assigned(p->stats, t->id);
        /* With its timestamp known, the last mirrored record is read again first (same_log). */
        int64_t start = p->verify_ts > 0 ? items[i].position
                        : items[i].position >= 0 ? items[i].position + 1
                        : t->reset_earliest ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
        rd_kafka_topic_partition_list_add(tl, items[i].topic, items[i].partition)->offset = start;
        km_debug("flow %s task %d: %s [%d] starts at %s%lld", t->flow->name, t->id, items[i].topic, items[i].partition,
                 start < 0 ? "(no position) " : "offset ", (long long)start);
    }
    if (tl->cnt) learn_leaders(t, tl);
    rd_kafka_error_t *e = tl->cnt ? rd_kafka_incremental_assign(t->consumer, tl) : NULL;
    if (tl->cnt) t->assigned_at = km_now_mono_ms();
    if (e) {
        fail(t, "cannot assign source partitions: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(tl);
}

static void free_items(km_assign_item_t *items, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free((char *)items[i].topic);
        free((char *)items[i].remote);
    }
    free(items);
}

static km_assign_item_t *copy_items(const km_assign_item_t *items, size_t n) {
    km_assign_item_t *c = km_xcalloc(n, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i] = items[i];
        c[i].topic = km_xstrdup(items[i].topic);
        c[i].remote = km_xstrdup(items[i].remote);
    }
    return c;
}

static void apply_mail(km_task_t *t) {
    pthread_mutex_lock(&t->lock);
    km_assign_item_t *mail = t->mail;
    size_t n = t->nmail;
    t->mail = NULL;
    t->nmail = 0;
    atomic_store(&t->has_mail, false);
    pthread_mutex_unlock(&t->lock);
    assign(t, mail, n);
    free_items(mail, n);
}

/* ---- the record path ----------------------------------------------------------------------- */

/* Offsets jump where retention deleted records before they were read (librdkafka then resets
 * to auto.offset.reset and only logs it; the application gets no error), but also over
 * compacted records and transaction markers. Only a log start offset beyond the expected
 * offset says the records are gone. */
static void report_gap(km_task_t *t, task_topic_t *tt, task_part_t *p, int64_t offset) {
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(t->consumer, tt->name, p->partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        lo <= p->expected)
        return;
    uint64_t lost = (uint64_t)(offset - p->expected);
    km_part_skipped(p->stats, lost);
    km_error("flow %s: %s [%d]: %llu record(s) at offsets %lld..%lld were deleted on %s (retention) before they were mirrored; continuing at %lld",
             t->flow->name, tt->name, p->partition, (unsigned long long)lost, (long long)p->expected,
             (long long)offset - 1, t->flow->source, (long long)offset);
}

/* The flow grows a remote topic before it hands the new partitions to the task, but the
 * producer learns of them only at its next metadata refresh, minutes later: ask for the topic
 * now, within admin.timeout.ms. */
static bool await_partition(km_task_t *t, task_topic_t *tt, int32_t partition) {
    int64_t deadline = km_now_mono_ms() + t->flow->s.admin_timeout_ms;
    while (km_now_mono_ms() < deadline && !atomic_load(&t->stop)) {
        const rd_kafka_metadata_t *md;
        if (rd_kafka_metadata(t->producer, 0, tt->dst_rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            bool known = md->topic_cnt == 1 && md->topics[0].partition_cnt > partition;
            rd_kafka_metadata_destroy(md);
            if (known) return true;
        }
        rd_kafka_poll(t->producer, 100);
    }
    return false;
}

static bool producer_fatal(km_task_t *t);

/* A header list holding only the path header with t->path's value: a spare one when there is
 * one (most records of a flow carry the same path, so its value usually stays), else a new one. */
static rd_kafka_headers_t *path_headers(km_task_t *t) {
    rd_kafka_headers_t *h;
    if (t->nspare > 0) {
        h = t->spare[--t->nspare];
        if (t->nspare < t->spare_low) t->spare_low = t->nspare;
        const char *name;
        const void *v;
        size_t len;
        if (rd_kafka_header_get_all(h, 0, &name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && len == t->path.len &&
            memcmp(v, t->path.p, len) == 0)
            return h;
        rd_kafka_header_remove(h, KM_PATH_HEADER);
    } else {
        h = rd_kafka_headers_new(1);
    }
    rd_kafka_header_add(h, KM_PATH_HEADER, sizeof(KM_PATH_HEADER) - 1, t->path.p, (ssize_t)t->path.len);
    return h;
}

/* Produces one consumed record, with its timestamp ts; hdrs are its headers as the message holds them (NULL: none).
 * Returns false when the message was not handed over (the caller still owns it). */
static bool produce(km_task_t *t, rd_kafka_message_t *m, task_topic_t *tt, rd_kafka_headers_t *hdrs, int64_t ts, int64_t *size) {
    if (t->eos && !t->in_txn) {
        rd_kafka_error_t *e = rd_kafka_begin_transaction(t->producer);
        if (e) {
            txn_error(t, "cannot begin a transaction", e);
            t->txn_failed = true;
            return false;
        }
        t->in_txn = true;
    }
    if (hdrs) rd_kafka_message_detach_headers(m, &hdrs);
    if (tt->route.enabled && !hdrs) {
        hdrs = path_headers(t);
        /* record_size() of a list holding the path header alone, without walking it */
        *size = record_size(m, NULL) + (int64_t)(sizeof(KM_PATH_HEADER) - 1 + t->path.len);
    } else {
        if (tt->route.enabled) { /* one path header, the value handle() put in t->path */
            rd_kafka_header_remove(hdrs, KM_PATH_HEADER);
            rd_kafka_header_add(hdrs, KM_PATH_HEADER, sizeof(KM_PATH_HEADER) - 1, t->path.p, (ssize_t)t->path.len);
        }
        *size = record_size(m, hdrs);
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            t->producer, RD_KAFKA_V_RKT(tt->dst_rkt), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
        if (!err) return true;
        /* A full queue is backpressure: serve delivery reports until there is room, unless the
         * task stops (then the record is read again by whoever runs the partition next). */
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !atomic_load(&t->failed) && !atomic_load(&t->stop)) {
            rd_kafka_poll(t->producer, 10);
            continue;
        }
        if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && await_partition(t, tt, m->partition)) continue;
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        task_part_t *p = tt->parts[m->partition];
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) hold(t, p, m->offset);
        else if (partition_error(err) && !t->eos) block(t, tt, p, m->offset, err);
        else if (t->eos && err == RD_KAFKA_RESP_ERR__STATE) t->txn_failed = true; /* re-read after the abort */
        else if (!(err == RD_KAFKA_RESP_ERR__FATAL && producer_fatal(t))) fail(t, "cannot produce to %s [%d]: %s", tt->remote, m->partition, rd_kafka_err2str(err));
        return false;
    }
}

/* The source will not let a partition be read (no READ ACL on its topic). Only that partition
 * waits: librdkafka keeps retrying its fetches, and the first record that arrives and is
 * delivered unblocks it (advance_acked). Nothing was read, so there is nothing to rewind. */
static void source_refused(km_task_t *t, rd_kafka_message_t *m) {
    task_topic_t *tt = m->rkt ? rd_kafka_topic_opaque(m->rkt) : NULL;
    if (!tt) {
        fail(t, "not authorized to read %s on %s: %s", m->rkt ? rd_kafka_topic_name(m->rkt) : "-", t->flow->source,
             rd_kafka_message_errstr(m));
        return;
    }
    for (int j = 0; j < tt->nparts; j++) {
        task_part_t *p = tt->parts[j];
        if (!p || !p->active || (m->partition >= 0 && j != m->partition) || p->blocked_err == m->err || p->went_back) continue;
        km_error("flow %s: not authorized to read %s [%d] on %s (%s): grant READ on topic %s to kmirror's principal "
                 "there; this partition waits, every other one goes on, and it flows again by itself once it can be read",
                 t->flow->name, tt->name, j, t->flow->source, rd_kafka_message_errstr(m), tt->name);
        p->blocked_err = m->err;
        p->blocked_at = p->expected >= 0 ? p->expected : 0;
        km_part_blocked(p->stats, m->err, true, p->blocked_at);
    }
}

static void consumer_error(km_task_t *t, rd_kafka_message_t *m) {
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "-";
    if (m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
        /* librdkafka looks the consumer's group up although kmirror only assigns partitions. */
        fail(t, "not authorized to describe group %s on %s: grant READ on group %s to kmirror's principal there (%s)",
             t->flow->s.group_id, t->flow->source, t->flow->s.group_id, rd_kafka_message_errstr(m));
    } else if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        source_refused(t, m);
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        km_warn("flow %s: source %s: %s", t->flow->name, topic, rd_kafka_message_errstr(m));
    }
}

/* Reads the record's kmirror.path and decides (provenance.h); when it is to be written, the new
 * value is in t->path for produce(). */
static bool path_allows(km_task_t *t, task_topic_t *tt, rd_kafka_headers_t *hdrs) {
    const void *v = NULL;
    size_t len = 0;
    if (!hdrs || rd_kafka_header_get_last(hdrs, KM_PATH_HEADER, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR) v = NULL;
    return km_prov_decide(&tt->route, v, len, &t->path) == KM_PROV_WRITE;
}

/* A record the target must not get is done as soon as the records before it are, so the
 * position moves over it in order (and offset-syncs account for it: offsetsync.h). */
static void skip(km_task_t *t, task_part_t *p, int64_t offset) {
    km_part_path_skipped(p->stats);
    if (p->recs.n > 0) {
        km_recs_push_skipped(&p->recs, offset);
        return;
    }
    p->acked = offset;
    p->acked_ts = -1;
    if (t->sync_rk) km_sync_writer_skip(&p->sw, offset);
}

/* Stops a partition whose source log is not the one its position belongs to: paused, reported
 * blocked by the source with `why`, until its position is reset and it is assigned again. */
static void stop_partition(km_task_t *t, task_topic_t *tt, task_part_t *p, rd_kafka_resp_err_t why) {
    p->went_back = true;
    p->paused = true; /* nothing resumes it: see rewind_failed, bound_syncs */
    p->blocked_err = why;
    p->blocked_at = p->expected;
    km_part_blocked(p->stats, p->blocked_err, true, p->expected);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, tt->name, p->partition);
    rd_kafka_pause_partitions(t->consumer, tl);
    rd_kafka_topic_partition_list_destroy(tl);
}

/* The source handed out an offset below the one expected, which only librdkafka's own reset does
 * (kmirror's seeks set expected): the position was out of range and went to auto.offset.reset.
 * The log went back: the topic was deleted and re-created, or an unclean leader election cut it.
 * Mirroring on would write again records the target has (a cut log), or, were the new log to
 * pass the old position first, skip every record before it (a re-created one); which one it is
 * cannot be told from here. So the partition stops, loudly, until its position is reset. */
static void source_went_back(km_task_t *t, task_topic_t *tt, task_part_t *p, int64_t offset) {
    int64_t lo = -1, hi = -1;
    rd_kafka_get_watermark_offsets(t->consumer, tt->name, p->partition, &lo, &hi);
    km_error("flow %s: %s [%d] on %s went back: the next offset to mirror is %lld, but the source now reads from %lld (its "
             "log holds %lld..%lld): the topic was deleted and re-created, or an unclean leader election cut its log. This "
             "partition stops here, since mirroring on would repeat or skip records; every other one goes on. To mirror it "
             "from its start again: stop kmirror, run `kmirror reset-position CONFIG --source %s --target %s --topic %s "
             "--partition %d`, start kmirror",
             t->flow->name, tt->name, p->partition, t->flow->source, (long long)p->expected, (long long)offset, (long long)lo,
             (long long)hi - 1, t->flow->source, t->flow->target, tt->name, p->partition);
    stop_partition(t, tt, p, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE);
}

/* A start from a position stored with its record's timestamp reads that record again first
 * (assign). The same timestamp: the log is the one mirrored, and the record is not written
 * twice. Another one: the log was replaced under the position (the topic deleted and re-created
 * with at least as many records, or an unclean leader election that wrote others there), and
 * mirroring on would skip the new log's records up to the position; the partition stops, loudly.
 * A record no longer there (compacted, deleted, a transaction marker at the position) tells
 * nothing, and replication goes on as without a timestamp. True when m was that record. */
static bool same_log(km_task_t *t, task_topic_t *tt, task_part_t *p, const rd_kafka_message_t *m) {
    int64_t want = p->verify_ts;
    p->verify_ts = -1;
    km_part_log_checked(p->stats);
    p->expected = p->acked + 1;
    p->read_mono = t->consumed_mono; /* read_again waits for the next idle time */
    p->read_dry = t->dry_polls;
    if (m->offset != p->acked) {
        p->acked_ts = -1; /* gone: not looked for again */
        return false;
    }
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    if (ts == want) return true;
    km_error("flow %s: %s [%d] on %s was replaced: the record at offset %lld, the last one mirrored, had timestamp %lld when "
             "it was mirrored and has %lld now: the topic was deleted and re-created, or an unclean leader election replaced "
             "its log. This partition stops here, since mirroring on from offset %lld would skip the new log's records "
             "before it; every other one goes on. To mirror it from its start: stop kmirror, run `kmirror reset-position "
             "CONFIG --source %s --target %s --topic %s --partition %d`, start kmirror",
             t->flow->name, tt->name, p->partition, t->flow->source, (long long)m->offset, (long long)want, (long long)ts,
             (long long)p->expected, t->flow->source, t->flow->target, tt->name, p->partition);
    stop_partition(t, tt, p, RD_KAFKA_RESP_ERR__INCONSISTENT);
    return true;
}

#define READ_AGAIN_IDLE_MS 500
#define FETCH_GAP_MAX_MS 2000

/* A topic can also be deleted and re-created while kmirror reads it: librdkafka 2.0.2 retries the
 * failed fetches and reads the new log from the old position, without a word to the application.
 * Doing so takes at least a moment in which nothing arrives, so a partition that had nothing new
 * for READ_AGAIN_IDLE_MS is read again from its last mirrored record before its next one is
 * handled (same_log compares it; m is read again after it). True when m waits for that.
 * Across a long link a partition that is behind receives its records once per fetch round
 * trip, its queue running dry in between: a spell must also outlast two of its usual gaps
 * while behind (fetch_gap), else each fetch would be followed by a seek and one more round trip,
 * halving the rate. Gaps longer than FETCH_GAP_MAX_MS are no round trip and are not learned.
 * Nothing new means nothing to fetch: the consumer's queue ran dry since the partition's last
 * record, or the partition was at the end of its log at the last lag measurement. Records that
 * waited in the queue behind others, or while the task was busy (a slow transaction commit), are
 * no such spell, and checking would throw the partition's prefetched records away. Not checked
 * either: anything in flight or in an open transaction (acked must be all that is mirrored), a
 * record the target refuses (its retries keep their backoff), auto.offset.reset = latest (see
 * assign). */
static bool read_again(km_task_t *t, task_part_t *p, const rd_kafka_message_t *m) {
    int64_t idle = p->read_mono > 0 ? t->consumed_mono - p->read_mono : 0;
    bool dried = t->dry_polls > p->read_dry;
    int64_t wait = READ_AGAIN_IDLE_MS + 2 * (p->fetch_gap > 0 ? p->fetch_gap : 0);
    bool held = p->blocked_err || p->paused || p->syncs_paused; /* its gaps are waits, not round trips */
    if (dried && !p->at_end && !held && p->read_mono > 0 && idle <= FETCH_GAP_MAX_MS)
        p->fetch_gap = p->fetch_gap < 0 ? idle : p->fetch_gap + (idle - p->fetch_gap) / 4;
    p->read_mono = t->consumed_mono;
    p->read_dry = t->dry_polls;
    if (idle < wait || !(dried || p->at_end) || p->acked_ts <= 0 || !t->reset_earliest || p->inflight > 0 ||
        p->blocked_err || (t->eos && p->txn_first >= 0) || m->offset <= p->acked || m->offset <= p->checked_to)
        return false;
    p->checked_to = m->offset; /* once: were m's fetch slow, it must not be sent back again */
    p->verify_ts = p->acked_ts;
    p->expected = p->acked; /* nothing counts as sent again */
    hold(t, p, p->acked);
    km_debug("flow %s task %d: %s [%d] had nothing new for %lld ms: reading offset %lld again to check the log", t->flow->name,
             t->id, rd_kafka_topic_name(m->rkt), p->partition, (long long)idle, (long long)p->acked);
    return true;
}

static void handle(km_task_t *t, rd_kafka_message_t *m) {
    if (m->err) {
        consumer_error(t, m);
        rd_kafka_message_destroy(m);
        return;
    }
    int64_t mark = t->read_bytes;
    t->read_bytes += (int64_t)(m->len + m->key_len);
    task_topic_t *tt = rd_kafka_topic_opaque(m->rkt);
    task_part_t *p = tt && m->partition < tt->nparts ? tt->parts[m->partition] : NULL;
    if (!p || !p->active || p->rewind_to >= 0 || p->went_back || atomic_load(&t->failed)) {
        rd_kafka_message_destroy(m); /* re-read after the rewind; or stopped */
        return;
    }
    if (p->verify_ts > 0 && same_log(t, tt, p, m)) {
        rd_kafka_message_destroy(m);
        return;
    }
    if (p->expected >= 0 && m->offset < p->expected) {
        source_went_back(t, tt, p, m->offset);
        rd_kafka_message_destroy(m);
        return;
    }
    if (read_again(t, p, m)) {
        rd_kafka_message_destroy(m);
        return;
    }
    if (t->eos && p->txn_first < 0) p->txn_first = m->offset;
    if (t->txn_failed) {
        rd_kafka_message_destroy(m); /* re-read after the abort, from txn_first */
        return;
    }
    if (p->expected >= 0 && m->offset > p->expected) report_gap(t, tt, p, m->offset);
    p->expected = m->offset + 1;
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    km_part_polled(p->stats, m->len, ts, t->consumed_at);
    /* librdkafka parses a consumed record's headers anew (allocating) on every call, even when
     * there are none: once per record, and not at all where the record's bytes say it has none. */
    rd_kafka_headers_t *hdrs = NULL;
    if ((t->layout_known && km_rk_no_headers(m)) || rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = NULL;
    if (tt->route.enabled && !path_allows(t, tt, hdrs)) {
        skip(t, p, m->offset);
        rd_kafka_message_destroy(m);
        return;
    }
    int64_t size = 0, offset = m->offset;
    if (produce(t, m, tt, hdrs, ts, &size)) {
        km_recs_push(&p->recs, offset, ts, (uint32_t)size, mark);
        p->inflight++;
        t->inflight_msgs++;
        t->inflight_bytes += size;
    } else {
        rd_kafka_message_destroy(m);
    }
}

#define SEEK_TIMEOUT_MS 5000

/* Seeks the source consumer's partitions in tl and waits until the seeks are applied (the
 * consumer's position, which flush_syncs trusts, is stale before); false (the task failed, naming
 * `why`) when one cannot be. librdkafka before 2.1.0 waits a thousandth of the timeout it is
 * given (#4230): a 5 s wait gave up after 5 ms whenever the broker thread was busy, and failed
 * the task. */
static bool seek_source(km_task_t *t, rd_kafka_topic_partition_list_t *tl, const char *why) {
    int wait = rd_kafka_version() < 0x020100ff ? SEEK_TIMEOUT_MS * 1000 : SEEK_TIMEOUT_MS;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(t->consumer, tl, wait);
    if (e) {
        fail(t, "cannot seek the source consumer %s: %s", why, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return false;
    }
    for (int i = 0; i < tl->cnt; i++)
        if (tl->elems[i].err) {
            fail(t, "cannot seek %s [%d] on %s %s: %s", tl->elems[i].topic, tl->elems[i].partition, t->flow->source, why,
                 rd_kafka_err2str(tl->elems[i].err));
            return false;
        }
    return true;
}

/* Partitions whose delivery failed are re-read from the first failed offset once nothing of
 * theirs is in flight any more, so order is kept and nothing is lost. */
static void rewind_failed(km_task_t *t) {
    if (t->rewinds == 0) return;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(4), *pause = NULL, *resume = NULL;
    int64_t now = km_now_mono_ms();
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            task_part_t *p = t->topics[i]->parts[j];
            if (!p || p->rewind_to < 0 || p->inflight > 0) continue;
            if (p->went_back) { /* nothing is read again: the partition stays stopped */
                p->rewind_to = -1;
                t->rewinds--;
                km_recs_clear(&p->recs);
                continue;
            }
            if (p->blocked_err && !p->paused) { /* wait before trying the refused record again */
                p->paused = true;
                p->retry_at = now + p->backoff_ms;
                if (!pause) pause = rd_kafka_topic_partition_list_new(4);
                rd_kafka_topic_partition_list_add(pause, t->topics[i]->name, j);
                continue;
            }
            if (p->blocked_err && now < p->retry_at) continue;
            if (p->paused) {
                p->paused = false;
                p->backoff_ms = p->backoff_ms * 2 < BLOCKED_BACKOFF_MAX_MS ? p->backoff_ms * 2 : BLOCKED_BACKOFF_MAX_MS;
                if (!resume) resume = rd_kafka_topic_partition_list_new(4);
                if (!p->syncs_paused) rd_kafka_topic_partition_list_add(resume, t->topics[i]->name, j);
            }
            rd_kafka_topic_partition_list_add(tl, t->topics[i]->name, j)->offset = p->rewind_to;
            if (p->expected > p->rewind_to) km_part_resent(p->stats, (uint64_t)(p->expected - p->rewind_to));
            p->expected = p->rewind_to;
            p->rewind_to = -1;
            km_recs_clear(&p->recs); /* all reported; from the failed one on they are read again */
            t->rewinds--;
        }
    if (pause) rd_kafka_pause_partitions(t->consumer, pause);
    if (tl->cnt) seek_source(t, tl, "to read again");
    if (resume) rd_kafka_resume_partitions(t->consumer, resume);
    rd_kafka_topic_partition_list_destroy(tl);
    if (pause) rd_kafka_topic_partition_list_destroy(pause);
    if (resume) rd_kafka_topic_partition_list_destroy(resume);
}

/* ---- lag ---------------------------------------------------------------------------------- */

#define WATERMARKS_INTERVAL_MS 1000

/* The consumer's last stable offset per partition: a read_committed consumer reads no further,
 * so records past it are an open source transaction's, not a stall (measure_lag). librdkafka
 * 2.0.2 offers it only in its statistics, read beside the record path (clientstats.h). */
static void take_stable_offsets(km_task_t *t) {
    km_lsos_t *l = km_cstats_take_lsos(t->cstats);
    if (!l) return;
    const char *name = NULL;
    task_topic_t *tt = NULL;
    for (size_t k = 0; k < l->n; k++) {
        const km_lso_t *e = &l->v[k];
        if (e->topic != name) { /* a topic's entries are together */
            name = e->topic;
            tt = NULL;
            for (size_t i = 0; i < t->ntopics && !tt; i++)
                if (strcmp(t->topics[i]->name, name) == 0) tt = t->topics[i];
        }
        if (tt && e->partition < tt->nparts && tt->parts[e->partition]) tt->parts[e->partition]->lso = e->lso;
    }
    km_lsos_free(l);
}

/* Lag needs the source's end offset: the consumer keeps it from its fetch responses, so reading
 * it costs no request. The next offset to mirror is the one after the last acknowledged, or,
 * with no position yet, the log start when replication starts from the earliest record. Where
 * nothing of a partition is in flight or to be read again, the consumer's position counts too
 * (as for flush_syncs): offsets before it that were not mirrored hold nothing to mirror, so a
 * transaction marker at the end of a log is no lag, and no stall. */
static void measure_lag(km_task_t *t) {
    int64_t now = km_now_mono_ms();
    if (now < t->next_watermarks) return;
    t->next_watermarks = now + WATERMARKS_INTERVAL_MS;
    take_stable_offsets(t);
    int64_t wall = km_now_wall_ms();
    rd_kafka_topic_partition_list_t *settled = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            const task_part_t *p = t->topics[i]->parts[j];
            if (p && p->active && !p->went_back && p->inflight == 0 && p->rewind_to < 0 && p->txn_first < 0)
                rd_kafka_topic_partition_list_add(settled, t->topics[i]->name, j);
        }
    if (settled->cnt) rd_kafka_position(t->consumer, settled);
    int k = 0; /* settled lists partitions in this same order (see flush_syncs) */
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            task_part_t *p = t->topics[i]->parts[j];
            const rd_kafka_topic_partition_t *pos = NULL;
            if (k < settled->cnt && settled->elems[k].partition == j && strcmp(settled->elems[k].topic, t->topics[i]->name) == 0)
                pos = &settled->elems[k++];
            int64_t lo, hi;
            if (!p || !p->active || rd_kafka_get_watermark_offsets(t->consumer, t->topics[i]->name, j, &lo, &hi) || hi < 0) continue;
            int64_t next = p->acked >= 0 ? p->acked + 1 : t->reset_earliest && lo >= 0 ? lo : -1;
            if (pos && !pos->err && pos->offset > next) next = pos->offset;
            bool waits = pos && !pos->err && p->lso >= 0 && pos->offset >= p->lso && hi > p->lso;
            p->at_end = next >= 0 && next >= hi;
            km_part_watermarks(p->stats, hi, next, waits, wall, now);
        }
    rd_kafka_topic_partition_list_destroy(settled);
}

/* ---- positions ----------------------------------------------------------------------------- */

/* Pauses a partition whose unwritten offset-syncs reach SYNCS_KEPT_MAX; once half are out it
 * reads on from where it stopped (a partition paused for a refused record is resumed by
 * rewind_failed instead). */
static void bound_syncs(km_task_t *t, const task_topic_t *tt, int32_t j, task_part_t *p, rd_kafka_topic_partition_list_t **pause,
                        rd_kafka_topic_partition_list_t **resume) {
    if (!p->syncs_paused && p->syncs.n >= SYNCS_KEPT_MAX) {
        p->syncs_paused = true;
        km_warn("flow %s: %s [%d]: %zu offset-syncs wait to be written; reading this partition pauses until half of them are",
                t->flow->name, tt->name, j, p->syncs.n);
        if (!*pause) *pause = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(*pause, tt->name, j);
    } else if (p->syncs_paused && p->syncs.n <= SYNCS_KEPT_MAX / 2) {
        p->syncs_paused = false;
        km_info("flow %s: %s [%d]: offset-syncs are written again; reading this partition resumes", t->flow->name, tt->name, j);
        if (p->paused || p->rewind_to >= 0) return;
        if (!*resume) *resume = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(*resume, tt->name, j)->offset = p->expected;
    }
}

/* Applies bound_syncs' decisions: a resumed partition is first sought to the next offset it
 * expects, so that nothing is skipped or read twice whatever the fetcher kept. */
static void pause_resume(km_task_t *t, rd_kafka_topic_partition_list_t *pause, rd_kafka_topic_partition_list_t *resume) {
    if (pause) {
        rd_kafka_pause_partitions(t->consumer, pause);
        rd_kafka_topic_partition_list_destroy(pause);
    }
    if (!resume) return;
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(resume->cnt);
    for (int i = 0; i < resume->cnt; i++)
        if (resume->elems[i].offset >= 0) rd_kafka_topic_partition_list_add(seek, resume->elems[i].topic, resume->elems[i].partition)->offset = resume->elems[i].offset;
    if (seek->cnt) seek_source(t, seek, "to resume reading");
    rd_kafka_resume_partitions(t->consumer, resume);
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(resume);
}

/* Sends the delayed offset-syncs (MM2 does this on every offset commit, KAFKA-15906). Where
 * nothing of a partition is in flight, the consumer's position tells how far the source log is
 * accounted for: offsets between the last record and it (transaction markers, aborted or
 * compacted records) hold nothing to mirror. */
static void flush_syncs(km_task_t *t) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(16), *pause = NULL, *resume = NULL;
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            task_part_t *p = t->topics[i]->parts[j];
            if (p) resend_syncs(t, p);
            if (p) bound_syncs(t, t->topics[i], j, p, &pause, &resume);
            if (p && p->active && p->sw.started && p->inflight == 0 && p->rewind_to < 0)
                rd_kafka_topic_partition_list_add(tl, t->topics[i]->name, j);
        }
    pause_resume(t, pause, resume);
    if (tl->cnt) rd_kafka_position(t->consumer, tl);
    /* tl lists partitions in this same order: a cursor finds each one's position without a
     * search (rd_kafka_topic_partition_list_find is linear: O(P²) per commit) */
    int k = 0;
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            task_part_t *p = t->topics[i]->parts[j];
            rd_kafka_topic_partition_t *pos = NULL;
            if (k < tl->cnt && tl->elems[k].partition == j && strcmp(tl->elems[k].topic, t->topics[i]->name) == 0)
                pos = &tl->elems[k++];
            /* Only once earlier syncs are settled: a flush sync is a hint, the writer marks it sent. */
            if (!p || !p->active || p->syncs.n > 0) continue;
            km_offset_sync_t sync;
            if (km_sync_writer_flush(&p->sw, pos && !pos->err && pos->offset >= 0 ? pos->offset : -1, &sync))
                send_sync(t, t->topics[i]->name, p, &sync);
        }
    rd_kafka_topic_partition_list_destroy(tl);
}

/* A position may only be stored once every offset-sync at or before it is on its cluster:
 * after a crash, translation relies on the syncs of everything that will not be replicated
 * again. A sync that is lost instead would let translation bridge the gap it describes and
 * call the answer exact. */
static int64_t committable(const km_task_t *t, const task_part_t *p) {
    if (!t->sync_rk) return p->acked;
    int64_t pos = km_syncq_bound(&p->syncs, p->acked), covered = km_sync_writer_covered(&p->sw);
    return covered < pos ? covered : pos;
}

/* Queues the position record of partition j of tt. False when it could not be queued.
 * Positions share the producer queue with records: a full one is waited out as produce() does
 * (a commit that gave up there left the other partitions' positions for the next interval). */
static bool queue_position(km_task_t *t, task_topic_t *tt, int32_t j, task_part_t *p, int64_t pos) {
    size_t klen, vlen;
    char *key = km_pos_encode_key(t->flow->source, tt->name, j, &klen);
    char *val = km_pos_encode_value(pos, &vlen);
    commit_ctx_t *c = km_xmalloc(sizeof(*c));
    *c = (commit_ctx_t){p, pos, 0, NULL};
    rd_kafka_headers_t *h = NULL; /* the timestamp is known only for the last acknowledged record */
    if (pos == p->acked && p->acked_ts > 0) {
        char ts[21];
        h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, KM_POS_TS_HEADER, -1, ts, (ssize_t)km_pos_encode_ts(p->acked_ts, ts));
    }
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(t->producer, RD_KAFKA_V_RKT(t->offsets_rkt), RD_KAFKA_V_KEY(key, klen),
                                    RD_KAFKA_V_VALUE(val, vlen), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                    RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
           !atomic_load(&t->failed) && !atomic_load(&t->stop))
        rd_kafka_poll(t->producer, 10);
    free(key); /* librdkafka copies keys; MSG_F_FREE hands over only the value */
    if (err) {
        if (h) rd_kafka_headers_destroy(h);
        free(val);
        free(c);
        km_warn("flow %s: cannot queue position of %s [%d]: %s", t->flow->name, tt->name, j, rd_kafka_err2str(err));
        return false;
    }
    t->commit_inflight++;
    return true;
}

/* Queues the positions that moved. True when some partition's is held back by its
 * offset-syncs in flight: the caller commits again soon, not a whole interval later (a volume
 * commit that came while the first sync was in flight would otherwise wait for the interval). */
static bool commit_positions(km_task_t *t) {
    if (t->sync_rk) flush_syncs(t);
    t->acked_since_commit = 0;
    bool held = false;
    for (size_t i = 0; i < t->ntopics; i++) {
        task_topic_t *tt = t->topics[i];
        for (int j = 0; j < tt->nparts; j++) {
            task_part_t *p = tt->parts[j];
            if (!p) continue;
            int64_t pos = committable(t, p);
            held |= t->sync_rk && km_syncq_bound(&p->syncs, p->acked) < p->acked;
            if (pos <= p->committed || pos == p->committing) continue;
            if (!queue_position(t, tt, j, p, pos)) return held;
            p->committing = pos;
        }
    }
    return held;
}

/* ---- transactions (EOS) -------------------------------------------------------------------- */

static int remaining_ms(const km_task_t *t) {
    int64_t r = atomic_load(&t->stop_deadline) - km_now_mono_ms();
    return r < 0 ? 0 : (int)r;
}

/* How long a commit point may take: the stop deadline when stopping, else admin.timeout.ms. */
static int txn_timeout_ms(const km_task_t *t) {
    if (!atomic_load(&t->stop)) return (int)t->flow->s.admin_timeout_ms;
    return remaining_ms(t) > 0 ? remaining_ms(t) : 1;
}

/* After an abort: every partition read in the transaction goes back to its first offset in it;
 * nothing after its committed position counts as replicated any more. */
static void rewind_txn(km_task_t *t) {
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            task_part_t *p = t->topics[i]->parts[j];
            if (p && p->txn_first >= 0) {
                rd_kafka_topic_partition_list_add(tl, t->topics[i]->name, j)->offset = p->txn_first;
                if (p->expected > p->txn_first) km_part_resent(p->stats, (uint64_t)(p->expected - p->txn_first));
                p->expected = p->txn_first;
                p->acked = p->committed;
                p->acked_ts = -1; /* the committed record's is not known here */
                if (p->blocked_err) hold(t, p, p->txn_first); /* paused and retried like without EOS */
            }
            if (p) km_recs_clear(&p->recs);
            if (p) p->txn_first = p->txn_pos = -1;
        }
    if (tl->cnt) seek_source(t, tl, "after an aborted transaction");
    rd_kafka_topic_partition_list_destroy(tl);
}

/* Aborts the open transaction (if any) and rewinds. An abort that times out is retried at the
 * next commit point; nothing is read meanwhile (handle() drops records while txn_failed). */
static void abort_txn(km_task_t *t) {
    if (t->in_txn) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(t->producer, txn_timeout_ms(t));
        rd_kafka_poll(t->producer, 0); /* the purged records' reports free the source messages */
        if (e) {
            txn_error(t, "cannot abort the transaction", e);
            return;
        }
        km_warn("flow %s task %d: transaction aborted; re-reading its records", t->flow->name, t->id);
    }
    t->in_txn = t->txn_failed = false;
    rewind_txn(t);
}

/* The offset-syncs of every delivered record are on their cluster (or given up on). */
static bool syncs_settled(km_task_t *t) {
    if (!t->sync_rk) return true;
    flush_syncs(t);
    if (rd_kafka_flush(t->sync_rk, txn_timeout_ms(t)) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++)
            if (t->topics[i]->parts[j] && t->topics[i]->parts[j]->syncs.n > 0) return false;
    return true;
}

/* The transaction's positions: every partition at its last delivered record. */
static bool queue_txn_positions(km_task_t *t) {
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            task_part_t *p = t->topics[i]->parts[j];
            int64_t pos = p ? committable(t, p) : -1;
            if (!p || pos <= p->committed) continue;
            if (!queue_position(t, t->topics[i], j, p, pos)) return false;
            p->txn_pos = pos;
        }
    return true;
}

/* A commit whose outcome is unknown (timeout) must be retried, never aborted; when stopping,
 * giving up at the deadline is safe: the next owner's init_transactions settles it, and the
 * positions it then reads are those of whatever was committed. */
static rd_kafka_error_t *commit_with_retries(km_task_t *t) {
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(t->producer, txn_timeout_ms(t));
        if (!e || !rd_kafka_error_is_retriable(e) || (atomic_load(&t->stop) && remaining_ms(t) == 0)) return e;
        km_warn("flow %s task %d: committing the transaction: %s; retrying", t->flow->name, t->id, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

/* The EOS commit point: deliver the transaction's records, settle their offset-syncs, add the
 * positions, commit. Anything failing before the commit aborts. */
static void commit_txn(km_task_t *t) {
    if (!t->in_txn && !t->txn_failed) {
        if (t->sync_rk) flush_syncs(t); /* trailing transaction markers upstream */
        return;
    }
    if (!t->txn_failed && (rd_kafka_flush(t->producer, txn_timeout_ms(t)) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                           t->txn_failed || !syncs_settled(t) || !queue_txn_positions(t)))
        t->txn_failed = true;
    if (t->txn_failed) {
        abort_txn(t);
        return;
    }
    rd_kafka_error_t *e = commit_with_retries(t);
    if (e) {
        bool abort = rd_kafka_error_txn_requires_abort(e);
        txn_error(t, "cannot commit the transaction", e);
        if (abort) abort_txn(t);
        return;
    }
    t->in_txn = false;
    for (size_t i = 0; i < t->ntopics; i++)
        for (int j = 0; j < t->topics[i]->nparts; j++) {
            task_part_t *p = t->topics[i]->parts[j];
            if (p && p->txn_pos >= 0) p->committed = p->txn_pos;
            if (p) p->txn_first = p->txn_pos = -1;
        }
}

/* ---- thread -------------------------------------------------------------------------------- */

/* At-least-once stop: deliver, settle the offset-syncs, commit the positions. */
static void drain_positions(km_task_t *t) {
    if (rd_kafka_flush(t->producer, remaining_ms(t)) != RD_KAFKA_RESP_ERR_NO_ERROR)
        km_warn("flow %s task %d: %lld record(s) %s", t->flow->name, t->id, (long long)t->inflight_msgs,
                t->restartable ? "not acknowledged by its fatal producer; the task started again writes them again"
                               : "still in flight at the shutdown deadline; they will be replicated again after restart");
    /* Twice: a sync that failed in the first round is sent again in the second. */
    for (int round = 0; t->sync_rk && round < 2 && !rd_kafka_fatal_error(t->sync_rk, NULL, 0); round++) {
        flush_syncs(t);
        rd_kafka_flush(t->sync_rk, remaining_ms(t) > 0 ? remaining_ms(t) : 1000);
    }
    if (!atomic_load(&t->failed) || t->inflight_msgs == 0) {
        commit_positions(t);
        rd_kafka_flush(t->producer, remaining_ms(t) > 0 ? remaining_ms(t) : 1000);
    }
}

/* Stop: no more fetching; deliver what is in flight, commit, and only then let go of the
 * consumed messages — if the deadline passes, purge (those records are re-read next time). */
static void drain(km_task_t *t) {
    if (t->eos) {
        if (!atomic_load(&t->fenced) && !atomic_load(&t->failed)) commit_txn(t);
    } else {
        drain_positions(t);
    }
    rd_kafka_purge(t->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(t->producer, 0);
    if (t->sync_producer) {
        rd_kafka_purge(t->sync_producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(t->sync_producer, 0);
    }
    if (t->commit_inflight > 0 && !t->eos)
        km_warn("flow %s task %d: %lld position commit(s) not acknowledged at shutdown", t->flow->name, t->id, (long long)t->commit_inflight);
}

/* librdkafka writes the eventfd when a queue that was served becomes non-empty: fetched
 * records, delivery reports. Waiting on it instead of in rd_kafka_consume_batch_queue (which
 * waits out its whole timeout unless the batch fills) lets a record or an acknowledgement that
 * arrives be handled at once; the timeout only paces the timers (commits, lag, mail, stop). */
static void enable_wakeups(km_task_t *t) {
    static const uint64_t one = 1;
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->wake_fd < 0) return; /* then the loop just sleeps its timeout */
    rd_kafka_queue_io_event_enable(t->queue, t->wake_fd, &one, sizeof(one));
    rd_kafka_t *producers[] = {t->producer, t->sync_producer};
    for (size_t i = 0; i < 2; i++) {
        if (!producers[i]) continue;
        rd_kafka_queue_t *q = rd_kafka_queue_get_main(producers[i]);
        rd_kafka_queue_io_event_enable(q, t->wake_fd, &one, sizeof(one));
        rd_kafka_queue_destroy(q);
    }
}

static void wait_for_work(km_task_t *t, int timeout_ms) {
    struct pollfd pfd = {.fd = t->wake_fd, .events = POLLIN};
    if (t->wake_fd < 0 || poll(&pfd, 1, timeout_ms) <= 0) {
        if (t->wake_fd < 0) rd_kafka_poll(t->producer, timeout_ms);
        return;
    }
    uint64_t v;
    if (read(t->wake_fd, &v, sizeof(v)) < 0) return; /* EAGAIN: another wake-up was already read */
}

static size_t partitions_of(const km_task_t *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->ntopics; i++) n += (size_t)t->topics[i]->nparts;
    return n;
}

/* A fatal producer writes nothing more, so the task fails; the flow starts it again with new
 * clients (flow.c, restart_task). librdkafka 2.0.2's idempotent producer gets there after
 * ordinary broker faults (#4438). An offset-syncs producer can only get there when its
 * idempotence was asked for (offset-syncs producer keys); the positions would wait for syncs
 * that can no longer be written. */
static bool producer_fatal(km_task_t *t) {
    rd_kafka_t *rks[] = {t->producer, t->sync_producer};
    const char *what[] = {"fatal producer error", "fatal offset-syncs producer error"};
    for (size_t i = 0; i < 2; i++) {
        char buf[512];
        rd_kafka_resp_err_t fe = rks[i] ? rd_kafka_fatal_error(rks[i], buf, sizeof(buf)) : 0;
        if (!fe) continue;
        if (i == 0 && t->eos && is_fencing(fe)) fenced(t, buf);
        else fail_restartable(t, what[i], buf);
        return true;
    }
    return false;
}

static void *task_main(void *arg) {
    km_task_t *t = arg;
    rd_kafka_message_t **batch = km_xmalloc(BATCH_MAX * sizeof(*batch));
    t->next_commit = km_now_mono_ms() + t->flow->s.offset_flush_interval_ms;
    while (!atomic_load(&t->stop)) {
        if (atomic_load(&t->has_mail)) apply_mail(t);
        measure_lag(t);
        trim_spares(t);
        if (producer_fatal(t)) break;
        /* Over budget: wait for acknowledgements (a task with nothing in flight may still go on,
         * so one task cannot starve the others). */
        if ((t->inflight_bytes > 0 && inflight_room(t) < 0) ||
            t->inflight_msgs > KM_TASK_INFLIGHT_MAX_RECORDS) {
            int64_t t0 = km_now_mono_us();
            rd_kafka_poll(t->producer, 5);
            publish_inflight(t);
            km_reaper_tick(t->reaper);
            km_task_slot_budget_wait(t->slot, km_now_mono_us() - t0);
            continue;
        }
        ssize_t n = rd_kafka_consume_batch_queue(t->queue, 0, batch, batch_max(t));
        if (n > 0) {
            t->consumed_at = km_now_wall_ms();
            t->consumed_mono = km_now_mono_ms();
            int64_t bytes = 0, keys = 0;
            for (ssize_t i = 0; i < n; i++) {
                bytes += (int64_t)batch[i]->len;
                keys += (int64_t)batch[i]->key_len;
            }
            int64_t avg = (bytes + keys) / n;
            t->avg_read = t->avg_read ? t->avg_read + (avg - t->avg_read) / 8 : avg;
            km_fetchwake_observe(t->fetchwake, rd_kafka_queue_length(t->queue), n, bytes);
        } else if (n == 0) {
            t->dry_polls++;
        }
        for (ssize_t i = 0; i < n; i++) handle(t, batch[i]);
        int served = rd_kafka_poll(t->producer, 0);
        publish_inflight(t);
        km_reaper_tick(t->reaper);
        if (t->sync_producer) served += rd_kafka_poll(t->sync_producer, 0);
        if (n <= 0 && served == 0) wait_for_work(t, 10);
        rewind_failed(t);
        if (km_now_mono_ms() >= t->next_commit || t->txn_failed ||
            (!t->eos && t->acked_since_commit >= t->flow->s.offset_flush_records)) {
            bool held = false;
            int64_t t0 = km_now_mono_us();
            if (t->eos) commit_txn(t);
            else held = commit_positions(t);
            /* The step grows with the task's partitions (issue 14 asked its cost at 2,048). */
            km_debug("flow %s task %d: position commit step %.2f ms over %zu partition(s)", t->flow->name, t->id,
                     (double)(km_now_mono_us() - t0) / 1000.0, partitions_of(t));
            int64_t wait = t->flow->s.offset_flush_interval_ms;
            if (held && wait > HELD_RETRY_MS) wait = HELD_RETRY_MS;
            t->next_commit = km_now_mono_ms() + wait;
        }
    }
    free(batch);
    stop_by(t, km_now_mono_ms() + t->flow->s.shutdown_timeout_ms);
    drain(t);
    km_reaper_flush(t->reaper);
    /* The task's share leaves the process's budget with it, whatever drain() delivered or
     * purged: left there, it would hold the other tasks back for good. */
    km_flow_metrics_inflight_add(t->fm, -t->published_bytes);
    t->published_bytes = 0;
    return NULL;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static bool reset_is_earliest(const km_props_t *rk) {
    const char *v = km_props_get(rk, "auto.offset.reset");
    return !v || !(strcmp(v, "latest") == 0 || strcmp(v, "largest") == 0 || strcmp(v, "end") == 0);
}

static int create_sync_producer(km_task_t *t, char *errstr, size_t errlen) {
    const km_flow_t *f = t->flow;
    if (f->s.offset_syncs_location == KM_SYNCS_ON_TARGET) {
        t->sync_rk = t->producer;
    } else {
        rd_kafka_conf_t *c = km_rk_conf(&f->rk_source_producer, errstr, errlen);
        if (!c) return -1;
        rd_kafka_conf_set(c, "allow.auto.create.topics", "false", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        rd_kafka_conf_set_opaque(c, t);
        t->sync_producer = km_rk_new(RD_KAFKA_PRODUCER, c, errstr, errlen);
        if (!t->sync_producer) return -1;
        t->sync_rk = t->sync_producer;
    }
    t->sync_rkt = rd_kafka_topic_new(t->sync_rk, f->s.offset_syncs_topic, NULL);
    return 0;
}

/* librdkafka's statistics tell broker connectivity and produce retries (metrics.h). */
#define CLIENT_STATS_INTERVAL "5000"

/* Runs on the task thread (the consumer's statistics come through its queue, the producer's
 * through the polls of its main queue), or on the flow's while the clients close: hands the
 * document to the reader (clientstats.h) and keeps the record path going. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    km_task_t *t = opaque;
    return km_cstats_offer(t->cstats, rk == t->producer, json, len) ? 1 : 0; /* 0: stopping, librdkafka frees it */
}

static void enable_stats(rd_kafka_conf_t *c, const km_props_t *props, km_task_t *t) {
    if (!km_props_get(props, "statistics.interval.ms")) rd_kafka_conf_set(c, "statistics.interval.ms", CLIENT_STATS_INTERVAL, NULL, 0);
    rd_kafka_conf_set_stats_cb(c, stats_cb);
    rd_kafka_conf_set_opaque(c, t);
}

static int64_t conf_ll(const rd_kafka_conf_t *c, const char *key) {
    char buf[32];
    size_t len = sizeof(buf);
    return rd_kafka_conf_get(c, key, buf, &len) == RD_KAFKA_CONF_OK ? strtoll(buf, NULL, 10) : 0;
}

/* The target producer; transactional (and initialised, fencing any previous owner of the task)
 * when `transactional`. */
static int create_producer(km_task_t *t, bool transactional, char *errstr, size_t errlen) {
    const km_flow_t *f = t->flow;
    rd_kafka_conf_t *pc = km_rk_conf(t->rk_producer, errstr, errlen);
    if (!pc) return -1;
    /* A record for a remote topic that does not exist yet must not auto-create it with the
     * broker's default partition count: admin.c creates it properly first. */
    rd_kafka_conf_set(pc, "allow.auto.create.topics", "false", NULL, 0);
    if (transactional) {
        char *txid = km_xasprintf("%s-kmirror-%s-%d", f->s.group_id, f->name, t->id);
        rd_kafka_conf_res_t r = rd_kafka_conf_set(pc, "transactional.id", txid, errstr, errlen);
        free(txid);
        if (r != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(pc);
            return -1;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    enable_stats(pc, t->rk_producer, t);
    t->producer = km_rk_new(RD_KAFKA_PRODUCER, pc, errstr, errlen);
    if (!t->producer) return -1;
    /* as librdkafka took it: an idempotent producer lowers its default to 5 */
    km_flow_metrics_produce_requests(t->fm, conf_ll(rd_kafka_conf(t->producer), "max.in.flight"));
    rd_kafka_error_t *e = transactional ? rd_kafka_init_transactions(t->producer, (int)f->s.admin_timeout_ms) : NULL;
    if (e) {
        snprintf(errstr, errlen, "cannot initialise transactions on %s: %s", f->target, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_destroy(t->producer);
        t->producer = NULL;
        return -1;
    }
    return 0;
}

/* exactly.once.support=requested falls back to at-least-once when the target cannot do
 * transactions (authorization, broker version); required does not. */
static int create_target_producer(km_task_t *t, char *errstr, size_t errlen) {
    const km_flow_t *f = t->flow;
    t->eos = f->s.exactly_once != KM_EOS_DISABLED;
    if (create_producer(t, t->eos, errstr, errlen) == 0) return 0;
    if (f->s.exactly_once != KM_EOS_REQUESTED) return -1;
    km_warn("flow %s task %d: %s; exactly.once.support=requested, so replicating at-least-once", f->name, t->id, errstr);
    t->eos = false;
    return create_producer(t, false, errstr, errlen);
}

static int create_clients(km_task_t *t, char *errstr, size_t errlen) {
    const km_flow_t *f = t->flow;
    if (create_target_producer(t, errstr, errlen) != 0) return -1;
    /* Java's producer places keyed records with murmur2; Connect readers find positions there. */
    rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(t->producer);
    rd_kafka_topic_conf_set(tc, "partitioner", "murmur2_random", NULL, 0);
    t->offsets_rkt = rd_kafka_topic_new(t->producer, f->s.offsets_topic, tc);

    rd_kafka_conf_t *cc = km_rk_conf(t->rk_consumer, errstr, errlen);
    if (!cc) return -1;
    /* assign() needs a group id; kmirror never joins or commits to it. */
    if (!km_props_get(t->rk_consumer, "group.id")) rd_kafka_conf_set(cc, "group.id", f->s.group_id, NULL, 0);
    rd_kafka_conf_set(cc, "enable.partition.eof", "false", NULL, 0);
    rd_kafka_conf_set(cc, "enable.auto.offset.store", "false", NULL, 0);
    /* Records of aborted source transactions must not become committed copies. */
    if (t->eos) rd_kafka_conf_set(cc, "isolation.level", "read_committed", NULL, 0);
    enable_stats(cc, t->rk_consumer, t);
    int64_t max_records = conf_ll(cc, "queued.min.messages"), max_kbytes = conf_ll(cc, "queued.max.messages.kbytes");
    t->fetch_max = conf_ll(cc, "fetch.max.bytes");
    t->consumer = km_rk_new(RD_KAFKA_CONSUMER, cc, errstr, errlen);
    if (!t->consumer) return -1;
    rd_kafka_poll_set_consumer(t->consumer);
    t->queue = rd_kafka_queue_get_consumer(t->consumer);
    t->fetchwake = km_fetchwake_new(t->consumer, t->name, max_records, max_kbytes);
    if (f->s.emit_offset_syncs_enabled && create_sync_producer(t, errstr, errlen) != 0) return -1;
    enable_wakeups(t);
    return 0;
}

km_task_t *km_task_start(const km_flow_t *flow, const km_props_t *consumer, const km_props_t *producer, int64_t inflight_max,
                         km_flow_metrics_t *fm, int id, const km_assign_item_t *items, size_t n, char *errstr, size_t errlen) {
    km_task_t *t = km_xcalloc(1, sizeof(*t));
    t->wake_fd = -1;
    t->flow = flow;
    t->rk_consumer = consumer;
    t->rk_producer = producer;
    t->inflight_max = inflight_max;
    t->fm = fm;
    t->slot = km_flow_metrics_task(fm, id);
    t->id = id;
    t->name = km_xasprintf("flow %s task %d", flow->name, id);
    pthread_mutex_init(&t->lock, NULL);
    t->reset_earliest = reset_is_earliest(consumer);
    t->layout_known = km_rk_fetch_layout_known();
    t->reaper = km_reaper_new(t->name);
    t->cstats = km_cstats_start(t->slot); /* before the clients, whose statistics callback needs it */
    if (!t->cstats) {
        snprintf(errstr, errlen, "cannot start the thread that reads its clients' statistics");
        km_task_free(t);
        return NULL;
    }
    if (create_clients(t, errstr, errlen) != 0) {
        km_task_free(t);
        return NULL;
    }
    if (n) km_task_add(t, items, n);
    km_task_slot_started(t->slot); /* before the thread: it reports into the slot */
    if (pthread_create(&t->thread, NULL, task_main, t) != 0) {
        snprintf(errstr, errlen, "cannot start a thread");
        km_task_slot_stopped(t->slot);
        km_task_free(t);
        return NULL;
    }
    t->started = true;
    return t;
}

void km_task_add(km_task_t *t, const km_assign_item_t *items, size_t n) {
    km_assign_item_t *c = copy_items(items, n);
    pthread_mutex_lock(&t->lock);
    t->mail = km_xrealloc(t->mail, (t->nmail + n) * sizeof(*t->mail));
    memcpy(t->mail + t->nmail, c, n * sizeof(*c));
    t->nmail += n;
    atomic_store(&t->has_mail, true);
    pthread_mutex_unlock(&t->lock);
    free(c);
}

void km_task_request_stop(km_task_t *t) {
    stop_by(t, km_now_mono_ms() + t->flow->s.shutdown_timeout_ms);
    atomic_store(&t->stop, true);
}

void km_task_syncs_ready(km_task_t *t) { atomic_store_explicit(&t->syncs_ready, true, memory_order_release); }

bool km_task_failed(const km_task_t *t) { return atomic_load(&t->failed); }

bool km_task_restartable(const km_task_t *t) { return atomic_load(&t->failed) && t->restartable; }

bool km_task_fenced(const km_task_t *t) { return atomic_load(&t->fenced); }

const char *km_task_fail_reason(const km_task_t *t) { return atomic_load(&t->failed) ? t->fail_reason : NULL; }

int km_task_join(km_task_t *t, const char **reason) {
    if (t->started) {
        pthread_join(t->thread, NULL);
        km_task_slot_stopped(t->slot);
    }
    km_fetchwake_free(t->fetchwake);
    t->fetchwake = NULL;
    t->started = false;
    if (reason) *reason = t->fail_reason;
    return atomic_load(&t->failed) ? -1 : 0;
}

void km_task_free(km_task_t *t) {
    if (!t) return;
    if (t->started) {
        km_task_request_stop(t);
        pthread_join(t->thread, NULL);
        km_task_slot_stopped(t->slot);
    }
    km_fetchwake_free(t->fetchwake);
    for (size_t i = 0; i < t->ntopics; i++) {
        task_topic_t *tt = t->topics[i];
        if (tt->src_rkt) rd_kafka_topic_destroy(tt->src_rkt);
        if (tt->dst_rkt) rd_kafka_topic_destroy(tt->dst_rkt);
        for (int j = 0; j < tt->nparts; j++) {
            if (tt->parts[j]) {
                km_part_assigned(tt->parts[j]->stats, -1);
                km_recs_free(&tt->parts[j]->recs);
                km_syncq_free(&tt->parts[j]->syncs);
            }
            free(tt->parts[j]);
        }
        free(tt->parts);
        km_prov_route_free(&tt->route);
        free(tt->name);
        free(tt->remote);
        free(tt);
    }
    free(t->topics);
    free_items(t->mail, t->nmail);
    if (t->offsets_rkt) rd_kafka_topic_destroy(t->offsets_rkt);
    if (t->sync_rkt) rd_kafka_topic_destroy(t->sync_rkt);
    if (t->sync_producer) rd_kafka_destroy(t->sync_producer);
    if (t->producer) rd_kafka_destroy(t->producer);
    km_reaper_free(t->reaper); /* every source message gone before the consumer closes */
    if (t->queue) rd_kafka_queue_destroy(t->queue);
    if (t->consumer) {
        /* librdkafka 2.0.2 leaks a partition (and its topic) that is still starting to fetch when
         * the consumer closes (librdkafka #1983): partitions handed to a task right before it
         * stops (a reload, a rebalance) are given that moment first. */
        for (int64_t left; (left = t->assigned_at + ASSIGN_SETTLE_MS - km_now_mono_ms()) > 0;) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(t->consumer, (int)left);
            if (m) rd_kafka_message_destroy(m); /* read again by whoever runs the partition next */
        }
        rd_kafka_consumer_close(t->consumer);
        rd_kafka_destroy(t->consumer);
    }
    if (t->wake_fd >= 0) close(t->wake_fd); /* after the clients: librdkafka writes it until destroyed */
    km_cstats_stop(t->cstats);              /* after the clients too: their last statistics reach the slot */
    pthread_mutex_destroy(&t->lock);
    free(t->fail_reason);
    free(t->path.p);
    for (size_t i = 0; i < t->nspare; i++) rd_kafka_headers_destroy(t->spare[i]);
    free(t->spare);
    free(t->name);
    free(t);
}
