/*
 * cond.h — the Sigma condition expression: tokens to a syntax tree.
 *
 *   expr    := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | primary
 *   primary := "(" expr ")" | quant "of" (pattern | "them") | identifier
 *   quant   := "all" | "any" | N            (N >= 1; "any" means 1)
 *
 * Keywords are case-insensitive. Precedence, loosest first: or, and, not,
 * "x of", parentheses, as the specification says. The Sigma 1 aggregation
 * pipe ("| count() by x > 5") and "near" are refused with a message that
 * says so. Positions in messages are byte offsets into the condition.
 */
#ifndef YAMORI_DETECT_COND_H
#define YAMORI_DETECT_COND_H

#include <stddef.h>

#include "detect/arena.h"

enum cond_op { COND_ID, COND_AND, COND_OR, COND_NOT, COND_OF };

struct cond_node {
    enum cond_op op;
    struct cond_node *a, *b;   /* AND/OR: both; NOT: a */
    const char *name;          /* ID: identifier; OF: pattern, or NULL for "them" */
    long count;                /* OF: N, or -1 for "all" */
    size_t pos;                /* offset in the condition text */
};

#define COND_MAX_DEPTH 64
#define COND_MAX_LEN   65536

/* Parses s[0..len) into a tree allocated in `a`. Returns 0 with *out set,
 * or -EINVAL with a message in err and the failing offset in *errpos, or
 * -ENOTSUP for Sigma 1 aggregations (message names the feature), or
 * -ENOMEM. */
int cond_parse(struct detect_arena *a, const char *s, size_t len, struct cond_node **out,
               size_t *errpos, char *err, size_t errlen);

/* True when `name` matches the identifier pattern (where "*" stands for any
 * run of characters). */
int cond_pattern_match(const char *pattern, const char *name);

#endif
