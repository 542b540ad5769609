/*
 * store_indicators.h — indicators of compromise (and of trust) that the
 * detection module matches events against: a SHA-256, an IP address, a
 * domain or a path, each with an action (`alert`: raise an alert when an
 * event names it; `allow`: suppress rule alerts about it), a title, a
 * severity, a description and an optional expiry.
 *
 * Owned by the detection module (src/server/detection*.c). Values reach the
 * store already validated and in canonical form (detection_indicators.c);
 * the store keeps one indicator per (type, value).
 */
#ifndef YAMORI_SERVER_STORE_INDICATORS_H
#define YAMORI_SERVER_STORE_INDICATORS_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_INDICATOR_VALUE_MAX 4096   /* a path of PATH_MAX bytes */
#define STORE_INDICATOR_TITLE_MAX 200
#define STORE_INDICATOR_DESCRIPTION_MAX 2000

struct store_indicator {
    int64_t id;
    char type[8];                 /* "sha256", "ip", "domain", "path" */
    char value[STORE_INDICATOR_VALUE_MAX + 1];
    char action[8];               /* "alert", "allow" */
    char title[STORE_INDICATOR_TITLE_MAX + 1];
    char severity[16];            /* "informational", "low", "medium", "high" */
    char description[STORE_INDICATOR_DESCRIPTION_MAX + 1];
    char created_by[64];
    int64_t created_ms;
    int64_t expires_ms;           /* 0: never */
};

/* Adds in (its id and created_ms are ignored; created_ms is now). Returns 0
 * with the new id in *id, -EEXIST when an indicator of the same type and
 * value exists, or -EIO. */
int store_indicator_add(struct store *st, const struct store_indicator *in, int64_t *id);

/* Every indicator, newest first, into *out (malloc'd array of *n; free()
 * it). Returns 0 or -EIO/-ENOMEM. */
int store_indicator_list(struct store *st, struct store_indicator **out, size_t *n);

/* One indicator. Returns 0, -ENOENT or -EIO. */
int store_indicator_get(struct store *st, int64_t id, struct store_indicator *out);

/* Removes one indicator. Returns 0, -ENOENT or -EIO. */
int store_indicator_delete(struct store *st, int64_t id);

#endif
