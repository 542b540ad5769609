/*
 * store_auth.h — people, their credentials and the audit log, in the store.
 *
 * Owned by the auth module (src/server/auth*.c, users.c, tokens.c; SQL in
 * store_sqlite_auth.c and, for the audit log, audit.c). Passwords are kept
 * as argon2id strings (crypto_pwhash_str); session and API tokens only as
 * the SHA-256 of their text, so the database never holds a usable
 * credential. Roles are the values of enum role (server/http.h): 1 viewer
 * to 4 admin.
 *
 * Times are milliseconds since the epoch from store_now_ms(), so tests can
 * move the clock with store_set_clock().
 */
#ifndef YAMORI_SERVER_STORE_AUTH_H
#define YAMORI_SERVER_STORE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_USER_NAME_MAX 63     /* bytes, without the NUL (fits struct principal) */
#define STORE_TOKEN_NAME_MAX 64
#define STORE_PWHASH_MAX 128       /* crypto_pwhash_STRBYTES */
#define STORE_CSRF_MAX 64
#define STORE_SECRET_HASH_LEN 32   /* SHA-256 of a session or API token */

/* ------------------------------------------------------------ users */

struct store_user {
    int64_t id;
    char name[STORE_USER_NAME_MAX + 1];
    int role;                           /* enum role */
    bool disabled;
    char password_hash[STORE_PWHASH_MAX];
    int64_t created_ms, updated_ms, password_changed_ms;
    int64_t last_login_ms;              /* 0: never */
};

/* The number of users (enabled or not) in *n. */
int store_user_count(struct store *st, int64_t *n);

/* Creates a user; *id (may be NULL) receives its id. -EEXIST when the name
 * is taken. The caller has checked the name, role and hash. */
int store_user_create(struct store *st, const char *name, int role, const char *password_hash, int64_t *id);

/* One user by name or id; -ENOENT when there is none. */
int store_user_get(struct store *st, const char *name, struct store_user *out);
int store_user_get_by_id(struct store *st, int64_t id, struct store_user *out);

/* Calls fn for every user, by name. fn returns 0 to go on, anything else
 * stops the walk and is returned. */
int store_user_list(struct store *st, int (*fn)(const struct store_user *u, void *ctx), void *ctx);

/* Changes a user's role (role 0: unchanged) and whether it is disabled
 * (disabled -1: unchanged, 0: enable, 1: disable), in one transaction;
 * disabling ends the user's sessions. -EPERM when the change would leave
 * no enabled admin (nothing is changed), -ENOENT when there is no such
 * user. */
int store_user_update(struct store *st, int64_t id, int role, int disabled);

/* Replaces a user's password hash and ends the user's sessions except
 * keep_session (0: all). -ENOENT when there is no such user. */
int store_user_set_password(struct store *st, int64_t id, const char *password_hash, int64_t keep_session);

/* Replaces the hash of an unchanged password (a rehash with stronger
 * parameters after a login): no session ends, the change time stays. */
int store_user_rehash(struct store *st, int64_t id, const char *password_hash);

/* Records a successful login. */
int store_user_touch_login(struct store *st, int64_t id);

/* Deletes a user with its sessions and API tokens. -EPERM when it is the
 * last enabled admin, -ENOENT when there is no such user. */
int store_user_delete(struct store *st, int64_t id);

/* ------------------------------------------------------------ sessions */

/* A session with what the authenticator needs of its user. */
struct store_session {
    int64_t id;
    int64_t user_id;
    char user_name[STORE_USER_NAME_MAX + 1];
    int user_role;
    bool user_disabled;
    char csrf[STORE_CSRF_MAX + 1];
    int64_t created_ms, expires_ms, last_used_ms;
};

/* Creates a session for user_id, identified by the SHA-256 of its token.
 * Expired sessions of every user are removed, and the user's oldest
 * sessions beyond max_per_user. *id (may be NULL) receives the id. */
int store_session_create(struct store *st, int64_t user_id, const uint8_t hash[STORE_SECRET_HASH_LEN],
                         const char *csrf, int64_t expires_ms, const char *remote_ip, unsigned max_per_user,
                         int64_t *id);

/* The session whose token hashes to hash, expired or not; -ENOENT. */
int store_session_lookup(struct store *st, const uint8_t hash[STORE_SECRET_HASH_LEN], struct store_session *out);

/* Ends one session; -ENOENT when it was already gone. */
int store_session_delete(struct store *st, int64_t id);

/* Sets the last-used time of a session. */
int store_session_touch(struct store *st, int64_t id, int64_t now_ms);

/* ------------------------------------------------------------ API tokens */

struct store_token {
    int64_t id;
    int64_t user_id;
    char user_name[STORE_USER_NAME_MAX + 1];
    int user_role;                      /* the owner's current role */
    bool user_disabled;
    char name[STORE_TOKEN_NAME_MAX + 1];
    int role;                           /* the role given at creation */
    int64_t created_ms;
    int64_t expires_ms;                 /* 0: never */
    int64_t last_used_ms;               /* 0: never */
    int64_t revoked_ms;                 /* 0: not revoked */
};

/* Creates a token for user_id, identified by the SHA-256 of its text.
 * -EDQUOT when the user already has max_active tokens that are neither
 * revoked nor expired. Tokens of the user revoked or expired more than 30
 * days ago are removed. *id (may be NULL) receives the id. */
int store_token_create(struct store *st, int64_t user_id, const char *name, int role,
                       const uint8_t hash[STORE_SECRET_HASH_LEN], int64_t expires_ms, unsigned max_active,
                       int64_t *id);

/* The token whose text hashes to hash (revoked and expired ones too);
 * -ENOENT. */
int store_token_lookup(struct store *st, const uint8_t hash[STORE_SECRET_HASH_LEN], struct store_token *out);

/* One token by id; -ENOENT. */
int store_token_get(struct store *st, int64_t id, struct store_token *out);

/* Calls fn for every token of user_id (0: of every user), newest first;
 * fn returns 0 to go on. */
int store_token_list(struct store *st, int64_t user_id, int (*fn)(const struct store_token *t, void *ctx),
                     void *ctx);

/* Revokes a token; -ENOENT when there is none, -EALREADY when it was
 * already revoked. */
int store_token_revoke(struct store *st, int64_t id);

/* Sets the last-used time of a token. */
int store_token_touch(struct store *st, int64_t id, int64_t now_ms);

/* ------------------------------------------------------------ failed logins */

/* Records a failed login for (user_name, remote_ip) at now_ms, and forgets
 * failures older than forget_before_ms. */
int store_login_failure_add(struct store *st, const char *user_name, const char *remote_ip, int64_t now_ms,
                            int64_t forget_before_ms);

/* The time of the n-th newest failure (n >= 1) from remote_ip, for
 * user_name (NULL: for any name), at or after since_ms, in *ts_ms;
 * -ENOENT when there are fewer than n. */
int store_login_failure_nth(struct store *st, const char *user_name, const char *remote_ip, int64_t since_ms,
                            unsigned n, int64_t *ts_ms);

/* Forgets the failures of (user_name, remote_ip) (after a good login). */
int store_login_failure_clear(struct store *st, const char *user_name, const char *remote_ip);

/* ------------------------------------------------------------ the audit log (audit.c) */

struct store_audit_entry {
    int64_t id;
    int64_t ts_ms;
    const char *actor_kind;             /* user, device, anonymous, system */
    const char *actor;                  /* may be NULL */
    const char *remote_ip;              /* may be NULL */
    const char *action;
    const char *target;                 /* may be NULL */
    const char *detail;                 /* may be NULL */
};

struct store_audit_query {
    int64_t since_ms;                   /* 0: from the start */
    int64_t before_id;                  /* 0: from the newest; else entries with a smaller id */
    const char *action;                 /* NULL: any; "user.create": exactly; "user.": this prefix */
    unsigned limit;                     /* 1..10000 */
};

/* Calls fn for the entries matching q, newest first. The strings of an
 * entry are valid during the call only. fn returns 0 to go on. */
int store_audit_list(struct store *st, const struct store_audit_query *q,
                     int (*fn)(const struct store_audit_entry *e, void *ctx), void *ctx);

#endif
