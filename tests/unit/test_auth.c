/*
 * test_auth.c — people's credentials, in-process: password hashing and
 * policy, the first admin, sessions and CSRF, API tokens (expiry,
 * revocation, role cap, deleted owner), failed-login limits with a fake
 * clock (429, and recovery when the window passes, also across a restart
 * of the store), the last-admin rule, and the audit entries each of these
 * leaves.
 *
 * Each case opens a fresh store in a temporary directory under a struct
 * server of its own, with store_set_clock() driving time.
 */
#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/server.h"
#include "server/store.h"

static struct server srv;
static char dir[64];
static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static int open_store(char *err, size_t errlen)
{
    char uri[128];
    snprintf(uri, sizeof(uri), "sqlite:%s/yamori.db", dir);
    if (store_open(&srv.store, uri, err, errlen) != 0)
        return -1;
    store_set_clock(srv.store, fake_clock, NULL);
    return 0;
}

static bool setup(void)
{
    char err[512];
    memset(&srv, 0, sizeof(srv));
    config_defaults(&srv.cfg);
    snprintf(dir, sizeof(dir), "/tmp/yamori-test-auth.XXXXXX");
    if (!mkdtemp(dir))
        return false;
    fake_now = 1800000000000LL;
    if (open_store(err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return false;
    }
    return true;
}

static void teardown(void)
{
    char path[128];
    store_close(srv.store);
    srv.store = NULL;
    if (dir[0]) {
        const char *files[] = {"yamori.db", "yamori.db-wal", "yamori.db-shm", "pw"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
        dir[0] = '\0';
    }
    unsetenv("YAMORI_ADMIN_PASSWORD");
}

static int64_t add_user(const char *name, enum role role, const char *password)
{
    char hash[STORE_PWHASH_MAX];
    int64_t id = 0;
    if (auth_password_hash(password, hash) != 0 || store_user_create(srv.store, name, role, hash, &id) != 0)
        return 0;
    return id;
}

/* ------------------------------------------------------------------ audit helpers */

struct audit_find {
    const char *action, *target, *detail_part;
    int found;
};

static int audit_match(const struct store_audit_entry *e, void *ctx)
{
    struct audit_find *f = ctx;
    if (strcmp(e->action, f->action) == 0 && (!f->target || (e->target && strcmp(e->target, f->target) == 0)) &&
        (!f->detail_part || (e->detail && strstr(e->detail, f->detail_part))))
        f->found++;
    return 0;
}

/* How many audit entries have action (and target, and detail containing
 * detail_part, when given). */
static int audit_count(const char *action, const char *target, const char *detail_part)
{
    struct store_audit_query q = {.limit = 1000};
    struct audit_find f = {action, target, detail_part, 0};
    if (store_audit_list(srv.store, &q, audit_match, &f) != 0)
        return -1;
    return f.found;
}

static int count_one(const struct store_audit_entry *e, void *ctx)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

/* ------------------------------------------------------------------ passwords */

static void hash_and_verify(void)
{
    char hash[STORE_PWHASH_MAX], weak[crypto_pwhash_STRBYTES];

    CHECK_INT(auth_crypto_init(), ==, 0);
    CHECK_INT(auth_password_hash("correct horse battery", hash), ==, 0);
    CHECK(strncmp(hash, "$argon2id$", 10) == 0);
    CHECK(auth_password_verify(hash, "correct horse battery"));
    CHECK(!auth_password_verify(hash, "correct horse batterY"));
    CHECK(!auth_password_verify(hash, ""));
    CHECK(!auth_password_verify("not a hash", "correct horse battery"));
    CHECK(!auth_password_verify("$argon2id$v=19$m=65536,t=2,p=1$AAAA$BBBB", "x"));
    CHECK(!auth_password_needs_rehash(hash));
    /* same password hashed twice: different salts */
    {
        char again[STORE_PWHASH_MAX];
        CHECK_INT(auth_password_hash("correct horse battery", again), ==, 0);
        CHECK(strcmp(hash, again) != 0);
    }
    /* a hash made with weaker parameters asks to be redone */
    CHECK_INT(crypto_pwhash_str(weak, "pw", 2, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN), ==, 0);
    CHECK(auth_password_verify(weak, "pw"));
    CHECK(auth_password_needs_rehash(weak));
}

static void password_policy(void)
{
    char why[200], big[AUTH_PASSWORD_MAX_BYTES + 2];

    CHECK_INT(auth_password_policy("elevenchars", "ann", why, sizeof(why)), ==, -EINVAL);
    CHECK_MSG(strstr(why, "at least 12") && strstr(why, "1024"), "why: %s", why);
    CHECK_INT(auth_password_policy("twelve chars", "ann", why, sizeof(why)), ==, 0);
    /* twelve characters of two bytes each */
    CHECK_INT(auth_password_policy("éééééééééééé", "ann", why, sizeof(why)), ==, 0);
    CHECK_INT(auth_password_policy("ééééééééééé", "ann", why, sizeof(why)), ==, -EINVAL);
    memset(big, 'a', AUTH_PASSWORD_MAX_BYTES);
    big[AUTH_PASSWORD_MAX_BYTES] = '\0';
    CHECK_INT(auth_password_policy(big, "ann", why, sizeof(why)), ==, 0);
    big[AUTH_PASSWORD_MAX_BYTES] = 'a';
    big[AUTH_PASSWORD_MAX_BYTES + 1] = '\0';
    CHECK_INT(auth_password_policy(big, "ann", why, sizeof(why)), ==, -EINVAL);
    CHECK_MSG(strstr(why, "at most 1024 bytes"), "why: %s", why);
    CHECK_INT(auth_password_policy("line one\nline two", "ann", why, sizeof(why)), ==, -EINVAL);
    CHECK_INT(auth_password_policy("bad utf8 \xff\xfe here", "ann", why, sizeof(why)), ==, -EINVAL);
    CHECK_INT(auth_password_policy("ann.long.name", "ann.long.name", why, sizeof(why)), ==, -EINVAL);
}

static void random_secrets(void)
{
    char a[64], b[64], t1[AUTH_SECRET_TEXT_LEN + 1], t2[AUTH_SECRET_TEXT_LEN + 1];
    uint8_t h1[STORE_SECRET_HASH_LEN], h2[STORE_SECRET_HASH_LEN], h3[STORE_SECRET_HASH_LEN];

    auth_random_password(a, sizeof(a), AUTH_RANDOM_PASSWORD_LEN);
    auth_random_password(b, sizeof(b), AUTH_RANDOM_PASSWORD_LEN);
    CHECK_INT(strlen(a), ==, AUTH_RANDOM_PASSWORD_LEN);
    CHECK(AUTH_RANDOM_PASSWORD_LEN >= 20);
    CHECK(strcmp(a, b) != 0);
    CHECK(strpbrk(a, "0O1lI") == NULL);
    CHECK_INT(auth_password_policy(a, "admin", b, sizeof(b)), ==, 0);

    auth_new_secret(AUTH_TOKEN_PREFIX, t1, sizeof(t1), h1);
    auth_new_secret(AUTH_TOKEN_PREFIX, t2, sizeof(t2), h2);
    CHECK_INT(strlen(t1), ==, AUTH_SECRET_TEXT_LEN);
    CHECK(strncmp(t1, "ymt_", 4) == 0);
    CHECK(strcmp(t1, t2) != 0);
    CHECK(memcmp(h1, h2, sizeof(h1)) != 0);
    auth_secret_hash(t1, h3);
    CHECK(memcmp(h1, h3, sizeof(h1)) == 0);
    CHECK(auth_secret_well_formed(t1, AUTH_TOKEN_PREFIX));
    CHECK(!auth_secret_well_formed(t1, AUTH_SESSION_PREFIX));
    t1[10] = '/';
    CHECK(!auth_secret_well_formed(t1, AUTH_TOKEN_PREFIX));
    CHECK(!auth_secret_well_formed("ymt_short", AUTH_TOKEN_PREFIX));
    CHECK(!auth_secret_well_formed("", AUTH_TOKEN_PREFIX));
}

static void user_names(void)
{
    char why[200];
    CHECK_INT(auth_user_name_valid("ann", why, sizeof(why)), ==, 0);
    CHECK_INT(auth_user_name_valid("ann.lee-2@corp_x", why, sizeof(why)), ==, 0);
    CHECK_INT(auth_user_name_valid("Ann", why, sizeof(why)), ==, -EINVAL);
    CHECK_INT(auth_user_name_valid(".ann", why, sizeof(why)), ==, -EINVAL);
    CHECK_INT(auth_user_name_valid("", why, sizeof(why)), ==, -EINVAL);
    CHECK_INT(auth_user_name_valid("a b", why, sizeof(why)), ==, -EINVAL);
    CHECK_INT(auth_user_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", why, sizeof(why)),
              ==, -EINVAL); /* 64 */
    CHECK(auth_token_name_valid("ann@laptop (cli)"));
    CHECK(!auth_token_name_valid(""));
    CHECK(!auth_token_name_valid("tab\there"));
}

/* ------------------------------------------------------------------ the first admin */

static void bootstrap_from_file(void)
{
    char err[512], path[128];
    struct store_user u;
    FILE *out = NULL, *f;
    int64_t n = 0;
    long printed;

    CHECK(setup());
    snprintf(path, sizeof(path), "%s/pw", dir);
    f = fopen(path, "w");
    CHECK(f);
    fputs("file password 123\n", f);
    fclose(f);
    snprintf(srv.cfg.admin_password_file, sizeof(srv.cfg.admin_password_file), "%s", path);
    setenv("YAMORI_ADMIN_PASSWORD", "the environment loses here", 1);
    out = tmpfile();
    CHECK(out);
    CHECK_MSG(auth_bootstrap(&srv, out, err, sizeof(err)) == 0, "%s", err);
    printed = ftell(out);
    fclose(out);
    CHECK_INT(printed, ==, 0); /* nothing printed: the password came from the file */
    CHECK(getenv("YAMORI_ADMIN_PASSWORD") == NULL);
    CHECK_INT(store_user_get(srv.store, "admin", &u), ==, 0);
    CHECK_INT(u.role, ==, ROLE_ADMIN);
    CHECK(auth_password_verify(u.password_hash, "file password 123"));
    CHECK_INT(audit_count("user.create", "user:admin", "admin_password_file"), ==, 1);
    /* a second start changes nothing */
    CHECK_MSG(auth_bootstrap(&srv, stdout, err, sizeof(err)) == 0, "%s", err);
    CHECK_INT(store_user_count(srv.store, &n), ==, 0);
    CHECK_INT(n, ==, 1);
    CHECK_INT(audit_count("user.create", NULL, NULL), ==, 1);
}

static void bootstrap_from_env(void)
{
    char err[512];
    struct store_user u;

    CHECK(setup());
    setenv("YAMORI_ADMIN_PASSWORD", "environment password", 1);
    CHECK_MSG(auth_bootstrap(&srv, stdout, err, sizeof(err)) == 0, "%s", err);
    CHECK(getenv("YAMORI_ADMIN_PASSWORD") == NULL); /* wiped */
    CHECK_INT(store_user_get(srv.store, "admin", &u), ==, 0);
    CHECK(auth_password_verify(u.password_hash, "environment password"));
    CHECK_INT(audit_count("user.create", "user:admin", "YAMORI_ADMIN_PASSWORD"), ==, 1);
}

static void bootstrap_random_printed_once(void)
{
    char err[512], text[256] = "", pw[64];
    struct store_user u;
    FILE *out;
    size_t n;

    CHECK(setup());
    unsetenv("YAMORI_ADMIN_PASSWORD");
    out = tmpfile();
    CHECK(out);
    CHECK_MSG(auth_bootstrap(&srv, out, err, sizeof(err)) == 0, "%s", err);
    rewind(out);
    n = fread(text, 1, sizeof(text) - 1, out);
    text[n] = '\0';
    fclose(out);
    CHECK_MSG(sscanf(text, "first admin: user admin, password %63s", pw) == 1, "printed: %s", text);
    CHECK_INT(strlen(pw), >=, 20);
    CHECK_INT(store_user_get(srv.store, "admin", &u), ==, 0);
    CHECK(auth_password_verify(u.password_hash, pw));
    CHECK(strstr(u.password_hash, pw) == NULL);
    CHECK_INT(audit_count("user.create", "user:admin", "random, printed once"), ==, 1);
    /* the second start prints nothing */
    out = tmpfile();
    CHECK(out);
    CHECK_MSG(auth_bootstrap(&srv, out, err, sizeof(err)) == 0, "%s", err);
    n = (size_t)ftell(out);
    fclose(out);
    CHECK_INT(n, ==, 0);
}

static void bootstrap_refuses_weak_password(void)
{
    char err[512];
    int64_t n = 0;

    CHECK(setup());
    setenv("YAMORI_ADMIN_PASSWORD", "short", 1);
    CHECK_INT(auth_bootstrap(&srv, stdout, err, sizeof(err)), ==, -EINVAL);
    CHECK_MSG(strstr(err, "YAMORI_ADMIN_PASSWORD") && strstr(err, "at least 12"), "err: %s", err);
    CHECK_INT(store_user_count(srv.store, &n), ==, 0);
    CHECK_INT(n, ==, 0);
    snprintf(srv.cfg.admin_password_file, sizeof(srv.cfg.admin_password_file), "%s/missing", dir);
    CHECK(auth_bootstrap(&srv, stdout, err, sizeof(err)) < 0);
    CHECK_MSG(strstr(err, "missing"), "err: %s", err);
    CHECK_INT(store_user_count(srv.store, &n), ==, 0);
    CHECK_INT(n, ==, 0);
}

/* ------------------------------------------------------------------ sessions */

static void sessions_and_csrf(void)
{
    struct auth_login_result res;
    struct principal p;
    char msg[300];

    CHECK(setup());
    srv.cfg.session_hours = 2;
    CHECK(add_user("ann", ROLE_ANALYST, "ann's password"));
    CHECK_MSG(auth_login(&srv, "ann", "ann's password", "192.0.2.1", &res, msg, sizeof(msg)) == 0, "%s", msg);
    CHECK(auth_secret_well_formed(res.session_token, AUTH_SESSION_PREFIX));
    CHECK_INT(strlen(res.csrf), ==, AUTH_CSRF_LEN);
    CHECK_INT(res.expires_ms, ==, fake_now + 2 * 3600 * 1000);
    CHECK_INT(audit_count("auth.login", "user:ann", NULL), ==, 1);

    CHECK_INT(auth_check_session(&srv, res.session_token, HTTP_GET, NULL, &p, msg, sizeof(msg)), ==, 1);
    CHECK_STR(p.user_name, "ann");
    CHECK_INT(p.role, ==, ROLE_ANALYST);
    CHECK(p.via_session);
    CHECK_INT(p.token_id, ==, res.session_id);
    /* changes need the CSRF token */
    CHECK_INT(auth_check_session(&srv, res.session_token, HTTP_POST, NULL, &p, msg, sizeof(msg)), ==, -403);
    CHECK_MSG(strstr(msg, "X-CSRF-Token"), "msg: %s", msg);
    CHECK_INT(auth_check_session(&srv, res.session_token, HTTP_DELETE, "wrong", &p, msg, sizeof(msg)), ==, -403);
    {
        char other[AUTH_CSRF_LEN + 1];
        snprintf(other, sizeof(other), "%s", res.csrf);
        other[0] = other[0] == 'A' ? 'B' : 'A';
        CHECK_INT(auth_check_session(&srv, res.session_token, HTTP_PATCH, other, &p, msg, sizeof(msg)), ==, -403);
    }
    CHECK_INT(auth_check_session(&srv, res.session_token, HTTP_POST, res.csrf, &p, msg, sizeof(msg)), ==, 1);
    /* malformed and unknown cookies */
    CHECK_INT(auth_check_session(&srv, "yms_nonsense", HTTP_GET, NULL, &p, msg, sizeof(msg)), ==, -401);
    CHECK_INT(auth_check_session(&srv, "yms_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", HTTP_GET, NULL, &p, msg,
                                 sizeof(msg)),
              ==, -401);
    /* a disabled user's session stops at once */
    {
        struct store_user u;
        struct auth_login_result res2;
        CHECK_INT(store_user_get(srv.store, "ann", &u), ==, 0);
        CHECK_MSG(auth_login(&srv, "ann", "ann's password", "192.0.2.1", &res2, msg, sizeof(msg)) == 0, "%s", msg);
        CHECK_INT(store_user_update(srv.store, u.id, 0, 1), ==, 0);
        CHECK_INT(auth_check_session(&srv, res2.session_token, HTTP_GET, NULL, &p, msg, sizeof(msg)), ==, -401);
        CHECK_INT(auth_login(&srv, "ann", "ann's password", "192.0.2.1", &res2, msg, sizeof(msg)), ==, -403);
        CHECK_MSG(strstr(msg, "disabled"), "msg: %s", msg);
        CHECK_INT(audit_count("auth.login_failed", "user:ann", "account disabled"), ==, 1);
        CHECK_INT(store_user_update(srv.store, u.id, 0, 0), ==, 0);
    }
    /* expiry */
    CHECK_MSG(auth_login(&srv, "ann", "ann's password", "192.0.2.1", &res, msg, sizeof(msg)) == 0, "%s", msg);
    fake_now += 2 * 3600 * 1000 - 1;
    CHECK_INT(auth_check_session(&srv, res.session_token, HTTP_GET, NULL, &p, msg, sizeof(msg)), ==, 1);
    fake_now += 1;
    CHECK_INT(auth_check_session(&srv, res.session_token, HTTP_GET, NULL, &p, msg, sizeof(msg)), ==, -401);
    CHECK_MSG(strstr(msg, "expired"), "msg: %s", msg);
    /* ended sessions are gone */
    CHECK_INT(auth_check_session(&srv, res.session_token, HTTP_GET, NULL, &p, msg, sizeof(msg)), ==, -401);
}

static void password_change_ends_other_sessions(void)
{
    struct auth_login_result a, b;
    struct principal p;
    char msg[300], hash[STORE_PWHASH_MAX];
    int64_t id;

    CHECK(setup());
    CHECK((id = add_user("bo", ROLE_VIEWER, "bo's first password")));
    CHECK_INT(auth_login(&srv, "bo", "bo's first password", "192.0.2.1", &a, msg, sizeof(msg)), ==, 0);
    CHECK_INT(auth_login(&srv, "bo", "bo's first password", "192.0.2.2", &b, msg, sizeof(msg)), ==, 0);
    CHECK_INT(auth_password_hash("bo's second password", hash), ==, 0);
    CHECK_INT(store_user_set_password(srv.store, id, hash, a.session_id), ==, 0);
    CHECK_INT(auth_check_session(&srv, a.session_token, HTTP_GET, NULL, &p, msg, sizeof(msg)), ==, 1);
    CHECK_INT(auth_check_session(&srv, b.session_token, HTTP_GET, NULL, &p, msg, sizeof(msg)), ==, -401);
    CHECK_INT(auth_login(&srv, "bo", "bo's first password", "192.0.2.1", &b, msg, sizeof(msg)), ==, -401);
    CHECK_INT(auth_login(&srv, "bo", "bo's second password", "192.0.2.1", &b, msg, sizeof(msg)), ==, 0);
}

/* ------------------------------------------------------------------ tokens */

static int64_t new_token(int64_t user, enum role role, int64_t expires_ms, char text[AUTH_SECRET_TEXT_LEN + 1])
{
    uint8_t hash[STORE_SECRET_HASH_LEN];
    int64_t id = 0;
    auth_new_secret(AUTH_TOKEN_PREFIX, text, AUTH_SECRET_TEXT_LEN + 1, hash);
    if (store_token_create(srv.store, user, "test", role, hash, expires_ms, AUTH_MAX_TOKENS_PER_USER, &id) != 0)
        return 0;
    return id;
}

static void tokens_lifecycle(void)
{
    char t1[AUTH_SECRET_TEXT_LEN + 1], t2[AUTH_SECRET_TEXT_LEN + 1], t3[AUTH_SECRET_TEXT_LEN + 1], msg[300];
    struct principal p;
    struct store_token st;
    int64_t cy, id1, id2, id3;

    CHECK(setup());
    CHECK((cy = add_user("cy", ROLE_RESPONDER, "cy's password!")));
    CHECK((id1 = new_token(cy, ROLE_RESPONDER, fake_now + 3600 * 1000, t1)));
    CHECK((id2 = new_token(cy, ROLE_ANALYST, 0, t2)));
    CHECK((id3 = new_token(cy, ROLE_RESPONDER, 0, t3)));

    CHECK_INT(auth_check_token(&srv, t1, &p, msg, sizeof(msg)), ==, 1);
    CHECK_STR(p.user_name, "cy");
    CHECK_INT(p.role, ==, ROLE_RESPONDER);
    CHECK(!p.via_session);
    CHECK_INT(p.token_id, ==, id1);
    CHECK_INT(store_token_get(srv.store, id1, &st), ==, 0);
    CHECK_INT(st.last_used_ms, ==, fake_now);
    CHECK_INT(auth_check_token(&srv, t2, &p, msg, sizeof(msg)), ==, 1);
    CHECK_INT(p.role, ==, ROLE_ANALYST); /* the token's own, lower role */

    /* expiry */
    fake_now += 3600 * 1000;
    CHECK_INT(auth_check_token(&srv, t1, &p, msg, sizeof(msg)), ==, -401);
    CHECK_MSG(strstr(msg, "expired"), "msg: %s", msg);
    /* revocation */
    CHECK_INT(store_token_revoke(srv.store, id2), ==, 0);
    CHECK_INT(store_token_revoke(srv.store, id2), ==, -EALREADY);
    CHECK_INT(auth_check_token(&srv, t2, &p, msg, sizeof(msg)), ==, -401);
    CHECK_MSG(strstr(msg, "revoked"), "msg: %s", msg);
    /* demoting the owner caps the token */
    CHECK_INT(store_user_update(srv.store, cy, ROLE_VIEWER, -1), ==, 0);
    CHECK_INT(auth_check_token(&srv, t3, &p, msg, sizeof(msg)), ==, 1);
    CHECK_INT(p.role, ==, ROLE_VIEWER);
    CHECK_INT(store_user_update(srv.store, cy, ROLE_RESPONDER, -1), ==, 0);
    CHECK_INT(auth_check_token(&srv, t3, &p, msg, sizeof(msg)), ==, 1);
    CHECK_INT(p.role, ==, ROLE_RESPONDER);
    /* disabling the owner stops it */
    CHECK_INT(store_user_update(srv.store, cy, 0, 1), ==, 0);
    CHECK_INT(auth_check_token(&srv, t3, &p, msg, sizeof(msg)), ==, -401);
    CHECK_MSG(strstr(msg, "disabled"), "msg: %s", msg);
    /* deleting the owner deletes it */
    CHECK_INT(store_user_delete(srv.store, cy), ==, 0);
    CHECK_INT(auth_check_token(&srv, t3, &p, msg, sizeof(msg)), ==, -401);
    CHECK_INT(store_token_get(srv.store, id3, &st), ==, -ENOENT);
    /* malformed */
    CHECK_INT(auth_check_token(&srv, "Bearer", &p, msg, sizeof(msg)), ==, -401);
    CHECK_INT(auth_check_token(&srv, "", &p, msg, sizeof(msg)), ==, -401);
}

static void token_quota(void)
{
    char t[AUTH_SECRET_TEXT_LEN + 1];
    uint8_t hash[STORE_SECRET_HASH_LEN];
    int64_t u, id = 0;

    CHECK(setup());
    CHECK((u = add_user("dee", ROLE_VIEWER, "dee's password")));
    for (int i = 0; i < 3; i++)
        CHECK(new_token(u, ROLE_VIEWER, 0, t));
    auth_new_secret(AUTH_TOKEN_PREFIX, t, sizeof(t), hash);
    CHECK_INT(store_token_create(srv.store, u, "x", ROLE_VIEWER, hash, 0, 3, &id), ==, -EDQUOT);
    CHECK_INT(store_token_revoke(srv.store, 1), ==, 0);
    CHECK_INT(store_token_create(srv.store, u, "x", ROLE_VIEWER, hash, 0, 3, &id), ==, 0);
}

/* ------------------------------------------------------------------ failed logins */

static void rate_limit_and_recovery(void)
{
    struct auth_login_result res;
    char msg[300], err[512];
    unsigned retry = 0;

    CHECK(setup());
    srv.cfg.login_max_failures = 3;
    srv.cfg.login_window_seconds = 60;
    CHECK(add_user("eve", ROLE_VIEWER, "eve's password"));
    for (int i = 0; i < 3; i++) {
        CHECK_INT(auth_login(&srv, "eve", "wrong password!", "198.51.100.7", &res, msg, sizeof(msg)), ==, -401);
        fake_now += 1000;
    }
    CHECK_INT(audit_count("auth.login_failed", "user:eve", "wrong password"), ==, 3);
    /* blocked, even with the right password, which is not looked at */
    CHECK_INT(auth_login(&srv, "eve", "eve's password", "198.51.100.7", &res, msg, sizeof(msg)), ==, -429);
    CHECK_INT(res.retry_after_s, ==, 57); /* the oldest failure was 3 s ago and counts for 60 s */
    CHECK_MSG(strstr(msg, "try again in"), "msg: %s", msg);
    CHECK_INT(audit_count("auth.login_failed", "user:eve", NULL), ==, 3); /* blocked attempts are not failures */
    /* another address is not blocked */
    CHECK_INT(auth_login(&srv, "eve", "eve's password", "198.51.100.8", &res, msg, sizeof(msg)), ==, 0);
    /* the block survives a restart (the failures are in the store) */
    store_close(srv.store);
    srv.store = NULL;
    CHECK_MSG(open_store(err, sizeof(err)) == 0, "%s", err);
    CHECK_INT(auth_login_allowed(&srv, "eve", "198.51.100.7", &retry), ==, -429);
    /* when the oldest failure leaves the window, one attempt is possible again */
    fake_now += 57 * 1000 - 1;
    CHECK_INT(auth_login_allowed(&srv, "eve", "198.51.100.7", &retry), ==, -429);
    CHECK_INT(retry, ==, 1);
    fake_now += 1;
    CHECK_INT(auth_login_allowed(&srv, "eve", "198.51.100.7", &retry), ==, 0);
    /* and a good login clears the count */
    CHECK_MSG(auth_login(&srv, "eve", "eve's password", "198.51.100.7", &res, msg, sizeof(msg)) == 0, "%s", msg);
    CHECK_INT(auth_login_allowed(&srv, "eve", "198.51.100.7", &retry), ==, 0);
    CHECK_INT(audit_count("auth.login", "user:eve", NULL), ==, 2);
}

static void rate_limit_per_address(void)
{
    struct auth_login_result res;
    char msg[300], name[32];
    unsigned cap;

    CHECK(setup());
    srv.cfg.login_max_failures = 2;
    srv.cfg.login_window_seconds = 30;
    cap = 2 * AUTH_ADDRESS_FAILURE_FACTOR;
    CHECK(add_user("fay", ROLE_VIEWER, "fay's password"));
    /* one failure each for many names (unknown ones too) from one address */
    for (unsigned i = 0; i < cap; i++) {
        snprintf(name, sizeof(name), "guess%u", i);
        CHECK_INT(auth_login(&srv, name, "whatever it is", "203.0.113.5", &res, msg, sizeof(msg)), ==, -401);
    }
    CHECK_INT(audit_count("auth.login_failed", NULL, "unknown user"), ==, (int)cap);
    CHECK_INT(auth_login(&srv, "fay", "fay's password", "203.0.113.5", &res, msg, sizeof(msg)), ==, -429);
    CHECK_INT(res.retry_after_s, ==, 30);
    CHECK_INT(auth_login(&srv, "fay", "fay's password", "203.0.113.6", &res, msg, sizeof(msg)), ==, 0);
    fake_now += 30 * 1000;
    CHECK_INT(auth_login(&srv, "fay", "fay's password", "203.0.113.5", &res, msg, sizeof(msg)), ==, 0);
}


static void address_keys(void)
{
    struct auth_login_result res;
    char k[64], msg[300];

    auth_address_key("192.0.2.1", k, sizeof(k));
    CHECK_STR(k, "192.0.2.1");
    auth_address_key("::ffff:192.0.2.1", k, sizeof(k));
    CHECK_STR(k, "192.0.2.1");
    auth_address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof(k));
    CHECK_STR(k, "2001:db8:1:2::/64");
    auth_address_key("", k, sizeof(k));
    CHECK_STR(k, "");
    auth_address_key("not:an:address", k, sizeof(k));
    CHECK_STR(k, "not:an:address");
    /* failures from one /64 count together */
    CHECK(setup());
    srv.cfg.login_max_failures = 2;
    CHECK(add_user("hal", ROLE_VIEWER, "hal's password"));
    CHECK_INT(auth_login(&srv, "hal", "wrong password", "2001:db8:1:2::1", &res, msg, sizeof(msg)), ==, -401);
    CHECK_INT(auth_login(&srv, "hal", "wrong password", "2001:db8:1:2::2", &res, msg, sizeof(msg)), ==, -401);
    CHECK_INT(auth_login(&srv, "hal", "hal's password", "2001:db8:1:2::3", &res, msg, sizeof(msg)), ==, -429);
    CHECK_INT(auth_login(&srv, "hal", "hal's password", "2001:db8:1:3::3", &res, msg, sizeof(msg)), ==, 0);
}

/* ------------------------------------------------------------------ the last admin */

static void last_admin_protected(void)
{
    int64_t a, b;
    struct store_user u;

    CHECK(setup());
    CHECK((a = add_user("root-admin", ROLE_ADMIN, "admin password 1")));
    CHECK(add_user("viewer1", ROLE_VIEWER, "viewer password"));
    CHECK_INT(store_user_update(srv.store, a, ROLE_RESPONDER, -1), ==, -EPERM);
    CHECK_INT(store_user_update(srv.store, a, 0, 1), ==, -EPERM);
    CHECK_INT(store_user_update(srv.store, a, ROLE_ADMIN, 1), ==, -EPERM);
    CHECK_INT(store_user_delete(srv.store, a), ==, -EPERM);
    CHECK_INT(store_user_get_by_id(srv.store, a, &u), ==, 0);
    CHECK_INT(u.role, ==, ROLE_ADMIN);
    CHECK(!u.disabled);
    /* a disabled second admin does not count */
    CHECK((b = add_user("second-admin", ROLE_ADMIN, "admin password 2")));
    CHECK_INT(store_user_update(srv.store, b, 0, 1), ==, 0);
    CHECK_INT(store_user_delete(srv.store, a), ==, -EPERM);
    /* an enabled one does */
    CHECK_INT(store_user_update(srv.store, b, 0, 0), ==, 0);
    CHECK_INT(store_user_update(srv.store, a, ROLE_VIEWER, -1), ==, 0);
    CHECK_INT(store_user_delete(srv.store, b), ==, -EPERM);
    CHECK_INT(store_user_update(srv.store, a, ROLE_ADMIN, -1), ==, 0);
    CHECK_INT(store_user_delete(srv.store, b), ==, 0);
    CHECK_INT(store_user_delete(srv.store, b), ==, -ENOENT);
    CHECK_INT(store_user_update(srv.store, 9999, ROLE_ADMIN, -1), ==, -ENOENT);
}

/* ------------------------------------------------------------------ the audit log */

static void audit_query_and_append_only(void)
{
    struct store_audit_query q = {.limit = 100};
    struct principal who = {.kind = PRINCIPAL_USER, .user_name = "gil", .role = ROLE_ADMIN};
    int n = 0;

    CHECK(setup());
    CHECK_INT(audit_record(&srv, &who, "192.0.2.9", "user.create", "user:a", "{}"), ==, 0);
    fake_now += 1000;
    CHECK_INT(audit_record(&srv, &who, "192.0.2.9", "user.delete", "user:a", NULL), ==, 0);
    fake_now += 1000;
    CHECK_INT(audit_record(&srv, &who, "192.0.2.9", "token.create", "token:1", NULL), ==, 0);
    CHECK_INT(audit_record(&srv, &who, "192.0.2.9", "usera.odd", NULL, NULL), ==, 0);
    CHECK_INT(store_audit_list(srv.store, &q, count_one, &n), ==, 0);
    CHECK_INT(n, ==, 4);
    n = 0;
    q.action = "user.";
    CHECK_INT(store_audit_list(srv.store, &q, count_one, &n), ==, 0);
    CHECK_INT(n, ==, 2);
    n = 0;
    q.action = "user.delete";
    CHECK_INT(store_audit_list(srv.store, &q, count_one, &n), ==, 0);
    CHECK_INT(n, ==, 1);
    n = 0;
    q.action = NULL;
    q.since_ms = fake_now - 1000;
    CHECK_INT(store_audit_list(srv.store, &q, count_one, &n), ==, 0);
    CHECK_INT(n, ==, 3);
    n = 0;
    q.since_ms = 0;
    q.before_id = 3;
    CHECK_INT(store_audit_list(srv.store, &q, count_one, &n), ==, 0);
    CHECK_INT(n, ==, 2);
    n = 0;
    q.before_id = 0;
    q.limit = 1;
    CHECK_INT(store_audit_list(srv.store, &q, count_one, &n), ==, 0);
    CHECK_INT(n, ==, 1);
    q.limit = 0;
    CHECK_INT(store_audit_list(srv.store, &q, count_one, &n), ==, -EINVAL);
    /* the table refuses changes */
    {
        char *sqlerr = NULL;
        sqlite3 *db;
        char path[128];
        snprintf(path, sizeof(path), "%s/yamori.db", dir);
        CHECK_INT(sqlite3_open(path, &db), ==, SQLITE_OK);
        CHECK(sqlite3_exec(db, "DELETE FROM audit_log", NULL, NULL, &sqlerr) != SQLITE_OK);
        sqlite3_free(sqlerr);
        sqlerr = NULL;
        CHECK(sqlite3_exec(db, "UPDATE audit_log SET action = 'x'", NULL, NULL, &sqlerr) != SQLITE_OK);
        sqlite3_free(sqlerr);
        sqlite3_close(db);
    }
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"hash_and_verify", hash_and_verify},
        {"password_policy", password_policy},
        {"random_secrets", random_secrets},
        {"user_names", user_names},
        {"bootstrap_from_file", bootstrap_from_file},
        {"bootstrap_from_env", bootstrap_from_env},
        {"bootstrap_random_printed_once", bootstrap_random_printed_once},
        {"bootstrap_refuses_weak_password", bootstrap_refuses_weak_password},
        {"sessions_and_csrf", sessions_and_csrf},
        {"password_change_ends_other_sessions", password_change_ends_other_sessions},
        {"tokens_lifecycle", tokens_lifecycle},
        {"token_quota", token_quota},
        {"rate_limit_and_recovery", rate_limit_and_recovery},
        {"rate_limit_per_address", rate_limit_per_address},
        {"address_keys", address_keys},
        {"last_admin_protected", last_admin_protected},
        {"audit_query_and_append_only", audit_query_and_append_only},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("unit/auth", cases, argc, argv);
}
