/*
 * cmd_devices.c — `yamori devices` (the inventory as an aligned table) and
 * `yamori device` (one device: show it, set its tags, ping it, list its
 * commands), through the API.
 *
 *   yamori devices [--json] [--search TEXT] [--health HEALTH] [--group NAME]
 *   yamori device show NAME [--json]
 *   yamori device tag NAME [TAG...]
 *   yamori device ping NAME [--timeout SECONDS]
 *   yamori device commands NAME [--json]
 *   yamori device story NAME --process UID [--time T] [--json]  (cmd_story.c)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/cmd_story.h"

static int run_devices(int argc, char **argv);
static int run_device(int argc, char **argv);

static const struct cli_command devices_command = {
    .name = "devices",
    .summary = "list enrolled devices with their sensor health",
    .usage = "yamori devices [--json] [--search TEXT] [--health HEALTH] [--group NAME]",
    .run = run_devices,
};
CLI_COMMAND(devices_command);

static const struct cli_command device_command = {
    .name = "device",
    .summary = "show one device, set its tags, ping it, list its commands, tell a process's story",
    .usage = "yamori device show NAME [--json]\n"
             "       yamori device tag NAME [TAG...]\n"
             "       yamori device ping NAME [--timeout SECONDS]\n"
             "       yamori device commands NAME [--json]\n"
             "       yamori device story NAME --process UID [--time RFC3339|NS] [--json]",
    .run = run_device,
};
CLI_COMMAND(device_command);

/* ------------------------------------------------------------------ helpers */

/* Seconds since the epoch of an RFC 3339 UTC time from the API; -1 when
 * it is not one. */
static time_t parse_time(const char *s)
{
    struct tm tm;
    const char *end;

    if (!s)
        return -1;
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return -1;
    return timegm(&tm);
}

/* "2m ago", "3h ago", "never" into buf. */
static const char *relative(json_t *v, time_t now, char *buf, size_t buflen)
{
    time_t t = json_is_string(v) ? parse_time(json_string_value(v)) : -1;
    long long d;

    if (t < 0) {
        snprintf(buf, buflen, "never");
        return buf;
    }
    d = (long long)(now - t);
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

/* The elements of a JSON array of strings joined with ", ". */
static const char *joined(json_t *arr, char *buf, size_t buflen)
{
    size_t i, o = 0;
    json_t *e;

    buf[0] = '\0';
    json_array_foreach(arr, i, e) {
        if (!json_is_string(e))
            continue;
        int n = snprintf(buf + o, buflen - o, "%s%s", o ? ", " : "", json_string_value(e));
        if (n < 0 || (size_t)n >= buflen - o)
            break;
        o += (size_t)n;
    }
    return buf;
}

static void add_query(char *path, size_t len, const char *key, const char *value)
{
    char esc[1024];
    size_t o = strlen(path);

    if (!value)
        return;
    cli_url_escape(value, esc, sizeof(esc));
    snprintf(path + o, len - o, "%s%s=%s", strchr(path, '?') ? "&" : "?", key, esc);
}

static int load_config(struct cli_config *cfg, const char *cmd)
{
    char err[600];
    if (cli_config_load(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

/* GET path into r; prints why and returns 1 unless the answer is 200. */
static int get(const struct cli_config *cfg, const char *path, struct cli_response *r, const char *what)
{
    char err[600];

    if (cli_request(cfg, "GET", path, NULL, r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori: %s: %s\n", what, err);
        return 1;
    }
    if (r->status != 200 || !r->json) {
        int rc = cli_fail(r, what);
        cli_response_free(r);
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ yamori devices */

static int run_devices(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"search", required_argument, NULL, 's'},
        {"health", required_argument, NULL, 'H'},
        {"group", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const headers[] = {"NAME", "OS", "LAST SEEN", "HEALTH", "ISOLATION", "TAGS"};
    const char *search = NULL, *health = NULL, *group = NULL;
    char path[4096] = "/api/v1/devices";
    struct cli_response r;
    struct cli_config cfg;
    struct cli_table *t;
    bool as_json = false;
    time_t now = time(NULL);
    json_t *d;
    size_t i;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "js:", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 's': search = optarg; break;
        case 'H': health = optarg; break;
        case 'g': group = optarg; break;
        case 'h': printf("usage: %s\n", devices_command.usage); return 0;
        default: return cli_usage(&devices_command);
        }
    }
    if (optind != argc)
        return cli_usage(&devices_command);
    if (load_config(&cfg, "devices") != 0)
        return 1;
    add_query(path, sizeof(path), "search", search);
    add_query(path, sizeof(path), "health", health);
    add_query(path, sizeof(path), "group", group);
    if (get(&cfg, path, &r, "cannot list devices") != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    t = cli_table_new(6, headers);
    json_array_foreach(json_object_get(r.json, "devices"), i, d) {
        char seen[32], tags[512], os[256];
        cli_json_text(json_object_get(d, "os"), os, sizeof(os));
        if (json_is_string(json_object_get(d, "offboarded")))
            snprintf(tags, sizeof(tags), "(offboarded)");
        const char *cells[] = {json_string_value(json_object_get(d, "name")),
                               os,
                               relative(json_object_get(d, "last_seen"), now, seen, sizeof(seen)),
                               json_string_value(json_object_get(d, "health")),
                               json_string_value(json_object_get(d, "isolation")),
                               json_is_string(json_object_get(d, "offboarded"))
                                   ? tags
                                   : joined(json_object_get(d, "tags"), tags, sizeof(tags))};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    cli_response_free(&r);
    return 0;
}

/* ------------------------------------------------------------------ yamori device */

static void device_path(char *path, size_t len, const char *name, const char *suffix)
{
    char esc[1024];
    cli_url_escape(name, esc, sizeof(esc));
    snprintf(path, len, "/api/v1/devices/%s%s", esc, suffix);
}

static void line(const char *key, const char *value)
{
    printf("%-18s %s\n", key, value && *value ? value : "-");
}

static int show(const struct cli_config *cfg, const char *name, bool as_json)
{
    char path[2048], buf[1024], seen[32];
    struct cli_response r;
    json_t *d, *agent;

    device_path(path, sizeof(path), name, "");
    if (get(cfg, path, &r, "cannot show the device") != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    d = r.json;
    line("name", json_string_value(json_object_get(d, "name")));
    line("id", json_string_value(json_object_get(d, "id")));
    line("health", json_string_value(json_object_get(d, "health")));
    line("  why", json_string_value(json_object_get(d, "health_reason")));
    line("last seen", relative(json_object_get(d, "last_seen"), time(NULL), seen, sizeof(seen)));
    line("online", json_is_true(json_object_get(d, "online")) ? "yes (command poll waiting)" : "no");
    line("isolation", json_string_value(json_object_get(d, "isolation")));
    line("ip addresses", joined(json_object_get(d, "ips"), buf, sizeof(buf)));
    line("os", cli_json_text(json_object_get(d, "os"), buf, sizeof(buf)));
    line("distribution", cli_json_text(json_object_get(d, "distribution"), buf, sizeof(buf)));
    line("kernel", cli_json_text(json_object_get(d, "kernel"), buf, sizeof(buf)));
    line("agent version", cli_json_text(json_object_get(d, "agent_version"), buf, sizeof(buf)));
    line("sensor", cli_json_text(json_object_get(d, "sensor_backend"), buf, sizeof(buf)));
    line("group", cli_json_text(json_object_get(d, "group"), buf, sizeof(buf)));
    line("tags", joined(json_object_get(d, "tags"), buf, sizeof(buf)));
    line("first seen", cli_json_text(json_object_get(d, "first_seen"), buf, sizeof(buf)));
    line("enrolled", cli_json_text(json_object_get(d, "enrolled"), buf, sizeof(buf)));
    line("offboarded", cli_json_text(json_object_get(d, "offboarded"), buf, sizeof(buf)));
    line("machine id", json_string_value(json_object_get(d, "machine_id")));
    agent = json_object_get(d, "agent");
    if (json_is_object(agent)) {
        char b2[64];
        snprintf(buf, sizeof(buf), "%s/s, %s lost", cli_json_text(json_object_get(agent, "events_per_second"), b2, 32),
                 cli_json_text(json_object_get(agent, "events_lost"), b2 + 32, 32));
        line("events", buf);
        snprintf(buf, sizeof(buf), "%s events, %s bytes", cli_json_text(json_object_get(agent, "spool_events"), b2, 32),
                 cli_json_text(json_object_get(agent, "spool_bytes"), b2 + 32, 32));
        line("spool", buf);
        snprintf(buf, sizeof(buf), "%s%% cpu, %s bytes", cli_json_text(json_object_get(agent, "cpu_percent"), b2, 32),
                 cli_json_text(json_object_get(agent, "memory_bytes"), b2 + 32, 32));
        line("agent load", buf);
    }
    {
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(d, "sensor_limitations"), i, l)
            line(i == 0 ? "limitations" : "", json_string_value(l));
    }
    cli_response_free(&r);
    return 0;
}

static int tag(const struct cli_config *cfg, const char *name, int ntags, char **tags)
{
    json_t *body = json_object(), *arr = json_array();
    char path[2048], err[600], buf[1024];
    struct cli_response r;
    int rc = 1;

    if (!body || !arr) {
        json_decref(body);
        json_decref(arr);
        return 1;
    }
    for (int i = 0; i < ntags; i++)
        json_array_append_new(arr, json_string(tags[i]));
    json_object_set_new(body, "tags", arr);
    device_path(path, sizeof(path), name, "/tags");
    if (cli_request(cfg, "PUT", path, body, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori device: %s\n", err);
        json_decref(body);
        return 1;
    }
    json_decref(body);
    if (r.status != 200) {
        rc = cli_fail(&r, "cannot set the tags");
    } else {
        printf("%s: tags %s\n", json_string_value(json_object_get(r.json, "name")),
               ntags ? joined(json_object_get(r.json, "tags"), buf, sizeof(buf)) : "(none)");
        rc = 0;
    }
    cli_response_free(&r);
    return rc;
}

static int ping(const struct cli_config *cfg, const char *name, int timeout_s)
{
    json_t *body = json_pack("{s:s, s:{}}", "type", "ping", "args");
    char path[2048], err[600], buf[256];
    struct cli_response r;
    long long id;
    int rc = 1;

    device_path(path, sizeof(path), name, "/commands");
    if (!body || cli_request(cfg, "POST", path, body, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori device: %s\n", body ? err : "out of memory");
        json_decref(body);
        return 1;
    }
    json_decref(body);
    if (r.status != 201) {
        rc = cli_fail(&r, "cannot queue the ping");
        cli_response_free(&r);
        return rc;
    }
    id = json_integer_value(json_object_get(r.json, "id"));
    cli_response_free(&r);
    for (int waited = 0; waited <= timeout_s * 4; waited++) {
        const char *status;
        char sub[64];
        snprintf(sub, sizeof(sub), "/commands/%lld", id);
        device_path(path, sizeof(path), name, sub);
        if (get(cfg, path, &r, "cannot read the ping") != 0)
            return 1;
        status = json_string_value(json_object_get(r.json, "status"));
        if (status && strcmp(status, "succeeded") == 0) {
            json_t *out = json_object_get(r.json, "output");
            printf("%s answered: agent %s, clock %s\n", name,
                   cli_json_text(json_object_get(out, "agent_version"), buf, 64),
                   cli_json_text(json_object_get(out, "time"), buf + 64, 128));
            cli_response_free(&r);
            return 0;
        }
        if (status && strcmp(status, "failed") == 0) {
            fprintf(stderr, "yamori device: the ping failed: %s\n",
                    cli_json_text(json_object_get(r.json, "error"), buf, sizeof(buf)));
            cli_response_free(&r);
            return 1;
        }
        cli_response_free(&r);
        usleep(250000);
    }
    fprintf(stderr, "yamori device: no answer within %d seconds (command %lld stays queued until the device polls)\n",
            timeout_s, id);
    return 1;
}

static int commands(const struct cli_config *cfg, const char *name, bool as_json)
{
    static const char *const headers[] = {"ID", "TYPE", "STATUS", "CREATED", "BY", "ERROR"};
    struct cli_response r;
    struct cli_table *t;
    char path[2048];
    json_t *c;
    size_t i;

    device_path(path, sizeof(path), name, "/commands");
    if (get(cfg, path, &r, "cannot list the commands") != 0)
        return 1;
    if (as_json) {
        printf("%s\n", r.body);
        cli_response_free(&r);
        return 0;
    }
    t = cli_table_new(6, headers);
    json_array_foreach(json_object_get(r.json, "commands"), i, c) {
        char id[32], b1[64], b2[64], b3[64], b4[64], b5[256];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(c, "id")));
        const char *cells[] = {id,
                               cli_json_text(json_object_get(c, "type"), b1, sizeof(b1)),
                               cli_json_text(json_object_get(c, "status"), b2, sizeof(b2)),
                               cli_json_text(json_object_get(c, "created"), b3, sizeof(b3)),
                               cli_json_text(json_object_get(c, "requested_by"), b4, sizeof(b4)),
                               cli_json_text(json_object_get(c, "error"), b5, sizeof(b5))};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    cli_response_free(&r);
    return 0;
}

/* Options of `yamori device VERB NAME ...`, wherever they stand after NAME. */
static int device_options(int argc, char **argv, bool *as_json, int *timeout_s)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    int c;

    optind = 0; /* argv[0] is the device name; 0 restarts GNU getopt */
    while ((c = getopt_long(argc, argv, "j", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': *as_json = true; break;
        case 't':
            *timeout_s = (int)strtol(optarg, &end, 10);
            if (*end || *timeout_s < 1 || *timeout_s > 3600) {
                fprintf(stderr, "yamori device: --timeout takes seconds from 1 to 3600\n");
                return -1;
            }
            break;
        default: return -1;
        }
    }
    return optind;
}

static int run_device(int argc, char **argv)
{
    struct cli_config cfg;
    const char *verb, *name;
    bool as_json = false;
    int timeout_s = 30, rest, sub_argc;
    char **sub_argv;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", device_command.usage);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "story") == 0)
        return cli_device_story(argc - 1, argv + 1);
    if (argc < 3)
        return cli_usage(&device_command);
    verb = argv[1];
    name = argv[2];
    sub_argc = argc - 2;
    sub_argv = argv + 2;
    rest = device_options(sub_argc, sub_argv, &as_json, &timeout_s);
    if (rest < 0)
        return cli_usage(&device_command);
    if (strcmp(verb, "tag") != 0 && rest != sub_argc)
        return cli_usage(&device_command);
    if (strcmp(verb, "show") && strcmp(verb, "tag") && strcmp(verb, "ping") && strcmp(verb, "commands"))
        return cli_usage(&device_command);
    if (load_config(&cfg, "device") != 0)
        return 1;
    if (strcmp(verb, "show") == 0)
        return show(&cfg, name, as_json);
    if (strcmp(verb, "tag") == 0)
        return tag(&cfg, name, sub_argc - rest, sub_argv + rest);
    if (strcmp(verb, "ping") == 0)
        return ping(&cfg, name, timeout_s);
    return commands(&cfg, name, as_json);
}
