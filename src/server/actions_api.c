/*
 * actions_api.c — the action center's routes (docs/api.md, "Actions"):
 * creating actions, listing and reading them, the CSV export of the
 * history, and approve / reject / cancel / undo. Viewers see; responders
 * act and approve. Input is checked before anything changes; the verbs
 * themselves live in actions.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonw.h"
#include "server/actions.h"
#include "server/actions_int.h"
#include "server/devices.h"
#include "server/devices_int.h"
#include "server/events_time.h"
#include "server/server.h"
#include "server/store_actions.h"

#define MAX_LIST 1000
#define MAX_CSV_ROWS 100000
#define NAME_CACHE 64

/* ------------------------------------------------------------ device names */

struct names {
    char id[NAME_CACHE][STORE_DEVICE_ID_LEN + 1];
    char name[NAME_CACHE][256];
    size_t n, next;
};

/* The name of device id ("" when unknown); cached per request. */
static const char *device_name(struct server *srv, struct names *nc, const char *id)
{
    struct store_device d;
    size_t slot;

    for (size_t i = 0; i < nc->n; i++)
        if (strcmp(nc->id[i], id) == 0)
            return nc->name[i];
    slot = nc->n < NAME_CACHE ? nc->n++ : nc->next++ % NAME_CACHE;
    snprintf(nc->id[slot], sizeof(nc->id[slot]), "%s", id);
    nc->name[slot][0] = '\0';
    if (store_device_get(srv->store, id, &d) == 0) {
        snprintf(nc->name[slot], sizeof(nc->name[slot]), "%s", d.name);
        store_device_clear(&d);
    }
    return nc->name[slot];
}

/* ------------------------------------------------------------ rendering */

static void kv_raw_or_null(struct jsonw *w, const char *key, const char *raw)
{
    jsonw_key(w, key);
    if (raw)
        jsonw_raw(w, raw, strlen(raw));
    else
        jsonw_null(w);
}

static void kv_str_or_null(struct jsonw *w, const char *key, const char *s)
{
    jsonw_key(w, key);
    if (s && *s)
        jsonw_str(w, s);
    else
        jsonw_null(w);
}

static void kv_id_or_null(struct jsonw *w, const char *key, int64_t id)
{
    jsonw_key(w, key);
    if (id)
        jsonw_int(w, id);
    else
        jsonw_null(w);
}

static void write_action(struct server *srv, struct names *nc, struct jsonw *w, const struct store_action *a)
{
    const struct action_type *t = actions_type(a->type);

    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", a->id);
    jsonw_kv_str(w, "type", a->type);
    jsonw_kv_str(w, "device_id", a->device_id);
    jsonw_kv_str(w, "device_name", device_name(srv, nc, a->device_id));
    kv_raw_or_null(w, "target", a->target_json);
    jsonw_kv_str(w, "comment", a->comment ? a->comment : "");
    jsonw_kv_str(w, "requested_by", a->requested_by);
    jsonw_kv_bool(w, "automated", a->automated);
    jsonw_kv_str(w, "state", store_action_state_name(a->state));
    devices_kv_time(w, "created", a->created_ms);
    devices_kv_time(w, "expires", a->expires_ms);
    devices_kv_time(w, "decided", a->decided_ms);
    kv_str_or_null(w, "decided_by", a->decided_by);
    kv_str_or_null(w, "decision_comment", a->decision_comment);
    devices_kv_time(w, "queued", a->queued_ms);
    devices_kv_time(w, "sent", a->sent_ms);
    devices_kv_time(w, "started", a->started_ms);
    devices_kv_time(w, "completed", a->completed_ms);
    kv_id_or_null(w, "command_id", a->command_id);
    kv_raw_or_null(w, "result", a->result_json);
    kv_str_or_null(w, "error", a->error);
    kv_raw_or_null(w, "progress", a->progress_json);
    devices_kv_time(w, "progress_time", a->progress_ms);
    devices_kv_time(w, "cancel_requested", a->cancel_ms);
    kv_str_or_null(w, "cancelled_by", a->cancelled_by);
    kv_id_or_null(w, "undo_of", a->undo_of);
    kv_id_or_null(w, "undone_by", a->undone_by);
    /* what undoing it would do, when it can be undone now */
    kv_str_or_null(w, "undo", t && t->undo && a->state == ACTION_SUCCEEDED && !a->undone_by ? t->undo : NULL);
    jsonw_object_end(w);
}

/* ------------------------------------------------------------ input */

/* :id of the route as an action id; 404 otherwise. */
static bool action_id_param(struct http_request *rq, struct http_response *rs, int64_t *id)
{
    const char *s = http_param(rq, "id");
    size_t len = s ? strlen(s) : 0;
    int64_t n = 0;

    if (len == 0 || len > 15)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            goto bad;
        n = n * 10 + (s[i] - '0');
    }
    if (n <= 0)
        goto bad;
    *id = n;
    return true;
bad:
    http_error(rs, 404, "no such action (action ids are positive numbers)");
    return false;
}

struct list_query {
    struct store_action_filter f;
    struct store_device device;
    unsigned long limit, offset;
};

/* Parses ?state=&pending=&device=&type=&since=&limit=&offset=. */
static bool parse_list(struct http_request *rq, struct http_response *rs, unsigned long max_limit,
                       unsigned long def_limit, struct list_query *q)
{
    struct server *srv = http_server(rq);
    const char *state = http_query(rq, "state"), *pending = http_query(rq, "pending");
    const char *device = http_query(rq, "device"), *type = http_query(rq, "type"), *since = http_query(rq, "since");

    memset(q, 0, sizeof(*q));
    if (!devices_query_uint(rq, rs, "limit", 1, max_limit, def_limit, &q->limit) ||
        !devices_query_uint(rq, rs, "offset", 0, 10000000, 0, &q->offset))
        return false;
    if (state && !(q->f.state = store_action_state_from_name(state))) {
        if (strcmp(state, "open") != 0) {
            http_error(rs, 400, "state: must be one of pending_approval, queued, sent, running, succeeded, failed, "
                                "cancelled, expired, rejected, open");
            return false;
        }
        q->f.open = true;
    }
    if (pending) {
        if (strcmp(pending, "1") != 0 && strcmp(pending, "true") != 0) {
            http_error(rs, 400, "pending: must be 1 or true (actions waiting for approval)");
            return false;
        }
        if (q->f.state && q->f.state != ACTION_PENDING) {
            http_error(rs, 400, "pending: contradicts state=%s", state);
            return false;
        }
        q->f.state = ACTION_PENDING;
    }
    if (type) {
        if (!actions_type(type)) {
            http_error(rs, 400, "type: unknown action type '%.32s'", devices_valid_text(type, 32) ? type : "?");
            return false;
        }
        q->f.type = type;
    }
    if (since) {
        int64_t ns;
        if (strlen(since) > 64 || events_parse_time(since, store_now_ms(srv->store) * 1000000, &ns) != 0) {
            http_error(rs, 400, "since: must be an RFC 3339 time (2026-11-26T10:12:00Z) or a duration back from now "
                                "(30m, 24h, 7d)");
            return false;
        }
        q->f.since_ms = ns / 1000000;
    }
    if (device) {
        if (devices_find(srv->store, rs, device, &q->device) != 0)
            return false;
        q->f.device_id = q->device.id;
    }
    return true;
}

/* The optional {"comment": "..."} body of a verb (an empty body is none).
 * Returns false after answering 400. *body is owned by the caller. */
static bool parse_comment(struct http_request *rq, struct http_response *rs, json_t **body, const char **comment)
{
    size_t len = 0;
    json_t *c;

    *body = NULL;
    *comment = NULL;
    http_body(rq, &len);
    if (len == 0)
        return true;
    *body = http_json_body(rq, rs);
    if (!*body || !devices_json_only(*body, rs, "comment", NULL))
        return false;
    c = json_object_get(*body, "comment");
    if (c && !json_is_null(c)) {
        if (!json_is_string(c) || !actions_valid_comment(json_string_value(c))) {
            http_error(rs, 400, "comment: must be text of at most 1000 bytes without control characters");
            return false;
        }
        *comment = json_string_value(c);
    }
    return true;
}

/* Answers with action id (status 200 or 201). */
static void answer_action(struct http_request *rq, struct http_response *rs, int64_t id, unsigned status)
{
    struct server *srv = http_server(rq);
    struct store_action a = {0};
    struct names *nc = calloc(1, sizeof(*nc));

    if (!nc || store_action_get(srv->store, id, &a) != 0) {
        http_error(rs, 500, "cannot read the action back");
    } else {
        http_status(rs, status);
        write_action(srv, nc, http_json(rs), &a);
    }
    store_action_clear(&a);
    free(nc);
}

/* ------------------------------------------------------------ routes */

/* POST /api/v1/actions {"type", "device", "target", "comment"} */
static void create_action(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct action_request req = {0};
    struct store_device d = {0};
    json_t *body, *type, *device, *target, *comment;
    char err[400];
    int64_t id = 0;
    int e;

    body = http_json_body(rq, rs);
    if (!body || !devices_json_only(body, rs, "type", "device", "target", "comment", NULL))
        goto out;
    type = json_object_get(body, "type");
    device = json_object_get(body, "device");
    target = json_object_get(body, "target");
    comment = json_object_get(body, "comment");
    if (!json_is_string(type)) {
        http_error(rs, 400, "type: must be an action type such as \"kill_process\"");
        goto out;
    }
    if (!json_is_string(device)) {
        http_error(rs, 400, "device: must be a device id or name");
        goto out;
    }
    if (target && !json_is_null(target) && !json_is_object(target)) {
        http_error(rs, 400, "target: must be an object");
        goto out;
    }
    if (comment && !json_is_null(comment) && !json_is_string(comment)) {
        http_error(rs, 400, "comment: must be text");
        goto out;
    }
    if (!actions_type(json_string_value(type))) {
        http_error(rs, 400, "type: unknown action type '%.32s'",
                   devices_valid_text(json_string_value(type), 32) ? json_string_value(type) : "?");
        goto out;
    }
    if (devices_find(srv->store, rs, json_string_value(device), &d) != 0)
        goto out;
    req.device_id = d.id;
    req.type = json_string_value(type);
    req.target = target && json_is_object(target) ? target : NULL;
    req.comment = json_is_string(comment) ? json_string_value(comment) : NULL;
    e = actions_create(srv, http_principal(rq), http_remote_ip(rq), &req, &id, err, sizeof(err));
    if (e) {
        http_error(rs, (unsigned)-e, "%s", err);
        goto out;
    }
    answer_action(rq, rs, id, 201);
out:
    store_device_clear(&d);
    json_decref(body);
}

/* GET /api/v1/actions?state=&pending=&device=&type=&since=&limit=&offset= */
static void list_actions(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_action *v = NULL;
    struct names *nc = NULL;
    struct list_query q;
    size_t n = 0, total = 0;
    struct jsonw *w;

    if (!parse_list(rq, rs, MAX_LIST, 100, &q))
        goto out;
    nc = calloc(1, sizeof(*nc));
    if (!nc || store_action_list(srv->store, &q.f, q.limit, q.offset, &v, &n, &total) != 0) {
        http_error(rs, 500, "cannot list the actions (store error)");
        goto out;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "actions");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_action(srv, nc, w, &v[i]);
    jsonw_array_end(w);
    jsonw_kv_int(w, "total", (int64_t)total);
    jsonw_kv_int(w, "limit", (int64_t)q.limit);
    jsonw_kv_int(w, "offset", (int64_t)q.offset);
    jsonw_object_end(w);
out:
    store_actions_free(v, n);
    store_device_clear(&q.device);
    free(nc);
}

/* GET /api/v1/actions/:id */
static void get_action(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_action a = {0};
    struct names *nc;
    int64_t id;
    int e;

    if (!action_id_param(rq, rs, &id))
        return;
    nc = calloc(1, sizeof(*nc));
    e = nc ? store_action_get(srv->store, id, &a) : -ENOMEM;
    if (e == -ENOENT)
        http_error(rs, 404, "no action %lld", (long long)id);
    else if (e)
        http_error(rs, 500, "cannot read the action (store error)");
    else
        write_action(srv, nc, http_json(rs), &a);
    store_action_clear(&a);
    free(nc);
}

enum verb { VERB_APPROVE, VERB_REJECT, VERB_CANCEL, VERB_UNDO };

static void verb(struct http_request *rq, struct http_response *rs, enum verb v)
{
    struct server *srv = http_server(rq);
    const char *comment;
    json_t *body = NULL;
    char err[400];
    int64_t id, undo_id = 0;
    int e = 0;

    if (!action_id_param(rq, rs, &id) || !parse_comment(rq, rs, &body, &comment))
        goto out;
    switch (v) {
    case VERB_APPROVE:
    case VERB_REJECT:
        e = actions_decide(srv, http_principal(rq), http_remote_ip(rq), id, v == VERB_APPROVE, comment, err,
                           sizeof(err));
        break;
    case VERB_CANCEL: e = actions_cancel(srv, http_principal(rq), http_remote_ip(rq), id, comment, err, sizeof(err)); break;
    case VERB_UNDO:
        e = actions_undo(srv, http_principal(rq), http_remote_ip(rq), id, comment, &undo_id, err, sizeof(err));
        break;
    }
    if (e) {
        http_error(rs, (unsigned)-e, "%s", err);
        goto out;
    }
    answer_action(rq, rs, v == VERB_UNDO ? undo_id : id, v == VERB_UNDO ? 201 : 200);
out:
    json_decref(body);
}

static void approve_action(struct http_request *rq, struct http_response *rs) { verb(rq, rs, VERB_APPROVE); }
static void reject_action(struct http_request *rq, struct http_response *rs) { verb(rq, rs, VERB_REJECT); }
static void cancel_action(struct http_request *rq, struct http_response *rs) { verb(rq, rs, VERB_CANCEL); }
static void undo_action(struct http_request *rq, struct http_response *rs) { verb(rq, rs, VERB_UNDO); }

/* ------------------------------------------------------------ CSV */

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *np;
        while (cap < b->len + n + 1)
            cap *= 2;
        np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One CSV field, always quoted (RFC 4180: quotes doubled). A field that a
 * spreadsheet would read as a formula (starting with = + - @ or a tab or
 * CR) gets a leading apostrophe. */
static void actions_csv_field(struct buf *b, const char *s, bool last)
{
    const char *p = s ? s : "";

    buf_add(b, "\"", 1);
    if (*p && strchr("=+-@\t\r", *p))
        buf_add(b, "'", 1);
    for (; *p; p++) {
        buf_add(b, p, 1);
        if (*p == '"')
            buf_add(b, "\"", 1);
    }
    buf_add(b, last ? "\"\r\n" : "\",", last ? 3 : 2);
}

static void csv_time(struct buf *b, int64_t ms)
{
    char t[40] = "";
    if (ms > 0) {
        time_t s = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        snprintf(t + strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm), 8, ".%03dZ", (int)(ms % 1000));
    }
    actions_csv_field(b, t, false);
}

static void csv_int(struct buf *b, int64_t v, bool last)
{
    char t[24] = "";
    if (v)
        snprintf(t, sizeof(t), "%lld", (long long)v);
    actions_csv_field(b, t, last);
}

/* GET /api/v1/actions.csv?(the list's filters) */
static void export_csv(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_action *v = NULL;
    struct names *nc = NULL;
    struct buf b = {0};
    struct list_query q;
    size_t n = 0, total = 0;

    if (!parse_list(rq, rs, MAX_CSV_ROWS, MAX_CSV_ROWS, &q))
        goto out;
    nc = calloc(1, sizeof(*nc));
    if (!nc || store_action_list(srv->store, &q.f, q.limit, q.offset, &v, &n, &total) != 0) {
        http_error(rs, 500, "cannot list the actions (store error)");
        goto out;
    }
    buf_add(&b, "id,created,device,device_id,type,target,requested_by,automated,state,decided_by,completed,comment,"
                "result,error,undo_of,undone_by\r\n",
            strlen("id,created,device,device_id,type,target,requested_by,automated,state,decided_by,completed,comment,"
                   "result,error,undo_of,undone_by\r\n"));
    for (size_t i = 0; i < n; i++) {
        const struct store_action *a = &v[i];
        csv_int(&b, a->id, false);
        csv_time(&b, a->created_ms);
        actions_csv_field(&b, device_name(srv, nc, a->device_id), false);
        actions_csv_field(&b, a->device_id, false);
        actions_csv_field(&b, a->type, false);
        actions_csv_field(&b, a->target_json, false);
        actions_csv_field(&b, a->requested_by, false);
        actions_csv_field(&b, a->automated ? "yes" : "no", false);
        actions_csv_field(&b, store_action_state_name(a->state), false);
        actions_csv_field(&b, a->decided_by, false);
        csv_time(&b, a->completed_ms);
        actions_csv_field(&b, a->comment, false);
        actions_csv_field(&b, a->result_json, false);
        actions_csv_field(&b, a->error, false);
        csv_int(&b, a->undo_of, false);
        csv_int(&b, a->undone_by, true);
    }
    if (b.failed) {
        http_error(rs, 500, "out of memory");
        goto out;
    }
    http_header_add(rs, "Content-Disposition", "attachment; filename=\"yamori-actions.csv\"");
    http_body_raw(rs, b.p, b.len, "text/csv; charset=utf-8");
out:
    free(b.p);
    store_actions_free(v, n);
    store_device_clear(&q.device);
    free(nc);
}

const struct route actions_routes[] = {
    {HTTP_POST, "/api/v1/actions", ACCESS_USER, ROLE_RESPONDER, 0, create_action,
     "create a response action on a device"},
    {HTTP_GET, "/api/v1/actions", ACCESS_USER, ROLE_VIEWER, 0, list_actions,
     "the action center: actions (?state=&pending=1&device=&type=&since=&limit=&offset=)"},
    {HTTP_GET, "/api/v1/actions.csv", ACCESS_USER, ROLE_VIEWER, 0, export_csv, "the action history as CSV"},
    {HTTP_GET, "/api/v1/actions/:id", ACCESS_USER, ROLE_VIEWER, 0, get_action, "one action"},
    {HTTP_POST, "/api/v1/actions/:id/approve", ACCESS_USER, ROLE_RESPONDER, 0, approve_action,
     "approve a pending action (not one's own)"},
    {HTTP_POST, "/api/v1/actions/:id/reject", ACCESS_USER, ROLE_RESPONDER, 0, reject_action,
     "reject a pending action (not one's own)"},
    {HTTP_POST, "/api/v1/actions/:id/cancel", ACCESS_USER, ROLE_RESPONDER, 0, cancel_action, "cancel an action"},
    {HTTP_POST, "/api/v1/actions/:id/undo", ACCESS_USER, ROLE_RESPONDER, 0, undo_action,
     "undo a succeeded action (creates the linked undo action)"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};
