/*
 * config.c — see config.h. One table of keys drives parsing, printing and
 * docs/configuration.md.
 */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind { K_STR, K_UINT, K_SIZE, K_HOURS, K_MINUTES };

struct key {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t size;        /* K_STR: buffer size */
    unsigned long long min, max;
};

#define STR(f) K_STR, offsetof(struct server_config, f), sizeof(((struct server_config *)0)->f), 0, 0
#define UINT(f, lo, hi) K_UINT, offsetof(struct server_config, f), 0, lo, hi
#define SIZE(f, lo, hi) K_SIZE, offsetof(struct server_config, f), 0, lo, hi
/* hours, decimals allowed ("72", "0.01"), kept as milliseconds in a uint64_t; min and max in ms */
#define HOURS(f, lo, hi) K_HOURS, offsetof(struct server_config, f), 0, lo, hi
/* minutes, decimals allowed ("30", "0.05"), kept as milliseconds in a uint64_t; min and max in ms */
#define MINUTES(f, lo, hi) K_MINUTES, offsetof(struct server_config, f), 0, lo, hi

static const struct key keys[] = {
    {"listen", STR(listen)},
    {"public_url", STR(public_url)},
    {"data_dir", STR(data_dir)},
    {"user", STR(user)},
    {"store", STR(store)},
    {"admin_password_file", STR(admin_password_file)},
    {"retention_days", UINT(retention_days, 1, 3650)},
    {"threads", UINT(threads, 1, 256)},
    {"max_connections", UINT(max_connections, 16, 1000000)},
    {"max_batch_bytes", SIZE(max_batch_bytes, 4096, 1ull << 30)},
    {"max_batch_events", SIZE(max_batch_events, 1, 10000000)},
    {"heartbeat_seconds", UINT(heartbeat_seconds, 5, 3600)},
    {"enroll_hours", UINT(enroll_hours, 1, 24 * 365)},
    {"login_max_failures", UINT(login_max_failures, 1, 1000)},
    {"login_window_seconds", UINT(login_window_seconds, 10, 86400)},
    {"session_hours", UINT(session_hours, 1, 24 * 30)},
    {"incident_window_hours", UINT(incident_window_hours, 1, 24 * 30)},
    {"log_level", STR(log_level)},
    {"rules_dir", STR(rules_dir)},
    {"rule_dirs", STR(rule_dirs)},
    {"rules_poll_seconds", UINT(rules_poll_seconds, 1, 3600)},
    {"approval_required", STR(approval_required)},
    {"action_expiry_hours", HOURS(action_expiry_ms, 1000, 365ull * 24 * 3600 * 1000)},
    {"max_package_bytes", SIZE(max_package_bytes, 1024, 4ull << 30)},
    {"live_idle_minutes", MINUTES(live_idle_ms, 1000, 7ull * 24 * 3600 * 1000)},
    {"live_command_timeout_seconds", UINT(live_command_timeout_seconds, 1, 86400)},
    {"live_long_command_timeout_seconds", UINT(live_long_command_timeout_seconds, 1, 7 * 86400)},
    {"live_library_max_bytes", SIZE(live_library_max_bytes, 1024, 4ull << 30)},
    {"live_max_output_bytes", SIZE(live_max_output_bytes, 4096, 1ull << 30)},
    {"max_getfile_bytes", SIZE(max_getfile_bytes, 1024, 1ull << 40)},
};

void config_defaults(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "0.0.0.0:8443");
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "/var/lib/yamori-server");
    snprintf(cfg->user, sizeof(cfg->user), "yamori");
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    cfg->retention_days = 30;
    cfg->threads = 4;
    cfg->max_connections = 4096;
    cfg->max_batch_bytes = 8u << 20;
    cfg->max_batch_events = 100000;
    cfg->heartbeat_seconds = 30;
    cfg->enroll_hours = 24;
    cfg->login_max_failures = 5;
    cfg->login_window_seconds = 300;
    cfg->session_hours = 12;
    cfg->incident_window_hours = 24;
    cfg->rules_poll_seconds = 5;
    cfg->action_expiry_ms = 72ull * 3600 * 1000;
    cfg->max_package_bytes = 256u << 20;
    cfg->live_idle_ms = 30ull * 60 * 1000;
    cfg->live_command_timeout_seconds = 600;
    cfg->live_long_command_timeout_seconds = 1800;
    cfg->live_library_max_bytes = 64u << 20;
    cfg->live_max_output_bytes = 16u << 20;
    cfg->max_getfile_bytes = 4ull << 30;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Parses "8M", "4096", "1G" (K_SIZE) or a plain number (K_UINT). */
static int parse_number(const char *v, bool suffixes, unsigned long long *out)
{
    char *end;
    unsigned long long n;

    if (!isdigit((unsigned char)*v))
        return -EINVAL;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno)
        return -ERANGE;
    if (suffixes && *end) {
        unsigned shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20
                       : *end == 'G' || *end == 'g' ? 30 : 0;
        if (!shift)
            return -EINVAL;
        if (n > (ULLONG_MAX >> shift))
            return -ERANGE;
        n <<= shift;
        end++;
    }
    if (*end)
        return -EINVAL;
    *out = n;
    return 0;
}

static bool valid_listen(const char *v)
{
    const char *colon = strrchr(v, ':');
    char *end;
    long port;

    if (!colon || colon == v)
        return false;
    port = strtol(colon + 1, &end, 10);
    return !*end && port > 0 && port < 65536;
}

int config_set(struct server_config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const struct key *k = find_key(name);
    unsigned long long n;
    int e;

    if (!k) {
        snprintf(err, errlen, "unknown setting '%s' (see docs/configuration.md)", name);
        return -EINVAL;
    }
    if (k->kind == K_STR) {
        if (strlen(value) >= k->size) {
            snprintf(err, errlen, "%s: value longer than %zu bytes", name, k->size - 1);
            return -E2BIG;
        }
        if (strcmp(name, "listen") == 0 && !valid_listen(value)) {
            snprintf(err, errlen, "listen: expected ADDRESS:PORT such as 0.0.0.0:8443 or [::]:8443, got '%s'", value);
            return -EINVAL;
        }
        if (strcmp(name, "log_level") == 0 && strcmp(value, "debug") && strcmp(value, "info") &&
            strcmp(value, "warning") && strcmp(value, "error")) {
            snprintf(err, errlen, "log_level: expected debug, info, warning or error, got '%s'", value);
            return -EINVAL;
        }
        if ((strcmp(name, "data_dir") == 0 || strcmp(name, "admin_password_file") == 0 ||
             strcmp(name, "rules_dir") == 0) && *value &&
            value[0] != '/') {
            snprintf(err, errlen, "%s: expected an absolute path, got '%s'", name, value);
            return -EINVAL;
        }
        if (strcmp(name, "rule_dirs") == 0) {
            /* comma-separated absolute paths */
            for (const char *p = value; *p;) {
                while (*p == ' ' || *p == ',')
                    p++;
                if (*p && *p != '/') {
                    snprintf(err, errlen, "rule_dirs: expected absolute paths separated by commas, got '%s'", value);
                    return -EINVAL;
                }
                while (*p && *p != ',')
                    p++;
            }
        }
        if (strcmp(name, "approval_required") == 0) {
            /* comma-separated action type names; the action center checks that each exists */
            for (const char *p = value; *p; p++) {
                if (!islower((unsigned char)*p) && *p != '_' && *p != ',' && *p != ' ') {
                    snprintf(err, errlen, "approval_required: expected action types separated by commas "
                                          "(such as isolate,kill_process), got '%s'", value);
                    return -EINVAL;
                }
            }
        }
        snprintf((char *)cfg + k->offset, k->size, "%s", value);
        return 0;
    }
    if (k->kind == K_HOURS || k->kind == K_MINUTES) {
        double unit = k->kind == K_HOURS ? 3600e3 : 60e3, h;
        const char *unit_name = k->kind == K_HOURS ? "hours" : "minutes";
        char *end;
        errno = 0;
        h = isdigit((unsigned char)*value) ? strtod(value, &end) : -1;
        if (h < 0 || errno || *end || h * unit < (double)k->min || h * unit > (double)k->max) {
            snprintf(err, errlen, "%s: expected a number of %s from %g to %g (decimals allowed), got '%s'", name,
                     unit_name, (double)k->min / unit, (double)k->max / unit, value);
            return -EINVAL;
        }
        *(uint64_t *)(void *)((char *)cfg + k->offset) = (uint64_t)(h * unit + 0.5);
        return 0;
    }
    e = parse_number(value, k->kind == K_SIZE, &n);
    if (e || n < k->min || n > k->max) {
        snprintf(err, errlen, "%s: expected a number from %llu to %llu%s, got '%s'", name, k->min, k->max,
                 k->kind == K_SIZE ? " (K, M, G allowed)" : "", value);
        return -EINVAL;
    }
    if (k->kind == K_UINT)
        *(unsigned *)((char *)cfg + k->offset) = (unsigned)n;
    else
        *(size_t *)((char *)cfg + k->offset) = (size_t)n;
    return 0;
}

int config_load(struct server_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[2048], why[512];
    unsigned lineno = 0;
    int e = 0;

    if (!f) {
        e = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return e;
    }
    while (fgets(line, sizeof(line), f)) {
        char *p = line, *key, *eq, *val, *end;
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%u:1: line longer than %zu bytes", path, lineno, sizeof(line) - 2);
            e = -E2BIG;
            break;
        }
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        key = p;
        eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%u:%ld: expected 'key = value'", path, lineno, (long)(p - line) + 1);
            e = -EINVAL;
            break;
        }
        end = eq;
        while (end > key && isspace((unsigned char)end[-1]))
            end--;
        *end = '\0';
        val = eq + 1;
        while (isspace((unsigned char)*val))
            val++;
        end = val + strlen(val);
        while (end > val && isspace((unsigned char)end[-1]))
            end--;
        *end = '\0';
        if (end - val >= 2 && val[0] == '"' && end[-1] == '"') {
            end[-1] = '\0';
            val++;
        }
        e = config_set(cfg, key, val, why, sizeof(why));
        if (e) {
            snprintf(err, errlen, "%s:%u:%ld: %s", path, lineno, (long)(key - line) + 1, why);
            break;
        }
    }
    fclose(f);
    return e;
}

void config_store_uri(const struct server_config *cfg, char *out, size_t outlen)
{
    if (cfg->store[0])
        snprintf(out, outlen, "%s", cfg->store);
    else
        snprintf(out, outlen, "sqlite:%s/yamori.db", cfg->data_dir);
}

void config_public_url(const struct server_config *cfg, char *out, size_t outlen)
{
    char host[256] = "localhost";
    const char *colon = strrchr(cfg->listen, ':');

    if (cfg->public_url[0]) {
        snprintf(out, outlen, "%s", cfg->public_url);
        return;
    }
    gethostname(host, sizeof(host) - 1);
    snprintf(out, outlen, "https://%s:%s", host, colon ? colon + 1 : "8443");
}

void config_print(const struct server_config *cfg, void *file)
{
    FILE *f = file;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct key *k = &keys[i];
        const char *base = (const char *)cfg + k->offset;
        if (k->kind == K_STR)
            fprintf(f, "%s = \"%s\"\n", k->name, base);
        else if (k->kind == K_UINT)
            fprintf(f, "%s = %u\n", k->name, *(const unsigned *)(const void *)base);
        else if (k->kind == K_HOURS)
            fprintf(f, "%s = %.6g\n", k->name, (double)*(const uint64_t *)(const void *)base / 3600e3);
        else if (k->kind == K_MINUTES)
            fprintf(f, "%s = %.6g\n", k->name, (double)*(const uint64_t *)(const void *)base / 60e3);
        else
            fprintf(f, "%s = %zu\n", k->name, *(const size_t *)(const void *)base);
    }
}
