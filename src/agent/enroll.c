/*
 * enroll.c — enrolment and offboarding (see enroll.h).
 *
 * Everything from the package and from the server's answer is checked
 * before it is used or written: lengths, forms, the CA against its
 * fingerprint (OpenSSL computes the SHA-256 of the certificate), and the
 * configuration is written only when every piece is good, agent.conf last
 * (its presence is what makes the agent run with the server).
 */
#include "agent/enroll.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/channel.h"
#include "agent/heartbeat.h"
#include "common/jsonw.h"

static bool valid_token(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 16 || n > AGENTCONF_SECRET_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
            return false;
    return true;
}

static bool valid_group(const char *s)
{
    size_t n = strlen(s);
    if (n > AGENTCONF_ID_MAX || (n && (s[0] == ' ' || s[n - 1] == ' ')))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(" ._-", *p))
            return false;
    return true;
}

/* "SHA256:" and 64 hex digits (lower-cased into out), or false. */
static bool parse_fingerprint(const char *s, char *out, size_t outlen)
{
    if (!s || strlen(s) != 71 || strncmp(s, "SHA256:", 7) != 0 || outlen < 72)
        return false;
    memcpy(out, "SHA256:", 7);
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[7 + i]))
            return false;
        out[7 + i] = (char)tolower((unsigned char)s[7 + i]);
    }
    out[71] = '\0';
    return true;
}

/* Checks that pem starts with a CA certificate whose SHA-256 is fp. */
static int check_ca(const char *pem, const char *fp, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 8];
    int e = 0;

    if (!x) {
        snprintf(err, errlen, "ca_pem: not a PEM certificate");
        e = -EINVAL;
        goto out;
    }
    if (X509_check_ca(x) < 1) {
        snprintf(err, errlen, "ca_pem: the certificate is not a certificate authority");
        e = -EINVAL;
        goto out;
    }
    if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32) {
        snprintf(err, errlen, "ca_pem: cannot compute the certificate's fingerprint");
        e = -EIO;
        goto out;
    }
    memcpy(hex, "SHA256:", 7);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
    if (strcmp(hex, fp) != 0) {
        snprintf(err, errlen, "ca_pem does not match ca_fingerprint (the certificate is %s): the package is damaged "
                              "or was altered",
                 hex);
        e = -EBADMSG;
    }
out:
    X509_free(x);
    BIO_free(bio);
    return e;
}

void enroll_package_free(struct onboarding_package *p)
{
    if (!p)
        return;
    free(p->ca_pem);
    explicit_bzero(p->token, sizeof(p->token));
    memset(p, 0, sizeof(*p));
}

int enroll_read_package(const char *path, struct onboarding_package *p, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL, *v, *item;
    struct stat st;
    size_t i;
    char why[400];
    int fd, e = 0;

    memset(p, 0, sizeof(*p));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot read the onboarding package %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > ENROLL_PACKAGE_MAX) {
        close(fd);
        snprintf(err, errlen, "%s is not an onboarding package (a JSON file of at most 256 KiB)", path);
        return -EINVAL;
    }
    root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    close(fd);
    if (!root || !json_is_object(root)) {
        snprintf(err, errlen, "%s: not a JSON object%s%s (line %d, column %d)", path, root ? "" : ": ",
                 root ? "" : jerr.text, jerr.line, jerr.column);
        e = -EINVAL;
        goto out;
    }
#define BAD(...)                                                                                                   \
    do {                                                                                                           \
        snprintf(why, sizeof(why), __VA_ARGS__);                                                                   \
        snprintf(err, errlen, "%s: %s", path, why);                                                                \
        e = -EINVAL;                                                                                               \
        goto out;                                                                                                  \
    } while (0)
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        BAD("version: this agent reads onboarding packages of version 1");
    v = json_object_get(root, "server_urls");
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > ENROLL_MAX_URLS)
        BAD("server_urls: expected a list of 1 to %d https URLs", ENROLL_MAX_URLS);
    json_array_foreach(v, i, item) {
        if (!json_is_string(item) || !agentconf_valid_url(json_string_value(item)))
            BAD("server_urls[%zu]: expected an https URL such as https://yamori.example:8443", i);
        snprintf(p->server_urls[i], sizeof(p->server_urls[i]), "%s", json_string_value(item));
        p->nurls++;
    }
    v = json_object_get(root, "ca_pem");
    if (!json_is_string(v) || json_string_length(v) > AGENTCONF_CA_MAX || json_string_length(v) < 64 ||
        strlen(json_string_value(v)) != json_string_length(v) ||
        !strstr(json_string_value(v), "-----BEGIN CERTIFICATE-----"))
        BAD("ca_pem: expected the server's CA certificate in PEM (at most 64 KiB)");
    v = json_object_get(root, "ca_fingerprint");
    if (!json_is_string(v) || !parse_fingerprint(json_string_value(v), p->ca_fingerprint, sizeof(p->ca_fingerprint)))
        BAD("ca_fingerprint: expected \"SHA256:\" and 64 hex digits");
    v = json_object_get(root, "token");
    if (!json_is_string(v) || !valid_token(json_string_value(v)))
        BAD("token: expected 16 to 256 letters, digits, '-', '_' or '.'");
    snprintf(p->token, sizeof(p->token), "%s", json_string_value(v));
    v = json_object_get(root, "group");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !valid_group(json_string_value(v)))
            BAD("group: expected at most 64 letters, digits, spaces, '.', '_' or '-'");
        snprintf(p->group, sizeof(p->group), "%s", json_string_value(v));
    }
#undef BAD
    e = check_ca(json_string_value(json_object_get(root, "ca_pem")), p->ca_fingerprint, why, sizeof(why));
    if (e) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto out;
    }
    p->ca_pem = strdup(json_string_value(json_object_get(root, "ca_pem")));
    if (!p->ca_pem) {
        snprintf(err, errlen, "out of memory");
        e = -ENOMEM;
    }
out:
    json_decref(root);
    if (e)
        enroll_package_free(p);
    return e;
}

int enroll_machine_id(const char *path, char out[33], char *err, size_t errlen)
{
    char buf[80];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "cannot read the machine id %s: %s", path, strerror(errno));
        return -errno;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read the machine id %s: %s", path, strerror(errno));
        return -EIO;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    if (n != 32) {
        snprintf(err, errlen, "%s does not hold a machine id (32 hex digits); see machine-id(5)", path);
        return -EINVAL;
    }
    for (int i = 0; i < 32; i++) {
        if (!isxdigit((unsigned char)buf[i])) {
            snprintf(err, errlen, "%s does not hold a machine id (32 hex digits); see machine-id(5)", path);
            return -EINVAL;
        }
        out[i] = (char)tolower((unsigned char)buf[i]);
    }
    out[32] = '\0';
    return 0;
}

/* The enrolment request's body. */
static int enroll_body(struct jsonw *w, const struct onboarding_package *p, const char *machine_id, bool new_identity)
{
    struct host_info h;

    heartbeat_host_info(&h);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "token", p->token);
    jsonw_kv_str(w, "machine_id", machine_id);
    jsonw_kv_str(w, "hostname", h.hostname);
    jsonw_kv_str(w, "os", h.os);
    jsonw_kv_str(w, "kernel", h.kernel);
    jsonw_kv_str(w, "agent_version", YAMORI_VERSION);
    jsonw_kv_bool(w, "new_identity", new_identity);
    jsonw_object_end(w);
    return jsonw_failed(w) ? -ENOMEM : 0;
}

/* Checks the server's answer and fills the identity of c. */
static int read_answer(const struct https_reply *rp, const char *url_used, struct agent_conf *c, char *secret,
                       size_t secret_len, char *err, size_t errlen)
{
    json_t *root = rp->body ? json_loadb(rp->body, rp->len, 0, NULL) : NULL;
    json_t *id = json_object_get(root, "device_id"), *sec = json_object_get(root, "secret");
    json_t *hb = json_object_get(root, "heartbeat_seconds"), *url = json_object_get(root, "server_url");
    int e = -EBADMSG;

    if (!json_is_object(root)) {
        snprintf(err, errlen, "the server's answer is not a JSON object");
        goto out;
    }
    if (!json_is_string(id) || !agentconf_valid_device_id(json_string_value(id))) {
        snprintf(err, errlen, "the server's answer has no valid device_id");
        goto out;
    }
    if (!json_is_string(sec) || !agentconf_valid_secret(json_string_value(sec)) ||
        strlen(json_string_value(sec)) >= secret_len) {
        snprintf(err, errlen, "the server's answer has no valid secret");
        goto out;
    }
    if (hb && !json_is_null(hb) &&
        (!json_is_integer(hb) || json_integer_value(hb) < 5 || json_integer_value(hb) > 3600)) {
        snprintf(err, errlen, "the server's answer has an invalid heartbeat_seconds (5 to 3600)");
        goto out;
    }
    if (url && !json_is_null(url) && (!json_is_string(url) || !agentconf_valid_url(json_string_value(url)))) {
        snprintf(err, errlen, "the server's answer has an invalid server_url");
        goto out;
    }
    snprintf(c->device_id, sizeof(c->device_id), "%s", json_string_value(id));
    snprintf(secret, secret_len, "%s", json_string_value(sec));
    c->heartbeat_seconds = json_is_integer(hb) ? (unsigned)json_integer_value(hb) : 30;
    snprintf(c->server_url, sizeof(c->server_url), "%s", json_is_string(url) ? json_string_value(url) : url_used);
    e = 0;
out:
    json_decref(root);
    return e;
}

int enroll_run(const struct enroll_options *o, char *err, size_t errlen)
{
    const char *dir = o->config_dir ? o->config_dir : AGENTCONF_DIR;
    struct onboarding_package p;
    struct agent_conf c, old;
    struct https_reply rp = {0};
    struct jsonw w;
    char machine_id[33], secret[AGENTCONF_SECRET_MAX + 2], path[1100], url[AGENTCONF_URL_MAX + 64], why[600] = "";
    void *curl = NULL;
    size_t used = 0;
    int e;

    jsonw_init(&w);
    secret[0] = '\0';
    e = enroll_read_package(o->package_path, &p, err, errlen);
    if (e) {
        jsonw_free(&w);
        return e;
    }
    e = enroll_machine_id(o->machine_id_path ? o->machine_id_path : "/etc/machine-id", machine_id, err, errlen);
    if (e)
        goto out;
    if (strlen(dir) > 900) {
        snprintf(err, errlen, "the configuration directory's path is too long");
        e = -ENAMETOOLONG;
        goto out;
    }
    e = enroll_body(&w, &p, machine_id, o->new_identity);
    if (e) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    e = -EHOSTUNREACH;
    for (used = 0; used < p.nurls; used++) {
        size_t n = strlen(p.server_urls[used]);
        struct https_request rq = {
            .url = url,
            .method = "POST",
            .content_type = "application/json",
            .body = w.buf,
            .body_len = w.len,
            .ca_pem = p.ca_pem,
            .ca_len = strlen(p.ca_pem),
            .timeout_s = 60,
        };
        while (n && p.server_urls[used][n - 1] == '/')
            n--;
        snprintf(url, sizeof(url), "%.*s/api/v1/agent/enroll", (int)n, p.server_urls[used]);
        https_reply_free(&rp);
        e = https_call(&curl, &rq, &rp);
        if (e == 0)
            break;
        snprintf(why, sizeof(why), "%s: %s", p.server_urls[used], rp.error);
        fprintf(stderr, "yamori-agent: cannot reach %s\n", why);
    }
    if (e) {
        snprintf(err, errlen, "no server of the package could be reached (last: %s)", why);
        goto out;
    }
    if (rp.status < 200 || rp.status >= 300) {
        snprintf(err, errlen, "the server refused the enrolment (%ld): %s", rp.status, rp.error);
        e = rp.status == 401 || rp.status == 403 ? -EACCES : -EPROTO;
        goto out;
    }
    agentconf_defaults(&c);
    snprintf(path, sizeof(path), "%s/agent.conf", dir);
    if (agentconf_load(&old, path, why, sizeof(why)) == 0) {
        /* keep what a person tuned */
        snprintf(c.proxy, sizeof(c.proxy), "%s", old.proxy);
        c.spool_max_bytes = old.spool_max_bytes;
        c.spool_max_age_seconds = old.spool_max_age_seconds;
    }
    e = read_answer(&rp, p.server_urls[used], &c, secret, sizeof(secret), err, errlen);
    if (e)
        goto out;
    snprintf(c.group, sizeof(c.group), "%s", p.group);
    snprintf(c.ca_file, sizeof(c.ca_file), "%s/ca.pem", dir);
    snprintf(c.secret_file, sizeof(c.secret_file), "%s/device.secret", dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        e = -errno;
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    e = agentconf_write_file(c.ca_file, p.ca_pem, strlen(p.ca_pem), 0644, err, errlen);
    if (!e) {
        size_t n = strlen(secret);
        secret[n] = '\n';
        e = agentconf_write_file(c.secret_file, secret, n + 1, 0600, err, errlen);
    }
    if (!e)
        e = agentconf_save(&c, path, err, errlen);
    if (e)
        goto out;
    printf("enrolled as device %s with %s\n", c.device_id, c.server_url);
    printf("configuration written to %s; start the agent with: systemctl enable --now yamori-agent\n", path);
out:
    explicit_bzero(secret, sizeof(secret));
    if (w.buf)
        explicit_bzero(w.buf, w.len);
    if (rp.body)
        explicit_bzero(rp.body, rp.len);
    https_reply_free(&rp);
    https_handle_free(curl);
    jsonw_free(&w);
    enroll_package_free(&p);
    return e;
}

int enroll_offboard(const char *config_dir, char *err, size_t errlen)
{
    static const char *const files[] = {"agent.conf", "device.secret", "ca.pem"};
    const char *dir = config_dir ? config_dir : AGENTCONF_DIR;
    char path[1100];
    int removed = 0;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (unlink(path) == 0) {
            removed++;
        } else if (errno != ENOENT) {
            snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
            return -errno;
        }
    }
    if (removed)
        printf("this machine's enrolment was removed from %s; stop the agent (systemctl disable --now yamori-agent)\n",
               dir);
    else
        printf("this machine was not enrolled (nothing in %s)\n", dir);
    return 0;
}
