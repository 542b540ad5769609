/*
 * detection_api.c — the detection module of the server: starts the
 * detection core (detection.h) with the configured rule directories,
 * registers it as the ingest writer's post-commit hook, and serves
 *
 *   GET    /api/v1/rules              the rules, loaded and refused (viewer)
 *   POST   /api/v1/rules/reload       reload every rule directory (admin, audited)
 *   GET    /api/v1/detection/status   counters: inspected, not inspected, hits...
 *   GET    /api/v1/indicators         the indicators (viewer)
 *   POST   /api/v1/indicators         add one (analyst, audited)
 *   DELETE /api/v1/indicators/:id     remove one (analyst, audited)
 *
 * The rule pack is `rules_dir`, by default the rules/ directory of the
 * source tree when the binary runs from a build tree in it, else
 * <prefix>/share/yamori/rules next to <prefix>/bin/yamori (where `make
 * install` puts it).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/audit.h"
#include "server/detection.h"
#include "server/detection_int.h"
#include "server/ingest.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_indicators.h"

#define MAX_EXPIRY_DAYS 3650

struct det_module {
    struct detection *det;
    char rules_dir[PATH_MAX];
};

static const struct server_module detection_module;

static struct det_module *state(struct http_request *rq, struct http_response *rs)
{
    struct det_module *m = server_module_state(http_server(rq), &detection_module);
    if (!m || !m->det)
        http_error(rs, 503, "detection is not running");
    return m && m->det ? m : NULL;
}

/* ------------------------------------------------------------------ rules */

static void get_rules(struct http_request *rq, struct http_response *rs)
{
    struct det_module *m = state(rq, rs);
    struct detection_status s;
    struct jsonw *w;

    if (!m)
        return;
    detection_status(m->det, &s);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_uint(w, "loaded", s.rules_loaded);
    jsonw_kv_uint(w, "refused", s.rules_refused);
    jsonw_key(w, "rules");
    detection_write_rules(m->det, w);
    jsonw_object_end(w);
}

static void post_reload(struct http_request *rq, struct http_response *rs)
{
    struct det_module *m = state(rq, rs);
    struct detection_status s;
    char err[512], detail[700];
    struct jsonw *w;
    int e;

    if (!m)
        return;
    e = detection_reload(m->det, err, sizeof(err));
    detection_status(m->det, &s);
    if (e)
        snprintf(detail, sizeof(detail), "{\"ok\":false}");
    else
        snprintf(detail, sizeof(detail), "{\"ok\":true,\"loaded\":%zu,\"refused\":%zu}", s.rules_loaded,
                 s.rules_refused);
    audit_record(http_server(rq), http_principal(rq), http_remote_ip(rq), "rules.reload", "rules", detail);
    if (e) {
        http_error(rs, 422, "the rules were not reloaded, the previous ones stay: %s", err);
        return;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_bool(w, "reloaded", true);
    jsonw_kv_uint(w, "loaded", s.rules_loaded);
    jsonw_kv_uint(w, "refused", s.rules_refused);
    jsonw_kv_uint(w, "files", s.rule_files);
    jsonw_object_end(w);
}

static void get_status(struct http_request *rq, struct http_response *rs)
{
    struct det_module *m = state(rq, rs);
    struct server *srv = http_server(rq);
    struct detection_status s;
    struct jsonw *w;

    if (!m)
        return;
    detection_status(m->det, &s);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "rules_dir", m->rules_dir);
    jsonw_kv_str(w, "rule_dirs", srv->cfg.rule_dirs);
    jsonw_kv_uint(w, "rules_loaded", s.rules_loaded);
    jsonw_kv_uint(w, "rules_refused", s.rules_refused);
    jsonw_kv_uint(w, "rule_files", s.rule_files);
    jsonw_kv_uint(w, "events_inspected", s.events_inspected);
    jsonw_kv_uint(w, "events_not_inspected", s.events_not_inspected);
    jsonw_kv_uint(w, "hits", s.hits);
    jsonw_kv_uint(w, "indicator_hits", s.indicator_hits);
    jsonw_kv_uint(w, "suppressed_by_allow", s.suppressed_by_allow);
    jsonw_kv_uint(w, "alerts_failed", s.alerts_failed);
    jsonw_kv_uint(w, "alerts_not_stored", s.alerts_not_stored);
    jsonw_kv_uint(w, "queued_bytes", s.queued_bytes);
    jsonw_kv_uint(w, "devices", s.devices);
    jsonw_kv_uint(w, "devices_evicted", s.devices_evicted);
    jsonw_kv_uint(w, "reloads", s.reloads);
    jsonw_kv_uint(w, "reloads_failed", s.reloads_failed);
    jsonw_key(w, "last_reload");
    jsonw_object_begin(w);
    if (s.last_reload_ms)
        jsonw_kv_time(w, "time", (uint64_t)s.last_reload_ms * 1000000);
    jsonw_kv_bool(w, "ok", s.last_reload_ok);
    jsonw_kv_str_opt(w, "error", s.last_reload_error);
    jsonw_object_end(w);
    jsonw_object_end(w);
}

/* ------------------------------------------------------------------ indicators */

static void write_indicator(struct jsonw *w, const struct store_indicator *x, int64_t now_ms)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", x->id);
    jsonw_kv_str(w, "type", x->type);
    jsonw_kv_str(w, "value", x->value);
    jsonw_kv_str(w, "action", x->action);
    jsonw_kv_str(w, "title", x->title);
    jsonw_kv_str(w, "severity", x->severity);
    jsonw_kv_str(w, "description", x->description);
    jsonw_kv_str(w, "created_by", x->created_by);
    jsonw_kv_time(w, "created", (uint64_t)x->created_ms * 1000000);
    if (x->expires_ms)
        jsonw_kv_time(w, "expires", (uint64_t)x->expires_ms * 1000000);
    else {
        jsonw_key(w, "expires");
        jsonw_null(w);
    }
    jsonw_kv_bool(w, "expired", x->expires_ms && x->expires_ms <= now_ms);
    jsonw_object_end(w);
}

static void get_indicators(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct store_indicator *v = NULL;
    struct jsonw *w;
    size_t n = 0;
    int64_t now = store_now_ms(srv->store);

    if (store_indicator_list(srv->store, &v, &n) != 0) {
        http_error(rs, 500, "the indicators could not be read");
        return;
    }
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_key(w, "indicators");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_indicator(w, &v[i], now);
    jsonw_array_end(w);
    jsonw_object_end(w);
    free(v);
}

/* Printable text of at most max bytes without control characters. */
static bool valid_text(const char *s, size_t len, size_t max, bool multiline)
{
    if (len > max || memchr(s, '\0', len))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f)
            return false;
    }
    return true;
}

/* "30d", "12h", "90m" -> milliseconds; -1 when malformed or out of range. */
static int64_t parse_duration(const char *s)
{
    char *end;
    long long n;
    int64_t unit;

    if (!s || *s < '1' || *s > '9')
        return -1;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || end[0] == '\0' || end[1] != '\0')
        return -1;
    unit = *end == 'd' ? 86400000 : *end == 'h' ? 3600000 : *end == 'm' ? 60000 : 0;
    if (!unit || n > (long long)MAX_EXPIRY_DAYS * 86400000 / unit)
        return -1;
    return (int64_t)n * unit;
}

/* A string member: NULL (and no error) when absent; false when not a string. */
static bool member_str(json_t *body, const char *key, const char **out, size_t *len)
{
    json_t *v = json_object_get(body, key);

    *out = NULL;
    *len = 0;
    if (!v)
        return true;
    if (!json_is_string(v))
        return false;
    *out = json_string_value(v);
    *len = json_string_length(v);
    return true;
}

static void post_indicator(struct http_request *rq, struct http_response *rs)
{
    static const char *const known[] = {"type", "value", "action", "title", "severity", "description", "expires_in"};
    struct server *srv = http_server(rq);
    struct det_module *m = server_module_state(srv, &detection_module);
    const struct principal *p = http_principal(rq);
    const char *type, *value, *action, *title, *severity, *description, *expires;
    size_t tl, vl, al, til, sl, dl, el;
    struct store_indicator *x = NULL;
    char err[300], target[64], *detail = NULL;
    json_t *body = http_json_body(rq, rs), *dj = NULL;
    const char *key;
    json_t *val;
    int64_t id = 0, dur = 0;
    struct jsonw *w;
    int e;

    if (!body)
        return;
    json_object_foreach(body, key, val) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            http_error(rs, 400, "unknown member '%.64s' (expected type, value, action, title, severity, description, "
                                "expires_in)", key);
            goto out;
        }
    }
    if (!member_str(body, "type", &type, &tl) || !member_str(body, "value", &value, &vl) ||
        !member_str(body, "action", &action, &al) || !member_str(body, "title", &title, &til) ||
        !member_str(body, "severity", &severity, &sl) || !member_str(body, "description", &description, &dl) ||
        !member_str(body, "expires_in", &expires, &el)) {
        http_error(rs, 400, "type, value, action, title, severity, description and expires_in must be strings");
        goto out;
    }
    if (!type || !value || !action || !title) {
        http_error(rs, 400, "type, value, action and title are required");
        goto out;
    }
    x = calloc(1, sizeof(*x));
    if (!x) {
        http_error(rs, 500, "out of memory");
        goto out;
    }
    if (det_indicator_canonical(type, value, vl, x->value, sizeof(x->value), err, sizeof(err)) != 0) {
        http_error(rs, 400, "%s", err);
        goto out;
    }
    snprintf(x->type, sizeof(x->type), "%s", type);
    if (strcmp(action, "alert") != 0 && strcmp(action, "allow") != 0) {
        http_error(rs, 400, "action: expected alert or allow");
        goto out;
    }
    snprintf(x->action, sizeof(x->action), "%s", action);
    if (til == 0 || !valid_text(title, til, STORE_INDICATOR_TITLE_MAX, false)) {
        http_error(rs, 400, "title: 1 to %d printable characters", STORE_INDICATOR_TITLE_MAX);
        goto out;
    }
    snprintf(x->title, sizeof(x->title), "%s", title);
    if (!severity)
        severity = strcmp(action, "allow") == 0 ? "informational" : "medium";
    if (strcmp(severity, "informational") && strcmp(severity, "low") && strcmp(severity, "medium") &&
        strcmp(severity, "high")) {
        http_error(rs, 400, "severity: expected informational, low, medium or high");
        goto out;
    }
    snprintf(x->severity, sizeof(x->severity), "%s", severity);
    if (description && !valid_text(description, dl, STORE_INDICATOR_DESCRIPTION_MAX, true)) {
        http_error(rs, 400, "description: at most %d printable characters", STORE_INDICATOR_DESCRIPTION_MAX);
        goto out;
    }
    snprintf(x->description, sizeof(x->description), "%s", description ? description : "");
    if (expires && (dur = parse_duration(expires)) < 0) {
        http_error(rs, 400, "expires_in: expected a duration such as 30d, 12h or 90m (at most %d days)",
                   MAX_EXPIRY_DAYS);
        goto out;
    }
    x->expires_ms = dur ? store_now_ms(srv->store) + dur : 0;
    snprintf(x->created_by, sizeof(x->created_by), "%s", p->user_name);
    e = store_indicator_add(srv->store, x, &id);
    if (e == -EEXIST) {
        http_error(rs, 409, "an indicator of type %s with this value exists already", x->type);
        goto out;
    }
    if (e || store_indicator_get(srv->store, id, x) != 0) {
        http_error(rs, 500, "the indicator could not be stored");
        goto out;
    }
    snprintf(target, sizeof(target), "indicator:%" PRId64, id);
    dj = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", x->type, "value", x->value, "action", x->action, "title",
                   x->title, "severity", x->severity);
    detail = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
    audit_record(srv, p, http_remote_ip(rq), "indicator.create", target, detail);
    if (m && m->det)
        detection_indicators_changed(m->det);
    http_status(rs, 201);
    w = http_json(rs);
    write_indicator(w, x, store_now_ms(srv->store));
out:
    free(detail);
    json_decref(dj);
    free(x);
    json_decref(body);
}

static bool parse_id(const char *s, int64_t *out)
{
    int64_t v = 0;

    if (!s || !*s || strlen(s) > 18)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return v > 0;
}

static void delete_indicator(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct det_module *m = server_module_state(srv, &detection_module);
    struct store_indicator *x = calloc(1, sizeof(*x));
    char target[64], *detail = NULL;
    json_t *dj = NULL;
    struct jsonw *w;
    int64_t id;
    int e;

    if (!x) {
        http_error(rs, 500, "out of memory");
        return;
    }
    if (!parse_id(http_param(rq, "id"), &id)) {
        http_error(rs, 400, "an indicator id is a positive whole number");
        goto out;
    }
    e = store_indicator_get(srv->store, id, x);
    if (e == 0)
        e = store_indicator_delete(srv->store, id);
    if (e == -ENOENT) {
        http_error(rs, 404, "no indicator %" PRId64, id);
        goto out;
    }
    if (e) {
        http_error(rs, 500, "the indicator could not be removed");
        goto out;
    }
    snprintf(target, sizeof(target), "indicator:%" PRId64, id);
    dj = json_pack("{s:s, s:s, s:s}", "type", x->type, "value", x->value, "action", x->action);
    detail = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
    audit_record(srv, http_principal(rq), http_remote_ip(rq), "indicator.delete", target, detail);
    if (m && m->det)
        detection_indicators_changed(m->det);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_int(w, "deleted", id);
    jsonw_object_end(w);
out:
    free(detail);
    json_decref(dj);
    free(x);
}

/* ------------------------------------------------------------------ module */

static bool is_file(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The default rule pack: the source tree's rules/ when the binary runs
 * from a build tree inside it, else <prefix>/share/yamori/rules. */
static void default_rules_dir(char *out, size_t outlen)
{
    char exe[PATH_MAX - 64], dir[PATH_MAX - 64]; /* room for "/share/yamori/rules" in out */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n <= 0) {
        snprintf(out, outlen, "/usr/local/share/yamori/rules");
        return;
    }
    exe[n] = '\0';
    snprintf(dir, sizeof(dir), "%s", exe);
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            break;
        *slash = '\0';
        if (is_file(dir, "rules/README.md") && is_file(dir, "src/detect/detect.h")) {
            snprintf(out, outlen, "%s/rules", dir);
            return;
        }
    }
    /* <prefix>/bin/yamori -> <prefix>/share/yamori/rules */
    snprintf(dir, sizeof(dir), "%s", exe);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf(out, outlen, "%s/share/yamori/rules", dir);
}

static void commit_hook(void *ctx, const struct store_event_batch *b)
{
    detection_submit(ctx, b);
}

static int detection_init(struct server *srv, char *err, size_t errlen)
{
    struct det_module *m = calloc(1, sizeof(*m));
    struct detection_options o;
    int e;

    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (srv->cfg.rules_dir[0])
        snprintf(m->rules_dir, sizeof(m->rules_dir), "%s", srv->cfg.rules_dir);
    else
        default_rules_dir(m->rules_dir, sizeof(m->rules_dir));
    memset(&o, 0, sizeof(o));
    o.rules_dir = m->rules_dir;
    o.rule_dirs = srv->cfg.rule_dirs;
    o.poll_ms = srv->cfg.rules_poll_seconds * 1000;
    o.store = srv->store;
    log_info("detection: rule pack %s%s%s", m->rules_dir, srv->cfg.rule_dirs[0] ? ", custom rules " : "",
             srv->cfg.rule_dirs);
    e = detection_start(&o, &m->det, err, errlen);
    if (e) {
        free(m);
        return e;
    }
    server_set_module_state(srv, &detection_module, m);
    ingest_set_commit_hook(commit_hook, m->det);
    return 0;
}

static void detection_fini(struct server *srv)
{
    struct det_module *m = server_module_state(srv, &detection_module);

    if (!m)
        return;
    ingest_set_commit_hook(NULL, NULL);
    detection_stop(m->det);
    server_set_module_state(srv, &detection_module, NULL);
    free(m);
}

static const struct route detection_routes[] = {
    {HTTP_GET, "/api/v1/rules", ACCESS_USER, ROLE_VIEWER, 0, get_rules,
     "detection rules: loaded and refused, with hits"},
    {HTTP_POST, "/api/v1/rules/reload", ACCESS_USER, ROLE_ADMIN, 0, post_reload, "reload every rule directory"},
    {HTTP_GET, "/api/v1/detection/status", ACCESS_USER, ROLE_VIEWER, 0, get_status,
     "detection counters: events inspected and not, hits, reloads"},
    {HTTP_GET, "/api/v1/indicators", ACCESS_USER, ROLE_VIEWER, 0, get_indicators, "indicators (IoCs and allows)"},
    {HTTP_POST, "/api/v1/indicators", ACCESS_USER, ROLE_ANALYST, 16 * 1024, post_indicator,
     "add an indicator {type, value, action, title, severity, description, expires_in}"},
    {HTTP_DELETE, "/api/v1/indicators/:id", ACCESS_USER, ROLE_ANALYST, 0, delete_indicator, "remove an indicator"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module detection_module = {
    .name = "detection",
    .order = 45,
    .init = detection_init,
    .fini = detection_fini,
    .routes = detection_routes,
};
SERVER_MODULE(detection_module);
