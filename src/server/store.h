/*
 * store.h — the one interface between the server and its database.
 *
 * Everything the server keeps goes through the functions declared here and
 * in the per-concern headers this file includes: events (store_events.h),
 * people and their credentials and the audit log (store_auth.h), devices,
 * enrollment and commands (store_devices.h). The back end today is SQLite
 * (store_sqlite*.c); a PostgreSQL back end will implement the same
 * functions. No module talks SQL outside the store files.
 *
 * Functions return 0 or a negative errno; -ENOENT means "no such row",
 * -EEXIST "already there", -EIO a database error (logged with its text).
 * All of them are safe to call from several threads.
 */
#ifndef YAMORI_SERVER_STORE_H
#define YAMORI_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;

/* Opens (creating when missing) the store at uri ("sqlite:/path/yamori.db")
 * and applies every registered migration that has not run yet. */
int store_open(struct store **out, const char *uri, char *err, size_t errlen);
void store_close(struct store *st);

/* Whom the server opens the store as, for store_check(). */
struct store_check_as {
    bool drop;              /* it drops root first and opens the store as uid/gid; false: as this process */
    uid_t uid;
    gid_t gid;
    const char *user;       /* uid's name, for messages */
    const char *handed_dir; /* a directory the server creates when missing and hands to uid/gid before it opens
                             * the store (its data directory), or NULL */
};

/* For `yamori server -n`: finds what store_open(uri) would fail on when
 * the server starts, changing nothing on disk (no database, migration or
 * SQLite side file is created). An unsupported back end; a database that
 * exists but cannot be opened and read, is not a database, or that the
 * server (as says whom; NULL: this process) may not read and write; a
 * missing one whose directory does not exist or is not writable for the
 * server. On success info says what it found ("... opens; 3 migration
 * steps will be applied at start", "... will be created at first start").
 * Returns 0, or a negative errno with err. */
int store_check(const char *uri, const struct store_check_as *as, char *info, size_t infolen, char *err,
                size_t errlen);

/* "sqlite" */
const char *store_backend(const struct store *st);

/* Wall-clock now in milliseconds since the epoch (the time the store
 * writes; tests may override it with store_set_clock). */
int64_t store_now_ms(const struct store *st);
void store_set_clock(struct store *st, int64_t (*now_ms)(void *ctx), void *ctx);

/* The schema version of each module, for `yamori server -n` and tests:
 * fn(module, version, ctx) per module. */
int store_schema_versions(struct store *st, void (*fn)(const char *module, int version, void *ctx), void *ctx);

#if __has_include("server/store_events.h")
#include "server/store_events.h"
#endif
#if __has_include("server/store_auth.h")
#include "server/store_auth.h"
#endif
#if __has_include("server/store_devices.h")
#include "server/store_devices.h"
#endif

#endif
