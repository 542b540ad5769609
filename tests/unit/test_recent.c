/*
 * test_recent.c — the ring of recent events (src/agent/recent.c): records
 * come back oldest first and byte-identical, across the buffer's wrap;
 * the bound on records and the bound on bytes each push the oldest out;
 * a record larger than the ring or empty is not kept; a snapshot taken
 * while a writer adds records is consistent (every record whole, in
 * order); a reference outlives the agent's.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/recent.h"
#include "check.h"

/* Record i: len bytes, each derived from i, starting with i itself. */
static size_t make_record(uint32_t i, uint8_t *out, size_t len)
{
    for (size_t k = 0; k < len; k++)
        out[k] = (uint8_t)(i * 31 + k);
    if (len >= 4)
        memcpy(out, &i, 4);
    return len;
}

struct seen {
    uint32_t ids[20000];
    size_t n;
    bool bad;
};

static int collect_fn(const void *rec, size_t len, void *ctx)
{
    struct seen *s = ctx;
    uint8_t want[512];
    uint32_t id;

    if (len < 4 || len > sizeof(want)) {
        s->bad = true;
        return 1;
    }
    memcpy(&id, rec, 4);
    make_record(id, want, len);
    if (memcmp(want, rec, len) != 0)
        s->bad = true;
    if (s->n < sizeof(s->ids) / sizeof(s->ids[0]))
        s->ids[s->n++] = id;
    return 0;
}

static void keeps_newest_by_records(void)
{
    struct recent *r = recent_new(100, 1 << 20);
    static struct seen s;
    struct recent_stats st;
    uint8_t rec[64];

    CHECK(r);
    for (uint32_t i = 0; i < 250; i++)
        recent_add(r, rec, make_record(i, rec, 40 + i % 20));
    memset(&s, 0, sizeof(s));
    CHECK_INT(recent_each(r, collect_fn, &s), ==, 100);
    CHECK(!s.bad);
    CHECK_INT(s.n, ==, 100);
    for (size_t k = 0; k < s.n; k++)
        CHECK_INT(s.ids[k], ==, 150 + k);
    recent_get_stats(r, &st);
    CHECK(st.added == 250 && st.dropped == 150 && st.records == 100);
    recent_unref(r);
}

static void keeps_newest_by_bytes_across_the_wrap(void)
{
    /* 1000 bytes: about 10 records of 60..139 bytes fit, and the writer
     * wraps many times */
    struct recent *r = recent_new(1000, 1000);
    static struct seen s;
    struct recent_stats st;
    uint8_t rec[256];
    size_t total = 0, expect = 0;
    uint32_t last = 0;

    CHECK(r);
    for (uint32_t i = 0; i < 5000; i++)
        recent_add(r, rec, make_record(i, rec, 60 + (i * 7) % 80));
    memset(&s, 0, sizeof(s));
    CHECK(recent_each(r, collect_fn, &s) > 0);
    CHECK_MSG(!s.bad, "a record came back changed");
    /* consecutive, ending with the newest, and as many as fit */
    for (size_t k = 0; k < s.n; k++) {
        CHECK_INT(s.ids[k], ==, 5000 - s.n + k);
        total += 60 + (s.ids[k] * 7) % 80;
        last = s.ids[k];
    }
    CHECK_INT(last, ==, 4999);
    CHECK(total <= 1000);
    /* one more older record would not have fit */
    expect = total + 60 + ((s.ids[0] - 1) * 7) % 80;
    CHECK(expect > 1000);
    recent_get_stats(r, &st);
    CHECK(st.bytes == total && st.records == s.n);
    recent_unref(r);
}

static void too_large_or_empty_not_kept(void)
{
    struct recent *r = recent_new(10, 100);
    static struct seen s;
    uint8_t rec[256];

    CHECK(r);
    recent_add(r, rec, make_record(1, rec, 50));
    recent_add(r, rec, make_record(2, rec, 101)); /* larger than the ring */
    recent_add(r, rec, 0);
    recent_add(r, rec, make_record(3, rec, 50));
    memset(&s, 0, sizeof(s));
    CHECK_INT(recent_each(r, collect_fn, &s), ==, 2);
    CHECK(!s.bad && s.ids[0] == 1 && s.ids[1] == 3);
    /* exactly the ring's size: kept alone */
    recent_add(r, rec, make_record(4, rec, 100));
    memset(&s, 0, sizeof(s));
    CHECK_INT(recent_each(r, collect_fn, &s), ==, 1);
    CHECK(!s.bad && s.ids[0] == 4);
    recent_unref(r);
    CHECK(recent_new(0, 100) == NULL && recent_new(10, 0) == NULL);
    recent_add(NULL, rec, 10);
    recent_unref(NULL);
    CHECK_INT(recent_each(NULL, collect_fn, &s), ==, 0);
}

struct writer {
    struct recent *r;
    volatile bool stop;
    volatile uint32_t n;
};

static void *write_main(void *arg)
{
    struct writer *w = arg;
    uint8_t rec[256];

    while (!w->stop) {
        recent_add(w->r, rec, make_record(w->n, rec, 20 + w->n % 200));
        w->n++;
    }
    return NULL;
}

static void snapshot_while_writing(void)
{
    struct writer w = {.r = recent_new(500, 20000)};
    static struct seen s;
    pthread_t t;

    CHECK(w.r);
    CHECK(pthread_create(&t, NULL, write_main, &w) == 0);
    /* snapshots race the writer only once it writes (a loaded machine may
     * start it late) */
    while (w.n < 100)
        sched_yield();
    for (int round = 0; round < 200; round++) {
        memset(&s, 0, sizeof(s));
        if (recent_each(w.r, collect_fn, &s) < 0 || s.bad)
            break;
        for (size_t k = 1; k < s.n; k++)
            if (s.ids[k] != s.ids[k - 1] + 1)
                s.bad = true;
        if (s.bad)
            break;
    }
    w.stop = true;
    pthread_join(t, NULL);
    CHECK_MSG(!s.bad, "a snapshot held a torn or out-of-order record");
    CHECK(w.n > 0);
    recent_unref(w.r);
}

static void reference_outlives_owner(void)
{
    struct recent *r = recent_new(10, 1000);
    struct recent *mine = recent_ref(r);
    static struct seen s;
    uint8_t rec[64];

    CHECK(r && mine == r);
    recent_add(r, rec, make_record(9, rec, 30));
    recent_unref(r); /* the agent lets go */
    memset(&s, 0, sizeof(s));
    CHECK_INT(recent_each(mine, collect_fn, &s), ==, 1);
    CHECK(!s.bad && s.ids[0] == 9);
    recent_unref(mine);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"keeps_newest_by_records", keeps_newest_by_records},
        {"keeps_newest_by_bytes_across_the_wrap", keeps_newest_by_bytes_across_the_wrap},
        {"too_large_or_empty_not_kept", too_large_or_empty_not_kept},
        {"snapshot_while_writing", snapshot_while_writing},
        {"reference_outlives_owner", reference_outlives_owner},
        {NULL, NULL},
    };
    return check_main("recent", cases, argc, argv);
}
