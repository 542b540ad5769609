/*
 * cmd_server.c — `yamori server`: runs the server.
 *
 *   yamori server [--config FILE] [--set KEY=VALUE]... [-n] [--list-routes] [--print-config]
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "server/config.h"
#include "server/http.h"
#include "server/server.h"

static void print_route(const struct route *r, const char *module, void *ctx)
{
    (void)ctx;
    printf("%-6s %-44s %-9s %-9s %-10s %s\n", http_method_name(r->method), r->pattern,
           r->access == ACCESS_PUBLIC ? "public" : r->access == ACCESS_DEVICE ? "device" : "user",
           r->access == ACCESS_USER ? role_name(r->min_role) : "-", module, r->summary ? r->summary : "");
}

static int run(int argc, char **argv);

static const struct cli_command server_command = {
    .name = "server",
    .summary = "run the Yamori server",
    .usage = "yamori server [--config FILE] [--set KEY=VALUE]... [-n] [--list-routes] [--print-config]",
    .run = run,
};
CLI_COMMAND(server_command);

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"check", no_argument, NULL, 'n'},
        {"list-routes", no_argument, NULL, 'r'},
        {"print-config", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct server_config cfg;
    char err[512];
    const char *sets[64];
    int nsets = 0, c;
    bool check = false, routes = false, print = false;
    const char *config_path = NULL;

    config_defaults(&cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:s:n", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 's':
            if (nsets == 64) {
                fprintf(stderr, "yamori server: too many --set options\n");
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'n': check = true; break;
        case 'r': routes = true; break;
        case 'p': print = true; break;
        case 'h': printf("usage: %s\n", server_command.usage); return 0;
        default: return cli_usage(&server_command);
        }
    }
    if (optind != argc)
        return cli_usage(&server_command);
    if (routes) {
        printf("%-6s %-44s %-9s %-9s %-10s %s\n", "METHOD", "PATH", "ACCESS", "ROLE", "MODULE", "SUMMARY");
        http_for_each_route(print_route, NULL);
        return 0;
    }
    if (config_path && config_load(&cfg, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori server: %s\n", err);
        return 1;
    }
    for (int i = 0; i < nsets; i++) {
        char key[64];
        const char *eq = strchr(sets[i], '=');
        if (!eq || (size_t)(eq - sets[i]) >= sizeof(key)) {
            fprintf(stderr, "yamori server: --set expects KEY=VALUE, got '%s'\n", sets[i]);
            return 2;
        }
        memcpy(key, sets[i], (size_t)(eq - sets[i]));
        key[eq - sets[i]] = '\0';
        if (config_set(&cfg, key, eq + 1, err, sizeof(err)) != 0) {
            fprintf(stderr, "yamori server: --set %s\n", err);
            return 1;
        }
    }
    if (print) {
        config_print(&cfg, stdout);
        return 0;
    }
    log_init("yamori-server", strcmp(cfg.log_level, "debug") == 0     ? LOG_LEVEL_DEBUG
                              : strcmp(cfg.log_level, "warning") == 0 ? LOG_LEVEL_WARN
                              : strcmp(cfg.log_level, "error") == 0   ? LOG_LEVEL_ERROR
                                                                      : LOG_LEVEL_INFO);
    return server_run(&cfg, check) == 0 ? 0 : 1;
}
