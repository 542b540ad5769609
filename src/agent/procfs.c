/*
 * procfs.c — see procfs.h.
 *
 * Device numbers in records use the kernel's internal encoding
 * (MAJOR << 20 | MINOR), as the eBPF programs read them from the super
 * block, so that image identities from both sources compare equal.
 */
#include "agent/procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

uint64_t procfs_ns_per_tick(void)
{
    static uint64_t ns_per_tick;
    if (!ns_per_tick) {
        long hz = sysconf(_SC_CLK_TCK);
        ns_per_tick = 1000000000ull / (uint64_t)(hz > 0 ? hz : 100);
    }
    return ns_per_tick;
}

uint64_t procfs_boottime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads at most len-1 bytes of root/pid/name into buf, NUL-terminated.
 * Returns the byte count or -errno. */
static ssize_t read_file(const char *root, pid_t pid, const char *name, char *buf, size_t len)
{
    char path[64];
    ssize_t n, total = 0;
    int fd;

    snprintf(path, sizeof(path), "%s/%d/%s", root, (int)pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    while ((size_t)total < len - 1) {
        n = read(fd, buf + total, len - 1 - (size_t)total);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            n = -errno;
            close(fd);
            return n;
        }
        if (n == 0)
            break;
        total += n;
    }
    close(fd);
    buf[total] = '\0';
    return total;
}

static ssize_t read_link(const char *root, pid_t pid, const char *name, char *buf, size_t len)
{
    char path[64];
    ssize_t n;

    snprintf(path, sizeof(path), "%s/%d/%s", root, (int)pid, name);
    n = readlink(path, buf, len - 1);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    return n;
}

struct stat_fields {
    char comm[YS_COMM_LEN];
    char state;
    pid_t ppid;
    pid_t sid;
    unsigned int tty_nr;
    unsigned long long start_ticks;
};

/* Parses /proc/PID/stat; the command name may hold spaces and parentheses,
 * so fields are counted from the last ')'. */
static int read_stat(const char *root, pid_t pid, struct stat_fields *sf)
{
    char buf[1024];
    ssize_t n = read_file(root, pid, "stat", buf, sizeof(buf));
    char *open_paren, *close_paren, *p;
    int field;

    if (n < 0)
        return n == -ENOENT ? -ESRCH : (int)n;
    open_paren = strchr(buf, '(');
    close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren || close_paren < open_paren)
        return -EINVAL;
    memset(sf, 0, sizeof(*sf));
    size_t clen = (size_t)(close_paren - open_paren - 1);
    if (clen >= sizeof(sf->comm))
        clen = sizeof(sf->comm) - 1;
    memcpy(sf->comm, open_paren + 1, clen);
    /* field 3 (state) starts two bytes after ')' */
    p = close_paren + 2;
    for (field = 3; *p && field <= 22; field++) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        switch (field) {
        case 3: sf->state = *p; break;
        case 4: sf->ppid = (pid_t)v; break;
        case 6: sf->sid = (pid_t)v; break;
        case 7: sf->tty_nr = (unsigned int)v; break;
        case 22: sf->start_ticks = v; break;
        }
        p = strchr(p, ' ');
        if (!p)
            break;
        p++;
    }
    return field >= 22 ? 0 : -EINVAL;
}

/* Reads "Uid:" and "Gid:" lines of /proc/PID/status. */
static int read_ids(const char *root, pid_t pid, struct ys_task *t)
{
    char buf[4096];
    ssize_t n = read_file(root, pid, "status", buf, sizeof(buf));
    unsigned int r, e, s, f;
    char *line;

    if (n < 0)
        return n == -ENOENT ? -ESRCH : (int)n;
    line = strstr(buf, "\nUid:");
    if (line && sscanf(line + 5, "%u %u %u %u", &r, &e, &s, &f) == 4) {
        t->uid = r;
        t->euid = e;
    }
    line = strstr(buf, "\nGid:");
    if (line && sscanf(line + 5, "%u %u %u %u", &r, &e, &s, &f) == 4) {
        t->gid = r;
        t->egid = e;
    }
    return 0;
}

static uint32_t read_u32_file(const char *root, pid_t pid, const char *name, uint32_t dflt)
{
    char buf[32];
    if (read_file(root, pid, name, buf, sizeof(buf)) <= 0)
        return dflt;
    return (uint32_t)strtoul(buf, NULL, 10);
}

int procfs_read_task(const char *root, pid_t pid, struct ys_task *t)
{
    struct stat_fields sf, psf;
    int err;

    memset(t, 0, sizeof(*t));
    err = read_stat(root, pid, &sf);
    if (err)
        return err;
    err = read_ids(root, pid, t);
    if (err)
        return err;
    t->tgid = (uint32_t)pid;
    t->tid = (uint32_t)pid;
    t->ppid = (uint32_t)sf.ppid;
    t->sid = (uint32_t)sf.sid;
    t->start_ns = sf.start_ticks * procfs_ns_per_tick();
    if (sf.ppid > 0 && read_stat(root, sf.ppid, &psf) == 0)
        t->pstart_ns = psf.start_ticks * procfs_ns_per_tick();
    t->loginuid = read_u32_file(root, pid, "loginuid", (uint32_t)-1);
    t->sessionid = read_u32_file(root, pid, "sessionid", (uint32_t)-1);
    memcpy(t->comm, sf.comm, sizeof(t->comm));
    return 0;
}

/* Appends len bytes to the record at *pos, describing them in *field;
 * truncates to what fits. */
static void put_bytes(uint8_t *rec, size_t cap, uint32_t *pos, struct ys_str *field,
                      const void *data, size_t len)
{
    size_t room = *pos < cap ? cap - *pos : 0;
    if (len > room)
        len = room;
    if (len > 0xffff)
        len = 0xffff;
    memcpy(rec + *pos, data, len);
    field->off = (uint16_t)*pos;
    field->len = (uint16_t)len;
    *pos += (uint32_t)len;
}

/* "pts/3", "tty1", "ttyS0" from a stat tty_nr; "" when unknown. */
static void tty_name(unsigned int tty_nr, char *out, size_t outlen)
{
    unsigned int maj = (tty_nr >> 8) & 0xfff, min = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);

    out[0] = '\0';
    if (tty_nr == 0)
        return;
    if (maj >= 136 && maj <= 143)
        snprintf(out, outlen, "pts/%u", ((maj - 136) << 8) | min);
    else if (maj == 4 && min < 64)
        snprintf(out, outlen, "tty%u", min);
    else if (maj == 4)
        snprintf(out, outlen, "ttyS%u", min - 64);
}

static uint32_t kernel_dev(dev_t d)
{
    return ((uint32_t)major(d) << 20) | (uint32_t)minor(d);
}

int procfs_exec_record(const char *root, pid_t pid, uint32_t flags, uint8_t source,
                       uint64_t ts_ns, void *buf, size_t buflen)
{
    struct ys_exec *e = buf;
    uint8_t *rec = buf;
    uint32_t pos = sizeof(*e);
    size_t cap = buflen < YS_RECORD_MAX ? buflen : YS_RECORD_MAX;
    char path[PATH_MAX + 16];
    struct stat_fields sf;
    struct stat st;
    ssize_t n;
    int err;

    if (buflen < sizeof(*e) + 1024)
        return -ENOSPC;
    memset(e, 0, sizeof(*e));
    err = procfs_read_task(root, pid, &e->h.task);
    if (err)
        return err;
    e->h.type = YS_PROC_EXEC;
    e->h.version = YS_ABI_VERSION;
    e->h.source = source;
    e->h.ts_ns = ts_ns;

    /* the image */
    n = read_link(root, pid, "exe", path, sizeof(path));
    if (n > 0) {
        static const char deleted[] = " (deleted)";
        size_t dl = sizeof(deleted) - 1;
        if ((size_t)n > dl && strcmp(path + n - dl, deleted) == 0) {
            n -= (ssize_t)dl;
            path[n] = '\0';
            flags |= YS_F_DELETED;
        }
        if (strncmp(path, "/memfd:", 7) == 0) {
            flags |= YS_F_MEMFD;
            put_bytes(rec, cap, &pos, &e->memfd, path + 7, (size_t)n - 7);
        }
        put_bytes(rec, cap, &pos, &e->path, path, (size_t)n);
        snprintf(path, sizeof(path), "%s/%d/exe", root, (int)pid);
        if (stat(path, &st) == 0) {
            e->ino = st.st_ino;
            e->dev = kernel_dev(st.st_dev);
            e->mode = st.st_mode;
            e->size = (uint64_t)st.st_size;
            e->mtime_sec = st.st_mtim.tv_sec;
            e->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
            e->ctime_sec = st.st_ctim.tv_sec;
            e->ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
        }
    } else if (n == -ENOENT && kill(pid, 0) != 0 && errno == ESRCH) {
        return -ESRCH;
    } else {
        flags |= YS_F_PARTIAL; /* kernel thread, or gone, or not ours to read */
    }

    /* argv */
    {
        char *args = malloc(YS_ARGV_MAX + 1);
        if (!args)
            return -ENOMEM;
        n = read_file(root, pid, "cmdline", args, YS_ARGV_MAX + 1);
        if (n > 0) {
            if (n >= YS_ARGV_MAX)
                flags |= YS_F_ARGV_TRUNC;
            for (ssize_t i = 0; i < n; i++)
                if (args[i] == '\0')
                    e->argc++;
            if (args[n - 1] != '\0')
                e->argc++;
            put_bytes(rec, cap, &pos, &e->argv, args, (size_t)n);
        }
        free(args);
    }

    /* working directory */
    n = read_link(root, pid, "cwd", path, sizeof(path));
    if (n > 0)
        put_bytes(rec, cap, &pos, &e->cwd, path, (size_t)n);

    /* cgroup leaf of the unified hierarchy ("0::/system.slice/x.service") */
    {
        char cg[4096];
        n = read_file(root, pid, "cgroup", cg, sizeof(cg));
        if (n > 0) {
            char *line = strstr(cg, "0::");
            if (line == cg || (line && line[-1] == '\n')) {
                char *end = strchr(line, '\n');
                if (end)
                    *end = '\0';
                char *leaf = strrchr(line + 3, '/');
                leaf = leaf ? leaf + 1 : line + 3;
                if (*leaf)
                    put_bytes(rec, cap, &pos, &e->cgroup, leaf, strlen(leaf));
            }
        }
    }

    /* controlling terminal; and whether the process outlived the reads
     * above: if it exited (or its pid was reused) meanwhile, the fields read
     * after that point are missing or foreign */
    if (read_stat(root, pid, &sf) == 0 && sf.state != 'Z' && sf.state != 'X' &&
        sf.start_ticks * procfs_ns_per_tick() == e->h.task.start_ns) {
        if (sf.tty_nr) {
            char tty[32];
            e->tty_nr = sf.tty_nr;
            tty_name(sf.tty_nr, tty, sizeof(tty));
            if (tty[0])
                put_bytes(rec, cap, &pos, &e->tty, tty, strlen(tty));
        }
    } else {
        flags |= YS_F_PARTIAL;
    }

    e->h.flags = flags;
    e->h.size = (uint16_t)(pos > 0xffff ? 0xffff : pos);
    return (int)pos;
}

int procfs_for_each_pid(const char *root, int (*fn)(pid_t pid, void *ctx), void *ctx)
{
    DIR *d = opendir(root);
    struct dirent *de;
    int ret = 0;

    if (!d)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid;
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        ret = fn((pid_t)pid, ctx);
        if (ret)
            break;
    }
    closedir(d);
    return ret;
}
