/*
 * heartbeat.h — the agent's heartbeat (docs/wire.md, "Heartbeat"): every
 * heartbeat_seconds, in a thread of its own, POST /api/v1/agent/heartbeat
 * with the agent's health: sensor back end and limitations, events per
 * second, losses, spool depth, CPU and memory of the agent, versions, host
 * name, addresses, OS, distribution and kernel. The server's answer may
 * change the interval (heartbeat_seconds, 5 to 3600).
 */
#ifndef YAMORI_AGENT_HEARTBEAT_H
#define YAMORI_AGENT_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"

struct channel;
struct spool;
struct heartbeat;

/* What the machine is, for the heartbeat and the enrolment. */
struct host_info {
    char hostname[256];     /* the host name, as the server accepts it ("localhost" when unusable) */
    char os[129];           /* PRETTY_NAME of os-release, else "Linux" */
    char distribution[65];  /* ID of os-release ("debian"), else "linux" */
    char kernel[129];       /* uname release */
};

/* Fills h from gethostname, /etc/os-release (or /usr/lib/os-release) and
 * uname. Never fails: what cannot be read gets a fallback. */
void heartbeat_host_info(struct host_info *h);

/* Writes the heartbeat body into w (one JSON object): health from the
 * channel, depth from the spool (NULL: zero), cpu_percent over the time
 * since the previous call (state in *prev_cpu_us / *prev_ns / *prev_events;
 * zeros the first time). Exposed for tests. */
void heartbeat_write(struct jsonw *w, struct channel *c, struct spool *s, uint64_t *prev_cpu_us, uint64_t *prev_ns,
                     uint64_t *prev_events);

/* Starts the thread; the channel and the spool must outlive it. Returns 0
 * or -errno with err. */
int heartbeat_start(struct heartbeat **out, struct channel *c, struct spool *s, char *err, size_t errlen);

/* Stops the thread (after channel_stop) and frees it. Accepts NULL. */
void heartbeat_stop(struct heartbeat *h);

#endif
