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
 *   cron          /etc/crontab, /etc/cron.d/*, /var/spool/cron/crontabs/*,
 *                 /etc/cron.{hourly,daily,weekly,monthly}/* scripts
 *   systemd timer enabled .timer units (symlinked into a .wants/,
 *                 .requires/ or .upholds/ directory)
 *   at job        /var/spool/cron/atjobs/*
 *   systemd unit  other enabled units, in /etc/systemd/system,
 *                 /run/systemd/system, /usr/local/lib/systemd/system,
 *                 /usr/lib/systemd/system, /lib/systemd/system
 *   rc.local      /etc/rc.local
 *   init script   /etc/init.d/* scripts linked as S* from /etc/rc?.d
 *   profile.d     /etc/profile.d/*
 *   shell rc      /etc/profile, /etc/bash.bashrc, /etc/zsh/zshrc, and the
 *                 rc files of /root and /home/USER
 *   xdg autostart /etc/xdg/autostart/*.desktop, ~/.config/autostart/*.desktop
 *   authorized_keys  ~/.ssh/authorized_keys(2) of /root and /home/USER
 *   ld.so.preload /etc/ld.so.preload
 *   kernel module autoload  /etc/modules, /etc/modules-load.d/*.conf
 *   udev rule     /etc/udev/rules.d, /run/udev/rules.d, /lib/udev/rules.d,
 *                 /usr/lib/udev/rules.d rules with RUN+= or RUN=
 *
 * Ids (short, stable while the files do not change, unique, typable):
 *   a cron.d / cron.X / profile.d-like file holding one entry  its name
 *                                    ("awsd"); several: "awsd:2" (ordinal)
 *   /etc/crontab line                "crontab:N"  (N: line number)
 *   user crontab                     "crontab-USER:N"
 *   systemd unit or timer            the unit name ("awsd.timer")
 *   at job                           "at-JOBFILE"
 *   line files (rc.local, shell rc, ld.so.preload, authorized_keys,
 *   modules)                         "<short-file-name>:N", the short name
 *                                    prefixed with the user for a home
 *                                    file ("rc.local:3",
 *                                    "root-authorized_keys:2",
 *                                    "alice-.bashrc:7")
 *   profile.d file                   "profile.d/NAME"
 *   init script                      "init.d/NAME"
 *   xdg autostart                    "xdg/NAME.desktop", "xdg-USER/NAME.desktop"
 *   udev rule                        "udev/FILE:N"
 * Should two entries still get the same id, the later gets "~2", "~3".
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
