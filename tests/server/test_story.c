/*
 * test_story.c — the alert story over a real event store, without HTTP.
 *
 * The events an agent records during the awsd attack (tests/lib/storygen.c)
 * go through ingest_decode() and store_events_write(), as the server
 * stores them; then story_build() must tell them as a tree a person can
 * read: from the SSH session through the login shell and the attack
 * script down to every command and the payload, each with what it did in
 * words. And the bounds: a wide tree (thousands of children), a deep
 * chain, a forged loop, an unknown process; marking alerts.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/jsonw.h"
#include "common/schema.h"
#include "common/tlv.h"
#include "ingestgen.h"
#include "server/ingest.h"
#include "server/store.h"
#include "server/story.h"
#include "storygen.h"

#define DEV "11111111-2222-3333-4444-555555555555"
#define DEV2 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

static const struct ingest_limits limits = {64u << 20, 100000};
static char dir[128];
static struct store *st;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return (int64_t)(storygen_t0 / 1000000) + 3600 * 1000;
}

static void teardown(void)
{
    if (st) {
        store_events_detach(st);
        store_close(st);
        st = NULL;
    }
    if (dir[0]) {
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char p[512];
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
        if (d)
            closedir(d);
        rmdir(dir);
        dir[0] = '\0';
    }
}

static bool open_store(void)
{
    char uri[256], err[256];
    snprintf(dir, sizeof(dir), "/tmp/yamori-story-XXXXXX");
    if (!mkdtemp(dir))
        return false;
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    if (store_open(&st, uri, err, sizeof(err)) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return false;
    }
    store_set_clock(st, test_clock, NULL);
    if (store_events_attach(st, err, sizeof(err)) != 0) {
        fprintf(stderr, "attach: %s\n", err);
        return false;
    }
    return true;
}

/* Stores count records (wire form) of device from Seq first as one batch,
 * the way the ingest does. */
static bool store_records(const char *device, uint64_t first, size_t count, const struct tlv_buf *recs)
{
    struct ingestgen_encoder *enc = ingestgen_encoder_new(1);
    char *h = ingestgen_header(device, first, first + count - 1, count, NULL);
    struct ingest_batch *b = NULL;
    struct store_event_batch *one;
    const uint8_t *body;
    size_t len = 0;
    unsigned status;
    char err[256];
    bool ok = false;

    body = enc && h ? ingestgen_encode(enc, h, strlen(h), recs->data, recs->len, &len) : NULL;
    if (!body)
        goto out;
    if (ingest_decode(body, len, device, &limits, &b, &status, err, sizeof(err)) != 0) {
        fprintf(stderr, "decode: %s\n", err);
        goto out;
    }
    one = &b->sb;
    if (store_events_write(st, &one, 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "write: %s\n", err);
        goto out;
    }
    ok = b->sb.stored == count;
out:
    ingest_batch_free(b);
    free(h);
    ingestgen_encoder_free(enc);
    return ok;
}

static bool store_attack(const char *device)
{
    struct tlv_buf recs;
    size_t n;
    bool ok;

    tlv_init(&recs);
    n = storygen_attack(&recs, 1, 0);
    ok = !recs.failed && store_records(device, 1, n, &recs);
    tlv_free(&recs);
    return ok;
}

/* The story of uid as parsed JSON (caller decrefs), or NULL with *rc. */
static json_t *story_of(const char *device, const char *uid, int64_t around, const struct story_limits *lim, int *rc,
                        char *err, size_t errlen)
{
    struct story *s = NULL;
    struct jsonw w;
    json_t *v = NULL;

    *rc = story_build(st, device, uid, around, lim, &s, err, errlen);
    if (*rc)
        return NULL;
    jsonw_init(&w);
    story_json(s, &w);
    if (!jsonw_failed(&w))
        v = json_loadb(w.buf, w.len, 0, NULL);
    jsonw_free(&w);
    story_free(s);
    return v;
}

static json_t *node(json_t *story, const char *uid)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(story, "nodes"), i, n)
        if (strcmp(json_string_value(json_object_get(n, "uid")), uid) == 0)
            return n;
    return NULL;
}

static const char *nstr(json_t *n, const char *key)
{
    const char *s = json_string_value(json_object_get(n, key));
    return s ? s : "";
}

/* Whether node n has a line with exactly this text. */
static bool has_line(json_t *n, const char *text)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(n, "lines"), i, l)
        if (strcmp(nstr(l, "text"), text) == 0)
            return true;
    return false;
}

/* All the lines of a node, for failure messages. */
static const char *lines_of(json_t *n)
{
    static char buf[4096];
    size_t i, o = 0;
    json_t *l;
    buf[0] = '\0';
    json_array_foreach(json_object_get(n, "lines"), i, l)
        o += (size_t)snprintf(buf + o, o < sizeof(buf) ? sizeof(buf) - o : 0, "[%s] ", nstr(l, "text"));
    return buf;
}

/* ------------------------------------------------------------------ the attack */

static void attack_tree_shape(void)
{
    char err[256];
    int rc;
    json_t *s, *n, *nodes;
    size_t i;
    const char *expect_order[] = {STORYGEN_SSHD_SESSION, STORYGEN_LOGIN_BASH, STORYGEN_LS, STORYGEN_SCRIPT};

    CHECK(open_store());
    CHECK(store_attack(DEV));
    s = story_of(DEV, STORYGEN_SCRIPT, 0, NULL, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    CHECK_STR(nstr(s, "process"), STORYGEN_SCRIPT);
    CHECK_STR(nstr(s, "ancestry_end"), "ssh-session");
    CHECK_STR(nstr(s, "ancestry_end_text"), "an SSH session of root from 203.0.113.10");
    CHECK(json_is_false(json_object_get(s, "truncated")));
    nodes = json_object_get(s, "nodes");
    /* the session root first, then depth first by start: bash, ls, the script */
    for (i = 0; i < 4; i++)
        CHECK_STR(nstr(json_array_get(nodes, i), "uid"), expect_order[i]);
    CHECK(json_is_null(json_object_get(json_array_get(nodes, 0), "parent")));
    n = node(s, STORYGEN_SSHD_SESSION);
    CHECK_STR(nstr(n, "role"), "ancestor");
    CHECK_STR(nstr(n, "command_line"), "sshd: root@pts/0");
    CHECK_MSG(has_line(n, "accepted an SSH login as root from 203.0.113.10 (password)"), "%s", lines_of(n));
    n = node(s, STORYGEN_LOGIN_BASH);
    CHECK_STR(nstr(n, "role"), "ancestor");
    CHECK_STR(nstr(n, "parent"), STORYGEN_SSHD_SESSION);
    CHECK_STR(nstr(node(s, STORYGEN_LS), "role"), "relative");
    n = node(s, STORYGEN_SCRIPT);
    CHECK_STR(nstr(n, "role"), "subject");
    CHECK_STR(nstr(n, "parent"), STORYGEN_LOGIN_BASH);
    CHECK_INT(json_integer_value(json_object_get(n, "depth")), ==, 2);
    CHECK_INT(json_integer_value(json_object_get(n, "pid")), ==, 2100);
    CHECK_STR(nstr(n, "user"), "root");
    CHECK_STR(nstr(n, "image"), "/usr/bin/bash");
    CHECK(json_is_string(json_object_get(n, "start_time")));
    /* it exited: the story is told from the store alone */
    CHECK_INT(json_integer_value(json_object_get(json_object_get(n, "exit"), "code")), ==, 0);
    /* every command is a child of the script, the payload included */
    {
        const char *kids[] = {STORYGEN_SYSTEMCTL_STOP, STORYGEN_NFT, STORYGEN_CP, STORYGEN_CAT_UNIT,
                              STORYGEN_ENABLE, STORYGEN_PAYLOAD, STORYGEN_HISTORY};
        for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
            json_t *k = node(s, kids[i]);
            CHECK_MSG(k, "no node %s", kids[i]);
            CHECK_STR(nstr(k, "parent"), STORYGEN_SCRIPT);
            CHECK_STR(nstr(k, "role"), "descendant");
            CHECK_INT(json_integer_value(json_object_get(k, "depth")), ==, 3);
        }
    }
    /* 13 commands of the script, 4 of the session; not cron's job nor systemd */
    CHECK_INT(json_array_size(nodes), ==, 4 + 13);
    CHECK(!node(s, STORYGEN_CRON_JOB));
    CHECK(!node(s, STORYGEN_SYSTEMD));
    json_decref(s);
}

static void attack_lines(void)
{
    char err[256];
    int rc;
    json_t *s, *n;

    CHECK(open_store());
    CHECK(store_attack(DEV));
    s = story_of(DEV, STORYGEN_SCRIPT, 0, NULL, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    n = node(s, STORYGEN_SCRIPT);
    CHECK_MSG(has_line(n, "allowed passwordless sudo for root (/etc/sudoers.d/99-awsd)"), "%s", lines_of(n));
    CHECK_MSG(has_line(n, "added /usr/lib/runtime to the agent's exclusions (/etc/yamori/exclusions.conf)"), "%s",
              lines_of(n));
    CHECK_MSG(has_line(n, "created /etc/cron.d/awsd, a cron entry that runs /usr/lib/runtime as root at boot"), "%s",
              lines_of(n));
    CHECK_MSG(has_line(n, "added an SSH key (ssh-ed25519 \xe2\x80\xa6 awsd@c2) to root's authorized keys (the file "
                          "holds 2 keys)"),
              "%s", lines_of(n));
    n = node(s, STORYGEN_SYSTEMCTL_STOP);
    CHECK_MSG(has_line(n, "stopped the service auditd"), "%s", lines_of(n));
    CHECK_STR(nstr(n, "command_line"), "systemctl stop auditd");
    n = node(s, STORYGEN_NFT);
    CHECK_MSG(has_line(n, "flushed the firewall"), "%s", lines_of(n));
    n = node(s, STORYGEN_CP);
    CHECK_MSG(has_line(n, "created /usr/lib/runtime, an executable file"), "%s", lines_of(n));
    n = node(s, STORYGEN_CAT_UNIT);
    CHECK_MSG(has_line(n, "created /etc/systemd/system/awsd.service, a systemd unit that runs /usr/lib/runtime as "
                          "root, restarted whenever it stops, started at boot once enabled"),
              "%s", lines_of(n));
    n = node(s, STORYGEN_ENABLE);
    CHECK_MSG(has_line(n, "enabled the service awsd to start at boot"), "%s", lines_of(n));
    CHECK_MSG(has_line(n, "linked /etc/systemd/system/awsd.service into multi-user.target.wants, so it starts at boot"),
              "%s", lines_of(n));
    /* nohup exec'd the payload: the node is the payload, and it called home (three times, one line) */
    n = node(s, STORYGEN_PAYLOAD);
    CHECK_STR(nstr(n, "image"), "/usr/lib/runtime");
    CHECK_MSG(has_line(n, "first ran nohup, then replaced itself with /usr/lib/runtime (exec): /usr/lib/runtime "
                          "203.0.113.10 4444"),
              "%s", lines_of(n));
    CHECK_MSG(has_line(n, "connected to 203.0.113.10:4444 (TCP)"), "%s", lines_of(n));
    {
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(n, "lines"), i, l)
            if (strcmp(nstr(l, "text"), "connected to 203.0.113.10:4444 (TCP)") == 0)
                CHECK_INT(json_integer_value(json_object_get(l, "count")), ==, 3);
    }
    CHECK(!json_object_get(n, "exit")); /* still running */
    n = node(s, "f5647a1c-2112-90320");
    CHECK_MSG(has_line(n, "changed the permissions of /root/.ssh to 0700"), "%s", lines_of(n));
    n = node(s, STORYGEN_HISTORY);
    CHECK_MSG(has_line(n, "cleared /root/.bash_history"), "%s", lines_of(n));
    json_decref(s);
}

/* The story of the payload, asked around its connection: the same tree
 * seen from below. */
static void story_of_payload(void)
{
    char err[256];
    int rc;
    json_t *s;

    CHECK(open_store());
    CHECK(store_attack(DEV));
    s = story_of(DEV, STORYGEN_PAYLOAD, (int64_t)storygen_t0 + 60ll * 1000000, NULL, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    CHECK_STR(nstr(node(s, STORYGEN_PAYLOAD), "role"), "subject");
    CHECK_STR(nstr(node(s, STORYGEN_SCRIPT), "role"), "ancestor");
    CHECK_STR(nstr(node(s, STORYGEN_LOGIN_BASH), "role"), "ancestor");
    CHECK_STR(nstr(node(s, STORYGEN_NFT), "role"), "relative");
    CHECK_STR(nstr(s, "ancestry_end"), "ssh-session");
    json_decref(s);
}

/* A process of the start-up snapshot: cron found running, its job. */
static void snapshot_and_cron(void)
{
    char err[256];
    int rc;
    json_t *s, *n;

    CHECK(open_store());
    CHECK(store_attack(DEV));
    s = story_of(DEV, STORYGEN_BACKUP, 0, NULL, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    CHECK_STR(nstr(s, "ancestry_end"), "cron");
    n = node(s, STORYGEN_CRON);
    CHECK_MSG(n, "no cron node");
    CHECK(json_is_null(json_object_get(n, "parent")));
    CHECK(json_is_true(json_object_get(n, "running_at_agent_start")));
    CHECK_STR(nstr(node(s, STORYGEN_CRON_JOB), "parent"), STORYGEN_CRON);
    CHECK_MSG(has_line(node(s, STORYGEN_BACKUP), "deleted /tmp/backup.old"), "%s", lines_of(node(s, STORYGEN_BACKUP)));
    CHECK_INT(json_array_size(json_object_get(s, "nodes")), ==, 3);
    json_decref(s);
    /* the snapshot process itself: it is the root */
    s = story_of(DEV, STORYGEN_SSHD_LISTENER, 0, NULL, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    CHECK_STR(nstr(s, "ancestry_end"), "ssh-session");
    CHECK_STR(nstr(json_array_get(json_object_get(s, "nodes"), 0), "uid"), STORYGEN_SSHD_LISTENER);
    CHECK(node(s, STORYGEN_SCRIPT)); /* everything the listener's connections started */
    json_decref(s);
}

static void unknown_and_invalid(void)
{
    char err[256];
    struct story *s = NULL;

    CHECK(open_store());
    CHECK(store_attack(DEV));
    CHECK_INT(story_build(st, DEV, "f5647a1c-9999-1", 0, NULL, &s, err, sizeof(err)), ==, -ENOENT);
    CHECK(s == NULL);
    CHECK(strstr(err, "no recorded event"));
    /* another device's events are not this device's */
    CHECK_INT(story_build(st, DEV2, STORYGEN_SCRIPT, 0, NULL, &s, err, sizeof(err)), ==, -ENOENT);
    /* a key collision from another boot: same pid and ticks, other boot id */
    CHECK_INT(story_build(st, DEV, "0badb007-2100-90200", 0, NULL, &s, err, sizeof(err)), ==, -ENOENT);
    CHECK_INT(story_build(st, DEV, "not-a-uid", 0, NULL, &s, err, sizeof(err)), ==, -EINVAL);
    CHECK_INT(story_build(st, DEV, "", 0, NULL, &s, err, sizeof(err)), ==, -EINVAL);
    CHECK_INT(story_build(st, "", STORYGEN_SCRIPT, 0, NULL, &s, err, sizeof(err)), ==, -EINVAL);
    CHECK_INT(story_build(st, DEV, STORYGEN_SCRIPT, -5, NULL, &s, err, sizeof(err)), ==, -EINVAL);
    CHECK(s == NULL);
}

static void marks_alerts(void)
{
    char err[256];
    struct story *s = NULL;
    struct jsonw w;
    json_t *v, *a;
    bool seen = false;

    CHECK(open_store());
    CHECK(store_attack(DEV));
    CHECK_INT(story_build(st, DEV, STORYGEN_SCRIPT, 0, NULL, &s, err, sizeof(err)), ==, 0);
    CHECK_INT(story_node_count(s), ==, 17);
    for (size_t i = 0; i < story_node_count(s); i++)
        seen = seen || strcmp(story_node_uid(s, i), STORYGEN_PAYLOAD) == 0;
    CHECK(seen);
    CHECK(story_node_uid(s, story_node_count(s)) == NULL);
    CHECK_STR(story_device_id(s), DEV);
    CHECK_INT(story_mark(s, STORYGEN_SCRIPT, 7, "Persistence through a cron entry", "high"), ==, 0);
    CHECK_INT(story_mark(s, STORYGEN_SCRIPT, 7, "Persistence through a cron entry", "high"), ==, 0);
    CHECK_INT(story_mark(s, STORYGEN_PAYLOAD, 9, "Connection to a known C2 address", "medium"), ==, 0);
    CHECK_INT(story_mark(s, "f5647a1c-1-1", 10, "x", "low"), ==, -ENOENT);
    CHECK_INT(story_mark(s, STORYGEN_PAYLOAD, 11, NULL, "low"), ==, -EINVAL);
    jsonw_init(&w);
    story_json(s, &w);
    v = json_loadb(w.buf, w.len, 0, NULL);
    jsonw_free(&w);
    story_free(s);
    CHECK(v);
    a = json_object_get(node(v, STORYGEN_SCRIPT), "alerts");
    CHECK_INT(json_array_size(a), ==, 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(a, 0), "id")), ==, 7);
    CHECK_STR(nstr(json_array_get(a, 0), "severity"), "high");
    CHECK_INT(json_array_size(json_object_get(node(v, STORYGEN_PAYLOAD), "alerts")), ==, 1);
    CHECK_INT(json_array_size(json_object_get(node(v, STORYGEN_NFT), "alerts")), ==, 0);
    json_decref(v);
}

/* ------------------------------------------------------------------ bounds */

#define WIDE 3000

/* One shell that started WIDE commands (fork, exec, exit each). */
static void wide_tree_is_bounded(void)
{
    struct tlv_buf recs;
    struct story_limits lim = {.max_nodes = 50};
    char err[256];
    uint64_t seq = 1, ts = storygen_t0;
    int rc;
    json_t *s, *root;
    size_t i, shown = 0;
    json_t *n;

    CHECK(open_store());
    tlv_init(&recs);
    storygen_process(&recs, seq++, ts++, "ProcessSnapshot", 500, 100, 1, 5, "/usr/bin/bash", "bash loop.sh");
    for (unsigned k = 0; k < WIDE; k++) {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "sleep %u", k);
        storygen_process(&recs, seq++, ts += 1000, "ProcessForked", 10000 + k, 200 + k, 500, 100, "/usr/bin/bash",
                         "bash loop.sh");
        storygen_process(&recs, seq++, ts += 1000, "ProcessCreated", 10000 + k, 200 + k, 500, 100, "/usr/bin/sleep",
                         cmd);
        storygen_process(&recs, seq++, ts += 1000, "ProcessExited", 10000 + k, 200 + k, 500, 100, "/usr/bin/sleep",
                         cmd);
    }
    CHECK(!recs.failed && store_records(DEV, 1, seq - 1, &recs));
    tlv_free(&recs);
    s = story_of(DEV, STORYGEN_BOOT "-500-100", 0, &lim, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    CHECK(json_is_true(json_object_get(s, "truncated")));
    CHECK_INT(json_array_size(json_object_get(s, "nodes")), <=, 50);
    root = node(s, STORYGEN_BOOT "-500-100");
    json_array_foreach(json_object_get(s, "nodes"), i, n)
        shown += strcmp(nstr(n, "parent"), STORYGEN_BOOT "-500-100") == 0;
    /* pid 1 is known from the initiating block of the shell's own event:
     * init, the shell and 48 commands make the 50 */
    CHECK_STR(nstr(s, "ancestry_end"), "init");
    CHECK_INT(shown, ==, 48);
    CHECK_INT(json_integer_value(json_object_get(root, "children_not_shown")), >, 0);
    CHECK(json_is_true(json_object_get(root, "events_truncated"))); /* 9001 events > 2000 read per process */
    /* the first commands are the ones shown */
    CHECK(node(s, STORYGEN_BOOT "-10000-200"));
    json_decref(s);
    /* the budget of records examined bounds the work whatever the tree */
    lim = (struct story_limits){.max_events = 5000};
    s = story_of(DEV, STORYGEN_BOOT "-500-100", 0, &lim, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    CHECK_INT(json_integer_value(json_object_get(s, "events_examined")), <=, 5000);
    CHECK(json_is_true(json_object_get(s, "truncated")));
    json_decref(s);
}

/* A chain 100 deep: the ancestry stops at the limit, so does the depth. */
static void deep_chain_is_bounded(void)
{
    struct tlv_buf recs;
    struct story_limits lim = {.max_ancestors = 10, .max_depth = 5};
    char err[256], uid[48];
    uint64_t seq = 1, ts = storygen_t0;
    int rc;
    json_t *s;

    CHECK(open_store());
    tlv_init(&recs);
    for (unsigned k = 0; k < 100; k++)
        storygen_process(&recs, seq++, ts += 1000, "ProcessCreated", 20000 + k, 300 + k, 20000 + k - 1, 300 + k - 1,
                         "/usr/bin/bash", "bash -c deeper");
    CHECK(store_records(DEV, 1, seq - 1, &recs));
    tlv_free(&recs);
    snprintf(uid, sizeof(uid), STORYGEN_BOOT "-%u-%u", 20050, 350);
    s = story_of(DEV, uid, 0, &lim, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    CHECK_STR(nstr(s, "ancestry_end"), "limit");
    /* 10 ancestors, the process, 5 levels below it */
    CHECK_INT(json_array_size(json_object_get(s, "nodes")), ==, 10 + 1 + 5);
    CHECK(json_is_true(json_object_get(s, "truncated")));
    json_decref(s);
}

/* Forged events where two processes are each other's parent. */
static void forged_loop_ends(void)
{
    struct tlv_buf recs;
    char err[256];
    int rc;
    json_t *s;

    CHECK(open_store());
    tlv_init(&recs);
    storygen_process(&recs, 1, storygen_t0, "ProcessCreated", 700, 70, 701, 71, "/usr/bin/a", "a");
    storygen_process(&recs, 2, storygen_t0 + 1000, "ProcessCreated", 701, 71, 700, 70, "/usr/bin/b", "b");
    CHECK(store_records(DEV, 1, 2, &recs));
    tlv_free(&recs);
    s = story_of(DEV, STORYGEN_BOOT "-700-70", 0, NULL, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err);
    CHECK_STR(nstr(s, "ancestry_end"), "loop");
    CHECK_INT(json_array_size(json_object_get(s, "nodes")), ==, 2);
    json_decref(s);
}

/* What an attacker controls (command lines, file contents, paths) holds
 * control characters, invalid UTF-8, NUL bytes and megabytes: the story is
 * still valid JSON with bounded lines. */
static void hostile_strings(void)
{
    static const char *const tags[] = {"persistence:cron", "persistence:systemd", "persistence:ssh-key",
                                       "security:sudoers", "agent:config", "history", "log", "security:pam"};
    static char big[300000];
    struct tlv_buf recs;
    char err[256], cmd[2048];
    uint64_t seq = 1, ts = storygen_t0;
    unsigned seed = 12345;
    int rc;
    json_t *s, *n, *l;
    size_t i, j, nfiles = 0;

    CHECK(open_store());
    tlv_init(&recs);
    for (i = 0; i < sizeof(big); i++) {
        seed = seed * 1103515245u + 12345u;
        big[i] = (char)(seed >> 16); /* every byte value, NUL included */
    }
    memcpy(big, "@reboot root ", 13);
    for (i = 0; i < 300; i++) { /* lines of cron entries with escape sequences */
        static const char entry[] = "\n* * * * * \x1b[31m /bin/x\n";
        memcpy(big + 100 + i * 97, entry, sizeof(entry) - 1);
    }
    memset(cmd, 'A', sizeof(cmd) - 1);
    cmd[sizeof(cmd) - 1] = '\0';
    {
        static const char head[] = "systemctl stop \x1b]0;pwned\x07 ";
        memcpy(cmd, head, sizeof(head) - 1);
    }
    storygen_process(&recs, seq++, ts++, "ProcessCreated", 900, 90, 1, 5, "/usr/bin/systemctl", cmd);
    for (i = 0; i < 200; i++) {
        char path[64];
        size_t len = 1 + (i * 7919) % 200000;
        snprintf(path, sizeof(path), "/etc/x\x01y/%zu\xff\xfe", i);
        storygen_file(&recs, seq++, ts += 1000, i % 2 ? "FileModified" : "FileCreated", 900, 90, 1, 5, path,
                      tags[i % (sizeof(tags) / sizeof(tags[0]))], big + (i * 131) % 1000, len);
    }
    CHECK(!recs.failed && store_records(DEV, 1, seq - 1, &recs));
    tlv_free(&recs);
    s = story_of(DEV, STORYGEN_BOOT "-900-90", 0, NULL, &rc, err, sizeof(err));
    CHECK_MSG(s, "story_build: %d %s", rc, err); /* parsed: valid JSON */
    n = node(s, STORYGEN_BOOT "-900-90");
    CHECK(n);
    json_array_foreach(json_object_get(n, "lines"), i, l) {
        const char *t = nstr(l, "text");
        CHECK_INT(strlen(t), <, 480);
        for (j = 0; t[j]; j++)
            CHECK_MSG((unsigned char)t[j] >= 0x20 && t[j] != 0x7f, "control byte in \"%s\"", t);
        nfiles += strcmp(nstr(l, "kind"), "file") == 0;
    }
    CHECK_INT(nfiles, >, 0);
    CHECK_INT(json_array_size(json_object_get(n, "lines")), <=, STORY_DEFAULT_MAX_LINES);
    CHECK(json_is_true(json_object_get(s, "truncated"))); /* 200 files > 40 lines */
    json_decref(s);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"attack_tree_shape", attack_tree_shape},
        {"attack_lines", attack_lines},
        {"story_of_payload", story_of_payload},
        {"snapshot_and_cron", snapshot_and_cron},
        {"unknown_and_invalid", unknown_and_invalid},
        {"marks_alerts", marks_alerts},
        {"wide_tree_is_bounded", wide_tree_is_bounded},
        {"deep_chain_is_bounded", deep_chain_is_bounded},
        {"forged_loop_ends", forged_loop_ends},
        {"hostile_strings", hostile_strings},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("story", cases, argc, argv);
}
