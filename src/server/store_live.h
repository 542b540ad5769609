/*
 * store_live.h — what the store keeps of live response (docs/live.md):
 * sessions (who holds which device, since when, the current directory,
 * how each ended), the command log (every line a person ran in a session,
 * with its state, times, output, rendered text, error, the device command
 * or action carrying it, the file a getfile brought back, how much
 * streamed output arrived) and the library of files putfile and run hand
 * to devices.
 *
 * Owned by the live modules (src/server/live*.c); implemented for SQLite
 * in store_sqlite_live.c. A device has at most one open session: the
 * store refuses a second (-EEXIST), so two people racing for a device
 * never both get it. A command leaves `running` once: store_live_command_
 * finish names the state it expects, so the result hook, the sweep and a
 * cancel racing each other end a command exactly once. Times are
 * milliseconds since the epoch from store_now_ms(); 0 means "not yet".
 */
#ifndef YAMORI_SERVER_STORE_LIVE_H
#define YAMORI_SERVER_STORE_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store_devices.h"

struct store;

#define STORE_LIVE_USER_MAX 63
#define STORE_LIVE_NAME_MAX 128 /* a library file name (live_grammar.h, LIVE_MAX_NAME) */

/* ------------------------------------------------------------ sessions */

struct store_live_session {
    int64_t id;
    char device_id[STORE_DEVICE_ID_LEN + 1];
    char user_name[STORE_LIVE_USER_MAX + 1]; /* who holds it */
    char *cwd;                               /* owned; absolute, normalised */
    int64_t opened_ms;
    int64_t active_ms;                       /* the holder's last request */
    int64_t closed_ms;                       /* 0: open */
    char closed_by[STORE_LIVE_USER_MAX + 1]; /* a person, or "server" (idle, offboarded) */
    char *close_reason;                      /* owned; "" while open */
};

void store_live_session_clear(struct store_live_session *s);
void store_live_sessions_free(struct store_live_session *v, size_t n);

/* Opens a session of user_name on device_id at now with cwd. Sets *id.
 * -EEXIST when the device has an open session already (nothing changes),
 * -EIO. */
int store_live_session_open(struct store *st, const char *device_id, const char *user_name, const char *cwd,
                            int64_t now_ms, int64_t *id);

/* One session. 0, -ENOENT, -EIO; the caller clears *out. */
int store_live_session_get(struct store *st, int64_t id, struct store_live_session *out);

/* The open session of device_id. 0, -ENOENT, -EIO. */
int store_live_session_open_of(struct store *st, const char *device_id, struct store_live_session *out);

/* Sessions, newest first, at most limit: the open ones only, or all.
 * The array is malloc'd (store_live_sessions_free). */
int store_live_session_list(struct store *st, bool open_only, size_t limit, struct store_live_session **out,
                            size_t *n);

/* Records activity of an open session at now (not earlier than what is
 * stored). 0, -ESTALE when it is closed, -EIO. */
int store_live_session_touch(struct store *st, int64_t id, int64_t now_ms);

/* Sets the current directory of an open session. 0, -ESTALE, -EIO. */
int store_live_session_set_cwd(struct store *st, int64_t id, const char *cwd);

/* Closes an open session. 0, -ESTALE when it was closed already, -EIO. */
int store_live_session_close(struct store *st, int64_t id, int64_t now_ms, const char *closed_by, const char *reason);

/* The ids of open sessions whose last activity is before before_ms and
 * that have no running command (malloc'd; free()). */
int store_live_session_idle(struct store *st, int64_t before_ms, int64_t **ids, size_t *n);

/* ------------------------------------------------------------ commands */

enum store_live_state {
    LIVE_RUNNING = 1,
    LIVE_SUCCEEDED,
    LIVE_FAILED,
    LIVE_CANCELLED,
    LIVE_TIMED_OUT,
};

/* "running", "succeeded", "failed", "cancelled", "timed out". */
const char *store_live_state_name(enum store_live_state s);
/* The state named by text, or 0. */
enum store_live_state store_live_state_from_name(const char *text);

struct store_live_command {
    int64_t id;
    int64_t session_id;
    char device_id[STORE_DEVICE_ID_LEN + 1];
    char user_name[STORE_LIVE_USER_MAX + 1];
    char *line;                 /* owned; what the person typed */
    char name[33];              /* the command ("dir") */
    char *args_json;            /* owned; the parsed arguments, a JSON object */
    bool json_output;           /* -output json (else table) */
    bool background;            /* ended with & (and not brought to the foreground) */
    enum store_live_state state;
    int64_t created_ms, started_ms, ended_ms;
    int64_t deadline_ms;        /* it times out then; 0: never */
    int64_t device_command_id;  /* the `live` device command carrying it; 0 none */
    int64_t action_id;          /* the action of a bridged command; 0 none */
    char *output_json;          /* owned; NULL until it ended (and when it has none) */
    char *text;                 /* owned; the rendered output, NULL until it ended */
    char *error;                /* owned; NULL when none */
    char file_sha256[65];       /* getfile: the file received ("" none) */
    int64_t file_size;
    int64_t stream_seq;         /* the next streamed chunk expected */
    int64_t stream_bytes;       /* streamed output kept */
    int64_t stream_dropped;     /* streamed output beyond the limit, not kept */
    int64_t cancel_ms;          /* cancelling was asked for */
    char cancelled_by[STORE_LIVE_USER_MAX + 1];
};

void store_live_command_clear(struct store_live_command *c);
void store_live_commands_free(struct store_live_command *v, size_t n);

/* Inserts c (its id ignored; state running unless c says otherwise) and
 * sets *id. 0, -EIO. */
int store_live_command_create(struct store *st, const struct store_live_command *c, int64_t *id);

/* One command. 0, -ENOENT, -EIO; the caller clears *out. */
int store_live_command_get(struct store *st, int64_t id, struct store_live_command *out);

/* The command a `live` device command carries. 0, -ENOENT, -EIO. */
int store_live_command_by_device_command(struct store *st, int64_t device_command_id, struct store_live_command *out);

/* Commands of session_id, newest first, at most limit (running_only:
 * those still running). session_id 0: every session's running commands
 * (the sweep). The array is malloc'd (store_live_commands_free). */
int store_live_command_list(struct store *st, int64_t session_id, bool running_only, size_t limit,
                            struct store_live_command **out, size_t *n);

/* Records what carries a running command: its device command and its
 * action (0 leaves either as it is). 0, -ESTALE when it is not running,
 * -EIO. */
int store_live_command_link(struct store *st, int64_t id, int64_t device_command_id, int64_t action_id);

/* Sets whether a running command is in the background. 0, -ESTALE, -EIO. */
int store_live_command_set_background(struct store *st, int64_t id, bool background);

/* Records that cancelling a running command was asked for by who. 0,
 * -ESTALE (not running), -EIO. */
int store_live_command_cancel_request(struct store *st, int64_t id, int64_t now_ms, const char *who);

/* Ends running command c->id: writes state, started_ms, ended_ms, output,
 * text, error and the file fields of c. 0, -ESTALE when it had ended
 * already (nothing changes), -EIO. */
int store_live_command_finish(struct store *st, const struct store_live_command *c);

/* Accounts a streamed chunk of a running command: when its next expected
 * chunk is still seq, moves it on by one and adds kept and dropped
 * bytes. 0, -ESTALE (another chunk, or not running), -EIO. */
int store_live_command_stream(struct store *st, int64_t id, int64_t seq, int64_t kept, int64_t dropped);

/* ------------------------------------------------------------ library */

struct store_live_file {
    char name[STORE_LIVE_NAME_MAX + 1];
    char sha256[65];
    int64_t size;
    char uploaded_by[STORE_LIVE_USER_MAX + 1];
    int64_t uploaded_ms;
};

/* Records (or replaces) a library file. 0, -EIO. */
int store_live_library_put(struct store *st, const struct store_live_file *f);

/* One library file. 0, -ENOENT, -EIO. */
int store_live_library_get(struct store *st, const char *name, struct store_live_file *out);

/* Every library file by name (malloc'd; free()). */
int store_live_library_list(struct store *st, struct store_live_file **out, size_t *n);

/* Forgets a library file. 0, -ENOENT, -EIO. */
int store_live_library_delete(struct store *st, const char *name);

#endif
