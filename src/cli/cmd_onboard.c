/*
 * cmd_onboard.c — `yamori onboard`: creates an onboarding package (the
 * server URL, the CA to pin, a new enrollment token, the device group) and
 * writes it to a file only its owner can read; also lists and revokes
 * onboarding tokens. Talks to the API as an administrator.
 *
 *   yamori onboard [--expires 24h] [--group NAME] [--uses N | --one-time] [--output FILE]
 *   yamori onboard --list [--json]
 *   yamori onboard --revoke ID
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"

static int run(int argc, char **argv);

static const struct cli_command onboard_command = {
    .name = "onboard",
    .summary = "create an onboarding package for new devices (admin)",
    .usage = "yamori onboard [--expires 24h] [--group NAME] [--uses N | --one-time] [--output FILE]\n"
             "       yamori onboard --list [--json]\n"
             "       yamori onboard --revoke ID",
    .run = run,
};
CLI_COMMAND(onboard_command);

/* "90s", "30m", "24h", "7d" -> seconds; -1 when malformed. */
static long long parse_duration(const char *s)
{
    char *end;
    long long n, mult;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || n <= 0 || n > 100000000)
        return -1;
    switch (*end) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    default: return -1;
    }
    if (end[1])
        return -1;
    return n * mult;
}

/* Writes text to path atomically with mode 0600 ("-": standard output):
 * a new file beside it (never through a link), then renamed over it. */
static int write_private(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    size_t len = strlen(text);
    int fd, e = 0;

    if (strcmp(path, "-") == 0) {
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
            snprintf(err, errlen, "cannot write to standard output");
            return -EIO;
        }
        return 0;
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= sizeof(tmp)) {
        snprintf(err, errlen, "%.400s: path too long", path);
        return -ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot create %.400s: %s", tmp, strerror(errno));
        return e;
    }
    if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
        e = errno ? -errno : -EIO;
    if (close(fd) != 0 && !e)
        e = -errno;
    if (!e && rename(tmp, path) != 0)
        e = -errno;
    if (e) {
        unlink(tmp);
        snprintf(err, errlen, "cannot write %.400s: %s", path, strerror(-e));
    }
    return e;
}

static int create(const struct cli_config *cfg, long long expires, const char *group, long long uses,
                  const char *output)
{
    struct cli_response r;
    json_t *body = json_object(), *pkg;
    char err[600], *text = NULL;
    int rc = 1;

    if (!body) {
        fprintf(stderr, "yamori onboard: out of memory\n");
        return 1;
    }
    if (expires > 0)
        json_object_set_new(body, "expires_seconds", json_integer(expires));
    if (uses > 0)
        json_object_set_new(body, "uses", json_integer(uses));
    if (group)
        json_object_set_new(body, "group", json_string(group));
    if (cli_request(cfg, "POST", "/api/v1/onboarding", body, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori onboard: %s\n", err);
        json_decref(body);
        return 1;
    }
    json_decref(body);
    if (r.status != 201) {
        rc = cli_fail(&r, "cannot create an onboarding package");
        goto out;
    }
    pkg = json_object_get(r.json, "package");
    if (!json_is_object(pkg) || !(text = json_dumps(pkg, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        fprintf(stderr, "yamori onboard: the server's answer holds no package\n");
        goto out;
    }
    {
        size_t n = strlen(text);
        char *nl = realloc(text, n + 2);
        if (!nl)
            goto out;
        text = nl;
        text[n] = '\n';
        text[n + 1] = '\0';
    }
    if (write_private(output, text, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori onboard: %s\n", err);
        goto out;
    }
    if (strcmp(output, "-") != 0) {
        json_t *uses_max = json_object_get(r.json, "uses_max");
        json_t *g = json_object_get(r.json, "group");
        printf("wrote %s (mode 0600): onboarding package for %s\n", output,
               json_string_value(json_array_get(json_object_get(pkg, "server_urls"), 0)));
        printf("  token %lld, expires %s, %lld enrollment%s%s%s\n",
               (long long)json_integer_value(json_object_get(r.json, "id")),
               json_string_value(json_object_get(r.json, "expires")), (long long)json_integer_value(uses_max),
               json_integer_value(uses_max) == 1 ? "" : "s", json_is_string(g) ? ", group " : "",
               json_is_string(g) ? json_string_value(g) : "");
        printf("  CA fingerprint %s\n", json_string_value(json_object_get(pkg, "ca_fingerprint")));
        printf("The file holds a secret: copy it to the machines to enroll, then delete it.\n");
    }
    rc = 0;
out:
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    cli_response_free(&r);
    return rc;
}

static int list(const struct cli_config *cfg, bool as_json)
{
    static const char *const headers[] = {"ID", "STATE", "USES", "GROUP", "EXPIRES", "CREATED BY"};
    struct cli_response r;
    struct cli_table *t;
    char err[600];
    size_t i;
    json_t *tok;
    int rc = 1;

    if (cli_request(cfg, "GET", "/api/v1/onboarding", NULL, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori onboard: %s\n", err);
        return 1;
    }
    if (r.status != 200 || !json_is_array(json_object_get(r.json, "tokens"))) {
        rc = cli_fail(&r, "cannot list onboarding tokens");
        goto out;
    }
    if (as_json) {
        printf("%s\n", r.body);
        rc = 0;
        goto out;
    }
    t = cli_table_new(6, headers);
    json_array_foreach(json_object_get(r.json, "tokens"), i, tok) {
        char id[32], uses[64], b1[128], b2[128], b3[128];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(tok, "id")));
        snprintf(uses, sizeof(uses), "%lld/%lld", (long long)json_integer_value(json_object_get(tok, "uses")),
                 (long long)json_integer_value(json_object_get(tok, "uses_max")));
        const char *cells[] = {id,
                               cli_json_text(json_object_get(tok, "state"), b1, sizeof(b1)),
                               uses,
                               cli_json_text(json_object_get(tok, "group"), b2, sizeof(b2)),
                               cli_json_text(json_object_get(tok, "expires"), b3, sizeof(b3)),
                               json_string_value(json_object_get(tok, "created_by"))};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    rc = 0;
out:
    cli_response_free(&r);
    return rc;
}

static int revoke_token(const struct cli_config *cfg, const char *id)
{
    struct cli_response r;
    char err[600], path[128], esc[64];
    int rc = 1;

    cli_url_escape(id, esc, sizeof(esc));
    snprintf(path, sizeof(path), "/api/v1/onboarding/%s", esc);
    if (cli_request(cfg, "DELETE", path, NULL, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori onboard: %s\n", err);
        return 1;
    }
    if (r.status != 200) {
        rc = cli_fail(&r, "cannot revoke the onboarding token");
    } else {
        printf("revoked onboarding token %s; devices it enrolled stay enrolled\n", id);
        rc = 0;
    }
    cli_response_free(&r);
    return rc;
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"expires", required_argument, NULL, 'e'},
        {"group", required_argument, NULL, 'g'},
        {"uses", required_argument, NULL, 'u'},
        {"one-time", no_argument, NULL, '1'},
        {"output", required_argument, NULL, 'o'},
        {"list", no_argument, NULL, 'l'},
        {"revoke", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *group = NULL, *output = "yamori-onboarding.json", *revoke_id = NULL;
    long long expires = 0, uses = 0;
    bool do_list = false, as_json = false, one_time = false;
    struct cli_config cfg;
    char err[600], *end;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "e:g:u:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            expires = parse_duration(optarg);
            if (expires < 0) {
                fprintf(stderr, "yamori onboard: --expires takes a duration such as 30m, 24h or 7d\n");
                return 2;
            }
            break;
        case 'g': group = optarg; break;
        case 'u':
            errno = 0;
            uses = strtoll(optarg, &end, 10);
            if (errno || *end || uses < 1) {
                fprintf(stderr, "yamori onboard: --uses takes a whole number of enrollments, 1 or more\n");
                return 2;
            }
            break;
        case '1': one_time = true; break;
        case 'o': output = optarg; break;
        case 'l': do_list = true; break;
        case 'r': revoke_id = optarg; break;
        case 'j': as_json = true; break;
        case 'h': printf("usage: %s\n", onboard_command.usage); return 0;
        default: return cli_usage(&onboard_command);
        }
    }
    if (optind != argc || (one_time && uses > 1) || (do_list && revoke_id))
        return cli_usage(&onboard_command);
    if (one_time)
        uses = 1;
    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori onboard: %s\n", err);
        return 1;
    }
    if (do_list)
        return list(&cfg, as_json);
    if (revoke_id)
        return revoke_token(&cfg, revoke_id);
    return create(&cfg, expires, group, uses, output);
}
