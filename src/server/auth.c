/*
 * auth.c — the auth module: who is calling, signing in and out, the first
 * admin.
 *
 * - The user authenticator (installed at init) accepts an API token
 *   ("Authorization: Bearer ymt_...") or a session cookie (yamori_session);
 *   a session request that is not a GET must carry the session's CSRF token
 *   in X-CSRF-Token. An API token's role is capped by its owner's current
 *   role, so demoting or disabling a person takes effect on their tokens at
 *   once; deleting a person deletes them.
 * - Logins are limited per (user name, address) and per address: after
 *   login_max_failures failures within login_window_seconds (and 4 times
 *   that from one address across names) the answer is 429 with
 *   Retry-After, without looking at the password. An address is an IPv4
 *   address or an IPv6 /64. Failures are counted in the store, so a
 *   restart does not reset them (and several servers on one database
 *   would share them).
 * - At first start (no user at all) the user `admin` is created; see
 *   auth_bootstrap().
 *
 * Routes: POST /api/v1/auth/login, POST /api/v1/auth/logout,
 * GET /api/v1/auth/me, POST /api/v1/auth/password.
 */
#include "server/auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "server/audit.h"
#include "server/server.h"

#define TOUCH_EVERY_MS 60000 /* last-used times are written at most once a minute */
#define LOGIN_MAX_BODY 8192

void auth_principal_of_user(const struct store_user *u, struct principal *p)
{
    memset(p, 0, sizeof(*p));
    p->kind = PRINCIPAL_USER;
    p->user_id = u->id;
    snprintf(p->user_name, sizeof(p->user_name), "%s", u->name);
    p->role = (enum role)u->role;
}

/* "2026-01-02T03:04:05Z" into out (at least 21 bytes). */
static void format_ms(int64_t ms, char *out, size_t outlen)
{
    char t[40];

    if (outlen < 21) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    jsonw_format_time(t, sizeof(t), (uint64_t)ms * 1000000u);
    memcpy(out, t, 19); /* to the second */
    out[19] = 'Z';
    out[20] = '\0';
}

/* ------------------------------------------------------------------ authentication */

int auth_check_token(struct server *srv, const char *token, struct principal *p, char *msg, size_t msglen)
{
    uint8_t hash[STORE_SECRET_HASH_LEN];
    struct store_token t;
    int64_t now;
    int e;

    if (!auth_secret_well_formed(token, AUTH_TOKEN_PREFIX)) {
        snprintf(msg, msglen, "malformed API token: expected %s followed by %d characters", AUTH_TOKEN_PREFIX,
                 AUTH_CSRF_LEN);
        return -401;
    }
    auth_secret_hash(token, hash);
    e = store_token_lookup(srv->store, hash, &t);
    if (e == -ENOENT) {
        snprintf(msg, msglen, "unknown API token (revoked long ago, or its owner was deleted): create a new one");
        return -401;
    }
    if (e) {
        snprintf(msg, msglen, "cannot check credentials now (see the server log)");
        return -503;
    }
    now = store_now_ms(srv->store);
    if (t.revoked_ms) {
        char when[40];
        format_ms(t.revoked_ms, when, sizeof(when));
        snprintf(msg, msglen, "this API token (\"%s\") was revoked at %s", t.name, when);
        return -401;
    }
    if (t.expires_ms && now >= t.expires_ms) {
        char when[40];
        format_ms(t.expires_ms, when, sizeof(when));
        snprintf(msg, msglen, "this API token (\"%s\") expired at %s: create a new one", t.name, when);
        return -401;
    }
    if (t.user_disabled) {
        snprintf(msg, msglen, "the account %s is disabled", t.user_name);
        return -401;
    }
    memset(p, 0, sizeof(*p));
    p->kind = PRINCIPAL_USER;
    p->user_id = t.user_id;
    snprintf(p->user_name, sizeof(p->user_name), "%s", t.user_name);
    p->role = (enum role)(t.role < t.user_role ? t.role : t.user_role);
    p->via_session = false;
    p->token_id = t.id;
    if (now - t.last_used_ms >= TOUCH_EVERY_MS)
        (void)store_token_touch(srv->store, t.id, now);
    return 1;
}

int auth_check_session(struct server *srv, const char *cookie, enum http_method method, const char *csrf,
                       struct principal *p, char *msg, size_t msglen)
{
    uint8_t hash[STORE_SECRET_HASH_LEN];
    struct store_session s;
    int64_t now;
    int e;

    if (!auth_secret_well_formed(cookie, AUTH_SESSION_PREFIX)) {
        snprintf(msg, msglen, "malformed session cookie: sign in again");
        return -401;
    }
    auth_secret_hash(cookie, hash);
    e = store_session_lookup(srv->store, hash, &s);
    if (e == -ENOENT) {
        snprintf(msg, msglen, "your session has ended: sign in again");
        return -401;
    }
    if (e) {
        snprintf(msg, msglen, "cannot check credentials now (see the server log)");
        return -503;
    }
    now = store_now_ms(srv->store);
    if (now >= s.expires_ms) {
        (void)store_session_delete(srv->store, s.id);
        snprintf(msg, msglen, "your session expired: sign in again");
        return -401;
    }
    if (s.user_disabled) {
        snprintf(msg, msglen, "the account %s is disabled", s.user_name);
        return -401;
    }
    if (method != HTTP_GET) {
        if (!csrf || !*csrf) {
            snprintf(msg, msglen, "a change made with a session needs the %s header (the csrf_token of the login)",
                     AUTH_CSRF_HEADER);
            return -403;
        }
        if (strlen(csrf) != strlen(s.csrf) || sodium_memcmp(csrf, s.csrf, strlen(s.csrf)) != 0) {
            snprintf(msg, msglen, "the %s header does not match this session", AUTH_CSRF_HEADER);
            return -403;
        }
    }
    memset(p, 0, sizeof(*p));
    p->kind = PRINCIPAL_USER;
    p->user_id = s.user_id;
    snprintf(p->user_name, sizeof(p->user_name), "%s", s.user_name);
    p->role = (enum role)s.user_role;
    p->via_session = true;
    p->token_id = s.id;
    if (now - s.last_used_ms >= TOUCH_EVERY_MS)
        (void)store_session_touch(srv->store, s.id, now);
    return 1;
}

int auth_authenticate(struct server *srv, struct http_request *rq, struct http_response *rs, struct principal *p)
{
    const char *authz = http_header(rq, "Authorization");
    const char *cookie;
    char msg[300];
    int r;

    if (authz && strncasecmp(authz, "Bearer", 6) == 0 && (authz[6] == ' ' || authz[6] == '\0')) {
        const char *token = authz + 6;
        while (*token == ' ')
            token++;
        r = auth_check_token(srv, token, p, msg, sizeof(msg));
        if (r < 0)
            http_error(rs, (unsigned)-r, "%s", msg);
        return r;
    }
    /* other schemes (Device, Basic) are not a person's credentials */
    cookie = http_cookie(rq, AUTH_SESSION_COOKIE);
    if (cookie) {
        r = auth_check_session(srv, cookie, http_method(rq), http_header(rq, AUTH_CSRF_HEADER), p, msg,
                               sizeof(msg));
        if (r < 0)
            http_error(rs, (unsigned)-r, "%s", msg);
        return r;
    }
    return 0;
}

/* ------------------------------------------------------------------ failed-login limits */

void auth_address_key(const char *remote_ip, char *out, size_t outlen)
{
    struct in6_addr a6;

    snprintf(out, outlen, "%s", remote_ip ? remote_ip : "");
    if (!remote_ip || !strchr(remote_ip, ':') || inet_pton(AF_INET6, remote_ip, &a6) != 1)
        return;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)outlen);
        return;
    }
    memset(&a6.s6_addr[8], 0, 8);
    if (inet_ntop(AF_INET6, &a6, out, (socklen_t)outlen) && strlen(out) + 4 < outlen)
        strcat(out, "/64");
}

static int64_t window_ms(const struct server *srv)
{
    return (int64_t)srv->cfg.login_window_seconds * 1000;
}

/* Whether the n-th newest failure in the window exists; if so, when the
 * attempt becomes possible again. */
static int limit_reached(struct server *srv, const char *user, const char *remote_ip, unsigned n, int64_t now,
                         unsigned *retry_after_s)
{
    int64_t ts, wait_ms;
    int e = store_login_failure_nth(srv->store, user, remote_ip, now - window_ms(srv) + 1, n, &ts);

    if (e == -ENOENT)
        return 0;
    if (e)
        return e;
    wait_ms = ts + window_ms(srv) - now;
    *retry_after_s = wait_ms <= 1000 ? 1 : (unsigned)((wait_ms + 999) / 1000);
    return -429;
}

int auth_login_allowed(struct server *srv, const char *user, const char *remote_ip, unsigned *retry_after_s)
{
    int64_t now = store_now_ms(srv->store);
    unsigned max = srv->cfg.login_max_failures ? srv->cfg.login_max_failures : 5;
    char key[INET6_ADDRSTRLEN + 8];
    int e;

    *retry_after_s = 0;
    auth_address_key(remote_ip, key, sizeof(key));
    e = limit_reached(srv, user, key, max, now, retry_after_s);
    if (e)
        return e;
    return limit_reached(srv, NULL, key, max * AUTH_ADDRESS_FAILURE_FACTOR, now, retry_after_s);
}

int auth_login_failed(struct server *srv, const char *user, const char *remote_ip)
{
    int64_t now = store_now_ms(srv->store);
    char key[INET6_ADDRSTRLEN + 8];

    auth_address_key(remote_ip, key, sizeof(key));
    return store_login_failure_add(srv->store, user, key, now, now - window_ms(srv));
}

/* ------------------------------------------------------------------ login */

int auth_login(struct server *srv, const char *user, const char *password, const char *remote_ip,
               struct auth_login_result *out, char *msg, size_t msglen)
{
    static const char store_failed[] = "cannot sign in now (the store failed; see the server log)";
    uint8_t hash[STORE_SECRET_HASH_LEN];
    char target[STORE_USER_NAME_MAX + 8], detail[200], rehash[STORE_PWHASH_MAX], key[INET6_ADDRSTRLEN + 8];
    struct principal who;
    int64_t now;
    int e;

    memset(out, 0, sizeof(*out));
    rehash[0] = '\0';
    snprintf(target, sizeof(target), "user:%s", user);
    e = auth_login_allowed(srv, user, remote_ip, &out->retry_after_s);
    if (e == -429) {
        snprintf(msg, msglen, "too many failed logins for %s from %s: try again in %u seconds", user, remote_ip,
                 out->retry_after_s);
        log_info("login of %s from %s refused: too many failures", user, remote_ip);
        goto out;
    }
    if (e) {
        snprintf(msg, msglen, "%s", store_failed);
        e = -EIO;
        goto out;
    }
    e = store_user_get(srv->store, user, &out->user);
    if (e && e != -ENOENT) {
        snprintf(msg, msglen, "%s", store_failed);
        e = -EIO;
        goto out;
    }
    if (e == -ENOENT || !auth_password_verify(out->user.password_hash, password)) {
        if (e == -ENOENT)
            auth_password_dummy_verify(password); /* the same time as a real check */
        (void)auth_login_failed(srv, user, remote_ip);
        auth_detail(detail, sizeof(detail), "reason", e == -ENOENT ? "unknown user" : "wrong password", NULL);
        audit_record(srv, NULL, remote_ip, "auth.login_failed", target, detail);
        snprintf(msg, msglen, "wrong user name or password");
        e = -401;
        goto out;
    }
    if (out->user.disabled) {
        auth_detail(detail, sizeof(detail), "reason", "account disabled", NULL);
        audit_record(srv, NULL, remote_ip, "auth.login_failed", target, detail);
        snprintf(msg, msglen, "the account %s is disabled: ask an admin", user);
        e = -403;
        goto out;
    }
    auth_address_key(remote_ip, key, sizeof(key));
    (void)store_login_failure_clear(srv->store, user, key);
    if (auth_password_needs_rehash(out->user.password_hash) && auth_password_hash(password, rehash) == 0)
        (void)store_user_rehash(srv->store, out->user.id, rehash);
    now = store_now_ms(srv->store);
    out->expires_ms = now + (int64_t)(srv->cfg.session_hours ? srv->cfg.session_hours : 12) * 3600 * 1000;
    auth_new_secret(AUTH_SESSION_PREFIX, out->session_token, sizeof(out->session_token), hash);
    auth_new_secret("", out->csrf, sizeof(out->csrf), NULL);
    e = store_session_create(srv->store, out->user.id, hash, out->csrf, out->expires_ms, remote_ip,
                             AUTH_MAX_SESSIONS_PER_USER, &out->session_id);
    if (e) {
        snprintf(msg, msglen, "%s", store_failed);
        e = -EIO;
        goto out;
    }
    (void)store_user_touch_login(srv->store, out->user.id);
    auth_principal_of_user(&out->user, &who);
    auth_detail(detail, sizeof(detail), "via", "password", NULL);
    audit_record(srv, &who, remote_ip, "auth.login", target, detail);
out:
    sodium_memzero(rehash, sizeof(rehash));
    sodium_memzero(out->user.password_hash, sizeof(out->user.password_hash));
    if (e)
        sodium_memzero(out->session_token, sizeof(out->session_token));
    return e;
}

/* ------------------------------------------------------------------ the first admin */

/* Reads the first line of path (at most AUTH_PASSWORD_MAX_BYTES) into out. */
static int read_password_file(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    ssize_t n;
    size_t len = 0;
    int e = 0;

    if (fd < 0) {
        e = -errno;
        snprintf(err, errlen, "admin_password_file %s: %s (the file must be readable by the service user)", path,
                 strerror(errno));
        return e;
    }
    while (len + 1 < outlen && (n = read(fd, out + len, outlen - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    if (len + 1 >= outlen) {
        snprintf(err, errlen, "admin_password_file %s: a password must be at most %d bytes long", path,
                 AUTH_PASSWORD_MAX_BYTES);
        e = -E2BIG;
        goto out;
    }
    out[strcspn(out, "\r\n")] = '\0';
out:
    close(fd);
    return e;
}

static void wipe_env_password(void)
{
    char *v = getenv("YAMORI_ADMIN_PASSWORD");
    if (v) {
        sodium_memzero(v, strlen(v));
        unsetenv("YAMORI_ADMIN_PASSWORD");
    }
}

int auth_bootstrap(struct server *srv, FILE *out, char *err, size_t errlen)
{
    char password[AUTH_PASSWORD_MAX_BYTES + 4], hash[STORE_PWHASH_MAX], why[200], detail[200];
    const char *source, *env = getenv("YAMORI_ADMIN_PASSWORD");
    int64_t n = 0;
    int e;

    password[0] = '\0';
    e = auth_crypto_init();
    if (e) {
        snprintf(err, errlen, "cannot initialise libsodium");
        goto out;
    }
    e = store_user_count(srv->store, &n);
    if (e) {
        snprintf(err, errlen, "cannot count the users in the store");
        goto out;
    }
    if (n > 0)
        goto out;
    if (srv->cfg.admin_password_file[0]) {
        source = "admin_password_file";
        e = read_password_file(srv->cfg.admin_password_file, password, sizeof(password), err, errlen);
        if (e)
            goto out;
    } else if (env && *env) {
        source = "$YAMORI_ADMIN_PASSWORD";
        snprintf(password, sizeof(password), "%s", env); /* one too long stays too long: the policy says so */
    } else {
        source = NULL;
        auth_random_password(password, sizeof(password), AUTH_RANDOM_PASSWORD_LEN);
    }
    if (auth_password_policy(password, AUTH_FIRST_ADMIN, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "the first admin's password from %s: %s", source ? source : "random", why);
        e = -EINVAL;
        goto out;
    }
    e = auth_password_hash(password, hash);
    if (e) {
        snprintf(err, errlen, "cannot hash the first admin's password (out of memory)");
        goto out;
    }
    e = store_user_create(srv->store, AUTH_FIRST_ADMIN, ROLE_ADMIN, hash, NULL);
    if (e == -EEXIST) {
        e = 0;
        goto out;
    }
    if (e) {
        snprintf(err, errlen, "cannot create the first admin in the store");
        goto out;
    }
    if (source) {
        log_info("created the first admin (user %s) with the password from %s", AUTH_FIRST_ADMIN, source);
    } else {
        fprintf(out, "first admin: user %s, password %s\n", AUTH_FIRST_ADMIN, password);
        fflush(out);
        log_info("created the first admin (user %s); its password was printed on standard output, once",
                 AUTH_FIRST_ADMIN);
    }
    auth_detail(detail, sizeof(detail), "role", "admin", "reason", "first start", "password",
                source ? source : "random, printed once", NULL);
    audit_record(srv, NULL, NULL, "user.create", "user:" AUTH_FIRST_ADMIN, detail);
out:
    sodium_memzero(password, sizeof(password));
    sodium_memzero(hash, sizeof(hash));
    wipe_env_password();
    return e;
}

/* ------------------------------------------------------------------ routes */

static bool json_content_type(struct http_request *rq, struct http_response *rs)
{
    const char *ct = http_header(rq, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        http_error(rs, 415, "send JSON with Content-Type: application/json");
        return false;
    }
    return true;
}

/* Copies a login name, folded to lower case, and checks its form. */
static bool login_name(const char *in, char out[STORE_USER_NAME_MAX + 1], struct http_response *rs)
{
    char why[160];
    size_t i;

    for (i = 0; in[i] && i < STORE_USER_NAME_MAX; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
    if (in[i] || auth_user_name_valid(out, why, sizeof(why)) != 0) {
        http_error(rs, 400, "\"user\": %s", in[i] ? "a user name has 1 to 63 characters" : why);
        return false;
    }
    return true;
}

/* POST /api/v1/auth/login {user, password} (public). */
static void post_login(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    struct auth_login_result res;
    char name[STORE_USER_NAME_MAX + 1], msg[300], cookie[200], num[24];
    const char *user, *password;
    json_t *body = NULL;
    struct jsonw *w;
    int e;

    memset(&res, 0, sizeof(res));
    if (!json_content_type(rq, rs))
        goto out;
    body = http_json_body(rq, rs);
    if (!body || !auth_json_only(body, rs, "user", "password", NULL))
        goto out;
    if (auth_json_string(body, "user", true, 256, &user, rs) < 0 ||
        auth_json_string(body, "password", true, AUTH_PASSWORD_MAX_BYTES, &password, rs) < 0)
        goto out;
    if (!login_name(user, name, rs))
        goto out;
    e = auth_login(srv, name, password, http_remote_ip(rq), &res, msg, sizeof(msg));
    if (e == -429) {
        snprintf(num, sizeof(num), "%u", res.retry_after_s);
        http_header_add(rs, "Retry-After", num);
        http_error(rs, 429, "%s", msg);
        goto out;
    }
    if (e == -401 || e == -403) {
        http_error(rs, (unsigned)-e, "%s", msg);
        goto out;
    }
    if (e) {
        http_error(rs, 503, "%s", msg);
        goto out;
    }
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; Max-Age=%lld; HttpOnly; Secure; SameSite=Strict",
             AUTH_SESSION_COOKIE, res.session_token,
             (long long)((res.expires_ms - store_now_ms(srv->store)) / 1000));
    http_header_add(rs, "Set-Cookie", cookie);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "user", res.user.name);
    jsonw_kv_str(w, "role", role_name((enum role)res.user.role));
    jsonw_kv_str(w, "csrf_token", res.csrf);
    auth_json_time(w, "expires", res.expires_ms);
    jsonw_object_end(w);
out:
    sodium_memzero(cookie, sizeof(cookie));
    sodium_memzero(&res, sizeof(res));
    json_decref(body);
}

/* POST /api/v1/auth/logout (viewer): ends the calling session, or revokes
 * the calling API token. */
static void post_logout(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    char target[STORE_USER_NAME_MAX + 8], detail[120], id[24];
    struct jsonw *w;
    int e;

    snprintf(target, sizeof(target), "user:%s", p->user_name);
    snprintf(id, sizeof(id), "%lld", (long long)p->token_id);
    if (p->via_session) {
        e = store_session_delete(srv->store, p->token_id);
        if (e && e != -ENOENT) {
            http_error(rs, 503, "cannot end the session now (see the server log)");
            return;
        }
        http_header_add(rs, "Set-Cookie",
                        AUTH_SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
        auth_detail(detail, sizeof(detail), "via", "session", NULL);
    } else {
        e = store_token_revoke(srv->store, p->token_id);
        if (e && e != -EALREADY) {
            http_error(rs, 503, "cannot revoke the token now (see the server log)");
            return;
        }
        auth_detail(detail, sizeof(detail), "via", "api token", "revoked_token", id, NULL);
    }
    audit_record(srv, p, http_remote_ip(rq), "auth.logout", target, detail);
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "ended", p->via_session ? "session" : "token");
    jsonw_object_end(w);
}

/* GET /api/v1/auth/me (viewer): who the caller is. */
static void get_me(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    struct jsonw *w = http_json(rs);

    jsonw_object_begin(w);
    jsonw_kv_str(w, "user", p->user_name);
    jsonw_kv_str(w, "role", role_name(p->role));
    jsonw_kv_str(w, "via", p->via_session ? "session" : "token");
    if (p->via_session) {
        struct store_session s;
        uint8_t hash[STORE_SECRET_HASH_LEN];
        const char *cookie = http_cookie(rq, AUTH_SESSION_COOKIE);
        if (cookie) {
            auth_secret_hash(cookie, hash);
            if (store_session_lookup(srv->store, hash, &s) == 0 && s.id == p->token_id) {
                jsonw_kv_str(w, "csrf_token", s.csrf);
                auth_json_time(w, "expires", s.expires_ms);
            }
        }
    } else {
        struct store_token t;
        if (store_token_get(srv->store, p->token_id, &t) == 0) {
            jsonw_key(w, "token");
            jsonw_object_begin(w);
            jsonw_kv_int(w, "id", t.id);
            jsonw_kv_str(w, "name", t.name);
            jsonw_kv_str(w, "role", role_name((enum role)t.role));
            auth_json_time(w, "expires", t.expires_ms);
            jsonw_object_end(w);
        }
    }
    jsonw_object_end(w);
}

/* POST /api/v1/auth/password {old_password, new_password} (viewer). */
static void post_password(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const struct principal *p = http_principal(rq);
    const char *ip = http_remote_ip(rq), *old_pw, *new_pw;
    char hash[STORE_PWHASH_MAX], why[200], target[STORE_USER_NAME_MAX + 8], num[24];
    struct store_user u;
    unsigned retry = 0;
    json_t *body = NULL;
    struct jsonw *w;
    int e;

    memset(&u, 0, sizeof(u));
    hash[0] = '\0';
    snprintf(target, sizeof(target), "user:%s", p->user_name);
    body = http_json_body(rq, rs);
    if (!body || !auth_json_only(body, rs, "old_password", "new_password", NULL))
        goto out;
    if (auth_json_string(body, "old_password", true, AUTH_PASSWORD_MAX_BYTES, &old_pw, rs) < 0 ||
        auth_json_string(body, "new_password", true, AUTH_PASSWORD_MAX_BYTES, &new_pw, rs) < 0)
        goto out;
    if (auth_password_policy(new_pw, p->user_name, why, sizeof(why)) != 0) {
        http_error(rs, 400, "\"new_password\": %s", why);
        goto out;
    }
    if (strcmp(old_pw, new_pw) == 0) {
        http_error(rs, 400, "\"new_password\": the new password must differ from the current one");
        goto out;
    }
    e = auth_login_allowed(srv, p->user_name, ip, &retry);
    if (e == -429) {
        snprintf(num, sizeof(num), "%u", retry);
        http_header_add(rs, "Retry-After", num);
        http_error(rs, 429, "too many wrong passwords for %s from %s: try again in %u seconds", p->user_name, ip,
                   retry);
        goto out;
    }
    if (e || store_user_get_by_id(srv->store, p->user_id, &u) != 0) {
        http_error(rs, 503, "cannot change the password now (see the server log)");
        goto out;
    }
    if (!auth_password_verify(u.password_hash, old_pw)) {
        (void)auth_login_failed(srv, p->user_name, ip);
        audit_record(srv, p, ip, "auth.password_change_failed", target, "{\"reason\":\"wrong current password\"}");
        http_error(rs, 403, "\"old_password\" is not your current password");
        goto out;
    }
    if (auth_password_hash(new_pw, hash) != 0) {
        http_error(rs, 503, "cannot hash the password now (out of memory)");
        goto out;
    }
    e = store_user_set_password(srv->store, u.id, hash, p->via_session ? p->token_id : 0);
    if (e) {
        http_error(rs, e == -ENOENT ? 404 : 503, "cannot change the password now");
        goto out;
    }
    audit_record(srv, p, ip, "auth.password_change", target,
                 p->via_session ? "{\"other_sessions\":\"ended\"}" : "{\"sessions\":\"ended\"}");
    w = http_json(rs);
    jsonw_object_begin(w);
    jsonw_kv_str(w, "user", p->user_name);
    jsonw_kv_bool(w, "password_changed", true);
    jsonw_object_end(w);
out:
    sodium_memzero(hash, sizeof(hash));
    sodium_memzero(u.password_hash, sizeof(u.password_hash));
    json_decref(body);
}

static const struct route auth_routes[] = {
    {HTTP_POST, "/api/v1/auth/login", ACCESS_PUBLIC, ROLE_NONE, LOGIN_MAX_BODY, post_login,
     "sign in with a password: session cookie and CSRF token"},
    {HTTP_POST, "/api/v1/auth/logout", ACCESS_USER, ROLE_VIEWER, 0, post_logout,
     "end the calling session, or revoke the calling API token"},
    {HTTP_GET, "/api/v1/auth/me", ACCESS_USER, ROLE_VIEWER, 0, get_me, "who is calling, with which role"},
    {HTTP_POST, "/api/v1/auth/password", ACCESS_USER, ROLE_VIEWER, LOGIN_MAX_BODY, post_password,
     "change one's own password"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static int auth_init(struct server *srv, char *err, size_t errlen)
{
    int e;

    if (auth_crypto_init() != 0) {
        snprintf(err, errlen, "cannot initialise libsodium");
        return -EIO;
    }
    e = auth_bootstrap(srv, stdout, err, errlen);
    if (e)
        return e;
    http_set_user_authenticator(srv, auth_authenticate);
    return 0;
}

static const struct server_module auth_module = {
    .name = "auth",
    .order = 20,
    .init = auth_init,
    .routes = auth_routes,
};
SERVER_MODULE(auth_module);
