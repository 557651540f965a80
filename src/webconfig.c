/* webconfig.c — see webconfig.h. */
#include "webconfig.h"

#include "util.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Certificates, keys and the web config itself are small; a bigger file is a wrong path. */
#define MAX_FILE_BYTES (1 << 20)
#define BCRYPT_LEN 60

typedef struct user {
    char *name, *hash;
    unsigned char good[32]; /* SHA-256 of the last password bcrypt accepted */
    bool has_good;
} user_t;

struct km_webconfig {
    char *cert_pem, *key_pem, *client_ca_pem;
    const char *priorities;
    user_t *users;
    size_t nusers;
    pthread_mutex_t lock; /* users[].good */
};

/* What one parse collects before checking: values with the line they were on (0: absent). */
typedef struct parsed {
    char *cert_file, *key_file, *client_ca_file, *client_auth_type, *min_version;
    int cert_line, key_line, ca_line, auth_line, min_line, tls_line;
} parsed_t;

typedef struct ctx {
    const char *path, *where;
    char *dir; /* of path, for relative file names */
    km_diag_t *d;
    int errors;
} ctx_t;

__attribute__((format(printf, 3, 4))) static void bad(ctx_t *c, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0) km_diag_error(c->d, "%s: metrics.web.config.file: %s:%d: %s", c->where, c->path, line, msg);
    else km_diag_error(c->d, "%s: metrics.web.config.file: %s: %s", c->where, c->path, msg);
    c->errors++;
}

static char *read_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = km_xmalloc(MAX_FILE_BYTES + 1);
    size_t n = fread(buf, 1, MAX_FILE_BYTES + 1, f);
    bool failed = ferror(f);
    fclose(f);
    if (failed || n > MAX_FILE_BYTES || memchr(buf, '\0', n)) {
        snprintf(err, errlen, "%s is %s", path, failed ? "unreadable" : n > MAX_FILE_BYTES ? "larger than 1 MiB" : "not text");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* ---- the YAML subset ----------------------------------------------------------------------- */

/* A scalar starting at s: 'single' (with '' for '), "double" (with \" and \\), or plain up to a
 * " #" comment. The rest of the line must be blank or a comment. NULL with why. */
static char *scalar(const char *s, const char **why) {
    char *out;
    const char *rest;
    if (*s == '\'' || *s == '"') {
        char q = *s++;
        size_t n = 0;
        out = km_xmalloc(strlen(s) + 1);
        for (;; s++) {
            if (!*s) {
                free(out);
                *why = "unterminated quoted value";
                return NULL;
            }
            if (q == '\'' && s[0] == '\'' && s[1] == '\'') out[n++] = *s++;
            else if (q == '"' && s[0] == '\\' && (s[1] == '"' || s[1] == '\\')) out[n++] = *++s;
            else if (q == '"' && s[0] == '\\') {
                free(out);
                *why = "only \\\" and \\\\ escapes are supported in double-quoted values";
                return NULL;
            } else if (*s == q) break;
            else out[n++] = *s;
        }
        out[n] = '\0';
        rest = s + 1;
    } else {
        const char *end = s;
        while (*end && !(*end == '#' && end > s && (end[-1] == ' ' || end[-1] == '\t'))) end++;
        char *raw = km_xstrndup(s, (size_t)(end - s));
        out = km_strtrim(raw);
        free(raw);
        if (*out && strcmp(out, "{}") != 0 && strchr("[{&*!|>%@`", *out)) {
            free(out);
            *why = "flow collections, anchors, tags and block scalars are not supported: write a plain or quoted value";
            return NULL;
        }
        rest = end;
    }
    rest += strspn(rest, " \t");
    if (*rest && *rest != '#') {
        free(out);
        *why = "unexpected text after the value";
        return NULL;
    }
    return out;
}

/* Splits "key: value" (key plain or quoted). 0, or -1 with why. */
static int key_value(const char *s, char **key, char **value, const char **why) {
    const char *colon;
    if (*s == '\'' || *s == '"') {
        const char *close = strchr(s + 1, *s);
        if (!close || close[1] != ':') {
            *why = "expected 'key: value'";
            return -1;
        }
        *key = km_xstrndup(s + 1, (size_t)(close - s - 1));
        colon = close + 1;
    } else {
        colon = s;
        while (*colon && !(*colon == ':' && (colon[1] == '\0' || colon[1] == ' ' || colon[1] == '\t'))) colon++;
        if (!*colon || colon == s) {
            *why = "expected 'key: value'";
            return -1;
        }
        *key = km_xstrndup(s, (size_t)(colon - s));
    }
    const char *v = colon + 1 + strspn(colon + 1, " \t");
    *value = *v == '#' ? km_xstrdup("") : scalar(v, why);
    if (!*value) {
        free(*key);
        return -1;
    }
    return 0;
}

static bool is_bcrypt(const char *h) {
    return strlen(h) == BCRYPT_LEN && (km_str_starts_with(h, "$2a$") || km_str_starts_with(h, "$2b$") || km_str_starts_with(h, "$2y$")) &&
           h[4] >= '0' && h[4] <= '3' && h[5] >= '0' && h[5] <= '9' && h[6] == '$';
}

static void add_user(ctx_t *c, km_webconfig_t *w, int line, char *name, char *hash) {
    const char *why = NULL;
    for (size_t i = 0; i < w->nusers && !why; i++)
        if (strcmp(w->users[i].name, name) == 0) why = "is listed twice";
    if (!why && (!*name || strchr(name, ':'))) why = "is not a user name for basic auth (empty or holding ':')";
    if (!why && !is_bcrypt(hash)) why = "needs a bcrypt hash ($2y$..., 60 characters, e.g. from htpasswd -nBC 10 \"\" | tr -d ':\\n'), not a password";
    if (why) {
        bad(c, line, "basic_auth_users: user '%s' %s", name, why);
        free(name);
        free(hash);
        return;
    }
    w->users = km_xrealloc(w->users, (w->nusers + 1) * sizeof(user_t));
    w->users[w->nusers++] = (user_t){.name = name, .hash = hash};
}

static void tls_key(ctx_t *c, parsed_t *p, int line, const char *key, char *value) {
    static const char *const unsupported[] = {"cert", "key", "client_ca", "max_version", "cipher_suites", "curve_preferences",
                                              "prefer_server_cipher_suites", "client_allowed_sans"};
    struct {
        const char *name;
        char **value;
        int *line;
    } known[] = {{"cert_file", &p->cert_file, &p->cert_line},          {"key_file", &p->key_file, &p->key_line},
                 {"client_ca_file", &p->client_ca_file, &p->ca_line}, {"client_auth_type", &p->client_auth_type, &p->auth_line},
                 {"min_version", &p->min_version, &p->min_line}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(key, known[i].name) == 0) {
            if (*known[i].value) bad(c, line, "tls_server_config: %s is given twice", key);
            free(*known[i].value);
            *known[i].value = value;
            *known[i].line = line;
            return;
        }
    bool later = false;
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) later |= strcmp(key, unsupported[i]) == 0;
    if (later) bad(c, line, "tls_server_config: %s is not supported by kmirror (it reads cert_file, key_file, client_auth_type, client_ca_file and min_version)", key);
    else bad(c, line, "tls_server_config: unknown key '%s' (known: cert_file, key_file, client_auth_type, client_ca_file, min_version)", key);
    free(value);
}

static void parse(ctx_t *c, char *text, km_webconfig_t *w, parsed_t *p) {
    enum { NONE, TLS, USERS, OTHER } section = NONE;
    int line = 0, child_indent = 0;
    for (char *s = text, *next; s; s = next) {
        line++;
        next = strchr(s, '\n');
        if (next) *next++ = '\0';
        size_t len = strlen(s);
        if (len && s[len - 1] == '\r') s[--len] = '\0';
        int indent = (int)strspn(s, " ");
        char *rest = s + indent;
        if (*rest == '\t') {
            bad(c, line, "a tab in the indentation (YAML indents with spaces)");
            continue;
        }
        if (!*rest || *rest == '#' || (indent == 0 && (strcmp(rest, "---") == 0 || strcmp(rest, "...") == 0))) continue;
        if (*rest == '-' && (rest[1] == ' ' || !rest[1])) {
            bad(c, line, "a list is not expected here");
            continue;
        }
        char *key, *value;
        const char *why = "expected 'key: value'";
        if (key_value(rest, &key, &value, &why) != 0) {
            bad(c, line, "%s", why);
            continue;
        }
        if (indent == 0) {
            child_indent = 0;
            section = strcmp(key, "tls_server_config") == 0 ? TLS : strcmp(key, "basic_auth_users") == 0 ? USERS : OTHER;
            if (section == TLS) p->tls_line = line;
            if (section == OTHER && strcmp(key, "http_server_config") == 0)
                bad(c, line, "http_server_config is not supported by kmirror (HTTP/2 and extra headers)");
            else if (section == OTHER)
                bad(c, line, "unknown key '%s' (a web config file has tls_server_config and basic_auth_users)", key);
            else if (*value && strcmp(value, "{}") != 0 && strcmp(value, "null") != 0 && strcmp(value, "~") != 0)
                bad(c, line, "%s must be a mapping: its keys on the following lines, indented", key);
            free(key);
            free(value);
            continue;
        }
        if (!child_indent) child_indent = indent;
        if (section == NONE || indent != child_indent) {
            bad(c, line, section == NONE ? "indented line outside tls_server_config or basic_auth_users"
                                         : "nested or misaligned mapping (kmirror reads two levels: section, then key: value)");
            free(key);
            free(value);
        } else if (!*value) {
            bad(c, line, "%s has no value", key);
            free(key);
            free(value);
        } else if (section == TLS) {
            tls_key(c, p, line, key, value);
            free(key);
        } else if (section == USERS) {
            add_user(c, w, line, key, value);
        } else {
            free(key);
            free(value);
        }
    }
}

/* ---- checking the TLS files ---------------------------------------------------------------- */

static char *resolve(const ctx_t *c, const char *file) {
    return file[0] == '/' ? km_xstrdup(file) : km_xasprintf("%s/%s", c->dir, file);
}

static const char *ssl_reason(void) {
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    return r ? r : "not PEM";
}

/* Reads the PEM file named on `line` into *out; its certificates into *certs (a count), its key
 * into *key (when key is not NULL). */
static void load_pem(ctx_t *c, int line, const char *what, const char *file, char **out, X509 **first, int *certs, EVP_PKEY **key) {
    char *path = resolve(c, file), err[600];
    *out = read_file(path, err, sizeof(err));
    if (!*out) {
        bad(c, line, "%s: %s", what, err);
        free(path);
        return;
    }
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(*out, -1);
    if (key) {
        /* No password callback: an encrypted key fails here instead of prompting. */
        *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
        if (!*key) bad(c, line, "%s: %s holds no unencrypted PEM private key (%s)", what, path, ssl_reason());
    } else {
        X509 *x;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
            if (!*first) *first = x;
            else X509_free(x);
            (*certs)++;
        }
        ERR_clear_error(); /* the end of the file */
        if (!*certs) bad(c, line, "%s: %s holds no PEM certificate", what, path);
    }
    BIO_free(bio);
    free(path);
}

static void check_tls(ctx_t *c, km_webconfig_t *w, parsed_t *p) {
    if (!p->tls_line) return;
    if (!p->cert_file || !p->key_file) {
        bad(c, p->tls_line, "tls_server_config needs both cert_file and key_file");
        return;
    }
    X509 *cert = NULL, *ca = NULL;
    EVP_PKEY *key = NULL;
    int ncert = 0, nca = 0;
    load_pem(c, p->cert_line, "cert_file", p->cert_file, &w->cert_pem, &cert, &ncert, NULL);
    load_pem(c, p->key_line, "key_file", p->key_file, &w->key_pem, NULL, NULL, &key);
    if (cert && key && X509_check_private_key(cert, key) != 1)
        bad(c, p->key_line, "key_file %s is not the key of the certificate in cert_file %s", p->key_file, p->cert_file);
    const char *auth = p->client_auth_type ? p->client_auth_type : "NoClientCert";
    if (strcmp(auth, "RequireAndVerifyClientCert") == 0) {
        if (!p->client_ca_file) bad(c, p->auth_line, "client_auth_type RequireAndVerifyClientCert needs client_ca_file");
        else load_pem(c, p->ca_line, "client_ca_file", p->client_ca_file, &w->client_ca_pem, &ca, &nca, NULL);
    } else if (strcmp(auth, "NoClientCert") != 0) {
        bad(c, p->auth_line, "client_auth_type %s is not supported by kmirror (NoClientCert or RequireAndVerifyClientCert)", auth);
    } else if (p->client_ca_file) {
        km_diag_warn(c->d, "%s: metrics.web.config.file: %s:%d: client_ca_file is not used: client_auth_type is NoClientCert", c->where,
                     c->path, p->ca_line);
    }
    const char *min = p->min_version ? p->min_version : "TLS12";
    if (strcmp(min, "TLS12") == 0) w->priorities = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    else if (strcmp(min, "TLS13") == 0) w->priorities = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
    else bad(c, p->min_line, "min_version %s is not supported (TLS12 or TLS13)", min);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
}

km_webconfig_t *km_webconfig_load(const char *path, const char *where, km_diag_t *d) {
    char err[600];
    const char *slash = strrchr(path, '/');
    ctx_t c = {path, where, slash ? km_xstrndup(path, (size_t)(slash - path + (slash == path))) : km_xstrdup("."), d, 0};
    km_webconfig_t *w = km_xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    parsed_t p = {0};
    char *text = read_file(path, err, sizeof(err));
    if (!text) bad(&c, 0, "%s", err);
    else parse(&c, text, w, &p);
    if (!c.errors) check_tls(&c, w, &p);
    if (!c.errors && !w->cert_pem && w->nusers)
        km_diag_warn(d, "%s: metrics.web.config.file: %s: basic_auth_users without tls_server_config: passwords cross the network in clear",
                     where, path);
    free(text);
    free(c.dir);
    free(p.cert_file);
    free(p.key_file);
    free(p.client_ca_file);
    free(p.client_auth_type);
    free(p.min_version);
    if (c.errors) {
        km_webconfig_free(w);
        return NULL;
    }
    return w;
}

void km_webconfig_free(km_webconfig_t *w) {
    if (!w) return;
    for (size_t i = 0; i < w->nusers; i++) {
        free(w->users[i].name);
        free(w->users[i].hash);
    }
    free(w->users);
    if (w->key_pem) OPENSSL_cleanse(w->key_pem, strlen(w->key_pem));
    free(w->key_pem);
    free(w->cert_pem);
    free(w->client_ca_pem);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

const char *km_webconfig_cert_pem(const km_webconfig_t *w) { return w ? w->cert_pem : NULL; }
const char *km_webconfig_key_pem(const km_webconfig_t *w) { return w ? w->key_pem : NULL; }
const char *km_webconfig_client_ca_pem(const km_webconfig_t *w) { return w ? w->client_ca_pem : NULL; }
const char *km_webconfig_tls_priorities(const km_webconfig_t *w) { return w ? w->priorities : NULL; }
bool km_webconfig_has_users(const km_webconfig_t *w) { return w && w->nusers > 0; }

/* ---- basic auth ---------------------------------------------------------------------------- */

static void sha256_of(const char *user, const char *password, unsigned char out[32]) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) km_oom();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, user, strlen(user) + 1); /* with its NUL: "ab"+"c" differs from "a"+"bc" */
    EVP_DigestUpdate(md, password, strlen(password));
    EVP_DigestFinal_ex(md, out, NULL);
    EVP_MD_CTX_free(md);
}

bool km_webconfig_check_user(km_webconfig_t *w, const char *user, const char *password) {
    if (!w->nusers) return true;
    /* Every name is compared, so where the match is does not show in the time taken. */
    user_t *u = NULL;
    for (size_t i = 0; i < w->nusers; i++) {
        size_t a = strlen(w->users[i].name), b = strlen(user);
        if (a == b && CRYPTO_memcmp(w->users[i].name, user, a) == 0) u = &w->users[i];
    }
    unsigned char digest[32];
    sha256_of(user, password, digest);
    pthread_mutex_lock(&w->lock);
    bool known = u && u->has_good && CRYPTO_memcmp(u->good, digest, sizeof(digest)) == 0;
    pthread_mutex_unlock(&w->lock);
    if (known) return true;
    /* An unknown user still pays for one bcrypt (against the first user's hash, same cost). */
    const char *hash = u ? u->hash : w->users[0].hash;
    struct crypt_data *cd = km_xcalloc(1, sizeof(*cd));
    const char *got = crypt_r(password, hash, cd);
    bool ok = u && got && strlen(got) == BCRYPT_LEN && CRYPTO_memcmp(got, hash, BCRYPT_LEN) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    if (ok) {
        pthread_mutex_lock(&w->lock);
        memcpy(u->good, digest, sizeof(digest));
        u->has_good = true;
        pthread_mutex_unlock(&w->lock);
    }
    return ok;
}
