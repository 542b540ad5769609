/*
 * tlvjson.c — JSON events to TLV records for tests (tlvjson.h).
 */
#include "tlvjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/schema.h"

uint64_t tlvjson_time(const char *s)
{
    struct tm tm;
    const char *p;
    uint64_t ns = 0, scale = 100000000;

    memset(&tm, 0, sizeof(tm));
    if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
        return 0;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) {
            ns += (uint64_t)(*p - '0') * scale;
            scale /= 10;
        }
    if (*p != 'Z')
        return 0;
    return (uint64_t)timegm(&tm) * 1000000000ull + ns;
}

int tlvjson_record(json_t *obj, uint64_t seq, struct tlv_buf *out, uint64_t *ts_ns, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    int table = -1;

    *ts_ns = 0;
    tlv_put_uint(out, F_SEQ, seq);
    json_object_foreach(obj, key, v) {
        const struct schema_field_info *f = schema_field_by_name(key, strlen(key));
        if (!f) {
            snprintf(err, errlen, "unknown field %s", key);
            return -1;
        }
        if (f->id == F_SEQ || json_is_null(v))
            continue;
        switch (f->type) {
        case SCHEMA_STR:
        case SCHEMA_JSON:
            if (json_is_string(v)) {
                tlv_put_str(out, f->id, json_string_value(v), json_string_length(v));
            } else {
                char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                tlv_put_str(out, f->id, t ? t : "", t ? strlen(t) : 0);
                free(t);
            }
            if (f->id == F_EVENT_TYPE)
                table = (int)schema_table_of_event_type(json_string_value(v), json_string_length(v));
            break;
        case SCHEMA_UINT:
            tlv_put_uint(out, f->id, (uint64_t)json_integer_value(v));
            break;
        case SCHEMA_INT:
            tlv_put_int(out, f->id, json_integer_value(v));
            break;
        case SCHEMA_BOOL:
            if (json_is_true(v))
                tlv_put_bool(out, f->id);
            break;
        case SCHEMA_TIME: {
            uint64_t t = tlvjson_time(json_string_value(v));
            if (!t) {
                snprintf(err, errlen, "%s: not an RFC 3339 time", key);
                return -1;
            }
            tlv_put_time(out, f->id, t);
            if (f->id == F_TIMESTAMP)
                *ts_ns = t;
            break;
        }
        }
    }
    if (table <= 0 || !*ts_ns) {
        snprintf(err, errlen, "the event needs EventType and Timestamp");
        return -1;
    }
    return out->failed ? -1 : table;
}

json_t *tlvjson_rule_case(const char *tests_path, const char *expect)
{
    FILE *f = fopen(tests_path, "r");
    char *line = NULL;
    size_t cap = 0;
    json_t *found = NULL;

    if (!f)
        return NULL;
    while (!found && getline(&line, &cap, f) > 0) {
        json_t *c = json_loads(line, 0, NULL);
        const char *e = json_string_value(json_object_get(c, "expect"));
        if (e && strcmp(e, expect) == 0)
            found = json_incref(json_object_get(c, "events"));
        json_decref(c);
    }
    free(line);
    fclose(f);
    return found;
}
