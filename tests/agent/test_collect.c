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
 * SHA-256 and size the output names and the expected entries. With a
 * max_package_bytes too small for it the upload is refused and the action
 * fails saying why. Hostile uploads (no such command for this device, a
 * command of another type, one not running, an oversized body, no
 * credentials) get 4xx and leave no package. These need root (the agent's sensor).
 */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
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
#include "agent/collect.h"
#include "agentproc.h"
#include "check.h"
#include "serverproc.h"

#define MAX_ENTRIES 4096

struct entry {
    char *name;
    char *data;
    size_t len;
};

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

static char dir[256];
static pid_t agent = -1;
static struct serverproc *server;
static char admin[256], responder[300];
static char device_id[80], device_auth[400];

static void teardown(void)
{
    free_entries();
    if (agent > 0) {
        kill(agent, SIGKILL);
        waitpid(agent, NULL, 0);
        agent = -1;
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

/* One request; the answer into r (free with serverproc_response_free). */
static void request(const char *auth_line, const char *method, const char *path, const char *body,
                    const char *content_type, struct serverproc_response *r)
{
    char ct[128];
    const char *headers[] = {auth_line, content_type ? ct : NULL, NULL};
    if (content_type)
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    memset(r, 0, sizeof(*r));
    if (serverproc_request(server, method, path, body, headers, r) != 0)
        r->status = 0;
}

static json_t *call(const char *auth_line, const char *method, const char *path, const char *body, long *status)
{
    struct serverproc_response r;
    json_t *out;

    request(auth_line, method, path, body, NULL, &r);
    *status = r.status;
    out = json_incref(r.json);
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

/* Enrolls a device with its configuration in dir/<etc_name>; its id and
 * the Authorization header line of its secret. */
static bool enroll_device(const char *etc_name, char *id, size_t idlen, char *auth, size_t authlen, char *why,
                          size_t whylen)
{
    char err[1024], pkg[300], etc[280], arg_dir[320], path[300], secret[300];
    json_t *answer, *package;
    struct agent_conf c;
    long status;
    int rc;

    answer = as_admin("POST", "/api/v1/onboarding", "{\"group\": \"collect test\"}", &status);
    package = json_object_get(answer, "package");
    if (status != 201 || !json_is_object(package)) {
        snprintf(why, whylen, "onboarding: %ld", status);
        json_decref(answer);
        return false;
    }
    snprintf(pkg, sizeof(pkg), "%s/%s.package.json", dir, etc_name);
    json_object_set_new(package, "server_urls", json_pack("[s]", serverproc_url(server)));
    rc = json_dump_file(package, pkg, 0);
    json_decref(answer);
    if (rc != 0) {
        snprintf(why, whylen, "cannot write the package");
        return false;
    }
    snprintf(etc, sizeof(etc), "%s/%s", dir, etc_name);
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
    if (agentconf_load(&c, path, err, sizeof(err)) != 0 ||
        agentconf_read_secret(c.secret_file, secret, sizeof(secret), err, sizeof(err)) != 0) {
        snprintf(why, whylen, "%s", err);
        return false;
    }
    snprintf(id, idlen, "%s", c.device_id);
    snprintf(auth, authlen, "Authorization: Device %s:%s", c.device_id, secret);
    snprintf(c.server_url, sizeof(c.server_url), "%s", serverproc_url(server));
    if (agentconf_save(&c, path, err, sizeof(err)) != 0) {
        snprintf(why, whylen, "cannot rewrite agent.conf: %s", err);
        return false;
    }
    return true;
}

static bool enroll(const char *const *sets, char *why, size_t whylen)
{
    struct serverproc_options so = {.sets = sets};
    char err[1024], path[300];
    json_t *j;
    long status;

    snprintf(dir, sizeof(dir), "/tmp/yamori-collect-e2e.XXXXXX");
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
    if (!enroll_device("etc", device_id, sizeof(device_id), device_auth, sizeof(device_auth), why, whylen))
        return false;
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

/* Creates a collect action; its id and its command's id. */
static long long collect_action(long long *command_id, long *status)
{
    char body[300];
    json_t *j;
    long long id;

    snprintf(body, sizeof(body), "{\"type\":\"collect\",\"device\":\"%s\",\"target\":{}}", device_id);
    j = call(responder, "POST", "/api/v1/actions", body, status);
    id = *status == 201 ? json_integer_value(json_object_get(j, "id")) : 0;
    json_decref(j);
    if (command_id) {
        char path[64];
        long st;
        *command_id = 0;
        snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
        for (int i = 0; i < 50 && id && !*command_id; i++) {
            j = as_admin("GET", path, NULL, &st);
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
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    for (int i = 0; i < 1200; i++) {
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

static void hex_sha256(const void *data, size_t len, char hex[65])
{
    char path[300];
    uint64_t n;
    FILE *f;
    snprintf(path, sizeof(path), "%s/hash.tmp", dir);
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

static void e2e_collect(void)
{
    struct serverproc_response r;
    long long id;
    long status;
    json_t *a, *out;
    char path[300], line[64], hex[65];
    FILE *f;

    SETUP(NULL);
    RUN_AGENT();
    id = collect_action(NULL, &status);
    CHECK_MSG(id > 0, "POST /api/v1/actions: %ld", status);
    a = wait_final(id);
    CHECK_MSG(a && strcmp(jstr(a, "state"), "succeeded") == 0, "the collect action ended %s: %s",
              a ? jstr(a, "state") : "(never)", a ? jstr(a, "error") : "");
    out = json_object_get(a, "result");
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
    snprintf(path, sizeof(path), "%s/downloaded.tar.gz", dir);
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
    /* an action without one answers 404 */
    request(responder, "GET", "/api/v1/actions/999999/package", NULL, NULL, &r);
    CHECK(r.status == 404);
    serverproc_response_free(&r);
    /* the CLI: `yamori action package` gets the same bytes */
    {
        char cfg[400], cmd[2048], file[400], hex2[65];
        uint64_t n;
        int st;
        snprintf(cfg, sizeof(cfg), "%s/cli.json", dir);
        CHECK((f = fopen(cfg, "w")));
        fprintf(f, "{\"url\": \"%s\", \"ca\": \"%s\", \"token\": \"%s\"}\n", serverproc_url(server),
                serverproc_ca(server), responder + strlen("Authorization: Bearer "));
        fclose(f);
        snprintf(file, sizeof(file), "%s/cli.tar.gz", dir);
        snprintf(cmd, sizeof(cmd), "YAMORI_CONFIG=%s %s action package %lld --output %s >%s/cli.log 2>&1", cfg,
                 serverproc_binary(), id, file, dir);
        st = system(cmd);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "yamori action package failed (see %s/cli.log)", dir);
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

    SETUP("max_package_bytes=1024");
    RUN_AGENT();
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

    SETUP("max_package_bytes=2048");
    /* the agent does not run: the collect command stays queued */
    id = collect_action(&cmd_id, &status);
    CHECK_MSG(id > 0 && cmd_id > 0, "POST /api/v1/actions: %ld", status);
    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands", device_id);
    j = call(responder, "POST", path, "{\"type\":\"ping\"}", &status);
    ping_id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    CHECK_MSG(ping_id > 0, "queue a ping: %ld", status);
    snprintf(body, sizeof(body), "\x1f\x8b" "not really gzip");

    /* no such command */
    request(device_auth, "POST", "/api/v1/agent/commands/999999/file", body, "application/gzip", &r);
    CHECK_MSG(r.status == 404, "no such command: %ld", r.status);
    serverproc_response_free(&r);
    /* not running (queued) */
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/file", cmd_id);
    request(device_auth, "POST", path, body, "application/gzip", &r);
    CHECK_MSG(r.status == 409, "a command not running: %ld", r.status);
    serverproc_response_free(&r);
    /* oversized */
    memset(big, 'x', sizeof(big) - 1);
    big[0] = '\x1f';
    big[1] = '\x8b';
    big[sizeof(big) - 1] = '\0';
    request(device_auth, "POST", path, big, "application/gzip", &r);
    CHECK_MSG(r.status == 413, "oversized: %ld", r.status);
    serverproc_response_free(&r);
    /* a command of another type */
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/file", ping_id);
    request(device_auth, "POST", path, body, "application/gzip", &r);
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
        snprintf(pdir, sizeof(pdir), "%s/packages/%lld.tar.gz", serverproc_data_dir(server), cmd_id);
        CHECK(stat(pdir, &st) != 0);
    }
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
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("collect", cases, argc, argv);
}
