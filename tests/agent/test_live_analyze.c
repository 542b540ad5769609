/*
 * test_live_analyze.c — live response's `analyze` on the agent
 * (src/agent/live_analyze.c), on files and processes made here:
 *
 *   - a miner configuration (harmless text with what the shipped YARA rule
 *     looks for) is malicious by the yara engine, with its SHA-256;
 *   - a file whose SHA-256 the server gives as an indicator is malicious
 *     by the indicator engine (through live_command, as the server sends it);
 *   - an executable in /tmp is suspicious by its location; a plain text
 *     file there is clean with the location only noted;
 *   - /usr/bin/ls is clean, owned by coreutils as dpkg recorded it;
 *   - in a private mount namespace (root): an executable no package owns
 *     in /usr/libexec, started by a cron entry, is suspicious by the
 *     package and persistence engines (the entry's id and source named),
 *     and a modified /usr/bin/true is malicious by the package engine;
 *   - a running child process: its user, parents and command line, the
 *     TCP socket it listens on and the connection it holds;
 *   - a process whose executable in /tmp was deleted after it started is
 *     suspicious, with the deleted image hashed through /proc/PID/exe;
 *   - a missing file and a process that does not exist are refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/live.h"
#include "check.h"
#include "sandbox.h"
#include "tmpdir.h"

#define MINER_CONFIG                                                                                         \
    "{\n  \"autosave\": true,\n  \"cpu\": {\"enabled\": true, \"max-threads-hint\": 50},\n"                   \
    "  \"donate-level\": 1,\n  \"pools\": [\n    {\"url\": \"stratum+tcp://pool.example.invalid:3333\",\n"  \
    "     \"user\": \"TEST-NOT-A-WALLET\", \"algo\": \"rx/0\"}\n  ]\n}\n"
#define ELF_BYTES "\x7f" "ELF\x02\x01\x01\x00 an implant planted by the test\n"

static char root[64];
static pid_t child = -1;

static void teardown(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    tmpdir_remove(root);
}

static bool write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
    if (fd >= 0)
        close(fd);
    return ok && chmod(path, mode) == 0;
}

static void sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* analyze with args (JSON text) and indicators (JSON array text or NULL)
 * through live_command; the output parsed into *out. */
static int analyze(const char *args, const char *indicators, json_t **out, char *err, size_t errlen)
{
    struct command cmd = {.id = 5, .type = "live"};
    char text[PATH_MAX + 2048];
    struct jsonw w;
    int e;

    *out = NULL;
    snprintf(text, sizeof(text), "{\"session\": 1, \"command\": \"analyze\", \"cwd\": \"/\", \"args\": %s%s%s}",
             args, indicators ? ", \"indicators\": " : "", indicators ? indicators : "");
    cmd.args = json_loads(text, 0, NULL);
    if (!cmd.args) {
        snprintf(err, errlen, "bad test JSON %s", text);
        return -EINVAL;
    }
    jsonw_init(&w);
    err[0] = '\0';
    e = live_command(&cmd, &w, err, errlen);
    if (!e && !(*out = json_loadb(w.buf, w.len, 0, NULL))) {
        snprintf(err, errlen, "the output is not JSON");
        e = -EINVAL;
    }
    jsonw_free(&w);
    json_decref(cmd.args);
    return e;
}

static int analyze_file(const char *path, const char *indicators, json_t **out, char *err, size_t errlen)
{
    char args[PATH_MAX + 64];
    snprintf(args, sizeof(args), "{\"kind\": \"file\", \"target\": \"%s\"}", path);
    return analyze(args, indicators, out, err, errlen);
}

static int analyze_pid(int pid, json_t **out, char *err, size_t errlen)
{
    char args[64];
    snprintf(args, sizeof(args), "{\"kind\": \"process\", \"target\": %d}", pid);
    return analyze(args, NULL, out, err, errlen);
}

static const char *sget(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The first reason of engine (with verdict, NULL: any) whose text holds
 * needle (NULL: any). */
static json_t *reason(json_t *o, const char *engine, const char *verdict, const char *needle)
{
    size_t i;
    json_t *r;

    json_array_foreach(json_object_get(o, "reasons"), i, r) {
        if (strcmp(sget(r, "engine") ? sget(r, "engine") : "", engine) != 0)
            continue;
        if (verdict && strcmp(sget(r, "verdict") ? sget(r, "verdict") : "", verdict) != 0)
            continue;
        if (needle && !strstr(sget(r, "reason") ? sget(r, "reason") : "", needle))
            continue;
        return r;
    }
    return NULL;
}

/* The reasons as text, for failure messages. */
static const char *show(json_t *o)
{
    static char buf[4096];
    char *s = json_dumps(json_object_get(o, "reasons"), JSON_COMPACT);
    snprintf(buf, sizeof(buf), "%s", s ? s : "?");
    free(s);
    return buf;
}

/* ------------------------------------------------------------ files */

static void yara_sample_is_malicious(void)
{
    char path[PATH_MAX], err[1024], sha[65];
    json_t *o;

    CHECK(tmpdir_make(root, sizeof(root), "livea"));
    snprintf(path, sizeof(path), "%s/config.json", root);
    CHECK(write_file(path, MINER_CONFIG, strlen(MINER_CONFIG), 0644));
    sha256_hex(MINER_CONFIG, strlen(MINER_CONFIG), sha);
    CHECK_MSG(analyze_file(path, NULL, &o, err, sizeof(err)) == 0, "%s", err);
    CHECK_STR(sget(o, "verdict"), "malicious");
    CHECK_MSG(reason(o, "yara", "malicious", "Yamori_Miner_Config"), "%s", show(o));
    CHECK_STR(sget(o, "sha256"), sha);
    CHECK_STR(sget(o, "kind"), "file");
    CHECK_STR(sget(o, "path"), path);
    CHECK_MSG(strncmp(sget(json_object_get(o, "engines"), "yara") ?: "", "ok", 2) == 0, "yara: %s",
              sget(json_object_get(o, "engines"), "yara"));
    json_decref(o);
}

static void indicator_is_malicious(void)
{
    static const char bytes[] = "a file the server's alerts name by its hash\n";
    char path[PATH_MAX], err[1024], sha[65], iocs[160];
    json_t *o;

    CHECK(tmpdir_make(root, sizeof(root), "livea"));
    snprintf(path, sizeof(path), "%s/named.bin", root);
    CHECK(write_file(path, bytes, strlen(bytes), 0644));
    sha256_hex(bytes, strlen(bytes), sha);
    CHECK_MSG(analyze_file(path, "[]", &o, err, sizeof(err)) == 0, "%s", err);
    CHECK_MSG(!reason(o, "indicator", NULL, NULL), "%s", show(o));
    json_decref(o);
    snprintf(iocs, sizeof(iocs), "[\"%s\"]", sha);
    CHECK_MSG(analyze_file(path, iocs, &o, err, sizeof(err)) == 0, "%s", err);
    CHECK_STR(sget(o, "verdict"), "malicious");
    CHECK_MSG(reason(o, "indicator", "malicious", NULL), "%s", show(o));
    json_decref(o);
}

static void location_weighs_for_executables(void)
{
    char path[PATH_MAX], err[1024];
    json_t *o;

    CHECK(tmpdir_make(root, sizeof(root), "livea"));
    snprintf(path, sizeof(path), "%s/tool", root);
    CHECK(write_file(path, "#!/bin/sh\necho hi\n", 18, 0755));
    CHECK_MSG(analyze_file(path, NULL, &o, err, sizeof(err)) == 0, "%s", err);
    CHECK_STR(sget(o, "verdict"), "suspicious");
    CHECK_MSG(reason(o, "location", "suspicious", "/tmp"), "%s", show(o));
    json_decref(o);

    snprintf(path, sizeof(path), "%s/.notes.txt", root);
    CHECK(write_file(path, "shopping list\n", 14, 0644));
    CHECK_MSG(analyze_file(path, NULL, &o, err, sizeof(err)) == 0, "%s", err);
    CHECK_STR(sget(o, "verdict"), "clean");
    CHECK_MSG(reason(o, "location", "info", "hidden"), "%s", show(o));
    CHECK_MSG(reason(o, "location", "info", "/tmp"), "%s", show(o));
    json_decref(o);
}

static void packaged_file_is_clean(void)
{
    char err[1024];
    json_t *o;

    CHECK_MSG(analyze_file("/usr/bin/ls", NULL, &o, err, sizeof(err)) == 0, "%s", err);
    CHECK_MSG(strcmp(sget(o, "verdict"), "clean") == 0, "%s: %s", sget(o, "verdict"), show(o));
    CHECK_MSG(reason(o, "package", "info", "coreutils"), "%s", show(o));
    json_decref(o);
}

static void refusals(void)
{
    char err[1024], path[PATH_MAX];
    json_t *o;

    CHECK(tmpdir_make(root, sizeof(root), "livea"));
    snprintf(path, sizeof(path), "%s/missing", root);
    CHECK_INT(analyze_file(path, NULL, &o, err, sizeof(err)), ==, -ENOENT);
    CHECK_MSG(strstr(err, "does not exist"), "%s", err);
    CHECK_INT(analyze_pid(2147483000, &o, err, sizeof(err)), ==, -ESRCH);
    CHECK_MSG(strstr(err, "no process"), "%s", err);
    CHECK_INT(analyze_file(root, NULL, &o, err, sizeof(err)), ==, -EINVAL); /* a directory */
}

/* ------------------------------------------------------------ a sandboxed system path */

static const char *const planted_in[] = {"/usr/libexec", "/etc/cron.d", NULL};

/* In a private mount namespace: /usr/libexec and /etc/cron.d are empty
 * tmpfs mounts holding what is planted, /usr/bin/true is a modified copy
 * (bound from the sandbox's work directory, a tmpfs too). */
static const struct sandbox_options sandbox = {
    .needs = "a private mount namespace",
    .workdir = "livea-sys", .dir = root, .dirlen = sizeof(root), .workdir_tmpfs = true,
    .tmpfs = planted_in, .tmpfs_options = "mode=0755,size=1m",
};

static void body_system_path(void)
{
    char err[1024], copy[PATH_MAX];
    json_t *o = NULL, *r;

    snprintf(copy, sizeof(copy), "%s/true", root);
    CHECK_MSG(write_file("/usr/libexec/yamori-implant", ELF_BYTES, sizeof(ELF_BYTES) - 1, 0755) &&
                  write_file("/etc/cron.d/yamori-test", "* * * * * root /usr/libexec/yamori-implant\n", 43, 0644) &&
                  write_file(copy, ELF_BYTES, sizeof(ELF_BYTES) - 1, 0755) &&
                  mount(copy, "/usr/bin/true", NULL, MS_BIND, NULL) == 0,
              "planting: %s", strerror(errno));
    CHECK_MSG(analyze_file("/usr/libexec/yamori-implant", NULL, &o, err, sizeof(err)) == 0, "analyze implant: %s", err);
    r = reason(o, "persistence", "suspicious", "yamori-test");
    CHECK_MSG(strcmp(sget(o, "verdict"), "suspicious") == 0 && reason(o, "package", "suspicious", "no installed package") &&
                  r && strcmp(sget(r, "id") ?: "", "yamori-test") == 0 &&
                  strcmp(sget(r, "source") ?: "", "/etc/cron.d/yamori-test") == 0,
              "implant: verdict %s, reasons %s", sget(o, "verdict"), show(o));
    json_decref(o);
    o = NULL;
    CHECK_MSG(analyze_file("/usr/bin/true", NULL, &o, err, sizeof(err)) == 0, "analyze true: %s", err);
    CHECK_MSG(strcmp(sget(o, "verdict"), "malicious") == 0 && reason(o, "package", "malicious", "coreutils"),
              "modified true: verdict %s, reasons %s", sget(o, "verdict"), show(o));
    json_decref(o);
}

static void sandboxed_system_path(void)
{
    sandbox_run(&sandbox, body_system_path);
}

/* ------------------------------------------------------------ processes */

/* A child holding a listening TCP socket and a connection to it. */
static void process_facts(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    char err[1024], want[64], mypid[32];
    int ls, p[2];
    json_t *o;
    char ready;

    ls = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(ls >= 0);
    CHECK(bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(ls, 4) == 0);
    CHECK(getsockname(ls, (struct sockaddr *)&a, &alen) == 0);
    CHECK(pipe(p) == 0);
    child = fork();
    if (child == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
            _exit(1);
        (void)!write(p[1], "r", 1);
        pause();
        _exit(0);
    }
    close(p[1]);
    CHECK(read(p[0], &ready, 1) == 1);
    close(p[0]);
    CHECK_MSG(analyze_pid(child, &o, err, sizeof(err)) == 0, "%s", err);
    close(ls);
    CHECK_STR(sget(o, "kind"), "process");
    CHECK_INT(json_integer_value(json_object_get(o, "pid")), ==, child);
    CHECK(sget(o, "sha256") && strlen(sget(o, "sha256")) == 64);
    CHECK_MSG(reason(o, "process", "info", "runs as user root"), "%s", show(o));
    snprintf(mypid, sizeof(mypid), "%d (", (int)getpid());
    CHECK_MSG(reason(o, "process", "info", mypid), "the parents do not name this test (%d): %s", (int)getpid(),
              show(o));
    CHECK_MSG(reason(o, "process", "info", "its command line"), "%s", show(o));
    snprintf(want, sizeof(want), "listens on 127.0.0.1:%u", ntohs(a.sin_port));
    CHECK_MSG(reason(o, "network", "info", want), "no '%s': %s", want, show(o));
    snprintf(want, sizeof(want), "talks to 127.0.0.1:%u", ntohs(a.sin_port));
    CHECK_MSG(reason(o, "network", "info", want), "no '%s': %s", want, show(o));
    json_decref(o);
}

static void deleted_image_is_suspicious(void)
{
    char path[PATH_MAX], err[1024], cmd[PATH_MAX + 64], secs[] = "300", sha[65];
    char *argv[] = {path, secs, NULL};
    unsigned char *buf = NULL;
    json_t *o;
    FILE *f;
    size_t n;

    CHECK(tmpdir_make(root, sizeof(root), "livea"));
    snprintf(path, sizeof(path), "%s/sleeper", root);
    snprintf(cmd, sizeof(cmd), "cp /bin/sleep '%s'", path);
    CHECK(system(cmd) == 0);
    f = fopen(path, "rb");
    CHECK(f);
    buf = malloc(4 << 20);
    n = fread(buf, 1, 4 << 20, f);
    fclose(f);
    sha256_hex(buf, n, sha);
    free(buf);
    CHECK(posix_spawn(&child, path, NULL, NULL, argv, NULL) == 0);
    for (int i = 0; i < 200; i++) { /* until it runs the copy */
        char link[64], target[PATH_MAX];
        ssize_t r;
        snprintf(link, sizeof(link), "/proc/%d/exe", (int)child);
        r = readlink(link, target, sizeof(target) - 1);
        if (r > 0 && (target[r] = '\0', strcmp(target, path) == 0))
            break;
        usleep(10000);
    }
    CHECK(unlink(path) == 0);
    CHECK_MSG(analyze_pid(child, &o, err, sizeof(err)) == 0, "%s", err);
    CHECK_STR(sget(o, "verdict"), "suspicious");
    CHECK_MSG(reason(o, "location", "suspicious", "deleted"), "%s", show(o));
    CHECK(json_is_true(json_object_get(o, "deleted")));
    CHECK_STR(sget(o, "path"), path);
    CHECK_STR(sget(o, "sha256"), sha);
    json_decref(o);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"yara_sample_is_malicious", yara_sample_is_malicious},
        {"indicator_is_malicious", indicator_is_malicious},
        {"location_weighs_for_executables", location_weighs_for_executables},
        {"packaged_file_is_clean", packaged_file_is_clean},
        {"refusals", refusals},
        {"sandboxed_system_path", sandboxed_system_path},
        {"process_facts", process_facts},
        {"deleted_image_is_suspicious", deleted_image_is_suspicious},
        {NULL, NULL},
    };

    check_set_teardown(teardown);
    return check_main("live_analyze", cases, argc, argv);
}
