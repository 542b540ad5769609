/*
 * recent.c — the ring of the agent's most recent events (see recent.h).
 *
 * Bytes live in one circular buffer: the records kept are always the
 * contiguous (modulo the buffer's size) region that ends where the next
 * record goes, so dropping the oldest record frees the bytes just ahead
 * of the writer. A second circular array holds each record's offset and
 * length. A record that crosses the buffer's end is split in two copies;
 * a snapshot copies the region out the same way.
 */
#include "agent/recent.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    size_t off;
    size_t len;
};

struct recent {
    atomic_uint refs;
    pthread_mutex_t mu;
    uint8_t *buf;
    size_t cap;          /* bytes */
    size_t head;         /* where the next record's bytes go */
    size_t used;         /* bytes of the records kept */
    struct slot *slots;
    size_t max_records;
    size_t first, count; /* the oldest record's slot, and how many are kept */
    uint64_t added, dropped;
};

struct recent *recent_new(size_t max_records, size_t max_bytes)
{
    struct recent *r;

    if (!max_records || !max_bytes)
        return NULL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->buf = malloc(max_bytes);
    r->slots = calloc(max_records, sizeof(*r->slots));
    if (!r->buf || !r->slots) {
        free(r->buf);
        free(r->slots);
        free(r);
        return NULL;
    }
    r->cap = max_bytes;
    r->max_records = max_records;
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

struct recent *recent_ref(struct recent *r)
{
    if (r)
        atomic_fetch_add(&r->refs, 1);
    return r;
}

void recent_unref(struct recent *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r->buf);
    free(r->slots);
    free(r);
}

/* With r->mu held: forgets the oldest record. */
static void drop_oldest(struct recent *r)
{
    r->used -= r->slots[r->first].len;
    r->first = (r->first + 1) % r->max_records;
    r->count--;
    r->dropped++;
}

void recent_add(struct recent *r, const void *rec, size_t len)
{
    size_t tail;

    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->added++;
    if (len == 0 || len > r->cap) {
        r->dropped++;
        goto out;
    }
    while (r->count && (r->count == r->max_records || r->used + len > r->cap))
        drop_oldest(r);
    tail = r->cap - r->head;
    if (len <= tail) {
        memcpy(r->buf + r->head, rec, len);
    } else {
        memcpy(r->buf + r->head, rec, tail);
        memcpy(r->buf, (const uint8_t *)rec + tail, len - tail);
    }
    r->slots[(r->first + r->count) % r->max_records] = (struct slot){r->head, len};
    r->count++;
    r->used += len;
    r->head = (r->head + len) % r->cap;
out:
    pthread_mutex_unlock(&r->mu);
}

long recent_each(struct recent *r, recent_fn fn, void *ctx)
{
    uint8_t *bytes = NULL;
    size_t *lens = NULL, n, start, off = 0;
    long called = 0;

    if (!r)
        return 0;
    pthread_mutex_lock(&r->mu);
    n = r->count;
    bytes = malloc(r->used ? r->used : 1);
    lens = malloc((n ? n : 1) * sizeof(*lens));
    if (!bytes || !lens) {
        pthread_mutex_unlock(&r->mu);
        free(bytes);
        free(lens);
        return -ENOMEM;
    }
    /* the region of the records kept ends at head */
    start = (r->head + r->cap - r->used) % r->cap;
    if (start + r->used <= r->cap) {
        memcpy(bytes, r->buf + start, r->used);
    } else {
        memcpy(bytes, r->buf + start, r->cap - start);
        memcpy(bytes + (r->cap - start), r->buf, r->used - (r->cap - start));
    }
    for (size_t i = 0; i < n; i++)
        lens[i] = r->slots[(r->first + i) % r->max_records].len;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++) {
        called++;
        if (fn(bytes + off, lens[i], ctx) != 0)
            break;
        off += lens[i];
    }
    free(bytes);
    free(lens);
    return called;
}

void recent_get_stats(struct recent *r, struct recent_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    out->added = r->added;
    out->dropped = r->dropped;
    out->records = r->count;
    out->bytes = r->used;
    pthread_mutex_unlock(&r->mu);
}
