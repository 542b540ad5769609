/*
 * cmd_users.c — `yamori users`: people's accounts (admins), and one's own
 * password.
 *
 *   yamori users [list] [--json]
 *   yamori users show NAME [--json]
 *   yamori users add NAME --role ROLE [--password-file FILE] [--json]
 *   yamori users set-role NAME ROLE [--json]
 *   yamori users passwd NAME [--password-file FILE]     (an admin sets it)
 *   yamori users passwd [--old-password-file F] [--password-file F]  (one's own)
 *   yamori users disable NAME | enable NAME | delete NAME [--json]
 *
 * Passwords are asked on the terminal without echo (twice), or read from
 * the first line of a file for scripts. Tables by default; --json prints
 * the API's answer.
 */
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/cmd_login.h"

#define PASSWORD_BUF 1100

static int run(int argc, char **argv);

static const struct cli_command users_command = {
    .name = "users",
    .summary = "manage people's accounts (admins); change your password",
    .usage = "yamori users [list | show NAME | add NAME --role ROLE | set-role NAME ROLE | passwd [NAME] | "
             "disable NAME | enable NAME | delete NAME] [--password-file FILE] [--json]",
    .run = run,
};
CLI_COMMAND(users_command);

static void print_users_table(json_t *users)
{
    static const char *const head[] = {"NAME", "ROLE", "STATE", "LAST LOGIN", "PASSWORD SET", "CREATED"};
    struct cli_table *t = cli_table_new(6, head);
    size_t i;
    json_t *u;

    json_array_foreach(users, i, u) {
        char b1[80], b2[40], b4[40], b5[40], b6[40];
        const char *cells[6] = {
            cli_json_text(json_object_get(u, "name"), b1, sizeof(b1)),
            cli_json_text(json_object_get(u, "role"), b2, sizeof(b2)),
            json_is_true(json_object_get(u, "disabled")) ? "disabled" : "enabled",
            login_short_time(json_object_get(u, "last_login"), b4, sizeof(b4)),
            login_short_time(json_object_get(u, "password_changed"), b5, sizeof(b5)),
            login_short_time(json_object_get(u, "created"), b6, sizeof(b6)),
        };
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

/* Sends one request and prints the answer: JSON, a table of the user it
 * returns, or a line. */
static int send(struct cli_config *cfg, const char *method, const char *path, json_t *body, bool json,
                const char *what, const char *done)
{
    struct cli_response r;
    char err[600];
    int rc = 0;

    if (cli_request(cfg, method, path, body, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori users: %s\n", err);
        return 1;
    }
    if (r.status < 200 || r.status >= 300) {
        rc = cli_fail(&r, what);
    } else if (json) {
        login_print_json(r.body);
    } else if (json_is_array(json_object_get(r.json, "users"))) {
        print_users_table(json_object_get(r.json, "users"));
    } else if (json_is_string(json_object_get(r.json, "name"))) {
        json_t *one = json_pack("[O]", r.json);
        print_users_table(one);
        json_decref(one);
    } else if (done) {
        printf("%s\n", done);
    }
    cli_response_free(&r);
    return rc;
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"role", required_argument, NULL, 'r'},
        {"password-file", required_argument, NULL, 'p'},
        {"old-password-file", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *role = NULL, *pwfile = NULL, *oldfile = NULL, *action = "list", *name = NULL, *arg2 = NULL;
    char path[256], esc[200], err[600], pw[PASSWORD_BUF], old[PASSWORD_BUF], line[300];
    struct cli_config cfg;
    json_t *body = NULL;
    bool json = false;
    int c, npos, rc = 2;

    pw[0] = old[0] = '\0';
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'r': role = optarg; break;
        case 'p': pwfile = optarg; break;
        case 'o': oldfile = optarg; break;
        case 'h': printf("usage: %s\n", users_command.usage); return 0;
        default: return cli_usage(&users_command);
        }
    }
    npos = argc - optind;
    if (npos >= 1)
        action = argv[optind];
    if (npos >= 2)
        name = argv[optind + 1];
    if (npos >= 3)
        arg2 = argv[optind + 2];
    if (npos > 3)
        return cli_usage(&users_command);
    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori users: %s\n", err);
        return 1;
    }
    if (name)
        cli_url_escape(name, esc, sizeof(esc));

    if (strcmp(action, "list") == 0 && !name) {
        rc = send(&cfg, "GET", "/api/v1/users", NULL, json, "list users", NULL);
    } else if (strcmp(action, "show") == 0 && name && !arg2) {
        snprintf(path, sizeof(path), "/api/v1/users/%s", esc);
        rc = send(&cfg, "GET", path, NULL, json, "show the user", NULL);
    } else if (strcmp(action, "add") == 0 && name && !arg2 && role) {
        snprintf(line, sizeof(line), "password for %s: ", name);
        if (login_read_password(pwfile, NULL, line, true, pw, sizeof(pw), err, sizeof(err)) != 0) {
            fprintf(stderr, "yamori users: %s\n", err);
            rc = 1;
            goto out;
        }
        body = json_pack("{s:s, s:s, s:s}", "name", name, "role", role, "password", pw);
        rc = body ? send(&cfg, "POST", "/api/v1/users", body, json, "add the user", NULL) : 1;
    } else if (strcmp(action, "set-role") == 0 && name && arg2) {
        snprintf(path, sizeof(path), "/api/v1/users/%s", esc);
        body = json_pack("{s:s}", "role", arg2);
        rc = body ? send(&cfg, "PATCH", path, body, json, "change the role", NULL) : 1;
    } else if ((strcmp(action, "disable") == 0 || strcmp(action, "enable") == 0) && name && !arg2) {
        snprintf(path, sizeof(path), "/api/v1/users/%s", esc);
        body = json_pack("{s:b}", "disabled", strcmp(action, "disable") == 0);
        rc = body ? send(&cfg, "PATCH", path, body, json, action, NULL) : 1;
    } else if (strcmp(action, "delete") == 0 && name && !arg2) {
        snprintf(path, sizeof(path), "/api/v1/users/%s", esc);
        snprintf(line, sizeof(line), "deleted %s", name);
        rc = send(&cfg, "DELETE", path, NULL, json, "delete the user", line);
    } else if (strcmp(action, "passwd") == 0 && name && !arg2) {
        snprintf(line, sizeof(line), "new password for %s: ", name);
        if (login_read_password(pwfile, NULL, line, true, pw, sizeof(pw), err, sizeof(err)) != 0) {
            fprintf(stderr, "yamori users: %s\n", err);
            rc = 1;
            goto out;
        }
        snprintf(path, sizeof(path), "/api/v1/users/%s/password", esc);
        body = json_pack("{s:s}", "password", pw);
        snprintf(line, sizeof(line), "password of %s set; their sessions ended", name);
        rc = body ? send(&cfg, "POST", path, body, json, "set the password", line) : 1;
    } else if (strcmp(action, "passwd") == 0 && !name) {
        if (login_read_password(oldfile, NULL, "current password: ", false, old, sizeof(old), err, sizeof(err)) ||
            login_read_password(pwfile, NULL, "new password: ", true, pw, sizeof(pw), err, sizeof(err))) {
            fprintf(stderr, "yamori users: %s\n", err);
            rc = 1;
            goto out;
        }
        body = json_pack("{s:s, s:s}", "old_password", old, "new_password", pw);
        rc = body ? send(&cfg, "POST", "/api/v1/auth/password", body, json, "change your password",
                         "password changed")
                  : 1;
    } else {
        rc = cli_usage(&users_command);
    }
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    OPENSSL_cleanse(old, sizeof(old));
    OPENSSL_cleanse(cfg.token, sizeof(cfg.token));
    json_decref(body);
    return rc;
}
