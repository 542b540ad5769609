/*
 * http.c — see http.h.
 *
 * libmicrohttpd calls on_request() several times per request: first with no
 * context (we match the route and allocate one), then once per body chunk
 * (collected up to the route's limit; beyond it the rest is read and
 * dropped and the answer is 413), then a last time with no data, when we
 * authenticate, call the handler and queue its response. A deferred
 * request is suspended there; when it is completed (or its deadline
 * passes, watched by one timer thread) it is resumed and on_request()
 * queues the response that was prepared for it.
 *
 * A streamed upload (a route with an upload hook) is checked on the first
 * call instead: authentication, access rule, the hook, the declared
 * Content-Length against the hook's limit. A refused one is answered at
 * once when the client waits for it (Expect: 100-continue) or announced a
 * large body (the connection then closes without reading it); otherwise
 * its body is read and dropped (at most DRAIN_MAX bytes) and the refusal
 * answered at the end, so the client reads the answer instead of a reset.
 * An accepted one is written chunk by chunk to its temporary file.
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "server/server.h"

#define DEFAULT_MAX_BODY (64 * 1024)
#define MAX_PATH_LEN 2048
#define MAX_PARAMS 4
#define REQUEST_MAGIC 0x52455131u /* "REQ1" */
#define DRAIN_MAX (1u << 20)      /* body bytes read and dropped before a refused upload is answered */

struct http_response {
    unsigned status;
    struct jsonw json;
    bool json_used;
    uint8_t *raw;
    size_t raw_len;
    int file_fd;        /* http_body_file: the body's file (-1: none) */
    uint64_t file_size;
    char content_type[64];
    struct header_line {
        char *name, *value;
        struct header_line *next;
    } *headers;
};

enum req_state { RQ_NEW, RQ_BODY, RQ_DEFERRED, RQ_READY, RQ_DONE };

struct http_request {
    unsigned magic;
    struct server *srv;
    struct MHD_Connection *conn;
    const struct route *route;
    const char *module;
    enum http_method method;
    char path[MAX_PATH_LEN];
    struct {
        const char *name;
        char value[256];
    } params[MAX_PARAMS];
    int nparams;
    uint8_t *body;
    size_t body_len, body_cap, max_body;
    bool body_too_big;
    unsigned early_status;       /* answered before the handler: 404, 405, 413 */
    char early_message[256];
    char allow[64];              /* for 405 */
    struct principal principal;
    char remote_ip[64];
    struct http_response rs;
    enum req_state state;
    struct http_deferred *deferred;
    /* a streamed upload (route->upload) */
    bool streaming;              /* accepted: the body goes to up.fd */
    bool refused;                /* refused before its body: rs holds the answer, the body is dropped */
    uint64_t dropped;            /* body bytes read and dropped */
    struct http_upload up;       /* fd -1 until the file exists */
    char up_tmp[1100];           /* the named temporary file ("" with O_TMPFILE) */
    char up_dir[1024];
    uint64_t up_max;
    char up_limit_name[48];
    bool up_kept;
    crypto_hash_sha256_state up_sha;
};

struct http_deferred {
    uint64_t id;
    struct http_request *rq;
    uint64_t deadline_ms;
    void (*on_timeout)(struct http_response *rs, void *ctx);
    void *ctx;
    bool done;
    struct http_deferred *next;
};

struct http {
    struct server *srv;
    struct MHD_Daemon *daemon;
    pthread_t timer;
    bool timer_running;
};

/* Deferred requests, watched by the timer thread. */
static pthread_mutex_t deferred_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t deferred_cond = PTHREAD_COND_INITIALIZER;
static struct http_deferred *deferred_list;
static uint64_t deferred_next_id = 1;
static bool timer_stop;

/* ------------------------------------------------------------------ names */

const char *http_method_name(enum http_method m)
{
    switch (m) {
    case HTTP_GET: return "GET";
    case HTTP_POST: return "POST";
    case HTTP_PUT: return "PUT";
    case HTTP_PATCH: return "PATCH";
    case HTTP_DELETE: return "DELETE";
    }
    return "?";
}

static enum http_method method_from_name(const char *m)
{
    static const enum http_method all[] = {HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(m, http_method_name(all[i])) == 0)
            return all[i];
    return 0;
}

const char *role_name(enum role r)
{
    switch (r) {
    case ROLE_NONE: return "none";
    case ROLE_VIEWER: return "viewer";
    case ROLE_ANALYST: return "analyst";
    case ROLE_RESPONDER: return "responder";
    case ROLE_ADMIN: return "admin";
    }
    return "none";
}

enum role role_from_name(const char *name)
{
    for (enum role r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
        if (strcmp(name, role_name(r)) == 0)
            return r;
    return ROLE_NONE;
}

/* ------------------------------------------------------------------ routes */

void http_for_each_route(void (*fn)(const struct route *r, const char *module, void *ctx), void *ctx)
{
    size_t n;
    const struct server_module *const *mods = server_modules(&n);

    for (size_t i = 0; i < n; i++)
        for (const struct route *r = mods[i]->routes; r && r->pattern; r++)
            fn(r, mods[i]->name, ctx);
}

/* Matches path against pattern, capturing ":name" segments. */
static bool match_pattern(const char *pattern, const char *path, struct http_request *rq)
{
    int np = 0;

    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++;
        path++;
        const char *pe = strchr(pattern, '/');
        const char *se = strchr(path, '/');
        size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern);
        size_t sl = se ? (size_t)(se - path) : strlen(path);
        if (pattern[0] == ':') {
            if (sl == 0 || sl >= sizeof(rq->params[0].value) || np >= MAX_PARAMS)
                return false;
            if (rq) {
                rq->params[np].name = pattern + 1; /* up to the next '/' of the pattern */
                memcpy(rq->params[np].value, path, sl);
                rq->params[np].value[sl] = '\0';
            }
            np++;
        } else if (pl != sl || memcmp(pattern, path, pl) != 0) {
            return false;
        }
        pattern += pl;
        path += sl;
    }
    if (*pattern || *path)
        return false;
    if (rq)
        rq->nparams = np;
    return true;
}

/* Finds the route for (method, path); sets 404/405 on rq when none. */
static void find_route(struct http_request *rq)
{
    size_t n;
    const struct server_module *const *mods = server_modules(&n);
    bool path_known = false;

    for (size_t i = 0; i < n; i++) {
        for (const struct route *r = mods[i]->routes; r && r->pattern; r++) {
            if (!match_pattern(r->pattern, rq->path, NULL))
                continue;
            if (r->method != rq->method) {
                size_t len = strlen(rq->allow);
                snprintf(rq->allow + len, sizeof(rq->allow) - len, "%s%s", len ? ", " : "",
                         http_method_name(r->method));
                path_known = true;
                continue;
            }
            match_pattern(r->pattern, rq->path, rq);
            rq->route = r;
            rq->module = mods[i]->name;
            rq->max_body = r->max_body ? r->max_body : DEFAULT_MAX_BODY;
            return;
        }
    }
    if (path_known) {
        rq->early_status = 405;
        snprintf(rq->early_message, sizeof(rq->early_message), "method %s not allowed here (allowed: %s)",
                 http_method_name(rq->method) ? http_method_name(rq->method) : "?", rq->allow);
    } else {
        rq->early_status = 404;
        snprintf(rq->early_message, sizeof(rq->early_message), "no such endpoint: %.200s", rq->path);
    }
}

/* ------------------------------------------------------------------ request accessors */

enum http_method http_method(const struct http_request *rq) { return rq->method; }
const char *http_path(const struct http_request *rq) { return rq->path; }
const struct principal *http_principal(const struct http_request *rq) { return &rq->principal; }
struct server *http_server(const struct http_request *rq) { return rq->srv; }
const char *http_remote_ip(const struct http_request *rq) { return rq->remote_ip; }

const char *http_param(const struct http_request *rq, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < rq->nparams; i++) {
        const char *pn = rq->params[i].name;
        const char *end = strchr(pn, '/');
        size_t pl = end ? (size_t)(end - pn) : strlen(pn);
        if (pl == nl && memcmp(pn, name, nl) == 0)
            return rq->params[i].value;
    }
    return NULL;
}

const char *http_query(const struct http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *http_cookie(const struct http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_COOKIE_KIND, name);
}

const uint8_t *http_body(const struct http_request *rq, size_t *len)
{
    *len = rq->body_len;
    return rq->body;
}

const struct http_upload *http_upload(const struct http_request *rq)
{
    return rq->streaming && rq->up.fd >= 0 ? &rq->up : NULL;
}

/* Syncs the directory holding path (so a new name survives a crash). */
static void sync_parent(const char *path)
{
    char dir[1100];
    char *slash;
    int fd;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (!slash)
        return;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int http_upload_keep(struct http_request *rq, const char *path)
{
    char proc[64];
    int e = 0;

    if (!rq->streaming || rq->up.fd < 0)
        return -EINVAL;
    if (rq->up_kept)
        return -EALREADY;
    if (fsync(rq->up.fd) != 0)
        return -errno;
    if (rq->up_tmp[0]) {
        /* a named temporary file: a second name, then the first goes */
        if (link(rq->up_tmp, path) != 0)
            return -errno;
        unlink(rq->up_tmp);
        rq->up_tmp[0] = '\0';
    } else if (linkat(rq->up.fd, "", AT_FDCWD, path, AT_EMPTY_PATH) != 0) {
        /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does not */
        e = -errno;
        if (e == -EEXIST)
            return e;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", rq->up.fd);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0)
            return -errno;
    }
    rq->up_kept = true;
    sync_parent(path);
    return 0;
}

json_t *http_json_body(struct http_request *rq, struct http_response *rs)
{
    json_error_t jerr;
    json_t *v;

    if (rq->body_len == 0) {
        http_error(rs, 400, "a JSON object is required in the request body");
        return NULL;
    }
    v = json_loadb((const char *)rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        http_error(rs, 400, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_error(rs, 400, "the request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* ------------------------------------------------------------------ responses */

struct jsonw *http_json(struct http_response *rs)
{
    rs->json_used = true;
    return &rs->json;
}

void http_status(struct http_response *rs, unsigned status)
{
    rs->status = status;
}

void http_error(struct http_response *rs, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rs->status = status;
    jsonw_reset(&rs->json);
    rs->json_used = true;
    jsonw_object_begin(&rs->json);
    jsonw_key(&rs->json, "error");
    jsonw_object_begin(&rs->json);
    jsonw_kv_uint(&rs->json, "code", status);
    jsonw_kv_str(&rs->json, "message", msg);
    jsonw_object_end(&rs->json);
    jsonw_object_end(&rs->json);
}

void http_body_raw(struct http_response *rs, const void *data, size_t len, const char *content_type)
{
    free(rs->raw);
    rs->raw = malloc(len ? len : 1);
    if (!rs->raw) {
        http_error(rs, 500, "out of memory");
        return;
    }
    memcpy(rs->raw, data, len);
    rs->raw_len = len;
    if (rs->file_fd >= 0)
        close(rs->file_fd);
    rs->file_fd = -1;
    snprintf(rs->content_type, sizeof(rs->content_type), "%s", content_type);
    rs->json_used = false;
}

void http_body_file(struct http_response *rs, int fd, uint64_t size, const char *content_type)
{
    free(rs->raw);
    rs->raw = NULL;
    rs->raw_len = 0;
    if (rs->file_fd >= 0)
        close(rs->file_fd);
    rs->file_fd = fd;
    rs->file_size = size;
    snprintf(rs->content_type, sizeof(rs->content_type), "%s", content_type);
    rs->json_used = false;
}

void http_header_add(struct http_response *rs, const char *name, const char *value)
{
    struct header_line *h = calloc(1, sizeof(*h));
    if (!h)
        return;
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        free(h);
        return;
    }
    h->next = rs->headers;
    rs->headers = h;
}

static void response_init(struct http_response *rs)
{
    memset(rs, 0, sizeof(*rs));
    rs->status = 200;
    rs->file_fd = -1;
    jsonw_init(&rs->json);
}

static void response_free(struct http_response *rs)
{
    jsonw_free(&rs->json);
    free(rs->raw);
    if (rs->file_fd >= 0)
        close(rs->file_fd);
    rs->file_fd = -1;
    while (rs->headers) {
        struct header_line *h = rs->headers;
        rs->headers = h->next;
        free(h->name);
        free(h->value);
        free(h);
    }
}

static enum MHD_Result queue_response(struct http_request *rq)
{
    struct http_response *rs = &rq->rs;
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (rs->file_fd >= 0 && !rs->json_used) {
        /* the response owns the descriptor from here on (closed with it) */
        r = MHD_create_response_from_fd64(rs->file_size, rs->file_fd);
        if (!r)
            return MHD_NO; /* response_free closes it */
        rs->file_fd = -1;
        MHD_add_response_header(r, "Content-Type", rs->content_type);
    } else if (rs->raw) {
        r = MHD_create_response_from_buffer(rs->raw_len, rs->raw, MHD_RESPMEM_MUST_COPY);
        if (r)
            MHD_add_response_header(r, "Content-Type", rs->content_type);
    } else {
        if (!rs->json_used || rs->json.len == 0) {
            jsonw_reset(&rs->json);
            jsonw_object_begin(&rs->json);
            jsonw_object_end(&rs->json);
        }
        if (jsonw_failed(&rs->json))
            return MHD_NO;
        r = MHD_create_response_from_buffer(rs->json.len, rs->json.buf, MHD_RESPMEM_MUST_COPY);
        if (r)
            MHD_add_response_header(r, "Content-Type", "application/json");
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    for (struct header_line *h = rs->headers; h; h = h->next)
        MHD_add_response_header(r, h->name, h->value);
    if (rq->early_status == 405 && rq->allow[0])
        MHD_add_response_header(r, "Allow", rq->allow);
    ret = MHD_queue_response(rq->conn, rs->status, r);
    MHD_destroy_response(r);
    rq->state = RQ_DONE;
    if (rs->status >= 400)
        log_debug("%s %s -> %u", http_method_name(rq->method), rq->path, rs->status);
    return ret;
}

/* ------------------------------------------------------------------ authentication */

static bool authorize(struct http_request *rq)
{
    struct server *srv = rq->srv;
    const struct route *r = rq->route;
    http_authenticate_fn fn;
    int res;

    if (r->access == ACCESS_PUBLIC)
        return true;
    fn = r->access == ACCESS_USER ? srv->authenticate_user : srv->authenticate_device;
    if (!fn) {
        http_error(&rq->rs, 503, "authentication is not available");
        return false;
    }
    res = fn(srv, rq, &rq->rs, &rq->principal);
    if (res < 0) {
        if (!rq->rs.json_used)
            http_error(&rq->rs, (unsigned)-res, "not authorised");
        else
            rq->rs.status = (unsigned)-res;
        return false;
    }
    if (res == 0) {
        http_error(&rq->rs, 401,
                   r->access == ACCESS_USER ? "authentication required: sign in or send an API token"
                                            : "authentication required: device credentials missing");
        return false;
    }
    if (r->access == ACCESS_USER && (rq->principal.kind != PRINCIPAL_USER || rq->principal.role < r->min_role)) {
        http_error(&rq->rs, 403, "this needs the %s role; you are %s", role_name(r->min_role),
                   role_name(rq->principal.role));
        return false;
    }
    if (r->access == ACCESS_DEVICE && rq->principal.kind != PRINCIPAL_DEVICE) {
        http_error(&rq->rs, 403, "this endpoint is for enrolled devices");
        return false;
    }
    return true;
}

void http_set_user_authenticator(struct server *srv, http_authenticate_fn fn)
{
    srv->authenticate_user = fn;
}

void http_set_device_authenticator(struct server *srv, http_authenticate_fn fn)
{
    srv->authenticate_device = fn;
}

/* ------------------------------------------------------------------ deferral */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t http_defer(struct http_request *rq, struct http_response *rs, unsigned timeout_ms,
                    void (*on_timeout)(struct http_response *rs, void *ctx), void *ctx)
{
    struct http_deferred *d = calloc(1, sizeof(*d));
    uint64_t id;

    (void)rs;
    if (!d)
        return 0;
    d->rq = rq;
    d->deadline_ms = now_ms() + timeout_ms;
    d->on_timeout = on_timeout;
    d->ctx = ctx;
    pthread_mutex_lock(&deferred_lock);
    id = d->id = deferred_next_id++;
    rq->state = RQ_DEFERRED;
    rq->deferred = d;
    MHD_suspend_connection(rq->conn);
    d->next = deferred_list;
    deferred_list = d;
    pthread_cond_signal(&deferred_cond);
    pthread_mutex_unlock(&deferred_lock);
    return id;
}

/* With deferred_lock held: takes d out of the list. */
static void unlist(struct http_deferred *d)
{
    for (struct http_deferred **pp = &deferred_list; *pp; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            return;
        }
    }
}

bool http_deferred_complete(uint64_t id, void (*fill)(struct http_response *rs, void *ctx), void *ctx)
{
    struct http_deferred *d;
    bool ok = false;

    pthread_mutex_lock(&deferred_lock);
    for (d = deferred_list; d && d->id != id; d = d->next)
        ;
    if (d && !d->done) {
        fill(&d->rq->rs, ctx);
        d->done = true;
        d->rq->state = RQ_READY;
        unlist(d);
        MHD_resume_connection(d->rq->conn);
        ok = true;
    }
    pthread_mutex_unlock(&deferred_lock);
    return ok;
}

static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&deferred_lock);
    while (!timer_stop) {
        uint64_t now = now_ms(), next = now + 1000;
        for (struct http_deferred *d = deferred_list, *nd; d; d = nd) {
            nd = d->next;
            if (d->deadline_ms <= now) {
                if (d->on_timeout)
                    d->on_timeout(&d->rq->rs, d->ctx);
                d->done = true;
                d->rq->state = RQ_READY;
                unlist(d);
                MHD_resume_connection(d->rq->conn);
            } else if (d->deadline_ms < next) {
                next = d->deadline_ms;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = next > now ? next - now : 1;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&deferred_cond, &deferred_lock, &ts);
    }
    pthread_mutex_unlock(&deferred_lock);
    return NULL;
}

/* ------------------------------------------------------------------ the handler */

static struct http_request *request_new(struct server *srv, struct MHD_Connection *conn, const char *url,
                                        const char *method)
{
    struct http_request *rq = calloc(1, sizeof(*rq));
    const union MHD_ConnectionInfo *ci;

    if (!rq)
        return NULL;
    rq->magic = REQUEST_MAGIC;
    rq->srv = srv;
    rq->conn = conn;
    rq->method = method_from_name(method);
    rq->up.fd = -1;
    response_init(&rq->rs);
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, rq->remote_ip,
                      sizeof(rq->remote_ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, rq->remote_ip,
                      sizeof(rq->remote_ip));
    }
    if (strlen(url) >= sizeof(rq->path)) {
        rq->early_status = 414;
        snprintf(rq->early_message, sizeof(rq->early_message), "request path longer than %d bytes",
                 MAX_PATH_LEN - 1);
    } else if (!rq->method) {
        rq->early_status = 405;
        snprintf(rq->early_message, sizeof(rq->early_message), "method %.16s is not supported", method);
    } else {
        snprintf(rq->path, sizeof(rq->path), "%s", url);
        find_route(rq);
    }
    return rq;
}

static void request_free(struct http_request *rq)
{
    if (!rq)
        return;
    response_free(&rq->rs);
    free(rq->body);
    free(rq->deferred);
    if (rq->up.fd >= 0)
        close(rq->up.fd); /* an unnamed temporary file is gone with it */
    if (rq->up_tmp[0])
        unlink(rq->up_tmp);
    rq->magic = 0;
    free(rq);
}

/* Appends a chunk of body within the route's limit. */
static void take_body(struct http_request *rq, const char *data, size_t n)
{
    if (rq->body_too_big || rq->early_status)
        return;
    if (rq->body_len + n > rq->max_body) {
        rq->body_too_big = true;
        free(rq->body);
        rq->body = NULL;
        rq->body_len = 0;
        return;
    }
    if (rq->body_len + n > rq->body_cap) {
        size_t cap = rq->body_cap ? rq->body_cap * 2 : 8192;
        while (cap < rq->body_len + n)
            cap *= 2;
        if (cap > rq->max_body)
            cap = rq->max_body;
        uint8_t *nb = realloc(rq->body, cap);
        if (!nb) {
            rq->early_status = 503;
            snprintf(rq->early_message, sizeof(rq->early_message), "out of memory");
            return;
        }
        rq->body = nb;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, n);
    rq->body_len += n;
}

/* ------------------------------------------------------------------ streamed uploads */

/* The declared Content-Length, or -1 when there is none (chunked). */
static int64_t declared_length(const struct http_request *rq)
{
    const char *v = http_header(rq, "Content-Length");
    char *end;
    unsigned long long n;

    if (!v || !*v)
        return -1;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno || *end || n > INT64_MAX)
        return -1;
    return (int64_t)n;
}

static void upload_too_big(struct http_request *rq)
{
    if (rq->up_limit_name[0])
        http_error(&rq->rs, 413, "the upload is larger than %" PRIu64 " bytes (%s)", rq->up_max, rq->up_limit_name);
    else
        http_error(&rq->rs, 413, "the upload is larger than %" PRIu64 " bytes", rq->up_max);
}

/* Drops the temporary file of an upload that is not going to be kept. */
static void upload_discard(struct http_request *rq)
{
    if (rq->up.fd >= 0)
        close(rq->up.fd);
    rq->up.fd = -1;
    if (rq->up_tmp[0])
        unlink(rq->up_tmp);
    rq->up_tmp[0] = '\0';
    rq->streaming = false;
}

/* Creates the temporary file in rq->up_dir: unnamed where the file system
 * allows it, else a named one removed when the request ends. */
static int upload_open(struct http_request *rq)
{
    int fd = open(rq->up_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        snprintf(rq->up_tmp, sizeof(rq->up_tmp), "%s/.upload-XXXXXX", rq->up_dir);
        fd = mkostemp(rq->up_tmp, O_CLOEXEC);
        if (fd < 0)
            rq->up_tmp[0] = '\0';
    }
    if (fd < 0)
        return -errno;
    rq->up.fd = fd;
    return 0;
}

/* The first call of a streamed upload: everything but the body is here.
 * Returns MHD's answer for this call. */
static enum MHD_Result upload_start(struct http_request *rq)
{
    struct http_upload_spec spec = {0};
    int64_t declared = declared_length(rq);
    const char *expect;
    int e;

    if (!authorize(rq)) {
        rq->refused = true;
    } else if (!rq->route->upload(rq, &rq->rs, &spec)) {
        if (rq->rs.status < 400)
            http_error(&rq->rs, 500, "the upload was refused without a reason");
        rq->refused = true;
    } else {
        snprintf(rq->up_dir, sizeof(rq->up_dir), "%s", spec.dir);
        snprintf(rq->up_limit_name, sizeof(rq->up_limit_name), "%s", spec.limit_name ? spec.limit_name : "");
        rq->up_max = spec.max_bytes;
        if (declared >= 0 && (uint64_t)declared > rq->up_max) {
            upload_too_big(rq);
            rq->refused = true;
        } else if ((e = upload_open(rq)) != 0) {
            log_error("http: cannot create a temporary file in %s: %s", rq->up_dir, strerror(-e));
            http_error(&rq->rs, 500, "cannot store the upload");
            rq->refused = true;
        } else {
            crypto_hash_sha256_init(&rq->up_sha);
            rq->streaming = true;
            return MHD_YES;
        }
    }
    /* refused: answer now when the client waits for it or the body is large */
    expect = http_header(rq, "Expect");
    if ((expect && strcasecmp(expect, "100-continue") == 0) || declared < 0 || declared > (int64_t)DRAIN_MAX)
        return queue_response(rq);
    return MHD_YES;
}

/* One chunk of a streamed upload's body. */
static enum MHD_Result upload_take(struct http_request *rq, const char *data, size_t n)
{
    size_t off = 0;

    if (rq->refused || rq->body_too_big || !rq->streaming) {
        rq->dropped += n;
        return rq->dropped > DRAIN_MAX ? MHD_NO : MHD_YES; /* no answer is owed to a flood */
    }
    if (rq->up.bytes + n > rq->up_max) {
        upload_discard(rq);
        rq->body_too_big = true;
        rq->dropped += n;
        return MHD_YES;
    }
    while (off < n) {
        ssize_t w = write(rq->up.fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            log_error("http: cannot write an upload in %s: %s", rq->up_dir, strerror(errno));
            http_error(&rq->rs, errno == ENOSPC || errno == EDQUOT ? 507 : 500, "cannot store the upload (%s)",
                       errno == ENOSPC || errno == EDQUOT ? "no space left on the server" : "write error");
            upload_discard(rq);
            rq->refused = true;
            rq->dropped += n - off;
            return MHD_YES;
        }
        off += (size_t)w;
    }
    crypto_hash_sha256_update(&rq->up_sha, (const unsigned char *)data, n);
    rq->up.bytes += n;
    return MHD_YES;
}

/* The whole body of an accepted upload is in: its hash, the file rewound. */
static bool upload_finish(struct http_request *rq)
{
    unsigned char md[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_final(&rq->up_sha, md);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(rq->up.sha256 + 2 * i, 3, "%02x", md[i]);
    if (lseek(rq->up.fd, 0, SEEK_SET) != 0) {
        http_error(&rq->rs, 500, "cannot read the upload back");
        return false;
    }
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http *h = cls;
    struct http_request *rq = *con_cls;

    (void)version;
    if (!rq) {
        rq = request_new(h->srv, conn, url, method);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        rq->state = RQ_BODY;
        if (rq->route && rq->route->upload && !rq->early_status)
            return upload_start(rq);
        return MHD_YES;
    }
    if (rq->magic != REQUEST_MAGIC)
        return MHD_NO;
    if (rq->state == RQ_BODY && *upload_data_size) {
        enum MHD_Result ret = MHD_YES;
        if (rq->route && rq->route->upload && !rq->early_status)
            ret = upload_take(rq, upload_data, *upload_data_size);
        else
            take_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ret;
    }
    if (rq->state == RQ_DEFERRED)
        return MHD_YES; /* resumed spuriously: still waiting */
    if (rq->state == RQ_READY)
        return queue_response(rq);
    if (rq->state == RQ_DONE)
        return MHD_YES;

    /* the whole request is here */
    if (rq->early_status) {
        http_error(&rq->rs, rq->early_status, "%s", rq->early_message);
        return queue_response(rq);
    }
    if (rq->route->upload) {
        /* authorised on the first call */
        if (rq->refused)
            return queue_response(rq);
        if (rq->body_too_big) {
            upload_too_big(rq);
            return queue_response(rq);
        }
        if (!upload_finish(rq))
            return queue_response(rq);
    } else if (rq->body_too_big) {
        http_error(&rq->rs, 413, "request body larger than %zu bytes", rq->max_body);
        return queue_response(rq);
    } else if (!authorize(rq)) {
        return queue_response(rq);
    }
    rq->route->handler(rq, &rq->rs);
    /* a deferred request is answered by the call after its resumption, even
     * when it was completed before the handler returned: the connection is
     * suspended until then and must not get a response now */
    if (rq->deferred)
        return MHD_YES;
    return queue_response(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct http_request *rq = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (!rq)
        return;
    pthread_mutex_lock(&deferred_lock);
    if (rq->deferred && !rq->deferred->done) {
        rq->deferred->done = true;
        unlist(rq->deferred);
    }
    pthread_mutex_unlock(&deferred_lock);
    request_free(rq);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    log_debug("http: %s", line);
}

int http_start(struct server *srv, const struct http_options *opt, struct http **out, char *err, size_t errlen)
{
    struct http *h = calloc(1, sizeof(*h));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

    *out = NULL;
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    h->srv = srv;
    if (opt->cert_pem && opt->key_pem)
        flags |= MHD_USE_TLS;
    timer_stop = false;
    if (pthread_create(&h->timer, NULL, timer_main, NULL) != 0) {
        free(h);
        snprintf(err, errlen, "cannot start the long-poll timer thread");
        return -EAGAIN;
    }
    h->timer_running = true;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, opt->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, opt->threads ? opt->threads : 4u, MHD_OPTION_CONNECTION_LIMIT,
        opt->max_connections ? opt->max_connections : 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        opt->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, opt->cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, opt->key_pem, MHD_OPTION_END);
    if (!h->daemon) {
        http_stop(h);
        snprintf(err, errlen, "cannot start the HTTPS server (libmicrohttpd refused its options)");
        return -EINVAL;
    }
    *out = h;
    return 0;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    if (h->timer_running) {
        pthread_mutex_lock(&deferred_lock);
        timer_stop = true;
        /* answer every waiting long poll before the daemon goes */
        for (struct http_deferred *d = deferred_list, *nd; d; d = nd) {
            nd = d->next;
            if (d->on_timeout)
                d->on_timeout(&d->rq->rs, d->ctx);
            d->done = true;
            d->rq->state = RQ_READY;
            MHD_resume_connection(d->rq->conn);
        }
        deferred_list = NULL;
        pthread_cond_signal(&deferred_cond);
        pthread_mutex_unlock(&deferred_lock);
        pthread_join(h->timer, NULL);
    }
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    free(h);
}
