/*
 * events_block.c — see events_block.h.
 */
#include "server/events_block.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/schema.h"
#include "common/tlv.h"

bool events_is_uid_field(unsigned id)
{
    /* not InitiatingProcessParentUniqueId: a process's parent is the
     * initiating process of its own process events */
    return id == F_PROCESS_UNIQUE_ID || id == F_IP_UNIQUE_ID || id == F_TARGET_PROCESS_UNIQUE_ID;
}

bool events_uid_key(const char *s, size_t n, int64_t *key)
{
    uint64_t pid = 0, ticks = 0;
    size_t i = 0;

    if (n < 12 || n > 40)
        return false;
    for (; i < 8; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    if (s[i++] != '-' || s[i] < '0' || s[i] > '9')
        return false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        if ((pid = pid * 10 + (uint64_t)(s[i] - '0')) >= (1u << 22))
            return false;
    if (i >= n || s[i++] != '-' || i >= n)
        return false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if ((ticks = ticks * 10 + (uint64_t)(s[i] - '0')) >= (1ull << 41))
            return false;
    }
    *key = (int64_t)(ticks << 22 | pid);
    return true;
}

/* One compression context per thread, freed when the thread ends. */
static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;

static void cctx_free(void *p)
{
    ZSTD_freeCCtx(p);
}

static void cctx_key_init(void)
{
    pthread_key_create(&cctx_key, cctx_free);
}

static ZSTD_CCtx *thread_cctx(void)
{
    ZSTD_CCtx *c;

    pthread_once(&cctx_once, cctx_key_init);
    c = pthread_getspecific(cctx_key);
    if (!c && (c = ZSTD_createCCtx()) && pthread_setspecific(cctx_key, c) != 0) {
        ZSTD_freeCCtx(c);
        c = NULL;
    }
    return c;
}

static int cmp_key(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void events_block_clear(struct events_block *b)
{
    if (!b)
        return;
    free(b->data);
    free(b->keys);
    memset(b, 0, sizeof(*b));
}

/* Appends v as a varint. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int events_block_build(const struct store_event_in *ev, size_t n, unsigned table, uint64_t after,
                       struct events_block *out)
{
    ZSTD_CCtx *cctx;
    uint8_t *raw = NULL;
    size_t raw_len = 0, kcap = 0, bound;
    int e = -ENOMEM;

    memset(out, 0, sizeof(*out));
    out->table = table;
    for (size_t i = 0; i < n; i++)
        if (ev[i].table == table && ev[i].seq > after)
            raw_len += 10 + ev[i].len;
    if (!raw_len)
        return 0;
    raw = malloc(raw_len);
    if (!raw)
        goto fail;
    raw_len = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_event_in *x = &ev[i];
        struct tlv_reader r;
        struct tlv_field f;
        int64_t ts = (int64_t)x->ts_ns, key;
        if (x->table != table || x->seq <= after)
            continue;
        raw_len += put_varint(raw + raw_len, x->len);
        memcpy(raw + raw_len, x->rec, x->len);
        raw_len += x->len;
        if (!out->count++) {
            out->first_seq = x->seq;
            out->min_ts = out->max_ts = ts;
        }
        out->last_seq = x->seq;
        if (ts < out->min_ts)
            out->min_ts = ts;
        if (ts > out->max_ts)
            out->max_ts = ts;
        tlv_reader_init(&r, x->rec, x->len);
        while (tlv_next(&r, &f) == 1) {
            if (!events_is_uid_field(f.id) || f.wire != TLV_WIRE_BYTES || !events_uid_key(f.s, f.n, &key))
                continue;
            if (out->nkeys == kcap) {
                size_t nc = kcap ? kcap * 2 : 64;
                int64_t *nk = realloc(out->keys, nc * sizeof(*nk));
                if (!nk)
                    goto fail;
                out->keys = nk;
                kcap = nc;
            }
            out->keys[out->nkeys++] = key;
        }
    }
    if (out->nkeys > 1) {
        size_t w = 1;
        qsort(out->keys, out->nkeys, sizeof(*out->keys), cmp_key);
        for (size_t i = 1; i < out->nkeys; i++)
            if (out->keys[i] != out->keys[w - 1])
                out->keys[w++] = out->keys[i];
        out->nkeys = w;
    }
    bound = ZSTD_compressBound(raw_len);
    out->data = malloc(bound);
    cctx = thread_cctx();
    if (!out->data || !cctx)
        goto fail;
    out->len = ZSTD_compressCCtx(cctx, out->data, bound, raw, raw_len, EVENTS_BLOCK_LEVEL);
    if (ZSTD_isError(out->len)) {
        e = -EIO;
        goto fail;
    }
    out->raw_len = raw_len;
    free(raw);
    return 0;
fail:
    free(raw);
    events_block_clear(out);
    return e;
}

void events_block_reader_init(struct events_block_reader *r)
{
    memset(r, 0, sizeof(*r));
}

void events_block_reader_free(struct events_block_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    ZSTD_freeDCtx(r->dctx);
    memset(r, 0, sizeof(*r));
}

int events_block_open(struct events_block_reader *r, const void *data, size_t len, size_t raw_len)
{
    size_t got;

    r->p = r->end = NULL;
    if (raw_len > EVENTS_BLOCK_MAX_RAW || !data)
        return -EBADMSG;
    if (raw_len > r->cap) {
        uint8_t *nb = realloc(r->buf, raw_len);
        if (!nb)
            return -ENOMEM;
        r->buf = nb;
        r->cap = raw_len;
    }
    if (!r->dctx && !(r->dctx = ZSTD_createDCtx()))
        return -ENOMEM;
    got = ZSTD_decompressDCtx(r->dctx, r->buf, raw_len, data, len);
    if (ZSTD_isError(got) || got != raw_len)
        return -EBADMSG;
    r->p = r->buf;
    r->end = r->buf + raw_len;
    return 0;
}

int events_block_next(struct events_block_reader *r, const uint8_t **rec, size_t *len)
{
    uint64_t n;

    if (!r->p || r->p >= r->end)
        return 0;
    if (tlv_read_varint(&r->p, r->end, &n) != 0 || n > (uint64_t)(r->end - r->p)) {
        r->p = r->end;
        return -EBADMSG;
    }
    *rec = r->p;
    *len = (size_t)n;
    r->p += n;
    return 1;
}
