/*
 * test_live_api.c — live response sessions through the real server binary
 * over HTTPS, with the device side spoken by the test as an enrolled
 * agent would (heartbeat, poll, progress, streamed output, file upload,
 * library fetch, result) — in a child process where the device must be
 * long-polling while the person waits.
 *
 * One session per device (a second person is refused with the holder's
 * name, the holder gets theirs back), an offline or offboarded device
 * refused, parse errors and missing roles refused with nothing queued,
 * a `dir` round trip rendered as a table, `cd` moving the session, a
 * wait that ends when the device answers, streamed output kept in order
 * (repeats ignored, gaps refused, the limit honoured), background jobs
 * and fg, a timeout and a cancel that stop the device command, the idle
 * sweep closing a session, the library (admin uploads, agent fetch only
 * for its own running command), getfile checked by its hash, a bridged
 * command becoming an action, and the audit rows of all of it.
 *
 * Needs root (the server under test drops to user nobody).
 */
#include <jansson.h>
#include <signal.h>
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
static char alice[300], bob[300], rita[300], viewer[300]; /* "Authorization: Bearer ..." */
static pid_t child = -1;

/* A server, an admin, two analysts, a responder and a viewer. */
static const struct fleet_user people[] = {{"alice", "analyst", alice, sizeof(alice)},
                                           {"bob", "analyst", bob, sizeof(bob)},
                                           {"rita", "responder", rita, sizeof(rita)},
                                           {"vera", "viewer", viewer, sizeof(viewer)},
                                           {NULL}};
static const struct fleet_options live_fleet = {.users = people};

static void teardown(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    fleet_free(fleet);
    fleet = NULL;
}

/* ------------------------------------------------------------ HTTP */

/* method path as auth (a header line, or NULL), with more header lines
 * (NULL-terminated list or NULL); the answer's JSON and status. */
static json_t *call_h(const char *auth, const char *const *more, const char *method, const char *path,
                      const char *body, long *status)
{
    return fleet_call_headers(fleet, auth, more, method, path, body, status);
}

static json_t *call(const char *auth, const char *method, const char *path, const char *body, long *status)
{
    return fleet_call(fleet, auth, method, path, body, status);
}

static long status_of(const char *auth, const char *method, const char *path, const char *body)
{
    return fleet_status(fleet, auth, method, path, body);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static long long jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* The error message of an error answer ("" when none). */
static const char *jmsg(json_t *j)
{
    return jstr(json_object_get(j, "error"), "message");
}

/* The fleet, the server with the --set lines given (or NULL). */
#define START(...) FLEET_START(&fleet, &live_fleet, __VA_ARGS__)

/* Stops the server: it must exit cleanly (no sanitizer report). */
#define FINISH()                                                                                    \
    do {                                                                                            \
        int status_ = fleet_server_stop(fleet);                                                     \
        CHECK_MSG(status_ == 0, "the server exited with status %d (a sanitizer report?)", status_); \
    } while (0)

/* ------------------------------------------------------------ the device */

/* Enrolls a device named host (as an agent would). */
static bool device(const char *host, int n, struct fleet_device *d)
{
    return fleet_device(fleet, host, n, d) == 0;
}

/* A device that reported a moment ago (online for the next 90 s). */
static bool online_device(const char *host, int n, struct fleet_device *d)
{
    return device(host, n, d) &&
           status_of(d->auth, "POST", "/api/v1/agent/heartbeat", "{\"agent_version\":\"0.1.0\"}") == 200;
}

/* Polls as the device (wait seconds); the commands array (new reference). */
static json_t *poll_wait(const struct fleet_device *d, int wait)
{
    return fleet_device_poll(fleet, d, wait);
}

static json_t *poll_commands(const struct fleet_device *d)
{
    return poll_wait(d, 0);
}

/* POST /api/v1/agent/commands/<cid>/<what> as the device. */
static long post_dev(const struct fleet_device *d, const char *what, long long cid, const char *body, json_t **answer)
{
    return fleet_device_post(fleet, d, what, cid, body, answer);
}

/* Streams chunk seq of command cid as the device; *cancel from the answer. */
static long post_output(const struct fleet_device *d, long long cid, int seq, const char *data, bool *cancel)
{
    static const char *const octet[] = {"Content-Type: application/octet-stream", NULL};
    char path[128];
    long st;
    json_t *j;

    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/output?seq=%d", cid, seq);
    j = call_h(d->auth, octet, "POST", path, data, &st);
    if (cancel)
        *cancel = json_is_true(json_object_get(j, "cancel"));
    json_decref(j);
    return st;
}

/* The one command a poll returns (new reference), or NULL. */
static json_t *one_command(const struct fleet_device *d)
{
    json_t *v = poll_commands(d), *c = NULL;

    if (json_array_size(v) == 1)
        c = json_incref(json_array_get(v, 0));
    json_decref(v);
    return c;
}

/* ------------------------------------------------------------ sessions */

static long long open_session(const char *auth, const char *dev, long *status, json_t **answer)
{
    char body[200];
    json_t *j;
    long long id;

    snprintf(body, sizeof(body), "{\"device\":\"%s\"}", dev);
    j = call(auth, "POST", "/api/v1/live/sessions", body, status);
    id = jint(json_object_get(j, "session"), "id");
    if (answer)
        *answer = j;
    else
        json_decref(j);
    return id;
}

/* Runs line in session sid (?wait=wait); the command object (new
 * reference; the whole answer when it is an error). */
static json_t *run(const char *auth, long long sid, const char *line, int wait, long *status)
{
    char path[128];
    json_t *body = json_pack("{s:s}", "line", line), *j, *c;
    char *text = json_dumps(body, JSON_COMPACT);

    if (wait)
        snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands?wait=%d", sid, wait);
    else
        snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands", sid);
    j = call(auth, "POST", path, text, status);
    free(text);
    json_decref(body);
    c = json_object_get(j, "command");
    if (c) {
        json_incref(c);
        json_decref(j);
        return c;
    }
    return j;
}

static json_t *get_cmd(const char *auth, long long sid, long long cid, const char *query)
{
    char path[200];
    long st;
    json_t *j, *c;

    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands/%lld%s", sid, cid, query ? query : "");
    j = call(auth, "GET", path, NULL, &st);
    c = json_incref(json_object_get(j, "command"));
    json_decref(j);
    return c;
}

/* Waits (polling, up to ~20 s) until command cid is in state want. */
static bool wait_cmd(const char *auth, long long sid, long long cid, const char *want)
{
    for (int i = 0; i < 200; i++) {
        json_t *c = get_cmd(auth, sid, cid, NULL);
        bool ok = strcmp(jstr(c, "state"), want) == 0;
        json_decref(c);
        if (ok)
            return true;
        usleep(100000);
    }
    return false;
}

/* Whether the audit log holds verb for session sid (by actor, when given;
 * with detail containing `has`, when given). */
static bool audited(long long sid, const char *verb, const char *actor, const char *has)
{
    char target[48], path[160];
    json_t *j, *e;
    size_t i;
    long st;
    bool found = false;

    snprintf(target, sizeof(target), "live_session:%lld", sid);
    snprintf(path, sizeof(path), "/api/v1/audit?action=%s&limit=1000", verb);
    j = call(fleet->admin, "GET", path, NULL, &st);
    json_array_foreach(json_object_get(j, "entries"), i, e) {
        json_t *detail = json_object_get(e, "detail");
        char *dt = json_is_string(detail) ? strdup(json_string_value(detail)) : json_dumps(detail, JSON_COMPACT);
        if (strcmp(jstr(e, "target"), target) == 0 && (!actor || strcmp(jstr(e, "actor"), actor) == 0) &&
            (!has || (dt && strstr(dt, has))))
            found = true;
        free(dt);
    }
    json_decref(j);
    return found;
}

/* The device command cid as the admin sees it (new reference). */
static json_t *device_command(const struct fleet_device *d, long long cid)
{
    char path[160];
    long st;

    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands/%lld", d->id, cid);
    return call(fleet->admin, "GET", path, NULL, &st);
}

/* ------------------------------------------------------------ a device in a child process */

/* Forks a device that long-polls once (up to 20 s), answers every live
 * command it gets with `result` (JSON text), and exits. */
static pid_t device_child(const struct fleet_device *d, const char *result)
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    {
        json_t *v = poll_wait(d, 20), *c;
        size_t i;
        int rc = json_array_size(v) ? 0 : 3;
        json_array_foreach(v, i, c)
            if (post_dev(d, "result", jint(c, "id"), result, NULL) != 200)
                rc = 4;
        json_decref(v);
        _exit(rc);
    }
}

/* Forks a device that streams chunk seq of cid after a short pause. */
static pid_t stream_child(const struct fleet_device *d, long long cid, int seq, const char *data)
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    usleep(300000);
    _exit(post_output(d, cid, seq, data, NULL) == 200 ? 0 : 5);
}

static int child_status(pid_t pid)
{
    int status = -1;

    if (pid > 0 && waitpid(pid, &status, 0) == pid) {
        child = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
    }
    return -1;
}

/* ================================================================== cases */

static void test_sessions(void)
{
    struct fleet_device d;
    json_t *j, *s;
    long long sid, sid2;
    long st;
    char path[80];

    START(NULL);
    CHECK(online_device("web-1", 1, &d));
    sid = open_session(alice, "web-1", &st, &j);
    CHECK_MSG(st == 201 && sid > 0, "open: %ld %s", st, jmsg(j));
    s = json_object_get(j, "session");
    CHECK_STR(jstr(s, "user"), "alice");
    CHECK_STR(jstr(s, "device_id"), d.id);
    CHECK_STR(jstr(s, "device_name"), "web-1");
    CHECK_STR(jstr(s, "state"), "open");
    CHECK_STR(jstr(s, "cwd"), "/");
    CHECK(json_is_true(json_object_get(s, "online")));
    json_decref(j);
    CHECK(audited(sid, "live.session.open", "alice", NULL));

    /* someone else: refused, naming the holder, since when and the idle limit */
    CHECK_INT(open_session(bob, d.id, &st, &j), ==, 0);
    CHECK_INT(st, ==, 409);
    CHECK_MSG(strstr(jmsg(j), "web-1 has a live response session opened by alice at ") &&
                  strstr(jmsg(j), "(idle ") && strstr(jmsg(j), "after 30 min idle"),
              "message: %s", jmsg(j));
    json_decref(j);
    /* the holder again: the same session */
    CHECK_INT(open_session(alice, "web-1", &st, NULL), ==, sid);
    CHECK_INT(st, ==, 200);
    /* viewers do not do live response; unknown devices are unknown */
    CHECK_INT(status_of(viewer, "POST", "/api/v1/live/sessions", "{\"device\":\"web-1\"}"), ==, 403);
    CHECK_INT(open_session(alice, "nowhere-9", &st, NULL), ==, 0);
    CHECK_INT(st, ==, 404);
    CHECK_INT(status_of(alice, "POST", "/api/v1/live/sessions", "{\"device\":\"web-1\",\"x\":1}"), ==, 400);
    /* listed while open */
    j = call(bob, "GET", "/api/v1/live/sessions", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_array_size(json_object_get(j, "sessions")), ==, 1);
    json_decref(j);
    /* only the holder (or an admin) closes it; only the holder runs commands */
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld", sid);
    CHECK_INT(status_of(bob, "DELETE", path, NULL), ==, 403);
    j = run(bob, sid, "help", 0, &st);
    CHECK_INT(st, ==, 403);
    json_decref(j);
    j = call(alice, "DELETE", path, NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_STR(jstr(json_object_get(j, "session"), "state"), "closed");
    CHECK_STR(jstr(json_object_get(j, "session"), "closed_by"), "alice");
    json_decref(j);
    CHECK_INT(status_of(alice, "DELETE", path, NULL), ==, 409);
    j = run(alice, sid, "help", 0, &st);
    CHECK_INT(st, ==, 409);
    json_decref(j);
    CHECK(audited(sid, "live.session.close", "alice", "closed by alice"));
    /* now bob may; an admin closes it for him */
    sid2 = open_session(bob, "web-1", &st, NULL);
    CHECK_INT(st, ==, 201);
    CHECK(sid2 != sid);
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld", sid2);
    CHECK_INT(status_of(fleet->admin, "DELETE", path, NULL), ==, 200);
    j = call(alice, "GET", "/api/v1/live/sessions", NULL, &st);
    CHECK_INT(json_array_size(json_object_get(j, "sessions")), ==, 0);
    json_decref(j);
    j = call(alice, "GET", "/api/v1/live/sessions?all=1", NULL, &st);
    CHECK_INT(json_array_size(json_object_get(j, "sessions")), ==, 2);
    json_decref(j);
    FINISH();
}

static void test_offline(void)
{
    struct fleet_device d, e;
    json_t *j;
    long st;
    char path[120];

    START(NULL);
    CHECK(device("quiet-1", 2, &d)); /* enrolled, never reported, not polling */
    CHECK_INT(open_session(alice, "quiet-1", &st, &j), ==, 0);
    CHECK_INT(st, ==, 409);
    CHECK_MSG(strstr(jmsg(j), "quiet-1 is offline"), "message: %s", jmsg(j));
    json_decref(j);
    /* offboarded: refused too, whatever it did before */
    CHECK(online_device("gone-1", 3, &e));
    snprintf(path, sizeof(path), "/api/v1/devices/%s/offboard", e.id);
    CHECK_INT(status_of(fleet->admin, "POST", path, NULL), ==, 200);
    CHECK_INT(open_session(alice, e.id, &st, &j), ==, 0);
    CHECK_INT(st, ==, 409);
    CHECK_MSG(strstr(jmsg(j), "offboarded"), "message: %s", jmsg(j));
    json_decref(j);
    /* a session open when its device is offboarded is closed by the server */
    {
        struct fleet_device f;
        long long sid;
        bool closed = false;
        CHECK(online_device("gone-2", 18, &f));
        sid = open_session(alice, "gone-2", &st, NULL);
        CHECK_INT(st, ==, 201);
        snprintf(path, sizeof(path), "/api/v1/devices/%s/offboard", f.id);
        CHECK_INT(status_of(fleet->admin, "POST", path, NULL), ==, 200);
        snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld", sid);
        for (int i = 0; i < 100 && !closed; i++) {
            j = call(bob, "GET", path, NULL, &st);
            closed = strcmp(jstr(json_object_get(j, "session"), "close_reason"), "the device was offboarded") == 0;
            json_decref(j);
            if (!closed)
                usleep(100000);
        }
        CHECK(closed);
    }
    FINISH();
}

static void test_refusals(void)
{
    struct fleet_device d;
    json_t *j, *v;
    long long sid;
    long st;
    char path[120];

    START(NULL);
    CHECK(online_device("web-2", 4, &d));
    sid = open_session(alice, "web-2", &st, NULL);
    CHECK_INT(st, ==, 201);
    /* parse errors: 400 with the usage; nothing recorded, nothing queued */
    j = run(alice, sid, "dir -x", 0, &st);
    CHECK_INT(st, ==, 400);
    CHECK_MSG(strstr(jmsg(j), "Usage: dir [path] [-full_path]"), "message: %s", jmsg(j));
    json_decref(j);
    j = run(alice, sid, "dir /tmp; rm -rf /", 0, &st);
    CHECK_INT(st, ==, 400);
    json_decref(j);
    j = run(alice, sid, "frobnicate", 0, &st);
    CHECK_INT(st, ==, 400);
    CHECK_MSG(strstr(jmsg(j), "help"), "message: %s", jmsg(j));
    json_decref(j);
    j = run(alice, sid, "   ", 0, &st);
    CHECK_INT(st, ==, 400);
    json_decref(j);
    /* an analyst and an advanced command: 403, nothing queued, no action */
    j = run(alice, sid, "remediate file /tmp/x", 0, &st);
    CHECK_INT(st, ==, 403);
    CHECK_STR(jmsg(j), "`remediate` is an advanced command: it needs the responder role");
    json_decref(j);
    j = run(alice, sid, "isolate", 0, &st);
    CHECK_INT(st, ==, 403);
    json_decref(j);
    j = run(alice, sid, "library delete x.sh", 0, &st);
    CHECK_INT(st, ==, 403);
    CHECK_MSG(strstr(jmsg(j), "admin"), "message: %s", jmsg(j));
    json_decref(j);
    j = run(alice, sid, "putfile x.sh", 0, &st);
    CHECK_INT(st, ==, 403);
    json_decref(j);
    v = poll_commands(&d);
    CHECK_INT(json_array_size(v), ==, 0);
    json_decref(v);
    j = call(fleet->admin, "GET", "/api/v1/actions", NULL, &st);
    CHECK_INT(jint(j, "total"), ==, 0);
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands", sid);
    j = call(alice, "GET", path, NULL, &st);
    CHECK_INT(json_array_size(json_object_get(j, "commands")), ==, 0);
    json_decref(j);
    CHECK(audited(sid, "live.command.refused", "alice", "remediate file"));
    CHECK(audited(sid, "live.command.refused", "alice", "dir -x"));
    /* the generic device command route cannot queue live commands */
    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands", d.id);
    CHECK_INT(status_of(fleet->admin, "POST", path,
                        "{\"type\":\"live\",\"args\":{\"session\":1,\"command\":\"dir\",\"cwd\":\"/\",\"args\":{}}}"),
              ==, 400);
    FINISH();
}

static void test_round_trip(void)
{
    struct fleet_device d;
    json_t *c, *cmd, *args, *j;
    long long sid, id, cid;
    long st;
    const char *text;

    START(NULL);
    CHECK(online_device("web-3", 5, &d));
    sid = open_session(alice, "web-3", &st, NULL);
    CHECK_INT(st, ==, 201);
    c = run(alice, sid, "dir /tmp", 0, &st);
    CHECK_MSG(st == 201, "run: %ld %s", st, jmsg(c));
    CHECK_STR(jstr(c, "state"), "running");
    CHECK_STR(jstr(c, "name"), "dir");
    CHECK_STR(jstr(c, "user"), "alice");
    id = jint(c, "id");
    cid = jint(c, "device_command");
    CHECK(id > 0 && cid > 0);
    json_decref(c);
    /* the device gets one live command: the envelope of docs/live.md */
    cmd = one_command(&d);
    CHECK(cmd);
    CHECK_INT(jint(cmd, "id"), ==, cid);
    CHECK_STR(jstr(cmd, "type"), "live");
    args = json_object_get(cmd, "args");
    CHECK_INT(jint(args, "session"), ==, sid);
    CHECK_STR(jstr(args, "command"), "dir");
    CHECK_STR(jstr(args, "cwd"), "/");
    CHECK_STR(jstr(json_object_get(args, "args"), "path"), "/tmp");
    json_decref(cmd);
    CHECK_INT(post_dev(&d, "progress", cid, "{\"message\":\"started\"}", NULL), ==, 200);
    c = get_cmd(alice, sid, id, NULL);
    CHECK_STR(jstr(json_object_get(c, "progress"), "message"), "started");
    CHECK(json_is_string(json_object_get(c, "started")));
    json_decref(c);
    CHECK_INT(post_dev(&d, "result", cid,
                       "{\"status\":\"succeeded\",\"output\":{\"path\":\"/tmp\",\"columns\":[\"name\",\"type\",\"size\"],"
                       "\"rows\":[{\"name\":\"a.txt\",\"type\":\"file\",\"size\":12},"
                       "{\"name\":\"sub\",\"type\":\"directory\",\"size\":4096}],\"truncated\":false}}",
                       NULL),
              ==, 200);
    c = get_cmd(alice, sid, id, NULL);
    CHECK_STR(jstr(c, "state"), "succeeded");
    text = jstr(c, "text");
    CHECK_MSG(strstr(text, "path: /tmp\n") && strstr(text, "name   type       size\n") &&
                  strstr(text, "a.txt  file       12\n") && strstr(text, "sub    directory  4096\n"),
              "text:\n%s", text);
    CHECK_INT(json_array_size(json_object_get(json_object_get(c, "output"), "rows")), ==, 2);
    CHECK(json_is_integer(json_object_get(c, "duration_ms")));
    CHECK(json_is_string(json_object_get(c, "started")) && json_is_string(json_object_get(c, "ended")));
    json_decref(c);
    CHECK(audited(sid, "live.command", "alice", "dir /tmp"));
    CHECK(audited(sid, "live.command.end", NULL, "succeeded"));

    /* cd: the agent's answer becomes the session's directory; paths start there */
    c = run(alice, sid, "cd sub", 0, &st);
    CHECK_INT(st, ==, 201);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    CHECK_STR(jstr(json_object_get(json_object_get(cmd, "args"), "args"), "path"), "/sub");
    cid = jint(cmd, "id");
    json_decref(cmd);
    CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"succeeded\",\"output\":{\"cwd\":\"/srv/data\"}}", NULL), ==,
              200);
    CHECK(wait_cmd(alice, sid, id, "succeeded"));
    {
        char path[80];
        snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld", sid);
        j = call(alice, "GET", path, NULL, &st);
        CHECK_STR(jstr(json_object_get(j, "session"), "cwd"), "/srv/data");
        json_decref(j);
    }
    /* JSON output, and a failure */
    c = run(alice, sid, "fileinfo ../x -output json", 0, &st);
    CHECK_INT(st, ==, 201);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    CHECK_STR(jstr(json_object_get(cmd, "args"), "cwd"), "/srv/data");
    CHECK_STR(jstr(json_object_get(json_object_get(cmd, "args"), "args"), "path"), "/srv/x");
    CHECK(!json_object_get(json_object_get(json_object_get(cmd, "args"), "args"), "output"));
    cid = jint(cmd, "id");
    json_decref(cmd);
    CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"failed\",\"error\":\"/srv/x: No such file or directory\"}",
                       NULL),
              ==, 200);
    c = get_cmd(alice, sid, id, NULL);
    CHECK_STR(jstr(c, "state"), "failed");
    CHECK_STR(jstr(c, "error"), "/srv/x: No such file or directory");
    json_decref(c);
    /* the log lists every command in order */
    {
        char path[80];
        snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands", sid);
        j = call(bob, "GET", path, NULL, &st);
        CHECK_INT(json_array_size(json_object_get(j, "commands")), ==, 3);
        CHECK_STR(jstr(json_array_get(json_object_get(j, "commands"), 0), "line"), "dir /tmp");
        CHECK_STR(jstr(json_array_get(json_object_get(j, "commands"), 2), "state"), "failed");
        json_decref(j);
    }
    /* a large table (more than the 256 KiB other results may have) is taken whole */
    c = run(alice, sid, "processes", 0, &st);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    cid = jint(cmd, "id");
    json_decref(cmd);
    {
        json_t *rows = json_array(), *res;
        char *body, line[160];
        for (int i = 0; i < 4000; i++) {
            snprintf(line, sizeof(line), "/usr/bin/worker --id %d --queue jobs-%d --verbose --log /var/log/w.log", i,
                     i % 7);
            json_array_append_new(rows, json_pack("{s:i,s:s}", "pid", 1000 + i, "cmdline", line));
        }
        res = json_pack("{s:s,s:{s:[s,s],s:o}}", "status", "succeeded", "output", "columns", "pid", "cmdline", "rows",
                        rows);
        body = json_dumps(res, JSON_COMPACT);
        json_decref(res);
        CHECK(body && strlen(body) > 300000);
        st = post_dev(&d, "result", cid, body, NULL);
        free(body);
        CHECK_INT(st, ==, 200);
    }
    c = get_cmd(alice, sid, id, NULL);
    CHECK_STR(jstr(c, "state"), "succeeded");
    CHECK_INT(json_array_size(json_object_get(json_object_get(c, "output"), "rows")), ==, 4000);
    CHECK(strstr(jstr(c, "text"), "4999  /usr/bin/worker --id 3999 --queue jobs-2 --verbose --log /var/log/w.log\n"));
    json_decref(c);
    FINISH();
}

static void test_server_commands(void)
{
    struct fleet_device d;
    json_t *c;
    long long sid;
    long st;

    START(NULL);
    CHECK(online_device("web-4", 6, &d));
    sid = open_session(alice, "web-4", &st, NULL);
    CHECK_INT(st, ==, 201);
    c = run(alice, sid, "help", 0, &st);
    CHECK_INT(st, ==, 201);
    CHECK_STR(jstr(c, "state"), "succeeded");
    CHECK_MSG(strstr(jstr(c, "text"), "findfile <name>") && strstr(jstr(c, "text"), "advanced commands"),
              "text:\n%s", jstr(c, "text"));
    json_decref(c);
    c = run(alice, sid, "help dir", 0, &st);
    CHECK_MSG(strncmp(jstr(c, "text"), "usage: dir [path] [-full_path]\n", 31) == 0, "text:\n%s", jstr(c, "text"));
    json_decref(c);
    c = run(alice, sid, "connect", 0, &st);
    CHECK_STR(jstr(c, "state"), "succeeded");
    CHECK_MSG(strncmp(jstr(c, "text"), "connected to web-4 (", 20) == 0, "text: %s", jstr(c, "text"));
    json_decref(c);
    c = run(alice, sid, "cls", 0, &st);
    CHECK_STR(jstr(c, "state"), "succeeded");
    CHECK_STR(jstr(c, "text"), "");
    json_decref(c);
    c = run(alice, sid, "status", 0, &st);
    CHECK_MSG(strstr(jstr(c, "text"), "cwd: /") && strstr(jstr(c, "text"), "help dir"), "text:\n%s",
              jstr(c, "text"));
    json_decref(c);
    c = run(alice, sid, "fg 999", 0, &st);
    CHECK_STR(jstr(c, "state"), "failed");
    json_decref(c);
    /* the agent answers nothing of these */
    c = poll_commands(&d);
    CHECK_INT(json_array_size(c), ==, 0);
    json_decref(c);
    FINISH();
}

static void test_wait(void)
{
    struct fleet_device d;
    json_t *c;
    long long sid;
    long st;

    START(NULL);
    CHECK(online_device("web-5", 7, &d));
    sid = open_session(alice, "web-5", &st, NULL);
    CHECK_INT(st, ==, 201);
    /* a device long-polling in another process answers as soon as it gets the command */
    child = device_child(&d, "{\"status\":\"succeeded\",\"output\":{\"columns\":[\"pid\",\"name\"],"
                             "\"rows\":[{\"pid\":1,\"name\":\"init\"}]}}");
    CHECK(child > 0);
    usleep(200000);
    c = run(alice, sid, "processes", 30, &st);
    CHECK_INT(st, ==, 201);
    CHECK_MSG(strcmp(jstr(c, "state"), "succeeded") == 0, "state %s", jstr(c, "state"));
    CHECK_MSG(strstr(jstr(c, "text"), "1    init"), "text:\n%s", jstr(c, "text"));
    json_decref(c);
    CHECK_INT(child_status(child), ==, 0);
    FINISH();
}

static void test_stream(void)
{
    struct fleet_device d, other;
    json_t *c, *cmd;
    long long sid, id, cid;
    long st;
    bool cancel = true;

    START("live_max_output_bytes=4096");
    CHECK(online_device("web-6", 8, &d));
    CHECK(online_device("web-7", 9, &other));
    sid = open_session(alice, "web-6", &st, NULL);
    CHECK_INT(st, ==, 201);
    c = run(alice, sid, "findfile *.conf -path /etc", 0, &st);
    CHECK_INT(st, ==, 201);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    cid = jint(cmd, "id");
    json_decref(cmd);
    CHECK_INT(post_output(&d, cid, 0, "/etc/a.conf\n", &cancel), ==, 200);
    CHECK(!cancel);
    CHECK_INT(post_output(&d, cid, 1, "/etc/b.conf\n", NULL), ==, 200);
    CHECK_INT(post_output(&d, cid, 1, "/etc/b.conf\n", NULL), ==, 200); /* a repeat: ignored */
    CHECK_INT(post_output(&d, cid, 3, "/etc/d.conf\n", NULL), ==, 409); /* a gap */
    CHECK_INT(post_output(&d, cid, 2, "/etc/c.conf\n", NULL), ==, 200);
    CHECK_INT(post_output(&other, cid, 3, "x\n", NULL), ==, 404); /* not its command */
    c = get_cmd(alice, sid, id, "?offset=0");
    CHECK_STR(jstr(json_object_get(c, "stream"), "text"), "/etc/a.conf\n/etc/b.conf\n/etc/c.conf\n");
    CHECK_INT(jint(json_object_get(c, "stream"), "next"), ==, 36);
    json_decref(c);
    c = get_cmd(alice, sid, id, "?offset=12");
    CHECK_STR(jstr(json_object_get(c, "stream"), "text"), "/etc/b.conf\n/etc/c.conf\n");
    json_decref(c);
    /* a wait from an offset ends when more arrives */
    child = stream_child(&d, cid, 3, "/etc/d.conf\n");
    CHECK(child > 0);
    c = get_cmd(alice, sid, id, "?offset=36&wait=30");
    CHECK_STR(jstr(json_object_get(c, "stream"), "text"), "/etc/d.conf\n");
    CHECK_STR(jstr(c, "state"), "running");
    json_decref(c);
    CHECK_INT(child_status(child), ==, 0);
    /* beyond live_max_output_bytes: counted, not kept */
    {
        char big[3001];
        memset(big, 'x', 3000);
        big[3000] = '\0';
        CHECK_INT(post_output(&d, cid, 4, big, NULL), ==, 200);
        CHECK_INT(post_output(&d, cid, 5, big, NULL), ==, 200);
    }
    c = get_cmd(alice, sid, id, "?offset=0");
    CHECK_INT(jint(json_object_get(c, "stream"), "bytes"), ==, 4096);
    CHECK_INT(jint(json_object_get(c, "stream"), "dropped"), ==, 48 + 6000 - 4096);
    json_decref(c);
    CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"succeeded\",\"output\":{\"matches\":4,\"truncated\":false}}",
                       NULL),
              ==, 200);
    CHECK(wait_cmd(alice, sid, id, "succeeded"));
    /* ended: more output is answered with cancel */
    CHECK_INT(post_output(&d, cid, 6, "late\n", &cancel), ==, 200);
    CHECK(cancel);
    /* only live commands stream */
    {
        char path[120];
        long long pid;
        json_t *p;
        snprintf(path, sizeof(path), "/api/v1/devices/%s/commands", d.id);
        p = call(fleet->admin, "POST", path, "{\"type\":\"ping\"}", &st);
        CHECK_INT(st, ==, 201);
        pid = jint(p, "id");
        json_decref(p);
        CHECK_INT(post_output(&d, pid, 0, "x", NULL), ==, 409);
    }
    FINISH();
}

static void test_background(void)
{
    struct fleet_device d;
    json_t *c;
    long long sid, id;
    long st;
    char want[64];

    START(NULL);
    CHECK(online_device("web-8", 10, &d));
    sid = open_session(alice, "web-8", &st, NULL);
    CHECK_INT(st, ==, 201);
    /* & answers at once, even with a wait */
    c = run(alice, sid, "findfile core -path / &", 10, &st);
    CHECK_INT(st, ==, 201);
    CHECK_STR(jstr(c, "state"), "running");
    CHECK(json_is_true(json_object_get(c, "background")));
    id = jint(c, "id");
    json_decref(c);
    c = run(alice, sid, "jobs", 0, &st);
    snprintf(want, sizeof(want), "%lld", id);
    CHECK_MSG(strstr(jstr(c, "text"), "findfile core -path / &") && strstr(jstr(c, "text"), want), "text:\n%s",
              jstr(c, "text"));
    json_decref(c);
    /* fg: the client follows it; it is no longer in the background */
    snprintf(want, sizeof(want), "fg %lld", id);
    c = run(alice, sid, want, 0, &st);
    CHECK_STR(jstr(c, "state"), "succeeded");
    CHECK_INT(jint(json_object_get(c, "output"), "follow"), ==, id);
    json_decref(c);
    c = get_cmd(alice, sid, id, NULL);
    CHECK(json_is_false(json_object_get(c, "background")));
    json_decref(c);
    c = run(alice, sid, "jobs", 0, &st);
    CHECK_STR(jstr(c, "text"), "no commands run in the background\n");
    json_decref(c);
    FINISH();
}

static void test_timeout_cancel(void)
{
    struct fleet_device d;
    json_t *c, *cmd, *dc, *ans;
    long long sid, id, cid, id2, cid2;
    long st;
    char path[160];

    START("live_command_timeout_seconds=2");
    CHECK(online_device("web-9", 11, &d));
    sid = open_session(alice, "web-9", &st, NULL);
    CHECK_INT(st, ==, 201);
    /* taken by the device, never answered: timed out, and the agent is told to stop */
    c = run(alice, sid, "dir /", 0, &st);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    cid = jint(cmd, "id");
    json_decref(cmd);
    CHECK(wait_cmd(alice, sid, id, "timed out"));
    c = get_cmd(alice, sid, id, NULL);
    CHECK_MSG(strstr(jstr(c, "error"), "timed out after 2 s"), "error: %s", jstr(c, "error"));
    json_decref(c);
    dc = device_command(&d, cid);
    CHECK(json_is_string(json_object_get(dc, "cancel_requested")));
    json_decref(dc);
    CHECK_INT(post_dev(&d, "progress", cid, "{\"message\":\"still here\"}", &ans), ==, 200);
    CHECK(json_is_true(json_object_get(ans, "cancel")));
    json_decref(ans);
    /* its late result changes nothing */
    CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"succeeded\",\"output\":{}}", NULL), ==, 200);
    c = get_cmd(alice, sid, id, NULL);
    CHECK_STR(jstr(c, "state"), "timed out");
    json_decref(c);
    CHECK(audited(sid, "live.command.end", NULL, "timed out"));

    /* never fetched: withdrawn, so the device never gets it */
    c = run(alice, sid, "connections", 0, &st);
    id2 = jint(c, "id");
    cid2 = jint(c, "device_command");
    json_decref(c);
    CHECK(wait_cmd(alice, sid, id2, "timed out"));
    dc = device_command(&d, cid2);
    CHECK_STR(jstr(dc, "status"), "failed");
    json_decref(dc);
    c = poll_commands(&d);
    CHECK_INT(json_array_size(c), ==, 0);
    json_decref(c);

    /* cancelled by the person while the device runs it */
    c = run(alice, sid, "services", 0, &st);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    cid = jint(cmd, "id");
    json_decref(cmd);
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands/%lld/cancel", sid, id);
    CHECK_INT(status_of(bob, "POST", path, NULL), ==, 403);
    c = call(alice, "POST", path, NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_STR(jstr(json_object_get(c, "command"), "state"), "cancelled");
    CHECK_STR(jstr(json_object_get(c, "command"), "cancelled_by"), "alice");
    json_decref(c);
    CHECK_INT(status_of(alice, "POST", path, NULL), ==, 409);
    CHECK_INT(post_dev(&d, "progress", cid, "{}", &ans), ==, 200);
    CHECK(json_is_true(json_object_get(ans, "cancel")));
    json_decref(ans);
    CHECK(audited(sid, "live.command.cancel", "alice", NULL));
    FINISH();
}

static void test_idle(void)
{
    struct fleet_device d;
    json_t *j = NULL;
    long long sid;
    long st;
    char path[80];
    bool closed = false;

    START("live_idle_minutes=0.05"); /* 3 s */
    CHECK(online_device("web-10", 12, &d));
    sid = open_session(alice, "web-10", &st, NULL);
    CHECK_INT(st, ==, 201);
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld", sid);
    /* read by someone else (not activity) until the sweep closes it */
    for (int i = 0; i < 200 && !closed; i++) {
        json_decref(j);
        j = call(bob, "GET", path, NULL, &st);
        closed = strcmp(jstr(json_object_get(j, "session"), "state"), "closed") == 0;
        if (!closed)
            usleep(100000);
    }
    CHECK(closed);
    CHECK_STR(jstr(json_object_get(j, "session"), "closed_by"), "server");
    CHECK_STR(jstr(json_object_get(j, "session"), "close_reason"), "idle for 3 s");
    json_decref(j);
    CHECK(audited(sid, "live.session.close", NULL, "idle for 3 s"));
    /* the device is free again */
    CHECK_INT(open_session(bob, "web-10", &st, NULL) > 0, ==, 1);
    CHECK_INT(st, ==, 201);
    FINISH();
}

static void test_library(void)
{
    static const char *const octet[] = {"Content-Type: application/octet-stream", NULL};
    static const char script[] = "#!/bin/sh\necho probe\n";
    struct fleet_device d, other;
    json_t *j, *c, *cmd;
    long long sid, id, cid, dir_cid;
    long st;
    char path[200], sha[65];

    START("live_library_max_bytes=4096");
    CHECK(online_device("db-1", 13, &d));
    CHECK(online_device("db-2", 14, &other));
    /* admins upload; responders may not; too large is refused */
    j = call_h(rita, octet, "PUT", "/api/v1/live/library/probe.sh", script, &st);
    CHECK_INT(st, ==, 403);
    json_decref(j);
    {
        char *big = malloc(5001);
        CHECK(big);
        memset(big, 'a', 5000);
        big[5000] = '\0';
        j = call_h(fleet->admin, octet, "PUT", "/api/v1/live/library/big.bin", big, &st);
        free(big);
        CHECK_INT(st, ==, 413);
        json_decref(j);
    }
    j = call_h(fleet->admin, octet, "PUT", "/api/v1/live/library/probe.sh", script, &st);
    CHECK_MSG(st == 201, "upload: %ld %s", st, jmsg(j));
    snprintf(sha, sizeof(sha), "%s", jstr(json_object_get(j, "file"), "sha256"));
    CHECK_INT(jint(json_object_get(j, "file"), "size"), ==, (long long)strlen(script));
    json_decref(j);
    CHECK_INT(strlen(sha), ==, 64);
    j = call(alice, "GET", "/api/v1/live/library", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_STR(jstr(json_array_get(json_object_get(j, "files"), 0), "name"), "probe.sh");
    json_decref(j);
    CHECK_INT(status_of(fleet->admin, "PUT", "/api/v1/live/library/.hidden", "x"), ==, 404);

    sid = open_session(rita, "db-1", &st, NULL);
    CHECK_INT(st, ==, 201);
    /* a file the library does not have: refused at once, nothing queued */
    c = run(rita, sid, "putfile nope.sh", 0, &st);
    CHECK_INT(st, ==, 404);
    CHECK_STR(jmsg(c), "no library file nope.sh; `library` lists them");
    json_decref(c);
    c = poll_commands(&d);
    CHECK_INT(json_array_size(c), ==, 0);
    json_decref(c);
    /* the session lists the library */
    c = run(rita, sid, "library", 0, &st);
    CHECK_MSG(strstr(jstr(c, "text"), "probe.sh") && strstr(jstr(c, "text"), sha), "text:\n%s", jstr(c, "text"));
    json_decref(c);
    /* putfile carries the file's hash; the agent fetches it for that command only */
    c = run(rita, sid, "dir /", 0, &st);
    json_decref(c);
    cmd = one_command(&d);
    dir_cid = jint(cmd, "id");
    json_decref(cmd);
    c = run(rita, sid, "putfile probe.sh", 0, &st);
    CHECK_INT(st, ==, 201);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    cid = jint(cmd, "id");
    CHECK_STR(jstr(json_object_get(json_object_get(cmd, "args"), "args"), "sha256"), sha);
    json_decref(cmd);
    CHECK_INT(post_dev(&d, "progress", cid, "{}", NULL), ==, 200);
    {
        struct serverproc_response r;
        const char *h[] = {d.auth, NULL};
        snprintf(path, sizeof(path), "/api/v1/agent/library/probe.sh?command=%lld", cid);
        CHECK(serverproc_request(fleet->server, "GET", path, NULL, h, &r) == 0);
        CHECK_INT(r.status, ==, 200);
        CHECK_INT(r.len, ==, strlen(script));
        CHECK(memcmp(r.body, script, r.len) == 0);
        serverproc_response_free(&r);
    }
    CHECK_INT(status_of(other.auth, "GET", path, NULL), ==, 404); /* not its command */
    snprintf(path, sizeof(path), "/api/v1/agent/library/probe.sh?command=%lld", dir_cid);
    CHECK_INT(status_of(d.auth, "GET", path, NULL), ==, 403); /* a command that names no library file */
    CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"succeeded\",\"output\":{\"path\":\"/probe.sh\"}}", NULL), ==,
              200);
    CHECK(wait_cmd(rita, sid, id, "succeeded"));
    snprintf(path, sizeof(path), "/api/v1/agent/library/probe.sh?command=%lld", cid);
    CHECK_INT(status_of(d.auth, "GET", path, NULL), ==, 409); /* ended */
    /* deleting: admins only, through the API or in a session */
    CHECK_INT(status_of(rita, "DELETE", "/api/v1/live/library/probe.sh", NULL), ==, 403);
    c = run(rita, sid, "library delete probe.sh", 0, &st);
    CHECK_INT(st, ==, 403);
    json_decref(c);
    {
        long long asid = open_session(fleet->admin, "db-2", &st, NULL);
        CHECK_INT(st, ==, 201);
        c = run(fleet->admin, asid, "library delete probe.sh", 0, &st);
        CHECK_INT(st, ==, 201);
        CHECK_STR(jstr(c, "state"), "succeeded");
        CHECK_STR(jstr(c, "text"), "deleted probe.sh from the library\n");
        json_decref(c);
        c = run(fleet->admin, asid, "library delete probe.sh", 0, &st);
        CHECK_STR(jstr(c, "state"), "failed");
        json_decref(c);
    }
    CHECK_INT(status_of(fleet->admin, "DELETE", "/api/v1/live/library/probe.sh", NULL), ==, 404);
    j = call_h(fleet->admin, octet, "PUT", "/api/v1/live/library/probe.sh", script, &st);
    CHECK_INT(st, ==, 201);
    json_decref(j);
    CHECK_INT(status_of(fleet->admin, "DELETE", "/api/v1/live/library/probe.sh", NULL), ==, 200);
    j = call(fleet->admin, "GET", "/api/v1/audit?action=live.library.upload", NULL, &st);
    CHECK_INT(json_array_size(json_object_get(j, "entries")), ==, 2);
    json_decref(j);
    j = call(fleet->admin, "GET", "/api/v1/audit?action=live.library.delete", NULL, &st);
    CHECK_INT(json_array_size(json_object_get(j, "entries")), ==, 2);
    json_decref(j);
    FINISH();
}

static void test_getfile(void)
{
    static const char *const octet[] = {"Content-Type: application/octet-stream", NULL};
    struct fleet_device d;
    json_t *c, *cmd, *j;
    long long sid, id, cid;
    long st;
    char path[160];
    char real_sha[65] = "";

    START(NULL);
    CHECK(online_device("fs-1", 15, &d));
    sid = open_session(alice, "fs-1", &st, NULL);
    CHECK_INT(st, ==, 201);
    c = run(alice, sid, "getfile /etc/motd", 0, &st);
    CHECK_INT(st, ==, 201);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    cid = jint(cmd, "id");
    json_decref(cmd);
    CHECK_INT(post_dev(&d, "progress", cid, "{}", NULL), ==, 200);
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/file", cid);
    j = call_h(d.auth, octet, "POST", path, "hello getfile\n", &st);
    CHECK_MSG(st == 200, "upload: %ld %s", st, jmsg(j));
    {
        /* whatever the route calls it: the hash it computed */
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
            if (json_is_string(v) && json_string_length(v) == 64)
                snprintf(real_sha, sizeof(real_sha), "%s", json_string_value(v));
    }
    json_decref(j);
    CHECK(real_sha[0]);
    /* the agent's word against what arrived: a wrong hash fails the command */
    {
        char body[400];
        snprintf(body, sizeof(body),
                 "{\"status\":\"succeeded\",\"output\":{\"path\":\"/etc/motd\",\"size\":14,\"sha256\":\"%s\"}}",
                 real_sha);
        CHECK_INT(post_dev(&d, "result", cid, body, NULL), ==, 200);
    }
    CHECK(wait_cmd(alice, sid, id, "succeeded"));
    c = get_cmd(alice, sid, id, NULL);
    CHECK_STR(jstr(json_object_get(c, "file"), "sha256"), real_sha);
    CHECK_INT(jint(json_object_get(c, "file"), "size"), ==, 14);
    json_decref(c);
    {
        struct serverproc_response r;
        const char *h[] = {alice, NULL};
        char disp[200];
        snprintf(path, sizeof(path), "/api/v1/live/files/%lld", id);
        CHECK(serverproc_request(fleet->server, "GET", path, NULL, h, &r) == 0);
        CHECK_INT(r.status, ==, 200);
        CHECK_INT(r.len, ==, 14);
        CHECK(memcmp(r.body, "hello getfile\n", 14) == 0);
        CHECK(serverproc_header(&r, "Content-Disposition", disp, sizeof(disp)) && strstr(disp, "motd"));
        serverproc_response_free(&r);
    }
    CHECK(audited(sid, "live.file.download", "alice", real_sha));
    CHECK_INT(status_of(viewer, "GET", path, NULL), ==, 403);

    /* a second getfile whose result names another hash */
    c = run(alice, sid, "getfile /etc/issue", 0, &st);
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    cid = jint(cmd, "id");
    json_decref(cmd);
    CHECK_INT(post_dev(&d, "progress", cid, "{}", NULL), ==, 200);
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/file", cid);
    CHECK_INT(status_of(d.auth, "POST", path, "x"), ==, 415); /* not octet-stream */
    j = call_h(d.auth, octet, "POST", path, "tampered\n", &st);
    CHECK_INT(st, ==, 200);
    json_decref(j);
    CHECK_INT(post_dev(&d, "result", cid,
                       "{\"status\":\"succeeded\",\"output\":{\"path\":\"/etc/issue\",\"size\":9,\"sha256\":"
                       "\"0000000000000000000000000000000000000000000000000000000000000000\"}}",
                       NULL),
              ==, 200);
    CHECK(wait_cmd(alice, sid, id, "failed"));
    c = get_cmd(alice, sid, id, NULL);
    CHECK_MSG(strstr(jstr(c, "error"), "is not the one the agent sent"), "error: %s", jstr(c, "error"));
    CHECK(json_is_null(json_object_get(c, "file")));
    json_decref(c);
    snprintf(path, sizeof(path), "/api/v1/live/files/%lld", id);
    CHECK_INT(status_of(alice, "GET", path, NULL), ==, 404);
    FINISH();
}

static void test_bridged(void)
{
    struct fleet_device d;
    json_t *c, *cmd, *a;
    long long sid, id, aid, cid;
    long st;
    char path[80];

    START(NULL);
    CHECK(online_device("app-1", 16, &d));
    sid = open_session(rita, "app-1", &st, NULL);
    CHECK_INT(st, ==, 201);
    c = run(rita, sid, "isolate -comment \"beaconing\"", 0, &st);
    CHECK_MSG(st == 201, "isolate: %ld %s", st, jmsg(c));
    id = jint(c, "id");
    aid = jint(c, "action_id");
    CHECK(aid > 0);
    CHECK(json_is_null(json_object_get(c, "device_command")));
    json_decref(c);
    /* an action of the action center, saying where it came from */
    snprintf(path, sizeof(path), "/api/v1/actions/%lld", aid);
    a = call(rita, "GET", path, NULL, &st);
    CHECK_STR(jstr(a, "type"), "isolate");
    CHECK_STR(jstr(a, "requested_by"), "rita");
    CHECK_MSG(strstr(jstr(a, "comment"), "live response session") && strstr(jstr(a, "comment"), "beaconing"),
              "comment: %s", jstr(a, "comment"));
    json_decref(a);
    /* the device runs the action; the live command follows it to its end */
    cmd = one_command(&d);
    CHECK(cmd);
    CHECK_STR(jstr(cmd, "type"), "isolate");
    cid = jint(cmd, "id");
    json_decref(cmd);
    CHECK_INT(post_dev(&d, "result", cid, "{\"status\":\"failed\",\"error\":\"nftables is not available\"}", NULL),
              ==, 200);
    CHECK(wait_cmd(rita, sid, id, "failed"));
    c = get_cmd(rita, sid, id, NULL);
    CHECK_MSG(strstr(jstr(c, "error"), "nftables is not available"), "error: %s", jstr(c, "error"));
    CHECK_STR(jstr(json_object_get(c, "output"), "state"), "failed");
    json_decref(c);
    /* cancelled in the session: its action is cancelled, and never reaches the device */
    c = run(rita, sid, "release", 0, &st);
    CHECK_INT(st, ==, 201);
    id = jint(c, "id");
    aid = jint(c, "action_id");
    json_decref(c);
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands/%lld/cancel", sid, id);
    c = call(rita, "POST", path, NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_STR(jstr(json_object_get(c, "command"), "state"), "cancelled");
    json_decref(c);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld", aid);
    a = call(rita, "GET", path, NULL, &st);
    CHECK_STR(jstr(a, "state"), "cancelled");
    json_decref(a);
    c = poll_commands(&d);
    CHECK_INT(json_array_size(c), ==, 0);
    json_decref(c);
    FINISH();
}

static void test_analyze_indicators(void)
{
    struct fleet_device d;
    json_t *c, *cmd, *ind;
    long long sid, id, cid;
    long st;
    static const char hash[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    START(NULL);
    CHECK(online_device("app-2", 17, &d));
    {
        char body[400];
        snprintf(body, sizeof(body),
                 "{\"type\":\"sha256\",\"value\":\"%s\",\"action\":\"alert\",\"title\":\"test dropper\"}", hash);
        CHECK_INT(status_of(alice, "POST", "/api/v1/indicators", body), ==, 201);
    }
    sid = open_session(rita, "app-2", &st, NULL);
    CHECK_INT(st, ==, 201);
    c = run(rita, sid, "analyze file /tmp/x", 0, &st);
    CHECK_MSG(st == 201, "analyze: %ld %s", st, jmsg(c));
    id = jint(c, "id");
    json_decref(c);
    cmd = one_command(&d);
    CHECK(cmd);
    cid = jint(cmd, "id");
    ind = json_object_get(json_object_get(cmd, "args"), "indicators");
    CHECK_INT(json_array_size(ind), ==, 1);
    CHECK_STR(json_string_value(json_array_get(ind, 0)), hash);
    json_decref(cmd);
    CHECK_INT(post_dev(&d, "result", cid,
                       "{\"status\":\"succeeded\",\"output\":{\"path\":\"/tmp/x\",\"verdict\":\"suspicious\","
                       "\"reasons\":[\"runs from a world-writable directory\"]}}",
                       NULL),
              ==, 200);
    CHECK(wait_cmd(rita, sid, id, "succeeded"));
    c = get_cmd(rita, sid, id, NULL);
    CHECK_MSG(strncmp(jstr(c, "text"), "verdict: ", 9) == 0 && strstr(jstr(c, "text"), "reasons:\n  - "),
              "text:\n%s", jstr(c, "text"));
    json_decref(c);
    FINISH();
}

static void test_config(void)
{
    static const char *const bad_idle[] = {"live_idle_minutes=0", NULL};
    struct serverproc_options o = {.sets = bad_idle};
    char why[2048], cmd[700], out[16384];
    struct serverproc *sp;
    size_t n;
    FILE *p;

    if (!check_is_root())
        SKIP("needs root (the server under test drops to user nobody)");
    sp = serverproc_start(&o, why, sizeof(why));
    CHECK_MSG(sp == NULL && strstr(why, "live_idle_minutes: expected a number of minutes"), "%s", why);
    /* the keys and their defaults, with minutes given in decimals */
    snprintf(cmd, sizeof(cmd), "%s server --set live_idle_minutes=0.5 --print-config", serverproc_binary());
    p = popen(cmd, "r");
    CHECK(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    CHECK_INT(pclose(p), ==, 0);
    CHECK_MSG(strstr(out, "live_idle_minutes = 0.5\n") && strstr(out, "live_command_timeout_seconds = 600\n") &&
                  strstr(out, "live_long_command_timeout_seconds = 1800\n") &&
                  strstr(out, "live_library_max_bytes = 67108864\n") &&
                  strstr(out, "live_max_output_bytes = 16777216\n"),
              "%s", out);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"sessions", test_sessions},
        {"offline", test_offline},
        {"refusals", test_refusals},
        {"round_trip", test_round_trip},
        {"server_commands", test_server_commands},
        {"wait", test_wait},
        {"stream", test_stream},
        {"background", test_background},
        {"timeout_cancel", test_timeout_cancel},
        {"idle", test_idle},
        {"library", test_library},
        {"getfile", test_getfile},
        {"bridged", test_bridged},
        {"analyze_indicators", test_analyze_indicators},
        {"config", test_config},
        {NULL, NULL},
    };
    int rc;

    check_set_teardown(teardown);
    rc = check_main("server/live_api", cases, argc, argv);
    return rc;
}
