/*
 * remediate.h — removing persistence with a backup, and putting back
 * exactly what was removed.
 *
 * Kinds (each with the places it may touch; anything else is refused):
 *   cron_file             a whole file in /etc/cron.d or /etc/cron.{hourly,
 *                         daily,weekly,monthly}
 *   cron_line             a line of /etc/crontab, /etc/cron.d/NAME or
 *                         /var/spool/cron/crontabs/USER
 *   systemd_unit          a unit (match: "awsd.service", "awsd.timer", …):
 *                         its unit file in every unit directory (or only
 *                         the one path names) and every symlink to it in a
 *                         .wants/, .requires/ or .upholds/ directory there;
 *                         when systemd is the service manager the unit is
 *                         stopped first and systemd reloaded after
 *   rc_local_line         a line of /etc/rc.local
 *   shell_rc_line         a line of /etc/profile, /etc/bash.bashrc,
 *                         /etc/zsh/zshrc, or ~/.bashrc, ~/.profile,
 *                         ~/.bash_profile, ~/.bash_login, ~/.bash_logout,
 *                         ~/.zshrc of root or a user under /home
 *   profile_d_file        a whole file in /etc/profile.d
 *   authorized_keys_line  a line of ~/.ssh/authorized_keys(2) of root or a
 *                         user under /home, by exact line or by the key's
 *                         fingerprint ("SHA256:…" as ssh-keygen -l prints)
 *   ld_preload_line       a line of /etc/ld.so.preload
 *
 * A line kind removes every line equal to match (the line without its
 * newline) and rewrites the file atomically (temp file in the same
 * directory with the same owner, mode, xattrs and times, fsync, rename).
 * Before anything changes a backup record is written and synced under
 * <backups>/<backup_id>/: manifest.json (each changed or removed file or
 * symlink with its metadata, symlink target, SHA-256 before and, for a
 * rewritten file, after) and N.data (the exact bytes of file N).
 *
 * Restore checks first that every removed path is still free and every
 * rewritten file is still what the removal left (else it refuses and
 * changes nothing), then puts back the bytes, links, mode, owner, xattrs
 * and times, and marks the backup restored: a second restore is refused.
 */
#ifndef YAMORI_AGENT_REMEDIATE_H
#define YAMORI_AGENT_REMEDIATE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/remediate_fs.h"
#include "common/jsonw.h"

struct command;

#define REMEDIATE_MAX_FILE (16u << 20) /* files larger are not rewritten */
#define REMEDIATE_MAX_MATCH 4096

struct remediate_result {
    char backup_id[REMFS_ID_LEN + 1];
    char **items; /* removed lines or paths (removal), restored paths (restore); owned */
    size_t nitems;
};
void remediate_result_free(struct remediate_result *r);

/* Removes the persistence entry of kind ("cron_file", … as above) at path
 * (may be NULL for systemd_unit) matching match (NULL for the file kinds),
 * recording a backup under backups (created 0700; its parent must exist).
 * action says who asked. Returns 0 and fills res, or -errno with err; on
 * failure nothing changed. */
int remediate_remove(const char *backups, const char *kind, const char *path, const char *match,
                     const char *action, struct remediate_result *res, char *err, size_t errlen);

/* Puts back what backup id removed. Returns 0 and fills res (restored
 * paths), or -errno with err; refused (nothing changed) when a removed path
 * is taken, a rewritten file changed since, or it was restored already. */
int remediate_restore(const char *backups, const char *id, struct remediate_result *res, char *err,
                      size_t errlen);

/* The SHA256:… fingerprint of the key on an authorized_keys line (options
 * allowed before it) into fp (at least 52 bytes). Returns 0 or -EINVAL
 * when the line holds no key. */
int remediate_key_fingerprint(const char *line, size_t len, char *fp, size_t fplen);

/* The command handlers (commands.c's table): remove_persistence,
 * restore_persistence; arguments and outputs in docs/wire.md. */
int remediate_cmd_remove(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);
int remediate_cmd_restore(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);

#endif
