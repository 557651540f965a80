/* topicsync.c — see topicsync.h. */
#include "topicsync.h"

#include "admin.h"
#include "log.h"
#include "rk.h"
#include "topics.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- decisions ------------------------------------------------------------------------------- */

size_t km_configs_to_mirror(const km_pattern_t *exclude, bool use_source_defaults, const km_topic_config_t *in,
                            size_t n, const km_topic_config_t ***out) {
    *out = km_xcalloc(n ? n : 1, sizeof(**out));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const km_topic_config_t *c = &in[i];
        if (c->read_only || c->sensitive || !c->value || km_pattern_match(exclude, c->name) != 0) continue;
        if (!use_source_defaults && c->source != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) continue;
        if (c->source == RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG) continue; /* the source broker's file, not the topic */
        (*out)[k++] = c;
    }
    return k;
}

size_t km_acls_to_mirror(const km_flow_t *f, const km_acl_t *in, size_t n, km_acl_t **out) {
    *out = km_xcalloc(n ? n : 1, sizeof(**out));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const km_acl_t *a = &in[i];
        if (a->resource_type != RD_KAFKA_RESOURCE_TOPIC || a->pattern_type != RD_KAFKA_RESOURCE_PATTERN_LITERAL) continue;
        if (!km_topic_selected(&f->s, f->target, a->name)) continue;
        bool allow = a->permission == RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW;
        if (allow && a->operation == RD_KAFKA_ACL_OPERATION_WRITE) continue;
        /* DENY WRITE for User:* is `kmirror failover --fence`: copied, it would deny the mirror's
         * own producer on the remote topic, and after the failover B's producers too. */
        if (!allow && a->operation == RD_KAFKA_ACL_OPERATION_WRITE && strcmp(a->principal, "User:*") == 0) continue;
        km_acl_t *o = &(*out)[k++];
        *o = *a;
        o->name = km_policy_format_remote_topic(&f->s.policy, f->source, a->name);
        o->principal = km_xstrdup(a->principal);
        o->host = km_xstrdup(a->host);
        if (allow && a->operation == RD_KAFKA_ACL_OPERATION_ALL) o->operation = RD_KAFKA_ACL_OPERATION_READ;
    }
    return k;
}

void km_acls_free(km_acl_t *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(a[i].name);
        free(a[i].principal);
        free(a[i].host);
    }
    free(a);
}

void km_topic_configs_free(km_topic_config_t *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].value);
    }
    free(c);
}

/* ---- admin ----------------------------------------------------------------------------------- */

int km_topicsync_describe(rd_kafka_t *rk, const char *topic, int timeout_ms, const _Atomic bool *cancel,
                          km_topic_config_t **out, size_t *n, char *errstr, size_t errlen) {
    *out = NULL;
    *n = 0;
    rd_kafka_ConfigResource_t *r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = km_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
    rd_kafka_DescribeConfigs(rk, &r, 1, o, q);
    rd_kafka_ConfigResource_destroy(r);
    rd_kafka_event_t *ev = km_admin_await(q, timeout_ms, cancel, errstr, errlen);
    int rc = -1;
    if (ev) {
        size_t cnt, ne;
        const rd_kafka_ConfigResource_t **res =
            rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt);
        if (cnt != 1 || rd_kafka_ConfigResource_error(res[0])) {
            snprintf(errstr, errlen, "%s", cnt ? rd_kafka_ConfigResource_error_string(res[0]) : "empty answer");
        } else {
            const rd_kafka_ConfigEntry_t **e = rd_kafka_ConfigResource_configs(res[0], &ne);
            *out = km_xcalloc(ne ? ne : 1, sizeof(**out));
            for (size_t i = 0; i < ne; i++) {
                const char *v = rd_kafka_ConfigEntry_value(e[i]);
                (*out)[i] = (km_topic_config_t){km_xstrdup(rd_kafka_ConfigEntry_name(e[i])), v ? km_xstrdup(v) : NULL,
                                                rd_kafka_ConfigEntry_source(e[i]), rd_kafka_ConfigEntry_is_read_only(e[i]),
                                                rd_kafka_ConfigEntry_is_sensitive(e[i])};
            }
            *n = ne;
            rc = 0;
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

int km_topicsync_alter(rd_kafka_t *rk, const char *topic, const km_topic_config_t *const *c, size_t n, int timeout_ms,
                       const _Atomic bool *cancel, char *errstr, size_t errlen) {
    rd_kafka_ConfigResource_t *r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    for (size_t i = 0; i < n; i++) rd_kafka_ConfigResource_set_config(r, c[i]->name, c[i]->value);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = km_admin_options(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, timeout_ms);
    rd_kafka_AlterConfigs(rk, &r, 1, o, q);
    rd_kafka_ConfigResource_destroy(r);
    rd_kafka_event_t *ev = km_admin_await(q, timeout_ms, cancel, errstr, errlen);
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_ConfigResource_t **res = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &cnt);
        if (cnt == 1 && !rd_kafka_ConfigResource_error(res[0])) rc = 0;
        else snprintf(errstr, errlen, "%s", cnt ? rd_kafka_ConfigResource_error_string(res[0]) : "empty answer");
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

int km_topicsync_describe_acls(rd_kafka_t *rk, int timeout_ms, const _Atomic bool *cancel, km_acl_t **out, size_t *n,
                               char *errstr, size_t errlen) {
    *out = NULL;
    *n = 0;
    rd_kafka_AclBindingFilter_t *f = rd_kafka_AclBindingFilter_new(
        RD_KAFKA_RESOURCE_TOPIC, NULL, RD_KAFKA_RESOURCE_PATTERN_LITERAL, NULL, NULL, RD_KAFKA_ACL_OPERATION_ANY,
        RD_KAFKA_ACL_PERMISSION_TYPE_ANY, errstr, errlen);
    if (!f) return -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = km_admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBEACLS, timeout_ms);
    rd_kafka_DescribeAcls(rk, f, o, q);
    rd_kafka_AclBinding_destroy(f);
    rd_kafka_event_t *ev = km_admin_await(q, timeout_ms, cancel, errstr, errlen);
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_AclBinding_t **b = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &cnt);
        *out = km_xcalloc(cnt ? cnt : 1, sizeof(**out));
        for (size_t i = 0; i < cnt; i++)
            (*out)[i] = (km_acl_t){km_xstrdup(rd_kafka_AclBinding_name(b[i])), km_xstrdup(rd_kafka_AclBinding_principal(b[i])),
                                   km_xstrdup(rd_kafka_AclBinding_host(b[i])), rd_kafka_AclBinding_restype(b[i]),
                                   rd_kafka_AclBinding_resource_pattern_type(b[i]), rd_kafka_AclBinding_operation(b[i]),
                                   rd_kafka_AclBinding_permission_type(b[i])};
        *n = cnt;
        rc = 0;
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

int km_topicsync_create_acls(rd_kafka_t *rk, const km_acl_t *a, size_t n, int timeout_ms, const _Atomic bool *cancel,
                             char *errstr, size_t errlen) {
    if (n == 0) return 0;
    rd_kafka_AclBinding_t **b = km_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < n; i++)
        b[i] = rd_kafka_AclBinding_new(a[i].resource_type, a[i].name, a[i].pattern_type, a[i].principal, a[i].host,
                                       a[i].operation, a[i].permission, NULL, 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = km_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATEACLS, timeout_ms);
    rd_kafka_CreateAcls(rk, b, n, o, q);
    rd_kafka_AclBinding_destroy_array(b, n);
    free(b);
    rd_kafka_event_t *ev = km_admin_await(q, timeout_ms, cancel, errstr, errlen);
    int rc = -1;
    if (ev) {
        size_t cnt;
        const rd_kafka_acl_result_t **r = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &cnt);
        rc = 0;
        for (size_t i = 0; i < cnt; i++)
            if (rd_kafka_acl_result_error(r[i])) {
                snprintf(errstr, errlen, "%s", rd_kafka_error_string(rd_kafka_acl_result_error(r[i])));
                rc = -1;
            }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* ---- the flow's periodic sync ------------------------------------------------------------------ */

/* Its own thread and admin clients: a cluster that does not answer config or ACL requests (or
 * librdkafka's mock, which cannot) must hold up neither replication nor the flow's ticks. */
struct km_topicsync {
    const km_flow_t *flow;
    rd_kafka_t *src, *dst; /* the flow's admin clients, borrowed */
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    pthread_mutex_t lock; /* guards topics */
    char **topics;
    size_t ntopics;
    int64_t next_configs, next_acls;
    bool acls_unsupported; /* the source has no authorizer: said once, not tried again */
};

static bool use_source_defaults(const km_flow_t *f) {
    const char *v = km_props_get(&f->config, "use.defaults.from");
    return v && strcmp(v, "source") == 0;
}

/* Bounded so that a stop never waits a full admin.timeout.ms for a silent cluster. */
static int sync_timeout_ms(const km_flow_t *f) {
    return f->s.admin_timeout_ms < 10000 ? (int)f->s.admin_timeout_ms : 10000;
}

size_t km_topicsync_creation_configs(const km_flow_t *f, rd_kafka_t *src, const char *topic, int timeout_ms, char ***pairs) {
    *pairs = NULL;
    km_topic_config_t *c;
    size_t n;
    char err[512];
    if (km_topicsync_describe(src, topic, timeout_ms, NULL, &c, &n, err, sizeof(err)) != 0) {
        km_warn("flow %s: cannot read the configuration of %s on %s (%s); its remote topic gets the target's defaults",
                f->name, topic, f->source, err);
        return 0;
    }
    const km_topic_config_t **keep;
    size_t k = km_configs_to_mirror(f->s.config_exclude, use_source_defaults(f), c, n, &keep);
    *pairs = km_xcalloc(2 * k + 1, sizeof(char *));
    for (size_t i = 0; i < k; i++) {
        (*pairs)[2 * i] = km_xstrdup(keep[i]->name);
        (*pairs)[2 * i + 1] = km_xstrdup(keep[i]->value);
    }
    free(keep);
    km_topic_configs_free(c, n);
    return k;
}

/* The dynamic configs of the target topic equal the mirrored set already: no write. */
static bool same_configs(const km_topic_config_t *const *want, size_t k, const km_topic_config_t *have, size_t m) {
    size_t dynamic = 0;
    for (size_t j = 0; j < m; j++) dynamic += have[j].source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
    if (dynamic != k) return false;
    for (size_t i = 0; i < k; i++) {
        bool found = false;
        for (size_t j = 0; j < m && !found; j++)
            found = have[j].source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG && strcmp(have[j].name, want[i]->name) == 0 &&
                    have[j].value && strcmp(have[j].value, want[i]->value) == 0;
        if (!found) return false;
    }
    return true;
}

static void sync_configs(km_topicsync_t *ts, const char *topic) {
    const km_flow_t *f = ts->flow;
    int timeout = sync_timeout_ms(f);
    km_topic_config_t *sc = NULL, *tc = NULL;
    size_t sn = 0, tn = 0;
    char err[512];
    char *remote = km_policy_format_remote_topic(&f->s.policy, f->source, topic);
    if (km_topicsync_describe(ts->src, topic, timeout, &ts->stop, &sc, &sn, err, sizeof(err)) == 0 &&
        km_topicsync_describe(ts->dst, remote, timeout, &ts->stop, &tc, &tn, err, sizeof(err)) == 0) {
        const km_topic_config_t **keep;
        size_t k = km_configs_to_mirror(f->s.config_exclude, use_source_defaults(f), sc, sn, &keep);
        if (!same_configs(keep, k, tc, tn)) {
            if (km_topicsync_alter(ts->dst, remote, keep, k, timeout, &ts->stop, err, sizeof(err)) == 0)
                km_info("flow %s: synced the configuration of %s to %s (%zu setting(s))", f->name, topic, remote, k);
            else
                km_warn("flow %s: cannot sync the configuration of %s to %s on %s: %s", f->name, topic, remote, f->target, err);
        }
        free(keep);
    } else {
        km_warn("flow %s: cannot read the configuration of %s or %s: %s", f->name, topic, remote, err);
    }
    free(remote);
    km_topic_configs_free(sc, sn);
    km_topic_configs_free(tc, tn);
}

static void sync_acls(km_topicsync_t *ts) {
    const km_flow_t *f = ts->flow;
    km_acl_t *in, *out;
    size_t n;
    char err[512];
    if (km_topicsync_describe_acls(ts->src, sync_timeout_ms(f), &ts->stop, &in, &n, err, sizeof(err)) != 0) {
        if (strstr(err, "ecurity")) { /* SecurityDisabledException: no authorizer on the source */
            km_info("flow %s: %s has no authorizer (%s); topic ACLs are not synced", f->name, f->source, err);
            ts->acls_unsupported = true;
        } else {
            km_warn("flow %s: cannot read the ACLs of %s: %s", f->name, f->source, err);
        }
        return;
    }
    size_t k = km_acls_to_mirror(f, in, n, &out);
    if (k && km_topicsync_create_acls(ts->dst, out, k, sync_timeout_ms(f), &ts->stop, err, sizeof(err)) != 0)
        km_warn("flow %s: cannot create %zu topic ACL(s) on %s: %s", f->name, k, f->target, err);
    else if (k)
        km_debug("flow %s: %zu topic ACL(s) synced to %s", f->name, k, f->target);
    km_acls_free(in, n);
    km_acls_free(out, k);
}

static void sync_all_configs(km_topicsync_t *ts) {
    pthread_mutex_lock(&ts->lock);
    size_t n = ts->ntopics;
    char **topics = km_xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) topics[i] = km_xstrdup(ts->topics[i]);
    pthread_mutex_unlock(&ts->lock);
    for (size_t i = 0; i < n && !atomic_load(&ts->stop); i++) sync_configs(ts, topics[i]);
    km_strv_free(topics, n);
}

static void *topicsync_main(void *arg) {
    km_topicsync_t *ts = arg;
    const km_flow_settings_t *s = &ts->flow->s;
    while (!atomic_load(&ts->stop)) {
        int64_t now = km_now_mono_ms();
        if (s->sync_topic_configs_enabled && now >= ts->next_configs) {
            sync_all_configs(ts);
            ts->next_configs = km_now_mono_ms() + s->sync_topic_configs_interval_ms;
        }
        if (s->sync_topic_acls_enabled && !ts->acls_unsupported && now >= ts->next_acls) {
            sync_acls(ts);
            ts->next_acls = km_now_mono_ms() + s->sync_topic_acls_interval_ms;
        }
        struct timespec nap = {0, 100 * 1000000L};
        nanosleep(&nap, NULL);
    }
    return NULL;
}

km_topicsync_t *km_topicsync_start(const km_flow_t *f, rd_kafka_t *src_admin, rd_kafka_t *dst_admin, char *errstr,
                                   size_t errlen) {
    km_topicsync_t *ts = km_xcalloc(1, sizeof(*ts));
    ts->flow = f;
    pthread_mutex_init(&ts->lock, NULL);
    int64_t now = km_now_mono_ms();
    ts->next_configs = now + f->s.sync_topic_configs_interval_ms; /* new topics got theirs at creation */
    ts->next_acls = now;                                            /* ACLs are copied at start, as MM2 does */
    ts->src = src_admin;
    ts->dst = dst_admin;
    if (pthread_create(&ts->thread, NULL, topicsync_main, ts) != 0) {
        snprintf(errstr, errlen, "cannot start a thread");
        km_topicsync_stop(ts);
        return NULL;
    }
    ts->started = true;
    return ts;
}

void km_topicsync_set_topics(km_topicsync_t *ts, char **topics, size_t n) {
    pthread_mutex_lock(&ts->lock);
    km_strv_free(ts->topics, ts->ntopics);
    ts->topics = km_xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) ts->topics[i] = km_xstrdup(topics[i]);
    ts->ntopics = n;
    pthread_mutex_unlock(&ts->lock);
}

void km_topicsync_stop(km_topicsync_t *ts) {
    if (!ts) return;
    atomic_store(&ts->stop, true);
    if (ts->started) pthread_join(ts->thread, NULL);
    km_strv_free(ts->topics, ts->ntopics);
    pthread_mutex_destroy(&ts->lock);
    free(ts);
}
