/*
 * test_isolation.c — device isolation for real, in three network
 * namespaces this test creates and deletes (never the machine's own):
 *
 *   srv (192.0.2.1, 2001:db8:a::1)  — the real `yamori server`
 *    | veth
 *   dev (192.0.2.2, 2001:db8:a::2 / 198.51.100.1, 2001:db8:b::1) — the real agent
 *    | veth
 *   out (198.51.100.2, 2001:db8:b::2) — an outside peer
 *
 * The test process itself lives in srv (it talks to the server on
 * 127.0.0.1 there); the agent, its enrolment and the probes from dev run
 * in forked children that enter dev; the outside peer's listener and
 * probes run in children that enter out. The sensor is global: that is
 * fine, the events it sends are what "events keep flowing" looks at.
 *
 * The scenario, one case per step (a step after a failed one is skipped):
 * before isolation everything is reachable; an `isolate` action (the
 * action center, POST /api/v1/actions) makes the outside peer unreachable
 * in both directions, IPv4 and IPv6, while heartbeats and events keep
 * reaching the server and the inventory says "isolated"; isolating again
 * (a plain device command) is harmless; `nft flush ruleset` in dev, and an
 * accept rule added to our chain, are repaired within seconds and become
 * an IsolationTampered event and a high alert; after an agent restart
 * (with the table flushed while it was down, as a reboot does) the table
 * is back before the agent talks to the server; undoing the isolate
 * action (a release) restores reachability and leaves nothing of ours.
 * The handlers also run in process, in a namespace of their own, for a
 * named server, a restart from the state file and refusals.
 * Needs root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agent/commands.h"
#include "agent/isolation.h"
#include "check.h"
#include "fleet.h"
#include "sandbox.h"
#include "serverproc.h"

#define SRV4 "192.0.2.1"
#define DEV4 "192.0.2.2"
#define SRV6 "2001:db8:a::1"
#define DEV6 "2001:db8:a::2"
#define DEVO4 "198.51.100.1"
#define OUT4 "198.51.100.2"
#define DEVO6 "2001:db8:b::1"
#define OUT6 "2001:db8:b::2"
#define PEER_PORT 7777

static char ns_srv[32], ns_dev[32], ns_out[32];
static int orig_ns = -1, srv_fd = -1, dev_fd = -1, out_fd = -1;
static bool have_ns, ready;
static struct fleet *fleet;
static unsigned server_port;
static pid_t out_listener = -1, dev_listener = -1;

/* ------------------------------------------------------------ helpers */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void cleanup(void)
{
    pid_t *pids[] = {&out_listener, &dev_listener};
    for (size_t i = 0; i < 2; i++)
        if (*pids[i] > 0) {
            kill(*pids[i], SIGKILL);
            waitpid(*pids[i], NULL, 0);
            *pids[i] = -1;
        }
    fleet_free(fleet); /* the agent, the server, the work directory (a failed case's agent log kept) */
    fleet = NULL;
    if (orig_ns >= 0)
        setns(orig_ns, CLONE_NEWNET);
    if (have_ns) {
        run("ip netns del %s 2>/dev/null", ns_srv);
        run("ip netns del %s 2>/dev/null", ns_dev);
        run("ip netns del %s 2>/dev/null", ns_out);
        have_ns = false;
    }
}

static int ns_open(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", name);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Creates the three namespaces and their links; moves this process into
 * srv. */
static bool make_namespaces(char *why, size_t whylen)
{
    int p = (int)getpid() % 100000;

    snprintf(ns_srv, sizeof(ns_srv), "yiso-srv-%d", p);
    snprintf(ns_dev, sizeof(ns_dev), "yiso-dev-%d", p);
    snprintf(ns_out, sizeof(ns_out), "yiso-out-%d", p);
    have_ns = true;
    if (run("ip netns add %s && ip netns add %s && ip netns add %s", ns_srv, ns_dev, ns_out) != 0 ||
        run("ip -n %s link add yis%d type veth peer name yid%d netns %s", ns_srv, p, p, ns_dev) != 0 ||
        run("ip -n %s link add yio%d type veth peer name yiu%d netns %s", ns_dev, p, p, ns_out) != 0) {
        snprintf(why, whylen, "cannot create the namespaces and veth pairs (ip netns, ip link)");
        return false;
    }
    if (run("ip -n %s link set lo up && ip -n %s link set yis%d up && "
            "ip -n %s addr add " SRV4 "/24 dev yis%d && ip -n %s addr add " SRV6 "/64 dev yis%d nodad",
            ns_srv, ns_srv, p, ns_srv, p, ns_srv, p) != 0 ||
        run("ip -n %s link set lo up && ip -n %s link set yid%d up && ip -n %s link set yio%d up && "
            "ip -n %s addr add " DEV4 "/24 dev yid%d && ip -n %s addr add " DEV6 "/64 dev yid%d nodad && "
            "ip -n %s addr add " DEVO4 "/24 dev yio%d && ip -n %s addr add " DEVO6 "/64 dev yio%d nodad",
            ns_dev, ns_dev, p, ns_dev, p, ns_dev, p, ns_dev, p, ns_dev, p, ns_dev, p) != 0 ||
        run("ip -n %s link set lo up && ip -n %s link set yiu%d up && "
            "ip -n %s addr add " OUT4 "/24 dev yiu%d && ip -n %s addr add " OUT6 "/64 dev yiu%d nodad",
            ns_out, ns_out, p, ns_out, p, ns_out, p) != 0) {
        snprintf(why, whylen, "cannot configure the links (ip addr, ip link)");
        return false;
    }
    orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    srv_fd = ns_open(ns_srv);
    dev_fd = ns_open(ns_dev);
    out_fd = ns_open(ns_out);
    if (orig_ns < 0 || srv_fd < 0 || dev_fd < 0 || out_fd < 0 || setns(srv_fd, CLONE_NEWNET) != 0) {
        snprintf(why, whylen, "cannot enter the namespaces: %s", strerror(errno));
        return false;
    }
    return true;
}

/* In a child inside ns: connects to addr:port within timeout_ms. Returns
 * true when the connection was established. */
static bool can_connect(int ns, const char *addr, unsigned port, int timeout_ms)
{
    pid_t p = fork();
    int ws;

    if (p == 0) {
        struct sockaddr_storage ss = {0};
        socklen_t len;
        int fd, err = 0;
        socklen_t el = sizeof(err);
        struct pollfd pfd;
        if (setns(ns, CLONE_NEWNET) != 0)
            _exit(2);
        if (strchr(addr, ':')) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)port);
            inet_pton(AF_INET6, addr, &s6->sin6_addr);
            len = sizeof(*s6);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)port);
            inet_pton(AF_INET, addr, &s4->sin_addr);
            len = sizeof(*s4);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0)
            _exit(2);
        if (connect(fd, (struct sockaddr *)&ss, len) == 0)
            _exit(0);
        if (errno != EINPROGRESS)
            _exit(1);
        pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, timeout_ms) != 1)
            _exit(1);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        _exit(err == 0 ? 0 : 1);
    }
    if (p < 0 || waitpid(p, &ws, 0) != p)
        return false;
    return WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
}

/* A child inside ns accepting (and closing) connections on [::]:port,
 * IPv4 and IPv6. */
static pid_t start_listener(int ns, unsigned port)
{
    int sync[2];
    pid_t p;
    char c = 0;

    if (pipe(sync) != 0)
        return -1;
    p = fork();
    if (p == 0) {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        int one = 1, zero = 0, fd;
        close(sync[0]);
        if (setns(ns, CLONE_NEWNET) != 0)
            _exit(2);
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (fd < 0 || bind(fd, (struct sockaddr *)&s6, sizeof(s6)) != 0 || listen(fd, 64) != 0)
            _exit(2);
        (void)!write(sync[1], "r", 1);
        close(sync[1]);
        for (;;) {
            int c2 = accept(fd, NULL, NULL);
            if (c2 >= 0)
                close(c2);
        }
    }
    close(sync[1]);
    if (p < 0 || read(sync[0], &c, 1) != 1) {
        close(sync[0]);
        return -1;
    }
    close(sync[0]);
    return p;
}

static const char *agent_log_tail(void)
{
    return fleet_tail(fleet, "agent.log");
}

static json_t *api(const char *method, const char *path, const char *body, long *status)
{
    return fleet_call(fleet, fleet->admin, method, path, body, status);
}

static json_t *device_page(void)
{
    return fleet_device_page(fleet, fleet->agent.id);
}

static long long events_total(void)
{
    json_t *d = device_page();
    long long n = json_integer_value(json_object_get(json_object_get(d, "events"), "total"));
    json_decref(d);
    return n;
}

static const char *isolation_shown(void)
{
    static char buf[64];
    json_t *d = device_page();
    snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(d, "isolation")) ?: "(none)");
    json_decref(d);
    return buf;
}

/* Waits (bounded) until the inventory shows want. */
static bool wait_isolation_shown(const char *want, int seconds)
{
    for (int i = 0; i < seconds * 5; i++) {
        if (strcmp(isolation_shown(), want) == 0)
            return true;
        usleep(200000);
    }
    return false;
}

/* Queues a command; waits for its end; returns the command (new ref). */
static char command_why[300];

static json_t *command(const char *body)
{
    char path[200];
    json_t *cmd, *res = NULL;
    long status;
    long long cid;

    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands", fleet->agent.id);
    cmd = api("POST", path, body, &status);
    cid = json_integer_value(json_object_get(cmd, "id"));
    snprintf(command_why, sizeof(command_why), "POST %s: %ld %s", path, status,
             json_string_value(json_object_get(json_object_get(cmd, "error"), "message")) ?: "");
    json_decref(cmd);
    if (status != 201 || cid <= 0)
        return NULL;
    snprintf(command_why, sizeof(command_why), "command %lld did not end", cid);
    snprintf(path, sizeof(path), "/api/v1/devices/%s/commands/%lld", fleet->agent.id, cid);
    for (int i = 0; i < 600; i++) {
        const char *st;
        res = api("GET", path, NULL, &status);
        st = json_string_value(json_object_get(res, "status"));
        if (st && (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0))
            return res;
        json_decref(res);
        usleep(100000);
    }
    return NULL;
}

/* Waits for an action (POST /api/v1/actions, or path's verb) to end;
 * returns it (new ref), or NULL with command_why. */
static json_t *action(const char *path, const char *body)
{
    char get[200];
    json_t *a, *res = NULL;
    long status;
    long long aid;

    a = api("POST", path, body, &status);
    aid = json_integer_value(json_object_get(a, "id"));
    snprintf(command_why, sizeof(command_why), "POST %s: %ld %s", path, status,
             json_string_value(json_object_get(json_object_get(a, "error"), "message")) ?: "");
    json_decref(a);
    if (status != 201 || aid <= 0)
        return NULL;
    snprintf(command_why, sizeof(command_why), "action %lld did not end", aid);
    snprintf(get, sizeof(get), "/api/v1/actions/%lld", aid);
    for (int i = 0; i < 600; i++) {
        const char *st;
        res = api("GET", get, NULL, &status);
        st = json_string_value(json_object_get(res, "state"));
        if (st && strcmp(st, "queued") && strcmp(st, "sent") && strcmp(st, "running") &&
            strcmp(st, "pending_approval"))
            return res;
        json_decref(res);
        usleep(100000);
    }
    return NULL;
}

/* Whether dev holds our table now (the nft tool, from the test only). */
static bool table_present(void)
{
    return run("ip netns exec %s nft list table inet " ISOLATION_TABLE " >/dev/null 2>&1", ns_dev) == 0;
}

/* All four directions/families to and from the outside peer. */
static bool outside_reachable(int timeout_ms, char *which, size_t len)
{
    struct {
        int ns;
        const char *addr, *name;
    } probes[] = {
        {dev_fd, OUT4, "dev->out IPv4"},
        {dev_fd, OUT6, "dev->out IPv6"},
        {out_fd, DEVO4, "out->dev IPv4"},
        {out_fd, DEVO6, "out->dev IPv6"},
    };
    size_t n = 0;
    bool all = true;

    which[0] = '\0';
    for (size_t i = 0; i < 4; i++) {
        bool ok = can_connect(probes[i].ns, probes[i].addr, PEER_PORT, timeout_ms);
        all &= ok;
        if (ok)
            n += (size_t)snprintf(which + n, len > n ? len - n : 0, "%s%s", n ? ", " : "", probes[i].name);
    }
    return all;
}

/* ------------------------------------------------------------ cases */

/* The rule set's form, and refusal of bad endpoints (no root needed). */
static void ruleset_form(void)
{
    char buf[8192], host[256];
    const char addrs[2][46] = {"192.0.2.1", "2001:db8::1"};
    const char bad[1][46] = {"not-an-address"};
    unsigned ports[2] = {8443, 8443}, port;

    CHECK_INT(isolation_ruleset(buf, sizeof(buf), addrs, ports, 2), ==, 0);
    CHECK(strstr(buf, "table inet " ISOLATION_TABLE " {"));
    CHECK(strstr(buf, "hook input priority filter; policy drop;"));
    CHECK(strstr(buf, "hook output priority filter; policy drop;"));
    CHECK(strstr(buf, "hook forward priority filter; policy drop;"));
    CHECK(strstr(buf, "ip daddr 192.0.2.1 tcp dport 8443"));
    CHECK(strstr(buf, "ip6 daddr 2001:db8::1 tcp dport 8443"));
    CHECK(strstr(buf, "iif \"lo\" accept"));
    CHECK_INT(isolation_ruleset(buf, sizeof(buf), bad, ports, 1), ==, -EINVAL);
    CHECK_INT(isolation_ruleset(buf, sizeof(buf), addrs, ports, 0), ==, -EINVAL);
    CHECK_INT(isolation_ruleset(buf, 64, addrs, ports, 2), ==, -ENOSPC);
    CHECK_INT(isolation_url_endpoint("https://[2001:db8::1]:9443/x", 443, host, sizeof(host), &port), ==, 0);
    CHECK_STR(host, "2001:db8::1");
    CHECK_INT(port, ==, 9443);
    CHECK_INT(isolation_url_endpoint("https://yamori.example", 443, host, sizeof(host), &port), ==, 0);
    CHECK_STR(host, "yamori.example");
    CHECK_INT(port, ==, 443);
    CHECK_INT(isolation_url_endpoint("https://h:0", 443, host, sizeof(host), &port), ==, -EINVAL);
    CHECK_INT(isolation_url_endpoint("https://h:99999", 443, host, sizeof(host), &port), ==, -EINVAL);
    CHECK_INT(isolation_url_endpoint("https://u@h", 443, host, sizeof(host), &port), ==, -EINVAL);
    CHECK_INT(isolation_url_endpoint("h:1", 443, host, sizeof(host), &port), ==, -EINVAL);
}

/* ------------------------------------------------------------ in process */

static char pinned[1024];
static int pin_calls;

static void on_pins(void *ctx, const char *pins)
{
    (void)ctx;
    snprintf(pinned, sizeof(pinned), "%s", pins);
    pin_calls++;
}

/* The in-process case runs in a child with a network namespace of its own
 * (loopback up); its state directory is the sandbox's work directory, on a
 * tmpfs. */
static char unit_dir[64];
static struct isolation *unit_iso; /* freed by unit_cleanup() when the body returns early */

static void unit_cleanup(void)
{
    isolation_free(unit_iso);
    unit_iso = NULL;
}

static const struct sandbox_options unit_sandbox = {
    .needs = "a network namespace and nftables",
    .workdir = "isolation-unit", .dir = unit_dir, .dirlen = sizeof(unit_dir), .workdir_tmpfs = true,
    .net = true, .loopback_up = true,
    .cleanup = unit_cleanup,
};

/* A server URL with a name (localhost, from /etc/hosts) is resolved
 * before the table goes up and pinned; the state survives a new instance
 * (a restart); release takes the table and the pins away. */
static void body_named_server(void)
{
    char err[512] = "", path[300], text[4096];
    const char *tmp = unit_dir;
    struct isolation_status st;
    int n;

    CHECK_MSG(isolation_open(&unit_iso, tmp, "https://localhost:9443/", NULL, err, sizeof(err)) == 0, "open: %s",
              err);
    isolation_on_pins(unit_iso, on_pins, NULL);
    CHECK_MSG(pin_calls == 1 && !pinned[0], "not isolated, yet pins '%s'", pinned);
    CHECK_MSG(isolation_isolate(unit_iso, "unit", err, sizeof(err)) == 0, "isolate: %s", err);
    CHECK_MSG(strncmp(pinned, "localhost:9443:", 15) == 0 && strstr(pinned, "127.0.0.1"), "pins '%s'", pinned);
    isolation_get_status(unit_iso, &st);
    CHECK_MSG(st.state == ISOLATION_ON && st.nallowed >= 1, "state %s, %zu allowed", isolation_state_name(st.state),
              st.nallowed);
    CHECK_MSG(system("nft list table inet " ISOLATION_TABLE " >/dev/null 2>&1") == 0, "no table after isolate");
    snprintf(path, sizeof(path), "%s/isolation.state", tmp);
    {
        FILE *f = fopen(path, "r");
        n = f ? (int)fread(text, 1, sizeof(text) - 1, f) : 0;
        if (f)
            fclose(f);
        text[n > 0 ? n : 0] = '\0';
    }
    CHECK_MSG(strstr(text, "isolated=1") && strstr(text, "pin=localhost:9443:") && strstr(text, "comment=unit"),
              "state file: %s", text);
    /* a restart: the table gone meanwhile, a new instance puts it back from the file alone */
    isolation_free(unit_iso);
    unit_iso = NULL;
    CHECK_MSG(system("nft flush ruleset") == 0, "nft flush ruleset failed");
    pinned[0] = '\0';
    CHECK_MSG(isolation_open(&unit_iso, tmp, "https://unresolvable.invalid:1/", NULL, err, sizeof(err)) == 0,
              "reopen: %s", err);
    CHECK_MSG(system("nft list table inet " ISOLATION_TABLE " >/dev/null 2>&1") == 0, "no table after reopen");
    isolation_on_pins(unit_iso, on_pins, NULL);
    CHECK_MSG(strncmp(pinned, "localhost:9443:", 15) == 0, "pins after reopen '%s'", pinned);
    CHECK_MSG(isolation_release(unit_iso, err, sizeof(err)) == 0, "release: %s", err);
    CHECK_MSG(!pinned[0], "released, yet pins '%s'", pinned);
    CHECK_MSG(system("nft list ruleset | grep -q .") != 0, "released, yet a rule set is left");
    CHECK_MSG(access(path, F_OK) != 0, "released, yet the state file is left");
    /* a name that does not resolve: refused, nothing applied */
    isolation_free(unit_iso);
    unit_iso = NULL;
    CHECK_MSG(isolation_open(&unit_iso, tmp, "https://unresolvable.invalid:1/", NULL, err, sizeof(err)) == 0,
              "open: %s", err);
    CHECK_MSG(isolation_isolate(unit_iso, NULL, err, sizeof(err)) != 0, "isolated without a server address");
    CHECK_MSG(strstr(err, "cannot resolve"), "error: %s", err);
    CHECK_MSG(system("nft list ruleset | grep -q .") != 0, "a refused isolate left a rule set");
    /* a malformed state file: an error naming the line, nothing applied */
    isolation_free(unit_iso);
    unit_iso = NULL;
    {
        FILE *f = fopen(path, "w");
        if (f) {
            fputs("isolated=1\nallow=not-an-address 1\n", f);
            fclose(f);
        }
    }
    CHECK_MSG(isolation_open(&unit_iso, tmp, "https://localhost:9443/", NULL, err, sizeof(err)) == -EINVAL,
              "a malformed state file was accepted");
    CHECK_MSG(strstr(err, ":2:"), "error without the line: %s", err);
    CHECK_MSG(system("nft list ruleset | grep -q .") != 0, "a malformed state file left a rule set");
}

static void named_server_in_process(void)
{
    sandbox_run(&unit_sandbox, body_named_server);
}

/* Namespaces, server in srv, enrolled agent in dev, peers listening. */
static void setup(void)
{
    char why[1024] = "", path[300], reach[200];
    /* the certificate must name the address the agent uses */
    const char *sets[] = {"public_url=https://" SRV4 ":8443", "heartbeat_seconds=5", NULL};
    struct fleet_options o = {.name = "isolation", .agent_group = "isolation test", .sets = sets,
                              .listen_host = "0.0.0.0", .agent_host = SRV4, .agent_netns = ns_dev};
    json_t *d = NULL;
    struct agent_conf c;

    if (!check_is_root())
        SKIP("needs root (network namespaces, nftables, the sensor)");
    CHECK_MSG(make_namespaces(why, sizeof(why)), "%s", why);
    fleet = fleet_start(&o, why, sizeof(why));
    CHECK_MSG(fleet, "%s", why);
    CHECK(sscanf(serverproc_url(fleet->server), "https://127.0.0.1:%u", &server_port) == 1);
    snprintf(path, sizeof(path), "%s/etc/agent.conf", fleet->dir);
    CHECK_MSG(agentconf_load(&c, path, why, sizeof(why)) == 0, "%s", why);
    c.heartbeat_seconds = 5; /* the inventory follows the agent sooner */
    CHECK_MSG(agentconf_save(&c, path, why, sizeof(why)) == 0, "%s", why);
    out_listener = start_listener(out_fd, PEER_PORT);
    dev_listener = start_listener(dev_fd, PEER_PORT);
    CHECK(out_listener > 0 && dev_listener > 0);
    FLEET_AGENT_START(fleet);
    for (int i = 0; i < 600 && !d; i++) {
        d = device_page();
        if (!json_is_string(json_object_get(d, "last_heartbeat"))) {
            json_decref(d);
            d = NULL;
            usleep(100000);
        }
    }
    CHECK_MSG(d, "no heartbeat from dev reached the server in srv: %s", agent_log_tail());
    json_decref(d);
    CHECK_STR(isolation_shown(), "not isolated");
    /* before isolation every probe connects */
    CHECK_MSG(outside_reachable(5000, reach, sizeof(reach)), "before isolation only these connect: %s", reach);
    CHECK(!table_present());
    ready = true;
}

/* The handlers check their arguments before anything happens (no root:
 * a refused request never reaches nftables). */
static void command_args_checked(void)
{
    struct command cmd = {.id = 1, .type = "isolate"};
    struct jsonw out;
    char err[512] = "";

    jsonw_init(&out);
    cmd.args = json_pack("{s:i}", "comment", 5);
    CHECK_INT(isolation_command_isolate(&cmd, &out, err, sizeof(err)), ==, -EINVAL);
    CHECK(strstr(err, "comment"));
    json_decref(cmd.args);
    cmd.args = json_pack("{s:s}", "firewall", "off");
    CHECK_INT(isolation_command_isolate(&cmd, &out, err, sizeof(err)), ==, -EINVAL);
    CHECK(strstr(err, "firewall"));
    json_decref(cmd.args);
    cmd.args = json_pack("{s:s}", "comment", "bad\ncomment");
    CHECK_INT(isolation_command_isolate(&cmd, &out, err, sizeof(err)), ==, -EINVAL);
    json_decref(cmd.args);
    /* no agent registered an instance: a clear refusal */
    cmd.args = json_object();
    CHECK_INT(isolation_command_isolate(&cmd, &out, err, sizeof(err)), ==, -ENOTSUP);
    CHECK(strstr(err, "not available"));
    cmd.type = "release";
    CHECK_INT(isolation_command_release(&cmd, &out, err, sizeof(err)), ==, -ENOTSUP);
    json_decref(cmd.args);
    cmd.args = json_pack("{s:b}", "all", 1);
    CHECK_INT(isolation_command_release(&cmd, &out, err, sizeof(err)), ==, -EINVAL);
    json_decref(cmd.args);
    CHECK_INT(out.len, ==, 0);
    jsonw_free(&out);
}

/* The server refuses a heartbeat with a malformed isolation state, and
 * stores nothing of it. */
static void heartbeat_isolation_checked(void)
{
    static const char *const bad[] = {
        "{\"isolation\": \"off\"}",
        "{\"isolation\": 1}",
        "{\"isolation\": \"isolation failing\", \"isolation_error\": \"bell\\u0007\"}",
    };
    const char *headers[] = {NULL, NULL};

    if (!ready)
        SKIP("the setup or an earlier step failed");
    ready = false;
    headers[0] = fleet->agent.auth;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct serverproc_response r;
        long status = 0;
        if (serverproc_request(fleet->server, "POST", "/api/v1/agent/heartbeat", bad[i], headers, &r) == 0)
            status = r.status;
        serverproc_response_free(&r);
        CHECK_MSG(status == 400, "%s: %ld", bad[i], status);
    }
    CHECK_STR(isolation_shown(), "not isolated");
    ready = true;
}

static long long isolate_action_id;

static void isolate_cuts_outside_keeps_server(void)
{
    char expect[64], reach[200], body[300];
    json_t *res, *out, *allowed;
    long long before;

    if (!ready)
        SKIP("the setup or an earlier step failed");
    ready = false;
    /* through the action center, as a responder does (yamori isolate HOST) */
    snprintf(body, sizeof(body), "{\"type\": \"isolate\", \"device\": \"%s\", \"target\": {}, \"comment\": "
             "\"isolation test\"}", fleet->agent.id);
    res = action("/api/v1/actions", body);
    CHECK_MSG(res, "%s: %s", command_why, agent_log_tail());
    CHECK_MSG(strcmp(json_string_value(json_object_get(res, "state")) ?: "", "succeeded") == 0, "isolate: %s",
              json_string_value(json_object_get(res, "error")) ?: "?");
    isolate_action_id = json_integer_value(json_object_get(res, "id"));
    out = json_object_get(res, "result");
    allowed = json_object_get(out, "allowed");
    snprintf(expect, sizeof(expect), SRV4 ":%u", server_port);
    CHECK(json_is_true(json_object_get(out, "isolated")));
    CHECK(json_is_array(allowed) && json_array_size(allowed) == 1);
    CHECK_STR(json_string_value(json_array_get(allowed, 0)), expect);
    json_decref(res);
    CHECK(table_present());
    /* the outside peer: nothing gets through, either way, either family */
    CHECK_MSG(!outside_reachable(1500, reach, sizeof(reach)) && !reach[0], "isolated, yet these connect: %s",
              reach);
    /* the server: heartbeats (the inventory shows what the agent applied) and events */
    CHECK_MSG(wait_isolation_shown("isolated", 60), "the inventory shows '%s'", isolation_shown());
    before = events_total();
    for (int i = 0; i < 300 && events_total() <= before; i++) {
        if (i % 10 == 0)
            run("true isolation-test-activity");
        usleep(100000);
    }
    CHECK_MSG(events_total() > before, "no event reached the server after isolation: %s", agent_log_tail());
    /* isolating again is harmless */
    res = command("{\"type\": \"isolate\"}");
    CHECK(res && strcmp(json_string_value(json_object_get(res, "status")) ?: "", "succeeded") == 0);
    json_decref(res);
    ready = true;
}

/* Whether an IsolationTampered event of the device is stored, and a high
 * alert about it exists. */
static bool tamper_reported(bool *event, bool *alert)
{
    char path[300];
    long status;
    json_t *r;
    size_t i;
    json_t *v;

    snprintf(path, sizeof(path), "/api/v1/events?device=%s&type=device&action=IsolationTampered&since=1h",
             fleet->agent.id);
    r = api("GET", path, NULL, &status);
    *event = false;
    json_array_foreach(json_object_get(r, "events"), i, v)
    {
        const char *change = json_string_value(json_object_get(v, "IsolationChange"));
        *event |= change && (strcmp(change, "deleted") == 0 || strcmp(change, "changed") == 0);
    }
    json_decref(r);
    r = api("GET", "/api/v1/alerts?limit=200", NULL, &status);
    *alert = false;
    json_array_foreach(json_object_get(r, "alerts"), i, v)
    {
        const char *title = json_string_value(json_object_get(v, "title"));
        const char *sev = json_string_value(json_object_get(v, "severity"));
        if (title && strstr(title, "Device isolation removed or changed") && sev && strcmp(sev, "high") == 0)
            *alert = true;
    }
    json_decref(r);
    return *event && *alert;
}

static void flush_is_repaired_and_alerted(void)
{
    bool back = false, event = false, alert = false;
    char reach[200];

    if (!ready)
        SKIP("the setup or an earlier step failed");
    ready = false;
    CHECK(run("ip netns exec %s nft flush ruleset", ns_dev) == 0);
    /* (not asserted gone here: the watchdog may already have repaired it) */
    for (int i = 0; i < 300 && !(back = table_present()); i++)
        usleep(100000);
    CHECK_MSG(back, "the table did not come back: %s", agent_log_tail());
    CHECK_MSG(!outside_reachable(1500, reach, sizeof(reach)) && !reach[0], "repaired, yet these connect: %s", reach);
    /* an edit (a rule added to our chain) is repaired as well */
    CHECK(run("ip netns exec %s nft add rule inet " ISOLATION_TABLE " output accept", ns_dev) == 0);
    for (int i = 0; i < 300; i++) {
        if (run("ip netns exec %s nft list chain inet " ISOLATION_TABLE " output | grep -qx '[[:space:]]*accept'",
                ns_dev) != 0)
            break;
        usleep(100000);
    }
    CHECK_MSG(!outside_reachable(1500, reach, sizeof(reach)) && !reach[0], "after an edit, these connect: %s", reach);
    for (int i = 0; i < 600 && !tamper_reported(&event, &alert); i++)
        usleep(100000);
    CHECK_MSG(event, "no IsolationTampered event (with IsolationChange) stored");
    CHECK_MSG(alert, "no high alert 'Device isolation removed or changed'");
    ready = true;
}

static void restart_still_isolated(void)
{
    char reach[200], why[1200];

    if (!ready)
        SKIP("the setup or an earlier step failed");
    ready = false;
    CHECK(fleet_agent_stop(fleet, SIGTERM, 0) >= 0);
    /* the table outlives the agent */
    CHECK(table_present());
    /* a reboot loses it; the agent must put it back before anything else */
    CHECK(run("ip netns exec %s nft flush ruleset", ns_dev) == 0);
    CHECK_MSG(fleet_agent_start(fleet, 60, why, sizeof(why)) == 0, "the agent did not start again: %s", why);
    /* the status file is written after the channel started: by then the
     * table must be there, not some time later */
    CHECK_MSG(table_present(), "the agent runs, but the table is not there yet");
    CHECK_MSG(!outside_reachable(1500, reach, sizeof(reach)) && !reach[0], "after restart, these connect: %s", reach);
    CHECK_STR(isolation_shown(), "isolated");
    ready = true;
}

static void release_restores(void)
{
    char reach[200], path[300];
    json_t *res;

    if (!ready)
        SKIP("the setup or an earlier step failed");
    ready = false;
    /* the undo of the isolate action: a release action */
    snprintf(path, sizeof(path), "/api/v1/actions/%lld/undo", isolate_action_id);
    res = action(path, "{\"comment\": \"done\"}");
    CHECK_MSG(res, "%s: %s", command_why, agent_log_tail());
    CHECK_STR(json_string_value(json_object_get(res, "type")), "release");
    CHECK_MSG(strcmp(json_string_value(json_object_get(res, "state")) ?: "", "succeeded") == 0, "release: %s",
              json_string_value(json_object_get(res, "error")) ?: "?");
    CHECK(json_is_false(json_object_get(json_object_get(res, "result"), "isolated")));
    json_decref(res);
    CHECK(!table_present());
    CHECK(run("ip netns exec %s nft list ruleset | grep -q yamori", ns_dev) != 0);
    snprintf(path, sizeof(path), "%s/state/isolation.state", fleet->dir);
    CHECK(access(path, F_OK) != 0);
    CHECK_MSG(outside_reachable(5000, reach, sizeof(reach)), "released, but only these connect: %s", reach);
    CHECK_MSG(wait_isolation_shown("not isolated", 60), "the inventory shows '%s'", isolation_shown());
    /* releasing again is harmless; the watchdog does not bring it back */
    res = command("{\"type\": \"release\"}");
    CHECK(res && strcmp(json_string_value(json_object_get(res, "status")) ?: "", "succeeded") == 0);
    json_decref(res);
    sleep(3);
    CHECK(!table_present());
    ready = true;
}

static void teardown(void)
{
    if (!ready)
        cleanup(); /* a failed step: stop everything now */
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"ruleset_form", ruleset_form},
        {"command_args_checked", command_args_checked},
        {"named_server_in_process", named_server_in_process},
        {"setup_in_namespaces", setup},
        {"heartbeat_isolation_checked", heartbeat_isolation_checked},
        {"isolate_cuts_outside_keeps_server", isolate_cuts_outside_keeps_server},
        {"flush_is_repaired_and_alerted", flush_is_repaired_and_alerted},
        {"restart_still_isolated", restart_still_isolated},
        {"release_restores", release_restores},
        {NULL, NULL},
    };
    int rc;

    check_set_teardown(teardown);
    rc = check_main("isolation", cases, argc, argv);
    cleanup();
    return rc;
}
