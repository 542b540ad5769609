/*
 * test_scan_alerts.c — antivirus findings become alerts, in-process on a
 * real SQLite store with the alerts engine as the sink: a scan result as
 * docs/wire.md ("scan") describes it — one written here and one from a
 * real scan of a planted tree — gives one alert per finding with detection
 * source "antivirus", the finding's severity, the file as evidence with
 * its SHA-256, and tactics by engine; raising the same result again
 * updates those alerts (device + path + sha256) instead of adding new
 * ones; a malformed result raises nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#include "agent/scan.h"
#include "server/alert_sink.h"
#include "server/alerts.h"
#include "server/scan_alerts.h"
#include "server/store.h"
#include "server/store_alerts.h"

#define DEV "0f0e0d0c-0000-4000-8000-0000000000a5"
#define SHA_MINER "1111111111111111111111111111111111111111111111111111111111111111"
#define SHA_IOC "2222222222222222222222222222222222222222222222222222222222222222"
#define SHA_PKG "3333333333333333333333333333333333333333333333333333333333333333"

static const char *const result =
    "{\"kind\":\"custom\",\"path\":\"/srv\",\"files_scanned\":10,\"bytes_scanned\":1000,"
    "\"skipped\":{\"vanished\":0,\"too_large\":0,\"unreadable\":0},"
    "\"engines\":{\"yara\":\"ok (16 rules)\",\"indicators\":\"ok (1)\",\"package\":\"ok\","
    "\"clamav\":\"unavailable: no signature database at /var/lib/clamav\"},"
    "\"findings\":["
    "{\"path\":\"/srv/www/config.json\",\"sha256\":\"" SHA_MINER "\",\"engine\":\"yara\","
    "\"rule\":\"Yamori_Miner_Config\",\"reason\":\"matches the YARA rule Yamori_Miner_Config: Miner configuration\","
    "\"severity\":\"high\"},"
    "{\"path\":\"/srv/tmp/\\u001b[31mevil\",\"sha256\":\"" SHA_IOC "\",\"engine\":\"indicator\","
    "\"rule\":\"" SHA_IOC "\",\"reason\":\"its SHA-256 is on the indicator list this scan was given\","
    "\"severity\":\"high\"},"
    "{\"path\":\"/usr/bin/backdoor\",\"sha256\":\"" SHA_PKG "\",\"engine\":\"package\","
    "\"rule\":\"unowned-system-executable\",\"reason\":\"an executable in the system path /usr/bin/backdoor that no "
    "installed package owns\",\"severity\":\"medium\"}"
    "],\"cancelled\":false,\"duration_ms\":12}";

static char dir[256];
static struct store *st;
static struct alerts *engine;

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

static bool open_store(void)
{
    char uri[300], err[256];

    snprintf(dir, sizeof(dir), "/tmp/yamori-scanalerts.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        return false;
    }
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    if (store_open(&st, uri, err, sizeof(err)) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return false;
    }
    engine = alerts_new(st, 24);
    if (!engine)
        return false;
    alert_sink_set(alerts_sink, engine);
    return true;
}

static const struct store_alert *by_title(const struct store_alert *v, size_t n, const char *needle)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(v[i].title, needle))
            return &v[i];
    return NULL;
}

static void findings_become_alerts(void)
{
    struct store_alert_filter flt = {.device_id = DEV};
    struct store_alert *v = NULL;
    struct store_evidence *ev = NULL;
    const struct store_alert *a;
    size_t n = 0, nev = 0;
    int r;

    CHECK(open_store());
    r = scan_alerts_raise(NULL, DEV, 42, result);
    CHECK_INT(r, ==, 3);
    CHECK(store_alert_list(st, &flt, &v, &n, NULL) == 0);
    if (n != 3) {
        check_fail_(__FILE__, __LINE__, "want 3 alerts, got %zu", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].detection_source, "antivirus") != 0) {
            check_fail_(__FILE__, __LINE__, "alert '%s' has source '%s'", v[i].title, v[i].detection_source);
            goto out;
        }
    a = by_title(v, n, "Yamori_Miner_Config");
    if (!a || a->severity != 4 || strcmp(a->category, "Execution") != 0 || !strstr(a->tactics_json, "Impact") ||
        !strstr(a->techniques_json, "T1496") || !strstr(a->description, "/srv/www/config.json")) {
        check_fail_(__FILE__, __LINE__, "the YARA alert: %s", a ? a->tactics_json : "missing");
        goto out;
    }
    CHECK(store_evidence_list(st, a->id, 0, &ev, &nev) == 0);
    if (nev != 1 || strcmp(ev[0].type, "file") != 0 || strcmp(ev[0].value, "/srv/www/config.json") != 0 ||
        !ev[0].detail_json || !strstr(ev[0].detail_json, SHA_MINER) || !strstr(ev[0].detail_json, "\"action_id\":42")) {
        check_fail_(__FILE__, __LINE__, "the YARA alert's evidence: %zu entries, %s", nev,
                    nev ? ev[0].detail_json : "-");
        goto out;
    }
    a = by_title(v, n, "known-bad SHA-256");
    if (!a || a->severity != 4 || !strstr(a->title, "/srv/tmp/?[31mevil")) {
        check_fail_(__FILE__, __LINE__, "the indicator alert (its title without control characters): %s",
                    a ? a->title : "missing");
        goto out;
    }
    a = by_title(v, n, "no package owns");
    if (!a || a->severity != 3 || strcmp(a->category, "Persistence") != 0 ||
        !strstr(a->tactics_json, "Defense evasion")) {
        check_fail_(__FILE__, __LINE__, "the package alert: %s", a ? a->tactics_json : "missing");
        goto out;
    }
    /* the same result again (a later scan finding the same files): updates, no new alert */
    store_alerts_free(v, n);
    v = NULL;
    r = scan_alerts_raise(NULL, DEV, 43, result);
    CHECK_INT(r, ==, 3);
    CHECK(store_alert_list(st, &flt, &v, &n, NULL) == 0);
    if (n != 3 || v[0].event_count != 2) {
        check_fail_(__FILE__, __LINE__, "after the second raise: %zu alerts, event count %lld", n,
                    n ? (long long)v[0].event_count : 0LL);
        goto out;
    }
out:
    store_evidence_free(ev, nev);
    store_alerts_free(v, n);
}

static void malformed_output_raises_nothing(void)
{
    static const char *const bad[] = {
        "not json",
        "{\"kind\":\"quick\"}",
        "{\"findings\":{}}",
        "{\"findings\":[{\"path\":\"/a\",\"engine\":\"yara\"},{\"engine\":\"yara\"}]}",
        "{\"findings\":[{\"path\":\"/a\",\"engine\":\"magic\"}]}",
        "{\"findings\":[{\"path\":\"/a\",\"engine\":\"indicator\",\"sha256\":\"XYZ\"}]}",
        NULL,
    };
    struct store_alert_filter flt = {.device_id = DEV};
    struct store_alert *v = NULL;
    size_t n = 0;

    CHECK(open_store());
    for (const char *const *b = bad; *b; b++)
        CHECK_MSG(scan_alerts_raise(NULL, DEV, 1, *b) == -EINVAL, "accepted: %s", *b);
    CHECK(scan_alerts_raise(NULL, NULL, 1, result) == -EINVAL);
    CHECK(scan_alerts_raise(NULL, DEV, 1, NULL) == -EINVAL);
    CHECK(store_alert_list(st, &flt, &v, &n, NULL) == 0);
    store_alerts_free(v, n);
    CHECK_INT(n, ==, 0);
    CHECK(scan_alerts_raise(NULL, DEV, 1, "{\"findings\":[]}") == 0);
    alert_sink_set(NULL, NULL);
    CHECK(scan_alerts_raise(NULL, DEV, 1, result) == -ENOTCONN);
}

/* A real scan's output, through to alerts. */
static void real_scan_to_alerts(void)
{
    char root[64] = "/tmp/yamori-scanalerts-tree.XXXXXX", path[300], err[256] = "", cmd[100];
    static const char miner[] =
        "{\"pools\":[{\"url\":\"stratum+tcp://pool.example.invalid:3333\",\"user\":\"x\",\"algo\":\"rx/0\"}],"
        "\"donate-level\":1}\n";
    struct scan_options o = {.kind = SCAN_CUSTOM, .cpu_budget = -1, .io_priority = SCAN_IO_NORMAL,
                             .no_clamav = true, .dpkg_admindir = "/nonexistent"};
    struct store_alert_filter flt = {.device_id = DEV};
    struct store_alert *v = NULL;
    struct jsonw w;
    char *text = NULL;
    size_t n = 0;
    int fd, r = -1;

    jsonw_init(&w);
    CHECK(open_store());
    CHECK(mkdtemp(root) != NULL);
    snprintf(path, sizeof(path), "%s/config.json", root);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, miner, strlen(miner)) != (ssize_t)strlen(miner)) {
        check_fail_(__FILE__, __LINE__, "cannot write %s", path);
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    o.path = root;
    if (scan_run(&o, &w, err, sizeof(err)) != 0) {
        check_fail_(__FILE__, __LINE__, "scan: %s", err);
        goto out;
    }
    text = strndup(w.buf, w.len); /* scan_alerts_raise takes NUL-terminated text */
    r = text ? scan_alerts_raise(NULL, DEV, 7, text) : -ENOMEM;
    if (r != 1 || store_alert_list(st, &flt, &v, &n, NULL) != 0 || n != 1 ||
        strcmp(v[0].detection_source, "antivirus") != 0 || !strstr(v[0].title, "Yamori_Miner_Config")) {
        check_fail_(__FILE__, __LINE__, "raised %d, %zu alerts (%s)", r, n, n ? v[0].title : "-");
        goto out;
    }
out:
    store_alerts_free(v, n);
    jsonw_free(&w);
    free(text);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", root);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"findings_become_alerts", findings_become_alerts},
        {"malformed_output_raises_nothing", malformed_output_raises_nothing},
        {"real_scan_to_alerts", real_scan_to_alerts},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("server/test_scan_alerts", cases, argc, argv);
}
