/*
 * actions.h — the action center: response actions on devices (kill a
 * process, isolate, scan, quarantine a file, remove persistence, collect
 * an investigation package, and their undos), requested by people through
 * the API and the CLI or by the server's automation.
 *
 * An action goes through pending_approval (when its type needs approval)
 * -> queued -> sent -> running -> succeeded / failed, or ends cancelled,
 * expired (the device did not fetch it within action_expiry_hours) or
 * rejected. It travels to the device as one device command (devices.h:
 * the command's args are the action's target, its id is recorded on the
 * action), and its state follows the command's: the command channel calls
 * actions_command_changed() on every change, and a sweep once a second
 * catches up whatever was missed and expires what waited too long. Every
 * state change is written to the audit log with the action id.
 * docs/architecture.md ("Action center") and docs/api.md ("Actions").
 */
#ifndef YAMORI_SERVER_ACTIONS_H
#define YAMORI_SERVER_ACTIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct principal;

/* A kind of action. Each is also a device command type of the same name
 * (registered by actions_types.c) whose arguments are the target. */
struct action_type {
    const char *name;      /* "kill_process" */
    const char *summary;
    const char *undo;      /* the type that undoes it, or NULL */
    const char *undo_key;  /* member of this action's result the undo's target takes
                              (e.g. "quarantine_id"); NULL: the undo's target is {} */
    /* Checks a target (a JSON object): 0, or -EINVAL with a sentence. */
    int (*validate_target)(json_t *target, char *err, size_t errlen);
    /* Checks the output of a successful result; NULL: any JSON value. */
    int (*validate_output)(json_t *output, char *err, size_t errlen);
};

/* The action type called name, or NULL. */
const struct action_type *actions_type(const char *name);

/* Calls fn for every action type, in a fixed order. */
void actions_types(void (*fn)(const struct action_type *t, void *ctx), void *ctx);

/* What a new action asks for. */
struct action_request {
    const char *device_id; /* an enrolled device's id */
    const char *type;
    json_t *target;        /* an object; NULL: {} */
    const char *comment;   /* NULL or "": none; at most 1000 bytes of text */
};

/* Creates an action on behalf of who (a person; NULL: the automation),
 * audits it and, unless its type needs approval, queues it for the
 * device. Sets *id. Returns 0, or a negative HTTP status with a sentence
 * in err: -400 unknown type, bad target or comment; -404 no such device;
 * -409 device offboarded; -500 store error. Nothing is recorded on error. */
int actions_create(struct server *srv, const struct principal *who, const char *remote_ip,
                   const struct action_request *rq, int64_t *id, char *err, size_t errlen);

/* Approves (approve) or rejects a pending action on behalf of who, with
 * an optional comment. 0, or -404 no such action, -409 not pending, -403
 * who requested it himself (someone else must approve), -500. */
int actions_decide(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id, bool approve,
                   const char *comment, char *err, size_t errlen);

/* Cancels an action: one not yet delivered ends cancelled at once; one
 * sent or running is asked to stop (the agent is told in its next
 * progress answer; it ends cancelled when the agent stops it, or
 * succeeded when it finished first). 0, or -404, -409 already final,
 * -500. */
int actions_cancel(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id,
                   const char *comment, char *err, size_t errlen);

/* Creates the undo of a succeeded action (linked both ways) and sets
 * *undo_id. 0, or -404, -409 (not succeeded, no undo for its type,
 * undone already, an undo itself), -400/-500 as actions_create. */
int actions_undo(struct server *srv, const struct principal *who, const char *remote_ip, int64_t id,
                 const char *comment, int64_t *undo_id, char *err, size_t errlen);

/* The command channel's hook: command_id changed (handed out, taken back,
 * progress, result). Moves the action it carries, if any, along. Never
 * fails (the sweep catches up later). */
void actions_command_changed(struct server *srv, int64_t command_id);

#endif
