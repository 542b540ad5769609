/*
 * spool.h — the agent's durable on-disk queue of events.
 *
 * Every event is written here before it is sent: the output appends
 * encoded records (common/tlv.h) with their sequence number, the uploader
 * reads them back in order, sends them, and acknowledges what the server
 * stored. Records live in segment files under one directory; a record is
 * readable by the uploader only once it is durable (fdatasync), so nothing
 * the server has seen can vanish in a crash. At start the spool recovers:
 * a torn or corrupt tail of the newest segment is cut off and counted,
 * sequence numbering continues where it stopped.
 *
 * A quota by size and age bounds the directory: over it, low-value events
 * (spool_policy.c) of the oldest segments go first, then whole oldest
 * segments. Everything dropped is counted by reason and record type in a
 * loss ledger that two consumers read independently: the agent's loop
 * (SensorEventsLost events) and the uploader (the batch header's "lost").
 * docs/agent.md describes the format, the recovery rules and the policy.
 *
 * Threads: one writer (spool_append, spool_flush: the agent's loop), one
 * reader-maintainer (spool_read, spool_ack, spool_maintain, spool_reject:
 * the uploader); spool_sync, spool_stats and the loss ledger may be called
 * from any thread.
 */
#ifndef YAMORI_AGENT_SPOOL_H
#define YAMORI_AGENT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sensor_abi.h"

#define SPOOL_SEGMENT_HEADER 32 /* bytes before the first record of a segment */
#define SPOOL_RECORD_HEADER 16  /* length, CRC, seq */

struct spool;

struct spool_options {
    const char *dir;              /* the spool directory (created 0700) */
    uint64_t segment_bytes;       /* a segment rolls at this size (0: 4 MiB) */
    uint64_t segment_seconds;     /* ... or this old (0: 3600) */
    uint64_t max_bytes;           /* quota by size (0: 1 GiB) */
    uint64_t max_age_seconds;     /* quota by age (0: 7 days) */
    uint64_t min_free_bytes;      /* the quota also keeps this much free on the file system (0: 64 MiB) */
    size_t buffer_bytes;          /* appends are written out at this (0: 256 KiB) */
};

/* Why events were lost. SPOOL_LOSS_SENSOR is the sensor's own drops (ring
 * buffer or queue), which the agent reports itself: the spool only keeps
 * them for the batch header. */
enum spool_loss_reason {
    SPOOL_LOSS_SENSOR,   /* "ring-buffer-full" / "queue-overflow" (by record type) */
    SPOOL_LOSS_QUOTA,    /* "spool-quota": size or age quota */
    SPOOL_LOSS_CORRUPT,  /* "spool-corrupt": torn or corrupt records found on disk */
    SPOOL_LOSS_REJECTED, /* "rejected": the server refused the record (400) */
    SPOOL_LOSS_ERROR,    /* "spool-error": the record could not be written */
    SPOOL_LOSS_MAX
};

/* The readers of the loss ledger; each sees every loss once. */
enum spool_loss_consumer { SPOOL_CONSUMER_EVENTS, SPOOL_CONSUMER_BATCH, SPOOL_CONSUMER_MAX };

struct spool_loss {
    uint64_t n[SPOOL_LOSS_MAX][YS_TYPE_MAX]; /* [reason][record type] (type 0: other) */
};

struct spool_stats {
    uint64_t next_seq;        /* the seq the next append gets */
    uint64_t acked_seq;       /* everything up to here was acknowledged */
    uint64_t synced_seq;      /* everything up to here is durable */
    uint64_t disk_bytes;      /* all segment files */
    uint64_t pending_events;  /* records not acknowledged yet */
    uint64_t pending_bytes;   /* ... and their bytes on disk */
    uint64_t segments;
    uint64_t appended;        /* records appended since open */
    uint64_t recovered;       /* records found at open */
    uint64_t oldest_pending_ns; /* UTC creation time of the oldest segment with pending records (0: none) */
    uint64_t lost[SPOOL_LOSS_MAX]; /* totals since open */
    int write_error;          /* the last append/write error (-errno), 0 when the last write worked */
};

/* Names: "spool-quota" ... (the LostReason of SensorEventsLost) and the key
 * of the batch header ("spool_quota" ...). */
const char *spool_loss_reason_name(enum spool_loss_reason r);
const char *spool_loss_key(enum spool_loss_reason r);

/* Opens (creating) the spool in opt->dir and recovers it: validates every
 * segment, cuts a torn or corrupt tail off the newest one, repairs older
 * ones around corrupt records (counting what was lost), makes what it
 * found durable, deletes segments that were acknowledged, and starts a new
 * segment. A spool that never existed starts its sequence at the current
 * UTC time in microseconds, so that a reinstalled agent that keeps its
 * device identity never reuses a sequence number the server already has.
 * Returns 0, or -errno with a message in err. */
int spool_open(struct spool **out, const struct spool_options *opt, char *err, size_t errlen);

/* Writes and syncs what is buffered, then frees everything. Accepts NULL. */
void spool_close(struct spool *s);

/* The sequence number the next spool_append must carry. */
uint64_t spool_next_seq(struct spool *s);

/* Appends one encoded event whose Seq field is seq, which must be
 * spool_next_seq(); 1 <= len <= TLV_MAX_RECORD. The record is buffered;
 * it is written by spool_flush (or when the buffer fills) and becomes
 * readable after spool_sync. Returns 0, -EINVAL for a wrong seq or length,
 * or -errno when writing failed (the records lost are counted as
 * SPOOL_LOSS_ERROR). Writer thread. */
int spool_append(struct spool *s, uint64_t seq, const void *rec, size_t len);

/* Writes the buffered records to the current segment (no sync), rolling to
 * a new segment when it is full, old, or the reader asked for it. Returns
 * 0 or -errno. Writer thread. */
int spool_flush(struct spool *s);

/* Makes every written record durable (fdatasync) and readable. Any thread;
 * does not block the writer during the sync. Returns 0 or -errno. */
int spool_sync(struct spool *s);

/* spool_sync when written records wait and the last sync is at least
 * min_interval_ms ago (or the unsynced bytes exceed 1 MiB). */
int spool_sync_due(struct spool *s, unsigned min_interval_ms);

/* Whether records were written that are not synced yet. */
bool spool_unsynced(struct spool *s);

/* Called by spool_read for each record in order. Returns 0 to take it and
 * go on, 1 to stop before it (it is not consumed), or -errno to stop with
 * that error. rec is valid during the call only. */
typedef int (*spool_record_fn)(void *ctx, uint64_t seq, const void *rec, size_t len);

/* Reads durable records with seq > after in order, at most max_records and
 * max_bytes of record bytes, calling fn for each. A corrupt record found
 * here is repaired around and counted (SPOOL_LOSS_CORRUPT). Returns the
 * number of records taken (0: none are readable), or -errno. Reader
 * thread. */
int spool_read(struct spool *s, uint64_t after, size_t max_records, size_t max_bytes, spool_record_fn fn,
               void *ctx);

/* Records that everything up to seq was acknowledged: writes the state
 * file (atomically), deletes segments that hold nothing newer. seq below
 * the acknowledged one is ignored; beyond the last assigned one is -EINVAL.
 * Returns 0 or -errno. Reader thread. */
int spool_ack(struct spool *s, uint64_t seq);

/* Gives up on record seq (rec, len: its bytes as spool_read gave them),
 * the first one not acknowledged, which the server refused: keeps a copy
 * and why in <dir>/rejected/ (up to 100 records), counts it as
 * SPOOL_LOSS_REJECTED and acknowledges it. Returns 0 or -errno. Reader
 * thread. */
int spool_reject(struct spool *s, uint64_t seq, const void *rec, size_t len, const char *why);

/* Deletes what was acknowledged and enforces the quota (age, then size:
 * low-value events of the oldest segments first, then the oldest
 * segments), counting every pending event dropped. The size limit is
 * max_bytes, or less when the file system would otherwise keep less than
 * min_free_bytes free. now_ns is UTC. Returns the number of events
 * dropped, or -errno. Reader thread. */
int64_t spool_maintain(struct spool *s, uint64_t now_ns);

/* Waits up to timeout_ms for the writer to write something new, or for
 * spool_wake. Returns true when there is something not yet synced. */
bool spool_wait(struct spool *s, int timeout_ms);

/* Wakes spool_wait (to stop the reader thread). */
void spool_wake(struct spool *s);

void spool_get_stats(struct spool *s, struct spool_stats *out);

/* Adds n losses of a record type (YS_*, 0: other) for a reason. Any thread. */
void spool_count_loss(struct spool *s, enum spool_loss_reason r, unsigned type, uint64_t n);

/* The losses the consumer has not seen yet; commit marks them seen (pass
 * what peek returned). Any thread. */
void spool_peek_loss(struct spool *s, enum spool_loss_consumer c, struct spool_loss *out);
void spool_commit_loss(struct spool *s, enum spool_loss_consumer c, const struct spool_loss *seen);

/* spool_policy.c: the record type (YS_*, 0 for other events) an encoded
 * event stands for, from its ActionType (and Protocol); and whether the
 * quota drops it before other events (docs/agent.md, "Quota"). A malformed
 * record is type 0 and not low-value. */
unsigned spool_record_type(const void *rec, size_t len);
bool spool_low_value(const void *rec, size_t len, unsigned *type);

/* The record type of an ActionType ("ProcessCreated" -> YS_PROC_EXEC ...;
 * 0 when none); udp distinguishes the datagram network events. */
unsigned spool_action_type(const char *action, size_t len, bool udp);

#endif
