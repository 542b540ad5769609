/*
 * test_store_rows.c — store_rows(), the one collector every store list
 * uses (store_sqlite.h), on an in-memory SQLite database: rows come out
 * in the statement's order across the array's growth, the row callback
 * gets its context, and a failure (the row's own error, or SQLite's in the
 * middle of the rows) hands out nothing, clears exactly the rows already
 * read (ASan reports what would leak) and leaves the statement reusable.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#include "server/store_sqlite.h"

#define NROWS 40 /* past the first two sizes of the array (16, 32) */

struct item {
    int64_t x;
    char *text; /* malloc'd: a leak if a failure forgot to clear it */
};

struct reading {
    int calls;    /* row callbacks so far */
    int fail_at;  /* the call that fails with -EBADMSG; 0: none */
    int cleared;  /* item_clear() calls (a global: clear has no context) */
};

static struct reading *now_reading;

static int item_row(sqlite3_stmt *q, void *elem, void *ctx)
{
    struct reading *r = ctx;
    struct item *it = elem;

    if (++r->calls == r->fail_at)
        return -EBADMSG;
    it->x = sqlite3_column_int64(q, 0);
    it->text = strdup((const char *)sqlite3_column_text(q, 1));
    return it->text ? 0 : -ENOMEM;
}

static void item_clear(void *elem)
{
    struct item *it = elem;

    free(it->text);
    now_reading->cleared++;
}

static void items_free(struct item *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].text);
    free(v);
}

static sqlite3 *db;
static sqlite3_stmt *q;

static void teardown(void)
{
    sqlite3_finalize(q);
    q = NULL;
    sqlite3_close(db);
    db = NULL;
}

/* q prepared from sql on an in-memory database with table t: x = 1..NROWS,
 * text "row x"; r is where item_clear() counts. */
static bool begin(const char *sql, struct reading *r)
{
    now_reading = r;
    return sqlite3_open(":memory:", &db) == SQLITE_OK &&
           sqlite3_exec(db,
                        "CREATE TABLE t (x INTEGER PRIMARY KEY, text TEXT NOT NULL);"
                        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 40)"
                        " INSERT INTO t SELECT x, 'row ' || x FROM n;",
                        NULL, NULL, NULL) == SQLITE_OK &&
           sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK;
}

static void test_rows_in_order(void)
{
    struct reading r = {0};
    struct item *v = NULL;
    size_t n = 99;
    char want[32];

    CHECK(begin("SELECT x, text FROM t ORDER BY x DESC", &r));
    CHECK_INT(store_rows(q, sizeof(*v), item_row, &r, item_clear, (void **)&v, &n, "read t"), ==, 0);
    CHECK_INT(n, ==, NROWS);
    CHECK_INT(r.calls, ==, NROWS);
    CHECK_INT(r.cleared, ==, 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "row %d", NROWS - (int)i);
        CHECK_INT(v[i].x, ==, NROWS - (int64_t)i);
        CHECK_STR(v[i].text, want);
    }
    items_free(v, n);
    v = NULL;
    /* reset: the same statement reads again */
    CHECK_INT(store_rows(q, sizeof(*v), item_row, &r, item_clear, (void **)&v, &n, "read t"), ==, 0);
    CHECK_INT(n, ==, NROWS);
    items_free(v, n);
}

static void test_no_rows(void)
{
    struct reading r = {0};
    struct item *v = (struct item *)&r; /* must come back NULL */
    size_t n = 99;

    CHECK(begin("SELECT x, text FROM t WHERE x > ?", &r));
    sqlite3_bind_int(q, 1, NROWS);
    CHECK_INT(store_rows(q, sizeof(*v), item_row, &r, item_clear, (void **)&v, &n, "read t"), ==, 0);
    CHECK(v == NULL);
    CHECK_INT(n, ==, 0);
    CHECK_INT(r.calls, ==, 0);
}

/* The row callback's error stops the reading: the 19 rows read are
 * cleared, the failing one is not (it owns nothing), nothing is handed
 * out. */
static void test_row_error_clears(void)
{
    struct reading r = {.fail_at = 20};
    struct item *v = (struct item *)&r;
    size_t n = 99;

    CHECK(begin("SELECT x, text FROM t ORDER BY x", &r));
    CHECK_INT(store_rows(q, sizeof(*v), item_row, &r, item_clear, (void **)&v, &n, "read t"), ==, -EBADMSG);
    CHECK(v == NULL);
    CHECK_INT(n, ==, 0);
    CHECK_INT(r.calls, ==, 20);
    CHECK_INT(r.cleared, ==, 19);
    /* reset: stepping starts over */
    CHECK_INT(sqlite3_step(q), ==, SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(q, 0), ==, 1);
}

/* SQLite fails at the fifth row (abs() of the smallest integer overflows):
 * -EIO, the four rows read are cleared, nothing is handed out. */
static void test_database_error_clears(void)
{
    struct reading r = {0};
    struct item *v = (struct item *)&r;
    size_t n = 99;

    CHECK(begin("SELECT CASE WHEN x = 5 THEN abs(-9223372036854775807 - 1) ELSE x END, text FROM t ORDER BY x",
                &r));
    CHECK_INT(store_rows(q, sizeof(*v), item_row, &r, item_clear, (void **)&v, &n, "read t with an overflow"), ==,
              -EIO);
    CHECK(v == NULL);
    CHECK_INT(n, ==, 0);
    CHECK_INT(r.calls, ==, 4);
    CHECK_INT(r.cleared, ==, 4);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"rows_in_order", test_rows_in_order},
        {"no_rows", test_no_rows},
        {"row_error_clears", test_row_error_clears},
        {"database_error_clears", test_database_error_clears},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("store_rows", cases, argc, argv);
}
