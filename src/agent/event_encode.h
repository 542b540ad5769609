/*
 * event_encode.h — an enriched event in the encoding of common/tlv.h, with
 * the field ids of common/schema.h: what the spool keeps, the wire carries
 * and `--stdout` renders as JSON.
 */
#ifndef YAMORI_AGENT_EVENT_ENCODE_H
#define YAMORI_AGENT_EVENT_ENCODE_H

#include <stdint.h>

#include "agent/event.h"
#include "common/tlv.h"

/* Appends ev as one record (no length prefix) to b; device_name becomes
 * DeviceName, seq becomes Seq (0: left out). The process blocks are encoded
 * once per process version and cached in the process entries, since the
 * same parents recur in event after event. */
void event_encode(struct tlv_buf *b, const struct yam_event *ev, const char *device_name, uint64_t seq);

/* A short name for a record type ("exec", "file_create", ...), used as the
 * keys of LostEvents and in the agent's status. */
const char *event_record_type_name(unsigned type);

#endif
