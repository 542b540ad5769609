/*
 * alerts_api.c — the alerts routes and the suppression rules routes:
 *
 *   GET   /api/v1/alerts                 viewer   the alert queue, filtered
 *   GET   /api/v1/alerts/:id             viewer   one alert with evidence, incident, story
 *   PATCH /api/v1/alerts/:id             analyst  status, classification, determination, assignee
 *   POST  /api/v1/alerts/:id/unlink      analyst  the alert leaves its incident for a new one
 *   GET   /api/v1/suppressions           viewer   the suppression rules
 *   POST  /api/v1/suppressions           analyst  a rule made from an alert
 *   DELETE /api/v1/suppressions/:id      admin    delete a rule
 *
 * Every change is checked whole before anything is stored (bad input
 * changes nothing), done in one store transaction, and audited. The table
 * is served by the alerts module (alerts.c). docs/api.md ("Alerts and
 * incidents") is the reference.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/alerts.h"
#include "server/alerts_int.h"
#include "server/audit.h"
#include "server/server.h"
#include "server/store.h"

/* GET /api/v1/alerts?status=&severity=&device=&assigned=&since=&limit=&offset= */
static void list_alerts(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_alert_filter f = {0};
    struct store_alert *v = NULL;
    struct alerts_names *names = NULL;
    struct alerts_query q;
    size_t n = 0, total = 0;
    struct jsonw *w;

    if (!alerts_parse_query(rq, rs, alerts_alert_status, alerts_vocab_list("status"), &q))
        return;
    f.status = q.status;
    f.severity = q.severity;
    f.device_id = q.has_device ? q.device_id : NULL;
    f.assigned_to = q.assigned_to;
    f.since_ms = q.since_ms;
    f.limit = q.limit;
    f.offset = q.offset;
    names = calloc(1, sizeof(*names));
    if (!names || store_alert_list(srv->store, &f, &v, &n, &total) != 0) {
        http_error(rs, 500, "cannot list the alerts (store error)");
        goto out;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "alerts");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        alerts_write_alert(srv, w, &v[i], names, false);
    jsonw_array_end(w);
    jsonw_kv_uint(w, "total", total);
    jsonw_object_end(w);
out:
    store_alerts_free(v, n);
    free(names);
}

/* The alert's "story" member: what the story module writes, else null. */
static void write_story(struct server *srv, struct jsonw *w, const struct store_alert *a)
{
    struct jsonw story;

    jsonw_key(w, "story");
    jsonw_init(&story);
    if (alerts_story_write(srv, a, &story) == 0 && !jsonw_failed(&story) && story.len > 0)
        jsonw_raw(w, story.buf, story.len);
    else
        jsonw_null(w);
    jsonw_free(&story);
}

/* Writes alert id in full (the answer of GET and of the changes). */
static void write_alert_page(struct http_request *rq, struct http_response *rs, int64_t id)
{
    struct server *srv = http_server(rq);
    struct store_alert a;
    struct store_evidence *ev = NULL;
    struct store_incident inc;
    struct alerts_names *names = calloc(1, sizeof(*names));
    size_t nev = 0;
    struct jsonw *w;
    int e;

    memset(&inc, 0, sizeof(inc));
    e = names ? store_alert_get(srv->store, id, &a) : -ENOMEM;
    if (e == -ENOENT) {
        http_error(rs, 404, "no alert %lld", (long long)id);
        free(names);
        return;
    }
    if (e) {
        http_error(rs, 500, "cannot read the alert (store error)");
        free(names);
        return;
    }
    if (store_evidence_list(srv->store, id, 0, &ev, &nev) != 0 ||
        (a.incident_id > 0 && store_incident_get(srv->store, a.incident_id, &inc) != 0)) {
        http_error(rs, 500, "cannot read the alert's evidence or incident (store error)");
        goto out;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "alert");
    alerts_write_alert(srv, w, &a, names, true);
    jsonw_key(w, "evidence");
    jsonw_array_begin(w);
    for (size_t i = 0; i < nev; i++)
        alerts_write_evidence(w, &ev[i]);
    jsonw_array_end(w);
    jsonw_key(w, "incident");
    if (a.incident_id > 0) {
        jsonw_object_begin(w);
        jsonw_kv_int(w, "id", inc.id);
        jsonw_kv_str(w, "name", inc.name);
        jsonw_kv_str(w, "severity", alerts_severity_name(inc.severity) ? alerts_severity_name(inc.severity) : "");
        jsonw_kv_str(w, "status", inc.status);
        jsonw_kv_int(w, "alert_count", inc.alert_count);
        jsonw_object_end(w);
    } else {
        jsonw_null(w);
    }
    write_story(srv, w, &a);
    jsonw_object_end(w);
out:
    store_incident_clear(&inc);
    store_evidence_free(ev, nev);
    store_alert_clear(&a);
    free(names);
}

/* GET /api/v1/alerts/:id */
static void get_alert(struct http_request *rq, struct http_response *rs)
{
    int64_t id;

    if (alerts_route_id(rq, rs, "alert", &id))
        write_alert_page(rq, rs, id);
}

/* PATCH /api/v1/alerts/:id {status?, classification?, determination?, assigned_to?} */
static void update_alert(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    struct store_alert_change ch = {0};
    struct store_alert cur = {0};
    char target[64], detail[1024];
    json_t *body = NULL;
    bool changed = false;
    int64_t id;
    int e;

    if (!alerts_route_id(rq, rs, "alert", &id))
        return;
    body = http_json_body(rq, rs);
    if (!body || !alerts_json_only(body, rs, "status", "classification", "determination", "assigned_to", NULL))
        goto out;
    if (json_object_size(body) == 0) {
        http_error(rs, 400, "nothing to change: give status, classification, determination or assigned_to");
        goto out;
    }
    if (!alerts_json_vocab(body, "status", alerts_alert_status, alerts_vocab_list("status"), false, &ch.status, rs) ||
        !alerts_json_vocab(body, "classification", alerts_classification, alerts_vocab_list("classification"), true,
                           &ch.classification, rs) ||
        !alerts_json_assignee(rq, body, &ch.assigned_to, rs))
        goto out;
    e = store_alert_get(srv->store, id, &cur);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no alert %lld" : "cannot read alert %lld",
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
    e = store_alert_update(srv->store, id, &ch, who->user_name, &changed);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no alert %lld" : "cannot change alert %lld",
                   (long long)id);
        goto out;
    }
    if (changed) {
        snprintf(target, sizeof(target), "alert:%lld", (long long)id);
        alerts_audit_detail(body, detail, sizeof(detail));
        audit_record(srv, who, http_remote_ip(rq), "alert.update", target, detail);
    }
    write_alert_page(rq, rs, id);
out:
    store_alert_clear(&cur);
    json_decref(body);
}

/* POST /api/v1/alerts/:id/unlink */
static void unlink_alert(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    struct store_alert cur;
    char target[64], detail[128], why[256] = "";
    int64_t id, fresh = 0;
    struct jsonw *w;
    int e;

    if (!alerts_route_id(rq, rs, "alert", &id))
        return;
    e = store_alert_get(srv->store, id, &cur);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no alert %lld" : "cannot read alert %lld",
                   (long long)id);
        return;
    }
    e = store_alert_unlink(srv->store, id, who->user_name, &fresh, why, sizeof(why));
    if (e == -EPERM) {
        http_error(rs, 409, "%s", why);
        goto out;
    }
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no alert %lld" : "cannot unlink alert %lld",
                   (long long)id);
        goto out;
    }
    snprintf(target, sizeof(target), "alert:%lld", (long long)id);
    snprintf(detail, sizeof(detail), "{\"from_incident\":%lld,\"to_incident\":%lld}", (long long)cur.incident_id,
             (long long)fresh);
    audit_record(srv, who, http_remote_ip(rq), "alert.unlink", target, detail);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_int(w, "alert_id", id);
    jsonw_kv_int(w, "previous_incident_id", cur.incident_id);
    jsonw_kv_int(w, "incident_id", fresh);
    jsonw_object_end(w);
out:
    store_alert_clear(&cur);
}

/* ------------------------------------------------------------------ suppression rules */

static void write_suppression(struct jsonw *w, const struct store_suppression *s)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", s->id);
    jsonw_kv_str(w, "rule_id", s->rule_id);
    alerts_kv_str_or_null(w, "device_id", s->device_id);
    alerts_kv_str_or_null(w, "value", s->value);
    jsonw_key(w, "from_alert");
    if (s->from_alert_id > 0)
        jsonw_int(w, s->from_alert_id);
    else
        jsonw_null(w);
    alerts_kv_str_or_null(w, "created_by", s->created_by);
    alerts_kv_ms(w, "created", s->created_ms);
    jsonw_kv_int(w, "hits", s->hits);
    alerts_kv_ms(w, "last_hit", s->last_hit_ms);
    jsonw_object_end(w);
}

/* GET /api/v1/suppressions */
static void list_suppressions(struct http_request *rq, struct http_response *rs)
{
    struct store_suppression *v = NULL;
    size_t n = 0;
    struct jsonw *w;

    if (store_suppression_list(http_server(rq)->store, NULL, &v, &n) != 0) {
        http_error(rs, 500, "cannot list the suppression rules (store error)");
        return;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "suppressions");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_suppression(w, &v[i]);
    jsonw_array_end(w);
    jsonw_object_end(w);
    store_suppressions_free(v, n);
}

/* Whether value is an evidence value of the alert or a top-level string
 * of an evidence detail (what the engine compares when it suppresses). */
static bool alert_has_value(const struct store_evidence *ev, size_t nev, const char *value)
{
    for (size_t i = 0; i < nev; i++) {
        json_t *d, *v;
        const char *k;
        bool found = false;

        if (ev[i].value && strcmp(ev[i].value, value) == 0)
            return true;
        if (!ev[i].detail_json)
            continue;
        d = json_loads(ev[i].detail_json, 0, NULL);
        json_object_foreach(d, k, v)
            found |= json_is_string(v) && strcmp(json_string_value(v), value) == 0;
        json_decref(d);
        if (found)
            return true;
    }
    return false;
}

/* POST /api/v1/suppressions {from_alert, device?: bool, value?} */
static void create_suppression(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    struct store_alert a = {0};
    struct store_evidence *ev = NULL;
    struct store_suppression s = {0};
    json_t *body, *from, *dev, *val;
    const char *value = NULL;
    char target[64], detail[1024];
    size_t nev = 0;
    int64_t alert_id = 0, id;
    struct jsonw *w;
    int e;

    body = http_json_body(rq, rs);
    if (!body || !alerts_json_only(body, rs, "from_alert", "device", "value", NULL))
        goto out;
    from = json_object_get(body, "from_alert");
    dev = json_object_get(body, "device");
    val = json_object_get(body, "value");
    if (!json_is_integer(from) || json_integer_value(from) <= 0 || json_integer_value(from) > (1LL << 53)) {
        http_error(rs, 400, "from_alert: must be the id of the alert to suppress");
        goto out;
    }
    alert_id = json_integer_value(from);
    if (dev && !json_is_boolean(dev)) {
        http_error(rs, 400, "device: must be true (only the alert's device) or false (every device)");
        goto out;
    }
    if (val && !json_is_null(val)) {
        if (!json_is_string(val) || !alerts_valid_text(json_string_value(val), STORE_EVIDENCE_VALUE_MAX, false)) {
            http_error(rs, 400, "value: must be text of 1 to %d printable characters (an evidence value of the alert)",
                       STORE_EVIDENCE_VALUE_MAX);
            goto out;
        }
        value = json_string_value(val);
    }
    e = store_alert_get(srv->store, alert_id, &a);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no alert %lld" : "cannot read alert %lld",
                   (long long)alert_id);
        goto out;
    }
    if (!a.rule_id[0]) {
        http_error(rs, 409, "alert %lld names no detection rule, so no rule can suppress it", (long long)alert_id);
        goto out;
    }
    if (value) {
        if (store_evidence_list(srv->store, alert_id, 0, &ev, &nev) != 0) {
            http_error(rs, 500, "cannot read the alert's evidence (store error)");
            goto out;
        }
        if (!alert_has_value(ev, nev, value)) {
            http_error(rs, 400, "value: '%.200s' is not in the evidence of alert %lld (give an evidence value, image"
                                " path or command line of it)", value, (long long)alert_id);
            goto out;
        }
    }
    e = store_suppression_create(srv->store, a.rule_id, json_is_true(dev) ? a.device_id : "", value, alert_id,
                                 who->user_name, &id);
    if (e == -EEXIST) {
        http_error(rs, 409, "the same suppression rule exists already");
        goto out;
    }
    if (e || store_suppression_get(srv->store, id, &s) != 0) {
        http_error(rs, 500, "cannot create the suppression rule (store error)");
        goto out;
    }
    snprintf(target, sizeof(target), "suppression:%lld", (long long)id);
    alerts_audit_detail(body, detail, sizeof(detail));
    audit_record(srv, who, http_remote_ip(rq), "suppression.create", target, detail);
    http_status(rs, 201);
    w = http_json(rs);
    write_suppression(w, &s);
out:
    free(s.value);
    store_evidence_free(ev, nev);
    store_alert_clear(&a);
    json_decref(body);
}

/* DELETE /api/v1/suppressions/:id */
static void delete_suppression(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_suppression s;
    char target[64], detail[300];
    int64_t id;
    int e;

    if (!alerts_parse_id(http_param(rq, "id"), &id)) {
        http_error(rs, 404, "no suppression rule '%.40s'", http_param(rq, "id") ? http_param(rq, "id") : "");
        return;
    }
    e = store_suppression_get(srv->store, id, &s);
    if (!e)
        e = store_suppression_delete(srv->store, id);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no suppression rule %lld" : "cannot delete rule %lld",
                   (long long)id);
        free(s.value);
        return;
    }
    snprintf(target, sizeof(target), "suppression:%lld", (long long)id);
    snprintf(detail, sizeof(detail), "{\"rule_id\":\"%.200s\"}", s.rule_id);
    audit_record(srv, http_principal(rq), http_remote_ip(rq), "suppression.delete", target, detail);
    write_suppression(http_json(rs), &s);
    free(s.value);
}

const struct route alerts_routes[] = {
    {HTTP_GET, "/api/v1/alerts", ACCESS_USER, ROLE_VIEWER, 0, list_alerts, "the alert queue (filters)"},
    {HTTP_GET, "/api/v1/alerts/:id", ACCESS_USER, ROLE_VIEWER, 0, get_alert,
     "one alert with its evidence, incident and story"},
    {HTTP_PATCH, "/api/v1/alerts/:id", ACCESS_USER, ROLE_ANALYST, 16384, update_alert,
     "change an alert's status, classification, determination or assignee"},
    {HTTP_POST, "/api/v1/alerts/:id/unlink", ACCESS_USER, ROLE_ANALYST, 0, unlink_alert,
     "move an alert out of its incident into a new one"},
    {HTTP_GET, "/api/v1/suppressions", ACCESS_USER, ROLE_VIEWER, 0, list_suppressions, "the suppression rules"},
    {HTTP_POST, "/api/v1/suppressions", ACCESS_USER, ROLE_ANALYST, 16384, create_suppression,
     "a suppression rule made from an alert"},
    {HTTP_DELETE, "/api/v1/suppressions/:id", ACCESS_USER, ROLE_ADMIN, 0, delete_suppression,
     "delete a suppression rule"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};
