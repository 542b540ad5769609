/*
 * actions_types.c — the kinds of response action: for each, the shape of
 * its target (checked before anything is recorded), the shape of a
 * successful result where the server relies on it, and its undo. Each
 * type is also registered as the device command of the same name, so the
 * command channel applies the same checks to the command's arguments.
 *
 * Targets (docs/api.md, "Actions"):
 *   kill_process        {"pid": N, "process_uid": "...", "tree": bool}
 *   isolate             {} or {"comment": "..."}; release {}
 *   scan                {"kind": "quick"|"full"|"custom", "path": "/abs" (custom only),
 *                        "indicators": [sha256...], "cpu_budget": cores, "yara_max_mb": N}
 *   quarantine_file     {"path": "/abs", "sha256": "<64 hex>"?}
 *   restore_file        {"quarantine_id": "<32 hex>", "overwrite": bool?}
 *   remove_persistence  {"kind": "cron_line"|..., "path": "/abs", "match": "..."}, or
 *                       {"entry": "<id>", "scheduled": bool} (an autostart entry's id)
 *   restore_persistence {"backup_id": "<32 hex>"}
 *   collect             {}
 * (the agent's side of each is in docs/wire.md; the agent checks again).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/actions.h"
#include "server/devices.h"
#include "server/devices_int.h"

#define MAX_PID 4194304 /* the kernel's pid_max ceiling */
#define MAX_PATH_LEN 4095
#define REMEDIATION_ID_LEN 32
#define MAX_INDICATORS 100000

/* 64 hex digits, either case. */
static bool valid_sha256(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') || (s[n] >= 'A' && s[n] <= 'F')))
            return false;
    return n == 64;
}

/* ------------------------------------------------------------ checks */

/* Whether obj has no member outside the NULL-terminated allowed list;
 * else names the first stranger in err. */
static bool only_members(json_t *obj, const char *const *allowed, const char *type, char *err, size_t errlen)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v) {
        bool ok = false;
        (void)v;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            snprintf(err, errlen, "target: a %s action takes no member '%.64s'", type,
                     devices_valid_text(key, 64) ? key : "?");
            return false;
        }
    }
    return true;
}

/* An absolute path: '/' then at most MAX_PATH_LEN bytes, no control
 * characters, no "/../" or "/./" components. */
static bool valid_abs_path(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > MAX_PATH_LEN || s[0] != '/' || !devices_valid_text(s, MAX_PATH_LEN))
        return false;
    for (const char *p = s; (p = strchr(p, '/')) != NULL; p++)
        if (strncmp(p, "/../", 4) == 0 || strcmp(p, "/..") == 0 || strncmp(p, "/./", 3) == 0 || strcmp(p, "/.") == 0)
            return false;
    return true;
}

static int need_path(json_t *target, const char *key, bool required, char *err, size_t errlen)
{
    json_t *v = json_object_get(target, key);

    if (!v && !required)
        return 0;
    if (!json_is_string(v) || !valid_abs_path(json_string_value(v))) {
        snprintf(err, errlen, "target.%s: must be an absolute path (at most %d bytes, no '.' or '..' parts)", key,
                 MAX_PATH_LEN);
        return -EINVAL;
    }
    return 0;
}

static int need_id(json_t *target, const char *key, char *err, size_t errlen)
{
    json_t *v = json_object_get(target, key);

    if (!json_is_string(v) || !devices_valid_hex(json_string_value(v), REMEDIATION_ID_LEN)) {
        snprintf(err, errlen, "target.%s: must be the id the original action's result gave (%d lower-case hex digits)",
                 key, REMEDIATION_ID_LEN);
        return -EINVAL;
    }
    return 0;
}

static int target_isolate(json_t *target, char *err, size_t errlen)
{
    static const char *const allowed[] = {"comment", NULL};
    json_t *c = json_object_get(target, "comment");

    if (!only_members(target, allowed, "isolate", err, errlen))
        return -EINVAL;
    if (c && !(json_is_string(c) && devices_valid_text(json_string_value(c), 255))) {
        snprintf(err, errlen, "target.comment: must be text of at most 255 bytes");
        return -EINVAL;
    }
    return 0;
}

static int target_empty(json_t *target, char *err, size_t errlen)
{
    if (json_object_size(target) != 0) {
        snprintf(err, errlen, "target: this action takes no target (an empty object)");
        return -EINVAL;
    }
    return 0;
}

static int target_kill(json_t *target, char *err, size_t errlen)
{
    static const char *const allowed[] = {"pid", "process_uid", "tree", NULL};
    json_t *pid = json_object_get(target, "pid"), *uid = json_object_get(target, "process_uid");
    json_t *tree = json_object_get(target, "tree");

    if (!only_members(target, allowed, "kill_process", err, errlen))
        return -EINVAL;
    if (!json_is_integer(pid) || json_integer_value(pid) < 1 || json_integer_value(pid) > MAX_PID) {
        snprintf(err, errlen, "target.pid: must be a process id (an integer from 1 to %d)", MAX_PID);
        return -EINVAL;
    }
    if (json_integer_value(pid) == 1) {
        snprintf(err, errlen, "target.pid: process 1 (init) is never killed");
        return -EINVAL;
    }
    if (uid && !(json_is_string(uid) && devices_valid_word(json_string_value(uid), 128, ":._-"))) {
        snprintf(err, errlen, "target.process_uid: must be a process uid as in events (letters, digits, ':', '.', "
                              "'_', '-'; at most 128)");
        return -EINVAL;
    }
    if (tree && !json_is_boolean(tree)) {
        snprintf(err, errlen, "target.tree: must be true or false");
        return -EINVAL;
    }
    return 0;
}

static int output_kill(json_t *output, char *err, size_t errlen)
{
    json_t *killed = json_object_get(output, "killed"), *v;
    size_t i;

    if (!json_is_object(output) || !json_is_array(killed))
        goto bad;
    json_array_foreach(killed, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 2 || json_integer_value(v) > MAX_PID)
            goto bad;
    }
    return 0;
bad:
    snprintf(err, errlen, "a kill_process output must be {\"killed\": [pids]}");
    return -EINVAL;
}

static int target_scan(json_t *target, char *err, size_t errlen)
{
    static const char *const allowed[] = {"kind", "path", "indicators", "cpu_budget", "yara_max_mb", NULL};
    json_t *kind = json_object_get(target, "kind"), *ind = json_object_get(target, "indicators");
    json_t *cpu = json_object_get(target, "cpu_budget"), *yara = json_object_get(target, "yara_max_mb"), *v;
    const char *k = json_is_string(kind) ? json_string_value(kind) : "";
    size_t i;

    if (!only_members(target, allowed, "scan", err, errlen))
        return -EINVAL;
    if (strcmp(k, "quick") != 0 && strcmp(k, "full") != 0 && strcmp(k, "custom") != 0) {
        snprintf(err, errlen, "target.kind: must be \"quick\", \"full\" or \"custom\"");
        return -EINVAL;
    }
    if (ind) {
        if (!json_is_array(ind) || json_array_size(ind) > MAX_INDICATORS) {
            snprintf(err, errlen, "target.indicators: must be a list of at most %d SHA-256 values", MAX_INDICATORS);
            return -EINVAL;
        }
        json_array_foreach(ind, i, v) {
            if (!json_is_string(v) || !valid_sha256(json_string_value(v))) {
                snprintf(err, errlen, "target.indicators[%zu]: must be a SHA-256 (64 hex digits)", i);
                return -EINVAL;
            }
        }
    }
    if (cpu && (!json_is_number(cpu) || json_number_value(cpu) < 0.01 || json_number_value(cpu) > 64)) {
        snprintf(err, errlen, "target.cpu_budget: must be a number of cores from 0.01 to 64");
        return -EINVAL;
    }
    if (yara && (!json_is_integer(yara) || json_integer_value(yara) < 1 || json_integer_value(yara) > 4096)) {
        snprintf(err, errlen, "target.yara_max_mb: must be an integer from 1 to 4096");
        return -EINVAL;
    }
    if (strcmp(k, "custom") == 0)
        return need_path(target, "path", true, err, errlen);
    if (json_object_get(target, "path")) {
        snprintf(err, errlen, "target.path: only a custom scan takes a path");
        return -EINVAL;
    }
    return 0;
}

static int target_quarantine(json_t *target, char *err, size_t errlen)
{
    static const char *const allowed[] = {"path", "sha256", NULL};
    json_t *sha = json_object_get(target, "sha256");

    if (!only_members(target, allowed, "quarantine_file", err, errlen))
        return -EINVAL;
    if (sha && !(json_is_string(sha) && valid_sha256(json_string_value(sha)))) {
        snprintf(err, errlen, "target.sha256: must be a SHA-256 (64 hex digits)");
        return -EINVAL;
    }
    return need_path(target, "path", true, err, errlen);
}

static int target_restore_file(json_t *target, char *err, size_t errlen)
{
    static const char *const allowed[] = {"quarantine_id", "overwrite", NULL};
    json_t *ow = json_object_get(target, "overwrite");

    if (!only_members(target, allowed, "restore_file", err, errlen))
        return -EINVAL;
    if (ow && !json_is_boolean(ow)) {
        snprintf(err, errlen, "target.overwrite: must be true or false");
        return -EINVAL;
    }
    return need_id(target, "quarantine_id", err, errlen);
}

static int target_remove_persistence(json_t *target, char *err, size_t errlen)
{
    static const char *const allowed[] = {"kind", "path", "match", NULL};
    static const char *const by_entry[] = {"entry", "scheduled", NULL};
    static const char *const kinds[] = {"cron_file",     "cron_line",      "systemd_unit",         "rc_local_line",
                                        "shell_rc_line", "profile_d_file", "authorized_keys_line", "ld_preload_line",
                                        NULL};
    json_t *kind = json_object_get(target, "kind"), *match = json_object_get(target, "match");
    const char *k = json_is_string(kind) ? json_string_value(kind) : "";
    bool known = false, is_file_kind, is_unit;

    if (json_object_get(target, "entry")) {
        /* an entry as the agent's autostart listing names it (docs/live.md) */
        json_t *entry = json_object_get(target, "entry"), *sched = json_object_get(target, "scheduled");
        if (!only_members(target, by_entry, "remove_persistence", err, errlen))
            return -EINVAL;
        if (!json_is_string(entry) || !devices_valid_text(json_string_value(entry), 255) ||
            !*json_string_value(entry) || strchr(json_string_value(entry), ' ')) {
            snprintf(err, errlen, "target.entry: must be an entry id as `persistence` lists it (text of at most "
                                  "255 bytes without blanks)");
            return -EINVAL;
        }
        if (sched && !json_is_boolean(sched)) {
            snprintf(err, errlen, "target.scheduled: must be true or false");
            return -EINVAL;
        }
        return 0;
    }
    if (!only_members(target, allowed, "remove_persistence", err, errlen))
        return -EINVAL;
    for (const char *const *p = kinds; *p && !known; p++)
        known = strcmp(*p, k) == 0;
    if (!known) {
        snprintf(err, errlen, "target.kind: must be one of cron_file, cron_line, systemd_unit, rc_local_line, "
                              "shell_rc_line, profile_d_file, authorized_keys_line, ld_preload_line");
        return -EINVAL;
    }
    is_file_kind = strcmp(k, "cron_file") == 0 || strcmp(k, "profile_d_file") == 0;
    is_unit = strcmp(k, "systemd_unit") == 0;
    if (is_file_kind && match) {
        snprintf(err, errlen, "target.match: a %s removal takes no match (the whole file goes)", k);
        return -EINVAL;
    }
    if (!is_file_kind &&
        !(json_is_string(match) && devices_valid_text(json_string_value(match), 4096))) {
        snprintf(err, errlen, "target.match: must be %s (text of at most 4096 bytes)",
                 is_unit ? "the unit name" : "the line to remove");
        return -EINVAL;
    }
    return need_path(target, "path", !is_unit, err, errlen);
}

static int target_restore_persistence(json_t *target, char *err, size_t errlen)
{
    static const char *const allowed[] = {"backup_id", NULL};

    if (!only_members(target, allowed, "restore_persistence", err, errlen))
        return -EINVAL;
    return need_id(target, "backup_id", err, errlen);
}

/* ------------------------------------------------------------ the table */

static const struct action_type types[] = {
    {"kill_process", "kill a process (or its tree); refuses pid 1, kernel threads and the agent", NULL, NULL,
     target_kill, output_kill},
    {"isolate", "isolate the device: only its channel to the server stays open", "release", NULL,
     target_isolate, NULL},
    {"release", "release the device from isolation", NULL, NULL, target_empty, NULL},
    {"scan", "antivirus scan (quick, full or one path)", NULL, NULL, target_scan, NULL},
    {"quarantine_file", "move a file to the quarantine store (its processes are killed)", "restore_file",
     "quarantine_id", target_quarantine, NULL},
    {"restore_file", "put a quarantined file back exactly as it was", NULL, NULL, target_restore_file, NULL},
    {"remove_persistence", "remove a persistence entry, keeping a backup", "restore_persistence", "backup_id",
     target_remove_persistence, NULL},
    {"restore_persistence", "put a removed persistence entry back from its backup", NULL, NULL,
     target_restore_persistence, NULL},
    {"collect", "collect an investigation package", NULL, NULL, target_empty, NULL},
};

const struct action_type *actions_type(const char *name)
{
    for (size_t i = 0; name && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

void actions_types(void (*fn)(const struct action_type *t, void *ctx), void *ctx)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        fn(&types[i], ctx);
}

/* The same types as device commands: their arguments are the target. */
static const struct device_command_type cmd_kill = {"kill_process", ROLE_RESPONDER, "kill a process (action)",
                                                    target_kill, output_kill};
static const struct device_command_type cmd_isolate = {"isolate", ROLE_RESPONDER, "isolate the device (action)",
                                                       target_isolate, NULL};
static const struct device_command_type cmd_release = {"release", ROLE_RESPONDER, "release isolation (action)",
                                                       target_empty, NULL};
static const struct device_command_type cmd_scan = {"scan", ROLE_RESPONDER, "antivirus scan (action)", target_scan,
                                                    NULL};
static const struct device_command_type cmd_quarantine = {"quarantine_file", ROLE_RESPONDER,
                                                          "quarantine a file (action)", target_quarantine, NULL};
static const struct device_command_type cmd_restore_file = {"restore_file", ROLE_RESPONDER,
                                                            "restore a quarantined file (action)",
                                                            target_restore_file, NULL};
static const struct device_command_type cmd_remove_persistence = {"remove_persistence", ROLE_RESPONDER,
                                                                  "remove a persistence entry (action)",
                                                                  target_remove_persistence, NULL};
static const struct device_command_type cmd_restore_persistence = {"restore_persistence", ROLE_RESPONDER,
                                                                   "restore a persistence entry (action)",
                                                                   target_restore_persistence, NULL};
static const struct device_command_type cmd_collect = {"collect", ROLE_RESPONDER,
                                                       "collect an investigation package (action)", target_empty,
                                                       NULL};
DEVICE_COMMAND_TYPE(cmd_kill);
DEVICE_COMMAND_TYPE(cmd_isolate);
DEVICE_COMMAND_TYPE(cmd_release);
DEVICE_COMMAND_TYPE(cmd_scan);
DEVICE_COMMAND_TYPE(cmd_quarantine);
DEVICE_COMMAND_TYPE(cmd_restore_file);
DEVICE_COMMAND_TYPE(cmd_remove_persistence);
DEVICE_COMMAND_TYPE(cmd_restore_persistence);
DEVICE_COMMAND_TYPE(cmd_collect);
