/*
 * test_hashcache.c — SHA-256 of executed images and its cache.
 *
 * Files are written by the test in a temporary directory; expected digests
 * are published test vectors or computed here with a one-shot EVP_Digest
 * over the bytes written. That a hit does not read the file is shown by
 * changing the file's bytes while presenting the old key. The /proc path
 * is exercised with a child running a copy of sleep(1) that the test
 * deletes once the child has started.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, pipe2 */
#endif
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/hashcache.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

struct tmpdir {
    char path[64];
};

static int tmpdir_make(struct tmpdir *t)
{
    snprintf(t->path, sizeof(t->path), "/tmp/yamori-hashcache.XXXXXX");
    if (!mkdtemp(t->path)) {
        t->path[0] = '\0';
        return -errno;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void tmpdir_remove(struct tmpdir *t)
{
    if (t->path[0])
        nftw(t->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    t->path[0] = '\0';
}

/* Writes len bytes to dir/name (replacing the content in place, keeping
 * the inode when the file exists); path gets the full name. */
static int put(const struct tmpdir *t, const char *name, const void *data, size_t len, char path[PATH_MAX])
{
    const char *p = data;
    int fd;

    snprintf(path, PATH_MAX, "%s/%s", t->path, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            close(fd);
            return -EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd) == 0 ? 0 : -errno;
}

static int key_of(const char *path, struct hashcache_key *key)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    hashcache_key_from_stat(&st, key);
    return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Runs body with a fresh temporary directory and removes it afterwards,
 * whatever body's CHECKs did. */
static void with_tmpdir(void (*body)(struct tmpdir *t))
{
    struct tmpdir t;
    int ret = tmpdir_make(&t);

    if (ret) {
        check_fail_(__FILE__, __LINE__, "mkdtemp: %s", strerror(-ret));
        return;
    }
    body(&t);
    tmpdir_remove(&t);
}

/* ------------------------------------------------------------ cases */

static void known_digests_body(struct tmpdir *t, struct hashcache *hc)
{
    char path[PATH_MAX], hex[65];
    struct hashcache_key key;
    struct hashcache_stats st;
    enum hashcache_skip why = HASHCACHE_VANISHED;
    char *million;

    CHECK(put(t, "abc", "abc", 3, path) == 0);
    CHECK(key_of(path, &key) == 0);
    CHECK_INT(hashcache_get(hc, &key, 0, path, hex, &why), ==, 0);
    CHECK_INT(why, ==, HASHCACHE_OK);
    CHECK_STR(hex, SHA_ABC);

    CHECK(put(t, "empty", "", 0, path) == 0);
    CHECK(key_of(path, &key) == 0);
    CHECK_INT(hashcache_get(hc, &key, 0, path, hex, &why), ==, 0);
    CHECK_STR(hex, SHA_EMPTY);

    /* larger than the read chunk */
    million = malloc(1000000);
    CHECK(million);
    memset(million, 'a', 1000000);
    int ret = put(t, "million", million, 1000000, path);
    free(million);
    CHECK(ret == 0);
    CHECK(key_of(path, &key) == 0);
    CHECK_INT(hashcache_get(hc, &key, 0, path, hex, NULL), ==, 0);
    CHECK_STR(hex, SHA_MILLION_A);

    hashcache_get_stats(hc, &st);
    CHECK_INT(st.misses, ==, 3);
    CHECK_INT(st.hits, ==, 0);
    CHECK_INT(st.bytes_hashed, ==, 1000003);
    CHECK_INT(st.from_path, ==, 3);
    CHECK_INT(st.entries, ==, 3);
}

static void known_digests_run(struct tmpdir *t)
{
    struct hashcache *hc = NULL;

    if (hashcache_new(&hc, 0, 0) != 0) {
        check_fail_(__FILE__, __LINE__, "hashcache_new failed");
        return;
    }
    known_digests_body(t, hc);
    hashcache_free(hc);
}

static void known_digests(void)
{
    with_tmpdir(known_digests_run);
}

static void hit_does_not_read_body(struct tmpdir *t, struct hashcache *hc)
{
    char path[PATH_MAX], hex[65], want[65];
    struct hashcache_key k1, k2;
    struct hashcache_stats st;
    struct timespec times[2];
    struct stat sb;

    CHECK(put(t, "f", "abc", 3, path) == 0);
    CHECK(key_of(path, &k1) == 0);
    CHECK_INT(hashcache_get(hc, &k1, 0, path, hex, NULL), ==, 0);
    CHECK_STR(hex, SHA_ABC);

    /* same inode, new bytes, same size; the old key still gets the old
     * digest: the file was not read again */
    CHECK(put(t, "f", "xyz", 3, path) == 0);
    CHECK_INT(hashcache_get(hc, &k1, 0, path, hex, NULL), ==, 0);
    CHECK_STR(hex, SHA_ABC);
    hashcache_get_stats(hc, &st);
    CHECK_INT(st.hits, ==, 1);
    CHECK_INT(st.misses, ==, 1);
    CHECK_INT(st.bytes_hashed, ==, 3);

    /* the key the kernel reports for the new content (the mtime is set
     * explicitly so that it differs even on a coarse clock) */
    CHECK(stat(path, &sb) == 0);
    times[0] = sb.st_atim;
    times[1].tv_sec = sb.st_mtim.tv_sec + 10;
    times[1].tv_nsec = 0;
    CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);
    CHECK(key_of(path, &k2) == 0);
    CHECK(k2.mtime_sec != k1.mtime_sec);
    CHECK_INT(hashcache_get(hc, &k2, 0, path, hex, NULL), ==, 0);
    sha256_hex("xyz", 3, want);
    CHECK_STR(hex, want);
    hashcache_get_stats(hc, &st);
    CHECK_INT(st.misses, ==, 2);
    CHECK_INT(st.bytes_hashed, ==, 6);
    CHECK_INT(st.entries, ==, 2);
}

static void hit_does_not_read_run(struct tmpdir *t)
{
    struct hashcache *hc = NULL;

    if (hashcache_new(&hc, 0, 0) != 0) {
        check_fail_(__FILE__, __LINE__, "hashcache_new failed");
        return;
    }
    hit_does_not_read_body(t, hc);
    hashcache_free(hc);
}

static void hit_does_not_read(void)
{
    with_tmpdir(hit_does_not_read_run);
}

#define NFILES 96
#define SMALL_CACHE 16

/* Files f0..f(NFILES-1) with distinct contents, and their keys. */
static int make_files(struct tmpdir *t, struct hashcache_key keys[NFILES], char paths[NFILES][PATH_MAX])
{
    for (int i = 0; i < NFILES; i++) {
        char name[16], body[32];
        int n = snprintf(body, sizeof(body), "file number %d\n", i);
        snprintf(name, sizeof(name), "f%d", i);
        if (put(t, name, body, (size_t)n, paths[i]) != 0 || key_of(paths[i], &keys[i]) != 0)
            return -EIO;
    }
    return 0;
}

static void lru_eviction_body(struct tmpdir *t, struct hashcache *hc, struct hashcache_key *keys,
                              char (*paths)[PATH_MAX])
{
    struct hashcache_stats st;
    char hex[65], want[65], body[32];
    uint64_t model_time[NFILES] = { 0 }; /* a reference LRU: last use, 0 = not cached */
    uint64_t clock = 0, hits = 0, misses = 0, evictions = 0;
    unsigned seed = 12345;

    CHECK(make_files(t, keys, paths) == 0);

    /* the plain case first: a, b, a, c in a cache of two evicts b */
    struct hashcache *two = NULL;
    CHECK(hashcache_new(&two, 2, 0) == 0);
    int r = hashcache_get(two, &keys[0], 0, paths[0], hex, NULL);
    r |= hashcache_get(two, &keys[1], 0, paths[1], hex, NULL);
    r |= hashcache_get(two, &keys[0], 0, paths[0], hex, NULL);
    r |= hashcache_get(two, &keys[2], 0, paths[2], hex, NULL);
    r |= hashcache_get(two, &keys[0], 0, paths[0], hex, NULL); /* hit */
    r |= hashcache_get(two, &keys[1], 0, paths[1], hex, NULL); /* miss: was evicted */
    hashcache_get_stats(two, &st);
    hashcache_free(two);
    CHECK_INT(r, ==, 0);
    CHECK_INT(st.hits, ==, 2);
    CHECK_INT(st.misses, ==, 4);
    CHECK_INT(st.evictions, ==, 2);
    CHECK_INT(st.entries, ==, 2);

    /* then many random accesses against the reference model */
    for (int step = 0; step < 5000; step++) {
        seed = seed * 1103515245u + 12345u;
        /* skewed: a few hot files, a long tail */
        int i = (int)((seed >> 16) % NFILES);
        if ((seed >> 8) & 1)
            i %= 12;
        int n = snprintf(body, sizeof(body), "file number %d\n", i);
        sha256_hex(body, (size_t)n, want);
        CHECK_INT(hashcache_get(hc, &keys[i], 0, paths[i], hex, NULL), ==, 0);
        CHECK_STR(hex, want);

        clock++;
        if (model_time[i]) {
            hits++;
        } else {
            int cached = 0, oldest = -1;
            misses++;
            for (int j = 0; j < NFILES; j++) {
                if (!model_time[j])
                    continue;
                cached++;
                if (oldest < 0 || model_time[j] < model_time[oldest])
                    oldest = j;
            }
            if (cached == SMALL_CACHE) {
                model_time[oldest] = 0;
                evictions++;
            }
        }
        model_time[i] = clock;
    }
    hashcache_get_stats(hc, &st);
    CHECK_INT(st.hits, ==, hits);
    CHECK_INT(st.misses, ==, misses);
    CHECK_INT(st.evictions, ==, evictions);
    CHECK_INT(st.entries, ==, SMALL_CACHE);
    CHECK(evictions > 100 && hits > 100);
}

static void lru_eviction_run(struct tmpdir *t)
{
    struct hashcache_key *keys = calloc(NFILES, sizeof(*keys));
    char (*paths)[PATH_MAX] = calloc(NFILES, PATH_MAX);
    struct hashcache *hc = NULL;

    if (!keys || !paths || hashcache_new(&hc, SMALL_CACHE, 0) != 0)
        check_fail_(__FILE__, __LINE__, "out of memory");
    else
        lru_eviction_body(t, hc, keys, paths);
    hashcache_free(hc);
    free(keys);
    free(paths);
}

static void lru_eviction(void)
{
    with_tmpdir(lru_eviction_run);
}

#define SKIPS_CAP 8192

static void skips_body(struct tmpdir *t, struct hashcache *hc)
{
    char path[PATH_MAX], hex[65] = "x", fifo[PATH_MAX];
    struct hashcache_key key, bad;
    struct hashcache_stats st;
    enum hashcache_skip why = HASHCACHE_OK;

    static char big[SKIPS_CAP + 1];

    /* too large: decided from the key, the file is not even opened */
    memset(big, 'b', sizeof(big));
    CHECK(put(t, "big", big, SKIPS_CAP + 1, path) == 0);
    CHECK(key_of(path, &key) == 0);
    CHECK(unlink(path) == 0);
    CHECK_INT(hashcache_get(hc, &key, 0, path, hex, &why), ==, -EFBIG);
    CHECK_INT(why, ==, HASHCACHE_TOO_LARGE);
    CHECK_STR(hex, "");
    CHECK_STR(hashcache_skip_name(why), "too-large");
    CHECK(put(t, "fits", big, SKIPS_CAP, path) == 0);
    CHECK(key_of(path, &key) == 0);
    CHECK_INT(hashcache_get(hc, &key, 0, path, hex, &why), ==, 0);
    CHECK_INT(why, ==, HASHCACHE_OK);

    /* vanished: the file at the path is not the version of the key */
    bad = key;
    bad.ctime_nsec = (key.ctime_nsec + 1) % 1000000000u;
    CHECK_INT(hashcache_get(hc, &bad, 0, path, hex, &why), ==, -ESTALE);
    CHECK_INT(why, ==, HASHCACHE_VANISHED);
    CHECK_STR(hashcache_skip_name(why), "vanished");
    bad = key;
    bad.ino++;
    CHECK_INT(hashcache_get(hc, &bad, 0, path, hex, &why), ==, -ESTALE);
    bad = key;
    bad.dev ^= 1;
    CHECK_INT(hashcache_get(hc, &bad, 0, path, hex, &why), ==, -ESTALE);
    hashcache_get_stats(hc, &st);
    CHECK_INT(st.entries, ==, 1); /* nothing cached under a key that did not match */
    bad = key;
    bad.ino++;
    CHECK_INT(hashcache_get(hc, &bad, 0, path, hex, &why), ==, -ESTALE); /* still not */

    /* vanished: gone, and no process to ask */
    CHECK(unlink(path) == 0);
    CHECK_INT(hashcache_get(hc, &bad, 0, path, hex, &why), ==, -ENOENT);
    CHECK_INT(why, ==, HASHCACHE_VANISHED);
    CHECK_INT(hashcache_get(hc, &bad, 0, NULL, hex, &why), ==, -ENOENT);
    CHECK_INT(why, ==, HASHCACHE_VANISHED);
    /* ...but the version we had hashed is still known */
    CHECK_INT(hashcache_get(hc, &key, 0, path, hex, &why), ==, 0);

    /* unreadable: a directory; a FIFO is refused without opening it (an
     * open would block this test forever) */
    CHECK(key_of(t->path, &key) == 0);
    CHECK(key.size <= SKIPS_CAP);
    CHECK_INT(hashcache_get(hc, &key, 0, t->path, hex, &why), ==, -EISDIR);
    CHECK_INT(why, ==, HASHCACHE_UNREADABLE);
    CHECK_STR(hashcache_skip_name(why), "unreadable");
    snprintf(fifo, sizeof(fifo), "%s/fifo", t->path);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(key_of(fifo, &key) == 0);
    CHECK_INT(hashcache_get(hc, &key, 0, fifo, hex, &why), ==, -EISDIR);
    CHECK_INT(why, ==, HASHCACHE_UNREADABLE);
    CHECK_INT(hashcache_get(hc, NULL, 0, fifo, hex, &why), ==, -EINVAL);

    hashcache_get_stats(hc, &st);
    CHECK_INT(st.skipped[HASHCACHE_TOO_LARGE], ==, 1);
    CHECK_INT(st.skipped[HASHCACHE_VANISHED], ==, 6);
    CHECK_INT(st.skipped[HASHCACHE_UNREADABLE], ==, 3);
    CHECK_INT(st.skipped[HASHCACHE_OK], ==, 0);
    CHECK(hashcache_skip_name(HASHCACHE_OK) == NULL);
}

static void skips_run(struct tmpdir *t)
{
    struct hashcache *hc = NULL;

    if (hashcache_new(&hc, 8, SKIPS_CAP) != 0) {
        check_fail_(__FILE__, __LINE__, "hashcache_new failed");
        return;
    }
    skips_body(t, hc);
    hashcache_free(hc);
}

static void skips(void)
{
    with_tmpdir(skips_run);
}

/* Copies src to dst (mode 0755). Returns 0 or -errno; *data gets the
 * bytes (to be freed), *len their count. */
static int copy_exe(const char *src, const char *dst, char **data, size_t *len)
{
    struct stat st;
    ssize_t n;
    int fd = open(src, O_RDONLY | O_CLOEXEC), out, ret = 0;

    *data = NULL;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !(*data = malloc((size_t)st.st_size + 1))) {
        close(fd);
        return -ENOMEM;
    }
    n = read(fd, *data, (size_t)st.st_size + 1);
    close(fd);
    if (n != st.st_size)
        return -EIO;
    *len = (size_t)n;
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    if (out < 0)
        return -errno;
    if (write(out, *data, *len) != (ssize_t)*len)
        ret = -EIO;
    if (close(out) < 0)
        ret = -errno;
    return ret;
}

/* Starts `exe 30` and returns its pid once it has exec'd (a close-on-exec
 * pipe closes exactly then), or -errno. */
static pid_t start_child(const char *exe)
{
    int pfd[2], err = 0;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -errno;
    }
    if (pid == 0) {
        close(pfd[0]);
        execl(exe, exe, "30", (char *)NULL);
        err = errno;
        if (write(pfd[1], &err, sizeof(err)) < 0)
            _exit(126);
        _exit(127);
    }
    close(pfd[1]);
    if (read(pfd[0], &err, sizeof(err)) == (ssize_t)sizeof(err)) {
        close(pfd[0]);
        waitpid(pid, NULL, 0);
        return -err;
    }
    close(pfd[0]);
    return pid;
}

static void proc_exe_body(struct tmpdir *t, pid_t *child, char **data)
{
    char exe[PATH_MAX], proc[64], hex[65], want[65];
    struct hashcache *hc = NULL;
    struct hashcache_key key;
    struct hashcache_stats st;
    enum hashcache_skip why = HASHCACHE_OK;
    size_t len = 0;
    int ret;

    snprintf(exe, sizeof(exe), "%s/sleeper", t->path);
    ret = copy_exe("/usr/bin/sleep", exe, data, &len);
    if (ret == -ENOENT)
        SKIP("no /usr/bin/sleep to run");
    CHECK_MSG(ret == 0, "copying sleep: %s", strerror(-ret));
    sha256_hex(*data, len, want);
    *child = start_child(exe);
    CHECK_MSG(*child > 0, "starting the child: %s", strerror((int)-*child));

    /* the image is deleted once the process runs: only /proc still has it */
    snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)*child);
    CHECK(key_of(proc, &key) == 0);
    CHECK_INT(key.size, ==, len);
    CHECK(unlink(exe) == 0);
    CHECK(access(exe, F_OK) != 0);

    CHECK(hashcache_new(&hc, 0, 0) == 0);
    ret = hashcache_get(hc, &key, *child, exe, hex, &why);
    hashcache_get_stats(hc, &st);
    hashcache_free(hc);
    hc = NULL;
    CHECK_MSG(ret == 0, "get: %d (%s)", ret, hashcache_skip_name(why));
    CHECK_STR(hex, want);
    CHECK_INT(st.from_proc, ==, 1);
    CHECK_INT(st.from_path, ==, 0);

    /* once the process is gone (and reaped), its deleted image is gone */
    kill(*child, SIGKILL);
    waitpid(*child, NULL, 0);
    pid_t dead = *child;
    *child = 0;
    CHECK(hashcache_new(&hc, 0, 0) == 0);
    ret = hashcache_get(hc, &key, dead, exe, hex, &why);
    hashcache_free(hc);
    CHECK_INT(ret, ==, -ENOENT);
    CHECK_INT(why, ==, HASHCACHE_VANISHED);
}

static void proc_exe_run(struct tmpdir *t)
{
    char *data = NULL;
    pid_t child = 0;

    proc_exe_body(t, &child, &data);
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    free(data);
}

/* A process running a file the test deletes: /proc/<pid>/exe is the only
 * way to the bytes it runs. */
static void proc_exe_deleted(void)
{
    with_tmpdir(proc_exe_run);
}

static void path_fallback_body(struct tmpdir *t, char **data)
{
    char exe[PATH_MAX], proc[64], hex[65], want[65];
    struct hashcache *hc = NULL;
    struct hashcache_key key;
    struct hashcache_stats st;
    size_t len = 0;
    pid_t child;
    int ret;

    snprintf(exe, sizeof(exe), "%s/sleeper", t->path);
    ret = copy_exe("/usr/bin/sleep", exe, data, &len);
    if (ret == -ENOENT)
        SKIP("no /usr/bin/sleep to run");
    CHECK_MSG(ret == 0, "copying sleep: %s", strerror(-ret));
    sha256_hex(*data, len, want);
    child = start_child(exe);
    CHECK_MSG(child > 0, "starting the child: %s", strerror((int)-child));
    snprintf(proc, sizeof(proc), "/proc/%d/exe", (int)child);
    ret = key_of(proc, &key);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(ret == 0);

    /* the process exited, its image is still there */
    CHECK(hashcache_new(&hc, 0, 0) == 0);
    ret = hashcache_get(hc, &key, child, exe, hex, NULL);
    hashcache_get_stats(hc, &st);
    hashcache_free(hc);
    CHECK_INT(ret, ==, 0);
    CHECK_STR(hex, want);
    CHECK_INT(st.from_proc, ==, 0);
    CHECK_INT(st.from_path, ==, 1);
}

static void path_fallback_run(struct tmpdir *t)
{
    char *data = NULL;

    path_fallback_body(t, &data);
    free(data);
}

static void proc_exe_exited(void)
{
    with_tmpdir(path_fallback_run);
}

/* /proc/self/exe is the test binary: a pid whose image is another file
 * (pid reused, or exec'd again) falls back to the path. */
static void proc_exe_other_image_body(struct tmpdir *t)
{
    char path[PATH_MAX], hex[65];
    struct hashcache *hc = NULL;
    struct hashcache_key key;
    struct hashcache_stats st;
    int ret;

    CHECK(put(t, "abc", "abc", 3, path) == 0);
    CHECK(key_of(path, &key) == 0);
    CHECK(hashcache_new(&hc, 0, 0) == 0);
    ret = hashcache_get(hc, &key, getpid(), path, hex, NULL);
    hashcache_get_stats(hc, &st);
    hashcache_free(hc);
    CHECK_INT(ret, ==, 0);
    CHECK_STR(hex, SHA_ABC);
    CHECK_INT(st.from_path, ==, 1);
    CHECK_INT(st.from_proc, ==, 0);
}

static void proc_exe_other_image(void)
{
    with_tmpdir(proc_exe_other_image_body);
}

static void key_encoding(void)
{
    struct hashcache_key key;
    struct stat st;

    memset(&st, 0, sizeof(st));
    st.st_dev = makedev(259, 3);
    hashcache_key_from_stat(&st, &key);
    CHECK_INT(key.dev, ==, (259u << 20) | 3u);
}

static void bad_arguments(void)
{
    struct hashcache *hc = NULL;

    CHECK_INT(hashcache_new(&hc, (size_t)1 << 30, 0), ==, -EINVAL);
    CHECK(hc == NULL);
    hashcache_free(NULL);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        { "known_digests", known_digests },
        { "hit_does_not_read", hit_does_not_read },
        { "lru_eviction", lru_eviction },
        { "skips", skips },
        { "proc_exe_deleted", proc_exe_deleted },
        { "proc_exe_exited", proc_exe_exited },
        { "proc_exe_other_image", proc_exe_other_image },
        { "key_encoding", key_encoding },
        { "bad_arguments", bad_arguments },
        { NULL, NULL },
    };
    return check_main("hashcache", cases, argc, argv);
}
