/*
 * logon.c — see logon.h for what counts as a logon and why.
 *
 * The parser works on spans (pointer + length) of the caller's line and
 * never writes to it; what it keeps is copied into the caller's storage as
 * NUL-terminated strings. Every format is matched from its fixed words
 * outward, and where a field an attacker chooses (an sshd user name, a
 * login name) could contain those words, the split is taken where the
 * service's own format puts it (see ssh_split()).
 */
#include "agent/logon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define IDENT_MAX 64
#define WEEK_SECONDS (7 * 24 * 3600)

const char *const logon_identifiers[] = {
    "sshd", "sshd-session", "sshd-auth", "sudo", "su", "login", NULL,
};

/* ------------------------------------------------------------ spans */

struct span {
    const char *p;
    size_t n;
};

static struct span span_of(const char *p, size_t n)
{
    struct span s = { p, n };
    return s;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool span_eq(struct span s, const char *lit)
{
    size_t l = strlen(lit);
    return s.n == l && (l == 0 || memcmp(s.p, lit, l) == 0);
}

static bool span_starts(struct span s, const char *lit)
{
    size_t l = strlen(lit);
    return s.n >= l && memcmp(s.p, lit, l) == 0;
}

/* Removes the prefix `lit` when s starts with it. */
static bool span_eat(struct span *s, const char *lit)
{
    size_t l = strlen(lit);
    if (s->n < l || memcmp(s->p, lit, l) != 0)
        return false;
    s->p += l;
    s->n -= l;
    return true;
}

/* Removes the suffix `lit` when s ends with it. */
static bool span_chop(struct span *s, const char *lit)
{
    size_t l = strlen(lit);
    if (s->n < l || memcmp(s->p + s->n - l, lit, l) != 0)
        return false;
    s->n -= l;
    return true;
}

/* First occurrence of `lit` in s at or after offset `from`, or NULL. */
static const char *span_find_from(struct span s, size_t from, const char *lit)
{
    size_t l = strlen(lit);
    if (l == 0 || s.n < l)
        return NULL;
    for (size_t i = from; i + l <= s.n; i++)
        if (s.p[i] == lit[0] && memcmp(s.p + i, lit, l) == 0)
            return s.p + i;
    return NULL;
}

static const char *span_find(struct span s, const char *lit)
{
    return span_find_from(s, 0, lit);
}

/* Last occurrence of `lit` in s, or NULL. */
static const char *span_rfind(struct span s, const char *lit)
{
    size_t l = strlen(lit);
    if (l == 0 || s.n < l)
        return NULL;
    for (size_t i = s.n - l + 1; i-- > 0;)
        if (s.p[i] == lit[0] && memcmp(s.p + i, lit, l) == 0)
            return s.p + i;
    return NULL;
}

static struct span span_before(struct span s, const char *at)
{
    return span_of(s.p, (size_t)(at - s.p));
}

static struct span span_after(struct span s, const char *at, const char *lit)
{
    size_t skip = (size_t)(at - s.p) + strlen(lit);
    return span_of(s.p + skip, s.n - skip);
}

/* Takes the bytes up to the first `stop` byte (or the end) off the front
 * of *s; the stop byte stays. */
static struct span span_take_until(struct span *s, char stop)
{
    size_t i = 0;
    struct span t;
    while (i < s->n && s->p[i] != stop)
        i++;
    t = span_of(s->p, i);
    s->p += i;
    s->n -= i;
    return t;
}

/* A decimal number of 1..10 digits, all of s, at most max. */
static bool span_uint(struct span s, unsigned long max, unsigned long *v)
{
    unsigned long x = 0;
    if (s.n == 0 || s.n > 10)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        if (!is_digit(s.p[i]))
            return false;
        x = x * 10 + (unsigned long)(s.p[i] - '0');
    }
    if (x > max)
        return false;
    *v = x;
    return true;
}

static bool span_has_byte(struct span s, char c)
{
    return s.n > 0 && memchr(s.p, c, s.n) != NULL;
}

/* ------------------------------------------------------------ storage */

struct store {
    char *buf;
    size_t cap;
    size_t used;
    bool full;
};

/* Copies s into storage as a NUL-terminated string. NULL when out of room
 * (remembered in st->full). */
static const char *store_put(struct store *st, struct span s)
{
    char *d;
    if (st->full || st->cap - st->used < s.n + 1) {
        st->full = true;
        return NULL;
    }
    d = st->buf + st->used;
    if (s.n)
        memcpy(d, s.p, s.n);
    d[s.n] = '\0';
    st->used += s.n + 1;
    return d;
}

static const char *store_str(struct store *st, const char *s)
{
    return store_put(st, span_of(s, strlen(s)));
}

struct ctx {
    struct logon_record *r;
    struct store st;
};

/* ------------------------------------------------------------ addresses */

/* Parses an IPv4 or IPv6 literal (IPv6 with an optional %zone) and writes
 * its canonical text (RFC 5952 for IPv6) to out. */
static bool ip_parse(struct span s, char *out, size_t outlen)
{
    char tmp[INET6_ADDRSTRLEN + 32], text[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    struct span zone = { NULL, 0 };
    const char *pct;
    int n;

    if (s.n == 0 || s.n >= sizeof(tmp))
        return false;
    pct = memchr(s.p, '%', s.n);
    if (pct) {
        zone = span_of(pct + 1, s.n - (size_t)(pct - s.p) - 1);
        s.n = (size_t)(pct - s.p);
        if (zone.n == 0 || zone.n > 16)
            return false;
        for (size_t i = 0; i < zone.n; i++) {
            char c = zone.p[i];
            if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '.' || c == '_' || c == '-'))
                return false;
        }
    }
    memcpy(tmp, s.p, s.n);
    tmp[s.n] = '\0';
    if (!pct && inet_pton(AF_INET, tmp, addr) == 1) {
        if (!inet_ntop(AF_INET, addr, text, sizeof(text)))
            return false;
    } else if (inet_pton(AF_INET6, tmp, addr) == 1) {
        if (!inet_ntop(AF_INET6, addr, text, sizeof(text)))
            return false;
    } else {
        return false;
    }
    if (zone.n)
        n = snprintf(out, outlen, "%s%%%.*s", text, (int)zone.n, zone.p);
    else
        n = snprintf(out, outlen, "%s", text);
    return n > 0 && (size_t)n < outlen;
}

/* Stores `host` as remote_ip when it is an address, else as remote_host. */
static void put_host(struct ctx *c, struct span host)
{
    char ip[INET6_ADDRSTRLEN + 24];
    if (host.n == 0)
        return;
    if (ip_parse(host, ip, sizeof(ip)))
        c->r->remote_ip = store_str(&c->st, ip);
    else
        c->r->remote_host = store_put(&c->st, host);
}

/* ------------------------------------------------------------ time */

static bool is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1..12). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    long long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static unsigned days_in_month(long y, unsigned m)
{
    static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n digits at p. */
static bool fixed_digits(const char *p, size_t n, unsigned *v)
{
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return false;
        x = x * 10 + (unsigned)(p[i] - '0');
    }
    *v = x;
    return true;
}

/* "2026-11-26T10:12:00[.123456](Z|+01:00|+0100) " at the start of *s.
 * Consumes it (and the space) and sets *us. */
static bool parse_rfc3339(struct span *s, uint64_t *us)
{
    const char *p = s->p;
    size_t n = s->n, i;
    unsigned y, mo, d, h, mi, se, frac = 0, fdigits = 0, oh = 0, om = 0;
    long long secs;
    int sign = 0;

    if (n < 21)
        return false;
    if (!fixed_digits(p, 4, &y) || p[4] != '-' || !fixed_digits(p + 5, 2, &mo) ||
        p[7] != '-' || !fixed_digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != 't') ||
        !fixed_digits(p + 11, 2, &h) || p[13] != ':' || !fixed_digits(p + 14, 2, &mi) ||
        p[16] != ':' || !fixed_digits(p + 17, 2, &se))
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month((long)y, mo) || h > 23 ||
        mi > 59 || se > 60)
        return false;
    i = 19;
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && is_digit(p[i])) {
            if (fdigits < 6) {
                frac = frac * 10 + (unsigned)(p[i] - '0');
                fdigits++;
            }
            i++;
        }
        if (fdigits == 0)
            return false;
        while (fdigits < 6) {
            frac *= 10;
            fdigits++;
        }
    }
    if (i >= n)
        return false;
    if (p[i] == 'Z' || p[i] == 'z') {
        i++;
    } else if (p[i] == '+' || p[i] == '-') {
        sign = p[i] == '+' ? 1 : -1;
        i++;
        if (i + 2 > n || !fixed_digits(p + i, 2, &oh))
            return false;
        i += 2;
        if (i < n && p[i] == ':')
            i++;
        if (i + 2 > n || !fixed_digits(p + i, 2, &om))
            return false;
        i += 2;
        if (oh > 23 || om > 59)
            return false;
    } else {
        return false;
    }
    if (i >= n || p[i] != ' ')
        return false;
    secs = days_from_civil(y, mo, d) * 86400 + (long long)h * 3600 + mi * 60 + se;
    secs -= sign * ((long long)oh * 3600 + om * 60);
    if (secs < 0)
        return false;
    *us = (uint64_t)secs * 1000000u + frac;
    s->p += i + 1;
    s->n -= i + 1;
    return true;
}

/* "Nov 26 10:12:00 " (day may be space-padded) at the start of *s: local
 * time without a year, which is chosen as below. */
static bool parse_bsd_time(struct span *s, time_t now, uint64_t *us)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = s->p;
    unsigned mo = 0, d, h, mi, se;
    struct tm local;
    bool found = false;

    if (s->n < 16 || p[3] != ' ' || p[6] != ' ' || p[9] != ':' || p[12] != ':' || p[15] != ' ')
        return false;
    for (unsigned m = 0; m < 12; m++) {
        if (memcmp(p, months + 3 * m, 3) == 0) {
            mo = m + 1;
            break;
        }
    }
    if (mo == 0)
        return false;
    if (p[4] == ' ') {
        if (!fixed_digits(p + 5, 1, &d))
            return false;
    } else if (!fixed_digits(p + 4, 2, &d)) {
        return false;
    }
    if (!fixed_digits(p + 7, 2, &h) || !fixed_digits(p + 10, 2, &mi) ||
        !fixed_digits(p + 13, 2, &se))
        return false;
    if (d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    if (!localtime_r(&now, &local))
        return false;
    /* The newest year, not more than a week ahead of now, whose calendar
     * has this date (Feb 29 skips back to a leap year). Next year is a
     * candidate too: "Jan  1 00:00:05" read by a clock at Dec 31 23:59:59. */
    for (long y = (long)local.tm_year + 1900 + 1; y >= (long)local.tm_year + 1900 - 8; y--) {
        struct tm tm;
        time_t t;
        if (d > days_in_month(y, mo))
            continue;
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = (int)(y - 1900);
        tm.tm_mon = (int)mo - 1;
        tm.tm_mday = (int)d;
        tm.tm_hour = (int)h;
        tm.tm_min = (int)mi;
        tm.tm_sec = (int)se;
        tm.tm_isdst = -1;
        t = mktime(&tm);
        if (t == (time_t)-1 || t < 0)
            continue;
        if (t > now + WEEK_SECONDS)
            continue;
        *us = (uint64_t)t * 1000000u;
        found = true;
        break;
    }
    if (!found)
        return false;
    s->p += 16;
    s->n -= 16;
    return true;
}

/* ------------------------------------------------------------ sshd */

struct ssh_peer {
    struct span user;     /* everything before " from " */
    struct span ip;
    unsigned long port;   /* 0 when the line had none */
    struct span extra;    /* after "ssh2: " */
    bool has_extra;
};

/* A key description as sshd's format_method_key() writes it: "<TYPE>
 * <HASH>:<fingerprint>" then the end, " ID ..." (certificates) or ", ..."
 * (method info). */
static bool key_shaped(struct span e, struct span *type, struct span *fp)
{
    struct span t = span_take_until(&e, ' '), f;
    if (t.n == 0 || t.n > 64 || !span_eat(&e, " "))
        return false;
    for (size_t i = 0; i < t.n; i++) {
        char c = t.p[i];
        if (!(is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' ||
              c == '_' || c == '@' || c == '.'))
            return false;
    }
    f = span_take_until(&e, ' ');
    if (f.n > 0 && f.p[f.n - 1] == ',') {      /* "SHA256:x, methinfo" */
        f.n--;
        e.p--;
        e.n++;
    }
    if (f.n < 4 || f.n > 200 || !span_has_byte(f, ':'))
        return false;
    if (!(e.n == 0 || span_starts(e, " ID ") || span_starts(e, ", ")))
        return false;
    if (type)
        *type = t;
    if (fp)
        *fp = f;
    return true;
}

/* Whether s (the text right after a " from ") is "<ip>[ port <n>]" and, if
 * want_ssh2, " ssh2" then the end or ": <extra>"; else the end. */
static bool ssh_peer_at(struct span s, bool want_ssh2, bool port_optional, struct ssh_peer *p)
{
    char ip[INET6_ADDRSTRLEN + 24];
    struct span tok;

    p->ip = span_take_until(&s, ' ');
    if (!ip_parse(p->ip, ip, sizeof(ip)))
        return false;
    p->port = 0;
    if (span_eat(&s, " port ")) {
        tok = span_take_until(&s, ' ');
        if (!span_uint(tok, 65535, &p->port) || p->port == 0)
            return false;
    } else if (!port_optional) {
        return false;
    }
    p->has_extra = false;
    p->extra = span_of(s.p, 0);
    if (want_ssh2) {
        if (!span_eat(&s, " ssh2"))
            return false;
        if (s.n == 0)
            return true;
        if (!span_eat(&s, ": "))
            return false;
        p->extra = s;
        p->has_extra = true;
        return true;
    }
    return s.n == 0;
}

/* Splits "<user> from <ip> port <n>[ ssh2[: extra]]". The user name is the
 * client's choice and may itself contain " from 6.6.6.6 port 1 ssh2"; the
 * real split is the one sshd's format leaves at the end: a candidate with
 * nothing after it beats one followed by a key description, which beats
 * one followed by anything else, and among equals the later one wins
 * (what follows sshd's own " from" is sshd's text, not the client's). */
static bool ssh_split(struct span rest, bool want_ssh2, bool port_optional, struct ssh_peer *out)
{
    int best_rank = -1;
    size_t from = 0;
    const char *q;

    while ((q = span_find_from(rest, from, " from ")) != NULL) {
        struct ssh_peer p;
        int rank;
        from = (size_t)(q - rest.p) + 1;
        p.user = span_before(rest, q);
        if (!ssh_peer_at(span_after(rest, q, " from "), want_ssh2, port_optional, &p))
            continue;
        rank = !p.has_extra ? 2 : key_shaped(p.extra, NULL, NULL) ? 1 : 0;
        if (rank >= best_rank) {
            best_rank = rank;
            *out = p;
        }
    }
    /* "Invalid user  from ..." (an empty name) puts " from " at offset 0
     * of a rest that starts with it; the loop above sees that too. */
    return best_rank >= 0;
}

static void put_peer(struct ctx *c, const struct ssh_peer *p)
{
    char ip[INET6_ADDRSTRLEN + 24];
    if (ip_parse(p->ip, ip, sizeof(ip)))
        c->r->remote_ip = store_str(&c->st, ip);
    c->r->remote_port = (uint16_t)p->port;
}

/* "<method>[/<sub>] for [invalid user ]<user> from <ip> port <n> ssh2[: extra]" */
static int ssh_auth_result(struct ctx *c, struct span m, bool accepted)
{
    struct logon_record *r = c->r;
    struct span method = span_take_until(&m, ' '), sub = { NULL, 0 }, kt, kf;
    struct ssh_peer p;
    const char *slash;
    bool invalid;

    if (method.n == 0 || method.n > 64 || !span_eat(&m, " for "))
        return 0;                   /* "Failed to ..." and the like */
    for (size_t i = 0; i < method.n; i++) {
        char ch = method.p[i];
        if (!(is_digit(ch) || (ch >= 'a' && ch <= 'z') || ch == '-' || ch == '/' || ch == '@' ||
              ch == '.'))
            return 0;
    }
    slash = memchr(method.p, '/', method.n);
    if (slash) {
        sub = span_after(method, slash, "/");
        method = span_before(method, slash);
        if (method.n == 0 || sub.n == 0 || span_has_byte(sub, '/'))
            return -EBADMSG;
    }
    if (!accepted && span_eq(method, "none"))
        return 0;                   /* the method-list query, not a credential */
    invalid = span_eat(&m, "invalid user ");
    if (!ssh_split(m, true, false, &p))
        return -EBADMSG;

    r->result = accepted ? LOGON_SUCCESS : LOGON_FAILED;
    r->count = 1;
    r->account = store_put(&c->st, p.user);
    r->auth_method = store_put(&c->st, method);
    if (sub.n)
        r->auth_submethod = store_put(&c->st, sub);
    put_peer(c, &p);
    if (p.has_extra && key_shaped(p.extra, &kt, &kf)) {
        r->key_type = store_put(&c->st, kt);
        r->key_fingerprint = store_put(&c->st, kf);
    }
    if (!accepted) {
        if (invalid)
            r->failure = LOGON_FAIL_INVALID_USER;
        else if (span_eq(method, "password"))
            r->failure = LOGON_FAIL_WRONG_PASSWORD;
        else if (span_eq(method, "publickey") || span_eq(method, "hostbased"))
            r->failure = LOGON_FAIL_KEY_REJECTED;
        else
            r->failure = LOGON_FAIL_AUTHENTICATION;
    }
    return 1;
}

/* A fact about a connection, not a credential attempt: count 0. */
static int ssh_fact(struct ctx *c, struct span m, bool want_ssh2, bool port_optional,
                    enum logon_failure why)
{
    struct ssh_peer p;
    if (!ssh_split(m, want_ssh2, port_optional, &p))
        return -EBADMSG;
    c->r->result = LOGON_FAILED;
    c->r->failure = why;
    c->r->count = 0;
    c->r->account = store_put(&c->st, p.user);
    put_peer(c, &p);
    return 1;
}

/* "User <name>[ from <host>] not allowed because <why>" (allowed_user()) */
static int ssh_not_allowed(struct ctx *c, struct span m)
{
    struct span user = span_take_until(&m, ' '), host = { NULL, 0 };
    if (user.n == 0)
        return -EBADMSG;
    if (span_eat(&m, " from "))
        host = span_take_until(&m, ' ');
    if (!span_starts(m, " not allowed because "))
        return 0;
    c->r->result = LOGON_FAILED;
    c->r->failure = LOGON_FAIL_NOT_ALLOWED;
    c->r->count = 0;
    c->r->account = store_put(&c->st, user);
    put_host(c, host);
    return 1;
}

static int parse_ssh(struct ctx *c, struct span m)
{
    c->r->type = LOGON_TYPE_NETWORK;
    c->r->protocol = LOGON_PROTO_SSH;
    span_chop(&m, " [preauth]");
    if (span_eat(&m, "Accepted "))
        return ssh_auth_result(c, m, true);
    if (span_eat(&m, "Failed "))
        return ssh_auth_result(c, m, false);
    if (span_eat(&m, "Invalid user "))
        return ssh_fact(c, m, false, true, LOGON_FAIL_INVALID_USER);
    if (span_eat(&m, "error: maximum authentication attempts exceeded for ")) {
        span_eat(&m, "invalid user ");
        return ssh_fact(c, m, true, false, LOGON_FAIL_MAX_ATTEMPTS);
    }
    if (span_eat(&m, "ROOT LOGIN REFUSED FROM ")) {
        struct ssh_peer p;
        if (!ssh_peer_at(m, false, true, &p))
            return -EBADMSG;
        c->r->result = LOGON_FAILED;
        c->r->failure = LOGON_FAIL_NOT_ALLOWED;
        c->r->count = 0;
        c->r->account = store_str(&c->st, "root");
        put_peer(c, &p);
        return 1;
    }
    if (span_eat(&m, "User ") && span_find(m, " not allowed because "))
        return ssh_not_allowed(c, m);
    return 0;
}

/* ------------------------------------------------------------ sudo */

/* The refusal text before " ; TTY=". 0 when it is no logon refusal
 * (sudo writes configuration warnings in the same shape). */
static int sudo_reason(struct ctx *c, struct span why)
{
    struct logon_record *r = c->r;
    unsigned long n;
    struct span num = span_take_until(&why, ' ');

    if ((span_eq(why, " incorrect password attempts") ||
         span_eq(why, " incorrect password attempt")) &&
        span_uint(num, 1000000, &n)) {
        r->failure = LOGON_FAIL_WRONG_PASSWORD;
        r->count = (unsigned int)n;
        r->auth_method = "password";
        return 1;
    }
    why = span_of(num.p, (size_t)(why.p + why.n - num.p));
    r->count = 1;
    if (span_eq(why, "user NOT in sudoers")) {
        r->failure = LOGON_FAIL_NOT_IN_SUDOERS;
    } else if (span_eq(why, "user NOT authorized on host") ||
               span_eq(why, "command not allowed")) {
        r->failure = LOGON_FAIL_NOT_ALLOWED;
    } else if (span_eq(why, "a password is required")) {
        r->failure = LOGON_FAIL_PASSWORD_REQUIRED;
    } else if (span_find(why, "authentication") || span_find(why, "PAM ") ||
               span_starts(why, "PAM")) {
        r->failure = LOGON_FAIL_AUTHENTICATION;
    } else {
        return 0;
    }
    return 1;
}

/* "<user> : [<refusal> ; ]TTY=<tty> ; PWD=<dir> ; USER=<target> [; GROUP=..]
 *  [; TSID=..] [; ENV=..] ; COMMAND=<command>" — sudo's eventlog line,
 * its user name right-aligned in 8 columns. */
static int parse_sudo(struct ctx *c, struct span m)
{
    struct logon_record *r = c->r;
    struct span user, rest;
    bool have_target = false;
    const char *q;
    int rc;

    r->type = LOGON_TYPE_ELEVATION;
    r->protocol = LOGON_PROTO_SUDO;
    while (m.n && m.p[0] == ' ') {
        m.p++;
        m.n--;
    }
    q = span_find(m, " : ");
    if (!q)
        return 0;
    user = span_before(m, q);
    if (user.n == 0 || span_has_byte(user, ' '))
        return 0;
    rest = span_after(m, q, " : ");
    if (span_starts(rest, "TTY=")) {
        r->result = LOGON_SUCCESS;
        r->count = 1;
    } else {
        q = span_find(rest, " ; ");
        if (!q)
            return 0;
        r->result = LOGON_FAILED;
        rc = sudo_reason(c, span_before(rest, q));
        if (rc <= 0)
            return rc;
        rest = span_after(rest, q, " ; ");
        if (!span_starts(rest, "TTY="))
            return 0;
    }
    /* key=value pairs separated by " ; "; COMMAND is last and takes the
     * rest of the line (a command may contain " ; " itself). */
    while (rest.n) {
        struct span key, val;
        const char *eq = memchr(rest.p, '=', rest.n);
        if (!eq)
            break;
        key = span_before(rest, eq);
        rest = span_after(rest, eq, "=");
        if (span_eq(key, "COMMAND")) {
            r->command = store_put(&c->st, rest);
            break;
        }
        q = span_find(rest, " ; ");
        val = q ? span_before(rest, q) : rest;
        rest = q ? span_after(rest, q, " ; ") : span_of(rest.p + rest.n, 0);
        if (span_eq(key, "TTY")) {
            if (val.n && !span_eq(val, "unknown"))
                r->tty = store_put(&c->st, val);
        } else if (span_eq(key, "USER")) {
            r->account = store_put(&c->st, val);
            have_target = true;
        }
    }
    if (!have_target)
        return -EBADMSG;
    r->initiating_account = store_put(&c->st, user);
    return 1;
}

/* ------------------------------------------------------------ su */

static int parse_su(struct ctx *c, struct span m)
{
    struct logon_record *r = c->r;
    bool failed;
    const char *q;

    r->type = LOGON_TYPE_ELEVATION;
    r->protocol = LOGON_PROTO_SU;
    if (span_starts(m, "FAILED RUNUSER "))
        return 0;                   /* runuser: root only, no authentication */
    failed = span_eat(&m, "FAILED SU ");
    if (span_eat(&m, "(to ")) {
        /* util-linux: "[FAILED SU ](to <target>) <from> on <tty|none>" */
        struct span target, from, tty;
        q = span_find(m, ") ");
        if (!q)
            return -EBADMSG;
        target = span_before(m, q);
        m = span_of(q + 1, m.n - (size_t)(q + 1 - m.p));  /* keep the space */
        q = span_rfind(m, " on ");
        if (!q || target.n == 0)
            return -EBADMSG;
        from = span_of(m.p + 1, q > m.p ? (size_t)(q - m.p - 1) : 0);
        tty = span_after(m, q, " on ");
        r->account = store_put(&c->st, target);
        if (from.n)
            r->initiating_account = store_put(&c->st, from);
        if (tty.n && !span_eq(tty, "none"))
            r->tty = store_put(&c->st, tty);
    } else if (failed) {
        return -EBADMSG;
    } else {
        /* shadow-utils: "Successful su for <target> by <from>",
         * "FAILED su for <target> by <from>" */
        struct span target;
        if (span_eat(&m, "Successful su for "))
            failed = false;
        else if (span_eat(&m, "FAILED su for "))
            failed = true;
        else
            return 0;
        q = span_find(m, " by ");
        if (!q)
            return -EBADMSG;
        target = span_before(m, q);
        m = span_after(m, q, " by ");
        if (target.n == 0 || m.n == 0)
            return -EBADMSG;
        r->account = store_put(&c->st, target);
        r->initiating_account = store_put(&c->st, m);
    }
    r->result = failed ? LOGON_FAILED : LOGON_SUCCESS;
    r->failure = failed ? LOGON_FAIL_AUTHENTICATION : LOGON_FAIL_NONE;
    r->count = 1;
    return 1;
}

/* ------------------------------------------------------------ login */

static bool looks_like_tty(struct span s)
{
    return span_starts(s, "tty") || span_starts(s, "pts/") || span_starts(s, "console") ||
           span_starts(s, "hvc") || span_starts(s, "xvc") || span_starts(s, "vc/") ||
           span_starts(s, "/dev/");
}

static void put_tty(struct ctx *c, struct span tty)
{
    span_eat(&tty, "/dev/");
    if (tty.n && !span_eq(tty, "UNKNOWN"))
        c->r->tty = store_put(&c->st, tty);
}

/* login's FROM: the remote host with -h, else the tty name. */
static void put_login_where(struct ctx *c, struct span where)
{
    if (where.n == 0 || span_eq(where, "<unknown>"))
        return;
    if (looks_like_tty(where))
        put_tty(c, where);
    else
        put_host(c, where);
}

/* The account of a failed login, and the PAM error after it. */
static void put_login_failure(struct ctx *c, struct span user, struct span pamerr, bool maxtries)
{
    struct logon_record *r = c->r;
    bool unknown = span_eq(user, "(unknown)") || span_eq(user, "UNKNOWN") || user.n == 0;

    r->result = LOGON_FAILED;
    if (!unknown)
        r->account = store_put(&c->st, user);
    if (maxtries || span_eq(pamerr, "Have exhausted maximum number of retries for service"))
        r->failure = LOGON_FAIL_MAX_ATTEMPTS;
    else if (unknown || span_eq(pamerr, "User not known to the underlying authentication module"))
        r->failure = LOGON_FAIL_INVALID_USER;
    else
        r->failure = LOGON_FAIL_AUTHENTICATION;
}

/* util-linux: "... FROM <where> FOR <user>, <pam error>" */
static int login_ul_failure(struct ctx *c, struct span m, bool maxtries)
{
    struct span where, user;
    const char *q;

    if (!span_eat(&m, " FROM "))
        return -EBADMSG;
    where = span_take_until(&m, ' ');
    if (!span_eat(&m, " FOR "))
        return -EBADMSG;
    q = span_rfind(m, ", ");
    if (!q)
        return -EBADMSG;
    user = span_before(m, q);
    put_login_where(c, where);
    put_login_failure(c, user, span_after(m, q, ", "), maxtries);
    c->r->count = 1;
    return 1;
}

/* shadow-utils: " on '<tty>'[ from '<host>']" at the start of *m. */
static bool login_shadow_where(struct ctx *c, struct span *m)
{
    struct span tty, host;
    if (!span_eat(m, " on '"))
        return false;
    tty = span_take_until(m, '\'');
    if (!span_eat(m, "'"))
        return false;
    put_tty(c, tty);
    if (span_eat(m, " from '")) {
        host = span_take_until(m, '\'');
        if (!span_eat(m, "'"))
            return false;
        put_host(c, host);
    }
    return true;
}

/* "(<n>)" at the start of *m. */
static bool login_paren_count(struct span *m)
{
    unsigned long n;
    struct span num;
    if (!span_eat(m, "("))
        return false;
    num = span_take_until(m, ')');
    return span_uint(num, 1000000, &n) && span_eat(m, ")");
}

static int parse_login(struct ctx *c, struct span m)
{
    struct logon_record *r = c->r;
    struct span tty, user, num;
    unsigned long tries;
    const char *q;

    r->type = LOGON_TYPE_INTERACTIVE;
    r->protocol = LOGON_PROTO_LOGIN;

    /* util-linux successes */
    if (span_eat(&m, "ROOT LOGIN ON ")) {
        tty = span_take_until(&m, ' ');
        if (tty.n == 0 || (m.n && !span_eat(&m, " FROM ")))
            return -EBADMSG;
        put_tty(c, tty);
        put_host(c, m);
        r->account = store_str(&c->st, "root");
        r->result = LOGON_SUCCESS;
        r->count = 1;
        return 1;
    }
    if (span_eat(&m, "LOGIN ON ")) {
        tty = span_take_until(&m, ' ');
        if (tty.n == 0 || !span_eat(&m, " BY "))
            return -EBADMSG;
        user = span_take_until(&m, ' ');
        if (user.n == 0 || (m.n && !span_eat(&m, " FROM ")))
            return -EBADMSG;
        put_tty(c, tty);
        put_host(c, m);
        r->account = store_put(&c->st, user);
        r->result = LOGON_SUCCESS;
        r->count = 1;
        return 1;
    }
    /* util-linux failures */
    if (span_eat(&m, "FAILED LOGIN SESSION"))
        return login_ul_failure(c, m, false);
    if (span_starts(m, "FAILED LOGIN ") && m.n > 13 && is_digit(m.p[13])) {
        span_eat(&m, "FAILED LOGIN ");
        num = span_take_until(&m, ' ');
        if (!span_uint(num, 1000000, &tries))
            return -EBADMSG;
        return login_ul_failure(c, m, false);
    }
    if (span_eat(&m, "TOO MANY LOGIN TRIES ")) {
        if (!login_paren_count(&m))
            return -EBADMSG;
        if (span_starts(m, " FROM "))
            return login_ul_failure(c, m, true);
        /* shadow-utils: a summary after the last FAILED LOGIN line */
        if (!login_shadow_where(c, &m) || !span_eat(&m, " FOR '") || !span_chop(&m, "'"))
            return -EBADMSG;
        put_login_failure(c, m, span_of("", 0), true);
        r->count = 0;
        return 1;
    }
    /* shadow-utils */
    if (span_eat(&m, "FAILED LOGIN ")) {
        if (!login_paren_count(&m) || !login_shadow_where(c, &m) || !span_eat(&m, " FOR '"))
            return -EBADMSG;
        q = span_rfind(m, "', ");
        if (!q)
            return -EBADMSG;
        put_login_failure(c, span_before(m, q), span_after(m, q, "', "), false);
        r->count = 1;
        return 1;
    }
    if (span_eat(&m, "ROOT LOGIN ")) {
        if (!login_shadow_where(c, &m) || m.n)
            return -EBADMSG;
        r->account = store_str(&c->st, "root");
        r->result = LOGON_SUCCESS;
        r->count = 1;
        return 1;
    }
    if (span_eat(&m, "'")) {
        q = span_rfind(m, "' logged in ");
        if (!q)
            return 0;
        user = span_before(m, q);
        m = span_after(m, q, "' logged in ");
        if (user.n == 0 || !login_shadow_where(c, &m) || m.n)
            return -EBADMSG;
        r->account = store_put(&c->st, user);
        r->result = LOGON_SUCCESS;
        r->count = 1;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ common */

int logon_identifier_known(const char *ident, size_t len)
{
    for (size_t i = 0; logon_identifiers[i]; i++)
        if (span_eq(span_of(ident, len), logon_identifiers[i]))
            return 1;
    return 0;
}

/* rsyslog's "message repeated N times: [ <message>]". Returns N (1 when
 * the message is not wrapped) and unwraps *m. */
static unsigned int unwrap_repeated(struct span *m)
{
    struct span s = *m, num;
    unsigned long n;

    if (!span_eat(&s, "message repeated "))
        return 1;
    num = span_take_until(&s, ' ');
    if (!span_uint(num, 1000000, &n) || n == 0 || !span_eat(&s, " times: [") ||
        !span_chop(&s, "]"))
        return 1;
    span_eat(&s, " ");
    *m = s;
    return (unsigned int)n;
}

/* Dispatches on the identifier. The record's common fields are set by the
 * callers. */
static int parse_message(struct ctx *c, struct span ident, struct span msg)
{
    unsigned int repeat = unwrap_repeated(&msg);
    unsigned long long count;
    int rc;

    if (span_eq(ident, "sshd") || span_eq(ident, "sshd-session") || span_eq(ident, "sshd-auth"))
        rc = parse_ssh(c, msg);
    else if (span_eq(ident, "sudo"))
        rc = parse_sudo(c, msg);
    else if (span_eq(ident, "su"))
        rc = parse_su(c, msg);
    else if (span_eq(ident, "login"))
        rc = parse_login(c, msg);
    else
        rc = 0;
    if (rc <= 0)
        return rc;
    count = (unsigned long long)c->r->count * repeat;
    c->r->count = count > 1000000000ull ? 1000000000u : (unsigned int)count;
    c->r->service = store_put(&c->st, ident);
    return 1;
}

static void ctx_init(struct ctx *c, struct logon_record *out, char *storage, size_t storage_len)
{
    memset(out, 0, sizeof(*out));
    c->r = out;
    c->st.buf = storage;
    c->st.cap = storage_len;
    c->st.used = 0;
    c->st.full = false;
}

/* Turns parse_message()'s answer into the public one. */
static int finish(struct ctx *c, int rc)
{
    if (rc == 1 && c->st.full)
        rc = -ENOBUFS;
    if (rc != 1)
        memset(c->r, 0, sizeof(*c->r));
    return rc;
}

int logon_parse_line_at(const char *line, size_t len, time_t now,
                        struct logon_record *out, char *storage, size_t storage_len)
{
    struct ctx c;
    struct span s, host, ident;
    unsigned long pid = 0;
    uint64_t us = 0;
    int rc;

    if (!out)
        return -EINVAL;
    ctx_init(&c, out, storage, storage ? storage_len : 0);
    if (!line)
        return finish(&c, -EINVAL);
    s = span_of(line, len);
    span_chop(&s, "\n");
    span_chop(&s, "\r");
    if (s.n > LOGON_LINE_MAX)
        return finish(&c, -E2BIG);
    if (span_has_byte(s, '\0'))
        return finish(&c, -EINVAL);

    /* timestamp, host, "ident[pid]: " */
    if (!parse_rfc3339(&s, &us) && !parse_bsd_time(&s, now, &us))
        return finish(&c, -EINVAL);
    host = span_take_until(&s, ' ');
    if (host.n == 0 || !span_eat(&s, " "))
        return finish(&c, -EINVAL);
    ident = s;
    {
        size_t i = 0;
        while (i < s.n && s.p[i] != '[' && s.p[i] != ':' && s.p[i] != ' ')
            i++;
        ident.n = i;
        s.p += i;
        s.n -= i;
    }
    /* A header without a tag ("-- MARK --", "last message repeated 2
     * times") is a syslog line, just not one of ours. */
    if (ident.n == 0 || ident.n > IDENT_MAX)
        return finish(&c, 0);
    if (span_eat(&s, "[")) {
        struct span num = span_take_until(&s, ']');
        if (!span_eat(&s, "]") || !span_uint(num, UINT32_MAX, &pid))
            return finish(&c, 0);
    }
    if (!span_eat(&s, ":"))
        return finish(&c, 0);
    span_eat(&s, " ");
    if (!logon_identifier_known(ident.p, ident.n))
        return finish(&c, 0);

    out->line = store_put(&c.st, span_of(line, (size_t)(s.p + s.n - line)));
    out->line_len = out->line ? (size_t)(s.p + s.n - line) : 0;
    rc = parse_message(&c, ident, s);
    if (rc == 1) {
        out->host = store_put(&c.st, host);
        out->pid = (uint32_t)pid;
        out->time_us = us;
    }
    return finish(&c, rc);
}

int logon_parse_line(const char *line, size_t len, struct logon_record *out,
                     char *storage, size_t storage_len)
{
    return logon_parse_line_at(line, len, time(NULL), out, storage, storage_len);
}

int logon_parse_journal(const struct logon_journal_entry *e, struct logon_record *out,
                        char *storage, size_t storage_len)
{
    struct ctx c;
    struct span ident, msg, pidtext = { NULL, 0 };
    unsigned long pid = 0;
    size_t need;
    char *line;
    int rc;

    if (!out)
        return -EINVAL;
    ctx_init(&c, out, storage, storage ? storage_len : 0);
    if (!e || !e->identifier || !e->message)
        return finish(&c, -EINVAL);
    ident = span_of(e->identifier, e->identifier_len);
    msg = span_of(e->message, e->message_len);
    span_chop(&msg, "\n");
    if (msg.n > LOGON_LINE_MAX)
        return finish(&c, -E2BIG);
    if (ident.n == 0 || ident.n > IDENT_MAX || span_has_byte(ident, '\0') ||
        span_has_byte(msg, '\0'))
        return finish(&c, -EINVAL);
    if (!logon_identifier_known(ident.p, ident.n))
        return finish(&c, 0);
    if (e->pid && span_uint(span_of(e->pid, e->pid_len), UINT32_MAX, &pid))
        pidtext = span_of(e->pid, e->pid_len);

    /* LogLine: "ident[pid]: message" */
    need = ident.n + pidtext.n + msg.n + 5;
    if (c.st.cap - c.st.used < need)
        return finish(&c, -ENOBUFS);
    line = c.st.buf + c.st.used;
    memcpy(line, ident.p, ident.n);
    out->line_len = ident.n;
    if (pidtext.n) {
        line[out->line_len++] = '[';
        memcpy(line + out->line_len, pidtext.p, pidtext.n);
        out->line_len += pidtext.n;
        line[out->line_len++] = ']';
    }
    line[out->line_len++] = ':';
    line[out->line_len++] = ' ';
    if (msg.n)
        memcpy(line + out->line_len, msg.p, msg.n);
    out->line_len += msg.n;
    line[out->line_len] = '\0';
    c.st.used += out->line_len + 1;
    out->line = line;

    rc = parse_message(&c, ident, msg);
    if (rc == 1) {
        out->pid = (uint32_t)pid;
        out->time_us = e->realtime_us;
    }
    return finish(&c, rc);
}

/* ------------------------------------------------------------ names */

const char *logon_action_name(enum logon_result r)
{
    switch (r) {
    case LOGON_SUCCESS: return "LogonSuccess";
    case LOGON_FAILED: return "LogonFailed";
    }
    return NULL;
}

const char *logon_type_name(enum logon_type t)
{
    switch (t) {
    case LOGON_TYPE_NETWORK: return "Network";
    case LOGON_TYPE_INTERACTIVE: return "Interactive";
    case LOGON_TYPE_ELEVATION: return "Elevation";
    }
    return NULL;
}

const char *logon_protocol_name(enum logon_protocol p)
{
    switch (p) {
    case LOGON_PROTO_SSH: return "ssh";
    case LOGON_PROTO_SUDO: return "sudo";
    case LOGON_PROTO_SU: return "su";
    case LOGON_PROTO_LOGIN: return "login";
    }
    return NULL;
}

const char *logon_failure_name(enum logon_failure f)
{
    switch (f) {
    case LOGON_FAIL_NONE: return NULL;
    case LOGON_FAIL_INVALID_USER: return "InvalidUser";
    case LOGON_FAIL_WRONG_PASSWORD: return "WrongPassword";
    case LOGON_FAIL_KEY_REJECTED: return "KeyRejected";
    case LOGON_FAIL_AUTHENTICATION: return "AuthenticationFailure";
    case LOGON_FAIL_NOT_IN_SUDOERS: return "NotInSudoers";
    case LOGON_FAIL_NOT_ALLOWED: return "NotAllowed";
    case LOGON_FAIL_PASSWORD_REQUIRED: return "PasswordRequired";
    case LOGON_FAIL_MAX_ATTEMPTS: return "MaxAttemptsExceeded";
    }
    return NULL;
}
