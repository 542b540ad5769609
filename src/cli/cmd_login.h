/*
 * cmd_login.h — what the people-and-access subcommands (login, users,
 * tokens, audit) share: reading a password without echo, durations, and
 * short times for tables. Implemented in cmd_login.c.
 */
#ifndef YAMORI_CLI_CMD_LOGIN_H
#define YAMORI_CLI_CMD_LOGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Reads a password into out: the first line of file when file is set ("-":
 * standard input), else the value of the environment variable env when env
 * is set and non-empty, else asks on the terminal (/dev/tty) with prompt and
 * echo off, twice when confirm. Returns 0, or -errno with a sentence in err
 * (no terminal, unreadable file, empty, too long, the two entries differ). */
int login_read_password(const char *file, const char *env, const char *prompt, bool confirm, char *out,
                        size_t outlen, char *err, size_t errlen);

/* Parses "90s", "30m", "12h", "30d", "2w" into seconds. -EINVAL when it is
 * not such a duration. */
int login_parse_duration(const char *s, long long *seconds);

/* An RFC 3339 time from the API shortened to the second
 * ("2026-01-02T03:04:05Z"), "-" for null; into buf. */
const char *login_short_time(json_t *v, char *buf, size_t buflen);

/* Prints the body of an answer as the API's JSON (for --json). */
void login_print_json(const char *body);

#endif
