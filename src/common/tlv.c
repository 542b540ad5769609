/*
 * tlv.c — see tlv.h.
 */
#include "common/tlv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"

void tlv_init(struct tlv_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void tlv_free(struct tlv_buf *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static bool reserve(struct tlv_buf *b, size_t n)
{
    size_t cap;
    uint8_t *nd;

    if (b->failed)
        return false;
    if (b->len + n <= b->cap)
        return true;
    cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n)
        cap *= 2;
    nd = realloc(b->data, cap);
    if (!nd) {
        b->failed = true;
        return false;
    }
    b->data = nd;
    b->cap = cap;
    return true;
}

void tlv_put_varint(struct tlv_buf *b, uint64_t v)
{
    if (!reserve(b, 10))
        return;
    while (v >= 0x80) {
        b->data[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (uint8_t)v;
}

void tlv_put_uint(struct tlv_buf *b, unsigned field, uint64_t v)
{
    tlv_put_varint(b, (uint64_t)field << 3 | TLV_WIRE_VARINT);
    tlv_put_varint(b, v);
}

void tlv_put_int(struct tlv_buf *b, unsigned field, int64_t v)
{
    tlv_put_uint(b, field, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void tlv_put_bool(struct tlv_buf *b, unsigned field)
{
    tlv_put_uint(b, field, 1);
}

void tlv_put_str(struct tlv_buf *b, unsigned field, const char *s, size_t n)
{
    tlv_put_varint(b, (uint64_t)field << 3 | TLV_WIRE_BYTES);
    tlv_put_varint(b, n);
    tlv_put_raw(b, s, n);
}

void tlv_put_cstr_opt(struct tlv_buf *b, unsigned field, const char *s)
{
    if (s && *s)
        tlv_put_str(b, field, s, strlen(s));
}

void tlv_put_raw(struct tlv_buf *b, const void *bytes, size_t n)
{
    if (n && reserve(b, n)) {
        memcpy(b->data + b->len, bytes, n);
        b->len += n;
    }
}

int tlv_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (p >= end)
            return -EBADMSG;
        uint8_t c = *p++;
        if (shift == 63 && c > 1)
            return -EBADMSG; /* more than 64 bits */
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -EBADMSG;
}

int tlv_next(struct tlv_reader *r, struct tlv_field *f)
{
    uint64_t key, v;

    if (r->p >= r->end)
        return 0;
    if (tlv_read_varint(&r->p, r->end, &key) != 0 || (key >> 3) > 0xffff)
        return -EBADMSG;
    f->id = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    if (f->wire == TLV_WIRE_VARINT) {
        if (tlv_read_varint(&r->p, r->end, &f->u) != 0)
            return -EBADMSG;
        f->s = NULL;
        f->n = 0;
        return 1;
    }
    if (f->wire != TLV_WIRE_BYTES)
        return -EBADMSG;
    if (tlv_read_varint(&r->p, r->end, &v) != 0 || v > (uint64_t)(r->end - r->p))
        return -EBADMSG;
    f->s = (const char *)r->p;
    f->n = (size_t)v;
    f->u = 0;
    r->p += v;
    return 1;
}

int tlv_find(const void *rec, size_t len, unsigned id, struct tlv_field *out)
{
    struct tlv_reader r;
    int e;

    tlv_reader_init(&r, rec, len);
    while ((e = tlv_next(&r, out)) == 1)
        if (out->id == id)
            return 1;
    return e;
}

int tlv_to_json(const void *rec, size_t len, struct jsonw *w, bool trusted)
{
    struct tlv_reader r;
    struct tlv_field f;
    int e;

    /* validate first: a malformed record must not leave half an object */
    tlv_reader_init(&r, rec, len);
    while ((e = tlv_next(&r, &f)) == 1)
        ;
    if (e < 0)
        return e;

    jsonw_object_begin(w);
    tlv_reader_init(&r, rec, len);
    while (tlv_next(&r, &f) == 1) {
        const struct schema_field_info *fi = schema_field(f.id);
        bool bytes = f.wire == TLV_WIRE_BYTES;
        if (!fi)
            continue;
        switch (fi->type) {
        case SCHEMA_STR:
            if (bytes)
                jsonw_key(w, fi->name), jsonw_strn(w, f.s, f.n);
            break;
        case SCHEMA_JSON:
            if (bytes) {
                jsonw_key(w, fi->name);
                if (trusted && f.n)
                    jsonw_raw(w, f.s, f.n);
                else
                    jsonw_strn(w, f.s, f.n);
            }
            break;
        case SCHEMA_UINT:
            if (!bytes)
                jsonw_kv_uint(w, fi->name, f.u);
            break;
        case SCHEMA_INT:
            if (!bytes)
                jsonw_kv_int(w, fi->name, tlv_unzigzag(f.u));
            break;
        case SCHEMA_TIME:
            if (!bytes)
                jsonw_kv_time(w, fi->name, f.u);
            break;
        case SCHEMA_BOOL:
            if (!bytes && f.u)
                jsonw_kv_bool(w, fi->name, true);
            break;
        }
    }
    jsonw_object_end(w);
    return 0;
}
