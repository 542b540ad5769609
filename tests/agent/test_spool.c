/*
 * test_spool.c — the durable spool: append, read, acknowledge, delete;
 * recovery from a torn tail and from corrupt records; the sequence
 * numbering across restarts; the quota (low-value events first, counted
 * by type; then whole segments; age); a writer killed with SIGKILL in the
 * middle of its appends. No root needed: every spool lives in a temporary
 * directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/spool.h"
#include "check.h"
#include "common/schema.h"
#include "common/tlv.h"

static char dir[256];
static pid_t child = -1;

static void teardown(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
    if (dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        (void)!system(cmd);
        dir[0] = '\0';
    }
}

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/yamori-spool.XXXXXX");
    if (!mkdtemp(dir))
        dir[0] = '\0';
}

static void spool_dir(char *out, size_t n)
{
    snprintf(out, n, "%s/spool", dir);
}

/* An encoded event: action, the seq, and padding to make it bigger. */
static void make_event(struct tlv_buf *b, const char *action, uint64_t seq, size_t pad)
{
    char padding[4096];

    tlv_reset(b);
    tlv_put_time(b, F_TIMESTAMP, 1764151920000000000ull + seq);
    tlv_put_cstr_opt(b, F_EVENT_TYPE, strncmp(action, "Process", 7) == 0 ? "process" : "device");
    tlv_put_cstr_opt(b, F_ACTION_TYPE, action);
    tlv_put_uint(b, F_SEQ, seq);
    if (pad) {
        if (pad > sizeof(padding))
            pad = sizeof(padding);
        memset(padding, 'x', pad);
        tlv_put_str(b, F_PROCESS_COMMAND_LINE, padding, pad);
    }
}

static int append_event(struct spool *s, struct tlv_buf *b, const char *action, size_t pad, uint64_t *seq)
{
    uint64_t q = spool_next_seq(s);
    make_event(b, action, q, pad);
    if (seq)
        *seq = q;
    return spool_append(s, q, b->data, b->len);
}

static int open_spool(struct spool **s, uint64_t segment_bytes, uint64_t max_bytes)
{
    char sd[300], err[512] = "";
    struct spool_options o = {.segment_bytes = segment_bytes, .max_bytes = max_bytes};
    int e;

    spool_dir(sd, sizeof(sd));
    o.dir = sd;
    e = spool_open(s, &o, err, sizeof(err));
    if (e)
        fprintf(stderr, "spool_open: %s\n", err);
    return e;
}

struct collected {
    uint64_t seqs[20000];
    size_t n;
    bool bad;
};

static int collect(void *ctx, uint64_t seq, const void *rec, size_t len)
{
    struct collected *c = ctx;
    struct tlv_field f;

    if (tlv_find(rec, len, F_SEQ, &f) != 1 || f.u != seq)
        c->bad = true;
    if (c->n < sizeof(c->seqs) / sizeof(c->seqs[0]))
        c->seqs[c->n++] = seq;
    return 0;
}

/* Reads everything readable after `after`. */
static int read_all(struct spool *s, uint64_t after, struct collected *c)
{
    int n, total = 0;

    c->n = 0;
    c->bad = false;
    while ((n = spool_read(s, c->n ? c->seqs[c->n - 1] : after, 1000, 1u << 20, collect, c)) > 0)
        total += n;
    return n < 0 ? n : total;
}

static int count_segments(void)
{
    char sd[300];
    DIR *d;
    struct dirent *de;
    int n = 0;

    spool_dir(sd, sizeof(sd));
    d = opendir(sd);
    if (!d)
        return -1;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".seg") && !strstr(de->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

/* The path of the newest (or oldest) segment file. */
static bool segment_path(bool newest, int skip_from_end, char *out, size_t n)
{
    char sd[300];
    char names[256][32];
    int count = 0;
    DIR *d;
    struct dirent *de;

    spool_dir(sd, sizeof(sd));
    d = opendir(sd);
    if (!d)
        return false;
    while ((de = readdir(d)) && count < 256)
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".seg"))
            snprintf(names[count++], sizeof(names[0]), "%.31s", de->d_name);
    closedir(d);
    if (!count)
        return false;
    qsort(names, (size_t)count, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
    {
        int i = newest ? count - 1 - skip_from_end : skip_from_end;
        if (i < 0 || i >= count)
            return false;
        snprintf(out, n, "%s/%s", sd, names[i]);
    }
    return true;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ------------------------------------------------------------ cases */

static void append_read_ack(void)
{
    struct spool *s = NULL;
    struct tlv_buf b;
    struct collected *c = calloc(1, sizeof(*c));
    struct spool_stats st;
    uint64_t first = 0, seq;

    tlv_init(&b);
    make_dir();
    CHECK(dir[0] && c);
    CHECK_INT(open_spool(&s, 0, 0), ==, 0);
    spool_get_stats(s, &st);
    /* a new spool starts at the current time in microseconds */
    CHECK_MSG(st.next_seq > 1700000000000000ull, "first seq %llu", (unsigned long long)st.next_seq);
    for (int i = 0; i < 100; i++) {
        CHECK_INT(append_event(s, &b, "ProcessCreated", 100, &seq), ==, 0);
        if (!first)
            first = seq;
    }
    /* nothing is readable before it is written and synced */
    CHECK_INT(read_all(s, 0, c), ==, 0);
    CHECK_INT(spool_flush(s), ==, 0);
    CHECK_INT(read_all(s, 0, c), ==, 0);
    CHECK(spool_unsynced(s));
    CHECK_INT(spool_sync(s), ==, 0);
    CHECK(!spool_unsynced(s));
    CHECK_INT(read_all(s, 0, c), ==, 100);
    CHECK(!c->bad);
    for (size_t i = 0; i < c->n; i++)
        CHECK_INT(c->seqs[i], ==, first + i);
    /* a wrong seq is refused */
    make_event(&b, "ProcessCreated", first, 0);
    CHECK_INT(spool_append(s, first, b.data, b.len), ==, -EINVAL);
    CHECK_INT(spool_ack(s, first + 49), ==, 0);
    CHECK_INT(spool_ack(s, first + 10), ==, 0); /* older: ignored */
    CHECK_INT(spool_ack(s, first + 1000), ==, -EINVAL);
    spool_get_stats(s, &st);
    CHECK_INT(st.acked_seq, ==, first + 49);
    CHECK_INT(st.pending_events, ==, 50);
    spool_close(s);
    s = NULL;

    /* reopen: the same pending records, the numbering continues */
    CHECK_INT(open_spool(&s, 0, 0), ==, 0);
    spool_get_stats(s, &st);
    CHECK_INT(st.acked_seq, ==, first + 49);
    CHECK_INT(st.next_seq, ==, first + 100);
    CHECK_INT(st.pending_events, ==, 50);
    CHECK_INT(read_all(s, first + 49, c), ==, 50);
    CHECK_INT(c->seqs[0], ==, first + 50);
    CHECK_INT(c->seqs[49], ==, first + 99);
    CHECK_INT(append_event(s, &b, "ProcessCreated", 0, &seq), ==, 0);
    CHECK_INT(seq, ==, first + 100);
    CHECK_INT(spool_flush(s), ==, 0);
    CHECK_INT(spool_sync(s), ==, 0);
    CHECK_INT(read_all(s, first + 49, c), ==, 51);
    CHECK_INT(spool_ack(s, first + 100), ==, 0);
    spool_get_stats(s, &st);
    CHECK_INT(st.pending_events, ==, 0);
    CHECK_INT(st.pending_bytes, ==, 0);
    /* the older segment was wholly acknowledged: only the current one is left */
    CHECK_INT(count_segments(), ==, 1);
    spool_close(s);
    s = NULL;
    CHECK_INT(open_spool(&s, 0, 0), ==, 0);
    spool_get_stats(s, &st);
    CHECK_INT(st.next_seq, ==, first + 101);
    CHECK_INT(st.pending_events, ==, 0);
    spool_close(s);
    s = NULL;
    free(c);
    tlv_free(&b);
}

static void roll_and_delete(void)
{
    struct spool *s = NULL;
    struct tlv_buf b;
    struct collected *c = calloc(1, sizeof(*c));
    struct spool_stats st;
    uint64_t first = 0, seq;

    tlv_init(&b);
    make_dir();
    CHECK(c);
    CHECK_INT(open_spool(&s, 16384, 0), ==, 0);
    for (int i = 0; i < 400; i++) {
        CHECK_INT(append_event(s, &b, "ProcessCreated", 200, &seq), ==, 0);
        if (!first)
            first = seq;
        if (i % 37 == 0)
            CHECK_INT(spool_flush(s), ==, 0);
    }
    CHECK_INT(spool_flush(s), ==, 0);
    CHECK_INT(spool_sync(s), ==, 0);
    CHECK_MSG(count_segments() > 5, "%d segments", count_segments());
    /* each segment is named by the sequence number of its first record */
    for (int k = 0; k < count_segments(); k++) {
        char path[400];
        uint8_t rh[16];
        unsigned long long name, first_rec = 0;
        int fd;
        CHECK(segment_path(false, k, path, sizeof(path)));
        CHECK(sscanf(strrchr(path, '/') + 1, "%20llu.seg", &name) == 1);
        fd = open(path, O_RDONLY);
        CHECK(fd >= 0);
        if (pread(fd, rh, sizeof(rh), 32) == (ssize_t)sizeof(rh)) {
            for (int i = 7; i >= 0; i--)
                first_rec = first_rec << 8 | rh[8 + i];
            CHECK_INT(first_rec, ==, name);
        }
        close(fd);
    }
    /* read in small batches: continuity across segments */
    {
        uint64_t after = first - 1;
        int total = 0, n;
        c->n = 0;
        while ((n = spool_read(s, after, 7, 1u << 20, collect, c)) > 0) {
            total += n;
            after = c->seqs[c->n - 1];
        }
        CHECK_INT(total, ==, 400);
        for (size_t i = 0; i < c->n; i++)
            CHECK_INT(c->seqs[i], ==, first + i);
    }
    /* a byte limit stops a read (but one record always fits) */
    c->n = 0;
    CHECK_INT(spool_read(s, first - 1, 1000, 1000, collect, c), ==, 1000 / b.len);
    c->n = 0;
    CHECK_INT(spool_read(s, first - 1, 1000, 10, collect, c), ==, 1);
    CHECK_INT(spool_ack(s, first + 299), ==, 0);
    spool_get_stats(s, &st);
    CHECK_INT(st.pending_events, ==, 100);
    {
        int segs = count_segments();
        CHECK_INT(spool_ack(s, first + 399), ==, 0);
        CHECK_MSG(count_segments() < segs && count_segments() <= 2, "%d segments left", count_segments());
    }
    spool_close(s);
    s = NULL;
    free(c);
    tlv_free(&b);
}

static void torn_tail(void)
{
    struct spool *s = NULL;
    struct tlv_buf b;
    struct collected *c = calloc(1, sizeof(*c));
    struct spool_stats st;
    char path[400];
    uint64_t first = 0, seq;
    off_t size;
    int fd;

    tlv_init(&b);
    make_dir();
    CHECK(c);
    CHECK_INT(open_spool(&s, 0, 0), ==, 0);
    for (int i = 0; i < 20; i++) {
        CHECK_INT(append_event(s, &b, "ProcessCreated", 50, &seq), ==, 0);
        if (!first)
            first = seq;
    }
    spool_close(s);
    s = NULL;
    /* a record cut in the middle, as a crash during write(2) leaves it */
    CHECK(segment_path(true, 0, path, sizeof(path)));
    size = file_size(path);
    make_event(&b, "ProcessCreated", first + 20, 50);
    fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    {
        uint8_t h[16] = {0};
        uint32_t len = (uint32_t)b.len;
        uint64_t q = first + 20;
        memcpy(h, &len, 4);
        memcpy(h + 8, &q, 8);
        CHECK_INT(write(fd, h, 16), ==, 16);
        CHECK_INT(write(fd, b.data, b.len / 2), ==, (long long)(b.len / 2));
    }
    close(fd);
    CHECK_INT(open_spool(&s, 0, 0), ==, 0);
    spool_get_stats(s, &st);
    CHECK_INT(st.lost[SPOOL_LOSS_CORRUPT], ==, 1);
    CHECK_INT(st.recovered, ==, 20);
    CHECK_INT(st.next_seq, ==, first + 20); /* the torn record's seq was never sent: reused */
    CHECK_INT(file_size(path), ==, size);   /* cut back to the last whole record */
    CHECK_INT(read_all(s, 0, c), ==, 20);
    CHECK(!c->bad);
    CHECK_INT(c->seqs[19], ==, first + 19);
    /* the loss is reported to both consumers */
    {
        struct spool_loss l;
        spool_peek_loss(s, SPOOL_CONSUMER_EVENTS, &l);
        CHECK_INT(l.n[SPOOL_LOSS_CORRUPT][0], ==, 1);
        spool_commit_loss(s, SPOOL_CONSUMER_EVENTS, &l);
        spool_peek_loss(s, SPOOL_CONSUMER_EVENTS, &l);
        CHECK_INT(l.n[SPOOL_LOSS_CORRUPT][0], ==, 0);
        spool_peek_loss(s, SPOOL_CONSUMER_BATCH, &l);
        CHECK_INT(l.n[SPOOL_LOSS_CORRUPT][0], ==, 1);
    }
    spool_close(s);
    s = NULL;
    free(c);
    tlv_free(&b);
}

/* Flips one byte of the record with index `which` of a segment file. */
static bool corrupt_record(const char *path, int which)
{
    uint8_t *data;
    off_t size = file_size(path);
    size_t off = 32;
    int fd = open(path, O_RDWR);
    bool ok = false;

    if (fd < 0 || size <= 0)
        goto out;
    data = malloc((size_t)size);
    if (!data || pread(fd, data, (size_t)size, 0) != size) {
        free(data);
        goto out;
    }
    for (int i = 0; i < which && off + 16 <= (size_t)size; i++) {
        uint32_t len;
        memcpy(&len, data + off, 4);
        off += 16 + len;
    }
    if (off + 20 < (size_t)size) {
        data[off + 18] ^= 0x5a; /* inside the event: the CRC no longer matches */
        ok = pwrite(fd, data + off + 18, 1, (off_t)(off + 18)) == 1;
    }
    free(data);
out:
    if (fd >= 0)
        close(fd);
    return ok;
}

static void corrupt_crc(void)
{
    struct spool *s = NULL;
    struct tlv_buf b;
    struct collected *c = calloc(1, sizeof(*c));
    struct spool_stats st;
    char path[400];
    uint64_t first = 0, seq;
    int segs;

    tlv_init(&b);
    make_dir();
    CHECK(c);
    /* several segments: corrupt one record in an older one and one in the newest */
    CHECK_INT(open_spool(&s, 8192, 0), ==, 0);
    for (int i = 0; i < 100; i++) {
        CHECK_INT(append_event(s, &b, "ProcessCreated", 200, &seq), ==, 0);
        if (!first)
            first = seq;
    }
    spool_close(s);
    s = NULL;
    segs = count_segments();
    CHECK_MSG(segs >= 4, "%d segments", segs);
    CHECK(segment_path(true, 0, path, sizeof(path)));
    if (file_size(path) <= 32) /* the newest may be empty: take the one before */
        CHECK(segment_path(true, 1, path, sizeof(path)));
    CHECK(corrupt_record(path, 2));
    {
        char older[400];
        CHECK(segment_path(false, 0, older, sizeof(older)));
        CHECK(strcmp(older, path) != 0);
        CHECK(corrupt_record(older, 3));
    }
    CHECK_INT(open_spool(&s, 8192, 0), ==, 0);
    spool_get_stats(s, &st);
    /* older segment: the bad record skipped (1 lost); newest: cut at the bad record */
    CHECK_MSG(st.lost[SPOOL_LOSS_CORRUPT] >= 2, "lost %llu", (unsigned long long)st.lost[SPOOL_LOSS_CORRUPT]);
    CHECK_INT(read_all(s, 0, c), >, 0);
    CHECK(!c->bad);
    /* everything before the newest segment's bad record survives, but the
     * one corrupt record of the older segment */
    CHECK_INT(c->seqs[0], ==, first);
    {
        bool found_gap = false;
        for (size_t i = 1; i < c->n; i++) {
            CHECK(c->seqs[i] > c->seqs[i - 1]);
            if (c->seqs[i] != c->seqs[i - 1] + 1) {
                CHECK_INT(c->seqs[i], ==, c->seqs[i - 1] + 2); /* exactly the one record */
                found_gap = true;
                break;
            }
        }
        CHECK(found_gap);
        CHECK_INT(c->n, ==, 100 - 1 - (100 - (c->seqs[c->n - 1] - first + 1)));
    }
    /* the records after the cut are gone, and the numbering goes on after the last good one */
    CHECK_INT(st.next_seq, ==, c->seqs[c->n - 1] + 1);
    spool_close(s);
    s = NULL;
    free(c);
    tlv_free(&b);
}

struct by_type {
    int n[YS_TYPE_MAX];
    int low;              /* low-value events seen */
    uint64_t first_low;   /* the first low-value event's seq */
    uint64_t last;        /* the last seq seen */
};

static int classify(void *ctx, uint64_t seq, const void *rec, size_t len)
{
    struct by_type *t = ctx;
    unsigned type;
    bool low = spool_low_value(rec, len, &type);

    t->n[type]++;
    if (low) {
        t->low++;
        if (!t->first_low)
            t->first_low = seq;
    }
    t->last = seq;
    return 0;
}

static int classify_all(struct spool *s, struct by_type *t)
{
    int k, n = 0;

    memset(t, 0, sizeof(*t));
    while ((k = spool_read(s, t->last, 1000, 1u << 20, classify, t)) > 0)
        n += k;
    return k < 0 ? k : n;
}

/* A logon event (never low-value) of about the size of the others. */
static int append_logon(struct spool *s, struct tlv_buf *b)
{
    uint64_t q = spool_next_seq(s);
    char line[190];

    memset(line, '.', sizeof(line));
    tlv_reset(b);
    tlv_put_time(b, F_TIMESTAMP, 1);
    tlv_put_cstr_opt(b, F_EVENT_TYPE, "logon");
    tlv_put_cstr_opt(b, F_ACTION_TYPE, "LogonFailed");
    tlv_put_uint(b, F_SEQ, q);
    tlv_put_str(b, F_LOG_LINE, line, sizeof(line));
    return spool_append(s, q, b->data, b->len);
}

static void quota_low_value_first(void)
{
    struct spool *s = NULL;
    struct tlv_buf b;
    struct spool_stats st;
    struct spool_loss l;
    struct by_type t;
    uint64_t first = 0, seq;
    int64_t dropped;

    tlv_init(&b);
    make_dir();
    /* 1/4 each ProcessCreated, ProcessForked, ProcessExited, LogonFailed:
     * 128 KiB quota, about 150 KiB of events, so thinning alone is enough */
    CHECK_INT(open_spool(&s, 16384, 131072), ==, 0);
    for (int i = 0; i < 600; i++) {
        int k = i % 4;
        if (k == 3) {
            CHECK_INT(append_logon(s, &b), ==, 0);
        } else {
            CHECK_INT(append_event(s, &b, k == 0 ? "ProcessCreated" : k == 1 ? "ProcessForked" : "ProcessExited",
                                   190, &seq), ==, 0);
            if (!first)
                first = seq;
        }
        CHECK_INT(spool_flush(s), ==, 0);
    }
    CHECK_INT(spool_sync(s), ==, 0);
    spool_get_stats(s, &st);
    CHECK_MSG(st.disk_bytes > 131072, "%llu bytes", (unsigned long long)st.disk_bytes);
    dropped = spool_maintain(s, (uint64_t)time(NULL) * 1000000000ull);
    CHECK_INT(dropped, >, 0);
    spool_get_stats(s, &st);
    CHECK_MSG(st.disk_bytes <= 131072, "%llu bytes after the quota", (unsigned long long)st.disk_bytes);
    CHECK_INT(st.lost[SPOOL_LOSS_QUOTA], ==, dropped);
    CHECK_INT(st.pending_events, ==, 600 - dropped);
    /* only low-value events went, counted by type, for both consumers */
    spool_peek_loss(s, SPOOL_CONSUMER_EVENTS, &l);
    CHECK_INT(l.n[SPOOL_LOSS_QUOTA][YS_PROC_EXEC], ==, 0);
    CHECK_INT(l.n[SPOOL_LOSS_QUOTA][0], ==, 0);
    CHECK_INT(l.n[SPOOL_LOSS_QUOTA][YS_PROC_FORK], >, 0);
    CHECK_INT(l.n[SPOOL_LOSS_QUOTA][YS_PROC_EXIT], >, 0);
    CHECK_INT(l.n[SPOOL_LOSS_QUOTA][YS_PROC_FORK] + l.n[SPOOL_LOSS_QUOTA][YS_PROC_EXIT], ==, dropped);
    spool_peek_loss(s, SPOOL_CONSUMER_BATCH, &l);
    CHECK_INT(l.n[SPOOL_LOSS_QUOTA][YS_PROC_FORK] + l.n[SPOOL_LOSS_QUOTA][YS_PROC_EXIT], ==, dropped);
    /* every ProcessCreated and logon is still there; the oldest low-value
     * events went first */
    CHECK_INT(classify_all(s, &t), ==, 600 - dropped);
    CHECK_INT(t.n[YS_PROC_EXEC], ==, 150);
    CHECK_INT(t.n[0], ==, 150);
    CHECK_INT(t.low + dropped, ==, 300);
    CHECK_MSG(t.first_low > first + 100, "first low-value event left: +%llu",
              (unsigned long long)(t.first_low - first));
    spool_close(s);
    s = NULL;
    tlv_free(&b);
}

static void quota_whole_segments_and_age(void)
{
    struct spool *s = NULL;
    struct tlv_buf b;
    struct spool_stats st;
    struct spool_loss l;
    struct collected *c = calloc(1, sizeof(*c));
    uint64_t first = 0, seq;
    int64_t dropped;

    tlv_init(&b);
    make_dir();
    CHECK(c);
    /* nothing low-value: thinning frees nothing, the oldest segments go */
    CHECK_INT(open_spool(&s, 16384, 65536), ==, 0);
    for (int i = 0; i < 600; i++) {
        CHECK_INT(append_event(s, &b, "ProcessCreated", 190, &seq), ==, 0);
        if (!first)
            first = seq;
        CHECK_INT(spool_flush(s), ==, 0);
    }
    CHECK_INT(spool_sync(s), ==, 0);
    dropped = spool_maintain(s, (uint64_t)time(NULL) * 1000000000ull);
    CHECK_INT(dropped, >, 0);
    spool_peek_loss(s, SPOOL_CONSUMER_EVENTS, &l);
    CHECK_INT(l.n[SPOOL_LOSS_QUOTA][YS_PROC_EXEC], ==, dropped);
    spool_get_stats(s, &st);
    CHECK_MSG(st.disk_bytes <= 65536, "%llu bytes", (unsigned long long)st.disk_bytes);
    CHECK_INT(read_all(s, 0, c), ==, 600 - dropped);
    /* the newest survive */
    CHECK_INT(c->seqs[c->n - 1], ==, first + 599);
    CHECK_INT(c->seqs[0], ==, first + (uint64_t)dropped);
    /* age: eight days later every closed segment is too old */
    CHECK_INT(spool_flush(s), ==, 0);
    dropped = spool_maintain(s, ((uint64_t)time(NULL) + 8 * 86400ull) * 1000000000ull);
    CHECK_INT(dropped, >, 0);
    spool_get_stats(s, &st);
    CHECK_INT(st.segments, ==, 1);
    spool_close(s);
    s = NULL;
    free(c);
    tlv_free(&b);
}

static void quota_keeps_disk_free(void)
{
    struct spool *s = NULL;
    struct tlv_buf b;
    struct statvfs vfs;
    struct spool_stats st;
    char sd[300], err[512];
    struct spool_options o = {.segment_bytes = 16384};
    int64_t dropped;

    tlv_init(&b);
    make_dir();
    spool_dir(sd, sizeof(sd));
    o.dir = sd;
    CHECK(statvfs(dir, &vfs) == 0);
    /* ask for 64 KiB more free space than the file system has: the spool,
     * far below its 1 GiB quota, must shrink by about that much */
    o.min_free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize + 65536;
    CHECK_INT(spool_open(&s, &o, err, sizeof(err)), ==, 0);
    for (int i = 0; i < 800; i++) {
        CHECK_INT(append_event(s, &b, "ProcessCreated", 190, NULL), ==, 0);
        CHECK_INT(spool_flush(s), ==, 0);
    }
    CHECK_INT(spool_sync(s), ==, 0);
    spool_get_stats(s, &st);
    {
        uint64_t before = st.disk_bytes;
        dropped = spool_maintain(s, (uint64_t)time(NULL) * 1000000000ull);
        CHECK_INT(dropped, >, 0);
        spool_get_stats(s, &st);
        CHECK_MSG(st.disk_bytes + 65536 <= before + 16384 && st.disk_bytes > 0, "%llu -> %llu bytes",
                  (unsigned long long)before, (unsigned long long)st.disk_bytes);
    }
    CHECK_INT(st.lost[SPOOL_LOSS_QUOTA], ==, dropped);
    spool_close(s);
    s = NULL;
    tlv_free(&b);
}

static void reject_one(void)
{
    struct spool *s = NULL;
    struct tlv_buf b;
    struct spool_stats st;
    struct spool_loss l;
    char path[400];
    uint64_t seq;

    tlv_init(&b);
    make_dir();
    CHECK_INT(open_spool(&s, 0, 0), ==, 0);
    CHECK_INT(append_event(s, &b, "MemfdCreated", 10, &seq), ==, 0);
    CHECK_INT(spool_flush(s), ==, 0);
    CHECK_INT(spool_sync(s), ==, 0);
    CHECK_INT(spool_reject(s, seq, b.data, b.len, "record 1: bad field"), ==, 0);
    spool_get_stats(s, &st);
    CHECK_INT(st.acked_seq, ==, seq);
    CHECK_INT(st.lost[SPOOL_LOSS_REJECTED], ==, 1);
    spool_peek_loss(s, SPOOL_CONSUMER_BATCH, &l);
    CHECK_INT(l.n[SPOOL_LOSS_REJECTED][YS_MEMFD_CREATE], ==, 1);
    snprintf(path, sizeof(path), "%s/spool/rejected/%020llu.rec", dir, (unsigned long long)seq);
    CHECK_INT(file_size(path), ==, (long long)b.len);
    spool_close(s);
    s = NULL;
    tlv_free(&b);
}

static void low_value_policy(void)
{
    struct tlv_buf b;
    unsigned type;

    tlv_init(&b);
#define EV(action)                                                                                                 \
    do {                                                                                                           \
        tlv_reset(&b);                                                                                             \
        tlv_put_cstr_opt(&b, F_ACTION_TYPE, action);                                                               \
    } while (0)
    EV("ProcessForked");
    CHECK(spool_low_value(b.data, b.len, &type) && type == YS_PROC_FORK);
    EV("ProcessCreated");
    CHECK(!spool_low_value(b.data, b.len, &type) && type == YS_PROC_EXEC);
    EV("LogonFailed");
    CHECK(!spool_low_value(b.data, b.len, &type) && type == 0);
    EV("FileModified");
    tlv_put_cstr_opt(&b, F_FOLDER_PATH, "/tmp/build/a.o");
    tlv_put_cstr_opt(&b, F_LOCATION_TAG, "temp");
    CHECK(spool_low_value(b.data, b.len, &type) && type == YS_FILE_MODIFY);
    tlv_put_bool(&b, F_IS_EXECUTABLE);
    CHECK(!spool_low_value(b.data, b.len, &type));
    EV("FileCreated");
    tlv_put_cstr_opt(&b, F_FOLDER_PATH, "/tmp/.x/a");
    tlv_put_cstr_opt(&b, F_LOCATION_TAG, "temp");
    CHECK(!spool_low_value(b.data, b.len, &type));
    EV("FileCreated");
    tlv_put_cstr_opt(&b, F_FOLDER_PATH, "/etc/cron.d/x");
    tlv_put_cstr_opt(&b, F_LOCATION_TAG, "persistence:cron");
    CHECK(!spool_low_value(b.data, b.len, &type));
    EV("ConnectionSuccess");
    tlv_put_cstr_opt(&b, F_PROTOCOL, "Udp");
    tlv_put_uint(&b, F_REMOTE_PORT, 53);
    CHECK(spool_low_value(b.data, b.len, &type) && type == YS_NET_UDP_SEND);
    EV("ConnectionSuccess");
    tlv_put_cstr_opt(&b, F_PROTOCOL, "Tcp");
    tlv_put_uint(&b, F_REMOTE_PORT, 4444);
    tlv_put_cstr_opt(&b, F_REMOTE_IP_TYPE, "Public");
    CHECK(!spool_low_value(b.data, b.len, &type) && type == YS_NET_CONNECT);
    EV("InboundConnectionAccepted");
    tlv_put_cstr_opt(&b, F_REMOTE_IP_TYPE, "Loopback");
    CHECK(spool_low_value(b.data, b.len, &type));
    EV("ListeningConnectionCreated");
    tlv_put_cstr_opt(&b, F_REMOTE_IP_TYPE, "Loopback");
    CHECK(!spool_low_value(b.data, b.len, &type));
#undef EV
    tlv_free(&b);
}

/* The child appends and syncs in a loop and reports each synced seq on
 * the pipe; the parent kills it with SIGKILL and recovers. */
static void killed_writer(void)
{
    int p[2];
    uint64_t synced[4096];
    size_t nsynced = 0;
    struct spool *s = NULL;
    struct collected *c = calloc(1, sizeof(*c));
    FILE *in;

    make_dir();
    CHECK(c);
    CHECK(pipe(p) == 0);
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        struct tlv_buf b;
        close(p[0]);
        tlv_init(&b);
        if (open_spool(&s, 8192, 0) != 0)
            _exit(3);
        for (;;) {
            uint64_t seq = 0;
            for (int i = 0; i < 7; i++)
                if (append_event(s, &b, "ProcessCreated", 100, &seq) != 0)
                    _exit(4);
            if (spool_flush(s) != 0 || spool_sync(s) != 0)
                _exit(5);
            if (write(p[1], &seq, sizeof(seq)) != sizeof(seq))
                _exit(6);
            /* and some more that are written but not synced */
            append_event(s, &b, "ProcessCreated", 100, NULL);
            spool_flush(s);
        }
    }
    close(p[1]);
    in = fdopen(p[0], "r");
    CHECK(in);
    while (nsynced < 300 && fread(&synced[nsynced], sizeof(synced[0]), 1, in) == 1)
        nsynced++;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    child = -1;
    /* what was in the pipe is synced too */
    while (nsynced < 4096 && fread(&synced[nsynced], sizeof(synced[0]), 1, in) == 1)
        nsynced++;
    fclose(in);
    CHECK_INT(nsynced, >=, 300);
    CHECK_INT(open_spool(&s, 8192, 0), ==, 0);
    CHECK_INT(read_all(s, 0, c), >, 0);
    CHECK(!c->bad);
    {
        /* every record up to the last synced seq is there, in order, once */
        uint64_t last = synced[nsynced - 1];
        size_t i;
        for (i = 1; i < c->n; i++)
            CHECK_INT(c->seqs[i], ==, c->seqs[i - 1] + 1);
        CHECK_MSG(c->seqs[c->n - 1] >= last, "last synced %llu, last recovered %llu", (unsigned long long)last,
                  (unsigned long long)c->seqs[c->n - 1]);
        CHECK_INT(c->seqs[c->n - 1] - c->seqs[0] + 1, ==, c->n);
    }
    spool_close(s);
    s = NULL;
    free(c);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"append_read_ack", append_read_ack},
        {"roll_and_delete", roll_and_delete},
        {"torn_tail", torn_tail},
        {"corrupt_crc", corrupt_crc},
        {"low_value_policy", low_value_policy},
        {"quota_low_value_first", quota_low_value_first},
        {"quota_whole_segments_and_age", quota_whole_segments_and_age},
        {"quota_keeps_disk_free", quota_keeps_disk_free},
        {"reject_one", reject_one},
        {"killed_writer", killed_writer},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("spool", cases, argc, argv);
}
