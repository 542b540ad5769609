/*
 * server.h — the server process: configuration, store, modules, HTTPS.
 *
 * A module is one concern of the server (authentication, devices and
 * enrollment, ingest, ...). It registers itself with SERVER_MODULE() in its
 * own file — no central list to edit — and gets init/fini calls in `order`
 * and its routes served. Module state is kept per server with
 * server_module_state().
 *
 * Start-up (server_run): read the configuration; as root, create the data
 * directory, bind the listening socket, then drop to the service user;
 * open the store; initialise the modules (certificates, the first admin,
 * ...); serve until SIGTERM/SIGINT; finalise in reverse order.
 */
#ifndef YAMORI_SERVER_SERVER_H
#define YAMORI_SERVER_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/config.h"
#include "server/http.h"

struct store;
struct server;

struct server_module {
    const char *name;
    int order;                                   /* init order; lower first */
    int (*init)(struct server *srv, char *err, size_t errlen);
    void (*fini)(struct server *srv);
    const struct route *routes;                  /* terminated by a route with pattern NULL */
};

#define SERVER_MODULE(var)                                                                         \
    static const struct server_module *const var##_registration                                    \
        __attribute__((used, section("yamori_modules"), aligned(sizeof(void *)))) = &var

struct server {
    struct server_config cfg;
    struct store *store;
    struct http *http;
    http_authenticate_fn authenticate_user;
    http_authenticate_fn authenticate_device;
    const char *tls_cert_pem;  /* set by the PKI module before HTTP starts */
    const char *tls_key_pem;
    volatile sig_atomic_t stopping;
    void *module_state[32];
};

/* The registered modules, sorted by order; *n is set to their count. */
const struct server_module *const *server_modules(size_t *n);

/* The state a module keeps for srv (NULL until set). */
void *server_module_state(struct server *srv, const struct server_module *m);
void server_set_module_state(struct server *srv, const struct server_module *m, void *state);

/* Runs the server with cfg until stopped. check_only: check, changing
 * nothing on disk, that the service user, the data directory and the
 * store would let a start through (store_check()), print what was found,
 * and return.
 * Returns 0 or -errno after printing why. */
int server_run(const struct server_config *cfg, bool check_only);

/* Asks a running server to stop (from a signal handler or another thread). */
void server_request_stop(struct server *srv);

#endif
