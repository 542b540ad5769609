/*
 * test_devices_api.c — onboarding, enrollment, device credentials,
 * heartbeats, the inventory and the command channel, through the real
 * server binary ($YAMORI_SAN_BIN/yamori) over HTTPS with libcurl.
 *
 * Each case starts its own server (tests/lib/serverproc.h: a temporary
 * data directory, 127.0.0.1 on a free port, user nobody); the teardown
 * stops it by its pid after the case, passed or failed, and fails the case
 * when the server did not exit cleanly (a sanitizer report makes its exit
 * status non-zero).
 *
 * Device-facing cases do not need people's authentication: they create
 * onboarding tokens (and, for the offline queue, commands) directly in the
 * server's store from a child process running as the server's user, the
 * same store functions the API uses. People-facing cases sign in as the
 * first admin (POST /api/v1/auth/login, then POST /api/v1/tokens) and skip,
 * saying why, when that is not available in the build.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#include "serverproc.h"
#include "server/store.h"

/* ------------------------------------------------------------------ the server under test */

struct srv {
    struct serverproc *sp;
    char dir[200];         /* the temporary directory around data/ */
    char data[200];
    char url[64];          /* where the test connects */
    char public_url[400];  /* what the server tells agents (https://<host name>:<port>) */
    char ca[400];
    char admin[256];       /* "Bearer <admin API token>", "" when none */
    char admin_why[300];   /* why there is none */
};

static struct srv S;

static const char *yamori_bin(void)
{
    return serverproc_binary();
}

static bool log_contains(const char *what)
{
    char *text = serverproc_stderr(S.sp);
    bool yes = text && strstr(text, what);
    free(text);
    return yes;
}

/* Starts a server; false with the reason in why. */
static bool srv_start(char *why, size_t whylen)
{
    char host[256] = "localhost", *slash;
    const char *port;

    memset(&S, 0, sizeof(S));
    S.sp = serverproc_start(NULL, why, whylen);
    if (!S.sp)
        return false;
    snprintf(S.url, sizeof(S.url), "%s", serverproc_url(S.sp));
    snprintf(S.data, sizeof(S.data), "%s", serverproc_data_dir(S.sp));
    snprintf(S.ca, sizeof(S.ca), "%s", serverproc_ca(S.sp));
    snprintf(S.dir, sizeof(S.dir), "%s", S.data);
    slash = strrchr(S.dir, '/');
    if (slash)
        *slash = '\0';
    gethostname(host, sizeof(host) - 1);
    port = strrchr(S.url, ':');
    snprintf(S.public_url, sizeof(S.public_url), "https://%s%s", host, port ? port : "");
    return true;
}

/* Stops the server by its pid; fails the case when it did not exit
 * cleanly (a sanitizer report makes the exit status non-zero). */
static void teardown(void)
{
    char *log;
    int status;

    if (!S.sp)
        return;
    log = serverproc_stderr(S.sp);
    status = serverproc_stop(S.sp);
    S.sp = NULL;
    if ((status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) && !check_failed_) {
        const char *tail = log && strlen(log) > 600 ? log + strlen(log) - 600 : log;
        check_fail_(__FILE__, __LINE__, "the server exited with status %d: ...%s",
                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), tail ? tail : "");
    }
    free(log);
}

/* ------------------------------------------------------------------ HTTP */

struct resp {
    long status;
    char *body;
    json_t *json;
    struct serverproc_response raw;
};

static void resp_free(struct resp *r)
{
    serverproc_response_free(&r->raw);
    memset(r, 0, sizeof(*r));
}

/* method path with an Authorization value (NULL: none) and a body (NULL:
 * none). 0 when an answer came. */
static int req(const char *method, const char *path, const char *auth, const char *body, struct resp *r)
{
    char line[600];
    const char *headers[] = {line, NULL};
    int e;

    memset(r, 0, sizeof(*r));
    snprintf(line, sizeof(line), "Authorization: %s", auth ? auth : "");
    e = serverproc_request(S.sp, method, path, body, auth ? headers : NULL, &r->raw);
    r->status = r->raw.status;
    r->body = r->raw.body;
    r->json = r->raw.json;
    return e == 0 ? 0 : -EIO;
}

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static const char *errmsg(const struct resp *r)
{
    const char *m = json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m ? m : (r->body ? r->body : "(no body)");
}

/* ------------------------------------------------------------------ the store, as the server's user */

typedef int (*store_fn)(struct store *st, void *ctx, char *out, size_t outlen);

/* Runs fn on the server's store in a child that became the server's user
 * (so no file of the database ends up owned by root). fn's text comes
 * back in out. Returns fn's result, or -EIO when the child failed. */
static int with_store(store_fn fn, void *ctx, char *out, size_t outlen)
{
    int p[2], status;
    pid_t pid;
    size_t got = 0;
    ssize_t n;

    if (pipe2(p, O_CLOEXEC) != 0)
        return -EIO;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -EIO;
    }
    if (pid == 0) {
        struct passwd *pw = getpwnam("nobody");
        struct store *st = NULL;
        char uri[400], err[256], buf[4096] = "";
        int e;

        close(p[0]);
        if (!pw || setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(2);
        snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", S.data);
        if (store_open(&st, uri, err, sizeof(err)) != 0) {
            dprintf(p[1], "store_open: %s", err);
            _exit(3);
        }
        e = fn(st, ctx, buf, sizeof(buf));
        store_close(st);
        if (write(p[1], buf, strlen(buf)) < 0)
            _exit(4);
        _exit(e == 0 ? 0 : 100 + (-e & 0x7f));
    }
    close(p[1]);
    while (got + 1 < outlen && (n = read(p[0], out + got, outlen - got - 1)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(p[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -EIO;
    if (WEXITSTATUS(status) == 0)
        return 0;
    if (WEXITSTATUS(status) >= 100)
        return -(WEXITSTATUS(status) - 100);
    return -EIO;
}

struct token_spec {
    char token[65];        /* filled by make_token */
    int64_t uses;
    int64_t expires_in_ms; /* may be negative: already expired */
    const char *group;
    bool revoke;
};

static int token_fn(struct store *st, void *ctx, char *out, size_t outlen)
{
    struct token_spec *t = ctx;
    uint8_t hash[32];
    int64_t id;
    int e;

    crypto_hash_sha256(hash, (const unsigned char *)t->token, strlen(t->token));
    e = store_enroll_token_create(st, hash, t->group, t->uses, store_now_ms(st) + t->expires_in_ms, "tests", &id);
    if (!e && t->revoke)
        e = store_enroll_token_revoke(st, id);
    snprintf(out, outlen, "%lld", (long long)id);
    return e;
}

/* A fresh onboarding token in the server's store; its id, or -1. */
static int64_t make_token(struct token_spec *t)
{
    uint8_t raw[32];
    char out[64];

    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(t->token, sizeof(t->token), raw, sizeof(raw));
    if (t->uses == 0)
        t->uses = 1;
    if (t->expires_in_ms == 0)
        t->expires_in_ms = 3600 * 1000;
    if (with_store(token_fn, t, out, sizeof(out)) != 0)
        return -1;
    return strtoll(out, NULL, 10);
}

static int token_uses_fn(struct store *st, void *ctx, char *out, size_t outlen)
{
    struct store_enroll_token t;
    int e = store_enroll_token_get(st, *(int64_t *)ctx, &t);
    snprintf(out, outlen, "%lld", e ? -1LL : (long long)t.uses);
    return e;
}

static long long token_uses(int64_t id)
{
    char out[64];
    if (with_store(token_uses_fn, &id, out, sizeof(out)) != 0)
        return -1;
    return strtoll(out, NULL, 10);
}

/* What the store holds of a device, as one line for comparisons. */
static int device_fn(struct store *st, void *ctx, char *out, size_t outlen)
{
    struct store_device d;
    int e = store_device_get(st, ctx, &d);
    if (e)
        return e;
    snprintf(out, outlen, "name=%s os=%s dist=%s kernel=%s version=%s backend=%s ips=%s lim=%s hb=%lld seen=%d "
                          "eps=%g lost=%lld spool=%lld/%lld cpu=%g mem=%lld fails=%lld",
             d.name, d.os, d.distribution, d.kernel, d.agent_version, d.sensor_backend, d.ips, d.limitations_json,
             (long long)d.last_heartbeat_ms, d.heartbeat_seen, d.events_per_second, (long long)d.events_lost,
             (long long)d.spool_bytes, (long long)d.spool_events, d.cpu_percent, (long long)d.memory_bytes,
             (long long)d.upload_failures);
    store_device_clear(&d);
    return 0;
}

static bool device_state(const char *id, char *out, size_t outlen)
{
    return with_store(device_fn, (void *)id, out, outlen) == 0;
}

struct cmd_spec {
    const char *device_id;
    const char *type;
    int64_t id;
};

static int command_fn(struct store *st, void *ctx, char *out, size_t outlen)
{
    struct cmd_spec *c = ctx;
    int64_t id;
    int e = store_command_create(st, c->device_id, c->type, "{}", "tests", 100, &id);
    snprintf(out, outlen, "%lld", (long long)id);
    return e;
}

/* Queues a command straight into the store (no wake-up: as if queued by
 * another server node); its id or -1. */
static int64_t store_command(const char *device_id, const char *type)
{
    struct cmd_spec c = {device_id, type, 0};
    char out[64];
    if (with_store(command_fn, &c, out, sizeof(out)) != 0)
        return -1;
    return strtoll(out, NULL, 10);
}

/* ------------------------------------------------------------------ devices */

struct dev {
    char id[40];
    char secret[80];
    char auth[160];   /* "Device id:secret" */
};

static void machine_id(int n, char out[33])
{
    snprintf(out, 33, "%08x%024d", 0xdecafbadu, n);
}

/* Enrolls; returns the HTTP status (d filled on 200), r kept for messages. */
static long enroll(const char *token, int machine, const char *hostname, bool new_identity, struct dev *d,
                   char *msg, size_t msglen)
{
    char body[1024], mid[33];
    struct resp r;
    long status;

    machine_id(machine, mid);
    snprintf(body, sizeof(body),
             "{\"token\":\"%s\",\"machine_id\":\"%s\",\"hostname\":\"%s\",\"os\":\"Debian GNU/Linux 12\","
             "\"kernel\":\"6.1.0-18-amd64\",\"agent_version\":\"0.1.0\",\"new_identity\":%s}",
             token, mid, hostname, new_identity ? "true" : "false");
    if (req("POST", "/api/v1/agent/enroll", NULL, body, &r) != 0)
        return 0;
    status = r.status;
    if (msg)
        snprintf(msg, msglen, "%s", errmsg(&r));
    if (status == 200 && d) {
        snprintf(d->id, sizeof(d->id), "%s", jstr(r.json, "device_id") ? jstr(r.json, "device_id") : "");
        snprintf(d->secret, sizeof(d->secret), "%s", jstr(r.json, "secret") ? jstr(r.json, "secret") : "");
        snprintf(d->auth, sizeof(d->auth), "Device %s:%s", d->id, d->secret);
    }
    resp_free(&r);
    return status;
}

static const char good_heartbeat[] =
    "{\"agent_version\":\"0.1.0\",\"sensor_backend\":\"ebpf\",\"sensor_limitations\":[],"
    "\"events_per_second\":12.5,\"events_lost\":0,\"spool_bytes\":123456,\"spool_events\":800,"
    "\"cpu_percent\":0.5,\"memory_bytes\":30408704,\"hostname\":\"web-1\",\"ips\":[\"10.0.0.5\"],"
    "\"os\":\"Debian GNU/Linux 12\",\"distribution\":\"debian\",\"kernel\":\"6.1.0-18-amd64\"}";

static long post_as(const struct dev *d, const char *path, const char *body, struct resp *r)
{
    if (req("POST", path, d ? d->auth : NULL, body, r) != 0)
        return 0;
    return r->status;
}

/* ------------------------------------------------------------------ people */

/* An admin API token (into S.admin), through the people's API. false,
 * with the reason in S.admin_why, when the build cannot give one. */
static bool admin(void)
{
    char token[200], cookie[300], csrf[100];
    long status;

    if (S.admin[0])
        return true;
    status = serverproc_login(S.sp, "admin", SERVERPROC_ADMIN_PASSWORD, cookie, sizeof(cookie), csrf, sizeof(csrf));
    if (status == 404) {
        snprintf(S.admin_why, sizeof(S.admin_why), "the auth module is not in this build (login answers 404)");
        return false;
    }
    if (status != 200) {
        snprintf(S.admin_why, sizeof(S.admin_why), "cannot sign in as the first admin (HTTP %ld)", status);
        return false;
    }
    status = serverproc_create_token(S.sp, cookie, csrf, NULL, NULL, token, sizeof(token));
    if (status != 201 && status != 200) {
        snprintf(S.admin_why, sizeof(S.admin_why), "cannot create an API token (HTTP %ld)", status);
        return false;
    }
    snprintf(S.admin, sizeof(S.admin), "Bearer %s", token);
    return true;
}

/* An API token of a new user with role; false when it cannot. */
static bool user_token(const char *name, const char *role, char *out, size_t outlen)
{
    char body[300];
    struct resp r;
    bool ok;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\",\"password\":\"a long password for %s\"}", name,
             role, name);
    if (req("POST", "/api/v1/users", S.admin, body, &r) != 0 || (r.status != 200 && r.status != 201)) {
        resp_free(&r);
        return false;
    }
    resp_free(&r);
    snprintf(body, sizeof(body), "{\"name\":\"t-%s\",\"user\":\"%s\"}", name, name);
    ok = req("POST", "/api/v1/tokens", S.admin, body, &r) == 0 && (r.status == 200 || r.status == 201) &&
         jstr(r.json, "token");
    if (ok)
        snprintf(out, outlen, "Bearer %s", jstr(r.json, "token"));
    resp_free(&r);
    return ok;
}

#define START()                                                                                    \
    do {                                                                                           \
        char why_[512];                                                                            \
        if (!srv_start(why_, sizeof(why_)))                                                        \
            CHECK_MSG(false, "cannot start the server: %s", why_);                               \
    } while (0)

#define NEED_ADMIN()                                                                               \
    do {                                                                                           \
        if (!admin())                                                                              \
            SKIP("needs an admin API token: %s", S.admin_why);                                    \
    } while (0)

/* ================================================================== device-facing cases */

static void test_enroll_and_authenticate(void)
{
    struct token_spec t = {.uses = 1, .group = "web servers"};
    struct dev d;
    struct resp r = {0};
    char msg[300], state[2048];
    int64_t tid;

    START();
    tid = make_token(&t);
    CHECK(tid > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, msg, sizeof(msg)), ==, 200);
    CHECK_INT(strlen(d.id), ==, 36);
    CHECK_INT(d.id[14], ==, '8'); /* derived: a version 8 UUID */
    CHECK_INT(strlen(d.secret), ==, 64);
    CHECK_INT(token_uses(tid), ==, 1);
    CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 200);
    CHECK_INT(json_integer_value(json_object_get(r.json, "heartbeat_seconds")), ==, 30);
    resp_free(&r);
    CHECK(device_state(d.id, state, sizeof(state)));
    CHECK_MSG(strstr(state, "name=web-1 ") && strstr(state, "ips=10.0.0.5 ") && strstr(state, "backend=ebpf"),
              "stored: %s", state);
    CHECK(log_contains("enrolled web-1"));
}

static void test_enroll_answer(void)
{
    struct token_spec t = {.uses = 1};
    char body[512], mid[33];
    struct resp r = {0};

    START();
    CHECK(make_token(&t) > 0);
    machine_id(2, mid);
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"machine_id\":\"%s\",\"hostname\":\"db-1\"}", t.token, mid);
    CHECK_INT(post_as(NULL, "/api/v1/agent/enroll", body, &r), ==, 200);
    CHECK_STR(jstr(r.json, "server_url"), S.public_url);
    CHECK_INT(json_integer_value(json_object_get(r.json, "heartbeat_seconds")), ==, 30);
    CHECK(json_is_string(json_object_get(r.json, "device_id")));
    CHECK(json_is_false(json_object_get(r.json, "reenrolled")));
    resp_free(&r);
}

static void test_reenroll_keeps_id(void)
{
    struct token_spec t = {.uses = 5};
    struct dev a, b, c, e;
    struct resp r = {0};

    START();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 7, "app-1", false, &a, NULL, 0), ==, 200);
    CHECK_INT(enroll(t.token, 7, "app-1", false, &b, NULL, 0), ==, 200);
    CHECK_STR(a.id, b.id);
    CHECK(strcmp(a.secret, b.secret) != 0);
    /* the old secret stopped working at once, the new one works */
    CHECK_INT(post_as(&a, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 401);
    resp_free(&r);
    CHECK_INT(post_as(&b, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 200);
    resp_free(&r);
    /* a new identity on request */
    CHECK_INT(enroll(t.token, 7, "app-1", true, &c, NULL, 0), ==, 200);
    CHECK(strcmp(c.id, a.id) != 0);
    CHECK_INT(c.id[14], ==, '4');
    /* another machine, another id */
    CHECK_INT(enroll(t.token, 8, "app-2", false, &e, NULL, 0), ==, 200);
    CHECK(strcmp(e.id, a.id) != 0);
    /* the old identity keeps working beside the new one */
    CHECK_INT(post_as(&b, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 200);
    resp_free(&r);
}

static void test_token_refusals(void)
{
    struct token_spec once = {.uses = 1}, expired = {.uses = 5, .expires_in_ms = -1000};
    struct token_spec revoked = {.uses = 5, .revoke = true};
    char msg[300], unknown[65];
    int64_t once_id, expired_id;

    START();
    once_id = make_token(&once);
    expired_id = make_token(&expired);
    CHECK(once_id > 0 && expired_id > 0 && make_token(&revoked) > 0);
    CHECK_INT(enroll(once.token, 1, "h1", false, NULL, msg, sizeof(msg)), ==, 200);
    CHECK_INT(enroll(once.token, 2, "h2", false, NULL, msg, sizeof(msg)), ==, 401);
    CHECK_MSG(strstr(msg, "used up"), "message: %s", msg);
    /* the same machine again is a second use too */
    CHECK_INT(enroll(once.token, 1, "h1", false, NULL, msg, sizeof(msg)), ==, 401);
    CHECK_INT(token_uses(once_id), ==, 1);
    CHECK_INT(enroll(expired.token, 3, "h3", false, NULL, msg, sizeof(msg)), ==, 401);
    CHECK_MSG(strstr(msg, "expired"), "message: %s", msg);
    CHECK_INT(token_uses(expired_id), ==, 0);
    CHECK_INT(enroll(revoked.token, 4, "h4", false, NULL, msg, sizeof(msg)), ==, 401);
    CHECK_MSG(strstr(msg, "revoked"), "message: %s", msg);
    memset(unknown, 'a', 64);
    unknown[64] = '\0';
    CHECK_INT(enroll(unknown, 5, "h5", false, NULL, msg, sizeof(msg)), ==, 401);
    CHECK_MSG(strstr(msg, "unknown"), "message: %s", msg);
}

struct racer {
    const char *token;
    int machine;
    pthread_barrier_t *barrier;
    long status;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char name[32];

    snprintf(name, sizeof(name), "racer-%d", r->machine);
    pthread_barrier_wait(r->barrier);
    r->status = enroll(r->token, r->machine, name, false, NULL, NULL, 0);
    return NULL;
}

static void test_racing_enrolments(void)
{
    enum { N = 8 };
    struct token_spec t = {.uses = 1};
    struct racer rc[N];
    pthread_t th[N];
    pthread_barrier_t barrier;
    int64_t tid;
    int ok = 0, refused = 0;

    START();
    tid = make_token(&t);
    CHECK(tid > 0);
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        rc[i] = (struct racer){.token = t.token, .machine = 100 + i, .barrier = &barrier};
        pthread_create(&th[i], NULL, race, &rc[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += rc[i].status == 200;
        refused += rc[i].status == 401;
    }
    pthread_barrier_destroy(&barrier);
    CHECK_INT(ok, ==, 1);
    CHECK_INT(refused, ==, N - 1);
    CHECK_INT(token_uses(tid), ==, 1);
}

static void test_device_credentials(void)
{
    struct token_spec t = {.uses = 2};
    struct dev d, wrong;
    struct resp r = {0};
    const char *bad[] = {
        "Device",
        "Device ",
        "Device nonsense",
        "Bearer ymt_abc",
        NULL,
    };

    START();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, NULL, 0), ==, 200);
    CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 200);
    resp_free(&r);
    /* a wrong secret, of the right form */
    wrong = d;
    wrong.auth[strlen(wrong.auth) - 1] = wrong.auth[strlen(wrong.auth) - 1] == '0' ? '1' : '0';
    CHECK_INT(post_as(&wrong, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 401);
    resp_free(&r);
    /* an unknown device */
    snprintf(wrong.auth, sizeof(wrong.auth), "Device 00000000-0000-8000-8000-000000000000:%s", d.secret);
    CHECK_INT(post_as(&wrong, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 401);
    resp_free(&r);
    /* a secret too long, too short, upper case */
    snprintf(wrong.auth, sizeof(wrong.auth), "Device %s:%s0", d.id, d.secret);
    CHECK_INT(post_as(&wrong, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 401);
    resp_free(&r);
    snprintf(wrong.auth, sizeof(wrong.auth), "Device %s:%.63s", d.id, d.secret);
    CHECK_INT(post_as(&wrong, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 401);
    resp_free(&r);
    for (int i = 0; bad[i]; i++) {
        CHECK_INT(req("POST", "/api/v1/agent/heartbeat", bad[i], good_heartbeat, &r), ==, 0);
        CHECK_MSG(r.status == 401, "%s -> %ld", bad[i], r.status);
        resp_free(&r);
    }
    /* no credentials at all */
    CHECK_INT(post_as(NULL, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 401);
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/agent/commands", NULL, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 401);
    resp_free(&r);
    /* device credentials open no people's route */
    CHECK_INT(req("GET", "/api/v1/devices", d.auth, NULL, &r), ==, 0);
    CHECK_MSG(r.status == 401 || r.status == 403, "GET /api/v1/devices as a device -> %ld", r.status);
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/devices/web-1/commands", d.auth, NULL, &r), ==, 0);
    CHECK_MSG(r.status == 401 || r.status == 403, "a device's commands through the people's route -> %ld",
              r.status);
    resp_free(&r);
}

static void test_heartbeat_validation(void)
{
    static const char *const hostile[] = {
        "",
        "not json",
        "[1,2,3]",
        "{\"agent_version\": 5}",
        "{\"agent_version\": \"0.1.0 rc\"}",
        "{\"sensor_backend\": \"e bpf\"}",
        "{\"sensor_backend\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{\"sensor_limitations\": \"network events: off\"}",
        "{\"sensor_limitations\": [1]}",
        "{\"sensor_limitations\": [\"\"]}",
        "{\"sensor_limitations\": [\"bell\\u0007\"]}",
        "{\"events_per_second\": -1}",
        "{\"events_per_second\": \"12\"}",
        "{\"events_lost\": 1.5}",
        "{\"events_lost\": -3}",
        "{\"spool_bytes\": 18446744073709551615}",
        "{\"spool_events\": true}",
        "{\"cpu_percent\": 1e300}",
        "{\"memory_bytes\": {}}",
        "{\"upload_failures\": \"3\"}",
        "{\"hostname\": \"web 1\"}",
        "{\"hostname\": \"-web\"}",
        "{\"hostname\": \"\"}",
        "{\"ips\": \"10.0.0.5\"}",
        "{\"ips\": [\"10.0.0.256\"]}",
        "{\"ips\": [\"10.0.0.5/24\"]}",
        "{\"ips\": [\"fe80::1%eth0\"]}",
        "{\"ips\": [5]}",
        "{\"os\": \"line\\nbreak\"}",
        "{\"kernel\": 6}",
        "{\"distribution\": []}",
        "{\"os\": \"a\", \"os\": \"b\"}",
        "{\"hostname\": \"web-2\", \"ips\": [\"10.0.0.9\"], \"events_lost\": -1}",
        NULL,
    };
    struct token_spec t = {.uses = 1};
    char before[2048], after[2048], big[70000];
    struct resp r = {0};
    struct dev d;

    START();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, NULL, 0), ==, 200);
    CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 200);
    resp_free(&r);
    CHECK(device_state(d.id, before, sizeof(before)));
    for (int i = 0; hostile[i]; i++) {
        CHECK_INT(req("POST", "/api/v1/agent/heartbeat", d.auth, hostile[i], &r), ==, 0);
        CHECK_MSG(r.status == 400, "%s -> %ld %s", hostile[i], r.status, errmsg(&r));
        CHECK_MSG(json_is_object(json_object_get(r.json, "error")), "no error object for %s", hostile[i]);
        resp_free(&r);
    }
    /* too many addresses, too many limitations, a body over the limit */
    {
        size_t o = (size_t)snprintf(big, sizeof(big), "{\"ips\":[");
        for (int i = 0; i < 40; i++)
            o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"10.1.0.%d\"", i ? "," : "", i);
        snprintf(big + o, sizeof(big) - o, "]}");
        CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", big, &r), ==, 400);
        resp_free(&r);
        o = (size_t)snprintf(big, sizeof(big), "{\"sensor_limitations\":[\"");
        memset(big + o, 'x', 600);
        snprintf(big + o + 600, sizeof(big) - o - 600, "\"]}");
        CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", big, &r), ==, 400);
        resp_free(&r);
        o = (size_t)snprintf(big, sizeof(big), "{\"os\":\"");
        memset(big + o, 'x', 66000);
        snprintf(big + o + 66000, sizeof(big) - o - 66000, "\"}");
        CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", big, &r), ==, 413);
        resp_free(&r);
    }
    CHECK(device_state(d.id, after, sizeof(after)));
    CHECK_STR(after, before);
    /* unknown keys are ignored; absent keys keep what was known */
    CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", "{\"future_key\": [1, {\"x\": 2}], \"spool_events\": 3}", &r),
              ==, 200);
    resp_free(&r);
    CHECK(device_state(d.id, after, sizeof(after)));
    CHECK_MSG(strstr(after, "spool=123456/3 ") && strstr(after, "name=web-1 "), "stored: %s", after);
    /* addresses are stored in their canonical form */
    CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", "{\"ips\": [\"FD00:0:0::5\", \"192.168.1.7\"]}", &r), ==, 200);
    resp_free(&r);
    CHECK(device_state(d.id, after, sizeof(after)));
    CHECK_MSG(strstr(after, "ips=fd00::5 192.168.1.7 "), "stored: %s", after);
}

/* tpl with {T} (the token), {T63} (its first 63 characters), {M} (the
 * machine id) and {M31} (its first 31) replaced, into out. */
static void fill(char *out, size_t outlen, const char *tpl, const char *token, const char *mid)
{
    size_t o = 0;

    for (const char *p = tpl; *p && o + 1 < outlen;) {
        const char *v = NULL;
        size_t vl = 0, skip = 0;
        if (!strncmp(p, "{T63}", 5))
            v = token, vl = 63, skip = 5;
        else if (!strncmp(p, "{T}", 3))
            v = token, vl = strlen(token), skip = 3;
        else if (!strncmp(p, "{M31}", 5))
            v = mid, vl = 31, skip = 5;
        else if (!strncmp(p, "{M}", 3))
            v = mid, vl = strlen(mid), skip = 3;
        if (v) {
            if (o + vl >= outlen)
                break;
            memcpy(out + o, v, vl);
            o += vl;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static void test_enroll_hostile(void)
{
    static const char *const templates[] = {
        "",
        "nonsense",
        "[]",
        "{}",
        "{\"token\":\"{T}\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\"}",
        "{\"token\":5,\"machine_id\":\"{M}\",\"hostname\":\"h\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":\"h\",\"new_identity\":\"yes\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M31}\",\"hostname\":\"h\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}a\",\"hostname\":\"h\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M31}g\",\"hostname\":\"h\"}",
        "{\"token\":\"{T}\",\"machine_id\":12,\"hostname\":\"h\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":\"h o\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":\"h\\u0000\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":\".h\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":[\"h\"]}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":\"h\",\"os\":\"a\\tb\"}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":\"h\",\"kernel\":[]}",
        "{\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":\"h\",\"agent_version\":\"1 2\"}",
        "{\"token\":\"{T63}\",\"machine_id\":\"{M}\",\"hostname\":\"h\"}",
        "{\"token\":\"{T}X\",\"machine_id\":\"{M}\",\"hostname\":\"h\"}",
        "{\"token\":\"{T}\",\"token\":\"{T}\",\"machine_id\":\"{M}\",\"hostname\":\"h\"}",
        NULL,
    };
    struct token_spec t = {.uses = 1};
    char body[1024], mid[33], name[300], *big;
    struct resp r = {0};
    int64_t tid;

    START();
    tid = make_token(&t);
    CHECK(tid > 0);
    machine_id(1, mid);
    for (int i = 0; templates[i]; i++) {
        fill(body, sizeof(body), templates[i], t.token, mid);
        post_as(NULL, "/api/v1/agent/enroll", body, &r);
        CHECK_MSG(r.status == 400, "%s -> %ld %s", body, r.status, errmsg(&r));
        resp_free(&r);
    }
    /* a host name longer than 253 */
    memset(name, 'a', 260);
    name[260] = '\0';
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"machine_id\":\"%s\",\"hostname\":\"%s\"}", t.token, mid,
             name);
    CHECK_INT(post_as(NULL, "/api/v1/agent/enroll", body, &r), ==, 400);
    resp_free(&r);
    /* a body over the route's limit */
    big = malloc(40000);
    CHECK(big);
    memset(big, ' ', 39999);
    big[39999] = '\0';
    memcpy(big, "{\"x\":\"", 6);
    big[39997] = '"';
    big[39998] = '}';
    post_as(NULL, "/api/v1/agent/enroll", big, &r);
    free(big);
    CHECK_INT(r.status, ==, 413);
    resp_free(&r);
    /* nothing was used */
    CHECK_INT(token_uses(tid), ==, 0);
    CHECK_INT(enroll(t.token, 1, "h", false, NULL, NULL, 0), ==, 200);
}

static void test_poll_empty_after_wait(void)
{
    struct token_spec t = {.uses = 1};
    struct resp r = {0};
    struct dev d;
    const char *bad[] = {"?wait=61", "?wait=-1", "?wait=abc", "?wait=", "?wait=1e3", "?wait=99999999999", NULL};

    START();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, NULL, 0), ==, 200);
    CHECK_INT(req("GET", "/api/v1/agent/commands?wait=1", d.auth, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK(json_is_array(json_object_get(r.json, "commands")));
    CHECK_INT(json_array_size(json_object_get(r.json, "commands")), ==, 0);
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/agent/commands", d.auth, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "commands")), ==, 0);
    resp_free(&r);
    for (int i = 0; bad[i]; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/agent/commands%s", bad[i]);
        CHECK_INT(req("GET", path, d.auth, NULL, &r), ==, 0);
        CHECK_MSG(r.status == 400, "%s -> %ld", bad[i], r.status);
        resp_free(&r);
    }
}

static void test_offline_commands_delivered(void)
{
    struct token_spec t = {.uses = 1};
    struct resp r = {0};
    int64_t c1, c2;
    char path[128];
    struct dev d;
    json_t *cmds;

    START();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, NULL, 0), ==, 200);
    /* queued while nobody polls */
    c1 = store_command(d.id, "ping");
    c2 = store_command(d.id, "ping");
    CHECK(c1 > 0 && c2 > c1);
    CHECK_INT(req("GET", "/api/v1/agent/commands?wait=30", d.auth, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    cmds = json_object_get(r.json, "commands");
    CHECK_INT(json_array_size(cmds), ==, 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(cmds, 0), "id")), ==, c1);
    CHECK_STR(jstr(json_array_get(cmds, 0), "type"), "ping");
    CHECK(json_is_object(json_object_get(json_array_get(cmds, 0), "args")));
    CHECK(jstr(json_array_get(cmds, 0), "created"));
    resp_free(&r);
    /* handed out once: the next poll has nothing */
    CHECK_INT(req("GET", "/api/v1/agent/commands?wait=0", d.auth, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "commands")), ==, 0);
    resp_free(&r);

    /* results: recorded once */
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/result", (long long)c1);
    CHECK_INT(post_as(&d, path,
                      "{\"status\":\"succeeded\",\"output\":{\"agent_version\":\"0.1.0\",\"time\":\"2026-11-26T10:00:00Z\"},"
                      "\"error\":null}",
                      &r), ==, 200);
    CHECK(json_is_true(json_object_get(r.json, "recorded")));
    CHECK_STR(jstr(r.json, "status"), "succeeded");
    resp_free(&r);
    CHECK_INT(post_as(&d, path, "{\"status\":\"failed\",\"error\":\"again\"}", &r), ==, 200);
    CHECK(json_is_false(json_object_get(r.json, "recorded")));
    CHECK_STR(jstr(r.json, "status"), "succeeded");
    resp_free(&r);

    /* hostile results change nothing */
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/result", (long long)c2);
    {
        const char *const hostile[] = {
            "",
            "[]",
            "{}",
            "{\"status\":\"done\"}",
            "{\"status\":1}",
            "{\"status\":\"failed\",\"error\":5}",
            "{\"status\":\"failed\",\"error\":\"\\u0001\"}",
            "{\"status\":\"succeeded\"}",
            "{\"status\":\"succeeded\",\"output\":{\"time\":\"x\"}}",
            "{\"status\":\"succeeded\",\"output\":\"pong\"}",
            NULL,
        };
        for (int i = 0; hostile[i]; i++) {
            CHECK_INT(post_as(&d, path, hostile[i], &r), ==, 400);
            resp_free(&r);
        }
    }
    CHECK_INT(post_as(&d, "/api/v1/agent/commands/abc/result", "{\"status\":\"failed\"}", &r), ==, 404);
    resp_free(&r);
    CHECK_INT(post_as(&d, "/api/v1/agent/commands/999999/result", "{\"status\":\"failed\"}", &r), ==, 404);
    resp_free(&r);
    CHECK_INT(post_as(&d, path, "{\"status\":\"failed\",\"error\":\"no ping today\\nsecond line\"}", &r), ==, 200);
    CHECK(json_is_true(json_object_get(r.json, "recorded")));
    resp_free(&r);
}

static void test_device_cannot_read_other_commands(void)
{
    struct token_spec t = {.uses = 2};
    struct resp r = {0};
    struct dev a, b;
    char path[128];
    int64_t c;

    START();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "a", false, &a, NULL, 0), ==, 200);
    CHECK_INT(enroll(t.token, 2, "b", false, &b, NULL, 0), ==, 200);
    c = store_command(a.id, "ping");
    CHECK(c > 0);
    CHECK_INT(req("GET", "/api/v1/agent/commands?wait=1", b.auth, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "commands")), ==, 0);
    resp_free(&r);
    /* b cannot answer for a, whether or not a received it */
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/result", (long long)c);
    CHECK_INT(post_as(&b, path, "{\"status\":\"failed\",\"error\":\"forged\"}", &r), ==, 404);
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/agent/commands", a.auth, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "commands")), ==, 1);
    resp_free(&r);
    CHECK_INT(post_as(&b, path, "{\"status\":\"failed\",\"error\":\"forged\"}", &r), ==, 404);
    resp_free(&r);
    CHECK_INT(post_as(&a, path, "{\"status\":\"succeeded\",\"output\":{\"agent_version\":\"0.1.0\",\"time\":\"t\"}}",
                      &r), ==, 200);
    CHECK(json_is_true(json_object_get(r.json, "recorded")));
    resp_free(&r);
}

/* ================================================================== people-facing cases */

/* POST /api/v1/onboarding as admin with body; the answer in r. */
static long onboarding(const char *body, struct resp *r)
{
    if (req("POST", "/api/v1/onboarding", S.admin, body, r) != 0)
        return 0;
    return r->status;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 16);
    if (f && buf) {
        size_t n = fread(buf, 1, (1 << 16) - 1, f);
        buf[n] = '\0';
    }
    if (f)
        fclose(f);
    return buf;
}

/* Writes a CLI configuration for the admin token and points YAMORI_CONFIG
 * at it. */
static bool cli_setup(const char *token_header)
{
    char path[400];
    FILE *f;

    snprintf(path, sizeof(path), "%s/cli.json", S.dir);
    f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "{\"url\":\"%s\",\"ca\":\"%s\",\"token\":\"%s\"}\n", S.url, S.ca, token_header + 7);
    fclose(f);
    setenv("YAMORI_CONFIG", path, 1);
    return true;
}

/* Runs the CLI with args (a shell fragment); its standard output into out;
 * returns its exit status. */
static int cli(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cli(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[2048], args[1500];
    va_list ap;
    size_t n = 0;
    FILE *p;
    int status;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", yamori_bin(), args);
    fflush(NULL);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    while (n + 1 < outlen) {
        size_t k = fread(out + n, 1, outlen - n - 1, p);
        if (k == 0)
            break;
        n += k;
    }
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_onboarding_package(void)
{
    struct resp r = {0}, l = {0};
    char *ca = NULL, *file = NULL, out[4096], path[400];
    json_t *pkg, *list, *saved = NULL;
    struct dev d;
    struct stat sb;
    int64_t id;

    START();
    NEED_ADMIN();
    CHECK_INT(onboarding("{\"group\":\"web servers\",\"uses\":2,\"expires_seconds\":7200}", &r), ==, 201);
    id = json_integer_value(json_object_get(r.json, "id"));
    CHECK(id > 0);
    pkg = json_object_get(r.json, "package");
    CHECK_INT(json_integer_value(json_object_get(pkg, "version")), ==, 1);
    CHECK_STR(json_string_value(json_array_get(json_object_get(pkg, "server_urls"), 0)), S.public_url);
    ca = slurp(S.ca);
    CHECK(ca && ca[0]);
    CHECK_STR(jstr(pkg, "ca_pem"), ca);
    CHECK(!strncmp(jstr(pkg, "ca_fingerprint"), "SHA256:", 7));
    CHECK_INT(strlen(jstr(pkg, "token")), ==, 64);
    CHECK_STR(jstr(pkg, "token"), jstr(r.json, "token"));
    CHECK_STR(jstr(pkg, "group"), "web servers");
    CHECK_INT(json_integer_value(json_object_get(r.json, "uses_max")), ==, 2);
    /* the token enrolls into its group */
    CHECK_INT(enroll(jstr(pkg, "token"), 1, "web-1", false, &d, NULL, 0), ==, 200);
    /* listed, with one use; the token itself is never shown again */
    CHECK_INT(req("GET", "/api/v1/onboarding", S.admin, NULL, &l), ==, 0);
    CHECK_INT(l.status, ==, 200);
    list = json_object_get(l.json, "tokens");
    CHECK_INT(json_array_size(list), ==, 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(list, 0), "uses")), ==, 1);
    CHECK_STR(jstr(json_array_get(list, 0), "state"), "active");
    CHECK(!strstr(l.body, jstr(r.json, "token")));
    resp_free(&l);
    /* revoked: no more enrollments */
    snprintf(path, sizeof(path), "/api/v1/onboarding/%lld", (long long)id);
    CHECK_INT(req("DELETE", path, S.admin, NULL, &l), ==, 0);
    CHECK_INT(l.status, ==, 200);
    CHECK_STR(jstr(l.json, "state"), "revoked");
    resp_free(&l);
    CHECK_INT(enroll(jstr(pkg, "token"), 2, "web-2", false, NULL, NULL, 0), ==, 401);
    CHECK_INT(req("DELETE", "/api/v1/onboarding/424242", S.admin, NULL, &l), ==, 0);
    CHECK_INT(l.status, ==, 404);
    resp_free(&l);

    /* the CLI writes the same package, readable by its owner only */
    CHECK(cli_setup(S.admin));
    snprintf(path, sizeof(path), "%s/package.json", S.dir);
    CHECK_MSG(cli(out, sizeof(out), "onboard --expires 2h --group db --one-time --output '%s'", path) == 0, "%s", out);
    CHECK_INT(stat(path, &sb), ==, 0);
    CHECK_INT(sb.st_mode & 0777, ==, 0600);
    file = slurp(path);
    saved = json_loads(file, 0, NULL);
    CHECK(saved);
    CHECK_INT(json_integer_value(json_object_get(saved, "version")), ==, 1);
    CHECK_STR(jstr(saved, "ca_pem"), ca);
    CHECK_STR(jstr(saved, "group"), "db");
    CHECK_STR(json_string_value(json_array_get(json_object_get(saved, "server_urls"), 0)), S.public_url);
    CHECK_INT(enroll(jstr(saved, "token"), 3, "db-1", false, NULL, NULL, 0), ==, 200);
    CHECK_INT(enroll(jstr(saved, "token"), 4, "db-2", false, NULL, NULL, 0), ==, 401);
    CHECK_MSG(cli(out, sizeof(out), "onboard --list") == 0, "%s", out);
    CHECK_MSG(strstr(out, "revoked") && strstr(out, "used") && strstr(out, "db"), "list: %s", out);
    CHECK_MSG(cli(out, sizeof(out), "onboard --expires soon") == 2, "%s", out);
    resp_free(&r);
    free(ca);
    free(file);
    json_decref(saved);
}

static void test_onboarding_hostile(void)
{
    static const char *const hostile[] = {
        "nonsense",
        "[]",
        "{\"expires_seconds\":\"3600\"}",
        "{\"expires_seconds\":10}",
        "{\"expires_seconds\":-5}",
        "{\"expires_seconds\":99999999999}",
        "{\"uses\":0}",
        "{\"uses\":\"2\"}",
        "{\"uses\":1.5}",
        "{\"uses\":1000001}",
        "{\"group\":5}",
        "{\"group\":\"\"}",
        "{\"group\":\" web\"}",
        "{\"group\":\"web;drop\"}",
        "{\"group\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{\"expires\":\"24h\"}",
        NULL,
    };
    struct resp r = {0};

    START();
    NEED_ADMIN();
    for (int i = 0; hostile[i]; i++) {
        CHECK_MSG(onboarding(hostile[i], &r) == 400, "%s -> %ld", hostile[i], r.status);
        resp_free(&r);
    }
    CHECK_INT(req("GET", "/api/v1/onboarding", S.admin, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "tokens")), ==, 0);
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/onboarding/abc", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 404);
    resp_free(&r);
    /* without a body: the defaults (one use, enroll_hours) */
    CHECK_INT(req("POST", "/api/v1/onboarding", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 201);
    CHECK_INT(json_integer_value(json_object_get(r.json, "uses_max")), ==, 1);
    CHECK(json_is_null(json_object_get(r.json, "group")));
    resp_free(&r);
}

struct poller {
    const struct dev *d;
    const char *query;
    struct resp r;
};

static void *poll_thread(void *arg)
{
    struct poller *p = arg;
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/agent/commands%s", p->query);
    req("GET", path, p->d->auth, NULL, &p->r);
    return NULL;
}

/* Whether GET /api/v1/devices/:id says a command poll waits. */
static bool online(const char *id)
{
    struct resp r;
    char path[128];
    bool yes;

    snprintf(path, sizeof(path), "/api/v1/devices/%s", id);
    if (req("GET", path, S.admin, NULL, &r) != 0)
        return false;
    yes = json_is_true(json_object_get(r.json, "online"));
    resp_free(&r);
    return yes;
}

static void test_long_poll_wakes_at_once(void)
{
    enum { N = 8 };
    struct token_spec t = {.uses = N};
    struct poller p = {0}, idle[N];
    struct dev d, others[N];
    pthread_t th, idle_th[N];
    struct resp r = {0};
    json_t *cmds;
    int64_t id;
    char path[160];
    bool waiting = false;

    START();
    NEED_ADMIN();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, NULL, 0), ==, 200);

    /* 1. the device waits (up to 60 s) */
    p.d = &d;
    p.query = "?wait=60";
    CHECK(pthread_create(&th, NULL, poll_thread, &p) == 0);
    for (int i = 0; i < 500 && !(waiting = online(d.id)); i++)
        usleep(20000);
    if (!waiting) {
        pthread_join(th, NULL);
        resp_free(&p.r);
        CHECK_MSG(false, "the poll never showed as waiting");
    }
    /* 2. a command is queued while it waits */
    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands", d.id);
    CHECK_INT(req("POST", path, S.admin, "{\"type\":\"ping\",\"args\":{}}", &r), ==, 0);
    CHECK_MSG(r.status == 201, "create: %ld %s", r.status, errmsg(&r));
    id = json_integer_value(json_object_get(r.json, "id"));
    resp_free(&r);
    /* 3. the waiting poll answers with it (a poll that timed out would
     * have answered an empty list) */
    pthread_join(th, NULL);
    CHECK_INT(p.r.status, ==, 200);
    cmds = json_object_get(p.r.json, "commands");
    CHECK_INT(json_array_size(cmds), ==, 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(cmds, 0), "id")), ==, id);
    resp_free(&p.r);
    CHECK(!online(d.id));
    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands/%lld", d.id, (long long)id);
    CHECK_INT(req("GET", path, S.admin, NULL, &r), ==, 0);
    CHECK_STR(jstr(r.json, "status"), "sent");
    CHECK_INT(json_integer_value(json_object_get(r.json, "attempts")), ==, 1);
    resp_free(&r);

    /* waiting polls hold no thread: with more polls waiting than the
     * server has worker threads (4), it still answers, and each poll
     * gets the command queued for its device */
    for (int i = 0; i < N - 1; i++) {
        char name[24];
        snprintf(name, sizeof(name), "idle-%d", i);
        CHECK_INT(enroll(t.token, 10 + i, name, false, &others[i], NULL, 0), ==, 200);
    }
    for (int i = 0; i < N - 1; i++) {
        idle[i] = (struct poller){.d = &others[i], .query = "?wait=60"};
        pthread_create(&idle_th[i], NULL, poll_thread, &idle[i]);
    }
    {
        int ready = 0;
        for (int i = 0; i < N - 1; i++) {
            bool up = false;
            for (int k = 0; k < 500 && !(up = online(others[i].id)); k++)
                usleep(20000);
            ready += up;
        }
        CHECK_INT(req("GET", "/api/v1/health", NULL, NULL, &r), ==, 0);
        long health = r.status;
        resp_free(&r);
        for (int i = 0; i < N - 1; i++) {
            snprintf(path, sizeof(path), "/api/v1/devices/%.39s/commands", others[i].id);
            req("POST", path, S.admin, "{\"type\":\"ping\"}", &r);
            resp_free(&r);
        }
        int woken = 0;
        for (int i = 0; i < N - 1; i++) {
            pthread_join(idle_th[i], NULL);
            woken += idle[i].r.status == 200 && json_array_size(json_object_get(idle[i].r.json, "commands")) == 1;
            resp_free(&idle[i].r);
        }
        CHECK_INT(ready, ==, N - 1);
        CHECK_INT(health, ==, 200);
        CHECK_INT(woken, ==, N - 1);
    }
}

static void test_command_routes(void)
{
    struct token_spec t = {.uses = 1};
    struct resp r = {0};
    struct dev d;
    char path[160];
    int64_t id;

    START();
    NEED_ADMIN();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, NULL, 0), ==, 200);
    /* by name; waits while the device is offline */
    CHECK_INT(req("POST", "/api/v1/devices/web-1/commands", S.admin, "{\"type\":\"ping\"}", &r), ==, 0);
    CHECK_INT(r.status, ==, 201);
    id = json_integer_value(json_object_get(r.json, "id"));
    CHECK_STR(jstr(r.json, "status"), "queued");
    CHECK_STR(jstr(r.json, "device_id"), d.id);
    CHECK_STR(jstr(r.json, "requested_by"), "admin");
    resp_free(&r);
    {
        const char *const hostile[] = {
            "nonsense", "{}", "{\"type\":5}", "{\"type\":\"format-disk\"}", "{\"type\":\"ping\",\"args\":[]}",
            "{\"type\":\"ping\",\"args\":{\"x\":1}}", "{\"type\":\"ping\",\"args\":\"\"}",
            "{\"type\":\"ping\",\"device\":\"other\"}", NULL,
        };
        for (int i = 0; hostile[i]; i++) {
            CHECK_INT(req("POST", "/api/v1/devices/web-1/commands", S.admin, hostile[i], &r), ==, 0);
            CHECK_MSG(r.status == 400, "%s -> %ld", hostile[i], r.status);
            resp_free(&r);
        }
    }
    CHECK_INT(req("POST", "/api/v1/devices/no-such-host/commands", S.admin, "{\"type\":\"ping\"}", &r), ==, 0);
    CHECK_INT(r.status, ==, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands?limit=0", d.id);
    CHECK_INT(req("GET", path, S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 400);
    resp_free(&r);
    /* only the one command exists */
    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands", d.id);
    CHECK_INT(req("GET", path, S.admin, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "commands")), ==, 1);
    resp_free(&r);
    /* the agent answers the ping */
    CHECK_INT(req("GET", "/api/v1/agent/commands?wait=5", d.auth, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "commands")), ==, 1);
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/agent/commands/%lld/result", (long long)id);
    CHECK_INT(post_as(&d, path,
                      "{\"status\":\"succeeded\",\"output\":{\"agent_version\":\"0.1.0\",\"time\":\"2026-11-26T10:00:00Z\"}}",
                      &r), ==, 200);
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/devices/web-1/commands/%lld", (long long)id);
    CHECK_INT(req("GET", path, S.admin, NULL, &r), ==, 0);
    CHECK_STR(jstr(r.json, "status"), "succeeded");
    CHECK_STR(jstr(json_object_get(r.json, "output"), "agent_version"), "0.1.0");
    CHECK(jstr(r.json, "completed"));
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/devices/web-1/commands/99999", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 404);
    resp_free(&r);
}

static void test_inventory_and_tags(void)
{
    struct token_spec t = {.uses = 2, .group = "web"};
    struct resp r = {0};
    struct dev a, b;
    char out[8192], path[160];
    json_t *list;

    START();
    NEED_ADMIN();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &a, NULL, 0), ==, 200);
    CHECK_INT(enroll(t.token, 2, "db-1", false, &b, NULL, 0), ==, 200);
    CHECK_INT(post_as(&a, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 200);
    resp_free(&r);
    CHECK_INT(post_as(&b, "/api/v1/agent/heartbeat",
                      "{\"hostname\":\"db-1\",\"ips\":[\"192.168.7.20\"],\"sensor_backend\":\"fallback\","
                      "\"sensor_limitations\":[\"network events: not available in the fallback back end\"]}",
                      &r), ==, 200);
    resp_free(&r);

    CHECK_INT(req("GET", "/api/v1/devices", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    list = json_object_get(r.json, "devices");
    CHECK_INT(json_array_size(list), ==, 2);
    CHECK_INT(json_integer_value(json_object_get(r.json, "total")), ==, 2);
    {
        json_t *db = json_array_get(list, 0), *web = json_array_get(list, 1); /* by name */
        CHECK_STR(jstr(db, "name"), "db-1");
        CHECK_STR(jstr(db, "health"), "misconfigured");
        CHECK_STR(jstr(web, "health"), "active");
        CHECK_STR(jstr(web, "isolation"), "not isolated");
        CHECK_STR(jstr(web, "group"), "web");
        CHECK_STR(jstr(web, "os"), "Debian GNU/Linux 12");
        CHECK_STR(jstr(web, "kernel"), "6.1.0-18-amd64");
        CHECK_STR(jstr(web, "agent_version"), "0.1.0");
        CHECK_STR(jstr(web, "sensor_backend"), "ebpf");
        CHECK_STR(json_string_value(json_array_get(json_object_get(web, "ips"), 0)), "10.0.0.5");
        CHECK(jstr(web, "first_seen") && jstr(web, "last_seen"));
    }
    resp_free(&r);
    /* filters */
    CHECK_INT(req("GET", "/api/v1/devices?search=192.168", S.admin, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "devices")), ==, 1);
    CHECK_STR(jstr(json_array_get(json_object_get(r.json, "devices"), 0), "name"), "db-1");
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/devices?search=WEB", S.admin, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "devices")), ==, 1);
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/devices?health=misconfigured", S.admin, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "devices")), ==, 1);
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/devices?group=web&limit=1&offset=1", S.admin, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "devices")), ==, 1);
    CHECK_INT(json_integer_value(json_object_get(r.json, "total")), ==, 2);
    resp_free(&r);
    {
        const char *const bad[] = {"?health=sleepy", "?limit=0", "?limit=x", "?offset=-1", "?group=%20x",
                                   "?search=%01", NULL};
        for (int i = 0; bad[i]; i++) {
            snprintf(path, sizeof(path), "/api/v1/devices%s", bad[i]);
            CHECK_INT(req("GET", path, S.admin, NULL, &r), ==, 0);
            CHECK_MSG(r.status == 400, "%s -> %ld", bad[i], r.status);
            resp_free(&r);
        }
    }
    /* one device, by name or id */
    CHECK_INT(req("GET", "/api/v1/devices/web-1", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK_STR(jstr(r.json, "id"), a.id);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r.json, "agent"), "spool_events")), ==, 800);
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/devices/%s", b.id);
    CHECK_INT(req("GET", path, S.admin, NULL, &r), ==, 0);
    CHECK_STR(jstr(r.json, "name"), "db-1");
    CHECK_MSG(strstr(jstr(r.json, "health_reason"), "fallback"), "%s", jstr(r.json, "health_reason"));
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/devices/WEB-1", S.admin, NULL, &r), ==, 0);
    CHECK_STR(jstr(r.json, "id"), a.id);
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/devices/nope", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 404);
    resp_free(&r);

    /* tags: replaced, sorted, without duplicates; bad ones change nothing */
    CHECK_INT(req("PUT", "/api/v1/devices/web-1/tags", S.admin, "{\"tags\":[\"prod\",\"dmz\",\"prod\"]}", &r), ==,
              0);
    CHECK_INT(r.status, ==, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "tags")), ==, 2);
    CHECK_STR(json_string_value(json_array_get(json_object_get(r.json, "tags"), 0)), "dmz");
    resp_free(&r);
    {
        const char *const bad[] = {"{}", "{\"tags\":[],\"extra\":1}", "{\"tags\":\"prod\"}", "{\"tags\":[1]}", "{\"tags\":[\"\"]}",
                                   "{\"tags\":[\" x\"]}", "{\"tags\":[\"a\\nb\"]}",
                                   "{\"tags\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}",
                                   NULL};
        for (int i = 0; bad[i]; i++) {
            CHECK_INT(req("PUT", "/api/v1/devices/web-1/tags", S.admin, bad[i], &r), ==, 0);
            CHECK_MSG(r.status == 400, "%s -> %ld", bad[i], r.status);
            resp_free(&r);
        }
    }
    CHECK_INT(req("GET", "/api/v1/devices/web-1", S.admin, NULL, &r), ==, 0);
    CHECK_INT(json_array_size(json_object_get(r.json, "tags")), ==, 2);
    resp_free(&r);

    /* the CLI */
    CHECK(cli_setup(S.admin));
    CHECK_MSG(cli(out, sizeof(out), "devices") == 0, "%s", out);
    CHECK_MSG(strstr(out, "NAME") && strstr(out, "LAST SEEN") && strstr(out, "HEALTH") && strstr(out, "ISOLATION") &&
                  strstr(out, "TAGS"),
              "header: %s", out);
    CHECK_MSG(strstr(out, "web-1") && strstr(out, "dmz, prod") && strstr(out, "s ago") &&
                  strstr(out, "not isolated") && strstr(out, "misconfigured"),
              "table: %s", out);
    CHECK_MSG(cli(out, sizeof(out), "devices --search db --json") == 0, "%s", out);
    {
        json_t *j = json_loads(out, 0, NULL);
        CHECK_MSG(j && json_array_size(json_object_get(j, "devices")) == 1, "json: %s", out);
        json_decref(j);
    }
    CHECK_MSG(cli(out, sizeof(out), "device show web-1") == 0, "%s", out);
    CHECK_MSG(strstr(out, a.id) && strstr(out, "active") && strstr(out, "10.0.0.5"), "show: %s", out);
    CHECK_MSG(cli(out, sizeof(out), "device show web-1 --json") == 0, "%s", out);
    {
        json_t *j = json_loads(out, 0, NULL);
        CHECK_MSG(j && !strcmp(jstr(j, "id"), a.id), "json: %s", out);
        json_decref(j);
    }
    CHECK_MSG(cli(out, sizeof(out), "device tag db-1 critical") == 0, "%s", out);
    CHECK_MSG(cli(out, sizeof(out), "device show nosuch") == 1, "%s", out);
}

static void test_offboard(void)
{
    struct token_spec t = {.uses = 3};
    struct resp r = {0};
    struct dev d, again;
    char out[4096], path[160];
    int64_t c;

    START();
    NEED_ADMIN();
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, NULL, 0), ==, 200);
    CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 200); /* cached credentials */
    resp_free(&r);
    c = store_command(d.id, "ping");
    CHECK(c > 0);
    CHECK_INT(req("POST", "/api/v1/devices/web-1/offboard", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK(jstr(r.json, "offboarded"));
    CHECK(json_is_false(json_object_get(r.json, "already_offboarded")));
    resp_free(&r);
    /* refused at once, on every agent route */
    CHECK_INT(post_as(&d, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 401);
    CHECK_MSG(strstr(errmsg(&r), "offboarded"), "%s", errmsg(&r));
    resp_free(&r);
    CHECK_INT(req("GET", "/api/v1/agent/commands", d.auth, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 401);
    resp_free(&r);
    /* the data stays; what waited failed; nothing new may wait */
    CHECK_INT(req("GET", "/api/v1/devices/web-1", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK(jstr(r.json, "offboarded"));
    CHECK_STR(jstr(r.json, "health"), "inactive");
    CHECK_STR(jstr(r.json, "os"), "Debian GNU/Linux 12");
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/devices/web-1/commands/%lld", (long long)c);
    CHECK_INT(req("GET", path, S.admin, NULL, &r), ==, 0);
    CHECK_STR(jstr(r.json, "status"), "failed");
    resp_free(&r);
    CHECK_INT(req("POST", "/api/v1/devices/web-1/commands", S.admin, "{\"type\":\"ping\"}", &r), ==, 0);
    CHECK_INT(r.status, ==, 409);
    resp_free(&r);
    /* twice is fine */
    CHECK_INT(req("POST", "/api/v1/devices/web-1/offboard", S.admin, NULL, &r), ==, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK(json_is_true(json_object_get(r.json, "already_offboarded")));
    resp_free(&r);
    /* enrolling again brings it back under the same id */
    CHECK_INT(enroll(t.token, 1, "web-1", false, &again, NULL, 0), ==, 200);
    CHECK_STR(again.id, d.id);
    CHECK_INT(post_as(&again, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 200);
    resp_free(&r);
    /* the CLI */
    CHECK(cli_setup(S.admin));
    CHECK_MSG(cli(out, sizeof(out), "offboard web-1") == 0, "%s", out);
    CHECK_MSG(strstr(out, "offboarded") && strstr(out, d.id), "%s", out);
    CHECK_INT(post_as(&again, "/api/v1/agent/heartbeat", good_heartbeat, &r), ==, 401);
    resp_free(&r);
    CHECK_MSG(cli(out, sizeof(out), "offboard nosuch") == 1, "%s", out);
}

static void test_roles(void)
{
    struct token_spec t = {.uses = 1};
    char viewer[128], analyst[128], responder[128];
    struct resp r = {0};
    struct dev d;

    START();
    NEED_ADMIN();
    if (!user_token("vera", "viewer", viewer, sizeof(viewer)) ||
        !user_token("anna", "analyst", analyst, sizeof(analyst)) ||
        !user_token("rick", "responder", responder, sizeof(responder)))
        SKIP("cannot create users with roles through /api/v1/users and /api/v1/tokens");
    CHECK(make_token(&t) > 0);
    CHECK_INT(enroll(t.token, 1, "web-1", false, &d, NULL, 0), ==, 200);
    struct {
        const char *who, *method, *path, *body;
        long want;
    } cases[] = {
        {viewer, "GET", "/api/v1/devices", NULL, 200},
        {viewer, "GET", "/api/v1/devices/web-1/commands", NULL, 200},
        {viewer, "PUT", "/api/v1/devices/web-1/tags", "{\"tags\":[]}", 403},
        {viewer, "POST", "/api/v1/devices/web-1/commands", "{\"type\":\"ping\"}", 403},
        {viewer, "POST", "/api/v1/onboarding", "{}", 403},
        {analyst, "PUT", "/api/v1/devices/web-1/tags", "{\"tags\":[\"x\"]}", 200},
        {analyst, "POST", "/api/v1/devices/web-1/commands", "{\"type\":\"ping\"}", 403},
        {responder, "POST", "/api/v1/devices/web-1/commands", "{\"type\":\"ping\"}", 201},
        {responder, "POST", "/api/v1/devices/web-1/offboard", NULL, 403},
        {responder, "GET", "/api/v1/onboarding", NULL, 403},
        {NULL, "GET", "/api/v1/devices", NULL, 401},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT(req(cases[i].method, cases[i].path, cases[i].who, cases[i].body, &r), ==, 0);
        CHECK_MSG(r.status == cases[i].want, "%s %s as case %zu -> %ld (want %ld): %s", cases[i].method,
                  cases[i].path, i, r.status, cases[i].want, errmsg(&r));
        resp_free(&r);
    }
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"enroll_and_authenticate", test_enroll_and_authenticate},
        {"enroll_answer", test_enroll_answer},
        {"reenroll_keeps_id", test_reenroll_keeps_id},
        {"token_refusals", test_token_refusals},
        {"racing_enrolments", test_racing_enrolments},
        {"device_credentials", test_device_credentials},
        {"heartbeat_validation", test_heartbeat_validation},
        {"enroll_hostile", test_enroll_hostile},
        {"poll_empty_after_wait", test_poll_empty_after_wait},
        {"offline_commands_delivered", test_offline_commands_delivered},
        {"device_cannot_read_other_commands", test_device_cannot_read_other_commands},
        {"onboarding_package", test_onboarding_package},
        {"onboarding_hostile", test_onboarding_hostile},
        {"long_poll_wakes_at_once", test_long_poll_wakes_at_once},
        {"command_routes", test_command_routes},
        {"inventory_and_tags", test_inventory_and_tags},
        {"offboard", test_offboard},
        {"roles", test_roles},
        {NULL, NULL},
    };
    int rc;

    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "cannot initialise libsodium or libcurl\n");
        return 1;
    }
    if (geteuid() != 0) {
        /* the server drops to nobody, which needs root */
        for (const struct check_case *c = cases; c->name; c++)
            printf("SKIP devices_api/%s: needs root (the server under test drops to user nobody)\n", c->name);
        curl_global_cleanup();
        return 0;
    }
    check_set_teardown(teardown);
    rc = check_main("devices_api", cases, argc, argv);
    curl_global_cleanup();
    return rc;
}
