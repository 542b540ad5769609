/*
 * detection_hit.c — a match becomes an alert: the struct alert_hit of
 * alert_sink.h, with the rule's meaning (detection_rules.c) and the
 * evidence taken from the event.
 *
 * Evidence, by what the event is about:
 *  - the process: for a process event the process itself (role "source")
 *    and its parent ("contextual"); for other events the process that acted
 *    (InitiatingProcess…, "source") and its parent ("contextual"). Detail:
 *    pid, image, command line, user, sha256.
 *  - a file event's file: type "persistence" when LocationTag is a
 *    persistence location, "ssh_key" for authorized_keys, "configuration"
 *    for security and agent configuration, else "file"; role "created"
 *    (FileCreated), "added" (a persistence entry created, or a file
 *    renamed into place), else "edited" (written, truncated, deleted, mode,
 *    owner or times changed).
 *  - a network event's remote address ("ip"; "command-and-control" for
 *    outbound connections, "suspicious" for inbound) and URL ("url").
 *  - a logon's remote address ("ip", "attacker") and account ("user",
 *    "attacked").
 *  - a correlation's group values (RemoteIP, User...) the same way.
 *  - a device event's target process ("process", "attacked").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"
#include "common/tlv.h"
#include "server/detection_int.h"

#define ARENA 65536

struct hitbuf {
    struct alert_hit hit;
    struct alert_evidence ev[ALERT_MAX_EVIDENCE];
    struct jsonw dj[ALERT_MAX_EVIDENCE];
    size_t n;
    char arena[ARENA];
    size_t used;
};

/* A NUL-terminated copy of n bytes in the arena ("" when it is full). */
static const char *keep(struct hitbuf *hb, const char *s, size_t n)
{
    char *p;

    if (hb->used + n + 1 > ARENA)
        return "";
    p = hb->arena + hb->used;
    memcpy(p, s, n);
    p[n] = '\0';
    hb->used += n + 1;
    return p;
}

/* Field f as text in the arena, or NULL when absent or empty. */
static const char *fstr(struct hitbuf *hb, const struct det_event *ev, unsigned f)
{
    const struct schema_field_info *fi;
    char num[32];

    if (f >= F_MAX_ID || !ev->has[f])
        return NULL;
    fi = schema_field(f);
    if (fi && (fi->type == SCHEMA_STR || fi->type == SCHEMA_JSON))
        return ev->n[f] ? keep(hb, ev->s[f], ev->n[f]) : NULL;
    if (fi && fi->type == SCHEMA_INT)
        snprintf(num, sizeof(num), "%" PRId64, tlv_unzigzag(ev->u[f]));
    else
        snprintf(num, sizeof(num), "%" PRIu64, ev->u[f]);
    return keep(hb, num, strlen(num));
}

static bool is(const struct det_event *ev, unsigned f, const char *text)
{
    size_t n = strlen(text);
    return ev->has[f] && ev->n[f] == n && memcmp(ev->s[f], text, n) == 0;
}

static bool starts(const struct det_event *ev, unsigned f, const char *text)
{
    size_t n = strlen(text);
    return ev->has[f] && ev->n[f] >= n && memcmp(ev->s[f], text, n) == 0;
}

/* Adds one entity (skipped when the same type and value is there). Returns
 * its detail writer (an object begun), or NULL. */
static struct jsonw *add(struct hitbuf *hb, const char *type, const char *role, const char *value)
{
    struct jsonw *w;

    if (!value || !*value || hb->n >= ALERT_MAX_EVIDENCE)
        return NULL;
    for (size_t i = 0; i < hb->n; i++)
        if (strcmp(hb->ev[i].type, type) == 0 && strcmp(hb->ev[i].value, value) == 0)
            return NULL;
    w = &hb->dj[hb->n];
    jsonw_init(w);
    jsonw_object_begin(w);
    hb->ev[hb->n].type = type;
    hb->ev[hb->n].role = role;
    hb->ev[hb->n].value = value;
    hb->ev[hb->n].detail_json = NULL;
    hb->n++;
    return w;
}

static void kv_field(struct jsonw *w, const char *key, const struct det_event *ev, unsigned f)
{
    const struct schema_field_info *fi = schema_field(f);

    if (!w || !ev->has[f] || !fi)
        return;
    if (fi->type == SCHEMA_STR || fi->type == SCHEMA_JSON) {
        jsonw_key(w, key);
        jsonw_strn(w, ev->s[f], ev->n[f]);
    } else if (fi->type == SCHEMA_INT) {
        jsonw_kv_int(w, key, tlv_unzigzag(ev->u[f]));
    } else if (fi->type == SCHEMA_TIME) {
        jsonw_kv_time(w, key, ev->u[f]);
    } else if (fi->type == SCHEMA_BOOL) {
        jsonw_kv_bool(w, key, true);
    } else {
        jsonw_kv_uint(w, key, ev->u[f]);
    }
}

/* A process entity from a block of fields (unique id, pid, image, command
 * line, user, sha256; 0 for a field the block lacks). */
static void process(struct hitbuf *hb, const struct det_event *ev, const char *role, unsigned uid, unsigned pid,
                    unsigned image, unsigned cmd, unsigned user, unsigned sha)
{
    const char *value = fstr(hb, ev, uid);
    struct jsonw *w;
    char alt[64];

    if (!value && ev->has[pid]) {
        /* no unique id (logs read from a file): the pid stands in */
        snprintf(alt, sizeof(alt), "pid:%" PRIu64 "@%s", ev->u[pid], ev->device_id);
        value = keep(hb, alt, strlen(alt));
    }
    w = add(hb, "process", role, value);
    kv_field(w, "pid", ev, pid);
    kv_field(w, "image", ev, image);
    if (cmd)
        kv_field(w, "command_line", ev, cmd);
    if (user)
        kv_field(w, "user", ev, user);
    if (sha)
        kv_field(w, "sha256", ev, sha);
}

static const char *file_type(const struct det_event *ev)
{
    if (is(ev, F_LOCATION_TAG, "persistence:ssh-key"))
        return "ssh_key";
    if (starts(ev, F_LOCATION_TAG, "persistence:"))
        return "persistence";
    if (starts(ev, F_LOCATION_TAG, "security:") || is(ev, F_LOCATION_TAG, "agent:config"))
        return "configuration";
    return "file";
}

static const char *file_role(const struct det_event *ev, const char *type)
{
    bool entry = strcmp(type, "persistence") == 0 || strcmp(type, "ssh_key") == 0;

    if (is(ev, F_ACTION_TYPE, "FileCreated"))
        return entry ? "added" : "created";
    if (is(ev, F_ACTION_TYPE, "FileRenamed"))
        return "added";
    return "edited";
}

static void file(struct hitbuf *hb, const struct det_event *ev)
{
    const char *type = file_type(ev);
    struct jsonw *w = add(hb, type, file_role(ev, type), fstr(hb, ev, F_FOLDER_PATH));
    const struct schema_field_info *snippet = schema_field_by_name("FileContentSnippet", 18);

    kv_field(w, "path", ev, F_FOLDER_PATH);
    kv_field(w, "name", ev, F_FILE_NAME);
    kv_field(w, "action", ev, F_ACTION_TYPE);
    kv_field(w, "location", ev, F_LOCATION_TAG);
    kv_field(w, "previous_path", ev, F_PREVIOUS_FOLDER_PATH);
    kv_field(w, "mode", ev, F_FILE_MODE);
    kv_field(w, "link_target", ev, F_LINK_TARGET);
    if (snippet)
        kv_field(w, "content", ev, snippet->id);
}

static void remote(struct hitbuf *hb, const struct det_event *ev, const char *role)
{
    struct jsonw *w = add(hb, "ip", role, fstr(hb, ev, F_REMOTE_IP));

    kv_field(w, "port", ev, F_REMOTE_PORT);
    kv_field(w, "protocol", ev, F_PROTOCOL);
    kv_field(w, "action", ev, F_ACTION_TYPE);
    kv_field(w, "type", ev, F_REMOTE_IP_TYPE);
    kv_field(w, "url", ev, F_REMOTE_URL);
}

/* Everything the event says, as evidence. */
static void evidence_of_event(struct hitbuf *hb, const struct det_event *ev)
{
    if (ev->table == SCHEMA_T_PROCESS) {
        process(hb, ev, "source", F_PROCESS_UNIQUE_ID, F_PROCESS_ID, F_FOLDER_PATH, F_PROCESS_COMMAND_LINE,
                F_ACCOUNT_NAME, F_SHA256);
        process(hb, ev, "contextual", F_IP_UNIQUE_ID, F_IP_ID, F_IP_FOLDER_PATH, F_IP_COMMAND_LINE,
                F_IP_ACCOUNT_NAME, F_IP_SHA256);
        return;
    }
    if (ev->table == SCHEMA_T_FILE)
        file(hb, ev);
    if (ev->table == SCHEMA_T_NETWORK) {
        bool inbound = is(ev, F_ACTION_TYPE, "InboundConnectionAccepted");
        remote(hb, ev, inbound ? "suspicious" : "command-and-control");
        if (!inbound) {
            struct jsonw *w = add(hb, "url", "command-and-control", fstr(hb, ev, F_REMOTE_URL));
            kv_field(w, "ip", ev, F_REMOTE_IP);
        }
    }
    if (ev->table == SCHEMA_T_LOGON) {
        struct jsonw *w;
        remote(hb, ev, "attacker");
        w = add(hb, "user", "attacked", fstr(hb, ev, F_ACCOUNT_NAME));
        kv_field(w, "protocol", ev, F_PROTOCOL);
        kv_field(w, "logon_type", ev, F_LOGON_TYPE);
        kv_field(w, "method", ev, F_AUTHENTICATION_METHOD);
        kv_field(w, "result", ev, F_ACTION_TYPE);
    }
    if (ev->table == SCHEMA_T_DEVICE)
        process(hb, ev, "attacked", F_TARGET_PROCESS_UNIQUE_ID, F_TARGET_PROCESS_ID, F_TARGET_PROCESS_FOLDER_PATH, 0,
                0, 0);
    process(hb, ev, "source", F_IP_UNIQUE_ID, F_IP_ID, F_IP_FOLDER_PATH, F_IP_COMMAND_LINE, F_IP_ACCOUNT_NAME,
            F_IP_SHA256);
    process(hb, ev, "contextual", F_IP_PARENT_UNIQUE_ID, F_IP_PARENT_ID, F_IP_PARENT_FOLDER_PATH, 0, 0, 0);
}

/* A correlation's group ("RemoteIP=203.0.113.7, DeviceName=vm") as
 * evidence: addresses and accounts. */
static void evidence_of_group(struct hitbuf *hb, const char *group)
{
    static const struct {
        const char *key, *type, *role;
    } keys[] = {
        {"RemoteIP", "ip", "attacker"},        {"SourceIp", "ip", "attacker"},
        {"IpAddress", "ip", "attacker"},       {"DestinationIp", "ip", "command-and-control"},
        {"User", "user", "attacked"},          {"AccountName", "user", "attacked"},
        {"TargetUserName", "user", "attacked"},
    };
    const char *p = group;

    while (p && *p) {
        const char *eq = strchr(p, '='), *end;
        if (!eq)
            break;
        end = strstr(eq, ", ");
        if (!end)
            end = eq + strlen(eq);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            size_t kl = strlen(keys[i].key);
            if ((size_t)(eq - p) == kl && memcmp(p, keys[i].key, kl) == 0 && end > eq + 1) {
                struct jsonw *w = add(hb, keys[i].type, keys[i].role, keep(hb, eq + 1, (size_t)(end - eq - 1)));
                if (w)
                    jsonw_kv_str(w, "from", "correlation group");
            }
        }
        p = *end ? end + 2 : end;
    }
}

/* The common part: device, times, lineage, account, logon id. */
static void base(struct hitbuf *hb, const struct det_event *ev)
{
    struct alert_hit *h = &hb->hit;
    const char *uid = fstr(hb, ev, F_PROCESS_UNIQUE_ID), *ipu = fstr(hb, ev, F_IP_UNIQUE_ID),
               *ppu = fstr(hb, ev, F_IP_PARENT_UNIQUE_ID);
    size_t nl = 0;

    h->device_id = ev->device_id;
    h->first_event_ns = h->last_event_ns = ev->ts_ns;
    h->event_seqs[0] = ev->seq;
    if (uid)
        h->lineage[nl++] = uid;
    if (ipu)
        h->lineage[nl++] = ipu;
    if (ppu)
        h->lineage[nl++] = ppu;
    h->process_uid = ev->table == SCHEMA_T_PROCESS ? uid : ipu;
    h->account = ev->table == SCHEMA_T_PROCESS || ev->table == SCHEMA_T_LOGON ? fstr(hb, ev, F_ACCOUNT_NAME)
                                                                             : fstr(hb, ev, F_IP_ACCOUNT_NAME);
    h->logon_id = fstr(hb, ev, F_LOGON_ID);
}

static int raise_hit(struct hitbuf *hb)
{
    int64_t id = 0;
    int rc;

    for (size_t i = 0; i < hb->n; i++) {
        jsonw_object_end(&hb->dj[i]);
        if (!jsonw_failed(&hb->dj[i]) && hb->dj[i].len > 2)
            hb->ev[i].detail_json = keep(hb, hb->dj[i].buf, hb->dj[i].len);
    }
    hb->hit.evidence = hb->ev;
    hb->hit.nevidence = hb->n;
    rc = alert_sink_raise(&hb->hit, &id);
    for (size_t i = 0; i < hb->n; i++)
        jsonw_free(&hb->dj[i]);
    return rc;
}

int det_hit_rule(const struct det_event *ev, const struct det_rule *r, const struct detect_match *m)
{
    struct hitbuf *hb = calloc(1, sizeof(*hb));
    const struct detect_rule_info *info = r->info;
    const char *rid = info->id ? info->id : info->title ? info->title : "rule";
    char key[1024];
    int rc;

    if (!hb)
        return -ENOMEM;
    base(hb, ev);
    hb->hit.detection_source = r->source;
    hb->hit.rule_id = rid;
    hb->hit.title = info->title ? info->title : rid;
    hb->hit.description = r->description;
    hb->hit.severity = r->severity;
    hb->hit.category = r->category;
    for (int i = 0; r->tactics[i] && i < ALERT_MAX_TECHNIQUES - 1; i++)
        hb->hit.tactics[i] = r->tactics[i];
    for (int i = 0; r->techniques[i] && i < ALERT_MAX_TECHNIQUES - 1; i++)
        hb->hit.techniques[i] = r->techniques[i];
    hb->hit.recommended_actions = r->recommended;
    if (m->kind == DETECT_MATCH_CORRELATION) {
        snprintf(key, sizeof(key), "%s|%s", rid, m->group ? m->group : "");
        if (m->first_ns)
            hb->hit.first_event_ns = m->first_ns;
        if (m->last_ns)
            hb->hit.last_event_ns = m->last_ns;
        evidence_of_group(hb, m->group);
    } else {
        snprintf(key, sizeof(key), "%s|%s", rid,
                 hb->hit.process_uid ? hb->hit.process_uid : fstr(hb, ev, F_FOLDER_PATH) ? fstr(hb, ev, F_FOLDER_PATH) : "");
    }
    hb->hit.dedup_key = keep(hb, key, strlen(key));
    evidence_of_event(hb, ev);
    rc = raise_hit(hb);
    free(hb);
    return rc;
}

int det_hit_indicator(const struct det_event *ev, const struct det_indicator *ind, unsigned field)
{
    struct hitbuf *hb = calloc(1, sizeof(*hb));
    const struct schema_field_info *fi = schema_field(field);
    char rid[64], key[1024], desc[2600];
    int rc;

    if (!hb)
        return -ENOMEM;
    base(hb, ev);
    snprintf(rid, sizeof(rid), "indicator:%" PRId64, ind->id);
    hb->hit.detection_source = "indicators";
    hb->hit.rule_id = keep(hb, rid, strlen(rid));
    hb->hit.title = ind->title;
    snprintf(desc, sizeof(desc), "%s%s%s %s matched the indicator %s.", ind->description,
             *ind->description ? "\n" : "", fi ? fi->name : "A field", fstr(hb, ev, field) ? fstr(hb, ev, field) : "",
             ind->value);
    hb->hit.description = keep(hb, desc, strlen(desc));
    hb->hit.severity = ind->severity;
    hb->hit.recommended_actions =
        "The event names a known indicator: confirm what the process, file or address is on this device; "
        "quarantine or block it if the indicator is right, and review the process tree around it.";
    snprintf(key, sizeof(key), "%s|%s", rid, hb->hit.process_uid ? hb->hit.process_uid : "");
    hb->hit.dedup_key = keep(hb, key, strlen(key));
    evidence_of_event(hb, ev);
    rc = raise_hit(hb);
    free(hb);
    return rc;
}
