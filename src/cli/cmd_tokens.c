/*
 * cmd_tokens.c — `yamori tokens`: API tokens for scripts and other hosts.
 *
 *   yamori tokens [list] [--user NAME] [--json]
 *   yamori tokens create NAME [--role ROLE] [--expires 30d|never] [--user NAME] [--json]
 *   yamori tokens revoke ID [--json]
 *
 * A new token's text is printed once, on its own line of standard output
 * (the server keeps only its hash). Tables by default; --json prints the
 * API's answer.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/cmd_login.h"

static int run(int argc, char **argv);

static const struct cli_command tokens_command = {
    .name = "tokens",
    .summary = "list, create and revoke API tokens",
    .usage = "yamori tokens [list [--user NAME] | create NAME [--role ROLE] [--expires 30d|never] [--user NAME] | "
             "revoke ID] [--json]",
    .run = run,
};
CLI_COMMAND(tokens_command);

static void print_table(json_t *tokens)
{
    static const char *const head[] = {"ID", "NAME", "USER", "ROLE", "STATE", "EXPIRES", "LAST USED", "CREATED"};
    struct cli_table *t = cli_table_new(8, head);
    size_t i;
    json_t *k;

    json_array_foreach(tokens, i, k) {
        char b[8][80];
        const char *role = json_string_value(json_object_get(k, "role"));
        const char *eff = json_string_value(json_object_get(k, "effective_role"));
        if (role && eff && strcmp(role, eff) != 0)
            snprintf(b[3], sizeof(b[3]), "%s (capped to %s)", role, eff);
        else
            cli_json_text(json_object_get(k, "role"), b[3], sizeof(b[3]));
        const char *cells[8] = {
            cli_json_text(json_object_get(k, "id"), b[0], sizeof(b[0])),
            cli_json_text(json_object_get(k, "name"), b[1], sizeof(b[1])),
            cli_json_text(json_object_get(k, "user"), b[2], sizeof(b[2])),
            b[3],
            cli_json_text(json_object_get(k, "state"), b[4], sizeof(b[4])),
            json_is_null(json_object_get(k, "expires")) ? "never"
                                                         : login_short_time(json_object_get(k, "expires"), b[5],
                                                                            sizeof(b[5])),
            login_short_time(json_object_get(k, "last_used"), b[6], sizeof(b[6])),
            login_short_time(json_object_get(k, "created"), b[7], sizeof(b[7])),
        };
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"role", required_argument, NULL, 'r'},
        {"expires", required_argument, NULL, 'e'},
        {"user", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *role = NULL, *expires = NULL, *user = NULL, *action = "list", *arg = NULL;
    char path[256], esc[200], err[600];
    struct cli_config cfg;
    struct cli_response r = {0};
    json_t *body = NULL;
    long long lifetime = 0;
    bool json = false;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'r': role = optarg; break;
        case 'e': expires = optarg; break;
        case 'u': user = optarg; break;
        case 'h': printf("usage: %s\n", tokens_command.usage); return 0;
        default: return cli_usage(&tokens_command);
        }
    }
    if (argc - optind >= 1)
        action = argv[optind];
    if (argc - optind >= 2)
        arg = argv[optind + 1];
    if (argc - optind > 2)
        return cli_usage(&tokens_command);
    if (expires && strcmp(expires, "never") != 0 && login_parse_duration(expires, &lifetime) != 0) {
        fprintf(stderr, "yamori tokens: --expires expects a duration such as 12h, 30d or 2w, or never\n");
        return 2;
    }
    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori tokens: %s\n", err);
        return 1;
    }
    if (strcmp(action, "list") == 0 && !arg && !role && !expires) {
        if (user) {
            cli_url_escape(user, esc, sizeof(esc));
            snprintf(path, sizeof(path), "/api/v1/tokens?user=%s", esc);
        } else {
            snprintf(path, sizeof(path), "/api/v1/tokens");
        }
        if (cli_request(&cfg, "GET", path, NULL, &r, err, sizeof(err)) != 0)
            fprintf(stderr, "yamori tokens: %s\n", err);
        else if (r.status != 200)
            rc = cli_fail(&r, "list tokens");
        else if (json)
            login_print_json(r.body), rc = 0;
        else
            print_table(json_object_get(r.json, "tokens")), rc = 0;
    } else if (strcmp(action, "create") == 0 && arg) {
        body = json_pack("{s:s}", "name", arg);
        if (!body)
            goto out;
        if (role)
            json_object_set_new(body, "role", json_string(role));
        if (user)
            json_object_set_new(body, "user", json_string(user));
        if (lifetime)
            json_object_set_new(body, "expires_in_seconds", json_integer(lifetime));
        if (cli_request(&cfg, "POST", "/api/v1/tokens", body, &r, err, sizeof(err)) != 0) {
            fprintf(stderr, "yamori tokens: %s\n", err);
        } else if (r.status != 201) {
            rc = cli_fail(&r, "create the token");
        } else if (json) {
            login_print_json(r.body);
            rc = 0;
        } else {
            char b1[40], b2[40];
            fprintf(stderr, "token \"%s\" (id %s, user %s, role %s, expires %s); it is shown only this once:\n", arg,
                    cli_json_text(json_object_get(r.json, "id"), b1, sizeof(b1)),
                    json_string_value(json_object_get(r.json, "user")),
                    json_string_value(json_object_get(r.json, "role")),
                    json_is_null(json_object_get(r.json, "expires"))
                        ? "never"
                        : login_short_time(json_object_get(r.json, "expires"), b2, sizeof(b2)));
            printf("%s\n", json_string_value(json_object_get(r.json, "token")));
            rc = 0;
        }
    } else if (strcmp(action, "revoke") == 0 && arg && !role && !expires && !user) {
        cli_url_escape(arg, esc, sizeof(esc));
        snprintf(path, sizeof(path), "/api/v1/tokens/%s", esc);
        if (cli_request(&cfg, "DELETE", path, NULL, &r, err, sizeof(err)) != 0)
            fprintf(stderr, "yamori tokens: %s\n", err);
        else if (r.status != 200)
            rc = cli_fail(&r, "revoke the token");
        else if (json)
            login_print_json(r.body), rc = 0;
        else
            printf("revoked token %s\n", arg), rc = 0;
    } else {
        rc = cli_usage(&tokens_command);
    }
out:
    cli_response_free(&r);
    json_decref(body);
    return rc;
}
