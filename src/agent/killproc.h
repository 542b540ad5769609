/*
 * killproc.h — the kill_process response action on the agent: SIGKILL a
 * process, or a process and every descendant, by pid, checked against the
 * process's unique id (docs/events.md, "Process identity") when one is
 * given so that a reused pid is never killed. Signals go through a pidfd
 * opened before the identity is checked, so the process checked is the
 * one signalled. Never killed: pid 1, kernel threads, the agent itself.
 */
#ifndef YAMORI_AGENT_KILLPROC_H
#define YAMORI_AGENT_KILLPROC_H

#include <stddef.h>

#include "agent/commands.h"

/* The kill_process command handler (commands.c's table). args: {"pid": N,
 * "process_uid": "<boot8>-<pid>-<start ticks>" (optional; checked when
 * given), "tree": bool (optional; also every descendant)}. Output:
 * {"killed": [pids], "skipped": [{"pid": N, "reason": "..."}]}. Fails,
 * killing nothing, when the target is refused, gone or not the process
 * the uid names. */
int killproc_command(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);

/* The unique id of live process pid under proc_root ("/proc") into out
 * (at least 48 bytes); also whether it is a kernel thread and its parent.
 * Returns 0, -ENOENT (gone) or -EIO (unreadable). Exposed for tests. */
int killproc_identity(const char *proc_root, int pid, char *out, size_t outlen, int *ppid, int *kthread);

#endif
