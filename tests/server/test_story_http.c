/*
 * test_story_http.c — the story through the real server and the real CLI:
 * an enrolled device posts the awsd attack's events (tests/lib/storygen.c)
 * over HTTPS as its agent would; GET /api/v1/devices/{id}/story tells it
 * (by device id or name, for a viewer), refuses malformed arguments with
 * 400 and unknown devices and processes with 404; `yamori device story`
 * draws the tree in the terminal with the commands, the words and the
 * box-drawing lines, and prints the JSON with --json.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common/tlv.h"
#include "ingestgen.h"
#include "serverproc.h"
#include "server/ingest.h"
#include "storygen.h"

static char admin_hdr[300], viewer_hdr[300];
static char dev_id[64], dev_auth[256];
static const char *const dev_name = "web-01";

static void teardown(void)
{
    serverproc_stop_all();
}

static bool tokens(struct serverproc *s)
{
    const char *hdrs[] = {admin_hdr, NULL};
    struct serverproc_response r;
    char token[256];
    bool ok;

    if (serverproc_admin_token(s, token, sizeof(token)) != 0)
        return false;
    snprintf(admin_hdr, sizeof(admin_hdr), "Authorization: Bearer %s", token);
    ok = serverproc_request(s, "POST", "/api/v1/tokens",
                            "{\"name\":\"story-viewer\",\"role\":\"viewer\",\"expires_in_seconds\":3600}", hdrs,
                            &r) == 0 &&
         r.status == 201 && json_is_string(json_object_get(r.json, "token"));
    if (ok)
        snprintf(viewer_hdr, sizeof(viewer_hdr), "Authorization: Bearer %s",
                 json_string_value(json_object_get(r.json, "token")));
    else
        fprintf(stderr, "viewer token: %ld %s\n", r.status, r.body);
    serverproc_response_free(&r);
    return ok;
}

static bool enroll(struct serverproc *s)
{
    const char *hdrs[] = {admin_hdr, NULL};
    struct serverproc_response r;
    char body[512], token[128];
    bool ok;

    if (serverproc_request(s, "POST", "/api/v1/onboarding", "{\"uses\": 1}", hdrs, &r) != 0 || r.status != 201) {
        serverproc_response_free(&r);
        return false;
    }
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r.json, "token")));
    serverproc_response_free(&r);
    snprintf(body, sizeof(body),
             "{\"token\":\"%s\",\"machine_id\":\"%032x\",\"hostname\":\"%s\",\"os\":\"Debian GNU/Linux 12\","
             "\"kernel\":\"6.1.0\",\"agent_version\":\"0.1.0\"}",
             token, (unsigned)getpid(), dev_name);
    ok = serverproc_request(s, "POST", "/api/v1/agent/enroll", body, NULL, &r) == 0 && r.status == 200;
    if (ok) {
        snprintf(dev_id, sizeof(dev_id), "%s", json_string_value(json_object_get(r.json, "device_id")));
        snprintf(dev_auth, sizeof(dev_auth), "Authorization: Device %s:%s", dev_id,
                 json_string_value(json_object_get(r.json, "secret")));
    }
    serverproc_response_free(&r);
    return ok;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    (void)ud;
    return size * nmemb;
}

/* Posts the attack's events as the device's agent; the HTTP status. */
static long post_attack(struct serverproc *s)
{
    struct ingestgen_encoder *enc = ingestgen_encoder_new(3);
    struct curl_slist *hd = NULL;
    struct tlv_buf recs;
    CURL *h = curl_easy_init();
    const uint8_t *body = NULL;
    char url[256], *hdr = NULL;
    size_t n, len = 0;
    long status = 0;

    tlv_init(&recs);
    n = storygen_attack(&recs, 1, 0);
    hdr = ingestgen_header(dev_id, 1, n, n, NULL);
    if (enc && hdr && h && !recs.failed)
        body = ingestgen_encode(enc, hdr, strlen(hdr), recs.data, recs.len, &len);
    if (body) {
        snprintf(url, sizeof(url), "%s/api/v1/agent/events", serverproc_url(s));
        hd = curl_slist_append(hd, dev_auth);
        hd = curl_slist_append(hd, "Content-Type: " INGEST_CONTENT_TYPE);
        hd = curl_slist_append(hd, "Expect:");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CAINFO, serverproc_ca(s));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
        if (curl_easy_perform(h) == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    free(hdr);
    ingestgen_encoder_free(enc);
    tlv_free(&recs);
    return status;
}

static struct serverproc *start_with_attack(void)
{
    char err[2048];
    struct serverproc *s = serverproc_start(NULL, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "server: %s\n", err);
        return NULL;
    }
    if (!tokens(s) || !enroll(s) || post_attack(s) != 200) {
        fprintf(stderr, "set-up failed: %s\n", serverproc_diag(s));
        return NULL;
    }
    return s;
}

/* GET path with the header line auth; the status, the JSON in *out. */
static long get(struct serverproc *s, const char *auth, const char *path, json_t **out)
{
    const char *hdrs[] = {auth, NULL};
    struct serverproc_response r;
    long status = 0;

    if (out)
        *out = NULL;
    if (serverproc_request(s, "GET", path, NULL, auth ? hdrs : NULL, &r) == 0) {
        status = r.status;
        if (out)
            *out = json_incref(r.json);
    }
    serverproc_response_free(&r);
    return status;
}

static json_t *node(json_t *story, const char *uid)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(story, "nodes"), i, n)
        if (strcmp(json_string_value(json_object_get(n, "uid")), uid) == 0)
            return n;
    return NULL;
}

/* ------------------------------------------------------------------ the route */

static void route_tells_the_story(void)
{
    struct serverproc *s = start_with_attack();
    char path[512];
    json_t *v = NULL, *n;
    long st;

    CHECK(s);
    /* by name, for a viewer */
    snprintf(path, sizeof(path), "/api/v1/devices/%s/story?process=" STORYGEN_SCRIPT, dev_name);
    st = get(s, viewer_hdr, path, &v);
    CHECK_MSG(st == 200 && v, "%ld", st);
    CHECK_STR(json_string_value(json_object_get(v, "device_id")), dev_id);
    CHECK_STR(json_string_value(json_object_get(v, "ancestry_end")), "ssh-session");
    CHECK_INT(json_array_size(json_object_get(v, "nodes")), ==, 17);
    n = node(v, STORYGEN_PAYLOAD);
    CHECK(n);
    CHECK_STR(json_string_value(json_object_get(n, "parent")), STORYGEN_SCRIPT);
    json_decref(v);
    /* by id, around a moment given in nanoseconds and in RFC 3339 */
    snprintf(path, sizeof(path), "/api/v1/devices/%s/story?process=" STORYGEN_PAYLOAD "&time=%llu", dev_id,
             (unsigned long long)storygen_t0 + 60000000ull);
    st = get(s, admin_hdr, path, &v);
    CHECK_MSG(st == 200 && v, "%ld", st);
    CHECK_STR(json_string_value(json_object_get(node(v, STORYGEN_PAYLOAD), "role")), "subject");
    json_decref(v);
    snprintf(path, sizeof(path), "/api/v1/devices/%s/story?process=" STORYGEN_PAYLOAD "&time=2025-11-26T10:12:00.060Z",
             dev_id);
    st = get(s, admin_hdr, path, &v);
    CHECK_MSG(st == 200 && v, "%ld", st);
    CHECK_STR(json_string_value(json_object_get(v, "time")), "2025-11-26T10:12:00.060000000Z");
    json_decref(v);
}

static void route_validates(void)
{
    struct serverproc *s = start_with_attack();
    static const char *const bad[] = {
        "",                                       /* no process */
        "?process=",                              /* empty */
        "?process=not-a-uid",
        "?process=f5647a1c-2100",                 /* two parts */
        "?process=f5647a1x-2100-90200",           /* not hex */
        "?process=f5647a1c-2100-90200x",
        "?process=f5647a1c-12345678901-1",        /* pid too long */
        "?process=f5647a1c-2100-90200&time=1h",   /* a duration is not a moment */
        "?process=f5647a1c-2100-90200&time=yesterday",
        "?process=f5647a1c-2100-90200&time=2025-13-45T99:00:00Z",
        "?process=f5647a1c-2100-90200&time=99999999999999999999",
        "?process=f5647a1c-2100-90200&time=0",
    };
    char path[512];
    json_t *v = NULL;

    CHECK(s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long st;
        snprintf(path, sizeof(path), "/api/v1/devices/%s/story%s", dev_id, bad[i]);
        st = get(s, admin_hdr, path, &v);
        CHECK_MSG(st == 400, "%s: %ld", bad[i], st);
        CHECK_MSG(json_is_string(json_object_get(json_object_get(v, "error"), "message")), "%s", bad[i]);
        json_decref(v);
        v = NULL;
    }
    /* a process the device never reported; a device that does not exist */
    snprintf(path, sizeof(path), "/api/v1/devices/%s/story?process=f5647a1c-4242-1", dev_id);
    CHECK_INT(get(s, admin_hdr, path, NULL), ==, 404);
    CHECK_INT(get(s, admin_hdr, "/api/v1/devices/no-such-host/story?process=" STORYGEN_SCRIPT, NULL), ==, 404);
    /* nobody signed in */
    snprintf(path, sizeof(path), "/api/v1/devices/%s/story?process=" STORYGEN_SCRIPT, dev_id);
    CHECK_INT(get(s, NULL, path, NULL), ==, 401);
}

/* ------------------------------------------------------------------ the CLI */

/* Runs `yamori ARGS` with the saved login of cfg; output into out. */
static int run_cli(const char *cfg, const char *args, char *out, size_t outlen)
{
    char cmd[1024];
    FILE *p;
    size_t n;
    int st;

    snprintf(cmd, sizeof(cmd), "YAMORI_CONFIG=%s COLUMNS=120 %s %s 2>&1", cfg, serverproc_binary(), args);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cli_draws_the_tree(void)
{
    struct serverproc *s = start_with_attack();
    static char out[1 << 16];
    char cfg[256], args[512];
    FILE *f;
    int rc;

    CHECK(s);
    snprintf(cfg, sizeof(cfg), "%s/cli.json", serverproc_data_dir(s));
    f = fopen(cfg, "w");
    CHECK(f);
    fprintf(f, "{\"url\": \"%s\", \"ca\": \"%s\", \"token\": \"%s\"}\n", serverproc_url(s), serverproc_ca(s),
            viewer_hdr + strlen("Authorization: Bearer "));
    fclose(f);

    snprintf(args, sizeof(args), "device story %s --process %s", dev_name, STORYGEN_SCRIPT);
    rc = run_cli(cfg, args, out, sizeof(out));
    if (getenv("STORY_SHOW")) /* to look at the drawing */
        fputs(out, stderr);
    CHECK_MSG(rc == 0, "exit %d: %.400s", rc, out);
    CHECK_MSG(strstr(out, "Started from: an SSH session of root from 203.0.113.10"), "%.600s", out);
    /* the root, then the login shell under it, the script under that */
    CHECK_MSG(strstr(out, "\nsshd  pid 2005  root  "), "%.600s", out);
    CHECK_MSG(strstr(out, "\n\xe2\x94\x94\xe2\x94\x80 bash  pid 2006  root  "), "%.900s", out);
    CHECK_MSG(strstr(out, "\n   \xe2\x94\x94\xe2\x94\x80 bash  pid 2100  root  2025-11-26 "), "%.1500s", out);
    CHECK_MSG(strstr(out, "\xe2\x97\x80 this process"), "%.1500s", out);
    CHECK_MSG(strstr(out, "$ bash /tmp/awsd_attack.sh /tmp/runtime_payload 203.0.113.10 4444"), "%.1500s", out);
    CHECK_MSG(strstr(out, "\xe2\x80\xa2 created /etc/cron.d/awsd, a cron entry that runs /usr/lib/runtime as root at "
                          "boot\n"),
              "%.3000s", out);
    CHECK_MSG(strstr(out, "\xe2\x94\x9c\xe2\x94\x80 systemctl  pid 2101  root  "), "%.3000s", out);
    CHECK_MSG(strstr(out, "\xe2\x80\xa2 stopped the service auditd\n"), "%.3000s", out);
    CHECK_MSG(strstr(out, "\xe2\x80\xa2 connected to 203.0.113.10:4444 (TCP) (3 times)\n"), "%.4000s", out);
    /* the last command is drawn with the closing corner */
    CHECK_MSG(strstr(out, "\xe2\x94\x94\xe2\x94\x80 cat  pid 2113  root  "), "%.6000s", out);

    snprintf(args, sizeof(args), "device story %s --process %s --json", dev_id, STORYGEN_PAYLOAD);
    rc = run_cli(cfg, args, out, sizeof(out));
    CHECK_MSG(rc == 0, "exit %d: %.400s", rc, out);
    {
        json_t *v = json_loads(out, 0, NULL);
        CHECK_MSG(v, "not JSON: %.200s", out);
        CHECK_STR(json_string_value(json_object_get(v, "process")), STORYGEN_PAYLOAD);
        json_decref(v);
    }
    snprintf(args, sizeof(args), "device story %s --process f5647a1c-4242-1", dev_name);
    rc = run_cli(cfg, args, out, sizeof(out));
    CHECK_MSG(rc == 1 && strstr(out, "404"), "exit %d: %.400s", rc, out);
    snprintf(args, sizeof(args), "device story %s", dev_name);
    rc = run_cli(cfg, args, out, sizeof(out));
    CHECK_MSG(rc == 2 && strstr(out, "usage:"), "exit %d: %.400s", rc, out);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"route_tells_the_story", route_tells_the_story},
        {"route_validates", route_validates},
        {"cli_draws_the_tree", cli_draws_the_tree},
        {NULL, NULL},
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    check_set_teardown(teardown);
    rc = check_main("story_http", cases, argc, argv);
    curl_global_cleanup();
    return rc;
}
