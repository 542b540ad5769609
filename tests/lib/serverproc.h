/*
 * serverproc.h — runs the real `yamori server` for a test and talks to it.
 *
 * serverproc_start() runs $YAMORI_SAN_BIN/yamori server with a temporary
 * data directory, 127.0.0.1 and a free port, user=nobody (when root), and
 * returns once it printed "yamori server ready on ...". Requests go over
 * HTTPS with libcurl, verified against the server's own CA. The first
 * admin's password is SERVERPROC_ADMIN_PASSWORD unless the options say
 * otherwise. Servers are stopped by pid (SIGTERM, then SIGKILL after 20 s);
 * serverproc_stop_all() suits check_set_teardown().
 *
 * Single-threaded use: one test thread drives its servers.
 */
#ifndef YAMORI_TESTS_SERVERPROC_H
#define YAMORI_TESTS_SERVERPROC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SERVERPROC_ADMIN_PASSWORD "serverproc-admin-password"

struct serverproc;

struct serverproc_options {
    const char *data_dir;        /* reuse this data directory (kept at stop); NULL: a new temporary one */
    const char *admin_password;  /* $YAMORI_ADMIN_PASSWORD; NULL: SERVERPROC_ADMIN_PASSWORD; "": not set */
    const char *const *sets;     /* more "key=value" for --set, NULL-terminated (may be NULL) */
    const char *listen_host;     /* listen on this IPv4 address (e.g. "0.0.0.0") instead of 127.0.0.1, same
                                  * port; requests still go to 127.0.0.1, which it must include. NULL: 127.0.0.1 */
};

/* The yamori binary of the build under test ($YAMORI_SAN_BIN/yamori, else
 * build/san/yamori). Returns a static buffer. */
const char *serverproc_binary(void);

/* Runs `yamori ARGS` (ARGS: printf-formatted, a shell word list of safe
 * words), its standard output and error into out (cut to outlen - 1
 * bytes, always terminated), standard input empty. Returns its exit
 * status, -1 when it could not run or did not exit normally. */
int serverproc_cli(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
 * read back), or 0. */
unsigned serverproc_free_port(void);

/* Starts a server (opt may be NULL) and waits up to 60 s until it serves.
 * NULL on failure, with the reason and the server's standard error in
 * err. */
struct serverproc *serverproc_start(const struct serverproc_options *opt, char *err, size_t errlen);

/* Stops s (SIGTERM to its pid, SIGKILL after 20 s), removes its temporary
 * data directory, frees it. Returns the exit status as from waitpid, or -1.
 * Accepts NULL. */
int serverproc_stop(struct serverproc *s);

/* Stops every server started and not stopped yet (for check_set_teardown). */
void serverproc_stop_all(void);

/* "https://127.0.0.1:PORT" */
const char *serverproc_url(const struct serverproc *s);
/* The data directory, and the CA certificate file in it. */
const char *serverproc_data_dir(const struct serverproc *s);
const char *serverproc_ca(const struct serverproc *s);
pid_t serverproc_pid(const struct serverproc *s);

/* What the server printed on standard output so far (NUL-terminated,
 * owned by s). */
const char *serverproc_stdout(struct serverproc *s);
/* Its standard error (the log) so far; the caller frees it. */
char *serverproc_stderr(const struct serverproc *s);
/* The end of its standard error on one line, for failure messages. Returns
 * a static buffer. */
const char *serverproc_diag(const struct serverproc *s);

/* ------------------------------------------------------------ HTTPS */

struct serverproc_response {
    long status;            /* 0 when no answer came */
    char *body;             /* NUL-terminated */
    size_t len;             /* of body (which may hold NUL bytes: a download) */
    json_t *json;           /* the body parsed, when it is JSON */
    char *headers;          /* the raw response headers */
};

/* Sends method path with an optional body (sent as application/json
 * unless the headers name another Content-Type) and the extra header lines
 * ("Name: value", NULL-terminated, may be NULL). Returns 0 when an answer
 * came, -1 otherwise (then out->body holds libcurl's reason). Free out
 * with serverproc_response_free. */
int serverproc_request(const struct serverproc *s, const char *method, const char *path, const char *body,
                       const char *const *headers, struct serverproc_response *out);
void serverproc_response_free(struct serverproc_response *r);

/* The value of response header name (case-insensitive) into buf, or NULL. */
const char *serverproc_header(const struct serverproc_response *r, const char *name, char *buf, size_t buflen);

/* The error message of an error answer, or "". */
const char *serverproc_message(const struct serverproc_response *r);

/* Signs in (POST /api/v1/auth/login); the session cookie's value and the
 * CSRF token into the buffers. Returns the HTTP status (200 on success). */
long serverproc_login(const struct serverproc *s, const char *user, const char *password, char *cookie,
                      size_t cookielen, char *csrf, size_t csrflen);

/* Creates an API token (POST /api/v1/tokens) with the session (cookie,
 * csrf) for user (NULL: the session's own) with role (NULL: the most it
 * may have); its text into out. Returns the HTTP status (201 on success). */
long serverproc_create_token(const struct serverproc *s, const char *cookie, const char *csrf, const char *user,
                             const char *role, char *out, size_t outlen);

/* An admin API token, signing in as admin with SERVERPROC_ADMIN_PASSWORD.
 * Returns 0 or -1. */
int serverproc_admin_token(const struct serverproc *s, char *out, size_t outlen);

#endif
