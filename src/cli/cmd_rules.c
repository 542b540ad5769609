/*
 * cmd_rules.c — `yamori rules`: the detection rules the server runs (loaded
 * and refused, with their hits) as an aligned table, and `yamori rules
 * reload` to reload every rule directory now.
 *
 *   yamori rules [--json] [--errors]
 *   yamori rules reload
 *   yamori rules status [--json]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"

static int run_rules(int argc, char **argv);

static const struct cli_command rules_command = {
    .name = "rules",
    .summary = "list the detection rules (loaded, refused, hits), reload them, show detection status",
    .usage = "yamori rules [--json] [--errors]\n"
             "       yamori rules reload\n"
             "       yamori rules status [--json]",
    .run = run_rules,
};
CLI_COMMAND(rules_command);

static int request(const char *method, const char *path, struct cli_response *r, const char *what)
{
    struct cli_config cfg;
    char err[600];

    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori rules: %s\n", err);
        return 1;
    }
    if (cli_request(&cfg, method, path, NULL, r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori rules: %s: %s\n", what, err);
        return 1;
    }
    if (r->status != 200 || !r->json) {
        int rc = cli_fail(r, what);
        cli_response_free(r);
        return rc;
    }
    return 0;
}

static const char *joined(json_t *arr, char *buf, size_t len)
{
    size_t i, o = 0;
    json_t *e;

    buf[0] = '\0';
    json_array_foreach(arr, i, e) {
        int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", json_string_value(e) ? json_string_value(e) : "");
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
    return buf;
}

static int list(bool as_json, bool errors_only)
{
    static const char *const headers[] = {"TITLE", "LEVEL", "TACTICS", "SOURCE", "STATUS", "HITS", "FILE"};
    struct cli_response r;
    struct cli_table *t;
    json_t *x;
    size_t i;

    if (request("GET", "/api/v1/rules", &r, "cannot list the rules") != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    t = cli_table_new(7, headers);
    json_array_foreach(json_object_get(r.json, "rules"), i, x) {
        char tac[256], hits[32], file[1024], level[32], src[32], status[600], line[32] = "";
        const char *st = json_string_value(json_object_get(x, "status"));
        bool error = st && strcmp(st, "error") == 0;
        if (errors_only && !error)
            continue;
        cli_json_text(json_object_get(x, "hits"), hits, sizeof(hits));
        cli_json_text(json_object_get(x, "level"), level, sizeof(level));
        cli_json_text(json_object_get(x, "source"), src, sizeof(src));
        if (json_is_integer(json_object_get(x, "line")))
            snprintf(line, sizeof(line), ":%lld", (long long)json_integer_value(json_object_get(x, "line")));
        snprintf(file, sizeof(file), "%s%s", json_string_value(json_object_get(x, "file")) ?
                 json_string_value(json_object_get(x, "file")) : "", line);
        if (error)
            snprintf(status, sizeof(status), "error: %s", json_string_value(json_object_get(x, "message")) ?
                     json_string_value(json_object_get(x, "message")) : "");
        else
            snprintf(status, sizeof(status), "%s", st ? st : "");
        const char *cells[] = {json_string_value(json_object_get(x, "title")),
                               level,
                               joined(json_object_get(x, "tactics"), tac, sizeof(tac)),
                               src,
                               status,
                               error ? NULL : hits,
                               file};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    printf("%lld loaded, %lld refused\n", (long long)json_integer_value(json_object_get(r.json, "loaded")),
           (long long)json_integer_value(json_object_get(r.json, "refused")));
    cli_response_free(&r);
    return 0;
}

static int reload(void)
{
    struct cli_response r;

    if (request("POST", "/api/v1/rules/reload", &r, "cannot reload the rules") != 0)
        return 1;
    printf("rules reloaded: %lld loaded, %lld refused (see `yamori rules --errors`)\n",
           (long long)json_integer_value(json_object_get(r.json, "loaded")),
           (long long)json_integer_value(json_object_get(r.json, "refused")));
    cli_response_free(&r);
    return 0;
}

static int status(bool as_json)
{
    static const char *const keys[] = {"rules_dir", "rule_dirs", "rules_loaded", "rules_refused",
                                       "events_inspected", "events_not_inspected", "hits", "indicator_hits",
                                       "suppressed_by_allow", "alerts_not_stored", "reloads", "reloads_failed"};
    struct cli_response r;
    char buf[1024];
    json_t *lr;

    if (request("GET", "/api/v1/detection/status", &r, "cannot read the detection status") != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        printf("%-22s %s\n", keys[i], cli_json_text(json_object_get(r.json, keys[i]), buf, sizeof(buf)));
    lr = json_object_get(r.json, "last_reload");
    printf("%-22s %s %s%s\n", "last_reload", cli_json_text(json_object_get(lr, "time"), buf, sizeof(buf)),
           json_is_true(json_object_get(lr, "ok")) ? "ok" : "failed: ",
           json_is_true(json_object_get(lr, "ok")) ? "" : json_string_value(json_object_get(lr, "error")) ?
           json_string_value(json_object_get(lr, "error")) : "");
    cli_response_free(&r);
    return 0;
}

static int run_rules(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"errors", no_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool as_json = false, errors = false;
    const char *sub = NULL;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "je", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 'e': errors = true; break;
        case 'h': printf("usage: %s\n", rules_command.usage); return 0;
        default: return cli_usage(&rules_command);
        }
    }
    if (optind < argc)
        sub = argv[optind++];
    if (optind != argc)
        return cli_usage(&rules_command);
    if (!sub)
        return list(as_json, errors);
    if (strcmp(sub, "reload") == 0 && !as_json && !errors)
        return reload();
    if (strcmp(sub, "status") == 0 && !errors)
        return status(as_json);
    return cli_usage(&rules_command);
}
