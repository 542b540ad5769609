/*
 * story_print.h — the alert story (docs/api.md, "Process story") as a tree
 * in the terminal, for `yamori device story` and `yamori alert show`.
 *
 *   sshd  pid 2005  root  2025-11-26 10:10:00
 *   │ $ sshd: root@pts/0
 *   │ • accepted an SSH login as root from 203.0.113.10 (password)
 *   └─ bash  pid 2006  root  2025-11-26 10:10:00
 *      ├─ ls  pid 2050  root  2025-11-26 10:10:01  exited 0
 *      └─ bash  pid 2100  root  2025-11-26 10:10:02  ◀ this process
 *           $ bash /tmp/awsd_attack.sh /tmp/runtime_payload 203.0.113.10 4444
 *           • created /etc/cron.d/awsd, a cron entry that runs ...
 *           ⚠ alert 7, high: Persistence through a cron entry
 *
 * Every string of a story comes from an agent: control characters
 * (C0, DEL and C1) are printed as \xNN, never sent to the terminal.
 */
#ifndef YAMORI_CLI_STORY_PRINT_H
#define YAMORI_CLI_STORY_PRINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct story_print_options {
    unsigned width;   /* columns to fit command lines in; 0: $COLUMNS or the terminal's, else 100 */
    bool no_header;   /* leave out the lines about the story itself (where it starts, what was cut) */
};

/* Prints the story object (as GET /api/v1/devices/{id}/story answers it,
 * or the "story" member of an alert) to f. opt may be NULL. Returns 0, or
 * -1 when story is not a story object (nothing printed). */
int story_print(FILE *f, json_t *story, const struct story_print_options *opt);

#endif
