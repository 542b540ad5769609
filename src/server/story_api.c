/*
 * story_api.c — GET /api/v1/devices/{id}/story: the story of one process
 * of a device (story.h), for people (viewer and up).
 *
 *   ?process=UID            its ProcessUniqueId (required)
 *   &time=RFC3339|NS        the moment to tell it around (default: the
 *                           process's start)
 *
 * {id} is a device id or name (devices_resolve). Answers 400 for a
 * malformed argument, 404 for an unknown device or a process with no
 * recorded event on it, and the story's JSON otherwise.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/devices_int.h"
#include "server/events_time.h"
#include "server/server.h"
#include "server/store.h"
#include "server/story.h"

#define MAX_TIME_TEXT 40

/* BOOTID8-PID-TICKS: 8 hex digits, 1..10 digits, 1..20 digits. */
static bool valid_uid(const char *s)
{
    size_t i = 0, n;

    for (; i < 8; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    if (s[i++] != '-')
        return false;
    for (n = 0; isdigit((unsigned char)s[i]); i++)
        n++;
    if (n < 1 || n > 10 || s[i++] != '-')
        return false;
    for (n = 0; isdigit((unsigned char)s[i]); i++)
        n++;
    return n >= 1 && n <= 20 && s[i] == '\0';
}

/* time=: nanoseconds since the epoch, or an RFC 3339 time. */
static bool parse_moment(const char *s, int64_t now_ns, int64_t *out)
{
    size_t n = strlen(s);

    if (n == 0 || n > MAX_TIME_TEXT)
        return false;
    if (strspn(s, "0123456789") == n) {
        char *end;
        unsigned long long v;
        if (n > 19)
            return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v == 0 || v > INT64_MAX)
            return false;
        *out = (int64_t)v;
        return true;
    }
    /* a date, not a duration back from now */
    if (n < 20 || s[4] != '-')
        return false;
    return events_parse_time(s, now_ns, out) == 0 && *out > 0;
}

static void get_story(struct http_request *rq, struct http_response *rs)
{
    struct server *srv = http_server(rq);
    const char *process = http_query(rq, "process"), *moment = http_query(rq, "time");
    struct store_device d;
    struct story *s = NULL;
    int64_t around = 0;
    char err[256];
    int e;

    if (!process || !*process) {
        http_error(rs, 400, "process: the ProcessUniqueId of the process is required (?process=BOOTID8-PID-TICKS)");
        return;
    }
    if (strlen(process) > 40 || !valid_uid(process)) {
        http_error(rs, 400, "process: expected a ProcessUniqueId such as f5647a1c-4242-1203311");
        return;
    }
    if (moment && !parse_moment(moment, store_now_ms(srv->store) * 1000000, &around)) {
        http_error(rs, 400, "time: expected an RFC 3339 time (2026-11-26T10:12:00Z) or nanoseconds since the epoch");
        return;
    }
    if (devices_resolve(rq, rs, &d) != 0)
        return;
    e = story_build(srv->store, d.id, process, around, NULL, &s, err, sizeof(err));
    store_device_clear(&d);
    if (e == -ENOENT) {
        http_error(rs, 404, "%s", err);
        return;
    }
    if (e == -EINVAL) {
        http_error(rs, 400, "%s", err);
        return;
    }
    if (e) {
        http_error(rs, 500, "%s", err);
        return;
    }
    story_json(s, http_json(rs));
    story_free(s);
}

static const struct route story_routes[] = {
    {HTTP_GET, "/api/v1/devices/:id/story", ACCESS_USER, ROLE_VIEWER, 0, get_story,
     "the process tree around one process of a device, in words (process, time)"},
    {0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct server_module story_module = {
    .name = "story",
    .order = 46,
    .routes = story_routes,
};
SERVER_MODULE(story_module);
