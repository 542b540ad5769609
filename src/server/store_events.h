/*
 * store_events.h — the events the agents send, in the hunting tables.
 *
 * Owned by the ingest module (src/server/ingest*.c, events*.c,
 * store_sqlite_events*.c). The ingest decodes and validates a batch,
 * prepares it (store_events_prepare, in the HTTP threads), then its
 * writer thread hands groups of batches to store_events_write(), which
 * stores them in one transaction: a batch is either wholly stored or not
 * at all, and a call that returned 0 is durable. Duplicates are dropped by
 * (device, Seq): an event whose Seq is at or below the highest Seq the
 * device already delivered is counted, not stored.
 *
 * The hunting tables (DeviceProcessEvents, DeviceFileEvents,
 * DeviceNetworkEvents, DeviceLogonEvents, DeviceEvents) can be queried
 * with SQL on any store connection; docs/decisions.md ("Event store")
 * explains the layout and which SQL is fast.
 */
#ifndef YAMORI_SERVER_STORE_EVENTS_H
#define YAMORI_SERVER_STORE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct schema_field_info;
struct store_events_prepared;

/* What the store knows of one device's events: the time of its newest
 * event (ms since the epoch, 0 when none), how many events it stored, and
 * the highest sequence number acknowledged. -ENOENT when the device never
 * sent an event. */
struct store_device_events {
    int64_t last_event_ms;    /* newest event Timestamp, never later than when it was received */
    int64_t last_ingest_ms;   /* when the server last stored a batch from it */
    uint64_t events_total;
    uint64_t last_seq;
    /* added after the first version: */
    uint64_t duplicates_total; /* events received again and dropped */
    uint64_t batches_total;
    uint64_t lost_total;       /* sum of the "lost" counters of its batch headers */
};
int store_events_device_summary(struct store *st, const char *device_id, struct store_device_events *out);

/* The "lost" counters a device reported, summed over its batches: fn(name,
 * total, ctx) per counter, by name. 0, or -EIO. */
int store_events_device_lost(struct store *st, const char *device_id,
                             void (*fn)(const char *name, uint64_t total, void *ctx), void *ctx);

/* ------------------------------------------------------------ the event store */

/* Prepares the event store of st for writes and queries: creates or
 * upgrades the partitions' tables and the hunting views from schema.h (a
 * field added to the schema becomes a column). Call once after
 * store_open(), before the other functions below; store_events_detach()
 * before store_close(). Returns 0 or -errno with a message in err. */
int store_events_attach(struct store *st, char *err, size_t errlen);
/* Frees what store_events_attach() set up. Accepts a store never attached. */
void store_events_detach(struct store *st);

/* One event of a batch, decoded and validated by the ingest: a TLV record
 * (src/common/tlv.h) in which every known field has the wire type of its
 * schema type, no known field appears twice, integers fit in int64, and
 * Seq, Timestamp and EventType are present. The store trusts that. */
struct store_event_in {
    const uint8_t *rec;
    uint32_t len;
    uint8_t table;            /* one SCHEMA_T_* bit: the EventType */
    uint64_t seq;
    uint64_t ts_ns;           /* Timestamp */
};

struct store_lost_counter {
    const char *name;         /* "exec", "spool_quota", ... */
    uint64_t count;
};

struct store_event_batch {
    /* in */
    const char *device_id;
    const char *agent_version;   /* may be NULL */
    const char *sensor_backend;  /* may be NULL */
    uint64_t first_seq, last_seq;
    const struct store_event_in *events; /* in Seq order */
    size_t nevents;
    const struct store_lost_counter *lost;
    size_t nlost;
    struct store_events_prepared *prepared; /* from store_events_prepare(), or NULL */
    /* out, set by store_events_write() when it returns 0 */
    uint64_t acked_seq;          /* last_seq */
    size_t stored, duplicates;
};

/* Does the expensive part of storing b (grouping its events per table and
 * compressing them) outside the writer: call it from the thread that
 * decoded b, in parallel with others. Sets b->prepared (free it with
 * store_events_prepared_free). Optional: store_events_write() does it
 * itself for a batch without it. Returns 0 or -ENOMEM. */
int store_events_prepare(struct store_event_batch *b);
/* Accepts NULL. */
void store_events_prepared_free(struct store_events_prepared *p);

/* Stores the n batches in one transaction, in order, and returns only when
 * it is committed (WAL, synchronous=FULL: durable). Fills each batch's
 * results. The received time is store_now_ms(). On error nothing of any
 * batch is stored; returns -errno (-EIO, -ENOSPC) with a message in err.
 * Calls are serialised on the store's writer connection. */
int store_events_write(struct store *st, struct store_event_batch *const *batches, size_t n, char *err,
                       size_t errlen);

/* One step of retention: partitions whose every event was received more
 * than retention_days ago go, one table per call (each step is a short
 * transaction, so ingest continues in between). *more is set when another
 * step is due now. Returns 0 or -errno with a message. */
int store_events_prune(struct store *st, unsigned retention_days, bool *more, char *err, size_t errlen);

/* Every partition, oldest first: fn(day as YYYYMMDD, oldest and newest
 * Timestamp in ns (0 when empty), rows, ctx). 0 or -EIO. */
int store_events_partitions(struct store *st,
                            void (*fn)(int day, int64_t min_ts_ns, int64_t max_ts_ns, uint64_t rows, void *ctx),
                            void *ctx);

/* ------------------------------------------------------------ queries */

struct store_events_filter {
    const char *device_id;    /* NULL: every device */
    unsigned tables;          /* SCHEMA_T_* mask; 0: all five */
    int64_t since_ns, until_ns; /* Timestamp range, both included */
    const char *action;       /* exact ActionType; NULL: any */
    size_t limit;             /* most events (1 .. STORE_EVENTS_MAX_LIMIT) */
};
#define STORE_EVENTS_MAX_LIMIT 10000

/* One value of an event row: a column of schema.h (field) with its value;
 * s/n for SCHEMA_STR and SCHEMA_JSON (bytes as the agent sent them), i
 * for the others (SCHEMA_UINT and SCHEMA_TIME as non-negative, SCHEMA_BOOL
 * as 1). */
struct store_event_value {
    const struct schema_field_info *field;
    int64_t i;
    const char *s;
    size_t n;
};

struct store_event_row {
    unsigned table;           /* one SCHEMA_T_* bit */
    const char *device_id;
    int64_t received_ns;
    const struct store_event_value *values; /* present columns, in schema order */
    size_t nvalues;
};

/* The events matching f, newest Timestamp first: fn(row, ctx) for each,
 * with pointers valid during the call only; a non-zero return from fn
 * stops and is returned. Returns 0, -EINVAL (bad filter) or -EIO with a
 * message in err. */
int store_events_query(struct store *st, const struct store_events_filter *f,
                       int (*fn)(const struct store_event_row *row, void *ctx), void *ctx, char *err,
                       size_t errlen);

#endif
