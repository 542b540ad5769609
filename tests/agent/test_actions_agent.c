/*
 * test_actions_agent.c — response actions end to end: the real agent
 * (enrolled with `yamori-agent enroll`) against the real server
 * (tests/lib/serverproc.h). A responder asks, through POST
 * /api/v1/actions, to kill a `sleep` the test started, named by pid and
 * process uid: the action goes queued -> sent -> running -> succeeded
 * (each change in the audit log) and the sleep dies of SIGKILL. The agent
 * refuses to kill itself, and a pid whose uid does not match (a reused
 * pid) is left alone. An action created while the agent is stopped
 * reaches it when it starts; one that expired meanwhile never runs. A
 * scan reports progress (the action is running with a percentage) and a
 * cancel stops it: the action ends cancelled with what was scanned. A
 * kill_process sent while a slow scan runs succeeds before the scan ends
 * (long commands run on a worker), and SIGTERM during a scan cancels it
 * and the agent exits cleanly.
 * Needs root (the sensor; the server drops to nobody).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agentproc.h"
#include "check.h"
#include "serverproc.h"

static char dir[256];
static pid_t agent = -1;
static pid_t victims[4] = {-1, -1, -1, -1};
static struct serverproc *server;
static char admin[256], responder[300];
static char device_id[80];

static void teardown(void)
{
    if (agent > 0) {
        kill(agent, SIGKILL);
        waitpid(agent, NULL, 0);
        agent = -1;
    }
    for (int i = 0; i < 4; i++) {
        if (victims[i] > 0) {
            kill(victims[i], SIGKILL);
            waitpid(victims[i], NULL, 0);
            victims[i] = -1;
        }
    }
    serverproc_stop_all();
    server = NULL;
    if (dir[0] && check_failed_) {
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "cp '%s/agent.log' '%s.agent.log' 2>/dev/null", dir, dir);
        if (system(cmd) == 0)
            fprintf(stderr, "the agent's log is kept in %s.agent.log\n", dir);
    }
    if (dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        (void)!system(cmd);
        dir[0] = '\0';
    }
}

/* Runs the agent binary with args to completion; output into dir/name. */
static int run_agent_cmd(const char *name, const char *const *args)
{
    const char *bin = agentproc_binary(false);
    char log[300], *argv[16];
    int n = 0, ws;
    pid_t p;

    snprintf(log, sizeof(log), "%s/%s", dir, name);
    argv[n++] = (char *)bin;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    p = fork();
    if (p == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, argv);
        _exit(127);
    }
    if (p < 0 || waitpid(p, &ws, 0) != p)
        return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static pid_t start_agent(void)
{
    char etc[300], state[300], status[300], log[300];
    const char *bin = agentproc_binary(false);
    pid_t pid;

    snprintf(etc, sizeof(etc), "--config-dir=%s/etc", dir);
    snprintf(state, sizeof(state), "--state-dir=%s/state", dir);
    snprintf(status, sizeof(status), "--status-file=%s/status.json", dir);
    snprintf(log, sizeof(log), "%s/agent.log", dir);
    unlink(status + strlen("--status-file="));
    pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(bin, bin, etc, state, status, "--no-logons", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits until the agent runs (its status file names its output). */
static bool wait_ready(int seconds)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/status.json", dir);
    for (int i = 0; i < seconds * 10; i++) {
        json_t *st = json_load_file(path, 0, NULL);
        bool ready = json_is_string(json_object_get(st, "Output"));
        json_decref(st);
        if (ready)
            return true;
        usleep(100000);
    }
    return false;
}

static json_t *call(const char *auth_line, const char *method, const char *path, const char *body, long *status)
{
    const char *headers[] = {auth_line, NULL};
    struct serverproc_response r;
    json_t *out = NULL;

    *status = 0;
    if (serverproc_request(server, method, path, body, headers, &r) == 0) {
        *status = r.status;
        out = json_incref(r.json);
    }
    serverproc_response_free(&r);
    return out;
}

static json_t *as_admin(const char *method, const char *path, const char *body, long *status)
{
    char auth[300];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin);
    return call(auth, method, path, body, status);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* A server (with the --set lines sets, NULL-terminated or NULL), an admin
 * and a responder, and an agent configuration enrolled in dir/etc. */
static bool enroll(const char *const *sets, char *why, size_t whylen)
{
    struct serverproc_options so = {.sets = sets};
    char err[1024], pkg[300], etc[280], arg_dir[320], path[300];
    json_t *answer, *package, *j;
    struct agent_conf c;
    long status;
    int rc;

    snprintf(dir, sizeof(dir), "/tmp/yamori-actions.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
        return false;
    }
    chmod(dir, 0711);
    server = serverproc_start(&so, err, sizeof(err));
    if (!server) {
        snprintf(why, whylen, "server: %.900s", err);
        return false;
    }
    if (serverproc_admin_token(server, admin, sizeof(admin)) != 0) {
        snprintf(why, whylen, "no admin token: %s", serverproc_diag(server));
        return false;
    }
    json_decref(as_admin("POST", "/api/v1/users",
                         "{\"name\":\"rita\",\"role\":\"responder\",\"password\":\"a long password for rita\"}",
                         &status));
    j = as_admin("POST", "/api/v1/tokens", "{\"name\":\"cli\",\"user\":\"rita\"}", &status);
    snprintf(responder, sizeof(responder), "Authorization: Bearer %s", jstr(j, "token"));
    json_decref(j);
    if (status != 201 && status != 200) {
        snprintf(why, whylen, "no responder token (%ld)", status);
        return false;
    }
    answer = as_admin("POST", "/api/v1/onboarding", "{\"group\": \"actions test\"}", &status);
    package = json_object_get(answer, "package");
    if (status != 201 || !json_is_object(package)) {
        snprintf(why, whylen, "onboarding: %ld", status);
        json_decref(answer);
        return false;
    }
    snprintf(pkg, sizeof(pkg), "%s/package.json", dir);
    json_object_set_new(package, "server_urls", json_pack("[s]", serverproc_url(server)));
    rc = json_dump_file(package, pkg, 0);
    json_decref(answer);
    if (rc != 0) {
        snprintf(why, whylen, "cannot write the package");
        return false;
    }
    snprintf(etc, sizeof(etc), "%s/etc", dir);
    snprintf(arg_dir, sizeof(arg_dir), "--config-dir=%s", etc);
    {
        const char *args[] = {"enroll", pkg, arg_dir, NULL};
        rc = run_agent_cmd("enroll.log", args);
    }
    if (rc != 0) {
        snprintf(why, whylen, "yamori-agent enroll: exit %d", rc);
        return false;
    }
    snprintf(path, sizeof(path), "%s/agent.conf", etc);
    if (agentconf_load(&c, path, err, sizeof(err)) != 0) {
        snprintf(why, whylen, "%s", err);
        return false;
    }
    snprintf(device_id, sizeof(device_id), "%s", c.device_id);
    snprintf(c.server_url, sizeof(c.server_url), "%s", serverproc_url(server));
    if (agentconf_save(&c, path, err, sizeof(err)) != 0) {
        snprintf(why, whylen, "cannot rewrite agent.conf: %s", err);
        return false;
    }
    snprintf(path, sizeof(path), "%s/state", dir);
    mkdir(path, 0700);
    return true;
}

#define SETUP(...)                                                                                  \
    do {                                                                                            \
        static const char *const sets_[] = {__VA_ARGS__, NULL};                                     \
        char why_[1200];                                                                            \
        if (!check_is_root())                                                                       \
            SKIP("needs root (the agent's sensor; the server drops to nobody)");                   \
        CHECK_MSG(enroll(sets_[0] ? sets_ : NULL, why_, sizeof(why_)), "%s", why_);                 \
    } while (0)

#define RUN_AGENT()                                                                                 \
    do {                                                                                            \
        agent = start_agent();                                                                      \
        CHECK_MSG(agent > 0 && wait_ready(60), "the agent did not start");                         \
    } while (0)

/* A `sleep 1000` child of the test (remembered for the teardown). */
static pid_t victim(int slot)
{
    pid_t p = fork();
    if (p == 0) {
        execl("/bin/sleep", "sleep", "1000", (char *)NULL);
        _exit(127);
    }
    victims[slot] = p;
    usleep(50000); /* exec'd: its identity is the sleep's */
    return p;
}

/* Creates a kill_process action; its id, or 0 with *status. */
static long long kill_action(pid_t pid, const char *uid, long *status)
{
    char body[400];
    json_t *j;
    long long id;

    if (uid)
        snprintf(body, sizeof(body),
                 "{\"type\":\"kill_process\",\"device\":\"%s\",\"target\":{\"pid\":%d,\"process_uid\":\"%s\"},"
                 "\"comment\":\"test\"}",
                 device_id, (int)pid, uid);
    else
        snprintf(body, sizeof(body), "{\"type\":\"kill_process\",\"device\":\"%s\",\"target\":{\"pid\":%d}}",
                 device_id, (int)pid);
    j = call(responder, "POST", "/api/v1/actions", body, status);
    id = *status == 201 ? json_integer_value(json_object_get(j, "id")) : 0;
    json_decref(j);
    return id;
}

/* Waits (polling, up to ~60 s) until action id is final; the action
 * (new reference) or NULL. */
static json_t *wait_final(long long id)
{
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    for (int i = 0; i < 600; i++) {
        long st;
        json_t *a = as_admin("GET", path, NULL, &st);
        const char *s = jstr(a, "state");
        if (!strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "cancelled") || !strcmp(s, "expired") ||
            !strcmp(s, "rejected"))
            return a;
        json_decref(a);
        usleep(100000);
    }
    return NULL;
}

static const char *state_of(long long id)
{
    static char out[64];
    char path[64];
    long st;
    json_t *a;

    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    a = as_admin("GET", path, NULL, &st);
    snprintf(out, sizeof(out), "%s", jstr(a, "state"));
    json_decref(a);
    return out;
}

/* The action verbs the audit log holds for action id, as "a,b,c," oldest first. */
static void audit_trail(long long id, char *out, size_t outlen)
{
    char target[48];
    json_t *j, *e;
    long st;
    size_t len = 0;

    out[0] = '\0';
    snprintf(target, sizeof(target), "action:%lld", id);
    j = as_admin("GET", "/api/v1/audit?limit=1000", NULL, &st);
    for (size_t i = json_array_size(json_object_get(j, "entries")); i-- > 0;) {
        e = json_array_get(json_object_get(j, "entries"), i);
        if (strcmp(jstr(e, "target"), target) == 0 && len < outlen)
            len += (size_t)snprintf(out + len, outlen - len, "%s,", jstr(e, "action"));
    }
    json_decref(j);
}

/* The sleep was killed by SIGKILL (reaped; the teardown need not). */
static bool died_of_sigkill(int slot)
{
    int ws;
    pid_t p = victims[slot];

    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(p, &ws, WNOHANG);
        if (r == p) {
            victims[slot] = -1;
            return WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL;
        }
        usleep(50000);
    }
    return false;
}

static bool still_alive(int slot)
{
    return victims[slot] > 0 && waitpid(victims[slot], NULL, WNOHANG) == 0 && kill(victims[slot], 0) == 0;
}

/* ================================================================== cases */

static void kill_lifecycle(void)
{
    char uid[128], trail[600], own[32];
    json_t *a;
    long long id;
    long st;
    pid_t p;

    SETUP(NULL);
    RUN_AGENT();
    p = victim(0);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    id = kill_action(p, uid, &st);
    CHECK_MSG(id > 0, "create: %ld", st);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "succeeded"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    CHECK_INT(json_integer_value(json_array_get(json_object_get(json_object_get(a, "result"), "killed"), 0)), ==, p);
    json_decref(a);
    CHECK(died_of_sigkill(0));
    audit_trail(id, trail, sizeof(trail));
    CHECK_MSG(strcmp(trail, "action.create,command.create,action.sent,action.running,action.succeeded,") == 0 ||
                  strcmp(trail, "action.create,action.sent,action.running,action.succeeded,") == 0,
              "audit trail: %s", trail);
    /* pid 1 is refused before anything is recorded */
    CHECK(kill_action(1, NULL, &st) == 0 && st == 400);
    /* the agent refuses to kill itself */
    id = kill_action(agent, NULL, &st);
    CHECK(id > 0);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "failed") && strstr(jstr(a, "error"), "agent itself"), "state %s: %s",
              jstr(a, "state"), jstr(a, "error"));
    json_decref(a);
    CHECK(kill(agent, 0) == 0);
    /* a pid whose uid is another process's is left alone */
    p = victim(1);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    snprintf(own, sizeof(own), "%s", strrchr(uid, '-') + 1);
    snprintf(strrchr(uid, '-') + 1, sizeof(uid) - (size_t)(strrchr(uid, '-') + 1 - uid), "%llu",
             strtoull(own, NULL, 10) + 1);
    id = kill_action(p, uid, &st);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "failed") && strstr(jstr(a, "error"), "reused"), "state %s: %s",
              jstr(a, "state"), jstr(a, "error"));
    json_decref(a);
    CHECK(still_alive(1));
}

static void offline_delivered(void)
{
    char uid[128];
    json_t *a;
    long long id;
    long st;
    pid_t p;

    SETUP(NULL);
    /* the agent has not started yet: the device is offline */
    p = victim(0);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    id = kill_action(p, uid, &st);
    CHECK_MSG(id > 0, "create: %ld", st);
    CHECK_STR(state_of(id), "queued");
    RUN_AGENT();
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "succeeded"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    json_decref(a);
    CHECK(died_of_sigkill(0));
}

static void expired_never_run(void)
{
    char uid[128];
    json_t *a;
    long long id, later;
    long st;
    pid_t p, q;

    SETUP("action_expiry_hours=0.0005"); /* 1.8 s */
    p = victim(0);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    id = kill_action(p, uid, &st);
    CHECK_MSG(id > 0, "create: %ld", st);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "expired"), "state %s", jstr(a, "state"));
    json_decref(a);
    RUN_AGENT();
    /* a fresh action goes through (so the agent polled), the expired one never ran */
    q = victim(1);
    CHECK(agentproc_unique_id(q, uid, sizeof(uid)));
    later = kill_action(q, uid, &st);
    a = wait_final(later);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "succeeded"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    json_decref(a);
    CHECK(died_of_sigkill(1));
    CHECK(still_alive(0));
    CHECK_STR(state_of(id), "expired");
}


/* Creates n files of size bytes under dir/name; false on failure. */
static bool make_tree(const char *name, int n, size_t size, char *path, size_t pathlen)
{
    char *buf = calloc(1, size ? size : 1), file[600];
    bool ok = buf != NULL;

    snprintf(path, pathlen, "%s/%s", dir, name);
    ok = ok && mkdir(path, 0755) == 0;
    for (int i = 0; ok && i < n; i++) {
        int fd;
        snprintf(file, sizeof(file), "%s/f%05d.bin", path, i);
        memset(buf, 'a' + i % 26, size);
        fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ok = fd >= 0 && write(fd, buf, size) == (ssize_t)size;
        if (fd >= 0)
            close(fd);
    }
    free(buf);
    return ok;
}

static long long scan_action(const char *path, const char *extra, long *status)
{
    char body[900];
    json_t *j;
    long long id;

    snprintf(body, sizeof(body),
             "{\"type\":\"scan\",\"device\":\"%s\",\"target\":{\"kind\":\"custom\",\"path\":\"%s\"%s}}", device_id,
             path, extra);
    j = call(responder, "POST", "/api/v1/actions", body, status);
    id = *status == 201 ? json_integer_value(json_object_get(j, "id")) : 0;
    json_decref(j);
    return id;
}

/* A scan reports progress through command_progress while it runs and can
 * be cancelled: it then ends cancelled, with what it scanned so far. */
static void scan_progress_and_cancel(void)
{
    char small[400], big[400], path[64];
    json_t *a = NULL;
    long long id;
    long st;
    bool running = false;

    SETUP(NULL);
    CHECK(make_tree("small", 10, 4096, small, sizeof(small)));
    CHECK(make_tree("big", 400, 256 * 1024, big, sizeof(big)));
    RUN_AGENT();
    id = scan_action(small, "", &st);
    CHECK_MSG(id > 0, "create: %ld", st);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "succeeded"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    CHECK_INT(json_integer_value(json_object_get(json_object_get(a, "result"), "files_scanned")), ==, 10);
    CHECK(json_is_object(json_object_get(a, "progress")));
    json_decref(a);
    /* a slow one (a hundredth of a core): running with progress, then cancelled */
    id = scan_action(big, ",\"cpu_budget\":0.01", &st);
    CHECK_MSG(id > 0, "create: %ld", st);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    for (int i = 0; i < 600 && !running; i++) {
        a = as_admin("GET", path, NULL, &st);
        running = !strcmp(jstr(a, "state"), "running") &&
                  json_is_number(json_object_get(json_object_get(a, "progress"), "percent"));
        json_decref(a);
        if (!running)
            usleep(100000);
    }
    CHECK_MSG(running, "the scan never reported progress: %s", state_of(id));
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/cancel", id);
    json_decref(call(responder, "POST", path, "{\"comment\":\"enough\"}", &st));
    CHECK_INT(st, ==, 200);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "cancelled"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    CHECK(json_is_true(json_object_get(json_object_get(a, "result"), "cancelled")));
    json_decref(a);
}

/* Waits (up to ~60 s) until scan action id runs and reported a percentage. */
static bool wait_scan_running(long long id)
{
    char path[64];
    bool running = false;

    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    for (int i = 0; i < 600 && !running; i++) {
        long st;
        json_t *a = as_admin("GET", path, NULL, &st);
        running = !strcmp(jstr(a, "state"), "running") &&
                  json_is_number(json_object_get(json_object_get(a, "progress"), "percent"));
        json_decref(a);
        if (!running)
            usleep(100000);
    }
    return running;
}

/* A long scan runs on a worker: a kill_process (a short command, as
 * isolate is) sent while it runs succeeds while the scan is still running;
 * the scan, cancelled then, ends cancelled. The agent asked to stop while a
 * scan runs cancels it and exits cleanly. */
static void short_command_during_scan(void)
{
    char big[400], uid[128], path[64];
    json_t *a;
    long long scan, kill_id;
    long st;
    pid_t p;
    int ws = 0;
    bool gone = false;

    SETUP(NULL);
    CHECK(make_tree("big", 400, 256 * 1024, big, sizeof(big)));
    RUN_AGENT();
    scan = scan_action(big, ",\"cpu_budget\":0.01", &st);
    CHECK_MSG(scan > 0, "create: %ld", st);
    CHECK_MSG(wait_scan_running(scan), "the scan never reported progress: %s", state_of(scan));
    p = victim(0);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    kill_id = kill_action(p, uid, &st);
    CHECK_MSG(kill_id > 0, "create: %ld", st);
    a = wait_final(kill_id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "succeeded"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    json_decref(a);
    /* the scan (a hundredth of a core over 100 MiB) has not ended meanwhile */
    CHECK_STR(state_of(scan), "running");
    CHECK(died_of_sigkill(0));
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/cancel", scan);
    json_decref(call(responder, "POST", path, "{\"comment\":\"enough\"}", &st));
    CHECK_INT(st, ==, 200);
    a = wait_final(scan);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "cancelled"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    CHECK(json_is_true(json_object_get(json_object_get(a, "result"), "cancelled")));
    json_decref(a);
    /* a stop during a scan: the agent cancels it and exits */
    scan = scan_action(big, ",\"cpu_budget\":0.01", &st);
    CHECK_MSG(scan > 0, "create: %ld", st);
    CHECK_MSG(wait_scan_running(scan), "the second scan never reported progress: %s", state_of(scan));
    CHECK(kill(agent, SIGTERM) == 0);
    for (int i = 0; i < 600 && !gone; i++) {
        gone = waitpid(agent, &ws, WNOHANG) == agent;
        if (!gone)
            usleep(100000);
    }
    CHECK_MSG(gone, "the agent did not exit within a minute of SIGTERM while a scan ran");
    agent = -1;
    CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the agent ended with status %#x", ws);
    CHECK_STR(state_of(scan), "running"); /* never answered: after a restart it is "not run again" */
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"kill_lifecycle", kill_lifecycle},
        {"offline_delivered", offline_delivered},
        {"expired_never_run", expired_never_run},
        {"scan_progress_and_cancel", scan_progress_and_cancel},
        {"short_command_during_scan", short_command_during_scan},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("actions_agent", cases, argc, argv);
}
