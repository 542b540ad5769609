/*
 * audit.c — writes audit entries (see audit.h) to the audit_log table.
 *
 * The table has no UPDATE or DELETE path anywhere in the server: the store
 * only ever inserts into it, and reading is through store_audit_list().
 */
#include "server/audit.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "server/http.h"
#include "server/server.h"
#include "server/store_sqlite.h"

static const struct store_migration audit_steps[] = {
    {1, "CREATE TABLE audit_log ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " ts_ms INTEGER NOT NULL,"
        " actor_kind TEXT NOT NULL,"   /* user, device, anonymous, system */
        " actor TEXT,"                  /* user name or device id */
        " remote_ip TEXT,"
        " action TEXT NOT NULL,"
        " target TEXT,"
        " detail TEXT);"
        "CREATE INDEX audit_log_ts ON audit_log (ts_ms);"
        /* append-only: the database itself refuses changes */
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"},
    {0, NULL},
};

static const struct store_migration_set audit_migrations = {"audit", 5, audit_steps};
STORE_MIGRATIONS(audit_migrations);

int audit_record(struct server *srv, const struct principal *who, const char *remote_ip, const char *action,
                 const char *target, const char *detail)
{
    struct store_conn *c;
    sqlite3_stmt *q;
    const char *kind = "anonymous", *actor = NULL;
    int e = 0;

    if (!srv || !srv->store || !action)
        return -EINVAL;
    if (who && who->kind == PRINCIPAL_USER) {
        kind = "user";
        actor = who->user_name;
    } else if (who && who->kind == PRINCIPAL_DEVICE) {
        kind = "device";
        actor = who->device_id;
    } else if (!remote_ip && !who) {
        kind = "system";
    }
    c = store_acquire(srv->store, STORE_WRITE);
    q = store_prepare(c, "INSERT INTO audit_log (ts_ms, actor_kind, actor, remote_ip, action, target, detail)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, store_now_ms(srv->store));
    sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, remote_ip, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, target, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 7, detail, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "audit insert");
    sqlite3_reset(q);
out:
    store_release(srv->store, c);
    if (e)
        log_error("audit: could not record %s %s", action, target ? target : "");
    return e;
}
