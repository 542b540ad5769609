/*
 * event_json.h — the JSON rendering of an enriched event (docs/events.md).
 */
#ifndef YAMORI_AGENT_EVENT_JSON_H
#define YAMORI_AGENT_EVENT_JSON_H

#include <stdint.h>

#include "agent/event.h"

struct jsonw;

/* Appends ev as one JSON object (no newline) to w. device_name becomes
 * DeviceName; boot_offset_ns converts CLOCK_BOOTTIME process start times
 * to UTC (realtime minus boottime). */
void event_json(struct jsonw *w, const struct yam_event *ev, const char *device_name, int64_t boot_offset_ns);

/* A short name for a record type ("exec", "file_create", ...), used as the
 * keys of LostEvents and in the agent's status. */
const char *event_record_type_name(unsigned type);

#endif
