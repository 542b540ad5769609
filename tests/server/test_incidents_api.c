/*
 * test_incidents_api.c — alerts, incidents and suppression rules through
 * the real server and the `yamori` CLI.
 *
 * Alerts are made the way the server makes them: the test opens the
 * server's own store in-process (as the server's user, while the server is
 * stopped) and raises SCENARIO.md's hits through the alerts sink; then it
 * starts the server on that data directory and works as an analyst would:
 * the queue and its filters, the incident page (alerts, devices, users,
 * evidence with roles and verdicts, activity), changes with their
 * cascades, comments, unlink, merge and the merges the rules refuse,
 * suppression rules (and a suppressed hit raised afterwards), roles,
 * session requests with and without CSRF, and hostile input: each a 4xx
 * that changes nothing. The last case ingests events matching a pack rule
 * over HTTPS and sees the alert and its incident appear.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common/tlv.h"
#include "ingestgen.h"
#include "server/alert_sink.h"
#include "server/alerts.h"
#include "server/ingest.h"
#include "server/store.h"
#include "server/store_alerts.h"
#include "serverproc.h"
#include "tlvjson.h"

#define T0 1764151920000000000LL /* 2025-11-26T10:12:00Z */
#define MINUTE 60000000000LL

static char data_dir[256];
static char cli_dir[256];
static char hdr[5][300];   /* Authorization headers: admin, ann (analyst), bob (analyst), vic (viewer), responder */
enum { ADMIN, ANN, BOB, VIC };
static char dev_web[64], dev_db[64];

static void teardown(void)
{
    char cmd[700];

    serverproc_stop_all();
    if (data_dir[0] || cli_dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", data_dir, cli_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", data_dir);
    }
    data_dir[0] = cli_dir[0] = '\0';
    unsetenv("YAMORI_CONFIG");
}

/* ------------------------------------------------------------------ HTTP helpers */

/* method path body as `who`; the answer's JSON (caller decrefs) and status. */
static json_t *api(struct serverproc *s, int who, const char *method, const char *path, const char *body, long *status)
{
    const char *hdrs[] = {hdr[who], NULL};
    struct serverproc_response r;
    json_t *v = NULL;

    *status = 0;
    if (serverproc_request(s, method, path, body, hdrs, &r) == 0) {
        *status = r.status;
        v = json_incref(r.json);
        if (r.status >= 400)
            fprintf(stderr, "  %s %s -> %ld %s\n", method, path, r.status, serverproc_message(&r));
    }
    serverproc_response_free(&r);
    return v;
}

static long status_of(struct serverproc *s, int who, const char *method, const char *path, const char *body)
{
    long st;
    json_decref(api(s, who, method, path, body, &st));
    return st;
}

static struct serverproc *start(void)
{
    struct serverproc_options o = {.data_dir = data_dir};
    char err[2048];
    struct serverproc *s = serverproc_start(&o, err, sizeof(err));

    if (!s)
        fprintf(stderr, "server: %s\n", err);
    return s;
}

static bool admin_token(struct serverproc *s)
{
    char token[256];
    if (serverproc_admin_token(s, token, sizeof(token)) != 0)
        return false;
    snprintf(hdr[ADMIN], sizeof(hdr[ADMIN]), "Authorization: Bearer %s", token);
    return true;
}

static bool make_user(struct serverproc *s, int slot, const char *name, const char *role)
{
    char body[300];
    long st;
    json_t *v;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\",\"password\":\"password-of-%s\"}", name, role, name);
    if (status_of(s, ADMIN, "POST", "/api/v1/users", body) != 201)
        return false;
    snprintf(body, sizeof(body), "{\"name\":\"test\",\"user\":\"%s\"}", name);
    v = api(s, ADMIN, "POST", "/api/v1/tokens", body, &st);
    if (st != 201 || !json_is_string(json_object_get(v, "token"))) {
        json_decref(v);
        return false;
    }
    snprintf(hdr[slot], sizeof(hdr[slot]), "Authorization: Bearer %s", json_string_value(json_object_get(v, "token")));
    json_decref(v);
    return true;
}

/* Enrolls a device called name; its id into id (and its credentials into
 * auth when given). */
static bool enroll(struct serverproc *s, const char *name, char *id, size_t idlen, char *auth, size_t authlen)
{
    static unsigned machine;
    struct serverproc_response r;
    const char *hdrs[] = {hdr[ADMIN], NULL};
    char body[512], token[128];
    bool ok;

    if (serverproc_request(s, "POST", "/api/v1/onboarding", "{\"uses\": 1}", hdrs, &r) != 0 || r.status != 201) {
        serverproc_response_free(&r);
        return false;
    }
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r.json, "token")));
    serverproc_response_free(&r);
    snprintf(body, sizeof(body),
             "{\"token\":\"%s\",\"machine_id\":\"%032x\",\"hostname\":\"%s\",\"os\":\"Debian GNU/Linux 12\","
             "\"kernel\":\"6.1.0\",\"agent_version\":\"0.1.0\"}",
             token, (unsigned)getpid() * 100u + ++machine, name);
    ok = serverproc_request(s, "POST", "/api/v1/agent/enroll", body, NULL, &r) == 0 && r.status == 200;
    if (ok) {
        snprintf(id, idlen, "%s", json_string_value(json_object_get(r.json, "device_id")));
        if (auth)
            snprintf(auth, authlen, "Authorization: Device %s:%s", id, json_string_value(json_object_get(r.json, "secret")));
    }
    serverproc_response_free(&r);
    return ok;
}

/* ------------------------------------------------------------------ raising hits in the server's store */

static const struct alert_evidence ev_controls[] = {
    {"process", "source", "P-systemctl", "{\"image\":\"/usr/bin/systemctl\",\"command_line\":\"systemctl stop auditd\"}"},
    {"process", "suspicious", "P-bash", "{\"image\":\"/usr/bin/bash\",\"command_line\":\"bash setup.sh\"}"},
    {"configuration", "edited", "/etc/yamori/agent.conf", NULL},
};
static const struct alert_evidence ev_cron[] = {
    {"persistence", "created", "/etc/cron.d/awsd", "{\"content\":\"@reboot root /usr/lib/runtime\"}"},
    {"file", "contextual", "/usr/lib/runtime", NULL},
    {"process", "source", "P-bash", "{\"image\":\"/usr/bin/bash\"}"},
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
static const struct alert_evidence ev_scan[] = {
    {"process", "source", "P-nmap", "{\"image\":\"/usr/bin/nmap\"}"},
};

static struct alert_hit hit(const char *device, int which, int64_t t)
{
    struct alert_hit h;

    memset(&h, 0, sizeof(h));
    h.device_id = device;
    h.detection_source = "EDR";
    h.first_event_ns = h.last_event_ns = t;
    h.account = "root";
    switch (which) {
    case 0:
        h.rule_id = "yamori-defense-evasion-auditd";
        h.title = "Security controls disabled";
        h.severity = "high";
        h.tactics[0] = "Defense evasion";
        h.techniques[0] = "T1562.001";
        h.dedup_key = "auditd:P-systemctl";
        h.lineage[0] = "P-systemctl";
        h.lineage[1] = "P-bash";
        h.evidence = ev_controls;
        h.nevidence = 3;
        h.description = "auditd was stopped and disabled.";
        h.recommended_actions = "Start auditd again.\nFind out who stopped it.";
        break;
    case 1:
        h.rule_id = "yamori-persistence-cron";
        h.title = "Suspicious cron persistence";
        h.severity = "medium";
        h.tactics[0] = "Persistence";
        h.techniques[0] = "T1053.003";
        h.dedup_key = "cron:P-bash";
        h.lineage[0] = "P-bash";
        h.evidence = ev_cron;
        h.nevidence = 3;
        break;
    case 2:
        h.rule_id = "yamori-execution-dropped";
        h.title = "Executable dropped in system path and run as root";
        h.severity = "high";
        h.tactics[0] = "Execution";
        h.techniques[0] = "T1204.002";
        h.dedup_key = "dropped:P-payload";
        h.lineage[0] = "P-payload";
        h.lineage[1] = "P-bash";
        h.evidence = ev_dropped;
        h.nevidence = 2;
        break;
    case 3:
        h.rule_id = "yamori-c2-reverse-shell";
        h.title = "Reverse shell connection";
        h.severity = "high";
        h.tactics[0] = "Command and control";
        h.techniques[0] = "T1071";
        h.dedup_key = "c2:P-payload";
        h.lineage[0] = "P-payload";
        h.evidence = ev_c2;
        h.nevidence = 2;
        h.account = NULL;
        break;
    default:
        h.rule_id = "yamori-discovery-scan";
        h.title = "Local port scan";
        h.severity = "low";
        h.tactics[0] = "Discovery";
        h.dedup_key = "scan:P-nmap";
        h.lineage[0] = "P-nmap";
        h.evidence = ev_scan;
        h.nevidence = 1;
        break;
    }
    return h;
}

struct raise_list {
    const char *device[8];
    int which[8];
    int64_t t[8];
    size_t n;
};

/* In a child running as the server's user (nobody when root): opens the
 * stopped server's store, registers the alerts sink and raises the hits.
 * Returns 0 when every hit was stored. */
static int raise_in_store(const struct raise_list *l)
{
    pid_t pid;
    int status;

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct store *st = NULL;
        struct alerts *a;
        char uri[400], err[256];
        int rc = 0;

        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("nobody");
            if (!pw || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
                _exit(2);
        }
        snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", data_dir);
        if (store_open(&st, uri, err, sizeof(err)) != 0) {
            fprintf(stderr, "store_open: %s\n", err);
            _exit(3);
        }
        a = alerts_new(st, 24);
        alert_sink_set(alerts_sink, a);
        for (size_t i = 0; i < l->n; i++) {
            struct alert_hit h = hit(l->device[i], l->which[i], l->t[i]);
            int64_t id;
            if (alert_sink_raise(&h, &id) != 0)
                rc = 4;
        }
        alert_sink_set(NULL, NULL);
        alerts_free(a);
        store_close(st);
        _exit(rc);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ------------------------------------------------------------------ JSON helpers */

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int64_t num(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* The incident of the list whose name starts with prefix (borrowed from list). */
static json_t *find_named(json_t *list, const char *key, const char *prefix)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(list, key), i, e)
        if (str(e, "name") && strncmp(str(e, "name"), prefix, strlen(prefix)) == 0)
            return e;
    json_array_foreach(json_object_get(list, key), i, e)
        if (str(e, "title") && strncmp(str(e, "title"), prefix, strlen(prefix)) == 0)
            return e;
    return NULL;
}

/* The evidence entity of an incident page with this type and value. */
static json_t *entity(json_t *page, const char *type, const char *value)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(page, "evidence"), i, e)
        if (strcmp(str(e, "type"), type) == 0 && strcmp(str(e, "value"), value) == 0)
            return e;
    return NULL;
}

static bool has_string(json_t *arr, const char *s)
{
    size_t i;
    json_t *e;

    json_array_foreach(arr, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
            return true;
    return false;
}

/* What a PATCH must not have changed: status, assignee, classification,
 * determination, tags, name of incident id, as text. */
static void incident_state(struct serverproc *s, int64_t id, char *out, size_t outlen)
{
    char path[64];
    long st;
    json_t *v;
    char *tags;

    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)id);
    v = api(s, VIC, "GET", path, NULL, &st);
    tags = json_dumps(json_object_get(v, "tags"), JSON_COMPACT);
    snprintf(out, outlen, "%ld|%s|%s|%s|%s|%s|%s|%lld", st, str(v, "status"), str(v, "assigned_to"),
             str(v, "classification"), str(v, "determination"), tags ? tags : "", str(v, "name"),
             (long long)json_array_size(json_object_get(v, "comments")));
    free(tags);
    json_decref(v);
}

/* A CLI configuration for user slot `who` (the bearer token of hdr). */
static bool cli_login_as(struct serverproc *s, int who)
{
    char path[400];
    const char *token = strstr(hdr[who], "Bearer ");
    json_t *cfg;
    int rc;

    if (!cli_dir[0]) {
        snprintf(cli_dir, sizeof(cli_dir), "/tmp/yamori-inccli.XXXXXX");
        if (!mkdtemp(cli_dir)) {
            cli_dir[0] = '\0';
            return false;
        }
    }
    snprintf(path, sizeof(path), "%s/config.json", cli_dir);
    cfg = json_pack("{s:s, s:s, s:s}", "url", serverproc_url(s), "ca", serverproc_ca(s), "token",
                    token ? token + 7 : "");
    rc = cfg ? json_dump_file(cfg, path, 0) : -1;
    json_decref(cfg);
    setenv("YAMORI_CONFIG", path, 1);
    return rc == 0;
}

/* ------------------------------------------------------------------ cases */

static void analyst_works_an_incident(void)
{
    char path[256], body[40000], before[2048], after[2048], out[65536], cookie[200], csrf[200];
    struct raise_list l = {0};
    struct serverproc *s;
    json_t *v, *inc, *page, *e, *a;
    int64_t scen, scan, remote, c2_alert = 0, cron_alert = 0, fresh, supp;
    long st;
    size_t i;

    check_set_teardown(teardown);
    snprintf(data_dir, sizeof(data_dir), "/tmp/yamori-incapi.XXXXXX");
    CHECK(mkdtemp(data_dir) && chmod(data_dir, 0755) == 0); /* the server runs as nobody */

    /* users and devices first, then the alerts into the stopped server's store */
    s = start();
    CHECK_MSG(s, "no server");
    CHECK(admin_token(s));
    CHECK(make_user(s, ANN, "ann", "analyst"));
    CHECK(make_user(s, BOB, "bob", "analyst"));
    CHECK(make_user(s, VIC, "vic", "viewer"));
    CHECK(enroll(s, "web-1", dev_web, sizeof(dev_web), NULL, 0));
    CHECK(enroll(s, "db-1", dev_db, sizeof(dev_db), NULL, 0));
    CHECK_INT(serverproc_stop(s), ==, 0);
    for (int k = 0; k < 4; k++) {
        l.device[l.n] = dev_web;
        l.which[l.n] = k;
        l.t[l.n++] = T0 + k * MINUTE;
    }
    l.device[l.n] = dev_web; /* unrelated, same device */
    l.which[l.n] = 4;
    l.t[l.n++] = T0 + 5 * MINUTE;
    l.device[l.n] = dev_db; /* the same process ids on another device */
    l.which[l.n] = 0;
    l.t[l.n++] = T0 + 6 * MINUTE;
    CHECK_INT(raise_in_store(&l), ==, 0);
    s = start();
    CHECK_MSG(s, "no server on the same data directory");

    /* ---- the queue */
    v = api(s, VIC, "GET", "/api/v1/incidents", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(num(v, "total"), ==, 3);
    inc = find_named(v, "incidents", "Multi-stage incident involving Execution and Command and control on one endpoint");
    CHECK_MSG(inc, "no multi-stage incident in %s", json_dumps(v, JSON_COMPACT));
    scen = num(inc, "id");
    CHECK_STR(str(inc, "severity"), "high");
    CHECK_STR(str(inc, "status"), "active");
    CHECK_INT(num(inc, "alert_count"), ==, 4);
    CHECK_STR(str(json_array_get(json_object_get(inc, "devices"), 0), "name"), "web-1");
    CHECK_STR(json_string_value(json_array_get(json_object_get(inc, "tactics"), 0)), "Execution");
    CHECK_STR(json_string_value(json_array_get(json_object_get(inc, "tactics"), 3)), "Command and control");
    CHECK(json_is_null(json_object_get(inc, "assigned_to")));
    CHECK_STR(str(inc, "first_event"), "2025-11-26T10:12:00.000000000Z");
    scan = num(find_named(v, "incidents", "Local port scan on one endpoint"), "id");
    CHECK_INT(scan, >, 0);
    json_decref(v);

    v = api(s, VIC, "GET", "/api/v1/incidents?device=db-1", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(num(v, "total"), ==, 1);
    remote = num(json_array_get(json_object_get(v, "incidents"), 0), "id");
    CHECK_STR(str(json_array_get(json_object_get(v, "incidents"), 0), "name"), "Security controls disabled on one endpoint");
    json_decref(v);
    CHECK(remote != scen && remote != scan);
    snprintf(path, sizeof(path), "/api/v1/incidents?device=%s&severity=low", dev_web);
    v = api(s, VIC, "GET", path, NULL, &st);
    CHECK_INT(num(v, "total"), ==, 1);
    CHECK_INT(num(json_array_get(json_object_get(v, "incidents"), 0), "id"), ==, scan);
    json_decref(v);
    v = api(s, VIC, "GET", "/api/v1/incidents?limit=1&offset=1&status=active&since=2h", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(num(v, "total"), ==, 3);
    CHECK_INT(json_array_size(json_object_get(v, "incidents")), ==, 1);
    json_decref(v);
    v = api(s, VIC, "GET", "/api/v1/incidents?offset=50", NULL, &st);
    CHECK_INT(num(v, "total"), ==, 3);
    CHECK_INT(json_array_size(json_object_get(v, "incidents")), ==, 0);
    json_decref(v);
    v = api(s, VIC, "GET", "/api/v1/incidents?status=resolved", NULL, &st);
    CHECK_INT(num(v, "total"), ==, 0);
    json_decref(v);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents?status=done", NULL), ==, 400);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents?severity=critical", NULL), ==, 400);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents?since=yesterday", NULL), ==, 400);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents?limit=0", NULL), ==, 400);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents?limit=1001", NULL), ==, 400);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents?device=no-such-host", NULL), ==, 400);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents/abc", NULL), ==, 404);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents/0", NULL), ==, 404);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/incidents/999999", NULL), ==, 404);

    /* ---- the incident page */
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)scen);
    page = api(s, VIC, "GET", path, NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_array_size(json_object_get(page, "alerts")), ==, 4);
    CHECK_STR(str(json_array_get(json_object_get(page, "alerts"), 0), "title"), "Security controls disabled");
    json_array_foreach(json_object_get(page, "alerts"), i, a) {
        if (strcmp(str(a, "title"), "Reverse shell connection") == 0)
            c2_alert = num(a, "id");
        if (strcmp(str(a, "title"), "Suspicious cron persistence") == 0)
            cron_alert = num(a, "id");
    }
    CHECK(c2_alert > 0 && cron_alert > 0);
    CHECK(has_string(json_object_get(page, "users"), "root"));
    e = entity(page, "file", "/usr/lib/runtime");
    CHECK_MSG(e, "the payload is not in the evidence");
    CHECK(has_string(json_object_get(e, "roles"), "created") && has_string(json_object_get(e, "roles"), "contextual"));
    CHECK_STR(str(e, "verdict"), "malicious");
    CHECK_STR(str(e, "remediation_status"), "none");
    CHECK_INT(json_array_size(json_object_get(e, "alert_ids")), ==, 2);
    CHECK(json_is_object(json_object_get(e, "detail")));
    e = entity(page, "process", "P-bash");
    CHECK(e && json_array_size(json_object_get(e, "roles")) == 2);
    CHECK(entity(page, "ip", "203.0.113.7"));
    CHECK(entity(page, "persistence", "/etc/cron.d/awsd"));
    CHECK_INT(json_array_size(json_object_get(page, "comments")), ==, 0);
    CHECK(json_array_size(json_object_get(page, "activity")) >= 5);
    CHECK_STR(str(json_array_get(json_object_get(page, "activity"), 0), "action"), "created");
    json_decref(page);

    /* ---- changes: bad ones first, each a 4xx that changes nothing */
    incident_state(s, scen, before, sizeof(before));
    {
        static const char *const bad[] = {
            "{\"status\":",
            "[1]",
            "{}",
            "{\"owner\":\"ann\"}",
            "{\"status\":\"done\"}",
            "{\"status\":\"redirected\"}",
            "{\"status\":7}",
            "{\"assigned_to\":\"nobody-here\"}",
            "{\"assigned_to\":\"a\\nb\"}",
            "{\"determination\":\"malware\"}",
            "{\"classification\":\"false positive\",\"determination\":\"malware\"}",
            "{\"classification\":\"maybe\"}",
            "{\"tags\":\"prod\"}",
            "{\"tags\":[\" prod\"]}",
            "{\"tags\":[1]}",
            "{\"name\":\"two\\nlines\"}",
            "{\"name\":5}",
            "{\"status\":\"in progress\",\"assigned_to\":\"nobody-here\"}",
        };
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            CHECK_MSG(status_of(s, ANN, "PATCH", path, bad[i]) == 400, "PATCH %s was not refused with 400", bad[i]);
        snprintf(body, sizeof(body), "{\"tags\":[");
        for (i = 0; i < 33; i++)
            snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s\"t%zu\"", i ? "," : "", i);
        snprintf(body + strlen(body), sizeof(body) - strlen(body), "]}");
        CHECK_INT(status_of(s, ANN, "PATCH", path, body), ==, 400);
        memset(body, 'x', 20000);
        memcpy(body, "{\"name\":\"", 9);
        memcpy(body + 19990, "\"}", 3);
        CHECK_INT(status_of(s, ANN, "PATCH", path, body), ==, 413);
        CHECK_INT(status_of(s, VIC, "PATCH", path, "{\"status\":\"in progress\"}"), ==, 403);
        CHECK_INT(status_of(s, ANN, "PATCH", "/api/v1/incidents/999999", "{\"status\":\"in progress\"}"), ==, 404);
    }
    incident_state(s, scen, after, sizeof(after));
    CHECK_STR(after, before);

    v = api(s, ANN, "PATCH", path, "{\"status\":\"in_progress\",\"assigned_to\":\"bob\",\"tags\":[\"web\",\"prod\",\"web\"]}",
            &st);
    CHECK_INT(st, ==, 200);
    CHECK_STR(str(v, "status"), "in progress");
    CHECK_STR(str(v, "assigned_to"), "bob");
    CHECK_INT(json_array_size(json_object_get(v, "tags")), ==, 2);
    CHECK_STR(json_string_value(json_array_get(json_object_get(v, "tags"), 0)), "prod");
    e = json_array_get(json_object_get(v, "activity"), json_array_size(json_object_get(v, "activity")) - 1);
    CHECK_STR(str(e, "actor"), "ann");
    CHECK_STR(str(e, "action"), "tags");
    json_decref(v);
    v = api(s, ANN, "PATCH", path, "{\"name\":\"Take-over of web-1\"}", &st);
    CHECK_STR(str(v, "name"), "Take-over of web-1");
    CHECK(json_is_false(json_object_get(v, "name_automatic")));
    json_decref(v);
    v = api(s, ANN, "PATCH", path, "{\"name\":null}", &st);
    CHECK_STR(str(v, "name"), "Multi-stage incident involving Execution and Command and control on one endpoint");
    CHECK(json_is_true(json_object_get(v, "name_automatic")));
    json_decref(v);

    /* comments */
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld/comments", (long long)scen);
    CHECK_INT(status_of(s, ANN, "POST", path, "{\"text\":\"\"}"), ==, 400);
    CHECK_INT(status_of(s, ANN, "POST", path, "{\"text\":5}"), ==, 400);
    CHECK_INT(status_of(s, ANN, "POST", path, "{\"text\":\"x\",\"pin\":true}"), ==, 400);
    CHECK_INT(status_of(s, VIC, "POST", path, "{\"text\":\"x\"}"), ==, 403);
    CHECK_INT(status_of(s, ANN, "POST", "/api/v1/incidents/999999/comments", "{\"text\":\"x\"}"), ==, 404);
    v = api(s, ANN, "POST", path, "{\"text\":\"payload at /usr/lib/runtime\\nchecking the cron entry\"}", &st);
    CHECK_INT(st, ==, 201);
    CHECK_STR(str(v, "author"), "ann");
    json_decref(v);

    /* a session needs its CSRF token for changes */
    {
        char ck[300], cs[300];
        const char *no_csrf[] = {ck, NULL}, *with_csrf[] = {ck, cs, NULL};
        struct serverproc_response r;
        CHECK_INT(serverproc_login(s, "ann", "password-of-ann", cookie, sizeof(cookie), csrf, sizeof(csrf)), ==, 200);
        snprintf(ck, sizeof(ck), "Cookie: yamori_session=%s", cookie);
        snprintf(cs, sizeof(cs), "X-CSRF-Token: %s", csrf);
        CHECK_INT(serverproc_request(s, "POST", path, "{\"text\":\"by session\"}", no_csrf, &r), ==, 0);
        CHECK_INT(r.status, ==, 403);
        serverproc_response_free(&r);
        CHECK_INT(serverproc_request(s, "POST", path, "{\"text\":\"by session\"}", with_csrf, &r), ==, 0);
        CHECK_INT(r.status, ==, 201);
        serverproc_response_free(&r);
    }
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)scen);
    v = api(s, VIC, "GET", path, NULL, &st);
    CHECK_INT(json_array_size(json_object_get(v, "comments")), ==, 2);
    CHECK_STR(str(json_array_get(json_object_get(v, "comments"), 0), "text"),
              "payload at /usr/lib/runtime\nchecking the cron entry");
    json_decref(v);

    /* ---- alerts */
    v = api(s, VIC, "GET", "/api/v1/alerts", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(num(v, "total"), ==, 6);
    json_decref(v);
    v = api(s, VIC, "GET", "/api/v1/alerts?device=web-1&severity=high", NULL, &st);
    CHECK_INT(num(v, "total"), ==, 3);
    json_decref(v);
    CHECK_INT(status_of(s, VIC, "GET", "/api/v1/alerts?status=active", NULL), ==, 400); /* incidents' word */
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld", (long long)c2_alert);
    v = api(s, VIC, "GET", path, NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_STR(str(json_object_get(v, "alert"), "title"), "Reverse shell connection");
    CHECK_STR(str(json_object_get(json_object_get(v, "alert"), "device"), "name"), "web-1");
    CHECK_INT(num(json_object_get(v, "incident"), "id"), ==, scen);
    CHECK_INT(json_array_size(json_object_get(v, "evidence")), ==, 2);
    CHECK_STR(str(json_array_get(json_object_get(v, "evidence"), 0), "verdict"), "malicious");
    CHECK(json_object_get(v, "story") != NULL);
    json_decref(v);
    CHECK_INT(status_of(s, ANN, "PATCH", path, "{\"determination\":\"malware\"}"), ==, 400);
    CHECK_INT(status_of(s, ANN, "PATCH", path, "{\"status\":\"active\"}"), ==, 400);
    CHECK_INT(status_of(s, ANN, "PATCH", path, "{\"severity\":\"low\"}"), ==, 400);
    CHECK_INT(status_of(s, VIC, "PATCH", path, "{\"status\":\"in progress\"}"), ==, 403);
    v = api(s, ANN, "PATCH", path, "{\"classification\":\"true positive\",\"determination\":\"malware\",\"assigned_to\":\"ann\"}",
            &st);
    CHECK_INT(st, ==, 200);
    CHECK_STR(str(json_object_get(v, "alert"), "determination"), "malware");
    json_decref(v);

    /* ---- unlink, then merge back */
    snprintf(path, sizeof(path), "/api/v1/alerts/%lld/unlink", (long long)c2_alert);
    v = api(s, ANN, "POST", path, NULL, &st);
    CHECK_INT(st, ==, 200);
    fresh = num(v, "incident_id");
    CHECK_INT(num(v, "previous_incident_id"), ==, scen);
    json_decref(v);
    CHECK_INT(status_of(s, ANN, "POST", path, NULL), ==, 409); /* now the only alert of its incident */
    CHECK_INT(status_of(s, ANN, "POST", "/api/v1/alerts/999999/unlink", NULL), ==, 404);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)fresh);
    v = api(s, VIC, "GET", path, NULL, &st);
    CHECK_STR(str(v, "name"), "Reverse shell connection on one endpoint");
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)scen);
    v = api(s, VIC, "GET", path, NULL, &st);
    CHECK_INT(num(v, "alert_count"), ==, 3);
    CHECK_STR(str(v, "name"), "Multi-stage incident involving Execution, Persistence and Defense evasion on one endpoint");
    json_decref(v);

    /* refused merges */
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld/merge", (long long)scan);
    CHECK_INT(status_of(s, ANN, "POST", path, "{\"into\":\"x\"}"), ==, 400);
    CHECK_INT(status_of(s, ANN, "POST", path, "{\"into\":1,\"why\":2}"), ==, 400);
    CHECK_INT(status_of(s, ANN, "POST", path, "{\"into\":999999}"), ==, 404);
    snprintf(body, sizeof(body), "{\"into\":%lld}", (long long)scan);
    CHECK_INT(status_of(s, ANN, "POST", path, body), ==, 409); /* into itself */
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)scan);
    CHECK_INT(status_of(s, ANN, "PATCH", path, "{\"assigned_to\":\"ann\"}"), ==, 200);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld/merge", (long long)scan);
    snprintf(body, sizeof(body), "{\"into\":%lld}", (long long)scen);
    v = api(s, ANN, "POST", path, body, &st);
    CHECK_INT(st, ==, 409);
    CHECK_MSG(strstr(str(json_object_get(v, "error"), "message"), "assigned to different people"), "%s",
              str(json_object_get(v, "error"), "message"));
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)scan);
    CHECK_INT(status_of(s, ANN, "PATCH", path, "{\"assigned_to\":null,\"classification\":\"false positive\"}"), ==, 200);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)scen);
    CHECK_INT(status_of(s, ANN, "PATCH", path, "{\"classification\":\"true positive\"}"), ==, 200);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld/merge", (long long)scan);
    v = api(s, ANN, "POST", path, body, &st);
    CHECK_INT(st, ==, 409);
    CHECK_MSG(strstr(str(json_object_get(v, "error"), "message"), "classified differently"), "%s",
              str(json_object_get(v, "error"), "message"));
    json_decref(v);

    /* the unlinked alert goes back */
    incident_state(s, scen, before, sizeof(before));
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld/merge", (long long)fresh);
    v = api(s, ANN, "POST", path, body, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(num(v, "id"), ==, scen);
    CHECK_INT(num(v, "alert_count"), ==, 4);
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)fresh);
    v = api(s, VIC, "GET", path, NULL, &st);
    CHECK_STR(str(v, "status"), "redirected");
    CHECK_INT(num(v, "redirected_to"), ==, scen);
    json_decref(v);
    CHECK_INT(status_of(s, ANN, "PATCH", path, "{\"status\":\"active\"}"), ==, 409);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld/merge", (long long)fresh);
    CHECK_INT(status_of(s, ANN, "POST", path, body), ==, 409); /* redirected already */

    /* ---- resolving cascades */
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)scen);
    v = api(s, ANN, "PATCH", path, "{\"status\":\"resolved\",\"determination\":\"multistage attack\"}", &st);
    CHECK_INT(st, ==, 200);
    CHECK_STR(str(v, "status"), "resolved");
    CHECK_STR(str(v, "determination"), "multistage attack");
    json_array_foreach(json_object_get(v, "alerts"), i, a)
        CHECK_STR(str(a, "status"), "resolved");
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld/merge", (long long)remote);
    snprintf(body, sizeof(body), "{\"into\":%lld}", (long long)scen);
    v = api(s, ANN, "POST", path, body, &st);
    CHECK_INT(st, ==, 409);
    CHECK_MSG(strstr(str(json_object_get(v, "error"), "message"), "resolved"), "%s",
              str(json_object_get(v, "error"), "message"));
    json_decref(v);

    /* ---- suppression rules */
    CHECK_INT(status_of(s, VIC, "POST", "/api/v1/suppressions", "{\"from_alert\":1}"), ==, 403);
    CHECK_INT(status_of(s, ANN, "POST", "/api/v1/suppressions", "{\"from_alert\":999999}"), ==, 404);
    CHECK_INT(status_of(s, ANN, "POST", "/api/v1/suppressions", "{\"from_alert\":\"1\"}"), ==, 400);
    CHECK_INT(status_of(s, ANN, "POST", "/api/v1/suppressions", "{\"alert\":1}"), ==, 400);
    snprintf(body, sizeof(body), "{\"from_alert\":%lld,\"device\":\"yes\"}", (long long)cron_alert);
    CHECK_INT(status_of(s, ANN, "POST", "/api/v1/suppressions", body), ==, 400);
    snprintf(body, sizeof(body), "{\"from_alert\":%lld,\"value\":\"/not/in/the/alert\"}", (long long)cron_alert);
    CHECK_INT(status_of(s, ANN, "POST", "/api/v1/suppressions", body), ==, 400);
    v = api(s, VIC, "GET", "/api/v1/suppressions", NULL, &st);
    CHECK_INT(json_array_size(json_object_get(v, "suppressions")), ==, 0);
    json_decref(v);
    snprintf(body, sizeof(body), "{\"from_alert\":%lld,\"device\":true,\"value\":\"/usr/bin/bash\"}",
             (long long)cron_alert);
    v = api(s, ANN, "POST", "/api/v1/suppressions", body, &st);
    CHECK_INT(st, ==, 201);
    supp = num(v, "id");
    CHECK_STR(str(v, "rule_id"), "yamori-persistence-cron");
    CHECK_STR(str(v, "device_id"), dev_web);
    CHECK_STR(str(v, "value"), "/usr/bin/bash");
    json_decref(v);
    CHECK_INT(status_of(s, ANN, "POST", "/api/v1/suppressions", body), ==, 409);

    /* ---- the CLI, as an analyst */
    CHECK(cli_login_as(s, ANN));
    CHECK_INT(serverproc_cli(out, sizeof(out), "incidents --status resolved"), ==, 0);
    CHECK_MSG(strstr(out, "Multi-stage incident involving") && strstr(out, "web-1"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "incident show %lld", (long long)scen), ==, 0);
    CHECK_MSG(strstr(out, "/usr/lib/runtime") && strstr(out, "malicious") && strstr(out, "command-and-control") &&
                  strstr(out, "Reverse shell connection") && strstr(out, "ann"),
              "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "alert show %lld", (long long)cron_alert), ==, 0);
    CHECK_MSG(strstr(out, "Suspicious cron persistence") && strstr(out, "/etc/cron.d/awsd") &&
                  strstr(out, "T1053.003"),
              "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "alerts --device web-1 --json"), ==, 0);
    v = json_loads(out, 0, NULL);
    CHECK_INT(num(v, "total"), ==, 5);
    json_decref(v);
    CHECK_INT(serverproc_cli(out, sizeof(out), "incident update %lld --status active --tag cli", (long long)remote), ==, 0);
    CHECK_MSG(strstr(out, "tags cli"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "incident comment %lld 'seen from the CLI'", (long long)remote), ==, 0);
    CHECK_INT(serverproc_cli(out, sizeof(out), "incident update %lld --status nonsense", (long long)remote), ==, 1);
    CHECK_MSG(strstr(out, "status: must be one of"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "incident merge %lld --into %lld", (long long)remote, (long long)scen), ==, 1);
    CHECK_INT(serverproc_cli(out, sizeof(out), "suppressions"), ==, 0);
    CHECK_MSG(strstr(out, "yamori-persistence-cron") && strstr(out, "/usr/bin/bash"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "suppressions remove %lld", (long long)supp), ==, 1); /* admin only */
    CHECK_INT(serverproc_cli(out, sizeof(out), "incident frobnicate 1"), ==, 2);

    /* ---- audit */
    v = api(s, ADMIN, "GET", "/api/v1/audit?action=incident.&limit=100", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK(json_array_size(json_object_get(v, "entries")) >= 8);
    json_decref(v);
    v = api(s, ADMIN, "GET", "/api/v1/audit?action=suppression.create&limit=10", NULL, &st);
    CHECK_INT(json_array_size(json_object_get(v, "entries")), ==, 1);
    json_decref(v);
    CHECK_INT(serverproc_stop(s), ==, 0);

    /* ---- a suppressed hit raised later is kept, resolved, in no incident */
    memset(&l, 0, sizeof(l));
    l.device[0] = dev_web;
    l.which[0] = 1;
    l.t[0] = T0 + 30 * MINUTE;
    l.n = 1;
    CHECK_INT(raise_in_store(&l), ==, 0);
    s = start();
    CHECK(s);
    v = api(s, VIC, "GET", "/api/v1/alerts?limit=1", NULL, &st);
    a = json_array_get(json_object_get(v, "alerts"), 0);
    CHECK_STR(str(a, "title"), "Suspicious cron persistence");
    CHECK(json_is_true(json_object_get(a, "suppressed")));
    CHECK_STR(str(a, "status"), "resolved");
    CHECK_STR(str(a, "classification"), "false positive");
    CHECK(json_is_null(json_object_get(a, "incident_id")));
    CHECK_INT(num(a, "suppression_id"), ==, supp);
    json_decref(v);
    v = api(s, VIC, "GET", "/api/v1/suppressions", NULL, &st);
    CHECK_INT(num(json_array_get(json_object_get(v, "suppressions"), 0), "hits"), ==, 1);
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/suppressions/%lld", (long long)supp);
    CHECK_INT(status_of(s, ANN, "DELETE", path, NULL), ==, 403);
    CHECK_INT(status_of(s, ADMIN, "DELETE", path, NULL), ==, 200);
    CHECK_INT(status_of(s, ADMIN, "DELETE", path, NULL), ==, 404);
    CHECK_INT(status_of(s, ADMIN, "DELETE", "/api/v1/suppressions/x", NULL), ==, 404);
    CHECK_INT(serverproc_stop(s), ==, 0);
}

/* ------------------------------------------------------------------ end to end */

struct device {
    char id[64];
    char auth[256];
    uint64_t seq;
};

static size_t discard(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    (void)ud;
    return size * nmemb;
}

/* Posts the JSON events as the next batch of d; the HTTP status. */
static long post_events(struct serverproc *s, struct device *d, json_t *events)
{
    struct ingestgen_encoder *enc = ingestgen_encoder_new(3);
    struct tlv_buf recs, one;
    size_t n = json_array_size(events), i, len = 0;
    struct curl_slist *hd = NULL;
    const uint8_t *body = NULL;
    char *h = NULL, url[256], err[256];
    CURL *c = NULL;
    long status = 0;
    json_t *e;

    tlv_init(&recs);
    tlv_init(&one);
    json_array_foreach(events, i, e) {
        uint64_t ts;
        tlv_reset(&one);
        if (tlvjson_record(e, d->seq + i, &one, &ts, err, sizeof(err)) < 0) {
            fprintf(stderr, "event %zu: %s\n", i, err);
            goto out;
        }
        tlv_put_varint(&recs, one.len);
        tlv_put_raw(&recs, one.data, one.len);
    }
    h = ingestgen_header(d->id, d->seq, d->seq + n - 1, n, NULL);
    body = enc && h ? ingestgen_encode(enc, h, strlen(h), recs.data, recs.len, &len) : NULL;
    c = curl_easy_init();
    if (!body || !c)
        goto out;
    snprintf(url, sizeof(url), "%s/api/v1/agent/events", serverproc_url(s));
    hd = curl_slist_append(hd, d->auth);
    hd = curl_slist_append(hd, "Content-Type: " INGEST_CONTENT_TYPE);
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, serverproc_ca(s));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200)
        d->seq += n;
out:
    curl_slist_free_all(hd);
    if (c)
        curl_easy_cleanup(c);
    free(h);
    ingestgen_encoder_free(enc);
    tlv_free(&recs);
    tlv_free(&one);
    return status;
}

static void ingested_events_become_an_incident(void)
{
    struct serverproc *s;
    struct device d = {.seq = 1};
    json_t *ev, *v = NULL, *inc, *page;
    char path[128];
    long st;

    check_set_teardown(teardown);
    snprintf(data_dir, sizeof(data_dir), "/tmp/yamori-incapi.XXXXXX");
    CHECK(mkdtemp(data_dir) && chmod(data_dir, 0755) == 0);
    s = start();
    CHECK_MSG(s, "no server");
    CHECK(admin_token(s));
    CHECK(make_user(s, VIC, "vic", "viewer"));
    CHECK(enroll(s, "e2e-1", d.id, sizeof(d.id), d.auth, sizeof(d.auth)));
    ev = tlvjson_rule_case("rules/persistence/file_authorized_keys_modified.tests.jsonl", "match");
    CHECK_MSG(ev, "no match case for the authorized_keys rule");
    CHECK_INT(post_events(s, &d, ev), ==, 200);
    json_decref(ev);
    /* detection runs after the batch is stored: wait for the incident */
    for (int i = 0; i < 300; i++) {
        json_decref(v);
        v = api(s, VIC, "GET", "/api/v1/incidents", NULL, &st);
        if (st == 200 && num(v, "total") > 0)
            break;
        usleep(100000);
    }
    CHECK_MSG(num(v, "total") == 1, "no incident after the events: %s", serverproc_diag(s));
    inc = json_array_get(json_object_get(v, "incidents"), 0);
    CHECK_STR(str(inc, "name"), "SSH authorized_keys modified on one endpoint");
    CHECK_STR(str(inc, "status"), "active");
    CHECK_STR(str(json_array_get(json_object_get(inc, "devices"), 0), "name"), "e2e-1");
    CHECK(has_string(json_object_get(inc, "tactics"), "Persistence"));
    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)num(inc, "id"));
    json_decref(v);
    page = api(s, VIC, "GET", path, NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_array_size(json_object_get(page, "alerts")), ==, 1);
    CHECK_STR(str(json_array_get(json_object_get(page, "alerts"), 0), "title"), "SSH authorized_keys modified");
    CHECK_STR(str(json_array_get(json_object_get(page, "alerts"), 0), "detection_source"), "EDR");
    CHECK(json_array_size(json_object_get(page, "evidence")) > 0);
    {
        /* the alert's page tells its story: the process tree, with the
         * alert marked on the process it is about */
        long long alert_id = num(json_array_get(json_object_get(page, "alerts"), 0), "id");
        json_t *apage, *node, *mark;
        size_t i, j;
        bool marked = false;
        snprintf(path, sizeof(path), "/api/v1/alerts/%lld", alert_id);
        apage = api(s, VIC, "GET", path, NULL, &st);
        CHECK_INT(st, ==, 200);
        CHECK_MSG(json_is_object(json_object_get(apage, "story")), "no story on the alert page");
        json_array_foreach(json_object_get(json_object_get(apage, "story"), "nodes"), i, node) {
            json_array_foreach(json_object_get(node, "alerts"), j, mark) {
                marked |= num(mark, "id") == alert_id;
            }
        }
        CHECK_MSG(marked, "the alert is not marked in its story");
        json_decref(apage);
    }
    json_decref(page);
    CHECK_INT(serverproc_stop(s), ==, 0);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"analyst_works_an_incident", analyst_works_an_incident},
        {"ingested_events_become_an_incident", ingested_events_become_an_incident},
        {NULL, NULL},
    };
    return check_main("server/incidents_api", cases, argc, argv);
}
