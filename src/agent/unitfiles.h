/*
 * unitfiles.h — the systemd unit files of a machine, read as files: which
 * units exist, which file is in effect for each, whether they are enabled,
 * and the settings a responder looks at first.
 *
 * No service manager is asked (PID 1 may not be systemd, and the live
 * commands must work without it): a unit is "enabled" when a symlink of
 * its name sits in a .wants/, .requires/ or .upholds/ directory of a unit
 * directory, "masked" when its file is a link to /dev/null (or empty),
 * "alias" when its file is a symlink to another unit's file, "static" when
 * it has no [Install] section to enable it by, "disabled" otherwise.
 *
 * Unit directories, highest precedence first (a name found in an earlier
 * one hides the later ones; directories that are the same one, as /lib and
 * /usr/lib on a merged /usr, are read once): /etc/systemd/system,
 * /run/systemd/system, /usr/local/lib/systemd/system,
 * /usr/lib/systemd/system, /lib/systemd/system. Drop-ins (NAME.d/X.conf,
 * and TEMPLATE@.d for an instance) are applied in file-name order.
 * Enabled instances of templates ("getty@tty1.service") are units of their
 * own, read from the template's file.
 */
#ifndef YAMORI_AGENT_UNITFILES_H
#define YAMORI_AGENT_UNITFILES_H

#include <stddef.h>

#define UNITFILES_MAX 20000

struct unitfile {
    char *name;          /* "awsd.service", "getty@tty1.service" */
    char *path;          /* the file in effect, as on the machine (root not included) */
    const char *state;   /* "enabled", "disabled", "static", "masked", "alias" (static strings) */
    char *wanted_by;     /* enabled: the first directory linking it ("multi-user.target.wants"),
                          * else NULL */
    char *alias_of;      /* alias: the unit it names, else NULL */
    char *description;   /* Description=, or NULL */
    char *exec_start;    /* the ExecStart= in effect (the first after the last reset), or NULL */
    char *user;          /* User=, or NULL (root) */
    char *schedule;      /* timers: the On*= settings ("OnCalendar=daily, OnBootSec=5min"), else NULL */
    char *triggers;      /* timers, sockets, paths: the unit started (Unit=, or NAME.service),
                          * else NULL */
};

/* Reads the units under root ("" or NULL: the machine) whose names end in
 * suffix (".service"; NULL: every unit) into *out (*n, sorted by name,
 * at most UNITFILES_MAX), to free with unitfiles_free. Missing directories
 * and unreadable files are skipped. Returns 0, or -ENOMEM with err. */
int unitfiles_list(const char *root, const char *suffix, struct unitfile **out, size_t *n, char *err,
                   size_t errlen);
void unitfiles_free(struct unitfile *v, size_t n);

/* The unit named name of a sorted list, or NULL. */
const struct unitfile *unitfiles_find(const struct unitfile *v, size_t n, const char *name);

#endif
