/*
 * events_time.c — see events_time.h.
 */
#include "server/events_time.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define NS 1000000000LL

/* Reads exactly n digits at *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static int parse_duration(const char *s, int64_t now_ns, int64_t *out)
{
    int64_t n = 0, unit;
    const char *p = s;

    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        if (n > (INT64_MAX - 9) / 10)
            return -EINVAL;
        n = n * 10 + (*p - '0');
    }
    switch (*p) {
    case 's': unit = NS; break;
    case 'm': unit = 60 * NS; break;
    case 'h': unit = 3600 * NS; break;
    case 'd': unit = 86400 * NS; break;
    case 'w': unit = 7 * 86400 * NS; break;
    default: return -EINVAL;
    }
    if (p[1] || n > now_ns / unit)
        return -EINVAL;
    *out = now_ns - n * unit;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *out)
{
    const char *p = s;
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    int64_t frac = 0, secs;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec))
        return -EINVAL;
    if (*p == '.') {
        int n = 0;
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        for (; isdigit((unsigned char)*p); p++, n++)
            if (n < 9)
                frac = frac * 10 + (*p - '0');
        for (; n < 9; n++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    secs = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
    if (secs < 0 || secs > INT64_MAX / NS - 1)
        return -EINVAL;
    *out = secs * NS + frac;
    return 0;
}

int events_parse_time(const char *text, int64_t now_ns, int64_t *out)
{
    if (!text || !*text)
        return -EINVAL;
    if (strchr(text, '-') || strchr(text, ':'))
        return parse_rfc3339(text, out);
    return parse_duration(text, now_ns, out);
}
