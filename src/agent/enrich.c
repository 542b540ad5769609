/*
 * enrich.c — see enrich.h.
 */
#include "agent/enrich.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/hashcache.h"
#include "agent/pkgdb.h"
#include "common/log.h"

struct enrich {
    struct pkgdb *pkgdb;
    struct hashcache *hashes;
    uint64_t pkg_lookups;
};

static int image_hash(void *ctx, const struct ys_exec *rec, const char *path, char out[65], const char **skip)
{
    struct enrich *en = ctx;
    struct hashcache_key key;
    enum hashcache_skip why = HASHCACHE_OK;
    int e;

    hashcache_key_from_exec(rec, &key);
    e = hashcache_get(en->hashes, &key, (pid_t)rec->h.task.tgid, path, out, &why);
    if (why == HASHCACHE_VANISHED && rec->h.task.ppid > 1) {
        /* gone already; its path means something else from our mount
         * namespace when it ran in a container: the parent, usually alive
         * and in the same namespace, sees the right file (the identity
         * check still guards against another file) */
        char alt[YS_PATH_MAX + 32];
        snprintf(alt, sizeof(alt), "/proc/%u/root%s", rec->h.task.ppid, path);
        e = hashcache_get(en->hashes, &key, 0, alt, out, &why);
    }
    if (e)
        *skip = hashcache_skip_name(why);
    return e;
}

static const char *package_owner(void *ctx, const char *path)
{
    struct enrich *en = ctx;
    en->pkg_lookups++;
    return pkgdb_owner(en->pkgdb, path);
}

int enrich_new(struct enrich **out, const struct agent_options *opt, char *err, size_t errlen)
{
    struct enrich *en = calloc(1, sizeof(*en));
    char why[256];

    *out = NULL;
    if (!en) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (opt->hash_images) {
        int e = hashcache_new(&en->hashes, 0, opt->hash_max_bytes);
        if (e) {
            snprintf(err, errlen, "cannot create the hash cache: %s", strerror(-e));
            free(en);
            return e;
        }
    }
    if (opt->package_owner && pkgdb_open(&en->pkgdb, opt->dpkg_admindir, why, sizeof(why)) != 0) {
        log_warn("package ownership disabled: %s", why);
        en->pkgdb = NULL;
    }
    *out = en;
    return 0;
}

void enrich_free(struct enrich *en)
{
    if (!en)
        return;
    pkgdb_free(en->pkgdb);
    hashcache_free(en->hashes);
    free(en);
}

void enrich_fill(struct enrich *en, struct pipeline_enrichers *pe)
{
    memset(pe, 0, sizeof(*pe));
    pe->ctx = en;
    if (en->pkgdb)
        pe->package_owner = package_owner;
    if (en->hashes)
        pe->image_hash = image_hash;
}

void enrich_tick(struct enrich *en)
{
    char why[256];

    if (en->pkgdb && pkgdb_refresh(en->pkgdb, why, sizeof(why)) != 0)
        log_warn("package index not refreshed: %s", why);
}

void enrich_get_stats(const struct enrich *en, struct enrich_stats *out)
{
    struct pkgdb_stats ps;

    memset(out, 0, sizeof(*out));
    out->pkg_lookups = en->pkg_lookups;
    if (en->hashes) {
        struct hashcache_stats hs;
        hashcache_get_stats(en->hashes, &hs);
        out->hash_hits = hs.hits;
        out->hash_misses = hs.misses;
        out->hash_bytes = hs.bytes_hashed;
        for (int i = 0; i < HASHCACHE_SKIP_MAX; i++)
            out->hash_skipped += hs.skipped[i];
    }
    if (en->pkgdb) {
        pkgdb_get_stats(en->pkgdb, &ps);
        out->pkg_entries = ps.entries;
        out->pkg_memory_bytes = ps.memory_bytes;
    }
}
