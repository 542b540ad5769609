/*
 * fieldmap.c — see fieldmap.h. The data is the mapping; the functions only
 * read it.
 */
#include "detect/fieldmap.h"

#include "common/schema.h"

#include <string.h>

#define COMMON_ALIASES {"Computer", "DeviceName"}, {"UtcTime", "Timestamp"}

static const struct fieldmap_alias process_aliases[] = {
    {"Image", "FolderPath"},
    {"OriginalFileName", "FileName"},
    {"CommandLine", "ProcessCommandLine"},
    {"CurrentDirectory", "ProcessCurrentDirectory"},
    {"User", "AccountName"},
    {"ProcessGuid", "ProcessUniqueId"},
    {"ParentProcessId", "InitiatingProcessId"},
    {"ParentProcessGuid", "InitiatingProcessUniqueId"},
    {"ParentImage", "InitiatingProcessFolderPath"},
    {"ParentCommandLine", "InitiatingProcessCommandLine"},
    {"ParentUser", "InitiatingProcessAccountName"},
    {"GrandparentImage", "InitiatingProcessParentFolderPath"},
    COMMON_ALIASES,
    {NULL, NULL},
};

static const struct fieldmap_derived process_derived[] = {
    {"Hashes", FIELDMAP_PREFIX_UPPER, "SHA256", "SHA256="},
    {NULL, 0, NULL, NULL},
};

static const struct fieldmap_alias file_aliases[] = {
    {"TargetFilename", "FolderPath"},
    {"SourceFilename", "PreviousFolderPath"},
    {"Image", "InitiatingProcessFolderPath"},
    {"ProcessId", "InitiatingProcessId"},
    {"ProcessGuid", "InitiatingProcessUniqueId"},
    {"User", "InitiatingProcessAccountName"},
    {"CommandLine", "InitiatingProcessCommandLine"},
    {"ParentImage", "InitiatingProcessParentFolderPath"},
    COMMON_ALIASES,
    {NULL, NULL},
};

static const struct fieldmap_alias network_aliases[] = {
    {"Image", "InitiatingProcessFolderPath"},
    {"ProcessId", "InitiatingProcessId"},
    {"ProcessGuid", "InitiatingProcessUniqueId"},
    {"User", "InitiatingProcessAccountName"},
    {"CommandLine", "InitiatingProcessCommandLine"},
    {"ParentImage", "InitiatingProcessParentFolderPath"},
    {"SourceIp", "LocalIP"},
    {"SourcePort", "LocalPort"},
    {"SourceHostname", "DeviceName"},
    {"DestinationIp", "RemoteIP"},
    {"DestinationPort", "RemotePort"},
    {"DestinationHostname", "RemoteUrl"},
    COMMON_ALIASES,
    {NULL, NULL},
};

static const struct fieldmap_derived outbound_derived[] = {
    {"Initiated", FIELDMAP_CONST, NULL, "true"},
    {"SourceIsIpv6", FIELDMAP_IS_IPV6, "LocalIP", NULL},
    {"DestinationIsIpv6", FIELDMAP_IS_IPV6, "RemoteIP", NULL},
    {NULL, 0, NULL, NULL},
};

static const struct fieldmap_derived inbound_derived[] = {
    {"Initiated", FIELDMAP_CONST, NULL, "false"},
    {"SourceIsIpv6", FIELDMAP_IS_IPV6, "LocalIP", NULL},
    {"DestinationIsIpv6", FIELDMAP_IS_IPV6, "RemoteIP", NULL},
    {NULL, 0, NULL, NULL},
};

static const struct fieldmap_derived ipv6_derived[] = {
    {"SourceIsIpv6", FIELDMAP_IS_IPV6, "LocalIP", NULL},
    {"DestinationIsIpv6", FIELDMAP_IS_IPV6, "RemoteIP", NULL},
    {NULL, 0, NULL, NULL},
};

static const struct fieldmap_alias logon_aliases[] = {
    {"User", "AccountName"},
    {"TargetUserName", "AccountName"},
    {"USER", "AccountName"},
    {"SubjectUserName", "InitiatingAccountName"},
    {"SourceIp", "RemoteIP"},
    {"IpAddress", "RemoteIP"},
    {"SourcePort", "RemotePort"},
    {"IpPort", "RemotePort"},
    {"COMMAND", "LogonCommand"},
    {"CommandLine", "LogonCommand"},
    {"TTY", "ProcessTty"},
    {"Image", "InitiatingProcessFolderPath"},
    COMMON_ALIASES,
    {NULL, NULL},
};

static const struct fieldmap_alias device_aliases[] = {
    {"ImageLoaded", "FolderPath"},
    {"Image", "InitiatingProcessFolderPath"},
    {"CommandLine", "InitiatingProcessCommandLine"},
    {"User", "InitiatingProcessAccountName"},
    COMMON_ALIASES,
    {NULL, NULL},
};

static const struct fieldmap_alias common_aliases[] = {
    COMMON_ALIASES,
    {NULL, NULL},
};

static const struct fieldmap_derived no_derived[] = {{NULL, 0, NULL, NULL}};

static const char *const none[] = {NULL};
static const char *const cat_process_creation[] = {"process_creation", NULL};
static const char *const cat_file_event[] = {"file_event", NULL};
static const char *const cat_file_modified[] = {"file_event", "file_change", NULL};
static const char *const cat_file_renamed[] = {"file_event", "file_rename", NULL};
static const char *const cat_file_delete[] = {"file_delete", NULL};
static const char *const cat_file_change[] = {"file_change", NULL};
static const char *const cat_network[] = {"network_connection", NULL};
static const char *const svc_ssh[] = {"auth", "sshd", "ssh", NULL};
static const char *const svc_sudo[] = {"auth", "sudo", NULL};
static const char *const svc_su[] = {"auth", "su", NULL};
static const char *const svc_login[] = {"auth", "login", NULL};
static const char *const svc_auth[] = {"auth", NULL};

static const char *const act_proc_created[] = {"ProcessCreated", NULL};
static const char *const act_proc_other[] = {"ProcessForked", "ProcessExited",
                                             "ProcessSnapshot", NULL};
static const char *const act_file_created[] = {"FileCreated", NULL};
static const char *const act_file_modified[] = {"FileModified", NULL};
static const char *const act_file_renamed[] = {"FileRenamed", NULL};
static const char *const act_file_deleted[] = {"FileDeleted", NULL};
static const char *const act_file_meta[] = {"FilePermissionsChanged", "FileOwnerChanged",
                                            "FileTimestampChanged", NULL};
static const char *const act_net_out[] = {"ConnectionSuccess", "ConnectionFailed", NULL};
static const char *const act_net_in[] = {"InboundConnectionAccepted", NULL};
static const char *const act_net_listen[] = {"ListeningConnectionCreated", NULL};
static const char *const act_logon[] = {"LogonSuccess", "LogonFailed", NULL};
static const char *const act_module[] = {"KernelModuleLoad", NULL};
static const char *const act_device[] = {"PtraceAttach", "ProcessCredentialsChanged",
                                         "MemfdCreated", "BpfProgramLoad", "AgentStarted",
                                         "SensorEventsLost", NULL};

const struct fieldmap_class fieldmap_classes[] = {
    {"process_creation", "process", act_proc_created, NULL, cat_process_creation, none,
     process_aliases, process_derived},
    {"process_other", "process", act_proc_other, NULL, none, none, process_aliases,
     process_derived},
    {"file_created", "file", act_file_created, NULL, cat_file_event, none, file_aliases,
     no_derived},
    {"file_modified", "file", act_file_modified, NULL, cat_file_modified, none, file_aliases,
     no_derived},
    {"file_renamed", "file", act_file_renamed, NULL, cat_file_renamed, none, file_aliases,
     no_derived},
    {"file_deleted", "file", act_file_deleted, NULL, cat_file_delete, none, file_aliases,
     no_derived},
    {"file_metadata", "file", act_file_meta, NULL, cat_file_change, none, file_aliases,
     no_derived},
    {"network_outbound", "network", act_net_out, NULL, cat_network, none, network_aliases,
     outbound_derived},
    {"network_inbound", "network", act_net_in, NULL, cat_network, none, network_aliases,
     inbound_derived},
    {"network_listen", "network", act_net_listen, NULL, none, none, network_aliases,
     ipv6_derived},
    {"logon_ssh", "logon", act_logon, "ssh", none, svc_ssh, logon_aliases, no_derived},
    {"logon_sudo", "logon", act_logon, "sudo", none, svc_sudo, logon_aliases, no_derived},
    {"logon_su", "logon", act_logon, "su", none, svc_su, logon_aliases, no_derived},
    {"logon_login", "logon", act_logon, "login", none, svc_login, logon_aliases, no_derived},
    {"logon_other", "logon", act_logon, NULL, none, svc_auth, logon_aliases, no_derived},
    {"kernel_module", "device", act_module, NULL, none, none, device_aliases, no_derived},
    {"device_other", "device", act_device, NULL, none, none, device_aliases, no_derived},
    {"other", NULL, none, NULL, none, none, common_aliases, no_derived},
};

const size_t fieldmap_nclasses = sizeof(fieldmap_classes) / sizeof(fieldmap_classes[0]);

size_t fieldmap_fallback(const char *event_type, size_t len)
{
    static const struct {
        const char *type;
        const char *cls;
    } fb[] = {
        {"process", "process_other"}, {"file", "file_metadata"},
        {"network", "network_listen"}, {"logon", "logon_other"},
        {"device", "device_other"},
    };
    const char *want = "other";
    for (size_t i = 0; event_type && i < sizeof(fb) / sizeof(fb[0]); i++)
        if (strlen(fb[i].type) == len && memcmp(fb[i].type, event_type, len) == 0)
            want = fb[i].cls;
    for (size_t i = 0; i < fieldmap_nclasses; i++)
        if (strcmp(fieldmap_classes[i].name, want) == 0)
            return i;
    return fieldmap_nclasses - 1;
}

static bool in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0)
            return true;
    return false;
}

bool fieldmap_selects(const struct fieldmap_class *c, const char *product,
                      const char *category, const char *service)
{
    if (product && strcmp(product, "linux") != 0)
        return false;
    if (category && !in_list(c->categories, category))
        return false;
    if (service && !in_list(c->services, service))
        return false;
    return true;
}

/* File names are left out: each is the end of its path, which is searched. */
const char *const fieldmap_text_fields[] = {
    "ProcessCommandLine", "InitiatingProcessCommandLine", "FolderPath",
    "InitiatingProcessFolderPath", "PreviousFolderPath", "ProcessCurrentDirectory",
    "AccountName", "InitiatingAccountName", "LogLine", "LogonCommand", "MemfdName",
    "TargetProcessFileName", "BpfProgramName", "RemoteIP", "RemoteUrl",
    NULL,
};

/* Columns the schema reserves but no sensor fills yet: a rule reading one
 * loads, and lint says it cannot match. RemoteUrl waits for the agent to
 * pair connections with the DNS answers that named them. */
static const char *const reserved_fields[] = {"RemoteUrl", NULL};

bool fieldmap_reserved_field(const char *name)
{
    for (const char *const *r = reserved_fields; *r; r++)
        if (strcmp(*r, name) == 0)
            return true;
    return false;
}

/* The columns of Yamori's events come from the one schema table
 * (src/common/schema.h), so a field added there is known here too. */
bool fieldmap_schema_field(const char *name)
{
    return schema_field_by_name(name, strlen(name)) != NULL && !fieldmap_reserved_field(name);
}

bool fieldmap_class_field(const struct fieldmap_class *c, const char *name)
{
    for (const struct fieldmap_alias *a = c->aliases; a->sigma; a++)
        if (strcmp(a->sigma, name) == 0)
            return true;
    for (const struct fieldmap_derived *d = c->derived; d->sigma; d++)
        if (strcmp(d->sigma, name) == 0)
            return true;
    return false;
}
