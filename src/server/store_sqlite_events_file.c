/*
 * store_sqlite_events_file.c — store_events_file.h over the hunting
 * tables (store_sqlite_events_vtab.c): plain SQL whose DeviceId and
 * Timestamp constraints the virtual tables hand to the event store's
 * scan, so only the partitions and blocks that can match are opened.
 */
#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "server/store_events_file.h"
#include "server/store_sqlite.h"

#define HASH_STEP_BUDGET 200000000 /* SQLite VM steps; progress checked every 10,000 */

static void copy_col(sqlite3_stmt *q, int col, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

int store_events_file_origin(struct store *st, const char *device_id, const char *path, int64_t since_ns,
                             struct store_file_origin *out)
{
    struct store_conn *c;
    sqlite3_stmt *q;
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    c = store_acquire(st, STORE_READ);
    q = store_prepare(c, "SELECT Timestamp, ActionType, InitiatingProcessFolderPath, InitiatingProcessCommandLine,"
                         " InitiatingProcessId, InitiatingProcessAccountName, InitiatingProcessUniqueId"
                         " FROM DeviceFileEvents WHERE DeviceId = ?1 AND Timestamp >= ?2 AND FolderPath = ?3"
                         " AND ActionType IN ('FileCreated', 'FileRenamed', 'FileModified')"
                         " ORDER BY ActionType = 'FileModified', Timestamp DESC LIMIT 1");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, since_ns);
    sqlite3_bind_text(q, 3, path, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->found = true;
        out->ts_ns = sqlite3_column_int64(q, 0);
        copy_col(q, 1, out->action, sizeof(out->action));
        copy_col(q, 2, out->image, sizeof(out->image));
        copy_col(q, 3, out->command_line, sizeof(out->command_line));
        out->pid = sqlite3_column_int64(q, 4);
        copy_col(q, 5, out->account, sizeof(out->account));
        copy_col(q, 6, out->process_uid, sizeof(out->process_uid));
    } else if (rc != SQLITE_DONE) {
        e = store_error(c, "reading the file's origin");
    }
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

static int budget_spent(void *ctx)
{
    int *ticks = ctx;
    return ++*ticks > HASH_STEP_BUDGET / 10000;
}

int store_events_hash_seen(struct store *st, const char *sha256, int64_t since_ns, struct store_hash_seen *out)
{
    struct store_conn *c;
    sqlite3_stmt *q;
    int e = 0, rc, ticks = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)sha256[i]) || isupper((unsigned char)sha256[i]))
            return -EINVAL;
    if (sha256[64])
        return -EINVAL;
    c = store_acquire(st, STORE_READ);
    q = store_prepare(c, "SELECT min(Timestamp), count(DISTINCT DeviceId), count(*),"
                         " (SELECT DeviceId FROM DeviceProcessEvents AS d WHERE d.Timestamp >= ?1 AND"
                         "  d.SHA256 = ?2 ORDER BY d.Timestamp LIMIT 1)"
                         " FROM DeviceProcessEvents WHERE Timestamp >= ?1 AND SHA256 = ?2");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, since_ns);
    sqlite3_bind_text(q, 2, sha256, -1, SQLITE_TRANSIENT);
    sqlite3_progress_handler(store_db(c), 10000, budget_spent, &ticks);
    rc = sqlite3_step(q);
    sqlite3_progress_handler(store_db(c), 0, NULL, NULL);
    if (rc == SQLITE_ROW) {
        out->runs = sqlite3_column_int64(q, 2);
        out->found = out->runs > 0;
        out->first_ns = sqlite3_column_int64(q, 0);
        out->devices = sqlite3_column_int64(q, 1);
        copy_col(q, 3, out->first_device, sizeof(out->first_device));
    } else if (rc == SQLITE_INTERRUPT) {
        out->cut_short = true;
    } else if (rc != SQLITE_DONE) {
        e = store_error(c, "reading where a hash ran");
    }
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}
