// SPDX-License-Identifier: GPL-2.0
/*
 * process.bpf.c — process lifecycle: exec (image, argv, cwd, tty, cgroup,
 * image identity for the hash cache), fork of a new process (threads are
 * skipped), and exit of the last thread with its exit code.
 *
 * All three hang off BTF-enabled scheduler tracepoints (tp_btf), which need
 * neither kprobes nor tracefs.
 */
#include "sensor.bpf.h"

/* Inode timestamp layouts before 6.6 and between 6.6 and 6.11. */
struct inode___pre66 {
    struct timespec64 i_mtime;
    struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct inode___66 {
    struct timespec64 __i_mtime;
    struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

/* Nanoseconds are below 2^30; newer kernels keep flags in the bits above
 * (multigrain timestamps mark a queried ctime there), which stat(2) never
 * shows: masked off, so identities compare with what user space sees. */
#define YS_NSEC_MASK ((1u << 30) - 1)

static __always_inline void read_inode_times(struct inode *inode, struct ys_exec *e)
{
    if (bpf_core_field_exists(inode->i_mtime_sec)) {
        e->mtime_sec = BPF_CORE_READ(inode, i_mtime_sec);
        e->mtime_nsec = BPF_CORE_READ(inode, i_mtime_nsec) & YS_NSEC_MASK;
        e->ctime_sec = BPF_CORE_READ(inode, i_ctime_sec);
        e->ctime_nsec = BPF_CORE_READ(inode, i_ctime_nsec) & YS_NSEC_MASK;
    } else if (bpf_core_field_exists(((struct inode___66 *)inode)->__i_mtime)) {
        struct inode___66 *i = (void *)inode;
        e->mtime_sec = BPF_CORE_READ(i, __i_mtime.tv_sec);
        e->mtime_nsec = BPF_CORE_READ(i, __i_mtime.tv_nsec);
        e->ctime_sec = BPF_CORE_READ(i, __i_ctime.tv_sec);
        e->ctime_nsec = BPF_CORE_READ(i, __i_ctime.tv_nsec);
    } else {
        struct inode___pre66 *i = (void *)inode;
        e->mtime_sec = BPF_CORE_READ(i, i_mtime.tv_sec);
        e->mtime_nsec = BPF_CORE_READ(i, i_mtime.tv_nsec);
        e->ctime_sec = BPF_CORE_READ(i, i_ctime.tv_sec);
        e->ctime_nsec = BPF_CORE_READ(i, i_ctime.tv_nsec);
    }
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    struct ys_scratch *s = ys_scratch_get();
    struct ys_exec *e;
    __u32 pos = sizeof(struct ys_exec);
    __u32 flags = 0, off;

    if (!s || ys_is_self())
        return 0;
    e = (struct ys_exec *)s->rec;
    __builtin_memset(e, 0, sizeof(*e));
    ys_fill_hdr(&e->h, YS_PROC_EXEC, task);

    /* the image: identity for the hash cache, then its resolved path */
    struct file *file = BPF_CORE_READ(bprm, file);
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    e->ino = BPF_CORE_READ(inode, i_ino);
    e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
    e->mode = BPF_CORE_READ(inode, i_mode);
    e->size = BPF_CORE_READ(inode, i_size);
    read_inode_times(inode, e);
    if (BPF_CORE_READ(inode, __i_nlink) == 0)
        flags |= YS_F_DELETED;

    struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
    off = ys_path(s, dentry, BPF_CORE_READ(file, f_path.mnt), &flags);
    ys_put_path(s, &pos, &e->path, off);

    /* memfd_create() files are named "memfd:NAME" on the shmem mount */
    const char *dname = (const char *)BPF_CORE_READ(dentry, d_name.name);
    char prefix[6] = {};
    bpf_probe_read_kernel(prefix, sizeof(prefix), dname);
    if (prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' &&
        prefix[4] == 'd' && prefix[5] == ':') {
        flags |= YS_F_MEMFD;
        ys_put_kernel_str(s->rec, &pos, &e->memfd, dname + 6);
    }

    /* argv, straight from the new image's stack */
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
    unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
    __u32 alen = 0;
    if (arg_end > arg_start) {
        unsigned long want = arg_end - arg_start;
        alen = want > YS_ARGV_MAX - 1 ? YS_ARGV_MAX - 1 : (__u32)want;
        if (want > YS_ARGV_MAX - 1)
            flags |= YS_F_ARGV_TRUNC;
    }
    if (pos <= YS_RECORD_MAX - YS_ARGV_MAX) {
        if (bpf_probe_read_user(s->rec + (pos & (YS_RECORD_MAX - 1)), alen & (YS_ARGV_MAX - 1),
                                (const void *)arg_start) != 0) {
            alen = 0;
            flags |= YS_F_PARTIAL;
        }
        e->argv.off = pos;
        e->argv.len = alen & (YS_ARGV_MAX - 1);
        pos += alen & (YS_ARGV_MAX - 1);
    }
    e->argc = BPF_CORE_READ(bprm, argc);

    /* working directory */
    struct fs_struct *fs = BPF_CORE_READ(task, fs);
    off = ys_path(s, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), &flags);
    ys_put_path(s, &pos, &e->cwd, off);

    /* unified-hierarchy cgroup leaf: carries the container id */
    const char *cgname = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
    if (cgname)
        ys_put_kernel_str(s->rec, &pos, &e->cgroup, cgname);

    /* controlling terminal */
    struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
    if (tty) {
        e->tty_nr = ((__u32)BPF_CORE_READ(tty, driver, major) << 20) |
                    (__u32)(BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index));
        ys_put_kernel_str(s->rec, &pos, &e->tty, tty->name);
    }

    /* the hidden flag from path walks is about the image only */
    e->h.flags = flags & ~YS_F_HIDDEN;
    ys_emit(s->rec, pos, YS_PROC_EXEC);
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    struct ys_fork f = {};

    if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
        return 0; /* a new thread, not a new process */
    if (ys_is_self())
        return 0;
    ys_fill_hdr(&f.h, YS_PROC_FORK, bpf_get_current_task_btf());
    f.child_tgid = BPF_CORE_READ(child, tgid);
    f.child_start_ns = BPF_CORE_READ(child, start_boottime);
    ys_emit(&f, sizeof(f), YS_PROC_FORK);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
    struct ys_exit x = {};

    /* report the process once, when its last thread goes */
    if (BPF_CORE_READ(task, signal, live.counter) != 0)
        return 0;
    if (ys_is_self())
        return 0;
    ys_fill_hdr(&x.h, YS_PROC_EXIT, task);
    x.exit_code = BPF_CORE_READ(task, exit_code);
    ys_emit(&x, sizeof(x), YS_PROC_EXIT);
    return 0;
}
