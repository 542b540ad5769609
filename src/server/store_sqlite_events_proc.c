/*
 * store_sqlite_events_proc.c — the events of one process, on SQLite (see
 * store_events_proc.h).
 *
 * A by-key scan per hunting table (events_store.h) opens the blocks whose
 * process keys include the process's; each record in them is checked
 * against the id's text in the three process-id columns, because a key
 * can be shared by two ids (another boot). The matches go through a
 * bounded max-heap ordered by distance to `around`, then are sorted by
 * time and rendered as rows of their table's columns, as
 * store_events_query() renders them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "common/tlv.h"
#include "server/events_block.h"
#include "server/events_store.h"
#include "server/store_events_proc.h"
#include "server/store_sqlite.h"

#define NTABLES 5

struct phit {
    int64_t ts;
    uint64_t dist;             /* |ts - around| */
    uint64_t seq;
    unsigned table;
    int64_t received_ns;
    uint8_t *rec;
    size_t len;
};

/* A max-heap on dist of at most cap hits: the closest to around so far. */
struct pheap {
    struct phit *v;
    size_t n, cap;
};

static bool farther(const struct phit *a, const struct phit *b)
{
    return a->dist > b->dist || (a->dist == b->dist && a->seq > b->seq);
}

static void pheap_swap(struct phit *a, struct phit *b)
{
    struct phit t = *a;
    *a = *b;
    *b = t;
}

static void pheap_down(struct pheap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && farther(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && farther(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            return;
        pheap_swap(&h->v[i], &h->v[m]);
        i = m;
    }
}

static void pheap_up(struct pheap *h, size_t i)
{
    while (i && farther(&h->v[i], &h->v[(i - 1) / 2])) {
        pheap_swap(&h->v[i], &h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

/* Offers a match; *dropped is set when the heap was full (this one or
 * the farthest kept one went). */
static int pheap_offer(struct pheap *h, const struct phit *cand, const uint8_t *rec, size_t len, bool *dropped)
{
    struct phit *slot;
    uint8_t *copy;

    if (h->n == h->cap) {
        *dropped = true;
        if (!farther(&h->v[0], cand))
            return 0;
    }
    copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, rec, len);
    if (h->n == h->cap) {
        free(h->v[0].rec);
        slot = &h->v[0];
    } else {
        slot = &h->v[h->n++];
    }
    *slot = *cand;
    slot->rec = copy;
    slot->len = len;
    if (slot == &h->v[0] && h->n == h->cap)
        pheap_down(h, 0);
    else
        pheap_up(h, (size_t)(slot - h->v));
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct phit *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Whether the record names the process uid[0..n) in one of the indexed
 * process-id columns. */
static bool names_process(const uint8_t *rec, size_t len, const char *uid, size_t n)
{
    struct tlv_reader r;
    struct tlv_field f;

    tlv_reader_init(&r, rec, len);
    while (tlv_next(&r, &f) == 1)
        if (events_is_uid_field(f.id) && f.wire == TLV_WIRE_BYTES && f.n == n && memcmp(f.s, uid, n) == 0)
            return true;
    return false;
}

/* One stored record as a row of its table's columns (the rendering of
 * store_events_query). */
static int emit_row(const struct phit *h, const char *device, int (*fn)(const struct store_event_row *row, void *ctx),
                    void *ctx)
{
    struct store_event_value vals[F_MAX_ID];
    struct tlv_field by_id[F_MAX_ID];
    bool have[F_MAX_ID] = {false};
    struct store_event_row row = {.table = h->table, .device_id = device, .received_ns = h->received_ns,
                                  .values = vals};
    struct tlv_reader r;
    struct tlv_field f;
    int rc;

    tlv_reader_init(&r, h->rec, h->len);
    while ((rc = tlv_next(&r, &f)) == 1)
        if (f.id < F_MAX_ID && !have[f.id]) {
            have[f.id] = true;
            by_id[f.id] = f;
        }
    if (rc < 0)
        return 0; /* damaged: cannot happen with validated records */
    for (const struct schema_field_info *fi = schema_fields; fi->id; fi++) {
        const struct tlv_field *v;
        bool bytes;
        if (!(fi->tables & h->table) || fi->id >= F_MAX_ID || !have[fi->id])
            continue;
        v = &by_id[fi->id];
        bytes = v->wire == TLV_WIRE_BYTES;
        if (bytes != (fi->type == SCHEMA_STR || fi->type == SCHEMA_JSON))
            continue;
        if (fi->type == SCHEMA_BOOL && !v->u)
            continue;
        vals[row.nvalues++] = (struct store_event_value){
            .field = fi,
            .i = fi->type == SCHEMA_INT ? tlv_unzigzag(v->u) : fi->type == SCHEMA_BOOL ? 1 : (int64_t)v->u,
            .s = v->s,
            .n = v->n,
        };
    }
    return fn(&row, ctx);
}

int store_events_of_process(struct store *st, const struct store_proc_query *q,
                            int (*fn)(const struct store_event_row *row, void *ctx), void *ctx,
                            struct store_proc_result *res, char *err, size_t errlen)
{
    unsigned tables = q->tables ? q->tables : SCHEMA_T_ALL;
    struct store_proc_result out = {.kept_all = true, .scan_complete = true};
    struct pheap h = {0};
    struct store_conn *c = NULL;
    size_t ulen = q->uid ? strlen(q->uid) : 0;
    bool in_tx = false, dropped = false;
    int64_t key;
    int e = 0;

    if (!q->device_id || !q->uid || !events_uid_key(q->uid, ulen, &key)) {
        snprintf(err, errlen, "not a process unique id (expected BOOTID8-PID-TICKS)");
        return -EINVAL;
    }
    if (q->max_keep < 1 || q->max_keep > STORE_EVENTS_MAX_LIMIT || q->since_ns > q->until_ns ||
        (tables & ~SCHEMA_T_ALL)) {
        snprintf(err, errlen, "bad process query (keep 1..%d events, since not after until, known types)",
                 STORE_EVENTS_MAX_LIMIT);
        return -EINVAL;
    }
    h.cap = q->max_keep;
    h.v = calloc(h.cap, sizeof(*h.v));
    if (!h.v) {
        e = -ENOMEM;
        goto out;
    }
    c = store_acquire(st, STORE_READ);
    if (store_exec(c, "BEGIN") != 0) {
        e = -EIO;
        goto out;
    }
    in_tx = true;
    for (int t = 0; t < NTABLES && !e && out.scan_complete; t++) {
        struct events_scan s = {.table = 1u << t, .device = q->device_id, .since = q->since_ns,
                                .until = q->until_ns, .by_key = true, .key = key};
        if (!(tables & (1u << t)))
            continue;
        e = events_scan_start(&s, store_db(c));
        while (!e && out.scan_complete) {
            const uint8_t *rec;
            size_t len;
            int rc = events_scan_next_block(&s);
            if (rc <= 0) {
                e = rc;
                break;
            }
            while (!e && (rc = events_block_next(&s.rd, &rec, &len)) == 1) {
                struct tlv_field fts, fseq;
                struct phit cand;
                if (q->max_scan && out.scanned >= q->max_scan) {
                    out.scan_complete = false;
                    break;
                }
                out.scanned++;
                if (tlv_find(rec, len, F_TIMESTAMP, &fts) != 1)
                    continue;
                if ((int64_t)fts.u < q->since_ns || (int64_t)fts.u > q->until_ns)
                    continue;
                if (!names_process(rec, len, q->uid, ulen))
                    continue;
                out.matched++;
                cand = (struct phit){
                    .ts = (int64_t)fts.u,
                    .dist = (int64_t)fts.u >= q->around_ns ? (uint64_t)((int64_t)fts.u - q->around_ns)
                                                           : (uint64_t)(q->around_ns - (int64_t)fts.u),
                    .seq = tlv_find(rec, len, F_SEQ, &fseq) == 1 ? fseq.u : 0,
                    .table = s.table,
                    .received_ns = s.received_ns,
                };
                e = pheap_offer(&h, &cand, rec, len, &dropped);
            }
        }
        events_scan_end(&s);
    }
    if (e)
        goto out;
    out.kept_all = !dropped;
    if (h.n > 1)
        qsort(h.v, h.n, sizeof(*h.v), by_time);
    for (size_t i = 0; i < h.n && !e; i++)
        e = emit_row(&h.v[i], q->device_id, fn, ctx);
out:
    if (in_tx)
        store_exec(c, "COMMIT");
    if (c)
        store_release(st, c);
    for (size_t i = 0; i < h.n; i++)
        free(h.v[i].rec);
    free(h.v);
    if (res)
        *res = out;
    if (e < 0 && e != -EINVAL && e != -ENOMEM)
        snprintf(err, errlen, "cannot read the process's events (database error, see the log)");
    else if (e == -ENOMEM)
        snprintf(err, errlen, "out of memory reading the process's events");
    return e;
}
