/*
 * test_alerts_group.c — the alerts engine in-process on a real SQLite
 * store in a temporary directory: hits raised through alert_sink_raise()
 * become alerts, duplicates update them, and alerts group into incidents
 * by shared lineage, logon id and evidence entities, per device and within
 * the incident window.
 *
 * The scenario is SCENARIO.md's take-over: one bash setup script disables
 * the defences, drops /usr/lib/runtime, adds a cron entry and starts the
 * payload, which calls out. Its four alerts must end in one incident named
 * "Multi-stage incident involving …", severity high, tactics in kill-chain
 * order; an unrelated alert of the same machine, and the same activity on
 * another machine, must not join it.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#include "server/alert_sink.h"
#include "server/alerts.h"
#include "server/store.h"
#include "server/store_alerts.h"

#define DEV1 "0f0e0d0c-0000-4000-8000-000000000001"
#define DEV2 "0f0e0d0c-0000-4000-8000-000000000002"
#define T0 1764151920000000000LL /* 2025-11-26T10:12:00Z */
#define MINUTE 60000000000LL
#define HOUR (60 * MINUTE)

static char dir[256];
static struct store *st;
static struct alerts *engine;
static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static void teardown(void)
{
    char cmd[300];

    alert_sink_set(NULL, NULL);
    alerts_free(engine);
    engine = NULL;
    store_close(st);
    st = NULL;
    if (dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
        dir[0] = '\0';
    }
}

/* A fresh store with the engine registered as the sink. */
static bool open_store(unsigned window_hours)
{
    char uri[300], err[256];

    snprintf(dir, sizeof(dir), "/tmp/yamori-alerts.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        return false;
    }
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    if (store_open(&st, uri, err, sizeof(err)) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return false;
    }
    fake_now = 1764152000000;
    store_set_clock(st, fake_clock, NULL);
    engine = alerts_new(st, window_hours);
    if (!engine)
        return false;
    alert_sink_set(alerts_sink, engine);
    return true;
}

/* ------------------------------------------------------------------ the scenario's hits */

static const struct alert_evidence ev_controls[] = {
    {"process", "source", "P-systemctl", "{\"image\":\"/usr/bin/systemctl\",\"command_line\":\"systemctl stop auditd\"}"},
    {"process", "suspicious", "P-bash", "{\"image\":\"/usr/bin/bash\",\"command_line\":\"bash setup.sh\"}"},
    {"configuration", "edited", "/etc/yamori/agent.conf", NULL},
    {"user", "attacked", "root", NULL},
};
static const struct alert_evidence ev_cron[] = {
    {"persistence", "created", "/etc/cron.d/awsd", "{\"content\":\"@reboot root /usr/lib/runtime\"}"},
    {"file", "contextual", "/usr/lib/runtime", NULL},
    {"process", "source", "P-bash", NULL},
};
static const struct alert_evidence ev_dropped[] = {
    {"file", "created", "/usr/lib/runtime",
     "{\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}"},
    {"process", "source", "P-payload", "{\"image\":\"/usr/lib/runtime\"}"},
};
static const struct alert_evidence ev_c2[] = {
    {"ip", "command-and-control", "203.0.113.7", "{\"port\":4444}"},
    {"process", "source", "P-payload", "{\"image\":\"/usr/lib/runtime\"}"},
};

static struct alert_hit hit_controls(const char *device, int64_t t)
{
    struct alert_hit h = {
        .device_id = device, .detection_source = "EDR", .rule_id = "yamori-defense-evasion-auditd",
        .title = "Security controls disabled", .description = "auditd was stopped", .severity = "high",
        .category = "Defense evasion", .tactics = {"defense_evasion"}, .techniques = {"T1562.001"},
        .dedup_key = "yamori-defense-evasion-auditd:P-systemctl", .first_event_ns = t, .last_event_ns = t,
        .account = "root", .process_uid = "P-systemctl", .lineage = {"P-systemctl", "P-bash", "P-sshd"},
        .logon_id = "17", .event_seqs = {101}, .evidence = ev_controls, .nevidence = 4,
    };
    return h;
}

static struct alert_hit hit_cron(const char *device, int64_t t)
{
    struct alert_hit h = {
        .device_id = device, .detection_source = "EDR", .rule_id = "yamori-persistence-cron",
        .title = "Suspicious cron persistence", .severity = "medium", .tactics = {"Persistence"},
        .techniques = {"T1053.003"}, .dedup_key = "yamori-persistence-cron:P-bash", .first_event_ns = t,
        .last_event_ns = t, .account = "root", .process_uid = "P-bash", .lineage = {"P-bash", "P-sshd"},
        .event_seqs = {102}, .evidence = ev_cron, .nevidence = 3,
    };
    return h;
}

static struct alert_hit hit_dropped(const char *device, int64_t t)
{
    struct alert_hit h = {
        .device_id = device, .detection_source = "EDR", .rule_id = "yamori-execution-dropped",
        .title = "Executable dropped in system path and run as root", .severity = "high",
        .tactics = {"Execution", "Persistence"}, .techniques = {"T1204.002", "T1543"},
        .dedup_key = "yamori-execution-dropped:P-payload", .first_event_ns = t, .last_event_ns = t,
        .account = "root", .process_uid = "P-payload", .lineage = {"P-payload", "P-bash"}, .event_seqs = {103, 104},
        .evidence = ev_dropped, .nevidence = 2,
    };
    return h;
}

static struct alert_hit hit_c2(const char *device, int64_t t)
{
    struct alert_hit h = {
        .device_id = device, .detection_source = "EDR", .rule_id = "yamori-c2-reverse-shell",
        .title = "Reverse shell connection", .severity = "high", .tactics = {"Command and control"},
        .techniques = {"T1071"}, .dedup_key = "yamori-c2-reverse-shell:P-payload", .first_event_ns = t,
        .last_event_ns = t, .process_uid = "P-payload", .lineage = {"P-payload"}, .event_seqs = {105},
        .evidence = ev_c2, .nevidence = 2,
    };
    return h;
}

/* An alert sharing nothing with the scenario: its own process, a
 * loopback address and the user root (neither groups). */
static const struct alert_evidence ev_other[] = {
    {"ip", "contextual", "127.0.0.1", NULL},
    {"user", "contextual", "root", NULL},
};

static struct alert_hit hit_other(const char *device, int64_t t)
{
    struct alert_hit h = {
        .device_id = device, .rule_id = "yamori-discovery-scan", .title = "Local port scan", .severity = "low",
        .tactics = {"Discovery"}, .dedup_key = "yamori-discovery-scan:P-nmap", .first_event_ns = t,
        .last_event_ns = t, .account = "root", .process_uid = "P-nmap", .lineage = {"P-nmap", "P-cron-session"},
        .evidence = ev_other, .nevidence = 2,
    };
    return h;
}

static int64_t raise_hit(const struct alert_hit *h)
{
    int64_t id = 0;
    int e = alert_sink_raise(h, &id);
    return e ? e : id;
}

static int64_t incident_of(int64_t alert)
{
    struct store_alert a;
    int64_t id;

    if (store_alert_get(st, alert, &a) != 0)
        return -1;
    id = a.incident_id;
    store_alert_clear(&a);
    return id;
}

/* ------------------------------------------------------------------ cases */

static void names_and_keys(void)
{
    char name[300];
    int two[] = {5, 7}, three[] = {4, 5, 7}, four[] = {4, 5, 7, 12};

    CHECK_INT(alerts_tactic_rank("defense_evasion"), ==, 7);
    CHECK_INT(alerts_tactic_rank("Command and Control"), ==, 12);
    CHECK_INT(alerts_tactic_rank("lateral-movement"), ==, 10);
    CHECK_INT(alerts_tactic_rank("evasion"), ==, 0);
    alerts_incident_name(two, 2, "x", 1, name, sizeof(name));
    CHECK_STR(name, "Multi-stage incident involving Persistence and Defense evasion on one endpoint");
    alerts_incident_name(three, 3, "x", 1, name, sizeof(name));
    CHECK_STR(name, "Multi-stage incident involving Execution, Persistence and Defense evasion on one endpoint");
    alerts_incident_name(four, 4, "x", 2, name, sizeof(name));
    CHECK_STR(name, "Multi-stage incident involving Execution and Command and control on 2 endpoints");
    alerts_incident_name(two, 1, "Suspicious cron persistence", 1, name, sizeof(name));
    CHECK_STR(name, "Suspicious cron persistence on one endpoint");

    CHECK(alerts_key_shareable("ip", "203.0.113.7"));
    CHECK(!alerts_key_shareable("ip", "127.0.0.1"));
    CHECK(!alerts_key_shareable("ip", "::1"));
    CHECK(!alerts_key_shareable("ip", "0.0.0.0"));
    CHECK(!alerts_key_shareable("ip", "fe80::1"));
    CHECK(!alerts_key_shareable("user", "root"));
    CHECK(!alerts_key_shareable("file", "/tmp"));
    CHECK(!alerts_key_shareable("file", "/"));
    CHECK(alerts_key_shareable("file", "/usr/lib/runtime"));
    CHECK(!alerts_key_shareable("logon", "4294967295"));
    CHECK(alerts_key_shareable("logon", "17"));

    CHECK_STR(alerts_default_verdict("command-and-control", 2), "malicious");
    CHECK_STR(alerts_default_verdict("created", 4), "malicious");
    CHECK_STR(alerts_default_verdict("created", 3), "suspicious");
    CHECK_STR(alerts_default_verdict("contextual", 4), "clean");
    CHECK_STR(alerts_classification("False_Positive"), "false positive");
    CHECK_STR(alerts_classification("informational-expected-activity"), "informational, expected activity");
    CHECK(alerts_determination("malware", "false positive") == NULL);
    CHECK_STR(alerts_determination("not enough data", "false positive"), "not enough data");
    CHECK_STR(alerts_determination("other", "true positive"), "other");
}

static void scenario_is_one_incident(void)
{
    struct alert_hit h;
    struct store_incident inc = {0};
    struct store_alert *v = NULL;
    struct store_evidence *ev = NULL;
    size_t n = 0, nev = 0;
    int64_t a1, a2, a3, a4, inc_id;
    json_t *tactics = NULL;

    check_set_teardown(teardown);
    CHECK(open_store(24));

    h = hit_controls(DEV1, T0);
    a1 = raise_hit(&h);
    CHECK_INT(a1, >, 0);
    inc_id = incident_of(a1);
    CHECK_INT(inc_id, >, 0);
    CHECK_INT(store_incident_get(st, inc_id, &inc), ==, 0);
    CHECK_STR(inc.name, "Security controls disabled on one endpoint");
    CHECK_STR(inc.status, "active");
    CHECK_INT(inc.severity, ==, 4);
    store_incident_clear(&inc);

    h = hit_cron(DEV1, T0 + MINUTE);
    a2 = raise_hit(&h);
    CHECK_INT(a2, >, a1);
    CHECK_INT(incident_of(a2), ==, inc_id);
    CHECK_INT(store_incident_get(st, inc_id, &inc), ==, 0);
    CHECK_STR(inc.name, "Multi-stage incident involving Persistence and Defense evasion on one endpoint");
    store_incident_clear(&inc);

    h = hit_dropped(DEV1, T0 + 2 * MINUTE);
    a3 = raise_hit(&h);
    h = hit_c2(DEV1, T0 + 3 * MINUTE);
    a4 = raise_hit(&h);
    CHECK_INT(incident_of(a3), ==, inc_id);
    CHECK_INT(incident_of(a4), ==, inc_id); /* shares P-payload with the dropped executable only */

    CHECK_INT(store_incident_get(st, inc_id, &inc), ==, 0);
    CHECK_STR(inc.name, "Multi-stage incident involving Execution and Command and control on one endpoint");
    CHECK_INT(inc.severity, ==, 4);
    CHECK_STR(inc.status, "active");
    CHECK_INT(inc.alert_count, ==, 4);
    CHECK_INT(inc.first_event_ns, ==, T0);
    CHECK_INT(inc.last_event_ns, ==, T0 + 3 * MINUTE);
    tactics = json_loads(inc.tactics_json, 0, NULL);
    CHECK(json_array_size(tactics) == 4);
    CHECK_STR(json_string_value(json_array_get(tactics, 0)), "Execution");
    CHECK_STR(json_string_value(json_array_get(tactics, 1)), "Persistence");
    CHECK_STR(json_string_value(json_array_get(tactics, 2)), "Defense evasion");
    CHECK_STR(json_string_value(json_array_get(tactics, 3)), "Command and control");
    json_decref(tactics);
    tactics = NULL;
    CHECK_STR(inc.devices_json, "[\"" DEV1 "\"]");
    CHECK_STR(inc.users_json, "[\"root\"]");
    store_incident_clear(&inc);

    {
        struct store_alert_filter f = {.incident_id = inc_id, .oldest_first = true};
        CHECK_INT(store_alert_list(st, &f, &v, &n, NULL), ==, 0);
    }
    CHECK_INT(n, ==, 4);
    CHECK_STR(v[0].title, "Security controls disabled");
    CHECK_STR(v[0].category, "Defense evasion");
    CHECK_STR(v[0].tactics_json, "[\"Defense evasion\"]");
    CHECK_STR(v[0].techniques_json, "[\"T1562.001\"]");
    CHECK_STR(v[0].status, "new");
    CHECK_STR(v[2].tactics_json, "[\"Execution\",\"Persistence\"]");
    CHECK_STR(v[2].category, "Execution");
    CHECK_STR(v[2].seqs_json, "[103,104]");
    store_alerts_free(v, n);
    v = NULL;

    CHECK_INT(store_evidence_list(st, 0, inc_id, &ev, &nev), ==, 0);
    CHECK_INT(nev, ==, 11);
    CHECK_STR(ev[0].type, "process");
    CHECK_STR(ev[0].verdict, "malicious");          /* source of a high-severity alert */
    CHECK_STR(ev[0].remediation_status, "none");
    CHECK_STR(ev[3].verdict, "suspicious");         /* root, attacked */
    CHECK_STR(ev[5].verdict, "clean");              /* the runtime file, contextual to the cron alert */
    store_evidence_free(ev, nev);
}

static void unrelated_and_other_device_stay_apart(void)
{
    struct alert_hit h;
    int64_t a1, a2, other, remote, remote2;

    check_set_teardown(teardown);
    CHECK(open_store(24));
    h = hit_controls(DEV1, T0);
    a1 = raise_hit(&h);
    h = hit_cron(DEV1, T0 + MINUTE);
    a2 = raise_hit(&h);
    CHECK_INT(incident_of(a1), ==, incident_of(a2));

    h = hit_other(DEV1, T0 + 2 * MINUTE);
    other = raise_hit(&h);
    CHECK_INT(other, >, 0);
    CHECK_INT(incident_of(other), >, 0);
    CHECK_INT(incident_of(other), !=, incident_of(a1));

    /* the same process ids, paths and logon on another device */
    h = hit_controls(DEV2, T0 + 3 * MINUTE);
    remote = raise_hit(&h);
    h = hit_cron(DEV2, T0 + 4 * MINUTE);
    remote2 = raise_hit(&h);
    CHECK_INT(incident_of(remote), >, 0);
    CHECK_INT(incident_of(remote), !=, incident_of(a1));
    CHECK_INT(incident_of(remote), !=, incident_of(other));
    CHECK_INT(incident_of(remote2), ==, incident_of(remote));
}

static void window_is_respected(void)
{
    struct alert_hit h;
    int64_t a1, within, beyond;

    check_set_teardown(teardown);
    CHECK(open_store(24));
    h = hit_controls(DEV1, T0);
    a1 = raise_hit(&h);
    h = hit_cron(DEV1, T0 + 23 * HOUR);
    within = raise_hit(&h);
    CHECK_INT(incident_of(within), ==, incident_of(a1));
    /* 25 hours after the newest event of the incident */
    h = hit_dropped(DEV1, T0 + 48 * HOUR);
    h.lineage[0] = "P-payload";
    h.lineage[1] = "P-bash";
    beyond = raise_hit(&h);
    CHECK_INT(beyond, >, 0);
    CHECK_INT(incident_of(beyond), !=, incident_of(a1));
    teardown();

    /* a window of one hour */
    CHECK(open_store(1));
    h = hit_controls(DEV1, T0);
    a1 = raise_hit(&h);
    h = hit_cron(DEV1, T0 + 2 * HOUR);
    within = raise_hit(&h);
    CHECK_INT(incident_of(within), !=, incident_of(a1));
}

static void duplicates_update(void)
{
    static const struct alert_evidence more[] = {
        {"persistence", "created", "/etc/cron.d/awsd", NULL},
        {"file", "edited", "/etc/crontab", NULL},
    };
    struct alert_hit h;
    struct store_alert a = {0};
    struct store_evidence *ev = NULL;
    size_t nev = 0;
    int64_t first, again, after;
    struct store_alert_change resolve = {.status = "resolved"};
    bool changed = false;

    check_set_teardown(teardown);
    CHECK(open_store(24));
    h = hit_cron(DEV1, T0);
    first = raise_hit(&h);
    h = hit_cron(DEV1, T0 + 5 * MINUTE);
    h.evidence = more;
    h.nevidence = 2;
    h.event_seqs[0] = 202;
    again = raise_hit(&h);
    CHECK_INT(again, ==, first);
    CHECK_INT(store_alert_get(st, first, &a), ==, 0);
    CHECK_INT(a.event_count, ==, 2);
    CHECK_INT(a.first_event_ns, ==, T0);
    CHECK_INT(a.last_event_ns, ==, T0 + 5 * MINUTE);
    CHECK_STR(a.seqs_json, "[102,202]");
    store_alert_clear(&a);
    CHECK_INT(store_evidence_list(st, first, 0, &ev, &nev), ==, 0);
    store_evidence_free(ev, nev);
    CHECK_INT(nev, ==, 4); /* 3 + the new /etc/crontab; the cron file was there */

    /* the same dedup key on another device is another alert */
    h = hit_cron(DEV2, T0 + 6 * MINUTE);
    CHECK_INT(raise_hit(&h), !=, first);

    /* once resolved, the key makes a new alert */
    CHECK_INT(store_alert_update(st, first, &resolve, "ann", &changed), ==, 0);
    CHECK(changed);
    h = hit_cron(DEV1, T0 + 7 * MINUTE);
    after = raise_hit(&h);
    CHECK_INT(after, >, first);
}

/* An alert that shares keys with two open incidents joins the older, and
 * the newer merges into it (it turned out related), unless people made
 * them differ: then it stays, with a line saying what relates them. */
static void related_incidents_merge(void)
{
    struct alert_hit h;
    static const struct alert_evidence ev_a[] = {{"file", "created", "/opt/a/tool", NULL}};
    static const struct alert_evidence ev_b[] = {{"file", "created", "/opt/b/tool", NULL}};
    static const struct alert_evidence ev_c[] = {{"file", "created", "/opt/c/tool", NULL}};
    static const struct alert_evidence ev_ab[] = {{"file", "edited", "/opt/b/tool", NULL},
                                                  {"file", "edited", "/opt/a/tool", NULL}};
    static const struct alert_evidence ev_ac[] = {{"file", "edited", "/opt/c/tool", NULL},
                                                  {"file", "edited", "/opt/a/tool", NULL}};
    struct store_incident inc = {0};
    struct store_incident_note *notes = NULL;
    size_t nnotes = 0;
    int64_t a, b, c, ab, ia, ib, ic;
    bool changed, said = false;
    char why[256];

    check_set_teardown(teardown);
    CHECK(open_store(24));
    h = (struct alert_hit){.device_id = DEV1, .title = "A", .severity = "low", .tactics = {"Execution"},
                           .first_event_ns = T0, .last_event_ns = T0, .evidence = ev_a, .nevidence = 1};
    a = raise_hit(&h);
    h = (struct alert_hit){.device_id = DEV1, .title = "B", .severity = "low", .tactics = {"Execution"},
                           .first_event_ns = T0, .last_event_ns = T0, .evidence = ev_b, .nevidence = 1};
    b = raise_hit(&h);
    ia = incident_of(a);
    ib = incident_of(b);
    CHECK_INT(ia, !=, ib);
    h = (struct alert_hit){.device_id = DEV1, .title = "AB", .severity = "high", .tactics = {"Impact"},
                           .first_event_ns = T0, .last_event_ns = T0, .evidence = ev_ab, .nevidence = 2};
    ab = raise_hit(&h);
    CHECK_INT(incident_of(ab), ==, ia);
    CHECK_INT(incident_of(b), ==, ia);
    CHECK_INT(store_incident_get(st, ib, &inc), ==, 0);
    CHECK_STR(inc.status, "redirected");
    CHECK_INT(inc.redirected_to, ==, ia);
    store_incident_clear(&inc);
    CHECK_INT(store_incident_get(st, ia, &inc), ==, 0);
    CHECK_INT(inc.alert_count, ==, 3);
    CHECK_INT(inc.severity, ==, 4); /* high, from AB */
    CHECK_STR(inc.name, "Multi-stage incident involving Execution and Impact on one endpoint");
    store_incident_clear(&inc);

    /* a newer incident someone else owns is related, not merged */
    h = (struct alert_hit){.device_id = DEV1, .title = "C", .severity = "low", .tactics = {"Execution"},
                           .first_event_ns = T0, .last_event_ns = T0, .evidence = ev_c, .nevidence = 1};
    c = raise_hit(&h);
    ic = incident_of(c);
    CHECK_INT(ic, !=, ia);
    {
        struct store_incident_change ch = {.assigned_to = "alice"};
        CHECK_INT(store_incident_update(st, ic, &ch, "admin", &changed, why, sizeof(why)), ==, 0);
        ch.assigned_to = "bob";
        CHECK_INT(store_incident_update(st, ia, &ch, "admin", &changed, why, sizeof(why)), ==, 0);
    }
    h = (struct alert_hit){.device_id = DEV1, .title = "AC", .severity = "medium", .tactics = {"Impact"},
                           .first_event_ns = T0, .last_event_ns = T0, .evidence = ev_ac, .nevidence = 2};
    CHECK_INT(incident_of(raise_hit(&h)), ==, ia);
    CHECK_INT(incident_of(c), ==, ic);
    CHECK_INT(store_incident_get(st, ic, &inc), ==, 0);
    CHECK_STR(inc.status, "active");
    store_incident_clear(&inc);
    CHECK_INT(store_incident_activity(st, ic, &notes, &nnotes), ==, 0);
    for (size_t i = 0; i < nnotes; i++)
        said |= strstr(notes[i].text, "not merged automatically") != NULL;
    CHECK_MSG(said, "no activity line relating incident %lld", (long long)ic);
    store_incident_notes_free(notes, nnotes);
}

static void resolved_incidents_take_no_alerts(void)
{
    struct alert_hit h;
    struct store_incident_change ch = {.status = "resolved"};
    struct store_alert a = {0};
    char why[200];
    bool changed;
    int64_t first, later;

    check_set_teardown(teardown);
    CHECK(open_store(24));
    h = hit_controls(DEV1, T0);
    first = raise_hit(&h);
    CHECK_INT(store_incident_update(st, incident_of(first), &ch, "ann", &changed, why, sizeof(why)), ==, 0);
    CHECK_INT(store_alert_get(st, first, &a), ==, 0);
    CHECK_STR(a.status, "resolved"); /* resolving the incident resolved its alert */
    store_alert_clear(&a);
    h = hit_cron(DEV1, T0 + MINUTE);
    later = raise_hit(&h);
    CHECK_INT(incident_of(later), !=, incident_of(first));
}

static void suppressed_hits_are_kept_resolved(void)
{
    struct alert_hit h;
    struct store_alert a = {0};
    struct store_suppression *v = NULL;
    size_t n = 0;
    int64_t rule, s1, s2, other_dev;

    check_set_teardown(teardown);
    CHECK(open_store(24));
    CHECK_INT(store_suppression_create(st, "yamori-persistence-cron", DEV1, "/etc/cron.d/awsd", 0, "ann", &rule), ==,
              0);
    h = hit_cron(DEV1, T0);
    s1 = raise_hit(&h);
    CHECK_INT(s1, >, 0);
    CHECK_INT(store_alert_get(st, s1, &a), ==, 0);
    CHECK_STR(a.status, "resolved");
    CHECK_STR(a.classification, "false positive");
    CHECK(a.suppressed);
    CHECK_INT(a.suppression_id, ==, rule);
    CHECK_INT(a.incident_id, ==, 0);
    store_alert_clear(&a);
    h = hit_cron(DEV1, T0 + MINUTE);
    s2 = raise_hit(&h);
    CHECK_INT(s2, ==, s1); /* counted on the suppressed alert */
    CHECK_INT(store_alert_get(st, s1, &a), ==, 0);
    CHECK_INT(a.event_count, ==, 2);
    store_alert_clear(&a);
    /* another device is not covered by the rule */
    h = hit_cron(DEV2, T0 + 2 * MINUTE);
    other_dev = raise_hit(&h);
    CHECK_INT(incident_of(other_dev), >, 0);
    CHECK_INT(store_suppression_list(st, NULL, &v, &n), ==, 0);
    CHECK_INT(n, ==, 1);
    CHECK_INT(v[0].hits, ==, 2);
    store_suppressions_free(v, n);
}

static void bad_hits_are_refused(void)
{
    static const struct alert_evidence bad_type[] = {{"registry", "created", "HKLM", NULL}};
    static const struct alert_evidence bad_detail[] = {{"file", "created", "/usr/lib/x", "[1,2]"}};
    struct alert_hit h;
    struct store_alert *v = NULL;
    size_t n = 0;
    struct store_alert_filter f = {0};
    uint64_t dropped = alert_sink_dropped();

    check_set_teardown(teardown);
    CHECK(open_store(24));
    h = hit_cron(DEV1, T0);
    h.severity = "critical";
    CHECK_INT(raise_hit(&h), ==, -EINVAL);
    h = hit_cron(NULL, T0);
    CHECK_INT(raise_hit(&h), ==, -EINVAL);
    h = hit_cron(DEV1, T0);
    h.title = "";
    CHECK_INT(raise_hit(&h), ==, -EINVAL);
    h = hit_cron(DEV1, T0);
    h.evidence = bad_type;
    h.nevidence = 1;
    CHECK_INT(raise_hit(&h), ==, -EINVAL);
    h.evidence = bad_detail;
    CHECK_INT(raise_hit(&h), ==, -EINVAL);
    h = hit_cron(DEV1, T0);
    h.title = "line\nbreak";
    CHECK_INT(raise_hit(&h), ==, -EINVAL);
    CHECK_INT(alert_sink_dropped() - dropped, ==, 6);
    CHECK_INT(store_alert_list(st, &f, &v, &n, NULL), ==, 0);
    store_alerts_free(v, n);
    CHECK_INT(n, ==, 0);
    /* unknown tactics and techniques are left out, the alert stays */
    h = hit_cron(DEV1, T0);
    h.tactics[0] = "Persistence";
    h.tactics[1] = "Teleportation";
    h.techniques[0] = "T1053.003";
    h.techniques[1] = "bogus";
    CHECK_INT(raise_hit(&h), >, 0);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"names_and_keys", names_and_keys},
        {"scenario_is_one_incident", scenario_is_one_incident},
        {"unrelated_and_other_device_stay_apart", unrelated_and_other_device_stay_apart},
        {"window_is_respected", window_is_respected},
        {"duplicates_update", duplicates_update},
        {"related_incidents_merge", related_incidents_merge},
        {"resolved_incidents_take_no_alerts", resolved_incidents_take_no_alerts},
        {"suppressed_hits_are_kept_resolved", suppressed_hits_are_kept_resolved},
        {"bad_hits_are_refused", bad_hits_are_refused},
        {NULL, NULL},
    };
    return check_main("server/alerts_group", cases, argc, argv);
}
