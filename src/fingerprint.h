/* fingerprint.h — a flow's configuration as the other processes of its group see it.
 *
 * Processes that share a flow must run it with the same settings; MM2 silently lets the leader's
 * view win. Each kmirror process publishes the flow's resolved connector settings with a short
 * fingerprint of them (a record in the tasks topic, see coord.h), so that any process can tell
 * whether the others agree and, if not, which keys differ. Settings that only shape this process (admin.timeout.ms, shutdown.timeout.ms, the
 * session and heartbeat timing of its group member) and secrets are left out. Pure data:
 * encoding, decoding and the diff are unit-tested. */
#ifndef KM_FINGERPRINT_H
#define KM_FINGERPRINT_H

#include "config.h"

#define KM_FINGERPRINT_HEX 16

typedef struct km_fingerprint {
    char hex[KM_FINGERPRINT_HEX + 1]; /* FNV-1a 64 of the sorted "key=value\n" lines */
    km_props_t keys;                  /* the compared settings, sorted by key */
} km_fingerprint_t;

/* The fingerprint of a flow's connector settings (f->config). */
void km_fingerprint_of(const km_flow_t *f, km_fingerprint_t *out);
/* {"fingerprint":"…","keys":{…},"process":"host:pid"}; owned by the caller. */
char *km_fingerprint_encode(const km_fingerprint_t *fp, const char *process);
/* 0 with *process set (owned by the caller), or -1 for anything that is not an encoded
 * fingerprint whose keys hash to it. */
int km_fingerprint_decode(const void *buf, size_t len, km_fingerprint_t *out, char **process);
/* The differing keys, "tasks.max: 4 here, 6 there; topics: only here (x.*)", or NULL when the
 * settings are equal. Owned by the caller. */
char *km_fingerprint_diff(const km_fingerprint_t *here, const km_fingerprint_t *there);
void km_fingerprint_free(km_fingerprint_t *fp);

#endif
