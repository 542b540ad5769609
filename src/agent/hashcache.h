/*
 * hashcache.h — SHA-256 of executed images, computed once per file version.
 *
 * Every exec event carries `SHA256` of the image. Hashing is expensive and
 * the same few hundred binaries run over and over, so digests are cached
 * under the identity the kernel reports with every exec: device, inode,
 * size, modification and change time (with nanoseconds). Any write to a
 * file changes its ctime, which no one can set, so a cached digest belongs
 * to exactly one content of one file. A hit is one hash-table lookup: no
 * system call, no allocation.
 *
 * On a miss the file is opened as /proc/<pid>/exe — exactly the file the
 * process executed, even when it was deleted, replaced or is a memfd — or,
 * when that fails (the process exited, or exec'd again), by its path. The
 * opened file's identity is compared with the key before and after
 * hashing; when it differs the file the event is about is no longer there
 * and nothing is cached. (Through /proc the ctime is left out of that
 * comparison: a running image cannot be written to, and a program that
 * unlinks itself changes only its ctime; see check_identity().) The three
 * reasons a digest can be missing are those of `SHA256Skipped` in
 * docs/events.md.
 *
 * The cache holds at most max_entries digests (least recently used ones
 * are evicted). Its memory is allocated once, at hashcache_new(). A struct
 * hashcache is not thread-safe: one thread (the enrichment stage) owns it.
 */
#ifndef YAMORI_AGENT_HASHCACHE_H
#define YAMORI_AGENT_HASHCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "sensor_abi.h"

#define HASHCACHE_DEFAULT_ENTRIES 8192u
#define HASHCACHE_DEFAULT_MAX_FILE (256ull << 20)

/* A file version, as struct ys_exec (bpf/sensor_abi.h) carries it. */
struct hashcache_key {
    uint64_t ino;
    uint64_t size;
    int64_t mtime_sec, ctime_sec;
    uint32_t mtime_nsec, ctime_nsec;
    uint32_t dev;   /* the kernel's encoding, MAJOR << 20 | MINOR, as in ys_exec */
    uint32_t pad;   /* ignored */
};

enum hashcache_skip {
    HASHCACHE_OK = 0,
    HASHCACHE_TOO_LARGE,    /* larger than the configured maximum: not hashed */
    HASHCACHE_UNREADABLE,   /* could not be opened or read (permissions, I/O error, not a file) */
    HASHCACHE_VANISHED,     /* gone, or replaced by a different file */
    HASHCACHE_SKIP_MAX
};

struct hashcache_stats {
    uint64_t hits;          /* answered from the cache */
    uint64_t misses;        /* had to open the file (whatever came of it) */
    uint64_t bytes_hashed;
    uint64_t evictions;
    uint64_t from_proc;     /* misses served through /proc/<pid>/exe */
    uint64_t from_path;     /* misses served through the path */
    uint64_t skipped[HASHCACHE_SKIP_MAX]; /* by reason; [HASHCACHE_OK] stays 0 */
    uint64_t entries;
    uint64_t max_entries;
    uint64_t memory_bytes;  /* allocated by the cache (pages are touched as it fills) */
};

struct hashcache;

/* Creates a cache of at most max_entries digests (0: 8192; at most 2^24)
 * that does not hash files larger than max_file_bytes (0: 256 MiB).
 * Returns 0 and stores the cache in *out (free with hashcache_free()), or
 * -ENOMEM / -EINVAL. */
int hashcache_new(struct hashcache **out, size_t max_entries, uint64_t max_file_bytes);

/* The SHA-256 of the file version `key`, as 64 lowercase hex digits and a
 * NUL in out_hex. `pid` is the process that executed it (0 or negative:
 * none; then only `path` is tried); `path` is the image path (may be NULL).
 * Returns 0 and sets *why (if why is not NULL) to HASHCACHE_OK. Otherwise
 * out_hex is "" and *why says why, and the return value is:
 *   -EFBIG                    HASHCACHE_TOO_LARGE (decided from key->size,
 *                             without touching the file)
 *   -ENOENT, -ESTALE          HASHCACHE_VANISHED (gone / replaced: the
 *                             identity of what could be opened differs)
 *   other -errno              HASHCACHE_UNREADABLE (-EACCES, -EIO, -EISDIR
 *                             for a non-regular file, -EINVAL for missing
 *                             arguments, -ENOMEM when OpenSSL fails)
 * Only digests of files whose identity matched the key before and after
 * hashing are cached. */
int hashcache_get(struct hashcache *hc, const struct hashcache_key *key, pid_t pid, const char *path,
                  char out_hex[65], enum hashcache_skip *why);

/* Fills key from a stat(2) result (converting st_dev to the kernel's
 * encoding). */
void hashcache_key_from_stat(const struct stat *st, struct hashcache_key *key);

/* Fills key from an exec record's image identity. */
static inline void hashcache_key_from_exec(const struct ys_exec *e, struct hashcache_key *key)
{
    key->ino = e->ino;
    key->size = e->size;
    key->mtime_sec = e->mtime_sec;
    key->mtime_nsec = e->mtime_nsec;
    key->ctime_sec = e->ctime_sec;
    key->ctime_nsec = e->ctime_nsec;
    key->dev = e->dev;
    key->pad = 0;
}

/* "too-large", "unreadable", "vanished" (the values of SHA256Skipped), or
 * NULL for HASHCACHE_OK. */
const char *hashcache_skip_name(enum hashcache_skip why);

void hashcache_get_stats(const struct hashcache *hc, struct hashcache_stats *out);

/* Frees the cache. Accepts NULL. */
void hashcache_free(struct hashcache *hc);

#endif
