/*
 * test_common.c — the JSON writer, path classification and normalisation,
 * and the process table's bounds.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pathclass.h"
#include "agent/proctable.h"
#include "check.h"
#include "common/jsonw.h"
#include "sensor_abi.h"

/* Whatever bytes go in, the output parses as JSON and valid UTF-8 survives. */
static void jsonw_escaping(void)
{
    struct jsonw w;
    json_t *v;
    json_error_t e;
    const char weird[] = "a\"b\\c\n\t\x01 caf\xc3\xa9 \xff\xfe \xe2\x82 \xf0\x9f\x98\x80 end";

    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_kv_str(&w, "k", weird);
    jsonw_kv_int(&w, "neg", -42);
    jsonw_kv_uint(&w, "big", 9007199254740993ull);
    jsonw_kv_bool(&w, "t", true);
    jsonw_key(&w, "arr");
    jsonw_array_begin(&w);
    jsonw_str(&w, "x");
    jsonw_int(&w, 0);
    jsonw_array_end(&w);
    jsonw_members(&w, "\"m\":1,\"n\":2", 11);
    jsonw_kv_time(&w, "ts", 1764151920123456789ull);
    jsonw_object_end(&w);
    v = json_loadb(w.buf, w.len, 0, &e);
    CHECK_MSG(v, "not JSON: %.*s (%s)", (int)w.len, w.buf, e.text);
    CHECK_STR(json_string_value(json_object_get(v, "k")),
              "a\"b\\c\n\t\x01 caf\xc3\xa9 \\xff\\xfe \\xe2\\x82 \xf0\x9f\x98\x80 end");
    CHECK_INT(json_integer_value(json_object_get(v, "neg")), ==, -42);
    CHECK_INT(json_array_size(json_object_get(v, "arr")), ==, 2);
    CHECK_INT(json_integer_value(json_object_get(v, "n")), ==, 2);
    CHECK_STR(json_string_value(json_object_get(v, "ts")), "2025-11-26T10:12:00.123456789Z");
    json_decref(v);
    jsonw_free(&w);
}

static void jsonw_lines(void)
{
    struct jsonw w;
    jsonw_init(&w);
    for (int i = 0; i < 3; i++) {
        jsonw_object_begin(&w);
        jsonw_kv_int(&w, "i", i);
        jsonw_object_end(&w);
        jsonw_end_line(&w);
    }
    CHECK_INT(w.len, ==, strlen("{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n"));
    CHECK(memcmp(w.buf, "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n", w.len) == 0);
    jsonw_free(&w);
}

static void pathclass_tags(void)
{
    static const struct {
        const char *path;
        const char *tag;
        uint32_t bit;
    } cases[] = {
        {"/etc/cron.d/awsd", "persistence:cron", YS_CLASS_PERSIST},
        {"/etc/crontab", "persistence:cron", YS_CLASS_PERSIST},
        {"/var/spool/cron/crontabs/root", "persistence:cron", YS_CLASS_PERSIST},
        {"/etc/systemd/system/awsd.service", "persistence:systemd", YS_CLASS_PERSIST},
        {"/usr/lib/systemd/system/x.service", "persistence:systemd", YS_CLASS_PERSIST},
        {"/etc/rc.local", "persistence:rc", YS_CLASS_PERSIST},
        {"/etc/profile.d/x.sh", "persistence:shell", YS_CLASS_PERSIST},
        {"/root/.ssh/authorized_keys", "persistence:ssh-key", YS_CLASS_PERSIST},
        {"/home/ann/.bashrc", "persistence:shell-rc", YS_CLASS_PERSIST},
        {"/etc/ld.so.preload", "security:ld-preload", YS_CLASS_SECCONF},
        {"/etc/sudoers.d/x", "security:sudoers", YS_CLASS_SECCONF},
        {"/etc/pam.d/sshd", "security:pam", YS_CLASS_SECCONF},
        {"/etc/yamori/agent.conf", "agent:config", YS_CLASS_AGENT},
        {"/tmp/x", "temp", YS_CLASS_TEMP},
        {"/var/log/auth.log", "log", YS_CLASS_LOG},
        {"/usr/lib/runtime", NULL, YS_CLASS_SYSBIN},
        {"/var/lib/dpkg/status", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pathclass_result r = pathclass_lookup(cases[i].path);
        CHECK_MSG((r.tag == NULL) == (cases[i].tag == NULL) && (!r.tag || strcmp(r.tag, cases[i].tag) == 0),
                  "%s: tag %s, expected %s", cases[i].path, r.tag ? r.tag : "none",
                  cases[i].tag ? cases[i].tag : "none");
        CHECK_MSG((r.bits & cases[i].bit) == cases[i].bit, "%s: bits %#x lack %#x", cases[i].path, r.bits,
                  cases[i].bit);
    }
    /* every table prefix fits the kernel's trie key */
    for (const struct pathclass_entry *e = pathclass_table; e->prefix; e++)
        CHECK_MSG(strlen(e->prefix) < YS_LPM_DATA_MAX, "prefix too long for the trie: %s", e->prefix);
}

static void normalize(void)
{
    static const char *const cases[][2] = {
        {"/tmp/../etc/./cron.d//x", "/etc/cron.d/x"},
        {"/../../x", "/x"},
        {"/a/b/..", "/a"},
        {"/", "/"},
        {"/a/./", "/a"},
        {"//", "/"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", cases[i][0]);
        pathclass_normalize(buf);
        CHECK_MSG(strcmp(buf, cases[i][1]) == 0, "%s -> %s, expected %s", cases[i][0], buf, cases[i][1]);
    }
}

/* The table stays within its bounds: exited entries beyond max_exited go
 * first, and a full table of live entries evicts (and counts) the oldest. */
static void proctable_bounds(void)
{
    struct proctable *pt = proctable_new("00000000", 100, 10);
    struct proctable_stats st;

    CHECK(pt);
    for (uint32_t i = 1; i <= 50; i++) {
        struct proc_entry *e = proctable_add(pt, i, i, NULL);
        CHECK(e);
        proctable_mark_exited(pt, e, i);
    }
    proctable_get_stats(pt, &st);
    CHECK_INT(st.entries, ==, 10);
    CHECK(proctable_get(pt, 50, 50) != NULL);
    CHECK(proctable_get(pt, 1, 1) == NULL);
    CHECK_INT(proctable_expire(pt, 45, 0), ==, 5); /* exited at 41..45 */
    for (uint32_t i = 1000; i < 1200; i++)
        CHECK(proctable_add(pt, i, 1, NULL));
    proctable_get_stats(pt, &st);
    CHECK_INT(st.entries, ==, 100);
    CHECK_INT(st.evicted_live, ==, 100); /* 5 exited went first */
    /* the pid index follows the newest process of a pid */
    CHECK(proctable_add(pt, 1199, 9, NULL));
    CHECK_INT(proctable_by_pid(pt, 1199)->key.start_ticks, ==, 9);
    proctable_free(pt);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"jsonw_escaping", jsonw_escaping},
        {"jsonw_lines", jsonw_lines},
        {"pathclass_tags", pathclass_tags},
        {"normalize", normalize},
        {"proctable_bounds", proctable_bounds},
        {NULL, NULL},
    };
    return check_main("common", cases, argc, argv);
}
