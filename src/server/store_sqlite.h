/*
 * store_sqlite.h — what the SQLite store files share (private to them).
 *
 * Connections: one writer (writes are serialised, as SQLite requires) and a
 * small pool of readers (WAL lets them read while the writer writes).
 * Acquire one, use it, release it; statements are prepared once per
 * connection and cached by their SQL text's address (pass string
 * literals). Migrations: each concern registers its numbered steps with
 * STORE_MIGRATIONS(); store_open() applies, in one transaction per step,
 * those a database has not seen, and records them in schema_migrations.
 */
#ifndef YAMORI_SERVER_STORE_SQLITE_H
#define YAMORI_SERVER_STORE_SQLITE_H

#include <sqlite3.h>

#include "server/store.h"

struct store_migration {
    int version;        /* 1, 2, 3 ... in order; never change a shipped step */
    const char *sql;    /* one or more statements */
};

struct store_migration_set {
    const char *module; /* "events", "auth", "devices" */
    int order;          /* modules are migrated in this order */
    const struct store_migration *steps; /* terminated by {0, NULL} */
};

#define STORE_MIGRATIONS(var)                                                                      \
    static const struct store_migration_set *const var##_registration                              \
        __attribute__((used, section("yamori_migrations"), aligned(sizeof(void *)))) = &var

enum store_conn_kind { STORE_READ, STORE_WRITE };

struct store_conn;

/* A connection for the calling thread's use until store_release(). The
 * writer is exclusive: hold it only as long as needed. */
struct store_conn *store_acquire(struct store *st, enum store_conn_kind kind);
void store_release(struct store *st, struct store_conn *c);
sqlite3 *store_db(struct store_conn *c);

/* The cached prepared statement for sql (a string literal), reset and with
 * its bindings cleared; NULL on error (logged). */
sqlite3_stmt *store_prepare(struct store_conn *c, const char *sql);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK on the writer. */
int store_begin(struct store_conn *c);
int store_commit(struct store_conn *c);
void store_rollback(struct store_conn *c);

/* Runs SQL without results (DDL, pragmas). */
int store_exec(struct store_conn *c, const char *sql);

/* Logs a database error with context and returns -EIO (or -EEXIST for a
 * constraint violation, -ENOSPC for a full disk). */
int store_error(struct store_conn *c, const char *what);

/* Fills elem (elem_size bytes, uninitialised) from the current row of q;
 * ctx is store_rows()'s. Returns 0, or -errno that stops the reading, and
 * then owns nothing in elem. */
typedef int (*store_row_fn)(sqlite3_stmt *q, void *elem, void *ctx);

/* Frees what a filled elem owns (not elem itself). */
typedef void (*store_clear_fn)(void *elem);

/* Steps q (bound, not yet stepped) to its end, each row filled into a
 * growing array of elem_size-byte elements by row(q, elem, ctx), in the
 * statement's order. On success *out (malloc'd; NULL when no row) and *n
 * hold the rows. On error nothing is handed out: clear(elem) (NULL:
 * nothing to free in an element) runs on the rows read and the array is
 * freed. Resets q (finalizing it stays the caller's). Returns 0, -ENOMEM,
 * the row's error, or for a database error what store_error() returns,
 * logged as "store: <what>: <SQLite's message>". q may belong to any
 * connection, not only a struct store_conn (the event scans run on a
 * virtual table's). */
int store_rows(sqlite3_stmt *q, size_t elem_size, store_row_fn row, void *ctx, store_clear_fn clear, void **out,
               size_t *n, const char *what);

/* The path of the database file (for sizes, backups). */
const char *store_path(const struct store *st);

#endif
