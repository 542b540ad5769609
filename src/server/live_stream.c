/*
 * live_stream.c — the output agents stream while a live command runs
 * (findfile's matches, a script's stdout and stderr; docs/live.md,
 * "Agent side").
 *
 * POST /api/v1/agent/commands/:id/output?seq=N (device): accepted only
 * for a `live` device command of the calling device whose live command
 * is running. Chunks are numbered from 0 and kept in order: the next one
 * is appended to <data_dir>/live/<live command id>.out, a repeated one is
 * acknowledged and ignored, one past the next is refused (409) so the
 * agent sends the missing one first. Beyond live_max_output_bytes a
 * command's chunks are counted but no longer kept. The answer tells the
 * agent whether to stop ("cancel": a person cancelled, the command timed
 * out or its session closed). Appends of one command never interleave:
 * a lock covers the check, the write and the store's accounting, and a
 * write the store then refuses is cut off again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/live_int.h"
#include "server/server.h"
#include "server/store.h"

static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;

void live_stream_path(const struct server *srv, int64_t id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/live/%" PRId64 ".out", srv->cfg.data_dir, id);
}

int live_stream_read(struct server *srv, int64_t id, int64_t offset, size_t max, char **buf, size_t *len)
{
    char path[1100];
    size_t off = 0;
    int fd, e = 0;

    *buf = NULL;
    *len = 0;
    live_stream_path(srv, id, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    *buf = malloc(max ? max : 1);
    if (!*buf) {
        close(fd);
        return -ENOMEM;
    }
    while (off < max) {
        ssize_t r = pread(fd, *buf + off, max - off, (off_t)offset + (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = -errno;
            break;
        }
        if (r == 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    if (e) {
        free(*buf);
        *buf = NULL;
        return e;
    }
    *len = off;
    return 0;
}

/* Appends data to the command's file at offset at. 0 or -errno (the file
 * is cut back to at on failure). */
static int append_at(struct server *srv, int64_t id, int64_t at, const uint8_t *data, size_t len)
{
    char dir[1024], path[1100];
    size_t off = 0;
    int fd, e = 0;

    snprintf(dir, sizeof(dir), "%s/live", srv->cfg.data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    live_stream_path(srv, id, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    while (off < len) {
        ssize_t w = pwrite(fd, data + off, len - off, (off_t)at + (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            e = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (e && ftruncate(fd, (off_t)at) != 0)
        log_warn("live: cannot cut %s back after a failed write", path);
    close(fd);
    return e;
}

/* Cuts the command's file back to at (the store refused the chunk). */
static void cut_back(struct server *srv, int64_t id, int64_t at)
{
    char path[1100];

    live_stream_path(srv, id, path, sizeof(path));
    if (truncate(path, (off_t)at) != 0 && errno != ENOENT)
        log_warn("live: cannot cut %s back", path);
}

static void answer(struct http_response *rs, int64_t id, int64_t seq, bool cancel)
{
    struct jsonw *w = http_json(rs);

    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", id);
    jsonw_kv_int(w, "seq", seq);
    jsonw_kv_bool(w, "cancel", cancel);
    jsonw_object_end(w);
}

/* POST /api/v1/agent/commands/:id/output?seq=N (body: at most 64 KiB of output) */
void live_stream_post(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *dev = http_principal(rq)->device_id, *p = http_param(rq, "id"), *q = http_query(rq, "seq");
    struct store_command d = {0};
    struct store_live_command c = {0};
    const uint8_t *body;
    size_t len = 0;
    int64_t id = 0, seq = 0, kept;
    char *end;
    int e;

    body = http_body(rq, &len);
    id = p ? strtoll(p, &end, 10) : 0;
    if (!p || !*p || *end || id <= 0) {
        http_error(rs, 404, "no such command (command ids are positive numbers)");
        return;
    }
    seq = q ? strtoll(q, &end, 10) : -1;
    if (!q || !*q || *end || seq < 0 || q[0] == '+' || q[0] == '-') {
        http_error(rs, 400, "seq: must be the chunk's number (0 for the first)");
        return;
    }
    e = store_command_get(srv->store, dev, id, &d);
    if (e == -ENOENT) {
        http_error(rs, 404, "no command %lld for this device", (long long)id);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "cannot read the command (store error)");
        goto out;
    }
    if (strcmp(d.type, "live") != 0) {
        http_error(rs, 409, "command %lld is a %s command: only live commands stream output", (long long)id, d.type);
        goto out;
    }
    e = store_live_command_by_device_command(srv->store, id, &c);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 500, e == -ENOENT ? "command %lld belongs to no live response session"
                                                            : "cannot read the live command (%lld; store error)",
                   (long long)id);
        goto out;
    }
    if (c.state != LIVE_RUNNING || d.status != CMD_SENT || d.cancel_ms) {
        /* stopped here (cancelled, timed out, its session closed): the agent should stop too */
        answer(rs, id, seq, true);
        goto out;
    }
    pthread_mutex_lock(&stream_lock);
    store_live_command_clear(&c);
    e = store_live_command_by_device_command(srv->store, id, &c); /* the accounting as of now, under the lock */
    if (e || c.state != LIVE_RUNNING) {
        pthread_mutex_unlock(&stream_lock);
        answer(rs, id, seq, true);
        goto out;
    }
    if (seq < c.stream_seq) {
        pthread_mutex_unlock(&stream_lock);
        answer(rs, id, seq, false); /* a repeat: had it already */
        goto out;
    }
    if (seq > c.stream_seq) {
        pthread_mutex_unlock(&stream_lock);
        http_error(rs, 409, "chunk %lld arrived before chunk %lld: send the chunks in order", (long long)seq,
                   (long long)c.stream_seq);
        goto out;
    }
    kept = c.stream_bytes + (int64_t)len <= (int64_t)srv->cfg.live_max_output_bytes
               ? (int64_t)len
               : (int64_t)srv->cfg.live_max_output_bytes > c.stream_bytes
                     ? (int64_t)srv->cfg.live_max_output_bytes - c.stream_bytes
                     : 0;
    if (kept > 0 && (e = append_at(srv, c.id, c.stream_bytes, body, (size_t)kept)) != 0) {
        pthread_mutex_unlock(&stream_lock);
        log_error("live: cannot keep the output of command %lld: %s", (long long)c.id, strerror(-e));
        http_error(rs, 500, "cannot keep the output; send it again");
        goto out;
    }
    e = store_live_command_stream(srv->store, c.id, seq, kept, (int64_t)len - kept);
    if (e) {
        if (kept > 0)
            cut_back(srv, c.id, c.stream_bytes);
        pthread_mutex_unlock(&stream_lock);
        if (e == -ESTALE)
            answer(rs, id, seq, true); /* it ended meanwhile */
        else
            http_error(rs, 500, "cannot record the output (store error); send it again");
        goto out;
    }
    pthread_mutex_unlock(&stream_lock);
    live_wake(srv, c.id);
    answer(rs, id, seq, false);
out:
    store_live_command_clear(&c);
    store_command_clear(&d);
}

