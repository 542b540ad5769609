/*
 * sensor_abi.h — the versioned record format between the sensor back ends
 * (eBPF programs, or the proc-connector/fanotify fallback) and the agent's
 * user-space pipeline.
 *
 * Every record starts with struct ys_hdr. Fixed-size fields follow; strings
 * live after the fixed part and are described by struct ys_str {off, len},
 * off counted from the start of the record, len without a terminating NUL
 * (strings are not NUL-terminated in the record). A record is at most
 * YS_RECORD_MAX bytes. Records are variable-length: only the bytes in use
 * travel through the ring buffer.
 *
 * Bump YS_ABI_VERSION whenever a struct below changes; the user-space
 * decoder refuses records of another version (and counts them).
 *
 * This header is included by BPF C (with vmlinux.h types) and by user space
 * (with <stdint.h>); it uses only the __u8.. __u64 / __s32 / __s64 names
 * both provide.
 */
#ifndef YAMORI_SENSOR_ABI_H
#define YAMORI_SENSOR_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define YS_ABI_VERSION 1

#define YS_ARGV_MAX   16384  /* bytes of argv copied, NUL-separated */
#define YS_PATH_MAX   4096   /* bytes of one path */
#define YS_NAME_MAX   256    /* one path component, a memfd name, a tty name */
#define YS_PATH_DEPTH 48     /* path components walked before giving up */
#define YS_RECORD_MAX 32768  /* upper bound of one record */
#define YS_COMM_LEN   16

enum ys_type {
    YS_PROC_EXEC = 1,   /* struct ys_exec */
    YS_PROC_FORK,       /* struct ys_fork */
    YS_PROC_EXIT,       /* struct ys_exit */
    YS_FILE_CREATE,     /* struct ys_file (also links: YS_F_SYMLINK, YS_F_HARDLINK) */
    YS_FILE_MODIFY,     /* struct ys_file: first write after an open, or O_TRUNC */
    YS_FILE_DELETE,     /* struct ys_file (unlink or rmdir) */
    YS_FILE_RENAME,     /* struct ys_file with path2 = new path */
    YS_FILE_CHMOD,      /* struct ys_file, mode = new mode */
    YS_FILE_CHOWN,      /* struct ys_file, uid/gid = new owner (-1 = unchanged) */
    YS_FILE_UTIMES,     /* struct ys_file, atime/mtime = times set explicitly */
    YS_NET_CONNECT,     /* struct ys_net: outbound TCP connect result */
    YS_NET_ACCEPT,      /* struct ys_net: inbound TCP accepted */
    YS_NET_LISTEN,      /* struct ys_net: TCP listen / UDP bind */
    YS_NET_UDP_SEND,    /* struct ys_net: first datagram sent per 5-tuple */
    YS_NET_UDP_RECV,    /* struct ys_net: first datagram received per 5-tuple */
    YS_MODULE_LOAD,     /* struct ys_module */
    YS_PTRACE,          /* struct ys_ptrace */
    YS_CREDS,           /* struct ys_creds: uid/gid changes */
    YS_MEMFD_CREATE,    /* struct ys_memfd */
    YS_BPF_PROG_LOAD,   /* struct ys_bpf */
    YS_TYPE_MAX
};

/* ys_hdr.flags */
#define YS_F_ARGV_TRUNC   (1u << 0)  /* argv longer than YS_ARGV_MAX */
#define YS_F_PATH_TRUNC   (1u << 1)  /* a path deeper/longer than the limits */
#define YS_F_MEMFD        (1u << 2)  /* exec of a memfd (fileless) */
#define YS_F_DELETED      (1u << 3)  /* exec of an unlinked file */
#define YS_F_DIR          (1u << 4)  /* file record is about a directory */
#define YS_F_HIDDEN       (1u << 5)  /* a path component starts with '.' */
#define YS_F_EXECUTABLE   (1u << 6)  /* the file has an execute bit */
#define YS_F_TRUNCATED_OP (1u << 7)  /* modify record from an O_TRUNC open */
#define YS_F_FAILED       (1u << 8)  /* the operation failed (connect) */
#define YS_F_SNAPSHOT     (1u << 9)  /* synthesised from /proc at start */
#define YS_F_PARTIAL      (1u << 10) /* some fields could not be read */
#define YS_F_IPV6         (1u << 11)
#define YS_F_SYMLINK      (1u << 12) /* FILE_CREATE of a symbolic link; path2 = its target, as written */
#define YS_F_HARDLINK     (1u << 13) /* FILE_CREATE of a hard link; path2 = the existing file */

/* Which back end produced the record (ys_hdr.source). */
#define YS_SRC_EBPF     1
#define YS_SRC_FALLBACK 2
#define YS_SRC_PROCFS   3

struct ys_str {
    __u16 off;
    __u16 len;
};

/* The process a record is about, as seen when it happened. start_ns is the
 * task's start_boottime in nanoseconds; together with the boot id and the
 * pid it names the process uniquely (see docs/events.md). */
struct ys_task {
    __u32 tgid;
    __u32 tid;
    __u32 ppid;          /* real parent's tgid */
    __u32 uid, gid, euid, egid;
    __u32 loginuid;      /* audit login uid, (u32)-1 when unset */
    __u32 sessionid;     /* audit session id (Defender's LogonId) */
    __u32 sid;           /* session leader pid */
    __u64 start_ns;      /* this process's start_boottime */
    __u64 pstart_ns;     /* the parent's start_boottime */
    __u64 cgroup_id;
    char comm[YS_COMM_LEN];
};

struct ys_hdr {
    __u16 type;          /* enum ys_type */
    __u16 size;          /* whole record, bytes */
    __u8 version;        /* YS_ABI_VERSION */
    __u8 source;         /* YS_SRC_* */
    __u16 cpu;
    __u32 flags;         /* YS_F_* */
    __u32 pad;
    __u64 ts_ns;         /* CLOCK_BOOTTIME when it happened */
    struct ys_task task;
};

struct ys_exec {
    struct ys_hdr h;
    __u64 ino;
    __u64 size;
    __s64 mtime_sec, ctime_sec;
    __u32 mtime_nsec, ctime_nsec;
    __u32 dev;
    __u32 mode;
    __u32 argc;
    __u32 tty_nr;        /* 0 when no controlling tty */
    struct ys_str path;  /* resolved image path */
    struct ys_str argv;  /* NUL-separated */
    struct ys_str cwd;
    struct ys_str cgroup;  /* leaf name of the unified-hierarchy cgroup */
    struct ys_str tty;     /* "pts/3" */
    struct ys_str memfd;   /* memfd name when YS_F_MEMFD */
};

struct ys_fork {
    struct ys_hdr h;     /* task = the parent */
    __u32 child_tgid;
    __u32 pad;
    __u64 child_start_ns;
};

struct ys_exit {
    struct ys_hdr h;
    __u32 exit_code;     /* as wait(2) encodes it: code << 8 | signal */
    __u32 pad;
};

struct ys_file {
    struct ys_hdr h;
    __u64 ino;
    __u32 dev;
    __u32 mode;          /* current mode, or new mode for CHMOD */
    __u32 uid, gid;      /* current owner, or new owner for CHOWN */
    __u32 class_bits;    /* the kernel filter's verdict for path (YS_CLASS_*) */
    __u32 pad;
    __s64 atime_sec, mtime_sec; /* UTIMES only */
    __u32 atime_nsec, mtime_nsec;
    struct ys_str path;
    struct ys_str path2; /* RENAME: the new path */
};

struct ys_net {
    struct ys_hdr h;
    __u16 family;        /* AF_INET / AF_INET6 */
    __u16 protocol;      /* IPPROTO_TCP / IPPROTO_UDP */
    __u16 lport, rport;  /* host byte order */
    __u8 laddr[16], raddr[16]; /* IPv4 in the first 4 bytes */
    __s32 error;         /* errno of a failed connect, else 0 */
    __u32 pad;
};

struct ys_module {
    struct ys_hdr h;
    __u32 from_file;     /* 1: finit_module (path set); 0: init_module */
    __u32 pad;
    struct ys_str path;
};

struct ys_ptrace {
    struct ys_hdr h;
    __u32 target_tgid;
    __u32 request;       /* PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_TRACEME */
    __u64 target_start_ns;
    __s32 result;
    __u32 pad;
};

struct ys_creds {
    struct ys_hdr h;     /* task.uid.. = old credentials */
    __u32 new_uid, new_gid, new_euid, new_egid;
};

struct ys_memfd {
    struct ys_hdr h;
    __u32 mflags;
    __u32 pad;
    struct ys_str name;
};

struct ys_bpf {
    struct ys_hdr h;
    __u32 prog_type;
    __u32 insn_cnt;
    char prog_name[16];
};

/* Path classes: the verdict of the in-kernel file filter. The kernel takes
 * them from an LPM trie of path prefixes that user space fills from
 * src/agent/pathclass.c; user space refines them into tags. */
#define YS_CLASS_KEEP_ALL   (1u << 0) /* every file event under this prefix */
#define YS_CLASS_PERSIST    (1u << 1) /* persistence location */
#define YS_CLASS_SECCONF    (1u << 2) /* security configuration */
#define YS_CLASS_TEMP       (1u << 3) /* temp / shared memory */
#define YS_CLASS_SYSBIN     (1u << 4) /* system binary/library path: creates kept */
#define YS_CLASS_LOG        (1u << 5) /* logs: delete/rename/truncate kept */
#define YS_CLASS_AGENT      (1u << 6) /* the agent's own files */
#define YS_CLASS_IGNORE     (1u << 7) /* never report (noisy caches) */

#define YS_LPM_DATA_MAX 128

struct ys_lpm_key {
    __u32 prefixlen;     /* in bits */
    __u8 data[YS_LPM_DATA_MAX];
};

/* Per-CPU counters the programs keep; user space sums them. */
struct ys_counters {
    __u64 emitted[YS_TYPE_MAX];
    __u64 dropped[YS_TYPE_MAX];   /* ring buffer full */
    __u64 filtered[YS_TYPE_MAX];  /* dropped on purpose by the file filter */
    __u64 errors[YS_TYPE_MAX];    /* a read failed, record marked partial */
};

#endif
