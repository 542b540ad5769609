/*
 * test_pipeline.c — the pipeline replayed without root: hand-built sensor
 * records in, rendered JSON events out. Covers lineage across exec and fork,
 * pid reuse, exit codes, file path normalisation and tags, network address
 * rendering, device events, and malformed records (counted, never crashing,
 * never producing an event).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "agent/event_encode.h"
#include "agent/pipeline.h"
#include "check.h"
#include "common/jsonw.h"

#define TICK 10000000ull /* ns per clock tick at USER_HZ 100 */

static json_t *events;

/* Each event goes through the real encoding and its JSON rendering. */
static void collect(void *ctx, struct yam_event *ev)
{
    struct jsonw w;
    struct tlv_buf b;
    json_error_t jerr;
    (void)ctx;
    jsonw_init(&w);
    tlv_init(&b);
    event_encode(&b, ev, "testhost", 0);
    if (tlv_to_json(b.data, b.len, &w, true) == 0)
        json_array_append_new(events, json_loadb(w.buf, w.len, 0, &jerr));
    jsonw_free(&w);
    tlv_free(&b);
}

static struct pipeline *new_pipeline(void)
{
    struct pipeline_options o = {.boot_id = "0badc0de-1111", .device_name = "testhost"};
    struct pipeline *p = NULL;
    char err[256];

    json_decref(events);
    events = json_array();
    if (pipeline_new(&p, &o, collect, NULL, err, sizeof(err)) != 0)
        return NULL;
    return p;
}

/* Record builder: header + fixed part, then strings appended. */
struct rec {
    uint8_t b[YS_RECORD_MAX];
    uint32_t len;
};

static void rec_init(struct rec *r, uint16_t type, size_t fixed, uint32_t tgid, uint64_t start_ns,
                     uint32_t ppid, uint64_t pstart_ns)
{
    struct ys_hdr *h = (struct ys_hdr *)r->b;
    memset(r, 0, sizeof(*r));
    h->type = type;
    h->version = YS_ABI_VERSION;
    h->source = YS_SRC_EBPF;
    h->ts_ns = 1000 * TICK;
    h->task.tgid = tgid;
    h->task.tid = tgid;
    h->task.ppid = ppid;
    h->task.start_ns = start_ns;
    h->task.pstart_ns = pstart_ns;
    h->task.loginuid = (uint32_t)-1;
    h->task.sessionid = (uint32_t)-1;
    r->len = (uint32_t)fixed;
}

static void rec_str(struct rec *r, struct ys_str *f, const char *s, size_t n)
{
    memcpy(r->b + r->len, s, n);
    f->off = (uint16_t)r->len;
    f->len = (uint16_t)n;
    r->len += (uint32_t)n;
}

static void feed(struct pipeline *p, struct rec *r)
{
    ((struct ys_hdr *)r->b)->size = (uint16_t)r->len;
    pipeline_on_record(p, r->b, r->len);
}

static void exec_rec(struct rec *r, uint32_t pid, uint64_t start, uint32_t ppid, uint64_t pstart,
                     const char *path, const char *argv, size_t argv_len, const char *cwd)
{
    struct ys_exec *e = (struct ys_exec *)r->b;
    rec_init(r, YS_PROC_EXEC, sizeof(*e), pid, start, ppid, pstart);
    rec_str(r, &e->path, path, strlen(path));
    rec_str(r, &e->argv, argv, argv_len);
    rec_str(r, &e->cwd, cwd, strlen(cwd));
    e->argc = 0;
    for (size_t i = 0; i < argv_len; i++)
        if (argv[i] == '\0')
            e->argc++;
}

static json_t *last(void)
{
    return json_array_get(events, json_array_size(events) - 1);
}

static const char *str(json_t *ev, const char *k)
{
    const char *v = json_string_value(json_object_get(ev, k));
    return v ? v : "(absent)";
}

static long long num(json_t *ev, const char *k)
{
    return json_integer_value(json_object_get(ev, k));
}

static void lineage_exec_fork_exit(void)
{
    struct pipeline *p = new_pipeline();
    struct rec r;
    json_t *ev;

    CHECK(p);
    exec_rec(&r, 100, 5 * TICK, 1, 1 * TICK, "/usr/bin/bash", "bash\0-l\0", 8, "/root");
    feed(p, &r);
    exec_rec(&r, 200, 7 * TICK, 100, 5 * TICK, "/usr/bin/curl", "curl\0-o\0/tmp/x\0http://h/\0", 25, "/tmp");
    feed(p, &r);
    ev = last();
    CHECK_STR(str(ev, "ActionType"), "ProcessCreated");
    CHECK_STR(str(ev, "ProcessCommandLine"), "curl -o /tmp/x http://h/");
    CHECK_INT(num(ev, "ProcessArgumentCount"), ==, 4);
    CHECK_STR(str(ev, "FileName"), "curl");
    CHECK_STR(str(ev, "ProcessUniqueId"), "0badc0de-200-7");
    CHECK_STR(str(ev, "InitiatingProcessUniqueId"), "0badc0de-100-5");
    CHECK_STR(str(ev, "InitiatingProcessCommandLine"), "bash -l");
    CHECK_STR(str(ev, "InitiatingProcessCurrentDirectory"), "/root");
    CHECK_STR(str(ev, "DeviceName"), "testhost");

    /* a fork: the child runs the parent's image until it execs */
    {
        struct ys_fork *f = (struct ys_fork *)r.b;
        rec_init(&r, YS_PROC_FORK, sizeof(*f), 200, 7 * TICK, 100, 5 * TICK);
        f->child_tgid = 201;
        f->child_start_ns = 9 * TICK;
        feed(p, &r);
    }
    ev = last();
    CHECK_STR(str(ev, "ActionType"), "ProcessForked");
    CHECK_STR(str(ev, "FolderPath"), "/usr/bin/curl");
    CHECK_STR(str(ev, "InitiatingProcessUniqueId"), "0badc0de-200-7");
    CHECK_STR(str(ev, "InitiatingProcessParentUniqueId"), "0badc0de-100-5");

    /* exit with code 3 */
    {
        struct ys_exit *x = (struct ys_exit *)r.b;
        rec_init(&r, YS_PROC_EXIT, sizeof(*x), 201, 9 * TICK, 200, 7 * TICK);
        x->exit_code = 3 << 8;
        feed(p, &r);
    }
    ev = last();
    CHECK_STR(str(ev, "ActionType"), "ProcessExited");
    CHECK_INT(num(ev, "ProcessExitCode"), ==, 3);
    CHECK(json_object_get(ev, "ProcessExitSignal") == NULL);
    CHECK_STR(str(ev, "ProcessUniqueId"), "0badc0de-201-9");
    pipeline_free(p);
}

/* The same pid for two processes: the start time keeps them apart. */
static void pid_reuse(void)
{
    struct pipeline *p = new_pipeline();
    struct rec r;

    CHECK(p);
    exec_rec(&r, 300, 10 * TICK, 1, TICK, "/usr/bin/a", "a\0", 2, "/");
    feed(p, &r);
    exec_rec(&r, 300, 20 * TICK, 1, TICK, "/usr/bin/b", "b\0", 2, "/");
    feed(p, &r);
    exec_rec(&r, 301, 21 * TICK, 300, 10 * TICK, "/usr/bin/c", "c\0", 2, "/");
    feed(p, &r);
    /* the child names the first process, by its start time, not the newer b */
    CHECK_STR(str(last(), "InitiatingProcessFileName"), "a");
    CHECK_STR(str(last(), "InitiatingProcessUniqueId"), "0badc0de-300-10");
    pipeline_free(p);
}

static void file_events(void)
{
    struct pipeline *p = new_pipeline();
    struct rec r;
    struct ys_file *f = (struct ys_file *)r.b;
    json_t *ev;

    CHECK(p);
    rec_init(&r, YS_FILE_RENAME, sizeof(*f), 400, 30 * TICK, 1, TICK);
    rec_str(&r, &f->path, "/tmp/../tmp/./x", 15);
    rec_str(&r, &f->path2, "/etc//cron.d/awsd", 17);
    feed(p, &r);
    ev = last();
    CHECK_STR(str(ev, "ActionType"), "FileRenamed");
    CHECK_STR(str(ev, "FolderPath"), "/etc/cron.d/awsd");
    CHECK_STR(str(ev, "FileName"), "awsd");
    CHECK_STR(str(ev, "PreviousFolderPath"), "/tmp/x");
    CHECK_STR(str(ev, "LocationTag"), "persistence:cron");

    rec_init(&r, YS_FILE_CHMOD, sizeof(*f), 400, 30 * TICK, 1, TICK);
    f->mode = 0755;
    f->uid = f->gid = (uint32_t)-1;
    rec_str(&r, &f->path, "/usr/lib/runtime", 16);
    feed(p, &r);
    ev = last();
    CHECK_STR(str(ev, "ActionType"), "FilePermissionsChanged");
    CHECK_STR(str(ev, "FileMode"), "0755");
    CHECK(json_is_true(json_object_get(ev, "IsExecutable")));
    CHECK(json_object_get(ev, "FileOwnerUid") == NULL);

    rec_init(&r, YS_FILE_CREATE, sizeof(*f), 400, 30 * TICK, 1, TICK);
    ((struct ys_hdr *)r.b)->flags = YS_F_SYMLINK;
    rec_str(&r, &f->path, "/etc/systemd/system/x.wants/awsd.service", 40);
    rec_str(&r, &f->path2, "../awsd.service", 15);
    feed(p, &r);
    ev = last();
    CHECK_STR(str(ev, "LinkType"), "symlink");
    CHECK_STR(str(ev, "LinkTarget"), "../awsd.service");
    CHECK_STR(str(ev, "LocationTag"), "persistence:systemd");
    pipeline_free(p);
}

static void network_events(void)
{
    struct pipeline *p = new_pipeline();
    struct rec r;
    struct ys_net *n = (struct ys_net *)r.b;
    json_t *ev;

    CHECK(p);
    rec_init(&r, YS_NET_CONNECT, sizeof(*n), 500, 40 * TICK, 1, TICK);
    n->family = AF_INET6;
    n->protocol = IPPROTO_TCP;
    n->lport = 40000;
    n->rport = 443;
    inet_pton(AF_INET6, "::ffff:198.51.100.7", n->raddr);
    inet_pton(AF_INET6, "::ffff:10.0.0.2", n->laddr);
    ((struct ys_hdr *)r.b)->flags = YS_F_FAILED;
    n->error = 111;
    feed(p, &r);
    ev = last();
    CHECK_STR(str(ev, "ActionType"), "ConnectionFailed");
    CHECK_STR(str(ev, "RemoteIP"), "198.51.100.7");
    CHECK_STR(str(ev, "LocalIP"), "10.0.0.2");
    CHECK_STR(str(ev, "RemoteIPType"), "Public");
    CHECK_STR(str(ev, "ConnectionError"), "ECONNREFUSED");
    CHECK_INT(num(ev, "RemotePort"), ==, 443);

    rec_init(&r, YS_NET_UDP_SEND, sizeof(*n), 500, 40 * TICK, 1, TICK);
    n->family = AF_INET6;
    n->protocol = IPPROTO_UDP;
    n->rport = 53;
    inet_pton(AF_INET6, "fe80::1", n->raddr);
    feed(p, &r);
    ev = last();
    CHECK_STR(str(ev, "ActionType"), "ConnectionSuccess");
    CHECK_STR(str(ev, "Protocol"), "Udp");
    CHECK_STR(str(ev, "RemoteIP"), "fe80::1");
    CHECK_STR(str(ev, "RemoteIPType"), "LinkLocal");
    pipeline_free(p);
}

/* Records that lie are counted and dropped; none yields an event. */
static void malformed_records(void)
{
    struct pipeline *p = new_pipeline();
    struct pipeline_stats st;
    struct rec r;
    struct ys_exec *e = (struct ys_exec *)r.b;
    struct ys_file *f = (struct ys_file *)r.b;
    size_t before;

    CHECK(p);
    before = json_array_size(events);
    /* wrong ABI version */
    exec_rec(&r, 600, 50 * TICK, 1, TICK, "/x", "x\0", 2, "/");
    ((struct ys_hdr *)r.b)->version = 99;
    feed(p, &r);
    /* unknown type */
    exec_rec(&r, 600, 50 * TICK, 1, TICK, "/x", "x\0", 2, "/");
    ((struct ys_hdr *)r.b)->type = 250;
    feed(p, &r);
    /* shorter than its header */
    pipeline_on_record(p, r.b, 10);
    /* size claims more than was handed over */
    exec_rec(&r, 600, 50 * TICK, 1, TICK, "/x", "x\0", 2, "/");
    ((struct ys_hdr *)r.b)->size = (uint16_t)r.len;
    pipeline_on_record(p, r.b, r.len - 5);
    /* a file record whose path points outside the record */
    rec_init(&r, YS_FILE_DELETE, sizeof(*f), 600, 50 * TICK, 1, TICK);
    f->path.off = 60000;
    f->path.len = 100;
    feed(p, &r);
    /* a file record too short for its fixed part */
    rec_init(&r, YS_FILE_DELETE, sizeof(struct ys_hdr) + 4, 600, 50 * TICK, 1, TICK);
    feed(p, &r);
    (void)e;
    pipeline_get_stats(p, &st);
    CHECK_INT(json_array_size(events), ==, before);
    CHECK_INT(st.bad_records, ==, 6);
    pipeline_free(p);
}

static void loss_report(void)
{
    struct pipeline *p = new_pipeline();
    uint64_t lost[YS_TYPE_MAX] = {0};
    json_t *ev;

    CHECK(p);
    pipeline_report_loss(p, lost, "ring-buffer-full");
    CHECK_INT(json_array_size(events), ==, 0); /* nothing lost, nothing said */
    lost[YS_PROC_EXEC] = 7;
    lost[YS_FILE_MODIFY] = 2;
    pipeline_report_loss(p, lost, "ring-buffer-full");
    ev = last();
    CHECK_STR(str(ev, "ActionType"), "SensorEventsLost");
    CHECK_INT(num(json_object_get(ev, "LostEvents"), "exec"), ==, 7);
    CHECK_INT(num(json_object_get(ev, "LostEvents"), "file_modify"), ==, 2);
    CHECK_INT(num(ev, "LostEventsTotal"), ==, 9);
    CHECK_STR(str(ev, "LostReason"), "ring-buffer-full");
    pipeline_free(p);
}

static void helpers(void)
{
    char out[65], cmd[64];
    CHECK(pipeline_container_id(
        "docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope", out));
    CHECK_STR(out, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    CHECK(!pipeline_container_id("user@0.service", out));
    CHECK(!pipeline_container_id("0123456789abcdef", out));
    CHECK_INT(pipeline_join_argv("ls\0-la\0\0", 8, cmd, sizeof(cmd)), ==, 6);
    CHECK_STR(cmd, "ls -la");
    CHECK_INT(pipeline_join_argv("abcdef", 6, cmd, 4), ==, 3);
    CHECK_STR(cmd, "abc");
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"lineage_exec_fork_exit", lineage_exec_fork_exit},
        {"pid_reuse", pid_reuse},
        {"file_events", file_events},
        {"network_events", network_events},
        {"malformed_records", malformed_records},
        {"loss_report", loss_report},
        {"helpers", helpers},
        {NULL, NULL},
    };
    int rc = check_main("pipeline", cases, argc, argv);
    json_decref(events);
    return rc;
}
