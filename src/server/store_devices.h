/*
 * store_devices.h — what the store keeps about devices: onboarding
 * (enrollment) tokens, enrolled devices with their credentials and latest
 * heartbeat, and the per-device command queue.
 *
 * Owned by the devices module (src/server/devices*.c, enroll.c,
 * onboarding.c, commands*.c); implemented for SQLite in
 * store_sqlite_devices.c. Secrets never reach the store: tokens and device
 * secrets are stored as their SHA-256. Times are milliseconds since the
 * epoch from store_now_ms(); 0 means "never".
 */
#ifndef YAMORI_SERVER_STORE_DEVICES_H
#define YAMORI_SERVER_STORE_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_HASH_LEN 32            /* SHA-256 */
#define STORE_DEVICE_ID_LEN 36       /* a UUID in text */
#define STORE_MACHINE_ID_LEN 32      /* /etc/machine-id: 32 hex digits */
#define STORE_DEVICE_NAME_MAX 253    /* a DNS name */
#define STORE_GROUP_MAX 64
#define STORE_COMMAND_TYPE_MAX 32

/* ------------------------------------------------------------ onboarding tokens */

struct store_enroll_token {
    int64_t id;
    char group[STORE_GROUP_MAX + 1];  /* "" when the token names no group */
    int64_t uses, max_uses;
    int64_t created_ms, expires_ms, revoked_ms;
    char created_by[64];
};

/* Creates a token from the SHA-256 of its text. group may be "" or NULL;
 * max_uses >= 1. Sets *id. Returns 0, -EEXIST (same hash: never with
 * random tokens) or -EIO. */
int store_enroll_token_create(struct store *st, const uint8_t hash[STORE_HASH_LEN], const char *group,
                              int64_t max_uses, int64_t expires_ms, const char *created_by, int64_t *id);

/* Every token, newest first, into a malloc'd array the caller frees
 * (free(*out)). Returns 0 or -errno. */
int store_enroll_token_list(struct store *st, struct store_enroll_token **out, size_t *n);

/* One token by id: 0, -ENOENT, -EIO. */
int store_enroll_token_get(struct store *st, int64_t id, struct store_enroll_token *out);

/* One token by the SHA-256 of its text, read without taking the writer
 * (enrollment looks there first, so that guessed tokens cost no write
 * transaction). 0, -ENOENT, -EIO. */
int store_enroll_token_find(struct store *st, const uint8_t hash[STORE_HASH_LEN], struct store_enroll_token *out);

/* Revokes a token (it can no longer enroll anything; devices it enrolled
 * stay). Revoking a revoked token keeps the first time. 0, -ENOENT, -EIO. */
int store_enroll_token_revoke(struct store *st, int64_t id);

/* ------------------------------------------------------------ enrollment */

struct store_enrollment {
    const uint8_t *token_hash;        /* SHA-256 of the token text */
    const char *device_id;            /* derived from machine_id, or new */
    const char *machine_id;
    const char *name;                 /* the host name */
    const char *os, *kernel, *agent_version;
    const uint8_t *secret_hash;       /* SHA-256 of the new device secret */
};

struct store_enroll_result {
    int64_t token_id;                 /* also set when the token is refused */
    char group[STORE_GROUP_MAX + 1];  /* the device's group afterwards */
    bool reenrolled;                  /* the device id existed already */
};

/* In one transaction: finds the token by hash and refuses it when unknown
 * (-ENOKEY), revoked (-EKEYREVOKED), expired (-EKEYEXPIRED) or used up
 * (-EKEYREJECTED); counts one use; creates the device or, when its id
 * exists, replaces its secret and host facts and clears an offboarding
 * (its history, tags and first-seen time stay). A token's group, when it
 * names one, becomes the device's group. Concurrent calls with a one-use
 * token enroll exactly one device. Returns 0 or one of the errors above,
 * or -EIO. */
int store_device_enroll(struct store *st, const struct store_enrollment *en, struct store_enroll_result *out);

/* ------------------------------------------------------------ devices */

struct store_device {
    char id[STORE_DEVICE_ID_LEN + 1];
    char machine_id[STORE_MACHINE_ID_LEN + 1];
    char name[STORE_DEVICE_NAME_MAX + 1];
    char group[STORE_GROUP_MAX + 1];
    char os[129], distribution[65], kernel[129], agent_version[65], sensor_backend[33];
    char *ips;              /* addresses separated by single spaces ("" none); owned */
    char *limitations_json; /* JSON array of strings ("[]" none); owned */
    char *tags_json;        /* JSON array of strings; owned */
    int64_t first_seen_ms;  /* first enrollment */
    int64_t enrolled_ms;    /* latest enrollment */
    int64_t last_heartbeat_ms;
    int64_t offboarded_ms;  /* 0: enrolled */
    int64_t token_id;
    bool heartbeat_seen;    /* the figures below are from a heartbeat */
    double events_per_second, cpu_percent;
    int64_t events_lost, spool_bytes, spool_events, memory_bytes;
    int64_t upload_failures; /* -1 when the agent does not report it */
};

/* Frees what d owns (not d itself); accepts NULL. */
void store_device_clear(struct store_device *d);
/* Frees an array from store_device_list; accepts NULL. */
void store_devices_free(struct store_device *v, size_t n);

/* One device by id. 0, -ENOENT, -EIO. The caller clears *out. */
int store_device_get(struct store *st, const char *id, struct store_device *out);

/* One device by name (ASCII case ignored). -ENOENT when none; when several devices carry
 * the name, the only one still enrolled wins, else -ENOTUNIQ. */
int store_device_find_by_name(struct store *st, const char *name, struct store_device *out);

struct store_device_filter {
    const char *search;   /* substring of the name or of an address; NULL: all */
    const char *group;    /* exact group; NULL: all */
    size_t limit;         /* most rows (0: 100000) */
};

/* Devices matching f, by name, in a malloc'd array (store_devices_free).
 * Returns 0 or -errno. */
int store_device_list(struct store *st, const struct store_device_filter *f, struct store_device **out, size_t *n);

/* The credentials of a device for the authenticator: the secret's hash
 * and whether the device is offboarded. 0, -ENOENT, -EIO. */
int store_device_credentials(struct store *st, const char *id, uint8_t hash[STORE_HASH_LEN], bool *offboarded);

/* A heartbeat: what the agent reported. NULL strings and negative numbers
 * (has_* false for the reals) leave the stored value as it is. */
struct store_heartbeat {
    const char *agent_version, *sensor_backend, *limitations_json;
    const char *name, *ips, *os, *distribution, *kernel;
    bool has_events_per_second, has_cpu_percent;
    double events_per_second, cpu_percent;
    int64_t events_lost, spool_bytes, spool_events, memory_bytes, upload_failures;
};

/* Records a heartbeat of device id at now. 0, -ENOENT (unknown or
 * offboarded), -EIO. */
int store_device_heartbeat(struct store *st, const char *id, const struct store_heartbeat *hb);

/* Replaces the tags (a JSON array text the caller validated). 0, -ENOENT,
 * -EIO. */
int store_device_set_tags(struct store *st, const char *id, const char *tags_json);

/* Offboards: records the time, from which the secret is refused (its hash
 * stays, so that the holder can be told why), and fails the commands
 * still queued or sent ("the device was offboarded"). The data stays.
 * *already is set when it was offboarded before (nothing changes then).
 * 0, -ENOENT, -EIO. */
int store_device_offboard(struct store *st, const char *id, bool *already);

/* ------------------------------------------------------------ commands */

enum store_command_status { CMD_QUEUED = 1, CMD_SENT, CMD_SUCCEEDED, CMD_FAILED };

/* "queued", "sent", "succeeded", "failed". */
const char *store_command_status_name(enum store_command_status s);

struct store_command {
    int64_t id;
    char device_id[STORE_DEVICE_ID_LEN + 1];
    char type[STORE_COMMAND_TYPE_MAX + 1];
    char *args_json;       /* owned; "{}" when none */
    enum store_command_status status;
    int64_t created_ms, sent_ms, completed_ms;
    int attempts;          /* hand-outs so far */
    char requested_by[64];
    char *output_json;     /* owned; NULL until a result */
    char *error;           /* owned; NULL when none */
    int64_t expires_ms;    /* not handed out from then on while queued; 0 = never */
    char *progress_json;   /* owned; the agent's last progress report, NULL when none */
    int64_t progress_ms;   /* when it came (the first one: the command started) */
    int64_t cancel_ms;     /* when stopping it was asked for while it was sent; 0 = never */
};

void store_command_clear(struct store_command *c);
void store_commands_free(struct store_command *v, size_t n);

/* When a sent command without a result is handed out again, and how often
 * at most (the agent runs each id once, so a repeat is harmless). */
#define STORE_COMMAND_REDELIVER_MS (5 * 60 * 1000)
#define STORE_COMMAND_MAX_ATTEMPTS 10

/* Queues a command for an enrolled device. -ENOENT unknown device,
 * -EKEYREVOKED offboarded, -EDQUOT when max_queued commands already wait.
 * Sets *id. */
int store_command_create(struct store *st, const char *device_id, const char *type, const char *args_json,
                         const char *requested_by, size_t max_queued, int64_t *id);

/* store_command_create with an expiry: from expires_ms on (0: never) the
 * command is no longer handed out while it is queued (the caller, e.g.
 * the action center, withdraws it with store_command_withdraw). */
int store_command_create_until(struct store *st, const char *device_id, const char *type, const char *args_json,
                               const char *requested_by, size_t max_queued, int64_t expires_ms, int64_t *id);

/* Records a progress report (JSON object text) of a sent command of
 * device_id. *first: it is the command's first report (it started);
 * *cancel: stopping it was asked for; *status_now: its status (a report
 * for a command no longer sent changes nothing). -ENOENT when the device
 * has no such command or it was never handed out. */
int store_command_progress(struct store *st, const char *device_id, int64_t id, const char *progress_json,
                           bool *first, bool *cancel, enum store_command_status *status_now);

/* Takes back a command of device_id: when still queued it fails now with
 * error `why` and *withdrawn is set (it will never be handed out); when
 * sent and request_stop, stopping it is asked for (cancel_ms, seen by the
 * agent in its next progress answer); when done nothing changes.
 * *status_now: its status after. 0, -ENOENT, -EIO. */
int store_command_withdraw(struct store *st, const char *device_id, int64_t id, const char *why, bool request_stop,
                           bool *withdrawn, enum store_command_status *status_now);

/* Whether a command could be handed to the device now (queued, or sent
 * long ago without a result). A read; cheap. */
int store_commands_pending(struct store *st, const char *device_id, bool *pending);

/* Hands out up to max commands (oldest first): marks each sent now and
 * counts the attempt, in one transaction, so that each hand-out goes to
 * one caller. The array is malloc'd (store_commands_free); *n may be 0. */
int store_commands_claim(struct store *st, const char *device_id, size_t max, struct store_command **out,
                         size_t *n);

/* Takes back a hand-out that did not reach the device: commands still
 * sent with the given attempt numbers become queued again. */
int store_commands_unclaim(struct store *st, const struct store_command *v, size_t n);

/* A restarted agent's first poll: the commands handed to device_id that
 * it never reported starting (status sent, no progress) go back to queued,
 * so they are handed out now instead of when the redelivery delay ends —
 * the poll they went to may have died with the agent. Safe because the
 * agent runs each id at most once (its journal answers an id it started).
 * Sets *n to how many. 0 or -EIO. */
int store_commands_requeue_unstarted(struct store *st, const char *device_id, size_t *n);

/* Records the result of a command of device_id, once: the first result
 * sets status, output (JSON text or NULL) and error (or NULL) and
 * *recorded = true; a later one changes nothing (*recorded = false) and
 * *status_now tells what is stored. -ENOENT when the device has no such
 * command. */
int store_command_result(struct store *st, const char *device_id, int64_t id, enum store_command_status status,
                         const char *output_json, const char *error, bool *recorded,
                         enum store_command_status *status_now);

/* One command of device_id. 0, -ENOENT, -EIO; the caller clears *out. */
int store_command_get(struct store *st, const char *device_id, int64_t id, struct store_command *out);

/* The newest `limit` commands of device_id, newest first
 * (store_commands_free). */
int store_command_list(struct store *st, const char *device_id, size_t limit, struct store_command **out, size_t *n);

#endif
