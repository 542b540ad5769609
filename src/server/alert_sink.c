/*
 * alert_sink.c — the registry between detectors and the alerts module
 * (alert_sink.h). A read-write lock: raising takes it shared, so detectors
 * in several threads raise at once; registering takes it exclusive, so a
 * sink is never called after alert_sink_set(NULL) returned.
 */
#include "server/alert_sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common/log.h"

static pthread_rwlock_t sink_lock = PTHREAD_RWLOCK_INITIALIZER;
static alert_sink_fn sink_fn;
static void *sink_ctx;
static atomic_uint_fast64_t dropped;

void alert_sink_set(alert_sink_fn fn, void *ctx)
{
    pthread_rwlock_wrlock(&sink_lock);
    sink_fn = fn;
    sink_ctx = ctx;
    pthread_rwlock_unlock(&sink_lock);
}

int alert_sink_raise(const struct alert_hit *hit, int64_t *alert_id)
{
    int rc;

    pthread_rwlock_rdlock(&sink_lock);
    rc = sink_fn ? sink_fn(sink_ctx, hit, alert_id) : -ENOTCONN;
    pthread_rwlock_unlock(&sink_lock);
    if (rc != 0) {
        uint64_t n = atomic_fetch_add(&dropped, 1) + 1;
        log_warn("alert '%s' on device %s not stored (%s); %llu so far", hit->title ? hit->title : "?",
                 hit->device_id ? hit->device_id : "?",
                 rc == -ENOTCONN ? "no alerts module" : "the alerts module refused it",
                 (unsigned long long)n);
    }
    return rc;
}

uint64_t alert_sink_dropped(void)
{
    return atomic_load(&dropped);
}
