/*
 * test_tlv.c — the event encoding: round trips through the schema, unknown
 * fields skipped, and malformed or random bytes refused without reading
 * past their end.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/jsonw.h"
#include "common/schema.h"
#include "common/tlv.h"

static void round_trip(void)
{
    struct tlv_buf b;
    struct jsonw w;
    json_t *v;
    json_error_t e;

    tlv_init(&b);
    jsonw_init(&w);
    tlv_put_time(&b, F_TIMESTAMP, 1764151920123456789ull);
    tlv_put_cstr_opt(&b, F_ACTION_TYPE, "ProcessCreated");
    tlv_put_uint(&b, F_PROCESS_ID, 4242);
    tlv_put_int(&b, F_PROCESS_EXIT_CODE, -3);
    tlv_put_bool(&b, F_PROCESS_IMAGE_MEMFD);
    tlv_put_str(&b, F_PROCESS_COMMAND_LINE, "a\0b", 3);
    tlv_put_uint(&b, 999, 7);                      /* a field from a newer schema */
    tlv_put_str(&b, F_LOST_EVENTS, "{\"exec\":2}", 10);
    CHECK(!b.failed);
    CHECK_INT(tlv_to_json(b.data, b.len, &w, true), ==, 0);
    v = json_loadb(w.buf, w.len, 0, &e);
    CHECK_MSG(v, "not JSON: %.*s", (int)w.len, w.buf);
    CHECK_STR(json_string_value(json_object_get(v, "Timestamp")), "2025-11-26T10:12:00.123456789Z");
    CHECK_STR(json_string_value(json_object_get(v, "ActionType")), "ProcessCreated");
    CHECK_INT(json_integer_value(json_object_get(v, "ProcessId")), ==, 4242);
    CHECK_INT(json_integer_value(json_object_get(v, "ProcessExitCode")), ==, -3);
    CHECK(json_is_true(json_object_get(v, "ProcessImageMemfd")));
    CHECK_STR(json_string_value(json_object_get(v, "ProcessCommandLine")), "a\\x00b"); /* NUL as text */
    CHECK_INT(json_integer_value(json_object_get(json_object_get(v, "LostEvents"), "exec")), ==, 2);
    CHECK_INT(json_object_size(v), ==, 7); /* the unknown field is left out */
    json_decref(v);
    /* untrusted: embedded JSON becomes a string */
    jsonw_reset(&w);
    CHECK_INT(tlv_to_json(b.data, b.len, &w, false), ==, 0);
    v = json_loadb(w.buf, w.len, 0, &e);
    CHECK(v && json_is_string(json_object_get(v, "LostEvents")));
    json_decref(v);
    {
        struct tlv_field f;
        CHECK_INT(tlv_find(b.data, b.len, F_PROCESS_ID, &f), ==, 1);
        CHECK_INT(f.u, ==, 4242);
        CHECK_INT(tlv_find(b.data, b.len, F_SHA256, &f), ==, 0);
    }
    tlv_free(&b);
    jsonw_free(&w);
}

static void malformed(void)
{
    static const struct {
        const char *bytes;
        size_t n;
    } bad[] = {
        {"\x08", 1},                          /* key without value */
        {"\x08\x80", 2},                      /* truncated varint */
        {"\x0a\x05" "abc", 5},                /* string longer than the rest */
        {"\x0b\x00", 2},                      /* wire type 3 */
        {"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11}, /* varint over 64 bits */
        {"\x0a\xff\xff\xff\xff\x0f", 6},      /* huge length */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jsonw w;
        jsonw_init(&w);
        CHECK_MSG(tlv_to_json(bad[i].bytes, bad[i].n, &w, false) == -EBADMSG, "case %zu accepted", i);
        CHECK_MSG(w.len == 0, "case %zu wrote output", i);
        jsonw_free(&w);
    }
}

/* Random bytes: every outcome is either a valid rendering or -EBADMSG. */
static void random_bytes(void)
{
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        uint8_t buf[64];
        size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf));
        struct jsonw w;
        int e;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand_r(&seed);
        jsonw_init(&w);
        e = tlv_to_json(buf, n, &w, false);
        if (e == 0) {
            json_error_t je;
            json_t *v = json_loadb(w.buf, w.len, 0, &je);
            CHECK_MSG(v, "round %d: rendered invalid JSON", round);
            json_decref(v);
        } else {
            CHECK_INT(e, ==, -EBADMSG);
        }
        jsonw_free(&w);
    }
}

static void schema_table(void)
{
    unsigned seen[F_MAX_ID] = {0};
    for (const struct schema_field_info *f = schema_fields; f->id; f++) {
        CHECK_MSG(f->id < F_MAX_ID, "%s: id %u too large", f->name, f->id);
        CHECK_MSG(!seen[f->id]++, "id %u used twice", f->id);
        CHECK(schema_field(f->id) == f);
        CHECK(schema_field_by_name(f->name, strlen(f->name)) == f);
    }
    CHECK_INT(schema_table_of_event_type("file", 4), ==, SCHEMA_T_FILE);
    CHECK_STR(schema_table_name(SCHEMA_T_LOGON), "DeviceLogonEvents");
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"round_trip", round_trip},
        {"malformed", malformed},
        {"random_bytes", random_bytes},
        {"schema_table", schema_table},
        {NULL, NULL},
    };
    return check_main("tlv", cases, argc, argv);
}
