/*
 * store_events.h — the events the agents send, in the hunting tables.
 *
 * Owned by the ingest module (src/server/ingest*.c, store_sqlite_events.c).
 */
#ifndef YAMORI_SERVER_STORE_EVENTS_H
#define YAMORI_SERVER_STORE_EVENTS_H

#include <stdint.h>

struct store;

/* What the store knows of one device's events: the time of its newest
 * event (ms since the epoch, 0 when none), how many events it stored, and
 * the highest sequence number acknowledged. -ENOENT when the device never
 * sent an event. */
struct store_device_events {
    int64_t last_event_ms;
    int64_t last_ingest_ms;   /* when the server last stored a batch from it */
    uint64_t events_total;
    uint64_t last_seq;
};
int store_events_device_summary(struct store *st, const char *device_id, struct store_device_events *out);

#endif
