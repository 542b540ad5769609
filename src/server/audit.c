/*
 * audit.c — writes audit entries (see audit.h) to the audit_log table,
 * reads them back (store_audit_list, declared in store_auth.h) and serves
 * them to admins: GET /api/v1/audit.
 *
 * The table has no UPDATE or DELETE path anywhere in the server: the store
 * only ever inserts into it, and reading is through store_audit_list().
 */
#include "server/audit.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    /* the audit API filters by action, exactly or by prefix */
    {2, "CREATE INDEX audit_log_action ON audit_log (action, id);"},
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

int store_audit_list(struct store *st, const struct store_audit_query *qy,
                     int (*fn)(const struct store_audit_entry *e, void *ctx), void *ctx)
{
    struct store_conn *c;
    sqlite3_stmt *q;
    struct store_audit_entry ent;
    char lo[80], hi[80];
    int e = 0, rc;

    if (!qy || qy->limit == 0 || qy->limit > 10000 || (qy->action && strlen(qy->action) > 64))
        return -EINVAL;
    /* action filter as a range over the (action, id) index: exact, prefix
     * (ends with '.'), or everything */
    if (!qy->action || !*qy->action) {
        snprintf(lo, sizeof(lo), "%s", "");
        snprintf(hi, sizeof(hi), "%s", "\xff");
    } else if (qy->action[strlen(qy->action) - 1] == '.') {
        snprintf(lo, sizeof(lo), "%s", qy->action);
        snprintf(hi, sizeof(hi), "%s\xff", qy->action);
    } else {
        snprintf(lo, sizeof(lo), "%s", qy->action);
        snprintf(hi, sizeof(hi), "%s", qy->action);
    }
    c = store_acquire(st, STORE_READ);
    q = store_prepare(c, "SELECT id, ts_ms, actor_kind, actor, remote_ip, action, target, detail FROM audit_log"
                         " WHERE ts_ms >= ? AND id < ? AND action BETWEEN ? AND ? ORDER BY id DESC LIMIT ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, qy->since_ms);
    sqlite3_bind_int64(q, 2, qy->before_id > 0 ? qy->before_id : INT64_MAX);
    sqlite3_bind_text(q, 3, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, hi, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 5, (int)qy->limit);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        ent.id = sqlite3_column_int64(q, 0);
        ent.ts_ms = sqlite3_column_int64(q, 1);
        ent.actor_kind = (const char *)sqlite3_column_text(q, 2);
        ent.actor = (const char *)sqlite3_column_text(q, 3);
        ent.remote_ip = (const char *)sqlite3_column_text(q, 4);
        ent.action = (const char *)sqlite3_column_text(q, 5);
        ent.target = (const char *)sqlite3_column_text(q, 6);
        ent.detail = (const char *)sqlite3_column_text(q, 7);
        if (!ent.actor_kind)
            ent.actor_kind = "";
        if (!ent.action)
            ent.action = "";
        e = fn(&ent, ctx);
        if (e)
            break;
    }
    if (!e && rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = store_error(c, "read the audit log");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ GET /api/v1/audit */

/* Parses "2026-01-02T03:04:05Z" (fraction allowed) or a duration before
 * now ("90s", "30m", "24h", "7d", "2w") into ms since the epoch. */
static int parse_since(const char *s, int64_t now_ms, int64_t *out)
{
    size_t len = strlen(s);
    char *end;
    long long n;

    if (len == 0 || len > 40)
        return -EINVAL;
    if (isdigit((unsigned char)s[0]) && len <= 12 && strchr("smhdw", s[len - 1]) && len >= 2) {
        static const long long unit[] = {1, 60, 3600, 86400, 7 * 86400};
        for (size_t i = 0; i + 1 < len; i++)
            if (!isdigit((unsigned char)s[i]))
                return -EINVAL;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno || n > 100LL * 365 * 86400)
            return -EINVAL;
        n *= unit[strchr("smhdw", s[len - 1]) - "smhdw"];
        if (n > 100LL * 365 * 86400)
            return -EINVAL;
        *out = now_ms - n * 1000;
        if (*out < 0)
            *out = 0;
        return 0;
    }
    {
        struct tm tm;
        int y, mo, d, h, mi, se, used = 0;
        const char *p;
        memset(&tm, 0, sizeof(tm));
        if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &used) != 6 || used != 19)
            return -EINVAL;
        p = s + used;
        if (*p == '.') {
            p++;
            if (!isdigit((unsigned char)*p))
                return -EINVAL;
            while (isdigit((unsigned char)*p))
                p++;
        }
        if (strcmp(p, "Z") != 0 || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
            mi > 59 || se > 60)
            return -EINVAL;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = se;
        *out = (int64_t)timegm(&tm) * 1000;
        return 0;
    }
}

/* An action filter: lower-case letters, digits, '_', '-', '.', with an
 * optional trailing '*' meaning "starting with". */
static bool valid_action_filter(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' ||
              (ch == '*' && i == len - 1)))
            return false;
    }
    return true;
}

struct audit_out {
    struct jsonw *w;
    int64_t last_id;
    unsigned count;
};

static void kv_opt(struct jsonw *w, const char *key, const char *v)
{
    jsonw_key(w, key);
    if (v)
        jsonw_str(w, v);
    else
        jsonw_null(w);
}

static int write_entry(const struct store_audit_entry *e, void *ctx)
{
    struct audit_out *o = ctx;
    struct jsonw *w = o->w;

    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", e->id);
    jsonw_kv_time(w, "time", (uint64_t)e->ts_ms * 1000000u);
    jsonw_kv_str(w, "actor_kind", e->actor_kind);
    kv_opt(w, "actor", e->actor);
    kv_opt(w, "remote_ip", e->remote_ip);
    jsonw_kv_str(w, "action", e->action);
    kv_opt(w, "target", e->target);
    kv_opt(w, "detail", e->detail);
    jsonw_object_end(w);
    o->last_id = e->id;
    o->count++;
    return 0;
}

/* GET /api/v1/audit?since=&limit=&action=&before= (admin). */
static void get_audit(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *since = http_query(rq, "since"), *limit = http_query(rq, "limit");
    const char *action = http_query(rq, "action"), *before = http_query(rq, "before");
    struct store_audit_query qy = {.limit = 100};
    char prefix[70];
    struct audit_out o = {0};
    char *end;
    int e;

    if (since && parse_since(since, store_now_ms(srv->store), &qy.since_ms) != 0) {
        http_error(rs, 400, "since: expected a UTC time such as 2026-01-02T15:04:05Z or a duration such as 90m, "
                            "24h, 7d");
        return;
    }
    if (limit) {
        errno = 0;
        long long n = strtoll(limit, &end, 10);
        if (!isdigit((unsigned char)*limit) || *end || errno || n < 1 || n > 1000) {
            http_error(rs, 400, "limit: expected a number from 1 to 1000");
            return;
        }
        qy.limit = (unsigned)n;
    }
    if (before) {
        errno = 0;
        long long n = strtoll(before, &end, 10);
        if (!isdigit((unsigned char)*before) || *end || errno || n < 1) {
            http_error(rs, 400, "before: expected an entry id (a positive number)");
            return;
        }
        qy.before_id = n;
    }
    if (action) {
        if (!valid_action_filter(action)) {
            http_error(rs, 400, "action: expected an action such as user.create, or a prefix such as user.*");
            return;
        }
        snprintf(prefix, sizeof(prefix), "%s", action);
        if (prefix[strlen(prefix) - 1] == '*') {
            prefix[strlen(prefix) - 1] = '\0';
            if (prefix[0] && prefix[strlen(prefix) - 1] != '.') {
                http_error(rs, 400, "action: a prefix ends with '.*', as in user.*");
                return;
            }
        }
        qy.action = prefix[0] ? prefix : NULL;
    }
    o.w = http_json(rs);
    jsonw_object_begin(o.w);
    jsonw_key(o.w, "entries");
    jsonw_array_begin(o.w);
    e = store_audit_list(srv->store, &qy, write_entry, &o);
    if (e) {
        http_error(rs, 500, "cannot read the audit log (see the server log)");
        return;
    }
    jsonw_array_end(o.w);
    jsonw_key(o.w, "next_before");
    if (o.count == qy.limit && o.last_id > 1)
        jsonw_int(o.w, o.last_id);
    else
        jsonw_null(o.w);
    jsonw_object_end(o.w);
}

static const struct route audit_routes[] = {
    {HTTP_GET, "/api/v1/audit", ACCESS_USER, ROLE_ADMIN, 0, get_audit,
     "the audit log, newest first (?since=&limit=&action=&before=)"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module audit_module = {
    .name = "audit",
    .order = 25,
    .routes = audit_routes,
};
SERVER_MODULE(audit_module);
