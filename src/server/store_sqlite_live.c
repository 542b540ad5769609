/*
 * store_sqlite_live.c — the SQLite side of store_live.h: live response
 * sessions, their command log and the library.
 *
 * One open session per device is a partial unique index (device_id
 * WHERE closed_ms = 0), so the database itself refuses a second one. A
 * command's end is an UPDATE ... WHERE state = 'running', and a streamed
 * chunk is accounted with WHERE stream_seq = ?, so of two threads doing
 * the same the second learns it (-ESTALE) instead of overwriting.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store_live.h"
#include "server/store_sqlite.h"

static const struct store_migration live_steps[] = {
    {1, "CREATE TABLE live_sessions ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " device_id TEXT NOT NULL REFERENCES devices (id),"
        " user_name TEXT NOT NULL,"
        " cwd TEXT NOT NULL DEFAULT '/',"
        " opened_ms INTEGER NOT NULL,"
        " active_ms INTEGER NOT NULL,"
        " closed_ms INTEGER NOT NULL DEFAULT 0,"
        " closed_by TEXT NOT NULL DEFAULT '',"
        " close_reason TEXT NOT NULL DEFAULT '');"
        "CREATE UNIQUE INDEX live_sessions_open ON live_sessions (device_id) WHERE closed_ms = 0;"
        "CREATE TABLE live_commands ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " session_id INTEGER NOT NULL REFERENCES live_sessions (id),"
        " device_id TEXT NOT NULL,"
        " user_name TEXT NOT NULL,"
        " line TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " args TEXT NOT NULL DEFAULT '{}',"
        " json_output INTEGER NOT NULL DEFAULT 0,"
        " background INTEGER NOT NULL DEFAULT 0,"
        " state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled', 'timed out')),"
        " created_ms INTEGER NOT NULL,"
        " started_ms INTEGER NOT NULL DEFAULT 0,"
        " ended_ms INTEGER NOT NULL DEFAULT 0,"
        " deadline_ms INTEGER NOT NULL DEFAULT 0,"
        " device_command_id INTEGER NOT NULL DEFAULT 0,"
        " action_id INTEGER NOT NULL DEFAULT 0,"
        " output TEXT,"
        " text TEXT,"
        " error TEXT,"
        " file_sha256 TEXT NOT NULL DEFAULT '',"
        " file_size INTEGER NOT NULL DEFAULT 0,"
        " stream_seq INTEGER NOT NULL DEFAULT 0,"
        " stream_bytes INTEGER NOT NULL DEFAULT 0,"
        " stream_dropped INTEGER NOT NULL DEFAULT 0,"
        " cancel_ms INTEGER NOT NULL DEFAULT 0,"
        " cancelled_by TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX live_commands_session ON live_commands (session_id, id);"
        "CREATE INDEX live_commands_device_command ON live_commands (device_command_id)"
        " WHERE device_command_id != 0;"
        "CREATE INDEX live_commands_running ON live_commands (id) WHERE state = 'running';"
        "CREATE TABLE live_library ("
        " name TEXT PRIMARY KEY,"
        " sha256 TEXT NOT NULL,"
        " size INTEGER NOT NULL,"
        " uploaded_by TEXT NOT NULL,"
        " uploaded_ms INTEGER NOT NULL);"},
    {0, NULL},
};

static const struct store_migration_set live_migrations = {"live", 70, live_steps};
STORE_MIGRATIONS(live_migrations);

/* ------------------------------------------------------------ helpers */

static void col_copy(sqlite3_stmt *q, int i, char *dst, size_t dstlen)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(dst, dstlen, "%s", t ? (const char *)t : "");
}

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

/* Runs a write statement (already bound); -ESTALE when it changed no row. */
static int step_change(struct store_conn *c, sqlite3_stmt *q, const char *what)
{
    int e = 0;

    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, what);
    else if (sqlite3_changes(store_db(c)) == 0)
        e = -ESTALE;
    sqlite3_reset(q);
    return e;
}

/* ------------------------------------------------------------ sessions */

void store_live_session_clear(struct store_live_session *s)
{
    if (!s)
        return;
    free(s->cwd);
    free(s->close_reason);
    s->cwd = s->close_reason = NULL;
}

void store_live_sessions_free(struct store_live_session *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_live_session_clear(&v[i]);
    free(v);
}

#define SESSION_COLUMNS "id, device_id, user_name, cwd, opened_ms, active_ms, closed_ms, closed_by, close_reason"

static int session_row(sqlite3_stmt *q, struct store_live_session *s)
{
    bool oom = false;

    memset(s, 0, sizeof(*s));
    s->id = sqlite3_column_int64(q, 0);
    col_copy(q, 1, s->device_id, sizeof(s->device_id));
    col_copy(q, 2, s->user_name, sizeof(s->user_name));
    s->cwd = col_dup(q, 3, "/", &oom);
    s->opened_ms = sqlite3_column_int64(q, 4);
    s->active_ms = sqlite3_column_int64(q, 5);
    s->closed_ms = sqlite3_column_int64(q, 6);
    col_copy(q, 7, s->closed_by, sizeof(s->closed_by));
    s->close_reason = col_dup(q, 8, "", &oom);
    if (oom) {
        store_live_session_clear(s);
        return -ENOMEM;
    }
    return 0;
}

int store_live_session_open(struct store *st, const char *device_id, const char *user_name, const char *cwd,
                            int64_t now_ms, int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "INSERT INTO live_sessions (device_id, user_name, cwd, opened_ms, active_ms)"
                                       " VALUES (?, ?, ?, ?, ?)");
    int e = 0;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, user_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, cwd, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, now_ms);
    sqlite3_bind_int64(q, 5, now_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "open a live session"); /* -EEXIST: the unique index of open sessions */
    else
        *id = sqlite3_last_insert_rowid(store_db(c));
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

/* One session by a statement taking one parameter (an int64 or a text). */
static int session_one(struct store *st, const char *sql, int64_t key, const char *text_key,
                       struct store_live_session *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, sql);
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    if (!q) {
        e = -EIO;
        goto out;
    }
    if (text_key)
        sqlite3_bind_text(q, 1, text_key, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_int64(q, 1, key);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        e = session_row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "read a live session");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_live_session_get(struct store *st, int64_t id, struct store_live_session *out)
{
    return session_one(st, "SELECT " SESSION_COLUMNS " FROM live_sessions WHERE id = ?", id, NULL, out);
}

int store_live_session_open_of(struct store *st, const char *device_id, struct store_live_session *out)
{
    return session_one(st, "SELECT " SESSION_COLUMNS " FROM live_sessions WHERE device_id = ? AND closed_ms = 0", 0,
                       device_id, out);
}

static int session_row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    return session_row(q, elem);
}

static void session_clear_any(void *elem)
{
    store_live_session_clear(elem);
}

int store_live_session_list(struct store *st, bool open_only, size_t limit, struct store_live_session **out,
                            size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " SESSION_COLUMNS " FROM live_sessions"
                                       " WHERE (?1 = 0 OR closed_ms = 0) ORDER BY id DESC LIMIT ?2");
    int e = -EIO;

    *out = NULL;
    *n = 0;
    if (q) {
        sqlite3_bind_int(q, 1, open_only);
        sqlite3_bind_int64(q, 2, (int64_t)limit);
        e = store_rows(q, sizeof(**out), session_row_any, NULL, session_clear_any, (void **)out, n,
                       "list live sessions");
    }
    store_release(st, c);
    return e;
}

int store_live_session_touch(struct store *st, int64_t id, int64_t now_ms)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE live_sessions SET active_ms = MAX(active_ms, ?)"
                                       " WHERE id = ? AND closed_ms = 0");
    int e = -EIO;

    if (q) {
        sqlite3_bind_int64(q, 1, now_ms);
        sqlite3_bind_int64(q, 2, id);
        e = step_change(c, q, "record a live session's activity");
    }
    store_release(st, c);
    return e;
}

int store_live_session_set_cwd(struct store *st, int64_t id, const char *cwd)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE live_sessions SET cwd = ? WHERE id = ? AND closed_ms = 0");
    int e = -EIO;

    if (q) {
        sqlite3_bind_text(q, 1, cwd, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, id);
        e = step_change(c, q, "change a live session's directory");
    }
    store_release(st, c);
    return e;
}

int store_live_session_close(struct store *st, int64_t id, int64_t now_ms, const char *closed_by, const char *reason)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE live_sessions SET closed_ms = ?, closed_by = ?, close_reason = ?"
                                       " WHERE id = ? AND closed_ms = 0");
    int e = -EIO;

    if (q) {
        sqlite3_bind_int64(q, 1, now_ms > 0 ? now_ms : 1);
        sqlite3_bind_text(q, 2, closed_by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, reason ? reason : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 4, id);
        e = step_change(c, q, "close a live session");
    }
    store_release(st, c);
    return e;
}

static int id_row(sqlite3_stmt *q, void *elem, void *ctx)
{
    *(int64_t *)elem = sqlite3_column_int64(q, 0);
    return 0;
}

int store_live_session_idle(struct store *st, int64_t before_ms, int64_t **ids, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT s.id FROM live_sessions s WHERE s.closed_ms = 0 AND s.active_ms < ?"
                                       " AND NOT EXISTS (SELECT 1 FROM live_commands m"
                                       "  WHERE m.session_id = s.id AND m.state = 'running')");
    int e = -EIO;

    *ids = NULL;
    *n = 0;
    if (q) {
        sqlite3_bind_int64(q, 1, before_ms);
        e = store_rows(q, sizeof(**ids), id_row, NULL, NULL, (void **)ids, n, "find idle live sessions");
    }
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------ commands */

static const char *const state_names[] = {
    [LIVE_RUNNING] = "running",     [LIVE_SUCCEEDED] = "succeeded", [LIVE_FAILED] = "failed",
    [LIVE_CANCELLED] = "cancelled", [LIVE_TIMED_OUT] = "timed out",
};

const char *store_live_state_name(enum store_live_state s)
{
    return s >= LIVE_RUNNING && s <= LIVE_TIMED_OUT ? state_names[s] : "unknown";
}

enum store_live_state store_live_state_from_name(const char *text)
{
    for (int s = LIVE_RUNNING; text && s <= LIVE_TIMED_OUT; s++)
        if (strcmp(state_names[s], text) == 0)
            return (enum store_live_state)s;
    return 0;
}

void store_live_command_clear(struct store_live_command *c)
{
    if (!c)
        return;
    free(c->line);
    free(c->args_json);
    free(c->output_json);
    free(c->text);
    free(c->error);
    c->line = c->args_json = c->output_json = c->text = c->error = NULL;
}

void store_live_commands_free(struct store_live_command *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_live_command_clear(&v[i]);
    free(v);
}

#define COMMAND_COLUMNS                                                                                    \
    "id, session_id, device_id, user_name, line, name, args, json_output, background, state, created_ms,"  \
    " started_ms, ended_ms, deadline_ms, device_command_id, action_id, output, text, error, file_sha256,"  \
    " file_size, stream_seq, stream_bytes, stream_dropped, cancel_ms, cancelled_by"

static int command_row(sqlite3_stmt *q, struct store_live_command *m)
{
    bool oom = false;

    memset(m, 0, sizeof(*m));
    m->id = sqlite3_column_int64(q, 0);
    m->session_id = sqlite3_column_int64(q, 1);
    col_copy(q, 2, m->device_id, sizeof(m->device_id));
    col_copy(q, 3, m->user_name, sizeof(m->user_name));
    m->line = col_dup(q, 4, "", &oom);
    col_copy(q, 5, m->name, sizeof(m->name));
    m->args_json = col_dup(q, 6, "{}", &oom);
    m->json_output = sqlite3_column_int(q, 7) != 0;
    m->background = sqlite3_column_int(q, 8) != 0;
    m->state = store_live_state_from_name((const char *)sqlite3_column_text(q, 9));
    m->created_ms = sqlite3_column_int64(q, 10);
    m->started_ms = sqlite3_column_int64(q, 11);
    m->ended_ms = sqlite3_column_int64(q, 12);
    m->deadline_ms = sqlite3_column_int64(q, 13);
    m->device_command_id = sqlite3_column_int64(q, 14);
    m->action_id = sqlite3_column_int64(q, 15);
    m->output_json = col_dup(q, 16, NULL, &oom);
    m->text = col_dup(q, 17, NULL, &oom);
    m->error = col_dup(q, 18, NULL, &oom);
    col_copy(q, 19, m->file_sha256, sizeof(m->file_sha256));
    m->file_size = sqlite3_column_int64(q, 20);
    m->stream_seq = sqlite3_column_int64(q, 21);
    m->stream_bytes = sqlite3_column_int64(q, 22);
    m->stream_dropped = sqlite3_column_int64(q, 23);
    m->cancel_ms = sqlite3_column_int64(q, 24);
    col_copy(q, 25, m->cancelled_by, sizeof(m->cancelled_by));
    if (oom) {
        store_live_command_clear(m);
        return -ENOMEM;
    }
    return 0;
}

int store_live_command_create(struct store *st, const struct store_live_command *m, int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "INSERT INTO live_commands (session_id, device_id, user_name, line, name,"
                                       " args, json_output, background, state, created_ms, started_ms, deadline_ms)"
                                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    int e = 0;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, m->session_id);
    sqlite3_bind_text(q, 2, m->device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, m->user_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, m->line ? m->line : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, m->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, m->args_json ? m->args_json : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 7, m->json_output);
    sqlite3_bind_int(q, 8, m->background);
    sqlite3_bind_text(q, 9, store_live_state_name(m->state ? m->state : LIVE_RUNNING), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 10, m->created_ms);
    sqlite3_bind_int64(q, 11, m->started_ms);
    sqlite3_bind_int64(q, 12, m->deadline_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "record a live command");
    else
        *id = sqlite3_last_insert_rowid(store_db(c));
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

static int command_one(struct store *st, const char *sql, int64_t key, struct store_live_command *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, sql);
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, key);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        e = command_row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "read a live command");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_live_command_get(struct store *st, int64_t id, struct store_live_command *out)
{
    return command_one(st, "SELECT " COMMAND_COLUMNS " FROM live_commands WHERE id = ?", id, out);
}

int store_live_command_by_device_command(struct store *st, int64_t device_command_id, struct store_live_command *out)
{
    if (device_command_id <= 0) {
        memset(out, 0, sizeof(*out));
        return -ENOENT;
    }
    return command_one(st, "SELECT " COMMAND_COLUMNS " FROM live_commands WHERE device_command_id = ?"
                           " ORDER BY id LIMIT 1",
                       device_command_id, out);
}

static int command_row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    return command_row(q, elem);
}

static void command_clear_any(void *elem)
{
    store_live_command_clear(elem);
}

int store_live_command_list(struct store *st, int64_t session_id, bool running_only, size_t limit,
                            struct store_live_command **out, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = session_id
        ? store_prepare(c, "SELECT " COMMAND_COLUMNS " FROM live_commands WHERE session_id = ?1"
                           " AND (?2 = 0 OR state = 'running') ORDER BY id DESC LIMIT ?3")
        : store_prepare(c, "SELECT " COMMAND_COLUMNS " FROM live_commands WHERE ?1 = 0 AND ?2 = ?2"
                           " AND state = 'running' ORDER BY id LIMIT ?3");
    int e = -EIO;

    *out = NULL;
    *n = 0;
    if (q) {
        sqlite3_bind_int64(q, 1, session_id);
        sqlite3_bind_int(q, 2, running_only);
        sqlite3_bind_int64(q, 3, (int64_t)limit);
        e = store_rows(q, sizeof(**out), command_row_any, NULL, command_clear_any, (void **)out, n,
                       "list live commands");
    }
    store_release(st, c);
    return e;
}

int store_live_command_link(struct store *st, int64_t id, int64_t device_command_id, int64_t action_id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE live_commands SET"
                                       " device_command_id = CASE WHEN ?1 != 0 THEN ?1 ELSE device_command_id END,"
                                       " action_id = CASE WHEN ?2 != 0 THEN ?2 ELSE action_id END"
                                       " WHERE id = ?3 AND state = 'running'");
    int e = -EIO;

    if (q) {
        sqlite3_bind_int64(q, 1, device_command_id);
        sqlite3_bind_int64(q, 2, action_id);
        sqlite3_bind_int64(q, 3, id);
        e = step_change(c, q, "link a live command");
    }
    store_release(st, c);
    return e;
}

int store_live_command_set_background(struct store *st, int64_t id, bool background)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE live_commands SET background = ? WHERE id = ? AND state = 'running'");
    int e = -EIO;

    if (q) {
        sqlite3_bind_int(q, 1, background);
        sqlite3_bind_int64(q, 2, id);
        e = step_change(c, q, "move a live command");
    }
    store_release(st, c);
    return e;
}

int store_live_command_cancel_request(struct store *st, int64_t id, int64_t now_ms, const char *who)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE live_commands SET cancel_ms = ?, cancelled_by = ?"
                                       " WHERE id = ? AND state = 'running'");
    int e = -EIO;

    if (q) {
        sqlite3_bind_int64(q, 1, now_ms);
        sqlite3_bind_text(q, 2, who, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 3, id);
        e = step_change(c, q, "record a live command's cancel");
    }
    store_release(st, c);
    return e;
}

int store_live_command_finish(struct store *st, const struct store_live_command *m)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE live_commands SET state = ?, started_ms = ?, ended_ms = ?, output = ?,"
                                       " text = ?, error = ?, file_sha256 = ?, file_size = ?, cancel_ms = ?,"
                                       " cancelled_by = ? WHERE id = ? AND state = 'running'");
    int e = -EIO;

    if (q) {
        sqlite3_bind_text(q, 1, store_live_state_name(m->state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, m->started_ms);
        sqlite3_bind_int64(q, 3, m->ended_ms);
        bind_text_or_null(q, 4, m->output_json);
        bind_text_or_null(q, 5, m->text);
        bind_text_or_null(q, 6, m->error);
        sqlite3_bind_text(q, 7, m->file_sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 8, m->file_size);
        sqlite3_bind_int64(q, 9, m->cancel_ms);
        sqlite3_bind_text(q, 10, m->cancelled_by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 11, m->id);
        e = step_change(c, q, "end a live command");
    }
    store_release(st, c);
    return e;
}

int store_live_command_stream(struct store *st, int64_t id, int64_t seq, int64_t kept, int64_t dropped)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "UPDATE live_commands SET stream_seq = stream_seq + 1,"
                                       " stream_bytes = stream_bytes + ?, stream_dropped = stream_dropped + ?"
                                       " WHERE id = ? AND stream_seq = ? AND state = 'running'");
    int e = -EIO;

    if (q) {
        sqlite3_bind_int64(q, 1, kept);
        sqlite3_bind_int64(q, 2, dropped);
        sqlite3_bind_int64(q, 3, id);
        sqlite3_bind_int64(q, 4, seq);
        e = step_change(c, q, "account a live command's output");
    }
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------ library */

int store_live_library_put(struct store *st, const struct store_live_file *f)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "INSERT INTO live_library (name, sha256, size, uploaded_by, uploaded_ms)"
                                       " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                                       " sha256 = excluded.sha256, size = excluded.size,"
                                       " uploaded_by = excluded.uploaded_by, uploaded_ms = excluded.uploaded_ms");
    int e = 0;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, f->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, f->sha256, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, f->size);
    sqlite3_bind_text(q, 4, f->uploaded_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 5, f->uploaded_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "record a library file");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

static void file_row(sqlite3_stmt *q, struct store_live_file *f)
{
    memset(f, 0, sizeof(*f));
    col_copy(q, 0, f->name, sizeof(f->name));
    col_copy(q, 1, f->sha256, sizeof(f->sha256));
    f->size = sqlite3_column_int64(q, 2);
    col_copy(q, 3, f->uploaded_by, sizeof(f->uploaded_by));
    f->uploaded_ms = sqlite3_column_int64(q, 4);
}

int store_live_library_get(struct store *st, const char *name, struct store_live_file *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT name, sha256, size, uploaded_by, uploaded_ms FROM live_library"
                                       " WHERE name = ?");
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        file_row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "read a library file");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

static int file_row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    file_row(q, elem);
    return 0;
}

int store_live_library_list(struct store *st, struct store_live_file **out, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT name, sha256, size, uploaded_by, uploaded_ms FROM live_library"
                                       " ORDER BY name");
    int e = -EIO;

    *out = NULL;
    *n = 0;
    if (q)
        e = store_rows(q, sizeof(**out), file_row_any, NULL, NULL, (void **)out, n, "list library files");
    store_release(st, c);
    return e;
}

int store_live_library_delete(struct store *st, const char *name)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "DELETE FROM live_library WHERE name = ?");
    int e = -EIO;

    if (q) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
        e = step_change(c, q, "delete a library file");
        if (e == -ESTALE)
            e = -ENOENT;
    }
    store_release(st, c);
    return e;
}
