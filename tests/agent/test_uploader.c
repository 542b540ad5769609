/*
 * test_uploader.c — the agent's channel without the real server: the exact
 * bytes of an event batch (decoded here by a small decoder of docs/wire.md
 * and compared with what was spooled), the backoff, and the uploader,
 * heartbeat, command and enrolment code against a small HTTPS server run
 * in this process (libmicrohttpd with a certificate authority made here):
 * every event delivered once and in order; an outage with 503s and the
 * catch-up after it; a refused record found by halving and quarantined;
 * the CA pinned and the host name checked; a ping answered once by id;
 * an unknown command type refused; a long scan run on a worker while a
 * ping is answered, stopped with the agent and not run again after; at
 * most COMMANDS_LONG_WORKERS long commands at once, the others queued and
 * run after a restart when they never started; enrolment writing its
 * files, refusing damaged packages, and offboarding. No root needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "agent/agentconf.h"
#include "agent/channel.h"
#include "agent/commands.h"
#include "agent/enroll.h"
#include "agent/heartbeat.h"
#include "agent/spool.h"
#include "agent/uploader.h"
#include "check.h"
#include "common/schema.h"
#include "common/tlv.h"
#include "mock_server.h"

static char dir[256];

/* ------------------------------------------------------------ the agent's side */

static struct spool *spool;
static struct channel *chan;
static struct uploader *up;
static struct heartbeat *hb;
static struct commands *cmds;
static struct pki pki, other_pki;
static bool curl_ready;

static void teardown(void)
{
    if (chan)
        channel_stop(chan);
    uploader_stop(up);
    heartbeat_stop(hb);
    commands_stop(cmds);
    up = NULL;
    hb = NULL;
    cmds = NULL;
    channel_free(chan);
    chan = NULL;
    spool_close(spool);
    spool = NULL;
    mock_stop();
    pki_free(&pki);
    pki_free(&other_pki);
    if (dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        (void)!system(cmd);
        dir[0] = '\0';
    }
}

static bool setup_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/yamori-upl.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        return false;
    }
    return true;
}

static bool write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0)
        close(fd);
    chmod(path, mode);
    return ok;
}

/* An agent configuration pointing at the mock, trusting ca_pem. */
static bool make_conf(struct agent_conf *c, const char *ca_pem, int port, const char *host)
{
    agentconf_defaults(c);
    snprintf(c->server_url, sizeof(c->server_url), "https://%s:%d", host, port);
    snprintf(c->device_id, sizeof(c->device_id), "%s", DEVICE_ID);
    snprintf(c->ca_file, sizeof(c->ca_file), "%s/ca.pem", dir);
    snprintf(c->secret_file, sizeof(c->secret_file), "%s/device.secret", dir);
    return write_text(c->ca_file, ca_pem, 0644) && write_text(c->secret_file, SECRET "\n", 0600);
}

static int open_test_spool_quota(uint64_t segment_bytes, uint64_t max_bytes)
{
    char sd[300], err[512];
    struct spool_options o = {.segment_bytes = segment_bytes, .max_bytes = max_bytes};
    snprintf(sd, sizeof(sd), "%s/spool", dir);
    o.dir = sd;
    return spool_open(&spool, &o, err, sizeof(err));
}

static int open_test_spool(uint64_t segment_bytes)
{
    return open_test_spool_quota(segment_bytes, 0);
}

static uint64_t append(const char *action, size_t pad)
{
    struct tlv_buf b;
    char padding[2048];
    uint64_t q = spool_next_seq(spool);

    tlv_init(&b);
    memset(padding, 'p', sizeof(padding));
    tlv_put_time(&b, F_TIMESTAMP, 1764151920000000000ull + q);
    tlv_put_cstr_opt(&b, F_EVENT_TYPE, "process");
    tlv_put_cstr_opt(&b, F_ACTION_TYPE, action);
    tlv_put_uint(&b, F_SEQ, q);
    tlv_put_str(&b, F_PROCESS_COMMAND_LINE, padding, pad < sizeof(padding) ? pad : sizeof(padding));
    if (spool_append(spool, q, b.data, b.len) != 0)
        q = 0;
    tlv_free(&b);
    return q;
}

static bool start_channel(struct agent_conf *conf, const struct uploader_options *uo)
{
    char err[512];
    if (!curl_ready) {
        if (channel_global_init(err, sizeof(err)) != 0)
            return false;
        curl_ready = true;
    }
    if (channel_new(&chan, conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "channel_new: %s\n", err);
        return false;
    }
    if (uo && uploader_start(&up, chan, spool, uo, err, sizeof(err)) != 0)
        return false;
    return true;
}

static uint64_t mock_high(void)
{
    uint64_t h;
    pthread_mutex_lock(&mock->lock);
    h = mock->high;
    pthread_mutex_unlock(&mock->lock);
    return h;
}

static bool wait_high(uint64_t seq, int seconds)
{
    for (int i = 0; i < seconds * 50; i++) {
        if (mock_high() >= seq)
            return true;
        usleep(20000);
    }
    return false;
}

/* ------------------------------------------------------------ cases */

static void batch_wire_bytes(void)
{
    struct uploader_batch *b = NULL;
    struct tlv_buf rec;
    struct spool_loss *lost = calloc(1, sizeof(*lost));
    struct batch_header h = {.device_id = DEVICE_ID, .sensor_backend = "ebpf"};
    struct decoded *d = NULL;
    uint64_t first = 0;
    const void *body;
    size_t len;
    char why[256] = "";
    uint8_t *copies[50];
    size_t copy_len[50];

    tlv_init(&rec);
    CHECK(setup_dir() && lost);
    CHECK_INT(open_test_spool(0), ==, 0);
    for (int i = 0; i < 50; i++) {
        uint64_t q = spool_next_seq(spool);
        tlv_reset(&rec);
        tlv_put_time(&rec, F_TIMESTAMP, 1764151920000000000ull + (uint64_t)i);
        tlv_put_cstr_opt(&rec, F_ACTION_TYPE, i % 2 ? "ProcessCreated" : "FileCreated");
        tlv_put_uint(&rec, F_SEQ, q);
        tlv_put_str(&rec, F_FOLDER_PATH, "/usr/bin/\xff\x00x", 12);
        copies[i] = malloc(rec.len);
        memcpy(copies[i], rec.data, rec.len);
        copy_len[i] = rec.len;
        if (!first)
            first = q;
        CHECK_INT(spool_append(spool, q, rec.data, rec.len), ==, 0);
    }
    CHECK_INT(spool_flush(spool), ==, 0);
    CHECK_INT(spool_sync(spool), ==, 0);
    lost->n[SPOOL_LOSS_SENSOR][YS_PROC_EXEC] = 3;
    lost->n[SPOOL_LOSS_QUOTA][YS_PROC_FORK] = 5;
    lost->n[SPOOL_LOSS_QUOTA][YS_PROC_EXIT] = 2;
    h.lost = lost;
    CHECK_INT(uploader_batch_new(&b), ==, 0);
    CHECK_INT(uploader_batch_build(b, spool, first + 9, 30, 1u << 20, &h), ==, 30);
    CHECK_INT(uploader_batch_first(b), ==, first + 10);
    CHECK_INT(uploader_batch_last(b), ==, first + 39);
    body = uploader_batch_body(b, &len);
    d = decode_batch(body, len, why, sizeof(why));
    CHECK_MSG(d, "batch does not decode: %s", why);
    /* the header, field by field */
    CHECK_INT(json_integer_value(json_object_get(d->header, "version")), ==, 1);
    CHECK_STR(json_string_value(json_object_get(d->header, "device_id")), DEVICE_ID);
    CHECK_STR(json_string_value(json_object_get(d->header, "agent_version")), YAMORI_VERSION);
    CHECK_INT(json_integer_value(json_object_get(d->header, "schema_version")), ==, YAM_SCHEMA_VERSION);
    CHECK_STR(json_string_value(json_object_get(d->header, "sensor_backend")), "ebpf");
    CHECK_INT(json_integer_value(json_object_get(d->header, "first_seq")), ==, first + 10);
    CHECK_INT(json_integer_value(json_object_get(d->header, "last_seq")), ==, first + 39);
    CHECK_INT(json_integer_value(json_object_get(d->header, "count")), ==, 30);
    {
        json_t *l = json_object_get(d->header, "lost");
        CHECK(json_is_object(l));
        CHECK_INT(json_integer_value(json_object_get(l, "exec")), ==, 3);
        CHECK_INT(json_integer_value(json_object_get(l, "spool_quota")), ==, 7);
        CHECK_INT(json_object_size(l), ==, 2);
    }
    /* the records: byte for byte what was spooled */
    CHECK_INT(d->n, ==, 30);
    for (size_t i = 0; i < d->n; i++) {
        CHECK_INT(d->lens[i], ==, copy_len[10 + i]);
        CHECK(memcmp(d->recs[i], copies[10 + i], d->lens[i]) == 0);
    }
    /* exactly: magic, length, header, varint-length records, nothing else */
    {
        size_t hlen = (size_t)d->plain[4] | (size_t)d->plain[5] << 8, expect = 8 + hlen;
        for (int i = 10; i < 40; i++)
            expect += (copy_len[i] < 128 ? 1 : 2) + copy_len[i];
        CHECK_INT(ZSTD_getFrameContentSize(body, len), ==, expect);
    }
    decoded_free(d);
    d = NULL;
    /* a gap ends a batch: acknowledge one in the middle by rejecting around it */
    CHECK_INT(uploader_batch_build(b, spool, first + 45, 30, 1u << 20, &h), ==, 4);
    CHECK_INT(uploader_batch_build(b, spool, first + 49, 30, 1u << 20, &h), ==, 0);
    /* a byte limit */
    CHECK_INT(uploader_batch_build(b, spool, first - 1, 1000, copy_len[0] + copy_len[1] + 1, &h), ==, 2);
    uploader_batch_free(b);
    for (int i = 0; i < 50; i++)
        free(copies[i]);
    free(lost);
    tlv_free(&rec);
}

static void batch_stops_at_gap(void)
{
    struct uploader_batch *b = NULL;
    struct batch_header h = {.device_id = DEVICE_ID, .sensor_backend = "ebpf"};
    struct spool_stats st;
    uint64_t first = 0, last = 0;
    int n;

    CHECK(setup_dir());
    /* a quota reached: the oldest segments lose their ProcessForked events */
    CHECK_INT(open_test_spool_quota(16384, 131072), ==, 0);
    for (int i = 0; i < 600; i++) {
        CHECK((last = append(i % 2 ? "ProcessForked" : "ProcessCreated", 190)));
        if (!first)
            first = last;
        spool_flush(spool);
    }
    CHECK_INT(spool_sync(spool), ==, 0);
    CHECK(spool_maintain(spool, (uint64_t)time(NULL) * 1000000000ull) > 0);
    CHECK_INT(uploader_batch_new(&b), ==, 0);
    /* the records are no longer contiguous: a batch ends at each gap */
    CHECK_INT(uploader_batch_build(b, spool, first - 1, 100, 1u << 20, &h), ==, 1);
    CHECK_INT(uploader_batch_first(b), ==, first);
    CHECK_INT(uploader_batch_build(b, spool, first, 100, 1u << 20, &h), ==, 1);
    CHECK_INT(uploader_batch_first(b), ==, first + 2);
    /* the newest segment was not thinned: a long batch */
    spool_get_stats(spool, &st);
    n = uploader_batch_build(b, spool, last - 50, 100, 1u << 20, &h);
    CHECK_INT(n, ==, 50);
    uploader_batch_free(b);
}

static void backoff_bounds(void)
{
    uint64_t rng = 12345, max_seen = 0;
    for (unsigned a = 0; a < 20; a++) {
        for (int i = 0; i < 200; i++) {
            uint64_t d = uploader_backoff_ms(a, 1000, 60000, &rng);
            uint64_t cap = a < 6 ? 1000ull << a : 60000;
            if (cap > 60000)
                cap = 60000;
            CHECK_MSG(d <= cap, "attempt %u: %llu > %llu", a, (unsigned long long)d, (unsigned long long)cap);
            if (d > max_seen)
                max_seen = d;
        }
    }
    CHECK_MSG(max_seen > 30000, "the cap is reached (max %llu)", (unsigned long long)max_seen);
}

static void upload_all_once(void)
{
    struct agent_conf conf;
    struct uploader_options uo = {.max_events = 400, .sync_ms = 20, .backoff_min_ms = 20, .backoff_max_ms = 200};
    struct channel_status cs;
    struct spool_stats st;
    uint64_t first = 0, last = 0;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    CHECK_INT(open_test_spool(65536), ==, 0);
    CHECK(start_channel(&conf, &uo));
    /* events keep coming while the uploader ships */
    for (int i = 0; i < 3000; i++) {
        last = append(i % 3 ? "ProcessCreated" : "ProcessExited", 100);
        CHECK(last);
        if (!first)
            first = last;
        if (i % 100 == 0) {
            spool_flush(spool);
            usleep(5000);
        }
    }
    spool_flush(spool);
    CHECK_MSG(wait_high(last, 30), "the server got up to %llu of %llu", (unsigned long long)mock_high(),
              (unsigned long long)last);
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->stored, ==, 3000);
    CHECK_INT(mock->gaps, ==, 0);
    CHECK_INT(mock->bad_auth, ==, 0);
    CHECK_INT(mock->batches_400, ==, 0);
    CHECK_MSG(mock->batches_ok >= 8, "%d batches", mock->batches_ok);
    pthread_mutex_unlock(&mock->lock);
    /* acknowledged: the spool is empty */
    for (int i = 0; i < 100; i++) {
        spool_get_stats(spool, &st);
        if (st.acked_seq == last)
            break;
        usleep(20000);
    }
    CHECK_INT(st.acked_seq, ==, last);
    CHECK_INT(st.pending_events, ==, 0);
    for (int i = 0; i < 100; i++) { /* counted just after the acknowledgement */
        channel_get_status(chan, &cs);
        if (cs.events_sent == 3000)
            break;
        usleep(20000);
    }
    CHECK_INT(cs.link, ==, LINK_UP);
    CHECK_INT(cs.events_sent, ==, 3000);
    CHECK(cs.last_upload_ns > 0);
}

static void outage_then_catch_up(void)
{
    struct agent_conf conf;
    struct uploader_options uo = {.max_events = 500, .sync_ms = 20, .backoff_min_ms = 20, .backoff_max_ms = 100};
    struct channel_status cs;
    uint64_t last = 0;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    mock->fail_next = 6;
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    CHECK_INT(open_test_spool(0), ==, 0);
    CHECK(start_channel(&conf, &uo));
    for (int i = 0; i < 2000; i++)
        CHECK((last = append("ProcessCreated", 50)));
    spool_flush(spool);
    CHECK_MSG(wait_high(last, 30), "the server got up to %llu of %llu", (unsigned long long)mock_high(),
              (unsigned long long)last);
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->batches_503, ==, 6);
    CHECK_INT(mock->stored, ==, 2000);
    CHECK_INT(mock->gaps, ==, 0);
    pthread_mutex_unlock(&mock->lock);
    channel_get_status(chan, &cs);
    CHECK_INT(cs.upload_failures, >=, 6);
    CHECK_INT(cs.link, ==, LINK_UP);
    CHECK(strstr(cs.link_error, "503"));
}

static void server_absent_then_present(void)
{
    struct agent_conf conf;
    struct uploader_options uo = {.max_events = 500, .sync_ms = 20, .backoff_min_ms = 20, .backoff_max_ms = 100};
    struct channel_status cs;
    struct spool_stats st;
    uint64_t last = 0;
    int port;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    /* learn a free port from a mock, then stop it: nothing listens there */
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    port = mock->port;
    mock_pause(mock);
    CHECK(make_conf(&conf, pki.ca_pem, port, "127.0.0.1"));
    CHECK_INT(open_test_spool(0), ==, 0);
    CHECK(start_channel(&conf, &uo));
    for (int i = 0; i < 1000; i++)
        CHECK((last = append("ProcessCreated", 50)));
    spool_flush(spool);
    usleep(500000);
    channel_get_status(chan, &cs);
    CHECK_INT(cs.link, ==, LINK_DOWN);
    CHECK(cs.upload_failures >= 2);
    spool_get_stats(spool, &st);
    CHECK_INT(st.pending_events, ==, 1000); /* kept */
    /* the server comes back on the same port */
    CHECK(mock_resume(mock));
    CHECK_MSG(wait_high(last, 30), "the server got up to %llu of %llu", (unsigned long long)mock_high(),
              (unsigned long long)last);
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->stored, ==, 1000);
    pthread_mutex_unlock(&mock->lock);
}

static void refused_record_quarantined(void)
{
    struct agent_conf conf;
    struct uploader_options uo = {.max_events = 256, .sync_ms = 20, .backoff_min_ms = 20, .backoff_max_ms = 100};
    struct channel_status cs;
    struct spool_stats st;
    char path[400];
    uint64_t first = 0, last = 0, poison;
    struct stat sb;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    CHECK_INT(open_test_spool(0), ==, 0);
    for (int i = 0; i < 1000; i++) {
        CHECK((last = append("ProcessCreated", 30)));
        if (!first)
            first = last;
    }
    poison = first + 333;
    mock->poison = poison;
    spool_flush(spool);
    CHECK(start_channel(&conf, &uo));
    CHECK_MSG(wait_high(last, 30), "the server got up to %llu of %llu", (unsigned long long)mock_high(),
              (unsigned long long)last);
    /* one more batch after the refusal carries it in "lost" */
    CHECK((last = append("ProcessCreated", 30)));
    spool_flush(spool);
    CHECK(wait_high(last, 30));
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->stored, ==, 1000);
    CHECK_INT(mock->gaps, ==, 1); /* exactly the refused record */
    CHECK_MSG(mock->batches_400 >= 8 && mock->batches_400 <= 20, "%d refusals", mock->batches_400);
    CHECK_INT(mock->lost_rejected, ==, 1);
    pthread_mutex_unlock(&mock->lock);
    channel_get_status(chan, &cs);
    CHECK_INT(cs.events_rejected, ==, 1);
    spool_get_stats(spool, &st);
    CHECK_INT(st.lost[SPOOL_LOSS_REJECTED], ==, 1);
    snprintf(path, sizeof(path), "%s/spool/rejected/%020llu.rec", dir, (unsigned long long)poison);
    CHECK_MSG(stat(path, &sb) == 0 && sb.st_size > 0, "%s is kept", path);
}

static void pinned_ca_and_host_name(void)
{
    struct agent_conf conf;
    struct https_reply rp;
    void *h = NULL;
    int e;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK_INT(pki_make(&other_pki, "another CA"), ==, 0);
    /* the server's certificate is from another CA than the pinned one */
    CHECK(mock_start(&other_pki, "IP:127.0.0.1"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    CHECK(start_channel(&conf, NULL));
    e = channel_call(chan, &h, "POST", "/api/v1/agent/heartbeat", "application/json", "{}", 2, 10, &rp);
    CHECK_MSG(e == -EPROTO, "e = %d (%s)", e, rp.error);
    https_reply_free(&rp);
    CHECK_INT(channel_note(chan, CHAN_HEARTBEAT, e, &rp), ==, LINK_DOWN);
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->heartbeats, ==, 0);
    pthread_mutex_unlock(&mock->lock);
    https_handle_free(h);
    h = NULL;
    channel_free(chan);
    chan = NULL;
    mock_stop();
    /* the right CA, but a certificate for another name */
    CHECK(mock_start(&pki, "DNS:elsewhere.example"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    CHECK(start_channel(&conf, NULL));
    e = channel_call(chan, &h, "POST", "/api/v1/agent/heartbeat", "application/json", "{}", 2, 10, &rp);
    CHECK_MSG(e == -EPROTO, "e = %d (%s)", e, rp.error);
    https_reply_free(&rp);
    https_handle_free(h);
    h = NULL;
    channel_free(chan);
    chan = NULL;
    mock_stop();
    /* both right: it works */
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    CHECK(start_channel(&conf, NULL));
    e = channel_call(chan, &h, "POST", "/api/v1/agent/heartbeat", "application/json", "{}", 2, 10, &rp);
    CHECK_MSG(e == 0 && rp.status == 200, "e = %d, status %ld (%s)", e, rp.status, rp.error);
    https_reply_free(&rp);
    https_handle_free(h);
}

static void heartbeat_fields(void)
{
    struct agent_conf conf;
    struct channel_health health = {.backend = "ebpf", .limitations = "one\ntwo", .events = 100, .sensor_lost = 2};
    char err[256];
    json_t *v;
    struct channel_status cs;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    CHECK_INT(open_test_spool(0), ==, 0);
    append("ProcessCreated", 10);
    spool_flush(spool);
    CHECK(start_channel(&conf, NULL));
    channel_publish_health(chan, &health);
    CHECK_INT(heartbeat_start(&hb, chan, spool, err, sizeof(err)), ==, 0);
    for (int i = 0; i < 250 && !mock->heartbeats; i++)
        usleep(20000);
    pthread_mutex_lock(&mock->lock);
    v = json_incref(mock->heartbeat);
    pthread_mutex_unlock(&mock->lock);
    CHECK(json_is_object(v));
#define FIELD(k) json_object_get(v, k)
    CHECK_STR(json_string_value(FIELD("agent_version")), YAMORI_VERSION);
    CHECK_STR(json_string_value(FIELD("sensor_backend")), "ebpf");
    CHECK_INT(json_array_size(FIELD("sensor_limitations")), ==, 2);
    CHECK(json_is_number(FIELD("events_per_second")));
    CHECK(json_is_number(FIELD("cpu_percent")));
    CHECK_INT(json_integer_value(FIELD("events_lost")), ==, 2);
    CHECK_INT(json_integer_value(FIELD("spool_events")), ==, 1);
    CHECK(json_integer_value(FIELD("spool_bytes")) > 0);
    CHECK(json_integer_value(FIELD("memory_bytes")) > 0);
    CHECK(json_is_string(FIELD("hostname")) && json_string_length(FIELD("hostname")) > 0);
    CHECK(json_is_array(FIELD("ips")));
    CHECK(json_is_string(FIELD("os")) && json_is_string(FIELD("distribution")) && json_is_string(FIELD("kernel")));
#undef FIELD
    json_decref(v);
    for (int i = 0; i < 100; i++) {
        channel_get_status(chan, &cs);
        if (cs.last_heartbeat_ns)
            break;
        usleep(20000);
    }
    CHECK(cs.last_heartbeat_ns > 0);
}

static json_t *result_of(const char *id, int wait_ms)
{
    json_t *r = NULL;
    for (int i = 0; i < wait_ms / 20 && !r; i++) {
        pthread_mutex_lock(&mock->lock);
        r = json_incref(json_object_get(mock->results, id));
        pthread_mutex_unlock(&mock->lock);
        if (!r)
            usleep(20000);
    }
    return r;
}

static void commands_once_by_id(void)
{
    struct agent_conf conf;
    struct channel_status cs;
    char err[256], path[400];
    json_t *r;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    /* a command that was started before a crash, never answered */
    snprintf(path, sizeof(path), "%s/commands.journal", dir);
    CHECK(write_text(path, "9 started\n", 0600));
    json_array_append_new(mock->commands, json_pack("{s:i,s:s,s:{},s:s}", "id", 7, "type", "ping", "args", "created",
                                                    "2026-11-26T10:00:00Z"));
    json_array_append_new(mock->commands, json_pack("{s:i,s:s,s:{}}", "id", 8, "type", "frobnicate", "args"));
    json_array_append_new(mock->commands, json_pack("{s:i,s:s}", "id", 9, "type", "ping"));
    mock->redeliver = true; /* every poll hands them out again: each runs once anyway */
    CHECK(start_channel(&conf, NULL));
    CHECK_INT(commands_start(&cmds, chan, dir, err, sizeof(err)), ==, 0);
    r = result_of("7", 10000);
    CHECK(r);
    CHECK_STR(json_string_value(json_object_get(r, "status")), "succeeded");
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "output"), "agent_version")), YAMORI_VERSION);
    CHECK(json_is_string(json_object_get(json_object_get(r, "output"), "time")));
    CHECK(json_is_null(json_object_get(r, "error")));
    json_decref(r);
    r = result_of("8", 10000);
    CHECK(r);
    CHECK_STR(json_string_value(json_object_get(r, "status")), "failed");
    CHECK(strstr(json_string_value(json_object_get(r, "error")), "not supported by this agent version"));
    json_decref(r);
    r = result_of("9", 10000);
    CHECK(r);
    CHECK_STR(json_string_value(json_object_get(r, "status")), "failed");
    CHECK(strstr(json_string_value(json_object_get(r, "error")), "not run again"));
    json_decref(r);
    usleep(800000); /* several more polls hand the same commands out */
    channel_get_status(chan, &cs);
    CHECK_INT(cs.commands_run, ==, 2); /* 7 and 8; 9 was never run */
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->result_posts, ==, 3);
    pthread_mutex_unlock(&mock->lock);
    /* after a restart too */
    commands_stop(cmds);
    cmds = NULL;
    channel_free(chan);
    chan = NULL;
    CHECK(start_channel(&conf, NULL));
    CHECK_INT(commands_start(&cmds, chan, dir, err, sizeof(err)), ==, 0);
    usleep(800000);
    channel_get_status(chan, &cs);
    CHECK_INT(cs.commands_run, ==, 0);
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->result_posts, ==, 3);
    pthread_mutex_unlock(&mock->lock);
}

/* Creates n files of size bytes in dir/name (path gets the directory). */
static bool make_tree(const char *name, int n, size_t size, char *path, size_t pathlen)
{
    char *buf = malloc(size ? size : 1), file[600];
    bool ok = buf != NULL;

    snprintf(path, pathlen, "%s/%s", dir, name);
    ok = ok && mkdir(path, 0755) == 0;
    for (int i = 0; ok && i < n; i++) {
        snprintf(file, sizeof(file), "%s/f%05d.bin", path, i);
        memset(buf, 'a' + i % 26, size);
        buf[0] = (char)i; /* every file differs */
        {
            int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ok = fd >= 0 && write(fd, buf, size) == (ssize_t)size;
            if (fd >= 0)
                close(fd);
        }
    }
    free(buf);
    return ok;
}

/* A long command (a slow scan) runs on a worker: a ping sent with it is
 * answered while the scan still runs, and the server handing the scan out
 * again meanwhile neither runs it twice nor answers it. Stopping the agent
 * cancels the scan and returns; its result was never posted, so after a
 * restart it is answered "not run again" and nothing runs. */
static void long_command_on_worker(void)
{
    struct agent_conf conf;
    struct channel_status cs;
    char err[256], big[400], args[600];
    unsigned progress = 0;
    json_t *r;

    CHECK(setup_dir());
    CHECK(make_tree("big", 300, 64 * 1024, big, sizeof(big)));
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    snprintf(args, sizeof(args), "{\"kind\":\"custom\",\"path\":\"%s\",\"cpu_budget\":0.01}", big);
    json_array_append_new(mock->commands,
                          json_pack("{s:i,s:s,s:o}", "id", 20, "type", "scan", "args", json_loads(args, 0, NULL)));
    json_array_append_new(mock->commands, json_pack("{s:i,s:s,s:{}}", "id", 21, "type", "ping", "args"));
    mock->redeliver = true; /* every poll hands both out again */
    CHECK(commands_handler("scan") && commands_handler("scan")->long_running);
    CHECK(commands_handler("isolate") && !commands_handler("isolate")->long_running);
    CHECK(start_channel(&conf, NULL));
    CHECK_INT(commands_start(&cmds, chan, dir, err, sizeof(err)), ==, 0);
    /* the ping, behind the scan in the same list, is answered while the scan runs */
    r = result_of("21", 20000);
    CHECK_MSG(r, "the ping was never answered");
    CHECK_STR(json_string_value(json_object_get(r, "status")), "succeeded");
    json_decref(r);
    pthread_mutex_lock(&mock->lock);
    r = json_incref(json_object_get(mock->results, "20"));
    pthread_mutex_unlock(&mock->lock);
    CHECK_MSG(!r, "the scan ended before the ping was answered: %s", json_string_value(json_object_get(r, "status")));
    /* the scan reports progress ("started" and more) and is still unanswered
     * after many redeliveries */
    for (int i = 0; i < 500 && progress < 3; i++) {
        pthread_mutex_lock(&mock->lock);
        progress = mock->progress_posts;
        pthread_mutex_unlock(&mock->lock);
        usleep(20000);
    }
    CHECK_MSG(progress >= 3, "only %u progress reports", progress);
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->result_posts, ==, 1); /* the ping's only */
    pthread_mutex_unlock(&mock->lock);
    channel_get_status(chan, &cs);
    CHECK_INT(cs.commands_run, ==, 1); /* the ping; the scan runs once and has not ended */
    /* a stop cancels the scan and returns; the scan's result is not posted */
    commands_stop(cmds);
    cmds = NULL;
    channel_free(chan);
    chan = NULL;
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->result_posts, ==, 1);
    pthread_mutex_unlock(&mock->lock);
    /* after a restart the scan is answered, not run again */
    CHECK(start_channel(&conf, NULL));
    CHECK_INT(commands_start(&cmds, chan, dir, err, sizeof(err)), ==, 0);
    r = result_of("20", 20000);
    CHECK_MSG(r, "the scan was never answered after the restart");
    CHECK_STR(json_string_value(json_object_get(r, "status")), "failed");
    CHECK(strstr(json_string_value(json_object_get(r, "error")), "not run again"));
    json_decref(r);
    usleep(800000); /* several more polls hand both out again */
    channel_get_status(chan, &cs);
    CHECK_INT(cs.commands_run, ==, 0);
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->result_posts, ==, 2);
    pthread_mutex_unlock(&mock->lock);
}

/* Whether dir/commands.journal records command id as started. */
static bool journal_has_started(int64_t id)
{
    char path[400], want[48], line[128];
    bool yes = false;
    FILE *f;

    snprintf(path, sizeof(path), "%s/commands.journal", dir);
    snprintf(want, sizeof(want), "%lld started\n", (long long)id);
    f = fopen(path, "r");
    while (f && !yes && fgets(line, sizeof(line), f))
        yes = strcmp(line, want) == 0;
    if (f)
        fclose(f);
    return yes;
}

/* One slow scan more than there are workers: COMMANDS_LONG_WORKERS run
 * (started in the journal), the last waits for a worker and is not
 * started. After a stop and a restart those that ran are answered "not run
 * again" and the last, never started, runs. */
static void long_commands_queue(void)
{
    const int first = 30, last = 30 + COMMANDS_LONG_WORKERS;
    struct agent_conf conf;
    char err[256], big[400], args[600];
    int started = 0;
    json_t *r;

    CHECK(setup_dir());
    CHECK(make_tree("big", 300, 64 * 1024, big, sizeof(big)));
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    CHECK(make_conf(&conf, pki.ca_pem, mock->port, "127.0.0.1"));
    snprintf(args, sizeof(args), "{\"kind\":\"custom\",\"path\":\"%s\",\"cpu_budget\":0.01}", big);
    for (int id = first; id <= last; id++)
        json_array_append_new(mock->commands,
                              json_pack("{s:i,s:s,s:o}", "id", id, "type", "scan", "args", json_loads(args, 0, NULL)));
    mock->redeliver = true;
    CHECK(start_channel(&conf, NULL));
    CHECK_INT(commands_start(&cmds, chan, dir, err, sizeof(err)), ==, 0);
    for (int i = 0; i < 500 && started < COMMANDS_LONG_WORKERS; i++) {
        started = 0;
        for (int id = first; id < last; id++)
            started += journal_has_started(id);
        if (started < COMMANDS_LONG_WORKERS)
            usleep(20000);
    }
    CHECK_INT(started, ==, COMMANDS_LONG_WORKERS);
    usleep(800000); /* several polls hand them all out again */
    CHECK(!journal_has_started(last));
    pthread_mutex_lock(&mock->lock);
    CHECK_INT(mock->result_posts, ==, 0);
    pthread_mutex_unlock(&mock->lock);
    commands_stop(cmds);
    cmds = NULL;
    channel_free(chan);
    chan = NULL;
    CHECK(!journal_has_started(last)); /* dropped from the queue, never started */
    CHECK(start_channel(&conf, NULL));
    CHECK_INT(commands_start(&cmds, chan, dir, err, sizeof(err)), ==, 0);
    for (int id = first; id < last; id++) {
        char key[16];
        snprintf(key, sizeof(key), "%d", id);
        r = result_of(key, 20000);
        CHECK_MSG(r, "scan %d was never answered after the restart", id);
        CHECK(strstr(json_string_value(json_object_get(r, "error")), "not run again"));
        json_decref(r);
    }
    for (int i = 0; i < 500 && !journal_has_started(last); i++)
        usleep(20000);
    CHECK(journal_has_started(last)); /* it runs now */
}

static void journal_survives(void)
{
    struct command_journal *j = NULL;
    char path[400], err[256];

    CHECK(setup_dir());
    snprintf(path, sizeof(path), "%s/j", dir);
    /* a long history: 2500 commands started and answered */
    {
        FILE *f = fopen(path, "w");
        CHECK(f);
        for (int id = 1; id <= 2500; id++)
            fprintf(f, "%d started\n%d done\n", id, id);
        fprintf(f, "garbage line\n-3 done\n");
        fclose(f);
    }
    CHECK_INT(command_journal_open(&j, path, err, sizeof(err)), ==, 0);
    CHECK_INT(command_journal_state(j, 17), ==, COMMAND_DONE);
    for (int64_t id = 4990; id <= 5000; id++) {
        CHECK_INT(command_journal_mark(j, id, COMMAND_STARTED), ==, 0); /* the first one compacts */
        CHECK_INT(command_journal_mark(j, id, COMMAND_DONE), ==, 0);
    }
    CHECK_INT(command_journal_state(j, 17), ==, COMMAND_NEW); /* old ids were dropped */
    CHECK_INT(command_journal_state(j, 2400), ==, COMMAND_DONE);
    command_journal_free(j);
    j = NULL;
    /* a torn last line, as a crash leaves it */
    {
        int fd = open(path, O_WRONLY | O_APPEND);
        CHECK(fd >= 0);
        CHECK_INT(write(fd, "5001 sta", 8), ==, 8);
        close(fd);
    }
    CHECK_INT(command_journal_open(&j, path, err, sizeof(err)), ==, 0);
    CHECK_INT(command_journal_state(j, 5000), ==, COMMAND_DONE);
    CHECK_INT(command_journal_state(j, 2500), ==, COMMAND_DONE);
    CHECK_INT(command_journal_state(j, 5001), ==, COMMAND_NEW);
    CHECK_INT(command_journal_mark(j, 5001, COMMAND_STARTED), ==, 0);
    command_journal_free(j);
    j = NULL;
    CHECK_INT(command_journal_open(&j, path, err, sizeof(err)), ==, 0);
    CHECK_INT(command_journal_state(j, 5001), ==, COMMAND_STARTED);
    command_journal_free(j);
    {
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && sb.st_size < 30000); /* compacted */
    }
}

/* Writes an onboarding package; fields may be overridden (NULL: default). */
static bool write_package(const char *path, const char *url, const char *ca_pem, const char *fingerprint,
                          const char *token, int version)
{
    json_t *o = json_pack("{s:i,s:[s],s:s,s:s,s:s,s:s}", "version", version, "server_urls", url, "ca_pem", ca_pem,
                          "ca_fingerprint", fingerprint, "token", token, "group", "web servers");
    int e = o ? json_dump_file(o, path, 0) : -1;
    json_decref(o);
    return e == 0;
}

static void enroll_and_offboard(void)
{
    struct enroll_options eo = {0};
    struct agent_conf c;
    char pkg[400], cdir[400], url[128], mid[400], err[1024] = "", path[500];
    struct stat sb;
    json_t *rq;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK(mock_start(&pki, "IP:127.0.0.1"));
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", mock->port);
    snprintf(mock->enroll_answer, sizeof(mock->enroll_answer),
             "{\"device_id\":\"%s\",\"secret\":\"%s\",\"heartbeat_seconds\":15,\"server_url\":\"%s\","
             "\"reenrolled\":false,\"group\":\"web servers\"}",
             DEVICE_ID, SECRET, url);
    snprintf(pkg, sizeof(pkg), "%s/package.json", dir);
    snprintf(cdir, sizeof(cdir), "%s/etc", dir);
    snprintf(mid, sizeof(mid), "%s/machine-id", dir);
    CHECK(write_text(mid, "0123456789ABCDEF0123456789abcdef\n", 0644));
    CHECK(write_package(pkg, url, pki.ca_pem, pki.fingerprint, TOKEN, 1));
    if (!curl_ready) {
        CHECK_INT(channel_global_init(err, sizeof(err)), ==, 0);
        curl_ready = true;
    }
    eo.package_path = pkg;
    eo.config_dir = cdir;
    eo.machine_id_path = mid;
    CHECK_MSG(enroll_run(&eo, err, sizeof(err)) == 0, "enroll: %s", err);
    /* what the server got */
    pthread_mutex_lock(&mock->lock);
    rq = json_incref(mock->enroll_request);
    pthread_mutex_unlock(&mock->lock);
    CHECK_STR(json_string_value(json_object_get(rq, "token")), TOKEN);
    CHECK_STR(json_string_value(json_object_get(rq, "machine_id")), "0123456789abcdef0123456789abcdef");
    CHECK(json_is_false(json_object_get(rq, "new_identity")));
    CHECK_STR(json_string_value(json_object_get(rq, "agent_version")), YAMORI_VERSION);
    CHECK(json_is_string(json_object_get(rq, "hostname")) && json_is_string(json_object_get(rq, "kernel")));
    json_decref(rq);
    /* what was written */
    snprintf(path, sizeof(path), "%s/agent.conf", cdir);
    CHECK_MSG(agentconf_load(&c, path, err, sizeof(err)) == 0, "%s", err);
    CHECK_STR(c.device_id, DEVICE_ID);
    CHECK_STR(c.server_url, url);
    CHECK_INT(c.heartbeat_seconds, ==, 15);
    CHECK_STR(c.group, "web servers");
    CHECK(stat(c.secret_file, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_uid == geteuid());
    CHECK(stat(c.ca_file, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    CHECK(stat(cdir, &sb) == 0 && (sb.st_mode & 0777) == 0755);
    /* and the channel works with it */
    CHECK(start_channel(&c, NULL));
    {
        struct https_reply rp;
        void *h = NULL;
        int e = channel_call(chan, &h, "POST", "/api/v1/agent/heartbeat", "application/json", "{}", 2, 10, &rp);
        CHECK_MSG(e == 0 && rp.status == 200, "e %d status %ld %s", e, rp.status, rp.error);
        https_reply_free(&rp);
        https_handle_free(h);
    }
    /* a tuned quota survives enrolling again, with a new identity */
    {
        char text[4096];
        FILE *f = fopen(path, "a");
        CHECK(f);
        fputs("spool_max_age_days = 3\n", f);
        fclose(f);
        (void)text;
    }
    eo.new_identity = true;
    CHECK_MSG(enroll_run(&eo, err, sizeof(err)) == 0, "enroll again: %s", err);
    pthread_mutex_lock(&mock->lock);
    CHECK(json_is_true(json_object_get(mock->enroll_request, "new_identity")));
    pthread_mutex_unlock(&mock->lock);
    CHECK_INT(agentconf_load(&c, path, err, sizeof(err)), ==, 0);
    CHECK_INT(c.spool_max_age_seconds, ==, 3 * 86400);
    /* refused: the server's reason is shown */
    mock->enroll_answer[0] = '\0';
    CHECK(enroll_run(&eo, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "expired"), "%s", err);
    /* offboard */
    CHECK_INT(enroll_offboard(cdir, err, sizeof(err)), ==, 0);
    CHECK(stat(path, &sb) != 0 && stat(c.secret_file, &sb) != 0 && stat(c.ca_file, &sb) != 0);
    CHECK_INT(enroll_offboard(cdir, err, sizeof(err)), ==, 0);
}

static void damaged_packages(void)
{
    struct onboarding_package p;
    char pkg[400], err[1024];
    char *bad_pem;

    CHECK(setup_dir());
    CHECK_INT(pki_make(&pki, "test CA"), ==, 0);
    CHECK_INT(pki_make(&other_pki, "another CA"), ==, 0);
    snprintf(pkg, sizeof(pkg), "%s/package.json", dir);
#define REFUSED(expect)                                                                                            \
    do {                                                                                                           \
        CHECK(enroll_read_package(pkg, &p, err, sizeof(err)) != 0);                                               \
        CHECK_MSG(strstr(err, expect), "error: %s", err);                                                         \
    } while (0)
    CHECK(write_package(pkg, "https://127.0.0.1:8443", pki.ca_pem, pki.fingerprint, TOKEN, 1));
    CHECK_MSG(enroll_read_package(pkg, &p, err, sizeof(err)) == 0, "%s", err);
    CHECK_STR(p.group, "web servers");
    CHECK_INT(p.nurls, ==, 1);
    enroll_package_free(&p);
    CHECK(write_package(pkg, "https://127.0.0.1:8443", pki.ca_pem, other_pki.fingerprint, TOKEN, 1));
    REFUSED("does not match ca_fingerprint");
    CHECK(write_package(pkg, "https://127.0.0.1:8443", other_pki.ca_pem, pki.fingerprint, TOKEN, 1));
    REFUSED("does not match ca_fingerprint");
    CHECK(write_package(pkg, "http://127.0.0.1:8443", pki.ca_pem, pki.fingerprint, TOKEN, 1));
    REFUSED("server_urls[0]");
    CHECK(write_package(pkg, "https://user@127.0.0.1:8443", pki.ca_pem, pki.fingerprint, TOKEN, 1));
    REFUSED("server_urls[0]");
    CHECK(write_package(pkg, "https://127.0.0.1:8443", pki.ca_pem, pki.fingerprint, "short", 1));
    REFUSED("token");
    CHECK(write_package(pkg, "https://127.0.0.1:8443", pki.ca_pem, pki.fingerprint, "a b c d e f g h i j k", 1));
    REFUSED("token");
    CHECK(write_package(pkg, "https://127.0.0.1:8443", pki.ca_pem, "SHA256:xyz", TOKEN, 1));
    REFUSED("ca_fingerprint");
    CHECK(write_package(pkg, "https://127.0.0.1:8443", pki.ca_pem, pki.fingerprint, TOKEN, 2));
    REFUSED("version");
    bad_pem = strdup(pki.ca_pem);
    CHECK(bad_pem);
    bad_pem[40] ^= 0x01; /* damage the base64 */
    CHECK(write_package(pkg, "https://127.0.0.1:8443", bad_pem, pki.fingerprint, TOKEN, 1));
    free(bad_pem);
    REFUSED("ca_pem");
    CHECK(write_text(pkg, "{\"version\": 1, \"server_urls\": [", 0644));
    REFUSED("not a JSON object");
    CHECK(write_text(pkg, "[1, 2]", 0644));
    REFUSED("not a JSON object");
#undef REFUSED
}

static void conf_checks(void)
{
    struct agent_conf c;
    char path[400], err[512];

    CHECK(setup_dir());
    snprintf(path, sizeof(path), "%s/agent.conf", dir);
    CHECK_INT(agentconf_load(&c, path, err, sizeof(err)), ==, -ENOENT);
    CHECK(strstr(err, "not enrolled"));
    CHECK(write_text(path,
                     "server_url = https://y.example:8443\ndevice_id = abc\nca_file = /etc/yamori/ca.pem\n"
                     "secret_file = /etc/yamori/device.secret\nspool_max_size = 2G\n",
                     0644));
    CHECK_MSG(agentconf_load(&c, path, err, sizeof(err)) == 0, "%s", err);
    CHECK_INT(c.spool_max_bytes, ==, 2ull << 30);
    CHECK(write_text(path, "server_url = https://y.example:8443\nbogus = 1\n", 0644));
    CHECK(agentconf_load(&c, path, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, ":2: unknown key"), "%s", err);
    CHECK(write_text(path, "server_url = http://y.example\n", 0644));
    CHECK(agentconf_load(&c, path, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, ":1: server_url"), "%s", err);
    CHECK(write_text(path, "heartbeat_seconds = 2\n", 0644));
    CHECK(agentconf_load(&c, path, err, sizeof(err)) != 0);
    CHECK(write_text(path, "server_url = https://y.example:8443\n", 0644));
    CHECK(agentconf_load(&c, path, err, sizeof(err)) != 0);
    CHECK_MSG(strstr(err, "device_id is missing"), "%s", err);
    /* a secret readable by others is refused */
    snprintf(path, sizeof(path), "%s/device.secret", dir);
    CHECK(write_text(path, SECRET "\n", 0644));
    {
        char secret[AGENTCONF_SECRET_MAX + 1];
        CHECK(agentconf_read_secret(path, secret, sizeof(secret), err, sizeof(err)) == -EPERM);
        CHECK(chmod(path, 0600) == 0);
        CHECK_INT(agentconf_read_secret(path, secret, sizeof(secret), err, sizeof(err)), ==, 0);
        CHECK_STR(secret, SECRET);
    }
    CHECK(agentconf_valid_url("https://[::1]:8443/prefix"));
    CHECK(!agentconf_valid_url("https://host:0"));
    CHECK(!agentconf_valid_url("https://host:99999"));
    CHECK(!agentconf_valid_url("https://host/a?b"));
    CHECK(!agentconf_valid_url("https://"));
}

static void command_table(void)
{
    struct command cmd = {.id = 1, .type = "ping"};
    struct jsonw w;
    json_t *r;

    jsonw_init(&w);
    cmd.args = json_object();
    commands_execute(&cmd, &w);
    r = json_loadb(w.buf, w.len, 0, NULL);
    CHECK(r);
    CHECK_STR(json_string_value(json_object_get(r, "status")), "succeeded");
    json_decref(r);
    jsonw_reset(&w);
    cmd.type = "isolate";
    commands_execute(&cmd, &w);
    r = json_loadb(w.buf, w.len, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(r, "status")), "failed");
    CHECK(json_is_null(json_object_get(r, "output")));
    json_decref(r);
    json_decref(cmd.args);
    jsonw_free(&w);
    CHECK(commands_handler("ping") != NULL);
    CHECK(commands_handler("nope") == NULL);
}

static void final_teardown(void)
{
    teardown();
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"batch_wire_bytes", batch_wire_bytes},
        {"batch_stops_at_gap", batch_stops_at_gap},
        {"backoff_bounds", backoff_bounds},
        {"conf_checks", conf_checks},
        {"command_table", command_table},
        {"journal_survives", journal_survives},
        {"upload_all_once", upload_all_once},
        {"outage_then_catch_up", outage_then_catch_up},
        {"server_absent_then_present", server_absent_then_present},
        {"refused_record_quarantined", refused_record_quarantined},
        {"pinned_ca_and_host_name", pinned_ca_and_host_name},
        {"heartbeat_fields", heartbeat_fields},
        {"commands_once_by_id", commands_once_by_id},
        {"long_command_on_worker", long_command_on_worker},
        {"long_commands_queue", long_commands_queue},
        {"damaged_packages", damaged_packages},
        {"enroll_and_offboard", enroll_and_offboard},
        {NULL, NULL},
    };
    int r;

    check_set_teardown(final_teardown);
    r = check_main("uploader", cases, argc, argv);
    if (curl_ready)
        channel_global_cleanup();
    return r;
}
