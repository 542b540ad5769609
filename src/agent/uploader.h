/*
 * uploader.h — ships the spool to the server (docs/wire.md, "Event
 * batches") in a thread of its own, so that a slow or absent server never
 * slows the sensor.
 *
 * The thread makes what the agent's loop wrote durable (spool_sync, at
 * most every sync_ms), reads the records after the acknowledged one,
 * builds a batch (YMB1, a JSON header, varint-length records; contiguous
 * sequence numbers; up to max_events and max_bytes), compresses it with
 * zstd, POSTs it, and acknowledges what the server stored. While there is
 * a backlog it sends batch after batch without pause. It also runs the
 * spool's upkeep (acknowledged segments, quota) about once a second.
 *
 * Failures (docs/agent.md, "Uploading"): server unreachable, 5xx, 429,
 * 401/403: retry with exponential backoff and full jitter (1 s .. 60 s;
 * Retry-After honoured up to 5 min), the spool keeps collecting. 400 or
 * 413 on a batch: the batch is halved and retried until the one record the
 * server refuses is found; that record is quarantined (spool_reject:
 * counted lost as "rejected", kept in <spool>/rejected/), so the same bytes
 * are never sent in a loop.
 */
#ifndef YAMORI_AGENT_UPLOADER_H
#define YAMORI_AGENT_UPLOADER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/spool.h"

struct channel;

/* ------------------------------------------------------------ batches */

struct uploader_batch;

/* What the header says besides the records. */
struct batch_header {
    const char *device_id;
    const char *sensor_backend;
    const struct spool_loss *lost; /* NULL: nothing lost */
};

int uploader_batch_new(struct uploader_batch **out);
void uploader_batch_free(struct uploader_batch *b);

/* Reads the durable records after `after` from the spool, as long as
 * their sequence numbers are contiguous, up to max_events and max_bytes
 * of records, and builds the compressed body. Returns the number of
 * records (0: nothing to send), or -errno. */
int uploader_batch_build(struct uploader_batch *b, struct spool *s, uint64_t after, size_t max_events,
                         size_t max_bytes, const struct batch_header *h);

/* The body built last (one zstd frame) and its size. */
const void *uploader_batch_body(const struct uploader_batch *b, size_t *len);
uint64_t uploader_batch_first(const struct uploader_batch *b);
uint64_t uploader_batch_last(const struct uploader_batch *b);
size_t uploader_batch_count(const struct uploader_batch *b);
/* The bytes of the batch's only record (count 1), for quarantine. */
const void *uploader_batch_record(const struct uploader_batch *b, size_t *len);

/* ------------------------------------------------------------ the thread */

struct uploader_options {
    size_t max_events;        /* per batch (0: 5000) */
    size_t max_bytes;         /* of records per batch, uncompressed (0: 2 MiB) */
    unsigned sync_ms;         /* longest a written event waits for fdatasync (0: 200) */
    unsigned backoff_min_ms;  /* (0: 1000) */
    unsigned backoff_max_ms;  /* (0: 60000) */
};

struct uploader;

/* Starts the thread. The channel and the spool must outlive it. Returns 0
 * or -errno with err. */
int uploader_start(struct uploader **out, struct channel *c, struct spool *s, const struct uploader_options *opt,
                   char *err, size_t errlen);

/* Stops the thread (the channel must be stopping: channel_stop) and frees
 * it. Accepts NULL. */
void uploader_stop(struct uploader *u);

/* The delay before retry number `attempt` (0-based): uniformly random in
 * [0, min(max_ms, min_ms * 2^attempt)] (full jitter). *rng is the state of
 * a small generator. Exposed for tests. */
uint64_t uploader_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms, uint64_t *rng);

#endif
