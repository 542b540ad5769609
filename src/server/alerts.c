/*
 * alerts.c — the alerts engine and the server module that runs it: every
 * struct alert_hit raised through alert_sink.h is checked against the
 * sink's contract, matched against the suppression rules, reduced to the
 * keys that may group it (alerts_key_shareable) and stored with
 * store_alert_raise(), which dedups and groups in one transaction.
 *
 * A hit that breaks the contract (no device or title, an unknown severity,
 * detection source, evidence type or role, text too long, detail that is
 * not a JSON object) is refused with -EINVAL and a log line saying why;
 * tactics and techniques the engine does not know are dropped with a
 * warning instead, so that a rule with a misspelt tag still alerts.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "server/alerts.h"
#include "server/alerts_int.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_alerts.h"

#define ALERTS_MAGIC 0x414c5254u /* "ALRT" */
#define MAX_KEYS (ALERT_MAX_LINEAGE + 2 + 2 * ALERT_MAX_EVIDENCE)

struct alerts {
    unsigned magic;
    struct store *st;
    int64_t window_ns;
};

struct alerts *alerts_new(struct store *st, unsigned window_hours)
{
    struct alerts *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->magic = ALERTS_MAGIC;
    a->st = st;
    a->window_ns = (int64_t)(window_hours ? window_hours : 24) * 3600 * 1000000000LL;
    return a;
}

void alerts_free(struct alerts *a)
{
    if (!a)
        return;
    a->magic = 0;
    free(a);
}

/* ------------------------------------------------------------------ checking a hit */

/* Printable text of at most max bytes (tabs and newlines allowed when
 * multiline); NULL passes when optional. */
static bool text_ok(const char *s, size_t max, bool optional, bool multiline)
{
    size_t n = 0;

    if (!s)
        return optional;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
        if (n >= max)
            return false;
        if (*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t')))
            return false;
        if (*p == 0x7f)
            return false;
    }
    return optional || n > 0;
}

/* Whether s looks like an ATT&CK technique id: T + 4 digits [+ . + 3]. */
static bool technique_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if ((n != 5 && n != 9) || (s[0] != 'T' && s[0] != 't'))
        return false;
    for (size_t i = 1; i < 5; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    if (n == 9 && (s[5] != '.' || s[6] < '0' || s[6] > '9' || s[7] < '0' || s[7] > '9' || s[8] < '0' || s[8] > '9'))
        return false;
    return true;
}

struct prepared {
    struct store_alert_new a;
    struct store_evidence_new ev[ALERT_MAX_EVIDENCE];
    struct store_alert_key keys[MAX_KEYS];
    char *sha256[ALERT_MAX_EVIDENCE];      /* owned: sha256 values pulled out of evidence detail */
    struct jsonw tactics, techniques;
    char *tactics_text, *techniques_text;  /* owned, NUL-terminated copies */
    uint64_t seqs[8];
};

static void prepared_free(struct prepared *p)
{
    for (size_t i = 0; i < ALERT_MAX_EVIDENCE; i++)
        free(p->sha256[i]);
    jsonw_free(&p->tactics);
    jsonw_free(&p->techniques);
    free(p->tactics_text);
    free(p->techniques_text);
}

static void add_key(struct prepared *p, const char *kind, const char *value)
{
    if (p->a.nkeys >= MAX_KEYS || !alerts_key_shareable(kind, value))
        return;
    for (size_t i = 0; i < p->a.nkeys; i++)
        if (strcmp(p->keys[i].kind, kind) == 0 && strcmp(p->keys[i].value, value) == 0)
            return;
    p->keys[p->a.nkeys].kind = kind;
    p->keys[p->a.nkeys].value = value;
    p->a.nkeys++;
}

/* Fills p from hit; -EINVAL with the reason in why. */
static int prepare(const struct alert_hit *hit, struct prepared *p, char *why, size_t whylen)
{
    bool tactic_seen[ALERTS_NTACTICS + 1] = {false};
    size_t i;

    memset(p, 0, sizeof(*p));
    jsonw_init(&p->tactics);
    jsonw_init(&p->techniques);
    if (!hit->device_id || !text_ok(hit->device_id, 39, false, false)) {
        snprintf(why, whylen, "device_id: missing or not an id");
        return -EINVAL;
    }
    if (!text_ok(hit->title, STORE_ALERT_TITLE_MAX, false, false)) {
        snprintf(why, whylen, "title: missing, longer than %d bytes or with control characters",
                 STORE_ALERT_TITLE_MAX);
        return -EINVAL;
    }
    p->a.severity = alerts_severity_rank(hit->severity);
    if (!p->a.severity) {
        snprintf(why, whylen, "severity: '%.40s' is not one of %s", hit->severity ? hit->severity : "(none)",
                 alerts_vocab_list("severity"));
        return -EINVAL;
    }
    p->a.detection_source = hit->detection_source ? alerts_detection_source(hit->detection_source) : "EDR";
    if (!p->a.detection_source) {
        snprintf(why, whylen, "detection_source: '%.40s' is not EDR, antivirus, custom detection, automated"
                              " investigation or indicators", hit->detection_source);
        return -EINVAL;
    }
    if (!text_ok(hit->rule_id, STORE_ALERT_RULE_MAX, true, false) ||
        !text_ok(hit->dedup_key, STORE_ALERT_DEDUP_MAX, true, false) ||
        !text_ok(hit->description, STORE_ALERT_TEXT_MAX, true, true) ||
        !text_ok(hit->recommended_actions, STORE_ALERT_TEXT_MAX, true, true) ||
        !text_ok(hit->account, STORE_ALERT_SHORT_MAX, true, false) ||
        !text_ok(hit->process_uid, STORE_ALERT_SHORT_MAX, true, false) ||
        !text_ok(hit->logon_id, STORE_ALERT_SHORT_MAX, true, false)) {
        snprintf(why, whylen, "a text member (rule_id, dedup_key, description, recommended_actions, account,"
                              " process_uid, logon_id) is too long or has control characters");
        return -EINVAL;
    }
    if (hit->nevidence > ALERT_MAX_EVIDENCE || (hit->nevidence && !hit->evidence)) {
        snprintf(why, whylen, "evidence: at most %d entries", ALERT_MAX_EVIDENCE);
        return -EINVAL;
    }
    p->a.device_id = hit->device_id;
    p->a.rule_id = hit->rule_id ? hit->rule_id : "";
    p->a.dedup_key = hit->dedup_key ? hit->dedup_key : "";
    p->a.title = hit->title;
    p->a.description = hit->description;
    p->a.recommended_actions = hit->recommended_actions;
    p->a.account = hit->account;
    p->a.process_uid = hit->process_uid;
    p->a.logon_id = hit->logon_id;
    p->a.first_event_ns = hit->first_event_ns;
    p->a.last_event_ns = hit->last_event_ns >= hit->first_event_ns ? hit->last_event_ns : hit->first_event_ns;

    /* tactics in kill-chain order; the category is the first known one */
    for (i = 0; i < ALERT_MAX_TECHNIQUES && hit->tactics[i]; i++) {
        int r = alerts_tactic_rank(hit->tactics[i]);
        if (r)
            tactic_seen[r] = true;
        else
            log_warn("alert '%s': unknown ATT&CK tactic '%.60s' left out", hit->title, hit->tactics[i]);
    }
    if (hit->category) {
        int r = alerts_tactic_rank(hit->category);
        if (r)
            tactic_seen[r] = true;
        p->a.category = alerts_tactic_name(r);
    }
    jsonw_array_begin(&p->tactics);
    for (int r = 1; r <= ALERTS_NTACTICS; r++)
        if (tactic_seen[r]) {
            jsonw_str(&p->tactics, alerts_tactic_name(r));
            if (!p->a.category)
                p->a.category = alerts_tactic_name(r);
        }
    jsonw_array_end(&p->tactics);
    jsonw_array_begin(&p->techniques);
    for (i = 0; i < ALERT_MAX_TECHNIQUES && hit->techniques[i]; i++) {
        char t[10];
        if (!technique_ok(hit->techniques[i])) {
            log_warn("alert '%s': '%.60s' is not an ATT&CK technique id, left out", hit->title, hit->techniques[i]);
            continue;
        }
        snprintf(t, sizeof(t), "%s", hit->techniques[i]);
        t[0] = 'T';
        jsonw_str(&p->techniques, t);
    }
    jsonw_array_end(&p->techniques);
    if (jsonw_failed(&p->tactics) || jsonw_failed(&p->techniques) ||
        !(p->tactics_text = strndup(p->tactics.buf, p->tactics.len)) ||
        !(p->techniques_text = strndup(p->techniques.buf, p->techniques.len))) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    p->a.tactics_json = p->tactics_text;
    p->a.techniques_json = p->techniques_text;

    for (i = 0; i < 8 && hit->event_seqs[i]; i++)
        p->seqs[i] = hit->event_seqs[i];
    p->a.seqs = p->seqs;
    p->a.nseqs = i;

    for (i = 0; i < hit->nevidence; i++) {
        const struct alert_evidence *e = &hit->evidence[i];
        struct store_evidence_new *ev = &p->ev[i];
        ev->type = alerts_evidence_type(e->type);
        ev->role = alerts_evidence_role(e->role);
        if (!ev->type || !ev->role) {
            snprintf(why, whylen, "evidence[%zu]: %s '%.40s' is unknown", i, ev->type ? "role" : "type",
                     ev->type ? (e->role ? e->role : "(none)") : (e->type ? e->type : "(none)"));
            return -EINVAL;
        }
        if (!text_ok(e->value, STORE_EVIDENCE_VALUE_MAX, false, false)) {
            snprintf(why, whylen, "evidence[%zu]: value missing, longer than %d bytes or with control characters", i,
                     STORE_EVIDENCE_VALUE_MAX);
            return -EINVAL;
        }
        ev->value = e->value;
        if (e->detail_json) {
            json_t *d = strlen(e->detail_json) <= STORE_EVIDENCE_DETAIL_MAX ? json_loads(e->detail_json, 0, NULL)
                                                                            : NULL;
            const char *sha;
            if (!json_is_object(d)) {
                json_decref(d);
                snprintf(why, whylen, "evidence[%zu]: detail is not a JSON object of at most %d bytes", i,
                         STORE_EVIDENCE_DETAIL_MAX);
                return -EINVAL;
            }
            sha = json_string_value(json_object_get(d, "sha256"));
            if (sha && !(p->sha256[i] = strdup(sha))) {
                json_decref(d);
                snprintf(why, whylen, "out of memory");
                return -ENOMEM;
            }
            json_decref(d);
        }
        ev->detail_json = e->detail_json;
        ev->verdict = alerts_default_verdict(ev->role, p->a.severity);
    }
    p->a.evidence = p->ev;
    p->a.nevidence = hit->nevidence;

    /* what may group it */
    for (i = 0; i < ALERT_MAX_LINEAGE; i++)
        if (hit->lineage[i])
            add_key(p, "process", hit->lineage[i]);
    if (hit->process_uid)
        add_key(p, "process", hit->process_uid);
    if (hit->logon_id)
        add_key(p, "logon", hit->logon_id);
    for (i = 0; i < hit->nevidence; i++) {
        const struct store_evidence_new *ev = &p->ev[i];
        if (strcmp(ev->type, "user") != 0 && strcmp(ev->type, "url") != 0)
            add_key(p, ev->type, ev->value);
        if (p->sha256[i])
            add_key(p, "sha256", p->sha256[i]);
    }
    p->a.keys = p->keys;
    return 0;
}

/* ------------------------------------------------------------------ suppression */

/* Whether value equals an evidence value of the hit or a top-level string
 * of an evidence detail (image path, command line, ...). */
static bool hit_has_value(const struct alert_hit *hit, const char *value)
{
    for (size_t i = 0; i < hit->nevidence; i++) {
        const struct alert_evidence *e = &hit->evidence[i];
        json_t *d, *v;
        const char *k;
        bool found = false;

        if (e->value && strcmp(e->value, value) == 0)
            return true;
        if (!e->detail_json)
            continue;
        d = json_loads(e->detail_json, 0, NULL);
        json_object_foreach(d, k, v)
            if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
                found = true;
        json_decref(d);
        if (found)
            return true;
    }
    return false;
}

/* The id of the first suppression rule matching hit, 0 when none. */
static int64_t suppression_for(struct store *st, const struct alert_hit *hit)
{
    struct store_suppression *v = NULL;
    size_t n = 0;
    int64_t id = 0;

    if (!hit->rule_id || !*hit->rule_id)
        return 0;
    if (store_suppression_list(st, hit->rule_id, &v, &n) != 0) {
        log_warn("alerts: cannot read suppression rules; the alert is stored unsuppressed");
        return 0;
    }
    for (size_t i = 0; i < n && !id; i++) {
        if (v[i].device_id[0] && strcmp(v[i].device_id, hit->device_id) != 0)
            continue;
        if (v[i].value && !hit_has_value(hit, v[i].value))
            continue;
        id = v[i].id;
    }
    store_suppressions_free(v, n);
    return id;
}

/* ------------------------------------------------------------------ the sink */

int alerts_sink(void *ctx, const struct alert_hit *hit, int64_t *alert_id)
{
    struct alerts *a = ctx;
    struct store_alert_raised res;
    struct prepared *p;
    char why[256];
    int e;

    if (!a || a->magic != ALERTS_MAGIC || !hit)
        return -EINVAL;
    p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    e = prepare(hit, p, why, sizeof(why));
    if (e) {
        log_warn("alerts: hit '%.80s' refused: %s", hit->title ? hit->title : "?", why);
        goto out;
    }
    p->a.suppression_id = suppression_for(a->st, hit);
    e = store_alert_raise(a->st, &p->a, a->window_ns, &res);
    if (e)
        goto out;
    if (alert_id)
        *alert_id = res.alert_id;
    if (res.updated)
        log_debug("alert %lld updated (%s)", (long long)res.alert_id, hit->title);
    else if (p->a.suppression_id)
        log_info("alert %lld \"%s\" on %s suppressed by rule %lld", (long long)res.alert_id, hit->title,
                 hit->device_id, (long long)p->a.suppression_id);
    else
        log_info("alert %lld \"%s\" on %s, incident %lld%s", (long long)res.alert_id, hit->title, hit->device_id,
                 (long long)res.incident_id, res.new_incident ? " (new)" : "");
out:
    prepared_free(p);
    free(p);
    return e;
}

/* ------------------------------------------------------------------ the server module */

static const struct server_module alerts_module;

static int alerts_init(struct server *srv, char *err, size_t errlen)
{
    struct alerts *a = alerts_new(srv->store, srv->cfg.incident_window_hours);

    if (!a) {
        snprintf(err, errlen, "alerts: out of memory");
        return -ENOMEM;
    }
    server_set_module_state(srv, &alerts_module, a);
    alert_sink_set(alerts_sink, a);
    return 0;
}

static void alerts_fini(struct server *srv)
{
    struct alerts *a = server_module_state(srv, &alerts_module);

    alert_sink_set(NULL, NULL);
    server_set_module_state(srv, &alerts_module, NULL);
    alerts_free(a);
}

/* The alerts and suppression routes are in alerts_api.c; the incidents
 * routes are the incidents module (incidents.c). */
static const struct server_module alerts_module = {
    .name = "alerts",
    .routes = alerts_routes,
    .order = 35, /* before ingest and detection, so that the sink is there when events arrive */
    .init = alerts_init,
    .fini = alerts_fini,
};
SERVER_MODULE(alerts_module);
