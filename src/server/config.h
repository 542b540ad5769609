/*
 * config.h — the server's configuration: a file of `key = value` lines
 * (comments with #), overridden by command-line flags. Every key, its
 * default and its meaning are documented in docs/configuration.md and
 * listed in config.c's table; an unknown key or a bad value is an error
 * with the file, line and column.
 */
#ifndef YAMORI_SERVER_CONFIG_H
#define YAMORI_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server_config {
    char listen[128];           /* "0.0.0.0:8443" or "[::]:8443" */
    char public_url[256];       /* what agents and people connect to; "" = https://<hostname>:<port> */
    char data_dir[512];         /* "/var/lib/yamori-server" */
    char user[64];              /* drop to this user after binding ("" = stay) */
    char store[512];            /* "sqlite:<data_dir>/yamori.db" when empty */
    char admin_password_file[512]; /* first admin's password, else $YAMORI_ADMIN_PASSWORD, else random */
    unsigned retention_days;    /* events older than this are pruned (30) */
    unsigned threads;           /* HTTP worker threads (4) */
    unsigned max_connections;   /* (4096) */
    size_t max_batch_bytes;     /* largest compressed event batch (8 MiB) */
    size_t max_batch_events;    /* most events in one batch (100000) */
    unsigned heartbeat_seconds; /* what agents are told (30) */
    unsigned enroll_hours;      /* default lifetime of onboarding tokens (24) */
    unsigned login_max_failures;   /* failed logins per user and address before a pause (5) */
    unsigned login_window_seconds; /* ... within this window (300) */
    unsigned session_hours;     /* browser sessions expire (12) */
    unsigned incident_window_hours; /* alerts sharing an entity within this join one incident (24) */
    char log_level[16];         /* debug, info, warning, error */
    /* detection (src/server/detection*.c) */
    char rules_dir[512];        /* the rule pack; "" = the source tree's rules/ or <prefix>/share/yamori/rules */
    char rule_dirs[2048];       /* more rule directories, comma-separated ("custom detection") */
    unsigned rules_poll_seconds; /* how often rule directories are checked for changes (5) */
    /* action center (src/server/actions*.c) */
    char approval_required[512]; /* action types that wait for approval, comma-separated ("") */
    uint64_t action_expiry_ms;   /* an action not fetched by its device by then expires (72 hours; set in hours) */
    size_t max_package_bytes;    /* largest investigation package an agent may upload (256 MiB) */
    /* live response (src/server/live*.c) */
    uint64_t live_idle_ms;       /* an idle session closes after this (30 minutes; set in minutes) */
    unsigned live_command_timeout_seconds;      /* a live command times out (600) */
    unsigned live_long_command_timeout_seconds; /* ... getfile, findfile, run and the bridged ones (1800) */
    size_t live_library_max_bytes; /* largest library file (64 MiB) */
    size_t live_max_output_bytes;  /* streamed output kept per live command (16 MiB) */
    size_t max_getfile_bytes;    /* largest file a live response getfile may upload (4 GiB) */
};

/* Fills the defaults. */
void config_defaults(struct server_config *cfg);

/* Reads a configuration file over cfg. Returns 0, or -errno with
 * "file:line:column: message" in err. */
int config_load(struct server_config *cfg, const char *path, char *err, size_t errlen);

/* Sets one key from text (the file and the --set KEY=VALUE flag use it). */
int config_set(struct server_config *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Derived values: the store URI, the listening port, the public URL. */
void config_store_uri(const struct server_config *cfg, char *out, size_t outlen);
void config_public_url(const struct server_config *cfg, char *out, size_t outlen);

/* Writes every key with its current value, one per line, as a valid file. */
void config_print(const struct server_config *cfg, void *file /* FILE* */);

#endif
