/*
 * health_rules.c — a device's sensor health from what the server knows of
 * it (see devices.h and docs/api.md, "Sensor health").
 *
 * A pure function of its inputs and the time given, so that the rules are
 * unit-tested with chosen times and the inventory, its filters and the
 * console all agree.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/devices.h"

static const char *const health_names[] = {
    [HEALTH_ACTIVE] = "active",
    [HEALTH_INACTIVE] = "inactive",
    [HEALTH_IMPAIRED] = "impaired communications",
    [HEALTH_NO_DATA] = "no sensor data",
    [HEALTH_MISCONFIGURED] = "misconfigured",
};

const char *devices_health_name(enum device_health h)
{
    if (h < HEALTH_ACTIVE || h > HEALTH_MISCONFIGURED)
        return "unknown";
    return health_names[h];
}

enum device_health devices_health_from_name(const char *text)
{
    char norm[32];
    size_t n = strlen(text);

    if (n == 0 || n >= sizeof(norm))
        return 0;
    for (size_t i = 0; i <= n; i++)
        norm[i] = text[i] == '_' || text[i] == '-' ? ' ' : text[i];
    for (enum device_health h = HEALTH_ACTIVE; h <= HEALTH_MISCONFIGURED; h++)
        if (strcasecmp(norm, health_names[h]) == 0)
            return h;
    if (strcasecmp(norm, "impaired") == 0)
        return HEALTH_IMPAIRED;
    return 0;
}

bool devices_limitation_drops_family(const char *line)
{
    const char *colon = strchr(line, ':');
    size_t n = colon ? (size_t)(colon - line) : 0;

    while (n > 0 && line[n - 1] == ' ')
        n--;
    return n >= 6 && strncmp(line + n - 6, "events", 6) == 0;
}

int64_t devices_last_seen(const struct device_health_input *in)
{
    return in->last_heartbeat_ms > in->last_ingest_ms ? in->last_heartbeat_ms : in->last_ingest_ms;
}

/* "3 hours", "12 minutes", "40 seconds" into out. */
static const char *span(int64_t ms, char *out, size_t outlen)
{
    int64_t s = ms / 1000;

    if (s < 120)
        snprintf(out, outlen, "%lld seconds", (long long)s);
    else if (s < 7200)
        snprintf(out, outlen, "%lld minutes", (long long)(s / 60));
    else if (s < 2 * 86400)
        snprintf(out, outlen, "%lld hours", (long long)(s / 3600));
    else
        snprintf(out, outlen, "%lld days", (long long)(s / 86400));
    return out;
}

enum device_health devices_health(const struct device_health_input *in, int64_t now_ms, char *why, size_t whylen)
{
    char dummy[8], t[48];
    int64_t seen = devices_last_seen(in);
    int64_t contact = in->last_heartbeat_ms > in->enrolled_ms ? in->last_heartbeat_ms : in->enrolled_ms;
    int64_t data = in->last_ingest_ms > in->enrolled_ms ? in->last_ingest_ms : in->enrolled_ms;
    int64_t interval = in->heartbeat_interval_ms > 0 ? in->heartbeat_interval_ms : 30000;
    const char *backend = in->sensor_backend ? in->sensor_backend : "";
    bool runs = backend[0] && strcmp(backend, "none") != 0 && strcmp(backend, "unknown") != 0;

    if (!why) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    /* inactive: offboarded, or nothing heard for 7 days */
    if (in->offboarded_ms) {
        snprintf(why, whylen, "the device was offboarded");
        return HEALTH_INACTIVE;
    }
    if (now_ms - (seen > in->enrolled_ms ? seen : in->enrolled_ms) > DEVICE_INACTIVE_MS) {
        snprintf(why, whylen, seen ? "nothing heard from the device for %s" : "no heartbeat since enrollment %s ago",
                 span(now_ms - (seen ? seen : in->enrolled_ms), t, sizeof(t)));
        return HEALTH_INACTIVE;
    }
    /* impaired communications: heartbeats late, or uploads failing */
    if (now_ms - contact > DEVICE_LATE_INTERVALS * interval) {
        snprintf(why, whylen, "%s for %s (expected every %lld seconds)",
                 in->last_heartbeat_ms ? "no heartbeat" : "no heartbeat since enrollment",
                 span(now_ms - contact, t, sizeof(t)), (long long)(interval / 1000));
        return HEALTH_IMPAIRED;
    }
    if (in->heartbeat_seen && in->upload_failures >= DEVICE_UPLOAD_FAILURES) {
        snprintf(why, whylen, "the agent reports %lld failed event uploads in a row", (long long)in->upload_failures);
        return HEALTH_IMPAIRED;
    }
    /* no sensor data: the sensor runs, yet no events for an hour */
    if (in->heartbeat_seen && runs && now_ms - data > DEVICE_NO_DATA_MS) {
        snprintf(why, whylen, "no events %s for %s while the %s sensor runs",
                 in->last_ingest_ms ? "stored" : "received since enrollment", span(now_ms - data, t, sizeof(t)),
                 backend);
        return HEALTH_NO_DATA;
    }
    /* misconfigured: the sensor is off, degraded, or misses a family */
    if (in->heartbeat_seen) {
        if (!runs) {
            snprintf(why, whylen, "the agent reports that no sensor is running");
            return HEALTH_MISCONFIGURED;
        }
        if (strcmp(backend, "fallback") == 0) {
            snprintf(why, whylen, "the sensor runs on the fallback back end (eBPF unavailable)");
            return HEALTH_MISCONFIGURED;
        }
        for (size_t i = 0; i < in->nlimitations; i++) {
            if (devices_limitation_drops_family(in->limitations[i])) {
                snprintf(why, whylen, "sensor limitation: %.300s", in->limitations[i]);
                return HEALTH_MISCONFIGURED;
            }
        }
    }
    snprintf(why, whylen, in->heartbeat_seen ? "heartbeats and events arrive" : "enrolled; waiting for the first heartbeat");
    return HEALTH_ACTIVE;
}
