/*
 * devices_util.c — input checks and small helpers the devices modules
 * share (see devices_int.h).
 */
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "server/devices_int.h"
#include "server/server.h"

bool devices_valid_text(const char *s, size_t max)
{
    size_t n = 0;

    if (!s || !*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        if (*p < 0x20 || *p == 0x7f || n >= max)
            return false;
    return true;
}

bool devices_valid_word(const char *s, size_t max, const char *extra)
{
    size_t n = 0;

    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++, n++) {
        if (n >= max)
            return false;
        if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
            return false;
    }
    return true;
}

bool devices_valid_hostname(const char *s)
{
    return devices_valid_word(s, 253, "-_.") && s[0] != '-' && s[0] != '.';
}

bool devices_valid_group(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return devices_valid_word(s, 64, " ._-") && s[0] != ' ' && s[n - 1] != ' ';
}

bool devices_valid_hex(const char *s, size_t n)
{
    size_t i;

    if (!s)
        return false;
    for (i = 0; i < n; i++)
        if (!s[i] || !strchr("0123456789abcdef", s[i]))
            return false;
    return s[i] == '\0';
}

bool devices_valid_id(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};

    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool want_dash = i == dash[0] || i == dash[1] || i == dash[2] || i == dash[3];
        if (want_dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]) || !s[i])
            return false;
    }
    return true;
}

const char *devices_json_str(json_t *obj, const char *key, bool (*valid)(const char *s), const char *must,
                             struct http_response *rs, bool *bad)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || (valid && !valid(json_string_value(v)))) {
        if (!*bad)
            http_error(rs, 400, "%s: must be %s", key, must);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

bool devices_json_only(json_t *obj, struct http_response *rs, ...)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        const char *name;
        bool known = false;
        va_list ap;

        va_start(ap, rs);
        while (!known && (name = va_arg(ap, const char *)) != NULL)
            known = strcmp(name, key) == 0;
        va_end(ap);
        if (!known) {
            http_error(rs, 400, "unknown member \"%.64s\"", key);
            return false;
        }
    }
    return true;
}

int devices_find(struct store *st, struct http_response *rs, const char *ref, struct store_device *out)
{
    int e = -ENOENT;

    memset(out, 0, sizeof(*out));
    if (!ref || !*ref) {
        http_error(rs, 404, "no device named");
        return -ENOENT;
    }
    if (devices_valid_id(ref))
        e = store_device_get(st, ref, out);
    if (e == -ENOENT && devices_valid_hostname(ref))
        e = store_device_find_by_name(st, ref, out);
    if (e == -ENOENT)
        http_error(rs, 404, "no device with the id or name '%.253s'", devices_valid_text(ref, 253) ? ref : "?");
    else if (e == -ENOTUNIQ)
        http_error(rs, 409, "several devices are named '%s'; use the device id", ref);
    else if (e)
        http_error(rs, 500, "cannot read the device (store error)");
    return e;
}

int devices_resolve(struct http_request *rq, struct http_response *rs, struct store_device *out)
{
    return devices_find(http_server(rq)->store, rs, http_param(rq, "id"), out);
}

void devices_kv_time(struct jsonw *w, const char *key, int64_t ms)
{
    if (ms <= 0) {
        jsonw_key(w, key);
        jsonw_null(w);
        return;
    }
    jsonw_kv_time(w, key, (uint64_t)ms * 1000000u);
}

void devices_sha256(const char *s, uint8_t out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)s, strlen(s));
}

bool devices_query_uint(struct http_request *rq, struct http_response *rs, const char *name, unsigned long min,
                        unsigned long max, unsigned long def, unsigned long *out)
{
    const char *v = http_query(rq, name);
    unsigned long n = 0;
    size_t len;

    if (!v) {
        *out = def;
        return true;
    }
    len = strlen(v);
    if (len == 0 || len > 9)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)v[i]))
            goto bad;
        n = n * 10 + (unsigned long)(v[i] - '0');
    }
    if (n < min || n > max)
        goto bad;
    *out = n;
    return true;
bad:
    http_error(rs, 400, "%s: expected a whole number from %lu to %lu", name, min, max);
    return false;
}
