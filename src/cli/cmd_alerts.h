/*
 * cmd_alerts.h — what the alerts and incidents subcommands (cmd_alerts.c,
 * cmd_incidents.c) share: requests with error reporting, filters as query
 * arguments, relative times, and the printing of one alert page, which the
 * alert story extends.
 */
#ifndef YAMORI_CLI_CMD_ALERTS_H
#define YAMORI_CLI_CMD_ALERTS_H

#include <jansson.h>
#include <stdio.h>

#include "cli/client.h"

/* Loads the saved login; prints why and returns -1 when there is none. */
int alerts_cli_config(struct cli_config *cfg, const char *cmd);

/* Sends method path with body (may be NULL); on an answer other than
 * `want` (or no answer) prints "yamori: <what>: <why>" and returns 1 with
 * nothing to free; else 0 and the caller frees r. */
int alerts_cli_call(const struct cli_config *cfg, const char *method, const char *path, json_t *body, long want,
                    struct cli_response *r, const char *what);

/* Appends "?key=value" / "&key=value" (escaped) to path when value is set. */
void alerts_cli_query(char *path, size_t len, const char *key, const char *value);

/* "3m ago", "2h ago", "-" for an RFC 3339 time in v. */
const char *alerts_cli_ago(json_t *v, char *buf, size_t buflen);

/* The strings of a JSON array joined with ", " ("-" when empty). */
const char *alerts_cli_joined(json_t *arr, char *buf, size_t buflen);

/* Whether s is a positive decimal id. */
int alerts_cli_is_id(const char *s);

/* Prints the page of one alert (the answer of GET /api/v1/alerts/:id):
 * details, ATT&CK, description, recommended actions, evidence with roles
 * and verdicts, the incident, then its story (through
 * alerts_cli_print_story when the story module of the CLI defines it). */
void alerts_cli_print_alert(FILE *f, json_t *page);

/* Prints the "story" member of an alert page (a JSON object). Defined by
 * the story part of the CLI (cmd_alert_story*.c); declared weak here, so
 * that until it exists `yamori alert show` prints "story: not available". */
void alerts_cli_print_story(FILE *f, json_t *story);

#endif
