/*
 * http.h — the server's HTTPS front: routes, requests, responses.
 *
 * Built on libmicrohttpd (TLS through GnuTLS). Modules declare routes
 * (method, path pattern, who may call it, handler); the router matches a
 * request, collects its body within the route's size limit, authenticates
 * the caller, checks the route's access rule, and only then calls the
 * handler. A handler reads the request and fills the response; it never
 * sees a request its route does not allow.
 *
 * Long polls: a handler may defer its response (http_defer); the
 * connection is suspended, costs no thread, and resumes when the module
 * completes it (http_deferred_complete) or when the deadline passes.
 *
 * Streamed uploads: a route with an `upload` hook never holds its body in
 * memory. As soon as the headers are in, the caller is authenticated and
 * checked against the route's access rule, then the hook decides for this
 * request whether it takes a body at all, how large it may be and in which
 * directory it lands; only then is the body read, written as it arrives to
 * an unnamed temporary file there (O_TMPFILE; a named one where the file
 * system has none) with a running SHA-256 and byte count, and refused with
 * 413 as soon as it passes the limit. The handler gets the file
 * (http_upload) and names it (http_upload_keep) or lets it go: whatever
 * was not kept, on any error, refusal or client disconnect, is gone when
 * the request ends. Downloads answer from a file (http_body_file) without
 * reading it into memory.
 *
 * Every route lists its access rule, so the set of routes and rules can be
 * printed (`yamori server --list-routes`) and tested without typing it
 * twice.
 */
#ifndef YAMORI_SERVER_HTTP_H
#define YAMORI_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"

struct server;
struct http_request;
struct http_response;

enum http_method { HTTP_GET = 1, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE };

/* People's roles, ordered: a role may do everything the ones below it may. */
enum role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_ANALYST, ROLE_RESPONDER, ROLE_ADMIN };

/* Who may call a route. */
enum route_access {
    ACCESS_PUBLIC = 1, /* anyone: login, enrollment (the handler checks its token) */
    ACCESS_USER,       /* a signed-in person or API token with at least min_role */
    ACCESS_DEVICE,     /* an enrolled device with its secret */
};

/* Who is calling, as established by the authenticators. */
struct principal {
    enum { PRINCIPAL_NONE, PRINCIPAL_USER, PRINCIPAL_DEVICE } kind;
    /* users */
    int64_t user_id;
    char user_name[64];
    enum role role;
    bool via_session;     /* a browser session (CSRF token required on changes) */
    int64_t token_id;     /* API token or session id */
    /* devices */
    char device_id[40];
};

typedef void (*route_fn)(struct http_request *rq, struct http_response *rs);

/* Where one streamed upload goes, as its route's upload hook decides. */
struct http_upload_spec {
    char dir[1024];        /* an existing directory; the final name must be on its file system */
    uint64_t max_bytes;    /* a larger body is refused with 413 */
    const char *limit_name; /* the setting behind max_bytes, named in the 413 ("max_package_bytes"), or NULL */
};

/* A route's upload hook: called once per request, after authentication
 * and the access rule, before any byte of the body is read. Returns true
 * with spec filled to take the body, or false with the refusal written in
 * rs (http_error) — then nothing of the body is stored. */
typedef bool (*http_upload_fn)(struct http_request *rq, struct http_response *rs, struct http_upload_spec *spec);

struct route {
    enum http_method method;
    const char *pattern;   /* "/api/v1/devices/:id"; ":name" captures one segment */
    enum route_access access;
    enum role min_role;    /* ACCESS_USER only */
    size_t max_body;       /* 0: 64 KiB (not used by streamed uploads: their hook decides) */
    route_fn handler;
    const char *summary;   /* one line for docs and --list-routes */
    http_upload_fn upload; /* non-NULL: the body is streamed to a file (above), never held in memory */
};

/* Authenticators, set by the modules that own credentials. Each returns 1
 * when it recognised and accepted credentials (filling p), 0 when the
 * request carries none of its kind, or a negative HTTP status (-401,
 * -403, -429) with a message in rs when it recognised and refused them. */
typedef int (*http_authenticate_fn)(struct server *srv, struct http_request *rq, struct http_response *rs,
                                    struct principal *p);
void http_set_user_authenticator(struct server *srv, http_authenticate_fn fn);
void http_set_device_authenticator(struct server *srv, http_authenticate_fn fn);

/* ------------------------------------------------------------ requests */

enum http_method http_method(const struct http_request *rq);
const char *http_path(const struct http_request *rq);
/* A ":name" capture of the matched pattern, or NULL. */
const char *http_param(const struct http_request *rq, const char *name);
/* A query-string argument (decoded), or NULL. */
const char *http_query(const struct http_request *rq, const char *name);
/* A request header, or NULL. */
const char *http_header(const struct http_request *rq, const char *name);
/* A cookie, or NULL. */
const char *http_cookie(const struct http_request *rq, const char *name);
/* The request body (not NUL-terminated) and its length (none for a
 * streamed upload: see http_upload). */
const uint8_t *http_body(const struct http_request *rq, size_t *len);

/* The body of a streamed upload, whole, for its route's handler. */
struct http_upload {
    int fd;                /* the file, open read-write at offset 0; owned by the request */
    uint64_t bytes;        /* its size */
    char sha256[65];       /* its SHA-256, lower-case hex */
};

/* The upload of a route with an upload hook, or NULL for other routes. */
const struct http_upload *http_upload(const struct http_request *rq);

/* Gives the upload's file the name path (in the hook's directory): synced,
 * then linked, so the name is never there half-written, and kept when
 * the request ends. Returns 0; -EEXIST when path exists (nothing changed),
 * -EALREADY when it was kept already, -EINVAL for a request without an
 * upload, or -errno. */
int http_upload_keep(struct http_request *rq, const char *path);
/* The peer's address as text ("203.0.113.9", "::1"). */
const char *http_remote_ip(const struct http_request *rq);
const struct principal *http_principal(const struct http_request *rq);
struct server *http_server(const struct http_request *rq);

/* Parses the body as a JSON object (jansson). On failure answers 400 with
 * the parser's message and position and returns NULL. The caller owns the
 * result (json_decref). */
struct json_t *http_json_body(struct http_request *rq, struct http_response *rs);

/* ------------------------------------------------------------ responses */

/* The JSON writer of the response body (an object or array, as the
 * handler writes it). Status defaults to 200. */
struct jsonw *http_json(struct http_response *rs);
void http_status(struct http_response *rs, unsigned status);
/* Answers with {"error": {"code": status, "message": "..."}}. */
void http_error(struct http_response *rs, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A raw body (copied) with its content type, instead of JSON. */
void http_body_raw(struct http_response *rs, const void *data, size_t len, const char *content_type);
/* The first size bytes of the file fd as the body, read as they are sent
 * (never held in memory), instead of JSON. Takes fd: it is closed by the
 * response (also when the response is replaced or never sent). */
void http_body_file(struct http_response *rs, int fd, uint64_t size, const char *content_type);
/* Adds a response header (e.g. Set-Cookie); both strings are copied. */
void http_header_add(struct http_response *rs, const char *name, const char *value);

/* ------------------------------------------------------------ long polls */

/* Suspends the request until http_deferred_complete() or timeout_ms; on
 * timeout, on_timeout(rs, ctx) fills the response (e.g. an empty list).
 * Returns an id the module keeps (never 0), or 0 when the request could
 * not be deferred (then answer it at once). The callbacks run with the
 * deferral lock held: they must only write the response. */
uint64_t http_defer(struct http_request *rq, struct http_response *rs, unsigned timeout_ms,
                    void (*on_timeout)(struct http_response *rs, void *ctx), void *ctx);

/* Completes deferred request `id` from any thread: fill(rs, ctx) writes
 * the response. Returns false when the request already timed out, was
 * completed, or its client went away (the module should keep whatever it
 * meant to send). Safe to call with any id, however old. */
bool http_deferred_complete(uint64_t id, void (*fill)(struct http_response *rs, void *ctx), void *ctx);

/* ------------------------------------------------------------ the server side */

struct http_options {
    int listen_fd;         /* bound and listening, inherited from the privileged set-up */
    const char *cert_pem;  /* server certificate chain (PEM text) */
    const char *key_pem;   /* its private key (PEM text) */
    unsigned threads;      /* worker threads (0: 4) */
    unsigned max_connections;
};

struct http;

/* Starts serving the routes of every registered module. */
int http_start(struct server *srv, const struct http_options *opt, struct http **out, char *err, size_t errlen);
void http_stop(struct http *h);

/* Calls fn for every route of every module, in registration order. */
void http_for_each_route(void (*fn)(const struct route *r, const char *module, void *ctx), void *ctx);

const char *http_method_name(enum http_method m);
const char *role_name(enum role r);
/* ROLE_NONE when the text is not a role name. */
enum role role_from_name(const char *name);

#endif
