/*
 * store_isolation.h — the isolation state each device's agent reports in
 * its heartbeat ("isolated", "not isolated", "isolation failing" and why),
 * which the inventory shows: the state as applied on the device, not as a
 * person requested it. A table of its own next to the devices, so that
 * the device rows and their migrations stay the devices module's.
 *
 * Implemented for SQLite in store_sqlite_isolation.c.
 */
#ifndef YAMORI_SERVER_STORE_ISOLATION_H
#define YAMORI_SERVER_STORE_ISOLATION_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_ISOLATION_STATE_MAX 32
#define STORE_ISOLATION_ERROR_MAX 512

struct store_isolation {
    char state[STORE_ISOLATION_STATE_MAX + 1];  /* "not isolated" when never reported */
    char error[STORE_ISOLATION_ERROR_MAX + 1];  /* why isolation is failing ("" otherwise) */
    int64_t reported_ms;                        /* 0: never reported */
};

/* Records what device_id's agent reported now (values checked by the
 * caller). Returns 0 or -EIO. */
int store_isolation_report(struct store *st, const char *device_id, const char *state, const char *error);

/* What device_id's agent reported last; "not isolated" and reported_ms 0
 * when it never did. Returns 0 or -EIO. */
int store_isolation_get(struct store *st, const char *device_id, struct store_isolation *out);

#endif
