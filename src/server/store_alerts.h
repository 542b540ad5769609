/*
 * store_alerts.h — what the store keeps about alerts, their evidence,
 * incidents (with comments and an activity log) and suppression rules.
 *
 * Owned by the alerts module (src/server/alerts*.c, incidents*.c);
 * implemented for SQLite in store_sqlite_alerts*.c. Every change is one
 * transaction: raising an alert (dedup, grouping, the incident's new name,
 * severity and tactics), updates with their cascades (resolving an
 * incident resolves its alerts), merges and unlinks. Each change that
 * touches an incident writes a line to its activity log in the same
 * transaction.
 *
 * Event times are nanoseconds since the epoch (the events' Timestamps);
 * activity times are milliseconds from store_now_ms(). Strings the caller
 * passes are checked by the caller (alerts.c and the routes): the store
 * trusts their form and length. Severities are ranks (alerts.h).
 */
#ifndef YAMORI_SERVER_STORE_ALERTS_H
#define YAMORI_SERVER_STORE_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_ALERT_TITLE_MAX 256
#define STORE_ALERT_RULE_MAX 128
#define STORE_ALERT_SHORT_MAX 128      /* account, process id, logon id, category ... */
#define STORE_ALERT_TEXT_MAX 8192      /* description, recommended actions */
#define STORE_ALERT_DEDUP_MAX 512
#define STORE_EVIDENCE_VALUE_MAX 4096
#define STORE_EVIDENCE_DETAIL_MAX 16384
#define STORE_ALERT_MAX_SEQS 256       /* event Seqs kept per alert (the first ones) */
#define STORE_INCIDENT_NAME_MAX 256
#define STORE_COMMENT_MAX 4096

/* ------------------------------------------------------------ raising */

struct store_evidence_new {
    const char *type, *role, *value;
    const char *detail_json;  /* a JSON object text, or NULL */
    const char *verdict;      /* "malicious", "suspicious", "clean" */
};

/* A value that groups alerts (alerts_key_shareable said yes). */
struct store_alert_key {
    const char *kind;         /* "process", "logon", "file", "ip", ... */
    const char *value;
};

struct store_alert_new {
    const char *device_id;
    const char *rule_id, *dedup_key;         /* "" when none */
    const char *title, *description, *recommended_actions;
    const char *detection_source, *category; /* category "" when none */
    const char *account, *process_uid, *logon_id; /* "" when none */
    int severity;                            /* rank 1..4 */
    const char *tactics_json;                /* array of canonical names in kill-chain order */
    const char *techniques_json;             /* array of "T1053.003" */
    int64_t first_event_ns, last_event_ns;
    const uint64_t *seqs;
    size_t nseqs;
    const struct store_evidence_new *evidence;
    size_t nevidence;
    const struct store_alert_key *keys;
    size_t nkeys;
    int64_t suppression_id;  /* > 0: a rule suppressed it: stored resolved as a false positive, in no incident */
};

struct store_alert_raised {
    int64_t alert_id;
    int64_t incident_id;     /* 0 when suppressed */
    bool updated;            /* an unresolved alert with the same dedup key was updated */
    bool new_incident;       /* the alert started an incident */
    unsigned merged;         /* newer open incidents it related, merged into incident_id */
};

/* In one transaction: when a dedup key is given and the device has an
 * unresolved alert with it, updates that alert (last event time, event
 * count, Seqs, evidence and keys it did not have yet) and its incident's
 * activity time; else inserts the alert with its evidence and keys and,
 * unless suppressed, adds it to the oldest open (active or in progress)
 * incident holding an alert of the same device that shares a key and
 * whose events lie within window_ns of the new alert's, or to a new
 * incident. Newer open incidents the alert also shares a key with merge
 * into that one (their activity logs say which alert related them), unless
 * their owners or classifications differ. The incident's severity, tactics and (unless a person named
 * it) name are derived again. Returns 0 or -EIO. */
int store_alert_raise(struct store *st, const struct store_alert_new *a, int64_t window_ns,
                      struct store_alert_raised *out);

/* ------------------------------------------------------------ reading alerts */

struct store_alert {
    int64_t id, incident_id;                 /* incident 0: none (suppressed) */
    char device_id[40];
    char rule_id[STORE_ALERT_RULE_MAX + 1];
    char dedup_key[STORE_ALERT_DEDUP_MAX + 1];
    char title[STORE_ALERT_TITLE_MAX + 1];
    int severity;
    char status[16];                         /* new, in progress, resolved */
    char classification[40], determination[40]; /* "" when not set */
    char category[40], detection_source[40];
    char account[STORE_ALERT_SHORT_MAX + 1], process_uid[STORE_ALERT_SHORT_MAX + 1];
    char logon_id[STORE_ALERT_SHORT_MAX + 1];
    char assigned_to[64];
    char *description, *recommended_actions; /* owned */
    char *tactics_json, *techniques_json;    /* owned, JSON arrays */
    char *seqs_json;                         /* owned, JSON array of numbers */
    int64_t first_event_ns, last_event_ns, event_count;
    int64_t created_ms, updated_ms, resolved_ms;
    bool suppressed;
    int64_t suppression_id;
};

void store_alert_clear(struct store_alert *a);           /* frees what a owns; accepts NULL */
void store_alerts_free(struct store_alert *v, size_t n); /* accepts NULL */

/* One alert: 0, -ENOENT, -EIO. The caller clears *out. */
int store_alert_get(struct store *st, int64_t id, struct store_alert *out);

struct store_alert_filter {
    int64_t incident_id;      /* > 0: that incident's alerts */
    const char *status;       /* canonical; NULL: any */
    int severity;             /* rank; 0: any */
    const char *device_id;    /* NULL: any */
    const char *assigned_to;  /* user name; NULL: any */
    int64_t since_ms;         /* updated at or after; 0: any */
    bool oldest_first;        /* else newest (last activity) first */
    size_t limit, offset;     /* limit 0: 100000 */
};

/* The matching alerts into a malloc'd array (store_alerts_free) and how
 * many matched in all (*total, may be NULL). 0 or -errno. */
int store_alert_list(struct store *st, const struct store_alert_filter *f, struct store_alert **out, size_t *n,
                     size_t *total);

struct store_evidence {
    int64_t id, alert_id;
    char type[16], role[24], verdict[16], remediation_status[24];
    char *value, *detail_json;               /* owned; detail NULL when none */
    int64_t created_ms;
};

void store_evidence_free(struct store_evidence *v, size_t n); /* accepts NULL */

/* The evidence of one alert (alert_id > 0) or of every alert of one
 * incident (incident_id > 0), oldest first. 0 or -errno. */
int store_evidence_list(struct store *st, int64_t alert_id, int64_t incident_id, struct store_evidence **out,
                        size_t *n);

/* ------------------------------------------------------------ changing alerts */

/* What a person changes; NULL leaves a field as it is, "" clears a
 * classification, determination or assignee. Canonical values. */
struct store_alert_change {
    const char *status, *classification, *determination, *assigned_to;
};

/* Changes alert id on behalf of actor and records it in its incident's
 * activity. Resolving the last unresolved alert of an open incident
 * resolves the incident. A changed classification without a determination
 * clears the determination. *changed tells whether anything changed.
 * 0, -ENOENT, -EIO. */
int store_alert_update(struct store *st, int64_t id, const struct store_alert_change *ch, const char *actor,
                       bool *changed);

/* Moves alert id out of its incident into a new incident of its own.
 * -ENOENT no such alert; -EPERM (with why) when it belongs to no incident,
 * is its incident's only alert, or the incident is resolved or
 * redirected. Sets *new_incident. */
int store_alert_unlink(struct store *st, int64_t id, const char *actor, int64_t *new_incident, char *why,
                       size_t whylen);

/* ------------------------------------------------------------ incidents */

struct store_incident {
    int64_t id;
    char name[STORE_INCIDENT_NAME_MAX + 1];
    bool name_locked;                        /* a person named it */
    int severity;
    char status[16];
    char classification[40], determination[40];
    char assigned_to[64];
    char *tags_json, *tactics_json;          /* owned, JSON arrays */
    int64_t redirected_to;                   /* the incident it was merged into, 0 */
    int64_t created_ms, updated_ms;          /* updated: last activity */
    int64_t first_event_ns, last_event_ns;
    int64_t alert_count;
    char *devices_json;                      /* owned: JSON array of the device ids of its alerts */
    char *users_json;                        /* owned: JSON array of the accounts of its alerts */
};

void store_incident_clear(struct store_incident *i);
void store_incidents_free(struct store_incident *v, size_t n);

int store_incident_get(struct store *st, int64_t id, struct store_incident *out);

struct store_incident_filter {
    const char *status;       /* canonical; NULL: any */
    int severity;             /* rank; 0: any */
    const char *device_id;    /* an alert on this device; NULL: any */
    const char *assigned_to;  /* NULL: any */
    int64_t since_ms;         /* last activity at or after; 0: any */
    size_t limit, offset;
};

/* Matching incidents, last activity first (store_incidents_free). */
int store_incident_list(struct store *st, const struct store_incident_filter *f, struct store_incident **out,
                        size_t *n, size_t *total);

struct store_incident_change {
    const char *status, *classification, *determination, *assigned_to; /* as store_alert_change */
    const char *tags_json;    /* the new tags (sorted, no duplicates), NULL: unchanged */
    const char *name;         /* a person's name (locks it); "" gives it back to the automatic name */
};

/* Changes incident id on behalf of actor, one activity line per changed
 * field. Resolving resolves its alerts. -ENOENT; -EPERM (why) for a
 * redirected incident or status "redirected". */
int store_incident_update(struct store *st, int64_t id, const struct store_incident_change *ch, const char *actor,
                          bool *changed, char *why, size_t whylen);

/* Merges incident from into incident into: from's alerts move, from
 * becomes redirected (redirected_to = into). -ENOENT (why names which);
 * -EPERM (why) when they are the same, either is resolved or redirected,
 * or their assignees or classifications differ (both set and unequal). */
int store_incident_merge(struct store *st, int64_t from, int64_t into, const char *actor, char *why, size_t whylen);

struct store_incident_note {   /* a comment or an activity line */
    int64_t id, ts_ms;
    char actor[64];            /* "" for the system */
    char action[32];           /* activity only: "created", "alert added", "status", ... */
    char *text;                /* owned: the comment, or the activity's sentence */
};

void store_incident_notes_free(struct store_incident_note *v, size_t n);

/* Adds a comment by author (also an activity line). -ENOENT. */
int store_incident_comment(struct store *st, int64_t id, const char *author, const char *text, int64_t *comment_id);

/* The comments / the activity log of an incident, oldest first. */
int store_incident_comments(struct store *st, int64_t id, struct store_incident_note **out, size_t *n);
int store_incident_activity(struct store *st, int64_t id, struct store_incident_note **out, size_t *n);

/* ------------------------------------------------------------ suppression rules */

struct store_suppression {
    int64_t id;
    char rule_id[STORE_ALERT_RULE_MAX + 1];
    char device_id[40];                      /* "" any device */
    char *value;                             /* owned; NULL any value */
    int64_t from_alert_id;
    char created_by[64];
    int64_t created_ms;
    int64_t hits, last_hit_ms;
};

void store_suppressions_free(struct store_suppression *v, size_t n);

/* Creates a rule. -EEXIST when an identical rule exists. */
int store_suppression_create(struct store *st, const char *rule_id, const char *device_id, const char *value,
                             int64_t from_alert_id, const char *created_by, int64_t *id);

/* Every rule (rule_id NULL) or the rules of one detection rule, oldest
 * first. */
int store_suppression_list(struct store *st, const char *rule_id, struct store_suppression **out, size_t *n);

int store_suppression_get(struct store *st, int64_t id, struct store_suppression *out);

/* Deletes a rule (its suppressed alerts stay). -ENOENT. */
int store_suppression_delete(struct store *st, int64_t id);

#endif
