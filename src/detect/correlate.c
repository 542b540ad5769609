/*
 * correlate.c — Sigma correlation rules evaluated on a stream of events,
 * in bounded memory.
 *
 * Each correlation rule keeps, per stream, a hash of groups (one per
 * group-by value combination) and a list of them oldest first. What a
 * group holds depends on the type:
 *
 *   event_count       the times of its last N events (N = the condition's
 *                     lower bound), a ring;
 *   value_count       its distinct values (64-bit hashes) with the time
 *                     each was last seen;
 *   temporal          per referenced rule, when it last matched;
 *   temporal_ordered  per position k, the latest start of a chain that
 *                     matched rules 1..k in order.
 *
 * Conditions with only a lower bound (gt, gte; the default for temporal)
 * are checked on every event over a sliding window, and the group starts
 * over when it fires. Conditions with an upper bound (lt, lte, eq, neq)
 * can only be judged when a window is complete: the window starts at the
 * group's first event and is evaluated when time passes its end (a later
 * event, detect_stream_advance() or detect_stream_flush()).
 *
 * Memory: at most corr_max_groups groups per correlation (the oldest is
 * evicted) and corr_max_entries times or values per group; every eviction
 * of live data is counted in the stream statistics. Groups whose window
 * has passed are released as time advances.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

#define UNSET INT64_MIN

struct vent {
    uint64_t h;
    int64_t t;
};

struct cgroup {
    struct cgroup *hnext;      /* hash chain */
    struct cgroup *prev, *next;/* age list, oldest first */
    uint64_t hash;
    int64_t first, last;       /* first and last event time in the group */
    uint64_t count;            /* fixed-window event count */
    uint32_t n, cap, head;     /* entries in times[] (ring) or vals[] */
    int64_t *times;            /* event_count: ring; temporal*: per position */
    struct vent *vals;         /* value_count */
    uint16_t nparts;
    uint16_t *part_off, *part_len;
    uint32_t keylen;
    char *key;                 /* group-by values, truncated to DETECT_MAX_GROUP_KEY */
};

struct cstate {
    const struct rule *r;
    const struct corr_def *cd;
    struct cgroup **buckets;
    uint32_t nbuckets;         /* power of two */
    struct cgroup *head, *tail;
    uint32_t ngroups;
    bool close_eval;           /* judge when the window closes */
    bool fixed;                /* fixed windows from the first event */
    uint32_t entry_cap;
};

struct detect_stream {
    const struct detect_engine *eng;
    struct cstate *cs;
    uint32_t ncs;
    bool any_close;
    int64_t now;
    struct detect_stream_stats stats;
    char keybuf[DETECT_MAX_GROUP_KEY];
    uint16_t offs[32], lens[32];
    char groupbuf[2048];
};

/* Where group-by values come from: the event, or the group of a
 * correlation that fired and feeds this one. */
struct csrc {
    struct detect_event *ev;
    const struct cgroup *inner;
};

const struct detect_engine *corr_stream_engine(const struct detect_stream *st)
{
    return st->eng;
}

struct detect_stream *detect_stream_new(const struct detect_engine *eng, char *err, size_t errlen)
{
    struct detect_stream *st;

    if (!eng || !eng->compiled) {
        snprintf(err, errlen, "the engine must be compiled before a stream is made");
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (!st)
        goto nomem;
    st->eng = eng;
    st->ncs = eng->ncorr;
    st->now = UNSET;
    if (st->ncs) {
        st->cs = calloc(st->ncs, sizeof(*st->cs));
        if (!st->cs)
            goto nomem;
    }
    for (uint32_t i = 0; i < st->ncs; i++) {
        struct cstate *cs = &st->cs[i];
        cs->r = eng->corrs[i];
        cs->cd = cs->r->corr;
        cs->close_eval = cs->cd->window_close;
        cs->fixed = cs->close_eval || (cs->cd->type == CORR_EVENT_COUNT &&
                                       cs->cd->threshold > eng->cfg.corr_max_entries);
        cs->entry_cap = eng->cfg.corr_max_entries;
        st->any_close |= cs->fixed;
    }
    return st;
nomem:
    snprintf(err, errlen, "out of memory creating a correlation stream");
    detect_stream_free(st);
    return NULL;
}

static void group_free(struct cgroup *g)
{
    if (!g)
        return;
    free(g->times);
    free(g->vals);
    free(g);
}

void detect_stream_free(struct detect_stream *st)
{
    if (!st)
        return;
    for (uint32_t i = 0; i < st->ncs; i++) {
        struct cgroup *g = st->cs[i].head;
        while (g) {
            struct cgroup *next = g->next;
            group_free(g);
            g = next;
        }
        free(st->cs[i].buckets);
    }
    free(st->cs);
    free(st);
}

void detect_stream_stats(const struct detect_stream *st, struct detect_stream_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!st)
        return;
    *out = st->stats;
    out->groups = 0;
    for (uint32_t i = 0; i < st->ncs; i++)
        out->groups += st->cs[i].ngroups;
}

/* ------------------------------------------------------------ groups */

static void unlink_group(struct cstate *cs, struct cgroup *g)
{
    struct cgroup **pp = &cs->buckets[g->hash & (cs->nbuckets - 1)];
    while (*pp && *pp != g)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = g->hnext;
    if (g->prev)
        g->prev->next = g->next;
    else
        cs->head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    else
        cs->tail = g->prev;
    cs->ngroups--;
}

static void remove_group(struct cstate *cs, struct cgroup *g)
{
    unlink_group(cs, g);
    group_free(g);
}

static void move_to_tail(struct cstate *cs, struct cgroup *g)
{
    if (cs->tail == g)
        return;
    if (g->prev)
        g->prev->next = g->next;
    else
        cs->head = g->next;
    g->next->prev = g->prev;
    g->prev = cs->tail;
    g->next = NULL;
    cs->tail->next = g;
    cs->tail = g;
}

static int grow_buckets(struct cstate *cs)
{
    uint32_t nb = cs->nbuckets ? cs->nbuckets * 2 : 64;
    struct cgroup **b = calloc(nb, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (struct cgroup *g = cs->head; g; g = g->next) {
        uint32_t i = (uint32_t)(g->hash & (nb - 1));
        g->hnext = b[i];
        b[i] = g;
    }
    free(cs->buckets);
    cs->buckets = b;
    cs->nbuckets = nb;
    return 0;
}

static bool src_value(const struct detect_stream *st, const struct csrc *src, bool from_corr,
                      uint32_t id, const char **p, size_t *n)
{
    (void)st;
    if (from_corr) {
        const struct cgroup *g = src->inner;
        if (!g || id >= g->nparts)
            return false;
        *p = g->key + g->part_off[id];
        *n = g->part_len[id];
        return true;
    }
    return src->ev && event_get(src->ev, id, p, n);
}

/* Builds the group key of the source in st->keybuf; returns its hash. */
static uint64_t build_key(struct detect_stream *st, const struct corr_def *cd, uint32_t k,
                          bool from_corr, const struct csrc *src, uint32_t *keylen)
{
    uint64_t h = 0x6a09e667f3bcc909ull;
    uint32_t off = 0;
    for (uint32_t g = 0; g < cd->ngroup; g++) {
        const char *v = "";
        size_t n = 0;
        src_value(st, src, from_corr, cd->group_ids[k * cd->ngroup + g], &v, &n);
        h = (h ^ detect_strtab_hash(v, n)) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 31;
        size_t room = sizeof(st->keybuf) - off;
        size_t c = n < room ? n : room;
        memcpy(st->keybuf + off, v, c);
        st->offs[g] = (uint16_t)off;
        st->lens[g] = (uint16_t)c;
        off += (uint32_t)c;
    }
    *keylen = off;
    return h;
}

static struct cgroup *find_group(struct cstate *cs, uint64_t h, const char *key, uint32_t keylen)
{
    if (!cs->nbuckets)
        return NULL;
    for (struct cgroup *g = cs->buckets[h & (cs->nbuckets - 1)]; g; g = g->hnext)
        if (g->hash == h && g->keylen == keylen && memcmp(g->key, key, keylen) == 0)
            return g;
    return NULL;
}

static struct cgroup *new_group(struct detect_stream *st, struct cstate *cs, uint64_t h,
                                uint32_t keylen, int64_t t)
{
    const struct corr_def *cd = cs->cd;
    if (cs->ngroups >= st->eng->cfg.corr_max_groups && cs->head) {
        remove_group(cs, cs->head);
        st->stats.groups_evicted++;
    }
    if (cs->ngroups + 1 > cs->nbuckets && grow_buckets(cs) < 0)
        return NULL;
    size_t parts = cd->ngroup * sizeof(uint16_t);
    struct cgroup *g = calloc(1, sizeof(*g) + 2 * parts + keylen + 1);
    if (!g)
        return NULL;
    g->part_off = (uint16_t *)(g + 1);
    g->part_len = g->part_off + cd->ngroup;
    g->key = (char *)(g->part_len + cd->ngroup);
    memcpy(g->key, st->keybuf, keylen);
    memcpy(g->part_off, st->offs, parts);
    memcpy(g->part_len, st->lens, parts);
    g->nparts = (uint16_t)cd->ngroup;
    g->keylen = keylen;
    g->hash = h;
    g->first = g->last = t;
    if (cd->type == CORR_TEMPORAL || cd->type == CORR_TEMPORAL_ORDERED) {
        g->times = malloc(sizeof(*g->times) * cd->nrefs);
        if (!g->times) {
            free(g);
            return NULL;
        }
        for (uint32_t i = 0; i < cd->nrefs; i++)
            g->times[i] = UNSET;
        g->n = g->cap = cd->nrefs;
    }
    uint32_t b = (uint32_t)(h & (cs->nbuckets - 1));
    g->hnext = cs->buckets[b];
    cs->buckets[b] = g;
    g->prev = cs->tail;
    if (cs->tail)
        cs->tail->next = g;
    else
        cs->head = g;
    cs->tail = g;
    cs->ngroups++;
    return g;
}

/* ------------------------------------------------------------ conditions */

static bool cond_ok(const struct corr_cond *c, int64_t n)
{
    return (!c->has_gt || n > c->gt) && (!c->has_gte || n >= c->gte) &&
           (!c->has_lt || n < c->lt) && (!c->has_lte || n <= c->lte) &&
           (!c->has_eq || n == c->eq) && (!c->has_neq || n != c->neq);
}

/* The count a group stands at, at time `now`. */
static int64_t group_count(const struct cstate *cs, const struct cgroup *g, int64_t now,
                           int64_t *first)
{
    const struct corr_def *cd = cs->cd;
    int64_t from = cs->fixed ? g->first : now - cd->span_ns;
    int64_t n = 0;
    *first = g->first;
    switch (cd->type) {
    case CORR_EVENT_COUNT:
        if (cs->fixed)
            return (int64_t)g->count;
        if (g->n)
            *first = g->times[g->head];
        return g->n;
    case CORR_VALUE_COUNT:
        *first = INT64_MAX;
        for (uint32_t i = 0; i < g->n; i++)
            if (g->vals[i].t >= from) {
                n++;
                if (g->vals[i].t < *first)
                    *first = g->vals[i].t;
            }
        if (!n)
            *first = g->first;
        return n;
    case CORR_TEMPORAL:
        *first = INT64_MAX;
        for (uint32_t i = 0; i < cd->nrefs; i++) {
            bool dup = false;
            for (uint32_t j = 0; j < i; j++)
                dup |= cd->ref_rules[j] == cd->ref_rules[i];
            if (!dup && g->times[i] != UNSET && g->times[i] >= from) {
                n++;
                if (g->times[i] < *first)
                    *first = g->times[i];
            }
        }
        if (!n)
            *first = g->first;
        return n;
    case CORR_TEMPORAL_ORDERED:
        for (uint32_t i = cd->nrefs; i-- > 0;) {
            if (g->times[i] != UNSET && g->times[i] >= from) {
                *first = g->times[i];
                return i + 1;
            }
        }
        return 0;
    }
    return 0;
}

/* ------------------------------------------------------------ firing */

static int feed_one(struct detect_stream *st, struct cstate *cs, uint32_t from_rule,
                    const struct csrc *src, int64_t t, detect_match_fn fn, void *ctx,
                    int *nmatches);

static const char *format_group(struct detect_stream *st, const struct cstate *cs,
                                const struct cgroup *g)
{
    size_t off = 0;
    st->groupbuf[0] = '\0';
    for (uint32_t i = 0; i < g->nparts && off < sizeof(st->groupbuf); i++) {
        int w = snprintf(st->groupbuf + off, sizeof(st->groupbuf) - off, "%s%s=%.*s",
                         i ? ", " : "", cs->cd->group[i], (int)g->part_len[i],
                         g->key + g->part_off[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    return st->groupbuf;
}

/* Reports a correlation match and feeds the correlations that reference
 * this one. The group is removed afterwards (it starts over). */
static int fire(struct detect_stream *st, struct cstate *cs, struct cgroup *g, int64_t count,
                int64_t first, int64_t last, detect_match_fn fn, void *ctx, int *nmatches)
{
    const struct rule *r = cs->r;
    struct detect_match m;
    int rc = 0;

    memset(&m, 0, sizeof(m));
    m.kind = DETECT_MATCH_CORRELATION;
    m.rule = &r->info;
    m.suppressed = r->suppressed;
    m.group = format_group(st, cs, g);
    m.count = (uint64_t)count;
    m.first_ns = first;
    m.last_ns = last;
    st->stats.fired++;
    (*nmatches)++;
    if (fn)
        rc = fn(ctx, &m);
    if (!rc) {
        struct csrc src = {NULL, g};
        for (uint32_t i = 0; i < r->nfeeds && !rc; i++) {
            const struct rule *outer = st->eng->rules[r->feeds[i]];
            rc = feed_one(st, &st->cs[outer->corr_slot], r->index, &src, last, fn, ctx,
                          nmatches);
        }
    }
    remove_group(cs, g);
    return rc;
}

/* Releases groups whose window ended before `now`; fixed windows with an
 * upper-bound condition are judged first. */
static int expire(struct detect_stream *st, struct cstate *cs, int64_t now, bool all,
                  detect_match_fn fn, void *ctx, int *nmatches)
{
    int rc = 0;
    while (cs->head && !rc) {
        struct cgroup *g = cs->head;
        int64_t end = (cs->fixed ? g->first : g->last) + cs->cd->span_ns;
        if (!all && end >= now)
            break;
        if (cs->close_eval) {
            int64_t first, n = group_count(cs, g, g->last, &first);
            if (cond_ok(&cs->cd->cond, n)) {
                rc = fire(st, cs, g, n, first, g->last, fn, ctx, nmatches);
                continue;
            }
        }
        remove_group(cs, g);
    }
    return rc;
}

/* ------------------------------------------------------------ feeding */

static int update_values(struct detect_stream *st, struct cstate *cs, struct cgroup *g,
                         uint64_t vh, int64_t t)
{
    int64_t from = cs->fixed ? INT64_MIN : t - cs->cd->span_ns;
    uint32_t k = 0;
    /* drop values seen before the window */
    for (uint32_t i = 0; i < g->n; i++)
        if (g->vals[i].t >= from)
            g->vals[k++] = g->vals[i];
    g->n = k;
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->vals[i].h == vh) {
            if (t > g->vals[i].t)
                g->vals[i].t = t;
            return 0;
        }
    }
    if (g->n == cs->entry_cap) {
        uint32_t old = 0;
        for (uint32_t i = 1; i < g->n; i++)
            if (g->vals[i].t < g->vals[old].t)
                old = i;
        g->vals[old] = g->vals[--g->n];
        st->stats.entries_evicted++;
    }
    if (g->n == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 8;
        if (cap > cs->entry_cap)
            cap = cs->entry_cap;
        struct vent *nv = realloc(g->vals, sizeof(*nv) * cap);
        if (!nv)
            return -ENOMEM;
        g->vals = nv;
        g->cap = cap;
    }
    g->vals[g->n].h = vh;
    g->vals[g->n].t = t;
    g->n++;
    return 0;
}

static int update_times(struct cstate *cs, struct cgroup *g, int64_t t)
{
    uint32_t cap = (uint32_t)cs->cd->threshold;
    if (!g->times) {
        g->times = malloc(sizeof(*g->times) * (cap < 8 ? cap : 8));
        if (!g->times)
            return -ENOMEM;
        g->cap = cap < 8 ? cap : 8;
    }
    if (g->n == cap) {
        /* full at the threshold: the oldest can no longer matter */
        g->head = (g->head + 1) % g->cap;
        g->n--;
    }
    if (g->n == g->cap) {
        /* grow the ring, unrolled to start at 0 */
        uint32_t ncap = g->cap * 2 > cap ? cap : g->cap * 2;
        int64_t *nt = malloc(sizeof(*nt) * ncap);
        if (!nt)
            return -ENOMEM;
        for (uint32_t i = 0; i < g->n; i++)
            nt[i] = g->times[(g->head + i) % g->cap];
        free(g->times);
        g->times = nt;
        g->cap = ncap;
        g->head = 0;
    }
    g->times[(g->head + g->n) % g->cap] = t;
    g->n++;
    /* drop what left the window */
    int64_t from = t - cs->cd->span_ns;
    while (g->n && g->times[g->head] < from) {
        g->head = (g->head + 1) % g->cap;
        g->n--;
    }
    return 0;
}

static int feed_one(struct detect_stream *st, struct cstate *cs, uint32_t from_rule,
                    const struct csrc *src, int64_t t, detect_match_fn fn, void *ctx,
                    int *nmatches)
{
    const struct corr_def *cd = cs->cd;
    bool from_corr = st->eng->rules[from_rule]->corr != NULL;
    uint32_t k0 = UINT32_MAX, keylen;
    int rc;

    for (uint32_t k = 0; k < cd->nrefs && k0 == UINT32_MAX; k++)
        if (cd->ref_rules[k] == from_rule)
            k0 = k;
    if (k0 == UINT32_MAX)
        return 0;
    if ((rc = expire(st, cs, t, false, fn, ctx, nmatches)) != 0)
        return rc;
    uint64_t h = build_key(st, cd, k0, from_corr, src, &keylen);
    struct cgroup *g = find_group(cs, h, st->keybuf, keylen);
    if (!g) {
        g = new_group(st, cs, h, keylen, t);
        if (!g)
            return -ENOMEM;
    }
    if (t > g->last)
        g->last = t;
    if (t < g->first && !cs->fixed)
        g->first = t;
    switch (cd->type) {
    case CORR_EVENT_COUNT:
        if (cs->fixed)
            g->count++;
        else if ((rc = update_times(cs, g, t)) < 0)
            return rc;
        break;
    case CORR_VALUE_COUNT: {
        uint64_t vh = 0x243f6a8885a308d3ull;
        for (uint32_t i = 0; i < cd->nvfield; i++) {
            const char *v = "";
            size_t n = 0;
            src_value(st, src, from_corr, cd->vfield_ids[k0 * cd->nvfield + i], &v, &n);
            vh = (vh ^ detect_strtab_hash(v, n)) * 0x9e3779b97f4a7c15ull;
            vh ^= vh >> 29;
        }
        if ((rc = update_values(st, cs, g, vh, t)) < 0)
            return rc;
        break;
    }
    case CORR_TEMPORAL:
        for (uint32_t k = 0; k < cd->nrefs; k++)
            if (cd->ref_rules[k] == from_rule && t > g->times[k])
                g->times[k] = t;
        break;
    case CORR_TEMPORAL_ORDERED:
        /* positions from the last, so one event advances a chain by one */
        for (uint32_t k = cd->nrefs; k-- > 0;) {
            if (cd->ref_rules[k] != from_rule)
                continue;
            if (k == 0) {
                g->times[0] = t;
            } else if (g->times[k - 1] != UNSET && t - g->times[k - 1] <= cd->span_ns &&
                       t >= g->times[k - 1]) {
                if (g->times[k] == UNSET || g->times[k - 1] > g->times[k])
                    g->times[k] = g->times[k - 1];
            }
        }
        break;
    }
    if (!cs->fixed)
        move_to_tail(cs, g);
    if (cs->close_eval)
        return 0;
    int64_t first, n = group_count(cs, g, t, &first);
    if (n >= cd->threshold && cond_ok(&cd->cond, n))
        return fire(st, cs, g, n, first, t, fn, ctx, nmatches);
    return 0;
}

static int64_t event_time(struct detect_stream *st, struct detect_event *ev)
{
    const char *v;
    size_t n;
    int64_t t;
    if (ev->has_time)
        return ev->time_ns;
    if (event_get(ev, st->eng->id_time, &v, &n) && detect_parse_time(v, n, &t))
        return t;
    return st->now == UNSET ? 0 : st->now;
}

int corr_tick(struct detect_stream *st, struct detect_event *ev, detect_match_fn fn, void *ctx,
              int *nmatches)
{
    if (!st->any_close)
        return 0;
    int64_t t = event_time(st, ev);
    if (st->now != UNSET && t <= st->now)
        return 0;
    st->now = t;
    for (uint32_t i = 0; i < st->ncs; i++) {
        if (!st->cs[i].fixed)
            continue;
        int rc = expire(st, &st->cs[i], t, false, fn, ctx, nmatches);
        if (rc)
            return rc;
    }
    return 0;
}

int corr_feed(struct detect_stream *st, struct detect_event *ev, uint32_t rule,
              detect_match_fn fn, void *ctx, int *nmatches)
{
    const struct rule *r = st->eng->rules[rule];
    struct csrc src = {ev, NULL};
    int64_t t = event_time(st, ev);
    if (st->now == UNSET || t > st->now)
        st->now = t;
    for (uint32_t i = 0; i < r->nfeeds; i++) {
        const struct rule *c = st->eng->rules[r->feeds[i]];
        int rc = feed_one(st, &st->cs[c->corr_slot], rule, &src, t, fn, ctx, nmatches);
        if (rc)
            return rc;
    }
    return 0;
}

int detect_stream_advance(struct detect_stream *st, int64_t now_ns, detect_match_fn fn, void *ctx)
{
    int n = 0;
    if (!st)
        return -EINVAL;
    if (st->now == UNSET || now_ns > st->now)
        st->now = now_ns;
    for (uint32_t i = 0; i < st->ncs; i++) {
        int rc = expire(st, &st->cs[i], now_ns, false, fn, ctx, &n);
        if (rc)
            return rc < 0 ? rc : n;
    }
    return n;
}

int detect_stream_flush(struct detect_stream *st, detect_match_fn fn, void *ctx)
{
    int n = 0;
    if (!st)
        return -EINVAL;
    for (uint32_t i = 0; i < st->ncs; i++) {
        int rc = expire(st, &st->cs[i], 0, true, fn, ctx, &n);
        if (rc)
            return rc < 0 ? rc : n;
    }
    return n;
}
