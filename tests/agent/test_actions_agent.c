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
 *
 * Every action type survives the device being offline: with the agent
 * stopped, one action of each type is created — kill_process, a custom
 * scan of a small tree with a web shell sample, quarantine_file,
 * remove_persistence of a cron file, collect, isolate — and all stay
 * queued; the agent starts and each ends succeeded with its effect (the
 * sample found and nothing else, the file and the cron file gone, a
 * package downloadable, the isolation table in place); the agent stops
 * again, the undos (restore_file, restore_persistence, release) are
 * created while it is down, and when it is back each succeeds: the file
 * and the cron file are back byte for byte with their mode, owner, times
 * (and xattr), and the table is gone. That case runs in a child in
 * namespaces of its own: a network namespace with only loopback (server,
 * agent and isolation live there) and a mount namespace where a test
 * directory is bound over /etc/cron.d, so no file of the machine changes.
 * Needs root (the sensor; the server drops to nobody).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agentproc.h"
#include "check.h"
#include "fleet.h"
#include "sandbox.h"
#include "serverproc.h"

static struct fleet *fleet;
static pid_t victims[4] = {-1, -1, -1, -1};
static char responder[300];

/* A server, an admin and a responder, and the agent enrolled in the
 * fleet's work directory (not running yet). */
static const struct fleet_user people[] = {{"rita", "responder", responder, sizeof(responder)}, {NULL}};
static const struct fleet_options actions_fleet = {.name = "actions", .agent_group = "actions test", .users = people};

static void teardown(void)
{
    for (int i = 0; i < 4; i++) {
        if (victims[i] > 0) {
            kill(victims[i], SIGKILL);
            waitpid(victims[i], NULL, 0);
            victims[i] = -1;
        }
    }
    fleet_free(fleet);
    fleet = NULL;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

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
                 fleet->agent.id, (int)pid, uid);
    else
        snprintf(body, sizeof(body), "{\"type\":\"kill_process\",\"device\":\"%s\",\"target\":{\"pid\":%d}}",
                 fleet->agent.id, (int)pid);
    j = fleet_call(fleet, responder, "POST", "/api/v1/actions", body, status);
    id = *status == 201 ? json_integer_value(json_object_get(j, "id")) : 0;
    json_decref(j);
    return id;
}

/* Waits (polling, up to ~60 s) until action id is final; the action
 * (new reference) or NULL. */
static json_t *wait_final(long long id)
{
    return fleet_action_wait(fleet, id, 60);
}

static const char *state_of(long long id)
{
    return fleet_action_state(fleet, fleet->admin, id);
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
    j = fleet_call(fleet, fleet->admin, "GET", "/api/v1/audit?limit=1000", NULL, &st);
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

    FLEET_START(&fleet, &actions_fleet, NULL);
    FLEET_AGENT_START(fleet);
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
    id = kill_action(fleet->agent_pid, NULL, &st);
    CHECK(id > 0);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "failed") && strstr(jstr(a, "error"), "agent itself"), "state %s: %s",
              jstr(a, "state"), jstr(a, "error"));
    json_decref(a);
    CHECK(kill(fleet->agent_pid, 0) == 0);
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

    FLEET_START(&fleet, &actions_fleet, NULL);
    /* the agent has not started yet: the device is offline */
    p = victim(0);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    id = kill_action(p, uid, &st);
    CHECK_MSG(id > 0, "create: %ld", st);
    CHECK_STR(state_of(id), "queued");
    FLEET_AGENT_START(fleet);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "succeeded"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    json_decref(a);
    CHECK(died_of_sigkill(0));
}

/* What an agent that dies right after its poll got a command looks like:
 * the command is sent and never started. Played by the test as the device
 * (its credentials from the enrolled configuration), in a thread. */
static json_t *dead_poll_answer;

static void *dead_poll(void *arg)
{
    long st;

    (void)arg;
    dead_poll_answer = fleet_call(fleet, fleet->agent.auth, "GET", "/api/v1/agent/commands?wait=20", NULL, &st);
    return NULL;
}

/* The agent starts again: its first poll says so (started=1) and the
 * command the dead poll took is handed out at once, not after the
 * 5-minute redelivery delay (wait_final gives up after 60 s). */
static void restart_hands_out_unstarted(void)
{
    pthread_t t;
    char uid[128];
    json_t *a;
    long long id;
    long st;
    pid_t p;

    FLEET_START(&fleet, &actions_fleet, NULL);
    p = victim(0);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    CHECK(pthread_create(&t, NULL, dead_poll, NULL) == 0);
    usleep(1000000); /* the poll is held */
    id = kill_action(p, uid, &st);
    pthread_join(t, NULL);
    CHECK_MSG(id > 0, "create: %ld", st);
    CHECK_MSG(json_array_size(json_object_get(dead_poll_answer, "commands")) == 1,
              "the dead poll did not get the command");
    json_decref(dead_poll_answer);
    dead_poll_answer = NULL;
    CHECK_STR(state_of(id), "sent");
    FLEET_AGENT_START(fleet);
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

    FLEET_START(&fleet, &actions_fleet, "action_expiry_hours=0.0005"); /* 1.8 s */
    p = victim(0);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    id = kill_action(p, uid, &st);
    CHECK_MSG(id > 0, "create: %ld", st);
    a = wait_final(id);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "expired"), "state %s", jstr(a, "state"));
    json_decref(a);
    FLEET_AGENT_START(fleet);
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


/* Creates n files of size bytes under <the work directory>/name; false on failure. */
static bool make_tree(const char *name, int n, size_t size, char *path, size_t pathlen)
{
    char *buf = calloc(1, size ? size : 1), file[600];
    bool ok = buf != NULL;

    snprintf(path, pathlen, "%s/%s", fleet->dir, name);
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
             "{\"type\":\"scan\",\"device\":\"%s\",\"target\":{\"kind\":\"custom\",\"path\":\"%s\"%s}}",
             fleet->agent.id, path, extra);
    j = fleet_call(fleet, responder, "POST", "/api/v1/actions", body, status);
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

    FLEET_START(&fleet, &actions_fleet, NULL);
    CHECK(make_tree("small", 10, 4096, small, sizeof(small)));
    CHECK(make_tree("big", 400, 256 * 1024, big, sizeof(big)));
    FLEET_AGENT_START(fleet);
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
        a = fleet_call(fleet, fleet->admin, "GET", path, NULL, &st);
        running = !strcmp(jstr(a, "state"), "running") &&
                  json_is_number(json_object_get(json_object_get(a, "progress"), "percent"));
        json_decref(a);
        if (!running)
            usleep(100000);
    }
    CHECK_MSG(running, "the scan never reported progress: %s", state_of(id));
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/cancel", id);
    json_decref(fleet_call(fleet, responder, "POST", path, "{\"comment\":\"enough\"}", &st));
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
        json_t *a = fleet_call(fleet, fleet->admin, "GET", path, NULL, &st);
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
    int ws;

    FLEET_START(&fleet, &actions_fleet, NULL);
    CHECK(make_tree("big", 400, 256 * 1024, big, sizeof(big)));
    FLEET_AGENT_START(fleet);
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
    json_decref(fleet_call(fleet, responder, "POST", path, "{\"comment\":\"enough\"}", &st));
    CHECK_INT(st, ==, 200);
    a = wait_final(scan);
    CHECK_MSG(a && !strcmp(jstr(a, "state"), "cancelled"), "state %s: %s", jstr(a, "state"), jstr(a, "error"));
    CHECK(json_is_true(json_object_get(json_object_get(a, "result"), "cancelled")));
    json_decref(a);
    /* a stop during a scan: the agent cancels it and exits */
    scan = scan_action(big, ",\"cpu_budget\":0.01", &st);
    CHECK_MSG(scan > 0, "create: %ld", st);
    CHECK_MSG(wait_scan_running(scan), "the second scan never reported progress: %s", state_of(scan));
    ws = fleet_agent_stop(fleet, SIGTERM, 60);
    CHECK_MSG(ws != -ETIMEDOUT, "the agent did not exit within a minute of SIGTERM while a scan ran");
    CHECK_MSG(ws == 0, "the agent ended with status %#x", ws);
    CHECK_STR(state_of(scan), "running"); /* never answered: after a restart it is "not run again" */
}

/* ------------------------------------------------------------ every type while offline */

#define CRON_NAME "yamori-offline-test"
#define CRON_PATH "/etc/cron.d/" CRON_NAME
#define CRON_TEXT "# planted by test_actions_agent\n* * * * * root /bin/true yamori-offline\n"
#define WEBSHELL "<?php if (isset($_GET['c'])) { system($_GET['c']); } ?>\n"

/* What must come back exactly. */
struct snap {
    char data[4096];
    ssize_t len;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec mtime;
    char xattr[64];
    ssize_t xlen; /* -1: none */
};

static bool take(const char *path, struct snap *sn)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    memset(sn, 0, sizeof(*sn));
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    sn->len = read(fd, sn->data, sizeof(sn->data));
    close(fd);
    sn->mode = st.st_mode;
    sn->uid = st.st_uid;
    sn->gid = st.st_gid;
    sn->mtime = st.st_mtim;
    sn->xlen = lgetxattr(path, "user.yamori-test", sn->xattr, sizeof(sn->xattr));
    return sn->len >= 0;
}

static bool same(const struct snap *a, const struct snap *b)
{
    return a->len == b->len && memcmp(a->data, b->data, (size_t)a->len) == 0 && a->mode == b->mode &&
           a->uid == b->uid && a->gid == b->gid && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec && a->xlen == b->xlen &&
           (a->xlen <= 0 || memcmp(a->xattr, b->xattr, (size_t)a->xlen) == 0);
}

/* Writes text to path with mode, an owner of its own and a fixed old
 * mtime (and a user xattr where the file system takes one). */
static bool plant(const char *path, const char *text, mode_t mode)
{
    struct timespec t[2] = {{1700000000, 123456789}, {1700000000, 987654321}};
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);

    if (fd >= 0)
        close(fd);
    ok = ok && chmod(path, mode) == 0 && chown(path, 65534, 65534) == 0;
    (void)lsetxattr(path, "user.yamori-test", "kept", 4, 0); /* tmpfs before 6.6 has none: compared as absent */
    return ok && utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW) == 0;
}

/* POSTs an action body; its id, or 0 with *status. */
static long long create_action(const char *body, long *status)
{
    json_t *j = fleet_call(fleet, responder, "POST", "/api/v1/actions", body, status);
    long long id = *status == 201 ? json_integer_value(json_object_get(j, "id")) : 0;
    json_decref(j);
    return id;
}

/* The undo of action id, created now; its id or 0. */
static long long undo_action(long long id, const char **type)
{
    static char t[32];
    char path[64];
    long st;
    json_t *j;
    long long uid;

    snprintf(path, sizeof(path), "/api/v1/actions/%lld/undo", id);
    j = fleet_call(fleet, responder, "POST", path, "{\"comment\": \"undone while the device is offline\"}", &st);
    uid = st == 201 ? json_integer_value(json_object_get(j, "id")) : 0;
    snprintf(t, sizeof(t), "%s", jstr(j, "type"));
    *type = t;
    json_decref(j);
    return uid;
}

static bool isolation_table_present(void)
{
    return system("nft list table inet yamori_isolation >/dev/null 2>&1") == 0;
}

/* Waits (up to ~60 s) until the server holds no command poll of the
 * device any more ("online" false). A poll the agent had open when it
 * stopped stays held until its deadline (the server cannot see a
 * suspended connection close); a command queued meanwhile would go to it
 * and only be handed out again after 5 minutes (docs/wire.md). */
static bool wait_offline(void)
{
    for (int i = 0; i < 600; i++) {
        json_t *d = fleet_device_page(fleet, fleet->agent.id);
        bool online = json_is_true(json_object_get(d, "online")) ||
                      json_is_true(json_object_get(json_object_get(d, "device"), "online"));
        bool known = d != NULL;
        json_decref(d);
        if (known && !online)
            return true;
        usleep(100000);
    }
    return false;
}

/* Each listed action ended succeeded; the first that did not, in why. */
static bool all_succeeded(const long long *ids, const char *const *names, size_t n, json_t **results, char *why,
                          size_t whylen)
{
    for (size_t i = 0; i < n; i++) {
        json_t *a = wait_final(ids[i]);
        if (!a || strcmp(jstr(a, "state"), "succeeded") != 0) {
            snprintf(why, whylen, "%s (action %lld) ended %s: %s", names[i], ids[i], a ? jstr(a, "state") : "(never)",
                     a ? jstr(a, "error") : "");
            json_decref(a);
            return false;
        }
        results[i] = json_incref(json_object_get(a, "result"));
        json_decref(a);
    }
    return true;
}

static void body_offline_every_type(void)
{
    enum { KILL, SCAN, QUARANTINE, PERSISTENCE, COLLECT, ISOLATE, NTYPES };
    static const char *const names[NTYPES] = {"kill_process", "scan", "quarantine_file", "remove_persistence",
                                               "collect", "isolate"};
    static const char *const undo_names[3] = {"restore_file", "restore_persistence", "release"};
    char scan_dir[400], victim_path[400], body[1200], uid[128], why[1200], path[96];
    struct snap victim_before, cron_before, now;
    long long ids[NTYPES] = {0}, undo_ids[3] = {0};
    json_t *res[NTYPES] = {0}, *undo_res[3] = {0}, *f;
    struct serverproc_response r;
    const char *utype;
    size_t k;
    bool found = false, other = false;
    long st;
    pid_t p;

    FLEET_START(&fleet, &actions_fleet, NULL);
    /* what the actions act on */
    snprintf(scan_dir, sizeof(scan_dir), "%s/scan", fleet->dir);
    CHECK(mkdir(scan_dir, 0755) == 0);
    snprintf(body, sizeof(body), "%s/shell.php", scan_dir);
    CHECK(plant(body, WEBSHELL, 0644));
    snprintf(body, sizeof(body), "%s/readme.txt", scan_dir);
    CHECK(plant(body, "nothing to see here\n", 0644));
    snprintf(victim_path, sizeof(victim_path), "%s/victim", fleet->dir);
    CHECK(mkdir(victim_path, 0755) == 0);
    snprintf(victim_path, sizeof(victim_path), "%s/victim/payload.bin", fleet->dir);
    CHECK(plant(victim_path, "#!/bin/sh\necho offline payload\n", 0750));
    CHECK(plant(CRON_PATH, CRON_TEXT, 0644));
    CHECK(take(victim_path, &victim_before) && take(CRON_PATH, &cron_before));

    /* the agent is not running: every action waits for it */
    p = victim(0);
    CHECK(agentproc_unique_id(p, uid, sizeof(uid)));
    snprintf(body, sizeof(body),
             "{\"type\":\"kill_process\",\"device\":\"%s\",\"target\":{\"pid\":%d,\"process_uid\":\"%s\"}}",
             fleet->agent.id, (int)p, uid);
    ids[KILL] = create_action(body, &st);
    snprintf(body, sizeof(body), "{\"type\":\"scan\",\"device\":\"%s\",\"target\":{\"kind\":\"custom\",\"path\":\"%s\"}}",
             fleet->agent.id, scan_dir);
    ids[SCAN] = create_action(body, &st);
    snprintf(body, sizeof(body), "{\"type\":\"quarantine_file\",\"device\":\"%s\",\"target\":{\"path\":\"%s\"}}",
             fleet->agent.id, victim_path);
    ids[QUARANTINE] = create_action(body, &st);
    snprintf(body, sizeof(body),
             "{\"type\":\"remove_persistence\",\"device\":\"%s\",\"target\":{\"kind\":\"cron_file\",\"path\":\"%s\"}}",
             fleet->agent.id, CRON_PATH);
    ids[PERSISTENCE] = create_action(body, &st);
    snprintf(body, sizeof(body), "{\"type\":\"collect\",\"device\":\"%s\",\"target\":{}}", fleet->agent.id);
    ids[COLLECT] = create_action(body, &st);
    snprintf(body, sizeof(body), "{\"type\":\"isolate\",\"device\":\"%s\",\"target\":{}}", fleet->agent.id);
    ids[ISOLATE] = create_action(body, &st);
    for (int i = 0; i < NTYPES; i++) {
        CHECK_MSG(ids[i] > 0, "%s: not created", names[i]);
        CHECK_MSG(!strcmp(state_of(ids[i]), "queued"), "%s is %s before the agent runs", names[i], state_of(ids[i]));
    }
    CHECK(!isolation_table_present());

    /* the device comes back: each runs once, with its effect */
    FLEET_AGENT_START(fleet);
    CHECK_MSG(all_succeeded(ids, names, NTYPES, res, why, sizeof(why)), "%s", why);
    CHECK(died_of_sigkill(0));
    json_array_foreach(json_object_get(res[SCAN], "findings"), k, f)
    {
        if (strstr(jstr(f, "path"), "/shell.php") && !strcmp(jstr(f, "engine"), "yara"))
            found = true;
        else
            other = true;
    }
    CHECK_MSG(found && !other, "the scan's findings: %s", json_dumps(json_object_get(res[SCAN], "findings"), 0));
    CHECK_INT(json_integer_value(json_object_get(res[SCAN], "files_scanned")), ==, 2);
    CHECK_MSG(access(victim_path, F_OK) != 0 && errno == ENOENT, "the quarantined file is still there");
    CHECK(strlen(jstr(res[QUARANTINE], "quarantine_id")) == 32);
    CHECK_MSG(access(CRON_PATH, F_OK) != 0 && errno == ENOENT, "the cron file is still there");
    CHECK(strlen(jstr(res[PERSISTENCE], "backup_id")) == 32);
    CHECK(strlen(jstr(res[COLLECT], "package_sha256")) == 64);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/package", ids[COLLECT]);
    {
        const char *headers[] = {responder, NULL};
        memset(&r, 0, sizeof(r));
        CHECK(serverproc_request(fleet->server, "GET", path, NULL, headers, &r) == 0);
        st = r.status;
        serverproc_response_free(&r);
        CHECK_INT(st, ==, 200);
    }
    CHECK(json_is_true(json_object_get(res[ISOLATE], "isolated")));
    CHECK_MSG(isolation_table_present(), "isolated, but no table inet yamori_isolation");

    /* offline again: the undos wait for it too */
    CHECK_MSG(fleet_agent_stop(fleet, SIGTERM, 0) == 0, "the agent did not stop cleanly");
    CHECK_MSG(wait_offline(), "the server still holds the stopped agent's command poll");
    undo_ids[0] = undo_action(ids[QUARANTINE], &utype);
    CHECK_MSG(undo_ids[0] > 0 && !strcmp(utype, "restore_file"), "undo of the quarantine: %s", utype);
    undo_ids[1] = undo_action(ids[PERSISTENCE], &utype);
    CHECK_MSG(undo_ids[1] > 0 && !strcmp(utype, "restore_persistence"), "undo of the removal: %s", utype);
    undo_ids[2] = undo_action(ids[ISOLATE], &utype);
    CHECK_MSG(undo_ids[2] > 0 && !strcmp(utype, "release"), "undo of the isolation: %s", utype);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(!strcmp(state_of(undo_ids[i]), "queued"), "%s is %s while the agent is down", undo_names[i],
                  state_of(undo_ids[i]));
    CHECK_MSG(isolation_table_present(), "the isolation did not outlive the agent");
    FLEET_AGENT_START(fleet);
    CHECK_MSG(all_succeeded(undo_ids, undo_names, 3, undo_res, why, sizeof(why)), "%s", why);
    CHECK_MSG(take(victim_path, &now) && same(&victim_before, &now), "the restored file differs from the original");
    CHECK_MSG(take(CRON_PATH, &now) && same(&cron_before, &now), "the restored cron file differs from the original");
    CHECK_MSG(!isolation_table_present(), "released, but the table is still there");
    CHECK(json_is_false(json_object_get(undo_res[2], "isolated")));
    for (int i = 0; i < NTYPES; i++)
        json_decref(res[i]);
    for (int i = 0; i < 3; i++)
        json_decref(undo_res[i]);
}

/* The case runs in a child with a network namespace of its own (loopback
 * up, nothing else) and a mount namespace where a directory of the test is
 * bound over /etc/cron.d; the test's teardown stops what the case started
 * there, and what is left is killed. */
static const struct sandbox_options sandbox = {
    .needs = "namespaces, the sensor; the server drops to nobody",
    .workdir = "cron", .workdir_over = "/etc/cron.d",
    .net = true, .loopback_up = true,
    .cleanup = teardown,
};

static void offline_every_type(void)
{
    sandbox_run(&sandbox, body_offline_every_type);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"kill_lifecycle", kill_lifecycle},
        {"offline_delivered", offline_delivered},
        {"restart_hands_out_unstarted", restart_hands_out_unstarted},
        {"offline_every_type", offline_every_type},
        {"expired_never_run", expired_never_run},
        {"scan_progress_and_cancel", scan_progress_and_cancel},
        {"short_command_during_scan", short_command_during_scan},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("actions_agent", cases, argc, argv);
}
