/*
 * live_int.h — what the agent's live command files share (live.c,
 * live_files.c, live_analyze.c, live_transfer.c): the channel, cancel,
 * the process-wide package database, names of users and groups, ls-style
 * modes, hashing an open file, and which processes run a file.
 */
#ifndef YAMORI_AGENT_LIVE_INT_H
#define YAMORI_AGENT_LIVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "agent/live.h"

struct pkgdb;

#define LIVE_HASH_MAX_BYTES (1ull << 30) /* fileinfo hashes files up to this size */

/* The channel set by live_set_channel (NULL: none). */
/* The channel for one transfer, held until live_channel_release(); NULL
 * when there is none (the agent stops). */
struct channel *live_channel_hold(void);
void live_channel_release(void);

/* Whether the command was cancelled (or the agent stops). */
bool live_cancelled(const struct live_call *call);

/* Reports progress (a JSON object's text) at most about once a second per
 * *last (monotonic ms of the last report, 0 at first): the answers are how
 * a cancel reaches a command that is waiting on something else. */
void live_progress(const struct live_call *call, uint64_t *last, const char *json_object_text);

/* The process-wide package database (dpkg), opened at the first use and
 * refreshed when dpkg changed, held under a lock until live_pkgdb_release.
 * Returns NULL (with the reason in err) when there is none; the lock is
 * then not held. */
struct pkgdb *live_pkgdb_acquire(char *err, size_t errlen);
void live_pkgdb_release(void);

/* ls's mode text ("-rwsr-xr-x", "drwxrwxrwt") into out (at least 11 bytes). */
void live_mode_text(mode_t mode, char *out);

/* "file", "directory", "symlink", "fifo", "socket", "char device",
 * "block device" or "unknown". */
const char *live_type_name(mode_t mode);

/* The name of uid (gid), or its number as text, into out. */
void live_user_name(uid_t uid, char *out, size_t outlen);
void live_group_name(gid_t gid, char *out, size_t outlen);

/* A struct timespec as Unix nanoseconds (0 before 1970). */
uint64_t live_ts_ns(const struct timespec *ts);

/* Hashes of an open regular file, read from its start. */
struct live_hashes {
    char sha256[65], sha1[41], md5[33];
    uint64_t bytes;
};

/* Reads fd to its end (at most max bytes: larger is -EFBIG), hashing what
 * it reads with the algorithms asked (sha1, md5 may be false). Fails with
 * -ESTALE when the file changed (size, times, identity) while being read,
 * -ECANCELED when call was cancelled; -errno of a read otherwise. */
int live_hash_fd(int fd, uint64_t max, bool sha1, bool md5, const struct live_call *call, struct live_hashes *out);

/* The processes whose executable is the file (dev, ino): their pids into
 * pids (at most max; returns how many were found, which may be more). */
size_t live_procs_running(dev_t dev, ino_t ino, int *pids, size_t max);

/* The short name of process pid (/proc/PID/comm) into out ("" if gone). */
void live_proc_name(int pid, char *out, size_t outlen);

/* Writes s into out as one line of text: control bytes and backslashes
 * as \xNN, then a newline. Returns the length (out has 4 * strlen + 2). */
size_t live_text_line(const char *s, char *out);

#endif
