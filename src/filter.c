/* filter.c — topic, group and config-property name filters, compiled with PCRE2.
 *
 * MM2 joins a list's entries with '|' and requires a whole-name match (Matcher.matches()). We
 * compile each entry alone first, only to report a bad one precisely (key, entry, position in
 * the value), then the joined alternation anchored at both ends. PCRE2 accepts Java's regex
 * syntax for everything topic and group patterns use in practice (classes, quantifiers,
 * \Q..\E, lookaround, possessive quantifiers). Entries that are plain topic names are looked up
 * in a sorted table instead, so lists of thousands of names work as in Java MM2.
 *
 * A match is bounded (PCRE2's match and depth limits). A name the regex cannot decide on is
 * never let through by an exclude: the name filter fails closed and says so once per key.
 * Filters are evaluated on topic/group refresh, not per record, so a match-data allocation per
 * call is fine and keeps a pattern shareable between threads. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "filter.h"

#include "log.h"
#include "util.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on one match: a name is at most a few hundred bytes, so an ordinary pattern needs a
 * few thousand steps; a catastrophic one ((a+)+$ on "aaaa...b") stops here instead of taking
 * seconds, and the caller decides which way is safe (km_name_filter_accepts). */
#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 100000

struct km_pattern {
    pcre2_code *re; /* the entries that are not plain names; NULL: there are none */
    pcre2_match_context *mctx;
    char **lits;    /* plain-name entries, sorted (strcmp) */
    size_t nlits;
    char **shapes;  /* distinct shapes of the plain-name entries with a '.', sorted */
    size_t nshapes;
    char *key;           /* the config key, for the warning */
    _Atomic bool warned; /* a match error was reported once */
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

/* A plain name: letters, digits, '_', '-' and '.', the characters of a Kafka topic name. Such
 * an entry is matched without PCRE2 (a list of 10,000 topic names, which Java MM2 accepts, is too
 * large for one compiled alternation). Its '.' still means "any one character" as in the regex:
 * the entry's shape ('.' where the entry has one, 'x' elsewhere) says which characters of a name
 * to blank before looking the name up among the entries. */
static bool plain_name(const char *e) {
    for (const char *c = e; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_' || *c == '-' || *c == '.')) return false;
    return *e != '\0';
}

static char *shape_of(const char *e) {
    if (!strchr(e, '.')) return NULL;
    char *s = km_xstrdup(e);
    for (char *c = s; *c; c++) *c = *c == '.' ? '.' : 'x';
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorts v[0..n) and drops repeats; returns the new count. */
static size_t sort_unique(char **v, size_t n) {
    qsort(v, n, sizeof(*v), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[k++] = v[i];
    }
    return k;
}

/* Splits the entries: plain names into p->lits/p->shapes, the others joined with '|' into one
 * regex (returned, NULL when there are none). */
static char *split_entries(km_pattern_t *p, char **v, size_t n) {
    p->lits = km_xcalloc(n ? n : 1, sizeof(char *));
    p->shapes = km_xcalloc(n ? n : 1, sizeof(char *));
    char *joined = NULL, *end = NULL;
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += strlen(v[i]) + 5;
    for (size_t i = 0; i < n; i++) {
        if (plain_name(v[i])) {
            p->lits[p->nlits++] = km_xstrdup(v[i]);
            char *s = shape_of(v[i]);
            if (s) p->shapes[p->nshapes++] = s;
            continue;
        }
        if (!joined) joined = end = km_xcalloc(1, len);
        /* Appended at the end kept here: strcat would rescan the whole alternation per entry. */
        end = stpcpy(stpcpy(stpcpy(end, end == joined ? "(?:" : "|(?:"), v[i]), ")");
    }
    p->nlits = sort_unique(p->lits, p->nlits);
    p->nshapes = sort_unique(p->shapes, p->nshapes);
    return joined;
}

km_pattern_t *km_pattern_new(const char *list, const char *key, km_diag_t *d) {
    char **v;
    size_t n = km_split_list(list ? list : "", &v);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= check_entry(list, v[i], key, d);
    if (bad) {
        km_strv_free(v, n);
        return NULL;
    }
    km_pattern_t *p = km_xcalloc(1, sizeof(*p));
    p->key = km_xstrdup(key);
    char *joined = split_entries(p, v, n);
    km_strv_free(v, n);
    if (!joined) return p;
    int err;
    PCRE2_SIZE off;
    p->re = compile(joined, &err, &off);
    free(joined);
    if (!p->re) { /* entries compile alone but not joined, e.g. a back-reference */
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        km_diag_error(d, "invalid regular expression in '%s': the entries joined with '|' do not compile: %s", key,
                      (const char *)msg);
        km_pattern_free(p);
        return NULL;
    }
    p->mctx = pcre2_match_context_create(NULL);
    if (!p->mctx) km_oom();
    pcre2_set_match_limit(p->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(p->mctx, DEPTH_LIMIT);
    return p;
}

static bool is_lit(const km_pattern_t *p, const char *s) {
    return p->nlits && bsearch(&s, p->lits, p->nlits, sizeof(char *), cmp_str) != NULL;
}

/* Whether `name` matches a plain-name entry: as it is, or with the characters under a shape's
 * '.' blanked. Positions count characters, not bytes, as the regex's '.' does (a group name may
 * be any UTF-8); '.' matches no newline, so a newline is never blanked. */
static bool match_lits(const km_pattern_t *p, const char *name) {
    if (is_lit(p, name)) return true;
    if (!p->nshapes) return false;
    size_t chars = 0;
    for (const char *c = name; *c; c++) chars += ((unsigned char)*c & 0xC0) != 0x80;
    char *key = km_xcalloc(1, strlen(name) + 1);
    bool hit = false;
    for (size_t s = 0; s < p->nshapes && !hit; s++) {
        const char *shape = p->shapes[s];
        if (strlen(shape) != chars) continue;
        char *k = key;
        size_t i = 0;
        for (const char *c = name; *c; i++) {
            const char *next = c + 1;
            while (((unsigned char)*next & 0xC0) == 0x80) next++;
            if (shape[i] == '.' && *c != '\n') *k++ = '.';
            else k = memcpy(k, c, (size_t)(next - c)) + (next - c);
            c = next;
        }
        *k = '\0';
        hit = is_lit(p, key);
    }
    free(key);
    return hit;
}

int km_pattern_match(const km_pattern_t *p, const char *name) {
    if (!p) return 0;
    if (match_lits(p, name)) return 1;
    if (!p->re) return 0;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!md) km_oom();
    int rc = pcre2_match(p->re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, p->mctx);
    pcre2_match_data_free(md);
    if (rc >= 0) return 1;
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    /* p is shared read-only between threads; the flag is the one thing a match writes, and it
     * is atomic (p itself was allocated non-const). */
    if (!atomic_exchange(&((km_pattern_t *)p)->warned, true)) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        km_warn("'%s' is excluded: the pattern in '%s' could not be matched against it (%s); every name it cannot "
                "decide on is excluded, simplify the pattern (said once for this key)",
                name, p->key, (const char *)msg);
    }
    return -1;
}

void km_pattern_free(km_pattern_t *p) {
    if (!p) return;
    pcre2_code_free(p->re);
    pcre2_match_context_free(p->mctx);
    km_strv_free(p->lits, p->nlits);
    km_strv_free(p->shapes, p->nshapes);
    free(p->key);
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

/* Fails closed: a name an include pattern cannot decide on is not included, one an exclude
 * pattern cannot decide on is excluded. */
bool km_name_filter_accepts(const km_name_filter_t *f, const char *name) {
    return km_pattern_match(f->include, name) == 1 && km_pattern_match(f->exclude, name) == 0;
}

void km_name_filter_free(km_name_filter_t *f) {
    km_pattern_free(f->include);
    km_pattern_free(f->exclude);
    f->include = f->exclude = NULL;
}
