/*
 * store_sqlite_events_vtab.c — the hunting tables as SQLite virtual
 * tables: DeviceProcessEvents, DeviceFileEvents, DeviceNetworkEvents,
 * DeviceLogonEvents and DeviceEvents.
 *
 * Each is an eponymous virtual table (no CREATE needed) registered on
 * every connection the process opens (sqlite3_auto_extension, from a
 * constructor: before the store opens its connections). Its columns are
 * the fields schema.h gives that table, in schema order, then DeviceId
 * and ReceivedTime; strings are TEXT, numbers and times (ns since the
 * epoch) INTEGER, booleans 1 or NULL. So the SQL of the hunting engine
 * and of the alert story is plain SQL over these names.
 *
 * What makes it fast (xBestIndex): a DeviceId = ?, a Timestamp range, and
 * ProcessUniqueId / InitiatingProcessUniqueId / TargetProcessUniqueId = ?
 * are handed
 * to the scan, which then opens only the partitions and blocks that can
 * match (events_store.h). SQLite still checks every constraint on each row
 * it gets, so the scan may hand out more than asked, never less.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/schema.h"
#include "common/tlv.h"
#include "server/events_store.h"

#define VT_MAGIC 0x45565431u /* "EVT1" */
#define MAX_VCOLS 160

enum { IDX_DEVICE = 1, IDX_SINCE = 2, IDX_UNTIL = 4, IDX_KEY = 8, IDX_TS_EQ = 16 };

struct vt {
    sqlite3_vtab base;
    unsigned magic;
    unsigned table;
    sqlite3 *db;
    int ncols;                          /* schema columns; then DeviceId, ReceivedTime */
    const struct schema_field_info *cols[MAX_VCOLS];
};

struct vt_cursor {
    sqlite3_vtab_cursor base;
    struct events_scan scan;
    bool started, eof;
    char device[64];
    int64_t rowid;
    /* the current record */
    const uint8_t *rec;
    size_t len;
    int64_t ts;
    bool parsed;
    struct tlv_field fields[F_MAX_ID];
    uint8_t have[F_MAX_ID];
    uint8_t set[F_MAX_ID];              /* ids set in have, to clear them */
    size_t nset;
};

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
    unsigned table = (unsigned)(uintptr_t)aux;
    struct vt *v = sqlite3_malloc(sizeof(*v));
    char *sql = NULL;
    size_t cap = 16384, len = 0;
    int rc;

    (void)argc, (void)argv;
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof(*v));
    v->magic = VT_MAGIC;
    v->table = table;
    v->db = db;
    sql = sqlite3_malloc((int)cap);
    if (!sql) {
        sqlite3_free(v);
        return SQLITE_NOMEM;
    }
    len += (size_t)snprintf(sql + len, cap - len, "CREATE TABLE x(");
    for (const struct schema_field_info *f = schema_fields; f->id; f++) {
        if (!(f->tables & table) || v->ncols == MAX_VCOLS)
            continue;
        v->cols[v->ncols++] = f;
        len += (size_t)snprintf(sql + len, cap - len, "\"%s\" %s, ", f->name,
                                f->type == SCHEMA_STR || f->type == SCHEMA_JSON ? "TEXT" : "INTEGER");
    }
    len += (size_t)snprintf(sql + len, cap - len, "DeviceId TEXT, ReceivedTime INTEGER)");
    if (len >= cap) {
        *err = sqlite3_mprintf("the event schema is too large for its virtual table");
        rc = SQLITE_ERROR;
    } else {
        rc = sqlite3_declare_vtab(db, sql);
    }
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        sqlite3_free(v);
        return rc;
    }
    *out = &v->base;
    return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *base)
{
    sqlite3_free(base);
    return SQLITE_OK;
}

static int column_field(const struct vt *v, int col)
{
    return col >= 0 && col < v->ncols ? v->cols[col]->id : 0;
}

static int vt_best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
    struct vt *v = (struct vt *)base;
    int dev = -1, since = -1, until = -1, key = -1, argv = 0, idx = 0;
    double cost = 1e9;

    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        int id = column_field(v, c->iColumn);
        if (!c->usable)
            continue;
        if (c->iColumn == v->ncols && c->op == SQLITE_INDEX_CONSTRAINT_EQ)
            dev = i;
        else if (id == F_TIMESTAMP && (c->op == SQLITE_INDEX_CONSTRAINT_GT || c->op == SQLITE_INDEX_CONSTRAINT_GE))
            since = i;
        else if (id == F_TIMESTAMP && (c->op == SQLITE_INDEX_CONSTRAINT_LT || c->op == SQLITE_INDEX_CONSTRAINT_LE))
            until = i;
        else if (id == F_TIMESTAMP && c->op == SQLITE_INDEX_CONSTRAINT_EQ)
            since = until = i;
        else if (id && events_is_uid_field((unsigned)id) && c->op == SQLITE_INDEX_CONSTRAINT_EQ && key < 0)
            key = i;
    }
    /* the order of the arguments xFilter gets: device, since, until, key */
    if (dev >= 0) {
        info->aConstraintUsage[dev].argvIndex = ++argv;
        idx |= IDX_DEVICE;
        cost /= 1000;
    }
    if (since >= 0) {
        info->aConstraintUsage[since].argvIndex = ++argv;
        idx |= IDX_SINCE;
        cost /= 10;
    }
    if (until >= 0 && until != since) {
        info->aConstraintUsage[until].argvIndex = ++argv;
        idx |= IDX_UNTIL;
        cost /= 2;
    } else if (until >= 0) {
        idx |= IDX_TS_EQ; /* Timestamp = x: since and until are the one argument */
        cost /= 1000;
    }
    if (key >= 0) {
        info->aConstraintUsage[key].argvIndex = ++argv;
        idx |= IDX_KEY;
        cost = cost > 100 ? 100 : cost;
    }
    info->idxNum = idx;
    info->estimatedCost = cost;
    info->estimatedRows = (sqlite3_int64)(cost / 10 + 1);
    return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
    struct vt_cursor *c = sqlite3_malloc(sizeof(*c));
    (void)base;
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    *out = &c->base;
    return SQLITE_OK;
}

static void cursor_reset(struct vt_cursor *c)
{
    if (c->started)
        events_scan_end(&c->scan);
    c->started = false;
    c->eof = true;
}

static int vt_close(sqlite3_vtab_cursor *base)
{
    struct vt_cursor *c = (struct vt_cursor *)base;
    cursor_reset(c);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* Moves to the next record of the scan that is in its time range. */
static int advance(struct vt_cursor *c)
{
    for (;;) {
        struct tlv_field f;
        int rc = c->scan.rd.p ? events_block_next(&c->scan.rd, &c->rec, &c->len) : 0;
        if (rc == 1) {
            if (tlv_find(c->rec, c->len, F_TIMESTAMP, &f) != 1)
                continue;
            c->ts = (int64_t)f.u;
            if (c->ts < c->scan.since || c->ts > c->scan.until)
                continue;
            c->parsed = false;
            c->rowid++;
            return SQLITE_OK;
        }
        if (rc < 0)
            continue; /* the rest of a damaged block: next one */
        rc = events_scan_next_block(&c->scan);
        if (rc == 0) {
            c->eof = true;
            return SQLITE_OK;
        }
        if (rc < 0)
            return rc == -ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
    }
}

static int vt_filter(sqlite3_vtab_cursor *base, int idx, const char *idxstr, int argc, sqlite3_value **argv)
{
    struct vt_cursor *c = (struct vt_cursor *)base;
    struct vt *v = (struct vt *)base->pVtab;
    int a = 0, e;

    (void)idxstr;
    cursor_reset(c);
    memset(&c->scan, 0, sizeof(c->scan));
    c->scan.table = v->table;
    c->scan.since = INT64_MIN;
    c->scan.until = INT64_MAX;
    c->eof = false;
    c->rowid = 0;
    if ((idx & IDX_DEVICE) && a < argc) {
        const char *d = (const char *)sqlite3_value_text(argv[a++]);
        if (!d || strlen(d) >= sizeof(c->device)) {
            c->eof = true; /* no device has that id */
            return SQLITE_OK;
        }
        snprintf(c->device, sizeof(c->device), "%s", d);
        c->scan.device = c->device;
    }
    if ((idx & IDX_SINCE) && a < argc) {
        if (sqlite3_value_numeric_type(argv[a]) == SQLITE_INTEGER) {
            c->scan.since = sqlite3_value_int64(argv[a]);
            if (idx & IDX_TS_EQ)
                c->scan.until = c->scan.since;
        }
        a++;
    }
    if ((idx & IDX_UNTIL) && a < argc) {
        if (sqlite3_value_numeric_type(argv[a]) == SQLITE_INTEGER)
            c->scan.until = sqlite3_value_int64(argv[a]);
        a++;
    }
    if ((idx & IDX_KEY) && a < argc) {
        const char *u = (const char *)sqlite3_value_text(argv[a]);
        int64_t key;
        if (u && events_uid_key(u, (size_t)sqlite3_value_bytes(argv[a]), &key)) {
            c->scan.by_key = true;
            c->scan.key = key;
        }
        a++;
    }
    if (c->scan.since > c->scan.until) {
        c->eof = true;
        return SQLITE_OK;
    }
    e = events_scan_start(&c->scan, v->db);
    c->started = true;
    if (e)
        return e == -ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
    return advance(c);
}

static int vt_next(sqlite3_vtab_cursor *base)
{
    return advance((struct vt_cursor *)base);
}

static int vt_eof(sqlite3_vtab_cursor *base)
{
    return ((struct vt_cursor *)base)->eof;
}

static void parse(struct vt_cursor *c)
{
    struct tlv_reader r;
    struct tlv_field f;

    for (size_t i = 0; i < c->nset; i++)
        c->have[c->set[i]] = 0;
    c->nset = 0;
    tlv_reader_init(&r, c->rec, c->len);
    while (tlv_next(&r, &f) == 1) {
        if (f.id >= F_MAX_ID || c->have[f.id])
            continue;
        c->have[f.id] = 1;
        c->set[c->nset++] = (uint8_t)f.id;
        c->fields[f.id] = f;
    }
    c->parsed = true;
}

static int vt_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col)
{
    struct vt_cursor *c = (struct vt_cursor *)base;
    struct vt *v = (struct vt *)base->pVtab;
    const struct schema_field_info *fi;
    const struct tlv_field *f;

    if (col == v->ncols) {
        sqlite3_result_text(ctx, c->scan.device_id, -1, SQLITE_TRANSIENT);
        return SQLITE_OK;
    }
    if (col == v->ncols + 1) {
        sqlite3_result_int64(ctx, c->scan.received_ns);
        return SQLITE_OK;
    }
    if (col < 0 || col >= v->ncols)
        return SQLITE_OK;
    fi = v->cols[col];
    if (fi->id == F_TIMESTAMP) {
        sqlite3_result_int64(ctx, c->ts);
        return SQLITE_OK;
    }
    if (!c->parsed)
        parse(c);
    if (!c->have[fi->id])
        return SQLITE_OK; /* NULL */
    f = &c->fields[fi->id];
    switch (fi->type) {
    case SCHEMA_STR:
    case SCHEMA_JSON:
        if (f->wire == TLV_WIRE_BYTES)
            sqlite3_result_text(ctx, f->n ? f->s : "", (int)f->n, SQLITE_TRANSIENT);
        break;
    case SCHEMA_INT:
        if (f->wire == TLV_WIRE_VARINT)
            sqlite3_result_int64(ctx, tlv_unzigzag(f->u));
        break;
    case SCHEMA_BOOL:
        if (f->wire == TLV_WIRE_VARINT && f->u)
            sqlite3_result_int(ctx, 1);
        break;
    default:
        if (f->wire == TLV_WIRE_VARINT)
            sqlite3_result_int64(ctx, (int64_t)f->u);
        break;
    }
    return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    *rowid = ((struct vt_cursor *)base)->rowid;
    return SQLITE_OK;
}

static const sqlite3_module events_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: the table is the module */
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

static int register_tables(sqlite3 *db, char **err, const struct sqlite3_api_routines *api)
{
    (void)api;
    for (unsigned bit = SCHEMA_T_PROCESS; bit <= SCHEMA_T_DEVICE; bit <<= 1) {
        int rc = sqlite3_create_module_v2(db, schema_table_name(bit), &events_module, (void *)(uintptr_t)bit, NULL);
        if (rc != SQLITE_OK) {
            if (err)
                *err = sqlite3_mprintf("cannot register %s", schema_table_name(bit));
            return rc;
        }
    }
    return SQLITE_OK;
}

static int installed;

/* Every connection opened from now on gets the tables: this runs when the
 * program loads, before any connection is opened. */
__attribute__((constructor)) static void events_vtab_init(void)
{
    installed = sqlite3_auto_extension((void (*)(void))register_tables) == SQLITE_OK;
}

bool events_vtab_installed(void)
{
    return installed;
}
