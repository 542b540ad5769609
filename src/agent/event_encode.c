/*
 * event_encode.c — encodes an enriched event with the field ids of
 * common/schema.h (see event_encode.h). Which fields an event carries is
 * decided here; their names and types live in the schema table, and
 * docs/events.md describes them.
 */
#include "agent/event_encode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"

const char *yam_event_type(enum yam_table t)
{
    switch (t) {
    case YAM_PROCESS: return "process";
    case YAM_FILE: return "file";
    case YAM_NETWORK: return "network";
    case YAM_LOGON: return "logon";
    case YAM_DEVICE: return "device";
    }
    return "device";
}

static void put_time_opt(struct tlv_buf *b, unsigned field, uint64_t utc_ns)
{
    if (utc_ns)
        tlv_put_time(b, field, utc_ns);
}

static void put_id_opt(struct tlv_buf *b, unsigned field, uint32_t id)
{
    if (id != (uint32_t)-1)
        tlv_put_uint(b, field, id);
}

/* The process block of a process event: the process itself. */
static void process_fields(struct tlv_buf *b, const struct proc_entry *p)
{
    tlv_put_uint(b, F_PROCESS_ID, p->key.pid);
    tlv_put_cstr_opt(b, F_PROCESS_UNIQUE_ID, p->unique_id);
    put_time_opt(b, F_PROCESS_CREATION_TIME, p->start_utc_ns);
    tlv_put_cstr_opt(b, F_FILE_NAME, p->image_name);
    tlv_put_cstr_opt(b, F_FOLDER_PATH, p->image);
    tlv_put_cstr_opt(b, F_PROCESS_COMMAND_LINE, p->cmdline);
    if (p->flags & YS_F_ARGV_TRUNC)
        tlv_put_bool(b, F_PROCESS_COMMAND_LINE_TRUNCATED);
    if (p->seen_exec)
        tlv_put_uint(b, F_PROCESS_ARGUMENT_COUNT, p->argc);
    tlv_put_cstr_opt(b, F_PROCESS_CURRENT_DIRECTORY, p->cwd);
    tlv_put_cstr_opt(b, F_ACCOUNT_NAME, p->user);
    tlv_put_uint(b, F_ACCOUNT_UID, p->uid);
    tlv_put_uint(b, F_ACCOUNT_GID, p->gid);
    tlv_put_uint(b, F_PROCESS_EFFECTIVE_UID, p->euid);
    tlv_put_uint(b, F_PROCESS_EFFECTIVE_GID, p->egid);
    put_id_opt(b, F_LOGON_ID, p->sessionid);
    put_id_opt(b, F_ACCOUNT_LOGIN_UID, p->loginuid);
    if (p->sid)
        tlv_put_uint(b, F_PROCESS_SESSION_ID, p->sid);
    tlv_put_cstr_opt(b, F_PROCESS_TTY, p->tty);
    tlv_put_cstr_opt(b, F_CONTAINER_ID, p->container_id);
    tlv_put_cstr_opt(b, F_CGROUP_NAME, p->cgroup);
    tlv_put_cstr_opt(b, F_SHA256, p->sha256);
    if (!p->sha256[0] && p->sha256_skip)
        tlv_put_cstr_opt(b, F_SHA256_SKIPPED, p->sha256_skip);
    if (p->seen_exec && p->image_size)
        tlv_put_uint(b, F_FILE_SIZE, p->image_size);
    tlv_put_cstr_opt(b, F_PACKAGE_NAME, p->package);
    if (p->flags & YS_F_MEMFD) {
        tlv_put_bool(b, F_PROCESS_IMAGE_MEMFD);
        tlv_put_cstr_opt(b, F_MEMFD_NAME, p->memfd_name);
    }
    if (p->flags & YS_F_DELETED)
        tlv_put_bool(b, F_PROCESS_IMAGE_DELETED);
    if (p->flags & YS_F_PARTIAL)
        tlv_put_cstr_opt(b, F_PROCESS_INTEGRITY, "partial");
}

/* The initiating process block: the acting process... */
static void initiating_fields(struct tlv_buf *b, const struct proc_entry *a)
{
    tlv_put_uint(b, F_IP_ID, a->key.pid);
    tlv_put_cstr_opt(b, F_IP_UNIQUE_ID, a->unique_id);
    tlv_put_cstr_opt(b, F_IP_FILE_NAME, a->image_name ? a->image_name : a->comm);
    tlv_put_cstr_opt(b, F_IP_FOLDER_PATH, a->image);
    tlv_put_cstr_opt(b, F_IP_COMMAND_LINE, a->cmdline);
    put_time_opt(b, F_IP_CREATION_TIME, a->start_utc_ns);
    tlv_put_cstr_opt(b, F_IP_CURRENT_DIRECTORY, a->cwd);
    tlv_put_cstr_opt(b, F_IP_ACCOUNT_NAME, a->user);
    tlv_put_uint(b, F_IP_ACCOUNT_UID, a->uid);
    tlv_put_cstr_opt(b, F_IP_SHA256, a->sha256);
    tlv_put_uint(b, F_IP_PARENT_ID, a->ppid);
}

/* ... and its parent. */
static void initiating_parent_fields(struct tlv_buf *b, const struct proc_entry *pa)
{
    tlv_put_cstr_opt(b, F_IP_PARENT_UNIQUE_ID, pa->unique_id);
    tlv_put_cstr_opt(b, F_IP_PARENT_FILE_NAME, pa->image_name ? pa->image_name : pa->comm);
    tlv_put_cstr_opt(b, F_IP_PARENT_FOLDER_PATH, pa->image);
    put_time_opt(b, F_IP_PARENT_CREATION_TIME, pa->start_utc_ns);
}

/* Appends the fields of block `kind` of e, encoding them into e's cache
 * first when e changed since the last encoding. */
static void put_fragment(struct tlv_buf *b, struct proc_entry *e, enum proc_fragment kind)
{
    static struct tlv_buf scratch;

    if (!e->frag[kind] || e->frag_version[kind] != e->version + 1) {
        char *copy;
        tlv_reset(&scratch);
        if (kind == PROC_FRAG_PROCESS)
            process_fields(&scratch, e);
        else if (kind == PROC_FRAG_INITIATING)
            initiating_fields(&scratch, e);
        else
            initiating_parent_fields(&scratch, e);
        if (scratch.failed)
            return;
        copy = malloc(scratch.len ? scratch.len : 1);
        if (!copy)
            return;
        memcpy(copy, scratch.data, scratch.len);
        free(e->frag[kind]);
        e->frag[kind] = copy;
        e->frag_len[kind] = (uint32_t)scratch.len;
        e->frag_version[kind] = e->version + 1;
    }
    tlv_put_raw(b, e->frag[kind], e->frag_len[kind]);
}

static void file_fields(struct tlv_buf *b, const struct yam_file_info *f)
{
    char mode[8];
    const char *name = f->path ? strrchr(f->path, '/') : NULL;

    tlv_put_cstr_opt(b, F_FILE_NAME, name && name[1] ? name + 1 : f->path);
    tlv_put_cstr_opt(b, F_FOLDER_PATH, f->path);
    if (f->prev_path) {
        const char *pname = strrchr(f->prev_path, '/');
        tlv_put_cstr_opt(b, F_PREVIOUS_FILE_NAME, pname && pname[1] ? pname + 1 : f->prev_path);
        tlv_put_cstr_opt(b, F_PREVIOUS_FOLDER_PATH, f->prev_path);
    }
    if (f->has_mode) {
        snprintf(mode, sizeof(mode), "%04o", f->mode & 07777);
        tlv_put_cstr_opt(b, F_FILE_MODE, mode);
    }
    put_id_opt(b, F_FILE_OWNER_UID, f->owner_uid);
    put_id_opt(b, F_FILE_GROUP_GID, f->owner_gid);
    if (f->is_dir)
        tlv_put_bool(b, F_IS_DIRECTORY);
    if (f->is_exec)
        tlv_put_bool(b, F_IS_EXECUTABLE);
    if (f->truncated)
        tlv_put_bool(b, F_FILE_TRUNCATED);
    if (f->atime_sec >= 0 && (f->atime_sec || f->atime_nsec))
        tlv_put_time(b, F_FILE_ACCESS_TIME_SET, (uint64_t)f->atime_sec * 1000000000ull + f->atime_nsec);
    if (f->mtime_sec >= 0 && (f->mtime_sec || f->mtime_nsec))
        tlv_put_time(b, F_FILE_MODIFICATION_TIME_SET, (uint64_t)f->mtime_sec * 1000000000ull + f->mtime_nsec);
    tlv_put_cstr_opt(b, F_LOCATION_TAG, f->tag);
    tlv_put_cstr_opt(b, F_LINK_TYPE, f->link_type);
    tlv_put_cstr_opt(b, F_LINK_TARGET, f->link_target);
    if (f->snippet) {
        tlv_put_str(b, F_FILE_CONTENT_SNIPPET, f->snippet, f->snippet_len);
        if (f->snippet_truncated)
            tlv_put_bool(b, F_FILE_CONTENT_SNIPPET_TRUNCATED);
    }
}

static void net_fields(struct tlv_buf *b, const struct yam_net_info *n)
{
    tlv_put_cstr_opt(b, F_PROTOCOL, n->protocol);
    tlv_put_cstr_opt(b, F_LOCAL_IP, n->local_ip);
    tlv_put_uint(b, F_LOCAL_PORT, n->local_port);
    tlv_put_cstr_opt(b, F_REMOTE_IP, n->remote_ip);
    if (n->remote_port)
        tlv_put_uint(b, F_REMOTE_PORT, n->remote_port);
    tlv_put_cstr_opt(b, F_REMOTE_IP_TYPE, n->remote_ip_type);
    tlv_put_cstr_opt(b, F_CONNECTION_ERROR, n->error);
}

static void logon_fields(struct tlv_buf *b, const struct yam_logon_info *l)
{
    tlv_put_cstr_opt(b, F_LOGON_TYPE, l->logon_type);
    tlv_put_cstr_opt(b, F_PROTOCOL, l->protocol);
    tlv_put_cstr_opt(b, F_ACCOUNT_NAME, l->account);
    tlv_put_cstr_opt(b, F_INITIATING_ACCOUNT_NAME, l->initiating_account);
    tlv_put_cstr_opt(b, F_AUTHENTICATION_METHOD, l->method);
    tlv_put_cstr_opt(b, F_AUTHENTICATION_KEY_TYPE, l->key_type);
    tlv_put_cstr_opt(b, F_AUTHENTICATION_KEY_FINGERPRINT, l->key_fingerprint);
    tlv_put_cstr_opt(b, F_REMOTE_IP, l->remote_ip);
    tlv_put_cstr_opt(b, F_REMOTE_HOST, l->remote_host);
    if (l->remote_port)
        tlv_put_uint(b, F_REMOTE_PORT, l->remote_port);
    tlv_put_cstr_opt(b, F_FAILURE_REASON, l->failure_reason);
    tlv_put_uint(b, F_LOGON_ATTEMPT_COUNT, l->attempts);
    tlv_put_cstr_opt(b, F_LOGON_COMMAND, l->command);
    tlv_put_cstr_opt(b, F_PROCESS_TTY, l->tty);
    tlv_put_cstr_opt(b, F_LOG_LINE, l->line);
}

static const char *const record_names[YS_TYPE_MAX] = {
    [YS_PROC_EXEC] = "exec", [YS_PROC_FORK] = "fork", [YS_PROC_EXIT] = "exit",
    [YS_FILE_CREATE] = "file_create", [YS_FILE_MODIFY] = "file_modify",
    [YS_FILE_DELETE] = "file_delete", [YS_FILE_RENAME] = "file_rename",
    [YS_FILE_CHMOD] = "file_chmod", [YS_FILE_CHOWN] = "file_chown",
    [YS_FILE_UTIMES] = "file_utimes", [YS_NET_CONNECT] = "net_connect",
    [YS_NET_ACCEPT] = "net_accept", [YS_NET_LISTEN] = "net_listen",
    [YS_NET_UDP_SEND] = "net_udp_send", [YS_NET_UDP_RECV] = "net_udp_recv",
    [YS_MODULE_LOAD] = "module_load", [YS_PTRACE] = "ptrace", [YS_CREDS] = "creds",
    [YS_MEMFD_CREATE] = "memfd_create", [YS_BPF_PROG_LOAD] = "bpf_prog_load",
};

const char *event_record_type_name(unsigned type)
{
    if (type == 0)
        return "other";
    if (type >= YS_TYPE_MAX || !record_names[type])
        return "unknown";
    return record_names[type];
}

static void device_fields(struct tlv_buf *b, const struct yam_event *ev)
{
    const struct yam_device_info *d = &ev->u.dev;

    if (strcmp(ev->action, "KernelModuleLoad") == 0) {
        const char *name = d->module_path ? strrchr(d->module_path, '/') : NULL;
        tlv_put_cstr_opt(b, F_FOLDER_PATH, d->module_path);
        tlv_put_cstr_opt(b, F_FILE_NAME, name ? name + 1 : NULL);
        if (d->module_failed)
            tlv_put_bool(b, F_MODULE_LOAD_FAILED);
    } else if (strcmp(ev->action, "PtraceAttach") == 0) {
        tlv_put_uint(b, F_TARGET_PROCESS_ID, d->target_pid);
        if (d->target) {
            tlv_put_cstr_opt(b, F_TARGET_PROCESS_UNIQUE_ID, d->target->unique_id);
            tlv_put_cstr_opt(b, F_TARGET_PROCESS_FILE_NAME, d->target->image_name);
            tlv_put_cstr_opt(b, F_TARGET_PROCESS_FOLDER_PATH, d->target->image);
        }
        tlv_put_cstr_opt(b, F_PTRACE_REQUEST, d->ptrace_request);
        tlv_put_int(b, F_PTRACE_RESULT, d->ptrace_result);
    } else if (strcmp(ev->action, "ProcessCredentialsChanged") == 0) {
        if (ev->actor) {
            tlv_put_uint(b, F_ACCOUNT_UID, ev->actor->uid);
            tlv_put_uint(b, F_PROCESS_EFFECTIVE_UID, ev->actor->euid);
            tlv_put_uint(b, F_ACCOUNT_GID, ev->actor->gid);
            tlv_put_uint(b, F_PROCESS_EFFECTIVE_GID, ev->actor->egid);
        }
        tlv_put_uint(b, F_NEW_ACCOUNT_UID, d->new_uid);
        tlv_put_uint(b, F_NEW_EFFECTIVE_UID, d->new_euid);
        tlv_put_uint(b, F_NEW_ACCOUNT_GID, d->new_gid);
        tlv_put_uint(b, F_NEW_EFFECTIVE_GID, d->new_egid);
    } else if (strcmp(ev->action, "MemfdCreated") == 0) {
        tlv_put_cstr_opt(b, F_MEMFD_NAME, d->memfd_name);
        tlv_put_uint(b, F_MEMFD_FLAGS, d->memfd_flags);
    } else if (strcmp(ev->action, "BpfProgramLoad") == 0) {
        tlv_put_uint(b, F_BPF_PROGRAM_TYPE, d->bpf_type);
        tlv_put_cstr_opt(b, F_BPF_PROGRAM_NAME, d->bpf_name);
        tlv_put_uint(b, F_BPF_INSTRUCTION_COUNT, d->bpf_insns);
    } else if (strcmp(ev->action, "AgentStarted") == 0) {
        tlv_put_cstr_opt(b, F_SENSOR_BACKEND, d->backend);
        tlv_put_cstr_opt(b, F_AGENT_VERSION, YAMORI_VERSION);
        tlv_put_uint(b, F_SCHEMA_VERSION, YAM_SCHEMA_VERSION);
        tlv_put_cstr_opt(b, F_SENSOR_LIMITATIONS, d->limitations);
    } else if (strcmp(ev->action, "SensorEventsLost") == 0 && d->lost) {
        uint64_t total = 0;
        struct jsonw w;
        jsonw_init(&w);
        jsonw_object_begin(&w);
        for (unsigned t = 0; t < YS_TYPE_MAX; t++) {
            if (d->lost[t]) {
                jsonw_kv_uint(&w, event_record_type_name(t), d->lost[t]);
                total += d->lost[t];
            }
        }
        jsonw_object_end(&w);
        if (!jsonw_failed(&w))
            tlv_put_str(b, F_LOST_EVENTS, w.buf, w.len);
        jsonw_free(&w);
        tlv_put_uint(b, F_LOST_EVENTS_TOTAL, total);
        tlv_put_cstr_opt(b, F_LOST_REASON, d->lost_reason);
    } else if (strcmp(ev->action, "IsolationTampered") == 0) {
        tlv_put_cstr_opt(b, F_ISOLATION_CHANGE, d->isolation_change);
    }
}

void event_encode(struct tlv_buf *b, const struct yam_event *ev, const char *device_name, uint64_t seq)
{
    tlv_put_time(b, F_TIMESTAMP, ev->time_ns);
    tlv_put_cstr_opt(b, F_EVENT_TYPE, yam_event_type(ev->table));
    tlv_put_cstr_opt(b, F_ACTION_TYPE, ev->action);
    if (seq)
        tlv_put_uint(b, F_SEQ, seq);
    tlv_put_cstr_opt(b, F_SENSOR_SOURCE, ev->source);
    tlv_put_cstr_opt(b, F_DEVICE_NAME, device_name);
    switch (ev->table) {
    case YAM_PROCESS:
        if (ev->proc)
            put_fragment(b, ev->proc, PROC_FRAG_PROCESS);
        if (strcmp(ev->action, "ProcessExited") == 0) {
            tlv_put_int(b, F_PROCESS_EXIT_CODE, ev->exit_code);
            if (ev->exit_signal)
                tlv_put_int(b, F_PROCESS_EXIT_SIGNAL, ev->exit_signal);
        }
        break;
    case YAM_FILE:
        file_fields(b, &ev->u.file);
        break;
    case YAM_NETWORK:
        net_fields(b, &ev->u.net);
        break;
    case YAM_LOGON:
        logon_fields(b, &ev->u.logon);
        break;
    case YAM_DEVICE:
        device_fields(b, ev);
        break;
    }
    if (ev->actor)
        put_fragment(b, ev->actor, PROC_FRAG_INITIATING);
    if (ev->actor_parent)
        put_fragment(b, ev->actor_parent, PROC_FRAG_PARENT);
}
