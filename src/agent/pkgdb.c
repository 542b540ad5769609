/*
 * pkgdb.c — see pkgdb.h.
 *
 * Layout of the index (struct pkgdb_index):
 *
 *   hashes[n]   64-bit hashes of indexed paths, sorted ascending, unique
 *   ids16[n]    (or ids32[n] beyond 65535 names) the owner's name id
 *   buckets[]   for each value of the hash's top `bits` bits, the first
 *               position in hashes[] with that prefix (plus one end mark),
 *               so a lookup binary-searches ~4-16 entries
 *
 * Names live in an append-only intern table (struct names): fixed-size
 * blocks that never move, so a returned name stays valid across rebuilds.
 *
 * A build reads each .list once, streaming: every line is checked, placed
 * where dpkg put it on disk (diversions), hashed in its listed and its
 * canonical form, and the hash of its parent directory is remembered. At
 * the end, entries are sorted by (hash, package name), entries whose hash
 * is some entry's parent are dropped as directories, and the first entry
 * of each hash is kept.
 */
#include "agent/pkgdb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/pathclass.h"

#define NAME_BLOCK 16384u       /* bytes per block of interned names */
#define NAME_MAX_LEN 256u       /* longest package name (with :arch) accepted */
#define MAX_LINKS 32u           /* top-level symlinked directories considered */
#define LIST_MAX_BYTES (256u << 20) /* a .list or diversions file larger than this is refused */
#define STAMP_FILES 5

/* ------------------------------------------------------------ helpers */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A 64-bit hash of len bytes (MurmurHash64A's construction: 8-byte words
 * through a multiply-xorshift mix). Only compared within this process. */
static uint64_t path_hash(const char *s, size_t len)
{
    const uint64_t m = 0xc6a4a7935bd1e995ull;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)len * m);
    uint64_t k;

    while (len >= 8) {
        memcpy(&k, s, 8);
        k *= m;
        k ^= k >> 47;
        k *= m;
        h ^= k;
        h *= m;
        s += 8;
        len -= 8;
    }
    if (len) {
        k = 0;
        memcpy(&k, s, len);
        h ^= k;
        h *= m;
    }
    h ^= h >> 47;
    h *= m;
    h ^= h >> 47;
    return h;
}

/* Whether s[0..len) is a dpkg package name, optionally ":arch" qualified:
 * [a-z0-9][a-z0-9+.-]+ (dpkg's rule) then [a-z0-9-]+ for the arch. */
static bool valid_pkg_name(const char *s, size_t len)
{
    size_t i = 0, colon = len;

    if (len < 2 || len > NAME_MAX_LEN)
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (colon < len) {
            if (!alnum && c != '-')
                return false;
        } else if (c == ':') {
            if (i < 2 || i + 1 == len)
                return false;
            colon = i;
        } else if (!alnum && !(i > 0 && (c == '+' || c == '.' || c == '-'))) {
            return false;
        }
    }
    return true;
}

/* Length of the name without its ":arch" qualifier. */
static size_t pkg_base_len(const char *name)
{
    const char *colon = strchr(name, ':');
    return colon ? (size_t)(colon - name) : strlen(name);
}

/* Whether p[0..len) is an absolute path as dpkg writes it: "/"-separated
 * non-empty components, none "." or "..", shorter than PATH_MAX, no NUL. */
static bool valid_list_path(const char *p, size_t len)
{
    size_t i = 1, start;

    if (len < 2 || len >= PATH_MAX || p[0] != '/')
        return false;
    while (i <= len) {
        start = i;
        while (i < len && p[i] != '/') {
            if (p[i] == '\0')
                return false;
            i++;
        }
        size_t clen = i - start;
        if (clen == 0)
            return false;
        if (clen == 1 && p[start] == '.')
            return false;
        if (clen == 2 && p[start] == '.' && p[start + 1] == '.')
            return false;
        i++;
    }
    return true;
}

/* Reads the whole of dirfd/name into *buf (grown as needed, capacity in
 * *cap), NUL-terminated; *len gets the byte count. Returns 0 or -errno
 * (-EFBIG beyond LIST_MAX_BYTES). */
static int read_all(int dirfd, const char *name, char **buf, size_t *cap, size_t *len)
{
    struct stat st;
    size_t want, total = 0;
    ssize_t n;
    int fd, ret = 0;

    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        ret = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ret = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > LIST_MAX_BYTES) {
        ret = -EFBIG;
        goto out;
    }
    want = (size_t)st.st_size + 4096; /* room for growth while we read */
    for (;;) {
        if (*cap < want + 1) {
            char *nb = realloc(*buf, want + 1);
            if (!nb) {
                ret = -ENOMEM;
                goto out;
            }
            *buf = nb;
            *cap = want + 1;
        }
        n = read(fd, *buf + total, *cap - 1 - total);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            goto out;
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (total == *cap - 1) {
            if (total >= LIST_MAX_BYTES) {
                ret = -EFBIG;
                goto out;
            }
            want = total * 2;
        }
    }
    (*buf)[total] = '\0';
    *len = total;
out:
    close(fd);
    return ret;
}

/* ------------------------------------------------------------ interned names */

struct names {
    char **blocks;
    size_t nblocks;
    size_t used;          /* bytes used in blocks[nblocks - 1] */
    const char **by_id;
    uint32_t count, cap;
    uint32_t *slots;      /* open addressing: 0 empty, else id + 1 */
    uint32_t nslots;      /* power of two */
};

static void names_free(struct names *t)
{
    for (size_t i = 0; i < t->nblocks; i++)
        free(t->blocks[i]);
    free(t->blocks);
    free(t->by_id);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static uint64_t names_memory(const struct names *t)
{
    return (uint64_t)t->nblocks * NAME_BLOCK + t->nblocks * sizeof(char *) +
           (uint64_t)t->cap * sizeof(char *) + (uint64_t)t->nslots * sizeof(uint32_t);
}

static int names_grow_slots(struct names *t)
{
    uint32_t n = t->nslots ? t->nslots * 2 : 1024;
    uint32_t *slots = calloc(n, sizeof(*slots));

    if (!slots)
        return -ENOMEM;
    for (uint32_t id = 0; id < t->count; id++) {
        const char *s = t->by_id[id];
        uint32_t i = (uint32_t)path_hash(s, strlen(s)) & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

/* The id of name s[0..len) (len <= NAME_MAX_LEN), added when new. */
static int names_intern(struct names *t, const char *s, size_t len, uint32_t *id)
{
    uint32_t i;
    char *copy;
    int ret;

    if ((t->count + 1) * 2 > t->nslots) {
        ret = names_grow_slots(t);
        if (ret)
            return ret;
    }
    i = (uint32_t)path_hash(s, len) & (t->nslots - 1);
    while (t->slots[i]) {
        const char *have = t->by_id[t->slots[i] - 1];
        if (strncmp(have, s, len) == 0 && have[len] == '\0') {
            *id = t->slots[i] - 1;
            return 0;
        }
        i = (i + 1) & (t->nslots - 1);
    }
    if (t->count == UINT32_MAX - 1)
        return -EOVERFLOW;
    if (t->count == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 1024;
        const char **nb = realloc(t->by_id, ncap * sizeof(*nb));
        if (!nb)
            return -ENOMEM;
        t->by_id = nb;
        t->cap = ncap;
    }
    if (!t->nblocks || t->used + len + 1 > NAME_BLOCK) {
        char **nblk = realloc(t->blocks, (t->nblocks + 1) * sizeof(*nblk));
        if (!nblk)
            return -ENOMEM;
        t->blocks = nblk;
        t->blocks[t->nblocks] = malloc(NAME_BLOCK);
        if (!t->blocks[t->nblocks])
            return -ENOMEM;
        t->nblocks++;
        t->used = 0;
    }
    copy = t->blocks[t->nblocks - 1] + t->used;
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->used += len + 1;
    t->by_id[t->count] = copy;
    t->slots[i] = t->count + 1;
    *id = t->count++;
    return 0;
}

/* ------------------------------------------------------------ the index */

struct canon_link {
    char *name;          /* top-level entry, "bin" */
    size_t name_len;
    char *target;        /* canonical directory, "/usr/bin" */
    size_t target_len;
};

struct diversion {
    char *from, *to;     /* as in the diversions file */
    char *pkg;           /* the diverting package, NULL for a local diversion */
    size_t from_len;
    uint64_t from_hash;
};

struct pkgdb_index {
    uint64_t *hashes;
    uint16_t *ids16;     /* one of ids16 / ids32 is set */
    uint32_t *ids32;
    size_t n;
    uint32_t *buckets;   /* nbuckets + 1 start positions */
    size_t nbuckets;
    unsigned shift;      /* bucket = hash >> shift */
    struct canon_link links[MAX_LINKS];
    size_t nlinks;
    struct diversion *divs; /* sorted by from_hash */
    size_t ndivs;
    uint64_t packages, lines, skipped_lines, skipped_files, dirs_dropped;
    uint64_t memory, build_ns;
};

struct file_stamp {
    int err;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
};

struct pkgdb {
    char *admindir;
    char *root;          /* without trailing slash; "" for "/" */
    struct names names;
    struct pkgdb_index *ix;
    struct file_stamp stamp[STAMP_FILES];
    struct file_stamp failed_stamp[STAMP_FILES]; /* of the last failed rebuild */
    int failed_ret;      /* 0 when the last rebuild did not fail */
    char failed_msg[256];
    uint64_t builds;
};

static void index_free(struct pkgdb_index *ix)
{
    if (!ix)
        return;
    free(ix->hashes);
    free(ix->ids16);
    free(ix->ids32);
    free(ix->buckets);
    for (size_t i = 0; i < ix->nlinks; i++) {
        free(ix->links[i].name);
        free(ix->links[i].target);
    }
    for (size_t i = 0; i < ix->ndivs; i++) {
        free(ix->divs[i].from);
        free(ix->divs[i].to);
        free(ix->divs[i].pkg);
    }
    free(ix->divs);
    free(ix);
}

/* Writes the canonical form of p[0..len) into out (PATH_MAX bytes) when a
 * top-level symlink applies; returns its length, or 0 when p is already
 * canonical (or would not fit). */
static size_t canon_path(const struct pkgdb_index *ix, const char *p, size_t len, char *out)
{
    size_t clen = 0;

    if (len < 2 || p[0] != '/')
        return 0;
    while (1 + clen < len && p[1 + clen] != '/')
        clen++;
    for (size_t i = 0; i < ix->nlinks; i++) {
        const struct canon_link *l = &ix->links[i];
        size_t rest = len - 1 - clen;
        if (l->name_len != clen || memcmp(l->name, p + 1, clen) != 0)
            continue;
        if (l->target_len + rest >= PATH_MAX)
            return 0;
        memcpy(out, l->target, l->target_len);
        memcpy(out + l->target_len, p + 1 + clen, rest);
        out[l->target_len + rest] = '\0';
        return l->target_len + rest;
    }
    return 0;
}

/* Finds the top-level entries of root that are symbolic links to
 * directories and records where they lead (lexically resolved against
 * root, chains of such links followed). */
static int detect_links(struct pkgdb_index *ix, const char *root, char *err, size_t errlen)
{
    char target[PATH_MAX + 2];
    struct dirent *de;
    DIR *dir;
    int ret = 0;

    dir = opendir(root[0] ? root : "/");
    if (!dir) {
        ret = -errno;
        set_err(err, errlen, "cannot read the root directory %s: %s", root[0] ? root : "/",
                strerror(-ret));
        return ret;
    }
    while ((de = readdir(dir)) != NULL && ix->nlinks < MAX_LINKS) {
        struct stat st;
        ssize_t n;

        if (de->d_name[0] == '.' || strchr(de->d_name, '/'))
            continue; /* ".", "..", hidden entries are not system directories */
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
            continue;
        n = readlinkat(dirfd(dir), de->d_name, target + 1, PATH_MAX - 1);
        if (n <= 0 || n >= PATH_MAX - 1)
            continue;
        target[n + 1] = '\0';
        /* "usr/bin" and "/usr/bin" both mean root/usr/bin */
        target[0] = '/';
        char *t = target[1] == '/' ? target + 1 : target;
        pathclass_normalize(t);
        if (strcmp(t, "/") == 0)
            continue;
        if (fstatat(dirfd(dir), t + 1, &st, 0) < 0 || !S_ISDIR(st.st_mode))
            continue;
        struct canon_link *l = &ix->links[ix->nlinks];
        l->name = strdup(de->d_name);
        l->target = strdup(t);
        if (!l->name || !l->target) {
            free(l->name);
            free(l->target);
            l->name = l->target = NULL;
            ret = -ENOMEM;
            set_err(err, errlen, "out of memory reading %s", root[0] ? root : "/");
            goto out;
        }
        l->name_len = strlen(l->name);
        l->target_len = strlen(l->target);
        ix->nlinks++;
    }
    /* Resolve chains (/a -> b, /b -> usr/b): a bounded number of rounds,
     * a link that still points into a link afterwards is a loop: drop it. */
    for (size_t i = 0; i < ix->nlinks; i++) {
        struct canon_link *l = &ix->links[i];
        size_t rounds = 0;
        size_t len;
        while ((len = canon_path(ix, l->target, l->target_len, target)) != 0 && rounds <= MAX_LINKS) {
            char *nt = strdup(target);
            if (!nt) {
                ret = -ENOMEM;
                set_err(err, errlen, "out of memory reading %s", root[0] ? root : "/");
                goto out;
            }
            free(l->target);
            l->target = nt;
            l->target_len = len;
            rounds++;
        }
        if (rounds > MAX_LINKS) {
            free(l->name);
            free(l->target);
            ix->links[i] = ix->links[--ix->nlinks];
            i--;
        }
    }
out:
    closedir(dir);
    return ret;
}

static int cmp_div(const void *a, const void *b)
{
    const struct diversion *x = a, *y = b;
    return x->from_hash < y->from_hash ? -1 : x->from_hash > y->from_hash;
}

/* Parses admindir/diversions: records of three lines (the diverted path,
 * where it goes, the diverting package or ":" for a local diversion). */
static int load_diversions(struct pkgdb_index *ix, int admfd, const char *admindir,
                           char **buf, size_t *cap, char *err, size_t errlen)
{
    size_t len = 0, lineno = 0, nlines = 0;
    char *p, *fields[3];
    int ret;

    ret = read_all(admfd, "diversions", buf, cap, &len);
    if (ret == -ENOENT)
        return 0;
    if (ret) {
        set_err(err, errlen, "cannot read %s/diversions: %s", admindir, strerror(-ret));
        return ret;
    }
    for (size_t i = 0; i < len; i++)
        if ((*buf)[i] == '\n')
            nlines++;
    if (len && (*buf)[len - 1] != '\n')
        nlines++;
    if (nlines % 3) {
        set_err(err, errlen, "%s/diversions: %zu lines, not a multiple of 3 (path, diverted path, package)",
                admindir, nlines);
        return -EINVAL;
    }
    ix->divs = calloc(nlines / 3 + 1, sizeof(*ix->divs));
    if (!ix->divs) {
        set_err(err, errlen, "out of memory reading %s/diversions", admindir);
        return -ENOMEM;
    }
    p = *buf;
    while (lineno < nlines) {
        size_t flen[3];
        for (int f = 0; f < 3; f++) {
            char *nl = memchr(p, '\n', len - (size_t)(p - *buf));
            fields[f] = p;
            flen[f] = nl ? (size_t)(nl - p) : len - (size_t)(p - *buf);
            p += flen[f] + (nl ? 1 : 0);
            fields[f][flen[f]] = '\0';
            lineno++;
            if (f < 2 && !valid_list_path(fields[f], flen[f])) {
                set_err(err, errlen, "%s/diversions line %zu: \"%.64s\" is not an absolute path",
                        admindir, lineno, fields[f]);
                return -EINVAL;
            }
            if (f == 2 && !(flen[f] == 1 && fields[f][0] == ':') && !valid_pkg_name(fields[f], flen[f])) {
                set_err(err, errlen, "%s/diversions line %zu: \"%.64s\" is not a package name or \":\"",
                        admindir, lineno, fields[f]);
                return -EINVAL;
            }
        }
        struct diversion *d = &ix->divs[ix->ndivs];
        d->from = strdup(fields[0]);
        d->to = strdup(fields[1]);
        d->pkg = fields[2][0] == ':' ? NULL : strdup(fields[2]);
        ix->ndivs++;
        if (!d->from || !d->to || (fields[2][0] != ':' && !d->pkg)) {
            set_err(err, errlen, "out of memory reading %s/diversions", admindir);
            return -ENOMEM;
        }
        d->from_len = flen[0];
        d->from_hash = path_hash(d->from, d->from_len);
    }
    qsort(ix->divs, ix->ndivs, sizeof(*ix->divs), cmp_div);
    return 0;
}

/* The diversion of path p[0..len), or NULL. */
static const struct diversion *find_diversion(const struct pkgdb_index *ix, const char *p, size_t len,
                                              uint64_t h)
{
    size_t lo = 0, hi = ix->ndivs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->divs[mid].from_hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < ix->ndivs && ix->divs[lo].from_hash == h; lo++)
        if (ix->divs[lo].from_len == len && memcmp(ix->divs[lo].from, p, len) == 0)
            return &ix->divs[lo];
    return NULL;
}

struct tent {
    uint64_t h;
    uint32_t id;     /* name id */
    uint32_t rank;   /* position of the name in alphabetical order, for ties */
};

struct build {
    struct pkgdb_index *ix;
    struct tent *ents;
    size_t nents, capents;
    uint64_t *parents;
    size_t npar, cappar;
};

static int push_ent(struct build *b, uint64_t h, uint32_t id, uint32_t rank)
{
    if (b->nents == b->capents) {
        size_t ncap = b->capents ? b->capents * 2 : 65536;
        struct tent *n = realloc(b->ents, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        b->ents = n;
        b->capents = ncap;
    }
    b->ents[b->nents++] = (struct tent){ .h = h, .id = id, .rank = rank };
    return 0;
}

static int push_parent(struct build *b, const char *p, size_t len)
{
    uint64_t h;

    while (len > 0 && p[len - 1] != '/')
        len--;
    if (len <= 1)
        return 0; /* the parent is "/" */
    h = path_hash(p, len - 1);
    if (b->npar && b->parents[b->npar - 1] == h)
        return 0; /* the previous file's directory: common, and cheap to skip */
    if (b->npar == b->cappar) {
        size_t ncap = b->cappar ? b->cappar * 2 : 65536;
        uint64_t *n = realloc(b->parents, ncap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        b->parents = n;
        b->cappar = ncap;
    }
    b->parents[b->npar++] = h;
    return 0;
}

/* Indexes one on-disk location p[0..len) (whose hash is h): as given and
 * in canonical form. */
static int add_location(struct build *b, const char *p, size_t len, uint64_t h, uint32_t id,
                        uint32_t rank)
{
    char canon[PATH_MAX];
    size_t clen;
    int ret;

    ret = push_ent(b, h, id, rank);
    if (!ret)
        ret = push_parent(b, p, len);
    clen = canon_path(b->ix, p, len, canon);
    if (!ret && clen) {
        ret = push_ent(b, path_hash(canon, clen), id, rank);
        if (!ret)
            ret = push_parent(b, canon, clen);
    }
    return ret;
}

/* Indexes the lines of one .list file (buf, len bytes, NUL-terminated)
 * of package `name`. */
static int add_list(struct build *b, char *buf, size_t len, const char *name, uint32_t id, uint32_t rank)
{
    struct pkgdb_index *ix = b->ix;
    size_t base_len = pkg_base_len(name);
    char *p = buf, *end = buf + len;
    int ret = 0;

    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char *line = p;

        p += l + (nl ? 1 : 0);
        if (l == 0 || (l == 2 && line[0] == '/' && line[1] == '.'))
            continue; /* "/." opens most lists: the root directory */
        ix->lines++;
        if (!valid_list_path(line, l)) {
            ix->skipped_lines++;
            continue;
        }
        uint64_t h = path_hash(line, l);
        const struct diversion *d = ix->ndivs ? find_diversion(ix, line, l, h) : NULL;
        if (d && (!d->pkg || strlen(d->pkg) != base_len || strncmp(d->pkg, name, base_len) != 0)) {
            size_t tl = strlen(d->to); /* dpkg put it aside */
            ret = add_location(b, d->to, tl, path_hash(d->to, tl), id, rank);
        } else {
            ret = add_location(b, line, l, h, id, rank);
        }
        if (ret)
            return ret;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hashes are uniformly distributed, so both sorts below first place
 * elements by the top `bits` bits of the hash, in place (American flag
 * sort: each element is swapped straight into its bucket), then finish
 * each bucket — two elements on average — by insertion. No temporary copy
 * of the array is needed, which keeps the build's peak memory down, and
 * it is several times faster than qsort here. */
static unsigned sort_bits(size_t n)
{
    unsigned bits = 1;
    while (bits < 16 && ((size_t)1 << (bits + 1)) <= n / 2)
        bits++;
    return bits;
}

/* Bucket b of the top `bits` bits covers [start[b], start[b + 1]); next
 * is a copy of start to fill from. Returns -ENOMEM or 0. */
static int bucket_bounds(uint32_t **start, uint32_t **next, size_t nb)
{
    *start = calloc(nb + 1, sizeof(**start));
    *next = malloc((nb + 1) * sizeof(**next));
    if (!*start || !*next) {
        free(*start);
        free(*next);
        return -ENOMEM;
    }
    return 0;
}

/* Sorts a[0..n) by (h, rank). */
static int sort_tents(struct tent *a, size_t n)
{
    unsigned bits = sort_bits(n), shift = 64 - bits;
    size_t nb = (size_t)1 << bits;
    uint32_t *start, *next;

    if (n < 2)
        return 0;
    if (bucket_bounds(&start, &next, nb))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        start[(a[i].h >> shift) + 1]++;
    for (size_t b = 0; b < nb; b++)
        start[b + 1] += start[b];
    memcpy(next, start, (nb + 1) * sizeof(*next));
    for (size_t b = 0; b < nb; b++) {
        while (next[b] < start[b + 1]) {
            struct tent t = a[next[b]];
            size_t d = (size_t)(t.h >> shift);
            while (d != b) { /* carry t to its bucket, bringing back what was there */
                struct tent u = a[next[d]];
                a[next[d]++] = t;
                t = u;
                d = (size_t)(t.h >> shift);
            }
            a[next[b]++] = t;
        }
    }
    for (size_t b = 0; b < nb; b++) {
        for (size_t i = start[b] + 1; i < start[b + 1]; i++) {
            struct tent t = a[i];
            size_t j = i;
            while (j > start[b] && (a[j - 1].h > t.h || (a[j - 1].h == t.h && a[j - 1].rank > t.rank))) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = t;
        }
    }
    free(start);
    free(next);
    return 0;
}

/* Sorts a[0..n) ascending. */
static int sort_u64(uint64_t *a, size_t n)
{
    unsigned bits = sort_bits(n), shift = 64 - bits;
    size_t nb = (size_t)1 << bits;
    uint32_t *start, *next;

    if (n < 2)
        return 0;
    if (bucket_bounds(&start, &next, nb))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        start[(a[i] >> shift) + 1]++;
    for (size_t b = 0; b < nb; b++)
        start[b + 1] += start[b];
    memcpy(next, start, (nb + 1) * sizeof(*next));
    for (size_t b = 0; b < nb; b++) {
        while (next[b] < start[b + 1]) {
            uint64_t t = a[next[b]];
            size_t d = (size_t)(t >> shift);
            while (d != b) {
                uint64_t u = a[next[d]];
                a[next[d]++] = t;
                t = u;
                d = (size_t)(t >> shift);
            }
            a[next[b]++] = t;
        }
    }
    for (size_t b = 0; b < nb; b++) {
        for (size_t i = start[b] + 1; i < start[b + 1]; i++) {
            uint64_t t = a[i];
            size_t j = i;
            while (j > start[b] && a[j - 1] > t) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = t;
        }
    }
    free(start);
    free(next);
    return 0;
}

/* Sorts, drops directories and duplicates, and lays out the final arrays. */
static int finish_index(struct build *b, uint32_t name_count)
{
    struct pkgdb_index *ix = b->ix;
    size_t n = 0, np = 0, pi = 0;
    unsigned bits = 1;

    if (b->nents > UINT32_MAX || b->npar > UINT32_MAX)
        return -EOVERFLOW;
    if (sort_tents(b->ents, b->nents) || sort_u64(b->parents, b->npar))
        return -ENOMEM;
    for (size_t i = 0; i < b->npar; i++)
        if (np == 0 || b->parents[np - 1] != b->parents[i])
            b->parents[np++] = b->parents[i];
    b->npar = np;

    /* compact in place: first entry of each hash, unless it is a parent */
    for (size_t i = 0; i < b->nents; i++) {
        uint64_t h = b->ents[i].h;
        if (i > 0 && b->ents[i - 1].h == h)
            continue;
        while (pi < np && b->parents[pi] < h)
            pi++;
        if (pi < np && b->parents[pi] == h) {
            ix->dirs_dropped++;
            continue;
        }
        b->ents[n++] = b->ents[i];
    }

    while (bits < 16 && ((size_t)1 << (bits + 1)) <= n / 4)
        bits++;
    ix->nbuckets = (size_t)1 << bits;
    ix->shift = 64 - bits;
    ix->n = n;
    ix->hashes = malloc((n ? n : 1) * sizeof(*ix->hashes));
    ix->buckets = malloc((ix->nbuckets + 1) * sizeof(*ix->buckets));
    if (name_count <= UINT16_MAX)
        ix->ids16 = malloc((n ? n : 1) * sizeof(*ix->ids16));
    else
        ix->ids32 = malloc((n ? n : 1) * sizeof(*ix->ids32));
    if (!ix->hashes || !ix->buckets || (!ix->ids16 && !ix->ids32))
        return -ENOMEM;
    for (size_t i = 0, bk = 0; i < n; i++) {
        ix->hashes[i] = b->ents[i].h;
        if (ix->ids16)
            ix->ids16[i] = (uint16_t)b->ents[i].id;
        else
            ix->ids32[i] = b->ents[i].id;
        size_t mine = (size_t)(b->ents[i].h >> ix->shift);
        while (bk <= mine)
            ix->buckets[bk++] = (uint32_t)i;
        if (i + 1 == n)
            while (bk <= ix->nbuckets)
                ix->buckets[bk++] = (uint32_t)n;
    }
    if (n == 0)
        for (size_t bk = 0; bk <= ix->nbuckets; bk++)
            ix->buckets[bk] = 0;

    ix->memory = sizeof(*ix) + n * (sizeof(uint64_t) + (ix->ids16 ? 2u : 4u)) +
                 (ix->nbuckets + 1) * sizeof(uint32_t) + ix->ndivs * sizeof(struct diversion);
    for (size_t i = 0; i < ix->ndivs; i++)
        ix->memory += ix->divs[i].from_len + strlen(ix->divs[i].to) + 2 +
                      (ix->divs[i].pkg ? strlen(ix->divs[i].pkg) + 1 : 0);
    for (size_t i = 0; i < ix->nlinks; i++)
        ix->memory += ix->links[i].name_len + ix->links[i].target_len + 2;
    return 0;
}

/* Reads the whole database into a new index (*out). On failure fills err
 * and returns -errno; names interned meanwhile stay (they are harmless). */
static int build_index(struct pkgdb *db, struct pkgdb_index **out, char *err, size_t errlen)
{
    struct build b = { 0 };
    char *buf = NULL, **files = NULL;
    size_t cap = 0, nfiles = 0, capfiles = 0, len = 0;
    uint64_t start = now_ns();
    int admfd = -1, infofd = -1, ret = 0;
    struct dirent *de;
    DIR *dir = NULL;

    b.ix = calloc(1, sizeof(*b.ix));
    if (!b.ix) {
        ret = -ENOMEM;
        set_err(err, errlen, "out of memory building the package index");
        goto out;
    }
    ret = detect_links(b.ix, db->root, err, errlen);
    if (ret)
        goto out;
    admfd = open(db->admindir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (admfd < 0) {
        ret = -errno;
        set_err(err, errlen, "cannot open the dpkg database %s: %s", db->admindir, strerror(-ret));
        goto out;
    }
    ret = load_diversions(b.ix, admfd, db->admindir, &buf, &cap, err, errlen);
    if (ret)
        goto out;

    infofd = openat(admfd, "info", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (infofd < 0 || !(dir = fdopendir(infofd))) {
        ret = -errno;
        set_err(err, errlen, "cannot read %s/info: %s (is this a dpkg system?)", db->admindir,
                strerror(-ret));
        if (infofd >= 0)
            close(infofd);
        goto out;
    }
    while ((errno = 0, de = readdir(dir)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl <= 5 || strcmp(de->d_name + nl - 5, ".list") != 0)
            continue;
        if (!valid_pkg_name(de->d_name, nl - 5)) {
            b.ix->skipped_files++;
            continue;
        }
        if (nfiles == capfiles) {
            size_t ncap = capfiles ? capfiles * 2 : 1024;
            char **nf = realloc(files, ncap * sizeof(*nf));
            if (!nf) {
                ret = -ENOMEM;
                set_err(err, errlen, "out of memory reading %s/info", db->admindir);
                goto out;
            }
            files = nf;
            capfiles = ncap;
        }
        files[nfiles] = strdup(de->d_name);
        if (!files[nfiles]) {
            ret = -ENOMEM;
            set_err(err, errlen, "out of memory reading %s/info", db->admindir);
            goto out;
        }
        nfiles++;
    }
    if (errno) {
        ret = -errno;
        set_err(err, errlen, "cannot read %s/info: %s", db->admindir, strerror(-ret));
        goto out;
    }
    if (nfiles > 1)
        qsort(files, nfiles, sizeof(*files), cmp_str);

    for (size_t i = 0; i < nfiles; i++) {
        size_t nl = strlen(files[i]) - 5;
        uint32_t id;

        ret = read_all(dirfd(dir), files[i], &buf, &cap, &len);
        if (ret == -ENOENT) {
            ret = 0; /* removed while we read: the next refresh sees it */
            continue;
        }
        if (ret) {
            set_err(err, errlen, "cannot read %s/info/%s: %s", db->admindir, files[i], strerror(-ret));
            goto out;
        }
        ret = names_intern(&db->names, files[i], nl, &id);
        if (!ret)
            ret = add_list(&b, buf, len, db->names.by_id[id], id, (uint32_t)i);
        if (ret) {
            set_err(err, errlen, "out of memory indexing %s/info/%s", db->admindir, files[i]);
            goto out;
        }
        b.ix->packages++;
    }
    ret = finish_index(&b, db->names.count);
    if (ret) {
        set_err(err, errlen, "out of memory indexing %zu paths of %s", b.nents, db->admindir);
        goto out;
    }
    b.ix->build_ns = now_ns() - start;
    *out = b.ix;
    b.ix = NULL;
out:
    if (dir)
        closedir(dir);
    if (admfd >= 0)
        close(admfd);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    free(buf);
    free(b.ents);
    free(b.parents);
    index_free(b.ix);
    return ret;
}

/* ------------------------------------------------------------ change detection */

static void take_stamp(const struct pkgdb *db, struct file_stamp st[STAMP_FILES])
{
    static const char *const names[STAMP_FILES - 1] = { "status", "diversions", "info", "updates" };
    char path[PATH_MAX];

    for (int i = 0; i < STAMP_FILES; i++) {
        struct stat s;
        if (i < STAMP_FILES - 1)
            snprintf(path, sizeof(path), "%s/%s", db->admindir, names[i]);
        else
            snprintf(path, sizeof(path), "%s/", db->root);
        memset(&st[i], 0, sizeof(st[i]));
        if (stat(path, &s) < 0) {
            st[i].err = errno;
            continue;
        }
        st[i].dev = s.st_dev;
        st[i].ino = s.st_ino;
        st[i].size = s.st_size;
        st[i].mtim = s.st_mtim;
        st[i].ctim = s.st_ctim;
    }
}

static bool same_stamp(const struct file_stamp a[STAMP_FILES], const struct file_stamp b[STAMP_FILES])
{
    for (int i = 0; i < STAMP_FILES; i++)
        if (a[i].err != b[i].err || a[i].dev != b[i].dev || a[i].ino != b[i].ino ||
            a[i].size != b[i].size || a[i].mtim.tv_sec != b[i].mtim.tv_sec ||
            a[i].mtim.tv_nsec != b[i].mtim.tv_nsec || a[i].ctim.tv_sec != b[i].ctim.tv_sec ||
            a[i].ctim.tv_nsec != b[i].ctim.tv_nsec)
            return false;
    return true;
}

/* ------------------------------------------------------------ public API */

int pkgdb_open(struct pkgdb **out, const char *admindir, char *err, size_t errlen)
{
    return pkgdb_open_at(out, admindir, "/", err, errlen);
}

int pkgdb_open_at(struct pkgdb **out, const char *admindir, const char *root, char *err, size_t errlen)
{
    struct pkgdb *db = NULL;
    size_t rlen;
    int ret = 0;

    if (!out || !admindir || !admindir[0] || !root || root[0] != '/') {
        set_err(err, errlen, "pkgdb: an admin directory and an absolute root are needed");
        return -EINVAL;
    }
    db = calloc(1, sizeof(*db));
    if (!db) {
        ret = -ENOMEM;
        set_err(err, errlen, "out of memory opening %s", admindir);
        goto out;
    }
    db->admindir = strdup(admindir);
    db->root = strdup(root);
    if (!db->admindir || !db->root) {
        ret = -ENOMEM;
        set_err(err, errlen, "out of memory opening %s", admindir);
        goto out;
    }
    rlen = strlen(db->root);
    while (rlen > 0 && db->root[rlen - 1] == '/')
        db->root[--rlen] = '\0';
    take_stamp(db, db->stamp);
    ret = build_index(db, &db->ix, err, errlen);
    if (ret)
        goto out;
    db->builds = 1;
    *out = db;
    db = NULL;
out:
    pkgdb_free(db);
    return ret;
}

const char *pkgdb_owner(const struct pkgdb *db, const char *path)
{
    const struct pkgdb_index *ix;
    size_t len, lo, hi;
    uint64_t h, b;

    if (!db || !path || path[0] != '/')
        return NULL;
    ix = db->ix;
    len = strlen(path);
    h = path_hash(path, len);
    b = h >> ix->shift;
    lo = ix->buckets[b];
    hi = ix->buckets[b + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->hashes[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= ix->buckets[b + 1] || ix->hashes[lo] != h)
        return NULL;
    return db->names.by_id[ix->ids16 ? ix->ids16[lo] : ix->ids32[lo]];
}

int pkgdb_refresh(struct pkgdb *db, char *err, size_t errlen)
{
    struct file_stamp now[STAMP_FILES];
    struct pkgdb_index *nix = NULL;
    int ret;

    if (!db)
        return -EINVAL;
    take_stamp(db, now);
    if (same_stamp(now, db->stamp))
        return 0;
    if (db->failed_ret && same_stamp(now, db->failed_stamp)) {
        set_err(err, errlen, "%s", db->failed_msg); /* still broken: do not reread it all */
        return db->failed_ret;
    }
    ret = build_index(db, &nix, err, errlen);
    if (ret) {
        memcpy(db->failed_stamp, now, sizeof(now));
        db->failed_ret = ret;
        snprintf(db->failed_msg, sizeof(db->failed_msg), "%s", err && errlen ? err : "rebuild failed");
        return ret;
    }
    index_free(db->ix);
    db->ix = nix;
    memcpy(db->stamp, now, sizeof(now));
    db->failed_ret = 0;
    db->builds++;
    return 0;
}

/* Whether line[0..len) of an md5sums file records one of the candidate
 * paths; on success copies its 16-byte digest to md5. */
static bool md5sums_line_matches(const struct pkgdb_index *ix, const char *line, size_t len,
                                 char (*cands)[PATH_MAX], size_t ncands, unsigned char md5[16])
{
    char path[PATH_MAX], canon[PATH_MAX];
    const char *rel, *cmp;
    size_t rlen, clen;

    if (len < 35 || line[32] != ' ' || (line[33] != ' ' && line[33] != '*'))
        return false;
    rel = line + 34;
    rlen = len - 34;
    if (rlen == 0 || rlen + 1 >= PATH_MAX)
        return false;
    path[0] = '/';
    memcpy(path + 1, rel[0] == '/' ? rel + 1 : rel, rel[0] == '/' ? rlen - 1 : rlen);
    rlen = rel[0] == '/' ? rlen : rlen + 1;
    path[rlen] = '\0';
    clen = canon_path(ix, path, rlen, canon);
    cmp = clen ? canon : path;
    for (size_t i = 0; i < ncands; i++) {
        if (strcmp(cmp, cands[i]) != 0)
            continue;
        for (int k = 0; k < 16; k++) {
            int v = 0;
            for (int j = 0; j < 2; j++) {
                char c = line[2 * k + j];
                int d = c >= '0' && c <= '9' ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0)
                    return false;
                v = v * 16 + d;
            }
            md5[k] = (unsigned char)v;
        }
        return true;
    }
    return false;
}

/* MD5 of the file at path into md5. Returns 0 or -errno. */
static int md5_file(const char *path, unsigned char md5[16])
{
    EVP_MD_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    unsigned int mdlen = 0;
    int fd, ret = 0;
    ssize_t n;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    buf = malloc(1 << 16);
    ctx = EVP_MD_CTX_new();
    if (!buf || !ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
        ret = -ENOMEM;
        goto out;
    }
    for (;;) {
        n = read(fd, buf, 1 << 16);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            goto out;
        }
        if (n == 0)
            break;
        if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
            ret = -EIO;
            goto out;
        }
    }
    if (!EVP_DigestFinal_ex(ctx, md5, &mdlen) || mdlen != 16)
        ret = -EIO;
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    return ret;
}

int pkgdb_verify(struct pkgdb *db, const char *path, enum pkgdb_verdict *verdict, char *err, size_t errlen)
{
    const struct pkgdb_index *ix;
    char (*cands)[PATH_MAX] = NULL;
    char md5sums[NAME_MAX_LEN + 16], fpath[2 * PATH_MAX];
    char *buf = NULL;
    unsigned char want[16], have[16];
    size_t ncands = 0, cap = 0, len = 0, plen, owner_base;
    const char *owner;
    bool found = false;
    int ret = 0, admfd = -1;

    if (!db || !path || !verdict || path[0] != '/') {
        set_err(err, errlen, "pkgdb_verify: an absolute path is needed");
        return -EINVAL;
    }
    *verdict = PKGDB_NO_RECORD;
    ix = db->ix;
    plen = strlen(path);
    if (plen >= PATH_MAX) {
        set_err(err, errlen, "pkgdb_verify: path too long");
        return -ENAMETOOLONG;
    }
    owner = pkgdb_owner(db, path);
    if (!owner)
        return 0;
    owner_base = pkg_base_len(owner);

    /* the paths under which the owner may record this file */
    cands = calloc(ix->ndivs + 1, sizeof(*cands));
    if (!cands) {
        ret = -ENOMEM;
        set_err(err, errlen, "out of memory verifying %s", path);
        goto out;
    }
    if (!canon_path(ix, path, plen, cands[0]))
        memcpy(cands[0], path, plen + 1);
    ncands = 1;
    for (size_t i = 0; i < ix->ndivs; i++) {
        const struct diversion *d = &ix->divs[i];
        char canon[PATH_MAX];
        size_t tl = strlen(d->to), cl = canon_path(ix, d->to, tl, canon);
        if (strcmp(cl ? canon : d->to, cands[0]) != 0)
            continue;
        if (d->pkg && strlen(d->pkg) == owner_base && strncmp(d->pkg, owner, owner_base) == 0)
            continue; /* the diverting package's own files are not diverted */
        if (!canon_path(ix, d->from, d->from_len, cands[ncands]))
            memcpy(cands[ncands], d->from, d->from_len + 1);
        ncands++;
    }

    snprintf(md5sums, sizeof(md5sums), "info/%s.md5sums", owner); /* names are <= NAME_MAX_LEN */
    admfd = open(db->admindir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (admfd < 0) {
        ret = -errno;
        set_err(err, errlen, "cannot open %s: %s", db->admindir, strerror(-ret));
        goto out;
    }
    ret = read_all(admfd, md5sums, &buf, &cap, &len);
    if (ret == -ENOENT) {
        ret = 0; /* the package ships no checksums */
        goto out;
    }
    if (ret) {
        set_err(err, errlen, "cannot read %s/%s: %s", db->admindir, md5sums, strerror(-ret));
        goto out;
    }
    for (char *p = buf, *end = buf + len; p < end && !found;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        found = md5sums_line_matches(ix, p, l, cands, ncands, want);
        p += l + 1;
    }
    if (!found)
        goto out;

    if ((size_t)snprintf(fpath, sizeof(fpath), "%s%s", db->root, path) >= sizeof(fpath)) {
        ret = -ENAMETOOLONG;
        set_err(err, errlen, "%s%s: path too long", db->root, path);
        goto out;
    }
    ret = md5_file(fpath, have);
    if (ret) {
        set_err(err, errlen, "cannot read %s to verify it: %s", fpath, strerror(-ret));
        goto out;
    }
    *verdict = memcmp(want, have, 16) == 0 ? PKGDB_MATCH : PKGDB_MISMATCH;
out:
    if (admfd >= 0)
        close(admfd);
    free(cands);
    free(buf);
    return ret;
}

const char *pkgdb_verdict_name(enum pkgdb_verdict v)
{
    switch (v) {
    case PKGDB_MATCH:
        return "match";
    case PKGDB_MISMATCH:
        return "mismatch";
    case PKGDB_NO_RECORD:
        break;
    }
    return "no-record";
}

void pkgdb_get_stats(const struct pkgdb *db, struct pkgdb_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!db)
        return;
    out->entries = db->ix->n;
    out->packages = db->ix->packages;
    out->diversions = db->ix->ndivs;
    out->lines = db->ix->lines;
    out->skipped_lines = db->ix->skipped_lines;
    out->skipped_files = db->ix->skipped_files;
    out->dirs_dropped = db->ix->dirs_dropped;
    out->memory_bytes = sizeof(*db) + db->ix->memory + names_memory(&db->names) +
                        strlen(db->admindir) + strlen(db->root) + 2;
    out->build_ns = db->ix->build_ns;
    out->builds = db->builds;
    out->canon_links = (uint32_t)db->ix->nlinks;
}

void pkgdb_free(struct pkgdb *db)
{
    if (!db)
        return;
    index_free(db->ix);
    names_free(&db->names);
    free(db->admindir);
    free(db->root);
    free(db);
}
