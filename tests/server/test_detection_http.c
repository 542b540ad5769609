/*
 * test_detection_http.c — detection through the real server: a device
 * enrolled through the public endpoint posts batches of events recorded
 * from the agent (the rule pack's tests files) over HTTPS; the server
 * stores them, the detection module inspects them and the alerts module
 * stores the alerts.
 *
 * Scenarios: pack rules and the SSH brute force correlation raise their
 * alerts (GET /api/v1/alerts) and count their hits (GET /api/v1/rules,
 * /api/v1/detection/status); a rule added to a customer directory is
 * picked up without a restart, a broken one is reported and the others
 * keep working; POST /api/v1/rules/reload works and is audited; indicators
 * through the API (alert and allow), each hostile request a 4xx that
 * changes nothing, every change audited.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/tlv.h"
#include "ingestgen.h"
#include "server/ingest.h"
#include "serverproc.h"
#include "tlvjson.h"

struct device {
    char id[64];
    char auth[256];
    uint64_t seq;
};

static char admin_hdr[300];
static char tmp[256];

static void teardown(void)
{
    serverproc_stop_all();
    if (tmp[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
        tmp[0] = '\0';
    }
}

static bool write_file(const char *dir, const char *name, const char *text)
{
    char path[512], tmpath[520];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmpath, sizeof(tmpath), "%s.tmp", path);
    f = fopen(tmpath, "w");
    if (!f)
        return false;
    fputs(text, f);
    fclose(f);
    return rename(tmpath, path) == 0;
}

static struct serverproc *start(const char *custom)
{
    char set1[400];
    const char *sets[] = {"rules_poll_seconds=1", set1, NULL};
    struct serverproc_options o = {.sets = sets};
    char err[2048], token[256];
    struct serverproc *s;

    snprintf(set1, sizeof(set1), "rule_dirs=%s", custom);
    s = serverproc_start(&o, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "server: %s\n", err);
        return NULL;
    }
    if (serverproc_admin_token(s, token, sizeof(token)) != 0)
        return NULL;
    snprintf(admin_hdr, sizeof(admin_hdr), "Authorization: Bearer %s", token);
    return s;
}

static bool enroll(struct serverproc *s, struct device *d)
{
    const char *hdrs[] = {admin_hdr, NULL};
    struct serverproc_response r;
    char body[512], token[128];
    bool ok;

    if (serverproc_request(s, "POST", "/api/v1/onboarding", "{\"uses\": 1}", hdrs, &r) != 0 || r.status != 201) {
        serverproc_response_free(&r);
        return false;
    }
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r.json, "token")));
    serverproc_response_free(&r);
    snprintf(body, sizeof(body),
             "{\"token\":\"%s\",\"machine_id\":\"%032x\",\"hostname\":\"det-%d\",\"os\":\"Debian GNU/Linux 12\","
             "\"kernel\":\"6.1.0\",\"agent_version\":\"0.1.0\"}",
             token, (unsigned)getpid(), (int)getpid());
    ok = serverproc_request(s, "POST", "/api/v1/agent/enroll", body, NULL, &r) == 0 && r.status == 200;
    if (ok) {
        snprintf(d->id, sizeof(d->id), "%s", json_string_value(json_object_get(r.json, "device_id")));
        snprintf(d->auth, sizeof(d->auth), "Authorization: Device %s:%s", d->id,
                 json_string_value(json_object_get(r.json, "secret")));
        d->seq = 1;
    }
    serverproc_response_free(&r);
    return ok;
}

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

static long post_case(struct serverproc *s, struct device *d, const char *rule)
{
    char path[512];
    json_t *ev;
    long st;

    snprintf(path, sizeof(path), "rules/%s.tests.jsonl", rule);
    ev = tlvjson_rule_case(path, "match");
    if (!ev)
        return 0;
    st = post_events(s, d, ev);
    json_decref(ev);
    return st;
}

/* An API call as admin (or with hdr); the answer's JSON (caller decrefs). */
static json_t *api(struct serverproc *s, const char *method, const char *path, const char *body, long *status)
{
    const char *hdrs[] = {admin_hdr, NULL};
    struct serverproc_response r;
    json_t *v = NULL;

    *status = 0;
    if (serverproc_request(s, method, path, body, hdrs, &r) == 0) {
        *status = r.status;
        v = json_incref(r.json);
    }
    serverproc_response_free(&r);
    return v;
}

static uint64_t status_count(struct serverproc *s, const char *key)
{
    long st;
    json_t *v = api(s, "GET", "/api/v1/detection/status", NULL, &st);
    uint64_t n = st == 200 ? (uint64_t)json_integer_value(json_object_get(v, key)) : 0;
    json_decref(v);
    return n;
}

/* Waits until the detection inspected at least n events (30 s at most). */
static bool inspected(struct serverproc *s, uint64_t n)
{
    for (int i = 0; i < 300; i++) {
        if (status_count(s, "events_inspected") >= n)
            return true;
        usleep(100000);
    }
    return false;
}

/* The rule entry with this title in GET /api/v1/rules (a new reference), or NULL. */
static json_t *rule_entry(struct serverproc *s, const char *key, const char *value)
{
    long st;
    json_t *v = api(s, "GET", "/api/v1/rules", NULL, &st), *r, *found = NULL;
    size_t i;

    json_array_foreach(json_object_get(v, "rules"), i, r) {
        const char *t = json_string_value(json_object_get(r, key));
        if (t && strstr(t, value)) {
            found = json_incref(r);
            break;
        }
    }
    json_decref(v);
    return found;
}

static json_t *wait_rule(struct serverproc *s, const char *key, const char *value)
{
    for (int i = 0; i < 150; i++) {
        json_t *r = rule_entry(s, key, value);
        if (r)
            return r;
        usleep(100000);
    }
    return NULL;
}

static bool has_alert(struct serverproc *s, const char *title)
{
    long st;
    json_t *v = api(s, "GET", "/api/v1/alerts?limit=500", NULL, &st), *a;
    bool found = false;
    size_t i;

    json_array_foreach(json_object_get(v, "alerts"), i, a)
        found |= json_string_value(json_object_get(a, "title")) &&
                 strcmp(json_string_value(json_object_get(a, "title")), title) == 0;
    json_decref(v);
    return found;
}

static bool audited(struct serverproc *s, const char *action)
{
    char path[200];
    long st;
    json_t *v;
    bool ok;

    snprintf(path, sizeof(path), "/api/v1/audit?action=%s&limit=100", action);
    v = api(s, "GET", path, NULL, &st);
    ok = st == 200 && json_array_size(json_object_get(v, "entries")) > 0;
    json_decref(v);
    return ok;
}

static const char custom_rule[] =
    "title: Custom marker command\nid: 66666666-6666-4666-8666-666666666666\nstatus: experimental\n"
    "description: A test rule of the customer.\nlogsource:\n    product: linux\n    category: process_creation\n"
    "detection:\n    selection:\n        CommandLine|contains: 'custom-http-marker'\n    condition: selection\n"
    "level: high\ntags:\n    - attack.execution\n    - attack.t1059.004\n";

static json_t *process_event(const char *cmd, const char *image, const char *sha)
{
    return json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}]", "Timestamp", "2026-11-26T12:00:00Z",
                     "EventType", "process", "ActionType", "ProcessCreated", "FolderPath", image, "FileName",
                     strrchr(image, '/') + 1, "ProcessCommandLine", cmd, "ProcessUniqueId", "h-1-1", "ProcessId",
                     4242, "AccountName", "root", "SHA256", sha);
}

/* ------------------------------------------------------------------ cases */

static void events_rules_and_reload(void)
{
    char custom[300];
    struct serverproc *s;
    struct device d;
    json_t *r, *ev;
    long st;
    uint64_t sent = 0;

    check_set_teardown(teardown);
    snprintf(tmp, sizeof(tmp), "/tmp/yamori-deth-XXXXXX");
    CHECK(mkdtemp(tmp) && chmod(tmp, 0755) == 0); /* the server runs as nobody */
    snprintf(custom, sizeof(custom), "%s/custom", tmp);
    CHECK(mkdir(custom, 0755) == 0);
    s = start(custom);
    CHECK_MSG(s, "no server");
    CHECK(enroll(s, &d));
    CHECK_MSG(status_count(s, "rules_loaded") > 90, "the pack did not load: %s", serverproc_diag(s));

    /* pack rules and the brute force correlation */
    CHECK_INT(post_case(s, &d, "credential_access/corr_ssh_bruteforce_success"), ==, 200);
    CHECK_INT(post_case(s, &d, "persistence/file_authorized_keys_modified"), ==, 200);
    sent = d.seq - 1;
    CHECK_MSG(inspected(s, sent), "only %llu of %llu events inspected",
              (unsigned long long)status_count(s, "events_inspected"), (unsigned long long)sent);
    r = rule_entry(s, "title", "Multiple failed SSH logons followed by a success");
    CHECK(r);
    CHECK_INT(json_integer_value(json_object_get(r, "hits")), ==, 1);
    CHECK_STR(json_string_value(json_object_get(r, "source")), "EDR");
    json_decref(r);
    r = rule_entry(s, "title", "SSH authorized_keys modified");
    CHECK(r);
    CHECK_INT(json_integer_value(json_object_get(r, "hits")), ==, 1);
    json_decref(r);
    CHECK(status_count(s, "hits") >= 2);
    CHECK_INT(status_count(s, "events_not_inspected"), ==, 0);
    CHECK_MSG(has_alert(s, "Multiple failed SSH logons followed by a success"), "the brute force alert is not stored");
    CHECK_MSG(has_alert(s, "SSH authorized_keys modified"), "the authorized_keys alert is not stored");

    /* a customer rule appears without a restart, a broken one is reported */
    CHECK(write_file(custom, "marker.yml", custom_rule));
    CHECK(write_file(custom, "broken.yml", "title: Broken\nlogsource:\n    product: linux\n"));
    r = wait_rule(s, "title", "Custom marker command");
    CHECK_MSG(r, "the customer rule was not picked up");
    CHECK_STR(json_string_value(json_object_get(r, "source")), "custom detection");
    json_decref(r);
    r = wait_rule(s, "file", "broken.yml");
    CHECK_MSG(r, "the broken rule is not reported");
    CHECK_STR(json_string_value(json_object_get(r, "status")), "error");
    CHECK(json_string_length(json_object_get(r, "message")) > 10);
    json_decref(r);
    ev = process_event("bash -c custom-http-marker", "/usr/bin/bash",
                       "3333333333333333333333333333333333333333333333333333333333333333");
    CHECK_INT(post_events(s, &d, ev), ==, 200);
    json_decref(ev);
    CHECK(inspected(s, d.seq - 1));
    r = rule_entry(s, "title", "Custom marker command");
    CHECK(r);
    CHECK_INT(json_integer_value(json_object_get(r, "hits")), ==, 1);
    json_decref(r);
    CHECK(has_alert(s, "Custom marker command"));

    /* reload by hand: admin, audited */
    r = api(s, "POST", "/api/v1/rules/reload", "{}", &st);
    CHECK_INT(st, ==, 200);
    CHECK(json_integer_value(json_object_get(r, "loaded")) > 90);
    CHECK_INT(json_integer_value(json_object_get(r, "refused")), ==, 1);
    json_decref(r);
    CHECK(audited(s, "rules.reload"));
    CHECK_INT(serverproc_stop(s), ==, 0);
}

struct bad {
    const char *body, *why;
};

static void indicators_api(void)
{
    static const struct bad bad[] = {
        {"{\"type\":\"sha256\",\"value\":\"abc\",\"action\":\"alert\",\"title\":\"t\"}", "short sha256"},
        {"{\"type\":\"sha256\",\"value\":\"zz00000000000000000000000000000000000000000000000000000000000000\","
         "\"action\":\"alert\",\"title\":\"t\"}", "non-hex sha256"},
        {"{\"type\":\"ip\",\"value\":\"999.1.1.1\",\"action\":\"alert\",\"title\":\"t\"}", "bad address"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.0/8\",\"action\":\"alert\",\"title\":\"t\"}", "a network"},
        {"{\"type\":\"domain\",\"value\":\"-bad-.example\",\"action\":\"alert\",\"title\":\"t\"}", "bad domain"},
        {"{\"type\":\"domain\",\"value\":\"a..example.com\",\"action\":\"alert\",\"title\":\"t\"}", "empty label"},
        {"{\"type\":\"path\",\"value\":\"relative/x\",\"action\":\"alert\",\"title\":\"t\"}", "relative path"},
        {"{\"type\":\"path\",\"value\":\"/a/../b\",\"action\":\"alert\",\"title\":\"t\"}", "dot-dot path"},
        {"{\"type\":\"path\",\"value\":\"/a\\u0000b\",\"action\":\"alert\",\"title\":\"t\"}", "NUL in path"},
        {"{\"type\":\"url\",\"value\":\"http://x\",\"action\":\"alert\",\"title\":\"t\"}", "unknown type"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.1\",\"action\":\"block\",\"title\":\"t\"}", "unknown action"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.1\",\"action\":\"alert\"}", "no title"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.1\",\"action\":\"alert\",\"title\":\"\"}", "empty title"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.1\",\"action\":\"alert\",\"title\":\"t\",\"severity\":\"critical\"}",
         "unknown severity"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.1\",\"action\":\"alert\",\"title\":\"t\",\"expires_in\":\"0d\"}",
         "zero expiry"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.1\",\"action\":\"alert\",\"title\":\"t\",\"expires_in\":\"99999d\"}",
         "expiry too far"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.1\",\"action\":\"alert\",\"title\":\"t\",\"owner\":\"x\"}",
         "unknown member"},
        {"{\"type\":1,\"value\":\"10.0.0.1\",\"action\":\"alert\",\"title\":\"t\"}", "type not a string"},
        {"[1,2]", "not an object"},
        {"{\"type\":", "truncated JSON"},
        {"{\"type\":\"ip\",\"value\":\"10.0.0.1\",\"action\":\"alert\",\"title\":\"a\\nb\"}", "control in title"},
    };
    const char *sha = "4444444444444444444444444444444444444444444444444444444444444444";
    char custom[300], body[600], path[100];
    struct serverproc *s;
    struct device d;
    json_t *v, *ev;
    long st;
    int64_t id_alert, id_allow;

    check_set_teardown(teardown);
    snprintf(tmp, sizeof(tmp), "/tmp/yamori-deth-XXXXXX");
    CHECK(mkdtemp(tmp) && chmod(tmp, 0755) == 0); /* the server runs as nobody */
    snprintf(custom, sizeof(custom), "%s/custom", tmp);
    CHECK(mkdir(custom, 0755) == 0);
    CHECK(write_file(custom, "marker.yml", custom_rule));
    s = start(custom);
    CHECK_MSG(s, "no server");
    CHECK(enroll(s, &d));

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = api(s, "POST", "/api/v1/indicators", bad[i].body, &st);
        json_decref(v);
        CHECK_MSG(st == 400, "%s: HTTP %ld instead of 400", bad[i].why, st);
    }
    v = api(s, "GET", "/api/v1/indicators", NULL, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_array_size(json_object_get(v, "indicators")), ==, 0);
    json_decref(v);
    CHECK(!audited(s, "indicator.create"));

    snprintf(body, sizeof(body),
             "{\"type\":\"sha256\",\"value\":\"%s\",\"action\":\"alert\",\"title\":\"Known payload hash\","
             "\"severity\":\"high\",\"expires_in\":\"30d\"}", sha);
    v = api(s, "POST", "/api/v1/indicators", body, &st);
    CHECK_INT(st, ==, 201);
    id_alert = json_integer_value(json_object_get(v, "id"));
    CHECK(json_is_string(json_object_get(v, "expires")));
    json_decref(v);
    v = api(s, "POST", "/api/v1/indicators", body, &st);
    json_decref(v);
    CHECK_INT(st, ==, 409);
    v = api(s, "POST", "/api/v1/indicators",
            "{\"type\":\"path\",\"value\":\"/opt/trusted/\",\"action\":\"allow\",\"title\":\"Trusted tools\"}", &st);
    CHECK_INT(st, ==, 201);
    id_allow = json_integer_value(json_object_get(v, "id"));
    CHECK_STR(json_string_value(json_object_get(v, "severity")), "informational");
    json_decref(v);
    CHECK(audited(s, "indicator.create"));

    /* an event with the hash raises an indicator alert; the allowed path suppresses the rule */
    ev = process_event("/usr/lib/runtime", "/usr/lib/runtime", sha);
    CHECK_INT(post_events(s, &d, ev), ==, 200);
    json_decref(ev);
    ev = process_event("/opt/trusted/tool custom-http-marker", "/opt/trusted/tool",
                       "5555555555555555555555555555555555555555555555555555555555555555");
    CHECK_INT(post_events(s, &d, ev), ==, 200);
    json_decref(ev);
    CHECK(inspected(s, d.seq - 1));
    CHECK_INT(status_count(s, "indicator_hits"), ==, 1);
    CHECK_INT(status_count(s, "suppressed_by_allow"), ==, 1);
    CHECK(has_alert(s, "Known payload hash"));
    CHECK(!has_alert(s, "Custom marker command"));

    /* removal: bad ids are 400, unknown ones 404, nothing changes */
    v = api(s, "DELETE", "/api/v1/indicators/abc", NULL, &st);
    json_decref(v);
    CHECK_INT(st, ==, 400);
    v = api(s, "DELETE", "/api/v1/indicators/-1", NULL, &st);
    json_decref(v);
    CHECK_INT(st, ==, 400);
    v = api(s, "DELETE", "/api/v1/indicators/99999999999999999999999", NULL, &st);
    json_decref(v);
    CHECK_INT(st, ==, 400);
    v = api(s, "DELETE", "/api/v1/indicators/424242", NULL, &st);
    json_decref(v);
    CHECK_INT(st, ==, 404);
    v = api(s, "GET", "/api/v1/indicators", NULL, &st);
    CHECK_INT(json_array_size(json_object_get(v, "indicators")), ==, 2);
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/indicators/%lld", (long long)id_allow);
    v = api(s, "DELETE", path, NULL, &st);
    json_decref(v);
    CHECK_INT(st, ==, 200);
    v = api(s, "DELETE", path, NULL, &st);
    json_decref(v);
    CHECK_INT(st, ==, 404);
    CHECK(audited(s, "indicator.delete"));

    /* without the allow, the rule fires for the same program */
    ev = process_event("/opt/trusted/tool custom-http-marker", "/opt/trusted/tool",
                       "5555555555555555555555555555555555555555555555555555555555555555");
    CHECK_INT(post_events(s, &d, ev), ==, 200);
    json_decref(ev);
    CHECK(inspected(s, d.seq - 1));
    for (int i = 0; i < 50 && !has_alert(s, "Custom marker command"); i++)
        usleep(100000);
    CHECK(has_alert(s, "Custom marker command"));
    (void)id_alert;
    CHECK_INT(serverproc_stop(s), ==, 0);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"events_rules_and_reload", events_rules_and_reload},
        {"indicators_api", indicators_api},
        {NULL, NULL},
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return check_main("detection_http", cases, argc, argv);
}
