/*
 * ingest_batch.c — decoding and validating one event batch (docs/wire.md):
 * a zstd frame holding "YMB1", the header length, a JSON header and the
 * records, each a varint length and a TLV event.
 *
 * Nothing here trusts the body. The frame is decompressed in a loop into
 * a buffer that grows only up to INGEST_EXPANSION × max_batch_bytes (the
 * content size a frame header claims is a hint, never an allocation), with
 * zstd's window limited to the same size. Every record is walked once:
 * known fields must have their schema type's wire type and appear once,
 * integers must fit SQLite's int64, and Seq, Timestamp and EventType must
 * be there, so that the store can bind without checking again.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/schema.h"
#include "common/tlv.h"
#include "server/ingest.h"

void ingest_batch_free(struct ingest_batch *b)
{
    if (!b)
        return;
    store_events_prepared_free(b->sb.prepared);
    free(b->data);
    free(b->events);
    free(b);
}

static int fail(unsigned *status, unsigned code, int e, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int fail(unsigned *status, unsigned code, int e, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *status = code;
    return e;
}

/* Decompresses the one zstd frame of body into b->data, at most cap bytes. */
static int inflate(const uint8_t *body, size_t len, size_t cap, struct ingest_batch *b, unsigned *status, char *err,
                   size_t errlen)
{
    ZSTD_DCtx *d = NULL;
    ZSTD_inBuffer in = {body, len, 0};
    ZSTD_outBuffer out = {NULL, 0, 0};
    unsigned long long claimed;
    unsigned wlog = 10;
    size_t size, r;
    int e = 0;

    if (len < 4 || body[0] != 0x28 || body[1] != 0xb5 || body[2] != 0x2f || body[3] != 0xfd)
        return fail(status, 400, -EBADMSG, err, errlen, "the body is not a zstd frame");
    claimed = ZSTD_getFrameContentSize(body, len);
    if (claimed == ZSTD_CONTENTSIZE_ERROR)
        return fail(status, 400, -EBADMSG, err, errlen, "the zstd frame header is malformed");
    if (claimed != ZSTD_CONTENTSIZE_UNKNOWN && claimed > cap)
        return fail(status, 413, -EMSGSIZE, err, errlen,
                    "the batch decompresses to %llu bytes, more than the %zu allowed", claimed, cap);
    /* start from the claim only as far as the body makes it plausible */
    size = len > (SIZE_MAX - 65536) / 32 ? cap : len * 32 + 65536;
    if (claimed != ZSTD_CONTENTSIZE_UNKNOWN && (size_t)claimed < size)
        size = (size_t)claimed ? (size_t)claimed : 1;
    if (size > cap)
        size = cap;
    while (wlog < 31 && ((size_t)1 << wlog) < cap)
        wlog++;
    d = ZSTD_createDCtx();
    out.dst = malloc(size);
    if (!d || !out.dst) {
        e = fail(status, 503, -ENOMEM, err, errlen, "out of memory");
        goto out;
    }
    out.size = size;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, (int)wlog))) {
        e = fail(status, 500, -EIO, err, errlen, "cannot configure zstd");
        goto out;
    }
    for (;;) {
        size_t before_in = in.pos, before_out = out.pos;
        r = ZSTD_decompressStream(d, &out, &in);
        if (ZSTD_isError(r)) {
            if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge)
                e = fail(status, 413, -EMSGSIZE, err, errlen, "the zstd frame needs a window larger than the %zu bytes a batch may have", cap);
            else
                e = fail(status, 400, -EBADMSG, err, errlen, "corrupt zstd data: %s", ZSTD_getErrorName(r));
            goto out;
        }
        if (r == 0)
            break; /* the frame is complete */
        if (out.pos == out.size) {
            size_t ns = out.size * 2;
            void *nd;
            if (out.size >= cap) {
                e = fail(status, 413, -EMSGSIZE, err, errlen, "the batch decompresses to more than the %zu bytes allowed",
                         cap);
                goto out;
            }
            if (ns > cap)
                ns = cap;
            nd = realloc(out.dst, ns);
            if (!nd) {
                e = fail(status, 503, -ENOMEM, err, errlen, "out of memory");
                goto out;
            }
            out.dst = nd;
            out.size = ns;
            continue;
        }
        if (in.pos == in.size && in.pos == before_in && out.pos == before_out) {
            e = fail(status, 400, -EBADMSG, err, errlen, "the zstd frame is truncated");
            goto out;
        }
    }
    if (in.pos != in.size) {
        e = fail(status, 400, -EBADMSG, err, errlen, "%zu bytes follow the zstd frame (one frame is expected)",
                 in.size - in.pos);
        goto out;
    }
    b->data = out.dst;
    b->data_len = out.pos;
    out.dst = NULL;
out:
    free(out.dst);
    ZSTD_freeDCtx(d);
    return e;
}

/* An integer member of the header, >= 0; false when absent or not one. */
static bool header_uint(json_t *h, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(h, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static void copy_opt(char *dst, size_t size, json_t *v)
{
    dst[0] = '\0';
    if (json_is_string(v))
        snprintf(dst, size, "%s", json_string_value(v)); /* informational: longer text is cut */
}

static int parse_header(const char *text, size_t len, const char *device_id, const struct ingest_limits *lim,
                        struct ingest_batch *b, unsigned *status, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *h = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *v, *lost;
    uint64_t version, schema, first, last, count;
    const char *key;
    int e = 0;

    if (!h)
        return fail(status, 400, -EBADMSG, err, errlen, "malformed batch header at column %d: %s", jerr.column,
                    jerr.text);
    if (!json_is_object(h)) {
        e = fail(status, 400, -EBADMSG, err, errlen, "the batch header must be a JSON object");
        goto out;
    }
    if (!header_uint(h, "version", &version) || version != 1) {
        e = fail(status, 400, -EBADMSG, err, errlen, "unsupported batch version (this server reads version 1)");
        goto out;
    }
    v = json_object_get(h, "device_id");
    if (!json_is_string(v)) {
        e = fail(status, 400, -EBADMSG, err, errlen, "the batch header has no device_id");
        goto out;
    }
    if (strcmp(json_string_value(v), device_id) != 0) {
        e = fail(status, 403, -EPERM, err, errlen, "the batch names another device than the one authenticated (%s)",
                 device_id);
        goto out;
    }
    if (!header_uint(h, "schema_version", &schema) || schema != YAM_SCHEMA_VERSION) {
        e = fail(status, 400, -EBADMSG, err, errlen, "unsupported schema_version (this server reads version %d)",
                 YAM_SCHEMA_VERSION);
        goto out;
    }
    if (!header_uint(h, "first_seq", &first) || !header_uint(h, "last_seq", &last) ||
        !header_uint(h, "count", &count)) {
        e = fail(status, 400, -EBADMSG, err, errlen, "the batch header needs first_seq, last_seq and count");
        goto out;
    }
    if (count > lim->max_batch_events) {
        e = fail(status, 413, -EMSGSIZE, err, errlen, "the batch has %" PRIu64 " events; at most %zu are allowed",
                 count, lim->max_batch_events);
        goto out;
    }
    if (first < 1 || last < first || count != last - first + 1) {
        e = fail(status, 400, -EBADMSG, err, errlen,
                 "seq inconsistent with count: first_seq %" PRIu64 ", last_seq %" PRIu64 ", count %" PRIu64
                 " (count must be last_seq - first_seq + 1, first_seq at least 1)",
                 first, last, count);
        goto out;
    }
    lost = json_object_get(h, "lost");
    if (lost && !json_is_object(lost)) {
        e = fail(status, 400, -EBADMSG, err, errlen, "the header's lost must be an object of counters");
        goto out;
    }
    if (json_object_size(lost) > INGEST_MAX_LOST) {
        e = fail(status, 400, -EBADMSG, err, errlen, "the header's lost has more than %d counters", INGEST_MAX_LOST);
        goto out;
    }
    json_object_foreach(lost, key, v) {
        size_t i = b->sb.nlost;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || strlen(key) >= sizeof(b->lost_names[0]) || !*key) {
            e = fail(status, 400, -EBADMSG, err, errlen,
                     "the header's lost counters must be non-negative integers with names of 1 to 64 bytes");
            goto out;
        }
        snprintf(b->lost_names[i], sizeof(b->lost_names[i]), "%s", key);
        b->lost[i].name = b->lost_names[i];
        b->lost[i].count = (uint64_t)json_integer_value(v);
        b->sb.nlost++;
    }
    snprintf(b->device_id, sizeof(b->device_id), "%s", device_id);
    copy_opt(b->agent_version, sizeof(b->agent_version), json_object_get(h, "agent_version"));
    copy_opt(b->sensor_backend, sizeof(b->sensor_backend), json_object_get(h, "sensor_backend"));
    b->sb.first_seq = first;
    b->sb.last_seq = last;
    b->sb.nevents = (size_t)count;
out:
    json_decref(h);
    return e;
}

/* Checks one record and fills ev (see the top of this file). */
static int check_record(const uint8_t *rec, size_t n, size_t index, uint64_t want_seq, struct store_event_in *ev,
                        unsigned *status, char *err, size_t errlen)
{
    uint8_t seen[F_MAX_ID / 8 + 1] = {0};
    bool has_seq = false, has_ts = false;
    struct tlv_reader r;
    struct tlv_field f;
    int rc;

    memset(ev, 0, sizeof(*ev));
    tlv_reader_init(&r, rec, n);
    while ((rc = tlv_next(&r, &f)) == 1) {
        const struct schema_field_info *fi = schema_field(f.id);
        if (!fi)
            continue; /* a newer agent's field: skipped */
        if (seen[f.id / 8] & (1u << (f.id % 8)))
            return fail(status, 400, -EBADMSG, err, errlen, "record %zu (Seq %" PRIu64 "): field %s appears twice",
                        index, want_seq, fi->name);
        seen[f.id / 8] |= (uint8_t)(1u << (f.id % 8));
        if ((f.wire == TLV_WIRE_BYTES) != (fi->type == SCHEMA_STR || fi->type == SCHEMA_JSON))
            return fail(status, 400, -EBADMSG, err, errlen, "record %zu (Seq %" PRIu64 "): field %s has the wrong wire type",
                        index, want_seq, fi->name);
        if ((fi->type == SCHEMA_UINT || fi->type == SCHEMA_TIME) && f.u > INT64_MAX)
            return fail(status, 400, -EBADMSG, err, errlen, "record %zu (Seq %" PRIu64 "): field %s is out of range",
                        index, want_seq, fi->name);
        switch (f.id) {
        case F_SEQ:
            ev->seq = f.u;
            has_seq = true;
            break;
        case F_TIMESTAMP:
            ev->ts_ns = f.u;
            has_ts = true;
            break;
        case F_EVENT_TYPE:
            ev->table = (uint8_t)schema_table_of_event_type(f.s, f.n);
            if (!ev->table)
                return fail(status, 400, -EBADMSG, err, errlen,
                            "record %zu (Seq %" PRIu64 "): unknown EventType (expected process, file, network, logon or device)",
                            index, want_seq);
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return fail(status, 400, -EBADMSG, err, errlen, "record %zu (Seq %" PRIu64 "): malformed encoding", index,
                    want_seq);
    if (!has_seq)
        return fail(status, 400, -EBADMSG, err, errlen, "record %zu has no Seq", index);
    if (ev->seq != want_seq)
        return fail(status, 400, -EBADMSG, err, errlen, "record %zu has Seq %" PRIu64 "; its position says %" PRIu64,
                    index, ev->seq, want_seq);
    if (!ev->table)
        return fail(status, 400, -EBADMSG, err, errlen, "record %zu (Seq %" PRIu64 ") has no EventType", index, want_seq);
    if (!has_ts)
        return fail(status, 400, -EBADMSG, err, errlen, "record %zu (Seq %" PRIu64 ") has no Timestamp", index, want_seq);
    ev->rec = rec;
    ev->len = (uint32_t)n;
    return 0;
}

int ingest_decode(const void *body, size_t len, const char *device_id, const struct ingest_limits *lim,
                  struct ingest_batch **out, unsigned *status, char *err, size_t errlen)
{
    struct ingest_batch *b = NULL;
    const uint8_t *p, *end;
    size_t cap, hlen;
    int e;

    *out = NULL;
    *status = 200;
    if (len > lim->max_batch_bytes)
        return fail(status, 413, -EMSGSIZE, err, errlen, "the batch is %zu bytes; at most %zu are allowed", len,
                    lim->max_batch_bytes);
    cap = lim->max_batch_bytes > SIZE_MAX / INGEST_EXPANSION ? SIZE_MAX : lim->max_batch_bytes * INGEST_EXPANSION;
    b = calloc(1, sizeof(*b));
    if (!b)
        return fail(status, 503, -ENOMEM, err, errlen, "out of memory");
    e = inflate(body, len, cap, b, status, err, errlen);
    if (e)
        goto fail;
    p = b->data;
    end = b->data + b->data_len;
    if (b->data_len < 8 || memcmp(p, INGEST_MAGIC, 4) != 0) {
        e = fail(status, 400, -EBADMSG, err, errlen, "not an event batch: the decompressed body does not start with %s",
                 INGEST_MAGIC);
        goto fail;
    }
    hlen = (size_t)p[4] | (size_t)p[5] << 8 | (size_t)p[6] << 16 | (size_t)p[7] << 24;
    if (hlen > INGEST_MAX_HEADER || hlen > b->data_len - 8) {
        e = fail(status, 400, -EBADMSG, err, errlen, "the batch header length %zu is beyond the body or above %d bytes",
                 hlen, INGEST_MAX_HEADER);
        goto fail;
    }
    e = parse_header((const char *)p + 8, hlen, device_id, lim, b, status, err, errlen);
    if (e)
        goto fail;
    /* A record takes at least 4 bytes (length, Seq, Timestamp, EventType),
     * so a small body claiming a large count is refused before the array
     * for count events is allocated. */
    if (b->sb.nevents > (b->data_len - 8 - hlen) / 4) {
        e = fail(status, 400, -EBADMSG, err, errlen,
                 "the header's count (%zu) is more than the %zu bytes of records can hold", b->sb.nevents,
                 b->data_len - 8 - hlen);
        goto fail;
    }
    b->events = calloc(b->sb.nevents, sizeof(*b->events));
    if (!b->events) {
        e = fail(status, 503, -ENOMEM, err, errlen, "out of memory");
        goto fail;
    }
    p += 8 + hlen;
    for (size_t i = 0; i < b->sb.nevents; i++) {
        uint64_t rl;
        if (p == end) {
            e = fail(status, 400, -EBADMSG, err, errlen, "the batch holds %zu records; its header says %zu", i,
                     b->sb.nevents);
            goto fail;
        }
        if (tlv_read_varint(&p, end, &rl) != 0 || rl > TLV_MAX_RECORD || rl > (uint64_t)(end - p)) {
            e = fail(status, 400, -EBADMSG, err, errlen, "record %zu: bad length (truncated, or above %u bytes)", i,
                     TLV_MAX_RECORD);
            goto fail;
        }
        e = check_record(p, (size_t)rl, i, b->sb.first_seq + i, &b->events[i], status, err, errlen);
        if (e)
            goto fail;
        p += rl;
    }
    if (p != end) {
        e = fail(status, 400, -EBADMSG, err, errlen, "the batch holds more records than its header's count (%zu)",
                 b->sb.nevents);
        goto fail;
    }
    b->sb.device_id = b->device_id;
    b->sb.agent_version = b->agent_version[0] ? b->agent_version : NULL;
    b->sb.sensor_backend = b->sensor_backend[0] ? b->sensor_backend : NULL;
    b->sb.events = b->events;
    b->sb.lost = b->lost;
    b->memory = sizeof(*b) + b->data_len + b->sb.nevents * sizeof(*b->events);
    *out = b;
    return 0;
fail:
    ingest_batch_free(b);
    return e;
}
