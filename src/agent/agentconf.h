/*
 * agentconf.h — the enrolled agent's configuration: <config_dir>/agent.conf
 * (server URL, device id, where the CA and the secret are, heartbeat
 * interval, spool quota), <config_dir>/ca.pem and <config_dir>/device.secret.
 *
 * agent.conf is `key = value` lines with # comments; `yamori-agent enroll`
 * writes it, a person may edit the tunables. Every value is checked when it
 * is read; an unknown key or a bad value is an error naming the file, the
 * line and what is expected. docs/agent.md lists the keys.
 */
#ifndef YAMORI_AGENT_AGENTCONF_H
#define YAMORI_AGENT_AGENTCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define AGENTCONF_DIR "/etc/yamori"
#define AGENTCONF_URL_MAX 512
#define AGENTCONF_ID_MAX 64
#define AGENTCONF_SECRET_MAX 256
#define AGENTCONF_CA_MAX (64 * 1024)

struct agent_conf {
    char server_url[AGENTCONF_URL_MAX + 1];  /* https://host[:port][/prefix] */
    char device_id[AGENTCONF_ID_MAX + 1];
    char ca_file[1024];                      /* absolute path */
    char secret_file[1024];                  /* absolute path */
    unsigned heartbeat_seconds;              /* 5 .. 3600 (30) */
    char group[AGENTCONF_ID_MAX + 1];        /* the device group named at enrolment ("" none) */
    char proxy[AGENTCONF_URL_MAX + 1];       /* an HTTP(S) proxy URL; "" none (the environment is ignored) */
    uint64_t spool_max_bytes;                /* quota by size (1 GiB) */
    uint64_t spool_max_age_seconds;          /* quota by age (7 days) */
};

/* Fills the defaults (identity fields empty). */
void agentconf_defaults(struct agent_conf *c);

/* Reads path into c (over the defaults). Returns 0, -ENOENT when the file
 * does not exist (not enrolled), or -errno with "path:line: why" in err. */
int agentconf_load(struct agent_conf *c, const char *path, char *err, size_t errlen);

/* Writes c to path atomically (0644). Returns 0 or -errno with err. */
int agentconf_save(const struct agent_conf *c, const char *path, char *err, size_t errlen);

/* Reads the device secret (one line) from path, which must be a regular
 * file of the agent's user, readable by nobody else. out holds
 * AGENTCONF_SECRET_MAX + 1 bytes. Returns 0 or -errno with err. */
int agentconf_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen);

/* Reads a PEM CA certificate file (at most 64 KiB, containing a
 * certificate). *pem is malloc'd, NUL-terminated; *len excludes the NUL.
 * Returns 0 or -errno with err. */
int agentconf_read_ca(const char *path, char **pem, size_t *len, char *err, size_t errlen);

/* Replaces path with data atomically (temporary file, fsync, rename),
 * with mode. Returns 0 or -errno with err. */
int agentconf_write_file(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errlen);

/* Forms: an https URL with a host and no user info, query or fragment; a
 * device id (1-64 letters, digits, '-', '_', '.'); a secret (16-256
 * letters, digits and "-_.~+/="). */
bool agentconf_valid_url(const char *s);
bool agentconf_valid_device_id(const char *s);
bool agentconf_valid_secret(const char *s);

/* Parses "512M", "1G", "1048576" (bytes). Returns 0 or -EINVAL. */
int agentconf_parse_size(const char *s, uint64_t *out);

#endif
