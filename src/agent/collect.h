/*
 * collect.h — the `collect` command (issue 5): the investigation package.
 * The agent gathers what a responder looks at first on a Linux host (OS
 * and hardware, mounts and their usage, processes with lineage, open
 * files, network connections with their owning processes, neighbours,
 * addresses, firewall rules, sign-in history, sudoers, persistence
 * entries, the agent's recent events) into one tar.gz under a private
 * directory of the state directory, uploads it to the server
 * (docs/wire.md, "collect") and removes it. Every item is bounded in size and
 * count; what could not be collected is listed with its reason in the
 * archive's README.txt and in the command's output, never a failure of
 * the whole command.
 */
#ifndef YAMORI_AGENT_COLLECT_H
#define YAMORI_AGENT_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/commands.h"

struct json_t;

/* The top directory of every entry in the archive. */
#define COLLECT_TOP "yamori-collect"

/* Builds the package at archive_path (created 0600, replaced when
 * present). cmd (may be NULL) receives progress reports and is looked at
 * for cancellation. On success *summary (owned by the caller, json_decref)
 * is {"items": {"processes": N, ...}, "missing": [{"item", "reason"}]}.
 * Returns 0, -ECANCELED when the command was cancelled, or -errno with err
 * (the archive could not be written); on failure nothing is left at
 * archive_path. */
int collect_build(const char *archive_path, const struct command *cmd, struct json_t **summary, char *err,
                  size_t errlen);

/* The SHA-256 of the file at path as 64 lower-case hex characters into
 * hex (at least 65 bytes) and its size. Returns 0 or -errno. */
int collect_sha256_file(const char *path, char hex[65], uint64_t *bytes);

/* The `collect` command handler (commands.c's table). args: {} (none are
 * accepted). Builds the package in <state_dir>/collect.XXXXXX, uploads it
 * to POST /api/v1/agent/commands/{id}/file and removes it. Output:
 * {"package_sha256", "package_bytes", "items": {...}, "missing": [...]}.
 * Fails with the server's message when the upload is refused (e.g. the
 * package is above the server's max_package_bytes). */
int collect_command(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);

/* The channel collect_command uploads over: set at start, before the
 * command thread runs, and set to NULL when the agent stops, after
 * channel_stop() and before the channel is freed. Setting it waits until
 * no upload uses the old one (an upload on a stopped channel ends at
 * once); an upload that starts later, by a collect still running when the
 * agent gave up waiting for it, finds no channel and fails. So no upload
 * ever touches a freed channel. */
struct channel;
void collect_set_channel(struct channel *c);

/* The ring of the agent's recent events (recent.h) the package copies as
 * agent/events.jsonl; collect takes its own reference (NULL drops it).
 * Without one the package says the events were not collected. */
struct recent;
void collect_set_recent(struct recent *r);

#endif
