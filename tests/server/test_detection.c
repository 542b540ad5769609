/*
 * test_detection.c — the detection core in process: events in, alerts out.
 *
 * The test registers its own alert sink (alert_sink_set) and feeds
 * detection_submit() with batches as the ingest writer's post-commit hook
 * does, made of events recorded from the agent (the rule pack's tests
 * files). Scenarios: a pack rule raises one alert with the right severity,
 * tactics, techniques and evidence; the SSH brute force correlation fires
 * once for its group and never across devices; a rule directory changed on
 * disk is picked up without a restart; a broken rule is reported while
 * the others work, and a reload that loads nothing keeps the old rules;
 * alert and allow indicators; a full queue counts what it could not
 * inspect; indicator values are validated strictly.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common/jsonw.h"
#include "common/tlv.h"
#include "server/alert_sink.h"
#include "server/detection.h"
#include "server/detection_int.h"
#include "server/store.h"
#include "server/store_events.h"
#include "server/store_indicators.h"
#include "tlvjson.h"

#define MAX_HITS 64

struct rec_evidence {
    char type[32], role[32], value[512], detail[2048];
};

struct rec_hit {
    char device[64], source[32], rule_id[128], title[256], severity[16], category[64], dedup[512];
    char tactics[256], techniques[256], recommended[1024], account[64], process_uid[128];
    size_t nlineage;
    struct rec_evidence ev[ALERT_MAX_EVIDENCE];
    size_t nev;
};

static struct {
    pthread_mutex_t lock;
    struct rec_hit hits[MAX_HITS];
    size_t n;
    sem_t *gate;       /* when set, the sink waits on it once */
} rec = {PTHREAD_MUTEX_INITIALIZER};

static void cpy(char *dst, size_t len, const char *s)
{
    snprintf(dst, len, "%s", s ? s : "");
}

static int sink(void *ctx, const struct alert_hit *h, int64_t *alert_id)
{
    sem_t *gate;

    (void)ctx;
    pthread_mutex_lock(&rec.lock);
    gate = rec.gate;
    rec.gate = NULL;
    pthread_mutex_unlock(&rec.lock);
    if (gate)
        sem_wait(gate);
    pthread_mutex_lock(&rec.lock);
    if (rec.n < MAX_HITS) {
        struct rec_hit *r = &rec.hits[rec.n++];
        memset(r, 0, sizeof(*r));
        cpy(r->device, sizeof(r->device), h->device_id);
        cpy(r->source, sizeof(r->source), h->detection_source);
        cpy(r->rule_id, sizeof(r->rule_id), h->rule_id);
        cpy(r->title, sizeof(r->title), h->title);
        cpy(r->severity, sizeof(r->severity), h->severity);
        cpy(r->category, sizeof(r->category), h->category);
        cpy(r->dedup, sizeof(r->dedup), h->dedup_key);
        cpy(r->recommended, sizeof(r->recommended), h->recommended_actions);
        cpy(r->account, sizeof(r->account), h->account);
        cpy(r->process_uid, sizeof(r->process_uid), h->process_uid);
        for (int i = 0; i < ALERT_MAX_TECHNIQUES && h->tactics[i]; i++)
            snprintf(r->tactics + strlen(r->tactics), sizeof(r->tactics) - strlen(r->tactics), "%s;", h->tactics[i]);
        for (int i = 0; i < ALERT_MAX_TECHNIQUES && h->techniques[i]; i++)
            snprintf(r->techniques + strlen(r->techniques), sizeof(r->techniques) - strlen(r->techniques), "%s;",
                     h->techniques[i]);
        for (int i = 0; i < ALERT_MAX_LINEAGE && h->lineage[i]; i++)
            r->nlineage++;
        for (size_t i = 0; i < h->nevidence && i < ALERT_MAX_EVIDENCE; i++) {
            cpy(r->ev[i].type, sizeof(r->ev[i].type), h->evidence[i].type);
            cpy(r->ev[i].role, sizeof(r->ev[i].role), h->evidence[i].role);
            cpy(r->ev[i].value, sizeof(r->ev[i].value), h->evidence[i].value);
            cpy(r->ev[i].detail, sizeof(r->ev[i].detail), h->evidence[i].detail_json);
            r->nev++;
        }
    }
    pthread_mutex_unlock(&rec.lock);
    *alert_id = (int64_t)rec.n;
    return 0;
}

static void reset_hits(void)
{
    pthread_mutex_lock(&rec.lock);
    rec.n = 0;
    pthread_mutex_unlock(&rec.lock);
}

/* Hits with this title. */
static size_t count_title(const char *title)
{
    size_t n = 0;
    for (size_t i = 0; i < rec.n; i++)
        n += strcmp(rec.hits[i].title, title) == 0;
    return n;
}

static const struct rec_hit *find_title(const char *title)
{
    for (size_t i = 0; i < rec.n; i++)
        if (strcmp(rec.hits[i].title, title) == 0)
            return &rec.hits[i];
    return NULL;
}

static const struct rec_evidence *find_ev(const struct rec_hit *h, const char *type, const char *role,
                                          const char *value)
{
    for (size_t i = 0; h && i < h->nev; i++)
        if (strcmp(h->ev[i].type, type) == 0 && strcmp(h->ev[i].role, role) == 0 &&
            (!value || strcmp(h->ev[i].value, value) == 0))
            return &h->ev[i];
    return NULL;
}

/* ------------------------------------------------------------------ feeding */

static uint64_t next_seq = 1;

/* Submits the JSON events (an array) as one batch of device. */
static int feed(struct detection *d, const char *device, json_t *events, char *err, size_t errlen)
{
    size_t n = json_array_size(events), i;
    struct store_event_in *in = calloc(n ? n : 1, sizeof(*in));
    struct tlv_buf *bufs = calloc(n ? n : 1, sizeof(*bufs));
    struct store_event_batch b;
    json_t *e;
    int rc = 0;

    if (!in || !bufs) {
        free(in);
        free(bufs);
        return -1;
    }
    json_array_foreach(events, i, e) {
        uint64_t ts;
        int t;
        tlv_init(&bufs[i]);
        t = tlvjson_record(e, next_seq, &bufs[i], &ts, err, errlen);
        if (t < 0) {
            rc = -1;
            n = i + 1;
            goto out;
        }
        in[i] = (struct store_event_in){bufs[i].data, (uint32_t)bufs[i].len, (uint8_t)t, next_seq, ts};
        next_seq++;
    }
    memset(&b, 0, sizeof(b));
    b.device_id = device;
    b.events = in;
    b.nevents = n;
    b.stored = n;
    b.first_seq = in[0].seq;
    b.last_seq = in[n - 1].seq;
    detection_submit(d, &b);
out:
    for (i = 0; i < n; i++)
        tlv_free(&bufs[i]);
    free(bufs);
    free(in);
    return rc;
}

/* Feeds the first `expect` case of a pack rule's tests file. */
static int feed_case(struct detection *d, const char *device, const char *rule, const char *expect)
{
    char path[512], err[256];
    json_t *ev;
    int rc;

    snprintf(path, sizeof(path), "rules/%s.tests.jsonl", rule);
    ev = tlvjson_rule_case(path, expect);
    if (!ev) {
        fprintf(stderr, "no %s case in %s\n", expect, path);
        return -1;
    }
    rc = feed(d, device, ev, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s: %s\n", path, err);
    json_decref(ev);
    return rc;
}

static unsigned start_poll_ms = 100;

static struct detection *start(const char *pack, const char *custom, struct store *st, size_t queue)
{
    struct detection_options o = {.rules_dir = pack, .rule_dirs = custom, .poll_ms = start_poll_ms, .store = st,
                                  .max_queue_bytes = queue};
    struct detection *d = NULL;
    char err[512];

    if (detection_start(&o, &d, err, sizeof(err)) != 0)
        fprintf(stderr, "detection_start: %s\n", err);
    return d;
}

static char tmp[256];

static void teardown(void)
{
    alert_sink_set(NULL, NULL);
    if (tmp[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
        tmp[0] = '\0';
    }
}

static bool mktmp(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/yamori-det-XXXXXX");
    return mkdtemp(tmp) != NULL;
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

/* A rule file text matching process creations whose command line contains
 * marker. */
static void rule_text(char *out, size_t len, const char *id, const char *title, const char *marker)
{
    snprintf(out, len,
             "title: %s\nid: %s\nstatus: experimental\ndescription: Test rule.\n"
             "logsource:\n    product: linux\n    category: process_creation\n"
             "detection:\n    selection:\n        CommandLine|contains: '%s'\n    condition: selection\n"
             "level: critical\ntags:\n    - attack.discovery\n    - attack.t1082\n",
             title, id, marker);
}

static json_t *process_event(const char *cmd, const char *image, const char *sha)
{
    return json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}]", "Timestamp",
                     "2026-11-26T12:00:00Z", "EventType", "process", "ActionType", "ProcessCreated", "DeviceName",
                     "vm", "FolderPath", image, "FileName", strrchr(image, '/') + 1, "ProcessCommandLine", cmd,
                     "ProcessUniqueId", "u-1-1", "ProcessId", 4242, "AccountName", "root", "SHA256", sha,
                     "InitiatingProcessUniqueId", "u-1-0");
}

static struct detection *wait_rules(struct detection *d, size_t want, unsigned tries)
{
    struct detection_status s;
    for (unsigned i = 0; i < tries; i++) {
        detection_status(d, &s);
        if (s.rules_loaded == want)
            return d;
        usleep(100000);
    }
    return NULL;
}

/* ------------------------------------------------------------------ cases */

static void pack_rule_hit(void)
{
    struct detection *d;
    const struct rec_hit *h;
    struct detection_status s;

    check_set_teardown(teardown);
    reset_hits();
    alert_sink_set(sink, NULL);
    d = start("rules", NULL, NULL, 0);
    CHECK(d);
    detection_status(d, &s);
    CHECK_INT(s.rules_loaded, >, 90);
    CHECK_INT(s.rules_refused, ==, 0);
    CHECK_INT(feed_case(d, "dev-a", "persistence/file_authorized_keys_modified", "match"), ==, 0);
    CHECK_INT(feed_case(d, "dev-a", "persistence/file_cron_suspicious", "match"), ==, 0);
    CHECK(detection_wait_idle(d, 30000));
    detection_stop(d);

    h = find_title("SSH authorized_keys modified");
    CHECK_MSG(h, "no authorized_keys alert (%zu hits)", rec.n);
    CHECK_STR(h->device, "dev-a");
    CHECK_STR(h->source, "EDR");
    CHECK_STR(h->severity, "medium");
    CHECK_STR(h->category, "Persistence");
    CHECK_MSG(strstr(h->techniques, "T1098.004"), "techniques %s", h->techniques);
    CHECK_MSG(strstr(h->dedup, "aac21855-d5d2-483b-924b-f908b52d730e|"), "dedup %s", h->dedup);
    CHECK(h->nlineage >= 2);
    CHECK_STR(h->account, "root");
    CHECK(find_ev(h, "ssh_key", "edited", "/root/.ssh/authorized_keys"));
    CHECK(find_ev(h, "process", "source", "f5647a1c-22736-769318"));
    CHECK(find_ev(h, "process", "contextual", "f5647a1c-22606-769300"));
    CHECK_MSG(strstr(find_ev(h, "process", "source", NULL)->detail, "\"command_line\":\"tee -a /root/.ssh/authorized_keys\""),
              "detail %s", find_ev(h, "process", "source", NULL)->detail);
    CHECK_MSG(strlen(h->recommended) > 10, "no recommended actions");

    h = find_title("Suspicious cron persistence");
    CHECK_MSG(h, "no cron alert (%zu hits)", rec.n);
    CHECK_STR(h->severity, "high");
    CHECK_MSG(strstr(h->tactics, "Persistence;") && strstr(h->tactics, "Execution;"), "tactics %s", h->tactics);
    CHECK_STR(h->category, "Persistence"); /* the tactic the rule names first, not the earliest */
    CHECK_MSG(find_ev(h, "persistence", "added", NULL) || find_ev(h, "persistence", "edited", NULL),
              "no persistence evidence");
}

static void ssh_bruteforce_once_per_group(void)
{
    const char *title = "Multiple failed SSH logons followed by a success";
    struct detection *d;
    const struct rec_hit *h;
    json_t *ev, *fails, *success;
    char err[256];
    size_t n;

    check_set_teardown(teardown);
    reset_hits();
    alert_sink_set(sink, NULL);
    d = start("rules", NULL, NULL, 0);
    CHECK(d);
    CHECK_INT(feed_case(d, "dev-b", "credential_access/corr_ssh_bruteforce_success", "match"), ==, 0);
    CHECK(detection_wait_idle(d, 30000));
    CHECK_INT(count_title(title), ==, 1);
    h = find_title(title);
    CHECK_STR(h->severity, "high");
    CHECK_STR(h->device, "dev-b");
    CHECK(find_ev(h, "ip", "attacker", "203.0.113.77"));
    CHECK(find_ev(h, "user", "attacked", "root"));
    CHECK_MSG(strstr(h->dedup, "RemoteIP=203.0.113.77") || strstr(h->dedup, "203.0.113.77"), "dedup %s", h->dedup);

    /* the same failures on one device and the success on another: nothing */
    reset_hits();
    ev = tlvjson_rule_case("rules/credential_access/corr_ssh_bruteforce_success.tests.jsonl", "match");
    CHECK(ev);
    n = json_array_size(ev);
    fails = json_array();
    success = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(i + 1 < n ? fails : success, json_array_get(ev, i));
    json_decref(ev);
    CHECK_INT(feed(d, "dev-c", fails, err, sizeof(err)), ==, 0);
    CHECK_INT(feed(d, "dev-d", success, err, sizeof(err)), ==, 0);
    json_decref(fails);
    json_decref(success);
    CHECK(detection_wait_idle(d, 30000));
    CHECK_MSG(count_title(title) == 0, "a correlation across devices fired");
    detection_stop(d);
}

static void rules_reload_and_errors(void)
{
    char pack[300], custom[300], text[1024];
    struct detection *d;
    struct detection_status s;
    struct jsonw w;
    json_t *ev;
    char err[256];
    const struct rec_hit *h;

    check_set_teardown(teardown);
    reset_hits();
    alert_sink_set(sink, NULL);
    CHECK(mktmp());
    snprintf(pack, sizeof(pack), "%s/pack", tmp);
    snprintf(custom, sizeof(custom), "%s/custom", tmp);
    CHECK(mkdir(pack, 0700) == 0 && mkdir(custom, 0700) == 0);
    rule_text(text, sizeof(text), "11111111-1111-4111-8111-111111111111", "Pack marker rule", "pack-marker-xyz");
    CHECK(write_file(pack, "a.yml", text));
    CHECK(write_file(pack, "broken.yml", "title: Broken rule\nid: 22222222-2222-4222-8222-222222222222\n"
                                         "logsource:\n    product: linux\ndetection:\n    sel:\n"
                                         "        Image|startwith: /x\n    condition: sel\n"));
    d = start(pack, custom, NULL, 0);
    CHECK(d);
    detection_status(d, &s);
    CHECK_INT(s.rules_loaded, ==, 1);
    CHECK_INT(s.rules_refused, ==, 1);
    jsonw_init(&w);
    detection_write_rules(d, &w);
    CHECK_MSG(strstr(w.buf, "\"status\":\"error\"") && strstr(w.buf, "broken.yml") && strstr(w.buf, "startwith"),
              "rules %s", w.buf);
    CHECK_MSG(strstr(w.buf, "\"title\":\"Pack marker rule\"") && strstr(w.buf, "\"source\":\"EDR\""), "rules %s",
              w.buf);
    jsonw_free(&w);

    /* the good rule works despite the broken one */
    ev = process_event("/bin/sh -c pack-marker-xyz", "/usr/bin/sh",
                       "0000000000000000000000000000000000000000000000000000000000000001");
    CHECK_INT(feed(d, "dev-e", ev, err, sizeof(err)), ==, 0);
    json_decref(ev);
    CHECK(detection_wait_idle(d, 30000));
    h = find_title("Pack marker rule");
    CHECK_MSG(h, "the good rule did not fire");
    CHECK_STR(h->severity, "high"); /* critical -> high */
    CHECK_STR(h->category, "Discovery");
    CHECK(find_ev(h, "process", "source", "u-1-1"));

    /* a rule added to the custom directory is picked up without a restart */
    rule_text(text, sizeof(text), "33333333-3333-4333-8333-333333333333", "Custom marker rule", "custom-marker-xyz");
    CHECK(write_file(custom, "c.yml", text));
    CHECK_MSG(wait_rules(d, 2, 300), "the new rule was not loaded");
    CHECK(detection_wait_idle(d, 30000));
    ev = process_event("/bin/sh -c custom-marker-xyz", "/usr/bin/sh",
                       "0000000000000000000000000000000000000000000000000000000000000001");
    CHECK_INT(feed(d, "dev-e", ev, err, sizeof(err)), ==, 0);
    json_decref(ev);
    CHECK(detection_wait_idle(d, 30000));
    h = find_title("Custom marker rule");
    CHECK_MSG(h, "the custom rule did not fire");
    CHECK_STR(h->source, "custom detection");

    /* every rule broken: the reload fails and the old rules stay. The
     * two files cannot change at once, so the watcher is kept out of it
     * (it could load the state between the two writes): the rules are
     * loaded again by a detection that does not poll in this test's time */
    detection_stop(d);
    start_poll_ms = 3600 * 1000;
    d = start(pack, custom, NULL, 0);
    start_poll_ms = 100;
    CHECK(d);
    detection_status(d, &s);
    CHECK_INT(s.rules_loaded, ==, 2);
    CHECK(write_file(pack, "a.yml", "title: [unclosed\n"));
    CHECK(write_file(custom, "c.yml", "not: a rule\n"));
    CHECK_INT(detection_reload(d, err, sizeof(err)), <, 0);
    CHECK_MSG(strstr(err, "no rule could be loaded"), "err %s", err);
    detection_status(d, &s);
    CHECK_INT(s.rules_loaded, ==, 2);
    CHECK(!s.last_reload_ok);
    CHECK(s.reloads_failed >= 1);
    reset_hits();
    ev = process_event("/bin/sh -c pack-marker-xyz", "/usr/bin/sh",
                       "0000000000000000000000000000000000000000000000000000000000000001");
    CHECK_INT(feed(d, "dev-e", ev, err, sizeof(err)), ==, 0);
    json_decref(ev);
    CHECK(detection_wait_idle(d, 30000));
    CHECK_MSG(find_title("Pack marker rule"), "the old rules stopped working");

    /* the pack directory missing: refused, old rules stay */
    snprintf(text, sizeof(text), "rm -rf '%s'", pack);
    CHECK(system(text) == 0);
    CHECK_INT(detection_reload(d, err, sizeof(err)), <, 0);
    CHECK_MSG(strstr(err, "cannot read the rule pack directory"), "err %s", err);
    detection_stop(d);
}

static void indicators_alert_and_allow(void)
{
    const char *sha = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";
    char pack[300], text[1024], uri[400], err[256];
    struct store_indicator x;
    struct store *st = NULL;
    struct detection *d = NULL;
    struct detection_status s;
    const struct rec_hit *h;
    int64_t id;
    json_t *ev;

    check_set_teardown(teardown);
    reset_hits();
    alert_sink_set(sink, NULL);
    CHECK(mktmp());
    snprintf(pack, sizeof(pack), "%s/pack", tmp);
    CHECK(mkdir(pack, 0700) == 0);
    rule_text(text, sizeof(text), "44444444-4444-4444-8444-444444444444", "Marker rule", "ioc-marker");
    CHECK(write_file(pack, "a.yml", text));
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", tmp);
    CHECK_MSG(store_open(&st, uri, err, sizeof(err)) == 0, "%s", err);

    memset(&x, 0, sizeof(x));
    CHECK_INT(det_indicator_canonical("sha256", sha, strlen(sha), x.value, sizeof(x.value), err, sizeof(err)), ==, 0);
    snprintf(x.type, sizeof(x.type), "sha256");
    snprintf(x.action, sizeof(x.action), "alert");
    snprintf(x.title, sizeof(x.title), "Known payload");
    snprintf(x.severity, sizeof(x.severity), "high");
    CHECK_INT(store_indicator_add(st, &x, &id), ==, 0);
    CHECK_INT(store_indicator_add(st, &x, &id), ==, -EEXIST);
    memset(&x, 0, sizeof(x));
    snprintf(x.type, sizeof(x.type), "path");
    snprintf(x.value, sizeof(x.value), "/opt/backup/");
    snprintf(x.action, sizeof(x.action), "allow");
    snprintf(x.title, sizeof(x.title), "Backup tool");
    snprintf(x.severity, sizeof(x.severity), "informational");
    CHECK_INT(store_indicator_add(st, &x, &id), ==, 0);

    d = start(pack, NULL, st, 0);
    CHECK(d);
    /* the hash (in lower case, as the agent sends it) raises an indicator alert */
    ev = process_event("/usr/lib/runtime", "/usr/lib/runtime",
                       "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    CHECK_INT(feed(d, "dev-f", ev, err, sizeof(err)), ==, 0);
    json_decref(ev);
    /* the marker rule fires for another program, not for the allowed one */
    ev = process_event("/usr/bin/sh -c ioc-marker", "/usr/bin/sh",
                       "1111111111111111111111111111111111111111111111111111111111111111");
    CHECK_INT(feed(d, "dev-f", ev, err, sizeof(err)), ==, 0);
    json_decref(ev);
    ev = process_event("/opt/backup/run --ioc-marker", "/opt/backup/run",
                       "2222222222222222222222222222222222222222222222222222222222222222");
    CHECK_INT(feed(d, "dev-f", ev, err, sizeof(err)), ==, 0);
    json_decref(ev);
    CHECK(detection_wait_idle(d, 30000));
    detection_status(d, &s);
    detection_stop(d);
    d = NULL;

    h = find_title("Known payload");
    CHECK_MSG(h, "no indicator alert (%zu hits)", rec.n);
    CHECK_STR(h->source, "indicators");
    CHECK_STR(h->severity, "high");
    CHECK_MSG(strncmp(h->rule_id, "indicator:", 10) == 0, "rule id %s", h->rule_id);
    CHECK(find_ev(h, "process", "source", "u-1-1"));
    CHECK_INT(count_title("Marker rule"), ==, 1);
    CHECK_INT(s.suppressed_by_allow, ==, 1);
    CHECK_INT(s.indicator_hits, ==, 1);
    store_close(st);
}

static void full_queue_counts(void)
{
    char pack[300], text[1024], err[256];
    struct detection *d;
    struct detection_status s;
    sem_t gate;
    json_t *ev;

    check_set_teardown(teardown);
    reset_hits();
    alert_sink_set(sink, NULL);
    CHECK(mktmp());
    snprintf(pack, sizeof(pack), "%s/pack", tmp);
    CHECK(mkdir(pack, 0700) == 0);
    rule_text(text, sizeof(text), "55555555-5555-4555-8555-555555555555", "Queue rule", "queue-marker");
    CHECK(write_file(pack, "a.yml", text));
    d = start(pack, NULL, NULL, 1); /* room for one batch */
    CHECK(d);
    sem_init(&gate, 0, 0);
    pthread_mutex_lock(&rec.lock);
    rec.gate = &gate; /* the worker will hang in the sink on the first hit */
    pthread_mutex_unlock(&rec.lock);
    ev = process_event("sh -c queue-marker", "/usr/bin/sh",
                       "1111111111111111111111111111111111111111111111111111111111111111");
    CHECK_INT(feed(d, "dev-g", ev, err, sizeof(err)), ==, 0);
    /* wait until the worker took it (queue empty again) */
    for (int i = 0; i < 300; i++) {
        detection_status(d, &s);
        if (s.queued_bytes == 0)
            break;
        usleep(10000);
    }
    CHECK_INT(feed(d, "dev-g", ev, err, sizeof(err)), ==, 0); /* queued: the queue was empty */
    CHECK_INT(feed(d, "dev-g", ev, err, sizeof(err)), ==, 0); /* no room: not inspected */
    json_decref(ev);
    detection_status(d, &s);
    sem_post(&gate);
    CHECK(detection_wait_idle(d, 30000));
    detection_stop(d);
    sem_destroy(&gate);
    CHECK_INT(s.events_not_inspected, ==, 1);
    CHECK_INT(count_title("Queue rule"), ==, 2);
}

static void indicator_values(void)
{
    static const struct {
        const char *type, *value, *canon;
    } cases[] = {
        {"sha256", "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789",
         "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"},
        {"sha256", "abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678", NULL},
        {"sha256", "xbcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", NULL},
        {"ip", "203.0.113.7", "203.0.113.7"},
        {"ip", "2001:DB8:0:0::7", "2001:db8::7"},
        {"ip", "203.0.113.300", NULL},
        {"ip", "203.0.113.7/24", NULL},
        {"ip", "", NULL},
        {"domain", "Evil.Example.COM.", "evil.example.com"},
        {"domain", "-evil.example.com", NULL},
        {"domain", "evil..example.com", NULL},
        {"domain", "localhost", NULL},
        {"domain", "evil_example.com", NULL},
        {"path", "/usr/lib/runtime", "/usr/lib/runtime"},
        {"path", "/tmp/", "/tmp/"},
        {"path", "usr/lib/runtime", NULL},
        {"path", "/usr/lib/../bin/x", NULL},
        {"path", "/usr//lib", NULL},
        {"path", "/usr/lib/\n", NULL},
        {"url", "http://x", NULL},
        {NULL, "x", NULL},
    };
    char out[STORE_INDICATOR_VALUE_MAX + 1], err[300];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = det_indicator_canonical(cases[i].type, cases[i].value, strlen(cases[i].value), out, sizeof(out), err,
                                         sizeof(err));
        if (cases[i].canon) {
            CHECK_MSG(rc == 0, "%s %s refused: %s", cases[i].type, cases[i].value, err);
            CHECK_STR(out, cases[i].canon);
        } else {
            CHECK_MSG(rc == -EINVAL && err[0], "%s '%s' accepted", cases[i].type ? cases[i].type : "(null)",
                      cases[i].value);
        }
    }
    CHECK(det_indicator_canonical("path", "/a\0b", 4, out, sizeof(out), err, sizeof(err)) == -EINVAL);
}

static void tactic_names(void)
{
    int rank1, rank2;
    CHECK_STR(det_tactic_name("attack.defense-evasion", &rank1), "Defense evasion");
    CHECK_STR(det_tactic_name("attack.stealth", NULL), "Defense evasion");
    CHECK_STR(det_tactic_name("attack.command-and-control", &rank2), "Command and control");
    CHECK_STR(det_tactic_name("attack.privilege-escalation", NULL), "Privilege escalation");
    CHECK(rank1 < rank2);
    CHECK(det_tactic_name("attack.t1053", NULL) == NULL);
    CHECK(det_tactic_name("cve.2021-1234", NULL) == NULL);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"pack_rule_hit", pack_rule_hit},
        {"ssh_bruteforce_once_per_group", ssh_bruteforce_once_per_group},
        {"rules_reload_and_errors", rules_reload_and_errors},
        {"indicators_alert_and_allow", indicators_alert_and_allow},
        {"full_queue_counts", full_queue_counts},
        {"indicator_values", indicator_values},
        {"tactic_names", tactic_names},
        {NULL, NULL},
    };
    return check_main("detection", cases, argc, argv);
}
