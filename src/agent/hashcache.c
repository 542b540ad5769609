/*
 * hashcache.c — see hashcache.h.
 *
 * The table is our own rather than uthash, because here it is clearly
 * better: the cache has a fixed maximum size, so every entry lives in one
 * array allocated at creation (88 bytes each: key, raw digest, LRU links
 * as 32-bit indices) and an eviction simply reuses the evicted entry's
 * slot — no malloc or free ever happens on the exec path, and the memory
 * bound is exact. uthash would add a 56-byte handle and a malloc'd block
 * per entry and a bucket array that grows in steps. The index is linear
 * probing over 8-byte slots {32-bit hash, entry index + 1} kept at most
 * half full; the stored hash lets a probe skip other keys without touching
 * their entries, and deletion shifts entries back (no tombstones, so a
 * long-running cache with constant eviction never degrades).
 */
#include "agent/hashcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <openssl/evp.h>

#define READ_CHUNK (256u << 10)
#define MAX_ENTRIES_LIMIT (1u << 24)
#define NIL UINT32_MAX

struct hc_entry {
    struct hashcache_key key;
    unsigned char digest[32];
    uint32_t newer, older;   /* LRU list; NIL at the ends */
};

struct hc_slot {
    uint32_t hash;
    uint32_t idx1;           /* entry index + 1; 0: empty */
};

struct hashcache {
    struct hc_entry *entries;
    uint32_t count, max;
    uint32_t newest, oldest;
    struct hc_slot *slots;
    uint32_t mask;
    uint64_t max_file;
    unsigned char *buf;      /* READ_CHUNK bytes */
    EVP_MD *sha256;
    EVP_MD_CTX *ctx;
    struct hashcache_stats st;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint32_t key_hash(const struct hashcache_key *k)
{
    uint64_t h = mix64(k->ino ^ ((uint64_t)k->dev << 40));
    h = mix64(h ^ k->size);
    h = mix64(h ^ (uint64_t)k->mtime_sec ^ ((uint64_t)k->mtime_nsec << 34));
    h = mix64(h ^ (uint64_t)k->ctime_sec ^ ((uint64_t)k->ctime_nsec << 34));
    return (uint32_t)h;
}

static bool key_eq(const struct hashcache_key *a, const struct hashcache_key *b)
{
    return a->ino == b->ino && a->dev == b->dev && a->size == b->size &&
           a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
           a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

void hashcache_key_from_stat(const struct stat *st, struct hashcache_key *key)
{
    memset(key, 0, sizeof(*key));
    key->ino = (uint64_t)st->st_ino;
    key->dev = ((uint32_t)major(st->st_dev) << 20) | (uint32_t)minor(st->st_dev);
    key->size = (uint64_t)st->st_size;
    key->mtime_sec = st->st_mtim.tv_sec;
    key->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
    key->ctime_sec = st->st_ctim.tv_sec;
    key->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
}

const char *hashcache_skip_name(enum hashcache_skip why)
{
    switch (why) {
    case HASHCACHE_TOO_LARGE:
        return "too-large";
    case HASHCACHE_UNREADABLE:
        return "unreadable";
    case HASHCACHE_VANISHED:
        return "vanished";
    case HASHCACHE_OK:
    case HASHCACHE_SKIP_MAX:
        break;
    }
    return NULL;
}

int hashcache_new(struct hashcache **out, size_t max_entries, uint64_t max_file_bytes)
{
    struct hashcache *hc = NULL;
    size_t nslots = 2;
    int ret = 0;

    if (!out)
        return -EINVAL;
    if (max_entries == 0)
        max_entries = HASHCACHE_DEFAULT_ENTRIES;
    if (max_file_bytes == 0)
        max_file_bytes = HASHCACHE_DEFAULT_MAX_FILE;
    if (max_entries > MAX_ENTRIES_LIMIT)
        return -EINVAL;
    while (nslots < max_entries * 2)
        nslots *= 2;

    hc = calloc(1, sizeof(*hc));
    if (!hc) {
        ret = -ENOMEM;
        goto out;
    }
    hc->max = (uint32_t)max_entries;
    hc->mask = (uint32_t)(nslots - 1);
    hc->max_file = max_file_bytes;
    hc->newest = hc->oldest = NIL;
    hc->entries = malloc(max_entries * sizeof(*hc->entries));
    hc->slots = calloc(nslots, sizeof(*hc->slots));
    hc->buf = malloc(READ_CHUNK);
    hc->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    hc->ctx = EVP_MD_CTX_new();
    if (!hc->entries || !hc->slots || !hc->buf || !hc->sha256 || !hc->ctx) {
        ret = -ENOMEM;
        goto out;
    }
    hc->st.max_entries = max_entries;
    hc->st.memory_bytes = sizeof(*hc) + max_entries * sizeof(*hc->entries) +
                          nslots * sizeof(*hc->slots) + READ_CHUNK;
    *out = hc;
    hc = NULL;
out:
    hashcache_free(hc);
    return ret;
}

void hashcache_free(struct hashcache *hc)
{
    if (!hc)
        return;
    EVP_MD_CTX_free(hc->ctx);
    EVP_MD_free(hc->sha256);
    free(hc->buf);
    free(hc->slots);
    free(hc->entries);
    free(hc);
}

void hashcache_get_stats(const struct hashcache *hc, struct hashcache_stats *out)
{
    if (!hc) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = hc->st;
    out->entries = hc->count;
}

/* ------------------------------------------------------------ table and LRU */

/* The slot holding `key`, or NIL. */
static uint32_t table_find(const struct hashcache *hc, const struct hashcache_key *key, uint32_t h)
{
    for (uint32_t i = h & hc->mask;; i = (i + 1) & hc->mask) {
        const struct hc_slot *s = &hc->slots[i];
        if (!s->idx1)
            return NIL;
        if (s->hash == h && key_eq(&hc->entries[s->idx1 - 1].key, key))
            return i;
    }
}

static void table_insert(struct hashcache *hc, uint32_t h, uint32_t idx)
{
    uint32_t i = h & hc->mask;

    while (hc->slots[i].idx1)
        i = (i + 1) & hc->mask;
    hc->slots[i].hash = h;
    hc->slots[i].idx1 = idx + 1;
}

/* Empties slot i and moves later entries of its probe run back, so that
 * every entry stays reachable from its home slot without tombstones. */
static void table_delete_slot(struct hashcache *hc, uint32_t i)
{
    uint32_t j = i;

    for (;;) {
        j = (j + 1) & hc->mask;
        if (!hc->slots[j].idx1)
            break;
        uint32_t home = hc->slots[j].hash & hc->mask;
        /* slot j may move to i when its home is not in the cyclic range (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            hc->slots[i] = hc->slots[j];
            i = j;
        }
    }
    hc->slots[i].hash = 0;
    hc->slots[i].idx1 = 0;
}

static void lru_unlink(struct hashcache *hc, uint32_t idx)
{
    struct hc_entry *e = &hc->entries[idx];

    if (e->newer != NIL)
        hc->entries[e->newer].older = e->older;
    else
        hc->newest = e->older;
    if (e->older != NIL)
        hc->entries[e->older].newer = e->newer;
    else
        hc->oldest = e->newer;
}

static void lru_push_newest(struct hashcache *hc, uint32_t idx)
{
    struct hc_entry *e = &hc->entries[idx];

    e->newer = NIL;
    e->older = hc->newest;
    if (hc->newest != NIL)
        hc->entries[hc->newest].newer = idx;
    hc->newest = idx;
    if (hc->oldest == NIL)
        hc->oldest = idx;
}

/* Stores a digest for key (known to be absent), evicting the least
 * recently used entry when the cache is full. */
static void cache_put(struct hashcache *hc, const struct hashcache_key *key, uint32_t h,
                      const unsigned char digest[32])
{
    uint32_t idx;

    if (hc->count < hc->max) {
        idx = hc->count++;
    } else {
        idx = hc->oldest;
        struct hc_entry *old = &hc->entries[idx];
        uint32_t slot = table_find(hc, &old->key, key_hash(&old->key));
        if (slot != NIL)
            table_delete_slot(hc, slot);
        lru_unlink(hc, idx);
        hc->st.evictions++;
    }
    hc->entries[idx].key = *key;
    memcpy(hc->entries[idx].digest, digest, 32);
    table_insert(hc, h, idx);
    lru_push_newest(hc, idx);
}

static void to_hex(const unsigned char digest[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

/* ------------------------------------------------------------ hashing a miss */

/* Whether the open file fd is the version `key`: 0, -ESTALE when it is
 * another file or another content, -EISDIR when not a regular file, or
 * -errno of fstat.
 *
 * For a file opened through /proc/<pid>/exe (running = true) the ctime is
 * not compared: that file is the inode the process executed, and the
 * kernel refuses to open a running image for writing (ETXTBSY), so its
 * content cannot have changed since the exec; its ctime can, though, by
 * metadata changes (unlink, chmod, rename). A program that deletes itself
 * right after starting is exactly the one whose digest matters. A file
 * opened by path is compared in full: once nothing runs it, it could have
 * been rewritten and its mtime set back, which only the ctime shows. */
static int check_identity(int fd, const struct hashcache_key *key, bool running)
{
    struct hashcache_key now;
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EISDIR;
    hashcache_key_from_stat(&st, &now);
    if (running) {
        now.ctime_sec = key->ctime_sec;
        now.ctime_nsec = key->ctime_nsec;
    }
    return key_eq(&now, key) ? 0 : -ESTALE;
}

/* Opens the file version `key`: /proc/pid/exe first, then path. Returns
 * the descriptor (*running says whether it came from /proc), or -errno of
 * the most telling failure. */
static int open_image(struct hashcache *hc, const struct hashcache_key *key, pid_t pid,
                      const char *path, bool *running)
{
    char proc[32];
    int fd, ret = -ENOENT;

    if (pid > 0) {
        snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)pid);
        fd = open(proc, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ret = check_identity(fd, key, true);
            if (ret == 0) {
                *running = true;
                hc->st.from_proc++;
                return fd;
            }
            close(fd); /* pid reused, or the process exec'd again: try the path */
        } else {
            ret = errno == ESRCH ? -ENOENT : -errno;
        }
    }
    if (path && path[0] == '/') {
        struct stat st;
        /* stat first: a path that now names a FIFO or a device must not be
         * opened (open could block or have side effects) */
        if (stat(path, &st) < 0)
            return -errno;
        if (!S_ISREG(st.st_mode))
            return -EISDIR;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
            return -errno;
        ret = check_identity(fd, key, false);
        if (ret == 0) {
            *running = false;
            hc->st.from_path++;
            return fd;
        }
        close(fd);
    }
    return ret;
}

/* SHA-256 of the rest of fd, which must be exactly `size` bytes. Returns 0,
 * -ESTALE when the size differs (the file changed while we read), or
 * -errno. */
static int hash_fd(struct hashcache *hc, int fd, uint64_t size, unsigned char digest[32])
{
    uint64_t total = 0;
    unsigned int len = 0;
    ssize_t n;

    if (!EVP_DigestInit_ex(hc->ctx, hc->sha256, NULL))
        return -ENOMEM;
    for (;;) {
        n = read(fd, hc->buf, READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > size)
            return -ESTALE;
        if (!EVP_DigestUpdate(hc->ctx, hc->buf, (size_t)n))
            return -ENOMEM;
    }
    hc->st.bytes_hashed += total;
    if (total != size)
        return -ESTALE;
    if (!EVP_DigestFinal_ex(hc->ctx, digest, &len) || len != 32)
        return -ENOMEM;
    return 0;
}

static enum hashcache_skip reason_of(int err)
{
    switch (err) {
    case -EFBIG:
        return HASHCACHE_TOO_LARGE;
    case -ENOENT:
    case -ENOTDIR:
    case -ESTALE:
    case -ESRCH:
        return HASHCACHE_VANISHED;
    default:
        return HASHCACHE_UNREADABLE;
    }
}

int hashcache_get(struct hashcache *hc, const struct hashcache_key *key, pid_t pid, const char *path,
                  char out_hex[65], enum hashcache_skip *why)
{
    unsigned char digest[32];
    uint32_t h, slot;
    bool running = false;
    int fd = -1, ret = 0;

    if (out_hex)
        out_hex[0] = '\0';
    if (!hc || !key || !out_hex) {
        ret = -EINVAL;
        goto out;
    }
    if (key->size > hc->max_file) {
        ret = -EFBIG;
        goto out;
    }
    h = key_hash(key);
    slot = table_find(hc, key, h);
    if (slot != NIL) {
        uint32_t idx = hc->slots[slot].idx1 - 1;
        hc->st.hits++;
        if (hc->newest != idx) {
            lru_unlink(hc, idx);
            lru_push_newest(hc, idx);
        }
        to_hex(hc->entries[idx].digest, out_hex);
        goto out;
    }

    hc->st.misses++;
    fd = open_image(hc, key, pid, path, &running);
    if (fd < 0) {
        ret = fd;
        goto out;
    }
    ret = hash_fd(hc, fd, key->size, digest);
    if (ret == 0)
        ret = check_identity(fd, key, running); /* written to while we read? */
    if (ret)
        goto out;
    cache_put(hc, key, h, digest);
    to_hex(digest, out_hex);
out:
    if (fd >= 0)
        close(fd);
    if (ret) {
        enum hashcache_skip r = reason_of(ret);
        if (hc)
            hc->st.skipped[r]++;
        if (why)
            *why = r;
    } else if (why) {
        *why = HASHCACHE_OK;
    }
    return ret;
}
