/*
 * events.c — GET /api/v1/events: the stored events of a device or of the
 * fleet, newest first, for people (viewer and up).
 *
 *   ?device=NAME_OR_ID &type=process|file|network|logon|device[,...]
 *   &since=1h|RFC3339 &until=... &action=ActionType &limit=N
 *
 * Each event is a JSON object with the column names of schema.h (plus
 * EventType, DeviceId and ReceivedTime), rendered through the schema's
 * types. Strings come from agents and are untrusted bytes: the JSON writer
 * escapes whatever they hold, and JSON-typed fields are sent as strings.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/schema.h"
#include "server/events_time.h"
#include "server/server.h"
#include "server/store.h"

#define DEFAULT_LIMIT 100
#define DEFAULT_SINCE_NS (24LL * 3600 * 1000000000)
#define MAX_ACTION_LEN 64

static bool looks_like_device_id(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* The device id for NAME_OR_ID into id; answers the error itself. */
static bool resolve_device(struct http_request *rq, struct http_response *rs, const char *ref, char *id, size_t idlen)
{
    struct store_device d;
    int e;

    if (looks_like_device_id(ref)) {
        /* events may outlive the device's record; ids are stored lower-case */
        size_t i;
        for (i = 0; ref[i] && i + 1 < idlen; i++)
            id[i] = (char)tolower((unsigned char)ref[i]);
        id[i] = '\0';
        return true;
    }
    if (strlen(ref) > STORE_DEVICE_NAME_MAX) {
        http_error(rs, 400, "device: a name is at most %d bytes", STORE_DEVICE_NAME_MAX);
        return false;
    }
    memset(&d, 0, sizeof(d));
    e = store_device_find_by_name(http_server(rq)->store, ref, &d);
    if (!e)
        snprintf(id, idlen, "%s", d.id);
    store_device_clear(&d);
    if (e == -ENOENT)
        http_error(rs, 404, "no device with the id or name '%s'", ref);
    else if (e == -ENOTUNIQ)
        http_error(rs, 409, "several devices are named '%s'; use the device id", ref);
    else if (e)
        http_error(rs, 500, "cannot look the device up (store error)");
    return e == 0;
}

/* "process,file" → table mask; 0 when a word is unknown. */
static unsigned parse_types(const char *s)
{
    unsigned mask = 0;

    while (*s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        unsigned bit = schema_table_of_event_type(s, n);
        if (!bit)
            return 0;
        mask |= bit;
        s += n;
        if (*s == ',')
            s++;
    }
    return mask;
}

struct render {
    struct jsonw *w;
    size_t count;
};

static int render_row(const struct store_event_row *row, void *ctx)
{
    struct render *r = ctx;
    struct jsonw *w = r->w;
    bool typed = false;

    jsonw_object_begin(w);
    for (size_t i = 0; i < row->nvalues; i++) {
        const struct store_event_value *v = &row->values[i];
        const struct schema_field_info *fi = v->field;
        if (!typed && fi->id != F_TIMESTAMP) {
            jsonw_kv_str(w, "EventType", schema_event_type_name(row->table));
            typed = true;
        }
        switch (fi->type) {
        case SCHEMA_STR:
        case SCHEMA_JSON: /* agents' JSON is untrusted: a string */
            jsonw_key(w, fi->name);
            jsonw_strn(w, v->s, v->n);
            break;
        case SCHEMA_TIME:
            jsonw_kv_time(w, fi->name, (uint64_t)v->i);
            break;
        case SCHEMA_UINT:
            jsonw_kv_uint(w, fi->name, (uint64_t)v->i);
            break;
        case SCHEMA_INT:
            jsonw_kv_int(w, fi->name, v->i);
            break;
        case SCHEMA_BOOL:
            jsonw_kv_bool(w, fi->name, true);
            break;
        }
    }
    if (!typed)
        jsonw_kv_str(w, "EventType", schema_event_type_name(row->table));
    jsonw_key(w, "DeviceId");
    jsonw_str(w, row->device_id);
    jsonw_kv_time(w, "ReceivedTime", (uint64_t)row->received_ns);
    jsonw_object_end(w);
    r->count++;
    return jsonw_failed(w) ? -ENOMEM : 0;
}

static void get_events(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_events_filter f = {.limit = DEFAULT_LIMIT, .until_ns = INT64_MAX};
    const char *device = http_query(rq, "device"), *type = http_query(rq, "type");
    const char *since = http_query(rq, "since"), *until = http_query(rq, "until");
    const char *action = http_query(rq, "action"), *limit = http_query(rq, "limit");
    int64_t now_ns = store_now_ms(srv->store) * 1000000;
    char id[64], err[200];
    struct render r;
    struct jsonw *w;
    int e;

    f.since_ns = now_ns - DEFAULT_SINCE_NS;
    if (device && *device) {
        if (!resolve_device(rq, rs, device, id, sizeof(id)))
            return;
        f.device_id = id;
    }
    if (type && *type && !(f.tables = parse_types(type))) {
        http_error(rs, 400, "type: expected process, file, network, logon or device (or several, comma-separated)");
        return;
    }
    if (since && *since && events_parse_time(since, now_ns, &f.since_ns) != 0) {
        http_error(rs, 400, "since: expected a duration such as 30m, 1h, 7d or an RFC 3339 time");
        return;
    }
    if (until && *until && events_parse_time(until, now_ns, &f.until_ns) != 0) {
        http_error(rs, 400, "until: expected a duration such as 30m, 1h, 7d or an RFC 3339 time");
        return;
    }
    if (f.since_ns > f.until_ns) {
        http_error(rs, 400, "since is after until");
        return;
    }
    if (action && *action) {
        if (strlen(action) > MAX_ACTION_LEN) {
            http_error(rs, 400, "action: at most %d bytes", MAX_ACTION_LEN);
            return;
        }
        f.action = action;
    }
    if (limit && *limit) {
        char *end;
        unsigned long long n = strtoull(limit, &end, 10);
        if (!isdigit((unsigned char)*limit) || *end || n < 1 || n > STORE_EVENTS_MAX_LIMIT) {
            http_error(rs, 400, "limit: expected a number from 1 to %d", STORE_EVENTS_MAX_LIMIT);
            return;
        }
        f.limit = (size_t)n;
    }
    w = http_json(rs);
    r = (struct render){w, 0};
    jsonw_object_begin(w);
    jsonw_key(w, "events");
    jsonw_array_begin(w);
    e = store_events_query(srv->store, &f, render_row, &r, err, sizeof(err));
    if (e) {
        http_error(rs, e == -EINVAL ? 400 : 500, "%s", e == -ENOMEM ? "out of memory" : err);
        return;
    }
    jsonw_array_end(w);
    jsonw_kv_uint(w, "count", r.count);
    jsonw_kv_uint(w, "limit", f.limit);
    jsonw_object_end(w);
}

static const struct route events_routes[] = {
    {HTTP_GET, "/api/v1/events", ACCESS_USER, ROLE_VIEWER, 0, get_events,
     "stored events, newest first (device, type, since, until, action, limit)"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module events_module = {
    .name = "events",
    .order = 41,
    .routes = events_routes,
};
SERVER_MODULE(events_module);
