/*
 * quarantine.h — taking a file out of service and giving it back exactly.
 *
 * Quarantine kills every process running the file (found by the device and
 * inode behind /proc/PID/exe, and processes still running an image deleted
 * from the same path), then moves the file into a root-only store: one
 * directory per quarantined file, <store>/<id>/ (0700) holding `data` (the
 * bytes, unchanged, mode 0400: never executable) and `meta.json` (original
 * path, mode, owner, group, atime/mtime in ns, every extended attribute,
 * SHA-256, size, when, by which action, which pids were killed). On the same
 * filesystem the file is renamed into the store; across filesystems, or
 * when it has other hard links (whose shared inode must not change), it is
 * copied, synced, checked and unlinked; the other links stay and are
 * counted in the result.
 *
 * Restore writes the bytes back to the original path with the recorded
 * metadata (temp file in the same directory, then an atomic rename), then
 * drops the entry from the store. It refuses when something exists at the
 * path (unless overwrite is asked for) and when the parent directory no
 * longer exists (directories are not recreated: their owner and mode were
 * never recorded, and a missing directory means the machine changed).
 *
 * The command handlers use <state_dir>/quarantine (remediate_fs.h); tests
 * pass their own store directory to the same functions.
 */
#ifndef YAMORI_AGENT_QUARANTINE_H
#define YAMORI_AGENT_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/remediate_fs.h"
#include "common/jsonw.h"

struct command;

struct quarantine_result {
    char id[REMFS_ID_LEN + 1];
    char sha256[65];
    pid_t *killed; /* owned; free with quarantine_result_free() */
    size_t nkilled;
    unsigned other_links; /* hard links to the file under other names, left in place */
};

/* Quarantines path into store (created 0700 when missing; its parent must
 * exist). want_sha256 (NULL or 64 hex characters): refuse when the file's
 * hash differs. action says who asked ("command 17"). Refuses directories,
 * devices, symlinks, anything under /proc, /sys, /dev, and the agent's own
 * files. Returns 0 and fills res, or -errno with err; on failure the file
 * is where it was (processes already killed stay killed). */
int quarantine_file(const char *store, const char *path, const char *want_sha256, const char *action,
                    struct quarantine_result *res, char *err, size_t errlen);
void quarantine_result_free(struct quarantine_result *res);

/* Kills (SIGKILL) every process whose image is dev/ino, or whose image was
 * deleted from path, and waits for them to go (up to 5 s each); looks
 * again until a pass finds nobody (at most 5 passes), for processes forked
 * meanwhile. *pids gets the killed pids (caller frees). Returns 0 or
 * -errno. */
int quarantine_kill_image(dev_t dev, ino_t ino, const char *path, pid_t **pids, size_t *n);

/* Puts quarantined file id back at its original path and removes it from
 * store. path (PATH_MAX bytes, may be NULL) gets where it went. Returns 0
 * or -errno with err; on failure nothing changed. */
int quarantine_restore(const char *store, const char *id, bool overwrite, char *path, size_t pathlen, char *err,
                       size_t errlen);

/* Writes the store's entries as a JSON array of {quarantine_id, path,
 * sha256, size, quarantined, action} (newest first is not promised; an
 * entry whose move never completed has "complete": false). Returns 0 or
 * -errno with err. A missing store is an empty list. */
int quarantine_list(const char *store, struct jsonw *out, char *err, size_t errlen);

/* The command handlers (commands.c's table): quarantine_file, restore_file,
 * quarantine_list; arguments and outputs in docs/wire.md, "Commands". */
int quarantine_cmd_file(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);
int quarantine_cmd_restore(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);
int quarantine_cmd_list(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);

#endif
