/*
 * test_agent_server.c — the real yamori-agent binary, enrolled (an
 * agent.conf in a temporary configuration directory), against the small
 * HTTPS server of mock_server.h: events of processes run here reach the
 * server; the status file shows the link, the spool and the uploads; a
 * heartbeat arrives; and with the server gone during a burst and the agent
 * killed with SIGKILL meanwhile, every event reaches the server exactly
 * once after both come back (no sequence number missing, none stored
 * twice). Needs root (the agent runs its sensor).
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
#include "mock_server.h"

static char dir[256];
static pid_t agent = -1;
static struct pki pki;

static void teardown(void)
{
    if (agent > 0) {
        kill(agent, SIGKILL);
        waitpid(agent, NULL, 0);
        agent = -1;
    }
    mock_stop();
    pki_free(&pki);
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
    return ok && chmod(path, mode) == 0;
}

/* A temporary directory with etc/ (enrolled with the mock) and state/. */
static bool setup(void)
{
    struct agent_conf c;
    char path[400], err[512];

    snprintf(dir, sizeof(dir), "/tmp/yamori-agentsrv.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        return false;
    }
    if (pki_make(&pki, "test CA") != 0 || !mock_start(&pki, "IP:127.0.0.1"))
        return false;
    snprintf(path, sizeof(path), "%s/etc", dir);
    if (mkdir(path, 0755) != 0)
        return false;
    agentconf_defaults(&c);
    snprintf(c.server_url, sizeof(c.server_url), "https://127.0.0.1:%d", mock->port);
    snprintf(c.device_id, sizeof(c.device_id), "%s", DEVICE_ID);
    snprintf(c.ca_file, sizeof(c.ca_file), "%s/etc/ca.pem", dir);
    snprintf(c.secret_file, sizeof(c.secret_file), "%s/etc/device.secret", dir);
    if (!write_text(c.ca_file, pki.ca_pem, 0644) || !write_text(c.secret_file, SECRET "\n", 0600))
        return false;
    snprintf(path, sizeof(path), "%s/etc/agent.conf", dir);
    return agentconf_save(&c, path, err, sizeof(err)) == 0;
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

/* The end of the agent's log, for failure messages. */
static const char *agent_log(void)
{
    char path[300];

    snprintf(path, sizeof(path), "%s/agent.log", dir);
    return agentproc_log_tail(path);
}

static const char *status_path(void)
{
    static char path[300];
    snprintf(path, sizeof(path), "%s/status.json", dir);
    return path;
}

static json_t *status(void)
{
    return json_load_file(status_path(), 0, NULL);
}

static bool wait_action(const char *action, uint64_t n, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (mock_action_count(mock, action) >= n)
            return true;
        usleep(50000);
    }
    return false;
}

static uint64_t marker_hits(void)
{
    uint64_t n;
    pthread_mutex_lock(&mock->lock);
    n = mock->marker_hits;
    pthread_mutex_unlock(&mock->lock);
    return n;
}

/* Runs n short processes whose command line holds the marker. */
static void run_marked(const char *marker, int n)
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

static void ships_events(void)
{
    char marker[64];
    json_t *st, *srv, *sp;
    int ws;

    if (!check_is_root())
        SKIP("the agent's sensor needs root");
    CHECK(setup());
    agent = start_agent();
    CHECK(agent > 0);
    CHECK_MSG(wait_action("AgentStarted", 1, 60), "no AgentStarted reached the server: %s", agent_log());
    snprintf(marker, sizeof(marker), "yamori-e2e-%d-%ld", getpid(), (long)time(NULL));
    snprintf(mock->marker, sizeof(mock->marker), "%s", marker);
    snprintf(mock->marker_action, sizeof(mock->marker_action), "ProcessCreated");
    run_marked(marker, 20);
    for (int i = 0; i < 300 && marker_hits() < 20; i++)
        usleep(100000);
    CHECK_MSG(marker_hits() == 20, "%llu of 20 process creations reached the server: %s",
              (unsigned long long)marker_hits(), agent_log());
    CHECK_MSG(agentproc_wait_drained(status_path(), 30, NULL), "the spool does not drain: %s", agent_log());
    /* the status file tells the link, the uploads and the spool */
    for (int i = 0; i < 50; i++) {
        st = status();
        srv = json_object_get(st, "Server");
        if (json_is_string(json_object_get(srv, "LastHeartbeat")))
            break;
        json_decref(st);
        st = NULL;
        usleep(100000);
    }
    CHECK_MSG(st, "no heartbeat in the status: %s", agent_log());
    sp = json_object_get(st, "Spool");
    CHECK_STR(json_string_value(json_object_get(st, "Output")), "server");
    CHECK_STR(json_string_value(json_object_get(srv, "LinkState")), "up");
    CHECK_STR(json_string_value(json_object_get(srv, "DeviceId")), DEVICE_ID);
    CHECK(json_integer_value(json_object_get(srv, "EventsSent")) > 20);
    CHECK(json_is_string(json_object_get(srv, "LastUpload")));
    CHECK(json_is_object(sp));
    json_decref(st);
    pthread_mutex_lock(&mock->lock);
    CHECK(mock->heartbeats >= 1);
    CHECK(json_is_string(json_object_get(mock->heartbeat, "sensor_backend")));
    CHECK_INT(mock->gaps, ==, 0);
    CHECK_INT(mock->bad_auth, ==, 0);
    pthread_mutex_unlock(&mock->lock);
    kill(agent, SIGTERM);
    CHECK(waitpid(agent, &ws, 0) == agent);
    agent = -1;
    CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "exit status %d: %s", ws, agent_log());
}

static void killed_during_outage(void)
{
    char marker[64];
    uint64_t acked = 0, high, first;

    if (!check_is_root())
        SKIP("the agent's sensor needs root");
    CHECK(setup());
    agent = start_agent();
    CHECK(agent > 0);
    CHECK_MSG(wait_action("AgentStarted", 1, 60), "no AgentStarted reached the server: %s", agent_log());
    /* the server goes away; a burst happens; the agent is killed */
    mock_pause(mock);
    snprintf(marker, sizeof(marker), "yamori-burst-%d-%ld", getpid(), (long)time(NULL));
    snprintf(mock->marker, sizeof(mock->marker), "%s", marker);
    snprintf(mock->marker_action, sizeof(mock->marker_action), "ProcessCreated");
    run_marked(marker, 300);
    for (int i = 0; i < 100; i++) {
        json_t *st = status();
        long long pending = json_integer_value(json_object_get(json_object_get(st, "Spool"), "PendingEvents"));
        json_decref(st);
        if (pending >= 600) /* created and exited, at least */
            break;
        usleep(100000);
    }
    usleep(1500000); /* the uploader syncs while it waits to retry */
    kill(agent, SIGKILL);
    waitpid(agent, NULL, 0);
    agent = -1;
    CHECK_INT(marker_hits(), ==, 0);
    /* both come back */
    CHECK(mock_resume(mock));
    agent = start_agent();
    CHECK(agent > 0);
    CHECK_MSG(wait_action("AgentStarted", 2, 60), "the restarted agent did not reach the server: %s", agent_log());
    for (int i = 0; i < 600 && marker_hits() < 300; i++)
        usleep(100000);
    CHECK_MSG(agentproc_wait_drained(status_path(), 60, &acked), "the spool does not drain: %s", agent_log());
    pthread_mutex_lock(&mock->lock);
    high = mock->high;
    first = mock->first_seq;
    CHECK_INT(mock->marker_hits, ==, 300);            /* every process of the burst, once */
    CHECK_INT(mock->gaps, ==, 0);                     /* no sequence number missing */
    CHECK_INT(mock->stored, ==, high - first + 1);    /* each stored once */
    CHECK_INT(mock->bad_auth, ==, 0);
    pthread_mutex_unlock(&mock->lock);
    CHECK_INT(high, ==, acked);
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    agent = -1;
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"ships_events", ships_events},
        {"killed_during_outage", killed_during_outage},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("agent_server", cases, argc, argv);
}
