/*
 * test_auth_api.c — people and access through the real server over HTTPS:
 * login sessions (cookie attributes, CSRF, logout), API tokens (role caps,
 * revocation, demoted and deleted owners), the users API (the last admin,
 * one's own account), the audit API, failed-login limits (429 with
 * Retry-After), the first admin's random password printed once and never
 * logged, and hostile input: malformed JSON, huge fields, wrong types and
 * bad parameters get a 4xx and change nothing.
 *
 * Every case starts its own server and checks that it exits cleanly (no
 * sanitizer report) when stopped.
 */
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "serverproc.h"

static struct serverproc *server;

static void teardown(void)
{
    serverproc_stop_all();
    server = NULL;
}

/* One request; auth is a whole header line or NULL, extra another. */
static long req(const char *method, const char *path, const char *body, const char *auth, const char *extra,
                struct serverproc_response *r)
{
    const char *headers[] = {auth, extra, NULL};
    if (!auth) {
        headers[0] = extra;
        headers[1] = NULL;
    }
    if (serverproc_request(server, method, path, body, headers, r) != 0)
        return 0;
    return r->status;
}

/* Like req() but frees the answer and returns only the status. */
static long status_of(const char *method, const char *path, const char *body, const char *auth, const char *extra)
{
    struct serverproc_response r;
    long st = req(method, path, body, auth, extra, &r);
    serverproc_response_free(&r);
    return st;
}

static void bearer(char *out, size_t outlen, const char *token)
{
    snprintf(out, outlen, "Authorization: Bearer %s", token);
}

/* Creates a user through the API (as admin). */
static long create_user(const char *admin_auth, const char *name, const char *role, const char *password)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\",\"password\":\"%s\"}", name, role, password);
    return status_of("POST", "/api/v1/users", body, admin_auth, NULL);
}

/* A token for user via a session of their own. */
static bool user_token(const char *user, const char *password, const char *role, char *out, size_t outlen)
{
    char cookie[128], csrf[128];
    return serverproc_login(server, user, password, cookie, sizeof(cookie), csrf, sizeof(csrf)) == 200 &&
           serverproc_create_token(server, cookie, csrf, NULL, role, out, outlen) == 201;
}

static bool start(const struct serverproc_options *opt, char *err, size_t errlen)
{
    check_set_teardown(teardown);
    server = serverproc_start(opt, err, errlen);
    return server != NULL;
}

static int stop(void)
{
    int st = serverproc_stop(server);
    server = NULL;
    return st;
}

/* ------------------------------------------------------------------ sessions */

static void login_session_csrf_logout(void)
{
    struct serverproc_response r;
    char err[2048], setc[400], cookie_hdr[200], csrf_hdr[200], cookie[128];
    const char *csrf;

    CHECK_MSG(start(NULL, err, sizeof(err)), "%s", err);
    CHECK_INT(req("POST", "/api/v1/auth/login", "{\"user\":\"admin\",\"password\":\"" SERVERPROC_ADMIN_PASSWORD "\"}",
                  NULL, NULL, &r), ==, 200);
    CHECK_MSG(serverproc_header(&r, "Set-Cookie", setc, sizeof(setc)), "no cookie");
    CHECK_MSG(strncmp(setc, "yamori_session=yms_", 19) == 0 && strstr(setc, "HttpOnly") && strstr(setc, "Secure") &&
                  strstr(setc, "SameSite=Strict") && strstr(setc, "Path=/"),
              "cookie: %s", setc);
    CHECK_STR(json_string_value(json_object_get(r.json, "user")), "admin");
    CHECK_STR(json_string_value(json_object_get(r.json, "role")), "admin");
    csrf = json_string_value(json_object_get(r.json, "csrf_token"));
    CHECK(csrf && strlen(csrf) == 43);
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(setc + 15, ";"), setc + 15);
    snprintf(cookie_hdr, sizeof(cookie_hdr), "Cookie: yamori_session=%s", cookie);
    snprintf(csrf_hdr, sizeof(csrf_hdr), "X-CSRF-Token: %s", csrf);
    serverproc_response_free(&r);

    CHECK_INT(req("GET", "/api/v1/auth/me", NULL, cookie_hdr, NULL, &r), ==, 200);
    CHECK_STR(json_string_value(json_object_get(r.json, "via")), "session");
    CHECK_STR(json_string_value(json_object_get(r.json, "csrf_token")), csrf_hdr + 14);
    serverproc_response_free(&r);
    /* a change without, or with a wrong, CSRF token */
    CHECK_INT(req("POST", "/api/v1/tokens", "{\"name\":\"t\"}", cookie_hdr, NULL, &r), ==, 403);
    CHECK_MSG(strstr(serverproc_message(&r), "X-CSRF-Token"), "%s", serverproc_message(&r));
    serverproc_response_free(&r);
    CHECK_INT(status_of("POST", "/api/v1/tokens", "{\"name\":\"t\"}", cookie_hdr, "X-CSRF-Token: nope"), ==, 403);
    CHECK_INT(status_of("POST", "/api/v1/tokens", "{\"name\":\"t\"}", cookie_hdr, csrf_hdr), ==, 201);
    /* logout ends the session and clears the cookie */
    CHECK_INT(status_of("POST", "/api/v1/auth/logout", NULL, cookie_hdr, NULL), ==, 403);
    CHECK_INT(req("POST", "/api/v1/auth/logout", NULL, cookie_hdr, csrf_hdr, &r), ==, 200);
    CHECK_MSG(serverproc_header(&r, "Set-Cookie", setc, sizeof(setc)) && strstr(setc, "Max-Age=0"), "no clearing");
    serverproc_response_free(&r);
    CHECK_INT(req("GET", "/api/v1/auth/me", NULL, cookie_hdr, NULL, &r), ==, 401);
    CHECK_MSG(strstr(serverproc_message(&r), "sign in again"), "%s", serverproc_message(&r));
    serverproc_response_free(&r);
    /* wrong password and unknown user look the same */
    CHECK_INT(req("POST", "/api/v1/auth/login", "{\"user\":\"admin\",\"password\":\"not the password\"}", NULL, NULL,
                  &r), ==, 401);
    CHECK_STR(serverproc_message(&r), "wrong user name or password");
    serverproc_response_free(&r);
    CHECK_INT(req("POST", "/api/v1/auth/login", "{\"user\":\"nobody-here\",\"password\":\"not the password\"}", NULL,
                  NULL, &r), ==, 401);
    CHECK_STR(serverproc_message(&r), "wrong user name or password");
    serverproc_response_free(&r);
    /* names are folded to lower case */
    CHECK_INT(status_of("POST", "/api/v1/auth/login",
                        "{\"user\":\"ADMIN\",\"password\":\"" SERVERPROC_ADMIN_PASSWORD "\"}", NULL, NULL), ==, 200);
    CHECK_INT(stop(), ==, 0);
}

/* ------------------------------------------------------------------ tokens */

static void tokens_roles_and_revocation(void)
{
    struct serverproc_response r;
    char err[2048], admin[128], admin_auth[200], ann[128], ann_auth[200], weak[128], weak_auth[200], path[64];
    long long ann_id, admin_id;

    CHECK_MSG(start(NULL, err, sizeof(err)), "%s", err);
    CHECK(serverproc_admin_token(server, admin, sizeof(admin)) == 0);
    bearer(admin_auth, sizeof(admin_auth), admin);
    CHECK_INT(create_user(admin_auth, "ann", "analyst", "ann's password"), ==, 201);
    CHECK(user_token("ann", "ann's password", NULL, ann, sizeof(ann)));
    bearer(ann_auth, sizeof(ann_auth), ann);

    CHECK_INT(req("GET", "/api/v1/auth/me", NULL, ann_auth, NULL, &r), ==, 200);
    CHECK_STR(json_string_value(json_object_get(r.json, "role")), "analyst");
    CHECK_STR(json_string_value(json_object_get(r.json, "via")), "token");
    ann_id = json_integer_value(json_object_get(json_object_get(r.json, "token"), "id"));
    serverproc_response_free(&r);

    /* no more than the owner's role */
    CHECK_INT(req("POST", "/api/v1/tokens", "{\"name\":\"up\",\"role\":\"admin\"}", ann_auth, NULL, &r), ==, 403);
    serverproc_response_free(&r);
    /* no more than the calling credentials' role */
    CHECK_INT(req("POST", "/api/v1/tokens", "{\"name\":\"low\",\"role\":\"viewer\",\"expires_in_seconds\":3600}",
                  ann_auth, NULL, &r), ==, 201);
    CHECK_STR(json_string_value(json_object_get(r.json, "role")), "viewer");
    CHECK(json_is_string(json_object_get(r.json, "expires")));
    snprintf(weak, sizeof(weak), "%s", json_string_value(json_object_get(r.json, "token")));
    serverproc_response_free(&r);
    bearer(weak_auth, sizeof(weak_auth), weak);
    CHECK_INT(status_of("POST", "/api/v1/tokens", "{\"name\":\"x\",\"role\":\"analyst\"}", weak_auth, NULL), ==, 403);
    CHECK_INT(status_of("GET", "/api/v1/users", NULL, weak_auth, NULL), ==, 403);
    /* only admins act for others */
    CHECK_INT(status_of("POST", "/api/v1/tokens", "{\"name\":\"x\",\"user\":\"admin\"}", ann_auth, NULL), ==, 403);
    CHECK_INT(status_of("GET", "/api/v1/tokens?user=admin", NULL, ann_auth, NULL), ==, 403);
    CHECK_INT(req("GET", "/api/v1/tokens", NULL, ann_auth, NULL, &r), ==, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "tokens")), ==, 2);
    serverproc_response_free(&r);
    CHECK_INT(req("GET", "/api/v1/tokens", NULL, admin_auth, NULL, &r), ==, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "tokens")), ==, 3);
    serverproc_response_free(&r);
    CHECK_INT(req("GET", "/api/v1/auth/me", NULL, admin_auth, NULL, &r), ==, 200);
    admin_id = json_integer_value(json_object_get(json_object_get(r.json, "token"), "id"));
    serverproc_response_free(&r);
    snprintf(path, sizeof(path), "/api/v1/tokens/%lld", admin_id);
    CHECK_INT(status_of("DELETE", path, NULL, ann_auth, NULL), ==, 404);
    /* demoting the owner caps the token at once */
    CHECK_INT(status_of("PATCH", "/api/v1/users/ann", "{\"role\":\"viewer\"}", admin_auth, NULL), ==, 200);
    CHECK_INT(req("GET", "/api/v1/auth/me", NULL, ann_auth, NULL, &r), ==, 200);
    CHECK_STR(json_string_value(json_object_get(r.json, "role")), "viewer");
    serverproc_response_free(&r);
    CHECK_INT(status_of("PATCH", "/api/v1/users/ann", "{\"role\":\"analyst\"}", admin_auth, NULL), ==, 200);
    /* revocation */
    snprintf(path, sizeof(path), "/api/v1/tokens/%lld", ann_id);
    CHECK_INT(status_of("DELETE", path, NULL, ann_auth, NULL), ==, 200);
    CHECK_INT(req("GET", "/api/v1/auth/me", NULL, ann_auth, NULL, &r), ==, 401);
    CHECK_MSG(strstr(serverproc_message(&r), "revoked"), "%s", serverproc_message(&r));
    serverproc_response_free(&r);
    CHECK_INT(status_of("DELETE", path, NULL, admin_auth, NULL), ==, 409);
    /* logout with a token revokes it */
    CHECK_INT(status_of("POST", "/api/v1/auth/logout", NULL, weak_auth, NULL), ==, 200);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, weak_auth, NULL), ==, 401);
    /* deleting the owner ends every token */
    CHECK(user_token("ann", "ann's password", NULL, ann, sizeof(ann)));
    bearer(ann_auth, sizeof(ann_auth), ann);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, ann_auth, NULL), ==, 200);
    CHECK_INT(status_of("DELETE", "/api/v1/users/ann", NULL, admin_auth, NULL), ==, 200);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, ann_auth, NULL), ==, 401);
    /* audit entries for all of it */
    CHECK_INT(req("GET", "/api/v1/audit?action=token.*&limit=100", NULL, admin_auth, NULL, &r), ==, 200);
    {
        int creates = 0, revokes = 0;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(r.json, "entries"), i, e) {
            const char *a = json_string_value(json_object_get(e, "action"));
            creates += strcmp(a, "token.create") == 0;
            revokes += strcmp(a, "token.revoke") == 0;
        }
        CHECK_INT(creates, ==, 4);
        CHECK_INT(revokes, ==, 1);
    }
    serverproc_response_free(&r);
    CHECK_INT(stop(), ==, 0);
}

/* ------------------------------------------------------------------ users */

static void users_api_and_last_admin(void)
{
    struct serverproc_response r;
    char err[2048], admin[128], admin_auth[200], bo[128], bo_auth[200], cookie[128], csrf[128];

    CHECK_MSG(start(NULL, err, sizeof(err)), "%s", err);
    CHECK(serverproc_admin_token(server, admin, sizeof(admin)) == 0);
    bearer(admin_auth, sizeof(admin_auth), admin);

    CHECK_INT(req("POST", "/api/v1/users", "{\"name\":\"bo\",\"role\":\"responder\",\"password\":\"bo's password\"}",
                  admin_auth, NULL, &r), ==, 201);
    CHECK_STR(json_string_value(json_object_get(r.json, "name")), "bo");
    CHECK_STR(json_string_value(json_object_get(r.json, "role")), "responder");
    CHECK(json_object_get(r.json, "password_hash") == NULL && strstr(r.body, "argon2") == NULL);
    serverproc_response_free(&r);
    CHECK_INT(create_user(admin_auth, "bo", "viewer", "another password"), ==, 409);
    CHECK_INT(req("GET", "/api/v1/users", NULL, admin_auth, NULL, &r), ==, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "users")), ==, 2);
    CHECK(strstr(r.body, "argon2") == NULL);
    serverproc_response_free(&r);
    CHECK_INT(status_of("GET", "/api/v1/users/bo", NULL, admin_auth, NULL), ==, 200);
    CHECK_INT(status_of("GET", "/api/v1/users/nobody", NULL, admin_auth, NULL), ==, 404);

    /* the last admin cannot go, and an admin cannot remove themselves */
    CHECK_INT(req("PATCH", "/api/v1/users/admin", "{\"role\":\"viewer\"}", admin_auth, NULL, &r), ==, 409);
    CHECK_MSG(strstr(serverproc_message(&r), "last enabled admin"), "%s", serverproc_message(&r));
    serverproc_response_free(&r);
    CHECK_INT(status_of("PATCH", "/api/v1/users/admin", "{\"disabled\":true}", admin_auth, NULL), ==, 409);
    CHECK_INT(status_of("DELETE", "/api/v1/users/admin", NULL, admin_auth, NULL), ==, 409);
    CHECK(user_token("bo", "bo's password", NULL, bo, sizeof(bo)));
    bearer(bo_auth, sizeof(bo_auth), bo);
    CHECK_INT(status_of("PATCH", "/api/v1/users/bo", "{\"role\":\"admin\"}", admin_auth, NULL), ==, 200);
    /* bo's token was responder: still capped by its own role */
    CHECK_INT(status_of("DELETE", "/api/v1/users/admin", NULL, bo_auth, NULL), ==, 403);
    CHECK_INT(status_of("PATCH", "/api/v1/users/admin", "{\"role\":\"viewer\"}", admin_auth, NULL), ==, 200);
    CHECK_INT(status_of("PATCH", "/api/v1/users/admin", "{\"role\":\"admin\"}", admin_auth, NULL), ==, 403);

    /* bo (admin now) takes over with a fresh token */
    CHECK(user_token("bo", "bo's password", NULL, bo, sizeof(bo)));
    bearer(bo_auth, sizeof(bo_auth), bo);
    CHECK_INT(status_of("PATCH", "/api/v1/users/admin", "{\"role\":\"admin\"}", bo_auth, NULL), ==, 200);
    /* disable: sign-in refused, tokens stop; enable again */
    CHECK_INT(status_of("PATCH", "/api/v1/users/admin", "{\"disabled\":true}", bo_auth, NULL), ==, 200);
    CHECK_INT(serverproc_login(server, "admin", SERVERPROC_ADMIN_PASSWORD, cookie, sizeof(cookie), csrf,
                               sizeof(csrf)), ==, 403);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, admin_auth, NULL), ==, 401);
    CHECK_INT(status_of("PATCH", "/api/v1/users/admin", "{\"disabled\":false}", bo_auth, NULL), ==, 200);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, admin_auth, NULL), ==, 200);
    /* an admin resets a password: the old one stops, sessions end */
    CHECK_INT(serverproc_login(server, "admin", SERVERPROC_ADMIN_PASSWORD, cookie, sizeof(cookie), csrf,
                               sizeof(csrf)), ==, 200);
    CHECK_INT(req("POST", "/api/v1/users/admin/password", "{\"password\":\"short\"}", bo_auth, NULL, &r), ==, 400);
    CHECK_MSG(strstr(serverproc_message(&r), "at least 12"), "%s", serverproc_message(&r));
    serverproc_response_free(&r);
    CHECK_INT(status_of("POST", "/api/v1/users/admin/password", "{\"password\":\"reset by bo 123\"}", bo_auth, NULL),
              ==, 200);
    {
        char c2[128], x2[128], ch[200];
        snprintf(ch, sizeof(ch), "Cookie: yamori_session=%s", cookie);
        CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, ch, NULL), ==, 401);
        CHECK_INT(serverproc_login(server, "admin", SERVERPROC_ADMIN_PASSWORD, c2, sizeof(c2), x2, sizeof(x2)), ==,
                  401);
        CHECK_INT(serverproc_login(server, "admin", "reset by bo 123", c2, sizeof(c2), x2, sizeof(x2)), ==, 200);
    }
    /* one's own password: the old one must be right, the new one good */
    CHECK_INT(status_of("POST", "/api/v1/auth/password",
                        "{\"old_password\":\"wrong old one\",\"new_password\":\"admin's new password\"}", admin_auth,
                        NULL), ==, 403);
    CHECK_INT(status_of("POST", "/api/v1/auth/password",
                        "{\"old_password\":\"reset by bo 123\",\"new_password\":\"tiny\"}", admin_auth, NULL), ==, 400);
    CHECK_INT(status_of("POST", "/api/v1/auth/password",
                        "{\"old_password\":\"reset by bo 123\",\"new_password\":\"admin's new password\"}", admin_auth,
                        NULL), ==, 200);
    CHECK_INT(serverproc_login(server, "admin", "admin's new password", cookie, sizeof(cookie), csrf, sizeof(csrf)),
              ==, 200);
    /* self-removal refused; removing another works */
    CHECK_INT(status_of("DELETE", "/api/v1/users/bo", NULL, bo_auth, NULL), ==, 409);
    CHECK_INT(status_of("DELETE", "/api/v1/users/bo", NULL, admin_auth, NULL), ==, 200);
    CHECK_INT(status_of("DELETE", "/api/v1/users/bo", NULL, admin_auth, NULL), ==, 404);
    /* each change is in the audit log */
    CHECK_INT(req("GET", "/api/v1/audit?action=user.*", NULL, admin_auth, NULL, &r), ==, 200);
    {
        const char *want[] = {"user.create", "user.role", "user.disable", "user.enable", "user.password_reset",
                              "user.delete"};
        for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
            CHECK_MSG(strstr(r.body, want[k]), "no %s in %s", want[k], r.body);
    }
    serverproc_response_free(&r);
    CHECK_INT(req("GET", "/api/v1/audit?action=auth.*&limit=500", NULL, admin_auth, NULL, &r), ==, 200);
    {
        const char *want[] = {"\"auth.login\"", "\"auth.login_failed\"", "\"auth.password_change\"",
                              "\"auth.password_change_failed\""};
        for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
            CHECK_MSG(strstr(r.body, want[k]), "no %s in %s", want[k], r.body);
    }
    serverproc_response_free(&r);
    CHECK_INT(req("GET", "/api/v1/audit?limit=1&since=1h", NULL, admin_auth, NULL, &r), ==, 200);
    CHECK_INT(json_array_size(json_object_get(r.json, "entries")), ==, 1);
    CHECK(json_is_integer(json_object_get(r.json, "next_before")));
    serverproc_response_free(&r);
    CHECK_INT(stop(), ==, 0);
}

/* ------------------------------------------------------------------ failed logins */

static void login_rate_limit_http(void)
{
    static const char *const sets[] = {"login_max_failures=2", "login_window_seconds=30", NULL};
    struct serverproc_options opt = {.sets = sets};
    struct serverproc_response r;
    char err[2048], admin[128], admin_auth[200], retry[32];
    long secs;

    CHECK_MSG(start(&opt, err, sizeof(err)), "%s", err);
    CHECK(serverproc_admin_token(server, admin, sizeof(admin)) == 0);
    bearer(admin_auth, sizeof(admin_auth), admin);
    CHECK_INT(create_user(admin_auth, "cy", "viewer", "cy's password!"), ==, 201);
    for (int i = 0; i < 2; i++)
        CHECK_INT(status_of("POST", "/api/v1/auth/login", "{\"user\":\"cy\",\"password\":\"wrong password\"}", NULL,
                            NULL), ==, 401);
    CHECK_INT(req("POST", "/api/v1/auth/login", "{\"user\":\"cy\",\"password\":\"cy's password!\"}", NULL, NULL, &r),
              ==, 429);
    CHECK_MSG(serverproc_header(&r, "Retry-After", retry, sizeof(retry)), "no Retry-After");
    secs = strtol(retry, NULL, 10);
    CHECK_MSG(secs >= 1 && secs <= 30, "Retry-After: %s", retry);
    CHECK_MSG(strstr(serverproc_message(&r), "try again in"), "%s", serverproc_message(&r));
    serverproc_response_free(&r);
    /* another user from the same address is not affected */
    CHECK_INT(status_of("POST", "/api/v1/auth/login",
                        "{\"user\":\"admin\",\"password\":\"" SERVERPROC_ADMIN_PASSWORD "\"}", NULL, NULL), ==, 200);
    CHECK_INT(stop(), ==, 0);
}

/* ------------------------------------------------------------------ the first admin */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char keep_dir[64];

static void first_admin_teardown(void)
{
    teardown();
    if (keep_dir[0])
        nftw(keep_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    keep_dir[0] = '\0';
}

static void first_admin_random_password(void)
{
    struct serverproc_options opt = {.admin_password = ""};
    char err[2048], data[128], pw[64] = "", cookie[128], csrf[128], *log;
    const char *out, *line;

    snprintf(keep_dir, sizeof(keep_dir), "/tmp/yamori-test-first.XXXXXX");
    CHECK(mkdtemp(keep_dir));
    chmod(keep_dir, 0755);
    snprintf(data, sizeof(data), "%s/data", keep_dir);
    opt.data_dir = data;
    CHECK_MSG(start(&opt, err, sizeof(err)), "%s", err);
    check_set_teardown(first_admin_teardown);
    out = serverproc_stdout(server);
    line = strstr(out, "first admin: user admin, password ");
    CHECK_MSG(line && sscanf(line, "first admin: user admin, password %63s", pw) == 1, "stdout: %s", out);
    CHECK_INT(strlen(pw), >=, 20);
    CHECK_INT(serverproc_login(server, "admin", pw, cookie, sizeof(cookie), csrf, sizeof(csrf)), ==, 200);
    log = serverproc_stderr(server);
    CHECK_MSG(log && strstr(log, pw) == NULL, "the password is in the log");
    CHECK(strstr(log, "printed on standard output"));
    free(log);
    CHECK_INT(stop(), ==, 0);

    /* the second start creates nothing and prints nothing */
    CHECK_MSG(start(&opt, err, sizeof(err)), "%s", err);
    check_set_teardown(first_admin_teardown);
    CHECK_MSG(strstr(serverproc_stdout(server), "first admin") == NULL, "stdout: %s", serverproc_stdout(server));
    CHECK_INT(serverproc_login(server, "admin", pw, cookie, sizeof(cookie), csrf, sizeof(csrf)), ==, 200);
    {
        /* the password is nowhere in the data directory in clear */
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "grep -rqF -- '%s' '%s'", pw, data);
        CHECK_MSG(system(cmd) != 0, "the password is stored in clear");
    }
    CHECK_INT(stop(), ==, 0);
}

/* ------------------------------------------------------------------ hostile input */

static void hostile_input_changes_nothing(void)
{
    struct serverproc_response before, after;
    char err[2048], admin[128], admin_auth[200], *huge, *body;
    size_t hn = 100000;

    CHECK_MSG(start(NULL, err, sizeof(err)), "%s", err);
    CHECK(serverproc_admin_token(server, admin, sizeof(admin)) == 0);
    bearer(admin_auth, sizeof(admin_auth), admin);
    CHECK_INT(create_user(admin_auth, "dee", "viewer", "dee's password"), ==, 201);
    CHECK_INT(req("GET", "/api/v1/users", NULL, admin_auth, NULL, &before), ==, 200);

    huge = malloc(hn + 1);
    body = malloc(hn + 100);
    CHECK(huge && body);
    memset(huge, 'a', hn);
    huge[hn] = '\0';
    {
        static const struct {
            const char *method, *path, *body;
            long status;
        } cases[] = {
            {"POST", "/api/v1/users", "{\"name\":", 400},
            {"POST", "/api/v1/users", "[1,2,3]", 400},
            {"POST", "/api/v1/users", "\"just a string\"", 400},
            {"POST", "/api/v1/users", "{}", 400},
            {"POST", "/api/v1/users", "{\"name\":5,\"role\":\"viewer\",\"password\":\"long enough pw\"}", 400},
            {"POST", "/api/v1/users", "{\"name\":null,\"role\":\"viewer\",\"password\":\"long enough pw\"}", 400},
            {"POST", "/api/v1/users", "{\"name\":\"x\",\"role\":\"root\",\"password\":\"long enough pw\"}", 400},
            {"POST", "/api/v1/users", "{\"name\":\"x\",\"role\":[\"admin\"],\"password\":\"long enough pw\"}", 400},
            {"POST", "/api/v1/users", "{\"name\":\"X Y\",\"role\":\"viewer\",\"password\":\"long enough pw\"}", 400},
            {"POST", "/api/v1/users", "{\"name\":\"x\",\"role\":\"viewer\",\"password\":\"short\"}", 400},
            {"POST", "/api/v1/users", "{\"name\":\"x\",\"role\":\"viewer\",\"password\":\"long enough pw\",\"admin\":true}",
             400},
            {"POST", "/api/v1/users", "{\"name\":\"x\\u0000y\",\"role\":\"viewer\",\"password\":\"long enough pw\"}", 400},
            {"POST", "/api/v1/users", "{\"name\":\"x\",\"name\":\"y\",\"role\":\"viewer\",\"password\":\"long enough pw\"}",
             400},
            {"PATCH", "/api/v1/users/dee", "{}", 400},
            {"PATCH", "/api/v1/users/dee", "{\"disabled\":\"yes\"}", 400},
            {"PATCH", "/api/v1/users/dee", "{\"role\":\"superuser\"}", 400},
            {"PATCH", "/api/v1/users/DEE", "{\"role\":\"admin\"}", 400},
            {"POST", "/api/v1/users/dee/password", "{\"password\":12345678901234}", 400},
            {"POST", "/api/v1/tokens", "{\"name\":\"\"}", 400},
            {"POST", "/api/v1/tokens", "{\"name\":\"tab\\there\"}", 400},
            {"POST", "/api/v1/tokens", "{\"name\":\"t\",\"expires_in_seconds\":\"1d\"}", 400},
            {"POST", "/api/v1/tokens", "{\"name\":\"t\",\"expires_in_seconds\":1.5}", 400},
            {"POST", "/api/v1/tokens", "{\"name\":\"t\",\"expires_in_seconds\":5}", 400},
            {"POST", "/api/v1/tokens", "{\"name\":\"t\",\"expires_in_seconds\":99999999999999}", 400},
            {"POST", "/api/v1/tokens", "{\"name\":\"t\",\"role\":7}", 400},
            {"DELETE", "/api/v1/tokens/abc", NULL, 400},
            {"DELETE", "/api/v1/tokens/-1", NULL, 400},
            {"DELETE", "/api/v1/tokens/99999999999999999999999", NULL, 400},
            {"DELETE", "/api/v1/tokens/1e3", NULL, 400},
            {"GET", "/api/v1/audit?limit=0", NULL, 400},
            {"GET", "/api/v1/audit?limit=abc", NULL, 400},
            {"GET", "/api/v1/audit?since=yesterday", NULL, 400},
            {"GET", "/api/v1/audit?since=2026-13-01T00:00:00Z", NULL, 400},
            {"GET", "/api/v1/audit?action=DROP%20TABLE", NULL, 400},
            {"GET", "/api/v1/audit?before=0", NULL, 400},
            {"POST", "/api/v1/auth/password", "{\"old_password\":true,\"new_password\":\"long enough pw\"}", 400},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            struct serverproc_response r;
            long st = req(cases[i].method, cases[i].path, cases[i].body, admin_auth, NULL, &r);
            CHECK_MSG(st == cases[i].status && json_is_object(json_object_get(r.json, "error")),
                      "%s %s %s: HTTP %ld %s", cases[i].method, cases[i].path, cases[i].body ? cases[i].body : "", st,
                      r.body);
            serverproc_response_free(&r);
        }
    }
    /* huge fields and bodies */
    snprintf(body, hn + 100, "{\"name\":\"%.5000s\",\"role\":\"viewer\",\"password\":\"long enough pw\"}", huge);
    CHECK_INT(status_of("POST", "/api/v1/users", body, admin_auth, NULL), ==, 400);
    snprintf(body, hn + 100, "{\"name\":\"x\",\"role\":\"viewer\",\"password\":\"%.2000s\"}", huge);
    CHECK_INT(status_of("POST", "/api/v1/users", body, admin_auth, NULL), ==, 400);
    snprintf(body, hn + 100, "{\"name\":\"x\",\"role\":\"viewer\",\"password\":\"%s\"}", huge);
    CHECK_INT(status_of("POST", "/api/v1/users", body, admin_auth, NULL), ==, 413);
    snprintf(body, hn + 100, "{\"user\":\"%.3000s\",\"password\":\"x\"}", huge);
    CHECK_INT(status_of("POST", "/api/v1/auth/login", body, NULL, NULL), ==, 400);
    snprintf(body, hn + 100, "{\"user\":\"dee\",\"password\":\"%.1500s\"}", huge);
    CHECK_INT(status_of("POST", "/api/v1/auth/login", body, NULL, NULL), ==, 400);
    snprintf(body, hn + 100, "{\"name\":\"%.200s\"}", huge);
    CHECK_INT(status_of("POST", "/api/v1/tokens", body, admin_auth, NULL), ==, 400);
    /* login: wrong types, not JSON, no JSON content type */
    CHECK_INT(status_of("POST", "/api/v1/auth/login", "{\"user\":[\"dee\"],\"password\":\"x\"}", NULL, NULL), ==, 400);
    CHECK_INT(status_of("POST", "/api/v1/auth/login", "{\"user\":\"dee\",\"password\":{}}", NULL, NULL), ==, 400);
    CHECK_INT(status_of("POST", "/api/v1/auth/login", "user=dee&password=x", NULL, NULL), ==, 400);
    CHECK_INT(status_of("POST", "/api/v1/auth/login", "{\"user\":\"dee\",\"password\":\"dee's password\"}", NULL,
                        "Content-Type: text/plain"), ==, 415);
    /* hostile credentials */
    snprintf(body, hn + 100, "Authorization: Bearer %.6000s", huge);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, body, NULL), ==, 401);
    snprintf(body, hn + 100, "Cookie: yamori_session=%.6000s", huge);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, body, NULL), ==, 401);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, "Authorization: Bearer ymt_../../etc/passwd", NULL), ==, 401);
    CHECK_INT(status_of("GET", "/api/v1/auth/me", NULL, "Authorization: Basic YWRtaW46YWRtaW4=", NULL), ==, 401);
    free(huge);
    free(body);

    /* nothing changed */
    CHECK_INT(req("GET", "/api/v1/users", NULL, admin_auth, NULL, &after), ==, 200);
    CHECK_MSG(json_equal(json_object_get(before.json, "users"), json_object_get(after.json, "users")),
              "users changed: %s -> %s", before.body, after.body);
    serverproc_response_free(&before);
    serverproc_response_free(&after);
    CHECK_INT(req("GET", "/api/v1/tokens", NULL, admin_auth, NULL, &after), ==, 200);
    CHECK_INT(json_array_size(json_object_get(after.json, "tokens")), ==, 1);
    serverproc_response_free(&after);
    CHECK_INT(req("GET", "/api/v1/audit?action=user.*", NULL, admin_auth, NULL, &after), ==, 200);
    CHECK_INT(json_array_size(json_object_get(after.json, "entries")), ==, 2); /* admin at first start, dee */
    serverproc_response_free(&after);
    CHECK_INT(stop(), ==, 0);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"login_session_csrf_logout", login_session_csrf_logout},
        {"tokens_roles_and_revocation", tokens_roles_and_revocation},
        {"users_api_and_last_admin", users_api_and_last_admin},
        {"login_rate_limit_http", login_rate_limit_http},
        {"first_admin_random_password", first_admin_random_password},
        {"hostile_input_changes_nothing", hostile_input_changes_nothing},
        {NULL, NULL},
    };
    return check_main("server/auth_api", cases, argc, argv);
}
