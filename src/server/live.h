/*
 * live.h — live response sessions on the server (docs/live.md): what the
 * rest of the server calls.
 *
 * The live modules (live.c: life cycle and sweep; live_api.c: the
 * people's routes; live_exec.c: running a parsed line; live_stream.c:
 * the agent's streamed output; live_library.c: the library and file
 * transfers; live_render.c: output as text) keep their state to
 * themselves. The command channel tells them when a device command
 * changed (live_command_changed), the way it tells the action center, so
 * a live command ends as soon as its device answers.
 */
#ifndef YAMORI_SERVER_LIVE_H
#define YAMORI_SERVER_LIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct server;

/* The command channel's hook: device command command_id got its result
 * (or changed otherwise). Ends the live command it carries, if any, and
 * answers whoever waits for it. Never fails (the sweep catches up). */
void live_command_changed(struct server *srv, int64_t command_id);

/* The text a person reads for a command's output (docs/live.md,
 * "rendering"): as_json gives the output as indented JSON; otherwise
 * tables ({"columns", "rows"}) become aligned text columns under their
 * other members' "name: value" lines, and any other object its members
 * one per line ("verdict" and "reasons" first), nested values indented
 * or as compact JSON. output may be NULL (""). Returns malloc'd text
 * (ends with a newline unless empty), or NULL when out of memory. Pure. */
char *live_render(json_t *output, bool as_json);

#endif
