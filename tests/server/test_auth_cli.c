/*
 * test_auth_cli.c — the people-and-access subcommands of `yamori` against a
 * real server: login pinning the CA by fingerprint (a wrong one refused,
 * nothing saved) or by file, users, tokens and audit in tables and JSON,
 * logout revoking the saved token, and a second login revoking the token
 * of the first. The CLI runs as a child process (sanitizer build), with
 * its configuration in a temporary directory ($YAMORI_CONFIG).
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "serverproc.h"

static struct serverproc *server;
static char dir[64], config[128];

static void teardown(void)
{
    char path[200];
    serverproc_stop_all();
    server = NULL;
    if (dir[0]) {
        const char *files[] = {"config.json", "server-ca.pem", "pw"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
        dir[0] = '\0';
    }
    unsetenv("YAMORI_CONFIG");
    unsetenv("YAMORI_PASSWORD");
}

static bool fingerprint(const char *ca_path, char *out, size_t outlen)
{
    FILE *f = fopen(ca_path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    size_t pos;

    if (f)
        fclose(f);
    if (!x || !X509_digest(x, EVP_sha256(), md, &n)) {
        X509_free(x);
        return false;
    }
    pos = (size_t)snprintf(out, outlen, "SHA256:");
    for (unsigned i = 0; i < n && pos + 3 < outlen; i++)
        pos += (size_t)snprintf(out + pos, outlen - pos, "%02X%s", md[i], i + 1 < n ? ":" : "");
    X509_free(x);
    return true;
}

static json_t *saved_config(void)
{
    return json_load_file(config, 0, NULL);
}

static long status_with_token(const char *token)
{
    struct serverproc_response r;
    char auth[200];
    const char *headers[] = {auth, NULL};
    long st;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    st = serverproc_request(server, "GET", "/api/v1/auth/me", NULL, headers, &r) == 0 ? r.status : 0;
    serverproc_response_free(&r);
    return st;
}

static void cli_login_manage_logout(void)
{
    char err[2048], fp[200], out[16384], pw[200], first_token[128];
    const char *url;
    json_t *cfg, *list;
    FILE *f;

    check_set_teardown(teardown);
    snprintf(dir, sizeof(dir), "/tmp/yamori-test-cli.XXXXXX");
    CHECK(mkdtemp(dir));
    snprintf(config, sizeof(config), "%s/config.json", dir);
    setenv("YAMORI_CONFIG", config, 1);
    server = serverproc_start(NULL, err, sizeof(err));
    CHECK_MSG(server, "%s", err);
    url = serverproc_url(server);
    CHECK(fingerprint(serverproc_ca(server), fp, sizeof(fp)));

    /* a wrong fingerprint: refused, nothing saved */
    setenv("YAMORI_PASSWORD", SERVERPROC_ADMIN_PASSWORD, 1);
    CHECK_INT(serverproc_cli(out, sizeof(out), "login %s --user admin --fingerprint SHA256:%064d", url, 0), ==, 1);
    CHECK_MSG(strstr(out, "refusing to trust"), "%s", out);
    CHECK(access(config, F_OK) != 0);
    /* no terminal and no fingerprint: it says what to do */
    CHECK_INT(serverproc_cli(out, sizeof(out), "login %s --user admin", url), ==, 1);
    CHECK_MSG(strstr(out, "--fingerprint"), "%s", out);
    /* a wrong password */
    setenv("YAMORI_PASSWORD", "not the admin password", 1);
    CHECK_INT(serverproc_cli(out, sizeof(out), "login %s --user admin --fingerprint %s", url, fp), ==, 1);
    CHECK_MSG(strstr(out, "wrong user name or password"), "%s", out);
    CHECK(access(config, F_OK) != 0);

    /* the right one (fingerprint given as openssl prints it) */
    setenv("YAMORI_PASSWORD", SERVERPROC_ADMIN_PASSWORD, 1);
    CHECK_INT(serverproc_cli(out, sizeof(out), "login %s/ --user admin --fingerprint %s", url, fp), ==, 0);
    CHECK_MSG(strstr(out, "logged in to") && strstr(out, "as admin (admin)"), "%s", out);
    cfg = saved_config();
    CHECK(cfg);
    CHECK_STR(json_string_value(json_object_get(cfg, "url")), url);
    CHECK(strncmp(json_string_value(json_object_get(cfg, "token")) ?: "", "ymt_", 4) == 0);
    CHECK(strstr(json_string_value(json_object_get(cfg, "ca")) ?: "", "server-ca.pem"));
    snprintf(first_token, sizeof(first_token), "%s", json_string_value(json_object_get(cfg, "token")));
    json_decref(cfg);
    {
        struct stat st;
        CHECK_INT(stat(config, &st), ==, 0);
        CHECK_INT(st.st_mode & 077, ==, 0);
    }

    /* users */
    snprintf(pw, sizeof(pw), "%s/pw", dir);
    f = fopen(pw, "w");
    CHECK(f);
    fputs("ann's password\n", f);
    fclose(f);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users add ann --role analyst --password-file %s", pw), ==, 0);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users add ann --role analyst --password-file %s", pw), ==, 1);
    CHECK_MSG(strstr(out, "already exists") && strstr(out, "HTTP 409"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users"), ==, 0);
    CHECK_MSG(strstr(out, "NAME") && strstr(out, "ann") && strstr(out, "analyst"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users list --json"), ==, 0);
    list = json_loads(out, 0, NULL);
    CHECK_MSG(list && json_array_size(json_object_get(list, "users")) == 2, "%s", out);
    json_decref(list);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users set-role ann responder"), ==, 0);
    CHECK_MSG(strstr(out, "responder"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users set-role ann king"), ==, 1);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users disable ann"), ==, 0);
    CHECK_MSG(strstr(out, "disabled"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users enable ann"), ==, 0);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users passwd ann --password-file %s", pw), ==, 0);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users frobnicate"), ==, 2);

    /* tokens */
    CHECK_INT(serverproc_cli(out, sizeof(out), "tokens create ci --role viewer --expires 1d"), ==, 0);
    CHECK_MSG(strstr(out, "ymt_") && strstr(out, "shown only this once"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "tokens create bad --expires soon"), ==, 2);
    CHECK_INT(serverproc_cli(out, sizeof(out), "tokens list --json"), ==, 0);
    list = json_loads(out, 0, NULL);
    CHECK_MSG(list && json_array_size(json_object_get(list, "tokens")) == 2, "%s", out);
    {
        json_t *t = json_array_get(json_object_get(list, "tokens"), 0);
        long long id = json_integer_value(json_object_get(t, "id"));
        CHECK_STR(json_string_value(json_object_get(t, "name")), "ci");
        json_decref(list);
        CHECK_INT(serverproc_cli(out, sizeof(out), "tokens revoke %lld", id), ==, 0);
        CHECK_INT(serverproc_cli(out, sizeof(out), "tokens revoke %lld", id), ==, 1);
        CHECK_MSG(strstr(out, "already revoked"), "%s", out);
    }
    CHECK_INT(serverproc_cli(out, sizeof(out), "tokens"), ==, 0);
    CHECK_MSG(strstr(out, "STATE") && strstr(out, "revoked") && strstr(out, "active"), "%s", out);

    /* audit */
    CHECK_INT(serverproc_cli(out, sizeof(out), "audit --since 1h --limit 50"), ==, 0);
    CHECK_MSG(strstr(out, "ACTION") && strstr(out, "token.revoke") && strstr(out, "user.create"), "%s", out);
    CHECK_INT(serverproc_cli(out, sizeof(out), "audit --action user.* --json"), ==, 0);
    list = json_loads(out, 0, NULL);
    CHECK_MSG(list && json_array_size(json_object_get(list, "entries")) >= 4, "%s", out);
    json_decref(list);
    CHECK_INT(serverproc_cli(out, sizeof(out), "audit --limit 0"), ==, 1);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users delete ann"), ==, 0);

    /* logging in again revokes the first token */
    CHECK_INT(status_with_token(first_token), ==, 200);
    CHECK_INT(serverproc_cli(out, sizeof(out), "login %s --user admin --ca %s", url, serverproc_ca(server)), ==, 0);
    CHECK_INT(status_with_token(first_token), ==, 401);
    cfg = saved_config();
    CHECK(cfg);
    snprintf(first_token, sizeof(first_token), "%s", json_string_value(json_object_get(cfg, "token")) ?: "");
    CHECK_STR(json_string_value(json_object_get(cfg, "ca")), serverproc_ca(server));
    json_decref(cfg);
    CHECK_INT(status_with_token(first_token), ==, 200);

    /* logout revokes and forgets */
    CHECK_INT(serverproc_cli(out, sizeof(out), "logout"), ==, 0);
    CHECK_MSG(strstr(out, "logged out"), "%s", out);
    CHECK_INT(status_with_token(first_token), ==, 401);
    cfg = saved_config();
    CHECK(cfg);
    CHECK_STR(json_string_value(json_object_get(cfg, "token")), "");
    json_decref(cfg);
    CHECK_INT(serverproc_cli(out, sizeof(out), "users"), ==, 1);
    CHECK_INT(serverproc_cli(out, sizeof(out), "logout"), ==, 0);
    CHECK_MSG(strstr(out, "not logged in"), "%s", out);
    CHECK_INT(serverproc_stop(server), ==, 0);
    server = NULL;
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"cli_login_manage_logout", cli_login_manage_logout},
        {NULL, NULL},
    };
    return check_main("server/auth_cli", cases, argc, argv);
}
