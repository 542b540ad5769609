/*
 * ingest.h — event batches from agents into the store (docs/wire.md,
 * "Event batches").
 *
 * Two parts, usable without HTTP (tests and benchmarks drive them
 * directly):
 *
 *  - ingest_decode(): a request body → a validated batch. Runs in the
 *    HTTP threads, in parallel: zstd with an output limit, the header,
 *    every record. Anything wrong is an error with the HTTP status and a
 *    message, and nothing reaches the store.
 *  - the writer: one thread that takes the queued batches, stores as many
 *    as are waiting in one transaction (group commit: one fsync for many
 *    batches) and then reports each batch's result, only after the commit.
 *    Between groups it runs retention, one short step at a time.
 *
 * The module (ingest.c) puts them behind POST /api/v1/agent/events and
 * defers each request until the writer has stored its batch.
 */
#ifndef YAMORI_SERVER_INGEST_H
#define YAMORI_SERVER_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store_events.h"

#define INGEST_CONTENT_TYPE "application/vnd.yamori.batch"
#define INGEST_MAGIC "YMB1"
#define INGEST_MAX_HEADER (64 * 1024)
#define INGEST_MAX_LOST 64           /* counters in a header's "lost" */
#define INGEST_EXPANSION 8           /* decompressed at most this × max_batch_bytes */

struct ingest_limits {
    size_t max_batch_bytes;  /* compressed body */
    size_t max_batch_events;
};

/* A decoded, validated batch; owns everything sb points to. */
struct ingest_batch {
    struct store_event_batch sb;
    char device_id[64];
    char agent_version[65];
    char sensor_backend[33];
    uint8_t *data;                   /* the decompressed body */
    size_t data_len;
    struct store_event_in *events;
    struct store_lost_counter lost[INGEST_MAX_LOST];
    char lost_names[INGEST_MAX_LOST][65];
    size_t memory;                   /* bytes held, for the writer's queue limit */
};

/* Decodes a batch body for the authenticated device_id within lim.
 * Returns 0 and *out (free with ingest_batch_free), or -errno with the
 * HTTP status for the answer in *status (400 malformed, 403 another
 * device's batch, 413 too large, 503 out of memory) and a message in err.
 * Never allocates more than lim allows, whatever the frame claims. */
int ingest_decode(const void *body, size_t len, const char *device_id, const struct ingest_limits *lim,
                  struct ingest_batch **out, unsigned *status, char *err, size_t errlen);

/* Accepts NULL. */
void ingest_batch_free(struct ingest_batch *b);

/* ------------------------------------------------------------ the writer */

struct ingest_result {
    int error;               /* 0: stored (durable); else -errno */
    unsigned status;         /* HTTP status for the answer: 200, or 503 */
    uint64_t acked_seq;
    size_t stored, duplicates;
    char message[256];       /* when error */
};

/* Called by the writer thread once per submitted batch, after its
 * transaction committed (or failed). */
typedef void (*ingest_done_fn)(void *ctx, const struct ingest_result *r);

struct ingest_writer_options {
    size_t max_queue_bytes;   /* decoded batches waiting (0: 256 MiB) */
    size_t max_group_events;  /* events per transaction (0: 50,000) */
    unsigned retention_days;  /* 0: no retention */
    unsigned prune_every_ms;  /* how often retention looks (0: 60,000) */
};

struct ingest_writer;

/* Starts the writer thread over st (attached with store_events_attach).
 * Returns 0 or -errno with a message. */
int ingest_writer_start(struct store *st, const struct ingest_writer_options *o, struct ingest_writer **out,
                        char *err, size_t errlen);

/* Queues b for storing and takes it (also when it fails). Returns 0 (done
 * will be called exactly once), -EAGAIN when the queue is full or
 * -ESHUTDOWN when stopping (done is not called). */
int ingest_writer_submit(struct ingest_writer *w, struct ingest_batch *b, ingest_done_fn done, void *ctx);

/* Stores what is queued, reports it, stops the thread, frees w. Accepts
 * NULL. */
void ingest_writer_stop(struct ingest_writer *w);

/* The post-commit hook: after a group's transaction committed, the writer
 * thread calls fn(ctx, b) once for each batch of the group that stored new
 * events (b->stored > 0). The new events are the last b->stored of
 * b->events (a batch's Seqs are consecutive, so its duplicates come
 * first); b and everything it points to live only during the call. The
 * detection module registers here (detection.h). fn runs in the writer
 * thread, so it must not block or do slow work: it copies what it needs
 * and returns. One hook; NULL fn removes it. Thread-safe: after
 * ingest_set_commit_hook() returns, the previous hook is no longer
 * running and will not be called again. */
typedef void (*ingest_commit_fn)(void *ctx, const struct store_event_batch *b);
void ingest_set_commit_hook(ingest_commit_fn fn, void *ctx);

struct ingest_writer_stats {
    uint64_t batches, events_stored, duplicates, groups, failures;
    uint64_t queued_batches, queued_bytes;
};
void ingest_writer_stats(struct ingest_writer *w, struct ingest_writer_stats *out);

#endif
