/*
 * alerts_util.c — the helpers the alerts and incidents routes share
 * (alerts_int.h): ids, people's input, list filters, device names and the
 * JSON form of alerts and evidence.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/alerts.h"
#include "server/alerts_int.h"
#include "server/events_time.h"
#include "server/server.h"
#include "server/store.h"

bool alerts_parse_id(const char *s, int64_t *out)
{
    int64_t v = 0;

    if (!s || !*s || strlen(s) > 16 || s[0] == '0')
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0 || v > (1LL << 53))
        return false;
    *out = v;
    return true;
}

bool alerts_route_id(struct http_request *rq, struct http_response *rs, const char *what, int64_t *out)
{
    const char *s = http_param(rq, "id");

    if (!alerts_parse_id(s, out)) {
        http_error(rs, 404, "no %s '%.40s' (ids are positive whole numbers)", what, s ? s : "");
        return false;
    }
    return true;
}

bool alerts_valid_text(const char *s, size_t max, bool multiline)
{
    size_t n = 0;

    if (!s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
        if (n >= max || *p == 0x7f)
            return false;
        if (*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t')))
            return false;
    }
    return n > 0;
}

bool alerts_json_only(json_t *obj, struct http_response *rs, ...)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        const char *name;
        bool known = false;
        va_list ap;

        va_start(ap, rs);
        while (!known && (name = va_arg(ap, const char *)) != NULL)
            known = strcmp(name, key) == 0;
        va_end(ap);
        if (!known) {
            http_error(rs, 400, "unknown member \"%.64s\"", key);
            return false;
        }
    }
    return true;
}

bool alerts_json_vocab(json_t *obj, const char *key, const char *(*canon)(const char *), const char *list,
                       bool clearable, const char **out, struct http_response *rs)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v)
        return true;
    if (clearable && (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))) {
        *out = "";
        return true;
    }
    if (!json_is_string(v) || !(*out = canon(json_string_value(v)))) {
        http_error(rs, 400, "%s: must be one of %s%s", key, list, clearable ? ", or null to clear it" : "");
        return false;
    }
    return true;
}

bool alerts_json_assignee(struct http_request *rq, json_t *obj, const char **out, struct http_response *rs)
{
    json_t *v = json_object_get(obj, "assigned_to");
    struct store_user u;
    int e;

    *out = NULL;
    if (!v)
        return true;
    if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v))) {
        *out = "";
        return true;
    }
    if (!json_is_string(v) || !alerts_valid_text(json_string_value(v), STORE_USER_NAME_MAX, false)) {
        http_error(rs, 400, "assigned_to: must be a user name, or null to unassign");
        return false;
    }
    e = store_user_get(http_server(rq)->store, json_string_value(v), &u);
    if (e == -ENOENT) {
        http_error(rs, 400, "assigned_to: there is no user named '%s'", json_string_value(v));
        return false;
    }
    if (e) {
        http_error(rs, 500, "cannot look the user up (store error)");
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool query_uint(struct http_request *rq, struct http_response *rs, const char *name, unsigned long min,
                       unsigned long max, unsigned long def, unsigned long *out)
{
    const char *s = http_query(rq, name);
    unsigned long v = 0;

    *out = def;
    if (!s)
        return true;
    if (!*s || strlen(s) > 10)
        goto bad;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v < min || v > max)
        goto bad;
    *out = v;
    return true;
bad:
    http_error(rs, 400, "%s: must be a whole number from %lu to %lu", name, min, max);
    return false;
}

/* A lowercase UUID in text. */
static bool looks_like_uuid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};
    size_t n = strlen(s);

    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool is_dash = i == (size_t)dash[0] || i == (size_t)dash[1] || i == (size_t)dash[2] || i == (size_t)dash[3];
        if (is_dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

bool alerts_parse_query(struct http_request *rq, struct http_response *rs, const char *(*status_canon)(const char *),
                        const char *status_list, struct alerts_query *q)
{
    struct server *srv = http_server(rq);
    const char *status = http_query(rq, "status"), *severity = http_query(rq, "severity");
    const char *device = http_query(rq, "device"), *assigned = http_query(rq, "assigned");
    const char *since = http_query(rq, "since");

    memset(q, 0, sizeof(*q));
    if (status && !(q->status = status_canon(status))) {
        http_error(rs, 400, "status: must be one of %s", status_list);
        return false;
    }
    if (severity && !(q->severity = alerts_severity_rank(severity))) {
        http_error(rs, 400, "severity: must be one of %s", alerts_vocab_list("severity"));
        return false;
    }
    if (device) {
        struct store_device d;
        int e;
        if (!alerts_valid_text(device, STORE_DEVICE_NAME_MAX, false)) {
            http_error(rs, 400, "device: must be a device id or name");
            return false;
        }
        if (looks_like_uuid(device)) {
            snprintf(q->device_id, sizeof(q->device_id), "%s", device);
        } else {
            e = store_device_find_by_name(srv->store, device, &d);
            if (e == -ENOENT) {
                http_error(rs, 400, "device: no device is named '%s'", device);
                return false;
            }
            if (e == -ENOTUNIQ) {
                http_error(rs, 400, "device: several devices are named '%s': use the device id", device);
                return false;
            }
            if (e) {
                http_error(rs, 500, "cannot look the device up (store error)");
                return false;
            }
            snprintf(q->device_id, sizeof(q->device_id), "%s", d.id);
            store_device_clear(&d);
        }
        q->has_device = true;
    }
    if (assigned && !alerts_valid_text(assigned, STORE_USER_NAME_MAX, false)) {
        http_error(rs, 400, "assigned: must be a user name");
        return false;
    }
    q->assigned_to = assigned;
    if (since) {
        int64_t ns;
        if (strlen(since) > 64 || events_parse_time(since, store_now_ms(srv->store) * 1000000, &ns) != 0) {
            http_error(rs, 400, "since: must be an RFC 3339 time (2026-11-26T10:12:00Z) or a duration back from now"
                                " (30m, 24h, 7d)");
            return false;
        }
        q->since_ms = ns / 1000000;
    }
    return query_uint(rq, rs, "limit", 1, ALERTS_LIST_MAX, ALERTS_LIST_DEFAULT, &q->limit) &&
           query_uint(rq, rs, "offset", 0, 100000000, 0, &q->offset);
}

const char *alerts_device_name(struct server *srv, struct alerts_names *names, const char *id)
{
    struct store_device d;
    size_t slot;

    for (size_t i = 0; i < names->n; i++)
        if (strcmp(names->v[i].id, id) == 0)
            return names->v[i].name;
    slot = names->n < sizeof(names->v) / sizeof(names->v[0]) ? names->n++ : 0;
    snprintf(names->v[slot].id, sizeof(names->v[slot].id), "%s", id);
    names->v[slot].name[0] = '\0';
    if (store_device_get(srv->store, id, &d) == 0) {
        snprintf(names->v[slot].name, sizeof(names->v[slot].name), "%s", d.name);
        store_device_clear(&d);
    }
    return names->v[slot].name;
}

void alerts_kv_ms(struct jsonw *w, const char *key, int64_t ms)
{
    if (ms > 0) {
        jsonw_kv_time(w, key, (uint64_t)ms * 1000000);
    } else {
        jsonw_key(w, key);
        jsonw_null(w);
    }
}

void alerts_kv_ns(struct jsonw *w, const char *key, int64_t ns)
{
    if (ns > 0) {
        jsonw_kv_time(w, key, (uint64_t)ns);
    } else {
        jsonw_key(w, key);
        jsonw_null(w);
    }
}

void alerts_kv_str_or_null(struct jsonw *w, const char *key, const char *v)
{
    jsonw_key(w, key);
    if (v && *v)
        jsonw_str(w, v);
    else
        jsonw_null(w);
}

void alerts_kv_raw(struct jsonw *w, const char *key, const char *json)
{
    const char *t = json && *json ? json : "[]";
    jsonw_key(w, key);
    jsonw_raw(w, t, strlen(t));
}

void alerts_write_device(struct jsonw *w, const char *id, const char *name)
{
    jsonw_object_begin(w);
    jsonw_kv_str(w, "id", id);
    alerts_kv_str_or_null(w, "name", name);
    jsonw_object_end(w);
}

void alerts_write_alert(struct server *srv, struct jsonw *w, const struct store_alert *a, struct alerts_names *names,
                        bool detail)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", a->id);
    jsonw_kv_str(w, "title", a->title);
    jsonw_kv_str(w, "severity", alerts_severity_name(a->severity) ? alerts_severity_name(a->severity) : "");
    jsonw_kv_str(w, "status", a->status);
    alerts_kv_str_or_null(w, "classification", a->classification);
    alerts_kv_str_or_null(w, "determination", a->determination);
    alerts_kv_str_or_null(w, "category", a->category);
    alerts_kv_raw(w, "tactics", a->tactics_json);
    alerts_kv_raw(w, "techniques", a->techniques_json);
    jsonw_kv_str(w, "detection_source", a->detection_source);
    alerts_kv_str_or_null(w, "rule_id", a->rule_id);
    jsonw_key(w, "device");
    alerts_write_device(w, a->device_id, alerts_device_name(srv, names, a->device_id));
    alerts_kv_str_or_null(w, "user", a->account);
    alerts_kv_str_or_null(w, "assigned_to", a->assigned_to);
    jsonw_key(w, "incident_id");
    if (a->incident_id > 0)
        jsonw_int(w, a->incident_id);
    else
        jsonw_null(w);
    jsonw_kv_int(w, "event_count", a->event_count);
    alerts_kv_ns(w, "first_event", a->first_event_ns);
    alerts_kv_ns(w, "last_event", a->last_event_ns);
    alerts_kv_ms(w, "created", a->created_ms);
    alerts_kv_ms(w, "last_activity", a->updated_ms);
    alerts_kv_ms(w, "resolved", a->resolved_ms);
    jsonw_kv_bool(w, "suppressed", a->suppressed);
    jsonw_key(w, "suppression_id");
    if (a->suppression_id > 0)
        jsonw_int(w, a->suppression_id);
    else
        jsonw_null(w);
    if (detail) {
        alerts_kv_str_or_null(w, "description", a->description);
        alerts_kv_str_or_null(w, "recommended_actions", a->recommended_actions);
        alerts_kv_str_or_null(w, "process_uid", a->process_uid);
        alerts_kv_str_or_null(w, "logon_id", a->logon_id);
        alerts_kv_str_or_null(w, "dedup_key", a->dedup_key);
        alerts_kv_raw(w, "event_seqs", a->seqs_json);
    }
    jsonw_object_end(w);
}

void alerts_write_evidence(struct jsonw *w, const struct store_evidence *e)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", e->id);
    jsonw_kv_int(w, "alert_id", e->alert_id);
    jsonw_kv_str(w, "type", e->type);
    jsonw_kv_str(w, "role", e->role);
    jsonw_kv_str(w, "value", e->value ? e->value : "");
    jsonw_key(w, "detail");
    if (e->detail_json && *e->detail_json)
        jsonw_raw(w, e->detail_json, strlen(e->detail_json));
    else
        jsonw_null(w);
    jsonw_kv_str(w, "verdict", e->verdict);
    jsonw_kv_str(w, "remediation_status", e->remediation_status);
    alerts_kv_ms(w, "created", e->created_ms);
    jsonw_object_end(w);
}

void alerts_audit_detail(json_t *body, char *buf, size_t buflen)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    snprintf(buf, buflen, "%s", text ? text : "{}");
    if (text && strlen(text) >= buflen && buflen > 4)
        memcpy(buf + buflen - 4, "...", 4);
    free(text);
}
