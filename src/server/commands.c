/*
 * commands.c — the command channel between people (or the server itself)
 * and agents.
 *
 * Commands wait in a per-device queue in the store. An agent fetches them
 * with a long poll (GET /api/v1/agent/commands?wait=N): when nothing
 * waits, the request is deferred (http_defer: the connection is suspended
 * and costs no thread) and its id is remembered for the device. Queueing
 * a command then takes that id and completes the request with the
 * command at once. Handing out is a store transaction (queued -> sent),
 * so each delivery attempt goes to one request; when the completion
 * fails (the poll timed out or its client left) the hand-out is taken
 * back and the next poll gets the command.
 *
 * No wake-up is lost: a poll checks for pending commands and registers
 * its waiter under the lock of the device's stripe, and a queuer takes
 * the waiter under the same lock after its command is committed; so
 * either the poll sees the command or the queuer sees the poll. The
 * deferral callbacks run under the HTTP layer's lock and only write the
 * response; the stripe locks are taken before that lock, never inside it.
 *
 * The action center (actions.c) is told of every change of a command it
 * may carry (handed out, taken back, progress, result) through
 * actions_command_changed(), so an action's state follows its command;
 * live response (live.c) is told of every result through
 * live_command_changed(), so a live command ends as its device answers.
 *
 * Waiters live in this server's memory: with several server nodes on one
 * store, a command queued on another node reaches a waiting agent when its
 * poll ends (at most `wait` seconds later).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "server/actions.h"
#include "server/audit.h"
#include "server/devices.h"
#include "server/devices_int.h"
#include "server/live.h"
#include "server/server.h"

#define STRIPES 64
#define WAIT_BUCKETS 1024
#define POLL_BATCH 50
#define MAX_WAIT_S 60
#define MAX_ARGS_BYTES (16 * 1024)
#define MAX_RESULT_BYTES (256 * 1024)
#define MAX_ERROR_LEN 4096
#define MAX_LIST 1000
#define MAX_PROGRESS_BYTES 4096
#define MAX_PROGRESS_MESSAGE 512

struct waiter {
    char device_id[40]; /* as in struct principal */
    uint64_t defer_id;
    uint64_t deadline_ms; /* monotonic */
    struct waiter *next;
};

struct channel {
    pthread_mutex_t locks[STRIPES];
    struct waiter *buckets[WAIT_BUCKETS]; /* bucket b under locks[b % STRIPES] */
};

static const struct server_module commands_module;
static const char empty_list[] = "{\"commands\":[]}";

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t bucket_of(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)(h % WAIT_BUCKETS);
}

static pthread_mutex_t *lock_of(struct channel *ch, size_t bucket)
{
    return &ch->locks[bucket % STRIPES];
}

/* ------------------------------------------------------------------ command types */

extern const struct device_command_type *const __start_yamori_command_types[] __attribute__((weak));
extern const struct device_command_type *const __stop_yamori_command_types[] __attribute__((weak));

const struct device_command_type *devices_command_type(const char *name)
{
    const struct device_command_type *const *t = __start_yamori_command_types;
    size_t n = t ? (size_t)(__stop_yamori_command_types - t) : 0;

    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i]->name, name) == 0)
            return t[i];
    return NULL;
}

void devices_command_types(void (*fn)(const struct device_command_type *t, void *ctx), void *ctx)
{
    const struct device_command_type *const *t = __start_yamori_command_types;
    size_t n = t ? (size_t)(__stop_yamori_command_types - t) : 0;

    for (size_t i = 0; i < n; i++)
        fn(t[i], ctx);
}

/* ping: the agent answers with its version and its clock. */
static int ping_output(json_t *output, char *err, size_t errlen)
{
    json_t *version = json_object_get(output, "agent_version"), *t = json_object_get(output, "time");

    if (!json_is_object(output) || !json_is_string(version) ||
        !devices_valid_word(json_string_value(version), 64, ".+~_-") || !json_is_string(t) ||
        !devices_valid_text(json_string_value(t), 64)) {
        snprintf(err, errlen, "a ping's output must be {\"agent_version\": \"...\", \"time\": \"<RFC 3339>\"}");
        return -EINVAL;
    }
    return 0;
}

static const struct device_command_type ping_type = {
    .name = "ping",
    .min_role = ROLE_RESPONDER,
    .summary = "the agent answers with its version and time (tests the channel)",
    .validate_args = NULL,
    .validate_output = ping_output,
};
DEVICE_COMMAND_TYPE(ping_type);

/* ------------------------------------------------------------------ waiters */

/* With the stripe lock held: remembers defer_id as device's waiting poll;
 * returns the one it replaces (0 when none). */
static uint64_t waiter_put(struct channel *ch, size_t b, const char *dev, uint64_t defer_id, uint64_t deadline)
{
    struct waiter *w;
    uint64_t old = 0;

    for (w = ch->buckets[b]; w && strcmp(w->device_id, dev) != 0; w = w->next)
        ;
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w)
            return 0; /* the poll still ends at its deadline; it only misses the early wake-up */
        snprintf(w->device_id, sizeof(w->device_id), "%s", dev);
        w->next = ch->buckets[b];
        ch->buckets[b] = w;
    } else {
        old = w->defer_id;
    }
    w->defer_id = defer_id;
    w->deadline_ms = deadline;
    return old;
}

/* With the stripe lock held: takes the device's waiting poll (0 when none
 * or when it has timed out). */
static uint64_t waiter_take(struct channel *ch, size_t b, const char *dev)
{
    for (struct waiter **pp = &ch->buckets[b]; *pp; pp = &(*pp)->next) {
        struct waiter *w = *pp;
        if (strcmp(w->device_id, dev) == 0) {
            uint64_t id = w->deadline_ms > mono_ms() ? w->defer_id : 0;
            *pp = w->next;
            free(w);
            return id;
        }
    }
    return 0;
}

bool devices_commands_online(struct server *srv, const char *device_id)
{
    struct channel *ch = server_module_state(srv, &commands_module);
    size_t b = bucket_of(device_id);
    bool online = false;

    if (!ch)
        return false;
    pthread_mutex_lock(lock_of(ch, b));
    for (struct waiter *w = ch->buckets[b]; w; w = w->next)
        if (strcmp(w->device_id, device_id) == 0)
            online = w->deadline_ms > mono_ms();
    pthread_mutex_unlock(lock_of(ch, b));
    return online;
}

/* ------------------------------------------------------------------ rendering */

struct text {
    const char *buf;
    size_t len;
};

/* Deferral callbacks: they only write the response. */
static void fill_text(struct http_response *rs, void *ctx)
{
    const struct text *t = ctx;
    http_body_raw(rs, t->buf, t->len, "application/json");
}

static void fill_empty(struct http_response *rs, void *ctx)
{
    (void)ctx;
    http_body_raw(rs, empty_list, sizeof(empty_list) - 1, "application/json");
}

/* What an agent receives: {"commands": [{"id", "type", "args", "created"}]}. */
static void write_agent_commands(struct jsonw *w, const struct store_command *v, size_t n)
{
    jsonw_object_begin(w);
    jsonw_key(w, "commands");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_object_begin(w);
        jsonw_kv_int(w, "id", v[i].id);
        jsonw_kv_str(w, "type", v[i].type);
        jsonw_key(w, "args");
        jsonw_raw(w, v[i].args_json, strlen(v[i].args_json));
        devices_kv_time(w, "created", v[i].created_ms);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    jsonw_object_end(w);
}

/* What people see of a command. */
static void write_command(struct jsonw *w, const struct store_command *c)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", c->id);
    jsonw_kv_str(w, "device_id", c->device_id);
    jsonw_kv_str(w, "type", c->type);
    jsonw_key(w, "args");
    jsonw_raw(w, c->args_json, strlen(c->args_json));
    jsonw_kv_str(w, "status", store_command_status_name(c->status));
    devices_kv_time(w, "created", c->created_ms);
    devices_kv_time(w, "sent", c->sent_ms);
    devices_kv_time(w, "completed", c->completed_ms);
    jsonw_kv_int(w, "attempts", c->attempts);
    jsonw_kv_str(w, "requested_by", c->requested_by);
    jsonw_key(w, "output");
    if (c->output_json)
        jsonw_raw(w, c->output_json, strlen(c->output_json));
    else
        jsonw_null(w);
    jsonw_key(w, "error");
    if (c->error)
        jsonw_str(w, c->error);
    else
        jsonw_null(w);
    jsonw_key(w, "progress");
    if (c->progress_json)
        jsonw_raw(w, c->progress_json, strlen(c->progress_json));
    else
        jsonw_null(w);
    devices_kv_time(w, "progress_time", c->progress_ms);
    devices_kv_time(w, "expires", c->expires_ms);
    devices_kv_time(w, "cancel_requested", c->cancel_ms);
    jsonw_object_end(w);
}

/* ------------------------------------------------------------------ waking a poll */

void devices_commands_wake(struct server *srv, const char *device_id)
{
    struct channel *ch = server_module_state(srv, &commands_module);
    size_t b = bucket_of(device_id);

    if (!ch)
        return;
    /* a few rounds: a hand-out that missed its poll is taken back, and a
     * newer poll may be waiting by then */
    for (int round = 0; round < 3; round++) {
        struct store_command *v = NULL;
        struct jsonw w;
        struct text t;
        uint64_t id;
        size_t n = 0;
        bool delivered;

        pthread_mutex_lock(lock_of(ch, b));
        id = waiter_take(ch, b, device_id);
        pthread_mutex_unlock(lock_of(ch, b));
        if (!id)
            return;
        if (store_commands_claim(srv->store, device_id, POLL_BATCH, &v, &n) != 0) {
            log_error("commands: cannot hand out the commands of %s; its poll will retry", device_id);
            return;
        }
        jsonw_init(&w);
        write_agent_commands(&w, v, n);
        if (jsonw_failed(&w)) {
            store_commands_unclaim(srv->store, v, n);
            store_commands_free(v, n);
            jsonw_free(&w);
            return;
        }
        for (size_t i = 0; i < n; i++)
            actions_command_changed(srv, v[i].id); /* sent: before the device can answer */
        t.buf = w.buf;
        t.len = w.len;
        delivered = http_deferred_complete(id, fill_text, &t);
        jsonw_free(&w);
        if (!delivered && n > 0 && store_commands_unclaim(srv->store, v, n) != 0)
            log_error("commands: cannot take back commands of %s (they will be handed out again later)", device_id);
        for (size_t i = 0; !delivered && i < n; i++)
            actions_command_changed(srv, v[i].id); /* queued again */
        store_commands_free(v, n);
        if (delivered || n == 0)
            return;
    }
}

/* ------------------------------------------------------------------ queueing */

int devices_command_queue(struct server *srv, const struct principal *who, const char *remote_ip,
                          const char *device_id, const char *type, json_t *args, int64_t *id, char *err,
                          size_t errlen)
{
    return devices_command_queue_opts(srv, who, remote_ip, device_id, type, args, NULL, id, err, errlen);
}

int devices_command_queue_opts(struct server *srv, const struct principal *who, const char *remote_ip,
                               const char *device_id, const char *type, json_t *args,
                               const struct device_command_opts *opts, int64_t *id, char *err, size_t errlen)
{
    const struct device_command_type *t = type ? devices_command_type(type) : NULL;
    char target[80], detail[160], *args_text = NULL;
    int e = 0;

    if (!t) {
        snprintf(err, errlen, "type: unknown command type '%.32s'", type ? type : "");
        return -400;
    }
    if (who && who->kind == PRINCIPAL_USER && who->role < t->min_role) {
        snprintf(err, errlen, "a %s command needs the %s role", t->name, role_name(t->min_role));
        return -403;
    }
    if (args && !json_is_object(args)) {
        snprintf(err, errlen, "args: must be an object");
        return -400;
    }
    if (t->validate_args) {
        json_t *empty = args ? NULL : json_object();
        e = t->validate_args(args ? args : empty, err, errlen);
        json_decref(empty);
        if (e)
            return -400;
    } else if (args && json_object_size(args) != 0) {
        snprintf(err, errlen, "args: a %s command takes no arguments", t->name);
        return -400;
    }
    args_text = args ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    if (!args_text) {
        snprintf(err, errlen, "out of memory");
        return -500;
    }
    if (strlen(args_text) > MAX_ARGS_BYTES) {
        snprintf(err, errlen, "args: larger than %d bytes", MAX_ARGS_BYTES);
        e = -413;
        goto out;
    }
    e = store_command_create_until(srv->store, device_id, t->name, args_text,
                                   opts && opts->requested_by ? opts->requested_by
                                   : who && who->kind == PRINCIPAL_USER ? who->user_name
                                                                          : "server",
                                   DEVICE_MAX_OPEN_COMMANDS, opts ? opts->expires_ms : 0, id);
    switch (e) {
    case 0: break;
    case -ENOENT: snprintf(err, errlen, "no device %s", device_id); e = -404; goto out;
    case -EKEYREVOKED: snprintf(err, errlen, "the device was offboarded; it takes no commands"); e = -409; goto out;
    case -EDQUOT:
        snprintf(err, errlen, "%d commands already wait for this device; wait for them to finish",
                 DEVICE_MAX_OPEN_COMMANDS);
        e = -429;
        goto out;
    default: snprintf(err, errlen, "cannot queue the command (store error)"); e = -500; goto out;
    }
    snprintf(target, sizeof(target), "device:%s", device_id);
    snprintf(detail, sizeof(detail), "{\"command_id\":%lld,\"type\":\"%s\"}", (long long)*id, t->name);
    audit_record(srv, who, remote_ip, "command.create", target, detail);
    if (!opts || !opts->no_wake)
        devices_commands_wake(srv, device_id);
out:
    free(args_text);
    return e;
}

/* ------------------------------------------------------------------ agent routes */

/* GET /api/v1/agent/commands?wait=N[&started=1] */
static void agent_poll(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct channel *ch = server_module_state(srv, &commands_module);
    const char *dev = http_principal(rq)->device_id;
    size_t b = bucket_of(dev), n = 0;
    struct store_command *v = NULL;
    unsigned long wait;
    bool pending = false;
    uint64_t id, old = 0;
    int e;

    if (!devices_query_uint(rq, rs, "wait", 0, MAX_WAIT_S, 0, &wait))
        return;
    if (!ch) {
        http_error(rs, 503, "the command channel is not ready");
        return;
    }
    if (http_query(rq, "started")) {
        /* the agent's first poll since it started: what went to a poll of
         * its previous run and never started is handed out again now */
        size_t again = 0;
        if (strcmp(http_query(rq, "started"), "1") != 0) {
            http_error(rs, 400, "started: expected 1");
            return;
        }
        if (store_commands_requeue_unstarted(srv->store, dev, &again) != 0) {
            http_error(rs, 500, "cannot read the command queue (store error)");
            return;
        }
        if (again)
            log_info("commands: device %s restarted; %zu command(s) it never started handed out again", dev, again);
    }
    pthread_mutex_lock(lock_of(ch, b));
    e = store_commands_pending(srv->store, dev, &pending);
    if (!e && !pending && wait > 0) {
        id = http_defer(rq, rs, (unsigned)wait * 1000, fill_empty, NULL);
        if (id) {
            old = waiter_put(ch, b, dev, id, mono_ms() + wait * 1000);
            pthread_mutex_unlock(lock_of(ch, b));
            if (old)
                http_deferred_complete(old, fill_empty, NULL); /* an earlier poll of this device */
            return;
        }
    }
    pthread_mutex_unlock(lock_of(ch, b));
    if (e) {
        http_error(rs, 500, "cannot read the command queue (store error)");
        return;
    }
    if (pending && store_commands_claim(srv->store, dev, POLL_BATCH, &v, &n) != 0) {
        http_error(rs, 500, "cannot hand out commands (store error)");
        return;
    }
    for (size_t i = 0; i < n; i++)
        actions_command_changed(srv, v[i].id);
    write_agent_commands(http_json(rs), v, n);
    store_commands_free(v, n);
}

/* :name of the route as a command id (a positive number); 404 otherwise. */
static bool command_id_param(struct http_request *rq, struct http_response *rs, const char *name, int64_t *id)
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
    *id = n;
    return true;
bad:
    http_error(rs, 404, "no such command (command ids are numbers)");
    return false;
}

static bool valid_error_text(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        if (n >= MAX_ERROR_LEN || ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f))
            return false;
    return true;
}

/* POST /api/v1/agent/commands/:id/result {"status", "output", "error"} */
static void agent_result(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *dev = http_principal(rq)->device_id, *status_text, *error;
    const struct device_command_type *t;
    enum store_command_status status, now_status = CMD_QUEUED;
    struct store_command cmd = {0};
    char *output_text = NULL, why[256];
    json_t *body, *output;
    bool bad = false, recorded = false;
    int64_t id;
    int e;

    body = http_json_body(rq, rs);
    if (!body)
        goto out;
    if (!command_id_param(rq, rs, "id", &id))
        goto out;
    status_text = devices_json_str(body, "status", NULL, "\"succeeded\" or \"failed\"", rs, &bad);
    error = devices_json_str(body, "error", valid_error_text, "text of at most 4096 characters", rs, &bad);
    if (bad)
        goto out;
    if (!status_text || (strcmp(status_text, "succeeded") != 0 && strcmp(status_text, "failed") != 0)) {
        http_error(rs, 400, "status: must be \"succeeded\" or \"failed\"");
        goto out;
    }
    status = strcmp(status_text, "succeeded") == 0 ? CMD_SUCCEEDED : CMD_FAILED;
    output = json_object_get(body, "output");
    if (output && json_is_null(output))
        output = NULL;
    e = store_command_get(srv->store, dev, id, &cmd);
    if (e == -ENOENT) {
        http_error(rs, 404, "no command %lld for this device", (long long)id);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot read the command (store error)");
        goto out;
    }
    t = devices_command_type(cmd.type);
    if (status == CMD_SUCCEEDED && t && t->validate_output) {
        json_t *none = output ? NULL : json_null();
        e = t->validate_output(output ? output : none, why, sizeof(why));
        json_decref(none);
        if (e) {
            http_error(rs, 400, "output: %s", why);
            goto out;
        }
    }
    if (output && !(output_text = json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY))) {
        http_error(rs, 500, "out of memory");
        goto out;
    }
    e = store_command_result(srv->store, dev, id, status, output_text, error, &recorded, &now_status);
    if (e == -ENOENT) {
        http_error(rs, 404, "no command %lld for this device", (long long)id);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot record the result (store error)");
        goto out;
    }
    if (recorded) {
        actions_command_changed(srv, id);
        live_command_changed(srv, id);
    }
    jsonw_object_begin(http_json(rs));
    jsonw_kv_int(http_json(rs), "id", id);
    jsonw_kv_str(http_json(rs), "status", store_command_status_name(now_status));
    jsonw_kv_bool(http_json(rs), "recorded", recorded);
    jsonw_object_end(http_json(rs));
out:
    free(output_text);
    store_command_clear(&cmd);
    json_decref(body);
}

/* Checks a progress report: an object whose known members have their
 * types. 0 or -EINVAL with a sentence. */
static int check_progress(json_t *body, char *err, size_t errlen)
{
    static const char *const counts[] = {"files", "bytes"};
    json_t *percent = json_object_get(body, "percent"), *message = json_object_get(body, "message");

    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        json_t *v = json_object_get(body, counts[i]);
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
            snprintf(err, errlen, "%s: must be a count (an integer >= 0)", counts[i]);
            return -EINVAL;
        }
    }
    if (percent && (!json_is_number(percent) || json_number_value(percent) < 0 || json_number_value(percent) > 100)) {
        snprintf(err, errlen, "percent: must be a number from 0 to 100");
        return -EINVAL;
    }
    if (message &&
        (!json_is_string(message) || !devices_valid_text(json_string_value(message), MAX_PROGRESS_MESSAGE))) {
        snprintf(err, errlen, "message: must be text of 1 to %d bytes without control characters",
                 MAX_PROGRESS_MESSAGE);
        return -EINVAL;
    }
    return 0;
}

/* POST /api/v1/agent/commands/:id/progress {"files", "bytes", "percent", "message", ...} */
static void agent_progress(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *dev = http_principal(rq)->device_id;
    enum store_command_status now_status = CMD_QUEUED;
    bool first = false, cancel = false;
    char *text = NULL, why[200];
    json_t *body;
    int64_t id;
    int e;

    body = http_json_body(rq, rs);
    if (!body)
        goto out;
    if (!command_id_param(rq, rs, "id", &id))
        goto out;
    if (!json_is_object(body)) {
        http_error(rs, 400, "a progress report must be a JSON object");
        goto out;
    }
    if (check_progress(body, why, sizeof(why)) != 0) {
        http_error(rs, 400, "%s", why);
        goto out;
    }
    text = json_dumps(body, JSON_COMPACT);
    if (!text) {
        http_error(rs, 500, "out of memory");
        goto out;
    }
    if (strlen(text) > MAX_PROGRESS_BYTES) {
        http_error(rs, 413, "a progress report is at most %d bytes", MAX_PROGRESS_BYTES);
        goto out;
    }
    e = store_command_progress(srv->store, dev, id, text, &first, &cancel, &now_status);
    if (e == -ENOENT) {
        http_error(rs, 404, "no command %lld for this device", (long long)id);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot record the progress (store error)");
        goto out;
    }
    if (now_status == CMD_SENT)
        actions_command_changed(srv, id);
    jsonw_object_begin(http_json(rs));
    jsonw_kv_int(http_json(rs), "id", id);
    jsonw_kv_str(http_json(rs), "status", store_command_status_name(now_status));
    jsonw_kv_bool(http_json(rs), "cancel", cancel);
    jsonw_object_end(http_json(rs));
out:
    free(text);
    json_decref(body);
}

/* ------------------------------------------------------------------ people routes */

/* POST /api/v1/devices/:id/commands {"type": "ping", "args": {}} */
static void create_command(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_device d = {0};
    struct store_command cmd = {0};
    json_t *body, *type, *args;
    char err[300];
    int64_t id = 0;
    int e;

    body = http_json_body(rq, rs);
    if (!body || !devices_json_only(body, rs, "type", "args", NULL))
        goto out;
    type = json_object_get(body, "type");
    args = json_object_get(body, "args");
    if (!json_is_string(type)) {
        http_error(rs, 400, "type: must be a command type such as \"ping\"");
        goto out;
    }
    if (args && json_is_null(args))
        args = NULL;
    if (devices_resolve(rq, rs, &d) != 0)
        goto out;
    e = devices_command_queue(srv, http_principal(rq), http_remote_ip(rq), d.id, json_string_value(type), args, &id,
                              err, sizeof(err));
    if (e) {
        http_error(rs, (unsigned)-e, "%s", err);
        goto out;
    }
    if (store_command_get(srv->store, d.id, id, &cmd) != 0) {
        http_error(rs, 500, "cannot read the command back");
        goto out;
    }
    http_status(rs, 201);
    write_command(http_json(rs), &cmd);
out:
    store_command_clear(&cmd);
    store_device_clear(&d);
    json_decref(body);
}

/* GET /api/v1/devices/:id/commands?limit=N */
static void list_commands(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_command *v = NULL;
    struct store_device d;
    unsigned long limit;
    struct jsonw *w;
    size_t n = 0;

    if (!devices_query_uint(rq, rs, "limit", 1, MAX_LIST, 100, &limit))
        return;
    if (devices_resolve(rq, rs, &d) != 0)
        return;
    if (store_command_list(srv->store, d.id, limit, &v, &n) != 0) {
        http_error(rs, 500, "cannot list the commands (store error)");
        goto out;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "commands");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_command(w, &v[i]);
    jsonw_array_end(w);
    jsonw_object_end(w);
out:
    store_commands_free(v, n);
    store_device_clear(&d);
}

/* GET /api/v1/devices/:id/commands/:cid */
static void get_command(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_command cmd = {0};
    struct store_device d;
    int64_t id;
    int e;

    if (!command_id_param(rq, rs, "cid", &id))
        return;
    if (devices_resolve(rq, rs, &d) != 0)
        return;
    e = store_command_get(srv->store, d.id, id, &cmd);
    if (e == -ENOENT)
        http_error(rs, 404, "no command %lld for device %s", (long long)id, d.name);
    else if (e)
        http_error(rs, 500, "cannot read the command (store error)");
    else
        write_command(http_json(rs), &cmd);
    store_command_clear(&cmd);
    store_device_clear(&d);
}

/* ------------------------------------------------------------------ module */

static void set_result_limit(struct server *srv);

static int commands_init(struct server *srv, char *err, size_t errlen)
{
    struct channel *ch = calloc(1, sizeof(*ch));

    if (!ch) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&ch->locks[i], NULL);
    server_set_module_state(srv, &commands_module, ch);
    set_result_limit(srv);
    return 0;
}

/* Runs after the HTTP server stopped (every poll was answered then). */
static void commands_fini(struct server *srv)
{
    struct channel *ch = server_module_state(srv, &commands_module);

    if (!ch)
        return;
    for (size_t b = 0; b < WAIT_BUCKETS; b++) {
        while (ch->buckets[b]) {
            struct waiter *w = ch->buckets[b];
            ch->buckets[b] = w->next;
            free(w);
        }
    }
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&ch->locks[i]);
    free(ch);
    server_set_module_state(srv, &commands_module, NULL);
}

static struct route commands_routes[] = {
    {HTTP_GET, "/api/v1/agent/commands", ACCESS_DEVICE, ROLE_NONE, 0, agent_poll,
     "long poll for this device's commands (?wait=0..60)"},
    {HTTP_POST, "/api/v1/agent/commands/:id/result", ACCESS_DEVICE, ROLE_NONE, MAX_RESULT_BYTES, agent_result,
     "the result of a command"},
    {HTTP_POST, "/api/v1/agent/commands/:id/progress", ACCESS_DEVICE, ROLE_NONE, MAX_PROGRESS_BYTES + 1024,
     agent_progress, "progress of a running command (answers whether to cancel it)"},
    {HTTP_POST, "/api/v1/devices/:id/commands", ACCESS_USER, ROLE_RESPONDER, 0, create_command,
     "queue a command for a device"},
    {HTTP_GET, "/api/v1/devices/:id/commands", ACCESS_USER, ROLE_VIEWER, 0, list_commands, "a device's commands"},
    {HTTP_GET, "/api/v1/devices/:id/commands/:cid", ACCESS_USER, ROLE_VIEWER, 0, get_command, "one command"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

/* A live response command's output (a process table, a directory) may
 * be as large as live_max_output_bytes: the result route takes it. The
 * limit is a setting, so the route takes it before serving starts. */
static void set_result_limit(struct server *srv)
{
    for (struct route *r = commands_routes; r->pattern; r++)
        if (r->handler == agent_result && srv->cfg.live_max_output_bytes + 4096 > r->max_body)
            r->max_body = srv->cfg.live_max_output_bytes + 4096;
}

static const struct server_module commands_module = {
    .name = "commands",
    .order = 30,
    .init = commands_init,
    .fini = commands_fini,
    .routes = commands_routes,
};
SERVER_MODULE(commands_module);
