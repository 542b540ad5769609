/*
 * live_library.c — the files of live response (docs/live.md): the
 * library of scripts and files that `run` and `putfile` hand to devices,
 * the agent's fetch of a library file, the download of what a `getfile`
 * brought back, and the module that serves these routes with the
 * agent's streamed output (live_stream.c).
 *
 * Library: GET /api/v1/live/library (analysts) lists it; PUT
 * /api/v1/live/library/<name> (admins; the raw body, streamed to disk,
 * at most live_library_max_bytes) stores <data_dir>/library/<name>:
 * the upload lands in a temporary file, is synced, then renamed over the
 * name, so the name is never half-written; its SHA-256 is recorded in
 * the store. DELETE removes both. Names are plain (live_name_ok).
 *
 * The agent fetches GET /api/v1/agent/library/<name>?command=<id> for a
 * running `live` putfile or run command of its own that names that file,
 * and nothing else; it checks the SHA-256 the command carries.
 *
 * getfile: the agent uploads the file through the command file route
 * (packages.c, which keeps it with its SHA-256); when the command's
 * result comes, live_getfile_check compares what arrived with what the
 * agent says it sent. GET /api/v1/live/files/<live command id> (analysts)
 * sends it, from disk, audited.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/audit.h"
#include "server/devices_int.h"
#include "server/live_int.h"
#include "server/packages.h"
#include "server/server.h"
#include "server/store.h"

static void library_dir(const struct server *srv, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/library", srv->cfg.data_dir);
}

static void library_path(const struct server *srv, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/library/%s", srv->cfg.data_dir, name);
}

int live_library_find(struct server *srv, const char *name, struct store_live_file *f)
{
    if (!live_name_ok(name)) {
        memset(f, 0, sizeof(*f));
        return -ENOENT;
    }
    return store_live_library_get(srv->store, name, f);
}

int live_library_delete(struct server *srv, const struct principal *who, const char *remote_ip, const char *name)
{
    char path[1100], target[200];
    int e;

    if (!live_name_ok(name))
        return -ENOENT;
    e = store_live_library_delete(srv->store, name);
    if (e)
        return e;
    library_path(srv, name, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("live: cannot remove %s: %s", path, strerror(errno));
    snprintf(target, sizeof(target), "live_library:%s", name);
    audit_record(srv, who, remote_ip, "live.library.delete", target, NULL);
    return 0;
}

static void write_file(struct jsonw *w, const struct store_live_file *f)
{
    jsonw_object_begin(w);
    jsonw_kv_str(w, "name", f->name);
    jsonw_kv_int(w, "size", f->size);
    jsonw_kv_str(w, "sha256", f->sha256);
    jsonw_kv_str(w, "uploaded_by", f->uploaded_by);
    devices_kv_time(w, "uploaded", f->uploaded_ms);
    jsonw_object_end(w);
}

/* :name of the route when it is a library file name; 404 otherwise. */
static const char *name_param(struct http_request *rq, struct http_response *rs)
{
    const char *name = http_param(rq, "name");

    if (!name || !live_name_ok(name)) {
        http_error(rs, 404, "no such library file (names are letters, digits, '.', '_' and '-', not starting with "
                            "'.', at most %d bytes)",
                   LIVE_MAX_NAME);
        return NULL;
    }
    return name;
}

/* ------------------------------------------------------------ the library */

/* GET /api/v1/live/library */
static void list_library(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_live_file *v = NULL;
    struct jsonw *w;
    size_t n = 0;

    if (store_live_library_list(srv->store, &v, &n) != 0) {
        http_error(rs, 500, "cannot list the library (store error)");
        return;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "files");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_file(w, &v[i]);
    jsonw_array_end(w);
    jsonw_object_end(w);
    free(v);
}

/* The upload hook of PUT /api/v1/live/library/:name: before the body. */
static bool library_upload(struct http_request *rq, struct http_response *rs, struct http_upload_spec *spec)
{
    struct server *srv = http_server(rq);

    if (!name_param(rq, rs))
        return false;
    library_dir(srv, spec->dir, sizeof(spec->dir));
    if (mkdir(spec->dir, 0700) != 0 && errno != EEXIST) {
        log_error("live: cannot create %s: %s", spec->dir, strerror(errno));
        http_error(rs, 500, "cannot store the file");
        return false;
    }
    spec->max_bytes = srv->cfg.live_library_max_bytes;
    spec->limit_name = "live_library_max_bytes";
    return true;
}

/* PUT /api/v1/live/library/:name (body: the file) */
static void put_library(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *who = http_principal(rq);
    const struct http_upload *up = http_upload(rq);
    const char *name = name_param(rq, rs);
    struct store_live_file f = {0}, old = {0};
    char path[1100], tmp[1200], target[200], detail[200];
    static unsigned long counter;
    bool replaced;
    int e;

    if (!name)
        return;
    if (!up) {
        http_error(rs, 500, "the upload did not arrive");
        return;
    }
    if (up->bytes == 0) {
        http_error(rs, 400, "the body is empty: send the file's content");
        return;
    }
    replaced = store_live_library_get(srv->store, name, &old) == 0;
    library_path(srv, name, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s/library/.%s.%ld.%lu", srv->cfg.data_dir, name, (long)getpid(),
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    e = http_upload_keep(rq, tmp);
    if (e) {
        log_error("live: cannot keep the upload of %s: %s", name, strerror(-e));
        http_error(rs, 500, "cannot store the file");
        return;
    }
    if (rename(tmp, path) != 0) {
        log_error("live: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        http_error(rs, 500, "cannot store the file");
        return;
    }
    snprintf(f.name, sizeof(f.name), "%s", name);
    snprintf(f.sha256, sizeof(f.sha256), "%s", up->sha256);
    f.size = (int64_t)up->bytes;
    snprintf(f.uploaded_by, sizeof(f.uploaded_by), "%s", who->user_name);
    f.uploaded_ms = store_now_ms(srv->store);
    if (store_live_library_put(srv->store, &f) != 0) {
        /* the file must not stand without its record (its hash is what agents check) */
        unlink(path);
        store_live_library_delete(srv->store, name);
        http_error(rs, 500, "cannot record the file (store error); nothing was kept");
        return;
    }
    snprintf(target, sizeof(target), "live_library:%s", name);
    snprintf(detail, sizeof(detail), "{\"sha256\":\"%s\",\"size\":%" PRId64 ",\"replaced\":%s}", f.sha256, f.size,
             replaced ? "true" : "false");
    audit_record(srv, who, http_remote_ip(rq), "live.library.upload", target, detail);
    http_status(rs, replaced ? 200 : 201);
    jsonw_object_begin(http_json(rs));
    jsonw_key(http_json(rs), "file");
    write_file(http_json(rs), &f);
    jsonw_object_end(http_json(rs));
}

/* DELETE /api/v1/live/library/:name */
static void delete_library(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *name = name_param(rq, rs);
    int e;

    if (!name)
        return;
    e = live_library_delete(srv, http_principal(rq), http_remote_ip(rq), name);
    if (e == -ENOENT) {
        http_error(rs, 404, "no library file %s", name);
        return;
    }
    if (e) {
        http_error(rs, 500, "cannot delete the file (store error)");
        return;
    }
    jsonw_object_begin(http_json(rs));
    jsonw_kv_str(http_json(rs), "deleted", name);
    jsonw_object_end(http_json(rs));
}

/* Opens a regular file for a download: fd and size, or -errno. */
static int open_regular(const char *path, uint64_t *size)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -ENOENT;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

/* GET /api/v1/agent/library/:name?command=<device command id> */
static void agent_fetch(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *dev = http_principal(rq)->device_id, *name = name_param(rq, rs), *q = http_query(rq, "command");
    struct store_command d = {0};
    struct store_live_command c = {0};
    struct store_live_file f = {0};
    json_t *env = NULL, *args;
    const char *command, *wanted;
    char path[1100], *end;
    uint64_t size = 0;
    long long cid;
    int fd, e;

    if (!name)
        return;
    cid = q ? strtoll(q, &end, 10) : 0;
    if (!q || !*q || *end || cid <= 0 || q[0] == '+') {
        http_error(rs, 400, "command: must be the id of the live command that needs the file");
        return;
    }
    e = store_command_get(srv->store, dev, cid, &d);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "no command %lld for this device" : "cannot read "
                                                                "command %lld (store error)", cid);
        goto out;
    }
    env = strcmp(d.type, "live") == 0 ? json_loads(d.args_json, 0, NULL) : NULL;
    command = json_string_value(json_object_get(env, "command"));
    args = json_object_get(env, "args");
    wanted = command && strcmp(command, "run") == 0 ? json_string_value(json_object_get(args, "script"))
             : command && strcmp(command, "putfile") == 0 ? json_string_value(json_object_get(args, "name"))
                                                          : NULL;
    if (!wanted || strcmp(wanted, name) != 0) {
        http_error(rs, 403, "command %lld does not fetch library file %s", cid, name);
        goto out;
    }
    if (d.status != CMD_SENT || d.cancel_ms || store_live_command_by_device_command(srv->store, cid, &c) != 0 ||
        c.state != LIVE_RUNNING) {
        http_error(rs, 409, "command %lld is not running: no library file is handed out for it", cid);
        goto out;
    }
    if (store_live_library_get(srv->store, name, &f) != 0) {
        http_error(rs, 404, "no library file %s (deleted meanwhile)", name);
        goto out;
    }
    library_path(srv, name, path, sizeof(path));
    fd = open_regular(path, &size);
    if (fd < 0) {
        log_error("live: library file %s is recorded but cannot be opened: %s", name, strerror(-fd));
        http_error(rs, 500, "cannot read library file %s", name);
        goto out;
    }
    http_body_file(rs, fd, size, "application/octet-stream");
out:
    json_decref(env);
    store_live_command_clear(&c);
    store_command_clear(&d);
}

/* ------------------------------------------------------------ getfile */

int live_getfile_check(struct server *srv, int64_t device_command_id, json_t *output, char sha256[65], int64_t *size,
                       char *err, size_t errlen)
{
    const char *said = json_string_value(json_object_get(output, "sha256"));
    json_t *said_size = json_object_get(output, "size");
    char path[1100];
    uint64_t bytes = 0;
    int e;

    e = packages_file_info(srv, device_command_id, path, sizeof(path), sha256, &bytes);
    if (e == -ENOENT) {
        snprintf(err, errlen, "the agent said it sent the file, but no file arrived");
        return e;
    }
    if (e) {
        snprintf(err, errlen, "cannot read the file received (%s)", strerror(-e));
        return e;
    }
    if (!said || strcasecmp(said, sha256) != 0 || !json_is_integer(said_size) ||
        (uint64_t)json_integer_value(said_size) != bytes) {
        snprintf(err, errlen, "the file received (%" PRIu64 " bytes, SHA-256 %s) is not the one the agent sent (%s "
                              "bytes, SHA-256 %.64s)",
                 bytes, sha256, json_is_integer(said_size) ? "stated" : "unstated", said ? said : "unstated");
        return -EBADMSG;
    }
    *size = (int64_t)bytes;
    return 0;
}

/* GET /api/v1/live/files/:id (a live command id) */
static void download(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *p = http_param(rq, "id");
    struct store_live_command c = {0};
    char path[1100], sha[65], disp[200], base[100] = "file", id_text[24];
    json_t *args = NULL;
    uint64_t bytes = 0, size = 0;
    long long id;
    char *end;
    int fd;

    id = p ? strtoll(p, &end, 10) : 0;
    if (!p || !*p || *end || id <= 0 || store_live_command_get(srv->store, id, &c) != 0 || !c.file_sha256[0] ||
        c.state != LIVE_SUCCEEDED) {
        http_error(rs, 404, "live command %s brought back no file", p && strlen(p) < 20 ? p : "?");
        goto out;
    }
    if (packages_file_info(srv, c.device_command_id, path, sizeof(path), sha, &bytes) != 0 ||
        strcmp(sha, c.file_sha256) != 0 || (fd = open_regular(path, &size)) < 0) {
        http_error(rs, 404, "the file of live command %lld is no longer on the server", id);
        goto out;
    }
    /* the download's name: the file's base name, plain characters only */
    args = json_loads(c.args_json, 0, NULL);
    {
        const char *src = json_string_value(json_object_get(args, "path")), *slash = src ? strrchr(src, '/') : NULL;
        size_t n = 0;
        for (const char *s = slash ? slash + 1 : ""; *s && n + 1 < sizeof(base); s++)
            base[n++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                                *s == '.' || *s == '-' || *s == '_'
                            ? *s
                            : '_';
        if (n)
            base[n] = '\0';
    }
    snprintf(disp, sizeof(disp), "attachment; filename=\"yamori-live-%lld-%s\"", id, base);
    http_body_file(rs, fd, size, "application/octet-stream");
    http_header_add(rs, "Content-Disposition", disp);
    snprintf(id_text, sizeof(id_text), "%" PRIu64, size);
    live_audit(srv, http_principal(rq), http_remote_ip(rq), "live.file.download", c.session_id, c.id, "device_id",
               c.device_id, "sha256", c.file_sha256, "size", id_text, NULL);
out:
    json_decref(args);
    store_live_command_clear(&c);
}

/* ------------------------------------------------------------ module */

const struct route live_transfer_routes[] = {
    {HTTP_GET, "/api/v1/live/library", ACCESS_USER, ROLE_ANALYST, 0, list_library,
     "the live response library (scripts and files for run and putfile)"},
    {HTTP_PUT, "/api/v1/live/library/:name", ACCESS_USER, ROLE_ADMIN, 0, put_library,
     "add or replace a library file (raw body, at most live_library_max_bytes)", library_upload},
    {HTTP_DELETE, "/api/v1/live/library/:name", ACCESS_USER, ROLE_ADMIN, 0, delete_library,
     "delete a library file"},
    {HTTP_GET, "/api/v1/live/files/:id", ACCESS_USER, ROLE_ANALYST, 0, download,
     "the file a live getfile command brought back"},
    {HTTP_GET, "/api/v1/agent/library/:name", ACCESS_DEVICE, ROLE_NONE, 0, agent_fetch,
     "a library file for a running live putfile or run command (?command=ID)"},
    {HTTP_POST, "/api/v1/agent/commands/:id/output", ACCESS_DEVICE, ROLE_NONE, LIVE_CHUNK_MAX, live_stream_post,
     "streamed output of a running live command (?seq=N, at most 64 KiB)"},
    {0, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const struct server_module live_files_module = {
    .name = "live_files",
    .order = 71,
    .routes = live_transfer_routes,
};
SERVER_MODULE(live_files_module);
