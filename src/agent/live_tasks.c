/*
 * live_tasks.c — the live commands that show what starts by itself:
 * `services` (systemd's service units), `scheduledtasks` (cron entries,
 * systemd timers, at jobs) and `persistence` (every autostart entry).
 *
 * Units are read as files (unitfiles.h), so the list is the same whether
 * or not systemd runs; only a unit's active state needs the service
 * manager, asked over D-Bus (sd-bus) when systemd is PID 1's manager, and
 * otherwise reported as unknown. The autostart entries are the one list
 * of autostart.h, the same `remediate scheduledtask|persistence <id>`
 * looks its id up in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>

#include "agent/autostart.h"
#include "agent/hostinv.h"
#include "agent/live.h"
#include "agent/live_int.h"
#include "agent/live_table.h"
#include "agent/unitfiles.h"

/* ------------------------------------------------------------ services */

struct active {
    char *name;
    char *state; /* "active (running)" */
};

static int cmp_active(const void *a, const void *b)
{
    return strcmp(((const struct active *)a)->name, ((const struct active *)b)->name);
}

/* Whether systemd is the running service manager (sd_booted()'s test). */
static bool systemd_runs(void)
{
    struct stat st;
    return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* The active state of every unit systemd has loaded (ListUnits), sorted by
 * name. Returns 0, or -errno with why. */
static int list_active(struct active **out, size_t *n, char *why, size_t whylen)
{
    sd_bus *bus = NULL;
    sd_bus_error be = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    struct active *v = NULL;
    size_t k = 0, cap = 0;
    int r;

    *out = NULL;
    *n = 0;
    r = sd_bus_open_system(&bus);
    if (r >= 0)
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "ListUnits", &be, &reply, "");
    if (r >= 0)
        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(ssssssouso)");
    while (r >= 0) {
        const char *name, *desc, *load, *active, *sub, *following, *path, *jtype, *jpath;
        uint32_t job;
        r = sd_bus_message_read(reply, "(ssssssouso)", &name, &desc, &load, &active, &sub, &following, &path, &job,
                                &jtype, &jpath);
        if (r <= 0)
            break;
        if (k == cap) {
            size_t nc = cap ? cap * 2 : 256;
            struct active *g = realloc(v, nc * sizeof(*g));
            if (!g) {
                r = -ENOMEM;
                break;
            }
            v = g;
            cap = nc;
        }
        v[k].name = strdup(name);
        if (asprintf(&v[k].state, "%s (%s)", active, sub) < 0)
            v[k].state = NULL;
        if (!v[k].name || !v[k].state) {
            free(v[k].name);
            free(v[k].state);
            r = -ENOMEM;
            break;
        }
        k++;
    }
    if (r < 0)
        snprintf(why, whylen, "%s", be.message ? be.message : strerror(-r));
    sd_bus_message_unref(reply);
    sd_bus_error_free(&be);
    sd_bus_flush_close_unref(bus);
    if (r < 0) {
        for (size_t i = 0; i < k; i++) {
            free(v[i].name);
            free(v[i].state);
        }
        free(v);
        return r;
    }
    if (k)
        qsort(v, k, sizeof(*v), cmp_active);
    *out = v;
    *n = k;
    return 0;
}

int live_services(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"name", "enabled", "active", "description", "exec_start", "path", NULL};
    struct unitfile *u = NULL;
    struct active *act = NULL;
    size_t n = 0, nact = 0;
    char why[256] = "", manager[300];
    bool systemd = systemd_runs(), bus_ok = false;
    int e;

    if ((e = unitfiles_list("", ".service", &u, &n, err, errlen)) != 0)
        return e;
    if (systemd) {
        bus_ok = list_active(&act, &nact, why, sizeof(why)) == 0;
        snprintf(manager, sizeof(manager), "systemd%s%s", bus_ok ? "" : " (not reachable over D-Bus: ",
                 bus_ok ? "" : why);
        if (!bus_ok)
            strncat(manager, ")", sizeof(manager) - strlen(manager) - 1);
    } else {
        char *comm = NULL;
        size_t len;
        if (hostinv_read_file("/proc/1/comm", 64, false, &comm, &len, NULL) == 0)
            comm[strcspn(comm, "\n")] = '\0';
        snprintf(manager, sizeof(manager), "not systemd (PID 1 is %s)", comm && comm[0] ? comm : "unknown");
        free(comm);
    }
    live_table_begin(out, cols);
    for (size_t i = 0; i < n; i++) {
        struct active key = {.name = u[i].name}, *a;
        if (i % 256 == 0 && live_cancelled(call)) {
            e = -ECANCELED;
            goto out;
        }
        a = nact ? bsearch(&key, act, nact, sizeof(key), cmp_active) : NULL;
        jsonw_object_begin(out);
        jsonw_kv_str(out, "name", u[i].name);
        jsonw_kv_str(out, "enabled", u[i].state);
        if (!systemd)
            jsonw_kv_str(out, "active", "unknown (systemd not running)");
        else if (!bus_ok)
            jsonw_kv_str(out, "active", "unknown (systemd not reachable)");
        else
            jsonw_kv_str(out, "active", a ? a->state : "inactive (dead)");
        live_kv_str_null(out, "description", u[i].description);
        live_kv_str_null(out, "exec_start", u[i].exec_start);
        jsonw_kv_str(out, "path", u[i].path);
        live_kv_str_null(out, "user", u[i].user);
        live_kv_str_null(out, "wanted_by", u[i].wanted_by);
        live_kv_str_null(out, "alias_of", u[i].alias_of);
        jsonw_object_end(out);
    }
    live_table_end(out, n >= UNITFILES_MAX);
    jsonw_kv_uint(out, "count", n);
    jsonw_kv_str(out, "service_manager", manager);
    jsonw_object_end(out);
out:
    for (size_t i = 0; i < nact; i++) {
        free(act[i].name);
        free(act[i].state);
    }
    free(act);
    unitfiles_free(u, n);
    return e;
}

/* ------------------------------------------------------------ autostart entries */

static int entries(const struct live_call *call, bool scheduled_only, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"id", "category", "user", "schedule", "command", "source", "target", NULL};
    struct autostart_entry *v = NULL;
    size_t n = 0, shown = 0;
    int e;

    if ((e = autostart_list(&v, &n, "", err, errlen)) != 0)
        return e;
    if (live_cancelled(call)) {
        autostart_free(v, n);
        return -ECANCELED;
    }
    live_table_begin(out, cols);
    for (size_t i = 0; i < n; i++) {
        if (scheduled_only && !v[i].scheduled)
            continue;
        jsonw_object_begin(out);
        jsonw_kv_str(out, "id", v[i].id);
        jsonw_kv_str(out, "category", v[i].category);
        live_kv_str_null(out, "user", v[i].user);
        live_kv_str_null(out, "schedule", v[i].schedule);
        live_kv_str_null(out, "command", v[i].command);
        jsonw_kv_str(out, "source", v[i].source);
        live_kv_str_null(out, "target", v[i].target);
        jsonw_key(out, "line");
        if (v[i].line)
            jsonw_int(out, v[i].line);
        else
            jsonw_null(out);
        jsonw_kv_bool(out, "scheduled", v[i].scheduled);
        jsonw_kv_bool(out, "removable", v[i].remove_kind != NULL);
        jsonw_object_end(out);
        shown++;
    }
    live_table_end(out, n >= AUTOSTART_MAX_ENTRIES);
    jsonw_kv_uint(out, "count", shown);
    jsonw_object_end(out);
    autostart_free(v, n);
    return 0;
}

int live_scheduledtasks(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    return entries(call, true, out, err, errlen);
}

int live_persistence(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    return entries(call, false, out, err, errlen);
}
