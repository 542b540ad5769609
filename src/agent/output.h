/*
 * output.h — where enriched events go.
 *
 * An output takes each event (as the pipeline's yam_event_fn), gives it its
 * sequence number and renders it. The JSON-lines output writes to a file
 * descriptor (yamori-agent --stdout); the spool output (output_spool.c:
 * durable, shipped to the server) has the same shape. The agent's loop
 * sees either through struct output.
 */
#ifndef YAMORI_AGENT_OUTPUT_H
#define YAMORI_AGENT_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/event.h"

struct pipeline;
struct output_jsonl;
struct output_spool;
struct recent;
struct spool;

/* The interface both outputs satisfy, as the agent's loop uses it. */
struct output {
    void *ctx;
    yam_event_fn event;                  /* takes each event (the pipeline's callback) */
    int (*flush)(void *ctx);             /* after each turn of the loop: 0 or -errno (-EPIPE: the reader went) */
    uint64_t (*count)(const void *ctx);  /* events taken so far */
};

/* JSON lines to fd, buffered up to flush_bytes between flushes. */
struct output_jsonl *output_jsonl_new(int fd, size_t flush_bytes);
void output_jsonl_free(struct output_jsonl *o);

/* The device name and clock offset come from the pipeline. */
void output_jsonl_attach(struct output_jsonl *o, struct pipeline *p);

/* Also keeps each event it encodes in r (recent.h), which must outlive o;
 * NULL: none. */
void output_jsonl_keep_recent(struct output_jsonl *o, struct recent *r);

/* yam_event_fn: assigns the next sequence number, renders, buffers. */
void output_jsonl_event(void *ctx, struct yam_event *ev);

/* Writes what is buffered. Returns 0, or -errno (-EPIPE: the reader went). */
int output_jsonl_flush(struct output_jsonl *o);

uint64_t output_jsonl_count(const struct output_jsonl *o);
uint64_t output_jsonl_bytes(const struct output_jsonl *o);

static inline int output_jsonl_flush_cb(void *o)
{
    return output_jsonl_flush(o);
}

static inline uint64_t output_jsonl_count_cb(const void *o)
{
    return output_jsonl_count(o);
}

/* The JSON-lines output as a struct output. */
static inline struct output output_jsonl_as(struct output_jsonl *o)
{
    return (struct output){o, output_jsonl_event, output_jsonl_flush_cb, output_jsonl_count_cb};
}

/* The spool output: each event gets the spool's next sequence number, is
 * encoded (event_encode) and appended to the spool. An event that cannot be
 * appended is counted in the spool's loss ledger ("spool-error"). The spool
 * must outlive the output. NULL when out of memory. */
struct output_spool *output_spool_new(struct spool *s);
void output_spool_free(struct output_spool *o);

/* The device name comes from the pipeline. */
void output_spool_attach(struct output_spool *o, struct pipeline *p);

/* Also keeps each event it encodes in r (recent.h), which must outlive o;
 * NULL: none. */
void output_spool_keep_recent(struct output_spool *o, struct recent *r);

/* yam_event_fn: assigns the spool's next sequence number, encodes, appends. */
void output_spool_event(void *ctx, struct yam_event *ev);

/* Writes what the spool buffered to its segment (no sync: the uploader
 * syncs). Returns 0 or -errno (the spool counted what it lost). */
int output_spool_flush(struct output_spool *o);

/* Events appended. */
uint64_t output_spool_count(const struct output_spool *o);

/* The spool output as a struct output. */
struct output output_spool_as(struct output_spool *o);

#endif
