/*
 * store_sqlite_alerts_incidents.c — the SQLite side of store_alerts.h for
 * incidents (reading, people's changes with their cascades, merging),
 * their comments and activity log, and suppression rules. The schema is
 * in store_sqlite_alerts.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/alerts.h"
#include "server/store_sqlite_alerts_int.h"

/* ------------------------------------------------------------------ reading incidents */

void store_incident_clear(struct store_incident *i)
{
    if (!i)
        return;
    free(i->tags_json);
    free(i->tactics_json);
    free(i->devices_json);
    free(i->users_json);
    memset(i, 0, sizeof(*i));
}

void store_incidents_free(struct store_incident *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        store_incident_clear(&v[i]);
    free(v);
}

#define INCIDENT_COLUMNS                                                                                           \
    "i.id, i.name, i.name_locked, i.severity, i.status, i.classification, i.determination, i.assigned_to,"         \
    " i.tags, i.tactics, i.redirected_to, i.created_ms, i.updated_ms, i.first_event_ns, i.last_event_ns,"          \
    " i.alert_count,"                                                                                              \
    " (SELECT json_group_array(device_id) FROM (SELECT DISTINCT device_id FROM alerts WHERE incident_id = i.id"    \
    "  ORDER BY device_id)),"                                                                                      \
    " (SELECT json_group_array(account) FROM (SELECT DISTINCT account FROM alerts WHERE incident_id = i.id"        \
    "  AND account != '' ORDER BY account))"

static int incident_row(sqlite3_stmt *q, struct store_incident *i)
{
    bool oom = false;

    memset(i, 0, sizeof(*i));
    i->id = sqlite3_column_int64(q, 0);
    alerts_sql_copy(q, 1, i->name, sizeof(i->name));
    i->name_locked = sqlite3_column_int(q, 2) != 0;
    i->severity = sqlite3_column_int(q, 3);
    alerts_sql_copy(q, 4, i->status, sizeof(i->status));
    alerts_sql_copy(q, 5, i->classification, sizeof(i->classification));
    alerts_sql_copy(q, 6, i->determination, sizeof(i->determination));
    alerts_sql_copy(q, 7, i->assigned_to, sizeof(i->assigned_to));
    i->tags_json = alerts_sql_dup(q, 8, "[]", &oom);
    i->tactics_json = alerts_sql_dup(q, 9, "[]", &oom);
    i->redirected_to = sqlite3_column_int64(q, 10);
    i->created_ms = sqlite3_column_int64(q, 11);
    i->updated_ms = sqlite3_column_int64(q, 12);
    i->first_event_ns = sqlite3_column_int64(q, 13);
    i->last_event_ns = sqlite3_column_int64(q, 14);
    i->alert_count = sqlite3_column_int64(q, 15);
    i->devices_json = alerts_sql_dup(q, 16, "[]", &oom);
    i->users_json = alerts_sql_dup(q, 17, "[]", &oom);
    if (oom) {
        store_incident_clear(i);
        return -ENOMEM;
    }
    return 0;
}

int store_incident_get(struct store *st, int64_t id, struct store_incident *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " INCIDENT_COLUMNS " FROM incidents i WHERE i.id = ?");
    int e, rc;

    memset(out, 0, sizeof(*out));
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    e = rc == SQLITE_ROW ? incident_row(q, out) : rc == SQLITE_DONE ? -ENOENT : store_error(c, "read an incident");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

static void incident_clear_any(void *elem)
{
    store_incident_clear(elem);
}

/* An incident of the list; ctx: where the count of all matches goes (NULL:
 * not wanted), from the statement's last column, COUNT(*) OVER (). */
static int incident_list_row(sqlite3_stmt *q, void *elem, void *ctx)
{
    size_t *total = ctx;
    int e = incident_row(q, elem);

    if (!e && total)
        *total = (size_t)sqlite3_column_int64(q, 18);
    return e;
}

int store_incident_list(struct store *st, const struct store_incident_filter *f, struct store_incident **out,
                        size_t *n, size_t *total)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(
        c, "SELECT " INCIDENT_COLUMNS ", COUNT(*) OVER () FROM incidents i"
           " WHERE (?1 IS NULL OR i.status = ?1) AND (?2 = 0 OR i.severity = ?2)"
           " AND (?3 IS NULL OR EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = i.id AND a.device_id = ?3))"
           " AND (?4 IS NULL OR i.assigned_to = ?4) AND i.updated_ms >= ?5"
           " ORDER BY i.updated_ms DESC, i.id DESC LIMIT ?6 OFFSET ?7");
    struct store_incident *v = NULL;
    size_t len = 0;
    int e = 0;

    *out = NULL;
    *n = 0;
    if (total)
        *total = 0;
    if (!q) {
        e = -EIO;
        goto out;
    }
    if (f->status)
        sqlite3_bind_text(q, 1, f->status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 2, f->severity);
    if (f->device_id)
        sqlite3_bind_text(q, 3, f->device_id, -1, SQLITE_TRANSIENT);
    if (f->assigned_to)
        sqlite3_bind_text(q, 4, f->assigned_to, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 5, f->since_ms);
    sqlite3_bind_int64(q, 6, f->limit ? (int64_t)f->limit : 100000);
    sqlite3_bind_int64(q, 7, (int64_t)f->offset);
    e = store_rows(q, sizeof(*v), incident_list_row, total, incident_clear_any, (void **)&v, &len, "list incidents");
    if (!e && total && len == 0 && f->offset > 0) {
        /* past the end: count what matched */
        sqlite3_stmt *cq = store_prepare(
            c, "SELECT COUNT(*) FROM incidents i WHERE (?1 IS NULL OR i.status = ?1) AND (?2 = 0 OR i.severity = ?2)"
               " AND (?3 IS NULL OR EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = i.id AND a.device_id = ?3))"
               " AND (?4 IS NULL OR i.assigned_to = ?4) AND i.updated_ms >= ?5");
        if (!cq) {
            e = -EIO;
        } else {
            if (f->status)
                sqlite3_bind_text(cq, 1, f->status, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(cq, 2, f->severity);
            if (f->device_id)
                sqlite3_bind_text(cq, 3, f->device_id, -1, SQLITE_TRANSIENT);
            if (f->assigned_to)
                sqlite3_bind_text(cq, 4, f->assigned_to, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(cq, 5, f->since_ms);
            if (sqlite3_step(cq) == SQLITE_ROW)
                *total = (size_t)sqlite3_column_int64(cq, 0);
            sqlite3_reset(cq);
        }
    }
out:
    store_release(st, c);
    if (e) {
        store_incidents_free(v, len);
        return e;
    }
    *out = v;
    *n = len;
    return 0;
}

/* ------------------------------------------------------------------ changing incidents */

struct locked_incident {
    char status[16], classification[40], determination[40], assigned_to[64], name[STORE_INCIDENT_NAME_MAX + 1];
    char tags[4096];
    bool name_locked;
};

static int incident_locked(struct store_conn *c, int64_t id, struct locked_incident *out)
{
    sqlite3_stmt *q = store_prepare(c, "SELECT status, classification, determination, assigned_to, name, tags,"
                                       " name_locked FROM incidents WHERE id = ?");
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        alerts_sql_copy(q, 0, out->status, sizeof(out->status));
        alerts_sql_copy(q, 1, out->classification, sizeof(out->classification));
        alerts_sql_copy(q, 2, out->determination, sizeof(out->determination));
        alerts_sql_copy(q, 3, out->assigned_to, sizeof(out->assigned_to));
        alerts_sql_copy(q, 4, out->name, sizeof(out->name));
        alerts_sql_copy(q, 5, out->tags, sizeof(out->tags));
        out->name_locked = sqlite3_column_int(q, 6) != 0;
    } else {
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "read an incident");
    }
    sqlite3_reset(q);
    return e;
}

/* Sets one column of incident id to val when it differs, with an activity
 * line. */
static int set_incident_field(struct store *st, struct store_conn *c, int64_t id, const char *field, const char *old,
                              const char *val, const char *actor, bool *changed)
{
    sqlite3_stmt *q;

    if (!val || strcmp(old, val) == 0)
        return 0;
    if (strcmp(field, "status") == 0)
        q = store_prepare(c, "UPDATE incidents SET status = ? WHERE id = ?");
    else if (strcmp(field, "classification") == 0)
        q = store_prepare(c, "UPDATE incidents SET classification = ? WHERE id = ?");
    else if (strcmp(field, "determination") == 0)
        q = store_prepare(c, "UPDATE incidents SET determination = ? WHERE id = ?");
    else if (strcmp(field, "assigned_to") == 0)
        q = store_prepare(c, "UPDATE incidents SET assigned_to = ? WHERE id = ?");
    else
        q = store_prepare(c, "UPDATE incidents SET tags = ? WHERE id = ?");
    if (!q)
        return -EIO;
    sqlite3_bind_text(q, 1, val, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, id);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "update an incident");
    sqlite3_reset(q);
    *changed = true;
    return alerts_sql_activity(st, c, id, actor, field, "%s: %s", field, *val ? val : "(cleared)");
}

int store_incident_update(struct store *st, int64_t id, const struct store_incident_change *ch, const char *actor,
                          bool *changed, char *why, size_t whylen)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    struct locked_incident cur;
    const char *det = ch->determination;
    int e;

    *changed = false;
    e = store_begin(c);
    if (e)
        goto out;
    e = incident_locked(c, id, &cur);
    if (e)
        goto out;
    if (strcmp(cur.status, "redirected") == 0) {
        snprintf(why, whylen, "incident %lld was merged into another incident: change that one", (long long)id);
        e = -EPERM;
        goto out;
    }
    if (ch->status && strcmp(ch->status, "redirected") == 0) {
        snprintf(why, whylen, "status redirected comes only from a merge (POST /api/v1/incidents/%lld/merge)",
                 (long long)id);
        e = -EPERM;
        goto out;
    }
    if (ch->classification && strcmp(ch->classification, cur.classification) != 0 && !det)
        det = "";
    if ((e = set_incident_field(st, c, id, "status", cur.status, ch->status, actor, changed)) != 0 ||
        (e = set_incident_field(st, c, id, "classification", cur.classification, ch->classification, actor,
                                changed)) != 0 ||
        (e = set_incident_field(st, c, id, "determination", cur.determination, det, actor, changed)) != 0 ||
        (e = set_incident_field(st, c, id, "assigned_to", cur.assigned_to, ch->assigned_to, actor, changed)) != 0 ||
        (e = set_incident_field(st, c, id, "tags", cur.tags, ch->tags_json, actor, changed)) != 0)
        goto out;
    if (ch->name && (ch->name[0] ? !cur.name_locked || strcmp(ch->name, cur.name) != 0 : cur.name_locked)) {
        sqlite3_stmt *q = store_prepare(c, "UPDATE incidents SET name = CASE WHEN ?1 = '' THEN name ELSE ?1 END,"
                                           " name_locked = ?1 != '' WHERE id = ?2");
        if (!q) {
            e = -EIO;
            goto out;
        }
        sqlite3_bind_text(q, 1, ch->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 2, id);
        if (sqlite3_step(q) != SQLITE_DONE) {
            e = store_error(c, "rename an incident");
            goto out;
        }
        sqlite3_reset(q);
        *changed = true;
        if (ch->name[0])
            e = alerts_sql_activity(st, c, id, actor, "name", "renamed \"%s\"", ch->name);
        else
            e = alerts_sql_activity(st, c, id, actor, "name", "the name is automatic again");
        if (!e && !ch->name[0])
            e = alerts_sql_refresh_incident(st, c, id);
        if (e)
            goto out;
    }
    if (ch->status && strcmp(ch->status, "resolved") == 0 && strcmp(cur.status, "resolved") != 0) {
        /* resolving an incident resolves its alerts */
        e = alerts_sql_resolve_alerts(st, c, id);
        if (e)
            goto out;
    }
    e = store_commit(c);
out:
    if (e)
        store_rollback(c);
    store_release(st, c);
    return e;
}

int alerts_sql_merge(struct store *st, struct store_conn *c, int64_t from, int64_t into, const char *actor,
                     const char *reason, char *why, size_t whylen)
{
    struct locked_incident a, b;
    sqlite3_stmt *q;
    int e;

    if (from == into) {
        snprintf(why, whylen, "an incident cannot be merged into itself");
        return -EPERM;
    }
    e = incident_locked(c, from, &a);
    if (e == -ENOENT)
        snprintf(why, whylen, "no incident %lld", (long long)from);
    if (e)
        return e;
    e = incident_locked(c, into, &b);
    if (e == -ENOENT)
        snprintf(why, whylen, "no incident %lld to merge into", (long long)into);
    if (e)
        return e;
    e = -EPERM;
    if (strcmp(a.status, "resolved") == 0 || strcmp(a.status, "redirected") == 0)
        snprintf(why, whylen, "incident %lld is %s: only open incidents merge", (long long)from, a.status);
    else if (strcmp(b.status, "resolved") == 0 || strcmp(b.status, "redirected") == 0)
        snprintf(why, whylen, "incident %lld is %s: only open incidents merge", (long long)into, b.status);
    else if (a.assigned_to[0] && b.assigned_to[0] && strcmp(a.assigned_to, b.assigned_to) != 0)
        snprintf(why, whylen, "the incidents are assigned to different people (%s, %s): assign them to one first",
                 a.assigned_to, b.assigned_to);
    else if (a.classification[0] && b.classification[0] && strcmp(a.classification, b.classification) != 0)
        snprintf(why, whylen, "the incidents are classified differently (%s, %s): classify them alike first",
                 a.classification, b.classification);
    else
        e = 0;
    if (e)
        return e;
    q = store_prepare(c, "UPDATE alerts SET incident_id = ?, updated_ms = ? WHERE incident_id = ?");
    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, into);
    sqlite3_bind_int64(q, 2, store_now_ms(st));
    sqlite3_bind_int64(q, 3, from);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "move alerts");
    sqlite3_reset(q);
    q = store_prepare(c, "UPDATE incidents SET status = 'redirected', redirected_to = ?, alert_count = 0 WHERE id = ?");
    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, into);
    sqlite3_bind_int64(q, 2, from);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "redirect an incident");
    sqlite3_reset(q);
    /* what only one of them had set carries over */
    q = store_prepare(c, "UPDATE incidents SET assigned_to = CASE WHEN assigned_to = '' THEN ?1 ELSE assigned_to END,"
                         " classification = CASE WHEN classification = '' THEN ?2 ELSE classification END,"
                         " determination = CASE WHEN classification = '' THEN ?3 ELSE determination END"
                         " WHERE id = ?4");
    if (!q)
        return -EIO;
    sqlite3_bind_text(q, 1, a.assigned_to, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, a.classification, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, a.determination, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, into);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "update an incident");
    sqlite3_reset(q);
    if ((e = alerts_sql_activity(st, c, from, actor, "merged", "merged into incident %lld%s%s", (long long)into,
                                 reason ? ": " : "", reason ? reason : "")) != 0 ||
        (e = alerts_sql_activity(st, c, into, actor, "merged", "incident %lld \"%s\" merged into this one%s%s",
                                 (long long)from, a.name, reason ? ": " : "", reason ? reason : "")) != 0)
        return e;
    return alerts_sql_refresh_incident(st, c, into);
}

int store_incident_merge(struct store *st, int64_t from, int64_t into, const char *actor, char *why, size_t whylen)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    int e;

    e = store_begin(c);
    if (!e)
        e = alerts_sql_merge(st, c, from, into, actor, NULL, why, whylen);
    if (!e)
        e = store_commit(c);
    if (e)
        store_rollback(c);
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ comments and activity */

static void note_clear(void *elem)
{
    free(((struct store_incident_note *)elem)->text);
}

void store_incident_notes_free(struct store_incident_note *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        note_clear(&v[i]);
    free(v);
}

int store_incident_comment(struct store *st, int64_t id, const char *author, const char *text, int64_t *comment_id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    struct locked_incident cur;
    sqlite3_stmt *q;
    int e;

    e = store_begin(c);
    if (e)
        goto out;
    e = incident_locked(c, id, &cur);
    if (e)
        goto out;
    q = store_prepare(c, "INSERT INTO incident_comments (incident_id, ts_ms, author, text) VALUES (?, ?, ?, ?)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, store_now_ms(st));
    sqlite3_bind_text(q, 3, author, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, text, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "add a comment");
        goto out;
    }
    sqlite3_reset(q);
    *comment_id = sqlite3_last_insert_rowid(store_db(c));
    e = alerts_sql_activity(st, c, id, author, "comment", "comment %lld added", (long long)*comment_id);
    if (!e)
        e = store_commit(c);
out:
    if (e)
        store_rollback(c);
    store_release(st, c);
    return e;
}

/* A comment or an activity entry: id, ts_ms, actor, action, text. */
static int note_row(sqlite3_stmt *q, void *elem, void *ctx)
{
    struct store_incident_note *note = elem;
    bool oom = false;

    memset(note, 0, sizeof(*note));
    note->id = sqlite3_column_int64(q, 0);
    note->ts_ms = sqlite3_column_int64(q, 1);
    alerts_sql_copy(q, 2, note->actor, sizeof(note->actor));
    alerts_sql_copy(q, 3, note->action, sizeof(note->action));
    note->text = alerts_sql_dup(q, 4, "", &oom);
    return oom ? -ENOMEM : 0;
}

static int notes(struct store *st, int64_t id, bool comments, struct store_incident_note **out, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = -EIO;

    *out = NULL;
    *n = 0;
    if (comments)
        q = store_prepare(c, "SELECT id, ts_ms, author, '', text FROM incident_comments WHERE incident_id = ?"
                             " ORDER BY id");
    else
        q = store_prepare(c, "SELECT id, ts_ms, actor, action, detail FROM incident_activity WHERE incident_id = ?"
                             " ORDER BY id");
    if (q) {
        sqlite3_bind_int64(q, 1, id);
        e = store_rows(q, sizeof(**out), note_row, NULL, note_clear, (void **)out, n, "read incident notes");
    }
    store_release(st, c);
    return e;
}

int store_incident_comments(struct store *st, int64_t id, struct store_incident_note **out, size_t *n)
{
    return notes(st, id, true, out, n);
}

int store_incident_activity(struct store *st, int64_t id, struct store_incident_note **out, size_t *n)
{
    return notes(st, id, false, out, n);
}

/* ------------------------------------------------------------------ suppression rules */

static void suppression_clear(void *elem)
{
    free(((struct store_suppression *)elem)->value);
}

void store_suppressions_free(struct store_suppression *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        suppression_clear(&v[i]);
    free(v);
}

int store_suppression_create(struct store *st, const char *rule_id, const char *device_id, const char *value,
                             int64_t from_alert_id, const char *created_by, int64_t *id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "INSERT INTO suppressions (rule_id, device_id, value, from_alert_id, created_by,"
                                       " created_ms) VALUES (?, ?, ?, ?, ?, ?)");
    int e = 0;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, rule_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, device_id ? device_id : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, value ? value : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, from_alert_id);
    sqlite3_bind_text(q, 5, created_by ? created_by : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 6, store_now_ms(st));
    if (sqlite3_step(q) != SQLITE_DONE) {
        int code = sqlite3_extended_errcode(store_db(c));
        e = (code & 0xff) == SQLITE_CONSTRAINT ? -EEXIST : store_error(c, "create a suppression rule");
        sqlite3_reset(q);
        goto out;
    }
    sqlite3_reset(q);
    *id = sqlite3_last_insert_rowid(store_db(c));
out:
    store_release(st, c);
    return e;
}

static int suppression_row(sqlite3_stmt *q, struct store_suppression *s)
{
    bool oom = false;
    const unsigned char *v;

    memset(s, 0, sizeof(*s));
    s->id = sqlite3_column_int64(q, 0);
    alerts_sql_copy(q, 1, s->rule_id, sizeof(s->rule_id));
    alerts_sql_copy(q, 2, s->device_id, sizeof(s->device_id));
    v = sqlite3_column_text(q, 3);
    if (v && *v)
        s->value = alerts_sql_dup(q, 3, NULL, &oom);
    s->from_alert_id = sqlite3_column_int64(q, 4);
    alerts_sql_copy(q, 5, s->created_by, sizeof(s->created_by));
    s->created_ms = sqlite3_column_int64(q, 6);
    s->hits = sqlite3_column_int64(q, 7);
    s->last_hit_ms = sqlite3_column_int64(q, 8);
    return oom ? -ENOMEM : 0;
}

static int suppression_row_any(sqlite3_stmt *q, void *elem, void *ctx)
{
    return suppression_row(q, elem);
}

int store_suppression_list(struct store *st, const char *rule_id, struct store_suppression **out, size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT id, rule_id, device_id, value, from_alert_id, created_by, created_ms,"
                                       " hits, last_hit_ms FROM suppressions WHERE ?1 IS NULL OR rule_id = ?1"
                                       " ORDER BY id");
    int e = -EIO;

    *out = NULL;
    *n = 0;
    if (q) {
        if (rule_id)
            sqlite3_bind_text(q, 1, rule_id, -1, SQLITE_TRANSIENT);
        e = store_rows(q, sizeof(**out), suppression_row_any, NULL, suppression_clear, (void **)out, n,
                       "list suppression rules");
    }
    store_release(st, c);
    return e;
}

int store_suppression_get(struct store *st, int64_t id, struct store_suppression *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT id, rule_id, device_id, value, from_alert_id, created_by, created_ms,"
                                       " hits, last_hit_ms FROM suppressions WHERE id = ?");
    int e, rc;

    memset(out, 0, sizeof(*out));
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    e = rc == SQLITE_ROW ? suppression_row(q, out) : rc == SQLITE_DONE ? -ENOENT : store_error(c, "read a rule");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_suppression_delete(struct store *st, int64_t id)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    sqlite3_stmt *q = store_prepare(c, "DELETE FROM suppressions WHERE id = ?");
    int e = 0;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "delete a suppression rule");
    else if (sqlite3_changes(store_db(c)) == 0)
        e = -ENOENT;
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}
