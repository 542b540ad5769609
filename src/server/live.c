/*
 * live.c — the life of a live response command once it exists, and of
 * the sessions around it (docs/live.md): following what carries a
 * command until it ends, ending it exactly once, stopping it (cancel,
 * timeout, a closing session), the long polls that wait for it, the idle
 * timeout of sessions, and the sweep that catches up whatever a hook
 * missed.
 *
 * A command is carried by a `live` device command (agent commands), by
 * an action (the bridged ones), or by nothing (the server answered it at
 * once). The command channel calls live_command_changed() when a device
 * command gets its result, so an answer from the agent ends its live
 * command at once; the sweep runs every SWEEP_MS, follows every running
 * command (the action center has no hook: actions are looked at then),
 * times out what passed its deadline, closes idle sessions (and those of
 * offboarded devices) and answers long polls whose time is up. Ending is a conditional update in the
 * store (only a running command ends), so the hook, the sweep and a
 * cancel may race: one wins, and only the winner audits and wakes.
 *
 * Long polls: a waiting request is deferred (http_defer) and remembered
 * with the command it waits for and the streamed offset it has. Whoever
 * changes a command (an end, a streamed chunk) calls live_wake() after
 * the change is in the store; a poll registers itself first and then
 * looks once (live_wake), so no change between its look and its
 * registration is lost.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "server/actions.h"
#include "server/audit.h"
#include "server/devices.h"
#include "server/live.h"
#include "server/live_actions.h"
#include "server/live_int.h"
#include "server/server.h"
#include "server/store.h"

#define SWEEP_MS 200
#define IDLE_CHECK_MS 1000
#define SWEEP_BATCH 1000
#define MAX_WAITERS 10000
#define BACKSTOP_MS 15000 /* the HTTP layer's own deadline, past ours: only if the sweep is stuck */

struct waiter {
    uint64_t defer_id;
    int64_t command_id;
    int64_t offset;
    unsigned status;
    uint64_t deadline_ms; /* monotonic */
    struct waiter *next;
};

struct live {
    struct server *srv;
    pthread_mutex_t lock; /* waiters */
    struct waiter *waiters;
    size_t nwaiters;
    pthread_mutex_t sweep_lock;
    pthread_cond_t sweep_cond;
    bool stop;
    pthread_t sweeper;
    bool sweeper_started;
};

static const struct server_module live_module;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ settings */

int64_t live_idle_ms(const struct server *srv)
{
    return (int64_t)srv->cfg.live_idle_ms;
}

unsigned live_timeout_s(const struct server *srv, const struct live_spec *s)
{
    return s && s->timeout_s > 600 ? srv->cfg.live_long_command_timeout_seconds
                                   : srv->cfg.live_command_timeout_seconds;
}

bool live_device_online(struct server *srv, const struct store_device *d, char *why, size_t whylen)
{
    int64_t now = store_now_ms(srv->store);
    int64_t late = (int64_t)DEVICE_LATE_INTERVALS * srv->cfg.heartbeat_seconds * 1000;
    char ago[32];

    if (d->offboarded_ms) {
        snprintf(why, whylen, "%s was offboarded", d->name);
        return false;
    }
    if (devices_commands_online(srv, d->id) || (d->last_heartbeat_ms && now - d->last_heartbeat_ms <= late))
        return true;
    if (!d->last_heartbeat_ms) {
        snprintf(why, whylen, "%s is offline (its agent never reported)", d->name);
    } else {
        live_duration(now - d->last_heartbeat_ms, ago, sizeof(ago));
        snprintf(why, whylen, "%s is offline (its agent last reported %s ago)", d->name, ago);
    }
    return false;
}

/* ------------------------------------------------------------ audit */

void live_audit(struct server *srv, const struct principal *who, const char *remote_ip, const char *verb,
                int64_t session_id, int64_t command_id, ...)
{
    struct jsonw w;
    char target[48], *detail;
    const char *k, *v;
    va_list ap;

    snprintf(target, sizeof(target), "live_session:%lld", (long long)session_id);
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_kv_int(&w, "session", session_id);
    if (command_id)
        jsonw_kv_int(&w, "command", command_id);
    va_start(ap, command_id);
    while ((k = va_arg(ap, const char *))) {
        v = va_arg(ap, const char *);
        if (v)
            jsonw_kv_str(&w, k, v);
    }
    va_end(ap);
    jsonw_object_end(&w);
    detail = jsonw_failed(&w) ? NULL : strndup(w.buf, w.len);
    audit_record(srv, who, remote_ip, verb, target, detail);
    free(detail);
    jsonw_free(&w);
}

/* ------------------------------------------------------------ ending */

int live_end(struct server *srv, const struct store_live_command *c, const struct live_ending *how)
{
    struct store_live_command m = {0};
    char *output_text = NULL, *text = NULL, ms[32];
    const char *error = how->error;
    int e;

    if (how->output) {
        output_text = json_dumps(how->output, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        if (!output_text)
            return -ENOMEM;
        if (strlen(output_text) > srv->cfg.live_max_output_bytes) {
            free(output_text);
            output_text = NULL;
            if (!error)
                error = "the output was larger than live_max_output_bytes and was not kept";
        }
    }
    if (how->text && !c->json_output)
        text = strdup(how->text);
    else
        text = live_render(output_text ? how->output : NULL, c->json_output);
    if (!text) {
        free(output_text);
        return -ENOMEM;
    }
    m.id = c->id;
    m.state = how->state;
    m.started_ms = how->started_ms ? how->started_ms : c->started_ms;
    m.ended_ms = store_now_ms(srv->store);
    if (m.started_ms > m.ended_ms)
        m.started_ms = m.ended_ms;
    m.output_json = output_text;
    m.text = text;
    m.error = (char *)error;
    snprintf(m.file_sha256, sizeof(m.file_sha256), "%s", how->file_sha256 ? how->file_sha256 : "");
    m.file_size = how->file_sha256 ? how->file_size : 0;
    m.cancel_ms = how->cancelled_by ? m.ended_ms : c->cancel_ms;
    snprintf(m.cancelled_by, sizeof(m.cancelled_by), "%s", how->cancelled_by ? how->cancelled_by : c->cancelled_by);
    e = store_live_command_finish(srv->store, &m);
    m.error = NULL;
    free(output_text);
    free(text);
    if (e)
        return e;
    snprintf(ms, sizeof(ms), "%lld", (long long)(m.ended_ms - c->created_ms));
    live_audit(srv, NULL, NULL, "live.command.end", c->session_id, c->id, "device_id", c->device_id, "user",
               c->user_name, "line", c->line, "state", store_live_state_name(how->state), "error", error,
               "duration_ms", ms, "file_sha256", how->file_sha256, NULL);
    /* an ended command is activity: the idle time counts from here */
    store_live_session_touch(srv->store, c->session_id, m.ended_ms);
    live_wake(srv, c->id);
    return 0;
}

/* Ends agent command c after its device command d ended. */
static void end_from_device(struct server *srv, const struct store_live_command *c, const struct store_command *d)
{
    struct live_ending how = {0};
    json_t *output = d->output_json ? json_loads(d->output_json, JSON_DECODE_ANY, NULL) : NULL, *args = NULL;
    char err[512] = "", sha[65] = "";
    int64_t size = 0;

    how.started_ms = d->progress_ms ? d->progress_ms : d->sent_ms;
    how.output = output;
    if (d->status == CMD_FAILED) {
        how.state = LIVE_FAILED;
        how.error = d->error && *d->error ? d->error : "the agent gave no reason";
        goto end;
    }
    how.state = LIVE_SUCCEEDED;
    args = json_loads(c->args_json, 0, NULL);
    if (strcmp(c->name, "cd") == 0) {
        const char *cwd = json_string_value(json_object_get(output, "cwd"));
        int e = cwd && live_path_ok(cwd) ? store_live_session_set_cwd(srv->store, c->session_id, cwd) : -EINVAL;
        if (e == -EINVAL) {
            how.state = LIVE_FAILED;
            how.error = "the agent did not answer the new directory (\"cwd\": an absolute path)";
        } else if (e && e != -ESTALE) {
            how.state = LIVE_FAILED;
            how.error = "cannot record the new directory (store error)";
        }
    } else if (strcmp(c->name, "analyze") == 0 || strcmp(c->name, "fileinfo") == 0) {
        if (json_is_object(output))
            live_actions_enrich(srv, c->device_id, c->name, args, output);
    } else if (strcmp(c->name, "getfile") == 0) {
        if (live_getfile_check(srv, d->id, output, sha, &size, err, sizeof(err)) == 0) {
            how.file_sha256 = sha;
            how.file_size = size;
        } else {
            how.state = LIVE_FAILED;
            how.error = err;
        }
    }
end:
    if (live_end(srv, c, &how) == -EIO)
        log_warn("live: command %lld could not be ended (store error); the sweep tries again", (long long)c->id);
    json_decref(output);
    json_decref(args);
}

/* Ends bridged command c when its action ended. Returns whether it ended. */
static bool end_from_action(struct server *srv, const struct store_live_command *c)
{
    struct live_ending how = {0};
    json_t *output = NULL;
    bool ended = false, succeeded = false;
    char why[160];
    int e;

    e = live_actions_poll(srv, c->action_id, &ended, &succeeded, &output);
    if (e == -ENOENT) {
        snprintf(why, sizeof(why), "action %lld is gone", (long long)c->action_id);
        how.state = LIVE_FAILED;
        how.error = why;
        live_end(srv, c, &how);
        return true;
    }
    if (e || !ended) {
        json_decref(output);
        return false;
    }
    how.state = succeeded ? LIVE_SUCCEEDED : LIVE_FAILED;
    how.output = output;
    if (!succeeded) {
        const char *state = json_string_value(json_object_get(output, "state"));
        const char *error = json_string_value(json_object_get(output, "error"));
        snprintf(why, sizeof(why), "action %lld ended %s%s%.100s", (long long)c->action_id, state ? state : "unsuccessful",
                 error ? ": " : "", error ? error : "");
        how.error = why;
        if (state && strcmp(state, "cancelled") == 0)
            how.state = LIVE_CANCELLED;
    }
    live_end(srv, c, &how);
    json_decref(output);
    return true;
}

void live_follow(struct server *srv, int64_t id)
{
    struct store_live_command c = {0};
    struct store_command d = {0};
    int64_t now = store_now_ms(srv->store);
    char why[200];

    if (store_live_command_get(srv->store, id, &c) != 0 || c.state != LIVE_RUNNING)
        goto out;
    if (c.device_command_id) {
        if (store_command_get(srv->store, c.device_id, c.device_command_id, &d) != 0)
            goto deadline;
        if (d.status == CMD_SUCCEEDED || d.status == CMD_FAILED) {
            end_from_device(srv, &c, &d);
            goto out;
        }
    } else if (c.action_id) {
        if (end_from_action(srv, &c))
            goto out;
    }
deadline:
    if (c.deadline_ms && now >= c.deadline_ms) {
        if (c.action_id)
            snprintf(why, sizeof(why),
                     "timed out after %lld s: no longer followed here; action %lld goes on in the action center",
                     (long long)((c.deadline_ms - c.created_ms) / 1000), (long long)c.action_id);
        else
            snprintf(why, sizeof(why), "timed out after %lld s; the agent was asked to stop it",
                     (long long)((c.deadline_ms - c.created_ms) / 1000));
        live_stop(srv, NULL, NULL, id, LIVE_TIMED_OUT, why);
    }
out:
    store_command_clear(&d);
    store_live_command_clear(&c);
}

void live_command_changed(struct server *srv, int64_t command_id)
{
    struct store_live_command c;

    if (!server_module_state(srv, &live_module))
        return;
    if (store_live_command_by_device_command(srv->store, command_id, &c) != 0)
        return;
    if (c.state == LIVE_RUNNING)
        live_follow(srv, c.id);
    store_live_command_clear(&c);
}

/* ------------------------------------------------------------ stopping */

int live_stop(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id,
              enum store_live_state state, const char *why)
{
    struct store_live_command c = {0};
    struct live_ending how = {0};
    const char *by = who && who->kind == PRINCIPAL_USER ? who->user_name : "server";
    char err[300];
    int e;

    e = store_live_command_get(srv->store, id, &c);
    if (e)
        return e;
    if (c.state != LIVE_RUNNING) {
        e = -ESTALE;
        goto out;
    }
    if (c.device_command_id) {
        enum store_command_status now_status;
        bool withdrawn = false;
        /* queued: it never runs; sent: the agent is told in its next progress or output answer */
        if (store_command_withdraw(srv->store, c.device_id, c.device_command_id, why, true, &withdrawn,
                                   &now_status) != 0)
            log_warn("live: cannot withdraw device command %lld of live command %lld", (long long)c.device_command_id,
                     (long long)id);
    }
    if (c.action_id && state == LIVE_CANCELLED && who) {
        e = actions_cancel(srv, who, remote_ip, c.action_id, "cancelled in its live response session", err,
                           sizeof(err));
        if (e && e != -409)
            log_warn("live: cannot cancel action %lld: %s", (long long)c.action_id, err);
    }
    how.state = state;
    how.error = why;
    how.cancelled_by = state == LIVE_CANCELLED ? by : NULL;
    e = live_end(srv, &c, &how);
out:
    store_live_command_clear(&c);
    return e;
}

int live_close(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id,
               const char *reason)
{
    struct store_live_session s = {0};
    struct store_live_command *v = NULL;
    const char *by = who && who->kind == PRINCIPAL_USER ? who->user_name : "server";
    char why[300];
    size_t n = 0;
    int e;

    e = store_live_session_get(srv->store, id, &s);
    if (e)
        return e;
    e = store_live_session_close(srv->store, id, store_now_ms(srv->store), by, reason);
    if (e)
        goto out;
    live_audit(srv, who, remote_ip, "live.session.close", id, 0, "device_id", s.device_id, "user", s.user_name,
               "closed_by", by, "reason", reason, NULL);
    log_info("live: session %lld on %s closed by %s (%s)", (long long)id, s.device_id, by, reason);
    /* its running commands end with it (an action it started goes on in the action center) */
    snprintf(why, sizeof(why), "the session closed (%s)", reason);
    if (store_live_command_list(srv->store, id, true, SWEEP_BATCH, &v, &n) == 0)
        for (size_t i = 0; i < n; i++)
            live_stop(srv, NULL, NULL, v[i].id, LIVE_CANCELLED, why);
    store_live_commands_free(v, n);
out:
    store_live_session_clear(&s);
    return e;
}

/* ------------------------------------------------------------ long polls */

struct answer {
    unsigned status;
    const char *buf;
    size_t len;
};

/* Deferral callbacks: they only write the response. */
static void fill_answer(struct http_response *rs, void *ctx)
{
    const struct answer *a = ctx;
    http_body_raw(rs, a->buf, a->len, "application/json");
    http_status(rs, a->status);
}

static void fill_backstop(struct http_response *rs, void *ctx)
{
    (void)ctx;
    http_error(rs, 503, "the wait ended without an answer; ask again");
}

/* Answers waiter w with command c (NULL: it could not be read). */
static void answer_waiter(struct server *srv, const struct waiter *w, const struct store_live_command *c)
{
    struct answer a = {.status = w->status};
    struct jsonw j;

    jsonw_init(&j);
    if (c) {
        jsonw_object_begin(&j);
        jsonw_key(&j, "command");
        live_write_command(srv, &j, c, w->offset);
        jsonw_object_end(&j);
    }
    if (!c || jsonw_failed(&j)) {
        static const char failed[] = "{\"error\":{\"code\":500,\"message\":\"cannot read the command\"}}";
        a.status = 500;
        a.buf = failed;
        a.len = sizeof(failed) - 1;
    } else {
        a.buf = j.buf;
        a.len = j.len;
    }
    http_deferred_complete(w->defer_id, fill_answer, &a);
    jsonw_free(&j);
}

void live_wake(struct server *srv, int64_t command_id)
{
    struct live *lv = server_module_state(srv, &live_module);
    struct store_live_command c = {0};
    struct waiter *ready = NULL;
    uint64_t now = mono_ms();
    bool have, waited = false;

    if (!lv)
        return;
    /* nobody waits for it (the common case): nothing to read */
    pthread_mutex_lock(&lv->lock);
    for (struct waiter *w = lv->waiters; w && !waited; w = w->next)
        waited = w->command_id == command_id;
    pthread_mutex_unlock(&lv->lock);
    if (!waited)
        return;
    have = store_live_command_get(srv->store, command_id, &c) == 0;
    pthread_mutex_lock(&lv->lock);
    for (struct waiter **pp = &lv->waiters; *pp;) {
        struct waiter *w = *pp;
        if (w->command_id == command_id &&
            (!have || c.state != LIVE_RUNNING || c.stream_bytes > w->offset || w->deadline_ms <= now)) {
            *pp = w->next;
            w->next = ready;
            ready = w;
            lv->nwaiters--;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&lv->lock);
    while (ready) {
        struct waiter *w = ready;
        ready = w->next;
        answer_waiter(srv, w, have ? &c : NULL);
        free(w);
    }
    store_live_command_clear(&c);
}

bool live_wait(struct http_request *rq, struct http_response *rs, int64_t id, int64_t offset, unsigned wait_s,
               unsigned status)
{
    struct server *srv = http_server(rq);
    struct live *lv = server_module_state(srv, &live_module);
    struct waiter *w;

    if (!lv || wait_s == 0)
        return false;
    w = calloc(1, sizeof(*w));
    if (!w)
        return false;
    pthread_mutex_lock(&lv->lock);
    if (lv->nwaiters >= MAX_WAITERS) {
        pthread_mutex_unlock(&lv->lock);
        free(w);
        return false;
    }
    w->defer_id = http_defer(rq, rs, wait_s * 1000 + BACKSTOP_MS, fill_backstop, NULL);
    if (!w->defer_id) {
        pthread_mutex_unlock(&lv->lock);
        free(w);
        return false;
    }
    w->command_id = id;
    w->offset = offset;
    w->status = status;
    w->deadline_ms = mono_ms() + wait_s * 1000;
    w->next = lv->waiters;
    lv->waiters = w;
    lv->nwaiters++;
    pthread_mutex_unlock(&lv->lock);
    live_wake(srv, id); /* what changed before the registration */
    return true;
}

/* ------------------------------------------------------------ the sweep */

static void sweep_commands(struct server *srv)
{
    struct store_live_command *v = NULL;
    size_t n = 0;

    if (store_live_command_list(srv->store, 0, true, SWEEP_BATCH, &v, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct store_live_session s;
        bool closed = false;
        if (store_live_session_get(srv->store, v[i].session_id, &s) == 0) {
            closed = s.closed_ms != 0;
            store_live_session_clear(&s);
        }
        if (closed) /* started while its session closed */
            live_stop(srv, NULL, NULL, v[i].id, LIVE_CANCELLED, "the session is closed");
        else
            live_follow(srv, v[i].id);
    }
    store_live_commands_free(v, n);
}

/* Closes the sessions idle for too long, and those of offboarded devices. */
static void sweep_sessions(struct server *srv)
{
    int64_t idle = live_idle_ms(srv), *ids = NULL;
    struct store_live_session *v = NULL;
    char reason[80], limit[32];
    size_t n = 0;

    if (store_live_session_idle(srv->store, store_now_ms(srv->store) - idle, &ids, &n) == 0) {
        live_duration(idle, limit, sizeof(limit));
        snprintf(reason, sizeof(reason), "idle for %s", limit);
        for (size_t i = 0; i < n; i++)
            live_close(srv, NULL, NULL, ids[i], reason);
        free(ids);
    }
    if (store_live_session_list(srv->store, true, SWEEP_BATCH, &v, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct store_device d;
        if (store_device_get(srv->store, v[i].device_id, &d) != 0)
            continue;
        if (d.offboarded_ms)
            live_close(srv, NULL, NULL, v[i].id, "the device was offboarded");
        store_device_clear(&d);
    }
    store_live_sessions_free(v, n);
}

static void sweep_waiters(struct live *lv)
{
    int64_t ids[64];
    size_t n = 0;
    uint64_t now = mono_ms();

    /* the polls whose time is up, a few commands at a time (others next round) */
    pthread_mutex_lock(&lv->lock);
    for (struct waiter *w = lv->waiters; w && n < sizeof(ids) / sizeof(ids[0]); w = w->next) {
        size_t i;
        if (w->deadline_ms > now)
            continue;
        for (i = 0; i < n && ids[i] != w->command_id; i++)
            ;
        if (i == n)
            ids[n++] = w->command_id;
    }
    pthread_mutex_unlock(&lv->lock);
    for (size_t i = 0; i < n; i++)
        live_wake(lv->srv, ids[i]);
}

static void *sweeper_main(void *arg)
{
    struct live *lv = arg;
    uint64_t last_idle = 0;

    pthread_mutex_lock(&lv->sweep_lock);
    while (!lv->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SWEEP_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&lv->sweep_cond, &lv->sweep_lock, &ts);
        if (lv->stop)
            break;
        pthread_mutex_unlock(&lv->sweep_lock);
        sweep_commands(lv->srv);
        if (mono_ms() - last_idle >= IDLE_CHECK_MS) {
            sweep_sessions(lv->srv);
            last_idle = mono_ms();
        }
        sweep_waiters(lv);
        pthread_mutex_lock(&lv->sweep_lock);
    }
    pthread_mutex_unlock(&lv->sweep_lock);
    return NULL;
}

/* ------------------------------------------------------------ module */

static int live_init(struct server *srv, char *err, size_t errlen)
{
    struct live *lv = calloc(1, sizeof(*lv));

    if (!lv) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    lv->srv = srv;
    pthread_mutex_init(&lv->lock, NULL);
    pthread_mutex_init(&lv->sweep_lock, NULL);
    pthread_cond_init(&lv->sweep_cond, NULL);
    server_set_module_state(srv, &live_module, lv);
    if (pthread_create(&lv->sweeper, NULL, sweeper_main, lv) != 0) {
        snprintf(err, errlen, "cannot start the live response sweep thread");
        server_set_module_state(srv, &live_module, NULL);
        pthread_mutex_destroy(&lv->lock);
        pthread_mutex_destroy(&lv->sweep_lock);
        pthread_cond_destroy(&lv->sweep_cond);
        free(lv);
        return -EAGAIN;
    }
    lv->sweeper_started = true;
    return 0;
}

/* Runs after the HTTP server stopped (every deferred request was answered). */
static void live_fini(struct server *srv)
{
    struct live *lv = server_module_state(srv, &live_module);

    if (!lv)
        return;
    pthread_mutex_lock(&lv->sweep_lock);
    lv->stop = true;
    pthread_cond_signal(&lv->sweep_cond);
    pthread_mutex_unlock(&lv->sweep_lock);
    if (lv->sweeper_started)
        pthread_join(lv->sweeper, NULL);
    server_set_module_state(srv, &live_module, NULL);
    while (lv->waiters) {
        struct waiter *w = lv->waiters;
        lv->waiters = w->next;
        free(w);
    }
    pthread_mutex_destroy(&lv->lock);
    pthread_mutex_destroy(&lv->sweep_lock);
    pthread_cond_destroy(&lv->sweep_cond);
    free(lv);
}

static const struct server_module live_module = {
    .name = "live",
    .order = 70,
    .init = live_init,
    .fini = live_fini,
    .routes = live_routes,
};
SERVER_MODULE(live_module);
