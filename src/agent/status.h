/*
 * status.h — the agent's health, written to a small JSON file that
 * `yamori-agent status` prints and the heartbeat sends: which sensor back
 * end runs and what it cannot do here, events per type, losses per type,
 * the process table, enrichment caches, CPU and memory; for an enrolled
 * agent also the server link, the last upload and its error, and the
 * spool's depth (docs/agent.md, "Status").
 */
#ifndef YAMORI_AGENT_STATUS_H
#define YAMORI_AGENT_STATUS_H

#include <stdint.h>

#include "agent/channel.h"
#include "agent/enrich.h"
#include "agent/pipeline.h"
#include "agent/proctable.h"
#include "agent/sensor.h"
#include "agent/spool.h"

struct agent_status {
    const char *backend;
    const char *limitations;     /* newline-separated */
    uint64_t started_ns;         /* UTC */
    struct sensor_stats sensor;
    struct pipeline_stats pipeline;
    struct proctable_stats procs;
    struct enrich_stats enrich;
    uint64_t events_out;
    /* enrolled agents (NULL / unset otherwise) */
    const char *server_url, *device_id;
    const struct channel_status *channel;
    const struct spool_stats *spool;
};

/* Writes st as JSON to path atomically (a temporary file renamed over it),
 * creating the directory (0750) when missing. Returns 0 or -errno. */
int agent_status_write(const char *path, const struct agent_status *st);

/* Prints the status file at path for a person (json: as is). Returns 0, or
 * -errno after printing why. */
int agent_status_print(const char *path, int json);

#endif
