/*
 * tlv.h — the binary encoding of one event: fields of schema.h, each a key
 * (field id << 3 | wire type) followed by its value, in protobuf's wire
 * layout: wire type 0 is a varint (unsigned, zigzag for signed, time in ns,
 * 1 for a true boolean), wire type 2 is a length-delimited byte string
 * (strings, JSON text). A decoder skips fields whose id it does not know,
 * so fields can be added without changing the version. Events in a batch or
 * a spool segment are each preceded by their length as a varint.
 *
 * Decoding never trusts its input: every length is checked against what is
 * left, and a malformed record is an error, never a read past its end.
 */
#ifndef YAMORI_COMMON_TLV_H
#define YAMORI_COMMON_TLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/schema.h"

#define TLV_WIRE_VARINT 0
#define TLV_WIRE_BYTES 2
#define TLV_MAX_RECORD (1u << 20) /* one event is never larger than this */

struct tlv_buf {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* an allocation failed: the content is incomplete */
};

void tlv_init(struct tlv_buf *b);
void tlv_free(struct tlv_buf *b);
static inline void tlv_reset(struct tlv_buf *b)
{
    b->len = 0;
    b->failed = false;
}

void tlv_put_uint(struct tlv_buf *b, unsigned field, uint64_t v);
void tlv_put_int(struct tlv_buf *b, unsigned field, int64_t v);
static inline void tlv_put_time(struct tlv_buf *b, unsigned field, uint64_t unix_ns)
{
    tlv_put_uint(b, field, unix_ns);
}
void tlv_put_bool(struct tlv_buf *b, unsigned field);
void tlv_put_str(struct tlv_buf *b, unsigned field, const char *s, size_t n);
/* Only when s is not NULL and not empty. */
void tlv_put_cstr_opt(struct tlv_buf *b, unsigned field, const char *s);
/* Appends bytes already encoded (a cached fragment of fields). */
void tlv_put_raw(struct tlv_buf *b, const void *bytes, size_t n);
/* Appends v as a varint (record lengths). */
void tlv_put_varint(struct tlv_buf *b, uint64_t v);

struct tlv_field {
    unsigned id;
    unsigned wire;     /* TLV_WIRE_VARINT or TLV_WIRE_BYTES */
    uint64_t u;        /* varint value (zigzag not undone) */
    const char *s;     /* bytes value */
    size_t n;
};

struct tlv_reader {
    const uint8_t *p, *end;
};

static inline void tlv_reader_init(struct tlv_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->end = (const uint8_t *)data + len;
}

/* Reads the next field: 1 when one was read, 0 at the end, -EBADMSG when
 * the bytes are not a valid encoding (truncated varint or string, unknown
 * wire type, varint over 10 bytes). */
int tlv_next(struct tlv_reader *r, struct tlv_field *f);

/* Reads a varint (a record length). Returns 0, or -EBADMSG. */
int tlv_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

static inline int64_t tlv_unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

struct jsonw;

/* Renders one record as a JSON object (no newline) with the names and types
 * of schema.h; fields of unknown ids are left out. A SCHEMA_JSON value is
 * copied as text: pass trusted=false for input from the network, and such
 * values are written as strings instead. Returns 0 or -EBADMSG (nothing
 * useful was written then). */
int tlv_to_json(const void *rec, size_t len, struct jsonw *w, bool trusted);

/* The value of field `id` in a record (the first occurrence). Returns 1
 * when found, 0 when absent, -EBADMSG when the record is malformed. */
int tlv_find(const void *rec, size_t len, unsigned id, struct tlv_field *out);

#endif
