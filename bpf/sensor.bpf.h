/*
 * sensor.bpf.h — what every Yamori BPF object shares: the ring buffer, the
 * loss counters, the per-CPU scratch space, the path-class trie, the
 * tunables, and the helpers that fill a record header, walk a path and emit
 * a record.
 *
 * Each object (process, file, network, security) defines these maps under
 * the same names; user space creates them once, with the first object, and
 * hands the same file descriptors to the others (bpf_map__reuse_fd), so all
 * programs write to one ring buffer and one set of counters.
 *
 * Wake-ups are batched: a record is committed without waking the consumer
 * unless the ring holds at least `wakeup_bytes`; the consumer also drains the
 * ring on a short timer. Waking per event costs more than the programs.
 */
#ifndef YAMORI_SENSOR_BPF_H
#define YAMORI_SENSOR_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sensor_abi.h"
#include "file_policy.h"

char LICENSE[] SEC("license") = "GPL";

/* Masks `v` in an instruction clang cannot drop, so that the verifier sees
 * the bound even where the compiler proved it by other means. */
#define YS_BOUND(v, mask) asm volatile("%[val] &= %[m]" : [val] "+r"(v) : [m] "i"(mask))

/* ---- tunables, set by user space before load ---- */
const volatile __u32 self_tgid = 0;        /* the agent: never reported */
const volatile __u64 wakeup_bytes = 65536; /* force a wake-up beyond this */

/* ---- maps shared by every object ---- */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 << 20); /* user space resizes before load */
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ys_counters);
} counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 1024);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct ys_lpm_key);
    __type(value, __u32);
} path_classes SEC(".maps");

/* Scratch space, one slot per CPU (an ARRAY indexed by CPU because per-CPU
 * values are limited to 32 KiB). `rec` is sized so that a write at any
 * masked offset below YS_RECORD_MAX of at most YS_ARGV_MAX bytes stays
 * inside it, which is what the verifier needs to see. */
struct ys_scratch {
    __u8 rec[YS_RECORD_MAX + YS_ARGV_MAX];
    __u8 path[3 * YS_PATH_MAX];
    struct ys_lpm_key key;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1); /* user space sets it to the number of CPUs */
    __type(key, __u32);
    __type(value, struct ys_scratch);
} scratch SEC(".maps");

static __always_inline struct ys_scratch *ys_scratch_get(void)
{
    __u32 cpu = bpf_get_smp_processor_id();
    return bpf_map_lookup_elem(&scratch, &cpu);
}

static __always_inline struct ys_counters *ys_counters_get(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline void ys_count_filtered(__u16 type)
{
    struct ys_counters *c = ys_counters_get();
    if (c && type < YS_TYPE_MAX)
        c->filtered[type]++;
}

static __always_inline bool ys_is_self(void)
{
    return (bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

/* Fills the identity of `task`, a BTF pointer (a tp_btf argument or
 * bpf_get_current_task_btf()): the fields are read with direct loads, which
 * the verifier turns into fault-tolerant memory accesses — no helper call
 * per field, which matters on the exec path. */
static __always_inline void ys_fill_task(struct ys_task *t, struct task_struct *task)
{
    struct task_struct *leader = task->group_leader;
    struct task_struct *parent = task->real_parent;
    const struct cred *cred = task->real_cred;

    t->tgid = task->tgid;
    t->tid = task->pid;
    t->ppid = parent->tgid;
    t->start_ns = leader->start_boottime;
    t->pstart_ns = parent->group_leader->start_boottime;
    t->uid = cred->uid.val;
    t->gid = cred->gid.val;
    t->euid = cred->euid.val;
    t->egid = cred->egid.val;
    if (bpf_core_field_exists(task->loginuid)) {
        t->loginuid = task->loginuid.val;
        t->sessionid = task->sessionid;
    } else {
        t->loginuid = (__u32)-1;
        t->sessionid = (__u32)-1;
    }
    t->sid = task->signal->pids[PIDTYPE_SID]->numbers[0].nr;
    t->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
    __builtin_memcpy(t->comm, task->comm, sizeof(t->comm));
}

static __always_inline void ys_fill_hdr(struct ys_hdr *h, __u16 type, struct task_struct *task)
{
    h->type = type;
    h->size = 0;
    h->version = YS_ABI_VERSION;
    h->source = YS_SRC_EBPF;
    h->cpu = bpf_get_smp_processor_id();
    h->flags = 0;
    h->pad = 0;
    h->ts_ns = bpf_ktime_get_boot_ns();
    ys_fill_task(&h->task, task);
}

/* Sends `size` bytes at `rec` (a record starting with ys_hdr) to the ring
 * buffer, counting success and loss per type. */
static __always_inline void ys_emit(void *rec, __u32 size, __u16 type)
{
    struct ys_counters *c = ys_counters_get();
    __u64 flags = BPF_RB_NO_WAKEUP;

    if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
        flags = BPF_RB_FORCE_WAKEUP;
    size &= (YS_RECORD_MAX - 1);
    if (size < sizeof(struct ys_hdr))
        return;
    ((struct ys_hdr *)rec)->size = size;
    if (bpf_ringbuf_output(&events, rec, size, flags) == 0) {
        if (c && type < YS_TYPE_MAX)
            c->emitted[type]++;
    } else {
        if (c && type < YS_TYPE_MAX)
            c->dropped[type]++;
    }
}

/* Appends `len` bytes from kernel memory `src` to the record at *pos and
 * describes them in *field. `len` is clamped to YS_PATH_MAX - 1. */
static __always_inline void ys_put_kernel(__u8 *rec, __u32 *pos, struct ys_str *field,
                                          const void *src, __u32 len)
{
    __u32 p = *pos;
    if (len > YS_PATH_MAX - 1)
        len = YS_PATH_MAX - 1;
    if (p > YS_RECORD_MAX - YS_PATH_MAX) {
        field->off = 0;
        field->len = 0;
        return;
    }
    if (bpf_probe_read_kernel(rec + (p & (YS_RECORD_MAX - 1)), len & (YS_PATH_MAX - 1), src) != 0)
        len = 0;
    field->off = p;
    field->len = len;
    *pos = p + len;
}

/* Appends a NUL-terminated kernel string (at most max-1 bytes, max <= 256). */
static __always_inline void ys_put_kernel_str(__u8 *rec, __u32 *pos, struct ys_str *field,
                                              const char *src)
{
    __u32 p = *pos;
    long n;
    if (p > YS_RECORD_MAX - YS_NAME_MAX) {
        field->off = 0;
        field->len = 0;
        return;
    }
    n = bpf_probe_read_kernel_str(rec + (p & (YS_RECORD_MAX - 1)), YS_NAME_MAX, src);
    if (n <= 1) {
        field->off = 0;
        field->len = 0;
        return;
    }
    field->off = p;
    field->len = (__u16)(n - 1);
    *pos = p + (__u32)(n - 1);
}

/* State of one path walk, shared with the bpf_loop() callback. */
struct ys_walk {
    struct ys_scratch *s;
    struct dentry *dentry;
    struct mount *mnt;
    struct dentry *mnt_root;
    __u32 off;
    __u32 flags;
};

/* One step of the walk: prepend the current component, or cross into the
 * parent mount at a mount root. Returns 1 to stop. */
static long ys_path_step(__u32 i, void *ctx)
{
    struct ys_walk *w = ctx;
    struct ys_scratch *s = w->s;
    struct dentry *dentry = w->dentry;
    struct mount *mnt = w->mnt;
    struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

    if (!s)
        return 1;
    if (dentry == w->mnt_root || dentry == parent) {
        struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
        if (dentry != w->mnt_root || mnt_parent == mnt || !mnt_parent)
            return 1; /* the root of everything we can see */
        w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
        w->mnt = mnt_parent;
        w->mnt_root = BPF_CORE_READ(mnt_parent, mnt.mnt_root);
        return 0;
    }
    const __u8 *name = BPF_CORE_READ(dentry, d_name.name);
    __u32 len = BPF_CORE_READ(dentry, d_name.len) & (YS_NAME_MAX - 1);
    __u32 off = w->off;
    if (off > YS_PATH_MAX || len + 1 >= off) {
        w->flags |= YS_F_PATH_TRUNC;
        return 1;
    }
    off -= len;
    bpf_probe_read_kernel(&s->path[off & (YS_PATH_MAX - 1)], len, name);
    if (s->path[off & (YS_PATH_MAX - 1)] == '.')
        w->flags |= YS_F_HIDDEN;
    off -= 1;
    s->path[off & (YS_PATH_MAX - 1)] = '/';
    w->off = off;
    w->dentry = parent;
    if (i == YS_PATH_DEPTH - 1)
        w->flags |= YS_F_PATH_TRUNC;
    return 0;
}

/* Appends a NUL-terminated user string (at most YS_PATH_MAX - 1 bytes). */
static __always_inline void ys_put_user_str(__u8 *rec, __u32 *pos, struct ys_str *field, const char *src)
{
    __u32 p = *pos;
    long n;

    field->off = 0;
    field->len = 0;
    if (!src || p > YS_RECORD_MAX - YS_PATH_MAX)
        return;
    n = bpf_probe_read_user_str(rec + (p & (YS_RECORD_MAX - 1)), YS_PATH_MAX, src);
    if (n <= 1)
        return;
    field->off = p;
    field->len = (__u16)(n - 1);
    *pos = p + (__u32)(n - 1);
}

/* Walks (dentry, vfsmnt) up to the root like d_path() does, writing the
 * path right-aligned so that it ends at s->path[YS_PATH_MAX]; returns the
 * offset of its first byte. For the root itself nothing is written and
 * YS_PATH_MAX is returned. Sets YS_F_PATH_TRUNC / YS_F_HIDDEN in *flags.
 * Paths are as seen from the root of the mount tree the task lives in (a
 * container's paths are relative to the container's root). */
static __always_inline __u32 ys_path_prefix(struct ys_scratch *s, struct dentry *dentry,
                                            struct vfsmount *vfsmnt, __u32 *flags)
{
    struct ys_walk w = {
        .s = s,
        .dentry = dentry,
        .mnt = container_of(vfsmnt, struct mount, mnt),
        .mnt_root = BPF_CORE_READ(vfsmnt, mnt_root),
        .off = YS_PATH_MAX,
    };

    bpf_loop(YS_PATH_DEPTH, ys_path_step, &w, 0);
    *flags |= w.flags;
    return w.off > YS_PATH_MAX ? YS_PATH_MAX : w.off;
}

/* The absolute path of (dentry, vfsmnt) in s->path[off .. YS_PATH_MAX);
 * returns off. The root is "/". */
static __always_inline __u32 ys_path(struct ys_scratch *s, struct dentry *dentry,
                                     struct vfsmount *vfsmnt, __u32 *flags)
{
    __u32 off = ys_path_prefix(s, dentry, vfsmnt, flags);
    if (off >= YS_PATH_MAX || off == 0) {
        off = YS_PATH_MAX - 1;
        s->path[YS_PATH_MAX - 1] = '/';
    }
    return off;
}

/* The file behind descriptor `fd` of `task`, or NULL. */
static __always_inline struct file *ys_fd_file(struct task_struct *task, long fd_arg)
{
    /* descriptors are ints; the 64-bit argument slot may hold anything above */
    int fd = (int)fd_arg;
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    struct file **fds = BPF_CORE_READ(fdt, fd);
    unsigned int max = BPF_CORE_READ(fdt, max_fds);
    struct file *f = NULL;

    if (fd < 0 || fd >= max)
        return NULL;
    bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
    return f;
}

#define YS_AT_FDCWD (-100)

/* Resolves a path handed to a system call (user memory) against `dirfd`, or
 * the working directory for AT_FDCWD, into s->path[off .. *end); returns
 * off. An empty string names dirfd itself (AT_EMPTY_PATH). The result is
 * not normalised: "." and ".." components are left for user space, and
 * symbolic links are not followed (the system call decides that). */
static __always_inline __u32 ys_user_path(struct ys_scratch *s, long dirfd, const char *upath,
                                          __u32 *end, __u32 *flags)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct dentry *dentry;
    struct vfsmount *mnt;
    long n = 0;
    __u32 len, off;

    if (upath)
        n = bpf_probe_read_user_str(&s->path[YS_PATH_MAX + 1], YS_PATH_MAX - 1, upath);
    len = n > 1 ? (__u32)(n - 1) : 0;
    if (len > 0 && s->path[YS_PATH_MAX + 1] == '/') {
        *end = YS_PATH_MAX + 1 + len;
        return YS_PATH_MAX + 1;
    }
    if ((int)dirfd == YS_AT_FDCWD) {
        dentry = BPF_CORE_READ(task, fs, pwd.dentry);
        mnt = BPF_CORE_READ(task, fs, pwd.mnt);
    } else {
        struct file *f = ys_fd_file(task, dirfd);
        if (!f) {
            *flags |= YS_F_PARTIAL;
            *end = YS_PATH_MAX + 1 + len;
            return YS_PATH_MAX + 1;
        }
        dentry = BPF_CORE_READ(f, f_path.dentry);
        mnt = BPF_CORE_READ(f, f_path.mnt);
    }
    off = ys_path_prefix(s, dentry, mnt, flags);
    if (len == 0) {
        *end = YS_PATH_MAX;
        if (off >= YS_PATH_MAX) {
            s->path[YS_PATH_MAX - 1] = '/';
            return YS_PATH_MAX - 1;
        }
        return off;
    }
    s->path[YS_PATH_MAX] = '/';
    *end = YS_PATH_MAX + 1 + len;
    return off;
}

/* Looks up the class bits of the path in s->path[off .. end). */
static __always_inline __u32 ys_path_class(struct ys_scratch *s, __u32 off, __u32 end)
{
    __u32 len = end > off ? end - off : 0;
    __u32 *bits;

    if (len > YS_LPM_DATA_MAX - 1)
        len = YS_LPM_DATA_MAX - 1;
    YS_BOUND(len, YS_LPM_DATA_MAX - 1);
    s->key.prefixlen = len * 8;
    bpf_probe_read_kernel(s->key.data, len, &s->path[off & (2 * YS_PATH_MAX - 1)]);
    bits = bpf_map_lookup_elem(&path_classes, &s->key);
    return bits ? *bits : 0;
}

/* Appends s->path[off .. end) to the record (at most YS_PATH_MAX - 1 bytes;
 * longer paths keep their head and set YS_F_PATH_TRUNC). */
static __always_inline void ys_put_path_range(struct ys_scratch *s, __u32 *pos, struct ys_str *field,
                                              __u32 off, __u32 end, __u32 *flags)
{
    __u32 len = end > off ? end - off : 0;
    if (len > YS_PATH_MAX - 1) {
        len = YS_PATH_MAX - 1;
        *flags |= YS_F_PATH_TRUNC;
    }
    ys_put_kernel(s->rec, pos, field, &s->path[off & (2 * YS_PATH_MAX - 1)], len);
}

/* Appends the path built by ys_path() at `off` to the record. */
static __always_inline void ys_put_path(struct ys_scratch *s, __u32 *pos, struct ys_str *field, __u32 off)
{
    ys_put_kernel(s->rec, pos, field, &s->path[off & (YS_PATH_MAX - 1)], YS_PATH_MAX - off);
}

/* Whether the super block belongs to a pseudo filesystem (file_policy.h). */
static __always_inline bool ys_pseudo_fs(struct super_block *sb)
{
    return ys_pseudo_fs_magic(BPF_CORE_READ(sb, s_magic));
}

/* The record of syscalls:sys_enter_* / sys_exit_* tracepoints (see
 * events/syscalls/<name>/format): the syscall number is an int followed by
 * padding, unlike raw_syscalls' `long id`. */
struct ys_sys_enter {
    __u64 common;
    __s32 nr;
    __u32 pad;
    __u64 args[6];
};

struct ys_sys_exit {
    __u64 common;
    __s32 nr;
    __u32 pad;
    __s64 ret;
};

#define S_IFMT  00170000
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define YS_S_ISREG(m) (((m) & S_IFMT) == S_IFREG)
#define YS_S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)

#endif
