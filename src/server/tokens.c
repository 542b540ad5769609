/*
 * tokens.c — the tokens module: API tokens for the CLI and scripts.
 *
 *   GET    /api/v1/tokens        one's own tokens (admins: everyone's, or ?user=NAME)
 *   POST   /api/v1/tokens        create {name, role?, expires_in_seconds?, user?}
 *   DELETE /api/v1/tokens/:id    revoke
 *
 * The token's text is in the creation answer only; the store keeps its
 * SHA-256. A token's role is at most its owner's role and at most the role
 * of the credentials that created it (a viewer-limited token of an admin
 * cannot mint an admin token); when the owner is later demoted, the
 * authenticator caps the token to the owner's current role. Only admins
 * create tokens for, list or revoke the tokens of other people. Creation
 * and revocation are audited.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/audit.h"
#include "server/auth.h"
#include "server/server.h"

#define MIN_LIFETIME_S 60
#define MAX_LIFETIME_S (5LL * 365 * 86400)

static const char *token_state(const struct store_token *t, int64_t now)
{
    if (t->revoked_ms)
        return "revoked";
    if (t->expires_ms && now >= t->expires_ms)
        return "expired";
    if (t->user_disabled)
        return "owner disabled";
    return "active";
}

static void write_token(struct jsonw *w, const struct store_token *t, int64_t now)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", t->id);
    jsonw_kv_str(w, "name", t->name);
    jsonw_kv_str(w, "user", t->user_name);
    jsonw_kv_str(w, "role", role_name((enum role)t->role));
    jsonw_kv_str(w, "effective_role", role_name((enum role)(t->role < t->user_role ? t->role : t->user_role)));
    jsonw_kv_str(w, "state", token_state(t, now));
    auth_json_time(w, "created", t->created_ms);
    auth_json_time(w, "expires", t->expires_ms);
    auth_json_time(w, "last_used", t->last_used_ms);
    auth_json_time(w, "revoked", t->revoked_ms);
    jsonw_object_end(w);
}

struct list_ctx {
    struct jsonw *w;
    int64_t now;
};

static int list_one(const struct store_token *t, void *ctx)
{
    struct list_ctx *lc = ctx;
    write_token(lc->w, t, lc->now);
    return 0;
}

/* GET /api/v1/tokens[?user=NAME] (viewer). */
static void get_tokens(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    const char *user = http_query(rq, "user");
    struct list_ctx lc = {.now = store_now_ms(srv->store)};
    int64_t owner = p->role >= ROLE_ADMIN ? 0 : p->user_id;
    char why[160];

    if (user) {
        struct store_user u;
        int e;
        if (auth_user_name_valid(user, why, sizeof(why)) != 0) {
            http_error(rs, 400, "user: %s", why);
            return;
        }
        if (p->role < ROLE_ADMIN && strcmp(user, p->user_name) != 0) {
            http_error(rs, 403, "only admins list other people's tokens");
            return;
        }
        e = store_user_get(srv->store, user, &u);
        if (e) {
            http_error(rs, e == -ENOENT ? 404 : 503, e == -ENOENT ? "no user named %s" : "cannot read %s now", user);
            return;
        }
        owner = u.id;
    }
    lc.w = http_json(rs);
    jsonw_object_begin(lc.w);
    jsonw_key(lc.w, "tokens");
    jsonw_array_begin(lc.w);
    if (store_token_list(srv->store, owner, list_one, &lc) != 0) {
        http_error(rs, 503, "cannot read the tokens now (see the server log)");
        return;
    }
    jsonw_array_end(lc.w);
    jsonw_object_end(lc.w);
}

/* POST /api/v1/tokens {name, role?, expires_in_seconds?, user?} (viewer). */
static void post_tokens(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    const char *name, *user;
    char why[160], text[AUTH_SECRET_TEXT_LEN + 1], target[32], detail[300], expires[24];
    uint8_t hash[STORE_SECRET_HASH_LEN];
    struct store_user owner;
    struct store_token t;
    enum role role = ROLE_NONE, max_role;
    json_t *body = http_json_body(rq, rs), *exp;
    int64_t lifetime_s = 0, id = 0, now;
    struct jsonw *w;
    int has_role, has_user, e;

    text[0] = '\0';
    if (!body || !auth_json_only(body, rs, "name", "role", "expires_in_seconds", "user", NULL))
        goto out;
    if (auth_json_string(body, "name", true, STORE_TOKEN_NAME_MAX, &name, rs) < 0)
        goto out;
    if (!auth_token_name_valid(name)) {
        http_error(rs, 400, "\"name\": 1 to %d bytes of text without control characters", STORE_TOKEN_NAME_MAX);
        goto out;
    }
    has_role = auth_json_role(body, "role", false, &role, rs);
    if (has_role < 0)
        goto out;
    has_user = auth_json_string(body, "user", false, STORE_USER_NAME_MAX, &user, rs);
    if (has_user < 0)
        goto out;
    exp = json_object_get(body, "expires_in_seconds");
    if (exp && !json_is_null(exp)) {
        if (!json_is_integer(exp) || json_integer_value(exp) < MIN_LIFETIME_S ||
            json_integer_value(exp) > MAX_LIFETIME_S) {
            http_error(rs, 400, "\"expires_in_seconds\" must be a whole number from %d to %lld (5 years), or null "
                                "for a token that does not expire", MIN_LIFETIME_S, MAX_LIFETIME_S);
            goto out;
        }
        lifetime_s = json_integer_value(exp);
    }
    if (has_user && strcmp(user, p->user_name) != 0) {
        if (auth_user_name_valid(user, why, sizeof(why)) != 0) {
            http_error(rs, 400, "\"user\": %s", why);
            goto out;
        }
        if (p->role < ROLE_ADMIN) {
            http_error(rs, 403, "only admins create tokens for other people");
            goto out;
        }
        e = store_user_get(srv->store, user, &owner);
    } else {
        e = store_user_get_by_id(srv->store, p->user_id, &owner);
    }
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 503, e == -ENOENT ? "no user named %s" : "cannot read %s now",
                   has_user ? user : p->user_name);
        goto out;
    }
    if (owner.disabled) {
        http_error(rs, 409, "the account %s is disabled", owner.name);
        goto out;
    }
    max_role = (enum role)owner.role < p->role ? (enum role)owner.role : p->role;
    if (!has_role)
        role = max_role;
    if (role > max_role) {
        http_error(rs, 403, "a token can have at most the %s role here (its owner's role, and yours)",
                   role_name(max_role));
        goto out;
    }
    now = store_now_ms(srv->store);
    auth_new_secret(AUTH_TOKEN_PREFIX, text, sizeof(text), hash);
    e = store_token_create(srv->store, owner.id, name, role, hash, lifetime_s ? now + lifetime_s * 1000 : 0,
                           AUTH_MAX_TOKENS_PER_USER, &id);
    if (e == -EDQUOT) {
        http_error(rs, 409, "%s already has %d active tokens: revoke some first", owner.name,
                   AUTH_MAX_TOKENS_PER_USER);
        goto out;
    }
    if (e || store_token_get(srv->store, id, &t) != 0) {
        http_error(rs, 503, "cannot create the token now (see the server log)");
        goto out;
    }
    snprintf(target, sizeof(target), "token:%lld", (long long)id);
    snprintf(expires, sizeof(expires), "%lld", (long long)lifetime_s);
    auth_detail(detail, sizeof(detail), "name", name, "owner", owner.name, "role", role_name(role),
                "expires_in_seconds", lifetime_s ? expires : "never", NULL);
    audit_record(srv, p, http_remote_ip(rq), "token.create", target, detail);
    http_status(rs, 201);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_int(w, "id", t.id);
    jsonw_kv_str(w, "name", t.name);
    jsonw_kv_str(w, "user", t.user_name);
    jsonw_kv_str(w, "role", role_name((enum role)t.role));
    auth_json_time(w, "created", t.created_ms);
    auth_json_time(w, "expires", t.expires_ms);
    jsonw_kv_str(w, "token", text);
    jsonw_object_end(w);
out:
    memset(text, 0, sizeof(text));
    memset(owner.password_hash, 0, sizeof(owner.password_hash));
    json_decref(body);
}

/* DELETE /api/v1/tokens/:id (viewer: one's own; admins: anyone's). */
static void delete_token(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    const char *idtext = http_param(rq, "id");
    char target[32], detail[200], *end;
    struct store_token t;
    long long id;
    struct jsonw *w;
    int e;

    errno = 0;
    id = idtext ? strtoll(idtext, &end, 10) : 0;
    if (!idtext || !(*idtext >= '0' && *idtext <= '9') || *end || errno || id < 1) {
        http_error(rs, 400, "a token id is a positive number");
        return;
    }
    e = store_token_get(srv->store, id, &t);
    if (e == -ENOENT || (!e && t.user_id != p->user_id && p->role < ROLE_ADMIN)) {
        http_error(rs, 404, "no token with id %lld%s", id, p->role < ROLE_ADMIN ? " among yours" : "");
        return;
    }
    if (e) {
        http_error(rs, 503, "cannot read the token now (see the server log)");
        return;
    }
    e = store_token_revoke(srv->store, id);
    if (e == -EALREADY) {
        http_error(rs, 409, "token %lld was already revoked", id);
        return;
    }
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 503, "cannot revoke token %lld now", id);
        return;
    }
    snprintf(target, sizeof(target), "token:%lld", id);
    auth_detail(detail, sizeof(detail), "name", t.name, "owner", t.user_name, NULL);
    audit_record(srv, p, http_remote_ip(rq), "token.revoke", target, detail);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_int(w, "revoked", id);
    jsonw_object_end(w);
}

static const struct route tokens_routes[] = {
    {HTTP_GET, "/api/v1/tokens", ACCESS_USER, ROLE_VIEWER, 0, get_tokens,
     "list API tokens: one's own (admins: everyone's, ?user=NAME)"},
    {HTTP_POST, "/api/v1/tokens", ACCESS_USER, ROLE_VIEWER, 0, post_tokens,
     "create an API token {name, role?, expires_in_seconds?, user?}; its text is shown once"},
    {HTTP_DELETE, "/api/v1/tokens/:id", ACCESS_USER, ROLE_VIEWER, 0, delete_token,
     "revoke an API token (one's own; admins: anyone's)"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module tokens_module = {
    .name = "tokens",
    .order = 22,
    .routes = tokens_routes,
};
SERVER_MODULE(tokens_module);
