/*
 * scan.h — the antivirus scanner: a library the `scan` command, the tests
 * and bench/scan use alike (docs/agent.md, "Antivirus scan").
 *
 * A scan walks a set of files and hands each regular file to its engines:
 *   - YARA, with the rule set of rules/yara (every *.yar of a directory);
 *   - SHA-256 indicators given by the caller;
 *   - package ownership: an executable under a system path (/usr/bin,
 *     /usr/sbin, /usr/lib, /bin, /sbin, /lib) that no installed package
 *     owns, or whose content differs from its package's md5sums;
 *   - ClamAV, when a signature database is present (else the engine is
 *     reported unavailable with the reason).
 *
 * Kinds: SCAN_QUICK (images of running processes, persistence targets —
 * cron files and what their entries run, systemd units and what their
 * Exec* lines run, rc.local, ld.so.preload and what it preloads —, /tmp,
 * /var/tmp, /dev/shm, hidden executables in home directories), SCAN_FULL
 * (every local file system from /, one pass) and SCAN_CUSTOM (one path).
 * Walks never follow symbolic links and never enter pseudo or network file
 * systems (decided by statfs type). Quick-scan targets named by a
 * configuration file (a cron command, an ExecStart binary) are resolved
 * the way the system would run them, then opened without following a link.
 *
 * Files that vanish or change while being read, that cannot be read, or
 * that are larger than the YARA limit are counted and skipped (larger
 * files are still hashed and checked against indicators and packages).
 *
 * A scan runs in the calling thread. It throttles itself to a CPU budget
 * (thread CPU time over wall time), lowers its I/O priority while it runs
 * (restored after), reports progress through a callback and stops soon
 * after *cancel becomes non-zero.
 *
 * The result is the JSON object of docs/wire.md ("scan").
 */
#ifndef YAMORI_AGENT_SCAN_H
#define YAMORI_AGENT_SCAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"

enum scan_kind { SCAN_QUICK, SCAN_FULL, SCAN_CUSTOM };

enum scan_io_priority {
    SCAN_IO_IDLE = 0,   /* idle class: disk time only when no one else wants it (default) */
    SCAN_IO_LOW,        /* best-effort class, lowest level (7) */
    SCAN_IO_NORMAL,     /* leave the thread's I/O priority alone */
};

/* What the progress callback sees. Every counter and percent is
 * monotonic over one scan. */
struct scan_progress {
    uint64_t files;          /* files handed to the engines so far */
    uint64_t bytes;          /* bytes read so far */
    uint64_t findings;
    uint64_t total_files;    /* the estimate (0 when unknown) */
    uint64_t total_bytes;    /* the estimate (0 when unknown) */
    double percent;          /* 0..100; 100 only in the last call of a scan that ran to its end */
    const char *current;     /* the file just scanned (valid for the call), or NULL */
};

/* Called in the scanning thread; ctx is scan_options.progress_ctx. */
typedef void (*scan_progress_fn)(void *ctx, const struct scan_progress *p);

#define SCAN_DEFAULT_YARA_MAX_BYTES (64ull << 20)
#define SCAN_DEFAULT_HASH_MAX_BYTES (4ull << 30)
#define SCAN_DEFAULT_CPU_BUDGET 1.0
#define SCAN_MAX_FINDINGS 5000
#define SCAN_MAX_INDICATORS 100000

struct scan_options {
    enum scan_kind kind;
    const char *path;             /* SCAN_CUSTOM: the file or directory (absolute) */
    const char *rules_dir;        /* YARA rules (*.yar); NULL: scan_default_rules_dir() */
    const char *dpkg_admindir;    /* NULL: /var/lib/dpkg */
    /* The root the packages are installed in (pkgdb_open_at): a file at
     * <pkg_root>/usr/bin/x is checked as /usr/bin/x. NULL: "/". */
    const char *pkg_root;
    const char *clamav_dbdir;     /* NULL: /var/lib/clamav */
    const char *const *indicators; /* SHA-256 values (64 hex digits) */
    size_t nindicators;
    /* CPU budget in cores (0.25 = a quarter of one core); 0: the default
     * (1.0); negative: no throttle. */
    double cpu_budget;
    enum scan_io_priority io_priority;
    uint64_t yara_max_bytes;      /* 0: SCAN_DEFAULT_YARA_MAX_BYTES */
    uint64_t hash_max_bytes;      /* 0: SCAN_DEFAULT_HASH_MAX_BYTES */
    bool no_clamav;               /* leave ClamAV out even when a database exists */
    const atomic_int *cancel;     /* non-zero: stop (checked between files and every 1 MiB); may be NULL */
    scan_progress_fn progress;    /* may be NULL */
    void *progress_ctx;
    /* Least time between two progress calls (the first and last call are
     * always made); 0: a call after every file. */
    unsigned progress_interval_ms;
};

/* Scans as o says and writes the result object (docs/wire.md, "scan")
 * into out. A cancelled scan is a success ("cancelled": true, with what
 * it found so far). Returns 0, or -errno with a sentence in err when the
 * scan could not run at all: bad options (a custom path that is not
 * absolute or does not exist, a malformed indicator), a rule set that
 * does not compile (the file, line and message), no dpkg database. An
 * engine that cannot start for a reason outside the scan's control
 * (ClamAV without a database) is reported in "engines" instead. */
int scan_run(const struct scan_options *o, struct jsonw *out, char *err, size_t errlen);

/* Scans one open regular file, fd (read from its start; it stays the
 * caller's), with the engines and limits of o, reported as path: the path
 * the package engine checks and the findings name (live response's
 * analyze reads a process's executable through /proc/PID/exe, deleted or
 * not, and reports the path it ran from). o->kind and o->path are not
 * used; the result is scan_run's object with kind "custom" and that path.
 * Returns 0, or -errno with err as scan_run (-EINVAL: fd is not a regular
 * file). */
int scan_run_fd(const struct scan_options *o, int fd, const char *path, struct jsonw *out, char *err,
                size_t errlen);

/* The kind named by s ("quick", "full", "custom"); -EINVAL otherwise. */
int scan_kind_parse(const char *s, enum scan_kind *out);
const char *scan_kind_name(enum scan_kind k);

/* The rule set the agent uses: <source tree>/rules/yara when the running
 * binary is inside a build tree of the source, else
 * <prefix>/share/yamori/yara next to <prefix>/sbin/yamori-agent (where
 * `make install` puts it). Writes it into out. */
void scan_default_rules_dir(char *out, size_t outlen);

/* Whether a statfs f_type is a pseudo or network file system a full scan
 * does not enter (proc, sysfs, cgroup, devtmpfs, NFS, CIFS, FUSE, ...).
 * tmpfs is local and is scanned. */
bool scan_fs_is_skipped(int64_t f_type);

#endif
