/*
 * channel.c — HTTPS requests to the server and the channel's shared state
 * (see channel.h).
 */
#include "agent/channel.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

struct channel {
    struct agent_conf conf;
    char *ca_pem;
    size_t ca_len;
    char auth[AGENTCONF_ID_MAX + AGENTCONF_SECRET_MAX + 16];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;                  /* under lock; also read atomically */
    struct channel_status st;   /* under lock */
    struct channel_health health;
    char pins[1024];            /* under lock: see channel_pin */
};

const char *link_state_name(enum link_state s)
{
    switch (s) {
    case LINK_CONNECTING: return "connecting";
    case LINK_UP: return "up";
    case LINK_DOWN: return "down";
    case LINK_UNAUTHORIZED: return "unauthorized";
    case LINK_REJECTED: return "rejected";
    }
    return "unknown";
}

uint64_t channel_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int channel_global_init(char *err, size_t errlen)
{
    CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
    const curl_version_info_data *v;

    if (c != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(c));
        return -EIO;
    }
    v = curl_version_info(CURLVERSION_NOW);
    if (!v || v->version_num < 0x074d00 || !(v->features & CURL_VERSION_SSL)) {
        snprintf(err, errlen, "libcurl %s is too old or has no TLS (7.77 with TLS is needed)", v ? v->version : "?");
        curl_global_cleanup();
        return -ENOTSUP;
    }
    return 0;
}

void channel_global_cleanup(void)
{
    curl_global_cleanup();
}

/* ------------------------------------------------------------ one request */

struct sink {
    char *buf;
    size_t len, cap;
    bool too_big;
    CURL *h;                            /* for the status of a streamed answer */
    const struct channel_stream *stream; /* NULL: everything into buf */
    bool aborted;                       /* a stream callback aborted the request */
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    size_t add = size * n;

    if (s->stream && s->stream->write) {
        long status = 0;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            if (s->stream->write(p, add, s->stream->ctx) != 0) {
                s->aborted = true;
                return 0;
            }
            return add;
        }
    }
    if (s->len + add > CHANNEL_REPLY_MAX) {
        s->too_big = true;
        return 0;
    }
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *nb;
        while (cap < s->len + add + 1)
            cap *= 2;
        nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const struct https_request *rq = ctx;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    if (rq->stream && rq->stream->cancelled && rq->stream->cancelled(rq->stream->ctx))
        return 1;
    return rq->progress ? rq->progress(rq->progress_ctx) : 0;
}

/* The body of a streamed request, from the caller's read callback. */
static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    size_t got = s->stream->read(buf, size * n, s->stream->ctx);

    if (got == CHANNEL_STREAM_ABORT) {
        s->aborted = true;
        return CURL_READFUNC_ABORT;
    }
    return got;
}

static int errno_of(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL: return -EPROTO;
    case CURLE_ABORTED_BY_CALLBACK: return -ECANCELED;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return -ECONNRESET;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    default: return -EIO;
    }
}

void channel_error_message(const char *body, size_t len, char *out, size_t outlen)
{
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *msg = json_object_get(json_object_get(root, "error"), "message");
    const char *text = json_is_string(msg) ? json_string_value(msg) : NULL;
    size_t n = 0;

    if (!outlen)
        return;
    if (!text) {
        text = body ? body : "";
        len = body ? len : 0;
    } else {
        len = strlen(text);
    }
    /* printable text only, cut to fit */
    for (size_t i = 0; i < len && n + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)text[i];
        out[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    out[n] = '\0';
    json_decref(root);
}

int https_call(void **handle, const struct https_request *rq, struct https_reply *rp)
{
    CURL *h = *handle;
    struct curl_slist *hdrs = NULL, *pins = NULL;
    struct sink sink = {.stream = rq->stream};
    struct curl_blob ca = {.data = (void *)rq->ca_pem, .len = rq->ca_len, .flags = CURL_BLOB_COPY};
    char errbuf[CURL_ERROR_SIZE] = "", line[AGENTCONF_ID_MAX + AGENTCONF_SECRET_MAX + 64];
    CURLcode c;
    curl_off_t retry = 0;
    int e = 0;

    memset(rp, 0, sizeof(*rp));
    if (!h) {
        h = curl_easy_init();
        if (!h) {
            snprintf(rp->error, sizeof(rp->error), "cannot create an HTTP handle");
            return -ENOMEM;
        }
        *handle = h;
    } else {
        curl_easy_reset(h); /* keeps the connection and the TLS session for the next request */
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    /* a streamed upload waits for the server's go-ahead, so a refusal (413)
     * comes back as an answer rather than a reset in the middle of the body */
    hdrs = curl_slist_append(hdrs, rq->stream && rq->stream->read ? "Expect: 100-continue" : "Expect:");
    if (rq->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (rq->authorization) {
        snprintf(line, sizeof(line), "Authorization: %s", rq->authorization);
        hdrs = curl_slist_append(hdrs, line);
        explicit_bzero(line, sizeof(line));
    }
    if (!hdrs) {
        snprintf(rp->error, sizeof(rp->error), "out of memory");
        return -ENOMEM;
    }
    sink.h = h;
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "yamori-agent/" YAMORI_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    /* trust the pinned CA and nothing else, and check the host name */
    curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_PROXY, rq->proxy ? rq->proxy : "");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->timeout_s > 0 ? rq->timeout_s : 60L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq);
    if (strcmp(rq->method, "POST") == 0 && rq->stream && rq->stream->read) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &sink);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->stream->body_len);
    } else if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    /* '+': like resolved entries, they age out once no longer given */
    for (const char *p = rq->resolve ? rq->resolve : ""; *p;) {
        size_t n = strcspn(p, "\n");
        char pin[1100];
        if (n && n < sizeof(pin) - 2) {
            snprintf(pin, sizeof(pin), "+%.*s", (int)n, p);
            pins = curl_slist_append(pins, pin);
        }
        p += n + (p[n] ? 1 : 0);
    }
    if (pins)
        curl_easy_setopt(h, CURLOPT_RESOLVE, pins);
    c = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_RESOLVE, NULL);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(pins);
    if (c != CURLE_OK) {
        e = sink.too_big ? -EMSGSIZE : sink.aborted ? -ECANCELED : errno_of(c);
        if (sink.too_big)
            snprintf(rp->error, sizeof(rp->error), "the server's answer is larger than %u bytes", CHANNEL_REPLY_MAX);
        else if (sink.aborted)
            snprintf(rp->error, sizeof(rp->error), "the transfer was stopped by the agent");
        else
            snprintf(rp->error, sizeof(rp->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(c));
        free(sink.buf);
        return e;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rp->status);
    if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
        rp->retry_after_s = retry > 86400 ? 86400 : (long)retry;
    rp->body = sink.buf;
    rp->len = sink.len;
    if (rp->status >= 400)
        channel_error_message(rp->body, rp->len, rp->error, sizeof(rp->error));
    return 0;
}

void https_reply_free(struct https_reply *rp)
{
    if (!rp)
        return;
    free(rp->body);
    rp->body = NULL;
    rp->len = 0;
}

void https_handle_free(void *handle)
{
    if (handle)
        curl_easy_cleanup(handle);
}

/* ------------------------------------------------------------ the channel */

int channel_new(struct channel **out, const struct agent_conf *conf, char *err, size_t errlen)
{
    struct channel *c = calloc(1, sizeof(*c));
    char secret[AGENTCONF_SECRET_MAX + 1];
    pthread_condattr_t ca;
    int e;

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->conf = *conf;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    e = agentconf_read_ca(conf->ca_file, &c->ca_pem, &c->ca_len, err, errlen);
    if (e)
        goto fail;
    e = agentconf_read_secret(conf->secret_file, secret, sizeof(secret), err, errlen);
    if (e)
        goto fail;
    snprintf(c->auth, sizeof(c->auth), "Device %s:%s", conf->device_id, secret);
    explicit_bzero(secret, sizeof(secret));
    c->st.link = LINK_CONNECTING;
    *out = c;
    return 0;
fail:
    channel_free(c);
    return e;
}

void channel_free(struct channel *c)
{
    if (!c)
        return;
    explicit_bzero(c->auth, sizeof(c->auth));
    free(c->ca_pem);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

const struct agent_conf *channel_conf(const struct channel *c)
{
    return &c->conf;
}

bool channel_stopping(struct channel *c)
{
    return __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);
}

static int abort_when_stopping(void *ctx)
{
    return channel_stopping(ctx) ? 1 : 0;
}

/* The request of channel_call and channel_call_stream. */
static int call(struct channel *c, void **handle, const char *method, const char *path, const char *content_type,
                const void *body, size_t len, const struct channel_stream *s, long timeout_s, struct https_reply *rp)
{
    char url[AGENTCONF_URL_MAX + 256], pins[sizeof(c->pins)];
    size_t n = strlen(c->conf.server_url);
    struct https_request rq = {
        .url = url,
        .method = method,
        .content_type = content_type,
        .body = body,
        .body_len = len,
        .authorization = c->auth,
        .ca_pem = c->ca_pem,
        .ca_len = c->ca_len,
        .proxy = c->conf.proxy,
        .resolve = pins,
        .timeout_s = timeout_s ? timeout_s : 60,
        .progress = abort_when_stopping,
        .progress_ctx = c,
        .stream = s,
    };

    pthread_mutex_lock(&c->lock);
    memcpy(pins, c->pins, sizeof(pins));
    pthread_mutex_unlock(&c->lock);
    /* the server URL may end with a slash; path starts with one */
    while (n && c->conf.server_url[n - 1] == '/')
        n--;
    snprintf(url, sizeof(url), "%.*s%s", (int)n, c->conf.server_url, path);
    return https_call(handle, &rq, rp);
}

int channel_call(struct channel *c, void **handle, const char *method, const char *path, const char *content_type,
                 const void *body, size_t len, long timeout_s, struct https_reply *rp)
{
    return call(c, handle, method, path, content_type, body, len, NULL, timeout_s, rp);
}

int channel_call_stream(struct channel *c, void **handle, const char *method, const char *path,
                        const char *content_type, const struct channel_stream *s, long timeout_s,
                        struct https_reply *rp)
{
    return call(c, handle, method, path, content_type, NULL, 0, s, timeout_s, rp);
}

static int severity(enum link_state s)
{
    switch (s) {
    case LINK_CONNECTING: return 0;
    case LINK_UP: return 1;
    case LINK_DOWN: return 2;
    case LINK_REJECTED: return 3;
    case LINK_UNAUTHORIZED: return 4;
    }
    return 0;
}

enum link_state channel_note(struct channel *c, enum channel_path path, int e, const struct https_reply *rp)
{
    static const char *const what[CHAN_PATHS] = {"uploading events", "heartbeat", "command poll", "command result"};
    enum link_state s, before, worst = LINK_CONNECTING;
    char msg[512] = "";

    if (e == -ECANCELED || path >= CHAN_PATHS)
        return LINK_CONNECTING;
    if (e) {
        s = LINK_DOWN;
        snprintf(msg, sizeof(msg), "%s: cannot reach %.200s: %.240s", what[path], c->conf.server_url, rp->error);
    } else if (rp->status >= 200 && rp->status < 300) {
        s = LINK_UP;
    } else if (rp->status == 401 || rp->status == 403) {
        s = LINK_UNAUTHORIZED;
        snprintf(msg, sizeof(msg), "%s: the server refused this device's credentials (%ld: %.380s)", what[path],
                 rp->status, rp->error);
    } else if (rp->status >= 500 || rp->status == 429 || rp->status == 408) {
        s = LINK_DOWN;
        snprintf(msg, sizeof(msg), "%s: the server failed (%ld: %.400s)", what[path], rp->status, rp->error);
    } else {
        s = LINK_REJECTED;
        snprintf(msg, sizeof(msg), "%s: the server refused the request (%ld: %.400s)", what[path], rp->status,
                 rp->error);
    }
    pthread_mutex_lock(&c->lock);
    before = c->st.path[path];
    c->st.path[path] = s;
    for (int i = 0; i < CHAN_PATHS; i++)
        if (severity(c->st.path[i]) > severity(worst))
            worst = c->st.path[i];
    if (worst == LINK_UP && c->st.link != LINK_UP)
        log_info("connected to %s", c->conf.server_url);
    c->st.link = worst;
    if (msg[0]) {
        snprintf(c->st.link_error, sizeof(c->st.link_error), "%s", msg);
        c->st.link_error_ns = channel_now_ns();
    }
    pthread_mutex_unlock(&c->lock);
    if (s != before && msg[0])
        log_warn("%s", msg);
    else if (s != before && before != LINK_CONNECTING)
        log_info("%s: working again", what[path]);
    else if (msg[0])
        log_debug("%s", msg);
    return s;
}

void channel_stop(struct channel *c)
{
    pthread_mutex_lock(&c->lock);
    __atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

bool channel_sleep(struct channel *c, uint64_t ms)
{
    struct timespec ts;
    bool stopping;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    while (!c->stop && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
        ;
    stopping = c->stop;
    pthread_mutex_unlock(&c->lock);
    return !stopping;
}

void channel_pin(struct channel *c, const char *pins)
{
    pthread_mutex_lock(&c->lock);
    snprintf(c->pins, sizeof(c->pins), "%s", pins ? pins : "");
    pthread_mutex_unlock(&c->lock);
}

void channel_publish_health(struct channel *c, const struct channel_health *h)
{
    pthread_mutex_lock(&c->lock);
    c->health = *h;
    pthread_mutex_unlock(&c->lock);
}

void channel_get_health(struct channel *c, struct channel_health *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->health;
    pthread_mutex_unlock(&c->lock);
}

void channel_get_status(struct channel *c, struct channel_status *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    pthread_mutex_unlock(&c->lock);
}

void channel_update(struct channel *c, void (*fn)(struct channel_status *st, void *ctx), void *ctx)
{
    pthread_mutex_lock(&c->lock);
    fn(&c->st, ctx);
    pthread_mutex_unlock(&c->lock);
}
