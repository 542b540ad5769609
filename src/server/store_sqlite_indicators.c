/*
 * store_sqlite_indicators.c — the SQLite side of store_indicators.h: one
 * table, one row per indicator, unique by (type, value).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store_indicators.h"
#include "server/store_sqlite.h"

static const struct store_migration indicator_steps[] = {
    {1, "CREATE TABLE indicators ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " type TEXT NOT NULL CHECK (type IN ('sha256', 'ip', 'domain', 'path')),"
        " value TEXT NOT NULL,"
        " action TEXT NOT NULL CHECK (action IN ('alert', 'allow')),"
        " title TEXT NOT NULL,"
        " severity TEXT NOT NULL CHECK (severity IN ('informational', 'low', 'medium', 'high')),"
        " description TEXT NOT NULL DEFAULT '',"
        " created_by TEXT NOT NULL DEFAULT '',"
        " created_ms INTEGER NOT NULL,"
        " expires_ms INTEGER NOT NULL DEFAULT 0,"
        " UNIQUE (type, value));"},
    {0, NULL},
};

static const struct store_migration_set indicator_migrations = {"indicators", 60, indicator_steps};
STORE_MIGRATIONS(indicator_migrations);

#define COLUMNS "id, type, value, action, title, severity, description, created_by, created_ms, expires_ms"

static void col_copy(sqlite3_stmt *q, int i, char *dst, size_t dstlen)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(dst, dstlen, "%s", t ? (const char *)t : "");
}

static void row(sqlite3_stmt *q, struct store_indicator *o)
{
    memset(o, 0, sizeof(*o));
    o->id = sqlite3_column_int64(q, 0);
    col_copy(q, 1, o->type, sizeof(o->type));
    col_copy(q, 2, o->value, sizeof(o->value));
    col_copy(q, 3, o->action, sizeof(o->action));
    col_copy(q, 4, o->title, sizeof(o->title));
    col_copy(q, 5, o->severity, sizeof(o->severity));
    col_copy(q, 6, o->description, sizeof(o->description));
    col_copy(q, 7, o->created_by, sizeof(o->created_by));
    o->created_ms = sqlite3_column_int64(q, 8);
    o->expires_ms = sqlite3_column_int64(q, 9);
}

int store_indicator_add(struct store *st, const struct store_indicator *in, int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    q = store_prepare(c, "INSERT INTO indicators (type, value, action, title, severity, description, created_by,"
                         " created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, in->type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, in->value, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, in->action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, in->title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, in->severity, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, in->description, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 7, in->created_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 8, store_now_ms(st));
    sqlite3_bind_int64(q, 9, in->expires_ms);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "add an indicator");
        goto out;
    }
    *id = sqlite3_last_insert_rowid(store_db(c));
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

static int row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    row(q, elem);
    return 0;
}

int store_indicator_list(struct store *st, struct store_indicator **out, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = -EIO;

    *out = NULL;
    *n = 0;
    q = store_prepare(c, "SELECT " COLUMNS " FROM indicators ORDER BY id DESC");
    if (q)
        e = store_rows(q, sizeof(**out), row_any, NULL, NULL, (void **)out, n, "list indicators");
    store_release(st, c);
    return e;
}

int store_indicator_get(struct store *st, int64_t id, struct store_indicator *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0, rc;

    q = store_prepare(c, "SELECT " COLUMNS " FROM indicators WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "read an indicator");
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_indicator_delete(struct store *st, int64_t id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    q = store_prepare(c, "DELETE FROM indicators WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "remove an indicator");
    else if (sqlite3_changes(store_db(c)) == 0)
        e = -ENOENT;
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}
