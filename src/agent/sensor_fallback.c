/*
 * sensor_fallback.c — the fallback sensor back end, for kernels where the
 * eBPF programs cannot load (no BTF, lockdown refusing trampolines, an old
 * kernel). Processes come from the netlink proc connector, completed from
 * /proc; files from fanotify (fanwatch.c). It produces the records of
 * bpf/sensor_abi.h with h.source = YS_SRC_FALLBACK, so that everything above
 * the sensor is shared with the eBPF back end. What it cannot see is listed
 * by its limitations op (network, module loads, memfd, bpf()).
 *
 * The proc connector carries pids only. A table of processes (tgid → the
 * identity last known) is filled from a /proc walk at start, from fork and
 * exec events, and kept current by uid/gid/comm/sid events. It serves the
 * records about processes that are gone by the time an event is read:
 *
 *   fork   header = the parent, read from /proc (the table when it is gone);
 *          the child's start time from /proc/CHILD/stat. A child gone before
 *          it could be read gets the fork event's time as its start time
 *          (within microseconds of the real one; YS_F_PARTIAL) and that
 *          guess is kept in the table so its exec and exit records agree.
 *   exec   procfs_exec_record(); when the process is gone (or its pid
 *          already belongs to a newer process), a minimal exec record with
 *          the identity from the table, no image, argv or cwd, YS_F_PARTIAL:
 *          the process is not lost, and its unique id still joins.
 *   exit   for a whole process only, once: when the thread-group leader
 *          exits and no other thread is known (threads are counted from the
 *          connector's thread forks and exits), or, for a multi-threaded
 *          process, when /proc shows the leader a zombie with no other
 *          thread left. exit_code is the kernel's, already in wait(2) form.
 *          Identity from the table; a process never seen is read from
 *          /proc while it is still a zombie, else only its pid and parent
 *          are known (YS_F_PARTIAL). Exited processes stay in the table for
 *          FB_GRACE_NS so that late file events can still name them.
 *   uid/gid  one record per process and change (the kernel sends one event
 *          per thread): old ids from the table, new ones from the event.
 *          The table's ids move with these events only, never with a /proc
 *          read, which may already show a change whose event is queued.
 *   ptrace attach only (the connector reports no PTRACE_TRACEME and no
 *          failed attempt); PTRACE_SEIZE cannot be told from PTRACE_ATTACH.
 *
 * Loss: the kernel numbers connector messages per CPU; a gap in the numbers
 * is a lost message (receive buffer overflow, ENOBUFS), counted in
 * dropped[YS_PROC_EXEC] because its type is unknown (an upper bound: lost
 * thread events would not have become records). fanotify queue overflows
 * are counted by fanwatch.c.
 *
 * Time: connector events carry CLOCK_MONOTONIC; records carry
 * CLOCK_BOOTTIME, converted with the offset between the two at poll time.
 */
#include "agent/sensor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "agent/fanwatch.h"
#include "agent/procfs.h"

#define FB_MAGIC 0x66616c6cu              /* "fall" */
#define FB_RCVBUF (16 << 20)              /* netlink receive buffer */
#define FB_NL_BUDGET 4096                 /* connector messages per poll */
#define FB_FAN_BUDGET 32                  /* fanotify reads (64 KiB) per poll */
#define FB_GRACE_NS (30ull * 1000000000ull)
#define FB_ACK_WAIT_MS 1000               /* for the connector to confirm */
#define FB_STASH_MAX (1u << 20)           /* messages kept while waiting */
#define FB_MAX_CPUS 65536
#define FB_PTRACE_ATTACH 16

enum { SRC_NETLINK = 1, SRC_FANOTIFY, SRC_MOUNTS };

/* What the back end knows about one process. */
struct proc_entry {
    struct proc_entry *next;  /* hash chain */
    struct ys_task task;      /* tgid is the key; tid is not meaningful */
    int32_t threads;          /* threads besides the leader, -1 unknown */
    bool leader_exited;       /* the leader is gone, other threads are not */
    bool start_guessed;       /* start_ns is the fork event's time */
    bool dead;                /* exited, kept for late file events */
    uint64_t dead_stamp;
};

struct dead_note {
    uint32_t tgid;
    uint64_t stamp;
    uint64_t when_ns;
};

struct proctab {
    struct proc_entry **buckets;
    size_t nbuckets, count;
    struct dead_note *dead;   /* a ring, oldest first */
    size_t dead_head, dead_len, dead_cap;
    uint64_t stamp;
};

struct fallback {
    struct sensor base;       /* first: the sensor_* inlines use it */
    unsigned magic;
    struct sensor_options opt;
    int epfd;
    int nlfd;
    struct fanwatch *fw;
    struct sensor_stats stats;
    struct proctab tab;
    uint32_t *cpu_seq;        /* last connector sequence number per CPU */
    uint8_t *cpu_seen;
    size_t ncpu;
    int64_t mono_to_boot;     /* CLOCK_BOOTTIME - CLOCK_MONOTONIC */
    int emitted_now;
    uint8_t *stash;           /* datagrams read while subscribing */
    size_t stash_len;
    char proc_err[256];       /* why process events are missing, or "" */
    char file_err[256];       /* why file events are missing, or "" */
    _Alignas(8) uint8_t rec[YS_RECORD_MAX];
};

static const struct sensor_ops fallback_ops;

static struct fallback *fb_of(void *p)
{
    struct fallback *fb = p;
    if (!fb || fb->magic != FB_MAGIC)
        abort(); /* a context that is not ours: a bug, not an input */
    return fb;
}

static void fb_emit(struct fallback *fb, const void *rec, size_t len)
{
    const struct ys_hdr *h = rec;
    if (h->type < YS_TYPE_MAX)
        fb->stats.emitted[h->type]++;
    if ((h->flags & YS_F_PARTIAL) && h->type < YS_TYPE_MAX)
        fb->stats.errors[h->type]++;
    fb->emitted_now++;
    fb->base.emit(fb->base.emit_ctx, rec, len);
}

static void hdr_init(struct ys_hdr *h, uint16_t type, size_t size, uint32_t cpu, uint64_t ts)
{
    h->type = type;
    h->size = (uint16_t)size;
    h->version = YS_ABI_VERSION;
    h->source = YS_SRC_FALLBACK;
    h->cpu = (uint16_t)cpu;
    h->ts_ns = ts;
}

/* A task we know nothing about beyond its pid. */
static void task_unknown(struct ys_task *t, uint32_t tgid, uint32_t tid)
{
    memset(t, 0, sizeof(*t));
    t->tgid = tgid;
    t->tid = tid;
    t->loginuid = (uint32_t)-1;
    t->sessionid = (uint32_t)-1;
}

/* ------------------------------------------------------------------ /proc */

static ssize_t read_small(const char *path, char *buf, size_t len)
{
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    do
        n = read(fd, buf, len - 1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        n = -errno;
    else
        buf[n] = '\0';
    close(fd);
    return n;
}

/* State letter and start time of pid from /proc/PID/stat. 0 or -errno. */
static int stat_brief(uint32_t pid, char *state, uint64_t *start_ns)
{
    char path[48], buf[1024], *p;
    unsigned long long start = 0;
    int field;

    snprintf(path, sizeof(path), "/proc/%u/stat", pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return -ESRCH;
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -EINVAL;
    *state = p[2];
    p += 2;
    /* field 3 is the state; the start time is field 22 */
    for (field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p || sscanf(p, "%llu", &start) != 1)
        return -EINVAL;
    *start_ns = (uint64_t)start * procfs_ns_per_tick();
    return 0;
}

/* "Threads:" of /proc/PID/status, or -errno. */
static int status_threads(uint32_t pid)
{
    char path[48], buf[4096], *line;
    int n;

    snprintf(path, sizeof(path), "/proc/%u/status", pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return -ESRCH;
    line = strstr(buf, "\nThreads:");
    if (!line || sscanf(line + 9, "%d", &n) != 1)
        return -EINVAL;
    return n;
}

/* ------------------------------------------------------------------ process table */

static size_t tab_slot(const struct proctab *t, uint32_t tgid)
{
    return (size_t)((tgid * 2654435761u) & (t->nbuckets - 1));
}

static int tab_init(struct proctab *t)
{
    memset(t, 0, sizeof(*t));
    t->nbuckets = 4096;
    t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
    return t->buckets ? 0 : -ENOMEM;
}

static struct proc_entry *tab_find(struct proctab *t, uint32_t tgid)
{
    for (struct proc_entry *e = t->buckets[tab_slot(t, tgid)]; e; e = e->next)
        if (e->task.tgid == tgid)
            return e;
    return NULL;
}

static struct proc_entry *tab_live(struct proctab *t, uint32_t tgid)
{
    struct proc_entry *e = tab_find(t, tgid);
    return e && !e->dead ? e : NULL;
}

static void tab_grow(struct proctab *t)
{
    size_t nb = t->nbuckets * 2;
    struct proc_entry **b = calloc(nb, sizeof(*b));

    if (!b)
        return; /* chains get longer; still correct */
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct proc_entry *e = t->buckets[i], *next;
        for (; e; e = next) {
            size_t s = (size_t)((e->task.tgid * 2654435761u) & (nb - 1));
            next = e->next;
            e->next = b[s];
            b[s] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
}

/* The entry of tgid, existing (alive or dead) or new and zeroed; NULL when
 * out of memory. */
static struct proc_entry *tab_get(struct proctab *t, uint32_t tgid)
{
    struct proc_entry *e = tab_find(t, tgid);
    size_t s;

    if (e)
        return e;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->task.tgid = tgid;
    if (t->count >= t->nbuckets)
        tab_grow(t);
    s = tab_slot(t, tgid);
    e->next = t->buckets[s];
    t->buckets[s] = e;
    t->count++;
    return e;
}

/* Makes e a fresh, live entry for a new process. */
static void entry_reset(struct proc_entry *e)
{
    uint32_t tgid = e->task.tgid;
    struct proc_entry *next = e->next;

    memset(e, 0, sizeof(*e));
    e->next = next;
    e->task.tgid = tgid;
}

static void tab_del(struct proctab *t, uint32_t tgid)
{
    struct proc_entry **pp = &t->buckets[tab_slot(t, tgid)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->task.tgid == tgid) {
            struct proc_entry *e = *pp;
            *pp = e->next;
            free(e);
            t->count--;
            return;
        }
    }
}

/* Marks e exited; it is deleted FB_GRACE_NS later. */
static void tab_bury(struct proctab *t, struct proc_entry *e, uint64_t now)
{
    struct dead_note *ring;

    e->dead = true;
    e->dead_stamp = ++t->stamp;
    if (t->dead_len == t->dead_cap) {
        size_t cap = t->dead_cap ? t->dead_cap * 2 : 256;
        ring = malloc(cap * sizeof(*ring));
        if (!ring) {
            tab_del(t, e->task.tgid); /* cannot keep it: forget it now */
            return;
        }
        for (size_t i = 0; i < t->dead_len; i++)
            ring[i] = t->dead[(t->dead_head + i) % t->dead_cap];
        free(t->dead);
        t->dead = ring;
        t->dead_cap = cap;
        t->dead_head = 0;
    }
    t->dead[(t->dead_head + t->dead_len) % t->dead_cap] =
        (struct dead_note){.tgid = e->task.tgid, .stamp = e->dead_stamp, .when_ns = now};
    t->dead_len++;
}

/* Deletes the entries that exited more than FB_GRACE_NS before now. */
static void tab_sweep(struct proctab *t, uint64_t now)
{
    while (t->dead_len) {
        struct dead_note *d = &t->dead[t->dead_head];
        struct proc_entry *e;

        if (now - d->when_ns < FB_GRACE_NS)
            break;
        e = tab_find(t, d->tgid);
        if (e && e->dead && e->dead_stamp == d->stamp)
            tab_del(t, d->tgid);
        t->dead_head = (t->dead_head + 1) % t->dead_cap;
        t->dead_len--;
    }
}

static void tab_free(struct proctab *t)
{
    if (t->buckets) {
        for (size_t i = 0; i < t->nbuckets; i++) {
            struct proc_entry *e = t->buckets[i], *next;
            for (; e; e = next) {
                next = e->next;
                free(e);
            }
        }
    }
    free(t->buckets);
    free(t->dead);
    memset(t, 0, sizeof(*t));
}

static int snapshot_one(pid_t pid, void *ctx)
{
    struct fallback *fb = ctx;
    struct ys_task task;
    struct proc_entry *e;
    int n;

    if (procfs_read_task("/proc", pid, &task) != 0)
        return 0; /* gone meanwhile, or a kernel oddity: skip it */
    e = tab_get(&fb->tab, (uint32_t)pid);
    if (!e)
        return -ENOMEM;
    entry_reset(e);
    e->task = task;
    n = status_threads((uint32_t)pid);
    e->threads = n > 0 ? n - 1 : -1;
    return 0;
}

/* Credentials move in the table with the uid/gid events only: /proc may
 * already show a change whose event is still queued, and taking it from
 * there would make that event look like no change. */
static void creds_from(struct ys_task *to, const struct ys_task *from)
{
    to->uid = from->uid;
    to->gid = from->gid;
    to->euid = from->euid;
    to->egid = from->egid;
}

/* Identity of process tgid for a record header: /proc first (refreshing the
 * table, credentials excepted), then the table (a process gone since), else
 * only the pid. Returns the header flags to add. */
static uint32_t fb_task(struct fallback *fb, uint32_t tgid, struct ys_task *t)
{
    struct proc_entry *e = tab_find(&fb->tab, tgid);

    if (tgid && procfs_read_task("/proc", (pid_t)tgid, t) == 0) {
        if (e && !e->dead && (e->start_guessed || e->task.start_ns == t->start_ns)) {
            creds_from(t, &e->task); /* as of the events read so far */
            e->task = *t;
            e->start_guessed = false;
        }
        return 0;
    }
    if (e) {
        *t = e->task;
        t->tid = tgid;
        return e->start_guessed ? YS_F_PARTIAL : 0;
    }
    task_unknown(t, tgid, tgid);
    return YS_F_PARTIAL;
}

static uint32_t fw_task_hook(void *ctx, uint32_t tgid, struct ys_task *t)
{
    return fb_task(fb_of(ctx), tgid, t);
}

static void fw_emit_hook(void *ctx, const void *rec, size_t len)
{
    fb_emit(fb_of(ctx), rec, len);
}

/* ------------------------------------------------------------------ connector events */

static void on_fork(struct fallback *fb, const struct proc_event *ev, uint64_t ts)
{
    const struct fork_proc_event *f = &ev->event_data.fork;
    uint32_t child = (uint32_t)f->child_tgid, parent = (uint32_t)f->parent_tgid;
    struct ys_fork rec;
    struct proc_entry *e;
    uint64_t start = 0;
    bool guessed = false;
    uint32_t flags;
    char state;

    if (f->child_pid != f->child_tgid) {
        /* a new thread, not a new process: counted for the exit rule */
        e = tab_live(&fb->tab, child);
        if (e && e->threads >= 0)
            e->threads++;
        return;
    }
    memset(&rec, 0, sizeof(rec));
    flags = fb_task(fb, parent, &rec.h.task);
    rec.h.task.tid = (uint32_t)f->parent_pid;
    if (stat_brief(child, &state, &start) != 0 || start > ts) {
        start = ts; /* gone already (or its pid reused): see the top */
        guessed = true;
        flags |= YS_F_PARTIAL;
    }
    e = tab_get(&fb->tab, child);
    if (e) {
        entry_reset(e);
        e->task = rec.h.task; /* inherits the parent's credentials and name */
        e->task.tgid = e->task.tid = child;
        e->task.ppid = parent;
        e->task.pstart_ns = rec.h.task.start_ns;
        e->task.start_ns = start;
        e->start_guessed = guessed;
    }
    if (parent == fb->opt.self_tgid)
        return;
    hdr_init(&rec.h, YS_PROC_FORK, sizeof(rec), ev->cpu, ts);
    rec.h.flags = flags;
    rec.child_tgid = child;
    rec.child_start_ns = start;
    fb_emit(fb, &rec, sizeof(rec));
}

static void on_exec(struct fallback *fb, const struct proc_event *ev, uint64_t ts)
{
    uint32_t tgid = (uint32_t)ev->event_data.exec.process_tgid;
    struct ys_exec *x = (struct ys_exec *)fb->rec;
    struct proc_entry *e = tab_find(&fb->tab, tgid);
    int n;

    if (e && e->dead)
        entry_reset(e); /* its pid came back and we missed the fork */
    n = procfs_exec_record("/proc", (pid_t)tgid, 0, YS_SRC_FALLBACK, ts, fb->rec, sizeof(fb->rec));
    if (n > 0 && (x->h.task.start_ns > ts ||
                  (e && !e->start_guessed && e->task.start_ns && e->task.start_ns != x->h.task.start_ns)))
        n = -ESRCH; /* the pid belongs to a newer process already */
    if (n > 0) {
        if (e && e->task.start_ns)
            creds_from(&x->h.task, &e->task); /* see creds_from() */
        if (!e)
            e = tab_get(&fb->tab, tgid);
        if (e) {
            e->task = x->h.task;
            e->start_guessed = false;
        }
    } else {
        /* gone before /proc could be read: keep what is known */
        memset(x, 0, sizeof(*x));
        if (e) {
            x->h.task = e->task;
            memset(x->h.task.comm, 0, sizeof(x->h.task.comm)); /* the old image's */
        } else {
            task_unknown(&x->h.task, tgid, tgid);
        }
        hdr_init(&x->h, YS_PROC_EXEC, sizeof(*x), 0, ts);
        x->h.flags = YS_F_PARTIAL;
        n = (int)sizeof(*x);
    }
    if (e) {
        e->threads = 0; /* exec leaves one thread */
        e->leader_exited = false;
    }
    if (tgid == fb->opt.self_tgid)
        return;
    x->h.cpu = (uint16_t)ev->cpu;
    x->h.task.tid = (uint32_t)ev->event_data.exec.process_pid;
    fb_emit(fb, x, (size_t)n);
}

enum { PS_GONE, PS_WAIT, PS_ALIVE };

/* Where process tgid is in exiting: gone (or its pid reused), the leader a
 * zombie waiting for other threads, or its leader alive (a thread that
 * called exec took the leader's place). */
static int proc_state(uint32_t tgid, const struct proc_entry *e)
{
    uint64_t start;
    char state;

    if (stat_brief(tgid, &state, &start) != 0)
        return PS_GONE;
    if (e && !e->start_guessed && e->task.start_ns != start)
        return PS_GONE;
    if (state != 'Z' && state != 'X')
        return PS_ALIVE;
    return status_threads(tgid) > 1 ? PS_WAIT : PS_GONE;
}

static void emit_exit(struct fallback *fb, struct proc_entry *e, const struct proc_event *ev,
                      uint64_t ts)
{
    const struct exit_proc_event *x = &ev->event_data.exit;
    uint32_t tgid = (uint32_t)x->process_tgid, ppid = (uint32_t)x->parent_tgid;
    struct ys_exit rec;

    memset(&rec, 0, sizeof(rec));
    if (e) {
        rec.h.task = e->task;
        if (e->start_guessed)
            rec.h.flags |= YS_F_PARTIAL;
        if (ppid && ppid != e->task.ppid) {
            /* reparented since we learnt its parent */
            struct proc_entry *p = tab_find(&fb->tab, ppid);
            rec.h.task.ppid = ppid;
            rec.h.task.pstart_ns = p ? p->task.start_ns : 0;
        }
    } else if (procfs_read_task("/proc", (pid_t)tgid, &rec.h.task) != 0 || rec.h.task.start_ns > ts) {
        /* never seen, and reaped before we looked */
        task_unknown(&rec.h.task, tgid, tgid);
        rec.h.task.ppid = ppid;
        rec.h.flags |= YS_F_PARTIAL;
    }
    rec.h.task.tid = (uint32_t)x->process_pid;
    if (e)
        tab_bury(&fb->tab, e, ts);
    if (tgid == fb->opt.self_tgid)
        return;
    hdr_init(&rec.h, YS_PROC_EXIT, sizeof(rec), ev->cpu, ts);
    rec.exit_code = x->exit_code;
    fb_emit(fb, &rec, sizeof(rec));
}

static void on_exit_(struct fallback *fb, const struct proc_event *ev, uint64_t ts)
{
    const struct exit_proc_event *x = &ev->event_data.exit;
    uint32_t tgid = (uint32_t)x->process_tgid;
    struct proc_entry *e = tab_live(&fb->tab, tgid);
    int ps;

    if (x->process_pid != x->process_tgid) {
        /* a thread: the process ends with its last thread */
        if (!e)
            return;
        if (e->threads > 0)
            e->threads--;
        if (!e->leader_exited)
            return;
        ps = proc_state(tgid, e);
        if (ps == PS_GONE)
            emit_exit(fb, e, ev, ts);
        else if (ps == PS_ALIVE)
            e->leader_exited = false;
        return;
    }
    if (e && e->threads == 0) {
        emit_exit(fb, e, ev, ts);
        return;
    }
    ps = proc_state(tgid, e);
    if (ps == PS_ALIVE)
        return; /* the old leader of an exec from another thread */
    if (ps == PS_WAIT) {
        if (!e) {
            e = tab_get(&fb->tab, tgid);
            if (!e)
                return;
            entry_reset(e);
            if (procfs_read_task("/proc", (pid_t)tgid, &e->task) != 0)
                task_unknown(&e->task, tgid, tgid);
            e->threads = -1;
        }
        e->leader_exited = true;
        return;
    }
    emit_exit(fb, e, ev, ts);
}

static void on_id(struct fallback *fb, const struct proc_event *ev, uint64_t ts, bool is_uid)
{
    const struct id_proc_event *id = &ev->event_data.id;
    uint32_t tgid = (uint32_t)id->process_tgid;
    struct proc_entry *e = tab_live(&fb->tab, tgid);
    struct ys_creds rec;
    bool known = false;

    memset(&rec, 0, sizeof(rec));
    if (e) {
        rec.h.task = e->task;
        if (e->start_guessed)
            rec.h.flags |= YS_F_PARTIAL;
    } else {
        /* never seen: /proc shows the new ids, the old ones are unknown */
        known = procfs_read_task("/proc", (pid_t)tgid, &rec.h.task) == 0 && rec.h.task.start_ns <= ts;
        if (!known)
            task_unknown(&rec.h.task, tgid, tgid);
        if (is_uid)
            rec.h.task.uid = rec.h.task.euid = (uint32_t)-1;
        else
            rec.h.task.gid = rec.h.task.egid = (uint32_t)-1;
        rec.h.flags |= YS_F_PARTIAL;
    }
    rec.new_uid = is_uid ? id->r.ruid : rec.h.task.uid;
    rec.new_euid = is_uid ? id->e.euid : rec.h.task.euid;
    rec.new_gid = is_uid ? rec.h.task.gid : id->r.rgid;
    rec.new_egid = is_uid ? rec.h.task.egid : id->e.egid;
    if (e) {
        if (rec.new_uid == e->task.uid && rec.new_euid == e->task.euid &&
            rec.new_gid == e->task.gid && rec.new_egid == e->task.egid)
            return; /* another thread's copy, or a saved/fs id only */
    } else if (known && (e = tab_get(&fb->tab, tgid)) != NULL) {
        /* learn it now, so that its next change is told from this one */
        entry_reset(e);
        e->task = rec.h.task;
        e->threads = -1;
    }
    if (e) {
        e->task.uid = rec.new_uid;
        e->task.euid = rec.new_euid;
        e->task.gid = rec.new_gid;
        e->task.egid = rec.new_egid;
    }
    if (tgid == fb->opt.self_tgid || !fb->opt.enable_security)
        return;
    hdr_init(&rec.h, YS_CREDS, sizeof(rec), ev->cpu, ts);
    rec.h.task.tid = (uint32_t)id->process_pid;
    fb_emit(fb, &rec, sizeof(rec));
}

static void on_ptrace(struct fallback *fb, const struct proc_event *ev, uint64_t ts)
{
    const struct ptrace_proc_event *p = &ev->event_data.ptrace;
    uint32_t tracer = (uint32_t)p->tracer_tgid, target = (uint32_t)p->process_tgid;
    struct ys_ptrace rec;
    struct proc_entry *t;
    uint64_t start;
    char state;

    if (p->tracer_pid == 0 || tracer == fb->opt.self_tgid || !fb->opt.enable_security)
        return; /* a detach, or ours */
    memset(&rec, 0, sizeof(rec));
    rec.h.flags = fb_task(fb, tracer, &rec.h.task);
    rec.h.task.tid = (uint32_t)p->tracer_pid;
    rec.target_tgid = target;
    rec.request = FB_PTRACE_ATTACH;
    t = tab_find(&fb->tab, target);
    if (t && !t->start_guessed)
        rec.target_start_ns = t->task.start_ns;
    else if (stat_brief(target, &state, &start) == 0 && start <= ts)
        rec.target_start_ns = start;
    else
        rec.h.flags |= YS_F_PARTIAL;
    hdr_init(&rec.h, YS_PTRACE, sizeof(rec), ev->cpu, ts);
    fb_emit(fb, &rec, sizeof(rec));
}

/* Counts the messages the kernel numbered but we never received. */
static void track_seq(struct fallback *fb, uint32_t cpu, uint32_t seq)
{
    uint32_t gap;

    if (cpu >= fb->ncpu) {
        size_t n = (size_t)cpu + 1;
        uint32_t *s;
        uint8_t *seen;
        if (cpu >= FB_MAX_CPUS)
            return;
        s = realloc(fb->cpu_seq, n * sizeof(*s));
        if (!s)
            return;
        fb->cpu_seq = s;
        seen = realloc(fb->cpu_seen, n);
        if (!seen)
            return;
        memset(seen + fb->ncpu, 0, n - fb->ncpu);
        fb->cpu_seen = seen;
        fb->ncpu = n;
    }
    if (fb->cpu_seen[cpu]) {
        gap = seq - fb->cpu_seq[cpu] - 1;
        if (gap >= (1u << 31))
            return; /* older than the last one: out of order, not a loss */
        fb->stats.dropped[YS_PROC_EXEC] += gap;
    }
    fb->cpu_seen[cpu] = 1;
    fb->cpu_seq[cpu] = seq;
}

/* Validates one connector message; copies its event into *ev. Returns the
 * cn_msg (for seq/ack) or NULL when it is not a proc connector event. */
static const struct cn_msg *nl_event(const struct nlmsghdr *nh, struct proc_event *ev)
{
    const struct cn_msg *cn;
    size_t room;

    if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_NOOP ||
        nh->nlmsg_len < NLMSG_LENGTH(sizeof(*cn)))
        return NULL;
    cn = NLMSG_DATA(nh);
    room = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*cn));
    if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC || cn->len > room ||
        cn->len < offsetof(struct proc_event, event_data))
        return NULL;
    memset(ev, 0, sizeof(*ev));
    memcpy(ev, cn->data, cn->len < sizeof(*ev) ? cn->len : sizeof(*ev));
    return cn;
}

/* Handles one datagram from the connector. */
static void nl_datagram(struct fallback *fb, const void *buf, size_t size)
{
    int len = (int)size;

    for (const struct nlmsghdr *nh = buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
        struct proc_event ev;
        const struct cn_msg *cn = nl_event(nh, &ev);
        uint64_t ts;

        if (!cn)
            continue;
        track_seq(fb, ev.cpu, cn->seq);
        ts = (uint64_t)((int64_t)ev.timestamp_ns + fb->mono_to_boot);
        switch (ev.what) {
        case PROC_EVENT_FORK:
            on_fork(fb, &ev, ts);
            break;
        case PROC_EVENT_EXEC:
            on_exec(fb, &ev, ts);
            break;
        case PROC_EVENT_EXIT:
            on_exit_(fb, &ev, ts);
            break;
        case PROC_EVENT_UID:
            on_id(fb, &ev, ts, true);
            break;
        case PROC_EVENT_GID:
            on_id(fb, &ev, ts, false);
            break;
        case PROC_EVENT_PTRACE:
            on_ptrace(fb, &ev, ts);
            break;
        case PROC_EVENT_COMM: {
            struct proc_entry *e = tab_live(&fb->tab, (uint32_t)ev.event_data.comm.process_tgid);
            if (e && ev.event_data.comm.process_pid == ev.event_data.comm.process_tgid) {
                memcpy(e->task.comm, ev.event_data.comm.comm, sizeof(e->task.comm));
                e->task.comm[sizeof(e->task.comm) - 1] = '\0';
            }
            break;
        }
        case PROC_EVENT_SID: {
            struct proc_entry *e = tab_live(&fb->tab, (uint32_t)ev.event_data.sid.process_tgid);
            if (e)
                e->task.sid = e->task.tgid; /* setsid() makes it the leader */
            break;
        }
        default:
            break; /* acks, core dumps: nothing to report */
        }
    }
}

static void clock_offset(struct fallback *fb)
{
    struct timespec mono, boot;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    fb->mono_to_boot = ((int64_t)boot.tv_sec - mono.tv_sec) * 1000000000ll + (boot.tv_nsec - mono.tv_nsec);
}

static int nl_drain(struct fallback *fb, int budget)
{
    _Alignas(struct nlmsghdr) uint8_t buf[8192];

    for (int i = 0; i < budget; i++) {
        struct sockaddr_nl from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(fb->nlfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);

        if (n < 0) {
            if (errno == EINTR || errno == ENOBUFS)
                continue; /* ENOBUFS: the losses show as sequence gaps */
            if (errno == EAGAIN)
                break;
            return -errno;
        }
        if (flen < sizeof(from) || from.nl_pid != 0)
            continue; /* only the kernel speaks here */
        nl_datagram(fb, buf, (size_t)n);
    }
    return 0;
}

/* Sends a PROC_CN_MCAST_* request carrying `ack` (echoed back + 1). */
static int nl_send_op(int fd, uint32_t op, uint32_t ack)
{
    _Alignas(struct nlmsghdr) uint8_t buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(uint32_t))];
    struct nlmsghdr nh = {
        .nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(uint32_t)),
        .nlmsg_type = NLMSG_DONE,
    };
    struct cn_msg cn = {
        .id = {.idx = CN_IDX_PROC, .val = CN_VAL_PROC},
        .ack = ack,
        .len = sizeof(uint32_t),
    };
    struct sockaddr_nl to = {.nl_family = AF_NETLINK};

    memset(buf, 0, sizeof(buf));
    memcpy(buf, &nh, sizeof(nh));
    memcpy(buf + NLMSG_HDRLEN, &cn, sizeof(cn));
    memcpy(buf + NLMSG_HDRLEN + sizeof(cn), &op, sizeof(op));
    if (sendto(fd, buf, nh.nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
        return -errno;
    return 0;
}

/* Subscribes to the proc connector and waits for its answer; what arrives
 * meanwhile is stashed for the first poll (records are only emitted from
 * the poll op). Returns 0 or -errno with fb->proc_err set. */
static int nl_open(struct fallback *fb)
{
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
    int size = FB_RCVBUF, ret = 0, waited = 0;
    uint32_t nonce = 0;
    size_t cap = 0;

    fb->nlfd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    if (fb->nlfd < 0) {
        ret = -errno;
        snprintf(fb->proc_err, sizeof(fb->proc_err), "no netlink connector (%s): kernel without CONFIG_CONNECTOR?",
                 strerror(-ret));
        goto out;
    }
    if (setsockopt(fb->nlfd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        setsockopt(fb->nlfd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (bind(fb->nlfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        ret = -errno;
        snprintf(fb->proc_err, sizeof(fb->proc_err), "cannot join the proc connector group (%s)%s",
                 strerror(-ret), ret == -EPERM ? ": needs CAP_NET_ADMIN" : "");
        goto out;
    }
    if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce))
        nonce = (uint32_t)procfs_boottime_ns();
    nonce &= 0x7fffffff;
    ret = nl_send_op(fb->nlfd, PROC_CN_MCAST_LISTEN, nonce);
    if (ret) {
        snprintf(fb->proc_err, sizeof(fb->proc_err), "cannot subscribe to the proc connector (%s)",
                 strerror(-ret));
        goto out;
    }
    for (;;) {
        _Alignas(struct nlmsghdr) uint8_t buf[8192];
        struct pollfd pfd = {.fd = fb->nlfd, .events = POLLIN};
        struct sockaddr_nl from;
        socklen_t flen = sizeof(from);
        bool acked = false;
        ssize_t n;

        if (waited >= FB_ACK_WAIT_MS) {
            ret = -ETIMEDOUT;
            snprintf(fb->proc_err, sizeof(fb->proc_err),
                     "the proc connector does not answer: the agent runs outside the initial pid or "
                     "user namespace, or the kernel lacks CONFIG_PROC_EVENTS");
            goto out;
        }
        if (poll(&pfd, 1, 50) == 0) {
            waited += 50;
            continue;
        }
        n = recvfrom(fb->nlfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
                continue;
            ret = -errno;
            snprintf(fb->proc_err, sizeof(fb->proc_err), "proc connector: %s", strerror(-ret));
            goto out;
        }
        if (flen < sizeof(from) || from.nl_pid != 0)
            continue;
        int left = (int)n;
        for (const struct nlmsghdr *nh = (const void *)buf; NLMSG_OK(nh, left);
             nh = NLMSG_NEXT(nh, left)) {
            struct proc_event ev;
            const struct cn_msg *cn = nl_event(nh, &ev);
            if (cn && ev.what == PROC_EVENT_NONE && cn->ack == nonce + 1) {
                if (ev.event_data.ack.err) {
                    ret = -(int)ev.event_data.ack.err;
                    snprintf(fb->proc_err, sizeof(fb->proc_err), "the proc connector refused (%s)",
                             strerror(-ret));
                    goto out;
                }
                acked = true;
            }
        }
        /* keep the datagram (events and the answer) for the first poll */
        if (fb->stash_len + sizeof(uint32_t) + (size_t)n <= FB_STASH_MAX) {
            uint32_t len32 = (uint32_t)n;
            if (fb->stash_len + sizeof(len32) + (size_t)n > cap) {
                size_t ncap = cap ? cap * 2 : 65536;
                uint8_t *p;
                while (ncap < fb->stash_len + sizeof(len32) + (size_t)n)
                    ncap *= 2;
                p = realloc(fb->stash, ncap);
                if (!p) {
                    ret = -ENOMEM;
                    snprintf(fb->proc_err, sizeof(fb->proc_err), "out of memory");
                    goto out;
                }
                fb->stash = p;
                cap = ncap;
            }
            memcpy(fb->stash + fb->stash_len, &len32, sizeof(len32));
            memcpy(fb->stash + fb->stash_len + sizeof(len32), buf, (size_t)n);
            fb->stash_len += sizeof(len32) + (size_t)n;
        }
        if (acked)
            break;
    }
out:
    if (ret && fb->nlfd >= 0) {
        close(fb->nlfd);
        fb->nlfd = -1;
    }
    return ret;
}

static void stash_replay(struct fallback *fb)
{
    _Alignas(struct nlmsghdr) uint8_t buf[8192];
    size_t off = 0;

    while (off + sizeof(uint32_t) <= fb->stash_len) {
        uint32_t len;
        memcpy(&len, fb->stash + off, sizeof(len));
        off += sizeof(len);
        if (len > sizeof(buf) || off + len > fb->stash_len)
            break;
        memcpy(buf, fb->stash + off, len);
        off += len;
        nl_datagram(fb, buf, len);
    }
    free(fb->stash);
    fb->stash = NULL;
    fb->stash_len = 0;
}

/* ------------------------------------------------------------------ ops */

static int fb_fd(struct sensor *s)
{
    return fb_of(s)->epfd;
}

static int fb_poll(struct sensor *s, int timeout_ms)
{
    struct fallback *fb = fb_of(s);
    struct epoll_event evs[4];
    bool mounts = false;
    int n, ret;

    fb->emitted_now = 0;
    n = epoll_wait(fb->epfd, evs, 4, fb->stash ? 0 : timeout_ms);
    if (n < 0) {
        if (errno != EINTR)
            return -errno;
        n = 0;
    }
    for (int i = 0; i < n; i++)
        if (evs[i].data.u32 == SRC_MOUNTS)
            mounts = true;
    clock_offset(fb);
    if (fb->stash)
        stash_replay(fb);
    /* processes first: file events then find the processes they name */
    if (fb->nlfd >= 0) {
        ret = nl_drain(fb, FB_NL_BUDGET);
        if (ret)
            return ret;
    }
    if (fb->fw) {
        if (mounts)
            fanwatch_rescan(fb->fw); /* a failure keeps the filesystems marked so far */
        ret = fanwatch_dispatch(fb->fw, FB_FAN_BUDGET);
        if (ret < 0)
            return ret;
    }
    tab_sweep(&fb->tab, procfs_boottime_ns());
    return fb->emitted_now;
}

static void fb_stats(struct sensor *s, struct sensor_stats *out)
{
    *out = fb_of(s)->stats;
}

struct lines {
    char *out;
    size_t len, used;
    int count;
};

static void add_line(void *ctx, const char *text)
{
    struct lines *l = ctx;
    size_t n = strlen(text), need = n + (l->used ? 1 : 0);

    if (l->len == 0 || l->used + need + 1 > l->len)
        return; /* does not fit: left out whole */
    if (l->used)
        l->out[l->used++] = '\n';
    memcpy(l->out + l->used, text, n);
    l->used += n;
    l->out[l->used] = '\0';
    l->count++;
}

static int fb_limitations(struct sensor *s, char *out, size_t outlen)
{
    struct fallback *fb = fb_of(s);
    struct lines l = {.out = out, .len = outlen};
    char text[512];

    if (outlen)
        out[0] = '\0';
    add_line(&l, "network events: not available in the fallback back end");
    add_line(&l, "kernel module loads: not available in the fallback back end");
    add_line(&l, "memfd_create: not available in the fallback back end");
    add_line(&l, "bpf() program loads: not available in the fallback back end");
    if (fb->proc_err[0]) {
        snprintf(text, sizeof(text), "process events: %s", fb->proc_err);
        add_line(&l, text);
    } else if (fb->opt.enable_security) {
        add_line(&l, "ptrace: the proc connector reports successful attaches only "
                     "(no PTRACE_TRACEME, no failed attempts; PTRACE_SEIZE appears as attach)");
    }
    if (fb->file_err[0]) {
        snprintf(text, sizeof(text), "file events: %s", fb->file_err);
        add_line(&l, text);
    }
    if (fb->fw)
        fanwatch_limitations(fb->fw, add_line, &l);
    return l.count;
}

static void fb_free(struct sensor *s)
{
    struct fallback *fb = fb_of(s);

    if (fb->nlfd >= 0) {
        nl_send_op(fb->nlfd, PROC_CN_MCAST_IGNORE, 0);
        close(fb->nlfd);
    }
    fanwatch_free(fb->fw);
    if (fb->epfd >= 0)
        close(fb->epfd);
    tab_free(&fb->tab);
    free(fb->cpu_seq);
    free(fb->cpu_seen);
    free(fb->stash);
    fb->magic = 0;
    free(fb);
}

static const struct sensor_ops fallback_ops = {
    .name = "fallback",
    .fd = fb_fd,
    .poll = fb_poll,
    .stats = fb_stats,
    .limitations = fb_limitations,
    .free = fb_free,
};

static int epoll_add(int epfd, int fd, uint32_t events, uint32_t src)
{
    struct epoll_event ev = {.events = events, .data.u32 = src};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

/* See sensor.h. Needs root (CAP_NET_ADMIN for the connector, CAP_SYS_ADMIN
 * for fanotify filesystem marks, CAP_DAC_READ_SEARCH for open_by_handle_at,
 * CAP_SYS_PTRACE to read other users' /proc entries). Opens when at least
 * one of process and file events works; what is missing is in the
 * limitations. Uses opt->self_tgid, enable_file, enable_security (ring and
 * network options do not apply). *out is freed with sensor_free(). */
int sensor_fallback_open(struct sensor **out, const struct sensor_options *opt,
                         sensor_record_fn emit, void *emit_ctx, char *err, size_t errlen)
{
    struct fallback *fb = calloc(1, sizeof(*fb));
    int ret = 0;

    *out = NULL;
    if (!fb) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    fb->base.ops = &fallback_ops;
    fb->base.emit = emit;
    fb->base.emit_ctx = emit_ctx;
    fb->magic = FB_MAGIC;
    fb->opt = *opt;
    fb->nlfd = -1;
    fb->ncpu = (size_t)get_nprocs_conf();
    if (fb->ncpu < 1 || fb->ncpu > FB_MAX_CPUS)
        fb->ncpu = 1;
    fb->cpu_seq = calloc(fb->ncpu, sizeof(*fb->cpu_seq));
    fb->cpu_seen = calloc(fb->ncpu, 1);
    fb->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!fb->cpu_seq || !fb->cpu_seen || tab_init(&fb->tab) != 0) {
        ret = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (fb->epfd < 0) {
        ret = -errno;
        snprintf(err, errlen, "epoll_create1: %s", strerror(-ret));
        goto out;
    }

    /* subscribe before the /proc walk so that nothing falls in between */
    if (nl_open(fb) == 0) {
        ret = procfs_for_each_pid("/proc", snapshot_one, fb);
        if (ret) {
            snprintf(err, errlen, "cannot walk /proc: %s", strerror(-ret));
            goto out;
        }
        ret = epoll_add(fb->epfd, fb->nlfd, EPOLLIN, SRC_NETLINK);
        if (ret) {
            snprintf(err, errlen, "epoll_ctl: %s", strerror(-ret));
            goto out;
        }
    }

    if (opt->enable_file) {
        struct fanwatch_hooks hooks = {.ctx = fb, .task = fw_task_hook, .emit = fw_emit_hook};
        if (fanwatch_open(&fb->fw, opt->self_tgid, &hooks, &fb->stats, fb->file_err,
                          sizeof(fb->file_err)) == 0) {
            ret = epoll_add(fb->epfd, fanwatch_fd(fb->fw), EPOLLIN, SRC_FANOTIFY);
            if (!ret)
                ret = epoll_add(fb->epfd, fanwatch_mounts_fd(fb->fw), EPOLLPRI, SRC_MOUNTS);
            if (ret) {
                snprintf(err, errlen, "epoll_ctl: %s", strerror(-ret));
                goto out;
            }
        }
    }

    if (fb->nlfd < 0 && !fb->fw) {
        ret = -ENODEV;
        snprintf(err, errlen, "fallback sensor: no process events (%s)%s%s", fb->proc_err,
                 fb->file_err[0] ? " and no file events: " : "", fb->file_err);
        goto out;
    }
out:
    if (ret) {
        fb_free(&fb->base);
        return ret;
    }
    *out = &fb->base;
    return 0;
}
