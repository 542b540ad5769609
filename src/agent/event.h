/*
 * event.h — one enriched event, as the pipeline hands it to an output.
 *
 * This is the in-memory form of the JSON object documented in
 * docs/events.md: the process blocks point into the process table, and the
 * type-specific part is a union. Everything an event points to is valid
 * only during the output callback; an output that keeps the event renders
 * it (event_encode.c) first.
 */
#ifndef YAMORI_AGENT_EVENT_H
#define YAMORI_AGENT_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/proctable.h"
#include "common/schema.h"
#include "sensor_abi.h"

enum yam_table {
    YAM_PROCESS, /* DeviceProcessEvents */
    YAM_FILE,    /* DeviceFileEvents */
    YAM_NETWORK, /* DeviceNetworkEvents */
    YAM_LOGON,   /* DeviceLogonEvents */
    YAM_DEVICE,  /* DeviceEvents */
};

struct yam_file_info {
    const char *path;       /* normalised absolute path */
    const char *prev_path;  /* rename: the old path */
    uint32_t mode;          /* 0 when unknown */
    bool has_mode;
    uint32_t owner_uid, owner_gid; /* (uint32_t)-1: unknown / unchanged */
    bool is_dir, is_exec, truncated;
    int64_t atime_sec, mtime_sec;  /* utimes: -1 when not set */
    uint32_t atime_nsec, mtime_nsec;
    const char *tag;        /* LocationTag */
    const char *link_type;  /* "symlink", "hardlink" for created links */
    const char *link_target;
    const char *snippet;    /* FileContentSnippet: snippet_len bytes, or NULL (not read) */
    size_t snippet_len;
    bool snippet_truncated; /* the file holds more */
};

struct yam_net_info {
    const char *protocol;   /* "Tcp", "Udp" */
    char local_ip[48], remote_ip[48];
    uint16_t local_port, remote_port;
    const char *remote_ip_type;
    const char *error;      /* errno name of a failed connect */
};

struct yam_logon_info {
    const char *logon_type, *protocol, *account, *initiating_account, *method;
    const char *key_type, *key_fingerprint;
    const char *remote_ip, *remote_host;
    uint16_t remote_port;
    const char *failure_reason, *command, *tty, *line;
    unsigned attempts;           /* credential attempts the line stands for */
};

struct yam_device_info {
    /* KernelModuleLoad */
    const char *module_path;
    bool module_failed;
    /* PtraceAttach */
    uint32_t target_pid;
    struct proc_entry *target;
    const char *ptrace_request;
    int32_t ptrace_result;
    /* ProcessCredentialsChanged */
    uint32_t new_uid, new_gid, new_euid, new_egid;
    /* MemfdCreated */
    const char *memfd_name;
    uint32_t memfd_flags;
    /* BpfProgramLoad */
    uint32_t bpf_type, bpf_insns;
    char bpf_name[17];
    /* AgentStarted */
    const char *backend, *limitations;
    /* SensorEventsLost: counts per record type since the last report */
    const uint64_t *lost;
    const char *lost_reason;
    /* IsolationTampered: "deleted" or "changed" */
    const char *isolation_change;
};

struct yam_event {
    uint64_t seq;               /* set by the output that assigns sequence numbers */
    uint64_t time_ns;           /* UTC, ns since the epoch */
    enum yam_table table;
    const char *action;         /* ActionType */
    const char *source;         /* SensorSource */
    /* process events: the process; other events: NULL. Not const: the
     * output caches renderings in the entries. */
    struct proc_entry *proc;
    /* the acting process (process events: the parent) and its parent */
    struct proc_entry *actor;
    struct proc_entry *actor_parent;
    uint32_t flags;             /* YS_F_* of the record */
    int exit_code, exit_signal; /* ProcessExited */
    union {
        struct yam_file_info file;
        struct yam_net_info net;
        struct yam_logon_info logon;
        struct yam_device_info dev;
    } u;
};

/* Receives each event the pipeline produces. */
typedef void (*yam_event_fn)(void *ctx, struct yam_event *ev);

/* The EventType value ("process", "file", ...). */
const char *yam_event_type(enum yam_table t);

#endif
