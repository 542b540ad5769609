/*
 * detection_worker.c — the detection core (detection.h): the queue the
 * ingest feeds, the worker thread that matches, the watcher thread that
 * reloads rules, and the status.
 *
 * Threads and what they share:
 *  - the ingest writer calls detection_submit(): it copies the new events
 *    of a batch into one queue item and appends it under `lock`, or counts
 *    them as not inspected when the queue holds max_queue_bytes already.
 *    It never waits for the worker.
 *  - the worker takes everything queued at once and matches it. It alone
 *    touches the engine's per-thread state (the detect_event, the
 *    correlation streams, the indicator snapshot).
 *  - a reload (the watcher, or POST /api/v1/rules/reload through
 *    detection_reload) builds a complete new rule set outside any lock
 *    the worker needs, then publishes it under `lock` and bumps
 *    `generation`. The worker notices between items, takes a reference,
 *    drops its streams (they belong to the old engine: correlation state
 *    starts over) and the old set's reference. Readers of the rule list
 *    take a reference the same way, so a set is freed only when nobody
 *    uses it.
 *
 * Correlation state is one detect_stream per device (a device's events
 * never correlate with another's), at most max_devices of them, the least
 * recently used evicted. A device that stays quiet has its stream advanced
 * by the time that passed on the server's clock, so windows with an upper
 * bound close.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "common/tlv.h"
#include "server/detection_int.h"
#include "server/store_events.h"

#define DETECTION_MAGIC 0x44455443u /* "DETC" */
#define NBUCKETS 4096
#define IDLE_ADVANCE_MS 10000

struct irec {
    uint32_t off, len;
    uint64_t seq;
    int64_t ts;
    uint8_t table;
};

struct item {
    struct item *next;
    char device_id[64];
    size_t n, bytes;
    struct irec *recs;
    uint8_t *data;
};

struct devstream {
    struct devstream *hnext, *prev, *next;
    char id[64];
    struct detect_stream *st;
    int64_t last_ts;
    uint64_t last_mono_ms;
};

struct detection {
    unsigned magic;
    char *pack, *custom;
    unsigned poll_ms;
    size_t max_queue_bytes;
    unsigned max_devices;
    struct store *store;

    pthread_mutex_t lock;
    pthread_cond_t work, idle, watch;
    struct item *head, *tail;
    size_t queued_bytes;
    bool busy, stopping;
    struct det_ruleset *current;   /* published; one reference held here */
    uint64_t generation, taken;    /* published / taken by the worker */
    uint64_t ioc_gen;
    struct detection_status st;    /* counters, under lock */
    uint64_t last_drop_log_ms;
    uint64_t attempted_sig;        /* signature of the last load attempt */

    pthread_mutex_t reload_lock;
    pthread_t worker, watcher;
    bool worker_started, watcher_started;

    /* the worker's own */
    struct det_ruleset *wrs;
    struct detect_event *ev;
    struct devstream *buckets[NBUCKETS];
    struct devstream *lru_head, *lru_tail; /* most recent first */
    size_t ndev;
    struct det_indicators iocs;
    uint64_t ioc_seen;
    struct det_event dev;
    char num[F_MAX_ID][48];
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* ------------------------------------------------------------------ submit */

void detection_submit(struct detection *d, const struct store_event_batch *b)
{
    size_t first, n, data = 0, bytes, off = 0;
    struct item *it;
    bool dropped = false;

    if (!d || d->magic != DETECTION_MAGIC || !b || !b->stored || b->stored > b->nevents)
        return;
    first = b->nevents - b->stored;
    n = b->stored;
    for (size_t i = first; i < b->nevents; i++)
        data += b->events[i].len;
    bytes = sizeof(*it) + n * sizeof(struct irec) + data;
    it = malloc(bytes);
    if (it) {
        it->next = NULL;
        snprintf(it->device_id, sizeof(it->device_id), "%s", b->device_id ? b->device_id : "");
        it->n = n;
        it->bytes = bytes;
        it->recs = (struct irec *)(it + 1);
        it->data = (uint8_t *)(it->recs + n);
        for (size_t i = 0; i < n; i++) {
            const struct store_event_in *e = &b->events[first + i];
            memcpy(it->data + off, e->rec, e->len);
            it->recs[i] = (struct irec){(uint32_t)off, e->len, e->seq, (int64_t)e->ts_ns, e->table};
            off += e->len;
        }
    }
    pthread_mutex_lock(&d->lock);
    if (!it || d->stopping || (d->head && d->queued_bytes + bytes > d->max_queue_bytes)) {
        uint64_t now = mono_ms();
        d->st.events_not_inspected += n;
        dropped = true;
        if (now - d->last_drop_log_ms >= 10000 || d->last_drop_log_ms == 0) {
            d->last_drop_log_ms = now;
            log_warn("detection: the queue is full (%zu bytes waiting); %zu events of device %s not inspected, "
                     "%" PRIu64 " so far",
                     d->queued_bytes, n, b->device_id ? b->device_id : "?", d->st.events_not_inspected);
        }
    } else {
        if (d->tail)
            d->tail->next = it;
        else
            d->head = it;
        d->tail = it;
        d->queued_bytes += bytes;
        pthread_cond_signal(&d->work);
    }
    pthread_mutex_unlock(&d->lock);
    if (dropped)
        free(it);
}

/* ------------------------------------------------------------------ streams */

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % NBUCKETS;
}

static void lru_unlink(struct detection *d, struct devstream *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        d->lru_head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        d->lru_tail = x->prev;
    x->prev = x->next = NULL;
}

static void lru_front(struct detection *d, struct devstream *x)
{
    x->next = d->lru_head;
    x->prev = NULL;
    if (d->lru_head)
        d->lru_head->prev = x;
    d->lru_head = x;
    if (!d->lru_tail)
        d->lru_tail = x;
}

static void stream_drop(struct detection *d, struct devstream *x)
{
    struct devstream **pp = &d->buckets[hash(x->id)];

    while (*pp && *pp != x)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = x->hnext;
    lru_unlink(d, x);
    detect_stream_free(x->st);
    free(x);
    d->ndev--;
}

static void streams_clear(struct detection *d)
{
    while (d->lru_head)
        stream_drop(d, d->lru_head);
}

/* The device's stream (created on first use), or NULL. */
static struct devstream *stream_of(struct detection *d, const char *id)
{
    unsigned h = hash(id);
    struct devstream *x;
    char err[200];

    for (x = d->buckets[h]; x; x = x->hnext)
        if (strcmp(x->id, id) == 0) {
            lru_unlink(d, x);
            lru_front(d, x);
            return x;
        }
    x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->st = detect_stream_new(d->wrs->eng, err, sizeof(err));
    if (!x->st) {
        log_warn("detection: no correlation for device %s: %s", id, err);
        free(x);
        return NULL;
    }
    snprintf(x->id, sizeof(x->id), "%s", id);
    x->hnext = d->buckets[h];
    d->buckets[h] = x;
    lru_front(d, x);
    d->ndev++;
    if (d->ndev > d->max_devices) {
        stream_drop(d, d->lru_tail);
        pthread_mutex_lock(&d->lock);
        d->st.devices_evicted++;
        pthread_mutex_unlock(&d->lock);
    }
    return x;
}

/* ------------------------------------------------------------------ matching */

struct mctx {
    struct detection *d;
    const struct det_event *ev;
};

static void count(struct detection *d, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&d->lock);
    *field += n;
    pthread_mutex_unlock(&d->lock);
}

/* Whether an `allow` indicator names what the event is about. */
static bool allowed(struct detection *d, const struct det_event *ev)
{
    static const struct {
        unsigned field;
        int type;
    } checks[] = {
        {F_SHA256, DET_IOC_SHA256},      {F_IP_SHA256, DET_IOC_SHA256}, {F_FOLDER_PATH, DET_IOC_PATH},
        {F_IP_FOLDER_PATH, DET_IOC_PATH}, {F_REMOTE_IP, DET_IOC_IP},     {F_REMOTE_URL, DET_IOC_DOMAIN},
    };
    int64_t now;

    if (!d->iocs.n)
        return false;
    now = wall_ms();
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        unsigned f = checks[i].field;
        if (ev->has[f] && det_indicators_match(&d->iocs, true, checks[i].type, ev->s[f], ev->n[f], now))
            return true;
    }
    return false;
}

static int on_match(void *ctx, const struct detect_match *m)
{
    struct mctx *c = ctx;
    struct detection *d = c->d;
    struct det_rule *r;

    if (m->suppressed)
        return 0;
    r = det_rule_of(d->wrs, m->rule);
    if (!r)
        return 0;
    if (allowed(d, c->ev)) {
        count(d, &d->st.suppressed_by_allow, 1);
        return 0;
    }
    atomic_fetch_add(&r->hits, 1);
    count(d, &d->st.hits, 1);
    if (det_hit_rule(c->ev, r, m) != 0)
        count(d, &d->st.alerts_failed, 1);
    return 0;
}

/* `alert` indicators the event names. */
static void check_indicators(struct detection *d, const struct det_event *ev)
{
    static const struct {
        unsigned field;
        int type;
    } checks[] = {
        {F_SHA256, DET_IOC_SHA256},
        {F_FOLDER_PATH, DET_IOC_PATH},
        {F_REMOTE_IP, DET_IOC_IP},
        {F_REMOTE_URL, DET_IOC_DOMAIN},
    };
    int64_t now;

    if (!d->iocs.n)
        return;
    now = wall_ms();
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        unsigned f = checks[i].field;
        const struct det_indicator *ind;
        if (!ev->has[f])
            continue;
        ind = det_indicators_match(&d->iocs, false, checks[i].type, ev->s[f], ev->n[f], now);
        if (!ind)
            continue;
        pthread_mutex_lock(&d->lock);
        d->st.hits++;
        d->st.indicator_hits++;
        pthread_mutex_unlock(&d->lock);
        if (det_hit_indicator(ev, ind, f) != 0)
            count(d, &d->st.alerts_failed, 1);
    }
}

/* Decodes one record into d->dev and, with rules, into d->ev. Returns 0
 * or -EBADMSG. */
static int decode(struct detection *d, const char *device_id, const struct irec *r, const uint8_t *rec)
{
    struct det_event *e = &d->dev;
    struct tlv_reader rd;
    struct tlv_field f;
    int rc;

    for (unsigned i = 0; i < e->nset; i++)
        e->has[e->set[i]] = false;
    e->nset = 0;
    e->device_id = device_id;
    e->table = r->table;
    e->seq = r->seq;
    e->ts_ns = r->ts;
    if (d->ev)
        detect_event_clear(d->ev);
    tlv_reader_init(&rd, rec, r->len);
    while ((rc = tlv_next(&rd, &f)) == 1) {
        const struct schema_field_info *fi = schema_field(f.id);
        bool text;
        const char *v;
        size_t vlen;
        int fid;

        if (!fi || e->has[f.id])
            continue;
        text = fi->type == SCHEMA_STR || fi->type == SCHEMA_JSON;
        if (f.wire != (text ? TLV_WIRE_BYTES : TLV_WIRE_VARINT))
            continue;
        e->has[f.id] = true;
        e->set[e->nset++] = (uint8_t)f.id;
        e->s[f.id] = f.s;
        e->n[f.id] = f.n;
        e->u[f.id] = f.u;
        fid = d->wrs ? d->wrs->field_ids[f.id] : -1;
        if (fid < 0 || !d->ev)
            continue;
        if (text) {
            v = f.s;
            vlen = f.n;
        } else {
            char *b = d->num[f.id];
            switch (fi->type) {
            case SCHEMA_INT: snprintf(b, sizeof(d->num[0]), "%" PRId64, tlv_unzigzag(f.u)); break;
            case SCHEMA_TIME: jsonw_format_time(b, sizeof(d->num[0]), f.u); break;
            case SCHEMA_BOOL: snprintf(b, sizeof(d->num[0]), "true"); break;
            default: snprintf(b, sizeof(d->num[0]), "%" PRIu64, f.u); break;
            }
            v = b;
            vlen = strlen(b);
        }
        detect_event_set_id(d->ev, fid, v, vlen);
    }
    if (rc < 0)
        return rc;
    if (d->ev)
        detect_event_set_time(d->ev, r->ts);
    return 0;
}

static void inspect(struct detection *d, struct item *it)
{
    struct devstream *ds = NULL;
    struct mctx c = {d, &d->dev};
    uint64_t done = 0;

    if (d->wrs && d->ev)
        ds = stream_of(d, it->device_id);
    for (size_t i = 0; i < it->n; i++) {
        const struct irec *r = &it->recs[i];
        if (decode(d, it->device_id, r, it->data + r->off) != 0)
            continue; /* the ingest validated it; never happens */
        if (d->wrs && d->ev)
            detect_match(d->ev, ds ? ds->st : NULL, on_match, &c);
        check_indicators(d, &d->dev);
        if (ds && r->ts > ds->last_ts)
            ds->last_ts = r->ts;
        done++;
    }
    if (ds)
        ds->last_mono_ms = mono_ms();
    count(d, &d->st.events_inspected, done);
}

/* Quiet devices: their windows advance with the server's clock. */
static void advance_idle(struct detection *d)
{
    uint64_t now = mono_ms();

    for (struct devstream *x = d->lru_tail; x; x = x->prev) {
        struct det_event e;
        struct mctx c = {d, &e};
        uint64_t idle = now - x->last_mono_ms;
        if (idle < IDLE_ADVANCE_MS || !x->last_ts)
            continue;
        memset(&e, 0, sizeof(e));
        e.device_id = x->id;
        x->last_ts += (int64_t)idle * 1000000;
        x->last_mono_ms = now;
        e.ts_ns = x->last_ts;
        detect_stream_advance(x->st, x->last_ts, on_match, &c);
    }
}

/* Takes the published rule set (the worker thread). */
static void take_ruleset(struct detection *d, struct det_ruleset *rs)
{
    char err[200];

    streams_clear(d);
    detect_event_free(d->ev);
    d->ev = NULL;
    det_ruleset_unref(d->wrs);
    d->wrs = rs;
    if (rs && !(d->ev = detect_event_new(rs->eng, err, sizeof(err))))
        log_error("detection: rules cannot run: %s", err);
}

static void *worker_main(void *arg)
{
    struct detection *d = arg;
    uint64_t last_tick = mono_ms();

    for (;;) {
        struct item *items;
        struct det_ruleset *rs = NULL;
        bool swap = false, iocs = false;

        pthread_mutex_lock(&d->lock);
        while (!d->head && !d->stopping && d->taken == d->generation && d->ioc_seen == d->ioc_gen) {
            struct timespec ts;
            deadline(&ts, 1000);
            if (pthread_cond_timedwait(&d->work, &d->lock, &ts) != 0)
                break;
        }
        if (!d->head && d->stopping) {
            pthread_mutex_unlock(&d->lock);
            break;
        }
        items = d->head;
        d->head = d->tail = NULL;
        d->queued_bytes = 0;
        d->busy = true;
        if (d->taken != d->generation) {
            rs = d->current;
            if (rs)
                det_ruleset_ref(rs);
            d->taken = d->generation;
            swap = true;
        }
        if (d->ioc_seen != d->ioc_gen) {
            d->ioc_seen = d->ioc_gen;
            iocs = true;
        }
        pthread_mutex_unlock(&d->lock);

        if (swap)
            take_ruleset(d, rs);
        if (iocs && d->store) {
            int e = det_indicators_load(d->store, &d->iocs);
            if (e)
                log_error("detection: indicators not reloaded (%s); the previous ones stay", strerror(-e));
        }
        while (items) {
            struct item *it = items;
            items = it->next;
            inspect(d, it);
            free(it);
        }
        if (mono_ms() - last_tick >= 1000) {
            last_tick = mono_ms();
            if (d->wrs)
                advance_idle(d);
        }
        pthread_mutex_lock(&d->lock);
        d->busy = false;
        d->st.devices = d->ndev;
        pthread_cond_broadcast(&d->idle);
        pthread_mutex_unlock(&d->lock);
    }
    streams_clear(d);
    detect_event_free(d->ev);
    d->ev = NULL;
    det_ruleset_unref(d->wrs);
    d->wrs = NULL;
    det_indicators_clear(&d->iocs);
    return NULL;
}

/* ------------------------------------------------------------------ reload */

int detection_reload(struct detection *d, char *err, size_t errlen)
{
    struct det_ruleset *old, *rs = NULL;
    char why[512] = "";
    int e;

    pthread_mutex_lock(&d->reload_lock);
    pthread_mutex_lock(&d->lock);
    old = d->current;
    if (old)
        det_ruleset_ref(old);
    pthread_mutex_unlock(&d->lock);
    e = det_ruleset_load(d->pack, d->custom, old, &rs, why, sizeof(why));
    det_ruleset_unref(old);
    pthread_mutex_lock(&d->lock);
    d->st.reloads++;
    d->st.last_reload_ms = wall_ms();
    d->st.last_reload_ok = e == 0;
    snprintf(d->st.last_reload_error, sizeof(d->st.last_reload_error), "%s", e ? why : "");
    if (e) {
        d->st.reloads_failed++;
        d->attempted_sig = det_rules_signature(d->pack, d->custom);
    } else {
        d->attempted_sig = rs->signature;
        det_ruleset_unref(d->current);
        d->current = rs;
        d->generation++;
        pthread_cond_signal(&d->work);
    }
    pthread_mutex_unlock(&d->lock);
    pthread_mutex_unlock(&d->reload_lock);
    if (e) {
        log_error("detection: rules not reloaded, the previous ones stay: %s", why);
        snprintf(err, errlen, "%s", why);
    }
    return e;
}

static void *watcher_main(void *arg)
{
    struct detection *d = arg;

    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        struct timespec ts;
        uint64_t sig, attempted;
        deadline(&ts, d->poll_ms);
        pthread_cond_timedwait(&d->watch, &d->lock, &ts);
        if (d->stopping)
            break;
        attempted = d->attempted_sig;
        pthread_mutex_unlock(&d->lock);
        sig = det_rules_signature(d->pack, d->custom);
        if (sig != attempted) {
            char err[512];
            log_info("detection: rule files changed; reloading");
            detection_reload(d, err, sizeof(err));
        }
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* ------------------------------------------------------------------ life cycle */

static void destroy(struct detection *d)
{
    while (d->head) {
        struct item *it = d->head;
        d->head = it->next;
        free(it);
    }
    det_ruleset_unref(d->current);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->reload_lock);
    pthread_cond_destroy(&d->work);
    pthread_cond_destroy(&d->idle);
    pthread_cond_destroy(&d->watch);
    free(d->pack);
    free(d->custom);
    d->magic = 0;
    free(d);
}

int detection_start(const struct detection_options *o, struct detection **out, char *err, size_t errlen)
{
    struct detection *d;
    char why[512];

    *out = NULL;
    if (!o || !o->rules_dir || !*o->rules_dir) {
        snprintf(err, errlen, "detection needs a rule directory");
        return -EINVAL;
    }
    d = calloc(1, sizeof(*d));
    if (!d || !(d->pack = strdup(o->rules_dir)) || !(d->custom = strdup(o->rule_dirs ? o->rule_dirs : ""))) {
        if (d) {
            free(d->pack);
            free(d);
        }
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->magic = DETECTION_MAGIC;
    d->poll_ms = o->poll_ms ? o->poll_ms : 5000;
    d->max_queue_bytes = o->max_queue_bytes ? o->max_queue_bytes : 64u << 20;
    d->max_devices = o->max_devices ? o->max_devices : 10000;
    d->store = o->store;
    d->ioc_gen = o->store ? 1 : 0;
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->reload_lock, NULL);
    pthread_cond_init(&d->work, NULL);
    pthread_cond_init(&d->idle, NULL);
    pthread_cond_init(&d->watch, NULL);
    if (detection_reload(d, why, sizeof(why)) != 0)
        log_error("detection: running without rules until a reload succeeds: %s", why);
    if (pthread_create(&d->worker, NULL, worker_main, d) != 0) {
        destroy(d);
        snprintf(err, errlen, "cannot start the detection thread");
        return -EAGAIN;
    }
    d->worker_started = true;
    if (pthread_create(&d->watcher, NULL, watcher_main, d) != 0) {
        detection_stop(d);
        snprintf(err, errlen, "cannot start the rule watcher thread");
        return -EAGAIN;
    }
    d->watcher_started = true;
    *out = d;
    return 0;
}

void detection_stop(struct detection *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_broadcast(&d->work);
    pthread_cond_broadcast(&d->watch);
    pthread_mutex_unlock(&d->lock);
    if (d->watcher_started)
        pthread_join(d->watcher, NULL);
    if (d->worker_started)
        pthread_join(d->worker, NULL);
    destroy(d);
}

void detection_indicators_changed(struct detection *d)
{
    pthread_mutex_lock(&d->lock);
    d->ioc_gen++;
    pthread_cond_signal(&d->work);
    pthread_mutex_unlock(&d->lock);
}

bool detection_wait_idle(struct detection *d, unsigned timeout_ms)
{
    struct timespec ts;
    bool idle;

    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&d->lock);
    while (!(idle = !d->head && !d->busy && d->taken == d->generation && d->ioc_seen == d->ioc_gen))
        if (pthread_cond_timedwait(&d->idle, &d->lock, &ts) != 0)
            break;
    idle = !d->head && !d->busy && d->taken == d->generation && d->ioc_seen == d->ioc_gen;
    pthread_mutex_unlock(&d->lock);
    return idle;
}

/* ------------------------------------------------------------------ reports */

void detection_status(struct detection *d, struct detection_status *out)
{
    pthread_mutex_lock(&d->lock);
    *out = d->st;
    out->queued_bytes = d->queued_bytes;
    if (d->current) {
        out->rules_loaded = d->current->nrules;
        out->rules_refused = d->current->nerrors;
        out->rule_files = d->current->nfiles;
    }
    pthread_mutex_unlock(&d->lock);
    out->alerts_not_stored = alert_sink_dropped();
}

void detection_write_rules(struct detection *d, struct jsonw *w)
{
    struct det_ruleset *rs;

    pthread_mutex_lock(&d->lock);
    rs = d->current;
    if (rs)
        det_ruleset_ref(rs);
    pthread_mutex_unlock(&d->lock);
    jsonw_array_begin(w);
    for (size_t i = 0; rs && i < rs->nrules; i++) {
        const struct det_rule *r = &rs->rules[i];
        const struct detect_rule_info *info = r->info;
        jsonw_object_begin(w);
        jsonw_kv_str_opt(w, "id", info->id);
        jsonw_kv_str_opt(w, "name", info->name);
        jsonw_kv_str_opt(w, "title", info->title);
        jsonw_kv_str_opt(w, "level", info->level);
        jsonw_kv_str(w, "severity", r->severity);
        jsonw_key(w, "tactics");
        jsonw_array_begin(w);
        for (int k = 0; r->tactics[k]; k++)
            jsonw_str(w, r->tactics[k]);
        jsonw_array_end(w);
        jsonw_key(w, "techniques");
        jsonw_array_begin(w);
        for (int k = 0; k < ALERT_MAX_TECHNIQUES && r->techniques[k]; k++)
            jsonw_str(w, r->techniques[k]);
        jsonw_array_end(w);
        jsonw_kv_str(w, "source", r->source);
        jsonw_kv_str_opt(w, "file", info->origin);
        jsonw_kv_uint(w, "line", info->line);
        jsonw_kv_bool(w, "correlation", info->correlation);
        jsonw_kv_bool(w, "active", info->active);
        jsonw_kv_str(w, "status", "loaded");
        jsonw_kv_uint(w, "hits", atomic_load(&r->hits));
        jsonw_object_end(w);
    }
    for (size_t i = 0; rs && i < rs->nerrors; i++) {
        const struct det_error *x = &rs->errors[i];
        jsonw_object_begin(w);
        jsonw_kv_str_opt(w, "id", x->id);
        jsonw_kv_str_opt(w, "title", x->title);
        jsonw_kv_str_opt(w, "file", x->file);
        if (x->line)
            jsonw_kv_uint(w, "line", x->line);
        jsonw_kv_str(w, "status", "error");
        jsonw_kv_str(w, "message", x->message);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    det_ruleset_unref(rs);
}
