/*
 * live_actions.c — live response's commands that change a device become
 * action-center actions (live_actions.h).
 *
 *   remediate file <path>            quarantine_file {"path"}
 *   remediate process <pid>          kill_process {"pid"}
 *   remediate service <unit>         remove_persistence {"kind": "systemd_unit", "match": unit}
 *   remediate scheduledtask <id>     remove_persistence {"entry": id, "scheduled": true}
 *   remediate persistence <id>       remove_persistence {"entry": id}
 *   undo file|service|scheduledtask|persistence <id>
 *                                    the undo (actions_undo) of the newest
 *                                    succeeded remediation of that entity on
 *                                    the device that is not undone yet
 *   isolate, release, collect        the action of the same name
 *   scan [-quick|-full|-path P]      scan, with the server's SHA-256 indicators
 *
 * The entry ids of scheduled tasks and persistence entries are the ones
 * the agent's `scheduledtasks` and `persistence` list (docs/live.md); the
 * agent resolves the id again when the action runs, so what is removed is
 * what the id names then, and its output says exactly what went.
 *
 * The enrichment of `analyze` and `fileinfo` is in live_enrich.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/actions.h"
#include "server/http.h"
#include "server/live_actions.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_actions.h"
#include "server/store_indicators.h"

#define COMMENT_MAX 1000
#define UNDO_SCAN 500 /* remediations of one type looked at for an undo */

static const char *const bridged[] = {"remediate", "undo", "isolate", "release", "scan", "collect", NULL};

bool live_actions_bridged(const char *command)
{
    for (const char *const *p = bridged; command && *p; p++)
        if (strcmp(*p, command) == 0)
            return true;
    return false;
}

static const char *arg_str(json_t *args, const char *key)
{
    json_t *v = json_object_get(args, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool arg_true(json_t *args, const char *key)
{
    return json_is_true(json_object_get(args, key));
}

/* "remediate scheduledtask" -> the action type and target; NULL type with
 * err on a target the grammar let through but no action takes. */
static int remediation_target(const char *kind, json_t *args, const char **type, json_t **target, char *err,
                              size_t errlen)
{
    json_t *id = json_object_get(args, "id");
    const char *s = json_is_string(id) ? json_string_value(id) : NULL;

    *target = NULL;
    if (strcmp(kind, "file") == 0 && s) {
        *type = "quarantine_file";
        *target = json_pack("{s:s}", "path", s);
    } else if (strcmp(kind, "process") == 0 && json_is_integer(id)) {
        *type = "kill_process";
        *target = json_pack("{s:I}", "pid", (json_int_t)json_integer_value(id));
    } else if (strcmp(kind, "service") == 0 && s) {
        char unit[300];
        bool suffixed = strchr(s, '.') != NULL;
        if (strlen(s) > 255 || strchr(s, '/')) {
            snprintf(err, errlen, "remediate service: '%s' is not a unit name", s);
            return -400;
        }
        snprintf(unit, sizeof(unit), "%s%s", s, suffixed ? "" : ".service");
        *type = "remove_persistence";
        *target = json_pack("{s:s,s:s}", "kind", "systemd_unit", "match", unit);
    } else if ((strcmp(kind, "scheduledtask") == 0 || strcmp(kind, "persistence") == 0) && s) {
        *type = "remove_persistence";
        *target = json_pack("{s:s,s:b}", "entry", s, "scheduled", strcmp(kind, "scheduledtask") == 0);
    } else {
        snprintf(err, errlen, "remediate: no remediation of a %s named like that", kind);
        return -400;
    }
    if (!*target) {
        snprintf(err, errlen, "out of memory");
        return -500;
    }
    return 0;
}

/* Whether the target of a remediation of kind names id. */
static bool names_entity(const char *kind, const char *type, json_t *target, const char *id)
{
    if (strcmp(kind, "file") == 0)
        return strcmp(type, "quarantine_file") == 0 && arg_str(target, "path") && !strcmp(arg_str(target, "path"), id);
    if (strcmp(type, "remove_persistence") != 0)
        return false;
    if (strcmp(kind, "service") == 0) {
        const char *m = arg_str(target, "match");
        size_t n = strlen(id);
        return m && arg_str(target, "kind") && !strcmp(arg_str(target, "kind"), "systemd_unit") &&
               (!strcmp(m, id) || (!strchr(id, '.') && !strncmp(m, id, n) && !strcmp(m + n, ".service")));
    }
    return arg_str(target, "entry") && !strcmp(arg_str(target, "entry"), id);
}

/* The newest succeeded remediation of kind/id on device that is not undone. */
static int find_undoable(struct server *srv, const char *device_id, const char *kind, const char *id, int64_t *out,
                         char *err, size_t errlen)
{
    const char *type = strcmp(kind, "file") == 0 ? "quarantine_file" : "remove_persistence";
    struct store_action_filter f = {.state = ACTION_SUCCEEDED, .device_id = device_id, .type = type};
    struct store_action *v = NULL;
    size_t n = 0, total = 0;
    bool undone_seen = false;
    int e;

    e = store_action_list(srv->store, &f, UNDO_SCAN, 0, &v, &n, &total);
    if (e) {
        snprintf(err, errlen, "cannot read the action center (store error)");
        return -500;
    }
    e = -404;
    for (size_t i = 0; i < n && e == -404; i++) {
        json_t *target = json_loads(v[i].target_json ? v[i].target_json : "{}", 0, NULL);
        if (names_entity(kind, v[i].type, target, id)) {
            if (v[i].undone_by)
                undone_seen = true;
            else {
                *out = v[i].id;
                e = 0;
            }
        }
        json_decref(target);
    }
    store_actions_free(v, n);
    if (e)
        snprintf(err, errlen, "undo %s %s: %s", kind, id,
                 undone_seen ? "its remediation was undone already"
                             : "no succeeded remediation of it on this device (`remediate` it first)");
    return e;
}

json_t *live_actions_indicators(struct server *srv)
{
    struct store_indicator *v = NULL;
    size_t n = 0;
    json_t *arr = json_array();
    int64_t now;

    if (!arr || store_indicator_list(srv->store, &v, &n) != 0)
        return arr;
    now = store_now_ms(srv->store);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].type, "sha256") && !strcmp(v[i].action, "alert") &&
            (v[i].expires_ms == 0 || v[i].expires_ms > now))
            json_array_append_new(arr, json_string(v[i].value));
    free(v);
    return arr;
}

int live_actions_start(struct server *srv, const struct principal *who, const char *remote_ip, const char *device_id,
                       int64_t session_id, int64_t command_no, const char *command, json_t *args,
                       int64_t *action_id, char *err, size_t errlen)
{
    const char *type = command, *extra = arg_str(args, "comment");
    json_t *target = NULL;
    char comment[COMMENT_MAX + 1];
    int e = 0;

    *action_id = 0;
    if (!live_actions_bridged(command)) {
        snprintf(err, errlen, "%s is not run through the action center", command ? command : "(none)");
        return -400;
    }
    snprintf(comment, sizeof(comment), "live response session %lld, command %lld%s%.900s", (long long)session_id,
             (long long)command_no, extra && *extra ? ": " : "", extra ? extra : "");

    if (strcmp(command, "undo") == 0) {
        const char *kind = arg_str(args, "type"), *id = arg_str(args, "id");
        int64_t original = 0;
        if (!kind || !id) {
            snprintf(err, errlen, "undo: needs a type and an id. Usage: undo <type> <id>");
            return -400;
        }
        e = find_undoable(srv, device_id, kind, id, &original, err, errlen);
        if (e)
            return e;
        return actions_undo(srv, who, remote_ip, original, comment, action_id, err, errlen);
    }
    if (strcmp(command, "remediate") == 0) {
        const char *kind = arg_str(args, "type");
        e = remediation_target(kind ? kind : "", args, &type, &target, err, errlen);
        if (e)
            return e;
    } else if (strcmp(command, "scan") == 0) {
        const char *path = arg_str(args, "path");
        target = json_pack("{s:s,s:o}", "kind", path ? "custom" : arg_true(args, "full") ? "full" : "quick",
                           "indicators", live_actions_indicators(srv));
        if (target && path)
            json_object_set_new(target, "path", json_string(path));
    } else {
        target = json_object(); /* isolate, release, collect */
    }
    if (!target) {
        snprintf(err, errlen, "out of memory");
        return -500;
    }
    struct action_request rq = {.device_id = device_id, .type = type, .target = target, .comment = comment};
    e = actions_create(srv, who, remote_ip, &rq, action_id, err, errlen);
    json_decref(target);
    return e;
}

int live_actions_poll(struct server *srv, int64_t action_id, bool *ended, bool *succeeded, json_t **output)
{
    struct store_action a = {0};
    json_t *o = NULL, *result = NULL, *progress = NULL;
    int e;

    *ended = *succeeded = false;
    *output = NULL;
    e = store_action_get(srv->store, action_id, &a);
    if (e)
        return e == -ENOENT ? -ENOENT : -EIO;
    *ended = store_action_state_final(a.state);
    *succeeded = a.state == ACTION_SUCCEEDED;
    if (a.result_json)
        result = json_loads(a.result_json, JSON_DECODE_ANY, NULL);
    if (a.progress_json)
        progress = json_loads(a.progress_json, 0, NULL);
    o = json_pack("{s:I,s:s,s:s,s:s}", "action_id", (json_int_t)a.id, "action", a.type, "state",
                  store_action_state_name(a.state), "device", a.device_id);
    if (!o) {
        json_decref(result);
        json_decref(progress);
        store_action_clear(&a);
        return -EIO;
    }
    if (a.state == ACTION_PENDING)
        json_object_set_new(o, "message", json_string("waits for another responder's approval in the action center "
                                                      "(`yamori action approve ID`)"));
    if (a.error)
        json_object_set_new(o, "error", json_string(a.error));
    if (progress)
        json_object_set_new(o, "progress", progress);
    if (result)
        json_object_set_new(o, "result", result);
    if (a.undo_of)
        json_object_set_new(o, "undoes_action", json_integer(a.undo_of));
    *output = o;
    store_action_clear(&a);
    return 0;
}
