/*
 * event_json.h — the JSON rendering of an enriched event (docs/events.md).
 */
#ifndef YAMORI_AGENT_EVENT_JSON_H
#define YAMORI_AGENT_EVENT_JSON_H

#include <stdint.h>

#include "agent/event.h"

struct jsonw;

/* Appends ev as one JSON object (no newline) to w; device_name becomes
 * DeviceName. The process blocks are rendered once per process version and
 * cached in the process entries, since the same parents recur in event
 * after event. */
void event_json(struct jsonw *w, const struct yam_event *ev, const char *device_name);

/* A short name for a record type ("exec", "file_create", ...), used as the
 * keys of LostEvents and in the agent's status. */
const char *event_record_type_name(unsigned type);

#endif
