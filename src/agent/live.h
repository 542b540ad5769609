/*
 * live.h — the agent's side of live response (docs/live.md): the device
 * command `live` and one function per live command.
 *
 * live_command() is the command handler (commands.c's table, a long
 * command on a worker): it checks the arguments again with the shared
 * grammar (live_args_check), then calls the command's function. Each
 * function reads only its arguments, never a shell, and writes its data
 * as one JSON object into out — tables as {"columns": [...], "rows":
 * [...], "truncated": bool, ...}, other results as plain members
 * (docs/live.md, "Agent side"). Functions that take long look at
 * command_cancelled(call->cmd) between units of work and return
 * -ECANCELED; streaming ones also send text with command_output().
 */
#ifndef YAMORI_AGENT_LIVE_H
#define YAMORI_AGENT_LIVE_H

#include <jansson.h>
#include <stddef.h>

#include "common/jsonw.h"

struct command;
struct channel;

/* One live command to run. */
struct live_call {
    const struct command *cmd; /* for progress, output, cancel; may be a bare command in tests */
    const char *cwd;           /* the session's directory (absolute) */
    json_t *args;              /* the command's arguments, checked */
    json_t *indicators;        /* analyze: SHA-256 indicator strings, or NULL */
};

/* Returns 0 with out filled, or -errno with a sentence for a person. */
typedef int (*live_fn)(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);

/* The handler of the `live` device command. */
int live_command(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);

/* The channel getfile, putfile and run talk to the server over; set by the
 * agent at start (NULL: those commands fail saying there is no channel). */
void live_set_channel(struct channel *c);

/* Files and directories (live_files.c). */
int live_cd(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_dir(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_fileinfo(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_findfile(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
/* Verdicts (live_analyze.c). */
int live_analyze(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
/* Transfers and scripts (live_transfer.c). */
int live_getfile(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_putfile(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_run(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
/* The machine's inventory (live_inventory.c, live_tasks.c). */
int live_processes(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_connections(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_services(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_drivers(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_scheduledtasks(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);
int live_persistence(const struct live_call *call, struct jsonw *out, char *err, size_t errlen);

#endif
