/*
 * recent.h — the agent's most recent events, kept in memory for the
 * investigation package (collect.c writes them as agent/events.jsonl).
 *
 * A bounded ring of encoded records (common/tlv.h, exactly what the spool
 * keeps and the wire carries): at most max_records records and max_bytes
 * record bytes, the oldest going first. The agent's outputs (output.h)
 * add each event right after encoding it — one copy under a lock nobody
 * else holds except for the moment a reader takes its snapshot — and a
 * collect command reads a snapshot from its worker thread, converting it
 * outside the lock, so the agent's loop never waits on a reader.
 *
 * Reference counted: the agent holds one reference, collect takes its
 * own while it reads, so a collect still running when the agent stops
 * never reads freed memory.
 */
#ifndef YAMORI_AGENT_RECENT_H
#define YAMORI_AGENT_RECENT_H

#include <stddef.h>
#include <stdint.h>

#define RECENT_MAX_RECORDS 10000
#define RECENT_MAX_BYTES (4u << 20)

struct recent;

/* A ring of at most max_records records and max_bytes bytes (the memory
 * is reserved at once and touched as records arrive). NULL when out of
 * memory or a bound is 0. The caller holds the one reference. */
struct recent *recent_new(size_t max_records, size_t max_bytes);

/* Takes another reference to r (NULL gives NULL). */
struct recent *recent_ref(struct recent *r);

/* Drops a reference; the last one frees r. Accepts NULL. */
void recent_unref(struct recent *r);

/* Adds one record (copied), dropping the oldest ones as needed. A record
 * larger than the ring's byte bound, or an empty one, is not kept. r may
 * be NULL (nothing happens). Any thread. */
void recent_add(struct recent *r, const void *rec, size_t len);

/* Called for each record of a snapshot, oldest first; rec is valid during
 * the call. A non-zero return stops the walk. */
typedef int (*recent_fn)(const void *rec, size_t len, void *ctx);

/* Takes a snapshot of r (a copy, made under the lock) and calls fn for its
 * records outside the lock. Returns the number of records fn was called
 * for, or -ENOMEM (nothing was called). Any thread. */
long recent_each(struct recent *r, recent_fn fn, void *ctx);

struct recent_stats {
    uint64_t added;   /* records added since the ring was made */
    uint64_t dropped; /* ... that are gone again (pushed out, or too large) */
    uint64_t records; /* kept now */
    uint64_t bytes;   /* their bytes */
};

void recent_get_stats(struct recent *r, struct recent_stats *out);

#endif
