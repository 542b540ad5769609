/*
 * channel.h — the agent's side of the agent channel (docs/wire.md): HTTPS
 * requests to the server with the onboarding package's CA pinned and the
 * device's credentials, and the state the channel's threads (uploader,
 * heartbeat, commands) share with the agent's loop: the link state, the
 * last upload and its error, the health the loop publishes.
 *
 * Requests go through libcurl, one handle per thread (curl handles are not
 * shared), HTTPS only, no redirects, the host name verified against the
 * certificate, the environment's proxy variables ignored (agent.conf's
 * `proxy` is used instead). Each request can be aborted at once by
 * channel_stop(), so the threads stop within a second.
 */
#ifndef YAMORI_AGENT_CHANNEL_H
#define YAMORI_AGENT_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agentconf.h"

#define CHANNEL_REPLY_MAX (1u << 20) /* larger answers are refused */

/* What the agent knows of its link to the server. */
enum link_state {
    LINK_CONNECTING,   /* nothing answered yet */
    LINK_UP,           /* the last request was answered with success */
    LINK_DOWN,         /* the server could not be reached or failed (5xx): retrying */
    LINK_UNAUTHORIZED, /* the server refused the device's credentials (401/403) */
    LINK_REJECTED,     /* the server refused a request (another 4xx) */
};

const char *link_state_name(enum link_state s);

/* The kinds of requests; each has its own state, and the link state is
 * the worst of them (unauthorized, rejected, down, up; a path that has not
 * answered yet does not count). */
enum channel_path { CHAN_EVENTS, CHAN_HEARTBEAT, CHAN_POLL, CHAN_RESULT, CHAN_PATHS };

struct channel_stream;

/* One HTTPS request. */
struct https_request {
    const char *url;            /* full URL */
    const char *method;         /* "GET" or "POST" */
    const char *content_type;   /* of the body (POST) */
    const void *body;
    size_t body_len;
    const char *authorization;  /* the Authorization header's value, or NULL */
    const char *ca_pem;         /* the CA to trust (and nothing else) */
    size_t ca_len;
    const char *proxy;          /* "" or NULL: no proxy */
    const char *resolve;        /* pinned addresses: "host:port:addr[,addr...]" lines ("" or NULL: none) */
    long timeout_s;             /* the whole request */
    /* Called about once a second during the request (and more often while
     * data flows); returning non-zero aborts it (-ECANCELED). */
    int (*progress)(void *ctx);
    void *progress_ctx;
    const struct channel_stream *stream; /* a streamed body (see below), or NULL */
};

/* A request body read as it is sent, and/or a successful answer's body
 * handed over as it arrives, for files larger than memory should hold.
 * Any callback may be NULL. */
struct channel_stream {
    /* Fills buf with at most len bytes of the body; returns how many (0
     * only at the end), or CHANNEL_STREAM_ABORT to abort the request
     * (-ECANCELED). Exactly body_len bytes are sent (Content-Length); a
     * body that ends early fails the request. */
    size_t (*read)(char *buf, size_t len, void *ctx);
    uint64_t body_len;
    /* Takes len bytes of a 2xx answer's body (an error answer's body is
     * kept in the reply, for its message); returns 0, or -errno to abort
     * the request (-ECANCELED). */
    int (*write)(const char *buf, size_t len, void *ctx);
    /* Asked about once a second and whenever data flows: true aborts the
     * request (-ECANCELED); so does the channel stopping. */
    bool (*cancelled)(void *ctx);
    void *ctx;
};

#define CHANNEL_STREAM_ABORT ((size_t)-1)

struct https_reply {
    long status;                /* the HTTP status, 0 when none arrived */
    char *body;                 /* NUL-terminated, malloc'd (NULL when empty) */
    size_t len;
    long retry_after_s;         /* the Retry-After header (0: none) */
    char error[512];            /* why there is no answer, or the server's message for >= 400 */
};

/* Once per process, before any thread: initialises libcurl. */
int channel_global_init(char *err, size_t errlen);
void channel_global_cleanup(void);

/* Performs rq with *handle (a CURL *, created on first use; release it with
 * https_handle_free). Returns 0 when the server answered (any status: see
 * rp->status; for >= 400 rp->error holds the server's message), or -errno
 * when it did not: -ECONNREFUSED, -ETIMEDOUT, -EPROTO (TLS failure, the
 * certificate not trusted, the host name not matching), -ECANCELED
 * (aborted), -EMSGSIZE (answer above CHANNEL_REPLY_MAX), ... with the
 * reason in rp->error. The caller frees rp with https_reply_free. */
int https_call(void **handle, const struct https_request *rq, struct https_reply *rp);
void https_reply_free(struct https_reply *rp);
void https_handle_free(void *handle);

/* What the agent's loop publishes for the heartbeat (every second). */
struct channel_health {
    char backend[32];
    char limitations[2048];   /* newline-separated */
    uint64_t events;          /* events produced since start */
    uint64_t sensor_lost;     /* events the sensor dropped since start */
    char isolation[32];       /* as applied: "isolated", "not isolated", "isolation failing" ("" unknown) */
    char isolation_error[512]; /* why isolation is failing ("" otherwise) */
};

/* The channel's counters, for the status file. */
struct channel_status {
    enum link_state link;       /* the worst of path[] */
    enum link_state path[CHAN_PATHS];
    char link_error[512];       /* the last failure ("" when none yet) */
    uint64_t link_error_ns;     /* UTC */
    uint64_t last_upload_ns;    /* UTC of the last acknowledged batch */
    uint64_t last_heartbeat_ns; /* UTC of the last heartbeat answered */
    uint64_t next_retry_ns;     /* UTC of the next upload attempt while backing off (0: none) */
    uint64_t batches_sent, events_sent, bytes_sent;
    uint64_t upload_failures;   /* failed upload attempts */
    uint64_t events_rejected;   /* records the server refused (400) */
    uint64_t commands_run;
};

struct channel;

/* Creates the channel for an enrolled agent: reads the CA and the device
 * secret that conf names. Returns 0 or -errno with err. */
int channel_new(struct channel **out, const struct agent_conf *conf, char *err, size_t errlen);
void channel_free(struct channel *c);

const struct agent_conf *channel_conf(const struct channel *c);

/* Performs a request to path (under the server URL) with the device's
 * credentials; see https_call. timeout_s 0: 60 s. */
int channel_call(struct channel *c, void **handle, const char *method, const char *path, const char *content_type,
                 const void *body, size_t len, long timeout_s, struct https_reply *rp);

/* The same with a streamed body (struct channel_stream): method "POST"
 * reads the body from s->read, and a 2xx answer's body goes to s->write
 * when it is given (rp->body then stays empty). For uploads and downloads
 * of files (live response's getfile, putfile, run). */
int channel_call_stream(struct channel *c, void **handle, const char *method, const char *path,
                        const char *content_type, const struct channel_stream *s, long timeout_s,
                        struct https_reply *rp);

/* Records the outcome of a request of one path (e: https_call's return)
 * for the link state; logs when the path's state changes. Returns the
 * path's new state. */
enum link_state channel_note(struct channel *c, enum channel_path path, int e, const struct https_reply *rp);

/* Asks every thread to stop: requests in flight are aborted, channel_sleep
 * returns at once. */
void channel_stop(struct channel *c);
bool channel_stopping(struct channel *c);

/* Sleeps up to ms; returns false when the channel is stopping. */
bool channel_sleep(struct channel *c, uint64_t ms);

void channel_publish_health(struct channel *c, const struct channel_health *h);

/* Pins the server's (and proxy's) name to addresses: newline-separated
 * "host:port:addr[,addr...]" lines (IPv6 addresses in brackets), used by
 * every later request instead of DNS; "" unpins (names are resolved
 * again once curl's cache entries age out). Isolation pins what it
 * allowed, since DNS is blocked then. Longer text is cut. */
void channel_pin(struct channel *c, const char *pins);
void channel_get_health(struct channel *c, struct channel_health *out);
void channel_get_status(struct channel *c, struct channel_status *out);

/* Updates the counters under the channel's lock. */
void channel_update(struct channel *c, void (*fn)(struct channel_status *st, void *ctx), void *ctx);

/* The server's message from an error body ({"error": {"message": "..."}}),
 * copied into out (the raw text, cut, when the body is not that). */
void channel_error_message(const char *body, size_t len, char *out, size_t outlen);

/* UTC now in ns. */
uint64_t channel_now_ns(void);

#endif
