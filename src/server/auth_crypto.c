/*
 * auth_crypto.c — the cryptography of people's credentials, all from
 * libsodium: argon2id password hashes (crypto_pwhash_str, interactive
 * limits: 2 passes over 64 MiB, about 0.1 s), random secrets
 * (randombytes), SHA-256 of session and API tokens, and the password
 * policy. See auth.h for the formats.
 *
 * Session and API tokens carry 256 random bits, so a plain SHA-256 is
 * enough to keep them: nobody can guess one from its hash, and looking a
 * token up by its hash costs one index probe instead of an argon2 run.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "common/log.h"
#include "server/auth.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_state;

static void sodium_setup(void)
{
    sodium_state = sodium_init() < 0 ? -EIO : 0;
    if (sodium_state)
        log_error("libsodium could not be initialised");
}

int auth_crypto_init(void)
{
    pthread_once(&sodium_once, sodium_setup);
    return sodium_state;
}

/* Length in bytes of the UTF-8 sequence starting at s, or 0 when it is not
 * valid (overlong forms, surrogates and code points above U+10FFFF too). */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

int auth_password_policy(const char *password, const char *user_name, char *why, size_t whylen)
{
    size_t len = strnlen(password, AUTH_PASSWORD_MAX_BYTES + 1), chars = 0;

    if (len > AUTH_PASSWORD_MAX_BYTES) {
        snprintf(why, whylen, "a password must be at most %d bytes long", AUTH_PASSWORD_MAX_BYTES);
        return -EINVAL;
    }
    for (size_t i = 0; i < len;) {
        const unsigned char *p = (const unsigned char *)password + i;
        size_t n = utf8_seq(p);
        if (n == 0) {
            snprintf(why, whylen, "a password must be valid UTF-8 text");
            return -EINVAL;
        }
        if (n == 1 && (p[0] < 0x20 || p[0] == 0x7f)) {
            snprintf(why, whylen, "a password must not contain control characters (tabs, line breaks, ...)");
            return -EINVAL;
        }
        i += n;
        chars++;
    }
    if (chars < AUTH_PASSWORD_MIN_CHARS) {
        snprintf(why, whylen, "a password must be at least %d characters long (and at most %d bytes)",
                 AUTH_PASSWORD_MIN_CHARS, AUTH_PASSWORD_MAX_BYTES);
        return -EINVAL;
    }
    if (user_name && strcmp(password, user_name) == 0) {
        snprintf(why, whylen, "a password must not be the user name");
        return -EINVAL;
    }
    return 0;
}

int auth_password_hash(const char *password, char out[STORE_PWHASH_MAX])
{
    _Static_assert(crypto_pwhash_STRBYTES <= STORE_PWHASH_MAX, "STORE_PWHASH_MAX too small");
    if (auth_crypto_init() != 0)
        return -EIO;
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -ENOMEM;
    return 0;
}

bool auth_password_verify(const char *hash, const char *password)
{
    if (auth_crypto_init() != 0 || !hash || !password || strnlen(hash, STORE_PWHASH_MAX) >= STORE_PWHASH_MAX ||
        strncmp(hash, "$argon2id$", 10) != 0)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool auth_password_needs_rehash(const char *hash)
{
    if (auth_crypto_init() != 0)
        return false;
    return crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[STORE_PWHASH_MAX];

static void dummy_setup(void)
{
    char pw[AUTH_RANDOM_PASSWORD_LEN + 1];
    auth_random_password(pw, sizeof(pw), AUTH_RANDOM_PASSWORD_LEN);
    if (auth_password_hash(pw, dummy_hash) != 0)
        dummy_hash[0] = '\0';
    sodium_memzero(pw, sizeof(pw));
}

void auth_password_dummy_verify(const char *password)
{
    pthread_once(&dummy_once, dummy_setup);
    if (dummy_hash[0])
        (void)auth_password_verify(dummy_hash, password);
}

void auth_random_password(char *out, size_t outlen, size_t len)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    if (outlen == 0)
        return;
    if (len >= outlen)
        len = outlen - 1;
    (void)auth_crypto_init();
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[randombytes_uniform((uint32_t)(sizeof(alphabet) - 1))];
    out[len] = '\0';
}

void auth_new_secret(const char *prefix, char *text, size_t textlen, uint8_t hash[STORE_SECRET_HASH_LEN])
{
    unsigned char raw[32];
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

    (void)auth_crypto_init();
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(text, textlen, "%s%s", prefix, b64);
    if (hash)
        auth_secret_hash(text, hash);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(b64, sizeof(b64));
}

void auth_secret_hash(const char *text, uint8_t hash[STORE_SECRET_HASH_LEN])
{
    _Static_assert(crypto_hash_sha256_BYTES == STORE_SECRET_HASH_LEN, "SHA-256 length");
    (void)auth_crypto_init();
    crypto_hash_sha256(hash, (const unsigned char *)text, strlen(text));
}

bool auth_secret_well_formed(const char *text, const char *prefix)
{
    size_t pl = strlen(prefix);

    if (!text || strncmp(text, prefix, pl) != 0 || strnlen(text, pl + AUTH_CSRF_LEN + 1) != pl + AUTH_CSRF_LEN)
        return false;
    for (const char *p = text + pl; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            return false;
    return true;
}
