/*
 * test_devices_store.c — the devices part of the store (store_devices.h)
 * against a real SQLite database in a temporary directory: token use
 * counted atomically under concurrency, expiry with a test clock,
 * re-enrollment, offboarding, and the command queue's hand-out, take-back,
 * redelivery and once-only results.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#include "server/store.h"

static char dir[256];
static struct store *st;
static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static void teardown(void)
{
    char cmd[300];

    store_close(st);
    st = NULL;
    if (dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
        dir[0] = '\0';
    }
}

/* A fresh store with the test clock at 1,000,000 s. */
static bool open_store(void)
{
    char uri[300], err[256];

    snprintf(dir, sizeof(dir), "/tmp/yamori-devstore.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        return false;
    }
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    if (store_open(&st, uri, err, sizeof(err)) != 0) {
        fprintf(stderr, "store_open: %s\n", err);
        return false;
    }
    fake_now = 1000000000;
    store_set_clock(st, fake_clock, NULL);
    return true;
}

static void hash_of(int n, uint8_t out[STORE_HASH_LEN])
{
    memset(out, 0, STORE_HASH_LEN);
    out[0] = (uint8_t)n;
    out[1] = (uint8_t)(n >> 8);
    out[31] = 0x5a;
}

static void device_id_of(int n, char out[STORE_DEVICE_ID_LEN + 1])
{
    snprintf(out, STORE_DEVICE_ID_LEN + 1, "00000000-0000-8000-8000-%012d", n);
}

/* Enrolls device n with token hash t (machine id and name from n). */
static int enroll(int n, const uint8_t *t, struct store_enroll_result *res)
{
    char id[STORE_DEVICE_ID_LEN + 1], mid[STORE_MACHINE_ID_LEN + 1], name[32];
    uint8_t secret[STORE_HASH_LEN];
    struct store_enroll_result dummy;

    device_id_of(n, id);
    snprintf(mid, sizeof(mid), "%032d", n);
    snprintf(name, sizeof(name), "host-%d", n);
    hash_of(1000 + n, secret);
    struct store_enrollment en = {
        .token_hash = t, .device_id = id, .machine_id = mid, .name = name,
        .os = "Debian GNU/Linux 12", .kernel = "6.1.0", .agent_version = "0.1.0", .secret_hash = secret,
    };
    return store_device_enroll(st, &en, res ? res : &dummy);
}

/* ------------------------------------------------------------------ tokens */

struct racer {
    int n;
    const uint8_t *token;
    pthread_barrier_t *barrier;
    int result;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->barrier);
    r->result = enroll(r->n, r->token, NULL);
    return NULL;
}

static void test_one_time_token_races(void)
{
    enum { N = 8 };
    struct racer r[N];
    pthread_t th[N];
    pthread_barrier_t barrier;
    uint8_t t[STORE_HASH_LEN];
    struct store_enroll_token tok;
    int64_t id;
    int ok = 0, refused = 0;

    CHECK(open_store());
    hash_of(1, t);
    CHECK_INT(store_enroll_token_create(st, t, NULL, 1, fake_now + 3600000, "admin", &id), ==, 0);
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.n = i + 1, .token = t, .barrier = &barrier};
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (r[i].result == 0)
            ok++;
        else if (r[i].result == -EKEYREJECTED)
            refused++;
    }
    pthread_barrier_destroy(&barrier);
    CHECK_INT(ok, ==, 1);
    CHECK_INT(refused, ==, N - 1);
    CHECK_INT(store_enroll_token_get(st, id, &tok), ==, 0);
    CHECK_INT(tok.uses, ==, 1);
}

static void test_token_refusals(void)
{
    uint8_t t[STORE_HASH_LEN], unknown[STORE_HASH_LEN];
    struct store_enroll_result res;
    struct store_enroll_token tok;
    int64_t id, id2;

    CHECK(open_store());
    hash_of(2, t);
    hash_of(3, unknown);
    CHECK_INT(store_enroll_token_create(st, t, "web", 5, fake_now + 1000, "admin", &id), ==, 0);
    CHECK_INT(enroll(1, unknown, NULL), ==, -ENOKEY);
    /* one millisecond before the expiry it works, at the expiry it does not */
    fake_now += 999;
    CHECK_INT(enroll(1, t, &res), ==, 0);
    CHECK_STR(res.group, "web");
    CHECK_INT(res.token_id, ==, id);
    fake_now += 1;
    CHECK_INT(enroll(2, t, &res), ==, -EKEYEXPIRED);
    CHECK_INT(res.token_id, ==, id);
    CHECK_INT(store_enroll_token_get(st, id, &tok), ==, 0);
    CHECK_INT(tok.uses, ==, 1);
    /* revoked beats everything else; revoking twice keeps the first time */
    hash_of(4, t);
    CHECK_INT(store_enroll_token_create(st, t, NULL, 5, fake_now + 100000, "admin", &id2), ==, 0);
    CHECK_INT(store_enroll_token_revoke(st, id2), ==, 0);
    CHECK_INT(store_enroll_token_get(st, id2, &tok), ==, 0);
    int64_t first = tok.revoked_ms;
    fake_now += 5;
    CHECK_INT(store_enroll_token_revoke(st, id2), ==, 0);
    CHECK_INT(store_enroll_token_get(st, id2, &tok), ==, 0);
    CHECK_INT(tok.revoked_ms, ==, first);
    CHECK_INT(enroll(3, t, NULL), ==, -EKEYREVOKED);
    CHECK_INT(store_enroll_token_revoke(st, 999), ==, -ENOENT);
}

/* ------------------------------------------------------------------ devices */

static void test_reenroll_keeps_history(void)
{
    uint8_t t[STORE_HASH_LEN], h[STORE_HASH_LEN];
    struct store_enroll_result res;
    struct store_device d;
    char id[STORE_DEVICE_ID_LEN + 1];
    bool off = true, already;
    int64_t tid;

    CHECK(open_store());
    hash_of(5, t);
    CHECK_INT(store_enroll_token_create(st, t, NULL, 10, fake_now + 3600000, "admin", &tid), ==, 0);
    CHECK_INT(enroll(7, t, &res), ==, 0);
    CHECK(!res.reenrolled);
    device_id_of(7, id);
    CHECK_INT(store_device_set_tags(st, id, "[\"prod\"]"), ==, 0);
    int64_t first = fake_now;
    fake_now += 60000;
    CHECK_INT(store_device_offboard(st, id, &already), ==, 0);
    CHECK(!already);
    CHECK_INT(store_device_credentials(st, id, h, &off), ==, 0);
    CHECK(off);
    CHECK_INT(store_device_offboard(st, id, &already), ==, 0);
    CHECK(already);
    fake_now += 60000;
    CHECK_INT(enroll(7, t, &res), ==, 0);
    CHECK(res.reenrolled);
    CHECK_INT(store_device_get(st, id, &d), ==, 0);
    CHECK_INT(d.first_seen_ms, ==, first);
    CHECK_INT(d.enrolled_ms, ==, fake_now);
    CHECK_INT(d.offboarded_ms, ==, 0);
    CHECK_STR(d.tags_json, "[\"prod\"]");
    store_device_clear(&d);
    CHECK_INT(store_device_credentials(st, id, h, &off), ==, 0);
    CHECK(!off);
    CHECK_INT(h[0], ==, (1000 + 7) & 0xff);
}

static void test_names_and_search(void)
{
    uint8_t t[STORE_HASH_LEN];
    struct store_device d, *v = NULL;
    struct store_heartbeat hb = {.events_lost = -1, .spool_bytes = -1, .spool_events = -1, .memory_bytes = -1,
                                 .upload_failures = -1};
    char id1[STORE_DEVICE_ID_LEN + 1], id2[STORE_DEVICE_ID_LEN + 1];
    struct store_device_filter f = {0};
    size_t n = 0;
    int64_t tid;
    bool already;

    CHECK(open_store());
    hash_of(6, t);
    CHECK_INT(store_enroll_token_create(st, t, NULL, 10, fake_now + 3600000, "admin", &tid), ==, 0);
    CHECK_INT(enroll(1, t, NULL), ==, 0);
    CHECK_INT(enroll(2, t, NULL), ==, 0);
    device_id_of(1, id1);
    device_id_of(2, id2);
    /* both call themselves web-1 */
    hb.name = "web-1";
    hb.ips = "10.0.0.5 fd00::5";
    CHECK_INT(store_device_heartbeat(st, id1, &hb), ==, 0);
    hb.ips = "10.0.1.7";
    CHECK_INT(store_device_heartbeat(st, id2, &hb), ==, 0);
    CHECK_INT(store_device_find_by_name(st, "web-1", &d), ==, -ENOTUNIQ);
    CHECK_INT(store_device_find_by_name(st, "nobody", &d), ==, -ENOENT);
    CHECK_INT(store_device_offboard(st, id1, &already), ==, 0);
    CHECK_INT(store_device_find_by_name(st, "web-1", &d), ==, 0);
    CHECK_STR(d.id, id2);
    store_device_clear(&d);
    /* an offboarded device takes no heartbeat */
    CHECK_INT(store_device_heartbeat(st, id1, &hb), ==, -ENOENT);

    f.search = "10.0.0";
    CHECK_INT(store_device_list(st, &f, &v, &n), ==, 0);
    CHECK_INT(n, ==, 1);
    CHECK_STR(v[0].id, id1);
    store_devices_free(v, n);
    /* LIKE's own characters are taken literally */
    f.search = "%";
    CHECK_INT(store_device_list(st, &f, &v, &n), ==, 0);
    CHECK_INT(n, ==, 0);
    store_devices_free(v, n);
    f.search = "WEB";
    CHECK_INT(store_device_list(st, &f, &v, &n), ==, 0);
    CHECK_INT(n, ==, 2);
    store_devices_free(v, n);
}

/* ------------------------------------------------------------------ commands */

static void test_command_queue(void)
{
    uint8_t t[STORE_HASH_LEN];
    struct store_command *v = NULL, c;
    char id[STORE_DEVICE_ID_LEN + 1], other[STORE_DEVICE_ID_LEN + 1];
    enum store_command_status now_status;
    int64_t tid, c1, c2, c3, cx;
    bool pending, recorded;
    size_t n = 0;

    CHECK(open_store());
    hash_of(7, t);
    CHECK_INT(store_enroll_token_create(st, t, NULL, 10, fake_now + 3600000, "admin", &tid), ==, 0);
    CHECK_INT(enroll(1, t, NULL), ==, 0);
    CHECK_INT(enroll(2, t, NULL), ==, 0);
    device_id_of(1, id);
    device_id_of(2, other);
    CHECK_INT(store_command_create(st, "00000000-0000-8000-8000-000000000099", "ping", "{}", "ann", 10, &c1), ==,
              -ENOENT);
    CHECK_INT(store_commands_pending(st, id, &pending), ==, 0);
    CHECK(!pending);
    CHECK_INT(store_command_create(st, id, "ping", "{}", "ann", 10, &c1), ==, 0);
    CHECK_INT(store_command_create(st, id, "ping", "{}", "ann", 10, &c2), ==, 0);
    CHECK_INT(store_command_create(st, id, "ping", "{}", "ann", 10, &c3), ==, 0);
    CHECK_INT(store_command_create(st, other, "ping", "{}", "ann", 10, &cx), ==, 0);
    CHECK_INT(store_command_create(st, id, "ping", "{}", "ann", 3, &cx), ==, -EDQUOT);
    CHECK_INT(store_commands_pending(st, id, &pending), ==, 0);
    CHECK(pending);

    /* oldest first, each handed out once */
    CHECK_INT(store_commands_claim(st, id, 2, &v, &n), ==, 0);
    CHECK_INT(n, ==, 2);
    CHECK_INT(v[0].id, ==, c1);
    CHECK_INT(v[1].id, ==, c2);
    CHECK_INT(v[0].status, ==, CMD_SENT);
    CHECK_INT(v[0].attempts, ==, 1);
    /* the first did not reach the device: taken back */
    CHECK_INT(store_commands_unclaim(st, v, 1), ==, 0);
    store_commands_free(v, n);
    CHECK_INT(store_commands_claim(st, id, 10, &v, &n), ==, 0);
    CHECK_INT(n, ==, 2);
    CHECK_INT(v[0].id, ==, c1);
    CHECK_INT(v[0].attempts, ==, 2);
    CHECK_INT(v[1].id, ==, c3);
    store_commands_free(v, n);
    CHECK_INT(store_commands_claim(st, id, 10, &v, &n), ==, 0);
    CHECK_INT(n, ==, 0);
    store_commands_free(v, n);
    CHECK_INT(store_commands_pending(st, id, &pending), ==, 0);
    CHECK(!pending);

    /* results: once, for the device's own commands only */
    CHECK_INT(store_command_result(st, other, c2, CMD_SUCCEEDED, "{}", NULL, &recorded, &now_status), ==, -ENOENT);
    CHECK_INT(store_command_result(st, id, c2, CMD_SUCCEEDED, "{\"x\":1}", NULL, &recorded, &now_status), ==, 0);
    CHECK(recorded);
    CHECK_INT(store_command_result(st, id, c2, CMD_FAILED, NULL, "late", &recorded, &now_status), ==, 0);
    CHECK(!recorded);
    CHECK_INT(now_status, ==, CMD_SUCCEEDED);
    CHECK_INT(store_command_get(st, id, c2, &c), ==, 0);
    CHECK_STR(c.output_json, "{\"x\":1}");
    CHECK(c.error == NULL);
    CHECK_INT(c.completed_ms, ==, fake_now);
    store_command_clear(&c);
    /* a command never handed out cannot have a result */
    CHECK_INT(store_command_result(st, other, cx, CMD_SUCCEEDED, NULL, NULL, &recorded, &now_status), ==, -ENOENT);

    /* a sent command without a result is handed out again after a while */
    fake_now += STORE_COMMAND_REDELIVER_MS - 1;
    CHECK_INT(store_commands_pending(st, id, &pending), ==, 0);
    CHECK(!pending);
    fake_now += 1;
    CHECK_INT(store_commands_claim(st, id, 10, &v, &n), ==, 0);
    CHECK_INT(n, ==, 2);
    CHECK_INT(v[0].id, ==, c1);
    CHECK_INT(v[0].attempts, ==, 3);
    store_commands_free(v, n);
    /* ... but not forever */
    for (int i = 0; i < STORE_COMMAND_MAX_ATTEMPTS; i++) {
        fake_now += STORE_COMMAND_REDELIVER_MS;
        CHECK_INT(store_commands_claim(st, id, 10, &v, &n), ==, 0);
        store_commands_free(v, n);
    }
    CHECK_INT(n, ==, 0);

    /* offboarding fails what still waits */
    CHECK_INT(store_commands_claim(st, other, 10, &v, &n), ==, 0);
    store_commands_free(v, n);
    {
        bool already;
        CHECK_INT(store_device_offboard(st, other, &already), ==, 0);
    }
    CHECK_INT(store_command_get(st, other, cx, &c), ==, 0);
    CHECK_INT(c.status, ==, CMD_FAILED);
    CHECK_STR(c.error, "the device was offboarded");
    store_command_clear(&c);
    CHECK_INT(store_command_create(st, other, "ping", "{}", "ann", 10, &cx), ==, -EKEYREVOKED);

    CHECK_INT(store_command_list(st, id, 2, &v, &n), ==, 0);
    CHECK_INT(n, ==, 2);
    CHECK_INT(v[0].id, ==, c3); /* newest first */
    store_commands_free(v, n);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"one_time_token_races", test_one_time_token_races},
        {"token_refusals", test_token_refusals},
        {"reenroll_keeps_history", test_reenroll_keeps_history},
        {"names_and_search", test_names_and_search},
        {"command_queue", test_command_queue},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("devices_store", cases, argc, argv);
}
