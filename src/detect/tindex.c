/*
 * tindex.c — see tindex.h.
 *
 * Prefix and suffix literals live in tries with one compact layout: per
 * node, its children as a run of (byte, child) edges sorted by byte, and
 * its outputs (the keys of the rules whose literal ends there) as a run in
 * out[]; the root and nodes with many children also get a direct 256-entry
 * table.
 * A lookup is one walk from the start (or the end) of the value, at most
 * as long as the longest literal.
 *
 * Substring literals (4 bytes or more) are found by an anchor: for each
 * literal, the 4-byte window least likely to occur in ordinary text (not
 * "/usr", "bin/", " -c " ...: a built-in list of common grams, and grams
 * that many literals share). A bitmap keyed by a hash of the anchors says
 * at which positions of the value a literal may be anchored; only there is
 * the hash's bucket looked up and its literals compared in place. The
 * bitmap tests do not depend on each other, so a value without candidate
 * positions costs a few instructions a byte, and common text (paths,
 * flags) rarely starts a comparison. Shorter substring literals, which are
 * rare, go to a trie walked from every position their first bytes allow.
 *
 * Literal bytes are stored folded; value bytes are folded as they are read
 * (or, for the bitmap keys, have bit 0x20 set, which folds ASCII letters).
 */
#include "detect/tindex.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

#define DENSE_KIDS 6
#define SHORT_FIRST 4              /* first bytes of short literals looked for by word */

struct tnode {
    uint32_t first;            /* first edge */
    uint32_t out;              /* first output */
    uint16_t nkids, nout;
    uint32_t dense;            /* many children: 1 + index of a 256-entry table */
};

struct trie {
    uint32_t nnodes;
    uint32_t root[256];        /* child of the root by byte (both cases), 0: none */
    struct tnode *node;
    uint32_t *edge;            /* child << 8 | byte, sorted by byte within a node */
    uint32_t *dense;
    uint32_t ndense;
    uint32_t *out;
    uint64_t *f2, *f1;         /* short substring literals: 2- and 1-byte starts */
    uint32_t nfirst;           /* their distinct first bytes, when few (else 0) */
    uint64_t fpat[SHORT_FIRST], fcase[SHORT_FIRST];   /* the byte in every lane; 0x20s
                                                       * for a letter (either case) */
    size_t bytes;
};

/* Anchored substring literals: each registered under its anchor window. */
struct alit {
    uint32_t off;              /* bytes in pool */
    uint16_t len;
    uint32_t out, nout;        /* keys, in aout */
    uint32_t next;             /* build: next literal with the same hash, + 1 */
};

struct aref {
    uint32_t lit;
    uint32_t at;               /* offset of the window in the literal */
};

struct abucket {
    uint32_t hash;             /* F4_BITS-bit window hash, UINT32_MAX: empty */
    uint32_t start, n;         /* entries in refs */
};

struct anchored {
    uint64_t *f4;              /* 2^F4_BITS bits: window hashes present */
    struct abucket *b;
    uint32_t bmask;
    struct aref *refs;
    uint32_t nrefs;
    struct alit *lits;
    uint32_t nlits;
    uint8_t *pool;
    uint32_t *aout;
    size_t bytes;
};

struct exact_slot {
    uint64_t hash;
    uint32_t lit;              /* index into lits, UINT32_MAX: empty */
};

struct tindex {
    struct exact_slot *ex;
    uint32_t exmask;
    uint64_t exlen[4];         /* lengths of exact literals (255: 255 or more) */
    uint64_t exkey[64];        /* exact literals by length, first and last byte */
    uint8_t **lits;
    uint32_t *lit_len;
    uint32_t *lit_start;       /* outputs of literal i: lit_out[lit_start[i] .. lit_start[i+1]) */
    uint32_t *lit_out;
    uint32_t nlits;
    struct trie *pre, *suf, *sub;
    struct anchored *anch;     /* literals of 4 bytes or more */
    size_t bytes;
};

struct pair {
    uint32_t state, key;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->state != y->state)
        return x->state < y->state ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* The bitmap keys: bytes with 0x20 set (ASCII case folded, a few other
 * pairs merged, which only makes the filter a little less sharp). */
/* The anchor bitmap has 2^15 bits (4 KiB): it is probed at every position
 * of every scanned value, so its size is paid in first-level cache misses
 * (16 bits: 2.2 more per event in the bench, for no fewer instructions;
 * 14 bits and below: more bucket lookups on false positives). */
#define F4_BITS 15
#define F4_SHIFT (32 - F4_BITS)
static inline uint32_t hash4(const uint8_t *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return ((x | 0x20202020u) * 0x9e3779b1u) >> F4_SHIFT;
}

static inline uint32_t key2(const uint8_t *p)
{
    uint16_t x;
    memcpy(&x, p, 2);   /* native order, as the scan's word loads see it */
    return (uint32_t)(x | 0x2020u);
}

static inline bool bit(const uint64_t *f, uint32_t g)
{
    return f[g >> 6] >> (g & 63) & 1;
}

static inline void setbit(uint64_t *f, uint32_t g)
{
    f[g >> 6] |= 1ull << (g & 63);
}

/* ------------------------------------------------------------ tries */

/* Build-time node: first child / next sibling lists. */
struct bnode {
    uint32_t child, sibling;
    uint8_t byte;
};

static void trie_free(struct trie *t)
{
    if (!t)
        return;
    free(t->node);
    free(t->edge);
    free(t->dense);
    free(t->out);
    free(t->f2);
    free(t->f1);
    free(t);
}

/* A trie of the entries of `kind` whose length is within [minlen, maxlen],
 * inserted back to front when `reverse`; with start filters for `shorts`. */
static int trie_build(const struct tindex_entry *e, size_t n, uint8_t kind, uint32_t maxlen,
                      bool reverse, bool shorts, struct trie **out)
{
    struct trie *t = calloc(1, sizeof(*t));
    struct bnode *bn = NULL;
    struct pair *pairs = NULL;
    size_t total = 1, npairs = 0;
    uint32_t nfirst = 0;
    int rc = -ENOMEM;

    *out = NULL;
    if (!t)
        goto cleanup;
    for (size_t i = 0; i < n; i++)
        if (e[i].kind == kind && e[i].len > 0 && e[i].len <= maxlen)
            total += e[i].len;
    bn = calloc(total, sizeof(*bn));
    pairs = malloc(sizeof(*pairs) * (n ? n : 1));
    if (!bn || !pairs)
        goto cleanup;
    t->nnodes = 1;
    for (size_t i = 0; i < n; i++) {
        if (e[i].kind != kind || e[i].len == 0 || e[i].len > maxlen)
            continue;
        uint32_t s = 0;
        for (uint32_t k = 0; k < e[i].len; k++) {
            uint8_t b = e[i].lit[reverse ? e[i].len - 1 - k : k];
            uint32_t c = bn[s].child, prev = 0;
            while (c && bn[c].byte < b) {   /* children sorted by byte */
                prev = c;
                c = bn[c].sibling;
            }
            if (!c || bn[c].byte != b) {
                uint32_t nn = t->nnodes++;
                bn[nn].byte = b;
                bn[nn].sibling = c;
                if (prev)
                    bn[prev].sibling = nn;
                else
                    bn[s].child = nn;
                c = nn;
            }
            s = c;
        }
        pairs[npairs].state = s;
        pairs[npairs].key = e[i].key;
        npairs++;
        if (shorts) {
            uint64_t **f = e[i].len >= 2 ? &t->f2 : &t->f1;
            if (!*f && !(*f = calloc(65536 / 64, sizeof(uint64_t))))
                goto cleanup;
            setbit(*f, e[i].len >= 2 ? key2(e[i].lit) : (uint32_t)(e[i].lit[0] | 0x20));
            /* the literal's first byte, folded (letters match either case) */
            uint8_t b = e[i].lit[0];
            bool letter = b >= 'a' && b <= 'z';
            uint64_t pat = 0x0101010101010101ull * b;
            uint32_t k = 0;
            while (k < nfirst && k < SHORT_FIRST && t->fpat[k] != pat)
                k++;
            if (k == nfirst && nfirst <= SHORT_FIRST) {
                if (nfirst < SHORT_FIRST) {
                    t->fpat[k] = pat;
                    t->fcase[k] = letter ? 0x2020202020202020ull : 0;
                }
                nfirst++;
            }
        }
    }
    t->nfirst = nfirst <= SHORT_FIRST ? nfirst : 0;
    /* flatten: edges grouped per node */
    t->node = calloc(t->nnodes, sizeof(*t->node));
    t->edge = malloc(sizeof(uint32_t) * t->nnodes);
    if (!t->node || !t->edge)
        goto cleanup;
    uint32_t ne = 0;
    for (uint32_t s = 0; s < t->nnodes; s++) {
        t->node[s].first = ne;
        for (uint32_t c = bn[s].child; c; c = bn[c].sibling) {
            t->edge[ne++] = c << 8 | bn[c].byte;
            t->node[s].nkids++;
            if (s == 0) {
                t->root[bn[c].byte] = c;
                if (bn[c].byte >= 'a' && bn[c].byte <= 'z')
                    t->root[bn[c].byte - 32] = c;
            }
        }
        if (s && t->node[s].nkids > DENSE_KIDS)
            t->ndense++;
    }
    if (t->ndense) {
        t->dense = calloc((size_t)t->ndense * 256, sizeof(uint32_t));
        if (!t->dense)
            goto cleanup;
        uint32_t d = 0;
        for (uint32_t s = 1; s < t->nnodes; s++) {
            struct tnode *nd = &t->node[s];
            if (nd->nkids <= DENSE_KIDS)
                continue;
            for (uint32_t k = 0; k < nd->nkids; k++) {
                uint32_t ed = t->edge[nd->first + k];
                t->dense[(size_t)d * 256 + (uint8_t)ed] = ed >> 8;
            }
            nd->dense = ++d;
        }
    }
    /* outputs, grouped per node */
    qsort(pairs, npairs, sizeof(*pairs), cmp_pair);
    t->out = malloc(sizeof(uint32_t) * (npairs ? npairs : 1));
    if (!t->out)
        goto cleanup;
    size_t k = 0;
    for (size_t i = 0; i < npairs; i++) {
        if (i > 0 && pairs[i].state == pairs[i - 1].state && pairs[i].key == pairs[i - 1].key)
            continue;
        struct tnode *nd = &t->node[pairs[i].state];
        if (nd->nout == 0)
            nd->out = (uint32_t)k;
        nd->nout++;
        t->out[k++] = pairs[i].key;
    }
    t->bytes = sizeof(*t) + (size_t)t->nnodes * (sizeof(struct tnode) + 4) + k * 4 +
               (size_t)t->ndense * 1024 + (t->f2 ? 8192 : 0) + (t->f1 ? 8192 : 0);
    *out = t;
    t = NULL;
    rc = 0;
cleanup:
    trie_free(t);
    free(bn);
    free(pairs);
    return rc;
}

static inline uint32_t child(const struct trie *t, const struct tnode *nd, uint8_t b)
{
    if (nd->dense)
        return t->dense[(size_t)(nd->dense - 1) * 256 + b];
    const uint32_t *e = t->edge + nd->first;
    for (uint32_t i = 0; i < nd->nkids; i++)
        if ((uint8_t)e[i] == b)
            return e[i] >> 8;
    return 0;
}

static inline void emit(const uint32_t *out, uint32_t first, uint32_t count, struct hitset *hs)
{
    for (uint32_t i = 0; i < count; i++)
        hitset_add(hs, out[first + i]);
}

/* Walks the trie from v[i] forwards, reporting each node with outputs. */
static void walk_fwd(const struct trie *t, const uint8_t *v, size_t n, size_t i,
                     struct hitset *hs)
{
    uint32_t s = t->root[v[i]];
    while (s) {
        const struct tnode *nd = &t->node[s];
        if (nd->nout)
            emit(t->out, nd->out, nd->nout, hs);
        if (++i >= n || !nd->nkids)
            return;
        s = child(t, nd, detect_fold[v[i]]);
    }
}

static void walk_back(const struct trie *t, const uint8_t *v, size_t n, struct hitset *hs)
{
    if (!n)
        return;
    size_t i = n - 1;
    uint32_t s = t->root[v[i]];
    while (s) {
        const struct tnode *nd = &t->node[s];
        if (nd->nout)
            emit(t->out, nd->out, nd->nout, hs);
        if (i-- == 0 || !nd->nkids)
            return;
        s = child(t, nd, detect_fold[v[i]]);
    }
}

/* ------------------------------------------------------------ anchors */

/* 4-byte windows that ordinary Linux paths and command lines are full of:
 * never the anchor of a literal when it has anything better. */
static const char *const common_grams[] = {
    "/usr", "usr/", "/bin", "bin/", "sbin", "/sbi", "/lib", "lib/", "/etc", "etc/", "/var",
    "var/", "/tmp", "tmp/", "/opt", "opt/", "/hom", "home", "ome/", "/dev", "dev/", "/pro",
    "proc", "roc/", "/run", "run/", "/sys", "sys/", "/loc", "loca", "ocal", "cal/", "/sha",
    "shar", "hare", "are/", "/roo", "root", "oot/", "/srv", "srv/", "/mnt", "/log", "log/",
    ".log", "http", "ttp:", "tp:/", "p://", "s://", "ttps", "tps:", "www.", ".com", "pyth",
    "ytho", "thon", "bash", "/bas", "ash ", "/sh ", "conf", "onfi", "nfig", ".con", "/nul",
    "null", "ull ", " -c ", " --", "-- ", " -- ", "--co", "--ve", "vers", "ersi", "rsio",
    "sion", "/.ca", ".cac", "cach", "ache", "ing ", "tion", "ion ", "and ", "the ", " the",
    "/pyt", ".py ", ".sh ", "/doc", "/ker", "kern", "erne", "rnel", "/app", "app/",
    "syst", "yste", "stem", "temd", "emd/", "/lib64", "/x86", "x86_", "86_6", "_64-", "linu",
    "inux", "nux-", "/inc", "incl", "/src", "src/", NULL,
};

/* A small map from 4-byte grams to counts (open addressing). */
struct gmap {
    uint32_t *key, *val;
    uint8_t *used;
    uint32_t mask;
};

static int gmap_init(struct gmap *m, size_t n)
{
    uint32_t size = 64;
    while (size < n * 2)
        size *= 2;
    m->key = malloc(sizeof(uint32_t) * size);
    m->val = calloc(size, sizeof(uint32_t));
    m->used = calloc(size, 1);
    m->mask = size - 1;
    return m->key && m->val && m->used ? 0 : -ENOMEM;
}

static void gmap_free(struct gmap *m)
{
    free(m->key);
    free(m->val);
    free(m->used);
}

static uint32_t *gmap_slot(struct gmap *m, uint32_t key)
{
    uint32_t j = (key * 0x9e3779b1u) >> 7 & m->mask;
    while (m->used[j] && m->key[j] != key)
        j = (j + 1) & m->mask;
    if (!m->used[j]) {
        m->used[j] = 1;
        m->key[j] = key;
    }
    return &m->val[j];
}

static uint32_t gram_key(const uint8_t *g)
{
    uint32_t k;
    memcpy(&k, g, 4);
    return k;
}

/* How likely a 4-byte window is to occur in ordinary text. */
static uint32_t gram_cost(const uint8_t *g, struct gmap *shared)
{
    uint32_t cost = 0;
    for (const char *const *c = common_grams; *c; c++)
        if (memcmp(*c, g, 4) == 0) {
            cost += 1000;
            break;
        }
    /* separators and digits are common in any text */
    for (int k = 0; k < 4; k++) {
        uint8_t b = g[k];
        if (b == ' ' || b == '/' || b == '-' || b == '.' || b == '_' || b == '=' || b == ':' ||
            (b >= '0' && b <= '9'))
            cost += 20;
    }
    /* grams many literals share are likely common in text too */
    return cost + *gmap_slot(shared, gram_key(g)) * 10;
}

static void anchored_free(struct anchored *a)
{
    if (!a)
        return;
    free(a->f4);
    free(a->b);
    free(a->refs);
    free(a->lits);
    free(a->pool);
    free(a->aout);
    free(a);
}

struct wref {
    uint32_t hash, lit, at;
};

static int cmp_wref(const void *a, const void *b)
{
    const struct wref *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->lit != y->lit)
        return x->lit < y->lit ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Builds the set of substring literals with lengths in [minlen, maxlen]
 * (distinct bytes; keys grouped per literal), each under its anchor. */
static int anchored_build(const struct tindex_entry *e, size_t n, uint32_t minlen,
                          uint32_t maxlen, struct anchored **out)
{
    struct anchored *a = calloc(1, sizeof(*a));
    struct pair *pairs = NULL;
    struct wref *w = NULL;
    struct gmap shared = {0}, bytes_of = {0};
    size_t count = 0, poolsize = 0;
    uint32_t nw = 0;
    int rc = -ENOMEM;

    *out = NULL;
    if (!a)
        goto cleanup;
    for (size_t i = 0; i < n; i++)
        if (e[i].kind == TRIG_SUBSTR && e[i].len >= minlen && e[i].len <= maxlen) {
            count++;
            poolsize += e[i].len;
        }
    a->f4 = calloc((1u << F4_BITS) / 64, sizeof(uint64_t));
    a->lits = calloc(count ? count : 1, sizeof(*a->lits));
    a->pool = malloc(poolsize ? poolsize : 1);
    pairs = malloc(sizeof(*pairs) * (count ? count : 1));
    w = malloc(sizeof(*w) * (count ? count : 1));
    if (!a->f4 || !a->lits || !a->pool || !pairs || !w)
        goto cleanup;
    /* how many literals contain each gram; literals by content */
    if (gmap_init(&shared, poolsize) < 0 || gmap_init(&bytes_of, count) < 0)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        if (e[i].kind != TRIG_SUBSTR || e[i].len < minlen || e[i].len > maxlen)
            continue;
        for (uint32_t k = 0; k + 4 <= e[i].len; k++) {
            bool seen = false;
            for (uint32_t j = 0; j < k && !seen; j++)
                seen = memcmp(e[i].lit + j, e[i].lit + k, 4) == 0;
            if (!seen)
                (*gmap_slot(&shared, gram_key(e[i].lit + k)))++;
        }
    }
    uint32_t pool_used = 0, np = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].kind != TRIG_SUBSTR || e[i].len < minlen || e[i].len > maxlen)
            continue;
        /* the same bytes from another rule: share the literal (the map
         * chains literals with equal hashes through next, + 1) */
        uint32_t lit = UINT32_MAX;
        uint32_t *slot = gmap_slot(&bytes_of, (uint32_t)detect_strtab_hash(e[i].lit, e[i].len));
        for (uint32_t l = *slot; l; l = a->lits[l - 1].next) {
            const struct alit *L = &a->lits[l - 1];
            if (L->len == e[i].len && memcmp(a->pool + L->off, e[i].lit, e[i].len) == 0) {
                lit = l - 1;
                break;
            }
        }
        if (lit == UINT32_MAX) {
            lit = a->nlits++;
            struct alit *L = &a->lits[lit];
            L->off = pool_used;
            L->len = (uint16_t)e[i].len;
            memcpy(a->pool + pool_used, e[i].lit, e[i].len);
            pool_used += e[i].len;
            L->next = *slot;
            *slot = lit + 1;
            /* the window least likely in ordinary text */
            uint32_t best = UINT32_MAX, at = 0;
            for (uint32_t k = 0; k + 4 <= e[i].len; k++) {
                uint32_t c = gram_cost(e[i].lit + k, &shared);
                if (c < best) {
                    best = c;
                    at = k;
                }
            }
            w[nw].hash = hash4(e[i].lit + at);
            w[nw].lit = lit;
            w[nw].at = at;
            setbit(a->f4, w[nw].hash);
            nw++;
        }
        pairs[np].state = lit;
        pairs[np].key = e[i].key;
        np++;
    }
    /* outputs per literal */
    qsort(pairs, np, sizeof(*pairs), cmp_pair);
    a->aout = malloc(sizeof(uint32_t) * (np ? np : 1));
    if (!a->aout)
        goto cleanup;
    uint32_t k = 0;
    for (uint32_t i = 0; i < np; i++) {
        if (i > 0 && pairs[i].state == pairs[i - 1].state && pairs[i].key == pairs[i - 1].key)
            continue;
        struct alit *L = &a->lits[pairs[i].state];
        if (L->nout == 0)
            L->out = k;
        L->nout++;
        a->aout[k++] = pairs[i].key;
    }
    /* buckets by window hash */
    qsort(w, nw, sizeof(*w), cmp_wref);
    a->refs = malloc(sizeof(*a->refs) * (nw ? nw : 1));
    uint32_t nb = 16;
    while (nb < nw * 2)
        nb *= 2;
    a->b = malloc(sizeof(*a->b) * nb);
    if (!a->refs || !a->b)
        goto cleanup;
    a->nrefs = nw;
    a->bmask = nb - 1;
    for (uint32_t i = 0; i < nb; i++)
        a->b[i].hash = UINT32_MAX;
    for (uint32_t i = 0; i < nw; i++) {
        a->refs[i].lit = w[i].lit;
        a->refs[i].at = w[i].at;
        if (i > 0 && w[i].hash == w[i - 1].hash)
            continue;
        uint32_t j = (w[i].hash * 0x9e3779b1u >> 8) & a->bmask;
        while (a->b[j].hash != UINT32_MAX)
            j = (j + 1) & a->bmask;
        a->b[j].hash = w[i].hash;
        a->b[j].start = i;
        uint32_t m = i;
        while (m < nw && w[m].hash == w[i].hash)
            m++;
        a->b[j].n = m - i;
    }
    a->bytes = sizeof(*a) + 8192 + nb * sizeof(*a->b) + nw * sizeof(struct aref) +
               a->nlits * sizeof(struct alit) + pool_used + k * 4;
    *out = a;
    a = NULL;
    rc = 0;
cleanup:
    anchored_free(a);
    gmap_free(&shared);
    gmap_free(&bytes_of);
    free(pairs);
    free(w);
    return rc;
}

static inline bool eq_fold(const uint8_t *v, const uint8_t *lit, size_t m)
{
    while (m >= 8) {
        uint64_t x, y;
        memcpy(&x, v, 8);
        memcpy(&y, lit, 8);
        /* fold: set 0x20 on upper-case letters only */
        uint64_t h = x & 0x7f7f7f7f7f7f7f7full;
        uint64_t up = (h + 0x3f3f3f3f3f3f3f3full) & ~(h + 0x2525252525252525ull) & ~x &
                      0x8080808080808080ull;
        if ((x | (up >> 2)) != y)
            return false;
        v += 8;
        lit += 8;
        m -= 8;
    }
    while (m--)
        if (detect_fold[*v++] != *lit++)
            return false;
    return true;
}

/* The window at v[i] hashed to h (its bit is set): compare the literals
 * registered under h in place. */
static void anchored_hit(const struct anchored *a, uint32_t h, const uint8_t *v, size_t n,
                         size_t i, struct hitset *hs)
{
    uint32_t j = (h * 0x9e3779b1u >> 8) & a->bmask;
    for (;; j = (j + 1) & a->bmask) {
        const struct abucket *b = &a->b[j];
        if (b->hash == UINT32_MAX)
            return;
        if (b->hash != h)
            continue;
        for (uint32_t k = 0; k < b->n; k++) {
            const struct aref *r = &a->refs[b->start + k];
            const struct alit *L = &a->lits[r->lit];
            if (i < r->at)
                continue;
            size_t p = i - r->at;
            if (p + L->len <= n && eq_fold(v + p, a->pool + L->off, L->len))
                emit(a->aout, L->out, L->nout, hs);
        }
        return;
    }
}

static inline void scan_anchored(const struct anchored *a, const uint8_t *v, size_t n,
                                 struct hitset *hs)
{
    const uint64_t *f4 = a->f4;
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* four positions per 8-byte load (little-endian: byte i + k is at bit 8k) */
    for (; i + 8 <= n; i += 4) {
        uint64_t x;
        memcpy(&x, v + i, 8);
        x |= 0x2020202020202020ull;
        uint32_t h0 = ((uint32_t)x * 0x9e3779b1u) >> F4_SHIFT;
        uint32_t h1 = ((uint32_t)(x >> 8) * 0x9e3779b1u) >> F4_SHIFT;
        uint32_t h2 = ((uint32_t)(x >> 16) * 0x9e3779b1u) >> F4_SHIFT;
        uint32_t h3 = ((uint32_t)(x >> 24) * 0x9e3779b1u) >> F4_SHIFT;
        if (__builtin_expect(bit(f4, h0) | bit(f4, h1) | bit(f4, h2) | bit(f4, h3), 0)) {
            if (bit(f4, h0))
                anchored_hit(a, h0, v, n, i, hs);
            if (bit(f4, h1))
                anchored_hit(a, h1, v, n, i + 1, hs);
            if (bit(f4, h2))
                anchored_hit(a, h2, v, n, i + 2, hs);
            if (bit(f4, h3))
                anchored_hit(a, h3, v, n, i + 3, hs);
        }
    }
#endif
    for (; i + 4 <= n; i++) {
        uint32_t h = hash4(v + i);
        if (bit(f4, h))
            anchored_hit(a, h, v, n, i, hs);
    }
}

static inline bool short_start(const struct trie *t, const uint8_t *v, size_t n, size_t i)
{
    return (t->f2 && i + 1 < n && bit(t->f2, key2(v + i))) ||
           (t->f1 && bit(t->f1, v[i] | 0x20u));
}

/* Short substring literals (1 to 3 bytes): walk where their first bytes
 * occur. When they start with few distinct bytes (dashes, dots), those are
 * found eight at a time: a lane equal to the byte becomes zero, and the
 * classic zero-byte test flags it (and at worst a lane above it, which the
 * start filter then turns down). */
static void scan_short(const struct trie *t, const uint8_t *v, size_t n, struct hitset *hs)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (t->nfirst) {
        for (; i + 8 <= n; i += 8) {
            uint64_t x, m = 0;
            memcpy(&x, v + i, 8);
            for (uint32_t k = 0; k < t->nfirst; k++) {
                uint64_t y = (x | t->fcase[k]) ^ t->fpat[k];
                m |= (y - 0x0101010101010101ull) & ~y & 0x8080808080808080ull;
            }
            while (m) {
                size_t j = i + ((size_t)__builtin_ctzll(m) >> 3);
                if (short_start(t, v, n, j))
                    walk_fwd(t, v, n, j, hs);
                m &= m - 1;
            }
        }
    }
#endif
    for (; i < n; i++)
        if (short_start(t, v, n, i))
            walk_fwd(t, v, n, i, hs);
}

/* ------------------------------------------------------------ exact */

/* A 4096-bit filter in front of the hash: the length with the first and
 * last bytes (folded: literals are stored folded). */
static inline uint32_t exact_key(const uint8_t *v, size_t n)
{
    return ((uint32_t)detect_fold[v[0]] * 31u + (uint32_t)detect_fold[v[n - 1]] * 7u +
            (uint32_t)n * 131u) & 4095u;
}

static int build_exact(struct tindex *ix, const struct tindex_entry *e, size_t n)
{
    size_t count = 0;
    struct pair *pairs = NULL;
    int rc = -ENOMEM;

    for (size_t i = 0; i < n; i++)
        count += e[i].kind == TRIG_EXACT;
    if (!count)
        return 0;
    uint32_t nslots = 16;
    while (nslots < count * 2)
        nslots *= 2;
    ix->ex = malloc(sizeof(*ix->ex) * nslots);
    ix->lits = calloc(count, sizeof(*ix->lits));
    ix->lit_len = calloc(count, sizeof(*ix->lit_len));
    ix->lit_start = calloc(count + 1, sizeof(*ix->lit_start));
    ix->lit_out = malloc(sizeof(*ix->lit_out) * count);
    pairs = malloc(sizeof(*pairs) * count);
    if (!ix->ex || !ix->lits || !ix->lit_len || !ix->lit_start || !ix->lit_out || !pairs)
        goto cleanup;
    ix->exmask = nslots - 1;
    for (uint32_t i = 0; i < nslots; i++)
        ix->ex[i].lit = UINT32_MAX;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].kind != TRIG_EXACT)
            continue;
        uint64_t h = detect_strtab_hash(e[i].lit, e[i].len);
        uint32_t j = (uint32_t)h & ix->exmask;
        uint32_t lit = UINT32_MAX;
        for (;; j = (j + 1) & ix->exmask) {
            struct exact_slot *s = &ix->ex[j];
            if (s->lit == UINT32_MAX)
                break;
            if (s->hash == h && ix->lit_len[s->lit] == e[i].len &&
                memcmp(ix->lits[s->lit], e[i].lit, e[i].len) == 0) {
                lit = s->lit;
                break;
            }
        }
        if (lit == UINT32_MAX) {
            lit = ix->nlits++;
            ix->lits[lit] = malloc(e[i].len ? e[i].len : 1);
            if (!ix->lits[lit])
                goto cleanup;
            memcpy(ix->lits[lit], e[i].lit, e[i].len);
            ix->lit_len[lit] = e[i].len;
            uint32_t lb = e[i].len < 255 ? e[i].len : 255;
            ix->exlen[lb >> 6] |= 1ull << (lb & 63);
            if (e[i].len)
                setbit(ix->exkey, exact_key(e[i].lit, e[i].len));
            ix->ex[j].hash = h;
            ix->ex[j].lit = lit;
            ix->bytes += e[i].len;
        }
        pairs[np].state = lit;
        pairs[np].key = e[i].key;
        np++;
    }
    qsort(pairs, np, sizeof(*pairs), cmp_pair);
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        if (i > 0 && pairs[i].state == pairs[i - 1].state && pairs[i].key == pairs[i - 1].key)
            continue;
        ix->lit_out[k++] = pairs[i].key;
        ix->lit_start[pairs[i].state + 1]++;
    }
    for (uint32_t l = 0; l < ix->nlits; l++)
        ix->lit_start[l + 1] += ix->lit_start[l];
    ix->bytes += nslots * sizeof(*ix->ex) + count * 24;
    rc = 0;
cleanup:
    free(pairs);
    return rc;
}

/* ------------------------------------------------------------ index */

int tindex_build(const struct tindex_entry *e, size_t n, struct tindex **out)
{
    struct tindex *ix = calloc(1, sizeof(*ix));
    bool pre = false, suf = false, shortsub = false, longsub = false;
    int rc = -ENOMEM;

    *out = NULL;
    if (!ix)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        if (e[i].len == 0)
            continue;
        pre |= e[i].kind == TRIG_PREFIX;
        suf |= e[i].kind == TRIG_SUFFIX;
        shortsub |= e[i].kind == TRIG_SUBSTR && e[i].len < 4;
        longsub |= e[i].kind == TRIG_SUBSTR && e[i].len >= 4;
    }
    if ((rc = build_exact(ix, e, n)) < 0)
        goto cleanup;
    if (pre && (rc = trie_build(e, n, TRIG_PREFIX, UINT32_MAX, false, false, &ix->pre)) < 0)
        goto cleanup;
    if (suf && (rc = trie_build(e, n, TRIG_SUFFIX, UINT32_MAX, true, false, &ix->suf)) < 0)
        goto cleanup;
    if (shortsub && (rc = trie_build(e, n, TRIG_SUBSTR, 3, false, true, &ix->sub)) < 0)
        goto cleanup;
    if (longsub && (rc = anchored_build(e, n, 4, UINT32_MAX, &ix->anch)) < 0)
        goto cleanup;
    ix->bytes += sizeof(*ix) + (ix->pre ? ix->pre->bytes : 0) + (ix->suf ? ix->suf->bytes : 0) +
                 (ix->sub ? ix->sub->bytes : 0) + (ix->anch ? ix->anch->bytes : 0);
    *out = ix;
    ix = NULL;
    rc = 0;
cleanup:
    tindex_free(ix);
    return rc;
}

void tindex_scan(const struct tindex *ix, const char *value, size_t n, struct hitset *hs)
{
    const uint8_t *v = (const uint8_t *)value;
    uint32_t lb = n < 255 ? (uint32_t)n : 255;
    if (ix->ex && (ix->exlen[lb >> 6] >> (lb & 63) & 1) &&
        (n == 0 || bit(ix->exkey, exact_key(v, n)))) {
        uint64_t h = detect_strtab_hash_fold(v, n);
        for (uint32_t j = (uint32_t)h & ix->exmask;; j = (j + 1) & ix->exmask) {
            const struct exact_slot *s = &ix->ex[j];
            if (s->lit == UINT32_MAX)
                break;
            if (s->hash == h && ix->lit_len[s->lit] == n && eq_fold(v, ix->lits[s->lit], n)) {
                for (uint32_t i = ix->lit_start[s->lit]; i < ix->lit_start[s->lit + 1]; i++)
                    hitset_add(hs, ix->lit_out[i]);
                break;
            }
        }
    }
    if (n && ix->pre)
        walk_fwd(ix->pre, v, n, 0, hs);
    if (ix->suf)
        walk_back(ix->suf, v, n, hs);
    if (ix->anch)
        scan_anchored(ix->anch, v, n, hs);
    if (ix->sub)
        scan_short(ix->sub, v, n, hs);
}

bool tindex_walks(const struct tindex *ix)
{
    return ix->pre || ix->suf || ix->anch || ix->sub;
}

size_t tindex_bytes(const struct tindex *ix)
{
    return ix ? ix->bytes : 0;
}

void tindex_free(struct tindex *ix)
{
    if (!ix)
        return;
    for (uint32_t i = 0; i < ix->nlits; i++)
        free(ix->lits[i]);
    free(ix->lits);
    free(ix->lit_len);
    free(ix->lit_start);
    free(ix->lit_out);
    free(ix->ex);
    trie_free(ix->pre);
    trie_free(ix->suf);
    trie_free(ix->sub);
    anchored_free(ix->anch);
    free(ix);
}
