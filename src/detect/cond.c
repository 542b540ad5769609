/*
 * cond.c — see cond.h. A hand-written tokenizer and recursive-descent
 * parser; recursion is bounded by COND_MAX_DEPTH.
 */
#include "detect/cond.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum tok_kind { T_END, T_LP, T_RP, T_WORD, T_PIPE };

struct tok {
    enum tok_kind kind;
    const char *s;
    size_t len, pos;
};

struct parser {
    struct detect_arena *a;
    const char *s;
    size_t len, i;
    struct tok cur;
    int depth;
    int rc;
    size_t errpos;
    char *err;
    size_t errlen;
};

static void fail(struct parser *p, int rc, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct parser *p, int rc, size_t pos, const char *fmt, ...)
{
    va_list ap;
    if (p->rc)
        return;
    p->rc = rc;
    p->errpos = pos;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
}

static bool word_char(char c)
{
    return c && !isspace((unsigned char)c) && c != '(' && c != ')' && c != '|';
}

static void next(struct parser *p)
{
    while (p->i < p->len && isspace((unsigned char)p->s[p->i]))
        p->i++;
    p->cur.pos = p->i;
    p->cur.s = p->s + p->i;
    p->cur.len = 1;
    if (p->i >= p->len) {
        p->cur.kind = T_END;
        p->cur.len = 0;
        return;
    }
    char c = p->s[p->i];
    if (c == '(') {
        p->cur.kind = T_LP;
        p->i++;
    } else if (c == ')') {
        p->cur.kind = T_RP;
        p->i++;
    } else if (c == '|') {
        p->cur.kind = T_PIPE;
        p->i++;
    } else {
        size_t j = p->i;
        while (j < p->len && word_char(p->s[j]))
            j++;
        p->cur.kind = T_WORD;
        p->cur.len = j - p->i;
        p->i = j;
    }
}

static bool is_kw(const struct tok *t, const char *kw)
{
    size_t l = strlen(kw);
    return t->kind == T_WORD && t->len == l && strncasecmp(t->s, kw, l) == 0;
}

static bool is_reserved(const struct tok *t)
{
    return is_kw(t, "and") || is_kw(t, "or") || is_kw(t, "not") || is_kw(t, "of") ||
           is_kw(t, "them");
}

static struct cond_node *node(struct parser *p, enum cond_op op, size_t pos)
{
    struct cond_node *n = detect_arena_alloc(p->a, sizeof(*n));
    if (!n) {
        fail(p, -ENOMEM, pos, "out of memory");
        return NULL;
    }
    n->op = op;
    n->pos = pos;
    return n;
}

static struct cond_node *parse_or(struct parser *p);

static const char *tok_text(struct parser *p, const struct tok *t, char *buf, size_t n)
{
    (void)p;
    if (t->kind == T_END)
        return "the end";
    snprintf(buf, n, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->s);
    return buf;
}

static bool parse_count(const struct tok *t, long *out)
{
    long v = 0;
    if (t->kind != T_WORD || t->len == 0 || t->len > 9)
        return false;
    for (size_t i = 0; i < t->len; i++) {
        if (!isdigit((unsigned char)t->s[i]))
            return false;
        v = v * 10 + (t->s[i] - '0');
    }
    *out = v;
    return true;
}

static struct cond_node *parse_primary(struct parser *p)
{
    char buf[64];
    struct tok t = p->cur;
    long count = 0;

    if (p->rc)
        return NULL;
    if (t.kind == T_LP) {
        if (++p->depth > COND_MAX_DEPTH) {
            fail(p, -EINVAL, t.pos, "parentheses are nested deeper than %d levels", COND_MAX_DEPTH);
            return NULL;
        }
        next(p);
        struct cond_node *n = parse_or(p);
        if (!n)
            return NULL;
        if (p->cur.kind != T_RP) {
            fail(p, -EINVAL, p->cur.pos, "expected ')' to close the '(' at offset %zu, found %s",
                 t.pos, tok_text(p, &p->cur, buf, sizeof(buf)));
            return NULL;
        }
        p->depth--;
        next(p);
        return n;
    }
    if (t.kind == T_PIPE) {
        fail(p, -ENOTSUP, t.pos,
             "Sigma 1 aggregation expressions ('| count() by ...') are not supported: "
             "write a correlation rule instead");
        return NULL;
    }
    if (t.kind != T_WORD) {
        fail(p, -EINVAL, t.pos, "expected a search identifier, 'not', '(' or 'x of', found %s",
             tok_text(p, &t, buf, sizeof(buf)));
        return NULL;
    }
    bool all = is_kw(&t, "all"), any = is_kw(&t, "any");
    if (all || any || parse_count(&t, &count)) {
        struct parser save = *p;
        next(p);
        if (is_kw(&p->cur, "of")) {
            struct cond_node *n = node(p, COND_OF, t.pos);
            if (!n)
                return NULL;
            if (all)
                n->count = -1;
            else if (any)
                n->count = 1;
            else
                n->count = count;
            if (n->count == 0) {
                fail(p, -EINVAL, t.pos, "'0 of' can never be true: use 'not 1 of'");
                return NULL;
            }
            next(p);
            if (is_kw(&p->cur, "them")) {
                n->name = NULL;
            } else if (p->cur.kind == T_WORD && !is_reserved(&p->cur)) {
                n->name = detect_arena_strndup(p->a, p->cur.s, p->cur.len);
                if (!n->name) {
                    fail(p, -ENOMEM, p->cur.pos, "out of memory");
                    return NULL;
                }
            } else {
                fail(p, -EINVAL, p->cur.pos,
                     "expected an identifier pattern or 'them' after 'of', found %s",
                     tok_text(p, &p->cur, buf, sizeof(buf)));
                return NULL;
            }
            next(p);
            return n;
        }
        *p = save;
        if (all || any) {
            fail(p, -EINVAL, t.pos, "expected 'of' after '%.*s'", (int)t.len, t.s);
            return NULL;
        }
    }
    if (is_kw(&t, "near")) {
        fail(p, -ENOTSUP, t.pos,
             "the Sigma 1 'near' operator is not supported: write a temporal correlation rule");
        return NULL;
    }
    if (is_reserved(&t)) {
        fail(p, -EINVAL, t.pos, "expected a search identifier, found the keyword '%.*s'",
             (int)t.len, t.s);
        return NULL;
    }
    struct cond_node *n = node(p, COND_ID, t.pos);
    if (!n)
        return NULL;
    n->name = detect_arena_strndup(p->a, t.s, t.len);
    if (!n->name) {
        fail(p, -ENOMEM, t.pos, "out of memory");
        return NULL;
    }
    next(p);
    return n;
}

static struct cond_node *parse_not(struct parser *p)
{
    if (is_kw(&p->cur, "not")) {
        size_t pos = p->cur.pos;
        if (++p->depth > COND_MAX_DEPTH) {
            fail(p, -EINVAL, pos, "'not' is nested deeper than %d levels", COND_MAX_DEPTH);
            return NULL;
        }
        next(p);
        struct cond_node *a = parse_not(p);
        p->depth--;
        if (!a)
            return NULL;
        struct cond_node *n = node(p, COND_NOT, pos);
        if (!n)
            return NULL;
        n->a = a;
        return n;
    }
    return parse_primary(p);
}

static struct cond_node *parse_and(struct parser *p)
{
    struct cond_node *l = parse_not(p);
    while (l && is_kw(&p->cur, "and")) {
        size_t pos = p->cur.pos;
        next(p);
        struct cond_node *r = parse_not(p);
        if (!r)
            return NULL;
        struct cond_node *n = node(p, COND_AND, pos);
        if (!n)
            return NULL;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

static struct cond_node *parse_or(struct parser *p)
{
    struct cond_node *l = parse_and(p);
    while (l && is_kw(&p->cur, "or")) {
        size_t pos = p->cur.pos;
        next(p);
        struct cond_node *r = parse_and(p);
        if (!r)
            return NULL;
        struct cond_node *n = node(p, COND_OR, pos);
        if (!n)
            return NULL;
        n->a = l;
        n->b = r;
        l = n;
    }
    return l;
}

int cond_parse(struct detect_arena *a, const char *s, size_t len, struct cond_node **out,
               size_t *errpos, char *err, size_t errlen)
{
    struct parser p;
    char buf[64];

    memset(&p, 0, sizeof(p));
    p.a = a;
    p.s = s;
    p.len = len;
    p.err = err;
    p.errlen = errlen;
    *out = NULL;
    *errpos = 0;
    if (len > COND_MAX_LEN) {
        snprintf(err, errlen, "the condition is %zu bytes long, more than the limit of %d",
                 len, COND_MAX_LEN);
        return -EINVAL;
    }
    if (memchr(s, '\0', len)) {
        snprintf(err, errlen, "the condition contains a NUL byte");
        return -EINVAL;
    }
    next(&p);
    if (p.cur.kind == T_END) {
        snprintf(err, errlen, "the condition is empty");
        return -EINVAL;
    }
    struct cond_node *n = parse_or(&p);
    if (n && !p.rc && p.cur.kind != T_END) {
        if (p.cur.kind == T_PIPE)
            fail(&p, -ENOTSUP, p.cur.pos,
                 "Sigma 1 aggregation expressions ('| count() by ...') are not supported: "
                 "write a correlation rule instead");
        else if (is_kw(&p.cur, "near"))
            fail(&p, -ENOTSUP, p.cur.pos,
                 "the Sigma 1 'near' operator is not supported: write a temporal correlation rule");
        else
            fail(&p, -EINVAL, p.cur.pos, "expected 'and', 'or' or the end, found %s",
                 tok_text(&p, &p.cur, buf, sizeof(buf)));
    }
    if (p.rc) {
        *errpos = p.errpos;
        return p.rc;
    }
    *out = n;
    return 0;
}

int cond_pattern_match(const char *pat, const char *name)
{
    /* iterative '*' matching with one backtrack point */
    const char *star = NULL, *resume = NULL;
    while (*name) {
        if (*pat == '*') {
            star = pat++;
            resume = name;
        } else if (*pat == *name) {
            pat++;
            name++;
        } else if (star) {
            pat = star + 1;
            name = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}
