/*
 * scan_command.h — the agent's `scan` command (docs/wire.md, "scan"): runs
 * the antivirus scanner (scan.h) with the command's arguments, reports its
 * progress through command_progress() and stops when the server cancels it.
 */
#ifndef YAMORI_AGENT_SCAN_COMMAND_H
#define YAMORI_AGENT_SCAN_COMMAND_H

#include <stddef.h>

#include "agent/commands.h"

/* The handler (commands.h, command_fn). Arguments: {"kind": "quick" |
 * "full" | "custom", "path": "/abs" (custom only), "indicators":
 * ["<sha256>", ...] (optional), "cpu_budget": cores (optional, 0.01..64),
 * "yara_max_mb": MiB (optional, 1..4096)}. Writes the scan result
 * object into out and returns 0 — also when the scan was cancelled (the
 * result then says "cancelled": true and lists what was found so far).
 * Returns -EINVAL with a sentence in err for bad arguments, or the
 * scanner's error (a rule set that does not compile, ...). */
int scan_command_run(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);

#endif
