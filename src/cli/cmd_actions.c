/*
 * cmd_actions.c — the action center from the command line, through the
 * API (docs/api.md, "Actions"):
 *
 *   yamori actions [--pending] [--device NAME] [--type T] [--state S] [--since T] [--limit N] [--json]
 *   yamori actions --csv > actions.csv
 *   yamori action show ID [--json]
 *   yamori action approve|reject|cancel ID [--comment TEXT]
 *   yamori action undo ID [--comment TEXT] [--no-wait]
 *   yamori action package ID [--output FILE]
 *
 * and the response verbs, each of which creates one action and, unless
 * --no-wait, follows it to its end printing each change of state (a scan
 * in a terminal draws a progress bar from the agent's reports):
 *
 *   yamori isolate HOST [--comment TEXT]       yamori release HOST
 *   yamori scan HOST --quick|--full|--path P   yamori quarantine HOST PATH
 *   yamori kill HOST PID [--tree] [--uid UID]  yamori collect HOST [--output FILE]
 *
 * `collect` downloads the investigation package when the action succeeds
 * (to HOST-ID.tar.gz unless --output names the file).
 *
 * Exit status: 0 when the action succeeded (or, with --no-wait, was
 * created; or waits for approval), 1 when it failed, was cancelled,
 * rejected or expired, or the server refused it; 2 on misuse.
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

#define POLL_MS 500
#define DEFAULT_WAIT_S 600

static int run_actions(int argc, char **argv);
static int run_action(int argc, char **argv);
static int run_verb(int argc, char **argv);

static const struct cli_command actions_command = {
    .name = "actions",
    .summary = "the action center: response actions and their states (CSV export with --csv)",
    .usage = "yamori actions [--pending] [--device NAME] [--type TYPE] [--state STATE] [--since TIME] "
             "[--limit N] [--json | --csv]",
    .run = run_actions,
};
CLI_COMMAND(actions_command);

static const struct cli_command action_command = {
    .name = "action",
    .summary = "show, approve, reject, cancel or undo one action, or download its investigation package",
    .usage = "yamori action show ID [--json]\n"
             "       yamori action approve|reject|cancel ID [--comment TEXT]\n"
             "       yamori action undo ID [--comment TEXT] [--no-wait] [--timeout SECONDS]\n"
             "       yamori action package ID [--output FILE]",
    .run = run_action,
};
CLI_COMMAND(action_command);

static const struct cli_command isolate_command = {
    .name = "isolate",
    .summary = "isolate a device: only its channel to the server stays open (an action)",
    .usage = "yamori isolate HOST [--comment TEXT] [--no-wait] [--timeout SECONDS]",
    .run = run_verb,
};
CLI_COMMAND(isolate_command);

static const struct cli_command release_command = {
    .name = "release",
    .summary = "release a device from isolation (an action)",
    .usage = "yamori release HOST [--comment TEXT] [--no-wait] [--timeout SECONDS]",
    .run = run_verb,
};
CLI_COMMAND(release_command);

static const struct cli_command scan_command = {
    .name = "scan",
    .summary = "antivirus scan of a device: quick, full or one path (an action, with progress)",
    .usage = "yamori scan HOST --quick|--full|--path PATH [--comment TEXT] [--no-wait] [--timeout SECONDS]",
    .run = run_verb,
};
CLI_COMMAND(scan_command);

static const struct cli_command quarantine_command = {
    .name = "quarantine",
    .summary = "quarantine a file on a device (an action; undo restores it)",
    .usage = "yamori quarantine HOST PATH [--comment TEXT] [--no-wait] [--timeout SECONDS]",
    .run = run_verb,
};
CLI_COMMAND(quarantine_command);

static const struct cli_command kill_command = {
    .name = "kill",
    .summary = "kill a process (or its tree) on a device (an action)",
    .usage = "yamori kill HOST PID [--tree] [--uid PROCESS_UID] [--comment TEXT] [--no-wait] [--timeout SECONDS]",
    .run = run_verb,
};
CLI_COMMAND(kill_command);

static const struct cli_command collect_command = {
    .name = "collect",
    .summary = "collect an investigation package from a device (an action)",
    .usage = "yamori collect HOST [--output FILE] [--comment TEXT] [--no-wait] [--timeout SECONDS]",
    .run = run_verb,
};
CLI_COMMAND(collect_command);

/* ------------------------------------------------------------ helpers */

static int call(const struct cli_config *cfg, const char *method, const char *path, json_t *body,
                struct cli_response *r, const char *what);

/* Downloads the investigation package of action id into file (written
 * through file.part, renamed when whole; an existing file is replaced).
 * Returns 0 or 1 (an exit status) with the reason printed. */
static int download_package(const struct cli_config *cfg, long long id, const char *file)
{
    struct cli_response r;
    char path[96], what[96], part[4200];
    FILE *f;
    int rc = 1;

    snprintf(path, sizeof(path), "/api/v1/actions/%lld/package", id);
    snprintf(what, sizeof(what), "cannot download the package of action %lld", id);
    if (call(cfg, "GET", path, NULL, &r, what) != 0)
        return 1;
    if (snprintf(part, sizeof(part), "%s.part", file) >= (int)sizeof(part)) {
        fprintf(stderr, "yamori: the file name is too long: %s\n", file);
        goto out;
    }
    f = fopen(part, "wbx");
    if (!f) {
        fprintf(stderr, "yamori: cannot create %s: %s\n", part, strerror(errno));
        goto out;
    }
    if (fwrite(r.body, 1, r.len, f) != r.len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fprintf(stderr, "yamori: cannot write %s: %s\n", part, strerror(errno));
        fclose(f);
        unlink(part);
        goto out;
    }
    if (fclose(f) != 0 || rename(part, file) != 0) {
        fprintf(stderr, "yamori: cannot write %s: %s\n", file, strerror(errno));
        unlink(part);
        goto out;
    }
    printf("investigation package: %s (%zu bytes)\n", file, r.len);
    rc = 0;
out:
    cli_response_free(&r);
    return rc;
}

/* "<host>-<id>.tar.gz" with every character of host outside [A-Za-z0-9._-]
 * replaced by '_' (and a leading '.' too), so it names a file here. */
static void package_file_name(const char *host, long long id, char *out, size_t outlen)
{
    char safe[128];
    size_t n = 0;

    for (const char *p = host; *p && n + 1 < sizeof(safe); p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || (c == '.' && n > 0);
        safe[n++] = ok ? c : '_';
    }
    safe[n] = '\0';
    snprintf(out, outlen, "%s-%lld.tar.gz", n ? safe : "device", id);
}

static int load_config(struct cli_config *cfg, const char *who)
{
    char err[600];
    if (cli_config_load(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori %s: %s\n", who, err);
        return -1;
    }
    return 0;
}

/* method path (body may be NULL): 0 with *r on a 2xx answer; else prints
 * why (as `what`) and returns -1. */
static int call(const struct cli_config *cfg, const char *method, const char *path, json_t *body,
                struct cli_response *r, const char *what)
{
    char err[600];

    if (cli_request(cfg, method, path, body, r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori: %s: %s\n", what, err);
        return -1;
    }
    if (r->status < 200 || r->status >= 300) {
        cli_fail(r, what);
        cli_response_free(r);
        return -1;
    }
    return 0;
}

static const char *text(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void add_query(char *path, size_t len, const char *key, const char *value)
{
    char esc[1024];
    size_t n = strlen(path);

    if (!value)
        return;
    cli_url_escape(value, esc, sizeof(esc));
    snprintf(path + n, len - n, "%s%s=%s", strchr(path, '?') ? "&" : "?", key, esc);
}

/* A positive action id, or 0. */
static long long parse_id(const char *s)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    return errno || *end || v <= 0 ? 0 : v;
}

static bool final_state(const char *s)
{
    return !strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "cancelled") || !strcmp(s, "expired") ||
           !strcmp(s, "rejected");
}

/* One line about an action: "action 12 (kill_process on web-1): queued". */
static void print_state(json_t *a)
{
    printf("action %lld (%s on %s): %s", (long long)json_integer_value(json_object_get(a, "id")), text(a, "type"),
           text(a, "device_name"), text(a, "state"));
    if (*text(a, "error") && final_state(text(a, "state")))
        printf(": %s", text(a, "error"));
    printf("\n");
    fflush(stdout);
}

/* Follows action id until it ends (or timeout_s passes, or it waits for
 * approval), printing each change of state. Exit status: 0 succeeded,
 * still open, or waiting for approval; 1 otherwise. */
static int follow(const struct cli_config *cfg, long long id, int timeout_s)
{
    bool tty = isatty(STDOUT_FILENO), bar = false;
    char path[64], last[32] = "";
    struct timespec start, now;
    int rc = 0;

    snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct cli_response r;
        const char *st;

        if (call(cfg, "GET", path, NULL, &r, "cannot read the action") != 0)
            return 1;
        st = text(r.json, "state");
        if (strcmp(st, last) != 0) {
            if (bar)
                printf("\n");
            bar = false;
            print_state(r.json);
            snprintf(last, sizeof(last), "%s", st);
        }
        if (tty && !strcmp(st, "running") && json_is_object(json_object_get(r.json, "progress"))) {
            cli_progress_draw(json_object_get(r.json, "progress"));
            bar = true;
        }
        if (final_state(st)) {
            if (*text(r.json, "undo"))
                printf("undo with: yamori action undo %lld\n", id);
            rc = strcmp(st, "succeeded") == 0 ? 0 : 1;
            cli_response_free(&r);
            return rc;
        }
        if (!strcmp(st, "pending_approval")) {
            printf("it waits for another responder's approval: yamori action approve %lld\n", id);
            cli_response_free(&r);
            return 0;
        }
        cli_response_free(&r);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (timeout_s > 0 && now.tv_sec - start.tv_sec >= timeout_s) {
            if (bar)
                printf("\n");
            printf("still %s after %d s (an offline device gets it when it returns); follow it with: "
                   "yamori action show %lld\n",
                   last, timeout_s, id);
            return 0;
        }
        usleep(POLL_MS * 1000);
    }
}

/* ------------------------------------------------------------ yamori actions */

static int run_actions(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pending", no_argument, NULL, 'p'},   {"device", required_argument, NULL, 'd'},
        {"type", required_argument, NULL, 't'}, {"state", required_argument, NULL, 's'},
        {"since", required_argument, NULL, 'S'}, {"limit", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},      {"csv", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    static const char *const headers[] = {"ID", "CREATED", "DEVICE", "TYPE", "TARGET", "BY", "STATE", "RESULT"};
    const char *device = NULL, *type = NULL, *state = NULL, *since = NULL, *limit = NULL;
    bool pending = false, as_json = false, csv = false;
    char path[4096];
    struct cli_response r;
    struct cli_config cfg;
    struct cli_table *t;
    json_t *a;
    size_t i;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "pd:t:s:jc", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': pending = true; break;
        case 'd': device = optarg; break;
        case 't': type = optarg; break;
        case 's': state = optarg; break;
        case 'S': since = optarg; break;
        case 'l': limit = optarg; break;
        case 'j': as_json = true; break;
        case 'c': csv = true; break;
        case 'h': printf("usage: %s\n", actions_command.usage); return 0;
        default: return cli_usage(&actions_command);
        }
    }
    if (optind != argc || (as_json && csv))
        return cli_usage(&actions_command);
    if (load_config(&cfg, "actions") != 0)
        return 1;
    snprintf(path, sizeof(path), "%s", csv ? "/api/v1/actions.csv" : "/api/v1/actions");
    add_query(path, sizeof(path), "pending", pending ? "1" : NULL);
    add_query(path, sizeof(path), "device", device);
    add_query(path, sizeof(path), "type", type);
    add_query(path, sizeof(path), "state", state);
    add_query(path, sizeof(path), "since", since);
    add_query(path, sizeof(path), "limit", limit);
    if (call(&cfg, "GET", path, NULL, &r, "cannot list the actions") != 0)
        return 1;
    if (csv || as_json) {
        fwrite(r.body, 1, r.len, stdout);
        if (as_json)
            printf("\n");
        cli_response_free(&r);
        return 0;
    }
    t = cli_table_new(8, headers);
    json_array_foreach(json_object_get(r.json, "actions"), i, a) {
        char id[24], created[32], target[120], result[160];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(a, "id")));
        snprintf(created, sizeof(created), "%.19s", text(a, "created"));
        cli_json_text(json_object_get(a, "target"), target, sizeof(target));
        if (*text(a, "error"))
            snprintf(result, sizeof(result), "%.150s", text(a, "error"));
        else
            cli_json_text(json_object_get(a, "result"), result, sizeof(result));
        const char *cells[] = {id, created, text(a, "device_name"), text(a, "type"), target,
                               text(a, "requested_by"), text(a, "state"), result};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    if (json_integer_value(json_object_get(r.json, "total")) > (json_int_t)json_array_size(json_object_get(r.json, "actions")))
        printf("(%lld in all; --limit N for more)\n", (long long)json_integer_value(json_object_get(r.json, "total")));
    cli_response_free(&r);
    return 0;
}

/* ------------------------------------------------------------ yamori action */

static void show_action(json_t *a)
{
    static const char *const fields[] = {"type", "device_name", "device_id", "state", "requested_by", "comment",
                                         "created", "expires", "decided_by", "decided", "decision_comment",
                                         "queued", "sent", "started", "completed", "error", "cancelled_by", NULL};
    char buf[2048];

    printf("action %lld\n", (long long)json_integer_value(json_object_get(a, "id")));
    for (const char *const *f = fields; *f; f++) {
        json_t *v = json_object_get(a, *f);
        if (v && !json_is_null(v) && !(json_is_string(v) && !*json_string_value(v)))
            printf("  %-17s %s\n", *f, cli_json_text(v, buf, sizeof(buf)));
    }
    printf("  %-17s %s\n", "target", cli_json_text(json_object_get(a, "target"), buf, sizeof(buf)));
    if (!json_is_null(json_object_get(a, "progress")) && json_object_get(a, "progress"))
        printf("  %-17s %s\n", "progress", cli_json_text(json_object_get(a, "progress"), buf, sizeof(buf)));
    if (!json_is_null(json_object_get(a, "result")) && json_object_get(a, "result"))
        printf("  %-17s %s\n", "result", cli_json_text(json_object_get(a, "result"), buf, sizeof(buf)));
    if (json_is_integer(json_object_get(a, "undo_of")))
        printf("  %-17s action %lld\n", "undoes", (long long)json_integer_value(json_object_get(a, "undo_of")));
    if (json_is_integer(json_object_get(a, "undone_by")))
        printf("  %-17s action %lld\n", "undone by", (long long)json_integer_value(json_object_get(a, "undone_by")));
    if (*text(a, "undo"))
        printf("  %-17s yamori action undo %lld (%s)\n", "undo", (long long)json_integer_value(json_object_get(a, "id")),
               text(a, "undo"));
}

static int run_action(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"comment", required_argument, NULL, 'm'}, {"json", no_argument, NULL, 'j'},
        {"no-wait", no_argument, NULL, 'n'},       {"timeout", required_argument, NULL, 'T'},
        {"output", required_argument, NULL, 'o'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *comment = NULL, *verb, *output = NULL;
    bool as_json = false, no_wait = false;
    int timeout_s = DEFAULT_WAIT_S, c, rc = 1;
    char path[128], what[64];
    struct cli_response r;
    struct cli_config cfg;
    json_t *body = NULL;
    long long id;

    optind = 1;
    while ((c = getopt_long(argc, argv, "m:jn", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': comment = optarg; break;
        case 'j': as_json = true; break;
        case 'n': no_wait = true; break;
        case 'T': timeout_s = atoi(optarg); break;
        case 'o': output = optarg; break;
        case 'h': printf("usage: %s\n", action_command.usage); return 0;
        default: return cli_usage(&action_command);
        }
    }
    if (argc - optind != 2 || !(id = parse_id(argv[optind + 1])))
        return cli_usage(&action_command);
    verb = argv[optind];
    if (strcmp(verb, "show") && strcmp(verb, "approve") && strcmp(verb, "reject") && strcmp(verb, "cancel") &&
        strcmp(verb, "undo") && strcmp(verb, "package"))
        return cli_usage(&action_command);
    if (output && strcmp(verb, "package"))
        return cli_usage(&action_command);
    if (load_config(&cfg, "action") != 0)
        return 1;
    if (!strcmp(verb, "package")) {
        char file[160];
        snprintf(file, sizeof(file), "yamori-action-%lld.tar.gz", id);
        return download_package(&cfg, id, output ? output : file);
    }
    if (!strcmp(verb, "show")) {
        snprintf(path, sizeof(path), "/api/v1/actions/%lld", id);
        if (call(&cfg, "GET", path, NULL, &r, "cannot read the action") != 0)
            return 1;
        if (as_json)
            printf("%s\n", r.body);
        else
            show_action(r.json);
        cli_response_free(&r);
        return 0;
    }
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/%s", id, verb);
    snprintf(what, sizeof(what), "cannot %s action %lld", verb, id);
    body = comment ? json_pack("{s:s}", "comment", comment) : json_object();
    if (call(&cfg, "POST", path, body, &r, what) != 0)
        goto out;
    print_state(r.json);
    if (!strcmp(verb, "undo")) {
        long long undo = json_integer_value(json_object_get(r.json, "id"));
        cli_response_free(&r);
        rc = no_wait ? 0 : follow(&cfg, undo, timeout_s);
        goto out;
    }
    if (!strcmp(verb, "cancel") && !final_state(text(r.json, "state")))
        printf("the device was asked to stop it; it ends when the device answers\n");
    cli_response_free(&r);
    rc = 0;
out:
    json_decref(body);
    return rc;
}

/* ------------------------------------------------------------ the verbs */

static int run_verb(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"comment", required_argument, NULL, 'm'}, {"no-wait", no_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'}, {"quick", no_argument, NULL, 'q'},
        {"full", no_argument, NULL, 'f'},          {"path", required_argument, NULL, 'p'},
        {"tree", no_argument, NULL, 't'},          {"uid", required_argument, NULL, 'u'},
        {"output", required_argument, NULL, 'o'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = argv[0], *comment = NULL, *scan_path = NULL, *uid = NULL, *type = NULL, *output = NULL;
    const struct cli_command *cmd = !strcmp(name, "isolate")      ? &isolate_command
                                    : !strcmp(name, "release")    ? &release_command
                                    : !strcmp(name, "scan")       ? &scan_command
                                    : !strcmp(name, "quarantine") ? &quarantine_command
                                    : !strcmp(name, "kill")       ? &kill_command
                                                                  : &collect_command;
    bool no_wait = false, quick = false, full = false, tree = false;
    int timeout_s = DEFAULT_WAIT_S, c, rc = 1, want_args;
    json_t *target = NULL, *body = NULL;
    struct cli_response r;
    struct cli_config cfg;
    char what[80];
    long long id;

    optind = 1;
    while ((c = getopt_long(argc, argv, "m:n", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': comment = optarg; break;
        case 'n': no_wait = true; break;
        case 'T': timeout_s = atoi(optarg); break;
        case 'q': quick = true; break;
        case 'f': full = true; break;
        case 'p': scan_path = optarg; break;
        case 't': tree = true; break;
        case 'u': uid = optarg; break;
        case 'o': output = optarg; break;
        case 'h': printf("usage: %s\n", cmd->usage); return 0;
        default: return cli_usage(cmd);
        }
    }
    want_args = cmd == &quarantine_command || cmd == &kill_command ? 2 : 1;
    if (argc - optind != want_args)
        return cli_usage(cmd);
    if (cmd != &scan_command && (quick || full || scan_path))
        return cli_usage(cmd);
    if (cmd != &kill_command && (tree || uid))
        return cli_usage(cmd);
    if (cmd != &collect_command && output)
        return cli_usage(cmd);
    target = json_object();
    if (cmd == &isolate_command) {
        type = "isolate";
    } else if (cmd == &release_command) {
        type = "release";
    } else if (cmd == &collect_command) {
        type = "collect";
    } else if (cmd == &scan_command) {
        type = "scan";
        if (quick + full + (scan_path != NULL) != 1) {
            fprintf(stderr, "yamori scan: say one of --quick, --full or --path PATH\n");
            rc = cli_usage(cmd);
            goto out;
        }
        json_object_set_new(target, "kind", json_string(quick ? "quick" : full ? "full" : "custom"));
        if (scan_path)
            json_object_set_new(target, "path", json_string(scan_path));
    } else if (cmd == &quarantine_command) {
        type = "quarantine_file";
        json_object_set_new(target, "path", json_string(argv[optind + 1]));
    } else {
        long long pid = parse_id(argv[optind + 1]);
        type = "kill_process";
        if (!pid) {
            fprintf(stderr, "yamori kill: PID must be a process id, got '%s'\n", argv[optind + 1]);
            rc = 2;
            goto out;
        }
        json_object_set_new(target, "pid", json_integer(pid));
        if (tree)
            json_object_set_new(target, "tree", json_true());
        if (uid)
            json_object_set_new(target, "process_uid", json_string(uid));
    }
    if (load_config(&cfg, name) != 0)
        goto out;
    body = json_pack("{s:s, s:s, s:O}", "type", type, "device", argv[optind], "target", target);
    if (body && comment)
        json_object_set_new(body, "comment", json_string(comment));
    snprintf(what, sizeof(what), "cannot create the %s action", type);
    if (!body || call(&cfg, "POST", "/api/v1/actions", body, &r, what) != 0)
        goto out;
    id = json_integer_value(json_object_get(r.json, "id"));
    print_state(r.json);
    cli_response_free(&r);
    rc = no_wait ? 0 : follow(&cfg, id, timeout_s);
    if (rc == 0 && !no_wait && cmd == &collect_command) {
        char file[160];
        package_file_name(argv[optind], id, file, sizeof(file));
        rc = download_package(&cfg, id, output ? output : file);
    }
out:
    json_decref(target);
    json_decref(body);
    return rc;
}
