/*
 * store_sqlite.c — the SQLite store's core: opening, pragmas, migrations,
 * connections and the statement cache (see store_sqlite.h).
 *
 * Durability: WAL with synchronous=FULL, so a COMMIT that returned is on
 * disk; the ingest path commits groups of batches to keep that cheap.
 */
#include "server/store_sqlite.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define READERS 8
#define STMT_CACHE 512

struct stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
};

struct store_conn {
    sqlite3 *db;
    bool busy;
    struct stmt_slot stmts[STMT_CACHE];
};

struct store {
    char path[1024];
    struct store_conn writer;
    struct store_conn readers[READERS];
    pthread_mutex_t writer_lock;
    pthread_mutex_t readers_lock;
    pthread_cond_t readers_cond;
    int64_t (*clock)(void *ctx);
    void *clock_ctx;
};

extern const struct store_migration_set *const __start_yamori_migrations[] __attribute__((weak));
extern const struct store_migration_set *const __stop_yamori_migrations[] __attribute__((weak));

const char *store_backend(const struct store *st)
{
    (void)st;
    return "sqlite";
}

const char *store_path(const struct store *st)
{
    return st->path;
}

int64_t store_now_ms(const struct store *st)
{
    struct timespec ts;
    if (st && st->clock)
        return st->clock(st->clock_ctx);
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_set_clock(struct store *st, int64_t (*now_ms)(void *ctx), void *ctx)
{
    st->clock = now_ms;
    st->clock_ctx = ctx;
}

sqlite3 *store_db(struct store_conn *c)
{
    return c->db;
}

/* store_error() on a bare connection. */
static int db_error(sqlite3 *db, const char *what)
{
    int code = sqlite3_extended_errcode(db);
    log_error("store: %s: %s", what, sqlite3_errmsg(db));
    if ((code & 0xff) == SQLITE_CONSTRAINT)
        return -EEXIST;
    if ((code & 0xff) == SQLITE_FULL)
        return -ENOSPC;
    return -EIO;
}

int store_error(struct store_conn *c, const char *what)
{
    return db_error(c->db, what);
}

int store_exec(struct store_conn *c, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("store: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

sqlite3_stmt *store_prepare(struct store_conn *c, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 4) % STMT_CACHE;

    for (size_t i = 0; i < STMT_CACHE; i++) {
        struct stmt_slot *s = &c->stmts[(h + i) % STMT_CACHE];
        if (s->sql == sql) {
            sqlite3_reset(s->stmt);
            sqlite3_clear_bindings(s->stmt);
            return s->stmt;
        }
        if (!s->sql) {
            if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt, NULL) != SQLITE_OK) {
                log_error("store: cannot prepare: %s: %.120s", sqlite3_errmsg(c->db), sql);
                s->stmt = NULL;
                return NULL;
            }
            s->sql = sql;
            return s->stmt;
        }
    }
    /* the cache is full: a statement prepared for this use only would leak;
     * the number of distinct statements is fixed, so this is a bug */
    log_error("store: statement cache full");
    return NULL;
}

int store_rows(sqlite3_stmt *q, size_t elem_size, store_row_fn row, void *ctx, store_clear_fn clear, void **out,
               size_t *n, const char *what)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    int e = 0, rc;

    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *nv = realloc(v, ncap * elem_size);
            if (!nv) {
                e = -ENOMEM;
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        e = row(q, v + len * elem_size, ctx);
        if (e)
            goto out;
        len++;
    }
    if (rc != SQLITE_DONE)
        e = db_error(sqlite3_db_handle(q), what);
out:
    sqlite3_reset(q);
    if (e) {
        for (size_t i = 0; clear && i < len; i++)
            clear(v + i * elem_size);
        free(v);
        return e;
    }
    *out = v;
    *n = len;
    return 0;
}

int store_begin(struct store_conn *c)
{
    return store_exec(c, "BEGIN IMMEDIATE");
}

int store_commit(struct store_conn *c)
{
    return store_exec(c, "COMMIT");
}

void store_rollback(struct store_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static int open_conn(struct store *st, struct store_conn *c, bool writer, char *err, size_t errlen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);

    if (sqlite3_open_v2(st->path, &c->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open the database %s: %s", st->path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        c->db = NULL;
        return -EIO;
    }
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_extended_result_codes(c->db, 1);
    if (store_exec(c, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;"
                      "PRAGMA cache_size = -32768;") != 0 ||
        (writer && store_exec(c, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 4000;") != 0)) {
        snprintf(err, errlen, "cannot configure the database %s", st->path);
        return -EIO;
    }
    return 0;
}

static void close_conn(struct store_conn *c)
{
    for (size_t i = 0; i < STMT_CACHE; i++)
        if (c->stmts[i].stmt)
            sqlite3_finalize(c->stmts[i].stmt);
    memset(c->stmts, 0, sizeof(c->stmts));
    sqlite3_close(c->db);
    c->db = NULL;
}

/* Applies the steps of every registered module that this database has not
 * seen, each in its own transaction. */
static int migrate(struct store *st, char *err, size_t errlen)
{
    struct store_conn *c = &st->writer;
    const struct store_migration_set *const *start = __start_yamori_migrations;
    const struct store_migration_set *const *stop = __stop_yamori_migrations;
    size_t n = start && stop ? (size_t)(stop - start) : 0;
    const struct store_migration_set **sets;

    if (store_exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL,"
                      " applied_ms INTEGER NOT NULL, PRIMARY KEY (module, version))") != 0) {
        snprintf(err, errlen, "cannot create the migrations table");
        return -EIO;
    }
    sets = calloc(n ? n : 1, sizeof(*sets));
    if (!sets)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        sets[i] = start[i];
    for (size_t i = 1; i < n; i++) /* by order, then name */
        for (size_t j = i; j > 0 && (sets[j - 1]->order > sets[j]->order ||
                                     (sets[j - 1]->order == sets[j]->order &&
                                      strcmp(sets[j - 1]->module, sets[j]->module) > 0)); j--) {
            const struct store_migration_set *t = sets[j];
            sets[j] = sets[j - 1];
            sets[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        const struct store_migration_set *ms = sets[i];
        int have = 0;
        sqlite3_stmt *q = store_prepare(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE module = ?");
        if (!q)
            goto fail;
        sqlite3_bind_text(q, 1, ms->module, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW)
            have = sqlite3_column_int(q, 0);
        sqlite3_reset(q);
        for (const struct store_migration *m = ms->steps; m->sql; m++) {
            if (m->version <= have)
                continue;
            if (store_begin(c) != 0 || store_exec(c, m->sql) != 0) {
                store_rollback(c);
                snprintf(err, errlen, "migration %s %d failed: %s", ms->module, m->version, sqlite3_errmsg(c->db));
                goto fail;
            }
            sqlite3_stmt *ins = store_prepare(c, "INSERT INTO schema_migrations VALUES (?, ?, ?)");
            if (!ins)
                goto fail_tx;
            sqlite3_bind_text(ins, 1, ms->module, -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 2, m->version);
            sqlite3_bind_int64(ins, 3, store_now_ms(st));
            if (sqlite3_step(ins) != SQLITE_DONE || store_commit(c) != 0)
                goto fail_tx;
            log_info("store: applied migration %s %d", ms->module, m->version);
        }
    }
    free(sets);
    return 0;
fail_tx:
    store_rollback(c);
    snprintf(err, errlen, "cannot record a migration: %s", sqlite3_errmsg(c->db));
fail:
    free(sets);
    return -EIO;
}

int store_open(struct store **out, const char *uri, char *err, size_t errlen)
{
    struct store *st;
    int e;

    *out = NULL;
    if (strncmp(uri, "sqlite:", 7) != 0) {
        snprintf(err, errlen, "unsupported store '%s' (this build supports sqlite:PATH)", uri);
        return -EINVAL;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(st->path, sizeof(st->path), "%s", uri + 7);
    pthread_mutex_init(&st->writer_lock, NULL);
    pthread_mutex_init(&st->readers_lock, NULL);
    pthread_cond_init(&st->readers_cond, NULL);
    e = open_conn(st, &st->writer, true, err, errlen);
    if (e)
        goto fail;
    e = migrate(st, err, errlen);
    if (e)
        goto fail;
    for (int i = 0; i < READERS; i++) {
        e = open_conn(st, &st->readers[i], false, err, errlen);
        if (e)
            goto fail;
    }
    *out = st;
    return 0;
fail:
    store_close(st);
    return e;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < READERS; i++)
        if (st->readers[i].db)
            close_conn(&st->readers[i]);
    if (st->writer.db)
        close_conn(&st->writer);
    pthread_mutex_destroy(&st->writer_lock);
    pthread_mutex_destroy(&st->readers_lock);
    pthread_cond_destroy(&st->readers_cond);
    free(st);
}

struct store_conn *store_acquire(struct store *st, enum store_conn_kind kind)
{
    if (kind == STORE_WRITE) {
        pthread_mutex_lock(&st->writer_lock);
        return &st->writer;
    }
    pthread_mutex_lock(&st->readers_lock);
    for (;;) {
        for (int i = 0; i < READERS; i++) {
            if (!st->readers[i].busy) {
                st->readers[i].busy = true;
                pthread_mutex_unlock(&st->readers_lock);
                return &st->readers[i];
            }
        }
        pthread_cond_wait(&st->readers_cond, &st->readers_lock);
    }
}

void store_release(struct store *st, struct store_conn *c)
{
    if (!c)
        return;
    if (c == &st->writer) {
        store_rollback(c); /* a transaction left open is abandoned */
        pthread_mutex_unlock(&st->writer_lock);
        return;
    }
    pthread_mutex_lock(&st->readers_lock);
    c->busy = false;
    pthread_cond_signal(&st->readers_cond);
    pthread_mutex_unlock(&st->readers_lock);
}

int store_schema_versions(struct store *st, void (*fn)(const char *module, int version, void *ctx), void *ctx)
{
    struct store_conn *c = store_acquire(st, STORE_READ);
    sqlite3_stmt *q = store_prepare(c, "SELECT module, MAX(version) FROM schema_migrations GROUP BY module ORDER BY module");
    int e = 0;

    if (!q) {
        e = -EIO;
        goto out;
    }
    while (sqlite3_step(q) == SQLITE_ROW)
        fn((const char *)sqlite3_column_text(q, 0), sqlite3_column_int(q, 1), ctx);
    sqlite3_reset(q);
out:
    store_release(st, c);
    return e;
}
