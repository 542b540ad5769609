/*
 * fleet.c — see fleet.h.
 */
#include "fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agentproc.h"
#include "tmpdir.h"

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

json_t *fleet_call_headers(const struct fleet *f, const char *auth, const char *const *more, const char *method,
                           const char *path, const char *body, long *status)
{
    const char *headers[8] = {0};
    struct serverproc_response r;
    json_t *out = NULL;
    size_t n = 0;

    if (auth)
        headers[n++] = auth;
    for (size_t i = 0; more && more[i] && n < 7; i++)
        headers[n++] = more[i];
    *status = 0;
    if (!f->server)
        return NULL;
    if (serverproc_request(f->server, method, path, body, n ? headers : NULL, &r) == 0) {
        *status = r.status;
        out = json_incref(r.json);
    }
    serverproc_response_free(&r);
    return out;
}

json_t *fleet_call(const struct fleet *f, const char *auth, const char *method, const char *path, const char *body,
                   long *status)
{
    return fleet_call_headers(f, auth, NULL, method, path, body, status);
}

long fleet_status(const struct fleet *f, const char *auth, const char *method, const char *path, const char *body)
{
    long st;

    json_decref(fleet_call(f, auth, method, path, body, &st));
    return st;
}

json_t *fleet_action_wait(const struct fleet *f, long long id, int seconds)
{
    char path[64];

    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    for (int i = 0; i < seconds * 10; i++) {
        long st;
        json_t *a = fleet_call(f, f->admin, "GET", path, NULL, &st);
        const char *s = jstr(a, "state");
        if (!strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "cancelled") || !strcmp(s, "expired") ||
            !strcmp(s, "rejected"))
            return a;
        json_decref(a);
        usleep(100000);
    }
    return NULL;
}

const char *fleet_action_state(const struct fleet *f, const char *auth, long long id)
{
    static char out[64];
    char path[64];
    long st;
    json_t *a;

    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    a = fleet_call(f, auth, "GET", path, NULL, &st);
    snprintf(out, sizeof(out), "%s", jstr(a, "state"));
    json_decref(a);
    return out;
}

json_t *fleet_device_page(const struct fleet *f, const char *id)
{
    char path[200];
    long status;
    json_t *d;

    snprintf(path, sizeof(path), "/api/v1/devices/%s", id);
    d = fleet_call(f, f->admin, "GET", path, NULL, &status);
    if (status != 200) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* ------------------------------------------------------------ people */

/* Creates u with its token (see struct fleet_user). */
static int add_user(const struct fleet *f, const struct fleet_user *u, char *err, size_t errlen)
{
    char body[300];
    long st;
    json_t *j;

    u->auth[0] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\",\"password\":\"a long password for %s\"}",
             u->name, u->role, u->name);
    json_decref(fleet_call(f, f->admin, "POST", "/api/v1/users", body, &st));
    if (st != 201 && st != 200) {
        snprintf(err, errlen, "cannot create the user %s (%s): HTTP %ld", u->name, u->role, st);
        return -EIO;
    }
    snprintf(body, sizeof(body), "{\"name\":\"t-%s\",\"user\":\"%s\"}", u->name, u->name);
    j = fleet_call(f, f->admin, "POST", "/api/v1/tokens", body, &st);
    if ((st == 201 || st == 200) && *jstr(j, "token"))
        snprintf(u->auth, u->authlen, "Authorization: Bearer %s", jstr(j, "token"));
    json_decref(j);
    if (!u->auth[0]) {
        snprintf(err, errlen, "no API token for the user %s: HTTP %ld", u->name, st);
        return -EIO;
    }
    return 0;
}

/* The admin's token as a header line; the server's address as the agent
 * has it. */
static int sign_in(struct fleet *f, char *err, size_t errlen)
{
    const char *port = strrchr(serverproc_url(f->server), ':');
    char token[256];

    if (f->agent_host[0])
        snprintf(f->agent_url, sizeof(f->agent_url), "https://%s%s", f->agent_host, port ? port : "");
    else
        snprintf(f->agent_url, sizeof(f->agent_url), "%s", serverproc_url(f->server));
    if (serverproc_admin_token(f->server, token, sizeof(token)) != 0) {
        snprintf(err, errlen, "no admin token: %s", serverproc_diag(f->server));
        return -EIO;
    }
    snprintf(f->admin, sizeof(f->admin), "Authorization: Bearer %s", token);
    return 0;
}

/* ------------------------------------------------------------ devices the test plays */

int fleet_device(const struct fleet *f, const char *host, int n, struct fleet_device *d)
{
    char body[600];
    json_t *tok, *en;
    long st;

    tok = fleet_call(f, f->admin, "POST", "/api/v1/onboarding", "{}", &st);
    if (st != 201) {
        json_decref(tok);
        return -1;
    }
    snprintf(body, sizeof(body),
             "{\"token\":\"%s\",\"machine_id\":\"%08x%024d\",\"hostname\":\"%s\",\"os\":\"Debian GNU/Linux 12\","
             "\"kernel\":\"6.1.0\",\"agent_version\":\"0.1.0\"}",
             jstr(tok, "token"), 0xf1ee7u, n, host);
    json_decref(tok);
    en = fleet_call(f, NULL, "POST", "/api/v1/agent/enroll", body, &st);
    if (st == 200) {
        snprintf(d->id, sizeof(d->id), "%s", jstr(en, "device_id"));
        snprintf(d->auth, sizeof(d->auth), "Authorization: Device %s:%s", jstr(en, "device_id"), jstr(en, "secret"));
    }
    json_decref(en);
    return st == 200 ? 0 : -1;
}

json_t *fleet_device_poll(const struct fleet *f, const struct fleet_device *d, int wait)
{
    char path[64];
    long st;
    json_t *j, *v;

    if (wait > 0)
        snprintf(path, sizeof(path), "/api/v1/agent/commands?wait=%d", wait);
    else
        snprintf(path, sizeof(path), "/api/v1/agent/commands");
    j = fleet_call(f, d->auth, "GET", path, NULL, &st);
    v = json_incref(json_object_get(j, "commands"));
    json_decref(j);
    return v ? v : json_array();
}

long fleet_device_post(const struct fleet *f, const struct fleet_device *d, const char *what, long long cid,
                       const char *body, json_t **answer)
{
    char path[128];
    long st;
    json_t *j;

    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/%s", cid, what);
    j = fleet_call(f, d->auth, "POST", path, body, &st);
    if (answer)
        *answer = j;
    else
        json_decref(j);
    return st;
}

/* ------------------------------------------------------------ the real agent */

const char *fleet_tail(const struct fleet *f, const char *name)
{
    char path[400];

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    return agentproc_log_tail(path);
}

/* Forks the agent binary with args (NULL-terminated, at most 14), its
 * output into <dir>/<log>, appended or truncated, in the agent's network
 * namespace (exit status 126 when it cannot enter it). Returns its pid or
 * -errno. */
static pid_t spawn_agent(const struct fleet *f, const char *log, bool append, const char *const *args)
{
    const char *bin = agentproc_binary(false);
    char path[400], *argv[16];
    int n = 0;
    pid_t p;

    if (!f->dir[0])
        return -ENOENT; /* no work directory: no agent */
    snprintf(path, sizeof(path), "%s/%s", f->dir, log);
    argv[n++] = (char *)bin;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    p = fork();
    if (p == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
        if (f->agent_netns[0]) {
            char ns[128];
            int nsfd;
            snprintf(ns, sizeof(ns), "/run/netns/%s", f->agent_netns);
            nsfd = open(ns, O_RDONLY | O_CLOEXEC);
            if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
                _exit(126);
        }
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, argv);
        _exit(127);
    }
    return p < 0 ? -errno : p;
}

int fleet_agent_run(const struct fleet *f, const char *log, const char *const *args)
{
    pid_t p = spawn_agent(f, log, false, args);
    int ws;

    if (p < 0 || waitpid(p, &ws, 0) != p)
        return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

json_t *fleet_agent_status(const struct fleet *f)
{
    char path[300];

    snprintf(path, sizeof(path), "%s/status.json", f->dir);
    return json_load_file(path, 0, NULL);
}

int fleet_agent_start(struct fleet *f, int ready_seconds, char *err, size_t errlen)
{
    char etc[300], state[300], status[300];
    const char *args[] = {etc, state, status, "--no-logons", NULL};
    pid_t p;

    if (!f->agent.id[0]) {
        snprintf(err, errlen, "this fleet has no enrolled agent (no agent_group in its options)");
        return -ENOENT;
    }
    if (f->agent_pid > 0) {
        snprintf(err, errlen, "the agent runs already (pid %d)", (int)f->agent_pid);
        return -EALREADY;
    }
    snprintf(etc, sizeof(etc), "--config-dir=%s/etc", f->dir);
    snprintf(state, sizeof(state), "--state-dir=%s/state", f->dir);
    snprintf(status, sizeof(status), "--status-file=%s/status.json", f->dir);
    unlink(status + strlen("--status-file="));
    p = spawn_agent(f, "agent.log", true, args);
    if (p < 0) {
        snprintf(err, errlen, "cannot start the agent: %s", strerror((int)-p));
        return (int)p;
    }
    f->agent_pid = p;
    for (int i = 0; i < ready_seconds * 10; i++) {
        json_t *st = fleet_agent_status(f);
        bool ready = json_is_string(json_object_get(st, "Output"));
        int ws;
        json_decref(st);
        if (ready)
            return 0;
        if (waitpid(p, &ws, WNOHANG) == p) {
            f->agent_pid = -1;
            snprintf(err, errlen, "the agent ended (status %#x) before it ran: %s", ws, fleet_tail(f, "agent.log"));
            return -ECHILD;
        }
        usleep(100000);
    }
    if (ready_seconds > 0) {
        snprintf(err, errlen, "the agent did not start within %d s: %s", ready_seconds, fleet_tail(f, "agent.log"));
        return -ETIMEDOUT;
    }
    return 0;
}

int fleet_agent_stop(struct fleet *f, int sig, int seconds)
{
    pid_t p = f->agent_pid;
    int ws = 0;

    if (p <= 0 || kill(p, sig) != 0)
        return -ESRCH;
    for (int i = 0; seconds <= 0 || i < seconds * 10; i++) {
        pid_t r = waitpid(p, &ws, seconds > 0 ? WNOHANG : 0);
        if (r == p || r < 0) {
            f->agent_pid = -1;
            return r == p ? ws : -ECHILD;
        }
        usleep(100000);
    }
    return -ETIMEDOUT;
}

/* Points <dir>/etc/agent.conf at the server's address; the device's id
 * and credentials into f->agent. */
static int point_agent(struct fleet *f, char *err, size_t errlen)
{
    char path[300], secret[AGENTCONF_SECRET_MAX + 1], why[512];
    struct agent_conf c;

    snprintf(path, sizeof(path), "%s/etc/agent.conf", f->dir);
    if (agentconf_load(&c, path, why, sizeof(why)) != 0 ||
        agentconf_read_secret(c.secret_file, secret, sizeof(secret), why, sizeof(why)) != 0) {
        snprintf(err, errlen, "the enrolled configuration: %s", why);
        return -EIO;
    }
    snprintf(f->agent.id, sizeof(f->agent.id), "%s", c.device_id);
    snprintf(f->agent.auth, sizeof(f->agent.auth), "Authorization: Device %s:%s", c.device_id, secret);
    snprintf(c.server_url, sizeof(c.server_url), "%s", f->agent_url);
    if (agentconf_save(&c, path, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "cannot rewrite agent.conf: %s", why);
        return -EIO;
    }
    return 0;
}

/* An onboarding package of group, `yamori-agent enroll` with it into
 * <dir>/etc, agent.conf pointed at the server, <dir>/state. */
static int enroll_agent(struct fleet *f, const char *group, char *err, size_t errlen)
{
    char pkg[300], arg_dir[320], path[300];
    const char *args[] = {"enroll", pkg, arg_dir, NULL};
    json_t *body, *answer, *package;
    char *text;
    long status;
    int rc;

    body = json_pack("{s:s}", "group", group);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    answer = text ? fleet_call(f, f->admin, "POST", "/api/v1/onboarding", text, &status) : NULL;
    free(text);
    package = json_object_get(answer, "package");
    if (!answer || status != 201 || !json_is_object(package)) {
        snprintf(err, errlen, "onboarding: HTTP %ld", answer ? status : 0);
        json_decref(answer);
        return -EIO;
    }
    snprintf(pkg, sizeof(pkg), "%s/package.json", f->dir);
    json_object_set_new(package, "server_urls", json_pack("[s]", f->agent_url));
    rc = json_dump_file(package, pkg, 0);
    json_decref(answer);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write the package %s", pkg);
        return -EIO;
    }
    snprintf(arg_dir, sizeof(arg_dir), "--config-dir=%s/etc", f->dir);
    rc = fleet_agent_run(f, "enroll.log", args);
    if (rc != 0) {
        snprintf(err, errlen, "yamori-agent enroll: exit %d: %s", rc, fleet_tail(f, "enroll.log"));
        return -EIO;
    }
    rc = point_agent(f, err, errlen);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/state", f->dir);
    if (mkdir(path, 0700) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
        return -errno;
    }
    return 0;
}

/* Makes the work directory (and the kept data directory inside). */
static int make_dir(struct fleet *f, const char *name, bool keep_data, char *err, size_t errlen)
{
    if (!tmpdir_make(f->dir, sizeof(f->dir), name ? name : "fleet")) {
        int e = errno;
        snprintf(err, errlen, "cannot make a work directory /tmp/yamori-%s.*: %s", name ? name : "fleet",
                 strerror(e));
        return -e;
    }
    chmod(f->dir, 0711); /* the server, running as nobody, reaches its data directory inside */
    if (keep_data) {
        snprintf(f->data_dir, sizeof(f->data_dir), "%s/server-data", f->dir);
        if (mkdir(f->data_dir, 0755) != 0) {
            int e = errno;
            snprintf(err, errlen, "mkdir %s: %s", f->data_dir, strerror(e));
            return -e;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the fleet */

/* Keeps what a failed case's reader wants: the agent's log next to the
 * work directory, the server's log in $YAMORI_TEST_SERVER_LOG. */
static void keep_logs(const struct fleet *f)
{
    const char *server_log = getenv("YAMORI_TEST_SERVER_LOG");
    char cmd[700];

    if (f->server && server_log) {
        char *log = serverproc_stderr(f->server);
        FILE *out = fopen(server_log, "a");
        if (out && log)
            fputs(log, out);
        if (out)
            fclose(out);
        free(log);
    }
    if (f->dir[0]) {
        snprintf(cmd, sizeof(cmd), "cp '%s/agent.log' '%s.agent.log' 2>/dev/null", f->dir, f->dir);
        if (system(cmd) == 0)
            fprintf(stderr, "the agent's log is kept in %s.agent.log\n", f->dir);
    }
}

/* Stops what runs, keeping the logs first when asked, removes the work
 * directory, frees f. */
static void release(struct fleet *f, bool keep)
{
    if (f->agent_pid > 0) {
        kill(f->agent_pid, SIGKILL);
        waitpid(f->agent_pid, NULL, 0);
        f->agent_pid = -1;
    }
    if (keep)
        keep_logs(f);
    serverproc_stop(f->server);
    tmpdir_remove(f->dir);
    free(f);
}

struct fleet *fleet_start(const struct fleet_options *opt, char *err, size_t errlen)
{
    static const struct fleet_options none;
    struct serverproc_options so = {0};
    struct fleet *f = calloc(1, sizeof(*f));

    if (!opt)
        opt = &none;
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->agent_pid = -1;
    snprintf(f->agent_host, sizeof(f->agent_host), "%s", opt->agent_host ? opt->agent_host : "");
    snprintf(f->agent_netns, sizeof(f->agent_netns), "%s", opt->agent_netns ? opt->agent_netns : "");
    snprintf(f->listen_host, sizeof(f->listen_host), "%s", opt->listen_host ? opt->listen_host : "");
    if ((opt->agent_group || opt->keep_data) && make_dir(f, opt->name, opt->keep_data, err, errlen) != 0)
        goto fail;
    so.sets = opt->sets;
    so.listen_host = opt->listen_host;
    so.data_dir = f->data_dir[0] ? f->data_dir : NULL;
    f->server = serverproc_start(&so, err, errlen);
    if (!f->server || sign_in(f, err, errlen) != 0)
        goto fail;
    for (const struct fleet_user *u = opt->users; u && u->name; u++)
        if (add_user(f, u, err, errlen) != 0)
            goto fail;
    if (opt->agent_group && enroll_agent(f, opt->agent_group, err, errlen) != 0)
        goto fail;
    return f;
fail:
    release(f, true);
    return NULL;
}

int fleet_server_stop(struct fleet *f)
{
    int status;

    if (!f->server)
        return -1;
    status = serverproc_stop(f->server);
    f->server = NULL;
    return status;
}

int fleet_server_restart(struct fleet *f, char *err, size_t errlen)
{
    struct serverproc_options so = {.data_dir = f->data_dir};

    if (!f->data_dir[0]) {
        snprintf(err, errlen, "the server has no kept data directory (keep_data)");
        return -EINVAL;
    }
    so.listen_host = f->listen_host[0] ? f->listen_host : NULL;
    fleet_server_stop(f);
    f->server = serverproc_start(&so, err, errlen);
    if (!f->server)
        return -EIO;
    if (sign_in(f, err, errlen) != 0)
        return -EIO;
    /* it listens on another port now */
    if (f->agent.id[0] && point_agent(f, err, errlen) != 0)
        return -EIO;
    return 0;
}

void fleet_free(struct fleet *f)
{
    if (f)
        release(f, check_failed_);
}
