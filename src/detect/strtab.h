/*
 * strtab.h — interning: byte strings to dense ids, and the hashes the
 * engine uses.
 *
 * Field names are interned when rules compile, so matching works with
 * small integers and never compares field-name strings per event. The
 * table is open addressing with linear probing; ids are 0..n-1 in
 * insertion order and name(id) gives the string back. Keys are copied.
 */
#ifndef YAMORI_DETECT_STRTAB_H
#define YAMORI_DETECT_STRTAB_H

#include <stddef.h>
#include <stdint.h>

struct detect_strtab_slot {
    uint64_t hash;
    uint32_t id;        /* UINT32_MAX: empty */
};

struct detect_strtab {
    struct detect_strtab_slot *slots;
    uint32_t mask;      /* slots - 1 */
    uint32_t n;
    char **names;       /* id -> NUL-terminated copy */
    uint32_t *lens;
    uint32_t cap;       /* of names/lens */
};

/* Hash of s[0..n), and of its ASCII-lowercased form. */
uint64_t detect_strtab_hash(const void *s, size_t n);
uint64_t detect_strtab_hash_fold(const void *s, size_t n);

/* Initialises an empty table. */
void detect_strtab_init(struct detect_strtab *t);

/* Returns the id of s[0..n), adding it when absent; -ENOMEM, or -E2BIG
 * past 2^31 entries. */
int32_t detect_strtab_intern(struct detect_strtab *t, const char *s, size_t n);

/* Returns the id of s[0..n) or -1 when absent. */
int32_t detect_strtab_find(const struct detect_strtab *t, const char *s, size_t n);

/* Returns the string of an id (NULL when out of range). */
const char *detect_strtab_name(const struct detect_strtab *t, uint32_t id);

/* Frees the table. Accepts a zeroed table. */
void detect_strtab_free(struct detect_strtab *t);

#endif
