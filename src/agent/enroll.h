/*
 * enroll.h — onboarding a machine (the agent's side of "Enrollment" in
 * docs/wire.md): `yamori-agent enroll PACKAGE` reads the onboarding
 * package an administrator downloaded from the server, checks it (the CA
 * against its fingerprint, the URLs, the token), enrolls with the server
 * over HTTPS pinned to that CA, and writes the agent's configuration:
 * <config_dir>/agent.conf, ca.pem and device.secret (0600). `yamori-agent
 * offboard` removes them again.
 */
#ifndef YAMORI_AGENT_ENROLL_H
#define YAMORI_AGENT_ENROLL_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/agentconf.h"

#define ENROLL_MAX_URLS 16
#define ENROLL_PACKAGE_MAX (256 * 1024)

/* An onboarding package, checked. */
struct onboarding_package {
    char server_urls[ENROLL_MAX_URLS][AGENTCONF_URL_MAX + 1];
    size_t nurls;
    char *ca_pem;                     /* malloc'd */
    char ca_fingerprint[80];          /* "SHA256:<64 hex>" */
    char token[AGENTCONF_SECRET_MAX + 1];
    char group[AGENTCONF_ID_MAX + 1]; /* "" when none */
};

/* Reads and checks the package at path: version 1; 1 to 16 https URLs;
 * ca_pem one PEM certificate whose SHA-256 is ca_fingerprint; a token of
 * 16 to 256 letters, digits, '-', '_', '.'; an optional group. Returns 0,
 * or -errno with what is wrong in err. Free with enroll_package_free. */
int enroll_read_package(const char *path, struct onboarding_package *p, char *err, size_t errlen);
void enroll_package_free(struct onboarding_package *p);

struct enroll_options {
    const char *package_path;
    const char *config_dir;       /* NULL: /etc/yamori */
    const char *machine_id_path;  /* NULL: /etc/machine-id */
    bool new_identity;            /* ask for a new device id instead of the machine's */
};

/* Enrolls: tries the package's URLs in order until a server answers,
 * checks the answer (device id, secret, interval, URL), writes the
 * configuration (keeping the tunables of an existing agent.conf) and
 * prints the device id on standard output. Returns 0, or -errno with the
 * reason in err (the server's own message when it refused). */
int enroll_run(const struct enroll_options *o, char *err, size_t errlen);

/* Removes agent.conf, device.secret and ca.pem from config_dir (NULL:
 * /etc/yamori). Returns 0 (also when nothing was there), or -errno. */
int enroll_offboard(const char *config_dir, char *err, size_t errlen);

/* Reads the machine id (32 hex digits, lower-cased) from path into out
 * (33 bytes). Returns 0 or -errno with err. */
int enroll_machine_id(const char *path, char out[33], char *err, size_t errlen);

#endif
