/*
 * health.c — GET /api/v1/health: is the server up, which version, which
 * store. Public: load balancers and `yamori up` poll it.
 */
#include <string.h>

#include "server/server.h"
#include "server/store.h"

static void get_health(struct http_request *rq, struct http_response *rs)
{
    struct jsonw *w = http_json(rs);
    struct server *srv = http_server(rq);

    jsonw_object_begin(w);
    jsonw_kv_str(w, "status", "ok");
    jsonw_kv_str(w, "version", YAMORI_VERSION);
    jsonw_kv_str(w, "store", store_backend(srv->store));
    jsonw_object_end(w);
}

static const struct route health_routes[] = {
    {HTTP_GET, "/api/v1/health", ACCESS_PUBLIC, ROLE_NONE, 0, get_health, "server status and version"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module health_module = {
    .name = "health",
    .order = 1,
    .routes = health_routes,
};
SERVER_MODULE(health_module);
