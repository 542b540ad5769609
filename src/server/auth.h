/*
 * auth.h — people's credentials: passwords, login sessions, API tokens,
 * failed-login limits, and the first admin.
 *
 * The auth module (auth.c) installs the user authenticator, creates the
 * first admin at first start and serves the /api/v1/auth routes; users.c serves
 * /api/v1/users (admins), tokens.c /api/v1/tokens. What they share is
 * declared here: the password policy and hashing (argon2id through
 * libsodium, auth_crypto.c), the token formats, the checks behind the
 * authenticator, the login itself, and small helpers for reading JSON
 * request bodies strictly.
 *
 * The checks take plain strings rather than a request, so tests can drive
 * them against a store with a fake clock (store_set_clock).
 *
 * Token formats: an API token is "ymt_" followed by 43 characters of
 * base64url (32 random bytes); a session token is "yms_" and the same. The
 * store keeps only SHA-256 of the whole text. A CSRF token is 43 characters
 * of base64url.
 */
#ifndef YAMORI_SERVER_AUTH_H
#define YAMORI_SERVER_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "server/http.h"
#include "server/store.h"

struct server;

#define AUTH_PASSWORD_MIN_CHARS 12
#define AUTH_PASSWORD_MAX_BYTES 1024
#define AUTH_TOKEN_PREFIX "ymt_"
#define AUTH_SESSION_PREFIX "yms_"
#define AUTH_SECRET_TEXT_LEN 47     /* prefix + 43 */
#define AUTH_CSRF_LEN 43
#define AUTH_SESSION_COOKIE "yamori_session"
#define AUTH_CSRF_HEADER "X-CSRF-Token"
#define AUTH_MAX_SESSIONS_PER_USER 20
#define AUTH_MAX_TOKENS_PER_USER 50
#define AUTH_RANDOM_PASSWORD_LEN 24
#define AUTH_FIRST_ADMIN "admin"
/* failures from one address, across user names, allowed per window:
 * this many times login_max_failures */
#define AUTH_ADDRESS_FAILURE_FACTOR 4

/* ------------------------------------------------------------ auth_crypto.c */

/* Initialises libsodium (idempotent, thread-safe). 0 or -EIO. */
int auth_crypto_init(void);

/* Whether password may be set: at least AUTH_PASSWORD_MIN_CHARS characters
 * (UTF-8 code points), at most AUTH_PASSWORD_MAX_BYTES bytes, valid UTF-8
 * without control characters, not the user name. 0, or -EINVAL with the
 * rule in why. */
int auth_password_policy(const char *password, const char *user_name, char *why, size_t whylen);

/* Hashes password with argon2id (libsodium's interactive limits) into out
 * (STORE_PWHASH_MAX bytes). 0, or -ENOMEM when the memory it needs is not
 * there. */
int auth_password_hash(const char *password, char out[STORE_PWHASH_MAX]);

/* Whether password matches hash (constant time in the password). An
 * unreadable hash never matches. */
bool auth_password_verify(const char *hash, const char *password);

/* Whether hash was made with weaker parameters than today's. */
bool auth_password_needs_rehash(const char *hash);

/* Burns as much time as one verification, for logins of unknown users. */
void auth_password_dummy_verify(const char *password);

/* A random password of len characters (len < outlen) from an alphabet
 * without look-alikes (no 0/O, 1/l/I). */
void auth_random_password(char *out, size_t outlen, size_t len);

/* A new secret: prefix + 43 base64url characters into text (at least
 * AUTH_SECRET_TEXT_LEN + 1 bytes), its SHA-256 into hash. prefix may be ""
 * (CSRF tokens). */
void auth_new_secret(const char *prefix, char *text, size_t textlen, uint8_t hash[STORE_SECRET_HASH_LEN]);

/* SHA-256 of text. */
void auth_secret_hash(const char *text, uint8_t hash[STORE_SECRET_HASH_LEN]);

/* Whether text has the form of a secret with prefix (length, alphabet). */
bool auth_secret_well_formed(const char *text, const char *prefix);

/* ------------------------------------------------------------ names and input (auth_input.c) */

/* Whether name is a valid user name: 1 to 63 characters, lower-case
 * letters, digits, '.', '_', '-', '@', starting with a letter or digit.
 * 0, or -EINVAL with the rule in why. */
int auth_user_name_valid(const char *name, char *why, size_t whylen);

/* Whether s is a valid token name: 1 to 64 bytes of UTF-8 without control
 * characters. */
bool auth_token_name_valid(const char *s);

/* Answers 400 and returns false unless every member of obj is one of the
 * NULL-terminated names. */
bool auth_json_only(json_t *obj, struct http_response *rs, ...) __attribute__((sentinel));

/* Reads obj[key] as a string of 1 to maxlen bytes. Returns 1 with *out
 * set (borrowed from obj), 0 when absent or null and not required, -1
 * after answering 400 (wrong type, empty, too long, or missing and
 * required). */
int auth_json_string(json_t *obj, const char *key, bool required, size_t maxlen, const char **out,
                     struct http_response *rs);

/* Reads obj[key] as a role name. Returns 1 with *out, 0 when absent and
 * not required, -1 after answering 400. */
int auth_json_role(json_t *obj, const char *key, bool required, enum role *out, struct http_response *rs);

/* Writes "key": RFC 3339 time, or null for 0. */
void auth_json_time(struct jsonw *w, const char *key, int64_t ms);

/* Copies a string into a JSON string literal for audit details: writes a
 * small JSON object of (key, value) pairs (NULL-terminated, values may be
 * NULL) into out. */
void auth_detail(char *out, size_t outlen, ...) __attribute__((sentinel));

/* ------------------------------------------------------------ authentication (auth.c) */

/* Checks an API token (the text after "Bearer "). Returns 1 with p filled,
 * or -401 with the reason in msg (unknown, revoked, expired, disabled
 * owner). The role is capped by the owner's current role. */
int auth_check_token(struct server *srv, const char *token, struct principal *p, char *msg, size_t msglen);

/* Checks a session cookie for a request of method carrying the CSRF header
 * value csrf (may be NULL). Returns 1 with p filled, -401 (unknown or
 * expired session, disabled user) or -403 (a change without the session's
 * CSRF token) with the reason in msg. */
int auth_check_session(struct server *srv, const char *cookie, enum http_method method, const char *csrf,
                       struct principal *p, char *msg, size_t msglen);

/* The outcome of a login. */
struct auth_login_result {
    struct store_user user;
    int64_t session_id;
    char session_token[AUTH_SECRET_TEXT_LEN + 1];
    char csrf[AUTH_CSRF_LEN + 1];
    int64_t expires_ms;
    unsigned retry_after_s;   /* with -429 */
};

/* Signs user in with password from remote_ip: checks the failed-login
 * limits (without looking at the password when they are reached), the
 * password, and creates a session. Records every outcome in the audit log.
 * Returns 0 with out filled (the caller sets the cookie, then wipes
 * out->session_token), -429 with out->retry_after_s, -401 (wrong name or
 * password, disabled account) or another -errno, with a message in msg. */
int auth_login(struct server *srv, const char *user, const char *password, const char *remote_ip,
               struct auth_login_result *out, char *msg, size_t msglen);

/* The failed-login limits for (user, remote_ip) now: 0 when a login may be
 * tried, -429 with *retry_after_s when not. */
int auth_login_allowed(struct server *srv, const char *user, const char *remote_ip, unsigned *retry_after_s);

/* The address failed logins are counted under: remote_ip for IPv4, the
 * IPv4 address of an IPv4-mapped IPv6 address, the /64 prefix
 * ("2001:db8:1:2::/64") of other IPv6 addresses. */
void auth_address_key(const char *remote_ip, char *out, size_t outlen);

/* Counts one failed login for (user, remote_ip). */
int auth_login_failed(struct server *srv, const char *user, const char *remote_ip);

/* Creates the first admin when the store has no user: the password from
 * the file named by admin_password_file, else $YAMORI_ADMIN_PASSWORD, else
 * a random one printed once to out ("first admin: user admin, password
 * ..."). $YAMORI_ADMIN_PASSWORD is wiped from the environment either way.
 * Returns 0 (also when users exist: nothing is done), or -errno with the
 * reason in err (unreadable file, password against the policy). */
int auth_bootstrap(struct server *srv, FILE *out, char *err, size_t errlen);

/* A principal for user u (audit entries written on behalf of a login). */
void auth_principal_of_user(const struct store_user *u, struct principal *p);

/* The authenticator installed with http_set_user_authenticator(). */
int auth_authenticate(struct server *srv, struct http_request *rq, struct http_response *rs, struct principal *p);

#endif
