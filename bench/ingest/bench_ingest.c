/*
 * bench_ingest.c — how many events per second the server stores.
 *
 *   bench_ingest [--agents N] [--batch N] [--seconds S] [--warmup S] [--level L] [--threads N] [--store]
 *
 * Starts the server under test ($YAMORI_SAN_BIN/yamori, which bench/ingest/run
 * points at the release build) on loopback with a fresh data directory,
 * signs in as the first admin, creates an onboarding token through the API
 * and enrolls N simulated agents with it (the real enrollment endpoint:
 * each its own device id and secret). Then each agent sends batches of
 * realistic events (tests/lib/ingestgen.c) over HTTPS — libcurl multi, one
 * keep-alive connection per agent, one batch in flight per agent — and
 * sends the next one when the previous is acknowledged.
 *
 * After a warm-up it measures for S seconds and prints: events stored per
 * second (acknowledged events: the server answers only after the commit),
 * batch acknowledgement latency p50/p99, the server's CPU (from
 * /proc/PID/stat) and memory (VmRSS, VmHWM), the bench's own CPU, and the
 * store's size per million events.
 *
 * --store measures the store alone in this process (no HTTP, no TLS): one
 * thread generates, compresses and decodes batches, the ingest writer
 * stores them. It shows what the single SQLite writer can do.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/tlv.h"
#include "ingestgen.h"
#include "serverproc.h"
#include "server/ingest.h"
#include "server/store.h"

struct opts {
    int agents, batch, seconds, warmup, level, threads;
    bool store_only;
};

struct agent {
    int index;
    char device_id[64];
    char auth[256];
    struct ingestgen *gen;
    uint64_t next_seq, first, last;
    size_t count;
    CURL *h;
    struct curl_slist *hdrs;
    uint8_t *body;
    size_t body_len, body_cap;
    char resp[1024];
    size_t resp_len;
    double sent_at;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double self_cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec / 1e6;
}

/* utime + stime of pid in seconds, or -1. */
static double proc_cpu(pid_t pid)
{
    char path[64], buf[2048];
    unsigned long ut = 0, stm = 0;
    FILE *f;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stm) != 2)
        return -1;
    return (double)(ut + stm) / (double)sysconf(_SC_CLK_TCK);
}

/* A "VmRSS:"-style line of /proc/PID/status in MiB, or -1. */
static double proc_mem(pid_t pid, const char *key)
{
    char path[64], line[256];
    double v = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = atof(line + strlen(key)) / 1024.0;
    fclose(f);
    return v;
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ set-up over the API */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct agent *a = ud;
    size_t n = size * nmemb, room = sizeof(a->resp) - 1 - a->resp_len;
    memcpy(a->resp + a->resp_len, ptr, n < room ? n : room);
    a->resp_len += n < room ? n : room;
    a->resp[a->resp_len] = '\0';
    return n;
}

/* An onboarding token for n devices, created through the API as admin. */
static int onboarding_token(struct serverproc *s, int n, char *out, size_t outlen)
{
    char admin[256], hdr[300], body[128];
    const char *headers[] = {hdr, NULL};
    struct serverproc_response r;
    int e = -1;

    if (serverproc_admin_token(s, admin, sizeof(admin)) != 0) {
        fprintf(stderr, "bench: cannot sign in as admin: %s\n", serverproc_diag(s));
        return -1;
    }
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", admin);
    snprintf(body, sizeof(body), "{\"uses\": %d, \"expires_seconds\": 3600}", n);
    if (serverproc_request(s, "POST", "/api/v1/onboarding", body, headers, &r) == 0 && r.status == 201 &&
        json_is_string(json_object_get(r.json, "token"))) {
        snprintf(out, outlen, "%s", json_string_value(json_object_get(r.json, "token")));
        e = 0;
    } else {
        fprintf(stderr, "bench: cannot create an onboarding token (%ld: %s)\n", r.status, r.body ? r.body : "");
    }
    serverproc_response_free(&r);
    return e;
}

/* Enrolls agent a with the onboarding token over curl handle h. */
static int enroll(struct serverproc *s, CURL *h, const char *token, struct agent *a)
{
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    char url[256], body[512];
    json_t *root = NULL;
    long status = 0;
    int e = -1;

    snprintf(url, sizeof(url), "%s/api/v1/agent/enroll", serverproc_url(s));
    snprintf(body, sizeof(body),
             "{\"token\":\"%s\",\"machine_id\":\"%032x\",\"hostname\":\"bench-%04d\",\"os\":\"Debian GNU/Linux 12\","
             "\"kernel\":\"6.1.0\",\"agent_version\":\"0.1.0\"}",
             token, (unsigned)(0xbe000000u + (unsigned)a->index), a->index);
    a->resp_len = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200)
        root = json_loads(a->resp, 0, NULL);
    if (root && json_is_string(json_object_get(root, "device_id")) && json_is_string(json_object_get(root, "secret"))) {
        snprintf(a->device_id, sizeof(a->device_id), "%s", json_string_value(json_object_get(root, "device_id")));
        snprintf(a->auth, sizeof(a->auth), "Authorization: Device %s:%s", a->device_id,
                 json_string_value(json_object_get(root, "secret")));
        e = 0;
    } else {
        fprintf(stderr, "bench: enrollment %d failed (%ld): %s\n", a->index, status, a->resp);
    }
    json_decref(root);
    curl_slist_free_all(hd);
    return e;
}

/* ------------------------------------------------------------------ batches */

/* Builds agent a's next batch into a->body. */
static int next_batch(struct agent *a, struct ingestgen_encoder *enc, struct tlv_buf *recs, int n)
{
    uint64_t ts = wall_ns();
    const uint8_t *b;
    size_t len;
    char *h;

    tlv_reset(recs);
    a->first = a->next_seq;
    for (int i = 0; i < n; i++)
        ingestgen_event(a->gen, recs, a->next_seq++, ts - (uint64_t)(n - i) * 1000000);
    a->last = a->next_seq - 1;
    a->count = (size_t)n;
    h = ingestgen_header(a->device_id, a->first, a->last, a->count, NULL);
    b = h ? ingestgen_encode(enc, h, strlen(h), recs->data, recs->len, &len) : NULL;
    free(h);
    if (!b || recs->failed)
        return -ENOMEM;
    if (len > a->body_cap) {
        uint8_t *nb = realloc(a->body, len);
        if (!nb)
            return -ENOMEM;
        a->body = nb;
        a->body_cap = len;
    }
    memcpy(a->body, b, len);
    a->body_len = len;
    return 0;
}

static void arm(struct agent *a, const char *url)
{
    a->resp_len = 0;
    curl_easy_setopt(a->h, CURLOPT_URL, url);
    curl_easy_setopt(a->h, CURLOPT_POSTFIELDS, a->body);
    curl_easy_setopt(a->h, CURLOPT_POSTFIELDSIZE, (long)a->body_len);
    curl_easy_setopt(a->h, CURLOPT_HTTPHEADER, a->hdrs);
    curl_easy_setopt(a->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(a->h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(a->h, CURLOPT_PRIVATE, a);
    a->sent_at = now_s();
}

static int run_https(const struct opts *o)
{
    struct serverproc *s = NULL;
    struct serverproc_options so = {0};
    const char *sets[] = {NULL, NULL, NULL};
    char set_threads[64], err[1024], token[128], url[256], db[700], wal[704];
    struct agent *agents = NULL;
    struct ingestgen_encoder *enc = ingestgen_encoder_new(o->level);
    struct tlv_buf recs;
    CURLM *m = NULL;
    CURL *eh = NULL;
    double *lat = NULL;
    size_t nlat = 0, latcap = 0;
    uint64_t total_acked = 0, window_events = 0, errors = 0;
    double t_start, t_measure, t_end, cpu0 = 0, cpu1 = 0, self0 = 0, self1 = 0, rss = 0, hwm = 0;
    bool measuring = false, stopping = false;
    int running = 0, rc = 1;
    pid_t pid;

    tlv_init(&recs);
    snprintf(set_threads, sizeof(set_threads), "threads=%d", o->threads);
    sets[0] = set_threads;
    sets[1] = "log_level=warning";
    so.sets = sets;
    s = serverproc_start(&so, err, sizeof(err));
    if (!s || !enc) {
        fprintf(stderr, "bench: cannot start the server: %s\n", err);
        goto out;
    }
    pid = serverproc_pid(s);
    if (onboarding_token(s, o->agents, token, sizeof(token)) != 0)
        goto out;
    agents = calloc((size_t)o->agents, sizeof(*agents));
    eh = curl_easy_init();
    if (!agents || !eh)
        goto out;
    curl_easy_setopt(eh, CURLOPT_CAINFO, serverproc_ca(s));
    fprintf(stderr, "bench: enrolling %d agents through %s ...\n", o->agents, serverproc_url(s));
    for (int i = 0; i < o->agents; i++) {
        struct agent *a = &agents[i];
        a->index = i;
        if (enroll(s, eh, token, a) != 0)
            goto out;
        a->gen = ingestgen_new((uint64_t)i + 1, a->device_id);
        a->next_seq = 1;
        a->h = curl_easy_init();
        a->hdrs = curl_slist_append(NULL, a->auth);
        a->hdrs = curl_slist_append(a->hdrs, "Content-Type: " INGEST_CONTENT_TYPE);
        a->hdrs = curl_slist_append(a->hdrs, "Expect:");
        if (!a->gen || !a->h || !a->hdrs)
            goto out;
        curl_easy_setopt(a->h, CURLOPT_CAINFO, serverproc_ca(s));
        curl_easy_setopt(a->h, CURLOPT_TIMEOUT, 300L);
    }
    snprintf(url, sizeof(url), "%s/api/v1/agent/events", serverproc_url(s));
    m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o->agents + 8);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)o->agents + 8);
    for (int i = 0; i < o->agents; i++) {
        if (next_batch(&agents[i], enc, &recs, o->batch) != 0)
            goto out;
        arm(&agents[i], url);
        curl_multi_add_handle(m, agents[i].h);
    }
    t_start = now_s();
    t_measure = t_start + o->warmup;
    t_end = t_measure + o->seconds;
    fprintf(stderr, "bench: %d agents, %d events per batch, warm-up %d s, measuring %d s\n", o->agents, o->batch,
            o->warmup, o->seconds);
    do {
        CURLMsg *msg;
        int left;
        double now;
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            struct agent *a;
            long status = 0;
            json_t *root;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            now = now_s();
            curl_multi_remove_handle(m, a->h);
            root = status == 200 ? json_loads(a->resp, 0, NULL) : NULL;
            if (root && (uint64_t)json_integer_value(json_object_get(root, "acked_seq")) == a->last) {
                total_acked += a->count;
                if (measuring) {
                    window_events += a->count;
                    if (nlat == latcap) {
                        latcap = latcap ? latcap * 2 : 65536;
                        lat = realloc(lat, latcap * sizeof(*lat));
                    }
                    if (lat)
                        lat[nlat++] = now - a->sent_at;
                }
                json_decref(root);
                if (!stopping && next_batch(a, enc, &recs, o->batch) != 0)
                    goto out;
            } else {
                json_decref(root);
                errors++;
                if (errors < 10)
                    fprintf(stderr, "bench: agent %d: HTTP %ld (%s): %.200s\n", a->index, status,
                            curl_easy_strerror(msg->data.result), a->resp);
                a->next_seq = a->first; /* resend the same events */
                if (!stopping && next_batch(a, enc, &recs, o->batch) != 0)
                    goto out;
            }
            if (!stopping) {
                arm(a, url);
                curl_multi_add_handle(m, a->h);
            }
        }
        now = now_s();
        if (!measuring && !stopping && now >= t_measure) {
            measuring = true;
            cpu0 = proc_cpu(pid);
            self0 = self_cpu();
            t_measure = now;
        }
        if (measuring && now >= t_end) {
            measuring = false;
            stopping = true;
            cpu1 = proc_cpu(pid);
            self1 = self_cpu();
            rss = proc_mem(pid, "VmRSS:");
            hwm = proc_mem(pid, "VmHWM:");
            t_end = now;
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running || !stopping);
    snprintf(db, sizeof(db), "%s/yamori.db", serverproc_data_dir(s));
    snprintf(wal, sizeof(wal), "%s-wal", db);
    {
        double secs = t_end - t_measure;
        long long bytes = file_size(db) + file_size(wal);
        qsort(lat, nlat, sizeof(*lat), cmp_double);
        printf("agents                 %d (each enrolled, own credentials, one keep-alive HTTPS connection)\n",
               o->agents);
        printf("batch                  %d events, zstd level %d\n", o->batch, o->level);
        printf("events stored          %.0f events/s (%" PRIu64 " in %.1f s; acknowledged after commit)\n",
               (double)window_events / secs, window_events, secs);
        printf("batch ack latency      p50 %.1f ms, p99 %.1f ms (%zu batches)\n",
               nlat ? lat[nlat / 2] * 1000 : 0.0, nlat ? lat[nlat * 99 / 100] * 1000 : 0.0, nlat);
        printf("server CPU             %.2f cores (%.1f µs per event)\n", (cpu1 - cpu0) / secs,
               window_events ? (cpu1 - cpu0) / (double)window_events * 1e6 : 0.0);
        printf("server memory          %.1f MiB resident at the end, %.1f MiB peak\n", rss, hwm);
        printf("bench CPU              %.2f cores\n", (self1 - self0) / secs);
        printf("store size             %.1f MiB for %" PRIu64 " events: %.0f MiB per million events\n",
               (double)bytes / 1048576.0, total_acked,
               total_acked ? (double)bytes / 1048576.0 / ((double)total_acked / 1e6) : 0.0);
        printf("errors                 %" PRIu64 "\n", errors);
    }
    rc = errors ? 1 : 0;
out:
    if (m) {
        for (int i = 0; agents && i < o->agents; i++)
            if (agents[i].h)
                curl_multi_remove_handle(m, agents[i].h);
        curl_multi_cleanup(m);
    }
    for (int i = 0; agents && i < o->agents; i++) {
        curl_easy_cleanup(agents[i].h);
        curl_slist_free_all(agents[i].hdrs);
        ingestgen_free(agents[i].gen);
        free(agents[i].body);
    }
    free(agents);
    free(lat);
    curl_easy_cleanup(eh);
    tlv_free(&recs);
    ingestgen_encoder_free(enc);
    serverproc_stop(s);
    return rc;
}

/* ------------------------------------------------------------------ the store alone */

struct store_run {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t acked, outstanding;
};

static void store_done(void *ctx, const struct ingest_result *r)
{
    struct store_run *sr = ctx;
    pthread_mutex_lock(&sr->lock);
    sr->acked += r->stored;
    sr->outstanding--;
    pthread_cond_signal(&sr->cond);
    pthread_mutex_unlock(&sr->lock);
}

static int run_store(const struct opts *o)
{
    char dir[] = "/tmp/yamori-bench-store.XXXXXX", uri[128], err[256], db[160];
    struct ingest_limits lim = {8u << 20, 100000};
    struct store_run sr = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    struct ingestgen_encoder *enc = ingestgen_encoder_new(o->level);
    struct ingest_writer *w = NULL;
    struct store *st = NULL;
    struct agent *agents = calloc((size_t)o->agents, sizeof(*agents));
    struct tlv_buf recs;
    double t0, t1 = 0, c0 = 0, c1 = 0;
    uint64_t a0 = 0, a1 = 0;
    int rc = 1;

    tlv_init(&recs);
    if (!mkdtemp(dir) || !agents || !enc)
        goto out;
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    snprintf(db, sizeof(db), "%s/yamori.db", dir);
    if (store_open(&st, uri, err, sizeof(err)) != 0 || store_events_attach(st, err, sizeof(err)) != 0 ||
        ingest_writer_start(st, NULL, &w, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        goto out;
    }
    for (int i = 0; i < o->agents; i++) {
        snprintf(agents[i].device_id, sizeof(agents[i].device_id), "00000000-0000-0000-0000-%012d", i);
        agents[i].gen = ingestgen_new((uint64_t)i + 1, agents[i].device_id);
        agents[i].next_seq = 1;
    }
    t0 = now_s();
    for (int i = 0;; i = (i + 1) % o->agents) {
        struct ingest_batch *b = NULL;
        unsigned status;
        double now = now_s();
        if (!c0 && now >= t0 + o->warmup) {
            c0 = self_cpu();
            pthread_mutex_lock(&sr.lock);
            a0 = sr.acked;
            pthread_mutex_unlock(&sr.lock);
            t0 = now - o->warmup;
        }
        if (c0 && now >= t0 + o->warmup + o->seconds) {
            c1 = self_cpu();
            pthread_mutex_lock(&sr.lock);
            a1 = sr.acked;
            pthread_mutex_unlock(&sr.lock);
            t1 = now;
            break;
        }
        if (next_batch(&agents[i], enc, &recs, o->batch) != 0 ||
            ingest_decode(agents[i].body, agents[i].body_len, agents[i].device_id, &lim, &b, &status, err,
                          sizeof(err)) != 0 ||
            store_events_prepare(&b->sb) != 0) {
            fprintf(stderr, "bench: %s\n", err);
            goto out;
        }
        pthread_mutex_lock(&sr.lock);
        while (sr.outstanding >= 64)
            pthread_cond_wait(&sr.cond, &sr.lock);
        sr.outstanding++;
        pthread_mutex_unlock(&sr.lock);
        if (ingest_writer_submit(w, b, store_done, &sr) != 0) {
            pthread_mutex_lock(&sr.lock);
            sr.outstanding--;
            pthread_mutex_unlock(&sr.lock);
        }
    }
    {
        double secs = t1 - (t0 + o->warmup);
        printf("store only (one writer thread; decoding and compression in the producer thread)\n");
        printf("events stored          %.0f events/s\n", (double)(a1 - a0) / secs);
        printf("process CPU            %.2f cores (%.1f µs per event, generation included)\n", (c1 - c0) / secs,
               (c1 - c0) / (double)(a1 - a0) * 1e6);
    }
    ingest_writer_stop(w);
    w = NULL;
    printf("store size             %.0f MiB per million events\n",
           (double)(file_size(db) + file_size(strcat(db, "-wal"))) / 1048576.0 / ((double)sr.acked / 1e6));
    rc = 0;
out:
    ingest_writer_stop(w);
    if (st) {
        store_events_detach(st);
        store_close(st);
    }
    for (int i = 0; agents && i < o->agents; i++) {
        ingestgen_free(agents[i].gen);
        free(agents[i].body);
    }
    free(agents);
    tlv_free(&recs);
    ingestgen_encoder_free(enc);
    if (getenv("YAMORI_BENCH_KEEP")) {
        fprintf(stderr, "bench: the store is kept in %s\n", dir);
    } else {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not remove %s\n", dir);
    }
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"agents", required_argument, NULL, 'a'}, {"batch", required_argument, NULL, 'b'},
        {"seconds", required_argument, NULL, 's'}, {"warmup", required_argument, NULL, 'w'},
        {"level", required_argument, NULL, 'l'}, {"threads", required_argument, NULL, 't'},
        {"store", no_argument, NULL, 'S'}, {NULL, 0, NULL, 0},
    };
    struct opts o = {.agents = 1000, .batch = 200, .seconds = 30, .warmup = 10, .level = 1, .threads = 4};
    int c, rc;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': o.agents = atoi(optarg); break;
        case 'b': o.batch = atoi(optarg); break;
        case 's': o.seconds = atoi(optarg); break;
        case 'w': o.warmup = atoi(optarg); break;
        case 'l': o.level = atoi(optarg); break;
        case 't': o.threads = atoi(optarg); break;
        case 'S': o.store_only = true; break;
        default:
            fprintf(stderr, "usage: bench_ingest [--agents N] [--batch N] [--seconds S] [--warmup S] [--level L]"
                            " [--threads N] [--store]\n");
            return 2;
        }
    }
    if (o.agents < 1 || o.batch < 1 || o.batch > 100000 || o.seconds < 1 || o.warmup < 0) {
        fprintf(stderr, "bench_ingest: bad arguments\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = o.store_only ? run_store(&o) : run_https(&o);
    curl_global_cleanup();
    return rc;
}
