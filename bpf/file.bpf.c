// SPDX-License-Identifier: GPL-2.0
/*
 * file.bpf.c — file activity worth keeping, filtered in the kernel.
 *
 * Built on system-call tracepoints (syscalls:sys_enter_* / sys_exit_*), which
 * every kernel with CONFIG_FTRACE_SYSCALLS has, even where BPF trampolines
 * (fentry, fexit, BPF LSM) are refused — as under lockdown.
 *
 *   create   exit of open/openat/openat2/creat when the open created the file
 *            (FMODE_CREATED on the new struct file)
 *   modify   the first write()/pwrite64()/writev()/pwritev()/pwritev2() after
 *            an open for writing (per open file: a shell's redirection and
 *            the children that inherit it count), an open with O_TRUNC of an
 *            existing file, truncate() and ftruncate()
 *   delete   unlink/unlinkat/rmdir                  \
 *   rename   rename/renameat/renameat2               | recorded at entry,
 *   chmod    chmod/fchmod/fchmodat/fchmodat2         | sent at exit only
 *   chown    chown/fchown/lchown/fchownat            | when it returned 0
 *   utimes   utimensat/utimes/futimesat/utime with   |
 *            explicit times (timestomping)           |
 *   links    symlink/symlinkat/link/linkat          /  (reported as create)
 *
 * Create and modify resolve the path from the struct file (canonical). The
 * others resolve the path the caller passed against its dirfd or working
 * directory (not normalised; user space does that).
 *
 * Filter (docs/events.md, "File filter"): create and modify are kept only
 * under persistence, security-configuration, temp, agent or keep-all
 * prefixes, for a path with a hidden component, or for an executable file;
 * create also under system binary paths; an O_TRUNC open also of logs;
 * nothing under an IGNORE prefix or on a pseudo filesystem. Delete, rename,
 * chmod, chown, utimes and link creation are always kept (`systemctl
 * enable` is a symbolic link in /etc/systemd/system).
 *
 * Known gaps (docs/events.md): writes through mmap or io_uring, and 32-bit
 * compat system calls, are not seen here.
 */
#include "sensor.bpf.h"

#define FMODE_WRITE   0x2
#define FMODE_CREATED 0x100000
#define O_TRUNC       01000
#define AT_REMOVEDIR  0x200
#define UTIME_NOW     ((1l << 30) - 1l)
#define UTIME_OMIT    ((1l << 30) - 2l)

/* A record waiting for its system call to return 0. `rec` comes first so
 * that the scratch record buffer can serve as the value to insert. */
struct pending_op {
    __u8 rec[sizeof(struct ys_file) + 2 * YS_PATH_MAX];
    __u32 size;
    __s32 nr; /* the system call it waits for */
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 512);
    __type(key, __u32); /* thread id */
    __type(value, struct pending_op);
} pending SEC(".maps");

/* Open files (struct file: one per open, shared by dup2 and fork, so a
 * shell's `>>` redirection and its children are covered) whose first write
 * should be reported. The inode tells a stale entry (a struct file freed
 * and reused) from a live one. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);   /* struct file * */
    __type(value, __u64); /* struct inode * */
} watched SEC(".maps");

/* Flags of an open in flight that truncates (O_TRUNC is cleared from the
 * struct file before the exit program can see it). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);   /* thread id */
    __type(value, __u32); /* open flags */
} truncating SEC(".maps");

static __always_inline void fill_inode(struct ys_file *f, struct inode *inode, __u32 *flags)
{
    if (!inode)
        return;
    f->mode = BPF_CORE_READ(inode, i_mode);
    f->ino = BPF_CORE_READ(inode, i_ino);
    f->uid = BPF_CORE_READ(inode, i_uid.val);
    f->gid = BPF_CORE_READ(inode, i_gid.val);
    f->dev = BPF_CORE_READ(inode, i_sb, s_dev);
    if (YS_S_ISDIR(f->mode))
        *flags |= YS_F_DIR;
    else if (f->mode & 0111)
        *flags |= YS_F_EXECUTABLE;
}

/* Builds a record for an open struct file in the scratch buffer when the
 * filter keeps it; returns its size, or 0. */
static __always_inline __u32 file_record(struct ys_scratch *s, __u16 type, enum ys_fop op,
                                         struct file *file)
{
    struct ys_file *f = (struct ys_file *)s->rec;
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    __u32 pos = sizeof(struct ys_file);
    __u32 flags = 0, off, cls;

    if (ys_pseudo_fs(BPF_CORE_READ(inode, i_sb)))
        return 0;
    __builtin_memset(f, 0, sizeof(*f));
    fill_inode(f, inode, &flags);
    off = ys_path(s, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), &flags);
    cls = ys_path_class(s, off, YS_PATH_MAX);
    if (!ys_file_keep(op, cls, flags)) {
        ys_count_filtered(type);
        return 0;
    }
    ys_fill_hdr(&f->h, type, bpf_get_current_task_btf());
    f->h.flags = flags;
    f->class_bits = cls;
    ys_put_path(s, &pos, &f->path, off);
    return pos;
}

/* ---------------------------------------------------------------- open */

static __always_inline int on_open_exit(struct ys_sys_exit *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u32 *tflags = bpf_map_lookup_elem(&truncating, &tid);
    bool truncated = false;
    long fd = ctx->ret;
    struct ys_scratch *s;
    struct file *file;
    __u32 fmode, size;

    if (tflags) {
        truncated = true;
        bpf_map_delete_elem(&truncating, &tid);
    }
    if (fd < 0 || ys_is_self())
        return 0;
    file = ys_fd_file(bpf_get_current_task_btf(), fd);
    if (!file)
        return 0;
    fmode = BPF_CORE_READ(file, f_mode);
    if (!(fmode & (FMODE_CREATED | FMODE_WRITE)))
        return 0;
    if (!YS_S_ISREG(BPF_CORE_READ(file, f_inode, i_mode)))
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    if (fmode & FMODE_CREATED) {
        size = file_record(s, YS_FILE_CREATE, YS_FOP_CREATE, file);
        if (size)
            ys_emit(s->rec, size, YS_FILE_CREATE);
        return 0;
    }
    if (truncated) {
        size = file_record(s, YS_FILE_MODIFY, YS_FOP_TRUNCATE, file);
        if (size) {
            ((struct ys_hdr *)s->rec)->flags |= YS_F_TRUNCATED_OP;
            ys_emit(s->rec, size, YS_FILE_MODIFY);
        }
        return 0;
    }
    /* decide now, on the canonical path, whether the first write counts */
    size = file_record(s, YS_FILE_MODIFY, YS_FOP_MODIFY, file);
    if (size) {
        __u64 key = (__u64)file;
        __u64 inode = (__u64)BPF_CORE_READ(file, f_inode);
        bpf_map_update_elem(&watched, &key, &inode, BPF_ANY);
    }
    return 0;
}

/* Entry of an open: remember whether it truncates. */
static __always_inline int on_open_enter(__u64 flags)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    __u32 f = (__u32)flags;

    if (f & O_TRUNC)
        bpf_map_update_elem(&truncating, &tid, &f, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct ys_sys_enter *ctx) { return on_open_enter(ctx->args[2]); }
SEC("tracepoint/syscalls/sys_enter_open")
int enter_open(struct ys_sys_enter *ctx) { return on_open_enter(ctx->args[1]); }
SEC("tracepoint/syscalls/sys_enter_creat")
int enter_creat(struct ys_sys_enter *ctx) { return on_open_enter(O_TRUNC); }
SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2(struct ys_sys_enter *ctx)
{
    __u64 flags = 0;
    /* struct open_how { __u64 flags; ... } in user memory */
    bpf_probe_read_user(&flags, sizeof(flags), (const void *)ctx->args[2]);
    return on_open_enter(flags);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct ys_sys_exit *ctx) { return on_open_exit(ctx); }
SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct ys_sys_exit *ctx) { return on_open_exit(ctx); }
SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct ys_sys_exit *ctx) { return on_open_exit(ctx); }
SEC("tracepoint/syscalls/sys_exit_creat")
int exit_creat(struct ys_sys_exit *ctx) { return on_open_exit(ctx); }

/* ---------------------------------------------------------------- first write */

static __always_inline int on_write_enter(struct ys_sys_enter *ctx)
{
    struct file *file = ys_fd_file(bpf_get_current_task_btf(), ctx->args[0]);
    __u64 key = (__u64)file, *inode;
    struct ys_scratch *s;
    __u32 size;

    if (!file)
        return 0;
    inode = bpf_map_lookup_elem(&watched, &key);
    if (!inode)
        return 0;
    bool same = *inode == (__u64)BPF_CORE_READ(file, f_inode);
    bpf_map_delete_elem(&watched, &key);
    if (!same)
        return 0; /* a stale entry: the struct file was reused */
    s = ys_scratch_get();
    if (!s)
        return 0;
    size = file_record(s, YS_FILE_MODIFY, YS_FOP_MODIFY, file);
    if (size)
        ys_emit(s->rec, size, YS_FILE_MODIFY);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct ys_sys_enter *ctx) { return on_write_enter(ctx); }
SEC("tracepoint/syscalls/sys_enter_pwrite64")
int enter_pwrite64(struct ys_sys_enter *ctx) { return on_write_enter(ctx); }
SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct ys_sys_enter *ctx) { return on_write_enter(ctx); }
SEC("tracepoint/syscalls/sys_enter_pwritev")
int enter_pwritev(struct ys_sys_enter *ctx) { return on_write_enter(ctx); }
SEC("tracepoint/syscalls/sys_enter_pwritev2")
int enter_pwritev2(struct ys_sys_enter *ctx) { return on_write_enter(ctx); }

/* ---------------------------------------------------------------- path operations */

/* Starts a record about a path given to a system call, resolved against
 * dirfd; returns its size so far. */
static __always_inline __u32 path_record(struct ys_scratch *s, __u16 type, long dirfd, const char *upath)
{
    struct ys_file *f = (struct ys_file *)s->rec;
    __u32 pos = sizeof(struct ys_file);
    __u32 flags = 0, off, end;

    __builtin_memset(f, 0, sizeof(*f));
    off = ys_user_path(s, dirfd, upath, &end, &flags);
    ys_fill_hdr(&f->h, type, bpf_get_current_task_btf());
    f->class_bits = ys_path_class(s, off, end);
    ys_put_path_range(s, &pos, &f->path, off, end, &flags);
    f->h.flags = flags;
    f->uid = (__u32)-1;
    f->gid = (__u32)-1;
    return pos;
}

/* Starts a record about an open descriptor; returns its size so far, 0 if
 * the descriptor is not open. */
static __always_inline __u32 fd_record(struct ys_scratch *s, __u16 type, long fd)
{
    struct ys_file *f = (struct ys_file *)s->rec;
    struct file *file = ys_fd_file(bpf_get_current_task_btf(), fd);
    __u32 pos = sizeof(struct ys_file);
    __u32 flags = 0, off;

    if (!file)
        return 0;
    __builtin_memset(f, 0, sizeof(*f));
    fill_inode(f, BPF_CORE_READ(file, f_inode), &flags);
    off = ys_path(s, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), &flags);
    ys_fill_hdr(&f->h, type, bpf_get_current_task_btf());
    f->class_bits = ys_path_class(s, off, YS_PATH_MAX);
    ys_put_path(s, &pos, &f->path, off);
    f->h.flags = flags;
    f->uid = (__u32)-1;
    f->gid = (__u32)-1;
    return pos;
}

/* Parks the record in scratch until this thread's system call returns. */
static __always_inline void park(struct ys_scratch *s, __u32 size, long nr)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct pending_op *p;

    if (bpf_map_update_elem(&pending, &tid, s->rec, BPF_ANY) != 0)
        return;
    p = bpf_map_lookup_elem(&pending, &tid);
    if (p) {
        p->size = size;
        p->nr = (__s32)nr;
    }
}

/* At system-call exit: sends this thread's parked record on success. */
static __always_inline int confirm(struct ys_sys_exit *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct pending_op *p = bpf_map_lookup_elem(&pending, &tid);

    if (!p)
        return 0;
    if (ctx->ret == 0 && ctx->nr == p->nr) {
        __u16 type = ((struct ys_hdr *)p->rec)->type;
        __u32 size = p->size;
        if (size > sizeof(p->rec))
            size = sizeof(p->rec);
        ys_emit(p->rec, size, type < YS_TYPE_MAX ? type : 0);
    }
    bpf_map_delete_elem(&pending, &tid);
    return 0;
}

static __always_inline int enter_path_op(long nr, __u16 type, long dirfd, const char *upath, __u32 extra_flags)
{
    struct ys_scratch *s;
    __u32 size;

    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    size = path_record(s, type, dirfd, upath);
    ((struct ys_hdr *)s->rec)->flags |= extra_flags;
    park(s, size, nr);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_unlink")
int enter_unlink(struct ys_sys_enter *ctx)
{
    return enter_path_op(ctx->nr, YS_FILE_DELETE, YS_AT_FDCWD, (const char *)ctx->args[0], 0);
}
SEC("tracepoint/syscalls/sys_enter_unlinkat")
int enter_unlinkat(struct ys_sys_enter *ctx)
{
    return enter_path_op(ctx->nr, YS_FILE_DELETE, ctx->args[0], (const char *)ctx->args[1],
                         (ctx->args[2] & AT_REMOVEDIR) ? YS_F_DIR : 0);
}
SEC("tracepoint/syscalls/sys_enter_rmdir")
int enter_rmdir(struct ys_sys_enter *ctx)
{
    return enter_path_op(ctx->nr, YS_FILE_DELETE, YS_AT_FDCWD, (const char *)ctx->args[0], YS_F_DIR);
}
SEC("tracepoint/syscalls/sys_exit_unlink")
int exit_unlink(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_unlinkat")
int exit_unlinkat(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_rmdir")
int exit_rmdir(struct ys_sys_exit *ctx) { return confirm(ctx); }

/* Parks a record naming two paths, both resolved against their dirfd: the
 * file the record is about (path) and the other name (path2). */
static __always_inline int enter_two_paths(long nr, __u16 type, __u32 extra_flags, long dirfd, const char *upath,
                                           long dirfd2, const char *upath2)
{
    struct ys_scratch *s;
    struct ys_file *f;
    __u32 size, flags = 0, off, end;

    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    size = path_record(s, type, dirfd, upath);
    f = (struct ys_file *)s->rec;
    off = ys_user_path(s, dirfd2, upath2, &end, &flags);
    f->class_bits |= ys_path_class(s, off, end);
    ys_put_path_range(s, &size, &f->path2, off, end, &flags);
    f->h.flags |= flags | extra_flags;
    park(s, size, nr);
    return 0;
}

/* rename: path is the old name, path2 the new one */
static __always_inline int enter_rename(long nr, long olddirfd, const char *oldpath, long newdirfd, const char *newpath)
{
    return enter_two_paths(nr, YS_FILE_RENAME, 0, olddirfd, oldpath, newdirfd, newpath);
}

SEC("tracepoint/syscalls/sys_enter_rename")
int enter_rename_(struct ys_sys_enter *ctx)
{
    return enter_rename(ctx->nr, YS_AT_FDCWD, (const char *)ctx->args[0], YS_AT_FDCWD, (const char *)ctx->args[1]);
}
SEC("tracepoint/syscalls/sys_enter_renameat")
int enter_renameat(struct ys_sys_enter *ctx)
{
    return enter_rename(ctx->nr, ctx->args[0], (const char *)ctx->args[1], ctx->args[2], (const char *)ctx->args[3]);
}
SEC("tracepoint/syscalls/sys_enter_renameat2")
int enter_renameat2(struct ys_sys_enter *ctx)
{
    return enter_rename(ctx->nr, ctx->args[0], (const char *)ctx->args[1], ctx->args[2], (const char *)ctx->args[3]);
}
SEC("tracepoint/syscalls/sys_exit_rename")
int exit_rename(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_renameat")
int exit_renameat(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_renameat2")
int exit_renameat2(struct ys_sys_exit *ctx) { return confirm(ctx); }

/* chmod / chown: the new mode or owner goes into the record */
static __always_inline int enter_attr_path(long nr, __u16 type, long dirfd, const char *upath,
                                           __u32 mode, __u32 uid, __u32 gid)
{
    struct ys_scratch *s;
    struct ys_file *f;
    __u32 size;

    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    size = path_record(s, type, dirfd, upath);
    f = (struct ys_file *)s->rec;
    f->mode = mode;
    f->uid = uid;
    f->gid = gid;
    park(s, size, nr);
    return 0;
}

static __always_inline int enter_attr_fd(long nr, __u16 type, long fd, __u32 mode, __u32 uid, __u32 gid)
{
    struct ys_scratch *s;
    struct ys_file *f;
    __u32 size;

    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    size = fd_record(s, type, fd);
    if (!size)
        return 0;
    f = (struct ys_file *)s->rec;
    if (type == YS_FILE_CHMOD) {
        f->mode = (f->mode & S_IFMT) | (mode & 07777);
    } else {
        f->uid = uid;
        f->gid = gid;
    }
    park(s, size, nr);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_chmod")
int enter_chmod(struct ys_sys_enter *ctx)
{
    return enter_attr_path(ctx->nr, YS_FILE_CHMOD, YS_AT_FDCWD, (const char *)ctx->args[0], ctx->args[1], -1, -1);
}
SEC("tracepoint/syscalls/sys_enter_fchmodat")
int enter_fchmodat(struct ys_sys_enter *ctx)
{
    return enter_attr_path(ctx->nr, YS_FILE_CHMOD, ctx->args[0], (const char *)ctx->args[1], ctx->args[2], -1, -1);
}
SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int enter_fchmodat2(struct ys_sys_enter *ctx)
{
    return enter_attr_path(ctx->nr, YS_FILE_CHMOD, ctx->args[0], (const char *)ctx->args[1], ctx->args[2], -1, -1);
}
SEC("tracepoint/syscalls/sys_enter_fchmod")
int enter_fchmod(struct ys_sys_enter *ctx)
{
    return enter_attr_fd(ctx->nr, YS_FILE_CHMOD, ctx->args[0], ctx->args[1], -1, -1);
}
SEC("tracepoint/syscalls/sys_enter_chown")
int enter_chown(struct ys_sys_enter *ctx)
{
    return enter_attr_path(ctx->nr, YS_FILE_CHOWN, YS_AT_FDCWD, (const char *)ctx->args[0], 0, ctx->args[1], ctx->args[2]);
}
SEC("tracepoint/syscalls/sys_enter_lchown")
int enter_lchown(struct ys_sys_enter *ctx)
{
    return enter_attr_path(ctx->nr, YS_FILE_CHOWN, YS_AT_FDCWD, (const char *)ctx->args[0], 0, ctx->args[1], ctx->args[2]);
}
SEC("tracepoint/syscalls/sys_enter_fchownat")
int enter_fchownat(struct ys_sys_enter *ctx)
{
    return enter_attr_path(ctx->nr, YS_FILE_CHOWN, ctx->args[0], (const char *)ctx->args[1], 0, ctx->args[2], ctx->args[3]);
}
SEC("tracepoint/syscalls/sys_enter_fchown")
int enter_fchown(struct ys_sys_enter *ctx)
{
    return enter_attr_fd(ctx->nr, YS_FILE_CHOWN, ctx->args[0], 0, ctx->args[1], ctx->args[2]);
}
SEC("tracepoint/syscalls/sys_exit_chmod")
int exit_chmod(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_fchmodat")
int exit_fchmodat(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_fchmodat2")
int exit_fchmodat2(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_fchmod")
int exit_fchmod(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_chown")
int exit_chown(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_lchown")
int exit_lchown(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_fchownat")
int exit_fchownat(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_fchown")
int exit_fchown(struct ys_sys_exit *ctx) { return confirm(ctx); }

/* utimensat(dirfd, path, times[2], flags): only explicit times count; a
 * NULL path means the descriptor itself (futimens). */
SEC("tracepoint/syscalls/sys_enter_utimensat")
int enter_utimensat(struct ys_sys_enter *ctx)
{
    const struct __kernel_timespec *ut = (const void *)ctx->args[2];
    struct __kernel_timespec t[2];
    struct ys_scratch *s;
    struct ys_file *f;
    __u32 size;

    if (!ut || ys_is_self())
        return 0;
    if (bpf_probe_read_user(t, sizeof(t), ut) != 0)
        return 0;
    bool explicit_a = t[0].tv_nsec != UTIME_NOW && t[0].tv_nsec != UTIME_OMIT;
    bool explicit_m = t[1].tv_nsec != UTIME_NOW && t[1].tv_nsec != UTIME_OMIT;
    if (!explicit_a && !explicit_m)
        return 0; /* "now": an ordinary touch */
    s = ys_scratch_get();
    if (!s)
        return 0;
    if (ctx->args[1])
        size = path_record(s, YS_FILE_UTIMES, ctx->args[0], (const char *)ctx->args[1]);
    else
        size = fd_record(s, YS_FILE_UTIMES, ctx->args[0]);
    if (!size)
        return 0;
    f = (struct ys_file *)s->rec;
    f->atime_sec = explicit_a ? t[0].tv_sec : -1;
    f->atime_nsec = explicit_a ? t[0].tv_nsec : 0;
    f->mtime_sec = explicit_m ? t[1].tv_sec : -1;
    f->mtime_nsec = explicit_m ? t[1].tv_nsec : 0;
    park(s, size, ctx->nr);
    return 0;
}

/* utimes(path, timeval[2]) and futimesat(dirfd, path, timeval[2]) */
static __always_inline int enter_utimes_tv(long nr, long dirfd, const char *upath, const void *utv)
{
    struct __kernel_old_timeval tv[2];
    struct ys_scratch *s;
    struct ys_file *f;
    __u32 size;

    if (!utv || ys_is_self())
        return 0;
    if (bpf_probe_read_user(tv, sizeof(tv), utv) != 0)
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    size = path_record(s, YS_FILE_UTIMES, dirfd, upath);
    f = (struct ys_file *)s->rec;
    f->atime_sec = tv[0].tv_sec;
    f->atime_nsec = tv[0].tv_usec * 1000;
    f->mtime_sec = tv[1].tv_sec;
    f->mtime_nsec = tv[1].tv_usec * 1000;
    park(s, size, nr);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_utimes")
int enter_utimes(struct ys_sys_enter *ctx)
{
    return enter_utimes_tv(ctx->nr, YS_AT_FDCWD, (const char *)ctx->args[0], (const void *)ctx->args[1]);
}
SEC("tracepoint/syscalls/sys_enter_futimesat")
int enter_futimesat(struct ys_sys_enter *ctx)
{
    return enter_utimes_tv(ctx->nr, ctx->args[0], (const char *)ctx->args[1], (const void *)ctx->args[2]);
}
SEC("tracepoint/syscalls/sys_exit_utimensat")
int exit_utimensat(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_utimes")
int exit_utimes(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_futimesat")
int exit_futimesat(struct ys_sys_exit *ctx) { return confirm(ctx); }

/* ---------------------------------------------------------------- links */

/* symlink(target, linkpath) and symlinkat(target, newdirfd, linkpath): the
 * link is the created file; the target is kept as written. */
static __always_inline int enter_symlink(long nr, const char *target, long newdirfd, const char *linkpath)
{
    struct ys_scratch *s;
    struct ys_file *f;
    __u32 size;

    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    size = path_record(s, YS_FILE_CREATE, newdirfd, linkpath);
    f = (struct ys_file *)s->rec;
    ys_put_user_str(s->rec, &size, &f->path2, target);
    f->h.flags |= YS_F_SYMLINK;
    park(s, size, nr);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_symlink")
int enter_symlink_(struct ys_sys_enter *ctx)
{
    return enter_symlink(ctx->nr, (const char *)ctx->args[0], YS_AT_FDCWD, (const char *)ctx->args[1]);
}
SEC("tracepoint/syscalls/sys_enter_symlinkat")
int enter_symlinkat(struct ys_sys_enter *ctx)
{
    return enter_symlink(ctx->nr, (const char *)ctx->args[0], ctx->args[1], (const char *)ctx->args[2]);
}
SEC("tracepoint/syscalls/sys_exit_symlink")
int exit_symlink(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_symlinkat")
int exit_symlinkat(struct ys_sys_exit *ctx) { return confirm(ctx); }

/* link(old, new) and linkat(olddirfd, old, newdirfd, new, flags): the new
 * name is the created file; the existing one is resolved like any path. */
static __always_inline int enter_link(long nr, long olddirfd, const char *oldpath, long newdirfd,
                                      const char *newpath)
{
    return enter_two_paths(nr, YS_FILE_CREATE, YS_F_HARDLINK, newdirfd, newpath, olddirfd, oldpath);
}

SEC("tracepoint/syscalls/sys_enter_link")
int enter_link_(struct ys_sys_enter *ctx)
{
    return enter_link(ctx->nr, YS_AT_FDCWD, (const char *)ctx->args[0], YS_AT_FDCWD, (const char *)ctx->args[1]);
}
SEC("tracepoint/syscalls/sys_enter_linkat")
int enter_linkat(struct ys_sys_enter *ctx)
{
    return enter_link(ctx->nr, ctx->args[0], (const char *)ctx->args[1], ctx->args[2], (const char *)ctx->args[3]);
}
SEC("tracepoint/syscalls/sys_exit_link")
int exit_link(struct ys_sys_exit *ctx) { return confirm(ctx); }
SEC("tracepoint/syscalls/sys_exit_linkat")
int exit_linkat(struct ys_sys_exit *ctx) { return confirm(ctx); }

/* ---------------------------------------------------------------- truncate */

/* truncate(path, length): always kept (rare, and how logs are emptied). */
SEC("tracepoint/syscalls/sys_enter_truncate")
int enter_truncate(struct ys_sys_enter *ctx)
{
    return enter_path_op(ctx->nr, YS_FILE_MODIFY, YS_AT_FDCWD, (const char *)ctx->args[0], YS_F_TRUNCATED_OP);
}
SEC("tracepoint/syscalls/sys_exit_truncate")
int exit_truncate(struct ys_sys_exit *ctx) { return confirm(ctx); }

/* ftruncate(fd, length): kept by the truncation filter (databases do it
 * all the time to their own files). */
SEC("tracepoint/syscalls/sys_enter_ftruncate")
int enter_ftruncate(struct ys_sys_enter *ctx)
{
    struct file *file;
    struct ys_scratch *s;
    __u32 size;

    if (ys_is_self())
        return 0;
    file = ys_fd_file(bpf_get_current_task_btf(), ctx->args[0]);
    if (!file || !YS_S_ISREG(BPF_CORE_READ(file, f_inode, i_mode)))
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    size = file_record(s, YS_FILE_MODIFY, YS_FOP_TRUNCATE, file);
    if (!size)
        return 0;
    ((struct ys_hdr *)s->rec)->flags |= YS_F_TRUNCATED_OP;
    park(s, size, ctx->nr);
    return 0;
}
SEC("tracepoint/syscalls/sys_exit_ftruncate")
int exit_ftruncate(struct ys_sys_exit *ctx) { return confirm(ctx); }
