/*
 * actions_int.h — what the action center's files share among themselves
 * (private to actions.c, actions_api.c, actions_types.c).
 */
#ifndef YAMORI_SERVER_ACTIONS_INT_H
#define YAMORI_SERVER_ACTIONS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "server/http.h"

struct server;

/* The routes of docs/api.md "Actions" (actions_api.c). */
extern const struct route actions_routes[];

/* Whether s may be an action's or a decision's comment: NULL, "", or text
 * of at most 1000 bytes without control characters. */
bool actions_valid_comment(const char *s);

/* Queues the command of queued action id when it has none yet (under the
 * dispatch lock); a device that is gone or offboarded fails the action,
 * a full queue or a store error leaves it for the sweep. */
void actions_dispatch(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id);

/* Ends action id expired when it is pending approval, or queued and its
 * command (if any) can still be withdrawn. */
void actions_expire(struct server *srv, int64_t id);

#endif
