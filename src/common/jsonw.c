/*
 * jsonw.c — see jsonw.h.
 */
#include "common/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void jsonw_init(struct jsonw *w)
{
    memset(w, 0, sizeof(*w));
    w->first[0] = true;
}

void jsonw_free(struct jsonw *w)
{
    if (!w)
        return;
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void jsonw_reset(struct jsonw *w)
{
    w->len = 0;
    w->depth = 0;
    w->failed = false;
    w->first[0] = true;
}

/* Makes room for n more bytes; false (and failed) when memory runs out. */
static bool reserve(struct jsonw *w, size_t n)
{
    size_t want, cap;
    char *nb;

    if (w->failed)
        return false;
    want = w->len + n;
    if (want <= w->cap)
        return true;
    cap = w->cap ? w->cap : 4096;
    while (cap < want)
        cap *= 2;
    nb = realloc(w->buf, cap);
    if (!nb) {
        w->failed = true;
        return false;
    }
    w->buf = nb;
    w->cap = cap;
    return true;
}

static inline void put(struct jsonw *w, const char *s, size_t n)
{
    if (reserve(w, n)) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

static inline void putc1(struct jsonw *w, char c)
{
    if (reserve(w, 1))
        w->buf[w->len++] = c;
}

/* Separator before a value or key at the current depth. */
static void sep(struct jsonw *w)
{
    if (w->first[w->depth])
        w->first[w->depth] = false;
    else
        putc1(w, ',');
}

static void open_container(struct jsonw *w, char c)
{
    sep(w);
    putc1(w, c);
    if (w->depth + 1 < JSONW_MAX_DEPTH) {
        w->depth++;
        w->first[w->depth] = true;
    } else {
        w->failed = true;
    }
}

static void close_container(struct jsonw *w, char c)
{
    putc1(w, c);
    if (w->depth > 0)
        w->depth--;
}

void jsonw_object_begin(struct jsonw *w) { open_container(w, '{'); }
void jsonw_object_end(struct jsonw *w) { close_container(w, '}'); }
void jsonw_array_begin(struct jsonw *w) { open_container(w, '['); }
void jsonw_array_end(struct jsonw *w) { close_container(w, ']'); }

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;

    if (c < 0xc2 || c > 0xf4)
        return 0;
    len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (len == 3) {
        cp = ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    } else if (len == 4) {
        cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
             ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        if (cp < 0x10000 || cp > 0x10ffff)
            return 0;
    }
    return len;
}

/* Whether any of the 8 bytes in v needs attention: a control character, '"',
 * '\\', or a byte >= 0x80 (possible UTF-8). False positives only cost the
 * byte-by-byte path for that word. */
static inline bool word_needs_care(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t ctl = (v - 0x20 * ones) & ~v & high;
    uint64_t q = v ^ (0x22 * ones);
    uint64_t b = v ^ (0x5c * ones);
    q = (q - ones) & ~q & high;
    b = (b - ones) & ~b & high;
    return (ctl | q | b | (v & high)) != 0;
}

static void put_escaped(struct jsonw *w, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;

    putc1(w, '"');
    while (i < n) {
        unsigned char c;
        if (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (!word_needs_care(v)) {
                i += 8;
                continue;
            }
        }
        c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq(s + i, n - i);
            if (l) {
                i += l;
                continue;
            }
        }
        put(w, (const char *)s + run, i - run);
        switch (c) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        case '\b': put(w, "\\b", 2); break;
        case '\f': put(w, "\\f", 2); break;
        case '\0': put(w, "\\\\x00", 5); break; /* \u0000 is refused by many readers */
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(w, u, 6);
            } else {
                char x[5] = {'\\', '\\', 'x', hex[c >> 4], hex[c & 15]};
                put(w, x, 5);
            }
        }
        i++;
        run = i;
    }
    put(w, (const char *)s + run, n - run);
    putc1(w, '"');
}

void jsonw_key(struct jsonw *w, const char *key)
{
    sep(w);
    put_escaped(w, key, strlen(key));
    putc1(w, ':');
    w->first[w->depth] = true; /* the value that follows takes no comma */
}

/* After a key the value must not add a comma, and the next key must. */
static void value_sep(struct jsonw *w)
{
    sep(w);
}

static void value_done(struct jsonw *w)
{
    w->first[w->depth] = false;
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
    value_sep(w);
    put_escaped(w, s ? s : "", s ? n : 0);
    value_done(w);
}

void jsonw_str(struct jsonw *w, const char *s)
{
    jsonw_strn(w, s, s ? strlen(s) : 0);
}

void jsonw_int(struct jsonw *w, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    value_sep(w);
    put(w, p, (size_t)(tmp + sizeof(tmp) - p));
    value_done(w);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    value_sep(w);
    put(w, p, (size_t)(tmp + sizeof(tmp) - p));
    value_done(w);
}

void jsonw_bool(struct jsonw *w, bool v)
{
    value_sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
    value_done(w);
}

void jsonw_null(struct jsonw *w)
{
    value_sep(w);
    put(w, "null", 4);
    value_done(w);
}

void jsonw_members(struct jsonw *w, const char *members, size_t len)
{
    if (!len)
        return;
    sep(w);
    put(w, members, len);
    w->first[w->depth] = false;
}

void jsonw_end_line(struct jsonw *w)
{
    putc1(w, '\n');
    w->depth = 0;
    w->first[0] = true;
}

void jsonw_raw(struct jsonw *w, const char *s, size_t n)
{
    value_sep(w);
    put(w, s, n);
    value_done(w);
}

void jsonw_kv_str(struct jsonw *w, const char *key, const char *v)
{
    jsonw_key(w, key);
    jsonw_str(w, v);
}

void jsonw_kv_str_opt(struct jsonw *w, const char *key, const char *v)
{
    if (v && *v)
        jsonw_kv_str(w, key, v);
}

void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v)
{
    jsonw_key(w, key);
    jsonw_int(w, v);
}

void jsonw_kv_uint(struct jsonw *w, const char *key, uint64_t v)
{
    jsonw_key(w, key);
    jsonw_uint(w, v);
}

void jsonw_kv_bool(struct jsonw *w, const char *key, bool v)
{
    jsonw_key(w, key);
    jsonw_bool(w, v);
}

/* The "YYYY-MM-DDTHH:MM:SS." part changes once a second: it is formatted
 * by gmtime_r only then; the nine digits of nanoseconds are written by hand.
 * (Not thread-safe; each thread that formats times must do it alone.) */
void jsonw_format_time(char *out, size_t outlen, uint64_t unix_ns)
{
    static __thread time_t cached_secs = -1;
    static __thread char cached[64];
    time_t secs = (time_t)(unix_ns / 1000000000ull);
    uint32_t ns = (uint32_t)(unix_ns % 1000000000ull);

    if (outlen < 31) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    if (secs != cached_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_secs = secs;
    }
    memcpy(out, cached, 20);
    for (int i = 28; i >= 20; i--) {
        out[i] = (char)('0' + ns % 10);
        ns /= 10;
    }
    out[29] = 'Z';
    out[30] = '\0';
}

void jsonw_kv_time(struct jsonw *w, const char *key, uint64_t unix_ns)
{
    char tmp[40];
    tmp[0] = '"';
    jsonw_format_time(tmp + 1, sizeof(tmp) - 1, unix_ns);
    tmp[31] = '"';
    jsonw_key(w, key);
    value_sep(w);
    put(w, tmp, 32);
    value_done(w);
}
