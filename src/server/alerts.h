/*
 * alerts.h — alerts and incidents: what the rest of the server (and the
 * tests) may call of the alerts module.
 *
 * The alerts module is the sink of alert_sink.h: every detection becomes
 * an alert (or updates the unresolved alert with the same dedup key on
 * the same device), and every new alert joins the oldest open incident of
 * its device that shares a process of its lineage, its logon id or an
 * evidence entity within the incident window, or starts an incident of its
 * own. Suppression rules turn matching hits into alerts that are resolved
 * at once as false positives and join no incident. docs/architecture.md
 * ("Alerts and incidents") tells the whole story; docs/api.md the routes.
 *
 * Three parts:
 *   - the vocabulary (REFERENCE.md's names: severities, statuses,
 *     classifications, determinations, ATT&CK tactics in kill-chain order,
 *     evidence types, roles, verdicts, remediation statuses) and the pure
 *     rules built on it (incident names, default verdicts, which values
 *     may group alerts): alerts_vocab.c, no I/O;
 *   - the engine (alerts.c): turns a struct alert_hit into a stored alert;
 *     the server module registers it as the sink, tests may run it
 *     in-process on a store of their own;
 *   - the extension point for the alert story (alerts_story_write below).
 */
#ifndef YAMORI_SERVER_ALERTS_H
#define YAMORI_SERVER_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/alert_sink.h"

struct store;
struct server;
struct jsonw;
struct store_alert;

/* ------------------------------------------------------------ vocabulary */

/* Severities ranked 1 informational, 2 low, 3 medium, 4 high. The rank of
 * a name (case-insensitive), 0 when it names none; the name of a rank,
 * NULL when out of range. */
int alerts_severity_rank(const char *name);
const char *alerts_severity_name(int rank);

/* ATT&CK Enterprise tactics ranked in kill-chain order, 1 Reconnaissance
 * .. 14 Impact, named as REFERENCE.md names them ("Defense evasion",
 * "Command and control"). Matching ignores case and takes '_' and '-' for
 * a space, so Sigma's "defense_evasion" works; 0 when it names none. */
#define ALERTS_NTACTICS 14
int alerts_tactic_rank(const char *name);
const char *alerts_tactic_name(int rank);

/* The canonical spelling of a value of each closed list, or NULL when text
 * names none. Matching ignores case and commas and takes '_' and '-' for a
 * space ("in_progress", "false-positive"). The returned strings are
 * static. */
const char *alerts_alert_status(const char *text);      /* new, in progress, resolved */
const char *alerts_incident_status(const char *text);   /* active, in progress, resolved, redirected */
const char *alerts_classification(const char *text);    /* true positive, informational, expected activity, false positive */
/* A determination allowed with classification (NULL: any classification). */
const char *alerts_determination(const char *text, const char *classification);
/* The determinations allowed with a classification, comma-separated. */
const char *alerts_determinations_for(const char *classification);
const char *alerts_detection_source(const char *text);  /* EDR, antivirus, custom detection, automated investigation, indicators */
const char *alerts_evidence_type(const char *text);     /* process, file, persistence, configuration, user, ip, url, ssh_key */
const char *alerts_evidence_role(const char *text);     /* source, created, ... suspicious */
const char *alerts_verdict(const char *text);           /* malicious, suspicious, clean */
const char *alerts_remediation_status(const char *text);

/* The comma-separated list of the values of a closed list, for error
 * messages: "status" (alerts), "incident status", "classification",
 * "determination", "severity", "verdict", "remediation status". */
const char *alerts_vocab_list(const char *which);

/* The verdict an evidence entry gets when it arrives: "malicious" for the
 * attacker and command-and-control; "clean" for contextual and scanned
 * entities; "suspicious" for what was attacked; for the source and what
 * was created, added, edited or marked suspicious, "malicious" when the
 * alert's severity is high, else "suspicious". */
const char *alerts_default_verdict(const char *role, int severity_rank);

/* Whether an entity value may group alerts into one incident: kind is
 * "process" (a lineage or evidence process id), "logon", or an evidence
 * type ("file", "persistence", "configuration", "ip", "sha256",
 * "ssh_key"). Values shared by unrelated activity never group: empty
 * ones, "/" and other top-level directories, the loopback, unspecified,
 * link-local and broadcast addresses, the SHA-256 of empty content,
 * logon id 0 and the unset audit session (4294967295). Users and URLs do
 * not group (root is everyone's user). */
bool alerts_key_shareable(const char *kind, const char *value);

/* The automatic name of an incident into out:
 *   - tactics of two or more kinds: "Multi-stage incident involving A and
 *     B on one endpoint" with the tactics in kill-chain order, all of them
 *     when there are at most three ("A, B and C"), else the earliest and
 *     the latest of the kill chain;
 *   - otherwise: first_title + " on one endpoint".
 * "one endpoint" becomes "N endpoints" when ndevices > 1. tactic_ranks
 * are distinct ranks in increasing order. */
void alerts_incident_name(const int *tactic_ranks, size_t ntactics, const char *first_title, size_t ndevices,
                          char *out, size_t outlen);

/* ------------------------------------------------------------ the engine */

struct alerts;

/* An engine storing alerts in st, grouping within window_hours (>= 1).
 * NULL when out of memory. It does not register itself: pass alerts_sink
 * and the engine to alert_sink_set() (the server module does). */
struct alerts *alerts_new(struct store *st, unsigned window_hours);
void alerts_free(struct alerts *a); /* accepts NULL */

/* The sink (an alert_sink_fn; ctx is a struct alerts *): checks the hit,
 * applies the suppression rules, stores the alert or updates the one with
 * the same dedup key, groups it, sets *alert_id. Returns 0, -EINVAL for a
 * hit that breaks alert_sink.h's contract (logged with the reason), -EIO
 * on a store error. Thread-safe. */
int alerts_sink(void *ctx, const struct alert_hit *hit, int64_t *alert_id);

/* ------------------------------------------------------------ the alert story */

/* Writes the value of the "story" member of an alert page
 * (GET /api/v1/alerts/:id): the process tree around the alert's process
 * (story.h), with the device's other alerts marked on their processes
 * (alerts_story.c). -ENOENT when the alert names no process. w is
 * an empty writer of the call's own: write exactly one JSON value (an
 * object) and return 0, or return -errno (whatever was written is then
 * dropped and the page says `"story": null`). alert is borrowed. */
int alerts_story_write(struct server *srv, const struct store_alert *alert, struct jsonw *w);

#endif
