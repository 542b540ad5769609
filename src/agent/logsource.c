/*
 * logsource.c — see logsource.h for the behaviour.
 *
 * The file back end keeps one `struct followed` per open file: the file it
 * reads now (`cur`) and up to OLD_MAX files renamed away that it still
 * reads until their deadline (`old`, oldest first). A followed file's
 * position is the offset just past the last complete line consumed, plus
 * the TAIL_MAX bytes before it: those bytes tell a truncated-and-rewritten
 * file from the same file grown, and find the copy copytruncate left.
 * Reads go through pread() at the saved offset, so a partial last line is
 * simply read again next time and nothing is buffered between calls.
 *
 * The state file is a few text lines:
 *
 *     yamori-logsource 1
 *     kind file
 *     path /var/log/auth.log
 *     old <dev> <ino> <offset> <skipping> <tail-hex>    (0..OLD_MAX)
 *     file <dev> <ino> <offset> <skipping> <tail-hex>   (absent: no file yet)
 *
 * or `kind journal` and `cursor <cursor>`.
 */
#include "agent/logsource.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#define TAIL_MAX 64
#define OLD_MAX 4
#define READ_BUDGET (4u << 20)          /* bytes per file per read call */
#define JOURNAL_BUDGET 10000            /* entries per read call */
#define STATE_MAX 65536
#define FILE_TIMEOUT_MS 1000            /* safety net besides inotify */
#define DEFAULT_ROTATE_WAIT_MS 30000
#define DEFAULT_SAVE_INTERVAL_MS 1000
#define STATE_HEADER "yamori-logsource 1"

struct followed {
    int fd;                             /* -1: none */
    dev_t dev;
    ino_t ino;
    uint64_t off;                       /* consumed up to here */
    bool skipping;                      /* inside an oversized line */
    unsigned char tail[TAIL_MAX];       /* the bytes just before off */
    size_t tail_len;
    uint64_t deadline_ms;               /* old files: stop reading then */
};

struct logsource {
    enum logsource_kind kind;
    struct logsource_options opt;
    char *path;                         /* file: what we follow */
    char *dir;                          /* its directory */
    char *base;                         /* its name */
    char *state_path;                   /* NULL: no state */
    int inotify_fd;
    struct followed cur;
    struct followed old[OLD_MAX];
    size_t nold;
    char *buf;
    size_t bufsz;
    char *storage;
    size_t storage_len;
    sd_journal *journal;
    char *cursor;                       /* journal: last consumed entry */
    bool skip_cursor_entry;             /* after seek_cursor: the entry itself */
    bool more;                          /* a read stopped on its budget */
    bool dirty;                         /* position moved since the last save */
    uint64_t last_save_ms;
    struct logsource_stats stats;
    char err[512];
};

/* What a state file said. */
struct saved_file {
    unsigned long long dev, ino, off;
    bool skipping;
    unsigned char tail[TAIL_MAX];
    size_t tail_len;
};

struct saved_state {
    enum logsource_kind kind;
    char path[PATH_MAX];
    bool has_cur;
    struct saved_file cur;
    struct saved_file old[OLD_MAX];
    size_t nold;
    char cursor[1024];
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_err(struct logsource *src, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Records a sentence for logsource_error() and returns rc. */
static int set_err(struct logsource *src, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(src->err, sizeof(src->err), fmt, ap);
    va_end(ap);
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void logsource_options_init(struct logsource_options *o)
{
    memset(o, 0, sizeof(*o));
    o->line_max = LOGON_LINE_MAX;
    o->rotate_wait_ms = DEFAULT_ROTATE_WAIT_MS;
    o->save_interval_ms = DEFAULT_SAVE_INTERVAL_MS;
}

/* ------------------------------------------------------------ followed files */

static void followed_init(struct followed *f)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
}

static void followed_close(struct followed *f)
{
    if (f->fd >= 0)
        close(f->fd);
    followed_init(f);
}

/* Appends n consumed bytes to the remembered tail. */
static void tail_push(struct followed *f, const char *p, size_t n)
{
    size_t keep;
    if (n >= TAIL_MAX) {
        memcpy(f->tail, p + n - TAIL_MAX, TAIL_MAX);
        f->tail_len = TAIL_MAX;
        return;
    }
    keep = f->tail_len < TAIL_MAX - n ? f->tail_len : TAIL_MAX - n;
    memmove(f->tail, f->tail + f->tail_len - keep, keep);
    memcpy(f->tail + keep, p, n);
    f->tail_len = keep + n;
}

static void consume(struct logsource *src, struct followed *f, const char *p, size_t n)
{
    if (n == 0)
        return;
    f->off += n;
    tail_push(f, p, n);
    src->dirty = true;
}

/* Whether the bytes before f->off in `fd` are still the remembered tail. */
static bool tail_matches_fd(int fd, const struct followed *f)
{
    unsigned char b[TAIL_MAX];
    ssize_t n;

    if (f->tail_len == 0 || f->off < f->tail_len)
        return true;
    do {
        n = pread(fd, b, f->tail_len, (off_t)(f->off - f->tail_len));
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)f->tail_len && memcmp(b, f->tail, f->tail_len) == 0;
}

/* Opens a regular file for reading without blocking on FIFOs or devices. */
static int open_regular(int dirfd, const char *name, struct stat *st)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

/* Whether `name` is a rotated sibling of base: base + one of ".-_" + more,
 * not compressed. */
static bool is_sibling(const struct logsource *src, const char *name)
{
    static const char *const packed[] = { ".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z", NULL };
    size_t bl = strlen(src->base), nl = strlen(name);

    if (nl <= bl + 1 || strncmp(name, src->base, bl) != 0 || !strchr(".-_", name[bl]))
        return false;
    for (size_t i = 0; packed[i]; i++) {
        size_t pl = strlen(packed[i]);
        if (nl > pl && strcmp(name + nl - pl, packed[i]) == 0)
            return false;
    }
    return true;
}

/* Looks among the siblings of the followed file for one that matches:
 * mode 0 by (dev, ino); mode 1 by content (size >= want->off and the bytes
 * before want->off equal want's tail), newest first. Returns an open fd,
 * or -ENOENT. */
static int find_sibling(struct logsource *src, const struct followed *want, int by_content,
                        struct stat *out)
{
    DIR *d = opendir(src->dir);
    struct dirent *de;
    int best = -ENOENT;
    struct stat best_st;

    if (!d)
        return -errno;
    memset(&best_st, 0, sizeof(best_st));
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        int fd;
        bool ok;

        if (!is_sibling(src, de->d_name))
            continue;
        fd = open_regular(dirfd(d), de->d_name, &st);
        if (fd < 0)
            continue;
        if (!by_content)
            ok = st.st_dev == want->dev && st.st_ino == want->ino;
        else
            ok = !(st.st_dev == src->cur.dev && st.st_ino == src->cur.ino) &&
                 (uint64_t)st.st_size >= want->off && tail_matches_fd(fd, want);
        if (ok && (best < 0 || st.st_mtim.tv_sec > best_st.st_mtim.tv_sec ||
                   (st.st_mtim.tv_sec == best_st.st_mtim.tv_sec &&
                    st.st_mtim.tv_nsec > best_st.st_mtim.tv_nsec))) {
            if (best >= 0)
                close(best);
            best = fd;
            best_st = st;
        } else {
            close(fd);
        }
    }
    closedir(d);
    if (best >= 0 && out)
        *out = best_st;
    return best;
}

/* ------------------------------------------------------------ reading lines */

static void count_parse(struct logsource *src, int rc)
{
    if (rc == 0)
        src->stats.ignored++;
    else if (rc < 0)
        src->stats.unparsable++;
}

/* One complete line. 0 when consumed, else fn's negative value. */
static int deliver_line(struct logsource *src, const char *line, size_t len,
                        logsource_record_fn fn, void *ctx)
{
    struct logon_record rec;
    int rc;

    while (len > 0 && line[len - 1] == '\r')   /* OpenSSH's -E log ends lines with CR LF */
        len--;
    if (len > src->opt.line_max) {
        src->stats.oversized++;
    } else {
        if (src->opt.bare_identifier) {
            /* a program's own log: the message alone, no time, no pid */
            struct logon_journal_entry je = {
                .identifier = src->opt.bare_identifier,
                .identifier_len = strlen(src->opt.bare_identifier),
                .message = line,
                .message_len = len,
            };
            rc = logon_parse_journal(&je, &rec, src->storage, src->storage_len);
        } else {
            rc = logon_parse_line(line, len, &rec, src->storage, src->storage_len);
        }
        if (rc == 1) {
            int taken = fn ? fn(&rec, ctx) : 0;
            if (taken < 0)
                return taken;
            src->stats.records++;
        }
        count_parse(src, rc);
    }
    src->stats.lines++;
    return 0;
}

/* Reads the complete lines of f from its offset on. Stops at the end of
 * the file, at a partial last line, when fn refuses a record (returns its
 * value; that line is not consumed), or after READ_BUDGET bytes (sets
 * src->more). */
static int read_lines(struct logsource *src, struct followed *f, logsource_record_fn fn,
                      void *ctx)
{
    size_t budget = READ_BUDGET;

    for (;;) {
        ssize_t n = pread(f->fd, src->buf, src->bufsz, (off_t)f->off);
        size_t pos = 0, rest;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return set_err(src, -errno, "cannot read %s: %s", src->path, strerror(errno));
        }
        if (n == 0)
            return 0;
        while (pos < (size_t)n) {
            char *nl = memchr(src->buf + pos, '\n', (size_t)n - pos);
            size_t len;
            if (!nl)
                break;
            len = (size_t)(nl - (src->buf + pos));
            if (f->skipping) {
                f->skipping = false;        /* the end of an oversized line */
            } else {
                int rc = deliver_line(src, src->buf + pos, len, fn, ctx);
                if (rc < 0) {
                    consume(src, f, src->buf, pos);
                    return rc;
                }
            }
            pos += len + 1;
        }
        consume(src, f, src->buf, pos);
        rest = (size_t)n - pos;
        if (rest > 0 && (f->skipping || rest > src->opt.line_max)) {
            /* no newline within line_max bytes: drop up to the newline */
            if (!f->skipping) {
                f->skipping = true;
                src->stats.oversized++;
                src->stats.lines++;
            }
            consume(src, f, src->buf + pos, rest);
            rest = 0;
        }
        if (budget <= (size_t)n) {
            src->more = true;
            return 0;
        }
        budget -= (size_t)n;
        if (rest > 0 && (size_t)n < src->bufsz)
            return 0;                       /* a partial line waits */
    }
}

/* The current file was truncated or rewritten in place (copytruncate).
 * Reads what we had not read yet from the copy, then starts over at 0. */
static int handle_truncation(struct logsource *src, logsource_record_fn fn, void *ctx)
{
    struct followed *f = &src->cur;
    int rc = 0;

    if (f->off > 0 && f->tail_len > 0) {
        struct stat st;
        int fd = find_sibling(src, f, 1, &st);
        if (fd >= 0) {
            struct followed copy = *f;
            copy.fd = fd;
            copy.dev = st.st_dev;
            copy.ino = st.st_ino;
            rc = read_lines(src, &copy, fn, ctx);
            close(fd);
            /* Keep the copy's position: if this stopped early, the next
             * read sees the truncation again and finds the copy again by
             * the same tail. */
            f->off = copy.off;
            f->skipping = copy.skipping;
            memcpy(f->tail, copy.tail, sizeof(f->tail));
            f->tail_len = copy.tail_len;
            if (rc < 0 || src->more)
                return rc;
        }
    }
    src->stats.truncations++;
    f->off = 0;
    f->skipping = false;
    f->tail_len = 0;
    src->dirty = true;
    return 0;
}

/* Reads what is new in f. For the current file, checks for truncation
 * first; an old file that shrank is closed (f->fd becomes -1). */
static int follow(struct logsource *src, struct followed *f, logsource_record_fn fn, void *ctx)
{
    struct stat st;
    int rc;

    if (fstat(f->fd, &st) < 0)
        return set_err(src, -errno, "cannot stat %s: %s", src->path, strerror(errno));
    if ((uint64_t)st.st_size < f->off ||
        ((uint64_t)st.st_size > f->off && !tail_matches_fd(f->fd, f))) {
        if (f != &src->cur) {
            followed_close(f);
            src->dirty = true;
            return 0;
        }
        rc = handle_truncation(src, fn, ctx);
        if (rc < 0 || src->more)
            return rc;
    }
    return read_lines(src, f, fn, ctx);
}

static void drop_old(struct logsource *src, size_t i)
{
    followed_close(&src->old[i]);
    memmove(&src->old[i], &src->old[i + 1], (src->nold - i - 1) * sizeof(src->old[0]));
    src->nold--;
    followed_init(&src->old[src->nold]);
    src->dirty = true;
}

/* Moves f (already read to its end) to the old files, which are read
 * until its deadline. When the list is full the oldest is read one last
 * time and closed. */
static int retire(struct logsource *src, struct followed *f, logsource_record_fn fn, void *ctx)
{
    if (src->nold == OLD_MAX) {
        int rc = follow(src, &src->old[0], fn, ctx);
        if (rc < 0)
            return rc;
        drop_old(src, 0);
    }
    src->old[src->nold] = *f;
    src->old[src->nold].deadline_ms = now_ms() + src->opt.rotate_wait_ms;
    src->nold++;
    followed_init(f);
    src->dirty = true;
    return 0;
}

/* Looks at what the path names now: nothing (renamed, not yet recreated:
 * keep reading the current file), the current file, or a new file (a
 * rotation: finish the current one, retire it, read the new one from 0). */
static int check_path(struct logsource *src, logsource_record_fn fn, void *ctx)
{
    struct stat st;
    int fd, rc;

    if (stat(src->path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return set_err(src, -errno, "cannot stat %s: %s", src->path, strerror(errno));
    }
    if (src->cur.fd >= 0 && st.st_dev == src->cur.dev && st.st_ino == src->cur.ino)
        return 0;
    fd = open_regular(AT_FDCWD, src->path, &st);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return set_err(src, fd, "cannot open %s: %s", src->path,
                       fd == -EINVAL ? "not a regular file" : strerror(-fd));
    if (src->cur.fd >= 0) {
        rc = follow(src, &src->cur, fn, ctx);
        if (rc == 0 && !src->more && src->cur.fd >= 0)
            rc = retire(src, &src->cur, fn, ctx);
        if (rc < 0 || src->more) {
            close(fd);                      /* again on the next read */
            return rc;
        }
        src->stats.rotations++;
    }
    followed_init(&src->cur);
    src->cur.fd = fd;
    src->cur.dev = st.st_dev;
    src->cur.ino = st.st_ino;
    src->dirty = true;
    return 0;
}

static void drain_inotify(struct logsource *src)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    if (src->inotify_fd < 0)
        return;
    while (read(src->inotify_fd, buf, sizeof(buf)) > 0)
        ;
}

static int read_file_source(struct logsource *src, logsource_record_fn fn, void *ctx)
{
    uint64_t now = now_ms();
    int rc;

    drain_inotify(src);
    for (size_t i = 0; i < src->nold;) {
        struct followed *o = &src->old[i];
        rc = follow(src, o, fn, ctx);
        if (rc < 0)
            return rc;
        if (o->fd < 0 || (now >= o->deadline_ms && !src->more)) {
            drop_old(src, i);
            continue;
        }
        i++;
    }
    rc = check_path(src, fn, ctx);
    if (rc < 0 || src->more)
        return rc;
    if (src->cur.fd >= 0)
        return follow(src, &src->cur, fn, ctx);
    return 0;
}

/* ------------------------------------------------------------ state file */

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int put_followed(char *buf, size_t len, const char *tag, const struct followed *f)
{
    char hex[2 * TAIL_MAX + 1];
    hex_encode(f->tail, f->tail_len, hex);
    return snprintf(buf, len, "%s %llu %llu %llu %d %s\n", tag, (unsigned long long)f->dev,
                    (unsigned long long)f->ino, (unsigned long long)f->off, f->skipping ? 1 : 0,
                    f->tail_len ? hex : "-");
}

/* Writes data to path atomically: a temporary file beside it, fsync,
 * rename, fsync of the directory. */
static int write_atomic(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    const char *slash;
    size_t done = 0;
    int fd = -1, dfd = -1, rc = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        rc = -ENAMETOOLONG;
        errf(err, errlen, "state file path %s is too long", path);
        goto cleanup;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = -errno;
        errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            errf(err, errlen, "cannot write %s: %s", tmp, strerror(-rc));
            goto cleanup;
        }
        done += (size_t)n;
    }
    if (fsync(fd) < 0) {
        rc = -errno;
        errf(err, errlen, "cannot fsync %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = -errno;
        errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = -errno;
        errf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto cleanup;
    }
    slash = strrchr(path, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash == path ? 1 : slash - path) : 1,
             slash ? path : ".");
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);             /* best effort: the rename is done */
cleanup:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    } else if (rc < 0) {
        unlink(tmp);
    }
    if (dfd >= 0)
        close(dfd);
    return rc;
}

int logsource_save(struct logsource *src)
{
    char *text = NULL;
    size_t used = 0, cap = 4096 + (OLD_MAX + 1) * 256 + PATH_MAX;
    int n, rc = 0;

    if (!src || !src->state_path)
        return 0;
    text = malloc(cap);
    if (!text) {
        rc = -ENOMEM;
        goto cleanup;
    }
    n = snprintf(text, cap, "%s\nkind %s\n", STATE_HEADER,
                 src->kind == LOGSOURCE_JOURNAL ? "journal" : "file");
    used = (size_t)n;
    if (src->kind == LOGSOURCE_FILE) {
        used += (size_t)snprintf(text + used, cap - used, "path %s\n", src->path);
        for (size_t i = 0; i < src->nold; i++)
            used += (size_t)put_followed(text + used, cap - used, "old", &src->old[i]);
        if (src->cur.fd >= 0)
            used += (size_t)put_followed(text + used, cap - used, "file", &src->cur);
    } else if (src->cursor && !strchr(src->cursor, '\n') && strlen(src->cursor) < 1000) {
        used += (size_t)snprintf(text + used, cap - used, "cursor %s\n", src->cursor);
    }
    if (used >= cap) {
        rc = set_err(src, -EOVERFLOW, "state for %s does not fit", src->state_path);
        goto cleanup;
    }
    rc = write_atomic(src->state_path, text, used, src->err, sizeof(src->err));
    src->last_save_ms = now_ms();
    if (rc == 0)
        src->dirty = false;
cleanup:
    if (rc < 0)
        src->stats.state_errors++;
    free(text);
    return rc;
}

static bool parse_ull(const char **p, unsigned long long *v)
{
    char *end;
    if (**p < '0' || **p > '9')
        return false;
    errno = 0;
    *v = strtoull(*p, &end, 10);
    if (errno || end == *p)
        return false;
    *p = end;
    return true;
}

/* "<dev> <ino> <off> <0|1> <hex|->" */
static bool parse_saved_file(const char *p, struct saved_file *f)
{
    unsigned long long skip;
    size_t hl;

    memset(f, 0, sizeof(*f));
    if (!parse_ull(&p, &f->dev) || *p++ != ' ' || !parse_ull(&p, &f->ino) || *p++ != ' ' ||
        !parse_ull(&p, &f->off) || *p++ != ' ' || !parse_ull(&p, &skip) || skip > 1 ||
        *p++ != ' ')
        return false;
    f->skipping = skip == 1;
    if (strcmp(p, "-") == 0)
        return true;
    hl = strlen(p);
    if (hl == 0 || hl % 2 || hl > 2 * TAIL_MAX || hl / 2 > f->off)
        return false;
    for (size_t i = 0; i < hl / 2; i++) {
        int hi = hex_value(p[2 * i]), lo = hex_value(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        f->tail[i] = (unsigned char)(hi << 4 | lo);
    }
    f->tail_len = hl / 2;
    return true;
}

/* Reads the state file into *ss. 1 when read, 0 when there is none,
 * -errno when it is unreadable or malformed (src->err says how). */
static int state_load(struct logsource *src, struct saved_state *ss)
{
    char *text = NULL, *line, *next;
    ssize_t n;
    size_t len = 0;
    int fd = -1, rc = 1;
    bool header = false;

    memset(ss, 0, sizeof(*ss));
    if (!src->state_path)
        return 0;
    fd = open(src->state_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            rc = 0;
            goto cleanup;
        }
        rc = set_err(src, -errno, "cannot open state file %s: %s", src->state_path,
                     strerror(errno));
        goto cleanup;
    }
    text = malloc(STATE_MAX + 1);
    if (!text) {
        rc = -ENOMEM;
        goto cleanup;
    }
    while (len < STATE_MAX && (n = read(fd, text + len, STATE_MAX - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = set_err(src, -errno, "cannot read state file %s: %s", src->state_path,
                         strerror(errno));
            goto cleanup;
        }
        len += (size_t)n;
    }
    text[len] = '\0';
    for (line = text; line && *line; line = next) {
        next = strchr(line, '\n');
        if (!next) {
            rc = -EBADMSG;          /* a cut file */
            break;
        }
        *next++ = '\0';
        if (!header) {
            header = strcmp(line, STATE_HEADER) == 0;
            if (!header) {
                rc = -EBADMSG;
                break;
            }
        } else if (strcmp(line, "kind file") == 0) {
            ss->kind = LOGSOURCE_FILE;
        } else if (strcmp(line, "kind journal") == 0) {
            ss->kind = LOGSOURCE_JOURNAL;
        } else if (strncmp(line, "path ", 5) == 0) {
            if (strlen(line + 5) >= sizeof(ss->path)) {
                rc = -EBADMSG;
                break;
            }
            strcpy(ss->path, line + 5);
        } else if (strncmp(line, "file ", 5) == 0) {
            if (ss->has_cur || !parse_saved_file(line + 5, &ss->cur)) {
                rc = -EBADMSG;
                break;
            }
            ss->has_cur = true;
        } else if (strncmp(line, "old ", 4) == 0) {
            if (ss->nold == OLD_MAX || !parse_saved_file(line + 4, &ss->old[ss->nold])) {
                rc = -EBADMSG;
                break;
            }
            ss->nold++;
        } else if (strncmp(line, "cursor ", 7) == 0) {
            if (strlen(line + 7) >= sizeof(ss->cursor)) {
                rc = -EBADMSG;
                break;
            }
            strcpy(ss->cursor, line + 7);
        } else {
            rc = -EBADMSG;
            break;
        }
    }
    if (rc == 1 && (!header || ss->kind == 0 || len >= STATE_MAX))
        rc = -EBADMSG;
    if (rc == -EBADMSG)
        set_err(src, rc, "state file %s is malformed; starting at the end of the log",
                src->state_path);
cleanup:
    if (fd >= 0)
        close(fd);
    free(text);
    if (rc < 0)
        memset(ss, 0, sizeof(*ss));
    return rc;
}

/* ------------------------------------------------------------ opening files */

static int src_new(enum logsource_kind kind, const char *state_path,
                   const struct logsource_options *opt, struct logsource **out, char *err,
                   size_t errlen)
{
    struct logsource *src = calloc(1, sizeof(*src));
    int rc = 0;

    *out = NULL;
    if (!src) {
        errf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    src->kind = kind;
    src->inotify_fd = -1;
    followed_init(&src->cur);
    for (size_t i = 0; i < OLD_MAX; i++)
        followed_init(&src->old[i]);
    logsource_options_init(&src->opt);
    if (opt) {
        if (opt->line_max < 256 || opt->line_max > LOGON_LINE_MAX) {
            rc = -EINVAL;
            errf(err, errlen, "line_max %zu is outside 256..%d", opt->line_max, LOGON_LINE_MAX);
            goto cleanup;
        }
        src->opt = *opt;
    }
    if (state_path && (!*state_path || strchr(state_path, '\n') ||
                       strlen(state_path) + 5 >= PATH_MAX)) {
        rc = -EINVAL;
        errf(err, errlen, "state file path is empty, too long or holds a newline");
        goto cleanup;
    }
    src->bufsz = 2 * (src->opt.line_max + 1) > 65536 ? 2 * (src->opt.line_max + 1) : 65536;
    src->buf = malloc(src->bufsz);
    src->storage_len = LOGON_STORAGE_SIZE(src->opt.line_max + 128);
    src->storage = malloc(src->storage_len);
    src->state_path = state_path ? strdup(state_path) : NULL;
    if (!src->buf || !src->storage || (state_path && !src->state_path)) {
        rc = -ENOMEM;
        errf(err, errlen, "out of memory");
        goto cleanup;
    }
    *out = src;
    src = NULL;
cleanup:
    if (src) {
        free(src->buf);
        free(src->storage);
        free(src->state_path);
        free(src);
    }
    return rc;
}

/* Releases everything without saving. */
static void src_destroy(struct logsource *src)
{
    if (!src)
        return;
    followed_close(&src->cur);
    for (size_t i = 0; i < src->nold; i++)
        followed_close(&src->old[i]);
    if (src->inotify_fd >= 0)
        close(src->inotify_fd);
    if (src->journal)
        sd_journal_close(src->journal);
    free(src->cursor);
    free(src->path);
    free(src->dir);
    free(src->base);
    free(src->state_path);
    free(src->buf);
    free(src->storage);
    free(src);
}

/* Adds an old file at a saved position, found among the siblings by inode.
 * A file that is gone counts as a gap. */
static void resume_old(struct logsource *src, const struct saved_file *sf)
{
    struct followed want;
    struct stat st;
    int fd;

    followed_init(&want);
    want.dev = (dev_t)sf->dev;
    want.ino = (ino_t)sf->ino;
    fd = find_sibling(src, &want, 0, &st);
    if (fd < 0 || src->nold == OLD_MAX) {
        if (fd >= 0)
            close(fd);
        src->stats.gaps++;
        set_err(src, 0, "the rotated file %s was read up to offset %llu before the restart "
                "and is gone (compressed or deleted); lines written to it after that may "
                "be missing", src->path, sf->off);
        return;
    }
    want.fd = fd;
    want.off = sf->off;
    want.skipping = sf->skipping;
    memcpy(want.tail, sf->tail, sizeof(want.tail));
    want.tail_len = sf->tail_len;
    want.deadline_ms = now_ms() + src->opt.rotate_wait_ms;
    src->old[src->nold++] = want;
}

/* With a saved position for this path: continue where it stopped. */
static int resume_file(struct logsource *src, const struct saved_state *ss)
{
    struct stat st;
    int fd = open_regular(AT_FDCWD, src->path, &st);

    if (fd < 0 && fd != -ENOENT)
        return set_err(src, fd, "cannot open %s: %s", src->path,
                       fd == -EINVAL ? "not a regular file" : strerror(-fd));
    for (size_t i = 0; i < ss->nold; i++)
        resume_old(src, &ss->old[i]);
    if (ss->has_cur) {
        if (fd >= 0 && (unsigned long long)st.st_dev == ss->cur.dev &&
            (unsigned long long)st.st_ino == ss->cur.ino) {
            src->cur.fd = fd;
            src->cur.dev = st.st_dev;
            src->cur.ino = st.st_ino;
            src->cur.off = ss->cur.off;
            src->cur.skipping = ss->cur.skipping;
            memcpy(src->cur.tail, ss->cur.tail, sizeof(src->cur.tail));
            src->cur.tail_len = ss->cur.tail_len;
            return 0;   /* truncation while stopped shows at the first read */
        }
        /* rotated while the agent was stopped */
        resume_old(src, &ss->cur);
        src->stats.rotations++;
    }
    if (fd >= 0) {
        /* a file that is new since the saved position: all of it is new */
        src->cur.fd = fd;
        src->cur.dev = st.st_dev;
        src->cur.ino = st.st_ino;
    }
    src->dirty = true;
    return 0;
}

/* Without a saved position: start after the last complete line. */
static int start_at_end(struct logsource *src)
{
    struct stat st;
    int fd = open_regular(AT_FDCWD, src->path, &st);
    uint64_t size, from;
    size_t chunk;
    ssize_t n;
    char *nl;

    if (fd == -ENOENT)
        return 0;           /* read from its start once it exists */
    if (fd < 0)
        return set_err(src, fd, "cannot open %s: %s", src->path,
                       fd == -EINVAL ? "not a regular file" : strerror(-fd));
    src->cur.fd = fd;
    src->cur.dev = st.st_dev;
    src->cur.ino = st.st_ino;
    size = (uint64_t)st.st_size;
    chunk = size < src->opt.line_max + 1 ? (size_t)size : src->opt.line_max + 1;
    from = size - chunk;
    do {
        n = pread(fd, src->buf, chunk, (off_t)from);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return set_err(src, -errno, "cannot read %s: %s", src->path, strerror(errno));
    chunk = (size_t)n;
    nl = NULL;
    for (size_t i = chunk; i-- > 0;) {
        if (src->buf[i] == '\n') {
            nl = src->buf + i;
            break;
        }
    }
    if (nl) {
        size_t upto = (size_t)(nl - src->buf) + 1;
        src->cur.off = from + upto;
        tail_push(&src->cur, src->buf, upto);
    } else if (from + chunk > src->opt.line_max) {
        src->cur.off = from + chunk;        /* inside an oversized line */
        src->cur.skipping = true;
        tail_push(&src->cur, src->buf, chunk);
    }
    src->dirty = true;
    return 0;
}

int logsource_open_file(const char *path, const char *state_path,
                        const struct logsource_options *opt, struct logsource **out,
                        char *err, size_t errlen)
{
    struct logsource *src = NULL;
    struct saved_state *ss = NULL;
    const char *slash;
    struct stat st;
    int rc;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!path || !*path || strchr(path, '\n') || strlen(path) >= PATH_MAX - 32) {
        errf(err, errlen, "log file path is empty, too long or holds a newline");
        return -EINVAL;
    }
    rc = src_new(LOGSOURCE_FILE, state_path, opt, &src, err, errlen);
    if (rc < 0)
        return rc;
    slash = strrchr(path, '/');
    src->path = strdup(path);
    src->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    src->base = strdup(slash ? slash + 1 : path);
    ss = malloc(sizeof(*ss));
    if (!src->path || !src->dir || !src->base || !ss) {
        rc = -ENOMEM;
        errf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (!*src->base) {
        rc = -EINVAL;
        errf(err, errlen, "log file path %s names a directory", path);
        goto cleanup;
    }
    if (stat(src->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        rc = -ENOENT;
        errf(err, errlen, "directory %s of the log file does not exist", src->dir);
        goto cleanup;
    }
    src->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (src->inotify_fd >= 0 &&
        inotify_add_watch(src->inotify_fd, src->dir,
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                              IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
        set_err(src, 0, "cannot watch %s (%s); polling every %d ms instead", src->dir,
                strerror(errno), FILE_TIMEOUT_MS);
        close(src->inotify_fd);
        src->inotify_fd = -1;
    }

    rc = state_load(src, ss);
    if (rc < 0 && rc != -ENOMEM) {
        src->stats.gaps++;          /* cannot know where we were */
        rc = 0;
    }
    if (rc < 0) {
        errf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (rc == 1 && ss->kind == LOGSOURCE_FILE && strcmp(ss->path, path) == 0)
        rc = resume_file(src, ss);
    else
        rc = start_at_end(src);
    if (rc < 0) {
        errf(err, errlen, "%s", src->err);
        goto cleanup;
    }
    rc = logsource_save(src);
    if (rc < 0) {
        errf(err, errlen, "%s", src->err);
        goto cleanup;
    }
    *out = src;
    src = NULL;
cleanup:
    free(ss);
    src_destroy(src);
    return rc;
}

/* ------------------------------------------------------------ journal */

/* The value of FIELD=value data, checked. */
static bool journal_field(sd_journal *j, const char *field, const char **val, size_t *len)
{
    const void *data;
    size_t l, fl = strlen(field);

    if (sd_journal_get_data(j, field, &data, &l) < 0 || l <= fl ||
        memcmp(data, field, fl) != 0 || ((const char *)data)[fl] != '=')
        return false;
    *val = (const char *)data + fl + 1;
    *len = l - fl - 1;
    return true;
}

static int read_journal_source(struct logsource *src, logsource_record_fn fn, void *ctx)
{
    sd_journal *j = src->journal;
    int r;

    r = sd_journal_process(j);
    if (r < 0)
        return set_err(src, r, "cannot process journal changes: %s", strerror(-r));
    for (unsigned int done = 0;; done++) {
        struct logon_journal_entry e;
        struct logon_record rec;
        char *cursor = NULL;

        if (done == JOURNAL_BUDGET) {
            src->more = true;
            return 0;
        }
        r = sd_journal_next(j);
        if (r < 0)
            return set_err(src, r, "cannot read the journal: %s", strerror(-r));
        if (r == 0)
            return 0;
        if (src->skip_cursor_entry) {
            src->skip_cursor_entry = false;
            if (src->cursor && sd_journal_test_cursor(j, src->cursor) > 0)
                continue;       /* the entry the saved cursor names: done already */
        }
        memset(&e, 0, sizeof(e));
        journal_field(j, "MESSAGE", &e.message, &e.message_len);
        journal_field(j, "SYSLOG_IDENTIFIER", &e.identifier, &e.identifier_len);
        if (!journal_field(j, "_PID", &e.pid, &e.pid_len))
            journal_field(j, "SYSLOG_PID", &e.pid, &e.pid_len);
        if (sd_journal_get_realtime_usec(j, &e.realtime_us) < 0)
            e.realtime_us = 0;
        if (e.message && e.message_len > src->opt.line_max) {
            src->stats.oversized++;
        } else {
            r = logon_parse_journal(&e, &rec, src->storage, src->storage_len);
            if (r == 1) {
                int taken = fn ? fn(&rec, ctx) : 0;
                if (taken < 0) {
                    sd_journal_previous(j);     /* deliver it again next time */
                    return taken;
                }
                src->stats.records++;
            }
            count_parse(src, r);
        }
        src->stats.lines++;
        if (sd_journal_get_cursor(j, &cursor) >= 0) {
            free(src->cursor);
            src->cursor = cursor;
            src->dirty = true;
        }
    }
}

int logsource_open_journal(const char *state_path, const struct logsource_options *opt,
                           struct logsource **out, char *err, size_t errlen)
{
    struct logsource *src = NULL;
    struct saved_state *ss = NULL;
    int rc;

    if (!out)
        return -EINVAL;
    *out = NULL;
    rc = src_new(LOGSOURCE_JOURNAL, state_path, opt, &src, err, errlen);
    if (rc < 0)
        return rc;
    ss = malloc(sizeof(*ss));
    if (!ss) {
        rc = -ENOMEM;
        errf(err, errlen, "out of memory");
        goto cleanup;
    }
    rc = sd_journal_open(&src->journal, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
    if (rc < 0) {
        src->journal = NULL;
        errf(err, errlen, "cannot open the system journal: %s", strerror(-rc));
        goto cleanup;
    }
    for (size_t i = 0; logon_identifiers[i]; i++) {
        char match[96];
        snprintf(match, sizeof(match), "SYSLOG_IDENTIFIER=%s", logon_identifiers[i]);
        rc = sd_journal_add_match(src->journal, match, 0);
        if (rc < 0) {
            errf(err, errlen, "cannot add journal match %s: %s", match, strerror(-rc));
            goto cleanup;
        }
    }
    sd_journal_set_data_threshold(src->journal, src->opt.line_max + 32);

    rc = state_load(src, ss);
    if (rc == -ENOMEM) {
        errf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (rc < 0)
        src->stats.gaps++;
    if (rc == 1 && ss->kind == LOGSOURCE_JOURNAL && ss->cursor[0]) {
        rc = sd_journal_seek_cursor(src->journal, ss->cursor);
        if (rc >= 0) {
            src->cursor = strdup(ss->cursor);
            if (!src->cursor) {
                rc = -ENOMEM;
                errf(err, errlen, "out of memory");
                goto cleanup;
            }
            src->skip_cursor_entry = true;
        } else {
            src->stats.gaps++;
            set_err(src, 0, "saved journal cursor is not valid (%s); starting at the end",
                    strerror(-rc));
        }
    }
    if (!src->cursor) {
        char *cursor = NULL;
        rc = sd_journal_seek_tail(src->journal);
        if (rc < 0) {
            errf(err, errlen, "cannot seek to the end of the journal: %s", strerror(-rc));
            goto cleanup;
        }
        /* stand on the last entry, so that next() returns only new ones */
        if (sd_journal_previous(src->journal) > 0 &&
            sd_journal_get_cursor(src->journal, &cursor) >= 0)
            src->cursor = cursor;
    }
    rc = sd_journal_get_fd(src->journal);
    if (rc < 0) {
        errf(err, errlen, "cannot get the journal's descriptor: %s", strerror(-rc));
        goto cleanup;
    }
    src->dirty = true;
    rc = logsource_save(src);
    if (rc < 0) {
        errf(err, errlen, "%s", src->err);
        goto cleanup;
    }
    *out = src;
    src = NULL;
cleanup:
    free(ss);
    src_destroy(src);
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------ choosing */

static const char *const log_files[] = { "/var/log/auth.log", "/var/log/secure", NULL };

int logsource_choose(const char *root, enum logsource_kind *kind, char *path, size_t pathlen)
{
    char p[PATH_MAX];
    struct stat st;
    const char *r = root ? root : "";

    if ((size_t)snprintf(p, sizeof(p), "%s/run/systemd/journal/socket", r) < sizeof(p) &&
        lstat(p, &st) == 0) {
        *kind = LOGSOURCE_JOURNAL;
        if (path && pathlen)
            path[0] = '\0';
        return 0;
    }
    for (size_t i = 0; log_files[i]; i++) {
        int n = snprintf(p, sizeof(p), "%s%s", r, log_files[i]);
        if (n < 0 || (size_t)n >= sizeof(p) || stat(p, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (!path || (size_t)n >= pathlen)
            return -ENAMETOOLONG;
        memcpy(path, p, (size_t)n + 1);
        *kind = LOGSOURCE_FILE;
        return 0;
    }
    return -ENOENT;
}

int logsource_auto(const char *state_path, const struct logsource_options *opt,
                   struct logsource **out, char *err, size_t errlen)
{
    enum logsource_kind kind = LOGSOURCE_FILE;
    char path[PATH_MAX], jerr[256];
    struct stat st;
    int rc;

    if (!out)
        return -EINVAL;
    *out = NULL;
    rc = logsource_choose(NULL, &kind, path, sizeof(path));
    if (rc == -ENOENT) {
        errf(err, errlen, "no logon log: journald is not running (no "
             "/run/systemd/journal/socket) and neither /var/log/auth.log nor "
             "/var/log/secure exists");
        return rc;
    }
    if (rc < 0) {
        errf(err, errlen, "cannot choose a logon log: %s", strerror(-rc));
        return rc;
    }
    if (kind == LOGSOURCE_FILE)
        return logsource_open_file(path, state_path, opt, out, err, errlen);
    rc = logsource_open_journal(state_path, opt, out, jerr, sizeof(jerr));
    if (rc == 0)
        return 0;
    for (size_t i = 0; log_files[i]; i++) {
        if (stat(log_files[i], &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (logsource_open_file(log_files[i], state_path, opt, out, err, errlen) == 0) {
            set_err(*out, 0, "journald runs but its journal cannot be opened (%s); "
                    "following %s instead", jerr, log_files[i]);
            return 0;
        }
    }
    errf(err, errlen, "%s", jerr);
    return rc;
}

/* ------------------------------------------------------------ the rest */

int logsource_read(struct logsource *src, logsource_record_fn fn, void *ctx)
{
    int rc;

    if (!src)
        return -EINVAL;
    src->more = false;
    if (src->kind == LOGSOURCE_JOURNAL)
        rc = read_journal_source(src, fn, ctx);
    else
        rc = read_file_source(src, fn, ctx);
    if (src->dirty && src->state_path &&
        now_ms() - src->last_save_ms >= src->opt.save_interval_ms)
        logsource_save(src);    /* a failure is counted and described */
    return rc;
}

/* Milliseconds until a deferred save is due; -1 when none is pending. */
static int save_due_ms(const struct logsource *src)
{
    uint64_t now = now_ms(), due;
    if (!src->dirty || !src->state_path)
        return -1;
    due = src->last_save_ms + src->opt.save_interval_ms;
    return due <= now ? 0 : (int)(due - now);
}

/* The smaller of two timeouts where -1 means none. */
static int min_timeout(int a, int b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int logsource_fd(const struct logsource *src)
{
    if (!src)
        return -1;
    if (src->kind == LOGSOURCE_JOURNAL) {
        int fd = sd_journal_get_fd(src->journal);
        return fd < 0 ? -1 : fd;
    }
    return src->inotify_fd;
}

int logsource_events(const struct logsource *src)
{
    if (src && src->kind == LOGSOURCE_JOURNAL) {
        int ev = sd_journal_get_events(src->journal);
        return ev < 0 ? POLLIN : ev;
    }
    return POLLIN;
}

int logsource_timeout_ms(const struct logsource *src)
{
    int t = FILE_TIMEOUT_MS;

    if (!src)
        return -1;
    if (src->more)
        return 0;
    if (src->kind == LOGSOURCE_JOURNAL) {
        uint64_t due, now;
        struct timespec ts;
        t = -1;
        if (sd_journal_get_timeout(src->journal, &due) >= 0 && due != UINT64_MAX) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
            if (due <= now)
                t = 0;
            else if ((due - now) / 1000u + 1 > INT_MAX)
                t = INT_MAX;
            else
                t = (int)((due - now) / 1000u + 1);
        }
    } else if (src->nold > 0) {
        uint64_t now = now_ms(), first = src->old[0].deadline_ms;
        for (size_t i = 1; i < src->nold; i++)
            if (src->old[i].deadline_ms < first)
                first = src->old[i].deadline_ms;
        if (first <= now)
            t = 0;
        else if (first - now < FILE_TIMEOUT_MS)
            t = (int)(first - now);
    }
    return min_timeout(t, save_due_ms(src));
}

enum logsource_kind logsource_kind(const struct logsource *src)
{
    return src->kind;
}

const char *logsource_name(const struct logsource *src)
{
    return src->kind == LOGSOURCE_JOURNAL ? "journal" : "authlog";
}

const char *logsource_path(const struct logsource *src)
{
    return src->kind == LOGSOURCE_FILE ? src->path : NULL;
}

void logsource_get_stats(const struct logsource *src, struct logsource_stats *out)
{
    *out = src->stats;
}

const char *logsource_error(const struct logsource *src)
{
    return src->err;
}

void logsource_free(struct logsource *src)
{
    if (!src)
        return;
    if (src->dirty)
        logsource_save(src);
    src_destroy(src);
}
