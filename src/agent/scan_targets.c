/*
 * scan_targets.c — what a scan visits (see scan.h).
 *
 * Walks open each directory relative to its parent with O_NOFOLLOW, list
 * it, sort the names (a stable order: a rerun visits files the same way)
 * and visit entries with fstatat(AT_SYMLINK_NOFOLLOW): symbolic links are
 * never followed, devices, FIFOs and sockets are never opened. A walk
 * entering another file system checks its statfs type and stays out of
 * pseudo and network file systems. A full scan walks every local mount
 * once (by device), each without crossing into other mounts.
 *
 * The quick scan's targets: the images of running processes (through
 * /proc/<pid>/exe, the file the process runs even when deleted), the
 * persistence configuration files and the absolute paths their entries
 * name (crontabs and cron directories, systemd units and their Exec*
 * lines, rc.local, ld.so.preload), /tmp, /var/tmp and /dev/shm, and
 * hidden executables (a name starting with '.' in the path below the home
 * directory, any execute bit) in /root and /home/<user>.
 */
#include "agent/scan_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#define MAX_DEPTH 128
#define HOME_DEPTH 8
#define MAX_TARGETS 100000
#define MAX_CONFIG_BYTES (1u << 20)
#define MAX_MOUNTS 4096

/* ------------------------------------------------------------ file system types */

/* Pseudo file systems (nothing on disk to scan; some block or never end)
 * and network or FUSE file systems (remote, may hang; FUSE may be either).
 * tmpfs is local and scanned; devtmpfs reports tmpfs's type but only
 * holds device nodes, which walks never open. */
static const uint64_t skipped_fs[] = {
    0x9fa0,     /* proc */
    0x62656572, /* sysfs */
    0x27e0eb,   /* cgroup */
    0x63677270, /* cgroup2 */
    0x1cd1,     /* devpts */
    0x64626720, /* debugfs */
    0x74726163, /* tracefs */
    0x73636673, /* securityfs */
    0xf97cff8c, /* selinuxfs */
    0x43415d53, /* smackfs */
    0x6165676c, /* pstore */
    0xde5e81e4, /* efivarfs */
    0xcafe4a11, /* bpf */
    0x6e736673, /* nsfs */
    0x50495045, /* pipefs */
    0x534f434b, /* sockfs */
    0x42494e4d, /* binfmt_misc */
    0x19800202, /* mqueue */
    0x958458f6, /* hugetlbfs */
    0x62656570, /* configfs */
    0x65735543, /* fusectl */
    0x6969,     /* NFS */
    0xff534d42, /* CIFS */
    0xfe534d42, /* SMB2 */
    0x517b,     /* SMB */
    0x65735546, /* FUSE (sshfs, gvfs, ...) */
    0x564c,     /* NCP */
    0x5346414f, /* AFS */
    0x6b414653, /* kAFS */
    0x73757245, /* Coda */
    0x0bd00bd0, /* Lustre */
    0x47504653, /* GPFS */
    0x00c36400, /* CephFS */
    0x01161970, /* GFS2 */
    0x7461636f, /* OCFS2 */
    0x61636673, /* ACFS */
    0x013111a8, /* IBRIX */
};

bool scan_fs_is_skipped(int64_t t)
{
    for (size_t i = 0; i < sizeof(skipped_fs) / sizeof(skipped_fs[0]); i++)
        if ((uint64_t)t == skipped_fs[i])
            return true;
    return false;
}

/* ------------------------------------------------------------ walking */

enum walk_filter { WALK_ALL, WALK_HIDDEN_EXEC };

struct walk {
    struct scan_ctx *c;
    enum walk_filter filter;
    bool same_fs;     /* never leave the root's device (full scans) */
    dev_t dev;
    unsigned max_depth;
    char path[PATH_MAX + 256];
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks the directory fd (owned: closed here) whose path is w->path[0..plen). */
static void walk_dir(struct walk *w, int fd, size_t plen, unsigned depth, bool hidden)
{
    struct scan_ctx *c = w->c;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = fdopendir(fd);

    if (!d) {
        close(fd);
        return;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nv = realloc(names, nc * sizeof(*nv));
            if (!nv)
                break;
            names = nv;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name)))
            break;
        n++;
    }
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n && !scan_cancelled(c); i++) {
        const char *name = names[i];
        size_t nlen = strlen(name), len = plen;
        bool hid = hidden || name[0] == '.';
        struct stat st;

        if (len + 1 + nlen >= sizeof(w->path)) {
            if (c->pass == SCAN_PASS_SCAN)
                c->unreadable++;
            continue;
        }
        if (len == 0 || w->path[len - 1] != '/')
            w->path[len++] = '/';
        memcpy(w->path + len, name, nlen + 1);
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (c->pass == SCAN_PASS_SCAN)
                c->vanished++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            int sub;
            if (depth + 1 > w->max_depth || (w->same_fs && st.st_dev != w->dev))
                continue;
            sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
            if (sub < 0 && errno == EPERM)
                sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                if (c->pass == SCAN_PASS_SCAN)
                    (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) ? c->vanished++ : c->unreadable++;
                continue;
            }
            if (st.st_dev != w->dev) {
                struct statfs sf;
                if (fstatfs(sub, &sf) != 0 || scan_fs_is_skipped((int64_t)sf.f_type)) {
                    close(sub);
                    continue;
                }
            }
            walk_dir(w, sub, len + nlen, depth + 1, hid);
        } else if (S_ISREG(st.st_mode)) {
            if (w->filter == WALK_HIDDEN_EXEC && (!hid || !(st.st_mode & 0111)))
                continue;
            scan_visit_at(c, dirfd(d), name, w->path, &st);
        }
    }
    w->path[plen] = '\0';
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
}

/* Walks root (a directory; a missing one is nothing to scan). Returns 0,
 * -ENOENT when root does not exist, -EXDEV when it is on a file system
 * scans stay out of, -ENOTDIR when it is not a directory. */
static int walk_root(struct scan_ctx *c, const char *root, enum walk_filter filter, bool same_fs, unsigned max_depth)
{
    struct walk *w = calloc(1, sizeof(*w));
    struct statfs sf;
    struct stat st;
    int fd, e = 0;

    if (!w)
        return -ENOMEM;
    fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        e = -errno;
        goto out;
    }
    if (fstat(fd, &st) != 0 || fstatfs(fd, &sf) != 0) {
        e = -errno;
        close(fd);
        goto out;
    }
    if (scan_fs_is_skipped((int64_t)sf.f_type)) {
        close(fd);
        e = -EXDEV;
        goto out;
    }
    *w = (struct walk){.c = c, .filter = filter, .same_fs = same_fs, .dev = st.st_dev, .max_depth = max_depth};
    snprintf(w->path, sizeof(w->path), "%s", root);
    if (strlen(w->path) > 1 && w->path[strlen(w->path) - 1] == '/')
        w->path[strlen(w->path) - 1] = '\0';
    walk_dir(w, fd, strcmp(w->path, "/") == 0 ? 1 : strlen(w->path), 0, false);
out:
    free(w);
    return e;
}

/* Visits one file named by path (never through a final symbolic link). */
static void visit_path(struct scan_ctx *c, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    scan_visit_at(c, AT_FDCWD, path, path, &st);
}

/* ------------------------------------------------------------ full scan */

struct mount {
    char *dir;
    bool whole; /* the mount shows the file system's root */
};

static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* The mount points of /proc/self/mountinfo, file-system roots first. */
static size_t read_mounts(struct mount *m, size_t max)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[8192];
    size_t n = 0;

    if (!f)
        return 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        char root[4096], dir[4096];
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, dir) != 2)
            continue;
        unescape(dir);
        if (!(m[n].dir = strdup(dir)))
            break;
        m[n].whole = strcmp(root, "/") == 0;
        n++;
    }
    fclose(f);
    /* stable partition: whole-file-system mounts first */
    for (size_t i = 0, k = 0; i < n; i++)
        if (m[i].whole) {
            struct mount t = m[i];
            memmove(&m[k + 1], &m[k], (i - k) * sizeof(*m));
            m[k++] = t;
        }
    return n;
}

/* Calls fn for every local file system (one mount each). */
static void each_local_fs(struct scan_ctx *c, void (*fn)(struct scan_ctx *, const char *, const struct statfs *))
{
    struct mount *m = calloc(MAX_MOUNTS, sizeof(*m));
    dev_t *devs = calloc(MAX_MOUNTS, sizeof(*devs));
    size_t n, ndev = 0;

    if (!m || !devs)
        goto out;
    n = read_mounts(m, MAX_MOUNTS);
    if (!n) { /* no mountinfo (a chroot without /proc): the root only */
        m[0].dir = strdup("/");
        n = m[0].dir ? 1 : 0;
    }
    for (size_t i = 0; i < n && !scan_cancelled(c); i++) {
        struct statfs sf;
        struct stat st;
        bool seen = false;
        if (lstat(m[i].dir, &st) != 0 || !S_ISDIR(st.st_mode) || statfs(m[i].dir, &sf) != 0 ||
            scan_fs_is_skipped((int64_t)sf.f_type))
            continue;
        for (size_t k = 0; k < ndev && !seen; k++)
            seen = devs[k] == st.st_dev;
        if (seen)
            continue;
        devs[ndev++] = st.st_dev;
        fn(c, m[i].dir, &sf);
    }
out:
    if (m)
        for (size_t i = 0; i < MAX_MOUNTS; i++)
            free(m[i].dir);
    free(m);
    free(devs);
}

static void add_estimate(struct scan_ctx *c, const char *dir, const struct statfs *sf)
{
    (void)dir;
    c->total_bytes += (uint64_t)(sf->f_blocks - sf->f_bfree) * (uint64_t)sf->f_frsize;
    if (sf->f_files > sf->f_ffree)
        c->total_files += (uint64_t)(sf->f_files - sf->f_ffree);
}

void scan_targets_estimate_full(struct scan_ctx *c)
{
    each_local_fs(c, add_estimate);
}

static void walk_fs(struct scan_ctx *c, const char *dir, const struct statfs *sf)
{
    (void)sf;
    walk_root(c, dir, WALK_ALL, true, MAX_DEPTH);
}

/* ------------------------------------------------------------ quick scan */

static void add_target(struct scan_ctx *c, const char *path)
{
    char *real;
    struct stat st;

    if (c->ntargets >= MAX_TARGETS || path[0] != '/')
        return;
    real = realpath(path, NULL); /* what the system runs: links resolved */
    if (!real)
        return;
    if (lstat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(real);
        return;
    }
    if (c->ntargets == c->captargets) {
        size_t cap = c->captargets ? c->captargets * 2 : 64;
        char **nv = realloc(c->targets, cap * sizeof(*nv));
        if (!nv) {
            free(real);
            return;
        }
        c->targets = nv;
        c->captargets = cap;
    }
    c->targets[c->ntargets++] = real;
}

/* Adds every absolute path a line names (a command, its script, a library). */
static void add_line_paths(struct scan_ctx *c, char *line)
{
    static const char seps[] = " \t\r\n;|&<>()`'\"=:,";
    char *save = NULL;
    for (char *tok = strtok_r(line, seps, &save); tok; tok = strtok_r(NULL, seps, &save)) {
        while (*tok && strchr("-@+!", *tok) && tok[1] == '/') /* systemd's Exec prefixes */
            tok++;
        if (tok[0] == '/' && strlen(tok) < PATH_MAX)
            add_target(c, tok);
    }
}

enum config_kind { CONF_LINES, CONF_SYSTEMD };

/* Adds the configuration file and what its entries run. */
static void add_config(struct scan_ctx *c, const char *path, enum config_kind kind)
{
    FILE *f;
    char line[4096];
    struct stat st;

    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    add_target(c, path);
    if (st.st_size > MAX_CONFIG_BYTES || !(f = fopen(path, "re")))
        return;
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == ';' || !*p)
            continue;
        if (kind == CONF_SYSTEMD && strncmp(p, "Exec", 4) != 0)
            continue;
        if (kind == CONF_SYSTEMD) {
            char *eq = strchr(p, '=');
            if (!eq)
                continue;
            p = eq + 1;
        }
        add_line_paths(c, p);
    }
    fclose(f);
}

/* Adds the configuration files of dir (and of its subdirectories, to depth). */
static void add_config_dir(struct scan_ctx *c, const char *dir, enum config_kind kind, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
            continue;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth > 0)
            add_config_dir(c, path, kind, depth - 1);
        else if (S_ISREG(st.st_mode))
            add_config(c, path, kind);
    }
    closedir(d);
}

static void collect_targets(struct scan_ctx *c)
{
    static const char *const cron_files[] = {"/etc/crontab", "/etc/anacrontab", NULL};
    static const char *const cron_dirs[] = {"/etc/cron.d", "/var/spool/cron/crontabs", "/var/spool/cron", NULL};
    static const char *const cron_run[] = {"/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly",
                                           "/etc/cron.monthly", "/etc/cron.yearly", NULL};
    static const char *const unit_dirs[] = {"/etc/systemd/system", "/run/systemd/system",
                                            "/usr/lib/systemd/system", "/etc/systemd/user",
                                            "/usr/lib/systemd/user", "/root/.config/systemd/user", NULL};
    DIR *d;
    struct dirent *de;

    c->targets_collected = true;
    for (const char *const *p = cron_files; *p; p++)
        add_config(c, *p, CONF_LINES);
    for (const char *const *p = cron_dirs; *p; p++)
        add_config_dir(c, *p, CONF_LINES, 0);
    for (const char *const *p = cron_run; *p; p++)
        add_config_dir(c, *p, CONF_LINES, 0);
    for (const char *const *p = unit_dirs; *p; p++)
        add_config_dir(c, *p, CONF_SYSTEMD, 2);
    if ((d = opendir("/home"))) {
        while ((de = readdir(d))) {
            char path[PATH_MAX];
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "/home/%.200s/.config/systemd/user", de->d_name);
            add_config_dir(c, path, CONF_SYSTEMD, 2);
        }
        closedir(d);
    }
    add_config(c, "/etc/rc.local", CONF_LINES);
    add_config(c, "/etc/ld.so.preload", CONF_LINES);
}

static void visit_processes(struct scan_ctx *c)
{
    DIR *d = opendir("/proc");
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)) && !scan_cancelled(c)) {
        char exe[64], path[PATH_MAX];
        struct stat st;
        ssize_t n;
        int fd;

        if (!isdigit((unsigned char)de->d_name[0]) || strlen(de->d_name) > 12)
            continue;
        snprintf(exe, sizeof(exe), "/proc/%.12s/exe", de->d_name);
        n = readlink(exe, path, sizeof(path) - 1);
        if (n <= 0)
            continue; /* a kernel thread, gone, or not ours to see */
        path[n] = '\0';
        fd = open(exe, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            continue;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            if (c->pass == SCAN_PASS_COUNT) {
                if (scan_idset_add(&c->seen, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) {
                    c->total_files++;
                    c->total_bytes += (uint64_t)st.st_size;
                }
            } else {
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
                scan_visit_fd(c, fd, path, &st);
            }
        }
        close(fd);
    }
    closedir(d);
}

static void visit_quick(struct scan_ctx *c)
{
    static const char *const temp_dirs[] = {"/tmp", "/var/tmp", "/dev/shm", NULL};
    DIR *d;
    struct dirent *de;

    if (!c->targets_collected)
        collect_targets(c);
    visit_processes(c);
    for (size_t i = 0; i < c->ntargets && !scan_cancelled(c); i++)
        visit_path(c, c->targets[i]);
    for (const char *const *p = temp_dirs; *p && !scan_cancelled(c); p++)
        walk_root(c, *p, WALK_ALL, false, MAX_DEPTH);
    walk_root(c, "/root", WALK_HIDDEN_EXEC, false, HOME_DEPTH);
    if ((d = opendir("/home"))) {
        while ((de = readdir(d)) && !scan_cancelled(c)) {
            char path[PATH_MAX];
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "/home/%.200s", de->d_name);
            walk_root(c, path, WALK_HIDDEN_EXEC, false, HOME_DEPTH);
        }
        closedir(d);
    }
}

/* ------------------------------------------------------------ entry points */

int scan_targets_visit(struct scan_ctx *c, char *err, size_t errlen)
{
    const char *path = c->o->path;
    struct stat st;
    int e;

    switch (c->o->kind) {
    case SCAN_QUICK:
        visit_quick(c);
        return 0;
    case SCAN_FULL:
        each_local_fs(c, walk_fs);
        return 0;
    case SCAN_CUSTOM:
        break;
    }
    if (lstat(path, &st) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot scan %s: %s", path, strerror(errno));
        return e;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "%s is a symbolic link; scans never follow links: give the path it points to", path);
        return -ELOOP;
    }
    if (S_ISREG(st.st_mode)) {
        scan_visit_at(c, AT_FDCWD, path, path, &st);
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is neither a file nor a directory", path);
        return -EINVAL;
    }
    e = walk_root(c, path, WALK_ALL, false, MAX_DEPTH);
    if (e == -EXDEV)
        snprintf(err, errlen, "%s is on a pseudo or network file system, which scans do not enter", path);
    else if (e)
        snprintf(err, errlen, "cannot scan %s: %s", path, strerror(-e));
    return e;
}

void scan_targets_free(struct scan_ctx *c)
{
    for (size_t i = 0; i < c->ntargets; i++)
        free(c->targets[i]);
    free(c->targets);
    c->targets = NULL;
    c->ntargets = c->captargets = 0;
}
