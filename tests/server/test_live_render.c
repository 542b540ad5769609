/*
 * test_live_render.c — a live command's output as a person reads it
 * (live_render, docs/live.md "Rendering"): tables aligned under their
 * header with the other members above, wide cells cut except in the last
 * column, "truncated" as a note, plain objects one member per line with
 * an analysis's verdict and reasons first, lists and nested objects
 * indented, control characters escaped so that a value cannot forge a
 * line, and -output json as indented JSON.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "server/live.h"

/* Renders the JSON text as (table form unless as_json); the caller frees. */
static char *render(const char *json, bool as_json)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    char *text = v ? live_render(v, as_json) : NULL;

    json_decref(v);
    return text;
}

#define CHECK_RENDER(json, as_json, want)                                                          \
    do {                                                                                           \
        char *got_ = render(json, as_json);                                                        \
        bool ok_ = got_ && strcmp(got_, want) == 0;                                                \
        if (!ok_) {                                                                                \
            check_fail_(__FILE__, __LINE__, "rendered:\n%s\nwanted:\n%s", got_ ? got_ : "(null)", want); \
            free(got_);                                                                            \
            return;                                                                                \
        }                                                                                          \
        free(got_);                                                                                \
    } while (0)

static void test_table(void)
{
    CHECK_RENDER("{\"path\":\"/tmp\",\"columns\":[\"name\",\"size\",\"owner\"],"
                 "\"rows\":[{\"name\":\"a\",\"size\":1,\"owner\":\"root\"},"
                 "{\"name\":\"longer name\",\"size\":123456,\"owner\":null}],\"truncated\":false}",
                 false,
                 "path: /tmp\n"
                 "\n"
                 "name         size    owner\n"
                 "-----------  ------  -----\n"
                 "a            1       root\n"
                 "longer name  123456  -\n");
    /* rows as arrays, in column order; no other members: no blank line */
    CHECK_RENDER("{\"columns\":[\"pid\",\"cmd\"],\"rows\":[[1,\"init\"],[42,\"sshd -D\"]]}", false,
                 "pid  cmd\n"
                 "---  -------\n"
                 "1    init\n"
                 "42   sshd -D\n");
    CHECK_RENDER("{\"columns\":[\"pid\"],\"rows\":[]}", false, "(no rows)\n");
    CHECK_RENDER("{\"columns\":[\"n\"],\"rows\":[{\"n\":1}],\"truncated\":true}", false,
                 "n\n-\n1\n(truncated: there was more than this)\n");
}

static void test_wide_cells(void)
{
    char json[600], want[800], cut[60];
    const char *long60 = "0123456789012345678901234567890123456789012345678901234567890";

    /* a cell wider than 48 characters is cut with an ellipsis, except in the last column */
    snprintf(json, sizeof(json), "{\"columns\":[\"a\",\"b\"],\"rows\":[{\"a\":\"%s\",\"b\":\"%s\"}]}", long60, long60);
    snprintf(cut, sizeof(cut), "%.47s\xe2\x80\xa6", long60);
    snprintf(want, sizeof(want), "a%47s  b\n%s  %s\n%s  %s\n", "", "------------------------------------------------",
             "------------------------------------------------", cut, long60);
    CHECK_RENDER(json, false, want);
    /* widths count characters, not bytes */
    CHECK_RENDER("{\"columns\":[\"name\",\"x\"],\"rows\":[{\"name\":\"\xc3\xa9t\xc3\xa9\",\"x\":1},{\"name\":\"ab\",\"x\":2}]}",
                 false,
                 "name  x\n"
                 "----  -\n"
                 "\xc3\xa9t\xc3\xa9   1\n"
                 "ab    2\n");
    /* nested values in a cell: compact JSON */
    CHECK_RENDER("{\"columns\":[\"unit\",\"deps\"],\"rows\":[{\"unit\":\"x.service\",\"deps\":[\"a\",\"b\"]}]}", false,
                 "unit       deps\n"
                 "---------  ---------\n"
                 "x.service  [\"a\",\"b\"]\n");
}

static void test_objects(void)
{
    /* verdict and reasons first, whatever the order they came in */
    CHECK_RENDER("{\"path\":\"/tmp/x\",\"sha256\":\"ab\",\"reasons\":[\"matches an alert indicator\",\"runs from /tmp\"],"
                 "\"verdict\":\"malicious\"}",
                 false,
                 "verdict: malicious\n"
                 "reasons:\n"
                 "  - matches an alert indicator\n"
                 "  - runs from /tmp\n"
                 "path: /tmp/x\n"
                 "sha256: ab\n");
    /* nested objects indented, lists of objects as small tables, empty ones said */
    CHECK_RENDER("{\"file\":{\"size\":3,\"owner\":\"root\"},\"alerts\":[{\"id\":7,\"title\":\"dropper\"}],\"events\":[]}",
                 false,
                 "file:\n"
                 "  size: 3\n"
                 "  owner: root\n"
                 "alerts:\n"
                 "  id  title\n"
                 "  --  -------\n"
                 "  7   dropper\n"
                 "events: (none)\n");
    /* text of several lines indented under its name */
    CHECK_RENDER("{\"stdout\":\"one\\ntwo\\n\",\"exit_code\":0}", false, "stdout:\n  one\n  two\nexit_code: 0\n");
    CHECK_RENDER("{}", false, "");
    CHECK_RENDER("true", false, "true\n");
}

static void test_escaping(void)
{
    /* a control character cannot move the cursor or forge a line */
    CHECK_RENDER("{\"name\":\"a\\u001b[2Jb\\tc\"}", false, "name: a\\x1b[2Jb\\tc\n");
    CHECK_RENDER("{\"columns\":[\"n\"],\"rows\":[{\"n\":\"x\\ny\"}]}", false, "n\n----\nx\\ny\n");
}

static void test_json(void)
{
    CHECK_RENDER("{\"b\":1,\"a\":[true]}", true, "{\n  \"b\": 1,\n  \"a\": [\n    true\n  ]\n}\n");
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"table", test_table},
        {"wide_cells", test_wide_cells},
        {"objects", test_objects},
        {"escaping", test_escaping},
        {"json", test_json},
        {NULL, NULL},
    };
    return check_main("server/live_render", cases, argc, argv);
}
