/* kt_metrics.c — see kt_metrics.h. */
#include "kt_metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int kt_http_get(int port, const char *path, int *status, char **body) { return kt_http_request(port, "GET", path, status, body); }

int kt_http_request(int port, const char *method, const char *path, int *status, char **body) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {40, 0}; /* POST /-/reload may wait 30 s for its reload */
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "kt_http_request: cannot connect to 127.0.0.1:%d\n", port);
        if (fd >= 0) close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     method, path);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (write(fd, req, (size_t)n) == n)
        for (ssize_t r; (r = read(fd, buf + len, cap - len - 1)) > 0;)
            if ((len += (size_t)r) + 1 == cap) buf = realloc(buf, cap *= 2);
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
        fprintf(stderr, "kt_http_request: no HTTP answer for %s %s from port %d\n", method, path, port);
        free(buf);
        return -1;
    }
    *body = strdup(sep + 4);
    free(buf);
    return 0;
}

/* ---- one sample line ----------------------------------------------------------------------- */

#define MAX_LABELS 16

typedef struct sample {
    char name[256];
    int nlabels;
    char key[MAX_LABELS][64];
    char val[MAX_LABELS][512]; /* unescaped */
    double value;
} sample_t;

static bool name_char(char c, bool first, bool colon) {
    return isalpha((unsigned char)c) || c == '_' || (colon && c == ':') || (!first && isdigit((unsigned char)c));
}

/* Reads a name at *p into out; false when there is none. */
static bool read_name(const char **p, char *out, size_t outlen, bool colon) {
    size_t n = 0;
    while (name_char((*p)[n], n == 0, colon) && n + 1 < outlen) n++;
    if (n == 0) return false;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return true;
}

static bool read_label_value(const char **p, char *out, size_t outlen) {
    const char *s = *p;
    size_t n = 0;
    if (*s++ != '"') return false;
    for (; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            s++;
            if (*s == 'n') c = '\n';
            else if (*s == '\\' || *s == '"') c = *s;
            else return false;
        }
        if (n + 1 < outlen) out[n++] = c;
    }
    out[n] = '\0';
    if (*s != '"') return false;
    *p = s + 1;
    return true;
}

static bool read_value(const char *s, double *v) {
    if (strcmp(s, "+Inf") == 0) *v = INFINITY;
    else if (strcmp(s, "-Inf") == 0) *v = -INFINITY;
    else if (strcmp(s, "NaN") == 0) *v = NAN;
    else {
        char *end;
        *v = strtod(s, &end);
        if (end == s) return false;
        if (*end == ' ') strtoll(end + 1, &end, 10); /* optional timestamp */
        return *end == '\0';
    }
    return true;
}

static const char *parse_sample(const char *line, sample_t *o) {
    const char *p = line;
    memset(o, 0, sizeof(*o));
    if (!read_name(&p, o->name, sizeof(o->name), true)) return "bad metric name";
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (o->nlabels == MAX_LABELS) return "too many labels";
            if (!read_name(&p, o->key[o->nlabels], sizeof(o->key[0]), false)) return "bad label name";
            if (*p++ != '=') return "label without '='";
            if (!read_label_value(&p, o->val[o->nlabels], sizeof(o->val[0]))) return "bad label value (quote or escape)";
            o->nlabels++;
            if (*p == ',') p++;
            else if (*p != '}') return "labels not separated by ','";
        }
        p++;
    }
    if (*p++ != ' ') return "no space before the value";
    if (!read_value(p, &o->value)) return "bad value";
    return NULL;
}

/* ---- the whole exposition ------------------------------------------------------------------ */

typedef struct family {
    char name[256], type[16];
    bool help, done, has_samples;
} family_t;

typedef struct checker {
    family_t *fams;
    size_t nfams;
    long current; /* index of the family of the last sample, -1 none */
    char **series;
    size_t nseries;
    char hist_series[4096]; /* labels of the histogram series being read, without le */
    double hist_last, hist_inf;
} checker_t;

static family_t *family_get(checker_t *c, const char *name, bool create) {
    for (size_t i = 0; i < c->nfams; i++)
        if (strcmp(c->fams[i].name, name) == 0) return &c->fams[i];
    if (!create) return NULL;
    c->fams = realloc(c->fams, (c->nfams + 1) * sizeof(*c->fams));
    family_t *f = &c->fams[c->nfams++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    return f;
}

static const char *comment(checker_t *c, const char *line) {
    char kind[8], name[256];
    int off = 0;
    if (sscanf(line, "# %7s %255s %n", kind, name, &off) < 2 || (strcmp(kind, "HELP") && strcmp(kind, "TYPE"))) return NULL;
    const char *q = name;
    char check[256];
    if (!read_name(&q, check, sizeof(check), true) || *q) return "bad name in HELP/TYPE";
    family_t *f = family_get(c, name, true);
    if (f->has_samples) return "HELP/TYPE after samples of its family";
    if (strcmp(kind, "HELP") == 0) {
        if (f->help) return "second HELP for a family";
        f->help = true;
        return NULL;
    }
    if (f->type[0]) return "second TYPE for a family";
    const char *t = line + off;
    if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") && strcmp(t, "summary") && strcmp(t, "untyped"))
        return "unknown TYPE";
    if (strcmp(t, "counter") == 0 && (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total")))
        return "counter name does not end in _total";
    snprintf(f->type, sizeof(f->type), "%s", t);
    return NULL;
}

/* The family a sample belongs to: its own name, or a histogram's base name. */
static family_t *family_of(checker_t *c, const char *name) {
    family_t *f = family_get(c, name, false);
    if (f && f->type[0]) return f;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(name), m = strlen(suffixes[i]);
        if (n <= m || strcmp(name + n - m, suffixes[i])) continue;
        char base[256];
        snprintf(base, sizeof(base), "%.*s", (int)(n - m), name);
        f = family_get(c, base, false);
        if (f && strcmp(f->type, "histogram") == 0) return f;
    }
    return NULL;
}

static void labels_string(const sample_t *s, bool skip_le, char *out, size_t outlen) {
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < s->nlabels; i++)
        if (!skip_le || strcmp(s->key[i], "le"))
            n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s=%s,", s->key[i], s->val[i]);
}

static const char *histogram_sample(checker_t *c, const sample_t *s) {
    char labels[4096];
    labels_string(s, true, labels, sizeof(labels));
    size_t n = strlen(s->name);
    if (n > 7 && strcmp(s->name + n - 7, "_bucket") == 0) {
        const char *le = NULL;
        for (int i = 0; i < s->nlabels; i++)
            if (strcmp(s->key[i], "le") == 0) le = s->val[i];
        if (!le) return "bucket without le";
        if (strcmp(labels, c->hist_series) != 0) {
            snprintf(c->hist_series, sizeof(c->hist_series), "%s", labels);
            c->hist_last = 0;
            c->hist_inf = -1;
        }
        if (s->value < c->hist_last) return "histogram buckets not cumulative";
        c->hist_last = s->value;
        if (strcmp(le, "+Inf") == 0) c->hist_inf = s->value;
    } else if (n > 6 && strcmp(s->name + n - 6, "_count") == 0) {
        if (strcmp(labels, c->hist_series) != 0 || c->hist_inf < 0) return "histogram _count without a le=\"+Inf\" bucket before it";
        if (s->value != c->hist_inf) return "histogram _count differs from its +Inf bucket";
    }
    return NULL;
}

static const char *sample_line(checker_t *c, const char *line) {
    sample_t s;
    const char *e = parse_sample(line, &s);
    if (e) return e;
    family_t *f = family_of(c, s.name);
    if (!f) return "sample without a TYPE line before it";
    if (f->done) return "family not contiguous";
    long idx = f - c->fams;
    if (c->current >= 0 && c->current != idx) c->fams[c->current].done = true;
    c->current = idx;
    f->has_samples = true;
    if (strcmp(f->type, "histogram") == 0 && (e = histogram_sample(c, &s))) return e;
    char key[4096 + 256];
    labels_string(&s, false, key + snprintf(key, 256, "%s|", s.name), sizeof(key) - 256);
    for (size_t i = 0; i < c->nseries; i++)
        if (strcmp(c->series[i], key) == 0) return "series appears twice";
    c->series = realloc(c->series, (c->nseries + 1) * sizeof(char *));
    c->series[c->nseries++] = strdup(key);
    return NULL;
}

int kt_prom_check(const char *text, char *err, size_t errlen) {
    checker_t c = {.current = -1};
    int samples = 0, lineno = 0;
    const char *e = NULL;
    char *copy = strdup(text), *save = NULL;
    if (!*text || text[strlen(text) - 1] != '\n') e = "does not end with a newline";
    for (char *line = copy; !e && *line; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : line + strlen(line);
        if (nl) *nl = '\0';
        lineno++;
        if (line[0] == '#') e = comment(&c, line);
        else if (!(e = sample_line(&c, line))) samples++;
    }
    if (e) snprintf(err, errlen, "line %d: %s", lineno, e);
    for (size_t i = 0; i < c.nseries; i++) free(c.series[i]);
    free(c.series);
    free(c.fams);
    free(copy);
    return e ? -1 : samples;
}

static bool matches(const sample_t *s, const char *name, const char *const *labels) {
    if (strcmp(s->name, name)) return false;
    for (size_t k = 0; labels && labels[k]; k++) {
        const char *eq = strchr(labels[k], '=');
        bool found = false;
        for (int i = 0; i < s->nlabels && !found; i++)
            found = strlen(s->key[i]) == (size_t)(eq - labels[k]) && strncmp(s->key[i], labels[k], (size_t)(eq - labels[k])) == 0 &&
                    strcmp(s->val[i], eq + 1) == 0;
        if (!found) return false;
    }
    return true;
}

static void scan(const char *text, const char *name, const char *const *labels, double *sum, double *max, int *count) {
    char *copy = strdup(text), *save;
    *sum = 0;
    *max = -1;
    *count = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        sample_t s;
        if (line[0] == '#' || parse_sample(line, &s) || !matches(&s, name, labels)) continue;
        *sum += s.value;
        if (s.value > *max) *max = s.value;
        ++*count;
    }
    free(copy);
}

double kt_prom_sum(const char *text, const char *name, const char *const *labels, int *count) {
    double sum, max;
    int n;
    scan(text, name, labels, &sum, &max, &n);
    if (count) *count = n;
    return sum;
}

double kt_prom_max(const char *text, const char *name, const char *const *labels) {
    double sum, max;
    int n;
    scan(text, name, labels, &sum, &max, &n);
    return max;
}
