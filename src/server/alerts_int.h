/*
 * alerts_int.h — what the alerts routes (alerts_api.c: alerts and
 * suppression rules; incidents.c: incidents) share: checking input from
 * people, finding what a route names, and writing alerts, evidence and
 * times as JSON. Private to those files.
 */
#ifndef YAMORI_SERVER_ALERTS_INT_H
#define YAMORI_SERVER_ALERTS_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"
#include "server/http.h"
#include "server/store_alerts.h"

#define ALERTS_MAX_TAGS 32
#define ALERTS_MAX_TAG_LEN 64
#define ALERTS_LIST_MAX 1000      /* most rows per page */
#define ALERTS_LIST_DEFAULT 100

/* The routes of alerts_api.c, served by the alerts module (alerts.c). */
extern const struct route alerts_routes[];

/* A positive decimal id of at most 2^53 in s. */
bool alerts_parse_id(const char *s, int64_t *out);

/* The :id of the route as an id; answers 404 naming `what` ("alert",
 * "incident") when it is not one. */
bool alerts_route_id(struct http_request *rq, struct http_response *rs, const char *what, int64_t *out);

/* Text a person may read: 1..max bytes, no control characters except, when
 * multiline, newlines and tabs. */
bool alerts_valid_text(const char *s, size_t max, bool multiline);

/* Whether obj has no member other than the NULL-terminated names; else
 * answers 400 naming the first stranger. */
bool alerts_json_only(json_t *obj, struct http_response *rs, ...) __attribute__((sentinel));

/* Member key of obj as a canonical value of a closed list: *present false
 * when absent; null and "" give "" when clearable, else 400. canon maps
 * text to the canonical value (NULL: not one); list names the values for
 * the message. False after answering 400. */
bool alerts_json_vocab(json_t *obj, const char *key, const char *(*canon)(const char *), const char *list,
                       bool clearable, const char **out, struct http_response *rs);

/* "assigned_to": a user that exists, or null/"" to unassign (""). Absent:
 * *out NULL. False after answering 400. */
bool alerts_json_assignee(struct http_request *rq, json_t *obj, const char **out, struct http_response *rs);

/* The query filters shared by the alert and incident lists: status (via
 * canon), severity, device (an id, or a name the inventory knows:
 * resolved to its id into device_id), assigned, since (RFC 3339 or a
 * duration back from now, as ms), limit, offset. False after answering
 * 400. */
struct alerts_query {
    const char *status;
    int severity;
    char device_id[40];
    bool has_device;
    const char *assigned_to;
    int64_t since_ms;
    unsigned long limit, offset;
};
bool alerts_parse_query(struct http_request *rq, struct http_response *rs, const char *(*status_canon)(const char *),
                        const char *status_list, struct alerts_query *q);

/* Device names for ids, looked up once per request. */
struct alerts_names {
    struct {
        char id[40];
        char name[254];
    } v[64];
    size_t n;
};
/* The name of device id ("" when the inventory does not know it). */
const char *alerts_device_name(struct server *srv, struct alerts_names *names, const char *id);

/* Times: "key": RFC 3339, or null for 0. */
void alerts_kv_ms(struct jsonw *w, const char *key, int64_t ms);
void alerts_kv_ns(struct jsonw *w, const char *key, int64_t ns);
/* "key": text, or null when "". */
void alerts_kv_str_or_null(struct jsonw *w, const char *key, const char *v);
/* "key": raw JSON text (an array the store wrote), "[]" when NULL. */
void alerts_kv_raw(struct jsonw *w, const char *key, const char *json);

/* {"id": …, "name": …} of a device. */
void alerts_write_device(struct jsonw *w, const char *id, const char *name);

/* An alert as the lists show it; detail adds description, recommended
 * actions, process, logon, event Seqs (not evidence, incident or story:
 * the route writes those). */
void alerts_write_alert(struct server *srv, struct jsonw *w, const struct store_alert *a, struct alerts_names *names,
                        bool detail);

/* One evidence entry. */
void alerts_write_evidence(struct jsonw *w, const struct store_evidence *e);

/* The audit detail of a change: the request body re-rendered (bounded)
 * into buf. */
void alerts_audit_detail(json_t *body, char *buf, size_t buflen);

#endif
