/*
 * ytree.h — YAML text to a small tree with positions, through libyaml.
 *
 * Sigma rules are YAML documents; the rule compiler walks this tree and
 * quotes each node's line and column in its messages. A file is split into
 * its documents at "---" lines before parsing, so that a syntax error in
 * one document costs only that document. Anchors and aliases are resolved
 * (an alias shares its target's node); the tree lives in an arena.
 *
 * Hostile input is bounded: nesting depth, node count (aliases count the
 * size of what they repeat), scalar length and document count.
 */
#ifndef YAMORI_DETECT_YTREE_H
#define YAMORI_DETECT_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "detect/arena.h"

enum ynode_kind { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
    enum ynode_kind kind;
    unsigned line, col;        /* 1-based position in the whole text */
    /* Y_SCALAR */
    const char *str;           /* NUL-terminated (may also hold NULs: use len) */
    size_t len;
    bool quoted;               /* single, double, literal or folded style */
    bool is_null;              /* plain null, ~ or empty; or tagged !!null */
    /* Y_SEQ: items; Y_MAP: keys[i] -> items[i] (keys are scalars) */
    size_t n;
    struct ynode **items;
    struct ynode **keys;
    size_t weight;             /* nodes in this subtree */
};

struct ytree_limits {
    unsigned max_depth;
    size_t max_nodes;          /* per document */
    size_t max_scalar;         /* bytes */
    size_t max_docs;
};

/* One document of a file, or the reason it could not be parsed. */
struct ydoc {
    struct ynode *root;        /* NULL: empty document or error */
    unsigned line;             /* first line of the document */
    bool error;
    bool limit;                /* the error is a limit, not a syntax error */
    unsigned err_line, err_col;
    char message[256];
};

/* Splits `text` into documents and parses each into `a`. On return *docs
 * (arena memory) holds *ndocs entries. Returns 0, -ENOMEM, or -E2BIG when
 * there are more than max_docs documents (message in err). */
int ytree_parse(struct detect_arena *a, const char *text, size_t len,
                const struct ytree_limits *lim, struct ydoc **docs,
                size_t *ndocs, char *err, size_t errlen);

/* Map lookup by key string; NULL when absent or `map` is not a map. */
struct ynode *ytree_get(const struct ynode *map, const char *key);

/* True when the node is a scalar equal to s (exact bytes). */
bool ytree_is(const struct ynode *n, const char *s);

/* Deep merge for Sigma 1 "action: global" collections: a new map with the
 * keys of `base`, overridden (maps merged recursively) by those of `over`.
 * Either may be NULL. Returns NULL when out of memory. */
struct ynode *ytree_merge(struct detect_arena *a, const struct ynode *base,
                          const struct ynode *over);

/* A copy of `map` without key `key` (shallow). */
struct ynode *ytree_without(struct detect_arena *a, const struct ynode *map, const char *key);

#endif
