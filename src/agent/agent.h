/*
 * agent.h — the agent's main loop: sensor, pipeline, log sources, output,
 * status, and the periodic upkeep that ties them together. An enrolled
 * agent (to_server) writes to the durable spool and runs the channel's
 * threads (uploader, heartbeat, commands); otherwise events go to
 * output_fd as JSON lines.
 */
#ifndef YAMORI_AGENT_AGENT_H
#define YAMORI_AGENT_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum agent_sensor_choice { AGENT_SENSOR_AUTO, AGENT_SENSOR_EBPF, AGENT_SENSOR_FALLBACK };

struct agent_options {
    enum agent_sensor_choice sensor;
    size_t ring_bytes;          /* eBPF ring buffer (default 8 MiB) */
    size_t wakeup_bytes;        /* wake the consumer beyond this (default 256 KiB) */
    int flush_ms;               /* longest an event waits in the kernel (default 50) */
    bool enable_file, enable_network, enable_security, enable_logons;
    bool hash_images;           /* SHA-256 of executed images */
    uint64_t hash_max_bytes;    /* larger images are not hashed */
    bool package_owner;         /* dpkg ownership of images */
    const char *dpkg_admindir;  /* "/var/lib/dpkg" */
    const char *auth_log;       /* log file to follow instead of the automatic choice */
    const char *sshd_log;       /* OpenSSH's own log (sshd -E FILE), followed instead */
    const char *state_dir;      /* "/var/lib/yamori" */
    const char *status_path;    /* "/run/yamori/agent-status.json" */
    const char *proc_root;      /* "/proc" */
    int output_fd;              /* JSON lines go here (--stdout: 1) */
    uint64_t max_seconds;       /* stop after this long (0: run until signalled) */
    bool to_server;             /* enrolled: spool and server instead of output_fd */
    const char *config_dir;     /* "/etc/yamori": agent.conf, ca.pem, device.secret */
    uint64_t spool_max_bytes;   /* quota by size (0: agent.conf's, default 1 GiB) */
    uint64_t spool_max_age_seconds; /* quota by age (0: agent.conf's, default 7 days) */
};

/* Fills opt with the defaults documented in docs/agent.md. */
void agent_options_default(struct agent_options *opt);

/* Runs until *stop becomes non-zero (set it from a signal handler), the
 * output's reader goes away, or max_seconds pass. Returns 0, or a negative
 * errno after printing why the agent could not start. */
int agent_run(const struct agent_options *opt, volatile sig_atomic_t *stop);

#endif
