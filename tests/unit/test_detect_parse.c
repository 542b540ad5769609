/*
 * test_detect_parse.c — rule files: YAML errors with their positions,
 * several documents per file where a bad one costs only itself, Sigma 1
 * collections (action: global / reset / repeat), the structure errors a
 * rule can have, rule metadata, and the engine's life cycle.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "detect/detect.h"

#include "detect_t.h"

#define GOOD(name, value)                                                             \
    "title: " name "\nlogsource:\n    product: test\ndetection:\n    sel:\n        f: " \
    value "\n    condition: sel\n"

static void yaml_error_costs_one_document(void)
{
    struct t_diag dg;
    struct t_hits h;
    int loaded = 0;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    const char *text = GOOD("One", "a")
        "---\n"
        "title: Broken\n"
        "detection: [unclosed\n"
        "---\n" GOOD("Three", "c");
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, text, &dg, &loaded);
    CHECK(eng);
    CHECK_INT(loaded, ==, 2);
    CHECK_INT(dg.errors, ==, 1);
    int e = t_error_index(&dg);
    CHECK_INT(dg.d[e].kind, ==, DETECT_DIAG_YAML);
    /* the error is in the second document: line 10 of the file or after */
    CHECK_MSG(dg.d[e].line >= 10 && dg.d[e].line <= 12, "line %u: %s", dg.d[e].line,
              dg.d[e].message);
    CHECK(strstr(dg.d[e].message, "test.yml:"));
    CHECK_INT(t_match(eng, NULL, "{\"f\":\"c\"}", &h), ==, 1);
    CHECK_STR(h.title[0], "Three");
    detect_engine_free(eng);
}

static void bad_rule_does_not_stop_others(void)
{
    struct t_diag dg;
    int loaded = 0;
    memset(&dg, 0, sizeof(dg));
    const char *text = GOOD("One", "a")
        "---\n"
        "title: Bad modifier\n"
        "logsource:\n"
        "    product: test\n"
        "detection:\n"
        "    sel:\n"
        "        f|startwith: x\n"
        "    condition: sel\n"
        "---\n" GOOD("Three", "c");
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, text, &dg, &loaded);
    CHECK(eng);
    CHECK_INT(loaded, ==, 2);
    int e = t_error_index(&dg);
    CHECK(e >= 0);
    CHECK_INT(dg.d[e].kind, ==, DETECT_DIAG_MODIFIER);
    CHECK_STR(dg.d[e].feature, "modifier 'startwith'");
    /* the key's position in the file: line 14, column 9 */
    CHECK_INT(dg.d[e].line, ==, 14);
    CHECK_INT(dg.d[e].col, ==, 9);
    CHECK(strstr(dg.d[e].message, "test.yml:14:9: error: rule 'Bad modifier': unknown modifier"));
    detect_engine_free(eng);
}

/* Loads `text`; returns the first error's kind and copies its message. */
static int first_error(const char *text, char *msg, size_t n, unsigned *line)
{
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, text, &dg, NULL);
    detect_engine_free(eng);
    int e = t_error_index(&dg);
    if (e < 0)
        return -1;
    snprintf(msg, n, "%s", dg.d[e].message);
    if (line)
        *line = dg.d[e].line;
    return (int)dg.d[e].kind;
}

#define STRUCT_ERROR(text, kind_, what)                                               \
    do {                                                                              \
        char m_[1024];                                                                \
        int k_ = first_error(text, m_, sizeof(m_), NULL);                             \
        CHECK_MSG(k_ == (int)(kind_), "kind %d for %s (%s)", k_, #text, k_ >= 0 ? m_ : ""); \
        CHECK_MSG(strstr(m_, what), "'%s' not in: %s", what, m_);                     \
    } while (0)

static void structure_errors(void)
{
    STRUCT_ERROR("- just\n- a list\n", DETECT_DIAG_STRUCTURE, "must be a mapping");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\n", DETECT_DIAG_STRUCTURE,
                 "neither 'detection' nor 'correlation'");
    STRUCT_ERROR("title: x\ndetection:\n    s: {a: 1}\n    condition: s\n", DETECT_DIAG_STRUCTURE,
                 "no 'logsource'");
    STRUCT_ERROR("title: x\nlogsource: linux\ndetection:\n    s: {a: 1}\n    condition: s\n",
                 DETECT_DIAG_STRUCTURE, "'logsource' must be a mapping");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\ndetection: [a]\n", DETECT_DIAG_STRUCTURE,
                 "'detection' must be a mapping");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\ndetection:\n    s:\n    condition: s\n",
                 DETECT_DIAG_STRUCTURE, "is empty");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\ndetection:\n    s: {}\n    condition: s\n",
                 DETECT_DIAG_STRUCTURE, "empty mapping");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\ndetection:\n    s:\n        a: 1\n        a: 2\n"
                 "    condition: s\n", DETECT_DIAG_STRUCTURE, "appears twice");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\ndetection:\n    s|contains:\n        a: 1\n"
                 "    condition: s\n", DETECT_DIAG_STRUCTURE, "carries a modifier");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\ndetection:\n    condition: s\n",
                 DETECT_DIAG_STRUCTURE, "no search identifier");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\ndetection:\n    s: {a: 1}\n    condition: s\n"
                 "correlation:\n    type: event_count\n", DETECT_DIAG_STRUCTURE, "not both");
    STRUCT_ERROR("title: f\nlogsource: {product: a}\nfilter:\n    rules: [x]\n    sel: {a: 1}\n"
                 "    condition: not sel\n", DETECT_DIAG_UNSUPPORTED, "Sigma filter");
    STRUCT_ERROR("title: [a, b]\nlogsource: {product: a}\ndetection:\n    s: {a: 1}\n"
                 "    condition: s\n", DETECT_DIAG_STRUCTURE, "'title' must be a plain value");
    STRUCT_ERROR("? [a, b]\n: c\n", DETECT_DIAG_YAML, "mapping key");
    STRUCT_ERROR("title: x\nlogsource: {product: a}\ndetection:\n    s: {a: *nope}\n"
                 "    condition: s\n", DETECT_DIAG_YAML, "");
}

static void warnings_do_not_refuse(void)
{
    struct t_diag dg;
    int loaded = 0;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(
        DETECT_SCHEMA_FLAT,
        "logsource: {product: a}\nflavour: vanilla\ndetection:\n    s: {a: 1}\n    condition: s\n",
        &dg, &loaded);
    CHECK(eng);
    CHECK_INT(loaded, ==, 1);
    CHECK_INT(dg.errors, ==, 0);
    CHECK_INT(dg.warnings, ==, 2);   /* no title; unknown attribute */
    CHECK_STR(detect_engine_rule(eng, 0)->title, "(untitled)");
    detect_engine_free(eng);
}

static void rule_metadata(void)
{
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    const char *text =
        "\n"
        "title: Meta\n"
        "id: 0e95725d-7320-415d-80f7-004da920fc11\n"
        "name: meta_rule\n"
        "status: Test\n"
        "level: HIGH\n"
        "author: someone\n"
        "description: what it does\n"
        "tags:\n    - attack.t1059\n    - attack.execution\n"
        "logsource:\n    product: Linux\n    category: Process_Creation\n"
        "detection:\n    s: {a: 1}\n    condition: s\n";
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, text, &dg, NULL);
    CHECK(eng);
    CHECK_INT(detect_engine_rule_count(eng), ==, 1);
    const struct detect_rule_info *r = detect_engine_rule(eng, 0);
    CHECK(r);
    CHECK(!detect_engine_rule(eng, 1));
    CHECK_STR(r->title, "Meta");
    CHECK_STR(r->id, "0e95725d-7320-415d-80f7-004da920fc11");
    CHECK_STR(r->name, "meta_rule");
    CHECK_STR(r->level, "high");
    CHECK_STR(r->status, "test");
    CHECK_STR(r->author, "someone");
    CHECK_STR(r->product, "linux");
    CHECK_STR(r->category, "process_creation");
    CHECK(r->service == NULL);
    CHECK_INT(r->n_tags, ==, 2);
    CHECK_STR(r->tags[1], "attack.execution");
    CHECK_STR(r->origin, "test.yml");
    CHECK_INT(r->line, ==, 2);   /* the document's first line */
    CHECK(!r->correlation);
    CHECK(r->active);
    detect_engine_free(eng);
}

static void collections_global_reset_repeat(void)
{
    struct t_diag dg;
    struct t_hits h;
    int loaded = 0;
    memset(&dg, 0, sizeof(dg));
    const char *text =
        "action: global\n"
        "title: Collection\n"
        "logsource:\n    product: test\n"
        "detection:\n    filter:\n        user: root\n    condition: sel and not filter\n"
        "---\n"
        "title: Collection curl\n"
        "detection:\n    sel:\n        img: curl\n"
        "---\n"
        "action: repeat\n"
        "title: Collection wget\n"
        "detection:\n    sel:\n        img: wget\n"
        "---\n"
        "action: reset\n"
        "---\n"
        "title: Alone\n"
        "logsource:\n    product: test\n"
        "detection:\n    sel:\n        img: nc\n    condition: sel\n";
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, text, &dg, &loaded);
    CHECK(eng);
    CHECK_MSG(loaded == 3, "loaded %d: %s", loaded, t_first_error(&dg) ? t_first_error(&dg) : "");
    memset(&h, 0, sizeof(h));
    CHECK_INT(t_match(eng, NULL, "{\"img\":\"curl\",\"user\":\"bob\"}", &h), ==, 1);
    CHECK_STR(h.title[0], "Collection curl");
    CHECK_INT(t_match(eng, NULL, "{\"img\":\"curl\",\"user\":\"root\"}", &h), ==, 0);
    CHECK_INT(t_match(eng, NULL, "{\"img\":\"wget\",\"user\":\"bob\"}", &h), ==, 1);
    CHECK_STR(h.title[1], "Collection wget");
    /* after reset the global part no longer applies */
    CHECK_INT(t_match(eng, NULL, "{\"img\":\"nc\",\"user\":\"root\"}", &h), ==, 1);
    CHECK_STR(h.title[2], "Alone");
    detect_engine_free(eng);
    char m[1024];
    CHECK_INT(first_error("action: explode\ntitle: x\n", m, sizeof(m), NULL), ==,
              DETECT_DIAG_STRUCTURE);
    CHECK(strstr(m, "unknown 'action'"));
}

static void empty_documents_and_anchors(void)
{
    struct t_diag dg;
    struct t_hits h;
    int loaded = 0;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    const char *text =
        "---\n"
        "# only a comment\n"
        "---\n"
        "title: Anchored\n"
        "logsource: {product: test}\n"
        "detection:\n"
        "    sel: &s\n        f: a\n"
        "    again: *s\n"
        "    condition: sel and again\n"
        "---\n"
        "...\n";
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, text, &dg, &loaded);
    CHECK(eng);
    CHECK_MSG(loaded == 1 && dg.errors == 0, "loaded %d, %s", loaded,
              t_first_error(&dg) ? t_first_error(&dg) : "");
    CHECK_INT(t_match(eng, NULL, "{\"f\":\"A\"}", &h), ==, 1);
    detect_engine_free(eng);
}

static void engine_life_cycle(void)
{
    char err[256];
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_config cfg;
    detect_config_default(&cfg);
    cfg.max_file_bytes = 64;
    struct detect_engine *eng = detect_engine_new(&cfg, err, sizeof(err));
    CHECK(eng);
    const char *big = GOOD("Big", "a");
    CHECK_INT(detect_engine_add(eng, "big.yml", big, strlen(big), t_on_diag, &dg), ==, -EFBIG);
    CHECK_INT(dg.errors, ==, 1);
    CHECK_INT(dg.d[0].kind, ==, DETECT_DIAG_LIMIT);
    /* events and streams need a compiled engine */
    CHECK(detect_event_new(eng, err, sizeof(err)) == NULL);
    CHECK(detect_stream_new(eng, err, sizeof(err)) == NULL);
    CHECK_INT(detect_engine_compile(eng, NULL, NULL, err, sizeof(err)), ==, 0);
    CHECK_INT(detect_engine_compile(eng, NULL, NULL, err, sizeof(err)), ==, -EBUSY);
    CHECK_INT(detect_engine_add(eng, "x.yml", "a: 1", 4, NULL, NULL), ==, -EBUSY);
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    CHECK(ev);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 0);
    detect_event_free(ev);
    detect_engine_free(eng);
    /* every free accepts NULL */
    detect_engine_free(NULL);
    detect_event_free(NULL);
    detect_stream_free(NULL);
    /* a bad configuration */
    cfg.schema = (enum detect_schema)7;
    CHECK(detect_engine_new(&cfg, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "schema"));
}

static void json_events(void)
{
    char err[256];
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, GOOD("J", "a"), &dg, NULL);
    CHECK(eng);
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    CHECK(ev);
    CHECK_INT(detect_event_set_json(ev, "{\"f\":", 5, err, sizeof(err)), ==, -EINVAL);
    CHECK(strstr(err, "invalid JSON"));
    CHECK_INT(detect_event_set_json(ev, "[1,2]", 5, err, sizeof(err)), ==, -EINVAL);
    CHECK(strstr(err, "not an object"));
    CHECK_INT(detect_event_set_json(ev, "{\"f\":\"a\"}", 9, err, sizeof(err)), ==, 0);
    CHECK_INT(detect_event_set_json(ev, "{\"f\":\"a\"}", 9, err, sizeof(err)), ==, -EBUSY);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 1);
    detect_event_clear(ev);
    const char *nested = "{\"x\":{\"f\":\"a\"},\"l\":[\"a\",\"b\"],\"n\":null}";
    CHECK_INT(detect_event_set_json(ev, nested, strlen(nested), err, sizeof(err)), ==, 0);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 0);   /* "x.f", not "f" */
    detect_event_free(ev);
    detect_engine_free(eng);
    memset(&dg, 0, sizeof(dg));
    eng = t_engine(DETECT_SCHEMA_FLAT,
                   "title: N\nlogsource: {product: t}\ndetection:\n    s:\n        x.f: a\n"
                   "        l.1: b\n        l|contains: '\"a\",'\n        n: null\n"
                   "    condition: s\n", &dg, NULL);
    CHECK(eng);
    ev = detect_event_new(eng, err, sizeof(err));
    CHECK(ev);
    CHECK_INT(detect_event_set_json(ev, nested, strlen(nested), err, sizeof(err)), ==, 0);
    CHECK_INT(detect_match(ev, NULL, NULL, NULL), ==, 1);
    detect_event_free(ev);
    detect_engine_free(eng);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"yaml_error_costs_one_document", yaml_error_costs_one_document},
        {"bad_rule_does_not_stop_others", bad_rule_does_not_stop_others},
        {"structure_errors", structure_errors},
        {"warnings_do_not_refuse", warnings_do_not_refuse},
        {"rule_metadata", rule_metadata},
        {"collections_global_reset_repeat", collections_global_reset_repeat},
        {"empty_documents_and_anchors", empty_documents_and_anchors},
        {"engine_life_cycle", engine_life_cycle},
        {"json_events", json_events},
        {NULL, NULL},
    };
    return check_main("detect_parse", cases, argc, argv);
}
