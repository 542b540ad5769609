/*
 * cmd_live.h — what the two halves of `yamori live` share: the session
 * (cmd_live.c: the API of docs/live.md, running a line, following a
 * command, the file transfers) and the prompt (cmd_live_prompt.c: libedit,
 * history, completion). Nothing here outlives one `yamori live` run.
 */
#ifndef YAMORI_CLI_CMD_LIVE_H
#define YAMORI_CLI_CMD_LIVE_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>

#include "cli/client.h"
#include "common/live_grammar.h"

/* One open live response session. */
struct live_cli {
    struct cli_config cfg;
    long long session;           /* the session's id on the server */
    char host[256];              /* the device's name, for the prompt */
    char cwd[LIVE_MAX_PATH + 1]; /* the session's current directory on the device */
    bool json;                   /* --json: print each command's output as JSON */
    bool force;                  /* --force: getfile may replace a local file */
    bool interactive;            /* at the prompt (errors without the "yamori live:" prefix) */
    bool stopped;                /* Ctrl-C stopped a command: a script goes no further */
};

/* live_cli_line()'s answer to `exit` and `quit`. */
#define LIVE_CLI_QUIT 2

/* Set by SIGINT (Ctrl-C): stops the request under way; whoever acts on it
 * clears it. */
extern volatile sig_atomic_t live_cli_interrupted;
/* Set by SIGHUP and SIGTERM (which also set live_cli_interrupted to stop
 * the request under way): the session is closed, which ends its running
 * commands, and the client leaves. */
extern volatile sig_atomic_t live_cli_leaving;

/* Runs one line as a person typed it: the client's own words (exit, quit,
 * cls, fg N, library upload, getfile's download) here, everything else
 * sent to the server, which parses it, and followed to its end, printing
 * what it streams, its progress on a terminal and its result. Ctrl-C
 * cancels the command on the device. Returns 0 when it succeeded, 1 when
 * it failed (the reason printed on stderr), LIVE_CLI_QUIT for exit/quit. */
int live_cli_line(struct live_cli *lv, const char *line);

/* The entries of directory dir on the device (a `dir` command of the
 * session), for completion: a new array of {"name", "dir": bool}, or NULL
 * when the device did not answer within a few seconds or refused. */
json_t *live_cli_list_dir(struct live_cli *lv, const char *dir);

/* The interactive prompt: reads lines with libedit until exit, quit, Ctrl-D
 * or a hang-up, running each with live_cli_line(). History is kept in
 * ~/.yamori/live_history (0600). Returns the exit status (0). */
int live_prompt_run(struct live_cli *lv);

#endif
