/*
 * store_sqlite_actions.c — the SQLite side of store_actions.h: the
 * actions table of the action center.
 *
 * An action's state only moves through store_action_update, an UPDATE
 * that names the state it expects (WHERE state = ?), so the thread that
 * loses a race learns it (-ESTALE) instead of overwriting. Creating an
 * undo and linking it to its original happen in one transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store_actions.h"
#include "server/store_sqlite.h"

static const struct store_migration actions_steps[] = {
    {1, "CREATE TABLE actions ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " device_id TEXT NOT NULL REFERENCES devices (id),"
        " type TEXT NOT NULL,"
        " target TEXT NOT NULL DEFAULT '{}',"
        " comment TEXT NOT NULL DEFAULT '',"
        " requested_by TEXT NOT NULL,"
        " automated INTEGER NOT NULL DEFAULT 0,"
        " state TEXT NOT NULL CHECK (state IN ('pending_approval', 'queued', 'sent', 'running', 'succeeded',"
        "  'failed', 'cancelled', 'expired', 'rejected')),"
        " created_ms INTEGER NOT NULL,"
        " expires_ms INTEGER NOT NULL,"
        " decided_ms INTEGER NOT NULL DEFAULT 0,"
        " decided_by TEXT NOT NULL DEFAULT '',"
        " decision_comment TEXT NOT NULL DEFAULT '',"
        " queued_ms INTEGER NOT NULL DEFAULT 0,"
        " sent_ms INTEGER NOT NULL DEFAULT 0,"
        " started_ms INTEGER NOT NULL DEFAULT 0,"
        " completed_ms INTEGER NOT NULL DEFAULT 0,"
        " command_id INTEGER NOT NULL DEFAULT 0,"
        " result TEXT,"
        " error TEXT,"
        " progress TEXT,"
        " progress_ms INTEGER NOT NULL DEFAULT 0,"
        " cancel_ms INTEGER NOT NULL DEFAULT 0,"
        " cancelled_by TEXT NOT NULL DEFAULT '',"
        " undo_of INTEGER NOT NULL DEFAULT 0,"
        " undone_by INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX actions_device ON actions (device_id, id);"
        "CREATE INDEX actions_command ON actions (command_id) WHERE command_id != 0;"
        "CREATE INDEX actions_open ON actions (id) WHERE state IN ('pending_approval', 'queued', 'sent', 'running');"},
    {0, NULL},
};

static const struct store_migration_set actions_migrations = {"actions", 40, actions_steps};
STORE_MIGRATIONS(actions_migrations);

static const char *const state_names[] = {
    [ACTION_PENDING] = "pending_approval", [ACTION_QUEUED] = "queued",       [ACTION_SENT] = "sent",
    [ACTION_RUNNING] = "running",          [ACTION_SUCCEEDED] = "succeeded", [ACTION_FAILED] = "failed",
    [ACTION_CANCELLED] = "cancelled",      [ACTION_EXPIRED] = "expired",     [ACTION_REJECTED] = "rejected",
};

const char *store_action_state_name(enum store_action_state s)
{
    return s >= ACTION_PENDING && s <= ACTION_REJECTED ? state_names[s] : "unknown";
}

enum store_action_state store_action_state_from_name(const char *text)
{
    for (int s = ACTION_PENDING; text && s <= ACTION_REJECTED; s++)
        if (strcmp(state_names[s], text) == 0)
            return (enum store_action_state)s;
    return 0;
}

bool store_action_state_final(enum store_action_state s)
{
    return s >= ACTION_SUCCEEDED;
}

void store_action_clear(struct store_action *a)
{
    if (!a)
        return;
    free(a->target_json);
    free(a->comment);
    free(a->decision_comment);
    free(a->result_json);
    free(a->error);
    free(a->progress_json);
    a->target_json = a->comment = a->decision_comment = a->result_json = a->error = a->progress_json = NULL;
}

void store_actions_free(struct store_action *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_action_clear(&v[i]);
    free(v);
}

#define ACTION_COLUMNS                                                                                     \
    "id, device_id, type, target, comment, requested_by, automated, state, created_ms, expires_ms,"        \
    " decided_ms, decided_by, decision_comment, queued_ms, sent_ms, started_ms, completed_ms, command_id," \
    " result, error, progress, progress_ms, cancel_ms, cancelled_by, undo_of, undone_by"

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

static int action_row(sqlite3_stmt *q, struct store_action *a)
{
    bool oom = false;

    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(q, 0);
    col_copy(q, 1, a->device_id, sizeof(a->device_id));
    col_copy(q, 2, a->type, sizeof(a->type));
    a->target_json = col_dup(q, 3, "{}", &oom);
    a->comment = col_dup(q, 4, "", &oom);
    col_copy(q, 5, a->requested_by, sizeof(a->requested_by));
    a->automated = sqlite3_column_int(q, 6) != 0;
    a->state = store_action_state_from_name((const char *)sqlite3_column_text(q, 7));
    a->created_ms = sqlite3_column_int64(q, 8);
    a->expires_ms = sqlite3_column_int64(q, 9);
    a->decided_ms = sqlite3_column_int64(q, 10);
    col_copy(q, 11, a->decided_by, sizeof(a->decided_by));
    a->decision_comment = col_dup(q, 12, "", &oom);
    a->queued_ms = sqlite3_column_int64(q, 13);
    a->sent_ms = sqlite3_column_int64(q, 14);
    a->started_ms = sqlite3_column_int64(q, 15);
    a->completed_ms = sqlite3_column_int64(q, 16);
    a->command_id = sqlite3_column_int64(q, 17);
    a->result_json = col_dup(q, 18, NULL, &oom);
    a->error = col_dup(q, 19, NULL, &oom);
    a->progress_json = col_dup(q, 20, NULL, &oom);
    a->progress_ms = sqlite3_column_int64(q, 21);
    a->cancel_ms = sqlite3_column_int64(q, 22);
    col_copy(q, 23, a->cancelled_by, sizeof(a->cancelled_by));
    a->undo_of = sqlite3_column_int64(q, 24);
    a->undone_by = sqlite3_column_int64(q, 25);
    if (oom) {
        store_action_clear(a);
        return -ENOMEM;
    }
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *q, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, i);
}

int store_action_create(struct store *st, const struct store_action *a, int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = NULL;
    int e;

    e = store_begin(c);
    if (e)
        goto out;
    q = store_prepare(c, "INSERT INTO actions (device_id, type, target, comment, requested_by, automated, state,"
                         " created_ms, expires_ms, queued_ms, undo_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, a->device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, a->type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, a->target_json ? a->target_json : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, a->comment ? a->comment : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, a->requested_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 6, a->automated);
    sqlite3_bind_text(q, 7, store_action_state_name(a->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, a->created_ms);
    sqlite3_bind_int64(q, 9, a->expires_ms);
    sqlite3_bind_int64(q, 10, a->queued_ms);
    sqlite3_bind_int64(q, 11, a->undo_of);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "record an action");
        goto out;
    }
    *id = sqlite3_last_insert_rowid(store_db(c));
    sqlite3_reset(q);
    q = NULL;
    if (a->undo_of) {
        q = store_prepare(c, "UPDATE actions SET undone_by = ? WHERE id = ? AND undone_by = 0");
        if (!q) {
            e = -EIO;
            goto out;
        }
        sqlite3_bind_int64(q, 1, *id);
        sqlite3_bind_int64(q, 2, a->undo_of);
        if (sqlite3_step(q) != SQLITE_DONE) {
            e = store_error(c, "link an undo to its action");
            goto out;
        }
        if (sqlite3_changes(store_db(c)) == 0) {
            e = -EALREADY;
            goto out;
        }
        sqlite3_reset(q);
        q = NULL;
    }
    e = store_commit(c);
out:
    if (q)
        sqlite3_reset(q);
    store_rollback(c);
    store_release(st, c);
    return e;
}

/* Reads one row by a statement taking one int64 parameter. */
static int get_one(struct store *st, const char *sql, int64_t key, struct store_action *out)
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
        e = action_row(q, out);
    else if (rc == SQLITE_DONE)
        e = -ENOENT;
    else
        e = store_error(c, "read an action");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_action_get(struct store *st, int64_t id, struct store_action *out)
{
    return get_one(st, "SELECT " ACTION_COLUMNS " FROM actions WHERE id = ?", id, out);
}

int store_action_by_command(struct store *st, int64_t command_id, struct store_action *out)
{
    if (command_id <= 0)
        return -ENOENT;
    return get_one(st, "SELECT " ACTION_COLUMNS " FROM actions WHERE command_id = ? ORDER BY id LIMIT 1",
                   command_id, out);
}

int store_action_update(struct store *st, const struct store_action *a, enum store_action_state from)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q;
    int e = 0;

    q = store_prepare(c, "UPDATE actions SET state = ?, decided_ms = ?, decided_by = ?, decision_comment = ?,"
                         " queued_ms = ?, sent_ms = ?, started_ms = ?, completed_ms = ?, command_id = ?, result = ?,"
                         " error = ?, progress = ?, progress_ms = ?, cancel_ms = ?, cancelled_by = ?"
                         " WHERE id = ? AND state = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, store_action_state_name(a->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, a->decided_ms);
    sqlite3_bind_text(q, 3, a->decided_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, a->decision_comment ? a->decision_comment : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 5, a->queued_ms);
    sqlite3_bind_int64(q, 6, a->sent_ms);
    sqlite3_bind_int64(q, 7, a->started_ms);
    sqlite3_bind_int64(q, 8, a->completed_ms);
    sqlite3_bind_int64(q, 9, a->command_id);
    bind_text_or_null(q, 10, a->result_json);
    bind_text_or_null(q, 11, a->error);
    bind_text_or_null(q, 12, a->progress_json);
    sqlite3_bind_int64(q, 13, a->progress_ms);
    sqlite3_bind_int64(q, 14, a->cancel_ms);
    sqlite3_bind_text(q, 15, a->cancelled_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 16, a->id);
    sqlite3_bind_text(q, 17, store_action_state_name(from), -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "update an action");
    else if (sqlite3_changes(store_db(c)) == 0)
        e = -ESTALE;
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

#define ACTION_WHERE                                                                                       \
    " WHERE (?1 IS NULL OR state = ?1)"                                                                    \
    " AND (?2 = 0 OR state IN ('pending_approval', 'queued', 'sent', 'running'))"                         \
    " AND (?3 IS NULL OR device_id = ?3) AND (?4 IS NULL OR type = ?4) AND created_ms >= ?5"

static int action_row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    return action_row(q, elem);
}

static void action_clear_any(void *elem)
{
    store_action_clear(elem);
}

int store_action_list(struct store *st, const struct store_action_filter *f, size_t limit, size_t offset,
                      struct store_action **out, size_t *n, size_t *total)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = NULL;
    int e = 0;

    *out = NULL;
    *n = 0;
    *total = 0;
    for (int pass = 0; pass < 2; pass++) {
        /* the same filter twice: a count, then the page */
        q = pass == 0 ? store_prepare(c, "SELECT COUNT(*) FROM actions" ACTION_WHERE)
                      : store_prepare(c, "SELECT " ACTION_COLUMNS " FROM actions" ACTION_WHERE
                                         " ORDER BY id DESC LIMIT ?6 OFFSET ?7");
        if (!q) {
            e = -EIO;
            goto out;
        }
        if (f->state)
            sqlite3_bind_text(q, 1, store_action_state_name(f->state), -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, f->open);
        bind_text_or_null(q, 3, f->device_id);
        bind_text_or_null(q, 4, f->type);
        sqlite3_bind_int64(q, 5, f->since_ms);
        if (pass == 0) {
            if (sqlite3_step(q) != SQLITE_ROW) {
                e = store_error(c, "count actions");
                goto out;
            }
            *total = (size_t)sqlite3_column_int64(q, 0);
            sqlite3_reset(q);
            q = NULL;
            continue;
        }
        sqlite3_bind_int64(q, 6, (int64_t)limit);
        sqlite3_bind_int64(q, 7, (int64_t)offset);
        e = store_rows(q, sizeof(**out), action_row_any, NULL, action_clear_any, (void **)out, n, "list actions");
        q = NULL; /* reset by store_rows */
    }
out:
    if (q)
        sqlite3_reset(q);
    store_release(st, c);
    return e;
}
