/*
 * cmd_audit.c — `yamori audit`: read the audit log (admins).
 *
 *   yamori audit [--since 1h|2026-01-02T00:00:00Z] [--limit N] [--action user.*] [--before ID] [--json]
 *
 * Newest first. Tables by default; --json prints the API's answer, whose
 * next_before continues the listing with --before.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/cmd_login.h"

static int run(int argc, char **argv);

static const struct cli_command audit_command = {
    .name = "audit",
    .summary = "read the audit log (admins)",
    .usage = "yamori audit [--since 1h|TIME] [--limit N] [--action ACTION|PREFIX.*] [--before ID] [--json]",
    .run = run,
};
CLI_COMMAND(audit_command);

static void print_table(json_t *entries)
{
    static const char *const head[] = {"ID", "TIME", "ACTOR", "ADDRESS", "ACTION", "TARGET", "DETAIL"};
    struct cli_table *t = cli_table_new(7, head);
    size_t i;
    json_t *e;

    json_array_foreach(entries, i, e) {
        char b[7][300], actor[200];
        const char *kind = json_string_value(json_object_get(e, "actor_kind"));
        const char *who = json_string_value(json_object_get(e, "actor"));
        if (who)
            snprintf(actor, sizeof(actor), "%s%s%.120s", kind && strcmp(kind, "user") ? kind : "",
                     kind && strcmp(kind, "user") ? ":" : "", who);
        else
            snprintf(actor, sizeof(actor), "%s", kind ? kind : "");
        const char *cells[7] = {
            cli_json_text(json_object_get(e, "id"), b[0], sizeof(b[0])),
            login_short_time(json_object_get(e, "time"), b[1], sizeof(b[1])),
            actor,
            cli_json_text(json_object_get(e, "remote_ip"), b[3], sizeof(b[3])),
            cli_json_text(json_object_get(e, "action"), b[4], sizeof(b[4])),
            cli_json_text(json_object_get(e, "target"), b[5], sizeof(b[5])),
            cli_json_text(json_object_get(e, "detail"), b[6], sizeof(b[6])),
        };
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

/* Appends "&name=escaped value" (or "?..." first) to path. */
static void add_query(char *path, size_t len, const char *name, const char *value)
{
    char esc[200];
    size_t n = strlen(path);
    cli_url_escape(value, esc, sizeof(esc));
    snprintf(path + n, len - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, esc);
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"since", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'l'},
        {"action", required_argument, NULL, 'a'},
        {"before", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *since = NULL, *limit = NULL, *action = NULL, *before = NULL;
    char path[1024] = "/api/v1/audit", err[600];
    struct cli_config cfg;
    struct cli_response r;
    bool json = false;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 's': since = optarg; break;
        case 'l': limit = optarg; break;
        case 'a': action = optarg; break;
        case 'b': before = optarg; break;
        case 'h': printf("usage: %s\n", audit_command.usage); return 0;
        default: return cli_usage(&audit_command);
        }
    }
    if (optind != argc)
        return cli_usage(&audit_command);
    if (since)
        add_query(path, sizeof(path), "since", since);
    if (limit)
        add_query(path, sizeof(path), "limit", limit);
    if (action)
        add_query(path, sizeof(path), "action", action);
    if (before)
        add_query(path, sizeof(path), "before", before);
    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori audit: %s\n", err);
        return 1;
    }
    if (cli_request(&cfg, "GET", path, NULL, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori audit: %s\n", err);
        return 1;
    }
    rc = 0;
    if (r.status != 200) {
        rc = cli_fail(&r, "read the audit log");
    } else if (json) {
        login_print_json(r.body);
    } else {
        print_table(json_object_get(r.json, "entries"));
        if (json_is_integer(json_object_get(r.json, "next_before")))
            fprintf(stderr, "(more: --before %lld)\n",
                    (long long)json_integer_value(json_object_get(r.json, "next_before")));
    }
    cli_response_free(&r);
    return rc;
}
