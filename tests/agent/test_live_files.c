/*
 * test_live_files.c — live response's file commands on the agent
 * (src/agent/live_files.c) and the `live` command's checks (live.c), run
 * in this process on a tree made under /tmp:
 *
 *   - cd answers the canonical directory (through a symbolic link) and
 *     refuses a file or a missing path;
 *   - dir lists every entry with its ls-style mode, owner, group, size,
 *     times and link target, full paths with -full_path, the package of
 *     /usr/bin/ls, one row for a file, and stops at 10,000 entries saying
 *     it was truncated;
 *   - fileinfo gives the SHA-256, SHA-1 and MD5 of the content (computed
 *     here too), mode, owner, an extended attribute, the process running
 *     the file, and for /bin/ls its package with its dpkg checksum
 *     matching; a symbolic link is described, not followed;
 *   - findfile finds exactly the planted names, stops at -max (truncated),
 *     stops when cancelled, refuses to start in /proc and, in a private
 *     mount namespace, does not enter a proc mounted inside the tree;
 *   - live_command refuses hostile arguments (unknown members, relative
 *     and ".." paths, a server-only command, indicators for another
 *     command, control characters) and runs a good one.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/live.h"
#include "check.h"
#include "sandbox.h"
#include "tmpdir.h"

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

/* Writes root/rel with content and mode. */
static bool put(const char *rel, const char *content, mode_t mode)
{
    char path[PATH_MAX];
    int fd;
    bool ok;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ok = fd >= 0 && write(fd, content, strlen(content)) == (ssize_t)strlen(content);
    if (fd >= 0)
        close(fd);
    return ok && chmod(path, mode) == 0;
}

/* Runs one live function with args (JSON text); the output parsed into *out. */
static int call_fn(live_fn fn, const char *cwd, const char *args, atomic_int *cancel, json_t **out, char *err,
                   size_t errlen)
{
    struct command cmd = {.id = 1, .type = "live", .cancel = cancel};
    json_t *a = json_loads(args, 0, NULL);
    struct live_call call = {.cmd = &cmd, .cwd = cwd, .args = a};
    struct jsonw w;
    int e;

    *out = NULL;
    err[0] = '\0';
    if (!a) {
        snprintf(err, errlen, "bad test args %s", args);
        return -EINVAL;
    }
    jsonw_init(&w);
    e = fn(&call, &w, err, errlen);
    if (!e) {
        json_error_t je;
        *out = json_loadb(w.buf, w.len, 0, &je);
        if (!*out) {
            snprintf(err, errlen, "output is not JSON: %s", je.text);
            e = -EINVAL;
        }
    }
    jsonw_free(&w);
    json_decref(a);
    return e;
}

/* The row of table whose member key is value, or NULL. */
static json_t *row_where(json_t *table, const char *key, const char *value)
{
    size_t i;
    json_t *r;

    json_array_foreach(json_object_get(table, "rows"), i, r)
        if (json_string_value(json_object_get(r, key)) && strcmp(json_string_value(json_object_get(r, key)), value) == 0)
            return r;
    return NULL;
}

static const char *sget(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ------------------------------------------------------------ cd */

static void cd_checks_the_directory(void)
{
    char path[PATH_MAX], args[PATH_MAX + 64], err[512], want[PATH_MAX];
    json_t *o;

    CHECK(tmpdir_make(root, sizeof(root), "livef"));
    CHECK(put("sub/file", "x", 0644));
    snprintf(path, sizeof(path), "%s/link", root);
    CHECK(symlink("sub", path) == 0);
    snprintf(want, sizeof(want), "%s/sub", root);

    snprintf(args, sizeof(args), "{\"path\": \"%s/sub\"}", root);
    CHECK_INT(call_fn(live_cd, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_STR(sget(o, "cwd"), want);
    json_decref(o);

    snprintf(args, sizeof(args), "{\"path\": \"%s/link\"}", root); /* followed: a person cd's through links */
    CHECK_INT(call_fn(live_cd, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_STR(sget(o, "cwd"), want);
    json_decref(o);

    snprintf(args, sizeof(args), "{\"path\": \"%s/sub/file\"}", root);
    CHECK_INT(call_fn(live_cd, "/", args, NULL, &o, err, sizeof(err)), ==, -ENOTDIR);
    CHECK_MSG(strstr(err, "not a directory"), "%s", err);

    snprintf(args, sizeof(args), "{\"path\": \"%s/missing\"}", root);
    CHECK_INT(call_fn(live_cd, "/", args, NULL, &o, err, sizeof(err)), ==, -ENOENT);
    CHECK_MSG(strstr(err, "does not exist"), "%s", err);
}

/* ------------------------------------------------------------ dir */

static void dir_lists_entries(void)
{
    char path[PATH_MAX], args[PATH_MAX + 64], err[512];
    json_t *o, *r;

    CHECK(tmpdir_make(root, sizeof(root), "livef"));
    CHECK(put("a.sh", "#!/bin/sh\n:\n", 0755));
    CHECK(put("b.txt", "abc", 0640));
    CHECK(put(".hidden", "secret", 0600));
    CHECK(put("d/inner", "", 0644));
    snprintf(path, sizeof(path), "%s/d", root);
    CHECK(chmod(path, 0700) == 0);
    snprintf(path, sizeof(path), "%s/link", root);
    CHECK(symlink("a.sh", path) == 0);
    snprintf(path, sizeof(path), "%s/fifo", root);
    CHECK(mkfifo(path, 0644) == 0);

    snprintf(args, sizeof(args), "{\"path\": \"%s\"}", root);
    CHECK_INT(call_fn(live_dir, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_STR(sget(o, "path"), root);
    CHECK_INT(json_integer_value(json_object_get(o, "entries")), ==, 6);
    CHECK(json_is_false(json_object_get(o, "truncated")));
    CHECK_STR(json_string_value(json_array_get(json_object_get(o, "columns"), 0)), "mode");
    /* sorted by name, hidden ones included, no . or .. */
    CHECK_STR(sget(json_array_get(json_object_get(o, "rows"), 0), "name"), ".hidden");
    r = row_where(o, "name", "a.sh");
    CHECK(r);
    CHECK_STR(sget(r, "mode"), "-rwxr-xr-x");
    CHECK_STR(sget(r, "type"), "file");
    CHECK_STR(sget(r, "owner"), "root");
    CHECK_STR(sget(r, "group"), "root");
    CHECK_INT(json_integer_value(json_object_get(r, "size")), ==, 12);
    CHECK(json_is_null(json_object_get(r, "target")));
    CHECK(json_is_null(json_object_get(r, "package")));
    CHECK(sget(r, "mtime") && strlen(sget(r, "mtime")) >= 20 && sget(r, "mtime")[strlen(sget(r, "mtime")) - 1] == 'Z');
    CHECK(sget(r, "ctime") && sget(r, "atime"));
    r = row_where(o, "name", "b.txt");
    CHECK(r);
    CHECK_STR(sget(r, "mode"), "-rw-r-----");
    CHECK_INT(json_integer_value(json_object_get(r, "size")), ==, 3);
    r = row_where(o, "name", "d");
    CHECK(r);
    CHECK_STR(sget(r, "mode"), "drwx------");
    CHECK_STR(sget(r, "type"), "directory");
    r = row_where(o, "name", "link");
    CHECK(r);
    CHECK_STR(sget(r, "mode"), "lrwxrwxrwx");
    CHECK_STR(sget(r, "target"), "a.sh");
    r = row_where(o, "name", "fifo");
    CHECK(r);
    CHECK_STR(sget(r, "mode"), "prw-r--r--");
    json_decref(o);

    /* -full_path, and the session's directory when no path is given */
    CHECK_INT(call_fn(live_dir, root, "{\"full_path\": true}", NULL, &o, err, sizeof(err)), ==, 0);
    snprintf(path, sizeof(path), "%s/b.txt", root);
    CHECK(row_where(o, "name", path));
    json_decref(o);

    /* one row for a file */
    snprintf(args, sizeof(args), "{\"path\": \"%s/b.txt\"}", root);
    CHECK_INT(call_fn(live_dir, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_INT(json_array_size(json_object_get(o, "rows")), ==, 1);
    CHECK_STR(sget(json_array_get(json_object_get(o, "rows"), 0), "name"), "b.txt");
    json_decref(o);

    /* a packaged file shows its package */
    CHECK_INT(call_fn(live_dir, "/", "{\"path\": \"/usr/bin\"}", NULL, &o, err, sizeof(err)), ==, 0);
    r = row_where(o, "name", "ls");
    CHECK(r);
    CHECK_STR(sget(r, "package"), "coreutils");
    json_decref(o);

    snprintf(args, sizeof(args), "{\"path\": \"%s/nothing\"}", root);
    CHECK_INT(call_fn(live_dir, "/", args, NULL, &o, err, sizeof(err)), ==, -ENOENT);
    CHECK_MSG(strstr(err, "does not exist"), "%s", err);
}

static void dir_is_bounded(void)
{
    char path[PATH_MAX], args[PATH_MAX + 64], err[512];
    json_t *o;

    CHECK(tmpdir_make(root, sizeof(root), "livef"));
    for (int i = 0; i < 10050; i++) {
        int fd;
        snprintf(path, sizeof(path), "%s/f%05d", root, i);
        fd = open(path, O_WRONLY | O_CREAT, 0644);
        CHECK(fd >= 0);
        close(fd);
    }
    snprintf(args, sizeof(args), "{\"path\": \"%s\"}", root);
    CHECK_INT(call_fn(live_dir, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_INT(json_array_size(json_object_get(o, "rows")), ==, 10000);
    CHECK(json_is_true(json_object_get(o, "truncated")));
    json_decref(o);
}

/* ------------------------------------------------------------ fileinfo */

static void digest_hex(const EVP_MD *md, const void *data, size_t len, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, md, NULL);
    for (unsigned int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void fileinfo_describes(void)
{
    static const char content[] = "the content fileinfo hashes\n";
    char path[PATH_MAX], args[PATH_MAX + 64], err[512], sha256[65], sha1[41], md5[33];
    char *argv[3], secs[] = "300";
    json_t *o, *x;
    size_t i;
    bool found = false;

    CHECK(tmpdir_make(root, sizeof(root), "livef"));
    CHECK(put("data.bin", content, 0750));
    snprintf(path, sizeof(path), "%s/data.bin", root);
    CHECK(setxattr(path, "user.yamori", "hello", 5, 0) == 0);
    digest_hex(EVP_sha256(), content, strlen(content), sha256);
    digest_hex(EVP_sha1(), content, strlen(content), sha1);
    digest_hex(EVP_md5(), content, strlen(content), md5);
    snprintf(args, sizeof(args), "{\"path\": \"%s\"}", path);
    CHECK_INT(call_fn(live_fileinfo, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_STR(sget(o, "type"), "file");
    CHECK_INT(json_integer_value(json_object_get(o, "size")), ==, (long long)strlen(content));
    CHECK_STR(sget(o, "mode"), "-rwxr-x---");
    CHECK_STR(sget(o, "mode_octal"), "0750");
    CHECK_STR(sget(o, "owner"), "root");
    CHECK_STR(sget(o, "sha256"), sha256);
    CHECK_STR(sget(o, "sha1"), sha1);
    CHECK_STR(sget(o, "md5"), md5);
    CHECK(json_is_null(json_object_get(o, "package")));
    CHECK(sget(o, "mtime") && sget(o, "ctime") && sget(o, "atime"));
    json_array_foreach(json_object_get(o, "xattrs"), i, x)
        if (sget(x, "name") && strcmp(sget(x, "name"), "user.yamori") == 0) {
            CHECK_STR(sget(x, "value"), "hello");
            found = true;
        }
    CHECK_MSG(found, "the extended attribute user.yamori is not listed");
    CHECK_INT(json_array_size(json_object_get(o, "processes")), ==, 0);
    json_decref(o);

    /* a packaged file: its package, and its content as dpkg recorded it */
    CHECK_INT(call_fn(live_fileinfo, "/", "{\"path\": \"/bin/ls\"}", NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_STR(sget(o, "package"), "coreutils");
    CHECK_STR(sget(o, "package_check"), "matches");
    CHECK_STR(sget(o, "canonical_path"), "/usr/bin/ls");
    CHECK(sget(o, "sha256") && strlen(sget(o, "sha256")) == 64);
    json_decref(o);

    /* a file a process runs: that process is named */
    snprintf(path, sizeof(path), "%s/sleeper", root);
    {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof(cmd), "cp /bin/sleep '%s'", path);
        CHECK(system(cmd) == 0);
    }
    argv[0] = path;
    argv[1] = secs;
    argv[2] = NULL;
    CHECK(posix_spawn(&child, path, NULL, NULL, argv, NULL) == 0);
    snprintf(args, sizeof(args), "{\"path\": \"%s\"}", path);
    found = false;
    for (int tries = 0; tries < 100 && !found; tries++) {
        CHECK_INT(call_fn(live_fileinfo, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
        json_array_foreach(json_object_get(o, "processes"), i, x)
            found = found || json_integer_value(json_object_get(x, "pid")) == child;
        json_decref(o);
        if (!found)
            usleep(20000); /* until it has exec'd */
    }
    CHECK_MSG(found, "process %d running %s is not listed", (int)child, path);

    /* a symbolic link is described, not followed */
    snprintf(path, sizeof(path), "%s/link", root);
    CHECK(symlink("data.bin", path) == 0);
    snprintf(args, sizeof(args), "{\"path\": \"%s\"}", path);
    CHECK_INT(call_fn(live_fileinfo, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_STR(sget(o, "type"), "symlink");
    CHECK_STR(sget(o, "target"), "data.bin");
    CHECK(json_is_null(json_object_get(o, "sha256")));
    CHECK(sget(o, "hash_note"));
    json_decref(o);
}

/* ------------------------------------------------------------ findfile */

static void findfile_finds_planted(void)
{
    char args[PATH_MAX + 128], err[512], want[3][PATH_MAX];
    json_t *o;
    size_t i;
    json_t *r;
    atomic_int cancel = 1;

    CHECK(tmpdir_make(root, sizeof(root), "livef"));
    CHECK(put("a/evil.sh", "x", 0755));
    CHECK(put("a/b/c/evil.sh.bak", "x", 0644));
    CHECK(put(".cache/evilish", "x", 0644));
    CHECK(put("a/good.sh", "x", 0755));
    CHECK(put("a/b/devil.sh", "x", 0644)); /* the glob is on the whole name: not a match */
    for (int k = 0; k < 600; k++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "many/f%03d", k);
        CHECK(put(rel, "", 0644));
    }
    snprintf(want[0], sizeof(want[0]), "%s/a/evil.sh", root);
    snprintf(want[1], sizeof(want[1]), "%s/a/b/c/evil.sh.bak", root);
    snprintf(want[2], sizeof(want[2]), "%s/.cache/evilish", root);

    snprintf(args, sizeof(args), "{\"name\": \"evil*\", \"path\": \"%s\"}", root);
    CHECK_INT(call_fn(live_findfile, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_INT(json_integer_value(json_object_get(o, "matches")), ==, 3);
    CHECK(json_is_false(json_object_get(o, "truncated")));
    for (int k = 0; k < 3; k++)
        CHECK_MSG(row_where(o, "path", want[k]), "%s not found", want[k]);
    json_array_foreach(json_object_get(o, "rows"), i, r)
        CHECK(strstr(sget(r, "path"), "/evil"));
    CHECK_STR(sget(row_where(o, "path", want[0]), "type"), "file");
    json_decref(o);

    /* -max */
    snprintf(args, sizeof(args), "{\"name\": \"evil*\", \"path\": \"%s\", \"max\": 2}", root);
    CHECK_INT(call_fn(live_findfile, "/", args, NULL, &o, err, sizeof(err)), ==, 0);
    CHECK_INT(json_array_size(json_object_get(o, "rows")), ==, 2);
    CHECK(json_is_true(json_object_get(o, "truncated")));
    json_decref(o);

    /* cancelled: it stops instead of walking on */
    snprintf(args, sizeof(args), "{\"name\": \"f599\", \"path\": \"%s\"}", root);
    CHECK_INT(call_fn(live_findfile, "/", args, &cancel, &o, err, sizeof(err)), ==, -ECANCELED);
    CHECK(o == NULL);

    /* never in kernel state */
    CHECK_INT(call_fn(live_findfile, "/", "{\"name\": \"status\", \"path\": \"/proc\"}", NULL, &o, err, sizeof(err)),
              ==, -EXDEV);
    CHECK_MSG(strstr(err, "pseudo"), "%s", err);
}

/* In a private mount namespace: a proc mounted inside the tree is not
 * entered. */
static void body_proc_inside(void)
{
    char mnt[PATH_MAX], args[PATH_MAX + 64], err[512];
    json_int_t matches;
    json_t *o;

    snprintf(mnt, sizeof(mnt), "%s/mnt", root);
    CHECK_MSG(mkdir(mnt, 0755) == 0 && mount("proc", mnt, "proc", 0, NULL) == 0, "mounting proc on %s: %s", mnt,
              strerror(errno));
    snprintf(args, sizeof(args), "{\"name\": \"cpuinfo\", \"path\": \"%s\"}", root);
    CHECK_MSG(call_fn(live_findfile, "/", args, NULL, &o, err, sizeof(err)) == 0, "findfile: %s", err);
    matches = json_integer_value(json_object_get(o, "matches"));
    json_decref(o);
    CHECK_MSG(matches == 1, "%lld matches, not the planted file alone (more: it entered the proc mount)",
              (long long)matches);
}

static void findfile_skips_pseudo_fs(void)
{
    static const struct sandbox_options sandbox = {.needs = "a private mount namespace"};

    CHECK(tmpdir_make(root, sizeof(root), "livef"));
    CHECK(put("plain/cpuinfo", "not the kernel's", 0644));
    sandbox_run(&sandbox, body_proc_inside);
}

/* ------------------------------------------------------------ live_command */

static int run_live(const char *args, json_t **out, char *err, size_t errlen)
{
    struct command cmd = {.id = 2, .type = "live"};
    struct jsonw w;
    int e;

    *out = NULL;
    cmd.args = json_loads(args, 0, NULL);
    if (!cmd.args) {
        snprintf(err, errlen, "bad test JSON %s", args);
        return -EINVAL;
    }
    jsonw_init(&w);
    err[0] = '\0';
    e = live_command(&cmd, &w, err, errlen);
    if (!e)
        *out = json_loadb(w.buf, w.len, 0, NULL);
    jsonw_free(&w);
    json_decref(cmd.args);
    return e;
}

static void live_command_refuses_hostile_args(void)
{
    static const struct {
        const char *args, *says;
    } bad[] = {
        {"{\"session\": 1, \"command\": \"dir\", \"cwd\": \"/\", \"args\": {}, \"shell\": \"sh\"}", "unknown argument"},
        {"{\"session\": 1, \"command\": \"dir\", \"cwd\": \"/\", \"args\": {\"path\": \"etc\"}}", "path"},
        {"{\"session\": 1, \"command\": \"dir\", \"cwd\": \"/\", \"args\": {\"path\": \"/etc/../root\"}}", "path"},
        {"{\"session\": 1, \"command\": \"dir\", \"cwd\": \"/\", \"args\": {\"path\": \"/\", \"recursive\": true}}",
         "unknown argument"},
        {"{\"session\": 1, \"command\": \"fileinfo\", \"cwd\": \"/\", \"args\": {}}", "missing"},
        {"{\"session\": 1, \"command\": \"remediate\", \"cwd\": \"/\", \"args\": {\"type\": \"file\", "
         "\"id\": \"/etc/passwd\"}}", "server"},
        {"{\"session\": 1, \"command\": \"help\", \"cwd\": \"/\", \"args\": {}}", "server"},
        {"{\"session\": 1, \"command\": \"rm\", \"cwd\": \"/\", \"args\": {\"path\": \"/\"}}", "unknown"},
        {"{\"session\": 1, \"command\": \"dir\", \"cwd\": \"tmp\", \"args\": {}}", "cwd"},
        {"{\"session\": 1, \"command\": \"dir\", \"args\": {}}", "cwd"},
        {"{\"command\": \"dir\", \"cwd\": \"/\", \"args\": {}}", "session"},
        {"{\"session\": 1, \"command\": \"dir\", \"cwd\": \"/\", \"args\": []}", "object"},
        {"{\"session\": 1, \"command\": \"dir\", \"cwd\": \"/\", \"args\": {}, \"indicators\": []}", "analyze"},
        {"{\"session\": 1, \"command\": \"analyze\", \"cwd\": \"/\", \"args\": {\"kind\": \"file\", \"target\": "
         "\"/bin/ls\"}, \"indicators\": [\"nothex\"]}", "SHA-256"},
        {"{\"session\": 1, \"command\": \"findfile\", \"cwd\": \"/\", \"args\": {\"name\": \"a\\u0007b\"}}", "name"},
        {"{\"session\": 1, \"command\": \"analyze\", \"cwd\": \"/\", \"args\": {\"kind\": \"process\", "
         "\"target\": \"/bin/ls\"}}", "target"},
        {"{\"session\": 1, \"command\": \"run\", \"cwd\": \"/\", \"args\": {\"script\": \"../x\", \"sha256\": "
         "\"0000000000000000000000000000000000000000000000000000000000000000\"}}", "script"},
    };
    char err[1024], args[PATH_MAX + 128];
    json_t *o = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int e = run_live(bad[i].args, &o, err, sizeof(err));
        json_decref(o);
        o = NULL;
        CHECK_MSG(e == -EINVAL, "accepted (%d) %s", e, bad[i].args);
        CHECK_MSG(strstr(err, bad[i].says), "%s: the error '%s' does not say '%s'", bad[i].args, err, bad[i].says);
    }
    /* a good one runs */
    CHECK(tmpdir_make(root, sizeof(root), "livef"));
    CHECK(put("x", "1", 0644));
    snprintf(args, sizeof(args), "{\"session\": 3, \"command\": \"dir\", \"cwd\": \"%s\", \"args\": {}}", root);
    CHECK_INT(run_live(args, &o, err, sizeof(err)), ==, 0);
    CHECK(row_where(o, "name", "x"));
    json_decref(o);
    /* a live command that fails says which */
    snprintf(args, sizeof(args), "{\"session\": 3, \"command\": \"cd\", \"cwd\": \"/\", \"args\": {\"path\": "
             "\"%s/x\"}}", root);
    CHECK_INT(run_live(args, &o, err, sizeof(err)), ==, -ENOTDIR);
    CHECK_MSG(strncmp(err, "cd: ", 4) == 0, "%s", err);
    CHECK(commands_handler("live") && commands_handler("live")->long_running);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"cd_checks_the_directory", cd_checks_the_directory},
        {"dir_lists_entries", dir_lists_entries},
        {"dir_is_bounded", dir_is_bounded},
        {"fileinfo_describes", fileinfo_describes},
        {"findfile_finds_planted", findfile_finds_planted},
        {"findfile_skips_pseudo_fs", findfile_skips_pseudo_fs},
        {"live_command_refuses_hostile_args", live_command_refuses_hostile_args},
        {NULL, NULL},
    };

    check_set_teardown(teardown);
    return check_main("live_files", cases, argc, argv);
}
