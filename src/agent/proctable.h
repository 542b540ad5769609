/*
 * proctable.h — every process the agent knows, keyed by its unique identity.
 *
 * A process is (pid, start time in clock ticks since boot): the pair is never
 * reused within a boot, so trees survive pid reuse. Entries are created by
 * exec, fork and the start-up snapshot, updated by exec (new image) and
 * credential changes, and marked exited on exit; exited entries stay a
 * while (events about a process can arrive after its exit record, from
 * other CPUs) and are freed by proctable_expire(), or sooner when more
 * than max_exited of them wait (an exec storm must not grow the table).
 * The table is bounded: beyond max_entries the oldest exited entries go
 * first, then the oldest live ones, and such evictions are counted.
 *
 * Strings in an entry are owned by the entry. Pointers to entries stay
 * valid until the next proctable_expire() or proctable_add() call.
 */
#ifndef YAMORI_AGENT_PROCTABLE_H
#define YAMORI_AGENT_PROCTABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

#define PROCTABLE_UID_LEN 48

struct proc_key {
    uint32_t pid;
    uint32_t pad;
    uint64_t start_ticks;
};

/* The encoded field blocks of an entry that events reuse (event_encode.c). */
enum proc_fragment { PROC_FRAG_PROCESS, PROC_FRAG_INITIATING, PROC_FRAG_PARENT, PROC_FRAG_MAX };

struct proc_entry {
    struct proc_key key;
    uint64_t start_ns;          /* CLOCK_BOOTTIME, as precise as known */
    uint64_t start_utc_ns;      /* the same instant in UTC, fixed once known */
    uint32_t version;           /* bumped by proctable_touch() on every change */
    uint32_t frag_version[PROC_FRAG_MAX];
    char *frag[PROC_FRAG_MAX];  /* cached encodings, valid when frag_version == version + 1 */
    uint32_t frag_len[PROC_FRAG_MAX];
    uint32_t ppid;
    uint64_t pstart_ticks;      /* the parent's key: (ppid, pstart_ticks) */
    uint32_t uid, gid, euid, egid;
    uint32_t loginuid, sessionid, sid;
    char unique_id[PROCTABLE_UID_LEN];
    char comm[16];
    char *image;                /* full path; NULL until known */
    const char *image_name;     /* last component of image (points into it) */
    char *cmdline;              /* argv joined by spaces */
    uint32_t argc;
    char *cwd;
    char *tty;
    char *cgroup;
    char *container_id;
    char *memfd_name;
    char sha256[65];            /* "" when unknown */
    const char *sha256_skip;    /* static reason when not hashed */
    const char *package;        /* interned package name or NULL */
    const char *user;           /* interned user name or NULL */
    uint64_t image_size;
    uint32_t flags;             /* YS_F_* of the exec that set the image */
    bool exited;
    bool seen_exec;             /* image facts came from an exec or snapshot */
    uint64_t exit_ns;           /* CLOCK_BOOTTIME of the exit */
    struct proc_entry *older, *newer; /* live list (by creation) or exited list (by exit) */
    UT_hash_handle hh;          /* by key */
    UT_hash_handle hh_pid;      /* by pid: the newest entry of each pid */
    bool in_pid_index;
};

struct proctable_stats {
    uint64_t entries;
    uint64_t live;
    uint64_t evicted_live;      /* had to drop a live process: the table is too small */
    uint64_t expired;
};

struct proctable;

/* boot8: the first 8 hex digits of the boot id, used in unique ids.
 * max_entries: all entries (0: 65536); max_exited: exited entries kept
 * waiting for late events (0: 4096). */
struct proctable *proctable_new(const char *boot8, uint32_t max_entries, uint32_t max_exited);
void proctable_free(struct proctable *pt);

/* The process with this identity, or NULL. */
struct proc_entry *proctable_get(struct proctable *pt, uint32_t pid, uint64_t start_ticks);

/* The newest process known with this pid (live or recently exited), or
 * NULL. For sources that name a process by pid only (log lines, ptrace). */
struct proc_entry *proctable_by_pid(struct proctable *pt, uint32_t pid);

/* The process with this identity, created (empty but for its identity)
 * when unknown. *created says which. NULL only when memory runs out. */
struct proc_entry *proctable_add(struct proctable *pt, uint32_t pid, uint64_t start_ticks,
                                 bool *created);

/* Marks the process exited at exit_ns (CLOCK_BOOTTIME). */
void proctable_mark_exited(struct proctable *pt, struct proc_entry *e, uint64_t exit_ns);

/* Frees exited entries older than keep_ns before now_ns. Returns how many. */
unsigned proctable_expire(struct proctable *pt, uint64_t now_ns, uint64_t keep_ns);

/* Marks exited every live entry for which still_alive() says no (for
 * processes whose exit was never seen). Returns how many. */
unsigned proctable_reap(struct proctable *pt, bool (*still_alive)(const struct proc_entry *e, void *ctx),
                        void *ctx, uint64_t now_ns);

/* Says that fields of e changed: cached renderings are stale. Call it after
 * any change to an entry. */
static inline void proctable_touch(struct proc_entry *e)
{
    e->version++;
}

/* Replaces a string field: frees *field, copies n bytes of s (s may be NULL). */
int proctable_set_str(char **field, const char *s, size_t n);

/* Sets the image path and image_name. */
int proctable_set_image(struct proc_entry *e, const char *path, size_t n);

void proctable_get_stats(const struct proctable *pt, struct proctable_stats *out);

#endif
