/*
 * scan_int.h — the scanner's private parts, shared by scan.c (the driver:
 * reading a file once, throttle, progress, the result), scan_engines.c
 * (YARA, indicators, package ownership, ClamAV) and scan_targets.c (what a
 * scan visits: walks, mounts, quick-scan targets).
 */
#ifndef YAMORI_AGENT_SCAN_INT_H
#define YAMORI_AGENT_SCAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "agent/scan.h"

#define SCAN_MAGIC 0x5343414eu /* "SCAN" */

struct pkgdb;
struct YR_RULES;
struct cl_engine;

struct scan_finding {
    char *path, *rule, *reason;
    char sha256[65];
    const char *engine;   /* static */
    const char *severity; /* static */
};

/* A set of (device, inode): files scanned already. */
struct scan_idset {
    uint64_t *v; /* pairs; (0, 0) is empty */
    size_t cap, n;
};

enum scan_pass { SCAN_PASS_COUNT, SCAN_PASS_SCAN };

struct scan_ctx {
    uint32_t magic;
    const struct scan_options *o;
    enum scan_pass pass;
    uint64_t yara_max, hash_max;
    double budget;

    /* engines */
    struct YR_RULES *yara;
    unsigned yara_rules;
    bool yara_init;       /* yr_initialize() done */
    char yara_state[512];
    uint64_t *rule_files; /* (dev, ino) pairs of the rule files: never reported */
    size_t nrule_files;
    char (*iocs)[65];     /* sorted */
    size_t niocs;
    struct pkgdb *pkg;
    char pkg_state[512];
    char pkg_root[4096];
    size_t pkg_root_len;  /* 0 when the root is "/" */
    struct cl_engine *clam;
    char clam_state[512];

    /* the current file (during the engines' calls) */
    const char *cur_path;
    const char *cur_sha;

    /* counters */
    uint64_t files, bytes, vanished, too_large, unreadable;
    uint64_t total_files, total_bytes; /* the estimate */
    struct scan_finding *findings;
    size_t nfindings, capfindings;
    uint64_t findings_dropped;
    bool cancelled;

    struct scan_idset seen;
    char **targets;       /* quick scan: files named by persistence configuration */
    size_t ntargets, captargets;
    bool targets_collected;

    /* throttle and progress */
    uint64_t start_ns, win_wall_ns, win_cpu_ns;
    uint64_t last_progress_ns;
    double last_percent;

    unsigned char *buf;   /* the file's content for YARA (yara_max + 1 bytes) */
    unsigned char *chunk; /* a read chunk */
};

uint64_t scan_mono_ns(void);
bool scan_cancelled(struct scan_ctx *c);
/* Sleeps as needed to keep the thread within its CPU budget. */
void scan_throttle(struct scan_ctx *c);

/* In the count pass: adds st to the estimate. In the scan pass: scans the
 * file name (relative to dirfd; AT_FDCWD with an absolute path works)
 * whose walk-time identity is st (NULL: none known), reported as path. */
void scan_visit_at(struct scan_ctx *c, int dirfd, const char *name, const char *path, const struct stat *st);
/* Scans an open file descriptor (the scan pass only; fd stays the
 * caller's). st is what fstat said when it was opened. */
void scan_visit_fd(struct scan_ctx *c, int fd, const char *path, const struct stat *st);

/* Records a finding (copies the strings). */
void scan_add_finding(struct scan_ctx *c, const char *engine, const char *rule, const char *reason,
                      const char *severity);

/* Engines (scan_engines.c). The *_open functions fill c's state strings;
 * only a broken rule set or bad indicators are errors (-errno, err). */
int scan_engines_open(struct scan_ctx *c, char *err, size_t errlen);
void scan_engines_close(struct scan_ctx *c);
/* Runs every engine on one file: buf holds its first len bytes (NULL when
 * larger than the YARA limit), fd is open on it, st its identity. */
void scan_engines_check(struct scan_ctx *c, int fd, const struct stat *st, const unsigned char *buf, size_t len);

/* Targets (scan_targets.c): visits every file of the scan's kind, in the
 * current pass. Returns 0, or -errno with err when the custom path is
 * unusable. */
int scan_targets_visit(struct scan_ctx *c, char *err, size_t errlen);
/* The full scan's estimate from the used bytes and inodes of every local
 * file system. */
void scan_targets_estimate_full(struct scan_ctx *c);
void scan_targets_free(struct scan_ctx *c);

bool scan_idset_add(struct scan_idset *s, uint64_t dev, uint64_t ino); /* false: was there (or no memory) */
void scan_idset_free(struct scan_idset *s);

#endif
