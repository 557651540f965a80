/* fingerprint.c — see fingerprint.h. */
#include "fingerprint.h"

#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Settings that may differ between processes without changing what the flow replicates. */
static bool local_only(const char *key) {
    static const char *const local[] = {"admin.timeout.ms", "shutdown.timeout.ms", "session.timeout.ms", "heartbeat.interval.ms",
                                       "replication.stall.timeout.ms"};
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        if (strcmp(key, local[i]) == 0) return true;
    return false;
}

static void fnv1a64(uint64_t *h, const char *s) {
    for (; *s; s++) *h = (*h ^ (uint8_t)*s) * 1099511628211ULL;
}

static void compute_hex(km_fingerprint_t *fp) {
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < fp->keys.n; i++) {
        fnv1a64(&h, fp->keys.items[i].key);
        fnv1a64(&h, "=");
        fnv1a64(&h, fp->keys.items[i].value);
        fnv1a64(&h, "\n");
    }
    snprintf(fp->hex, sizeof(fp->hex), "%016llx", (unsigned long long)h);
}

void km_fingerprint_of(const km_flow_t *f, km_fingerprint_t *out) {
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < f->config.n; i++) {
        const km_prop_t *p = &f->config.items[i];
        if (!local_only(p->key) && !km_config_is_secret(p->key)) km_props_set(&out->keys, p->key, p->value, 0);
    }
    km_props_sort(&out->keys);
    compute_hex(out);
}

char *km_fingerprint_encode(const km_fingerprint_t *fp, const char *process) {
    json_t *keys = json_object();
    for (size_t i = 0; i < fp->keys.n; i++) json_object_set_new(keys, fp->keys.items[i].key, json_string(fp->keys.items[i].value));
    json_t *o = json_pack("{s:s, s:o, s:s}", "fingerprint", fp->hex, "keys", keys, "process", process);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s) km_oom();
    return s;
}

int km_fingerprint_decode(const void *buf, size_t len, km_fingerprint_t *out, char **process) {
    memset(out, 0, sizeof(*out));
    json_t *o = buf ? json_loadb(buf, len, 0, NULL) : NULL;
    json_t *hex = json_object_get(o, "fingerprint"), *keys = json_object_get(o, "keys"), *who = json_object_get(o, "process");
    int rc = -1;
    if (json_is_string(hex) && json_is_object(keys) && json_is_string(who)) {
        const char *k;
        json_t *v;
        rc = 0;
        json_object_foreach(keys, k, v) {
            if (!json_is_string(v)) rc = -1;
            else km_props_set(&out->keys, k, json_string_value(v), 0);
        }
        km_props_sort(&out->keys);
        compute_hex(out);
        if (strcmp(out->hex, json_string_value(hex)) != 0) rc = -1; /* damaged or not ours */
    }
    if (rc == 0) *process = km_xstrdup(json_string_value(who));
    json_decref(o);
    if (rc != 0) km_fingerprint_free(out);
    return rc;
}

/* Adds `item` (consumed) to the "; "-separated list. */
static void append(char **text, char *item) {
    char *next = km_xasprintf("%s%s%s", *text ? *text : "", *text ? "; " : "", item);
    free(item);
    free(*text);
    *text = next;
}

char *km_fingerprint_diff(const km_fingerprint_t *here, const km_fingerprint_t *there) {
    char *text = NULL;
    for (size_t i = 0; i < here->keys.n; i++) {
        const km_prop_t *p = &here->keys.items[i];
        const char *v = km_props_get(&there->keys, p->key);
        if (!v) append(&text, km_xasprintf("%s: only here (%s)", p->key, p->value));
        else if (strcmp(v, p->value) != 0) append(&text, km_xasprintf("%s: %s here, %s there", p->key, p->value, v));
    }
    for (size_t i = 0; i < there->keys.n; i++) {
        const km_prop_t *p = &there->keys.items[i];
        if (!km_props_find(&here->keys, p->key)) append(&text, km_xasprintf("%s: only there (%s)", p->key, p->value));
    }
    return text;
}

void km_fingerprint_free(km_fingerprint_t *fp) { km_props_free(&fp->keys); }
