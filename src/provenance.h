/* provenance.h — the record path: which clusters a replicated record has passed through, and
 * which records a flow must therefore not write (prefix km_prov_).
 *
 * MM2 recognises a copy only by its topic name (`A.orders`), so with IdentityReplicationPolicy a
 * flow a->b plus b->a copies every record back and forth forever. kmirror marks every record it
 * writes with a record header naming the clusters the record was on before:
 *
 *   key    "kmirror.path" (KM_PATH_HEADER)
 *   value  the cluster aliases of this configuration, oldest (the origin) first, joined by ','
 *          — UTF-8 text without spaces, e.g. "west-2,west-1" on a record produced on west-2 and
 *          mirrored via west-1. Aliases cannot hold ',' (MM2's `clusters` list splits on it).
 *
 * A flow X->Y reading a record whose path is P writes it with path P + "X" (one header: an
 * existing kmirror.path header is replaced, every other header is kept as it is); a record
 * without the header (from a producer, or mirrored by Java MM2) is local to X: its path becomes
 * "X". Java consumers and Java MM2 ignore headers they do not know, and MM2 copies them along.
 *
 * What a flow skips (the record still counts as done, in order: acks.h, offsetsync.h):
 *   - a record whose path already holds Y: Y has it (this alone stops every loop);
 *   - for a topic the flow does not rename (IdentityReplicationPolicy), a record whose origin
 *     (the path's first alias, or X for a record without the header) does not have the edge
 *     X->Y in its *delivery tree*: for every origin, the shortest paths over the enabled flows
 *     that replicate the topic under its own name, ties broken by the smaller alias (strcmp) of
 *     the cluster one hop closer to the origin. Every process computes the same trees from the
 *     same configuration, so in a mesh a record reaches every cluster once, along one path,
 *     however many paths there are. An origin that is no alias of this configuration is not
 *     routed: only the first rule applies to its records.
 * Renamed topics (DefaultReplicationPolicy) travel every path under their own names, as in MM2;
 * only the header is new there.
 *
 * km_prov_check() refuses, at check-config and start, a configuration that would loop: a cycle
 * of enabled flows that keep topic names while replication.provenance.enabled = false, or flows
 * whose names grow around a cycle that the policy cannot see (a custom separator that also
 * occurs in aliases, policies mixed along a cycle). */
#ifndef KM_PROVENANCE_H
#define KM_PROVENANCE_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

#define KM_PATH_HEADER "kmirror.path"
#define KM_PROVENANCE_KEY "replication.provenance.enabled"

/* What one flow does with the records of one of its topics; built once per topic. */
typedef struct km_prov_route {
    bool enabled;        /* replication.provenance.enabled */
    bool same_name;      /* the topic keeps its name: delivery trees apply */
    size_t n;            /* clusters of the configuration */
    const char **alias;  /* borrowed from the configuration */
    size_t *alias_len;
    bool *forward;       /* [origin]: this flow's edge is in the origin's tree for this topic */
    const char *source, *target;
    size_t source_len, target_len;
} km_prov_route_t;

typedef enum {
    KM_PROV_WRITE,      /* write it; the header value is in the buffer */
    KM_PROV_SKIP_HAS,   /* the target is already on the record's path */
    KM_PROV_SKIP_ROUTE  /* the target gets this origin's records along another path */
} km_prov_verdict_t;

/* A growable buffer for the header value, one per task: grown rarely, never per record. */
typedef struct km_prov_buf {
    char *p;
    size_t len, cap;
} km_prov_buf_t;

void km_prov_route_init(km_prov_route_t *r, const km_config_t *cfg, const km_flow_t *f, const char *topic,
                        const char *remote);
void km_prov_route_free(km_prov_route_t *r);

/* path/len: the record's kmirror.path value (NULL when it has none). On KM_PROV_WRITE the new
 * value is in buf. */
km_prov_verdict_t km_prov_decide(const km_prov_route_t *r, const char *path, size_t len, km_prov_buf_t *buf);

/* Delivery tree of `topic` for origin cluster index `origin`: parent[v] is the cluster index
 * that delivers to v, -1 for the origin and for clusters it cannot reach. */
void km_prov_tree(const km_config_t *cfg, const char *topic, size_t origin, int *parent);

/* Adds an error naming the flows for every loop described above. */
void km_prov_check(const km_config_t *cfg, const char *name, km_diag_t *d);

#endif
