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
 * a candidate when all the sets of one of its alternatives did (engine.c);
 * only the keys of an alternative's first set list the rule for that test.
 * A stamp per rule makes adding idempotent per event, without clearing.
 */
#ifndef YAMORI_DETECT_TINDEX_H
#define YAMORI_DETECT_TINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TKEY_BITS 8
#define TKEY_FIRST 8u      /* the key of an alternative's first (best) set */
#define TKEY(rule, set, first) \
    ((uint32_t)(rule) << 4 | ((first) ? TKEY_FIRST : 0u) | (uint32_t)(set))
#define HIT_LISTED 0x100u  /* mask: the rule is in cand */

struct hitset {
    uint32_t *stamp;   /* per rule: == cur when already hit this event */
    uint16_t *mask;    /* per rule: its sets hit, HIT_LISTED (valid when stamped) */
    uint32_t *cand;    /* rules whose first set of some alternative had a
                        * hit this event, in the order of that hit (a rule
                        * is a candidate only then) */
    uint32_t n;
    uint32_t cur;
    uint32_t *rec;     /* when set: the keys added are also listed here */
    uint32_t nrec, caprec;   /* (nrec counts past caprec) */
};

static inline void hitset_add(struct hitset *h, uint32_t key)
{
    uint32_t rule = key >> 4;
    uint32_t m = h->stamp[rule] == h->cur ? h->mask[rule] : 0;
    h->stamp[rule] = h->cur;
    m |= 1u << (key & 7);
    if ((key & TKEY_FIRST) && !(m & HIT_LISTED)) {
        m |= HIT_LISTED;
        h->cand[h->n++] = rule;
    }
    h->mask[rule] = (uint16_t)m;
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
