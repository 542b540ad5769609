/*
 * story_int.h — what story.c (the tree) and story_words.c (the words)
 * share; private to them.
 *
 * An event read for a story is kept as a compact copy of its row: the
 * values present, with their strings NUL-terminated in one allocation.
 * The words module turns one event, or one command line, into the line a
 * person reads; it never sees the store.
 */
#ifndef YAMORI_SERVER_STORY_INT_H
#define YAMORI_SERVER_STORY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store_events.h"

#define STORY_LINE_MAX 480 /* bytes of one line of text, at most */

struct story_val {
    uint16_t id;
    int64_t i;
    const char *s; /* NUL-terminated copy (the bytes may hold NUL: n counts them) */
    size_t n;
};

struct story_ev {
    unsigned table;    /* one SCHEMA_T_* bit */
    int64_t ts;
    uint64_t seq;
    size_t nv;
    struct story_val *v;
};

/* A copy of row in one allocation (free() it). NULL when out of memory. */
struct story_ev *story_ev_copy(const struct store_event_row *row);

/* The string value of field id, or NULL when absent. */
const char *story_ev_str(const struct story_ev *e, unsigned id);
/* Whether field id is present; its integer value into *out (may be NULL). */
bool story_ev_int(const struct story_ev *e, unsigned id, int64_t *out);
/* Whether the string field id equals s. */
bool story_ev_is(const struct story_ev *e, unsigned id, const char *s);

/* What one event says, for the process that did it. */
struct story_words {
    char text[STORY_LINE_MAX];
    const char *kind;      /* "file", "network", "logon", "device", "process" */
    const char *merge_key; /* FileCreated/FileModified: the path (lines of one path merge); else NULL */
    bool from_content;     /* the text was read from the file's content */
};

/* Describes event e done by the process (InitiatingProcessUniqueId), or,
 * when as_target, done to it (TargetProcessUniqueId). created: an earlier
 * event of this process created the same path (say "created", not
 * "changed"). Returns true when there is something to say. */
bool story_words_event(const struct story_ev *e, bool as_target, bool created, struct story_words *out);

/* What running the command does, when it is one the story explains
 * (systemctl stop, nft flush ruleset, setenforce 0, crontab -r, ...):
 * file_name is the image's file name, cmdline the command line. Returns
 * true and fills out->text. */
bool story_words_command(const char *file_name, const char *cmdline, struct story_words *out);

/* How an ancestry ends at a process with this image file name and pid:
 * "ssh-session", "cron", "init", "service-manager", "container-runtime",
 * "console-login", or NULL when the walk goes on. */
const char *story_words_stop(const char *file_name, uint32_t pid);

/* A command line for one line of text: control bytes as \xNN, runs of
 * blanks as one space, at most max bytes (the middle elided with "…").
 * Returns out. */
char *story_words_shorten(const char *s, size_t max, char *out, size_t outlen);

#endif
