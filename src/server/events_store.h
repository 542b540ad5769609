/*
 * events_store.h — what the event store's SQLite files share (private to
 * store_sqlite_events.c and store_sqlite_events_vtab.c): the partition
 * catalog and a scan over the blocks of one hunting table, which both the
 * query API and the virtual tables read events through.
 *
 * A scan visits the partitions whose Timestamps overlap [since, until]
 * and in each the blocks of the table that match: the device's, those
 * overlapping the time range, those naming a process key. It opens each
 * block and hands out its records; filtering single events is the
 * caller's business (a block may hold events outside the range).
 */
#ifndef YAMORI_SERVER_EVENTS_STORE_H
#define YAMORI_SERVER_EVENTS_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "server/events_block.h"
#include "server/store_sqlite.h"

struct events_scan {
    /* what to look at */
    unsigned table;          /* one SCHEMA_T_* bit */
    const char *device;      /* NULL: every device */
    int64_t since, until;    /* Timestamps, ns */
    bool by_key;             /* only blocks naming this process key */
    int64_t key;
    bool newest_first;       /* blocks by their newest event, newest first */
    /* the block being read */
    int day;
    int64_t block_id;
    char device_id[64];
    int64_t received_ns;
    int64_t min_ts, max_ts;
    struct events_block_reader rd;
    /* internal */
    sqlite3 *db;
    int *days;
    size_t ndays, next_day;
    sqlite3_stmt *q;
};

/* Starts a scan on connection db (the caller keeps it for the scan's
 * life). The filter fields above must be set. Returns 0 or -errno. */
int events_scan_start(struct events_scan *s, sqlite3 *db);

/* Opens the next matching block: 1 (its fields are set, its records
 * follow with events_block_next(&s->rd, ...)), 0 when there are no more,
 * or -errno. A damaged block is skipped with a log line. */
int events_scan_next_block(struct events_scan *s);

/* Frees what the scan holds; accepts a scan never started. */
void events_scan_end(struct events_scan *s);

/* Whether the hunting tables' virtual tables are registered for every
 * connection (store_sqlite_events_vtab.c does it when the program loads). */
bool events_vtab_installed(void);

#endif
