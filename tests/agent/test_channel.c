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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentproc.h"
#include "check.h"
#include "fleet.h"
#include "serverproc.h"

#define FIRST_ACKED 1000000

static struct fleet *fleet;

static void teardown(void)
{
    fleet_free(fleet);
    fleet = NULL;
}

static bool write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* GET/POST as the administrator; the answer's JSON (new reference) or NULL. */
static json_t *api(const char *method, const char *path, const char *body, long *status)
{
    return fleet_call(fleet, fleet->admin, method, path, body, status);
}

/* A server (on a kept data directory when keep_data: the server can come
 * back with its data) with an administrator, and the agent enrolled in
 * the fleet's work directory, its spool started after a known sequence
 * number. */
static bool enroll(bool keep_data, char *why, size_t whylen)
{
    struct fleet_options o = {.name = "channel", .agent_group = "channel test", .keep_data = keep_data};
    char path[300];

    fleet = fleet_start(&o, why, whylen);
    if (!fleet)
        return false;
    snprintf(path, sizeof(path), "%s/state/spool", fleet->dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/state/spool/acked", fleet->dir);
    if (!write_text(path, "acked_seq=1000000\n", 0600)) {
        snprintf(why, whylen, "cannot seed the spool");
        return false;
    }
    return true;
}

/* Whether the server ingests event batches (POST /api/v1/agent/events). */
static bool server_ingests(void)
{
    const char *headers[] = {fleet->agent.auth, "Content-Type: application/vnd.yamori.batch", NULL};
    struct serverproc_response r;
    bool yes;

    if (serverproc_request(fleet->server, "POST", "/api/v1/agent/events", "not zstd", headers, &r) != 0)
        return false;
    yes = r.status != 404 && r.status != 405;
    serverproc_response_free(&r);
    return yes;
}

static json_t *device_page(void)
{
    return fleet_device_page(fleet, fleet->agent.id);
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
    snprintf(path, sizeof(path), "/api/v1/events?device=%s&action=ProcessCreated&since=1h&limit=10000",
             fleet->agent.id);
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
    char path[300];

    snprintf(path, sizeof(path), "%s/status.json", fleet->dir); /* fleet.h: the agent's --status-file */
    return agentproc_wait_drained(path, seconds, acked);
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
    snprintf(path, sizeof(path), "%s/etc/device.secret", fleet->dir);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK_MSG(fleet_agent_start(fleet, 0, why, sizeof(why)) == 0, "%s", why);
    /* the heartbeat shows on the device's page */
    for (int i = 0; i < 600; i++) {
        d = device_page();
        if (json_is_string(json_object_get(d, "last_heartbeat")))
            break;
        json_decref(d);
        d = NULL;
        usleep(100000);
    }
    CHECK_MSG(d, "no heartbeat reached the server: %s", fleet_tail(fleet, "agent.log"));
    CHECK_STR(json_string_value(json_object_get(d, "agent_version")), YAMORI_VERSION);
    CHECK(json_is_string(json_object_get(d, "sensor_backend")));
    CHECK(json_is_object(json_object_get(d, "agent")));
    CHECK_STR(json_string_value(json_object_get(d, "group")), "channel test");
    json_decref(d);
    /* a person's ping reaches the agent; the result comes back */
    snprintf(cpath, sizeof(cpath), "/api/v1/devices/%s/commands", fleet->agent.id);
    cmd = api("POST", cpath, "{\"type\": \"ping\"}", &status);
    CHECK_INT(status, ==, 201);
    cid = json_integer_value(json_object_get(cmd, "id"));
    json_decref(cmd);
    CHECK(cid > 0);
    snprintf(cpath, sizeof(cpath), "/api/v1/devices/%s/commands/%lld", fleet->agent.id, cid);
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
    CHECK_MSG(res, "the ping got no result: %s", fleet_tail(fleet, "agent.log"));
    CHECK_STR(json_string_value(json_object_get(res, "status")), "succeeded");
    CHECK_STR(json_string_value(json_object_get(json_object_get(res, "output"), "agent_version")), YAMORI_VERSION);
    CHECK(json_is_string(json_object_get(json_object_get(res, "output"), "time")));
    json_decref(res);
    /* the status file tells the link */
    {
        json_t *st = NULL;
        for (int i = 0; i < 50; i++) { /* rewritten every second */
            st = fleet_agent_status(fleet);
            if (json_integer_value(json_object_get(json_object_get(st, "Server"), "CommandsRun")) == 1)
                break;
            json_decref(st);
            st = NULL;
            usleep(100000);
        }
        CHECK_MSG(st, "the status does not count the command");
        CHECK_STR(json_string_value(json_object_get(json_object_get(st, "Server"), "DeviceId")), fleet->agent.id);
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
    fleet_agent_stop(fleet, SIGTERM, 0);
    /* offboard: the enrolment is forgotten, the agent will not run */
    snprintf(arg_dir, sizeof(arg_dir), "--config-dir=%s/etc", fleet->dir);
    {
        const char *off[] = {"offboard", arg_dir, NULL};
        CHECK_INT(fleet_agent_run(fleet, "offboard.log", off), ==, 0);
    }
    snprintf(path, sizeof(path), "%s/etc/agent.conf", fleet->dir);
    CHECK(stat(path, &sb) != 0);
    {
        const char *run[] = {arg_dir, NULL};
        CHECK_INT(fleet_agent_run(fleet, "unenrolled.log", run), ==, 78);
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
    FLEET_AGENT_START(fleet);
    snprintf(marker, sizeof(marker), "yamori-channel-%d-%ld", getpid(), (long)time(NULL));
    run_processes(50, marker);
    usleep(1000000);
    CHECK_MSG(wait_drained(60, &acked), "the spool does not drain: %s", fleet_tail(fleet, "agent.log"));
    CHECK(acked > FIRST_ACKED + 100); /* AgentStarted, the /proc snapshot, 50 processes */
    CHECK_MSG(stored_exactly_once(acked, why, sizeof(why)), "%s", why);
    /* the events query API finds each process once */
    n = wait_marked(marker, 50, &dup);
    CHECK_MSG(n == 50, "the events API finds %d of the 50 process creations", n);
    CHECK(!dup);
    fleet_agent_stop(fleet, SIGTERM, 0);
}

static void outage_and_kill(void)
{
    char why[1024] = "", err[1024], marker[64];
    uint64_t acked = 0;
    bool dup = false;
    int n;

    if (!check_is_root())
        SKIP("the agent's sensor needs root");
    /* the server must come back with its data: it runs on a kept data directory */
    CHECK_MSG(enroll(true, why, sizeof(why)), "%s", why);
    if (!server_ingests())
        SKIP("the server has no event ingest yet (POST /api/v1/agent/events answers 404)");
    FLEET_AGENT_START(fleet);
    run_processes(10, "yamori-channel-before");
    CHECK_MSG(wait_drained(60, &acked), "the spool does not drain: %s", fleet_tail(fleet, "agent.log"));
    fleet_server_stop(fleet);
    /* the server is gone: a burst, then the agent is killed */
    snprintf(marker, sizeof(marker), "yamori-burst-%d-%ld", getpid(), (long)time(NULL));
    run_processes(300, marker);
    usleep(2000000); /* spooled and synced while the uploader waits to retry */
    fleet_agent_stop(fleet, SIGKILL, 0);
    /* on its data directory, signed in again, the agent pointed at its new port */
    CHECK_MSG(fleet_server_restart(fleet, err, sizeof(err)) == 0, "the server does not come back: %s", err);
    CHECK_MSG(fleet_agent_start(fleet, 60, err, sizeof(err)) == 0, "the agent does not start again: %s", err);
    CHECK_MSG(wait_drained(120, &acked), "the spool does not drain: %s", fleet_tail(fleet, "agent.log"));
    CHECK(acked > FIRST_ACKED + 600);
    CHECK_MSG(stored_exactly_once(acked, why, sizeof(why)), "%s", why);
    /* every process of the burst, once */
    n = wait_marked(marker, 300, &dup);
    CHECK_MSG(n == 300, "the events API finds %d of the 300 process creations of the burst", n);
    CHECK(!dup);
    fleet_agent_stop(fleet, SIGTERM, 0);
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
