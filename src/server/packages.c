/*
 * packages.c — investigation packages (issue 5): the agent's upload of
 * the archive a `collect` command built, and its download by people.
 *
 * POST /api/v1/agent/commands/:id/file (device): accepted only for a
 * command of the calling device, of type collect, that is running (sent,
 * started, not cancelled) and has no package yet; the body (at most
 * max_package_bytes, 413 beyond: the route's body limit is that setting)
 * is written to <data_dir>/packages/<command id>.tar.gz through a
 * temporary file that is synced and renamed, so a package is there whole
 * or not at all; any refusal or failure leaves nothing. The answer names
 * its SHA-256 and size.
 *
 * GET /api/v1/actions/:id/package (responder): the package of the
 * action's command as application/gzip, audited ("action.package").
 *
 * Limitation: the HTTP layer collects a body in memory before a handler
 * runs and answers from memory, so an upload or a download holds the
 * package in memory while it is transferred (bounded by
 * max_package_bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/audit.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_actions.h"
#include "server/store_devices.h"

static bool id_param(struct http_request *rq, struct http_response *rs, int64_t *id)
{
    const char *s = http_param(rq, "id");
    size_t len = s ? strlen(s) : 0;
    int64_t n = 0;

    if (len == 0 || len > 15) {
        http_error(rs, 400, "id: must be a positive integer");
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            http_error(rs, 400, "id: must be a positive integer");
            return false;
        }
        n = n * 10 + (s[i] - '0');
    }
    if (n <= 0) {
        http_error(rs, 400, "id: must be a positive integer");
        return false;
    }
    *id = n;
    return true;
}

static void package_path(const struct server *srv, int64_t command_id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/packages/%" PRId64 ".tar.gz", srv->cfg.data_dir, command_id);
}

static void hex_of(const unsigned char *md, char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Writes data to path through path.tmp (synced, renamed). 0 or -errno;
 * nothing is left on failure. */
static int write_whole(const char *path, const uint8_t *data, size_t len)
{
    char tmp[1110];
    int fd, e = 0;
    size_t off = 0;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            e = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = -errno;
    if (close(fd) != 0 && !e)
        e = -errno;
    if (!e && rename(tmp, path) != 0)
        e = -errno;
    if (e)
        unlink(tmp);
    return e;
}

/* POST /api/v1/agent/commands/:id/file (body: the tar.gz) */
static void agent_upload(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *dev = http_principal(rq)->device_id;
    struct store_command cmd = {0};
    const uint8_t *body;
    size_t len = 0;
    unsigned char md[crypto_hash_sha256_BYTES];
    char path[1100], dir[1024], hex[65];
    struct stat st;
    int64_t id;
    int e;

    if (!id_param(rq, rs, &id))
        goto out;
    body = http_body(rq, &len);
    e = store_command_get(srv->store, dev, id, &cmd);
    if (e == -ENOENT) {
        http_error(rs, 404, "no command %lld for this device", (long long)id);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot read the command (store error)");
        goto out;
    }
    if (strcmp(cmd.type, "collect") != 0) {
        http_error(rs, 409, "command %lld is a %s command: only a collect command uploads a package", (long long)id,
                   cmd.type);
        goto out;
    }
    if (cmd.status != CMD_SENT || !cmd.progress_ms || cmd.cancel_ms) {
        http_error(rs, 409, "command %lld is not running (%s%s): no package is accepted for it", (long long)id,
                   store_command_status_name(cmd.status),
                   cmd.cancel_ms ? ", cancelled" : cmd.status == CMD_SENT ? ", not started" : "");
        goto out;
    }
    if (len == 0 || len > srv->cfg.max_package_bytes) {
        http_error(rs, len ? 413 : 400, len ? "a package is at most %zu bytes (max_package_bytes)" : "the package is empty",
                   srv->cfg.max_package_bytes);
        goto out;
    }
    if (len < 2 || body[0] != 0x1f || body[1] != 0x8b) {
        http_error(rs, 400, "the package must be a gzip file");
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s/packages", srv->cfg.data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_error("packages: cannot create %s: %s", dir, strerror(errno));
        http_error(rs, 500, "cannot store the package");
        goto out;
    }
    package_path(srv, id, path, sizeof(path));
    if (lstat(path, &st) == 0) {
        http_error(rs, 409, "command %lld already has a package", (long long)id);
        goto out;
    }
    crypto_hash_sha256(md, body, len);
    hex_of(md, hex);
    e = write_whole(path, body, len);
    if (e) {
        log_error("packages: cannot write %s: %s", path, strerror(-e));
        http_error(rs, 500, "cannot store the package");
        goto out;
    }
    log_info("packages: command %" PRId64 " of device %s uploaded %zu bytes (sha256 %s)", id, dev, len, hex);
    jsonw_object_begin(http_json(rs));
    jsonw_kv_int(http_json(rs), "id", id);
    jsonw_kv_str(http_json(rs), "package_sha256", hex);
    jsonw_kv_uint(http_json(rs), "package_bytes", len);
    jsonw_object_end(http_json(rs));
out:
    store_command_clear(&cmd);
}

/* GET /api/v1/actions/:id/package */
static void download(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_action a = {0};
    char path[1100], target[64], disp[128], detail[160];
    uint8_t *buf = NULL;
    size_t off = 0;
    struct stat st;
    int64_t id;
    int fd = -1, e;

    if (!id_param(rq, rs, &id))
        goto out;
    e = store_action_get(srv->store, id, &a);
    if (e == -ENOENT) {
        http_error(rs, 404, "no action %lld", (long long)id);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot read the action (store error)");
        goto out;
    }
    if (strcmp(a.type, "collect") != 0 || !a.command_id) {
        http_error(rs, 404, "action %lld has no investigation package", (long long)id);
        goto out;
    }
    package_path(srv, a.command_id, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        http_error(rs, 404, "action %lld has no investigation package (yet)", (long long)id);
        goto out;
    }
    buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf) {
        http_error(rs, 503, "out of memory");
        goto out;
    }
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            http_error(rs, 500, "cannot read the package");
            goto out;
        }
        off += (size_t)r;
    }
    /* the file name is built from the action id only: nothing of the
     * device's choosing reaches the header */
    snprintf(disp, sizeof(disp), "attachment; filename=\"yamori-action-%" PRId64 ".tar.gz\"", id);
    http_body_raw(rs, buf, off, "application/gzip");
    http_header_add(rs, "Content-Disposition", disp);
    snprintf(target, sizeof(target), "action:%" PRId64, id);
    snprintf(detail, sizeof(detail), "{\"device\":\"%s\",\"bytes\":%zu}", a.device_id, off);
    audit_record(srv, http_principal(rq), http_remote_ip(rq), "action.package", target, detail);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    store_action_clear(&a);
}

static struct route packages_routes[] = {
    {HTTP_POST, "/api/v1/agent/commands/:id/file", ACCESS_DEVICE, ROLE_NONE, 0, agent_upload,
     "the investigation package of a running collect command (application/gzip)"},
    {HTTP_GET, "/api/v1/actions/:id/package", ACCESS_USER, ROLE_RESPONDER, 0, download,
     "an action's investigation package (application/gzip)"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static int packages_init(struct server *srv, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* the body limit is a setting: the route takes it before serving starts */
    packages_routes[0].max_body = srv->cfg.max_package_bytes;
    return 0;
}

static const struct server_module packages_module = {
    .name = "packages",
    .order = 60,
    .init = packages_init,
    .routes = packages_routes,
};
SERVER_MODULE(packages_module);
