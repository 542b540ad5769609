/*
 * agent.c — see agent.h.
 *
 * Start-up order matters: the sensor is attached first (the kernel starts
 * queueing records), then /proc is walked (processes that already run),
 * then the loop drains the queue. Nothing that starts in between is missed.
 *
 * The loop waits on the sensor for at most flush_ms, hands every record to
 * the pipeline, flushes the output, and once a second does the upkeep:
 * clock offset, process expiry, loss reports, the status file.
 *
 * An enrolled agent writes to the spool instead of standard output and
 * starts the channel's threads (uploader, heartbeat, commands) once the
 * sensor runs; the loop itself stays the only thread that touches the
 * sensor and the pipeline. Once a second it publishes its health to the
 * channel and turns the spool's losses into SensorEventsLost events.
 *
 * In every mode the output also keeps the newest events in a ring
 * (recent.h) that the investigation package copies; collect holds its own
 * reference, and its channel is taken away (collect_set_channel(NULL))
 * after the channel stopped and before it is freed.
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agent/channel.h"
#include "agent/collect.h"
#include "agent/commands.h"
#include "agent/enrich.h"
#include "agent/event_encode.h"
#include "agent/heartbeat.h"
#include "agent/isolation.h"
#include "agent/live.h"
#include "agent/logon.h"
#include "agent/logsource.h"
#include "agent/output.h"
#include "agent/pipeline.h"
#include "agent/recent.h"
#include "agent/remediate_fs.h"
#include "agent/sensor.h"
#include "agent/snapshot.h"
#include "agent/spool.h"
#include "agent/status.h"
#include "agent/uploader.h"
#include "common/log.h"

void agent_options_default(struct agent_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->sensor = AGENT_SENSOR_AUTO;
    opt->ring_bytes = 8u << 20;
    opt->wakeup_bytes = 256u << 10;
    opt->flush_ms = 50;
    opt->enable_file = true;
    opt->enable_network = true;
    opt->enable_security = true;
    opt->enable_logons = true;
    opt->hash_images = true;
    opt->hash_max_bytes = 256ull << 20;
    opt->package_owner = true;
    opt->dpkg_admindir = "/var/lib/dpkg";
    opt->state_dir = "/var/lib/yamori";
    opt->status_path = "/run/yamori/agent-status.json";
    opt->proc_root = "/proc";
    opt->output_fd = 1;
    opt->config_dir = AGENTCONF_DIR;
}

static uint64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct agent {
    const struct agent_options *opt;
    struct sensor *sensor;
    struct pipeline *pipeline;
    struct output out;
    struct output_jsonl *jsonl;
    struct recent *recent;          /* the newest events, for the investigation package */
    /* enrolled: the spool and the channel's threads */
    struct output_spool *spooled;
    struct spool *spool;
    struct channel *chan;
    struct uploader *uploader;
    struct heartbeat *heartbeat;
    struct commands *commands;
    struct isolation *iso;
    struct agent_conf conf;
    bool curl_ready;
    struct enrich *enrich;
    struct logsource *logons;
    struct sensor_stats reported;   /* drops already reported as events */
    char limitations[2048];
    uint64_t started_ns;
};

static int open_sensor(struct agent *a, char *err, size_t errlen)
{
    const struct agent_options *opt = a->opt;
    struct sensor_options so = {
        .self_tgid = (uint32_t)getpid(),
        .ring_bytes = opt->ring_bytes,
        .wakeup_bytes = opt->wakeup_bytes,
        .enable_file = opt->enable_file,
        .enable_network = opt->enable_network,
        .enable_security = opt->enable_security,
    };
    char why[400] = "";
    int e = -ENOTSUP;

    if (opt->sensor != AGENT_SENSOR_FALLBACK) {
        e = sensor_bpf_open(&a->sensor, &so, pipeline_on_record, a->pipeline, why, sizeof(why));
        if (e == 0)
            return 0;
        if (opt->sensor == AGENT_SENSOR_EBPF) {
            snprintf(err, errlen, "eBPF sensor: %s", why);
            return e;
        }
        log_warn("eBPF sensor unavailable (%s); using the fallback sensor", why);
    }
    e = sensor_fallback_open(&a->sensor, &so, pipeline_on_record, a->pipeline, err, errlen);
    return e;
}

/* A logon record from the log source becomes a logon event. */
static int on_logon(const struct logon_record *r, void *ctx)
{
    struct agent *a = ctx;
    struct yam_logon_info info = {0};
    char line[LOGON_LINE_MAX + 1], method[128];
    uint64_t t;
    size_t n = r->line_len < LOGON_LINE_MAX ? r->line_len : LOGON_LINE_MAX;

    memcpy(line, r->line, n);
    line[n] = '\0';
    info.logon_type = logon_type_name(r->type);
    info.protocol = logon_protocol_name(r->protocol);
    info.account = r->account;
    info.initiating_account = r->initiating_account;
    if (r->auth_method && r->auth_submethod) {
        snprintf(method, sizeof(method), "%s/%s", r->auth_method, r->auth_submethod);
        info.method = method;
    } else {
        info.method = r->auth_method;
    }
    info.key_type = r->key_type;
    info.key_fingerprint = r->key_fingerprint;
    info.remote_ip = r->remote_ip;
    info.remote_host = r->remote_host;
    info.remote_port = r->remote_port;
    info.failure_reason = r->failure == LOGON_FAIL_NONE ? NULL : logon_failure_name(r->failure);
    info.command = r->command;
    info.tty = r->tty;
    info.line = line;
    info.attempts = r->count;
    t = r->time_us ? r->time_us * 1000ull : now_ns(CLOCK_REALTIME);
    pipeline_on_logon(a->pipeline, r->result == LOGON_SUCCESS, t, r->pid, &info, logsource_name(a->logons));
    return 0;
}

/* Opens the logon source: the file given, else the journal or the auth log
 * this machine has. A machine with neither is a limitation, not an error. */
static void open_logons(struct agent *a)
{
    const struct agent_options *opt = a->opt;
    char state[512], why[512] = "";
    int e;

    if (!opt->enable_logons)
        return;
    if (mkdir(opt->state_dir, 0700) != 0 && errno != EEXIST) {
        log_warn("cannot create the state directory %s: %s; logons are not followed", opt->state_dir,
                 strerror(errno));
        return;
    }
    snprintf(state, sizeof(state), "%s/logon.state", opt->state_dir);
    if (opt->sshd_log) {
        struct logsource_options lo;
        logsource_options_init(&lo);
        lo.bare_identifier = "sshd";
        e = logsource_open_file(opt->sshd_log, state, &lo, &a->logons, why, sizeof(why));
    } else if (opt->auth_log) {
        e = logsource_open_file(opt->auth_log, state, NULL, &a->logons, why, sizeof(why));
    } else {
        e = logsource_auto(state, NULL, &a->logons, why, sizeof(why));
    }
    if (e) {
        size_t n = strlen(a->limitations);
        snprintf(a->limitations + n, sizeof(a->limitations) - n, "%slogons: %s", n ? "\n" : "", why);
        a->logons = NULL;
        return;
    }
    log_info("following logons from %s %s", logsource_name(a->logons),
             logsource_path(a->logons) ? logsource_path(a->logons) : "");
}

/* Reports drops counted since the last report as a SensorEventsLost event. */
static void report_loss(struct agent *a)
{
    struct sensor_stats now;
    uint64_t delta[YS_TYPE_MAX];
    bool any = false;

    sensor_get_stats(a->sensor, &now);
    for (int t = 0; t < YS_TYPE_MAX; t++) {
        delta[t] = now.dropped[t] - a->reported.dropped[t];
        any |= delta[t] != 0;
    }
    if (!any)
        return;
    pipeline_report_loss(a->pipeline, delta,
                         strcmp(sensor_name(a->sensor), "ebpf") == 0 ? "ring-buffer-full" : "queue-overflow");
    memcpy(a->reported.dropped, now.dropped, sizeof(now.dropped));
    if (a->spool)
        for (int t = 0; t < YS_TYPE_MAX; t++)
            spool_count_loss(a->spool, SPOOL_LOSS_SENSOR, (unsigned)t, delta[t]); /* for the batch header */
}

/* Turns what the spool lost (quota, corruption, refused, write errors)
 * into SensorEventsLost events, one per reason. */
static void report_spool_loss(struct agent *a)
{
    struct spool_loss *l;

    if (!a->spool || !(l = calloc(1, sizeof(*l))))
        return;
    spool_peek_loss(a->spool, SPOOL_CONSUMER_EVENTS, l);
    memset(l->n[SPOOL_LOSS_SENSOR], 0, sizeof(l->n[SPOOL_LOSS_SENSOR])); /* reported by report_loss */
    for (int r = SPOOL_LOSS_SENSOR + 1; r < SPOOL_LOSS_MAX; r++)
        pipeline_report_loss(a->pipeline, l->n[r], spool_loss_reason_name((enum spool_loss_reason)r));
    spool_commit_loss(a->spool, SPOOL_CONSUMER_EVENTS, l);
    free(l);
}

/* What the heartbeat reports about the sensor. */
static void publish_health(struct agent *a)
{
    struct channel_health h;
    struct sensor_stats st;

    if (!a->chan)
        return;
    memset(&h, 0, sizeof(h));
    snprintf(h.backend, sizeof(h.backend), "%s", sensor_name(a->sensor));
    snprintf(h.limitations, sizeof(h.limitations), "%s", a->limitations);
    h.events = a->out.count(a->out.ctx);
    sensor_get_stats(a->sensor, &st);
    for (int t = 0; t < YS_TYPE_MAX; t++)
        h.sensor_lost += st.dropped[t];
    if (a->iso) {
        struct isolation_status is;
        isolation_get_status(a->iso, &is);
        snprintf(h.isolation, sizeof(h.isolation), "%s", isolation_state_name(is.state));
        snprintf(h.isolation_error, sizeof(h.isolation_error), "%s", is.error);
    }
    channel_publish_health(a->chan, &h);
}

/* Isolation's pinned addresses go to the channel (isolation_on_pins). */
static void pin_channel(void *ctx, const char *pins)
{
    channel_pin(ctx, pins);
}

/* Enrolled: reads agent.conf, opens the spool, creates the channel. */
static int open_server_output(struct agent *a, char *err, size_t errlen)
{
    const struct agent_options *opt = a->opt;
    struct spool_options so = {0};
    char path[1100], dir[1100];
    int e;

    snprintf(path, sizeof(path), "%s/agent.conf", opt->config_dir ? opt->config_dir : AGENTCONF_DIR);
    e = agentconf_load(&a->conf, path, err, errlen);
    if (e)
        return e;
    if (mkdir(opt->state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the state directory %s: %s", opt->state_dir, strerror(errno));
        return -errno;
    }
    /* isolation first: a machine isolated before the restart stays so from
     * the first moment, before the sensor, the spool or the channel */
    e = isolation_open(&a->iso, opt->state_dir, a->conf.server_url, a->conf.proxy, err, errlen);
    if (!e)
        e = isolation_start_watchdog(a->iso, err, errlen);
    if (e)
        return e;
    isolation_register(a->iso);
    snprintf(dir, sizeof(dir), "%s/spool", opt->state_dir);
    so.dir = dir;
    so.max_bytes = opt->spool_max_bytes ? opt->spool_max_bytes : a->conf.spool_max_bytes;
    so.max_age_seconds = opt->spool_max_age_seconds ? opt->spool_max_age_seconds : a->conf.spool_max_age_seconds;
    e = spool_open(&a->spool, &so, err, errlen);
    if (e)
        return e;
    e = channel_global_init(err, errlen);
    if (e)
        return e;
    a->curl_ready = true;
    e = channel_new(&a->chan, &a->conf, err, errlen);
    if (e)
        return e;
    isolation_on_pins(a->iso, pin_channel, a->chan);
    a->spooled = output_spool_new(a->spool);
    if (!a->spooled) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    a->out = output_spool_as(a->spooled);
    return 0;
}

/* Starts the uploader, heartbeat and command threads. */
static int start_channel(struct agent *a, char *err, size_t errlen)
{
    int e;

    publish_health(a);
    e = uploader_start(&a->uploader, a->chan, a->spool, NULL, err, errlen);
    if (!e)
        e = heartbeat_start(&a->heartbeat, a->chan, a->spool, err, errlen);
    remfs_set_state_dir(a->opt->state_dir); /* quarantine and backups live there */
    collect_set_channel(a->chan);           /* the investigation package is uploaded over it */
    live_set_channel(a->chan);              /* live response's getfile, putfile and run use it */
    if (!e)
        e = commands_start(&a->commands, a->chan, a->opt->state_dir, err, errlen);
    return e;
}

static void stop_channel(struct agent *a)
{
    if (a->chan)
        channel_stop(a->chan);
    uploader_stop(a->uploader);
    heartbeat_stop(a->heartbeat);
    commands_stop(a->commands);
    /* a collect still running (left to end with the process) never
     * uploads over the channel once it is freed */
    collect_set_channel(NULL);
    live_set_channel(NULL);              /* waits for a getfile, putfile or run transfer */
    a->uploader = NULL;
    a->heartbeat = NULL;
    a->commands = NULL;
}

static void write_status(struct agent *a)
{
    struct agent_status st;
    struct channel_status cs;
    struct spool_stats ss;

    memset(&st, 0, sizeof(st));
    if (a->chan) {
        channel_get_status(a->chan, &cs);
        spool_get_stats(a->spool, &ss);
        st.channel = &cs;
        st.spool = &ss;
        st.server_url = a->conf.server_url;
        st.device_id = a->conf.device_id;
    }
    st.backend = sensor_name(a->sensor);
    st.limitations = a->limitations;
    st.started_ns = a->started_ns;
    sensor_get_stats(a->sensor, &st.sensor);
    pipeline_get_stats(a->pipeline, &st.pipeline);
    proctable_get_stats(pipeline_proctable(a->pipeline), &st.procs);
    st.events_out = a->out.count(a->out.ctx);
    if (a->enrich)
        enrich_get_stats(a->enrich, &st.enrich);
    if (agent_status_write(a->opt->status_path, &st) != 0)
        log_debug("cannot write the status file %s", a->opt->status_path);
}

int agent_run(const struct agent_options *opt, volatile sig_atomic_t *stop)
{
    struct agent a = {.opt = opt};
    struct pipeline_options po = {0};
    char err[1024] = "";
    uint64_t last_tick, deadline = 0;
    char tamper[32];
    int e;

    a.started_ns = now_ns(CLOCK_REALTIME);
    a.recent = recent_new(RECENT_MAX_RECORDS, RECENT_MAX_BYTES);
    if (!a.recent)
        log_warn("out of memory: the agent's recent events are not kept for investigation packages");
    collect_set_recent(a.recent);
    if (opt->to_server) {
        e = open_server_output(&a, err, sizeof(err));
        if (e)
            goto fail;
    } else {
        a.jsonl = output_jsonl_new(opt->output_fd, 256 * 1024);
        if (!a.jsonl) {
            e = -ENOMEM;
            snprintf(err, sizeof(err), "out of memory");
            goto fail;
        }
        a.out = output_jsonl_as(a.jsonl);
    }
    e = enrich_new(&a.enrich, opt, err, sizeof(err));
    if (e)
        goto fail;
    po.proc_root = opt->proc_root;
    po.file_snippets = true;
    po.passwd_path = "/etc/passwd";
    enrich_fill(a.enrich, &po.enrich);
    e = pipeline_new(&a.pipeline, &po, a.out.event, a.out.ctx, err, sizeof(err));
    if (e)
        goto fail;
    if (a.jsonl) {
        output_jsonl_attach(a.jsonl, a.pipeline);
        output_jsonl_keep_recent(a.jsonl, a.recent);
    } else {
        output_spool_attach(a.spooled, a.pipeline);
        output_spool_keep_recent(a.spooled, a.recent);
    }

    e = open_sensor(&a, err, sizeof(err));
    if (e)
        goto fail;
    sensor_limitations(a.sensor, a.limitations, sizeof(a.limitations));
    {
        size_t n = strlen(a.limitations);
        while (n && a.limitations[n - 1] == '\n')
            a.limitations[--n] = '\0';
    }
    open_logons(&a);
    pipeline_agent_started(a.pipeline, sensor_name(a.sensor), a.limitations);
    e = snapshot_processes(opt->proc_root, pipeline_on_record, a.pipeline);
    if (e < 0)
        log_warn("cannot walk %s: %s", opt->proc_root, strerror(-e));
    a.out.flush(a.out.ctx);
    if (a.chan) {
        e = start_channel(&a, err, sizeof(err));
        if (e)
            goto fail;
        log_info("sensor %s running; events to the spool in %s/spool, sent to %s as device %s", sensor_name(a.sensor),
                 opt->state_dir, a.conf.server_url, a.conf.device_id);
    } else {
        log_info("sensor %s running; events to fd %d", sensor_name(a.sensor), opt->output_fd);
    }
    if (a.limitations[0])
        log_info("sensor limitations: %s", a.limitations);

    last_tick = now_ns(CLOCK_MONOTONIC);
    if (opt->max_seconds)
        deadline = last_tick + opt->max_seconds * 1000000000ull;
    write_status(&a);
    while (!*stop) {
        uint64_t now;
        int n = sensor_poll(a.sensor, opt->flush_ms);
        if (n < 0 && n != -EINTR) {
            snprintf(err, sizeof(err), "sensor: %s", strerror(-n));
            e = n;
            goto fail;
        }
        if (a.logons && logsource_read(a.logons, on_logon, &a) < 0)
            log_warn("logon source: %s", logsource_error(a.logons));
        if (a.out.flush(a.out.ctx) == -EPIPE)
            break;
        now = now_ns(CLOCK_MONOTONIC);
        if (now - last_tick >= 1000000000ull) {
            last_tick = now;
            pipeline_tick(a.pipeline);
            if (a.enrich)
                enrich_tick(a.enrich);
            report_loss(&a);
            report_spool_loss(&a);
            if (a.iso && isolation_take_tampered(a.iso, tamper, sizeof(tamper)))
                pipeline_isolation_tampered(a.pipeline, tamper);
            publish_health(&a);
            write_status(&a);
            a.out.flush(a.out.ctx);
        }
        if (deadline && now >= deadline)
            break;
    }
    /* drain what the kernel still holds, then say what was lost */
    sensor_poll(a.sensor, 0);
    pipeline_flush(a.pipeline);
    report_loss(&a);
    report_spool_loss(&a);
    a.out.flush(a.out.ctx);
    write_status(&a);
    e = 0;
    goto out;
fail:
    log_error("%s", err);
out:
    stop_channel(&a);
    isolation_free(a.iso); /* the table stays: isolation outlives the agent */
    logsource_free(a.logons);
    sensor_free(a.sensor);
    pipeline_free(a.pipeline);
    enrich_free(a.enrich);
    output_jsonl_free(a.jsonl);
    output_spool_free(a.spooled);
    collect_set_recent(NULL);
    recent_unref(a.recent);
    spool_close(a.spool); /* writes and syncs what is left */
    channel_free(a.chan);
    if (a.curl_ready)
        channel_global_cleanup();
    return e;
}
