/*
 * test_detect_correlation.c — Sigma correlation rules on a stream of
 * events: event_count, value_count, temporal and temporal_ordered, with
 * group-by, timespans, conditions with lower and upper bounds, references
 * by name and id, aliases, chains of correlations, generate, and the memory
 * bounds (evictions are counted).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "detect/detect.h"

#include "detect_t.h"
/* Base rules: a failed and a successful login, a recon command. */
#define BASE_RULES                                                                    \
    "title: Failed login\nid: 5638f7c0-ac70-491d-8465-2a65075e0d86\nname: failed_login\n" \
    "logsource: {product: test}\n"                                                    \
    "detection:\n    s:\n        outcome: failure\n    condition: s\n"                \
    "---\n"                                                                           \
    "title: Successful login\nname: successful_login\nlogsource: {product: test}\n"   \
    "detection:\n    s:\n        outcome: success\n    condition: s\n"                \
    "---\n"                                                                           \
    "title: Recon whoami\nname: recon_a\nlogsource: {product: test}\n"                \
    "detection:\n    s:\n        cmd: whoami\n    condition: s\n"                     \
    "---\n"                                                                           \
    "title: Recon id\nname: recon_b\nlogsource: {product: test}\n"                    \
    "detection:\n    s:\n        cmd: id\n    condition: s\n"                         \
    "---\n"

struct corr_run {
    struct detect_engine *eng;
    struct detect_stream *st;
    struct t_diag dg;
    struct t_hits h;
};

static int run_open(struct corr_run *r, const char *yaml, const struct detect_config *cfg)
{
    char err[256];
    struct detect_config def;
    memset(r, 0, sizeof(*r));
    if (!cfg) {
        detect_config_default(&def);
        def.schema = DETECT_SCHEMA_FLAT;
        cfg = &def;
    }
    r->eng = t_engine_cfg(cfg, yaml, &r->dg, NULL);
    if (!r->eng)
        return -EINVAL;
    r->st = detect_stream_new(r->eng, err, sizeof(err));
    return r->st ? 0 : -ENOMEM;
}

static void run_close(struct corr_run *r)
{
    detect_stream_free(r->st);
    detect_engine_free(r->eng);
}

/* Feeds an event at minute:second `t` ("00:30"); returns the number of
 * correlation matches it produced. */
static int feed(struct corr_run *r, const char *t, const char *fields)
{
    char json[1024];
    int before = r->h.ncorr;
    snprintf(json, sizeof(json), "{\"Timestamp\":\"2026-11-26T10:%s.000Z\",%s}", t, fields);
    if (t_match(r->eng, r->st, json, &r->h) < 0)
        return -1;
    return r->h.ncorr - before;
}

static int last_corr(const struct corr_run *r)
{
    for (int i = r->h.n - 1; i >= 0; i--)
        if (r->h.kind[i] == DETECT_MATCH_CORRELATION)
            return i;
    return -1;
}

static void event_count_sliding(void)
{
    struct corr_run r;
    CHECK_INT(run_open(&r, BASE_RULES
                       "title: Many failed logins\nname: many_failed\n"
                       "correlation:\n    type: event_count\n    rules:\n        - failed_login\n"
                       "    group-by:\n        - user\n    timespan: 5m\n"
                       "    condition:\n        gte: 3\nlevel: high\n", NULL), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    CHECK_INT(feed(&r, "00:00", "\"outcome\":\"failure\",\"user\":\"alice\""), ==, 0);
    CHECK_INT(feed(&r, "01:00", "\"outcome\":\"failure\",\"user\":\"bob\""), ==, 0);
    CHECK_INT(feed(&r, "02:00", "\"outcome\":\"failure\",\"user\":\"alice\""), ==, 0);
    CHECK_INT(feed(&r, "03:00", "\"outcome\":\"success\",\"user\":\"alice\""), ==, 0);
    CHECK_INT(feed(&r, "04:59", "\"outcome\":\"failure\",\"user\":\"alice\""), ==, 1);
    int i = last_corr(&r);
    CHECK_STR(r.h.title[i], "Many failed logins");
    CHECK_STR(r.h.group[i], "user=alice");
    CHECK_INT(r.h.count[i], ==, 3);
    /* the base rule is suppressed (no generate), its matches still reported */
    CHECK_INT(r.h.nsuppressed, ==, 4);
    /* the group started over: two more are not enough */
    CHECK_INT(feed(&r, "05:00", "\"outcome\":\"failure\",\"user\":\"alice\""), ==, 0);
    CHECK_INT(feed(&r, "05:01", "\"outcome\":\"failure\",\"user\":\"alice\""), ==, 0);
    /* a sliding window: bob's 3 failures over more than 5 minutes never fire */
    CHECK_INT(feed(&r, "06:30", "\"outcome\":\"failure\",\"user\":\"bob\""), ==, 0);
    CHECK_INT(feed(&r, "11:00", "\"outcome\":\"failure\",\"user\":\"bob\""), ==, 0);
    CHECK_INT(feed(&r, "11:30", "\"outcome\":\"failure\",\"user\":\"bob\""), ==, 1);
    run_close(&r);
}

static void generate_and_references_by_id(void)
{
    struct corr_run r;
    CHECK_INT(run_open(&r, BASE_RULES
                       "title: Two failures\ngenerate: true\n"
                       "correlation:\n    type: event_count\n"
                       "    rules: 5638f7c0-ac70-491d-8465-2a65075e0d86\n"
                       "    timespan: 1h\n    condition: {gt: 1}\n", NULL), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    /* no group-by: one group for everything */
    CHECK_INT(feed(&r, "00:00", "\"outcome\":\"failure\",\"user\":\"a\""), ==, 0);
    CHECK_INT(feed(&r, "00:01", "\"outcome\":\"failure\",\"user\":\"b\""), ==, 1);
    CHECK_INT(r.h.nsuppressed, ==, 0);
    CHECK_STR(r.h.group[last_corr(&r)], "");
    run_close(&r);
}

static void value_count(void)
{
    struct corr_run r;
    CHECK_INT(run_open(&r, BASE_RULES
                       "title: Password spraying\n"
                       "correlation:\n    type: value_count\n    rules: [failed_login]\n"
                       "    group-by: [src]\n    timespan: 10m\n"
                       "    condition:\n        field: user\n        gte: 3\n", NULL), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    CHECK_INT(feed(&r, "00:00", "\"outcome\":\"failure\",\"user\":\"a\",\"src\":\"1.1.1.1\""), ==, 0);
    CHECK_INT(feed(&r, "00:10", "\"outcome\":\"failure\",\"user\":\"a\",\"src\":\"1.1.1.1\""), ==, 0);
    CHECK_INT(feed(&r, "00:20", "\"outcome\":\"failure\",\"user\":\"b\",\"src\":\"1.1.1.1\""), ==, 0);
    CHECK_INT(feed(&r, "00:30", "\"outcome\":\"failure\",\"user\":\"c\",\"src\":\"2.2.2.2\""), ==, 0);
    CHECK_INT(feed(&r, "00:40", "\"outcome\":\"failure\",\"user\":\"c\",\"src\":\"1.1.1.1\""), ==, 1);
    int i = last_corr(&r);
    CHECK_STR(r.h.group[i], "src=1.1.1.1");
    CHECK_INT(r.h.count[i], ==, 3);
    run_close(&r);
}

static void temporal_any_order(void)
{
    struct corr_run r;
    CHECK_INT(run_open(&r, BASE_RULES
                       "title: Recon burst\n"
                       "correlation:\n    type: temporal\n    rules: [recon_a, recon_b]\n"
                       "    group-by: [host]\n    timespan: 2m\n", NULL), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    CHECK_INT(feed(&r, "00:00", "\"cmd\":\"id\",\"host\":\"h1\""), ==, 0);
    CHECK_INT(feed(&r, "00:30", "\"cmd\":\"whoami\",\"host\":\"h2\""), ==, 0);
    CHECK_INT(feed(&r, "01:00", "\"cmd\":\"whoami\",\"host\":\"h1\""), ==, 1);
    CHECK_STR(r.h.group[last_corr(&r)], "host=h1");
    CHECK_INT(r.h.count[last_corr(&r)], ==, 2);
    /* too far apart */
    CHECK_INT(feed(&r, "05:00", "\"cmd\":\"id\",\"host\":\"h2\""), ==, 0);
    run_close(&r);
}

static void temporal_ordered(void)
{
    struct corr_run r;
    CHECK_INT(run_open(&r, BASE_RULES
                       "title: Whoami then id\n"
                       "correlation:\n    type: temporal_ordered\n    rules: [recon_a, recon_b]\n"
                       "    group-by: [host]\n    timespan: 2m\n", NULL), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    /* wrong order */
    CHECK_INT(feed(&r, "00:00", "\"cmd\":\"id\",\"host\":\"h1\""), ==, 0);
    CHECK_INT(feed(&r, "00:10", "\"cmd\":\"whoami\",\"host\":\"h1\""), ==, 0);
    /* right order, in time */
    CHECK_INT(feed(&r, "00:20", "\"cmd\":\"id\",\"host\":\"h1\""), ==, 1);
    /* right order, too late */
    CHECK_INT(feed(&r, "03:00", "\"cmd\":\"whoami\",\"host\":\"h1\""), ==, 0);
    CHECK_INT(feed(&r, "05:30", "\"cmd\":\"id\",\"host\":\"h1\""), ==, 0);
    run_close(&r);
}

static void upper_bounds_judged_when_windows_close(void)
{
    struct corr_run r;
    CHECK_INT(run_open(&r, BASE_RULES
                       "title: Few logins\n"
                       "correlation:\n    type: event_count\n    rules: [successful_login]\n"
                       "    group-by: [user]\n    timespan: 10m\n    condition: {lt: 3}\n"
                       "---\n"
                       "title: Exactly two\n"
                       "correlation:\n    type: event_count\n    rules: [successful_login]\n"
                       "    group-by: [user]\n    timespan: 10m\n    condition: {eq: 2}\n"
                       "---\n"
                       "title: Two to three\n"
                       "correlation:\n    type: event_count\n    rules: [successful_login]\n"
                       "    group-by: [user]\n    timespan: 10m\n    condition: {gt: 1, lte: 3}\n",
                       NULL), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    CHECK_INT(feed(&r, "00:00", "\"outcome\":\"success\",\"user\":\"a\""), ==, 0);
    CHECK_INT(feed(&r, "01:00", "\"outcome\":\"success\",\"user\":\"a\""), ==, 0);
    for (int k = 0; k < 4; k++)
        CHECK_INT(feed(&r, "02:00", "\"outcome\":\"success\",\"user\":\"b\""), ==, 0);
    /* a's and b's windows close at 10:00 and 12:00: an event after both */
    int n = feed(&r, "12:30", "\"outcome\":\"failure\",\"user\":\"c\"");
    /* a: 2 events: lt 3, eq 2, 1 < 2 <= 3 all fire; b: 4 events: none */
    CHECK_INT(n, ==, 3);
    for (int i = 0; i < r.h.n; i++)
        if (r.h.kind[i] == DETECT_MATCH_CORRELATION) {
            CHECK_STR(r.h.group[i], "user=a");
            CHECK_INT(r.h.count[i], ==, 2);
        }
    /* detect_stream_advance closes windows without an event, flush at the end */
    CHECK_INT(feed(&r, "13:00", "\"outcome\":\"success\",\"user\":\"d\""), ==, 0);
    CHECK_INT(detect_stream_advance(r.st, 0, t_on_match, &r.h), ==, 0);   /* time never goes back */
    int64_t later = (int64_t)1795774000 * 1000000000LL;   /* 2026-11-26 in the future */
    CHECK_INT(detect_stream_advance(r.st, later, t_on_match, &r.h), ==, 1);   /* lt 3 for d */
    CHECK_INT(feed(&r, "59:00", "\"outcome\":\"success\",\"user\":\"e\""), ==, 0);
    CHECK_INT(detect_stream_flush(r.st, t_on_match, &r.h), ==, 1);
    struct detect_stream_stats ss;
    detect_stream_stats(r.st, &ss);
    CHECK_INT(ss.fired, ==, 5);
    CHECK_INT(ss.groups, ==, 0);
    run_close(&r);
}

static void chained_correlations_and_aliases(void)
{
    struct corr_run r;
    /* the specification's example: many failures, then a success */
    CHECK_INT(run_open(&r, BASE_RULES
                       "title: Brute force then success\n"
                       "correlation:\n    type: temporal_ordered\n"
                       "    rules: [many_failed_logins, successful_login]\n"
                       "    group-by: [user]\n    timespan: 10m\nlevel: high\n"
                       "---\n"
                       "title: Many failures\nname: many_failed_logins\n"
                       "correlation:\n    type: event_count\n    rules: [failed_login]\n"
                       "    group-by: [user]\n    timespan: 10m\n    condition: {gte: 3}\n",
                       NULL), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    CHECK_INT(feed(&r, "00:00", "\"outcome\":\"failure\",\"user\":\"x\""), ==, 0);
    CHECK_INT(feed(&r, "00:01", "\"outcome\":\"failure\",\"user\":\"x\""), ==, 0);
    CHECK_INT(feed(&r, "00:02", "\"outcome\":\"failure\",\"user\":\"x\""), ==, 1);
    CHECK_STR(r.h.title[last_corr(&r)], "Many failures");
    CHECK_INT(r.h.nsuppressed, >=, 1);
    CHECK_INT(feed(&r, "00:05", "\"outcome\":\"success\",\"user\":\"y\""), ==, 0);
    CHECK_INT(feed(&r, "00:09", "\"outcome\":\"success\",\"user\":\"x\""), ==, 1);
    CHECK_STR(r.h.title[last_corr(&r)], "Brute force then success");
    CHECK_STR(r.h.group[last_corr(&r)], "user=x");
    run_close(&r);

    /* aliases: the same address under different names in two rules */
    CHECK_INT(run_open(&r,
                       "title: Scan\nname: scan\nlogsource: {product: t}\n"
                       "detection:\n    s: {kind: scan}\n    condition: s\n"
                       "---\n"
                       "title: Login\nname: login\nlogsource: {product: t}\n"
                       "detection:\n    s: {kind: login}\n    condition: s\n"
                       "---\n"
                       "title: Scan then login\n"
                       "correlation:\n    type: temporal_ordered\n    rules: [scan, login]\n"
                       "    group-by: [addr]\n    timespan: 5m\n"
                       "    aliases:\n        addr:\n            scan: dst\n            login: src\n",
                       NULL), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    CHECK_INT(feed(&r, "00:00", "\"kind\":\"scan\",\"dst\":\"10.0.0.9\",\"src\":\"1.1.1.1\""), ==, 0);
    CHECK_INT(feed(&r, "00:30", "\"kind\":\"login\",\"src\":\"10.0.0.8\""), ==, 0);
    CHECK_INT(feed(&r, "00:40", "\"kind\":\"login\",\"src\":\"10.0.0.9\""), ==, 1);
    CHECK_STR(r.h.group[last_corr(&r)], "addr=10.0.0.9");
    run_close(&r);
}

static void resolution_errors(void)
{
    struct t_diag dg;
    int loaded = 0;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(
        DETECT_SCHEMA_FLAT,
        BASE_RULES
        "title: Dangling\n"
        "correlation:\n    type: event_count\n    rules:\n        - no_such_rule\n"
        "    timespan: 5m\n    condition: {gte: 2}\n"
        "---\n"
        "title: Loop A\nname: loop_a\n"
        "correlation:\n    type: event_count\n    rules: [loop_b]\n"
        "    timespan: 5m\n    condition: {gte: 2}\n"
        "---\n"
        "title: Loop B\nname: loop_b\n"
        "correlation:\n    type: event_count\n    rules: [loop_a]\n"
        "    timespan: 5m\n    condition: {gte: 2}\n"
        "---\n"
        "title: On dangling\n"
        "correlation:\n    type: temporal\n    rules: [loop_a, recon_a]\n    timespan: 5m\n"
        "---\n"
        "title: Bad alias\n"
        "correlation:\n    type: temporal\n    rules: [recon_a, recon_b]\n"
        "    group-by: [who]\n    timespan: 5m\n"
        "    aliases:\n        who:\n            recon_a: user\n",
        &dg, &loaded);
    CHECK(eng);
    CHECK_INT(loaded, ==, 9);
    int dangling = 0, cycle = 0, dropped = 0, alias = 0;
    for (int i = 0; i < dg.n; i++) {
        if (dg.d[i].sev != DETECT_ERROR)
            continue;
        CHECK_INT(dg.d[i].kind, ==, DETECT_DIAG_CORRELATION);
        dangling += strstr(dg.d[i].message, "'no_such_rule', which no loaded rule") != NULL;
        cycle += strstr(dg.d[i].message, "references itself") != NULL;
        dropped += strstr(dg.d[i].message, "could not be compiled") != NULL;
        alias += strstr(dg.d[i].message, "alias 'who'") != NULL;
        if (strstr(dg.d[i].message, "no_such_rule"))
            CHECK_MSG(dg.d[i].line == 38 && dg.d[i].col == 11, "at %u:%u", dg.d[i].line,
                      dg.d[i].col);
    }
    CHECK_INT(dangling, ==, 1);
    CHECK_INT(cycle, ==, 2);
    CHECK_INT(dropped, ==, 1);
    CHECK_INT(alias, ==, 1);
    struct detect_engine_stats es;
    detect_engine_stats(eng, &es);
    CHECK_INT(es.correlations, ==, 0);
    int inactive = 0;
    for (size_t i = 0; i < detect_engine_rule_count(eng); i++) {
        const struct detect_rule_info *ri = detect_engine_rule(eng, i);
        inactive += ri->correlation && !ri->active;
    }
    CHECK_INT(inactive, ==, 5);
    detect_engine_free(eng);
}

static void definition_errors(void)
{
    static const struct {
        const char *body, *what;
    } bad[] = {
        {"    type: event_count\n    rules: [failed_login]\n    timespan: 5x\n    condition: {gte: 2}\n",
         "timespan '5x'"},
        {"    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n", "needs a condition"},
        {"    type: value_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 2}\n",
         "needs 'field'"},
        {"    type: sum\n    rules: [failed_login]\n    timespan: 5m\n", "unknown correlation type"},
        {"    type: event_count\n    timespan: 5m\n    condition: {gte: 2}\n", "references no rules"},
        {"    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {more: 2}\n",
         "unknown correlation condition"},
        {"    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: -1}\n",
         "non-negative integer"},
        {"    type: event_count\n    rules: [failed_login]\n    timespan: 5m\n    condition: {gte: 1}\n"
         "    colour: red\n", "unknown correlation attribute"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[2048];
        struct t_diag dg;
        memset(&dg, 0, sizeof(dg));
        snprintf(yaml, sizeof(yaml), BASE_RULES "title: Bad\ncorrelation:\n%s", bad[i].body);
        struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, yaml, &dg, NULL);
        detect_engine_free(eng);
        const char *e = t_first_error(&dg);
        CHECK_MSG(e && strstr(e, bad[i].what), "case %zu: want '%s', got %s", i, bad[i].what,
                  e ? e : "no error");
    }
}

static void memory_is_bounded(void)
{
    struct detect_config cfg;
    struct corr_run r;
    detect_config_default(&cfg);
    cfg.schema = DETECT_SCHEMA_FLAT;
    cfg.corr_max_groups = 4;
    cfg.corr_max_entries = 8;
    CHECK_INT(run_open(&r, BASE_RULES
                       "title: Per user\n"
                       "correlation:\n    type: event_count\n    rules: [failed_login]\n"
                       "    group-by: [user]\n    timespan: 1h\n    condition: {gte: 2}\n"
                       "---\n"
                       "title: Users per source\n"
                       "correlation:\n    type: value_count\n    rules: [successful_login]\n"
                       "    group-by: [src]\n    timespan: 1h\n"
                       "    condition: {field: user, lt: 100}\n", &cfg), ==, 0);
    /* 10 users, one failure each: only 4 groups are kept */
    for (int i = 0; i < 10; i++) {
        char f[128];
        snprintf(f, sizeof(f), "\"outcome\":\"failure\",\"user\":\"u%d\"", i);
        CHECK_INT(feed(&r, "00:00", f), ==, 0);
    }
    struct detect_stream_stats ss;
    detect_stream_stats(r.st, &ss);
    CHECK_INT(ss.groups, ==, 4);
    CHECK_INT(ss.groups_evicted, ==, 6);
    /* the newest groups survive: u9 fires on its second failure, u0 does not */
    CHECK_INT(feed(&r, "00:01", "\"outcome\":\"failure\",\"user\":\"u9\""), ==, 1);
    CHECK_INT(feed(&r, "00:02", "\"outcome\":\"failure\",\"user\":\"u0\""), ==, 0);
    /* 20 distinct users from one source: at most 8 values kept */
    for (int i = 0; i < 20; i++) {
        char f[128];
        snprintf(f, sizeof(f), "\"outcome\":\"success\",\"user\":\"v%d\",\"src\":\"s\"", i);
        CHECK_INT(feed(&r, "00:03", f), ==, 0);
    }
    detect_stream_stats(r.st, &ss);
    CHECK_INT(ss.entries_evicted, ==, 12);
    memset(&r.h, 0, sizeof(r.h));
    CHECK_INT(detect_stream_flush(r.st, t_on_match, &r.h), ==, 1);
    CHECK_INT(r.h.count[last_corr(&r)], ==, 8);
    run_close(&r);

    /* a value_count threshold above the bound cannot be counted: refused */
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine_cfg(
        &cfg, BASE_RULES "title: Too many\ncorrelation:\n    type: value_count\n"
                         "    rules: [failed_login]\n    timespan: 1h\n"
                         "    condition: {field: user, gte: 50}\n", &dg, NULL);
    CHECK(eng);
    CHECK(t_first_error(&dg) && strstr(t_first_error(&dg), "corr_max_entries"));
    detect_engine_free(eng);
}

static void yamori_group_by_is_mapped(void)
{
    struct detect_config cfg;
    struct corr_run r;
    detect_config_default(&cfg);
    CHECK_INT(run_open(&r,
                       "title: Sudo\nname: sudo_exec\n"
                       "logsource: {product: linux, category: process_creation}\n"
                       "detection:\n    s:\n        Image|endswith: /sudo\n    condition: s\n"
                       "---\n"
                       "title: Many sudo\n"
                       "correlation:\n    type: event_count\n    rules: [sudo_exec]\n"
                       "    group-by: [User]\n    timespan: 1m\n    condition: {gte: 2}\n",
                       &cfg), ==, 0);
    CHECK_MSG(r.dg.errors == 0, "%s", t_first_error(&r.dg));
    const char *ev = "\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                     "\"FolderPath\":\"/usr/bin/sudo\",\"AccountName\":\"mallory\"";
    CHECK_INT(feed(&r, "00:00", ev), ==, 0);
    CHECK_INT(feed(&r, "00:10", ev), ==, 1);
    CHECK_STR(r.h.group[last_corr(&r)], "User=mallory");
    run_close(&r);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            *len = fread(buf, 1, (size_t)n, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* A scenario from files: rules in, events in, alerts out. */
static void ssh_brute_force_scenario(void)
{
    size_t rlen = 0, elen = 0;
    char *rules = read_file("tests/fixtures/detect/ssh_brute_force.yml", &rlen);
    char *events = read_file("tests/fixtures/detect/ssh_brute_force.jsonl", &elen);
    if (!rules || !events) {
        free(rules);
        free(events);
        SKIP("tests/fixtures/detect not found: run from the repository root");
    }
    char err[256];
    struct t_diag dg;
    struct t_hits h;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    struct detect_engine *eng = detect_engine_new(NULL, err, sizeof(err));
    CHECK(eng);
    CHECK_INT(detect_engine_add(eng, "ssh_brute_force.yml", rules, rlen, t_on_diag, &dg), ==, 4);
    free(rules);
    CHECK_INT(detect_engine_compile(eng, t_on_diag, &dg, err, sizeof(err)), ==, 0);
    CHECK_MSG(dg.errors == 0 && dg.warnings == 0, "%s", dg.n ? dg.d[0].message : "");
    struct detect_stream *st = detect_stream_new(eng, err, sizeof(err));
    CHECK(st);
    char *line = events;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        CHECK(t_match(eng, st, line, &h) >= 0);
        line = nl ? nl + 1 : NULL;
    }
    free(events);
    CHECK_INT(detect_stream_flush(st, t_on_match, &h), ==, 0);
    /* one burst, then the attacker's login: the chain fires once */
    int burst = 0, chain = 0;
    for (int i = 0; i < h.n; i++) {
        if (h.kind[i] != DETECT_MATCH_CORRELATION)
            continue;
        if (strcmp(h.title[i], "Burst of failed SSH logins") == 0)
            burst++;
        if (strcmp(h.title[i], "SSH brute force followed by a successful login") == 0) {
            chain++;
            CHECK_STR(h.group[i], "SourceIp=203.0.113.5");
            CHECK_INT(h.count[i], ==, 2);
        }
    }
    CHECK_INT(burst, ==, 1);
    CHECK_INT(chain, ==, 1);
    detect_stream_free(st);
    detect_engine_free(eng);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"event_count_sliding", event_count_sliding},
        {"generate_and_references_by_id", generate_and_references_by_id},
        {"value_count", value_count},
        {"temporal_any_order", temporal_any_order},
        {"temporal_ordered", temporal_ordered},
        {"upper_bounds_judged_when_windows_close", upper_bounds_judged_when_windows_close},
        {"chained_correlations_and_aliases", chained_correlations_and_aliases},
        {"resolution_errors", resolution_errors},
        {"definition_errors", definition_errors},
        {"memory_is_bounded", memory_is_bounded},
        {"yamori_group_by_is_mapped", yamori_group_by_is_mapped},
        {"ssh_brute_force_scenario", ssh_brute_force_scenario},
        {NULL, NULL},
    };
    return check_main("detect_correlation", cases, argc, argv);
}
