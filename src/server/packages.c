/*
 * packages.c — files agents upload for their running commands (issue 5,
 * docs/wire.md "collect", docs/live.md "getfile"), and the download of
 * investigation packages by people.
 *
 * POST /api/v1/agent/commands/:id/file (device) is a streamed upload
 * (http.h): before a byte of the body is read, the command must be one of
 * the calling device's, running (sent, started, not cancelled), without a
 * file yet, and of a kind that uploads one:
 *   - `collect`: the investigation package (a gzip file), at most
 *     max_package_bytes, kept as <data_dir>/packages/<id>.tar.gz;
 *   - `live` whose args.command is "getfile": any content, sent as
 *     application/octet-stream, at most max_getfile_bytes, kept as
 *     <data_dir>/files/<id>.
 * The body goes to a temporary file in that directory as it arrives (413
 * as soon as it passes the limit); once whole and checked it gets its
 * name in one step, so a file is there whole or not at all, and a refused
 * or broken upload leaves nothing. Its SHA-256 and size are recorded next
 * to it (<name>.sha256, written first) for packages_file_info(). The
 * answer names the SHA-256 and size.
 *
 * GET /api/v1/actions/:id/package (responder): the package of the
 * action's command as application/gzip, sent from the file, audited
 * ("action.package").
 */
#include "server/packages.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
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

/* Names are checked and taken under this lock, so two uploads for one
 * command never both get it (and the record of one never describes the
 * other's file). */
static pthread_mutex_t name_lock = PTHREAD_MUTEX_INITIALIZER;

enum upload_kind { KIND_NONE, KIND_PACKAGE, KIND_GETFILE };

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

/* The directory and file name of command_id's upload of kind. */
static int kind_paths(const struct server *srv, enum upload_kind kind, int64_t command_id, char *dir, size_t dirlen,
                      char *path, size_t pathlen)
{
    const char *sub = kind == KIND_PACKAGE ? "packages" : "files";
    int n = snprintf(dir, dirlen, "%s/%s", srv->cfg.data_dir, sub);

    if (n < 0 || (size_t)n >= dirlen)
        return -ENAMETOOLONG;
    n = kind == KIND_PACKAGE ? snprintf(path, pathlen, "%s/%" PRId64 ".tar.gz", dir, command_id)
                             : snprintf(path, pathlen, "%s/%" PRId64, dir, command_id);
    return n < 0 || (size_t)n >= pathlen ? -ENAMETOOLONG : 0;
}

/* What cmd uploads: a package (collect), a file (live getfile), or
 * nothing (the reason in rs). */
static enum upload_kind kind_of(const struct store_command *cmd, struct http_response *rs)
{
    enum upload_kind kind = KIND_NONE;

    if (strcmp(cmd->type, "collect") == 0) {
        kind = KIND_PACKAGE;
    } else if (strcmp(cmd->type, "live") == 0) {
        json_t *args = json_loads(cmd->args_json ? cmd->args_json : "{}", 0, NULL);
        const char *what = json_string_value(json_object_get(args, "command"));
        if (what && strcmp(what, "getfile") == 0)
            kind = KIND_GETFILE;
        else
            http_error(rs, 409, "command %lld is a live %.32s command: only getfile uploads a file",
                       (long long)cmd->id, what ? what : "(malformed)");
        json_decref(args);
        return kind;
    }
    if (kind == KIND_NONE)
        http_error(rs, 409,
                   "command %lld is a %s command: only a collect command (its package) or a live getfile command "
                   "uploads a file",
                   (long long)cmd->id, cmd->type);
    return kind;
}

/* Loads command id of the calling device and checks that it may upload
 * now: its kind, or KIND_NONE with the refusal in rs. */
static enum upload_kind uploading_command(struct http_request *rq, struct http_response *rs, int64_t id,
                                          struct store_command *cmd)
{
    struct server *srv = http_server(rq);
    enum upload_kind kind;
    int e = store_command_get(srv->store, http_principal(rq)->device_id, id, cmd);

    if (e == -ENOENT) {
        http_error(rs, 404, "no command %lld for this device", (long long)id);
        return KIND_NONE;
    }
    if (e) {
        http_error(rs, 500, "cannot read the command (store error)");
        return KIND_NONE;
    }
    kind = kind_of(cmd, rs);
    if (kind == KIND_NONE)
        return KIND_NONE;
    if (cmd->status != CMD_SENT || !cmd->progress_ms || cmd->cancel_ms) {
        http_error(rs, 409, "command %lld is not running (%s%s): no file is accepted for it", (long long)id,
                   store_command_status_name(cmd->status),
                   cmd->cancel_ms ? ", cancelled" : cmd->status == CMD_SENT ? ", not started" : "");
        return KIND_NONE;
    }
    return kind;
}

/* The media type of the request without its parameters, lower-cased. */
static void content_type_of(struct http_request *rq, char *out, size_t outlen)
{
    const char *ct = http_header(rq, "Content-Type");
    size_t n = ct ? strcspn(ct, "; \t") : 0;

    if (n >= outlen)
        n = outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((ct[i] >= 'A' && ct[i] <= 'Z') ? ct[i] + 32 : ct[i]);
    out[n] = '\0';
}

/* The upload hook of POST /api/v1/agent/commands/:id/file: runs before
 * any byte of the body is read. */
static bool upload_begin(struct http_request *rq, struct http_response *rs, struct http_upload_spec *spec)
{
    struct server *srv = http_server(rq);
    struct store_command cmd = {0};
    enum upload_kind kind;
    char path[1100], ctype[128];
    struct stat st;
    int64_t id;
    bool ok = false;

    if (!id_param(rq, rs, &id))
        goto out;
    kind = uploading_command(rq, rs, id, &cmd);
    if (kind == KIND_NONE)
        goto out;
    content_type_of(rq, ctype, sizeof(ctype));
    if (kind == KIND_GETFILE && strcmp(ctype, "application/octet-stream") != 0) {
        http_error(rs, 415, "a getfile upload is sent as application/octet-stream, not %.64s",
                   ctype[0] ? ctype : "(no Content-Type)");
        goto out;
    }
    if (kind_paths(srv, kind, id, spec->dir, sizeof(spec->dir), path, sizeof(path)) != 0) {
        http_error(rs, 500, "the server's data directory path is too long");
        goto out;
    }
    if (mkdir(spec->dir, 0700) != 0 && errno != EEXIST) {
        log_error("packages: cannot create %s: %s", spec->dir, strerror(errno));
        http_error(rs, 500, "cannot store the file");
        goto out;
    }
    if (lstat(path, &st) == 0) {
        http_error(rs, 409, "command %lld already has its %s", (long long)id, kind == KIND_PACKAGE ? "package" : "file");
        goto out;
    }
    spec->max_bytes = kind == KIND_PACKAGE ? srv->cfg.max_package_bytes : srv->cfg.max_getfile_bytes;
    spec->limit_name = kind == KIND_PACKAGE ? "max_package_bytes" : "max_getfile_bytes";
    ok = true;
out:
    store_command_clear(&cmd);
    return ok;
}

/* Writes "<sha256> <bytes>\n" to <path>.sha256 through a synced
 * temporary file. 0 or -errno; nothing is left on failure. */
static int write_record(const char *path, const char *sha256, uint64_t bytes)
{
    char rec[1120], tmp[1130], text[96];
    int fd, n, e = 0;

    snprintf(rec, sizeof(rec), "%s.sha256", path);
    snprintf(tmp, sizeof(tmp), "%s.tmp", rec);
    n = snprintf(text, sizeof(text), "%s %" PRIu64 "\n", sha256, bytes);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    if (write(fd, text, (size_t)n) != n)
        e = -EIO;
    if (!e && fsync(fd) != 0)
        e = -errno;
    if (close(fd) != 0 && !e)
        e = -errno;
    if (!e && rename(tmp, rec) != 0)
        e = -errno;
    if (e)
        unlink(tmp);
    return e;
}

/* POST /api/v1/agent/commands/:id/file: the body is whole and its file
 * in the temporary place; checks it once more and names it. */
static void agent_upload(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct http_upload *up = http_upload(rq);
    const char *dev = http_principal(rq)->device_id;
    struct store_command cmd = {0};
    enum upload_kind kind;
    unsigned char magic[2];
    char dir[1024], path[1100];
    struct stat st;
    int64_t id;
    int e;

    if (!up || !id_param(rq, rs, &id))
        goto out;
    /* it may have been cancelled while the body arrived */
    kind = uploading_command(rq, rs, id, &cmd);
    if (kind == KIND_NONE)
        goto out;
    if (kind == KIND_PACKAGE &&
        (up->bytes < 2 || pread(up->fd, magic, 2, 0) != 2 || magic[0] != 0x1f || magic[1] != 0x8b)) {
        http_error(rs, 400, up->bytes ? "the package must be a gzip file" : "the package is empty");
        goto out;
    }
    if (kind_paths(srv, kind, id, dir, sizeof(dir), path, sizeof(path)) != 0) {
        http_error(rs, 500, "the server's data directory path is too long");
        goto out;
    }
    pthread_mutex_lock(&name_lock);
    if (lstat(path, &st) == 0) {
        e = -EEXIST;
    } else {
        e = write_record(path, up->sha256, up->bytes);
        if (!e && (e = http_upload_keep(rq, path)) != 0) {
            char rec[1120];
            snprintf(rec, sizeof(rec), "%s.sha256", path);
            unlink(rec);
        }
    }
    pthread_mutex_unlock(&name_lock);
    if (e == -EEXIST) {
        http_error(rs, 409, "command %lld already has its %s", (long long)id, kind == KIND_PACKAGE ? "package" : "file");
        goto out;
    }
    if (e) {
        log_error("packages: cannot store %s: %s", path, strerror(-e));
        http_error(rs, 500, "cannot store the file");
        goto out;
    }
    log_info("packages: command %" PRId64 " of device %s uploaded %s of %" PRIu64 " bytes (sha256 %s)", id, dev,
             kind == KIND_PACKAGE ? "its package" : "a file", up->bytes, up->sha256);
    jsonw_object_begin(http_json(rs));
    jsonw_kv_int(http_json(rs), "id", id);
    jsonw_kv_str(http_json(rs), "sha256", up->sha256);
    jsonw_kv_uint(http_json(rs), "bytes", up->bytes);
    if (kind == KIND_PACKAGE) {
        jsonw_kv_str(http_json(rs), "package_sha256", up->sha256);
        jsonw_kv_uint(http_json(rs), "package_bytes", up->bytes);
    }
    jsonw_object_end(http_json(rs));
out:
    store_command_clear(&cmd);
}

/* The SHA-256 of the open file fd (from its start) as hex. */
static int hash_fd(int fd, char hex[65], uint64_t *bytes)
{
    crypto_hash_sha256_state h;
    unsigned char md[crypto_hash_sha256_BYTES], buf[65536];
    uint64_t total = 0;
    off_t off = 0;

    crypto_hash_sha256_init(&h);
    for (;;) {
        ssize_t r = pread(fd, buf, sizeof(buf), off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        crypto_hash_sha256_update(&h, buf, (unsigned long long)r);
        off += r;
        total += (uint64_t)r;
    }
    crypto_hash_sha256_final(&h, md);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    *bytes = total;
    return 0;
}

int packages_file_info(struct server *srv, int64_t command_id, char *path, size_t pathlen, char sha256_hex[65],
                       uint64_t *bytes)
{
    static const enum upload_kind kinds[] = {KIND_GETFILE, KIND_PACKAGE};
    char dir[1024], p[1100], rec[1120], text[128];
    struct stat st;
    int fd = -1, e = -ENOENT;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && fd < 0; i++) {
        if (kind_paths(srv, kinds[i], command_id, dir, sizeof(dir), p, sizeof(p)) != 0)
            return -ENAMETOOLONG;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return -ENOENT;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    if (strlen(p) >= pathlen) {
        e = -ENAMETOOLONG;
        goto out;
    }
    snprintf(path, pathlen, "%s", p);
    /* the record written with it; should it be missing or not match the
     * file (never in normal operation), the file is hashed again */
    snprintf(rec, sizeof(rec), "%s.sha256", p);
    {
        FILE *f = fopen(rec, "re");
        char hex[65];
        uint64_t n = 0;
        bool ok = f && fgets(text, sizeof(text), f) && sscanf(text, "%64[0-9a-f] %" SCNu64, hex, &n) == 2 &&
                  strlen(hex) == 64 && n == (uint64_t)st.st_size;
        if (f)
            fclose(f);
        if (ok) {
            memcpy(sha256_hex, hex, 65);
            *bytes = n;
            e = 0;
            goto out;
        }
    }
    e = hash_fd(fd, sha256_hex, bytes);
out:
    close(fd);
    return e;
}

/* GET /api/v1/actions/:id/package */
static void download(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_action a = {0};
    char dir[1024], path[1100], target[64], disp[128], detail[160];
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
    if (kind_paths(srv, KIND_PACKAGE, a.command_id, dir, sizeof(dir), path, sizeof(path)) != 0) {
        http_error(rs, 500, "the server's data directory path is too long");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        http_error(rs, 404, "action %lld has no investigation package (yet)", (long long)id);
        goto out;
    }
    /* the file name is built from the action id only: nothing of the
     * device's choosing reaches the header */
    snprintf(disp, sizeof(disp), "attachment; filename=\"yamori-action-%" PRId64 ".tar.gz\"", id);
    http_body_file(rs, fd, (uint64_t)st.st_size, "application/gzip");
    fd = -1; /* the response's now */
    http_header_add(rs, "Content-Disposition", disp);
    snprintf(target, sizeof(target), "action:%" PRId64, id);
    snprintf(detail, sizeof(detail), "{\"device\":\"%s\",\"bytes\":%" PRIu64 "}", a.device_id, (uint64_t)st.st_size);
    audit_record(srv, http_principal(rq), http_remote_ip(rq), "action.package", target, detail);
out:
    if (fd >= 0)
        close(fd);
    store_action_clear(&a);
}

static const struct route packages_routes[] = {
    {HTTP_POST, "/api/v1/agent/commands/:id/file", ACCESS_DEVICE, ROLE_NONE, 0, agent_upload,
     "the file of a running command: a collect command's package (gzip) or a live getfile's file (streamed)",
     upload_begin},
    {HTTP_GET, "/api/v1/actions/:id/package", ACCESS_USER, ROLE_RESPONDER, 0, download,
     "an action's investigation package (application/gzip)", NULL},
    {0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct server_module packages_module = {
    .name = "packages",
    .order = 60,
    .routes = packages_routes,
};
SERVER_MODULE(packages_module);
