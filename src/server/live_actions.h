/*
 * live_actions.h — where live response meets the rest of the server
 * (docs/live.md, "Pieces: bridges").
 *
 * The commands that change a device (`remediate`, `undo`, `isolate`,
 * `release`, `scan`, `collect`) are not run by the live session itself:
 * each becomes an action of the action center (actions.h), requested by
 * the person in the session, so it is approved, tracked, audited and
 * undone like any other action, and the action center lists it. The
 * session's command then follows its action until it ends.
 *
 * `analyze` and `fileinfo` answers from the agent are completed with what
 * only the server knows: who created the file (stored events), the alerts
 * that involve it, when the fleet first saw its hash; the verdict is then
 * recomputed from every reason.
 */
#ifndef YAMORI_SERVER_LIVE_ACTIONS_H
#define YAMORI_SERVER_LIVE_ACTIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct principal;

/* Whether command (a spec name) is one of the bridged commands above. */
bool live_actions_bridged(const char *command);

/* Starts the bridged command (its parsed args, live_grammar.h) on
 * device_id for who, with session_id and the command's number in the
 * action's comment ("live response session 12, command 3: <comment>").
 * Sets *action_id. Returns 0, or a negative HTTP status with a sentence
 * for a person in err (-400 bad target, -404 nothing to undo, -409 the
 * device is offboarded or the action cannot be undone, -500); nothing is
 * created on error. */
int live_actions_start(struct server *srv, const struct principal *who, const char *remote_ip, const char *device_id,
                       int64_t session_id, int64_t command_no, const char *command, json_t *args,
                       int64_t *action_id, char *err, size_t errlen);

/* Where action_id stands. Sets *ended (a final state), *succeeded, and
 * *text to a new reference of what the live command should show: the
 * action's state, id, result or error, as an object (the caller owns it).
 * Returns 0, or -ENOENT / -EIO. */
int live_actions_poll(struct server *srv, int64_t action_id, bool *ended, bool *succeeded, json_t **output);

/* Completes an agent's `analyze` or `fileinfo` output (an object, changed
 * in place) for device_id with the server's reasons and facts; other
 * commands are left alone. Never fails the command: a store error adds a
 * line saying what could not be checked. */
void live_actions_enrich(struct server *srv, const char *device_id, const char *command, json_t *args,
                         json_t *output);

/* The SHA-256 alert indicators to hand to the agent's `analyze` (a new
 * array reference; an empty array when there are none or on error). */
json_t *live_actions_indicators(struct server *srv);

#endif
