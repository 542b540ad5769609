/*
 * enroll.c — enrollment of agents and the device authenticator.
 *
 * POST /api/v1/agent/enroll (public: the onboarding token is the
 * credential) checks every field, counts one use of the token atomically
 * with the enrollment (store_device_enroll), and answers the device id and
 * a new secret, once. The device id is a UUID derived from the machine id
 * (SHA-256 of a fixed prefix and the id, version 8), so a machine that
 * enrolls again keeps its id, its history and its tags; with new_identity
 * it gets a random one. Re-enrolling replaces the secret.
 *
 * The authenticator checks `Authorization: Device <id>:<secret>` on every
 * agent request (each event batch among them), so it keeps what it read
 * from the store — the secret's SHA-256 and whether the device is
 * offboarded — in a hash table for CACHE_TTL_MS. Re-enrollment and
 * offboarding drop the entry at once (devices_forget_credentials); the
 * time limit bounds how long another server node sharing the store may
 * accept a revoked secret. A generation counter keeps a lookup that raced
 * with a drop from caching what it read before the change.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "server/audit.h"
#include "server/devices.h"
#include "server/devices_int.h"
#include "server/server.h"

#define SECRET_BYTES 32
#define SECRET_HEX (2 * SECRET_BYTES)
#define CACHE_BUCKETS 4096
#define CACHE_TTL_MS 60000

struct cred {
    char id[STORE_DEVICE_ID_LEN + 1];
    uint8_t hash[STORE_HASH_LEN];
    bool offboarded;
    uint64_t loaded_ms; /* monotonic */
    struct cred *next;
};

struct creds {
    pthread_mutex_t lock;
    uint64_t generation;
    struct cred *buckets[CACHE_BUCKETS];
};

static const struct server_module enroll_module;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t bucket_of(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)(h % CACHE_BUCKETS);
}

/* ------------------------------------------------------------------ the device id */

/* A UUID (version 8, RFC 9562) from SHA-256("yamori-device-id:v1:" +
 * machine id): stable for a machine, and the machine id is not recoverable
 * from it. */
static void derive_device_id(const char *machine_id, char out[STORE_DEVICE_ID_LEN + 1])
{
    static const char prefix[] = "yamori-device-id:v1:";
    crypto_hash_sha256_state s;
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&s);
    crypto_hash_sha256_update(&s, (const unsigned char *)prefix, sizeof(prefix) - 1);
    crypto_hash_sha256_update(&s, (const unsigned char *)machine_id, strlen(machine_id));
    crypto_hash_sha256_final(&s, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    snprintf(out, STORE_DEVICE_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4],
             h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
}

/* A random UUID (version 4). */
static void random_device_id(char out[STORE_DEVICE_ID_LEN + 1])
{
    uint8_t h[16];

    randombytes_buf(h, sizeof(h));
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x40);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    snprintf(out, STORE_DEVICE_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4],
             h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
}

/* ------------------------------------------------------------------ enrollment */

static bool valid_token(const char *s)
{
    return devices_valid_hex(s, 64);
}

static bool valid_machine_id(const char *s)
{
    if (!s || strlen(s) != STORE_MACHINE_ID_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789abcdefABCDEF", *p))
            return false;
    return true;
}

static bool valid_os(const char *s)
{
    return devices_valid_text(s, 128);
}

static bool valid_version(const char *s)
{
    return devices_valid_word(s, 64, ".+~_-");
}

/* The refusal an agent sees for each way a token can be unusable. */
static const char *refusal(int e)
{
    switch (e) {
    case -ENOKEY: return "unknown onboarding token";
    case -EKEYREVOKED: return "the onboarding token was revoked; ask an administrator for a new package";
    case -EKEYEXPIRED: return "the onboarding token has expired; ask an administrator for a new package";
    case -EKEYREJECTED: return "the onboarding token has been used up; ask an administrator for a new package";
    }
    return NULL;
}

/* POST /api/v1/agent/enroll */
static void enroll(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *token, *machine_id, *hostname, *os, *kernel, *version;
    char device_id[STORE_DEVICE_ID_LEN + 1], mid[STORE_MACHINE_ID_LEN + 1], secret[SECRET_HEX + 1];
    char url[300], target[300], detail[512];
    uint8_t raw[SECRET_BYTES], token_hash[STORE_HASH_LEN], secret_hash[STORE_HASH_LEN];
    struct store_enroll_result res;
    struct store_enroll_token known;
    struct principal dev = {.kind = PRINCIPAL_DEVICE};
    struct store_enrollment en;
    struct jsonw *w;
    json_t *body, *v;
    bool bad = false, new_identity = false;
    int e;

    secret[0] = '\0';
    body = http_json_body(rq, rs);
    if (!body)
        goto out;
    token = devices_json_str(body, "token", valid_token, "the onboarding token (64 hex digits)", rs, &bad);
    machine_id = devices_json_str(body, "machine_id", valid_machine_id,
                                  "the 32 hex digits of /etc/machine-id", rs, &bad);
    hostname = devices_json_str(body, "hostname", devices_valid_hostname,
                                "a host name (1 to 253 letters, digits, '-', '_' or '.')", rs, &bad);
    os = devices_json_str(body, "os", valid_os, "text of 1 to 128 printable characters", rs, &bad);
    kernel = devices_json_str(body, "kernel", valid_os, "text of 1 to 128 printable characters", rs, &bad);
    version = devices_json_str(body, "agent_version", valid_version,
                               "a version (1 to 64 letters, digits, '.', '+', '~', '_' or '-')", rs, &bad);
    if (bad)
        goto out;
    if (!token || !machine_id || !hostname) {
        http_error(rs, 400, "%s is required", !token ? "token" : !machine_id ? "machine_id" : "hostname");
        goto out;
    }
    v = json_object_get(body, "new_identity");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            http_error(rs, 400, "new_identity: must be true or false");
            goto out;
        }
        new_identity = json_is_true(v);
    }
    for (size_t i = 0; i <= STORE_MACHINE_ID_LEN; i++)
        mid[i] = (char)(machine_id[i] >= 'A' && machine_id[i] <= 'F' ? machine_id[i] + 32 : machine_id[i]);
    if (new_identity)
        random_device_id(device_id);
    else
        derive_device_id(mid, device_id);
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(secret, sizeof(secret), raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    devices_sha256(token, token_hash);
    devices_sha256(secret, secret_hash);

    /* a read first: an unknown token (a guess) costs no write transaction */
    e = store_enroll_token_find(srv->store, token_hash, &known);
    if (e == -ENOENT) {
        log_info("enrollment of %s from %s refused: %s", hostname, http_remote_ip(rq), refusal(-ENOKEY));
        http_error(rs, 401, "%s", refusal(-ENOKEY));
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot check the onboarding token (store error)");
        goto out;
    }
    en = (struct store_enrollment){
        .token_hash = token_hash,
        .device_id = device_id,
        .machine_id = mid,
        .name = hostname,
        .os = os,
        .kernel = kernel,
        .agent_version = version,
        .secret_hash = secret_hash,
    };
    e = store_device_enroll(srv->store, &en, &res);
    if (refusal(e)) {
        if (e != -ENOKEY) {
            /* a real token used wrongly is worth an audit entry; guesses are not */
            snprintf(target, sizeof(target), "device:%s", hostname);
            snprintf(detail, sizeof(detail), "{\"token_id\":%lld,\"reason\":\"%s\",\"machine_id\":\"%s\"}",
                     (long long)res.token_id,
                     e == -EKEYREVOKED ? "revoked" : e == -EKEYEXPIRED ? "expired" : "used up", mid);
            audit_record(srv, NULL, http_remote_ip(rq), "device.enroll_refused", target, detail);
        }
        log_info("enrollment of %s from %s refused: %s", hostname, http_remote_ip(rq), refusal(e));
        http_error(rs, 401, "%s", refusal(e));
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot record the enrollment (store error)");
        goto out;
    }
    devices_forget_credentials(srv, device_id);
    snprintf(dev.device_id, sizeof(dev.device_id), "%s", device_id);
    snprintf(target, sizeof(target), "device:%s", hostname);
    snprintf(detail, sizeof(detail),
             "{\"device_id\":\"%s\",\"token_id\":%lld,\"reenrolled\":%s,\"new_identity\":%s,\"machine_id\":\"%s\"}",
             device_id, (long long)res.token_id, res.reenrolled ? "true" : "false", new_identity ? "true" : "false",
             mid);
    audit_record(srv, &dev, http_remote_ip(rq), "device.enroll", target, detail);
    log_info("%s %s as %s (token %lld)", res.reenrolled ? "re-enrolled" : "enrolled", hostname, device_id,
             (long long)res.token_id);

    config_public_url(&srv->cfg, url, sizeof(url));
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "device_id", device_id);
    jsonw_kv_str(w, "secret", secret);
    jsonw_kv_uint(w, "heartbeat_seconds", srv->cfg.heartbeat_seconds);
    jsonw_kv_str(w, "server_url", url);
    jsonw_kv_bool(w, "reenrolled", res.reenrolled);
    jsonw_key(w, "group");
    if (res.group[0])
        jsonw_str(w, res.group);
    else
        jsonw_null(w);
    jsonw_object_end(w);
out:
    sodium_memzero(secret, sizeof(secret));
    json_decref(body);
}

/* ------------------------------------------------------------------ the authenticator */

void devices_forget_credentials(struct server *srv, const char *device_id)
{
    struct creds *c = server_module_state(srv, &enroll_module);
    struct cred **pp;

    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->generation++;
    for (pp = &c->buckets[bucket_of(device_id)]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, device_id) == 0) {
            struct cred *gone = *pp;
            *pp = gone->next;
            free(gone);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* What is known of device id: from the cache when fresh, else the store
 * (then cached). 0, -ENOENT, -EIO. */
static int credentials(struct server *srv, struct creds *c, const char *id, uint8_t hash[STORE_HASH_LEN],
                       bool *offboarded)
{
    size_t b = bucket_of(id);
    uint64_t now = mono_ms(), gen;
    struct cred *e;
    int err;

    pthread_mutex_lock(&c->lock);
    for (e = c->buckets[b]; e; e = e->next) {
        if (strcmp(e->id, id) == 0 && now - e->loaded_ms < CACHE_TTL_MS) {
            memcpy(hash, e->hash, STORE_HASH_LEN);
            *offboarded = e->offboarded;
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
    }
    gen = c->generation;
    pthread_mutex_unlock(&c->lock);

    err = store_device_credentials(srv->store, id, hash, offboarded);
    if (err)
        return err;

    pthread_mutex_lock(&c->lock);
    if (c->generation == gen) {
        struct cred **pp;
        for (pp = &c->buckets[b]; *pp && strcmp((*pp)->id, id) != 0; pp = &(*pp)->next)
            ;
        e = *pp;
        if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
            snprintf(e->id, sizeof(e->id), "%s", id);
            e->next = c->buckets[b];
            c->buckets[b] = e;
        }
        if (e) {
            memcpy(e->hash, hash, STORE_HASH_LEN);
            e->offboarded = *offboarded;
            e->loaded_ms = now;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* Authorization: Device <device-id>:<secret> */
static int authenticate_device(struct server *srv, struct http_request *rq, struct http_response *rs,
                               struct principal *p)
{
    struct creds *c = server_module_state(srv, &enroll_module);
    const char *h = http_header(rq, "Authorization"), *cred;
    char id[STORE_DEVICE_ID_LEN + 1], secret[SECRET_HEX + 1];
    uint8_t want[STORE_HASH_LEN], got[STORE_HASH_LEN];
    bool offboarded = false;
    int e, res = -401;

    if (!h || strncasecmp(h, "Device ", 7) != 0)
        return 0;
    cred = h + 7;
    while (*cred == ' ')
        cred++;
    if (strlen(cred) != STORE_DEVICE_ID_LEN + 1 + SECRET_HEX || cred[STORE_DEVICE_ID_LEN] != ':') {
        http_error(rs, 401, "malformed device credentials: expected 'Device <device-id>:<secret>'");
        return -401;
    }
    memcpy(id, cred, STORE_DEVICE_ID_LEN);
    id[STORE_DEVICE_ID_LEN] = '\0';
    memcpy(secret, cred + STORE_DEVICE_ID_LEN + 1, SECRET_HEX + 1);
    if (!devices_valid_id(id) || !devices_valid_hex(secret, SECRET_HEX)) {
        http_error(rs, 401, "malformed device credentials: expected 'Device <device-id>:<secret>'");
        goto out;
    }
    if (!c) {
        http_error(rs, 503, "device authentication is not ready");
        res = -503;
        goto out;
    }
    e = credentials(srv, c, id, want, &offboarded);
    if (e == -ENOENT) {
        http_error(rs, 401, "unknown device or wrong secret");
        goto out;
    }
    if (e) {
        http_error(rs, 503, "cannot check device credentials now (store error); retry later");
        res = -503;
        goto out;
    }
    devices_sha256(secret, got);
    if (sodium_memcmp(got, want, STORE_HASH_LEN) != 0) {
        http_error(rs, 401, "unknown device or wrong secret");
        goto out;
    }
    if (offboarded) {
        http_error(rs, 401, "this device was offboarded; enroll it again with a new onboarding package");
        goto out;
    }
    memset(p, 0, sizeof(*p));
    p->kind = PRINCIPAL_DEVICE;
    snprintf(p->device_id, sizeof(p->device_id), "%s", id);
    res = 1;
out:
    sodium_memzero(secret, sizeof(secret));
    return res;
}

/* ------------------------------------------------------------------ module */

static int enroll_init(struct server *srv, char *err, size_t errlen)
{
    struct creds *c;

    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium could not initialise (no random source?)");
        return -EIO;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&c->lock, NULL);
    server_set_module_state(srv, &enroll_module, c);
    http_set_device_authenticator(srv, authenticate_device);
    return 0;
}

static void enroll_fini(struct server *srv)
{
    struct creds *c = server_module_state(srv, &enroll_module);

    if (!c)
        return;
    http_set_device_authenticator(srv, NULL);
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        while (c->buckets[i]) {
            struct cred *e = c->buckets[i];
            c->buckets[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
    server_set_module_state(srv, &enroll_module, NULL);
}

static const struct route enroll_routes[] = {
    {HTTP_POST, "/api/v1/agent/enroll", ACCESS_PUBLIC, ROLE_NONE, 16 * 1024, enroll,
     "enroll an agent with an onboarding token"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module enroll_module = {
    .name = "enroll",
    .order = 30,
    .init = enroll_init,
    .fini = enroll_fini,
    .routes = enroll_routes,
};
SERVER_MODULE(enroll_module);
