/*
 * tindex.h — the literal index of one field: which rules may match, from
 * the literals they require, in one pass over the value.
 *
 * Four structures, each built only when some rule needs it:
 *   - exact: a hash of whole values (`Image: /usr/bin/curl`), skipped when
 *     no literal has the value's length;
 *   - prefix: a trie walked from the value's start (`startswith`);
 *   - suffix: a trie walked from the value's end (`endswith`), so the cost
 *     is the length of the longest literal, not of the value;
 *   - substring (`contains`, inner segments of wildcards, regex literals):
 *     each literal is anchored on its least common 4-byte window; a bitmap
 *     of anchor hashes tested at every position of the value says where to
 *     compare (tindex.c explains why this beats an automaton here).
 * All compare ASCII case-insensitively: literals are stored folded and the
 * value is folded as it is read.
 *
 * A hit adds the literal's rules to a hitset (a stamp per rule makes
 * adding idempotent per event, without clearing).
 */
#ifndef YAMORI_DETECT_TINDEX_H
#define YAMORI_DETECT_TINDEX_H

#include <stddef.h>
#include <stdint.h>

struct hitset {
    uint32_t *stamp;   /* per rule: == cur when already a candidate */
    uint32_t *cand;    /* candidates of this event */
    uint32_t n;
    uint32_t cur;
};

static inline void hitset_add(struct hitset *h, uint32_t rule)
{
    if (h->stamp[rule] != h->cur) {
        h->stamp[rule] = h->cur;
        h->cand[h->n++] = rule;
    }
}

struct tindex_entry {
    uint8_t kind;          /* enum trig_kind */
    uint32_t len;
    const uint8_t *lit;    /* ASCII folded */
    uint32_t rule;
};

struct tindex;

/* Builds an index over n entries (copies the literals). Returns 0 with *out
 * set, or -ENOMEM. */
int tindex_build(const struct tindex_entry *e, size_t n, struct tindex **out);

/* Adds to hs every rule with a literal found in v[0..n). */
void tindex_scan(const struct tindex *ix, const char *v, size_t n, struct hitset *hs);

/* Memory used, in bytes. */
size_t tindex_bytes(const struct tindex *ix);

/* Frees the index. Accepts NULL. */
void tindex_free(struct tindex *ix);

#endif
