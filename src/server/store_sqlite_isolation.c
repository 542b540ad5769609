/*
 * store_sqlite_isolation.c — the SQLite side of store_isolation.h: one row
 * per device that ever reported its isolation state, replaced by each
 * heartbeat that carries one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/store_isolation.h"
#include "server/store_sqlite.h"

static const struct store_migration isolation_steps[] = {
    {1, "CREATE TABLE device_isolation ("
        " device_id TEXT PRIMARY KEY,"
        " state TEXT NOT NULL CHECK (state IN ('not isolated', 'isolated', 'isolation failing')),"
        " error TEXT NOT NULL DEFAULT '',"
        " reported_ms INTEGER NOT NULL);"},
    {0, NULL},
};

static const struct store_migration_set isolation_migrations = {"device_isolation", 35, isolation_steps};
STORE_MIGRATIONS(isolation_migrations);

int store_isolation_report(struct store *st, const char *device_id, const char *state, const char *error)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    q = store_prepare(c, "INSERT INTO device_isolation (device_id, state, error, reported_ms) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, error = excluded.error,"
                         " reported_ms = excluded.reported_ms");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, error ? error : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, store_now_ms(st));
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "record a device's isolation state");
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_isolation_get(struct store *st, const char *device_id, struct store_isolation *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    snprintf(out->state, sizeof(out->state), "not isolated");
    q = store_prepare(c, "SELECT state, error, reported_ms FROM device_isolation WHERE device_id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(q, 0), *er = sqlite3_column_text(q, 1);
        snprintf(out->state, sizeof(out->state), "%s", s ? (const char *)s : "not isolated");
        snprintf(out->error, sizeof(out->error), "%s", er ? (const char *)er : "");
        out->reported_ms = sqlite3_column_int64(q, 2);
    } else if (rc != SQLITE_DONE) {
        e = store_error(c, "read a device's isolation state");
    }
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}
