/* filter.h — MM2's name filters (DefaultTopicFilter, DefaultGroupFilter,
 * DefaultConfigPropertyFilter), with Java regex syntax through PCRE2.
 *
 * A pattern list is a comma list as Kafka's ConfigDef LIST reads it (split on \s*,\s*), its
 * entries joined with '|' into one regex that must match the WHOLE name (Matcher.matches()).
 * An empty list matches nothing. */
#ifndef KM_FILTER_H
#define KM_FILTER_H

#include "diag.h"

#include <stdbool.h>

typedef struct km_pattern km_pattern_t;

/* Compiles `list` (the value of config key `key`, used in messages). Invalid regex: returns NULL
 * and records an error naming the key, the offending entry and the character position within
 * the value. */
km_pattern_t *km_pattern_new(const char *list, const char *key, km_diag_t *d);
/* 1 match, 0 no match, -1 the match could not be decided (PCRE2's match or depth limit: a
 * catastrophic pattern), warned once per pattern. */
int km_pattern_match(const km_pattern_t *p, const char *name);
void km_pattern_free(km_pattern_t *p);

/* include ∧ ¬exclude: topics/topics.exclude, groups/groups.exclude. */
typedef struct km_name_filter {
    km_pattern_t *include;
    km_pattern_t *exclude;
} km_name_filter_t;

/* Returns 0, or -1 (errors in d) when either regex is invalid. */
int km_name_filter_init(km_name_filter_t *f, const char *include, const char *include_key,
                        const char *exclude, const char *exclude_key, km_diag_t *d);
bool km_name_filter_accepts(const km_name_filter_t *f, const char *name);
void km_name_filter_free(km_name_filter_t *f);

#endif
