// SPDX-License-Identifier: GPL-2.0
/*
 * security.bpf.c — security-relevant system calls: kernel module loads,
 * ptrace attach, uid/gid changes, memfd_create, and bpf() program loads by
 * other processes. Each is recorded at system-call entry and sent at exit
 * with the result (module and ptrace attempts are sent even when they fail:
 * a refused attempt is worth seeing).
 *
 * Kernels built without module support have no init_module tracepoints; the
 * loader then leaves those programs out and says so in the agent's status.
 */
#include "sensor.bpf.h"

#define PTRACE_TRACEME 0
#define PTRACE_ATTACH  16
#define PTRACE_SEIZE   0x4206
#define BPF_PROG_LOAD_CMD 5

/* One call in flight per thread: the record to send at exit. */
union any_rec {
    struct ys_module module;
    struct ys_ptrace ptrace;
    struct ys_creds creds;
    struct ys_bpf bpf;
};

struct inflight {
    union any_rec r;
    __u8 path[YS_PATH_MAX]; /* module path, after r.module */
    __s32 nr;
    __u32 size;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32); /* thread id */
    __type(value, struct inflight);
} calls SEC(".maps");

/* Starts this thread's in-flight call with the record prepared in scratch
 * (zero_record: with an empty record instead). */
static __always_inline struct inflight *begin(struct ys_scratch *s, long nr, bool zero_record)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct inflight *in;

    /* the scratch record buffer is larger than `struct inflight` */
    if (bpf_map_update_elem(&calls, &tid, s->rec, BPF_ANY) != 0)
        return NULL;
    in = bpf_map_lookup_elem(&calls, &tid);
    if (in) {
        if (zero_record)
            __builtin_memset(&in->r, 0, sizeof(in->r));
        in->nr = (__s32)nr;
        in->size = 0;
    }
    return in;
}

/* ---------------------------------------------------------------- modules */

static __always_inline int module_enter(long nr, long fd)
{
    struct ys_scratch *s;
    struct inflight *in;
    __u32 flags = 0, pos = sizeof(struct ys_module), off;

    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    struct ys_module *m = (struct ys_module *)s->rec;
    __builtin_memset(m, 0, sizeof(*m));
    ys_fill_hdr(&m->h, YS_MODULE_LOAD, bpf_get_current_task_btf());
    if (fd >= 0) {
        struct file *f = ys_fd_file(bpf_get_current_task_btf(), fd);
        if (f) {
            m->from_file = 1;
            off = ys_path(s, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), &flags);
            ys_put_path(s, &pos, &m->path, off);
        }
    }
    m->h.flags = flags;
    in = begin(s, nr, false);
    if (in)
        in->size = pos;
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int enter_finit_module(struct ys_sys_enter *ctx) { return module_enter(ctx->nr, ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_init_module")
int enter_init_module(struct ys_sys_enter *ctx) { return module_enter(ctx->nr, -1); }

static __always_inline int send_inflight(struct ys_sys_exit *ctx, bool only_success)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct inflight *in = bpf_map_lookup_elem(&calls, &tid);

    if (!in)
        return 0;
    if (in->nr == ctx->nr && (!only_success || ctx->ret >= 0)) {
        __u16 type = in->r.module.h.type;
        __u32 size = in->size;
        if (size > sizeof(union any_rec) + YS_PATH_MAX)
            size = sizeof(union any_rec) + YS_PATH_MAX;
        if (type == YS_PTRACE)
            in->r.ptrace.result = (__s32)ctx->ret;
        if (type == YS_MODULE_LOAD && ctx->ret < 0)
            in->r.module.h.flags |= YS_F_FAILED;
        ys_emit(in, size, type < YS_TYPE_MAX ? type : 0);
    }
    bpf_map_delete_elem(&calls, &tid);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_finit_module")
int exit_finit_module(struct ys_sys_exit *ctx) { return send_inflight(ctx, false); }
SEC("tracepoint/syscalls/sys_exit_init_module")
int exit_init_module(struct ys_sys_exit *ctx) { return send_inflight(ctx, false); }

/* ---------------------------------------------------------------- ptrace */

SEC("tracepoint/syscalls/sys_enter_ptrace")
int enter_ptrace(struct ys_sys_enter *ctx)
{
    long request = ctx->args[0];
    struct ys_scratch *s;
    struct inflight *in;

    if (request != PTRACE_ATTACH && request != PTRACE_SEIZE && request != PTRACE_TRACEME)
        return 0;
    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    in = begin(s, ctx->nr, true);
    if (!in)
        return 0;
    ys_fill_hdr(&in->r.ptrace.h, YS_PTRACE, bpf_get_current_task_btf());
    in->r.ptrace.request = request;
    in->r.ptrace.target_tgid = request == PTRACE_TRACEME ? in->r.ptrace.h.task.ppid : (__u32)ctx->args[1];
    in->size = sizeof(struct ys_ptrace);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int exit_ptrace(struct ys_sys_exit *ctx) { return send_inflight(ctx, false); }

/* ---------------------------------------------------------------- uid/gid changes */

static __always_inline int creds_enter(long nr)
{
    struct ys_scratch *s;
    struct inflight *in;

    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    in = begin(s, nr, true);
    if (!in)
        return 0;
    ys_fill_hdr(&in->r.creds.h, YS_CREDS, bpf_get_current_task_btf());
    in->size = sizeof(struct ys_creds);
    return 0;
}

static __always_inline int creds_exit(struct ys_sys_exit *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct inflight *in = bpf_map_lookup_elem(&calls, &tid);

    if (!in)
        return 0;
    if (in->nr == ctx->nr && ctx->ret == 0 && in->r.creds.h.type == YS_CREDS) {
        struct task_struct *task = bpf_get_current_task_btf();
        const struct cred *cred = BPF_CORE_READ(task, real_cred);
        struct ys_creds *c = &in->r.creds;
        c->new_uid = BPF_CORE_READ(cred, uid.val);
        c->new_gid = BPF_CORE_READ(cred, gid.val);
        c->new_euid = BPF_CORE_READ(cred, euid.val);
        c->new_egid = BPF_CORE_READ(cred, egid.val);
        if (c->new_uid != c->h.task.uid || c->new_euid != c->h.task.euid ||
            c->new_gid != c->h.task.gid || c->new_egid != c->h.task.egid)
            ys_emit(c, sizeof(*c), YS_CREDS);
    }
    bpf_map_delete_elem(&calls, &tid);
    return 0;
}

#define CREDS_CALL(name)                                                                  \
    SEC("tracepoint/syscalls/sys_enter_" #name)                                           \
    int enter_##name(struct ys_sys_enter *ctx) { return creds_enter(ctx->nr); } \
    SEC("tracepoint/syscalls/sys_exit_" #name)                                            \
    int exit_##name(struct ys_sys_exit *ctx) { return creds_exit(ctx); }

CREDS_CALL(setuid)
CREDS_CALL(setgid)
CREDS_CALL(setreuid)
CREDS_CALL(setregid)
CREDS_CALL(setresuid)
CREDS_CALL(setresgid)

/* ---------------------------------------------------------------- memfd_create */

SEC("tracepoint/syscalls/sys_enter_memfd_create")
int enter_memfd_create(struct ys_sys_enter *ctx)
{
    struct ys_scratch *s;
    struct ys_memfd *m;
    __u32 pos = sizeof(struct ys_memfd);
    long n;

    if (ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    m = (struct ys_memfd *)s->rec;
    __builtin_memset(m, 0, sizeof(*m));
    ys_fill_hdr(&m->h, YS_MEMFD_CREATE, bpf_get_current_task_btf());
    m->mflags = ctx->args[1];
    n = bpf_probe_read_user_str(s->rec + pos, YS_NAME_MAX, (const void *)ctx->args[0]);
    if (n > 1) {
        m->name.off = pos;
        m->name.len = n - 1;
        pos += n - 1;
    }
    ys_emit(s->rec, pos, YS_MEMFD_CREATE);
    return 0;
}

/* ---------------------------------------------------------------- bpf() */

SEC("tracepoint/syscalls/sys_enter_bpf")
int enter_bpf(struct ys_sys_enter *ctx)
{
    struct ys_scratch *s;
    struct inflight *in;
    const __u8 *uattr = (const void *)ctx->args[1];

    if (ctx->args[0] != BPF_PROG_LOAD_CMD || ys_is_self())
        return 0;
    s = ys_scratch_get();
    if (!s)
        return 0;
    in = begin(s, ctx->nr, true);
    if (!in)
        return 0;
    ys_fill_hdr(&in->r.bpf.h, YS_BPF_PROG_LOAD, bpf_get_current_task_btf());
    /* union bpf_attr, BPF_PROG_LOAD: prog_type @0, insn_cnt @4, prog_name @48 */
    bpf_probe_read_user(&in->r.bpf.prog_type, 4, uattr);
    bpf_probe_read_user(&in->r.bpf.insn_cnt, 4, uattr + 4);
    bpf_probe_read_user(in->r.bpf.prog_name, sizeof(in->r.bpf.prog_name), uattr + 48);
    in->size = sizeof(struct ys_bpf);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_bpf")
int exit_bpf(struct ys_sys_exit *ctx) { return send_inflight(ctx, true); }
