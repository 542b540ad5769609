/*
 * test_detect_condition.c — the condition expression: and, or, not,
 * parentheses and their precedence, "1 of", "all of", "x of" over
 * identifier patterns and "them", lists of conditions, and the errors
 * (unknown identifiers, patterns that match nothing, syntax, Sigma 1
 * aggregations) with their positions.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "detect/detect.h"

#include "detect_t.h"
/* Selections a..d each match field x equal to their own letter; an event
 * lists the letters present in fields a..d. */
static const char *const SELS =
    "    sel_a:\n        a: 'y'\n"
    "    sel_b:\n        b: 'y'\n"
    "    sel_c:\n        c: 'y'\n"
    "    filter_d:\n        d: 'y'\n"
    "    _helper:\n        e: 'y'\n";

/* Does `cond` hold for the event where the fields named in `set` are "y"? */
static int holds(const char *cond, const char *set, struct t_diag *dg)
{
    char det[2048], json[256];
    size_t k = 0;
    snprintf(det, sizeof(det), "%s    condition: %s", SELS, cond);
    k += (size_t)snprintf(json + k, sizeof(json) - k, "{\"z\":\"1\"");
    for (const char *p = set; *p; p++)
        k += (size_t)snprintf(json + k, sizeof(json) - k, ",\"%c\":\"y\"", *p);
    snprintf(json + k, sizeof(json) - k, "}");
    return t_rule_matches(det, json, dg);
}

#define HOLDS(cond, set, want)                                                        \
    do {                                                                              \
        struct t_diag dg_;                                                            \
        memset(&dg_, 0, sizeof(dg_));                                                 \
        int r_ = holds(cond, set, &dg_);                                              \
        CHECK_MSG(r_ == (want), "'%s' with {%s}: got %d, want %d (%s)", cond, set, r_, \
                  want, t_first_error(&dg_) ? t_first_error(&dg_) : "no error");      \
    } while (0)

#define COND_ERROR(cond, kind_, what, col_)                                           \
    do {                                                                              \
        struct t_diag dg_;                                                            \
        memset(&dg_, 0, sizeof(dg_));                                                 \
        int r_ = holds(cond, "", &dg_);                                               \
        int e_ = t_error_index(&dg_);                                                 \
        CHECK_MSG(r_ < 0 && e_ >= 0, "'%s' was not refused (rc %d)", cond, r_);       \
        CHECK_MSG(dg_.d[e_].kind == (kind_), "'%s' refused as %s: %s", cond,          \
                  detect_diag_kind_name(dg_.d[e_].kind), dg_.d[e_].message);          \
        CHECK_MSG(strstr(dg_.d[e_].message, what), "'%s': the error does not say '%s': %s", \
                  cond, what, dg_.d[e_].message);                                     \
        if ((col_) > 0)                                                               \
            CHECK_MSG(dg_.d[e_].col == (unsigned)(col_), "'%s': column %u, want %d: %s", \
                      cond, dg_.d[e_].col, (int)(col_), dg_.d[e_].message);           \
    } while (0)

static void and_or_not(void)
{
    HOLDS("sel_a and sel_b", "ab", 1);
    HOLDS("sel_a and sel_b", "a", 0);
    HOLDS("sel_a or sel_b", "b", 1);
    HOLDS("sel_a or sel_b", "c", 0);
    HOLDS("sel_a and not filter_d", "a", 1);
    HOLDS("sel_a and not filter_d", "ad", 0);
    HOLDS("not sel_a", "", 1);
    HOLDS("not not sel_a", "a", 1);
    /* keywords are case-insensitive */
    HOLDS("sel_a AND NOT filter_d", "a", 1);
}

static void precedence_and_parentheses(void)
{
    /* and binds tighter than or: a or (b and c) */
    HOLDS("sel_a or sel_b and sel_c", "a", 1);
    HOLDS("sel_a or sel_b and sel_c", "b", 0);
    HOLDS("(sel_a or sel_b) and sel_c", "a", 0);
    HOLDS("(sel_a or sel_b) and sel_c", "bc", 1);
    /* not binds tighter than and */
    HOLDS("not sel_a and sel_b", "b", 1);
    HOLDS("not sel_a and sel_b", "ab", 0);
    HOLDS("not (sel_a and sel_b)", "a", 1);
    HOLDS("((sel_a))", "a", 1);
    /* x of binds tighter than not */
    HOLDS("not 1 of sel_*", "d", 1);
    HOLDS("not 1 of sel_*", "c", 0);
}

static void of_patterns(void)
{
    HOLDS("1 of sel_*", "b", 1);
    HOLDS("1 of sel_*", "d", 0);
    HOLDS("all of sel_*", "abc", 1);
    HOLDS("all of sel_*", "ab", 0);
    HOLDS("any of sel_*", "c", 1);
    HOLDS("2 of sel_*", "ac", 1);
    HOLDS("2 of sel_*", "c", 0);
    HOLDS("3 of sel_*", "abc", 1);
    /* * anywhere in the pattern */
    HOLDS("1 of *_d", "d", 1);
    HOLDS("1 of s*l_b", "b", 1);
    /* them: every identifier not starting with an underscore */
    HOLDS("1 of them", "e", 0);
    HOLDS("1 of them", "d", 1);
    HOLDS("all of them", "abcd", 1);
    HOLDS("all of them", "abc", 0);
    HOLDS("1 of sel_* and not 1 of filter_*", "a", 1);
    HOLDS("1 of sel_* and not 1 of filter_*", "ad", 0);
    /* identifiers starting with _ can be named directly */
    HOLDS("_helper", "e", 1);
}

static void condition_lists(void)
{
    /* a list of conditions: any of them */
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    const char *det = "    a1:\n        a: 'y'\n    b1:\n        b: 'y'\n"
                      "    condition:\n        - a1\n        - b1";
    CHECK_INT(t_rule_matches(det, "{\"b\":\"y\"}", &dg), ==, 1);
    CHECK_INT(t_rule_matches(det, "{\"a\":\"y\"}", &dg), ==, 1);
    CHECK_INT(t_rule_matches(det, "{\"c\":\"y\"}", &dg), ==, 0);
    /* a condition over several lines (YAML folding) */
    const char *multi = "    a1:\n        a: 'y'\n    b1:\n        b: 'y'\n"
                        "    condition:\n        a1 and\n        (\n            b1\n        )";
    CHECK_INT(t_rule_matches(multi, "{\"a\":\"y\",\"b\":\"y\"}", &dg), ==, 1);
    CHECK_INT(t_rule_matches(multi, "{\"a\":\"y\"}", &dg), ==, 0);
    CHECK_INT(dg.errors, ==, 0);
}

static void errors(void)
{
    /* the column points into the condition: "    condition: " is 16 wide */
    COND_ERROR("sel_a and sel_x", DETECT_DIAG_CONDITION, "'sel_x'", 0);
    COND_ERROR("1 of nothing_*", DETECT_DIAG_CONDITION, "matches no search identifier", 0);
    /* only * is a wildcard in identifier patterns */
    COND_ERROR("all of s*_?", DETECT_DIAG_CONDITION, "matches no search identifier", 0);
    COND_ERROR("4 of sel_*", DETECT_DIAG_CONDITION, "needs 4", 0);
    COND_ERROR("sel_a and", DETECT_DIAG_CONDITION, "expected a search identifier", 0);
    COND_ERROR("sel_a sel_b", DETECT_DIAG_CONDITION, "expected 'and', 'or'", 22);
    COND_ERROR("(sel_a or sel_b", DETECT_DIAG_CONDITION, "expected ')'", 0);
    COND_ERROR("sel_a)", DETECT_DIAG_CONDITION, "found ')'", 21);
    COND_ERROR("all sel_a", DETECT_DIAG_CONDITION, "expected 'of'", 0);
    COND_ERROR("0 of sel_*", DETECT_DIAG_CONDITION, "never be true", 0);
    COND_ERROR("1 of and", DETECT_DIAG_CONDITION, "after 'of'", 0);
    COND_ERROR("sel_a | count() by x > 5", DETECT_DIAG_UNSUPPORTED, "correlation rule", 22);
    COND_ERROR("sel_a near sel_b", DETECT_DIAG_UNSUPPORTED, "near", 0);
    /* too deep */
    char deep[2048];
    size_t k = 0;
    for (int i = 0; i < 100; i++)
        deep[k++] = '(';
    k += (size_t)snprintf(deep + k, sizeof(deep) - k, "sel_a");
    for (int i = 0; i < 100; i++)
        deep[k++] = ')';
    deep[k] = '\0';
    COND_ERROR(deep, DETECT_DIAG_CONDITION, "nested deeper", 0);
    /* the rule must have a condition */
    struct t_diag dg;
    memset(&dg, 0, sizeof(dg));
    CHECK_INT(t_rule_matches("    sel:\n        a: 1", "{}", &dg), <, 0);
    CHECK(t_first_error(&dg) && strstr(t_first_error(&dg), "no 'condition'"));
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"and_or_not", and_or_not},
        {"precedence_and_parentheses", precedence_and_parentheses},
        {"of_patterns", of_patterns},
        {"condition_lists", condition_lists},
        {"errors", errors},
        {NULL, NULL},
    };
    return check_main("detect_condition", cases, argc, argv);
}
