/*
 * jsonw.h — a streaming JSON writer into a growing buffer.
 *
 * Made for the agent's hot path: no tree, no allocation per value, runs of
 * plain bytes copied at once. Strings are arbitrary bytes (paths and command
 * lines are not promised to be UTF-8): valid UTF-8 passes through, control
 * characters are escaped, and each byte that is not part of valid UTF-8
 * becomes the four characters \xNN (backslash, x, two hex digits), and so
 * does NUL (\u0000 would be valid JSON, but many readers refuse it), so the
 * output is always valid JSON and the byte stays recognisable
 * (docs/events.md, "Strings").
 *
 * Usage: jsonw_object_begin(w); jsonw_kv_str(w, "FileName", name); ...
 * jsonw_object_end(w). Commas are inserted automatically. After an
 * allocation failure the writer stops growing and jsonw_failed() is true.
 */
#ifndef YAMORI_COMMON_JSONW_H
#define YAMORI_COMMON_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 32

struct jsonw {
    char *buf;
    size_t len;
    size_t cap;
    int depth;
    bool failed;
    bool first[JSONW_MAX_DEPTH]; /* no value yet at this depth */
};

void jsonw_init(struct jsonw *w);
void jsonw_free(struct jsonw *w);
/* Forgets the content, keeps the memory. */
void jsonw_reset(struct jsonw *w);
static inline bool jsonw_failed(const struct jsonw *w) { return w->failed; }

void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);

void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* Ends a top-level value with a newline (JSON lines): the next value starts
 * a new line without a comma. */
void jsonw_end_line(struct jsonw *w);
/* Appends already rendered object members ("a":1,"b":2) inside the current
 * object, with the comma before them when needed. len 0 appends nothing. */
void jsonw_members(struct jsonw *w, const char *members, size_t len);
/* Appends raw bytes (must be valid JSON where they land). */
void jsonw_raw(struct jsonw *w, const char *s, size_t n);

/* key + value; the _opt variants write nothing for NULL or "" */
void jsonw_kv_str(struct jsonw *w, const char *key, const char *v);
void jsonw_kv_str_opt(struct jsonw *w, const char *key, const char *v);
void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v);
void jsonw_kv_uint(struct jsonw *w, const char *key, uint64_t v);
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v);

/* Appends a UTC RFC 3339 time with nanoseconds: "2026-11-26T10:12:00.123456789Z". */
void jsonw_kv_time(struct jsonw *w, const char *key, uint64_t unix_ns);
/* Formats the same text into out (at least 31 bytes). */
void jsonw_format_time(char *out, size_t outlen, uint64_t unix_ns);

#endif
