/*
 * onboarding.c — onboarding (enrollment) tokens: an administrator creates
 * one, gets it back once inside an onboarding package (server URL, the CA
 * to pin, the token, the device group), lists them and revokes them.
 *
 * The token is 32 random bytes in hex; the store keeps only its SHA-256,
 * so a token can never be shown again. It expires (default: the
 * enroll_hours setting), allows one enrollment unless told otherwise, and
 * may name the device group its devices join. Enrollment itself is in
 * enroll.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/audit.h"
#include "server/devices_int.h"
#include "server/pki.h"
#include "server/server.h"

#define TOKEN_BYTES 32
#define MIN_EXPIRY_S 60
#define MAX_EXPIRY_S (365LL * 86400)
#define MAX_USES 100000

static const char *token_state(const struct store_enroll_token *t, int64_t now)
{
    if (t->revoked_ms)
        return "revoked";
    if (now >= t->expires_ms)
        return "expired";
    if (t->uses >= t->max_uses)
        return "used";
    return "active";
}

static void write_token(struct jsonw *w, const struct store_enroll_token *t, int64_t now)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", t->id);
    jsonw_key(w, "group");
    if (t->group[0])
        jsonw_str(w, t->group);
    else
        jsonw_null(w);
    jsonw_kv_int(w, "uses", t->uses);
    jsonw_kv_int(w, "uses_max", t->max_uses);
    devices_kv_time(w, "created", t->created_ms);
    devices_kv_time(w, "expires", t->expires_ms);
    devices_kv_time(w, "revoked", t->revoked_ms);
    jsonw_kv_str(w, "created_by", t->created_by);
    jsonw_kv_str(w, "state", token_state(t, now));
    jsonw_object_end(w);
}

/* POST /api/v1/onboarding {"expires_seconds": N, "uses": N, "group": "..."} */
static void create_token(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    uint8_t raw[TOKEN_BYTES], hash[32];
    char token[2 * TOKEN_BYTES + 1], url[300], detail[256], target[64];
    const char *group = NULL, *ca = pki_ca_pem(srv), *fp = pki_ca_fingerprint(srv);
    int64_t expires_s = (int64_t)srv->cfg.enroll_hours * 3600, uses = 1, id = 0, now;
    struct store_enroll_token t;
    struct jsonw *w;
    json_t *body = NULL, *v;
    size_t blen;
    bool bad = false;
    int e;

    if (!ca || !fp) {
        http_error(rs, 503, "the certificate authority is not ready");
        goto out;
    }
    http_body(rq, &blen);
    if (blen) {
        body = http_json_body(rq, rs);
        if (!body || !devices_json_only(body, rs, "expires_seconds", "uses", "group", NULL))
            goto out;
        v = json_object_get(body, "expires_seconds");
        if (v && !json_is_null(v)) {
            if (!json_is_integer(v) || json_integer_value(v) < MIN_EXPIRY_S || json_integer_value(v) > MAX_EXPIRY_S) {
                http_error(rs, 400, "expires_seconds: must be a whole number from %d to %lld", MIN_EXPIRY_S,
                           (long long)MAX_EXPIRY_S);
                goto out;
            }
            expires_s = json_integer_value(v);
        }
        v = json_object_get(body, "uses");
        if (v && !json_is_null(v)) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MAX_USES) {
                http_error(rs, 400, "uses: must be a whole number from 1 to %d", MAX_USES);
                goto out;
            }
            uses = json_integer_value(v);
        }
        group = devices_json_str(body, "group", devices_valid_group,
                                 "1 to 64 letters, digits, spaces, '.', '_' or '-'", rs, &bad);
        if (bad)
            goto out;
    }
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(token, sizeof(token), raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    devices_sha256(token, hash);
    now = store_now_ms(srv->store);
    e = store_enroll_token_create(srv->store, hash, group, uses, now + expires_s * 1000, who->user_name, &id);
    if (e) {
        http_error(rs, 500, "cannot store the onboarding token");
        goto out;
    }
    if (store_enroll_token_get(srv->store, id, &t) != 0) {
        http_error(rs, 500, "cannot read the onboarding token back");
        goto out;
    }
    snprintf(detail, sizeof(detail), "{\"group\":\"%s\",\"uses\":%" PRId64 ",\"expires_seconds\":%" PRId64 "}",
             group ? group : "", uses, expires_s);
    snprintf(target, sizeof(target), "token:%lld", (long long)id);
    audit_record(srv, who, http_remote_ip(rq), "onboarding.create", target, detail);
    config_public_url(&srv->cfg, url, sizeof(url));

    http_status(rs, 201);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", id);
    jsonw_kv_str(w, "token", token);
    devices_kv_time(w, "expires", t.expires_ms);
    jsonw_kv_int(w, "uses_max", t.max_uses);
    jsonw_key(w, "group");
    if (group)
        jsonw_str(w, group);
    else
        jsonw_null(w);
    jsonw_key(w, "package");
    jsonw_object_begin(w);
    jsonw_kv_int(w, "version", 1);
    jsonw_key(w, "server_urls");
    jsonw_array_begin(w);
    jsonw_str(w, url);
    jsonw_array_end(w);
    jsonw_kv_str(w, "ca_pem", ca);
    jsonw_kv_str(w, "ca_fingerprint", fp);
    jsonw_kv_str(w, "token", token);
    jsonw_key(w, "group");
    if (group)
        jsonw_str(w, group);
    else
        jsonw_null(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
out:
    sodium_memzero(token, sizeof(token));
    json_decref(body);
}

/* GET /api/v1/onboarding */
static void list_tokens(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_enroll_token *v = NULL;
    int64_t now = store_now_ms(srv->store);
    struct jsonw *w;
    size_t n = 0;

    if (store_enroll_token_list(srv->store, &v, &n) != 0) {
        http_error(rs, 500, "cannot list the onboarding tokens");
        return;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "tokens");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_token(w, &v[i], now);
    jsonw_array_end(w);
    jsonw_object_end(w);
    free(v);
}

/* The :id of the route as a token id; answers 404 when it is not one. */
static bool token_id_param(struct http_request *rq, struct http_response *rs, int64_t *id)
{
    const char *s = http_param(rq, "id");
    int64_t n = 0;
    size_t len = s ? strlen(s) : 0;

    if (len == 0 || len > 15)
        goto bad;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            goto bad;
        n = n * 10 + (s[i] - '0');
    }
    *id = n;
    return true;
bad:
    http_error(rs, 404, "no onboarding token with that id (ids are numbers)");
    return false;
}

/* GET /api/v1/onboarding/:id */
static void get_token(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_enroll_token t;
    int64_t id;
    int e;

    if (!token_id_param(rq, rs, &id))
        return;
    e = store_enroll_token_get(srv->store, id, &t);
    if (e == -ENOENT) {
        http_error(rs, 404, "no onboarding token %lld", (long long)id);
        return;
    }
    if (e) {
        http_error(rs, 500, "cannot read the onboarding token");
        return;
    }
    write_token(http_json(rs), &t, store_now_ms(srv->store));
}

/* DELETE /api/v1/onboarding/:id — revokes; devices it enrolled stay. */
static void revoke_token(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_enroll_token t;
    char target[64];
    int64_t id;
    int e;

    if (!token_id_param(rq, rs, &id))
        return;
    e = store_enroll_token_revoke(srv->store, id);
    if (e == -ENOENT) {
        http_error(rs, 404, "no onboarding token %lld", (long long)id);
        return;
    }
    if (e || store_enroll_token_get(srv->store, id, &t) != 0) {
        http_error(rs, 500, "cannot revoke the onboarding token");
        return;
    }
    snprintf(target, sizeof(target), "token:%lld", (long long)id);
    audit_record(srv, http_principal(rq), http_remote_ip(rq), "onboarding.revoke", target, NULL);
    write_token(http_json(rs), &t, store_now_ms(srv->store));
}

static int onboarding_init(struct server *srv, char *err, size_t errlen)
{
    (void)srv;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium could not initialise (no random source?)");
        return -EIO;
    }
    return 0;
}

static const struct route onboarding_routes[] = {
    {HTTP_POST, "/api/v1/onboarding", ACCESS_USER, ROLE_ADMIN, 0, create_token,
     "create an onboarding token and package"},
    {HTTP_GET, "/api/v1/onboarding", ACCESS_USER, ROLE_ADMIN, 0, list_tokens, "list onboarding tokens"},
    {HTTP_GET, "/api/v1/onboarding/:id", ACCESS_USER, ROLE_ADMIN, 0, get_token, "one onboarding token"},
    {HTTP_DELETE, "/api/v1/onboarding/:id", ACCESS_USER, ROLE_ADMIN, 0, revoke_token, "revoke an onboarding token"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module onboarding_module = {
    .name = "onboarding",
    .order = 30,
    .init = onboarding_init,
    .routes = onboarding_routes,
};
SERVER_MODULE(onboarding_module);
