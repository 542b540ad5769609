/*
 * arena.h — a bump allocator for data that lives and dies together.
 *
 * A rule's compiled form (nodes, patterns, strings), a parsed YAML document
 * and the engine's indexes are many small allocations with one lifetime;
 * an arena hands them out from growing chunks and frees them all at once,
 * so compile code needs no per-object cleanup. Allocations are zeroed and
 * 16-byte aligned. An optional byte limit turns a hostile input's growth
 * into an ordinary allocation failure.
 */
#ifndef YAMORI_DETECT_ARENA_H
#define YAMORI_DETECT_ARENA_H

#include <stddef.h>

struct detect_arena_chunk;

struct detect_arena {
    struct detect_arena_chunk *head;
    size_t used;        /* bytes handed out, for statistics */
    size_t reserved;    /* bytes allocated from the system */
    size_t limit;       /* 0: none */
    size_t next_size;   /* size of the next chunk */
};

/* Initialises an empty arena; `limit` caps the bytes it reserves (0: none). */
void detect_arena_init(struct detect_arena *a, size_t limit);

/* Returns n zeroed bytes, or NULL when memory or the limit is exhausted. */
void *detect_arena_alloc(struct detect_arena *a, size_t n);

/* Returns a NUL-terminated copy of s[0..n), or NULL. */
char *detect_arena_strndup(struct detect_arena *a, const char *s, size_t n);

/* Returns a copy of a NUL-terminated string (NULL gives NULL). */
char *detect_arena_strdup(struct detect_arena *a, const char *s);

/* Returns a copy of n bytes, or NULL. */
void *detect_arena_memdup(struct detect_arena *a, const void *p, size_t n);

/* Frees every chunk; the arena is empty afterwards. Accepts a zeroed arena. */
void detect_arena_free(struct detect_arena *a);

#endif
