/* props.c — the .properties reader and the key/value list behind every configuration.
 *
 * Parsing follows java.util.Properties.load line by line (logical lines, comment lines, key
 * terminators, escapes), so a file Java MM2 accepts reads the same here. The one deliberate
 * difference is the inline comment the ops guide uses after values; see props.h. Lookups are
 * linear while a list is short (most are: a flow's settings, a client's properties, thousands of
 * them in a large mesh, where an index each would cost more memory than it saves time); a long
 * list (a whole file) is indexed by key in a glibc search tree (tsearch), so that reading a
 * generated file of 100,000 keys, duplicate detection included, is not quadratic. glibc's hash
 * table (hsearch_r) is no use here: its hash reads only a key's first few bytes, and keys share
 * long prefixes ("{alias}.", "{source}->{target}."). */
#include "props.h"

#include "util.h"

#include <errno.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing byte buffer; `esc` remembers which bytes came from an escape so that an escaped
 * space survives trimming and `\#` never starts a comment. */
typedef struct {
    char *s;
    bool *esc;
    size_t n, cap;
} sbuf_t;

static void sb_put(sbuf_t *b, char c, bool escaped) {
    if (b->n + 1 >= b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->s = km_xrealloc(b->s, b->cap);
        b->esc = km_xrealloc(b->esc, b->cap * sizeof(bool));
    }
    b->esc[b->n] = escaped;
    b->s[b->n++] = c;
    b->s[b->n] = '\0';
}

static void sb_put_utf8(sbuf_t *b, unsigned cp) {
    if (cp < 0x80) {
        sb_put(b, (char)cp, true);
    } else if (cp < 0x800) {
        sb_put(b, (char)(0xC0 | (cp >> 6)), true);
        sb_put(b, (char)(0x80 | (cp & 0x3F)), true);
    } else if (cp < 0x10000) {
        sb_put(b, (char)(0xE0 | (cp >> 12)), true);
        sb_put(b, (char)(0x80 | ((cp >> 6) & 0x3F)), true);
        sb_put(b, (char)(0x80 | (cp & 0x3F)), true);
    } else {
        sb_put(b, (char)(0xF0 | (cp >> 18)), true);
        sb_put(b, (char)(0x80 | ((cp >> 12) & 0x3F)), true);
        sb_put(b, (char)(0x80 | ((cp >> 6) & 0x3F)), true);
        sb_put(b, (char)(0x80 | (cp & 0x3F)), true);
    }
}

/* Starts empty but with a valid, NUL-terminated string. */
static void sb_init(sbuf_t *b) {
    *b = (sbuf_t){0};
    sb_put(b, '\0', false);
    b->n = 0;
}

static void sb_free(sbuf_t *b) {
    free(b->s);
    free(b->esc);
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\f'; }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Finds the end of the natural line starting at `from`: *eol is its last byte + 1, the return
 * value the start of the next line (\n, \r and \r\n all end a line, as in Java). */
static size_t natural_line(const char *buf, size_t len, size_t from, size_t *eol) {
    size_t e = from;
    while (e < len && buf[e] != '\n' && buf[e] != '\r') e++;
    *eol = e;
    if (e < len && buf[e] == '\r') e++;
    if (e < len && buf[e] == '\n' && (e == *eol || buf[*eol] == '\r')) e++;
    return e;
}

/* Reads one logical line (continuations joined, continuation-line leading whitespace dropped)
 * into `out` as raw bytes, escapes still in place. Returns false at end of input. */
static bool read_logical_line(const char *buf, size_t len, size_t *pos, int *lineno, int *first_line, sbuf_t *out) {
    out->n = 0;
    size_t start, eol;
    do { /* skip blank and comment lines */
        if (*pos >= len) return false;
        (*lineno)++;
        start = *pos;
        while (start < len && is_ws(buf[start])) start++;
        *pos = natural_line(buf, len, start, &eol);
    } while (start == eol || buf[start] == '#' || buf[start] == '!');
    *first_line = *lineno;
    for (;;) {
        size_t bs = 0;
        for (size_t k = eol; k > start && buf[k - 1] == '\\'; k--) bs++;
        bool cont = bs % 2 == 1;
        for (size_t k = start; k < eol - (cont ? 1 : 0); k++) sb_put(out, buf[k], false);
        if (!cont || *pos >= len) return true;
        (*lineno)++;
        start = *pos;
        while (start < len && is_ws(buf[start])) start++;
        *pos = natural_line(buf, len, start, &eol);
    }
}

/* Why unescape() refused a key or value. */
enum { UNESC_OK = 0, UNESC_BAD_U = -1, UNESC_SURROGATE = -2, UNESC_NUL = -3 };

/* Decodes escapes of raw[from, to) into `out`. A UTF-16 surrogate must come as a high-low pair
 * of adjacent \u escapes (Java would keep a lone one as an unpaired char; as UTF-8 it has no
 * encoding, and joining it with a later escape would make another character). A NUL byte,
 * raw or \u0000, would silently cut the C string short. */
static int unescape(const char *raw, size_t from, size_t to, sbuf_t *out) {
    unsigned pending_high = 0;
    for (size_t i = from; i < to; i++) {
        char c = raw[i];
        if (c == '\0') return UNESC_NUL;
        if (c != '\\' || i + 1 >= to) {
            if (pending_high) return UNESC_SURROGATE;
            if (c == '\\') continue; /* a lone trailing backslash is dropped, as Java does */
            sb_put(out, c, false);
            continue;
        }
        c = raw[++i];
        if (c == 'u') {
            if (i + 4 >= to) return UNESC_BAD_U;
            unsigned cp = 0;
            for (int k = 1; k <= 4; k++) {
                int h = hexval(raw[i + k]);
                if (h < 0) return UNESC_BAD_U;
                cp = cp * 16 + (unsigned)h;
            }
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (pending_high) return UNESC_SURROGATE;
                pending_high = cp;
                continue;
            }
            if (cp >= 0xDC00 && cp < 0xE000) {
                if (!pending_high) return UNESC_SURROGATE;
                cp = 0x10000 + ((pending_high - 0xD800) << 10) + (cp - 0xDC00);
            } else if (pending_high) {
                return UNESC_SURROGATE;
            }
            if (cp == 0) return UNESC_NUL;
            pending_high = 0;
            sb_put_utf8(out, cp);
            continue;
        }
        if (pending_high) return UNESC_SURROGATE;
        switch (c) {
        case 't': sb_put(out, '\t', true); break;
        case 'n': sb_put(out, '\n', true); break;
        case 'r': sb_put(out, '\r', true); break;
        case 'f': sb_put(out, '\f', true); break;
        case '\0': return UNESC_NUL;
        default: sb_put(out, c, true); break;
        }
    }
    return pending_high ? UNESC_SURROGATE : UNESC_OK;
}

/* The ops-guide forgiveness: unescaped whitespace followed by unescaped '#' ends the value;
 * the whitespace before it goes too. */
static void strip_inline_comment(sbuf_t *v) {
    for (size_t i = 1; i < v->n; i++) {
        if (v->s[i] == '#' && !v->esc[i] && is_ws(v->s[i - 1]) && !v->esc[i - 1]) {
            size_t end = i;
            while (end > 0 && is_ws(v->s[end - 1]) && !v->esc[end - 1]) end--;
            v->n = end;
            v->s[end] = '\0';
            return;
        }
    }
}

static void add_parsed(km_props_t *out, const char *name, const char *key, const char *value, int line, km_diag_t *d) {
    const km_prop_t *old = km_props_find(out, key);
    if (old)
        km_diag_warn(d, "%s:%d: duplicate key '%s' (also set at line %d); the last value wins", name, line, key, old->line);
    km_props_set(out, key, value, line);
}

/* Splits one logical line into key and value the way Properties.load does. */
static int parse_line(const sbuf_t *raw, const char *name, int line, bool inline_comments, km_props_t *out, km_diag_t *d) {
    size_t i = 0, n = raw->n;
    const char *s = raw->s;
    while (i < n) {
        if (s[i] == '\\') { i += 2; continue; }
        if (s[i] == '=' || s[i] == ':' || is_ws(s[i])) break;
        i++;
    }
    size_t key_end = i > n ? n : i;
    size_t v = key_end;
    while (v < n && is_ws(s[v])) v++;
    if (v < n && (s[v] == '=' || s[v] == ':')) v++;
    while (v < n && is_ws(s[v])) v++;
    sbuf_t key, val;
    sb_init(&key);
    sb_init(&val);
    int rc = 0, why = unescape(s, 0, key_end, &key);
    if (why == UNESC_OK) why = unescape(s, v, n, &val);
    if (why != UNESC_OK) {
        km_diag_error(d, "%s:%d: %s", name, line,
                      why == UNESC_NUL         ? "a NUL byte (raw or \\u0000) in a key or value; kmirror cannot keep it and will not cut the value short"
                      : why == UNESC_SURROGATE ? "an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF must come as a high-low pair, e.g. \\uD83D\\uDE00)"
                                               : "malformed \\uXXXX escape (four hexadecimal digits must follow \\u)");
        rc = -1;
    } else {
        if (inline_comments) strip_inline_comment(&val);
        add_parsed(out, name, key.s, val.s, line, d);
    }
    sb_free(&key);
    sb_free(&val);
    return rc;
}

static int parse_buf(const char *buf, size_t len, const char *name, bool inline_comments, km_props_t *out, km_diag_t *d) {
    size_t pos = 0;
    int lineno = 0, first = 0, rc = 0;
    sbuf_t raw;
    sb_init(&raw);
    while (rc == 0 && read_logical_line(buf, len, &pos, &lineno, &first, &raw)) rc = parse_line(&raw, name, first, inline_comments, out, d);
    sb_free(&raw);
    if (rc != 0) km_props_free(out);
    return rc;
}

int km_props_parse_buf(const char *buf, size_t len, const char *name, km_props_t *out, km_diag_t *d) {
    return parse_buf(buf, len, name, true, out, d);
}

static int parse_file(const char *path, bool inline_comments, km_props_t *out, km_diag_t *d) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        km_diag_error(d, "cannot read configuration file %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            buf = km_xrealloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        km_diag_error(d, "cannot read configuration file %s: read error", path);
        return -1;
    }
    int rc = parse_buf(buf, len, path, inline_comments, out, d);
    free(buf);
    return rc;
}

int km_props_parse_file(const char *path, km_props_t *out, km_diag_t *d) { return parse_file(path, true, out, d); }

int km_props_parse_file_java(const char *path, km_props_t *out, km_diag_t *d) { return parse_file(path, false, out, d); }

/* Below this many entries a list is scanned: a few dozen strcmp cost less than a tree. */
#define INDEX_MIN 64

/* A tree node's item: the key (owned by the list's item) and where that item is. */
typedef struct {
    const char *key;
    size_t pos;
} slot_t;

static int cmp_slot(const void *a, const void *b) { return strcmp(((const slot_t *)a)->key, ((const slot_t *)b)->key); }

static void index_drop(km_props_t *p) {
    tdestroy(p->index, free);
    p->index = NULL;
}

static void index_enter(km_props_t *p, size_t i) {
    slot_t *s = km_xmalloc(sizeof(*s));
    *s = (slot_t){p->items[i].key, i};
    if (!tsearch(s, &p->index, cmp_slot)) km_oom();
}

/* Keeps the index in step after items[n-1] was added, or rebuilds it after the positions
 * changed (a removal, a sort: both rare). */
static void index_update(km_props_t *p, bool rebuild) {
    if (rebuild || p->n < INDEX_MIN) index_drop(p);
    if (p->n < INDEX_MIN) return;
    if (p->index) {
        index_enter(p, p->n - 1);
        return;
    }
    for (size_t i = 0; i < p->n; i++) index_enter(p, i);
}

const km_prop_t *km_props_find(const km_props_t *p, const char *key) {
    if (p->index) {
        slot_t probe = {.key = key};
        slot_t *const *hit = tfind(&probe, &p->index, cmp_slot);
        return hit ? &p->items[(*hit)->pos] : NULL;
    }
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].key, key) == 0) return &p->items[i];
    return NULL;
}

const char *km_props_get(const km_props_t *p, const char *key) {
    const km_prop_t *e = km_props_find(p, key);
    return e ? e->value : NULL;
}

void km_props_set(km_props_t *p, const char *key, const char *value, int line) {
    km_prop_t *e = (km_prop_t *)km_props_find(p, key);
    if (e) {
        char *v = km_xstrdup(value);
        free(e->value);
        e->value = v;
        e->line = line;
        return;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->items = km_xrealloc(p->items, p->cap * sizeof(*p->items));
    }
    p->items[p->n++] = (km_prop_t){km_xstrdup(key), km_xstrdup(value), line};
    index_update(p, false);
}

void km_props_set_default(km_props_t *p, const char *key, const char *value) {
    if (!km_props_find(p, key)) km_props_set(p, key, value, 0);
}

int km_props_unset(km_props_t *p, const char *key) {
    km_prop_t *e = (km_prop_t *)km_props_find(p, key);
    if (!e) return 0;
    free(e->key);
    free(e->value);
    size_t i = (size_t)(e - p->items);
    memmove(e, e + 1, (p->n - i - 1) * sizeof(*e));
    p->n--;
    index_update(p, true);
    return 1;
}

void km_props_copy(km_props_t *dst, const km_props_t *src) {
    for (size_t i = 0; i < src->n; i++) km_props_set(dst, src->items[i].key, src->items[i].value, src->items[i].line);
}

static int cmp_prop(const void *a, const void *b) {
    return strcmp(((const km_prop_t *)a)->key, ((const km_prop_t *)b)->key);
}

void km_props_sort(km_props_t *p) {
    if (p->n > 1) qsort(p->items, p->n, sizeof(*p->items), cmp_prop);
    if (p->index) index_update(p, true);
}

void km_props_free(km_props_t *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].key);
        free(p->items[i].value);
    }
    free(p->items);
    index_drop(p);
    *p = (km_props_t){0};
}
