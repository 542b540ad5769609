/*
 * live_api.c — the people's routes of live response (docs/live.md, "API";
 * docs/api.md, "Live response"): opening, listing, reading and closing
 * sessions, and running, reading, waiting for and cancelling commands in
 * them. Analysts and above; the person who opened a session is the only
 * one who runs and cancels commands in it (an admin may cancel and
 * close too); anyone of those roles may read it.
 *
 * One open session per device: a second person gets 409 naming the
 * holder, since when and how long it has been idle; the holder asking
 * again gets the session they have. A session opens only while its
 * device can be reached (live_device_online). Every request of the
 * holder on a session counts as activity for the idle timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonw.h"
#include "server/devices.h"
#include "server/devices_int.h"
#include "server/live.h"
#include "server/live_int.h"
#include "server/server.h"
#include "server/store.h"

#define MAX_LIST 1000

/* ------------------------------------------------------------ words and times */

void live_clock(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, outlen, "%H:%M:%S UTC", &tm);
}

void live_time_text(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
}

void live_duration(int64_t ms, char *out, size_t outlen)
{
    if (ms < 0)
        ms = 0;
    if (ms < 60 * 1000)
        snprintf(out, outlen, "%lld s", (long long)(ms / 1000));
    else if (ms < 2 * 3600 * 1000)
        snprintf(out, outlen, "%lld min", (long long)(ms / 60000));
    else
        snprintf(out, outlen, "%lld h", (long long)(ms / 3600000));
}

/* ------------------------------------------------------------ JSON */

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

void live_write_command(struct server *srv, struct jsonw *w, const struct store_live_command *c, int64_t offset)
{
    const struct live_spec *spec = live_spec_find(c->name);
    struct store_command d = {0};
    bool have_d = false;

    /* a running agent command: what the device reported so far */
    if (c->state == LIVE_RUNNING && c->device_command_id)
        have_d = store_command_get(srv->store, c->device_id, c->device_command_id, &d) == 0;

    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", c->id);
    jsonw_kv_int(w, "session", c->session_id);
    jsonw_kv_str(w, "device_id", c->device_id);
    jsonw_kv_str(w, "line", c->line ? c->line : "");
    jsonw_kv_str(w, "name", c->name);
    jsonw_key(w, "args");
    jsonw_raw(w, c->args_json ? c->args_json : "{}", strlen(c->args_json ? c->args_json : "{}"));
    jsonw_kv_str(w, "output_format", c->json_output ? "json" : "table");
    jsonw_kv_str(w, "user", c->user_name);
    jsonw_kv_str(w, "state", store_live_state_name(c->state));
    jsonw_kv_bool(w, "background", c->background);
    devices_kv_time(w, "created", c->created_ms);
    devices_kv_time(w, "started", c->started_ms ? c->started_ms : have_d ? d.progress_ms : 0);
    devices_kv_time(w, "ended", c->ended_ms);
    devices_kv_time(w, "deadline", c->deadline_ms);
    jsonw_key(w, "duration_ms");
    if (c->ended_ms)
        jsonw_int(w, c->ended_ms - c->created_ms);
    else
        jsonw_null(w);
    jsonw_key(w, "output");
    if (c->output_json)
        jsonw_raw(w, c->output_json, strlen(c->output_json));
    else
        jsonw_null(w);
    jsonw_key(w, "text");
    if (c->text)
        jsonw_str(w, c->text);
    else
        jsonw_null(w);
    kv_str_or_null(w, "error", c->error);
    kv_id_or_null(w, "action_id", c->action_id);
    kv_id_or_null(w, "device_command", c->device_command_id);
    jsonw_key(w, "file");
    if (c->file_sha256[0]) {
        char url[64];
        snprintf(url, sizeof(url), "/api/v1/live/files/%lld", (long long)c->id);
        jsonw_object_begin(w);
        jsonw_kv_str(w, "sha256", c->file_sha256);
        jsonw_kv_int(w, "size", c->file_size);
        jsonw_kv_str(w, "download", url);
        jsonw_object_end(w);
    } else {
        jsonw_null(w);
    }
    /* what the agent streamed: the text from offset (offset < 0: none, a summary only) */
    jsonw_key(w, "stream");
    if ((spec && spec->streams) || c->stream_bytes > 0) {
        char *buf = NULL;
        size_t len = 0;
        int64_t from = offset < 0 ? c->stream_bytes : offset > c->stream_bytes ? c->stream_bytes : offset;
        if (from < c->stream_bytes && live_stream_read(srv, c->id, from, LIVE_STREAM_ANSWER_MAX, &buf, &len) != 0)
            len = 0;
        jsonw_object_begin(w);
        jsonw_kv_int(w, "offset", from);
        if (offset >= 0) {
            jsonw_key(w, "text");
            jsonw_strn(w, buf ? buf : "", len);
        }
        jsonw_kv_int(w, "next", from + (int64_t)len);
        jsonw_kv_int(w, "bytes", c->stream_bytes);
        jsonw_kv_int(w, "dropped", c->stream_dropped);
        jsonw_object_end(w);
        free(buf);
    } else {
        jsonw_null(w);
    }
    jsonw_key(w, "progress");
    if (have_d && d.progress_json)
        jsonw_raw(w, d.progress_json, strlen(d.progress_json));
    else
        jsonw_null(w);
    devices_kv_time(w, "cancel_requested", c->cancel_ms);
    kv_str_or_null(w, "cancelled_by", c->cancelled_by);
    jsonw_object_end(w);
    store_command_clear(&d);
}

/* {"id", "device_id", "device_name", "user", "cwd", "state", ...} */
static void write_session(struct server *srv, struct jsonw *w, const struct store_live_session *s)
{
    struct store_device d = {0};
    struct store_live_command *v = NULL;
    int64_t now = store_now_ms(srv->store);
    size_t n = 0;
    char why[300];

    store_device_get(srv->store, s->device_id, &d);
    if (!s->closed_ms)
        store_live_command_list(srv->store, s->id, true, MAX_LIST, &v, &n);
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", s->id);
    jsonw_kv_str(w, "device_id", s->device_id);
    jsonw_kv_str(w, "device_name", d.name);
    jsonw_kv_str(w, "user", s->user_name);
    jsonw_kv_str(w, "cwd", s->cwd ? s->cwd : "/");
    jsonw_kv_str(w, "state", s->closed_ms ? "closed" : "open");
    jsonw_kv_bool(w, "online", !s->closed_ms && d.id[0] && live_device_online(srv, &d, why, sizeof(why)));
    devices_kv_time(w, "opened", s->opened_ms);
    devices_kv_time(w, "last_active", s->active_ms);
    jsonw_key(w, "idle_seconds");
    if (s->closed_ms)
        jsonw_null(w);
    else
        jsonw_int(w, (now > s->active_ms ? now - s->active_ms : 0) / 1000);
    jsonw_kv_int(w, "idle_limit_seconds", live_idle_ms(srv) / 1000);
    jsonw_kv_int(w, "running", (int64_t)n);
    devices_kv_time(w, "closed", s->closed_ms);
    kv_str_or_null(w, "closed_by", s->closed_by);
    kv_str_or_null(w, "close_reason", s->close_reason);
    jsonw_object_end(w);
    store_live_commands_free(v, n);
    store_device_clear(&d);
}

static void answer_session(struct server *srv, struct http_response *rs, const struct store_live_session *s,
                           unsigned status)
{
    struct jsonw *w = http_json(rs);

    http_status(rs, status);
    jsonw_object_begin(w);
    jsonw_key(w, "session");
    write_session(srv, w, s);
    jsonw_object_end(w);
}

static void answer_command(struct server *srv, struct http_response *rs, const struct store_live_command *c,
                           int64_t offset, unsigned status)
{
    struct jsonw *w = http_json(rs);

    http_status(rs, status);
    jsonw_object_begin(w);
    jsonw_key(w, "command");
    live_write_command(srv, w, c, offset);
    jsonw_object_end(w);
}

/* ------------------------------------------------------------ input */

/* :name of the route as a positive id; 404 (naming what) otherwise. */
static bool id_param(struct http_request *rq, struct http_response *rs, const char *name, const char *what,
                     int64_t *id)
{
    const char *s = http_param(rq, name);
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
    http_error(rs, 404, "no such %s (ids are positive numbers)", what);
    return false;
}

/* The session :id (404 / 500 answered). */
static int load_session(struct http_request *rq, struct http_response *rs, struct store_live_session *s)
{
    int64_t id;
    int e;

    memset(s, 0, sizeof(*s));
    if (!id_param(rq, rs, "id", "live response session", &id))
        return -ENOENT;
    e = store_live_session_get(http_server(rq)->store, id, s);
    if (e == -ENOENT)
        http_error(rs, 404, "no live response session %lld", (long long)id);
    else if (e)
        http_error(rs, 500, "cannot read the session (store error)");
    return e;
}

/* The command :cid of session s (404 / 500 answered). */
static int load_command(struct http_request *rq, struct http_response *rs, const struct store_live_session *s,
                        struct store_live_command *c)
{
    int64_t id;
    int e;

    memset(c, 0, sizeof(*c));
    if (!id_param(rq, rs, "cid", "live command", &id))
        return -ENOENT;
    e = store_live_command_get(http_server(rq)->store, id, c);
    if (e == -ENOENT || (!e && c->session_id != s->id)) {
        store_live_command_clear(c);
        http_error(rs, 404, "no command %lld in live response session %lld", (long long)id, (long long)s->id);
        return -ENOENT;
    }
    if (e)
        http_error(rs, 500, "cannot read the command (store error)");
    return e;
}

static bool is_holder(const struct http_request *rq, const struct store_live_session *s)
{
    return strcmp(http_principal(rq)->user_name, s->user_name) == 0;
}

/* Parses ?offset= (bytes of streamed text the caller has). */
static bool query_offset(struct http_request *rq, struct http_response *rs, int64_t *out)
{
    const char *v = http_query(rq, "offset");
    char *end;
    long long n;

    *out = 0;
    if (!v)
        return true;
    n = strtoll(v, &end, 10);
    if (!*v || *end || n < 0 || v[0] == '-' || v[0] == '+') {
        http_error(rs, 400, "offset: must be a number of bytes (0 or more)");
        return false;
    }
    *out = n;
    return true;
}

/* ------------------------------------------------------------ sessions */

/* 409 for a session someone else holds. */
static void held_by_other(struct server *srv, struct http_response *rs, const struct store_device *d,
                          const struct store_live_session *s)
{
    char opened[32], idle[32], limit[32];
    int64_t now = store_now_ms(srv->store);

    live_clock(s->opened_ms, opened, sizeof(opened));
    live_duration(now - s->active_ms, idle, sizeof(idle));
    live_duration(live_idle_ms(srv), limit, sizeof(limit));
    http_error(rs, 409,
               "%s has a live response session opened by %s at %s (idle %s); it ends when %s closes it or after %s "
               "idle",
               d->name, s->user_name, opened, idle, s->user_name, limit);
}

/* POST /api/v1/live/sessions {"device": "<id or name>"} */
static void open_session(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    struct store_live_session s = {0};
    struct store_device d = {0};
    json_t *body = http_json_body(rq, rs), *dev;
    char why[300];
    int64_t id;
    int e;

    if (!body || !devices_json_only(body, rs, "device", NULL))
        goto out;
    dev = json_object_get(body, "device");
    if (!json_is_string(dev) || json_string_length(dev) == 0) {
        http_error(rs, 400, "device: must be a device id or name");
        goto out;
    }
    if (devices_find(srv->store, rs, json_string_value(dev), &d) != 0)
        goto out;
    if (d.offboarded_ms) {
        http_error(rs, 409, "%s was offboarded; it takes no live response session", d.name);
        goto out;
    }
    for (int round = 0; round < 3; round++) {
        e = store_live_session_open_of(srv->store, d.id, &s);
        if (e == 0) {
            if (strcmp(s.user_name, who->user_name) != 0) {
                held_by_other(srv, rs, &d, &s);
                goto out;
            }
            /* the holder again: the session they have */
            store_live_session_touch(srv->store, s.id, store_now_ms(srv->store));
            store_live_session_clear(&s);
            if (store_live_session_open_of(srv->store, d.id, &s) == 0)
                answer_session(srv, rs, &s, 200);
            else
                http_error(rs, 500, "cannot read the session back");
            goto out;
        }
        if (e != -ENOENT) {
            http_error(rs, 500, "cannot read the device's sessions (store error)");
            goto out;
        }
        if (!live_device_online(srv, &d, why, sizeof(why))) {
            http_error(rs, 409, "%s: a live response session needs its agent connected", why);
            goto out;
        }
        e = store_live_session_open(srv->store, d.id, who->user_name, "/", store_now_ms(srv->store), &id);
        if (e == -EEXIST)
            continue; /* someone opened one meanwhile: look again */
        if (e) {
            http_error(rs, 500, "cannot open the session (store error)");
            goto out;
        }
        live_audit(srv, who, http_remote_ip(rq), "live.session.open", id, 0, "device_id", d.id, "device_name", d.name,
                   "user", who->user_name, NULL);
        if (store_live_session_get(srv->store, id, &s) != 0) {
            http_error(rs, 500, "cannot read the session back");
            goto out;
        }
        answer_session(srv, rs, &s, 201);
        goto out;
    }
    http_error(rs, 409, "the sessions of %s changed while opening; try again", d.name);
out:
    store_live_session_clear(&s);
    store_device_clear(&d);
    json_decref(body);
}

/* GET /api/v1/live/sessions?all=1&limit=N */
static void list_sessions(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_live_session *v = NULL;
    const char *all = http_query(rq, "all");
    unsigned long limit;
    struct jsonw *w;
    size_t n = 0;

    if (!devices_query_uint(rq, rs, "limit", 1, MAX_LIST, 100, &limit))
        return;
    if (all && strcmp(all, "1") != 0 && strcmp(all, "true") != 0) {
        http_error(rs, 400, "all: must be 1 or true (closed sessions too)");
        return;
    }
    if (store_live_session_list(srv->store, !all, limit, &v, &n) != 0) {
        http_error(rs, 500, "cannot list the sessions (store error)");
        return;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "sessions");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_session(srv, w, &v[i]);
    jsonw_array_end(w);
    jsonw_object_end(w);
    store_live_sessions_free(v, n);
}

/* GET /api/v1/live/sessions/:id */
static void get_session(struct http_request *rq, struct http_response *rs)
{
    struct store_live_session s;

    if (load_session(rq, rs, &s) != 0)
        return;
    if (is_holder(rq, &s) && !s.closed_ms)
        store_live_session_touch(http_server(rq)->store, s.id, store_now_ms(http_server(rq)->store));
    answer_session(http_server(rq), rs, &s, 200);
    store_live_session_clear(&s);
}

/* DELETE /api/v1/live/sessions/:id */
static void close_session(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    struct store_live_session s;
    char reason[100];
    int e;

    if (load_session(rq, rs, &s) != 0)
        return;
    if (s.closed_ms) {
        http_error(rs, 409, "live response session %lld is closed already (%s)", (long long)s.id, s.close_reason);
        goto out;
    }
    if (!is_holder(rq, &s) && who->role < ROLE_ADMIN) {
        http_error(rs, 403, "live response session %lld is %s's: only %s or an admin can close it", (long long)s.id,
                   s.user_name, s.user_name);
        goto out;
    }
    snprintf(reason, sizeof(reason), "closed by %s", who->user_name);
    e = live_close(srv, who, http_remote_ip(rq), s.id, reason);
    if (e == -ESTALE) {
        http_error(rs, 409, "live response session %lld is closed already", (long long)s.id);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot close the session (store error)");
        goto out;
    }
    store_live_session_clear(&s);
    if (load_session(rq, rs, &s) == 0)
        answer_session(srv, rs, &s, 200);
out:
    store_live_session_clear(&s);
}

/* ------------------------------------------------------------ commands */

/* Checks that the caller may run or cancel commands in open session s
 * (the holder; cancel: or an admin). Answers 403/409 otherwise. */
static bool may_act(struct http_request *rq, struct http_response *rs, const struct store_live_session *s,
                    bool admin_too)
{
    if (s->closed_ms) {
        http_error(rs, 409, "live response session %lld was closed (%s); open a new one", (long long)s->id,
                   s->close_reason);
        return false;
    }
    if (!is_holder(rq, s) && !(admin_too && http_principal(rq)->role >= ROLE_ADMIN)) {
        http_error(rs, 403, "live response session %lld is %s's: only %s runs commands in it", (long long)s->id,
                   s->user_name, s->user_name);
        return false;
    }
    return true;
}

/* POST /api/v1/live/sessions/:id/commands?wait=N {"line": "dir /tmp"} */
static void post_command(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_live_session s = {0};
    struct store_live_command c = {0};
    json_t *body = NULL, *line;
    unsigned long wait;
    int64_t id;

    if (!devices_query_uint(rq, rs, "wait", 0, LIVE_MAX_WAIT_S, 0, &wait))
        return;
    if (load_session(rq, rs, &s) != 0)
        goto out;
    body = http_json_body(rq, rs);
    if (!body || !devices_json_only(body, rs, "line", NULL))
        goto out;
    line = json_object_get(body, "line");
    if (!json_is_string(line)) {
        http_error(rs, 400, "line: must be a command line such as \"dir /tmp\" (help lists the commands)");
        goto out;
    }
    if (!may_act(rq, rs, &s, false))
        goto out;
    store_live_session_touch(srv->store, s.id, store_now_ms(srv->store));
    if (live_exec(rq, rs, &s, json_string_value(line), &id) != 0)
        goto out;
    if (store_live_command_get(srv->store, id, &c) != 0) {
        http_error(rs, 500, "cannot read the command back");
        goto out;
    }
    if (c.state == LIVE_RUNNING && !c.background && wait > 0 && live_wait(rq, rs, id, 0, (unsigned)wait, 201))
        goto out;
    answer_command(srv, rs, &c, 0, 201);
out:
    store_live_command_clear(&c);
    store_live_session_clear(&s);
    json_decref(body);
}

/* GET /api/v1/live/sessions/:id/commands?limit=N — the log, oldest first */
static void list_commands(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_live_session s;
    struct store_live_command *v = NULL;
    unsigned long limit;
    struct jsonw *w;
    size_t n = 0;

    if (!devices_query_uint(rq, rs, "limit", 1, MAX_LIST, 100, &limit))
        return;
    if (load_session(rq, rs, &s) != 0)
        return;
    if (store_live_command_list(srv->store, s.id, false, limit, &v, &n) != 0) {
        http_error(rs, 500, "cannot list the commands (store error)");
        goto out;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "commands");
    jsonw_array_begin(w);
    for (size_t i = n; i > 0; i--)
        live_write_command(srv, w, &v[i - 1], -1);
    jsonw_array_end(w);
    jsonw_object_end(w);
out:
    store_live_commands_free(v, n);
    store_live_session_clear(&s);
}

/* GET /api/v1/live/sessions/:id/commands/:cid?offset=K&wait=N */
static void get_command(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_live_session s;
    struct store_live_command c = {0};
    unsigned long wait;
    int64_t offset;

    if (!devices_query_uint(rq, rs, "wait", 0, LIVE_MAX_WAIT_S, 0, &wait) || !query_offset(rq, rs, &offset))
        return;
    if (load_session(rq, rs, &s) != 0)
        return;
    if (load_command(rq, rs, &s, &c) != 0)
        goto out;
    if (is_holder(rq, &s) && !s.closed_ms)
        store_live_session_touch(srv->store, s.id, store_now_ms(srv->store));
    if (c.state == LIVE_RUNNING && c.stream_bytes <= offset && wait > 0 &&
        live_wait(rq, rs, c.id, offset, (unsigned)wait, 200))
        goto out;
    answer_command(srv, rs, &c, offset, 200);
out:
    store_live_command_clear(&c);
    store_live_session_clear(&s);
}

/* POST /api/v1/live/sessions/:id/commands/:cid/cancel */
static void cancel_command(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    struct store_live_session s;
    struct store_live_command c = {0};
    char why[120];
    int64_t id;
    int e;

    if (load_session(rq, rs, &s) != 0)
        return;
    if (load_command(rq, rs, &s, &c) != 0 || !may_act(rq, rs, &s, true))
        goto out;
    snprintf(why, sizeof(why), "cancelled by %s", who->user_name);
    e = live_stop(srv, who, http_remote_ip(rq), c.id, LIVE_CANCELLED, why);
    if (e == -ESTALE) {
        http_error(rs, 409, "command %lld is %s already", (long long)c.id, store_live_state_name(c.state));
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot cancel the command (store error)");
        goto out;
    }
    live_audit(srv, who, http_remote_ip(rq), "live.command.cancel", s.id, c.id, "device_id", s.device_id, "line",
               c.line, NULL);
    id = c.id;
    store_live_command_clear(&c);
    if (store_live_command_get(srv->store, id, &c) != 0) {
        http_error(rs, 500, "cannot read the command back");
        goto out;
    }
    answer_command(srv, rs, &c, 0, 200);
out:
    store_live_command_clear(&c);
    store_live_session_clear(&s);
}

const struct route live_routes[] = {
    {HTTP_POST, "/api/v1/live/sessions", ACCESS_USER, ROLE_ANALYST, 0, open_session,
     "open a live response session on a device (or get yours)"},
    {HTTP_GET, "/api/v1/live/sessions", ACCESS_USER, ROLE_ANALYST, 0, list_sessions,
     "live response sessions (open ones; ?all=1 closed too)"},
    {HTTP_GET, "/api/v1/live/sessions/:id", ACCESS_USER, ROLE_ANALYST, 0, get_session, "one live response session"},
    {HTTP_DELETE, "/api/v1/live/sessions/:id", ACCESS_USER, ROLE_ANALYST, 0, close_session,
     "close a live response session (its holder or an admin)"},
    {HTTP_POST, "/api/v1/live/sessions/:id/commands", ACCESS_USER, ROLE_ANALYST, 0, post_command,
     "run a command line in a live response session (?wait=0..60)"},
    {HTTP_GET, "/api/v1/live/sessions/:id/commands", ACCESS_USER, ROLE_ANALYST, 0, list_commands,
     "a live response session's command log"},
    {HTTP_GET, "/api/v1/live/sessions/:id/commands/:cid", ACCESS_USER, ROLE_ANALYST, 0, get_command,
     "one live command (?offset=K streamed text from byte K, ?wait=0..60)"},
    {HTTP_POST, "/api/v1/live/sessions/:id/commands/:cid/cancel", ACCESS_USER, ROLE_ANALYST, 0, cancel_command,
     "cancel a running live command"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};
