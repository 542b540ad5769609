/*
 * autostart.h — every place a Linux host starts something by itself, as
 * one list of entries (DESIGN.md, "Linux names for Defender's Windows
 * concepts": scheduled task, service, startup folder, driver autoload).
 *
 * One enumeration serves three callers: the live commands
 * `scheduledtasks` (the scheduled entries) and `persistence` (all of
 * them), and `analyze` ("which entries start this file", by target).
 * Each entry says where it is, what it runs, as whom and when, and —
 * when remove_persistence can remove it — the exact arguments that remove
 * this entry and nothing else (docs/wire.md, "remove_persistence").
 *
 * Locations read (each under `root`, "" for the machine itself):
 *   cron          /etc/crontab, the files of /etc/cron.d and
 *                 /var/spool/cron/crontabs, the scripts of
 *                 /etc/cron.{hourly,daily,weekly,monthly} (names as
 *                 run-parts takes them: letters, digits, _ and -)
 *   systemd timer enabled .timer units (symlinked into a .wants/,
 *                 .requires/ or .upholds/ directory)
 *   at job        the jobs of /var/spool/cron/atjobs
 *   systemd unit  other enabled .service, .socket and .path units, in
 *                 /etc/systemd/system, /run/systemd/system,
 *                 /usr/local/lib/systemd/system, /usr/lib/systemd/system,
 *                 /lib/systemd/system (unitfiles.h)
 *   rc.local      the command lines of /etc/rc.local
 *   init script   the scripts of /etc/init.d linked as S?? from /etc/rc?.d
 *   profile.d     the files of /etc/profile.d
 *   shell rc      the command lines of /etc/profile, /etc/bash.bashrc,
 *                 /etc/zsh/zshrc, and of .bashrc, .profile, .bash_profile,
 *                 .bash_login, .bash_logout, .zshrc in /root and /home/USER
 *   xdg autostart the .desktop files of /etc/xdg/autostart and
 *                 ~/.config/autostart (not Hidden=true)
 *   authorized_keys  the keys of ~/.ssh/authorized_keys(2) of /root and
 *                 /home/USER
 *   ld.so.preload the lines of /etc/ld.so.preload
 *   kernel module autoload  the lines of /etc/modules and
 *                 /etc/modules-load.d/NAME.conf
 *   udev rule     the rules with RUN+= (or RUN=, RUN{program}) of the
 *                 files of /etc/udev/rules.d, /run/udev/rules.d,
 *                 /usr/lib/udev/rules.d, /lib/udev/rules.d
 * A "command line" of a shell file is a line that is not blank, not a
 * comment, and not only shell structure (fi, done, esac, then, else, do,
 * {, }, ;;, exit [N]).
 *
 * Ids (short, stable while the files do not change, unique, typable;
 * N is a line number, K an ordinal):
 *   a file of /etc/cron.d with one entry  its name ("awsd")
 *   ... with several entries         "awsd:K" (the K-th entry of the file)
 *   /etc/crontab line                "crontab:N"
 *   user crontab line                "crontab-USER:N"
 *   cron.hourly, ... script          "cron.daily/NAME"
 *   systemd unit or timer            the unit name ("awsd.timer")
 *   at job                           "at-JOB" (the job number atq shows)
 *   line files: rc.local, shell rc, ld.so.preload, authorized_keys,
 *   /etc/modules                     "<short-file-name>:N", a file in a
 *                                    home prefixed with its user
 *                                    ("rc.local:3", "bash.bashrc:12",
 *                                    "root-authorized_keys:2",
 *                                    "alice-.bashrc:7", "modules:4")
 *   modules-load.d file line         "modules-load.d/NAME.conf:N"
 *   profile.d file                   "profile.d/NAME"
 *   init script                      "init.d/NAME"
 *   xdg autostart                    "xdg/NAME.desktop", "xdg-USER/NAME.desktop"
 *   udev rule                        "udev/FILE:N"
 * Should two entries still get the same id, the later gets "~2", "~3".
 *
 * Removal (remove_kind, remove_path, remove_match):
 *   cron.d file with one entry, cron.X script   cron_file, the file
 *   any other cron line                         cron_line, the file, the line
 *   systemd unit or timer                       systemd_unit, no path (its file
 *                                               in every unit directory and
 *                                               every link enabling it), the name
 *   rc.local line                               rc_local_line, /etc/rc.local, the line
 *   shell rc line                               shell_rc_line, the file, the line
 *   profile.d file                              profile_d_file, the file
 *   authorized_keys line                        authorized_keys_line, the file, the line
 *   ld.so.preload line                          ld_preload_line, the file, the line
 *   at job, init script, xdg, module, udev      none (kind NULL)
 * A line kind removes every line equal to the match: two identical lines
 * of one file go together. Nothing is removable when the file is not a
 * regular file (a symlink: remove_persistence refuses those).
 *
 * Unreadable or vanished files are skipped. Bounded: at most
 * AUTOSTART_MAX_ENTRIES entries, a line at most
 * AUTOSTART_MAX_LINE bytes (longer lines are skipped), a file at most
 * AUTOSTART_MAX_FILE bytes read.
 */
#ifndef YAMORI_AGENT_AUTOSTART_H
#define YAMORI_AGENT_AUTOSTART_H

#include <stdbool.h>
#include <stddef.h>

#define AUTOSTART_MAX_ENTRIES 10000
#define AUTOSTART_MAX_LINE 4096
#define AUTOSTART_MAX_FILE (1u << 20)

struct autostart_entry {
    char *id;             /* see the scheme above */
    const char *category; /* "cron", "systemd timer", "at job", "systemd unit", "rc.local",
                           * "profile.d", "shell rc", "xdg autostart", "authorized_keys",
                           * "ld.so.preload", "kernel module autoload", "udev rule",
                           * "init script" (static strings) */
    bool scheduled;       /* a scheduled task: cron, systemd timer, at job */
    char *source;         /* the file it is in, as on the machine (without root) */
    int line;             /* its line in source, or 0 (a whole file or unit) */
    char *user;           /* runs as, or NULL when unknown */
    char *schedule;       /* "@reboot", "0 3 * * *", "OnCalendar=daily", the at job's time,
                           * "daily" (cron.daily), or NULL */
    char *command;        /* what it runs: the command, ExecStart=, the key line, the module */
    char *target;         /* the absolute path of the executable it runs when one can be read
                           * from command (for analyze), else NULL */
    char *remove_kind;    /* remove_persistence arguments removing exactly this entry */
    char *remove_path;    /*   (docs/wire.md); kind NULL when it cannot be removed that way */
    char *remove_match;   /*   NULL for the file kinds */
};

/* Lists every autostart entry found under root ("" or NULL for the
 * machine; a directory prefix in tests) into *out (*n entries, ordered by
 * location, then file, then line; owned by the caller: autostart_free).
 * *n == AUTOSTART_MAX_ENTRIES means the list was cut there. Missing or
 * unreadable locations are not errors. Returns 0, or -ENOMEM / -EINVAL
 * (root not a directory) with err. */
int autostart_list(struct autostart_entry **out, size_t *n, const char *root, char *err, size_t errlen);

/* Frees n entries and the array; NULL is fine. */
void autostart_free(struct autostart_entry *e, size_t n);

/* The entry whose id is id, or NULL. */
const struct autostart_entry *autostart_find(const struct autostart_entry *e, size_t n, const char *id);

#endif
