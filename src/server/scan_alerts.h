/*
 * scan_alerts.h — antivirus findings become alerts.
 *
 * An agent answers a `scan` command (docs/wire.md, "scan") with a result
 * object whose "findings" array lists every file an engine flagged: path,
 * sha256, engine ("yara", "indicator", "package", "clamav"), rule, reason,
 * severity. The action center calls scan_alerts_raise() once, when a scan
 * action succeeds, with that output text; each finding becomes an alert
 * through alert_sink_raise() with detection source "antivirus", the file
 * as evidence (role "scanned" / "suspicious", with its sha256), the
 * finding's severity, and tactics chosen per engine (a YARA or ClamAV hit
 * or an indicator: Execution; a package mismatch or an unowned system
 * executable: Persistence and Defense Evasion).
 *
 * Alerts are deduplicated by device + path + sha256: raising the same
 * scan output twice (or a later scan finding the same file unchanged)
 * updates the existing unresolved alert instead of opening a new one.
 */
#ifndef YAMORI_SERVER_SCAN_ALERTS_H
#define YAMORI_SERVER_SCAN_ALERTS_H

#include <stdint.h>

struct server;

/* Turns every finding of output_json (the succeeded scan's output, as the
 * agent posted it) into an alert for device_id. action_id is the scan
 * action (named in each alert's description and evidence detail; 0 when
 * there is none). srv may be NULL (the sink is global); it is accepted so
 * callers need not change when alerts move per server.
 *
 * Returns the number of alerts raised or updated (0 when the scan found
 * nothing), or -EINVAL when output_json is not a scan result (not JSON,
 * no "findings" array, a finding without a path) — nothing is raised
 * then — or the first error of alert_sink_raise() (-ENOTCONN when no
 * alerts module is running); findings before the failing one stay raised
 * and the rest are still attempted. Thread-safe (the sink is). */
int scan_alerts_raise(struct server *srv, const char *device_id, int64_t action_id, const char *output_json);

#endif
