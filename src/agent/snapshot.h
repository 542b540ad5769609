/*
 * snapshot.h — the processes that already run when the agent starts.
 *
 * Walks /proc once and feeds a YS_PROC_EXEC record marked YS_F_SNAPSHOT
 * for every process to the record callback, parents before children where
 * /proc tells, so the process table has full lineage from the first event
 * on. Run it after the sensor is attached: a process started in between is
 * seen twice, and the pipeline keeps the live record.
 */
#ifndef YAMORI_AGENT_SNAPSHOT_H
#define YAMORI_AGENT_SNAPSHOT_H

#include <stdint.h>

#include "agent/sensor.h"

/* Returns the number of processes reported, or -errno when /proc cannot be
 * read at all. Processes that vanish during the walk are skipped. */
int snapshot_processes(const char *proc_root, sensor_record_fn emit, void *ctx);

#endif
