/*
 * isolation.c — the isolation table, its state file, its watchdog and the
 * isolate/release command handlers (see isolation.h).
 *
 * Every change to the kernel's rule set is one libnftables command buffer,
 * which libnftables sends as one netlink batch: applying is "add table;
 * delete table; table { ... }" (replace, atomically, whether the table
 * was there or not), releasing is "add table; delete table" (gone, whether
 * it was there or not). The listing of the table right after it was
 * applied is the fingerprint the watchdog compares against.
 *
 * The state file (<state_dir>/isolation.state) is key=value lines:
 *   isolated=1
 *   comment=text
 *   allow=192.0.2.1 8443      (one per pinned endpoint)
 *   pin=yamori.example:8443:192.0.2.1,[2001:db8::1]   (one per name)
 * It exists only while the machine is isolated; release removes it.
 *
 * One mutex covers the libnftables context and the state: the command
 * thread and the watchdog both change them.
 */
#include "agent/isolation.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agent/commands.h"
#include "common/log.h"

#define STATE_MAX_BYTES 8192
#define RULESET_MAX 16384
#define COMMENT_MAX 255
#define PINS_MAX 1024

struct isolation {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool thread_started, stopping;
    struct nft_ctx *nft;
    char state_path[1100];
    char server_url[AGENTCONF_URL_MAX + 1];
    char proxy_url[AGENTCONF_URL_MAX + 1];
    /* requested: recorded in the state file */
    bool requested;
    char comment[COMMENT_MAX + 1];
    size_t n;
    char addrs[ISOLATION_MAX_ADDRS][46];
    unsigned ports[ISOLATION_MAX_ADDRS];
    char pins[PINS_MAX];       /* "host:port:addr,..." lines for names */
    isolation_pin_fn pin_fn;
    void *pin_ctx;
    /* applied */
    enum isolation_state state;
    char error[512];
    char *fingerprint; /* the table's listing when applied */
    uint64_t tampered, tampered_taken;
    char tamper_what[256];
};

static pthread_mutex_t registered_lock = PTHREAD_MUTEX_INITIALIZER;
static struct isolation *registered;

const char *isolation_state_name(enum isolation_state s)
{
    switch (s) {
    case ISOLATION_ON:
        return "isolated";
    case ISOLATION_FAILING:
        return "isolation failing";
    case ISOLATION_OFF:
        break;
    }
    return "not isolated";
}

/* ------------------------------------------------------------ addresses */

int isolation_url_endpoint(const char *url, unsigned default_port, char *host, size_t hostlen, unsigned *port)
{
    const char *p = url ? strstr(url, "://") : NULL, *end, *hend;
    size_t hl;

    if (!p)
        return -EINVAL;
    p += 3;
    end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)))
        return -EINVAL; /* user info: not a form agent.conf accepts */
    if (*p == '[') {
        hend = memchr(p, ']', (size_t)(end - p));
        if (!hend)
            return -EINVAL;
        p++;
        hl = (size_t)(hend - p);
        hend++;
    } else {
        hend = memchr(p, ':', (size_t)(end - p));
        if (!hend)
            hend = end;
        hl = (size_t)(hend - p);
    }
    if (hl == 0 || hl >= hostlen)
        return -EINVAL;
    memcpy(host, p, hl);
    host[hl] = '\0';
    *port = default_port;
    if (hend < end) {
        char *e;
        unsigned long v;
        if (*hend != ':' || !isdigit((unsigned char)hend[1]))
            return -EINVAL;
        errno = 0;
        v = strtoul(hend + 1, &e, 10);
        if (errno || e != end || v == 0 || v > 65535)
            return -EINVAL;
        *port = (unsigned)v;
    }
    return 0;
}

static bool is_v6(const char *addr);
static bool valid_addr(const char *addr);

/* Resolves url's host into the endpoint list (deduplicated); a name (not
 * an address) also gets its pin line appended to pins. */
static int resolve(const char *url, unsigned default_port, char (*addrs)[46], unsigned *ports, size_t *n,
                   char *pins, size_t pinslen, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char host[256], pin[PINS_MAX];
    size_t pl, first;
    unsigned port;
    int rc;

    if (isolation_url_endpoint(url, default_port, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "cannot read a host and port from the URL '%.300s'", url);
        return -EINVAL;
    }
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s (from %.300s): %s; not isolating, since the agent would lose its server",
                 host, url, gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    first = *n;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char buf[46];
        bool dup = false;
        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, buf, sizeof(buf));
        else if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, buf, sizeof(buf));
        else
            continue;
        for (size_t i = 0; i < *n; i++)
            dup |= ports[i] == port && strcmp(addrs[i], buf) == 0;
        if (dup || *n >= ISOLATION_MAX_ADDRS)
            continue;
        snprintf(addrs[*n], 46, "%s", buf);
        ports[*n] = port;
        (*n)++;
    }
    freeaddrinfo(res);
    if (valid_addr(host) || *n == first)
        return 0;
    pl = (size_t)snprintf(pin, sizeof(pin), "%s:%u:", host, port);
    for (size_t i = first; i < *n && pl < sizeof(pin); i++)
        pl += (size_t)snprintf(pin + pl, sizeof(pin) - pl, is_v6(addrs[i]) ? "%s[%s]" : "%s%s", i > first ? "," : "",
                               addrs[i]);
    if (pl >= sizeof(pin) || strlen(pins) + pl + 2 > pinslen) {
        snprintf(err, errlen, "%s resolves to too many addresses to pin", host);
        return -ENOSPC;
    }
    strcat(pins, pin);
    strcat(pins, "\n");
    return 0;
}

static bool is_v6(const char *addr)
{
    struct in6_addr a6;
    return inet_pton(AF_INET6, addr, &a6) == 1;
}

static bool valid_addr(const char *addr)
{
    struct in_addr a4;
    return inet_pton(AF_INET, addr, &a4) == 1 || is_v6(addr);
}

static void endpoint_text(char *out, size_t outlen, const char *addr, unsigned port)
{
    if (is_v6(addr))
        snprintf(out, outlen, "[%s]:%u", addr, port);
    else
        snprintf(out, outlen, "%s:%u", addr, port);
}

/* ------------------------------------------------------------ the table */

int isolation_ruleset(char *buf, size_t buflen, const char (*addrs)[46], const unsigned *ports, size_t n)
{
    size_t len = 0;
    bool v6 = false;
    int k;

#define PUT(...)                                                                                                   \
    do {                                                                                                           \
        k = snprintf(buf + len, buflen - len, __VA_ARGS__);                                                        \
        if (k < 0 || (size_t)k >= buflen - len)                                                                    \
            return -ENOSPC;                                                                                        \
        len += (size_t)k;                                                                                          \
    } while (0)

    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!valid_addr(addrs[i]) || ports[i] == 0 || ports[i] > 65535)
            return -EINVAL;
        v6 |= is_v6(addrs[i]);
    }
    /* replace in one batch, whether or not the table exists */
    PUT("add table inet %s\ndelete table inet %s\n", ISOLATION_TABLE, ISOLATION_TABLE);
    PUT("table inet %s {\n", ISOLATION_TABLE);
    PUT("  chain input {\n    type filter hook input priority filter; policy drop;\n");
    PUT("    iif \"lo\" accept\n");
    if (v6) /* neighbour discovery: IPv6's ARP, needed to reach the server at all */
        PUT("    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept\n");
    for (size_t i = 0; i < n; i++)
        PUT("    %s saddr %s tcp sport %u ct state established accept\n", is_v6(addrs[i]) ? "ip6" : "ip", addrs[i],
            ports[i]);
    for (size_t i = 0; i < n; i++)
        PUT("    %s saddr %s ct state related accept\n", is_v6(addrs[i]) ? "ip6" : "ip", addrs[i]);
    PUT("  }\n");
    PUT("  chain output {\n    type filter hook output priority filter; policy drop;\n");
    PUT("    oif \"lo\" accept\n");
    if (v6)
        PUT("    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept\n");
    for (size_t i = 0; i < n; i++)
        PUT("    %s daddr %s tcp dport %u ct state new,established accept\n", is_v6(addrs[i]) ? "ip6" : "ip",
            addrs[i], ports[i]);
    for (size_t i = 0; i < n; i++)
        PUT("    %s daddr %s ct state related accept\n", is_v6(addrs[i]) ? "ip6" : "ip", addrs[i]);
    PUT("  }\n");
    PUT("  chain forward {\n    type filter hook forward priority filter; policy drop;\n  }\n");
    PUT("}\n");
#undef PUT
    return 0;
}

/* Runs one command buffer; on failure err gets libnftables' message. The
 * output (a listing) is copied to *out when out is not NULL. Lock held. */
static int nft_run(struct isolation *iso, const char *cmd, char **out, char *err, size_t errlen)
{
    int rc = nft_run_cmd_from_buffer(iso->nft, cmd);
    const char *o = nft_ctx_get_output_buffer(iso->nft);
    const char *e = nft_ctx_get_error_buffer(iso->nft);

    if (rc != 0) {
        size_t n;
        snprintf(err, errlen, "nftables: %s", e && *e ? e : "the command failed");
        n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = ' ';
        return -EIO;
    }
    if (out) {
        *out = strdup(o ? o : "");
        if (!*out) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    return 0;
}

/* The table's listing, or NULL with err when it is not there. Lock held. */
static char *list_table(struct isolation *iso, char *err, size_t errlen)
{
    char *out = NULL;
    if (nft_run(iso, "list table inet " ISOLATION_TABLE "\n", &out, err, errlen) != 0)
        return NULL;
    return out;
}

/* Puts the table in place from the pinned endpoints and records its
 * fingerprint. Lock held. */
static int apply(struct isolation *iso, char *err, size_t errlen)
{
    char *rules = malloc(RULESET_MAX), *fp;
    int e;

    if (!rules) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    e = isolation_ruleset(rules, RULESET_MAX, (const char(*)[46])iso->addrs, iso->ports, iso->n);
    if (e) {
        snprintf(err, errlen, "cannot build the isolation rule set (%zu endpoints): %s", iso->n, strerror(-e));
        goto out;
    }
    e = nft_run(iso, rules, NULL, err, errlen);
    if (e)
        goto out;
    fp = list_table(iso, err, errlen);
    if (!fp) {
        e = -EIO;
        goto out;
    }
    free(iso->fingerprint);
    iso->fingerprint = fp;
out:
    free(rules);
    return e;
}

/* Deletes the table (whether it exists or not). Lock held. */
static int remove_table(struct isolation *iso, char *err, size_t errlen)
{
    return nft_run(iso, "add table inet " ISOLATION_TABLE "\ndelete table inet " ISOLATION_TABLE "\n", NULL, err,
                   errlen);
}

/* ------------------------------------------------------------ state file */

static int save_state(struct isolation *iso, char *err, size_t errlen)
{
    char buf[STATE_MAX_BYTES];
    size_t len;

    len = (size_t)snprintf(buf, sizeof(buf), "# yamori-agent: this machine is isolated (docs/agent.md, \"Isolation\")\n"
                                             "isolated=1\ncomment=%s\n",
                           iso->comment);
    for (size_t i = 0; i < iso->n && len < sizeof(buf); i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "allow=%s %u\n", iso->addrs[i], iso->ports[i]);
    for (const char *p = iso->pins; *p && len < sizeof(buf);) {
        size_t k = strcspn(p, "\n");
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "pin=%.*s\n", (int)k, p);
        p += k + (p[k] ? 1 : 0);
    }
    if (len >= sizeof(buf)) {
        snprintf(err, errlen, "the isolation state does not fit in %d bytes", STATE_MAX_BYTES);
        return -ENOSPC;
    }
    return agentconf_write_file(iso->state_path, buf, len, 0600, err, errlen);
}

static bool valid_comment(const char *s)
{
    if (strlen(s) > COMMENT_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Reads the state file into iso (absent: not isolated). */
static int load_state(struct isolation *iso, char *err, size_t errlen)
{
    char buf[STATE_MAX_BYTES + 1];
    struct stat st;
    ssize_t got;
    int fd, line = 0;
    bool isolated = false;

    fd = open(iso->state_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", iso->state_path, strerror(errno));
        return -errno;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_MAX_BYTES) {
        close(fd);
        snprintf(err, errlen, "%s is not an isolation state file (a regular file under %d bytes)", iso->state_path,
                 STATE_MAX_BYTES);
        return -EINVAL;
    }
    got = read(fd, buf, STATE_MAX_BYTES);
    close(fd);
    if (got < 0) {
        snprintf(err, errlen, "cannot read %s: %s", iso->state_path, strerror(errno));
        return -EIO;
    }
    buf[got] = '\0';
    iso->n = 0;
    iso->comment[0] = '\0';
    iso->pins[0] = '\0';
    for (char *p = buf, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        line++;
        if (!nl) {
            snprintf(err, errlen, "%s:%d: the line does not end (a torn write?)", iso->state_path, line);
            return -EINVAL;
        }
        *nl = '\0';
        if (*p == '#' || *p == '\0')
            continue;
        if (strcmp(p, "isolated=1") == 0) {
            isolated = true;
        } else if (strncmp(p, "comment=", 8) == 0 && valid_comment(p + 8)) {
            snprintf(iso->comment, sizeof(iso->comment), "%s", p + 8);
        } else if (strncmp(p, "pin=", 4) == 0) {
            size_t k = strlen(p + 4);
            if (k == 0 || k != strspn(p + 4, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:,[]") ||
                strlen(iso->pins) + k + 2 > sizeof(iso->pins)) {
                snprintf(err, errlen, "%s:%d: expected pin=HOST:PORT:ADDRESS[,ADDRESS...]", iso->state_path, line);
                return -EINVAL;
            }
            strcat(iso->pins, p + 4);
            strcat(iso->pins, "\n");
        } else if (strncmp(p, "allow=", 6) == 0) {
            char addr[46];
            unsigned port;
            char extra;
            if (iso->n >= ISOLATION_MAX_ADDRS || sscanf(p + 6, "%45s %u%c", addr, &port, &extra) != 2 ||
                !valid_addr(addr) || port == 0 || port > 65535) {
                snprintf(err, errlen, "%s:%d: expected allow=ADDRESS PORT (at most %d)", iso->state_path, line,
                         ISOLATION_MAX_ADDRS);
                return -EINVAL;
            }
            snprintf(iso->addrs[iso->n], 46, "%s", addr);
            iso->ports[iso->n++] = port;
        } else {
            snprintf(err, errlen, "%s:%d: unknown line", iso->state_path, line);
            return -EINVAL;
        }
    }
    if (isolated && iso->n == 0) {
        snprintf(err, errlen, "%s: isolated, but no allowed endpoint: refusing to cut the agent off its server",
                 iso->state_path);
        return -EINVAL;
    }
    iso->requested = isolated;
    return 0;
}

/* ------------------------------------------------------------ public */

int isolation_open(struct isolation **out, const char *state_dir, const char *server_url, const char *proxy_url,
                   char *err, size_t errlen)
{
    struct isolation *iso = calloc(1, sizeof(*iso));
    int e;

    *out = NULL;
    if (!iso) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&iso->lock, NULL);
    pthread_cond_init(&iso->wake, NULL);
    snprintf(iso->state_path, sizeof(iso->state_path), "%s/isolation.state", state_dir);
    snprintf(iso->server_url, sizeof(iso->server_url), "%s", server_url ? server_url : "");
    snprintf(iso->proxy_url, sizeof(iso->proxy_url), "%s", proxy_url ? proxy_url : "");
    iso->nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!iso->nft || nft_ctx_buffer_output(iso->nft) != 0 || nft_ctx_buffer_error(iso->nft) != 0) {
        snprintf(err, errlen, "cannot create a libnftables context");
        e = -ENOMEM;
        goto fail;
    }
    e = load_state(iso, err, errlen);
    if (e)
        goto fail;
    if (iso->requested) {
        char why[512];
        if (apply(iso, why, sizeof(why)) == 0) {
            iso->state = ISOLATION_ON;
            log_info("isolation re-applied: only the server's %zu endpoint(s) and loopback are reachable", iso->n);
        } else {
            iso->state = ISOLATION_FAILING;
            snprintf(iso->error, sizeof(iso->error), "%s", why);
            log_error("this machine should be isolated, but the table cannot be applied: %s", why);
        }
    }
    *out = iso;
    return 0;
fail:
    isolation_free(iso);
    return e;
}

static void *watch(void *arg)
{
    struct isolation *iso = arg;

    pthread_mutex_lock(&iso->lock);
    while (!iso->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ISOLATION_WATCH_MS / 1000;
        ts.tv_nsec += (ISOLATION_WATCH_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&iso->wake, &iso->lock, &ts);
        if (iso->stopping || !iso->requested)
            continue;
        {
            char why[512] = "", *now = list_table(iso, why, sizeof(why));
            bool present = now != NULL;
            bool intact = present && iso->fingerprint && strcmp(now, iso->fingerprint) == 0;
            free(now);
            if (intact && iso->state == ISOLATION_ON)
                continue;
            if (iso->state == ISOLATION_ON) {
                snprintf(iso->tamper_what, sizeof(iso->tamper_what), "%s", present ? "changed" : "deleted");
                iso->tampered++;
                log_warn("the isolation table was %s; putting it back", iso->tamper_what);
            }
            if (apply(iso, why, sizeof(why)) == 0) {
                iso->state = ISOLATION_ON;
                iso->error[0] = '\0';
            } else {
                if (iso->state != ISOLATION_FAILING || strcmp(iso->error, why) != 0)
                    log_error("cannot put the isolation table back: %s", why);
                iso->state = ISOLATION_FAILING;
                snprintf(iso->error, sizeof(iso->error), "%s", why);
            }
        }
    }
    pthread_mutex_unlock(&iso->lock);
    return NULL;
}

int isolation_start_watchdog(struct isolation *iso, char *err, size_t errlen)
{
    pthread_condattr_t ca;
    int e;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&iso->wake);
    pthread_cond_init(&iso->wake, &ca);
    pthread_condattr_destroy(&ca);
    e = -pthread_create(&iso->thread, NULL, watch, iso);
    if (e) {
        snprintf(err, errlen, "cannot start the isolation watchdog: %s", strerror(-e));
        return e;
    }
    iso->thread_started = true;
    return 0;
}

int isolation_isolate(struct isolation *iso, const char *comment, char *err, size_t errlen)
{
    char addrs[ISOLATION_MAX_ADDRS][46], old_comment[COMMENT_MAX + 1], pins[PINS_MAX] = "";
    unsigned ports[ISOLATION_MAX_ADDRS];
    size_t n = 0;
    bool was = false;
    int e = 0;

    if (comment && !valid_comment(comment)) {
        snprintf(err, errlen, "comment: expected printable text of at most %d bytes", COMMENT_MAX);
        return -EINVAL;
    }
    pthread_mutex_lock(&iso->lock);
    was = iso->requested;
    if (!was) {
        /* resolve before the table is there: afterwards DNS is blocked */
        e = resolve(iso->server_url, 443, addrs, ports, &n, pins, sizeof(pins), err, errlen);
        if (!e && iso->proxy_url[0])
            e = resolve(iso->proxy_url, 1080, addrs, ports, &n, pins, sizeof(pins), err, errlen);
        if (!e && n == 0) {
            snprintf(err, errlen, "the server's name resolves to no IPv4 or IPv6 address; not isolating");
            e = -EHOSTUNREACH;
        }
        if (e)
            goto out;
        memcpy(iso->addrs, addrs, sizeof(addrs));
        memcpy(iso->ports, ports, sizeof(ports));
        iso->n = n;
        memcpy(iso->pins, pins, sizeof(pins));
    }
    snprintf(old_comment, sizeof(old_comment), "%s", iso->comment);
    if (comment)
        snprintf(iso->comment, sizeof(iso->comment), "%s", comment);
    e = apply(iso, err, errlen);
    if (!e)
        e = save_state(iso, err, errlen);
    if (e) {
        char why[512];
        snprintf(iso->comment, sizeof(iso->comment), "%s", old_comment);
        if (!was) {
            if (remove_table(iso, why, sizeof(why)) != 0)
                log_error("cannot take back the isolation table after a failure: %s", why);
            iso->n = 0;
            iso->pins[0] = '\0';
        }
        goto out;
    }
    if (iso->pin_fn)
        iso->pin_fn(iso->pin_ctx, iso->pins);
    iso->requested = true;
    iso->state = ISOLATION_ON;
    iso->error[0] = '\0';
    log_info("isolated: only loopback and the server (%zu endpoint(s)) are reachable", iso->n);
out:
    pthread_mutex_unlock(&iso->lock);
    return e;
}

int isolation_release(struct isolation *iso, char *err, size_t errlen)
{
    int e = 0;

    pthread_mutex_lock(&iso->lock);
    if (!iso->requested) {
        /* not isolated: nothing of ours should exist; a leftover table goes */
        e = remove_table(iso, err, errlen);
        goto out;
    }
    if (unlink(iso->state_path) != 0 && errno != ENOENT) {
        e = -errno;
        snprintf(err, errlen, "cannot remove %s: %s; still isolated", iso->state_path, strerror(errno));
        goto out;
    }
    e = remove_table(iso, err, errlen);
    if (e) {
        char why[512];
        if (save_state(iso, why, sizeof(why)) != 0)
            log_error("cannot record the isolation state again: %s", why);
        goto out;
    }
    iso->requested = false;
    iso->state = ISOLATION_OFF;
    iso->error[0] = '\0';
    iso->comment[0] = '\0';
    iso->n = 0;
    iso->pins[0] = '\0';
    if (iso->pin_fn)
        iso->pin_fn(iso->pin_ctx, "");
    free(iso->fingerprint);
    iso->fingerprint = NULL;
    log_info("released from isolation");
out:
    pthread_mutex_unlock(&iso->lock);
    return e;
}

void isolation_on_pins(struct isolation *iso, isolation_pin_fn fn, void *ctx)
{
    pthread_mutex_lock(&iso->lock);
    iso->pin_fn = fn;
    iso->pin_ctx = ctx;
    if (fn)
        fn(ctx, iso->requested ? iso->pins : "");
    pthread_mutex_unlock(&iso->lock);
}

void isolation_get_status(struct isolation *iso, struct isolation_status *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&iso->lock);
    out->state = iso->state;
    snprintf(out->error, sizeof(out->error), "%s", iso->error);
    snprintf(out->comment, sizeof(out->comment), "%s", iso->comment);
    out->nallowed = iso->requested ? iso->n : 0;
    for (size_t i = 0; i < out->nallowed; i++)
        endpoint_text(out->allowed[i], sizeof(out->allowed[i]), iso->addrs[i], iso->ports[i]);
    out->tampered = iso->tampered;
    pthread_mutex_unlock(&iso->lock);
}

uint64_t isolation_take_tampered(struct isolation *iso, char *what, size_t whatlen)
{
    uint64_t n;

    pthread_mutex_lock(&iso->lock);
    n = iso->tampered - iso->tampered_taken;
    iso->tampered_taken = iso->tampered;
    if (what && whatlen)
        snprintf(what, whatlen, "%s", iso->tamper_what);
    pthread_mutex_unlock(&iso->lock);
    return n;
}

void isolation_free(struct isolation *iso)
{
    if (!iso)
        return;
    pthread_mutex_lock(&registered_lock);
    if (registered == iso)
        registered = NULL;
    pthread_mutex_unlock(&registered_lock);
    if (iso->thread_started) {
        pthread_mutex_lock(&iso->lock);
        iso->stopping = true;
        pthread_cond_signal(&iso->wake);
        pthread_mutex_unlock(&iso->lock);
        pthread_join(iso->thread, NULL);
    }
    if (iso->nft)
        nft_ctx_free(iso->nft);
    free(iso->fingerprint);
    pthread_cond_destroy(&iso->wake);
    pthread_mutex_destroy(&iso->lock);
    free(iso);
}

void isolation_register(struct isolation *iso)
{
    pthread_mutex_lock(&registered_lock);
    registered = iso;
    pthread_mutex_unlock(&registered_lock);
}

/* ------------------------------------------------------------ commands */

/* The registered instance, or NULL with err. The registration lock is
 * held until done() so that the instance is not freed meanwhile. */
static struct isolation *acquire(char *err, size_t errlen)
{
    pthread_mutex_lock(&registered_lock);
    if (!registered) {
        pthread_mutex_unlock(&registered_lock);
        snprintf(err, errlen, "isolation is not available: the agent does not run enrolled with a server");
        return NULL;
    }
    return registered;
}

static void done(void)
{
    pthread_mutex_unlock(&registered_lock);
}

int isolation_command_isolate(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    json_t *jc = json_object_get(cmd->args, "comment");
    const char *key;
    json_t *v;
    struct isolation *iso;
    struct isolation_status st;
    int e;

    json_object_foreach(cmd->args, key, v)
    {
        if (strcmp(key, "comment") != 0) {
            snprintf(err, errlen, "unknown argument '%.64s' (isolate takes only \"comment\")", key);
            return -EINVAL;
        }
    }
    if (jc && !json_is_null(jc) && (!json_is_string(jc) || !valid_comment(json_string_value(jc)))) {
        snprintf(err, errlen, "comment: expected printable text of at most %d bytes", COMMENT_MAX);
        return -EINVAL;
    }
    iso = acquire(err, errlen);
    if (!iso)
        return -ENOTSUP;
    e = isolation_isolate(iso, json_is_string(jc) ? json_string_value(jc) : NULL, err, errlen);
    if (!e)
        isolation_get_status(iso, &st);
    done();
    if (e)
        return e;
    jsonw_object_begin(out);
    jsonw_kv_bool(out, "isolated", true);
    jsonw_key(out, "allowed");
    jsonw_array_begin(out);
    for (size_t i = 0; i < st.nallowed; i++)
        jsonw_str(out, st.allowed[i]);
    jsonw_array_end(out);
    jsonw_object_end(out);
    return 0;
}

int isolation_command_release(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    struct isolation *iso;
    int e;

    if (json_object_size(cmd->args) != 0) {
        snprintf(err, errlen, "release takes no arguments");
        return -EINVAL;
    }
    iso = acquire(err, errlen);
    if (!iso)
        return -ENOTSUP;
    e = isolation_release(iso, err, errlen);
    done();
    if (e)
        return e;
    jsonw_object_begin(out);
    jsonw_kv_bool(out, "isolated", false);
    jsonw_object_end(out);
    return 0;
}
