/*
 * output_spool.c — events to the durable spool (see output.h): the output
 * of an enrolled agent, which the uploader ships to the server. It takes
 * the place of output_jsonl.c in the agent's loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/event_encode.h"
#include "agent/output.h"
#include "agent/pipeline.h"
#include "agent/recent.h"
#include "agent/spool.h"

struct output_spool {
    struct spool *spool;
    struct pipeline *pipeline;
    struct recent *recent;
    struct tlv_buf rec;
    uint64_t count;
};

struct output_spool *output_spool_new(struct spool *s)
{
    struct output_spool *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->spool = s;
    tlv_init(&o->rec);
    return o;
}

void output_spool_free(struct output_spool *o)
{
    if (!o)
        return;
    tlv_free(&o->rec);
    free(o);
}

void output_spool_attach(struct output_spool *o, struct pipeline *p)
{
    o->pipeline = p;
}

void output_spool_keep_recent(struct output_spool *o, struct recent *r)
{
    o->recent = r;
}

void output_spool_event(void *ctx, struct yam_event *ev)
{
    struct output_spool *o = ctx;
    uint64_t seq = spool_next_seq(o->spool);

    ev->seq = seq;
    tlv_reset(&o->rec);
    event_encode(&o->rec, ev, o->pipeline ? pipeline_device_name(o->pipeline) : NULL, seq);
    if (o->rec.failed || o->rec.len == 0 || o->rec.len > TLV_MAX_RECORD) {
        spool_count_loss(o->spool, SPOOL_LOSS_ERROR, spool_action_type(ev->action, ev->action ? strlen(ev->action) : 0,
                                                                       ev->table == YAM_NETWORK && ev->u.net.protocol &&
                                                                           strcmp(ev->u.net.protocol, "Udp") == 0),
                         1);
        return;
    }
    recent_add(o->recent, o->rec.data, o->rec.len);
    /* a failed append is counted by the spool */
    if (spool_append(o->spool, seq, o->rec.data, o->rec.len) == 0)
        o->count++;
}

int output_spool_flush(struct output_spool *o)
{
    return spool_flush(o->spool);
}

uint64_t output_spool_count(const struct output_spool *o)
{
    return o->count;
}

static int flush_cb(void *o)
{
    return output_spool_flush(o);
}

static uint64_t count_cb(const void *o)
{
    return output_spool_count(o);
}

struct output output_spool_as(struct output_spool *o)
{
    return (struct output){o, output_spool_event, flush_cb, count_cb};
}
