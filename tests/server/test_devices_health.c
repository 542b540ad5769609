/*
 * test_devices_health.c — the sensor health rules (server/devices.h) with
 * times chosen by the test: each rule, its boundaries, and which rule wins
 * when several hold.
 */
#include "check.h"

#include "server/devices.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

/* "now" for every case: an arbitrary fixed time */
static const int64_t NOW = 1795000000000LL;

/* A device that enrolled 30 days ago, sends heartbeats every 30 s and
 * events, with the eBPF sensor and no limitations: active. */
static struct device_health_input healthy(void)
{
    return (struct device_health_input){
        .enrolled_ms = NOW - 30 * DAY,
        .last_heartbeat_ms = NOW - 10 * SEC,
        .last_ingest_ms = NOW - 5 * SEC,
        .heartbeat_interval_ms = 30 * SEC,
        .heartbeat_seen = true,
        .sensor_backend = "ebpf",
        .upload_failures = 0,
    };
}

static void test_active(void)
{
    struct device_health_input in = healthy();
    char why[256];

    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_ACTIVE);
    CHECK_STR(devices_health_name(HEALTH_ACTIVE), "active");
    CHECK(why[0]);
    /* no reason buffer is fine too */
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_ACTIVE);
}

static void test_inactive_after_seven_days(void)
{
    struct device_health_input in = healthy();
    char why[256];

    in.last_heartbeat_ms = NOW - 7 * DAY - 1;
    in.last_ingest_ms = NOW - 8 * DAY;
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_INACTIVE);
    CHECK_MSG(strstr(why, "7 days") != NULL, "why: %s", why);
    /* exactly 7 days is still only late */
    in.last_heartbeat_ms = NOW - 7 * DAY;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_IMPAIRED);
    /* a recent event ingest keeps it from being inactive */
    in.last_heartbeat_ms = NOW - 8 * DAY;
    in.last_ingest_ms = NOW - 1 * MIN;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_IMPAIRED);
    /* never heard of since an enrollment 8 days ago */
    in = healthy();
    in.enrolled_ms = NOW - 8 * DAY;
    in.last_heartbeat_ms = 0;
    in.last_ingest_ms = 0;
    in.heartbeat_seen = false;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_INACTIVE);
}

static void test_offboarded_is_inactive(void)
{
    struct device_health_input in = healthy();
    char why[256];

    in.offboarded_ms = NOW - 1 * MIN;
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_INACTIVE);
    CHECK_MSG(strstr(why, "offboarded") != NULL, "why: %s", why);
}

static void test_impaired_when_heartbeats_late(void)
{
    struct device_health_input in = healthy();
    char why[256];

    /* three intervals of silence are tolerated, a moment more is not */
    in.last_heartbeat_ms = NOW - 90 * SEC;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_ACTIVE);
    in.last_heartbeat_ms = NOW - 90 * SEC - 1;
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_IMPAIRED);
    CHECK_MSG(strstr(why, "no heartbeat") != NULL, "why: %s", why);
    /* the interval is the configured one */
    in.heartbeat_interval_ms = 60 * SEC;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_ACTIVE);
    /* events still arriving do not hide late heartbeats */
    in = healthy();
    in.last_heartbeat_ms = NOW - 10 * MIN;
    in.last_ingest_ms = NOW - 1 * SEC;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_IMPAIRED);
}

static void test_impaired_when_uploads_fail(void)
{
    struct device_health_input in = healthy();
    char why[256];

    in.upload_failures = 2;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_ACTIVE);
    in.upload_failures = 3;
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_IMPAIRED);
    CHECK_MSG(strstr(why, "3 failed") != NULL, "why: %s", why);
    /* an agent that does not report the figure is not judged on it */
    in.upload_failures = -1;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_ACTIVE);
}

static void test_no_sensor_data(void)
{
    struct device_health_input in = healthy();
    char why[256];

    in.last_ingest_ms = NOW - 1 * HOUR;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_ACTIVE);
    in.last_ingest_ms = NOW - 1 * HOUR - 1;
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_NO_DATA);
    CHECK_MSG(strstr(why, "ebpf") != NULL, "why: %s", why);
    /* no events ever: counted from the enrollment */
    in.last_ingest_ms = 0;
    in.enrolled_ms = NOW - 30 * MIN;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_ACTIVE);
    in.enrolled_ms = NOW - 2 * HOUR;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_NO_DATA);
    /* a sensor that says it does not run is misconfigured, not silent */
    in.sensor_backend = "none";
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_MISCONFIGURED);
    CHECK_MSG(strstr(why, "no sensor") != NULL, "why: %s", why);
    in.sensor_backend = "unknown";
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_MISCONFIGURED);
}

static void test_misconfigured(void)
{
    const char *dropped[] = {"kernel module loads: this kernel has no module support (no init_module system calls)",
                             "network events: disabled by configuration"};
    const char *harmless[] = {"kernel module loads: this kernel has no module support (no init_module system calls)",
                              "ptrace: the proc connector reports successful attaches only"};
    struct device_health_input in = healthy();
    char why[256];

    in.sensor_backend = "fallback";
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_MISCONFIGURED);
    CHECK_MSG(strstr(why, "fallback") != NULL, "why: %s", why);

    in.sensor_backend = "ebpf";
    in.limitations = harmless;
    in.nlimitations = 2;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_ACTIVE);
    in.limitations = dropped;
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_MISCONFIGURED);
    CHECK_MSG(strstr(why, "network events") != NULL, "why: %s", why);
    CHECK(devices_limitation_drops_family("file events: cannot load the BPF programs: Operation not permitted"));
    CHECK(devices_limitation_drops_family("module, ptrace, credential, memfd and bpf events: disabled by configuration"));
    CHECK(!devices_limitation_drops_family("kernel module loads: no module support"));
    CHECK(!devices_limitation_drops_family("events"));
    CHECK(!devices_limitation_drops_family(""));
}

static void test_first_matching_rule_wins(void)
{
    const char *dropped[] = {"file events: disabled by configuration"};
    struct device_health_input in = healthy();

    /* late heartbeats and a degraded sensor: communications first */
    in.sensor_backend = "fallback";
    in.last_heartbeat_ms = NOW - 5 * MIN;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_IMPAIRED);
    /* no data at all and a degraded sensor: no data first */
    in.last_heartbeat_ms = NOW - 5 * SEC;
    in.last_ingest_ms = NOW - 2 * HOUR;
    in.limitations = dropped;
    in.nlimitations = 1;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_NO_DATA);
    /* inactive beats everything */
    in.last_heartbeat_ms = NOW - 9 * DAY;
    in.last_ingest_ms = NOW - 9 * DAY;
    CHECK_INT(devices_health(&in, NOW, NULL, 0), ==, HEALTH_INACTIVE);
}

static void test_before_the_first_heartbeat(void)
{
    struct device_health_input in = {
        .enrolled_ms = NOW - 20 * SEC,
        .heartbeat_interval_ms = 30 * SEC,
        .upload_failures = -1,
    };
    char why[256];

    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_ACTIVE);
    CHECK_MSG(strstr(why, "first heartbeat") != NULL, "why: %s", why);
    in.enrolled_ms = NOW - 2 * MIN;
    CHECK_INT(devices_health(&in, NOW, why, sizeof(why)), ==, HEALTH_IMPAIRED);
    CHECK_MSG(strstr(why, "since enrollment") != NULL, "why: %s", why);
}

static void test_last_seen(void)
{
    struct device_health_input in = healthy();

    in.last_heartbeat_ms = 100;
    in.last_ingest_ms = 200;
    CHECK_INT(devices_last_seen(&in), ==, 200);
    in.last_heartbeat_ms = 300;
    CHECK_INT(devices_last_seen(&in), ==, 300);
    in.last_heartbeat_ms = 0;
    in.last_ingest_ms = 0;
    CHECK_INT(devices_last_seen(&in), ==, 0);
}

static void test_health_names(void)
{
    for (enum device_health h = HEALTH_ACTIVE; h <= HEALTH_MISCONFIGURED; h++)
        CHECK_INT(devices_health_from_name(devices_health_name(h)), ==, h);
    CHECK_INT(devices_health_from_name("impaired_communications"), ==, HEALTH_IMPAIRED);
    CHECK_INT(devices_health_from_name("No-Sensor-Data"), ==, HEALTH_NO_DATA);
    CHECK_INT(devices_health_from_name("impaired"), ==, HEALTH_IMPAIRED);
    CHECK_INT(devices_health_from_name("bogus"), ==, 0);
    CHECK_INT(devices_health_from_name(""), ==, 0);
    CHECK_INT(devices_health_from_name("a very long text that is no health at all"), ==, 0);
    CHECK_STR(devices_health_name(0), "unknown");
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"active", test_active},
        {"inactive_after_seven_days", test_inactive_after_seven_days},
        {"offboarded_is_inactive", test_offboarded_is_inactive},
        {"impaired_when_heartbeats_late", test_impaired_when_heartbeats_late},
        {"impaired_when_uploads_fail", test_impaired_when_uploads_fail},
        {"no_sensor_data", test_no_sensor_data},
        {"misconfigured", test_misconfigured},
        {"first_matching_rule_wins", test_first_matching_rule_wins},
        {"before_the_first_heartbeat", test_before_the_first_heartbeat},
        {"last_seen", test_last_seen},
        {"health_names", test_health_names},
        {NULL, NULL},
    };
    return check_main("devices_health", cases, argc, argv);
}
