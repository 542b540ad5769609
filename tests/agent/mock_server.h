/*
 * mock_server.h — for the agent's tests: a small decoder of event batches
 * (docs/wire.md), a certificate authority made on the spot (OpenSSL), and
 * a small HTTPS server (libmicrohttpd) that answers the agent channel's
 * routes the way the real server does: batches decoded, checked and
 * acknowledged (duplicates counted, gaps counted), heartbeats kept,
 * commands handed out and their results kept, enrolment answered; for
 * live response, a command's streamed output (in order, by seq), the files
 * uploaded for a command and a library of files to fetch. Its behaviour
 * can be turned: fail the next N batches (or output requests) with 503,
 * refuse batches holding one seq with 400, hand commands out again and
 * again, ask one command to cancel, refuse files above a size (413).
 *
 * Header-only (static functions): included by the test files of
 * tests/agent/ that need it.
 */
#ifndef YAMORI_TESTS_AGENT_MOCK_SERVER_H
#define YAMORI_TESTS_AGENT_MOCK_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "agent/spool.h"
#include "common/schema.h"
#include "common/tlv.h"

#define MOCK_FN static __attribute__((unused))

#define DEVICE_ID "0f3c2a51-7d2e-8a41-9b1c-2d3e4f5a6b7c"
#define SECRET "3f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define TOKEN "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

/* ------------------------------------------------------------ a small decoder of docs/wire.md */

struct decoded {
    json_t *header;
    uint64_t seqs[20000];
    size_t n;
    const uint8_t *recs[20000];
    size_t lens[20000];
    uint8_t *plain;
};

MOCK_FN void decoded_free(struct decoded *d)
{
    if (!d)
        return;
    json_decref(d->header);
    free(d->plain);
    free(d);
}

/* Decodes a batch body; NULL with why when it is not a valid batch. */
MOCK_FN struct decoded *decode_batch(const void *body, size_t len, char *why, size_t whylen)
{
    struct decoded *d = calloc(1, sizeof(*d));
    unsigned long long size = ZSTD_getFrameContentSize(body, len);
    const uint8_t *p, *end;
    uint32_t hlen;
    size_t got;

    if (!d)
        return NULL;
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (64u << 20)) {
        snprintf(why, whylen, "not a zstd frame with its size");
        goto bad;
    }
    d->plain = malloc(size ? size : 1);
    got = ZSTD_decompress(d->plain, size, body, len);
    if (ZSTD_isError(got) || got != size) {
        snprintf(why, whylen, "zstd: %s", ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
        goto bad;
    }
    p = d->plain;
    end = p + got;
    if (got < 8 || memcmp(p, "YMB1", 4) != 0) {
        snprintf(why, whylen, "wrong magic");
        goto bad;
    }
    hlen = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    p += 8;
    if (hlen > (size_t)(end - p)) {
        snprintf(why, whylen, "header length");
        goto bad;
    }
    d->header = json_loadb((const char *)p, hlen, 0, NULL);
    if (!json_is_object(d->header)) {
        snprintf(why, whylen, "header is not JSON");
        goto bad;
    }
    p += hlen;
    while (p < end) {
        uint64_t rl;
        struct tlv_field f;
        if (tlv_read_varint(&p, end, &rl) != 0 || rl > (size_t)(end - p) || d->n >= 20000) {
            snprintf(why, whylen, "record %zu: bad length", d->n);
            goto bad;
        }
        if (tlv_find(p, rl, F_SEQ, &f) != 1) {
            snprintf(why, whylen, "record %zu: no Seq", d->n);
            goto bad;
        }
        d->recs[d->n] = p;
        d->lens[d->n] = rl;
        d->seqs[d->n++] = f.u;
        p += rl;
    }
    {
        uint64_t first = (uint64_t)json_integer_value(json_object_get(d->header, "first_seq"));
        uint64_t last = (uint64_t)json_integer_value(json_object_get(d->header, "last_seq"));
        uint64_t count = (uint64_t)json_integer_value(json_object_get(d->header, "count"));
        if (count != d->n || last - first + 1 != count) {
            snprintf(why, whylen, "count %llu, %zu records, %llu..%llu", (unsigned long long)count, d->n,
                     (unsigned long long)first, (unsigned long long)last);
            goto bad;
        }
        for (size_t i = 0; i < d->n; i++)
            if (d->seqs[i] != first + i) {
                snprintf(why, whylen, "record %zu has Seq %llu", i, (unsigned long long)d->seqs[i]);
                goto bad;
            }
    }
    return d;
bad:
    decoded_free(d);
    return NULL;
}

/* ------------------------------------------------------------ certificates */

struct pki {
    EVP_PKEY *ca_key;
    X509 *ca;
    char *ca_pem;
    char fingerprint[80];
};

MOCK_FN char *pem_of_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;
    if (b && PEM_write_bio_X509(b, x) && (n = BIO_get_mem_data(b, &data)) > 0)
        out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

MOCK_FN char *pem_of_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;
    if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) && (n = BIO_get_mem_data(b, &data)) > 0)
        out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

MOCK_FN void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
}

MOCK_FN X509 *new_cert(EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    static long serial = 1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    return x;
}

MOCK_FN int pki_make(struct pki *p, const char *cn)
{
    unsigned char md[32];
    unsigned n = 0;

    memset(p, 0, sizeof(*p));
    p->ca_key = EVP_EC_gen("P-256");
    if (!p->ca_key)
        return -1;
    p->ca = new_cert(p->ca_key, cn);
    X509_set_issuer_name(p->ca, X509_get_subject_name(p->ca));
    add_ext(p->ca, p->ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(p->ca, p->ca, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(p->ca, p->ca, NID_subject_key_identifier, "hash");
    if (!X509_sign(p->ca, p->ca_key, EVP_sha256()))
        return -1;
    p->ca_pem = pem_of_cert(p->ca);
    X509_digest(p->ca, EVP_sha256(), md, &n);
    strcpy(p->fingerprint, "SHA256:");
    for (unsigned i = 0; i < n; i++)
        snprintf(p->fingerprint + 7 + 2 * i, 3, "%02x", md[i]);
    return p->ca_pem ? 0 : -1;
}

/* A server certificate for san ("IP:127.0.0.1"), signed by p. */
MOCK_FN int pki_leaf(struct pki *p, const char *san, char **cert_pem, char **key_pem)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = key ? new_cert(key, "test server") : NULL;
    int e = -1;

    if (!x)
        goto out;
    X509_set_issuer_name(x, X509_get_subject_name(p->ca));
    add_ext(x, p->ca, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, p->ca, NID_ext_key_usage, "serverAuth");
    add_ext(x, p->ca, NID_subject_alt_name, san);
    if (!X509_sign(x, p->ca_key, EVP_sha256()))
        goto out;
    *cert_pem = pem_of_cert(x);
    *key_pem = pem_of_key(key);
    e = *cert_pem && *key_pem ? 0 : -1;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return e;
}

MOCK_FN void pki_free(struct pki *p)
{
    EVP_PKEY_free(p->ca_key);
    X509_free(p->ca);
    free(p->ca_pem);
    memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------ the mock server */

struct mock {
    struct MHD_Daemon *d;
    int port;
    char *cert, *key;
    pthread_mutex_t lock;
    /* behaviour */
    int fail_next;            /* answer 503 to this many batches */
    uint64_t poison;          /* batches holding this seq are refused with 400 */
    bool redeliver;           /* hand out the queued commands again on every poll */
    json_t *commands;         /* array handed to polls */
    char enroll_answer[2048]; /* "" : 401 */
    /* what arrived */
    uint64_t high;            /* highest seq stored */
    uint64_t stored, duplicates, gaps;
    uint64_t order_errors;
    int batches_ok, batches_400, batches_503, bad_auth;
    char decode_error[256];
    uint64_t lost_rejected;   /* sum of "rejected" in headers of accepted batches */
    json_t *last_header;
    json_t *heartbeat;
    int heartbeats;
    json_t *results;          /* object: id -> result */
    unsigned progress_posts;  /* progress reports (not results) */
    int result_posts;
    json_t *enroll_request;
    char marker[64];          /* stored records holding this text are counted ... */
    char marker_action[48];   /* ... when they have this ActionType ("": any) */
    uint64_t marker_hits;
    uint64_t first_seq;       /* the first seq stored */
    struct {
        char name[48];
        uint64_t n;
    } actions[48];            /* stored records by ActionType */
    size_t nactions;
    /* live response */
    struct mock_output {
        int64_t id;
        char *buf;            /* the text, in seq order */
        size_t len;
        uint64_t next_seq;    /* the seq expected next */
        unsigned chunks, repeats, gaps;
    } outputs[16];
    size_t noutputs;
    int fail_output_next;     /* answer 503 to this many output requests */
    int64_t cancel_id;        /* progress and output answers ask this command to cancel */
    struct mock_blob {
        char name[160];       /* files: the command id; library: the file's name */
        char *buf;
        size_t len;
    } files[16], library[16];
    size_t nfiles, nlibrary;
    size_t max_file_bytes;    /* an upload above: 413 (0: no limit) */
    int library_gets;
};

static struct mock *mock;

struct conn {
    char *buf;
    size_t len, cap;
};

MOCK_FN enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *json)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

MOCK_FN enum MHD_Result on_events(struct mock *m, struct MHD_Connection *c, const struct conn *k)
{
    char why[256] = "", answer[400];
    struct decoded *d = decode_batch(k->buf, k->len, why, sizeof(why));
    uint64_t first, last, stored = 0, dups = 0;
    json_t *lost;

    pthread_mutex_lock(&m->lock);
    if (!d) {
        snprintf(m->decode_error, sizeof(m->decode_error), "%s", why);
        m->batches_400++;
        pthread_mutex_unlock(&m->lock);
        snprintf(answer, sizeof(answer), "{\"error\":{\"code\":400,\"message\":\"%s\"}}", why);
        return reply(c, 400, answer);
    }
    if (strcmp(json_string_value(json_object_get(d->header, "device_id")) ?: "", DEVICE_ID) != 0) {
        pthread_mutex_unlock(&m->lock);
        decoded_free(d);
        return reply(c, 403, "{\"error\":{\"code\":403,\"message\":\"another device\"}}");
    }
    if (m->fail_next > 0) {
        m->fail_next--;
        m->batches_503++;
        pthread_mutex_unlock(&m->lock);
        decoded_free(d);
        return reply(c, 503, "{\"error\":{\"code\":503,\"message\":\"store busy\"}}");
    }
    first = d->seqs[0];
    last = d->seqs[d->n - 1];
    if (m->poison && m->poison >= first && m->poison <= last) {
        m->batches_400++;
        pthread_mutex_unlock(&m->lock);
        decoded_free(d);
        return reply(c, 400, "{\"error\":{\"code\":400,\"message\":\"record with a bad field\"}}");
    }
    for (size_t i = 0; i < d->n; i++) {
        struct tlv_field f;
        if (d->seqs[i] <= m->high) {
            dups++;
            continue;
        }
        if (!m->first_seq)
            m->first_seq = d->seqs[i];
        if (m->marker[0] && memmem(d->recs[i], d->lens[i], m->marker, strlen(m->marker)) &&
            (!m->marker_action[0] || (tlv_find(d->recs[i], d->lens[i], F_ACTION_TYPE, &f) == 1 &&
                                      f.n == strlen(m->marker_action) && memcmp(f.s, m->marker_action, f.n) == 0)))
            m->marker_hits++;
        if (tlv_find(d->recs[i], d->lens[i], F_ACTION_TYPE, &f) == 1 && f.n < sizeof(m->actions[0].name)) {
            size_t a;
            for (a = 0; a < m->nactions; a++)
                if (strlen(m->actions[a].name) == f.n && memcmp(m->actions[a].name, f.s, f.n) == 0)
                    break;
            if (a == m->nactions && a < sizeof(m->actions) / sizeof(m->actions[0])) {
                memcpy(m->actions[a].name, f.s, f.n);
                m->actions[a].name[f.n] = '\0';
                m->nactions++;
            }
            if (a < m->nactions)
                m->actions[a].n++;
        }
        if (m->high && d->seqs[i] != m->high + 1)
            m->gaps += d->seqs[i] - m->high - 1;
        m->high = d->seqs[i];
        stored++;
    }
    m->stored += stored;
    m->duplicates += dups;
    m->batches_ok++;
    lost = json_object_get(d->header, "lost");
    if (json_is_integer(json_object_get(lost, "rejected")))
        m->lost_rejected += (uint64_t)json_integer_value(json_object_get(lost, "rejected"));
    json_decref(m->last_header);
    m->last_header = json_incref(d->header);
    pthread_mutex_unlock(&m->lock);
    snprintf(answer, sizeof(answer), "{\"acked_seq\":%llu,\"stored\":%llu,\"duplicates\":%llu}",
             (unsigned long long)last, (unsigned long long)stored, (unsigned long long)dups);
    decoded_free(d);
    return reply(c, 200, answer);
}

/* POST .../output?seq=N: in order from 0; a repeated seq is acknowledged
 * and ignored, a gap refused (409), as docs/live.md says. */
MOCK_FN enum MHD_Result on_output(struct mock *m, struct MHD_Connection *c, const struct conn *k, int64_t id)
{
    const char *seqs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seq");
    struct mock_output *o = NULL;
    unsigned long long seq;
    char answer[160], *end = NULL;
    bool cancel;

    if (!seqs || !*seqs || (seq = strtoull(seqs, &end, 10), *end))
        return reply(c, 400, "{\"error\":{\"code\":400,\"message\":\"seq is missing\"}}");
    pthread_mutex_lock(&m->lock);
    if (m->fail_output_next > 0) {
        m->fail_output_next--;
        pthread_mutex_unlock(&m->lock);
        return reply(c, 503, "{\"error\":{\"code\":503,\"message\":\"busy\"}}");
    }
    for (size_t i = 0; i < m->noutputs && !o; i++)
        if (m->outputs[i].id == id)
            o = &m->outputs[i];
    if (!o && m->noutputs < sizeof(m->outputs) / sizeof(m->outputs[0])) {
        o = &m->outputs[m->noutputs++];
        memset(o, 0, sizeof(*o));
        o->id = id;
    }
    if (!o || seq > o->next_seq) {
        if (o)
            o->gaps++;
        pthread_mutex_unlock(&m->lock);
        return reply(c, 409, "{\"error\":{\"code\":409,\"message\":\"a chunk is missing before this one\"}}");
    }
    if (seq < o->next_seq) {
        o->repeats++;
    } else {
        o->buf = realloc(o->buf, o->len + k->len + 1);
        if (k->len)
            memcpy(o->buf + o->len, k->buf, k->len);
        o->len += k->len;
        o->buf[o->len] = '\0';
        o->next_seq++;
        o->chunks++;
    }
    cancel = m->cancel_id == id;
    pthread_mutex_unlock(&m->lock);
    snprintf(answer, sizeof(answer), "{\"id\":%lld,\"seq\":%llu,\"cancel\":%s}", (long long)id, seq,
             cancel ? "true" : "false");
    return reply(c, 200, answer);
}

/* POST .../file: the upload of a command, kept by its id. */
MOCK_FN enum MHD_Result on_file(struct mock *m, struct MHD_Connection *c, const struct conn *k, const char *rest)
{
    char id[32], answer[256];
    struct mock_blob *b = NULL;

    snprintf(id, sizeof(id), "%.*s", (int)strcspn(rest, "/"), rest);
    pthread_mutex_lock(&m->lock);
    if (m->max_file_bytes && k->len > m->max_file_bytes) {
        pthread_mutex_unlock(&m->lock);
        snprintf(answer, sizeof(answer),
                 "{\"error\":{\"code\":413,\"message\":\"a file is at most %zu bytes (max_getfile_bytes)\"}}",
                 m->max_file_bytes);
        return reply(c, 413, answer);
    }
    for (size_t i = 0; i < m->nfiles && !b; i++)
        if (strcmp(m->files[i].name, id) == 0)
            b = &m->files[i];
    if (!b && m->nfiles < sizeof(m->files) / sizeof(m->files[0]))
        b = &m->files[m->nfiles++];
    if (b) {
        free(b->buf);
        snprintf(b->name, sizeof(b->name), "%s", id);
        b->buf = malloc(k->len ? k->len : 1);
        if (k->len)
            memcpy(b->buf, k->buf, k->len);
        b->len = k->len;
    }
    pthread_mutex_unlock(&m->lock);
    snprintf(answer, sizeof(answer), "{\"id\":%s,\"size\":%zu}", id, k->len);
    return reply(c, 200, answer);
}

/* GET /api/v1/agent/library/<name>?command=<id>: the library's bytes. */
MOCK_FN enum MHD_Result on_library(struct mock *m, struct MHD_Connection *c, const char *name)
{
    const char *command = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "command");
    struct MHD_Response *r = NULL;
    enum MHD_Result ret;

    if (!command || !*command)
        return reply(c, 400, "{\"error\":{\"code\":400,\"message\":\"command is missing\"}}");
    pthread_mutex_lock(&m->lock);
    m->library_gets++;
    for (size_t i = 0; i < m->nlibrary && !r; i++)
        if (strcmp(m->library[i].name, name) == 0)
            r = MHD_create_response_from_buffer(m->library[i].len, m->library[i].buf, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&m->lock);
    if (!r)
        return reply(c, 404, "{\"error\":{\"code\":404,\"message\":\"the library has no such file\"}}");
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* Adds a file to the mock's library. */
MOCK_FN void mock_library_put(struct mock *m, const char *name, const void *data, size_t len)
{
    struct mock_blob *b;

    pthread_mutex_lock(&m->lock);
    if (m->nlibrary < sizeof(m->library) / sizeof(m->library[0])) {
        b = &m->library[m->nlibrary++];
        snprintf(b->name, sizeof(b->name), "%s", name);
        b->buf = malloc(len ? len : 1);
        if (len)
            memcpy(b->buf, data, len);
        b->len = len;
    }
    pthread_mutex_unlock(&m->lock);
}

/* A copy of the streamed output of command id (NULL when none arrived);
 * *len its length, *chunks the chunks taken (may be NULL). */
MOCK_FN char *mock_output_of(struct mock *m, int64_t id, size_t *len, unsigned *chunks)
{
    char *copy = NULL;

    *len = 0;
    if (chunks)
        *chunks = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->noutputs; i++)
        if (m->outputs[i].id == id) {
            copy = malloc(m->outputs[i].len + 1);
            memcpy(copy, m->outputs[i].buf ? m->outputs[i].buf : "", m->outputs[i].len);
            copy[m->outputs[i].len] = '\0';
            *len = m->outputs[i].len;
            if (chunks)
                *chunks = m->outputs[i].chunks;
        }
    pthread_mutex_unlock(&m->lock);
    return copy;
}

/* A copy of the file uploaded for command id (NULL when none). */
MOCK_FN char *mock_file_of(struct mock *m, int64_t id, size_t *len)
{
    char key[32], *copy = NULL;

    snprintf(key, sizeof(key), "%lld", (long long)id);
    *len = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfiles; i++)
        if (strcmp(m->files[i].name, key) == 0) {
            copy = malloc(m->files[i].len + 1);
            memcpy(copy, m->files[i].buf, m->files[i].len);
            copy[m->files[i].len] = '\0';
            *len = m->files[i].len;
        }
    pthread_mutex_unlock(&m->lock);
    return copy;
}

MOCK_FN enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls)
{
    struct mock *m = cls;
    struct conn *k = *con_cls;
    const char *auth;
    enum MHD_Result r;

    (void)version;
    if (!k) {
        const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        size_t flen = strlen(url);
        /* an upload above the limit is refused before its body, as the server does */
        if (flen > 5 && strcmp(url + flen - 5, "/file") == 0 && m->max_file_bytes && clen &&
            strtoull(clen, NULL, 10) > m->max_file_bytes) {
            char answer[200];
            snprintf(answer, sizeof(answer),
                     "{\"error\":{\"code\":413,\"message\":\"a file is at most %zu bytes (max_getfile_bytes)\"}}",
                     m->max_file_bytes);
            return reply(c, 413, answer);
        }
        k = calloc(1, sizeof(*k));
        *con_cls = k;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (k->len + *upload_data_size > k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 65536;
            while (cap < k->len + *upload_data_size)
                cap *= 2;
            k->buf = realloc(k->buf, cap);
            k->cap = cap;
        }
        memcpy(k->buf + k->len, upload_data, *upload_data_size);
        k->len += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/api/v1/agent/enroll") == 0 && strcmp(method, "POST") == 0) {
        pthread_mutex_lock(&m->lock);
        json_decref(m->enroll_request);
        m->enroll_request = json_loadb(k->buf ? k->buf : "", k->len, 0, NULL);
        pthread_mutex_unlock(&m->lock);
        if (!m->enroll_answer[0])
            return reply(c, 401, "{\"error\":{\"code\":401,\"message\":\"the onboarding token has expired\"}}");
        return reply(c, 200, m->enroll_answer);
    }
    auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strcmp(auth, "Device " DEVICE_ID ":" SECRET) != 0) {
        pthread_mutex_lock(&m->lock);
        m->bad_auth++;
        pthread_mutex_unlock(&m->lock);
        return reply(c, 401, "{\"error\":{\"code\":401,\"message\":\"unknown device\"}}");
    }
    if (strcmp(url, "/api/v1/agent/events") == 0 && strcmp(method, "POST") == 0)
        return on_events(m, c, k);
    if (strcmp(url, "/api/v1/agent/heartbeat") == 0 && strcmp(method, "POST") == 0) {
        pthread_mutex_lock(&m->lock);
        json_decref(m->heartbeat);
        m->heartbeat = json_loadb(k->buf ? k->buf : "", k->len, 0, NULL);
        m->heartbeats++;
        pthread_mutex_unlock(&m->lock);
        return reply(c, 200, "{\"heartbeat_seconds\":30}");
    }
    if (strcmp(url, "/api/v1/agent/commands") == 0 && strcmp(method, "GET") == 0) {
        char *text;
        pthread_mutex_lock(&m->lock);
        if (!m->commands || json_array_size(m->commands) == 0) {
            pthread_mutex_unlock(&m->lock);
            usleep(200000); /* a short long poll */
            return reply(c, 200, "{\"commands\":[]}");
        }
        {
            json_t *o = json_pack("{s:O}", "commands", m->commands);
            text = json_dumps(o, JSON_COMPACT);
            json_decref(o);
        }
        if (!m->redeliver)
            json_array_clear(m->commands);
        pthread_mutex_unlock(&m->lock);
        r = reply(c, 200, text);
        free(text);
        return r;
    }
    if (strncmp(url, "/api/v1/agent/commands/", 23) == 0 && strcmp(method, "POST") == 0 &&
        strlen(url) > 9 && strcmp(url + strlen(url) - 9, "/progress") == 0) {
        /* progress of a running command (the agent posts "started" first) */
        bool cancel;
        pthread_mutex_lock(&m->lock);
        m->progress_posts++;
        cancel = m->cancel_id && m->cancel_id == strtoll(url + 23, NULL, 10);
        pthread_mutex_unlock(&m->lock);
        return reply(c, 200, cancel ? "{\"cancel\":true}" : "{\"cancel\":false}");
    }
    if (strncmp(url, "/api/v1/agent/commands/", 23) == 0 && strcmp(method, "POST") == 0 &&
        strlen(url) > 7 && strcmp(url + strlen(url) - 7, "/output") == 0)
        return on_output(m, c, k, strtoll(url + 23, NULL, 10));
    if (strncmp(url, "/api/v1/agent/commands/", 23) == 0 && strcmp(method, "POST") == 0 &&
        strlen(url) > 5 && strcmp(url + strlen(url) - 5, "/file") == 0)
        return on_file(m, c, k, url + 23);
    if (strncmp(url, "/api/v1/agent/library/", 22) == 0 && strcmp(method, "GET") == 0)
        return on_library(m, c, url + 22);
    if (strncmp(url, "/api/v1/agent/commands/", 23) == 0 && strcmp(method, "POST") == 0) {
        char id[32];
        snprintf(id, sizeof(id), "%.*s", (int)strcspn(url + 23, "/"), url + 23);
        pthread_mutex_lock(&m->lock);
        json_object_set_new(m->results, id, json_loadb(k->buf ? k->buf : "", k->len, 0, NULL));
        m->result_posts++;
        pthread_mutex_unlock(&m->lock);
        return reply(c, 200, "{\"recorded\":true}");
    }
    return reply(c, 404, "{\"error\":{\"code\":404,\"message\":\"no such route\"}}");
}

MOCK_FN void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    struct conn *k = *con_cls;
    (void)cls;
    (void)c;
    (void)t;
    if (k) {
        free(k->buf);
        free(k);
        *con_cls = NULL;
    }
}

/* Stored records of an ActionType. */
MOCK_FN uint64_t mock_action_count(struct mock *m, const char *action)
{
    uint64_t n = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t k = 0; k < m->nactions; k++)
        if (strcmp(m->actions[k].name, action) == 0)
            n = m->actions[k].n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* The server goes away (its port stays reserved in m->port) ... */
MOCK_FN void mock_pause(struct mock *m)
{
    if (m->d)
        MHD_stop_daemon(m->d);
    m->d = NULL;
}

/* ... and comes back on the same port. */
MOCK_FN bool mock_resume(struct mock *m)
{
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS,
                            (uint16_t)m->port, NULL, NULL, handler, m, MHD_OPTION_HTTPS_MEM_KEY, m->key,
                            MHD_OPTION_HTTPS_MEM_CERT, m->cert, MHD_OPTION_NOTIFY_COMPLETED, completed, m,
                            MHD_OPTION_END);
    return m->d != NULL;
}

MOCK_FN void mock_stop(void)
{
    if (!mock)
        return;
    if (mock->d)
        MHD_stop_daemon(mock->d);
    free(mock->cert);
    free(mock->key);
    json_decref(mock->commands);
    json_decref(mock->last_header);
    json_decref(mock->heartbeat);
    json_decref(mock->results);
    json_decref(mock->enroll_request);
    for (size_t i = 0; i < mock->noutputs; i++)
        free(mock->outputs[i].buf);
    for (size_t i = 0; i < mock->nfiles; i++)
        free(mock->files[i].buf);
    for (size_t i = 0; i < mock->nlibrary; i++)
        free(mock->library[i].buf);
    pthread_mutex_destroy(&mock->lock);
    free(mock);
    mock = NULL;
}

/* Starts the mock with a certificate for san signed by p. */
MOCK_FN struct mock *mock_start(struct pki *p, const char *san)
{
    struct mock *m = calloc(1, sizeof(*m));
    const union MHD_DaemonInfo *info;

    if (!m)
        return NULL;
    mock = m;
    pthread_mutex_init(&m->lock, NULL);
    m->commands = json_array();
    m->results = json_object();
    if (pki_leaf(p, san, &m->cert, &m->key) != 0)
        return NULL;
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS, 0, NULL,
                            NULL, handler, m, MHD_OPTION_HTTPS_MEM_KEY, m->key, MHD_OPTION_HTTPS_MEM_CERT, m->cert,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, m, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    if (!m->d)
        return NULL;
    info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : 0;
    return m->port ? m : NULL;
}

#endif
