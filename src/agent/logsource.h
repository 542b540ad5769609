/*
 * logsource.h — where logon records come from: the systemd journal or an
 * authentication log file, behind one interface.
 *
 * A log source is read from an event loop: poll logsource_fd() for
 * logsource_events(), wait at most logsource_timeout_ms(), then call
 * logsource_read(), which hands every new logon record to a callback. Two
 * back ends:
 *
 *  - file ("authlog"): follows /var/log/auth.log or /var/log/secure the way
 *    `tail -F` should. The first time it starts at the end of the file.
 *    Its position (device, inode, offset, and the last bytes before the
 *    offset) is saved in a state file, written atomically (temporary file,
 *    fsync, rename), so a restarted agent continues where it stopped: no
 *    line twice, none skipped. Rotation by rename is seen as a new inode
 *    at the path: the old file is read to its end and then kept open for
 *    `rotate_wait_ms`, because the logger writes to it until it reopens;
 *    the new file is read from its start. Rotation by copy and truncate
 *    (copytruncate) is seen as the file shrinking, or the bytes before the
 *    offset changing: the lines between the offset and the copy are read
 *    from the copy (a sibling `auth.log.1`, `auth.log-20261126`, found by
 *    content) and the file is read again from its start. A rotation that
 *    happened while the agent was stopped is handled the same way, the old
 *    file being found among the siblings by its inode. Only complete lines
 *    are read: a partial last line waits for its newline. A line longer
 *    than `line_max` is skipped up to its newline and counted.
 *  - journal ("journal"): sd-journal, matching the identifiers the parser
 *    knows; its position is the journal cursor, saved the same way.
 *
 * A source is used by one thread at a time.
 */
#ifndef YAMORI_AGENT_LOGSOURCE_H
#define YAMORI_AGENT_LOGSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/logon.h"

struct logsource;

enum logsource_kind {
    LOGSOURCE_FILE = 1,
    LOGSOURCE_JOURNAL = 2,
};

struct logsource_options {
    /* Longest line kept, newline excluded; longer lines are skipped and
     * counted as oversized. 256..LOGON_LINE_MAX; default LOGON_LINE_MAX. */
    size_t line_max;
    /* How long a file renamed away is still read after the rotation was
     * seen, in milliseconds. Default 30000. */
    unsigned int rotate_wait_ms;
    /* The position is saved at most this often while reading, in
     * milliseconds (each save is an fsync); 0 saves after every read that
     * moved. logsource_save() and logsource_free() always save, so only a
     * crash can repeat up to this much. Default 1000. */
    unsigned int save_interval_ms;
    /* File sources only: lines without a syslog header, as written by a
     * program logging to its own file (OpenSSH's `sshd -E FILE`), are read
     * as messages of this program ("sshd"). NULL (the default): syslog
     * lines. Borrowed: it must outlive the source. */
    const char *bare_identifier;
};

struct logsource_stats {
    uint64_t lines;         /* complete lines (journal: entries) consumed */
    uint64_t records;       /* logon records the callback accepted */
    uint64_t ignored;       /* lines that were no logon */
    uint64_t unparsable;    /* lines the parser rejected as malformed */
    uint64_t oversized;     /* lines longer than line_max, skipped */
    uint64_t rotations;     /* the file at the path was replaced */
    uint64_t truncations;   /* the file was truncated or rewritten in place */
    uint64_t gaps;          /* a position could not be resumed (old file
                               gone, state unreadable, cursor invalid):
                               lines may be missing */
    uint64_t state_errors;  /* state file writes that failed */
};

/* Called once per logon record. `rec` and its strings live until the
 * callback returns. Return 0 to go on; a negative errno stops the read:
 * that record is not consumed (the next logsource_read() delivers it
 * again) and logsource_read() returns the value. */
typedef int (*logsource_record_fn)(const struct logon_record *rec, void *ctx);

/* Fills *o with the defaults. */
void logsource_options_init(struct logsource_options *o);

/* Opens a file source following `path`. Its directory must exist; the file
 * itself may not exist yet (it is read from its start once it does).
 * `state_path` is where the position is kept (NULL: nowhere, every open
 * starts at the end); a state written for another path or kind is
 * ignored. `opt` may be NULL for the defaults. On success *out owns
 * everything; on failure returns -errno and writes a sentence to err. */
int logsource_open_file(const char *path, const char *state_path,
                        const struct logsource_options *opt, struct logsource **out,
                        char *err, size_t errlen);

/* Opens a journal source on the local system journal, matching the
 * parser's identifiers (logon_identifiers). Without a saved cursor it
 * starts at the end. Same contract as logsource_open_file(). */
int logsource_open_journal(const char *state_path, const struct logsource_options *opt,
                           struct logsource **out, char *err, size_t errlen);

/* Decides which source this machine has, below `root` (NULL or "" for the
 * real root; tests pass a directory): the journal when
 * run/systemd/journal/socket exists, else the first existing regular file
 * of var/log/auth.log, var/log/secure (its path goes to `path`). Returns 0,
 * -ENOENT when there is neither, -ENAMETOOLONG when path is too short. */
int logsource_choose(const char *root, enum logsource_kind *kind, char *path, size_t pathlen);

/* logsource_choose() on the real root, then opens that source. When the
 * journal is chosen but cannot be opened and a log file exists, the file
 * is opened instead. Same contract as logsource_open_file(). */
int logsource_auto(const char *state_path, const struct logsource_options *opt,
                   struct logsource **out, char *err, size_t errlen);

/* The descriptor to poll (-1: none, rely on the timeout) and the poll
 * events to wait for. */
int logsource_fd(const struct logsource *src);
int logsource_events(const struct logsource *src);

/* How long the caller may wait, in milliseconds, before it must call
 * logsource_read() even when the descriptor is quiet: 0 when work is
 * pending, -1 for no limit. The caller must honour it (rotated files are
 * closed, a deferred save is written, and the file is looked at even if
 * inotify missed something). */
int logsource_timeout_ms(const struct logsource *src);

/* Reads what is new and calls fn for each logon record, in log order. Saves
 * the position afterwards when it moved and save_interval_ms has passed (a
 * failed save is counted in state_errors and described by
 * logsource_error(), the read still succeeds). Returns 0, fn's negative value when it stopped the read, or
 * -errno on an I/O error (logsource_error() says which). */
int logsource_read(struct logsource *src, logsource_record_fn fn, void *ctx);

/* Writes the position to the state file now. 0 or -errno. */
int logsource_save(struct logsource *src);

enum logsource_kind logsource_kind(const struct logsource *src);

/* The SensorSource name: "authlog" or "journal". */
const char *logsource_name(const struct logsource *src);

/* The file followed, or NULL for the journal. */
const char *logsource_path(const struct logsource *src);

void logsource_get_stats(const struct logsource *src, struct logsource_stats *out);

/* The last error or warning as a sentence; "" when there was none. */
const char *logsource_error(const struct logsource *src);

/* Saves the position and releases everything. Accepts NULL. */
void logsource_free(struct logsource *src);

#endif
