/*
 * heartbeat.c — the heartbeat thread and the host facts it reports (see
 * heartbeat.h). The values follow what the server checks: a host name of
 * letters, digits, '-', '_' and '.'; printable text of at most 128
 * characters for os and kernel (64 for the distribution); at most 32
 * addresses; limitations as lines of at most 512 characters.
 */
#include "agent/heartbeat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/channel.h"
#include "agent/spool.h"
#include "common/log.h"

#define MAX_IPS 32
#define MAX_LIMITATIONS 64
#define MAX_LIMITATION_LEN 511

struct heartbeat {
    struct channel *c;
    struct spool *s;
    pthread_t thread;
    void *curl;
};

/* Keeps printable ASCII (and UTF-8 bytes), cuts at max. */
static void clean_text(char *s, size_t max)
{
    size_t n = 0;
    for (char *p = s; *p && n < max; p++) {
        unsigned char c = (unsigned char)*p;
        s[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    s[n] = '\0';
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
}

/* The value of KEY= in an os-release file (quotes removed). */
static bool os_release_value(const char *text, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n > kl && strncmp(line, key, kl) == 0 && line[kl] == '=') {
            const char *v = line + kl + 1;
            size_t vl = n - kl - 1;
            if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
                v++;
                vl -= 2;
            }
            if (vl == 0)
                return false;
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return true;
        }
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

void heartbeat_host_info(struct host_info *h)
{
    struct utsname u;
    char text[4096];
    ssize_t n = -1;
    int fd;

    memset(h, 0, sizeof(*h));
    if (gethostname(h->hostname, sizeof(h->hostname) - 1) != 0)
        h->hostname[0] = '\0';
    /* the server takes letters, digits, '-', '_', '.'; not starting with '-' or '.' */
    for (char *p = h->hostname; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
            *p = '-';
    if (!h->hostname[0] || h->hostname[0] == '-' || h->hostname[0] == '.')
        snprintf(h->hostname, sizeof(h->hostname), "localhost");
    fd = open("/etc/os-release", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fd = open("/usr/lib/os-release", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
    }
    text[n > 0 ? n : 0] = '\0';
    if (!os_release_value(text, "PRETTY_NAME", h->os, sizeof(h->os)))
        snprintf(h->os, sizeof(h->os), "Linux");
    if (!os_release_value(text, "ID", h->distribution, sizeof(h->distribution)))
        snprintf(h->distribution, sizeof(h->distribution), "linux");
    clean_text(h->os, 128);
    clean_text(h->distribution, 64);
    if (!h->os[0])
        snprintf(h->os, sizeof(h->os), "Linux");
    if (!h->distribution[0])
        snprintf(h->distribution, sizeof(h->distribution), "linux");
    if (uname(&u) == 0)
        snprintf(h->kernel, sizeof(h->kernel), "%s", u.release);
    clean_text(h->kernel, 128);
    if (!h->kernel[0])
        snprintf(h->kernel, sizeof(h->kernel), "unknown");
}

static void write_ips(struct jsonw *w)
{
    struct ifaddrs *ifa = NULL;
    int n = 0;

    jsonw_key(w, "ips");
    jsonw_array_begin(w);
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *i = ifa; i && n < MAX_IPS; i = i->ifa_next) {
            char buf[INET6_ADDRSTRLEN];
            if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
                continue;
            if (i->ifa_addr->sa_family == AF_INET) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, buf, sizeof(buf));
            } else if (i->ifa_addr->sa_family == AF_INET6) {
                const struct in6_addr *a = &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
                if (IN6_IS_ADDR_LINKLOCAL(a))
                    continue;
                inet_ntop(AF_INET6, a, buf, sizeof(buf));
            } else {
                continue;
            }
            jsonw_str(w, buf);
            n++;
        }
        freeifaddrs(ifa);
    }
    jsonw_array_end(w);
}

static uint64_t rss_bytes(void)
{
    char buf[256];
    unsigned long size = 0, resident = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void heartbeat_write(struct jsonw *w, struct channel *c, struct spool *s, uint64_t *prev_cpu_us, uint64_t *prev_ns,
                     uint64_t *prev_events)
{
    struct channel_health h;
    struct spool_stats st = {0};
    struct channel_status cs;
    struct host_info host;
    struct rusage ru;
    uint64_t cpu_us, now = mono_ns(), lost;
    double cpu = 0, rate = 0;
    int lines = 0;

    channel_get_health(c, &h);
    channel_get_status(c, &cs);
    if (s)
        spool_get_stats(s, &st);
    heartbeat_host_info(&host);
    getrusage(RUSAGE_SELF, &ru);
    cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
             (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
    if (*prev_ns && now > *prev_ns) {
        double dt = (double)(now - *prev_ns) / 1e9;
        cpu = (double)(cpu_us - *prev_cpu_us) / 1e6 / dt * 100.0;
        rate = h.events >= *prev_events ? (double)(h.events - *prev_events) / dt : 0;
    }
    *prev_cpu_us = cpu_us;
    *prev_ns = now;
    *prev_events = h.events;
    lost = h.sensor_lost;
    for (int r = SPOOL_LOSS_SENSOR + 1; r < SPOOL_LOSS_MAX; r++)
        lost += st.lost[r];

    jsonw_object_begin(w);
    jsonw_kv_str(w, "agent_version", YAMORI_VERSION);
    jsonw_kv_str(w, "sensor_backend", h.backend[0] ? h.backend : "unknown");
    jsonw_key(w, "sensor_limitations");
    jsonw_array_begin(w);
    for (const char *l = h.limitations; *l && lines < MAX_LIMITATIONS;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char line[MAX_LIMITATION_LEN + 1];
        snprintf(line, sizeof(line), "%.*s", (int)(n > MAX_LIMITATION_LEN ? MAX_LIMITATION_LEN : n), l);
        clean_text(line, MAX_LIMITATION_LEN);
        if (line[0]) {
            jsonw_str(w, line);
            lines++;
        }
        l += n + (nl ? 1 : 0);
    }
    jsonw_array_end(w);
    /* one decimal is enough; JSON numbers from jsonw are integers, so write the text */
    {
        char num[64];
        int k = snprintf(num, sizeof(num), "%.1f", rate);
        jsonw_key(w, "events_per_second");
        jsonw_raw(w, num, (size_t)k);
        k = snprintf(num, sizeof(num), "%.2f", cpu < 0 ? 0 : cpu);
        jsonw_key(w, "cpu_percent");
        jsonw_raw(w, num, (size_t)k);
    }
    jsonw_kv_uint(w, "events_lost", lost);
    jsonw_kv_uint(w, "spool_bytes", st.pending_bytes);
    jsonw_kv_uint(w, "spool_events", st.pending_events);
    jsonw_kv_uint(w, "upload_failures", cs.upload_failures);
    jsonw_kv_uint(w, "memory_bytes", rss_bytes());
    jsonw_kv_str(w, "hostname", host.hostname);
    write_ips(w);
    jsonw_kv_str(w, "os", host.os);
    jsonw_kv_str(w, "distribution", host.distribution);
    jsonw_kv_str(w, "kernel", host.kernel);
    jsonw_kv_str(w, "isolation", h.isolation[0] ? h.isolation : "not isolated");
    if (h.isolation_error[0]) {
        clean_text(h.isolation_error, MAX_LIMITATION_LEN);
        jsonw_kv_str(w, "isolation_error", h.isolation_error);
    }
    jsonw_object_end(w);
}

static void note_heartbeat(struct channel_status *st, void *ctx)
{
    st->last_heartbeat_ns = *(const uint64_t *)ctx;
}

static void *run(void *arg)
{
    struct heartbeat *hb = arg;
    uint64_t prev_cpu = 0, prev_ns = 0, prev_events = 0;
    unsigned interval = channel_conf(hb->c)->heartbeat_seconds;
    struct jsonw w;

    jsonw_init(&w);
    while (!channel_stopping(hb->c)) {
        struct https_reply rp;
        int e;

        jsonw_reset(&w);
        heartbeat_write(&w, hb->c, hb->s, &prev_cpu, &prev_ns, &prev_events);
        if (jsonw_failed(&w)) {
            channel_sleep(hb->c, (uint64_t)interval * 1000);
            continue;
        }
        e = channel_call(hb->c, &hb->curl, "POST", "/api/v1/agent/heartbeat", "application/json", w.buf, w.len, 30,
                         &rp);
        if (channel_stopping(hb->c)) {
            https_reply_free(&rp);
            break;
        }
        channel_note(hb->c, CHAN_HEARTBEAT, e, &rp);
        if (!e && rp.status >= 200 && rp.status < 300) {
            uint64_t now = channel_now_ns();
            json_t *root = rp.body ? json_loadb(rp.body, rp.len, 0, NULL) : NULL;
            json_t *v = json_object_get(root, "heartbeat_seconds");
            if (json_is_integer(v) && json_integer_value(v) >= 5 && json_integer_value(v) <= 3600 &&
                (unsigned)json_integer_value(v) != interval) {
                interval = (unsigned)json_integer_value(v);
                log_info("heartbeat every %u seconds, as the server asks", interval);
            }
            json_decref(root);
            channel_update(hb->c, note_heartbeat, &now);
        }
        https_reply_free(&rp);
        channel_sleep(hb->c, (uint64_t)interval * 1000);
    }
    jsonw_free(&w);
    return NULL;
}

int heartbeat_start(struct heartbeat **out, struct channel *c, struct spool *s, char *err, size_t errlen)
{
    struct heartbeat *hb = calloc(1, sizeof(*hb));
    int e;

    *out = NULL;
    if (!hb) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    hb->c = c;
    hb->s = s;
    e = -pthread_create(&hb->thread, NULL, run, hb);
    if (e) {
        snprintf(err, errlen, "cannot start the heartbeat thread: %s", strerror(-e));
        free(hb);
        return e;
    }
    *out = hb;
    return 0;
}

void heartbeat_stop(struct heartbeat *hb)
{
    if (!hb)
        return;
    channel_stop(hb->c);
    pthread_join(hb->thread, NULL);
    https_handle_free(hb->curl);
    free(hb);
}
