/*
 * test_logsource.c — following an authentication log the way logrotate and
 * a restarting agent make it hard: appends, partial lines, rotation by
 * rename with the logger still writing to the old file, copytruncate,
 * restarts that resume from the saved state (also across a rotation or a
 * truncation that happened while stopped) without duplicates or gaps,
 * oversized lines, a callback that pushes back. Every test works in its
 * own temporary directory. Each log line is an sshd success whose port is
 * its sequence number, so the ports delivered show order, duplicates and
 * gaps at once.
 *
 * The journal back end is tested only where journald runs (as root, since
 * the system journal is what it reads); elsewhere that case skips and says
 * why.
 */
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "agent/logsource.h"

#define MAX_COLLECT 4096

struct collected {
    unsigned int ports[MAX_COLLECT];
    const char *accounts[MAX_COLLECT];
    size_t n;
    long refuse_at;          /* refuse the record with this index, once */
    const char *want_account;
    size_t want_seen;
    unsigned int last_port;
    bool out_of_order;
};

static int collect(const struct logon_record *r, void *ctx)
{
    struct collected *c = ctx;
    if (c->refuse_at >= 0 && (size_t)c->refuse_at == c->n) {
        c->refuse_at = -1;
        return -EAGAIN;
    }
    if (c->n < MAX_COLLECT)
        c->ports[c->n] = r->remote_port;
    if (c->want_account && r->account && strcmp(r->account, c->want_account) == 0)
        c->want_seen++;
    if (c->n && r->remote_port != c->last_port + 1)
        c->out_of_order = true;
    c->last_port = r->remote_port;
    c->n++;
    return 0;
}

static void collected_reset(struct collected *c)
{
    memset(c, 0, sizeof(*c));
    c->refuse_at = -1;
}

struct paths {
    char dir[64];
    char log[128];
    char old[128];
    char state[128];
};

static bool paths_make(struct paths *p)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/yamori-logsource-XXXXXX");
    if (!mkdtemp(p->dir))
        return false;
    snprintf(p->log, sizeof(p->log), "%s/auth.log", p->dir);
    snprintf(p->old, sizeof(p->old), "%s/auth.log.1", p->dir);
    snprintf(p->state, sizeof(p->state), "%s/logon.state", p->dir);
    return true;
}

/* Removes the directory and what is in it (one level, as the tests make). */
static void paths_remove(const struct paths *p)
{
    DIR *d = opendir(p->dir);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        char f[320];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(f, sizeof(f), "%s/%s", p->dir, de->d_name);
        unlink(f);
    }
    closedir(d);
    rmdir(p->dir);
}

static bool write_all(const char *path, const char *data, size_t len, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
    size_t done = 0;
    if (fd < 0)
        return false;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n <= 0) {
            close(fd);
            return false;
        }
        done += (size_t)n;
    }
    close(fd);
    return true;
}

static bool append(const char *path, const char *text)
{
    return write_all(path, text, strlen(text), O_APPEND);
}

static bool replace(const char *path, const char *text)
{
    return write_all(path, text, strlen(text), O_TRUNC);
}

/* Appends the sshd lines for ports from..to (a logon each). */
static bool add(const char *path, unsigned int from, unsigned int to)
{
    char line[160];
    for (unsigned int i = from; i <= to; i++) {
        snprintf(line, sizeof(line),
                 "Nov 26 10:12:00 web1 sshd[77]: Accepted password for u%u from 192.0.2.1 port %u ssh2\n",
                 i, i);
        if (!append(path, line))
            return false;
    }
    return true;
}

static bool copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t n;
    bool ok = true;
    if (in < 0)
        return false;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return false;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        ok = ok && write(out, buf, (size_t)n) == n;
    close(in);
    close(out);
    return ok && n == 0;
}

/* Whether the ports collected are exactly `want`, in order. */
static bool got(const struct collected *c, const unsigned int *want, size_t n, char *why,
                size_t len)
{
    size_t i;
    if (c->n != n)
        goto differ;
    for (i = 0; i < n; i++)
        if (c->ports[i] != want[i])
            goto differ;
    return true;
differ: {
        int o = snprintf(why, len, "got [");
        for (i = 0; i < c->n && i < 40 && o > 0 && (size_t)o < len; i++)
            o += snprintf(why + o, len - (size_t)o, "%s%u", i ? "," : "", c->ports[i]);
        if (o > 0 && (size_t)o < len)
            o += snprintf(why + o, len - (size_t)o, "%s], want [", c->n > 40 ? ",..." : "");
        for (i = 0; i < n && i < 40 && o > 0 && (size_t)o < len; i++)
            o += snprintf(why + o, len - (size_t)o, "%s%u", i ? "," : "", want[i]);
        if (o > 0 && (size_t)o < len)
            snprintf(why + o, len - (size_t)o, "%s]", n > 40 ? ",..." : "");
    }
    return false;
}

/* Reads once and checks that exactly `want` arrived. */
#define READ_EXPECT(src, c, ...)                                                \
    do {                                                                        \
        static const unsigned int want_[] = { __VA_ARGS__ };                    \
        char why_[600];                                                         \
        int rc_;                                                                \
        collected_reset(c);                                                     \
        rc_ = logsource_read(src, collect, c);                                  \
        CHECK_MSG(rc_ == 0, "logsource_read: %d (%s)", rc_, logsource_error(src)); \
        CHECK_MSG(got(c, want_, sizeof(want_) / sizeof(want_[0]), why_, sizeof(why_)), \
                  "%s", why_);                                                  \
    } while (0)

#define READ_NOTHING(src, c)                                                    \
    do {                                                                        \
        int rc_;                                                                \
        collected_reset(c);                                                     \
        rc_ = logsource_read(src, collect, c);                                  \
        CHECK_MSG(rc_ == 0, "logsource_read: %d (%s)", rc_, logsource_error(src)); \
        CHECK_MSG((c)->n == 0, "got %zu records, want none (first port %u)", (c)->n, \
                  (c)->ports[0]);                                               \
    } while (0)

static struct logsource *open_file_source(const struct paths *p, const char *state)
{
    char err[256] = "";
    struct logsource *src = NULL;
    int rc = logsource_open_file(p->log, state, NULL, &src, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "logsource_open_file: %d: %s\n", rc, err);
        return NULL;
    }
    return src;
}

/* ------------------------------------------------------------ cases */

/* The first open starts at the end: old lines are not reported. */
static void test_start_at_end(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src = NULL;
    struct logsource_stats st;

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(add(p.log, 1, 3));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK_STR(logsource_name(src), "authlog");
    CHECK_STR(logsource_path(src), p.log);
    CHECK_INT(logsource_kind(src), ==, LOGSOURCE_FILE);
    READ_NOTHING(src, c);
    CHECK(add(p.log, 4, 5));
    READ_EXPECT(src, c, 4, 5);
    READ_NOTHING(src, c);
    logsource_get_stats(src, &st);
    CHECK_INT(st.lines, ==, 2);
    CHECK_INT(st.records, ==, 2);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* A line without its newline waits; it is delivered once complete. */
static void test_partial_line(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    const char *line = "Nov 26 10:12:00 web1 sshd[77]: Accepted password for u7 from 192.0.2.1 port 7 ssh2\n";
    size_t half = strlen(line) / 2;
    char first[200];

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    src = open_file_source(&p, p.state);
    CHECK(src);
    memcpy(first, line, half);
    first[half] = '\0';
    CHECK(append(p.log, first));
    READ_NOTHING(src, c);
    memcpy(first, line + half, strlen(line) - half - 1);      /* all but "\n" */
    first[strlen(line) - half - 1] = '\0';
    CHECK(append(p.log, first));
    READ_NOTHING(src, c);
    CHECK(append(p.log, "\n"));
    READ_EXPECT(src, c, 7);
    /* a partial line at open time is not skipped either */
    logsource_free(src);
    CHECK(append(p.log, "Nov 26 10:12:00 web1 sshd[77]: Accepted password for u8 from 192.0.2.1 port 8"));
    unlink(p.state);
    src = open_file_source(&p, p.state);
    CHECK(src);
    READ_NOTHING(src, c);
    CHECK(append(p.log, " ssh2\n"));
    READ_EXPECT(src, c, 8);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* Rotation by rename: the logger keeps writing to the renamed file until
 * it reopens; nothing written there is lost, nothing is read twice. */
static void test_rename_rotation(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    struct logsource_stats st;

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(add(p.log, 100, 100));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK(add(p.log, 1, 1));
    READ_EXPECT(src, c, 1);

    CHECK(add(p.log, 2, 2));                 /* not read before the rename */
    CHECK(rename(p.log, p.old) == 0);
    CHECK(add(p.old, 3, 3));                 /* logger still on the old file */
    READ_EXPECT(src, c, 2, 3);               /* no file at the path yet */

    CHECK(add(p.log, 4, 4));                 /* the new file appears... */
    CHECK(add(p.old, 5, 5));                 /* ...while the old one still grows */
    READ_EXPECT(src, c, 5, 4);               /* old finished first */

    CHECK(add(p.old, 6, 6));                 /* a late write to the old file */
    CHECK(add(p.log, 7, 8));
    READ_EXPECT(src, c, 6, 7, 8);
    READ_NOTHING(src, c);

    logsource_get_stats(src, &st);
    CHECK_INT(st.rotations, ==, 1);
    CHECK_INT(st.records, ==, 8);
    CHECK(logsource_timeout_ms(src) >= 0 && logsource_timeout_ms(src) <= 1000);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* Two rotations in a row (auth.log -> .1 while .1 -> .2). */
static void test_double_rotation(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    char old2[160];

    CHECK(c);
    CHECK(paths_make(&p));
    snprintf(old2, sizeof(old2), "%s/auth.log.2", p.dir);
    CHECK(add(p.log, 100, 100));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK(add(p.log, 1, 1));
    CHECK(rename(p.log, p.old) == 0);
    CHECK(add(p.log, 2, 2));
    READ_EXPECT(src, c, 1, 2);
    CHECK(add(p.log, 3, 3));
    CHECK(rename(p.old, old2) == 0);
    CHECK(rename(p.log, p.old) == 0);
    CHECK(add(p.log, 4, 4));
    CHECK(add(old2, 5, 5));                  /* the first old file, late */
    READ_EXPECT(src, c, 5, 3, 4);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* copytruncate: the lines written between our last read and the copy are
 * read from the copy, then the file from its start. */
static void test_copytruncate(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    struct logsource_stats st;

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK(add(p.log, 1, 2));
    READ_EXPECT(src, c, 1, 2);

    /* the file is smaller than our offset after the truncation */
    CHECK(add(p.log, 3, 3));
    CHECK(copy_file(p.log, p.old));
    CHECK(truncate(p.log, 0) == 0);
    CHECK(add(p.log, 4, 4));
    READ_EXPECT(src, c, 3, 4);

    /* the file grew past our offset again before we looked: the bytes
     * before the offset differ, which gives it away */
    CHECK(add(p.log, 5, 5));
    CHECK(copy_file(p.log, p.old));
    CHECK(truncate(p.log, 0) == 0);
    CHECK(add(p.log, 6, 40));
    READ_EXPECT(src, c, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40);

    /* no copy to be found (copied elsewhere): the file from its start */
    CHECK(unlink(p.old) == 0);
    CHECK(truncate(p.log, 0) == 0);
    CHECK(add(p.log, 41, 41));
    READ_EXPECT(src, c, 41);
    READ_NOTHING(src, c);

    logsource_get_stats(src, &st);
    CHECK_INT(st.truncations, ==, 3);
    CHECK_INT(st.rotations, ==, 0);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* A restarted source continues exactly where the last one stopped. */
static void test_restart(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    struct logsource_stats st;
    char tmp[160];

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(add(p.log, 100, 101));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK(add(p.log, 1, 2));
    READ_EXPECT(src, c, 1, 2);
    CHECK(add(p.log, 3, 4));                 /* written, not yet read */
    logsource_free(src);
    CHECK(add(p.log, 5, 5));                 /* written while stopped */

    /* the state was written atomically: no temporary file is left */
    snprintf(tmp, sizeof(tmp), "%s.tmp", p.state);
    CHECK(access(tmp, F_OK) != 0);
    CHECK(access(p.state, R_OK) == 0);

    src = open_file_source(&p, p.state);
    CHECK(src);
    READ_EXPECT(src, c, 3, 4, 5);
    logsource_free(src);

    /* rotated by rename while stopped, the old file still written to */
    CHECK(add(p.log, 6, 6));
    CHECK(rename(p.log, p.old) == 0);
    CHECK(add(p.old, 7, 7));
    CHECK(add(p.log, 8, 8));
    src = open_file_source(&p, p.state);
    CHECK(src);
    READ_EXPECT(src, c, 6, 7, 8);
    CHECK(add(p.old, 9, 9));                 /* still followed after the restart */
    READ_EXPECT(src, c, 9);
    logsource_free(src);

    /* copytruncate while stopped (with a dated copy, as dateext names it) */
    snprintf(tmp, sizeof(tmp), "%s/auth.log-20261126", p.dir);
    CHECK(add(p.log, 10, 10));
    CHECK(copy_file(p.log, tmp));
    CHECK(truncate(p.log, 0) == 0);
    CHECK(add(p.log, 11, 11));
    src = open_file_source(&p, p.state);
    CHECK(src);
    READ_EXPECT(src, c, 10, 11);
    logsource_get_stats(src, &st);
    CHECK_INT(st.gaps, ==, 0);
    logsource_free(src);

    /* restarted twice without reading: still nothing twice */
    src = open_file_source(&p, p.state);
    CHECK(src);
    logsource_free(src);
    src = open_file_source(&p, p.state);
    CHECK(src);
    READ_NOTHING(src, c);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* The old file vanished while stopped (compressed): what can be read is,
 * and the possible gap is counted and said. */
static void test_restart_old_gone(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    struct logsource_stats st;

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK(add(p.log, 1, 1));
    READ_EXPECT(src, c, 1);
    logsource_free(src);
    CHECK(add(p.log, 2, 2));
    CHECK(rename(p.log, p.old) == 0);
    CHECK(add(p.log, 3, 3));
    CHECK(unlink(p.old) == 0);
    src = open_file_source(&p, p.state);
    CHECK(src);
    logsource_get_stats(src, &st);
    CHECK_INT(st.gaps, ==, 1);
    CHECK(logsource_error(src)[0] != '\0');
    READ_EXPECT(src, c, 3);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* A state file that is damaged, or written for another file, is not
 * trusted: start at the end. */
static void test_bad_state(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    struct logsource_stats st;

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(add(p.log, 1, 2));
    CHECK(replace(p.state, "yamori-logsource 1\nkind file\npath /x\nfile 1 2 zz"));
    src = open_file_source(&p, p.state);
    CHECK(src);
    logsource_get_stats(src, &st);
    CHECK_INT(st.gaps, ==, 1);
    CHECK(logsource_error(src)[0] != '\0');
    READ_NOTHING(src, c);
    CHECK(add(p.log, 3, 3));
    READ_EXPECT(src, c, 3);
    logsource_free(src);

    CHECK(replace(p.state, "yamori-logsource 1\nkind file\npath /var/log/other\nfile 1 2 0 0 -\n"));
    CHECK(add(p.log, 4, 4));
    src = open_file_source(&p, p.state);
    CHECK(src);
    READ_NOTHING(src, c);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* A line longer than the limit is skipped and counted, whether it arrives
 * at once or in pieces; the lines around it are not lost. */
static void test_oversized(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    struct logsource_stats st;
    size_t big = LOGON_LINE_MAX + 3000;
    char *junk = malloc(big + 2);

    CHECK(c);
    CHECK(junk);
    memset(junk, 'x', big);
    junk[big] = '\n';
    junk[big + 1] = '\0';
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    src = open_file_source(&p, p.state);
    CHECK(src);

    CHECK(add(p.log, 1, 1));
    CHECK(append(p.log, junk));
    CHECK(add(p.log, 2, 2));
    READ_EXPECT(src, c, 1, 2);
    logsource_get_stats(src, &st);
    CHECK_INT(st.oversized, ==, 1);

    /* in pieces: the first piece alone is already too long */
    junk[big] = '\0';
    CHECK(append(p.log, junk));
    READ_NOTHING(src, c);
    logsource_get_stats(src, &st);
    CHECK_INT(st.oversized, ==, 2);
    CHECK(append(p.log, junk));
    READ_NOTHING(src, c);
    CHECK(append(p.log, "tail of the long line\n"));
    CHECK(add(p.log, 3, 3));
    READ_EXPECT(src, c, 3);
    logsource_get_stats(src, &st);
    CHECK_INT(st.oversized, ==, 2);

    /* a restart in the middle of an oversized line keeps skipping it */
    CHECK(append(p.log, junk));
    READ_NOTHING(src, c);
    logsource_free(src);
    CHECK(append(p.log, "Nov 26 10:12:00 web1 sshd[77]: Accepted password for u99 from 192.0.2.1 port 99 ssh2\n"));
    CHECK(add(p.log, 4, 4));
    src = open_file_source(&p, p.state);
    CHECK(src);
    READ_EXPECT(src, c, 4);
    logsource_free(src);
    paths_remove(&p);
    free(junk);
    free(c);
}

/* A callback that cannot take a record stops the read; that record comes
 * again next time, none is lost or doubled. */
static void test_backpressure(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    int rc;

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK(add(p.log, 1, 3));
    collected_reset(c);
    c->refuse_at = 1;
    rc = logsource_read(src, collect, c);
    CHECK_INT(rc, ==, -EAGAIN);
    CHECK_INT(c->n, ==, 1);
    CHECK_INT(c->ports[0], ==, 1);
    READ_EXPECT(src, c, 2, 3);
    /* also across a restart */
    CHECK(add(p.log, 4, 5));
    collected_reset(c);
    c->refuse_at = 0;
    CHECK_INT(logsource_read(src, collect, c), ==, -EAGAIN);
    logsource_free(src);
    src = open_file_source(&p, p.state);
    CHECK(src);
    READ_EXPECT(src, c, 4, 5);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* A backlog larger than one read's budget arrives over several reads, in
 * order and complete; meanwhile the timeout says there is more. */
static void test_backlog(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    const unsigned int total = 60000;
    size_t cap = (size_t)total * 100, used = 0;
    char *text = malloc(cap);
    unsigned int delivered = 0, reads = 0;
    bool saw_more = false;

    CHECK(c);
    CHECK(text);
    for (unsigned int i = 1; i <= total; i++)
        used += (size_t)snprintf(text + used, cap - used,
                                 "Nov 26 10:12:00 web1 sshd[77]: Accepted password for u%u from 192.0.2.1 port %u ssh2\n",
                                 i, i);
    CHECK(used > 5u << 20);         /* more than one read's budget */
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK(write_all(p.log, text, used, O_APPEND));
    collected_reset(c);
    for (reads = 0; reads < 100; reads++) {
        CHECK_INT(logsource_read(src, collect, c), ==, 0);
        if (logsource_timeout_ms(src) != 0)
            break;
        saw_more = true;
    }
    delivered = (unsigned int)c->n;
    CHECK(saw_more);
    CHECK_INT(delivered, ==, total);
    CHECK(!c->out_of_order);
    CHECK_INT(c->ports[0], ==, 1);
    CHECK_INT(c->last_port, ==, total);
    logsource_free(src);
    paths_remove(&p);
    free(text);
    free(c);
}

/* The whole fixture log through the file source: what is counted. */
static void test_counts(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    struct logsource_stats st;
    int rc;

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    src = open_file_source(&p, p.state);
    CHECK(src);
    CHECK_MSG(copy_file("tests/fixtures/logon/auth.log", p.log),
              "cannot copy tests/fixtures/logon/auth.log (run from the repository root)");
    CHECK(append(p.log, "Nov 26 10:12:00 web1 sshd[1]: Accepted password for root from 1.2.3.4 port 99999 ssh2\n"));
    collected_reset(c);
    rc = logsource_read(src, collect, c);
    CHECK_INT(rc, ==, 0);
    logsource_get_stats(src, &st);
    CHECK_INT(st.lines, ==, 34);
    CHECK_INT(st.records, ==, 15);
    CHECK_INT(c->n, ==, 15);
    CHECK_INT(st.ignored, ==, 18);
    CHECK_INT(st.unparsable, ==, 1);
    CHECK_INT(st.oversized, ==, 0);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* Opening a path whose file does not exist yet: it is read from its start
 * once it appears. Without a state path nothing is saved. */
static void test_file_appears(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;

    CHECK(c);
    CHECK(paths_make(&p));
    src = open_file_source(&p, NULL);
    CHECK(src);
    READ_NOTHING(src, c);
    CHECK(add(p.log, 1, 2));
    READ_EXPECT(src, c, 1, 2);
    CHECK_INT(logsource_save(src), ==, 0);
    CHECK(access(p.state, F_OK) != 0);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* The descriptor wakes the caller when the log grows. */
static void test_poll(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src;
    struct logsource_options o;
    struct pollfd pfd;
    char err[256] = "";
    int n;

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    /* every read that moves saves at once, so what wakes the descriptor
     * below does not depend on timing */
    logsource_options_init(&o);
    o.save_interval_ms = 0;
    CHECK_INT(logsource_open_file(p.log, p.state, &o, &src, err, sizeof(err)), ==, 0);
    READ_NOTHING(src, c);
    pfd.fd = logsource_fd(src);
    pfd.events = (short)logsource_events(src);
    CHECK_MSG(pfd.fd >= 0, "no descriptor: %s", logsource_error(src));
    CHECK(pfd.events & POLLIN);
    CHECK_INT(poll(&pfd, 1, 0), ==, 0);
    CHECK(logsource_timeout_ms(src) >= 0 && logsource_timeout_ms(src) <= 1000);
    CHECK(add(p.log, 1, 1));
    n = poll(&pfd, 1, 10000);     /* a bound for failure, not a timing */
    CHECK_INT(n, ==, 1);
    READ_EXPECT(src, c, 1);
    /* the read drains the descriptor (saving the state here, in the same
     * directory, wakes it once more; the next quiet read ends that) */
    READ_NOTHING(src, c);
    CHECK_INT(poll(&pfd, 1, 0), ==, 0);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

static void test_open_errors(void)
{
    struct logsource *src = NULL;
    struct logsource_options o;
    char err[256] = "";
    struct paths p;

    CHECK_INT(logsource_open_file("/nonexistent-yamori-dir/auth.log", NULL, NULL, &src, err,
                                  sizeof(err)), ==, -ENOENT);
    CHECK(src == NULL);
    CHECK(strstr(err, "/nonexistent-yamori-dir") != NULL);
    err[0] = '\0';
    CHECK_INT(logsource_open_file("", NULL, NULL, &src, err, sizeof(err)), ==, -EINVAL);
    CHECK(err[0] != '\0');

    CHECK(paths_make(&p));
    logsource_options_init(&o);
    o.line_max = 10;
    CHECK_INT(logsource_open_file(p.log, NULL, &o, &src, err, sizeof(err)), ==, -EINVAL);
    /* a state file that cannot be written is said at open */
    err[0] = '\0';
    CHECK_INT(logsource_open_file(p.log, "/nonexistent-yamori-dir/state", NULL, &src, err,
                                  sizeof(err)), <, 0);
    CHECK(src == NULL);
    CHECK(strstr(err, "/nonexistent-yamori-dir/state") != NULL);
    /* a directory at the path */
    CHECK(mkdir(p.log, 0700) == 0);
    CHECK_INT(logsource_open_file(p.log, NULL, NULL, &src, err, sizeof(err)), ==, -EINVAL);
    rmdir(p.log);
    paths_remove(&p);
    logsource_free(NULL);
}

/* The choice between journal and files, below a test root. */
static void test_choose(void)
{
    struct paths p;
    enum logsource_kind kind = 0;
    char path[256], f[256];

    CHECK(paths_make(&p));
    CHECK_INT(logsource_choose(p.dir, &kind, path, sizeof(path)), ==, -ENOENT);
    snprintf(f, sizeof(f), "%s/var", p.dir);
    CHECK(mkdir(f, 0700) == 0);
    snprintf(f, sizeof(f), "%s/var/log", p.dir);
    CHECK(mkdir(f, 0700) == 0);
    snprintf(f, sizeof(f), "%s/var/log/secure", p.dir);
    CHECK(append(f, ""));
    CHECK_INT(logsource_choose(p.dir, &kind, path, sizeof(path)), ==, 0);
    CHECK_INT(kind, ==, LOGSOURCE_FILE);
    CHECK_STR(path, f);
    snprintf(f, sizeof(f), "%s/var/log/auth.log", p.dir);
    CHECK(append(f, ""));
    CHECK_INT(logsource_choose(p.dir, &kind, path, sizeof(path)), ==, 0);
    CHECK_STR(path, f);
    CHECK_INT(logsource_choose(p.dir, &kind, path, 5), ==, -ENAMETOOLONG);
    snprintf(f, sizeof(f), "%s/run", p.dir);
    CHECK(mkdir(f, 0700) == 0);
    snprintf(f, sizeof(f), "%s/run/systemd", p.dir);
    CHECK(mkdir(f, 0700) == 0);
    snprintf(f, sizeof(f), "%s/run/systemd/journal", p.dir);
    CHECK(mkdir(f, 0700) == 0);
    snprintf(f, sizeof(f), "%s/run/systemd/journal/socket", p.dir);
    CHECK(append(f, ""));
    CHECK_INT(logsource_choose(p.dir, &kind, path, sizeof(path)), ==, 0);
    CHECK_INT(kind, ==, LOGSOURCE_JOURNAL);

    /* clean the nested tree */
    unlink(f);
    snprintf(f, sizeof(f), "%s/run/systemd/journal", p.dir);
    rmdir(f);
    snprintf(f, sizeof(f), "%s/run/systemd", p.dir);
    rmdir(f);
    snprintf(f, sizeof(f), "%s/run", p.dir);
    rmdir(f);
    snprintf(f, sizeof(f), "%s/var/log/secure", p.dir);
    unlink(f);
    snprintf(f, sizeof(f), "%s/var/log/auth.log", p.dir);
    unlink(f);
    snprintf(f, sizeof(f), "%s/var/log", p.dir);
    rmdir(f);
    snprintf(f, sizeof(f), "%s/var", p.dir);
    rmdir(f);
    paths_remove(&p);
}

/* Waits (poll on the source's descriptor, bounded) until a record for
 * c->want_account has arrived. */
static int journal_wait(struct logsource *src, struct collected *c)
{
    for (int round = 0; round < 100 && !c->want_seen; round++) {
        struct pollfd pfd = { logsource_fd(src), (short)logsource_events(src), 0 };
        int t = logsource_timeout_ms(src), rc;
        poll(&pfd, 1, t < 0 || t > 100 ? 100 : t);
        rc = logsource_read(src, collect, c);
        if (rc < 0)
            return rc;
    }
    return c->want_seen ? 0 : -ETIMEDOUT;
}

/* The journal source, where journald runs: a record written to the journal
 * arrives once, also across a restart. The entry is marked as a test: an
 * unknown account on TEST-NET-1 (RFC 5737). */
static void test_journal(void)
{
    struct paths p;
    struct collected *c;
    struct logsource *src = NULL;
    char err[256] = "", account[64], msg[160];
    struct logsource_stats st;
    int rc;

    if (access("/run/systemd/journal/socket", F_OK) != 0)
        SKIP("journald is not running here (no /run/systemd/journal/socket); the journal "
             "source can only be tested against a real journal");
    if (!check_is_root())
        SKIP("reading the system journal needs root (or the systemd-journal group)");
    c = calloc(1, sizeof(*c));
    CHECK(c);
    CHECK(paths_make(&p));
    rc = logsource_open_journal(p.state, NULL, &src, err, sizeof(err));
    CHECK_MSG(rc == 0, "logsource_open_journal: %d: %s", rc, err);
    CHECK_STR(logsource_name(src), "journal");
    CHECK(logsource_path(src) == NULL);
    CHECK(logsource_fd(src) >= 0);

    snprintf(account, sizeof(account), "yamori-test-%d-%ld", (int)getpid(), (long)time(NULL));
    snprintf(msg, sizeof(msg), "Invalid user %s from 192.0.2.1 port 9", account);
    collected_reset(c);
    c->want_account = account;
    CHECK(sd_journal_send("MESSAGE=%s", msg, "SYSLOG_IDENTIFIER=sshd", "PRIORITY=6", NULL) == 0);
    rc = journal_wait(src, c);
    CHECK_MSG(rc == 0, "the test entry did not arrive: %d (%s)", rc, logsource_error(src));
    CHECK_INT(c->want_seen, ==, 1);
    logsource_free(src);
    src = NULL;

    /* after a restart it is not delivered again; a new one is, once */
    rc = logsource_open_journal(p.state, NULL, &src, err, sizeof(err));
    CHECK_MSG(rc == 0, "logsource_open_journal: %d: %s", rc, err);
    collected_reset(c);
    c->want_account = account;
    CHECK_INT(logsource_read(src, collect, c), ==, 0);
    CHECK_INT(c->want_seen, ==, 0);
    CHECK(sd_journal_send("MESSAGE=%s", msg, "SYSLOG_IDENTIFIER=sshd", "PRIORITY=6", NULL) == 0);
    rc = journal_wait(src, c);
    CHECK_MSG(rc == 0, "the second test entry did not arrive: %d", rc);
    CHECK_INT(c->want_seen, ==, 1);
    logsource_get_stats(src, &st);
    CHECK_INT(st.gaps, ==, 0);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

/* OpenSSH's own log (sshd -E FILE) has no syslog header: with
 * bare_identifier the lines are read as sshd's messages. */
static void test_bare_identifier(void)
{
    struct paths p;
    struct collected *c = calloc(1, sizeof(*c));
    struct logsource *src = NULL;
    struct logsource_options o;
    char err[256] = "";

    CHECK(c);
    CHECK(paths_make(&p));
    CHECK(append(p.log, ""));
    logsource_options_init(&o);
    o.bare_identifier = "sshd";
    CHECK_INT(logsource_open_file(p.log, p.state, &o, &src, err, sizeof(err)), ==, 0);
    READ_NOTHING(src, c);
    /* as OpenSSH writes it: CR LF */
    CHECK(append(p.log, "Server listening on 0.0.0.0 port 22.\r\n"
                        "Failed password for invalid user admin from 203.0.113.10 port 1 ssh2\r\n"
                        "Accepted password for root from 203.0.113.10 port 2 ssh2\r\n"));
    READ_EXPECT(src, c, 1, 2);
    logsource_free(src);
    src = NULL;
    /* the same lines without the option are not syslog lines: nothing */
    CHECK(replace(p.log, ""));
    unlink(p.state);
    CHECK_INT(logsource_open_file(p.log, p.state, NULL, &src, err, sizeof(err)), ==, 0);
    CHECK(append(p.log, "Accepted password for root from 203.0.113.10 port 3 ssh2\n"));
    READ_NOTHING(src, c);
    logsource_free(src);
    paths_remove(&p);
    free(c);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        { "start_at_end", test_start_at_end },
        { "partial_line", test_partial_line },
        { "rename_rotation", test_rename_rotation },
        { "double_rotation", test_double_rotation },
        { "copytruncate", test_copytruncate },
        { "restart", test_restart },
        { "restart_old_gone", test_restart_old_gone },
        { "bad_state", test_bad_state },
        { "oversized", test_oversized },
        { "backpressure", test_backpressure },
        { "backlog", test_backlog },
        { "counts", test_counts },
        { "file_appears", test_file_appears },
        { "poll", test_poll },
        { "open_errors", test_open_errors },
        { "choose", test_choose },
        { "journal", test_journal },
        { "bare_identifier", test_bare_identifier },
        { NULL, NULL },
    };
    return check_main("logsource", cases, argc, argv);
}
