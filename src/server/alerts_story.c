/*
 * alerts_story.c — the alert story on an alert's page: the process tree
 * around the process the alert is about (story.c), with every alert of
 * the same device whose process is in that tree marked on its node, so an
 * analyst sees the other steps of the attack where they happened.
 */
#include <errno.h>
#include <string.h>

#include "common/jsonw.h"
#include "server/alerts.h"
#include "server/server.h"
#include "server/store_alerts.h"
#include "server/story.h"

/* Alerts further from the story's time than this are not looked at for
 * marks (a tree lives for hours, not weeks). */
#define MARK_WINDOW_MS (7LL * 24 * 3600 * 1000)
#define MARK_MAX_ALERTS 5000

static void mark_alerts(struct store *st, struct story *s)
{
    struct store_alert_filter f = {
        .device_id = story_device_id(s),
        .limit = MARK_MAX_ALERTS,
    };
    struct store_alert *v = NULL;
    size_t n = 0;
    int64_t t_ms = story_time_ns(s) / 1000000;

    f.since_ms = t_ms > MARK_WINDOW_MS ? t_ms - MARK_WINDOW_MS : 0;
    if (store_alert_list(st, &f, &v, &n, NULL) != 0)
        return; /* the story stands without its marks */
    for (size_t i = 0; i < n; i++) {
        const char *sev = alerts_severity_name(v[i].severity);
        if (v[i].process_uid[0])
            (void)story_mark(s, v[i].process_uid, v[i].id, v[i].title, sev ? sev : "");
    }
    store_alerts_free(v, n);
}

int alerts_story_write(struct server *srv, const struct store_alert *alert, struct jsonw *w)
{
    struct story *s = NULL;
    char err[256];
    int e;

    if (!alert->process_uid[0])
        return -ENOENT; /* a logon or a correlation without a process: no tree */
    e = story_build(srv->store, alert->device_id, alert->process_uid, alert->first_event_ns, NULL, &s, err,
                    sizeof(err));
    if (e)
        return e;
    mark_alerts(srv->store, s);
    story_json(s, w);
    story_free(s);
    return 0;
}
