/*
 * commands.h — the agent's side of the command channel (docs/wire.md,
 * "Commands"): a thread long-polls GET /api/v1/agent/commands?wait=30,
 * runs each command at most once (by id: a journal in the state directory
 * remembers which ids were started and which were answered, across
 * restarts) and posts its result.
 *
 * Command types plug in through the table in commands.c (type -> handler,
 * and whether the type is long). Short commands (isolate, release,
 * kill_process, ...) run on the command thread as soon as they arrive;
 * long ones (scan, collect, live) run on a small pool of worker threads
 * (COMMANDS_LONG_WORKERS at once, the others wait in a queue of 32), so a
 * long scan never delays an isolation or a live response command. `ping` answers the agent's version and time. A type the table does not
 * know gets a failed result saying this agent version does not support it.
 * A command that was started but whose result was never posted (the agent
 * stopped in between) is not run again: it gets a failed result saying so.
 * Before a command runs the server is told it started (which also tells
 * the agent when it was cancelled meanwhile); long handlers report their
 * progress with command_progress() and look at command_cancelled().
 */
#ifndef YAMORI_AGENT_COMMANDS_H
#define YAMORI_AGENT_COMMANDS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"

struct channel;
struct json_t;

struct commands;
struct command_stream;

#define COMMANDS_LONG_WORKERS 4           /* long commands running at once */
#define COMMAND_OUTPUT_CHUNK (64u << 10)  /* at most this much text per output request */
#define COMMAND_OUTPUT_UNSENT (1u << 20)  /* command_output waits while this much is unsent */

/* One command as the server sent it (valid during the handler's call). */
struct command {
    int64_t id;
    const char *type;
    struct json_t *args;    /* an object (empty when none was given) */
    struct commands *owner; /* the command thread running it; NULL when run outside it (tests) */
    /* Set to 1 (from another thread) as soon as the server asks to stop
     * the command or the agent stops, so a handler can hand it to code that
     * polls a flag (the scanner); NULL when run outside the command thread. */
    atomic_int *cancel;
    /* Where command_output queues its text; NULL when run outside the
     * command thread. */
    struct command_stream *stream;
};

/* Reports the progress of a long command to the server (docs/wire.md,
 * "Progress"): json_object_text is one JSON object such as
 * {"files": 120, "bytes": 5242880, "percent": 12.5, "message": "/usr/lib"}
 * (at most 4 KiB; "files", "bytes": counts, "percent": 0..100, "message":
 * text; other members are kept as they are). Handlers may call it as often
 * as they like from the thread running cmd: it never blocks on the
 * network — the newest report of each running command is handed to a
 * sender thread that posts about one per command per second (older unsent
 * ones are dropped), best effort. A
 * malformed report is dropped with a warning. Does nothing when cmd runs
 * outside the command thread. */
void command_progress(const struct command *cmd, const char *json_object_text);

/* Whether the server asked to stop cmd (a person cancelled its action), or
 * the agent is stopping. Learnt from the answers to progress reports (and
 * output requests), so a long handler calls command_progress() now and
 * then and stops, returning -ECANCELED (or its partial output), when this
 * turns true. Also true once cmd->cancel was set (tests set it on a bare
 * command). Never waits on the network; callable from any thread. */
bool command_cancelled(const struct command *cmd);

/* Sends len bytes of text the command produced as it goes (live
 * response's findfile and run; docs/live.md): queued in order and posted
 * by a sender thread of the command as POST
 * /api/v1/agent/commands/<id>/output?seq=N (N from 0, chunks of at most
 * COMMAND_OUTPUT_CHUNK bytes). Never dropped: a chunk the server did not
 * take is sent again (same seq, same bytes) until it does; the caller waits
 * while COMMAND_OUTPUT_UNSENT bytes are unsent. Everything queued is sent
 * before the command's result. Returns 0; -ECANCELED when the command was
 * cancelled (the answers to output requests say so too) or the agent
 * stops; -EPIPE when the server refused the output for good (a 4xx, e.g.
 * the command no longer runs there: logged with its message). Does
 * nothing (returns 0) when cmd runs outside the command thread. Call it
 * from the thread running cmd. */
int command_output(const struct command *cmd, const void *data, size_t len);

/* Runs cmd and writes its output (one JSON value) into out. Returns 0 when
 * it succeeded, or -errno with a message for a person in err. */
typedef int (*command_fn)(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);

/* One line of the table. A long handler (long_running) runs on a worker
 * thread, concurrently with other commands: it must be thread-safe, and
 * touch the server only through command_progress()/command_cancelled()
 * (when the agent stops it is cancelled and, if it has not returned within
 * the stop's bound, left to end with the process). */
struct command_handler {
    const char *type;
    command_fn run;
    bool long_running; /* false (the default of a line that omits it): run on the command thread */
};

/* The handler of a command type, or NULL. */
const struct command_handler *commands_handler(const char *type);

/* Runs cmd through the table and writes the result body of docs/wire.md
 * ({"status", "output", "error"}) into result. */
void commands_execute(const struct command *cmd, struct jsonw *result);

/* The journal of command ids: which were started, which were answered.
 * Not thread-safe by itself: the command thread and its workers share it
 * under a lock of theirs. */
enum command_state { COMMAND_NEW, COMMAND_STARTED, COMMAND_DONE };
struct command_journal;

/* Opens (creating) the journal file at path and reads it; malformed lines
 * are skipped. Returns 0 or -errno with err. */
int command_journal_open(struct command_journal **out, const char *path, char *err, size_t errlen);
void command_journal_free(struct command_journal *j);
enum command_state command_journal_state(const struct command_journal *j, int64_t id);
/* Records a state durably (appended and synced; the file is compacted to
 * the newest ids when it grows). Returns 0 or -errno. */
int command_journal_mark(struct command_journal *j, int64_t id, enum command_state st);

/* Starts the thread; the journal lives at <state_dir>/commands.journal.
 * The channel must outlive it. Returns 0 or -errno with err. */
int commands_start(struct commands **out, struct channel *c, const char *state_dir, char *err, size_t errlen);

/* Stops the command thread and the workers and frees them. Running long
 * commands are cancelled and waited for (20 s at most; one still running
 * then is left to end with the process and never touches the channel
 * again). A long command whose result was not posted is marked started in
 * the journal, so it is answered "not run again" after a restart; one that
 * was still waiting for a worker was never started and runs after a
 * restart. Stops the channel itself. Accepts NULL. */
void commands_stop(struct commands *cm);

#endif
