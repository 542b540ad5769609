/*
 * arena.c — see arena.h. Chunks start small (most rules need a few KiB)
 * and double up to 64 KiB; a request larger than that gets a chunk of its
 * own.
 */
#include "detect/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_FIRST 1024u
#define ARENA_MAX   65536u
#define ARENA_ALIGN 16u

struct detect_arena_chunk {
    struct detect_arena_chunk *next;
    size_t size, off;
    _Alignas(16) unsigned char data[];
};

void detect_arena_init(struct detect_arena *a, size_t limit)
{
    memset(a, 0, sizeof(*a));
    a->limit = limit;
    a->next_size = ARENA_FIRST;
}

void *detect_arena_alloc(struct detect_arena *a, size_t n)
{
    struct detect_arena_chunk *c = a->head;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

    if (need < n)
        return NULL;
    if (need == 0)
        need = ARENA_ALIGN;
    if (!c || c->size - c->off < need) {
        size_t size = a->next_size ? a->next_size : ARENA_FIRST;
        if (size < need)
            size = need;
        if (a->limit && (a->reserved + size > a->limit || a->reserved + size < size))
            return NULL;
        c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        c->size = size;
        c->off = 0;
        if (a->head && a->head->size - a->head->off > size - need) {
            /* keep the fuller chunk's successor at the head: put the new
             * (exactly used) chunk behind it */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
        a->reserved += size;
        if (a->next_size < ARENA_MAX)
            a->next_size *= 2;
    }
    void *p = c->data + c->off;
    c->off += need;
    a->used += need;
    memset(p, 0, n);
    return p;
}

char *detect_arena_strndup(struct detect_arena *a, const char *s, size_t n)
{
    char *p = detect_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *detect_arena_strdup(struct detect_arena *a, const char *s)
{
    return s ? detect_arena_strndup(a, s, strlen(s)) : NULL;
}

void *detect_arena_memdup(struct detect_arena *a, const void *p, size_t n)
{
    void *q = detect_arena_alloc(a, n);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

void detect_arena_free(struct detect_arena *a)
{
    struct detect_arena_chunk *c = a->head;
    while (c) {
        struct detect_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
    a->reserved = 0;
    a->next_size = ARENA_FIRST;
}
