/*
 * live_inventory.c — the live commands that show what runs now:
 * `processes`, `connections` and `drivers` (docs/live.md), and the table
 * writer they share with live_tasks.c (live_table.h).
 *
 * Processes and sockets come from /proc through hostinv.h, the reader the
 * investigation package uses too. Sockets are read per network namespace:
 * the tables of /proc/PID/net of one process of each namespace that a
 * process is in, so a container's listener shows as well as the host's,
 * each with the process holding it (from the fds of every process).
 * Kernel modules come from /proc/modules, /sys/module and the files named
 * by modules.dep (kmodinfo.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/hostinv.h"
#include "agent/kmodinfo.h"
#include "agent/live.h"
#include "agent/live_int.h"
#include "agent/live_table.h"
#include "agent/pipeline.h"

#define CMDLINE_MAX 16384  /* as events keep argv */
#define FDS_PER_PID 16384
#define MAX_ROWS 100000

/* ------------------------------------------------------------ tables */

void live_table_begin(struct jsonw *out, const char *const *columns)
{
    jsonw_object_begin(out);
    jsonw_key(out, "columns");
    jsonw_array_begin(out);
    for (const char *const *c = columns; *c; c++)
        jsonw_str(out, *c);
    jsonw_array_end(out);
    jsonw_key(out, "rows");
    jsonw_array_begin(out);
}

void live_table_end(struct jsonw *out, bool truncated)
{
    jsonw_array_end(out);
    jsonw_kv_bool(out, "truncated", truncated);
}

void live_kv_str_null(struct jsonw *out, const char *key, const char *v)
{
    jsonw_key(out, key);
    if (v)
        jsonw_str(out, v);
    else
        jsonw_null(out);
}

/* ------------------------------------------------------------ processes */

/* The image's file name ("" for a kernel thread: then the comm). */
static void image_name(const struct hostinv_proc *p, char *out, size_t outlen)
{
    const char *b = strrchr(p->exe, '/');
    size_t n;

    if (!p->exe[0]) {
        snprintf(out, outlen, "%s", p->comm);
        return;
    }
    snprintf(out, outlen, "%s", b ? b + 1 : p->exe);
    n = strlen(out);
    if (n > 10 && strcmp(out + n - 10, " (deleted)") == 0)
        out[n - 10] = '\0';
}

struct ptree {
    const struct hostinv_proc *v;
    size_t n;
    bool *selected;
    size_t *order;  /* indices in the order shown */
    int *depth;
    size_t norder;
    size_t *first;  /* first selected child (n: none) */
    size_t *next;   /* next selected sibling */
};

/* The index of the selected parent of i, or n. */
static size_t selected_parent(const struct ptree *t, size_t i)
{
    const struct hostinv_proc *q =
        t->v[i].ppid > 0 && t->v[i].ppid != t->v[i].pid ? hostinv_proc_find(t->v, t->n, t->v[i].ppid) : NULL;
    return q && t->selected[q - t->v] ? (size_t)(q - t->v) : t->n;
}

/* Links each selected process into its selected parent's list of
 * children, highest pid first (so that pushed on a stack in list order
 * they pop lowest first). */
static void tree_link(struct ptree *t)
{
    for (size_t i = 0; i < t->n; i++)
        t->first[i] = t->next[i] = t->n;
    for (size_t i = 0; i < t->n; i++) {
        size_t p;
        if (!t->selected[i] || (p = selected_parent(t, i)) == t->n)
            continue;
        t->next[i] = t->first[p];
        t->first[p] = i;
    }
}

/* Appends root and its selected descendants, depth first, children in
 * pid order. Iterative: a chain of parents may be long. */
static void tree_walk(struct ptree *t, size_t root, size_t *stack, int *sdepth)
{
    size_t sp = 0;

    stack[sp] = root;
    sdepth[sp++] = 0;
    while (sp) {
        size_t i = stack[--sp];
        int d = sdepth[sp];
        t->order[t->norder] = i;
        t->depth[t->norder++] = d;
        for (size_t k = t->first[i]; k != t->n && sp < t->n; k = t->next[k]) {
            stack[sp] = k;
            sdepth[sp++] = d + 1;
        }
    }
}

static void process_row(struct jsonw *out, const struct hostinv_proc *p, uint64_t boot, int depth, bool tree)
{
    char user[64], uid[64], cid[65];

    jsonw_object_begin(out);
    if (tree)
        jsonw_kv_int(out, "depth", depth);
    jsonw_kv_int(out, "pid", p->pid);
    jsonw_kv_int(out, "ppid", p->ppid);
    if (p->uid >= 0) {
        live_user_name((uid_t)p->uid, user, sizeof(user));
        jsonw_kv_str(out, "user", user);
    } else {
        jsonw_key(out, "user");
        jsonw_null(out);
    }
    jsonw_kv_time(out, "start", hostinv_start_at(boot, p->start_ticks));
    live_kv_str_null(out, "image", p->exe[0] ? p->exe : NULL);
    jsonw_kv_str(out, "name", p->comm);
    jsonw_kv_str(out, "command_line", p->cmdline);
    hostinv_process_uid(p->pid, p->start_ticks, uid, sizeof(uid));
    jsonw_kv_str(out, "process_uid", uid);
    live_kv_str_null(out, "container", pipeline_container_id(p->cgroup, cid) ? cid : NULL);
    jsonw_kv_int(out, "uid", p->uid);
    jsonw_object_end(out);
}

int live_processes(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"pid", "ppid", "user", "start", "image", "command_line", "process_uid",
                                       "container", NULL};
    static const char *const tree_cols[] = {"depth", "pid", "ppid", "user", "start", "image", "command_line",
                                            "process_uid", "container", NULL};
    json_t *jpid = json_object_get(call->args, "pid"), *jname = json_object_get(call->args, "name");
    bool tree = json_is_true(json_object_get(call->args, "tree")), more = false;
    const char *name = json_string_value(jname);
    struct ptree t = {0};
    struct hostinv_proc *v = NULL;
    bool *below = NULL;
    size_t *stack = NULL;
    int *sdepth = NULL;
    uint64_t boot;
    size_t n = 0;
    int e;

    if ((jpid && !json_is_integer(jpid)) || (jname && !name)) {
        snprintf(err, errlen, "-pid takes a number and -name a word");
        return -EINVAL;
    }
    if ((e = hostinv_procs(HOSTINV_CGROUP, CMDLINE_MAX, &v, &n, &more, err, errlen)) != 0)
        return e;
    t.v = v;
    t.n = n;
    t.selected = calloc(n + 1, sizeof(*t.selected));
    t.order = calloc(n + 1, sizeof(*t.order));
    t.depth = calloc(n + 1, sizeof(*t.depth));
    t.first = calloc(n + 1, sizeof(*t.first));
    t.next = calloc(n + 1, sizeof(*t.next));
    below = calloc(n + 1, sizeof(*below));
    stack = calloc(n + 1, sizeof(*stack));
    sdepth = calloc(n + 1, sizeof(*sdepth));
    if (!t.selected || !t.order || !t.depth || !t.first || !t.next || !below || !stack || !sdepth) {
        snprintf(err, errlen, "out of memory");
        e = -ENOMEM;
        goto out;
    }
    if (jpid) {
        const struct hostinv_proc *p = hostinv_proc_find(v, n, (int)json_integer_value(jpid));
        if (!p) {
            snprintf(err, errlen, "no process with pid %" JSON_INTEGER_FORMAT " is running",
                     json_integer_value(jpid));
            e = -ESRCH;
            goto out;
        }
        t.selected[p - v] = true;
        if (tree) {
            /* its ancestors, and every process below it */
            const struct hostinv_proc *q = p;
            bool grew = true;
            for (int hops = 0; q && q->ppid > 0 && hops < 4096; hops++)
                if ((q = hostinv_proc_find(v, n, q->ppid)) && q != p)
                    t.selected[q - v] = true;
            below[p - v] = true;
            while (grew) {
                grew = false;
                for (size_t i = 0; i < n; i++) {
                    const struct hostinv_proc *pp = hostinv_proc_find(v, n, v[i].ppid);
                    if (!below[i] && pp && pp != &v[i] && below[pp - v]) {
                        below[i] = t.selected[i] = true;
                        grew = true;
                    }
                }
            }
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            char img[PATH_MAX];
            image_name(&v[i], img, sizeof(img));
            t.selected[i] = !name || strcasestr(img, name) != NULL;
        }
    }
    if (tree) {
        tree_link(&t);
        for (size_t i = 0; i < n; i++)
            if (t.selected[i] && selected_parent(&t, i) == n)
                tree_walk(&t, i, stack, sdepth);
    } else {
        for (size_t i = 0; i < n; i++)
            if (t.selected[i])
                t.order[t.norder++] = i;
    }
    boot = hostinv_boot_unix_ns();
    live_table_begin(out, tree ? tree_cols : cols);
    for (size_t k = 0; k < t.norder; k++) {
        if (k % 256 == 0 && live_cancelled(call)) {
            e = -ECANCELED;
            goto out;
        }
        process_row(out, &v[t.order[k]], boot, t.depth[k], tree);
    }
    live_table_end(out, more);
    jsonw_kv_uint(out, "count", t.norder);
    jsonw_object_end(out);
out:
    free(t.selected);
    free(t.order);
    free(t.depth);
    free(t.first);
    free(t.next);
    free(below);
    free(stack);
    free(sdepth);
    hostinv_procs_free(v, n);
    return e;
}

/* ------------------------------------------------------------ connections */

struct netns {
    uint64_t ino;
    int pid; /* a process in it, whose /proc/PID/net is read */
};

struct conn_ctx {
    const struct live_call *call;
    struct jsonw *out;
    const struct hostinv_proc *procs;
    size_t nprocs;
    struct hostinv_owners owners;
    uint64_t netns;
    size_t rows;
    bool truncated;
};

static uint64_t netns_of(const char *pid)
{
    char path[64], link[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%s/ns/net", pid);
    n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    return strncmp(link, "net:[", 5) == 0 ? strtoull(link + 5, NULL, 10) : 0;
}

static void endpoint(char *out, size_t outlen, const char *addr, unsigned port, bool v6)
{
    snprintf(out, outlen, v6 ? "[%s]:%u" : "%s:%u", addr, port);
}

static int conn_row(const struct hostinv_sock *s, void *vctx)
{
    struct conn_ctx *c = vctx;
    char local[64], remote[64], user[64];
    bool v6 = s->proto[3] == '6';
    int pids[16];
    size_t np = hostinv_owners_of(&c->owners, s->inode, pids, 16);
    const struct hostinv_proc *p = np ? hostinv_proc_find(c->procs, c->nprocs, pids[0]) : NULL;

    if (c->rows >= MAX_ROWS) {
        c->truncated = true;
        return 1;
    }
    if (c->rows % 256 == 0 && live_cancelled(c->call))
        return -ECANCELED;
    endpoint(local, sizeof(local), s->local, s->lport, v6);
    endpoint(remote, sizeof(remote), s->remote, s->rport, v6);
    live_user_name((uid_t)s->uid, user, sizeof(user));
    jsonw_object_begin(c->out);
    jsonw_kv_str(c->out, "protocol", s->proto);
    jsonw_kv_str(c->out, "local", local);
    jsonw_kv_str(c->out, "remote", remote);
    jsonw_kv_str(c->out, "state", s->state_name);
    jsonw_key(c->out, "pid");
    if (np)
        jsonw_int(c->out, pids[0]);
    else
        jsonw_null(c->out);
    live_kv_str_null(c->out, "image", p && p->exe[0] ? p->exe : NULL);
    jsonw_kv_str(c->out, "user", user);
    if (np > 1) {
        jsonw_key(c->out, "pids");
        jsonw_array_begin(c->out);
        for (size_t i = 0; i < np && i < 16; i++)
            jsonw_int(c->out, pids[i]);
        jsonw_array_end(c->out);
    }
    jsonw_kv_str(c->out, "local_address", s->local);
    jsonw_kv_uint(c->out, "local_port", s->lport);
    jsonw_kv_str(c->out, "remote_address", s->remote);
    jsonw_kv_uint(c->out, "remote_port", s->rport);
    jsonw_kv_bool(c->out, "listening", s->listening);
    jsonw_kv_uint(c->out, "inode", s->inode);
    jsonw_kv_uint(c->out, "netns", c->netns);
    jsonw_object_end(c->out);
    c->rows++;
    return 0;
}

int live_connections(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"protocol", "local", "remote", "state", "pid", "image", "user", NULL};
    static const char *const protos[] = {"tcp", "tcp6", "udp", "udp6", NULL};
    struct conn_ctx c = {.call = call, .out = out};
    struct hostinv_proc *v = NULL;
    struct netns *ns = NULL;
    size_t n = 0, nns = 0;
    uint64_t self = netns_of("self");
    int e;

    if ((e = hostinv_procs(0, 256, &v, &n, NULL, err, errlen)) != 0)
        return e;
    c.procs = v;
    c.nprocs = n;
    ns = calloc(n + 1, sizeof(*ns));
    if (!ns) {
        snprintf(err, errlen, "out of memory");
        e = -ENOMEM;
        goto out;
    }
    /* our own namespace first, then each other one a process is in */
    ns[nns].ino = self;
    ns[nns++].pid = 0;
    for (size_t i = 0; i < n; i++) {
        char pid[16];
        uint64_t ino;
        bool known = false;
        if (i % 256 == 0 && live_cancelled(call)) {
            e = -ECANCELED;
            goto out;
        }
        hostinv_owners_add_pid(&c.owners, v[i].pid, FDS_PER_PID);
        snprintf(pid, sizeof(pid), "%d", v[i].pid);
        if (!(ino = netns_of(pid)))
            continue;
        for (size_t k = 0; k < nns && !known; k++)
            known = ns[k].ino == ino;
        if (!known) {
            ns[nns].ino = ino;
            ns[nns++].pid = v[i].pid;
        }
    }
    hostinv_owners_sort(&c.owners);
    live_table_begin(out, cols);
    for (size_t k = 0; k < nns && !c.truncated; k++) {
        c.netns = ns[k].ino;
        for (const char *const *p = protos; *p; p++) {
            char path[64];
            int r;
            if (ns[k].pid)
                snprintf(path, sizeof(path), "/proc/%d/net/%s", ns[k].pid, *p);
            else
                snprintf(path, sizeof(path), "/proc/net/%s", *p);
            r = hostinv_inet_each(path, *p, conn_row, &c);
            if (r == -ECANCELED) {
                e = r;
                goto out;
            }
            if (c.truncated)
                break;
        }
    }
    live_table_end(out, c.truncated);
    jsonw_kv_uint(out, "count", c.rows);
    jsonw_kv_uint(out, "network_namespaces", nns);
    jsonw_object_end(out);
out:
    free(ns);
    hostinv_owners_free(&c.owners);
    hostinv_procs_free(v, n);
    return e;
}

/* ------------------------------------------------------------ drivers */

/* The flags a module's taint letters mean (kernel's taint_flags). */
static void taint_flags(struct jsonw *out, const char *taint)
{
    static const struct {
        char letter;
        const char *flag;
    } map[] = {{'P', "proprietary"}, {'O', "out_of_tree"}, {'E', "unsigned"}, {'F', "forced"},
               {'C', "staging"},     {'X', "external"},    {'T', "randstruct"}};

    jsonw_key(out, "flags");
    jsonw_array_begin(out);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strchr(taint, map[i].letter))
            jsonw_str(out, map[i].flag);
    jsonw_array_end(out);
}

int live_drivers(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const cols[] = {"name", "size", "refcount", "state", "used_by", "taint", "flags",
                                       "signer", "path", NULL};
    struct kmodinfo_mod *m = NULL;
    struct kmodinfo_dep *dep = NULL;
    char *text = NULL;
    size_t len, n = 0;
    bool trunc = false;
    int e = hostinv_read_file("/proc/modules", 16u << 20, false, &text, &len, &trunc), dep_e;

    if (e == -ENOENT) {
        live_table_begin(out, cols);
        live_table_end(out, false);
        jsonw_kv_uint(out, "count", 0);
        jsonw_kv_str(out, "note", "this kernel has no loadable module support (/proc/modules does not exist)");
        jsonw_object_end(out);
        return 0;
    }
    if (e) {
        snprintf(err, errlen, "cannot read /proc/modules: %s", strerror(-e));
        return e;
    }
    if ((e = kmodinfo_parse(text, &m, &n)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    dep_e = kmodinfo_dep_load("", NULL, &dep);
    live_table_begin(out, cols);
    for (size_t i = 0; i < n; i++) {
        char taint[32], signer[256] = "";
        const char *path = kmodinfo_dep_path(dep, m[i].name);
        int se = path ? kmodinfo_signer(path, signer, sizeof(signer)) : -ENOENT;

        if (i % 64 == 0 && live_cancelled(call)) {
            e = -ECANCELED;
            goto out;
        }
        snprintf(taint, sizeof(taint), "%s", m[i].taint);
        if (!taint[0])
            kmodinfo_sys_taint("", m[i].name, taint, sizeof(taint));
        jsonw_object_begin(out);
        jsonw_kv_str(out, "name", m[i].name);
        jsonw_kv_uint(out, "size", m[i].size);
        jsonw_key(out, "refcount");
        if (m[i].refcount >= 0)
            jsonw_int(out, m[i].refcount);
        else
            jsonw_null(out);
        jsonw_kv_str(out, "state", m[i].state);
        jsonw_kv_str(out, "used_by", m[i].used_by);
        jsonw_kv_str(out, "taint", taint);
        taint_flags(out, taint);
        live_kv_str_null(out, "signer", se == 0 && signer[0] ? signer : NULL);
        live_kv_str_null(out, "path", path);
        jsonw_object_end(out);
    }
    live_table_end(out, trunc || n == KMODINFO_MAX);
    jsonw_kv_uint(out, "count", n);
    if (dep_e)
        jsonw_kv_str(out, "note", "modules.dep of the running kernel could not be read: module files are not named");
    jsonw_object_end(out);
out:
    kmodinfo_dep_free(dep);
    kmodinfo_free(m, n);
    free(text);
    return e;
}
