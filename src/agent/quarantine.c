/*
 * quarantine.c — kill the processes running a file, move it into the
 * root-only store with its metadata, list the store, restore exactly (see
 * quarantine.h), and the three command handlers.
 *
 * Order of quarantine, so a failure leaves the file where it was: check the
 * path and the file (regular, not ours, hash as asked; read with O_NOATIME
 * and the metadata taken before the read), kill the processes, record the
 * metadata in <id>/meta.json (synced), then move the bytes
 * (rename, or copy + fsync + verify + unlink across filesystems). An entry
 * whose `data` is missing is an interrupted quarantine: the file is still
 * at its path; the list shows it incomplete and restore refuses it.
 */
#include "agent/quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent/commands.h"

#define META_MAX (4u << 20)
#define KILL_WAIT_MS 5000
#define MAX_KILLED 4096
#define KILL_PASSES 5

void quarantine_result_free(struct quarantine_result *res)
{
    if (!res)
        return;
    free(res->killed);
    res->killed = NULL;
    res->nkilled = 0;
}

/* ------------------------------------------------------------ killing */

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pfd)
{
    return (int)syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
}

/* Whether /proc/<pid>/exe is the image dev/ino or a deleted path. */
static bool runs_image(const char *pid, dev_t dev, ino_t ino, const char *deleted)
{
    char p[64], link[PATH_MAX + 16];
    struct stat st;
    ssize_t n;

    snprintf(p, sizeof(p), "/proc/%s/exe", pid);
    if (stat(p, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
        return true;
    n = readlink(p, link, sizeof(link) - 1);
    if (n <= 0)
        return false;
    link[n] = '\0';
    return strcmp(link, deleted) == 0;
}

/* One pass over /proc: kills the processes running the image that are
 * not in v yet, appends them to v, and waits for them to exit. Returns
 * how many it killed. */
static size_t kill_pass(dev_t dev, ino_t ino, const char *deleted, pid_t *v, int *fds, size_t *n)
{
    size_t first = *n;
    DIR *d = opendir("/proc");
    struct dirent *de;

    if (!d)
        return 0;
    while ((de = readdir(d)) && *n < MAX_KILLED) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        bool known = false;
        int pfd;
        if (*end || pid <= 0 || pid == getpid() || !runs_image(de->d_name, dev, ino, deleted))
            continue;
        for (size_t i = 0; i < *n && !known; i++)
            known = v[i] == pid;
        if (known)
            continue; /* killed already, not gone yet (uninterruptible sleep) */
        /* hold the process by a pidfd and look again: the pid cannot be
         * reused under us between the check and the signal */
        pfd = pidfd_open_((pid_t)pid);
        if (pfd < 0)
            continue;
        if (!runs_image(de->d_name, dev, ino, deleted) || pidfd_kill(pfd) != 0) {
            close(pfd);
            continue;
        }
        v[*n] = (pid_t)pid;
        fds[(*n)++] = pfd;
    }
    closedir(d);
    /* a pidfd becomes readable when its process has exited */
    for (size_t i = first; i < *n; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        (void)poll(&p, 1, KILL_WAIT_MS);
        close(fds[i]);
    }
    return *n - first;
}

int quarantine_kill_image(dev_t dev, ino_t ino, const char *path, pid_t **pids, size_t *npids)
{
    char deleted[PATH_MAX + 16];
    int *fds = NULL;
    pid_t *v = NULL;
    size_t n = 0;

    *pids = NULL;
    *npids = 0;
    snprintf(deleted, sizeof(deleted), "%s (deleted)", path);
    if (!(v = calloc(MAX_KILLED, sizeof(*v))) || !(fds = calloc(MAX_KILLED, sizeof(*fds)))) {
        free(v);
        free(fds);
        return -ENOMEM;
    }
    /* again until a pass finds nobody: a process may have forked (or
     * started the file again) while the previous pass ran */
    for (int pass = 0; pass < KILL_PASSES && kill_pass(dev, ino, deleted, v, fds, &n) > 0; pass++)
        ;
    free(fds);
    *pids = v;
    *npids = n;
    return 0;
}

/* ------------------------------------------------------------ quarantine */

/* Refuses the agent's own image and files in pseudo filesystems. */
static int check_target(int fd, const struct stat *st, const char *path, char *err, size_t errlen)
{
    struct stat self;
    struct statfs sf;

    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%.200s is %s, not a regular file; only files are quarantined", path,
                 S_ISDIR(st->st_mode)   ? "a directory"
                 : S_ISLNK(st->st_mode) ? "a symlink"
                 : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device"
                                                               : "a special file");
        return -EINVAL;
    }
    if (stat("/proc/self/exe", &self) == 0 && self.st_dev == st->st_dev && self.st_ino == st->st_ino) {
        snprintf(err, errlen, "%.200s is the agent's own program; refused", path);
        return -EPERM;
    }
    if (fstatfs(fd, &sf) == 0 && (sf.f_type == 0x9fa0 /* proc */ || sf.f_type == 0x62656572 /* sysfs */)) {
        snprintf(err, errlen, "%.200s is in a pseudo filesystem; refused", path);
        return -EINVAL;
    }
    return 0;
}

static int write_meta(int entry, const char *id, const char *path, const char *sha, const struct remfs_meta *m,
                      const char *action, const pid_t *killed, size_t nkilled, char *err, size_t errlen)
{
    struct remfs_meta own = {.mode = S_IFREG | 0400, .uid = geteuid(), .gid = getegid()};
    struct jsonw w;
    uint64_t now = remfs_now_ns();
    int e;

    own.atime_ns = own.mtime_ns = (int64_t)now;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_kv_int(&w, "version", 1);
    jsonw_kv_str(&w, "quarantine_id", id);
    jsonw_kv_str(&w, "path", path);
    jsonw_kv_str(&w, "sha256", sha);
    remfs_meta_json(&w, m);
    jsonw_kv_time(&w, "quarantined", now);
    jsonw_kv_str(&w, "action", action ? action : "");
    jsonw_key(&w, "killed");
    jsonw_array_begin(&w);
    for (size_t i = 0; i < nkilled; i++)
        jsonw_int(&w, killed[i]);
    jsonw_array_end(&w);
    jsonw_object_end(&w);
    if (jsonw_failed(&w)) {
        jsonw_free(&w);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    e = remfs_replace(entry, "meta.json", w.buf, w.len, &own, false, err, errlen);
    jsonw_free(&w);
    return e;
}

/* Moves dirfd/name (open as fd, identity st) to entry/data. */
static int move_into(int dirfd, const char *name, int fd, const struct stat *st, int entry, const char *sha,
                     char *err, size_t errlen)
{
    struct stat now;
    char tmp[64], copied[65];
    int out = -1, e = 0;

    /* a file with other hard links is copied: chmod on the shared inode
     * would change the other names too, and restore could not undo that */
    if (st->st_nlink == 1 && renameat(dirfd, name, entry, "data") == 0) {
        if (fchmod(fd, 0400) != 0) {
            e = -errno;
            snprintf(err, errlen, "cannot make the quarantined copy read-only: %s", strerror(errno));
            renameat(entry, "data", dirfd, name);
            return e;
        }
        fsync(entry);
        fsync(dirfd);
        return 0;
    }
    if (st->st_nlink == 1 && errno != EXDEV) {
        e = -errno;
        snprintf(err, errlen, "cannot move %.200s into the quarantine: %s", name, strerror(errno));
        return e;
    }
    out = remfs_tmpfile(entry, tmp, sizeof(tmp));
    if (out < 0) {
        snprintf(err, errlen, "cannot create the quarantined copy: %s", strerror(-out));
        return out;
    }
    e = remfs_copy_fd(fd, out, copied);
    if (!e && strcmp(copied, sha) != 0)
        e = -EAGAIN; /* written to while we copied */
    if (!e && fchmod(out, 0400) != 0)
        e = -errno;
    if (!e && renameat(entry, tmp, entry, "data") != 0)
        e = -errno;
    if (e) {
        snprintf(err, errlen, "cannot copy %.200s into the quarantine: %s", name,
                 e == -EAGAIN ? "the file changed while it was copied" : strerror(-e));
        goto fail;
    }
    fsync(entry);
    /* unlink only the file we copied, not one swapped in meanwhile */
    if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_dev != st->st_dev ||
        now.st_ino != st->st_ino || unlinkat(dirfd, name, 0) != 0) {
        e = -EAGAIN;
        snprintf(err, errlen, "%.200s was replaced or could not be removed while it was quarantined", name);
        unlinkat(entry, "data", 0);
        goto fail;
    }
    fsync(dirfd);
    close(out);
    return 0;
fail:
    close(out);
    unlinkat(entry, tmp, 0);
    return e;
}

int quarantine_file(const char *store, const char *path, const char *want_sha256, const char *action,
                    struct quarantine_result *res, char *err, size_t errlen)
{
    struct remfs_meta m = {0};
    struct stat st, lst;
    const char *name;
    int dirfd = -1, fd = -1, sfd = -1, entry = -1, e;
    bool entry_made = false;

    memset(res, 0, sizeof(*res));
    e = remfs_check_path(path, err, errlen);
    if (e)
        return e;
    if (want_sha256 && !remfs_is_sha256(want_sha256)) {
        snprintf(err, errlen, "sha256 must be 64 hex characters");
        return -EINVAL;
    }
    dirfd = remfs_open_parent(path, &name, err, errlen);
    if (dirfd < 0)
        return dirfd;
    if (fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot find %.200s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(lst.st_mode)) {
        e = check_target(-1, &lst, path, err, errlen);
        goto out;
    }
    /* O_NOATIME: reading the evidence must not change its access time */
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_ino != lst.st_ino || st.st_dev != lst.st_dev) {
        e = fd < 0 ? -errno : -EAGAIN;
        snprintf(err, errlen, "cannot open %.200s: %s", path, fd < 0 ? strerror(errno) : "it changed meanwhile");
        goto out;
    }
    e = check_target(fd, &st, path, err, errlen);
    if (e)
        goto out;
    res->other_links = st.st_nlink > 1 ? (unsigned)(st.st_nlink - 1) : 0;
    e = remfs_meta_read(fd, -1, NULL, &m, err, errlen); /* before reading: O_NOATIME may not apply */
    if (e)
        goto out;
    e = remfs_sha256_fd(fd, res->sha256);
    if (e) {
        snprintf(err, errlen, "cannot read %.200s: %s", path, strerror(-e));
        goto out;
    }
    if (want_sha256 && strcasecmp(want_sha256, res->sha256) != 0) {
        snprintf(err, errlen, "%.200s has SHA-256 %s, not the %s asked for; nothing was done", path, res->sha256,
                 want_sha256);
        e = -ESTALE;
        goto out;
    }
    e = remfs_private_dir(store, err, errlen);
    if (e)
        goto out;
    sfd = remfs_open_dir(store, err, errlen);
    if (sfd < 0) {
        e = sfd;
        goto out;
    }
    if ((e = remfs_new_id(res->id)) != 0 || mkdirat(sfd, res->id, 0700) != 0) {
        e = e ? e : -errno;
        snprintf(err, errlen, "cannot create a quarantine entry in %.200s: %s", store, strerror(-e));
        goto out;
    }
    entry_made = true;
    entry = openat(sfd, res->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (entry < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot open the quarantine entry: %s", strerror(errno));
        goto out;
    }
    e = quarantine_kill_image(st.st_dev, st.st_ino, path, &res->killed, &res->nkilled);
    if (e) {
        snprintf(err, errlen, "cannot look for the processes running %.200s: %s", path, strerror(-e));
        goto out;
    }
    e = write_meta(entry, res->id, path, res->sha256, &m, action, res->killed, res->nkilled, err, errlen);
    if (e)
        goto out;
    e = move_into(dirfd, name, fd, &st, entry, res->sha256, err, errlen);
    if (e)
        goto out;
    fsync(sfd);
out:
    if (e && entry_made) {
        if (entry >= 0)
            unlinkat(entry, "meta.json", 0);
        unlinkat(sfd, res->id, AT_REMOVEDIR);
    }
    if (e) {
        /* the processes killed stay killed; the caller hears of them only
         * through the log: the file was not quarantined */
        quarantine_result_free(res);
    }
    remfs_meta_free(&m);
    if (entry >= 0)
        close(entry);
    if (sfd >= 0)
        close(sfd);
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    return e;
}

/* ------------------------------------------------------------ restore, list */

static int load_meta(int entry, json_t **root, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len;
    int fd = openat(entry, "meta.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC), e;

    *root = NULL;
    if (fd < 0) {
        snprintf(err, errlen, "the quarantine entry has no record: %s", strerror(errno));
        return -errno;
    }
    e = remfs_read_all(fd, META_MAX, &text, &len);
    close(fd);
    if (!e && !(*root = json_loadb(text, len, 0, NULL)))
        e = -EINVAL;
    if (!e && (!json_is_object(*root) || !json_is_string(json_object_get(*root, "path")) ||
               !json_is_string(json_object_get(*root, "sha256")))) {
        json_decref(*root);
        *root = NULL;
        e = -EINVAL;
    }
    if (e)
        snprintf(err, errlen, "the quarantine entry's record is unreadable: %s", strerror(-e));
    free(text);
    return e;
}

int quarantine_restore(const char *store, const char *id, bool overwrite, char *outpath, size_t pathlen, char *err,
                       size_t errlen)
{
    struct remfs_meta m = {0};
    json_t *root = NULL;
    const char *path, *sha, *name;
    char tmp[64], copied[65];
    struct stat cur;
    int sfd = -1, entry = -1, data = -1, dirfd = -1, out = -1, e;

    if (!remfs_is_id(id)) {
        snprintf(err, errlen, "a quarantine id is %d lower-case hex characters", REMFS_ID_LEN);
        return -EINVAL;
    }
    sfd = remfs_open_dir(store, err, errlen);
    if (sfd < 0) {
        if (sfd == -ENOENT)
            snprintf(err, errlen, "no quarantined file has the id %s (the quarantine is empty)", id);
        return sfd;
    }
    entry = openat(sfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (entry < 0) {
        e = -ENOENT;
        snprintf(err, errlen, "no quarantined file has the id %s (restored already?)", id);
        goto out;
    }
    e = load_meta(entry, &root, err, errlen);
    if (e)
        goto out;
    e = remfs_meta_from_json(root, &m, err, errlen);
    if (e)
        goto out;
    path = json_string_value(json_object_get(root, "path"));
    sha = json_string_value(json_object_get(root, "sha256"));
    data = openat(entry, "data", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (data < 0) {
        e = -ENOENT;
        snprintf(err, errlen, "quarantine %s was never completed: the file should still be at %.200s", id, path);
        goto out;
    }
    e = remfs_check_path(path, err, errlen);
    if (e)
        goto out;
    dirfd = remfs_open_parent(path, &name, err, errlen);
    if (dirfd < 0) {
        e = dirfd;
        snprintf(err, errlen, "the directory of %.200s is gone or changed; create it first (directories are not recreated)",
                 path);
        goto out;
    }
    if (fstatat(dirfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!overwrite || S_ISDIR(cur.st_mode)) {
            e = -EEXIST;
            snprintf(err, errlen, "%.200s exists now; %s", path,
                     S_ISDIR(cur.st_mode) ? "it is a directory, which is never overwritten"
                                          : "ask for overwrite to replace it");
            goto out;
        }
    }
    out = remfs_tmpfile(dirfd, tmp, sizeof(tmp));
    if (out < 0) {
        e = out;
        snprintf(err, errlen, "cannot write next to %.200s: %s", path, strerror(-e));
        goto out;
    }
    e = remfs_copy_fd(data, out, copied);
    if (!e && strcmp(copied, sha) != 0) {
        e = -EIO;
        snprintf(err, errlen, "the quarantined copy no longer has its SHA-256 %s; not restored", sha);
        goto out;
    }
    if (e) {
        snprintf(err, errlen, "cannot copy back to %.200s: %s", path, strerror(-e));
        goto out;
    }
    e = remfs_meta_apply(out, &m, err, errlen);
    if (!e && fsync(out) != 0)
        e = -errno;
    if (e)
        goto out;
    if (renameat2(dirfd, tmp, dirfd, name, overwrite ? 0 : RENAME_NOREPLACE) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot put %.200s back: %s", path,
                 errno == EEXIST ? "something exists there now" : strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    fsync(dirfd);
    if (outpath)
        snprintf(outpath, pathlen, "%s", path);
    /* the file is back: drop the entry (meta last, so a crash in between
     * leaves an incomplete entry rather than a second copy to restore) */
    unlinkat(entry, "data", 0);
    unlinkat(entry, "meta.json", 0);
    unlinkat(sfd, id, AT_REMOVEDIR);
    fsync(sfd);
out:
    if (out >= 0) {
        close(out);
        if (tmp[0])
            unlinkat(dirfd, tmp, 0);
    }
    remfs_meta_free(&m);
    json_decref(root);
    if (data >= 0)
        close(data);
    if (dirfd >= 0)
        close(dirfd);
    if (entry >= 0)
        close(entry);
    if (sfd >= 0)
        close(sfd);
    return e;
}

int quarantine_list(const char *store, struct jsonw *w, char *err, size_t errlen)
{
    int sfd = open(store, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct dirent *de;
    DIR *d;

    if (sfd < 0 && errno == ENOENT) {
        jsonw_array_begin(w);
        jsonw_array_end(w);
        return 0;
    }
    if (sfd < 0 || !(d = fdopendir(sfd))) {
        snprintf(err, errlen, "cannot read the quarantine %.200s: %s", store, strerror(errno));
        if (sfd >= 0)
            close(sfd);
        return -errno;
    }
    jsonw_array_begin(w);
    while ((de = readdir(d))) {
        json_t *root = NULL, *size;
        char ignored[256];
        struct stat st;
        int entry;
        if (!remfs_is_id(de->d_name))
            continue;
        entry = openat(sfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (entry < 0)
            continue;
        if (load_meta(entry, &root, ignored, sizeof(ignored)) == 0) {
            size = json_object_get(root, "size");
            jsonw_object_begin(w);
            jsonw_kv_str(w, "quarantine_id", de->d_name);
            jsonw_kv_str(w, "path", json_string_value(json_object_get(root, "path")));
            jsonw_kv_str(w, "sha256", json_string_value(json_object_get(root, "sha256")));
            jsonw_kv_int(w, "size", json_is_integer(size) ? json_integer_value(size) : 0);
            jsonw_kv_str_opt(w, "quarantined", json_string_value(json_object_get(root, "quarantined")));
            jsonw_kv_str_opt(w, "action", json_string_value(json_object_get(root, "action")));
            jsonw_kv_bool(w, "complete", fstatat(entry, "data", &st, AT_SYMLINK_NOFOLLOW) == 0);
            jsonw_object_end(w);
            json_decref(root);
        }
        close(entry);
    }
    jsonw_array_end(w);
    closedir(d);
    return 0;
}

/* ------------------------------------------------------------ commands */

static void store_path(char *out, size_t n)
{
    snprintf(out, n, "%s/quarantine", remfs_state_dir());
}

int quarantine_cmd_file(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const allowed[] = {"path", "sha256", NULL};
    struct quarantine_result res;
    const char *path, *sha;
    char store[PATH_MAX], action[64];
    int e;

    if ((e = remfs_args_only(cmd->args, allowed, err, errlen)) != 0 ||
        (e = remfs_arg_str(cmd->args, "path", true, PATH_MAX - 1, &path, err, errlen)) != 0 ||
        (e = remfs_arg_str(cmd->args, "sha256", false, 64, &sha, err, errlen)) != 0)
        return e;
    store_path(store, sizeof(store));
    snprintf(action, sizeof(action), "command %lld", (long long)cmd->id);
    e = quarantine_file(store, path, sha, action, &res, err, errlen);
    if (e)
        return e;
    jsonw_object_begin(out);
    jsonw_kv_str(out, "quarantine_id", res.id);
    jsonw_kv_str(out, "sha256", res.sha256);
    jsonw_kv_str(out, "path", path);
    jsonw_kv_uint(out, "other_links", res.other_links);
    jsonw_key(out, "killed");
    jsonw_array_begin(out);
    for (size_t i = 0; i < res.nkilled; i++)
        jsonw_int(out, res.killed[i]);
    jsonw_array_end(out);
    jsonw_object_end(out);
    quarantine_result_free(&res);
    return 0;
}

int quarantine_cmd_restore(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const allowed[] = {"quarantine_id", "overwrite", NULL};
    json_t *ow = json_object_get(cmd->args, "overwrite");
    const char *id;
    char store[PATH_MAX], path[PATH_MAX];
    int e;

    if ((e = remfs_args_only(cmd->args, allowed, err, errlen)) != 0 ||
        (e = remfs_arg_str(cmd->args, "quarantine_id", true, REMFS_ID_LEN, &id, err, errlen)) != 0)
        return e;
    if (ow && !json_is_boolean(ow)) {
        snprintf(err, errlen, "the argument 'overwrite' must be true or false");
        return -EINVAL;
    }
    store_path(store, sizeof(store));
    e = quarantine_restore(store, id, json_is_true(ow), path, sizeof(path), err, errlen);
    if (e)
        return e;
    jsonw_object_begin(out);
    jsonw_kv_str(out, "quarantine_id", id);
    jsonw_kv_str(out, "path", path);
    jsonw_kv_bool(out, "restored", true);
    jsonw_object_end(out);
    return 0;
}

int quarantine_cmd_list(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const allowed[] = {NULL};
    char store[PATH_MAX];
    int e = remfs_args_only(cmd->args, allowed, err, errlen);

    if (e)
        return e;
    store_path(store, sizeof(store));
    jsonw_object_begin(out);
    jsonw_key(out, "files");
    e = quarantine_list(store, out, err, errlen);
    jsonw_object_end(out);
    return e;
}
