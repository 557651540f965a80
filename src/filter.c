/* filter.c — topic, group and config-property name filters, compiled with PCRE2.
 *
 * MM2 joins a list's entries with '|' and requires a whole-name match (Matcher.matches()). We
 * compile each entry alone first, only to report a bad one precisely (key, entry, position in
 * the value), then the joined alternation anchored at both ends. PCRE2 accepts Java's regex
 * syntax for everything topic and group patterns use in practice (classes, quantifiers,
 * \Q..\E, lookaround, possessive quantifiers). Filters are evaluated on topic/group refresh, not
 * per record, so a match-data allocation per call is fine and keeps a pattern shareable between
 * threads. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "filter.h"

#include "util.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct km_pattern {
    pcre2_code *re; /* NULL: the empty list, which matches nothing */
};

/* Where entry `e` (the i-th of the list) starts in the raw value, for error positions. */
static size_t entry_offset(const char *list, const char *e) {
    const char *at = strstr(list, e);
    return at ? (size_t)(at - list) : 0;
}

static pcre2_code *compile(const char *re, int *err, PCRE2_SIZE *erroff) {
    return pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, err,
                         erroff, NULL);
}

static int check_entry(const char *list, const char *entry, const char *key, km_diag_t *d) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = compile(entry, &err, &off);
    if (re) {
        pcre2_code_free(re);
        return 0;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    km_diag_error(d, "invalid regular expression in '%s': entry '%s' at character %zu of the value: %s", key, entry,
                  entry_offset(list, entry) + (size_t)off + 1, (const char *)msg);
    return -1;
}

km_pattern_t *km_pattern_new(const char *list, const char *key, km_diag_t *d) {
    char **v;
    size_t n = km_split_list(list ? list : "", &v);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= check_entry(list, v[i], key, d);
    km_pattern_t *p = NULL;
    if (!bad) {
        p = km_xcalloc(1, sizeof(*p));
        if (n > 0) {
            size_t len = 1;
            for (size_t i = 0; i < n; i++) len += strlen(v[i]) + 5;
            char *joined = km_xcalloc(1, len);
            for (size_t i = 0; i < n; i++) {
                strcat(joined, i ? "|(?:" : "(?:");
                strcat(joined, v[i]);
                strcat(joined, ")");
            }
            int err;
            PCRE2_SIZE off;
            p->re = compile(joined, &err, &off);
            if (!p->re) { /* entries compile alone but not joined, e.g. a back-reference */
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(err, msg, sizeof(msg));
                km_diag_error(d, "invalid regular expression in '%s': the entries joined with '|' do not compile: %s", key,
                              (const char *)msg);
                free(p);
                p = NULL;
            }
            free(joined);
        }
    }
    km_strv_free(v, n);
    return p;
}

bool km_pattern_matches(const km_pattern_t *p, const char *name) {
    if (!p || !p->re) return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!md) km_oom();
    int rc = pcre2_match(p->re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

void km_pattern_free(km_pattern_t *p) {
    if (!p) return;
    pcre2_code_free(p->re);
    free(p);
}

int km_name_filter_init(km_name_filter_t *f, const char *include, const char *include_key, const char *exclude,
                        const char *exclude_key, km_diag_t *d) {
    f->include = km_pattern_new(include, include_key, d);
    f->exclude = km_pattern_new(exclude, exclude_key, d);
    if (f->include && f->exclude) return 0;
    km_name_filter_free(f);
    return -1;
}

bool km_name_filter_accepts(const km_name_filter_t *f, const char *name) {
    return km_pattern_matches(f->include, name) && !km_pattern_matches(f->exclude, name);
}

void km_name_filter_free(km_name_filter_t *f) {
    km_pattern_free(f->include);
    km_pattern_free(f->exclude);
    f->include = f->exclude = NULL;
}
