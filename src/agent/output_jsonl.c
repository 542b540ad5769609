/*
 * output_jsonl.c — JSON lines to a file descriptor (see output.h).
 *
 * Events are rendered into one growing buffer and written with as few
 * write(2) calls as possible: when the buffer passes flush_bytes, and when
 * the agent's loop calls output_jsonl_flush() after each batch.
 */
#include "agent/output.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/event_encode.h"
#include "agent/pipeline.h"
#include "agent/recent.h"
#include "common/jsonw.h"

struct output_jsonl {
    int fd;
    size_t flush_bytes;
    struct jsonw w;
    struct tlv_buf rec;
    struct pipeline *pipeline;
    struct recent *recent;
    uint64_t seq;
    uint64_t bytes;
    int error;
};

struct output_jsonl *output_jsonl_new(int fd, size_t flush_bytes)
{
    struct output_jsonl *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->fd = fd;
    o->flush_bytes = flush_bytes ? flush_bytes : 256 * 1024;
    jsonw_init(&o->w);
    tlv_init(&o->rec);
    return o;
}

void output_jsonl_free(struct output_jsonl *o)
{
    if (!o)
        return;
    jsonw_free(&o->w);
    tlv_free(&o->rec);
    free(o);
}

void output_jsonl_attach(struct output_jsonl *o, struct pipeline *p)
{
    o->pipeline = p;
}

void output_jsonl_keep_recent(struct output_jsonl *o, struct recent *r)
{
    o->recent = r;
}

int output_jsonl_flush(struct output_jsonl *o)
{
    size_t off = 0;

    if (o->error)
        return o->error;
    while (off < o->w.len) {
        ssize_t n = write(o->fd, o->w.buf + off, o->w.len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            o->error = -errno;
            break;
        }
        off += (size_t)n;
    }
    o->bytes += off;
    jsonw_reset(&o->w);
    return o->error;
}

void output_jsonl_event(void *ctx, struct yam_event *ev)
{
    struct output_jsonl *o = ctx;

    ev->seq = ++o->seq;
    tlv_reset(&o->rec);
    event_encode(&o->rec, ev, pipeline_device_name(o->pipeline), ev->seq);
    if (o->rec.failed)
        return;
    recent_add(o->recent, o->rec.data, o->rec.len);
    if (tlv_to_json(o->rec.data, o->rec.len, &o->w, true) != 0)
        return;
    jsonw_end_line(&o->w);
    if (o->w.len >= o->flush_bytes)
        output_jsonl_flush(o);
}

uint64_t output_jsonl_count(const struct output_jsonl *o)
{
    return o->seq;
}

uint64_t output_jsonl_bytes(const struct output_jsonl *o)
{
    return o->bytes;
}
