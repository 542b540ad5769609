/*
 * detection_indicators.c — indicators: what a valid one looks like, and the
 * snapshot the worker matches events against.
 *
 * Values are checked strictly and stored canonical, so that matching is a
 * plain comparison: a SHA-256 is 64 hex digits (stored lower-case); an IP
 * address is IPv4 or IPv6 (compared as bytes); a domain is 1 to 253
 * characters of labels of letters, digits and hyphens (stored lower-case,
 * without a final dot; it matches the host of RemoteUrl and its
 * subdomains); a path is absolute, without "." or ".." segments, doubled
 * slashes or control characters, and matches exactly, or as a prefix
 * when it ends with "/".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/detection_int.h"
#include "server/store_indicators.h"

static int type_of(const char *type)
{
    if (!type)
        return 0;
    if (strcmp(type, "sha256") == 0)
        return DET_IOC_SHA256;
    if (strcmp(type, "ip") == 0)
        return DET_IOC_IP;
    if (strcmp(type, "domain") == 0)
        return DET_IOC_DOMAIN;
    if (strcmp(type, "path") == 0)
        return DET_IOC_PATH;
    return 0;
}

static bool valid_domain(const char *s, size_t n)
{
    size_t label = 0, labels = 0;

    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            labels++;
            continue;
        }
        if (!isalnum(c) && c != '-')
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && s[n - 1] != '-' && labels >= 1;
}

static bool valid_path(const char *s, size_t n)
{
    if (n == 0 || n > STORE_INDICATOR_VALUE_MAX || s[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == '/' && i + 1 < n) {
            const char *seg = s + i + 1;
            size_t left = n - i - 1;
            if (seg[0] == '/')
                return false;
            if (seg[0] == '.' && (left == 1 || seg[1] == '/'))
                return false;
            if (left >= 2 && seg[0] == '.' && seg[1] == '.' && (left == 2 || seg[2] == '/'))
                return false;
        }
    }
    return true;
}

int det_indicator_canonical(const char *type, const char *value, size_t len, char *out, size_t outlen, char *err,
                            size_t errlen)
{
    unsigned char addr[16];
    char tmp[INET6_ADDRSTRLEN];

    if (!value || memchr(value, '\0', len)) {
        snprintf(err, errlen, "value: must be text without NUL characters");
        return -EINVAL;
    }
    switch (type_of(type)) {
    case DET_IOC_SHA256:
        if (len != 64) {
            snprintf(err, errlen, "value: a SHA-256 is 64 hexadecimal digits (got %zu characters)", len);
            return -EINVAL;
        }
        for (size_t i = 0; i < 64; i++) {
            if (!isxdigit((unsigned char)value[i])) {
                snprintf(err, errlen, "value: a SHA-256 is 64 hexadecimal digits; character %zu is not one", i + 1);
                return -EINVAL;
            }
            out[i] = (char)tolower((unsigned char)value[i]);
        }
        out[64] = '\0';
        return 0;
    case DET_IOC_IP:
        if (len >= sizeof(tmp)) {
            snprintf(err, errlen, "value: expected an IPv4 or IPv6 address such as 203.0.113.7 or 2001:db8::7");
            return -EINVAL;
        }
        memcpy(tmp, value, len);
        tmp[len] = '\0';
        if (inet_pton(AF_INET, tmp, addr) == 1) {
            inet_ntop(AF_INET, addr, out, (socklen_t)outlen);
            return 0;
        }
        if (inet_pton(AF_INET6, tmp, addr) == 1) {
            inet_ntop(AF_INET6, addr, out, (socklen_t)outlen);
            return 0;
        }
        snprintf(err, errlen, "value: '%s' is not an IPv4 or IPv6 address (expected e.g. 203.0.113.7 or 2001:db8::7)",
                 tmp);
        return -EINVAL;
    case DET_IOC_DOMAIN:
        if (len && value[len - 1] == '.')
            len--;
        if (!valid_domain(value, len) || len >= outlen) {
            snprintf(err, errlen,
                     "value: expected a domain name such as evil.example.com (labels of letters, digits and "
                     "hyphens separated by dots, at most 253 characters)");
            return -EINVAL;
        }
        for (size_t i = 0; i < len; i++)
            out[i] = (char)tolower((unsigned char)value[i]);
        out[len] = '\0';
        return 0;
    case DET_IOC_PATH:
        if (!valid_path(value, len) || len >= outlen) {
            snprintf(err, errlen,
                     "value: expected an absolute path such as /usr/lib/runtime, or a directory ending in / (no "
                     "'.' or '..' segments, no '//', no control characters, at most %d bytes)",
                     STORE_INDICATOR_VALUE_MAX);
            return -EINVAL;
        }
        memcpy(out, value, len);
        out[len] = '\0';
        return 0;
    default:
        snprintf(err, errlen, "type: expected sha256, ip, domain or path");
        return -EINVAL;
    }
}

void det_indicators_clear(struct det_indicators *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->v[i].value);
        free(x->v[i].title);
        free(x->v[i].severity);
        free(x->v[i].description);
    }
    free(x->v);
    x->v = NULL;
    x->n = 0;
}

int det_indicators_load(struct store *st, struct det_indicators *out)
{
    struct store_indicator *rows = NULL;
    struct det_indicators x = {0};
    size_t n = 0;
    int e;

    e = store_indicator_list(st, &rows, &n);
    if (e)
        return e;
    x.v = calloc(n ? n : 1, sizeof(*x.v));
    if (!x.v) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct det_indicator *d = &x.v[x.n];
        d->type = type_of(rows[i].type);
        if (!d->type)
            continue;
        d->id = rows[i].id;
        d->allow = strcmp(rows[i].action, "allow") == 0;
        d->expires_ms = rows[i].expires_ms;
        d->value = strdup(rows[i].value);
        d->title = strdup(rows[i].title);
        d->severity = strdup(rows[i].severity);
        d->description = strdup(rows[i].description);
        x.n++;
        if (!d->value || !d->title || !d->severity || !d->description) {
            e = -ENOMEM;
            break;
        }
        d->len = strlen(d->value);
        if (d->type == DET_IOC_IP) {
            if (inet_pton(AF_INET, d->value, d->addr) == 1)
                d->family = AF_INET;
            else if (inet_pton(AF_INET6, d->value, d->addr) == 1)
                d->family = AF_INET6;
        }
    }
    free(rows);
    if (e) {
        det_indicators_clear(&x);
        return e;
    }
    det_indicators_clear(out);
    *out = x;
    return 0;
}

/* The host of a URL ("https://user@Evil.example.com:8443/x" ->
 * "Evil.example.com"), or the text itself when it is a bare host. */
static void url_host(const char *s, size_t n, const char **host, size_t *hlen)
{
    const char *p = s, *end = s + n, *q;

    for (q = s; q + 2 < end; q++)
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            p = q + 3;
            break;
        }
    for (q = p; q < end && *q != '/' && *q != '?' && *q != '#'; q++)
        if (*q == '@')
            p = q + 1;
    end = q;
    if (p < end && *p == '[') { /* an IPv6 literal: not a domain */
        *host = p;
        *hlen = 0;
        return;
    }
    for (q = p; q < end && *q != ':'; q++)
        ;
    *host = p;
    *hlen = (size_t)(q - p);
    if (*hlen && p[*hlen - 1] == '.')
        (*hlen)--;
}

static bool matches(const struct det_indicator *d, int type, const char *v, size_t n)
{
    switch (type) {
    case DET_IOC_SHA256:
        return n == 64 && strncasecmp(v, d->value, 64) == 0;
    case DET_IOC_IP: {
        char tmp[INET6_ADDRSTRLEN];
        unsigned char a[16];
        if (!d->family || n >= sizeof(tmp))
            return false;
        memcpy(tmp, v, n);
        tmp[n] = '\0';
        if (d->family == AF_INET)
            return inet_pton(AF_INET, tmp, a) == 1 && memcmp(a, d->addr, 4) == 0;
        return inet_pton(AF_INET6, tmp, a) == 1 && memcmp(a, d->addr, 16) == 0;
    }
    case DET_IOC_DOMAIN: {
        const char *h;
        size_t hl;
        url_host(v, n, &h, &hl);
        if (hl == d->len)
            return strncasecmp(h, d->value, hl) == 0;
        return hl > d->len && h[hl - d->len - 1] == '.' && strncasecmp(h + hl - d->len, d->value, d->len) == 0;
    }
    case DET_IOC_PATH:
        if (d->value[d->len - 1] == '/')
            return n >= d->len && memcmp(v, d->value, d->len) == 0;
        return n == d->len && memcmp(v, d->value, n) == 0;
    }
    return false;
}

const struct det_indicator *det_indicators_match(const struct det_indicators *x, bool allow, int type,
                                                 const char *value, size_t len, int64_t now_ms)
{
    if (!value || !len)
        return NULL;
    for (size_t i = 0; i < x->n; i++) {
        const struct det_indicator *d = &x->v[i];
        if (d->allow != allow || d->type != type || (d->expires_ms && d->expires_ms <= now_ms))
            continue;
        if (matches(d, type, value, len))
            return d;
    }
    return NULL;
}
