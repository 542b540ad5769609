/*
 * uploader.c — the uploader's thread (see uploader.h): sync, upkeep,
 * batch, send, acknowledge; backoff on failures; halving and quarantine
 * on refused batches.
 */
#include "agent/uploader.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agent/channel.h"
#include "common/log.h"

#define RETRY_AFTER_MAX_MS 300000ull
#define MAX_CONSECUTIVE_REJECTS 10 /* beyond this the server seems to refuse everything: keep the events */
#define BATCH_TIMEOUT_S 120

struct uploader {
    struct channel *c;
    struct spool *s;
    struct uploader_options o;
    pthread_t thread;
    struct uploader_batch *batch;
    void *curl;
    uint64_t rng;
    unsigned attempt;          /* failures in a row */
    uint64_t next_try_ms;      /* monotonic */
    size_t limit;              /* records per batch now (halved while a refused batch is searched) */
    uint64_t bisect_until;     /* the last seq of the batch that was refused */
    unsigned rejects_in_row;   /* single records refused without a success in between */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t next_random(uint64_t *x)
{
    /* xorshift64* */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ull;
}

uint64_t uploader_backoff_ms(unsigned attempt, unsigned min_ms, unsigned max_ms, uint64_t *rng)
{
    uint64_t cap = min_ms;

    for (unsigned i = 0; i < attempt && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    if (!*rng)
        *rng = 0x9e3779b97f4a7c15ull;
    return next_random(rng) % (cap + 1);
}

struct sent {
    uint64_t events, bytes, now;
};

static void note_sent(struct channel_status *st, void *ctx)
{
    const struct sent *s = ctx;
    st->batches_sent++;
    st->events_sent += s->events;
    st->bytes_sent += s->bytes;
    st->last_upload_ns = s->now;
    st->next_retry_ns = 0;
}

static void note_retry(struct channel_status *st, void *ctx)
{
    st->upload_failures++;
    st->next_retry_ns = *(const uint64_t *)ctx;
}

static void note_rejected(struct channel_status *st, void *ctx)
{
    (void)ctx;
    st->events_rejected++;
}

static void back_off(struct uploader *u, long retry_after_s)
{
    uint64_t delay = uploader_backoff_ms(u->attempt, u->o.backoff_min_ms, u->o.backoff_max_ms, &u->rng);
    uint64_t at;

    if (u->attempt < 30)
        u->attempt++;
    if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > delay)
        delay = (uint64_t)retry_after_s * 1000 > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : (uint64_t)retry_after_s * 1000;
    u->next_try_ms = mono_ms() + delay;
    at = channel_now_ns() + delay * 1000000ull;
    channel_update(u->c, note_retry, &at);
}

/* The acknowledged seq of a success answer, or -1 when it is malformed. */
static int64_t acked_of(const struct https_reply *rp)
{
    json_t *root = rp->body ? json_loadb(rp->body, rp->len, 0, NULL) : NULL;
    json_t *v = json_object_get(root, "acked_seq");
    int64_t r = -1;

    if (json_is_object(root) && json_is_integer(v) && json_integer_value(v) >= 0)
        r = json_integer_value(v);
    json_decref(root);
    return r;
}

/* The server refused the batch as malformed (400) or too large (413). */
static void refused(struct uploader *u, const struct https_reply *rp)
{
    size_t count = uploader_batch_count(u->batch);
    uint64_t first = uploader_batch_first(u->batch), last = uploader_batch_last(u->batch);

    if (count > 1) {
        /* search for the record it refuses: halve until it is alone */
        u->limit = count / 2;
        if (last > u->bisect_until)
            u->bisect_until = last;
        log_info("the server refused events %" PRIu64 "..%" PRIu64 " (%ld: %s); retrying in halves", first, last,
                 rp->status, rp->error);
        return;
    }
    if (u->rejects_in_row >= MAX_CONSECUTIVE_REJECTS) {
        log_error("the server refuses every batch (%ld: %s); the events stay in the spool until it accepts them",
                  rp->status, rp->error);
        back_off(u, 0);
        return;
    }
    {
        size_t len;
        const void *rec = uploader_batch_record(u->batch, &len);
        char why[600];
        snprintf(why, sizeof(why), "HTTP %ld: %s", rp->status, rp->error);
        if (spool_reject(u->s, first, rec, len, why) != 0) {
            back_off(u, 0);
            return;
        }
    }
    u->rejects_in_row++;
    channel_update(u->c, note_rejected, NULL);
    log_warn("the server refused event %" PRIu64 " (%ld: %s); it is kept in the spool's rejected/ directory and "
             "counted as lost",
             first, rp->status, rp->error);
}

/* Builds and sends one batch. Returns true when something was sent (or
 * dealt with), false when there was nothing to send. */
static bool send_one(struct uploader *u)
{
    const struct agent_conf *conf = channel_conf(u->c);
    struct channel_health health;
    struct spool_stats st;
    struct spool_loss *lost = calloc(1, sizeof(*lost));
    struct batch_header h = {.device_id = conf->device_id};
    struct https_reply rp = {0};
    const void *body;
    size_t len;
    int n, e;
    bool sent = false;

    if (!lost) {
        back_off(u, 0);
        return false;
    }
    channel_get_health(u->c, &health);
    h.sensor_backend = health.backend;
    spool_peek_loss(u->s, SPOOL_CONSUMER_BATCH, lost);
    h.lost = lost;
    spool_get_stats(u->s, &st);
    if (u->bisect_until && st.acked_seq >= u->bisect_until) {
        u->limit = u->o.max_events;
        u->bisect_until = 0;
    }
    n = uploader_batch_build(u->batch, u->s, st.acked_seq, u->limit, u->o.max_bytes, &h);
    if (n < 0) {
        log_warn("cannot build a batch from the spool: %s", strerror(-n));
        back_off(u, 0);
        goto out;
    }
    if (n == 0)
        goto out;
    sent = true;
    body = uploader_batch_body(u->batch, &len);
    e = channel_call(u->c, &u->curl, "POST", "/api/v1/agent/events", "application/vnd.yamori.batch", body, len,
                     BATCH_TIMEOUT_S, &rp);
    if (channel_stopping(u->c))
        goto out;
    channel_note(u->c, CHAN_EVENTS, e, &rp);
    if (e) {
        back_off(u, 0);
    } else if (rp.status >= 200 && rp.status < 300) {
        int64_t acked = acked_of(&rp);
        uint64_t first = uploader_batch_first(u->batch), last = uploader_batch_last(u->batch);
        if (acked < 0 || (uint64_t)acked < first) {
            log_warn("the server's answer to events %" PRIu64 "..%" PRIu64 " acknowledges none of them", first, last);
            back_off(u, 0);
            goto out;
        }
        if ((uint64_t)acked > last)
            acked = (int64_t)last;
        e = spool_ack(u->s, (uint64_t)acked);
        if (e) {
            log_warn("cannot record the acknowledgement of %" PRId64 ": %s", acked, strerror(-e));
            back_off(u, 0);
            goto out;
        }
        spool_commit_loss(u->s, SPOOL_CONSUMER_BATCH, lost);
        {
            struct sent s = {.events = (uint64_t)acked - first + 1, .bytes = len, .now = channel_now_ns()};
            channel_update(u->c, note_sent, &s);
        }
        u->attempt = 0;
        u->rejects_in_row = 0;
        u->next_try_ms = 0;
    } else if (rp.status == 400 || rp.status == 413) {
        refused(u, &rp);
    } else {
        back_off(u, rp.retry_after_s);
    }
out:
    https_reply_free(&rp);
    free(lost);
    return sent;
}

static void *run(void *arg)
{
    struct uploader *u = arg;
    uint64_t last_upkeep = 0;

    while (!channel_stopping(u->c)) {
        uint64_t now = mono_ms();

        spool_sync_due(u->s, u->o.sync_ms);
        if (now - last_upkeep >= 1000) {
            int64_t n = spool_maintain(u->s, channel_now_ns());
            if (n < 0)
                log_warn("spool upkeep: %s", strerror((int)-n));
            last_upkeep = now;
        }
        if (now < u->next_try_ms) {
            uint64_t left = u->next_try_ms - now;
            channel_sleep(u->c, left < u->o.sync_ms ? left : u->o.sync_ms);
            continue;
        }
        if (send_one(u))
            continue; /* a backlog is sent without pause */
        if (spool_unsynced(u->s))
            channel_sleep(u->c, u->o.sync_ms);
        else
            spool_wait(u->s, 1000);
    }
    return NULL;
}

int uploader_start(struct uploader **out, struct channel *c, struct spool *s, const struct uploader_options *opt,
                   char *err, size_t errlen)
{
    struct uploader *u = calloc(1, sizeof(*u));
    int e;

    *out = NULL;
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    u->c = c;
    u->s = s;
    if (opt)
        u->o = *opt;
    if (!u->o.max_events)
        u->o.max_events = 5000;
    if (!u->o.max_bytes)
        u->o.max_bytes = 2u << 20;
    if (!u->o.sync_ms)
        u->o.sync_ms = 200;
    if (!u->o.backoff_min_ms)
        u->o.backoff_min_ms = 1000;
    if (!u->o.backoff_max_ms)
        u->o.backoff_max_ms = 60000;
    u->limit = u->o.max_events;
    if (getrandom(&u->rng, sizeof(u->rng), GRND_NONBLOCK) != (ssize_t)sizeof(u->rng))
        u->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)u;
    e = uploader_batch_new(&u->batch);
    if (e) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    e = -pthread_create(&u->thread, NULL, run, u);
    if (e) {
        snprintf(err, errlen, "cannot start the uploader thread: %s", strerror(-e));
        goto fail;
    }
    *out = u;
    return 0;
fail:
    uploader_batch_free(u->batch);
    free(u);
    return e;
}

void uploader_stop(struct uploader *u)
{
    if (!u)
        return;
    channel_stop(u->c);
    spool_wake(u->s);
    pthread_join(u->thread, NULL);
    https_handle_free(u->curl);
    uploader_batch_free(u->batch);
    free(u);
}
