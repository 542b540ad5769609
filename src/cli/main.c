/*
 * main.c — the `yamori` command: the server, the command-line client and
 * the one-machine set-up, as subcommands (see cli.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"

extern const struct cli_command *const __start_yamori_commands[] __attribute__((weak));
extern const struct cli_command *const __stop_yamori_commands[] __attribute__((weak));

int cli_usage(const struct cli_command *cmd)
{
    fprintf(stderr, "usage: %s\n", cmd->usage);
    return 2;
}

static void help(FILE *f)
{
    const struct cli_command *const *c = __start_yamori_commands;
    size_t n = c ? (size_t)(__stop_yamori_commands - c) : 0;

    fprintf(f, "usage: yamori COMMAND [ARGS]\n\nYamori, endpoint detection and response for Linux.\n\ncommands:\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-14s %s\n", c[i]->name, c[i]->summary);
    fprintf(f, "\n`yamori COMMAND --help` says more about a command.\n");
}

int main(int argc, char **argv)
{
    const struct cli_command *const *c = __start_yamori_commands;
    size_t n = c ? (size_t)(__stop_yamori_commands - c) : 0;

    log_init("yamori", LOG_LEVEL_INFO);
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("yamori %s\n", YAMORI_VERSION);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i]->name, argv[1]) == 0)
            return c[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "yamori: unknown command '%s'\n\n", argv[1]);
    help(stderr);
    return 2;
}
