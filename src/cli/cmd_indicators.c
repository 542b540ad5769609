/*
 * cmd_indicators.c — `yamori indicators`: the indicators the detection
 * matches events against (SHA-256, IP, domain, path; alert or allow), as
 * an aligned table; add and remove them.
 *
 *   yamori indicators [--json]
 *   yamori indicators add --type sha256|ip|domain|path --value VALUE --action alert|allow
 *                         --title TITLE [--severity S] [--description TEXT] [--expires 30d] [--json]
 *   yamori indicators remove ID
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"

static int run_indicators(int argc, char **argv);

static const struct cli_command indicators_command = {
    .name = "indicators",
    .summary = "list, add and remove indicators (SHA-256, IP, domain, path; alert or allow)",
    .usage = "yamori indicators [--json]\n"
             "       yamori indicators add --type sha256|ip|domain|path --value VALUE --action alert|allow\n"
             "                             --title TITLE [--severity informational|low|medium|high]\n"
             "                             [--description TEXT] [--expires 30d|12h|90m] [--json]\n"
             "       yamori indicators remove ID",
    .run = run_indicators,
};
CLI_COMMAND(indicators_command);

static int call(const char *method, const char *path, json_t *body, struct cli_response *r, const char *what,
                long want)
{
    struct cli_config cfg;
    char err[600];

    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori indicators: %s\n", err);
        return 1;
    }
    if (cli_request(&cfg, method, path, body, r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori indicators: %s: %s\n", what, err);
        return 1;
    }
    if (r->status != want || !r->json) {
        int rc = cli_fail(r, what);
        cli_response_free(r);
        return rc;
    }
    return 0;
}

static int list(bool as_json)
{
    static const char *const headers[] = {"ID", "TYPE", "VALUE", "ACTION", "SEVERITY", "TITLE", "EXPIRES", "BY"};
    struct cli_response r;
    struct cli_table *t;
    json_t *x;
    size_t i;

    if (call("GET", "/api/v1/indicators", NULL, &r, "cannot list the indicators", 200) != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    t = cli_table_new(8, headers);
    json_array_foreach(json_object_get(r.json, "indicators"), i, x) {
        char id[32], exp[64];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(x, "id")));
        if (json_is_true(json_object_get(x, "expired")))
            snprintf(exp, sizeof(exp), "expired");
        else
            cli_json_text(json_object_get(x, "expires"), exp, sizeof(exp));
        const char *cells[] = {id,
                               json_string_value(json_object_get(x, "type")),
                               json_string_value(json_object_get(x, "value")),
                               json_string_value(json_object_get(x, "action")),
                               json_string_value(json_object_get(x, "severity")),
                               json_string_value(json_object_get(x, "title")),
                               exp[0] ? exp : "never",
                               json_string_value(json_object_get(x, "created_by"))};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    cli_response_free(&r);
    return 0;
}

static int add(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},     {"value", required_argument, NULL, 'v'},
        {"action", required_argument, NULL, 'a'},   {"title", required_argument, NULL, 'T'},
        {"severity", required_argument, NULL, 's'}, {"description", required_argument, NULL, 'd'},
        {"expires", required_argument, NULL, 'e'},  {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *type = NULL, *value = NULL, *action = NULL, *title = NULL, *sev = NULL, *desc = NULL, *exp = NULL;
    struct cli_response r;
    bool as_json = false;
    json_t *body;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 't': type = optarg; break;
        case 'v': value = optarg; break;
        case 'a': action = optarg; break;
        case 'T': title = optarg; break;
        case 's': sev = optarg; break;
        case 'd': desc = optarg; break;
        case 'e': exp = optarg; break;
        case 'j': as_json = true; break;
        default: return cli_usage(&indicators_command);
        }
    }
    if (optind != argc || !type || !value || !action || !title)
        return cli_usage(&indicators_command);
    body = json_pack("{s:s, s:s, s:s, s:s}", "type", type, "value", value, "action", action, "title", title);
    if (!body)
        return 1;
    if (sev)
        json_object_set_new(body, "severity", json_string(sev));
    if (desc)
        json_object_set_new(body, "description", json_string(desc));
    if (exp)
        json_object_set_new(body, "expires_in", json_string(exp));
    rc = call("POST", "/api/v1/indicators", body, &r, "cannot add the indicator", 201);
    json_decref(body);
    if (rc)
        return rc;
    if (as_json)
        printf("%s\n", r.body);
    else
        printf("indicator %lld added: %s %s (%s)\n", (long long)json_integer_value(json_object_get(r.json, "id")),
               json_string_value(json_object_get(r.json, "type")), json_string_value(json_object_get(r.json, "value")),
               json_string_value(json_object_get(r.json, "action")));
    cli_response_free(&r);
    return 0;
}

static int remove_one(const char *id)
{
    struct cli_response r;
    char path[256], esc[128];

    cli_url_escape(id, esc, sizeof(esc));
    snprintf(path, sizeof(path), "/api/v1/indicators/%s", esc);
    if (call("DELETE", path, NULL, &r, "cannot remove the indicator", 200) != 0)
        return 1;
    printf("indicator %s removed\n", id);
    cli_response_free(&r);
    return 0;
}

static int run_indicators(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return add(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "remove") == 0)
        return argc == 3 ? remove_one(argv[2]) : cli_usage(&indicators_command);
    if (argc == 1)
        return list(false);
    if (argc == 2 && strcmp(argv[1], "--json") == 0)
        return list(true);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", indicators_command.usage);
        return 0;
    }
    return cli_usage(&indicators_command);
}
