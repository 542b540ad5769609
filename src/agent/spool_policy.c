/*
 * spool_policy.c — which events the spool's quota gives up first, and the
 * record type an encoded event stands for (for counting losses by type).
 *
 * Low-value events are those whose absence leaves no hole in a story an
 * analyst reads (docs/agent.md, "Quota"):
 *
 *   - ProcessForked, ProcessExited: the ProcessCreated of each process
 *     carries its lineage and command line;
 *   - FileCreated, FileModified, FileDeleted of a file tagged "temp" that
 *     has no execute bit and no hidden path component (a dropped payload,
 *     or /tmp/.x/, is never low-value);
 *   - connections over loopback (successful outbound ones and accepted
 *     inbound ones), and successful outbound connections to well-known
 *     infrastructure services: DNS (53), mDNS (5353), LLMNR (5355), NTP
 *     (123), DHCP (67, 68).
 *
 * Never low-value: process creations and snapshots, persistence, security,
 * agent and log file events, anything executable, failed connections and
 * new listeners, logons, device events (modules, ptrace, credentials,
 * memfd, BPF), and the agent's own events.
 */
#include <string.h>

#include "agent/spool.h"
#include "common/schema.h"
#include "common/tlv.h"

static bool eq(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

unsigned spool_action_type(const char *a, size_t n, bool udp)
{
    static const struct {
        const char *action;
        unsigned type, udp_type;
    } map[] = {
        {"ProcessCreated", YS_PROC_EXEC, 0},
        {"ProcessForked", YS_PROC_FORK, 0},
        {"ProcessExited", YS_PROC_EXIT, 0},
        {"FileCreated", YS_FILE_CREATE, 0},
        {"FileModified", YS_FILE_MODIFY, 0},
        {"FileDeleted", YS_FILE_DELETE, 0},
        {"FileRenamed", YS_FILE_RENAME, 0},
        {"FilePermissionsChanged", YS_FILE_CHMOD, 0},
        {"FileOwnerChanged", YS_FILE_CHOWN, 0},
        {"FileTimestampChanged", YS_FILE_UTIMES, 0},
        {"ConnectionSuccess", YS_NET_CONNECT, YS_NET_UDP_SEND},
        {"ConnectionFailed", YS_NET_CONNECT, YS_NET_CONNECT},
        {"InboundConnectionAccepted", YS_NET_ACCEPT, YS_NET_UDP_RECV},
        {"ListeningConnectionCreated", YS_NET_LISTEN, YS_NET_LISTEN},
        {"KernelModuleLoad", YS_MODULE_LOAD, 0},
        {"PtraceAttach", YS_PTRACE, 0},
        {"ProcessCredentialsChanged", YS_CREDS, 0},
        {"MemfdCreated", YS_MEMFD_CREATE, 0},
        {"BpfProgramLoad", YS_BPF_PROG_LOAD, 0},
    };

    if (!a)
        return 0;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (eq(a, n, map[i].action))
            return udp && map[i].udp_type ? map[i].udp_type : map[i].type;
    return 0;
}

/* The fields the policy looks at. */
struct facts {
    const char *action, *tag, *path, *ip_type, *protocol;
    size_t action_n, tag_n, path_n, ip_type_n, protocol_n;
    uint64_t remote_port;
    bool executable;
};

static int read_facts(const void *rec, size_t len, struct facts *f)
{
    struct tlv_reader r;
    struct tlv_field fl;
    int e;

    memset(f, 0, sizeof(*f));
    tlv_reader_init(&r, rec, len);
    while ((e = tlv_next(&r, &fl)) == 1) {
        bool str = fl.wire == TLV_WIRE_BYTES;
        switch (fl.id) {
        case F_ACTION_TYPE: if (str && !f->action) { f->action = fl.s; f->action_n = fl.n; } break;
        case F_LOCATION_TAG: if (str) { f->tag = fl.s; f->tag_n = fl.n; } break;
        case F_FOLDER_PATH: if (str && !f->path) { f->path = fl.s; f->path_n = fl.n; } break;
        case F_REMOTE_IP_TYPE: if (str) { f->ip_type = fl.s; f->ip_type_n = fl.n; } break;
        case F_PROTOCOL: if (str) { f->protocol = fl.s; f->protocol_n = fl.n; } break;
        case F_REMOTE_PORT: if (!str) f->remote_port = fl.u; break;
        case F_IS_EXECUTABLE: if (!str && fl.u) f->executable = true; break;
        default: break;
        }
    }
    return e;
}

unsigned spool_record_type(const void *rec, size_t len)
{
    struct facts f;

    if (read_facts(rec, len, &f) != 0)
        return 0;
    return spool_action_type(f.action, f.action_n, f.protocol && eq(f.protocol, f.protocol_n, "Udp"));
}

/* Whether a path has a component starting with '.' ("/tmp/.x/a"). */
static bool hidden_component(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '/' && p[i + 1] == '.')
            return true;
    return false;
}

static bool known_service_port(uint64_t port)
{
    return port == 53 || port == 5353 || port == 5355 || port == 123 || port == 67 || port == 68;
}

bool spool_low_value(const void *rec, size_t len, unsigned *type)
{
    struct facts f;
    unsigned t;

    *type = 0;
    if (read_facts(rec, len, &f) != 0)
        return false;
    t = spool_action_type(f.action, f.action_n, f.protocol && eq(f.protocol, f.protocol_n, "Udp"));
    *type = t;
    switch (t) {
    case YS_PROC_FORK:
    case YS_PROC_EXIT:
        return true;
    case YS_FILE_CREATE:
    case YS_FILE_MODIFY:
    case YS_FILE_DELETE:
        return f.tag && eq(f.tag, f.tag_n, "temp") && !f.executable && f.path &&
               !hidden_component(f.path, f.path_n);
    case YS_NET_CONNECT:
    case YS_NET_UDP_SEND:
        if (eq(f.action, f.action_n, "ConnectionFailed"))
            return false;
        return (f.ip_type && eq(f.ip_type, f.ip_type_n, "Loopback")) || known_service_port(f.remote_port);
    case YS_NET_ACCEPT:
    case YS_NET_UDP_RECV:
        return f.ip_type && eq(f.ip_type, f.ip_type_n, "Loopback");
    default:
        return false;
    }
}
