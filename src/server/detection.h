/*
 * detection.h — the server's detection: Sigma rules (Yamori's pack, SigmaHQ,
 * the customer's own) and indicators, run on every event the ingest stored,
 * raising alerts through alert_sink.h.
 *
 * Parts, usable without HTTP (the tests drive them directly):
 *
 *  - rule sets (detection_rules.c): every .yml/.yaml file under the pack
 *    directory (detection source "EDR") and the customer's directories
 *    ("custom detection") loaded into one compiled engine, with what each
 *    rule means for an alert (severity, ATT&CK tactics and techniques,
 *    recommended actions) and every rule that could not be loaded, with
 *    why. A watcher thread polls the directories' file list and times and
 *    reloads when something changed; a reload that loads nothing keeps the
 *    old rules.
 *  - the worker (detection_worker.c): one thread fed through a bounded
 *    queue by the ingest writer's post-commit hook (detection_submit). It
 *    decodes each record by schema field id, matches it with one
 *    correlation stream per device, checks indicators, and turns each
 *    match into a struct alert_hit (detection_hit.c). The ingest never
 *    waits: a full queue drops the batch from inspection, counted.
 *  - indicators (detection_indicators.c): validation of SHA-256, IP,
 *    domain and path indicators, and a snapshot the worker matches.
 *  - the module (detection_api.c): configuration, the ingest hook, the
 *    routes /api/v1/rules, /api/v1/detection/status, /api/v1/indicators.
 */
#ifndef YAMORI_SERVER_DETECTION_H
#define YAMORI_SERVER_DETECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_event_batch;
struct jsonw;
struct detection;

struct detection_options {
    const char *rules_dir;       /* the rule pack (required) */
    const char *rule_dirs;       /* customer directories, comma-separated, or NULL */
    unsigned poll_ms;            /* directory change checks (0: 5000) */
    size_t max_queue_bytes;      /* events waiting for inspection (0: 64 MiB) */
    unsigned max_devices;        /* correlation streams kept, least recently used evicted (0: 10000) */
    struct store *store;         /* where indicators are kept; NULL: no indicators */
};

/* Loads the rules and starts the worker and the watcher. A first load that
 * fails is logged and reported in the status (the worker runs without
 * rules until a reload succeeds); only a failure to start is an error.
 * Returns 0 with *out, or -errno with a message. */
int detection_start(const struct detection_options *o, struct detection **out, char *err, size_t errlen);

/* Stops the threads (events still queued are inspected first) and frees
 * d. Accepts NULL. */
void detection_stop(struct detection *d);

/* Queues the new events of a committed batch (the last b->stored of
 * b->events) for inspection, copied; never blocks on the worker. When the
 * queue is full they are counted as not inspected. Thread-safe. */
void detection_submit(struct detection *d, const struct store_event_batch *b);

/* Reloads every rule directory now. Returns 0 when a new rule set is in
 * place (rules that failed are reported in it), or -errno with a message
 * when nothing could be loaded (the previous rules stay). Thread-safe. */
int detection_reload(struct detection *d, char *err, size_t errlen);

/* Tells the worker that indicators changed (it reloads them before the next
 * event). */
void detection_indicators_changed(struct detection *d);

/* Waits until every event queued so far was inspected and every rule set
 * published was taken by the worker, or timeout_ms passed. Returns true
 * when idle. For tests and orderly shutdown. */
bool detection_wait_idle(struct detection *d, unsigned timeout_ms);

struct detection_status {
    size_t rules_loaded;         /* rules in the running engine */
    size_t rules_refused;        /* rule documents or files that failed to load */
    size_t rule_files;
    uint64_t events_inspected;
    uint64_t events_not_inspected; /* dropped from a full queue */
    uint64_t hits;               /* rule and indicator matches raised */
    uint64_t indicator_hits;
    uint64_t suppressed_by_allow; /* rule matches an `allow` indicator suppressed */
    uint64_t alerts_failed;      /* hits the sink did not store (this module's) */
    uint64_t alerts_not_stored;  /* alert_sink_dropped(): every detector's */
    uint64_t reloads, reloads_failed;
    int64_t last_reload_ms;      /* wall clock of the last attempt, 0: none */
    bool last_reload_ok;
    char last_reload_error[512];
    size_t queued_bytes;
    size_t devices;              /* correlation streams kept */
    uint64_t devices_evicted;
};
void detection_status(struct detection *d, struct detection_status *out);

/* Writes the rules as a JSON array: loaded ones (id, title, level,
 * tactics, techniques, source, file, line, status "loaded", hits) then
 * those that failed (file, line, title, id, status "error", message). */
void detection_write_rules(struct detection *d, struct jsonw *w);

#endif
