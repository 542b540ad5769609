/*
 * store_sqlite_auth.c — users, sessions, API tokens and failed logins in
 * SQLite (see store_auth.h).
 *
 * The rule that the server always keeps one enabled admin is checked here,
 * inside the write transaction that would break it, so two admins demoting
 * each other at the same moment cannot both succeed. Sessions and tokens
 * reference their user with ON DELETE CASCADE: deleting a user removes its
 * credentials in the same statement.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/store_sqlite.h"

#define ROLE_ADMIN_VALUE 4 /* enum role ROLE_ADMIN (server/http.h) */
#define TOKEN_KEEP_MS (30LL * 86400 * 1000)

static const struct store_migration auth_steps[] = {
    {1, "CREATE TABLE users ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " name TEXT NOT NULL UNIQUE,"
        " role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 4),"
        " password_hash TEXT NOT NULL,"
        " disabled INTEGER NOT NULL DEFAULT 0,"
        " created_ms INTEGER NOT NULL,"
        " updated_ms INTEGER NOT NULL,"
        " password_changed_ms INTEGER NOT NULL,"
        " last_login_ms INTEGER);"
        "CREATE TABLE sessions ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " token_hash BLOB NOT NULL UNIQUE,"
        " user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
        " csrf TEXT NOT NULL,"
        " created_ms INTEGER NOT NULL,"
        " expires_ms INTEGER NOT NULL,"
        " last_used_ms INTEGER NOT NULL,"
        " remote_ip TEXT);"
        "CREATE INDEX sessions_user ON sessions (user_id);"
        "CREATE INDEX sessions_expires ON sessions (expires_ms);"
        "CREATE TABLE api_tokens ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " token_hash BLOB NOT NULL UNIQUE,"
        " user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
        " name TEXT NOT NULL,"
        " role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 4),"
        " created_ms INTEGER NOT NULL,"
        " expires_ms INTEGER,"        /* NULL: never */
        " last_used_ms INTEGER,"
        " revoked_ms INTEGER);"
        "CREATE INDEX api_tokens_user ON api_tokens (user_id);"
        "CREATE TABLE login_failures ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " user_name TEXT NOT NULL,"
        " remote_ip TEXT NOT NULL,"
        " ts_ms INTEGER NOT NULL);"
        "CREATE INDEX login_failures_user ON login_failures (user_name, remote_ip, ts_ms);"
        "CREATE INDEX login_failures_ip ON login_failures (remote_ip, ts_ms);"
        "CREATE INDEX login_failures_ts ON login_failures (ts_ms);"},
    {0, NULL},
};

static const struct store_migration_set auth_migrations = {"auth", 20, auth_steps};
STORE_MIGRATIONS(auth_migrations);

static void copy_text(char *dst, size_t len, sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* Runs a statement that returns no rows. */
static int run_done(struct store_conn *c, sqlite3_stmt *q, const char *what)
{
    int e = sqlite3_step(q) == SQLITE_DONE ? 0 : store_error(c, what);
    sqlite3_reset(q);
    return e;
}

/* ------------------------------------------------------------------ users */

#define USER_COLUMNS "id, name, role, password_hash, disabled, created_ms, updated_ms, password_changed_ms, " \
                     "COALESCE(last_login_ms, 0)"

static void read_user(sqlite3_stmt *q, struct store_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = sqlite3_column_int64(q, 0);
    copy_text(u->name, sizeof(u->name), q, 1);
    u->role = sqlite3_column_int(q, 2);
    copy_text(u->password_hash, sizeof(u->password_hash), q, 3);
    u->disabled = sqlite3_column_int(q, 4) != 0;
    u->created_ms = sqlite3_column_int64(q, 5);
    u->updated_ms = sqlite3_column_int64(q, 6);
    u->password_changed_ms = sqlite3_column_int64(q, 7);
    u->last_login_ms = sqlite3_column_int64(q, 8);
}

int store_user_count(struct store *st, int64_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT COUNT(*) FROM users");
    int e = 0;

    *n = 0;
    if (!q) {
        e = -EIO;
        goto out;
    }
    if (sqlite3_step(q) == SQLITE_ROW)
        *n = sqlite3_column_int64(q, 0);
    else
        e = store_error(c, "count users");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_user_create(struct store *st, const char *name, int role, const char *password_hash, int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "INSERT INTO users (name, role, password_hash, created_ms, updated_ms,"
                                       " password_changed_ms) VALUES (?, ?, ?, ?, ?, ?)");
    int64_t now = store_now_ms(st);
    int e;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, role);
    sqlite3_bind_text(q, 3, password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, now);
    sqlite3_bind_int64(q, 6, now);
    e = run_done(c, q, "create user");
    if (!e && id)
        *id = sqlite3_last_insert_rowid(store_db(c));
out:
    store_release(st, c);
    return e;
}

int store_user_get(struct store *st, const char *name, struct store_user *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " USER_COLUMNS " FROM users WHERE name = ?");
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        read_user(q, out);
    else
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "get user");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_user_get_by_id(struct store *st, int64_t id, struct store_user *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " USER_COLUMNS " FROM users WHERE id = ?");
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        read_user(q, out);
    else
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "get user");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_user_list(struct store *st, int (*fn)(const struct store_user *u, void *ctx), void *ctx)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " USER_COLUMNS " FROM users ORDER BY name");
    struct store_user u;
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        read_user(q, &u);
        e = fn(&u, ctx);
        if (e)
            break;
    }
    if (!e && rc != SQLITE_DONE)
        e = store_error(c, "list users");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

/* Within the writer's transaction: the role and state of user id (-ENOENT),
 * and how many other enabled admins there are. */
static int admin_census(struct store_conn *c, int64_t id, int *role, bool *disabled, int64_t *other_admins)
{
    sqlite3_stmt *q = store_prepare(c, "SELECT role, disabled, (SELECT COUNT(*) FROM users WHERE role = 4"
                                       " AND disabled = 0 AND id != ?1) FROM users WHERE id = ?1");
    int rc, e = 0;

    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *role = sqlite3_column_int(q, 0);
        *disabled = sqlite3_column_int(q, 1) != 0;
        *other_admins = sqlite3_column_int64(q, 2);
    } else {
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "count admins");
    }
    sqlite3_reset(q);
    return e;
}

int store_user_update(struct store *st, int64_t id, int role, int disabled)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int cur_role, new_role, e;
    bool cur_disabled, new_disabled;
    int64_t others;

    e = store_begin(c);
    if (e)
        goto out;
    e = admin_census(c, id, &cur_role, &cur_disabled, &others);
    if (e)
        goto out;
    new_role = role ? role : cur_role;
    new_disabled = disabled < 0 ? cur_disabled : disabled != 0;
    if (cur_role == ROLE_ADMIN_VALUE && !cur_disabled && (new_role != ROLE_ADMIN_VALUE || new_disabled) &&
        others == 0) {
        e = -EPERM;
        goto out;
    }
    q = store_prepare(c, "UPDATE users SET role = ?, disabled = ?, updated_ms = ? WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int(q, 1, new_role);
    sqlite3_bind_int(q, 2, new_disabled ? 1 : 0);
    sqlite3_bind_int64(q, 3, store_now_ms(st));
    sqlite3_bind_int64(q, 4, id);
    e = run_done(c, q, "update user");
    if (e)
        goto out;
    if (new_disabled) {
        q = store_prepare(c, "DELETE FROM sessions WHERE user_id = ?");
        if (!q) {
            e = -EIO;
            goto out;
        }
        sqlite3_bind_int64(q, 1, id);
        e = run_done(c, q, "end sessions");
        if (e)
            goto out;
    }
    e = store_commit(c);
out:
    store_release(st, c); /* rolls back what did not commit */
    return e;
}

int store_user_set_password(struct store *st, int64_t id, const char *password_hash, int64_t keep_session)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int64_t now = store_now_ms(st);
    int e;

    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "UPDATE users SET password_hash = ?, updated_ms = ?, password_changed_ms = ? WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_int64(q, 3, now);
    sqlite3_bind_int64(q, 4, id);
    e = run_done(c, q, "set password");
    if (e)
        goto out;
    if (sqlite3_changes(store_db(c)) == 0) {
        e = -ENOENT;
        goto out;
    }
    q = store_prepare(c, "DELETE FROM sessions WHERE user_id = ? AND id != ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, keep_session);
    e = run_done(c, q, "end sessions");
    if (!e)
        e = store_commit(c);
out:
    store_release(st, c);
    return e;
}

int store_user_rehash(struct store *st, int64_t id, const char *password_hash)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE users SET password_hash = ? WHERE id = ?");
    int e;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, id);
    e = run_done(c, q, "rehash password");
out:
    store_release(st, c);
    return e;
}

int store_user_touch_login(struct store *st, int64_t id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE users SET last_login_ms = ? WHERE id = ?");
    int e;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, store_now_ms(st));
    sqlite3_bind_int64(q, 2, id);
    e = run_done(c, q, "touch login");
out:
    store_release(st, c);
    return e;
}

int store_user_delete(struct store *st, int64_t id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int cur_role, e;
    bool disabled;
    int64_t others;

    e = store_begin(c);
    if (e)
        goto out;
    e = admin_census(c, id, &cur_role, &disabled, &others);
    if (e)
        goto out;
    if (cur_role == ROLE_ADMIN_VALUE && !disabled && others == 0) {
        e = -EPERM;
        goto out;
    }
    q = store_prepare(c, "DELETE FROM users WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    e = run_done(c, q, "delete user");
    if (!e)
        e = store_commit(c);
out:
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ sessions */

int store_session_create(struct store *st, int64_t user_id, const uint8_t hash[STORE_SECRET_HASH_LEN],
                         const char *csrf, int64_t expires_ms, const char *remote_ip, unsigned max_per_user,
                         int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int64_t now = store_now_ms(st), new_id;
    int e;

    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "DELETE FROM sessions WHERE expires_ms <= ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, now);
    e = run_done(c, q, "prune sessions");
    if (e)
        goto out;
    q = store_prepare(c, "INSERT INTO sessions (token_hash, user_id, csrf, created_ms, expires_ms, last_used_ms,"
                         " remote_ip) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_blob(q, 1, hash, STORE_SECRET_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, user_id);
    sqlite3_bind_text(q, 3, csrf, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, now);
    sqlite3_bind_int64(q, 5, expires_ms);
    sqlite3_bind_int64(q, 6, now);
    sqlite3_bind_text(q, 7, remote_ip, -1, SQLITE_STATIC);
    e = run_done(c, q, "create session");
    if (e)
        goto out;
    new_id = sqlite3_last_insert_rowid(store_db(c));
    q = store_prepare(c, "DELETE FROM sessions WHERE user_id = ?1 AND id NOT IN"
                         " (SELECT id FROM sessions WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, user_id);
    sqlite3_bind_int64(q, 2, max_per_user ? max_per_user : 1);
    e = run_done(c, q, "cap sessions");
    if (e)
        goto out;
    e = store_commit(c);
    if (!e && id)
        *id = new_id;
out:
    store_release(st, c);
    return e;
}

int store_session_lookup(struct store *st, const uint8_t hash[STORE_SECRET_HASH_LEN], struct store_session *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT s.id, s.user_id, u.name, u.role, u.disabled, s.csrf, s.created_ms,"
                                       " s.expires_ms, s.last_used_ms FROM sessions s JOIN users u ON u.id = s.user_id"
                                       " WHERE s.token_hash = ?");
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_blob(q, 1, hash, STORE_SECRET_HASH_LEN, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(q, 0);
        out->user_id = sqlite3_column_int64(q, 1);
        copy_text(out->user_name, sizeof(out->user_name), q, 2);
        out->user_role = sqlite3_column_int(q, 3);
        out->user_disabled = sqlite3_column_int(q, 4) != 0;
        copy_text(out->csrf, sizeof(out->csrf), q, 5);
        out->created_ms = sqlite3_column_int64(q, 6);
        out->expires_ms = sqlite3_column_int64(q, 7);
        out->last_used_ms = sqlite3_column_int64(q, 8);
    } else {
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "look up session");
    }
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_session_delete(struct store *st, int64_t id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "DELETE FROM sessions WHERE id = ?");
    int e;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    e = run_done(c, q, "end session");
    if (!e && sqlite3_changes(store_db(c)) == 0)
        e = -ENOENT;
out:
    store_release(st, c);
    return e;
}

int store_session_touch(struct store *st, int64_t id, int64_t now_ms)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE sessions SET last_used_ms = ? WHERE id = ?");
    int e;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, now_ms);
    sqlite3_bind_int64(q, 2, id);
    e = run_done(c, q, "touch session");
out:
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ API tokens */

#define TOKEN_COLUMNS "t.id, t.user_id, u.name, u.role, u.disabled, t.name, t.role, t.created_ms," \
                      " COALESCE(t.expires_ms, 0), COALESCE(t.last_used_ms, 0), COALESCE(t.revoked_ms, 0)"

static void read_token(sqlite3_stmt *q, struct store_token *t)
{
    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(q, 0);
    t->user_id = sqlite3_column_int64(q, 1);
    copy_text(t->user_name, sizeof(t->user_name), q, 2);
    t->user_role = sqlite3_column_int(q, 3);
    t->user_disabled = sqlite3_column_int(q, 4) != 0;
    copy_text(t->name, sizeof(t->name), q, 5);
    t->role = sqlite3_column_int(q, 6);
    t->created_ms = sqlite3_column_int64(q, 7);
    t->expires_ms = sqlite3_column_int64(q, 8);
    t->last_used_ms = sqlite3_column_int64(q, 9);
    t->revoked_ms = sqlite3_column_int64(q, 10);
}

int store_token_create(struct store *st, int64_t user_id, const char *name, int role,
                       const uint8_t hash[STORE_SECRET_HASH_LEN], int64_t expires_ms, unsigned max_active,
                       int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int64_t now = store_now_ms(st), active = 0;
    int e;

    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "DELETE FROM api_tokens WHERE user_id = ?1 AND ((revoked_ms IS NOT NULL AND revoked_ms < ?2)"
                         " OR (expires_ms IS NOT NULL AND expires_ms < ?2))");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, user_id);
    sqlite3_bind_int64(q, 2, now - TOKEN_KEEP_MS);
    e = run_done(c, q, "prune tokens");
    if (e)
        goto out;
    q = store_prepare(c, "SELECT COUNT(*) FROM api_tokens WHERE user_id = ? AND revoked_ms IS NULL"
                         " AND (expires_ms IS NULL OR expires_ms > ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, user_id);
    sqlite3_bind_int64(q, 2, now);
    if (sqlite3_step(q) == SQLITE_ROW)
        active = sqlite3_column_int64(q, 0);
    else
        e = store_error(c, "count tokens");
    sqlite3_reset(q);
    if (e)
        goto out;
    if (active >= (int64_t)max_active) {
        e = -EDQUOT;
        goto out;
    }
    q = store_prepare(c, "INSERT INTO api_tokens (token_hash, user_id, name, role, created_ms, expires_ms)"
                         " VALUES (?, ?, ?, ?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_blob(q, 1, hash, STORE_SECRET_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, user_id);
    sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, role);
    sqlite3_bind_int64(q, 5, now);
    if (expires_ms > 0)
        sqlite3_bind_int64(q, 6, expires_ms);
    else
        sqlite3_bind_null(q, 6);
    e = run_done(c, q, "create token");
    if (e)
        goto out;
    if (id)
        *id = sqlite3_last_insert_rowid(store_db(c));
    e = store_commit(c);
out:
    store_release(st, c);
    return e;
}

int store_token_lookup(struct store *st, const uint8_t hash[STORE_SECRET_HASH_LEN], struct store_token *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " TOKEN_COLUMNS " FROM api_tokens t JOIN users u ON u.id = t.user_id"
                                       " WHERE t.token_hash = ?");
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_blob(q, 1, hash, STORE_SECRET_HASH_LEN, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        read_token(q, out);
    else
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "look up token");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_token_get(struct store *st, int64_t id, struct store_token *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " TOKEN_COLUMNS " FROM api_tokens t JOIN users u ON u.id = t.user_id"
                                       " WHERE t.id = ?");
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        read_token(q, out);
    else
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "get token");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_token_list(struct store *st, int64_t user_id, int (*fn)(const struct store_token *t, void *ctx),
                     void *ctx)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " TOKEN_COLUMNS " FROM api_tokens t JOIN users u ON u.id = t.user_id"
                                       " WHERE ?1 = 0 OR t.user_id = ?1 ORDER BY t.id DESC");
    struct store_token t;
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, user_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        read_token(q, &t);
        e = fn(&t, ctx);
        if (e)
            break;
    }
    if (!e && rc != SQLITE_DONE)
        e = store_error(c, "list tokens");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_token_revoke(struct store *st, int64_t id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e, rc;

    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "SELECT revoked_ms IS NOT NULL FROM api_tokens WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        e = sqlite3_column_int(q, 0) ? -EALREADY : 0;
    else
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "find token");
    sqlite3_reset(q);
    if (e)
        goto out;
    q = store_prepare(c, "UPDATE api_tokens SET revoked_ms = ? WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, store_now_ms(st));
    sqlite3_bind_int64(q, 2, id);
    e = run_done(c, q, "revoke token");
    if (!e)
        e = store_commit(c);
out:
    store_release(st, c);
    return e;
}

int store_token_touch(struct store *st, int64_t id, int64_t now_ms)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE api_tokens SET last_used_ms = ? WHERE id = ?");
    int e;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, now_ms);
    sqlite3_bind_int64(q, 2, id);
    e = run_done(c, q, "touch token");
out:
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ failed logins */

int store_login_failure_add(struct store *st, const char *user_name, const char *remote_ip, int64_t now_ms,
                            int64_t forget_before_ms)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e;

    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "DELETE FROM login_failures WHERE ts_ms < ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, forget_before_ms);
    e = run_done(c, q, "forget failed logins");
    if (e)
        goto out;
    q = store_prepare(c, "INSERT INTO login_failures (user_name, remote_ip, ts_ms) VALUES (?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, user_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, remote_ip, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now_ms);
    e = run_done(c, q, "record failed login");
    if (!e)
        e = store_commit(c);
out:
    store_release(st, c);
    return e;
}

int store_login_failure_nth(struct store *st, const char *user_name, const char *remote_ip, int64_t since_ms,
                            unsigned n, int64_t *ts_ms)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = 0, rc;

    *ts_ms = 0;
    if (n == 0) {
        e = -EINVAL;
        goto out;
    }
    if (user_name)
        q = store_prepare(c, "SELECT ts_ms FROM login_failures WHERE user_name = ?1 AND remote_ip = ?2"
                             " AND ts_ms >= ?3 ORDER BY ts_ms DESC LIMIT 1 OFFSET ?4");
    else
        q = store_prepare(c, "SELECT ts_ms FROM login_failures WHERE ?1 IS NULL AND remote_ip = ?2"
                             " AND ts_ms >= ?3 ORDER BY ts_ms DESC LIMIT 1 OFFSET ?4");
    if (!q) {
        e = -EIO;
        goto out;
    }
    if (user_name)
        sqlite3_bind_text(q, 1, user_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, remote_ip, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, since_ms);
    sqlite3_bind_int64(q, 4, (int64_t)n - 1);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *ts_ms = sqlite3_column_int64(q, 0);
    else
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "count failed logins");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_login_failure_clear(struct store *st, const char *user_name, const char *remote_ip)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "DELETE FROM login_failures WHERE user_name = ? AND remote_ip = ?");
    int e;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, user_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, remote_ip, -1, SQLITE_STATIC);
    e = run_done(c, q, "clear failed logins");
out:
    store_release(st, c);
    return e;
}
