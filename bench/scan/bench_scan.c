/*
 * bench_scan.c — how fast the antivirus scanner goes over a real tree.
 *
 *   bench_scan [PATH [RULES_DIR]]      (default /usr and the rule set the
 *                                       agent would use)
 *
 * Scans PATH (a custom scan: every regular file, YARA with Yamori's rules,
 * package ownership against this machine's dpkg database, no indicators,
 * ClamAV when /var/lib/clamav holds a database) three times: once
 * unthrottled to bring the files into the page cache (reported as "cold"),
 * then with the default throttle (one core, idle I/O class) and unthrottled
 * again. For each pass it prints files and bytes scanned, wall and CPU
 * time, files/s, MB/s (10^6 bytes), findings and skipped files. Figures,
 * not pass/fail: docs/performance.md records them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/scan.h"

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pass(const char *label, const char *path, const char *rules, double budget, enum scan_io_priority io)
{
    struct scan_options o = {.kind = SCAN_CUSTOM, .path = path, .rules_dir = rules, .cpu_budget = budget,
                             .io_priority = io};
    struct jsonw w;
    char err[512];
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID), wall, cpu;
    json_t *res;
    json_int_t files, bytes;
    int e;

    jsonw_init(&w);
    e = scan_run(&o, &w, err, sizeof(err));
    wall = now_s(CLOCK_MONOTONIC) - w0;
    cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    if (e) {
        fprintf(stderr, "bench_scan: %s\n", err);
        jsonw_free(&w);
        return 1;
    }
    res = json_loadb(w.buf, w.len, 0, NULL);
    jsonw_free(&w);
    files = json_integer_value(json_object_get(res, "files_scanned"));
    bytes = json_integer_value(json_object_get(res, "bytes_scanned"));
    printf("%-26s %8lld files %9.1f MB  wall %7.2f s  cpu %7.2f s (%.2f cores)  %8.0f files/s %7.1f MB/s"
           "  findings %zu  skipped vanished %lld too_large %lld unreadable %lld\n",
           label, (long long)files, (double)bytes / 1e6, wall, cpu, cpu / wall, (double)files / wall,
           (double)bytes / 1e6 / wall, json_array_size(json_object_get(res, "findings")),
           (long long)json_integer_value(json_object_get(json_object_get(res, "skipped"), "vanished")),
           (long long)json_integer_value(json_object_get(json_object_get(res, "skipped"), "too_large")),
           (long long)json_integer_value(json_object_get(json_object_get(res, "skipped"), "unreadable")));
    {
        /* findings by engine and rule */
        const char *names[64];
        int counts[64], n = 0;
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(res, "findings"), i, f)
        {
            const char *r = json_string_value(json_object_get(f, "rule"));
            int k;
            if (!r)
                continue;
            if (strlen(r) == 64)
                r = "indicator";
            for (k = 0; k < n && strcmp(names[k], r) != 0; k++)
                ;
            if (k == n && n < 64) {
                names[n] = r;
                counts[n++] = 0;
            }
            if (k < n)
                counts[k]++;
        }
        for (int k = 0; k < n; k++)
            printf("%-26s   %5d x %s\n", "", counts[k], names[k]);
    }
    if (getenv("BENCH_SCAN_FINDINGS")) {
        char *dump = json_dumps(json_object_get(res, "findings"), JSON_INDENT(1));
        printf("%s\n", dump ? dump : "");
        free(dump);
    }
    {
        char *eng = json_dumps(json_object_get(res, "engines"), JSON_COMPACT);
        printf("%-26s engines: %s\n", "", eng ? eng : "");
        free(eng);
    }
    fflush(stdout);
    json_decref(res);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/usr";
    const char *rules = argc > 2 ? argv[2] : NULL;
    char dir[4096];

    if (!rules) {
        scan_default_rules_dir(dir, sizeof(dir));
        rules = dir;
    }
    printf("bench_scan: %s with the YARA rules of %s\n", path, rules);
    if (pass("unthrottled (cold cache)", path, rules, -1, SCAN_IO_NORMAL) ||
        pass("default throttle", path, rules, 0, SCAN_IO_IDLE) ||
        pass("unthrottled", path, rules, -1, SCAN_IO_NORMAL))
        return 1;
    return 0;
}
