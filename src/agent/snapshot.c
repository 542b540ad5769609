/*
 * snapshot.c — see snapshot.h. Processes are visited in start-time order,
 * which puts every parent before its children (a child cannot start before
 * its parent), whatever their pids.
 */
#include "agent/snapshot.h"

#include <errno.h>
#include <stdlib.h>

#include "agent/procfs.h"

struct pid_start {
    pid_t pid;
    uint64_t start_ns;
};

struct collect {
    const char *root;
    struct pid_start *v;
    size_t n, cap;
};

static int collect_pid(pid_t pid, void *ctx)
{
    struct collect *c = ctx;
    struct ys_task t;

    if (procfs_read_task(c->root, pid, &t) != 0)
        return 0; /* gone already */
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct pid_start *v = realloc(c->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n].pid = pid;
    c->v[c->n].start_ns = t.start_ns;
    c->n++;
    return 0;
}

static int by_start(const void *a, const void *b)
{
    const struct pid_start *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

int snapshot_processes(const char *proc_root, sensor_record_fn emit, void *ctx)
{
    struct collect c = {.root = proc_root};
    uint8_t *rec = NULL;
    int err, count = 0;

    err = procfs_for_each_pid(proc_root, collect_pid, &c);
    if (err)
        goto out;
    qsort(c.v, c.n, sizeof(*c.v), by_start);
    rec = malloc(YS_RECORD_MAX);
    if (!rec) {
        err = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < c.n; i++) {
        int n = procfs_exec_record(proc_root, c.v[i].pid, YS_F_SNAPSHOT, YS_SRC_PROCFS,
                                   procfs_boottime_ns(), rec, YS_RECORD_MAX);
        if (n <= 0)
            continue;
        emit(ctx, rec, (size_t)n);
        count++;
    }
out:
    free(rec);
    free(c.v);
    return err ? err : count;
}
