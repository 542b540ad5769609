/*
 * ingest.c — the ingest module: POST /api/v1/agent/events.
 *
 * The handler (an HTTP thread) decodes and validates the batch
 * (ingest_batch.c), defers its response and queues the batch for the
 * writer (ingest_writer.c). When the writer's transaction has committed,
 * it completes the deferred request with {"acked_seq", "stored",
 * "duplicates"}: an agent is never told a batch is stored before it is
 * durable. A request whose batch waits too long (the store is stuck)
 * answers 503; the batch may still be stored later, and the agent's retry
 * is then counted as duplicates.
 *
 * The module also starts retention (in the writer) and attaches the event
 * store, which the events module (events.c) reads.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "server/ingest.h"
#include "server/server.h"
#include "server/store.h"

#define DEFER_TIMEOUT_MS (120 * 1000)

struct ingest_state {
    struct ingest_writer *writer;
    struct ingest_limits lim;
};

static const struct server_module ingest_module;

static void answer_done(struct http_response *rs, void *ctx)
{
    const struct ingest_result *r = ctx;
    struct jsonw *w;

    if (r->error) {
        http_error(rs, r->status, "%s", r->message);
        http_header_add(rs, "Retry-After", "10");
        return;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_uint(w, "acked_seq", r->acked_seq);
    jsonw_kv_uint(w, "stored", r->stored);
    jsonw_kv_uint(w, "duplicates", r->duplicates);
    jsonw_object_end(w);
}

static void answer_timeout(struct http_response *rs, void *ctx)
{
    (void)ctx;
    http_error(rs, 503, "the store did not confirm the batch in time; retry (events already stored count as duplicates)");
    http_header_add(rs, "Retry-After", "10");
}

static void answer_busy(struct http_response *rs, void *ctx)
{
    http_error(rs, 503, "%s", (const char *)ctx);
    http_header_add(rs, "Retry-After", "5");
}

/* The writer's report for the deferred request whose id is ctx. */
static void batch_done(void *ctx, const struct ingest_result *r)
{
    http_deferred_complete((uint64_t)(uintptr_t)ctx, answer_done, (void *)r);
}

static bool batch_content_type(const char *ct)
{
    size_t n = strlen(INGEST_CONTENT_TYPE);
    return ct && strncasecmp(ct, INGEST_CONTENT_TYPE, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void post_events(struct http_request *rq, struct http_response *rs)
{
    struct ingest_state *s = server_module_state(http_server(rq), &ingest_module);
    const struct principal *p = http_principal(rq);
    struct ingest_batch *b = NULL;
    const uint8_t *body;
    size_t len;
    unsigned status;
    uint64_t id;
    char err[300];
    int e;

    if (!s) {
        http_error(rs, 503, "ingest is not ready");
        return;
    }
    if (!batch_content_type(http_header(rq, "Content-Type"))) {
        http_error(rs, 415, "an event batch is sent as Content-Type: %s", INGEST_CONTENT_TYPE);
        return;
    }
    body = http_body(rq, &len);
    e = ingest_decode(body, len, p->device_id, &s->lim, &b, &status, err, sizeof(err));
    if (e) {
        log_debug("ingest: batch of %s refused (%u): %s", p->device_id, status, err);
        http_error(rs, status, "%s", err);
        if (status == 503)
            http_header_add(rs, "Retry-After", "5");
        return;
    }
    /* the expensive part of storing, here in parallel rather than in the writer */
    if (store_events_prepare(&b->sb) != 0) {
        ingest_batch_free(b);
        http_error(rs, 503, "the server is out of memory; retry later");
        http_header_add(rs, "Retry-After", "5");
        return;
    }
    id = http_defer(rq, rs, DEFER_TIMEOUT_MS, answer_timeout, NULL);
    if (!id) {
        ingest_batch_free(b);
        http_error(rs, 503, "the server is out of memory; retry later");
        http_header_add(rs, "Retry-After", "5");
        return;
    }
    e = ingest_writer_submit(s->writer, b, batch_done, (void *)(uintptr_t)id);
    if (e)
        http_deferred_complete(id, answer_busy,
                               (void *)(e == -EAGAIN      ? "the server is busy storing events; retry later"
                                         : e == -ESHUTDOWN ? "the server is stopping; retry later"
                                                           : "the server cannot queue the batch now; retry later"));
}

static struct route ingest_routes[] = {
    {HTTP_POST, "/api/v1/agent/events", ACCESS_DEVICE, ROLE_NONE, 0, post_events,
     "an event batch (zstd); answered when it is durable"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static int ingest_init(struct server *srv, char *err, size_t errlen)
{
    struct ingest_state *s = calloc(1, sizeof(*s));
    struct ingest_writer_options o = {.retention_days = srv->cfg.retention_days};
    int e;

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->lim.max_batch_bytes = srv->cfg.max_batch_bytes;
    s->lim.max_batch_events = srv->cfg.max_batch_events;
    /* the body limit is a setting: the route takes it before serving starts */
    ingest_routes[0].max_body = srv->cfg.max_batch_bytes;
    e = store_events_attach(srv->store, err, errlen);
    if (e) {
        free(s);
        return e;
    }
    e = ingest_writer_start(srv->store, &o, &s->writer, err, errlen);
    if (e) {
        store_events_detach(srv->store);
        free(s);
        return e;
    }
    server_set_module_state(srv, &ingest_module, s);
    return 0;
}

static void ingest_fini(struct server *srv)
{
    struct ingest_state *s = server_module_state(srv, &ingest_module);

    if (!s)
        return;
    ingest_writer_stop(s->writer);
    store_events_detach(srv->store);
    server_set_module_state(srv, &ingest_module, NULL);
    free(s);
}

static const struct server_module ingest_module = {
    .name = "ingest",
    .order = 40,
    .init = ingest_init,
    .fini = ingest_fini,
    .routes = ingest_routes,
};
SERVER_MODULE(ingest_module);
