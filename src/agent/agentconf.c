/*
 * agentconf.c — reading and writing the enrolled agent's configuration
 * (see agentconf.h).
 */
#include "agent/agentconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_BYTES (64 * 1024)

void agentconf_defaults(struct agent_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->heartbeat_seconds = 30;
    c->spool_max_bytes = 1ull << 30;
    c->spool_max_age_seconds = 7 * 86400ull;
}

bool agentconf_valid_url(const char *s)
{
    const char *host, *end;
    size_t n = s ? strlen(s) : 0;

    if (n < 9 || n > AGENTCONF_URL_MAX || strncmp(s, "https://", 8) != 0)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("\"<>\\^`{|}#?@", *p))
            return false;
    host = s + 8;
    if (*host == '[') {
        end = strchr(host, ']');
        if (!end || end == host + 1)
            return false;
        end++;
    } else {
        end = host + strcspn(host, ":/");
        if (end == host)
            return false;
        for (const char *p = host; p < end; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
                return false;
    }
    if (*end == ':') {
        unsigned long port = 0;
        const char *p = end + 1;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (unsigned long)(*p++ - '0');
        if (port == 0 || port > 65535 || (*p && *p != '/'))
            return false;
    } else if (*end && *end != '/') {
        return false;
    }
    return true;
}

static bool valid_chars(const char *s, size_t min, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;

    if (n < min || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
            return false;
    return true;
}

bool agentconf_valid_device_id(const char *s)
{
    return valid_chars(s, 1, AGENTCONF_ID_MAX, "-_.");
}

bool agentconf_valid_secret(const char *s)
{
    return valid_chars(s, 16, AGENTCONF_SECRET_MAX, "-_.~+/=");
}

static bool valid_group(const char *s)
{
    return valid_chars(s, 0, AGENTCONF_ID_MAX, " -_.");
}

int agentconf_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Reads a whole small file (at most max bytes) into a NUL-terminated buffer. */
static int read_small(const char *path, size_t max, char **out, size_t *len, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *buf = NULL;
    size_t got = 0;
    int e = 0;

    *out = NULL;
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) != 0) {
        e = -errno;
        goto out;
    }
    if (!S_ISREG(st->st_mode)) {
        e = -EINVAL;
        goto out;
    }
    if ((uint64_t)st->st_size > max) {
        e = -EFBIG;
        goto out;
    }
    buf = malloc((size_t)st->st_size + 1);
    if (!buf) {
        e = -ENOMEM;
        goto out;
    }
    while (got < (size_t)st->st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st->st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? -errno : -EIO;
            goto out;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    if (memchr(buf, '\0', got)) {
        e = -EINVAL;
        goto out;
    }
    *out = buf;
    *len = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return e;
}

static char *trim(char *s)
{
    char *end;
    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

static int copy_checked(char *dst, size_t dstlen, const char *v)
{
    if (strlen(v) >= dstlen)
        return -EINVAL;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_key(struct agent_conf *c, const char *k, const char *v, const char **expected)
{
    uint64_t n;

    if (strcmp(k, "server_url") == 0) {
        *expected = "an https URL such as https://yamori.example:8443";
        return agentconf_valid_url(v) ? copy_checked(c->server_url, sizeof(c->server_url), v) : -EINVAL;
    }
    if (strcmp(k, "device_id") == 0) {
        *expected = "a device id (1 to 64 letters, digits, '-', '_' or '.')";
        return agentconf_valid_device_id(v) ? copy_checked(c->device_id, sizeof(c->device_id), v) : -EINVAL;
    }
    if (strcmp(k, "ca_file") == 0 || strcmp(k, "secret_file") == 0) {
        char *dst = k[0] == 'c' ? c->ca_file : c->secret_file;
        *expected = "an absolute path";
        if (v[0] != '/' || strlen(v) >= sizeof(c->ca_file))
            return -EINVAL;
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20)
                return -EINVAL;
        return copy_checked(dst, sizeof(c->ca_file), v);
    }
    if (strcmp(k, "heartbeat_seconds") == 0) {
        *expected = "a number of seconds from 5 to 3600";
        if (parse_uint(v, 5, 3600, &n))
            return -EINVAL;
        c->heartbeat_seconds = (unsigned)n;
        return 0;
    }
    if (strcmp(k, "group") == 0) {
        *expected = "a group name (at most 64 letters, digits, spaces, '-', '_' or '.')";
        return valid_group(v) ? copy_checked(c->group, sizeof(c->group), v) : -EINVAL;
    }
    if (strcmp(k, "proxy") == 0) {
        *expected = "empty, or a proxy URL such as http://proxy.example:3128";
        if (!v[0]) {
            c->proxy[0] = '\0';
            return 0;
        }
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0 && strncmp(v, "socks5://", 9) != 0 &&
            strncmp(v, "socks5h://", 10) != 0)
            return -EINVAL;
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                return -EINVAL;
        return copy_checked(c->proxy, sizeof(c->proxy), v);
    }
    if (strcmp(k, "spool_max_size") == 0) {
        *expected = "a size from 16M to 1T such as 1G or 512M";
        if (agentconf_parse_size(v, &n) || n < (16ull << 20) || n > (1ull << 40))
            return -EINVAL;
        c->spool_max_bytes = n;
        return 0;
    }
    if (strcmp(k, "spool_max_age_days") == 0) {
        *expected = "a number of days from 1 to 365";
        if (parse_uint(v, 1, 365, &n))
            return -EINVAL;
        c->spool_max_age_seconds = n * 86400;
        return 0;
    }
    *expected = NULL;
    return -ENOENT;
}

int agentconf_load(struct agent_conf *c, const char *path, char *err, size_t errlen)
{
    struct stat st;
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    unsigned lineno = 0;
    int e;

    agentconf_defaults(c);
    e = read_small(path, CONF_MAX_BYTES, &text, &len, &st);
    if (e) {
        if (e == -ENOENT)
            snprintf(err, errlen, "%s does not exist: this machine is not enrolled (yamori-agent enroll PACKAGE)",
                     path);
        else if (e == -EFBIG)
            snprintf(err, errlen, "%s is larger than 64 KiB", path);
        else if (e == -EINVAL)
            snprintf(err, errlen, "%s is not a text file", path);
        else
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(-e));
        return e;
    }
    for (char *p = text; (line = strtok_r(p, "\n", &save)); p = NULL) {
        char *eq, *k, *v;
        const char *expected = NULL;
        size_t vl;

        lineno++;
        line = trim(line);
        if (!*line || *line == '#')
            continue;
        eq = strchr(line, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%u: expected key = value", path, lineno);
            e = -EINVAL;
            goto out;
        }
        *eq = '\0';
        k = trim(line);
        v = trim(eq + 1);
        vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[vl - 1] = '\0';
            v++;
        }
        e = set_key(c, k, v, &expected);
        if (e == -ENOENT) {
            snprintf(err, errlen, "%s:%u: unknown key '%.64s'", path, lineno, k);
            e = -EINVAL;
            goto out;
        }
        if (e) {
            snprintf(err, errlen, "%s:%u: %s: expected %s", path, lineno, k, expected);
            goto out;
        }
    }
    if (!c->server_url[0] || !c->device_id[0] || !c->ca_file[0] || !c->secret_file[0]) {
        snprintf(err, errlen, "%s: %s is missing (enroll again: yamori-agent enroll PACKAGE)", path,
                 !c->server_url[0] ? "server_url" : !c->device_id[0] ? "device_id"
                                                  : !c->ca_file[0]   ? "ca_file"
                                                                     : "secret_file");
        e = -EINVAL;
        goto out;
    }
    e = 0;
out:
    free(text);
    return e;
}

int agentconf_write_file(const char *path, const void *data, size_t len, mode_t mode, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    const char *p = data;
    size_t off = 0;
    int fd, e = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        snprintf(err, errlen, "path too long: %s", path);
        return -ENAMETOOLONG;
    }
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return e;
    }
    if (fchmod(fd, mode) != 0)
        e = -errno;
    while (!e && off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            e = w < 0 ? -errno : -EIO;
        else
            off += (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = -errno;
    close(fd);
    if (!e && rename(tmp, path) != 0)
        e = -errno;
    if (e) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-e));
        unlink(tmp);
    }
    return e;
}

int agentconf_save(const struct agent_conf *c, const char *path, char *err, size_t errlen)
{
    char buf[8192];
    int n;

    n = snprintf(buf, sizeof(buf),
                 "# yamori-agent configuration, written by `yamori-agent enroll`.\n"
                 "# The identity lines are the enrolment's; the tunables below may be edited\n"
                 "# (docs/agent.md). The agent reads this file when it starts.\n"
                 "server_url = %s\n"
                 "device_id = %s\n"
                 "ca_file = %s\n"
                 "secret_file = %s\n"
                 "heartbeat_seconds = %u\n"
                 "group = %s\n"
                 "proxy = %s\n"
                 "spool_max_size = %" PRIu64 "M\n"
                 "spool_max_age_days = %" PRIu64 "\n",
                 c->server_url, c->device_id, c->ca_file, c->secret_file, c->heartbeat_seconds, c->group, c->proxy,
                 c->spool_max_bytes >> 20, c->spool_max_age_seconds / 86400);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        snprintf(err, errlen, "configuration too long");
        return -EINVAL;
    }
    return agentconf_write_file(path, buf, (size_t)n, 0644, err, errlen);
}

int agentconf_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int e = read_small(path, AGENTCONF_SECRET_MAX + 2, &text, &len, &st);

    if (e) {
        snprintf(err, errlen, "cannot read the device secret %s: %s", path,
                 e == -EFBIG ? "larger than a secret" : strerror(-e));
        return e;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        snprintf(err, errlen, "%s must belong to uid %u and be readable by nobody else (chmod 600 %s)", path,
                 (unsigned)geteuid(), path);
        e = -EPERM;
        goto out;
    }
    if (len && text[len - 1] == '\n')
        text[--len] = '\0';
    if (!agentconf_valid_secret(text) || len >= outlen) {
        snprintf(err, errlen, "%s does not hold a device secret (enroll again)", path);
        e = -EINVAL;
        goto out;
    }
    memcpy(out, text, len + 1);
out:
    if (text) {
        explicit_bzero(text, len);
        free(text);
    }
    return e;
}

int agentconf_read_ca(const char *path, char **pem, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    int e = read_small(path, AGENTCONF_CA_MAX, pem, len, &st);

    if (e) {
        snprintf(err, errlen, "cannot read the CA certificate %s: %s", path,
                 e == -EFBIG ? "larger than 64 KiB" : strerror(-e));
        return e;
    }
    if (!strstr(*pem, "-----BEGIN CERTIFICATE-----")) {
        snprintf(err, errlen, "%s does not hold a PEM certificate", path);
        free(*pem);
        *pem = NULL;
        return -EINVAL;
    }
    return 0;
}
