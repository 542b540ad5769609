/*
 * live_enrich.c — what the server adds to an agent's `analyze` and
 * `fileinfo` answer (live_actions.h, live_actions_enrich): facts only the
 * server holds, because they are in events and alerts the agent sent long
 * ago or in other devices' events.
 *
 *  - who wrote the file: the newest stored file event that created (or
 *    renamed into place, or else modified) it, with the process that did;
 *  - the alerts of the device whose evidence names the file (its path, or a
 *    process whose image it is, or its hash): malicious when such an alert
 *    is high severity, else suspicious;
 *  - the alerts that involve the process that wrote the file, or the
 *    process that wrote a persistence entry pointing at it (the agent's
 *    "persistence" reasons carry the entry's source file): suspicious —
 *    "started by a persistence entry created by an alerted process tree";
 *  - when the fleet first ran content with its SHA-256, on how many
 *    devices.
 *
 * The verdict is then recomputed from every reason: malicious when one
 * reason is, else suspicious when one is, else clean. A store error adds a
 * reason saying what could not be checked; it never fails the command.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/live_actions.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_alerts.h"
#include "server/store_events_file.h"

#define HISTORY_DAYS 90
#define ALERTS_LOOKED_AT 200
#define NS_PER_DAY (86400LL * 1000000000LL)

static const char *str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void rfc3339(int64_t ns, char out[32])
{
    time_t s = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *severity_word(int rank)
{
    static const char *const words[] = {"informational", "informational", "low", "medium", "high"};
    return rank >= 0 && rank <= 4 ? words[rank] : "unknown";
}

static void add_reason(json_t *reasons, const char *engine, const char *verdict, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_reason(json_t *reasons, const char *engine, const char *verdict, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_array_append_new(reasons, json_pack("{s:s,s:s,s:s}", "engine", engine, "verdict", verdict, "reason", text));
}

/* The device's alerts, newest first (at most ALERTS_LOOKED_AT), with
 * their evidence, read once per enrichment. */
struct alert_view {
    struct store_alert *alerts;
    size_t n;
    struct store_evidence **ev;
    size_t *nev;
    bool failed;
};

static void alerts_load(struct server *srv, const char *device_id, struct alert_view *av)
{
    struct store_alert_filter f = {.device_id = device_id, .limit = ALERTS_LOOKED_AT};

    memset(av, 0, sizeof(*av));
    if (store_alert_list(srv->store, &f, &av->alerts, &av->n, NULL) != 0) {
        av->failed = true;
        return;
    }
    av->ev = calloc(av->n ? av->n : 1, sizeof(*av->ev));
    av->nev = calloc(av->n ? av->n : 1, sizeof(*av->nev));
    if (!av->ev || !av->nev) {
        av->failed = true;
        return;
    }
    for (size_t i = 0; i < av->n; i++)
        if (store_evidence_list(srv->store, av->alerts[i].id, 0, &av->ev[i], &av->nev[i]) != 0)
            av->failed = true;
}

static void alerts_free(struct alert_view *av)
{
    for (size_t i = 0; av->ev && i < av->n; i++)
        store_evidence_free(av->ev[i], av->nev[i]);
    free(av->ev);
    free(av->nev);
    store_alerts_free(av->alerts, av->n);
}

/* Whether evidence e names the file at path (or content sha256). */
static bool evidence_names_file(const struct store_evidence *e, const char *path, const char *sha256)
{
    json_t *d;
    bool hit = false;

    if (path && strcmp(e->type, "process") != 0 && strcmp(e->type, "ip") != 0 && strcmp(e->type, "user") != 0 &&
        e->value && strcmp(e->value, path) == 0)
        return true;
    if (!e->detail_json)
        return false;
    d = json_loads(e->detail_json, 0, NULL);
    if (path && !strcmp(e->type, "process") && str_of(d, "image") && !strcmp(str_of(d, "image"), path))
        hit = true;
    if (sha256 && *sha256 && str_of(d, "sha256") && !strcasecmp(str_of(d, "sha256"), sha256))
        hit = true;
    json_decref(d);
    return hit;
}

/* The newest alert whose main process or process evidence is uid, or -1. */
static ssize_t alert_of_process(const struct alert_view *av, const char *uid)
{
    if (!uid || !*uid)
        return -1;
    for (size_t i = 0; i < av->n; i++) {
        if (!strcmp(av->alerts[i].process_uid, uid))
            return (ssize_t)i;
        for (size_t j = 0; j < av->nev[i]; j++)
            if (!strcmp(av->ev[i][j].type, "process") && av->ev[i][j].value && !strcmp(av->ev[i][j].value, uid))
                return (ssize_t)i;
    }
    return -1;
}

static json_t *origin_json(const struct store_file_origin *o)
{
    char when[32];
    rfc3339(o->ts_ns, when);
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "time", when, "action", o->action, "image", o->image,
                     "command_line", o->command_line, "pid", (json_int_t)o->pid, "user", o->account, "process_uid",
                     o->process_uid);
}

static void verdict_recompute(json_t *out, json_t *reasons)
{
    const char *verdict = "clean";
    size_t i;
    json_t *r;

    json_array_foreach(reasons, i, r) {
        const char *v = str_of(r, "verdict");
        if (v && !strcmp(v, "malicious"))
            verdict = "malicious";
        else if (v && !strcmp(v, "suspicious") && strcmp(verdict, "malicious") != 0)
            verdict = "suspicious";
    }
    json_object_set_new(out, "verdict", json_string(verdict));
}

void live_actions_enrich(struct server *srv, const char *device_id, const char *command, json_t *args,
                         json_t *output)
{
    bool analyze = command && !strcmp(command, "analyze"), fileinfo = command && !strcmp(command, "fileinfo");
    int64_t since = (int64_t)store_now_ms(srv->store) * 1000000LL - HISTORY_DAYS * NS_PER_DAY;
    struct store_file_origin origin;
    struct store_hash_seen seen;
    struct alert_view av;
    const char *path, *sha256;
    json_t *reasons, *server_facts;
    char when[32];
    size_t i;
    json_t *r;

    if ((!analyze && !fileinfo) || !json_is_object(output))
        return;
    path = str_of(output, "path");
    if (!path && analyze && str_of(args, "kind") && !strcmp(str_of(args, "kind"), "file"))
        path = str_of(args, "target");
    if (!path && fileinfo)
        path = str_of(args, "path");
    sha256 = str_of(output, "sha256");
    reasons = json_object_get(output, "reasons");
    if (analyze && !json_is_array(reasons)) {
        reasons = json_array();
        json_object_set_new(output, "reasons", reasons);
    }
    server_facts = json_object();
    alerts_load(srv, device_id, &av);

    /* who wrote it */
    if (path && store_events_file_origin(srv->store, device_id, path, since, &origin) == 0) {
        if (origin.found) {
            ssize_t k = alert_of_process(&av, origin.process_uid);
            rfc3339(origin.ts_ns, when);
            json_object_set_new(server_facts, "written_by", origin_json(&origin));
            if (analyze)
                add_reason(reasons, "history", k >= 0 ? "suspicious" : "info",
                           "%s by %s (pid %" PRId64 ", user %s) at %s%s%s%s", origin.action, origin.image,
                           origin.pid, origin.account[0] ? origin.account : "?", when,
                           k >= 0 ? ", a process that alert " : "", k >= 0 ? av.alerts[k].title : "",
                           k >= 0 ? " involves" : "");
        } else if (analyze) {
            add_reason(reasons, "history", "info", "no stored event of this file being written in the last %d days",
                       HISTORY_DAYS);
        }
    } else if (path && analyze) {
        add_reason(reasons, "history", "info", "who wrote the file could not be read (store error)");
    }

    /* alerts naming it */
    for (size_t a = 0; (path || sha256) && a < av.n; a++) {
        for (size_t j = 0; j < av.nev[a]; j++) {
            if (!evidence_names_file(&av.ev[a][j], path, sha256))
                continue;
            if (analyze)
                add_reason(reasons, "alerts", av.alerts[a].severity >= 4 ? "malicious" : "suspicious",
                           "named in alert %" PRId64 " (%s severity, %s): %s", av.alerts[a].id,
                           severity_word(av.alerts[a].severity), av.alerts[a].status, av.alerts[a].title);
            json_t *list = json_object_get(server_facts, "alerts");
            if (!list)
                json_object_set_new(server_facts, "alerts", list = json_array());
            json_array_append_new(list, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)av.alerts[a].id, "title",
                                                  av.alerts[a].title, "severity",
                                                  severity_word(av.alerts[a].severity)));
            break;
        }
    }

    /* persistence entries pointing at it, written by an alerted process */
    json_array_foreach(analyze ? reasons : NULL, i, r) {
        const char *engine = str_of(r, "engine"), *source = str_of(r, "source");
        struct store_file_origin po;
        ssize_t k;
        if (!engine || strcmp(engine, "persistence") != 0 || !source)
            continue;
        if (store_events_file_origin(srv->store, device_id, source, since, &po) != 0 || !po.found)
            continue;
        k = alert_of_process(&av, po.process_uid);
        if (k < 0)
            continue;
        rfc3339(po.ts_ns, when);
        add_reason(reasons, "persistence", "suspicious",
                   "started by the persistence entry in %s, written at %s by %s (pid %" PRId64
                   "), a process tree alert %" PRId64 " involves: %s",
                   source, when, po.image, po.pid, av.alerts[k].id, av.alerts[k].title);
    }

    /* the fleet */
    if (sha256 && store_events_hash_seen(srv->store, sha256, since, &seen) == 0) {
        if (seen.found) {
            rfc3339(seen.first_ns, when);
            json_object_set_new(server_facts, "first_seen_on_fleet",
                                json_pack("{s:s,s:s,s:I,s:I,s:b}", "time", when, "device", seen.first_device,
                                          "devices", (json_int_t)seen.devices, "runs", (json_int_t)seen.runs,
                                          "cut_short", seen.cut_short));
            if (analyze)
                add_reason(reasons, "fleet", "info", "this content first ran on the fleet at %s; %" PRId64
                           " runs on %" PRId64 " device(s) in the last %d days%s", when, seen.runs, seen.devices,
                           HISTORY_DAYS, seen.cut_short ? " (search cut short)" : "");
        } else {
            json_object_set_new(server_facts, "first_seen_on_fleet", json_null());
            if (analyze && seen.cut_short)
                add_reason(reasons, "fleet", "info", "the fleet's process events were too many to search in time");
            else if (analyze)
                add_reason(reasons, "fleet", "info", "this content never ran on the fleet in the last %d days",
                           HISTORY_DAYS);
        }
    }
    if (av.failed && analyze)
        add_reason(reasons, "alerts", "info", "some alerts could not be read (store error)");
    alerts_free(&av);

    json_object_set_new(output, "server", server_facts);
    if (analyze)
        verdict_recompute(output, reasons);
}
