/*
 * cmd_incidents.c — `yamori incidents` (the incident queue as a table) and
 * `yamori incident` (show one with its alerts, devices, users and
 * evidence; change it; comment; merge it into another), through the API.
 *
 *   yamori incidents [--json] [--status S] [--severity S] [--device NAME] [--assigned USER] [--since T]
 *                    [--limit N]
 *   yamori incident show ID [--json]
 *   yamori incident update ID [--status S] [--classification C] [--determination D]
 *                             [--assign USER | --unassign] [--tag T]... [--no-tags] [--name TEXT | --auto-name]
 *   yamori incident comment ID TEXT
 *   yamori incident merge ID --into ID
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_alerts.h"

static int run_incidents(int argc, char **argv);
static int run_incident(int argc, char **argv);

static const struct cli_command incidents_command = {
    .name = "incidents",
    .summary = "list incidents (the incident queue)",
    .usage = "yamori incidents [--json] [--status S] [--severity S] [--device NAME] [--assigned USER]"
             " [--since TIME] [--limit N]",
    .run = run_incidents,
};
CLI_COMMAND(incidents_command);

static const struct cli_command incident_command = {
    .name = "incident",
    .summary = "show an incident, change it, comment on it, merge it",
    .usage = "yamori incident show ID [--json]\n"
             "       yamori incident update ID [--status S] [--classification C] [--determination D]"
             " [--assign USER | --unassign] [--tag T]... [--no-tags] [--name TEXT | --auto-name]\n"
             "       yamori incident comment ID TEXT\n"
             "       yamori incident merge ID --into ID",
    .run = run_incident,
};
CLI_COMMAND(incident_command);

/* "web-1, db-2" of an incident's devices. */
static const char *device_names(json_t *devices, char *buf, size_t buflen)
{
    size_t i, o = 0;
    json_t *d;

    buf[0] = '\0';
    json_array_foreach(devices, i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        int n = snprintf(buf + o, buflen - o, "%s%s", o ? ", " : "",
                         name ? name : json_string_value(json_object_get(d, "id")));
        if (n < 0 || (size_t)n >= buflen - o)
            break;
        o += (size_t)n;
    }
    if (!buf[0])
        snprintf(buf, buflen, "-");
    return buf;
}

/* ------------------------------------------------------------------ yamori incidents */

static int run_incidents(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},         {"status", required_argument, NULL, 's'},
        {"severity", required_argument, NULL, 'S'}, {"device", required_argument, NULL, 'd'},
        {"assigned", required_argument, NULL, 'a'}, {"since", required_argument, NULL, 't'},
        {"limit", required_argument, NULL, 'l'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const headers[] = {"ID", "SEVERITY", "NAME", "STATUS", "DEVICES", "ALERTS", "ASSIGNED",
                                          "LAST ACTIVITY"};
    char path[4096] = "/api/v1/incidents";
    struct cli_config cfg;
    struct cli_response r;
    struct cli_table *t;
    bool as_json = false;
    json_t *inc;
    size_t i;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "j", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 's': alerts_cli_query(path, sizeof(path), "status", optarg); break;
        case 'S': alerts_cli_query(path, sizeof(path), "severity", optarg); break;
        case 'd': alerts_cli_query(path, sizeof(path), "device", optarg); break;
        case 'a': alerts_cli_query(path, sizeof(path), "assigned", optarg); break;
        case 't': alerts_cli_query(path, sizeof(path), "since", optarg); break;
        case 'l': alerts_cli_query(path, sizeof(path), "limit", optarg); break;
        case 'h': printf("usage: %s\n", incidents_command.usage); return 0;
        default: return cli_usage(&incidents_command);
        }
    }
    if (optind != argc)
        return cli_usage(&incidents_command);
    if (alerts_cli_config(&cfg, "incidents") != 0)
        return 1;
    if (alerts_cli_call(&cfg, "GET", path, NULL, 200, &r, "cannot list incidents") != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    t = cli_table_new(8, headers);
    json_array_foreach(json_object_get(r.json, "incidents"), i, inc) {
        char id[32], devs[512], count[32], ago[32];
        const char *cells[] = {cli_json_text(json_object_get(inc, "id"), id, sizeof(id)),
                               json_string_value(json_object_get(inc, "severity")),
                               json_string_value(json_object_get(inc, "name")),
                               json_string_value(json_object_get(inc, "status")),
                               device_names(json_object_get(inc, "devices"), devs, sizeof(devs)),
                               cli_json_text(json_object_get(inc, "alert_count"), count, sizeof(count)),
                               json_string_value(json_object_get(inc, "assigned_to")),
                               alerts_cli_ago(json_object_get(inc, "last_activity"), ago, sizeof(ago))};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    printf("%lld of %lld incidents\n", (long long)json_array_size(json_object_get(r.json, "incidents")),
           (long long)json_integer_value(json_object_get(r.json, "total")));
    cli_response_free(&r);
    return 0;
}

/* ------------------------------------------------------------------ yamori incident show */

static void field(const char *key, json_t *v)
{
    char buf[64];
    const char *text = json_is_string(v) ? json_string_value(v) : json_is_integer(v) ? cli_json_text(v, buf, sizeof(buf))
                                                                                     : NULL;
    printf("%-16s %s\n", key, text && *text ? text : "-");
}

static void print_incident(json_t *inc)
{
    char buf[2048];
    size_t i;
    json_t *e;

    field("incident", json_object_get(inc, "id"));
    field("name", json_object_get(inc, "name"));
    field("severity", json_object_get(inc, "severity"));
    field("status", json_object_get(inc, "status"));
    if (json_is_integer(json_object_get(inc, "redirected_to")))
        field("merged into", json_object_get(inc, "redirected_to"));
    field("classification", json_object_get(inc, "classification"));
    field("determination", json_object_get(inc, "determination"));
    field("assigned to", json_object_get(inc, "assigned_to"));
    printf("%-16s %s\n", "tags", alerts_cli_joined(json_object_get(inc, "tags"), buf, sizeof(buf)));
    printf("%-16s %s\n", "tactics", alerts_cli_joined(json_object_get(inc, "tactics"), buf, sizeof(buf)));
    printf("%-16s %s\n", "devices", device_names(json_object_get(inc, "devices"), buf, sizeof(buf)));
    printf("%-16s %s\n", "users", alerts_cli_joined(json_object_get(inc, "users"), buf, sizeof(buf)));
    field("first event", json_object_get(inc, "first_event"));
    field("last event", json_object_get(inc, "last_event"));
    field("last activity", json_object_get(inc, "last_activity"));

    printf("\nalerts:\n");
    {
        static const char *const headers[] = {"ID", "SEVERITY", "TITLE", "STATUS", "TACTICS", "FIRST EVENT"};
        struct cli_table *t = cli_table_new(6, headers);
        json_array_foreach(json_object_get(inc, "alerts"), i, e) {
            char id[32], tactics[512];
            const char *cells[] = {cli_json_text(json_object_get(e, "id"), id, sizeof(id)),
                                   json_string_value(json_object_get(e, "severity")),
                                   json_string_value(json_object_get(e, "title")),
                                   json_string_value(json_object_get(e, "status")),
                                   alerts_cli_joined(json_object_get(e, "tactics"), tactics, sizeof(tactics)),
                                   json_string_value(json_object_get(e, "first_event"))};
            cli_table_add(t, cells);
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    printf("\nevidence:\n");
    {
        static const char *const headers[] = {"TYPE", "VALUE", "ROLES", "VERDICT", "REMEDIATION", "ALERTS"};
        struct cli_table *t = cli_table_new(6, headers);
        json_array_foreach(json_object_get(inc, "evidence"), i, e) {
            char roles[256], alerts[256];
            size_t k, o = 0;
            json_t *a;
            alerts[0] = '\0';
            json_array_foreach(json_object_get(e, "alert_ids"), k, a) {
                int n = snprintf(alerts + o, sizeof(alerts) - o, "%s%lld", o ? ", " : "",
                                 (long long)json_integer_value(a));
                if (n < 0 || (size_t)n >= sizeof(alerts) - o)
                    break;
                o += (size_t)n;
            }
            const char *cells[] = {json_string_value(json_object_get(e, "type")),
                                   json_string_value(json_object_get(e, "value")),
                                   alerts_cli_joined(json_object_get(e, "roles"), roles, sizeof(roles)),
                                   json_string_value(json_object_get(e, "verdict")),
                                   json_string_value(json_object_get(e, "remediation_status")), alerts};
            cli_table_add(t, cells);
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    if (json_array_size(json_object_get(inc, "comments"))) {
        printf("\ncomments:\n");
        json_array_foreach(json_object_get(inc, "comments"), i, e)
            printf("  %s %s: %s\n", json_string_value(json_object_get(e, "time")),
                   json_string_value(json_object_get(e, "author")), json_string_value(json_object_get(e, "text")));
    }
    printf("\nactivity:\n");
    json_array_foreach(json_object_get(inc, "activity"), i, e) {
        const char *actor = json_string_value(json_object_get(e, "actor"));
        printf("  %s %-10s %s\n", json_string_value(json_object_get(e, "time")), actor ? actor : "(yamori)",
               json_string_value(json_object_get(e, "detail")));
    }
}

static int incident_show(const struct cli_config *cfg, const char *id, bool as_json)
{
    char path[256];
    struct cli_response r;

    snprintf(path, sizeof(path), "/api/v1/incidents/%s", id);
    if (alerts_cli_call(cfg, "GET", path, NULL, 200, &r, "cannot show the incident") != 0)
        return 1;
    if (as_json)
        printf("%s\n", r.body);
    else
        print_incident(r.json);
    cli_response_free(&r);
    return 0;
}

/* ------------------------------------------------------------------ changes */

static int incident_update(const struct cli_config *cfg, const char *id, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"status", required_argument, NULL, 's'},        {"classification", required_argument, NULL, 'c'},
        {"determination", required_argument, NULL, 'd'}, {"assign", required_argument, NULL, 'a'},
        {"unassign", no_argument, NULL, 'u'},             {"tag", required_argument, NULL, 't'},
        {"no-tags", no_argument, NULL, 'T'},              {"name", required_argument, NULL, 'n'},
        {"auto-name", no_argument, NULL, 'N'},            {NULL, 0, NULL, 0},
    };
    json_t *body = json_object(), *tags = NULL;
    struct cli_response r;
    char path[256];
    int c, rc = 1;

    if (!body)
        return 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': json_object_set_new(body, "status", json_string(optarg)); break;
        case 'c': json_object_set_new(body, "classification", json_string(optarg)); break;
        case 'd': json_object_set_new(body, "determination", json_string(optarg)); break;
        case 'a': json_object_set_new(body, "assigned_to", json_string(optarg)); break;
        case 'u': json_object_set_new(body, "assigned_to", json_null()); break;
        case 'n': json_object_set_new(body, "name", json_string(optarg)); break;
        case 'N': json_object_set_new(body, "name", json_null()); break;
        case 'T':
            if (!tags)
                json_object_set_new(body, "tags", tags = json_array());
            break;
        case 't':
            if (!tags)
                json_object_set_new(body, "tags", tags = json_array());
            json_array_append_new(tags, json_string(optarg));
            break;
        default: json_decref(body); return cli_usage(&incident_command);
        }
    }
    if (optind != argc || json_object_size(body) == 0) {
        json_decref(body);
        return cli_usage(&incident_command);
    }
    snprintf(path, sizeof(path), "/api/v1/incidents/%s", id);
    if (alerts_cli_call(cfg, "PATCH", path, body, 200, &r, "cannot change the incident") == 0) {
        char tagbuf[1024];
        printf("incident %s \"%s\": %s, %s, assigned to %s, tags %s\n", id,
               json_string_value(json_object_get(r.json, "name")), json_string_value(json_object_get(r.json, "status")),
               json_is_string(json_object_get(r.json, "classification"))
                   ? json_string_value(json_object_get(r.json, "classification"))
                   : "not classified",
               json_is_string(json_object_get(r.json, "assigned_to"))
                   ? json_string_value(json_object_get(r.json, "assigned_to"))
                   : "nobody",
               alerts_cli_joined(json_object_get(r.json, "tags"), tagbuf, sizeof(tagbuf)));
        cli_response_free(&r);
        rc = 0;
    }
    json_decref(body);
    return rc;
}

static int incident_comment(const struct cli_config *cfg, const char *id, const char *text)
{
    json_t *body = json_pack("{s:s}", "text", text);
    struct cli_response r;
    char path[256];
    int rc = 1;

    if (!body) {
        fprintf(stderr, "yamori incident: the comment must be UTF-8 text\n");
        return 1;
    }
    snprintf(path, sizeof(path), "/api/v1/incidents/%s/comments", id);
    if (alerts_cli_call(cfg, "POST", path, body, 201, &r, "cannot add the comment") == 0) {
        printf("comment %lld added to incident %s\n", (long long)json_integer_value(json_object_get(r.json, "id")), id);
        cli_response_free(&r);
        rc = 0;
    }
    json_decref(body);
    return rc;
}

static int incident_merge(const struct cli_config *cfg, const char *id, const char *into)
{
    json_t *body = json_pack("{s:I}", "into", (json_int_t)strtoll(into, NULL, 10));
    struct cli_response r;
    char path[256];
    int rc = 1;

    if (!body)
        return 1;
    snprintf(path, sizeof(path), "/api/v1/incidents/%s/merge", id);
    if (alerts_cli_call(cfg, "POST", path, body, 200, &r, "cannot merge the incidents") == 0) {
        printf("incident %s merged into incident %s \"%s\" (%lld alerts)\n", id, into,
               json_string_value(json_object_get(r.json, "name")),
               (long long)json_integer_value(json_object_get(r.json, "alert_count")));
        cli_response_free(&r);
        rc = 0;
    }
    json_decref(body);
    return rc;
}

static int run_incident(int argc, char **argv)
{
    struct cli_config cfg;
    const char *verb, *id;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", incident_command.usage);
        return 0;
    }
    if (argc < 3 || !alerts_cli_is_id(argv[2]))
        return cli_usage(&incident_command);
    verb = argv[1];
    id = argv[2];
    if (strcmp(verb, "show") == 0) {
        if (argc > 4 || (argc == 4 && strcmp(argv[3], "--json") != 0))
            return cli_usage(&incident_command);
        if (alerts_cli_config(&cfg, "incident") != 0)
            return 1;
        return incident_show(&cfg, id, argc == 4);
    }
    if (strcmp(verb, "update") == 0) {
        if (alerts_cli_config(&cfg, "incident") != 0)
            return 1;
        return incident_update(&cfg, id, argc - 2, argv + 2);
    }
    if (strcmp(verb, "comment") == 0 && argc == 4) {
        if (alerts_cli_config(&cfg, "incident") != 0)
            return 1;
        return incident_comment(&cfg, id, argv[3]);
    }
    if (strcmp(verb, "merge") == 0 && argc == 5 && strcmp(argv[3], "--into") == 0 && alerts_cli_is_id(argv[4])) {
        if (alerts_cli_config(&cfg, "incident") != 0)
            return 1;
        return incident_merge(&cfg, id, argv[4]);
    }
    return cli_usage(&incident_command);
}
