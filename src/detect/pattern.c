/*
 * pattern.c — see pattern.h. Values are first turned into sequences of
 * symbols (a literal byte, `*`, `?`, or the windash class) so that every
 * modifier can work on them without re-parsing escapes; the final sequence
 * is split at `*` into segments of pieces. Everything lives in the rule's
 * arena.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "detect/pattern.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ modifiers */

enum mod {
    M_CONTAINS, M_STARTSWITH, M_ENDSWITH, M_ALL, M_BASE64, M_BASE64OFFSET,
    M_UTF16LE, M_UTF16BE, M_UTF16, M_WIDE, M_WINDASH, M_RE, M_I, M_M, M_S,
    M_CIDR, M_EXISTS, M_CASED, M_NEQ, M_LT, M_LTE, M_GT, M_GTE, M_FIELDREF,
    M_EXPAND, M_MINUTE, M_HOUR, M_DAY, M_WEEK, M_MONTH, M_YEAR, M_COUNT
};

static const char *const mod_names[M_COUNT] = {
    "contains", "startswith", "endswith", "all", "base64", "base64offset",
    "utf16le", "utf16be", "utf16", "wide", "windash", "re", "i", "m", "s",
    "cidr", "exists", "cased", "neq", "lt", "lte", "gt", "gte", "fieldref",
    "expand", "minute", "hour", "day", "week", "month", "year",
};

#define MAX_MODS 16

struct mods {
    int list[MAX_MODS];      /* in the order written */
    int n;
    bool has[M_COUNT];
    int cmp;                 /* -1 or M_LT.. */
    int time;                /* -1 or M_MINUTE.. */
};


#define SYM_STAR 256
#define SYM_Q    257
#define SYM_DASH 258

struct symv {
    uint16_t *s;
    uint32_t n;
};

struct symlist {
    struct symv *v;
    uint32_t n, cap;
};

static int perr(struct pattern_ctx *pc, enum detect_diag_kind kind, const struct ynode *at,
                const char *feature, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int perr(struct pattern_ctx *pc, enum detect_diag_kind kind, const struct ynode *at,
                const char *feature, const char *fmt, ...)
{
    va_list ap;
    pc->kind = kind;
    pc->line = at ? at->line : 0;
    pc->col = at ? at->col : 0;
    snprintf(pc->feature, sizeof(pc->feature), "%s", feature);
    va_start(ap, fmt);
    vsnprintf(pc->msg, sizeof(pc->msg), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int oom(struct pattern_ctx *pc, const struct ynode *at)
{
    perr(pc, DETECT_DIAG_LIMIT, at, "memory", "out of memory while compiling the value");
    return -ENOMEM;
}

static bool is_encoding(int m)
{
    return m == M_BASE64 || m == M_BASE64OFFSET || m == M_UTF16LE || m == M_UTF16BE ||
           m == M_UTF16 || m == M_WIDE;
}

static bool is_transform(int m)
{
    return is_encoding(m) || m == M_CONTAINS || m == M_STARTSWITH || m == M_ENDSWITH ||
           m == M_WINDASH;
}

static int parse_mods(struct pattern_ctx *pc, const struct ynode *key, const char *spec,
                      size_t len, struct mods *md)
{
    const char *p = spec, *end = spec + len;
    char name[64];

    memset(md, 0, sizeof(*md));
    md->cmp = md->time = -1;
    while (p < end) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        const char *e = bar ? bar : end;
        size_t l = (size_t)(e - p);
        int m = -1;
        if (l == 0)
            return perr(pc, DETECT_DIAG_MODIFIER, key, "empty modifier",
                        "'%s' has an empty modifier (two '|' in a row or a trailing '|')", spec);
        snprintf(name, sizeof(name), "%.*s", (int)(l > 40 ? 40 : l), p);
        for (int i = 0; i < M_COUNT; i++)
            if (strlen(mod_names[i]) == l && memcmp(mod_names[i], p, l) == 0)
                m = i;
        if (m < 0) {
            char feat[96];
            snprintf(feat, sizeof(feat), "modifier '%s'", name);
            return perr(pc, DETECT_DIAG_MODIFIER, key, feat,
                        "unknown modifier '%s' in '%s' (see docs/rules.md for the supported ones)",
                        name, spec);
        }
        if (md->has[m]) {
            char feat[96];
            snprintf(feat, sizeof(feat), "modifier '%s'", name);
            return perr(pc, DETECT_DIAG_MODIFIER, key, feat,
                        "modifier '%s' is given twice in '%s'", name, spec);
        }
        if (md->n == MAX_MODS)
            return perr(pc, DETECT_DIAG_LIMIT, key, "modifier count",
                        "'%s' has more than %d modifiers", spec, MAX_MODS);
        md->has[m] = true;
        md->list[md->n++] = m;
        if (m >= M_LT && m <= M_GTE) {
            if (md->cmp >= 0)
                return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                            "'%s' has two comparisons ('%s' and '%s')", spec,
                            mod_names[md->cmp], mod_names[m]);
            md->cmp = m;
        }
        if (m >= M_MINUTE && m <= M_YEAR) {
            if (md->time >= 0)
                return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                            "'%s' extracts two parts of a date ('%s' and '%s')", spec,
                            mod_names[md->time], mod_names[m]);
            md->time = m;
        }
        p = bar ? bar + 1 : end;
        if (bar && p == end)
            return perr(pc, DETECT_DIAG_MODIFIER, key, "empty modifier",
                        "'%s' ends with '|' and no modifier", spec);
    }
    return 0;
}

/* Checks that the modifiers can be combined; returns 0 or -EINVAL. */
static int check_mods(struct pattern_ctx *pc, const struct ynode *key, const char *spec,
                      const struct mods *md, bool keyword)
{
    static const struct {
        int m;
        const char *what;
    } types[] = {{M_RE, "re"}, {M_CIDR, "cidr"}, {M_EXISTS, "exists"}, {M_FIELDREF, "fieldref"}};
    int type = -1;

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (!md->has[types[i].m])
            continue;
        if (type >= 0)
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s' combines '%s' and '%s', which exclude each other", spec,
                        mod_names[type], types[i].what);
        type = types[i].m;
    }
    if (md->cmp >= 0 && type >= 0)
        return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                    "'%s' combines '%s' with '%s'", spec, mod_names[md->cmp], mod_names[type]);
    if (md->time >= 0 && type >= 0)
        return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                    "'%s' combines '%s' with '%s'", spec, mod_names[md->time], mod_names[type]);
    for (int i = 0; i < md->n; i++) {
        int m = md->list[i];
        if ((m == M_I || m == M_M || m == M_S) && !md->has[M_RE])
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s': '%s' is a sub-modifier of 're' and needs it", spec, mod_names[m]);
        if ((m == M_I || m == M_M || m == M_S)) {
            bool after = false;
            for (int j = 0; j < i; j++)
                after |= md->list[j] == M_RE;
            if (!after)
                return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                            "'%s': '%s' must come after 're'", spec, mod_names[m]);
        }
        if (type == M_RE && (is_transform(m) || m == M_EXPAND))
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s' combines 're' with '%s': a regular expression is used as "
                        "written (put '.*' in it instead)", spec, mod_names[m]);
        if ((type == M_CIDR || type == M_EXISTS) && (is_transform(m) || m == M_EXPAND ||
                                                      m == M_CASED))
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s' combines '%s' with '%s'", spec, mod_names[type], mod_names[m]);
        if (type == M_EXISTS && (m == M_NEQ || m == M_ALL))
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s' combines 'exists' with '%s'", spec, mod_names[m]);
        if (type == M_FIELDREF && (is_encoding(m) || m == M_WINDASH || m == M_EXPAND))
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s' combines 'fieldref' with '%s'", spec, mod_names[m]);
        if ((md->cmp >= 0 || md->time >= 0) && (is_transform(m) || m == M_EXPAND || m == M_CASED))
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s' combines a numeric comparison with '%s'", spec, mod_names[m]);
        if (md->cmp >= 0 && m == M_NEQ)
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s' combines '%s' with 'neq'", spec, mod_names[md->cmp]);
    }
    if (type == M_FIELDREF) {
        int shapes = md->has[M_CONTAINS] + md->has[M_STARTSWITH] + md->has[M_ENDSWITH];
        if (shapes > 1)
            return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier combination",
                        "'%s': 'fieldref' takes at most one of contains, startswith, endswith",
                        spec);
    }
    if (keyword && (type == M_FIELDREF || type == M_EXISTS || type == M_CIDR || md->cmp >= 0 ||
                    md->time >= 0 || md->has[M_NEQ]))
        return perr(pc, DETECT_DIAG_MODIFIER, key, "modifier on keywords",
                    "'%s': keywords (no field name) cannot take '%s'", spec,
                    type >= 0 ? mod_names[type]
                    : md->cmp >= 0 ? mod_names[md->cmp]
                    : md->time >= 0 ? mod_names[md->time] : "neq");
    return 0;
}

/* ------------------------------------------------------------ symbols */

static int list_push(struct pattern_ctx *pc, struct symlist *l, struct symv v)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        struct symv *nv = detect_arena_alloc(pc->a, sizeof(*nv) * cap);
        if (!nv)
            return -ENOMEM;
        if (l->n)
            memcpy(nv, l->v, sizeof(*nv) * l->n);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

static uint16_t *syms_alloc(struct pattern_ctx *pc, size_t n)
{
    return detect_arena_alloc(pc->a, sizeof(uint16_t) * (n ? n : 1));
}

/* Sigma wildcard syntax: `*`, `?`; backslash escapes `*`, `?` and itself;
 * a backslash before anything else is a plain backslash. */
static int parse_wildcards(struct pattern_ctx *pc, const char *s, size_t n, struct symv *out)
{
    uint16_t *v = syms_alloc(pc, n);
    uint32_t k = 0;
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' && i + 1 < n && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\')) {
            v[k++] = (unsigned char)s[++i];
        } else if (c == '*') {
            if (k == 0 || v[k - 1] != SYM_STAR)
                v[k++] = SYM_STAR;
        } else if (c == '?') {
            v[k++] = SYM_Q;
        } else {
            v[k++] = c;
        }
    }
    out->s = v;
    out->n = k;
    return 0;
}

static bool has_special(const struct symv *v)
{
    for (uint32_t i = 0; i < v->n; i++)
        if (v->s[i] > 255)
            return true;
    return false;
}

static int symv_from_bytes(struct pattern_ctx *pc, const uint8_t *b, size_t n, struct symv *out)
{
    uint16_t *v = syms_alloc(pc, n);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = b[i];
    out->s = v;
    out->n = (uint32_t)n;
    return 0;
}

static int wrap_star(struct pattern_ctx *pc, struct symv *v, bool front, bool back)
{
    bool add_f = front && !(v->n && v->s[0] == SYM_STAR);
    bool add_b = back && !(v->n && v->s[v->n - 1] == SYM_STAR);
    if (!add_f && !add_b)
        return 0;
    uint16_t *s = syms_alloc(pc, v->n + 2);
    uint32_t k = 0;
    if (!s)
        return -ENOMEM;
    if (add_f)
        s[k++] = SYM_STAR;
    memcpy(s + k, v->s, sizeof(uint16_t) * v->n);
    k += v->n;
    if (add_b && !(k && s[k - 1] == SYM_STAR))
        s[k++] = SYM_STAR;
    v->s = s;
    v->n = k;
    return 0;
}

static bool word_sym(uint16_t c)
{
    return c < 256 && (isalnum(c) || c == '_' || c >= 0x80);
}

/* windash: a '-' or '/' at the start of a word (regex \B[-/]\b, as pySigma
 * does) matches any of - / en dash, em dash, horizontal bar. */
static void t_windash(struct symv *v)
{
    for (uint32_t i = 0; i < v->n; i++) {
        uint16_t c = v->s[i];
        if (c != '-' && c != '/')
            continue;
        bool prev_word = i > 0 && word_sym(v->s[i - 1]);
        bool next_word = i + 1 < v->n && word_sym(v->s[i + 1]);
        if (!prev_word && next_word)
            v->s[i] = SYM_DASH;
    }
}

static const char *const dash_forms[5] = {"-", "/", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95"};

/* Expands windash classes into literal variants (before an encoding). */
static int expand_dashes(struct pattern_ctx *pc, const struct ynode *at, struct symlist *l)
{
    struct symlist out = {0};
    for (uint32_t i = 0; i < l->n; i++) {
        struct symv *v = &l->v[i];
        uint32_t ndash = 0;
        for (uint32_t j = 0; j < v->n; j++)
            ndash += v->s[j] == SYM_DASH;
        if (!ndash) {
            if (list_push(pc, &out, *v) < 0)
                return oom(pc, at);
            continue;
        }
        uint64_t combos = 1;
        for (uint32_t j = 0; j < ndash; j++) {
            combos *= 5;
            if (combos > DETECT_MAX_VARIANTS)
                return perr(pc, DETECT_DIAG_LIMIT, at, "windash expansion",
                            "windash before an encoding expands this value into more than "
                            "%u variants", DETECT_MAX_VARIANTS);
        }
        for (uint64_t c = 0; c < combos; c++) {
            uint16_t *s = syms_alloc(pc, v->n * 3);
            uint32_t k = 0;
            uint64_t sel = c;
            if (!s)
                return oom(pc, at);
            for (uint32_t j = 0; j < v->n; j++) {
                if (v->s[j] != SYM_DASH) {
                    s[k++] = v->s[j];
                    continue;
                }
                const char *d = dash_forms[sel % 5];
                sel /= 5;
                for (; *d; d++)
                    s[k++] = (unsigned char)*d;
            }
            if (list_push(pc, &out, (struct symv){s, k}) < 0)
                return oom(pc, at);
        }
    }
    *l = out;
    return 0;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t k = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[k++] = b64chars[v >> 18];
        out[k++] = b64chars[(v >> 12) & 63];
        out[k++] = b64chars[(v >> 6) & 63];
        out[k++] = b64chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[k++] = b64chars[v >> 18];
        out[k++] = b64chars[(v >> 12) & 63];
        out[k++] = '=';
        out[k++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[k++] = b64chars[v >> 18];
        out[k++] = b64chars[(v >> 12) & 63];
        out[k++] = b64chars[(v >> 6) & 63];
        out[k++] = '=';
    }
    return k;
}

static uint8_t *symv_bytes(struct pattern_ctx *pc, const struct symv *v)
{
    uint8_t *b = detect_arena_alloc(pc->a, v->n ? v->n : 1);
    if (b)
        for (uint32_t i = 0; i < v->n; i++)
            b[i] = (uint8_t)v->s[i];
    return b;
}

static int t_base64(struct pattern_ctx *pc, const struct ynode *at, const struct symv *v,
                    struct symlist *out, bool offsets)
{
    uint8_t *b = symv_bytes(pc, v);
    if (!b)
        return oom(pc, at);
    if (!offsets) {
        char *enc = detect_arena_alloc(pc->a, (v->n + 2) / 3 * 4 + 1);
        struct symv r;
        if (!enc)
            return oom(pc, at);
        size_t k = b64_encode(b, v->n, enc);
        if (symv_from_bytes(pc, (const uint8_t *)enc, k, &r) < 0 || list_push(pc, out, r) < 0)
            return oom(pc, at);
        return 0;
    }
    /* The value shifted by 0, 1 and 2 bytes inside a longer base64 text:
     * drop the characters that depend on the unknown neighbours. */
    static const size_t start_cut[3] = {0, 2, 3};
    static const size_t end_cut[3] = {0, 3, 2};   /* by (len + shift) % 3 */
    for (size_t shift = 0; shift < 3; shift++) {
        size_t n = v->n + shift;
        uint8_t *in = detect_arena_alloc(pc->a, n ? n : 1);
        char *enc = detect_arena_alloc(pc->a, (n + 2) / 3 * 4 + 1);
        struct symv r;
        if (!in || !enc)
            return oom(pc, at);
        memset(in, ' ', shift);
        memcpy(in + shift, b, v->n);
        size_t k = b64_encode(in, n, enc);
        size_t s = start_cut[shift], e = end_cut[n % 3];
        if (s + e >= k)
            continue;  /* too short to say anything in this alignment */
        if (symv_from_bytes(pc, (const uint8_t *)enc + s, k - s - e, &r) < 0 ||
            list_push(pc, out, r) < 0)
            return oom(pc, at);
    }
    return 0;
}

/* Decodes one UTF-8 sequence; invalid bytes decode as themselves
 * (Latin-1), as a lenient reader would. */
static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *i)
{
    uint8_t c = s[*i];
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if ((c & 0xe0) == 0xc0) {
        cp = c & 0x1f;
        len = 2;
    } else if ((c & 0xf0) == 0xe0) {
        cp = c & 0x0f;
        len = 3;
    } else if ((c & 0xf8) == 0xf0) {
        cp = c & 0x07;
        len = 4;
    } else {
        (*i)++;
        return c;
    }
    if (*i + len > n) {
        (*i)++;
        return c;
    }
    for (size_t k = 1; k < len; k++) {
        if ((s[*i + k] & 0xc0) != 0x80) {
            (*i)++;
            return c;
        }
        cp = cp << 6 | (s[*i + k] & 0x3f);
    }
    *i += len;
    return cp;
}

static int t_utf16(struct pattern_ctx *pc, const struct ynode *at, const struct symv *v,
                   struct symlist *out, bool be, bool bom)
{
    uint8_t *b = symv_bytes(pc, v);
    uint8_t *o = detect_arena_alloc(pc->a, (size_t)v->n * 4 + 2);
    size_t k = 0;
    struct symv r;
    if (!b || !o)
        return oom(pc, at);
    if (bom) {
        o[k++] = 0xff;
        o[k++] = 0xfe;
    }
    for (size_t i = 0; i < v->n;) {
        uint32_t cp = utf8_next(b, v->n, &i);
        uint16_t u[2];
        int nu = 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u[0] = (uint16_t)(0xd800 | (cp >> 10));
            u[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
            nu = 2;
        } else {
            u[0] = (uint16_t)cp;
        }
        for (int j = 0; j < nu; j++) {
            if (be) {
                o[k++] = (uint8_t)(u[j] >> 8);
                o[k++] = (uint8_t)u[j];
            } else {
                o[k++] = (uint8_t)u[j];
                o[k++] = (uint8_t)(u[j] >> 8);
            }
        }
    }
    if (symv_from_bytes(pc, o, k, &r) < 0 || list_push(pc, out, r) < 0)
        return oom(pc, at);
    return 0;
}

/* ------------------------------------------------------------ placeholders */

static const struct detect_placeholder *find_placeholder(const struct detect_config *cfg,
                                                         const char *name, size_t n)
{
    for (size_t i = 0; i < cfg->n_placeholders; i++) {
        const char *p = cfg->placeholders[i].name;
        if (p && strlen(p) == n && memcmp(p, name, n) == 0)
            return &cfg->placeholders[i];
    }
    for (size_t i = 0; i < cfg->n_placeholders; i++) {
        const char *p = cfg->placeholders[i].name;
        if (p && strlen(p) == n && strncasecmp(p, name, n) == 0)
            return &cfg->placeholders[i];
    }
    return NULL;
}

/* `|expand`: replaces each %name% by each of its configured values; `\%`
 * is a plain percent sign. Results are raw strings in wildcard syntax. */
static int expand_placeholders(struct pattern_ctx *pc, const struct ynode *at, const char *s,
                               size_t n, const char ***outv, size_t **outl, uint32_t *outn)
{
    const char **cur = detect_arena_alloc(pc->a, sizeof(*cur));
    size_t *curl = detect_arena_alloc(pc->a, sizeof(*curl));
    uint32_t ncur = 1;
    char *buf = detect_arena_alloc(pc->a, n + 1);
    size_t blen = 0;

    if (!cur || !curl || !buf)
        return oom(pc, at);
    cur[0] = "";
    curl[0] = 0;
    for (size_t i = 0; i <= n; i++) {
        bool flush = i == n;
        size_t j = i;
        const struct detect_placeholder *ph = NULL;
        if (!flush && s[i] == '\\' && i + 1 < n && s[i + 1] == '%') {
            buf[blen++] = '%';
            i++;
            continue;
        }
        if (!flush && s[i] == '%') {
            j = i + 1;
            while (j < n && s[j] != '%' && s[j] != '\\')
                j++;
            if (j < n && s[j] == '%' && j > i + 1) {
                ph = find_placeholder(pc->cfg, s + i + 1, j - i - 1);
                if (!ph) {
                    char feat[128];
                    snprintf(feat, sizeof(feat), "placeholder %%%.*s%%",
                             (int)(j - i - 1 > 80 ? 80 : j - i - 1), s + i + 1);
                    return perr(pc, DETECT_DIAG_PLACEHOLDER, at, feat,
                                "placeholder %%%.*s%% has no values in the configuration: "
                                "'expand' needs them (configure the placeholder or drop the rule)",
                                (int)(j - i - 1 > 80 ? 80 : j - i - 1), s + i + 1);
                }
                flush = true;
            }
        }
        if (!flush) {
            buf[blen++] = s[i];
            continue;
        }
        /* append buf, then the placeholder's values, to every current result */
        uint32_t nv = ph ? (uint32_t)ph->n_values : 1;
        if (ph && nv == 0)
            return perr(pc, DETECT_DIAG_PLACEHOLDER, at, "placeholder without values",
                        "placeholder %%%s%% is configured with no values", ph->name);
        if ((uint64_t)ncur * nv > DETECT_MAX_VARIANTS)
            return perr(pc, DETECT_DIAG_LIMIT, at, "placeholder expansion",
                        "placeholders expand this value into more than %u values",
                        DETECT_MAX_VARIANTS);
        const char **next = detect_arena_alloc(pc->a, sizeof(*next) * ncur * nv);
        size_t *nextl = detect_arena_alloc(pc->a, sizeof(*nextl) * ncur * nv);
        if (!next || !nextl)
            return oom(pc, at);
        uint32_t k = 0;
        for (uint32_t a = 0; a < ncur; a++) {
            for (uint32_t b = 0; b < nv; b++) {
                const char *pv = ph ? ph->values[b] : "";
                size_t pl = pv ? strlen(pv) : 0;
                size_t tl = curl[a] + blen + pl;
                if (tl > DETECT_MAX_VALUE_BYTES)
                    return perr(pc, DETECT_DIAG_LIMIT, at, "value length",
                                "an expanded value is longer than %u bytes",
                                DETECT_MAX_VALUE_BYTES);
                char *t = detect_arena_alloc(pc->a, tl + 1);
                if (!t)
                    return oom(pc, at);
                memcpy(t, cur[a], curl[a]);
                memcpy(t + curl[a], buf, blen);
                if (pl)
                    memcpy(t + curl[a] + blen, pv, pl);
                next[k] = t;
                nextl[k++] = tl;
            }
        }
        cur = next;
        curl = nextl;
        ncur = k;
        blen = 0;
        if (ph)
            i = j;
    }
    *outv = cur;
    *outl = curl;
    *outn = ncur;
    return 0;
}

/* ------------------------------------------------------------ building vms */

static int build_glob(struct pattern_ctx *pc, const struct ynode *at, const struct symv *v,
                      bool cased, const char *text, struct vm *m)
{
    uint32_t nlit = 0, npieces = 0, nseg = 0;
    bool in_seg = false;

    uint32_t group = m->group;
    memset(m, 0, sizeof(*m));
    m->group = group;
    m->kind = VM_GLOB;
    m->cased = cased;
    m->text = text;
    m->anch_start = !(v->n && v->s[0] == SYM_STAR);
    m->anch_end = !(v->n && v->s[v->n - 1] == SYM_STAR);
    /* count */
    for (uint32_t i = 0; i < v->n; i++) {
        uint16_t c = v->s[i];
        if (c == SYM_STAR) {
            in_seg = false;
            continue;
        }
        if (!in_seg) {
            nseg++;
            in_seg = true;
        }
        if (c < 256) {
            nlit++;
            if (i == 0 || v->s[i - 1] > 255)
                npieces++;
        } else {
            npieces++;
        }
    }
    uint8_t *bytes = detect_arena_alloc(pc->a, nlit ? nlit : 1);
    uint8_t *tbytes = cased ? detect_arena_alloc(pc->a, nlit ? nlit : 1) : bytes;
    struct piece *pieces = detect_arena_alloc(pc->a, sizeof(*pieces) * (npieces ? npieces : 1));
    struct seg *segs = detect_arena_alloc(pc->a, sizeof(*segs) * (nseg ? nseg : 1));
    if (!bytes || !tbytes || !pieces || !segs)
        return oom(pc, at);
    uint32_t kb = 0, kp = 0, ks = 0;
    in_seg = false;
    for (uint32_t i = 0; i < v->n; i++) {
        uint16_t c = v->s[i];
        if (c == SYM_STAR) {
            in_seg = false;
            continue;
        }
        if (!in_seg) {
            segs[ks].p0 = kp;
            segs[ks].np = 0;
            ks++;
            in_seg = true;
        }
        if (c < 256) {
            if (i == 0 || v->s[i - 1] > 255) {
                pieces[kp].kind = PC_LIT;
                pieces[kp].off = kb;
                pieces[kp].len = 0;
                kp++;
                segs[ks - 1].np++;
            }
            bytes[kb] = cased ? (uint8_t)c : detect_fold[c];
            tbytes[kb] = detect_fold[c];
            kb++;
            pieces[kp - 1].len++;
        } else {
            pieces[kp].kind = c == SYM_Q ? PC_ANY1 : PC_DASH;
            pieces[kp].off = kb;
            pieces[kp].len = 0;
            kp++;
            segs[ks - 1].np++;
        }
    }
    m->need = detect_byte_mask(tbytes, nlit);
    m->bytes = bytes;
    m->tbytes = tbytes;
    m->pieces = pieces;
    m->segs = segs;
    m->nseg = nseg;
    if (nseg == 0) {
        m->shape = m->anch_start && m->anch_end ? G_EXACT : G_ANY;
        m->lit = bytes;
        m->lit_len = 0;
    } else if (nseg == 1 && segs[0].np == 1 && pieces[segs[0].p0].kind == PC_LIT) {
        m->lit = bytes;
        m->lit_len = pieces[segs[0].p0].len;
        m->anchor = pattern_rare_byte(bytes, m->lit_len);
        if (m->anch_start && m->anch_end)
            m->shape = G_EXACT;
        else if (m->anch_start)
            m->shape = G_PREFIX;
        else if (m->anch_end)
            m->shape = G_SUFFIX;
        else
            m->shape = G_CONTAINS;
    } else {
        m->shape = G_GENERAL;
    }
    return 0;
}

static bool parse_cidr(const char *s, size_t n, struct vm *m)
{
    char buf[64];
    const char *slash;
    long bits = -1;

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    slash = strchr(buf, '/');
    if (slash) {
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            return false;
        bits = strtol(slash + 1, &end, 10);
        if (*end)
            return false;
        buf[slash - buf] = '\0';
    }
    memset(m->addr, 0, sizeof(m->addr));
    if (inet_pton(AF_INET, buf, m->addr) == 1) {
        m->family = 4;
        if (bits < 0)
            bits = 32;
        if (bits > 32)
            return false;
    } else if (inet_pton(AF_INET6, buf, m->addr) == 1) {
        m->family = 6;
        if (bits < 0)
            bits = 128;
        if (bits > 128)
            return false;
    } else {
        return false;
    }
    m->prefix = (uint8_t)bits;
    /* clear host bits */
    size_t total = m->family == 4 ? 4 : 16;
    for (size_t i = 0; i < total; i++) {
        long keep = bits - (long)i * 8;
        if (keep >= 8)
            continue;
        m->addr[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
    return true;
}

static size_t regex_literals(const char *re, size_t n, struct detect_arena *a, uint8_t ***outv,
                             uint32_t **outl, struct relit_set **req, uint32_t *nreq,
                             unsigned nest);

static int compile_regex(struct pattern_ctx *pc, const struct ynode *at, const struct mods *md,
                         struct vm *m)
{
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_compile_context *cc = NULL;
    pcre2_code *re = NULL;
    int rc = 0;

    if (at->len > DETECT_MAX_REGEX_BYTES)
        return perr(pc, DETECT_DIAG_LIMIT, at, "regex length",
                    "the regular expression is %zu bytes long, more than the limit of %u",
                    at->len, DETECT_MAX_REGEX_BYTES);
    if (md->has[M_I])
        opts |= PCRE2_CASELESS;
    if (md->has[M_M])
        opts |= PCRE2_MULTILINE;
    if (md->has[M_S])
        opts |= PCRE2_DOTALL;
    cc = pcre2_compile_context_create(NULL);
    if (!cc)
        return oom(pc, at);
    pcre2_set_parens_nest_limit(cc, 64);
    re = pcre2_compile((PCRE2_SPTR)at->str, at->len, opts, &errcode, &erroff, cc);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        rc = perr(pc, DETECT_DIAG_REGEX, at, "regular expression",
                  "the regular expression does not compile: %s at offset %zu", (char *)msg,
                  (size_t)erroff);
        goto cleanup;
    }
    /* JIT is an optimisation: without it the interpreter runs, with the same limits */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    if (pc->rule->nres == pc->rule->capres) {
        uint32_t cap = pc->rule->capres ? pc->rule->capres * 2 : 4;
        pcre2_code **nr = realloc(pc->rule->res, sizeof(*nr) * cap);
        if (!nr) {
            pcre2_code_free(re);
            rc = oom(pc, at);
            goto cleanup;
        }
        pc->rule->res = nr;
        pc->rule->capres = cap;
    }
    pc->rule->res[pc->rule->nres++] = re;
    m->kind = VM_RE;
    m->re = re;
    /* a character is at least one byte: a shorter value cannot match */
    if (pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &m->minlen) != 0)
        m->minlen = 0;
    m->cased = !md->has[M_I];
    m->text = at->str;
    if (m->cased) {
        uint8_t **v = NULL;
        uint32_t *l = NULL;
        struct relit_set *req = NULL;
        uint32_t nreq = 0;
        m->nrelit = (uint32_t)regex_literals(at->str, at->len, pc->a, &v, &l, &req, &nreq, 0);
        m->relit = (const uint8_t *const *)v;
        m->relit_len = l;
        m->req = req;
        m->nreq = nreq;
    }
cleanup:
    pcre2_compile_context_free(cc);
    return rc;
}

static bool parse_bool(const struct ynode *v, bool *out)
{
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES"};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO"};
    for (size_t i = 0; i < 6; i++) {
        if (ytree_is(v, t[i])) {
            *out = true;
            return true;
        }
        if (ytree_is(v, f[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

static int add_vm(struct pattern_ctx *pc, const struct ynode *at, struct vm **vms,
                  uint32_t *n, uint32_t *cap, struct vm **out)
{
    if (pc->nvalues >= pc->cfg->max_values)
        return perr(pc, DETECT_DIAG_LIMIT, at, "value count",
                    "the rule has more than %u values (after expansion)", pc->cfg->max_values);
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 4;
        struct vm *nv = detect_arena_alloc(pc->a, sizeof(*nv) * c);
        if (!nv)
            return oom(pc, at);
        if (*n)
            memcpy(nv, *vms, sizeof(*nv) * *n);
        *vms = nv;
        *cap = c;
    }
    pc->nvalues++;
    *out = &(*vms)[(*n)++];
    memset(*out, 0, sizeof(**out));
    (*out)->group = pc->group;
    return 0;
}

/* Compiles one string value through the transformation modifiers. */
static int compile_string(struct pattern_ctx *pc, const struct ynode *at, const struct mods *md,
                          bool keyword, const char *text, struct vm **vms, uint32_t *nvm,
                          uint32_t *capvm)
{
    struct symlist cur = {0};
    bool encoded = false;
    const char *raw1 = at->str;
    size_t rawl1 = at->len;
    const char **raw = &raw1;
    size_t *rawl = &rawl1;
    uint32_t nraw = 1;
    int rc;

    if (md->has[M_EXPAND]) {
        rc = expand_placeholders(pc, at, at->str, at->len, &raw, &rawl, &nraw);
        if (rc < 0)
            return rc;
    }
    for (uint32_t i = 0; i < nraw; i++) {
        struct symv v;
        if (parse_wildcards(pc, raw[i], rawl[i], &v) < 0 || list_push(pc, &cur, v) < 0)
            return oom(pc, at);
    }
    for (int i = 0; i < md->n; i++) {
        int mo = md->list[i];
        struct symlist next = {0};
        if (!is_transform(mo))
            continue;
        if (is_encoding(mo)) {
            bool dashes = false;
            for (uint32_t j = 0; j < cur.n; j++)
                for (uint32_t k = 0; k < cur.v[j].n; k++)
                    dashes |= cur.v[j].s[k] == SYM_DASH;
            if (dashes && (rc = expand_dashes(pc, at, &cur)) < 0)
                return rc;
        }
        for (uint32_t j = 0; j < cur.n; j++) {
            struct symv v = cur.v[j];
            if (is_encoding(mo) && has_special(&v)) {
                char feat[64];
                snprintf(feat, sizeof(feat), "modifier '%s'", mod_names[mo]);
                return perr(pc, DETECT_DIAG_VALUE, at, feat,
                            "'%s' cannot encode a value with wildcards ('*' or '?'): put "
                            "'contains', 'startswith' or 'endswith' after it, or escape them",
                            mod_names[mo]);
            }
            switch (mo) {
            case M_CONTAINS:
            case M_STARTSWITH:
            case M_ENDSWITH:
                if (wrap_star(pc, &v, mo != M_STARTSWITH, mo != M_ENDSWITH) < 0)
                    return oom(pc, at);
                rc = list_push(pc, &next, v) < 0 ? oom(pc, at) : 0;
                break;
            case M_WINDASH:
                t_windash(&v);
                rc = list_push(pc, &next, v) < 0 ? oom(pc, at) : 0;
                break;
            case M_BASE64:
            case M_BASE64OFFSET:
                rc = t_base64(pc, at, &v, &next, mo == M_BASE64OFFSET);
                break;
            case M_UTF16LE:
            case M_WIDE:
                rc = t_utf16(pc, at, &v, &next, false, false);
                break;
            case M_UTF16BE:
                rc = t_utf16(pc, at, &v, &next, true, false);
                break;
            case M_UTF16:
                rc = t_utf16(pc, at, &v, &next, false, true);
                break;
            default:
                rc = 0;
                break;
            }
            if (rc < 0)
                return rc;
            if (next.n > DETECT_MAX_VARIANTS)
                return perr(pc, DETECT_DIAG_LIMIT, at, "value expansion",
                            "the modifiers expand this value into more than %u values",
                            DETECT_MAX_VARIANTS);
        }
        if (is_encoding(mo))
            encoded = true;
        cur = next;
    }
    if (keyword && !md->has[M_CONTAINS] && !md->has[M_STARTSWITH] && !md->has[M_ENDSWITH]) {
        for (uint32_t j = 0; j < cur.n; j++)
            if (wrap_star(pc, &cur.v[j], true, true) < 0)
                return oom(pc, at);
    }
    for (uint32_t j = 0; j < cur.n; j++) {
        struct vm *m;
        if ((rc = add_vm(pc, at, vms, nvm, capvm, &m)) < 0)
            return rc;
        /* encoded values (base64, UTF-16) are compared byte for byte */
        rc = build_glob(pc, at, &cur.v[j], md->has[M_CASED] || encoded, text, m);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool valid_field_name(const char *s, size_t n)
{
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* The byte of a literal value a dispatch lists it by (struct fcond). */
static unsigned dispatch_bucket(uint8_t byte, bool cased)
{
    return (cased ? byte : detect_fold[byte]) & 63;
}

/* Lists the values of a long list of exact, prefix or suffix literals by
 * the byte a match must share with the value (struct fcond); leaves other
 * conditions alone. Returns 0 or a negative errno (out of memory). */
static int fcond_dispatch_build(struct pattern_ctx *pc, struct fcond *fc)
{
    uint8_t mode = DISPATCH_NONE;
    if (fc->all || fc->field == FIELD_ANY || fc->nvm < 4 || fc->nvm > UINT16_MAX)
        return 0;
    for (uint32_t i = 0; i < fc->nvm; i++) {
        const struct vm *m = &fc->vms[i];
        uint8_t want;
        if (m->kind != VM_GLOB || m->lit_len == 0 || m->cased != fc->vms[0].cased)
            return 0;
        if (m->shape == G_EXACT || m->shape == G_PREFIX)
            want = DISPATCH_FIRST;
        else if (m->shape == G_SUFFIX)
            want = DISPATCH_LAST;
        else
            return 0;
        if (mode != DISPATCH_NONE && want != mode)
            return 0;
        mode = want;
    }
    uint16_t *start = detect_arena_alloc(pc->a, sizeof(*start) * 65);
    uint16_t *list = detect_arena_alloc(pc->a, sizeof(*list) * fc->nvm);
    if (!start || !list)
        return -ENOMEM;
    /* a counting sort by bucket, stable: list order within a bucket */
    for (uint32_t i = 0; i < fc->nvm; i++) {
        const struct vm *m = &fc->vms[i];
        start[dispatch_bucket(m->lit[mode == DISPATCH_FIRST ? 0 : m->lit_len - 1], m->cased) + 1]++;
    }
    for (uint32_t b = 1; b <= 64; b++)
        start[b] += start[b - 1];
    uint16_t fill[64];
    memcpy(fill, start, sizeof(fill));
    for (uint32_t i = 0; i < fc->nvm; i++) {
        const struct vm *m = &fc->vms[i];
        unsigned b = dispatch_bucket(m->lit[mode == DISPATCH_FIRST ? 0 : m->lit_len - 1], m->cased);
        list[fill[b]++] = (uint16_t)i;
    }
    fc->dispatch = mode;
    fc->dstart = start;
    fc->dvm = list;
    return 0;
}

int pattern_fcond(struct pattern_ctx *pc, const struct ynode *key, const struct ynode *val,
                  struct fcond *out)
{
    struct mods md;
    const char *spec = key ? key->str : "";
    size_t speclen = key ? key->len : 0;
    const char *bar = key ? memchr(spec, '|', speclen) : NULL;
    size_t flen = bar ? (size_t)(bar - spec) : speclen;
    bool keyword = key == NULL || flen == 0;
    const struct ynode *at = key ? key : val;
    struct vm *vms = NULL;
    uint32_t nvm = 0, capvm = 0;
    const struct ynode *const *items;
    size_t nitems;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&md, 0, sizeof(md));
    md.cmp = md.time = -1;
    out->line = at->line;
    out->col = at->col;
    if (key && !keyword && !valid_field_name(spec, flen))
        return perr(pc, DETECT_DIAG_STRUCTURE, key, "field name",
                    "'%.*s' is not a valid field name", (int)(flen > 80 ? 80 : flen), spec);
    if (bar && bar + 1 == spec + speclen)
        return perr(pc, DETECT_DIAG_MODIFIER, key, "empty modifier",
                    "'%s' ends with '|' and no modifier", spec);
    if (bar && (rc = parse_mods(pc, key, bar + 1, speclen - flen - 1, &md)) < 0)
        return rc;
    if ((rc = check_mods(pc, key, spec, &md, keyword)) < 0)
        return rc;
    out->spec = key ? detect_arena_strndup(pc->a, spec, speclen) : "keywords";
    if (!out->spec)
        return oom(pc, at);
    if (keyword) {
        out->field = FIELD_ANY;
    } else {
        char *name = detect_arena_strndup(pc->a, spec, flen);
        if (!name)
            return oom(pc, at);
        int32_t id = detect_strtab_intern(pc->fields, name, flen);
        if (id < 0)
            return oom(pc, at);
        out->field = (uint32_t)id;
        out->field_name = name;
    }
    out->all = md.has[M_ALL];
    out->negate = md.has[M_NEQ];

    if (val->kind == Y_SEQ) {
        items = (const struct ynode *const *)val->items;
        nitems = val->n;
        if (nitems == 0)
            return perr(pc, DETECT_DIAG_VALUE, val, "empty list",
                        "'%s' has an empty list of values", out->spec);
    } else if (val->kind == Y_SCALAR) {
        items = &val;
        nitems = 1;
    } else {
        return perr(pc, DETECT_DIAG_STRUCTURE, val, "value type",
                    "the value of '%s' is a mapping; expected a value or a list of values",
                    out->spec);
    }
    for (size_t i = 0; i < nitems; i++) {
        const struct ynode *v = items[i];
        struct vm *m;
        pc->group = (uint32_t)i;
        if (v->kind != Y_SCALAR)
            return perr(pc, DETECT_DIAG_STRUCTURE, v, "value type",
                        "a value of '%s' is a %s; expected a plain value", out->spec,
                        v->kind == Y_SEQ ? "list" : "mapping");
        if (v->len > DETECT_MAX_VALUE_BYTES)
            return perr(pc, DETECT_DIAG_LIMIT, v, "value length",
                        "a value of %zu bytes is longer than the limit of %u", v->len,
                        DETECT_MAX_VALUE_BYTES);
        /* the rule keeps its own copy of the value as written (evidence) */
        const char *text = detect_arena_strndup(pc->a, v->str, v->len);
        if (!text)
            return oom(pc, v);
        if (v->is_null) {
            if (keyword || md.n > 0)
                return perr(pc, DETECT_DIAG_VALUE, v, "null value",
                            "'%s': null can only be given to a field without modifiers",
                            out->spec);
            if ((rc = add_vm(pc, v, &vms, &nvm, &capvm, &m)) < 0)
                return rc;
            m->kind = VM_NULL;
            m->text = "null";
            continue;
        }
        if (md.has[M_EXISTS]) {
            bool b;
            if (!parse_bool(v, &b))
                return perr(pc, DETECT_DIAG_VALUE, v, "modifier 'exists'",
                            "'exists' takes true or false, not '%.40s'", v->str);
            if ((rc = add_vm(pc, v, &vms, &nvm, &capvm, &m)) < 0)
                return rc;
            m->kind = VM_EXISTS;
            m->exists = b;
            m->text = text;
            continue;
        }
        if (md.has[M_RE]) {
            if ((rc = add_vm(pc, v, &vms, &nvm, &capvm, &m)) < 0)
                return rc;
            if ((rc = compile_regex(pc, v, &md, m)) < 0)
                return rc;
            m->text = text;
            continue;
        }
        if (md.has[M_CIDR]) {
            if ((rc = add_vm(pc, v, &vms, &nvm, &capvm, &m)) < 0)
                return rc;
            if (!parse_cidr(v->str, v->len, m))
                return perr(pc, DETECT_DIAG_VALUE, v, "modifier 'cidr'",
                            "'%.60s' is not an IPv4 or IPv6 network (like 10.0.0.0/8 or fe80::/10)",
                            v->str);
            m->kind = VM_CIDR;
            m->text = text;
            continue;
        }
        if (md.cmp >= 0 || md.time >= 0) {
            double num;
            if (!pattern_number(v->str, v->len, &num))
                return perr(pc, DETECT_DIAG_VALUE, v,
                            md.cmp >= 0 ? "numeric comparison" : "time modifier",
                            "'%s' needs a number, not '%.40s'", mod_names[md.cmp >= 0 ? md.cmp
                                                                                     : md.time],
                            v->str);
            if ((rc = add_vm(pc, v, &vms, &nvm, &capvm, &m)) < 0)
                return rc;
            m->kind = md.time >= 0 ? VM_TIME : VM_NUM;
            m->num = num;
            m->op = md.cmp == M_LT ? CMP_LT : md.cmp == M_LTE ? CMP_LTE
                  : md.cmp == M_GT ? CMP_GT : md.cmp == M_GTE ? CMP_GTE : CMP_EQ;
            m->time_part = md.time == M_MINUTE ? TP_MINUTE : md.time == M_HOUR ? TP_HOUR
                         : md.time == M_DAY ? TP_DAY : md.time == M_WEEK ? TP_WEEK
                         : md.time == M_MONTH ? TP_MONTH : md.time == M_YEAR ? TP_YEAR : TP_NONE;
            m->text = text;
            continue;
        }
        if (md.has[M_FIELDREF]) {
            if (!valid_field_name(v->str, v->len))
                return perr(pc, DETECT_DIAG_VALUE, v, "modifier 'fieldref'",
                            "'fieldref' needs a field name, not '%.40s'", v->str);
            int32_t id = detect_strtab_intern(pc->fields, v->str, v->len);
            if (id < 0)
                return oom(pc, v);
            if ((rc = add_vm(pc, v, &vms, &nvm, &capvm, &m)) < 0)
                return rc;
            m->kind = VM_FIELDREF;
            m->ref = (uint32_t)id;
            m->cased = md.has[M_CASED];
            m->shape = md.has[M_CONTAINS] ? G_CONTAINS : md.has[M_STARTSWITH] ? G_PREFIX
                     : md.has[M_ENDSWITH] ? G_SUFFIX : G_EXACT;
            m->text = text;
            continue;
        }
        if ((rc = compile_string(pc, v, &md, keyword, text, &vms, &nvm, &capvm)) < 0)
            return rc;
    }
    if (nvm == 0)
        return perr(pc, DETECT_DIAG_VALUE, val, "no values",
                    "'%s' has no value left after its modifiers (values too short for "
                    "base64offset?)", out->spec);
    out->vms = vms;
    out->nvm = nvm;
    out->ngroups = (uint32_t)nitems;
    /* what an absent field gives (every value is null or exists: false,
     * so groups are single values) */
    bool any = false, every = true;
    for (uint32_t i = 0; i < nvm; i++) {
        bool r = vms[i].kind == VM_NULL || (vms[i].kind == VM_EXISTS && !vms[i].exists);
        any |= r;
        every &= r;
    }
    out->absent_match = out->all ? every : any;
    return fcond_dispatch_build(pc, out);
}

/* ------------------------------------------------------------ literals */

uint32_t pattern_trig_score(uint8_t kind, uint32_t len)
{
    /* anchored literals are cheap to look up (a walk from one end) and
     * usually name a program or a path: prefer them */
    uint32_t l = len > DETECT_MAX_LITERAL ? DETECT_MAX_LITERAL : len;
    return 1 + l * 4 + (kind == TRIG_EXACT ? 64 : kind == TRIG_SUBSTR ? 0 : 12);
}

static void set_trig(struct trig *t, uint8_t kind, uint32_t field, const uint8_t *lit,
                     uint32_t len)
{
    t->kind = kind;
    t->field = field;
    if (kind != TRIG_EXACT && len > DETECT_MAX_LITERAL) {
        if (kind == TRIG_SUFFIX)
            lit += len - DETECT_MAX_LITERAL;
        len = DETECT_MAX_LITERAL;
    }
    t->lit = lit;
    t->len = len;
}

/* Mandatory literals of a regular expression, when they can be told
 * safely: the expression is read at the top level as a sequence of items,
 * each a literal character, a group whose alternatives are all plain
 * strings ("(W|R)", "(?:gz|bz2)"; an alternative may be \s, and \s alone
 * is such a group of the six white space bytes; an ASCII character or such
 * a group followed by `?` gets the empty string as one more alternative),
 * or anything else (classes, escapes like \d, other quantified items,
 * anchors), which breaks the sequence. Every match contains one of the
 * strings spelled by a run of consecutive literal items (the product of
 * the groups' alternatives, cut to the shortest one's length where the
 * product grows past REGEX_MAX_SET: "-(W|R)\s?(\s|\"|')" gives the 16
 * strings "-w" or "-r" and one white space or quote), and, for a group whose
 * alternatives are expressions each with mandatory literals of its own
 * (read the same way, nested up to REGEX_MAX_NEST), one of their union.
 * The best run or group set (longest shortest string) is kept, folded, up
 * to REGEX_MAX_SET strings. Returns the number
 * of strings (0: none). A top-level alternation means nothing is mandatory.
 * Every run (up to REGEX_MAX_REQ, with their strings' least common bytes)
 * goes to *req: the matcher checks them before running the expression. */
#define REGEX_MAX_SET 16
#define REGEX_MAX_REQ 8
#define REGEX_MAX_ALTS 8

#define REGEX_MAX_NEST 4

struct ritem {
    int kind;                      /* 0 literal char, 1 group, 2 other, 3 group
                                    * whose alternatives each need a literal */
    uint8_t c;
    uint32_t nalt;
    uint8_t alt[REGEX_MAX_ALTS][DETECT_MAX_LITERAL];
    uint32_t altlen[REGEX_MAX_ALTS];
    uint8_t **gv;                  /* kind 3: the union of the alternatives' */
    uint32_t *gl, gn;              /* best sets (gn strings) */
};

/* What \s matches without (*UCP): HT, LF, VT, FF, CR and space (the
 * built-in "C" tables). */
static const uint8_t regex_space[] = {'\t', '\n', '\v', '\f', '\r', ' '};

/* The strings of a run being built: the current ones ([0]) and their
 * extension by the next item ([1]). */
struct rstrings {
    uint8_t s[2][REGEX_MAX_SET * REGEX_MAX_ALTS][DETECT_MAX_LITERAL];
    uint32_t l[2][REGEX_MAX_SET * REGEX_MAX_ALTS];
};

/* Reads an escaped character at re[i] (after the backslash): a literal
 * byte, or -1 when the escape is a class, an assertion or anything else. */
static int regex_escape(unsigned char d)
{
    if (isalnum(d))
        return -1;
    return d;
}

/* A group "( ... )" or "(?: ... )" at re[i] whose alternatives are plain
 * strings; returns the index after ")" or 0 when it is not such a group. */
static size_t regex_group(const char *re, size_t n, size_t i, struct ritem *it)
{
    size_t j = i + 1;
    if (j + 1 < n && re[j] == '?' && re[j + 1] == ':')
        j += 2;
    else if (j < n && re[j] == '?')
        return 0;
    it->kind = 1;
    it->nalt = 1;
    it->altlen[0] = 0;
    for (; j < n; j++) {
        unsigned char c = (unsigned char)re[j];
        if (c == ')')
            return j + 1;
        if (c == '|') {
            if (it->nalt == REGEX_MAX_ALTS)
                return 0;
            it->altlen[it->nalt++] = 0;
            continue;
        }
        if (c == '\\') {
            if (j + 1 >= n)
                return 0;
            int e = regex_escape((unsigned char)re[++j]);
            if (e < 0 && re[j] == 's' && it->altlen[it->nalt - 1] == 0 && j + 1 < n &&
                (re[j + 1] == '|' || re[j + 1] == ')')) {
                /* an alternative that is just \s: one per white space byte */
                if (it->nalt - 1 + sizeof(regex_space) > REGEX_MAX_ALTS)
                    return 0;
                it->nalt--;
                for (size_t w = 0; w < sizeof(regex_space); w++) {
                    it->alt[it->nalt][0] = regex_space[w];
                    it->altlen[it->nalt++] = 1;
                }
                continue;
            }
            if (e < 0)
                return 0;
            c = (unsigned char)e;
        } else if (strchr("([{.^$*+?", c)) {
            return 0;
        }
        uint32_t *l = &it->altlen[it->nalt - 1];
        if (*l >= DETECT_MAX_LITERAL)
            return 0;
        it->alt[it->nalt - 1][(*l)++] = detect_fold[c];
    }
    return 0;
}

static size_t regex_literals(const char *re, size_t n, struct detect_arena *a, uint8_t ***outv,
                             uint32_t **outl, struct relit_set **req, uint32_t *nreq,
                             unsigned nest);

/* Adds a mandatory set to *req (when asked for, up to REGEX_MAX_REQ). */
static int add_req(struct detect_arena *a, struct relit_set **req, uint32_t *nreq, uint8_t **v,
                   uint32_t *l, uint32_t nc)
{
    if (!req || *nreq >= REGEX_MAX_REQ)
        return 0;
    if (!*req && !(*req = detect_arena_alloc(a, sizeof(**req) * REGEX_MAX_REQ)))
        return -ENOMEM;
    /* the check scans the value once per string: more than 4 strings are
     * cut to the longest common length that leaves at most 4 distinct ones
     * ("-w" and "-r" for the 16 of "-(W|R)\s?(\s|\"|')"), when there is one */
    if (nc > 4) {
        uint32_t minlen = UINT32_MAX, cut = 0, nd = 0;
        for (uint32_t c = 0; c < nc; c++)
            if (l[c] < minlen)
                minlen = l[c];
        for (uint32_t len = minlen; len > 0 && !cut; len--) {
            nd = 0;
            for (uint32_t c = 0; c < nc && nd <= 4; c++) {
                bool dup = false;
                for (uint32_t d = 0; d < c && !dup; d++)
                    dup = memcmp(v[d], v[c], len) == 0;
                nd += !dup;
            }
            if (nd <= 4)
                cut = len;
        }
        if (cut) {
            uint8_t **cv = detect_arena_alloc(a, sizeof(*cv) * nd);
            uint32_t *cl = detect_arena_alloc(a, sizeof(*cl) * nd);
            if (!cv || !cl)
                return -ENOMEM;
            uint32_t k = 0;
            for (uint32_t c = 0; c < nc; c++) {
                bool dup = false;
                for (uint32_t d = 0; d < k && !dup; d++)
                    dup = memcmp(cv[d], v[c], cut) == 0;
                if (!dup) {
                    cv[k] = v[c];
                    cl[k++] = cut;
                }
            }
            v = cv;
            l = cl;
            nc = k;
        }
    }
    uint32_t *anchor = detect_arena_alloc(a, sizeof(*anchor) * nc);
    if (!anchor)
        return -ENOMEM;
    for (uint32_t c = 0; c < nc; c++)
        anchor[c] = pattern_rare_byte(v[c], l[c]);
    (*req)[(*nreq)++] = (struct relit_set){nc, (const uint8_t *const *)v, l, anchor};
    return 0;
}

/* A group whose alternatives are not all plain strings (re[0..n): its
 * content): when each alternative has mandatory literals of its own (read
 * as a whole expression), one of their union occurs wherever the group
 * matches. Returns the number of strings in *v, *l (0: none). */
static uint32_t regex_alt_set(const char *re, size_t n, struct detect_arena *a, unsigned nest,
                              uint8_t ***v, uint32_t **l)
{
    uint8_t *sv[REGEX_MAX_SET];
    uint32_t sl[REGEX_MAX_SET], ns = 0;
    size_t start = 0;
    int d = 0;

    if (nest >= REGEX_MAX_NEST)
        return 0;
    for (size_t j = 0; j <= n; j++) {
        if (j < n && re[j] == '\\') {
            j++;
            continue;
        }
        if (j < n && re[j] == '[') {
            /* a class: up to its unescaped ']' (a ']' first is literal) */
            j++;
            if (j < n && re[j] == '^')
                j++;
            if (j < n && re[j] == ']')
                j++;
            while (j < n && re[j] != ']') {
                if (re[j] == '\\')
                    j++;
                j++;
            }
            if (j >= n)
                return 0;
            continue;
        }
        if (j < n && re[j] == '(')
            d++;
        else if (j < n && re[j] == ')')
            d--;
        if (j < n && (re[j] != '|' || d != 0))
            continue;
        /* an alternative: re[start..j) */
        uint8_t **av = NULL;
        uint32_t *al = NULL;
        size_t an = regex_literals(re + start, j - start, a, &av, &al, NULL, NULL, nest + 1);
        if (an == 0 || ns + an > REGEX_MAX_SET)
            return 0;
        for (size_t k = 0; k < an; k++) {
            sv[ns] = av[k];
            sl[ns++] = al[k];
        }
        start = j + 1;
    }
    if (ns == 0)
        return 0;
    *v = detect_arena_alloc(a, sizeof(**v) * ns);
    *l = detect_arena_alloc(a, sizeof(**l) * ns);
    if (!*v || !*l)
        return 0;
    memcpy(*v, sv, sizeof(*sv) * ns);
    memcpy(*l, sl, sizeof(*sl) * ns);
    return ns;
}

static size_t regex_literals(const char *re, size_t n, struct detect_arena *a, uint8_t ***outv,
                             uint32_t **outl, struct relit_set **req, uint32_t *nreq,
                             unsigned nest)
{
    struct ritem *items = malloc(sizeof(*items) * (n + 1));
    struct rstrings *rs = malloc(sizeof(*rs));
    size_t nitems = 0, best_n = 0;
    uint32_t best_min = 0;
    uint8_t **bestv = NULL;
    uint32_t *bestl = NULL;
    int depth = 0;

    if (!items || !rs)
        goto cleanup;
    if (memmem(re, n, "\\Q", 2))
        goto cleanup;
    /* items */
    for (size_t i = 0; i < n;) {
        struct ritem *it = &items[nitems];
        unsigned char c = (unsigned char)re[i];
        it->kind = 2;
        if (c == '\\') {
            if (i + 1 >= n)
                goto cleanup;
            int e = regex_escape((unsigned char)re[i + 1]);
            if (e >= 0) {
                it->kind = 0;
                it->c = detect_fold[e];
            } else if (re[i + 1] == 's') {
                /* one white space byte: a group of single bytes */
                it->kind = 1;
                it->nalt = sizeof(regex_space);
                for (uint32_t w = 0; w < it->nalt; w++) {
                    it->alt[w][0] = regex_space[w];
                    it->altlen[w] = 1;
                }
            }
            i += 2;
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < n && re[j] == '^')
                j++;
            if (j < n && re[j] == ']')
                j++;
            while (j < n && re[j] != ']') {
                if (re[j] == '\\')
                    j++;
                j++;
            }
            if (j >= n)
                goto cleanup;
            i = j + 1;
        } else if (c == '(') {
            size_t after = regex_group(re, n, i, it);
            if (after) {
                i = after;
            } else {
                /* some other group: skip it whole (balanced), an "other" */
                if (i + 1 < n && ((re[i + 1] == '?' && !(i + 2 < n && re[i + 2] == ':')) ||
                                  re[i + 1] == '*'))
                    goto cleanup;   /* flags, look-arounds, verbs ...: give up */
                it->kind = 2;
                depth = 1;
                size_t j = i + 1;
                for (; j < n && depth; j++) {
                    if (re[j] == '\\') {
                        j++;
                    } else if (re[j] == '[') {
                        /* a class: up to its unescaped ']' (a ']' first is literal) */
                        j++;
                        if (j < n && re[j] == '^')
                            j++;
                        if (j < n && re[j] == ']')
                            j++;
                        while (j < n && re[j] != ']') {
                            if (re[j] == '\\')
                                j++;
                            j++;
                        }
                    } else if (re[j] == '(') {
                        depth++;
                    } else if (re[j] == ')') {
                        depth--;
                    }
                }
                if (depth)
                    goto cleanup;
                /* its alternatives' own literals, when each has some */
                size_t cs = i + 1 + (re[i + 1] == '?' ? 2 : 0);
                if (j - 1 > cs) {
                    it->gn = regex_alt_set(re + cs, j - 1 - cs, a, nest, &it->gv, &it->gl);
                    if (it->gn)
                        it->kind = 3;
                }
                i = j;
            }
        } else if (c == '|') {
            goto cleanup;   /* top-level alternative: nothing is mandatory */
        } else if (c == '?' && nitems && items[nitems - 1].kind == 0 &&
                   !(items[nitems - 1].c & 0x80)) {
            /* an optional ASCII character: it or nothing */
            struct ritem *p = &items[nitems - 1];
            p->kind = 1;
            p->nalt = 2;
            p->alt[0][0] = p->c;
            p->altlen[0] = 1;
            p->altlen[1] = 0;
            i++;
            continue;
        } else if (c == '?' && nitems && items[nitems - 1].kind == 1 &&
                   items[nitems - 1].nalt < REGEX_MAX_ALTS) {
            /* an optional group of strings: one of them or nothing */
            items[nitems - 1].altlen[items[nitems - 1].nalt++] = 0;
            i++;
            continue;
        } else if (c == '*' || c == '?' || c == '+' || c == '{') {
            /* the quantified item becomes "other" */
            if (nitems)
                items[nitems - 1].kind = 2;
            if (c == '{')
                while (i < n && re[i] != '}')
                    i++;
            i++;
            continue;
        } else if (c == '.' || c == '^' || c == '$' || c == ')') {
            i++;
        } else {
            it->kind = 0;
            it->c = detect_fold[c];
            i++;
        }
        /* a multi-byte character is one item when quantified: merge UTF-8
         * continuation bytes into the same run; a quantifier after them
         * makes the run's last item "other", which drops only the last
         * byte: also mark the lead bytes */
        nitems++;
    }
    /* UTF-8: a quantified multi-byte character must drop all its bytes */
    for (size_t k = 1; k < nitems; k++)
        if (items[k].kind == 2 && items[k - 1].kind == 0 && (items[k - 1].c & 0x80))
            for (size_t b = k; b-- > 0 && items[b].kind == 0 && (items[b].c & 0x80);) {
                items[b].kind = 2;
                if ((items[b].c & 0xc0) == 0xc0)
                    break;
            }
    /* runs of literal items: the product of their strings; a group whose
     * alternatives each have literals is a set of its own */
    for (size_t k = 0; k < nitems;) {
        if (items[k].kind == 3) {
            uint32_t minlen = UINT32_MAX;
            for (uint32_t g = 0; g < items[k].gn; g++)
                if (items[k].gl[g] < minlen)
                    minlen = items[k].gl[g];
            if (minlen > 0 && minlen != UINT32_MAX && minlen > best_min) {
                best_min = minlen;
                best_n = items[k].gn;
                bestv = items[k].gv;
                bestl = items[k].gl;
            }
            if (minlen > 0 && minlen != UINT32_MAX &&
                add_req(a, req, nreq, items[k].gv, items[k].gl, items[k].gn) < 0)
                goto cleanup;
            k++;
            continue;
        }
        if (items[k].kind == 2) {
            k++;
            continue;
        }
        /* the strings of items[k..e), extended an item at a time while
         * they are few; when the next item makes too many, they are cut to
         * the shortest one's length (still prefixes of what the run
         * matches: one of them occurs), and the run ends there */
        size_t e = k;
        uint32_t ncur = 1;
        bool cut = false;
        rs->l[0][0] = 0;
        while (e < nitems && items[e].kind != 2 && items[e].kind != 3 && !cut) {
            const struct ritem *it = &items[e];
            uint32_t na = it->kind == 0 ? 1 : it->nalt, nn = 0, shortest = UINT32_MAX;
            for (uint32_t c = 0; c < ncur; c++)
                for (uint32_t q = 0; q < na; q++) {
                    uint8_t *t = rs->s[1][nn];
                    uint32_t tl = rs->l[0][c];
                    memcpy(t, rs->s[0][c], tl);
                    const uint8_t *add = it->kind == 0 ? &it->c : it->alt[q];
                    uint32_t al = it->kind == 0 ? 1 : it->altlen[q];
                    for (uint32_t z = 0; z < al; z++) {
                        if (tl == DETECT_MAX_LITERAL) {
                            cut = true;   /* kept as a prefix: the run ends */
                            break;
                        }
                        t[tl++] = add[z];
                    }
                    rs->l[1][nn] = tl;
                    if (tl < shortest)
                        shortest = tl;
                    nn++;
                }
            if (nn > REGEX_MAX_SET) {
                cut = true;
                for (uint32_t c = 0; c < nn; c++)
                    rs->l[1][c] = shortest;
            }
            /* distinct strings only */
            uint32_t nd = 0;
            for (uint32_t c = 0; c < nn; c++) {
                bool dup = false;
                for (uint32_t d = 0; d < nd && !dup; d++)
                    dup = rs->l[1][d] == rs->l[1][c] &&
                          memcmp(rs->s[1][d], rs->s[1][c], rs->l[1][c]) == 0;
                if (dup)
                    continue;
                if (nd != c)
                    memcpy(rs->s[1][nd], rs->s[1][c], rs->l[1][c]);
                rs->l[1][nd++] = rs->l[1][c];
            }
            if (nd > REGEX_MAX_SET)
                break;   /* even cut, too many: the run ends before this item */
            for (uint32_t c = 0; c < nd; c++) {
                memcpy(rs->s[0][c], rs->s[1][c], rs->l[1][c]);
                rs->l[0][c] = rs->l[1][c];
            }
            ncur = nd;
            e++;
        }
        if (e == k) {
            k++;
            continue;
        }
        uint32_t nc = ncur;
        uint8_t **v = detect_arena_alloc(a, sizeof(*v) * nc);
        uint32_t *l = detect_arena_alloc(a, sizeof(*l) * nc);
        if (!v || !l)
            goto cleanup;
        uint32_t minlen = UINT32_MAX;
        for (uint32_t c = 0; c < nc; c++) {
            v[c] = detect_arena_alloc(a, DETECT_MAX_LITERAL);
            if (!v[c])
                goto cleanup;
            l[c] = rs->l[0][c];
            memcpy(v[c], rs->s[0][c], l[c]);
            if (l[c] < minlen)
                minlen = l[c];
        }
        if (minlen > 0 && minlen != UINT32_MAX && minlen > best_min) {
            best_min = minlen;
            best_n = nc;
            bestv = v;
            bestl = l;
        }
        if (minlen > 0 && minlen != UINT32_MAX && add_req(a, req, nreq, v, l, nc) < 0)
            goto cleanup;
        k = e;
    }
cleanup:
    free(items);
    free(rs);
    *outv = bestv;
    *outl = bestl;
    return best_min ? best_n : 0;
}

int pattern_trigs(const struct vm *m, uint32_t field, struct trig *out, int max)
{
    switch (m->kind) {
    case VM_GLOB: {
        switch (m->shape) {
        case G_EXACT:
            set_trig(out, TRIG_EXACT, field, m->tbytes, m->lit_len);
            return 1;
        case G_PREFIX:
            set_trig(out, TRIG_PREFIX, field, m->tbytes, m->lit_len);
            return m->lit_len > 0;
        case G_SUFFIX:
            set_trig(out, TRIG_SUFFIX, field, m->tbytes, m->lit_len);
            return m->lit_len > 0;
        case G_CONTAINS:
            set_trig(out, TRIG_SUBSTR, field, m->tbytes, m->lit_len);
            return m->lit_len > 0;
        case G_ANY:
            return 0;
        default:
            break;
        }
        uint32_t best = 0;
        bool found = false;
        for (uint32_t s = 0; s < m->nseg; s++) {
            const struct seg *sg = &m->segs[s];
            for (uint32_t p = 0; p < sg->np; p++) {
                const struct piece *pc = &m->pieces[sg->p0 + p];
                uint8_t kind = TRIG_SUBSTR;
                if (pc->kind != PC_LIT || pc->len == 0)
                    continue;
                if (s == 0 && p == 0 && m->anch_start)
                    kind = TRIG_PREFIX;
                else if (s == m->nseg - 1 && p == sg->np - 1 && m->anch_end)
                    kind = TRIG_SUFFIX;
                uint32_t sc = pattern_trig_score(kind, pc->len);
                if (!found || sc > best) {
                    best = sc;
                    found = true;
                    set_trig(out, kind, field, m->tbytes + pc->off, pc->len);
                }
            }
        }
        return found;
    }
    case VM_RE:
        if (!m->cased || m->nrelit == 0 || (int)m->nrelit > max)
            return 0;
        for (uint32_t i = 0; i < m->nrelit; i++)
            set_trig(&out[i], TRIG_SUBSTR, field, m->relit[i], m->relit_len[i]);
        return (int)m->nrelit;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------ matching */

/* How common a byte is in command lines and paths (higher: more common);
 * substring search looks for a literal's least common byte first. */
static uint8_t byte_commonness(uint8_t c)
{
    static const char common[] = " /-.etaoinsrhldcumfpgwybvkxjqz";
    const char *p = c ? strchr(common, detect_fold[c]) : NULL;
    if (p)
        return (uint8_t)(100 - (p - common) * 3);
    if (c >= '0' && c <= '9')
        return 60;
    return 5;
}

uint32_t pattern_rare_byte(const uint8_t *lit, size_t m)
{
    uint32_t best = 0;
    for (size_t i = 1; i < m && i < 64; i++)
        if (byte_commonness(lit[i]) < byte_commonness(lit[best]))
            best = (uint32_t)i;
    return best;
}

long pattern_find(const uint8_t *h, size_t n, size_t from, const uint8_t *lit, size_t m,
                  uint32_t anchor, bool cased)
{
    if (m == 0)
        return (long)from;
    if (from > n || n - from < m)
        return -1;
    if (anchor >= m)
        anchor = 0;
    /* candidate positions q of the anchor byte, from + anchor .. n - m + anchor */
    const uint8_t c = lit[anchor];
    const bool letter = !cased && c >= 'a' && c <= 'z';
    size_t q = from + anchor, end = n - m + anchor;   /* inclusive */
    if (q > end)
        return -1;
    /* the C library's memchr reads a vector of bytes per step: the byte,
     * and for a letter compared in either case, its upper case too (the
     * nearer of the two is tried first, leftmost match first) */
    const uint8_t *lo = memchr(h + q, c, end + 1 - q);
    const uint8_t *up = letter ? memchr(h + q, c - 32, end + 1 - q) : NULL;
    while (lo || up) {
        const uint8_t *f = !up || (lo && lo < up) ? lo : up;
        size_t k = (size_t)(f - h);
        if (pattern_eq_bytes(h + k - anchor, lit, m, cased))
            return (long)(k - anchor);
        q = k + 1;
        if (f == lo)
            lo = q <= end ? memchr(h + q, c, end + 1 - q) : NULL;
        else
            up = q <= end ? memchr(h + q, c - 32, end + 1 - q) : NULL;
    }
    return -1;
}

/* Matches segment `s` at h[p..]; returns the end offset or -1. */
static long seg_at(const struct vm *m, const struct seg *s, const uint8_t *h, size_t n, size_t p)
{
    for (uint32_t i = 0; i < s->np; i++) {
        const struct piece *pc = &m->pieces[s->p0 + i];
        if (pc->kind == PC_LIT) {
            if (n - p < pc->len || !pattern_eq_bytes(h + p, m->bytes + pc->off, pc->len, m->cased))
                return -1;
            p += pc->len;
        } else if (pc->kind == PC_ANY1) {
            if (p >= n)
                return -1;
            uint8_t c = h[p];
            size_t l = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4 : 1;
            if (p + l > n)
                l = 1;
            for (size_t k = 1; k < l; k++)
                if ((h[p + k] & 0xc0) != 0x80) {
                    l = 1;
                    break;
                }
            p += l;
        } else {
            if (p < n && (h[p] == '-' || h[p] == '/'))
                p += 1;
            else if (n - p >= 3 && h[p] == 0xe2 && h[p + 1] == 0x80 &&
                     (h[p + 2] == 0x93 || h[p + 2] == 0x94 || h[p + 2] == 0x95))
                p += 3;
            else
                return -1;
        }
    }
    return (long)p;
}

/* Leftmost match of segment `s` in h[from..n): start in *start, end returned. */
static long seg_find(const struct vm *m, const struct seg *s, const uint8_t *h, size_t n,
                     size_t from)
{
    const struct piece *first = &m->pieces[s->p0];
    size_t p = from;
    while (p <= n) {
        if (first->kind == PC_LIT) {
            long f = pattern_find(h, n, p, m->bytes + first->off, first->len, 0, m->cased);
            if (f < 0)
                return -1;
            p = (size_t)f;
        }
        long e = seg_at(m, s, h, n, p);
        if (e >= 0)
            return e;
        p++;
    }
    return -1;
}

bool pattern_glob_general(const struct vm *m, const char *v, size_t n)
{
    const uint8_t *h = (const uint8_t *)v;
    size_t pos = 0;
    for (uint32_t i = 0; i < m->nseg; i++) {
        const struct seg *s = &m->segs[i];
        bool first = i == 0, last = i == m->nseg - 1;
        if (first && m->anch_start) {
            long e = seg_at(m, s, h, n, 0);
            if (e < 0)
                return false;
            pos = (size_t)e;
            if (last && m->anch_end)
                return pos == n;
            continue;
        }
        if (last && m->anch_end) {
            /* must end exactly at n: try each start from the right end */
            bool fixed = true;
            size_t blen = 0;
            for (uint32_t k = 0; k < s->np; k++) {
                const struct piece *pc = &m->pieces[s->p0 + k];
                if (pc->kind != PC_LIT)
                    fixed = false;
                blen += pc->len;
            }
            if (fixed)
                return n >= blen && n - blen >= pos && seg_at(m, s, h, n, n - blen) == (long)n;
            for (size_t p = pos; p <= n; p++)
                if (seg_at(m, s, h, n, p) == (long)n)
                    return true;
            return false;
        }
        long e = seg_find(m, s, h, n, pos);
        if (e < 0)
            return false;
        pos = (size_t)e;
    }
    if (m->nseg == 0)
        return !(m->anch_start && m->anch_end) || n == 0;
    return true;
}

bool pattern_cidr(const struct vm *m, const char *v, size_t n)
{
    char buf[64];
    uint8_t a[16];
    int fam;

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, v, n);
    buf[n] = '\0';
    char *zone = strchr(buf, '%');
    if (zone)
        *zone = '\0';
    memset(a, 0, sizeof(a));
    if (inet_pton(AF_INET, buf, a) == 1) {
        fam = 4;
    } else if (inet_pton(AF_INET6, buf, a) == 1) {
        fam = 6;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (m->family == 4 && memcmp(a, mapped, 12) == 0) {
            memmove(a, a + 12, 4);
            fam = 4;
        }
    } else {
        return false;
    }
    if (fam == 4 && m->family == 6) {
        /* an IPv4 value against an IPv6 network: as ::ffff:a.b.c.d */
        memmove(a + 12, a, 4);
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        fam = 6;
    }
    if (fam != m->family)
        return false;
    unsigned bits = m->prefix;
    size_t full = bits / 8;
    if (memcmp(a, m->addr, full) != 0)
        return false;
    if (bits % 8) {
        uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
        if ((a[full] & mask) != m->addr[full])
            return false;
    }
    return true;
}

bool pattern_number(const char *v, size_t n, double *out)
{
    char buf[64];
    char *end;
    size_t i = 0;

    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    while (i < n && isspace((unsigned char)v[i]))
        i++;
    v += i;
    n -= i;
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, v, n);
    buf[n] = '\0';
    /* plain decimal or 0x hex; no inf, nan or locale surprises */
    size_t k = (buf[0] == '-' || buf[0] == '+') ? 1 : 0;
    if (buf[k] == '0' && (buf[k + 1] == 'x' || buf[k + 1] == 'X')) {
        if (!isxdigit((unsigned char)buf[k + 2]))
            return false;
        errno = 0;
        unsigned long long u = strtoull(buf + k + 2, &end, 16);
        if (*end || errno)
            return false;
        *out = buf[0] == '-' ? -(double)u : (double)u;
        return true;
    }
    for (size_t j = k; j < n; j++) {
        char c = buf[j];
        if (!(isdigit((unsigned char)c) || c == '.' || c == 'e' || c == 'E' || c == '-' ||
              c == '+'))
            return false;
    }
    if (!isdigit((unsigned char)buf[k]) && !(buf[k] == '.' && isdigit((unsigned char)buf[k + 1])))
        return false;
    *out = strtod(buf, &end);
    return *end == '\0' && isfinite(*out);
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static int iso_weeks(long y)
{
    long p = (y + y / 4 - y / 100 + y / 400) % 7;
    long y1 = y - 1;
    long q = (y1 + y1 / 4 - y1 / 100 + y1 / 400) % 7;
    return (p == 4 || q == 3) ? 53 : 52;
}

bool pattern_time_part(const char *v, size_t n, int part, double *out)
{
    int y, mo, d, h = 0, mi = 0;
    if (n < 10 || !digits(v, 4, &y) || v[4] != '-' || !digits(v + 5, 2, &mo) || v[7] != '-' ||
        !digits(v + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    if (n >= 16 && (v[10] == 'T' || v[10] == 't' || v[10] == ' ')) {
        if (!digits(v + 11, 2, &h) || v[13] != ':' || !digits(v + 14, 2, &mi) || h > 23 || mi > 59)
            return false;
    } else if (part == TP_HOUR || part == TP_MINUTE) {
        return false;
    }
    switch (part) {
    case TP_MINUTE: *out = mi; return true;
    case TP_HOUR: *out = h; return true;
    case TP_DAY: *out = d; return true;
    case TP_MONTH: *out = mo; return true;
    case TP_YEAR: *out = y; return true;
    case TP_WEEK: {
        long days = days_from_civil(y, (unsigned)mo, (unsigned)d);
        long jan1 = days_from_civil(y, 1, 1);
        long doy = days - jan1 + 1;
        long wd = ((days % 7) + 7 + 3) % 7 + 1;   /* 1970-01-01 was a Thursday */
        long w = (doy - wd + 10) / 7;
        if (w < 1)
            w = iso_weeks(y - 1);
        else if (w > iso_weeks(y))
            w = 1;
        *out = (double)w;
        return true;
    }
    default:
        return false;
    }
}

bool pattern_cmp(double a, int op, double b)
{
    switch (op) {
    case CMP_LT: return a < b;
    case CMP_LTE: return a <= b;
    case CMP_GT: return a > b;
    case CMP_GTE: return a >= b;
    default: return a == b;
    }
}
