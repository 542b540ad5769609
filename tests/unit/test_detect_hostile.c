/*
 * test_detect_hostile.c — rules and events written to hurt: deep nesting,
 * alias bombs, oversized input, value explosions, pathological regular
 * expressions, long conditions, invalid bytes and random garbage. Each must
 * give a clear error or a bounded result, never a crash or a hang.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "detect/detect.h"

#include "detect_t.h"
/* Loads `text` into a flat engine; returns the first error's kind (or -1)
 * and the number of rules loaded in *loaded. */
static int load_kind(const char *text, size_t len, int *loaded, char *msg, size_t n)
{
    char err[256];
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_config cfg;
    detect_config_default(&cfg);
    cfg.schema = DETECT_SCHEMA_FLAT;
    struct detect_engine *eng = detect_engine_new(&cfg, err, sizeof(err));
    if (!eng)
        return -2;
    int rc = detect_engine_add(eng, "hostile.yml", text, len, t_on_diag, &dg);
    *loaded = rc;
    detect_engine_compile(eng, t_on_diag, &dg, err, sizeof(err));
    detect_engine_free(eng);
    int e = t_error_index(&dg);
    if (e < 0)
        return -1;
    snprintf(msg, n, "%s", dg.d[e].message);
    return (int)dg.d[e].kind;
}

static char *repeat(const char *head, const char *unit, size_t times, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * times + tl + 1);
    if (!s)
        return NULL;
    memcpy(s, head, hl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * times, tail, tl + 1);
    return s;
}

static void deep_nesting(void)
{
    char msg[1024];
    int loaded;
    char *s = repeat("title: x\nlogsource: {product: t}\ndetection:\n    s:\n        f: ", "[",
                     100000, "\n");
    CHECK(s);
    int k = load_kind(s, strlen(s), &loaded, msg, sizeof(msg));
    free(s);
    CHECK_INT(k, ==, DETECT_DIAG_LIMIT);
    CHECK(strstr(msg, "nested deeper than 64"));
    CHECK_INT(loaded, ==, 0);
}

static void alias_bomb(void)
{
    /* each level doubles the size: 2^40 nodes if expanded */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text), "a0: &a0 [x, x]\n");
    for (int i = 1; i <= 40; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "a%d: &a%d [*a%d, *a%d]\n", i, i,
                              i - 1, i - 1);
    char msg[1024];
    int loaded;
    int k = load_kind(text, n, &loaded, msg, sizeof(msg));
    CHECK_INT(k, ==, DETECT_DIAG_LIMIT);
    CHECK(strstr(msg, "YAML nodes"));
}

static void oversized_input(void)
{
    char err[256];
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = detect_engine_new(NULL, err, sizeof(err));
    CHECK(eng);
    size_t big = (16u << 20) + 1;
    char *s = malloc(big);
    CHECK(s);
    memset(s, ' ', big);
    CHECK_INT(detect_engine_add(eng, "big.yml", s, big, t_on_diag, &dg), ==, -EFBIG);
    free(s);
    CHECK(strstr(dg.d[0].message, "more than the limit"));
    detect_engine_free(eng);
    /* one huge value */
    char msg[1024];
    int loaded;
    char *v = repeat("title: x\nlogsource: {product: t}\ndetection:\n    s:\n        f: '", "a",
                     200000, "'\n    condition: s\n");
    CHECK(v);
    int k = load_kind(v, strlen(v), &loaded, msg, sizeof(msg));
    free(v);
    CHECK_INT(k, ==, DETECT_DIAG_LIMIT);
    CHECK(strstr(msg, "longer than the limit"));
}

static void value_explosions(void)
{
    char msg[1024];
    int loaded;
    /* windash before an encoding: 5^k variants */
    const char *dashes = "title: x\nlogsource: {product: t}\ndetection:\n    s:\n"
                         "        f|windash|base64: '-a -b -c -d -e -f -g'\n    condition: s\n";
    int k = load_kind(dashes, strlen(dashes), &loaded, msg, sizeof(msg));
    CHECK_INT(k, ==, DETECT_DIAG_LIMIT);
    CHECK(strstr(msg, "variants"));
    /* too many values in one rule */
    struct detect_config cfg;
    struct t_diag dg;
    detect_config_default(&cfg);
    cfg.schema = DETECT_SCHEMA_FLAT;
    cfg.max_values = 100;
    memset(&dg, 0, sizeof(dg));
    char *s = repeat("title: x\nlogsource: {product: t}\ndetection:\n    s:\n        f:\n",
                     "            - v\n", 101, "    condition: s\n");
    CHECK(s);
    struct detect_engine *eng = t_engine_cfg(&cfg, s, &dg, NULL);
    free(s);
    CHECK(eng);
    CHECK_INT(detect_engine_rule_count(eng), ==, 0);
    CHECK(t_first_error(&dg) && strstr(t_first_error(&dg), "more than 100 values"));
    detect_engine_free(eng);
}

static void long_conditions(void)
{
    char msg[1024];
    int loaded;
    /* 5000 "or": a flat node, not a deep one */
    char *s = repeat("title: x\nlogsource: {product: t}\ndetection:\n    s:\n        f: a\n"
                     "    condition: s", " or s", 5000, "\n");
    CHECK(s);
    int k = load_kind(s, strlen(s), &loaded, msg, sizeof(msg));
    free(s);
    CHECK_MSG(k == -1 && loaded == 1, "kind %d: %s", k, msg);
    /* over 64 KiB */
    s = repeat("title: x\nlogsource: {product: t}\ndetection:\n    s:\n        f: a\n"
               "    condition: s", " or s", 20000, "\n");
    CHECK(s);
    k = load_kind(s, strlen(s), &loaded, msg, sizeof(msg));
    free(s);
    CHECK_INT(k, ==, DETECT_DIAG_CONDITION);
    CHECK(strstr(msg, "limit"));
}

static void pathological_regex(void)
{
    char err[256];
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(
        DETECT_SCHEMA_FLAT,
        "title: Backtracking\nlogsource: {product: t}\ndetection:\n    s:\n"
        "        f|re: '^(a+)+$'\n    condition: s\n", &dg, NULL);
    CHECK(eng);
    CHECK_INT(dg.errors, ==, 0);
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    CHECK(ev);
    size_t n = 40000;
    char *v = malloc(n + 2);
    CHECK(v);
    memset(v, 'a', n);
    v[n] = '!';
    v[n + 1] = '\0';
    detect_event_set(ev, "f", 1, v, n + 1);
    clock_t t0 = clock();
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 0);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    struct detect_event_stats es;
    detect_event_stats(ev, &es);
    CHECK_MSG(es.regex_limit_hits == 1, "limit hits %llu after %.2f s",
              (unsigned long long)es.regex_limit_hits, secs);
    free(v);
    detect_event_free(ev);
    detect_engine_free(eng);
    /* a regex PCRE2 refuses to compile: nested too deep */
    char msg[1024];
    int loaded;
    char *s = repeat("title: x\nlogsource: {product: t}\ndetection:\n    s:\n        f|re: '", "(",
                     200, "a");
    CHECK(s);
    char *s2 = repeat(s, ")", 200, "'\n    condition: s\n");
    free(s);
    CHECK(s2);
    int k = load_kind(s2, strlen(s2), &loaded, msg, sizeof(msg));
    free(s2);
    CHECK_INT(k, ==, DETECT_DIAG_REGEX);
    CHECK(strstr(msg, "does not compile"));
}

static void invalid_bytes(void)
{
    char msg[1024];
    int loaded;
    const char bad_utf8[] = "title: \xff\xfe x\nlogsource: {product: t}\n";
    CHECK_INT(load_kind(bad_utf8, sizeof(bad_utf8) - 1, &loaded, msg, sizeof(msg)), ==,
              DETECT_DIAG_YAML);
    const char nul[] = "title: a\0b\nlogsource: {product: t}\n";
    CHECK_INT(load_kind(nul, sizeof(nul) - 1, &loaded, msg, sizeof(msg)), ==, DETECT_DIAG_YAML);
    /* an empty text loads nothing, quietly */
    CHECK_INT(load_kind("", 0, &loaded, msg, sizeof(msg)), ==, -1);
    CHECK_INT(loaded, ==, 0);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void random_garbage(void)
{
    /* mutations of a valid rule file: every outcome must be an error or a
     * load, never a crash (the sanitizers watch) */
    static const char base[] =
        "title: Fuzz\nlogsource:\n    product: linux\n    category: process_creation\n"
        "detection:\n    sel:\n        Image|endswith: '/curl'\n"
        "        CommandLine|contains|all: [' -o ', 'http']\n"
        "    kw:\n        - 'bash -i'\n    filter:\n        User|re: '^(root|adm.*)$'\n"
        "    condition: (sel or 1 of kw*) and not filter\n"
        "---\ntitle: C\ncorrelation:\n    type: event_count\n    rules: [Fuzz]\n"
        "    group-by: [User]\n    timespan: 5m\n    condition: {gte: 2}\n";
    static const char alphabet[] = "|:-*?\\'\"[]{}()\n #&!%@,.0aZ";
    char buf[sizeof(base) + 64];
    char err[256];
    int loaded_total = 0;
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = sizeof(base) - 1;
        memcpy(buf, base, n);
        int edits = 1 + (int)(next_rand() % 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = next_rand() % n;
            switch (next_rand() % 3) {
            case 0:
                buf[pos] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
                break;
            case 1:
                memmove(buf + pos, buf + pos + 1, n - pos - 1);
                n--;
                break;
            default:
                if (n + 1 < sizeof(buf)) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
                    n++;
                }
                break;
            }
        }
        struct detect_engine *eng = detect_engine_new(NULL, err, sizeof(err));
        CHECK(eng);
        int rc = detect_engine_add(eng, "fuzz.yml", buf, n, NULL, NULL);
        CHECK(rc >= 0);
        loaded_total += rc;
        CHECK_INT(detect_engine_compile(eng, NULL, NULL, err, sizeof(err)), ==, 0);
        struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
        struct detect_stream *st = detect_stream_new(eng, err, sizeof(err));
        CHECK(ev && st);
        detect_event_set(ev, "EventType", 9, "process", 7);
        detect_event_set(ev, "ActionType", 10, "ProcessCreated", 14);
        detect_event_set(ev, "FolderPath", 10, "/usr/bin/curl", 13);
        detect_event_set(ev, "ProcessCommandLine", 18, "curl -o x http://y", 18);
        detect_event_set(ev, "AccountName", 11, "bob", 3);
        CHECK(detect_match(ev, st, NULL, NULL) >= 0);
        CHECK(detect_match(ev, st, NULL, NULL) >= 0);
        detect_stream_free(st);
        detect_event_free(ev);
        detect_engine_free(eng);
    }
    CHECK(loaded_total > 0);
}

static void hostile_events(void)
{
    char err[256];
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(
        DETECT_SCHEMA_FLAT,
        "title: Needle\nlogsource: {product: t}\ndetection:\n    s:\n"
        "        f|contains: 'needle*haystack?end'\n    kw: ['zzz*zzz']\n    condition: s or kw\n",
        &dg, NULL);
    CHECK(eng);
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    CHECK(ev);
    /* a 4 MiB value full of near misses */
    size_t n = 4u << 20;
    char *v = malloc(n);
    CHECK(v);
    for (size_t i = 0; i < n; i++)
        v[i] = "needlhaystackz"[i % 14];
    detect_event_set(ev, "f", 1, v, n);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 0);
    memcpy(v + n - 20, "needle_haystack!end", 19);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 1);
    /* too many values on one event */
    detect_event_clear(ev);
    int rc = 0;
    for (int i = 0; i < 70000 && rc == 0; i++)
        rc = detect_event_set(ev, "x", 1, "y", 1);
    CHECK_INT(rc, ==, -EINVAL);
    free(v);
    detect_event_free(ev);
    detect_engine_free(eng);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"deep_nesting", deep_nesting},
        {"alias_bomb", alias_bomb},
        {"oversized_input", oversized_input},
        {"value_explosions", value_explosions},
        {"long_conditions", long_conditions},
        {"pathological_regex", pathological_regex},
        {"invalid_bytes", invalid_bytes},
        {"random_garbage", random_garbage},
        {"hostile_events", hostile_events},
        {NULL, NULL},
    };
    return check_main("detect_hostile", cases, argc, argv);
}
