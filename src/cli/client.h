/*
 * client.h — what every `yamori` client subcommand shares: the saved login
 * (~/.config/yamori/config.json: server URL, pinned CA, API token), HTTPS
 * requests to the API with libcurl (JSON, or raw bodies from and to files),
 * error reporting, aligned tables and the progress bar of long commands.
 */
#ifndef YAMORI_CLI_CLIENT_H
#define YAMORI_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>

struct cli_config {
    char url[512];      /* "https://host:8443" */
    char ca_path[512];  /* the CA certificate to pin */
    char token[512];    /* API token ("" when not logged in) */
};

/* The config file: $YAMORI_CONFIG, else $XDG_CONFIG_HOME/yamori/config.json,
 * else ~/.config/yamori/config.json. */
void cli_config_path(char *out, size_t outlen);
/* Loads it; -ENOENT (with a sentence saying to run `yamori login`). */
int cli_config_load(struct cli_config *c, char *err, size_t errlen);
/* Saves it (0600, directory 0700), atomically. */
int cli_config_save(const struct cli_config *c, char *err, size_t errlen);

struct cli_response {
    long status;       /* HTTP status, 0 when the request did not complete */
    char *body;        /* NUL-terminated */
    size_t len;
    json_t *json;      /* the body parsed, when it is JSON */
};

/* Sends method path (relative to c->url) with an optional JSON body and the
 * token, verifying the server against c->ca_path. Returns 0 when an answer
 * came (whatever its status), -errno with a sentence in err otherwise. */
int cli_request(const struct cli_config *c, const char *method, const char *path, json_t *body,
                struct cli_response *out, char *err, size_t errlen);
void cli_response_free(struct cli_response *r);

/* A request with more say than cli_request(): a raw body sent from a file,
 * a successful answer's body written to a file, a flag that stops it. */
struct cli_transfer {
    const char *method;                /* "GET", "PUT", ... */
    const char *path;                  /* relative to c->url */
    json_t *json;                      /* a JSON body, or NULL */
    FILE *upload;                      /* or a raw body (application/octet-stream) read from here... */
    long long upload_size;             /* ...this many bytes */
    FILE *download;                    /* a 2xx answer's body goes here (out->body is then ""); others to out */
    const volatile sig_atomic_t *stop; /* when it becomes non-zero the request is abandoned (-EINTR) */
    long timeout_s;                    /* the whole request; 0 means 300 s */
};

/* Sends t as cli_request() does (token, pinned CA). Returns 0 when an
 * answer came (whatever its status), -EINTR when *t->stop ended it, -EIO
 * when the download file could not be written, another -errno with a
 * sentence in err otherwise. out is set in every case (free it). */
int cli_transfer(const struct cli_config *c, const struct cli_transfer *t, struct cli_response *out, char *err,
                 size_t errlen);

/* Prints "yamori: <what>: <the server's message> (HTTP <status>)" to stderr
 * and returns 1 (an exit status). */
int cli_fail(const struct cli_response *r, const char *what);

/* Percent-encodes s for a URL path segment or query value into out. */
void cli_url_escape(const char *s, char *out, size_t outlen);

/* Tables: columns aligned to their widest cell, a header line first. */
struct cli_table;
struct cli_table *cli_table_new(int ncols, const char *const *headers);
void cli_table_add(struct cli_table *t, const char *const *cells); /* ncols cells; NULL prints "-" */
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* The text of a JSON value for a table cell ("" for null/absent). */
const char *cli_json_text(json_t *v, char *buf, size_t buflen);

/* Draws a progress bar on the terminal's current line ("\r", no newline)
 * from an agent's progress report {"percent", "files", "findings",
 * "message"} (each optional); nothing when progress is not an object. */
void cli_progress_draw(json_t *progress);

#endif
