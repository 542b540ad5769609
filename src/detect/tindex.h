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
 * A hit adds the literal's keys to a hitset. A key is a rule and one of
 * the (up to TKEY_BITS) sets of literals it needs (TKEY): the hitset
 * records which of a rule's sets had a hit, and the matcher makes the rule
 * a candidate when all the sets of one of its alternatives did (engine.c).
 * A stamp per rule makes adding idempotent per event, without clearing.
 */
#ifndef YAMORI_DETECT_TINDEX_H
#define YAMORI_DETECT_TINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TKEY_BITS 8
#define TKEY(rule, set) ((uint32_t)(rule) << 3 | (uint32_t)(set))

struct hitset {
    uint32_t *stamp;   /* per rule: == cur when already hit this event */
    uint8_t *mask;     /* per rule: its sets hit (valid when stamped) */
    uint32_t *cand;    /* rules hit this event, in the order of first hit */
    uint32_t n;
    uint32_t cur;
    uint32_t *rec;     /* when set: the keys added are also listed here */
    uint32_t nrec, caprec;   /* (nrec counts past caprec) */
};

static inline void hitset_add(struct hitset *h, uint32_t key)
{
    uint32_t rule = key >> 3;
    if (h->stamp[rule] != h->cur) {
        h->stamp[rule] = h->cur;
        h->mask[rule] = 0;
        h->cand[h->n++] = rule;
    }
    h->mask[rule] |= (uint8_t)(1u << (key & 7));
    if (h->rec) {
        if (h->nrec < h->caprec)
            h->rec[h->nrec] = key;
        h->nrec++;
    }
}

struct tindex_entry {
    uint8_t kind;          /* enum trig_kind */
    uint32_t len;
    const uint8_t *lit;    /* ASCII folded */
    uint32_t key;          /* TKEY(rule, set) */
};

struct tindex;

/* Builds an index over n entries (copies the literals). Returns 0 with *out
 * set, or -ENOMEM. */
int tindex_build(const struct tindex_entry *e, size_t n, struct tindex **out);

/* Adds to hs every key with a literal found in v[0..n). */
void tindex_scan(const struct tindex *ix, const char *v, size_t n, struct hitset *hs);

/* True when a scan does more than look the whole value up in a hash (a
 * trie walk or a pass over the bytes): worth remembering per value. */
bool tindex_walks(const struct tindex *ix);

/* Memory used, in bytes. */
size_t tindex_bytes(const struct tindex *ix);

/* Frees the index. Accepts NULL. */
void tindex_free(struct tindex *ix);

#endif
