/*
 * test_channel.c — the real agent with the real server (tests/lib/
 * serverproc.h): an administrator creates an onboarding package, the
 * agent enrolls with it (`yamori-agent enroll`), runs, and its heartbeat
 * shows on the device's page; a ping queued by a person reaches the agent
 * and its result comes back; the events the agent produces are stored,
 * each once (the device page's event total against its sequence numbers);
 * with the server stopped during a burst and the agent killed with SIGKILL
 * meanwhile, after both return every event is in the store exactly once.
 * `yamori-agent offboard` removes the enrolment.
 *
 * The agent's spool is started at a known sequence number (its state file
 * says 1000000 was acknowledged), so "exactly once" is checkable from the
 * server's total and last sequence number alone. Needs root (the sensor).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agentproc.h"
#include "check.h"
#include "serverproc.h"

#define FIRST_ACKED 1000000

static char dir[256];
static pid_t agent = -1;
static struct serverproc *server;
static char admin[256];
static char device_id[80];

static void teardown(void)
{
    if (agent > 0) {
        kill(agent, SIGKILL);
        waitpid(agent, NULL, 0);
        agent = -1;
    }
    serverproc_stop_all();
    server = NULL;
    if (dir[0] && check_failed_) {
        /* keep the agent's log of a failed case for the person reading the failure */
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

static bool write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* The end of a file on one line, for failure messages. */
static const char *tail_of(const char *name)
{
    static char buf[700];
    char path[300];
    int fd;
    off_t size;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    buf[0] = '\0';
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return buf;
    size = lseek(fd, 0, SEEK_END);
    n = pread(fd, buf, sizeof(buf) - 1, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = '|';
    return buf;
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
    unlink(status + strlen("--status-file=")); /* a stale one would look like a running agent */
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

static json_t *agent_status(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/status.json", dir);
    return json_load_file(path, 0, NULL);
}

/* Waits until the agent runs: it writes its status file once the sensor
 * is attached and the channel's threads are started. */
static bool wait_ready(int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        json_t *st = agent_status();
        bool ready = json_is_string(json_object_get(st, "Output"));
        json_decref(st);
        if (ready)
            return true;
        usleep(100000);
    }
    return false;
}

/* GET/POST as the administrator; the answer's JSON (new reference) or NULL. */
static json_t *api(const char *method, const char *path, const char *body, long *status)
{
    char auth[300];
    const char *headers[] = {auth, NULL};
    struct serverproc_response r;
    json_t *out = NULL;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin);
    *status = 0;
    if (serverproc_request(server, method, path, body, headers, &r) == 0) {
        *status = r.status;
        out = json_incref(r.json);
    }
    serverproc_response_free(&r);
    return out;
}

/* Sets agent.conf's server_url to the server's address (the package holds
 * the public URL, https://<host name>:<port>, which need not resolve on a
 * test machine; the certificate names 127.0.0.1 too). */
static bool point_agent_at_server(void)
{
    struct agent_conf c;
    char path[300], err[512];

    snprintf(path, sizeof(path), "%s/etc/agent.conf", dir);
    if (agentconf_load(&c, path, err, sizeof(err)) != 0)
        return false;
    snprintf(c.server_url, sizeof(c.server_url), "%s", serverproc_url(server));
    return agentconf_save(&c, path, err, sizeof(err)) == 0;
}

/* A server (on data_dir when given: kept when it stops), an
 * administrator's token, a package, and an enrolled agent configuration in
 * dir/etc. */
static bool enroll(bool keep_data, char *why, size_t whylen)
{
    struct serverproc_options so = {0};
    char data_dir[300];
    char err[1024], pkg[300], etc[280], arg_dir[320], path[300];
    json_t *answer, *package;
    struct agent_conf c;
    long status;
    int rc;

    snprintf(dir, sizeof(dir), "/tmp/yamori-channel.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
        return false;
    }
    chmod(dir, 0711); /* the server, running as nobody, reaches its data directory inside */
    if (keep_data) {
        snprintf(data_dir, sizeof(data_dir), "%s/server-data", dir);
        if (mkdir(data_dir, 0755) != 0) {
            snprintf(why, whylen, "mkdir %s: %s", data_dir, strerror(errno));
            return false;
        }
        so.data_dir = data_dir;
    }
    server = serverproc_start(&so, err, sizeof(err));
    if (!server) {
        snprintf(why, whylen, "server: %.900s", err);
        return false;
    }
    if (serverproc_admin_token(server, admin, sizeof(admin)) != 0) {
        snprintf(why, whylen, "no admin token: %s", serverproc_diag(server));
        return false;
    }
    answer = api("POST", "/api/v1/onboarding", "{\"group\": \"channel test\"}", &status);
    package = json_object_get(answer, "package");
    if (status != 201 || !json_is_object(package)) {
        snprintf(why, whylen, "onboarding: %ld", status);
        json_decref(answer);
        return false;
    }
    snprintf(pkg, sizeof(pkg), "%s/package.json", dir);
    json_object_set_new(package, "server_urls", json_pack("[s]", serverproc_url(server)));
    if (json_dump_file(package, pkg, 0) != 0) {
        json_decref(answer);
        snprintf(why, whylen, "cannot write the package");
        return false;
    }
    json_decref(answer);
    snprintf(etc, sizeof(etc), "%s/etc", dir);
    snprintf(arg_dir, sizeof(arg_dir), "--config-dir=%s", etc);
    {
        const char *args[] = {"enroll", pkg, arg_dir, NULL};
        rc = run_agent_cmd("enroll.log", args);
    }
    if (rc != 0) {
        snprintf(why, whylen, "yamori-agent enroll: exit %d: %s", rc, tail_of("enroll.log"));
        return false;
    }
    snprintf(path, sizeof(path), "%s/agent.conf", etc);
    if (agentconf_load(&c, path, err, sizeof(err)) != 0) {
        snprintf(why, whylen, "%s", err);
        return false;
    }
    snprintf(device_id, sizeof(device_id), "%s", c.device_id);
    if (!point_agent_at_server()) {
        snprintf(why, whylen, "cannot rewrite agent.conf");
        return false;
    }
    /* the spool starts after a known sequence number */
    snprintf(path, sizeof(path), "%s/state", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/state/spool", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/state/spool/acked", dir);
    if (!write_text(path, "acked_seq=1000000\n", 0600)) {
        snprintf(why, whylen, "cannot seed the spool");
        return false;
    }
    return true;
}

/* Whether the server ingests event batches (POST /api/v1/agent/events). */
static bool server_ingests(void)
{
    char auth[500], secret[300], path[300], err[300];
    const char *headers[] = {auth, "Content-Type: application/vnd.yamori.batch", NULL};
    struct serverproc_response r;
    bool yes;

    snprintf(path, sizeof(path), "%s/etc/device.secret", dir);
    if (agentconf_read_secret(path, secret, sizeof(secret), err, sizeof(err)) != 0)
        return false;
    snprintf(auth, sizeof(auth), "Authorization: Device %s:%s", device_id, secret);
    if (serverproc_request(server, "POST", "/api/v1/agent/events", "not zstd", headers, &r) != 0)
        return false;
    yes = r.status != 404 && r.status != 405;
    serverproc_response_free(&r);
    return yes;
}

static json_t *device_page(void)
{
    char path[200];
    long status;
    json_t *d;

    snprintf(path, sizeof(path), "/api/v1/devices/%s", device_id);
    d = api("GET", path, NULL, &status);
    if (status != 200) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* Runs n short processes whose command line holds marker. */
static void run_processes(int n, const char *marker)
{
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            execl("/bin/true", "true", marker, (char *)NULL);
            _exit(127);
        }
        if (p > 0)
            waitpid(p, NULL, 0);
    }
}

/* Through the events query API: the device's ProcessCreated events whose
 * command line holds marker; -1 when the query fails. Their Seq values
 * must be distinct (*dup_seq is set otherwise). */
static int query_marked(const char *marker, bool *dup_seq)
{
    char path[300];
    long status;
    json_t *r, *list, *ev;
    long long seqs[1000];
    size_t i;
    int n = 0;

    *dup_seq = false;
    snprintf(path, sizeof(path), "/api/v1/events?device=%s&action=ProcessCreated&since=1h&limit=10000", device_id);
    r = api("GET", path, NULL, &status);
    list = json_object_get(r, "events");
    if (status != 200 || !json_is_array(list)) {
        json_decref(r);
        return -1;
    }
    json_array_foreach(list, i, ev) {
        const char *cmd = json_string_value(json_object_get(ev, "ProcessCommandLine"));
        long long seq = json_integer_value(json_object_get(ev, "Seq"));
        if (!cmd || !strstr(cmd, marker))
            continue;
        for (int k = 0; k < n && k < 1000; k++)
            if (seqs[k] == seq)
                *dup_seq = true;
        if (n < 1000)
            seqs[n] = seq;
        n++;
    }
    json_decref(r);
    return n;
}

/* Waits until the query finds want marked events (or more). */
static int wait_marked(const char *marker, int want, bool *dup_seq)
{
    int n = -1;
    for (int i = 0; i < 100; i++) {
        n = query_marked(marker, dup_seq);
        if (n >= want)
            break;
        usleep(100000);
    }
    return n;
}

/* Waits until the agent says everything spooled was acknowledged. */
static bool wait_drained(int seconds, uint64_t *acked)
{
    for (int i = 0; i < seconds * 10; i++) {
        json_t *st = agent_status(), *sp = json_object_get(st, "Spool");
        bool done = json_is_object(sp) && json_integer_value(json_object_get(sp, "PendingEvents")) == 0 &&
                    json_integer_value(json_object_get(sp, "AckedSeq")) + 1 ==
                        json_integer_value(json_object_get(sp, "NextSeq"));
        if (done && acked)
            *acked = (uint64_t)json_integer_value(json_object_get(sp, "AckedSeq"));
        json_decref(st);
        if (done)
            return true;
        usleep(100000);
    }
    return false;
}

/* The device page's event total and last seq match the agent's numbering:
 * every seq from FIRST_ACKED + 1 to the last stored is stored, each once
 * (no gap, no duplicate), at least up to what the agent had acknowledged
 * (it goes on producing events: the machine does not stand still). */
static bool stored_exactly_once(uint64_t acked, char *why, size_t whylen)
{
    for (int i = 0; i < 100; i++) {
        json_t *d = device_page(), *ev = json_object_get(d, "events");
        long long total = json_integer_value(json_object_get(ev, "total"));
        long long last = json_integer_value(json_object_get(ev, "last_seq"));
        json_decref(d);
        if ((uint64_t)last >= acked && total == last - FIRST_ACKED)
            return true;
        snprintf(why, whylen, "the server has %lld events up to seq %lld; the agent acknowledged up to %llu (%llu events)",
                 total, last, (unsigned long long)acked, (unsigned long long)(acked - FIRST_ACKED));
        usleep(100000);
    }
    return false;
}

static void enroll_heartbeat_ping(void)
{
    char why[1024] = "", path[300], arg_dir[320], cpath[200];
    json_t *d = NULL, *cmd, *res = NULL;
    long status;
    long long cid;
    struct stat sb;

    if (!check_is_root())
        SKIP("the agent's sensor needs root");
    CHECK_MSG(enroll(false, why, sizeof(why)), "%s", why);
    snprintf(path, sizeof(path), "%s/etc/device.secret", dir);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    agent = start_agent();
    CHECK(agent > 0);
    /* the heartbeat shows on the device's page */
    for (int i = 0; i < 600; i++) {
        d = device_page();
        if (json_is_string(json_object_get(d, "last_heartbeat")))
            break;
        json_decref(d);
        d = NULL;
        usleep(100000);
    }
    CHECK_MSG(d, "no heartbeat reached the server: %s", tail_of("agent.log"));
    CHECK_STR(json_string_value(json_object_get(d, "agent_version")), YAMORI_VERSION);
    CHECK(json_is_string(json_object_get(d, "sensor_backend")));
    CHECK(json_is_object(json_object_get(d, "agent")));
    CHECK_STR(json_string_value(json_object_get(d, "group")), "channel test");
    json_decref(d);
    /* a person's ping reaches the agent; the result comes back */
    snprintf(cpath, sizeof(cpath), "/api/v1/devices/%s/commands", device_id);
    cmd = api("POST", cpath, "{\"type\": \"ping\"}", &status);
    CHECK_INT(status, ==, 201);
    cid = json_integer_value(json_object_get(cmd, "id"));
    json_decref(cmd);
    CHECK(cid > 0);
    snprintf(cpath, sizeof(cpath), "/api/v1/devices/%s/commands/%lld", device_id, cid);
    for (int i = 0; i < 300; i++) {
        res = api("GET", cpath, NULL, &status);
        if (json_is_string(json_object_get(res, "status")) &&
            (strcmp(json_string_value(json_object_get(res, "status")), "succeeded") == 0 ||
             strcmp(json_string_value(json_object_get(res, "status")), "failed") == 0))
            break;
        json_decref(res);
        res = NULL;
        usleep(100000);
    }
    CHECK_MSG(res, "the ping got no result: %s", tail_of("agent.log"));
    CHECK_STR(json_string_value(json_object_get(res, "status")), "succeeded");
    CHECK_STR(json_string_value(json_object_get(json_object_get(res, "output"), "agent_version")), YAMORI_VERSION);
    CHECK(json_is_string(json_object_get(json_object_get(res, "output"), "time")));
    json_decref(res);
    /* the status file tells the link */
    {
        json_t *st = NULL;
        for (int i = 0; i < 50; i++) { /* rewritten every second */
            st = agent_status();
            if (json_integer_value(json_object_get(json_object_get(st, "Server"), "CommandsRun")) == 1)
                break;
            json_decref(st);
            st = NULL;
            usleep(100000);
        }
        CHECK_MSG(st, "the status does not count the command");
        CHECK_STR(json_string_value(json_object_get(json_object_get(st, "Server"), "DeviceId")), device_id);
        {
            json_t *links = json_object_get(json_object_get(st, "Server"), "Links");
            CHECK_STR(json_string_value(json_object_get(links, "heartbeat")), "up");
            CHECK_STR(json_string_value(json_object_get(links, "results")), "up");
            /* without ingest the uploads are refused (404), and the link says so */
            CHECK_STR(json_string_value(json_object_get(json_object_get(st, "Server"), "LinkState")),
                      server_ingests() ? "up" : "rejected");
        }
        json_decref(st);
    }
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    agent = -1;
    /* offboard: the enrolment is forgotten, the agent will not run */
    snprintf(arg_dir, sizeof(arg_dir), "--config-dir=%s/etc", dir);
    {
        const char *off[] = {"offboard", arg_dir, NULL};
        CHECK_INT(run_agent_cmd("offboard.log", off), ==, 0);
    }
    snprintf(path, sizeof(path), "%s/etc/agent.conf", dir);
    CHECK(stat(path, &sb) != 0);
    {
        const char *run[] = {arg_dir, NULL};
        CHECK_INT(run_agent_cmd("unenrolled.log", run), ==, 78);
    }
}

static void events_stored_once(void)
{
    char why[1024] = "", marker[64];
    uint64_t acked = 0;
    bool dup = false;
    int n;

    if (!check_is_root())
        SKIP("the agent's sensor needs root");
    CHECK_MSG(enroll(false, why, sizeof(why)), "%s", why);
    if (!server_ingests())
        SKIP("the server has no event ingest yet (POST /api/v1/agent/events answers 404)");
    agent = start_agent();
    CHECK(agent > 0);
    CHECK_MSG(wait_ready(60), "the agent does not start: %s", tail_of("agent.log"));
    snprintf(marker, sizeof(marker), "yamori-channel-%d-%ld", getpid(), (long)time(NULL));
    run_processes(50, marker);
    usleep(1000000);
    CHECK_MSG(wait_drained(60, &acked), "the spool does not drain: %s", tail_of("agent.log"));
    CHECK(acked > FIRST_ACKED + 100); /* AgentStarted, the /proc snapshot, 50 processes */
    CHECK_MSG(stored_exactly_once(acked, why, sizeof(why)), "%s", why);
    /* the events query API finds each process once */
    n = wait_marked(marker, 50, &dup);
    CHECK_MSG(n == 50, "the events API finds %d of the 50 process creations", n);
    CHECK(!dup);
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    agent = -1;
}

static void outage_and_kill(void)
{
    char why[1024] = "", err[1024], data_dir[300], marker[64];
    struct serverproc_options so = {0};
    uint64_t acked = 0;
    bool dup = false;
    int n;

    if (!check_is_root())
        SKIP("the agent's sensor needs root");
    /* the server must come back with its data: it runs on a kept data directory */
    CHECK_MSG(enroll(true, why, sizeof(why)), "%s", why);
    if (!server_ingests())
        SKIP("the server has no event ingest yet (POST /api/v1/agent/events answers 404)");
    agent = start_agent();
    CHECK(agent > 0);
    CHECK_MSG(wait_ready(60), "the agent does not start: %s", tail_of("agent.log"));
    run_processes(10, "yamori-channel-before");
    CHECK_MSG(wait_drained(60, &acked), "the spool does not drain: %s", tail_of("agent.log"));
    serverproc_stop(server);
    server = NULL;
    /* the server is gone: a burst, then the agent is killed */
    snprintf(marker, sizeof(marker), "yamori-burst-%d-%ld", getpid(), (long)time(NULL));
    run_processes(300, marker);
    usleep(2000000); /* spooled and synced while the uploader waits to retry */
    kill(agent, SIGKILL);
    waitpid(agent, NULL, 0);
    agent = -1;
    snprintf(data_dir, sizeof(data_dir), "%s/server-data", dir);
    so.data_dir = data_dir;
    server = serverproc_start(&so, err, sizeof(err));
    CHECK_MSG(server, "the server does not come back: %s", err);
    CHECK_INT(serverproc_admin_token(server, admin, sizeof(admin)), ==, 0);
    CHECK(point_agent_at_server()); /* it listens on another port now */
    agent = start_agent();
    CHECK(agent > 0);
    CHECK_MSG(wait_ready(60), "the agent does not start again: %s", tail_of("agent.log"));
    CHECK_MSG(wait_drained(120, &acked), "the spool does not drain: %s", tail_of("agent.log"));
    CHECK(acked > FIRST_ACKED + 600);
    CHECK_MSG(stored_exactly_once(acked, why, sizeof(why)), "%s", why);
    /* every process of the burst, once */
    n = wait_marked(marker, 300, &dup);
    CHECK_MSG(n == 300, "the events API finds %d of the 300 process creations of the burst", n);
    CHECK(!dup);
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    agent = -1;
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"enroll_heartbeat_ping", enroll_heartbeat_ping},
        {"events_stored_once", events_stored_once},
        {"outage_and_kill", outage_and_kill},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("channel", cases, argc, argv);
}
