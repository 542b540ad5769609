/*
 * sigma_parse.c — see sigma_parse.h. Everything a rule keeps is copied
 * into the rule's own arena; the YAML tree lives in a temporary arena freed
 * when the file is done.
 */
#include "detect/sigma_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/cond.h"
#include "detect/pattern.h"
#include "detect/ytree.h"

/* Everything needed to report about the document being compiled. */
struct pctx {
    struct detect_engine *eng;
    const char *origin;
    detect_diag_fn fn;
    void *ctx;
    struct rule *r;
    const char *title, *id;
    /* identifiers */
    const char **ids;
    uint32_t *id_node;
    uint32_t nids;
    uint32_t capnodes;
    struct pattern_ctx pc;
    uint32_t capfconds;
};

static void report(struct pctx *p, enum detect_severity sev, enum detect_diag_kind kind,
                   const struct ynode *at, const char *feature, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void report(struct pctx *p, enum detect_severity sev, enum detect_diag_kind kind,
                   const struct ynode *at, const char *feature, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    detect_report(p->fn, p->ctx, sev, kind, p->origin, at ? at->line : 0, at ? at->col : 0,
                  p->title, p->id, feature, "%s", msg);
}

void sigma_rule_free(struct rule *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nres; i++)
        pcre2_code_free(r->res[i]);
    free(r->res);
    free(r->feeds);
    detect_arena_free(&r->arena);
    free(r);
}

/* ------------------------------------------------------------ scalars */

/* A scalar's text copied to the rule arena; NULL with an error when the
 * node is not a scalar. `what` names the attribute in the message. */
static int get_str(struct pctx *p, const struct ynode *n, const char *what, const char **out,
                   bool lower)
{
    *out = NULL;
    if (!n)
        return 0;
    if (n->kind != Y_SCALAR) {
        char feat[64];
        snprintf(feat, sizeof(feat), "attribute '%s'", what);
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, n, feat,
               "'%s' must be a plain value, not a %s", what, n->kind == Y_SEQ ? "list" : "mapping");
        return -EINVAL;
    }
    if (n->is_null)
        return 0;
    char *s = detect_arena_strndup(&p->r->arena, n->str, n->len);
    if (!s)
        return -ENOMEM;
    if (lower)
        for (char *c = s; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    *out = s;
    return 0;
}

static int get_bool(struct pctx *p, const struct ynode *n, const char *what, bool *out)
{
    if (!n)
        return 0;
    if (ytree_is(n, "true") || ytree_is(n, "True") || ytree_is(n, "yes")) {
        *out = true;
        return 0;
    }
    if (ytree_is(n, "false") || ytree_is(n, "False") || ytree_is(n, "no")) {
        *out = false;
        return 0;
    }
    char feat[64];
    snprintf(feat, sizeof(feat), "attribute '%s'", what);
    report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, n, feat, "'%s' must be true or false", what);
    return -EINVAL;
}

/* A list of scalars (or one scalar) as strings. */
static int get_strlist(struct pctx *p, const struct ynode *n, const char *what,
                       const char ***out, uint32_t *nout, unsigned **lines, unsigned **cols)
{
    const struct ynode *const *items;
    size_t count;

    *out = NULL;
    *nout = 0;
    if (!n || (n->kind == Y_SCALAR && n->is_null))
        return 0;
    if (n->kind == Y_SEQ) {
        items = (const struct ynode *const *)n->items;
        count = n->n;
    } else if (n->kind == Y_SCALAR) {
        items = &n;
        count = 1;
    } else {
        char feat[64];
        snprintf(feat, sizeof(feat), "attribute '%s'", what);
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, n, feat,
               "'%s' must be a list of values, not a mapping", what);
        return -EINVAL;
    }
    const char **v = detect_arena_alloc(&p->r->arena, sizeof(*v) * (count ? count : 1));
    unsigned *l = lines ? detect_arena_alloc(&p->r->arena, sizeof(*l) * (count ? count : 1)) : NULL;
    unsigned *c = cols ? detect_arena_alloc(&p->r->arena, sizeof(*c) * (count ? count : 1)) : NULL;
    if (!v || (lines && !l) || (cols && !c))
        return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        int rc = get_str(p, items[i], what, &v[i], false);
        if (rc < 0)
            return rc;
        if (!v[i]) {
            char feat[64];
            snprintf(feat, sizeof(feat), "attribute '%s'", what);
            report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, items[i], feat,
                   "'%s' has an empty entry", what);
            return -EINVAL;
        }
        if (l)
            l[i] = items[i]->line;
        if (c)
            c[i] = items[i]->col;
    }
    *out = v;
    *nout = (uint32_t)count;
    if (lines)
        *lines = l;
    if (cols)
        *cols = c;
    return 0;
}

/* ------------------------------------------------------------ nodes */

static int add_node(struct pctx *p, const struct ynode *at, uint8_t op, uint32_t arg,
                    const uint32_t *kids, uint32_t nkids, uint32_t *out)
{
    struct rule *r = p->r;
    if (r->nnodes >= DETECT_MAX_NODES_RULE) {
        report(p, DETECT_ERROR, DETECT_DIAG_LIMIT, at, "rule size",
               "the rule compiles to more than %u nodes", DETECT_MAX_NODES_RULE);
        return -EINVAL;
    }
    if (r->nnodes == p->capnodes) {
        uint32_t cap = p->capnodes ? p->capnodes * 2 : 16;
        struct node *nn = detect_arena_alloc(&r->arena, sizeof(*nn) * cap);
        if (!nn)
            return -ENOMEM;
        if (r->nnodes)
            memcpy(nn, r->nodes, sizeof(*nn) * r->nnodes);
        r->nodes = nn;
        p->capnodes = cap;
    }
    struct node *n = &r->nodes[r->nnodes];
    n->op = op;
    n->arg = arg;
    n->nkids = nkids;
    if (nkids) {
        uint32_t *k = detect_arena_memdup(&r->arena, kids, sizeof(*kids) * nkids);
        if (!k)
            return -ENOMEM;
        n->kids = k;
    }
    *out = r->nnodes++;
    return 0;
}

static int add_fcond(struct pctx *p, const struct ynode *key, const struct ynode *val,
                     uint32_t *node)
{
    struct rule *r = p->r;
    if (r->nfconds == p->capfconds) {
        uint32_t cap = p->capfconds ? p->capfconds * 2 : 8;
        struct fcond *nf = detect_arena_alloc(&r->arena, sizeof(*nf) * cap);
        if (!nf)
            return -ENOMEM;
        if (r->nfconds)
            memcpy(nf, r->fconds, sizeof(*nf) * r->nfconds);
        r->fconds = nf;
        p->capfconds = cap;
    }
    int rc = pattern_fcond(&p->pc, key, val, &r->fconds[r->nfconds]);
    if (rc < 0) {
        if (rc == -ENOMEM)
            return rc;
        struct ynode at = {.line = p->pc.line, .col = p->pc.col};
        report(p, DETECT_ERROR, p->pc.kind, &at, p->pc.feature, "%s", p->pc.msg);
        return rc;
    }
    return add_node(p, key ? key : val, N_FCOND, r->nfconds++, NULL, 0, node);
}

/* A map of field conditions: AND. */
static int compile_map(struct pctx *p, const struct ynode *map, const char *ident, uint32_t *out)
{
    uint32_t *kids;
    int rc;

    if (map->n == 0) {
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, map, "empty search identifier",
               "search identifier '%s' has an empty mapping", ident);
        return -EINVAL;
    }
    for (size_t i = 0; i < map->n; i++)
        for (size_t j = 0; j < i; j++)
            if (map->keys[i]->len == map->keys[j]->len &&
                memcmp(map->keys[i]->str, map->keys[j]->str, map->keys[i]->len) == 0) {
                report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, map->keys[i], "duplicate key",
                       "'%s' appears twice in search identifier '%s' (YAML keeps only one: "
                       "use a list of mappings or '|all')",
                       map->keys[i]->str, ident);
                return -EINVAL;
            }
    kids = malloc(sizeof(*kids) * map->n);
    if (!kids)
        return -ENOMEM;
    for (size_t i = 0; i < map->n; i++) {
        rc = add_fcond(p, map->keys[i], map->items[i], &kids[i]);
        if (rc < 0)
            goto cleanup;
    }
    if (map->n == 1)
        *out = kids[0];
    else
        rc = add_node(p, map, N_AND, 0, kids, (uint32_t)map->n, out);
cleanup:
    free(kids);
    return rc;
}

static int compile_ident(struct pctx *p, const char *ident, const struct ynode *v, uint32_t *out)
{
    int rc = 0;

    if (v->kind == Y_MAP)
        return compile_map(p, v, ident, out);
    if (v->kind == Y_SCALAR) {
        if (v->is_null) {
            report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, v, "empty search identifier",
                   "search identifier '%s' is empty", ident);
            return -EINVAL;
        }
        return add_fcond(p, NULL, v, out);
    }
    /* a list: keywords and/or mappings, OR-ed */
    if (v->n == 0) {
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, v, "empty search identifier",
               "search identifier '%s' is an empty list", ident);
        return -EINVAL;
    }
    uint32_t *kids = malloc(sizeof(*kids) * (v->n + 1));
    uint32_t nk = 0;
    size_t nscalars = 0;
    struct ynode *scalars = NULL;
    if (!kids)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *it = v->items[i];
        if (it->kind == Y_SCALAR) {
            nscalars++;
        } else if (it->kind == Y_SEQ) {
            report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, it, "nested list",
                   "search identifier '%s' holds a list inside a list", ident);
            rc = -EINVAL;
            goto cleanup;
        }
    }
    if (nscalars) {
        /* the keywords form one condition over any field */
        scalars = detect_arena_alloc(&p->r->arena, sizeof(*scalars));
        struct ynode **items = detect_arena_alloc(&p->r->arena, sizeof(*items) * nscalars);
        if (!scalars || !items) {
            rc = -ENOMEM;
            goto cleanup;
        }
        *scalars = *v;
        scalars->items = items;
        scalars->n = 0;
        for (size_t i = 0; i < v->n; i++)
            if (v->items[i]->kind == Y_SCALAR)
                items[scalars->n++] = v->items[i];
        rc = add_fcond(p, NULL, scalars, &kids[nk]);
        if (rc < 0)
            goto cleanup;
        nk++;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->kind != Y_MAP)
            continue;
        rc = compile_map(p, v->items[i], ident, &kids[nk]);
        if (rc < 0)
            goto cleanup;
        nk++;
    }
    if (nk == 1)
        *out = kids[0];
    else
        rc = add_node(p, v, N_OR, 0, kids, nk, out);
cleanup:
    free(kids);
    return rc;
}

/* ------------------------------------------------------------ condition */

static int resolve_cond(struct pctx *p, const struct ynode *at, const struct cond_node *c,
                        uint32_t *out)
{
    uint32_t k[2];
    int rc;

    switch (c->op) {
    case COND_ID:
        for (uint32_t i = 0; i < p->nids; i++) {
            if (strcmp(p->ids[i], c->name) == 0) {
                *out = p->id_node[i];
                return 0;
            }
        }
        report(p, DETECT_ERROR, DETECT_DIAG_CONDITION, at, "condition identifier",
               "the condition names '%s' (offset %zu), which is not a search identifier of "
               "the rule", c->name, c->pos);
        return -EINVAL;
    case COND_AND:
    case COND_OR: {
        /* a chain "a or b or c ..." becomes one node with many children, so
         * that long chains do not nest (the parser builds them left-deep) */
        size_t n = 0, cap = 16;
        const struct cond_node **ops = malloc(sizeof(*ops) * cap);
        uint32_t *kids = NULL;
        const struct cond_node *cur = c;
        if (!ops)
            return -ENOMEM;
        while (cur->op == c->op) {
            if (n + 1 >= cap) {
                const struct cond_node **no = realloc(ops, sizeof(*ops) * cap * 2);
                if (!no) {
                    free(ops);
                    return -ENOMEM;
                }
                ops = no;
                cap *= 2;
            }
            ops[n++] = cur->b;   /* right operands, last first */
            cur = cur->a;
        }
        ops[n++] = cur;
        kids = malloc(sizeof(*kids) * n);
        rc = kids ? 0 : -ENOMEM;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = resolve_cond(p, at, ops[n - 1 - i], &kids[i]);
        if (rc == 0)
            rc = add_node(p, at, c->op == COND_AND ? N_AND : N_OR, 0, kids, (uint32_t)n, out);
        free(ops);
        free(kids);
        return rc;
    }
    case COND_NOT:
        if ((rc = resolve_cond(p, at, c->a, &k[0])) < 0)
            return rc;
        return add_node(p, at, N_NOT, 0, k, 1, out);
    case COND_OF: {
        uint32_t *kids = malloc(sizeof(*kids) * (p->nids ? p->nids : 1));
        uint32_t nk = 0;
        if (!kids)
            return -ENOMEM;
        for (uint32_t i = 0; i < p->nids; i++) {
            if (c->name ? cond_pattern_match(c->name, p->ids[i]) : p->ids[i][0] != '_')
                kids[nk++] = p->id_node[i];
        }
        if (nk == 0) {
            report(p, DETECT_ERROR, DETECT_DIAG_CONDITION, at, "condition pattern",
                   "'%s of %s' (offset %zu) matches no search identifier",
                   c->count < 0 ? "all" : "1", c->name ? c->name : "them", c->pos);
            free(kids);
            return -EINVAL;
        }
        if (c->count > (long)nk) {
            report(p, DETECT_ERROR, DETECT_DIAG_CONDITION, at, "condition pattern",
                   "'%ld of %s' (offset %zu) needs %ld search identifiers but only %u match",
                   c->count, c->name ? c->name : "them", c->pos, c->count, nk);
            free(kids);
            return -EINVAL;
        }
        if (nk == 1)
            *out = kids[0], rc = 0;
        else if (c->count < 0 || c->count == (long)nk)
            rc = add_node(p, at, N_AND, 0, kids, nk, out);
        else if (c->count == 1)
            rc = add_node(p, at, N_OR, 0, kids, nk, out);
        else
            rc = add_node(p, at, N_ATLEAST, (uint32_t)c->count, kids, nk, out);
        free(kids);
        return rc;
    }
    }
    return -EINVAL;
}

static int compile_condition(struct pctx *p, const struct ynode *cn, struct detect_arena *tmp,
                             uint32_t *out)
{
    const struct ynode *const *items;
    size_t count;
    char err[512];

    if (cn->kind == Y_SEQ) {
        items = (const struct ynode *const *)cn->items;
        count = cn->n;
    } else {
        items = &cn;
        count = 1;
    }
    if (count == 0 || cn->kind == Y_MAP) {
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, cn, "condition",
               "the condition must be an expression or a list of expressions");
        return -EINVAL;
    }
    uint32_t *roots = malloc(sizeof(*roots) * count);
    int rc = 0;
    if (!roots)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        const struct ynode *c = items[i];
        struct cond_node *tree;
        size_t pos;
        if (c->kind != Y_SCALAR || c->is_null) {
            report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, c, "condition",
                   "the condition must be an expression");
            rc = -EINVAL;
            goto cleanup;
        }
        rc = cond_parse(tmp, c->str, c->len, &tree, &pos, err, sizeof(err));
        if (rc < 0) {
            if (rc == -ENOMEM)
                goto cleanup;
            /* a plain one-line condition: the offset is a column offset */
            struct ynode at = *c;
            if (!c->quoted && !memchr(c->str, '\n', c->len))
                at.col += (unsigned)pos;
            report(p, DETECT_ERROR,
                   rc == -ENOTSUP ? DETECT_DIAG_UNSUPPORTED : DETECT_DIAG_CONDITION, &at,
                   rc == -ENOTSUP ? (strstr(err, "near") ? "near operator" : "aggregation")
                                  : "condition syntax",
                   "condition: %s", err);
            rc = -EINVAL;
            goto cleanup;
        }
        rc = resolve_cond(p, c, tree, &roots[i]);
        if (rc < 0)
            goto cleanup;
    }
    if (count == 1)
        *out = roots[0];
    else
        rc = add_node(p, cn, N_OR, 0, roots, (uint32_t)count, out);
cleanup:
    free(roots);
    return rc;
}

/* An estimate of what evaluating a node costs, to try cheap conditions
 * first: an AND fails, an OR succeeds, as early as possible. */
static uint32_t vm_cost(const struct vm *m)
{
    switch (m->kind) {
    case VM_GLOB:
        return m->shape == G_EXACT || m->shape == G_ANY ? 1
             : m->shape == G_PREFIX || m->shape == G_SUFFIX ? 2
             : m->shape == G_CONTAINS ? 8 : 12;
    case VM_RE:
        return 40;
    case VM_NULL:
    case VM_EXISTS:
        return 1;
    default:
        return 5;
    }
}

static uint32_t node_cost(const struct rule *r, uint32_t n, uint32_t *memo)
{
    if (memo[n])
        return memo[n];
    const struct node *nd = &r->nodes[n];
    uint64_t c = 0;
    if (nd->op == N_FCOND) {
        const struct fcond *fc = &r->fconds[nd->arg];
        for (uint32_t i = 0; i < fc->nvm; i++)
            c += vm_cost(&fc->vms[i]);
        if (fc->field == FIELD_ANY)
            c *= 8;
    } else {
        for (uint32_t i = 0; i < nd->nkids; i++)
            c += node_cost(r, nd->kids[i], memo);
    }
    c += 1;
    memo[n] = c > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)c;
    return memo[n];
}

static void order_kids(struct rule *r)
{
    uint32_t *memo = calloc(r->nnodes, sizeof(*memo));
    if (!memo)
        return;  /* an optimisation only */
    for (uint32_t n = 0; n < r->nnodes; n++) {
        struct node *nd = &r->nodes[n];
        if (nd->op != N_AND && nd->op != N_OR)
            continue;
        uint32_t *kids = (uint32_t *)nd->kids;
        for (uint32_t i = 1; i < nd->nkids; i++) {
            uint32_t k = kids[i], c = node_cost(r, k, memo), j = i;
            while (j > 0 && node_cost(r, kids[j - 1], memo) > c) {
                kids[j] = kids[j - 1];
                j--;
            }
            kids[j] = k;
        }
    }
    free(memo);
}

/* Checks the graph depth (the matcher recurses). */
static uint32_t graph_depth(const struct rule *r, uint32_t n, uint32_t *memo)
{
    if (memo[n])
        return memo[n];
    uint32_t d = 0;
    for (uint32_t i = 0; i < r->nodes[n].nkids; i++) {
        uint32_t k = graph_depth(r, r->nodes[n].kids[i], memo);
        if (k > d)
            d = k;
    }
    memo[n] = d + 1;
    return d + 1;
}

static int compile_detection(struct pctx *p, const struct ynode *det, struct detect_arena *tmp)
{
    const struct ynode *cond = NULL;
    struct rule *r = p->r;
    int rc;

    if (det->kind != Y_MAP) {
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, det, "detection",
               "'detection' must be a mapping of search identifiers and a condition");
        return -EINVAL;
    }
    if (det->n > DETECT_MAX_IDENTIFIERS) {
        report(p, DETECT_ERROR, DETECT_DIAG_LIMIT, det, "rule size",
               "'detection' has more than %u search identifiers", DETECT_MAX_IDENTIFIERS);
        return -EINVAL;
    }
    p->ids = detect_arena_alloc(tmp, sizeof(*p->ids) * (det->n ? det->n : 1));
    p->id_node = detect_arena_alloc(tmp, sizeof(*p->id_node) * (det->n ? det->n : 1));
    if (!p->ids || !p->id_node)
        return -ENOMEM;
    for (size_t i = 0; i < det->n; i++) {
        const struct ynode *k = det->keys[i];
        if (ytree_is(k, "condition")) {
            cond = det->items[i];
            continue;
        }
        if (ytree_is(k, "timeframe")) {
            report(p, DETECT_WARNING, DETECT_DIAG_UNSUPPORTED, k, "timeframe",
                   "'timeframe' is Sigma 1 syntax for aggregations and is ignored: use a "
                   "correlation rule's timespan");
            continue;
        }
        if (memchr(k->str, '|', k->len)) {
            report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, k, "modifier on search identifier",
                   "search identifier '%s' carries a modifier: modifiers go on field names "
                   "inside it, not on the identifier", k->str);
            return -EINVAL;
        }
        if (k->len == 0 || memchr(k->str, ' ', k->len) || memchr(k->str, '(', k->len) ||
            memchr(k->str, ')', k->len)) {
            report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, k, "search identifier",
                   "'%s' is not a valid search identifier name", k->str);
            return -EINVAL;
        }
        for (uint32_t j = 0; j < p->nids; j++)
            if (strcmp(p->ids[j], k->str) == 0) {
                report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, k, "duplicate key",
                       "search identifier '%s' is defined twice", k->str);
                return -EINVAL;
            }
        rc = compile_ident(p, k->str, det->items[i], &p->id_node[p->nids]);
        if (rc < 0)
            return rc;
        p->ids[p->nids++] = k->str;
    }
    if (!cond) {
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, det, "condition",
               "'detection' has no 'condition'");
        return -EINVAL;
    }
    if (p->nids == 0) {
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, det, "detection",
               "'detection' has no search identifier");
        return -EINVAL;
    }
    rc = compile_condition(p, cond, tmp, &r->root);
    if (rc < 0)
        return rc;
    uint32_t *memo = calloc(r->nnodes, sizeof(*memo));
    if (!memo)
        return -ENOMEM;
    uint32_t depth = graph_depth(r, r->root, memo);
    free(memo);
    if (depth > DETECT_MAX_EVAL_DEPTH) {
        report(p, DETECT_ERROR, DETECT_DIAG_LIMIT, cond, "rule nesting",
               "the rule nests %u levels deep, more than the limit of %u", depth,
               DETECT_MAX_EVAL_DEPTH);
        return -EINVAL;
    }
    order_kids(r);
    return 0;
}

/* ------------------------------------------------------------ correlation */

static int parse_timespan(const char *s, int64_t *ns)
{
    char *end;
    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v <= 0)
        return -EINVAL;
    int64_t unit;
    if (strcmp(end, "s") == 0)
        unit = 1;
    else if (strcmp(end, "m") == 0)
        unit = 60;
    else if (strcmp(end, "h") == 0)
        unit = 3600;
    else if (strcmp(end, "d") == 0)
        unit = 86400;
    else if (strcmp(end, "w") == 0)
        unit = 7 * 86400;
    else
        return -EINVAL;
    if (v > 366LL * 86400 / unit)
        return -ERANGE;
    *ns = (int64_t)v * unit * 1000000000LL;
    return 0;
}

static int parse_int(const struct ynode *n, int64_t *out)
{
    char *end;
    if (!n || n->kind != Y_SCALAR || n->len == 0 || n->len > 18)
        return -EINVAL;
    errno = 0;
    long long v = strtoll(n->str, &end, 10);
    if (errno || *end || v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

static int compile_correlation(struct pctx *p, const struct ynode *root, const struct ynode *c)
{
    struct rule *r = p->r;
    struct corr_def *cd;
    const char *type = NULL, *span = NULL;
    const struct ynode *n;
    int rc;

    if (c->kind != Y_MAP) {
        report(p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, c, "correlation",
               "'correlation' must be a mapping");
        return -EINVAL;
    }
    cd = detect_arena_alloc(&r->arena, sizeof(*cd));
    if (!cd)
        return -ENOMEM;
    cd->line = c->line;
    cd->col = c->col;
    for (size_t i = 0; i < c->n; i++) {
        static const char *const known[] = {"type", "rules", "group-by", "timespan", "condition",
                                            "aliases", "generate", "timeframe", NULL};
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= ytree_is(c->keys[i], *k);
        if (!ok) {
            report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, c->keys[i], "correlation attribute",
                   "unknown correlation attribute '%s'", c->keys[i]->str);
            return -EINVAL;
        }
    }
    n = ytree_get(c, "type");
    if ((rc = get_str(p, n, "type", &type, false)) < 0)
        return rc;
    if (!type) {
        report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, c, "correlation type",
               "the correlation has no 'type'");
        return -EINVAL;
    }
    if (strcmp(type, "event_count") == 0)
        cd->type = CORR_EVENT_COUNT;
    else if (strcmp(type, "value_count") == 0)
        cd->type = CORR_VALUE_COUNT;
    else if (strcmp(type, "temporal") == 0)
        cd->type = CORR_TEMPORAL;
    else if (strcmp(type, "temporal_ordered") == 0)
        cd->type = CORR_TEMPORAL_ORDERED;
    else {
        char feat[96];
        snprintf(feat, sizeof(feat), "correlation type '%.40s'", type);
        report(p, DETECT_ERROR, DETECT_DIAG_UNSUPPORTED, n, feat,
               "unknown correlation type '%s' (event_count, value_count, temporal, "
               "temporal_ordered)", type);
        return -EINVAL;
    }
    n = ytree_get(c, "rules");
    if ((rc = get_strlist(p, n, "rules", &cd->refs, &cd->nrefs, &cd->ref_line, &cd->ref_col)) < 0)
        return rc;
    if (cd->nrefs == 0) {
        report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, n ? n : c, "correlation rules",
               "the correlation references no rules ('rules')");
        return -EINVAL;
    }
    if (cd->nrefs > DETECT_MAX_CORR_REFS) {
        report(p, DETECT_ERROR, DETECT_DIAG_LIMIT, n, "correlation rules",
               "the correlation references more than %u rules", DETECT_MAX_CORR_REFS);
        return -EINVAL;
    }
    n = ytree_get(c, "group-by");
    if ((rc = get_strlist(p, n, "group-by", &cd->group, &cd->ngroup, NULL, NULL)) < 0)
        return rc;
    if (cd->ngroup > 32) {
        report(p, DETECT_ERROR, DETECT_DIAG_LIMIT, n, "group-by",
               "'group-by' has more than 32 fields");
        return -EINVAL;
    }
    n = ytree_get(c, "timespan");
    if (!n)
        n = ytree_get(c, "timeframe");
    if ((rc = get_str(p, n, "timespan", &span, false)) < 0)
        return rc;
    if (!span || (rc = parse_timespan(span, &cd->span_ns)) < 0) {
        report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, n ? n : c, "timespan",
               span ? "timespan '%s' is not a positive number of s, m, h, d or w up to a year"
                    : "the correlation has no 'timespan'%s", span ? span : "");
        return -EINVAL;
    }
    n = ytree_get(c, "condition");
    if (n && n->kind != Y_MAP) {
        report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, n, "correlation condition",
               "the correlation condition must be a mapping like {gte: 10}");
        return -EINVAL;
    }
    for (size_t i = 0; n && i < n->n; i++) {
        const struct ynode *k = n->keys[i], *v = n->items[i];
        int64_t val = 0;
        if (ytree_is(k, "field")) {
            if ((rc = get_strlist(p, v, "field", &cd->vfields, &cd->nvfield, NULL, NULL)) < 0)
                return rc;
            continue;
        }
        if (parse_int(v, &val) < 0) {
            report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, v, "correlation condition",
                   "'%s' in the correlation condition needs a non-negative integer", k->str);
            return -EINVAL;
        }
        if (ytree_is(k, "gt"))
            cd->cond.has_gt = true, cd->cond.gt = val;
        else if (ytree_is(k, "gte"))
            cd->cond.has_gte = true, cd->cond.gte = val;
        else if (ytree_is(k, "lt"))
            cd->cond.has_lt = true, cd->cond.lt = val;
        else if (ytree_is(k, "lte"))
            cd->cond.has_lte = true, cd->cond.lte = val;
        else if (ytree_is(k, "eq"))
            cd->cond.has_eq = true, cd->cond.eq = val;
        else if (ytree_is(k, "neq"))
            cd->cond.has_neq = true, cd->cond.neq = val;
        else {
            report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, k, "correlation condition",
                   "unknown correlation condition '%s' (gt, gte, lt, lte, eq, neq, field)",
                   k->str);
            return -EINVAL;
        }
        cd->has_cond = true;
    }
    if (!cd->has_cond && (cd->type == CORR_EVENT_COUNT || cd->type == CORR_VALUE_COUNT)) {
        report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, n ? n : c, "correlation condition",
               "an %s correlation needs a condition like {gte: 10}", type);
        return -EINVAL;
    }
    if (cd->type == CORR_VALUE_COUNT && cd->nvfield == 0) {
        report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, n ? n : c, "correlation field",
               "a value_count correlation needs 'field' in its condition");
        return -EINVAL;
    }
    if (cd->type != CORR_VALUE_COUNT && cd->nvfield) {
        report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, n, "correlation field",
               "'field' is only meaningful for value_count correlations");
        return -EINVAL;
    }
    if (!cd->has_cond) {
        cd->cond.has_gte = true;
        cd->cond.gte = cd->nrefs;
    }
    /* windows with an upper bound are judged when they close */
    cd->window_close = cd->cond.has_lt || cd->cond.has_lte || cd->cond.has_eq ||
                       cd->cond.has_neq;
    cd->threshold = 1;
    if (cd->cond.has_gt && cd->cond.gt + 1 > cd->threshold)
        cd->threshold = cd->cond.gt + 1;
    if (cd->cond.has_gte && cd->cond.gte > cd->threshold)
        cd->threshold = cd->cond.gte;
    if (cd->cond.has_eq && cd->cond.eq > cd->threshold)
        cd->threshold = cd->cond.eq;
    /* aliases */
    n = ytree_get(c, "aliases");
    if (n && !(n->kind == Y_SCALAR && n->is_null)) {
        if (n->kind != Y_MAP) {
            report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, n, "correlation aliases",
                   "'aliases' must be a mapping of alias -> {rule name: field}");
            return -EINVAL;
        }
        cd->aliases = detect_arena_alloc(&r->arena, sizeof(*cd->aliases) * (n->n ? n->n : 1));
        if (!cd->aliases)
            return -ENOMEM;
        for (size_t i = 0; i < n->n; i++) {
            struct corr_alias *al = &cd->aliases[cd->naliases++];
            const struct ynode *m = n->items[i];
            al->name = detect_arena_strdup(&r->arena, n->keys[i]->str);
            if (!al->name)
                return -ENOMEM;
            if (m->kind != Y_MAP) {
                report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, m, "correlation aliases",
                       "alias '%s' must map rule names to field names", al->name);
                return -EINVAL;
            }
            al->rule_names = detect_arena_alloc(&r->arena, sizeof(char *) * (m->n ? m->n : 1));
            al->fields = detect_arena_alloc(&r->arena, sizeof(char *) * (m->n ? m->n : 1));
            if (!al->rule_names || !al->fields)
                return -ENOMEM;
            for (size_t j = 0; j < m->n; j++) {
                al->rule_names[j] = detect_arena_strdup(&r->arena, m->keys[j]->str);
                if ((rc = get_str(p, m->items[j], "aliases", &al->fields[j], false)) < 0)
                    return rc;
                if (!al->rule_names[j] || !al->fields[j]) {
                    report(p, DETECT_ERROR, DETECT_DIAG_CORRELATION, m->items[j],
                           "correlation aliases", "alias '%s' has an empty field", al->name);
                    return -EINVAL;
                }
            }
            al->n = (uint32_t)m->n;
        }
    }
    n = ytree_get(c, "generate");
    if (!n)
        n = ytree_get(root, "generate");
    if ((rc = get_bool(p, n, "generate", &cd->generate)) < 0)
        return rc;
    r->corr = cd;
    r->info.correlation = true;
    r->info.active = true;
    return 0;
}

/* ------------------------------------------------------------ documents */

static const char *const known_attrs[] = {
    "title", "id", "name", "status", "description", "license", "author", "references",
    "date", "modified", "logsource", "detection", "correlation", "fields", "falsepositives",
    "level", "tags", "related", "scope", "taxonomy", "generate", "filter", "action",
    "simulation", "regression_tests_path", "uuid", NULL,
};

static int compile_doc(struct detect_engine *eng, const char *origin, const struct ynode *root,
                       unsigned doc_line, struct detect_arena *tmp, detect_diag_fn fn, void *ctx,
                       struct rule **out)
{
    struct pctx p;
    struct rule *r = NULL;
    const struct ynode *n;
    int rc = -EINVAL;

    memset(&p, 0, sizeof(p));
    p.eng = eng;
    p.origin = origin;
    p.fn = fn;
    p.ctx = ctx;
    *out = NULL;
    const struct ynode *t = ytree_get(root, "title");
    const struct ynode *idn = ytree_get(root, "id");
    if (t && t->kind == Y_SCALAR && !t->is_null)
        p.title = t->str;
    if (idn && idn->kind == Y_SCALAR && !idn->is_null)
        p.id = idn->str;

    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    detect_arena_init(&r->arena, 0);
    p.r = r;
    p.pc.a = &r->arena;
    p.pc.rule = r;
    p.pc.fields = &eng->fields;
    p.pc.cfg = &eng->cfg;

    for (size_t i = 0; i < root->n; i++) {
        bool ok = false;
        for (const char *const *k = known_attrs; *k; k++)
            ok |= ytree_is(root->keys[i], *k);
        if (!ok)
            report(&p, DETECT_WARNING, DETECT_DIAG_STRUCTURE, root->keys[i], "unknown attribute",
                   "unknown rule attribute '%s' is ignored", root->keys[i]->str);
    }
    if (ytree_get(root, "filter") && !ytree_get(root, "detection")) {
        report(&p, DETECT_ERROR, DETECT_DIAG_UNSUPPORTED, ytree_get(root, "filter"),
               "Sigma filters", "Sigma filter documents (meta filters) are not supported");
        goto cleanup;
    }
    if ((rc = get_str(&p, t, "title", &r->info.title, false)) < 0 ||
        (rc = get_str(&p, idn, "id", &r->info.id, false)) < 0 ||
        (rc = get_str(&p, ytree_get(root, "name"), "name", &r->info.name, false)) < 0 ||
        (rc = get_str(&p, ytree_get(root, "level"), "level", &r->info.level, true)) < 0 ||
        (rc = get_str(&p, ytree_get(root, "status"), "status", &r->info.status, true)) < 0 ||
        (rc = get_str(&p, ytree_get(root, "description"), "description",
                      &r->info.description, false)) < 0 ||
        (rc = get_str(&p, ytree_get(root, "author"), "author", &r->info.author, false)) < 0)
        goto cleanup;
    if (!r->info.title) {
        report(&p, DETECT_WARNING, DETECT_DIAG_STRUCTURE, root, "title",
               "the rule has no title");
        r->info.title = "(untitled)";
    }
    n = ytree_get(root, "tags");
    if (n) {
        const char **tags;
        uint32_t ntags;
        if ((rc = get_strlist(&p, n, "tags", &tags, &ntags, NULL, NULL)) < 0)
            goto cleanup;
        r->info.tags = tags;
        r->info.n_tags = ntags;
    }
    r->info.origin = detect_arena_strdup(&r->arena, origin);
    r->info.line = doc_line;
    if (!r->info.origin) {
        rc = -ENOMEM;
        goto cleanup;
    }
    const struct ynode *det = ytree_get(root, "detection");
    const struct ynode *corr = ytree_get(root, "correlation");
    if (det && corr) {
        report(&p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, corr, "correlation",
               "a document is either a detection rule or a correlation rule, not both");
        rc = -EINVAL;
        goto cleanup;
    }
    if (corr) {
        rc = compile_correlation(&p, root, corr);
        if (rc < 0)
            goto cleanup;
        *out = r;
        r = NULL;
        rc = 0;
        goto cleanup;
    }
    if (!det) {
        report(&p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, root, "detection",
               "the document has neither 'detection' nor 'correlation'");
        rc = -EINVAL;
        goto cleanup;
    }
    const struct ynode *ls = ytree_get(root, "logsource");
    if (!ls || ls->kind != Y_MAP) {
        report(&p, DETECT_ERROR, DETECT_DIAG_STRUCTURE, ls ? ls : root, "logsource",
               ls ? "'logsource' must be a mapping (product, category, service)"
                  : "the rule has no 'logsource' (it is mandatory)");
        rc = -EINVAL;
        goto cleanup;
    }
    if ((rc = get_str(&p, ytree_get(ls, "product"), "product", &r->info.product, true)) < 0 ||
        (rc = get_str(&p, ytree_get(ls, "category"), "category", &r->info.category, true)) < 0 ||
        (rc = get_str(&p, ytree_get(ls, "service"), "service", &r->info.service, true)) < 0)
        goto cleanup;
    rc = compile_detection(&p, det, tmp);
    if (rc < 0)
        goto cleanup;
    *out = r;
    r = NULL;
    rc = 0;
cleanup:
    sigma_rule_free(r);
    return rc;
}

static void report_doc_error(struct detect_engine *eng, const char *origin,
                             const struct ydoc *d, detect_diag_fn fn, void *ctx)
{
    (void)eng;
    detect_report(fn, ctx, DETECT_ERROR, d->limit ? DETECT_DIAG_LIMIT : DETECT_DIAG_YAML, origin,
                  d->err_line, d->err_col, NULL, NULL, d->limit ? "YAML size" : "YAML syntax",
                  "%s", d->message);
}

static int append_rule(struct detect_engine *eng, struct rule *r)
{
    if (eng->nrules == eng->caprules) {
        uint32_t cap = eng->caprules ? eng->caprules * 2 : 64;
        struct rule **nr = realloc(eng->rules, sizeof(*nr) * cap);
        if (!nr)
            return -ENOMEM;
        eng->rules = nr;
        eng->caprules = cap;
    }
    r->index = eng->nrules;
    eng->rules[eng->nrules++] = r;
    return 0;
}

int sigma_parse_text(struct detect_engine *eng, const char *origin, const char *text,
                     size_t len, detect_diag_fn fn, void *ctx)
{
    struct detect_arena tmp;
    struct ydoc *docs = NULL;
    size_t ndocs = 0;
    struct ytree_limits lim = {
        .max_depth = 64,
        .max_nodes = eng->cfg.max_rule_nodes,
        .max_scalar = DETECT_MAX_VALUE_BYTES > 1048576 ? DETECT_MAX_VALUE_BYTES : 1048576,
        .max_docs = 100000,
    };
    char err[256];
    const struct ynode *global = NULL, *prev = NULL;
    int loaded = 0, rc;

    detect_arena_init(&tmp, 0);
    rc = ytree_parse(&tmp, text, len, &lim, &docs, &ndocs, err, sizeof(err));
    if (rc < 0) {
        detect_report(fn, ctx, DETECT_ERROR, DETECT_DIAG_LIMIT, origin, 0, 0, NULL, NULL,
                      "YAML size", "%s", err);
        goto cleanup;
    }
    for (size_t i = 0; i < ndocs; i++) {
        const struct ydoc *d = &docs[i];
        const struct ynode *root = d->root;
        struct rule *r = NULL;
        if (d->error) {
            report_doc_error(eng, origin, d, fn, ctx);
            continue;
        }
        if (!root || (root->kind == Y_SCALAR && root->is_null))
            continue;   /* an empty document, e.g. after a final "---" */
        if (root->kind != Y_MAP) {
            detect_report(fn, ctx, DETECT_ERROR, DETECT_DIAG_STRUCTURE, origin, root->line,
                          root->col, NULL, NULL, "document",
                          "a Sigma document must be a mapping (title, logsource, detection ...)");
            continue;
        }
        const struct ynode *action = ytree_get(root, "action");
        if (action) {
            const struct ynode *body = ytree_without(&tmp, root, "action");
            if (!body) {
                rc = -ENOMEM;
                goto cleanup;
            }
            if (ytree_is(action, "global")) {
                global = ytree_merge(&tmp, global, body);
                if (!global) {
                    rc = -ENOMEM;
                    goto cleanup;
                }
                continue;
            }
            if (ytree_is(action, "reset")) {
                global = NULL;
                continue;
            }
            if (ytree_is(action, "repeat")) {
                if (!prev) {
                    detect_report(fn, ctx, DETECT_ERROR, DETECT_DIAG_STRUCTURE, origin,
                                  action->line, action->col, NULL, NULL, "action repeat",
                                  "'action: repeat' has no previous rule to repeat");
                    continue;
                }
                root = ytree_merge(&tmp, prev, body);
            } else {
                detect_report(fn, ctx, DETECT_ERROR, DETECT_DIAG_STRUCTURE, origin, action->line,
                              action->col, NULL, NULL, "action",
                              "unknown 'action' (Sigma 1 collections know global, reset, "
                              "repeat)");
                continue;
            }
        } else if (global) {
            root = ytree_merge(&tmp, global, root);
        }
        if (!root) {
            rc = -ENOMEM;
            goto cleanup;
        }
        prev = root;
        rc = compile_doc(eng, origin, root, d->line, &tmp, fn, ctx, &r);
        if (rc == -ENOMEM)
            goto cleanup;
        if (!r)
            continue;
        if ((rc = append_rule(eng, r)) < 0) {
            sigma_rule_free(r);
            goto cleanup;
        }
        loaded++;
    }
    rc = loaded;
cleanup:
    detect_arena_free(&tmp);
    return rc;
}
