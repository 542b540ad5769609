/*
 * live_int.h — what the live response files share among themselves
 * (private to live.c, live_api.c, live_exec.c, live_stream.c,
 * live_library.c).
 *
 * live.c owns the life cycle of a command once it exists: following the
 * device command or action that carries it, ending it once (live_end),
 * stopping it (cancel, timeout, a closing session), the long polls that
 * wait for it, the sweep. live_exec.c turns a typed line into a command;
 * live_api.c is the people's routes and the JSON of sessions and
 * commands; live_stream.c keeps the output agents stream; live_library.c
 * the library and the file transfers.
 */
#ifndef YAMORI_SERVER_LIVE_INT_H
#define YAMORI_SERVER_LIVE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"
#include "common/live_grammar.h"
#include "server/http.h"
#include "server/store_devices.h"
#include "server/store_live.h"

struct server;

#define LIVE_MAX_WAIT_S 60                  /* ?wait=N */
#define LIVE_CHUNK_MAX (64 * 1024)          /* one streamed chunk from an agent */
#define LIVE_STREAM_ANSWER_MAX (1024 * 1024) /* streamed text in one answer; ask again from "next" */

/* ------------------------------------------------------------ settings */

/* How long a session may stay idle, in ms (live_idle_minutes). */
int64_t live_idle_ms(const struct server *srv);

/* The timeout of command s in seconds: live_long_command_timeout_seconds
 * for the long ones (whose spec allows more than 600 s: getfile,
 * findfile, run and the bridged commands), else
 * live_command_timeout_seconds. */
unsigned live_timeout_s(const struct server *srv, const struct live_spec *s);

/* Whether device d can be reached now: enrolled, and its command poll
 * waits or its last heartbeat is recent (within 3 heartbeat intervals).
 * When it cannot, a sentence saying why goes to why. */
bool live_device_online(struct server *srv, const struct store_device *d, char *why, size_t whylen);

/* ------------------------------------------------------------ life cycle (live.c) */

/* How a command ends. */
struct live_ending {
    enum store_live_state state;
    json_t *output;           /* borrowed; NULL: none */
    const char *text;         /* the text to show instead of rendering output (table form only); NULL: render */
    const char *error;        /* NULL: none */
    int64_t started_ms;       /* 0: as recorded */
    const char *file_sha256;  /* getfile: the file received; NULL: none */
    int64_t file_size;
    const char *cancelled_by; /* who stopped it; NULL: nobody */
};

/* Ends running command c as how says: renders its text, stores it (once:
 * -ESTALE when it had ended already), audits "live.command.end" and
 * answers whoever waits for it. 0, -ESTALE, -EIO. */
int live_end(struct server *srv, const struct store_live_command *c, const struct live_ending *how);

/* Brings running command id up to date with what carries it (its device
 * command, its action) and with the clock (its deadline). */
void live_follow(struct server *srv, int64_t id);

/* Stops running command id: state LIVE_CANCELLED (by who, a person; NULL:
 * the server) or LIVE_TIMED_OUT, with why as its error. A device command
 * not yet fetched is withdrawn, one running is asked to stop (the agent
 * learns it in its next progress or output answer); an action is asked
 * to stop when a person cancels (a closing session or a timeout leaves it
 * to the action center). 0, -ESTALE (it had ended), -ENOENT, -EIO. */
int live_stop(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id,
              enum store_live_state state, const char *why);

/* Closes open session id (by who; NULL: the server) for reason, and
 * cancels its running commands; audited "live.session.close". 0,
 * -ESTALE (closed already), -EIO. */
int live_close(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id,
               const char *reason);

/* Answers every long poll waiting for command id whose wait is over: the
 * command ended, streamed output past the poll's offset arrived, or the
 * poll's time is up. */
void live_wake(struct server *srv, int64_t command_id);

/* Suspends the request until command id ends, streamed output past
 * offset arrives, or wait_s seconds pass; then answers `status` with
 * {"command": {...}} (streamed text from offset). Returns false when it
 * could not wait (answer at once). */
bool live_wait(struct http_request *rq, struct http_response *rs, int64_t id, int64_t offset, unsigned wait_s,
               unsigned status);

/* Writes an audit entry verb on target "live_session:<session>" with a
 * JSON detail object made of the NULL-terminated key, value string pairs
 * (a NULL value is left out) plus "command" when command_id is set. */
void live_audit(struct server *srv, const struct principal *who, const char *remote_ip, const char *verb,
                int64_t session_id, int64_t command_id, ...) __attribute__((sentinel));

/* ------------------------------------------------------------ JSON (live_api.c) */

/* {"id", "session", "line", ...} of docs/live.md, with streamed text from
 * offset (at most LIVE_STREAM_ANSWER_MAX bytes). */
void live_write_command(struct server *srv, struct jsonw *w, const struct store_live_command *c, int64_t offset);

/* "HH:MM:SS UTC" of a time in ms (for sentences). */
void live_clock(int64_t ms, char *out, size_t outlen);

/* "YYYY-MM-DD HH:MM:SS" (UTC) of a time in ms (for table cells). */
void live_time_text(int64_t ms, char *out, size_t outlen);

/* "3 min", "40 s", "2 h" */
void live_duration(int64_t ms, char *out, size_t outlen);

/* ------------------------------------------------------------ running a line (live_exec.c) */

/* Parses line in open session s (held by the caller), checks the
 * caller's role, records the command and starts it: answered by the
 * server at once, bridged to an action, or queued for the device as a
 * `live` command. On success sets *id and returns 0; otherwise the error
 * is answered in rs (400 parse error with usage, 403 role, 404 no such
 * library file, or the status of a failed start) and a negative status
 * returned. */
int live_exec(struct http_request *rq, struct http_response *rs, const struct store_live_session *s, const char *line,
              int64_t *id);

/* ------------------------------------------------------------ streamed output (live_stream.c) */

/* Up to max bytes of command id's streamed output from offset into a
 * malloc'd buffer (*len may be 0; no output yet is not an error). 0 or
 * -errno. */
int live_stream_read(struct server *srv, int64_t id, int64_t offset, size_t max, char **buf, size_t *len);

/* Where command id's streamed output is kept. */
void live_stream_path(const struct server *srv, int64_t id, char *out, size_t outlen);

/* POST /api/v1/agent/commands/:id/output?seq=N (a route of live_library.c's module). */
void live_stream_post(struct http_request *rq, struct http_response *rs);

/* ------------------------------------------------------------ library, files (live_library.c) */

/* The library file name (fills *f): 0, -ENOENT (also for a name that is
 * not a library file name), -EIO. */
int live_library_find(struct server *srv, const char *name, struct store_live_file *f);

/* Deletes library file name on behalf of who (audited). 0, -ENOENT,
 * -EIO. */
int live_library_delete(struct server *srv, const struct principal *who, const char *remote_ip, const char *name);

/* Checks the file that getfile device command device_command_id uploaded
 * against what the agent says it sent ({"sha256", "size"} in output):
 * 0 with its SHA-256 and size, or -errno with a sentence. */
int live_getfile_check(struct server *srv, int64_t device_command_id, json_t *output, char sha256[65], int64_t *size,
                       char *err, size_t errlen);

/* ------------------------------------------------------------ routes */

extern const struct route live_routes[];          /* live_api.c: sessions and commands */
extern const struct route live_transfer_routes[]; /* live_library.c: library, files, agent fetch and output */

#endif
