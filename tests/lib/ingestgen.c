/*
 * ingestgen.c — see ingestgen.h.
 *
 * Each process carries its "initiating process block" (the fifteen
 * InitiatingProcess* fields it contributes when it acts) encoded once, as
 * the agent caches it, so that generating an event costs about as much as
 * the agent's own encoding and the benchmark measures the server.
 */
#include "ingestgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/schema.h"

#define NPROCS 48      /* long-running processes and recent commands */
#define NLONG 12       /* the first NLONG are long-running */
#define NACCOUNTS 4

struct prog {
    const char *path, *name, *package;
    const char *args[4]; /* argument templates; %u takes a random number */
    unsigned size;
};

static const struct prog progs[] = {
    {"/usr/bin/ls", "ls", "coreutils", {"ls -la /var/log", "ls --color=auto", "ls /tmp", "ls -l /home/dev/project/src"}, 147824},
    {"/usr/bin/git", "git", "git", {"git status", "git log --oneline -n %u", "git diff HEAD~%u", "git fetch origin"}, 4163568},
    {"/usr/bin/grep", "grep", "grep", {"grep -r TODO src", "grep -c error /var/log/syslog", "grep -n main src/main.c", "grep -E ^[a-z]+ /etc/passwd"}, 203152},
    {"/usr/bin/python3.11", "python3.11", "python3.11-minimal", {"/usr/bin/python3 /opt/app/worker.py --job %u --queue default", "/usr/bin/python3 -m pip list", "/usr/bin/python3 /opt/app/manage.py migrate", "/usr/bin/python3 /usr/lib/cnf-update-db"}, 6831736},
    {"/usr/bin/curl", "curl", "curl", {"curl -s https://api.example.com/v1/items/%u", "curl -fsSL https://deb.debian.org/debian/dists/bookworm/Release", "curl -o /tmp/pkg-%u.tar.gz https://files.example.org/pkg.tar.gz", "curl -I http://127.0.0.1:8080/health"}, 256208},
    {"/usr/bin/cat", "cat", "coreutils", {"cat /proc/meminfo", "cat /etc/os-release", "cat /var/run/app-%u.pid", "cat /sys/class/net/eth0/operstate"}, 44016},
    {"/usr/bin/sed", "sed", "sed", {"sed -n 1,%up /var/log/app.log", "sed -i s/debug/info/ /etc/app/app.conf", "sed -e s/#.*// /etc/hosts", "sed 1d /tmp/list-%u"}, 122224},
    {"/usr/bin/awk", "mawk", "mawk", {"awk {print $1} /proc/loadavg", "awk -F: {print $1} /etc/passwd", "awk NR==%u /var/log/syslog", "awk /MemFree/ /proc/meminfo"}, 162608},
    {"/usr/bin/ps", "ps", "procps", {"ps aux", "ps -ef", "ps -p %u -o comm=", "ps -eo pid,ppid,cmd"}, 137688},
    {"/usr/sbin/logrotate", "logrotate", "logrotate", {"/usr/sbin/logrotate /etc/logrotate.conf", "/usr/sbin/logrotate -f /etc/logrotate.d/app", "/usr/sbin/logrotate /etc/logrotate.conf", "/usr/sbin/logrotate -d /etc/logrotate.conf"}, 96384},
    {"/usr/bin/apt-get", "apt-get", "apt", {"apt-get -qq update", "apt-get install -y --no-install-recommends jq", "apt-get -s upgrade", "apt-get clean"}, 18688},
    {"/usr/bin/dpkg", "dpkg", "dpkg", {"dpkg -l", "dpkg --print-architecture", "dpkg -S /usr/bin/ls", "dpkg-query -W -f=${Version} bash"}, 313544},
    {"/usr/bin/systemctl", "systemctl", "systemd", {"systemctl is-active nginx", "systemctl status app@%u.service", "systemctl list-timers --all", "systemctl show -p MainPID sshd"}, 1231088},
    {"/usr/bin/date", "date", "coreutils", {"date +%%s", "date -u", "date -d @%u", "date --iso-8601=seconds"}, 105744},
    {"/usr/bin/tar", "tar", "tar", {"tar czf /var/backups/app-%u.tgz /opt/app/data", "tar tzf /tmp/pkg-%u.tar.gz", "tar xzf /tmp/pkg-%u.tar.gz -C /opt/app", "tar --version"}, 530928},
    {"/usr/bin/ssh", "ssh", "openssh-client", {"ssh -o BatchMode=yes deploy@10.0.%u.12 uptime", "ssh git@github.com", "ssh -T backup@10.1.0.5", "ssh -V"}, 1122152},
    {"/usr/bin/find", "find", "findutils", {"find /tmp -mtime +%u -delete", "find /var/log -name *.gz", "find /home/dev -name .git -type d", "find / -xdev -perm -4000"}, 224848},
    {"/usr/bin/node", "node", "nodejs", {"node /srv/web/server.js --port %u", "node /srv/web/node_modules/.bin/next build", "node -e process.exit(0)", "node /srv/web/scripts/cleanup.js"}, 85968680},
    {"/usr/bin/dash", "dash", "dash", {"/bin/sh -c /usr/lib/apt/apt.systemd.daily update", "/bin/sh -c cd / && run-parts --report /etc/cron.hourly", "/bin/sh -c /opt/app/bin/healthcheck %u", "/bin/sh /usr/bin/lesspipe"}, 125640},
    {"/usr/bin/sleep", "sleep", "coreutils", {"sleep %u", "sleep 1", "sleep 60", "sleep 0.%u"}, 35336},
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))

struct account {
    const char *name;
    unsigned uid;
};
static const struct account accounts[NACCOUNTS] = {{"root", 0}, {"dev", 1000}, {"www-data", 33}, {"postgres", 112}};

struct proc {
    unsigned pid, ppid;
    uint64_t ticks, start_ns;
    char uid[40];
    const char *path, *name;
    char cmdline[200];
    const char *cwd;
    const struct account *acct;
    char sha[65];
    int parent; /* index, -1 for none */
    struct tlv_buf block; /* the InitiatingProcess* fields when it acts */
};

struct ingestgen {
    uint64_t rng;
    char host[64];
    char boot[9];
    uint64_t boot_ns;
    unsigned next_pid;
    uint64_t ticks;
    struct proc procs[NPROCS];
    unsigned next_slot; /* ring over the short-lived slots */
    struct tlv_buf rec;
};

static uint64_t rnd(struct ingestgen *g)
{
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 2685821657736338717ull;
}

static unsigned pick(struct ingestgen *g, unsigned n)
{
    return (unsigned)(rnd(g) % n);
}

static void fake_sha(const char *s, char out[65])
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = s; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    for (int i = 0; i < 4; i++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(out + i * 16, 17, "%016llx", (unsigned long long)h);
    }
}

/* The InitiatingProcess* block of p (its parent named too). */
static void build_block(struct ingestgen *g, struct proc *p)
{
    struct proc *pp = p->parent >= 0 ? &g->procs[p->parent] : NULL;
    struct tlv_buf *b = &p->block;

    tlv_reset(b);
    tlv_put_uint(b, F_IP_ID, p->pid);
    tlv_put_cstr_opt(b, F_IP_UNIQUE_ID, p->uid);
    tlv_put_cstr_opt(b, F_IP_FILE_NAME, p->name);
    tlv_put_cstr_opt(b, F_IP_FOLDER_PATH, p->path);
    tlv_put_cstr_opt(b, F_IP_COMMAND_LINE, p->cmdline);
    tlv_put_time(b, F_IP_CREATION_TIME, p->start_ns);
    tlv_put_cstr_opt(b, F_IP_CURRENT_DIRECTORY, p->cwd);
    tlv_put_cstr_opt(b, F_IP_ACCOUNT_NAME, p->acct->name);
    tlv_put_uint(b, F_IP_ACCOUNT_UID, p->acct->uid);
    tlv_put_cstr_opt(b, F_IP_SHA256, p->sha);
    if (pp) {
        tlv_put_uint(b, F_IP_PARENT_ID, pp->pid);
        tlv_put_cstr_opt(b, F_IP_PARENT_UNIQUE_ID, pp->uid);
        tlv_put_cstr_opt(b, F_IP_PARENT_FILE_NAME, pp->name);
        tlv_put_cstr_opt(b, F_IP_PARENT_FOLDER_PATH, pp->path);
        tlv_put_time(b, F_IP_PARENT_CREATION_TIME, pp->start_ns);
    }
}

static void set_proc(struct ingestgen *g, struct proc *p, int parent, const char *path, const char *name,
                     const char *cmdline, const char *cwd, const struct account *acct, uint64_t now_ns)
{
    p->parent = parent;
    p->ppid = parent >= 0 ? g->procs[parent].pid : 0;
    p->pid = g->next_pid;
    g->next_pid = g->next_pid >= 4000000 ? 300 : g->next_pid + 1 + pick(g, 3);
    g->ticks += 1 + pick(g, 4);
    p->ticks = g->ticks;
    p->start_ns = now_ns ? now_ns : g->boot_ns + p->ticks * 10000000ull;
    snprintf(p->uid, sizeof(p->uid), "%s-%u-%llu", g->boot, p->pid, (unsigned long long)p->ticks);
    p->path = path;
    p->name = name;
    snprintf(p->cmdline, sizeof(p->cmdline), "%s", cmdline);
    p->cwd = cwd;
    p->acct = acct;
    fake_sha(path, p->sha);
    build_block(g, p);
}

struct ingestgen *ingestgen_new(uint64_t seed, const char *hostname)
{
    static const struct {
        const char *path, *name, *cmd, *cwd;
        int parent, acct;
    } daemons[NLONG] = {
        {"/usr/lib/systemd/systemd", "systemd", "/sbin/init", "/", -1, 0},
        {"/usr/sbin/sshd", "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", "/", 0, 0},
        {"/usr/sbin/cron", "cron", "/usr/sbin/cron -f", "/var/spool/cron", 0, 0},
        {"/usr/sbin/nginx", "nginx", "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", "/", 0, 0},
        {"/usr/bin/dockerd", "dockerd", "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock", "/", 0, 0},
        {"/usr/lib/postgresql/15/bin/postgres", "postgres", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", "/var/lib/postgresql/15/main", 0, 3},
        {"/usr/sbin/sshd", "sshd", "sshd: dev [priv]", "/", 1, 0},
        {"/usr/bin/bash", "bash", "-bash", "/home/dev", 6, 1},
        {"/usr/bin/bash", "bash", "bash", "/home/dev/project", 7, 1},
        {"/usr/bin/python3.11", "python3.11", "/usr/bin/python3 /opt/app/worker.py --supervise", "/opt/app", 0, 2},
        {"/usr/bin/node", "node", "node /srv/web/server.js --port 3000", "/srv/web", 0, 2},
        {"/usr/bin/containerd", "containerd", "/usr/bin/containerd", "/", 0, 0},
    };
    struct ingestgen *g = calloc(1, sizeof(*g));

    if (!g)
        return NULL;
    g->rng = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (!g->rng)
        g->rng = 1;
    snprintf(g->host, sizeof(g->host), "%s", hostname);
    snprintf(g->boot, sizeof(g->boot), "%08x", (unsigned)(rnd(g) >> 32));
    g->boot_ns = 1764000000000000000ull + (rnd(g) % 1000000) * 1000000000ull;
    g->next_pid = 1;
    g->ticks = 100 + pick(g, 1000);
    tlv_init(&g->rec);
    for (int i = 0; i < NPROCS; i++)
        tlv_init(&g->procs[i].block);
    for (int i = 0; i < NLONG; i++)
        set_proc(g, &g->procs[i], daemons[i].parent, daemons[i].path, daemons[i].name, daemons[i].cmd, daemons[i].cwd,
                 &accounts[daemons[i].acct], 0);
    g->next_pid = 1000 + pick(g, 20000);
    for (int i = NLONG; i < NPROCS; i++)
        set_proc(g, &g->procs[i], 7, "/usr/bin/sleep", "sleep", "sleep 30", "/home/dev", &accounts[1], 0);
    return g;
}

void ingestgen_free(struct ingestgen *g)
{
    if (!g)
        return;
    for (int i = 0; i < NPROCS; i++)
        tlv_free(&g->procs[i].block);
    tlv_free(&g->rec);
    free(g);
}

static void common(struct ingestgen *g, struct tlv_buf *b, const char *type, const char *action, uint64_t seq,
                   uint64_t ts)
{
    tlv_put_time(b, F_TIMESTAMP, ts);
    tlv_put_cstr_opt(b, F_EVENT_TYPE, type);
    tlv_put_cstr_opt(b, F_ACTION_TYPE, action);
    tlv_put_uint(b, F_SEQ, seq);
    tlv_put_cstr_opt(b, F_SENSOR_SOURCE, "ebpf");
    tlv_put_cstr_opt(b, F_DEVICE_NAME, g->host);
}

/* A process that acts: long-running half of the time, else a recent one. */
static struct proc *actor(struct ingestgen *g)
{
    return &g->procs[pick(g, 2) ? pick(g, NLONG) : NLONG + pick(g, NPROCS - NLONG)];
}

static void process_fields(struct tlv_buf *b, const struct proc *p)
{
    tlv_put_uint(b, F_PROCESS_ID, p->pid);
    tlv_put_cstr_opt(b, F_PROCESS_UNIQUE_ID, p->uid);
    tlv_put_time(b, F_PROCESS_CREATION_TIME, p->start_ns);
    tlv_put_cstr_opt(b, F_FILE_NAME, p->name);
    tlv_put_cstr_opt(b, F_FOLDER_PATH, p->path);
    tlv_put_cstr_opt(b, F_PROCESS_COMMAND_LINE, p->cmdline);
    tlv_put_cstr_opt(b, F_PROCESS_CURRENT_DIRECTORY, p->cwd);
    tlv_put_cstr_opt(b, F_ACCOUNT_NAME, p->acct->name);
    tlv_put_uint(b, F_ACCOUNT_UID, p->acct->uid);
    tlv_put_uint(b, F_ACCOUNT_GID, p->acct->uid);
    tlv_put_uint(b, F_PROCESS_EFFECTIVE_UID, p->acct->uid);
    tlv_put_uint(b, F_PROCESS_EFFECTIVE_GID, p->acct->uid);
    tlv_put_cstr_opt(b, F_SHA256, p->sha);
}

/* The template with %u replaced by n and %% by %. */
static void fill(char *out, size_t size, const char *tpl, unsigned n)
{
    size_t o = 0;
    for (const char *p = tpl; *p && o + 12 < size; p++) {
        if (p[0] == '%' && p[1] == 'u') {
            o += (size_t)snprintf(out + o, size - o, "%u", n);
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            out[o++] = '%';
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void ev_process(struct ingestgen *g, struct tlv_buf *b, uint64_t seq, uint64_t ts)
{
    unsigned r = pick(g, 100);

    if (r < 55) { /* a new command */
        static const int spawners[] = {0, 2, 7, 8, 8, 9, 4, 10};
        int parent = spawners[pick(g, sizeof(spawners) / sizeof(spawners[0]))];
        const struct prog *pr = &progs[pick(g, NPROGS)];
        unsigned slot = NLONG + g->next_slot;
        struct proc *p = &g->procs[slot];
        char cmd[200];
        g->next_slot = (g->next_slot + 1) % (NPROCS - NLONG);
        fill(cmd, sizeof(cmd), pr->args[pick(g, 4)], pick(g, 100000));
        set_proc(g, p, parent, pr->path, pr->name, cmd, g->procs[parent].cwd, g->procs[parent].acct, ts - 200000);
        common(g, b, "process", "ProcessCreated", seq, ts);
        process_fields(b, p);
        tlv_put_uint(b, F_PROCESS_ARGUMENT_COUNT, 1 + pick(g, 5));
        tlv_put_uint(b, F_LOGON_ID, 2 + pick(g, 3));
        tlv_put_uint(b, F_ACCOUNT_LOGIN_UID, p->acct->uid);
        tlv_put_uint(b, F_PROCESS_SESSION_ID, g->procs[7].pid);
        if (parent == 7 || parent == 8)
            tlv_put_cstr_opt(b, F_PROCESS_TTY, "pts/0");
        tlv_put_uint(b, F_FILE_SIZE, pr->size);
        tlv_put_cstr_opt(b, F_PACKAGE_NAME, pr->package);
        tlv_put_raw(b, g->procs[parent].block.data, g->procs[parent].block.len);
    } else if (r < 90) { /* one exits */
        struct proc *p = &g->procs[NLONG + pick(g, NPROCS - NLONG)];
        common(g, b, "process", "ProcessExited", seq, ts);
        process_fields(b, p);
        tlv_put_int(b, F_PROCESS_EXIT_CODE, pick(g, 10) ? 0 : 1);
        tlv_put_raw(b, g->procs[p->parent].block.data, g->procs[p->parent].block.len);
    } else { /* a fork that has not exec'd */
        struct proc *pp = &g->procs[pick(g, NLONG)];
        common(g, b, "process", "ProcessForked", seq, ts);
        tlv_put_uint(b, F_PROCESS_ID, g->next_pid++);
        tlv_put_cstr_opt(b, F_FILE_NAME, pp->name);
        tlv_put_cstr_opt(b, F_FOLDER_PATH, pp->path);
        tlv_put_raw(b, pp->block.data, pp->block.len);
    }
}

static void ev_file(struct ingestgen *g, struct tlv_buf *b, uint64_t seq, uint64_t ts)
{
    static const char *const actions[] = {"FileCreated", "FileModified", "FileModified", "FileDeleted", "FileRenamed"};
    static const struct {
        const char *dir, *stem, *tag;
    } places[] = {
        {"/tmp", "tmp", "temp"}, {"/var/log/app", "app", "log"}, {"/home/dev/.cache/pip", "pip", NULL},
        {"/var/lib/postgresql/15/main/pg_wal", "0000000100000000000000", NULL}, {"/etc/cron.d", "app-job", "persistence:cron"},
        {"/home/dev/.ssh", "known_hosts", "persistence:ssh-key"}, {"/opt/app/data", "upload", NULL},
    };
    const char *action = actions[pick(g, 5)];
    unsigned pl = pick(g, sizeof(places) / sizeof(places[0]));
    struct proc *p = actor(g);
    char path[160], prev[160];
    int n = snprintf(path, sizeof(path), "%s/%s%u.%s", places[pl].dir, places[pl].stem, pick(g, 50000),
                     pick(g, 2) ? "log" : "tmp");

    common(g, b, "file", action, seq, ts);
    tlv_put_cstr_opt(b, F_FILE_NAME, strrchr(path, '/') + 1);
    tlv_put_str(b, F_FOLDER_PATH, path, (size_t)n);
    if (strcmp(action, "FileRenamed") == 0) {
        n = snprintf(prev, sizeof(prev), "%s.part", path);
        tlv_put_cstr_opt(b, F_PREVIOUS_FILE_NAME, strrchr(prev, '/') + 1);
        tlv_put_str(b, F_PREVIOUS_FOLDER_PATH, prev, (size_t)n);
    }
    if (strcmp(action, "FileDeleted") != 0)
        tlv_put_cstr_opt(b, F_FILE_MODE, pick(g, 8) ? "0644" : "0755");
    if (places[pl].tag)
        tlv_put_cstr_opt(b, F_LOCATION_TAG, places[pl].tag);
    tlv_put_raw(b, p->block.data, p->block.len);
}

static void ev_network(struct ingestgen *g, struct tlv_buf *b, uint64_t seq, uint64_t ts)
{
    static const char *const actions[] = {"ConnectionSuccess", "ConnectionSuccess", "ConnectionSuccess",
                                          "InboundConnectionAccepted", "ConnectionFailed", "ListeningConnectionCreated"};
    const char *action = actions[pick(g, 6)];
    struct proc *p = actor(g);
    char rip[48];
    unsigned kind = pick(g, 10);

    if (kind < 5)
        snprintf(rip, sizeof(rip), "10.%u.%u.%u", pick(g, 4), pick(g, 256), 1 + pick(g, 254));
    else if (kind < 9)
        snprintf(rip, sizeof(rip), "%u.%u.%u.%u", 13 + pick(g, 180), pick(g, 256), pick(g, 256), 1 + pick(g, 254));
    else
        snprintf(rip, sizeof(rip), "2001:db8:%x::%x", pick(g, 65536), 1 + pick(g, 65535));
    common(g, b, "network", action, seq, ts);
    tlv_put_cstr_opt(b, F_PROTOCOL, pick(g, 8) ? "Tcp" : "Udp");
    tlv_put_cstr_opt(b, F_LOCAL_IP, kind == 9 ? "2001:db8::10" : "10.0.0.10");
    tlv_put_uint(b, F_LOCAL_PORT, action[0] == 'I' || action[0] == 'L' ? 443 : 32768 + pick(g, 28000));
    if (action[0] != 'L') {
        tlv_put_cstr_opt(b, F_REMOTE_IP, rip);
        tlv_put_uint(b, F_REMOTE_PORT, action[0] == 'I' ? 32768 + pick(g, 28000) : (pick(g, 3) ? 443 : 5432));
        tlv_put_cstr_opt(b, F_REMOTE_IP_TYPE, kind < 5 ? "Private" : "Public");
    }
    if (action[10] == 'F')
        tlv_put_cstr_opt(b, F_CONNECTION_ERROR, "ECONNREFUSED");
    tlv_put_raw(b, p->block.data, p->block.len);
}

static void ev_logon(struct ingestgen *g, struct tlv_buf *b, uint64_t seq, uint64_t ts)
{
    bool ok = pick(g, 3) == 0;
    char ip[32], line[256];
    const char *user = ok ? "dev" : (pick(g, 2) ? "admin" : "oracle");
    unsigned port = 30000 + pick(g, 30000);

    snprintf(ip, sizeof(ip), "%u.%u.%u.%u", 45 + pick(g, 150), pick(g, 256), pick(g, 256), 1 + pick(g, 254));
    snprintf(line, sizeof(line), "%s %s for %s%s from %s port %u ssh2", ok ? "Accepted" : "Failed",
             ok ? "publickey" : "password", ok ? "" : "invalid user ", user, ip, port);
    common(g, b, "logon", ok ? "LogonSuccess" : "LogonFailed", seq, ts);
    tlv_put_cstr_opt(b, F_LOGON_TYPE, "Network");
    tlv_put_cstr_opt(b, F_PROTOCOL, "ssh");
    tlv_put_cstr_opt(b, F_ACCOUNT_NAME, user);
    tlv_put_cstr_opt(b, F_AUTHENTICATION_METHOD, ok ? "publickey" : "password");
    tlv_put_cstr_opt(b, F_REMOTE_IP, ip);
    tlv_put_uint(b, F_REMOTE_PORT, port);
    if (!ok) {
        tlv_put_cstr_opt(b, F_FAILURE_REASON, "InvalidUser");
        tlv_put_uint(b, F_LOGON_ATTEMPT_COUNT, 1);
    }
    tlv_put_cstr_opt(b, F_LOG_LINE, line);
    tlv_put_uint(b, F_IP_ID, g->procs[1].pid);
    tlv_put_cstr_opt(b, F_IP_FILE_NAME, "sshd");
}

static void ev_device(struct ingestgen *g, struct tlv_buf *b, uint64_t seq, uint64_t ts)
{
    struct proc *p = actor(g), *t = &g->procs[NLONG + pick(g, NPROCS - NLONG)];

    if (pick(g, 2)) {
        common(g, b, "device", "PtraceAttach", seq, ts);
        tlv_put_uint(b, F_TARGET_PROCESS_ID, t->pid);
        tlv_put_cstr_opt(b, F_TARGET_PROCESS_UNIQUE_ID, t->uid);
        tlv_put_cstr_opt(b, F_TARGET_PROCESS_FILE_NAME, t->name);
        tlv_put_cstr_opt(b, F_PTRACE_REQUEST, "attach");
        tlv_put_int(b, F_PTRACE_RESULT, 0);
    } else {
        common(g, b, "device", "ProcessCredentialsChanged", seq, ts);
        tlv_put_uint(b, F_ACCOUNT_UID, 1000);
        tlv_put_uint(b, F_NEW_ACCOUNT_UID, 0);
        tlv_put_uint(b, F_PROCESS_EFFECTIVE_UID, 1000);
        tlv_put_uint(b, F_NEW_EFFECTIVE_UID, 0);
    }
    tlv_put_raw(b, p->block.data, p->block.len);
}

unsigned ingestgen_event(struct ingestgen *g, struct tlv_buf *out, uint64_t seq, uint64_t ts_ns)
{
    struct tlv_buf *b = &g->rec;
    unsigned r = pick(g, 100), table;

    tlv_reset(b);
    if (r < 55) {
        ev_process(g, b, seq, ts_ns);
        table = SCHEMA_T_PROCESS;
    } else if (r < 77) {
        ev_file(g, b, seq, ts_ns);
        table = SCHEMA_T_FILE;
    } else if (r < 93) {
        ev_network(g, b, seq, ts_ns);
        table = SCHEMA_T_NETWORK;
    } else if (r < 97) {
        ev_logon(g, b, seq, ts_ns);
        table = SCHEMA_T_LOGON;
    } else {
        ev_device(g, b, seq, ts_ns);
        table = SCHEMA_T_DEVICE;
    }
    tlv_put_varint(out, b->len);
    tlv_put_raw(out, b->data, b->len);
    return table;
}

char *ingestgen_header(const char *device_id, uint64_t first_seq, uint64_t last_seq, uint64_t count,
                       const char *lost_json)
{
    char *h = NULL;
    if (asprintf(&h,
                 "{\"version\":1,\"device_id\":\"%s\",\"agent_version\":\"0.1.0\",\"schema_version\":%d,"
                 "\"sensor_backend\":\"ebpf\",\"first_seq\":%llu,\"last_seq\":%llu,\"count\":%llu,\"lost\":%s}",
                 device_id, YAM_SCHEMA_VERSION, (unsigned long long)first_seq, (unsigned long long)last_seq,
                 (unsigned long long)count, lost_json ? lost_json : "{}") < 0)
        return NULL;
    return h;
}

struct ingestgen_encoder {
    ZSTD_CCtx *cctx;
    uint8_t *plain, *out;
    size_t plain_cap, out_cap;
    int level;
};

struct ingestgen_encoder *ingestgen_encoder_new(int zstd_level)
{
    struct ingestgen_encoder *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->cctx = ZSTD_createCCtx();
    e->level = zstd_level;
    if (!e->cctx) {
        free(e);
        return NULL;
    }
    return e;
}

void ingestgen_encoder_free(struct ingestgen_encoder *e)
{
    if (!e)
        return;
    ZSTD_freeCCtx(e->cctx);
    free(e->plain);
    free(e->out);
    free(e);
}

static bool grow(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    uint8_t *np = realloc(*p, need);
    if (!np)
        return false;
    *p = np;
    *cap = need;
    return true;
}

const uint8_t *ingestgen_encode(struct ingestgen_encoder *e, const char *header, size_t header_len,
                                const void *records, size_t records_len, size_t *len)
{
    size_t total = 8 + header_len + records_len, n;

    if (!grow(&e->plain, &e->plain_cap, total) || !grow(&e->out, &e->out_cap, ZSTD_compressBound(total)))
        return NULL;
    memcpy(e->plain, "YMB1", 4);
    e->plain[4] = (uint8_t)header_len;
    e->plain[5] = (uint8_t)(header_len >> 8);
    e->plain[6] = (uint8_t)(header_len >> 16);
    e->plain[7] = (uint8_t)(header_len >> 24);
    memcpy(e->plain + 8, header, header_len);
    if (records_len)
        memcpy(e->plain + 8 + header_len, records, records_len);
    ZSTD_CCtx_reset(e->cctx, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_compressionLevel, e->level);
    ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_checksumFlag, 1);
    n = ZSTD_compress2(e->cctx, e->out, e->out_cap, e->plain, total);
    if (ZSTD_isError(n))
        return NULL;
    *len = n;
    return e->out;
}

uint8_t *ingestgen_zstd(const void *data, size_t len, int level, size_t *out_len)
{
    size_t cap = ZSTD_compressBound(len), n;
    uint8_t *out = malloc(cap);

    if (!out)
        return NULL;
    n = ZSTD_compress(out, cap, data, len, level);
    if (ZSTD_isError(n)) {
        free(out);
        return NULL;
    }
    *out_len = n;
    return out;
}
