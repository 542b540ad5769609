/*
 * test_actions_api.c — the action center through the real server binary
 * over HTTPS: an action's life from queued to succeeded with the device
 * side spoken by the test (poll, progress, result as the enrolled device
 * would), approval (never by the requester, never by a viewer), cancel
 * before and after delivery, expiry of what a device never fetched,
 * undo linked both ways, the CSV export's quoting, and hostile input that
 * is refused with nothing changed. Every state change must be in the
 * audit log with the action's id.
 *
 * The real agent running these actions is in tests/agent/test_actions_agent.c.
 * Needs root (the server under test drops to user nobody).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fleet.h"
#include "serverproc.h"

static struct fleet *fleet;
static char r1[300], r2[300], viewer[300]; /* "Authorization: Bearer ..." */

/* A server, an admin, two responders and a viewer. */
static const struct fleet_user people[] = {{"rita", "responder", r1, sizeof(r1)},
                                           {"rob", "responder", r2, sizeof(r2)},
                                           {"vera", "viewer", viewer, sizeof(viewer)},
                                           {NULL}};
static const struct fleet_options actions_fleet = {.users = people};

static void teardown(void)
{
    fleet_free(fleet);
    fleet = NULL;
}

/* method path as `auth` (a header line, or NULL); the answer's JSON (new
 * reference, NULL when none) and status. */
static json_t *call(const char *auth, const char *method, const char *path, const char *body, long *status)
{
    return fleet_call(fleet, auth, method, path, body, status);
}

/* The same, for a status only. */
static long status_of(const char *auth, const char *method, const char *path, const char *body)
{
    return fleet_status(fleet, auth, method, path, body);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Enrolls a device named host (as an agent would). */
static bool device(const char *host, int n, struct fleet_device *d)
{
    return fleet_device(fleet, host, n, d) == 0;
}

/* The fleet, the server with the --set lines given (or NULL). */
#define START(...) FLEET_START(&fleet, &actions_fleet, __VA_ARGS__)

/* Creates an action as auth; returns its id (0 on failure; *status set). */
static long long create(const char *auth, const char *body, long *status)
{
    json_t *j = call(auth, "POST", "/api/v1/actions", body, status);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return *status == 201 ? id : 0;
}

/* The action's state ("" when it cannot be read). */
static const char *state_of(long long id)
{
    return fleet_action_state(fleet, viewer, id);
}

static json_t *get_action(long long id)
{
    char path[64];
    long st;
    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    return call(viewer, "GET", path, NULL, &st);
}

/* Polls as the device (no wait); the commands array (new reference). */
static json_t *poll_commands(const struct fleet_device *d)
{
    return fleet_device_poll(fleet, d, 0);
}

/* POST /api/v1/agent/commands/<cid>/<what> as the device. */
static long post_dev(const struct fleet_device *d, const char *what, long long cid, const char *body, json_t **answer)
{
    return fleet_device_post(fleet, d, what, cid, body, answer);
}

/* Whether the audit log holds verb for action id (as actor, when given). */
static bool audited(long long id, const char *verb, const char *actor)
{
    char target[48], path[160];
    json_t *j, *e;
    size_t i;
    long st;
    bool found = false;

    snprintf(target, sizeof(target), "action:%lld", id);
    snprintf(path, sizeof(path), "/api/v1/audit?action=%s&limit=1000", verb);
    j = call(fleet->admin, "GET", path, NULL, &st);
    json_array_foreach(json_object_get(j, "entries"), i, e) {
        if (strcmp(jstr(e, "target"), target) == 0 && (!actor || strcmp(jstr(e, "actor"), actor) == 0))
            found = true;
    }
    json_decref(j);
    return found;
}

/* Waits (up to ~20 s, polling) until action id is in state want. */
static bool wait_state(long long id, const char *want)
{
    for (int i = 0; i < 200; i++) {
        if (strcmp(state_of(id), want) == 0)
            return true;
        usleep(100000);
    }
    return false;
}

/* ================================================================== cases */

static void test_lifecycle(void)
{
    struct fleet_device d;
    char body[400];
    json_t *cmds, *a, *ans;
    long long id, cid;
    long st;

    START(NULL);
    CHECK(device("web-1", 1, &d));
    snprintf(body, sizeof(body),
             "{\"type\":\"kill_process\",\"device\":\"web-1\",\"target\":{\"pid\":4242,\"process_uid\":\"f5647a1c-4242-12\","
             "\"tree\":true},\"comment\":\"miner\"}");
    id = create(r1, body, &st);
    CHECK_MSG(id > 0, "create: %ld: %s", st, serverproc_diag(fleet->server));
    CHECK_STR(state_of(id), "queued");
    /* the device fetches it: sent, with the target as the command's args */
    cmds = poll_commands(&d);
    CHECK_INT(json_array_size(cmds), ==, 1);
    cid = json_integer_value(json_object_get(json_array_get(cmds, 0), "id"));
    CHECK_STR(jstr(json_array_get(cmds, 0), "type"), "kill_process");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(json_array_get(cmds, 0), "args"), "pid")), ==, 4242);
    json_decref(cmds);
    CHECK_STR(state_of(id), "sent");
    a = get_action(id);
    CHECK_INT(json_integer_value(json_object_get(a, "command_id")), ==, cid);
    json_decref(a);
    /* progress: running, the report kept; a malformed one refused */
    CHECK_INT(post_dev(&d, "progress", cid, "{\"message\":\"started\"}", &ans), ==, 200);
    CHECK(json_is_false(json_object_get(ans, "cancel")));
    json_decref(ans);
    CHECK_STR(state_of(id), "running");
    CHECK_INT(post_dev(&d, "progress", cid, "{\"percent\":150}", NULL), ==, 400);
    CHECK_INT(post_dev(&d, "progress", cid, "{\"files\":-1}", NULL), ==, 400);
    CHECK_INT(post_dev(&d, "progress", cid, "[1]", NULL), ==, 400);
    CHECK_INT(post_dev(&d, "progress", cid + 1000, "{}", NULL), ==, 404);
    CHECK_INT(post_dev(&d, "progress", cid, "{\"percent\":50,\"files\":3,\"bytes\":9}", NULL),
              ==, 200);
    a = get_action(id);
    CHECK(json_real_value(json_object_get(json_object_get(a, "progress"), "percent")) == 50.0 ||
          json_integer_value(json_object_get(json_object_get(a, "progress"), "percent")) == 50);
    json_decref(a);
    /* an output that is not what kill_process answers is refused */
    CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"succeeded\",\"output\":{}}", NULL),
              ==, 400);
    CHECK_STR(state_of(id), "running");
    CHECK_INT(post_dev(&d, "result", cid,
                       "{\"status\":\"succeeded\",\"output\":{\"killed\":[4242,4243]},\"error\":null}", NULL),
              ==, 200);
    a = get_action(id);
    CHECK_STR(jstr(a, "state"), "succeeded");
    CHECK_INT(json_array_size(json_object_get(json_object_get(a, "result"), "killed")), ==, 2);
    CHECK(json_is_string(json_object_get(a, "sent")) && json_is_string(json_object_get(a, "started")) &&
          json_is_string(json_object_get(a, "completed")));
    CHECK_STR(jstr(a, "requested_by"), "rita");
    CHECK_STR(jstr(a, "comment"), "miner");
    CHECK_STR(jstr(a, "device_name"), "web-1");
    CHECK(json_is_null(json_object_get(a, "undo"))); /* a kill has no undo */
    json_decref(a);
    /* every change in the audit log, with who did what */
    CHECK(audited(id, "action.create", "rita"));
    CHECK(audited(id, "action.sent", NULL));
    CHECK(audited(id, "action.running", NULL));
    CHECK(audited(id, "action.succeeded", NULL));
    /* a failed one */
    id = create(r1, "{\"type\":\"collect\",\"device\":\"web-1\"}", &st);
    CHECK(id > 0);
    cmds = poll_commands(&d);
    cid = json_integer_value(json_object_get(json_array_get(cmds, 0), "id"));
    json_decref(cmds);
    CHECK_INT(post_dev(&d, "result", cid,
                       "{\"status\":\"failed\",\"error\":\"command type 'collect' is not supported by this agent\"}",
                       NULL),
              ==, 200);
    a = get_action(id);
    CHECK_STR(jstr(a, "state"), "failed");
    CHECK(strstr(jstr(a, "error"), "not supported") != NULL);
    json_decref(a);
    CHECK(audited(id, "action.failed", NULL));
}

static void test_approval(void)
{
    struct fleet_device d;
    long long id, id2;
    long st;
    json_t *a;

    START("approval_required=isolate,quarantine_file");
    CHECK(device("db-1", 2, &d));
    /* a viewer cannot act at all */
    CHECK_INT(status_of(viewer, "POST", "/api/v1/actions", "{\"type\":\"isolate\",\"device\":\"db-1\"}"), ==, 403);
    id = create(r1, "{\"type\":\"isolate\",\"device\":\"db-1\",\"comment\":\"contain\"}", &st);
    CHECK_MSG(id > 0, "create: %ld: %s", st, serverproc_diag(fleet->server));
    CHECK_STR(state_of(id), "pending_approval");
    /* nothing reaches the device while it waits */
    a = poll_commands(&d);
    CHECK_INT(json_array_size(a), ==, 0);
    json_decref(a);
    /* not by the requester, not by a viewer */
    char path[80];
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/approve", id);
    CHECK_INT(status_of(r1, "POST", path, NULL), ==, 403);
    CHECK_INT(status_of(viewer, "POST", path, NULL), ==, 403);
    CHECK_STR(state_of(id), "pending_approval");
    /* pending filter */
    a = call(viewer, "GET", "/api/v1/actions?pending=1", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_integer_value(json_object_get(a, "total")), ==, 1);
    json_decref(a);
    /* someone else approves: queued, and the device gets it */
    CHECK_INT(status_of(r2, "POST", path, "{\"comment\":\"ok, go\"}"), ==, 200);
    CHECK_STR(state_of(id), "queued");
    a = get_action(id);
    CHECK_STR(jstr(a, "decided_by"), "rob");
    CHECK_STR(jstr(a, "decision_comment"), "ok, go");
    json_decref(a);
    CHECK(audited(id, "action.queued", "rob"));
    a = poll_commands(&d);
    CHECK_INT(json_array_size(a), ==, 1);
    CHECK_STR(jstr(json_array_get(a, 0), "type"), "isolate");
    json_decref(a);
    CHECK_INT(status_of(r2, "POST", path, NULL), ==, 409); /* not pending any more */
    /* a rejection ends it; kill_process needs no approval */
    id2 = create(r2, "{\"type\":\"quarantine_file\",\"device\":\"db-1\",\"target\":{\"path\":\"/tmp/x\"}}", &st);
    CHECK(id2 > 0);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/reject", id2);
    CHECK_INT(status_of(r2, "POST", path, NULL), ==, 403);
    CHECK_INT(status_of(r1, "POST", path, "{\"comment\":\"wrong file\"}"), ==, 200);
    CHECK_STR(state_of(id2), "rejected");
    CHECK(audited(id2, "action.rejected", "rita"));
    id2 = create(r2, "{\"type\":\"kill_process\",\"device\":\"db-1\",\"target\":{\"pid\":77}}", &st);
    CHECK_STR(state_of(id2), "queued");
}

#define SHA_X "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

static void test_cancel(void)
{
    struct fleet_device d;
    long long id, cid;
    long st;
    char path[80];
    json_t *cmds, *ans;

    START(NULL);
    CHECK(device("app-1", 3, &d));
    /* before delivery: cancelled at once, never handed out */
    id = create(r1, "{\"type\":\"kill_process\",\"device\":\"app-1\",\"target\":{\"pid\":99}}", &st);
    CHECK(id > 0);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/cancel", id);
    CHECK_INT(status_of(viewer, "POST", path, NULL), ==, 403);
    CHECK_INT(status_of(r2, "POST", path, "{\"comment\":\"wrong pid\"}"), ==, 200);
    CHECK_STR(state_of(id), "cancelled");
    CHECK(audited(id, "action.cancelled", "rob"));
    cmds = poll_commands(&d);
    CHECK_INT(json_array_size(cmds), ==, 0);
    json_decref(cmds);
    CHECK_INT(status_of(r2, "POST", path, NULL), ==, 409);
    /* after delivery: the agent is told, and its answer ends it cancelled */
    id = create(r1, "{\"type\":\"scan\",\"device\":\"app-1\",\"target\":{\"kind\":\"full\"}}", &st);
    CHECK(id > 0);
    cmds = poll_commands(&d);
    cid = json_integer_value(json_object_get(json_array_get(cmds, 0), "id"));
    json_decref(cmds);
    CHECK_INT(post_dev(&d, "progress", cid, "{\"percent\":5}", NULL), ==, 200);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/cancel", id);
    CHECK_INT(status_of(r1, "POST", path, NULL), ==, 200);
    CHECK_STR(state_of(id), "running");
    CHECK(audited(id, "action.cancel_requested", "rita"));
    CHECK_INT(post_dev(&d, "progress", cid, "{\"percent\":6}", &ans), ==, 200);
    CHECK(json_is_true(json_object_get(ans, "cancel")));
    json_decref(ans);
    /* a scan stopped on request still succeeds, with what it found so far,
     * and what it found becomes an alert (detection source antivirus) */
    CHECK_INT(post_dev(&d, "result", cid,
                       "{\"status\":\"succeeded\",\"output\":{\"kind\":\"full\",\"cancelled\":true,\"findings\":["
                       "{\"path\":\"/tmp/.x/xmrig\",\"sha256\":\"" SHA_X "\",\"engine\":\"yara\","
                       "\"rule\":\"miner_xmrig_config\",\"reason\":\"a coin miner's configuration\","
                       "\"severity\":\"high\"}]}}",
                       NULL),
              ==, 200);
    CHECK_STR(state_of(id), "cancelled");
    ans = get_action(id);
    CHECK(json_is_true(json_object_get(json_object_get(ans, "result"), "cancelled")));
    json_decref(ans);
    CHECK(audited(id, "action.cancelled", NULL));
    {
        json_t *alerts = call(viewer, "GET", "/api/v1/alerts?device=app-1", NULL, &st);
        char *text = alerts ? json_dumps(alerts, JSON_COMPACT) : NULL;
        CHECK_INT(st, ==, 200);
        CHECK_MSG(text && strstr(text, "\"detection_source\":\"antivirus\"") && strstr(text, "xmrig"),
                  "no antivirus alert for the scan's finding: %s", text ? text : "");
        free(text);
        json_decref(alerts);
    }
}

static void test_expiry(void)
{
    struct fleet_device d;
    long long id, id2;
    long st;
    json_t *cmds;

    START("action_expiry_hours=0.0005", "approval_required=isolate"); /* 1.8 s */
    CHECK(device("lap-1", 4, &d));
    id = create(r1, "{\"type\":\"kill_process\",\"device\":\"lap-1\",\"target\":{\"pid\":1234}}", &st);
    id2 = create(r1, "{\"type\":\"isolate\",\"device\":\"lap-1\"}", &st);
    CHECK(id > 0 && id2 > 0);
    CHECK_MSG(wait_state(id, "expired"), "state %s", state_of(id));
    CHECK_MSG(wait_state(id2, "expired"), "pending one: state %s", state_of(id2));
    CHECK(audited(id, "action.expired", NULL));
    CHECK(audited(id2, "action.expired", NULL));
    /* the device returns: nothing is handed out */
    cmds = poll_commands(&d);
    CHECK_INT(json_array_size(cmds), ==, 0);
    json_decref(cmds);
    char path[80];
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/approve", id2);
    CHECK_INT(status_of(r2, "POST", path, NULL), ==, 409);
}

static void test_undo(void)
{
    static const char qid[] = "0123456789abcdef0123456789abcdef";
    struct fleet_device d;
    long long id, undo, kill;
    long st;
    char path[80], body[300];
    json_t *cmds, *a;

    START(NULL);
    CHECK(device("ws-1", 5, &d));
    id = create(r1, "{\"type\":\"quarantine_file\",\"device\":\"ws-1\",\"target\":{\"path\":\"/usr/lib/runtime\"}}", &st);
    CHECK(id > 0);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/undo", id);
    CHECK_INT(status_of(r1, "POST", path, NULL), ==, 409); /* not succeeded yet */
    cmds = poll_commands(&d);
    snprintf(body, sizeof(body), "{\"status\":\"succeeded\",\"output\":{\"quarantine_id\":\"%s\",\"path\":\"/usr/lib/runtime\"}}",
             qid);
    CHECK_INT(post_dev(&d, "result",
                       json_integer_value(json_object_get(json_array_get(cmds, 0), "id")), body, NULL),
              ==, 200);
    json_decref(cmds);
    a = get_action(id);
    CHECK_STR(jstr(a, "undo"), "restore_file");
    json_decref(a);
    CHECK_INT(status_of(viewer, "POST", path, NULL), ==, 403);
    a = call(r2, "POST", path, "{\"comment\":\"false positive\"}", &st);
    CHECK_INT(st, ==, 201);
    undo = json_integer_value(json_object_get(a, "id"));
    CHECK_STR(jstr(a, "type"), "restore_file");
    CHECK_STR(jstr(json_object_get(a, "target"), "quarantine_id"), qid);
    CHECK_INT(json_integer_value(json_object_get(a, "undo_of")), ==, id);
    CHECK_STR(jstr(a, "state"), "queued");
    json_decref(a);
    a = get_action(id);
    CHECK_INT(json_integer_value(json_object_get(a, "undone_by")), ==, undo);
    CHECK(json_is_null(json_object_get(a, "undo")));
    json_decref(a);
    CHECK_INT(status_of(r2, "POST", path, NULL), ==, 409); /* once */
    CHECK(audited(undo, "action.create", "rob"));
    /* isolate is undone by a release */
    {
        long long iso = create(r1, "{\"type\":\"isolate\",\"device\":\"ws-1\"}", &st), rel;
        json_t *c;
        size_t i;
        cmds = poll_commands(&d); /* the restore_file above, then the isolate */
        json_array_foreach(cmds, i, c) {
            if (!strcmp(jstr(c, "type"), "isolate"))
                CHECK_INT(post_dev(&d, "result", json_integer_value(json_object_get(c, "id")),
                                   "{\"status\":\"succeeded\",\"output\":{\"isolated\":true}}", NULL),
                          ==, 200);
        }
        json_decref(cmds);
        CHECK_STR(state_of(iso), "succeeded");
        snprintf(path, sizeof(path), "/api/v1/actions/%lld/undo", iso);
        a = call(r1, "POST", path, NULL, &st);
        CHECK_INT(st, ==, 201);
        rel = json_integer_value(json_object_get(a, "id"));
        CHECK_STR(jstr(a, "type"), "release");
        CHECK_INT(json_object_size(json_object_get(a, "target")), ==, 0);
        json_decref(a);
        cmds = poll_commands(&d);
        CHECK_STR(jstr(json_array_get(cmds, 0), "type"), "release");
        json_decref(cmds);
        CHECK_STR(state_of(rel), "sent");
    }
    /* no undo for a kill, none for an undo */
    kill = create(r1, "{\"type\":\"kill_process\",\"device\":\"ws-1\",\"target\":{\"pid\":50}}", &st);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/undo", kill);
    CHECK_INT(status_of(r1, "POST", path, NULL), ==, 409);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/undo", undo);
    CHECK_INT(status_of(r1, "POST", path, NULL), ==, 409);
}

static void test_csv(void)
{
    struct fleet_device d;
    struct serverproc_response r;
    const char *headers[] = {viewer, NULL};
    char ctype[100];
    long st;

    START(NULL);
    CHECK(device("fin-1", 6, &d));
    CHECK(create(r1, "{\"type\":\"isolate\",\"device\":\"fin-1\",\"comment\":\"=HYPERLINK(\\\"http://x\\\"),\\\"a\\\"\"}",
                 &st) > 0);
    CHECK(create(r1, "{\"type\":\"kill_process\",\"device\":\"fin-1\",\"target\":{\"pid\":7},\"comment\":\"@SUM(1+1)\"}",
                 &st) > 0);
    CHECK(create(r1, "{\"type\":\"collect\",\"device\":\"fin-1\",\"comment\":\"plain, with comma\"}", &st) > 0);
    CHECK_INT(serverproc_request(fleet->server, "GET", "/api/v1/actions.csv", NULL, headers, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK(serverproc_header(&r, "Content-Type", ctype, sizeof(ctype)) && strstr(ctype, "text/csv"));
    CHECK_MSG(strncmp(r.body, "id,created,device,device_id,type,target,", 40) == 0, "header: %.80s", r.body);
    /* quotes doubled, formulas defused, commas inside quotes */
    CHECK_MSG(strstr(r.body, "\"'=HYPERLINK(\"\"http://x\"\"),\"\"a\"\"\"") != NULL, "body: %s", r.body);
    CHECK(strstr(r.body, "\"'@SUM(1+1)\"") != NULL);
    CHECK(strstr(r.body, "\"plain, with comma\"") != NULL);
    CHECK(strstr(r.body, "\"{\"\"pid\"\":7}\"") != NULL);
    CHECK(strstr(r.body, "\r\n") != NULL);
    serverproc_response_free(&r);
    /* filters apply; a viewer may export, nobody signed out may */
    CHECK_INT(serverproc_request(fleet->server, "GET", "/api/v1/actions.csv?type=collect", NULL, headers, &r), ==, 0);
    CHECK(strstr(r.body, "isolate") == NULL && strstr(r.body, "collect") != NULL);
    serverproc_response_free(&r);
    CHECK_INT(status_of(NULL, "GET", "/api/v1/actions.csv", NULL), ==, 401);
}

static void test_hostile(void)
{
    static const char *const bad[] = {
        "{\"type\":\"nuke\",\"device\":\"h-1\"}",
        "{\"type\":\"kill_process\",\"device\":\"h-1\"}",
        "{\"type\":\"kill_process\",\"device\":\"h-1\",\"target\":{\"pid\":\"12\"}}",
        "{\"type\":\"kill_process\",\"device\":\"h-1\",\"target\":{\"pid\":1}}",
        "{\"type\":\"kill_process\",\"device\":\"h-1\",\"target\":{\"pid\":0}}",
        "{\"type\":\"kill_process\",\"device\":\"h-1\",\"target\":{\"pid\":12,\"signal\":9}}",
        "{\"type\":\"kill_process\",\"device\":\"h-1\",\"target\":{\"pid\":12,\"process_uid\":\"a b\"}}",
        "{\"type\":\"kill_process\",\"device\":\"h-1\",\"target\":{\"pid\":12,\"tree\":\"yes\"}}",
        "{\"type\":\"quarantine_file\",\"device\":\"h-1\",\"target\":{\"path\":\"etc/passwd\"}}",
        "{\"type\":\"quarantine_file\",\"device\":\"h-1\",\"target\":{\"path\":\"/tmp/../etc/shadow\"}}",
        "{\"type\":\"quarantine_file\",\"device\":\"h-1\",\"target\":{\"path\":\"/tmp/a\\u0007b\"}}",
        "{\"type\":\"remove_persistence\",\"device\":\"h-1\",\"target\":{\"kind\":\"cron_line\",\"path\":\"/etc/crontab\"}}",
        "{\"type\":\"remove_persistence\",\"device\":\"h-1\",\"target\":{\"kind\":\"evil\",\"path\":\"/etc/crontab\",\"match\":\"x\"}}",
        "{\"type\":\"scan\",\"device\":\"h-1\",\"target\":{\"kind\":\"full\",\"indicators\":[\"abc\"]}}",
        "{\"type\":\"scan\",\"device\":\"h-1\",\"target\":{\"kind\":\"quick\",\"path\":\"/\"}}",
        "{\"type\":\"scan\",\"device\":\"h-1\",\"target\":{\"kind\":\"custom\"}}",
        "{\"type\":\"restore_file\",\"device\":\"h-1\",\"target\":{\"quarantine_id\":\"../../x\"}}",
        "{\"type\":\"isolate\",\"device\":\"h-1\",\"target\":{\"x\":1}}",
        "{\"type\":\"isolate\",\"device\":\"h-1\",\"target\":[]}",
        "{\"type\":\"isolate\",\"device\":\"h-1\",\"comment\":\"line\\nbreak\"}",
        "{\"type\":\"isolate\",\"device\":\"h-1\",\"extra\":true}",
        "{\"type\":\"isolate\"}",
        "{\"type\":7,\"device\":\"h-1\"}",
        "[\"isolate\"]",
        "not json",
    };
    struct fleet_device d, gone;
    char big[3000];
    json_t *j;
    long st;

    START(NULL);
    CHECK(device("h-1", 7, &d));
    CHECK(device("h-2", 8, &gone));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long got = status_of(r1, "POST", "/api/v1/actions", bad[i]);
        CHECK_MSG(got == 400, "%s answered %ld", bad[i], got);
    }
    memset(big, 'a', sizeof(big));
    memcpy(big, "{\"type\":\"isolate\",\"device\":\"h-1\",\"comment\":\"", 45);
    memcpy(big + sizeof(big) - 4, "\"}", 3);
    CHECK_INT(status_of(r1, "POST", "/api/v1/actions", big), ==, 400);
    CHECK_INT(status_of(r1, "POST", "/api/v1/actions", "{\"type\":\"isolate\",\"device\":\"nowhere\"}"), ==, 404);
    CHECK_INT(status_of(fleet->admin, "POST", "/api/v1/devices/h-2/offboard", NULL) / 100, ==, 2); /* offboard */
    CHECK_INT(status_of(r1, "POST", "/api/v1/actions", "{\"type\":\"isolate\",\"device\":\"h-2\"}"), ==, 409);
    CHECK_INT(status_of(viewer, "GET", "/api/v1/actions/abc", NULL), ==, 404);
    CHECK_INT(status_of(viewer, "GET", "/api/v1/actions/99999", NULL), ==, 404);
    CHECK_INT(status_of(r1, "POST", "/api/v1/actions/99999/cancel", NULL), ==, 404);
    CHECK_INT(status_of(r1, "POST", "/api/v1/actions/99999/approve", "{\"comment\":1}"), ==, 400);
    CHECK_INT(status_of(viewer, "GET", "/api/v1/actions?state=bogus", NULL), ==, 400);
    CHECK_INT(status_of(viewer, "GET", "/api/v1/actions?type=nuke", NULL), ==, 400);
    CHECK_INT(status_of(viewer, "GET", "/api/v1/actions?since=yesterday", NULL), ==, 400);
    CHECK_INT(status_of(viewer, "GET", "/api/v1/actions?limit=0", NULL), ==, 400);
    /* nothing was recorded, nothing reached the device */
    j = call(viewer, "GET", "/api/v1/actions", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_integer_value(json_object_get(j, "total")), ==, 0);
    json_decref(j);
    j = poll_commands(&d);
    CHECK_INT(json_array_size(j), ==, 0);
    json_decref(j);
}

static void test_list_filters(void)
{
    struct fleet_device a, b;
    json_t *j;
    long st;

    START(NULL);
    CHECK(device("fa-1", 9, &a));
    CHECK(device("fb-1", 10, &b));
    CHECK(create(r1, "{\"type\":\"isolate\",\"device\":\"fa-1\"}", &st) > 0);
    CHECK(create(r1, "{\"type\":\"collect\",\"device\":\"fa-1\"}", &st) > 0);
    CHECK(create(r1, "{\"type\":\"collect\",\"device\":\"fb-1\"}", &st) > 0);
    j = call(viewer, "GET", "/api/v1/actions?device=fa-1", NULL, &st);
    CHECK_INT(json_integer_value(json_object_get(j, "total")), ==, 2);
    json_decref(j);
    j = call(viewer, "GET", "/api/v1/actions?type=collect&limit=1", NULL, &st);
    CHECK_INT(json_integer_value(json_object_get(j, "total")), ==, 2);
    CHECK_INT(json_array_size(json_object_get(j, "actions")), ==, 1);
    json_decref(j);
    j = call(viewer, "GET", "/api/v1/actions?state=queued&since=1h", NULL, &st);
    CHECK_INT(json_integer_value(json_object_get(j, "total")), ==, 3);
    json_decref(j);
    j = call(viewer, "GET", "/api/v1/actions?device=nowhere", NULL, &st);
    CHECK_INT(st, ==, 404);
    json_decref(j);
}


/* The action center's settings are checked at start. */
static void test_config(void)
{
    static const char *const bad_type[] = {"approval_required=isolate,nuke", NULL};
    static const char *const bad_expiry[] = {"action_expiry_hours=0", NULL};
    struct serverproc_options o = {.sets = bad_type};
    char why[2048];
    struct serverproc *sp;

    if (!check_is_root())
        SKIP("needs root (the server under test drops to user nobody)");
    sp = serverproc_start(&o, why, sizeof(why));
    CHECK_MSG(sp == NULL && strstr(why, "approval_required: 'nuke' is not an action type"), "%s", why);
    o.sets = bad_expiry;
    sp = serverproc_start(&o, why, sizeof(why));
    CHECK_MSG(sp == NULL && strstr(why, "action_expiry_hours"), "%s", why);
}

/* ------------------------------------------------------------------ the CLI */

/* Points the CLI (YAMORI_CONFIG) at the server with the token of a header line. */
static bool cli_setup(const char *auth_line)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/../cli.json", serverproc_data_dir(fleet->server));
    f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "{\"url\":\"%s\",\"ca\":\"%s\",\"token\":\"%s\"}\n", serverproc_url(fleet->server),
            serverproc_ca(fleet->server), strstr(auth_line, "Bearer ") + 7);
    fclose(f);
    setenv("YAMORI_CONFIG", path, 1);
    return true;
}

/* Starts the CLI with args (a shell fragment); read its output with cli_end. */
static FILE *cli_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static FILE *cli_start(const char *fmt, ...)
{
    char cmd[2048], args[1500];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", serverproc_binary(), args);
    fflush(NULL);
    return popen(cmd, "r");
}

/* Reads the CLI's output into out; its exit status. */
static int cli_end(FILE *p, char *out, size_t outlen)
{
    size_t n = 0;
    int status;

    while (p && n + 1 < outlen) {
        size_t k = fread(out + n, 1, outlen - n - 1, p);
        if (k == 0)
            break;
        n += k;
    }
    out[n] = '\0';
    status = p ? pclose(p) : -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Waits (polling as the device) for one command; its id, or 0. */
static long long device_gets_command(const struct fleet_device *d, char *type, size_t typelen)
{
    for (int i = 0; i < 200; i++) {
        json_t *cmds = poll_commands(d);
        if (json_array_size(cmds) > 0) {
            long long id = json_integer_value(json_object_get(json_array_get(cmds, 0), "id"));
            snprintf(type, typelen, "%s", jstr(json_array_get(cmds, 0), "type"));
            json_decref(cmds);
            return id;
        }
        json_decref(cmds);
        usleep(100000);
    }
    return 0;
}

static void test_cli(void)
{
    struct fleet_device d;
    char out[16384], type[64];
    long long cid, iso;
    FILE *p;
    int rc;

    START(NULL);
    CHECK(device("cli-1", 11, &d));
    CHECK(cli_setup(r1));
    /* kill: created, followed to its end */
    p = cli_start("kill cli-1 4242 --tree --comment 'the miner' --timeout 60");
    CHECK(p != NULL);
    cid = device_gets_command(&d, type, sizeof(type));
    CHECK_STR(type, "kill_process");
    CHECK_INT(post_dev(&d, "progress", cid, "{\"message\":\"started\"}", NULL), ==, 200);
    CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"succeeded\",\"output\":{\"killed\":[4242]}}", NULL), ==, 200);
    rc = cli_end(p, out, sizeof(out));
    CHECK_MSG(rc == 0 && strstr(out, "kill_process on cli-1): queued") && strstr(out, "succeeded"), "exit %d: %s", rc,
              out);
    /* a type this agent does not run: failed, with the agent's reason */
    p = cli_start("scan cli-1 --full --timeout 60");
    cid = device_gets_command(&d, type, sizeof(type));
    CHECK_STR(type, "scan");
    CHECK_INT(post_dev(&d, "result", cid,
                       "{\"status\":\"failed\",\"error\":\"command type 'scan' is not supported by this agent version\"}",
                       NULL),
              ==, 200);
    rc = cli_end(p, out, sizeof(out));
    CHECK_MSG(rc == 1 && strstr(out, "failed: command type 'scan' is not supported"), "exit %d: %s", rc, out);
    /* in a terminal, a running scan draws a progress bar */
    if (access("/usr/bin/script", X_OK) == 0) {
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "/usr/bin/script -qec \"'%s' scan cli-1 --path /srv --timeout 60\" /dev/null 2>&1",
                 serverproc_binary());
        fflush(NULL);
        p = popen(cmd, "r");
        cid = device_gets_command(&d, type, sizeof(type));
        CHECK_STR(type, "scan");
        CHECK_INT(post_dev(&d, "progress", cid, "{\"percent\":42.5,\"files\":17,\"message\":\"/srv/www\"}", NULL), ==,
                  200);
        usleep(3000000); /* the CLI polls twice a second: let it draw (asserted below: drawn, not when) */
        CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"succeeded\",\"output\":{\"kind\":\"custom\"}}", NULL),
                  ==, 200);
        rc = cli_end(p, out, sizeof(out));
        CHECK_MSG(rc == 0 && strstr(out, "42.5%") && strstr(out, "17 files") && strstr(out, "succeeded"), "exit %d: %s",
                  rc, out);
    }
    /* --no-wait, list, show, cancel, CSV */
    rc = cli_end(cli_start("isolate cli-1 --no-wait --comment contain"), out, sizeof(out));
    CHECK_MSG(rc == 0 && strstr(out, "isolate on cli-1): queued"), "exit %d: %s", rc, out);
    iso = strtoll(out + strlen("action "), NULL, 10);
    CHECK(iso > 0);
    rc = cli_end(cli_start("actions --device cli-1"), out, sizeof(out));
    CHECK_MSG(rc == 0 && strstr(out, "STATE") && strstr(out, "isolate") && strstr(out, "kill_process"), "%s", out);
    rc = cli_end(cli_start("actions --json --type isolate"), out, sizeof(out));
    CHECK_MSG(rc == 0 && strstr(out, "\"total\":1"), "%s", out);
    rc = cli_end(cli_start("action show %lld", iso), out, sizeof(out));
    CHECK_MSG(rc == 0 && strstr(out, "contain") && strstr(out, "queued"), "%s", out);
    rc = cli_end(cli_start("action cancel %lld --comment oops", iso), out, sizeof(out));
    CHECK_MSG(rc == 0 && strstr(out, "cancelled"), "%s", out);
    rc = cli_end(cli_start("actions --csv"), out, sizeof(out));
    CHECK_MSG(rc == 0 && strncmp(out, "id,created,device", 17) == 0 && strstr(out, "\"oops\"") == NULL &&
                  strstr(out, "\"contain\""),
              "%s", out);
    /* misuse and refusals */
    CHECK_INT(cli_end(cli_start("scan cli-1"), out, sizeof(out)), ==, 2);
    CHECK_INT(cli_end(cli_start("kill cli-1 notapid"), out, sizeof(out)), ==, 2);
    rc = cli_end(cli_start("kill cli-1 1"), out, sizeof(out));
    CHECK_MSG(rc == 1 && strstr(out, "never killed"), "%s", out);
    rc = cli_end(cli_start("action approve %lld", iso), out, sizeof(out));
    CHECK_MSG(rc == 1 && strstr(out, "409"), "%s", out);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"lifecycle", test_lifecycle},
        {"approval", test_approval},
        {"cancel", test_cancel},
        {"expiry", test_expiry},
        {"undo", test_undo},
        {"csv", test_csv},
        {"hostile", test_hostile},
        {"list_filters", test_list_filters},
        {"cli", test_cli},
        {"config", test_config},
        {NULL, NULL},
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    check_set_teardown(teardown);
    rc = check_main("actions_api", cases, argc, argv);
    curl_global_cleanup();
    return rc;
}
