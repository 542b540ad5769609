/*
 * devices_int.h — what the devices modules share among themselves (private
 * to onboarding.c, enroll.c, devices.c, commands.c, devices_util.c, and
 * the routes that name a device: actions_api.c, live_api.c):
 * checks of input from the network, finding the device a route names, and
 * writing times.
 */
#ifndef YAMORI_SERVER_DEVICES_INT_H
#define YAMORI_SERVER_DEVICES_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"
#include "server/http.h"
#include "server/store.h"

/* Text a person may read: 1..max bytes, no control characters (jansson
 * already guarantees valid UTF-8 without NUL). */
bool devices_valid_text(const char *s, size_t max);

/* A host name: 1..253 bytes of letters, digits, '-', '_' and '.', not
 * starting with '-' or '.'. */
bool devices_valid_hostname(const char *s);

/* 1..max bytes of letters, digits and the characters in extra. */
bool devices_valid_word(const char *s, size_t max, const char *extra);

/* A device group name: 1..64 of letters, digits, ' ', '.', '_', '-', not
 * starting or ending with a space. */
bool devices_valid_group(const char *s);

/* A device id: a lowercase UUID in text (8-4-4-4-12 hex digits). */
bool devices_valid_id(const char *s);

/* exactly n lowercase hex digits */
bool devices_valid_hex(const char *s, size_t n);

/* The string member key of obj: NULL when absent or null; *bad set (and
 * 400 answered with "field: must be ...") when present with another type
 * or failing valid(). */
const char *devices_json_str(json_t *obj, const char *key, bool (*valid)(const char *s), const char *must,
                             struct http_response *rs, bool *bad);

/* Whether obj has no member other than the NULL-terminated names; else
 * answers 400 naming the first stranger. For people's routes, where a
 * misspelt member must not pass silently. */
bool devices_json_only(json_t *obj, struct http_response *rs, ...) __attribute__((sentinel));

/* The device ref names: a device id, else a device name (NULL or empty:
 * none). Answers 404 (none), 409 (a name several enrolled devices share)
 * or 500 and returns the error; the caller clears *out on success. For
 * routes that take the device in their body (actions, live sessions). */
int devices_find(struct store *st, struct http_response *rs, const char *ref, struct store_device *out);

/* devices_find() for the device the route's :id names. */
int devices_resolve(struct http_request *rq, struct http_response *rs, struct store_device *out);

/* "key": RFC 3339 time, or null for 0. */
void devices_kv_time(struct jsonw *w, const char *key, int64_t ms);

/* SHA-256 of a string. */
void devices_sha256(const char *s, uint8_t out[32]);

/* Parses a decimal query argument in [min, max]; absent -> def. false
 * (after answering 400) when it is not such a number. */
bool devices_query_uint(struct http_request *rq, struct http_response *rs, const char *name, unsigned long min,
                        unsigned long max, unsigned long def, unsigned long *out);

#endif
