/*
 * test_access.c — every API route, called by everyone: the test fails if
 * any route answers something it should not.
 *
 * The route list comes from the router itself (`yamori server
 * --list-routes`), so a route someone adds later is covered without
 * touching this file. A real server is started; one user per role is
 * created through the API, each with an API token. Then every route (each
 * ":param" replaced by a value that names nothing) is called
 *
 *   - without credentials,
 *   - with a bogus bearer token (well-formed but unknown) and a malformed one,
 *   - with each role's API token,
 *   - with an admin's session cookie but no X-CSRF-Token (for changes),
 *
 * and the answers must be: public routes reachable by anyone (routed, not
 * refused, not a server error); user routes 401 without valid
 * credentials, 403 below the route's role, never 2xx then, and not refused
 * at or above it; device routes 401/403 to people; every refusal a bare
 * error object. The server must also exit cleanly (no sanitizer report).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "serverproc.h"

#define MAX_ROUTES 512
#define DUMMY_PARAM "999999999"

struct route_row {
    char method[8];
    char path[256];
    char access[16];
    char role[16];
    char module[32];
};

static const char *const roles[] = {"viewer", "analyst", "responder", "admin"};

static int role_rank(const char *r)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(r, roles[i]) == 0)
            return i + 1;
    return 0;
}

/* Reads the route table from the binary. Returns the count, or -1. */
static int load_routes(struct route_row *rows, int max, char *err, size_t errlen)
{
    char cmd[600], line[1024];
    FILE *p;
    int n = 0;
    bool header = true;

    snprintf(cmd, sizeof(cmd), "%s server --list-routes", serverproc_binary());
    p = popen(cmd, "r");
    if (!p) {
        snprintf(err, errlen, "cannot run %s", cmd);
        return -1;
    }
    while (fgets(line, sizeof(line), p)) {
        struct route_row r;
        if (header) {
            header = false;
            if (strncmp(line, "METHOD", 6) != 0) {
                snprintf(err, errlen, "unexpected --list-routes header: %s", line);
                pclose(p);
                return -1;
            }
            continue;
        }
        if (sscanf(line, "%7s %255s %15s %15s %31s", r.method, r.path, r.access, r.role, r.module) != 5) {
            snprintf(err, errlen, "unparsable --list-routes line: %s", line);
            pclose(p);
            return -1;
        }
        if (n < max)
            rows[n++] = r;
    }
    if (pclose(p) != 0) {
        snprintf(err, errlen, "%s failed", cmd);
        return -1;
    }
    return n;
}

/* pattern with every ":param" segment replaced by DUMMY_PARAM. */
static void concrete_path(const char *pattern, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < outlen;) {
        if (*p == ':' && (p == pattern || p[-1] == '/')) {
            o += (size_t)snprintf(out + o, outlen - o, "%s", DUMMY_PARAM);
            while (*p && *p != '/')
                p++;
        } else {
            out[o++] = *p++;
        }
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

/* Whether an answer is nothing but {"error": {...}}. */
static bool bare_error(const struct serverproc_response *r)
{
    return json_is_object(r->json) && json_object_size(r->json) == 1 &&
           json_is_object(json_object_get(r->json, "error"));
}

/* Failures are collected, so one run reports every offending route. */
static char problems[8192];
static int nproblems;

static void problem(const struct route_row *rt, const char *who, const struct serverproc_response *r,
                    const char *expected)
{
    size_t n = strlen(problems);
    nproblems++;
    fprintf(stderr, "access: %s %s as %s: HTTP %ld (%s), expected %s\n", rt->method, rt->path, who, r->status,
            serverproc_message(r), expected);
    if (nproblems <= 3 && n + 300 < sizeof(problems))
        snprintf(problems + n, sizeof(problems) - n, "%s%s %s as %s: HTTP %ld (%.100s), expected %s",
                 n ? "; " : "", rt->method, rt->path, who, r->status, serverproc_message(r), expected);
}

static struct serverproc *server;

static void teardown(void)
{
    serverproc_stop_all();
    server = NULL;
}

/* Makes a user of each role with an API token (through the API, with the
 * admin token), into tokens[0..3]. */
static bool make_role_tokens(const char *admin_token, char tokens[4][128], char *err, size_t errlen)
{
    char auth[200];
    const char *headers[] = {auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin_token);
    for (int i = 0; i < 4; i++) {
        struct serverproc_response r;
        char body[300];
        snprintf(body, sizeof(body), "{\"name\":\"access-%s\",\"role\":\"%s\",\"password\":\"password-of-%s\"}",
                 roles[i], roles[i], roles[i]);
        if (serverproc_request(server, "POST", "/api/v1/users", body, headers, &r) != 0 || r.status != 201) {
            snprintf(err, errlen, "create user %s: HTTP %ld %s", roles[i], r.status, r.body);
            serverproc_response_free(&r);
            return false;
        }
        serverproc_response_free(&r);
        snprintf(body, sizeof(body), "{\"name\":\"access test\",\"user\":\"access-%s\"}", roles[i]);
        if (serverproc_request(server, "POST", "/api/v1/tokens", body, headers, &r) != 0 || r.status != 201 ||
            !json_is_string(json_object_get(r.json, "token"))) {
            snprintf(err, errlen, "create token for %s: HTTP %ld %s", roles[i], r.status, r.body);
            serverproc_response_free(&r);
            return false;
        }
        snprintf(tokens[i], 128, "%s", json_string_value(json_object_get(r.json, "token")));
        serverproc_response_free(&r);
    }
    return true;
}

/* A route may end the credentials that called it (logout revokes the
 * calling token): check the token still works, else mint a new one. */
static void keep_token(const char *admin_token, int i, char tokens[4][128])
{
    struct serverproc_response r;
    char auth[200], body[200];
    const char *headers[] = {auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %.127s", tokens[i]);
    if (serverproc_request(server, "GET", "/api/v1/auth/me", NULL, headers, &r) == 0 && r.status == 200) {
        serverproc_response_free(&r);
        return;
    }
    serverproc_response_free(&r);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin_token);
    snprintf(body, sizeof(body), "{\"name\":\"access test\",\"user\":\"access-%s\"}", roles[i]);
    if (serverproc_request(server, "POST", "/api/v1/tokens", body, headers, &r) == 0 && r.status == 201)
        snprintf(tokens[i], 128, "%s", json_string_value(json_object_get(r.json, "token")));
    serverproc_response_free(&r);
}

static void call(const struct route_row *rt, const char *const *headers, struct serverproc_response *r)
{
    char path[600];
    concrete_path(rt->path, path, sizeof(path));
    if (serverproc_request(server, rt->method, path, strcmp(rt->method, "GET") ? "{}" : NULL, headers, r) != 0)
        r->status = 0;
}

/* The checks for one route called as `who` (role_rank 0: no valid user
 * credentials). */
static void judge(const struct route_row *rt, const char *who, int rank, const struct serverproc_response *r)
{
    bool ok2xx = r->status >= 200 && r->status < 300;

    if (r->status == 0) {
        problem(rt, who, r, "an answer");
        return;
    }
    if (strcmp(rt->access, "public") == 0) {
        if (r->status == 404 || r->status == 405 || r->status >= 500 ||
            strncmp(serverproc_message(r), "authentication required", 23) == 0)
            problem(rt, who, r, "the route to answer anyone");
        return;
    }
    if (strcmp(rt->access, "device") == 0) {
        if (r->status != 401 && r->status != 403)
            problem(rt, who, r, "401 or 403 (devices only)");
        else if (!bare_error(r))
            problem(rt, who, r, "a bare error object");
        return;
    }
    if (strcmp(rt->access, "user") != 0) {
        problem(rt, who, r, "a known access rule");
        return;
    }
    if (rank == 0) {
        if (r->status != 401 || ok2xx)
            problem(rt, who, r, "401");
        else if (!bare_error(r))
            problem(rt, who, r, "a bare error object");
    } else if (rank < role_rank(rt->role)) {
        if (r->status != 403 || ok2xx)
            problem(rt, who, r, "403 (below the route's role)");
        else if (!bare_error(r))
            problem(rt, who, r, "a bare error object");
    } else {
        if (r->status == 401 || r->status >= 500 ||
            (r->status == 403 && strncmp(serverproc_message(r), "this needs the", 14) == 0))
            problem(rt, who, r, "the route to serve this role");
    }
}

static void every_route_every_caller(void)
{
    static struct route_row rows[MAX_ROUTES];
    char err[2048], admin_token[128], tokens[4][128], cookie[128], csrf[128];
    char auth[300], cookie_hdr[300];
    const char *headers[] = {auth, NULL};
    const char *cookie_headers[] = {cookie_hdr, NULL};
    bool seen_login = false, seen_users = false, seen_health = false;
    int n, status;

    check_set_teardown(teardown);
    problems[0] = '\0';
    nproblems = 0;
    n = load_routes(rows, MAX_ROUTES, err, sizeof(err));
    CHECK_MSG(n > 0, "no routes: %s", err);
    for (int i = 0; i < n; i++) {
        seen_login |= strcmp(rows[i].path, "/api/v1/auth/login") == 0;
        seen_users |= strcmp(rows[i].path, "/api/v1/users") == 0;
        seen_health |= strcmp(rows[i].path, "/api/v1/health") == 0;
        CHECK_MSG(strcmp(rows[i].access, "user") != 0 || role_rank(rows[i].role) > 0,
                  "%s %s: user route with role '%s'", rows[i].method, rows[i].path, rows[i].role);
    }
    CHECK_MSG(seen_login && seen_users && seen_health, "the route list misses known routes (%d routes)", n);

    server = serverproc_start(NULL, err, sizeof(err));
    CHECK_MSG(server, "%s", err);
    CHECK_MSG(serverproc_admin_token(server, admin_token, sizeof(admin_token)) == 0, "no admin token %s",
              serverproc_diag(server));
    CHECK_MSG(make_role_tokens(admin_token, tokens, err, sizeof(err)), "%s", err);
    CHECK_INT(serverproc_login(server, "access-admin", "password-of-admin", cookie, sizeof(cookie), csrf,
                               sizeof(csrf)), ==, 200);
    snprintf(cookie_hdr, sizeof(cookie_hdr), "Cookie: yamori_session=%s", cookie);

    for (int i = 0; i < n; i++) {
        const struct route_row *rt = &rows[i];
        struct serverproc_response r;

        call(rt, NULL, &r);
        judge(rt, "nobody", 0, &r);
        serverproc_response_free(&r);

        snprintf(auth, sizeof(auth), "Authorization: Bearer ymt_%s", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        call(rt, headers, &r);
        judge(rt, "an unknown bearer token", 0, &r);
        serverproc_response_free(&r);

        snprintf(auth, sizeof(auth), "Authorization: Bearer not-a-token");
        call(rt, headers, &r);
        judge(rt, "a malformed bearer token", 0, &r);
        serverproc_response_free(&r);

        for (int k = 0; k < 4; k++) {
            char who[40];
            keep_token(admin_token, k, tokens);
            snprintf(auth, sizeof(auth), "Authorization: Bearer %.127s", tokens[k]);
            snprintf(who, sizeof(who), "a %s token", roles[k]);
            call(rt, headers, &r);
            judge(rt, who, k + 1, &r);
            serverproc_response_free(&r);
        }

        call(rt, cookie_headers, &r);
        if (strcmp(rt->access, "user") == 0 && strcmp(rt->method, "GET") != 0) {
            /* a change with a session but without its CSRF token */
            if (r.status != 403 || !bare_error(&r))
                problem(rt, "an admin session without X-CSRF-Token", &r, "403");
        } else {
            judge(rt, "an admin session", 4, &r);
        }
        serverproc_response_free(&r);
        if (strcmp(rt->path, "/api/v1/auth/logout") == 0) {
            /* the session is unharmed without CSRF; sign in again anyway if not */
            if (serverproc_login(server, "access-admin", "password-of-admin", cookie, sizeof(cookie), csrf,
                                 sizeof(csrf)) == 200)
                snprintf(cookie_hdr, sizeof(cookie_hdr), "Cookie: yamori_session=%s", cookie);
        }
    }
    CHECK_MSG(nproblems == 0, "%d answers were wrong (all in the log), first: %s", nproblems, problems);
    status = serverproc_stop(server);
    server = NULL;
    CHECK_MSG(status == 0, "the server exited with status %d (a sanitizer report?)", status);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"every_route_every_caller", every_route_every_caller},
        {NULL, NULL},
    };
    return check_main("server/access", cases, argc, argv);
}
