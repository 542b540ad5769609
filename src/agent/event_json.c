/*
 * event_json.c — renders an enriched event as the JSON object of
 * docs/events.md. The field names here are the schema; change them only
 * together with docs/events.md and YAM_SCHEMA_VERSION.
 */
#include "agent/event_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"

const char *yam_table_name(enum yam_table t)
{
    switch (t) {
    case YAM_PROCESS: return "DeviceProcessEvents";
    case YAM_FILE: return "DeviceFileEvents";
    case YAM_NETWORK: return "DeviceNetworkEvents";
    case YAM_LOGON: return "DeviceLogonEvents";
    case YAM_DEVICE: return "DeviceEvents";
    }
    return "DeviceEvents";
}

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

static void kv_utc(struct jsonw *w, const char *key, uint64_t utc_ns)
{
    if (utc_ns)
        jsonw_kv_time(w, key, utc_ns);
}

static void kv_uid(struct jsonw *w, const char *key, uint32_t id)
{
    if (id != (uint32_t)-1)
        jsonw_kv_uint(w, key, id);
}

/* The process block of a process event: the process itself. */
static void process_fields(struct jsonw *w, const struct proc_entry *p)
{
    jsonw_kv_uint(w, "ProcessId", p->key.pid);
    jsonw_kv_str(w, "ProcessUniqueId", p->unique_id);
    kv_utc(w, "ProcessCreationTime", p->start_utc_ns);
    jsonw_kv_str_opt(w, "FileName", p->image_name);
    jsonw_kv_str_opt(w, "FolderPath", p->image);
    jsonw_kv_str_opt(w, "ProcessCommandLine", p->cmdline);
    if (p->flags & YS_F_ARGV_TRUNC)
        jsonw_kv_bool(w, "ProcessCommandLineTruncated", true);
    if (p->seen_exec)
        jsonw_kv_uint(w, "ProcessArgumentCount", p->argc);
    jsonw_kv_str_opt(w, "ProcessCurrentDirectory", p->cwd);
    jsonw_kv_str_opt(w, "AccountName", p->user);
    jsonw_kv_uint(w, "AccountUid", p->uid);
    jsonw_kv_uint(w, "AccountGid", p->gid);
    jsonw_kv_uint(w, "ProcessEffectiveUid", p->euid);
    jsonw_kv_uint(w, "ProcessEffectiveGid", p->egid);
    kv_uid(w, "LogonId", p->sessionid);
    kv_uid(w, "AccountLoginUid", p->loginuid);
    if (p->sid)
        jsonw_kv_uint(w, "ProcessSessionId", p->sid);
    jsonw_kv_str_opt(w, "ProcessTty", p->tty);
    jsonw_kv_str_opt(w, "ContainerId", p->container_id);
    jsonw_kv_str_opt(w, "CgroupName", p->cgroup);
    jsonw_kv_str_opt(w, "SHA256", p->sha256);
    if (!p->sha256[0] && p->sha256_skip)
        jsonw_kv_str(w, "SHA256Skipped", p->sha256_skip);
    if (p->seen_exec && p->image_size)
        jsonw_kv_uint(w, "FileSize", p->image_size);
    jsonw_kv_str_opt(w, "PackageName", p->package);
    if (p->flags & YS_F_MEMFD) {
        jsonw_kv_bool(w, "ProcessImageMemfd", true);
        jsonw_kv_str_opt(w, "MemfdName", p->memfd_name);
    }
    if (p->flags & YS_F_DELETED)
        jsonw_kv_bool(w, "ProcessImageDeleted", true);
    if (p->flags & YS_F_PARTIAL)
        jsonw_kv_str(w, "ProcessIntegrity", "partial");
}

/* The initiating process block: the acting process... */
static void initiating_fields(struct jsonw *w, const struct proc_entry *a)
{
    jsonw_kv_uint(w, "InitiatingProcessId", a->key.pid);
    jsonw_kv_str(w, "InitiatingProcessUniqueId", a->unique_id);
    jsonw_kv_str_opt(w, "InitiatingProcessFileName", a->image_name ? a->image_name : a->comm);
    jsonw_kv_str_opt(w, "InitiatingProcessFolderPath", a->image);
    jsonw_kv_str_opt(w, "InitiatingProcessCommandLine", a->cmdline);
    kv_utc(w, "InitiatingProcessCreationTime", a->start_utc_ns);
    jsonw_kv_str_opt(w, "InitiatingProcessCurrentDirectory", a->cwd);
    jsonw_kv_str_opt(w, "InitiatingProcessAccountName", a->user);
    jsonw_kv_uint(w, "InitiatingProcessAccountUid", a->uid);
    jsonw_kv_str_opt(w, "InitiatingProcessSHA256", a->sha256);
    jsonw_kv_uint(w, "InitiatingProcessParentId", a->ppid);
}

/* ... and its parent. */
static void initiating_parent_fields(struct jsonw *w, const struct proc_entry *pa)
{
    jsonw_kv_str(w, "InitiatingProcessParentUniqueId", pa->unique_id);
    jsonw_kv_str_opt(w, "InitiatingProcessParentFileName", pa->image_name ? pa->image_name : pa->comm);
    jsonw_kv_str_opt(w, "InitiatingProcessParentFolderPath", pa->image);
    kv_utc(w, "InitiatingProcessParentCreationTime", pa->start_utc_ns);
}

/* Appends the members of block `kind` of e, rendering them into e's cache
 * first when e changed since the last rendering. */
static void put_fragment(struct jsonw *w, struct proc_entry *e, enum proc_fragment kind)
{
    static struct jsonw scratch;
    static bool scratch_ready;

    if (!e->frag[kind] || e->frag_version[kind] != e->version + 1) {
        char *copy;
        if (!scratch_ready) {
            jsonw_init(&scratch);
            scratch_ready = true;
        }
        jsonw_reset(&scratch);
        jsonw_object_begin(&scratch);
        if (kind == PROC_FRAG_PROCESS)
            process_fields(&scratch, e);
        else if (kind == PROC_FRAG_INITIATING)
            initiating_fields(&scratch, e);
        else
            initiating_parent_fields(&scratch, e);
        jsonw_object_end(&scratch);
        if (jsonw_failed(&scratch) || scratch.len < 2)
            return;
        /* keep the members only: drop the braces */
        copy = malloc(scratch.len - 1);
        if (!copy)
            return;
        memcpy(copy, scratch.buf + 1, scratch.len - 2);
        copy[scratch.len - 2] = '\0';
        free(e->frag[kind]);
        e->frag[kind] = copy;
        e->frag_len[kind] = (uint32_t)(scratch.len - 2);
        e->frag_version[kind] = e->version + 1;
    }
    jsonw_members(w, e->frag[kind], e->frag_len[kind]);
}

static void file_fields(struct jsonw *w, const struct yam_file_info *f)
{
    char mode[8];
    const char *name = f->path ? strrchr(f->path, '/') : NULL;

    jsonw_kv_str_opt(w, "FileName", name && name[1] ? name + 1 : f->path);
    jsonw_kv_str_opt(w, "FolderPath", f->path);
    if (f->prev_path) {
        const char *pname = strrchr(f->prev_path, '/');
        jsonw_kv_str_opt(w, "PreviousFileName", pname && pname[1] ? pname + 1 : f->prev_path);
        jsonw_kv_str(w, "PreviousFolderPath", f->prev_path);
    }
    if (f->has_mode) {
        snprintf(mode, sizeof(mode), "%04o", f->mode & 07777);
        jsonw_kv_str(w, "FileMode", mode);
    }
    kv_uid(w, "FileOwnerUid", f->owner_uid);
    kv_uid(w, "FileGroupGid", f->owner_gid);
    if (f->is_dir)
        jsonw_kv_bool(w, "IsDirectory", true);
    if (f->is_exec)
        jsonw_kv_bool(w, "IsExecutable", true);
    if (f->truncated)
        jsonw_kv_bool(w, "FileTruncated", true);
    if (f->atime_sec >= 0 && (f->atime_sec || f->atime_nsec))
        jsonw_kv_time(w, "FileAccessTimeSet", (uint64_t)f->atime_sec * 1000000000ull + f->atime_nsec);
    if (f->mtime_sec >= 0 && (f->mtime_sec || f->mtime_nsec))
        jsonw_kv_time(w, "FileModificationTimeSet", (uint64_t)f->mtime_sec * 1000000000ull + f->mtime_nsec);
    jsonw_kv_str_opt(w, "LocationTag", f->tag);
    jsonw_kv_str_opt(w, "LinkType", f->link_type);
    jsonw_kv_str_opt(w, "LinkTarget", f->link_target);
}

static void net_fields(struct jsonw *w, const struct yam_net_info *n)
{
    jsonw_kv_str(w, "Protocol", n->protocol);
    jsonw_kv_str_opt(w, "LocalIP", n->local_ip);
    jsonw_kv_uint(w, "LocalPort", n->local_port);
    jsonw_kv_str_opt(w, "RemoteIP", n->remote_ip);
    if (n->remote_port)
        jsonw_kv_uint(w, "RemotePort", n->remote_port);
    jsonw_kv_str_opt(w, "RemoteIPType", n->remote_ip_type);
    jsonw_kv_str_opt(w, "ConnectionError", n->error);
}

static void logon_fields(struct jsonw *w, const struct yam_logon_info *l)
{
    jsonw_kv_str_opt(w, "LogonType", l->logon_type);
    jsonw_kv_str_opt(w, "Protocol", l->protocol);
    jsonw_kv_str_opt(w, "AccountName", l->account);
    jsonw_kv_str_opt(w, "InitiatingAccountName", l->initiating_account);
    jsonw_kv_str_opt(w, "AuthenticationMethod", l->method);
    jsonw_kv_str_opt(w, "AuthenticationKeyType", l->key_type);
    jsonw_kv_str_opt(w, "AuthenticationKeyFingerprint", l->key_fingerprint);
    jsonw_kv_str_opt(w, "RemoteIP", l->remote_ip);
    jsonw_kv_str_opt(w, "RemoteHost", l->remote_host);
    if (l->remote_port)
        jsonw_kv_uint(w, "RemotePort", l->remote_port);
    jsonw_kv_str_opt(w, "FailureReason", l->failure_reason);
    jsonw_kv_uint(w, "LogonAttemptCount", l->attempts);
    jsonw_kv_str_opt(w, "LogonCommand", l->command);
    jsonw_kv_str_opt(w, "ProcessTty", l->tty);
    jsonw_kv_str_opt(w, "LogLine", l->line);
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

static void device_fields(struct jsonw *w, const struct yam_event *ev)
{
    const struct yam_device_info *d = &ev->u.dev;

    if (strcmp(ev->action, "KernelModuleLoad") == 0) {
        const char *name = d->module_path ? strrchr(d->module_path, '/') : NULL;
        jsonw_kv_str_opt(w, "FolderPath", d->module_path);
        jsonw_kv_str_opt(w, "FileName", name ? name + 1 : NULL);
        if (d->module_failed)
            jsonw_kv_bool(w, "ModuleLoadFailed", true);
    } else if (strcmp(ev->action, "PtraceAttach") == 0) {
        jsonw_kv_uint(w, "TargetProcessId", d->target_pid);
        if (d->target) {
            jsonw_kv_str(w, "TargetProcessUniqueId", d->target->unique_id);
            jsonw_kv_str_opt(w, "TargetProcessFileName", d->target->image_name);
            jsonw_kv_str_opt(w, "TargetProcessFolderPath", d->target->image);
        }
        jsonw_kv_str_opt(w, "PtraceRequest", d->ptrace_request);
        jsonw_kv_int(w, "PtraceResult", d->ptrace_result);
    } else if (strcmp(ev->action, "ProcessCredentialsChanged") == 0) {
        if (ev->actor) {
            jsonw_kv_uint(w, "AccountUid", ev->actor->uid);
            jsonw_kv_uint(w, "ProcessEffectiveUid", ev->actor->euid);
            jsonw_kv_uint(w, "AccountGid", ev->actor->gid);
            jsonw_kv_uint(w, "ProcessEffectiveGid", ev->actor->egid);
        }
        jsonw_kv_uint(w, "NewAccountUid", d->new_uid);
        jsonw_kv_uint(w, "NewEffectiveUid", d->new_euid);
        jsonw_kv_uint(w, "NewAccountGid", d->new_gid);
        jsonw_kv_uint(w, "NewEffectiveGid", d->new_egid);
    } else if (strcmp(ev->action, "MemfdCreated") == 0) {
        jsonw_kv_str_opt(w, "MemfdName", d->memfd_name);
        jsonw_kv_uint(w, "MemfdFlags", d->memfd_flags);
    } else if (strcmp(ev->action, "BpfProgramLoad") == 0) {
        jsonw_kv_uint(w, "BpfProgramType", d->bpf_type);
        jsonw_kv_str_opt(w, "BpfProgramName", d->bpf_name);
        jsonw_kv_uint(w, "BpfInstructionCount", d->bpf_insns);
    } else if (strcmp(ev->action, "AgentStarted") == 0) {
        jsonw_kv_str_opt(w, "SensorBackend", d->backend);
        jsonw_kv_str(w, "AgentVersion", YAMORI_VERSION);
        jsonw_kv_uint(w, "SchemaVersion", YAM_SCHEMA_VERSION);
        jsonw_kv_str_opt(w, "SensorLimitations", d->limitations);
    } else if (strcmp(ev->action, "SensorEventsLost") == 0 && d->lost) {
        uint64_t total = 0;
        jsonw_key(w, "LostEvents");
        jsonw_object_begin(w);
        for (unsigned t = 0; t < YS_TYPE_MAX; t++) {
            if (d->lost[t]) {
                jsonw_kv_uint(w, event_record_type_name(t), d->lost[t]);
                total += d->lost[t];
            }
        }
        jsonw_object_end(w);
        jsonw_kv_uint(w, "LostEventsTotal", total);
        jsonw_kv_str_opt(w, "LostReason", d->lost_reason);
    }
}

void event_json(struct jsonw *w, const struct yam_event *ev, const char *device_name)
{
    jsonw_object_begin(w);
    jsonw_kv_time(w, "Timestamp", ev->time_ns);
    jsonw_kv_str(w, "EventType", yam_event_type(ev->table));
    jsonw_kv_str(w, "ActionType", ev->action);
    if (ev->seq)
        jsonw_kv_uint(w, "Seq", ev->seq);
    jsonw_kv_str_opt(w, "SensorSource", ev->source);
    jsonw_kv_str_opt(w, "DeviceName", device_name);
    switch (ev->table) {
    case YAM_PROCESS:
        if (ev->proc)
            put_fragment(w, ev->proc, PROC_FRAG_PROCESS);
        if (strcmp(ev->action, "ProcessExited") == 0) {
            jsonw_kv_int(w, "ProcessExitCode", ev->exit_code);
            if (ev->exit_signal)
                jsonw_kv_int(w, "ProcessExitSignal", ev->exit_signal);
        }
        break;
    case YAM_FILE:
        file_fields(w, &ev->u.file);
        break;
    case YAM_NETWORK:
        net_fields(w, &ev->u.net);
        break;
    case YAM_LOGON:
        logon_fields(w, &ev->u.logon);
        break;
    case YAM_DEVICE:
        device_fields(w, ev);
        break;
    }
    if (ev->actor)
        put_fragment(w, ev->actor, PROC_FRAG_INITIATING);
    if (ev->actor_parent)
        put_fragment(w, ev->actor_parent, PROC_FRAG_PARENT);
    jsonw_object_end(w);
}
