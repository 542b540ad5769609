/*
 * pattern.h — Sigma values and modifiers to value matchers, and the
 * primitive comparisons the matcher runs.
 *
 * A `Field|mod1|mod2: values` line becomes one fcond: its modifiers are
 * checked (known, combinable, in a sensible order), then each value goes
 * through the transformation modifiers in the order written (`expand`,
 * `contains`, `startswith`, `endswith`, `windash`, `base64`,
 * `base64offset`, `utf16le`/`utf16be`/`utf16`/`wide`) and ends as a vm:
 * a wildcard pattern split into literal segments (fast paths for exact,
 * prefix, suffix and contains), a PCRE2 regex, a CIDR network, a numeric
 * or time comparison, a null or exists test, or a field reference.
 *
 * It also extracts from a vm the literal that any matching value must
 * contain (for the engine's literal index).
 */
#ifndef YAMORI_DETECT_PATTERN_H
#define YAMORI_DETECT_PATTERN_H

#include "detect/detect_int.h"
#include "detect/ytree.h"

#include <string.h>

struct pattern_ctx {
    struct detect_arena *a;
    struct rule *rule;             /* compiled regexes are added to rule->res */
    struct detect_strtab *fields;         /* field names are interned here */
    const struct detect_config *cfg;
    uint32_t nvalues;              /* values compiled so far for the rule */
    uint32_t group;                /* the value being compiled (vm.group) */
    /* the error, when a function returns < 0 */
    enum detect_diag_kind kind;
    unsigned line, col;
    char feature[128];
    char msg[640];
};

/* Compiles one selection line. `key` is the map key ("Field|mods") or NULL
 * for a plain keyword list; `val` its value (scalar, null or list). On
 * error returns -EINVAL (or -ENOMEM) with pc->kind, feature, msg, line and
 * col set. */
int pattern_fcond(struct pattern_ctx *pc, const struct ynode *key,
                  const struct ynode *val, struct fcond *out);

/* The literals one of which a value matched by `m` must contain, for field
 * `field`: fills out[0..k) (at most `max`, 16 is always enough) and returns
 * k, or 0 when there are none (regex without a mandatory literal, cidr ...). */
#define PATTERN_MAX_TRIGS 16
int pattern_trigs(const struct vm *m, uint32_t field, struct trig *out, int max);

/* How selective a literal of this kind and length is (higher: better). */
uint32_t pattern_trig_score(uint8_t kind, uint32_t len);

/* Primitive comparisons (no allocation). Literals are folded unless the
 * comparison is cased; values are folded as they are read. */

/* Lowercases the ASCII letters of 8 packed bytes. */
static inline uint64_t pattern_fold8(uint64_t x)
{
    uint64_t h = x & 0x7f7f7f7f7f7f7f7full;
    uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3full;   /* high bit set: byte >= 'A' */
    uint64_t gt_z = h + 0x2525252525252525ull;   /* high bit set: byte > 'Z' */
    uint64_t upper = ge_a & ~gt_z & ~x & 0x8080808080808080ull;
    return x | (upper >> 2);
}

/* h (any case) equals the folded literal over m bytes. */
static inline bool pattern_eq_fold(const uint8_t *h, const uint8_t *lit, size_t m)
{
    while (m >= 8) {
        uint64_t a, b;
        memcpy(&a, h, 8);
        memcpy(&b, lit, 8);
        if (pattern_fold8(a) != b)
            return false;
        h += 8;
        lit += 8;
        m -= 8;
    }
    while (m--)
        if (detect_fold[*h++] != *lit++)
            return false;
    return true;
}

static inline bool pattern_eq_bytes(const uint8_t *h, const uint8_t *lit, size_t m, bool cased)
{
    return cased ? memcmp(h, lit, m) == 0 : pattern_eq_fold(h, lit, m);
}

/* Leftmost position of the literal lit[0..m) in h[from..n), or -1. The
 * search looks for lit[anchor] first (pattern_rare_byte: the literal's
 * least common byte, so that common characters do not stop it often). */
long pattern_find(const uint8_t *h, size_t n, size_t from, const uint8_t *lit, size_t m,
                  uint32_t anchor, bool cased);
uint32_t pattern_rare_byte(const uint8_t *lit, size_t m);

/* A literal against a value, by shape (exact, prefix, suffix, contains);
 * anchor as for pattern_find. */
static inline bool pattern_shape(uint8_t shape, const uint8_t *lit, size_t m, uint32_t anchor,
                                 const char *v, size_t n, bool cased)
{
    const uint8_t *h = (const uint8_t *)v;
    switch (shape) {
    case G_EXACT:
        return n == m && pattern_eq_bytes(h, lit, m, cased);
    case G_PREFIX:
        return n >= m && pattern_eq_bytes(h, lit, m, cased);
    case G_SUFFIX:
        return n >= m && pattern_eq_bytes(h + n - m, lit, m, cased);
    case G_CONTAINS:
        return pattern_find(h, n, 0, lit, m, anchor, cased) >= 0;
    case G_ANY:
        return true;
    default:
        return false;
    }
}

bool pattern_glob_general(const struct vm *m, const char *v, size_t n);

static inline bool pattern_glob(const struct vm *m, const char *v, size_t n)
{
    if (m->shape != G_GENERAL)
        return pattern_shape(m->shape, m->lit, m->lit_len, m->anchor, v, n, m->cased);
    return pattern_glob_general(m, v, n);
}
bool pattern_cidr(const struct vm *m, const char *v, size_t n);
bool pattern_number(const char *v, size_t n, double *out);
bool pattern_time_part(const char *v, size_t n, int part, double *out);
bool pattern_cmp(double a, int op, double b);

#endif
