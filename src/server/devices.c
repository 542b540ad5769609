/*
 * devices.c — the device inventory: heartbeats from agents, the list and
 * page of devices for people (with sensor health derived by
 * health_rules.c), tags, and offboarding.
 *
 * A heartbeat updates what the store keeps of the device (agent version,
 * sensor back end and limitations, host facts, the agent's own figures)
 * after every field was checked; one bad field refuses the whole
 * heartbeat. Health is computed when a device is shown, from the
 * heartbeat, the enrollment and the newest event ingest that the events
 * store reports (store_events_device_summary, owned by the ingest module;
 * while that is missing from the build, a device simply has no events).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/audit.h"
#include "server/devices.h"
#include "server/devices_int.h"
#include "server/server.h"
#include "server/store_isolation.h"

#define MAX_IPS 32
#define MAX_LIMITATIONS 64
#define MAX_LIMITATION_LEN 512
#define MAX_TAGS 32
#define MAX_TAG_LEN 64
#define MAX_SEARCH_LEN 256
#define MAX_NUMBER 9007199254740992.0 /* 2^53: what JSON numbers keep exactly */

/* The ingest module defines it; a build without it links (weakly) to NULL. */
#pragma weak store_events_device_summary

static int events_summary(struct store *st, const char *id, struct store_device_events *out)
{
    memset(out, 0, sizeof(*out));
    if (!store_events_device_summary)
        return -ENOSYS;
    return store_events_device_summary(st, id, out);
}

/* ------------------------------------------------------------------ heartbeat */

static bool valid_backend(const char *s)
{
    return devices_valid_word(s, 32, "_-");
}

static bool valid_version(const char *s)
{
    return devices_valid_word(s, 64, ".+~_-");
}

/* The isolation state as the agent applied it (docs/wire.md, "Heartbeat"). */
static bool valid_isolation(const char *s)
{
    return strcmp(s, "isolated") == 0 || strcmp(s, "not isolated") == 0 || strcmp(s, "isolation failing") == 0;
}

static bool valid_isolation_error(const char *s)
{
    return devices_valid_text(s, STORE_ISOLATION_ERROR_MAX);
}

static bool valid_os(const char *s)
{
    return devices_valid_text(s, 128);
}

static bool valid_distribution(const char *s)
{
    return devices_valid_text(s, 64);
}

/* A non-negative whole number member: -1 when absent or null; false (400
 * answered) for anything else. */
static bool json_count(json_t *obj, const char *key, int64_t *out, struct http_response *rs)
{
    json_t *v = json_object_get(obj, key);

    *out = -1;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (double)json_integer_value(v) > MAX_NUMBER) {
        http_error(rs, 400, "%s: must be a whole number from 0 to 2^53", key);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* A non-negative number member up to max. */
static bool json_amount(json_t *obj, const char *key, double max, bool *has, double *out, struct http_response *rs)
{
    json_t *v = json_object_get(obj, key);

    *has = false;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0 ||
        json_number_value(v) > max) {
        http_error(rs, 400, "%s: must be a number from 0 to %g", key, max);
        return false;
    }
    *has = true;
    *out = json_number_value(v);
    return true;
}

/* "ips": an array of addresses -> "a b c" in canonical form (malloc'd
 * into *out; NULL when absent). */
static bool json_ips(json_t *obj, char **out, struct http_response *rs)
{
    json_t *v = json_object_get(obj, "ips"), *e;
    size_t i, len = 0, cap = MAX_IPS * (INET6_ADDRSTRLEN + 1) + 1;
    char *text;

    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_array(v) || json_array_size(v) > MAX_IPS) {
        http_error(rs, 400, "ips: must be an array of at most %d IP addresses", MAX_IPS);
        return false;
    }
    text = calloc(1, cap);
    if (!text) {
        http_error(rs, 500, "out of memory");
        return false;
    }
    json_array_foreach(v, i, e) {
        unsigned char buf[16];
        char canon[INET6_ADDRSTRLEN];
        const char *s = json_is_string(e) ? json_string_value(e) : NULL;
        int af = s && strchr(s, ':') ? AF_INET6 : AF_INET;

        if (!s || strlen(s) >= INET6_ADDRSTRLEN || inet_pton(af, s, buf) != 1 ||
            !inet_ntop(af, buf, canon, sizeof(canon))) {
            http_error(rs, 400, "ips[%zu]: must be an IPv4 or IPv6 address such as 10.0.0.5 or fd00::5", i);
            free(text);
            return false;
        }
        len += (size_t)snprintf(text + len, cap - len, "%s%s", len ? " " : "", canon);
    }
    *out = text;
    return true;
}

/* "sensor_limitations": an array of lines -> JSON text (malloc'd). */
static bool json_limitations(json_t *obj, char **out, struct http_response *rs)
{
    json_t *v = json_object_get(obj, "sensor_limitations"), *e;
    struct jsonw w;
    size_t i;

    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_array(v) || json_array_size(v) > MAX_LIMITATIONS) {
        http_error(rs, 400, "sensor_limitations: must be an array of at most %d lines", MAX_LIMITATIONS);
        return false;
    }
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || !devices_valid_text(json_string_value(e), MAX_LIMITATION_LEN)) {
            http_error(rs, 400, "sensor_limitations[%zu]: must be text of 1 to %d printable characters", i,
                       MAX_LIMITATION_LEN);
            return false;
        }
    }
    jsonw_init(&w);
    jsonw_array_begin(&w);
    json_array_foreach(v, i, e)
        jsonw_str(&w, json_string_value(e));
    jsonw_array_end(&w);
    if (jsonw_failed(&w) || !(*out = strndup(w.buf, w.len))) {
        jsonw_free(&w);
        http_error(rs, 500, "out of memory");
        return false;
    }
    jsonw_free(&w);
    return true;
}

/* POST /api/v1/agent/heartbeat */
static void heartbeat(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *id = http_principal(rq)->device_id;
    struct store_heartbeat hb;
    char *ips = NULL, *limits = NULL;
    const char *isolation, *isolation_error;
    json_t *body;
    bool bad = false;
    int e;

    memset(&hb, 0, sizeof(hb));
    body = http_json_body(rq, rs);
    if (!body)
        goto out;
    hb.agent_version = devices_json_str(body, "agent_version", valid_version,
                                        "a version (1 to 64 letters, digits, '.', '+', '~', '_' or '-')", rs, &bad);
    hb.sensor_backend = devices_json_str(body, "sensor_backend", valid_backend,
                                         "a back end name (1 to 32 letters, digits, '_' or '-')", rs, &bad);
    hb.name = devices_json_str(body, "hostname", devices_valid_hostname,
                               "a host name (1 to 253 letters, digits, '-', '_' or '.')", rs, &bad);
    hb.os = devices_json_str(body, "os", valid_os, "text of 1 to 128 printable characters", rs, &bad);
    hb.distribution = devices_json_str(body, "distribution", valid_distribution,
                                       "text of 1 to 64 printable characters", rs, &bad);
    hb.kernel = devices_json_str(body, "kernel", valid_os, "text of 1 to 128 printable characters", rs, &bad);
    isolation = devices_json_str(body, "isolation", valid_isolation,
                                 "\"isolated\", \"not isolated\" or \"isolation failing\"", rs, &bad);
    isolation_error = devices_json_str(body, "isolation_error", valid_isolation_error,
                                       "text of 1 to 512 printable characters", rs, &bad);
    if (bad || !json_count(body, "events_lost", &hb.events_lost, rs) ||
        !json_count(body, "spool_bytes", &hb.spool_bytes, rs) ||
        !json_count(body, "spool_events", &hb.spool_events, rs) ||
        !json_count(body, "memory_bytes", &hb.memory_bytes, rs) ||
        !json_count(body, "upload_failures", &hb.upload_failures, rs) ||
        !json_amount(body, "events_per_second", 1e9, &hb.has_events_per_second, &hb.events_per_second, rs) ||
        !json_amount(body, "cpu_percent", 1e5, &hb.has_cpu_percent, &hb.cpu_percent, rs) ||
        !json_ips(body, &ips, rs) || !json_limitations(body, &limits, rs))
        goto out;
    hb.ips = ips;
    hb.limitations_json = limits;
    e = store_device_heartbeat(srv->store, id, &hb);
    if (e == -ENOENT) {
        http_error(rs, 401, "this device is not enrolled");
        goto out;
    }
    if (!e && isolation)
        e = store_isolation_report(srv->store, id, isolation, strcmp(isolation, "isolation failing") == 0 &&
                                   isolation_error ? isolation_error : "");
    if (e) {
        http_error(rs, 500, "cannot record the heartbeat (store error)");
        goto out;
    }
    jsonw_object_begin(http_json(rs));
    jsonw_kv_uint(http_json(rs), "heartbeat_seconds", srv->cfg.heartbeat_seconds);
    jsonw_object_end(http_json(rs));
out:
    free(ips);
    free(limits);
    json_decref(body);
}

/* ------------------------------------------------------------------ showing devices */

struct shown {
    struct store_device *d;
    struct store_device_events ev;
    bool have_events;
    enum device_health health;
    char why[400];
};

/* Derives the health of d now. */
static void assess(struct server *srv, struct store_device *d, struct shown *s)
{
    struct device_health_input in;
    const char *lines[MAX_LIMITATIONS];
    json_t *lim = json_loads(d->limitations_json ? d->limitations_json : "[]", 0, NULL), *e;
    size_t i, n = 0;

    memset(s, 0, sizeof(*s));
    s->d = d;
    s->have_events = events_summary(srv->store, d->id, &s->ev) == 0;
    json_array_foreach(lim, i, e)
        if (n < MAX_LIMITATIONS && json_is_string(e))
            lines[n++] = json_string_value(e);
    in = (struct device_health_input){
        .enrolled_ms = d->enrolled_ms,
        .offboarded_ms = d->offboarded_ms,
        .last_heartbeat_ms = d->last_heartbeat_ms,
        .last_ingest_ms = s->have_events ? s->ev.last_ingest_ms : 0,
        .heartbeat_interval_ms = (int64_t)srv->cfg.heartbeat_seconds * 1000,
        .heartbeat_seen = d->heartbeat_seen,
        .sensor_backend = d->sensor_backend,
        .limitations = lines,
        .nlimitations = n,
        .upload_failures = d->upload_failures,
    };
    s->health = devices_health(&in, store_now_ms(srv->store), s->why, sizeof(s->why));
    json_decref(lim);
}

static int64_t last_seen(const struct shown *s)
{
    int64_t ingest = s->have_events ? s->ev.last_ingest_ms : 0;
    return s->d->last_heartbeat_ms > ingest ? s->d->last_heartbeat_ms : ingest;
}

static void write_ips(struct jsonw *w, const char *ips)
{
    const char *p = ips ? ips : "";

    jsonw_key(w, "ips");
    jsonw_array_begin(w);
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);
        if (n)
            jsonw_strn(w, p, n);
        p += n;
        while (*p == ' ')
            p++;
    }
    jsonw_array_end(w);
}

static void kv_str_or_null(struct jsonw *w, const char *key, const char *v)
{
    jsonw_key(w, key);
    if (v && *v)
        jsonw_str(w, v);
    else
        jsonw_null(w);
}

/* One device as the inventory shows it; detail adds the device page's
 * fields. */
static void write_device(struct server *srv, struct jsonw *w, const struct shown *s, bool detail)
{
    const struct store_device *d = s->d;
    struct store_isolation iso;

    jsonw_object_begin(w);
    jsonw_kv_str(w, "id", d->id);
    jsonw_kv_str(w, "name", d->name);
    write_ips(w, d->ips);
    kv_str_or_null(w, "os", d->os);
    kv_str_or_null(w, "distribution", d->distribution);
    kv_str_or_null(w, "kernel", d->kernel);
    kv_str_or_null(w, "agent_version", d->agent_version);
    devices_kv_time(w, "first_seen", d->first_seen_ms);
    devices_kv_time(w, "last_seen", last_seen(s));
    jsonw_kv_str(w, "health", devices_health_name(s->health));
    jsonw_kv_str(w, "health_reason", s->why);
    kv_str_or_null(w, "sensor_backend", d->sensor_backend);
    /* as the agent reports it applied, not as requested */
    if (store_isolation_get(srv->store, d->id, &iso) != 0)
        snprintf(iso.state, sizeof(iso.state), "unknown");
    jsonw_kv_str(w, "isolation", iso.state);
    kv_str_or_null(w, "isolation_error", iso.error);
    jsonw_key(w, "tags");
    jsonw_raw(w, d->tags_json ? d->tags_json : "[]", strlen(d->tags_json ? d->tags_json : "[]"));
    kv_str_or_null(w, "group", d->group);
    jsonw_kv_bool(w, "online", !d->offboarded_ms && devices_commands_online(srv, d->id));
    devices_kv_time(w, "offboarded", d->offboarded_ms);
    if (detail) {
        jsonw_kv_str(w, "machine_id", d->machine_id);
        devices_kv_time(w, "enrolled", d->enrolled_ms);
        jsonw_kv_int(w, "enrolled_with_token", d->token_id);
        devices_kv_time(w, "last_heartbeat", d->last_heartbeat_ms);
        jsonw_key(w, "sensor_limitations");
        jsonw_raw(w, d->limitations_json ? d->limitations_json : "[]",
                  strlen(d->limitations_json ? d->limitations_json : "[]"));
        jsonw_key(w, "agent");
        if (d->heartbeat_seen) {
            char num[64];
            jsonw_object_begin(w);
            snprintf(num, sizeof(num), "%.17g", d->events_per_second);
            jsonw_key(w, "events_per_second");
            jsonw_raw(w, num, strlen(num));
            jsonw_kv_int(w, "events_lost", d->events_lost);
            jsonw_kv_int(w, "spool_bytes", d->spool_bytes);
            jsonw_kv_int(w, "spool_events", d->spool_events);
            snprintf(num, sizeof(num), "%.17g", d->cpu_percent);
            jsonw_key(w, "cpu_percent");
            jsonw_raw(w, num, strlen(num));
            jsonw_kv_int(w, "memory_bytes", d->memory_bytes);
            jsonw_key(w, "upload_failures");
            if (d->upload_failures >= 0)
                jsonw_int(w, d->upload_failures);
            else
                jsonw_null(w);
            jsonw_object_end(w);
        } else {
            jsonw_null(w);
        }
        jsonw_key(w, "events");
        if (s->have_events) {
            jsonw_object_begin(w);
            jsonw_kv_uint(w, "total", s->ev.events_total);
            jsonw_kv_uint(w, "last_seq", s->ev.last_seq);
            devices_kv_time(w, "last_event", s->ev.last_event_ms);
            devices_kv_time(w, "last_ingest", s->ev.last_ingest_ms);
            jsonw_object_end(w);
        } else {
            jsonw_null(w);
        }
    }
    jsonw_object_end(w);
}

/* GET /api/v1/devices?search=&health=&group=&limit=&offset= */
static void list_devices(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *search = http_query(rq, "search"), *group = http_query(rq, "group");
    const char *health_q = http_query(rq, "health");
    struct store_device_filter f = {0};
    struct store_device *v = NULL;
    enum device_health want = 0;
    unsigned long limit, offset;
    size_t n = 0, matched = 0;
    struct jsonw *w;

    if (search && *search && !devices_valid_text(search, MAX_SEARCH_LEN)) {
        http_error(rs, 400, "search: must be text of at most %d printable characters", MAX_SEARCH_LEN);
        return;
    }
    if (group && !devices_valid_group(group)) {
        http_error(rs, 400, "group: must be a group name (1 to 64 letters, digits, spaces, '.', '_' or '-')");
        return;
    }
    if (health_q && !(want = devices_health_from_name(health_q))) {
        http_error(rs, 400, "health: must be active, inactive, impaired communications, no sensor data or"
                            " misconfigured");
        return;
    }
    if (!devices_query_uint(rq, rs, "limit", 1, 10000, 1000, &limit) ||
        !devices_query_uint(rq, rs, "offset", 0, 100000000, 0, &offset))
        return;
    f.search = search && *search ? search : NULL;
    f.group = group;
    if (store_device_list(srv->store, &f, &v, &n) != 0) {
        http_error(rs, 500, "cannot list the devices (store error)");
        return;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "devices");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++) {
        struct shown s;
        assess(srv, &v[i], &s);
        if (want && s.health != want)
            continue;
        if (matched >= offset && matched - offset < limit)
            write_device(srv, w, &s, false);
        matched++;
    }
    jsonw_array_end(w);
    jsonw_kv_uint(w, "total", matched);
    jsonw_object_end(w);
    store_devices_free(v, n);
}

/* GET /api/v1/devices/:id (an id or a name) */
static void get_device(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_device d;
    struct shown s;

    if (devices_resolve(rq, rs, &d) != 0)
        return;
    assess(srv, &d, &s);
    write_device(srv, http_json(rs), &s, true);
    store_device_clear(&d);
}

/* ------------------------------------------------------------------ changing devices */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* PUT /api/v1/devices/:id/tags {"tags": ["prod", "web"]} */
static void set_tags(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *tags[MAX_TAGS];
    struct store_device d = {0};
    char target[300], *text = NULL;
    json_t *body = NULL, *arr, *e;
    struct jsonw w;
    struct shown s;
    size_t i, n = 0;
    int err;

    jsonw_init(&w);
    body = http_json_body(rq, rs);
    if (!body || !devices_json_only(body, rs, "tags", NULL))
        goto out;
    arr = json_object_get(body, "tags");
    if (!json_is_array(arr) || json_array_size(arr) > MAX_TAGS) {
        http_error(rs, 400, "tags: must be an array of at most %d tags", MAX_TAGS);
        goto out;
    }
    json_array_foreach(arr, i, e) {
        const char *t = json_is_string(e) ? json_string_value(e) : NULL;
        size_t tl = t ? strlen(t) : 0;
        if (!t || !devices_valid_text(t, MAX_TAG_LEN) || t[0] == ' ' || t[tl - 1] == ' ') {
            http_error(rs, 400, "tags[%zu]: must be text of 1 to %d printable characters without spaces at the ends",
                       i, MAX_TAG_LEN);
            goto out;
        }
        tags[n++] = t;
    }
    qsort(tags, n, sizeof(tags[0]), cmp_str);
    jsonw_array_begin(&w);
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(tags[i], tags[i - 1]) != 0)
            jsonw_str(&w, tags[i]);
    jsonw_array_end(&w);
    if (jsonw_failed(&w) || !(text = strndup(w.buf, w.len))) {
        http_error(rs, 500, "out of memory");
        goto out;
    }
    if (devices_resolve(rq, rs, &d) != 0)
        goto out;
    err = store_device_set_tags(srv->store, d.id, text);
    if (err) {
        http_error(rs, err == -ENOENT ? 404 : 500, "cannot set the tags");
        goto out;
    }
    snprintf(target, sizeof(target), "device:%s", d.name);
    audit_record(srv, http_principal(rq), http_remote_ip(rq), "device.tags", target, text);
    free(d.tags_json);
    d.tags_json = text;
    text = NULL;
    assess(srv, &d, &s);
    write_device(srv, http_json(rs), &s, true);
out:
    free(text);
    store_device_clear(&d);
    jsonw_free(&w);
    json_decref(body);
}

/* POST /api/v1/devices/:id/offboard */
static void offboard(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_device d;
    char id[STORE_DEVICE_ID_LEN + 1], target[300], detail[128];
    bool already = false;
    struct jsonw *w;
    int e;

    if (devices_resolve(rq, rs, &d) != 0)
        return;
    snprintf(id, sizeof(id), "%s", d.id);
    e = store_device_offboard(srv->store, id, &already);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, "cannot offboard the device");
        goto out;
    }
    devices_forget_credentials(srv, id);
    if (!already) {
        snprintf(target, sizeof(target), "device:%s", d.name);
        snprintf(detail, sizeof(detail), "{\"device_id\":\"%s\"}", id);
        audit_record(srv, http_principal(rq), http_remote_ip(rq), "device.offboard", target, detail);
        log_info("offboarded %s (%s)", d.name, id);
    }
    store_device_clear(&d);
    if (store_device_get(srv->store, id, &d) != 0) {
        http_error(rs, 500, "cannot read the device back");
        goto out;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "id", d.id);
    jsonw_kv_str(w, "name", d.name);
    devices_kv_time(w, "offboarded", d.offboarded_ms);
    jsonw_kv_bool(w, "already_offboarded", already);
    jsonw_object_end(w);
out:
    store_device_clear(&d);
}

static const struct route devices_routes[] = {
    {HTTP_POST, "/api/v1/agent/heartbeat", ACCESS_DEVICE, ROLE_NONE, 0, heartbeat, "agent heartbeat and health"},
    {HTTP_GET, "/api/v1/devices", ACCESS_USER, ROLE_VIEWER, 0, list_devices, "the device inventory"},
    {HTTP_GET, "/api/v1/devices/:id", ACCESS_USER, ROLE_VIEWER, 0, get_device, "one device (by id or name)"},
    {HTTP_PUT, "/api/v1/devices/:id/tags", ACCESS_USER, ROLE_ANALYST, 0, set_tags, "replace a device's tags"},
    {HTTP_POST, "/api/v1/devices/:id/offboard", ACCESS_USER, ROLE_ADMIN, 0, offboard,
     "offboard a device (revoke its secret)"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module devices_module = {
    .name = "devices",
    .order = 30,
    .routes = devices_routes,
};
SERVER_MODULE(devices_module);
