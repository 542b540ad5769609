/*
 * devices.h — enrolled devices as the rest of the server sees them: how a
 * device's sensor health is derived, and the command channel (queueing a
 * command for a device, command types).
 *
 * The devices modules (onboarding.c, enroll.c, devices.c, commands.c) own
 * onboarding tokens, enrollment, the device authenticator, heartbeats, the
 * inventory and the command queue; docs/api.md ("Devices, onboarding and
 * commands") and docs/wire.md describe their routes. Later modules
 * (response, live response) add command types with DEVICE_COMMAND_TYPE()
 * in their own files and queue commands with devices_command_queue().
 */
#ifndef YAMORI_SERVER_DEVICES_H
#define YAMORI_SERVER_DEVICES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http.h"

struct server;

/* ------------------------------------------------------------ sensor health */

enum device_health {
    HEALTH_ACTIVE = 1,
    HEALTH_INACTIVE,
    HEALTH_IMPAIRED,      /* "impaired communications" */
    HEALTH_NO_DATA,       /* "no sensor data" */
    HEALTH_MISCONFIGURED,
};

#define DEVICE_INACTIVE_MS (7LL * 24 * 3600 * 1000)   /* no contact for 7 days */
#define DEVICE_LATE_INTERVALS 3                        /* heartbeats missed before "impaired" */
#define DEVICE_NO_DATA_MS (3600LL * 1000)              /* no events for 1 hour */
#define DEVICE_UPLOAD_FAILURES 3                       /* failed uploads in a row before "impaired" */

/* What the health rules look at. Times in ms since the epoch, 0 = never. */
struct device_health_input {
    int64_t enrolled_ms;          /* the latest enrollment */
    int64_t offboarded_ms;
    int64_t last_heartbeat_ms;
    int64_t last_ingest_ms;       /* when the server last stored a batch of its events */
    int64_t heartbeat_interval_ms;
    bool heartbeat_seen;          /* the fields below come from a heartbeat */
    const char *sensor_backend;   /* "ebpf", "fallback"; "none", "unknown" or "": not running */
    const char *const *limitations; /* the agent's "what: why" lines */
    size_t nlimitations;
    int64_t upload_failures;      /* consecutive failed batch uploads; -1 unknown */
};

/* The sensor health at now_ms by the rules of docs/api.md (first match
 * wins: inactive, impaired communications, no sensor data, misconfigured,
 * active). A sentence saying why goes to why (may be NULL). Pure: no
 * I/O, no clock. */
enum device_health devices_health(const struct device_health_input *in, int64_t now_ms, char *why, size_t whylen);

/* The newest of heartbeat and event ingest (0 when neither happened). */
int64_t devices_last_seen(const struct device_health_input *in);

/* "active", "inactive", "impaired communications", "no sensor data",
 * "misconfigured". */
const char *devices_health_name(enum device_health h);

/* The health named by text (case-insensitive; '_' and '-' may stand for
 * spaces), or 0 when it names none. */
enum device_health devices_health_from_name(const char *text);

/* Whether a sensor limitation line leaves a whole family of events out:
 * its subject (the text before the first ':') ends with "events", as in
 * "network events: not available in the fallback back end". */
bool devices_limitation_drops_family(const char *line);

/* ------------------------------------------------------------ commands */

/* A kind of command a device understands. Registered with
 * DEVICE_COMMAND_TYPE() in the file that adds it. */
struct device_command_type {
    const char *name;        /* "ping"; at most 32 characters [a-z0-9_] */
    enum role min_role;      /* who may queue it through the API */
    const char *summary;
    /* Checks the arguments (a JSON object) before the command is queued:
     * 0, or -EINVAL with a sentence in err. NULL: must be empty. */
    int (*validate_args)(json_t *args, char *err, size_t errlen);
    /* Checks the output of a successful result: 0, or -EINVAL with a
     * sentence. NULL: any JSON value. */
    int (*validate_output)(json_t *output, char *err, size_t errlen);
};

#define DEVICE_COMMAND_TYPE(var)                                                                   \
    static const struct device_command_type *const var##_registration                              \
        __attribute__((used, section("yamori_command_types"), aligned(sizeof(void *)))) = &var

/* The registered type called name, or NULL. */
const struct device_command_type *devices_command_type(const char *name);

/* Calls fn for every registered command type. */
void devices_command_types(void (*fn)(const struct device_command_type *t, void *ctx), void *ctx);

/* Most commands that may wait for one device (queued or sent). */
#define DEVICE_MAX_OPEN_COMMANDS 1000

/* Queues command `type` with args (a JSON object or NULL) for device_id
 * on behalf of who (NULL: the server itself), audits it, and hands it at
 * once to the device when its command poll is waiting. Sets *id. Returns
 * 0, or a negative HTTP status with a sentence in err: -400 bad type or
 * arguments, -404 no such device, -409 device offboarded, -429 too many
 * commands waiting, -500 store error. */
int devices_command_queue(struct server *srv, const struct principal *who, const char *remote_ip,
                          const char *device_id, const char *type, json_t *args, int64_t *id, char *err,
                          size_t errlen);

/* How devices_command_queue_opts queues: an expiry (ms since the epoch,
 * 0 = never; past it a queued command is not handed out), who the command
 * is recorded as requested by (NULL: from who), and whether to leave the
 * device's waiting poll alone (the caller links the command first, then
 * calls devices_commands_wake). */
struct device_command_opts {
    int64_t expires_ms;
    const char *requested_by;
    bool no_wake;
};

/* devices_command_queue with opts (NULL: none of them). */
int devices_command_queue_opts(struct server *srv, const struct principal *who, const char *remote_ip,
                               const char *device_id, const char *type, json_t *args,
                               const struct device_command_opts *opts, int64_t *id, char *err, size_t errlen);

/* Hands waiting commands of device_id to its command poll, when one
 * waits (after something queued commands without devices_command_queue). */
void devices_commands_wake(struct server *srv, const char *device_id);

/* Whether device_id has a command poll waiting now (it is online). */
bool devices_commands_online(struct server *srv, const char *device_id);

/* ------------------------------------------------------------ credentials */

/* Drops what the device authenticator remembers of device_id, after its
 * secret changed or it was offboarded. */
void devices_forget_credentials(struct server *srv, const char *device_id);

#endif
