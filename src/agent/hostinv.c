/*
 * hostinv.c — processes, file descriptors and sockets from /proc (see
 * hostinv.h). Processes are read in two steps: the pids of /proc first,
 * then each one's stat, status, exe, cmdline (and cgroup); a process whose
 * stat is gone by then is left out, one that goes later keeps what was
 * read. /proc/net tables are parsed line by line; a line that does not
 * parse is skipped.
 */
#include "agent/hostinv.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/procfs.h"

int hostinv_read_file(const char *path, size_t max, bool nofollow, char **out, size_t *len, bool *trunc)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0);
    int fd = open(path, flags | O_NOATIME); /* looking leaves no trace; EPERM: not ours, and not root */
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int e = 0;

    *out = NULL;
    *len = 0;
    if (trunc)
        *trunc = false;
    if (fd < 0 && errno == EPERM)
        fd = open(path, flags);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        e = S_ISREG(st.st_mode) ? -errno : -EINVAL;
        goto out;
    }
    buf = malloc(max + 1);
    if (!buf) {
        e = -ENOMEM;
        goto out;
    }
    while (n < max) {
        ssize_t r = read(fd, buf + n, max - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = -errno;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n == max && trunc) {
        char c;
        *trunc = read(fd, &c, 1) == 1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return e;
}

/* ------------------------------------------------------------ processes */

static int cmp_pid(const void *a, const void *b)
{
    const struct hostinv_proc *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Fills p from /proc/PID; -ESRCH when its stat is gone. */
static int read_proc(struct hostinv_proc *p, int pid, unsigned flags, size_t cmdline_max)
{
    char path[64], exe[PATH_MAX], *buf, *rp, *lp;
    size_t len;
    ssize_t el;

    memset(p, 0, sizeof(*p));
    p->pid = pid;
    p->ppid = -1;
    p->uid = -1;
    p->state = '?';
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (hostinv_read_file(path, 4096, false, &buf, &len, NULL) != 0)
        return -ESRCH;
    rp = strrchr(buf, ')');
    lp = strchr(buf, '(');
    if (!rp || !lp || lp > rp) {
        free(buf);
        return -ESRCH;
    }
    snprintf(p->comm, sizeof(p->comm), "%.*s", (int)(rp - lp - 1), lp + 1);
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
     * priority nice threads itrealvalue starttime */
    sscanf(rp + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &p->state,
           &p->ppid, &p->start_ticks);
    free(buf);

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if (hostinv_read_file(path, 65536, false, &buf, &len, NULL) == 0) {
        char *u = strstr(buf, "\nUid:");
        if (u)
            p->uid = atoi(u + 5);
        free(buf);
    }
    snprintf(path, sizeof(path), "/proc/%d/exe", pid);
    el = readlink(path, exe, sizeof(exe) - 1);
    exe[el > 0 ? el : 0] = '\0';
    p->exe = strdup(exe);

    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    if (hostinv_read_file(path, cmdline_max, false, &buf, &len, NULL) == 0) {
        while (len && !buf[len - 1])
            len--;
        for (size_t k = 0; k < len; k++)
            if (!buf[k])
                buf[k] = ' ';
        buf[len] = '\0';
        p->cmdline = buf;
    } else {
        p->cmdline = strdup("");
    }
    if (flags & HOSTINV_CGROUP) {
        snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
        if (hostinv_read_file(path, 65536, false, &buf, &len, NULL) == 0) {
            char *line = strstr(buf, "0::");
            if (line && (line == buf || line[-1] == '\n')) {
                line[strcspn(line, "\n")] = '\0';
                p->cgroup = strdup(line + 3);
            }
            free(buf);
        }
    }
    if (!p->exe || !p->cmdline) {
        free(p->exe);
        free(p->cmdline);
        free(p->cgroup);
        return -ENOMEM;
    }
    return 0;
}

int hostinv_procs(unsigned flags, size_t cmdline_max, struct hostinv_proc **out, size_t *n, bool *truncated,
                  char *err, size_t errlen)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int *pids = NULL;
    size_t npids = 0, cap = 0, k = 0;
    struct hostinv_proc *v = NULL;
    bool more = false;
    int e = 0;

    *out = NULL;
    *n = 0;
    if (truncated)
        *truncated = false;
    if (!d) {
        e = -errno;
        snprintf(err, errlen, "cannot list /proc: %s", strerror(errno));
        return e;
    }
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || pid > INT32_MAX)
            continue;
        if (npids == HOSTINV_MAX_PIDS) {
            more = true;
            break;
        }
        if (npids == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            int *p = realloc(pids, nc * sizeof(*p));
            if (!p) {
                e = -ENOMEM;
                goto out;
            }
            pids = p;
            cap = nc;
        }
        pids[npids++] = (int)pid;
    }
    v = calloc(npids ? npids : 1, sizeof(*v));
    if (!v) {
        e = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < npids; i++) {
        int r = read_proc(&v[k], pids[i], flags, cmdline_max);
        if (r == -ENOMEM) {
            e = r;
            goto out;
        }
        if (r == 0)
            k++;
    }
    qsort(v, k, sizeof(*v), cmp_pid);
    *out = v;
    *n = k;
    v = NULL;
    if (truncated)
        *truncated = more;
out:
    if (e == -ENOMEM)
        snprintf(err, errlen, "out of memory while reading processes");
    hostinv_procs_free(v, k);
    free(pids);
    closedir(d);
    return e;
}

void hostinv_procs_free(struct hostinv_proc *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].exe);
        free(v[i].cmdline);
        free(v[i].cgroup);
    }
    free(v);
}

const struct hostinv_proc *hostinv_proc_find(const struct hostinv_proc *v, size_t n, int pid)
{
    struct hostinv_proc key = {.pid = pid};
    return v && n ? bsearch(&key, v, n, sizeof(*v), cmp_pid) : NULL;
}

uint64_t hostinv_boot_unix_ns(void)
{
    struct timespec rt;
    uint64_t boot = procfs_boottime_ns();

    clock_gettime(CLOCK_REALTIME, &rt);
    return (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec - boot;
}

uint64_t hostinv_start_at(uint64_t boot_unix_ns, unsigned long long start_ticks)
{
    return boot_unix_ns + (uint64_t)start_ticks * procfs_ns_per_tick();
}

uint64_t hostinv_start_unix_ns(unsigned long long start_ticks)
{
    return hostinv_start_at(hostinv_boot_unix_ns(), start_ticks);
}

void hostinv_process_uid(int pid, unsigned long long start_ticks, char *out, size_t outlen)
{
    char boot[64] = "";
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, boot, sizeof(boot) - 1) : -1;

    if (fd >= 0)
        close(fd);
    if (r < 8)
        snprintf(boot, sizeof(boot), "00000000");
    snprintf(out, outlen, "%.8s-%d-%llu", boot, pid, start_ticks);
}

int hostinv_fds(int pid, size_t max, int (*fn)(int pid, const char *fd, const char *target, void *ctx), void *ctx)
{
    char path[64];
    DIR *d;
    int seen = 0, r = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    if (!(d = opendir(path)))
        return -errno;
    while ((size_t)seen < max) {
        struct dirent *fe = readdir(d);
        char lp[96], target[PATH_MAX];
        ssize_t tl;
        if (!fe)
            break;
        if (fe->d_name[0] == '.')
            continue;
        snprintf(lp, sizeof(lp), "/proc/%d/fd/%.20s", pid, fe->d_name);
        tl = readlink(lp, target, sizeof(target) - 1);
        if (tl <= 0)
            continue;
        target[tl] = '\0';
        seen++;
        if ((r = fn(pid, fe->d_name, target, ctx)) != 0)
            break;
    }
    closedir(d);
    return r ? r : seen;
}

/* ------------------------------------------------------------ sockets */

static const char *tcp_state(unsigned st)
{
    static const char *const names[] = {"?",         "ESTABLISHED", "SYN_SENT", "SYN_RECV",   "FIN_WAIT1",
                                        "FIN_WAIT2", "TIME_WAIT",   "CLOSE",    "CLOSE_WAIT", "LAST_ACK",
                                        "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
    return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

/* "0100007F:0016" (v4) or 32 hex digits + port (v6) to text. */
static bool inet_addr_text(const char *hex, bool v6, char *out, size_t outlen, unsigned *port)
{
    const char *colon = strchr(hex, ':');
    unsigned char b[16];
    size_t n = v6 ? 16 : 4;

    if (!colon || (size_t)(colon - hex) != 2 * n)
        return false;
    for (size_t w = 0; w < n / 4; w++) {
        uint32_t word;
        char tmp[9];
        memcpy(tmp, hex + 8 * w, 8);
        tmp[8] = '\0';
        word = (uint32_t)strtoul(tmp, NULL, 16);
        memcpy(b + 4 * w, &word, 4); /* the kernel prints host-order words */
    }
    *port = (unsigned)strtoul(colon + 1, NULL, 16);
    return inet_ntop(v6 ? AF_INET6 : AF_INET, b, out, (socklen_t)outlen) != NULL;
}

/* Reads a /proc/net table and calls line_fn for each line after the
 * header, at most HOSTINV_MAX_SOCKETS. */
static int each_line(const char *path, int (*line_fn)(char *line, void *ctx, bool *used), void *ctx)
{
    char *buf, *save = NULL;
    size_t len;
    int n = 0, r = 0, e = hostinv_read_file(path, 16u << 20, false, &buf, &len, NULL);

    if (e)
        return e;
    strtok_r(buf, "\n", &save); /* header */
    for (char *line = strtok_r(NULL, "\n", &save); line && n < HOSTINV_MAX_SOCKETS;
         line = strtok_r(NULL, "\n", &save)) {
        bool used = false;
        if ((r = line_fn(line, ctx, &used)) != 0)
            break;
        n += used;
    }
    free(buf);
    return r ? r : n;
}

struct inet_ctx {
    const char *proto;
    bool v6, tcp;
    int (*fn)(const struct hostinv_sock *s, void *ctx);
    void *ctx;
};

static int inet_line(char *line, void *vctx, bool *used)
{
    struct inet_ctx *c = vctx;
    struct hostinv_sock s = {.proto = c->proto};
    char la[80], ra[80];
    unsigned long long inode;

    if (sscanf(line, " %*u: %79s %79s %x %*s %*s %*s %u %*u %llu", la, ra, &s.state, &s.uid, &inode) != 5)
        return 0;
    if (!inet_addr_text(la, c->v6, s.local, sizeof(s.local), &s.lport) ||
        !inet_addr_text(ra, c->v6, s.remote, sizeof(s.remote), &s.rport))
        return 0;
    s.inode = inode;
    s.state_name = c->tcp ? tcp_state(s.state) : (s.state == 7 ? "UNCONN" : s.state == 1 ? "ESTABLISHED" : "?");
    s.listening = c->tcp ? s.state == 10 : s.state == 7;
    *used = true;
    return c->fn(&s, c->ctx);
}

int hostinv_inet_each(const char *path, const char *proto, int (*fn)(const struct hostinv_sock *s, void *ctx),
                      void *ctx)
{
    struct inet_ctx c = {.fn = fn, .ctx = ctx};

    if (!strcmp(proto, "tcp") || !strcmp(proto, "tcp6"))
        c.tcp = true;
    else if (strcmp(proto, "udp") != 0 && strcmp(proto, "udp6") != 0)
        return -EINVAL;
    c.proto = c.tcp ? (proto[3] ? "tcp6" : "tcp") : (proto[3] ? "udp6" : "udp");
    c.v6 = proto[3] == '6';
    return each_line(path, inet_line, &c);
}

struct unix_ctx {
    int (*fn)(const struct hostinv_unix *s, void *ctx);
    void *ctx;
};

static int unix_line(char *line, void *vctx, bool *used)
{
    struct unix_ctx *c = vctx;
    struct hostinv_unix u;
    unsigned type;
    unsigned long long inode;
    int off = 0;

    if (sscanf(line, "%*s %*x %*x %*x %x %x %llu%n", &type, &u.state, &inode, &off) != 3)
        return 0;
    while (line[off] == ' ')
        off++;
    u.type = type == 1 ? "stream" : type == 2 ? "dgram" : type == 5 ? "seqpacket" : "?";
    u.inode = inode;
    u.path = line + off;
    *used = true;
    return c->fn(&u, c->ctx);
}

int hostinv_unix_each(const char *path, int (*fn)(const struct hostinv_unix *s, void *ctx), void *ctx)
{
    struct unix_ctx c = {.fn = fn, .ctx = ctx};
    return each_line(path, unix_line, &c);
}

/* ------------------------------------------------------------ socket owners */

void hostinv_owners_add(struct hostinv_owners *o, uint64_t inode, int pid)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        struct hostinv_sockref *p = realloc(o->v, cap * sizeof(*p));
        if (!p)
            return;
        o->v = p;
        o->cap = cap;
    }
    o->v[o->n].inode = inode;
    o->v[o->n].pid = pid;
    o->n++;
    o->sorted = false;
}

static int owner_fd(int pid, const char *fd, const char *target, void *ctx)
{
    (void)fd;
    if (strncmp(target, "socket:[", 8) == 0)
        hostinv_owners_add(ctx, strtoull(target + 8, NULL, 10), pid);
    return 0;
}

int hostinv_owners_add_pid(struct hostinv_owners *o, int pid, size_t max)
{
    return hostinv_fds(pid, max, owner_fd, o);
}

static int cmp_ref(const void *a, const void *b)
{
    const struct hostinv_sockref *x = a, *y = b;
    if (x->inode != y->inode)
        return (x->inode > y->inode) - (x->inode < y->inode);
    return (x->pid > y->pid) - (x->pid < y->pid);
}

void hostinv_owners_sort(struct hostinv_owners *o)
{
    if (o->n)
        qsort(o->v, o->n, sizeof(*o->v), cmp_ref);
    o->sorted = true;
}

size_t hostinv_owners_of(const struct hostinv_owners *o, uint64_t inode, int *pids, size_t max)
{
    struct hostinv_sockref key = {.inode = inode, .pid = INT32_MIN};
    size_t lo = 0, hi = o->n, count = 0;
    int last = INT32_MIN;

    if (!inode || !o->sorted)
        return 0;
    while (lo < hi) { /* the first entry >= (inode, INT32_MIN) */
        size_t mid = (lo + hi) / 2;
        if (cmp_ref(&o->v[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < o->n && o->v[i].inode == inode; i++) {
        if (o->v[i].pid == last)
            continue;
        if (count < max)
            pids[count] = o->v[i].pid;
        count++;
        last = o->v[i].pid;
    }
    return count;
}

void hostinv_owners_free(struct hostinv_owners *o)
{
    if (!o)
        return;
    free(o->v);
    memset(o, 0, sizeof(*o));
}
