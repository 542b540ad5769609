/*
 * auth_input.c — strict reading of what people send to the auth, users and
 * tokens routes: user and token names, JSON members of the right type and
 * length (anything else is a 400 that says which member and why), and the
 * small JSON details the audit log keeps.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/jsonw.h"
#include "server/auth.h"

int auth_user_name_valid(const char *name, char *why, size_t whylen)
{
    size_t len = strnlen(name, STORE_USER_NAME_MAX + 1);

    if (len == 0 || len > STORE_USER_NAME_MAX) {
        snprintf(why, whylen, "a user name has 1 to %d characters", STORE_USER_NAME_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || !strchr("._-@", ch))) {
            snprintf(why, whylen, "a user name has lower-case letters, digits and . _ - @, and starts with a letter "
                                  "or digit");
            return -EINVAL;
        }
    }
    return 0;
}

bool auth_token_name_valid(const char *s)
{
    size_t len = strnlen(s, STORE_TOKEN_NAME_MAX + 1);

    if (len == 0 || len > STORE_TOKEN_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return false;
    }
    return true; /* jansson has checked the UTF-8 */
}

bool auth_json_only(json_t *obj, struct http_response *rs, ...)
{
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value) {
        va_list ap;
        const char *allowed;
        bool known = false;

        va_start(ap, rs);
        while ((allowed = va_arg(ap, const char *)))
            if (strcmp(allowed, key) == 0)
                known = true;
        va_end(ap);
        if (!known) {
            http_error(rs, 400, "unknown member \"%.64s\" in the request body", key);
            return false;
        }
    }
    return true;
}

int auth_json_string(json_t *obj, const char *key, bool required, size_t maxlen, const char **out,
                     struct http_response *rs)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        http_error(rs, 400, "\"%s\" is required", key);
        return -1;
    }
    if (!json_is_string(v)) {
        http_error(rs, 400, "\"%s\" must be a string", key);
        return -1;
    }
    if (json_string_length(v) == 0) {
        http_error(rs, 400, "\"%s\" must not be empty", key);
        return -1;
    }
    if (json_string_length(v) > maxlen) {
        http_error(rs, 400, "\"%s\" must be at most %zu bytes long", key, maxlen);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        http_error(rs, 400, "\"%s\" must not contain NUL characters", key);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int auth_json_role(json_t *obj, const char *key, bool required, enum role *out, struct http_response *rs)
{
    const char *name;
    int r = auth_json_string(obj, key, required, 16, &name, rs);

    if (r <= 0)
        return r;
    *out = role_from_name(name);
    if (*out == ROLE_NONE) {
        http_error(rs, 400, "\"%s\" must be one of viewer, analyst, responder, admin", key);
        return -1;
    }
    return 1;
}

void auth_json_time(struct jsonw *w, const char *key, int64_t ms)
{
    if (ms > 0) {
        jsonw_kv_time(w, key, (uint64_t)ms * 1000000u);
    } else {
        jsonw_key(w, key);
        jsonw_null(w);
    }
}

void auth_detail(char *out, size_t outlen, ...)
{
    struct jsonw w;
    va_list ap;
    const char *key;

    jsonw_init(&w);
    jsonw_object_begin(&w);
    va_start(ap, outlen);
    while ((key = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        if (value)
            jsonw_kv_str(&w, key, value);
    }
    va_end(ap);
    jsonw_object_end(&w);
    if (jsonw_failed(&w) || w.len >= outlen)
        snprintf(out, outlen, "{}");
    else
        snprintf(out, outlen, "%.*s", (int)w.len, w.buf);
    jsonw_free(&w);
}
