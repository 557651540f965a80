/* providers.c — resolves ${provider:path:key} references with Kafka's three built-in config
 * providers (FileConfigProvider, DirectoryConfigProvider, EnvVarConfigProvider), as MM2 does
 * when it reads its configuration; see providers.h for the syntax.
 *
 * A reference is read as Kafka's ConfigTransformer pattern \$\{([^}]*?):(([^}]*?):)?([^}]*?)\}
 * reads it: provider up to the first ':', path up to the next ':' when there is one, the rest
 * is the key. Values are resolved once, not recursively, as in Kafka. Everything here runs once
 * at start-up, so files are simply read again for each reference. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "providers.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PREFIX "config.providers"
#define CLASS_PKG "org.apache.kafka.common.config.provider."

typedef enum { KIND_FILE, KIND_DIR, KIND_ENV } kind_t;

static const struct { const char *cls; kind_t kind; } classes[] = {
    {CLASS_PKG "FileConfigProvider", KIND_FILE},
    {CLASS_PKG "DirectoryConfigProvider", KIND_DIR},
    {CLASS_PKG "EnvVarConfigProvider", KIND_ENV},
};

typedef struct provider {
    char *name;
    kind_t kind;
    char **allowed; /* allowed.paths, normalised; NULL = any path */
    size_t nallowed;
    pcre2_code *allow; /* allowlist.pattern; NULL = any variable */
    char *allow_key, *allow_src;
} provider_t;

typedef struct providers {
    provider_t *v;
    size_t n;
} providers_t;

static void providers_free(providers_t *ps) {
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->v[i].name);
        km_strv_free(ps->v[i].allowed, ps->v[i].nallowed);
        pcre2_code_free(ps->v[i].allow);
        free(ps->v[i].allow_key);
        free(ps->v[i].allow_src);
    }
    free(ps->v);
}

/* Lexical normalisation, as java.nio's Path.normalize: drops "." and empty components and
 * folds "..", never touching the file system. */
static char *normalize_path(const char *path) {
    bool abs = path[0] == '/';
    char *out = km_xmalloc(strlen(path) + 2);
    size_t n = abs ? 1 : 0, keep = n; /* out[0, keep) is never folded away */
    out[0] = '/';
    for (const char *p = path; *p;) {
        while (*p == '/') p++;
        const char *e = p;
        while (*e && *e != '/') e++;
        size_t len = (size_t)(e - p);
        bool dot = len == 1 && p[0] == '.', dotdot = len == 2 && p[0] == '.' && p[1] == '.';
        if (dotdot && n > keep) {
            while (n > keep && out[n - 1] != '/') n--;
            if (n > keep) n--;
        } else if (len && !dot && !(dotdot && abs)) {
            if (n && out[n - 1] != '/') out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
            if (dotdot) keep = n; /* a leading ".." of a relative path stays */
        }
        p = e;
    }
    out[n] = '\0';
    return out;
}

/* Whether `path` lies under one of the allowed directories (whole components, as
 * Path.startsWith). */
static bool path_allowed(const provider_t *pv, const char *path) {
    if (!pv->allowed) return true;
    char *norm = normalize_path(path);
    bool ok = false;
    for (size_t i = 0; i < pv->nallowed && !ok; i++) {
        const char *a = pv->allowed[i];
        size_t n = strlen(a);
        ok = strncmp(norm, a, n) == 0 && (norm[n] == '\0' || norm[n] == '/' || (n == 1 && a[0] == '/'));
    }
    free(norm);
    return ok;
}

/* Reads config.providers.{name}.param.* for one provider. */
static int configure_params(provider_t *pv, const km_props_t *props, const char *name, km_diag_t *d) {
    char *pfx = km_xasprintf(PREFIX ".%s.param.", pv->name);
    int rc = 0;
    for (size_t i = 0; i < props->n; i++) {
        const km_prop_t *p = &props->items[i];
        if (!km_str_starts_with(p->key, pfx)) continue;
        const char *param = p->key + strlen(pfx);
        if (pv->kind != KIND_ENV && strcmp(param, "allowed.paths") == 0) {
            char *t = km_strtrim(p->value);
            bool empty = !*t; /* as in Kafka: no restriction */
            free(t);
            if (empty) continue;
            char **v;
            size_t nv = km_split_list(p->value, &v);
            pv->allowed = km_xcalloc(nv + 1, sizeof(char *));
            for (size_t j = 0; j < nv; j++) {
                if (v[j][0] != '/') {
                    km_diag_error(d, "%s:%d: '%s': '%s' is not an absolute path", name, p->line, p->key, v[j]);
                    rc = -1;
                    continue;
                }
                pv->allowed[pv->nallowed++] = normalize_path(v[j]);
            }
            km_strv_free(v, nv);
        } else if (pv->kind == KIND_ENV && strcmp(param, "allowlist.pattern") == 0) {
            int err;
            PCRE2_SIZE off;
            pv->allow = pcre2_compile((PCRE2_SPTR)p->value, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
            if (!pv->allow) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(err, msg, sizeof(msg));
                km_diag_error(d, "%s:%d: '%s': invalid regular expression at character %zu: %s", name, p->line, p->key,
                              (size_t)off + 1, (const char *)msg);
                rc = -1;
                continue;
            }
            pv->allow_key = km_xstrdup(p->key);
            pv->allow_src = km_xstrdup(p->value);
        } else {
            km_diag_warn(d, "%s:%d: '%s': %s takes no parameter '%s'; it is ignored", name, p->line, p->key,
                         classes[pv->kind].cls + strlen(CLASS_PKG), param);
        }
    }
    free(pfx);
    return rc;
}

/* config.providers and config.providers.{name}.class → the providers. */
static int configure(providers_t *ps, const km_props_t *props, const char *name, km_diag_t *d) {
    const km_prop_t *list = km_props_find(props, PREFIX);
    int rc = 0;
    char **names = NULL;
    size_t nnames = list ? km_split_list(list->value, &names) : 0;
    ps->v = km_xcalloc(nnames + 1, sizeof(provider_t));
    for (size_t i = 0; i < nnames; i++) {
        if (!names[i][0]) continue;
        char *ckey = km_xasprintf(PREFIX ".%s.class", names[i]);
        const km_prop_t *c = km_props_find(props, ckey);
        char *cls = c ? km_strtrim(c->value) : NULL;
        int kind = -1;
        for (size_t k = 0; cls && k < sizeof(classes) / sizeof(classes[0]); k++)
            if (strcmp(cls, classes[k].cls) == 0) kind = (int)classes[k].kind;
        if (!c) {
            km_diag_error(d, "%s:%d: config.providers lists '%s' but '%s' is not set (e.g. %s = %sFileConfigProvider)", name,
                          list->line, names[i], ckey, ckey, CLASS_PKG);
            rc = -1;
        } else if (kind < 0) {
            km_diag_error(d, "%s:%d: '%s': unknown config provider class '%s'; kmirror has %sFileConfigProvider, DirectoryConfigProvider and EnvVarConfigProvider",
                          name, c->line, ckey, cls, CLASS_PKG);
            rc = -1;
        } else {
            provider_t *pv = &ps->v[ps->n++];
            pv->name = km_xstrdup(names[i]);
            pv->kind = (kind_t)kind;
            if (configure_params(pv, props, name, d) != 0) rc = -1;
        }
        free(cls);
        free(ckey);
    }
    /* Keys of a provider config.providers does not list: Kafka ignores them, so say so. */
    for (size_t i = 0; i < props->n; i++) {
        const km_prop_t *p = &props->items[i];
        if (!km_str_starts_with(p->key, PREFIX ".")) continue;
        bool listed = false;
        for (size_t j = 0; j < nnames && !listed; j++) {
            size_t n = strlen(names[j]);
            listed = n && strncmp(p->key + strlen(PREFIX "."), names[j], n) == 0 && p->key[strlen(PREFIX ".") + n] == '.';
        }
        if (!listed)
            km_diag_warn(d, "%s:%d: '%s' is ignored: its provider is not listed in config.providers", name, p->line, p->key);
    }
    km_strv_free(names, nnames);
    return rc;
}

static const provider_t *find_provider(const providers_t *ps, const char *name) {
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].name, name) == 0) return &ps->v[i];
    return NULL;
}

/* The lookups: the provider's value for (path, key), or NULL with *why set (both malloc'd);
 * *warn, when set, is a note that is not an error. */
static char *lookup_file(const provider_t *pv, const char *path, const char *key, char **why) {
    if (!*path) {
        *why = km_xasprintf("FileConfigProvider needs a file: ${%s:/path/to/file.properties:key}", pv->name);
        return NULL;
    }
    /* A device or FIFO would be read forever. */
    struct stat st;
    if (stat(path, &st) != 0) {
        *why = km_xasprintf("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = km_xasprintf("%s is not a regular file", path);
        return NULL;
    }
    km_props_t kv = {0};
    km_diag_t scratch = {0};
    char *v = NULL;
    const char *found = NULL;
    if (km_props_parse_file_java(path, &kv, &scratch) != 0)
        *why = km_xstrdup(scratch.nerrors ? scratch.errors[0] : "cannot read the file");
    else if (!(found = km_props_get(&kv, key)))
        *why = km_xasprintf("%s has no key '%s'", path, key);
    else
        v = km_xstrdup(found);
    for (size_t i = 0; i < kv.n; i++) explicit_bzero(kv.items[i].value, strlen(kv.items[i].value));
    km_props_free(&kv);
    km_diag_free(&scratch);
    return v;
}

static char *lookup_dir(const provider_t *pv, const char *path, const char *key, char **why, char **warn) {
    struct stat st;
    if (!*path) {
        *why = km_xasprintf("DirectoryConfigProvider needs a directory: ${%s:/path/to/dir:file}", pv->name);
        return NULL;
    }
    if (stat(path, &st) != 0) {
        *why = km_xasprintf("cannot read directory %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        *why = km_xasprintf("%s is not a directory", path);
        return NULL;
    }
    /* Kafka lists the directory's own regular files: a key never reaches another directory. */
    if (!*key || strchr(key, '/') || strcmp(key, ".") == 0 || strcmp(key, "..") == 0) {
        *why = km_xasprintf("'%s' is not a file name", key);
        return NULL;
    }
    char *file = km_xasprintf("%s/%s", path, key);
    char *v = NULL;
    FILE *fp = NULL;
    int serr = stat(file, &st) == 0 ? 0 : errno;
    if (serr && serr != ENOENT) {
        *why = km_xasprintf("cannot read %s: %s", file, strerror(serr));
    } else if (serr || !S_ISREG(st.st_mode)) {
        *why = km_xasprintf("no file '%s' in %s", key, path);
    } else if (!(fp = fopen(file, "rb"))) {
        *why = km_xasprintf("cannot read %s: %s", file, strerror(errno));
    } else {
        size_t len = 0, cap = 256, got;
        v = km_xmalloc(cap);
        while ((got = fread(v + len, 1, cap - len - 1, fp)) > 0) {
            len += got;
            if (cap - len - 1 == 0) v = km_xrealloc(v, cap *= 2);
        }
        v[len] = '\0';
        if (ferror(fp) || memchr(v, '\0', len)) {
            *why = ferror(fp) ? km_xasprintf("cannot read %s: read error", file) : km_xasprintf("%s holds a NUL byte", file);
            explicit_bzero(v, len);
            free(v);
            v = NULL;
        } else if (len && v[len - 1] == '\n') {
            *warn = km_xasprintf("%s ends with a newline, which is part of the value (as in Kafka); write the file without it if that is not meant", file);
        }
        fclose(fp);
    }
    free(file);
    return v;
}

static char *lookup_env(const provider_t *pv, const char *path, const char *key, char **why) {
    if (*path) {
        *why = km_xasprintf("EnvVarConfigProvider takes no path: write ${%s:NAME}", pv->name);
        return NULL;
    }
    if (pv->allow) {
        /* Kafka tests the pattern with Matcher.find: it may match part of the name. */
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(pv->allow, NULL);
        int m = pcre2_match(pv->allow, (PCRE2_SPTR)key, strlen(key), 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (m < 0) {
            *why = km_xasprintf("environment variable '%s' is not allowed by %s = %s", key, pv->allow_key, pv->allow_src);
            return NULL;
        }
    }
    const char *v = getenv(key);
    if (!v) {
        *why = km_xasprintf("environment variable '%s' is not set", key);
        return NULL;
    }
    return km_xstrdup(v);
}

/* The value of p with its references resolved, or NULL after recording errors. */
static char *resolve_value(const providers_t *ps, const km_prop_t *p, const char *name, km_props_t *secrets, km_diag_t *d) {
    char *out = NULL;
    size_t outlen = 0;
    FILE *m = open_memstream(&out, &outlen);
    bool failed = false;
    const char *s = p->value;
    for (;;) {
        const char *open = strstr(s, "${");
        const char *close = open ? strchr(open + 2, '}') : NULL;
        const char *colon = close ? memchr(open + 2, ':', (size_t)(close - open - 2)) : NULL;
        if (!open || !close) {
            fputs(s, m);
            break;
        }
        if (!colon) { /* ${x} names no provider: plain text, as in Kafka */
            fwrite(s, 1, (size_t)(open + 2 - s), m);
            s = open + 2;
            continue;
        }
        fwrite(s, 1, (size_t)(open - s), m);
        char *ref = km_xstrndup(open, (size_t)(close + 1 - open));
        char *pname = km_xstrndup(open + 2, (size_t)(colon - open - 2));
        const char *rest = colon + 1;
        const char *c2 = memchr(rest, ':', (size_t)(close - rest));
        char *path = c2 ? km_xstrndup(rest, (size_t)(c2 - rest)) : km_xstrdup("");
        char *key = c2 ? km_xstrndup(c2 + 1, (size_t)(close - c2 - 1)) : km_xstrndup(rest, (size_t)(close - rest));
        const provider_t *pv = find_provider(ps, pname);
        char *why = NULL, *warn = NULL, *v = NULL;
        if (!pv)
            why = km_xasprintf("unknown config provider '%s' (config.providers %s)", pname,
                               ps->n ? "does not list it" : "is not set");
        else if (pv->kind != KIND_ENV && !path_allowed(pv, path))
            why = km_xasprintf("%s is not under config.providers.%s.param.allowed.paths", path, pv->name);
        else if (pv->kind == KIND_FILE)
            v = lookup_file(pv, path, key, &why);
        else if (pv->kind == KIND_DIR)
            v = lookup_dir(pv, path, key, &why, &warn);
        else
            v = lookup_env(pv, path, key, &why);
        if (v) {
            fputs(v, m);
            if (*v) km_props_set(secrets, ref, v, p->line);
            explicit_bzero(v, strlen(v));
            free(v);
        } else {
            km_diag_error(d, "%s:%d: '%s': %s: %s", name, p->line, p->key, ref, why);
            failed = true;
        }
        if (warn) km_diag_warn(d, "%s:%d: '%s': %s: %s", name, p->line, p->key, ref, warn);
        free(why);
        free(warn);
        free(ref);
        free(pname);
        free(path);
        free(key);
        s = close + 1;
    }
    fclose(m);
    if (failed) {
        explicit_bzero(out, outlen);
        free(out);
        return NULL;
    }
    return out;
}

int km_providers_resolve(km_props_t *props, const char *name, km_props_t *secrets, km_diag_t *d) {
    providers_t ps = {0};
    int rc = configure(&ps, props, name, d);
    for (size_t i = 0; i < props->n; i++) {
        km_prop_t *p = &props->items[i];
        if (km_str_starts_with(p->key, PREFIX) || !strstr(p->value, "${")) continue;
        char *v = resolve_value(&ps, p, name, secrets, d);
        if (!v) {
            rc = -1;
            continue;
        }
        free(p->value);
        p->value = v;
    }
    providers_free(&ps);
    return rc;
}

size_t km_providers_redact_buf(const void *secrets, const char *in, char *out, size_t cap) {
    const km_props_t *sv = secrets;
    size_t n = 0;
#define PUT(c) do { if (n + 1 < cap) out[n] = (c); n++; } while (0)
    for (const char *s = in; *s;) {
        const km_prop_t *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; i < sv->n; i++) {
            size_t len = strlen(sv->items[i].value);
            if (len > best_len && strncmp(s, sv->items[i].value, len) == 0) best = &sv->items[i], best_len = len;
        }
        if (best) {
            for (const char *r = best->key; *r; r++) PUT(*r);
            s += best_len;
        } else {
            PUT(*s);
            s++;
        }
    }
#undef PUT
    if (cap) out[n < cap ? n : cap - 1] = '\0';
    return n;
}

char *km_providers_redact(const km_props_t *secrets, const char *text) {
    size_t n = km_providers_redact_buf(secrets, text, NULL, 0);
    char *out = km_xmalloc(n + 1);
    km_providers_redact_buf(secrets, text, out, n + 1);
    return out;
}

const char *km_providers_reference(const km_props_t *secrets, const char *value) {
    for (size_t i = 0; i < secrets->n; i++)
        if (strcmp(secrets->items[i].value, value) == 0) return secrets->items[i].key;
    return NULL;
}

static void redact_all(const km_props_t *secrets, char **msgs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char *r = km_providers_redact(secrets, msgs[i]);
        free(msgs[i]);
        msgs[i] = r;
    }
}

void km_providers_redact_diag(const km_props_t *secrets, km_diag_t *d) {
    if (!secrets->n) return;
    redact_all(secrets, d->warnings, d->nwarnings);
    redact_all(secrets, d->errors, d->nerrors);
}

static km_props_t logged; /* the process-wide copy behind km_log's rewrite */

void km_providers_redact_logs(const km_props_t *secrets) {
    km_log_set_redactor(NULL, NULL);
    km_providers_forget(&logged);
    km_props_copy(&logged, secrets);
    if (logged.n) km_log_set_redactor(km_providers_redact_buf, &logged);
}

/* Threads may be redacting with the current list, so a longer one is installed beside it and
 * the earlier lists are kept (reachable from here) until exit: one per reload that brought a
 * secret not seen before. */
typedef struct more_logged {
    km_props_t secrets;
    struct more_logged *prev;
} more_logged_t;
static more_logged_t *more;

void km_providers_redact_logs_more(const km_props_t *secrets) {
    const km_props_t *cur = more ? &more->secrets : &logged;
    bool news = false;
    for (size_t i = 0; i < secrets->n && !news; i++) news = !km_providers_reference(cur, secrets->items[i].value);
    if (!news) return;
    /* Built by hand, not with km_props_set: a rotated secret keeps its reference as key, and the
     * old value must stay in the list beside the new one. */
    more_logged_t *next = km_xcalloc(1, sizeof(*next));
    next->secrets.cap = cur->n + secrets->n;
    next->secrets.items = km_xcalloc(next->secrets.cap, sizeof(km_prop_t));
    for (size_t i = 0; i < cur->n; i++)
        next->secrets.items[next->secrets.n++] = (km_prop_t){km_xstrdup(cur->items[i].key), km_xstrdup(cur->items[i].value), 0};
    for (size_t i = 0; i < secrets->n; i++)
        if (!km_providers_reference(cur, secrets->items[i].value))
            next->secrets.items[next->secrets.n++] = (km_prop_t){km_xstrdup(secrets->items[i].key), km_xstrdup(secrets->items[i].value), 0};
    next->prev = more;
    more = next;
    km_log_set_redactor(km_providers_redact_buf, &next->secrets);
}

void km_providers_forget(km_props_t *secrets) {
    for (size_t i = 0; i < secrets->n; i++) explicit_bzero(secrets->items[i].value, strlen(secrets->items[i].value));
    km_props_free(secrets);
}
