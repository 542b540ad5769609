/*
 * live_analyze.c — `analyze file <path>` and `analyze process <pid>`: a
 * verdict with every reason for it (see live.h, docs/live.md).
 *
 * The content is judged by the antivirus scanner's own engines
 * (scan_run_fd: the shipped YARA rules, the SHA-256 indicators the server
 * sent, package ownership), so analyze and a scan never disagree; ClamAV
 * is left out (loading its database takes longer than an interactive
 * command should; `scan -path` uses it). Around the content, the facts
 * the agent can see now: where the file lives (hidden, a world-writable
 * directory, deleted while running, in memory only), the autostart
 * entries that run it (autostart.h), the processes running it and their
 * sockets (/proc/PID/fd and /proc/PID/net), and for a process its user,
 * its parents and its command line.
 *
 * Each reason is {"engine", "verdict", "reason"} (persistence reasons also
 * name the entry's "id" and "source", which the server looks up). The
 * verdict: malicious when a reason is, else suspicious when one is, else
 * clean. The server adds what only it knows and recomputes the verdict.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/autostart.h"
#include "agent/commands.h"
#include "agent/live_int.h"
#include "agent/pkgdb.h"
#include "agent/scan.h"

#define MAX_REASONS 256
#define MAX_PIDS 16          /* processes running the file that are described */
#define MAX_SOCKETS 256      /* socket inodes looked up per process */
#define MAX_PEERS 32         /* network reasons */
#define PARENT_DEPTH 16
#define CMDLINE_MAX 4096

struct reason {
    const char *engine, *verdict; /* static */
    char *text;
    char *id, *source;            /* persistence: the entry */
};

struct analysis {
    const struct live_call *call;
    struct reason r[MAX_REASONS];
    size_t n;
    size_t dropped;
    char engines_yara[512], engines_package[512], engines_indicators[64];
    char sha256[65];
    bool hashed;
};

static void add_reason(struct analysis *a, const char *engine, const char *verdict, const char *id,
                       const char *source, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void add_reason(struct analysis *a, const char *engine, const char *verdict, const char *id,
                       const char *source, const char *fmt, ...)
{
    char text[1024];
    struct reason *r;
    va_list ap;

    if (a->n == MAX_REASONS) {
        a->dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    r = &a->r[a->n];
    *r = (struct reason){.engine = engine, .verdict = verdict};
    r->text = strdup(text);
    r->id = id ? strdup(id) : NULL;
    r->source = source ? strdup(source) : NULL;
    if (!r->text || (id && !r->id) || (source && !r->source)) {
        free(r->text);
        free(r->id);
        free(r->source);
        a->dropped++;
        return;
    }
    a->n++;
}

static void analysis_free(struct analysis *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->r[i].text);
        free(a->r[i].id);
        free(a->r[i].source);
    }
    a->n = 0;
}

static const char *verdict_of(const struct analysis *a)
{
    bool suspicious = false;

    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->r[i].verdict, "malicious") == 0)
            return "malicious";
        suspicious = suspicious || strcmp(a->r[i].verdict, "suspicious") == 0;
    }
    return suspicious ? "suspicious" : "clean";
}

/* ------------------------------------------------------------ the content */

/* The scanner's engines on fd, reported as path. */
static int content(struct analysis *a, int fd, const char *path, char *err, size_t errlen)
{
    const char **iocs = NULL;
    size_t niocs = json_array_size(a->call->indicators);
    struct scan_options o = {
        .indicators = NULL,
        .cpu_budget = -1, /* a person waits: no throttle */
        .io_priority = SCAN_IO_NORMAL,
        .no_clamav = true,
        .cancel = a->call->cmd ? a->call->cmd->cancel : NULL,
    };
    struct jsonw w;
    json_t *res = NULL, *f, *eng;
    size_t i;
    int e;

    jsonw_init(&w);
    if (niocs) {
        iocs = calloc(niocs, sizeof(*iocs));
        if (!iocs) {
            snprintf(err, errlen, "out of memory");
            e = -ENOMEM;
            goto out;
        }
        for (i = 0; i < niocs; i++)
            iocs[i] = json_string_value(json_array_get(a->call->indicators, i));
        o.indicators = iocs;
        o.nindicators = niocs;
    }
    e = scan_run_fd(&o, fd, path, &w, err, errlen);
    if (e)
        goto out;
    res = json_loadb(w.buf, w.len, 0, NULL);
    if (!res) { /* a path that is not UTF-8: jansson refuses the text */
        snprintf(err, errlen, "the scanner's answer about %s could not be read back", path);
        e = -EINVAL;
        goto out;
    }
    if (json_is_true(json_object_get(res, "cancelled"))) {
        e = -ECANCELED;
        goto out;
    }
    eng = json_object_get(res, "engines");
    snprintf(a->engines_yara, sizeof(a->engines_yara), "%s", json_string_value(json_object_get(eng, "yara")) ?: "");
    snprintf(a->engines_package, sizeof(a->engines_package), "%s",
             json_string_value(json_object_get(eng, "package")) ?: "");
    snprintf(a->engines_indicators, sizeof(a->engines_indicators), "%s",
             json_string_value(json_object_get(eng, "indicators")) ?: "");
    if (strncmp(a->engines_yara, "unavailable", 11) == 0)
        add_reason(a, "yara", "info", NULL, NULL, "the YARA rules were not used: %s", a->engines_yara + 13);
    if (strncmp(a->engines_package, "unavailable", 11) == 0)
        add_reason(a, "package", "info", NULL, NULL, "package ownership was not checked: %s",
                   a->engines_package + 13);
    if (json_integer_value(json_object_get(res, "files_scanned")) != 1) {
        json_t *sk = json_object_get(res, "skipped");
        add_reason(a, "yara", "info", NULL, NULL, "the content could not be scanned (%s)",
                   json_integer_value(json_object_get(sk, "vanished")) ? "it changed while being read"
                                                                       : "it could not be read");
    }
    json_array_foreach(json_object_get(res, "findings"), i, f) {
        const char *engine = json_string_value(json_object_get(f, "engine")) ?: "";
        const char *rule = json_string_value(json_object_get(f, "rule")) ?: "";
        const char *sev = json_string_value(json_object_get(f, "severity")) ?: "";
        const char *reason = json_string_value(json_object_get(f, "reason")) ?: "";
        const char *sha = json_string_value(json_object_get(f, "sha256"));

        if (sha && strlen(sha) == 64) {
            snprintf(a->sha256, sizeof(a->sha256), "%s", sha);
            a->hashed = true;
        }
        if (strcmp(engine, "yara") == 0)
            add_reason(a, "yara", strcmp(sev, "high") == 0 ? "malicious" : "suspicious", NULL, NULL, "%s", reason);
        else if (strcmp(engine, "indicator") == 0)
            add_reason(a, "indicator", "malicious", NULL, NULL,
                       "its SHA-256 is one of the server's alert indicators");
        else if (strcmp(engine, "package") == 0)
            add_reason(a, "package", strcmp(rule, "package-file-modified") == 0 ? "malicious" : "suspicious", NULL,
                       NULL, "%s", reason);
    }
out:
    json_decref(res);
    jsonw_free(&w);
    free(iocs);
    return e;
}

/* The package facts the scanner does not state: who owns it and that it
 * is as installed (info). */
static void package_info(struct analysis *a, const char *path, bool regular)
{
    char perr[300];
    struct pkgdb *db = live_pkgdb_acquire(perr, sizeof(perr));
    const char *owner;
    enum pkgdb_verdict v;

    if (!db)
        return;
    owner = pkgdb_owner(db, path);
    if (owner && regular && pkgdb_verify(db, path, &v, perr, sizeof(perr)) == 0 && v == PKGDB_MATCH)
        add_reason(a, "package", "info", NULL, NULL,
                   "it belongs to the package %s and has the content dpkg recorded for it", owner);
    else if (owner && regular && pkgdb_verify(db, path, &v, perr, sizeof(perr)) == 0 && v == PKGDB_NO_RECORD)
        add_reason(a, "package", "info", NULL, NULL,
                   "it belongs to the package %s, which records no checksum for it", owner);
    live_pkgdb_release();
}

/* Whether a package owns path (for the deleted-image nuance). */
static bool packaged(const char *path)
{
    char perr[300];
    struct pkgdb *db = live_pkgdb_acquire(perr, sizeof(perr));
    bool yes = db && pkgdb_owner(db, path);

    if (db)
        live_pkgdb_release();
    return yes;
}

/* ------------------------------------------------------------ where it lives */

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Location facts; executable says whether they weigh (suspicious) or are
 * only noted (info). */
static void location(struct analysis *a, const char *path, bool executable)
{
    const char *weight = executable ? "suspicious" : "info", *what = executable ? "an executable" : "a file";
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    struct stat st;

    for (const char *p = path; (p = strchr(p, '/')); p++)
        if (p[1] == '.') {
            add_reason(a, "location", weight, NULL, NULL, "%s that is hidden: a part of its path starts with a dot",
                       what);
            break;
        }
    if (under(path, "/tmp") || under(path, "/var/tmp") || under(path, "/dev/shm")) {
        add_reason(a, "location", weight, NULL, NULL, "%s under %s, where every user can write", what,
                   under(path, "/tmp") ? "/tmp" : under(path, "/var/tmp") ? "/var/tmp" : "/dev/shm");
        return;
    }
    snprintf(dir, sizeof(dir), "%.*s", slash && slash > path ? (int)(slash - path) : 1, path);
    if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH))
        add_reason(a, "location", weight, NULL, NULL, "%s in %s, a directory every user can write to", what, dir);
}

/* Whether the first bytes of fd say an ELF file or a script. */
static bool looks_executable(int fd)
{
    char head[4];
    ssize_t n = pread(fd, head, sizeof(head), 0);
    return (n >= 4 && memcmp(head, "\x7f" "ELF", 4) == 0) || (n >= 2 && head[0] == '#' && head[1] == '!');
}

/* ------------------------------------------------------------ persistence */

static void persistence(struct analysis *a, const char *path, const char *path2)
{
    struct autostart_entry *e = NULL;
    size_t n = 0;
    char err[300];

    if (autostart_list(&e, &n, "", err, sizeof(err)) != 0) {
        add_reason(a, "persistence", "info", NULL, NULL, "the autostart entries could not be read: %s", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!e[i].target || (strcmp(e[i].target, path) != 0 && (!path2 || strcmp(e[i].target, path2) != 0)))
            continue;
        if (e[i].line)
            add_reason(a, "persistence", "suspicious", e[i].id, e[i].source,
                       "the %s entry %s (%s, line %d) starts it%s%s", e[i].category, e[i].id, e[i].source,
                       e[i].line, e[i].user ? " as " : "", e[i].user ? e[i].user : "");
        else
            add_reason(a, "persistence", "suspicious", e[i].id, e[i].source, "the %s entry %s (%s) starts it%s%s",
                       e[i].category, e[i].id, e[i].source, e[i].user ? " as " : "", e[i].user ? e[i].user : "");
    }
    if (n == AUTOSTART_MAX_ENTRIES) /* the list was cut there */
        add_reason(a, "persistence", "info", NULL, NULL, "only the first %d autostart entries were looked at",
                   AUTOSTART_MAX_ENTRIES);
    autostart_free(e, n);
}

/* ------------------------------------------------------------ processes and sockets */

/* Reads /proc/PID/<what> (at most max - 1 bytes) into buf; its length or -1. */
static ssize_t proc_read(int pid, const char *what, char *buf, size_t max)
{
    char path[64];
    ssize_t n = 0, r;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while ((size_t)n < max - 1 && (r = read(fd, buf + n, max - 1 - (size_t)n)) > 0)
        n += r;
    close(fd);
    buf[n] = '\0';
    return n;
}

/* The value of a "Key:\t..." line of /proc/PID/status. */
static bool status_field(const char *status, const char *key, char *out, size_t outlen)
{
    size_t k = strlen(key);

    for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, k) == 0 && p[k] == ':') {
            const char *v = p + k + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, outlen, "%.*s", (int)strcspn(v, "\n"), v);
            return true;
        }
    }
    return false;
}

/* The socket inodes of pid. */
static size_t socket_inodes(int pid, uint64_t *inodes, size_t max)
{
    char path[64];
    struct dirent *de;
    size_t n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    d = opendir(path);
    if (!d)
        return 0;
    while ((de = readdir(d)) && n < max) {
        char link[320], target[64];
        ssize_t r;
        if (de->d_name[0] == '.')
            continue;
        snprintf(link, sizeof(link), "/proc/%d/fd/%s", pid, de->d_name);
        r = readlink(link, target, sizeof(target) - 1);
        if (r <= 0)
            continue;
        target[r] = '\0';
        if (strncmp(target, "socket:[", 8) == 0)
            inodes[n++] = strtoull(target + 8, NULL, 10);
    }
    closedir(d);
    return n;
}

/* "0100007F:1F90" (or the 32-hex-digit IPv6 form) as "127.0.0.1:8080" / "[::1]:8080". */
static bool format_addr(const char *hex, bool v6, char *out, size_t outlen)
{
    char text[INET6_ADDRSTRLEN];
    unsigned port;
    const char *colon = strchr(hex, ':');

    if (!colon || sscanf(colon + 1, "%x", &port) != 1)
        return false;
    if (!v6) {
        unsigned long a;
        struct in_addr in;
        if (colon - hex != 8 || sscanf(hex, "%8lx", &a) != 1)
            return false;
        in.s_addr = (uint32_t)a; /* the kernel prints the address in host order */
        inet_ntop(AF_INET, &in, text, sizeof(text));
        snprintf(out, outlen, "%s:%u", text, port);
    } else {
        struct in6_addr in6;
        if (colon - hex != 32)
            return false;
        for (int w = 0; w < 4; w++) {
            unsigned long word;
            char part[9];
            uint32_t v;
            memcpy(part, hex + 8 * w, 8);
            part[8] = '\0';
            word = strtoul(part, NULL, 16);
            v = (uint32_t)word;
            memcpy(&in6.s6_addr[4 * w], &v, 4);
        }
        inet_ntop(AF_INET6, &in6, text, sizeof(text));
        snprintf(out, outlen, "[%s]:%u", text, port);
    }
    return true;
}

/* Network reasons for pid's sockets, from its own network namespace's tables. */
static void sockets_of(struct analysis *a, int pid, const char *name, unsigned *peers)
{
    static const struct {
        const char *file, *proto;
        bool v6, tcp;
    } tables[] = {{"net/tcp", "TCP", false, true},
                  {"net/tcp6", "TCP", true, true},
                  {"net/udp", "UDP", false, false},
                  {"net/udp6", "UDP", true, false}};
    uint64_t inodes[MAX_SOCKETS];
    size_t ninodes = socket_inodes(pid, inodes, MAX_SOCKETS);

    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]) && ninodes; t++) {
        char path[64], line[512];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/%s", pid, tables[t].file);
        f = fopen(path, "re");
        if (!f)
            continue;
        while (fgets(line, sizeof(line), f) && *peers < MAX_PEERS) {
            char local[64], remote[64], lt[80], rt[80];
            unsigned st;
            unsigned long long inode;
            bool mine = false, zero_remote;

            if (sscanf(line, " %*d: %63s %63s %x %*s %*s %*s %*s %*s %llu", local, remote, &st, &inode) != 4)
                continue;
            for (size_t i = 0; i < ninodes && !mine; i++)
                mine = inodes[i] == inode;
            if (!mine || !format_addr(local, tables[t].v6, lt, sizeof(lt)) ||
                !format_addr(remote, tables[t].v6, rt, sizeof(rt)))
                continue;
            zero_remote = strspn(remote, "0") == strcspn(remote, ":");
            if (tables[t].tcp && st == 0x0A)
                add_reason(a, "network", "info", NULL, NULL, "process %d (%s) listens on %s (%s)", pid, name, lt,
                           tables[t].proto);
            else if (tables[t].tcp && st == 0x01)
                add_reason(a, "network", "info", NULL, NULL, "process %d (%s) talks to %s (%s, from %s)", pid, name,
                           rt, tables[t].proto, lt);
            else if (!tables[t].tcp && zero_remote)
                add_reason(a, "network", "info", NULL, NULL, "process %d (%s) listens on %s (%s)", pid, name, lt,
                           tables[t].proto);
            else if (!tables[t].tcp)
                add_reason(a, "network", "info", NULL, NULL, "process %d (%s) sends to %s (%s, from %s)", pid, name,
                           rt, tables[t].proto, lt);
            else
                continue;
            (*peers)++;
        }
        fclose(f);
    }
}

/* The user of pid, as "name (uid N)". */
static void user_of(int pid, char *out, size_t outlen)
{
    char status[4096], uid[128], name[256];
    unsigned u;

    if (proc_read(pid, "status", status, sizeof(status)) <= 0 || !status_field(status, "Uid", uid, sizeof(uid)) ||
        sscanf(uid, "%u", &u) != 1) {
        snprintf(out, outlen, "?");
        return;
    }
    live_user_name(u, name, sizeof(name));
    snprintf(out, outlen, "%s (uid %u)", name, u);
}

/* The processes running the file (dev, ino) and their sockets; for a
 * process (skip, its pid), one line on the others running the same file. */
static void runners(struct analysis *a, dev_t dev, ino_t ino, int skip)
{
    int pids[MAX_PIDS];
    size_t n = live_procs_running(dev, ino, pids, MAX_PIDS);
    unsigned peers = 0;

    if (skip >= 0) {
        char list[256] = "";
        size_t len = 0, others = 0;
        for (size_t i = 0; i < n && i < MAX_PIDS; i++)
            if (pids[i] != skip && len < sizeof(list) - 16)
                len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d", others++ ? ", " : "", pids[i]);
        if (n > 1)
            add_reason(a, "process", "info", NULL, NULL, "%zu other process(es) run the same executable: %s%s",
                       n - 1, list, n > MAX_PIDS ? ", ..." : "");
        return;
    }
    for (size_t i = 0; i < n && i < MAX_PIDS; i++) {
        char name[64], user[300];
        if (pids[i] == skip)
            continue;
        live_proc_name(pids[i], name, sizeof(name));
        user_of(pids[i], user, sizeof(user));
        add_reason(a, "process", "info", NULL, NULL, "it runs as process %d (%s) of user %s", pids[i], name, user);
        sockets_of(a, pids[i], name, &peers);
    }
    if (n > MAX_PIDS)
        add_reason(a, "process", "info", NULL, NULL, "%zu processes run it; the first %d are described", n, MAX_PIDS);
}

/* ------------------------------------------------------------ the answer */

static void write_answer(struct jsonw *out, const struct analysis *a, const char *kind, const char *path,
                         const struct stat *st)
{
    jsonw_object_begin(out);
    jsonw_kv_str(out, "verdict", verdict_of(a));
    jsonw_key(out, "reasons");
    jsonw_array_begin(out);
    for (size_t i = 0; i < a->n; i++) {
        jsonw_object_begin(out);
        jsonw_kv_str(out, "engine", a->r[i].engine);
        jsonw_kv_str(out, "verdict", a->r[i].verdict);
        jsonw_kv_str(out, "reason", a->r[i].text);
        jsonw_kv_str_opt(out, "id", a->r[i].id);
        jsonw_kv_str_opt(out, "source", a->r[i].source);
        jsonw_object_end(out);
    }
    jsonw_array_end(out);
    jsonw_kv_str(out, "kind", kind);
    jsonw_key(out, "path");
    if (path)
        jsonw_str(out, path);
    else
        jsonw_null(out);
    jsonw_key(out, "sha256");
    if (a->hashed)
        jsonw_str(out, a->sha256);
    else
        jsonw_null(out);
    jsonw_key(out, "size");
    if (st->st_ino) /* 0: the executable could not be opened */
        jsonw_uint(out, (uint64_t)st->st_size);
    else
        jsonw_null(out);
    jsonw_key(out, "engines"); /* "" (null): not run, the content could not be read */
    jsonw_object_begin(out);
    jsonw_key(out, "yara");
    a->engines_yara[0] ? jsonw_str(out, a->engines_yara) : jsonw_null(out);
    jsonw_key(out, "indicators");
    a->engines_indicators[0] ? jsonw_str(out, a->engines_indicators) : jsonw_null(out);
    jsonw_key(out, "package");
    a->engines_package[0] ? jsonw_str(out, a->engines_package) : jsonw_null(out);
    jsonw_object_end(out);
    if (a->dropped)
        jsonw_kv_uint(out, "reasons_dropped", a->dropped);
}

/* The content's SHA-256 when the scanner found nothing to say it with. */
static int hash_for(struct analysis *a, int fd)
{
    struct live_hashes h;
    int e;

    if (a->hashed)
        return 0;
    e = live_hash_fd(fd, SCAN_DEFAULT_HASH_MAX_BYTES, false, false, a->call, &h);
    if (e == -ECANCELED)
        return e;
    if (!e) {
        memcpy(a->sha256, h.sha256, sizeof(a->sha256));
        a->hashed = true;
    }
    return 0;
}

static int analyze_file(struct analysis *a, const char *path, struct jsonw *out, char *err, size_t errlen)
{
    struct stat st;
    char real[PATH_MAX], link[64];
    const char *canon = path;
    bool exec;
    int fd, e;
    ssize_t r;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        e = -errno;
        if (errno == ELOOP)
            snprintf(err, errlen, "%s is a symbolic link; analyze the file it points to", path);
        else if (errno == ENOENT)
            snprintf(err, errlen, "%s does not exist", path);
        else
            snprintf(err, errlen, "%s cannot be opened: %s", path, strerror(errno));
        return e;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        e = -EINVAL;
        goto out;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    r = readlink(link, real, sizeof(real) - 1);
    if (r > 0 && real[0] == '/') {
        real[r] = '\0';
        canon = real; /* through /bin -> usr/bin and the like */
    }
    e = content(a, fd, canon, err, errlen);
    if (e)
        goto out;
    e = hash_for(a, fd);
    if (e)
        goto out;
    package_info(a, canon, true);
    exec = (st.st_mode & 0111) || looks_executable(fd);
    location(a, canon, exec);
    persistence(a, canon, strcmp(canon, path) ? path : NULL);
    runners(a, st.st_dev, st.st_ino, -1);
    write_answer(out, a, "file", path, &st);
    jsonw_object_end(out);
out:
    close(fd);
    return e;
}

static int analyze_process(struct analysis *a, int pid, struct jsonw *out, char *err, size_t errlen)
{
    char link[64], exe[PATH_MAX + 16], status[8192], name[64], user[300], cmdline[CMDLINE_MAX];
    char chain[2048] = "";
    bool deleted = false, memfd = false;
    unsigned peers = 0;
    struct stat st;
    ssize_t r;
    int fd = -1, e = 0, why;

    snprintf(link, sizeof(link), "/proc/%d", pid);
    if (pid <= 0 || stat(link, &st) != 0) {
        snprintf(err, errlen, "there is no process %d", pid);
        return -ESRCH;
    }
    snprintf(link, sizeof(link), "/proc/%d/exe", pid);
    r = readlink(link, exe, sizeof(exe) - 1);
    if (r <= 0 && errno != EACCES && errno != EPERM) {
        e = errno == ENOENT ? -ESRCH : -errno;
        if (errno == ENOENT)
            snprintf(err, errlen, "process %d has no executable (a kernel thread, or it just ended)", pid);
        else
            snprintf(err, errlen, "the executable of process %d cannot be read: %s", pid, strerror(errno));
        return e;
    }
    why = r > 0 ? 0 : errno;
    exe[r > 0 ? r : 0] = '\0'; /* "": not visible from here (another namespace, a protected process) */
    if (r > 10 && strcmp(exe + r - 10, " (deleted)") == 0) {
        deleted = true;
        exe[r - 10] = '\0';
    }
    memfd = strncmp(exe, "/memfd:", 7) == 0;
    live_proc_name(pid, name, sizeof(name));
    user_of(pid, user, sizeof(user));
    fd = exe[0] ? open(link, O_RDONLY | O_CLOEXEC) : -1; /* the image itself, deleted or not */
    if (exe[0] && fd < 0)
        why = errno;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        e = content(a, fd, exe[0] == '/' ? exe : "/", err, errlen);
        if (!e)
            e = hash_for(a, fd);
        if (e)
            goto out;
    } else {
        /* another namespace's or a protected process: judged by what /proc still says */
        add_reason(a, "process", "info", NULL, NULL, "its executable could not be %s (%s): its content was not "
                   "scanned", exe[0] ? "read" : "seen", strerror(why ? why : EIO));
        memset(&st, 0, sizeof(st));
    }
    if (memfd) {
        add_reason(a, "location", "suspicious", NULL, NULL,
                   "it runs from memory (%s): its executable was never a file on disk", exe);
    } else if (deleted && packaged(exe)) {
        add_reason(a, "location", "info", NULL, NULL,
                   "its executable %s was replaced or deleted after it started (a package upgrade leaves this)",
                   exe);
    } else if (deleted) {
        add_reason(a, "location", "suspicious", NULL, NULL,
                   "its executable %s was deleted from disk while it runs", exe);
    }
    if (!memfd && exe[0]) {
        if (!deleted)
            package_info(a, exe, true);
        location(a, exe, true);
        persistence(a, exe, NULL);
    }
    /* the process itself */
    add_reason(a, "process", "info", NULL, NULL, "process %d (%s) runs as user %s", pid, name, user);
    r = proc_read(pid, "cmdline", cmdline, sizeof(cmdline));
    for (ssize_t i = 0; i < r; i++)
        if (cmdline[i] == '\0')
            cmdline[i] = ' ';
    while (r > 0 && cmdline[r - 1] == ' ')
        cmdline[--r] = '\0';
    if (r > 0)
        add_reason(a, "process", "info", NULL, NULL, "its command line: %s", cmdline);
    {
        int cur = pid;
        size_t len = 0;
        for (int depth = 0; depth < PARENT_DEPTH; depth++) {
            char ppid[32], pname[64];
            int parent;
            if (proc_read(cur, "status", status, sizeof(status)) <= 0 ||
                !status_field(status, "PPid", ppid, sizeof(ppid)) || (parent = atoi(ppid)) <= 0)
                break;
            live_proc_name(parent, pname, sizeof(pname));
            len += (size_t)snprintf(chain + len, sizeof(chain) - len, "%s%d (%s)", len ? " <- " : "", parent, pname);
            if (len >= sizeof(chain))
                break;
            cur = parent;
        }
        if (chain[0])
            add_reason(a, "process", "info", NULL, NULL, "its parents: %s", chain);
    }
    sockets_of(a, pid, name, &peers);
    if (fd >= 0)
        runners(a, st.st_dev, st.st_ino, pid);

    write_answer(out, a, "process", exe[0] ? exe : NULL, &st);
    jsonw_kv_int(out, "pid", pid);
    jsonw_kv_str(out, "name", name);
    jsonw_kv_str(out, "user", user);
    jsonw_kv_str(out, "command_line", cmdline);
    jsonw_kv_bool(out, "deleted", deleted);
    jsonw_object_end(out);
out:
    if (fd >= 0)
        close(fd);
    return e;
}

int live_analyze(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    const char *kind = json_string_value(json_object_get(call->args, "kind"));
    json_t *target = json_object_get(call->args, "target");
    struct analysis *a = calloc(1, sizeof(*a));
    int e;

    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    a->call = call;
    if (kind && strcmp(kind, "file") == 0 && json_is_string(target)) {
        e = analyze_file(a, json_string_value(target), out, err, errlen);
    } else if (kind && strcmp(kind, "process") == 0 && json_is_integer(target)) {
        e = analyze_process(a, (int)json_integer_value(target), out, err, errlen);
    } else {
        snprintf(err, errlen, "analyze takes file <path> or process <pid>");
        e = -EINVAL;
    }
    analysis_free(a);
    free(a);
    return e;
}
