/*
 * output.h — where enriched events go.
 *
 * An output takes each event (as the pipeline's yam_event_fn), gives it its
 * sequence number and renders it. The JSON-lines output writes to a file
 * descriptor (yamori-agent --stdout); the spool output (durable, shipped to
 * the server) has the same shape.
 */
#ifndef YAMORI_AGENT_OUTPUT_H
#define YAMORI_AGENT_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/event.h"

struct pipeline;
struct output_jsonl;

/* JSON lines to fd, buffered up to flush_bytes between flushes. */
struct output_jsonl *output_jsonl_new(int fd, size_t flush_bytes);
void output_jsonl_free(struct output_jsonl *o);

/* The device name and clock offset come from the pipeline. */
void output_jsonl_attach(struct output_jsonl *o, struct pipeline *p);

/* yam_event_fn: assigns the next sequence number, renders, buffers. */
void output_jsonl_event(void *ctx, struct yam_event *ev);

/* Writes what is buffered. Returns 0, or -errno (-EPIPE: the reader went). */
int output_jsonl_flush(struct output_jsonl *o);

uint64_t output_jsonl_count(const struct output_jsonl *o);
uint64_t output_jsonl_bytes(const struct output_jsonl *o);

#endif
