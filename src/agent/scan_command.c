/*
 * scan_command.c — the `scan` command (see scan_command.h): arguments
 * checked strictly (unknown members are refused, so a typo is not a
 * silent default), the scan run on a command worker thread (a long
 * command, see commands.h) at idle I/O priority, progress sent at most
 * once a second, and the command's cancel flag (the server's cancel
 * request, or the agent stopping) handed to the scanner.
 */
#include "agent/scan_command.h"

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/scan.h"
#include "common/jsonw.h"
#include "common/log.h"

#define PROGRESS_MS 1000

struct scan_cmd_ctx {
    const struct command *cmd;
    atomic_int *cancel; /* the command's flag, or own when run outside the command thread */
    atomic_int own;
};

static void on_progress(void *arg, const struct scan_progress *p)
{
    struct scan_cmd_ctx *x = arg;
    struct jsonw w;
    char *text;

    if (command_cancelled(x->cmd))
        atomic_store(x->cancel, 1);
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_kv_uint(&w, "files", p->files);
    jsonw_kv_uint(&w, "bytes", p->bytes);
    jsonw_key(&w, "percent");
    {
        char num[32];
        int n = snprintf(num, sizeof(num), "%.1f", p->percent);
        jsonw_raw(&w, num, (size_t)n);
    }
    jsonw_kv_uint(&w, "findings", p->findings);
    if (p->current)
        jsonw_kv_str(&w, "message", p->current);
    jsonw_object_end(&w);
    /* a path may be long: a report is at most 4 KiB, so drop the message then */
    if (!jsonw_failed(&w) && w.len > 3800 && p->current) {
        struct scan_progress q = *p;
        jsonw_free(&w);
        q.current = NULL;
        on_progress(arg, &q);
        return;
    }
    text = jsonw_failed(&w) ? NULL : strndup(w.buf, w.len);
    jsonw_free(&w);
    if (text)
        command_progress(x->cmd, text);
    free(text);
}

static bool allowed_key(const char *k)
{
    static const char *const keys[] = {"kind", "path", "indicators", "cpu_budget", "yara_max_mb", NULL};
    for (const char *const *p = keys; *p; p++)
        if (strcmp(*p, k) == 0)
            return true;
    return false;
}

int scan_command_run(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    struct scan_cmd_ctx x = {.cmd = cmd};
    struct scan_options o = {.io_priority = SCAN_IO_IDLE, .progress_interval_ms = PROGRESS_MS};
    json_t *args = cmd->args, *jiocs, *v;
    const char **iocs = NULL, *key;
    int e;

    if (!json_is_object(args)) {
        snprintf(err, errlen, "scan: the arguments must be an object");
        return -EINVAL;
    }
    json_object_foreach(args, key, v)
    {
        if (!allowed_key(key)) {
            snprintf(err, errlen, "scan: unknown argument '%.40s' (kind, path, indicators, cpu_budget, yara_max_mb)",
                     key);
            return -EINVAL;
        }
    }
    if (scan_kind_parse(json_string_value(json_object_get(args, "kind")), &o.kind) != 0) {
        snprintf(err, errlen, "scan: kind must be \"quick\", \"full\" or \"custom\"");
        return -EINVAL;
    }
    v = json_object_get(args, "path");
    if (o.kind == SCAN_CUSTOM) {
        if (!json_is_string(v) || json_string_value(v)[0] != '/') {
            snprintf(err, errlen, "scan: a custom scan needs \"path\", an absolute path");
            return -EINVAL;
        }
        o.path = json_string_value(v);
    } else if (v && !json_is_null(v)) {
        snprintf(err, errlen, "scan: \"path\" is for custom scans only");
        return -EINVAL;
    }
    v = json_object_get(args, "cpu_budget");
    if (v) {
        double b = json_number_value(v);
        if (!json_is_number(v) || b < 0.01 || b > 64) {
            snprintf(err, errlen, "scan: cpu_budget is a number of cores from 0.01 to 64");
            return -EINVAL;
        }
        o.cpu_budget = b;
    }
    v = json_object_get(args, "yara_max_mb");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 4096) {
            snprintf(err, errlen, "scan: yara_max_mb is a whole number of MiB from 1 to 4096");
            return -EINVAL;
        }
        o.yara_max_bytes = (uint64_t)json_integer_value(v) << 20;
    }
    jiocs = json_object_get(args, "indicators");
    if (jiocs && !json_is_null(jiocs)) {
        size_t i;
        if (!json_is_array(jiocs) || json_array_size(jiocs) > SCAN_MAX_INDICATORS) {
            snprintf(err, errlen, "scan: indicators is an array of at most %d SHA-256 values", SCAN_MAX_INDICATORS);
            return -EINVAL;
        }
        iocs = calloc(json_array_size(jiocs) + 1, sizeof(*iocs));
        if (!iocs) {
            snprintf(err, errlen, "scan: out of memory");
            return -ENOMEM;
        }
        json_array_foreach(jiocs, i, v)
        {
            if (!json_is_string(v)) {
                snprintf(err, errlen, "scan: indicator %zu is not a string", i + 1);
                free(iocs);
                return -EINVAL;
            }
            iocs[i] = json_string_value(v);
        }
        o.indicators = iocs;
        o.nindicators = json_array_size(jiocs);
    }
    x.cancel = cmd->cancel ? cmd->cancel : &x.own;
    o.cancel = x.cancel;
    o.progress = on_progress;
    o.progress_ctx = &x;
    log_info("scan: %s scan%s%s started", scan_kind_name(o.kind), o.path ? " of " : "", o.path ? o.path : "");
    e = scan_run(&o, out, err, errlen);
    if (e)
        log_warn("scan: %s", err);
    else
        log_info("scan: %s scan finished%s", scan_kind_name(o.kind), atomic_load(x.cancel) ? " (cancelled)" : "");
    free(iocs);
    return e;
}
