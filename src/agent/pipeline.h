/*
 * pipeline.h — from sensor records to enriched events.
 *
 * The pipeline keeps the process table, decodes each record of
 * bpf/sensor_abi.h (from any back end), completes it with what the record
 * does not carry (the parent chain, the image's SHA-256 and package, user
 * names, container id, location tags, UTC times) and hands a struct
 * yam_event to the output callback. It also turns logon lines, sensor loss
 * and agent start into events.
 *
 * It has no threads and no I/O of its own beyond /proc reads for processes
 * it has never seen; image hashing and package lookup are callbacks, so
 * tests can replay records without root.
 */
#ifndef YAMORI_AGENT_PIPELINE_H
#define YAMORI_AGENT_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/event.h"

struct pipeline;

struct pipeline_enrichers {
    /* SHA-256 of the image an exec record names: fills out (65 bytes) and
     * returns 0, or returns -errno and sets *skip to a reason
     * ("too-large", "unreadable", "vanished"). */
    int (*image_hash)(void *ctx, const struct ys_exec *rec, const char *path, char out[65],
                      const char **skip);
    /* The package that owns a canonical path, or NULL. */
    const char *(*package_owner)(void *ctx, const char *path);
    void *ctx;
};

struct pipeline_options {
    const char *proc_root;       /* "/proc"; NULL: never read /proc */
    const char *passwd_path;     /* "/etc/passwd" */
    const char *boot_id;         /* the boot id text; NULL: read it */
    const char *device_name;     /* DeviceName; NULL: the host name */
    uint32_t proctable_max;      /* 0: default (65536) */
    uint64_t exited_keep_ns;     /* how long exited processes stay; 0: 60 s */
    bool file_snippets;          /* read FileContentSnippet (snippet.h; needs proc_root); events
                                  * that get one are emitted when their writer exits or
                                  * SNIPPET_DELAY_NS after the write, whichever is first */
    struct pipeline_enrichers enrich;
};

struct pipeline_stats {
    uint64_t records[YS_TYPE_MAX]; /* records taken, per type */
    uint64_t bad_records;          /* refused: short, wrong version, unknown type */
    uint64_t events;               /* events handed to the output */
    uint64_t lazy_fills;           /* processes completed from /proc */
    uint64_t snippets;             /* file events sent with their content */
    uint64_t snippets_unread;      /* ... wanted, but the file could not be read (gone, replaced, not regular) */
};

/* Creates a pipeline that calls out(out_ctx, ev) for each event. */
int pipeline_new(struct pipeline **out, const struct pipeline_options *opt, yam_event_fn out_fn,
                 void *out_ctx, char *err, size_t errlen);
void pipeline_free(struct pipeline *p);

/* Takes one sensor record (signature of sensor_record_fn; ctx is the
 * pipeline). Malformed records are counted and dropped. */
void pipeline_on_record(void *ctx, const void *rec, size_t len);

/* A logon read from a log: info strings are valid during the call only.
 * service_pid may be 0. */
void pipeline_on_logon(struct pipeline *p, bool success, uint64_t time_ns, uint32_t service_pid,
                       const struct yam_logon_info *info, const char *source);

/* Emits a SensorEventsLost event for the counts in lost[] (indexed by record
 * type; all zero: nothing is emitted). */
void pipeline_report_loss(struct pipeline *p, const uint64_t lost[YS_TYPE_MAX], const char *reason);

/* Emits the AgentStarted event. */
void pipeline_agent_started(struct pipeline *p, const char *backend, const char *limitations);

/* Emits IsolationTampered: the isolation table was found "deleted" or
 * "changed" (change) and put back. */
void pipeline_isolation_tampered(struct pipeline *p, const char *change);

/* Periodic upkeep (call about once a second): clock offset, expiry of
 * exited processes, reaping of processes whose exit was missed, cache
 * refreshes, file events whose content snippet is due. */
void pipeline_tick(struct pipeline *p);

/* Emits every file event still waiting for its content snippet, reading
 * the content now (at shutdown, before the last flush of the output). */
void pipeline_flush(struct pipeline *p);

/* UTC minus CLOCK_BOOTTIME, in ns, as last measured. */
int64_t pipeline_boot_offset(const struct pipeline *p);
const char *pipeline_device_name(const struct pipeline *p);
void pipeline_get_stats(const struct pipeline *p, struct pipeline_stats *out);
struct proctable *pipeline_proctable(struct pipeline *p);

/* Joins a NUL-separated argv into a space-separated command line in out
 * (outlen bytes, always terminated). Returns the length written. */
size_t pipeline_join_argv(const char *argv, size_t len, char *out, size_t outlen);

/* Extracts a container id (64 hex digits) from a cgroup leaf name such as
 * "docker-<id>.scope", "cri-containerd-<id>.scope", "libpod-<id>.scope" or
 * "<id>"; out must hold 65 bytes. Returns true when found. */
bool pipeline_container_id(const char *cgroup, char out[65]);

#endif
