/*
 * test_collect.c — the investigation package (src/agent/collect.c, issue
 * 5). The builder, run in this process: the archive it writes is read back
 * with libarchive and holds the README, the process list with this test's
 * own pid, its lineage, the mounts, the connections with a socket this
 * test listens on owned by this pid, and the persistence listing; the
 * summary counts what was collected and names what was not. A package
 * that cannot be written fails with a reason and leaves nothing behind.
 * The SHA-256 helper agrees with a known digest.
 *
 * End to end, the real agent against the real server (pattern of
 * test_actions_agent.c): a collect action succeeds, its package is
 * downloaded by a responder (GET /api/v1/actions/:id/package), has the
 * SHA-256 and size the output names and the expected entries, among them
 * agent/events.jsonl with the ProcessCreated event of a process this
 * test started (the agent's ring of recent events, src/agent/recent.h). With a
 * max_package_bytes too small for it the upload is refused and the action
 * fails saying why. Hostile uploads (no such command for this device, a
 * command of another type, one not running, an oversized body, no
 * credentials) get 4xx and leave no package. These need root (the agent's sensor).
 *
 * The file route streams (src/server/http.h, "Streamed uploads"), shown
 * with this test acting as the agent over HTTPS: an upload above the
 * limit is refused with 413 and leaves nothing; a client that goes away
 * in the middle of an upload leaves no file and no open temporary file
 * in the server; a 64 MiB package uploads and downloads byte-identical
 * while the server's resident memory (VmHWM) grows by far less than
 * that. A live response getfile (a `live` command whose args.command is
 * "getfile", put in the server's store directly) uploads any content as
 * application/octet-stream, kept under <data_dir>/files/<id> and found by
 * packages_file_info(); other live commands, other content types and a
 * second upload are refused.
 *
 * Stopping: an upload in flight when the agent stops is aborted and
 * waited for before the channel is freed (collect_set_channel(NULL)),
 * and a collect reaching its upload after that finds no channel — run in
 * this process against a listener that never answers the TLS handshake.
 */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agent/channel.h"
#include "agent/collect.h"
#include "agent/remediate_fs.h"
#include "agentproc.h"
#include "check.h"
#include "fleet.h"
#include "server/config.h"
#include "server/packages.h"
#include "server/server.h"
#include "server/store.h"
#include "serverproc.h"

#define MAX_ENTRIES 4096

struct entry {
    char *name;
    char *data;
    size_t len;
};

static const char *jstr(json_t *o, const char *k);

static struct entry entries[MAX_ENTRIES];
static size_t nentries;
static char tmpdir[64];

static void free_entries(void)
{
    for (size_t i = 0; i < nentries; i++) {
        free(entries[i].name);
        free(entries[i].data);
    }
    nentries = 0;
}

static struct fleet *fleet;
static char responder[300];

/* A server, an admin and a responder, and the agent enrolled in the
 * fleet's work directory (not running yet). */
static const struct fleet_user people[] = {{"rita", "responder", responder, sizeof(responder)}, {NULL}};
static const struct fleet_options collect_fleet = {.name = "collect-e2e", .agent_group = "collect test",
                                                   .users = people};

static void teardown(void)
{
    free_entries();
    fleet_free(fleet);
    fleet = NULL;
    if (tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        (void)!system(cmd);
        tmpdir[0] = '\0';
    }
}

/* Reads every entry of the tar.gz at path into entries[]. */
static int read_archive(const char *path)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    int rc = 0;

    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        archive_read_free(a);
        return -1;
    }
    while (nentries < MAX_ENTRIES && (rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        struct entry *x = &entries[nentries++];
        la_int64_t size = archive_entry_size(e);
        x->name = strdup(archive_entry_pathname(e));
        x->data = malloc((size_t)size + 1);
        x->len = (size_t)size;
        if (!x->name || !x->data || archive_read_data(a, x->data, (size_t)size) != size) {
            rc = ARCHIVE_FATAL;
            break;
        }
        x->data[size] = '\0';
    }
    archive_read_free(a);
    return rc == ARCHIVE_EOF ? 0 : -1;
}

static const struct entry *entry(const char *name)
{
    char full[512];
    snprintf(full, sizeof(full), "%s/%s", COLLECT_TOP, name);
    for (size_t i = 0; i < nentries; i++)
        if (strcmp(entries[i].name, full) == 0)
            return &entries[i];
    return NULL;
}

static void builds_package(void)
{
    char path[128], line[64], port_field[32];
    json_t *summary = NULL;
    const struct entry *x;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    int lfd = -1;
    char err[512] = "";
    const char *p;
    bool found = false;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/yamori-collect-XXXXXX");
    CHECK(mkdtemp(tmpdir));
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 1) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&sa, &slen) == 0);
    snprintf(path, sizeof(path), "%s/p.tar.gz", tmpdir);
    {
        int e = collect_build(path, NULL, &summary, err, sizeof(err));
        close(lfd);
        CHECK_MSG(e == 0, "collect_build: %s", err);
    }
    CHECK(json_integer_value(json_object_get(json_object_get(summary, "items"), "processes")) > 1);
    CHECK(json_integer_value(json_object_get(json_object_get(summary, "items"), "mounts")) > 0);
    CHECK(json_integer_value(json_object_get(json_object_get(summary, "items"), "connections")) > 0);
    CHECK(json_is_array(json_object_get(summary, "missing")));
    {
        /* outside the agent there is no ring: the reason is given */
        size_t k;
        json_t *m;
        bool said = false;
        json_array_foreach(json_object_get(summary, "missing"), k, m)
        {
            if (!strcmp(jstr(m, "item"), "agent/events") && strlen(jstr(m, "reason")) > 10)
                said = true;
        }
        CHECK_MSG(said, "missing does not say why the agent's events are not there");
    }
    {
        struct stat st;
        CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
    }
    CHECK_MSG(read_archive(path) == 0, "the package is not a readable tar.gz");
    CHECK((x = entry("README.txt")) && strstr(x->data, "Not collected:") && strstr(x->data, "processes/processes.tsv"));
    CHECK(entry("system/system.txt") && strstr(entry("system/system.txt")->data, "sysname\tLinux"));
    CHECK((x = entry("processes/processes.tsv")));
    snprintf(line, sizeof(line), "\n%d\t%d\t", (int)getpid(), (int)getppid());
    CHECK_MSG(strstr(x->data, line), "this test's pid %d is not in the process list", (int)getpid());
    CHECK((x = entry("processes/lineage.tsv")));
    snprintf(line, sizeof(line), "\n%d\t%d", (int)getpid(), (int)getppid());
    CHECK(strstr(x->data, line));
    CHECK((x = entry("processes/open_files.tsv")) && x->len > 20);
    CHECK((x = entry("volumes/mountinfo.txt")) && x->len > 0);
    CHECK((x = entry("volumes/usage.tsv")) && strstr(x->data, "\n/\t"));
    CHECK((x = entry("network/connections.tsv")));
    /* the listening socket, owned by this pid */
    snprintf(port_field, sizeof(port_field), "\t127.0.0.1\t%u\t", (unsigned)ntohs(sa.sin_port));
    for (p = x->data; (p = strstr(p, port_field)); p++) {
        const char *eol = strchr(p, '\n'), *last = eol;
        char pidtext[32];
        while (last > p && last[-1] != '\t')
            last--;
        snprintf(pidtext, sizeof(pidtext), "%d", (int)getpid());
        if (eol && strstr(p, "LISTEN") && strstr(p, "LISTEN") < eol && strncmp(last, pidtext, strlen(pidtext)) == 0)
            found = true;
    }
    CHECK_MSG(found, "the test's listening socket (port %u) is not listed with its pid",
              (unsigned)ntohs(sa.sin_port));
    CHECK((x = entry("network/listening.tsv")) && strstr(x->data, port_field));
    CHECK(entry("network/unix.tsv") && entry("network/addresses.tsv"));
    CHECK((x = entry("persistence/listing.tsv")) && strncmp(x->data, "kind\tpath\t", 10) == 0);
    CHECK(entry("sudoers/listing.tsv"));
    /* sizes in the README agree with the entries */
    {
        char want[256];
        x = entry("processes/processes.tsv");
        snprintf(want, sizeof(want), "processes/processes.tsv (%zu bytes)", x->len);
        CHECK(strstr(entry("README.txt")->data, want));
    }
    json_decref(summary);
}

static void unwritable_leaves_nothing(void)
{
    json_t *summary = NULL;
    char err[512] = "";
    int e;

    e = collect_build("/nonexistent-yamori-dir/p.tar.gz", NULL, &summary, err, sizeof(err));
    CHECK(e < 0);
    CHECK(summary == NULL);
    CHECK_MSG(strstr(err, "/nonexistent-yamori-dir/p.tar.gz"), "the error does not name the path: %s", err);
    CHECK(access("/nonexistent-yamori-dir/p.tar.gz", F_OK) != 0);
}

static void sha256_of_file(void)
{
    char path[128], hex[65];
    uint64_t bytes = 0;
    FILE *f;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/yamori-collect-XXXXXX");
    CHECK(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/abc", tmpdir);
    CHECK((f = fopen(path, "w")) && fputs("abc", f) >= 0 && fclose(f) == 0);
    CHECK(collect_sha256_file(path, hex, &bytes) == 0);
    CHECK(bytes == 3);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    CHECK(collect_sha256_file("/nonexistent-yamori-file", hex, &bytes) == -ENOENT);
}


/* ------------------------------------------------------------ end to end */

/* One request; the answer into r (free with serverproc_response_free). */
static void request(const char *auth_line, const char *method, const char *path, const char *body,
                    const char *content_type, struct serverproc_response *r)
{
    char ct[128];
    const char *headers[] = {auth_line, content_type ? ct : NULL, NULL};
    if (content_type)
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    memset(r, 0, sizeof(*r));
    if (serverproc_request(fleet->server, method, path, body, headers, r) != 0)
        r->status = 0;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Creates a collect action; its id and its command's id. */
static long long collect_action(long long *command_id, long *status)
{
    char body[300];
    json_t *j;
    long long id;

    snprintf(body, sizeof(body), "{\"type\":\"collect\",\"device\":\"%s\",\"target\":{}}", fleet->agent.id);
    j = fleet_call(fleet, responder, "POST", "/api/v1/actions", body, status);
    id = *status == 201 ? json_integer_value(json_object_get(j, "id")) : 0;
    json_decref(j);
    if (command_id) {
        char path[64];
        long st;
        *command_id = 0;
        snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
        for (int i = 0; i < 50 && id && !*command_id; i++) {
            j = fleet_call(fleet, fleet->admin, "GET", path, NULL, &st);
            *command_id = json_integer_value(json_object_get(j, "command_id"));
            json_decref(j);
            if (!*command_id)
                usleep(100000);
        }
    }
    return id;
}

static json_t *wait_final(long long id)
{
    return fleet_action_wait(fleet, id, 120);
}

static void hex_sha256(const void *data, size_t len, char hex[65])
{
    char path[300];
    uint64_t n;
    FILE *f;
    snprintf(path, sizeof(path), "%s/hash.tmp", fleet->dir);
    hex[0] = '\0';
    f = fopen(path, "w");
    if (!f)
        return;
    fwrite(data, 1, len, f);
    fclose(f);
    if (collect_sha256_file(path, hex, &n) != 0)
        hex[0] = '\0';
    unlink(path);
}

/* Runs /bin/true with marker as its argument, to its end. */
static bool run_marker(const char *marker)
{
    int ws;
    pid_t p = fork();

    if (p == 0) {
        execl("/bin/true", "true", marker, (char *)NULL);
        _exit(127);
    }
    return p > 0 && waitpid(p, &ws, 0) == p && WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
}

/* Waits (up to ~60 s) until the server stored the device's ProcessCreated
 * event whose command line names marker. */
static bool wait_stored_marker(const char *marker)
{
    char path[300];

    snprintf(path, sizeof(path), "/api/v1/events?device=%s&action=ProcessCreated&limit=1000", fleet->agent.id);
    for (int i = 0; i < 600; i++) {
        long st;
        json_t *j = fleet_call(fleet, fleet->admin, "GET", path, NULL, &st), *ev;
        size_t k;
        bool found = false;
        json_array_foreach(json_object_get(j, "events"), k, ev)
        {
            if (strstr(jstr(ev, "ProcessCommandLine"), marker))
                found = true;
        }
        json_decref(j);
        if (found)
            return true;
        usleep(100000);
    }
    return false;
}

static void e2e_collect(void)
{
    struct serverproc_response r;
    long long id;
    long status;
    json_t *a, *out;
    char path[300], line[64], hex[65], marker[64];
    const struct entry *events;
    FILE *f;

    FLEET_START(&fleet, &collect_fleet, NULL);
    FLEET_AGENT_START(fleet);
    /* a process of this test's: once its event is on the server, it went
     * through the agent's ring too (the output keeps it before spooling) */
    snprintf(marker, sizeof(marker), "yamori-collect-marker-%d", (int)getpid());
    CHECK(run_marker(marker));
    CHECK_MSG(wait_stored_marker(marker), "the marker process's event never reached the server");
    id = collect_action(NULL, &status);
    CHECK_MSG(id > 0, "POST /api/v1/actions: %ld", status);
    a = wait_final(id);
    CHECK_MSG(a && strcmp(jstr(a, "state"), "succeeded") == 0, "the collect action ended %s: %s",
              a ? jstr(a, "state") : "(never)", a ? jstr(a, "error") : "");
    out = json_object_get(a, "result");
    CHECK_MSG(json_integer_value(json_object_get(json_object_get(out, "items"), "agent_events")) > 0,
              "no agent_events in the items: %s", json_dumps(json_object_get(out, "items"), JSON_COMPACT));
    CHECK(strlen(jstr(out, "package_sha256")) == 64);
    CHECK(json_integer_value(json_object_get(out, "package_bytes")) > 0);
    CHECK(json_integer_value(json_object_get(json_object_get(out, "items"), "processes")) > 1);
    CHECK(json_is_array(json_object_get(out, "missing")));
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/package", id);
    request(responder, "GET", path, NULL, NULL, &r);
    CHECK_MSG(r.status == 200, "GET package: %ld %s", r.status, r.body ? r.body : "");
    CHECK(strstr(r.headers, "application/gzip") && strstr(r.headers, "attachment; filename="));
    CHECK(r.len == (size_t)json_integer_value(json_object_get(out, "package_bytes")));
    hex_sha256(r.body, r.len, hex);
    CHECK_MSG(strcmp(hex, jstr(out, "package_sha256")) == 0, "downloaded sha256 %s, output names %s", hex,
              jstr(out, "package_sha256"));
    snprintf(path, sizeof(path), "%s/downloaded.tar.gz", fleet->dir);
    CHECK((f = fopen(path, "w")) && fwrite(r.body, 1, r.len, f) == r.len && fclose(f) == 0);
    serverproc_response_free(&r);
    json_decref(a);
    CHECK_MSG(read_archive(path) == 0, "the downloaded package is not a readable tar.gz");
    CHECK(entry("README.txt"));
    snprintf(line, sizeof(line), "\n%d\t%d\t", (int)getpid(), (int)getppid());
    CHECK_MSG(entry("processes/processes.tsv") && strstr(entry("processes/processes.tsv")->data, line),
              "this test's pid is not in the package's process list");
    CHECK(entry("volumes/mountinfo.txt") && entry("volumes/usage.tsv"));
    CHECK(entry("network/connections.tsv") && entry("network/unix.tsv"));
    CHECK(entry("persistence/listing.tsv"));
    /* the agent's recent events: JSON lines, the marker's among them */
    events = entry("agent/events.jsonl");
    CHECK_MSG(events && events->len > 0, "no agent/events.jsonl in the package");
    {
        bool found = false;
        size_t lines = 0;
        for (char *l = events->data, *nl; l && *l; l = nl ? nl + 1 : NULL) {
            json_t *ev;
            nl = strchr(l, '\n');
            ev = json_loadb(l, nl ? (size_t)(nl - l) : strlen(l), 0, NULL);
            CHECK_MSG(json_is_object(ev), "line %zu of agent/events.jsonl is not a JSON object", lines + 1);
            if (!strcmp(jstr(ev, "ActionType"), "ProcessCreated") && strstr(jstr(ev, "ProcessCommandLine"), marker))
                found = true;
            json_decref(ev);
            lines++;
        }
        CHECK_MSG(found, "the marker process (%s) is not among the %zu events of agent/events.jsonl", marker, lines);
    }
    /* an action without one answers 404 */
    request(responder, "GET", "/api/v1/actions/999999/package", NULL, NULL, &r);
    CHECK(r.status == 404);
    serverproc_response_free(&r);
    /* the CLI: `yamori action package` gets the same bytes */
    {
        char cfg[400], cmd[2048], file[400], hex2[65];
        uint64_t n;
        int st;
        snprintf(cfg, sizeof(cfg), "%s/cli.json", fleet->dir);
        CHECK((f = fopen(cfg, "w")));
        fprintf(f, "{\"url\": \"%s\", \"ca\": \"%s\", \"token\": \"%s\"}\n", serverproc_url(fleet->server),
                serverproc_ca(fleet->server), responder + strlen("Authorization: Bearer "));
        fclose(f);
        snprintf(file, sizeof(file), "%s/cli.tar.gz", fleet->dir);
        snprintf(cmd, sizeof(cmd), "YAMORI_CONFIG=%s %s action package %lld --output %s >%s/cli.log 2>&1", cfg,
                 serverproc_binary(), id, file, fleet->dir);
        st = system(cmd);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "yamori action package failed (see %s/cli.log)", fleet->dir);
        CHECK(collect_sha256_file(file, hex2, &n) == 0 && strcmp(hex2, hex) == 0);
    }
}

static void e2e_package_too_big(void)
{
    struct serverproc_response r;
    long long id;
    long status;
    json_t *a;
    char path[64];

    FLEET_START(&fleet, &collect_fleet, "max_package_bytes=1024");
    FLEET_AGENT_START(fleet);
    id = collect_action(NULL, &status);
    CHECK_MSG(id > 0, "POST /api/v1/actions: %ld", status);
    a = wait_final(id);
    CHECK_MSG(a && strcmp(jstr(a, "state"), "failed") == 0, "the action ended %s", a ? jstr(a, "state") : "(never)");
    CHECK_MSG(strstr(jstr(a, "error"), "413") && strstr(jstr(a, "error"), "1024"), "the error does not say why: %s",
              jstr(a, "error"));
    json_decref(a);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/package", id);
    request(responder, "GET", path, NULL, NULL, &r);
    CHECK(r.status == 404);
    serverproc_response_free(&r);
}

static void e2e_hostile_uploads(void)
{
    struct serverproc_response r;
    long long id, cmd_id, ping_id;
    long status;
    json_t *j;
    char path[128], body[64], big[3000];

    FLEET_START(&fleet, &collect_fleet, "max_package_bytes=2048");
    /* the agent does not run: the collect command stays queued */
    id = collect_action(&cmd_id, &status);
    CHECK_MSG(id > 0 && cmd_id > 0, "POST /api/v1/actions: %ld", status);
    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands", fleet->agent.id);
    j = fleet_call(fleet, responder, "POST", path, "{\"type\":\"ping\"}", &status);
    ping_id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    CHECK_MSG(ping_id > 0, "queue a ping: %ld", status);
    snprintf(body, sizeof(body), "\x1f\x8b" "not really gzip");

    /* no such command */
    request(fleet->agent.auth, "POST", "/api/v1/agent/commands/999999/file", body, "application/gzip", &r);
    CHECK_MSG(r.status == 404, "no such command: %ld", r.status);
    serverproc_response_free(&r);
    /* not running (queued) */
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/file", cmd_id);
    request(fleet->agent.auth, "POST", path, body, "application/gzip", &r);
    CHECK_MSG(r.status == 409, "a command not running: %ld", r.status);
    serverproc_response_free(&r);
    /* oversized too: the command is checked before the size (413 with a
     * running command: e2e_upload_limits) */
    memset(big, 'x', sizeof(big) - 1);
    big[0] = '\x1f';
    big[1] = '\x8b';
    big[sizeof(big) - 1] = '\0';
    request(fleet->agent.auth, "POST", path, big, "application/gzip", &r);
    CHECK_MSG(r.status == 409, "oversized, not running: %ld", r.status);
    serverproc_response_free(&r);
    /* a command of another type */
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/file", ping_id);
    request(fleet->agent.auth, "POST", path, body, "application/gzip", &r);
    CHECK_MSG(r.status == 409, "a ping command: %ld", r.status);
    serverproc_response_free(&r);
    /* no credentials */
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/file", cmd_id);
    request(NULL, "POST", path, body, "application/gzip", &r);
    CHECK_MSG(r.status == 401, "no credentials: %ld", r.status);
    serverproc_response_free(&r);
    /* nothing was kept */
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/package", id);
    request(responder, "GET", path, NULL, NULL, &r);
    CHECK(r.status == 404);
    serverproc_response_free(&r);
    {
        char pdir[700];
        struct stat st;
        snprintf(pdir, sizeof(pdir), "%s/packages/%lld.tar.gz", serverproc_data_dir(fleet->server), cmd_id);
        CHECK(stat(pdir, &st) != 0);
    }
}

/* ------------------------------------------------------------ the file route, as the agent */

/* Acts as the agent for command cmd_id: takes the queued commands (the
 * command poll) and reports cmd_id started, so it is running. */
static bool agent_takes(long long cmd_id)
{
    struct serverproc_response r;
    char path[96];
    bool ok;

    request(fleet->agent.auth, "GET", "/api/v1/agent/commands", NULL, NULL, &r);
    ok = r.status == 200;
    serverproc_response_free(&r);
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/progress", cmd_id);
    request(fleet->agent.auth, "POST", path, "{\"message\": \"started\"}", NULL, &r);
    ok = ok && r.status == 200;
    serverproc_response_free(&r);
    return ok;
}

/* A file of size bytes of pseudo-random content; gzip: starting as gzip
 * does (the server checks only that). */
static bool make_file(const char *path, uint64_t size, bool gzip, uint64_t seed)
{
    static uint64_t buf[1 << 17]; /* 1 MiB */
    uint64_t x = seed | 1, left = size;
    FILE *f = fopen(path, "w");
    bool ok = f != NULL;

    while (ok && left) {
        size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        for (size_t i = 0; i < sizeof(buf) / sizeof(buf[0]); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        if (gzip && left == size)
            memcpy(buf, "\x1f\x8b", 2);
        ok = fwrite(buf, 1, n, f) == n;
        left -= n;
    }
    if (f && fclose(f) != 0)
        ok = false;
    return ok;
}

struct upload_src {
    FILE *f;
    uint64_t sent, abort_after;
};

static size_t upload_read(char *buf, size_t size, size_t nitems, void *ctx)
{
    struct upload_src *u = ctx;
    size_t want = size * nitems, got;

    if (u->abort_after && u->sent >= u->abort_after)
        return CURL_READFUNC_ABORT; /* the client goes away mid-upload */
    if (u->abort_after && want > u->abort_after - u->sent)
        want = (size_t)(u->abort_after - u->sent);
    got = fread(buf, 1, want, u->f);
    u->sent += got;
    return got;
}

struct sink {
    char text[4096]; /* an answer's start */
    size_t len;
    FILE *f;         /* or a file for the whole body */
};

static size_t sink_write(char *data, size_t size, size_t nitems, void *ctx)
{
    struct sink *k = ctx;
    size_t n = size * nitems;

    if (k->f)
        return fwrite(data, 1, n, k->f);
    if (k->len + 1 < sizeof(k->text)) {
        size_t take = n < sizeof(k->text) - 1 - k->len ? n : sizeof(k->text) - 1 - k->len;
        memcpy(k->text + k->len, data, take);
        k->len += take;
        k->text[k->len] = '\0';
    }
    return n;
}

/* One streamed request with auth_line: the body read from the file
 * upload (POST, Content-Length its size, cut after abort_after bytes when
 * not 0), the answer's body into the file download (GET) or parsed into
 * *answer. Returns the HTTP status, 0 when no answer came. */
static long transfer(const char *auth_line, const char *path, const char *upload, const char *content_type,
                     uint64_t abort_after, const char *download, json_t **answer)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct upload_src src = {.abort_after = abort_after};
    struct sink sink = {.len = 0};
    char url[300], ct[160];
    struct stat st;
    long status = 0;

    if (answer)
        *answer = NULL;
    if (!c)
        return 0;
    snprintf(url, sizeof(url), "%s%s", serverproc_url(fleet->server), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, serverproc_ca(fleet->server));
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    h = curl_slist_append(h, auth_line);
    if (upload) {
        src.f = fopen(upload, "r");
        if (!src.f || fstat(fileno(src.f), &st) != 0)
            goto out;
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
    }
    if (download && !(sink.f = fopen(download, "w")))
        goto out;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (answer && !download)
        *answer = json_loads(sink.text, 0, NULL);
out:
    if (src.f)
        fclose(src.f);
    if (sink.f && fclose(sink.f) != 0)
        status = 0;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static long upload_as_agent(long long cmd_id, const char *file, const char *content_type, uint64_t abort_after,
                            json_t **answer)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/file", cmd_id);
    return transfer(fleet->agent.auth, path, file, content_type, abort_after, NULL, answer);
}

/* The server's peak resident memory (VmHWM) in KiB, or -1. */
static long vm_hwm_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

/* How many of the server's open files are in <data_dir>/<sub> (a
 * temporary upload file, named or not, included). */
static int server_files_open(const char *sub)
{
    char fddir[64], want[700];
    struct dirent *de;
    int n = 0;
    DIR *d;

    snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)serverproc_pid(fleet->server));
    snprintf(want, sizeof(want), "%s/%s/", serverproc_data_dir(fleet->server), sub);
    d = opendir(fddir);
    while (d && (de = readdir(d))) {
        char link[800], target[800];
        ssize_t len;
        snprintf(link, sizeof(link), "%s/%s", fddir, de->d_name);
        len = readlink(link, target, sizeof(target) - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, want, strlen(want)) == 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Entries in <data_dir>/<sub> (a missing directory has none). */
static int entries_in(const char *sub)
{
    char path[700];
    struct dirent *de;
    int n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "%s/%s", serverproc_data_dir(fleet->server), sub);
    d = opendir(path);
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

/* Nothing of an upload is left in <data_dir>/<sub>: no entry, no open
 * file (the server lets go of an aborted upload once its connection
 * ends: waits up to 10 s for that). */
static bool nothing_left(const char *sub)
{
    for (int i = 0; i < 100 && server_files_open(sub) > 0; i++)
        usleep(100000);
    return server_files_open(sub) == 0 && entries_in(sub) == 0;
}

static const char *message_of(json_t *answer)
{
    return json_string_value(json_object_get(json_object_get(answer, "error"), "message")) ?: "";
}

/* Queues command `type` with args_json for the enrolled device straight
 * in the server's store (a type no API of this build may queue), from a
 * child that became the server's user. Returns its id, or 0. */
static long long store_command(const char *type, const char *args_json)
{
    int p[2], status;
    long long id = 0;
    char text[64] = "";
    ssize_t n;
    pid_t pid;

    if (pipe(p) != 0)
        return 0;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct passwd *pw = getpwnam("nobody");
        struct server_config cfg;
        struct store *st = NULL;
        char uri[1200], err[256];
        int64_t cid = 0;

        close(p[0]);
        if (!pw || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(2);
        config_defaults(&cfg);
        snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", serverproc_data_dir(fleet->server));
        config_store_uri(&cfg, uri, sizeof(uri));
        if (store_open(&st, uri, err, sizeof(err)) != 0)
            _exit(3);
        if (store_command_create(st, fleet->agent.id, type, args_json, "test", 1000, &cid) != 0)
            _exit(4);
        store_close(st);
        dprintf(p[1], "%lld", (long long)cid);
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], text, sizeof(text) - 1);
    close(p[0]);
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || n <= 0)
        return 0;
    text[n] = '\0';
    id = atoll(text);
    return id;
}

static bool file_hash(const char *path, char hex[65])
{
    uint64_t n;
    return collect_sha256_file(path, hex, &n) == 0;
}

/* Above the limit: 413 and nothing kept; a client gone mid-upload leaves
 * nothing; within it, the package arrives whole and downloads identical. */
static void e2e_upload_limits(void)
{
    char big[300], part[300], good[300], back[300], hex[65], hex2[65], path[96];
    long long id, cmd_id;
    long status;
    json_t *j;

    FLEET_START(&fleet, &collect_fleet, "max_package_bytes=1048576");
    /* the agent does not run: this test takes the command itself */
    id = collect_action(&cmd_id, &status);
    CHECK_MSG(id > 0 && cmd_id > 0, "POST /api/v1/actions: %ld", status);
    CHECK(agent_takes(cmd_id));
    snprintf(big, sizeof(big), "%s/big.tar.gz", fleet->dir);
    snprintf(part, sizeof(part), "%s/part.tar.gz", fleet->dir);
    snprintf(good, sizeof(good), "%s/good.tar.gz", fleet->dir);
    snprintf(back, sizeof(back), "%s/back.tar.gz", fleet->dir);
    CHECK(make_file(big, 2u << 20, true, 1) && make_file(part, 900u << 10, true, 2) &&
          make_file(good, 1u << 20, true, 3));
    /* 2 MiB against a 1 MiB limit */
    status = upload_as_agent(cmd_id, big, "application/gzip", 0, &j);
    CHECK_MSG(status == 413 && strstr(message_of(j), "1048576") && strstr(message_of(j), "max_package_bytes"),
              "an oversized upload: %ld %s", status, message_of(j));
    json_decref(j);
    CHECK_MSG(nothing_left("packages"), "the refused upload left something in packages/");
    /* the client goes away after 300 KiB of 900 */
    status = upload_as_agent(cmd_id, part, "application/gzip", 300u << 10, &j);
    json_decref(j);
    CHECK_MSG(status == 0, "an aborted upload was answered %ld", status);
    CHECK_MSG(nothing_left("packages"), "the aborted upload left a file or an open temporary file");
    /* exactly at the limit: taken */
    status = upload_as_agent(cmd_id, good, "application/gzip", 0, &j);
    CHECK_MSG(status == 200, "an upload at the limit: %ld %s", status, message_of(j));
    CHECK(file_hash(good, hex));
    CHECK_STR(jstr(j, "package_sha256"), hex);
    CHECK_INT(json_integer_value(json_object_get(j, "package_bytes")), ==, 1 << 20);
    json_decref(j);
    /* only once */
    status = upload_as_agent(cmd_id, part, "application/gzip", 0, &j);
    CHECK_MSG(status == 409, "a second upload: %ld %s", status, message_of(j));
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/package", id);
    status = transfer(responder, path, NULL, NULL, 0, back, NULL);
    CHECK_INT(status, ==, 200);
    CHECK(file_hash(back, hex2));
    CHECK_STR(hex2, hex);
}

/* A 64 MiB package goes up and comes back identical while the server's
 * peak resident memory grows by far less than its size. The sanitizer
 * build keeps freed memory in a quarantine (256 MiB by default), which
 * TLS records churning through malloc and free fill, so this server gets
 * a 1 MiB one: what stays resident is then what is live. */
static void e2e_large_package_memory(void)
{
    const uint64_t size = 64u << 20;
    char file[300], back[300], hex[65], hex2[65], path[96], asan[600];
    const char *old_asan = getenv("ASAN_OPTIONS");
    char *saved = old_asan ? strdup(old_asan) : NULL;
    long long id, cmd_id;
    long status, before, after;
    json_t *j;

    snprintf(asan, sizeof(asan), "%s%squarantine_size_mb=1:thread_local_quarantine_size_kb=64", saved ? saved : "",
             saved && *saved ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    {
        /* the server inherits it; this process keeps its own settings */
        char why_[1200] = "";
        bool ok = check_is_root() && (fleet = fleet_start(&collect_fleet, why_, sizeof(why_))) != NULL;
        if (saved)
            setenv("ASAN_OPTIONS", saved, 1);
        else
            unsetenv("ASAN_OPTIONS");
        free(saved);
        if (!check_is_root())
            SKIP("needs root (the server drops to nobody)");
        CHECK_MSG(ok, "%s", why_);
    }
    id = collect_action(&cmd_id, &status);
    CHECK_MSG(id > 0 && cmd_id > 0, "POST /api/v1/actions: %ld", status);
    CHECK(agent_takes(cmd_id));
    snprintf(file, sizeof(file), "%s/large.tar.gz", fleet->dir);
    snprintf(back, sizeof(back), "%s/large-back.tar.gz", fleet->dir);
    CHECK(make_file(file, size, true, 42));
    CHECK(file_hash(file, hex));
    before = vm_hwm_kib(serverproc_pid(fleet->server));
    CHECK(before > 0);
    status = upload_as_agent(cmd_id, file, "application/gzip", 0, &j);
    CHECK_MSG(status == 200, "upload: %ld %s", status, message_of(j));
    CHECK_STR(jstr(j, "package_sha256"), hex);
    json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/package", id);
    status = transfer(responder, path, NULL, NULL, 0, back, NULL);
    CHECK_INT(status, ==, 200);
    CHECK(file_hash(back, hex2));
    CHECK_STR(hex2, hex);
    after = vm_hwm_kib(serverproc_pid(fleet->server));
    fprintf(stderr, "server VmHWM %ld KiB before, %ld KiB after a 64 MiB upload and download\n", before, after);
    CHECK_MSG(after - before < (long)(size / 2 / 1024), "the server's peak memory grew by %ld KiB for a %llu KiB package",
              after - before, (unsigned long long)(size / 1024));
}

/* A live getfile's file: any content, as application/octet-stream, kept
 * under files/<id> and found by packages_file_info. */
static void e2e_getfile_upload(void)
{
    char file[300], hex[65], got_hex[65], got_path[1100], want_path[1100], kept[65];
    struct server srv;
    long long getfile, dir_cmd;
    uint64_t bytes = 0;
    long status;
    json_t *j;

    FLEET_START(&fleet, &collect_fleet, NULL);
    getfile = store_command("live", "{\"session\":1,\"command\":\"getfile\",\"cwd\":\"/\",\"args\":{\"path\":\"/x\"}}");
    dir_cmd = store_command("live", "{\"session\":1,\"command\":\"dir\",\"cwd\":\"/\",\"args\":{\"path\":\"/\"}}");
    CHECK_MSG(getfile > 0 && dir_cmd > 0, "cannot queue live commands in the store");
    snprintf(file, sizeof(file), "%s/getfile.bin", fleet->dir);
    CHECK(make_file(file, 300u << 10, false, 7));
    CHECK(file_hash(file, hex));
    /* not running yet */
    status = upload_as_agent(getfile, file, "application/octet-stream", 0, &j);
    CHECK_MSG(status == 409, "a getfile not started: %ld %s", status, message_of(j));
    json_decref(j);
    CHECK(agent_takes(getfile) && agent_takes(dir_cmd));
    /* another live command uploads nothing */
    status = upload_as_agent(dir_cmd, file, "application/octet-stream", 0, &j);
    CHECK_MSG(status == 409 && strstr(message_of(j), "getfile"), "a live dir: %ld %s", status, message_of(j));
    json_decref(j);
    /* the wrong content type */
    status = upload_as_agent(getfile, file, "application/gzip", 0, &j);
    CHECK_MSG(status == 415, "getfile as gzip: %ld %s", status, message_of(j));
    json_decref(j);
    CHECK(nothing_left("files"));
    /* taken, whatever it holds */
    status = upload_as_agent(getfile, file, "application/octet-stream", 0, &j);
    CHECK_MSG(status == 200, "getfile: %ld %s", status, message_of(j));
    CHECK_STR(jstr(j, "sha256"), hex);
    CHECK_INT(json_integer_value(json_object_get(j, "bytes")), ==, 300 << 10);
    json_decref(j);
    snprintf(want_path, sizeof(want_path), "%s/files/%lld", serverproc_data_dir(fleet->server), getfile);
    CHECK(file_hash(want_path, kept));
    CHECK_STR(kept, hex);
    status = upload_as_agent(getfile, file, "application/octet-stream", 0, &j);
    CHECK_MSG(status == 409, "a second getfile upload: %ld %s", status, message_of(j));
    json_decref(j);
    /* what other modules see */
    memset(&srv, 0, sizeof(srv));
    snprintf(srv.cfg.data_dir, sizeof(srv.cfg.data_dir), "%s", serverproc_data_dir(fleet->server));
    CHECK_INT(packages_file_info(&srv, getfile, got_path, sizeof(got_path), got_hex, &bytes), ==, 0);
    CHECK_STR(got_path, want_path);
    CHECK_STR(got_hex, hex);
    CHECK(bytes == 300u << 10);
    CHECK_INT(packages_file_info(&srv, dir_cmd, got_path, sizeof(got_path), got_hex, &bytes), ==, -ENOENT);
    CHECK_INT(packages_file_info(&srv, getfile, got_path, 8, got_hex, &bytes), ==, -ENAMETOOLONG);
}

/* ------------------------------------------------------------ stopping during an upload */

struct bg_collect {
    struct command cmd;
    struct jsonw out;
    char err[4096];
    int e;
    bool done;
};

static void *bg_collect_main(void *arg)
{
    struct bg_collect *b = arg;
    b->e = collect_command(&b->cmd, &b->out, b->err, sizeof(b->err));
    __atomic_store_n(&b->done, true, __ATOMIC_RELEASE);
    return NULL;
}

/* Joins t within limit_s seconds (a hang becomes a failure, not a stuck
 * test); false when it did not end. */
static bool join_within(pthread_t t, const bool *done, int limit_s)
{
    for (int i = 0; i < limit_s * 1000 && !__atomic_load_n(done, __ATOMIC_ACQUIRE); i++)
        usleep(1000);
    if (!__atomic_load_n(done, __ATOMIC_ACQUIRE))
        return false;
    pthread_join(t, NULL);
    return true;
}

/* An upload hangs in the TLS handshake of a listener that never answers;
 * the agent stops: channel_stop aborts it, collect_set_channel(NULL)
 * waits for it, and only then is the channel freed (ASan would see any
 * later use). A collect that reaches its upload afterwards fails without
 * a channel. */
static void upload_joined_at_stop(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    static struct bg_collect bg, later;
    struct agent_conf conf;
    struct channel *chan = NULL;
    struct pollfd pfd;
    char err[1024], path[300], state[300];
    pthread_t t;
    bool started = false;
    int lfd = -1, cfd = -1;

    FLEET_START(&fleet, &collect_fleet, NULL);
    snprintf(path, sizeof(path), "%s/etc/agent.conf", fleet->dir);
    CHECK_MSG(agentconf_load(&conf, path, err, sizeof(err)) == 0, "%s", err);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&sa, &slen) == 0);
    snprintf(conf.server_url, sizeof(conf.server_url), "https://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    CHECK_MSG(channel_global_init(err, sizeof(err)) == 0, "%s", err);
    if (channel_new(&chan, &conf, err, sizeof(err)) != 0) {
        channel_global_cleanup();
        close(lfd);
        CHECK_MSG(false, "channel_new: %s", err);
    }
    snprintf(state, sizeof(state), "%s/state", fleet->dir);
    remfs_set_state_dir(state);
    collect_set_channel(chan);
    memset(&bg, 0, sizeof(bg));
    bg.cmd = (struct command){.id = 4242, .type = "collect", .args = json_object()};
    jsonw_init(&bg.out);
    if (pthread_create(&t, NULL, bg_collect_main, &bg) != 0) {
        snprintf(err, sizeof(err), "cannot start a thread");
        goto fail;
    }
    started = true;
    /* the package is built, then its upload connects and waits for a
     * ServerHello that never comes */
    pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
    if (poll(&pfd, 1, 120000) != 1 || (cfd = accept(lfd, NULL, NULL)) < 0) {
        snprintf(err, sizeof(err), "the upload never connected");
        goto fail;
    }
    /* the agent stops: the channel, then collect's hold on it (a hang
     * here would be the bug: the alarm ends the test then), then the
     * channel is freed at once, while the collect may still be on its way
     * out — it must be off the channel already (ASan sees any later use) */
    channel_stop(chan);
    alarm(300);
    collect_set_channel(NULL);
    alarm(0);
    channel_free(chan);
    chan = NULL;
    if (!join_within(t, &bg.done, 120)) {
        snprintf(err, sizeof(err), "the collect did not end after its upload was aborted");
        goto fail;
    }
    close(cfd);
    close(lfd);
    lfd = cfd = -1;
    json_decref(bg.cmd.args);
    jsonw_free(&bg.out);
    CHECK_MSG(bg.e != 0 && strstr(bg.err, "could not be uploaded"), "the aborted upload: %d %s", bg.e, bg.err);
    /* a collect that gets to its upload now finds no channel */
    memset(&later, 0, sizeof(later));
    later.cmd = (struct command){.id = 4243, .type = "collect", .args = json_object()};
    jsonw_init(&later.out);
    later.e = collect_command(&later.cmd, &later.out, later.err, sizeof(later.err));
    json_decref(later.cmd.args);
    jsonw_free(&later.out);
    channel_global_cleanup();
    CHECK_MSG(later.e == -ENOTCONN && strstr(later.err, "no channel"), "after the stop: %d %s", later.e, later.err);
    return;
fail:
    /* the collect is joined before anything it uses goes; one that never
     * ends keeps it all (the test has failed then anyway) */
    if (started) {
        if (chan)
            channel_stop(chan);
        collect_set_channel(NULL);
        started = !join_within(t, &bg.done, 120);
    }
    if (cfd >= 0)
        close(cfd);
    if (lfd >= 0)
        close(lfd);
    if (!started) {
        channel_free(chan);
        json_decref(bg.cmd.args);
        jsonw_free(&bg.out);
        channel_global_cleanup();
    }
    CHECK_MSG(false, "%s", err);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"builds_package", builds_package},
        {"unwritable_leaves_nothing", unwritable_leaves_nothing},
        {"sha256_of_file", sha256_of_file},
        {"e2e_collect", e2e_collect},
        {"e2e_package_too_big", e2e_package_too_big},
        {"e2e_hostile_uploads", e2e_hostile_uploads},
        {"e2e_upload_limits", e2e_upload_limits},
        {"e2e_large_package_memory", e2e_large_package_memory},
        {"e2e_getfile_upload", e2e_getfile_upload},
        {"upload_joined_at_stop", upload_joined_at_stop},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("collect", cases, argc, argv);
}
