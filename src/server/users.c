/*
 * users.c — the users module: admins manage people's accounts.
 *
 *   GET    /api/v1/users                 list
 *   POST   /api/v1/users                 create {name, role, password}
 *   GET    /api/v1/users/:name           show
 *   PATCH  /api/v1/users/:name           {role?, disabled?}
 *   POST   /api/v1/users/:name/password  reset the password {password}
 *   DELETE /api/v1/users/:name           delete, with its sessions and tokens
 *
 * The server always keeps one enabled admin: demoting, disabling or
 * deleting the last one is refused (409), checked in the store's
 * transaction. An admin cannot disable or delete their own account (so a
 * slip cannot lock them out mid-session). Every change is audited.
 */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "server/audit.h"
#include "server/auth.h"
#include "server/server.h"

static void write_user(struct jsonw *w, const struct store_user *u)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", u->id);
    jsonw_kv_str(w, "name", u->name);
    jsonw_kv_str(w, "role", role_name((enum role)u->role));
    jsonw_kv_bool(w, "disabled", u->disabled);
    auth_json_time(w, "created", u->created_ms);
    auth_json_time(w, "updated", u->updated_ms);
    auth_json_time(w, "password_changed", u->password_changed_ms);
    auth_json_time(w, "last_login", u->last_login_ms);
    jsonw_object_end(w);
}

/* The user named by the :name of the path; answers 400/404/503 and returns
 * false when there is none. */
static bool path_user(struct http_request *rq, struct http_response *rs, struct store_user *u)
{
    const char *name = http_param(rq, "name");
    char why[160];
    int e;

    if (!name || auth_user_name_valid(name, why, sizeof(why)) != 0) {
        http_error(rs, 400, "bad user name in the path: %s", name ? why : "missing");
        return false;
    }
    e = store_user_get(http_server(rq)->store, name, u);
    if (e == -ENOENT) {
        http_error(rs, 404, "no user named %s", name);
        return false;
    }
    if (e) {
        http_error(rs, 503, "cannot read the users now (see the server log)");
        return false;
    }
    sodium_memzero(u->password_hash, sizeof(u->password_hash));
    return true;
}

static int list_one(const struct store_user *u, void *ctx)
{
    write_user(ctx, u);
    return 0;
}

/* GET /api/v1/users (admin). */
static void get_users(struct http_request *rq, struct http_response *rs)
{
    struct jsonw *w = http_json(rs);

    jsonw_object_begin(w);
    jsonw_key(w, "users");
    jsonw_array_begin(w);
    if (store_user_list(http_server(rq)->store, list_one, w) != 0) {
        http_error(rs, 503, "cannot read the users now (see the server log)");
        return;
    }
    jsonw_array_end(w);
    jsonw_object_end(w);
}

/* POST /api/v1/users {name, role, password} (admin). */
static void post_users(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *name, *password;
    char why[200], hash[STORE_PWHASH_MAX], target[STORE_USER_NAME_MAX + 8], detail[100];
    struct store_user u;
    enum role role;
    json_t *body = http_json_body(rq, rs);
    int e;

    hash[0] = '\0';
    if (!body || !auth_json_only(body, rs, "name", "role", "password", NULL))
        goto out;
    if (auth_json_string(body, "name", true, STORE_USER_NAME_MAX, &name, rs) < 0 ||
        auth_json_role(body, "role", true, &role, rs) < 0 ||
        auth_json_string(body, "password", true, AUTH_PASSWORD_MAX_BYTES, &password, rs) < 0)
        goto out;
    if (auth_user_name_valid(name, why, sizeof(why)) != 0) {
        http_error(rs, 400, "\"name\": %s", why);
        goto out;
    }
    if (auth_password_policy(password, name, why, sizeof(why)) != 0) {
        http_error(rs, 400, "\"password\": %s", why);
        goto out;
    }
    if (auth_password_hash(password, hash) != 0) {
        http_error(rs, 503, "cannot hash the password now (out of memory)");
        goto out;
    }
    e = store_user_create(srv->store, name, role, hash, NULL);
    if (e == -EEXIST) {
        http_error(rs, 409, "a user named %s already exists", name);
        goto out;
    }
    if (e || store_user_get(srv->store, name, &u) != 0) {
        http_error(rs, 503, "cannot create the user now (see the server log)");
        goto out;
    }
    snprintf(target, sizeof(target), "user:%s", name);
    auth_detail(detail, sizeof(detail), "role", role_name(role), NULL);
    audit_record(srv, http_principal(rq), http_remote_ip(rq), "user.create", target, detail);
    http_status(rs, 201);
    write_user(http_json(rs), &u);
out:
    sodium_memzero(hash, sizeof(hash));
    json_decref(body);
}

/* GET /api/v1/users/:name (admin). */
static void get_user(struct http_request *rq, struct http_response *rs)
{
    struct store_user u;

    if (path_user(rq, rs, &u))
        write_user(http_json(rs), &u);
}

/* PATCH /api/v1/users/:name {role?, disabled?} (admin). */
static void patch_user(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    char target[STORE_USER_NAME_MAX + 8], detail[120];
    struct store_user u, after;
    enum role role = ROLE_NONE;
    json_t *body = http_json_body(rq, rs), *dis;
    int has_role, disabled = -1, e;

    if (!body || !auth_json_only(body, rs, "role", "disabled", NULL))
        goto out;
    has_role = auth_json_role(body, "role", false, &role, rs);
    if (has_role < 0)
        goto out;
    dis = json_object_get(body, "disabled");
    if (dis && !json_is_null(dis)) {
        if (!json_is_boolean(dis)) {
            http_error(rs, 400, "\"disabled\" must be true or false");
            goto out;
        }
        disabled = json_is_true(dis) ? 1 : 0;
    }
    if (!has_role && disabled < 0) {
        http_error(rs, 400, "nothing to change: give \"role\" and/or \"disabled\"");
        goto out;
    }
    if (!path_user(rq, rs, &u))
        goto out;
    if (u.id == p->user_id && disabled == 1) {
        http_error(rs, 409, "you cannot disable your own account");
        goto out;
    }
    e = store_user_update(srv->store, u.id, has_role ? (int)role : 0, disabled);
    if (e == -EPERM) {
        http_error(rs, 409, "%s is the last enabled admin: make another admin first", u.name);
        goto out;
    }
    if (e == -ENOENT) {
        http_error(rs, 404, "no user named %s", u.name);
        goto out;
    }
    if (e || store_user_get_by_id(srv->store, u.id, &after) != 0) {
        http_error(rs, 503, "cannot change the user now (see the server log)");
        goto out;
    }
    snprintf(target, sizeof(target), "user:%s", u.name);
    if (after.role != u.role) {
        auth_detail(detail, sizeof(detail), "from", role_name((enum role)u.role), "to",
                    role_name((enum role)after.role), NULL);
        audit_record(srv, p, http_remote_ip(rq), "user.role", target, detail);
    }
    if (after.disabled != u.disabled)
        audit_record(srv, p, http_remote_ip(rq), after.disabled ? "user.disable" : "user.enable", target, NULL);
    sodium_memzero(after.password_hash, sizeof(after.password_hash));
    write_user(http_json(rs), &after);
out:
    json_decref(body);
}

/* POST /api/v1/users/:name/password {password} (admin): sets a new password
 * and ends the user's sessions (API tokens stay). */
static void post_user_password(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    char why[200], hash[STORE_PWHASH_MAX], target[STORE_USER_NAME_MAX + 8];
    const char *password;
    struct store_user u;
    json_t *body = http_json_body(rq, rs);
    struct jsonw *w;
    int e;

    hash[0] = '\0';
    if (!body || !auth_json_only(body, rs, "password", NULL))
        goto out;
    if (auth_json_string(body, "password", true, AUTH_PASSWORD_MAX_BYTES, &password, rs) < 0)
        goto out;
    if (!path_user(rq, rs, &u))
        goto out;
    if (auth_password_policy(password, u.name, why, sizeof(why)) != 0) {
        http_error(rs, 400, "\"password\": %s", why);
        goto out;
    }
    if (auth_password_hash(password, hash) != 0) {
        http_error(rs, 503, "cannot hash the password now (out of memory)");
        goto out;
    }
    e = store_user_set_password(srv->store, u.id, hash, u.id == p->user_id && p->via_session ? p->token_id : 0);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 503, "cannot set the password of %s now", u.name);
        goto out;
    }
    snprintf(target, sizeof(target), "user:%s", u.name);
    audit_record(srv, p, http_remote_ip(rq), "user.password_reset", target, "{\"sessions\":\"ended\"}");
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "user", u.name);
    jsonw_kv_bool(w, "password_changed", true);
    jsonw_object_end(w);
out:
    sodium_memzero(hash, sizeof(hash));
    json_decref(body);
}

/* DELETE /api/v1/users/:name (admin). */
static void delete_user(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    char target[STORE_USER_NAME_MAX + 8], detail[100];
    struct store_user u;
    struct jsonw *w;
    int e;

    if (!path_user(rq, rs, &u))
        return;
    if (u.id == p->user_id) {
        http_error(rs, 409, "you cannot delete your own account");
        return;
    }
    e = store_user_delete(srv->store, u.id);
    if (e == -EPERM) {
        http_error(rs, 409, "%s is the last enabled admin: make another admin first", u.name);
        return;
    }
    if (e == -ENOENT) {
        http_error(rs, 404, "no user named %s", u.name);
        return;
    }
    if (e) {
        http_error(rs, 503, "cannot delete the user now (see the server log)");
        return;
    }
    snprintf(target, sizeof(target), "user:%s", u.name);
    auth_detail(detail, sizeof(detail), "role", role_name((enum role)u.role), NULL);
    audit_record(srv, p, http_remote_ip(rq), "user.delete", target, detail);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "deleted", u.name);
    jsonw_object_end(w);
}

static const struct route users_routes[] = {
    {HTTP_GET, "/api/v1/users", ACCESS_USER, ROLE_ADMIN, 0, get_users, "list people's accounts"},
    {HTTP_POST, "/api/v1/users", ACCESS_USER, ROLE_ADMIN, 8192, post_users, "create an account {name, role, password}"},
    {HTTP_GET, "/api/v1/users/:name", ACCESS_USER, ROLE_ADMIN, 0, get_user, "show an account"},
    {HTTP_PATCH, "/api/v1/users/:name", ACCESS_USER, ROLE_ADMIN, 0, patch_user,
     "change an account's role, disable or enable it"},
    {HTTP_POST, "/api/v1/users/:name/password", ACCESS_USER, ROLE_ADMIN, 8192, post_user_password,
     "set a new password for an account (ends its sessions)"},
    {HTTP_DELETE, "/api/v1/users/:name", ACCESS_USER, ROLE_ADMIN, 0, delete_user,
     "delete an account with its sessions and tokens"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module users_module = {
    .name = "users",
    .order = 21,
    .routes = users_routes,
};
SERVER_MODULE(users_module);
