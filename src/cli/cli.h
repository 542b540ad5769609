/*
 * cli.h — the `yamori` command's subcommands.
 *
 * Each subcommand registers itself with CLI_COMMAND() in its own file; the
 * dispatcher (src/cli/main.c) finds it by name. A subcommand parses its own
 * arguments, prints a usage line on misuse (exit status 2), errors on
 * standard error (status 1), results on standard output (status 0).
 */
#ifndef YAMORI_CLI_CLI_H
#define YAMORI_CLI_CLI_H

struct cli_command {
    const char *name;     /* "server", "devices", "device", ... */
    const char *summary;  /* one line for `yamori help` */
    const char *usage;    /* "yamori devices [--json]" */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

#define CLI_COMMAND(var)                                                                            \
    static const struct cli_command *const var##_registration                                       \
        __attribute__((used, section("yamori_commands"), aligned(sizeof(void *)))) = &var

/* Prints "usage: <cmd->usage>" to stderr and returns 2. */
int cli_usage(const struct cli_command *cmd);

#endif
