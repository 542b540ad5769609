/*
 * ytree.c — see ytree.h. libyaml's event parser is iterative, so a deeply
 * nested document cannot exhaust the stack here; the tree is built with an
 * explicit stack of open containers and the depth is checked against the
 * limit as containers open.
 */
#include "detect/ytree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_ANCHORS 1024

struct anchor {
    char *name;
    struct ynode *node;
};

struct open_node {
    struct ynode *node;
    size_t cap;
    struct ynode *pending_key;  /* maps: key waiting for its value */
    char *anchor;               /* to register when the node closes */
};

struct builder {
    struct detect_arena *a;
    const struct ytree_limits *lim;
    unsigned line0;             /* line offset of the chunk */
    struct open_node *stack;
    size_t depth, cap;
    struct anchor anchors[MAX_ANCHORS];
    size_t nanchors;
    size_t nodes;               /* weight of the current document so far */
    struct ydoc *doc;
};

static void doc_error(struct ydoc *d, bool limit, unsigned line, unsigned col,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void doc_error(struct ydoc *d, bool limit, unsigned line, unsigned col,
                      const char *fmt, ...)
{
    va_list ap;
    if (d->error)
        return;
    d->error = true;
    d->limit = limit;
    d->err_line = line;
    d->err_col = col;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
    d->root = NULL;
}

static void free_anchors(struct builder *b)
{
    for (size_t i = 0; i < b->nanchors; i++)
        free(b->anchors[i].name);
    b->nanchors = 0;
}

/* Adds a completed node to the innermost open container (or makes it the
 * root). Returns 0 or -1 (error recorded in the doc). */
static int attach(struct builder *b, struct ynode *n)
{
    if (b->nodes + n->weight < b->nodes || b->nodes + n->weight > b->lim->max_nodes) {
        doc_error(b->doc, true, n->line, n->col,
                  "the document has more than %zu YAML nodes (aliases count what they repeat)",
                  b->lim->max_nodes);
        return -1;
    }
    b->nodes += n->weight;
    if (b->depth == 0) {
        b->doc->root = n;
        return 0;
    }
    struct open_node *o = &b->stack[b->depth - 1];
    struct ynode *c = o->node;
    if (c->kind == Y_MAP && !o->pending_key) {
        if (n->kind != Y_SCALAR) {
            doc_error(b->doc, false, n->line, n->col,
                      "a mapping key must be a plain value, not a list or a mapping");
            return -1;
        }
        o->pending_key = n;
        return 0;
    }
    if (c->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4;
        struct ynode **items = detect_arena_alloc(b->a, sizeof(*items) * cap);
        struct ynode **keys =
            c->kind == Y_MAP ? detect_arena_alloc(b->a, sizeof(*keys) * cap) : NULL;
        if (!items || (c->kind == Y_MAP && !keys)) {
            doc_error(b->doc, true, n->line, n->col, "out of memory");
            return -1;
        }
        if (c->n) {
            memcpy(items, c->items, sizeof(*items) * c->n);
            if (keys)
                memcpy(keys, c->keys, sizeof(*keys) * c->n);
        }
        c->items = items;
        c->keys = keys;
        o->cap = cap;
    }
    if (c->kind == Y_MAP) {
        c->keys[c->n] = o->pending_key;
        o->pending_key = NULL;
    }
    c->items[c->n++] = n;
    c->weight += n->weight;
    return 0;
}

static int add_anchor(struct builder *b, const char *name, struct ynode *n)
{
    if (b->nanchors == MAX_ANCHORS) {
        doc_error(b->doc, true, n->line, n->col, "more than %d YAML anchors", MAX_ANCHORS);
        return -1;
    }
    char *copy = strdup(name);
    if (!copy) {
        doc_error(b->doc, true, n->line, n->col, "out of memory");
        return -1;
    }
    b->anchors[b->nanchors].name = copy;
    b->anchors[b->nanchors].node = n;
    b->nanchors++;
    return 0;
}

static struct ynode *find_anchor(struct builder *b, const char *name)
{
    for (size_t i = b->nanchors; i-- > 0;)
        if (strcmp(b->anchors[i].name, name) == 0)
            return b->anchors[i].node;
    return NULL;
}

static struct ynode *new_node(struct builder *b, enum ynode_kind kind, const yaml_mark_t *m)
{
    struct ynode *n = detect_arena_alloc(b->a, sizeof(*n));
    if (!n) {
        doc_error(b->doc, true, b->line0 + (unsigned)m->line + 1, (unsigned)m->column + 1,
                  "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->line = b->line0 + (unsigned)m->line + 1;
    n->col = (unsigned)m->column + 1;
    n->weight = 1;
    return n;
}

static bool plain_null(const char *s, size_t len)
{
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
                         memcmp(s, "NULL", 4) == 0));
}

static int on_scalar(struct builder *b, const yaml_event_t *e)
{
    const char *tag = (const char *)e->data.scalar.tag;
    struct ynode *n;

    if (e->data.scalar.length > b->lim->max_scalar) {
        doc_error(b->doc, true, b->line0 + (unsigned)e->start_mark.line + 1,
                  (unsigned)e->start_mark.column + 1,
                  "a value of %zu bytes is longer than the limit of %zu",
                  (size_t)e->data.scalar.length, b->lim->max_scalar);
        return -1;
    }
    n = new_node(b, Y_SCALAR, &e->start_mark);
    if (!n)
        return -1;
    n->str = detect_arena_strndup(b->a, (const char *)e->data.scalar.value, e->data.scalar.length);
    if (!n->str) {
        doc_error(b->doc, true, n->line, n->col, "out of memory");
        return -1;
    }
    n->len = e->data.scalar.length;
    n->quoted = e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    if (tag && strcmp(tag, YAML_NULL_TAG) == 0)
        n->is_null = true;
    else if (tag && strcmp(tag, YAML_STR_TAG) == 0)
        n->quoted = true;
    else if (!n->quoted && !tag)
        n->is_null = plain_null(n->str, n->len);
    if (e->data.scalar.anchor && add_anchor(b, (const char *)e->data.scalar.anchor, n) < 0)
        return -1;
    return attach(b, n);
}

static int on_open(struct builder *b, const yaml_event_t *e, enum ynode_kind kind)
{
    const yaml_char_t *anchor = kind == Y_MAP ? e->data.mapping_start.anchor
                                              : e->data.sequence_start.anchor;
    struct ynode *n;

    if (b->depth >= b->lim->max_depth) {
        doc_error(b->doc, true, b->line0 + (unsigned)e->start_mark.line + 1,
                  (unsigned)e->start_mark.column + 1,
                  "lists and mappings are nested deeper than %u levels", b->lim->max_depth);
        return -1;
    }
    n = new_node(b, kind, &e->start_mark);
    if (!n)
        return -1;
    if (b->depth == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct open_node *s = realloc(b->stack, sizeof(*s) * cap);
        if (!s) {
            doc_error(b->doc, true, n->line, n->col, "out of memory");
            return -1;
        }
        b->stack = s;
        b->cap = cap;
    }
    struct open_node *o = &b->stack[b->depth++];
    memset(o, 0, sizeof(*o));
    o->node = n;
    if (anchor) {
        o->anchor = strdup((const char *)anchor);
        if (!o->anchor) {
            doc_error(b->doc, true, n->line, n->col, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int on_close(struct builder *b)
{
    struct open_node *o = &b->stack[--b->depth];
    struct ynode *n = o->node;
    char *anchor = o->anchor;
    int rc = 0;

    o->anchor = NULL;
    if (anchor)
        rc = add_anchor(b, anchor, n);
    free(anchor);
    if (rc < 0)
        return -1;
    /* the children were counted when they attached; count the node itself
     * once more into its parent through attach() */
    size_t inner = n->weight - 1;
    b->nodes -= inner;
    return attach(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *e)
{
    struct ynode *target = find_anchor(b, (const char *)e->data.alias.anchor);
    if (!target) {
        doc_error(b->doc, false, b->line0 + (unsigned)e->start_mark.line + 1,
                  (unsigned)e->start_mark.column + 1,
                  "alias *%s names no anchor defined before it (recursive aliases are refused)",
                  (const char *)e->data.alias.anchor);
        return -1;
    }
    return attach(b, target);
}

static void close_all(struct builder *b)
{
    while (b->depth > 0) {
        free(b->stack[b->depth - 1].anchor);
        b->depth--;
    }
}

/* Parses one chunk; appends its documents to *docs. */
static int parse_chunk(struct builder *b, const char *text, size_t len, unsigned line0,
                       struct ydoc **docs, size_t *ndocs, size_t *capdocs)
{
    yaml_parser_t p;
    yaml_event_t e;
    struct ydoc *d = NULL;
    bool done = false;
    int rc = 0;

    if (!yaml_parser_initialize(&p))
        return -ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    b->line0 = line0;
    while (!done) {
        if (!yaml_parser_parse(&p, &e)) {
            if (!d) {
                if (*ndocs == b->lim->max_docs) {
                    rc = -E2BIG;
                    break;
                }
                if (*ndocs == *capdocs) {
                    size_t cap = *capdocs ? *capdocs * 2 : 8;
                    struct ydoc *nd = detect_arena_alloc(b->a, sizeof(*nd) * cap);
                    if (!nd) {
                        rc = -ENOMEM;
                        break;
                    }
                    if (*ndocs)
                        memcpy(nd, *docs, sizeof(*nd) * *ndocs);
                    *docs = nd;
                    *capdocs = cap;
                }
                d = &(*docs)[(*ndocs)++];
                memset(d, 0, sizeof(*d));
                d->line = line0 + 1;
            }
            unsigned l = line0 + (unsigned)p.problem_mark.line + 1;
            unsigned c = (unsigned)p.problem_mark.column + 1;
            if (p.context)
                doc_error(d, false, l, c, "YAML syntax error: %s %s",
                          p.problem ? p.problem : "unknown problem", p.context);
            else
                doc_error(d, false, l, c, "YAML syntax error: %s",
                          p.problem ? p.problem : "unknown problem");
            break;
        }
        switch (e.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (*ndocs == b->lim->max_docs) {
                rc = -E2BIG;
                done = true;
                break;
            }
            if (*ndocs == *capdocs) {
                size_t cap = *capdocs ? *capdocs * 2 : 8;
                struct ydoc *nd = detect_arena_alloc(b->a, sizeof(*nd) * cap);
                if (!nd) {
                    rc = -ENOMEM;
                    done = true;
                    break;
                }
                if (*ndocs)
                    memcpy(nd, *docs, sizeof(*nd) * *ndocs);
                *docs = nd;
                *capdocs = cap;
            }
            d = &(*docs)[(*ndocs)++];
            memset(d, 0, sizeof(*d));
            d->line = line0 + (unsigned)e.start_mark.line + 1;
            b->doc = d;
            b->nodes = 0;
            free_anchors(b);
            break;
        case YAML_DOCUMENT_END_EVENT:
            close_all(b);
            d = NULL;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_SCALAR_EVENT:
            if (d && !d->error)
                on_scalar(b, &e);
            break;
        case YAML_SEQUENCE_START_EVENT:
            if (d && !d->error)
                on_open(b, &e, Y_SEQ);
            break;
        case YAML_MAPPING_START_EVENT:
            if (d && !d->error)
                on_open(b, &e, Y_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (d && !d->error && b->depth > 0)
                on_close(b);
            break;
        case YAML_ALIAS_EVENT:
            if (d && !d->error)
                on_alias(b, &e);
            break;
        default:
            break;
        }
        yaml_event_delete(&e);
        if (d && d->error) {
            /* a limit or a structural error: this chunk's document is lost;
             * later chunks still parse */
            close_all(b);
            break;
        }
    }
    close_all(b);
    free_anchors(b);
    yaml_parser_delete(&p);
    return rc;
}

/* True when the line at p starts a document: "---" then blank or end. */
static bool doc_marker(const char *p, const char *end)
{
    if (end - p < 3 || p[0] != '-' || p[1] != '-' || p[2] != '-')
        return false;
    return end - p == 3 || p[3] == ' ' || p[3] == '\t' || p[3] == '\n' || p[3] == '\r';
}

int ytree_parse(struct detect_arena *a, const char *text, size_t len,
                const struct ytree_limits *lim, struct ydoc **docs,
                size_t *ndocs, char *err, size_t errlen)
{
    struct builder b;
    size_t capdocs = 0;
    const char *end = text + len, *chunk = text, *p = text;
    unsigned line = 0, chunk_line = 0;
    int rc = 0;

    memset(&b, 0, sizeof(b));
    b.a = a;
    b.lim = lim;
    *docs = NULL;
    *ndocs = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        if (p != chunk && doc_marker(p, end)) {
            rc = parse_chunk(&b, chunk, (size_t)(p - chunk), chunk_line, docs, ndocs, &capdocs);
            if (rc < 0)
                goto cleanup;
            chunk = p;
            chunk_line = line;
        }
        p = next;
        line++;
    }
    rc = parse_chunk(&b, chunk, (size_t)(end - chunk), chunk_line, docs, ndocs, &capdocs);
cleanup:
    if (rc == -E2BIG)
        snprintf(err, errlen, "more than %zu YAML documents", lim->max_docs);
    else if (rc < 0)
        snprintf(err, errlen, "out of memory while parsing YAML");
    free(b.stack);
    free_anchors(&b);
    return rc;
}

struct ynode *ytree_get(const struct ynode *map, const char *key)
{
    size_t kl;
    if (!map || map->kind != Y_MAP)
        return NULL;
    kl = strlen(key);
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->len == kl && memcmp(map->keys[i]->str, key, kl) == 0)
            return map->items[i];
    return NULL;
}

bool ytree_is(const struct ynode *n, const char *s)
{
    size_t l = strlen(s);
    return n && n->kind == Y_SCALAR && n->len == l && memcmp(n->str, s, l) == 0;
}

static long find_key(const struct ynode *map, const struct ynode *key)
{
    for (size_t i = 0; i < map->n; i++)
        if (map->keys[i]->len == key->len && memcmp(map->keys[i]->str, key->str, key->len) == 0)
            return (long)i;
    return -1;
}

struct ynode *ytree_merge(struct detect_arena *a, const struct ynode *base,
                          const struct ynode *over)
{
    if (!base)
        return (struct ynode *)over;
    if (!over)
        return (struct ynode *)base;
    if (base->kind != Y_MAP || over->kind != Y_MAP)
        return (struct ynode *)over;
    struct ynode *m = detect_arena_alloc(a, sizeof(*m));
    size_t cap = base->n + over->n;
    if (!m)
        return NULL;
    *m = *over;
    m->n = 0;
    m->weight = 1;
    m->keys = detect_arena_alloc(a, sizeof(*m->keys) * (cap ? cap : 1));
    m->items = detect_arena_alloc(a, sizeof(*m->items) * (cap ? cap : 1));
    if (!m->keys || !m->items)
        return NULL;
    for (size_t i = 0; i < base->n; i++) {
        long j = find_key(over, base->keys[i]);
        struct ynode *v = base->items[i];
        if (j >= 0) {
            v = ytree_merge(a, base->items[i], over->items[j]);
            if (!v)
                return NULL;
        }
        m->keys[m->n] = base->keys[i];
        m->items[m->n++] = v;
        m->weight += v->weight;
    }
    for (size_t i = 0; i < over->n; i++) {
        if (find_key(base, over->keys[i]) >= 0)
            continue;
        m->keys[m->n] = over->keys[i];
        m->items[m->n++] = over->items[i];
        m->weight += over->items[i]->weight;
    }
    return m;
}

struct ynode *ytree_without(struct detect_arena *a, const struct ynode *map, const char *key)
{
    struct ynode *m;
    size_t kl = strlen(key);

    if (!map || map->kind != Y_MAP)
        return (struct ynode *)map;
    m = detect_arena_alloc(a, sizeof(*m));
    if (!m)
        return NULL;
    *m = *map;
    m->n = 0;
    m->keys = detect_arena_alloc(a, sizeof(*m->keys) * (map->n ? map->n : 1));
    m->items = detect_arena_alloc(a, sizeof(*m->items) * (map->n ? map->n : 1));
    if (!m->keys || !m->items)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (map->keys[i]->len == kl && memcmp(map->keys[i]->str, key, kl) == 0)
            continue;
        m->keys[m->n] = map->keys[i];
        m->items[m->n++] = map->items[i];
    }
    return m;
}
