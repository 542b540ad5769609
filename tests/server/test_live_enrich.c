/*
 * test_live_enrich.c — what the server adds to an agent's `analyze` and
 * `fileinfo` answers (src/server/live_enrich.c), in-process on a real
 * store holding the awsd attack's events (tests/lib/storygen.h) and two
 * alerts like the detection engine raises for it:
 *  - the payload: written by `cp` (its pid, command line), named in a
 *    high-severity alert → malicious, with the agent's own reasons kept;
 *  - the persistence entry the agent found pointing at it was written by
 *    the attack script, a process an alert involves → a "persistence"
 *    reason saying so;
 *  - a file nobody alerted on and no event wrote stays clean, with a
 *    history line saying nothing wrote it;
 *  - fileinfo gets the facts (written_by, alerts) but no verdict;
 *  - other commands are left alone.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/tlv.h"
#include "ingestgen.h"
#include "server/ingest.h"
#include "server/live_actions.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_alerts.h"
#include "storygen.h"

#define DEV "11111111-2222-3333-4444-555555555555"

static const struct ingest_limits limits = {64u << 20, 100000};
static char dir[128];
static struct store *st;
static struct server srv;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return (int64_t)(storygen_t0 / 1000000) + 3600 * 1000;
}

static void teardown(void)
{
    if (st) {
        store_events_detach(st);
        store_close(st);
        st = NULL;
    }
    if (dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
        dir[0] = '\0';
    }
}

static bool store_attack(void)
{
    struct ingestgen_encoder *enc = ingestgen_encoder_new(1);
    struct ingest_batch *b = NULL;
    struct store_event_batch *one;
    struct tlv_buf recs;
    const uint8_t *body;
    char *h = NULL, err[256], uri[256];
    size_t n, len = 0;
    unsigned status;
    bool ok = false;

    snprintf(dir, sizeof(dir), "/tmp/yamori-enrich-XXXXXX");
    if (!mkdtemp(dir))
        return false;
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    if (store_open(&st, uri, err, sizeof(err)) != 0)
        return false;
    store_set_clock(st, test_clock, NULL);
    if (store_events_attach(st, err, sizeof(err)) != 0)
        return false;
    srv.store = st;
    tlv_init(&recs);
    n = storygen_attack(&recs, 1, 0);
    h = ingestgen_header(DEV, 1, n, n, NULL);
    body = enc && h && !recs.failed ? ingestgen_encode(enc, h, strlen(h), recs.data, recs.len, &len) : NULL;
    if (body && ingest_decode(body, len, DEV, &limits, &b, &status, err, sizeof(err)) == 0) {
        one = &b->sb;
        ok = store_events_write(st, &one, 1, err, sizeof(err)) == 0 && b->sb.stored == n;
    }
    ingest_batch_free(b);
    free(h);
    tlv_free(&recs);
    ingestgen_encoder_free(enc);
    return ok;
}

static bool raise_alert(const char *title, int severity, const char *uid, const struct store_evidence_new *ev, size_t nev)
{
    struct store_alert_new a = {.device_id = DEV, .rule_id = "", .dedup_key = "", .title = title,
                                .description = title, .recommended_actions = "", .detection_source = "edr",
                                .category = "Persistence", .account = "root", .process_uid = uid, .logon_id = "",
                                .severity = severity, .tactics_json = "[\"Persistence\"]",
                                .techniques_json = "[\"T1053.003\"]", .first_event_ns = (int64_t)storygen_t0,
                                .last_event_ns = (int64_t)storygen_t0, .evidence = ev, .nevidence = nev};
    struct store_alert_raised out;
    return store_alert_raise(st, &a, 24LL * 3600 * 1000000000LL, &out) == 0;
}

static bool setup(void)
{
    static const struct store_evidence_new cron[] = {
        {"persistence", "added", "/etc/cron.d/awsd", "{\"path\":\"/etc/cron.d/awsd\"}", "suspicious"},
        {"process", "source", STORYGEN_SCRIPT, "{\"image\":\"/usr/bin/bash\"}", "suspicious"},
    };
    static const struct store_evidence_new payload[] = {
        {"process", "source", STORYGEN_PAYLOAD, "{\"image\":\"/usr/lib/runtime\",\"pid\":2110}", "malicious"},
    };
    return store_attack() && raise_alert("Suspicious cron persistence", 3, STORYGEN_SCRIPT, cron, 2) &&
           raise_alert("Executable dropped in system path and run as root", 4, STORYGEN_PAYLOAD, payload, 1);
}

static const char *reason_with(json_t *out, const char *engine, const char *needle, const char *verdict)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(out, "reasons"), i, r) {
        const char *e = json_string_value(json_object_get(r, "engine"));
        const char *t = json_string_value(json_object_get(r, "reason"));
        const char *v = json_string_value(json_object_get(r, "verdict"));
        if (e && t && v && !strcmp(e, engine) && strstr(t, needle) && !strcmp(v, verdict))
            return t;
    }
    return NULL;
}

static void payload_is_malicious_with_reasons(void)
{
    json_t *args = json_pack("{s:s,s:s}", "kind", "file", "target", "/usr/lib/runtime");
    json_t *out = json_pack("{s:s,s:s,s:[{s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}]}", "verdict", "suspicious", "path",
                            "/usr/lib/runtime", "reasons", "engine", "package", "verdict", "suspicious", "reason",
                            "an executable in a system path that no installed package owns", "engine", "persistence",
                            "verdict", "suspicious", "reason", "started by the cron entry awsd", "source",
                            "/etc/cron.d/awsd", "entry", "awsd");
    json_t *by;

    CHECK(setup());
    live_actions_enrich(&srv, DEV, "analyze", args, out);
    CHECK_STR(json_string_value(json_object_get(out, "verdict")), "malicious");
    CHECK_MSG(reason_with(out, "package", "no installed package", "suspicious"), "the agent's reason was lost");
    CHECK_MSG(reason_with(out, "history", "cp /tmp/runtime_payload /usr/lib/runtime", "info") ||
                  reason_with(out, "history", "/usr/bin/cp", "info"),
              "who wrote it: %s", json_dumps(out, 0));
    CHECK_MSG(reason_with(out, "alerts", "Executable dropped in system path", "malicious"), "alert reason: %s",
              json_dumps(out, 0));
    CHECK_MSG(reason_with(out, "persistence", "/etc/cron.d/awsd", "suspicious") &&
                  reason_with(out, "persistence", "Suspicious cron persistence", "suspicious"),
              "persistence written by an alerted tree: %s", json_dumps(out, 0));
    by = json_object_get(json_object_get(out, "server"), "written_by");
    CHECK_STR(json_string_value(json_object_get(by, "image")), "/usr/bin/cp");
    CHECK_INT(json_integer_value(json_object_get(by, "pid")), ==, 2105);
    CHECK_STR(json_string_value(json_object_get(by, "action")), "FileCreated");
    json_decref(args);
    json_decref(out);
}

static void unknown_file_stays_clean(void)
{
    json_t *args = json_pack("{s:s,s:s}", "kind", "file", "target", "/usr/bin/ls");
    json_t *out = json_pack("{s:s,s:s,s:[]}", "verdict", "clean", "path", "/usr/bin/ls", "reasons");

    CHECK(setup());
    live_actions_enrich(&srv, DEV, "analyze", args, out);
    CHECK_STR(json_string_value(json_object_get(out, "verdict")), "clean");
    CHECK(reason_with(out, "history", "no stored event of this file being written", "info") != NULL);
    CHECK(json_object_get(json_object_get(out, "server"), "alerts") == NULL);
    json_decref(args);
    json_decref(out);
}

static void fileinfo_gets_facts_not_verdict(void)
{
    json_t *args = json_pack("{s:s}", "path", "/etc/cron.d/awsd");
    json_t *out = json_pack("{s:s,s:I}", "path", "/etc/cron.d/awsd", "size", (json_int_t)48);
    json_t *other = json_pack("{s:s}", "cwd", "/");

    CHECK(setup());
    live_actions_enrich(&srv, DEV, "fileinfo", args, out);
    CHECK(json_object_get(out, "verdict") == NULL && json_object_get(out, "reasons") == NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(out, "server"), "written_by"),
                                                "process_uid")),
              STORYGEN_SCRIPT);
    CHECK_INT(json_array_size(json_object_get(json_object_get(out, "server"), "alerts")), ==, 1);
    live_actions_enrich(&srv, DEV, "cd", args, other);
    CHECK_INT(json_object_size(other), ==, 1);
    json_decref(args);
    json_decref(out);
    json_decref(other);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"payload_is_malicious_with_reasons", payload_is_malicious_with_reasons},
        {"unknown_file_stays_clean", unknown_file_stays_clean},
        {"fileinfo_gets_facts_not_verdict", fileinfo_gets_facts_not_verdict},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("live_enrich", cases, argc, argv);
}
