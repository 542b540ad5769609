/*
 * cmd_events.c — `yamori events`: a device's stored events, newest first.
 *
 *   yamori events [--device NAME_OR_ID] [--type process|file|network|logon|device]
 *                 [--since 1h|RFC3339] [--until ...] [--action ActionType] [--limit N] [--json]
 *
 * Asks GET /api/v1/events and prints an aligned table of the main columns
 * (time, action, file name, command line or path, account, initiating
 * process), or with --json the server's answer as it came.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"

#define MAX_CELL 120

static int run(int argc, char **argv);

static const struct cli_command events_command = {
    .name = "events",
    .summary = "show stored events of a device (newest first)",
    .usage = "yamori events [--device NAME_OR_ID] [--type process|file|network|logon|device] [--since 1h|RFC3339]"
             " [--until TIME] [--action ActionType] [--limit N] [--json]",
    .run = run,
};
CLI_COMMAND(events_command);

/* Appends "&name=value" (escaped) to the query. */
static void add_arg(char *q, size_t qlen, const char *name, const char *value)
{
    char esc[1024];
    size_t n = strlen(q);

    if (!value)
        return;
    cli_url_escape(value, esc, sizeof(esc));
    snprintf(q + n, qlen - n, "%s%s=%s", n ? "&" : "?", name, esc);
}

static const char *str(json_t *ev, const char *key)
{
    json_t *v = json_object_get(ev, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Agents' strings may hold terminal escapes: control bytes become \xNN. */
static const char *safe(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    if (!s)
        return NULL;
    for (; *s && o + 5 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f)
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
        else
            buf[o++] = (char)ch;
    }
    buf[o] = '\0';
    return buf;
}

/* "2026-11-26T10:12:00.123456789Z" → "2026-11-26 10:12:00.123" */
static const char *short_time(const char *t, char *buf, size_t len)
{
    if (!t || strlen(t) < 23) {
        snprintf(buf, len, "%s", t ? t : "");
        return buf;
    }
    snprintf(buf, len, "%.10s %.12s", t, t + 11);
    return buf;
}

/* The "command line or path" cell: what the event is about. */
static const char *detail(json_t *ev, char *buf, size_t len)
{
    const char *type = str(ev, "EventType"), *s;
    char num[32];

    if (type && strcmp(type, "network") == 0) {
        const char *ip = str(ev, "RemoteIP");
        snprintf(buf, len, "%s%s%s", ip ? ip : "", ip ? ":" : "",
                 ip ? cli_json_text(json_object_get(ev, "RemotePort"), num, sizeof(num)) : "");
        return buf;
    }
    if (type && strcmp(type, "logon") == 0 && (s = str(ev, "RemoteIP"))) {
        snprintf(buf, len, "from %s", s);
        return buf;
    }
    s = str(ev, "ProcessCommandLine");
    if (!s)
        s = str(ev, "FolderPath");
    if (s && strlen(s) > MAX_CELL)
        snprintf(buf, len, "%.*s...", MAX_CELL - 3, s); /* a table row stays one line; --json has it all */
    else
        snprintf(buf, len, "%s", s ? s : "");
    return buf;
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"device", required_argument, NULL, 'd'}, {"type", required_argument, NULL, 't'},
        {"since", required_argument, NULL, 's'},  {"until", required_argument, NULL, 'u'},
        {"action", required_argument, NULL, 'a'}, {"limit", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const headers[] = {"TIME", "ACTION", "FILE", "COMMAND LINE / PATH", "ACCOUNT", "INITIATING PROCESS"};
    const char *device = NULL, *type = NULL, *since = NULL, *until = NULL, *action = NULL, *limit = NULL;
    struct cli_config cfg;
    struct cli_response r;
    struct cli_table *t = NULL;
    char query[4096] = "", path[4200], err[512];
    bool json = false;
    json_t *events, *ev;
    size_t i;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 't': type = optarg; break;
        case 's': since = optarg; break;
        case 'u': until = optarg; break;
        case 'a': action = optarg; break;
        case 'l': limit = optarg; break;
        case 'j': json = true; break;
        case 'h': printf("usage: %s\n", events_command.usage); return 0;
        default: return cli_usage(&events_command);
        }
    }
    if (optind != argc)
        return cli_usage(&events_command);
    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori: %s\n", err);
        return 1;
    }
    add_arg(query, sizeof(query), "device", device);
    add_arg(query, sizeof(query), "type", type);
    add_arg(query, sizeof(query), "since", since);
    add_arg(query, sizeof(query), "until", until);
    add_arg(query, sizeof(query), "action", action);
    add_arg(query, sizeof(query), "limit", limit);
    snprintf(path, sizeof(path), "/api/v1/events%s", query);
    if (cli_request(&cfg, "GET", path, NULL, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori: %s\n", err);
        return 1;
    }
    if (r.status != 200) {
        rc = cli_fail(&r, "cannot list events");
        goto out;
    }
    events = json_object_get(r.json, "events");
    if (!json_is_array(events)) {
        fprintf(stderr, "yamori: the server's answer has no event list\n");
        goto out;
    }
    if (json) {
        char *text = json_dumps(r.json, JSON_INDENT(2));
        if (text)
            printf("%s\n", text);
        free(text);
        rc = text ? 0 : 1;
        goto out;
    }
    t = cli_table_new(6, headers);
    json_array_foreach(events, i, ev) {
        char tb[64], db[512];
        const char *account = str(ev, "AccountName");
        const char *cells[6];
        if (!account)
            account = str(ev, "InitiatingProcessAccountName");
        char b1[256], b2[256], b3[1024], b4[256], b5[256];
        cells[0] = short_time(str(ev, "Timestamp"), tb, sizeof(tb));
        cells[1] = safe(str(ev, "ActionType"), b1, sizeof(b1));
        cells[2] = safe(str(ev, "FileName"), b2, sizeof(b2));
        cells[3] = safe(detail(ev, db, sizeof(db)), b3, sizeof(b3));
        cells[4] = safe(account, b4, sizeof(b4));
        cells[5] = safe(str(ev, "InitiatingProcessFileName"), b5, sizeof(b5));
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    if (json_array_size(events) == 0)
        fprintf(stderr, "(no events)\n");
    rc = 0;
out:
    cli_table_free(t);
    cli_response_free(&r);
    return rc;
}
