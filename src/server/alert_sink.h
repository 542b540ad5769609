/*
 * alert_sink.h — how detections become alerts: the one handoff between
 * whatever detects (the Sigma detection module, indicators, later custom
 * detections and the antivirus) and the alerts module that stores alerts
 * and groups them into incidents.
 *
 * A detector fills a struct alert_hit and calls alert_sink_raise(). The
 * alerts module registers itself as the sink when it starts. Neither side
 * links against the other, so each can be built and tested alone; a hit
 * raised while no sink is registered is counted (alert_sink_dropped) and
 * logged, never silently lost.
 *
 * Names follow ../shared/REFERENCE.md (Incidents and alerts): severities,
 * detection sources, evidence roles, ATT&CK tactic names.
 */
#ifndef YAMORI_SERVER_ALERT_SINK_H
#define YAMORI_SERVER_ALERT_SINK_H

#include <stddef.h>
#include <stdint.h>

#define ALERT_MAX_EVIDENCE 32
#define ALERT_MAX_LINEAGE 4
#define ALERT_MAX_TECHNIQUES 16

/* One entity of an alert's evidence. Strings are borrowed for the call. */
struct alert_evidence {
    /* "process", "file", "persistence" (cron entry, systemd unit, rc file,
     * ...), "configuration" (a security configuration file), "user", "ip",
     * "url", "ssh_key" */
    const char *type;
    /* REFERENCE.md's roles: "source", "created", "added", "edited",
     * "attacked", "attacker", "command-and-control", "contextual",
     * "scanned", "suspicious" */
    const char *role;
    /* the entity's identity, what two alerts compare to share it: a
     * process's unique id, a path, an address, a user name, a key
     * fingerprint */
    const char *value;
    /* more about it as a JSON object text (pid, image, command line,
     * sha256, port, content snippet, ...), or NULL */
    const char *detail_json;
};

/* One detection. Strings and arrays are borrowed for the call. */
struct alert_hit {
    const char *device_id;            /* required */
    /* "EDR" (rules of the pack and SigmaHQ), "custom detection" (rules
     * from the customer's directories), "indicators" */
    const char *detection_source;
    const char *rule_id;              /* the rule's id, or "indicator:<id>" */
    const char *title;                /* required */
    const char *description;          /* for the analyst */
    const char *severity;             /* "informational", "low", "medium", "high" */
    const char *category;             /* the first ATT&CK tactic, REFERENCE name ("Persistence") or NULL */
    const char *tactics[ALERT_MAX_TECHNIQUES];      /* tactic names, NULL-terminated */
    const char *techniques[ALERT_MAX_TECHNIQUES];   /* "T1053.003", NULL-terminated */
    const char *recommended_actions;  /* or NULL */
    /* Hits with the same key on the same device update one alert (its
     * last event time and count) while it is not resolved: the rule id
     * plus the correlation's group, or the rule id plus the process. */
    const char *dedup_key;
    int64_t first_event_ns, last_event_ns; /* event Timestamps */
    const char *account;              /* the user the alert is about, or NULL */
    const char *process_uid;          /* the process it is about (ProcessUniqueId), or NULL */
    /* The process and its ancestors as the event names them (ProcessUniqueId,
     * InitiatingProcessUniqueId, InitiatingProcessParentUniqueId), NULLs
     * left out: alerts sharing one join the same incident. */
    const char *lineage[ALERT_MAX_LINEAGE];
    const char *logon_id;             /* LogonId (audit session) when set, or NULL */
    uint64_t event_seqs[8];           /* Seq of the events that matched (0 ends) */
    const struct alert_evidence *evidence;
    size_t nevidence;
};

/* The sink: stores hit (a new alert, or an update of the alert with the
 * same dedup key) and returns 0 with the alert id in *alert_id, or -errno. */
typedef int (*alert_sink_fn)(void *ctx, const struct alert_hit *hit, int64_t *alert_id);

/* Registers the sink (NULL fn: none). The alerts module calls it at start
 * and with NULL at stop. Thread-safe. */
void alert_sink_set(alert_sink_fn fn, void *ctx);

/* Hands hit to the sink. Returns its result, or -ENOTCONN when no sink is
 * registered (the hit is counted in alert_sink_dropped and logged).
 * Thread-safe; the sink runs in the caller's thread. */
int alert_sink_raise(const struct alert_hit *hit, int64_t *alert_id);

/* Hits raised while no sink was registered, or refused by it. */
uint64_t alert_sink_dropped(void);

#endif
