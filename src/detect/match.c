/*
 * match.c — matching one event: pick its class, collect candidate rules
 * from the literal indexes, evaluate each candidate's graph, report the
 * matches with their evidence and feed the correlations.
 *
 * Evaluation short-circuits (and, or) and never allocates; only a rule that
 * matched is evaluated a second time in "explain" mode to record which field
 * conditions made it true (the evidence array grows when needed, then
 * stays).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"
#include "detect/fieldmap.h"
#include "detect/pattern.h"
#include "detect/tindex.h"

/* ------------------------------------------------------------ classes */

/* The class keys (ActionType, EventType, Protocol) are Yamori fields that
 * no class maps, so reading them before the class is known is safe. */
static const struct dclass *classify(struct detect_event *ev)
{
    const struct detect_engine *eng = ev->eng;
    const char *v;
    size_t n;
    int32_t c = -1;

    if (eng->cfg.schema == DETECT_SCHEMA_FLAT)
        return &eng->classes[0];
    ev->cls = NULL;
    if (event_get(ev, eng->id_action_type, &v, &n)) {
        if (n && n == ev->last_key_len && memcmp(v, ev->last_key, n) == 0)
            return &eng->classes[ev->last_key_class];
        int32_t k = detect_strtab_find(&eng->class_keys, v, n);
        if (k >= 0) {
            c = eng->class_of_key[k];
            if (c >= 0 && n > 0 && n <= sizeof(ev->last_key)) {
                memcpy(ev->last_key, v, n);
                ev->last_key_len = (uint32_t)n;
                ev->last_key_class = c;
            }
            if (c == -2) {
                char key[80];
                c = eng->class_logon_other;
                if (event_get(ev, eng->id_protocol, &v, &n) && n < sizeof(key) - 7) {
                    memcpy(key, "logon:", 6);
                    for (size_t i = 0; i < n; i++)
                        key[6 + i] = (char)detect_fold[(uint8_t)v[i]];
                    int32_t pk = detect_strtab_find(&eng->class_keys, key, 6 + n);
                    if (pk >= 0)
                        c = eng->class_of_key[pk];
                }
            }
        }
    }
    if (c < 0) {
        if (event_get(ev, eng->id_event_type, &v, &n))
            c = (int32_t)fieldmap_fallback(v, n);
        else
            c = eng->class_other;
    }
    return &eng->classes[c];
}

/* ------------------------------------------------------------ values */

static bool fold_eq(const char *a, const char *b, size_t n, bool cased)
{
    if (cased)
        return memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (detect_fold[(uint8_t)a[i]] != detect_fold[(uint8_t)b[i]])
            return false;
    return true;
}

/* value v against the other field's value r */
static bool ref_match(uint8_t shape, const char *v, size_t n, const char *r, size_t rn, bool cased)
{
    switch (shape) {
    case G_EXACT:
        return n == rn && fold_eq(v, r, n, cased);
    case G_PREFIX:
        return n >= rn && fold_eq(v, r, rn, cased);
    case G_SUFFIX:
        return n >= rn && fold_eq(v + n - rn, r, rn, cased);
    case G_CONTAINS:
        if (rn > n)
            return false;
        for (size_t i = 0; i + rn <= n; i++)
            if (fold_eq(v + i, r, rn, cased))
                return true;
        return false;
    default:
        return false;
    }
}

bool detect_eval_value(struct detect_event *ev, const struct vm *m, const char *v, size_t n)
{
    double x;
    switch (m->kind) {
    case VM_GLOB:
        return pattern_glob(m, v, n);
    case VM_RE: {
        if (n < m->minlen)
            return false;
        /* a literal of each run the expression needs, before PCRE2 */
        for (uint32_t i = 0; i < m->nreq; i++) {
            const struct relit_set *q = &m->req[i];
            uint32_t k = 0;
            while (k < q->n && pattern_find((const uint8_t *)v, n, 0, q->lit[k], q->len[k],
                                            q->anchor[k], false) < 0)
                k++;
            if (k == q->n)
                return false;
        }
        int rc = pcre2_match(m->re, (PCRE2_SPTR)v, n, 0, 0, ev->md, ev->mctx);
        if (rc >= 0)
            return true;
        if (rc != PCRE2_ERROR_NOMATCH)
            ev->stats.regex_limit_hits++;
        return false;
    }
    case VM_CIDR:
        return pattern_cidr(m, v, n);
    case VM_NUM:
        return pattern_number(v, n, &x) && pattern_cmp(x, m->op, m->num);
    case VM_TIME:
        return pattern_time_part(v, n, m->time_part, &x) && pattern_cmp(x, m->op, m->num);
    case VM_NULL:
        return n == 0;
    case VM_EXISTS:
        return m->exists;
    case VM_FIELDREF: {
        const char *r;
        size_t rn;
        if (!event_get(ev, m->ref, &r, &rn))
            return false;
        return ref_match(m->shape, v, n, r, rn, m->cased);
    }
    }
    return false;
}

/* ------------------------------------------------------------ evidence */

static void add_evidence(struct detect_event *ev, const struct fcond *fc, const char *event_field,
                         const char *v, size_t n, const char *pattern)
{
    if (ev->nevidence == ev->capevidence) {
        uint32_t cap = ev->capevidence ? ev->capevidence * 2 : 16;
        struct detect_evidence *ne = realloc(ev->evidence, sizeof(*ne) * cap);
        if (!ne)
            return;   /* evidence is best effort; the match still counts */
        ev->evidence = ne;
        ev->capevidence = cap;
    }
    struct detect_evidence *e = &ev->evidence[ev->nevidence++];
    e->field = fc->spec;
    e->event_field = event_field;
    e->value = v;
    e->value_len = n;
    e->pattern = pattern;
}

/* The name of the field a value was read from (the mapping's target). */
static const char *source_name(struct detect_event *ev, uint32_t id)
{
    const struct dclass *c = ev->cls;
    const struct detect_engine *eng = ev->eng;
    if (c && c->alias) {
        int32_t a = c->alias[id];
        if (a >= 0) {
            const struct slot *t = &ev->slots[a];
            if (t->tag == ev->gen + 1 && t->p == ev->slots[id].p)
                return detect_strtab_name(&eng->fields, (uint32_t)a);
        }
        if (a <= -2) {
            const struct derive *d = &c->derived[-2 - a];
            if (d->kind != DERIVE_CONST)
                return detect_strtab_name(&eng->fields, d->src);
            return detect_strtab_name(&eng->fields, eng->id_action_type);
        }
    }
    return detect_strtab_name(&eng->fields, id);
}

/* ------------------------------------------------------------ evaluation */

/* Yamori events: keywords look at the text fields only. */
/* A keyword value (group of variants) found in some field of the event:
 * the text fields for Yamori events, every value for flat ones. */
static bool keyword_found(struct detect_event *ev, const struct fcond *fc, uint32_t k0,
                          uint32_t k1, bool explain)
{
    const struct detect_engine *eng = ev->eng;
    uint32_t nf = eng->ntext ? eng->ntext : ev->nvals;
    for (uint32_t t = 0; t < nf; t++) {
        const char *v, *name = NULL;
        size_t n;
        uint64_t have = ~0ull;   /* bytes the value may hold */
        if (eng->ntext) {
            if (!event_get(ev, eng->text_ids[t], &v, &n))
                continue;
            /* which bytes the field holds, once per match: a keyword
             * needing another one is not looked for (the shell-history
             * rule tries 15 keywords in each text field) */
            if (ev->tmask_at[t] != ev->stats.events) {
                ev->tmask_at[t] = ev->stats.events;
                ev->tmask[t] = detect_byte_mask((const uint8_t *)v, n);
            }
            have = ev->tmask[t];
        } else {
            v = ev->vals[t].v;
            n = ev->vals[t].vlen;
            name = ev->vals[t].name;
        }
        for (uint32_t k = k0; k < k1; k++) {
            if (fc->vms[k].need & ~have)
                continue;
            if (detect_eval_value(ev, &fc->vms[k], v, n)) {
                if (!name)
                    name = detect_strtab_name(&eng->fields, eng->text_ids[t]);
                if (explain)
                    add_evidence(ev, fc, name, v, n, fc->vms[k].text);
                return true;
            }
        }
    }
    return false;
}

static bool eval_keywords(struct detect_event *ev, const struct fcond *fc, bool explain)
{
    if (!fc->all)
        return keyword_found(ev, fc, 0, fc->nvm, explain);
    for (uint32_t k = 0; k < fc->nvm;) {
        uint32_t e = k;
        while (e < fc->nvm && fc->vms[e].group == fc->vms[k].group)
            e++;
        if (!keyword_found(ev, fc, k, e, explain))
            return false;
        k = e;
    }
    return true;
}

static bool eval_fcond(struct detect_event *ev, const struct fcond *fc, bool explain)
{
    const char *v;
    size_t n;
    bool r;
    int hit = -1;

    if (fc->field == FIELD_ANY)
        return eval_keywords(ev, fc, explain);
    if (!event_get(ev, fc->field, &v, &n)) {
        r = fc->absent_match != fc->negate;
        if (r && explain)
            add_evidence(ev, fc, source_name(ev, fc->field), "", 0,
                         fc->negate ? "(absent)" : fc->vms[0].text);
        return r;
    }
    if (fc->all) {
        /* every value written; a value expanded to variants (base64offset,
         * placeholders) holds when one variant does */
        r = true;
        for (uint32_t k = 0; k < fc->nvm && r;) {
            uint32_t g = fc->vms[k].group;
            bool any = false;
            for (; k < fc->nvm && fc->vms[k].group == g; k++)
                if (!any && detect_eval_value(ev, &fc->vms[k], v, n)) {
                    any = true;
                    if (hit < 0)
                        hit = (int)k;
                }
            r = any;
        }
    } else if (fc->dispatch) {
        /* only the values sharing the value's first or last byte can
         * hold; none can when it is empty (struct fcond) */
        r = false;
        if (n > 0) {
            uint8_t b = (uint8_t)v[fc->dispatch == DISPATCH_FIRST ? 0 : n - 1];
            b = (fc->vms[0].cased ? b : detect_fold[b]) & 63;
            for (uint32_t j = fc->dstart[b]; j < fc->dstart[b + 1] && !r; j++) {
                const struct vm *m = &fc->vms[fc->dvm[j]];
                r = pattern_shape(m->shape, m->lit, m->lit_len, m->anchor, v, n, m->cased);
                if (r)
                    hit = (int)fc->dvm[j];
            }
        }
    } else {
        r = false;
        for (uint32_t k = 0; k < fc->nvm && !r; k++) {
            r = detect_eval_value(ev, &fc->vms[k], v, n);
            if (r)
                hit = (int)k;
        }
    }
    if (fc->negate)
        r = !r;
    if (r && explain) {
        const char *src = source_name(ev, fc->field);
        if (fc->negate)
            add_evidence(ev, fc, src, v, n, "(none of the values)");
        else if (fc->all)
            for (uint32_t k = 0; k < fc->nvm; k++) {
                if (k > 0 && fc->vms[k].group == fc->vms[k - 1].group)
                    continue;
                add_evidence(ev, fc, src, v, n, fc->vms[k].text);
            }
        else
            add_evidence(ev, fc, src, v, n, fc->vms[hit].text);
    }
    return r;
}

static bool eval_node(struct detect_event *ev, const struct rule *r, uint32_t ni, bool explain)
{
    const struct node *nd = &r->nodes[ni];
    uint32_t mark = ev->nevidence;
    bool res = false;

    switch (nd->op) {
    case N_FCOND:
        return eval_fcond(ev, &r->fconds[nd->arg], explain);
    case N_TRUE:
        return true;
    case N_FALSE:
        return false;
    case N_AND:
        res = true;
        for (uint32_t i = 0; i < nd->nkids && res; i++)
            res = eval_node(ev, r, nd->kids[i], explain);
        break;
    case N_OR:
        for (uint32_t i = 0; i < nd->nkids && !res; i++)
            res = eval_node(ev, r, nd->kids[i], explain);
        break;
    case N_NOT:
        res = !eval_node(ev, r, nd->kids[0], explain);
        ev->nevidence = mark;   /* what did not hold is no evidence */
        return res;
    case N_ATLEAST: {
        uint32_t k = 0;
        for (uint32_t i = 0; i < nd->nkids && (explain || k < nd->arg); i++) {
            uint32_t before = ev->nevidence;
            if (eval_node(ev, r, nd->kids[i], explain))
                k++;
            else
                ev->nevidence = before;
        }
        res = k >= nd->arg;
        break;
    }
    }
    if (!res)
        ev->nevidence = mark;
    return res;
}

bool detect_eval_rule(struct detect_event *ev, const struct rule *r, bool explain)
{
    if (explain)
        ev->nevidence = 0;
    return eval_node(ev, r, r->root, explain);
}

/* ------------------------------------------------------------ detect_match */

/* The memo's hash of (index, value): 8 bytes at a time, the last word
 * overlapping (values are short; equality is checked byte for byte). */
static inline uint64_t memo_hash(const struct tindex *ix, const char *v, size_t n)
{
    uint64_t h = ((uintptr_t)ix ^ n) * 0x9e3779b97f4a7c15ull, x;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, v + i, 8);
        h = (h ^ x) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    if (i < n) {
        if (n >= 8) {
            memcpy(&x, v + n - 8, 8);
        } else if (n >= 4) {
            uint32_t a, b;
            memcpy(&a, v, 4);
            memcpy(&b, v + n - 4, 4);
            x = (uint64_t)a << 32 | b;
        } else {
            x = (uint64_t)(uint8_t)v[0] | (uint64_t)(uint8_t)v[n / 2] << 8 |
                (uint64_t)(uint8_t)v[n - 1] << 16;
        }
        h ^= x;
    }
    h ^= h >> 32;
    h *= 0x94d049bb133111ebull;
    return h ^ h >> 29;
}

/* Equal bytes, 8 at a time, the last word overlapping. */
static inline bool memo_same(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    if (n < 8)
        return memcmp(a, b, n) == 0;
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return false;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
}

/* Scans one value with a field's index, through the event's memo of
 * earlier scans (detect_int.h): the keys are the same either way. */
static void scan_value(struct detect_event *ev, const struct findex *fx, const char *v, size_t n,
                       struct hitset *hs)
{
    ev->stats.scans++;
    if (!fx->memo || n > SCAN_MEMO_BYTES) {
        tindex_scan(fx->ix, v, n, hs);
        return;
    }
    uint64_t h = memo_hash(fx->ix, v, n);
    struct scan_memo *m = &ev->memo[(h >> 40) & (SCAN_MEMO_SLOTS - 2)];   /* two ways */
    for (int w = 0; w < 2; w++)
        if (m[w].hash == h && m[w].ix == fx->ix && m[w].len == n &&
            memo_same(m[w].value, v, n)) {
            for (uint32_t i = 0; i < m[w].nkeys; i++)
                hitset_add(hs, m[w].keys[i]);
            m[w].used = ev->stats.events;
            ev->stats.scans_remembered++;
            return;
        }
    /* a value seen once is only noted: one-off values (most command
     * lines) would push out the ones that come back */
    uint64_t *seen = &ev->memo_seen[(h >> 20) & (SCAN_MEMO_SEEN - 1)];
    if (*seen != h) {
        *seen = h;
        tindex_scan(fx->ix, v, n, hs);
        return;
    }
    uint32_t keys[SCAN_MEMO_KEYS];
    hs->rec = keys;
    hs->nrec = 0;
    hs->caprec = SCAN_MEMO_KEYS;
    tindex_scan(fx->ix, v, n, hs);
    hs->rec = NULL;
    if (hs->nrec > SCAN_MEMO_KEYS)
        return;   /* too many to keep */
    if (m[1].used < m[0].used)
        m++;      /* the way used less recently */
    m->ix = fx->ix;
    m->hash = h;
    m->len = (uint32_t)n;
    m->nkeys = hs->nrec;
    m->used = ev->stats.events;
    memcpy(m->keys, keys, sizeof(uint32_t) * hs->nrec);
    memcpy(m->value, v, n);
}

/* Scans a field's value (or, for keywords of flat events, every value)
 * with its index. */
static void scan_field(struct detect_event *ev, const struct findex *fx, struct hitset *hs)
{
    if (fx->field == FIELD_ANY) {
        for (uint32_t k = 0; k < ev->nvals; k++)
            tindex_scan(fx->ix, ev->vals[k].v, ev->vals[k].vlen, hs);
        return;
    }
    const char *v;
    size_t n;
    if (event_get(ev, fx->field, &v, &n))
        scan_value(ev, fx, v, n, hs);
}

static void sort_u32(uint32_t *a, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint32_t x = a[i], j = i;
        while (j > 0 && a[j - 1] > x) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int detect_match(struct detect_event *ev, struct detect_stream *st, detect_match_fn fn, void *ctx)
{
    const struct detect_engine *eng;
    const struct dclass *c;
    struct hitset hs;
    int nmatches = 0;

    if (!ev)
        return -EINVAL;
    eng = ev->eng;
    if (st && corr_stream_engine(st) != eng)
        return -EINVAL;
    ev->stats.events++;
    c = classify(ev);
    ev->cls = c;
    /* a name the class maps reads the Yamori field, even when the event
     * also set it under that name (the index looks at the Yamori field) */
    for (uint32_t i = 0; i < c->nmapped; i++)
        if ((ev->slots[c->mapped[i]].tag | 1) == ev->gen + 1)
            ev->slots[c->mapped[i]].tag = 0;
    if (st) {
        /* time passing closes the windows of count-limited correlations */
        int rc = corr_tick(st, ev, fn, ctx, &nmatches);
        if (rc)
            return rc < 0 ? rc : nmatches;
    }
    if (++ev->cur_stamp == 0) {
        memset(ev->stamp, 0, sizeof(*ev->stamp) * eng->nrules);
        ev->cur_stamp = 1;
    }
    hs.stamp = ev->stamp;
    hs.mask = ev->mask;
    hs.cand = ev->cand;
    hs.n = 0;
    hs.cur = ev->cur_stamp;
    hs.rec = NULL;
    for (uint32_t i = 0; i < c->nalways; i++)
        hitset_add(&hs, TKEY(c->always[i], 0, true));
    if (ev->lookup) {
        /* any field may come from the callback: every index */
        for (uint32_t i = 0; i < c->nfidx; i++)
            scan_field(ev, &c->fidx[i], &hs);
    } else {
        /* the fields both set by the caller and indexed, then the others */
        uint32_t nw = (ev->nslots + 63) / 64;
        for (uint32_t w = 0; w < nw; w++) {
            uint64_t bits = ev->setbits[w] & c->ixbits[w];
            while (bits) {
                uint32_t id = w * 64 + (uint32_t)__builtin_ctzll(bits);
                const struct slot *sl = &ev->slots[id];
                scan_value(ev, &c->fidx[c->fidx_of[id]], sl->p, sl->len, &hs);
                bits &= bits - 1;
            }
        }
        for (uint32_t i = 0; i < c->nfidx_other; i++)
            scan_field(ev, &c->fidx[c->fidx_other[i]], &hs);
    }
    for (uint32_t i = 0; i < c->nabsent; i++) {
        const char *v;
        size_t n;
        if (!event_get(ev, c->absent[i].field, &v, &n) || n == 0)
            hitset_add(&hs, c->absent[i].key);
    }
    /* a candidate has a hit in each key set of one of its alternatives */
    uint32_t nc = 0;
    for (uint32_t i = 0; i < hs.n; i++) {
        uint32_t r = hs.cand[i];
        uint32_t m = hs.mask[r];
        const struct kneed *kn = &c->need[r];
        bool ok = (m & kn->alt[0]) == kn->alt[0];   /* a rule hit has an alternative */
        for (uint32_t a = 1; !ok && a < kn->n; a++)
            ok = (m & kn->alt[a]) == kn->alt[a];
        if (ok)
            hs.cand[nc++] = r;
    }
    hs.n = nc;
    if (hs.n < 32)
        sort_u32(hs.cand, hs.n);
    else
        qsort(hs.cand, hs.n, sizeof(*hs.cand), cmp_u32);
    for (uint32_t i = 0; i < hs.n; i++) {
        const struct rule *r = eng->rules[hs.cand[i]];
        ev->stats.candidates++;
        /* one pass records the evidence as it goes (undone where a part
         * turns out false), so a match needs no second evaluation */
        if (!detect_eval_rule(ev, r, true))
            continue;
        ev->stats.matches++;
        struct detect_match m;
        memset(&m, 0, sizeof(m));
        m.kind = DETECT_MATCH_RULE;
        m.rule = &r->info;
        m.suppressed = r->suppressed;
        m.evidence = ev->evidence;
        m.n_evidence = ev->nevidence;
        nmatches++;
        if (fn) {
            int rc = fn(ctx, &m);
            if (rc)
                return rc < 0 ? rc : nmatches;
        }
        if (st && r->nfeeds) {
            int rc = corr_feed(st, ev, r->index, fn, ctx, &nmatches);
            if (rc)
                return rc < 0 ? rc : nmatches;
        }
    }
    return nmatches;
}
