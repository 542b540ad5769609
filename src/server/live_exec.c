/*
 * live_exec.c — from a line a person typed in a live response session to
 * a running command (docs/live.md, "Commands").
 *
 * The line is parsed by the shared grammar against the session's current
 * directory; a parse error (with the command's usage), an advanced
 * command without the responder role, a change of the library without
 * the admin role, or a library file that does not exist are refused
 * before anything is recorded or sent. Then the command is recorded
 * (running, with its deadline) and audited, and started one of three
 * ways:
 *
 *   - on the server alone (help, cls, connect, status, jobs, fg,
 *     library): answered at once;
 *   - bridged (remediate, undo, isolate, release, scan, collect): an
 *     action of the action center (live_actions.h), which the command
 *     then follows;
 *   - on the agent: one device command of type `live` with the envelope
 *     {"session", "command", "cwd", "args"} (+ "indicators" for analyze;
 *     + args.sha256 of the library file for putfile and run), queued
 *     without waking the device, linked to the command, then handed to
 *     the device's waiting poll at once.
 *
 * A start that fails after the command was recorded ends it failed (so
 * the log shows the attempt) and answers the failure's status.
 *
 * The `live` device command type is registered here; it is queued only
 * by this file: the generic device command route refuses it, so a live
 * command never runs outside a session, its audit and its role checks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "server/devices.h"
#include "server/devices_int.h"
#include "server/live.h"
#include "server/live_actions.h"
#include "server/live_int.h"
#include "server/server.h"
#include "server/store.h"

#define STATUS_ROWS 50
#define JOBS_ROWS 200
#define ARGS_BUDGET 15000 /* the command channel takes 16 KiB of arguments */

/* ------------------------------------------------------------ the device command type */

/* Set while this file queues a live command: the only way one is queued. */
static __thread bool queuing;

static int live_type_args(json_t *args, char *err, size_t errlen)
{
    json_t *command = json_object_get(args, "command");

    if (!queuing) {
        snprintf(err, errlen, "live commands are sent from live response sessions (POST /api/v1/live/sessions)");
        return -EINVAL;
    }
    if (!json_is_string(command) || !json_is_integer(json_object_get(args, "session")) ||
        !json_is_string(json_object_get(args, "cwd"))) {
        snprintf(err, errlen, "a live command's arguments are {\"session\", \"command\", \"cwd\", \"args\"}");
        return -EINVAL;
    }
    return live_args_check(json_string_value(command), json_object_get(args, "args"), err, errlen);
}

static int live_type_output(json_t *output, char *err, size_t errlen)
{
    if (!json_is_object(output)) {
        snprintf(err, errlen, "a live command's output must be a JSON object");
        return -EINVAL;
    }
    return 0;
}

static const struct device_command_type live_type = {
    .name = "live",
    .min_role = ROLE_ANALYST,
    .summary = "one live response command (queued by live response sessions only)",
    .validate_args = live_type_args,
    .validate_output = live_type_output,
};
DEVICE_COMMAND_TYPE(live_type);

/* ------------------------------------------------------------ helpers */

static const char *arg_str(json_t *args, const char *key)
{
    return json_string_value(json_object_get(args, key));
}

/* "analyst" or "responder" for a spec's role. */
static const char *role_word(const struct live_spec *s)
{
    return s->role == LIVE_ADVANCED ? "responder" : "analyst";
}

static const char *where_word(const struct live_spec *s)
{
    return s->where == LIVE_ON_AGENT ? "the agent" : live_actions_bridged(s->name) ? "the action center" : "the server";
}

/* A time for table cells: "2026-11-26 10:02:11", or "" for 0. */
static json_t *time_value(int64_t ms)
{
    char buf[40] = "";

    if (ms)
        live_time_text(ms, buf, sizeof(buf));
    return json_string(buf);
}

/* What a server-side command answers. */
struct reply {
    bool failed;
    json_t *output;     /* owned */
    char text[1024];    /* shown instead of rendering output when set */
    bool has_text;
    char error[512];
};

static void reply_text(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_text(struct reply *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
    r->has_text = true;
}

static void reply_fail(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_fail(struct reply *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    r->failed = true;
}

/* A table object {"columns": [...], "rows": []} with the given columns
 * (NULL-terminated). */
static json_t *table_new(const char *const *cols)
{
    json_t *t = json_object(), *c = json_array();

    for (size_t i = 0; c && cols[i]; i++)
        json_array_append_new(c, json_string(cols[i]));
    if (!t || !c) {
        json_decref(t);
        json_decref(c);
        return NULL;
    }
    json_object_set_new(t, "columns", c);
    json_object_set_new(t, "rows", json_array());
    return t;
}

static void table_add(json_t *t, json_t *row)
{
    json_array_append_new(json_object_get(t, "rows"), row);
}

/* ------------------------------------------------------------ server-side commands */

struct help_ctx {
    json_t *table;
    json_t *not_yours;
    enum role role;
};

static void help_row(const struct live_spec *s, void *ctx)
{
    struct help_ctx *h = ctx;

    if (s->role == LIVE_ADVANCED && h->role < ROLE_RESPONDER) {
        json_array_append_new(h->not_yours, json_string(s->name));
        return;
    }
    table_add(h->table, json_pack("{s:s,s:s,s:s}", "command", s->name, "usage", s->usage, "summary", s->summary));
}

static void run_help(const struct principal *who, json_t *args, struct reply *r)
{
    const char *name = arg_str(args, "command");
    const struct live_spec *s;

    if (name) {
        s = live_spec_find(name);
        if (!s) {
            reply_fail(r, "unknown command '%.64s'; help lists the commands", name);
            return;
        }
        r->output = json_pack("{s:s,s:s,s:s,s:s,s:s}", "command", s->name, "usage", s->usage, "summary", s->summary,
                              "role", role_word(s), "runs on", where_word(s));
        reply_text(r, "usage: %s\n%s\nrole: %s%s; runs on %s\n", s->usage, s->summary, role_word(s),
                   strcmp(s->name, "library") == 0 ? " (upload and delete: admin)" : "", where_word(s));
        return;
    }
    {
        static const char *const cols[] = {"command", "usage", "summary", NULL};
        struct help_ctx h = {.table = table_new(cols), .not_yours = json_array(), .role = who->role};
        if (!h.table || !h.not_yours) {
            json_decref(h.table);
            json_decref(h.not_yours);
            reply_fail(r, "out of memory");
            return;
        }
        live_spec_each(help_row, &h);
        if (json_array_size(h.not_yours) > 0) {
            json_object_set_new(h.table, "advanced commands (responder role)", h.not_yours);
            h.not_yours = NULL;
        }
        json_decref(h.not_yours);
        json_object_set_new(h.table, "tip", json_string("help <command> shows one command's usage"));
        r->output = h.table;
    }
}

static void run_connect(struct server *srv, const struct store_live_session *s, struct reply *r)
{
    struct store_device d;
    char why[300], heard[40] = "never";

    if (store_device_get(srv->store, s->device_id, &d) != 0) {
        reply_fail(r, "cannot read the device (store error)");
        return;
    }
    if (!live_device_online(srv, &d, why, sizeof(why))) {
        reply_fail(r, "%s; commands wait until it reconnects or time out", why);
        store_device_clear(&d);
        return;
    }
    if (d.last_heartbeat_ms)
        live_clock(d.last_heartbeat_ms, heard, sizeof(heard));
    r->output = json_pack("{s:s,s:s,s:b,s:s,s:s,s:I,s:s}", "device", d.name, "device_id", d.id, "online", 1,
                          "agent_version", d.agent_version, "os", d.os, "session", (json_int_t)s->id, "user",
                          s->user_name);
    if (r->output)
        json_object_set_new(r->output, "last_heartbeat", time_value(d.last_heartbeat_ms));
    reply_text(r, "connected to %s (device %s, agent %s, %s; last heartbeat %s)\n", d.name, d.id,
               d.agent_version[0] ? d.agent_version : "?", d.os[0] ? d.os : "unknown OS", heard);
    store_device_clear(&d);
}

/* One command as a row of status and jobs. */
static json_t *command_row(const struct store_live_command *c)
{
    json_t *row = json_pack("{s:I,s:s,s:s,s:s,s:b}", "id", (json_int_t)c->id, "state", store_live_state_name(c->state),
                            "user", c->user_name, "line", c->line, "background", c->background);
    if (row)
        json_object_set_new(row, "created", time_value(c->created_ms));
    return row;
}

static void run_status(struct server *srv, const struct store_live_session *s, int64_t self, struct reply *r)
{
    static const char *const cols[] = {"id", "state", "created", "line", NULL};
    struct store_live_command *v = NULL;
    struct store_device d = {0};
    char why[300];
    size_t n = 0;
    bool online;

    if (store_device_get(srv->store, s->device_id, &d) != 0 ||
        store_live_command_list(srv->store, s->id, false, STATUS_ROWS + 1, &v, &n) != 0) {
        reply_fail(r, "cannot read the session (store error)");
        goto out;
    }
    online = live_device_online(srv, &d, why, sizeof(why));
    r->output = table_new(cols);
    if (!r->output) {
        reply_fail(r, "out of memory");
        goto out;
    }
    json_object_set_new(r->output, "session", json_integer(s->id));
    json_object_set_new(r->output, "device", json_string(d.name));
    json_object_set_new(r->output, "online", json_boolean(online));
    json_object_set_new(r->output, "user", json_string(s->user_name));
    json_object_set_new(r->output, "opened", time_value(s->opened_ms));
    json_object_set_new(r->output, "cwd", json_string(s->cwd));
    /* oldest first, without this status command itself */
    for (size_t i = n; i > 0; i--)
        if (v[i - 1].id != self)
            table_add(r->output, command_row(&v[i - 1]));
    if (n > STATUS_ROWS)
        json_object_set_new(r->output, "truncated", json_true());
out:
    store_live_commands_free(v, n);
    store_device_clear(&d);
}

static void run_jobs(struct server *srv, const struct store_live_session *s, int64_t self, struct reply *r)
{
    static const char *const cols[] = {"id", "state", "created", "line", NULL};
    struct store_live_command *v = NULL;
    size_t n = 0;

    if (store_live_command_list(srv->store, s->id, true, JOBS_ROWS, &v, &n) != 0) {
        reply_fail(r, "cannot read the session's commands (store error)");
        return;
    }
    r->output = table_new(cols);
    for (size_t i = n; r->output && i > 0; i--)
        if (v[i - 1].background && v[i - 1].id != self)
            table_add(r->output, command_row(&v[i - 1]));
    if (r->output && json_array_size(json_object_get(r->output, "rows")) == 0)
        reply_text(r, "no commands run in the background\n");
    store_live_commands_free(v, n);
}

static void run_fg(struct server *srv, const struct store_live_session *s, json_t *args, struct reply *r)
{
    int64_t id = json_integer_value(json_object_get(args, "id"));
    struct store_live_command c = {0};
    int e = store_live_command_get(srv->store, id, &c);

    if (e == -ENOENT || (!e && c.session_id != s->id)) {
        reply_fail(r, "no command %lld in this session; jobs lists the ones in the background", (long long)id);
        goto out;
    }
    if (e) {
        reply_fail(r, "cannot read command %lld (store error)", (long long)id);
        goto out;
    }
    if (c.state == LIVE_RUNNING)
        store_live_command_set_background(srv->store, id, false);
    r->output = json_pack("{s:I,s:s,s:s}", "follow", (json_int_t)c.id, "line", c.line, "state",
                          store_live_state_name(c.state));
    if (c.state == LIVE_RUNNING)
        reply_text(r, "following command %lld: %.900s\n", (long long)c.id, c.line);
    else
        reply_text(r, "command %lld (%.800s) %s already\n", (long long)c.id, c.line, store_live_state_name(c.state));
out:
    store_live_command_clear(&c);
}

static void run_library(struct server *srv, const struct principal *who, const char *ip, json_t *args,
                        struct reply *r)
{
    static const char *const cols[] = {"name", "size", "uploaded_by", "uploaded", "sha256", NULL}; /* the hash whole: last */
    const char *action = arg_str(args, "action"), *name = arg_str(args, "name");
    struct store_live_file *v = NULL;
    size_t n = 0;
    int e;

    if (action && strcmp(action, "delete") == 0) {
        e = name ? live_library_delete(srv, who, ip, name) : -EINVAL;
        if (e == -EINVAL)
            reply_fail(r, "library delete: name the file. Usage: library delete <name>");
        else if (e == -ENOENT)
            reply_fail(r, "no library file %s; `library` lists them", name);
        else if (e)
            reply_fail(r, "cannot delete %s (store error)", name);
        else if ((r->output = json_pack("{s:s}", "deleted", name)))
            reply_text(r, "deleted %s from the library\n", name);
        return;
    }
    if (store_live_library_list(srv->store, &v, &n) != 0) {
        reply_fail(r, "cannot list the library (store error)");
        return;
    }
    r->output = table_new(cols);
    for (size_t i = 0; r->output && i < n; i++) {
        json_t *row = json_pack("{s:s,s:I,s:s,s:s}", "name", v[i].name, "size", (json_int_t)v[i].size, "sha256",
                                v[i].sha256, "uploaded_by", v[i].uploaded_by);
        if (row)
            json_object_set_new(row, "uploaded", time_value(v[i].uploaded_ms));
        table_add(r->output, row);
    }
    if (r->output && n == 0)
        reply_text(r, "the library is empty; an admin adds files with `library upload <name> -file <local file>`\n");
    free(v);
}

/* Runs a command that the server answers. */
static void run_on_server(struct server *srv, const struct principal *who, const char *ip,
                          const struct store_live_session *s, const struct store_live_command *c, json_t *args,
                          struct reply *r)
{
    if (strcmp(c->name, "help") == 0)
        run_help(who, args, r);
    else if (strcmp(c->name, "cls") == 0)
        r->output = json_object(); /* the client clears its screen */
    else if (strcmp(c->name, "connect") == 0)
        run_connect(srv, s, r);
    else if (strcmp(c->name, "status") == 0)
        run_status(srv, s, c->id, r);
    else if (strcmp(c->name, "jobs") == 0)
        run_jobs(srv, s, c->id, r);
    else if (strcmp(c->name, "fg") == 0)
        run_fg(srv, s, args, r);
    else if (strcmp(c->name, "library") == 0)
        run_library(srv, who, ip, args, r);
    else
        reply_fail(r, "%s has no server-side implementation", c->name);
    if (!r->failed && !r->output)
        reply_fail(r, "out of memory");
}

/* ------------------------------------------------------------ agent commands */

/* The envelope of a live device command. NULL when out of memory. */
static json_t *envelope(struct server *srv, const struct store_live_session *s, const struct live_parsed *p,
                        const struct store_live_file *lib)
{
    json_t *env, *args = json_deep_copy(p->args);
    char *text;
    size_t used;

    if (!args)
        return NULL;
    json_object_del(args, "output"); /* the server renders; the agent always answers JSON */
    if (lib)
        json_object_set_new(args, "sha256", json_string(lib->sha256));
    env = json_pack("{s:I,s:s,s:s,s:o}", "session", (json_int_t)s->id, "command", p->spec->name, "cwd", s->cwd,
                    "args", args);
    if (!env || strcmp(p->spec->name, "analyze") != 0)
        return env;
    /* analyze: the alert indicators, as many as the channel carries */
    text = json_dumps(env, JSON_COMPACT);
    used = text ? strlen(text) + 20 : ARGS_BUDGET;
    free(text);
    {
        json_t *all = live_actions_indicators(srv), *some = json_array(), *v;
        size_t i;
        json_array_foreach(all, i, v) {
            if (used + json_string_length(v) + 3 > ARGS_BUDGET) {
                log_warn("live: analyze gets %zu of %zu alert indicators (the command channel's argument limit)", i,
                         json_array_size(all));
                break;
            }
            used += json_string_length(v) + 3;
            json_array_append(some, v);
        }
        json_decref(all);
        json_object_set_new(env, "indicators", some ? some : json_array());
    }
    return env;
}

/* ------------------------------------------------------------ the entry */

int live_exec(struct http_request *rq, struct http_response *rs, const struct store_live_session *s, const char *line,
              int64_t *id)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    const char *ip = http_remote_ip(rq);
    struct live_parsed p = {0};
    struct store_live_file lib = {0};
    struct store_live_command c = {0};
    struct live_ending how = {0};
    struct reply r = {0};
    const struct live_spec *spec;
    enum { ON_SERVER, BRIDGED, ON_AGENT } kind;
    const char *action;
    char err[1024];
    int64_t now;
    int e;

    *id = 0;
    e = live_parse(line, s->cwd, &p, err, sizeof(err));
    if (e) {
        live_audit(srv, who, ip, "live.command.refused", s->id, 0, "device_id", s->device_id, "line", line, "error",
                   err, NULL);
        http_error(rs, 400, "%s", err[0] ? err : "the line cannot be parsed");
        e = -400;
        goto out;
    }
    spec = p.spec;
    action = arg_str(p.args, "action");
    if (spec->role == LIVE_ADVANCED && who->role < ROLE_RESPONDER) {
        snprintf(err, sizeof(err), "`%s` is an advanced command: it needs the responder role", spec->name);
        e = -403;
    } else if (strcmp(spec->name, "library") == 0 && action && strcmp(action, "list") != 0 && who->role < ROLE_ADMIN) {
        snprintf(err, sizeof(err), "`library %s` changes the library: it needs the admin role", action);
        e = -403;
    } else if (strcmp(spec->name, "library") == 0 && action && strcmp(action, "upload") == 0) {
        snprintf(err, sizeof(err),
                 "library upload: the file's content goes with PUT /api/v1/live/library/<name> (the yamori live "
                 "prompt sends it for `library upload <name> -file <local file>`)");
        e = -400;
    } else if (strcmp(spec->name, "putfile") == 0 || strcmp(spec->name, "run") == 0) {
        const char *name = arg_str(p.args, strcmp(spec->name, "run") == 0 ? "script" : "name");
        int le = live_library_find(srv, name ? name : "", &lib);
        if (le == -ENOENT) {
            snprintf(err, sizeof(err), "no library file %.128s; `library` lists them", name ? name : "");
            e = -404;
        } else if (le) {
            snprintf(err, sizeof(err), "cannot read the library (store error)");
            e = -500;
        }
    }
    if (e) {
        live_audit(srv, who, ip, "live.command.refused", s->id, 0, "device_id", s->device_id, "line", line, "error",
                   err, NULL);
        http_error(rs, (unsigned)-e, "%s", err);
        goto out;
    }
    kind = spec->where == LIVE_ON_AGENT ? ON_AGENT : live_actions_bridged(spec->name) ? BRIDGED : ON_SERVER;

    /* the record, then the start */
    now = store_now_ms(srv->store);
    c.session_id = s->id;
    snprintf(c.device_id, sizeof(c.device_id), "%s", s->device_id);
    snprintf(c.user_name, sizeof(c.user_name), "%s", who->user_name);
    c.line = (char *)line; /* borrowed: not freed here */
    snprintf(c.name, sizeof(c.name), "%s", spec->name);
    c.args_json = json_dumps(p.args, JSON_COMPACT | JSON_PRESERVE_ORDER);
    c.json_output = p.output == LIVE_OUTPUT_JSON;
    c.background = p.background;
    c.state = LIVE_RUNNING;
    c.created_ms = now;
    c.started_ms = kind == ON_AGENT ? 0 : now;
    c.deadline_ms = kind == ON_SERVER ? 0 : now + (int64_t)live_timeout_s(srv, spec) * 1000;
    if (!c.args_json || store_live_command_create(srv->store, &c, &c.id) != 0) {
        http_error(rs, 500, "cannot record the command (store error)");
        e = -500;
        goto out;
    }
    *id = c.id;
    live_audit(srv, who, ip, "live.command", s->id, c.id, "device_id", s->device_id, "user", who->user_name, "line",
               line, NULL);

    switch (kind) {
    case ON_SERVER:
        run_on_server(srv, who, ip, s, &c, p.args, &r);
        how.state = r.failed ? LIVE_FAILED : LIVE_SUCCEEDED;
        how.output = r.failed ? NULL : r.output;
        how.text = r.has_text ? r.text : NULL;
        how.error = r.failed ? r.error : NULL;
        live_end(srv, &c, &how);
        break;
    case BRIDGED: {
        int64_t action_id = 0;
        e = live_actions_start(srv, who, ip, s->device_id, s->id, c.id, spec->name, p.args, &action_id, err,
                               sizeof(err));
        if (e) {
            how.state = LIVE_FAILED;
            how.error = err;
            live_end(srv, &c, &how);
            http_error(rs, (unsigned)-e, "%s", err);
            goto out;
        }
        store_live_command_link(srv->store, c.id, 0, action_id);
        live_follow(srv, c.id);
        break;
    }
    case ON_AGENT: {
        struct device_command_opts opts = {.expires_ms = c.deadline_ms, .requested_by = who->user_name,
                                           .no_wake = true};
        json_t *env = envelope(srv, s, &p, lib.name[0] ? &lib : NULL);
        int64_t cid = 0;
        if (!env) {
            snprintf(err, sizeof(err), "out of memory");
            e = -500;
        } else {
            queuing = true;
            e = devices_command_queue_opts(srv, who, ip, s->device_id, "live", env, &opts, &cid, err, sizeof(err));
            queuing = false;
        }
        json_decref(env);
        if (!e && store_live_command_link(srv->store, c.id, cid, 0) != 0) {
            /* ended meanwhile (the session closed): the device command must not run */
            enum store_command_status now_status;
            bool withdrawn;
            store_command_withdraw(srv->store, s->device_id, cid, "the live command ended before it was sent", true,
                                   &withdrawn, &now_status);
        }
        if (e) {
            how.state = LIVE_FAILED;
            how.error = err;
            live_end(srv, &c, &how);
            http_error(rs, (unsigned)-e, "%s", err);
            goto out;
        }
        devices_commands_wake(srv, s->device_id);
        break;
    }
    }
    e = 0;
out:
    free(c.args_json); /* c.line is the caller's */
    json_decref(r.output);
    live_parsed_free(&p);
    return e;
}
