/*
 * incidents.c — the incidents routes:
 *
 *   GET   /api/v1/incidents                 viewer   the queue, filtered, last activity first
 *   GET   /api/v1/incidents/:id             viewer   summary, alerts, devices, users, evidence, comments, activity
 *   PATCH /api/v1/incidents/:id             analyst  status, classification, determination, assignee, tags, name
 *   POST  /api/v1/incidents/:id/comments    analyst  add a comment
 *   POST  /api/v1/incidents/:id/merge       analyst  merge this incident into another
 *
 * The evidence of an incident is the evidence of all its alerts with each
 * entity (type and value) once: the roles it had in any alert, the worst
 * verdict, the most urgent remediation status, and the alerts it appears
 * in. Every change is checked whole before anything is stored, done in one
 * store transaction with its activity lines, and audited.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/alerts.h"
#include "server/alerts_int.h"
#include "server/audit.h"
#include "server/server.h"
#include "server/store.h"

static void write_incident(struct server *srv, struct jsonw *w, const struct store_incident *inc,
                           struct alerts_names *names, bool close)
{
    json_t *devices = json_loads(inc->devices_json ? inc->devices_json : "[]", 0, NULL), *d;
    size_t i;

    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", inc->id);
    jsonw_kv_str(w, "name", inc->name);
    jsonw_kv_bool(w, "name_automatic", !inc->name_locked);
    jsonw_kv_str(w, "severity", alerts_severity_name(inc->severity) ? alerts_severity_name(inc->severity) : "");
    jsonw_kv_str(w, "status", inc->status);
    alerts_kv_str_or_null(w, "classification", inc->classification);
    alerts_kv_str_or_null(w, "determination", inc->determination);
    alerts_kv_str_or_null(w, "assigned_to", inc->assigned_to);
    alerts_kv_raw(w, "tags", inc->tags_json);
    alerts_kv_raw(w, "tactics", inc->tactics_json);
    jsonw_key(w, "devices");
    jsonw_array_begin(w);
    json_array_foreach(devices, i, d)
        if (json_is_string(d))
            alerts_write_device(w, json_string_value(d), alerts_device_name(srv, names, json_string_value(d)));
    jsonw_array_end(w);
    alerts_kv_raw(w, "users", inc->users_json);
    jsonw_kv_int(w, "alert_count", inc->alert_count);
    alerts_kv_ns(w, "first_event", inc->first_event_ns);
    alerts_kv_ns(w, "last_event", inc->last_event_ns);
    alerts_kv_ms(w, "created", inc->created_ms);
    alerts_kv_ms(w, "last_activity", inc->updated_ms);
    jsonw_key(w, "redirected_to");
    if (inc->redirected_to > 0)
        jsonw_int(w, inc->redirected_to);
    else
        jsonw_null(w);
    if (close)
        jsonw_object_end(w);
    json_decref(devices);
}

/* GET /api/v1/incidents?status=&severity=&device=&assigned=&since=&limit=&offset= */
static void list_incidents(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_incident_filter f = {0};
    struct store_incident *v = NULL;
    struct alerts_names *names = NULL;
    struct alerts_query q;
    size_t n = 0, total = 0;
    struct jsonw *w;

    if (!alerts_parse_query(rq, rs, alerts_incident_status, alerts_vocab_list("incident status") , &q))
        return;
    f.status = q.status;
    f.severity = q.severity;
    f.device_id = q.has_device ? q.device_id : NULL;
    f.assigned_to = q.assigned_to;
    f.since_ms = q.since_ms;
    f.limit = q.limit;
    f.offset = q.offset;
    names = calloc(1, sizeof(*names));
    if (!names || store_incident_list(srv->store, &f, &v, &n, &total) != 0) {
        http_error(rs, 500, "cannot list the incidents (store error)");
        goto out;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "incidents");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_incident(srv, w, &v[i], names, true);
    jsonw_array_end(w);
    jsonw_kv_uint(w, "total", total);
    jsonw_object_end(w);
out:
    store_incidents_free(v, n);
    free(names);
}

/* ------------------------------------------------------------------ the incident page */

static int verdict_rank(const char *v)
{
    return strcmp(v, "malicious") == 0 ? 3 : strcmp(v, "suspicious") == 0 ? 2 : 1;
}

/* Remediation statuses, most urgent first. */
static int remediation_rank(const char *s)
{
    static const char *const order[] = {"failed", "pending approval", "partially remediated", "declined",
                                        "remediated", "not found", "none"};
    for (int i = 0; i < 7; i++)
        if (strcmp(s, order[i]) == 0)
            return 7 - i;
    return 0;
}

/* The evidence of all alerts, one entry per entity (type, value). */
static void write_entities(struct jsonw *w, const struct store_evidence *ev, size_t n)
{
    bool *done = calloc(n ? n : 1, sizeof(bool));

    jsonw_array_begin(w);
    for (size_t i = 0; done && i < n; i++) {
        const struct store_evidence *best_v = &ev[i], *best_r = &ev[i], *with_detail = NULL;
        if (done[i])
            continue;
        for (size_t j = i; j < n; j++) {
            if (strcmp(ev[j].type, ev[i].type) != 0 || strcmp(ev[j].value, ev[i].value) != 0)
                continue;
            if (verdict_rank(ev[j].verdict) > verdict_rank(best_v->verdict))
                best_v = &ev[j];
            if (remediation_rank(ev[j].remediation_status) > remediation_rank(best_r->remediation_status))
                best_r = &ev[j];
            if (!with_detail && ev[j].detail_json)
                with_detail = &ev[j];
        }
        jsonw_object_begin(w);
        jsonw_kv_str(w, "type", ev[i].type);
        jsonw_kv_str(w, "value", ev[i].value);
        jsonw_key(w, "roles");
        jsonw_array_begin(w);
        for (size_t j = i; j < n; j++) {
            bool seen = false;
            if (strcmp(ev[j].type, ev[i].type) != 0 || strcmp(ev[j].value, ev[i].value) != 0)
                continue;
            for (size_t k = i; k < j; k++)
                seen |= strcmp(ev[k].type, ev[i].type) == 0 && strcmp(ev[k].value, ev[i].value) == 0 &&
                        strcmp(ev[k].role, ev[j].role) == 0;
            if (!seen)
                jsonw_str(w, ev[j].role);
        }
        jsonw_array_end(w);
        jsonw_kv_str(w, "verdict", best_v->verdict);
        jsonw_kv_str(w, "remediation_status", best_r->remediation_status);
        jsonw_key(w, "detail");
        if (with_detail)
            jsonw_raw(w, with_detail->detail_json, strlen(with_detail->detail_json));
        else
            jsonw_null(w);
        jsonw_key(w, "alert_ids");
        jsonw_array_begin(w);
        for (size_t j = i; j < n; j++) {
            bool seen = false;
            if (strcmp(ev[j].type, ev[i].type) != 0 || strcmp(ev[j].value, ev[i].value) != 0)
                continue;
            for (size_t k = i; k < j; k++)
                seen |= done[k] && ev[k].alert_id == ev[j].alert_id;
            done[j] = true;
            if (!seen)
                jsonw_int(w, ev[j].alert_id);
        }
        jsonw_array_end(w);
        jsonw_key(w, "evidence_ids");
        jsonw_array_begin(w);
        for (size_t j = i; j < n; j++)
            if (strcmp(ev[j].type, ev[i].type) == 0 && strcmp(ev[j].value, ev[i].value) == 0)
                jsonw_int(w, ev[j].id);
        jsonw_array_end(w);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    free(done);
}

static void write_notes(struct jsonw *w, const char *key, const struct store_incident_note *v, size_t n,
                        bool activity)
{
    jsonw_key(w, key);
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_object_begin(w);
        jsonw_kv_int(w, "id", v[i].id);
        alerts_kv_ms(w, "time", v[i].ts_ms);
        if (activity) {
            alerts_kv_str_or_null(w, "actor", v[i].actor);
            jsonw_kv_str(w, "action", v[i].action);
            jsonw_kv_str(w, "detail", v[i].text ? v[i].text : "");
        } else {
            jsonw_kv_str(w, "author", v[i].actor);
            jsonw_kv_str(w, "text", v[i].text ? v[i].text : "");
        }
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
}

/* Writes incident id in full (the answer of GET and of the changes). */
static void write_incident_page(struct http_request *rq, struct http_response *rs, int64_t id)
{
    struct server *srv = http_server(rq);
    struct store_incident inc;
    struct store_alert *alerts = NULL;
    struct store_evidence *ev = NULL;
    struct store_incident_note *comments = NULL, *activity = NULL;
    struct store_alert_filter f = {.incident_id = id, .oldest_first = true};
    struct alerts_names *names = calloc(1, sizeof(*names));
    size_t na = 0, nev = 0, nc = 0, nact = 0;
    struct jsonw *w;
    int e;

    e = names ? store_incident_get(srv->store, id, &inc) : -ENOMEM;
    if (e == -ENOENT) {
        http_error(rs, 404, "no incident %lld", (long long)id);
        free(names);
        return;
    }
    if (e) {
        http_error(rs, 500, "cannot read the incident (store error)");
        free(names);
        return;
    }
    if (store_alert_list(srv->store, &f, &alerts, &na, NULL) != 0 ||
        store_evidence_list(srv->store, 0, id, &ev, &nev) != 0 ||
        store_incident_comments(srv->store, id, &comments, &nc) != 0 ||
        store_incident_activity(srv->store, id, &activity, &nact) != 0) {
        http_error(rs, 500, "cannot read the incident's alerts, evidence or notes (store error)");
        goto out;
    }
    w = http_json(rs);
    write_incident(srv, w, &inc, names, false);
    jsonw_key(w, "alerts");
    jsonw_array_begin(w);
    for (size_t i = 0; i < na; i++)
        alerts_write_alert(srv, w, &alerts[i], names, false);
    jsonw_array_end(w);
    jsonw_key(w, "evidence");
    write_entities(w, ev, nev);
    write_notes(w, "comments", comments, nc, false);
    write_notes(w, "activity", activity, nact, true);
    jsonw_object_end(w);
out:
    store_incident_notes_free(comments, nc);
    store_incident_notes_free(activity, nact);
    store_evidence_free(ev, nev);
    store_alerts_free(alerts, na);
    store_incident_clear(&inc);
    free(names);
}

/* GET /api/v1/incidents/:id */
static void get_incident(struct http_request *rq, struct http_response *rs)
{
    int64_t id;

    if (alerts_route_id(rq, rs, "incident", &id))
        write_incident_page(rq, rs, id);
}

/* ------------------------------------------------------------------ changes */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "tags": an array of tags -> sorted, deduplicated JSON text (malloc'd
 * into *out; NULL when absent). False after answering. */
static bool json_tags(json_t *body, char **out, struct http_response *rs)
{
    json_t *arr = json_object_get(body, "tags"), *e;
    const char *tags[ALERTS_MAX_TAGS];
    struct jsonw w;
    size_t i, n = 0;

    *out = NULL;
    if (!arr)
        return true;
    if (!json_is_array(arr) || json_array_size(arr) > ALERTS_MAX_TAGS) {
        http_error(rs, 400, "tags: must be an array of at most %d tags", ALERTS_MAX_TAGS);
        return false;
    }
    json_array_foreach(arr, i, e) {
        const char *t = json_is_string(e) ? json_string_value(e) : NULL;
        if (!t || !alerts_valid_text(t, ALERTS_MAX_TAG_LEN, false) || t[0] == ' ' || t[strlen(t) - 1] == ' ') {
            http_error(rs, 400, "tags[%zu]: must be text of 1 to %d printable characters without spaces at the ends",
                       i, ALERTS_MAX_TAG_LEN);
            return false;
        }
        tags[n++] = t;
    }
    qsort(tags, n, sizeof(tags[0]), cmp_str);
    jsonw_init(&w);
    jsonw_array_begin(&w);
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(tags[i], tags[i - 1]) != 0)
            jsonw_str(&w, tags[i]);
    jsonw_array_end(&w);
    if (jsonw_failed(&w) || !(*out = strndup(w.buf, w.len))) {
        jsonw_free(&w);
        http_error(rs, 500, "out of memory");
        return false;
    }
    jsonw_free(&w);
    return true;
}

/* PATCH /api/v1/incidents/:id {status?, classification?, determination?, assigned_to?, tags?, name?} */
static void update_incident(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    struct store_incident_change ch = {0};
    struct store_incident cur = {0};
    char target[64], detail[1024], why[300] = "", *tags = NULL;
    json_t *body = NULL, *name;
    bool changed = false;
    int64_t id;
    int e;

    if (!alerts_route_id(rq, rs, "incident", &id))
        return;
    body = http_json_body(rq, rs);
    if (!body || !alerts_json_only(body, rs, "status", "classification", "determination", "assigned_to", "tags",
                                   "name", NULL))
        goto out;
    if (json_object_size(body) == 0) {
        http_error(rs, 400, "nothing to change: give status, classification, determination, assigned_to, tags or name");
        goto out;
    }
    if (!alerts_json_vocab(body, "status", alerts_incident_status, alerts_vocab_list("incident status"), false,
                           &ch.status, rs) ||
        !alerts_json_vocab(body, "classification", alerts_classification, alerts_vocab_list("classification"), true,
                           &ch.classification, rs) ||
        !alerts_json_assignee(rq, body, &ch.assigned_to, rs) || !json_tags(body, &tags, rs))
        goto out;
    if (ch.status && strcmp(ch.status, "redirected") == 0) {
        http_error(rs, 400, "status: must be one of %s (redirected comes from a merge)",
                   alerts_vocab_list("incident status"));
        goto out;
    }
    ch.tags_json = tags;
    name = json_object_get(body, "name");
    if (name) {
        if (json_is_null(name) || (json_is_string(name) && !*json_string_value(name))) {
            ch.name = "";
        } else if (!json_is_string(name) ||
                   !alerts_valid_text(json_string_value(name), STORE_INCIDENT_NAME_MAX, false)) {
            http_error(rs, 400, "name: must be text of 1 to %d printable characters, or null for the automatic name",
                       STORE_INCIDENT_NAME_MAX);
            goto out;
        } else {
            ch.name = json_string_value(name);
        }
    }
    e = store_incident_get(srv->store, id, &cur);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no incident %lld" : "cannot read incident %lld",
                   (long long)id);
        goto out;
    }
    if (json_object_get(body, "determination")) {
        json_t *d = json_object_get(body, "determination");
        const char *cls = ch.classification ? ch.classification : cur.classification;
        if (json_is_null(d) || (json_is_string(d) && !*json_string_value(d))) {
            ch.determination = "";
        } else if (!*cls) {
            http_error(rs, 400, "determination: give a classification first (%s)", alerts_vocab_list("classification"));
            goto out;
        } else if (!json_is_string(d) || !(ch.determination = alerts_determination(json_string_value(d), cls))) {
            http_error(rs, 400, "determination: with %s, one of %s", cls, alerts_determinations_for(cls));
            goto out;
        }
    }
    e = store_incident_update(srv->store, id, &ch, who->user_name, &changed, why, sizeof(why));
    if (e == -EPERM) {
        http_error(rs, 409, "%s", why);
        goto out;
    }
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no incident %lld" : "cannot change incident %lld",
                   (long long)id);
        goto out;
    }
    if (changed) {
        snprintf(target, sizeof(target), "incident:%lld", (long long)id);
        alerts_audit_detail(body, detail, sizeof(detail));
        audit_record(srv, who, http_remote_ip(rq), "incident.update", target, detail);
    }
    write_incident_page(rq, rs, id);
out:
    store_incident_clear(&cur);
    free(tags);
    json_decref(body);
}

/* POST /api/v1/incidents/:id/comments {text} */
static void add_comment(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    json_t *body = NULL, *text;
    char target[64], detail[64];
    int64_t id, cid = 0;
    struct jsonw *w;
    int e;

    if (!alerts_route_id(rq, rs, "incident", &id))
        return;
    body = http_json_body(rq, rs);
    if (!body || !alerts_json_only(body, rs, "text", NULL))
        goto out;
    text = json_object_get(body, "text");
    if (!json_is_string(text) || !alerts_valid_text(json_string_value(text), STORE_COMMENT_MAX, true)) {
        http_error(rs, 400, "text: must be text of 1 to %d characters (newlines and tabs allowed)", STORE_COMMENT_MAX);
        goto out;
    }
    e = store_incident_comment(srv->store, id, who->user_name, json_string_value(text), &cid);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no incident %lld" : "cannot comment on incident %lld",
                   (long long)id);
        goto out;
    }
    snprintf(target, sizeof(target), "incident:%lld", (long long)id);
    snprintf(detail, sizeof(detail), "{\"comment_id\":%lld}", (long long)cid);
    audit_record(srv, who, http_remote_ip(rq), "incident.comment", target, detail);
    http_status(rs, 201);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", cid);
    jsonw_kv_int(w, "incident_id", id);
    jsonw_kv_str(w, "author", who->user_name);
    alerts_kv_ms(w, "time", store_now_ms(srv->store));
    jsonw_kv_str(w, "text", json_string_value(text));
    jsonw_object_end(w);
out:
    json_decref(body);
}

/* POST /api/v1/incidents/:id/merge {into} */
static void merge_incident(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    json_t *body = NULL, *into;
    char target[64], detail[64], why[300] = "";
    int64_t id;
    int e;

    if (!alerts_route_id(rq, rs, "incident", &id))
        return;
    body = http_json_body(rq, rs);
    if (!body || !alerts_json_only(body, rs, "into", NULL))
        goto out;
    into = json_object_get(body, "into");
    if (!json_is_integer(into) || json_integer_value(into) <= 0 || json_integer_value(into) > (1LL << 53)) {
        http_error(rs, 400, "into: must be the id of the incident to merge into");
        goto out;
    }
    e = store_incident_merge(srv->store, id, json_integer_value(into), who->user_name, why, sizeof(why));
    if (e == -ENOENT || e == -EPERM) {
        http_error(rs, e == -ENOENT ? 404 : 409, "%s", why);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot merge the incidents (store error)");
        goto out;
    }
    snprintf(target, sizeof(target), "incident:%lld", (long long)id);
    snprintf(detail, sizeof(detail), "{\"into\":%lld}", (long long)json_integer_value(into));
    audit_record(srv, who, http_remote_ip(rq), "incident.merge", target, detail);
    write_incident_page(rq, rs, json_integer_value(into));
out:
    json_decref(body);
}

static const struct route incidents_routes[] = {
    {HTTP_GET, "/api/v1/incidents", ACCESS_USER, ROLE_VIEWER, 0, list_incidents, "the incident queue (filters)"},
    {HTTP_GET, "/api/v1/incidents/:id", ACCESS_USER, ROLE_VIEWER, 0, get_incident,
     "one incident: summary, alerts, devices, users, evidence, comments, activity"},
    {HTTP_PATCH, "/api/v1/incidents/:id", ACCESS_USER, ROLE_ANALYST, 16384, update_incident,
     "change an incident's status, classification, determination, assignee, tags or name"},
    {HTTP_POST, "/api/v1/incidents/:id/comments", ACCESS_USER, ROLE_ANALYST, 16384, add_comment,
     "comment on an incident"},
    {HTTP_POST, "/api/v1/incidents/:id/merge", ACCESS_USER, ROLE_ANALYST, 1024, merge_incident,
     "merge an incident into another"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module incidents_module = {
    .name = "incidents",
    .order = 36,
    .routes = incidents_routes,
};
SERVER_MODULE(incidents_module);
