/* props.h — Java .properties files, as java.util.Properties.load reads them, plus one
 * forgiveness the ops guide needs: in a value, whitespace followed by '#' starts a comment
 * (`clusters = a, b   # aliases`); `\#` keeps a literal '#'.
 *
 * A km_props_t is an ordered list of (key, value, line). It is also the plain key/value
 * container the rest of kmirror uses for resolved configuration (line 0 = not from a file). */
#ifndef KM_PROPS_H
#define KM_PROPS_H

#include "diag.h"

#include <stddef.h>

typedef struct km_prop {
    char *key;
    char *value;
    int line; /* 1-based line of the key in the source file; 0 when set programmatically */
} km_prop_t;

typedef struct km_props {
    km_prop_t *items;
    size_t n, cap;
    /* key -> position once the list is long (a generated file may have 100,000 keys): private
     * to props.c; a zero-initialised list has none. */
    void *index;
} km_props_t;

/* Parse a whole file / a buffer. `name` is used in messages ("name:line: ..."). Duplicate keys:
 * the last value wins and a warning names both lines. Returns 0, or -1 with an error in `d`
 * (unreadable file, malformed \uXXXX escape). `out` must be zero-initialised; on error it is
 * left empty. */
int km_props_parse_file(const char *path, km_props_t *out, km_diag_t *d);
int km_props_parse_buf(const char *buf, size_t len, const char *name, km_props_t *out, km_diag_t *d);
/* Exactly as Properties.load, without the inline-comment forgiveness: for files whose values are
 * secrets, where " #" may be part of a password. */
int km_props_parse_file_java(const char *path, km_props_t *out, km_diag_t *d);

const km_prop_t *km_props_find(const km_props_t *p, const char *key);
const char *km_props_get(const km_props_t *p, const char *key); /* NULL when absent */
/* Sets key (copying both strings); replaces the value in place when the key exists. */
void km_props_set(km_props_t *p, const char *key, const char *value, int line);
/* Sets only when absent. */
void km_props_set_default(km_props_t *p, const char *key, const char *value);
int km_props_unset(km_props_t *p, const char *key); /* 1 when removed */
void km_props_copy(km_props_t *dst, const km_props_t *src); /* set every entry of src into dst */
/* Sorts by key (for stable output). */
void km_props_sort(km_props_t *p);
void km_props_free(km_props_t *p);

#endif
