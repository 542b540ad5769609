/*
 * cmd_offboard.c — `yamori offboard NAME`: revokes a device's secret so
 * its agent can no longer send events or fetch commands. Everything the
 * server holds about the device stays; enrolling the machine again with a
 * new onboarding package brings it back under the same id.
 *
 *   yamori offboard NAME
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"

static int run(int argc, char **argv);

static const struct cli_command offboard_command = {
    .name = "offboard",
    .summary = "offboard a device: revoke its credentials, keep its data (admin)",
    .usage = "yamori offboard NAME",
    .run = run,
};
CLI_COMMAND(offboard_command);

static int run(int argc, char **argv)
{
    struct cli_config cfg;
    struct cli_response r;
    char err[600], esc[1024], path[1200];
    json_t *body;
    int rc;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", offboard_command.usage);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage(&offboard_command);
    if (cli_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori offboard: %s\n", err);
        return 1;
    }
    cli_url_escape(argv[1], esc, sizeof(esc));
    snprintf(path, sizeof(path), "/api/v1/devices/%s/offboard", esc);
    body = json_object();
    if (!body || cli_request(&cfg, "POST", path, body, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori offboard: %s\n", body ? err : "out of memory");
        json_decref(body);
        return 1;
    }
    json_decref(body);
    if (r.status != 200) {
        rc = cli_fail(&r, "cannot offboard the device");
    } else {
        printf("%s %s (%s); its data stays. Enroll it again with a new onboarding package to bring it back.\n",
               json_is_true(json_object_get(r.json, "already_offboarded")) ? "already offboarded:" : "offboarded",
               json_string_value(json_object_get(r.json, "name")), json_string_value(json_object_get(r.json, "id")));
        rc = 0;
    }
    cli_response_free(&r);
    return rc;
}
