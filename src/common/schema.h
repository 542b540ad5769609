/*
 * schema.h — every field an event can carry, once.
 *
 * One table gives each field a stable numeric id (used on the wire and in
 * the spool, never reused), its name (the hunting column, Defender's name
 * where one exists), its type, and the hunting tables it is a column of.
 * The agent encodes events with it (src/agent/event_encode.c), the JSON
 * rendering and the server's decoder and store are driven by it, and
 * docs/events.md documents it. Adding a field: a new id at the end of its
 * group, never a changed one.
 */
#ifndef YAMORI_COMMON_SCHEMA_H
#define YAMORI_COMMON_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YAM_SCHEMA_VERSION 1

enum schema_type {
    SCHEMA_STR = 1,  /* bytes (paths, command lines: not promised to be UTF-8) */
    SCHEMA_UINT,     /* unsigned integer */
    SCHEMA_INT,      /* signed integer */
    SCHEMA_TIME,     /* UTC nanoseconds since the epoch */
    SCHEMA_BOOL,     /* present means true */
    SCHEMA_JSON,     /* a JSON value as text (objects such as LostEvents) */
};

/* Hunting tables, as a bit mask in the schema table. */
enum schema_table {
    SCHEMA_T_PROCESS = 1 << 0, /* DeviceProcessEvents */
    SCHEMA_T_FILE = 1 << 1,    /* DeviceFileEvents */
    SCHEMA_T_NETWORK = 1 << 2, /* DeviceNetworkEvents */
    SCHEMA_T_LOGON = 1 << 3,   /* DeviceLogonEvents */
    SCHEMA_T_DEVICE = 1 << 4,  /* DeviceEvents */
};
#define SCHEMA_T_ALL 0x1f
#define SCHEMA_T_ACT (SCHEMA_T_PROCESS | SCHEMA_T_FILE | SCHEMA_T_NETWORK | SCHEMA_T_LOGON | SCHEMA_T_DEVICE)

/* X(enum name, id, column name, type, tables) */
#define SCHEMA_FIELDS(X)                                                                          \
    /* every event */                                                                             \
    X(F_TIMESTAMP, 1, "Timestamp", SCHEMA_TIME, SCHEMA_T_ALL)                                     \
    X(F_EVENT_TYPE, 2, "EventType", SCHEMA_STR, 0)                                                \
    X(F_ACTION_TYPE, 3, "ActionType", SCHEMA_STR, SCHEMA_T_ALL)                                   \
    X(F_SEQ, 4, "Seq", SCHEMA_UINT, SCHEMA_T_ALL)                                                 \
    X(F_SENSOR_SOURCE, 5, "SensorSource", SCHEMA_STR, SCHEMA_T_ALL)                               \
    X(F_DEVICE_NAME, 6, "DeviceName", SCHEMA_STR, SCHEMA_T_ALL)                                   \
    /* the process of a process event */                                                         \
    X(F_PROCESS_ID, 10, "ProcessId", SCHEMA_UINT, SCHEMA_T_PROCESS)                               \
    X(F_PROCESS_UNIQUE_ID, 11, "ProcessUniqueId", SCHEMA_STR, SCHEMA_T_PROCESS)                   \
    X(F_PROCESS_CREATION_TIME, 12, "ProcessCreationTime", SCHEMA_TIME, SCHEMA_T_PROCESS)          \
    X(F_FILE_NAME, 13, "FileName", SCHEMA_STR, SCHEMA_T_PROCESS | SCHEMA_T_FILE | SCHEMA_T_DEVICE) \
    X(F_FOLDER_PATH, 14, "FolderPath", SCHEMA_STR, SCHEMA_T_PROCESS | SCHEMA_T_FILE | SCHEMA_T_DEVICE) \
    X(F_PROCESS_COMMAND_LINE, 15, "ProcessCommandLine", SCHEMA_STR, SCHEMA_T_PROCESS)            \
    X(F_PROCESS_COMMAND_LINE_TRUNCATED, 16, "ProcessCommandLineTruncated", SCHEMA_BOOL, SCHEMA_T_PROCESS) \
    X(F_PROCESS_ARGUMENT_COUNT, 17, "ProcessArgumentCount", SCHEMA_UINT, SCHEMA_T_PROCESS)        \
    X(F_PROCESS_CURRENT_DIRECTORY, 18, "ProcessCurrentDirectory", SCHEMA_STR, SCHEMA_T_PROCESS)   \
    X(F_ACCOUNT_NAME, 19, "AccountName", SCHEMA_STR, SCHEMA_T_PROCESS | SCHEMA_T_LOGON)           \
    X(F_ACCOUNT_UID, 20, "AccountUid", SCHEMA_UINT, SCHEMA_T_PROCESS | SCHEMA_T_DEVICE)           \
    X(F_ACCOUNT_GID, 21, "AccountGid", SCHEMA_UINT, SCHEMA_T_PROCESS | SCHEMA_T_DEVICE)           \
    X(F_PROCESS_EFFECTIVE_UID, 22, "ProcessEffectiveUid", SCHEMA_UINT, SCHEMA_T_PROCESS | SCHEMA_T_DEVICE) \
    X(F_PROCESS_EFFECTIVE_GID, 23, "ProcessEffectiveGid", SCHEMA_UINT, SCHEMA_T_PROCESS | SCHEMA_T_DEVICE) \
    X(F_LOGON_ID, 24, "LogonId", SCHEMA_UINT, SCHEMA_T_PROCESS)                                   \
    X(F_ACCOUNT_LOGIN_UID, 25, "AccountLoginUid", SCHEMA_UINT, SCHEMA_T_PROCESS)                  \
    X(F_PROCESS_SESSION_ID, 26, "ProcessSessionId", SCHEMA_UINT, SCHEMA_T_PROCESS)                \
    X(F_PROCESS_TTY, 27, "ProcessTty", SCHEMA_STR, SCHEMA_T_PROCESS | SCHEMA_T_LOGON)             \
    X(F_CONTAINER_ID, 28, "ContainerId", SCHEMA_STR, SCHEMA_T_PROCESS)                            \
    X(F_CGROUP_NAME, 29, "CgroupName", SCHEMA_STR, SCHEMA_T_PROCESS)                              \
    X(F_SHA256, 30, "SHA256", SCHEMA_STR, SCHEMA_T_PROCESS)                                       \
    X(F_SHA256_SKIPPED, 31, "SHA256Skipped", SCHEMA_STR, SCHEMA_T_PROCESS)                        \
    X(F_FILE_SIZE, 32, "FileSize", SCHEMA_UINT, SCHEMA_T_PROCESS)                                 \
    X(F_PACKAGE_NAME, 33, "PackageName", SCHEMA_STR, SCHEMA_T_PROCESS)                            \
    X(F_PROCESS_IMAGE_MEMFD, 34, "ProcessImageMemfd", SCHEMA_BOOL, SCHEMA_T_PROCESS)              \
    X(F_MEMFD_NAME, 35, "MemfdName", SCHEMA_STR, SCHEMA_T_PROCESS | SCHEMA_T_DEVICE)              \
    X(F_PROCESS_IMAGE_DELETED, 36, "ProcessImageDeleted", SCHEMA_BOOL, SCHEMA_T_PROCESS)          \
    X(F_PROCESS_INTEGRITY, 37, "ProcessIntegrity", SCHEMA_STR, SCHEMA_T_PROCESS)                  \
    X(F_PROCESS_EXIT_CODE, 38, "ProcessExitCode", SCHEMA_INT, SCHEMA_T_PROCESS)                   \
    X(F_PROCESS_EXIT_SIGNAL, 39, "ProcessExitSignal", SCHEMA_INT, SCHEMA_T_PROCESS)               \
    /* the acting process and its parent */                                                      \
    X(F_IP_ID, 50, "InitiatingProcessId", SCHEMA_UINT, SCHEMA_T_ACT)                              \
    X(F_IP_UNIQUE_ID, 51, "InitiatingProcessUniqueId", SCHEMA_STR, SCHEMA_T_ACT)                  \
    X(F_IP_FILE_NAME, 52, "InitiatingProcessFileName", SCHEMA_STR, SCHEMA_T_ACT)                  \
    X(F_IP_FOLDER_PATH, 53, "InitiatingProcessFolderPath", SCHEMA_STR, SCHEMA_T_ACT)              \
    X(F_IP_COMMAND_LINE, 54, "InitiatingProcessCommandLine", SCHEMA_STR, SCHEMA_T_ACT)            \
    X(F_IP_CREATION_TIME, 55, "InitiatingProcessCreationTime", SCHEMA_TIME, SCHEMA_T_ACT)         \
    X(F_IP_CURRENT_DIRECTORY, 56, "InitiatingProcessCurrentDirectory", SCHEMA_STR, SCHEMA_T_ACT)  \
    X(F_IP_ACCOUNT_NAME, 57, "InitiatingProcessAccountName", SCHEMA_STR, SCHEMA_T_ACT)            \
    X(F_IP_ACCOUNT_UID, 58, "InitiatingProcessAccountUid", SCHEMA_UINT, SCHEMA_T_ACT)             \
    X(F_IP_SHA256, 59, "InitiatingProcessSHA256", SCHEMA_STR, SCHEMA_T_ACT)                       \
    X(F_IP_PARENT_ID, 60, "InitiatingProcessParentId", SCHEMA_UINT, SCHEMA_T_ACT)                 \
    X(F_IP_PARENT_UNIQUE_ID, 61, "InitiatingProcessParentUniqueId", SCHEMA_STR, SCHEMA_T_ACT)     \
    X(F_IP_PARENT_FILE_NAME, 62, "InitiatingProcessParentFileName", SCHEMA_STR, SCHEMA_T_ACT)     \
    X(F_IP_PARENT_FOLDER_PATH, 63, "InitiatingProcessParentFolderPath", SCHEMA_STR, SCHEMA_T_ACT) \
    X(F_IP_PARENT_CREATION_TIME, 64, "InitiatingProcessParentCreationTime", SCHEMA_TIME, SCHEMA_T_ACT) \
    /* files */                                                                                  \
    X(F_PREVIOUS_FILE_NAME, 70, "PreviousFileName", SCHEMA_STR, SCHEMA_T_FILE)                    \
    X(F_PREVIOUS_FOLDER_PATH, 71, "PreviousFolderPath", SCHEMA_STR, SCHEMA_T_FILE)                \
    X(F_FILE_MODE, 72, "FileMode", SCHEMA_STR, SCHEMA_T_FILE)                                     \
    X(F_FILE_OWNER_UID, 73, "FileOwnerUid", SCHEMA_UINT, SCHEMA_T_FILE)                           \
    X(F_FILE_GROUP_GID, 74, "FileGroupGid", SCHEMA_UINT, SCHEMA_T_FILE)                           \
    X(F_IS_DIRECTORY, 75, "IsDirectory", SCHEMA_BOOL, SCHEMA_T_FILE)                              \
    X(F_IS_EXECUTABLE, 76, "IsExecutable", SCHEMA_BOOL, SCHEMA_T_FILE)                            \
    X(F_FILE_TRUNCATED, 77, "FileTruncated", SCHEMA_BOOL, SCHEMA_T_FILE)                          \
    X(F_FILE_ACCESS_TIME_SET, 78, "FileAccessTimeSet", SCHEMA_TIME, SCHEMA_T_FILE)                \
    X(F_FILE_MODIFICATION_TIME_SET, 79, "FileModificationTimeSet", SCHEMA_TIME, SCHEMA_T_FILE)    \
    X(F_LOCATION_TAG, 80, "LocationTag", SCHEMA_STR, SCHEMA_T_FILE)                               \
    X(F_LINK_TYPE, 81, "LinkType", SCHEMA_STR, SCHEMA_T_FILE)                                     \
    X(F_LINK_TARGET, 82, "LinkTarget", SCHEMA_STR, SCHEMA_T_FILE)                                 \
    X(F_FILE_CONTENT_SNIPPET, 83, "FileContentSnippet", SCHEMA_STR, SCHEMA_T_FILE)                \
    X(F_FILE_CONTENT_SNIPPET_TRUNCATED, 84, "FileContentSnippetTruncated", SCHEMA_BOOL, SCHEMA_T_FILE) \
    /* network */                                                                                \
    X(F_PROTOCOL, 90, "Protocol", SCHEMA_STR, SCHEMA_T_NETWORK | SCHEMA_T_LOGON)                  \
    X(F_LOCAL_IP, 91, "LocalIP", SCHEMA_STR, SCHEMA_T_NETWORK)                                    \
    X(F_LOCAL_PORT, 92, "LocalPort", SCHEMA_UINT, SCHEMA_T_NETWORK)                               \
    X(F_REMOTE_IP, 93, "RemoteIP", SCHEMA_STR, SCHEMA_T_NETWORK | SCHEMA_T_LOGON)                 \
    X(F_REMOTE_PORT, 94, "RemotePort", SCHEMA_UINT, SCHEMA_T_NETWORK | SCHEMA_T_LOGON)            \
    X(F_REMOTE_IP_TYPE, 95, "RemoteIPType", SCHEMA_STR, SCHEMA_T_NETWORK)                         \
    X(F_CONNECTION_ERROR, 96, "ConnectionError", SCHEMA_STR, SCHEMA_T_NETWORK)                    \
    X(F_REMOTE_URL, 97, "RemoteUrl", SCHEMA_STR, SCHEMA_T_NETWORK)                                \
    /* logons */                                                                                 \
    X(F_LOGON_TYPE, 110, "LogonType", SCHEMA_STR, SCHEMA_T_LOGON)                                 \
    X(F_INITIATING_ACCOUNT_NAME, 111, "InitiatingAccountName", SCHEMA_STR, SCHEMA_T_LOGON)        \
    X(F_AUTHENTICATION_METHOD, 112, "AuthenticationMethod", SCHEMA_STR, SCHEMA_T_LOGON)           \
    X(F_AUTHENTICATION_KEY_TYPE, 113, "AuthenticationKeyType", SCHEMA_STR, SCHEMA_T_LOGON)        \
    X(F_AUTHENTICATION_KEY_FINGERPRINT, 114, "AuthenticationKeyFingerprint", SCHEMA_STR, SCHEMA_T_LOGON) \
    X(F_REMOTE_HOST, 115, "RemoteHost", SCHEMA_STR, SCHEMA_T_LOGON)                               \
    X(F_FAILURE_REASON, 116, "FailureReason", SCHEMA_STR, SCHEMA_T_LOGON)                         \
    X(F_LOGON_ATTEMPT_COUNT, 117, "LogonAttemptCount", SCHEMA_UINT, SCHEMA_T_LOGON)               \
    X(F_LOGON_COMMAND, 118, "LogonCommand", SCHEMA_STR, SCHEMA_T_LOGON)                           \
    X(F_LOG_LINE, 119, "LogLine", SCHEMA_STR, SCHEMA_T_LOGON)                                     \
    /* everything else (DeviceEvents) */                                                         \
    X(F_MODULE_LOAD_FAILED, 130, "ModuleLoadFailed", SCHEMA_BOOL, SCHEMA_T_DEVICE)                \
    X(F_TARGET_PROCESS_ID, 131, "TargetProcessId", SCHEMA_UINT, SCHEMA_T_DEVICE)                  \
    X(F_TARGET_PROCESS_UNIQUE_ID, 132, "TargetProcessUniqueId", SCHEMA_STR, SCHEMA_T_DEVICE)      \
    X(F_TARGET_PROCESS_FILE_NAME, 133, "TargetProcessFileName", SCHEMA_STR, SCHEMA_T_DEVICE)      \
    X(F_TARGET_PROCESS_FOLDER_PATH, 134, "TargetProcessFolderPath", SCHEMA_STR, SCHEMA_T_DEVICE)  \
    X(F_PTRACE_REQUEST, 135, "PtraceRequest", SCHEMA_STR, SCHEMA_T_DEVICE)                        \
    X(F_PTRACE_RESULT, 136, "PtraceResult", SCHEMA_INT, SCHEMA_T_DEVICE)                          \
    X(F_NEW_ACCOUNT_UID, 137, "NewAccountUid", SCHEMA_UINT, SCHEMA_T_DEVICE)                      \
    X(F_NEW_EFFECTIVE_UID, 138, "NewEffectiveUid", SCHEMA_UINT, SCHEMA_T_DEVICE)                  \
    X(F_NEW_ACCOUNT_GID, 139, "NewAccountGid", SCHEMA_UINT, SCHEMA_T_DEVICE)                      \
    X(F_NEW_EFFECTIVE_GID, 140, "NewEffectiveGid", SCHEMA_UINT, SCHEMA_T_DEVICE)                  \
    X(F_MEMFD_FLAGS, 141, "MemfdFlags", SCHEMA_UINT, SCHEMA_T_DEVICE)                             \
    X(F_BPF_PROGRAM_TYPE, 142, "BpfProgramType", SCHEMA_UINT, SCHEMA_T_DEVICE)                    \
    X(F_BPF_PROGRAM_NAME, 143, "BpfProgramName", SCHEMA_STR, SCHEMA_T_DEVICE)                     \
    X(F_BPF_INSTRUCTION_COUNT, 144, "BpfInstructionCount", SCHEMA_UINT, SCHEMA_T_DEVICE)          \
    X(F_SENSOR_BACKEND, 145, "SensorBackend", SCHEMA_STR, SCHEMA_T_DEVICE)                        \
    X(F_AGENT_VERSION, 146, "AgentVersion", SCHEMA_STR, SCHEMA_T_DEVICE)                          \
    X(F_SCHEMA_VERSION, 147, "SchemaVersion", SCHEMA_UINT, SCHEMA_T_DEVICE)                       \
    X(F_SENSOR_LIMITATIONS, 148, "SensorLimitations", SCHEMA_STR, SCHEMA_T_DEVICE)                \
    X(F_LOST_EVENTS, 149, "LostEvents", SCHEMA_JSON, SCHEMA_T_DEVICE)                             \
    X(F_LOST_EVENTS_TOTAL, 150, "LostEventsTotal", SCHEMA_UINT, SCHEMA_T_DEVICE)                  \
    X(F_LOST_REASON, 151, "LostReason", SCHEMA_STR, SCHEMA_T_DEVICE)                               \
    X(F_ISOLATION_CHANGE, 152, "IsolationChange", SCHEMA_STR, SCHEMA_T_DEVICE)

enum schema_field {
    F_NONE = 0,
#define SCHEMA_ENUM(e, id, name, type, tables) e = id,
    SCHEMA_FIELDS(SCHEMA_ENUM)
#undef SCHEMA_ENUM
    F_MAX_ID = 160 /* ids are below this */
};

struct schema_field_info {
    uint16_t id;
    uint8_t type;   /* enum schema_type */
    uint8_t tables; /* enum schema_table mask: the tables it is a column of */
    const char *name;
};

/* The field with this id, or NULL for an id no version of the schema had
 * (decoders skip unknown ids of known types, see tlv.h). */
const struct schema_field_info *schema_field(unsigned id);

/* The field with this column name, or NULL. */
const struct schema_field_info *schema_field_by_name(const char *name, size_t len);

/* Every field, in id order, terminated by an entry with id 0. */
extern const struct schema_field_info schema_fields[];

/* EventType values and their tables: "process" -> SCHEMA_T_PROCESS ...;
 * 0 for an unknown text. */
unsigned schema_table_of_event_type(const char *event_type, size_t len);
/* "DeviceProcessEvents" ... for one table bit. */
const char *schema_table_name(unsigned table_bit);
/* "process" ... for one table bit. */
const char *schema_event_type_name(unsigned table_bit);

#endif
