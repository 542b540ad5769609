/*
 * spool.c — the durable event queue (see spool.h; format and rules in
 * docs/agent.md, "Spool").
 *
 * On disk: <dir>/NNNNNNNNNNNNNNNNNNNN.seg segment files (the 20-digit name
 * is the first sequence number assigned when the segment was created),
 * <dir>/acked (the acknowledged sequence number, replaced atomically) and
 * <dir>/rejected/ (records the server refused). A segment is a 32-byte
 * header followed by records:
 *
 *   header:  "YMS1" | u32 flags | u64 first seq | u64 created (UTC ns) |
 *            u32 reserved (0) | u32 CRC-32 of the 28 bytes before it
 *   record:  u32 length L | u32 CRC-32 of (seq, event) | u64 seq | L bytes
 *            of the encoded event, whose Seq field is seq
 *
 * All integers are little-endian; CRC-32 is zlib's crc32 (IEEE 802.3).
 *
 * The writer (the agent's loop) buffers appends and writes them each turn
 * of the loop; the uploader's thread makes them durable (spool_sync dups
 * the descriptor and runs fdatasync without holding the lock, so the
 * sensor never waits for the disk) and only then reads them. Rolling to a
 * new segment syncs the old one first. Everything that rewrites or deletes
 * segments (acknowledgement, quota, repair) runs on the reader's thread
 * and never touches the segment being written.
 */
#include "agent/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/log.h"
#include "common/tlv.h"

#define SEG_MAGIC "YMS1"
#define SEG_F_THINNED 1u       /* rewritten without its low-value events */
#define SEG_NAME_LEN 24        /* 20 digits + ".seg" */
#define READ_WINDOW (256u * 1024)
#define REWRITE_BUFFER (256u * 1024)
#define MAX_REJECTED 100
#define STATE_FILE "acked"
#define SYNC_EAGER_BYTES (1u << 20)

struct seg {
    uint64_t name;                       /* first seq assigned when created: the file name */
    uint64_t first_seq, last_seq;        /* of its records (0 when none) */
    uint64_t bytes;                      /* file size, header included */
    uint64_t records;
    uint64_t acked_records, acked_bytes; /* records <= the acknowledged seq, and their bytes */
    uint64_t created_ns, last_ns;        /* UTC: creation, last append */
    uint32_t flags;
    bool repair;                         /* recovery: rewrite around corrupt records */
};

/* Where the reader stopped: the next read continues here when it asks for
 * the records after cur.seq. */
struct cursor {
    bool valid;
    uint64_t seg, off, seq;
    uint64_t records; /* records of the segment up to and including seq */
};

/* Reads records of one segment file through a window. */
struct scan {
    int fd;
    uint64_t limit, off;
    uint8_t *win;
    uint64_t win_off;
    size_t win_len;
    uint8_t *big;
    size_t big_cap;
};

struct rec {
    uint64_t seq, off;
    const uint8_t *data;
    size_t len;
};

struct spool {
    struct spool_options opt;
    char *dir;
    int dirfd;
    pthread_mutex_t lock;
    pthread_cond_t cond;

    /* under lock: segments oldest first; the last is the one written */
    struct seg *segs;
    size_t nsegs, capsegs;
    uint64_t next_seq, acked_seq;
    uint64_t written_off, written_seq;   /* of the current segment */
    uint64_t synced_seq, synced_off, synced_name;
    uint64_t last_sync_ns;               /* CLOCK_MONOTONIC */
    bool roll_requested, wrote, woken;
    struct spool_loss lost;
    struct spool_loss seen[SPOOL_CONSUMER_MAX];
    uint64_t appended, recovered;
    int write_error;

    /* writer thread only */
    int cur_fd;
    uint8_t *buf;
    size_t buf_len, buf_cap;
    uint64_t buf_records, buf_first, buf_last;

    /* reader thread only */
    struct cursor cur;
    int read_fd;
    uint64_t read_name;
    uint8_t *read_win;
};

/* ------------------------------------------------------------ small helpers */

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t crc(const void *p, size_t n)
{
    return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, n);
}

static void seg_file(uint64_t name, char out[SEG_NAME_LEN + 8])
{
    snprintf(out, SEG_NAME_LEN + 8, "%020" PRIu64 ".seg", name);
}

/* Writes all of buf at the file offset. */
static int write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads up to n bytes at off; returns the count (short at end of file) or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

const char *spool_loss_reason_name(enum spool_loss_reason r)
{
    static const char *const names[SPOOL_LOSS_MAX] = {"sensor", "spool-quota", "spool-corrupt", "rejected",
                                                      "spool-error"};
    return r < SPOOL_LOSS_MAX ? names[r] : "unknown";
}

const char *spool_loss_key(enum spool_loss_reason r)
{
    static const char *const keys[SPOOL_LOSS_MAX] = {"sensor", "spool_quota", "spool_corrupt", "rejected",
                                                     "spool_error"};
    return r < SPOOL_LOSS_MAX ? keys[r] : "unknown";
}

/* ------------------------------------------------------------ segment headers */

static void header_encode(uint8_t h[SPOOL_SEGMENT_HEADER], uint64_t name, uint64_t created, uint32_t flags)
{
    memcpy(h, SEG_MAGIC, 4);
    put32(h + 4, flags);
    put64(h + 8, name);
    put64(h + 16, created);
    put32(h + 24, 0);
    put32(h + 28, crc(h, 28));
}

static bool header_decode(const uint8_t h[SPOOL_SEGMENT_HEADER], uint64_t name, uint64_t *created,
                          uint32_t *flags)
{
    if (memcmp(h, SEG_MAGIC, 4) != 0 || get32(h + 28) != crc(h, 28) || get64(h + 8) != name)
        return false;
    *flags = get32(h + 4);
    *created = get64(h + 16);
    return true;
}

/* ------------------------------------------------------------ scanning */

static void scan_init(struct scan *sc, int fd, uint64_t off, uint64_t limit, uint8_t *win)
{
    memset(sc, 0, sizeof(*sc));
    sc->fd = fd;
    sc->off = off;
    sc->limit = limit;
    sc->win = win;
}

static void scan_fini(struct scan *sc)
{
    free(sc->big);
    sc->big = NULL;
}

/* The bytes [off, off + n) of the file (within limit), or NULL with *e set. */
static const uint8_t *scan_bytes(struct scan *sc, uint64_t off, size_t n, int *e)
{
    ssize_t r;

    if (off + n > sc->limit) {
        *e = -EBADMSG;
        return NULL;
    }
    if (off >= sc->win_off && off + n <= sc->win_off + sc->win_len)
        return sc->win + (off - sc->win_off);
    if (n > READ_WINDOW) {
        if (sc->big_cap < n) {
            uint8_t *nb = realloc(sc->big, n);
            if (!nb) {
                *e = -ENOMEM;
                return NULL;
            }
            sc->big = nb;
            sc->big_cap = n;
        }
        r = pread_full(sc->fd, sc->big, n, off);
        if (r < 0 || (size_t)r < n) {
            *e = r < 0 ? (int)r : -EBADMSG;
            return NULL;
        }
        return sc->big;
    }
    {
        uint64_t want = sc->limit - off < READ_WINDOW ? sc->limit - off : READ_WINDOW;
        r = pread_full(sc->fd, sc->win, (size_t)want, off);
    }
    if (r < 0) {
        *e = (int)r;
        sc->win_len = 0;
        return NULL;
    }
    sc->win_off = off;
    sc->win_len = (size_t)r;
    if ((size_t)r < n) {
        *e = -EBADMSG; /* the file is shorter than its size said */
        return NULL;
    }
    return sc->win;
}

/* The next record at sc->off: 1 with *out filled and sc->off advanced, 0
 * at the end, -EBADMSG at a record that is torn or corrupt (sc->off stays
 * on it), another -errno on I/O errors. Checks the length, the CRC, that
 * seq is above prev_seq and that the event's Seq field says the same. */
static int scan_next(struct scan *sc, uint64_t prev_seq, struct rec *out)
{
    const uint8_t *h, *p;
    uint64_t seq;
    uint32_t len;
    struct tlv_field f;
    int e = 0;

    if (sc->off >= sc->limit)
        return 0;
    if (sc->limit - sc->off < SPOOL_RECORD_HEADER)
        return -EBADMSG;
    h = scan_bytes(sc, sc->off, SPOOL_RECORD_HEADER, &e);
    if (!h)
        return e;
    len = get32(h);
    seq = get64(h + 8);
    if (len == 0 || len > TLV_MAX_RECORD || len > sc->limit - sc->off - SPOOL_RECORD_HEADER || seq <= prev_seq)
        return -EBADMSG;
    p = scan_bytes(sc, sc->off, SPOOL_RECORD_HEADER + (size_t)len, &e);
    if (!p)
        return e;
    if (crc(p + 8, 8 + (size_t)len) != get32(p + 4))
        return -EBADMSG;
    if (tlv_find(p + SPOOL_RECORD_HEADER, len, F_SEQ, &f) != 1 || f.wire != TLV_WIRE_VARINT || f.u != seq)
        return -EBADMSG;
    out->seq = seq;
    out->off = sc->off;
    out->data = p + SPOOL_RECORD_HEADER;
    out->len = len;
    sc->off += SPOOL_RECORD_HEADER + len;
    return 1;
}

/* After a bad record at sc->off: finds the next offset where a valid
 * record starts. Returns true with sc->off there and *seq its sequence
 * number, false (sc->off at the limit) when there is none. */
static bool scan_resync(struct scan *sc, uint64_t prev_seq, uint64_t *seq)
{
    uint64_t start = sc->off;
    struct rec r;

    for (uint64_t o = start + 1; o + SPOOL_RECORD_HEADER <= sc->limit; o++) {
        sc->off = o;
        if (scan_next(sc, prev_seq, &r) == 1) {
            sc->off = o;
            *seq = r.seq;
            return true;
        }
    }
    sc->off = sc->limit;
    return false;
}

/* ------------------------------------------------------------ segment list (under lock) */

static struct seg *seg_find(struct spool *s, uint64_t name)
{
    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i].name == name)
            return &s->segs[i];
    return NULL;
}

static int seg_push(struct spool *s, const struct seg *g)
{
    if (s->nsegs == s->capsegs) {
        size_t cap = s->capsegs ? s->capsegs * 2 : 16;
        struct seg *n = realloc(s->segs, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        s->segs = n;
        s->capsegs = cap;
    }
    s->segs[s->nsegs++] = *g;
    return 0;
}

static void seg_remove(struct spool *s, uint64_t name)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        if (s->segs[i].name == name) {
            memmove(&s->segs[i], &s->segs[i + 1], (s->nsegs - i - 1) * sizeof(s->segs[0]));
            s->nsegs--;
            return;
        }
    }
}

static void count_loss_locked(struct spool *s, enum spool_loss_reason r, unsigned type, uint64_t n)
{
    if (type >= YS_TYPE_MAX)
        type = 0;
    s->lost.n[r][type] += n;
}

void spool_count_loss(struct spool *s, enum spool_loss_reason r, unsigned type, uint64_t n)
{
    if (!s || r >= SPOOL_LOSS_MAX || !n)
        return;
    pthread_mutex_lock(&s->lock);
    count_loss_locked(s, r, type, n);
    pthread_mutex_unlock(&s->lock);
}

static void add_losses(struct spool *s, const struct spool_loss *l)
{
    pthread_mutex_lock(&s->lock);
    for (int r = 0; r < SPOOL_LOSS_MAX; r++)
        for (int t = 0; t < YS_TYPE_MAX; t++)
            s->lost.n[r][t] += l->n[r][t];
    pthread_mutex_unlock(&s->lock);
}

void spool_peek_loss(struct spool *s, enum spool_loss_consumer c, struct spool_loss *out)
{
    pthread_mutex_lock(&s->lock);
    for (int r = 0; r < SPOOL_LOSS_MAX; r++)
        for (int t = 0; t < YS_TYPE_MAX; t++)
            out->n[r][t] = s->lost.n[r][t] - s->seen[c].n[r][t];
    pthread_mutex_unlock(&s->lock);
}

void spool_commit_loss(struct spool *s, enum spool_loss_consumer c, const struct spool_loss *seen)
{
    pthread_mutex_lock(&s->lock);
    for (int r = 0; r < SPOOL_LOSS_MAX; r++)
        for (int t = 0; t < YS_TYPE_MAX; t++)
            s->seen[c].n[r][t] += seen->n[r][t];
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ the state file */

static int state_read(struct spool *s, uint64_t *acked, bool *exists, char *err, size_t errlen)
{
    char buf[64];
    int fd = openat(s->dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n;
    char *end;
    unsigned long long v;

    *acked = 0;
    *exists = false;
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s/%s: %s", s->dir, STATE_FILE, strerror(errno));
        return -errno;
    }
    n = pread_full(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    *exists = true;
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s/%s: %s", s->dir, STATE_FILE, strerror((int)-n));
        return (int)n;
    }
    buf[n] = '\0';
    if (strncmp(buf, "acked_seq=", 10) != 0 || buf[10] < '0' || buf[10] > '9')
        goto malformed;
    errno = 0;
    v = strtoull(buf + 10, &end, 10);
    if (errno || strcmp(end, "\n") != 0)
        goto malformed;
    *acked = v;
    return 0;
malformed:
    /* resending is safe (the server counts duplicates), so start over */
    log_warn("%s/%s is malformed; everything in the spool will be sent again", s->dir, STATE_FILE);
    return 0;
}

/* Replaces the state file atomically and durably (the rename is synced
 * before any acknowledged segment is deleted, so the sequence numbering
 * can always be recovered). */
static int state_write(struct spool *s, uint64_t acked)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "acked_seq=%" PRIu64 "\n", acked);
    int fd, e = 0;

    fd = openat(s->dirfd, STATE_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    e = write_all(fd, buf, (size_t)n);
    if (!e && fdatasync(fd) != 0)
        e = -errno;
    close(fd);
    if (!e && renameat(s->dirfd, STATE_FILE ".tmp", s->dirfd, STATE_FILE) != 0)
        e = -errno;
    if (!e && fsync(s->dirfd) != 0)
        e = -errno;
    if (e)
        unlinkat(s->dirfd, STATE_FILE ".tmp", 0);
    return e;
}

/* ------------------------------------------------------------ writer */

/* Creates segment `name` with its header, durably. */
static int seg_create(struct spool *s, uint64_t name, uint64_t created, int *fd_out)
{
    uint8_t h[SPOOL_SEGMENT_HEADER];
    char fn[SEG_NAME_LEN + 8];
    int fd, e;

    seg_file(name, fn);
    fd = openat(s->dirfd, fn, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    header_encode(h, name, created, 0);
    e = write_all(fd, h, sizeof(h));
    if (!e && fdatasync(fd) != 0)
        e = -errno;
    if (!e && fsync(s->dirfd) != 0)
        e = -errno;
    if (e) {
        close(fd);
        unlinkat(s->dirfd, fn, 0);
        return e;
    }
    *fd_out = fd;
    return 0;
}

/* Counts the records of a buffer that could not be written. */
static void count_buffer_loss(struct spool *s, const uint8_t *p, size_t n, enum spool_loss_reason why)
{
    size_t off = 0;

    pthread_mutex_lock(&s->lock);
    while (off + SPOOL_RECORD_HEADER <= n) {
        uint32_t len = get32(p + off);
        if (len > n - off - SPOOL_RECORD_HEADER)
            break;
        count_loss_locked(s, why, spool_record_type(p + off + SPOOL_RECORD_HEADER, len), 1);
        off += SPOOL_RECORD_HEADER + len;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Writes the buffer to the current segment. On failure the segment is cut
 * back to its last whole record and the buffered records are counted. */
static int flush_buffer(struct spool *s)
{
    int e;

    if (!s->buf_len)
        return 0;
    if (s->cur_fd < 0) {
        e = -EBADF;
    } else {
        e = write_all(s->cur_fd, s->buf, s->buf_len);
    }
    if (e) {
        uint64_t off;
        pthread_mutex_lock(&s->lock);
        off = s->written_off;
        s->write_error = e;
        pthread_mutex_unlock(&s->lock);
        if (s->cur_fd >= 0 && (ftruncate(s->cur_fd, (off_t)off) != 0 || lseek(s->cur_fd, (off_t)off, SEEK_SET) < 0)) {
            pthread_mutex_lock(&s->lock);
            s->roll_requested = true;
            pthread_mutex_unlock(&s->lock);
        }
        count_buffer_loss(s, s->buf, s->buf_len, SPOOL_LOSS_ERROR);
        log_warn("cannot write the spool segment in %s: %s; %" PRIu64 " events lost", s->dir, strerror(-e),
                 s->buf_records);
    } else {
        struct seg *g;
        pthread_mutex_lock(&s->lock);
        g = &s->segs[s->nsegs - 1];
        g->bytes += s->buf_len;
        if (!g->records)
            g->first_seq = s->buf_first;
        g->records += s->buf_records;
        g->last_seq = s->buf_last;
        g->last_ns = clock_ns(CLOCK_REALTIME);
        s->written_off += s->buf_len;
        s->written_seq = s->buf_last;
        s->write_error = 0;
        s->wrote = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    s->buf_len = 0;
    s->buf_records = 0;
    return e;
}

/* Closes the current segment (synced) and starts a new one named by the
 * next sequence number. A current segment that holds no record is kept
 * (its name is that number already). The buffer must have been written. */
static int roll(struct spool *s)
{
    uint64_t name, now = clock_ns(CLOCK_REALTIME);
    struct seg g = {0};
    int fd = -1, e;

    pthread_mutex_lock(&s->lock);
    if (s->cur_fd >= 0 && !s->segs[s->nsegs - 1].records) {
        s->roll_requested = false;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (s->cur_fd >= 0 && fdatasync(s->cur_fd) != 0) {
        e = -errno;
        log_warn("cannot sync the spool segment in %s: %s", s->dir, strerror(errno));
        pthread_mutex_lock(&s->lock);
        s->write_error = e;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_lock(&s->lock);
    if (s->cur_fd >= 0)
        close(s->cur_fd); /* under the lock: spool_sync dups it */
    s->cur_fd = -1;
    if (s->written_seq > s->synced_seq)
        s->synced_seq = s->written_seq;
    name = s->next_seq;
    pthread_mutex_unlock(&s->lock);
    e = seg_create(s, name, now, &fd);
    pthread_mutex_lock(&s->lock);
    if (e) {
        s->write_error = e;
        s->roll_requested = true; /* try again at the next flush */
        pthread_mutex_unlock(&s->lock);
        log_warn("cannot create a spool segment in %s: %s", s->dir, strerror(-e));
        return e;
    }
    g.name = name;
    g.bytes = SPOOL_SEGMENT_HEADER;
    g.created_ns = g.last_ns = now;
    e = seg_push(s, &g);
    if (e) {
        pthread_mutex_unlock(&s->lock);
        close(fd);
        return e;
    }
    s->cur_fd = fd;
    s->written_off = SPOOL_SEGMENT_HEADER;
    s->synced_off = SPOOL_SEGMENT_HEADER;
    s->synced_name = name;
    s->roll_requested = false;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

uint64_t spool_next_seq(struct spool *s)
{
    uint64_t v;
    pthread_mutex_lock(&s->lock);
    v = s->next_seq;
    pthread_mutex_unlock(&s->lock);
    return v;
}

int spool_append(struct spool *s, uint64_t seq, const void *rec, size_t len)
{
    size_t need = SPOOL_RECORD_HEADER + len;
    bool full;
    uint8_t *p;
    int e = 0;

    if (len == 0 || len > TLV_MAX_RECORD)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    if (seq != s->next_seq) {
        pthread_mutex_unlock(&s->lock);
        return -EINVAL;
    }
    full = s->cur_fd < 0 || s->roll_requested ||
           (s->segs[s->nsegs - 1].records + s->buf_records > 0 &&
            s->written_off + s->buf_len + need > s->opt.segment_bytes);
    pthread_mutex_unlock(&s->lock);
    if (full) {
        /* before seq is taken: the new segment is named by it */
        flush_buffer(s);
        e = roll(s);
    }
    pthread_mutex_lock(&s->lock);
    s->next_seq++;
    s->appended++;
    pthread_mutex_unlock(&s->lock);
    if (e)
        goto lost;
    if (s->buf_len + need > s->buf_cap) {
        size_t cap = s->buf_cap ? s->buf_cap : 64 * 1024;
        while (cap < s->buf_len + need)
            cap *= 2;
        p = realloc(s->buf, cap);
        if (!p) {
            e = -ENOMEM;
            goto lost;
        }
        s->buf = p;
        s->buf_cap = cap;
    }
    p = s->buf + s->buf_len;
    put32(p, (uint32_t)len);
    put64(p + 8, seq);
    memcpy(p + SPOOL_RECORD_HEADER, rec, len);
    put32(p + 4, crc(p + 8, 8 + len));
    s->buf_len += need;
    if (!s->buf_records)
        s->buf_first = seq;
    s->buf_last = seq;
    s->buf_records++;
    if (s->buf_len >= s->opt.buffer_bytes)
        e = flush_buffer(s);
    return e;
lost:
    spool_count_loss(s, SPOOL_LOSS_ERROR, spool_record_type(rec, len), 1);
    return e;
}

int spool_flush(struct spool *s)
{
    int e = flush_buffer(s);
    bool need;
    uint64_t now = clock_ns(CLOCK_REALTIME);

    pthread_mutex_lock(&s->lock);
    need = s->cur_fd < 0 || s->roll_requested ||
           (s->segs[s->nsegs - 1].records > 0 &&
            now - s->segs[s->nsegs - 1].created_ns >= s->opt.segment_seconds * 1000000000ull);
    pthread_mutex_unlock(&s->lock);
    if (need) {
        int r = roll(s);
        if (!e)
            e = r;
    }
    return e;
}

int spool_sync(struct spool *s)
{
    uint64_t seq, off, name;
    int fd, e = 0;

    pthread_mutex_lock(&s->lock);
    if (s->written_seq <= s->synced_seq || s->cur_fd < 0) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    fd = fcntl(s->cur_fd, F_DUPFD_CLOEXEC, 0);
    seq = s->written_seq;
    off = s->written_off;
    name = s->segs[s->nsegs - 1].name;
    pthread_mutex_unlock(&s->lock);
    if (fd < 0)
        return -errno;
    if (fdatasync(fd) != 0)
        e = -errno;
    close(fd);
    pthread_mutex_lock(&s->lock);
    if (!e) {
        if (seq > s->synced_seq)
            s->synced_seq = seq;
        if (s->synced_name == name && off > s->synced_off)
            s->synced_off = off;
        s->last_sync_ns = clock_ns(CLOCK_MONOTONIC);
    } else {
        s->write_error = e;
    }
    pthread_mutex_unlock(&s->lock);
    if (e)
        log_warn("cannot sync the spool in %s: %s", s->dir, strerror(-e));
    return e;
}

int spool_sync_due(struct spool *s, unsigned min_interval_ms)
{
    bool due;

    pthread_mutex_lock(&s->lock);
    due = s->written_seq > s->synced_seq &&
          (clock_ns(CLOCK_MONOTONIC) - s->last_sync_ns >= (uint64_t)min_interval_ms * 1000000ull ||
           (s->synced_name == s->segs[s->nsegs - 1].name && s->written_off - s->synced_off >= SYNC_EAGER_BYTES));
    pthread_mutex_unlock(&s->lock);
    return due ? spool_sync(s) : 0;
}

bool spool_unsynced(struct spool *s)
{
    bool r;
    pthread_mutex_lock(&s->lock);
    r = s->written_seq > s->synced_seq;
    pthread_mutex_unlock(&s->lock);
    return r;
}

bool spool_wait(struct spool *s, int timeout_ms)
{
    struct timespec ts;
    bool r;

    pthread_mutex_lock(&s->lock);
    if (!s->wrote && !s->woken && timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    s->wrote = false;
    s->woken = false;
    r = s->written_seq > s->synced_seq;
    pthread_mutex_unlock(&s->lock);
    return r;
}

void spool_wake(struct spool *s)
{
    pthread_mutex_lock(&s->lock);
    s->woken = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ reader-side file work */

static void reader_close(struct spool *s)
{
    if (s->read_fd >= 0)
        close(s->read_fd);
    s->read_fd = -1;
    s->read_name = 0;
}

/* Forgets the reader's position in segment name (rewritten or deleted). */
static void reader_forget(struct spool *s, uint64_t name)
{
    if (s->read_fd >= 0 && s->read_name == name)
        reader_close(s);
    if (s->cur.valid && s->cur.seg == name)
        s->cur.valid = false;
}

static int reader_open(struct spool *s, uint64_t name)
{
    char fn[SEG_NAME_LEN + 8];

    if (s->read_fd >= 0 && s->read_name == name)
        return 0;
    reader_close(s);
    seg_file(name, fn);
    s->read_fd = openat(s->dirfd, fn, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (s->read_fd < 0)
        return -errno;
    s->read_name = name;
    return 0;
}

enum rewrite_mode { REWRITE_REPAIR, REWRITE_THIN };

/* Rewrites closed segment `name` keeping the records above the acked seq
 * (THIN: and not low-value), skipping corrupt ones. Losses are counted
 * once the new file is in place. Returns the pending records dropped, or
 * -errno (the old file then stays as it was). */
static int64_t seg_rewrite(struct spool *s, uint64_t name, enum rewrite_mode mode)
{
    char fn[SEG_NAME_LEN + 8], tmp[SEG_NAME_LEN + 16];
    uint8_t h[SPOOL_SEGMENT_HEADER];
    struct spool_loss *lost = calloc(1, sizeof(*lost));
    uint8_t *out = malloc(REWRITE_BUFFER + SPOOL_RECORD_HEADER + TLV_MAX_RECORD);
    uint8_t *win = malloc(READ_WINDOW);
    struct scan sc;
    struct stat st;
    struct seg g = {.name = name};
    uint64_t acked, prev = 0, next_after;
    size_t out_len = 0;
    int in = -1, fd = -1;
    int64_t dropped = 0, e = 0;
    bool thinned_before = false;

    scan_init(&sc, -1, 0, 0, win);
    seg_file(name, fn);
    snprintf(tmp, sizeof(tmp), "%s.tmp", fn);
    if (!lost || !out || !win) {
        e = -ENOMEM;
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    acked = s->acked_seq;
    {
        struct seg *old = seg_find(s, name);
        g.created_ns = old ? old->created_ns : 0;
        g.last_ns = old ? old->last_ns : 0;
        thinned_before = old && (old->flags & SEG_F_THINNED);
        g.flags = old ? old->flags : 0;
        /* the first seq after this segment: bounds a corrupt tail's loss */
        next_after = s->next_seq;
        for (size_t i = 0; i < s->nsegs; i++)
            if (s->segs[i].name > name) {
                next_after = s->segs[i].records ? s->segs[i].first_seq : s->segs[i].name;
                break;
            }
    }
    pthread_mutex_unlock(&s->lock);
    in = openat(s->dirfd, fn, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0 || fstat(in, &st) != 0) {
        e = -errno;
        goto out;
    }
    if (st.st_size >= SPOOL_SEGMENT_HEADER && pread_full(in, h, sizeof(h), 0) == (ssize_t)sizeof(h)) {
        uint64_t created;
        uint32_t flags;
        if (header_decode(h, name, &created, &flags)) {
            g.created_ns = created;
            g.flags = flags;
        }
    }
    if (!g.created_ns)
        g.created_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    if (!g.last_ns)
        g.last_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    if (mode == REWRITE_THIN)
        g.flags |= SEG_F_THINNED;
    unlinkat(s->dirfd, tmp, 0);
    fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        e = -errno;
        goto out;
    }
    header_encode(out, name, g.created_ns, g.flags);
    out_len = SPOOL_SEGMENT_HEADER;
    g.bytes = SPOOL_SEGMENT_HEADER;
    scan_init(&sc, in, SPOOL_SEGMENT_HEADER, st.st_size > SPOOL_SEGMENT_HEADER ? (uint64_t)st.st_size : SPOOL_SEGMENT_HEADER, win);
    for (;;) {
        struct rec r;
        int k = scan_next(&sc, prev, &r);
        if (k == 0)
            break;
        if (k < 0 && k != -EBADMSG) {
            e = k;
            goto out;
        }
        if (k < 0) {
            /* corrupt: skip to the next valid record; what lay between is lost */
            uint64_t bad_off = sc.off, gap, found_seq = 0;
            bool found = scan_resync(&sc, prev, &found_seq);
            if (found)
                gap = found_seq > prev + 1 ? found_seq - prev - 1 : 1;
            else
                gap = next_after > prev + 1 ? next_after - prev - 1 : 1;
            if (thinned_before || gap > 1000000)
                gap = 1; /* gaps of a thinned segment were counted already */
            if (prev + gap > acked)
                lost->n[SPOOL_LOSS_CORRUPT][0] += gap;
            log_warn("spool segment %s/%s: corrupt records at offset %" PRIu64 " skipped", s->dir, fn, bad_off);
            if (!found)
                break;
            continue;
        }
        prev = r.seq;
        if (r.seq <= acked)
            continue;
        if (mode == REWRITE_THIN) {
            unsigned type;
            if (spool_low_value(r.data, r.len, &type)) {
                lost->n[SPOOL_LOSS_QUOTA][type]++;
                dropped++;
                continue;
            }
        }
        if (out_len + SPOOL_RECORD_HEADER + r.len > REWRITE_BUFFER) {
            e = write_all(fd, out, out_len);
            if (e)
                goto out;
            out_len = 0;
        }
        put32(out + out_len, (uint32_t)r.len);
        put64(out + out_len + 8, r.seq);
        memcpy(out + out_len + SPOOL_RECORD_HEADER, r.data, r.len);
        put32(out + out_len + 4, crc(out + out_len + 8, 8 + r.len));
        out_len += SPOOL_RECORD_HEADER + r.len;
        g.bytes += SPOOL_RECORD_HEADER + r.len;
        if (!g.records)
            g.first_seq = r.seq;
        g.last_seq = r.seq;
        g.records++;
    }
    e = write_all(fd, out, out_len);
    if (!e && fdatasync(fd) != 0)
        e = -errno;
    if (e)
        goto out;
    close(fd);
    fd = -1;
    if (renameat(s->dirfd, tmp, s->dirfd, fn) != 0) {
        e = -errno;
        goto out;
    }
    fsync(s->dirfd);
    reader_forget(s, name);
    pthread_mutex_lock(&s->lock);
    {
        struct seg *old = seg_find(s, name);
        if (old)
            *old = g;
    }
    pthread_mutex_unlock(&s->lock);
    add_losses(s, lost);
    e = dropped;
out:
    if (fd >= 0) {
        close(fd);
        unlinkat(s->dirfd, tmp, 0);
    }
    if (in >= 0)
        close(in);
    scan_fini(&sc);
    free(out);
    free(win);
    free(lost);
    return e;
}

/* Deletes closed segment `name`, counting its pending records by type as
 * lost for `why` (0 for none). Returns the records counted, or -errno. */
static int64_t seg_delete(struct spool *s, uint64_t name, bool count, enum spool_loss_reason why)
{
    char fn[SEG_NAME_LEN + 8];
    struct spool_loss *lost = NULL;
    int64_t n = 0;
    int e = 0;

    seg_file(name, fn);
    if (count) {
        uint8_t *win = malloc(READ_WINDOW);
        struct scan sc;
        uint64_t acked, prev = 0;
        int fd;
        struct stat st;

        lost = calloc(1, sizeof(*lost));
        if (!win || !lost) {
            free(win);
            free(lost);
            return -ENOMEM;
        }
        pthread_mutex_lock(&s->lock);
        acked = s->acked_seq;
        pthread_mutex_unlock(&s->lock);
        fd = openat(s->dirfd, fn, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0 && fstat(fd, &st) == 0) {
            struct rec r;
            scan_init(&sc, fd, SPOOL_SEGMENT_HEADER, (uint64_t)st.st_size, win);
            while (scan_next(&sc, prev, &r) == 1) {
                prev = r.seq;
                if (r.seq > acked) {
                    lost->n[why][spool_record_type(r.data, r.len)]++;
                    n++;
                }
            }
            scan_fini(&sc);
        }
        if (fd >= 0)
            close(fd);
        free(win);
    }
    if (unlinkat(s->dirfd, fn, 0) != 0 && errno != ENOENT) {
        e = -errno;
        free(lost);
        return e;
    }
    reader_forget(s, name);
    pthread_mutex_lock(&s->lock);
    seg_remove(s, name);
    pthread_mutex_unlock(&s->lock);
    if (lost)
        add_losses(s, lost);
    free(lost);
    return n;
}

/* Deletes closed segments holding nothing newer than the acked seq. */
static void delete_acked(struct spool *s)
{
    for (;;) {
        uint64_t victim = 0;
        bool found = false;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i + 1 < s->nsegs; i++) {
            if (!s->segs[i].records || s->segs[i].last_seq <= s->acked_seq) {
                victim = s->segs[i].name;
                found = true;
                break;
            }
        }
        pthread_mutex_unlock(&s->lock);
        if (!found || seg_delete(s, victim, false, SPOOL_LOSS_QUOTA) < 0)
            return;
    }
}

/* ------------------------------------------------------------ reading */

int spool_read(struct spool *s, uint64_t after, size_t max_records, size_t max_bytes, spool_record_fn fn,
               void *ctx)
{
    uint64_t name = 0, off = 0, limit, recs = 0, prev = 0;
    bool have = false, current;
    size_t taken = 0, bytes = 0;
    int repairs = 0, e = 0;

    if (!s->read_win && !(s->read_win = malloc(READ_WINDOW)))
        return -ENOMEM;
    for (;;) {
        struct scan sc;
        struct seg *g = NULL;
        bool next_segment = false, restart = false;

        pthread_mutex_lock(&s->lock);
        if (!have) {
            if (s->cur.valid && s->cur.seq == after && (g = seg_find(s, s->cur.seg))) {
                name = s->cur.seg;
                off = s->cur.off;
                recs = s->cur.records;
                prev = s->cur.seq;
            } else {
                for (size_t i = 0; i < s->nsegs; i++)
                    if (s->segs[i].records && s->segs[i].last_seq > after) {
                        g = &s->segs[i];
                        break;
                    }
                if (g) {
                    name = g->name;
                    off = SPOOL_SEGMENT_HEADER;
                    recs = 0;
                    prev = 0;
                }
            }
            have = g != NULL;
        } else {
            g = seg_find(s, name);
        }
        if (!g) {
            pthread_mutex_unlock(&s->lock);
            return (int)taken;
        }
        current = g == &s->segs[s->nsegs - 1];
        limit = current ? (s->synced_name == name ? s->synced_off : SPOOL_SEGMENT_HEADER) : g->bytes;
        pthread_mutex_unlock(&s->lock);

        e = reader_open(s, name);
        if (e)
            return taken ? (int)taken : e;
        scan_init(&sc, s->read_fd, off, limit, s->read_win);
        for (;;) {
            struct rec r;
            int k = scan_next(&sc, prev, &r);
            if (k == 0) {
                next_segment = !current;
                break;
            }
            if (k < 0) {
                scan_fini(&sc);
                if (k != -EBADMSG)
                    return taken ? (int)taken : k;
                if (current) {
                    /* the writer closes it; it is repaired when read again */
                    pthread_mutex_lock(&s->lock);
                    s->roll_requested = true;
                    pthread_mutex_unlock(&s->lock);
                    return (int)taken;
                }
                if (++repairs > 3 || seg_rewrite(s, name, REWRITE_REPAIR) < 0)
                    return taken ? (int)taken : -EIO;
                have = false;
                restart = true;
                break;
            }
            recs++;
            prev = r.seq;
            if (r.seq <= after)
                continue;
            if (taken >= max_records || (taken && bytes + r.len > max_bytes)) {
                scan_fini(&sc);
                return (int)taken;
            }
            e = fn(ctx, r.seq, r.data, r.len);
            if (e) {
                scan_fini(&sc);
                return e > 0 ? (int)taken : e;
            }
            taken++;
            bytes += r.len;
            after = r.seq;
            s->cur.valid = true;
            s->cur.seg = name;
            s->cur.off = sc.off;
            s->cur.seq = r.seq;
            s->cur.records = recs;
        }
        scan_fini(&sc);
        if (restart)
            continue;
        if (!next_segment)
            return (int)taken;
        /* on to the next segment */
        pthread_mutex_lock(&s->lock);
        g = NULL;
        for (size_t i = 0; i < s->nsegs; i++)
            if (s->segs[i].name > name) {
                g = &s->segs[i];
                break;
            }
        if (g) {
            name = g->name;
            off = SPOOL_SEGMENT_HEADER;
            recs = 0;
            prev = 0;
        }
        pthread_mutex_unlock(&s->lock);
        if (!g)
            return (int)taken;
    }
}

/* Counts records <= seq in segment name (for an acknowledgement that does
 * not end where the reader stopped). */
static void count_acked(struct spool *s, uint64_t name, uint64_t seq, uint64_t *records, uint64_t *bytes)
{
    char fn[SEG_NAME_LEN + 8];
    uint8_t *win = malloc(READ_WINDOW);
    struct scan sc;
    struct stat st;
    struct rec r;
    uint64_t prev = 0;
    int fd;

    *records = *bytes = 0;
    seg_file(name, fn);
    fd = openat(s->dirfd, fn, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (!win || fd < 0 || fstat(fd, &st) != 0)
        goto out;
    scan_init(&sc, fd, SPOOL_SEGMENT_HEADER, (uint64_t)st.st_size, win);
    while (scan_next(&sc, prev, &r) == 1 && r.seq <= seq) {
        prev = r.seq;
        (*records)++;
        *bytes = sc.off - SPOOL_SEGMENT_HEADER;
    }
    scan_fini(&sc);
out:
    if (fd >= 0)
        close(fd);
    free(win);
}

int spool_ack(struct spool *s, uint64_t seq)
{
    uint64_t partial = 0;
    int e;

    pthread_mutex_lock(&s->lock);
    if (seq <= s->acked_seq) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    if (seq >= s->next_seq) {
        pthread_mutex_unlock(&s->lock);
        return -EINVAL;
    }
    s->acked_seq = seq;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct seg *g = &s->segs[i];
        if (!g->records)
            continue;
        if (g->last_seq <= seq) {
            g->acked_records = g->records;
            g->acked_bytes = g->bytes - SPOOL_SEGMENT_HEADER;
        } else if (g->first_seq <= seq) {
            if (s->cur.valid && s->cur.seg == g->name && s->cur.seq == seq) {
                g->acked_records = s->cur.records;
                g->acked_bytes = s->cur.off - SPOOL_SEGMENT_HEADER;
            } else {
                partial = g->name;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (partial) {
        uint64_t r, b;
        count_acked(s, partial, seq, &r, &b);
        pthread_mutex_lock(&s->lock);
        {
            struct seg *g = seg_find(s, partial);
            if (g && s->acked_seq == seq) {
                g->acked_records = r;
                g->acked_bytes = b;
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    e = state_write(s, seq);
    if (e) {
        log_warn("cannot write %s/%s: %s", s->dir, STATE_FILE, strerror(-e));
        return e; /* keep the segments: the state on disk is older */
    }
    delete_acked(s);
    return 0;
}

int spool_reject(struct spool *s, uint64_t seq, const void *rec, size_t len, const char *why)
{
    char fn[64];
    int dfd, fd, n = 0;
    DIR *d;
    struct dirent *de;

    if (mkdirat(s->dirfd, "rejected", 0700) != 0 && errno != EEXIST)
        goto count;
    dfd = openat(s->dirfd, "rejected", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        goto count;
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        goto count;
    }
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".rec"))
            n++;
    if (n < MAX_REJECTED) {
        snprintf(fn, sizeof(fn), "%020" PRIu64 ".rec", seq);
        fd = openat(dirfd(d), fn, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            (void)!write_all(fd, rec, len);
            close(fd);
        }
        snprintf(fn, sizeof(fn), "%020" PRIu64 ".why", seq);
        fd = openat(dirfd(d), fn, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            (void)!write_all(fd, why ? why : "", why ? strlen(why) : 0);
            (void)!write_all(fd, "\n", 1);
            close(fd);
        }
    }
    closedir(d);
count:
    spool_count_loss(s, SPOOL_LOSS_REJECTED, spool_record_type(rec, len), 1);
    return spool_ack(s, seq);
}

/* The size the spool may have now: max_bytes, less what would leave the
 * file system with under min_free_bytes free. */
static uint64_t size_limit(struct spool *s)
{
    struct statvfs vfs;
    uint64_t total = 0, free_bytes, limit = s->opt.max_bytes;

    if (fstatvfs(s->dirfd, &vfs) != 0)
        return limit;
    free_bytes = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->nsegs; i++)
        total += s->segs[i].bytes;
    pthread_mutex_unlock(&s->lock);
    if (free_bytes < s->opt.min_free_bytes) {
        uint64_t short_by = s->opt.min_free_bytes - free_bytes;
        uint64_t room = total > short_by ? total - short_by : 0;
        if (room < limit)
            limit = room;
    }
    return limit;
}

int64_t spool_maintain(struct spool *s, uint64_t now_ns)
{
    int64_t dropped = 0, n;
    uint64_t max_age = s->opt.max_age_seconds * 1000000000ull, limit = size_limit(s);

    delete_acked(s);
    /* age: closed segments whose newest event is too old go whole */
    for (;;) {
        uint64_t victim = 0;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i + 1 < s->nsegs; i++)
            if (now_ns > s->segs[i].last_ns && now_ns - s->segs[i].last_ns > max_age) {
                victim = s->segs[i].name;
                break;
            }
        pthread_mutex_unlock(&s->lock);
        if (!victim)
            break;
        n = seg_delete(s, victim, true, SPOOL_LOSS_QUOTA);
        if (n < 0)
            return n;
        if (n)
            log_warn("spool: %" PRId64 " events older than %" PRIu64 " days dropped (age quota)", n,
                     s->opt.max_age_seconds / 86400);
        dropped += n;
    }
    /* size: thin the oldest segments, then drop them */
    for (;;) {
        uint64_t total = 0, thin = 0, victim = 0;
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->nsegs; i++)
            total += s->segs[i].bytes;
        if (total > limit) {
            for (size_t i = 0; i + 1 < s->nsegs; i++)
                if (!(s->segs[i].flags & SEG_F_THINNED)) {
                    thin = s->segs[i].name;
                    break;
                }
            if (!thin && s->nsegs > 1)
                victim = s->segs[0].name;
            if (!thin && !victim)
                s->roll_requested = true; /* only the current segment is left: close it */
        }
        pthread_mutex_unlock(&s->lock);
        if (thin) {
            n = seg_rewrite(s, thin, REWRITE_THIN);
            if (n < 0)
                return n;
            if (n)
                log_warn("spool over its size quota (%" PRIu64 " MiB%s): %" PRId64 " low-value events dropped",
                         limit >> 20, limit < s->opt.max_bytes ? ", the disk is nearly full" : "", n);
            dropped += n;
            pthread_mutex_lock(&s->lock);
            {
                struct seg *g = seg_find(s, thin);
                victim = g && !g->records ? thin : 0;
            }
            pthread_mutex_unlock(&s->lock);
            if (victim)
                seg_delete(s, victim, false, SPOOL_LOSS_QUOTA);
        } else if (victim) {
            n = seg_delete(s, victim, true, SPOOL_LOSS_QUOTA);
            if (n < 0)
                return n;
            if (n)
                log_warn("spool over its size quota (%" PRIu64 " MiB%s): %" PRId64 " events of the oldest segment "
                         "dropped",
                         limit >> 20, limit < s->opt.max_bytes ? ", the disk is nearly full" : "", n);
            dropped += n;
        } else {
            break;
        }
    }
    return dropped;
}

void spool_get_stats(struct spool *s, struct spool_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    out->next_seq = s->next_seq;
    out->acked_seq = s->acked_seq;
    out->synced_seq = s->synced_seq;
    out->segments = s->nsegs;
    out->appended = s->appended;
    out->recovered = s->recovered;
    out->write_error = s->write_error;
    for (size_t i = 0; i < s->nsegs; i++) {
        const struct seg *g = &s->segs[i];
        out->disk_bytes += g->bytes;
        out->pending_events += g->records - g->acked_records;
        out->pending_bytes += g->bytes - SPOOL_SEGMENT_HEADER - g->acked_bytes;
        if (!out->oldest_pending_ns && g->records > g->acked_records)
            out->oldest_pending_ns = g->created_ns;
    }
    for (int r = 0; r < SPOOL_LOSS_MAX; r++)
        for (int t = 0; t < YS_TYPE_MAX; t++)
            out->lost[r] += s->lost.n[r][t];
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ opening and recovery */

static int name_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether fn is "<20 digits>.seg"; *name is the number. */
static bool parse_seg_name(const char *fn, uint64_t *name)
{
    uint64_t v = 0;

    if (strlen(fn) != SEG_NAME_LEN || strcmp(fn + 20, ".seg") != 0)
        return false;
    for (int i = 0; i < 20; i++) {
        if (fn[i] < '0' || fn[i] > '9')
            return false;
        if (v > (UINT64_MAX - (uint64_t)(fn[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(fn[i] - '0');
    }
    *name = v;
    return v > 0;
}

/* Lists the segments (sorted) and removes temporary files of interrupted
 * rewrites. */
static int list_segments(struct spool *s, uint64_t **names, size_t *n, char *err, size_t errlen)
{
    int fd = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    uint64_t *v = NULL;
    size_t cap = 0;

    *names = NULL;
    *n = 0;
    if (!d) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "cannot list %s: %s", s->dir, strerror(errno));
        return -errno;
    }
    rewinddir(d);
    while ((de = readdir(d))) {
        uint64_t name;
        size_t l = strlen(de->d_name);
        if (l > 8 && strcmp(de->d_name + l - 8, ".seg.tmp") == 0) {
            unlinkat(s->dirfd, de->d_name, 0);
            continue;
        }
        if (!parse_seg_name(de->d_name, &name))
            continue;
        if (*n == cap) {
            uint64_t *nv;
            cap = cap ? cap * 2 : 64;
            nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
            }
            v = nv;
        }
        v[(*n)++] = name;
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof(*v), name_cmp);
    *names = v;
    return 0;
}

/* Recovers one segment into the list (or deletes it when it holds no
 * record). The newest segment is cut at its first bad record; an older
 * one is marked for repair. */
static int recover_segment(struct spool *s, uint64_t name, bool last, uint8_t *win)
{
    char fn[SEG_NAME_LEN + 8];
    uint8_t h[SPOOL_SEGMENT_HEADER];
    struct seg g = {.name = name};
    struct scan sc;
    struct stat st;
    struct rec r;
    uint64_t prev = 0, mtime;
    int fd, k, e = 0;
    bool header_ok;

    seg_file(name, fn);
    fd = openat(s->dirfd, fn, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0) {
        e = -errno;
        log_warn("cannot open the spool segment %s/%s: %s", s->dir, fn, strerror(errno));
        goto out;
    }
    mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    if (!S_ISREG(st.st_mode)) {
        log_warn("%s/%s is not a regular file; ignored", s->dir, fn);
        goto out;
    }
    if (st.st_size < SPOOL_SEGMENT_HEADER) {
        /* created but never given its header: it holds nothing */
        unlinkat(s->dirfd, fn, 0);
        goto out;
    }
    header_ok = pread_full(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
                header_decode(h, name, &g.created_ns, &g.flags);
    if (!header_ok) {
        log_warn("spool segment %s/%s: bad header; repairing it", s->dir, fn);
        g.created_ns = mtime;
        g.flags = 0;
        g.repair = true;
    }
    g.last_ns = mtime;
    g.bytes = (uint64_t)st.st_size;
    scan_init(&sc, fd, SPOOL_SEGMENT_HEADER, (uint64_t)st.st_size, win);
    while ((k = scan_next(&sc, prev, &r)) == 1) {
        prev = r.seq;
        if (!g.records)
            g.first_seq = r.seq;
        g.last_seq = r.seq;
        g.records++;
        if (r.seq <= s->acked_seq) {
            g.acked_records++;
            g.acked_bytes = sc.off - SPOOL_SEGMENT_HEADER;
        }
    }
    scan_fini(&sc);
    if (k < 0 && k != -EBADMSG) {
        e = k;
        log_warn("cannot read the spool segment %s/%s: %s", s->dir, fn, strerror(-k));
        goto out;
    }
    if (k == -EBADMSG) {
        if (last && header_ok) {
            uint64_t torn = (uint64_t)st.st_size - sc.off;
            log_warn("spool segment %s/%s: torn or corrupt tail of %" PRIu64 " bytes after seq %" PRIu64
                     " cut off",
                     s->dir, fn, torn, prev);
            count_loss_locked(s, SPOOL_LOSS_CORRUPT, 0, 1);
            if (ftruncate(fd, (off_t)sc.off) != 0) {
                e = -errno;
                goto out;
            }
            g.bytes = sc.off;
        } else {
            g.repair = true;
        }
    }
    if (fdatasync(fd) != 0) {
        e = -errno;
        goto out;
    }
    s->recovered += g.records;
    e = seg_push(s, &g);
out:
    if (fd >= 0)
        close(fd);
    return e;
}

int spool_open(struct spool **out, const struct spool_options *opt, char *err, size_t errlen)
{
    struct spool *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;
    uint64_t *names = NULL, last_assigned;
    size_t n = 0;
    uint8_t *win = NULL;
    struct stat st;
    bool state_exists = false;
    int e = 0;

    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->opt = *opt;
    if (!s->opt.max_bytes)
        s->opt.max_bytes = 1ull << 30;
    if (!s->opt.max_age_seconds)
        s->opt.max_age_seconds = 7 * 86400ull;
    if (!s->opt.segment_bytes)
        s->opt.segment_bytes = 4u << 20;
    if (s->opt.segment_bytes > s->opt.max_bytes / 4)
        s->opt.segment_bytes = s->opt.max_bytes / 4; /* the quota must leave room for closed segments */
    if (s->opt.segment_bytes < 4096)
        s->opt.segment_bytes = 4096;
    if (!s->opt.segment_seconds)
        s->opt.segment_seconds = 3600;
    if (!s->opt.buffer_bytes)
        s->opt.buffer_bytes = 256u << 10;
    if (!s->opt.min_free_bytes)
        s->opt.min_free_bytes = 64u << 20;
    s->dirfd = s->cur_fd = s->read_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->dir = strdup(opt->dir ? opt->dir : "");
    if (!s->dir || !opt->dir || !*opt->dir) {
        e = s->dir ? -EINVAL : -ENOMEM;
        snprintf(err, errlen, "no spool directory given");
        goto fail;
    }
    if (mkdir(s->dir, 0700) != 0 && errno != EEXIST) {
        e = -errno;
        snprintf(err, errlen, "cannot create the spool directory %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (s->dirfd < 0 || fstat(s->dirfd, &st) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot open the spool directory %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    if (st.st_uid != geteuid()) {
        e = -EPERM;
        snprintf(err, errlen, "the spool directory %s belongs to uid %u, not to the agent (uid %u)", s->dir,
                 (unsigned)st.st_uid, (unsigned)geteuid());
        goto fail;
    }
    if ((st.st_mode & 07777) != 0700 && fchmod(s->dirfd, 0700) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot make %s private (0700): %s", s->dir, strerror(errno));
        goto fail;
    }
    e = state_read(s, &s->acked_seq, &state_exists, err, errlen);
    if (e)
        goto fail;
    e = list_segments(s, &names, &n, err, errlen);
    if (e)
        goto fail;
    win = malloc(READ_WINDOW);
    if (!win) {
        e = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        e = recover_segment(s, names[i], i + 1 == n, win);
        if (e == -ENOMEM) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        e = 0; /* an unreadable segment is skipped, said in the log */
    }
    last_assigned = s->acked_seq;
    for (size_t i = 0; i < s->nsegs; i++) {
        if (s->segs[i].last_seq > last_assigned)
            last_assigned = s->segs[i].last_seq;
        if (s->segs[i].name - 1 > last_assigned)
            last_assigned = s->segs[i].name - 1;
    }
    if (!state_exists && n == 0) {
        /* a new spool: start beyond anything an earlier installation sent */
        last_assigned = clock_ns(CLOCK_REALTIME) / 1000;
    }
    s->next_seq = last_assigned + 1;
    s->synced_seq = s->written_seq = last_assigned;
    /* the newest segment may be an empty one of the same name */
    if (s->nsegs && s->segs[s->nsegs - 1].name == s->next_seq && !s->segs[s->nsegs - 1].records) {
        char fn[SEG_NAME_LEN + 8];
        seg_file(s->next_seq, fn);
        unlinkat(s->dirfd, fn, 0);
        s->nsegs--;
    }
    e = roll(s);
    if (e) {
        snprintf(err, errlen, "cannot create a segment in %s: %s", s->dir, strerror(-e));
        goto fail;
    }
    s->last_sync_ns = clock_ns(CLOCK_MONOTONIC);
    for (;;) {
        uint64_t name = 0;
        struct seg *g;
        for (size_t i = 0; i + 1 < s->nsegs && !name; i++)
            if (s->segs[i].repair)
                name = s->segs[i].name;
        if (!name)
            break;
        if (seg_rewrite(s, name, REWRITE_REPAIR) < 0)
            log_warn("cannot repair the spool segment %020" PRIu64 ".seg in %s", name, s->dir);
        g = seg_find(s, name);
        if (g)
            g->repair = false;
    }
    delete_acked(s);
    if (s->recovered)
        log_info("spool %s: %" PRIu64 " events recovered, acknowledged up to %" PRIu64 ", next %" PRIu64, s->dir,
                 s->recovered, s->acked_seq, s->next_seq);
    free(names);
    free(win);
    *out = s;
    return 0;
fail:
    free(names);
    free(win);
    spool_close(s);
    return e;
}

void spool_close(struct spool *s)
{
    if (!s)
        return;
    if (s->cur_fd >= 0) {
        flush_buffer(s);
        if (fdatasync(s->cur_fd) != 0)
            log_warn("cannot sync the spool in %s: %s", s->dir, strerror(errno));
        close(s->cur_fd);
    }
    reader_close(s);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->segs);
    free(s->buf);
    free(s->read_win);
    free(s->dir);
    free(s);
}
