/*
 * isolation.h — device isolation: the machine behind an nftables table of
 * the agent's own (`inet yamori_isolation`), built with libnftables in
 * process (no `nft` child), in which only loopback and the agent's own
 * connection to the server stay open, IPv4 and IPv6; everything else in,
 * out and forwarded is dropped.
 *
 * The server's (and, when agent.conf names one, the proxy's) addresses
 * are resolved once, when isolation is requested, and pinned: they are
 * written with the state to <state_dir>/isolation.state, so a restart or
 * a reboot re-applies the same table without asking DNS (which the table
 * blocks), and the names are pinned to them in the agent's HTTPS client
 * (isolation_on_pins). The agent re-applies the table at start before
 * anything else.
 *
 * A watchdog thread lists the table every two seconds and compares it
 * with what was applied (the listing is the fingerprint); when someone
 * deleted or edited it, it puts the table back in one transaction and
 * counts a tampering, which the agent's loop turns into an
 * IsolationTampered device event (isolation_take_tampered).
 *
 * Release deletes the table and nothing else. The command handlers
 * `isolate` and `release` (commands.c's table) work on the instance the
 * agent registered with isolation_register().
 */
#ifndef YAMORI_AGENT_ISOLATION_H
#define YAMORI_AGENT_ISOLATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"

#define ISOLATION_TABLE "yamori_isolation"
#define ISOLATION_MAX_ADDRS 16
#define ISOLATION_WATCH_MS 2000

struct command;
struct isolation;

/* What the agent reports: the state as applied, not as requested. */
enum isolation_state {
    ISOLATION_OFF,     /* "not isolated" */
    ISOLATION_ON,      /* "isolated": the table is in place as applied */
    ISOLATION_FAILING, /* "isolation failing": requested, but the table could not be put in place */
};

/* "not isolated", "isolated", "isolation failing". */
const char *isolation_state_name(enum isolation_state s);

struct isolation_status {
    enum isolation_state state;
    char error[512];                        /* why it is failing ("" otherwise) */
    char comment[256];                      /* the request's comment ("" none) */
    size_t nallowed;
    char allowed[ISOLATION_MAX_ADDRS][64];  /* "192.0.2.1:8443", "[2001:db8::1]:8443" */
    uint64_t tampered;                      /* repairs since start */
};

/* Opens isolation for an agent whose server is server_url (and proxy_url,
 * "" or NULL for none), keeping its state in state_dir. When the state
 * file says the machine is isolated, the table is applied again now (the
 * pinned addresses, no DNS); a failure to apply is not an error here but
 * the state ISOLATION_FAILING with its reason, which the watchdog keeps
 * retrying. Returns 0, or -errno with err when the state file is
 * unreadable or malformed (nothing is changed then) or memory runs out. */
int isolation_open(struct isolation **out, const char *state_dir, const char *server_url, const char *proxy_url,
                   char *err, size_t errlen);

/* Starts the watchdog thread (every ISOLATION_WATCH_MS). Returns 0 or
 * -errno with err. */
int isolation_start_watchdog(struct isolation *iso, char *err, size_t errlen);

/* Isolates: resolves the server (and proxy) addresses, applies the table,
 * then records the state durably. Isolating an isolated machine keeps its
 * pinned addresses and re-applies the table (idempotent); comment (may be
 * NULL) replaces the stored one. On failure nothing stays applied or
 * recorded beyond what was there before, and err says why. */
int isolation_isolate(struct isolation *iso, const char *comment, char *err, size_t errlen);

/* Releases: deletes the agent's table (nothing else) and records the state.
 * Releasing a machine that is not isolated succeeds and changes nothing.
 * Returns 0 or -errno with err. */
int isolation_release(struct isolation *iso, char *err, size_t errlen);

/* The current state (thread-safe). */
void isolation_get_status(struct isolation *iso, struct isolation_status *out);

/* The number of repairs since the previous call (thread-safe); the agent's
 * loop emits one IsolationTampered event per call that returns > 0. What
 * the last repair found, "deleted" or "changed", goes to what (may be
 * NULL). */
uint64_t isolation_take_tampered(struct isolation *iso, char *what, size_t whatlen);

/* Receives the pins: newline-separated "host:port:addr[,addr...]" lines
 * for the names in the server and proxy URLs (none for addresses), "" when
 * not isolated; see channel_pin. */
typedef void (*isolation_pin_fn)(void *ctx, const char *pins);

/* Calls fn now with the current pins and again whenever they change
 * (isolate, release), from the thread that changed them. */
void isolation_on_pins(struct isolation *iso, isolation_pin_fn fn, void *ctx);

/* Stops the watchdog and frees iso. The table stays: isolation survives
 * the agent stopping. Accepts NULL. */
void isolation_free(struct isolation *iso);

/* Makes iso the instance the command handlers act on (NULL: none; the
 * handlers then fail saying the agent is not enrolled). */
void isolation_register(struct isolation *iso);

/* Command handlers (commands.c's table). isolate: args {} or
 * {"comment": "..."} (a string of at most 255 bytes); output
 * {"isolated": true, "allowed": ["192.0.2.1:8443", ...]}. release: no
 * args; output {"isolated": false}. */
int isolation_command_isolate(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);
int isolation_command_release(const struct command *cmd, struct jsonw *out, char *err, size_t errlen);

/* Parses an http(s) URL's host and port ("https://h:8443/x" -> "h", 8443;
 * "[2001:db8::1]" without brackets; default_port when none). Exposed for
 * tests. Returns 0 or -EINVAL. */
int isolation_url_endpoint(const char *url, unsigned default_port, char *host, size_t hostlen, unsigned *port);

/* Writes the nftables rule set (text) that isolates, allowing the given
 * endpoints ("ADDR PORT" pairs: numeric IPv4 or IPv6 addresses), into buf.
 * Exposed for tests. Returns 0 or -ENOSPC / -EINVAL. */
int isolation_ruleset(char *buf, size_t buflen, const char (*addrs)[46], const unsigned *ports, size_t n);

#endif
