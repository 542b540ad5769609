/*
 * live_files.c — the live commands on files and directories: cd, dir,
 * fileinfo, findfile (see live.h, docs/live.md).
 *
 * Nothing here changes the machine. Paths arrive absolute and lexically
 * normalised (the grammar); symbolic links are followed only where a
 * person would expect it (cd, and the directory dir lists or findfile
 * starts from); the entries listed, described or walked are never
 * followed. Every walk and listing is bounded, and looks at the command's
 * cancel between entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/live_int.h"
#include "agent/pkgdb.h"
#include "agent/scan.h"
#include "common/live_grammar.h"

#define DIR_MAX_ENTRIES 10000
#define FINDFILE_DEFAULT_MAX 1000
#define FINDFILE_MAX_MAX 100000
#define FINDFILE_MAX_DEPTH 128
#define XATTR_MAX_NAMES 64
#define XATTR_VALUE_MAX 256
#define FILEINFO_MAX_PROCS 64
#define CANCEL_EVERY 256

static const char *arg_str(const struct live_call *call, const char *name)
{
    return json_string_value(json_object_get(call->args, name));
}

/* The canonical path of the open fd (what /proc/self/fd says) into out;
 * false when it cannot be told or is not a plain absolute path. */
static bool fd_path(int fd, char *out, size_t outlen)
{
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, out, outlen - 1);
    if (n <= 0 || (size_t)n >= outlen - 1)
        return false;
    out[n] = '\0';
    return out[0] == '/' && !strstr(out, " (deleted)");
}

/* dir + "/" + name into out (dir "/" gives "/name"); false when too long. */
static bool join(const char *dir, const char *name, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
    return n > 0 && (size_t)n < outlen;
}

/* The sentence for errno e about path. */
static void say_errno(char *err, size_t errlen, const char *path, int e)
{
    if (e == ENOENT)
        snprintf(err, errlen, "%s does not exist", path);
    else if (e == ENOTDIR)
        snprintf(err, errlen, "%s is not a directory (or a part of the path is not)", path);
    else if (e == EACCES || e == EPERM)
        snprintf(err, errlen, "%s cannot be read: permission denied", path);
    else if (e == ELOOP)
        snprintf(err, errlen, "%s: too many levels of symbolic links", path);
    else
        snprintf(err, errlen, "%s: %s", path, strerror(e));
}

/* ------------------------------------------------------------ cd */

int live_cd(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    const char *path = arg_str(call, "path");
    char real[PATH_MAX];
    int fd, e = 0;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        e = -errno;
        say_errno(err, errlen, path, errno);
        return e;
    }
    if (!fd_path(fd, real, sizeof(real)) || !live_path_ok(real)) {
        snprintf(err, errlen, "the canonical path of %s cannot be told", path);
        e = -EINVAL;
        goto out;
    }
    jsonw_object_begin(out);
    jsonw_kv_str(out, "cwd", real);
    jsonw_object_end(out);
out:
    close(fd);
    return e;
}

/* ------------------------------------------------------------ dir */

/* Names of a user and a group, remembering the last of each. */
struct names {
    uid_t uid;
    gid_t gid;
    bool have_uid, have_gid;
    char user[256], group[256];
};

static const char *user_of(struct names *n, uid_t uid)
{
    if (!n->have_uid || n->uid != uid) {
        live_user_name(uid, n->user, sizeof(n->user));
        n->uid = uid;
        n->have_uid = true;
    }
    return n->user;
}

static const char *group_of(struct names *n, gid_t gid)
{
    if (!n->have_gid || n->gid != gid) {
        live_group_name(gid, n->group, sizeof(n->group));
        n->gid = gid;
        n->have_gid = true;
    }
    return n->group;
}

/* One row of dir: name shown, the entry's stat, its link target. */
static void dir_row(struct jsonw *out, struct names *nm, const char *shown, const char *full, const struct stat *st,
                    const char *target, const struct pkgdb *db)
{
    char mode[11];
    const char *owner = db ? pkgdb_owner(db, full) : NULL;

    live_mode_text(st->st_mode, mode);
    jsonw_object_begin(out);
    jsonw_kv_str(out, "name", shown);
    jsonw_kv_str(out, "type", live_type_name(st->st_mode));
    jsonw_kv_str(out, "mode", mode);
    jsonw_kv_uint(out, "links", (uint64_t)st->st_nlink);
    jsonw_kv_str(out, "owner", user_of(nm, st->st_uid));
    jsonw_kv_str(out, "group", group_of(nm, st->st_gid));
    jsonw_kv_uint(out, "size", (uint64_t)st->st_size);
    jsonw_kv_time(out, "mtime", live_ts_ns(&st->st_mtim));
    jsonw_kv_time(out, "ctime", live_ts_ns(&st->st_ctim));
    jsonw_kv_time(out, "atime", live_ts_ns(&st->st_atim));
    jsonw_key(out, "target");
    if (target)
        jsonw_str(out, target);
    else
        jsonw_null(out);
    jsonw_key(out, "package");
    if (owner)
        jsonw_str(out, owner);
    else
        jsonw_null(out);
    jsonw_object_end(out);
}

static void dir_begin(struct jsonw *out, const char *path)
{
    jsonw_object_begin(out);
    jsonw_kv_str(out, "path", path);
    jsonw_key(out, "columns");
    jsonw_array_begin(out);
    static const char *const cols[] = {"mode", "owner", "group", "size", "mtime", "name", "target", "package"};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        jsonw_str(out, cols[i]);
    jsonw_array_end(out);
    jsonw_key(out, "rows");
    jsonw_array_begin(out);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir of a path that is not a directory: its one entry. */
static int dir_one(const char *path, bool full, struct jsonw *out, char *err, size_t errlen)
{
    char parent[PATH_MAX], real[PATH_MAX], canon[PATH_MAX], target[PATH_MAX], pkgerr[256];
    const char *base = strrchr(path, '/') + 1, *tp = NULL;
    struct pkgdb *db = live_pkgdb_acquire(pkgerr, sizeof(pkgerr));
    struct names nm = {0};
    struct stat st;
    int dfd, e = 0;

    snprintf(parent, sizeof(parent), "%.*s", base - path > 1 ? (int)(base - path - 1) : 1, path);
    dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        e = -errno;
        say_errno(err, errlen, path, errno);
        goto out;
    }
    if (!fd_path(dfd, real, sizeof(real)) || !join(real, base, canon, sizeof(canon)))
        snprintf(canon, sizeof(canon), "%s", path);
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(dfd, base, target, sizeof(target) - 1);
        if (n >= 0) {
            target[n] = '\0';
            tp = target;
        }
    }
    dir_begin(out, parent);
    dir_row(out, &nm, full ? path : base, canon, &st, tp, db);
    jsonw_array_end(out);
    jsonw_kv_uint(out, "entries", 1);
    jsonw_kv_bool(out, "truncated", false);
    if (!db)
        jsonw_kv_str(out, "package_note", pkgerr);
    jsonw_object_end(out);
out:
    if (db)
        live_pkgdb_release();
    if (dfd >= 0)
        close(dfd);
    return e;
}

int live_dir(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    const char *path = arg_str(call, "path") ? arg_str(call, "path") : call->cwd;
    bool full = json_is_true(json_object_get(call->args, "full_path"));
    char real[PATH_MAX], pkgerr[256];
    char **names = NULL;
    size_t n = 0, cap = 0, shown = 0;
    bool truncated = false;
    struct pkgdb *db = NULL;
    struct names nm = {0};
    struct dirent *de;
    DIR *d = NULL;
    int fd, e = 0;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOTDIR && strcmp(path, "/") != 0)
        return dir_one(path, full, out, err, errlen);
    if (fd < 0) {
        e = -errno;
        say_errno(err, errlen, path, errno);
        return e;
    }
    if (!fd_path(fd, real, sizeof(real)))
        snprintf(real, sizeof(real), "%s", path);
    d = fdopendir(fd);
    if (!d) {
        e = -errno;
        say_errno(err, errlen, path, errno);
        close(fd);
        return e;
    }
    errno = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == DIR_MAX_ENTRIES) {
            truncated = true;
            break;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            char **nv = realloc(names, nc * sizeof(*nv));
            if (!nv) {
                e = -ENOMEM;
                goto out;
            }
            names = nv;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name))) {
            e = -ENOMEM;
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    db = live_pkgdb_acquire(pkgerr, sizeof(pkgerr));
    dir_begin(out, real);
    for (size_t i = 0; i < n; i++) {
        char fullp[PATH_MAX], target[PATH_MAX];
        const char *tp = NULL;
        struct stat st;

        if (i % CANCEL_EVERY == 0 && live_cancelled(call)) {
            e = -ECANCELED;
            goto out;
        }
        if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* vanished since the listing */
        if (!join(real, names[i], fullp, sizeof(fullp)))
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t r = readlinkat(dirfd(d), names[i], target, sizeof(target) - 1);
            if (r >= 0) {
                target[r] = '\0';
                tp = target;
            }
        }
        dir_row(out, &nm, full ? fullp : names[i], fullp, &st, tp, db);
        shown++;
    }
    jsonw_array_end(out);
    jsonw_kv_uint(out, "entries", shown);
    jsonw_kv_bool(out, "truncated", truncated);
    if (!db)
        jsonw_kv_str(out, "package_note", pkgerr);
    jsonw_object_end(out);
out:
    if (e == -ENOMEM)
        snprintf(err, errlen, "out of memory listing %s", path);
    if (db)
        live_pkgdb_release();
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return e;
}

/* ------------------------------------------------------------ fileinfo */

static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

/* The extended attributes of path (not followed): names, sizes, small values. */
static void write_xattrs(struct jsonw *out, const char *path)
{
    char list[8192];
    ssize_t len = llistxattr(path, list, sizeof(list));
    size_t count = 0;

    jsonw_key(out, "xattrs");
    jsonw_array_begin(out);
    for (ssize_t off = 0; len > 0 && off < len && count < XATTR_MAX_NAMES; count++) {
        const char *name = list + off;
        char value[XATTR_VALUE_MAX];
        ssize_t vlen = lgetxattr(path, name, value, sizeof(value));
        ssize_t size = vlen >= 0 ? vlen : lgetxattr(path, name, NULL, 0);

        off += (ssize_t)strlen(name) + 1;
        jsonw_object_begin(out);
        jsonw_kv_str(out, "name", name);
        jsonw_key(out, "size");
        if (size >= 0)
            jsonw_uint(out, (uint64_t)size);
        else
            jsonw_null(out);
        jsonw_key(out, "value");
        if (vlen < 0) {
            jsonw_null(out); /* larger than XATTR_VALUE_MAX, or unreadable */
        } else if (printable(value, (size_t)(vlen && value[vlen - 1] == '\0' ? vlen - 1 : vlen))) {
            jsonw_strn(out, value, (size_t)(vlen && value[vlen - 1] == '\0' ? vlen - 1 : vlen));
        } else {
            char hex[2 * XATTR_VALUE_MAX + 8] = "hex:";
            for (ssize_t i = 0; i < vlen; i++)
                sprintf(hex + 4 + 2 * i, "%02x", (unsigned char)value[i]);
            jsonw_str(out, hex);
        }
        jsonw_object_end(out);
    }
    jsonw_array_end(out);
}

static void kv_null_or(struct jsonw *out, const char *key, const char *v)
{
    jsonw_key(out, key);
    if (v && *v)
        jsonw_str(out, v);
    else
        jsonw_null(out);
}

int live_fileinfo(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    const char *path = arg_str(call, "path"), *base = strrchr(path, '/') + 1;
    char parent[PATH_MAX], real[PATH_MAX], canon[PATH_MAX], target[PATH_MAX] = "", note[300] = "";
    char mode[11], octal[8], user[256], group[256], pkgerr[256];
    const char *owner = NULL, *check = NULL;
    struct live_hashes h = {.bytes = 0};
    bool hashed = false;
    struct pkgdb *db = NULL;
    struct stat st, fst;
    int pids[FILEINFO_MAX_PROCS];
    size_t npids = 0;
    int dfd = -1, fd = -1, e = 0;

    if (strcmp(path, "/") == 0) {
        snprintf(parent, sizeof(parent), "/");
        base = ".";
    } else {
        snprintf(parent, sizeof(parent), "%.*s", base - path > 1 ? (int)(base - path - 1) : 1, path);
    }
    dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        e = -errno;
        say_errno(err, errlen, path, errno);
        goto out;
    }
    if (strcmp(path, "/") == 0)
        snprintf(canon, sizeof(canon), "/");
    else if (!fd_path(dfd, real, sizeof(real)) || !join(real, base, canon, sizeof(canon)))
        snprintf(canon, sizeof(canon), "%s", path);
    if (S_ISLNK(st.st_mode)) {
        ssize_t r = readlinkat(dfd, base, target, sizeof(target) - 1);
        target[r >= 0 ? r : 0] = '\0';
        snprintf(note, sizeof(note), "a symbolic link is not hashed (fileinfo its target to see the file)");
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(note, sizeof(note), "not a regular file: nothing to hash");
    } else if ((uint64_t)st.st_size > LIVE_HASH_MAX_BYTES) {
        snprintf(note, sizeof(note), "larger than %llu MiB: not hashed", LIVE_HASH_MAX_BYTES >> 20);
    } else {
        fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
            fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(note, sizeof(note), "cannot be read: %s", strerror(errno));
        } else if (fstat(fd, &fst) != 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
            snprintf(note, sizeof(note), "replaced while being looked at: not hashed");
        } else {
            int r = live_hash_fd(fd, LIVE_HASH_MAX_BYTES, true, true, call, &h);
            if (r == -ECANCELED) {
                e = r;
                goto out;
            }
            if (r == -ESTALE)
                snprintf(note, sizeof(note), "changed while being read: not hashed");
            else if (r == -EFBIG)
                snprintf(note, sizeof(note), "grew past %llu MiB: not hashed", LIVE_HASH_MAX_BYTES >> 20);
            else if (r)
                snprintf(note, sizeof(note), "cannot be read: %s", strerror(-r));
            hashed = r == 0;
            st = fst;
        }
    }
    db = live_pkgdb_acquire(pkgerr, sizeof(pkgerr));
    if (db)
        owner = pkgdb_owner(db, canon);
    if (owner && S_ISREG(st.st_mode)) {
        enum pkgdb_verdict v;
        char verr[300];
        if (pkgdb_verify(db, canon, &v, verr, sizeof(verr)) == 0)
            check = v == PKGDB_MATCH ? "matches" : v == PKGDB_MISMATCH ? "differs" : "no record";
    }
    if (S_ISREG(st.st_mode))
        npids = live_procs_running(st.st_dev, st.st_ino, pids, FILEINFO_MAX_PROCS);
    live_mode_text(st.st_mode, mode);
    snprintf(octal, sizeof(octal), "%04o", (unsigned)(st.st_mode & 07777));
    live_user_name(st.st_uid, user, sizeof(user));
    live_group_name(st.st_gid, group, sizeof(group));

    jsonw_object_begin(out);
    jsonw_kv_str(out, "path", path);
    if (strcmp(canon, path) != 0)
        jsonw_kv_str(out, "canonical_path", canon);
    jsonw_kv_str(out, "type", live_type_name(st.st_mode));
    jsonw_kv_uint(out, "size", (uint64_t)st.st_size);
    jsonw_kv_str(out, "mode", mode);
    jsonw_kv_str(out, "mode_octal", octal);
    jsonw_kv_str(out, "owner", user);
    jsonw_kv_str(out, "group", group);
    jsonw_kv_uint(out, "uid", st.st_uid);
    jsonw_kv_uint(out, "gid", st.st_gid);
    jsonw_kv_uint(out, "inode", (uint64_t)st.st_ino);
    {
        char dev[32];
        snprintf(dev, sizeof(dev), "%u:%u", major(st.st_dev), minor(st.st_dev));
        jsonw_kv_str(out, "device", dev);
    }
    jsonw_kv_uint(out, "links", (uint64_t)st.st_nlink);
    jsonw_kv_time(out, "mtime", live_ts_ns(&st.st_mtim));
    jsonw_kv_time(out, "ctime", live_ts_ns(&st.st_ctim));
    jsonw_kv_time(out, "atime", live_ts_ns(&st.st_atim));
    kv_null_or(out, "target", S_ISLNK(st.st_mode) ? target : NULL);
    kv_null_or(out, "sha256", hashed ? h.sha256 : NULL);
    kv_null_or(out, "sha1", hashed ? h.sha1 : NULL);
    kv_null_or(out, "md5", hashed ? h.md5 : NULL);
    if (!hashed)
        jsonw_kv_str(out, "hash_note", note);
    kv_null_or(out, "package", owner);
    kv_null_or(out, "package_check", check);
    if (!db)
        jsonw_kv_str(out, "package_note", pkgerr);
    write_xattrs(out, path);
    jsonw_key(out, "processes");
    jsonw_array_begin(out);
    for (size_t i = 0; i < npids && i < FILEINFO_MAX_PROCS; i++) {
        char name[64];
        live_proc_name(pids[i], name, sizeof(name));
        jsonw_object_begin(out);
        jsonw_kv_int(out, "pid", pids[i]);
        jsonw_kv_str(out, "name", name);
        jsonw_object_end(out);
    }
    jsonw_array_end(out);
    jsonw_object_end(out);
out:
    if (db)
        live_pkgdb_release();
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    return e;
}

/* ------------------------------------------------------------ findfile */

struct find {
    const struct live_call *call;
    struct jsonw *out;
    const char *glob;
    uint64_t max, matches, entries, dirs, skipped;
    uint64_t last_report; /* live_progress */
    bool truncated;
    int error; /* -ECANCELED, -EPIPE: stop */
    char path[PATH_MAX + 256];
};

/* One match: a line of streamed text and a row. */
static void found(struct find *f, const struct stat *st)
{
    char line[4 * sizeof(f->path) + 2];
    size_t n;
    int e;

    if (f->matches == f->max) {
        f->truncated = true;
        f->error = 1; /* stop walking: enough */
        return;
    }
    f->matches++;
    n = live_text_line(f->path, line);
    e = command_output(f->call->cmd, line, n);
    if (e) {
        f->error = e;
        return;
    }
    jsonw_object_begin(f->out);
    jsonw_kv_str(f->out, "path", f->path);
    jsonw_kv_str(f->out, "type", st ? live_type_name(st->st_mode) : "unknown");
    jsonw_key(f->out, "size");
    if (st)
        jsonw_uint(f->out, (uint64_t)st->st_size);
    else
        jsonw_null(f->out);
    jsonw_key(f->out, "mtime");
    if (st) {
        char t[40];
        jsonw_format_time(t, sizeof(t), live_ts_ns(&st->st_mtim));
        jsonw_str(f->out, t);
    } else {
        jsonw_null(f->out);
    }
    jsonw_object_end(f->out);
}

/* Walks the directory fd (owned) whose path is f->path[0..plen). */
static void find_dir(struct find *f, int fd, size_t plen, dev_t dev, unsigned depth)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;

    if (!d) {
        close(fd);
        f->skipped++;
        return;
    }
    f->dirs++;
    while (!f->error && (de = readdir(d))) {
        const char *name = de->d_name;
        size_t nlen = strlen(name), len = plen;
        bool is_dir = de->d_type == DT_DIR, stated = false;
        struct stat st;

        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (++f->entries % CANCEL_EVERY == 0) {
            if (live_cancelled(f->call)) {
                f->error = -ECANCELED;
                break;
            }
            {
                char progress[256];
                snprintf(progress, sizeof(progress), "{\"files\": %" PRIu64 ", \"findings\": %" PRIu64 "}",
                         f->entries, f->matches);
                live_progress(f->call, &f->last_report, progress);
            }
        }
        if (len + 1 + nlen >= sizeof(f->path)) {
            f->skipped++;
            continue;
        }
        if (len == 0 || f->path[len - 1] != '/')
            f->path[len++] = '/';
        memcpy(f->path + len, name, nlen + 1);
        if (de->d_type == DT_UNKNOWN || is_dir) {
            stated = fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0;
            is_dir = stated && S_ISDIR(st.st_mode);
        }
        if (fnmatch(f->glob, name, 0) == 0) {
            if (!stated)
                stated = fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0;
            found(f, stated ? &st : NULL);
            if (f->error)
                break;
        }
        if (is_dir) {
            int sub;
            if (depth + 1 > FINDFILE_MAX_DEPTH) {
                f->skipped++;
                continue;
            }
            sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
            if (sub < 0 && errno == EPERM)
                sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                f->skipped++;
                continue;
            }
            if (st.st_dev != dev) {
                struct statfs sf;
                if (fstatfs(sub, &sf) != 0 || scan_fs_is_skipped((int64_t)sf.f_type)) {
                    close(sub); /* a pseudo or network file system: not entered */
                    continue;
                }
            }
            find_dir(f, sub, len + nlen, st.st_dev, depth + 1);
        }
    }
    f->path[plen] = '\0';
    closedir(d);
}

int live_findfile(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    const char *glob = arg_str(call, "name"), *root = arg_str(call, "path") ? arg_str(call, "path") : "/";
    json_t *jmax = json_object_get(call->args, "max");
    struct find *f = calloc(1, sizeof(*f));
    struct statfs sf;
    struct stat st;
    int fd = -1, e = 0;

    if (!f) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *f = (struct find){.call = call, .out = out, .glob = glob,
                       .max = jmax ? (uint64_t)json_integer_value(jmax) : FINDFILE_DEFAULT_MAX};
    if (f->max < 1 || f->max > FINDFILE_MAX_MAX) {
        snprintf(err, errlen, "-max is from 1 to %d", FINDFILE_MAX_MAX);
        e = -EINVAL;
        goto out;
    }
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || fstatfs(fd, &sf) != 0) {
        e = -errno;
        say_errno(err, errlen, root, errno);
        goto out;
    }
    if (scan_fs_is_skipped((int64_t)sf.f_type)) {
        snprintf(err, errlen, "%s is on a pseudo or network file system, which findfile does not enter", root);
        e = -EXDEV;
        goto out;
    }
    if (!fd_path(fd, f->path, sizeof(f->path)))
        snprintf(f->path, sizeof(f->path), "%s", root);
    jsonw_object_begin(out);
    jsonw_kv_str(out, "path", f->path);
    jsonw_kv_str(out, "name", glob);
    jsonw_key(out, "columns");
    jsonw_array_begin(out);
    jsonw_str(out, "path");
    jsonw_str(out, "type");
    jsonw_str(out, "size");
    jsonw_str(out, "mtime");
    jsonw_array_end(out);
    jsonw_key(out, "rows");
    jsonw_array_begin(out);
    find_dir(f, fd, strcmp(f->path, "/") == 0 ? 1 : strlen(f->path), st.st_dev, 0);
    fd = -1; /* closed by find_dir */
    if (f->error < 0) {
        e = f->error;
        if (e == -ECANCELED)
            snprintf(err, errlen, "cancelled after %" PRIu64 " matches", f->matches);
        else
            snprintf(err, errlen, "the matches could not be sent to the server: %s", strerror(-e));
        goto out;
    }
    jsonw_array_end(out);
    jsonw_kv_uint(out, "matches", f->matches);
    jsonw_kv_bool(out, "truncated", f->truncated);
    jsonw_kv_uint(out, "directories", f->dirs);
    jsonw_kv_uint(out, "skipped", f->skipped);
    jsonw_object_end(out);
out:
    if (fd >= 0)
        close(fd);
    free(f);
    return e;
}
