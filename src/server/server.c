/*
 * server.c — see server.h.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/pki.h"
#include "server/store.h"

extern const struct server_module *const __start_yamori_modules[] __attribute__((weak));
extern const struct server_module *const __stop_yamori_modules[] __attribute__((weak));

const struct server_module *const *server_modules(size_t *n)
{
    static const struct server_module **sorted;
    static size_t count;

    if (!sorted) {
        const struct server_module *const *start = __start_yamori_modules;
        size_t total = start ? (size_t)(__stop_yamori_modules - start) : 0;
        const struct server_module **v = calloc(total ? total : 1, sizeof(*v));
        if (!v) {
            *n = 0;
            return NULL;
        }
        for (size_t i = 0; i < total; i++)
            v[i] = start[i];
        for (size_t i = 1; i < total; i++)
            for (size_t j = i; j > 0 && (v[j - 1]->order > v[j]->order ||
                                         (v[j - 1]->order == v[j]->order && strcmp(v[j - 1]->name, v[j]->name) > 0));
                 j--) {
                const struct server_module *t = v[j];
                v[j] = v[j - 1];
                v[j - 1] = t;
            }
        count = total;
        sorted = v;
    }
    *n = count;
    return sorted;
}

static int module_index(const struct server_module *m)
{
    size_t n;
    const struct server_module *const *mods = server_modules(&n);
    for (size_t i = 0; i < n; i++)
        if (mods[i] == m)
            return (int)i;
    return -1;
}

void *server_module_state(struct server *srv, const struct server_module *m)
{
    int i = module_index(m);
    return i >= 0 && i < 32 ? srv->module_state[i] : NULL;
}

void server_set_module_state(struct server *srv, const struct server_module *m, void *state)
{
    int i = module_index(m);
    if (i >= 0 && i < 32)
        srv->module_state[i] = state;
}

static struct server *running;

static void on_signal(int sig)
{
    (void)sig;
    if (running)
        running->stopping = 1;
}

void server_request_stop(struct server *srv)
{
    srv->stopping = 1;
}

/* Binds and listens on "host:port" / "[v6]:port". */
static int bind_listen(const char *listen_spec, char *err, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(listen_spec, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    int fd = -1, one = 1, zero = 0, e;

    if (!colon || (size_t)(colon - listen_spec) >= sizeof(host)) {
        snprintf(err, errlen, "bad listen address '%s'", listen_spec);
        return -EINVAL;
    }
    memcpy(host, listen_spec, (size_t)(colon - listen_spec));
    host[colon - listen_spec] = '\0';
    if (host[0] == '[') {
        size_t l = strlen(host);
        if (l < 2 || host[l - 1] != ']') {
            snprintf(err, errlen, "bad listen address '%s'", listen_spec);
            return -EINVAL;
        }
        memmove(host, host + 1, l - 2);
        host[l - 2] = '\0';
    }
    e = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (e) {
        snprintf(err, errlen, "listen address '%s': %s", listen_spec, gai_strerror(e));
        return -EINVAL;
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto sys_fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0)
        goto sys_fail;
    freeaddrinfo(ai);
    return fd;
sys_fail:
    e = -errno;
    snprintf(err, errlen, "cannot listen on %s: %s", listen_spec, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return e;
}

/* As root: the data directory belongs to the service user; then become it. */
static int drop_privileges(const struct server_config *cfg, char *err, size_t errlen)
{
    struct passwd *pw;

    if (geteuid() != 0 || !cfg->user[0])
        return 0;
    pw = getpwnam(cfg->user);
    if (!pw) {
        snprintf(err, errlen,
                 "user '%s' does not exist: create it (useradd --system --home-dir %s --shell /usr/sbin/nologin %s)"
                 " or set user = \"\" to stay root (not recommended)",
                 cfg->user, cfg->data_dir, cfg->user);
        return -ENOENT;
    }
    if (chown(cfg->data_dir, pw->pw_uid, pw->pw_gid) != 0) {
        snprintf(err, errlen, "cannot hand %s to %s: %s", cfg->data_dir, cfg->user, strerror(errno));
        return -errno;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "cannot become %s: %s", cfg->user, strerror(errno));
        return -EPERM;
    }
    if (setuid(0) == 0) {
        snprintf(err, errlen, "dropping root did not stick");
        return -EPERM;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    log_info("running as %s (uid %u)", cfg->user, (unsigned)pw->pw_uid);
    return 0;
}

/* `yamori server -n`: the configuration was parsed by the caller; find
 * what a start would fail on before it serves — the service user, the data
 * directory (or creating it) and the store, opened read-only as the user
 * the server would open it as (store_check()) — and change nothing. */
static int check_setup(const struct server_config *cfg, char *err, size_t errlen)
{
    char uri[600], info[1200], parent[sizeof(cfg->data_dir)];
    struct store_check_as as = {.handed_dir = cfg->data_dir};
    struct passwd *pw = NULL;
    struct stat st;
    char *slash;
    int e;

    if (cfg->user[0] && !(pw = getpwnam(cfg->user))) {
        snprintf(err, errlen, "user '%s' does not exist", cfg->user);
        return -ENOENT;
    }
    if (pw && geteuid() == 0) { /* as drop_privileges() will */
        if (pw->pw_uid == 0) {
            snprintf(err, errlen, "user '%s' is root: set user = \"\" to stay root (not recommended)", cfg->user);
            return -EINVAL;
        }
        as.drop = true;
        as.uid = pw->pw_uid;
        as.gid = pw->pw_gid;
        as.user = cfg->user;
    }
    if (stat(cfg->data_dir, &st) != 0) {
        /* created at start with mkdir(), before dropping root: its parent must take it */
        if (errno != ENOENT) {
            e = -errno;
            snprintf(err, errlen, "cannot reach the data directory %s: %s", cfg->data_dir, strerror(errno));
            return e;
        }
        snprintf(parent, sizeof(parent), "%s", cfg->data_dir);
        slash = strrchr(parent, '/');
        if (!slash) {
            snprintf(err, errlen, "the data directory %s is not an absolute path", cfg->data_dir);
            return -EINVAL;
        }
        slash[slash == parent ? 1 : 0] = '\0';
        if (stat(parent, &st) != 0 || access(parent, W_OK | X_OK) != 0) {
            e = -errno;
            snprintf(err, errlen, "cannot create the data directory %s: %.300s: %s", cfg->data_dir, parent,
                     strerror(errno));
            return e;
        }
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "cannot create the data directory %s: %.300s is not a directory", cfg->data_dir,
                     parent);
            return -ENOTDIR;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", cfg->data_dir);
        return -ENOTDIR;
    }
    config_store_uri(cfg, uri, sizeof(uri));
    e = store_check(uri, &as, info, sizeof(info), err, errlen);
    if (e)
        return e;
    printf("configuration OK; data directory %s%s; store %s\n", cfg->data_dir,
           stat(cfg->data_dir, &st) != 0 ? " (created at first start)" : "", info);
    return 0;
}

int server_run(const struct server_config *cfg, bool check_only)
{
    struct server *srv = calloc(1, sizeof(*srv));
    const struct server_module *const *mods;
    char err[1024] = "", uri[600];
    size_t nmods, inited = 0;
    int listen_fd = -1, e = 0;
    struct sigaction sa;

    if (!srv)
        return -ENOMEM;
    srv->cfg = *cfg;
    mods = server_modules(&nmods);
    if (check_only) {
        e = check_setup(cfg, err, sizeof(err));
        goto out;
    }
    if (mkdir(cfg->data_dir, 0750) != 0 && errno != EEXIST) {
        e = -errno;
        snprintf(err, sizeof(err), "cannot create the data directory %s: %s", cfg->data_dir, strerror(errno));
        goto out;
    }
    listen_fd = bind_listen(cfg->listen, err, sizeof(err));
    if (listen_fd < 0) {
        e = listen_fd;
        goto out;
    }
    e = drop_privileges(cfg, err, sizeof(err));
    if (e)
        goto out;
    umask(027);
    config_store_uri(cfg, uri, sizeof(uri));
    e = store_open(&srv->store, uri, err, sizeof(err));
    if (e)
        goto out;
    for (; inited < nmods; inited++) {
        if (!mods[inited]->init)
            continue;
        e = mods[inited]->init(srv, err, sizeof(err));
        if (e)
            goto out;
    }
    if (!srv->tls_cert_pem || !srv->tls_key_pem) {
        e = -ENOKEY;
        snprintf(err, sizeof(err), "no TLS certificate (the pki module did not run)");
        goto out;
    }
    {
        struct http_options ho = {
            .listen_fd = listen_fd,
            .cert_pem = srv->tls_cert_pem,
            .key_pem = srv->tls_key_pem,
            .threads = cfg->threads,
            .max_connections = cfg->max_connections,
        };
        e = http_start(srv, &ho, &srv->http, err, sizeof(err));
        if (e)
            goto out;
    }
    running = srv;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    {
        char url[300];
        config_public_url(cfg, url, sizeof(url));
        log_info("serving on %s (%s)", cfg->listen, url);
        log_info("certificate authority %s", pki_ca_fingerprint(srv) ? pki_ca_fingerprint(srv) : "?");
        fprintf(stdout, "certificate authority %s\nyamori server ready on %s\n",
                pki_ca_fingerprint(srv) ? pki_ca_fingerprint(srv) : "?", url);
        fflush(stdout);
    }
    while (!srv->stopping)
        usleep(100000); /* signals and server_request_stop() set the flag */
    log_info("stopping");
out:
    if (e)
        log_error("%s", err);
    http_stop(srv->http);
    while (inited > 0) {
        inited--;
        if (mods[inited]->fini)
            mods[inited]->fini(srv);
    }
    store_close(srv->store);
    if (listen_fd >= 0)
        close(listen_fd);
    running = NULL;
    free(srv);
    return e;
}
