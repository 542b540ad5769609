/*
 * fleet.h — the test fixture "a real server, its people and its devices":
 * what the end-to-end tests set up before a case and tear down after it.
 *
 * fleet_start() runs `yamori server` (serverproc.h), signs in its first
 * admin and creates the users the options name, each with an API token.
 * With options.agent_group it also makes a work directory
 * /tmp/yamori-<name>.XXXXXX (mode 0711: the server, as nobody, may reach
 * a data directory inside) and onboards the real agent there: an
 * onboarding package of that group, `yamori-agent enroll` into <dir>/etc
 * (its output in <dir>/enroll.log), agent.conf pointed at the server's
 * address (the package names the public URL, which need not resolve on a
 * test machine) or at options.agent_host, and <dir>/state. The agent then
 * runs with fleet_agent_start() (--config-dir=<dir>/etc
 * --state-dir=<dir>/state --status-file=<dir>/status.json --no-logons, its
 * output appended to <dir>/agent.log) and stops with fleet_agent_stop().
 * Devices a test plays itself enroll through the API with fleet_device(),
 * as an agent would.
 *
 * fleet_free() kills the agent, stops the server and removes the work
 * directory; in a case that failed (check_failed_) it first keeps the
 * agent's log as <dir>.agent.log and appends the server's log to
 * $YAMORI_TEST_SERVER_LOG when that is set.
 *
 * Requests carry an Authorization header line, "Authorization: Bearer
 * <token>" for people or "Authorization: Device <id>:<secret>" for
 * devices. Needs root (the server drops to nobody, the agent loads its
 * sensor). Single-threaded use, like serverproc; a forked child may use
 * the fleet it inherited (its own copy) and free it.
 */
#ifndef YAMORI_TESTS_FLEET_H
#define YAMORI_TESTS_FLEET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "check.h"
#include "serverproc.h"

/* A device: its id and the header line of its credentials. */
struct fleet_device {
    char id[80];
    char auth[400];            /* "Authorization: Device <id>:<secret>" */
};

/* A user fleet_start creates: the header line of its token goes to auth. */
struct fleet_user {
    const char *name;          /* its password is "a long password for <name>" */
    const char *role;          /* viewer, analyst, responder or admin */
    char *auth;                /* receives "Authorization: Bearer <token>" */
    size_t authlen;
};

struct fleet_options {
    const char *const *sets;         /* the server's --set lines, NULL-terminated; NULL: none */
    const struct fleet_user *users;  /* created in order; ends at a NULL name; NULL: none */
    const char *name;                /* names the work directory; NULL: "fleet" */
    const char *agent_group;         /* enroll the real agent in this group; NULL: no agent */
    bool keep_data;                  /* the server's data directory is <dir>/server-data, so that
                                      * fleet_server_restart() finds it again (needs a work directory:
                                      * with it, one is made even without an agent) */
    const char *listen_host;         /* the server listens there too (serverproc_options); NULL: 127.0.0.1 */
    const char *agent_host;          /* the address the agent reaches the server at, with the server's
                                      * port; NULL: the server's own address (127.0.0.1) */
    const char *agent_netns;         /* the agent's processes (its enrolment too) run in the network
                                      * namespace /run/netns/<agent_netns>; NULL: this process's */
};

/* What a test reads (and never writes). */
struct fleet {
    struct serverproc *server;       /* NULL while stopped (fleet_server_stop) */
    char admin[300];                 /* "Authorization: Bearer <the first admin's token>" */
    char dir[256];                   /* the work directory, "" without one */
    struct fleet_device agent;       /* the enrolled agent's device; id "" without an agent */
    pid_t agent_pid;                 /* the running agent, or -1 */
    char data_dir[300];              /* the kept data directory (keep_data), else "" */
    char agent_url[300];             /* the server's address as the agent has it */
    /* kept from the options ("" for NULL) */
    char agent_host[64], agent_netns[64], listen_host[64];
};

/* Starts what opt describes (opt may be NULL: a server and its admin).
 * NULL on failure, with the reason (the server's or the enrolment's
 * output among it) in err; what was started is stopped again. */
struct fleet *fleet_start(const struct fleet_options *opt, char *err, size_t errlen);

/* Kills the agent (SIGKILL), stops the server, keeps the logs of a failed
 * case (see above), removes the work directory, frees f. Accepts NULL. */
void fleet_free(struct fleet *f);

/* ------------------------------------------------------------ HTTPS */

/* method path with body (NULL: none) as auth (a header line; NULL: no
 * credentials) and the more header lines (NULL-terminated, may be NULL).
 * Returns the answer's JSON (new reference; NULL when it is not JSON or
 * none came) and its HTTP status in *status (0 when none came). */
json_t *fleet_call_headers(const struct fleet *f, const char *auth, const char *const *more, const char *method,
                           const char *path, const char *body, long *status);

/* fleet_call_headers without more headers. */
json_t *fleet_call(const struct fleet *f, const char *auth, const char *method, const char *path, const char *body,
                   long *status);

/* fleet_call for the HTTP status only (0 when no answer came). */
long fleet_status(const struct fleet *f, const char *auth, const char *method, const char *path, const char *body);

/* Waits (polling as the admin, up to seconds) until action id is final —
 * succeeded, failed, cancelled, expired or rejected. Returns the action
 * (new reference), or NULL when it did not end in time. */
json_t *fleet_action_wait(const struct fleet *f, long long id, int seconds);

/* The state of action id as auth reads it ("" when it cannot be read).
 * Returns a static buffer. */
const char *fleet_action_state(const struct fleet *f, const char *auth, long long id);

/* The page of device id (GET /api/v1/devices/<id>) as the admin sees it
 * (new reference), or NULL unless the answer is 200. */
json_t *fleet_device_page(const struct fleet *f, const char *id);

/* ------------------------------------------------------------ devices the test plays */

/* Enrolls a device named host, as an agent would: an onboarding token
 * from the admin, then POST /api/v1/agent/enroll with machine id number n
 * (distinct n, distinct machines). Returns 0, or -1 when the server
 * refused either step. */
int fleet_device(const struct fleet *f, const char *host, int n, struct fleet_device *d);

/* The device's command poll (GET /api/v1/agent/commands, waiting up to
 * wait seconds for one). Returns the commands array (new reference; an
 * empty array when the poll failed). */
json_t *fleet_device_poll(const struct fleet *f, const struct fleet_device *d, int wait);

/* POST /api/v1/agent/commands/<cid>/<what> with body as the device.
 * Returns the HTTP status; the answer's JSON into *answer when answer is
 * not NULL (new reference, may be NULL). */
long fleet_device_post(const struct fleet *f, const struct fleet_device *d, const char *what, long long cid,
                       const char *body, json_t **answer);

/* ------------------------------------------------------------ the real agent */

/* Starts the enrolled agent (a stale status file is removed first: it
 * would look like a running agent). With ready_seconds > 0, waits that
 * long for it to run: its status file names its output once the sensor is
 * attached and the channel's threads run. Returns 0, -EALREADY when it
 * runs already, -ENOENT without an enrolled agent, -ECHILD when it ended
 * before it ran or -ETIMEDOUT (either with the end of its log in err), or
 * -errno of fork. */
int fleet_agent_start(struct fleet *f, int ready_seconds, char *err, size_t errlen);

/* Sends sig to the running agent and waits up to seconds (0: as long as
 * it takes) for it to end. Returns its status as from waitpid (0: it
 * exited cleanly), -ESRCH when no agent runs, -ECHILD when it cannot be
 * waited for, or -ETIMEDOUT when it did not end in time (it is still f's:
 * fleet_free kills it). */
int fleet_agent_stop(struct fleet *f, int sig, int seconds);

/* Runs the agent binary with args (NULL-terminated, at most 14) to its
 * end, its output into <dir>/<log> (truncated first). Returns its exit
 * status, 128 + the signal that killed it, or -1 when it could not run. */
int fleet_agent_run(const struct fleet *f, const char *log, const char *const *args);

/* The agent's status file, parsed (new reference), or NULL. */
json_t *fleet_agent_status(const struct fleet *f);

/* The end of <dir>/<name> on one line ('|' for the line ends), for
 * failure messages. Returns a static buffer ("" when it cannot be read). */
const char *fleet_tail(const struct fleet *f, const char *name);

/* ------------------------------------------------------------ the server */

/* Stops the server (SIGTERM). Returns its exit status as from waitpid (0:
 * a clean exit, no sanitizer report), or -1 when it does not run. */
int fleet_server_stop(struct fleet *f);

/* Starts the server again on its kept data directory (keep_data),
 * stopping it first when it runs; signs the admin in again and points the
 * agent's configuration at the new address. Returns 0, -EINVAL without a
 * kept data directory, or -EIO with the reason in err. */
int fleet_server_restart(struct fleet *f, char *err, size_t errlen);

/* ------------------------------------------------------------ in a case (check.h) */

/* Skips the case without root; otherwise starts the fleet *base
 * describes, with the server's --set lines given after it ("key=value"
 * strings, or NULL for none), into *fp; fails the case when that fails. */
#define FLEET_START(fp, base, ...)                                                                  \
    do {                                                                                            \
        static const char *const fleet_sets_[] = {__VA_ARGS__, NULL};                               \
        struct fleet_options fleet_o_ = *(base);                                                    \
        char fleet_why_[1200];                                                                      \
        if (!check_is_root())                                                                       \
            SKIP("needs root (%s)", fleet_o_.agent_group ? "the agent's sensor; the server drops to nobody" \
                                                         : "the server under test drops to user nobody");  \
        fleet_o_.sets = fleet_sets_[0] ? fleet_sets_ : NULL;                                        \
        *(fp) = fleet_start(&fleet_o_, fleet_why_, sizeof(fleet_why_));                             \
        CHECK_MSG(*(fp), "cannot start: %s", fleet_why_);                                           \
    } while (0)

/* Starts f's agent and waits up to 60 s for it to run; fails the case
 * otherwise. */
#define FLEET_AGENT_START(f)                                                                        \
    do {                                                                                            \
        char fleet_why_[1200];                                                                      \
        CHECK_MSG(fleet_agent_start((f), 60, fleet_why_, sizeof(fleet_why_)) == 0, "%s", fleet_why_); \
    } while (0)

#endif
