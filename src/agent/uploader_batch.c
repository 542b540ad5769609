/*
 * uploader_batch.c — builds one event batch of docs/wire.md from the
 * spool: "YMB1", the header length (u32 little-endian), the JSON header,
 * then each record as a varint length and the encoded event; the whole
 * compressed as one zstd frame (with its content size and checksum).
 *
 * The header's "lost" holds what the agent lost since the last batch the
 * server accepted: the sensor's drops by record type ("exec": 3, as in
 * SensorEventsLost) and the agent's own losses by reason ("spool_quota",
 * "spool_corrupt", "rejected", "spool_error"); the per-type detail of those
 * travels in the SensorEventsLost events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "agent/event_encode.h"
#include "agent/uploader.h"
#include "common/jsonw.h"
#include "common/schema.h"
#include "common/tlv.h"

#define ZSTD_LEVEL 3

struct uploader_batch {
    struct tlv_buf recs;   /* varint length + record, for each */
    struct jsonw hdr;
    uint8_t *body;
    size_t body_len, body_cap;
    ZSTD_CCtx *cctx;
    uint64_t first, last;
    size_t count;
    size_t rec_off, rec_len; /* the last record taken */
};

int uploader_batch_new(struct uploader_batch **out)
{
    struct uploader_batch *b = calloc(1, sizeof(*b));

    *out = NULL;
    if (!b)
        return -ENOMEM;
    tlv_init(&b->recs);
    jsonw_init(&b->hdr);
    b->cctx = ZSTD_createCCtx();
    if (!b->cctx) {
        uploader_batch_free(b);
        return -ENOMEM;
    }
    *out = b;
    return 0;
}

void uploader_batch_free(struct uploader_batch *b)
{
    if (!b)
        return;
    tlv_free(&b->recs);
    jsonw_free(&b->hdr);
    free(b->body);
    ZSTD_freeCCtx(b->cctx);
    free(b);
}

static int take(void *ctx, uint64_t seq, const void *rec, size_t len)
{
    struct uploader_batch *b = ctx;

    if (b->count && seq != b->last + 1)
        return 1; /* a gap: the batch ends before it */
    tlv_put_varint(&b->recs, len);
    b->rec_off = b->recs.len;
    b->rec_len = len;
    tlv_put_raw(&b->recs, rec, len);
    if (b->recs.failed)
        return -ENOMEM;
    if (!b->count)
        b->first = seq;
    b->last = seq;
    b->count++;
    return 0;
}

static void write_header(struct uploader_batch *b, const struct batch_header *h)
{
    struct jsonw *w = &b->hdr;

    jsonw_reset(w);
    jsonw_object_begin(w);
    jsonw_kv_uint(w, "version", 1);
    jsonw_kv_str(w, "device_id", h->device_id ? h->device_id : "");
    jsonw_kv_str(w, "agent_version", YAMORI_VERSION);
    jsonw_kv_uint(w, "schema_version", YAM_SCHEMA_VERSION);
    jsonw_kv_str(w, "sensor_backend", h->sensor_backend && *h->sensor_backend ? h->sensor_backend : "unknown");
    jsonw_kv_uint(w, "first_seq", b->first);
    jsonw_kv_uint(w, "last_seq", b->last);
    jsonw_kv_uint(w, "count", b->count);
    jsonw_key(w, "lost");
    jsonw_object_begin(w);
    if (h->lost) {
        for (unsigned t = 0; t < YS_TYPE_MAX; t++)
            if (h->lost->n[SPOOL_LOSS_SENSOR][t])
                jsonw_kv_uint(w, event_record_type_name(t), h->lost->n[SPOOL_LOSS_SENSOR][t]);
        for (int r = SPOOL_LOSS_SENSOR + 1; r < SPOOL_LOSS_MAX; r++) {
            uint64_t total = 0;
            for (unsigned t = 0; t < YS_TYPE_MAX; t++)
                total += h->lost->n[r][t];
            if (total)
                jsonw_kv_uint(w, spool_loss_key((enum spool_loss_reason)r), total);
        }
    }
    jsonw_object_end(w);
    jsonw_object_end(w);
}

/* Feeds one piece of input to the compressor. */
static int compress_part(struct uploader_batch *b, ZSTD_outBuffer *out, const void *p, size_t n, ZSTD_EndDirective end)
{
    ZSTD_inBuffer in = {p, n, 0};
    size_t r;

    do {
        r = ZSTD_compressStream2(b->cctx, out, &in, end);
        if (ZSTD_isError(r))
            return -EIO;
        if (out->pos == out->size && (in.pos < in.size || r))
            return -ENOBUFS;
    } while (in.pos < in.size || (end == ZSTD_e_end && r));
    return 0;
}

int uploader_batch_build(struct uploader_batch *b, struct spool *s, uint64_t after, size_t max_events,
                         size_t max_bytes, const struct batch_header *h)
{
    uint8_t prefix[8];
    size_t total, bound;
    ZSTD_outBuffer out;
    int n, e;

    tlv_reset(&b->recs);
    b->count = 0;
    b->first = b->last = 0;
    b->body_len = 0;
    n = spool_read(s, after, max_events, max_bytes, take, b);
    if (n <= 0)
        return n;
    write_header(b, h);
    if (jsonw_failed(&b->hdr) || b->recs.failed)
        return -ENOMEM;
    memcpy(prefix, "YMB1", 4);
    prefix[4] = (uint8_t)b->hdr.len;
    prefix[5] = (uint8_t)(b->hdr.len >> 8);
    prefix[6] = (uint8_t)(b->hdr.len >> 16);
    prefix[7] = (uint8_t)(b->hdr.len >> 24);
    total = sizeof(prefix) + b->hdr.len + b->recs.len;
    bound = ZSTD_compressBound(total);
    if (bound > b->body_cap) {
        uint8_t *nb = realloc(b->body, bound);
        if (!nb)
            return -ENOMEM;
        b->body = nb;
        b->body_cap = bound;
    }
    ZSTD_CCtx_reset(b->cctx, ZSTD_reset_session_only);
    if (ZSTD_isError(ZSTD_CCtx_setParameter(b->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(b->cctx, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(b->cctx, total)))
        return -EIO;
    out = (ZSTD_outBuffer){b->body, b->body_cap, 0};
    e = compress_part(b, &out, prefix, sizeof(prefix), ZSTD_e_continue);
    if (!e)
        e = compress_part(b, &out, b->hdr.buf, b->hdr.len, ZSTD_e_continue);
    if (!e)
        e = compress_part(b, &out, b->recs.data, b->recs.len, ZSTD_e_end);
    if (e)
        return e;
    b->body_len = out.pos;
    return n;
}

const void *uploader_batch_body(const struct uploader_batch *b, size_t *len)
{
    *len = b->body_len;
    return b->body;
}

uint64_t uploader_batch_first(const struct uploader_batch *b)
{
    return b->first;
}

uint64_t uploader_batch_last(const struct uploader_batch *b)
{
    return b->last;
}

size_t uploader_batch_count(const struct uploader_batch *b)
{
    return b->count;
}

const void *uploader_batch_record(const struct uploader_batch *b, size_t *len)
{
    *len = b->count ? b->rec_len : 0;
    return b->count ? b->recs.data + b->rec_off : NULL;
}
