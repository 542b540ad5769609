/*
 * store_sqlite_alerts_int.h — what the two SQLite files of the alerts
 * store (store_sqlite_alerts.c: alerts, evidence, raising;
 * store_sqlite_alerts_incidents.c: incidents, comments, activity, merges,
 * suppression rules) share. Private to them.
 */
#ifndef YAMORI_SERVER_STORE_SQLITE_ALERTS_INT_H
#define YAMORI_SERVER_STORE_SQLITE_ALERTS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "server/store_alerts.h"
#include "server/store_sqlite.h"

/* Column i as text into dst ("" for NULL). */
void alerts_sql_copy(sqlite3_stmt *q, int i, char *dst, size_t dstlen);

/* Column i as a malloc'd string (def for NULL; NULL when NULL and no def).
 * *oom set on allocation failure. */
char *alerts_sql_dup(sqlite3_stmt *q, int i, const char *def, bool *oom);

/* Appends a line to the activity log of incident id (actor NULL or "":
 * the system) at now, and makes now its last activity. Inside the
 * caller's transaction. 0 or -EIO. */
int alerts_sql_activity(struct store *st, struct store_conn *c, int64_t incident_id, const char *actor,
                        const char *action, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Derives again what incident id shows of its alerts: severity (the
 * highest), tactics (all, kill-chain order), event times, alert count and,
 * unless a person named it, its name (a change is logged). 0 or -EIO. */
int alerts_sql_refresh_incident(struct store *st, struct store_conn *c, int64_t id);

/* Creates an active incident (named and filled by a refresh later),
 * logging "created". */
int alerts_sql_new_incident(struct store *st, struct store_conn *c, int64_t *id);

/* Merges open incident `from` into open incident `into` inside the
 * caller's transaction: the alerts move, `from` becomes redirected, the
 * activity logs say so (with reason when given). -EPERM with why when the
 * rules refuse it (closed, differently assigned or classified), -ENOENT,
 * -EIO. */
int alerts_sql_merge(struct store *st, struct store_conn *c, int64_t from, int64_t into, const char *actor,
                     const char *reason, char *why, size_t whylen);

/* Resolves every unresolved alert of incident id (inside a transaction). */
int alerts_sql_resolve_alerts(struct store *st, struct store_conn *c, int64_t incident_id);

#endif
