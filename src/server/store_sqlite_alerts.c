/*
 * store_sqlite_alerts.c — the SQLite side of store_alerts.h for alerts:
 * the schema of the whole alerts module, raising an alert (dedup,
 * grouping into incidents) in one transaction, reading alerts and their
 * evidence, and people's changes to alerts.
 *
 * Grouping looks up alert_keys, one row per value an alert may share with
 * another (a process of its lineage, its logon id, an evidence entity),
 * indexed by (device, kind, value): finding the incidents a new alert
 * touches costs one index probe per key. Incidents, comments, the activity
 * log and suppression rules are in store_sqlite_alerts_incidents.c.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "server/alerts.h"
#include "server/store_sqlite_alerts_int.h"

static const struct store_migration alerts_steps[] = {
    {1, "CREATE TABLE incidents ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " name TEXT NOT NULL DEFAULT '',"
        " name_locked INTEGER NOT NULL DEFAULT 0,"
        " severity INTEGER NOT NULL DEFAULT 1 CHECK (severity BETWEEN 1 AND 4),"
        " status TEXT NOT NULL DEFAULT 'active'"
        "  CHECK (status IN ('active', 'in progress', 'resolved', 'redirected')),"
        " classification TEXT NOT NULL DEFAULT '',"
        " determination TEXT NOT NULL DEFAULT '',"
        " assigned_to TEXT NOT NULL DEFAULT '',"
        " tags TEXT NOT NULL DEFAULT '[]',"
        " tactics TEXT NOT NULL DEFAULT '[]',"
        " redirected_to INTEGER NOT NULL DEFAULT 0,"
        " created_ms INTEGER NOT NULL,"
        " updated_ms INTEGER NOT NULL,"
        " first_event_ns INTEGER NOT NULL DEFAULT 0,"
        " last_event_ns INTEGER NOT NULL DEFAULT 0,"
        " alert_count INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX incidents_activity ON incidents (updated_ms, id);"
        "CREATE TABLE alerts ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " incident_id INTEGER NOT NULL DEFAULT 0,"
        " device_id TEXT NOT NULL,"
        " rule_id TEXT NOT NULL DEFAULT '',"
        " dedup_key TEXT NOT NULL DEFAULT '',"
        " title TEXT NOT NULL,"
        " description TEXT NOT NULL DEFAULT '',"
        " recommended_actions TEXT NOT NULL DEFAULT '',"
        " severity INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 4),"
        " status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in progress', 'resolved')),"
        " classification TEXT NOT NULL DEFAULT '',"
        " determination TEXT NOT NULL DEFAULT '',"
        " category TEXT NOT NULL DEFAULT '',"
        " detection_source TEXT NOT NULL DEFAULT 'EDR',"
        " account TEXT NOT NULL DEFAULT '',"
        " process_uid TEXT NOT NULL DEFAULT '',"
        " logon_id TEXT NOT NULL DEFAULT '',"
        " assigned_to TEXT NOT NULL DEFAULT '',"
        " tactics TEXT NOT NULL DEFAULT '[]',"
        " techniques TEXT NOT NULL DEFAULT '[]',"
        " seqs TEXT NOT NULL DEFAULT '[]',"
        " first_event_ns INTEGER NOT NULL,"
        " last_event_ns INTEGER NOT NULL,"
        " event_count INTEGER NOT NULL DEFAULT 1,"
        " created_ms INTEGER NOT NULL,"
        " updated_ms INTEGER NOT NULL,"
        " resolved_ms INTEGER NOT NULL DEFAULT 0,"
        " suppressed INTEGER NOT NULL DEFAULT 0,"
        " suppression_id INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX alerts_incident ON alerts (incident_id, id);"
        "CREATE INDEX alerts_dedup ON alerts (device_id, dedup_key, id) WHERE dedup_key != '';"
        "CREATE INDEX alerts_activity ON alerts (updated_ms, id);"
        "CREATE TABLE alert_evidence ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " alert_id INTEGER NOT NULL REFERENCES alerts (id),"
        " type TEXT NOT NULL,"
        " role TEXT NOT NULL,"
        " value TEXT NOT NULL,"
        " detail TEXT,"
        " verdict TEXT NOT NULL CHECK (verdict IN ('malicious', 'suspicious', 'clean')),"
        " remediation_status TEXT NOT NULL DEFAULT 'none' CHECK (remediation_status IN ('none',"
        "  'pending approval', 'remediated', 'declined', 'failed', 'partially remediated', 'not found')),"
        " created_ms INTEGER NOT NULL,"
        " UNIQUE (alert_id, type, role, value));"
        "CREATE TABLE alert_keys ("
        " alert_id INTEGER NOT NULL REFERENCES alerts (id),"
        " device_id TEXT NOT NULL,"
        " kind TEXT NOT NULL,"
        " value TEXT NOT NULL,"
        " PRIMARY KEY (alert_id, kind, value));"
        "CREATE INDEX alert_keys_value ON alert_keys (device_id, kind, value);"
        "CREATE TABLE incident_activity ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " incident_id INTEGER NOT NULL,"
        " ts_ms INTEGER NOT NULL,"
        " actor TEXT NOT NULL DEFAULT '',"
        " action TEXT NOT NULL,"
        " detail TEXT NOT NULL);"
        "CREATE INDEX incident_activity_incident ON incident_activity (incident_id, id);"
        "CREATE TABLE incident_comments ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " incident_id INTEGER NOT NULL,"
        " ts_ms INTEGER NOT NULL,"
        " author TEXT NOT NULL,"
        " text TEXT NOT NULL);"
        "CREATE INDEX incident_comments_incident ON incident_comments (incident_id, id);"
        "CREATE TABLE suppressions ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " rule_id TEXT NOT NULL,"
        " device_id TEXT NOT NULL DEFAULT '',"
        " value TEXT NOT NULL DEFAULT '',"
        " from_alert_id INTEGER NOT NULL DEFAULT 0,"
        " created_by TEXT NOT NULL DEFAULT '',"
        " created_ms INTEGER NOT NULL,"
        " hits INTEGER NOT NULL DEFAULT 0,"
        " last_hit_ms INTEGER NOT NULL DEFAULT 0,"
        " UNIQUE (rule_id, device_id, value));"},
    {0, NULL},
};

static const struct store_migration_set alerts_migrations = {"alerts", 50, alerts_steps};
STORE_MIGRATIONS(alerts_migrations);

/* ------------------------------------------------------------------ shared helpers */

void alerts_sql_copy(sqlite3_stmt *q, int i, char *dst, size_t dstlen)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(dst, dstlen, "%s", t ? (const char *)t : "");
}

char *alerts_sql_dup(sqlite3_stmt *q, int i, const char *def, bool *oom)
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

int alerts_sql_activity(struct store *st, struct store_conn *c, int64_t incident_id, const char *actor,
                        const char *action, const char *fmt, ...)
{
    char detail[1024];
    int64_t now = store_now_ms(st);
    sqlite3_stmt *q;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    q = store_prepare(c, "INSERT INTO incident_activity (incident_id, ts_ms, actor, action, detail)"
                         " VALUES (?, ?, ?, ?, ?)");
    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, incident_id);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_text(q, 3, actor ? actor : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, detail, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "record incident activity");
    sqlite3_reset(q);
    q = store_prepare(c, "UPDATE incidents SET updated_ms = MAX(updated_ms, ?) WHERE id = ?");
    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, incident_id);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "touch an incident");
    sqlite3_reset(q);
    return 0;
}

int alerts_sql_new_incident(struct store *st, struct store_conn *c, int64_t *id)
{
    int64_t now = store_now_ms(st);
    sqlite3_stmt *q = store_prepare(c, "INSERT INTO incidents (created_ms, updated_ms) VALUES (?, ?)");

    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, now);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "create an incident");
    sqlite3_reset(q);
    *id = sqlite3_last_insert_rowid(store_db(c));
    return alerts_sql_activity(st, c, *id, NULL, "created", "incident created");
}

int alerts_sql_refresh_incident(struct store *st, struct store_conn *c, int64_t id)
{
    bool seen[ALERTS_NTACTICS + 1] = {false};
    int ranks[ALERTS_NTACTICS], severity = 1;
    size_t nranks = 0, ndevices = 0;
    int64_t count = 0, first_ns = 0, last_ns = 0;
    char first_title[STORE_ALERT_TITLE_MAX + 1] = "", name[STORE_INCIDENT_NAME_MAX + 1];
    char old_name[STORE_INCIDENT_NAME_MAX + 1] = "";
    bool locked = false;
    struct jsonw w;
    sqlite3_stmt *q;
    int rc, e = 0;

    jsonw_init(&w);
    q = store_prepare(c, "SELECT severity, tactics, title, first_event_ns, last_event_ns FROM alerts"
                         " WHERE incident_id = ? ORDER BY id");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *arr = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL), *t;
        size_t i;
        if (sqlite3_column_int(q, 0) > severity)
            severity = sqlite3_column_int(q, 0);
        json_array_foreach(arr, i, t) {
            int r = alerts_tactic_rank(json_string_value(t));
            if (r)
                seen[r] = true;
        }
        json_decref(arr);
        if (count == 0)
            alerts_sql_copy(q, 2, first_title, sizeof(first_title));
        if (count == 0 || sqlite3_column_int64(q, 3) < first_ns)
            first_ns = sqlite3_column_int64(q, 3);
        if (count == 0 || sqlite3_column_int64(q, 4) > last_ns)
            last_ns = sqlite3_column_int64(q, 4);
        count++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        e = store_error(c, "read an incident's alerts");
        goto out;
    }
    q = store_prepare(c, "SELECT COUNT(DISTINCT device_id) FROM alerts WHERE incident_id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) == SQLITE_ROW)
        ndevices = (size_t)sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    q = store_prepare(c, "SELECT name, name_locked FROM incidents WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_reset(q);
        e = -ENOENT;
        goto out;
    }
    alerts_sql_copy(q, 0, old_name, sizeof(old_name));
    locked = sqlite3_column_int(q, 1) != 0;
    sqlite3_reset(q);

    jsonw_array_begin(&w);
    for (int r = 1; r <= ALERTS_NTACTICS; r++)
        if (seen[r]) {
            ranks[nranks++] = r;
            jsonw_str(&w, alerts_tactic_name(r));
        }
    jsonw_array_end(&w);
    if (jsonw_failed(&w)) {
        e = -ENOMEM;
        goto out;
    }
    alerts_incident_name(ranks, nranks, first_title, ndevices, name, sizeof(name));
    q = store_prepare(c, "UPDATE incidents SET severity = ?, tactics = ?, first_event_ns = ?, last_event_ns = ?,"
                         " alert_count = ?, name = CASE WHEN name_locked THEN name ELSE ? END WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int(q, 1, severity);
    sqlite3_bind_text(q, 2, w.buf, (int)w.len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 3, first_ns);
    sqlite3_bind_int64(q, 4, last_ns);
    sqlite3_bind_int64(q, 5, count);
    sqlite3_bind_text(q, 6, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 7, id);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "update an incident");
        goto out;
    }
    sqlite3_reset(q);
    if (!locked && old_name[0] && strcmp(old_name, name) != 0)
        e = alerts_sql_activity(st, c, id, NULL, "name", "renamed \"%s\"", name);
out:
    jsonw_free(&w);
    return e;
}

int alerts_sql_resolve_alerts(struct store *st, struct store_conn *c, int64_t incident_id)
{
    sqlite3_stmt *q = store_prepare(c, "UPDATE alerts SET status = 'resolved', resolved_ms = ?, updated_ms = ?"
                                       " WHERE incident_id = ? AND status != 'resolved'");
    int64_t now = store_now_ms(st);

    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_int64(q, 3, incident_id);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "resolve an incident's alerts");
    sqlite3_reset(q);
    return 0;
}

/* ------------------------------------------------------------------ raising */

/* seqs_json (an array) with seqs appended, at most STORE_ALERT_MAX_SEQS,
 * without repeats, as malloc'd text. */
static char *merge_seqs(const char *seqs_json, const uint64_t *seqs, size_t nseqs)
{
    json_t *arr = seqs_json ? json_loads(seqs_json, 0, NULL) : NULL, *v;
    struct jsonw w;
    char *text = NULL;
    size_t i, kept = 0;

    jsonw_init(&w);
    jsonw_array_begin(&w);
    json_array_foreach(arr, i, v) {
        if (json_is_integer(v) && kept < STORE_ALERT_MAX_SEQS) {
            jsonw_uint(&w, (uint64_t)json_integer_value(v));
            kept++;
        }
    }
    for (i = 0; i < nseqs && kept < STORE_ALERT_MAX_SEQS; i++) {
        bool dup = false;
        size_t j;
        json_array_foreach(arr, j, v)
            dup |= json_is_integer(v) && (uint64_t)json_integer_value(v) == seqs[i];
        for (j = 0; j < i; j++)
            dup |= seqs[j] == seqs[i];
        if (!dup && seqs[i]) {
            jsonw_uint(&w, seqs[i]);
            kept++;
        }
    }
    jsonw_array_end(&w);
    if (!jsonw_failed(&w))
        text = strndup(w.buf, w.len);
    jsonw_free(&w);
    json_decref(arr);
    return text;
}

static int add_evidence_and_keys(struct store *st, struct store_conn *c, int64_t alert_id,
                                 const struct store_alert_new *a)
{
    int64_t now = store_now_ms(st);
    sqlite3_stmt *q;

    for (size_t i = 0; i < a->nevidence; i++) {
        const struct store_evidence_new *ev = &a->evidence[i];
        q = store_prepare(c, "INSERT OR IGNORE INTO alert_evidence (alert_id, type, role, value, detail, verdict,"
                             " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
        if (!q)
            return -EIO;
        sqlite3_bind_int64(q, 1, alert_id);
        sqlite3_bind_text(q, 2, ev->type, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, ev->role, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 4, ev->value, -1, SQLITE_TRANSIENT);
        if (ev->detail_json)
            sqlite3_bind_text(q, 5, ev->detail_json, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(q, 5);
        sqlite3_bind_text(q, 6, ev->verdict, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 7, now);
        if (sqlite3_step(q) != SQLITE_DONE)
            return store_error(c, "store alert evidence");
        sqlite3_reset(q);
    }
    for (size_t i = 0; i < a->nkeys; i++) {
        q = store_prepare(c, "INSERT OR IGNORE INTO alert_keys (alert_id, device_id, kind, value) VALUES (?, ?, ?, ?)");
        if (!q)
            return -EIO;
        sqlite3_bind_int64(q, 1, alert_id);
        sqlite3_bind_text(q, 2, a->device_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, a->keys[i].kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 4, a->keys[i].value, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) != SQLITE_DONE)
            return store_error(c, "store alert keys");
        sqlite3_reset(q);
    }
    return 0;
}

/* The alert hits of the same kind update: an unresolved one with the same
 * dedup key, or for a suppressed hit the suppressed alert of the same
 * rule. 0 with *id (0: none). */
static int find_duplicate(struct store_conn *c, const struct store_alert_new *a, int64_t *id, int64_t *incident)
{
    sqlite3_stmt *q;

    *id = *incident = 0;
    if (!a->dedup_key || !*a->dedup_key)
        return 0;
    if (a->suppression_id > 0) {
        q = store_prepare(c, "SELECT id, incident_id FROM alerts WHERE device_id = ? AND dedup_key = ?"
                             " AND suppressed = 1 AND suppression_id = ? ORDER BY id DESC LIMIT 1");
        if (!q)
            return -EIO;
        sqlite3_bind_int64(q, 3, a->suppression_id);
    } else {
        q = store_prepare(c, "SELECT id, incident_id FROM alerts WHERE device_id = ? AND dedup_key = ?"
                             " AND status != 'resolved' AND suppressed = 0 ORDER BY id DESC LIMIT 1");
        if (!q)
            return -EIO;
    }
    sqlite3_bind_text(q, 1, a->device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, a->dedup_key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) == SQLITE_ROW) {
        *id = sqlite3_column_int64(q, 0);
        *incident = sqlite3_column_int64(q, 1);
    }
    sqlite3_reset(q);
    return 0;
}

static int update_duplicate(struct store *st, struct store_conn *c, int64_t id, const struct store_alert_new *a)
{
    sqlite3_stmt *q;
    char *seqs = NULL;
    int e = 0;

    q = store_prepare(c, "SELECT seqs FROM alerts WHERE id = ?");
    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) == SQLITE_ROW)
        seqs = merge_seqs((const char *)sqlite3_column_text(q, 0), a->seqs, a->nseqs);
    sqlite3_reset(q);
    if (!seqs)
        return -ENOMEM;
    q = store_prepare(c, "UPDATE alerts SET first_event_ns = MIN(first_event_ns, ?), last_event_ns ="
                         " MAX(last_event_ns, ?), event_count = event_count + 1, seqs = ?, updated_ms = ?,"
                         " severity = MAX(severity, ?) WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, a->first_event_ns);
    sqlite3_bind_int64(q, 2, a->last_event_ns);
    sqlite3_bind_text(q, 3, seqs, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 4, store_now_ms(st));
    sqlite3_bind_int(q, 5, a->severity);
    sqlite3_bind_int64(q, 6, id);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "update an alert");
        goto out;
    }
    sqlite3_reset(q);
    e = add_evidence_and_keys(st, c, id, a);
out:
    free(seqs);
    return e;
}

static int insert_alert(struct store *st, struct store_conn *c, const struct store_alert_new *a, int64_t *id)
{
    int64_t now = store_now_ms(st);
    char *seqs = merge_seqs(NULL, a->seqs, a->nseqs);
    sqlite3_stmt *q;
    bool sup = a->suppression_id > 0;
    int e = 0;

    if (!seqs)
        return -ENOMEM;
    q = store_prepare(c, "INSERT INTO alerts (device_id, rule_id, dedup_key, title, description, recommended_actions,"
                         " severity, status, classification, determination, category, detection_source, account,"
                         " process_uid, logon_id, tactics, techniques, seqs, first_event_ns, last_event_ns,"
                         " created_ms, updated_ms, resolved_ms, suppressed, suppression_id)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
                         " ?19, ?20, ?21, ?21, ?22, ?23, ?24)");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, a->device_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, a->rule_id ? a->rule_id : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 3, a->dedup_key ? a->dedup_key : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, a->title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, a->description ? a->description : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, a->recommended_actions ? a->recommended_actions : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 7, a->severity);
    sqlite3_bind_text(q, 8, sup ? "resolved" : "new", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 9, sup ? "false positive" : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 10, "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 11, a->category ? a->category : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 12, a->detection_source ? a->detection_source : "EDR", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 13, a->account ? a->account : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 14, a->process_uid ? a->process_uid : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 15, a->logon_id ? a->logon_id : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 16, a->tactics_json ? a->tactics_json : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 17, a->techniques_json ? a->techniques_json : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 18, seqs, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 19, a->first_event_ns);
    sqlite3_bind_int64(q, 20, a->last_event_ns);
    sqlite3_bind_int64(q, 21, now);
    sqlite3_bind_int64(q, 22, sup ? now : 0);
    sqlite3_bind_int(q, 23, sup);
    sqlite3_bind_int64(q, 24, sup ? a->suppression_id : 0);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "store an alert");
        goto out;
    }
    sqlite3_reset(q);
    *id = sqlite3_last_insert_rowid(store_db(c));
    e = add_evidence_and_keys(st, c, *id, a);
out:
    free(seqs);
    return e;
}

#define RELATED_MAX 16

/* The open incidents with an alert of the device sharing one of a's keys
 * within the window, oldest first (at most RELATED_MAX): ids[0..*n) and,
 * for each, the index of a key it shares in keys[]. 0 or -EIO. */
static int find_incidents(struct store_conn *c, int64_t alert_id, const struct store_alert_new *a, int64_t window_ns,
                          int64_t ids[RELATED_MAX], size_t keys[RELATED_MAX], size_t *n)
{
    int64_t lo = a->first_event_ns - window_ns, hi = a->last_event_ns + window_ns;

    *n = 0;
    for (size_t i = 0; i < a->nkeys; i++) {
        sqlite3_stmt *q = store_prepare(c, "SELECT DISTINCT i.id FROM alert_keys k JOIN alerts a ON a.id = k.alert_id"
                                           " JOIN incidents i ON i.id = a.incident_id"
                                           " WHERE k.device_id = ? AND k.kind = ? AND k.value = ? AND a.id != ?"
                                           " AND i.status IN ('active', 'in progress')"
                                           " AND a.last_event_ns >= ? AND a.first_event_ns <= ?");
        int rc;
        if (!q)
            return -EIO;
        sqlite3_bind_text(q, 1, a->device_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, a->keys[i].kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, a->keys[i].value, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 4, alert_id);
        sqlite3_bind_int64(q, 5, lo);
        sqlite3_bind_int64(q, 6, hi);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            int64_t found = sqlite3_column_int64(q, 0);
            size_t j = 0;
            while (j < *n && ids[j] < found)
                j++;
            if (j < *n && ids[j] == found)
                continue;
            if (*n == RELATED_MAX && j == *n)
                continue;
            if (*n == RELATED_MAX)
                (*n)--;                      /* the newest gives way */
            memmove(&ids[j + 1], &ids[j], (*n - j) * sizeof(ids[0]));
            memmove(&keys[j + 1], &keys[j], (*n - j) * sizeof(keys[0]));
            ids[j] = found;
            keys[j] = i;
            (*n)++;
        }
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            return store_error(c, "find related incidents");
    }
    return 0;
}

static int count_suppression_hit(struct store *st, struct store_conn *c, int64_t suppression_id)
{
    sqlite3_stmt *q = store_prepare(c, "UPDATE suppressions SET hits = hits + 1, last_hit_ms = ? WHERE id = ?");

    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, store_now_ms(st));
    sqlite3_bind_int64(q, 2, suppression_id);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "count a suppression");
    sqlite3_reset(q);
    return 0;
}

int store_alert_raise(struct store *st, const struct store_alert_new *a, int64_t window_ns,
                      struct store_alert_raised *out)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    int64_t dup = 0, incident = 0, related[RELATED_MAX];
    size_t key = 0, related_key[RELATED_MAX], nrelated = 0;
    int e;

    memset(out, 0, sizeof(*out));
    e = store_begin(c);
    if (e)
        goto out;
    e = find_duplicate(c, a, &dup, &incident);
    if (e)
        goto out;
    if (dup) {
        e = update_duplicate(st, c, dup, a);
        if (!e && incident > 0) {
            e = alerts_sql_refresh_incident(st, c, incident);
            if (!e) {
                sqlite3_stmt *q = store_prepare(c, "UPDATE incidents SET updated_ms = MAX(updated_ms, ?) WHERE id = ?");
                if (!q) {
                    e = -EIO;
                } else {
                    sqlite3_bind_int64(q, 1, store_now_ms(st));
                    sqlite3_bind_int64(q, 2, incident);
                    if (sqlite3_step(q) != SQLITE_DONE)
                        e = store_error(c, "touch an incident");
                    sqlite3_reset(q);
                }
            }
        }
        if (!e && a->suppression_id > 0)
            e = count_suppression_hit(st, c, a->suppression_id);
        if (e)
            goto out;
        out->alert_id = dup;
        out->incident_id = incident;
        out->updated = true;
        e = store_commit(c);
        goto out;
    }
    e = insert_alert(st, c, a, &out->alert_id);
    if (e)
        goto out;
    if (a->suppression_id > 0) {
        e = count_suppression_hit(st, c, a->suppression_id);
        if (!e)
            e = store_commit(c);
        goto out;
    }
    e = find_incidents(c, out->alert_id, a, window_ns, related, related_key, &nrelated);
    if (e)
        goto out;
    if (nrelated) {
        incident = related[0];
        key = related_key[0];
    }
    if (!incident) {
        e = alerts_sql_new_incident(st, c, &incident);
        if (e)
            goto out;
        out->new_incident = true;
    }
    {
        sqlite3_stmt *q = store_prepare(c, "UPDATE alerts SET incident_id = ? WHERE id = ?");
        if (!q) {
            e = -EIO;
            goto out;
        }
        sqlite3_bind_int64(q, 1, incident);
        sqlite3_bind_int64(q, 2, out->alert_id);
        if (sqlite3_step(q) != SQLITE_DONE) {
            e = store_error(c, "add an alert to an incident");
            goto out;
        }
        sqlite3_reset(q);
    }
    if (out->new_incident)
        e = alerts_sql_activity(st, c, incident, NULL, "alert added", "alert %lld \"%s\" started the incident",
                                (long long)out->alert_id, a->title);
    else
        e = alerts_sql_activity(st, c, incident, NULL, "alert added", "alert %lld \"%s\" joined: it shares %s %.200s",
                                (long long)out->alert_id, a->title, a->keys[key].kind, a->keys[key].value);
    if (!e)
        e = alerts_sql_refresh_incident(st, c, incident);
    /* The alert relates newer open incidents to the one it joined: they
     * merge into it (REFERENCE: incidents merge when they turn out
     * related), unless a person made them differ (owner, classification). */
    for (size_t i = 1; !e && i < nrelated; i++) {
        char why[256], reason[400];
        snprintf(reason, sizeof(reason), "alert %lld \"%.120s\" relates them (it shares %s %.150s)",
                 (long long)out->alert_id, a->title, a->keys[related_key[i]].kind, a->keys[related_key[i]].value);
        e = alerts_sql_merge(st, c, related[i], incident, NULL, reason, why, sizeof(why));
        if (e == -EPERM) {
            e = alerts_sql_activity(st, c, related[i], NULL, "related", "%s; not merged automatically: %s", reason,
                                    why);
        } else if (!e) {
            out->merged++;
        }
    }
    if (!e)
        e = store_commit(c);
    out->incident_id = incident;
out:
    if (e)
        store_rollback(c);
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ reading alerts */

void store_alert_clear(struct store_alert *a)
{
    if (!a)
        return;
    free(a->description);
    free(a->recommended_actions);
    free(a->tactics_json);
    free(a->techniques_json);
    free(a->seqs_json);
    memset(a, 0, sizeof(*a));
}

void store_alerts_free(struct store_alert *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        store_alert_clear(&v[i]);
    free(v);
}

#define ALERT_COLUMNS                                                                                              \
    "id, incident_id, device_id, rule_id, dedup_key, title, severity, status, classification, determination,"      \
    " category, detection_source, account, process_uid, logon_id, assigned_to, description, recommended_actions,"  \
    " tactics, techniques, seqs, first_event_ns, last_event_ns, event_count, created_ms, updated_ms, resolved_ms,"  \
    " suppressed, suppression_id"

static int alert_row(sqlite3_stmt *q, struct store_alert *a)
{
    bool oom = false;

    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(q, 0);
    a->incident_id = sqlite3_column_int64(q, 1);
    alerts_sql_copy(q, 2, a->device_id, sizeof(a->device_id));
    alerts_sql_copy(q, 3, a->rule_id, sizeof(a->rule_id));
    alerts_sql_copy(q, 4, a->dedup_key, sizeof(a->dedup_key));
    alerts_sql_copy(q, 5, a->title, sizeof(a->title));
    a->severity = sqlite3_column_int(q, 6);
    alerts_sql_copy(q, 7, a->status, sizeof(a->status));
    alerts_sql_copy(q, 8, a->classification, sizeof(a->classification));
    alerts_sql_copy(q, 9, a->determination, sizeof(a->determination));
    alerts_sql_copy(q, 10, a->category, sizeof(a->category));
    alerts_sql_copy(q, 11, a->detection_source, sizeof(a->detection_source));
    alerts_sql_copy(q, 12, a->account, sizeof(a->account));
    alerts_sql_copy(q, 13, a->process_uid, sizeof(a->process_uid));
    alerts_sql_copy(q, 14, a->logon_id, sizeof(a->logon_id));
    alerts_sql_copy(q, 15, a->assigned_to, sizeof(a->assigned_to));
    a->description = alerts_sql_dup(q, 16, "", &oom);
    a->recommended_actions = alerts_sql_dup(q, 17, "", &oom);
    a->tactics_json = alerts_sql_dup(q, 18, "[]", &oom);
    a->techniques_json = alerts_sql_dup(q, 19, "[]", &oom);
    a->seqs_json = alerts_sql_dup(q, 20, "[]", &oom);
    a->first_event_ns = sqlite3_column_int64(q, 21);
    a->last_event_ns = sqlite3_column_int64(q, 22);
    a->event_count = sqlite3_column_int64(q, 23);
    a->created_ms = sqlite3_column_int64(q, 24);
    a->updated_ms = sqlite3_column_int64(q, 25);
    a->resolved_ms = sqlite3_column_int64(q, 26);
    a->suppressed = sqlite3_column_int(q, 27) != 0;
    a->suppression_id = sqlite3_column_int64(q, 28);
    if (oom) {
        store_alert_clear(a);
        return -ENOMEM;
    }
    return 0;
}

int store_alert_get(struct store *st, int64_t id, struct store_alert *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = ?");
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        e = alert_row(q, out);
    else
        e = rc == SQLITE_DONE ? -ENOENT : store_error(c, "read an alert");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

static void alert_clear_any(void *elem)
{
    store_alert_clear(elem);
}

/* An alert of the list; ctx: where the count of all matches goes (NULL:
 * not wanted), from the statement's last column, COUNT(*) OVER (). */
static int alert_list_row(sqlite3_stmt *q, void *elem, void *ctx)
{
    size_t *total = ctx;
    int e = alert_row(q, elem);

    if (!e && total)
        *total = (size_t)sqlite3_column_int64(q, 29);
    return e;
}

int store_alert_list(struct store *st, const struct store_alert_filter *f, struct store_alert **out, size_t *n,
                     size_t *total)
{
    static const char *const sql_newest =
        "SELECT " ALERT_COLUMNS ", COUNT(*) OVER () FROM alerts"
        " WHERE (?1 = 0 OR incident_id = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 = 0 OR severity = ?3)"
        " AND (?4 IS NULL OR device_id = ?4) AND (?5 IS NULL OR assigned_to = ?5) AND updated_ms >= ?6"
        " ORDER BY updated_ms DESC, id DESC LIMIT ?7 OFFSET ?8";
    static const char *const sql_oldest =
        "SELECT " ALERT_COLUMNS ", COUNT(*) OVER () FROM alerts"
        " WHERE (?1 = 0 OR incident_id = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 = 0 OR severity = ?3)"
        " AND (?4 IS NULL OR device_id = ?4) AND (?5 IS NULL OR assigned_to = ?5) AND updated_ms >= ?6"
        " ORDER BY id LIMIT ?7 OFFSET ?8";
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, f->oldest_first ? sql_oldest : sql_newest);
    struct store_alert *v = NULL;
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
    sqlite3_bind_int64(q, 1, f->incident_id);
    if (f->status)
        sqlite3_bind_text(q, 2, f->status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 3, f->severity);
    if (f->device_id)
        sqlite3_bind_text(q, 4, f->device_id, -1, SQLITE_TRANSIENT);
    if (f->assigned_to)
        sqlite3_bind_text(q, 5, f->assigned_to, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 6, f->since_ms);
    sqlite3_bind_int64(q, 7, f->limit ? (int64_t)f->limit : 100000);
    sqlite3_bind_int64(q, 8, (int64_t)f->offset);
    e = store_rows(q, sizeof(*v), alert_list_row, total, alert_clear_any, (void **)&v, &len, "list alerts");
    if (!e && total && len == 0 && f->offset > 0) {
        /* past the end: count what matched */
        sqlite3_stmt *cq = store_prepare(c, "SELECT COUNT(*) FROM alerts WHERE (?1 = 0 OR incident_id = ?1)"
                                            " AND (?2 IS NULL OR status = ?2) AND (?3 = 0 OR severity = ?3)"
                                            " AND (?4 IS NULL OR device_id = ?4) AND (?5 IS NULL OR assigned_to = ?5)"
                                            " AND updated_ms >= ?6");
        if (!cq) {
            e = -EIO;
        } else {
            sqlite3_bind_int64(cq, 1, f->incident_id);
            if (f->status)
                sqlite3_bind_text(cq, 2, f->status, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(cq, 3, f->severity);
            if (f->device_id)
                sqlite3_bind_text(cq, 4, f->device_id, -1, SQLITE_TRANSIENT);
            if (f->assigned_to)
                sqlite3_bind_text(cq, 5, f->assigned_to, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(cq, 6, f->since_ms);
            if (sqlite3_step(cq) == SQLITE_ROW)
                *total = (size_t)sqlite3_column_int64(cq, 0);
            sqlite3_reset(cq);
        }
    }
out:
    store_release(st, c);
    if (e) {
        store_alerts_free(v, len);
        return e;
    }
    *out = v;
    *n = len;
    return 0;
}

static void evidence_clear(void *elem)
{
    struct store_evidence *ev = elem;

    free(ev->value);
    free(ev->detail_json);
}

void store_evidence_free(struct store_evidence *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        evidence_clear(&v[i]);
    free(v);
}

static int evidence_row(sqlite3_stmt *q, void *elem, void *ctx)
{
    struct store_evidence *ev = elem;
    bool oom = false;

    memset(ev, 0, sizeof(*ev));
    ev->id = sqlite3_column_int64(q, 0);
    ev->alert_id = sqlite3_column_int64(q, 1);
    alerts_sql_copy(q, 2, ev->type, sizeof(ev->type));
    alerts_sql_copy(q, 3, ev->role, sizeof(ev->role));
    alerts_sql_copy(q, 4, ev->verdict, sizeof(ev->verdict));
    alerts_sql_copy(q, 5, ev->remediation_status, sizeof(ev->remediation_status));
    ev->value = alerts_sql_dup(q, 6, "", &oom);
    ev->detail_json = alerts_sql_dup(q, 7, NULL, &oom);
    ev->created_ms = sqlite3_column_int64(q, 8);
    if (oom) {
        evidence_clear(ev);
        return -ENOMEM;
    }
    return 0;
}

int store_evidence_list(struct store *st, int64_t alert_id, int64_t incident_id, struct store_evidence **out,
                        size_t *n)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q;
    int e = -EIO;

    *out = NULL;
    *n = 0;
    if (alert_id > 0)
        q = store_prepare(c, "SELECT id, alert_id, type, role, verdict, remediation_status, value, detail, created_ms"
                             " FROM alert_evidence WHERE alert_id = ? ORDER BY id");
    else
        q = store_prepare(c, "SELECT e.id, e.alert_id, e.type, e.role, e.verdict, e.remediation_status, e.value,"
                             " e.detail, e.created_ms FROM alert_evidence e JOIN alerts a ON a.id = e.alert_id"
                             " WHERE a.incident_id = ? ORDER BY e.id");
    if (q) {
        sqlite3_bind_int64(q, 1, alert_id > 0 ? alert_id : incident_id);
        e = store_rows(q, sizeof(**out), evidence_row, NULL, evidence_clear, (void **)out, n, "list evidence");
    }
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ changing alerts */

/* Sets text column `col` (one of a fixed few) of alert id when it differs;
 * logs it to the incident. */
static int set_alert_field(struct store *st, struct store_conn *c, const struct store_alert *cur, const char *field,
                           const char *old, const char *val, const char *actor, bool *changed)
{
    sqlite3_stmt *q;
    int64_t now = store_now_ms(st);

    if (!val || strcmp(old, val) == 0)
        return 0;
    if (strcmp(field, "status") == 0)
        q = store_prepare(c, "UPDATE alerts SET status = ?1, updated_ms = ?2,"
                             " resolved_ms = CASE WHEN ?1 = 'resolved' THEN ?2 ELSE 0 END WHERE id = ?3");
    else if (strcmp(field, "classification") == 0)
        q = store_prepare(c, "UPDATE alerts SET classification = ?1, updated_ms = ?2 WHERE id = ?3");
    else if (strcmp(field, "determination") == 0)
        q = store_prepare(c, "UPDATE alerts SET determination = ?1, updated_ms = ?2 WHERE id = ?3");
    else
        q = store_prepare(c, "UPDATE alerts SET assigned_to = ?1, updated_ms = ?2 WHERE id = ?3");
    if (!q)
        return -EIO;
    sqlite3_bind_text(q, 1, val, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, now);
    sqlite3_bind_int64(q, 3, cur->id);
    if (sqlite3_step(q) != SQLITE_DONE)
        return store_error(c, "update an alert");
    sqlite3_reset(q);
    *changed = true;
    if (cur->incident_id > 0)
        return alerts_sql_activity(st, c, cur->incident_id, actor, "alert changed", "alert %lld %s: %s",
                                   (long long)cur->id, field, *val ? val : "(cleared)");
    return 0;
}

/* The alert read on the writer (inside its transaction). */
static int alert_get_locked(struct store_conn *c, int64_t id, struct store_alert *out)
{
    sqlite3_stmt *q = store_prepare(c, "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = ? -- writer");
    int e, rc;

    memset(out, 0, sizeof(*out));
    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    e = rc == SQLITE_ROW ? alert_row(q, out) : rc == SQLITE_DONE ? -ENOENT : store_error(c, "read an alert");
    sqlite3_reset(q);
    return e;
}

static int incident_status_locked(struct store_conn *c, int64_t id, char *status, size_t len)
{
    sqlite3_stmt *q = store_prepare(c, "SELECT status FROM incidents WHERE id = ?");
    int e = 0;

    if (!q)
        return -EIO;
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) == SQLITE_ROW)
        alerts_sql_copy(q, 0, status, len);
    else
        e = -ENOENT;
    sqlite3_reset(q);
    return e;
}

int store_alert_update(struct store *st, int64_t id, const struct store_alert_change *ch, const char *actor,
                       bool *changed)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    struct store_alert cur;
    const char *det = ch->determination;
    int e;

    *changed = false;
    memset(&cur, 0, sizeof(cur));
    e = store_begin(c);
    if (e)
        goto out;
    e = alert_get_locked(c, id, &cur);
    if (e)
        goto out;
    if (ch->classification && strcmp(ch->classification, cur.classification) != 0 && !det)
        det = "";
    if ((e = set_alert_field(st, c, &cur, "status", cur.status, ch->status, actor, changed)) != 0 ||
        (e = set_alert_field(st, c, &cur, "classification", cur.classification, ch->classification, actor,
                             changed)) != 0 ||
        (e = set_alert_field(st, c, &cur, "determination", cur.determination, det, actor, changed)) != 0 ||
        (e = set_alert_field(st, c, &cur, "assigned_to", cur.assigned_to, ch->assigned_to, actor, changed)) != 0)
        goto out;
    if (ch->status && strcmp(ch->status, "resolved") == 0 && strcmp(cur.status, "resolved") != 0 &&
        cur.incident_id > 0) {
        /* the last open alert resolved: so is the incident */
        char istatus[16] = "";
        int64_t open_alerts = 0;
        sqlite3_stmt *q = store_prepare(c, "SELECT COUNT(*) FROM alerts WHERE incident_id = ? AND status != 'resolved'");
        if (!q) {
            e = -EIO;
            goto out;
        }
        sqlite3_bind_int64(q, 1, cur.incident_id);
        if (sqlite3_step(q) == SQLITE_ROW)
            open_alerts = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        e = incident_status_locked(c, cur.incident_id, istatus, sizeof(istatus));
        if (e)
            goto out;
        if (open_alerts == 0 && (strcmp(istatus, "active") == 0 || strcmp(istatus, "in progress") == 0)) {
            q = store_prepare(c, "UPDATE incidents SET status = 'resolved' WHERE id = ?");
            if (!q) {
                e = -EIO;
                goto out;
            }
            sqlite3_bind_int64(q, 1, cur.incident_id);
            if (sqlite3_step(q) != SQLITE_DONE) {
                e = store_error(c, "resolve an incident");
                goto out;
            }
            sqlite3_reset(q);
            e = alerts_sql_activity(st, c, cur.incident_id, actor, "status",
                                    "status: resolved (its last open alert was resolved)");
            if (e)
                goto out;
        }
    }
    e = store_commit(c);
out:
    if (e)
        store_rollback(c);
    store_alert_clear(&cur);
    store_release(st, c);
    return e;
}

int store_alert_unlink(struct store *st, int64_t id, const char *actor, int64_t *new_incident, char *why,
                       size_t whylen)
{
    struct store_conn *c = store_acquire(st, STORE_WRITE);
    struct store_alert cur;
    char istatus[16] = "";
    int64_t count = 0, fresh = 0;
    sqlite3_stmt *q;
    int e;

    *new_incident = 0;
    memset(&cur, 0, sizeof(cur));
    e = store_begin(c);
    if (e)
        goto out;
    e = alert_get_locked(c, id, &cur);
    if (e)
        goto out;
    if (cur.incident_id <= 0) {
        snprintf(why, whylen, "alert %lld belongs to no incident (it was suppressed)", (long long)id);
        e = -EPERM;
        goto out;
    }
    e = incident_status_locked(c, cur.incident_id, istatus, sizeof(istatus));
    if (e)
        goto out;
    if (strcmp(istatus, "resolved") == 0 || strcmp(istatus, "redirected") == 0) {
        snprintf(why, whylen, "incident %lld is %s: reopen it first", (long long)cur.incident_id, istatus);
        e = -EPERM;
        goto out;
    }
    q = store_prepare(c, "SELECT COUNT(*) FROM alerts WHERE incident_id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, cur.incident_id);
    if (sqlite3_step(q) == SQLITE_ROW)
        count = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (count <= 1) {
        snprintf(why, whylen, "alert %lld is the only alert of incident %lld", (long long)id,
                 (long long)cur.incident_id);
        e = -EPERM;
        goto out;
    }
    e = alerts_sql_new_incident(st, c, &fresh);
    if (e)
        goto out;
    q = store_prepare(c, "UPDATE alerts SET incident_id = ?, updated_ms = ? WHERE id = ?");
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_int64(q, 1, fresh);
    sqlite3_bind_int64(q, 2, store_now_ms(st));
    sqlite3_bind_int64(q, 3, id);
    if (sqlite3_step(q) != SQLITE_DONE) {
        e = store_error(c, "move an alert");
        goto out;
    }
    sqlite3_reset(q);
    if ((e = alerts_sql_activity(st, c, cur.incident_id, actor, "alert unlinked",
                                 "alert %lld \"%s\" moved to incident %lld", (long long)id, cur.title,
                                 (long long)fresh)) != 0 ||
        (e = alerts_sql_activity(st, c, fresh, actor, "alert added", "alert %lld \"%s\" unlinked from incident %lld",
                                 (long long)id, cur.title, (long long)cur.incident_id)) != 0 ||
        (e = alerts_sql_refresh_incident(st, c, cur.incident_id)) != 0 ||
        (e = alerts_sql_refresh_incident(st, c, fresh)) != 0)
        goto out;
    e = store_commit(c);
    if (!e)
        *new_incident = fresh;
out:
    if (e)
        store_rollback(c);
    store_alert_clear(&cur);
    store_release(st, c);
    return e;
}
