/*
 * cmd_alerts.c — `yamori alerts` (the alert queue as a table), `yamori
 * alert` (show one, change it, unlink it from its incident) and `yamori
 * suppressions` (list, add from an alert, remove), through the API; and
 * the helpers cmd_incidents.c shares (cmd_alerts.h).
 *
 *   yamori alerts [--json] [--status S] [--severity S] [--device NAME] [--assigned USER] [--since T]
 *                 [--limit N]
 *   yamori alert show ID [--json]
 *   yamori alert update ID [--status S] [--classification C] [--determination D] [--assign USER | --unassign]
 *   yamori alert unlink ID
 *   yamori suppressions [--json]
 *   yamori suppressions add --from-alert ID [--device] [--value TEXT]
 *   yamori suppressions remove ID
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmd_alerts.h"
#include "cli/story_print.h"

static int run_alerts(int argc, char **argv);
static int run_alert(int argc, char **argv);
static int run_suppressions(int argc, char **argv);

static const struct cli_command alerts_command = {
    .name = "alerts",
    .summary = "list alerts (the alert queue)",
    .usage = "yamori alerts [--json] [--status S] [--severity S] [--device NAME] [--assigned USER] [--since TIME]"
             " [--limit N]",
    .run = run_alerts,
};
CLI_COMMAND(alerts_command);

static const struct cli_command alert_command = {
    .name = "alert",
    .summary = "show an alert, change it, unlink it from its incident",
    .usage = "yamori alert show ID [--json]\n"
             "       yamori alert update ID [--status S] [--classification C] [--determination D]"
             " [--assign USER | --unassign]\n"
             "       yamori alert unlink ID",
    .run = run_alert,
};
CLI_COMMAND(alert_command);

static const struct cli_command suppressions_command = {
    .name = "suppressions",
    .summary = "list, add or remove alert suppression rules",
    .usage = "yamori suppressions [--json]\n"
             "       yamori suppressions add --from-alert ID [--device] [--value TEXT]\n"
             "       yamori suppressions remove ID",
    .run = run_suppressions,
};
CLI_COMMAND(suppressions_command);

/* ------------------------------------------------------------------ shared helpers */

int alerts_cli_config(struct cli_config *cfg, const char *cmd)
{
    char err[600];

    if (cli_config_load(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

int alerts_cli_call(const struct cli_config *cfg, const char *method, const char *path, json_t *body, long want,
                    struct cli_response *r, const char *what)
{
    char err[600];
    int rc;

    if (cli_request(cfg, method, path, body, r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori: %s: %s\n", what, err);
        return 1;
    }
    if (r->status != want || !r->json) {
        rc = cli_fail(r, what);
        cli_response_free(r);
        return rc;
    }
    return 0;
}

void alerts_cli_query(char *path, size_t len, const char *key, const char *value)
{
    char esc[1024];
    size_t o = strlen(path);

    if (!value)
        return;
    cli_url_escape(value, esc, sizeof(esc));
    snprintf(path + o, len - o, "%s%s=%s", strchr(path, '?') ? "&" : "?", key, esc);
}

const char *alerts_cli_ago(json_t *v, char *buf, size_t buflen)
{
    struct tm tm;
    long long d;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (!json_is_string(v) || !strptime(json_string_value(v), "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(buf, buflen, "-");
        return buf;
    }
    t = timegm(&tm);
    d = (long long)(time(NULL) - t);
    if (d < 0)
        d = 0;
    if (d < 60)
        snprintf(buf, buflen, "%llds ago", d);
    else if (d < 3600)
        snprintf(buf, buflen, "%lldm ago", d / 60);
    else if (d < 86400)
        snprintf(buf, buflen, "%lldh ago", d / 3600);
    else
        snprintf(buf, buflen, "%lldd ago", d / 86400);
    return buf;
}

const char *alerts_cli_joined(json_t *arr, char *buf, size_t buflen)
{
    size_t i, o = 0;
    json_t *e;

    buf[0] = '\0';
    json_array_foreach(arr, i, e) {
        const char *s = json_is_string(e) ? json_string_value(e) : NULL;
        int n;
        if (!s)
            continue;
        n = snprintf(buf + o, buflen - o, "%s%s", o ? ", " : "", s);
        if (n < 0 || (size_t)n >= buflen - o)
            break;
        o += (size_t)n;
    }
    if (!buf[0])
        snprintf(buf, buflen, "-");
    return buf;
}

int alerts_cli_is_id(const char *s)
{
    if (!s || !*s || strlen(s) > 16 || *s == '0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void field(FILE *f, const char *key, json_t *v)
{
    char buf[64];
    const char *text = json_is_string(v) ? json_string_value(v) : json_is_integer(v) || json_is_boolean(v)
                                                                  ? cli_json_text(v, buf, sizeof(buf))
                                                                  : NULL;
    fprintf(f, "%-20s %s\n", key, text && *text ? text : "-");
}

/* Prints each line of a multi-line text indented under its key. */
static void block(FILE *f, const char *key, json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || !*s)
        return;
    fprintf(f, "\n%s:\n", key);
    while (*s) {
        const char *nl = strchr(s, '\n');
        int n = nl ? (int)(nl - s) : (int)strlen(s);
        fprintf(f, "  %.*s\n", n, s);
        s += n;
        if (*s == '\n')
            s++;
    }
}

void alerts_cli_print_alert(FILE *f, json_t *page)
{
    json_t *a = json_object_get(page, "alert"), *inc = json_object_get(page, "incident");
    json_t *dev = json_object_get(a, "device"), *e, *story = json_object_get(page, "story");
    char buf[1024];
    size_t i;

    field(f, "alert", json_object_get(a, "id"));
    field(f, "title", json_object_get(a, "title"));
    field(f, "severity", json_object_get(a, "severity"));
    field(f, "status", json_object_get(a, "status"));
    field(f, "classification", json_object_get(a, "classification"));
    field(f, "determination", json_object_get(a, "determination"));
    field(f, "assigned to", json_object_get(a, "assigned_to"));
    snprintf(buf, sizeof(buf), "%s (%s)",
             json_string_value(json_object_get(dev, "name")) ? json_string_value(json_object_get(dev, "name")) : "?",
             json_string_value(json_object_get(dev, "id")) ? json_string_value(json_object_get(dev, "id")) : "?");
    fprintf(f, "%-20s %s\n", "device", buf);
    field(f, "user", json_object_get(a, "user"));
    field(f, "category", json_object_get(a, "category"));
    fprintf(f, "%-20s %s\n", "tactics", alerts_cli_joined(json_object_get(a, "tactics"), buf, sizeof(buf)));
    fprintf(f, "%-20s %s\n", "techniques", alerts_cli_joined(json_object_get(a, "techniques"), buf, sizeof(buf)));
    field(f, "detection source", json_object_get(a, "detection_source"));
    field(f, "rule", json_object_get(a, "rule_id"));
    field(f, "first event", json_object_get(a, "first_event"));
    field(f, "last event", json_object_get(a, "last_event"));
    field(f, "events", json_object_get(a, "event_count"));
    field(f, "process", json_object_get(a, "process_uid"));
    if (json_is_true(json_object_get(a, "suppressed"))) {
        snprintf(buf, sizeof(buf), "yes, by rule %s", cli_json_text(json_object_get(a, "suppression_id"), buf + 512, 64));
        fprintf(f, "%-20s %s\n", "suppressed", buf);
    }
    if (json_is_object(inc))
        fprintf(f, "%-20s %s \"%s\" (%s, %s)\n", "incident", cli_json_text(json_object_get(inc, "id"), buf, 32),
                json_string_value(json_object_get(inc, "name")) ? json_string_value(json_object_get(inc, "name")) : "",
                json_string_value(json_object_get(inc, "status")) ? json_string_value(json_object_get(inc, "status"))
                                                                   : "",
                json_string_value(json_object_get(inc, "severity")) ? json_string_value(json_object_get(inc, "severity"))
                                                                     : "");
    else
        fprintf(f, "%-20s %s\n", "incident", "-");
    block(f, "description", json_object_get(a, "description"));
    block(f, "recommended actions", json_object_get(a, "recommended_actions"));

    fprintf(f, "\nevidence:\n");
    if (json_array_size(json_object_get(page, "evidence")) == 0)
        fprintf(f, "  (none)\n");
    else {
        static const char *const headers[] = {"TYPE", "ROLE", "VERDICT", "REMEDIATION", "VALUE"};
        struct cli_table *t = cli_table_new(5, headers);
        json_array_foreach(json_object_get(page, "evidence"), i, e) {
            const char *cells[] = {json_string_value(json_object_get(e, "type")),
                                   json_string_value(json_object_get(e, "role")),
                                   json_string_value(json_object_get(e, "verdict")),
                                   json_string_value(json_object_get(e, "remediation_status")),
                                   json_string_value(json_object_get(e, "value"))};
            cli_table_add(t, cells);
        }
        cli_table_print(t, f);
        cli_table_free(t);
    }
    fprintf(f, "\n");
    if (json_is_object(story)) {
        fprintf(f, "Alert story\n");
        if (story_print(f, story, NULL) != 0)
            fprintf(f, "  (the server sent a story this client cannot read)\n");
    } else {
        fprintf(f, "story: none (the alert is not about one process, or its events are gone)\n");
    }
}

/* ------------------------------------------------------------------ yamori alerts */

static int run_alerts(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},         {"status", required_argument, NULL, 's'},
        {"severity", required_argument, NULL, 'S'}, {"device", required_argument, NULL, 'd'},
        {"assigned", required_argument, NULL, 'a'}, {"since", required_argument, NULL, 't'},
        {"limit", required_argument, NULL, 'l'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const headers[] = {"ID", "SEVERITY", "TITLE", "STATUS", "DEVICE", "INCIDENT", "ASSIGNED",
                                          "LAST ACTIVITY"};
    char path[4096] = "/api/v1/alerts";
    struct cli_config cfg;
    struct cli_response r;
    struct cli_table *t;
    bool as_json = false;
    json_t *a;
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
        case 'h': printf("usage: %s\n", alerts_command.usage); return 0;
        default: return cli_usage(&alerts_command);
        }
    }
    if (optind != argc)
        return cli_usage(&alerts_command);
    if (alerts_cli_config(&cfg, "alerts") != 0)
        return 1;
    if (alerts_cli_call(&cfg, "GET", path, NULL, 200, &r, "cannot list alerts") != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    t = cli_table_new(8, headers);
    json_array_foreach(json_object_get(r.json, "alerts"), i, a) {
        char id[32], inc[32], ago[32];
        json_t *dev = json_object_get(a, "device");
        const char *devname = json_string_value(json_object_get(dev, "name"));
        const char *cells[] = {cli_json_text(json_object_get(a, "id"), id, sizeof(id)),
                               json_string_value(json_object_get(a, "severity")),
                               json_string_value(json_object_get(a, "title")),
                               json_string_value(json_object_get(a, "status")),
                               devname ? devname : json_string_value(json_object_get(dev, "id")),
                               json_is_integer(json_object_get(a, "incident_id"))
                                   ? cli_json_text(json_object_get(a, "incident_id"), inc, sizeof(inc))
                                   : NULL,
                               json_string_value(json_object_get(a, "assigned_to")),
                               alerts_cli_ago(json_object_get(a, "last_activity"), ago, sizeof(ago))};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    printf("%lld of %lld alerts\n", (long long)json_array_size(json_object_get(r.json, "alerts")),
           (long long)json_integer_value(json_object_get(r.json, "total")));
    cli_response_free(&r);
    return 0;
}

/* ------------------------------------------------------------------ yamori alert */

static int alert_show(const struct cli_config *cfg, const char *id, bool as_json)
{
    char path[256];
    struct cli_response r;

    snprintf(path, sizeof(path), "/api/v1/alerts/%s", id);
    if (alerts_cli_call(cfg, "GET", path, NULL, 200, &r, "cannot show the alert") != 0)
        return 1;
    if (as_json)
        printf("%s\n", r.body);
    else
        alerts_cli_print_alert(stdout, r.json);
    cli_response_free(&r);
    return 0;
}

static int alert_update(const struct cli_config *cfg, const char *id, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"status", required_argument, NULL, 's'},      {"classification", required_argument, NULL, 'c'},
        {"determination", required_argument, NULL, 'd'}, {"assign", required_argument, NULL, 'a'},
        {"unassign", no_argument, NULL, 'u'},           {NULL, 0, NULL, 0},
    };
    json_t *body = json_object();
    struct cli_response r;
    char path[256], buf[512];
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
        default: json_decref(body); return cli_usage(&alert_command);
        }
    }
    if (optind != argc || json_object_size(body) == 0) {
        json_decref(body);
        return cli_usage(&alert_command);
    }
    snprintf(path, sizeof(path), "/api/v1/alerts/%s", id);
    if (alerts_cli_call(cfg, "PATCH", path, body, 200, &r, "cannot change the alert") == 0) {
        json_t *a = json_object_get(r.json, "alert");
        printf("alert %s: %s, %s", id, json_string_value(json_object_get(a, "status")),
               cli_json_text(json_object_get(a, "classification"), buf, sizeof(buf))[0] ? buf : "not classified");
        if (json_is_string(json_object_get(a, "determination")))
            printf(" (%s)", json_string_value(json_object_get(a, "determination")));
        printf(", assigned to %s\n", json_is_string(json_object_get(a, "assigned_to"))
                                          ? json_string_value(json_object_get(a, "assigned_to"))
                                          : "nobody");
        cli_response_free(&r);
        rc = 0;
    }
    json_decref(body);
    return rc;
}

static int alert_unlink(const struct cli_config *cfg, const char *id)
{
    char path[256];
    struct cli_response r;

    snprintf(path, sizeof(path), "/api/v1/alerts/%s/unlink", id);
    if (alerts_cli_call(cfg, "POST", path, NULL, 200, &r, "cannot unlink the alert") != 0)
        return 1;
    printf("alert %s moved from incident %lld to the new incident %lld\n", id,
           (long long)json_integer_value(json_object_get(r.json, "previous_incident_id")),
           (long long)json_integer_value(json_object_get(r.json, "incident_id")));
    cli_response_free(&r);
    return 0;
}

static int run_alert(int argc, char **argv)
{
    struct cli_config cfg;
    const char *verb, *id;
    bool as_json = false;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", alert_command.usage);
        return 0;
    }
    if (argc < 3 || !alerts_cli_is_id(argv[2]))
        return cli_usage(&alert_command);
    verb = argv[1];
    id = argv[2];
    if (strcmp(verb, "show") == 0) {
        if (argc == 4 && strcmp(argv[3], "--json") == 0)
            as_json = true;
        else if (argc != 3)
            return cli_usage(&alert_command);
    } else if (strcmp(verb, "unlink") == 0) {
        if (argc != 3)
            return cli_usage(&alert_command);
    } else if (strcmp(verb, "update") != 0) {
        return cli_usage(&alert_command);
    }
    if (alerts_cli_config(&cfg, "alert") != 0)
        return 1;
    if (strcmp(verb, "show") == 0)
        return alert_show(&cfg, id, as_json);
    if (strcmp(verb, "unlink") == 0)
        return alert_unlink(&cfg, id);
    return alert_update(&cfg, id, argc - 2, argv + 2);
}

/* ------------------------------------------------------------------ yamori suppressions */

static int suppressions_list(const struct cli_config *cfg, bool as_json)
{
    static const char *const headers[] = {"ID", "RULE", "DEVICE", "VALUE", "FROM ALERT", "HITS", "CREATED BY"};
    struct cli_response r;
    struct cli_table *t;
    json_t *s;
    size_t i;

    if (alerts_cli_call(cfg, "GET", "/api/v1/suppressions", NULL, 200, &r, "cannot list suppression rules") != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    t = cli_table_new(7, headers);
    json_array_foreach(json_object_get(r.json, "suppressions"), i, s) {
        char id[32], from[32], hits[32];
        const char *cells[] = {cli_json_text(json_object_get(s, "id"), id, sizeof(id)),
                               json_string_value(json_object_get(s, "rule_id")),
                               json_is_string(json_object_get(s, "device_id"))
                                   ? json_string_value(json_object_get(s, "device_id"))
                                   : "(any)",
                               json_is_string(json_object_get(s, "value")) ? json_string_value(json_object_get(s, "value"))
                                                                           : "(any)",
                               cli_json_text(json_object_get(s, "from_alert"), from, sizeof(from)),
                               cli_json_text(json_object_get(s, "hits"), hits, sizeof(hits)),
                               json_string_value(json_object_get(s, "created_by"))};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    cli_response_free(&r);
    return 0;
}

static int suppressions_add(const struct cli_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from-alert", required_argument, NULL, 'a'},
        {"device", no_argument, NULL, 'd'},
        {"value", required_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    json_t *body = json_object();
    struct cli_response r;
    const char *from = NULL;
    int c, rc = 1;

    if (!body)
        return 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': from = optarg; break;
        case 'd': json_object_set_new(body, "device", json_true()); break;
        case 'v': json_object_set_new(body, "value", json_string(optarg)); break;
        default: json_decref(body); return cli_usage(&suppressions_command);
        }
    }
    if (optind != argc || !alerts_cli_is_id(from)) {
        json_decref(body);
        return cli_usage(&suppressions_command);
    }
    json_object_set_new(body, "from_alert", json_integer(strtoll(from, NULL, 10)));
    if (alerts_cli_call(cfg, "POST", "/api/v1/suppressions", body, 201, &r, "cannot add the suppression rule") == 0) {
        printf("suppression rule %lld: rule %s on %s, %s\n", (long long)json_integer_value(json_object_get(r.json, "id")),
               json_string_value(json_object_get(r.json, "rule_id")),
               json_is_string(json_object_get(r.json, "device_id")) ? json_string_value(json_object_get(r.json, "device_id"))
                                                                    : "any device",
               json_is_string(json_object_get(r.json, "value")) ? json_string_value(json_object_get(r.json, "value"))
                                                                : "any evidence");
        cli_response_free(&r);
        rc = 0;
    }
    json_decref(body);
    return rc;
}

static int run_suppressions(int argc, char **argv)
{
    struct cli_config cfg;
    struct cli_response r;
    char path[256];

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", suppressions_command.usage);
        return 0;
    }
    if (argc == 1 || (argc == 2 && strcmp(argv[1], "--json") == 0)) {
        if (alerts_cli_config(&cfg, "suppressions") != 0)
            return 1;
        return suppressions_list(&cfg, argc == 2);
    }
    if (strcmp(argv[1], "add") == 0) {
        if (alerts_cli_config(&cfg, "suppressions") != 0)
            return 1;
        return suppressions_add(&cfg, argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "remove") == 0 && argc == 3 && alerts_cli_is_id(argv[2])) {
        if (alerts_cli_config(&cfg, "suppressions") != 0)
            return 1;
        snprintf(path, sizeof(path), "/api/v1/suppressions/%s", argv[2]);
        if (alerts_cli_call(&cfg, "DELETE", path, NULL, 200, &r, "cannot remove the suppression rule") != 0)
            return 1;
        printf("suppression rule %s removed\n", argv[2]);
        cli_response_free(&r);
        return 0;
    }
    return cli_usage(&suppressions_command);
}
