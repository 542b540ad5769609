/*
 * status.c — see status.h. The file is rewritten every second by the agent;
 * readers never see a half-written file because it is renamed into place.
 */
#include "agent/status.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/event_encode.h"
#include "common/jsonw.h"

static void counters(struct jsonw *w, const char *key, const uint64_t v[YS_TYPE_MAX])
{
    jsonw_key(w, key);
    jsonw_object_begin(w);
    for (unsigned t = 0; t < YS_TYPE_MAX; t++)
        if (v[t])
            jsonw_kv_uint(w, event_record_type_name(t), v[t]);
    jsonw_object_end(w);
}

/* The server link and the spool of an enrolled agent. */
static void channel_members(struct jsonw *w, const struct agent_status *st)
{
    const struct channel_status *c = st->channel;
    const struct spool_stats *sp = st->spool;

    jsonw_kv_str(w, "Output", c ? "server" : "stdout");
    if (!c || !sp)
        return;
    jsonw_key(w, "Server");
    jsonw_object_begin(w);
    jsonw_kv_str(w, "Url", st->server_url ? st->server_url : "");
    jsonw_kv_str(w, "DeviceId", st->device_id ? st->device_id : "");
    jsonw_kv_str(w, "LinkState", link_state_name(c->link));
    jsonw_key(w, "Links");
    jsonw_object_begin(w);
    jsonw_kv_str(w, "events", link_state_name(c->path[CHAN_EVENTS]));
    jsonw_kv_str(w, "heartbeat", link_state_name(c->path[CHAN_HEARTBEAT]));
    jsonw_kv_str(w, "commands", link_state_name(c->path[CHAN_POLL]));
    jsonw_kv_str(w, "results", link_state_name(c->path[CHAN_RESULT]));
    jsonw_object_end(w);
    if (c->link_error[0]) {
        jsonw_kv_str(w, "LastError", c->link_error);
        jsonw_kv_time(w, "LastErrorTime", c->link_error_ns);
    }
    if (c->last_upload_ns)
        jsonw_kv_time(w, "LastUpload", c->last_upload_ns);
    if (c->last_heartbeat_ns)
        jsonw_kv_time(w, "LastHeartbeat", c->last_heartbeat_ns);
    if (c->next_retry_ns)
        jsonw_kv_time(w, "NextRetry", c->next_retry_ns);
    jsonw_kv_uint(w, "BatchesSent", c->batches_sent);
    jsonw_kv_uint(w, "EventsSent", c->events_sent);
    jsonw_kv_uint(w, "BytesSent", c->bytes_sent);
    jsonw_kv_uint(w, "UploadFailures", c->upload_failures);
    jsonw_kv_uint(w, "EventsRejected", c->events_rejected);
    jsonw_kv_uint(w, "CommandsRun", c->commands_run);
    jsonw_object_end(w);
    jsonw_key(w, "Spool");
    jsonw_object_begin(w);
    jsonw_kv_uint(w, "PendingEvents", sp->pending_events);
    jsonw_kv_uint(w, "PendingBytes", sp->pending_bytes);
    jsonw_kv_uint(w, "DiskBytes", sp->disk_bytes);
    jsonw_kv_uint(w, "Segments", sp->segments);
    jsonw_kv_uint(w, "AckedSeq", sp->acked_seq);
    jsonw_kv_uint(w, "NextSeq", sp->next_seq);
    if (sp->oldest_pending_ns)
        jsonw_kv_time(w, "OldestPending", sp->oldest_pending_ns);
    if (sp->write_error)
        jsonw_kv_str(w, "WriteError", strerror(-sp->write_error));
    jsonw_key(w, "Lost");
    jsonw_object_begin(w);
    for (int r = SPOOL_LOSS_SENSOR + 1; r < SPOOL_LOSS_MAX; r++)
        if (sp->lost[r])
            jsonw_kv_uint(w, spool_loss_reason_name((enum spool_loss_reason)r), sp->lost[r]);
    jsonw_object_end(w);
    jsonw_object_end(w);
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

static int mkdir_parent(const char *path)
{
    char dir[PATH_MAX];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int agent_status_write(const char *path, const struct agent_status *st)
{
    struct jsonw w;
    struct rusage ru;
    char tmp[PATH_MAX];
    int fd, e = 0;
    uint64_t dropped = 0;

    if (!path || !*path)
        return 0;
    e = mkdir_parent(path);
    if (e)
        return e;
    jsonw_init(&w);
    getrusage(RUSAGE_SELF, &ru);
    for (unsigned t = 0; t < YS_TYPE_MAX; t++)
        dropped += st->sensor.dropped[t];

    jsonw_object_begin(&w);
    jsonw_kv_str(&w, "AgentVersion", YAMORI_VERSION);
    jsonw_kv_uint(&w, "Pid", (uint64_t)getpid());
    jsonw_kv_time(&w, "Started", st->started_ns);
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        jsonw_kv_time(&w, "Updated", (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
    }
    jsonw_kv_str(&w, "SensorBackend", st->backend);
    jsonw_key(&w, "SensorLimitations");
    jsonw_array_begin(&w);
    for (const char *l = st->limitations; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (n)
            jsonw_strn(&w, l, n);
        l += n + (nl ? 1 : 0);
    }
    jsonw_array_end(&w);
    jsonw_kv_uint(&w, "EventsOut", st->events_out);
    jsonw_kv_uint(&w, "EventsLost", dropped);
    counters(&w, "RecordsEmitted", st->sensor.emitted);
    counters(&w, "RecordsDropped", st->sensor.dropped);
    counters(&w, "RecordsFiltered", st->sensor.filtered);
    counters(&w, "RecordsTaken", st->pipeline.records);
    jsonw_kv_uint(&w, "RecordsMalformed", st->pipeline.bad_records);
    jsonw_kv_uint(&w, "ProcessesKnown", st->procs.entries);
    jsonw_kv_uint(&w, "ProcessesLive", st->procs.live);
    jsonw_kv_uint(&w, "ProcessesEvictedLive", st->procs.evicted_live);
    jsonw_kv_uint(&w, "ProcessesCompletedFromProc", st->pipeline.lazy_fills);
    jsonw_kv_uint(&w, "HashCacheHits", st->enrich.hash_hits);
    jsonw_kv_uint(&w, "HashCacheMisses", st->enrich.hash_misses);
    jsonw_kv_uint(&w, "HashedBytes", st->enrich.hash_bytes);
    jsonw_kv_uint(&w, "HashSkipped", st->enrich.hash_skipped);
    jsonw_kv_uint(&w, "PackageIndexEntries", st->enrich.pkg_entries);
    jsonw_kv_uint(&w, "PackageIndexBytes", st->enrich.pkg_memory_bytes);
    jsonw_kv_uint(&w, "ResidentBytes", rss_bytes());
    jsonw_kv_uint(&w, "MaxResidentBytes", (uint64_t)ru.ru_maxrss * 1024);
    jsonw_kv_uint(&w, "CpuUserMicroseconds", (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec);
    jsonw_kv_uint(&w, "CpuSystemMicroseconds", (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec);
    channel_members(&w, st);
    jsonw_object_end(&w);
    jsonw_end_line(&w);
    if (jsonw_failed(&w)) {
        e = -ENOMEM;
        goto out;
    }

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        e = -errno;
        goto out;
    }
    if (write(fd, w.buf, w.len) != (ssize_t)w.len) {
        e = -EIO;
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        e = -errno;
        unlink(tmp);
    }
out:
    jsonw_free(&w);
    return e;
}

static void print_counters(json_t *root, const char *key, const char *label)
{
    json_t *obj = json_object_get(root, key);
    const char *k;
    json_t *v;

    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return;
    printf("%-22s", label);
    json_object_foreach(obj, k, v) printf(" %s=%lld", k, (long long)json_integer_value(v));
    printf("\n");
}

static const char *text_of(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "-";
}

static void print_server(json_t *root)
{
    json_t *srv = json_object_get(root, "Server"), *sp = json_object_get(root, "Spool");

    printf("%-22s %s\n", "output", text_of(root, "Output"));
    if (!json_is_object(srv) || !json_is_object(sp))
        return;
    printf("%-22s %s (device %s)\n", "server", text_of(srv, "Url"), text_of(srv, "DeviceId"));
    {
        json_t *l = json_object_get(srv, "Links");
        printf("%-22s %s (events %s, heartbeat %s, commands %s)\n", "link", text_of(srv, "LinkState"),
               text_of(l, "events"), text_of(l, "heartbeat"), text_of(l, "commands"));
    }
    if (json_object_get(srv, "LastError"))
        printf("%-22s %s (%s)\n", "last error", text_of(srv, "LastError"), text_of(srv, "LastErrorTime"));
    printf("%-22s %s\n", "last upload", text_of(srv, "LastUpload"));
    printf("%-22s %s\n", "last heartbeat", text_of(srv, "LastHeartbeat"));
    if (json_object_get(srv, "NextRetry"))
        printf("%-22s %s\n", "next retry", text_of(srv, "NextRetry"));
    printf("%-22s %lld events in %lld batches, %lld failed attempts, %lld refused\n", "sent",
           (long long)json_integer_value(json_object_get(srv, "EventsSent")),
           (long long)json_integer_value(json_object_get(srv, "BatchesSent")),
           (long long)json_integer_value(json_object_get(srv, "UploadFailures")),
           (long long)json_integer_value(json_object_get(srv, "EventsRejected")));
    printf("%-22s %lld events, %.1f MiB waiting; acknowledged up to %lld\n", "spool",
           (long long)json_integer_value(json_object_get(sp, "PendingEvents")),
           (double)json_integer_value(json_object_get(sp, "PendingBytes")) / (1024.0 * 1024.0),
           (long long)json_integer_value(json_object_get(sp, "AckedSeq")));
    print_counters(sp, "Lost", "spool losses");
    printf("%-22s %lld\n", "commands run", (long long)json_integer_value(json_object_get(srv, "CommandsRun")));
}

int agent_status_print(const char *path, int json)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    json_t *lim;
    size_t i;
    json_t *v;

    if (!root) {
        fprintf(stderr, "yamori-agent: cannot read the status file %s: %s (is the agent running?)\n", path,
                jerr.text);
        return -ENOENT;
    }
    if (json) {
        char *s = json_dumps(root, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
        json_decref(root);
        return 0;
    }
    printf("%-22s %s\n", "version", json_string_value(json_object_get(root, "AgentVersion")));
    printf("%-22s %lld\n", "pid", (long long)json_integer_value(json_object_get(root, "Pid")));
    printf("%-22s %s\n", "started", json_string_value(json_object_get(root, "Started")));
    printf("%-22s %s\n", "updated", json_string_value(json_object_get(root, "Updated")));
    printf("%-22s %s\n", "sensor", json_string_value(json_object_get(root, "SensorBackend")));
    lim = json_object_get(root, "SensorLimitations");
    json_array_foreach(lim, i, v) printf("%-22s %s\n", i == 0 ? "limitations" : "", json_string_value(v));
    printf("%-22s %lld\n", "events out", (long long)json_integer_value(json_object_get(root, "EventsOut")));
    printf("%-22s %lld\n", "events lost", (long long)json_integer_value(json_object_get(root, "EventsLost")));
    print_counters(root, "RecordsEmitted", "records");
    print_counters(root, "RecordsDropped", "dropped (ring full)");
    print_counters(root, "RecordsFiltered", "filtered (policy)");
    printf("%-22s %lld known, %lld live\n", "processes",
           (long long)json_integer_value(json_object_get(root, "ProcessesKnown")),
           (long long)json_integer_value(json_object_get(root, "ProcessesLive")));
    printf("%-22s %.1f MiB\n", "memory",
           (double)json_integer_value(json_object_get(root, "ResidentBytes")) / (1024.0 * 1024.0));
    print_server(root);
    json_decref(root);
    return 0;
}
