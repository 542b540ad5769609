/*
 * actions.c — the action center's life cycle (see actions.h): creating,
 * approving, rejecting, cancelling and undoing actions, dispatching them
 * to their device as commands, following their commands' states, and the
 * sweep that expires what waited too long.
 *
 * One function moves an action after its command (sync_action): it reads
 * both, derives the state the action should be in, and writes it with a
 * conditional update; the thread that wins the update audits the change,
 * so each change is audited once even when the command channel's hook and
 * the sweep race. Dispatching (queueing the command and recording its id)
 * runs under one lock, so an action never gets two commands.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "server/actions.h"
#include "server/scan_alerts.h"
#include "server/actions_int.h"
#include "server/audit.h"
#include "server/devices.h"
#include "server/devices_int.h"
#include "server/server.h"
#include "server/store_actions.h"

#define SWEEP_INTERVAL_MS 1000
#define SWEEP_BATCH 500
#define MAX_COMMENT 1000
#define SYNC_ROUNDS 4

static const char expired_text[] = "the action expired before the device fetched it";
static const char cancelled_text[] = "the action was cancelled before the device fetched it";

struct actions {
    struct server *srv;
    pthread_mutex_t dispatch_lock;
    pthread_mutex_t sweep_lock;
    pthread_cond_t sweep_cond;
    bool stop;
    pthread_t sweeper;
    bool sweeper_started;
};

static const struct server_module actions_module;

/* ------------------------------------------------------------ helpers */

bool actions_valid_comment(const char *s)
{
    return !s || !*s || devices_valid_text(s, MAX_COMMENT);
}

static const char *who_name(const struct principal *who)
{
    return who && who->kind == PRINCIPAL_USER ? who->user_name : "automation";
}

/* Audits `verb` ("action.create", "action.sent", ...) for action a. */
static void audit_action(struct server *srv, const struct principal *who, const char *ip, const char *verb,
                         const struct store_action *a, enum store_action_state from, const char *comment)
{
    struct jsonw w;
    char target[48], *detail;

    snprintf(target, sizeof(target), "action:%lld", (long long)a->id);
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_kv_int(&w, "action_id", a->id);
    jsonw_kv_str(&w, "type", a->type);
    jsonw_kv_str(&w, "device_id", a->device_id);
    if (from)
        jsonw_kv_str(&w, "from", store_action_state_name(from));
    jsonw_kv_str(&w, "state", store_action_state_name(a->state));
    if (comment && *comment)
        jsonw_kv_str(&w, "comment", comment);
    if (a->error && store_action_state_final(a->state))
        jsonw_kv_str(&w, "error", a->error);
    if (a->undo_of)
        jsonw_kv_int(&w, "undo_of", a->undo_of);
    jsonw_object_end(&w);
    detail = jsonw_failed(&w) ? NULL : strndup(w.buf, w.len); /* the writer's buffer is not NUL-terminated */
    audit_record(srv, who, ip, verb, target, detail);
    free(detail);
    jsonw_free(&w);
}

/* Audits a change of state of a ("action.<new state>"). */
static void audit_change(struct server *srv, const struct principal *who, const char *ip,
                         const struct store_action *a, enum store_action_state from, const char *comment)
{
    char verb[48];

    snprintf(verb, sizeof(verb), "action.%s", store_action_state_name(a->state));
    audit_action(srv, who, ip, verb, a, from, comment);
}

static int set_text(char **dst, const char *src)
{
    char *copy = src ? strdup(src) : NULL;

    if (src && !copy)
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

/* ------------------------------------------------------------ following the command */

/* Whether a successful command's output says it was stopped on request
 * ({"cancelled": true, ...}, as a scan answers). */
static bool cancelled_output(const char *output_json)
{
    json_t *o = output_json ? json_loads(output_json, 0, NULL) : NULL;
    bool yes = json_is_true(json_object_get(o, "cancelled"));

    json_decref(o);
    return yes;
}

/* The state action a should be in after its command c (a is queued, sent
 * or running and carries c); fills the fields that come with it. */
static enum store_action_state derive(struct store_action *a, const struct store_command *c, int64_t now, bool *oom)
{
    enum store_action_state to = a->state;

    if (c->progress_json && (!a->progress_json || strcmp(a->progress_json, c->progress_json) != 0))
        *oom |= set_text(&a->progress_json, c->progress_json) != 0;
    a->progress_ms = c->progress_ms;
    if (!a->cancel_ms && c->cancel_ms)
        a->cancel_ms = c->cancel_ms; /* asked for while the action moved: the command remembers */
    switch (c->status) {
    case CMD_QUEUED: to = ACTION_QUEUED; break;
    case CMD_SENT:
        to = c->progress_ms ? ACTION_RUNNING : ACTION_SENT;
        if (!a->sent_ms)
            a->sent_ms = c->sent_ms;
        if (to == ACTION_RUNNING && !a->started_ms)
            a->started_ms = c->progress_ms;
        break;
    case CMD_SUCCEEDED:
    case CMD_FAILED:
        if (!a->sent_ms)
            a->sent_ms = c->sent_ms;
        a->completed_ms = c->completed_ms ? c->completed_ms : now;
        *oom |= set_text(&a->result_json, c->output_json) != 0;
        *oom |= set_text(&a->error, c->error) != 0;
        if (c->status == CMD_SUCCEEDED && cancelled_output(c->output_json))
            to = ACTION_CANCELLED; /* stopped on request, with what it did so far (a scan's findings) */
        else if (c->status == CMD_SUCCEEDED)
            to = ACTION_SUCCEEDED;
        else if (c->error && strcmp(c->error, expired_text) == 0)
            to = ACTION_EXPIRED;
        else if (a->cancel_ms || c->cancel_ms || (c->error && strcmp(c->error, cancelled_text) == 0))
            to = ACTION_CANCELLED;
        else
            to = ACTION_FAILED;
        break;
    }
    return to;
}

/* Brings action id up to date with its command (and the clock: expiry,
 * a dispatch that did not happen). */
static void sync_action(struct server *srv, int64_t id)
{
    for (int round = 0; round < SYNC_ROUNDS; round++) {
        struct store_action a = {0};
        struct store_command c = {0};
        enum store_action_state from, to;
        int64_t now = store_now_ms(srv->store);
        bool oom = false, changed;
        int e;

        if (store_action_get(srv->store, id, &a) != 0)
            return;
        from = a.state;
        if (store_action_state_final(from)) {
            store_action_clear(&a);
            return;
        }
        if (from == ACTION_PENDING || (from == ACTION_QUEUED && !a.command_id)) {
            bool expired = a.expires_ms && now >= a.expires_ms;
            store_action_clear(&a);
            if (expired)
                actions_expire(srv, id);
            else if (from == ACTION_QUEUED)
                actions_dispatch(srv, NULL, NULL, id);
            return;
        }
        e = store_command_get(srv->store, a.device_id, a.command_id, &c);
        if (e) {
            store_action_clear(&a);
            return;
        }
        if (c.status == CMD_QUEUED && a.expires_ms && now >= a.expires_ms) {
            store_command_clear(&c);
            store_action_clear(&a);
            actions_expire(srv, id);
            return;
        }
        {
            char *old_progress = a.progress_json ? strdup(a.progress_json) : NULL;
            to = derive(&a, &c, now, &oom);
            changed = to != from || (a.progress_json && (!old_progress || strcmp(old_progress, a.progress_json) != 0));
            free(old_progress);
        }
        store_command_clear(&c);
        if (oom || !changed) {
            store_action_clear(&a);
            return;
        }
        a.state = to;
        if (to == ACTION_QUEUED)
            a.sent_ms = 0; /* taken back: it will be handed out again */
        e = store_action_update(srv->store, &a, from);
        if (e == 0 && to != from) {
            /* a step the command skipped between two looks is still a step */
            if (from == ACTION_QUEUED && to != ACTION_SENT && to != ACTION_QUEUED && a.sent_ms) {
                enum store_action_state real = a.state;
                a.state = ACTION_SENT;
                audit_change(srv, NULL, NULL, &a, from, NULL);
                from = ACTION_SENT;
                a.state = real;
            }
            audit_change(srv, NULL, NULL, &a, from, NULL);
            /* a scan's findings become alerts once, when it ends (also when
             * it was cancelled: what it found so far is kept) */
            if ((to == ACTION_SUCCEEDED || to == ACTION_CANCELLED) && strcmp(a.type, "scan") == 0 &&
                a.result_json && *a.result_json) {
                int n = scan_alerts_raise(srv, a.device_id, a.id, a.result_json);
                if (n < 0)
                    log_warn("action %lld: the scan's findings could not all become alerts (%s)", (long long)a.id,
                             strerror(-n));
            }
        }
        store_action_clear(&a);
        if (e != -ESTALE)
            return;
    }
}

void actions_command_changed(struct server *srv, int64_t command_id)
{
    struct store_action a;

    if (store_action_by_command(srv->store, command_id, &a) != 0)
        return;
    sync_action(srv, a.id);
    store_action_clear(&a);
}

/* ------------------------------------------------------------ dispatch, expiry */

void actions_dispatch(struct server *srv, const struct principal *who, const char *ip, int64_t id)
{
    struct actions *ac = server_module_state(srv, &actions_module);
    struct device_command_opts opts = {0};
    struct store_action a = {0};
    json_t *target = NULL;
    char err[300];
    int64_t cid = 0;
    int e;

    if (!ac)
        return;
    pthread_mutex_lock(&ac->dispatch_lock);
    if (store_action_get(srv->store, id, &a) != 0 || a.state != ACTION_QUEUED || a.command_id)
        goto out;
    target = json_loads(a.target_json, 0, NULL);
    opts.expires_ms = a.expires_ms;
    opts.requested_by = a.requested_by;
    opts.no_wake = true;
    e = devices_command_queue_opts(srv, NULL, ip, a.device_id, a.type, target, &opts, &cid, err, sizeof(err));
    if (e == -429 || e == -500) {
        log_warn("actions: action %lld waits to be queued: %s", (long long)id, err);
        goto out; /* the sweep tries again */
    }
    if (e) {
        a.state = ACTION_FAILED;
        a.completed_ms = store_now_ms(srv->store);
        if (set_text(&a.error, err) == 0 && store_action_update(srv->store, &a, ACTION_QUEUED) == 0)
            audit_change(srv, who, ip, &a, ACTION_QUEUED, NULL);
        goto out;
    }
    a.command_id = cid;
    if (store_action_update(srv->store, &a, ACTION_QUEUED) != 0) {
        /* cancelled meanwhile (or the store failed): the command must not run */
        bool withdrawn;
        enum store_command_status now_status;
        store_command_withdraw(srv->store, a.device_id, cid, cancelled_text, true, &withdrawn, &now_status);
        goto out;
    }
    pthread_mutex_unlock(&ac->dispatch_lock);
    devices_commands_wake(srv, a.device_id);
    store_action_clear(&a);
    json_decref(target);
    return;
out:
    pthread_mutex_unlock(&ac->dispatch_lock);
    store_action_clear(&a);
    json_decref(target);
}

void actions_expire(struct server *srv, int64_t id)
{
    struct store_action a = {0};
    enum store_action_state from;

    if (store_action_get(srv->store, id, &a) != 0)
        return;
    from = a.state;
    if (from != ACTION_PENDING && from != ACTION_QUEUED)
        goto out;
    if (a.command_id) {
        enum store_command_status now_status;
        bool withdrawn = false;
        if (store_command_withdraw(srv->store, a.device_id, a.command_id, expired_text, false, &withdrawn,
                                   &now_status) != 0 ||
            !withdrawn)
            goto out; /* handed out just now: it runs, and the action follows it */
    }
    a.state = ACTION_EXPIRED;
    a.completed_ms = store_now_ms(srv->store);
    if (set_text(&a.error, expired_text) != 0)
        goto out;
    if (store_action_update(srv->store, &a, from) == 0)
        audit_change(srv, NULL, NULL, &a, from, NULL);
out:
    store_action_clear(&a);
}

/* ------------------------------------------------------------ people's verbs */

static bool needs_approval(struct server *srv, const char *type)
{
    const char *list = srv->cfg.approval_required;
    size_t n = strlen(type);

    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ')
            end++;
        if ((size_t)(end - p) == n && strncmp(p, type, n) == 0)
            return true;
        p = end;
    }
    return false;
}

/* Records a new action (its undo_of may be set) and queues it. */
static int create(struct server *srv, const struct principal *who, const char *ip, const struct action_request *rq,
                  int64_t undo_of, int64_t *id, char *err, size_t errlen)
{
    const struct action_type *t = rq->type ? actions_type(rq->type) : NULL;
    struct store_action a = {0};
    struct store_device d = {0};
    json_t *empty = NULL, *target = rq->target;
    char *target_text = NULL;
    int e;

    if (!t) {
        snprintf(err, errlen, "type: unknown action type '%.32s'", rq->type && devices_valid_text(rq->type, 32) ? rq->type : "");
        return -400;
    }
    if (!target)
        target = empty = json_object();
    if (!json_is_object(target)) {
        snprintf(err, errlen, "target: must be an object");
        e = -400;
        goto out;
    }
    if (t->validate_target(target, err, errlen) != 0) {
        e = -400;
        goto out;
    }
    if (!actions_valid_comment(rq->comment)) {
        snprintf(err, errlen, "comment: must be text of at most %d bytes without control characters", MAX_COMMENT);
        e = -400;
        goto out;
    }
    if (!rq->device_id || !devices_valid_id(rq->device_id)) {
        snprintf(err, errlen, "device: must be a device id");
        e = -400;
        goto out;
    }
    e = store_device_get(srv->store, rq->device_id, &d);
    if (e == -ENOENT) {
        snprintf(err, errlen, "no device %s", rq->device_id);
        e = -404;
        goto out;
    }
    if (e) {
        snprintf(err, errlen, "cannot read the device (store error)");
        e = -500;
        goto out;
    }
    if (d.offboarded_ms) {
        snprintf(err, errlen, "the device %s was offboarded; it takes no actions", d.name);
        e = -409;
        goto out;
    }
    target_text = json_dumps(target, JSON_COMPACT | JSON_SORT_KEYS);
    if (!target_text) {
        snprintf(err, errlen, "out of memory");
        e = -500;
        goto out;
    }
    snprintf(a.device_id, sizeof(a.device_id), "%s", d.id);
    snprintf(a.type, sizeof(a.type), "%s", t->name);
    a.target_json = target_text;
    a.comment = (char *)(rq->comment ? rq->comment : "");
    snprintf(a.requested_by, sizeof(a.requested_by), "%s", who_name(who));
    a.automated = !(who && who->kind == PRINCIPAL_USER);
    a.created_ms = store_now_ms(srv->store);
    a.expires_ms = a.created_ms + (int64_t)srv->cfg.action_expiry_ms;
    a.state = needs_approval(srv, t->name) ? ACTION_PENDING : ACTION_QUEUED;
    a.queued_ms = a.state == ACTION_QUEUED ? a.created_ms : 0;
    a.undo_of = undo_of;
    e = store_action_create(srv->store, &a, id);
    a.comment = NULL;
    a.target_json = NULL;
    if (e == -EALREADY) {
        snprintf(err, errlen, "action %lld was undone already", (long long)undo_of);
        e = -409;
        goto out;
    }
    if (e) {
        snprintf(err, errlen, "cannot record the action (store error)");
        e = -500;
        goto out;
    }
    a.id = *id;
    audit_action(srv, who, ip, "action.create", &a, 0, rq->comment);
    if (a.state == ACTION_QUEUED)
        actions_dispatch(srv, who, ip, *id);
    e = 0;
out:
    free(target_text);
    json_decref(empty);
    store_device_clear(&d);
    return e;
}

int actions_create(struct server *srv, const struct principal *who, const char *remote_ip,
                   const struct action_request *rq, int64_t *id, char *err, size_t errlen)
{
    return create(srv, who, remote_ip, rq, 0, id, err, errlen);
}

/* Reads action id for a person's verb: -404 with a sentence when absent. */
static int load(struct server *srv, int64_t id, struct store_action *a, char *err, size_t errlen)
{
    int e = store_action_get(srv->store, id, a);

    if (e == -ENOENT) {
        snprintf(err, errlen, "no action %lld", (long long)id);
        return -404;
    }
    if (e) {
        snprintf(err, errlen, "cannot read the action (store error)");
        return -500;
    }
    return 0;
}

int actions_decide(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id, bool approve,
                   const char *comment, char *err, size_t errlen)
{
    struct store_action a = {0};
    int e;

    if (!actions_valid_comment(comment)) {
        snprintf(err, errlen, "comment: must be text of at most %d bytes without control characters", MAX_COMMENT);
        return -400;
    }
    e = load(srv, id, &a, err, errlen);
    if (e)
        return e;
    if (a.state != ACTION_PENDING) {
        snprintf(err, errlen, "action %lld is %s, not pending approval", (long long)id, store_action_state_name(a.state));
        e = -409;
        goto out;
    }
    if (!a.automated && strcmp(a.requested_by, who_name(who)) == 0) {
        snprintf(err, errlen, "you requested action %lld; someone else must %s it", (long long)id,
                 approve ? "approve" : "reject");
        e = -403;
        goto out;
    }
    a.decided_ms = store_now_ms(srv->store);
    snprintf(a.decided_by, sizeof(a.decided_by), "%s", who_name(who));
    if (set_text(&a.decision_comment, comment ? comment : "") != 0) {
        snprintf(err, errlen, "out of memory");
        e = -500;
        goto out;
    }
    if (approve) {
        a.state = ACTION_QUEUED;
        a.queued_ms = a.decided_ms;
    } else {
        a.state = ACTION_REJECTED;
        a.completed_ms = a.decided_ms;
    }
    e = store_action_update(srv->store, &a, ACTION_PENDING);
    if (e == -ESTALE) {
        snprintf(err, errlen, "action %lld changed meanwhile; look again", (long long)id);
        e = -409;
        goto out;
    }
    if (e) {
        snprintf(err, errlen, "cannot record the decision (store error)");
        e = -500;
        goto out;
    }
    audit_change(srv, who, remote_ip, &a, ACTION_PENDING, comment);
    if (approve)
        actions_dispatch(srv, who, remote_ip, id);
out:
    store_action_clear(&a);
    return e;
}

int actions_cancel(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id,
                   const char *comment, char *err, size_t errlen)
{
    struct actions *ac = server_module_state(srv, &actions_module);
    struct store_action a = {0};
    enum store_action_state from;
    int e;

    if (!actions_valid_comment(comment)) {
        snprintf(err, errlen, "comment: must be text of at most %d bytes without control characters", MAX_COMMENT);
        return -400;
    }
    if (!ac) {
        snprintf(err, errlen, "the action center is not ready");
        return -500;
    }
    pthread_mutex_lock(&ac->dispatch_lock); /* no command appears meanwhile */
    e = load(srv, id, &a, err, errlen);
    if (e)
        goto out;
    from = a.state;
    if (store_action_state_final(from)) {
        snprintf(err, errlen, "action %lld is %s already", (long long)id, store_action_state_name(from));
        e = -409;
        goto out;
    }
    if (a.cancel_ms) {
        snprintf(err, errlen, "cancelling action %lld was asked for already; the device has not answered yet",
                 (long long)id);
        e = -409;
        goto out;
    }
    a.cancel_ms = store_now_ms(srv->store);
    snprintf(a.cancelled_by, sizeof(a.cancelled_by), "%s", who_name(who));
    if (a.command_id) {
        enum store_command_status now_status;
        bool withdrawn = false;
        e = store_command_withdraw(srv->store, a.device_id, a.command_id, cancelled_text, true, &withdrawn,
                                   &now_status);
        if (e) {
            snprintf(err, errlen, "cannot withdraw the command (store error)");
            e = -500;
            goto out;
        }
        if (!withdrawn) {
            /* delivered: ask the agent to stop; the result decides */
            e = store_action_update(srv->store, &a, from);
            if (e) {
                snprintf(err, errlen, "action %lld changed meanwhile; look again", (long long)id);
                e = -409;
                goto out;
            }
            audit_action(srv, who, remote_ip, "action.cancel_requested", &a, 0, comment);
            goto out;
        }
    }
    a.state = ACTION_CANCELLED;
    a.completed_ms = a.cancel_ms;
    if (set_text(&a.error, cancelled_text) != 0) {
        snprintf(err, errlen, "out of memory");
        e = -500;
        goto out;
    }
    e = store_action_update(srv->store, &a, from);
    if (e) {
        snprintf(err, errlen, "action %lld changed meanwhile; look again", (long long)id);
        e = -409;
        goto out;
    }
    audit_change(srv, who, remote_ip, &a, from, comment);
out:
    pthread_mutex_unlock(&ac->dispatch_lock);
    store_action_clear(&a);
    if (!e)
        sync_action(srv, id);
    return e;
}

int actions_undo(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id,
                 const char *comment, int64_t *undo_id, char *err, size_t errlen)
{
    const struct action_type *t;
    struct action_request rq = {0};
    struct store_action a = {0};
    json_t *result = NULL, *target = NULL;
    int e;

    e = load(srv, id, &a, err, errlen);
    if (e)
        return e;
    t = actions_type(a.type);
    if (!t || !t->undo) {
        snprintf(err, errlen, "a %s action has no undo", a.type);
        e = -409;
        goto out;
    }
    if (a.state != ACTION_SUCCEEDED) {
        snprintf(err, errlen, "action %lld is %s; only a succeeded action can be undone", (long long)id,
                 store_action_state_name(a.state));
        e = -409;
        goto out;
    }
    if (a.undone_by) {
        snprintf(err, errlen, "action %lld was undone already by action %lld", (long long)id, (long long)a.undone_by);
        e = -409;
        goto out;
    }
    target = json_object();
    if (!target) {
        snprintf(err, errlen, "out of memory");
        e = -500;
        goto out;
    }
    if (t->undo_key) {
        json_t *v;
        result = a.result_json ? json_loads(a.result_json, 0, NULL) : NULL;
        v = json_object_get(result, t->undo_key);
        if (!json_is_string(v)) {
            snprintf(err, errlen, "action %lld's result has no %s to undo it with", (long long)id, t->undo_key);
            e = -409;
            goto out;
        }
        json_object_set(target, t->undo_key, v);
    }
    rq.device_id = a.device_id;
    rq.type = t->undo;
    rq.target = target;
    rq.comment = comment;
    e = create(srv, who, remote_ip, &rq, id, undo_id, err, errlen);
out:
    json_decref(result);
    json_decref(target);
    store_action_clear(&a);
    return e;
}

/* ------------------------------------------------------------ the sweep */

/* Looks at every open action, a page at a time (an action that leaves
 * the open states meanwhile may shift a page; it is seen next second). */
static void sweep_once(struct server *srv)
{
    struct store_action_filter f = {.open = true};
    size_t offset = 0;

    for (;;) {
        struct store_action *v = NULL;
        size_t n = 0, total = 0;

        if (store_action_list(srv->store, &f, SWEEP_BATCH, offset, &v, &n, &total) != 0)
            return;
        for (size_t i = 0; i < n; i++)
            sync_action(srv, v[i].id);
        store_actions_free(v, n);
        if (n < SWEEP_BATCH)
            return;
        offset += n;
    }
}

static void *sweeper_main(void *arg)
{
    struct actions *ac = arg;

    pthread_mutex_lock(&ac->sweep_lock);
    while (!ac->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += SWEEP_INTERVAL_MS / 1000;
        pthread_cond_timedwait(&ac->sweep_cond, &ac->sweep_lock, &ts);
        if (ac->stop)
            break;
        pthread_mutex_unlock(&ac->sweep_lock);
        sweep_once(ac->srv);
        pthread_mutex_lock(&ac->sweep_lock);
    }
    pthread_mutex_unlock(&ac->sweep_lock);
    return NULL;
}

/* ------------------------------------------------------------ module */

static int actions_init(struct server *srv, char *err, size_t errlen)
{
    struct actions *ac;
    char list[sizeof(srv->cfg.approval_required)];

    /* every type approval_required names must exist */
    snprintf(list, sizeof(list), "%s", srv->cfg.approval_required);
    for (char *save = NULL, *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (!actions_type(tok)) {
            snprintf(err, errlen, "approval_required: '%.32s' is not an action type (see docs/api.md, \"Actions\")",
                     tok);
            return -EINVAL;
        }
    }
    ac = calloc(1, sizeof(*ac));
    if (!ac) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ac->srv = srv;
    pthread_mutex_init(&ac->dispatch_lock, NULL);
    pthread_mutex_init(&ac->sweep_lock, NULL);
    pthread_cond_init(&ac->sweep_cond, NULL);
    server_set_module_state(srv, &actions_module, ac);
    if (pthread_create(&ac->sweeper, NULL, sweeper_main, ac) != 0) {
        snprintf(err, errlen, "cannot start the action center's sweep thread");
        server_set_module_state(srv, &actions_module, NULL);
        pthread_mutex_destroy(&ac->dispatch_lock);
        pthread_mutex_destroy(&ac->sweep_lock);
        pthread_cond_destroy(&ac->sweep_cond);
        free(ac);
        return -EAGAIN;
    }
    ac->sweeper_started = true;
    return 0;
}

static void actions_fini(struct server *srv)
{
    struct actions *ac = server_module_state(srv, &actions_module);

    if (!ac)
        return;
    pthread_mutex_lock(&ac->sweep_lock);
    ac->stop = true;
    pthread_cond_signal(&ac->sweep_cond);
    pthread_mutex_unlock(&ac->sweep_lock);
    if (ac->sweeper_started)
        pthread_join(ac->sweeper, NULL);
    server_set_module_state(srv, &actions_module, NULL);
    pthread_mutex_destroy(&ac->dispatch_lock);
    pthread_mutex_destroy(&ac->sweep_lock);
    pthread_cond_destroy(&ac->sweep_cond);
    free(ac);
}

static const struct server_module actions_module = {
    .name = "actions",
    .order = 40,
    .init = actions_init,
    .fini = actions_fini,
    .routes = actions_routes,
};
SERVER_MODULE(actions_module);
