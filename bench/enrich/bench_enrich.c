/*
 * bench_enrich.c — how fast and how big the exec enrichers are.
 *
 *   bench_enrich [ADMINDIR]      (default /var/lib/dpkg)
 *
 * Prints, for this machine's dpkg database: the package index build time
 * (best and median of several builds), its entries and memory, the
 * process's resident memory around the first build, and pkgdb_owner()
 * lookups per second for owned paths (the executables of /usr/bin,
 * /usr/sbin, /usr/lib/...) and for unowned ones. Then, for the hash cache:
 * the cold hashing rate over the first files of /usr/bin and hits per
 * second once they are cached. Figures, not pass/fail: see docs/ for the
 * budgets they are compared with.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/hashcache.h"
#include "agent/pkgdb.h"

#define BUILDS 7
#define MAX_PATHS 8192
#define HASH_FILES 256
#define RUN_NS 1000000000ull

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* VmRSS or VmHWM of this process in KiB, 0 when unknown. */
static long status_kib(const char *field)
{
    char line[256];
    size_t fl = strlen(field);
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            kib = strtol(line + fl + 1, NULL, 10);
    fclose(f);
    return kib;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Appends the regular files of dir (resolved: the canonical form) to
 * paths. */
static void collect(const char *dir, char **paths, size_t *n, size_t max)
{
    char path[PATH_MAX], real[PATH_MAX];
    struct dirent *de;
    DIR *d = opendir(dir);

    if (!d)
        return;
    while ((de = readdir(d)) != NULL && *n < max) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (!realpath(path, real) || stat(real, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        paths[*n] = strdup(real);
        if (paths[*n])
            (*n)++;
    }
    closedir(d);
}

/* Lookups per second of pkgdb_owner over paths[0..n), and how many were
 * owned. */
static double lookup_rate(struct pkgdb *db, char **paths, size_t n, size_t *owned)
{
    uint64_t start = now_ns(), elapsed, lookups = 0;
    volatile size_t sink = 0;

    *owned = 0;
    for (size_t i = 0; i < n; i++)
        if (pkgdb_owner(db, paths[i]))
            (*owned)++;
    do {
        for (size_t i = 0; i < n; i++)
            sink += pkgdb_owner(db, paths[i]) != NULL;
        lookups += n;
        elapsed = now_ns() - start;
    } while (elapsed < RUN_NS);
    (void)sink;
    return (double)lookups * 1e9 / (double)elapsed;
}

static int bench_pkgdb(const char *admindir)
{
    uint64_t times[BUILDS];
    struct pkgdb_stats st;
    struct pkgdb *db = NULL;
    char err[512];
    char **paths = NULL, **misses = NULL;
    size_t n = 0, nmiss = 0, owned = 0;
    long rss0, rss1, hwm;
    int ret = 0;

    rss0 = status_kib("VmRSS");
    ret = pkgdb_open(&db, admindir, err, sizeof(err));
    if (ret) {
        fprintf(stderr, "bench_enrich: %s\n", err);
        goto out;
    }
    rss1 = status_kib("VmRSS");
    hwm = status_kib("VmHWM");
    pkgdb_get_stats(db, &st);
    times[0] = st.build_ns;
    for (int i = 1; i < BUILDS; i++) {
        struct pkgdb *again = NULL;
        struct pkgdb_stats s2;
        ret = pkgdb_open(&again, admindir, err, sizeof(err));
        if (ret) {
            fprintf(stderr, "bench_enrich: %s\n", err);
            goto out;
        }
        pkgdb_get_stats(again, &s2);
        times[i] = s2.build_ns;
        pkgdb_free(again);
    }
    qsort(times, BUILDS, sizeof(times[0]), cmp_u64);

    printf("pkgdb: %s\n", admindir);
    printf("  packages            %llu (.list files), %llu lines, %llu diversions, %u top-level links\n",
           (unsigned long long)st.packages, (unsigned long long)st.lines,
           (unsigned long long)st.diversions, st.canon_links);
    printf("  entries             %llu (%llu directories dropped)\n", (unsigned long long)st.entries,
           (unsigned long long)st.dirs_dropped);
    printf("  index memory        %.2f MiB (%.1f bytes/entry)\n", (double)st.memory_bytes / 1048576.0,
           st.entries ? (double)st.memory_bytes / (double)st.entries : 0.0);
    printf("  build time          best %.1f ms, median %.1f ms (%d builds)\n", (double)times[0] / 1e6,
           (double)times[BUILDS / 2] / 1e6, BUILDS);
    printf("  process RSS         %.1f MiB before the first build, %.1f MiB after, peak %.1f MiB\n",
           (double)rss0 / 1024.0, (double)rss1 / 1024.0, (double)hwm / 1024.0);

    paths = calloc(MAX_PATHS, sizeof(*paths));
    misses = calloc(MAX_PATHS, sizeof(*misses));
    if (!paths || !misses) {
        ret = -ENOMEM;
        goto out;
    }
    collect("/usr/bin", paths, &n, MAX_PATHS);
    collect("/usr/sbin", paths, &n, MAX_PATHS);
    collect("/usr/lib/x86_64-linux-gnu", paths, &n, MAX_PATHS);
    for (size_t i = 0; i < n; i++) {
        char m[PATH_MAX];
        snprintf(m, sizeof(m), "/tmp/.x%zu/%s", i, strrchr(paths[i], '/') + 1);
        misses[nmiss] = strdup(m);
        if (misses[nmiss])
            nmiss++;
    }
    if (n) {
        double r = lookup_rate(db, paths, n, &owned);
        printf("  owner lookups       %.1f M/s over %zu system files (%zu owned)\n", r / 1e6, n, owned);
        r = lookup_rate(db, misses, nmiss, &owned);
        printf("  unowned lookups     %.1f M/s over %zu paths (%zu owned)\n", r / 1e6, nmiss, owned);
    }
out:
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    for (size_t i = 0; misses && i < nmiss; i++)
        free(misses[i]);
    free(paths);
    free(misses);
    pkgdb_free(db);
    return ret;
}

static int bench_hashcache(void)
{
    struct hashcache_key *keys = NULL;
    struct hashcache_stats st;
    struct hashcache *hc = NULL;
    char **paths = NULL, hex[65];
    size_t n = 0, ok = 0;
    uint64_t start, elapsed, gets = 0;
    int ret = 0;

    paths = calloc(HASH_FILES, sizeof(*paths));
    keys = calloc(HASH_FILES, sizeof(*keys));
    if (!paths || !keys) {
        ret = -ENOMEM;
        goto out;
    }
    collect("/usr/bin", paths, &n, HASH_FILES);
    ret = hashcache_new(&hc, 0, 0);
    if (ret)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) == 0)
            hashcache_key_from_stat(&sb, &keys[i]);
    }

    start = now_ns();
    for (size_t i = 0; i < n; i++)
        if (hashcache_get(hc, &keys[i], 0, paths[i], hex, NULL) == 0)
            ok++;
    elapsed = now_ns() - start;
    hashcache_get_stats(hc, &st);
    printf("hashcache:\n");
    printf("  cold                %zu files of /usr/bin, %zu hashed, %.1f MiB at %.0f MiB/s (page cache warm or not)\n",
           n, ok, (double)st.bytes_hashed / 1048576.0,
           elapsed ? (double)st.bytes_hashed / 1048576.0 / ((double)elapsed / 1e9) : 0.0);

    start = now_ns();
    do {
        for (size_t i = 0; i < n; i++)
            hashcache_get(hc, &keys[i], 0, paths[i], hex, NULL);
        gets += n;
        elapsed = now_ns() - start;
    } while (elapsed < RUN_NS && n);
    hashcache_get_stats(hc, &st);
    printf("  hits                %.1f M/s (%llu hits, %llu misses in all)\n",
           elapsed ? (double)gets * 1e9 / (double)elapsed / 1e6 : 0.0, (unsigned long long)st.hits,
           (unsigned long long)st.misses);
    printf("  memory              %.2f MiB for %llu entries at most\n", (double)st.memory_bytes / 1048576.0,
           (unsigned long long)st.max_entries);
out:
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
    free(keys);
    hashcache_free(hc);
    return ret;
}

int main(int argc, char **argv)
{
    const char *admindir = argc > 1 ? argv[1] : "/var/lib/dpkg";
    int ret = bench_pkgdb(admindir);

    if (bench_hashcache() != 0)
        ret = -1;
    return ret ? 1 : 0;
}
