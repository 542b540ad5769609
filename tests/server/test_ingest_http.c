/*
 * test_ingest_http.c — ingest through the real server: devices enrolled
 * through the public enrollment endpoint (with an onboarding token created
 * through the API) post event batches over HTTPS with their own
 * credentials; people read them back with GET /api/v1/events and
 * `yamori events`.
 *
 * Scenarios: every column of every hunting table comes back as it was
 * sent; a replayed batch is the same success and stores nothing twice;
 * hostile batches (truncated, oversized, not zstd, a zstd bomb, wrong
 * magic, malformed header or record, inconsistent seq, another device's
 * id, too many events, no or wrong credentials) each get a clear 4xx and
 * store nothing; the query filters; and the crash proof: the server is
 * SIGKILLed twenty times while agents keep sending, and every acknowledged
 * event is in the store exactly once, and the store opens cleanly.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common/jsonw.h"
#include "common/schema.h"
#include "common/tlv.h"
#include "ingestgen.h"
#include "server/ingest.h"
#include "server/store.h"
#include "server/store_sqlite.h"
#include "serverproc.h"

#define T0_NS 1764151920000000000ULL /* 2025-11-26T10:12:00Z */

struct device {
    char id[64];
    char name[64];
    char auth[256]; /* "Authorization: Device id:secret" */
};

static char admin_hdr[300];
static char data_dir[128];

static void teardown(void)
{
    serverproc_stop_all();
    if (data_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.stderr'", data_dir, data_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", data_dir);
        data_dir[0] = '\0';
    }
}

/* ------------------------------------------------------------------ helpers */

static struct serverproc *start(const char *dir, const char *const *sets)
{
    struct serverproc_options o = {.data_dir = dir, .sets = sets};
    char err[2048];
    struct serverproc *s = serverproc_start(&o, err, sizeof(err));
    if (!s)
        fprintf(stderr, "server: %s\n", err);
    return s;
}

static bool admin(struct serverproc *s)
{
    char token[256];
    if (serverproc_admin_token(s, token, sizeof(token)) != 0)
        return false;
    snprintf(admin_hdr, sizeof(admin_hdr), "Authorization: Bearer %s", token);
    return true;
}

/* Enrolls n devices named <prefix>-<i> through the public endpoint. */
static bool enroll(struct serverproc *s, const char *prefix, struct device *d, int n)
{
    const char *hdrs[] = {admin_hdr, NULL};
    struct serverproc_response r;
    char body[512], token[128];
    bool ok;

    snprintf(body, sizeof(body), "{\"uses\": %d}", n);
    if (serverproc_request(s, "POST", "/api/v1/onboarding", body, hdrs, &r) != 0 || r.status != 201) {
        fprintf(stderr, "onboarding: %ld %s\n", r.status, r.body);
        serverproc_response_free(&r);
        return false;
    }
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r.json, "token")));
    serverproc_response_free(&r);
    for (int i = 0; i < n; i++) {
        static unsigned machine;
        snprintf(d[i].name, sizeof(d[i].name), "%s-%d", prefix, i);
        snprintf(body, sizeof(body),
                 "{\"token\":\"%s\",\"machine_id\":\"%032x\",\"hostname\":\"%s\",\"os\":\"Debian GNU/Linux 12\","
                 "\"kernel\":\"6.1.0\",\"agent_version\":\"0.1.0\"}",
                 token, (unsigned)getpid() * 1000u + ++machine, d[i].name);
        ok = serverproc_request(s, "POST", "/api/v1/agent/enroll", body, NULL, &r) == 0 && r.status == 200;
        if (ok) {
            snprintf(d[i].id, sizeof(d[i].id), "%s", json_string_value(json_object_get(r.json, "device_id")));
            snprintf(d[i].auth, sizeof(d[i].auth), "Authorization: Device %s:%s", d[i].id,
                     json_string_value(json_object_get(r.json, "secret")));
        } else {
            fprintf(stderr, "enroll: %ld %s\n", r.status, r.body);
        }
        serverproc_response_free(&r);
        if (!ok)
            return false;
    }
    return true;
}

struct sink {
    char buf[8192];
    size_t len;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *k = ud;
    size_t n = size * nmemb, room = sizeof(k->buf) - 1 - k->len;
    memcpy(k->buf + k->len, p, n < room ? n : room);
    k->len += n < room ? n : room;
    k->buf[k->len] = '\0';
    return n;
}

/* POSTs a batch body; returns the HTTP status (0: no answer) and the
 * answer's JSON in *out (caller decrefs; may be NULL). */
static long post(struct serverproc *s, const char *auth, const char *content_type, const void *body, size_t len,
                 json_t **out)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    struct sink k = {.len = 0};
    char url[256], ct[128];
    long status = 0;

    if (out)
        *out = NULL;
    if (!h)
        return 0;
    snprintf(url, sizeof(url), "%s/api/v1/agent/events", serverproc_url(s));
    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
    if (auth)
        hd = curl_slist_append(hd, auth);
    hd = curl_slist_append(hd, ct);
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, serverproc_ca(s));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (out)
        *out = json_loads(k.buf, 0, NULL);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return status;
}

/* A body: "YMB1", header, records, zstd. */
static uint8_t *body_of(const char *header, const struct tlv_buf *recs, size_t *len)
{
    struct ingestgen_encoder *e = ingestgen_encoder_new(3);
    const uint8_t *b = e ? ingestgen_encode(e, header, strlen(header), recs ? recs->data : NULL, recs ? recs->len : 0, len)
                         : NULL;
    uint8_t *copy = b ? malloc(*len) : NULL;
    if (copy)
        memcpy(copy, b, *len);
    ingestgen_encoder_free(e);
    return copy;
}

/* count generated events of device d from Seq first, posted; status. */
static long post_generated(struct serverproc *s, struct ingestgen *g, const struct device *d, uint64_t first,
                           size_t count, uint64_t ts, json_t **out)
{
    struct tlv_buf recs;
    char *h = ingestgen_header(d->id, first, first + count - 1, count, NULL);
    uint8_t *body;
    size_t len = 0;
    long st = 0;

    tlv_init(&recs);
    for (size_t i = 0; i < count; i++)
        ingestgen_event(g, &recs, first + i, ts + i * 1000);
    body = h ? body_of(h, &recs, &len) : NULL;
    if (body)
        st = post(s, d->auth, INGEST_CONTENT_TYPE, body, len, out);
    free(body);
    free(h);
    tlv_free(&recs);
    return st;
}

/* GET path as admin; the answer's JSON (caller decrefs) or NULL. */
static json_t *get(struct serverproc *s, const char *path, long *status)
{
    const char *hdrs[] = {admin_hdr, NULL};
    struct serverproc_response r;
    json_t *v = NULL;

    *status = 0;
    if (serverproc_request(s, "GET", path, NULL, hdrs, &r) == 0) {
        *status = r.status;
        v = json_incref(r.json);
    }
    serverproc_response_free(&r);
    return v;
}

static size_t count_events(struct serverproc *s, const char *query)
{
    char path[512];
    long st;
    json_t *v;
    size_t n;

    snprintf(path, sizeof(path), "/api/v1/events?since=2000-01-01T00:00:00Z&limit=10000%s", query);
    v = get(s, path, &st);
    n = st == 200 ? json_array_size(json_object_get(v, "events")) : (size_t)-1;
    json_decref(v);
    return n;
}

/* ------------------------------------------------------------------ round trip */

/* The text of field f in the round trip: valid UTF-8 with quotes, a
 * backslash, a control character and a non-ASCII letter. */
static int text_of(const struct schema_field_info *f, char *s, size_t len)
{
    return snprintf(s, len, "%s \"q\" \\ \x01 \xc3\xbc", f->name);
}

static void full_record(struct tlv_buf *b, unsigned bit, uint64_t seq)
{
    for (const struct schema_field_info *f = schema_fields; f->id; f++) {
        char s[128];
        if (f->id == F_SEQ) {
            tlv_put_uint(b, F_SEQ, seq);
            continue;
        }
        if (f->id == F_EVENT_TYPE) {
            tlv_put_cstr_opt(b, F_EVENT_TYPE, schema_event_type_name(bit));
            continue;
        }
        if (!(f->tables & bit))
            continue;
        switch (f->type) {
        case SCHEMA_STR:
            tlv_put_str(b, f->id, s, (size_t)text_of(f, s, sizeof(s)));
            break;
        case SCHEMA_JSON: tlv_put_cstr_opt(b, f->id, "{\"exec\":3}"); break;
        case SCHEMA_UINT: tlv_put_uint(b, f->id, f->id * 1000u + 7); break;
        case SCHEMA_INT: tlv_put_int(b, f->id, -(int64_t)f->id); break;
        case SCHEMA_TIME: tlv_put_time(b, f->id, T0_NS + f->id); break;
        case SCHEMA_BOOL: tlv_put_bool(b, f->id); break;
        }
    }
}

static void round_trip_per_table(void)
{
    struct serverproc *s = start(NULL, NULL);
    struct device d;
    struct tlv_buf recs, one;
    char *h, path[256];
    uint8_t *body;
    size_t len;
    json_t *ans = NULL, *v, *events;
    long st;
    unsigned seen = 0;

    CHECK(s && admin(s) && enroll(s, "rt", &d, 1));
    tlv_init(&recs);
    tlv_init(&one);
    for (unsigned t = 0; t < 5; t++) {
        tlv_reset(&one);
        full_record(&one, 1u << t, 1 + t);
        tlv_put_varint(&recs, one.len);
        tlv_put_raw(&recs, one.data, one.len);
    }
    h = ingestgen_header(d.id, 1, 5, 5, "{\"exec\": 4, \"spool_quota\": 1}");
    body = body_of(h, &recs, &len);
    free(h);
    tlv_free(&recs);
    tlv_free(&one);
    CHECK(body);
    st = post(s, d.auth, INGEST_CONTENT_TYPE, body, len, &ans);
    free(body);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_integer_value(json_object_get(ans, "acked_seq")), ==, 5);
    CHECK_INT(json_integer_value(json_object_get(ans, "stored")), ==, 5);
    CHECK_INT(json_integer_value(json_object_get(ans, "duplicates")), ==, 0);
    json_decref(ans);
    /* by name: the devices store resolves it */
    snprintf(path, sizeof(path), "/api/v1/events?device=%s&since=2000-01-01T00:00:00Z", d.name);
    v = get(s, path, &st);
    CHECK_INT(st, ==, 200);
    events = json_object_get(v, "events");
    CHECK_INT(json_array_size(events), ==, 5);
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *ev = json_array_get(events, i);
        unsigned bit = schema_table_of_event_type(json_string_value(json_object_get(ev, "EventType")),
                                                  strlen(json_string_value(json_object_get(ev, "EventType"))));
        size_t want = 4; /* EventType, DeviceId, ReceivedTime + ... */
        seen |= bit;
        CHECK_STR(json_string_value(json_object_get(ev, "DeviceId")), d.id);
        CHECK(json_is_string(json_object_get(ev, "ReceivedTime")));
        for (const struct schema_field_info *f = schema_fields; f->id; f++) {
            json_t *x;
            char s1[128], ts[40];
            if (!(f->tables & bit))
                continue;
            want++;
            x = json_object_get(ev, f->name);
            CHECK_MSG(x, "%s of a %s event is missing", f->name, schema_event_type_name(bit));
            switch (f->type) {
            case SCHEMA_STR:
                text_of(f, s1, sizeof(s1));
                CHECK_STR(json_string_value(x), s1);
                break;
            case SCHEMA_JSON: CHECK_STR(json_string_value(x), "{\"exec\":3}"); break;
            case SCHEMA_UINT:
                if (f->id != F_SEQ)
                    CHECK_INT(json_integer_value(x), ==, f->id * 1000 + 7);
                break;
            case SCHEMA_INT: CHECK_INT(json_integer_value(x), ==, -(int)f->id); break;
            case SCHEMA_TIME:
                jsonw_format_time(ts, sizeof(ts), T0_NS + f->id);
                CHECK_STR(json_string_value(x), ts);
                break;
            case SCHEMA_BOOL: CHECK(json_is_true(x)); break;
            }
        }
        CHECK_INT(json_object_size(ev), ==, want - 1); /* Timestamp is counted among the fields */
    }
    CHECK_INT(seen, ==, SCHEMA_T_ALL);
    json_decref(v);
}

/* Bytes that are not UTF-8 come back as the text \xNN. */
static void invalid_utf8_is_escaped(void)
{
    struct serverproc *s = start(NULL, NULL);
    struct device d;
    struct tlv_buf recs, one;
    char *h;
    uint8_t *body;
    size_t len;
    json_t *v, *ev;
    long st;

    CHECK(s && admin(s) && enroll(s, "utf", &d, 1));
    tlv_init(&recs);
    tlv_init(&one);
    tlv_put_time(&one, F_TIMESTAMP, T0_NS);
    tlv_put_cstr_opt(&one, F_EVENT_TYPE, "process");
    tlv_put_cstr_opt(&one, F_ACTION_TYPE, "ProcessCreated");
    tlv_put_uint(&one, F_SEQ, 1);
    tlv_put_str(&one, F_PROCESS_COMMAND_LINE, "rm \xff\xfe -rf\0x", 11);
    tlv_put_varint(&recs, one.len);
    tlv_put_raw(&recs, one.data, one.len);
    h = ingestgen_header(d.id, 1, 1, 1, NULL);
    body = body_of(h, &recs, &len);
    free(h);
    tlv_free(&recs);
    tlv_free(&one);
    CHECK(body);
    st = post(s, d.auth, INGEST_CONTENT_TYPE, body, len, NULL);
    free(body);
    CHECK_INT(st, ==, 200);
    v = get(s, "/api/v1/events?since=2000-01-01T00:00:00Z", &st);
    CHECK_INT(st, ==, 200);
    ev = json_array_get(json_object_get(v, "events"), 0);
    CHECK_STR(json_string_value(json_object_get(ev, "ProcessCommandLine")), "rm \\xff\\xfe -rf\\x00x");
    json_decref(v);
}

/* ------------------------------------------------------------------ duplicates */

static void replay_is_the_same_success(void)
{
    struct serverproc *s = start(NULL, NULL);
    struct device d;
    struct ingestgen *g = ingestgen_new(21, "replay");
    json_t *a = NULL;
    long st;

    CHECK(g && s && admin(s) && enroll(s, "replay", &d, 1));
    CHECK_INT(post_generated(s, g, &d, 1, 100, T0_NS, &a), ==, 200);
    CHECK_INT(json_integer_value(json_object_get(a, "stored")), ==, 100);
    json_decref(a);
    CHECK_INT(post_generated(s, g, &d, 1, 100, T0_NS, &a), ==, 200);
    CHECK_INT(json_integer_value(json_object_get(a, "acked_seq")), ==, 100);
    CHECK_INT(json_integer_value(json_object_get(a, "stored")), ==, 0);
    CHECK_INT(json_integer_value(json_object_get(a, "duplicates")), ==, 100);
    json_decref(a);
    CHECK_INT(post_generated(s, g, &d, 51, 100, T0_NS + 1000000, &a), ==, 200);
    CHECK_INT(json_integer_value(json_object_get(a, "stored")), ==, 50);
    CHECK_INT(json_integer_value(json_object_get(a, "duplicates")), ==, 50);
    json_decref(a);
    st = post_generated(s, g, &d, 1000, 10, T0_NS + 2000000, &a); /* a gap */
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_integer_value(json_object_get(a, "stored")), ==, 10);
    json_decref(a);
    CHECK_INT(count_events(s, ""), ==, 160);
    ingestgen_free(g);
}

/* ------------------------------------------------------------------ hostile input */

struct hostile {
    const char *name;
    long want;
    uint8_t *body;
    size_t len;
    const char *auth;
    const char *type;
};

/* Plain batch bytes (before compression). */
static uint8_t *plain(const char *header, size_t header_len_claimed, const struct tlv_buf *recs, size_t *len)
{
    size_t hl = strlen(header), n = 8 + hl + (recs ? recs->len : 0);
    uint8_t *p = malloc(n);
    if (!p)
        return NULL;
    memcpy(p, "YMB1", 4);
    p[4] = (uint8_t)header_len_claimed;
    p[5] = (uint8_t)(header_len_claimed >> 8);
    p[6] = (uint8_t)(header_len_claimed >> 16);
    p[7] = (uint8_t)(header_len_claimed >> 24);
    memcpy(p + 8, header, hl);
    if (recs)
        memcpy(p + 8 + hl, recs->data, recs->len);
    *len = n;
    return p;
}

static uint8_t *zstd_of(uint8_t *p, size_t len, size_t *out)
{
    uint8_t *z = p ? ingestgen_zstd(p, len, 3, out) : NULL;
    free(p);
    return z;
}

/* plain() compressed. */
static uint8_t *zbatch(const char *header, size_t header_len_claimed, const struct tlv_buf *recs, size_t *len)
{
    size_t n = 0;
    uint8_t *p = plain(header, header_len_claimed, recs, &n);
    return zstd_of(p, n, len);
}

static void hostile_batches_change_nothing(void)
{
    const char *sets[] = {"max_batch_bytes=65536", "max_batch_events=1000", NULL};
    struct serverproc *s = start(NULL, sets);
    struct device d[2];
    struct ingestgen *g = ingestgen_new(33, "hostile");
    struct tlv_buf recs, bad;
    struct hostile cases[24];
    size_t n = 0, len;
    char *h;
    uint8_t *p;

    CHECK(g && s && admin(s) && enroll(s, "hostile", d, 2));
    tlv_init(&recs);
    tlv_init(&bad);
    for (int i = 0; i < 10; i++)
        ingestgen_event(g, &recs, 1 + (uint64_t)i, T0_NS);
    h = ingestgen_header(d[0].id, 1, 10, 10, NULL);

    /* a valid batch, then damaged */
    p = zbatch(h, strlen(h), &recs, &len);
    cases[n++] = (struct hostile){"truncated", 400, p, len / 2, d[0].auth, NULL};
    {
        uint8_t *big = malloc(70000);
        memset(big, 'A', 70000);
        for (size_t i = 0; i < 70000; i++)
            big[i] = (uint8_t)(i * 2654435761u >> 13);
        cases[n++] = (struct hostile){"oversized", 413, big, 70000, d[0].auth, NULL};
    }
    cases[n++] = (struct hostile){"not_zstd", 400, (uint8_t *)strdup("YMB1 this is not compressed at all"), 34,
                                  d[0].auth, NULL};
    {
        /* 2 MiB of zeros compress to a few hundred bytes: above 8 × 64 KiB */
        uint8_t *zeros = calloc(1, 2u << 20);
        memcpy(zeros, "YMB1", 4);
        p = zstd_of(zeros, 2u << 20, &len);
        cases[n++] = (struct hostile){"zstd_bomb", 413, p, len, d[0].auth, NULL};
    }
    {
        uint8_t *w = plain(h, strlen(h), &recs, &len);
        memcpy(w, "XMB9", 4);
        p = zstd_of(w, len, &len);
        cases[n++] = (struct hostile){"wrong_magic", 400, p, len, d[0].auth, NULL};
    }
    p = zbatch("{\"version\":1,", 13, NULL, &len);
    cases[n++] = (struct hostile){"malformed_header", 400, p, len, d[0].auth, NULL};
    p = zbatch("[1,2,3]", 7, NULL, &len);
    cases[n++] = (struct hostile){"header_not_object", 400, p, len, d[0].auth, NULL};
    p = zbatch(h, 1u << 20, &recs, &len);
    cases[n++] = (struct hostile){"header_length_beyond", 400, p, len, d[0].auth, NULL};
    {
        char *h2 = ingestgen_header(d[0].id, 1, 10, 9, NULL);
        p = zbatch(h2, strlen(h2), &recs, &len);
        free(h2);
        cases[n++] = (struct hostile){"seq_count_mismatch", 400, p, len, d[0].auth, NULL};
    }
    {
        char *h2 = ingestgen_header(d[0].id, 2, 11, 10, NULL);
        p = zbatch(h2, strlen(h2), &recs, &len);
        free(h2);
        cases[n++] = (struct hostile){"record_seq_mismatch", 400, p, len, d[0].auth, NULL};
    }
    {
        struct tlv_buf r2;
        tlv_init(&r2);
        tlv_put_raw(&r2, recs.data, recs.len);
        tlv_put_varint(&r2, 3);
        tlv_put_raw(&r2, "\x0a\xff\xff", 3); /* field 1, bytes, a length that runs off the end */
        char *h2 = ingestgen_header(d[0].id, 1, 11, 11, NULL);
        p = zbatch(h2, strlen(h2), &r2, &len);
        free(h2);
        tlv_free(&r2);
        cases[n++] = (struct hostile){"malformed_record", 400, p, len, d[0].auth, NULL};
    }
    {
        tlv_put_time(&bad, F_TIMESTAMP, T0_NS);
        tlv_put_cstr_opt(&bad, F_EVENT_TYPE, "process");
        struct tlv_buf r2;
        tlv_init(&r2);
        tlv_put_varint(&r2, bad.len);
        tlv_put_raw(&r2, bad.data, bad.len);
        char *h2 = ingestgen_header(d[0].id, 1, 1, 1, NULL);
        p = zbatch(h2, strlen(h2), &r2, &len);
        free(h2);
        tlv_free(&r2);
        cases[n++] = (struct hostile){"record_without_seq", 400, p, len, d[0].auth, NULL};
    }
    {
        struct tlv_buf r2, one;
        tlv_init(&r2);
        tlv_init(&one);
        tlv_put_time(&one, F_TIMESTAMP, T0_NS);
        tlv_put_cstr_opt(&one, F_EVENT_TYPE, "process");
        tlv_put_uint(&one, F_SEQ, 1);
        tlv_put_uint(&one, F_FILE_NAME, 7); /* a string field sent as a number */
        tlv_put_varint(&r2, one.len);
        tlv_put_raw(&r2, one.data, one.len);
        char *h2 = ingestgen_header(d[0].id, 1, 1, 1, NULL);
        p = zbatch(h2, strlen(h2), &r2, &len);
        free(h2);
        tlv_free(&r2);
        tlv_free(&one);
        cases[n++] = (struct hostile){"wrong_wire_type", 400, p, len, d[0].auth, NULL};
    }
    {
        uint8_t *w = plain(h, strlen(h), &recs, &len);
        size_t zl;
        uint8_t *z = zstd_of(w, len, &zl);
        uint8_t *two = malloc(zl * 2);
        memcpy(two, z, zl);
        memcpy(two + zl, z, zl);
        free(z);
        cases[n++] = (struct hostile){"two_frames", 400, two, zl * 2, d[0].auth, NULL};
    }
    /* d[1] posts d[0]'s batch */
    p = zbatch(h, strlen(h), &recs, &len);
    cases[n++] = (struct hostile){"another_device", 403, p, len, d[1].auth, NULL};
    {
        struct tlv_buf many;
        tlv_init(&many);
        for (int i = 0; i < 1001; i++)
            ingestgen_event(g, &many, 1 + (uint64_t)i, T0_NS);
        char *h2 = ingestgen_header(d[0].id, 1, 1001, 1001, NULL);
        p = zbatch(h2, strlen(h2), &many, &len);
        free(h2);
        tlv_free(&many);
        cases[n++] = (struct hostile){"too_many_events", 413, p, len, d[0].auth, NULL};
    }
    p = zbatch(h, strlen(h), &recs, &len);
    cases[n++] = (struct hostile){"no_credentials", 401, p, len, NULL, NULL};
    p = zbatch(h, strlen(h), &recs, &len);
    {
        static char wrong[300];
        snprintf(wrong, sizeof(wrong), "Authorization: Device %s:%064d", d[0].id, 0);
        cases[n++] = (struct hostile){"wrong_secret", 401, p, len, wrong, NULL};
    }
    p = zbatch(h, strlen(h), &recs, &len);
    cases[n++] = (struct hostile){"wrong_content_type", 415, p, len, d[0].auth, "application/json"};

    for (size_t i = 0; i < n; i++) {
        json_t *a = NULL;
        long st;
        CHECK_MSG(cases[i].body, "%s: could not build the body", cases[i].name);
        st = post(s, cases[i].auth, cases[i].type ? cases[i].type : INGEST_CONTENT_TYPE, cases[i].body, cases[i].len,
                  &a);
        CHECK_MSG(st == cases[i].want, "%s: HTTP %ld, want %ld (%s)", cases[i].name, st, cases[i].want,
                  json_string_value(json_object_get(json_object_get(a, "error"), "message")));
        CHECK_MSG(json_is_string(json_object_get(json_object_get(a, "error"), "message")) &&
                      strlen(json_string_value(json_object_get(json_object_get(a, "error"), "message"))) > 10,
                  "%s: no message", cases[i].name);
        json_decref(a);
    }
    CHECK_INT(count_events(s, ""), ==, 0);
    {
        /* the device was never counted, and a good batch still goes in */
        char path[200];
        json_t *a = NULL;
        snprintf(path, sizeof(path), "&device=%s", d[0].id);
        CHECK_INT(count_events(s, path), ==, 0);
        p = zbatch(h, strlen(h), &recs, &len);
        CHECK_INT(post(s, d[0].auth, INGEST_CONTENT_TYPE, p, len, &a), ==, 200);
        free(p);
        json_decref(a);
        CHECK_INT(count_events(s, ""), ==, 10);
    }
    for (size_t i = 0; i < n; i++)
        free(cases[i].body);
    free(h);
    tlv_free(&recs);
    tlv_free(&bad);
    ingestgen_free(g);
}

/* ------------------------------------------------------------------ queries */

static void query_filters(void)
{
    struct serverproc *s = start(NULL, NULL);
    struct device d[2];
    struct ingestgen *g = ingestgen_new(44, "query");
    char path[512], since[40], until[40];
    json_t *v, *a = NULL;
    long st;
    size_t all, procs;

    CHECK(g && s && admin(s) && enroll(s, "query", d, 2));
    for (int b = 0; b < 5; b++) {
        CHECK_INT(post_generated(s, g, &d[0], 1 + (uint64_t)b * 200, 200, T0_NS + (uint64_t)b * 200000, &a), ==, 200);
        json_decref(a);
    }
    CHECK_INT(post_generated(s, g, &d[1], 1, 300, T0_NS, &a), ==, 200);
    json_decref(a);
    snprintf(path, sizeof(path), "&device=%s", d[0].id);
    all = count_events(s, path);
    CHECK_INT(all, ==, 1000);
    {
        /* ids are matched whatever their case, as the device routes do */
        char upper[64];
        size_t i;
        for (i = 0; d[0].id[i] && i + 1 < sizeof(upper); i++)
            upper[i] = (char)toupper((unsigned char)d[0].id[i]);
        upper[i] = '\0';
        snprintf(path, sizeof(path), "&device=%s", upper);
        CHECK_INT(count_events(s, path), ==, 1000);
    }
    CHECK_INT(count_events(s, ""), ==, 1300);
    snprintf(path, sizeof(path), "&device=%s&type=process", d[0].name);
    procs = count_events(s, path);
    CHECK(procs > 300 && procs < 800);
    snprintf(path, sizeof(path), "&device=%s&type=file,network", d[0].id);
    CHECK(count_events(s, path) > 100);
    snprintf(path, sizeof(path), "&device=%s&action=ProcessCreated", d[0].id);
    CHECK(count_events(s, path) > 50 && count_events(s, path) < procs);
    /* a window: Seq 201..400 were at T0 + 200,000 .. 399,000 ns */
    jsonw_format_time(since, sizeof(since), T0_NS + 200000ull);
    jsonw_format_time(until, sizeof(until), T0_NS + 399000ull);
    snprintf(path, sizeof(path), "/api/v1/events?device=%s&since=%s&until=%s&limit=10000", d[0].id, since, until);
    v = get(s, path, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_array_size(json_object_get(v, "events")), ==, 200);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(v, "events"), 0), "Seq")), ==, 400);
    json_decref(v);
    /* limit keeps the newest */
    snprintf(path, sizeof(path), "/api/v1/events?device=%s&since=2000-01-01T00:00:00Z&limit=3", d[0].id);
    v = get(s, path, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_array_size(json_object_get(v, "events")), ==, 3);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(v, "events"), 0), "Seq")), ==, 1000);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(v, "events"), 2), "Seq")), ==, 998);
    json_decref(v);
    /* the default window is the last day: these events are older */
    snprintf(path, sizeof(path), "/api/v1/events?device=%s", d[0].id);
    v = get(s, path, &st);
    CHECK_INT(st, ==, 200);
    CHECK_INT(json_array_size(json_object_get(v, "events")), ==, 0);
    json_decref(v);
    {
        static const char *const bad[] = {"limit=0", "limit=10001", "limit=x", "type=bogus", "since=yesterday",
                                          "until=2026-13-01T00:00:00Z", "since=2h&until=3h", "device=no-such-host"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(path, sizeof(path), "/api/v1/events?%s", bad[i]);
            v = get(s, path, &st);
            CHECK_MSG(st == (strncmp(bad[i], "device", 6) == 0 ? 404 : 400), "%s: HTTP %ld", bad[i], st);
            json_decref(v);
        }
    }
    /* people only */
    {
        struct serverproc_response r;
        const char *hdrs[] = {d[0].auth, NULL};
        CHECK_INT(serverproc_request(s, "GET", "/api/v1/events", NULL, hdrs, &r), ==, 0);
        CHECK(r.status == 401 || r.status == 403);
        serverproc_response_free(&r);
        CHECK_INT(serverproc_request(s, "GET", "/api/v1/events", NULL, NULL, &r), ==, 0);
        CHECK_INT(r.status, ==, 401);
        serverproc_response_free(&r);
    }
    ingestgen_free(g);
}

/* The hunting tables answer plain SQL in the server's own store. */
static void hunting_sql(void)
{
    struct serverproc *s;
    struct device d;
    struct ingestgen *g = ingestgen_new(55, "hunt");
    struct store *st = NULL;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    char dir[] = "/tmp/yamori-hunt-XXXXXX", uri[200], err[256], uid[64] = "";
    json_t *a = NULL;
    long long total = -1, by_dev = -1, tree = -1;

    CHECK(g && mkdtemp(dir));
    snprintf(data_dir, sizeof(data_dir), "%s", dir);
    s = start(dir, NULL);
    CHECK(s && admin(s) && enroll(s, "hunt", &d, 1));
    CHECK_INT(post_generated(s, g, &d, 1, 2000, T0_NS, &a), ==, 200);
    json_decref(a);
    serverproc_stop(s);
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    CHECK_INT(store_open(&st, uri, err, sizeof(err)), ==, 0);
    CHECK_INT(store_events_attach(st, err, sizeof(err)), ==, 0);
    c = store_acquire(st, STORE_READ);
    if (sqlite3_prepare_v2(store_db(c),
                           "SELECT (SELECT count(*) FROM DeviceProcessEvents) + (SELECT count(*) FROM DeviceFileEvents)"
                           " + (SELECT count(*) FROM DeviceNetworkEvents) + (SELECT count(*) FROM DeviceLogonEvents)"
                           " + (SELECT count(*) FROM DeviceEvents),"
                           " (SELECT count(*) FROM DeviceProcessEvents WHERE DeviceId = ?1 AND Timestamp >= ?2),"
                           " (SELECT InitiatingProcessUniqueId FROM DeviceProcessEvents WHERE ActionType = 'ProcessCreated'"
                           "  LIMIT 1)",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, d.id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (int64_t)T0_NS);
        if (sqlite3_step(q) == SQLITE_ROW) {
            total = sqlite3_column_int64(q, 0);
            by_dev = sqlite3_column_int64(q, 1);
            snprintf(uid, sizeof(uid), "%s", (const char *)sqlite3_column_text(q, 2));
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    /* a process tree step: the children and activity of one process, by its unique id */
    if (sqlite3_prepare_v2(store_db(c),
                           "SELECT count(*) FROM (SELECT InitiatingProcessUniqueId u FROM DeviceProcessEvents"
                           " WHERE InitiatingProcessUniqueId = ?1 UNION ALL SELECT InitiatingProcessUniqueId FROM"
                           " DeviceFileEvents WHERE InitiatingProcessUniqueId = ?1) WHERE u = ?1",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, uid, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW)
            tree = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    store_release(st, c);
    store_events_detach(st);
    store_close(st);
    CHECK_INT(total, ==, 2000);
    CHECK(by_dev > 500 && by_dev < 2000);
    CHECK(uid[0]);
    CHECK_MSG(tree > 0, "no events of process %s found by its unique id", uid);
    ingestgen_free(g);
}

/* ------------------------------------------------------------------ the CLI */

static void cli_events(void)
{
    struct serverproc *s = start(NULL, NULL);
    struct device d;
    struct ingestgen *g = ingestgen_new(66, "cli");
    char cfgpath[256], cmd[1024], out[65536];
    json_t *a = NULL;
    FILE *f, *p;
    size_t n;
    uint64_t now = (uint64_t)time(NULL) * 1000000000ull;

    CHECK(g && s && admin(s) && enroll(s, "cli", &d, 1));
    CHECK_INT(post_generated(s, g, &d, 1, 300, now - 60ull * 1000000000ull, &a), ==, 200);
    json_decref(a);
    snprintf(cfgpath, sizeof(cfgpath), "%s/cli.json", serverproc_data_dir(s));
    f = fopen(cfgpath, "w");
    CHECK(f);
    fprintf(f, "{\"url\": \"%s\", \"ca\": \"%s\", \"token\": \"%s\"}\n", serverproc_url(s), serverproc_ca(s),
            admin_hdr + strlen("Authorization: Bearer "));
    fclose(f);
    snprintf(cmd, sizeof(cmd), "YAMORI_CONFIG=%s %s events --device %s --type process --since 1h --limit 20 2>&1",
             cfgpath, serverproc_binary(), d.name);
    p = popen(cmd, "r");
    CHECK(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    CHECK_INT(pclose(p), ==, 0);
    CHECK_MSG(strncmp(out, "TIME", 4) == 0 && strstr(out, "INITIATING PROCESS"), "%.300s", out);
    CHECK_MSG(strstr(out, "ProcessCreated") || strstr(out, "ProcessExited"), "%.300s", out);
    {
        size_t lines = 0;
        for (char *c = out; *c; c++)
            lines += *c == '\n';
        CHECK_INT(lines, ==, 21);
    }
    snprintf(cmd, sizeof(cmd), "YAMORI_CONFIG=%s %s events --device %s --limit 5 --json", cfgpath,
             serverproc_binary(), d.id);
    p = popen(cmd, "r");
    CHECK(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    CHECK_INT(pclose(p), ==, 0);
    {
        json_t *v = json_loads(out, 0, NULL);
        CHECK_MSG(v, "not JSON: %.200s", out);
        CHECK_INT(json_array_size(json_object_get(v, "events")), ==, 5);
        json_decref(v);
    }
    snprintf(cmd, sizeof(cmd), "YAMORI_CONFIG=%s %s events --limit 0 >/dev/null 2>&1", cfgpath, serverproc_binary());
    CHECK_INT(WEXITSTATUS(system(cmd)), ==, 1);
    ingestgen_free(g);
}

/* ------------------------------------------------------------------ crash safety */

#define CRASH_AGENTS 4
#define CRASH_ROUNDS 20
#define CRASH_BATCH 50
#define MAX_ACKED 200000

struct crash_agent {
    struct device d;
    struct ingestgen *g;
    uint64_t next_seq;       /* the first Seq of the batch in flight */
    CURL *h;
    struct curl_slist *hd;
    uint8_t *body;
    size_t len;
    struct sink k;
    bool busy;
};

static uint64_t acked_upto[CRASH_AGENTS];

/* The batch of agent a from a->next_seq (the same events again after a failure). */
static bool crash_build(struct crash_agent *a)
{
    struct tlv_buf recs;
    char *h = ingestgen_header(a->d.id, a->next_seq, a->next_seq + CRASH_BATCH - 1, CRASH_BATCH, NULL);
    bool ok;

    tlv_init(&recs);
    for (int i = 0; i < CRASH_BATCH; i++)
        ingestgen_event(a->g, &recs, a->next_seq + (uint64_t)i, T0_NS + (a->next_seq + (uint64_t)i) * 1000);
    free(a->body);
    a->body = h ? body_of(h, &recs, &a->len) : NULL;
    ok = a->body != NULL;
    free(h);
    tlv_free(&recs);
    return ok;
}

static void crash_arm(CURLM *m, struct crash_agent *a, const char *url, const char *ca)
{
    a->k.len = 0;
    curl_easy_reset(a->h);
    curl_easy_setopt(a->h, CURLOPT_URL, url);
    curl_easy_setopt(a->h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(a->h, CURLOPT_HTTPHEADER, a->hd);
    curl_easy_setopt(a->h, CURLOPT_POSTFIELDS, a->body);
    curl_easy_setopt(a->h, CURLOPT_POSTFIELDSIZE, (long)a->len);
    curl_easy_setopt(a->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(a->h, CURLOPT_WRITEDATA, &a->k);
    curl_easy_setopt(a->h, CURLOPT_PRIVATE, a);
    curl_easy_setopt(a->h, CURLOPT_TIMEOUT, 30L);
    curl_multi_add_handle(m, a->h);
    a->busy = true;
}

/* Sends with the server at url until deadline_ms (monotonic), then
 * SIGKILLs it (pid) with requests in flight and collects what comes back.
 * With pid 0: until every agent's current batch is acknowledged. Returns
 * the number of batches acknowledged. */
static int crash_drive(struct crash_agent *ag, const char *base, const char *ca, long long deadline_ms, pid_t pid)
{
    CURLM *m = curl_multi_init();
    int acked = 0, running = 0;
    bool killed = false;
    struct timespec ts;
    char url[256];

    snprintf(url, sizeof(url), "%s/api/v1/agent/events", base);
    for (int i = 0; i < CRASH_AGENTS; i++)
        crash_arm(m, &ag[i], url, ca);
    for (;;) {
        CURLMsg *msg;
        int left;
        bool busy = false;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (pid && !killed && (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= deadline_ms) {
            kill(pid, SIGKILL); /* whatever the server is doing now */
            killed = true;
        }
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            struct crash_agent *a;
            long status = 0;
            json_t *v;
            bool ok;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(m, a->h);
            a->busy = false;
            v = status == 200 ? json_loads(a->k.buf, 0, NULL) : NULL;
            ok = v && (uint64_t)json_integer_value(json_object_get(v, "acked_seq")) == a->next_seq + CRASH_BATCH - 1;
            json_decref(v);
            if (ok) {
                acked_upto[a - ag] = a->next_seq + CRASH_BATCH - 1;
                a->next_seq += CRASH_BATCH;
                acked++;
                if (!pid)
                    continue; /* done: its last batch is acknowledged */
                if (!crash_build(a))
                    continue;
            }
            if (!killed) /* not acknowledged: the same batch again, as an agent would */
                crash_arm(m, a, url, ca);
        }
        for (int i = 0; i < CRASH_AGENTS; i++)
            busy |= ag[i].busy;
        if (!busy && (killed || !pid))
            break;
        curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    curl_multi_cleanup(m);
    return acked;
}

static void crash_kill_twenty_times(void)
{
    struct crash_agent ag[CRASH_AGENTS];
    struct serverproc *s;
    char dir[] = "/tmp/yamori-crash-XXXXXX", uri[200], err[256];
    struct store *st = NULL;
    struct store_conn *c;
    uint8_t *seen = NULL;
    int total_acked = 0, kills = 0;
    unsigned seed = (unsigned)time(NULL);

    memset(ag, 0, sizeof(ag));
    memset(acked_upto, 0, sizeof(acked_upto));
    CHECK(mkdtemp(dir));
    snprintf(data_dir, sizeof(data_dir), "%s", dir);
    s = start(dir, NULL);
    CHECK(s && admin(s));
    {
        struct device d[CRASH_AGENTS];
        CHECK(enroll(s, "crash", d, CRASH_AGENTS));
        for (int i = 0; i < CRASH_AGENTS; i++) {
            ag[i].d = d[i];
            ag[i].g = ingestgen_new(100 + (uint64_t)i, d[i].name);
            ag[i].next_seq = 1;
            ag[i].h = curl_easy_init();
            ag[i].hd = curl_slist_append(NULL, d[i].auth);
            ag[i].hd = curl_slist_append(ag[i].hd, "Content-Type: " INGEST_CONTENT_TYPE);
            ag[i].hd = curl_slist_append(ag[i].hd, "Expect:");
            CHECK(ag[i].g && ag[i].h && crash_build(&ag[i]));
        }
    }
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        struct timespec ts;
        long long deadline;
        int status;
        if (round) {
            s = start(dir, NULL); /* the store must open cleanly after every kill */
            CHECK_MSG(s, "the server did not start again after kill %d", kills);
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 300 + rand_r(&seed) % 1200;
        total_acked += crash_drive(ag, serverproc_url(s), serverproc_ca(s), deadline, serverproc_pid(s));
        kills++;
        status = serverproc_stop(s);
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %d: the server ended with %d", round,
                  status);
    }
    CHECK_INT(kills, ==, CRASH_ROUNDS);
    CHECK_MSG(total_acked > CRASH_ROUNDS, "only %d batches acknowledged in %d rounds", total_acked, kills);
    /* once more, until every agent's last batch is acknowledged (replays of
     * batches whose answer the kill swallowed included), then a clean stop */
    s = start(dir, NULL);
    CHECK(s);
    total_acked += crash_drive(ag, serverproc_url(s), serverproc_ca(s), 0, 0);
    CHECK_INT(serverproc_stop(s), ==, 0);

    /* every acknowledged Seq exactly once, nothing else */
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    CHECK_INT(store_open(&st, uri, err, sizeof(err)), ==, 0);
    CHECK_INT(store_events_attach(st, err, sizeof(err)), ==, 0);
    c = store_acquire(st, STORE_READ);
    {
        static const char *const tables[] = {"DeviceProcessEvents", "DeviceFileEvents", "DeviceNetworkEvents",
                                             "DeviceLogonEvents", "DeviceEvents"};
        sqlite3_stmt *q = NULL;
        char sql[200], *icheck = NULL;
        uint64_t total = 0, dups = 0, outside = 0, want = 0;
        for (int i = 0; i < CRASH_AGENTS; i++)
            want += acked_upto[i];
        seen = calloc(CRASH_AGENTS * (size_t)MAX_ACKED, 1);
        CHECK(seen);
        for (int t = 0; t < 5; t++) {
            snprintf(sql, sizeof(sql), "SELECT DeviceId, Seq FROM %s", tables[t]);
            CHECK_INT(sqlite3_prepare_v2(store_db(c), sql, -1, &q, NULL), ==, SQLITE_OK);
            while (sqlite3_step(q) == SQLITE_ROW) {
                const char *dev = (const char *)sqlite3_column_text(q, 0);
                uint64_t seq = (uint64_t)sqlite3_column_int64(q, 1);
                int a = -1;
                for (int i = 0; i < CRASH_AGENTS; i++)
                    if (dev && strcmp(dev, ag[i].d.id) == 0)
                        a = i;
                total++;
                if (a < 0 || seq == 0 || seq > acked_upto[a] || seq >= MAX_ACKED) {
                    outside++;
                    continue;
                }
                if (seen[(size_t)a * MAX_ACKED + seq]++)
                    dups++;
            }
            sqlite3_finalize(q);
        }
        CHECK_INT(dups, ==, 0);
        CHECK_INT(outside, ==, 0);
        CHECK_INT(total, ==, want);
        for (int a = 0; a < CRASH_AGENTS; a++)
            for (uint64_t seq = 1; seq <= acked_upto[a]; seq++)
                CHECK_MSG(seen[(size_t)a * MAX_ACKED + seq] == 1, "device %d: acknowledged Seq %llu is missing", a,
                          (unsigned long long)seq);
        CHECK_INT(sqlite3_prepare_v2(store_db(c), "PRAGMA integrity_check", -1, &q, NULL), ==, SQLITE_OK);
        if (sqlite3_step(q) == SQLITE_ROW)
            icheck = strdup((const char *)sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
        CHECK_STR(icheck, "ok");
        free(icheck);
        fprintf(stderr, "crash: %d kills, %d batches acknowledged, %llu events stored exactly once\n", kills,
                total_acked, (unsigned long long)total);
    }
    store_release(st, c);
    store_events_detach(st);
    store_close(st);
    free(seen);
    for (int i = 0; i < CRASH_AGENTS; i++) {
        ingestgen_free(ag[i].g);
        curl_easy_cleanup(ag[i].h);
        curl_slist_free_all(ag[i].hd);
        free(ag[i].body);
    }
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"round_trip_per_table", round_trip_per_table},
        {"invalid_utf8_is_escaped", invalid_utf8_is_escaped},
        {"replay_is_the_same_success", replay_is_the_same_success},
        {"hostile_batches_change_nothing", hostile_batches_change_nothing},
        {"query_filters", query_filters},
        {"hunting_sql", hunting_sql},
        {"cli_events", cli_events},
        {"crash_kill_twenty_times", crash_kill_twenty_times},
        {NULL, NULL},
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    check_set_teardown(teardown);
    rc = check_main("ingest_http", cases, argc, argv);
    curl_global_cleanup();
    return rc;
}
