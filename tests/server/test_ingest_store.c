/*
 * test_ingest_store.c — the event store and the ingest pipeline without
 * HTTP: batches decoded by ingest_decode() and stored by
 * store_events_write() or the writer thread, then read back with
 * store_events_query(). Every column of every hunting table round-trips;
 * duplicates are dropped by (device, Seq); retention removes old
 * partitions while writes go on; the query filters do what they say; the
 * writer groups batches into few transactions; random damage to a body
 * never gets past the decoder unnoticed.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/schema.h"
#include "common/tlv.h"
#include "ingestgen.h"
#include "server/ingest.h"
#include "server/store.h"
#include "server/store_sqlite.h"

#define DEV_A "11111111-2222-3333-4444-555555555555"
#define DEV_B "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define T0_NS 1764151920000000000LL /* 2025-11-26T10:12:00Z */

static const struct ingest_limits limits = {8u << 20, 100000};
static char dir[128];
static struct store *st;
static int64_t clock_ms;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d))) {
        char p[512];
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static void teardown(void)
{
    if (st) {
        store_events_detach(st);
        store_close(st);
        st = NULL;
    }
    if (dir[0]) {
        remove_dir(dir);
        dir[0] = '\0';
    }
}

static bool open_store(void)
{
    char uri[256], err[256];
    snprintf(dir, sizeof(dir), "/tmp/yamori-ingest-XXXXXX");
    if (!mkdtemp(dir))
        return false;
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    if (store_open(&st, uri, err, sizeof(err)) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return false;
    }
    clock_ms = T0_NS / 1000000;
    store_set_clock(st, test_clock, NULL);
    if (store_events_attach(st, err, sizeof(err)) != 0) {
        fprintf(stderr, "attach: %s\n", err);
        return false;
    }
    return true;
}

/* A body for records[0..len) holding count events from first. */
static uint8_t *body_of(const char *device, uint64_t first, size_t count, const struct tlv_buf *records,
                        const char *lost, size_t *len)
{
    struct ingestgen_encoder *e = ingestgen_encoder_new(1);
    char *h = ingestgen_header(device, first, first + count - 1, count, lost);
    const uint8_t *b = e && h ? ingestgen_encode(e, h, strlen(h), records->data, records->len, len) : NULL;
    uint8_t *copy = b ? malloc(*len) : NULL;
    if (copy)
        memcpy(copy, b, *len);
    free(h);
    ingestgen_encoder_free(e);
    return copy;
}

/* count generated events from seq first of device, stored; returns the
 * batch's result or -errno. */
static int store_generated(struct ingestgen *g, const char *device, uint64_t first, size_t count, int64_t ts_ns,
                           struct store_event_batch *res)
{
    struct tlv_buf recs;
    struct ingest_batch *b = NULL;
    struct store_event_batch *one;
    uint8_t *body;
    size_t len = 0;
    unsigned status;
    char err[256];
    int e;

    tlv_init(&recs);
    for (size_t i = 0; i < count; i++)
        ingestgen_event(g, &recs, first + i, (uint64_t)ts_ns + i * 1000);
    body = body_of(device, first, count, &recs, "{\"exec\":2}", &len);
    tlv_free(&recs);
    if (!body)
        return -ENOMEM;
    e = ingest_decode(body, len, device, &limits, &b, &status, err, sizeof(err));
    free(body);
    if (e) {
        fprintf(stderr, "decode: %s\n", err);
        return e;
    }
    one = &b->sb;
    e = store_events_write(st, &one, 1, err, sizeof(err));
    if (e)
        fprintf(stderr, "write: %s\n", err);
    if (res)
        *res = b->sb;
    ingest_batch_free(b);
    return e;
}

struct collect {
    size_t n;
    int64_t ts[STORE_EVENTS_MAX_LIMIT];
    uint64_t seq[STORE_EVENTS_MAX_LIMIT];
    unsigned table[STORE_EVENTS_MAX_LIMIT];
    char action[64];
};

static int collect_row(const struct store_event_row *row, void *ctx)
{
    struct collect *c = ctx;
    for (size_t i = 0; i < row->nvalues; i++) {
        if (row->values[i].field->id == F_TIMESTAMP)
            c->ts[c->n] = row->values[i].i;
        if (row->values[i].field->id == F_SEQ)
            c->seq[c->n] = (uint64_t)row->values[i].i;
        if (row->values[i].field->id == F_ACTION_TYPE && c->n == 0)
            snprintf(c->action, sizeof(c->action), "%.*s", (int)row->values[i].n, row->values[i].s);
    }
    c->table[c->n] = row->table;
    c->n++;
    return 0;
}

static size_t query(const char *device, unsigned tables, int64_t since, int64_t until, const char *action,
                    size_t limit, struct collect *c)
{
    struct store_events_filter f = {device, tables, since, until, action, limit};
    char err[256];
    memset(c, 0, sizeof(*c));
    if (store_events_query(st, &f, collect_row, c, err, sizeof(err)) != 0) {
        fprintf(stderr, "query: %s\n", err);
        return (size_t)-1;
    }
    return c->n;
}

/* ------------------------------------------------------------------ round trip */

/* One record of table bit with a value in every column the schema gives
 * it; the value of field f is derived from f, so it can be checked. */
static void full_record(struct tlv_buf *b, unsigned bit, uint64_t seq)
{
    for (const struct schema_field_info *f = schema_fields; f->id; f++) {
        char s[128];
        int n;
        if (f->id == F_SEQ) {
            tlv_put_uint(b, F_SEQ, seq);
            continue;
        }
        if (f->id == F_EVENT_TYPE) {
            tlv_put_cstr_opt(b, F_EVENT_TYPE, schema_event_type_name(bit));
            continue;
        }
        if (!(f->tables & bit))
            continue;
        switch (f->type) {
        case SCHEMA_STR:
            n = snprintf(s, sizeof(s), "%s \xc3\xbc \"q\" \x01\xff end", f->name);
            tlv_put_str(b, f->id, s, (size_t)n);
            break;
        case SCHEMA_JSON:
            tlv_put_cstr_opt(b, f->id, "{\"exec\":3}");
            break;
        case SCHEMA_UINT:
            tlv_put_uint(b, f->id, f->id * 1000u + 7);
            break;
        case SCHEMA_INT:
            tlv_put_int(b, f->id, -(int64_t)f->id);
            break;
        case SCHEMA_TIME:
            tlv_put_time(b, f->id, (uint64_t)T0_NS + f->id);
            break;
        case SCHEMA_BOOL:
            tlv_put_bool(b, f->id);
            break;
        }
    }
}

static int check_full_row(const struct store_event_row *row, void *ctx)
{
    int *bad = ctx;
    size_t want = 0;
    for (const struct schema_field_info *f = schema_fields; f->id; f++)
        if (f->tables & row->table)
            want++;
    if (row->nvalues != want) {
        fprintf(stderr, "table %u: %zu values, want %zu\n", row->table, row->nvalues, want);
        (*bad)++;
    }
    if (strcmp(row->device_id, DEV_A) != 0)
        (*bad)++;
    for (size_t i = 0; i < row->nvalues; i++) {
        const struct store_event_value *v = &row->values[i];
        const struct schema_field_info *f = v->field;
        char s[128];
        int n;
        bool ok = true;
        switch (f->type) {
        case SCHEMA_STR:
            n = snprintf(s, sizeof(s), "%s \xc3\xbc \"q\" \x01\xff end", f->name);
            ok = v->n == (size_t)n && memcmp(v->s, s, v->n) == 0;
            break;
        case SCHEMA_JSON:
            ok = v->n == 10 && memcmp(v->s, "{\"exec\":3}", 10) == 0;
            break;
        case SCHEMA_UINT:
            ok = f->id == F_SEQ || v->i == (int64_t)(f->id * 1000u + 7);
            break;
        case SCHEMA_INT:
            ok = v->i == -(int64_t)f->id;
            break;
        case SCHEMA_TIME:
            ok = v->i == T0_NS + f->id;
            break;
        case SCHEMA_BOOL:
            ok = v->i == 1;
            break;
        }
        if (!ok) {
            fprintf(stderr, "table %u: %s differs\n", row->table, f->name);
            (*bad)++;
        }
    }
    return 0;
}

static void round_trip_every_column(void)
{
    struct tlv_buf recs, one;
    struct ingest_batch *b = NULL;
    struct store_event_batch *sb;
    struct store_events_filter f = {DEV_A, 0, 0, INT64_MAX, NULL, 100};
    uint8_t *body;
    size_t len;
    unsigned status;
    char err[256];
    int bad = 0;

    CHECK(open_store());
    tlv_init(&recs);
    tlv_init(&one);
    for (unsigned t = 0; t < 5; t++) {
        tlv_reset(&one);
        full_record(&one, 1u << t, 1 + t);
        tlv_put_varint(&recs, one.len);
        tlv_put_raw(&recs, one.data, one.len);
    }
    body = body_of(DEV_A, 1, 5, &recs, NULL, &len);
    tlv_free(&recs);
    tlv_free(&one);
    CHECK(body);
    CHECK_INT(ingest_decode(body, len, DEV_A, &limits, &b, &status, err, sizeof(err)), ==, 0);
    free(body);
    sb = &b->sb;
    CHECK_INT(store_events_write(st, &sb, 1, err, sizeof(err)), ==, 0);
    CHECK_INT(b->sb.stored, ==, 5);
    ingest_batch_free(b);
    CHECK_INT(store_events_query(st, &f, check_full_row, &bad, err, sizeof(err)), ==, 0);
    CHECK_INT(bad, ==, 0);
    {
        struct collect *c = calloc(1, sizeof(*c));
        CHECK(c);
        size_t n = query(DEV_A, 0, 0, INT64_MAX, NULL, 100, c);
        unsigned seen = 0;
        for (size_t i = 0; i < n; i++)
            seen |= c->table[i];
        free(c);
        CHECK_INT(n, ==, 5);
        CHECK_INT(seen, ==, SCHEMA_T_ALL);
    }
}

/* The views give the same values through plain SQL. */
static void views_decode_text(void)
{
    struct store_event_batch res;
    struct ingestgen *g = ingestgen_new(7, "web-1");
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    long long n = -1;

    CHECK(g && open_store());
    CHECK_INT(store_generated(g, DEV_A, 1, 2000, T0_NS, &res), ==, 0);
    ingestgen_free(g);
    c = store_acquire(st, STORE_READ);
    if (sqlite3_prepare_v2(store_db(c),
                           "SELECT (SELECT count(*) FROM DeviceProcessEvents) + (SELECT count(*) FROM DeviceFileEvents)"
                           " + (SELECT count(*) FROM DeviceNetworkEvents) + (SELECT count(*) FROM DeviceLogonEvents)"
                           " + (SELECT count(*) FROM DeviceEvents),"
                           " (SELECT count(*) FROM DeviceProcessEvents WHERE DeviceName = 'web-1' AND"
                           "  DeviceId = '" DEV_A "' AND ActionType LIKE 'Process%')"
                           " = (SELECT count(*) FROM DeviceProcessEvents)",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0) * 10 + sqlite3_column_int(q, 1);
    sqlite3_finalize(q);
    store_release(st, c);
    CHECK_INT(n, ==, 20001);
}

/* ------------------------------------------------------------------ duplicates */

static void duplicates_and_gaps(void)
{
    struct store_event_batch r;
    struct store_device_events sum;
    struct ingestgen *g = ingestgen_new(1, "host-a");
    struct collect *c = calloc(1, sizeof(*c));

    CHECK(g && c && open_store());
    CHECK_INT(store_events_device_summary(st, DEV_A, &sum), ==, -ENOENT);
    CHECK_INT(store_generated(g, DEV_A, 1, 100, T0_NS, &r), ==, 0);
    CHECK_INT(r.stored, ==, 100);
    CHECK_INT(r.duplicates, ==, 0);
    CHECK_INT(r.acked_seq, ==, 100);
    /* the same batch again: the same success, nothing stored */
    CHECK_INT(store_generated(g, DEV_A, 1, 100, T0_NS, &r), ==, 0);
    CHECK_INT(r.stored, ==, 0);
    CHECK_INT(r.duplicates, ==, 100);
    CHECK_INT(r.acked_seq, ==, 100);
    /* overlapping */
    CHECK_INT(store_generated(g, DEV_A, 51, 100, T0_NS + 1000000, &r), ==, 0);
    CHECK_INT(r.stored, ==, 50);
    CHECK_INT(r.duplicates, ==, 50);
    CHECK_INT(r.acked_seq, ==, 150);
    /* a gap is allowed */
    CHECK_INT(store_generated(g, DEV_A, 1001, 10, T0_NS + 2000000, &r), ==, 0);
    CHECK_INT(r.stored, ==, 10);
    /* an old batch below the gap is a duplicate */
    CHECK_INT(store_generated(g, DEV_A, 500, 10, T0_NS + 3000000, &r), ==, 0);
    CHECK_INT(r.stored, ==, 0);
    CHECK_INT(r.duplicates, ==, 10);
    /* another device has its own sequence */
    CHECK_INT(store_generated(g, DEV_B, 1, 100, T0_NS, &r), ==, 0);
    CHECK_INT(r.stored, ==, 100);
    CHECK_INT(query(DEV_A, 0, 0, INT64_MAX, NULL, 10000, c), ==, 160);
    for (size_t i = 1; i < c->n; i++)
        CHECK_MSG(c->ts[i - 1] >= c->ts[i], "not newest first at %zu", i);
    CHECK_INT(store_events_device_summary(st, DEV_A, &sum), ==, 0);
    CHECK_INT(sum.last_seq, ==, 1010);
    CHECK_INT(sum.events_total, ==, 160);
    CHECK_INT(sum.duplicates_total, ==, 160);
    CHECK_INT(sum.batches_total, ==, 5);
    CHECK_INT(sum.lost_total, ==, 2 * 3); /* "lost" counts only with new events */
    CHECK_INT(sum.last_ingest_ms, ==, clock_ms);
    CHECK(sum.last_event_ms > 0 && sum.last_event_ms <= clock_ms);
    free(c);
    ingestgen_free(g);
}

/* ------------------------------------------------------------------ queries */

static void query_filters(void)
{
    struct store_event_batch r;
    struct ingestgen *g = ingestgen_new(3, "host-q");
    struct collect *c = calloc(1, sizeof(*c));
    size_t all, procs = 0, created = 0, n;

    CHECK(g && c && open_store());
    CHECK_INT(store_generated(g, DEV_A, 1, 3000, T0_NS, &r), ==, 0);
    CHECK_INT(store_generated(g, DEV_B, 1, 500, T0_NS, &r), ==, 0);
    all = query(DEV_A, 0, 0, INT64_MAX, NULL, 10000, c);
    CHECK_INT(all, ==, 3000);
    for (size_t i = 0; i < all; i++)
        procs += c->table[i] == SCHEMA_T_PROCESS;
    CHECK_INT(query(DEV_A, SCHEMA_T_PROCESS, 0, INT64_MAX, NULL, 10000, c), ==, procs);
    for (size_t i = 0; i < c->n; i++)
        CHECK_INT(c->table[i], ==, SCHEMA_T_PROCESS);
    CHECK_INT(query(NULL, 0, 0, INT64_MAX, NULL, 10000, c), ==, 3500);
    CHECK_INT(query(DEV_A, SCHEMA_T_FILE | SCHEMA_T_NETWORK, 0, INT64_MAX, NULL, 10000, c), >, 0);
    for (size_t i = 0; i < c->n; i++)
        CHECK(c->table[i] == SCHEMA_T_FILE || c->table[i] == SCHEMA_T_NETWORK);
    /* a time window: events i = 1000..1999 have ts T0 + i µs */
    CHECK_INT(query(DEV_A, 0, T0_NS + 1000 * 1000, T0_NS + 1999 * 1000, NULL, 10000, c), ==, 1000);
    CHECK_INT(c->ts[0], ==, T0_NS + 1999 * 1000);
    CHECK_INT(c->seq[0], ==, 2000);
    CHECK_INT(c->ts[999], ==, T0_NS + 1000 * 1000);
    /* limit keeps the newest */
    CHECK_INT(query(DEV_A, 0, 0, INT64_MAX, NULL, 10, c), ==, 10);
    CHECK_INT(c->seq[0], ==, 3000);
    CHECK_INT(c->seq[9], ==, 2991);
    /* action */
    n = query(DEV_A, 0, 0, INT64_MAX, "ProcessCreated", 10000, c);
    CHECK(n > 0 && n < procs);
    created = n;
    CHECK_STR(c->action, "ProcessCreated");
    CHECK_INT(query(DEV_A, SCHEMA_T_FILE, 0, INT64_MAX, "ProcessCreated", 10000, c), ==, 0);
    CHECK_INT(query(DEV_A, 0, 0, INT64_MAX, "NoSuchAction", 10000, c), ==, 0);
    CHECK_INT(query("no-such-device", 0, 0, INT64_MAX, NULL, 10, c), ==, 0);
    (void)created;
    {
        struct store_events_filter f = {DEV_A, 0, 10, 5, NULL, 10};
        char err[128];
        CHECK_INT(store_events_query(st, &f, collect_row, c, err, sizeof(err)), ==, -EINVAL);
        f.since_ns = 0;
        f.limit = STORE_EVENTS_MAX_LIMIT + 1;
        CHECK_INT(store_events_query(st, &f, collect_row, c, err, sizeof(err)), ==, -EINVAL);
    }
    free(c);
    ingestgen_free(g);
}

/* ------------------------------------------------------------------ retention */

static void count_partition(int day, int64_t a, int64_t b, uint64_t rows, void *ctx)
{
    (void)day, (void)a, (void)b, (void)rows;
    (*(int *)ctx)++;
}

static int partitions(void)
{
    int n = 0;
    store_events_partitions(st, count_partition, &n);
    return n;
}

static void retention_drops_old_days(void)
{
    struct store_event_batch r;
    struct ingestgen *g = ingestgen_new(5, "host-r");
    struct collect *c = calloc(1, sizeof(*c));
    char err[256];
    bool more = true;
    int steps = 0;

    CHECK(g && c && open_store());
    CHECK_INT(store_generated(g, DEV_A, 1, 200, T0_NS, &r), ==, 0);
    clock_ms += 86400000; /* the next day */
    CHECK_INT(store_generated(g, DEV_A, 201, 200, T0_NS + 86400000000000LL, &r), ==, 0);
    CHECK_INT(partitions(), ==, 2);
    /* not old enough: nothing happens */
    CHECK_INT(store_events_prune(st, 30, &more, err, sizeof(err)), ==, 0);
    CHECK(!more);
    CHECK_INT(partitions(), ==, 2);
    /* 30 days after the first day ended: the first partition goes, step by
     * step, with writes in between */
    clock_ms += 30LL * 86400000;
    do {
        CHECK_INT(store_events_prune(st, 30, &more, err, sizeof(err)), ==, 0);
        CHECK_INT(store_generated(g, DEV_A, 401 + (uint64_t)steps * 10, 10, T0_NS + 40LL * 86400000000000LL, &r), ==,
                  0);
        CHECK_INT(r.stored, ==, 10);
        steps++;
    } while (more && steps < 50);
    CHECK(!more);
    CHECK_INT(steps, >=, 3);
    CHECK_INT(partitions(), ==, 2); /* the second day and today */
    CHECK_INT(query(DEV_A, 0, 0, INT64_MAX, NULL, 10000, c), ==, 200 + 10 * (size_t)steps);
    for (size_t i = 0; i < c->n; i++)
        CHECK(c->seq[i] > 200);
    {
        /* the views work without the dropped partition */
        struct store_conn *cn = store_acquire(st, STORE_READ);
        sqlite3_stmt *q = NULL;
        long long n = -1;
        if (sqlite3_prepare_v2(store_db(cn),
                               "SELECT count(*) FROM (SELECT Seq FROM DeviceProcessEvents UNION ALL SELECT Seq FROM"
                               " DeviceFileEvents UNION ALL SELECT Seq FROM DeviceNetworkEvents UNION ALL SELECT Seq"
                               " FROM DeviceLogonEvents UNION ALL SELECT Seq FROM DeviceEvents)",
                               -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        store_release(st, cn);
        CHECK_INT(n, ==, 200 + 10 * steps);
    }
    free(c);
    ingestgen_free(g);
}

/* A reopened store continues: the partition, the dictionary ids and each
 * device's Seq survive. */
static void reopen_continues(void)
{
    struct store_event_batch r;
    struct ingestgen *g = ingestgen_new(9, "host-o");
    struct collect *c = calloc(1, sizeof(*c));
    char uri[256], err[256];

    CHECK(g && c && open_store());
    CHECK_INT(store_generated(g, DEV_A, 1, 300, T0_NS, &r), ==, 0);
    store_events_detach(st);
    store_close(st);
    st = NULL;
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    CHECK_INT(store_open(&st, uri, err, sizeof(err)), ==, 0);
    store_set_clock(st, test_clock, NULL);
    CHECK_INT(store_events_attach(st, err, sizeof(err)), ==, 0);
    CHECK_INT(store_generated(g, DEV_A, 1, 300, T0_NS, &r), ==, 0);
    CHECK_INT(r.duplicates, ==, 300);
    CHECK_INT(store_generated(g, DEV_A, 301, 300, T0_NS + 1000000000, &r), ==, 0);
    CHECK_INT(r.stored, ==, 300);
    CHECK_INT(query(DEV_A, 0, 0, INT64_MAX, NULL, 10000, c), ==, 600);
    for (size_t i = 0; i < 600; i++)
        CHECK_INT(c->seq[i], ==, 600 - i);
    free(c);
    ingestgen_free(g);
}

/* ------------------------------------------------------------------ the writer */

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t done, stored, failed;
};

static void on_done(void *ctx, const struct ingest_result *r)
{
    struct waiter *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->done++;
    w->stored += r->stored;
    w->failed += r->error != 0;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

struct producer {
    struct ingest_writer *w;
    struct waiter *wt;
    int index;
    int submitted;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct ingestgen *g = ingestgen_new((uint64_t)p->index + 100, "host-w");
    char device[40];
    struct tlv_buf recs;

    snprintf(device, sizeof(device), "00000000-0000-0000-0000-%012d", p->index);
    tlv_init(&recs);
    for (int b = 0; b < 50 && g; b++) {
        struct ingest_batch *ib = NULL;
        unsigned status;
        size_t len;
        char err[256];
        uint8_t *body;
        tlv_reset(&recs);
        for (int i = 0; i < 100; i++)
            ingestgen_event(g, &recs, (uint64_t)b * 100 + (uint64_t)i + 1, (uint64_t)T0_NS + (uint64_t)b * 100000 + (uint64_t)i);
        body = body_of(device, (uint64_t)b * 100 + 1, 100, &recs, NULL, &len);
        if (body && ingest_decode(body, len, device, &limits, &ib, &status, err, sizeof(err)) == 0 &&
            ingest_writer_submit(p->w, ib, on_done, p->wt) == 0)
            p->submitted++;
        free(body);
    }
    tlv_free(&recs);
    ingestgen_free(g);
    return NULL;
}

static void writer_groups_batches(void)
{
    struct ingest_writer *w = NULL;
    struct ingest_writer_options o = {0};
    struct ingest_writer_stats s;
    struct waiter wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    struct producer p[4];
    pthread_t th[4];
    char err[256];
    int submitted = 0;

    CHECK(open_store());
    CHECK_INT(ingest_writer_start(st, &o, &w, err, sizeof(err)), ==, 0);
    for (int i = 0; i < 4; i++) {
        p[i] = (struct producer){w, &wt, i, 0};
        pthread_create(&th[i], NULL, produce, &p[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        submitted += p[i].submitted;
    }
    pthread_mutex_lock(&wt.lock);
    while (wt.done < (size_t)submitted)
        pthread_cond_wait(&wt.cond, &wt.lock);
    pthread_mutex_unlock(&wt.lock);
    ingest_writer_stats(w, &s);
    ingest_writer_stop(w);
    CHECK_INT(submitted, ==, 200);
    CHECK_INT(wt.failed, ==, 0);
    CHECK_INT(wt.stored, ==, 20000);
    CHECK_INT(s.batches, ==, 200);
    CHECK_INT(s.events_stored, ==, 20000);
    CHECK_MSG(s.groups < 200, "%llu transactions for 200 batches: no grouping", (unsigned long long)s.groups);
}

/* ------------------------------------------------------------------ damage */

/* Random damage to a valid body: the decoder refuses it or accepts a
 * batch that is still consistent; never a crash (the sanitizers watch). */
static void random_damage(void)
{
    struct ingestgen *g = ingestgen_new(11, "host-d");
    struct tlv_buf recs;
    uint64_t rng = 0x1234567;
    uint8_t *plain = NULL, *body;
    size_t len, refused = 0;
    char *h;

    CHECK(g);
    tlv_init(&recs);
    for (int i = 0; i < 50; i++)
        ingestgen_event(g, &recs, 1 + (uint64_t)i, T0_NS);
    h = ingestgen_header(DEV_A, 1, 50, 50, NULL);
    len = 8 + strlen(h) + recs.len;
    plain = malloc(len);
    CHECK(plain && h);
    memcpy(plain, "YMB1", 4);
    plain[4] = (uint8_t)strlen(h);
    plain[5] = (uint8_t)(strlen(h) >> 8);
    plain[6] = plain[7] = 0;
    memcpy(plain + 8, h, strlen(h));
    memcpy(plain + 8 + strlen(h), recs.data, recs.len);
    for (int round = 0; round < 3000; round++) {
        uint8_t *copy = malloc(len);
        size_t blen;
        struct ingest_batch *b = NULL;
        unsigned status;
        char err[256];
        memcpy(copy, plain, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            copy[(rng >> 33) % len] ^= (uint8_t)(1u << ((rng >> 20) % 8));
        }
        body = ingestgen_zstd(copy, round % 7 == 0 ? len / 2 : len, 1, &blen);
        free(copy);
        CHECK(body);
        if (ingest_decode(body, blen, DEV_A, &limits, &b, &status, err, sizeof(err)) != 0) {
            refused++;
            CHECK_MSG(status >= 400 && status < 500 && err[0], "status %u", status);
        } else {
            for (size_t i = 0; i < b->sb.nevents; i++)
                CHECK_INT(b->sb.events[i].seq, ==, b->sb.first_seq + i);
        }
        ingest_batch_free(b);
        free(body);
    }
    CHECK_INT(refused, >, 1000);
    tlv_free(&recs);
    free(plain);
    free(h);
    ingestgen_free(g);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"round_trip_every_column", round_trip_every_column},
        {"views_decode_text", views_decode_text},
        {"duplicates_and_gaps", duplicates_and_gaps},
        {"query_filters", query_filters},
        {"retention_drops_old_days", retention_drops_old_days},
        {"reopen_continues", reopen_continues},
        {"writer_groups_batches", writer_groups_batches},
        {"random_damage", random_damage},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("ingest_store", cases, argc, argv);
}
