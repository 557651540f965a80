/* log.c — see log.h. Each line is formatted into one buffer and written with a single
 * fwrite so that lines from librdkafka's threads never interleave mid-line. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MSG_MAX 4096

static _Atomic int log_level = KM_LOG_INFO;
static _Atomic int log_format = KM_LOG_TEXT;

static _Atomic(km_log_redact_fn) redact_fn;
static const void *_Atomic redact_ctx;

void km_log_set_redactor(km_log_redact_fn fn, const void *ctx) {
    atomic_store(&redact_ctx, ctx);
    atomic_store(&redact_fn, fn);
}

size_t km_log_redact(const char *in, char *out, size_t cap) {
    km_log_redact_fn fn = atomic_load(&redact_fn);
    if (fn) return fn(atomic_load(&redact_ctx), in, out, cap);
    size_t n = strlen(in);
    if (cap) {
        size_t c = n < cap ? n : cap - 1;
        memcpy(out, in, c);
        out[c] = '\0';
    }
    return n;
}

void km_log_set_level(km_log_level_t lvl) { atomic_store(&log_level, (int)lvl); }
km_log_level_t km_log_get_level(void) { return (km_log_level_t)atomic_load(&log_level); }
void km_log_set_format(km_log_format_t f) { atomic_store(&log_format, (int)f); }

int km_log_parse_level(const char *s) {
    static const struct { const char *name; km_log_level_t lvl; } names[] = {
        {"error", KM_LOG_ERROR}, {"warn", KM_LOG_WARN}, {"warning", KM_LOG_WARN},
        {"info", KM_LOG_INFO},   {"debug", KM_LOG_DEBUG}, {"trace", KM_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0) return (int)names[i].lvl;
    return -1;
}

int km_log_level_resolve(const char *named, int verbosity) {
    int lvl = named ? km_log_parse_level(named) : KM_LOG_INFO;
    if (lvl < 0) return -1;
    lvl += verbosity;
    return lvl < KM_LOG_ERROR ? KM_LOG_ERROR : lvl > KM_LOG_DEBUG ? KM_LOG_DEBUG : lvl;
}

int km_log_parse_format(const char *s) {
    if (strcasecmp(s, "text") == 0) return KM_LOG_TEXT;
    if (strcasecmp(s, "json") == 0) return KM_LOG_JSON;
    return -1;
}

/* Length of the valid UTF-8 sequence at s (at most avail bytes), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t avail) {
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : 0;
    if (n == 0 || n > avail) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    unsigned cp = n == 2 ? 0 : n == 3 ? (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 : (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12;
    if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0; /* overlong, surrogate */
    if (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
    return n;
}

size_t km_log_json_escape(char *out, size_t cap, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *put = esc;
        size_t n = 1, take = 1;
        if (c == '"' || c == '\\') esc[0] = '\\', esc[1] = (char)c, n = 2;
        else if (c == '\n') memcpy(esc, "\\n", n = 2);
        else if (c == '\t') memcpy(esc, "\\t", n = 2);
        else if (c == '\r') memcpy(esc, "\\r", n = 2);
        else if (c < 0x20 || c == 0x7f) memcpy(esc, "\\u00", 4), esc[4] = hex[c >> 4], esc[5] = hex[c & 15], n = 6;
        else if (c < 0x80) esc[0] = (char)c;
        else if ((take = utf8_seq((const unsigned char *)s + i, len - i)) > 0) put = s + i, n = take;
        else put = "\\ufffd", n = 6, take = 1; /* not UTF-8: JSON readers would reject the line */
        if (o + n > cap) break; /* cut before an escape or character, never inside one */
        memcpy(out + o, put, n);
        o += n;
        i += take;
    }
    return o;
}

void km_log(km_log_level_t lvl, const char *fmt, ...) {
    static const char *tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    static const char *names[] = {"error", "warn", "info", "debug"};
    if ((int)lvl > atomic_load(&log_level)) return;
    bool json = atomic_load(&log_format) == KM_LOG_JSON;
    char msg[MSG_MAX], line[MSG_MAX * 2];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = json ? (size_t)snprintf(line, sizeof(line), "{\"ts\":\"") : 0;
    n += strftime(line + n, sizeof(line) - n, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, json ? ".%03ldZ\",\"level\":\"%s\",\"msg\":\"" : ".%03ldZ %s ",
                          ts.tv_nsec / 1000000L, json ? names[lvl] : tags[lvl]);
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t mlen = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
    const char *text = msg;
    char redacted[MSG_MAX];
    if (atomic_load(&redact_fn)) {
        /* A long line is redacted whole before it is cut, so no secret's head survives the cut. */
        char *whole = m > 0 && (size_t)m >= sizeof(msg) ? malloc((size_t)m + 1) : NULL;
        if (whole) vsnprintf(whole, (size_t)m + 1, fmt, again);
        size_t r = km_log_redact(whole ? whole : msg, redacted, sizeof(redacted));
        free(whole);
        mlen = r < sizeof(redacted) ? r : sizeof(redacted) - 1;
        text = redacted;
    }
    va_end(again);
    if (json) {
        n += km_log_json_escape(line + n, sizeof(line) - n - 3, text, mlen);
        memcpy(line + n, "\"}\n", 3);
        n += 3;
    } else {
        memcpy(line + n, text, mlen);
        n += mlen;
        line[n++] = '\n';
    }
    fwrite(line, 1, n, stderr);
}
