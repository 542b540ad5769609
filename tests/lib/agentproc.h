/*
 * agentproc.h — runs the real yamori-agent binary for a test and reads its
 * events.
 *
 * The agent is started with --stdout and its own status file; the start
 * returns once the AgentStarted event arrived, which the agent prints only
 * after its sensor is attached, so everything the test does afterwards is
 * seen. Events are kept (parsed with jansson) so that a test can wait for
 * one that matches, or streamed to a callback for tests that produce more
 * than should be kept (storms).
 */
#ifndef YAMORI_TESTS_AGENTPROC_H
#define YAMORI_TESTS_AGENTPROC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct agentproc;

/* The agent binary of the build under test: $YAMORI_SAN_BIN/yamori-agent
 * (sanitizer build), or $YAMORI_REL_BIN/yamori-agent when release is true.
 * Returns a static buffer. */
const char *agentproc_binary(bool release);

/* Starts binary with --stdout, a private status file and the NULL-terminated
 * extra arguments. Waits up to 30 s for AgentStarted. NULL on failure, with
 * the reason (and the agent's standard error) in err. */
struct agentproc *agentproc_start(const char *binary, const char *const *extra_args, char *err,
                                  size_t errlen);

/* Stops the agent (SIGTERM), reads the rest of its output, waits for it.
 * Returns its exit status (as from waitpid), or -1. Accepts NULL. */
int agentproc_stop(struct agentproc *a);

/* Stops every agent started and not stopped yet (for check_set_teardown). */
void agentproc_stop_all(void);

/* A one-line diagnosis for failure messages: the agent's limitations and
 * the end of its standard error. Returns a static buffer. */
const char *agentproc_diag(struct agentproc *a);

/* The end of the log file at path (an agent's output, say) on one line,
 * '|' for its line ends, for failure messages. Returns a static buffer
 * ("" when the file cannot be read). */
const char *agentproc_log_tail(const char *path);

/* The AgentStarted event (borrowed). */
json_t *agentproc_started(struct agentproc *a);

/* Waits up to timeout_ms for a kept event whose fields equal the given
 * (name, text) pairs (NULL-terminated; a number matches its decimal text,
 * true matches "true"); earlier events are searched first. Returns the event
 * (borrowed, valid until agentproc_stop) or NULL. */
json_t *agentproc_wait(struct agentproc *a, int timeout_ms, ...) __attribute__((sentinel));

/* Like agentproc_wait, but only searches what arrived so far after reading
 * for settle_ms: for asserting that something did NOT happen. */
json_t *agentproc_find(struct agentproc *a, int settle_ms, ...) __attribute__((sentinel));

/* Counts kept events matching the pairs, after reading for settle_ms. */
int agentproc_count(struct agentproc *a, int settle_ms, ...) __attribute__((sentinel));

/* Streams: calls fn for every event from now on (kept events are not
 * replayed), without keeping them, until fn returns true or timeout_ms
 * passes. Returns true when fn ended it. */
bool agentproc_stream(struct agentproc *a, bool (*fn)(json_t *ev, void *ctx), void *ctx, int timeout_ms);

/* The agent's status file, parsed (new reference), or NULL. */
json_t *agentproc_status(struct agentproc *a);

/* Waits up to seconds until the agent status file at path says
 * everything spooled was acknowledged (Spool: no pending events, AckedSeq
 * just below NextSeq), polling ten times a second. Returns true then, the
 * acknowledged seq into *acked when acked is not NULL; false when it did
 * not drain in time. */
bool agentproc_wait_drained(const char *status_path, int seconds, uint64_t *acked);

/* The unique process id Yamori gives process pid (see docs/events.md), from
 * /proc; false when the process is gone. */
bool agentproc_unique_id(pid_t pid, char *out, size_t outlen);

/* The text of field name in ev ("" when absent). */
const char *agentproc_text(json_t *ev, const char *name, char *buf, size_t buflen);

#endif
