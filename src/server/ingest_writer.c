/*
 * ingest_writer.c — the one thread that writes events (see ingest.h).
 *
 * Handlers queue decoded batches; the thread takes everything waiting (up
 * to max_group_events), stores it with one store_events_write() — one
 * transaction, one fsync — and only then calls each batch's done(). While
 * it writes, the next group gathers, so the commit rate adapts to the
 * load: one batch per commit when idle, hundreds under load. Retention
 * runs between groups, one short step at a time, so ingest never waits
 * long for it. After a commit, the post-commit hook (ingest.h; the
 * detection module) sees each batch's new events before the requests are
 * answered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "server/ingest.h"
#include "server/store.h"

#define WRITER_MAGIC 0x494e5752u /* "INWR" */

struct job {
    struct ingest_batch *batch;
    ingest_done_fn done;
    void *ctx;
    struct job *next;
};

struct ingest_writer {
    unsigned magic;
    struct store *st;
    struct ingest_writer_options o;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t queued_bytes, queued_batches;
    bool stopping;
    struct ingest_writer_stats stats;
};

/* The post-commit hook (ingest_set_commit_hook): read-locked while called,
 * so replacing it waits for a call in progress. */
static pthread_rwlock_t hook_lock = PTHREAD_RWLOCK_INITIALIZER;
static ingest_commit_fn hook_fn;
static void *hook_ctx;

void ingest_set_commit_hook(ingest_commit_fn fn, void *ctx)
{
    pthread_rwlock_wrlock(&hook_lock);
    hook_fn = fn;
    hook_ctx = ctx;
    pthread_rwlock_unlock(&hook_lock);
}

/* Hands the new events of a committed group to the hook. */
static void run_commit_hook(struct job *jobs)
{
    pthread_rwlock_rdlock(&hook_lock);
    if (hook_fn)
        for (struct job *j = jobs; j; j = j->next)
            if (j->batch->sb.stored)
                hook_fn(hook_ctx, &j->batch->sb);
    pthread_rwlock_unlock(&hook_lock);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Stores one group and reports every batch of it. */
static void write_group(struct ingest_writer *w, struct job *jobs, size_t n)
{
    struct store_event_batch **batches = calloc(n, sizeof(*batches));
    struct ingest_result r;
    char err[200] = "";
    size_t i = 0, events = 0;
    int e = -ENOMEM;

    if (batches) {
        for (struct job *j = jobs; j; j = j->next) {
            batches[i++] = &j->batch->sb;
            events += j->batch->sb.nevents;
        }
        e = store_events_write(w->st, batches, n, err, sizeof(err));
        free(batches);
    } else {
        snprintf(err, sizeof(err), "out of memory");
    }
    if (e)
        log_error("ingest: %zu batches (%zu events) not stored: %s", n, events, err);
    pthread_mutex_lock(&w->lock);
    w->stats.groups++;
    if (e)
        w->stats.failures += n;
    pthread_mutex_unlock(&w->lock);
    if (!e)
        run_commit_hook(jobs);
    while (jobs) {
        struct job *j = jobs;
        jobs = j->next;
        memset(&r, 0, sizeof(r));
        r.error = e;
        if (e) {
            r.status = 503;
            snprintf(r.message, sizeof(r.message), "the events were not stored (%s); retry later", err);
        } else {
            r.status = 200;
            r.acked_seq = j->batch->sb.acked_seq;
            r.stored = j->batch->sb.stored;
            r.duplicates = j->batch->sb.duplicates;
            pthread_mutex_lock(&w->lock);
            w->stats.batches++;
            w->stats.events_stored += r.stored;
            w->stats.duplicates += r.duplicates;
            pthread_mutex_unlock(&w->lock);
        }
        j->done(j->ctx, &r);
        ingest_batch_free(j->batch);
        free(j);
    }
}

/* One retention step when one is due; returns whether another is due. */
static bool prune_step(struct ingest_writer *w)
{
    char err[200];
    bool more = false;

    if (!w->o.retention_days)
        return false;
    if (store_events_prune(w->st, w->o.retention_days, &more, err, sizeof(err)) != 0) {
        log_error("ingest: %s", err);
        return false;
    }
    return more;
}

static void *writer_main(void *arg)
{
    struct ingest_writer *w = arg;
    uint64_t next_prune = mono_ms(); /* look once at start */
    bool prune_more = false;

    for (;;) {
        struct job *jobs = NULL, **tail = &jobs;
        size_t n = 0, events = 0;
        uint64_t now;

        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stopping && !prune_more && mono_ms() < next_prune) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
        if (!w->head && w->stopping) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        while (w->head && (n == 0 || events + w->head->batch->sb.nevents <= w->o.max_group_events)) {
            struct job *j = w->head;
            w->head = j->next;
            if (!w->head)
                w->tail = NULL;
            j->next = NULL;
            *tail = j;
            tail = &j->next;
            n++;
            events += j->batch->sb.nevents;
            w->queued_bytes -= j->batch->memory;
            w->queued_batches--;
        }
        pthread_mutex_unlock(&w->lock);
        if (n)
            write_group(w, jobs, n);
        now = mono_ms();
        if (prune_more || now >= next_prune) {
            prune_more = prune_step(w);
            if (!prune_more)
                next_prune = now + w->o.prune_every_ms;
        }
    }
    return NULL;
}

int ingest_writer_start(struct store *st, const struct ingest_writer_options *o, struct ingest_writer **out,
                        char *err, size_t errlen)
{
    struct ingest_writer *w = calloc(1, sizeof(*w));

    *out = NULL;
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    w->magic = WRITER_MAGIC;
    w->st = st;
    if (o)
        w->o = *o;
    if (!w->o.max_queue_bytes)
        w->o.max_queue_bytes = 256u << 20;
    if (!w->o.max_group_events)
        w->o.max_group_events = 50000;
    if (!w->o.prune_every_ms)
        w->o.prune_every_ms = 60000;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        snprintf(err, errlen, "cannot start the ingest writer thread");
        return -EAGAIN;
    }
    *out = w;
    return 0;
}

int ingest_writer_submit(struct ingest_writer *w, struct ingest_batch *b, ingest_done_fn done, void *ctx)
{
    struct job *j;
    int e = 0;

    if (!w || w->magic != WRITER_MAGIC) {
        ingest_batch_free(b);
        return -EINVAL;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        ingest_batch_free(b);
        return -ENOMEM;
    }
    j->batch = b;
    j->done = done;
    j->ctx = ctx;
    pthread_mutex_lock(&w->lock);
    if (w->stopping)
        e = -ESHUTDOWN;
    else if (w->queued_batches && w->queued_bytes + b->memory > w->o.max_queue_bytes)
        e = -EAGAIN;
    if (!e) {
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->queued_bytes += b->memory;
        w->queued_batches++;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    if (e) {
        ingest_batch_free(b);
        free(j);
    }
    return e;
}

void ingest_writer_stop(struct ingest_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    w->magic = 0;
    free(w);
}

void ingest_writer_stats(struct ingest_writer *w, struct ingest_writer_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    out->queued_batches = w->queued_batches;
    out->queued_bytes = w->queued_bytes;
    pthread_mutex_unlock(&w->lock);
}
