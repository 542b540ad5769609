/*
 * enrich.h — the enrichers the pipeline calls for executed images: SHA-256
 * (hashcache) and package ownership (pkgdb), created from the agent's
 * options and kept fresh by enrich_tick().
 */
#ifndef YAMORI_AGENT_ENRICH_H
#define YAMORI_AGENT_ENRICH_H

#include <stddef.h>
#include <stdint.h>

#include "agent/pipeline.h"

struct agent_options;
struct enrich;

struct enrich_stats {
    uint64_t hash_hits, hash_misses, hash_bytes, hash_skipped;
    uint64_t pkg_lookups, pkg_entries, pkg_memory_bytes;
};

/* Opens what opt asks for (either may be off). A dpkg database that cannot
 * be read is not fatal: ownership is then left out and a warning printed. */
int enrich_new(struct enrich **out, const struct agent_options *opt, char *err, size_t errlen);
void enrich_free(struct enrich *en);

/* Points the pipeline's callbacks at this enricher. */
void enrich_fill(struct enrich *en, struct pipeline_enrichers *pe);

/* Periodic: rebuilds the package index when packages changed. */
void enrich_tick(struct enrich *en);

void enrich_get_stats(const struct enrich *en, struct enrich_stats *out);

#endif
