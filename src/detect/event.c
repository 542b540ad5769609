/*
 * event.c — the event a caller fills and the engine reads.
 *
 * An event is a set of (field, value) pairs, never copied: values point
 * into the caller's memory. Fields some rule names have an interned id and
 * a slot (value + generation); fields no rule names are only listed, for
 * keyword search. Clearing bumps the generation instead of wiping the
 * slots, and values the engine derives (mapped names, "SHA256=..." forms,
 * flattened JSON) go to scratch blocks that are kept between events: in
 * the steady state, an event costs no allocation.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"

struct scratch_block {
    struct scratch_block *next;
    size_t size, used;
    char data[];
};

#define SCRATCH_MIN 8192

char *detect_event_scratch(struct detect_event *ev, size_t n)
{
    struct scratch_block *b, *last = NULL;
    for (b = ev->scratch; b; last = b, b = b->next) {
        if (b->size - b->used >= n) {
            char *p = b->data + b->used;
            b->used += n;
            return p;
        }
    }
    size_t size = n > SCRATCH_MIN ? n : SCRATCH_MIN;
    b = malloc(sizeof(*b) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = n;
    if (last)
        last->next = b;
    else
        ev->scratch = b;
    return b->data;
}

static void scratch_reset(struct detect_event *ev)
{
    for (struct scratch_block *b = ev->scratch; b; b = b->next)
        b->used = 0;
}

struct detect_event *detect_event_new(const struct detect_engine *eng, char *err, size_t errlen)
{
    struct detect_event *ev = NULL;

    if (!eng || !eng->compiled) {
        snprintf(err, errlen, "the engine must be compiled before events are made");
        return NULL;
    }
    ev = calloc(1, sizeof(*ev));
    if (!ev)
        goto nomem;
    ev->eng = eng;
    ev->nslots = eng->fields.n;
    ev->slots = calloc(ev->nslots ? ev->nslots : 1, sizeof(*ev->slots));
    ev->stamp = calloc(eng->nrules ? eng->nrules : 1, sizeof(*ev->stamp));
    ev->cand = calloc(eng->nrules ? eng->nrules : 1, sizeof(*ev->cand));
    ev->mask = calloc(eng->nrules ? eng->nrules : 1, sizeof(*ev->mask));
    ev->setbits = calloc((ev->nslots + 63) / 64 + 1, sizeof(uint64_t));
    ev->memo = calloc(SCAN_MEMO_SLOTS, sizeof(*ev->memo));
    ev->memo_seen = calloc(SCAN_MEMO_SEEN, sizeof(*ev->memo_seen));
    ev->pred = malloc(sizeof(*ev->pred) * EVENT_NAME_CACHE);
    if (eng->ntext) {
        ev->tmask = calloc(eng->ntext, sizeof(*ev->tmask));
        ev->tmask_at = calloc(eng->ntext, sizeof(*ev->tmask_at));
        if (!ev->tmask || !ev->tmask_at)
            goto nomem;
    }
    ev->md = pcre2_match_data_create(1, NULL);
    ev->mctx = pcre2_match_context_create(NULL);
    if (!ev->slots || !ev->stamp || !ev->mask || !ev->setbits || !ev->memo || !ev->memo_seen || !ev->cand || !ev->pred || !ev->md ||
        !ev->mctx)
        goto nomem;
    for (uint32_t i = 0; i < EVENT_NAME_CACHE; i++)
        ev->pred[i].id = -2;
    pcre2_set_match_limit(ev->mctx, eng->cfg.regex_match_limit);
    pcre2_set_depth_limit(ev->mctx, eng->cfg.regex_depth_limit);
    pcre2_set_heap_limit(ev->mctx, 8192);  /* KiB */
    ev->gen = 2;
    ev->flat = !eng->ntext;
    ev->cur_stamp = 0;
    return ev;
nomem:
    snprintf(err, errlen, "out of memory creating an event");
    detect_event_free(ev);
    return NULL;
}

void detect_event_free(struct detect_event *ev)
{
    if (!ev)
        return;
    if (ev->json)
        json_decref(ev->json);
    struct scratch_block *b = ev->scratch;
    while (b) {
        struct scratch_block *next = b->next;
        free(b);
        b = next;
    }
    free(ev->slots);
    free(ev->vals);
    free(ev->pred);
    free(ev->tmask);
    free(ev->tmask_at);
    free(ev->stamp);
    free(ev->mask);
    free(ev->setbits);
    free(ev->memo);
    free(ev->memo_seen);
    free(ev->cand);
    free(ev->evidence);
    pcre2_match_data_free(ev->md);
    pcre2_match_context_free(ev->mctx);
    free(ev);
}

void detect_event_clear(struct detect_event *ev)
{
    if (!ev)
        return;
    ev->gen += 2;
    if (ev->gen == 0) {
        for (uint32_t i = 0; i < ev->nslots; i++)
            ev->slots[i].tag = 0;
        ev->gen = 2;
    }
    memset(ev->setbits, 0, sizeof(uint64_t) * ((ev->nslots + 63) / 64));
    ev->nvals = 0;
    ev->has_time = false;
    ev->lookup = NULL;
    ev->lookup_ctx = NULL;
    ev->cls = NULL;
    if (ev->json) {
        json_decref(ev->json);
        ev->json = NULL;
    }
    scratch_reset(ev);
}

/* A value the caller set: the slot, and the field's bit in the set of
 * fields set (the matcher walks the fields both set and indexed). */
static inline void slot_set(struct detect_event *ev, uint32_t id, const char *v, size_t vlen)
{
    struct slot *s = &ev->slots[id];
    s->p = v;
    s->len = (uint32_t)vlen;
    s->tag = ev->gen + 1;
    ev->setbits[id >> 6] |= 1ull << (id & 63);
}

static int push_val(struct detect_event *ev, int32_t id, const char *name, size_t nlen,
                    const char *v, size_t vlen)
{
    if (nlen > UINT32_MAX || vlen > UINT32_MAX)
        return -EINVAL;
    if (ev->eng->ntext) {
        /* Yamori events: rules read interned fields only (keywords search
         * the text fields), so nothing else needs keeping */
        if (id >= 0)
            slot_set(ev, (uint32_t)id, v, vlen);
        return 0;
    }
    if (ev->nvals >= DETECT_MAX_EVENT_VALUES)
        return -EINVAL;
    if (ev->nvals == ev->capvals) {
        uint32_t cap = ev->capvals ? ev->capvals * 2 : 64;
        struct evval *nv = realloc(ev->vals, sizeof(*nv) * cap);
        if (!nv)
            return -ENOMEM;
        ev->vals = nv;
        ev->capvals = cap;
    }
    struct evval *e = &ev->vals[ev->nvals++];
    e->id = id;
    e->name = name;
    e->nlen = (uint32_t)nlen;
    e->v = v;
    e->vlen = (uint32_t)vlen;
    if (id >= 0)
        slot_set(ev, (uint32_t)id, v, vlen);
    return 0;
}

/* Names are compared 8 bytes at a time, the last 8 overlapping. */
static inline bool same_name(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    if (n >= 8) {
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
    return memcmp(a, b, n) == 0;
}

static inline uint32_t name_slot(const char *name, size_t n)
{
    uint64_t first = 0, last = 0;
    if (n >= 8) {
        memcpy(&first, name, 8);
        memcpy(&last, name + n - 8, 8);
    } else {
        memcpy(&first, name, n);
    }
    uint64_t h = (first ^ (last * 0xc2b2ae3d27d4eb4full) ^ (n * 0x165667b19e3779f9ull)) *
                 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 54);
}

int detect_event_set(struct detect_event *ev, const char *name, size_t nlen, const char *value,
                     size_t vlen)
{
    int32_t id;
    if (!ev || !name || (!value && vlen))
        return -EINVAL;
    if (nlen <= EVENT_NAME_MAX) {
        struct name_pred *p = &ev->pred[name_slot(name, nlen)];
        if (p->id != -2 && p->nlen == nlen && same_name(p->name, name, nlen)) {
            id = p->id;
        } else {
            id = detect_strtab_find(&ev->eng->fields, name, nlen);
            p->id = id;
            p->nlen = (uint32_t)nlen;
            memcpy(p->name, name, nlen);
        }
    } else {
        id = detect_strtab_find(&ev->eng->fields, name, nlen);
    }
    if (ev->eng->ntext && vlen <= UINT32_MAX) {
        /* Yamori events: rules read interned fields only (keywords search
         * the text fields), so nothing else needs keeping */
        if (id >= 0)
            slot_set(ev, (uint32_t)id, value ? value : "", vlen);
        return 0;
    }
    return push_val(ev, id, name, nlen, value ? value : "", vlen);
}

/* Flat events keep every value in a list too (keywords search them all). */
__attribute__((noinline)) static int set_id_listed(struct detect_event *ev, int id,
                                                   const char *value, size_t vlen)
{
    const char *name = detect_strtab_name(&ev->eng->fields, (uint32_t)id);
    return push_val(ev, id, name, strlen(name), value ? value : "", vlen);
}

/* Called for every field of every event: the Yamori path is a few stores
 * (the list of flat events is kept out of line). */
int detect_event_set_id(struct detect_event *ev, int id, const char *value, size_t vlen)
{
    /* a negative id is a large unsigned one */
    if (!ev || (uint32_t)id >= ev->nslots || vlen > UINT32_MAX || (!value && vlen))
        return -EINVAL;
    if (__builtin_expect(ev->flat, 0))
        return set_id_listed(ev, id, value, vlen);
    slot_set(ev, (uint32_t)id, value ? value : "", vlen);
    return 0;
}

void detect_event_set_time(struct detect_event *ev, int64_t unix_ns)
{
    if (!ev)
        return;
    ev->time_ns = unix_ns;
    ev->has_time = true;
}

void detect_event_set_lookup(struct detect_event *ev, detect_lookup_fn fn, void *ctx)
{
    if (!ev)
        return;
    ev->lookup = fn;
    ev->lookup_ctx = ctx;
}

void detect_event_stats(const struct detect_event *ev, struct detect_event_stats *out)
{
    if (ev)
        *out = ev->stats;
    else
        memset(out, 0, sizeof(*out));
}

/* ------------------------------------------------------------ JSON */

static char *name_join(struct detect_event *ev, const char *prefix, size_t plen, const char *key,
                       size_t klen, size_t *out_len)
{
    size_t n = plen ? plen + 1 + klen : klen;
    char *s = detect_event_scratch(ev, n + 1);
    if (!s)
        return NULL;
    if (plen) {
        memcpy(s, prefix, plen);
        s[plen] = '.';
        memcpy(s + plen + 1, key, klen);
    } else {
        memcpy(s, key, klen);
    }
    s[n] = '\0';
    *out_len = n;
    return s;
}

static int set_json_value(struct detect_event *ev, const char *name, size_t nlen, json_t *v,
                          int depth)
{
    char buf[64];
    const char *s = NULL;
    size_t len = 0;

    if (depth > 32)
        return -EINVAL;
    switch (json_typeof(v)) {
    case JSON_NULL:
        return 0;
    case JSON_STRING:
        s = json_string_value(v);
        len = json_string_length(v);
        break;
    case JSON_INTEGER:
        len = (size_t)snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        len = (size_t)snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        s = "true";
        len = 4;
        break;
    case JSON_FALSE:
        s = "false";
        len = 5;
        break;
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m) {
            size_t cl;
            char *child = name_join(ev, name, nlen, k, strlen(k), &cl);
            if (!child)
                return -ENOMEM;
            int rc = set_json_value(ev, child, cl, m, depth + 1);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) {
            char idx[24];
            size_t cl;
            int il = snprintf(idx, sizeof(idx), "%zu", i);
            char *child = name_join(ev, name, nlen, idx, (size_t)il, &cl);
            if (!child)
                return -ENOMEM;
            int rc = set_json_value(ev, child, cl, m, depth + 1);
            if (rc < 0)
                return rc;
        }
        char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!dump)
            return -ENOMEM;
        len = strlen(dump);
        char *copy = detect_event_scratch(ev, len + 1);
        if (copy)
            memcpy(copy, dump, len + 1);
        free(dump);
        if (!copy)
            return -ENOMEM;
        return detect_event_set(ev, name, nlen, copy, len);
    }
    }
    if (!s) {
        char *copy = detect_event_scratch(ev, len + 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, buf, len + 1);
        s = copy;
    }
    return detect_event_set(ev, name, nlen, s, len);
}

int detect_event_set_json(struct detect_event *ev, const char *text, size_t len, char *err,
                          size_t errlen)
{
    json_error_t je;
    json_t *root;
    int rc;

    if (!ev || !text)
        return -EINVAL;
    if (ev->json) {
        snprintf(err, errlen, "the event already holds a JSON object: clear it first");
        return -EBUSY;
    }
    root = json_loadb(text, len, 0, &je);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return -EINVAL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, errlen, "the JSON value is not an object");
        return -EINVAL;
    }
    ev->json = root;
    rc = set_json_value(ev, "", 0, root, 0);
    if (rc < 0)
        snprintf(err, errlen, rc == -ENOMEM ? "out of memory reading the JSON event"
                                            : "the JSON event is nested too deeply or has "
                                              "too many values");
    return rc;
}

/* ------------------------------------------------------------ values */

static bool derive(struct detect_event *ev, const struct derive *d, struct slot *s)
{
    const char *src;
    size_t n;
    switch (d->kind) {
    case DERIVE_CONST:
        s->p = d->text;
        s->len = d->text_len;
        return true;
    case DERIVE_PREFIX_UPPER: {
        if (!event_get(ev, d->src, &src, &n))
            return false;
        char *out = detect_event_scratch(ev, d->text_len + n);
        if (!out)
            return false;
        memcpy(out, d->text, d->text_len);
        for (size_t i = 0; i < n; i++) {
            char c = src[i];
            out[d->text_len + i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
        }
        s->p = out;
        s->len = (uint32_t)(d->text_len + n);
        return true;
    }
    case DERIVE_IS_IPV6:
        if (!event_get(ev, d->src, &src, &n))
            return false;
        if (memchr(src, ':', n)) {
            s->p = "true";
            s->len = 4;
        } else {
            s->p = "false";
            s->len = 5;
        }
        return true;
    }
    return false;
}

bool detect_event_resolve(struct detect_event *ev, uint32_t id, const char **p, size_t *len)
{
    struct slot *s = &ev->slots[id];
    if ((s->tag | 1) != ev->gen + 1) {
        /* resolve once per event: mapping, derived value, then the callback
         * (absent meanwhile: a mapping that leads back here ends) */
        bool present = false;
        s->tag = ev->gen;
        const struct dclass *c = ev->cls;
        if (c && c->alias) {
            int32_t a = c->alias[id];
            const char *v;
            size_t n;
            if (a >= 0) {
                if (event_get(ev, (uint32_t)a, &v, &n)) {
                    s->p = v;
                    s->len = (uint32_t)n;
                    present = true;
                }
            } else if (a <= -2) {
                present = derive(ev, &c->derived[-2 - a], s);
            }
        }
        if (!present && ev->lookup) {
            const char *name = detect_strtab_name(&ev->eng->fields, id);
            const char *v = NULL;
            size_t n = 0;
            if (ev->lookup(ev->lookup_ctx, name, strlen(name), &v, &n) == 1 && (v || !n)) {
                s->p = v ? v : "";
                s->len = (uint32_t)n;
                present = true;
            }
        }
        if (present)
            s->tag = ev->gen + 1;
    }
    if (s->tag != ev->gen + 1)
        return false;
    *p = s->p;
    *len = s->len;
    return true;
}

/* ------------------------------------------------------------ time */

static bool num(const char *s, size_t n, long *out)
{
    long v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int64_t days_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

bool detect_parse_time(const char *s, size_t n, int64_t *ns)
{
    long y, mo, d, h, mi, sec;
    size_t i;

    if (n >= 19 && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't' || s[10] == ' ') &&
        s[13] == ':' && s[16] == ':') {
        if (!num(s, 4, &y) || !num(s + 5, 2, &mo) || !num(s + 8, 2, &d) || !num(s + 11, 2, &h) ||
            !num(s + 14, 2, &mi) || !num(s + 17, 2, &sec) || mo < 1 || mo > 12 || d < 1 ||
            d > 31 || h > 23 || mi > 59 || sec > 60)
            return false;
        int64_t frac = 0;
        i = 19;
        if (i < n && (s[i] == '.' || s[i] == ',')) {
            int64_t scale = 100000000;
            i++;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                frac += (s[i] - '0') * scale;
                scale /= 10;
                i++;
            }
        }
        int64_t off = 0;
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i + 6 <= n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
            long oh, om;
            if (!num(s + i + 1, 2, &oh) || !num(s + i + 4, 2, &om))
                return false;
            off = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
            i += 6;
        }
        if (i != n)
            return false;
        int64_t t = days_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
        *ns = t * 1000000000LL + frac;
        return true;
    }
    /* epoch seconds, optionally with a fraction */
    i = 0;
    int64_t secs = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i < 12)
        secs = secs * 10 + (s[i++] - '0');
    if (i == 0)
        return false;
    int64_t frac = 0;
    if (i < n && s[i] == '.') {
        int64_t scale = 100000000;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            frac += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
    }
    if (i != n)
        return false;
    *ns = secs * 1000000000LL + frac;
    return true;
}
