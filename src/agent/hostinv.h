/*
 * hostinv.h — what the host is running, read from /proc: processes, their
 * open file descriptors, the sockets of /proc/net and which processes own
 * them.
 *
 * Shared by the investigation package (collect.c, which writes these as
 * tables in an archive) and the live response inventory
 * (live_inventory.c, which answers them as JSON tables). Everything here
 * races with processes that exit and sockets that close: what vanished
 * while it was being read is skipped, never an error. Every walk is
 * bounded (a count the caller gives, or the limits below).
 */
#ifndef YAMORI_AGENT_HOSTINV_H
#define YAMORI_AGENT_HOSTINV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOSTINV_MAX_PIDS 65536
#define HOSTINV_MAX_SOCKETS 100000 /* lines of one /proc/net table */

/* Reads at most max bytes of a regular file (or a /proc file) into *out
 * (NUL-terminated, malloc'd, the caller frees). With nofollow a final
 * symlink is refused; what is not a regular file is refused (-EINVAL).
 * *trunc (may be NULL) says whether bytes were left unread. Returns 0 or
 * -errno; on error *out is NULL. The file's access time is left as it was
 * (O_NOATIME) where the caller may do that (root, or the file's owner). */
int hostinv_read_file(const char *path, size_t max, bool nofollow, char **out, size_t *len, bool *trunc);

/* ------------------------------------------------------------ processes */

struct hostinv_proc {
    int pid, ppid;
    int uid;                       /* real uid; -1 when /proc/PID/status could not be read */
    char state;                    /* R, S, D, Z, ...; '?' when unknown */
    char comm[64];
    unsigned long long start_ticks; /* field 22 of /proc/PID/stat: clock ticks after boot */
    char *exe;                     /* the image (readlink of exe); "" when unreadable (kernel
                                    * threads, or gone); may end in " (deleted)" */
    char *cmdline;                 /* argv joined by spaces; "" when none */
    char *cgroup;                  /* the unified-hierarchy path ("/system.slice/x.service"),
                                    * only with HOSTINV_CGROUP, else NULL */
};

enum { HOSTINV_CGROUP = 1 };

/* Reads every process of /proc (threads not included) into *out, sorted by
 * pid (*n of them, at most HOSTINV_MAX_PIDS; *truncated, may be NULL,
 * says whether more were left out). Command lines are cut at cmdline_max
 * bytes. flags: HOSTINV_CGROUP. A process that exits meanwhile is left
 * out. Returns 0, or -errno with err when /proc cannot be listed or
 * memory runs out. */
int hostinv_procs(unsigned flags, size_t cmdline_max, struct hostinv_proc **out, size_t *n, bool *truncated,
                  char *err, size_t errlen);
void hostinv_procs_free(struct hostinv_proc *v, size_t n);

/* The process pid of a list sorted by pid, or NULL. */
const struct hostinv_proc *hostinv_proc_find(const struct hostinv_proc *v, size_t n, int pid);

/* The UTC time of boot (ns since 1970): now minus CLOCK_BOOTTIME, the
 * clock of /proc/PID/stat. Take it once for a listing, so that processes
 * started together show the same instant. */
uint64_t hostinv_boot_unix_ns(void);

/* The UTC time (ns since 1970) at which a process started start_ticks after
 * boot (boot_unix_ns from hostinv_boot_unix_ns). */
uint64_t hostinv_start_at(uint64_t boot_unix_ns, unsigned long long start_ticks);

/* The same, measuring the time of boot now. */
uint64_t hostinv_start_unix_ns(unsigned long long start_ticks);

/* The ProcessUniqueId of docs/events.md ("Process identity") into out (at
 * least 48 bytes): <first 8 hex digits of the boot id>-<pid>-<start ticks>. */
void hostinv_process_uid(int pid, unsigned long long start_ticks, char *out, size_t outlen);

/* Calls fn for each open file descriptor of pid (fd: its number as text;
 * target: what the link names, "socket:[123]" for a socket), at most max
 * of them. Stops and returns fn's value when it is not 0. Returns the
 * number of descriptors seen otherwise, or -errno when /proc/PID/fd cannot
 * be opened (gone, or not ours to read). */
int hostinv_fds(int pid, size_t max, int (*fn)(int pid, const char *fd, const char *target, void *ctx), void *ctx);

/* ------------------------------------------------------------ sockets */

struct hostinv_sock {
    const char *proto;             /* "tcp", "tcp6", "udp", "udp6" */
    char local[46], remote[46];    /* addresses as text */
    unsigned lport, rport;
    unsigned state;                /* the kernel's number */
    const char *state_name;        /* "LISTEN", "ESTABLISHED", ...; UDP: "UNCONN", "ESTABLISHED" */
    bool listening;                /* TCP LISTEN, or an unconnected UDP socket */
    unsigned uid;
    uint64_t inode;
};

/* Parses the /proc/net table at path ("/proc/net/tcp", "/proc/PID/net/udp6",
 * ...) of protocol proto ("tcp", "tcp6", "udp", "udp6": says the address
 * family and the state names), calling fn for each socket (at most
 * HOSTINV_MAX_SOCKETS). Stops and returns fn's value when it is not 0.
 * Returns the number of sockets otherwise, or -errno when the table
 * cannot be read (-EINVAL: proto unknown). */
int hostinv_inet_each(const char *path, const char *proto, int (*fn)(const struct hostinv_sock *s, void *ctx),
                      void *ctx);

struct hostinv_unix {
    const char *type;              /* "stream", "dgram", "seqpacket", "?" */
    unsigned state;
    uint64_t inode;
    const char *path;              /* "" when unnamed; "@name" for the abstract namespace */
};

/* The same for a /proc/net/unix table. */
int hostinv_unix_each(const char *path, int (*fn)(const struct hostinv_unix *s, void *ctx), void *ctx);

/* Which processes hold which socket inodes (learnt from their fds). */
struct hostinv_owners {
    struct hostinv_sockref {
        uint64_t inode;
        int pid;
    } *v;
    size_t n, cap;
    bool sorted;
};

/* Records that pid holds socket inode (a failed allocation drops it). */
void hostinv_owners_add(struct hostinv_owners *o, uint64_t inode, int pid);
/* Adds the sockets among the fds of pid (at most max fds looked at).
 * Returns the number of fds seen or -errno as hostinv_fds(). */
int hostinv_owners_add_pid(struct hostinv_owners *o, int pid, size_t max);
/* Sorts what was added; call before hostinv_owners_of. */
void hostinv_owners_sort(struct hostinv_owners *o);
/* The distinct pids holding inode (lowest first) into pids (at most max);
 * returns how many hold it (may exceed max). */
size_t hostinv_owners_of(const struct hostinv_owners *o, uint64_t inode, int *pids, size_t max);
void hostinv_owners_free(struct hostinv_owners *o);

#endif
