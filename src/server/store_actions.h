/*
 * store_actions.h — what the store keeps of the action center: every
 * response action (who asked for what on which device, its state, times,
 * result and error) and the links between an action and its undo.
 *
 * Owned by the actions module (src/server/actions*.c); implemented for
 * SQLite in store_sqlite_actions.c. Changes of state are conditional
 * (store_action_update names the state it expects), so two threads
 * moving the same action never both succeed. Times are milliseconds since
 * the epoch from store_now_ms(); 0 means "not yet".
 */
#ifndef YAMORI_SERVER_STORE_ACTIONS_H
#define YAMORI_SERVER_STORE_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store_devices.h"

struct store;

enum store_action_state {
    ACTION_PENDING = 1, /* waits for approval */
    ACTION_QUEUED,      /* approved (or needing none); waits for the device */
    ACTION_SENT,        /* handed to the device */
    ACTION_RUNNING,     /* the device said it started */
    ACTION_SUCCEEDED,
    ACTION_FAILED,
    ACTION_CANCELLED,
    ACTION_EXPIRED,     /* the device did not fetch it in time */
    ACTION_REJECTED,    /* an approver said no */
};

/* "pending_approval", "queued", "sent", "running", "succeeded", "failed",
 * "cancelled", "expired", "rejected". */
const char *store_action_state_name(enum store_action_state s);

/* The state named by text, or 0. */
enum store_action_state store_action_state_from_name(const char *text);

/* Whether s is final (succeeded, failed, cancelled, expired, rejected). */
bool store_action_state_final(enum store_action_state s);

#define STORE_ACTION_TYPE_MAX 32
#define STORE_ACTION_NAME_MAX 63

struct store_action {
    int64_t id;
    char device_id[STORE_DEVICE_ID_LEN + 1];
    char type[STORE_ACTION_TYPE_MAX + 1];
    char *target_json;            /* owned; a JSON object */
    char *comment;                /* owned; "" when none */
    char requested_by[STORE_ACTION_NAME_MAX + 1];
    bool automated;               /* requested by the server's automation, not a person */
    enum store_action_state state;
    int64_t created_ms, expires_ms;
    int64_t decided_ms;           /* approved or rejected */
    char decided_by[STORE_ACTION_NAME_MAX + 1];
    char *decision_comment;       /* owned; "" when none */
    int64_t queued_ms, sent_ms, started_ms, completed_ms;
    int64_t command_id;           /* the device command carrying it; 0 until queued */
    char *result_json;            /* owned; the agent's output, NULL when none */
    char *error;                  /* owned; NULL when none */
    char *progress_json;          /* owned; the newest progress report, NULL when none */
    int64_t progress_ms;
    int64_t cancel_ms;            /* cancelling was asked for */
    char cancelled_by[STORE_ACTION_NAME_MAX + 1];
    int64_t undo_of;              /* the action this one undoes; 0 none */
    int64_t undone_by;            /* the action that undoes this one; 0 none */
};

void store_action_clear(struct store_action *a);
void store_actions_free(struct store_action *v, size_t n);

/* Inserts a (its id is ignored) and sets *id. When a->undo_of is set, the
 * original's undone_by is set to the new id in the same transaction:
 * -EALREADY when it was undone before, -ENOENT when it does not exist.
 * 0, -EIO. */
int store_action_create(struct store *st, const struct store_action *a, int64_t *id);

/* One action. 0, -ENOENT, -EIO; the caller clears *out. */
int store_action_get(struct store *st, int64_t id, struct store_action *out);

/* The action a device command carries. 0, -ENOENT, -EIO. */
int store_action_by_command(struct store *st, int64_t command_id, struct store_action *out);

/* Writes every mutable field of a (state, times, decisions, command,
 * result, error, progress, cancel) when the stored state is still `from`:
 * -ESTALE when someone moved it first (nothing changes then). */
int store_action_update(struct store *st, const struct store_action *a, enum store_action_state from);

struct store_action_filter {
    enum store_action_state state; /* 0: any */
    bool open;                     /* only pending, queued, sent, running */
    const char *device_id;         /* NULL: any */
    const char *type;              /* NULL: any */
    int64_t since_ms;              /* created at or after; 0: any */
};

/* Actions matching f, newest first, from offset, at most limit; *total
 * counts all matches. The array is malloc'd (store_actions_free). */
int store_action_list(struct store *st, const struct store_action_filter *f, size_t limit, size_t offset,
                      struct store_action **out, size_t *n, size_t *total);

#endif
