/*
 * events_block.h — how the event store keeps events: blocks.
 *
 * A block is the events of one batch that belong to one hunting table, in
 * Seq order, as the wire carries them (each a varint length and a TLV
 * record of schema.h), compressed as one zstd frame. With it the store
 * keeps what makes a block findable without opening it: the table, the
 * device, the Seq and Timestamp ranges, and the process keys (see
 * events_uid_key) of every process the events name.
 *
 * Building a block (compression) runs in the HTTP threads, in parallel;
 * the single database writer then only inserts a few rows per batch.
 * Reading opens a block (decompression, bounded) and walks its records.
 * No SQL and no I/O here.
 */
#ifndef YAMORI_SERVER_EVENTS_BLOCK_H
#define YAMORI_SERVER_EVENTS_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store_events.h"

#define EVENTS_BLOCK_LEVEL 1               /* zstd level: speed first, ≈8× on events */
#define EVENTS_BLOCK_MAX_RAW (512u << 20)  /* a block never decompresses to more */

struct events_block {
    unsigned table;            /* one SCHEMA_T_* bit */
    size_t count;              /* events; 0: no block */
    uint64_t first_seq, last_seq;
    int64_t min_ts, max_ts;
    size_t raw_len;            /* decompressed size */
    uint8_t *data;             /* the zstd frame */
    size_t len;
    int64_t *keys;             /* distinct process keys, ascending */
    size_t nkeys;
};

/* Builds the block of the events of `table` among ev[0..n) whose Seq is
 * above `after` (0: all). The events must be validated (store_events.h).
 * out->count is 0 when there are none. Returns 0 or -ENOMEM/-EIO. */
int events_block_build(const struct store_event_in *ev, size_t n, unsigned table, uint64_t after,
                       struct events_block *out);
/* Frees what a block holds; accepts NULL and cleared blocks. */
void events_block_clear(struct events_block *b);

/* The process key of a unique process id "f5647a1c-4242-1203311": the
 * start time in clock ticks << 22 | the pid. Equal ids give equal keys;
 * different ids rarely do (the store compares the text as well). False
 * for text of another form. */
bool events_uid_key(const char *s, size_t n, int64_t *key);

/* Whether field id names a process whose key indexes the blocks:
 * ProcessUniqueId, InitiatingProcessUniqueId, TargetProcessUniqueId. */
bool events_is_uid_field(unsigned id);

/* ------------------------------------------------------------ reading */

struct events_block_reader {
    uint8_t *buf;
    size_t cap;
    const uint8_t *p, *end;
    void *dctx;                /* ZSTD_DCtx, reused */
};

void events_block_reader_init(struct events_block_reader *r);
void events_block_reader_free(struct events_block_reader *r);

/* Opens a stored block: data/len its zstd frame, raw_len what it must
 * decompress to (at most EVENTS_BLOCK_MAX_RAW). Returns 0 or -EBADMSG
 * (damaged), -ENOMEM. */
int events_block_open(struct events_block_reader *r, const void *data, size_t len, size_t raw_len);

/* The next record of the open block: 1 with rec/len (valid until the
 * next open), 0 at the end, -EBADMSG when damaged. */
int events_block_next(struct events_block_reader *r, const uint8_t **rec, size_t *len);

#endif
