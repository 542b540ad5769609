/*
 * strtab.c — see strtab.h. The hash reads eight bytes at a time and mixes
 * with multiplications (a small variant of the wyhash/murmur family); the
 * folded variant lowercases ASCII letters eight at a time with a SWAR trick
 * so that case-insensitive lookups cost the same as exact ones.
 */
#include "detect/strtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define K1 0x9e3779b97f4a7c15ull
#define K2 0xbf58476d1ce4e5b9ull
#define K3 0x94d049bb133111ebull

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 30;
    h *= K2;
    h ^= h >> 27;
    h *= K3;
    h ^= h >> 31;
    return h;
}

static inline uint64_t load_tail(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

/* Lowercases the ASCII letters of 8 packed bytes. */
static inline uint64_t fold8(uint64_t x)
{
    uint64_t h = x & 0x7f7f7f7f7f7f7f7full;
    uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3full;   /* high bit set: byte >= 'A' */
    uint64_t gt_z = h + 0x2525252525252525ull;   /* high bit set: byte > 'Z' */
    uint64_t upper = ge_a & ~gt_z & ~x & 0x8080808080808080ull;
    return x | (upper >> 2);
}

static uint64_t hash_impl(const void *s, size_t n, int fold)
{
    const unsigned char *p = s;
    uint64_t h = K1 ^ n;

    /* one multiply per 8 bytes, a full mix at the end */
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        if (fold)
            v = fold8(v);
        h = (h ^ v) * K1;
        h = (h << 31) | (h >> 33);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = load_tail(p, n);
        if (fold)
            v = fold8(v);
        h = (h ^ v ^ 0xff00000000000000ull) * K3;
    }
    h ^= h >> 29;
    h *= K2;
    h ^= h >> 32;
    return h;
}

uint64_t detect_strtab_hash(const void *s, size_t n)
{
    return hash_impl(s, n, 0);
}

uint64_t detect_strtab_hash_fold(const void *s, size_t n)
{
    return hash_impl(s, n, 1);
}

void detect_strtab_init(struct detect_strtab *t)
{
    memset(t, 0, sizeof(*t));
}

static int grow(struct detect_strtab *t)
{
    uint32_t nslots = t->slots ? (t->mask + 1) * 2 : 64;
    struct detect_strtab_slot *s = malloc(sizeof(*s) * nslots);
    if (!s)
        return -ENOMEM;
    for (uint32_t i = 0; i < nslots; i++)
        s[i].id = UINT32_MAX;
    for (uint32_t i = 0; t->slots && i <= t->mask; i++) {
        if (t->slots[i].id == UINT32_MAX)
            continue;
        uint32_t j = (uint32_t)t->slots[i].hash & (nslots - 1);
        while (s[j].id != UINT32_MAX)
            j = (j + 1) & (nslots - 1);
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->mask = nslots - 1;
    return 0;
}

int32_t detect_strtab_find(const struct detect_strtab *t, const char *s, size_t n)
{
    if (!t->slots)
        return -1;
    uint64_t h = detect_strtab_hash(s, n);
    for (uint32_t j = (uint32_t)h & t->mask;; j = (j + 1) & t->mask) {
        const struct detect_strtab_slot *e = &t->slots[j];
        if (e->id == UINT32_MAX)
            return -1;
        if (e->hash == h && t->lens[e->id] == n && memcmp(t->names[e->id], s, n) == 0)
            return (int32_t)e->id;
    }
}

int32_t detect_strtab_intern(struct detect_strtab *t, const char *s, size_t n)
{
    int32_t id = detect_strtab_find(t, s, n);
    if (id >= 0)
        return id;
    if (t->n >= INT32_MAX - 1 || n >= UINT32_MAX)
        return -E2BIG;
    if (!t->slots || (t->n + 1) * 2 > t->mask + 1) {
        int rc = grow(t);
        if (rc < 0)
            return rc;
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 32;
        char **names = realloc(t->names, sizeof(*names) * cap);
        if (!names)
            return -ENOMEM;
        t->names = names;
        uint32_t *lens = realloc(t->lens, sizeof(*lens) * cap);
        if (!lens)
            return -ENOMEM;
        t->lens = lens;
        t->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return -ENOMEM;
    if (n)
        memcpy(copy, s, n);
    copy[n] = '\0';
    uint64_t h = detect_strtab_hash(s, n);
    uint32_t j = (uint32_t)h & t->mask;
    while (t->slots[j].id != UINT32_MAX)
        j = (j + 1) & t->mask;
    t->slots[j].hash = h;
    t->slots[j].id = t->n;
    t->names[t->n] = copy;
    t->lens[t->n] = (uint32_t)n;
    return (int32_t)t->n++;
}

const char *detect_strtab_name(const struct detect_strtab *t, uint32_t id)
{
    return id < t->n ? t->names[id] : NULL;
}

void detect_strtab_free(struct detect_strtab *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->lens);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}
