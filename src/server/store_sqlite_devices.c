/*
 * store_sqlite_devices.c — the SQLite side of store_devices.h: onboarding
 * tokens, devices and their command queues.
 *
 * Every change that must be atomic (counting a token's use together with
 * the enrollment, handing out commands, recording a result once) runs in
 * one BEGIN IMMEDIATE transaction on the writer, which SQLite serialises;
 * a PostgreSQL back end would use SELECT ... FOR UPDATE in the same places.
 * Strings that the server rendered (tags, limitations: JSON arrays; IP
 * addresses: space-separated) are stored as text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/store_sqlite.h"

static const struct store_migration devices_steps[] = {
    {1, "CREATE TABLE enroll_tokens ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " token_hash BLOB NOT NULL UNIQUE,"
        " group_name TEXT NOT NULL DEFAULT '',"
        " uses INTEGER NOT NULL DEFAULT 0,"
        " max_uses INTEGER NOT NULL CHECK (max_uses >= 1),"
        " created_ms INTEGER NOT NULL,"
        " expires_ms INTEGER NOT NULL,"
        " revoked_ms INTEGER NOT NULL DEFAULT 0,"
        " created_by TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE devices ("
        " id TEXT PRIMARY KEY,"
        " machine_id TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " group_name TEXT NOT NULL DEFAULT '',"
        " os TEXT NOT NULL DEFAULT '',"
        " distribution TEXT NOT NULL DEFAULT '',"
        " kernel TEXT NOT NULL DEFAULT '',"
        " agent_version TEXT NOT NULL DEFAULT '',"
        " sensor_backend TEXT NOT NULL DEFAULT '',"
        " ips TEXT NOT NULL DEFAULT '',"
        " limitations TEXT NOT NULL DEFAULT '[]',"
        " tags TEXT NOT NULL DEFAULT '[]',"
        " secret_hash BLOB,"
        " token_id INTEGER NOT NULL DEFAULT 0,"
        " first_seen_ms INTEGER NOT NULL,"
        " enrolled_ms INTEGER NOT NULL,"
        " last_heartbeat_ms INTEGER NOT NULL DEFAULT 0,"
        " offboarded_ms INTEGER NOT NULL DEFAULT 0,"
        " heartbeat_seen INTEGER NOT NULL DEFAULT 0,"
        " events_per_second REAL NOT NULL DEFAULT 0,"
        " cpu_percent REAL NOT NULL DEFAULT 0,"
        " events_lost INTEGER NOT NULL DEFAULT 0,"
        " spool_bytes INTEGER NOT NULL DEFAULT 0,"
        " spool_events INTEGER NOT NULL DEFAULT 0,"
        " memory_bytes INTEGER NOT NULL DEFAULT 0,"
        " upload_failures INTEGER NOT NULL DEFAULT -1);"
        "CREATE INDEX devices_name ON devices (name COLLATE NOCASE);"
        "CREATE INDEX devices_group ON devices (group_name, name COLLATE NOCASE);"
        "CREATE INDEX devices_machine ON devices (machine_id);"
        "CREATE TABLE device_commands ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " device_id TEXT NOT NULL REFERENCES devices (id),"
        " type TEXT NOT NULL,"
        " args TEXT NOT NULL DEFAULT '{}',"
        " status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'succeeded', 'failed')),"
        " created_ms INTEGER NOT NULL,"
        " sent_ms INTEGER NOT NULL DEFAULT 0,"
        " completed_ms INTEGER NOT NULL DEFAULT 0,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " requested_by TEXT NOT NULL DEFAULT '',"
        " output TEXT,"
        " error TEXT);"
        "CREATE INDEX device_commands_device ON device_commands (device_id, id);"
        "CREATE INDEX device_commands_open ON device_commands (device_id, id)"
        " WHERE status IN ('queued', 'sent');"},
    /* the action center: expiry, progress, cancellation of commands */
    {2, "ALTER TABLE device_commands ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE device_commands ADD COLUMN progress TEXT;"
        "ALTER TABLE device_commands ADD COLUMN progress_ms INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE device_commands ADD COLUMN cancel_ms INTEGER NOT NULL DEFAULT 0;"},
    {0, NULL},
};

static const struct store_migration_set devices_migrations = {"devices", 30, devices_steps};
STORE_MIGRATIONS(devices_migrations);

/* ------------------------------------------------------------------ helpers */

/* Copies column i as text into dst (size dstlen), "" for NULL. */
static void col_copy(sqlite3_stmt *q, int i, char *dst, size_t dstlen)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(dst, dstlen, "%s", t ? (const char *)t : "");
}

/* Column i as a malloc'd string (def when NULL and def is given); NULL
 * when the column is NULL and def is NULL. *oom is set on allocation
 * failure. */
static char *col_dup(sqlite3_stmt *q, int i, const char *def, bool *oom)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    char *s;

    if (!t && !def)
        return NULL;
    s = strdup(t ? (const char *)t : def);
    if (!s)
        *oom = true;
    return s;
}

static void bind_text_or_null(sqlite3_stmt *q, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, i);
}

static void bind_int_or_null(sqlite3_stmt *q, int i, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

/* ------------------------------------------------------------------ tokens */

int store_enroll_token_create(struct store *st, const uint8_t hash[STORE_HASH_LEN], const char *group,
                              int64_t max_uses, int64_t expires_ms, const char *created_by, int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    q = store_prepare(c, "INSERT INTO enroll_tokens (token_hash, group_name, max_uses, created_ms, expires_ms,"
                         " created_by) VALUES (?, ?, ?, ?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_blob(q, 1, hash, STORE_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, group ? group : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, max_uses);
    sqlite3_bind_int64(q, 4, store_now_ms(st));
    sqlite3_bind_int64(q, 5, expires_ms);
    sqlite3_bind_text(q, 6, created_by ? created_by : "", -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "create an onboarding token");
        goto out;
    }
    *id = sqlite3_last_insert_rowid(store_db(c));
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

static void token_row(sqlite3_stmt *q, struct store_enroll_token *t)
{
    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(q, 0);
    col_copy(q, 1, t->group, sizeof(t->group));
    t->uses = sqlite3_column_int64(q, 2);
    t->max_uses = sqlite3_column_int64(q, 3);
    t->created_ms = sqlite3_column_int64(q, 4);
    t->expires_ms = sqlite3_column_int64(q, 5);
    t->revoked_ms = sqlite3_column_int64(q, 6);
    col_copy(q, 7, t->created_by, sizeof(t->created_by));
}

static int token_row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    token_row(q, elem);
    return 0;
}

int store_enroll_token_list(struct store *st, struct store_enroll_token **out, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = -EIO;

    *out = NULL;
    *n = 0;
    q = store_prepare(c, "SELECT id, group_name, uses, max_uses, created_ms, expires_ms, revoked_ms, created_by"
                         " FROM enroll_tokens ORDER BY id DESC");
    if (q)
        e = store_rows(q, sizeof(**out), token_row_any, NULL, NULL, (void **)out, n, "list onboarding tokens");
    store_release(st, c);
    return e;
}

int store_enroll_token_get(struct store *st, int64_t id, struct store_enroll_token *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0, rc;

    q = store_prepare(c, "SELECT id, group_name, uses, max_uses, created_ms, expires_ms, revoked_ms, created_by"
                         " FROM enroll_tokens WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        token_row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "read an onboarding token");
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_enroll_token_find(struct store *st, const uint8_t hash[STORE_HASH_LEN], struct store_enroll_token *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0, rc;

    q = store_prepare(c, "SELECT id, group_name, uses, max_uses, created_ms, expires_ms, revoked_ms, created_by"
                         " FROM enroll_tokens WHERE token_hash = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_blob(q, 1, hash, STORE_HASH_LEN, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        token_row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "find an onboarding token");
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_enroll_token_revoke(struct store *st, int64_t id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    q = store_prepare(c, "UPDATE enroll_tokens SET revoked_ms = CASE WHEN revoked_ms = 0 THEN ? ELSE revoked_ms END"
                         " WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, store_now_ms(st));
    sqlite3_bind_int64(q, 2, id);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "revoke an onboarding token");
    else if (sqlite3_changes(store_db(c)) == 0)
        e = -ENOENT;
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ enrollment */

int store_device_enroll(struct store *st, const struct store_enrollment *en, struct store_enroll_result *out)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = NULL;
    int64_t now = store_now_ms(st), expires, revoked, uses, max_uses;
    char token_group[STORE_GROUP_MAX + 1];
    int e, rc;

    memset(out, 0, sizeof(*out));
    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "SELECT id, group_name, uses, max_uses, expires_ms, revoked_ms FROM enroll_tokens"
                         " WHERE token_hash = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_blob(q, 1, en->token_hash, STORE_HASH_LEN, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        e = -ENOKEY;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        e = store_error(c, "read an onboarding token");
        goto out;
    }
    out->token_id = sqlite3_column_int64(q, 0);
    col_copy(q, 1, token_group, sizeof(token_group));
    uses = sqlite3_column_int64(q, 2);
    max_uses = sqlite3_column_int64(q, 3);
    expires = sqlite3_column_int64(q, 4);
    revoked = sqlite3_column_int64(q, 5);
    sqlite3_reset(q);
    if (revoked) {
        e = -EKEYREVOKED;
        goto out;
    }
    if (now >= expires) {
        e = -EKEYEXPIRED;
        goto out;
    }
    if (uses >= max_uses) {
        e = -EKEYREJECTED;
        goto out;
    }
    q = store_prepare(c, "UPDATE enroll_tokens SET uses = uses + 1 WHERE id = ? AND uses < max_uses");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, out->token_id);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "count a token use");
        goto out;
    }
    if (sqlite3_changes(store_db(c)) != 1) {
        e = -EKEYREJECTED;
        goto out;
    }
    sqlite3_reset(q);

    q = store_prepare(c, "SELECT group_name FROM devices WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, en->device_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->reenrolled = true;
        col_copy(q, 0, out->group, sizeof(out->group));
    } else if (rc != SQLITE_DONE) {
        e = store_error(c, "read a device");
        goto out;
    }
    sqlite3_reset(q);
    if (token_group[0])
        snprintf(out->group, sizeof(out->group), "%s", token_group);

    if (out->reenrolled)
        q = store_prepare(c, "UPDATE devices SET machine_id = ?2, name = ?3, os = ?4, kernel = ?5, agent_version = ?6,"
                             " secret_hash = ?7, token_id = ?8, enrolled_ms = ?9, offboarded_ms = 0,"
                             " group_name = ?10 WHERE id = ?1");
    else
        q = store_prepare(c, "INSERT INTO devices (id, machine_id, name, os, kernel, agent_version, secret_hash,"
                             " token_id, enrolled_ms, group_name, first_seen_ms)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, en->device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, en->machine_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, en->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, en->os ? en->os : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, en->kernel ? en->kernel : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, en->agent_version ? en->agent_version : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(q, 7, en->secret_hash, STORE_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 8, out->token_id);
    sqlite3_bind_int64(q, 9, now);
    sqlite3_bind_text(q, 10, out->group, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "record an enrollment");
        goto out;
    }
    sqlite3_reset(q);
    q = NULL;
    e = store_commit(c);
out:
    if (q)
        sqlite3_reset(q);
    if (e)
        store_rollback(c);
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ devices */

void store_device_clear(struct store_device *d)
{
    if (!d)
        return;
    free(d->ips);
    free(d->limitations_json);
    free(d->tags_json);
    d->ips = d->limitations_json = d->tags_json = NULL;
}

void store_devices_free(struct store_device *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        store_device_clear(&v[i]);
    free(v);
}

#define DEVICE_COLUMNS                                                                                     \
    "id, machine_id, name, group_name, os, distribution, kernel, agent_version, sensor_backend, ips,"     \
    " limitations, tags, first_seen_ms, enrolled_ms, last_heartbeat_ms, offboarded_ms, token_id,"        \
    " heartbeat_seen, events_per_second, cpu_percent, events_lost, spool_bytes, spool_events,"          \
    " memory_bytes, upload_failures"

/* Fills d from a row of DEVICE_COLUMNS. -ENOMEM (d cleared) on failure. */
static int device_row(sqlite3_stmt *q, struct store_device *d)
{
    bool oom = false;

    memset(d, 0, sizeof(*d));
    col_copy(q, 0, d->id, sizeof(d->id));
    col_copy(q, 1, d->machine_id, sizeof(d->machine_id));
    col_copy(q, 2, d->name, sizeof(d->name));
    col_copy(q, 3, d->group, sizeof(d->group));
    col_copy(q, 4, d->os, sizeof(d->os));
    col_copy(q, 5, d->distribution, sizeof(d->distribution));
    col_copy(q, 6, d->kernel, sizeof(d->kernel));
    col_copy(q, 7, d->agent_version, sizeof(d->agent_version));
    col_copy(q, 8, d->sensor_backend, sizeof(d->sensor_backend));
    d->ips = col_dup(q, 9, "", &oom);
    d->limitations_json = col_dup(q, 10, "[]", &oom);
    d->tags_json = col_dup(q, 11, "[]", &oom);
    d->first_seen_ms = sqlite3_column_int64(q, 12);
    d->enrolled_ms = sqlite3_column_int64(q, 13);
    d->last_heartbeat_ms = sqlite3_column_int64(q, 14);
    d->offboarded_ms = sqlite3_column_int64(q, 15);
    d->token_id = sqlite3_column_int64(q, 16);
    d->heartbeat_seen = sqlite3_column_int(q, 17) != 0;
    d->events_per_second = sqlite3_column_double(q, 18);
    d->cpu_percent = sqlite3_column_double(q, 19);
    d->events_lost = sqlite3_column_int64(q, 20);
    d->spool_bytes = sqlite3_column_int64(q, 21);
    d->spool_events = sqlite3_column_int64(q, 22);
    d->memory_bytes = sqlite3_column_int64(q, 23);
    d->upload_failures = sqlite3_column_int64(q, 24);
    if (oom) {
        store_device_clear(d);
        return -ENOMEM;
    }
    return 0;
}

int store_device_get(struct store *st, const char *id, struct store_device *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    q = store_prepare(c, "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        e = device_row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "read a device");
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_device_find_by_name(struct store *st, const char *name, struct store_device *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    struct store_device cand;
    sqlite3_stmt *q;
    int e = 0, rc, found = 0, enrolled = 0;

    memset(out, 0, sizeof(*out));
    /* enrolled devices first, then the most recently enrolled */
    q = store_prepare(c, "SELECT " DEVICE_COLUMNS " FROM devices WHERE name = ?"
                         " COLLATE NOCASE ORDER BY offboarded_ms <> 0, enrolled_ms DESC LIMIT 2");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        e = device_row(q, &cand);
        if (e)
            goto out;
        found++;
        if (!cand.offboarded_ms)
            enrolled++;
        if (found == 1)
            *out = cand;
        else
            store_device_clear(&cand);
    }
    if (rc != SQLITE_DONE) {
        e = store_error(c, "find a device");
        goto out;
    }
    if (!found)
        e = -ENOENT;
    else if (found > 1 && enrolled != 1)
        e = -ENOTUNIQ;
out:
    if (e)
        store_device_clear(out);
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

static int device_row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    return device_row(q, elem);
}

static void device_clear_any(void *elem)
{
    store_device_clear(elem);
}

int store_device_list(struct store *st, const struct store_device_filter *f, struct store_device **out, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    size_t limit = f && f->limit ? f->limit : 100000;
    char *pattern = NULL;
    sqlite3_stmt *q;
    int e = 0;

    *out = NULL;
    *n = 0;
    if (f && f->search && *f->search) {
        /* LIKE pattern with % _ and \ escaped */
        size_t sl = strlen(f->search), o = 0;
        pattern = malloc(2 * sl + 3);
        if (!pattern) {
            e = -ENOMEM;
            goto out;
        }
        pattern[o++] = '%';
        for (size_t i = 0; i < sl; i++) {
            if (f->search[i] == '%' || f->search[i] == '_' || f->search[i] == '\\')
                pattern[o++] = '\\';
            pattern[o++] = f->search[i];
        }
        pattern[o++] = '%';
        pattern[o] = '\0';
    }
    q = store_prepare(c, "SELECT " DEVICE_COLUMNS " FROM devices"
                         " WHERE (?1 IS NULL OR name LIKE ?1 ESCAPE '\\' OR ips LIKE ?1 ESCAPE '\\')"
                         " AND (?2 IS NULL OR group_name = ?2)"
                         " ORDER BY name COLLATE NOCASE, id LIMIT ?3");
    if (!q) {
        e = -EIO;
        goto out;
    }
    bind_text_or_null(q, 1, pattern);
    bind_text_or_null(q, 2, f ? f->group : NULL);
    sqlite3_bind_int64(q, 3, (int64_t)limit);
    e = store_rows(q, sizeof(**out), device_row_any, NULL, device_clear_any, (void **)out, n, "list devices");
out:
    free(pattern);
    store_release(st, c);
    return e;
}

int store_device_credentials(struct store *st, const char *id, uint8_t hash[STORE_HASH_LEN], bool *offboarded)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0, rc;

    q = store_prepare(c, "SELECT secret_hash, offboarded_ms FROM devices WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(q, 0);
        int hl = sqlite3_column_bytes(q, 0);
        *offboarded = sqlite3_column_int64(q, 1) != 0 || !h || hl != STORE_HASH_LEN;
        if (h && hl == STORE_HASH_LEN)
            memcpy(hash, h, STORE_HASH_LEN);
        else
            memset(hash, 0, STORE_HASH_LEN);
    } else if (rc == SQLITE_DONE) {
        e = -ENOENT;
    } else {
        e = store_error(c, "read device credentials");
    }
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_device_heartbeat(struct store *st, const char *id, const struct store_heartbeat *hb)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    q = store_prepare(c, "UPDATE devices SET last_heartbeat_ms = ?2, heartbeat_seen = 1,"
                         " agent_version = COALESCE(?3, agent_version),"
                         " sensor_backend = COALESCE(?4, sensor_backend),"
                         " limitations = COALESCE(?5, limitations),"
                         " name = COALESCE(?6, name), ips = COALESCE(?7, ips), os = COALESCE(?8, os),"
                         " distribution = COALESCE(?9, distribution), kernel = COALESCE(?10, kernel),"
                         " events_per_second = COALESCE(?11, events_per_second),"
                         " cpu_percent = COALESCE(?12, cpu_percent),"
                         " events_lost = COALESCE(?13, events_lost), spool_bytes = COALESCE(?14, spool_bytes),"
                         " spool_events = COALESCE(?15, spool_events), memory_bytes = COALESCE(?16, memory_bytes),"
                         " upload_failures = COALESCE(?17, upload_failures)"
                         " WHERE id = ?1 AND offboarded_ms = 0");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, store_now_ms(st));
    bind_text_or_null(q, 3, hb->agent_version);
    bind_text_or_null(q, 4, hb->sensor_backend);
    bind_text_or_null(q, 5, hb->limitations_json);
    bind_text_or_null(q, 6, hb->name);
    bind_text_or_null(q, 7, hb->ips);
    bind_text_or_null(q, 8, hb->os);
    bind_text_or_null(q, 9, hb->distribution);
    bind_text_or_null(q, 10, hb->kernel);
    if (hb->has_events_per_second)
        sqlite3_bind_double(q, 11, hb->events_per_second);
    if (hb->has_cpu_percent)
        sqlite3_bind_double(q, 12, hb->cpu_percent);
    bind_int_or_null(q, 13, hb->events_lost);
    bind_int_or_null(q, 14, hb->spool_bytes);
    bind_int_or_null(q, 15, hb->spool_events);
    bind_int_or_null(q, 16, hb->memory_bytes);
    bind_int_or_null(q, 17, hb->upload_failures);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "record a heartbeat");
    else if (sqlite3_changes(store_db(c)) == 0)
        e = -ENOENT;
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_device_set_tags(struct store *st, const char *id, const char *tags_json)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    q = store_prepare(c, "UPDATE devices SET tags = ? WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, tags_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "set device tags");
    else if (sqlite3_changes(store_db(c)) == 0)
        e = -ENOENT;
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_device_offboard(struct store *st, const char *id, bool *already)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    int64_t now = store_now_ms(st);
    sqlite3_stmt *q = NULL;
    int e, rc;

    *already = false;
    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "SELECT offboarded_ms FROM devices WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        e = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        e = store_error(c, "read a device");
        goto out;
    }
    *already = sqlite3_column_int64(q, 0) != 0;
    sqlite3_reset(q);
    q = NULL;
    if (*already)
        goto out; /* nothing to change; the rollback below ends the transaction */
    q = store_prepare(c, "UPDATE devices SET offboarded_ms = ? WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_text(q, 2, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "offboard a device");
        goto out;
    }
    sqlite3_reset(q);
    q = store_prepare(c, "UPDATE device_commands SET status = 'failed', completed_ms = ?,"
                         " error = 'the device was offboarded' WHERE device_id = ? AND status IN ('queued', 'sent')");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_text(q, 2, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "fail the commands of an offboarded device");
        goto out;
    }
    sqlite3_reset(q);
    q = NULL;
    e = store_commit(c);
out:
    if (q)
        sqlite3_reset(q);
    store_rollback(c);
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ commands */

const char *store_command_status_name(enum store_command_status s)
{
    switch (s) {
    case CMD_QUEUED: return "queued";
    case CMD_SENT: return "sent";
    case CMD_SUCCEEDED: return "succeeded";
    case CMD_FAILED: return "failed";
    }
    return "unknown";
}

static enum store_command_status status_from_text(const unsigned char *t)
{
    const char *s = t ? (const char *)t : "";
    if (strcmp(s, "sent") == 0)
        return CMD_SENT;
    if (strcmp(s, "succeeded") == 0)
        return CMD_SUCCEEDED;
    if (strcmp(s, "failed") == 0)
        return CMD_FAILED;
    return CMD_QUEUED;
}

void store_command_clear(struct store_command *c)
{
    if (!c)
        return;
    free(c->args_json);
    free(c->output_json);
    free(c->error);
    free(c->progress_json);
    c->args_json = c->output_json = c->error = c->progress_json = NULL;
}

void store_commands_free(struct store_command *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        store_command_clear(&v[i]);
    free(v);
}

#define COMMAND_COLUMNS                                                                                    \
    "id, device_id, type, args, status, created_ms, sent_ms, completed_ms, attempts, requested_by, output, error," \
    " expires_ms, progress, progress_ms, cancel_ms"

/* What may be handed out now (?1 device, ?2 now - redelivery delay, ?3 max
 * attempts, ?5 now): queued and not expired, or sent long ago without a
 * result. */
#define COMMAND_HANDABLE                                                                                   \
    " (status = 'queued' AND (expires_ms = 0 OR expires_ms > ?5))"                                          \
    " OR (status = 'sent' AND sent_ms <= ?2 AND attempts < ?3)"

static int command_row(sqlite3_stmt *q, struct store_command *cmd)
{
    bool oom = false;

    memset(cmd, 0, sizeof(*cmd));
    cmd->id = sqlite3_column_int64(q, 0);
    col_copy(q, 1, cmd->device_id, sizeof(cmd->device_id));
    col_copy(q, 2, cmd->type, sizeof(cmd->type));
    cmd->args_json = col_dup(q, 3, "{}", &oom);
    cmd->status = status_from_text(sqlite3_column_text(q, 4));
    cmd->created_ms = sqlite3_column_int64(q, 5);
    cmd->sent_ms = sqlite3_column_int64(q, 6);
    cmd->completed_ms = sqlite3_column_int64(q, 7);
    cmd->attempts = sqlite3_column_int(q, 8);
    col_copy(q, 9, cmd->requested_by, sizeof(cmd->requested_by));
    cmd->output_json = col_dup(q, 10, NULL, &oom);
    cmd->error = col_dup(q, 11, NULL, &oom);
    cmd->expires_ms = sqlite3_column_int64(q, 12);
    cmd->progress_json = col_dup(q, 13, NULL, &oom);
    cmd->progress_ms = sqlite3_column_int64(q, 14);
    cmd->cancel_ms = sqlite3_column_int64(q, 15);
    if (oom) {
        store_command_clear(cmd);
        return -ENOMEM;
    }
    return 0;
}

static int command_row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    return command_row(q, elem);
}

static void command_clear_any(void *elem)
{
    store_command_clear(elem);
}

int store_command_create(struct store *st, const char *device_id, const char *type, const char *args_json,
                         const char *requested_by, size_t max_queued, int64_t *id)
{
    return store_command_create_until(st, device_id, type, args_json, requested_by, max_queued, 0, id);
}

int store_command_create_until(struct store *st, const char *device_id, const char *type, const char *args_json,
                               const char *requested_by, size_t max_queued, int64_t expires_ms, int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = NULL;
    int e, rc;

    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "SELECT offboarded_ms, (SELECT COUNT(*) FROM device_commands WHERE device_id = ?1"
                         " AND status IN ('queued', 'sent')) FROM devices WHERE id = ?1");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        e = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        e = store_error(c, "read a device");
        goto out;
    }
    if (sqlite3_column_int64(q, 0) != 0) {
        e = -EKEYREVOKED;
        goto out;
    }
    if ((uint64_t)sqlite3_column_int64(q, 1) >= max_queued) {
        e = -EDQUOT;
        goto out;
    }
    sqlite3_reset(q);
    q = store_prepare(c, "INSERT INTO device_commands (device_id, type, args, status, created_ms, requested_by,"
                         " expires_ms) VALUES (?, ?, ?, 'queued', ?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, args_json ? args_json : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, store_now_ms(st));
    sqlite3_bind_text(q, 5, requested_by ? requested_by : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 6, expires_ms > 0 ? expires_ms : 0);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "queue a command");
        goto out;
    }
    *id = sqlite3_last_insert_rowid(store_db(c));
    sqlite3_reset(q);
    q = NULL;
    e = store_commit(c);
out:
    if (q)
        sqlite3_reset(q);
    if (e)
        store_rollback(c);
    store_release(st, c);
    return e;
}

int store_commands_pending(struct store *st, const char *device_id, bool *pending)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0;

    *pending = false;
    q = store_prepare(c, "SELECT EXISTS (SELECT 1 FROM device_commands WHERE device_id = ?1"
                         " AND (" COMMAND_HANDABLE "))");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, store_now_ms(st) - STORE_COMMAND_REDELIVER_MS);
    sqlite3_bind_int(q, 3, STORE_COMMAND_MAX_ATTEMPTS);
    sqlite3_bind_int64(q, 5, store_now_ms(st));
    if (sqlite3_step(q) == SQLITE_ROW)
        *pending = sqlite3_column_int(q, 0) != 0;
    else
        e = store_error(c, "look for pending commands");
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_commands_claim(struct store *st, const char *device_id, size_t max, struct store_command **out,
                         size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    struct store_command *v = NULL;
    int64_t now = store_now_ms(st);
    size_t len = 0;
    sqlite3_stmt *q = NULL;
    int e;

    *out = NULL;
    *n = 0;
    if (max == 0) {
        e = 0;
        goto out;
    }
    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "SELECT " COMMAND_COLUMNS " FROM device_commands WHERE device_id = ?1"
                         " AND (" COMMAND_HANDABLE ") ORDER BY id LIMIT ?4");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, now - STORE_COMMAND_REDELIVER_MS);
    sqlite3_bind_int(q, 3, STORE_COMMAND_MAX_ATTEMPTS);
    sqlite3_bind_int64(q, 4, (int64_t)max);
    sqlite3_bind_int64(q, 5, now);
    e = store_rows(q, sizeof(*v), command_row_any, NULL, command_clear_any, (void **)&v, &len,
                   "read pending commands");
    q = NULL; /* reset by store_rows */
    if (e)
        goto out;
    q = store_prepare(c, "UPDATE device_commands SET status = 'sent', sent_ms = ?, attempts = attempts + 1 WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int64(q, 2, v[i].id);
        if (sqlite3_step(q) != SQLITE_DONE) {
            e = store_error(c, "hand out a command");
            goto out;
        }
        v[i].status = CMD_SENT;
        v[i].sent_ms = now;
        v[i].attempts++;
    }
    sqlite3_reset(q);
    q = NULL;
    e = store_commit(c);
    if (e)
        goto out;
    *out = v;
    *n = len;
    v = NULL;
out:
    if (q)
        sqlite3_reset(q);
    if (e)
        store_rollback(c);
    store_commands_free(v, len);
    store_release(st, c);
    return e;
}

int store_commands_unclaim(struct store *st, const struct store_command *v, size_t n)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = NULL;
    int e;

    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "UPDATE device_commands SET status = 'queued' WHERE id = ? AND status = 'sent' AND attempts = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, v[i].id);
        sqlite3_bind_int(q, 2, v[i].attempts);
        if (sqlite3_step(q) != SQLITE_DONE) {
            e = store_error(c, "take back a command");
            goto out;
        }
    }
    sqlite3_reset(q);
    q = NULL;
    e = store_commit(c);
out:
    if (q)
        sqlite3_reset(q);
    if (e)
        store_rollback(c);
    store_release(st, c);
    return e;
}

int store_commands_requeue_unstarted(struct store *st, const char *device_id, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    *n = 0;
    q = store_prepare(c, "UPDATE device_commands SET status = 'queued' WHERE device_id = ? AND status = 'sent'"
                         " AND progress IS NULL");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "hand out again the commands a restarted agent never started");
    else
        *n = (size_t)sqlite3_changes(store_db(c));
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_command_result(struct store *st, const char *device_id, int64_t id, enum store_command_status status,
                         const char *output_json, const char *error, bool *recorded,
                         enum store_command_status *status_now)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = NULL;
    enum store_command_status cur;
    int e, rc;

    *recorded = false;
    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "SELECT status, attempts FROM device_commands WHERE id = ? AND device_id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_text(q, 2, device_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        e = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        e = store_error(c, "read a command");
        goto out;
    }
    cur = status_from_text(sqlite3_column_text(q, 0));
    if (sqlite3_column_int(q, 1) == 0) { /* never handed out: the device cannot know it */
        e = -ENOENT;
        goto out;
    }
    sqlite3_reset(q);
    q = NULL;
    *status_now = cur;
    if (cur == CMD_SUCCEEDED || cur == CMD_FAILED)
        goto out; /* recorded before: the first result stands */
    q = store_prepare(c, "UPDATE device_commands SET status = ?, output = ?, error = ?, completed_ms = ? WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, store_command_status_name(status), -1, SQLITE_STATIC);
    bind_text_or_null(q, 2, output_json);
    bind_text_or_null(q, 3, error);
    sqlite3_bind_int64(q, 4, store_now_ms(st));
    sqlite3_bind_int64(q, 5, id);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "record a command result");
        goto out;
    }
    sqlite3_reset(q);
    q = NULL;
    e = store_commit(c);
    if (!e) {
        *recorded = true;
        *status_now = status;
    }
out:
    if (q)
        sqlite3_reset(q);
    store_rollback(c);
    store_release(st, c);
    return e;
}

int store_command_get(struct store *st, const char *device_id, int64_t id, struct store_command *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    q = store_prepare(c, "SELECT " COMMAND_COLUMNS " FROM device_commands WHERE id = ? AND device_id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_text(q, 2, device_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        e = command_row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "read a command");
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}

int store_command_list(struct store *st, const char *device_id, size_t limit, struct store_command **out, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = -EIO;

    *out = NULL;
    *n = 0;
    q = store_prepare(c, "SELECT " COMMAND_COLUMNS " FROM device_commands WHERE device_id = ? ORDER BY id DESC LIMIT ?");
    if (q) {
        sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, (int64_t)(limit ? limit : 100));
        e = store_rows(q, sizeof(**out), command_row_any, NULL, command_clear_any, (void **)out, n, "list commands");
    }
    store_release(st, c);
    return e;
}

int store_command_progress(struct store *st, const char *device_id, int64_t id, const char *progress_json,
                           bool *first, bool *cancel, enum store_command_status *status_now)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = NULL;
    int e, rc;

    *first = *cancel = false;
    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "SELECT status, attempts, progress_ms, cancel_ms FROM device_commands"
                         " WHERE id = ? AND device_id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_text(q, 2, device_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && sqlite3_column_int(q, 1) == 0)) {
        e = -ENOENT; /* never handed out: the device cannot know it */
        goto out;
    }
    if (rc != SQLITE_ROW) {
        e = store_error(c, "read a command");
        goto out;
    }
    *status_now = status_from_text(sqlite3_column_text(q, 0));
    *first = sqlite3_column_int64(q, 2) == 0;
    *cancel = sqlite3_column_int64(q, 3) != 0;
    sqlite3_reset(q);
    q = NULL;
    if (*status_now != CMD_SENT) {
        *first = false;
        goto out;
    }
    q = store_prepare(c, "UPDATE device_commands SET progress = ?, progress_ms = ? WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, progress_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, store_now_ms(st));
    sqlite3_bind_int64(q, 3, id);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "record a command's progress");
        goto out;
    }
    sqlite3_reset(q);
    q = NULL;
    e = store_commit(c);
out:
    if (q)
        sqlite3_reset(q);
    if (e)
        *first = false;
    store_rollback(c);
    store_release(st, c);
    return e;
}

int store_command_withdraw(struct store *st, const char *device_id, int64_t id, const char *why, bool request_stop,
                           bool *withdrawn, enum store_command_status *status_now)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    int64_t now = store_now_ms(st);
    sqlite3_stmt *q = NULL;
    int e, rc;

    *withdrawn = false;
    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "SELECT status FROM device_commands WHERE id = ? AND device_id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_text(q, 2, device_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        e = -ENOENT;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        e = store_error(c, "read a command");
        goto out;
    }
    *status_now = status_from_text(sqlite3_column_text(q, 0));
    sqlite3_reset(q);
    q = NULL;
    if (*status_now == CMD_QUEUED) {
        q = store_prepare(c, "UPDATE device_commands SET status = 'failed', error = ?, completed_ms = ? WHERE id = ?");
        if (!q) {
            e = -EIO;
            goto out;
        }
        sqlite3_bind_text(q, 1, why, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, now);
        sqlite3_bind_int64(q, 3, id);
    } else if (*status_now == CMD_SENT && request_stop) {
        q = store_prepare(c, "UPDATE device_commands SET cancel_ms = ? WHERE id = ? AND cancel_ms = 0");
        if (!q) {
            e = -EIO;
            goto out;
        }
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int64(q, 2, id);
    } else {
        goto out;
    }
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "withdraw a command");
        goto out;
    }
    sqlite3_reset(q);
    q = NULL;
    e = store_commit(c);
    if (!e && *status_now == CMD_QUEUED) {
        *withdrawn = true;
        *status_now = CMD_FAILED;
    }
out:
    if (q)
        sqlite3_reset(q);
    store_rollback(c);
    store_release(st, c);
    return e;
}
