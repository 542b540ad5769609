/*
 * sensor.h — the interface every sensor back end implements.
 *
 * A back end turns kernel activity into records in the format of
 * bpf/sensor_abi.h and hands each one to the pipeline's callback, in the
 * order they happened as far as the back end can tell. Two back ends exist:
 *
 *   ebpf      sensor_bpf.c: tracepoint programs and a BPF ring buffer
 *   fallback  sensor_fallback.c: netlink proc connector + /proc for
 *             processes, fanotify for files (no network events)
 *
 * The agent picks eBPF and falls back when it cannot load, or takes the one
 * forced on the command line (--sensor=fallback). The choice is reported in
 * the agent's status and in every event batch header.
 */
#ifndef YAMORI_AGENT_SENSOR_H
#define YAMORI_AGENT_SENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sensor_abi.h"

/* Receives one record; `rec` is valid only during the call. */
typedef void (*sensor_record_fn)(void *ctx, const void *rec, size_t len);

struct sensor_options {
    uint32_t self_tgid;        /* the agent's pid: its own activity is not reported */
    size_t ring_bytes;         /* eBPF ring buffer size (power of two, >= page size) */
    size_t wakeup_bytes;       /* eBPF: wake the consumer beyond this much data */
    bool enable_file;          /* file events */
    bool enable_network;       /* network events */
    bool enable_security;      /* module, ptrace, creds, memfd, bpf events */
};

/* Loss and volume counters, summed over CPUs, per record type. */
struct sensor_stats {
    uint64_t emitted[YS_TYPE_MAX];
    uint64_t dropped[YS_TYPE_MAX];  /* lost: ring buffer full, queue overflow */
    uint64_t filtered[YS_TYPE_MAX]; /* left out on purpose by the in-kernel filter */
    uint64_t errors[YS_TYPE_MAX];
};

struct sensor;

struct sensor_ops {
    const char *name;                                    /* "ebpf", "fallback" */
    int (*fd)(struct sensor *s);                         /* pollable, or -1 */
    int (*poll)(struct sensor *s, int timeout_ms);       /* dispatch; count or -errno */
    void (*stats)(struct sensor *s, struct sensor_stats *out);
    /* Adds "what: why" lines for features this back end cannot provide here
     * (e.g. "kernel modules: kernel built without module support") to out,
     * separated by newlines; returns the number of lines. */
    int (*limitations)(struct sensor *s, char *out, size_t outlen);
    void (*free)(struct sensor *s);
};

struct sensor {
    const struct sensor_ops *ops;
    sensor_record_fn emit;
    void *emit_ctx;
};

/* Opens a back end. On failure returns a negative errno and writes a
 * sentence a person can act on into err. The callback receives records from
 * sensor_poll() only, on the calling thread. */
int sensor_bpf_open(struct sensor **out, const struct sensor_options *opt,
                    sensor_record_fn emit, void *emit_ctx, char *err, size_t errlen);
int sensor_fallback_open(struct sensor **out, const struct sensor_options *opt,
                         sensor_record_fn emit, void *emit_ctx, char *err, size_t errlen);

static inline const char *sensor_name(struct sensor *s) { return s->ops->name; }
static inline int sensor_fd(struct sensor *s) { return s->ops->fd(s); }
static inline int sensor_poll(struct sensor *s, int timeout_ms) { return s->ops->poll(s, timeout_ms); }
static inline void sensor_get_stats(struct sensor *s, struct sensor_stats *out) { s->ops->stats(s, out); }
static inline int sensor_limitations(struct sensor *s, char *out, size_t outlen)
{
    return s->ops->limitations(s, out, outlen);
}
/* Accepts NULL. */
static inline void sensor_free(struct sensor *s)
{
    if (s)
        s->ops->free(s);
}

#endif
