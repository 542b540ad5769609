// SPDX-License-Identifier: GPL-2.0
/*
 * network.bpf.c — connections, IPv4 and IPv6.
 *
 *   TCP connect   sock:inet_sock_set_state (tp_btf). CLOSE -> SYN_SENT runs in
 *                 the connecting task: its identity is kept per socket; the
 *                 later SYN_SENT -> ESTABLISHED (success) or -> CLOSE (failure,
 *                 with sk_err) may run in softirq and uses what was kept.
 *   TCP listen    the same tracepoint, -> LISTEN, in the listening task.
 *   TCP accept    exit of accept/accept4: the new descriptor's socket.
 *   UDP           the first datagram per (process, local port, remote address,
 *                 remote port) sent (sendto/sendmsg/sendmmsg) or received
 *                 (recvfrom/recvmsg) is reported; later ones on the same
 *                 5-tuple are not. A successful bind() of a UDP socket is
 *                 reported as listening.
 */
#include "sensor.bpf.h"

#define AF_INET      2
#define AF_INET6     10
#define IPPROTO_TCP  6
#define IPPROTO_UDP  17
#define S_IFSOCK     0140000

/* TCP states */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT    2
#define TCP_CLOSE       7
#define TCP_LISTEN      10

/* Identity of the task that started a TCP connect, per socket. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, const struct sock *);
    __type(value, struct ys_task);
} connecting SEC(".maps");

/* UDP 5-tuples already reported. */
struct udp_key {
    __u32 tgid;
    __u16 lport, rport;
    __u8 raddr[16];
    __u8 dir; /* 0 send, 1 receive */
    __u8 pad[3];
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct udp_key);
    __type(value, __u8);
} udp_seen SEC(".maps");

/* A UDP send or receive waiting for its system call to return. */
struct udp_call {
    __s32 nr;
    __s32 fd;
    __u64 uaddr;      /* user sockaddr: given (send) or to be filled (receive) */
    __u64 umsg;       /* user msghdr (recvmsg), when set */
    __u32 addr_known; /* sockaddr read at entry */
    __u32 pad;
    __u8 sa[28];      /* sockaddr_in / sockaddr_in6 */
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32); /* thread id */
    __type(value, struct udp_call);
} udp_calls SEC(".maps");

/* Fills addresses and ports of `sk` (local and remote). */
static __always_inline void fill_sock(struct ys_net *n, const struct sock *sk)
{
    n->family = BPF_CORE_READ(sk, __sk_common.skc_family);
    n->protocol = BPF_CORE_READ(sk, sk_protocol);
    n->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
    n->rport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (n->family == AF_INET6) {
        n->h.flags |= YS_F_IPV6;
        BPF_CORE_READ_INTO(&n->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
        BPF_CORE_READ_INTO(&n->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
    } else {
        BPF_CORE_READ_INTO(&n->laddr, sk, __sk_common.skc_rcv_saddr);
        BPF_CORE_READ_INTO(&n->raddr, sk, __sk_common.skc_daddr);
    }
}

static __always_inline bool inet_family(__u16 family)
{
    return family == AF_INET || family == AF_INET6;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
    struct ys_net n = {};
    struct ys_task *t;

    if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return 0;
    if (!inet_family(BPF_CORE_READ(sk, __sk_common.skc_family)))
        return 0;

    if (newstate == TCP_SYN_SENT) {
        /* connect() in the connecting task: remember who */
        if (ys_is_self())
            return 0;
        struct ys_task who = {};
        ys_fill_task(&who, bpf_get_current_task_btf());
        bpf_map_update_elem(&connecting, &sk, &who, BPF_ANY);
        return 0;
    }
    if (newstate == TCP_LISTEN) {
        if (ys_is_self())
            return 0;
        ys_fill_hdr(&n.h, YS_NET_LISTEN, bpf_get_current_task_btf());
        fill_sock(&n, sk);
        ys_emit(&n, sizeof(n), YS_NET_LISTEN);
        return 0;
    }
    if (oldstate != TCP_SYN_SENT)
        return 0;
    t = bpf_map_lookup_elem(&connecting, &sk);
    if (!t)
        return 0;
    n.h.type = YS_NET_CONNECT;
    n.h.version = YS_ABI_VERSION;
    n.h.source = YS_SRC_EBPF;
    n.h.cpu = bpf_get_smp_processor_id();
    n.h.ts_ns = bpf_ktime_get_boot_ns();
    __builtin_memcpy(&n.h.task, t, sizeof(*t));
    bpf_map_delete_elem(&connecting, &sk);
    fill_sock(&n, sk);
    if (newstate != TCP_ESTABLISHED) {
        n.h.flags |= YS_F_FAILED;
        n.error = BPF_CORE_READ(sk, sk_err);
    }
    ys_emit(&n, sizeof(n), YS_NET_CONNECT);
    return 0;
}

/* The socket behind descriptor fd of the current task, or NULL. */
static __always_inline struct sock *fd_sock(long fd)
{
    struct file *f = ys_fd_file(bpf_get_current_task_btf(), fd);
    struct socket *sock;

    if (!f)
        return NULL;
    if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
        return NULL;
    sock = BPF_CORE_READ(f, private_data);
    return BPF_CORE_READ(sock, sk);
}

static __always_inline int on_accept_exit(struct ys_sys_exit *ctx)
{
    struct ys_net n = {};
    struct sock *sk;

    if (ctx->ret < 0 || ys_is_self())
        return 0;
    sk = fd_sock(ctx->ret);
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return 0;
    if (!inet_family(BPF_CORE_READ(sk, __sk_common.skc_family)))
        return 0;
    ys_fill_hdr(&n.h, YS_NET_ACCEPT, bpf_get_current_task_btf());
    fill_sock(&n, sk);
    ys_emit(&n, sizeof(n), YS_NET_ACCEPT);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct ys_sys_exit *ctx) { return on_accept_exit(ctx); }
SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct ys_sys_exit *ctx) { return on_accept_exit(ctx); }

/* bind(): a UDP socket that binds is a listener */
SEC("tracepoint/syscalls/sys_enter_bind")
int enter_bind(struct ys_sys_enter *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct udp_call c = {.nr = ctx->nr, .fd = ctx->args[0]};

    if (ys_is_self())
        return 0;
    bpf_map_update_elem(&udp_calls, &tid, &c, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int exit_bind(struct ys_sys_exit *ctx)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct udp_call *c = bpf_map_lookup_elem(&udp_calls, &tid);
    struct ys_net n = {};
    struct sock *sk;
    __s32 fd;

    if (!c)
        return 0;
    fd = c->fd;
    bpf_map_delete_elem(&udp_calls, &tid);
    if (ctx->ret != 0)
        return 0;
    sk = fd_sock(fd);
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
        return 0;
    if (!inet_family(BPF_CORE_READ(sk, __sk_common.skc_family)))
        return 0;
    ys_fill_hdr(&n.h, YS_NET_LISTEN, bpf_get_current_task_btf());
    fill_sock(&n, sk);
    ys_emit(&n, sizeof(n), YS_NET_LISTEN);
    return 0;
}

/* ---------------------------------------------------------------- UDP */

/* Entry of a send/receive: remember the call when fd is a UDP socket. */
static __always_inline int udp_enter(long nr, long fd, __u64 uaddr, __u64 umsg, bool read_addr_now)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct udp_call c = {.nr = nr, .fd = fd, .uaddr = uaddr, .umsg = umsg};
    struct sock *sk;

    if (ys_is_self())
        return 0;
    sk = fd_sock(fd);
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
        return 0;
    if (read_addr_now && uaddr && bpf_probe_read_user(c.sa, sizeof(c.sa), (const void *)uaddr) == 0)
        c.addr_known = 1;
    bpf_map_update_elem(&udp_calls, &tid, &c, BPF_ANY);
    return 0;
}

/* Exit of a send/receive: report the first datagram of its 5-tuple. */
static __always_inline int udp_exit(struct ys_sys_exit *ctx, __u16 type)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct udp_call *c = bpf_map_lookup_elem(&udp_calls, &tid);
    struct udp_key k = {};
    struct ys_net n = {};
    struct sock *sk;
    __u8 one = 1;

    if (!c)
        return 0;
    if (ctx->ret < 0 || c->nr != ctx->nr)
        goto out;
    sk = fd_sock(c->fd);
    if (!sk)
        goto out;
    ys_fill_hdr(&n.h, type, bpf_get_current_task_btf());
    fill_sock(&n, sk);
    if (!inet_family(n.family))
        goto out;

    /* the peer: given to sendto/sendmsg, or filled in by recvfrom/recvmsg */
    if (!c->addr_known && c->umsg) {
        struct user_msghdr m;
        if (bpf_probe_read_user(&m, sizeof(m), (const void *)c->umsg) == 0)
            c->uaddr = (__u64)m.msg_name;
    }
    if (!c->addr_known && c->uaddr &&
        bpf_probe_read_user(c->sa, sizeof(c->sa), (const void *)c->uaddr) == 0)
        c->addr_known = 1;
    if (c->addr_known) {
        __u16 fam = *(__u16 *)&c->sa[0];
        if (fam == AF_INET) {
            n.rport = __builtin_bswap16(*(__u16 *)&c->sa[2]);
            __builtin_memset(n.raddr, 0, sizeof(n.raddr));
            __builtin_memcpy(n.raddr, &c->sa[4], 4);
        } else if (fam == AF_INET6) {
            n.rport = __builtin_bswap16(*(__u16 *)&c->sa[2]);
            __builtin_memcpy(n.raddr, &c->sa[8], 16);
        }
    }
    if (n.rport == 0)
        goto out; /* no peer known */

    k.tgid = n.h.task.tgid;
    k.lport = n.lport;
    k.rport = n.rport;
    __builtin_memcpy(k.raddr, n.raddr, sizeof(k.raddr));
    k.dir = type == YS_NET_UDP_RECV;
    if (bpf_map_update_elem(&udp_seen, &k, &one, BPF_NOEXIST) == 0)
        ys_emit(&n, sizeof(n), type);
out:
    bpf_map_delete_elem(&udp_calls, &tid);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct ys_sys_enter *ctx)
{
    return udp_enter(ctx->nr, ctx->args[0], ctx->args[4], 0, true);
}
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct ys_sys_enter *ctx)
{
    return udp_enter(ctx->nr, ctx->args[0], 0, ctx->args[1], false);
}
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int enter_sendmmsg(struct ys_sys_enter *ctx)
{
    /* the first message's header leads the first mmsghdr */
    return udp_enter(ctx->nr, ctx->args[0], 0, ctx->args[1], false);
}
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct ys_sys_enter *ctx)
{
    return udp_enter(ctx->nr, ctx->args[0], ctx->args[4], 0, false);
}
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct ys_sys_enter *ctx)
{
    return udp_enter(ctx->nr, ctx->args[0], 0, ctx->args[1], false);
}
SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct ys_sys_exit *ctx) { return udp_exit(ctx, YS_NET_UDP_SEND); }
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct ys_sys_exit *ctx) { return udp_exit(ctx, YS_NET_UDP_SEND); }
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int exit_sendmmsg(struct ys_sys_exit *ctx) { return udp_exit(ctx, YS_NET_UDP_SEND); }
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct ys_sys_exit *ctx) { return udp_exit(ctx, YS_NET_UDP_RECV); }
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct ys_sys_exit *ctx) { return udp_exit(ctx, YS_NET_UDP_RECV); }
