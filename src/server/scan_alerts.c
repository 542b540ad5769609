/*
 * scan_alerts.c — antivirus findings become alerts (see scan_alerts.h).
 *
 * The scan output comes from an agent, so it is checked whole before any
 * alert is raised: a JSON object with a "findings" array of at most 5000
 * objects, each with a non-empty path, an engine the agent knows and, when
 * given, a 64-digit SHA-256. Texts that end in an alert's title or
 * description have control characters replaced (a file name may hold
 * any byte but '/' and NUL); the evidence detail keeps the exact path, as
 * JSON escapes it.
 *
 * Tactics and techniques: by engine, and for Yamori's own YARA rules by
 * the family in the rule name (rules/yara/README.md): miners and bots are
 * Impact, web shells Persistence, reverse shells and droppers Execution,
 * packers Defense evasion. A package finding is Persistence and Defense
 * evasion (a system binary replaced or added).
 */
#include "server/scan_alerts.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "server/alert_sink.h"

#define MAX_FINDINGS 5000
#define MAX_TEXT 4096
#define TITLE_PATH_MAX 160
#define DEDUP_MAX 512

struct family {
    const char *prefix;
    const char *tactics[3];
    const char *techniques[3];
};

static const struct family families[] = {
    {"Yamori_Miner_", {"Impact", "Execution"}, {"T1496"}},
    {"Yamori_Bot_", {"Impact", "Command and control"}, {"T1498", "T1110"}},
    {"Yamori_Webshell_", {"Persistence", "Execution"}, {"T1505.003"}},
    {"Yamori_ReverseShell_", {"Execution", "Command and control"}, {"T1059.004"}},
    {"Yamori_Packer_", {"Defense evasion"}, {"T1027.002"}},
    {"Yamori_Dropper_", {"Execution", "Defense evasion", "Persistence"}, {"T1105", "T1562.001", "T1053.003"}},
    {NULL, {NULL}, {NULL}},
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Copies s into out (at most outlen - 1 bytes, keeping whole UTF-8
 * sequences), control characters as '?'. */
static void clean_text(char *out, size_t outlen, const char *s)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < outlen; p++) {
        size_t seq = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 1;
        if (o + seq >= outlen)
            break;
        if (*p < 0x20 || *p == 0x7f) {
            out[o++] = '?';
            continue;
        }
        out[o++] = (char)*p;
    }
    out[o] = '\0';
}

/* The path for a title: the whole path when short, else "…" and its end. */
static void short_path(char *out, size_t outlen, const char *path)
{
    size_t n = strlen(path);
    if (n <= TITLE_PATH_MAX) {
        clean_text(out, outlen, path);
        return;
    }
    const char *tail = path + n - TITLE_PATH_MAX;
    while ((*tail & 0xc0) == 0x80) /* not in the middle of a UTF-8 sequence */
        tail++;
    char buf[TITLE_PATH_MAX + 8];
    snprintf(buf, sizeof(buf), "\xe2\x80\xa6%s", tail);
    clean_text(out, outlen, buf);
}

static bool is_hex64(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static const char *engine_of(const char *s)
{
    static const char *const engines[] = {"yara", "indicator", "package", "clamav", NULL};
    for (const char *const *e = engines; s && *e; e++)
        if (strcmp(*e, s) == 0)
            return *e;
    return NULL;
}

static const char *severity_of(const char *s)
{
    if (s && (strcmp(s, "low") == 0 || strcmp(s, "medium") == 0 || strcmp(s, "high") == 0))
        return s;
    return "medium";
}

/* Checks one finding; returns NULL when it is usable, else why not. */
static const char *check_finding(json_t *f)
{
    const char *path = json_string_value(json_object_get(f, "path"));
    json_t *sha = json_object_get(f, "sha256");

    if (!json_is_object(f))
        return "a finding is not an object";
    if (!path || !path[0] || strlen(path) > 8192)
        return "a finding has no path (or one longer than 8192 bytes)";
    if (!engine_of(json_string_value(json_object_get(f, "engine"))))
        return "a finding names an unknown engine";
    if (sha && !json_is_null(sha) && json_string_length(sha) > 0 && !is_hex64(json_string_value(sha)))
        return "a finding's sha256 is not 64 lower-case hexadecimal digits";
    return NULL;
}

/* "antivirus:<sha256>:<path>", or with the path's SHA-256 when too long. */
static void dedup_key(char *out, size_t outlen, const char *sha, const char *path)
{
    if (strlen(path) + strlen(sha) + 12 < DEDUP_MAX && !strpbrk(path, "\n\r\t")) {
        bool ctl = false;
        for (const unsigned char *p = (const unsigned char *)path; *p && !ctl; p++)
            ctl = *p < 0x20 || *p == 0x7f;
        if (!ctl) {
            snprintf(out, outlen, "antivirus:%s:%s", sha, path);
            return;
        }
    }
    unsigned char d[32];
    char hex[65];
    EVP_Digest(path, strlen(path), d, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    snprintf(out, outlen, "antivirus:%s:path-sha256:%s", sha, hex);
}

static void fill_tactics(struct alert_hit *h, const char *engine, const char *rule)
{
    if (strcmp(engine, "yara") == 0 && rule)
        for (const struct family *fam = families; fam->prefix; fam++)
            if (strncmp(rule, fam->prefix, strlen(fam->prefix)) == 0) {
                for (int i = 0; i < 3 && fam->tactics[i]; i++)
                    h->tactics[i] = fam->tactics[i];
                for (int i = 0; i < 3 && fam->techniques[i]; i++)
                    h->techniques[i] = fam->techniques[i];
                return;
            }
    if (strcmp(engine, "package") == 0) {
        h->tactics[0] = "Persistence";
        h->tactics[1] = "Defense evasion";
        h->techniques[0] = rule && strcmp(rule, "package-file-modified") == 0 ? "T1554" : "T1036.005";
        return;
    }
    h->tactics[0] = "Execution"; /* an indicator, ClamAV, a YARA rule of no known family */
    h->techniques[0] = "T1204.002";
}

static int raise_one(const char *device_id, int64_t action_id, json_t *f, uint64_t t)
{
    const char *path = json_string_value(json_object_get(f, "path"));
    const char *engine = engine_of(json_string_value(json_object_get(f, "engine")));
    const char *rule = json_string_value(json_object_get(f, "rule"));
    const char *reason = json_string_value(json_object_get(f, "reason"));
    const char *sha = json_string_value(json_object_get(f, "sha256"));
    char title[257], desc[MAX_TEXT], rule_id[129], spath[TITLE_PATH_MAX + 8], crule[65],
        creason[1024], key[DEDUP_MAX + 1], evvalue[8200];
    struct alert_hit h = {0};
    struct alert_evidence ev;
    struct jsonw detail;
    char *detail_text;
    int64_t alert_id = 0;
    int e;

    if (!sha || !is_hex64(sha))
        sha = "";
    clean_text(crule, sizeof(crule), rule && rule[0] ? rule : engine);
    clean_text(creason, sizeof(creason), reason && reason[0] ? reason : "flagged by the antivirus scan");
    clean_text(evvalue, sizeof(evvalue), path);
    short_path(spath, sizeof(spath), path);
    if (strcmp(engine, "yara") == 0)
        snprintf(title, sizeof(title), "YARA rule %s matched %s", crule, spath);
    else if (strcmp(engine, "indicator") == 0)
        snprintf(title, sizeof(title), "File with a known-bad SHA-256: %s", spath);
    else if (strcmp(engine, "clamav") == 0)
        snprintf(title, sizeof(title), "ClamAV detected %s in %s", crule, spath);
    else if (rule && strcmp(rule, "package-file-modified") == 0)
        snprintf(title, sizeof(title), "Packaged executable modified: %s", spath);
    else
        snprintf(title, sizeof(title), "Executable in a system path that no package owns: %s", spath);
    snprintf(desc, sizeof(desc), "The antivirus scan%s found %.2000s: %s (engine %s%s%s).",
             action_id > 0 ? " of an action" : "", evvalue, creason, engine, sha[0] ? ", SHA-256 " : "", sha);
    snprintf(rule_id, sizeof(rule_id), "antivirus:%s:%.100s", engine, crule);
    dedup_key(key, sizeof(key), sha, path);

    jsonw_init(&detail);
    jsonw_object_begin(&detail);
    jsonw_kv_str(&detail, "path", path);
    if (sha[0])
        jsonw_kv_str(&detail, "sha256", sha);
    jsonw_kv_str(&detail, "engine", engine);
    jsonw_kv_str(&detail, "rule", rule ? rule : "");
    if (action_id > 0)
        jsonw_kv_int(&detail, "action_id", action_id);
    jsonw_object_end(&detail);
    detail_text = jsonw_failed(&detail) ? NULL : strndup(detail.buf, detail.len); /* the writer's buffer is not NUL-terminated */
    jsonw_free(&detail);
    if (!detail_text)
        return -ENOMEM;
    ev = (struct alert_evidence){"file", "suspicious", evvalue, detail_text};

    h.device_id = device_id;
    h.detection_source = "antivirus";
    h.rule_id = rule_id;
    h.title = title;
    h.description = desc;
    h.severity = severity_of(json_string_value(json_object_get(f, "severity")));
    fill_tactics(&h, engine, rule);
    h.recommended_actions = "Check the file and how it got there (the device's timeline), then quarantine it "
                            "(yamori quarantine HOST PATH) and look for what runs or loads it.";
    h.dedup_key = key;
    h.first_event_ns = (int64_t)t;
    h.last_event_ns = (int64_t)t;
    h.evidence = &ev;
    h.nevidence = 1;
    e = alert_sink_raise(&h, &alert_id);
    free(detail_text);
    return e;
}

int scan_alerts_raise(struct server *srv, const char *device_id, int64_t action_id, const char *output_json)
{
    json_t *root = NULL, *findings, *f;
    json_error_t jerr;
    const char *why;
    uint64_t t = now_ns();
    size_t i;
    int raised = 0, first_err = 0;

    (void)srv;
    if (!device_id || !device_id[0] || !output_json) {
        log_warn("antivirus: no device or no scan output given; no alert raised");
        return -EINVAL;
    }
    root = json_loads(output_json, 0, &jerr);
    findings = json_object_get(root, "findings");
    if (!json_is_object(root) || !json_is_array(findings) || json_array_size(findings) > MAX_FINDINGS) {
        log_warn("antivirus: the scan output of action %lld on %s is not a scan result (%s); no alert raised",
                 (long long)action_id, device_id,
                 !root ? jerr.text : "no findings array of at most 5000 entries");
        json_decref(root);
        return -EINVAL;
    }
    json_array_foreach(findings, i, f)
    {
        if ((why = check_finding(f))) {
            log_warn("antivirus: the scan output of action %lld on %s is malformed (finding %zu: %s); no alert raised",
                     (long long)action_id, device_id, i + 1, why);
            json_decref(root);
            return -EINVAL;
        }
    }
    json_array_foreach(findings, i, f)
    {
        int e = raise_one(device_id, action_id, f, t);
        if (e == 0)
            raised++;
        else if (!first_err)
            first_err = e;
    }
    json_decref(root);
    return first_err ? first_err : raised;
}
