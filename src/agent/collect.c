/*
 * collect.c — the investigation package (see collect.h). Each item is
 * built in memory (a bounded buffer: past its limit the item is cut and
 * marked truncated), then written as one regular entry of a gzip'd pax
 * tar through libarchive. Readers of /proc and /etc treat a file that
 * vanished or cannot be read as a fact to note, never as a failure: only
 * a failure to write the archive itself fails the build. README.txt,
 * written last, lists every entry (with its size and whether it was cut)
 * and every item that could not be collected with the reason.
 */
#include "agent/collect.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <utmp.h>
#include <utmpx.h>

#include "agent/channel.h"
#include "agent/hostinv.h"
#include "agent/recent.h"
#include "agent/remediate_fs.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/tlv.h"

#define ITEM_MAX (16u << 20)       /* one entry of the archive */
#define FILE_COPY_MAX (1u << 20)   /* one copied file */
#define MAX_FDS_PER_PID 256
#define MAX_FDS_TOTAL 200000
#define MAX_DIR_FILES 512          /* per copied directory */
#define MAX_USERS 4096
#define MAX_MOUNTS 4096
#define MAX_LOGINS 20000
#define CMDLINE_MAX 4096
#define LINEAGE_DEPTH 32

/* ------------------------------------------------------------ buffers */

struct mb {
    char *p;
    size_t len, cap;
    size_t max;
    bool trunc;
    bool oom;
};

static void mb_init(struct mb *m, size_t max)
{
    memset(m, 0, sizeof(*m));
    m->max = max;
}

static void mb_free(struct mb *m)
{
    free(m->p);
    memset(m, 0, sizeof(*m));
}

static void mb_add(struct mb *m, const char *s, size_t n)
{
    if (m->trunc || m->oom)
        return;
    if (m->len + n > m->max) {
        m->trunc = true;
        return;
    }
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        char *p;
        while (cap < m->len + n + 1)
            cap *= 2;
        p = realloc(m->p, cap);
        if (!p) {
            m->oom = true;
            return;
        }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->len, s, n);
    m->len += n;
    m->p[m->len] = '\0';
}

#define MB_LIT(m, lit) mb_add((m), (lit), sizeof(lit) - 1)

__attribute__((format(printf, 2, 3))) static void mb_printf(struct mb *m, const char *fmt, ...)
{
    char small[1024], *big = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        mb_add(m, small, (size_t)n);
        return;
    }
    big = malloc((size_t)n + 1);
    if (!big) {
        m->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    mb_add(m, big, (size_t)n);
    free(big);
}

/* Text from outside as one TSV field: tabs, newlines, backslashes and
 * other control bytes escaped as \xNN. */
static void mb_field(struct mb *m, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            mb_printf(m, "\\x%02x", c);
        else
            mb_add(m, (const char *)&s[i], 1);
    }
}

static void mb_fieldz(struct mb *m, const char *s)
{
    mb_field(m, s ? s : "", s ? strlen(s) : 0);
}

/* ------------------------------------------------------------ the package */

struct coll {
    struct archive *a;
    const struct command *cmd;
    json_t *items;   /* name -> count */
    json_t *missing; /* [{"item", "reason"}] */
    json_t *entries; /* [{"name", "bytes", "truncated"}] */
    int werr;        /* the first archive write error (-errno) */
    char werrmsg[256];
    time_t now;
    struct hostinv_owners owners; /* what the process walk learnt, for the sockets */
};

static void miss(struct coll *c, const char *item, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void miss(struct coll *c, const char *item, const char *fmt, ...)
{
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    json_array_append_new(c->missing, json_pack("{s:s, s:s}", "item", item, "reason", reason));
}

static void count(struct coll *c, const char *item, uint64_t n)
{
    json_object_set_new(c->items, item, json_integer((json_int_t)n));
}

/* Writes one entry named COLLECT_TOP/name with len bytes. */
static void put_data(struct coll *c, const char *name, const void *data, size_t len, bool truncated)
{
    struct archive_entry *e;
    char full[PATH_MAX];

    if (c->werr)
        return;
    snprintf(full, sizeof(full), "%s/%s", COLLECT_TOP, name);
    e = archive_entry_new();
    if (!e) {
        c->werr = -ENOMEM;
        snprintf(c->werrmsg, sizeof(c->werrmsg), "out of memory");
        return;
    }
    archive_entry_set_pathname(e, full);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_mtime(e, c->now, 0);
    if (archive_write_header(c->a, e) != ARCHIVE_OK ||
        (len && archive_write_data(c->a, data, len) != (la_ssize_t)len)) {
        c->werr = -EIO;
        snprintf(c->werrmsg, sizeof(c->werrmsg), "cannot write the archive: %s",
                 archive_error_string(c->a) ? archive_error_string(c->a) : "unknown error");
    }
    archive_entry_free(e);
    json_array_append_new(c->entries,
                          json_pack("{s:s, s:I, s:b}", "name", name, "bytes", (json_int_t)len, "truncated", truncated));
}

static void put(struct coll *c, const char *name, struct mb *m)
{
    if (m->oom) {
        miss(c, name, "out of memory while building it");
        return;
    }
    put_data(c, name, m->p ? m->p : "", m->len, m->trunc);
}

/* Copies the file at path into the entry name; notes what went wrong.
 * Returns whether it was copied. */
static bool put_file(struct coll *c, const char *name, const char *path, bool nofollow)
{
    char *buf;
    size_t len;
    bool trunc;
    int e = hostinv_read_file(path, FILE_COPY_MAX, nofollow, &buf, &len, &trunc);

    if (e) {
        if (e == -ENOENT)
            miss(c, name, "%s does not exist (or vanished while collecting)", path);
        else if (e == -EINVAL)
            miss(c, name, "%s is not a regular file", path);
        else
            miss(c, name, "cannot read %s: %s", path, strerror(-e));
        return false;
    }
    put_data(c, name, buf, len, trunc);
    free(buf);
    return true;
}

/* ------------------------------------------------------------ system */

static void collect_system(struct coll *c)
{
    struct mb m;
    struct utsname u;
    char *buf;
    size_t len;
    long cpus = 0;
    char model[256] = "";

    mb_init(&m, ITEM_MAX);
    if (uname(&u) == 0)
        mb_printf(&m, "sysname\t%s\nnodename\t%s\nrelease\t%s\nversion\t%s\nmachine\t%s\n", u.sysname, u.nodename,
                  u.release, u.version, u.machine);
    if (hostinv_read_file("/proc/cpuinfo", ITEM_MAX, false, &buf, &len, NULL) == 0) {
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            if (strncmp(line, "processor", 9) == 0)
                cpus++;
            else if (!model[0] && strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
                const char *v = strchr(line, ':') + 1;
                while (*v == ' ' || *v == '\t')
                    v++;
                snprintf(model, sizeof(model), "%s", v);
            }
        }
        free(buf);
        mb_printf(&m, "cpus\t%ld\ncpu_model\t", cpus);
        mb_fieldz(&m, model);
        MB_LIT(&m, "\n");
    } else {
        miss(c, "system/cpu", "cannot read /proc/cpuinfo: %s", strerror(errno));
    }
    if (hostinv_read_file("/proc/meminfo", 65536, false, &buf, &len, NULL) == 0) {
        static const char *const keys[] = {"MemTotal:", "MemAvailable:", "MemFree:", "SwapTotal:", "SwapFree:", NULL};
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
            for (const char *const *k = keys; *k; k++)
                if (strncmp(line, *k, strlen(*k)) == 0) {
                    char *v = line + strlen(*k);
                    while (*v == ' ')
                        v++;
                    mb_printf(&m, "%.*s\t%s\n", (int)strlen(*k) - 1, *k, v);
                }
        free(buf);
    } else {
        miss(c, "system/memory", "cannot read /proc/meminfo");
    }
    if (hostinv_read_file("/proc/uptime", 256, false, &buf, &len, NULL) == 0) {
        mb_printf(&m, "uptime_seconds\t%.*s\n", (int)strcspn(buf, " \n"), buf);
        free(buf);
    }
    put(c, "system/system.txt", &m);
    mb_free(&m);
    put_file(c, "system/os-release", "/etc/os-release", false);
    count(c, "system", 1);
}

/* ------------------------------------------------------------ mounts */

/* Undoes mountinfo's octal escapes (\040) in place. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static void collect_mounts(struct coll *c)
{
    char *buf, *save = NULL;
    size_t len, n = 0;
    struct mb m;

    if (!put_file(c, "volumes/mountinfo.txt", "/proc/self/mountinfo", false))
        return;
    if (hostinv_read_file("/proc/self/mountinfo", ITEM_MAX, false, &buf, &len, NULL) != 0)
        return;
    mb_init(&m, ITEM_MAX);
    MB_LIT(&m, "mount_point\tfstype\tsource\ttotal_bytes\tfree_bytes\tavailable_bytes\tfiles\tfiles_free\n");
    for (char *line = strtok_r(buf, "\n", &save); line && n < MAX_MOUNTS; line = strtok_r(NULL, "\n", &save)) {
        char *f[5] = {0}, *sep = strstr(line, " - "), *p = line, fstype[64] = "", source[512] = "";
        struct statfs sf;
        int i;
        for (i = 0; i < 5 && p; i++) {
            f[i] = p;
            p = strchr(p, ' ');
            if (p)
                *p++ = '\0';
        }
        if (i < 5 || !f[4] || !sep)
            continue;
        if (sscanf(sep + 3, "%63s %511s", fstype, source) < 1)
            continue;
        unescape_octal(f[4]);
        mb_fieldz(&m, f[4]);
        MB_LIT(&m, "\t");
        mb_fieldz(&m, fstype);
        MB_LIT(&m, "\t");
        mb_fieldz(&m, source);
        /* statfs of a network file system whose server is gone can block:
         * only local kinds are measured */
        if (strncmp(fstype, "nfs", 3) != 0 && strcmp(fstype, "cifs") != 0 && strncmp(fstype, "fuse", 4) != 0 &&
            statfs(f[4], &sf) == 0)
            mb_printf(&m, "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
                      (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize, (uint64_t)sf.f_bfree * (uint64_t)sf.f_bsize,
                      (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize, (uint64_t)sf.f_files, (uint64_t)sf.f_ffree);
        else
            MB_LIT(&m, "\t-\t-\t-\t-\t-\n");
        n++;
    }
    free(buf);
    put(c, "volumes/usage.tsv", &m);
    mb_free(&m);
    count(c, "mounts", n);
}

/* ------------------------------------------------------------ processes */

struct fdwalk {
    struct coll *c;
    struct mb *m;
    size_t total;
};

static int open_file(int pid, const char *fd, const char *target, void *ctx)
{
    struct fdwalk *w = ctx;

    if (w->total >= MAX_FDS_TOTAL)
        return 1;
    mb_printf(w->m, "%d\t%s\t", pid, fd);
    mb_fieldz(w->m, target);
    MB_LIT(w->m, "\n");
    if (strncmp(target, "socket:[", 8) == 0)
        hostinv_owners_add(&w->c->owners, strtoull(target + 8, NULL, 10), pid);
    w->total++;
    return 0;
}

static void collect_processes(struct coll *c)
{
    struct hostinv_proc *procs = NULL;
    size_t nprocs = 0;
    bool more = false;
    struct mb pm, fm, lm;
    struct fdwalk fw = {.c = c, .m = &fm};
    char why[256];

    if (hostinv_procs(0, CMDLINE_MAX, &procs, &nprocs, &more, why, sizeof(why)) != 0) {
        miss(c, "processes", "%s", why);
        return;
    }
    mb_init(&pm, ITEM_MAX);
    mb_init(&fm, ITEM_MAX);
    mb_init(&lm, ITEM_MAX);
    MB_LIT(&pm, "pid\tppid\tuid\tuser\tstart_time\tstate\tcomm\texe\tcmdline\n");
    MB_LIT(&fm, "pid\tfd\ttarget\n");
    MB_LIT(&lm, "pid\tancestors (parent first)\n");
    for (size_t i = 0; i < nprocs; i++) {
        const struct hostinv_proc *p = &procs[i];
        char tbuf[40];
        struct passwd pw, *pwp = NULL;
        char pwbuf[1024];
        time_t t = (time_t)(hostinv_start_unix_ns(p->start_ticks) / 1000000000ull);
        struct tm tm;
        int pp = p->ppid, depth = 0;

        if (p->uid >= 0)
            getpwuid_r((uid_t)p->uid, &pw, pwbuf, sizeof(pwbuf), &pwp);
        gmtime_r(&t, &tm);
        strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        mb_printf(&pm, "%d\t%d\t%d\t", p->pid, p->ppid, p->uid);
        mb_fieldz(&pm, pwp ? pwp->pw_name : "");
        mb_printf(&pm, "\t%s\t%c\t", tbuf, p->state);
        mb_fieldz(&pm, p->comm);
        MB_LIT(&pm, "\t");
        mb_fieldz(&pm, p->exe);
        MB_LIT(&pm, "\t");
        mb_fieldz(&pm, p->cmdline);
        MB_LIT(&pm, "\n");
        if (fw.total < MAX_FDS_TOTAL)
            hostinv_fds(p->pid, MAX_FDS_PER_PID, open_file, &fw);
        /* lineage: the chain of ancestors */
        mb_printf(&lm, "%d\t", p->pid);
        while (pp > 0 && depth < LINEAGE_DEPTH) {
            const struct hostinv_proc *q = hostinv_proc_find(procs, nprocs, pp);
            mb_printf(&lm, depth ? " %d" : "%d", pp);
            pp = q ? q->ppid : -1;
            depth++;
        }
        MB_LIT(&lm, "\n");
    }
    put(c, "processes/processes.tsv", &pm);
    put(c, "processes/open_files.tsv", &fm);
    put(c, "processes/lineage.tsv", &lm);
    mb_free(&pm);
    mb_free(&fm);
    mb_free(&lm);
    count(c, "processes", nprocs);
    count(c, "open_files", fw.total);
    if (more)
        miss(c, "processes", "more than %d processes: the rest were not listed", HOSTINV_MAX_PIDS);
    if (fw.total >= MAX_FDS_TOTAL)
        miss(c, "open_files", "more than %d open files: the rest were not listed", MAX_FDS_TOTAL);
    hostinv_owners_sort(&c->owners);
    hostinv_procs_free(procs, nprocs);
}

/* ------------------------------------------------------------ network */

static void owners(struct coll *c, struct mb *m, uint64_t inode)
{
    int pids[64];
    size_t n = hostinv_owners_of(&c->owners, inode, pids, 64);

    for (size_t i = 0; i < n && i < 64; i++)
        mb_printf(m, i ? ",%d" : "%d", pids[i]);
    if (!n)
        MB_LIT(m, "-");
}

struct netrows {
    struct coll *c;
    struct mb *all, *listen;
    struct mb *unix_m;
};

static int inet_row(const struct hostinv_sock *s, void *ctx)
{
    struct netrows *r = ctx;

    for (int k = 0; k < 2; k++) {
        struct mb *m = k ? r->listen : r->all;
        if (k && !s->listening)
            continue;
        mb_printf(m, "%s\t%s\t%u\t%s\t%u\t%s\t%u\t%llu\t", s->proto, s->local, s->lport, s->remote, s->rport,
                  s->state_name, s->uid, (unsigned long long)s->inode);
        owners(r->c, m, s->inode);
        MB_LIT(m, "\n");
    }
    return 0;
}

static size_t parse_inet(struct netrows *r, const char *proto)
{
    char path[64];
    int n;

    snprintf(path, sizeof(path), "/proc/net/%s", proto);
    n = hostinv_inet_each(path, proto, inet_row, r);
    if (n < 0) {
        miss(r->c, path, "cannot read %s: %s", path, strerror(-n));
        return 0;
    }
    return (size_t)n;
}

static int unix_row(const struct hostinv_unix *u, void *ctx)
{
    struct netrows *r = ctx;

    mb_printf(r->unix_m, "%s\t%u\t%llu\t", u->type, u->state, (unsigned long long)u->inode);
    mb_fieldz(r->unix_m, u->path);
    MB_LIT(r->unix_m, "\t");
    owners(r->c, r->unix_m, u->inode);
    MB_LIT(r->unix_m, "\n");
    return 0;
}

static void collect_network(struct coll *c)
{
    struct mb all, lis, um, am;
    struct netrows r = {.c = c, .all = &all, .listen = &lis, .unix_m = &um};
    size_t n = 0, na = 0;
    char *buf;
    size_t len;
    struct ifaddrs *ifa = NULL;
    int nu;

    mb_init(&all, ITEM_MAX);
    mb_init(&lis, ITEM_MAX);
    static const char hdr[] = "proto\tlocal_address\tlocal_port\tremote_address\tremote_port\tstate\tuid\tinode\tpids\n";
    mb_add(&all, hdr, sizeof(hdr) - 1);
    mb_add(&lis, hdr, sizeof(hdr) - 1);
    n += parse_inet(&r, "tcp");
    n += parse_inet(&r, "tcp6");
    n += parse_inet(&r, "udp");
    n += parse_inet(&r, "udp6");
    put(c, "network/connections.tsv", &all);
    put(c, "network/listening.tsv", &lis);
    mb_free(&all);
    mb_free(&lis);
    count(c, "connections", n);

    mb_init(&um, ITEM_MAX);
    MB_LIT(&um, "type\tstate\tinode\tpath\tpids\n");
    nu = hostinv_unix_each("/proc/net/unix", unix_row, &r);
    if (nu < 0)
        miss(c, "network/unix.tsv", "cannot read /proc/net/unix: %s", strerror(-nu));
    else
        put(c, "network/unix.tsv", &um);
    mb_free(&um);
    count(c, "unix_sockets", nu < 0 ? 0 : (uint64_t)nu);

    if (put_file(c, "network/arp.txt", "/proc/net/arp", false)) {
        if (hostinv_read_file("/proc/net/arp", ITEM_MAX, false, &buf, &len, NULL) == 0) {
            size_t lines = 0;
            for (size_t i = 0; i < len; i++)
                lines += buf[i] == '\n';
            count(c, "neighbours", lines ? lines - 1 : 0);
            free(buf);
        }
    }
    miss(c, "network/ipv6-neighbours", "IPv6 neighbours are only reachable over netlink; not collected");

    if (getifaddrs(&ifa) != 0) {
        miss(c, "network/addresses.tsv", "getifaddrs: %s", strerror(errno));
    } else {
        mb_init(&am, ITEM_MAX);
        MB_LIT(&am, "interface\tfamily\taddress\tnetmask\tflags\n");
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
            char a[INET6_ADDRSTRLEN] = "-", nm[INET6_ADDRSTRLEN] = "-";
            int fam = i->ifa_addr ? i->ifa_addr->sa_family : -1;
            if (fam != AF_INET && fam != AF_INET6)
                continue;
            if (fam == AF_INET) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, a, sizeof(a));
                if (i->ifa_netmask)
                    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_netmask)->sin_addr, nm, sizeof(nm));
            } else {
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, a, sizeof(a));
                if (i->ifa_netmask)
                    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)i->ifa_netmask)->sin6_addr, nm, sizeof(nm));
            }
            mb_fieldz(&am, i->ifa_name);
            mb_printf(&am, "\t%s\t%s\t%s\t%s%s\n", fam == AF_INET ? "inet" : "inet6", a, nm,
                      (i->ifa_flags & IFF_UP) ? "UP" : "DOWN", (i->ifa_flags & IFF_LOOPBACK) ? ",LOOPBACK" : "");
            na++;
        }
        freeifaddrs(ifa);
        put(c, "network/addresses.tsv", &am);
        mb_free(&am);
    }
    count(c, "addresses", na);
}

static void collect_firewall(struct coll *c)
{
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
    const char *o, *er;

    if (!nft || nft_ctx_buffer_output(nft) != 0 || nft_ctx_buffer_error(nft) != 0) {
        miss(c, "network/nftables.txt", "libnftables could not be initialised");
        goto out;
    }
    if (nft_run_cmd_from_buffer(nft, "list ruleset") != 0) {
        er = nft_ctx_get_error_buffer(nft);
        miss(c, "network/nftables.txt", "nftables: %.300s", er && *er ? er : "listing the ruleset failed");
        goto out;
    }
    o = nft_ctx_get_output_buffer(nft);
    put_data(c, "network/nftables.txt", o ? o : "", o ? strlen(o) : 0, false);
    count(c, "firewall_rulesets", 1);
    miss(c, "network/iptables", "legacy iptables (x_tables) rules are not listed; nftables and iptables-nft rules are");
out:
    if (nft)
        nft_ctx_free(nft);
}

/* ------------------------------------------------------------ sign-ins */

static size_t collect_utmp(struct coll *c, const char *file, const char *name)
{
    struct utmpx *u;
    struct mb m;
    size_t n = 0;

    if (access(file, R_OK) != 0) {
        miss(c, name, "%s: %s", file, strerror(errno));
        return 0;
    }
    if (utmpxname(file) != 0) {
        miss(c, name, "%s cannot be opened", file);
        return 0;
    }
    mb_init(&m, ITEM_MAX);
    MB_LIT(&m, "type\tuser\tline\thost\tpid\ttime\n");
    setutxent();
    while ((u = getutxent()) && n < MAX_LOGINS) {
        static const char *const types[] = {"EMPTY", "RUN_LVL", "BOOT_TIME", "NEW_TIME", "OLD_TIME",
                                            "INIT_PROCESS", "LOGIN_PROCESS", "USER_PROCESS", "DEAD_PROCESS", "ACCOUNTING"};
        char tbuf[40];
        time_t t = (time_t)u->ut_tv.tv_sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        mb_printf(&m, "%s\t", u->ut_type >= 0 && u->ut_type <= 9 ? types[u->ut_type] : "?");
        mb_field(&m, u->ut_user, strnlen(u->ut_user, sizeof(u->ut_user)));
        MB_LIT(&m, "\t");
        mb_field(&m, u->ut_line, strnlen(u->ut_line, sizeof(u->ut_line)));
        MB_LIT(&m, "\t");
        mb_field(&m, u->ut_host, strnlen(u->ut_host, sizeof(u->ut_host)));
        mb_printf(&m, "\t%d\t%s\n", (int)u->ut_pid, tbuf);
        n++;
    }
    endutxent();
    utmpxname(_PATH_UTMP);
    put(c, name, &m);
    mb_free(&m);
    return n;
}

static void collect_logins(struct coll *c)
{
    FILE *pw;
    int fd;
    struct mb m;
    size_t n = 0;

    count(c, "wtmp_records", collect_utmp(c, "/var/log/wtmp", "logins/wtmp.tsv"));
    count(c, "btmp_records", collect_utmp(c, "/var/log/btmp", "logins/btmp.tsv"));

    fd = open("/var/log/lastlog", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        miss(c, "logins/lastlog.tsv", "/var/log/lastlog: %s", strerror(errno));
        return;
    }
    pw = fopen("/etc/passwd", "re");
    if (!pw) {
        miss(c, "logins/lastlog.tsv", "/etc/passwd: %s", strerror(errno));
        close(fd);
        return;
    }
    mb_init(&m, ITEM_MAX);
    MB_LIT(&m, "user\tuid\tline\thost\ttime\n");
    for (struct passwd *p; (p = fgetpwent(pw)) && n < MAX_USERS;) {
        struct lastlog ll;
        char tbuf[40];
        time_t t;
        struct tm tm;
        if (pread(fd, &ll, sizeof(ll), (off_t)p->pw_uid * (off_t)sizeof(ll)) != (ssize_t)sizeof(ll) || !ll.ll_time)
            continue;
        t = (time_t)ll.ll_time;
        gmtime_r(&t, &tm);
        strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        mb_fieldz(&m, p->pw_name);
        mb_printf(&m, "\t%u\t", (unsigned)p->pw_uid);
        mb_field(&m, ll.ll_line, strnlen(ll.ll_line, sizeof(ll.ll_line)));
        MB_LIT(&m, "\t");
        mb_field(&m, ll.ll_host, strnlen(ll.ll_host, sizeof(ll.ll_host)));
        mb_printf(&m, "\t%s\n", tbuf);
        n++;
    }
    fclose(pw);
    close(fd);
    put(c, "logins/lastlog.tsv", &m);
    mb_free(&m);
    count(c, "lastlog_records", n);
}

/* ------------------------------------------------------------ files: sudoers and persistence */

struct listing {
    struct coll *c;
    struct mb m;
    const char *prefix; /* entry prefix of copies: "persistence/files" */
    size_t n;
};

/* Lists path (not following it) with kind; copies a regular file. */
static void list_path(struct listing *l, const char *kind, const char *path)
{
    struct stat st;
    char target[PATH_MAX] = "", name[PATH_MAX + 64], tbuf[40] = "-";
    struct tm tm;

    if (lstat(path, &st) != 0) {
        if (errno != ENOENT) {
            mb_printf(&l->m, "%s\t", kind);
            mb_fieldz(&l->m, path);
            mb_printf(&l->m, "\tunreadable (%s)\t-\t-\t-\t-\n", strerror(errno));
        }
        return;
    }
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
    }
    gmtime_r(&st.st_mtime, &tm);
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    mb_printf(&l->m, "%s\t", kind);
    mb_fieldz(&l->m, path);
    mb_printf(&l->m, "\t%s\t%lld\t%s\t%u\t", S_ISREG(st.st_mode) ? "file" : S_ISLNK(st.st_mode) ? "symlink" : S_ISDIR(st.st_mode) ? "dir" : "other",
              (long long)st.st_size, tbuf, (unsigned)st.st_uid);
    mb_fieldz(&l->m, target[0] ? target : "-");
    MB_LIT(&l->m, "\n");
    l->n++;
    if (S_ISREG(st.st_mode) && l->prefix) {
        snprintf(name, sizeof(name), "%s%s", l->prefix, path);
        put_file(l->c, name, path, true);
    }
}

/* Lists the entries of dir (to depth levels below). */
static void list_dir(struct listing *l, const char *kind, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    if (!d) {
        if (errno != ENOENT)
            miss(l->c, kind, "cannot list %s: %s", dir, strerror(errno));
        return;
    }
    while ((de = readdir(d)) && n < MAX_DIR_FILES) {
        char path[PATH_MAX];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
            continue;
        list_path(l, kind, path);
        n++;
        if (depth > 0 && de->d_type == DT_DIR)
            list_dir(l, kind, path, depth - 1);
    }
    if (n == MAX_DIR_FILES)
        miss(l->c, kind, "%s holds more than %d entries: the rest were not listed", dir, MAX_DIR_FILES);
    closedir(d);
}

static void collect_sudoers(struct coll *c)
{
    struct listing l = {.c = c, .prefix = "sudoers/files"};

    mb_init(&l.m, ITEM_MAX);
    MB_LIT(&l.m, "kind\tpath\ttype\tsize\tmtime\tuid\tlink_target\n");
    list_path(&l, "sudoers", "/etc/sudoers");
    list_dir(&l, "sudoers.d", "/etc/sudoers.d", 0);
    put(c, "sudoers/listing.tsv", &l.m);
    mb_free(&l.m);
    count(c, "sudoers_files", l.n);
}

static void collect_persistence(struct coll *c)
{
    static const char *const files[] = {"/etc/crontab", "/etc/anacrontab", "/etc/rc.local", "/etc/ld.so.preload",
                                        "/etc/profile", "/etc/bash.bashrc", NULL};
    static const char *const dirs[] = {"/etc/cron.d",      "/etc/cron.hourly", "/etc/cron.daily",
                                       "/etc/cron.weekly", "/etc/cron.monthly", "/var/spool/cron/crontabs",
                                       "/etc/profile.d",   "/etc/init.d",       NULL};
    struct listing l = {.c = c, .prefix = "persistence/files"};
    FILE *pw;
    size_t users = 0;

    mb_init(&l.m, ITEM_MAX);
    MB_LIT(&l.m, "kind\tpath\ttype\tsize\tmtime\tuid\tlink_target\n");
    for (const char *const *f = files; *f; f++)
        list_path(&l, "file", *f);
    for (const char *const *d = dirs; *d; d++)
        list_dir(&l, strrchr(*d, '/') + 1, *d, 0);
    /* unit files and their enablement links (*.wants/, *.requires/) */
    list_dir(&l, "systemd", "/etc/systemd/system", 2);
    list_dir(&l, "systemd-user", "/etc/systemd/user", 2);
    pw = fopen("/etc/passwd", "re");
    if (!pw) {
        miss(c, "persistence/authorized_keys", "/etc/passwd: %s", strerror(errno));
    } else {
        for (struct passwd *p; (p = fgetpwent(pw)) && users < MAX_USERS; users++) {
            char path[PATH_MAX];
            if (!p->pw_dir || p->pw_dir[0] != '/' || strcmp(p->pw_dir, "/") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/.ssh/authorized_keys", p->pw_dir);
            list_path(&l, "authorized_keys", path);
            snprintf(path, sizeof(path), "%s/.ssh/authorized_keys2", p->pw_dir);
            list_path(&l, "authorized_keys", path);
        }
        fclose(pw);
    }
    put(c, "persistence/listing.tsv", &l.m);
    mb_free(&l.m);
    count(c, "persistence_entries", l.n);
}

/* ------------------------------------------------------------ the agent's recent events */

/* The ring collect reads the agent's recent events from (collect_set_recent),
 * and the channel the package goes over (collect_set_channel) with how
 * many uploads are on it: both change only under link_mu. */
static pthread_mutex_t link_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t link_cond = PTHREAD_COND_INITIALIZER;
static struct recent *collect_recent;
static struct channel *collect_chan;
static unsigned chan_users;

struct evwalk {
    struct jsonw w;
    size_t bad;
};

static int event_line(const void *rec, size_t len, void *ctx)
{
    struct evwalk *ev = ctx;
    size_t mark = ev->w.len;

    if (tlv_to_json(rec, len, &ev->w, true) != 0) {
        ev->w.len = mark; /* nothing of it stays */
        ev->bad++;
        return 0;
    }
    jsonw_end_line(&ev->w);
    return 0;
}

/* agent/events.jsonl: the ring's events as --stdout prints them, oldest
 * first; when they pass the entry limit, the oldest are left out. */
static void collect_events(struct coll *c)
{
    struct evwalk ev = {.bad = 0};
    struct recent *r;
    size_t from = 0, lines = 0;
    long n;

    pthread_mutex_lock(&link_mu);
    r = recent_ref(collect_recent);
    pthread_mutex_unlock(&link_mu);
    if (!r) {
        miss(c, "agent/events", "this process keeps no recent events (collect run outside the agent)");
        return;
    }
    jsonw_init(&ev.w);
    n = recent_each(r, event_line, &ev);
    recent_unref(r);
    if (n < 0 || jsonw_failed(&ev.w)) {
        miss(c, "agent/events", "out of memory while converting the agent's recent events");
        goto out;
    }
    if (n == 0) {
        miss(c, "agent/events", "the agent has not produced any event since it started");
        goto out;
    }
    if (ev.w.len > ITEM_MAX) {
        const char *nl = memchr(ev.w.buf + (ev.w.len - ITEM_MAX), '\n', ITEM_MAX);
        from = nl ? (size_t)(nl + 1 - ev.w.buf) : ev.w.len;
    }
    for (size_t i = from; i < ev.w.len; i++)
        lines += ev.w.buf[i] == '\n';
    put_data(c, "agent/events.jsonl", ev.w.buf + from, ev.w.len - from, from > 0);
    count(c, "agent_events", lines);
    if (ev.bad)
        miss(c, "agent/events", "%zu of the agent's recent events could not be decoded", ev.bad);
out:
    jsonw_free(&ev.w);
}

void collect_set_recent(struct recent *r)
{
    struct recent *old;

    pthread_mutex_lock(&link_mu);
    old = collect_recent;
    collect_recent = recent_ref(r);
    pthread_mutex_unlock(&link_mu);
    recent_unref(old);
}

/* ------------------------------------------------------------ README */

static void write_readme(struct coll *c)
{
    struct mb m;
    size_t i;
    json_t *v;
    char tbuf[40];
    struct tm tm;

    gmtime_r(&c->now, &tm);
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    mb_init(&m, ITEM_MAX);
    mb_printf(&m,
              "Yamori investigation package\n"
              "collected %s by yamori-agent %s\n\n"
              "Tables (.tsv) are tab-separated with a header line; control characters,\n"
              "tabs and backslashes inside fields are written as \\xNN. Copies of files\n"
              "keep their absolute path under sudoers/files and persistence/files.\n"
              "Every item is bounded: an entry marked \"truncated\" was cut at its limit.\n\n"
              "Entries:\n",
              tbuf, YAMORI_VERSION);
    json_array_foreach(c->entries, i, v)
    {
        mb_printf(&m, "  %s (%" JSON_INTEGER_FORMAT " bytes)%s\n", json_string_value(json_object_get(v, "name")),
                  json_integer_value(json_object_get(v, "bytes")),
                  json_is_true(json_object_get(v, "truncated")) ? " truncated" : "");
    }
    mb_printf(&m, "\nNot collected:\n");
    if (!json_array_size(c->missing))
        mb_printf(&m, "  (nothing)\n");
    json_array_foreach(c->missing, i, v)
    {
        mb_printf(&m, "  %s: %s\n", json_string_value(json_object_get(v, "item")),
                  json_string_value(json_object_get(v, "reason")));
    }
    put(c, "README.txt", &m);
    mb_free(&m);
}

/* ------------------------------------------------------------ the build */

static int step(struct coll *c, int done, int total, const char *what)
{
    char text[256];

    if (command_cancelled(c->cmd))
        return -ECANCELED;
    snprintf(text, sizeof(text), "{\"percent\": %.1f, \"message\": \"collecting %s\"}", 100.0 * done / total, what);
    command_progress(c->cmd, text);
    return c->werr;
}

int collect_build(const char *archive_path, const struct command *cmd, json_t **summary, char *err, size_t errlen)
{
    struct coll c = {.cmd = cmd};
    static const struct {
        const char *name;
        void (*fn)(struct coll *c);
    } steps[] = {
        {"system", collect_system},     {"mounts", collect_mounts},     {"processes", collect_processes},
        {"network", collect_network},   {"firewall", collect_firewall}, {"sign-ins", collect_logins},
        {"sudoers", collect_sudoers},   {"persistence", collect_persistence}, {"agent events", collect_events},
    };
    const int nsteps = (int)(sizeof(steps) / sizeof(steps[0]));
    int e = 0;

    *summary = NULL;
    c.now = time(NULL);
    c.items = json_object();
    c.missing = json_array();
    c.entries = json_array();
    c.a = archive_write_new();
    if (!c.items || !c.missing || !c.entries || !c.a) {
        snprintf(err, errlen, "out of memory");
        e = -ENOMEM;
        goto out;
    }
    if (archive_write_add_filter_gzip(c.a) != ARCHIVE_OK || archive_write_set_format_pax_restricted(c.a) != ARCHIVE_OK) {
        snprintf(err, errlen, "libarchive: %s", archive_error_string(c.a));
        e = -EIO;
        goto out;
    }
    unlink(archive_path);
    {
        mode_t old = umask(0077);
        int r = archive_write_open_filename(c.a, archive_path);
        umask(old);
        if (r != ARCHIVE_OK) {
            snprintf(err, errlen, "cannot create %s: %s", archive_path, archive_error_string(c.a));
            e = -EIO;
            goto out;
        }
    }
    for (int i = 0; i < nsteps; i++) {
        e = step(&c, i, nsteps + 1, steps[i].name);
        if (e)
            break;
        steps[i].fn(&c);
    }
    if (!e) {
        write_readme(&c);
        e = c.werr;
    }
    if (e == -ECANCELED)
        snprintf(err, errlen, "cancelled");
    else if (e)
        snprintf(err, errlen, "%s", c.werrmsg);
    if (archive_write_close(c.a) != ARCHIVE_OK && !e) {
        snprintf(err, errlen, "cannot finish %s: %s", archive_path, archive_error_string(c.a));
        e = -EIO;
    }
    if (!e) {
        *summary = json_pack("{s:O, s:O}", "items", c.items, "missing", c.missing);
        if (!*summary) {
            snprintf(err, errlen, "out of memory");
            e = -ENOMEM;
        }
    }
out:
    if (c.a)
        archive_write_free(c.a);
    if (e)
        unlink(archive_path);
    hostinv_owners_free(&c.owners);
    json_decref(c.items);
    json_decref(c.missing);
    json_decref(c.entries);
    return e;
}

int collect_sha256_file(const char *path, char hex[65], uint64_t *bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    EVP_MD_CTX *ctx = NULL;
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    unsigned mdlen = 0;
    uint64_t total = 0;
    int e = 0;

    if (fd < 0)
        return -errno;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        e = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = -errno;
            goto out;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        total += (uint64_t)r;
    }
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
    *bytes = total;
out:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return e;
}

/* ------------------------------------------------------------ the command */

void collect_set_channel(struct channel *c)
{
    pthread_mutex_lock(&link_mu);
    /* an upload on the old channel ends first (at once once it stopped) */
    while (chan_users)
        pthread_cond_wait(&link_cond, &link_mu);
    collect_chan = c;
    pthread_mutex_unlock(&link_mu);
}

/* The channel for one upload, held until chan_leave; NULL when there is
 * none (the agent stops). */
static struct channel *chan_enter(void)
{
    struct channel *c;

    pthread_mutex_lock(&link_mu);
    c = collect_chan;
    if (c)
        chan_users++;
    pthread_mutex_unlock(&link_mu);
    return c;
}

static void chan_leave(void)
{
    pthread_mutex_lock(&link_mu);
    chan_users--;
    pthread_cond_broadcast(&link_cond);
    pthread_mutex_unlock(&link_mu);
}

/* The package as the body of its upload, read as it is sent. */
struct upload_src {
    int fd;
    const struct command *cmd;
};

static size_t upload_read(char *buf, size_t len, void *ctx)
{
    struct upload_src *u = ctx;

    for (;;) {
        ssize_t r = read(u->fd, buf, len);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? CHANNEL_STREAM_ABORT : (size_t)r;
    }
}

static bool upload_cancelled(void *ctx)
{
    const struct upload_src *u = ctx;
    return command_cancelled(u->cmd);
}

/* Posts the archive at path to the server, streamed from its descriptor
 * (with Expect: 100-continue, so a refusal comes back as the server's
 * answer before the body goes); a cancel stops it. err gets the server's
 * message. */
static int upload(const struct command *cmd, const char *path, uint64_t bytes, char *err, size_t errlen)
{
    struct https_reply rp = {0};
    struct upload_src src = {.fd = -1, .cmd = cmd};
    struct channel_stream body = {
        .read = upload_read, .body_len = bytes, .cancelled = upload_cancelled, .ctx = &src};
    void *handle = NULL;
    struct channel *chan = chan_enter();
    char route[96];
    int e;
    long timeout = 120 + (long)(bytes >> 16); /* 64 KiB/s at least */

    if (!chan) {
        snprintf(err, errlen, "collect: no channel to the server to upload the package over (the agent is stopping)");
        return -ENOTCONN;
    }
    src.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (src.fd < 0) {
        e = -errno;
        snprintf(err, errlen, "collect: cannot open the package: %s", strerror(errno));
        goto out;
    }
    snprintf(route, sizeof(route), "/api/v1/agent/commands/%" PRId64 "/file", cmd->id);
    e = channel_call_stream(chan, &handle, "POST", route, "application/gzip", &body, timeout > 3600 ? 3600 : timeout,
                            &rp);
    if (e == -ECANCELED && command_cancelled(cmd)) {
        snprintf(err, errlen, "cancelled");
    } else if (e) {
        snprintf(err, errlen, "collect: the package could not be uploaded: %s", rp.error[0] ? rp.error : strerror(-e));
    } else if (rp.status != 200) {
        snprintf(err, errlen, "collect: the server refused the package (HTTP %ld): %s", rp.status,
                 rp.error[0] ? rp.error : "no reason given");
        e = rp.status == 413 ? -EFBIG : -EPERM;
    }
out:
    https_reply_free(&rp);
    https_handle_free(handle);
    if (src.fd >= 0)
        close(src.fd);
    chan_leave();
    return e;
}

int collect_command(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    const char *state = remfs_state_dir();
    char dir[PATH_MAX], path[PATH_MAX + 32], hex[65];
    json_t *summary = NULL;
    uint64_t bytes = 0;
    char *text = NULL;
    int e;

    if (json_object_size(cmd->args) != 0) {
        snprintf(err, errlen, "collect: takes no arguments");
        return -EINVAL;
    }
    if (snprintf(dir, sizeof(dir), "%s/collect.XXXXXX", state && *state ? state : "/var/lib/yamori") >=
        (int)sizeof(dir)) {
        snprintf(err, errlen, "collect: the state directory's path is too long");
        return -ENAMETOOLONG;
    }
    if (!mkdtemp(dir)) {
        e = -errno;
        snprintf(err, errlen, "collect: cannot create a private directory under the state directory: %s",
                 strerror(errno));
        return e;
    }
    snprintf(path, sizeof(path), "%s/package.tar.gz", dir);
    log_info("collect: building the investigation package of command %" PRId64, cmd->id);
    e = collect_build(path, cmd, &summary, err, errlen);
    if (e)
        goto out;
    e = collect_sha256_file(path, hex, &bytes);
    if (e) {
        snprintf(err, errlen, "collect: cannot read the package back: %s", strerror(-e));
        goto out;
    }
    /* a cancel (or the agent stopping: then the channel may be going away)
     * is honoured before the channel is touched */
    if (command_cancelled(cmd)) {
        snprintf(err, errlen, "cancelled");
        e = -ECANCELED;
        goto out;
    }
    command_progress(cmd, "{\"percent\": 95.0, \"message\": \"uploading the package\"}");
    e = upload(cmd, path, bytes, err, errlen);
    if (e)
        goto out;
    text = json_dumps(summary, JSON_COMPACT);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        e = -ENOMEM;
        goto out;
    }
    jsonw_object_begin(out);
    jsonw_kv_str(out, "package_sha256", hex);
    jsonw_kv_uint(out, "package_bytes", bytes);
    /* summary is {"items": ..., "missing": ...}: its members follow */
    jsonw_members(out, text + 1, strlen(text) - 2);
    jsonw_object_end(out);
    log_info("collect: package of command %" PRId64 " uploaded (%" PRIu64 " bytes, sha256 %s)", cmd->id, bytes, hex);
out:
    if (e)
        log_warn("%s", err);
    free(text);
    json_decref(summary);
    unlink(path);
    rmdir(dir);
    return e;
}
