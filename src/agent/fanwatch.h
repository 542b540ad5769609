/*
 * fanwatch.h — file activity from fanotify, for the fallback sensor back end
 * (sensor_fallback.c). Private to that back end.
 *
 * One fanotify group reports directory-entry and attribute events with
 * directory file handles and names (FAN_REPORT_DFID_NAME). Every real
 * filesystem mounted in the agent's mount namespace gets a filesystem mark;
 * the mount table is watched, so filesystems mounted later are marked too.
 * Events become struct ys_file records (bpf/sensor_abi.h) filtered by the
 * same policy as bpf/file.bpf.c, and are handed to the back end through
 * fanwatch_hooks. How each fanotify event maps onto a record is described at
 * the top of fanwatch.c.
 */
#ifndef YAMORI_AGENT_FANWATCH_H
#define YAMORI_AGENT_FANWATCH_H

#include <stddef.h>
#include <stdint.h>

#include "agent/sensor.h"

struct fanwatch;

struct fanwatch_hooks {
    void *ctx;
    /* Fills `t` with the identity of process `tgid` as well as it is still
     * known; returns header flags to add (YS_F_PARTIAL when unknown). */
    uint32_t (*task)(void *ctx, uint32_t tgid, struct ys_task *t);
    /* Receives one finished record, valid during the call only. */
    void (*emit)(void *ctx, const void *rec, size_t len);
};

/* Creates the fanotify group and marks every real filesystem of the mount
 * namespace. Events of process `self_tgid` are never reported. `hooks` is
 * copied; `stats` (filtered, dropped, errors) is updated by
 * fanwatch_dispatch() and must outlive the watcher. Returns 0, or -errno
 * with a sentence in err (fanotify missing, not permitted, kernel too old
 * for directory file handles). A filesystem that refuses a mark does not
 * make this fail: it is listed by fanwatch_limitations(). */
int fanwatch_open(struct fanwatch **out, uint32_t self_tgid, const struct fanwatch_hooks *hooks,
                  struct sensor_stats *stats, char *err, size_t errlen);

/* The fanotify descriptor (readable when events wait). */
int fanwatch_fd(const struct fanwatch *fw);

/* A descriptor of the mount table that polls with EPOLLPRI when a mount
 * appears or goes; call fanwatch_rescan() then. */
int fanwatch_mounts_fd(const struct fanwatch *fw);

/* Re-reads the mount table and marks filesystems not marked yet. Returns 0
 * or -errno when the mount table cannot be read. */
int fanwatch_rescan(struct fanwatch *fw);

/* Reads and dispatches what is queued, without blocking, at most `budget`
 * reads of the queue. Returns the number of records emitted, or -errno. */
int fanwatch_dispatch(struct fanwatch *fw, int budget);

/* Calls line() once per "what: why" sentence about file events this
 * watcher cannot provide here (filesystems it could not mark, kernel
 * features missing). Returns the number of lines. */
int fanwatch_limitations(const struct fanwatch *fw, void (*line)(void *ctx, const char *text),
                         void *ctx);

/* Accepts NULL. */
void fanwatch_free(struct fanwatch *fw);

#endif
