/*
 * store_sqlite_events.c — the event store on SQLite (see store_events.h
 * and docs/decisions.md, "Event store").
 *
 * Layout. Events are partitioned by the UTC day the server received them.
 * Partition D (YYYYMMDD) has two tables:
 *
 *   ev_D_blocks  one row per (batch, hunting table): the device, when it
 *                was received, the Seq and Timestamp ranges, and the
 *                block itself (events_block.h: the records, compressed);
 *                indexed by (device, table, newest Timestamp) and
 *                (table, newest Timestamp);
 *   ev_D_procs   (process key, block): which blocks name which process
 *                (by ProcessUniqueId, InitiatingProcessUniqueId, its
 *                parent's, or a target's), for process trees.
 *
 * The catalog event_partitions keeps each partition's Timestamp range, so
 * a query opens only partitions that can hold what it asks for; retention
 * drops whole partitions. The hunting tables are virtual tables over the
 * blocks (store_sqlite_events_vtab.c) with the columns of schema.h.
 *
 * Why blocks and not a row per event: a row per event costs the single
 * SQLite writer ≈9 µs (columns, indexes, WAL) on this project's 2-core
 * machine, too much for 150,000 events/s next to TLS and decoding. A block
 * is compressed in the HTTP threads, in parallel; the writer inserts a few
 * rows per batch. docs/performance.md ("Ingest") has the figures.
 *
 * The writer's state (the open partition's statements, each device's
 * highest Seq) lives here, one per attached store, and is touched only
 * with the writer connection held. A failed transaction resets it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "common/log.h"
#include "common/schema.h"
#include "common/tlv.h"
#include "server/events_block.h"
#include "server/events_store.h"
#include "server/store_sqlite.h"

#define NTABLES 5
#define DAY_MS 86400000ll
#define MAX_PARTITIONS 8192
#define PROC_ROWS 32             /* process keys per INSERT */

/* ------------------------------------------------------------------ migrations */

static const struct store_migration event_steps[] = {
    {1, "CREATE TABLE event_partitions ("
        " day INTEGER PRIMARY KEY,"          /* YYYYMMDD (UTC) the events were received */
        " created_ms INTEGER NOT NULL,"
        " rows INTEGER NOT NULL DEFAULT 0,"  /* events */
        " min_ts INTEGER, max_ts INTEGER,"   /* Timestamp range of its events (ns) */
        " dropping INTEGER NOT NULL DEFAULT 0);" /* retention is removing it */
        "CREATE TABLE event_devices ("
        " device_id TEXT PRIMARY KEY,"
        " last_seq INTEGER NOT NULL,"        /* highest Seq delivered */
        " events_total INTEGER NOT NULL DEFAULT 0,"
        " duplicates_total INTEGER NOT NULL DEFAULT 0,"
        " batches_total INTEGER NOT NULL DEFAULT 0,"
        " lost_total INTEGER NOT NULL DEFAULT 0,"
        " last_event_ns INTEGER NOT NULL DEFAULT 0,"
        " last_ingest_ms INTEGER NOT NULL DEFAULT 0,"
        " agent_version TEXT, sensor_backend TEXT) WITHOUT ROWID;"
        "CREATE TABLE event_lost ("
        " device_id TEXT NOT NULL, name TEXT NOT NULL, total INTEGER NOT NULL,"
        " PRIMARY KEY (device_id, name)) WITHOUT ROWID;"},
    {0, NULL},
};

static const struct store_migration_set event_migrations = {"events", 40, event_steps};
STORE_MIGRATIONS(event_migrations);

/* ------------------------------------------------------------------ state */

struct devseq {
    UT_hash_handle hh;
    uint64_t last_seq;
    char id[];
};

struct ev_state {
    struct store *st;
    struct ev_state *next;
    struct devseq *devices;
    struct {
        int day;                      /* 0: none open */
        sqlite3_stmt *block_ins, *proc_ins, *procs_ins; /* procs_ins: PROC_ROWS rows */
    } part;
};

struct store_events_prepared {
    struct events_block blocks[NTABLES];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ev_state *registry;

static struct ev_state *state_of(struct store *st)
{
    struct ev_state *s;

    pthread_mutex_lock(&registry_lock);
    for (s = registry; s && s->st != st; s = s->next)
        ;
    pthread_mutex_unlock(&registry_lock);
    return s;
}

static void part_close(struct ev_state *s)
{
    sqlite3_finalize(s->part.block_ins);
    sqlite3_finalize(s->part.proc_ins);
    sqlite3_finalize(s->part.procs_ins);
    memset(&s->part, 0, sizeof(s->part));
}

static void devices_clear(struct ev_state *s)
{
    struct devseq *d, *tmp;
    HASH_ITER(hh, s->devices, d, tmp) {
        HASH_DEL(s->devices, d);
        free(d);
    }
}

/* After a failed transaction: nothing cached may outlive it. */
static void state_reset(struct ev_state *s)
{
    part_close(s);
    devices_clear(s);
}

/* ------------------------------------------------------------------ days */

static int day_of_ms(int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* The first millisecond after day D. */
static int64_t day_end_ms(int day)
{
    struct tm tm = {.tm_year = day / 10000 - 1900, .tm_mon = day / 100 % 100 - 1, .tm_mday = day % 100 + 1};
    return (int64_t)timegm(&tm) * 1000;
}

/* ------------------------------------------------------------------ partitions */

static int prepare_persistent(struct store_conn *c, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v3(store_db(c), sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
        *out = NULL;
        return store_error(c, "preparing a partition statement");
    }
    return 0;
}

/* Makes day the open partition (in the writer's transaction), creating
 * its tables when new. */
static int part_open(struct ev_state *s, struct store_conn *c, int day, int64_t now_ms, char *err, size_t errlen)
{
    char sql[1200];
    sqlite3_stmt *q;
    int e = 0, exists = 0, dropping = 0;

    part_close(s);
    q = store_prepare(c, "SELECT dropping FROM event_partitions WHERE day = ?");
    if (!q)
        return -EIO;
    sqlite3_bind_int(q, 1, day);
    if (sqlite3_step(q) == SQLITE_ROW) {
        exists = 1;
        dropping = sqlite3_column_int(q, 0);
    }
    sqlite3_reset(q);
    if (dropping) {
        snprintf(err, errlen, "partition %d is being removed by retention (is the clock right?)", day);
        return -ESTALE;
    }
    if (!exists) {
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE ev_%d_blocks (id INTEGER PRIMARY KEY, tbl INTEGER NOT NULL, device TEXT NOT NULL,"
                 " received_ms INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
                 " count INTEGER NOT NULL, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL,"
                 " raw_len INTEGER NOT NULL, data BLOB NOT NULL);"
                 "CREATE INDEX ev_%d_blocks_device ON ev_%d_blocks (device, tbl, max_ts);"
                 "CREATE INDEX ev_%d_blocks_time ON ev_%d_blocks (tbl, max_ts);"
                 "CREATE TABLE ev_%d_procs (key INTEGER NOT NULL, block INTEGER NOT NULL,"
                 " PRIMARY KEY (key, block)) WITHOUT ROWID;",
                 day, day, day, day, day, day);
        e = store_exec(c, sql);
        if (!e) {
            q = store_prepare(c, "INSERT INTO event_partitions (day, created_ms) VALUES (?, ?)");
            if (!q)
                return -EIO;
            sqlite3_bind_int(q, 1, day);
            sqlite3_bind_int64(q, 2, now_ms);
            if (sqlite3_step(q) != SQLITE_DONE)
                e = store_error(c, "recording a partition");
            sqlite3_reset(q);
        }
        if (e) {
            snprintf(err, errlen, "cannot create the event partition %d (see the log)", day);
            return e;
        }
        log_info("events: new partition %d", day);
    }
    snprintf(sql, sizeof(sql),
             "INSERT INTO ev_%d_blocks (tbl, device, received_ms, first_seq, last_seq, count, min_ts, max_ts,"
             " raw_len, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
             day);
    e = prepare_persistent(c, sql, &s->part.block_ins);
    if (!e) {
        snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO ev_%d_procs (key, block) VALUES (?, ?)", day);
        e = prepare_persistent(c, sql, &s->part.proc_ins);
    }
    if (!e) {
        size_t n = (size_t)snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO ev_%d_procs (key, block) VALUES (?, ?)", day);
        for (int i = 1; i < PROC_ROWS && n < sizeof(sql); i++)
            n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", (?, ?)");
        e = n < sizeof(sql) ? prepare_persistent(c, sql, &s->part.procs_ins) : -ENAMETOOLONG;
    }
    if (e) {
        part_close(s);
        snprintf(err, errlen, "cannot open the event partition %d (see the log)", day);
        return e;
    }
    s->part.day = day;
    return 0;
}

/* ------------------------------------------------------------------ attach */

int store_events_attach(struct store *st, char *err, size_t errlen)
{
    struct ev_state *s;

    if (!events_vtab_installed()) {
        snprintf(err, errlen, "the hunting tables could not be registered with SQLite");
        return -EINVAL;
    }
    if (state_of(st))
        return 0;
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->st = st;
    pthread_mutex_lock(&registry_lock);
    s->next = registry;
    registry = s;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

void store_events_detach(struct store *st)
{
    struct ev_state *s = NULL;
    struct store_conn *c;

    pthread_mutex_lock(&registry_lock);
    for (struct ev_state **pp = &registry; *pp; pp = &(*pp)->next) {
        if ((*pp)->st == st) {
            s = *pp;
            *pp = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (!s)
        return;
    c = store_acquire(st, STORE_WRITE);
    part_close(s);
    store_release(st, c);
    devices_clear(s);
    free(s);
}

/* ------------------------------------------------------------------ preparing */

void store_events_prepared_free(struct store_events_prepared *p)
{
    if (!p)
        return;
    for (int t = 0; t < NTABLES; t++)
        events_block_clear(&p->blocks[t]);
    free(p);
}

/* The blocks of b's events above Seq `after`. */
static int prepare_after(const struct store_event_batch *b, uint64_t after, struct store_events_prepared **out)
{
    struct store_events_prepared *p = calloc(1, sizeof(*p));
    int e = 0;

    *out = NULL;
    if (!p)
        return -ENOMEM;
    for (int t = 0; t < NTABLES && !e; t++)
        e = events_block_build(b->events, b->nevents, 1u << t, after, &p->blocks[t]);
    if (e) {
        store_events_prepared_free(p);
        return e;
    }
    *out = p;
    return 0;
}

int store_events_prepare(struct store_event_batch *b)
{
    if (b->prepared)
        return 0;
    return prepare_after(b, 0, &b->prepared);
}

/* ------------------------------------------------------------------ writing */

/* The device's highest delivered Seq (cached). */
static int device_seq(struct ev_state *s, struct store_conn *c, const char *device_id, struct devseq **out)
{
    size_t len = strlen(device_id);
    struct devseq *d;
    sqlite3_stmt *q;

    HASH_FIND(hh, s->devices, device_id, len, d);
    if (d) {
        *out = d;
        return 0;
    }
    d = calloc(1, sizeof(*d) + len + 1);
    if (!d)
        return -ENOMEM;
    memcpy(d->id, device_id, len + 1);
    q = store_prepare(c, "SELECT last_seq FROM event_devices WHERE device_id = ?");
    if (!q) {
        free(d);
        return -EIO;
    }
    sqlite3_bind_text(q, 1, device_id, (int)len, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        d->last_seq = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    HASH_ADD_KEYPTR(hh, s->devices, d->id, len, d);
    *out = d;
    return 0;
}

/* Inserts one block and the process keys it names. */
static int insert_block(struct ev_state *s, struct store_conn *c, const char *device, int64_t now_ms,
                        const struct events_block *bl)
{
    sqlite3_stmt *q = s->part.block_ins;
    int64_t id;
    int e = 0;

    sqlite3_bind_int(q, 1, (int)bl->table);
    sqlite3_bind_text(q, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now_ms);
    sqlite3_bind_int64(q, 4, (int64_t)bl->first_seq);
    sqlite3_bind_int64(q, 5, (int64_t)bl->last_seq);
    sqlite3_bind_int64(q, 6, (int64_t)bl->count);
    sqlite3_bind_int64(q, 7, bl->min_ts);
    sqlite3_bind_int64(q, 8, bl->max_ts);
    sqlite3_bind_int64(q, 9, (int64_t)bl->raw_len);
    sqlite3_bind_blob(q, 10, bl->data, (int)bl->len, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "storing a block of events");
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (e)
        return e;
    id = sqlite3_last_insert_rowid(store_db(c));
    for (size_t i = 0; i < bl->nkeys && !e;) {
        size_t k = bl->nkeys - i >= PROC_ROWS ? PROC_ROWS : 1;
        q = k == PROC_ROWS ? s->part.procs_ins : s->part.proc_ins;
        for (size_t j = 0; j < k; j++) {
            sqlite3_bind_int64(q, (int)(2 * j + 1), bl->keys[i + j]);
            sqlite3_bind_int64(q, (int)(2 * j + 2), id);
        }
        if (sqlite3_step(q) != SQLITE_DONE)
            e = store_error(c, "indexing a block's processes");
        sqlite3_reset(q);
        i += k;
    }
    return e;
}

/* Stores one batch inside the open transaction. */
static int write_batch(struct ev_state *s, struct store_conn *c, struct store_event_batch *b, int64_t now_ms,
                       int64_t *part_min, int64_t *part_max, uint64_t *part_rows)
{
    struct store_events_prepared *own = NULL;
    const struct store_events_prepared *p;
    struct devseq *dev;
    int64_t received_ns = now_ms * 1000000, newest = 0;
    uint64_t lost = 0, before;
    sqlite3_stmt *q;
    int e;

    b->stored = b->duplicates = 0;
    e = device_seq(s, c, b->device_id, &dev);
    if (e)
        return e;
    before = dev->last_seq;
    for (size_t i = 0; i < b->nevents; i++)
        if (b->events[i].seq <= before)
            b->duplicates++;
    b->stored = b->nevents - b->duplicates;
    if (b->stored) {
        p = b->prepared;
        if (!p || b->duplicates) {
            /* a replay that overlaps what is stored: new blocks of the new events only */
            e = prepare_after(b, before, &own);
            if (e)
                return e;
            p = own;
        }
        for (int t = 0; t < NTABLES && !e; t++) {
            const struct events_block *bl = &p->blocks[t];
            if (!bl->count)
                continue;
            e = insert_block(s, c, b->device_id, now_ms, bl);
            if (!*part_rows || bl->min_ts < *part_min)
                *part_min = bl->min_ts;
            if (!*part_rows || bl->max_ts > *part_max)
                *part_max = bl->max_ts;
            *part_rows += bl->count;
            if (bl->max_ts > newest)
                newest = bl->max_ts;
        }
        store_events_prepared_free(own);
        if (e)
            return e;
    }
    if (b->last_seq > before) /* new events: count what the agent lost on the way */
        for (size_t i = 0; i < b->nlost; i++) {
            if (!b->lost[i].count)
                continue;
            lost += b->lost[i].count;
            q = store_prepare(c, "INSERT INTO event_lost (device_id, name, total) VALUES (?1, ?2, ?3)"
                                 " ON CONFLICT (device_id, name) DO UPDATE SET total = total + excluded.total");
            if (!q)
                return -EIO;
            sqlite3_bind_text(q, 1, b->device_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 2, b->lost[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 3, (int64_t)b->lost[i].count);
            if (sqlite3_step(q) != SQLITE_DONE)
                e = store_error(c, "counting lost events");
            sqlite3_reset(q);
            if (e)
                return e;
        }
    if (newest > received_ns)
        newest = received_ns; /* a device clock ahead does not make it look active later */
    q = store_prepare(c, "INSERT INTO event_devices (device_id, last_seq, events_total, duplicates_total, batches_total,"
                         " lost_total, last_event_ns, last_ingest_ms, agent_version, sensor_backend)"
                         " VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9)"
                         " ON CONFLICT (device_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq),"
                         " events_total = events_total + excluded.events_total,"
                         " duplicates_total = duplicates_total + excluded.duplicates_total,"
                         " batches_total = batches_total + 1, lost_total = lost_total + excluded.lost_total,"
                         " last_event_ns = max(last_event_ns, excluded.last_event_ns),"
                         " last_ingest_ms = excluded.last_ingest_ms,"
                         " agent_version = COALESCE(excluded.agent_version, agent_version),"
                         " sensor_backend = COALESCE(excluded.sensor_backend, sensor_backend)");
    if (!q)
        return -EIO;
    sqlite3_bind_text(q, 1, b->device_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (int64_t)(b->last_seq > before ? b->last_seq : before));
    sqlite3_bind_int64(q, 3, (int64_t)b->stored);
    sqlite3_bind_int64(q, 4, (int64_t)b->duplicates);
    sqlite3_bind_int64(q, 5, (int64_t)lost);
    sqlite3_bind_int64(q, 6, newest);
    sqlite3_bind_int64(q, 7, now_ms);
    if (b->agent_version)
        sqlite3_bind_text(q, 8, b->agent_version, -1, SQLITE_STATIC);
    if (b->sensor_backend)
        sqlite3_bind_text(q, 9, b->sensor_backend, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        e = store_error(c, "updating the device's event counters");
    sqlite3_reset(q);
    if (e)
        return e;
    if (b->last_seq > dev->last_seq)
        dev->last_seq = b->last_seq;
    b->acked_seq = b->last_seq;
    return 0;
}

int store_events_write(struct store *st, struct store_event_batch *const *batches, size_t n, char *err,
                       size_t errlen)
{
    struct ev_state *s = state_of(st);
    struct store_conn *c;
    int64_t now_ms = store_now_ms(st), pmin = 0, pmax = 0;
    uint64_t prows = 0;
    sqlite3_stmt *q;
    int day = day_of_ms(now_ms), e;

    if (!s) {
        snprintf(err, errlen, "the event store is not attached");
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < batches[i]->nevents; j++) {
            unsigned t = batches[i]->events[j].table;
            if (!t || (t & (t - 1)) || t > SCHEMA_T_DEVICE || batches[i]->events[j].ts_ns > INT64_MAX) {
                snprintf(err, errlen, "an event with no hunting table or an impossible time reached the store");
                return -EINVAL;
            }
        }
    c = store_acquire(st, STORE_WRITE);
    e = store_begin(c);
    if (e) {
        snprintf(err, errlen, "cannot start a transaction (see the log)");
        goto fail;
    }
    if (s->part.day != day) {
        e = part_open(s, c, day, now_ms, err, errlen);
        if (e)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        e = write_batch(s, c, batches[i], now_ms, &pmin, &pmax, &prows);
        if (e) {
            snprintf(err, errlen, "cannot store the events: %s",
                     e == -ENOSPC ? "the disk is full" : e == -ENOMEM ? "out of memory" : "database error (see the log)");
            goto fail;
        }
    }
    if (prows) {
        q = store_prepare(c, "UPDATE event_partitions SET rows = rows + ?2, min_ts = min(COALESCE(min_ts, ?3), ?3),"
                             " max_ts = max(COALESCE(max_ts, ?4), ?4) WHERE day = ?1");
        if (!q) {
            e = -EIO;
            snprintf(err, errlen, "cannot update the partition catalog");
            goto fail;
        }
        sqlite3_bind_int(q, 1, day);
        sqlite3_bind_int64(q, 2, (int64_t)prows);
        sqlite3_bind_int64(q, 3, pmin);
        sqlite3_bind_int64(q, 4, pmax);
        if (sqlite3_step(q) != SQLITE_DONE)
            e = store_error(c, "updating the partition catalog");
        sqlite3_reset(q);
        if (e) {
            snprintf(err, errlen, "cannot update the partition catalog");
            goto fail;
        }
    }
    e = store_commit(c);
    if (e) {
        snprintf(err, errlen, "cannot commit the events (see the log)");
        goto fail;
    }
    store_release(st, c);
    return 0;
fail:
    store_rollback(c);
    state_reset(s);
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ devices */

int store_events_device_summary(struct store *st, const char *device_id, struct store_device_events *out)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT last_seq, events_total, duplicates_total, batches_total, lost_total,"
                                       " last_event_ns, last_ingest_ms FROM event_devices WHERE device_id = ?");
    int e = 0, rc;

    memset(out, 0, sizeof(*out));
    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->last_seq = (uint64_t)sqlite3_column_int64(q, 0);
        out->events_total = (uint64_t)sqlite3_column_int64(q, 1);
        out->duplicates_total = (uint64_t)sqlite3_column_int64(q, 2);
        out->batches_total = (uint64_t)sqlite3_column_int64(q, 3);
        out->lost_total = (uint64_t)sqlite3_column_int64(q, 4);
        out->last_event_ms = sqlite3_column_int64(q, 5) / 1000000;
        out->last_ingest_ms = sqlite3_column_int64(q, 6);
    } else if (rc == SQLITE_DONE) {
        e = -ENOENT;
    } else {
        e = store_error(c, "reading a device's event summary");
    }
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

int store_events_device_lost(struct store *st, const char *device_id,
                             void (*fn)(const char *name, uint64_t total, void *ctx), void *ctx)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT name, total FROM event_lost WHERE device_id = ? ORDER BY name");
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        fn((const char *)sqlite3_column_text(q, 0), (uint64_t)sqlite3_column_int64(q, 1), ctx);
    if (rc != SQLITE_DONE)
        e = store_error(c, "reading lost-event counters");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ retention */

int store_events_prune(struct store *st, unsigned retention_days, bool *more, char *err, size_t errlen)
{
    struct ev_state *s = state_of(st);
    struct store_conn *c;
    int64_t cutoff = store_now_ms(st) - (int64_t)retention_days * DAY_MS;
    sqlite3_stmt *q;
    int day = 0, dropping = 0, e;
    char table[64] = "", sql[128];

    *more = false;
    c = store_acquire(st, STORE_WRITE);
    e = store_begin(c);
    if (e)
        goto fail;
    q = store_prepare(c, "SELECT day, dropping FROM event_partitions ORDER BY dropping DESC, day LIMIT 1");
    if (!q) {
        e = -EIO;
        goto fail;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        day = sqlite3_column_int(q, 0);
        dropping = sqlite3_column_int(q, 1);
    }
    sqlite3_reset(q);
    if (!day || (!dropping && day_end_ms(day) > cutoff)) {
        store_rollback(c);
        store_release(st, c);
        return 0; /* nothing is old enough */
    }
    if (s && s->part.day == day)
        part_close(s); /* never with a right clock: today's partition is not old */
    if (!dropping) {
        /* first out of the queries' sight, then its tables one per step */
        q = store_prepare(c, "UPDATE event_partitions SET dropping = 1 WHERE day = ?");
        if (!q) {
            e = -EIO;
            goto fail;
        }
        sqlite3_bind_int(q, 1, day);
        if (sqlite3_step(q) != SQLITE_DONE)
            e = store_error(c, "marking a partition for removal");
        sqlite3_reset(q);
        if (!e)
            log_info("events: retention removes partition %d (older than %u days)", day, retention_days);
    } else {
        char pattern[32];
        snprintf(pattern, sizeof(pattern), "ev\\_%d\\_%%", day);
        q = store_prepare(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\' LIMIT 1");
        if (!q) {
            e = -EIO;
            goto fail;
        }
        sqlite3_bind_text(q, 1, pattern, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW)
            snprintf(table, sizeof(table), "%s", (const char *)sqlite3_column_text(q, 0));
        sqlite3_reset(q);
        if (table[0]) {
            snprintf(sql, sizeof(sql), "DROP TABLE \"%s\"", table);
            e = store_exec(c, sql);
        } else {
            q = store_prepare(c, "DELETE FROM event_partitions WHERE day = ?");
            if (!q) {
                e = -EIO;
                goto fail;
            }
            sqlite3_bind_int(q, 1, day);
            if (sqlite3_step(q) != SQLITE_DONE)
                e = store_error(c, "removing a partition from the catalog");
            sqlite3_reset(q);
        }
    }
    if (!e)
        e = store_commit(c);
    if (e)
        goto fail;
    store_release(st, c);
    *more = true;
    return 0;
fail:
    store_rollback(c);
    if (s)
        state_reset(s);
    store_release(st, c);
    snprintf(err, errlen, "retention could not remove partition %d (see the log)", day);
    return e ? e : -EIO;
}

int store_events_partitions(struct store *st,
                            void (*fn)(int day, int64_t min_ts_ns, int64_t max_ts_ns, uint64_t rows, void *ctx),
                            void *ctx)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT day, COALESCE(min_ts, 0), COALESCE(max_ts, 0), rows"
                                       " FROM event_partitions WHERE dropping = 0 ORDER BY day");
    int e = 0, rc;

    if (!q) {
        e = -EIO;
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        fn(sqlite3_column_int(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2),
           (uint64_t)sqlite3_column_int64(q, 3), ctx);
    if (rc != SQLITE_DONE)
        e = store_error(c, "listing partitions");
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}

/* ------------------------------------------------------------------ scans */

static int day_row(sqlite3_stmt *q, void *elem, void *ctx)
{
    *(int *)elem = sqlite3_column_int(q, 0);
    return 0;
}

int events_scan_start(struct events_scan *s, sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    int e;

    s->db = db;
    s->days = NULL;
    s->ndays = s->next_day = 0;
    s->q = NULL;
    events_block_reader_init(&s->rd);
    if (sqlite3_prepare_v2(db,
                           "SELECT day FROM event_partitions WHERE dropping = 0 AND max_ts >= ?1 AND min_ts <= ?2"
                           " ORDER BY day DESC LIMIT ?3",
                           -1, &q, NULL) != SQLITE_OK) {
        log_error("store: listing partitions: %s", sqlite3_errmsg(db));
        return -EIO;
    }
    sqlite3_bind_int64(q, 1, s->since);
    sqlite3_bind_int64(q, 2, s->until);
    sqlite3_bind_int(q, 3, MAX_PARTITIONS);
    e = store_rows(q, sizeof(*s->days), day_row, NULL, NULL, (void **)&s->days, &s->ndays, "listing partitions");
    sqlite3_finalize(q);
    return e;
}

/* The block query of the next partition. */
static int scan_open_partition(struct events_scan *s)
{
    char sql[700], keys[128] = "";
    int day = s->days[s->next_day++];

    sqlite3_finalize(s->q);
    s->q = NULL;
    if (s->by_key)
        snprintf(keys, sizeof(keys), " AND id IN (SELECT block FROM ev_%d_procs WHERE key = ?5)", day);
    snprintf(sql, sizeof(sql),
             "SELECT id, device, received_ms, min_ts, max_ts, raw_len, data FROM ev_%d_blocks"
             " WHERE tbl = ?1%s AND max_ts >= ?3 AND min_ts <= ?4%s%s",
             day, s->device ? " AND device = ?2" : "", keys, s->newest_first ? " ORDER BY max_ts DESC" : "");
    if (sqlite3_prepare_v2(s->db, sql, -1, &s->q, NULL) != SQLITE_OK) {
        log_error("store: reading partition %d: %s", day, sqlite3_errmsg(s->db));
        return -EIO;
    }
    sqlite3_bind_int(s->q, 1, (int)s->table);
    if (s->device)
        sqlite3_bind_text(s->q, 2, s->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->q, 3, s->since);
    sqlite3_bind_int64(s->q, 4, s->until);
    if (s->by_key)
        sqlite3_bind_int64(s->q, 5, s->key);
    s->day = day;
    return 0;
}

int events_scan_next_block(struct events_scan *s)
{
    for (;;) {
        int rc, e;
        if (!s->q) {
            if (s->next_day >= s->ndays)
                return 0;
            e = scan_open_partition(s);
            if (e)
                return e;
        }
        rc = sqlite3_step(s->q);
        if (rc == SQLITE_DONE) {
            sqlite3_finalize(s->q);
            s->q = NULL;
            continue;
        }
        if (rc != SQLITE_ROW) {
            log_error("store: reading partition %d: %s", s->day, sqlite3_errmsg(s->db));
            return -EIO;
        }
        s->block_id = sqlite3_column_int64(s->q, 0);
        snprintf(s->device_id, sizeof(s->device_id), "%s", (const char *)sqlite3_column_text(s->q, 1));
        s->received_ns = sqlite3_column_int64(s->q, 2) * 1000000;
        s->min_ts = sqlite3_column_int64(s->q, 3);
        s->max_ts = sqlite3_column_int64(s->q, 4);
        e = events_block_open(&s->rd, sqlite3_column_blob(s->q, 6), (size_t)sqlite3_column_bytes(s->q, 6),
                              (size_t)sqlite3_column_int64(s->q, 5));
        if (e == -ENOMEM)
            return e;
        if (e) {
            log_error("store: block %" PRId64 " of partition %d is damaged; skipped", s->block_id, s->day);
            continue;
        }
        return 1;
    }
}

void events_scan_end(struct events_scan *s)
{
    sqlite3_finalize(s->q);
    s->q = NULL;
    free(s->days);
    s->days = NULL;
    events_block_reader_free(&s->rd);
}

/* ------------------------------------------------------------------ queries */

struct hit {
    int64_t ts;
    unsigned table;
    char device[64];
    int64_t received_ns;
    uint8_t *rec;
    size_t len;
};

/* Newest first; ties by device and Seq order kept stable by the caller. */
static int hit_newer(const struct hit *a, const struct hit *b)
{
    return a->ts > b->ts;
}

/* A min-heap on ts of at most limit hits: the newest seen so far. */
struct heap {
    struct hit *v;
    size_t n, cap;
};

static void heap_swap(struct hit *a, struct hit *b)
{
    struct hit t = *a;
    *a = *b;
    *b = t;
}

static void heap_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && hit_newer(&h->v[m], &h->v[l]))
            m = l;
        if (r < h->n && hit_newer(&h->v[m], &h->v[r]))
            m = r;
        if (m == i)
            return;
        heap_swap(&h->v[i], &h->v[m]);
        i = m;
    }
}

static void heap_up(struct heap *h, size_t i)
{
    while (i && hit_newer(&h->v[(i - 1) / 2], &h->v[i])) {
        heap_swap(&h->v[i], &h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

/* Offers one event; the heap keeps the newest `cap`. */
static int heap_offer(struct heap *h, const struct events_scan *s, int64_t ts, const uint8_t *rec, size_t len)
{
    struct hit *slot;
    uint8_t *copy;

    if (h->n == h->cap && ts <= h->v[0].ts)
        return 0;
    copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, rec, len);
    if (h->n == h->cap) {
        free(h->v[0].rec);
        slot = &h->v[0];
    } else {
        slot = &h->v[h->n++];
    }
    slot->ts = ts;
    slot->table = s->table;
    snprintf(slot->device, sizeof(slot->device), "%s", s->device_id);
    slot->received_ns = s->received_ns;
    slot->rec = copy;
    slot->len = len;
    if (slot == &h->v[0] && h->n == h->cap)
        heap_down(h, 0);
    else
        heap_up(h, (size_t)(slot - h->v));
    return 0;
}

static int hit_cmp_desc(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    return x->ts > y->ts ? -1 : x->ts < y->ts;
}

/* Renders one stored record as a row of its table's columns. */
static int emit(const struct hit *h, int (*fn)(const struct store_event_row *row, void *ctx), void *ctx)
{
    struct store_event_value vals[F_MAX_ID];
    struct tlv_field by_id[F_MAX_ID];
    bool have[F_MAX_ID] = {false};
    struct store_event_row row = {.table = h->table, .device_id = h->device, .received_ns = h->received_ns,
                                  .values = vals};
    struct tlv_reader r;
    struct tlv_field f;
    int rc;

    tlv_reader_init(&r, h->rec, h->len);
    while ((rc = tlv_next(&r, &f)) == 1)
        if (f.id < F_MAX_ID && !have[f.id]) {
            have[f.id] = true;
            by_id[f.id] = f;
        }
    if (rc < 0)
        return 0; /* damaged: cannot happen with validated records */
    for (const struct schema_field_info *fi = schema_fields; fi->id; fi++) {
        const struct tlv_field *v;
        bool bytes;
        if (!(fi->tables & h->table) || fi->id >= F_MAX_ID || !have[fi->id])
            continue;
        v = &by_id[fi->id];
        bytes = v->wire == TLV_WIRE_BYTES;
        if (bytes != (fi->type == SCHEMA_STR || fi->type == SCHEMA_JSON))
            continue;
        if (fi->type == SCHEMA_BOOL && !v->u)
            continue;
        vals[row.nvalues] = (struct store_event_value){
            .field = fi,
            .i = fi->type == SCHEMA_INT ? tlv_unzigzag(v->u) : fi->type == SCHEMA_BOOL ? 1 : (int64_t)v->u,
            .s = v->s,
            .n = v->n,
        };
        row.nvalues++;
    }
    return fn(&row, ctx);
}

int store_events_query(struct store *st, const struct store_events_filter *f,
                       int (*fn)(const struct store_event_row *row, void *ctx), void *ctx, char *err,
                       size_t errlen)
{
    unsigned tables = f->tables ? f->tables : SCHEMA_T_ALL;
    struct heap h = {0};
    struct store_conn *c = NULL;
    size_t alen = f->action ? strlen(f->action) : 0;
    bool in_tx = false;
    int e = 0;

    if (f->limit < 1 || f->limit > STORE_EVENTS_MAX_LIMIT || f->since_ns > f->until_ns || (tables & ~SCHEMA_T_ALL)) {
        snprintf(err, errlen, "bad event filter (limit 1..%d, since not after until, known types)",
                 STORE_EVENTS_MAX_LIMIT);
        return -EINVAL;
    }
    h.cap = f->limit;
    h.v = calloc(h.cap, sizeof(*h.v));
    if (!h.v) {
        e = -ENOMEM;
        goto out;
    }
    c = store_acquire(st, STORE_READ);
    if (store_exec(c, "BEGIN") != 0) {
        e = -EIO;
        goto out;
    }
    in_tx = true;
    for (int t = 0; t < NTABLES && !e; t++) {
        struct events_scan s = {.table = 1u << t, .device = f->device_id, .since = f->since_ns,
                                .until = f->until_ns, .newest_first = true};
        if (!(tables & (1u << t)))
            continue;
        e = events_scan_start(&s, store_db(c));
        while (!e) {
            const uint8_t *rec;
            size_t len;
            int rc = events_scan_next_block(&s);
            if (rc <= 0) {
                e = rc;
                break;
            }
            /* blocks come newest first within a partition; the ones left
             * in this partition cannot beat a full heap */
            if (h.n == h.cap && s.max_ts <= h.v[0].ts) {
                sqlite3_finalize(s.q);
                s.q = NULL;
                continue;
            }
            while (!e && (rc = events_block_next(&s.rd, &rec, &len)) == 1) {
                struct tlv_field fts, fa;
                int64_t ts;
                if (tlv_find(rec, len, F_TIMESTAMP, &fts) != 1)
                    continue;
                ts = (int64_t)fts.u;
                if (ts < f->since_ns || ts > f->until_ns)
                    continue;
                if (f->action &&
                    (tlv_find(rec, len, F_ACTION_TYPE, &fa) != 1 || fa.n != alen || memcmp(fa.s, f->action, alen) != 0))
                    continue;
                e = heap_offer(&h, &s, ts, rec, len);
            }
        }
        events_scan_end(&s);
    }
    if (e)
        goto out;
    if (h.n > 1)
        qsort(h.v, h.n, sizeof(*h.v), hit_cmp_desc);
    for (size_t i = 0; i < h.n && !e; i++)
        e = emit(&h.v[i], fn, ctx);
out:
    if (in_tx)
        store_exec(c, "COMMIT");
    if (c)
        store_release(st, c);
    for (size_t i = 0; i < h.n; i++)
        free(h.v[i].rec);
    free(h.v);
    if (e < 0 && e != -EINVAL)
        snprintf(err, errlen, "cannot read events (%s)", e == -ENOMEM ? "out of memory" : "database error, see the log");
    return e;
}
