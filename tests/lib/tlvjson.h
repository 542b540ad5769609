/*
 * tlvjson.h — a Yamori event written as JSON (as `yamori-agent --stdout`
 * prints it, and as rules/<tactic>/<name>.tests.jsonl holds them) encoded as the
 * TLV record the agent would send, for tests that feed recorded events to
 * the server or the detection module.
 */
#ifndef YAMORI_TESTS_TLVJSON_H
#define YAMORI_TESTS_TLVJSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tlv.h"

/* Appends obj's fields to out as one record (no length prefix), with Seq
 * seq (replacing any in obj). Times are RFC 3339 text; unknown names are
 * an error. Returns the record's table (SCHEMA_T_*) with its Timestamp in
 * *ts_ns, or -1 with a message in err. */
int tlvjson_record(json_t *obj, uint64_t seq, struct tlv_buf *out, uint64_t *ts_ns, char *err, size_t errlen);

/* "2026-11-26T12:24:28.5Z" -> ns since the epoch; 0 when malformed. */
uint64_t tlvjson_time(const char *s);

/* The events array of the first line of a rule's tests file
 * (rules/<path>.tests.jsonl) whose "expect" is `expect`, or NULL. The
 * caller decrefs. */
json_t *tlvjson_rule_case(const char *tests_path, const char *expect);

#endif
