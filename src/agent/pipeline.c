/*
 * pipeline.c — see pipeline.h.
 *
 * Process identity: every record names its process by (tgid, start time)
 * and its parent by (ppid, parent start time); both become table keys by
 * converting the start time to clock ticks, the unit /proc uses, so that
 * eBPF, proc connector and /proc sources agree. A process the table does
 * not know yet (started before the snapshot, or whose exec record was lost)
 * is completed from /proc when it still runs and reported once as a
 * ProcessSnapshot, so trees stay whole.
 *
 * Pending file events. A file event that gets a content snippet
 * (snippet.h) is not emitted at once: its record comes at the writer's
 * first write, before the writer finished. The pipeline opens the file
 * then (so it holds the very inode, wherever it moves), keeps the event
 * with the keys of its processes, and reads the content and emits the
 * event when the writer exits, or SNIPPET_DELAY_NS after the write —
 * checked against the time of each record that arrives and at every tick —
 * or when more than SNIPPET_PENDING_MAX wait. Such an event may therefore
 * come after events that happened later (its Timestamp is its own).
 */
#include "agent/pipeline.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/pathclass.h"
#include "agent/procfs.h"
#include "agent/proctable.h"
#include "agent/snippet.h"
#include "agent/usercache.h"

#define DEFAULT_KEEP_NS (60ull * 1000000000ull)
#define REAP_INTERVAL_NS (30ull * 1000000000ull)
#define CMDLINE_MAX (YS_ARGV_MAX + 1)

/* A file event waiting for its content (see the top of the file). */
struct pending_file {
    struct yam_event ev;         /* its strings point to the copies below */
    struct proc_key actor, parent;
    bool has_actor, has_parent;
    uint64_t due_ns;             /* CLOCK_BOOTTIME */
    int fd;                      /* the file, open */
    char *path, *prev_path, *link_target;
};

struct pipeline {
    struct pipeline_options opt;
    yam_event_fn out;
    void *out_ctx;
    struct proctable *procs;
    struct usercache *users;
    char boot8[9];
    char device_name[256];
    char proc_root[64];
    bool read_proc;
    int64_t boot_offset_ns;
    uint64_t last_reap_ns;
    uint64_t ns_per_tick;
    struct pipeline_stats stats;
    char cmdline[CMDLINE_MAX];   /* scratch for joining argv */
    char path[YS_PATH_MAX + 1];  /* scratch for paths */
    char path2[YS_PATH_MAX + 1];
    uint8_t lazy_rec[YS_RECORD_MAX] __attribute__((aligned(8))); /* holds a struct ys_exec */
    struct pending_file pending[SNIPPET_PENDING_MAX]; /* oldest first */
    unsigned npending;
    char snippet[SNIPPET_MAX];
};

/* ------------------------------------------------------------------ helpers */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void measure_offset(struct pipeline *p)
{
    uint64_t boot = clock_ns(CLOCK_BOOTTIME);
    uint64_t real = clock_ns(CLOCK_REALTIME);
    uint64_t boot2 = clock_ns(CLOCK_BOOTTIME);
    p->boot_offset_ns = (int64_t)real - (int64_t)(boot + (boot2 - boot) / 2);
}

static uint64_t to_utc(const struct pipeline *p, uint64_t boot_ns)
{
    return (uint64_t)((int64_t)boot_ns + p->boot_offset_ns);
}

static uint64_t to_ticks(const struct pipeline *p, uint64_t ns)
{
    return ns / p->ns_per_tick;
}

/* Points *s at string field f of a record of len bytes; false when the
 * field lies outside the record. An empty field gives *n = 0. */
static bool rec_str(const void *rec, size_t len, struct ys_str f, const char **s, size_t *n)
{
    if ((size_t)f.off + f.len > len || (f.len && f.off < sizeof(struct ys_hdr))) {
        *s = NULL;
        *n = 0;
        return false;
    }
    *s = (const char *)rec + f.off;
    *n = f.len;
    return true;
}

/* Copies a record string into buf (NUL-terminated, cut to buflen - 1). */
static const char *rec_copy(const void *rec, size_t len, struct ys_str f, char *buf, size_t buflen)
{
    const char *s;
    size_t n;

    if (!rec_str(rec, len, f, &s, &n) || n == 0)
        return NULL;
    if (n >= buflen)
        n = buflen - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* a string may carry its terminating NUL from the kernel */
    return buf;
}

size_t pipeline_join_argv(const char *argv, size_t len, char *out, size_t outlen)
{
    size_t n = 0;

    if (outlen == 0)
        return 0;
    while (len > 0 && argv[len - 1] == '\0')
        len--;
    for (size_t i = 0; i < len && n < outlen - 1; i++)
        out[n++] = argv[i] == '\0' ? ' ' : argv[i];
    out[n] = '\0';
    return n;
}

bool pipeline_container_id(const char *cgroup, char out[65])
{
    size_t run = 0;

    if (!cgroup)
        return false;
    for (const char *c = cgroup;; c++) {
        if (*c && isxdigit((unsigned char)*c) && !isupper((unsigned char)*c)) {
            run++;
            continue;
        }
        if (run == 64) {
            memcpy(out, c - 64, 64);
            out[64] = '\0';
            return true;
        }
        run = 0;
        if (!*c)
            return false;
    }
}

static void emit(struct pipeline *p, struct yam_event *ev)
{
    p->stats.events++;
    p->out(p->out_ctx, ev);
}

static const char *source_name(uint8_t source)
{
    switch (source) {
    case YS_SRC_EBPF: return "ebpf";
    case YS_SRC_FALLBACK: return "fallback";
    case YS_SRC_PROCFS: return "procfs";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ processes */

/* Records the start time, and its UTC value once (so that every event
 * about the process shows the same creation time). */
static void set_start(struct pipeline *p, struct proc_entry *e, uint64_t start_ns)
{
    if (e->start_ns == start_ns && e->start_utc_ns)
        return;
    e->start_ns = start_ns;
    e->start_utc_ns = start_ns ? to_utc(p, start_ns) : 0;
}

static void set_ids(struct proc_entry *e, const struct ys_task *t)
{
    e->ppid = t->ppid;
    e->uid = t->uid;
    e->gid = t->gid;
    e->euid = t->euid;
    e->egid = t->egid;
    e->loginuid = t->loginuid;
    e->sessionid = t->sessionid;
    e->sid = t->sid;
    if (t->comm[0])
        memcpy(e->comm, t->comm, sizeof(e->comm) - 1);
}

static void apply_exec(struct pipeline *p, struct proc_entry *e, const struct ys_exec *x, size_t len);
static void release_writer(struct pipeline *p, const struct proc_entry *e);

/* Completes e from /proc when the process still runs with the same start
 * time, and reports it once as a ProcessSnapshot. */
static void lazy_fill(struct pipeline *p, struct proc_entry *e, uint64_t ts_ns)
{
    int n;

    if (!p->read_proc)
        return;
    n = procfs_exec_record(p->proc_root, (pid_t)e->key.pid, YS_F_SNAPSHOT, YS_SRC_PROCFS, ts_ns,
                           p->lazy_rec, sizeof(p->lazy_rec));
    if (n <= 0)
        return;
    const struct ys_exec *x = (const struct ys_exec *)p->lazy_rec;
    if (to_ticks(p, x->h.task.start_ns) != e->key.start_ticks)
        return; /* the pid belongs to another process now */
    p->stats.lazy_fills++;
    apply_exec(p, e, x, (size_t)n);
}

/* The entry of process (pid, start_ns), created and completed when new. */
static struct proc_entry *find_process(struct pipeline *p, uint32_t pid, uint64_t start_ns, uint64_t ts_ns,
                                       const struct ys_task *ids)
{
    bool created;
    struct proc_entry *e;

    if (pid == 0)
        return NULL;
    e = proctable_add(p->procs, pid, to_ticks(p, start_ns), &created);
    if (!e || !created)
        return e;
    set_start(p, e, start_ns);
    if (ids)
        set_ids(e, ids);
    proctable_touch(e);
    lazy_fill(p, e, ts_ns);
    return e;
}

/* The acting process of a record and its parent. */
static struct proc_entry *actor_of(struct pipeline *p, const struct ys_hdr *h, struct proc_entry **parent)
{
    struct proc_entry *a = find_process(p, h->task.tgid, h->task.start_ns, h->ts_ns, &h->task);
    *parent = NULL;
    if (a && h->task.ppid)
        *parent = find_process(p, h->task.ppid, h->task.pstart_ns, h->ts_ns, NULL);
    if (a && (a->ppid != h->task.ppid || a->pstart_ticks != to_ticks(p, h->task.pstart_ns))) {
        a->ppid = h->task.ppid;
        a->pstart_ticks = to_ticks(p, h->task.pstart_ns);
        proctable_touch(a);
    }
    return a;
}

static struct proc_entry *parent_of(struct pipeline *p, const struct proc_entry *e)
{
    if (!e || !e->ppid)
        return NULL;
    return proctable_get(p->procs, e->ppid, e->pstart_ticks);
}

static void apply_exec(struct pipeline *p, struct proc_entry *e, const struct ys_exec *x, size_t len)
{
    const char *s;
    size_t n;
    char cid[65];

    set_ids(e, &x->h.task);
    set_start(p, e, x->h.task.start_ns);
    proctable_touch(e);
    e->ppid = x->h.task.ppid;
    e->pstart_ticks = to_ticks(p, x->h.task.pstart_ns);
    e->flags = x->h.flags;
    e->seen_exec = true;
    e->image_size = x->size;
    e->argc = x->argc;

    if ((x->h.flags & YS_F_MEMFD) && rec_str(x, len, x->memfd, &s, &n) && n) {
        /* a memfd has no path: name it as /proc/PID/exe does */
        int m = snprintf(p->path, sizeof(p->path), "/memfd:%.*s", (int)n, s);
        proctable_set_image(e, p->path, (size_t)m < sizeof(p->path) ? (size_t)m : sizeof(p->path) - 1);
    } else if (rec_copy(x, len, x->path, p->path, sizeof(p->path))) {
        proctable_set_image(e, p->path, strlen(p->path));
    } else {
        proctable_set_image(e, NULL, 0);
    }
    if (rec_str(x, len, x->argv, &s, &n) && n) {
        size_t m = pipeline_join_argv(s, n, p->cmdline, sizeof(p->cmdline));
        proctable_set_str(&e->cmdline, p->cmdline, m);
    } else {
        proctable_set_str(&e->cmdline, NULL, 0);
    }
    if (rec_str(x, len, x->cwd, &s, &n) && n)
        proctable_set_str(&e->cwd, s, n);
    if (rec_str(x, len, x->tty, &s, &n) && n)
        proctable_set_str(&e->tty, s, n);
    else
        proctable_set_str(&e->tty, NULL, 0);
    if (rec_str(x, len, x->cgroup, &s, &n) && n) {
        proctable_set_str(&e->cgroup, s, n);
        if (pipeline_container_id(e->cgroup, cid))
            proctable_set_str(&e->container_id, cid, 64);
        else
            proctable_set_str(&e->container_id, NULL, 0);
    }
    if (rec_str(x, len, x->memfd, &s, &n) && n)
        proctable_set_str(&e->memfd_name, s, n);
    else
        proctable_set_str(&e->memfd_name, NULL, 0);

    e->user = usercache_name(p->users, e->uid);
    e->sha256[0] = '\0';
    e->sha256_skip = NULL;
    e->package = NULL;
    if (e->image && p->opt.enrich.image_hash) {
        const char *skip = NULL;
        if (p->opt.enrich.image_hash(p->opt.enrich.ctx, x, e->image, e->sha256, &skip) != 0) {
            e->sha256[0] = '\0';
            e->sha256_skip = skip;
        }
    }
    /* a container's files are not the host's packages */
    if (e->image && !(e->flags & (YS_F_MEMFD | YS_F_DELETED)) && !e->container_id && p->opt.enrich.package_owner)
        e->package = p->opt.enrich.package_owner(p->opt.enrich.ctx, e->image);

    /* a snapshot or lazy fill is reported once */
    if (x->h.flags & YS_F_SNAPSHOT) {
        struct yam_event ev = {0};
        ev.time_ns = to_utc(p, x->h.ts_ns);
        ev.table = YAM_PROCESS;
        ev.action = "ProcessSnapshot";
        ev.source = source_name(x->h.source);
        ev.proc = e;
        ev.actor = parent_of(p, e);
        ev.actor_parent = parent_of(p, ev.actor);
        ev.flags = x->h.flags;
        emit(p, &ev);
    }
}

static void on_proc_exec(struct pipeline *p, const struct ys_exec *x, size_t len)
{
    struct proc_entry *e, *parent;
    bool created;
    struct yam_event ev = {0};

    if (len < sizeof(*x)) {
        p->stats.bad_records++;
        return;
    }
    /* the parent first, so that a lazily filled parent is reported before */
    parent = x->h.task.ppid ? find_process(p, x->h.task.ppid, x->h.task.pstart_ns, x->h.ts_ns, NULL) : NULL;
    e = proctable_add(p->procs, x->h.task.tgid, to_ticks(p, x->h.task.start_ns), &created);
    if (!e)
        return;
    if (x->h.flags & YS_F_SNAPSHOT) {
        if (!created && e->seen_exec)
            return; /* already known from a live event */
        apply_exec(p, e, x, len);
        return;
    }
    apply_exec(p, e, x, len);
    ev.time_ns = to_utc(p, x->h.ts_ns);
    ev.table = YAM_PROCESS;
    ev.action = "ProcessCreated";
    ev.source = source_name(x->h.source);
    ev.proc = e;
    ev.actor = parent;
    ev.actor_parent = parent_of(p, parent);
    ev.flags = x->h.flags;
    emit(p, &ev);
}

/* A forked child runs its parent's image until it execs. */
static void inherit_image(struct proc_entry *child, const struct proc_entry *parent)
{
    if (!parent)
        return;
    if (parent->image)
        proctable_set_image(child, parent->image, strlen(parent->image));
    if (parent->cmdline)
        proctable_set_str(&child->cmdline, parent->cmdline, strlen(parent->cmdline));
    if (parent->cwd)
        proctable_set_str(&child->cwd, parent->cwd, strlen(parent->cwd));
    if (parent->tty)
        proctable_set_str(&child->tty, parent->tty, strlen(parent->tty));
    if (parent->cgroup)
        proctable_set_str(&child->cgroup, parent->cgroup, strlen(parent->cgroup));
    if (parent->container_id)
        proctable_set_str(&child->container_id, parent->container_id, strlen(parent->container_id));
    if (parent->memfd_name)
        proctable_set_str(&child->memfd_name, parent->memfd_name, strlen(parent->memfd_name));
    memcpy(child->sha256, parent->sha256, sizeof(child->sha256));
    child->sha256_skip = parent->sha256_skip;
    child->package = parent->package;
    child->user = parent->user;
    child->argc = parent->argc;
    child->image_size = parent->image_size;
    child->flags = parent->flags & (YS_F_MEMFD | YS_F_DELETED | YS_F_ARGV_TRUNC);
    child->seen_exec = parent->seen_exec;
}

static void on_proc_fork(struct pipeline *p, const struct ys_fork *f, size_t len)
{
    struct proc_entry *parent, *grandparent, *child;
    struct yam_event ev = {0};
    bool created;

    if (len < sizeof(*f)) {
        p->stats.bad_records++;
        return;
    }
    parent = actor_of(p, &f->h, &grandparent);
    child = proctable_add(p->procs, f->child_tgid, to_ticks(p, f->child_start_ns), &created);
    if (!child)
        return;
    if (created || !child->seen_exec) {
        set_start(p, child, f->child_start_ns);
        set_ids(child, &f->h.task);
        child->sid = f->h.task.sid;
        inherit_image(child, parent);
    }
    child->ppid = f->h.task.tgid;
    child->pstart_ticks = to_ticks(p, f->h.task.start_ns);
    proctable_touch(child);
    ev.time_ns = to_utc(p, f->h.ts_ns);
    ev.table = YAM_PROCESS;
    ev.action = "ProcessForked";
    ev.source = source_name(f->h.source);
    ev.proc = child;
    ev.actor = parent;
    ev.actor_parent = grandparent;
    ev.flags = f->h.flags;
    emit(p, &ev);
}

static void on_proc_exit(struct pipeline *p, const struct ys_exit *x, size_t len)
{
    struct proc_entry *e, *parent;
    struct yam_event ev = {0};

    if (len < sizeof(*x)) {
        p->stats.bad_records++;
        return;
    }
    e = proctable_get(p->procs, x->h.task.tgid, to_ticks(p, x->h.task.start_ns));
    if (!e) {
        /* never seen alive: keep what the record says, no /proc (it is gone) */
        bool created;
        e = proctable_add(p->procs, x->h.task.tgid, to_ticks(p, x->h.task.start_ns), &created);
        if (!e)
            return;
        set_start(p, e, x->h.task.start_ns);
        set_ids(e, &x->h.task);
        e->pstart_ticks = to_ticks(p, x->h.task.pstart_ns);
        proctable_touch(e);
    }
    if (p->npending)
        release_writer(p, e); /* it finished writing: before its exit */
    parent = parent_of(p, e);
    ev.time_ns = to_utc(p, x->h.ts_ns);
    ev.table = YAM_PROCESS;
    ev.action = "ProcessExited";
    ev.source = source_name(x->h.source);
    ev.proc = e;
    ev.actor = parent;
    ev.actor_parent = parent_of(p, parent);
    ev.flags = x->h.flags;
    ev.exit_code = (int)((x->exit_code >> 8) & 0xff);
    ev.exit_signal = (int)(x->exit_code & 0x7f);
    emit(p, &ev);
    proctable_mark_exited(p->procs, e, x->h.ts_ns);
}

/* ------------------------------------------------------------------ pending file events */

static void pending_clear(struct pending_file *q)
{
    if (q->fd >= 0)
        close(q->fd);
    free(q->path);
    free(q->prev_path);
    free(q->link_target);
}

/* Reads the content of pending event i, emits it, and removes it. */
static void release_pending(struct pipeline *p, unsigned i)
{
    struct pending_file *q = &p->pending[i];
    struct yam_file_info *fi = &q->ev.u.file;
    size_t len = 0;
    bool more = false;

    /* the processes again: entries may have moved since the record */
    q->ev.actor = q->has_actor ? proctable_get(p->procs, q->actor.pid, q->actor.start_ticks) : NULL;
    q->ev.actor_parent = q->has_parent ? proctable_get(p->procs, q->parent.pid, q->parent.start_ticks) : NULL;
    if (q->fd >= 0 && snippet_read(q->fd, p->snippet, &len, &more) == 0) {
        fi->snippet = p->snippet;
        fi->snippet_len = len;
        fi->snippet_truncated = more;
        p->stats.snippets++;
    } else {
        p->stats.snippets_unread++;
    }
    emit(p, &q->ev);
    pending_clear(q);
    memmove(&p->pending[i], &p->pending[i + 1], (p->npending - i - 1) * sizeof(*q));
    p->npending--;
}

/* Emits the pending events that are due at now_ns (CLOCK_BOOTTIME). */
static void release_due(struct pipeline *p, uint64_t now_ns)
{
    while (p->npending && p->pending[0].due_ns <= now_ns)
        release_pending(p, 0);
}

/* Emits the pending events whose writer is e (it exited). */
static void release_writer(struct pipeline *p, const struct proc_entry *e)
{
    for (unsigned i = 0; i < p->npending;) {
        const struct pending_file *q = &p->pending[i];
        if (q->has_actor && q->actor.pid == e->key.pid && q->actor.start_ticks == e->key.start_ticks)
            release_pending(p, i);
        else
            i++;
    }
}

static char *dup_opt(const char *s, bool *failed)
{
    char *c;
    if (!s)
        return NULL;
    c = strdup(s);
    if (!c)
        *failed = true;
    return c;
}

/* Keeps the file event ev of record f until its content can be read. When
 * the file cannot be opened the event goes out at once, without content. */
static void hold_for_snippet(struct pipeline *p, struct yam_event *ev, const struct ys_file *f)
{
    struct yam_file_info *fi = &ev->u.file;
    struct pending_file *q;
    bool failed = false;
    int fd;

    fd = snippet_open(p->read_proc ? p->proc_root : NULL, f->h.task.tgid, f->h.task.ppid, fi->path, f->ino, f->dev);
    if (fd < 0) {
        p->stats.snippets_unread++;
        emit(p, ev);
        return;
    }
    if (p->npending == SNIPPET_PENDING_MAX)
        release_pending(p, 0);
    q = &p->pending[p->npending];
    memset(q, 0, sizeof(*q));
    q->fd = fd;
    q->ev = *ev;
    q->due_ns = f->h.ts_ns + SNIPPET_DELAY_NS;
    q->path = dup_opt(fi->path, &failed);
    q->prev_path = dup_opt(fi->prev_path, &failed);
    q->link_target = dup_opt(fi->link_target, &failed);
    if (failed) {
        pending_clear(q);
        p->stats.snippets_unread++;
        emit(p, ev);
        return;
    }
    q->ev.u.file.path = q->path;
    q->ev.u.file.prev_path = q->prev_path;
    q->ev.u.file.link_target = q->link_target;
    if (ev->actor) {
        q->actor = ev->actor->key;
        q->has_actor = true;
    }
    if (ev->actor_parent) {
        q->parent = ev->actor_parent->key;
        q->has_parent = true;
    }
    q->ev.actor = q->ev.actor_parent = NULL;
    p->npending++;
}

void pipeline_flush(struct pipeline *p)
{
    while (p->npending)
        release_pending(p, 0);
}

/* ------------------------------------------------------------------ files */

static const char *file_action(uint16_t type)
{
    switch (type) {
    case YS_FILE_CREATE: return "FileCreated";
    case YS_FILE_MODIFY: return "FileModified";
    case YS_FILE_DELETE: return "FileDeleted";
    case YS_FILE_RENAME: return "FileRenamed";
    case YS_FILE_CHMOD: return "FilePermissionsChanged";
    case YS_FILE_CHOWN: return "FileOwnerChanged";
    case YS_FILE_UTIMES: return "FileTimestampChanged";
    }
    return "FileModified";
}

static void on_file(struct pipeline *p, const struct ys_file *f, size_t len)
{
    struct yam_event ev = {0};
    struct yam_file_info *fi = &ev.u.file;
    struct proc_entry *parent;
    const char *path, *path2;

    if (len < sizeof(*f)) {
        p->stats.bad_records++;
        return;
    }
    /* first: completing an unknown actor from /proc uses the path buffers */
    ev.actor = actor_of(p, &f->h, &parent);
    ev.actor_parent = parent;
    path = rec_copy(f, len, f->path, p->path, sizeof(p->path));
    if (!path) {
        p->stats.bad_records++;
        return;
    }
    pathclass_normalize(p->path);
    path2 = rec_copy(f, len, f->path2, p->path2, sizeof(p->path2));
    /* a symbolic link's target is its content, not a path to normalise */
    if (path2 && !(f->h.flags & YS_F_SYMLINK))
        pathclass_normalize(p->path2);

    ev.time_ns = to_utc(p, f->h.ts_ns);
    ev.table = YAM_FILE;
    ev.action = file_action(f->h.type);
    ev.source = source_name(f->h.source);
    ev.flags = f->h.flags;
    if (f->h.type == YS_FILE_RENAME && path2) {
        fi->path = p->path2;
        fi->prev_path = p->path;
    } else {
        fi->path = p->path;
    }
    if (f->h.flags & (YS_F_SYMLINK | YS_F_HARDLINK)) {
        fi->link_type = (f->h.flags & YS_F_SYMLINK) ? "symlink" : "hardlink";
        fi->link_target = path2;
    }
    fi->owner_uid = (uint32_t)-1;
    fi->owner_gid = (uint32_t)-1;
    fi->atime_sec = -1;
    fi->mtime_sec = -1;
    if (f->mode) {
        fi->mode = f->mode;
        fi->has_mode = true;
    }
    if (f->h.type == YS_FILE_CHOWN || f->ino) {
        fi->owner_uid = f->uid;
        fi->owner_gid = f->gid;
    }
    if (f->h.type == YS_FILE_UTIMES) {
        fi->atime_sec = f->atime_sec;
        fi->atime_nsec = f->atime_nsec;
        fi->mtime_sec = f->mtime_sec;
        fi->mtime_nsec = f->mtime_nsec;
    }
    fi->is_dir = f->h.flags & YS_F_DIR;
    fi->is_exec = (f->h.flags & YS_F_EXECUTABLE) ||
                  (f->h.type == YS_FILE_CHMOD && (f->mode & 0111) && !fi->is_dir);
    fi->truncated = f->h.flags & YS_F_TRUNCATED_OP;
    fi->tag = pathclass_lookup(fi->path).tag;
    if (!fi->tag && fi->prev_path)
        fi->tag = pathclass_lookup(fi->prev_path).tag;
    if (p->opt.file_snippets && !fi->is_dir && !fi->link_type &&
        (f->h.type == YS_FILE_CREATE || f->h.type == YS_FILE_MODIFY || f->h.type == YS_FILE_RENAME) &&
        snippet_wanted(fi->path, pathclass_lookup(fi->path).tag)) {
        hold_for_snippet(p, &ev, f);
        return;
    }
    emit(p, &ev);
}

/* ------------------------------------------------------------------ network */

static void format_ip(uint16_t family, const uint8_t addr[16], char *out, size_t outlen)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0)
        inet_ntop(AF_INET, addr + 12, out, (socklen_t)outlen);
    else if (family == AF_INET6)
        inet_ntop(AF_INET6, addr, out, (socklen_t)outlen);
    else
        inet_ntop(AF_INET, addr, out, (socklen_t)outlen);
}

/* Defender's RemoteIPType values for an address. */
static const char *ip_type(uint16_t family, const uint8_t a[16])
{
    static const uint8_t zero[16] = {0};
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (family == AF_INET6 && memcmp(a, v4mapped, 12) == 0) {
        family = AF_INET;
        a += 12;
    }
    if (family == AF_INET) {
        if (a[0] == 127)
            return "Loopback";
        if (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0)
            return "Unspecified";
        if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
            (a[0] == 100 && (a[1] & 0xc0) == 64))
            return "Private";
        if (a[0] == 169 && a[1] == 254)
            return "LinkLocal";
        if ((a[0] & 0xf0) == 224)
            return "Multicast";
        if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
            return "Broadcast";
        return "Public";
    }
    if (memcmp(a, zero, 16) == 0)
        return "Unspecified";
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return "Loopback";
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return "LinkLocal";
    if ((a[0] & 0xfe) == 0xfc)
        return "Private";
    if (a[0] == 0xff)
        return "Multicast";
    return "Public";
}

static void on_net(struct pipeline *p, const struct ys_net *n, size_t len)
{
    struct yam_event ev = {0};
    struct yam_net_info *ni = &ev.u.net;
    struct proc_entry *parent;

    if (len < sizeof(*n) || (n->family != AF_INET && n->family != AF_INET6)) {
        p->stats.bad_records++;
        return;
    }
    ev.time_ns = to_utc(p, n->h.ts_ns);
    ev.table = YAM_NETWORK;
    ev.source = source_name(n->h.source);
    ev.actor = actor_of(p, &n->h, &parent);
    ev.actor_parent = parent;
    ev.flags = n->h.flags;
    ni->protocol = n->protocol == IPPROTO_UDP ? "Udp" : "Tcp";
    switch (n->h.type) {
    case YS_NET_CONNECT:
        ev.action = (n->h.flags & YS_F_FAILED) ? "ConnectionFailed" : "ConnectionSuccess";
        if ((n->h.flags & YS_F_FAILED) && n->error > 0)
            ni->error = strerrorname_np(n->error);
        break;
    case YS_NET_ACCEPT:
    case YS_NET_UDP_RECV:
        ev.action = "InboundConnectionAccepted";
        break;
    case YS_NET_LISTEN:
        ev.action = "ListeningConnectionCreated";
        break;
    default:
        ev.action = "ConnectionSuccess";
        break;
    }
    format_ip(n->family, n->laddr, ni->local_ip, sizeof(ni->local_ip));
    ni->local_port = n->lport;
    if (n->h.type != YS_NET_LISTEN) {
        format_ip(n->family, n->raddr, ni->remote_ip, sizeof(ni->remote_ip));
        ni->remote_port = n->rport;
        ni->remote_ip_type = ip_type(n->family, n->raddr);
    }
    emit(p, &ev);
}

/* ------------------------------------------------------------------ device events */

static void on_device(struct pipeline *p, const void *rec, size_t len)
{
    const struct ys_hdr *h = rec;
    struct yam_event ev = {0};
    struct yam_device_info *d = &ev.u.dev;
    struct proc_entry *parent, *actor;

    ev.time_ns = to_utc(p, h->ts_ns);
    ev.table = YAM_DEVICE;
    ev.source = source_name(h->source);
    actor = actor_of(p, h, &parent);
    ev.actor = actor;
    ev.actor_parent = parent;
    ev.flags = h->flags;

    switch (h->type) {
    case YS_MODULE_LOAD: {
        const struct ys_module *m = rec;
        if (len < sizeof(*m))
            goto bad;
        ev.action = "KernelModuleLoad";
        d->module_path = m->from_file ? rec_copy(m, len, m->path, p->path, sizeof(p->path)) : NULL;
        d->module_failed = h->flags & YS_F_FAILED;
        break;
    }
    case YS_PTRACE: {
        const struct ys_ptrace *t = rec;
        if (len < sizeof(*t))
            goto bad;
        ev.action = "PtraceAttach";
        d->target_pid = t->target_tgid;
        d->target = proctable_by_pid(p->procs, t->target_tgid);
        d->ptrace_request = t->request == 0 ? "traceme" : t->request == 16 ? "attach" : "seize";
        d->ptrace_result = t->result;
        break;
    }
    case YS_CREDS: {
        const struct ys_creds *c = rec;
        if (len < sizeof(*c))
            goto bad;
        ev.action = "ProcessCredentialsChanged";
        d->new_uid = c->new_uid;
        d->new_gid = c->new_gid;
        d->new_euid = c->new_euid;
        d->new_egid = c->new_egid;
        break;
    }
    case YS_MEMFD_CREATE: {
        const struct ys_memfd *m = rec;
        if (len < sizeof(*m))
            goto bad;
        ev.action = "MemfdCreated";
        d->memfd_name = rec_copy(m, len, m->name, p->path, sizeof(p->path));
        d->memfd_flags = m->mflags;
        break;
    }
    case YS_BPF_PROG_LOAD: {
        const struct ys_bpf *b = rec;
        if (len < sizeof(*b))
            goto bad;
        ev.action = "BpfProgramLoad";
        d->bpf_type = b->prog_type;
        d->bpf_insns = b->insn_cnt;
        memcpy(d->bpf_name, b->prog_name, sizeof(b->prog_name));
        d->bpf_name[16] = '\0';
        break;
    }
    default:
        goto bad;
    }
    emit(p, &ev);
    /* the process runs with its new identity from now on */
    if (h->type == YS_CREDS && actor) {
        const struct ys_creds *c = rec;
        actor->uid = c->new_uid;
        actor->gid = c->new_gid;
        actor->euid = c->new_euid;
        actor->egid = c->new_egid;
        actor->user = usercache_name(p->users, actor->uid);
        proctable_touch(actor);
    }
    return;
bad:
    p->stats.bad_records++;
}

/* ------------------------------------------------------------------ entry points */

void pipeline_on_record(void *ctx, const void *rec, size_t len)
{
    struct pipeline *p = ctx;
    const struct ys_hdr *h = rec;

    if (len < sizeof(*h) || h->version != YS_ABI_VERSION || h->type == 0 || h->type >= YS_TYPE_MAX ||
        h->size > len) {
        p->stats.bad_records++;
        return;
    }
    len = h->size;
    p->stats.records[h->type]++;
    if (p->npending && p->pending[0].due_ns <= h->ts_ns)
        release_due(p, h->ts_ns);
    switch (h->type) {
    case YS_PROC_EXEC: on_proc_exec(p, rec, len); break;
    case YS_PROC_FORK: on_proc_fork(p, rec, len); break;
    case YS_PROC_EXIT: on_proc_exit(p, rec, len); break;
    case YS_FILE_CREATE:
    case YS_FILE_MODIFY:
    case YS_FILE_DELETE:
    case YS_FILE_RENAME:
    case YS_FILE_CHMOD:
    case YS_FILE_CHOWN:
    case YS_FILE_UTIMES: on_file(p, rec, len); break;
    case YS_NET_CONNECT:
    case YS_NET_ACCEPT:
    case YS_NET_LISTEN:
    case YS_NET_UDP_SEND:
    case YS_NET_UDP_RECV: on_net(p, rec, len); break;
    default: on_device(p, rec, len); break;
    }
}

void pipeline_on_logon(struct pipeline *p, bool success, uint64_t time_ns, uint32_t service_pid,
                       const struct yam_logon_info *info, const char *source)
{
    struct yam_event ev = {0};

    ev.time_ns = time_ns;
    ev.table = YAM_LOGON;
    ev.action = success ? "LogonSuccess" : "LogonFailed";
    ev.source = source;
    ev.u.logon = *info;
    if (service_pid) {
        ev.actor = proctable_by_pid(p->procs, service_pid);
        ev.actor_parent = parent_of(p, ev.actor);
    }
    emit(p, &ev);
}

void pipeline_report_loss(struct pipeline *p, const uint64_t lost[YS_TYPE_MAX], const char *reason)
{
    struct yam_event ev = {0};
    uint64_t total = 0;

    for (int t = 0; t < YS_TYPE_MAX; t++)
        total += lost[t];
    if (!total)
        return;
    ev.time_ns = clock_ns(CLOCK_REALTIME);
    ev.table = YAM_DEVICE;
    ev.action = "SensorEventsLost";
    ev.source = "agent";
    ev.u.dev.lost = lost;
    ev.u.dev.lost_reason = reason;
    emit(p, &ev);
}

void pipeline_agent_started(struct pipeline *p, const char *backend, const char *limitations)
{
    struct yam_event ev = {0};

    ev.time_ns = clock_ns(CLOCK_REALTIME);
    ev.table = YAM_DEVICE;
    ev.action = "AgentStarted";
    ev.source = "agent";
    ev.u.dev.backend = backend;
    ev.u.dev.limitations = limitations;
    emit(p, &ev);
}

void pipeline_isolation_tampered(struct pipeline *p, const char *change)
{
    struct yam_event ev = {0};

    ev.time_ns = clock_ns(CLOCK_REALTIME);
    ev.table = YAM_DEVICE;
    ev.action = "IsolationTampered";
    ev.source = "agent";
    ev.u.dev.isolation_change = change;
    emit(p, &ev);
}

/* Whether /proc still shows this process with the same start time. */
static bool proc_alive(const struct proc_entry *e, void *ctx)
{
    struct pipeline *p = ctx;
    struct ys_task t;

    if (procfs_read_task(p->proc_root, (pid_t)e->key.pid, &t) != 0)
        return false;
    return to_ticks(p, t.start_ns) == e->key.start_ticks;
}

void pipeline_tick(struct pipeline *p)
{
    uint64_t now = clock_ns(CLOCK_BOOTTIME);

    measure_offset(p);
    /* before the expiry: the pending events' processes are looked up again */
    release_due(p, now);
    proctable_expire(p->procs, now, p->opt.exited_keep_ns);
    if (p->read_proc && now - p->last_reap_ns >= REAP_INTERVAL_NS) {
        proctable_reap(p->procs, proc_alive, p, now);
        p->last_reap_ns = now;
    }
    usercache_refresh(p->users);
}

int64_t pipeline_boot_offset(const struct pipeline *p)
{
    return p->boot_offset_ns;
}

const char *pipeline_device_name(const struct pipeline *p)
{
    return p->device_name;
}

void pipeline_get_stats(const struct pipeline *p, struct pipeline_stats *out)
{
    *out = p->stats;
}

struct proctable *pipeline_proctable(struct pipeline *p)
{
    return p->procs;
}

static void read_boot8(char out[9])
{
    char buf[64] = "";
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0)
        close(fd);
    if (n < 8) {
        snprintf(out, 9, "00000000");
        return;
    }
    memcpy(out, buf, 8);
    out[8] = '\0';
}

int pipeline_new(struct pipeline **out, const struct pipeline_options *opt, yam_event_fn out_fn,
                 void *out_ctx, char *err, size_t errlen)
{
    struct pipeline *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    p->opt = *opt;
    if (!p->opt.exited_keep_ns)
        p->opt.exited_keep_ns = DEFAULT_KEEP_NS;
    p->out = out_fn;
    p->out_ctx = out_ctx;
    p->ns_per_tick = procfs_ns_per_tick();
    if (opt->boot_id)
        snprintf(p->boot8, sizeof(p->boot8), "%.8s", opt->boot_id);
    else
        read_boot8(p->boot8);
    if (opt->device_name)
        snprintf(p->device_name, sizeof(p->device_name), "%s", opt->device_name);
    else if (gethostname(p->device_name, sizeof(p->device_name) - 1) != 0)
        snprintf(p->device_name, sizeof(p->device_name), "unknown");
    if (opt->proc_root) {
        snprintf(p->proc_root, sizeof(p->proc_root), "%s", opt->proc_root);
        p->read_proc = true;
    }
    p->procs = proctable_new(p->boot8, opt->proctable_max, 0);
    p->users = usercache_new(opt->passwd_path);
    if (!p->procs || !p->users) {
        pipeline_free(p);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    measure_offset(p);
    p->last_reap_ns = clock_ns(CLOCK_BOOTTIME);
    *out = p;
    return 0;
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->npending; i++)
        pending_clear(&p->pending[i]); /* not emitted: pipeline_flush() does that */
    proctable_free(p->procs);
    usercache_free(p->users);
    free(p);
}
