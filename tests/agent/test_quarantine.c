/*
 * test_quarantine.c — quarantine and restore, for real, as root: a file
 * with an odd mode, another owner, nanosecond times and user xattrs comes
 * back byte-identical with all of them, on the same filesystem (rename into
 * the store) and across filesystems (copy); a process running the file (a
 * copy of /bin/sleep) is killed, and so is one running an image deleted
 * from the same path; a file with another hard link is taken without
 * changing the other name; restore refuses to overwrite and a second restore is
 * refused; hostile arguments (relative paths, "..", symlinks, /proc, a
 * directory, a device, huge values, unknown keys, the agent's own state
 * directory) are refused through the command handlers with nothing changed.
 *
 * Every case runs in a forked child inside a private mount namespace, with
 * a tmpfs over the test directory: nothing it writes reaches the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/quarantine.h"
#include "check.h"
#include "sandbox.h"

static char root[64];

/* ------------------------------------------------------------ sandbox */

/* Every case runs in a child in its own mount namespace with a tmpfs on
 * root. */
static const struct sandbox_options sandbox = {
    .needs = "mount namespaces, chown, killing processes",
    .workdir = "qt", .dir = root, .dirlen = sizeof(root), .workdir_tmpfs = true,
};

/* ------------------------------------------------------------ helpers */

static int write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write(fd, buf, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    close(fd);
    return chmod(path, mode);
}

static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME); /* atime is compared */
    char *buf = NULL;
    size_t n = 0;
    if (fd < 0)
        return NULL;
    buf = malloc(1 << 20);
    if (buf) {
        ssize_t r;
        while ((r = read(fd, buf + n, (1 << 20) - n)) > 0)
            n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

struct snap {
    struct stat st;
    char *data;
    size_t len;
    char xattrs[4096];
    ssize_t xlen;
    char xa[64], xb[64];
    ssize_t la, lb;
};

static int take(const char *path, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    if (lstat(path, &s->st) != 0 || !(s->data = read_file(path, &s->len)))
        return -1;
    s->xlen = listxattr(path, s->xattrs, sizeof(s->xattrs));
    s->la = getxattr(path, "user.origin", s->xa, sizeof(s->xa));
    s->lb = getxattr(path, "user.blob", s->xb, sizeof(s->xb));
    return 0;
}

static void snap_free(struct snap *s)
{
    free(s->data);
    s->data = NULL;
}

/* Whether two snapshots agree on everything restore must keep. */
static const char *same(const struct snap *a, const struct snap *b)
{
    if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0)
        return "content differs";
    if (a->st.st_mode != b->st.st_mode)
        return "mode differs";
    if (a->st.st_uid != b->st.st_uid || a->st.st_gid != b->st.st_gid)
        return "owner differs";
    if (a->st.st_mtim.tv_sec != b->st.st_mtim.tv_sec || a->st.st_mtim.tv_nsec != b->st.st_mtim.tv_nsec)
        return "mtime differs";
    if (a->st.st_atim.tv_sec != b->st.st_atim.tv_sec || a->st.st_atim.tv_nsec != b->st.st_atim.tv_nsec)
        return "atime differs";
    if (a->xlen != b->xlen || a->la != b->la || a->lb != b->lb ||
        (a->la > 0 && memcmp(a->xa, b->xa, (size_t)a->la) != 0) || (a->lb > 0 && memcmp(a->xb, b->xb, (size_t)a->lb) != 0))
        return "xattrs differ";
    return NULL;
}

/* A file with everything restore must keep: setgid mode, another owner,
 * odd nanosecond times, two user xattrs (one with a NUL byte inside). */
static int make_payload(const char *path)
{
    unsigned char buf[70000];
    struct timespec t[2] = {{1600000000, 123456789}, {1500000000, 987654321}};
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 31 + i / 251);
    if (write_file(path, buf, sizeof(buf), 02751) != 0 || chown(path, 1234, 5678) != 0 || chmod(path, 02751) != 0)
        return -1;
    if (setxattr(path, "user.origin", "dropper", 7, 0) != 0 || setxattr(path, "user.blob", "a\0b\xff", 4, 0) != 0)
        return -2;
    return utimensat(AT_FDCWD, path, t, 0);
}

/* Runs a command through the same table the agent uses. */
static json_t *run_command(const char *type, const char *args_json, char *error, size_t errlen)
{
    struct command cmd = {.id = 42, .type = type};
    struct jsonw result;
    json_t *r, *out = NULL;

    cmd.args = json_loads(args_json, 0, NULL);
    if (!cmd.args)
        return NULL;
    jsonw_init(&result);
    commands_execute(&cmd, &result);
    r = json_loadb(result.buf, result.len, 0, NULL);
    jsonw_free(&result);
    json_decref(cmd.args);
    error[0] = '\0';
    if (json_is_string(json_object_get(r, "error")))
        snprintf(error, errlen, "%s", json_string_value(json_object_get(r, "error")));
    if (r && strcmp(json_string_value(json_object_get(r, "status")), "succeeded") == 0)
        out = json_incref(json_object_get(r, "output"));
    json_decref(r);
    return out;
}

/* ------------------------------------------------------------ cases */

static void roundtrip(const char *store)
{
    char path[128], id[64], err[512];
    struct snap before, after;
    struct quarantine_result res;
    struct stat st;
    const char *why;
    char data[200];
    int e;

    snprintf(path, sizeof(path), "%s/usr", root);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof(path), "%s/usr/payload", root);
    e = make_payload(path);
    if (e == -2)
        SKIP("this kernel's tmpfs has no user xattrs");
    CHECK(e == 0);
    CHECK(take(path, &before) == 0);

    e = quarantine_file(store, path, NULL, "test", &res, err, sizeof(err));
    CHECK_MSG(e == 0, "quarantine: %s", err);
    CHECK(lstat(path, &st) != 0 && errno == ENOENT);
    snprintf(data, sizeof(data), "%s/%s/data", store, res.id);
    CHECK(stat(data, &st) == 0);
    CHECK_INT(st.st_mode & 07777, ==, 0400);
    CHECK(stat(store, &st) == 0);
    CHECK_INT(st.st_mode & 07777, ==, 0700);
    CHECK_INT(res.nkilled, ==, 0);
    snprintf(id, sizeof(id), "%s", res.id);
    quarantine_result_free(&res);

    /* the list shows it */
    {
        struct jsonw w;
        json_t *list;
        jsonw_init(&w);
        CHECK(quarantine_list(store, &w, err, sizeof(err)) == 0);
        list = json_loadb(w.buf, w.len, 0, NULL);
        jsonw_free(&w);
        CHECK(json_array_size(list) == 1);
        CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "path")), path);
        CHECK(json_is_true(json_object_get(json_array_get(list, 0), "complete")));
        json_decref(list);
    }

    e = quarantine_restore(store, id, false, NULL, 0, err, sizeof(err));
    CHECK_MSG(e == 0, "restore: %s", err);
    CHECK(take(path, &after) == 0);
    why = same(&before, &after);
    snap_free(&before);
    snap_free(&after);
    CHECK_MSG(!why, "after restore: %s", why);
    snprintf(data, sizeof(data), "%s/%s", store, id);
    CHECK_MSG(lstat(data, &st) != 0, "the entry stayed in the store");
    e = quarantine_restore(store, id, false, NULL, 0, err, sizeof(err));
    CHECK_INT(e, ==, -ENOENT);
}

static void body_same_fs(void)
{
    char store[128];
    snprintf(store, sizeof(store), "%s/quarantine", root);
    roundtrip(store);
}

static void body_cross_fs(void)
{
    char other[128], store[160];
    snprintf(other, sizeof(other), "%s/otherfs", root);
    CHECK(mkdir(other, 0755) == 0);
    CHECK(mount("tmpfs", other, "tmpfs", 0, "mode=0700") == 0);
    snprintf(store, sizeof(store), "%s/quarantine", other);
    roundtrip(store);
}

static void same_fs(void)
{
    sandbox_run(&sandbox, body_same_fs);
}

static void cross_fs(void)
{
    sandbox_run(&sandbox, body_cross_fs);
}

/* Starts a copy of /bin/sleep at path; waits until it runs that image. */
static pid_t start_sleeper(const char *path)
{
    size_t len;
    char *bin = read_file("/bin/sleep", &len), exe[64];
    struct stat want, got;
    pid_t pid;

    if (!bin || write_file(path, bin, len, 0755) != 0) {
        free(bin);
        return -1;
    }
    free(bin);
    if (stat(path, &want) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        execl(path, "sleeper", "1000", (char *)NULL);
        _exit(127);
    }
    snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
    for (int i = 0; i < 2000; i++) {
        if (stat(exe, &got) == 0 && got.st_ino == want.st_ino && got.st_dev == want.st_dev)
            return pid;
        usleep(5000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void body_kills(void)
{
    char path[128], store[128], err[512];
    struct quarantine_result res;
    pid_t a, b;
    int status, e;
    bool seen_a = false, seen_b = false;

    snprintf(path, sizeof(path), "%s/runtime", root);
    snprintf(store, sizeof(store), "%s/quarantine", root);
    /* b runs an image since deleted from the path; a runs the file there now */
    b = start_sleeper(path);
    CHECK(b > 0);
    CHECK(unlink(path) == 0);
    a = start_sleeper(path);
    if (a < 0) {
        kill(b, SIGKILL);
        waitpid(b, NULL, 0);
    }
    CHECK(a > 0);
    e = quarantine_file(store, path, NULL, "test", &res, err, sizeof(err));
    if (e) {
        kill(a, SIGKILL);
        kill(b, SIGKILL);
        waitpid(a, NULL, 0);
        waitpid(b, NULL, 0);
    }
    CHECK_MSG(e == 0, "quarantine: %s", err);
    for (size_t i = 0; i < res.nkilled; i++) {
        seen_a |= res.killed[i] == a;
        seen_b |= res.killed[i] == b;
    }
    quarantine_result_free(&res);
    CHECK(waitpid(a, &status, 0) == a && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(waitpid(b, &status, 0) == b && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_MSG(seen_a && seen_b, "killed should list both pids");
}

static void kills_running(void)
{
    sandbox_run(&sandbox, body_kills);
}

/* A file with another hard link: the other name keeps its mode and bytes
 * (the shared inode is never changed), and restore gives back this one. */
static void body_links(void)
{
    char path[128], other[128], store[128], err[512];
    struct quarantine_result res;
    struct stat st;
    size_t len;
    char *content;
    int e;

    snprintf(path, sizeof(path), "%s/runtime", root);
    snprintf(other, sizeof(other), "%s/runtime-link", root);
    snprintf(store, sizeof(store), "%s/quarantine", root);
    CHECK(write_file(path, "payload", 7, 0755) == 0);
    CHECK(link(path, other) == 0);
    e = quarantine_file(store, path, NULL, "test", &res, err, sizeof(err));
    CHECK_MSG(e == 0, "quarantine: %s", err);
    CHECK_INT(res.other_links, ==, 1);
    CHECK(lstat(path, &st) != 0);
    CHECK(stat(other, &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_nlink == 1);
    e = quarantine_restore(store, res.id, false, NULL, 0, err, sizeof(err));
    quarantine_result_free(&res);
    CHECK_MSG(e == 0, "restore: %s", err);
    content = read_file(path, &len);
    CHECK(content && len == 7 && memcmp(content, "payload", 7) == 0);
    free(content);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0755);
}

static void hard_links(void)
{
    sandbox_run(&sandbox, body_links);
}

static void body_handlers(void)
{
    char path[128], state[128], err[1024], args[512], other[160];
    json_t *out;
    const char *id;
    struct stat st;
    size_t len;
    char *content;

    snprintf(state, sizeof(state), "%s/state", root);
    CHECK(mkdir(state, 0700) == 0);
    remfs_set_state_dir(state);
    snprintf(path, sizeof(path), "%s/usr-lib-runtime", root);
    CHECK(write_file(path, "payload-v1", 10, 0755) == 0);

    /* a hash that differs: refused, nothing moved */
    snprintf(args, sizeof(args), "{\"path\":\"%s\",\"sha256\":\"%064d\"}", path, 0);
    out = run_command("quarantine_file", args, err, sizeof(err));
    CHECK_MSG(!out && strstr(err, "SHA-256"), "wrong hash: %s", err);
    CHECK(stat(path, &st) == 0);

    snprintf(args, sizeof(args), "{\"path\":\"%s\"}", path);
    out = run_command("quarantine_file", args, err, sizeof(err));
    CHECK_MSG(out, "quarantine_file: %s", err);
    id = json_string_value(json_object_get(out, "quarantine_id"));
    CHECK(id && remfs_is_id(id));
    CHECK_STR(json_string_value(json_object_get(out, "sha256")),
              "7b3d0a12fb49b07319fc69f17d940ac70c3e8741f39d6a311359ce8205375d31");
    CHECK(json_is_array(json_object_get(out, "killed")));
    snprintf(other, sizeof(other), "%s/quarantine/%s/meta.json", state, id);
    CHECK(stat(other, &st) == 0);

    {
        json_t *list = run_command("quarantine_list", "{}", err, sizeof(err));
        CHECK_MSG(list, "quarantine_list: %s", err);
        CHECK(json_array_size(json_object_get(list, "files")) == 1);
        json_decref(list);
    }

    /* something new at the path: restore refuses, then overwrites when asked */
    CHECK(write_file(path, "newer", 5, 0644) == 0);
    snprintf(args, sizeof(args), "{\"quarantine_id\":\"%s\"}", id);
    {
        json_t *r = run_command("restore_file", args, err, sizeof(err));
        CHECK_MSG(!r && strstr(err, "exists"), "restore over a file: %s", err);
    }
    content = read_file(path, &len);
    CHECK(content && len == 5 && memcmp(content, "newer", 5) == 0);
    free(content);
    snprintf(args, sizeof(args), "{\"quarantine_id\":\"%s\",\"overwrite\":true}", id);
    {
        json_t *r = run_command("restore_file", args, err, sizeof(err));
        CHECK_MSG(r, "restore_file: %s", err);
        json_decref(r);
    }
    content = read_file(path, &len);
    CHECK(content && len == 10 && memcmp(content, "payload-v1", 10) == 0);
    free(content);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0755);
    {
        json_t *r = run_command("restore_file", args, err, sizeof(err));
        CHECK_MSG(!r && strstr(err, "no quarantined file"), "second restore: %s", err);
    }
    json_decref(out);
}

static void handlers(void)
{
    sandbox_run(&sandbox, body_handlers);
}

static void body_hostile(void)
{
    char path[128], state[128], err[1024], args[8192], link[160], dirlink[160], own[160];
    char *huge;
    struct snap before, after;
    const char *why;

    snprintf(state, sizeof(state), "%s/state", root);
    CHECK(mkdir(state, 0700) == 0);
    remfs_set_state_dir(state);
    snprintf(path, sizeof(path), "%s/victim", root);
    CHECK(write_file(path, "keep me", 7, 0644) == 0);
    CHECK(take(path, &before) == 0);
    snprintf(link, sizeof(link), "%s/link", root);
    CHECK(symlink(path, link) == 0);
    snprintf(dirlink, sizeof(dirlink), "%s/dirlink", root);
    CHECK(symlink(root, dirlink) == 0);
    snprintf(own, sizeof(own), "%s/agent.secret", state);
    CHECK(write_file(own, "x", 1, 0600) == 0);

    huge = malloc(6000);
    CHECK(huge);
    memset(huge, 'a', 5999);
    huge[0] = '/';
    huge[5999] = '\0';
    {
        const char *cases[][2] = {
            {"{\"path\":\"victim\"}", "absolute"},
            {"{\"path\":\"%ROOT%/../victim\"}", "canonical"},
            {"{\"path\":\"%ROOT%/./victim\"}", "canonical"},
            {"{\"path\":\"%ROOT%//victim\"}", "canonical"},
            {"{\"path\":\"%ROOT%/link\"}", "symlink"},
            {"{\"path\":\"%ROOT%/dirlink/victim\"}", "symlink"},
            {"{\"path\":\"%ROOT%\"}", "directory"},
            {"{\"path\":\"/proc/self/exe\"}", "pseudo"},
            {"{\"path\":\"/sys/kernel/notes\"}", "pseudo"},
            {"{\"path\":\"/dev/null\"}", "pseudo"},
            {"{\"path\":\"%OWN%\"}", "agent's own"},
            {"{\"path\":\"%ROOT%/victim\",\"sha256\":\"xyz\"}", "sha256"},
            {"{\"path\":\"%ROOT%/victim\",\"mode\":\"all\"}", "unknown argument"},
            {"{\"path\":42}", "string"},
            {"{}", "required"},
            {"{\"path\":\"%HUGE%\"}", "at most"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char *t = cases[i][0], *mark;
            json_t *out;
            size_t o = 0;
            while (*t && o < sizeof(args) - 1) {
                const char *sub = NULL;
                if (strncmp(t, "%ROOT%", 6) == 0)
                    sub = root, mark = t + 6;
                else if (strncmp(t, "%OWN%", 5) == 0)
                    sub = own, mark = t + 5;
                else if (strncmp(t, "%HUGE%", 6) == 0)
                    sub = huge, mark = t + 6;
                if (sub) {
                    o += (size_t)snprintf(args + o, sizeof(args) - o, "%s", sub);
                    t = mark;
                } else {
                    args[o++] = *t++;
                }
            }
            args[o] = '\0';
            out = run_command("quarantine_file", args, err, sizeof(err));
            if (out) {
                json_decref(out);
                free(huge);
                snap_free(&before);
                CHECK_MSG(false, "case %zu (%s) was accepted", i, cases[i][0]);
            }
            if (!strstr(err, cases[i][1])) {
                free(huge);
                snap_free(&before);
                CHECK_MSG(false, "case %zu (%s): the error does not say '%s': %s", i, cases[i][0], cases[i][1],
                          err);
            }
        }
    }
    free(huge);
    {
        json_t *r = run_command("restore_file", "{\"quarantine_id\":\"../../etc\"}", err, sizeof(err));
        CHECK_MSG(!r && strstr(err, "id"), "hostile id: %s", err);
        r = run_command("quarantine_list", "{\"x\":1}", err, sizeof(err));
        CHECK_MSG(!r && strstr(err, "unknown"), "list with args: %s", err);
    }
    CHECK(take(path, &after) == 0);
    why = same(&before, &after);
    snap_free(&before);
    snap_free(&after);
    CHECK_MSG(!why, "the victim changed: %s", why);
    {
        struct stat st;
        char q[200];
        snprintf(q, sizeof(q), "%s/quarantine", state);
        CHECK_MSG(lstat(q, &st) != 0 || st.st_nlink == 2, "something entered the quarantine");
        CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
        CHECK(lstat(own, &st) == 0);
    }
}

static void hostile(void)
{
    sandbox_run(&sandbox, body_hostile);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"same_filesystem_roundtrip", same_fs},
        {"cross_filesystem_roundtrip", cross_fs},
        {"kills_running_and_deleted_images", kills_running},
        {"other_hard_links_untouched", hard_links},
        {"handlers_hash_overwrite_second_restore", handlers},
        {"hostile_arguments_change_nothing", hostile},
        {NULL, NULL},
    };
    return check_main("agent/quarantine", cases, argc, argv);
}
