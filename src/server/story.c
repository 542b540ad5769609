/*
 * story.c — the process tree around one process, from the event store
 * (see story.h; the words are story_words.c's).
 *
 * Each process of the tree is read once ("visited"): one by-process read
 * of the store (store_events_of_process) returns its own process events
 * (its start, every exec, its exit), the process events of the processes
 * it started (their ProcessCreated/ProcessForked name it as initiating
 * process), and everything it did (file, network, logon and device events
 * it initiated, and what was done to it). From that the visit fills the
 * process's identity, its lines, the unique id of its parent and the list
 * of its children — children are only remembered, not read yet.
 *
 * The tree grows in three phases, so that the limits cut the least
 * useful part first:
 *   1. the process and its ancestry, parent by parent, until a process
 *      that starts sessions or services (story_words_stop) or until the
 *      chain is not recorded further;
 *   2. everything the process started, breadth first;
 *   3. what the ancestors below the root started (the rest of the
 *      session), nearest ancestor first — not for a root that is init,
 *      the service manager, cron or a container runtime, whose other
 *      children are unrelated.
 * A process is added only when it can be visited (within the node limit
 * and the budget of records examined); whatever a limit left out is
 * counted on the process it would have hung from, and flagged on the
 * story.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"
#include "common/schema.h"
#include "server/store.h"
#include "server/store_events_proc.h"
#include "server/story.h"
#include "server/story_int.h"

#define UID_MAX 48
#define HARD_MAX_NODES 5000
#define HARD_MAX_LEVELS 256
#define HARD_MAX_LINES 1000

enum role { ROLE_ANCESTOR, ROLE_SUBJECT, ROLE_DESCENDANT, ROLE_RELATIVE };
static const char *const role_names[] = {"ancestor", "subject", "descendant", "relative"};

struct sline {
    int64_t ts;
    const char *kind;          /* static */
    char *text;
    char *key;                 /* merge key (a path), or NULL */
    unsigned count;            /* times the same line happened */
    bool created, from_content;
};

struct salert {
    int64_t id;
    char *title, *severity;
};

struct kid {
    char uid[UID_MAX];
    int64_t ts;                /* first seen */
};

struct snode {
    char uid[UID_MAX];
    int parent;                /* index, -1 for the root */
    enum role role;
    unsigned level;            /* levels below the process it was reached from */
    bool read_all;             /* every event naming it was read */
    /* identity */
    int rank;                  /* where it came from: 0 none, 1 another event's initiating block, 2 fork, 3 exec/snapshot */
    bool has_pid;
    uint32_t pid;
    char *image, *file_name, *cmdline, *user;
    bool has_account_uid;
    int64_t account_uid;
    int64_t start_ns, first_ts;
    bool snapshot;
    bool exited, has_code, has_signal;
    int64_t exit_code, exit_signal, exit_ns;
    char parent_uid[UID_MAX];
    int parent_rank;
    unsigned execs;            /* ProcessCreated events read */
    /* what it did */
    struct sline *lines;
    size_t nlines, lines_dropped;
    struct kid *kids;
    size_t nkids, kids_dropped;
    size_t not_shown;          /* children a limit left out */
    struct salert *alerts;
    size_t nalerts;
    /* an SSH login seen on it (the session root) */
    char *login_user, *login_ip;
};

struct story {
    char device_id[64];
    char subject[UID_MAX];
    int64_t around;
    struct story_limits lim;
    struct snode *nodes;
    size_t n;
    int subject_idx, root_idx;
    const char *end;
    char end_text[256];
    bool trunc_nodes, trunc_depth, trunc_events, trunc_node_events, trunc_lines, trunc_ancestors;
    size_t scanned;
    bool oom;
    struct store *st;          /* during story_build only */
};

/* ------------------------------------------------------------------ helpers */

void story_limits_default(struct story_limits *lim)
{
    *lim = (struct story_limits){
        .max_nodes = STORY_DEFAULT_MAX_NODES,
        .max_ancestors = STORY_DEFAULT_MAX_ANCESTORS,
        .max_depth = STORY_DEFAULT_MAX_DEPTH,
        .max_lines = STORY_DEFAULT_MAX_LINES,
        .max_node_events = STORY_DEFAULT_MAX_NODE_EVENTS,
        .max_events = STORY_DEFAULT_MAX_EVENTS,
        .window_ns = STORY_DEFAULT_WINDOW_NS,
    };
}

/* lim with defaults for zeros and the hard bounds applied. */
static void limits_of(const struct story_limits *in, struct story_limits *out)
{
    story_limits_default(out);
    if (!in)
        return;
    if (in->max_nodes)
        out->max_nodes = in->max_nodes < HARD_MAX_NODES ? in->max_nodes : HARD_MAX_NODES;
    if (in->max_ancestors)
        out->max_ancestors = in->max_ancestors < HARD_MAX_LEVELS ? in->max_ancestors : HARD_MAX_LEVELS;
    if (in->max_depth)
        out->max_depth = in->max_depth < HARD_MAX_LEVELS ? in->max_depth : HARD_MAX_LEVELS;
    if (in->max_lines)
        out->max_lines = in->max_lines < HARD_MAX_LINES ? in->max_lines : HARD_MAX_LINES;
    if (in->max_node_events)
        out->max_node_events =
            in->max_node_events < STORE_EVENTS_MAX_LIMIT ? in->max_node_events : STORE_EVENTS_MAX_LIMIT;
    if (in->max_events)
        out->max_events = in->max_events;
    if (in->window_ns > 0)
        out->window_ns = in->window_ns;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    return a < b ? 0 : a - b;
}

static void set_str(struct story *s, char **dst, const char *src)
{
    char *c;
    if (!src)
        return;
    c = strdup(src);
    if (!c) {
        s->oom = true;
        return;
    }
    free(*dst);
    *dst = c;
}

static int find_node(const struct story *s, const char *uid)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->nodes[i].uid, uid) == 0)
            return (int)i;
    return -1;
}

static void node_clear(struct snode *n)
{
    free(n->image);
    free(n->file_name);
    free(n->cmdline);
    free(n->user);
    free(n->login_user);
    free(n->login_ip);
    for (size_t i = 0; i < n->nlines; i++) {
        free(n->lines[i].text);
        free(n->lines[i].key);
    }
    free(n->lines);
    free(n->kids);
    for (size_t i = 0; i < n->nalerts; i++) {
        free(n->alerts[i].title);
        free(n->alerts[i].severity);
    }
    free(n->alerts);
    memset(n, 0, sizeof(*n));
}

void story_free(struct story *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        node_clear(&s->nodes[i]);
    free(s->nodes);
    free(s);
}

/* Whether string field id of e equals the text uid. */
static bool names(const struct story_ev *e, unsigned id, const char *uid)
{
    const char *v = story_ev_str(e, id);
    return v && strcmp(v, uid) == 0;
}

/* ------------------------------------------------------------------ lines */

static void add_line(struct story *s, struct snode *n, int64_t ts, const struct story_words *in)
{
    struct story_words clean = *in, *w = &clean;
    struct sline *l;

    /* pieces of agents' text are in it: no control character leaves here */
    story_words_shorten(in->text, STORY_LINE_MAX - 1, clean.text, sizeof(clean.text));

    if (w->merge_key) {
        for (size_t i = 0; i < n->nlines; i++) {
            l = &n->lines[i];
            if (!l->key || strcmp(l->key, w->merge_key) != 0)
                continue;
            /* the same file again: the newest content tells most */
            if (w->from_content || !l->from_content) {
                set_str(s, &l->text, w->text);
                l->from_content = w->from_content;
            }
            return;
        }
    } else {
        for (size_t i = 0; i < n->nlines; i++) {
            l = &n->lines[i];
            if (!l->key && l->kind == w->kind && strcmp(l->text, w->text) == 0) {
                l->count++;
                return;
            }
        }
    }
    if (n->nlines >= s->lim.max_lines) {
        n->lines_dropped++;
        s->trunc_lines = true;
        return;
    }
    if (!n->lines) {
        n->lines = calloc(s->lim.max_lines, sizeof(*n->lines));
        if (!n->lines) {
            s->oom = true;
            return;
        }
    }
    l = &n->lines[n->nlines];
    *l = (struct sline){.ts = ts, .kind = w->kind, .count = 1, .from_content = w->from_content};
    l->text = strdup(w->text);
    l->key = w->merge_key ? strdup(w->merge_key) : NULL;
    l->created = w->merge_key && strncmp(w->text, "created ", 8) == 0;
    if (!l->text || (w->merge_key && !l->key)) {
        free(l->text);
        free(l->key);
        s->oom = true;
        return;
    }
    n->nlines++;
}

/* Whether an earlier line of n created path. */
static bool created_before(const struct snode *n, const char *path)
{
    if (!path)
        return false;
    for (size_t i = 0; i < n->nlines; i++)
        if (n->lines[i].key && n->lines[i].created && strcmp(n->lines[i].key, path) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------ identity */

/* A process event of the node itself (ProcessUniqueId is its uid). */
static void own_process_event(struct story *s, struct snode *n, const struct story_ev *e, bool in_window)
{
    const char *action = story_ev_str(e, F_ACTION_TYPE);
    bool created = action && strcmp(action, "ProcessCreated") == 0;
    bool snapshot = action && strcmp(action, "ProcessSnapshot") == 0;
    bool forked = action && strcmp(action, "ProcessForked") == 0;
    int64_t v;
    int rank;

    if (!n->first_ts || e->ts < n->first_ts)
        n->first_ts = e->ts;
    if (action && strcmp(action, "ProcessExited") == 0) {
        n->exited = true;
        n->exit_ns = e->ts;
        n->has_code = story_ev_int(e, F_PROCESS_EXIT_CODE, &n->exit_code);
        n->has_signal = story_ev_int(e, F_PROCESS_EXIT_SIGNAL, &n->exit_signal);
    }
    if (created && n->execs > 0 && in_window) {
        /* an exec after an exec: the process became another program */
        struct story_words w = {.kind = "process"};
        char cmd[208], img[128];
        const char *path = story_ev_str(e, F_FOLDER_PATH), *cl = story_ev_str(e, F_PROCESS_COMMAND_LINE);
        story_words_shorten(cl ? cl : "", 200, cmd, sizeof(cmd));
        story_words_shorten(path ? path : "?", 120, img, sizeof(img));
        snprintf(w.text, sizeof(w.text), "first ran %.64s, then replaced itself with %s (exec): %s",
                 n->file_name ? n->file_name : "?", img, cmd);
        add_line(s, n, e->ts, &w);
    }
    if ((created || snapshot) && in_window) {
        struct story_words w;
        if (story_words_command(story_ev_str(e, F_FILE_NAME), story_ev_str(e, F_PROCESS_COMMAND_LINE), &w))
            add_line(s, n, e->ts, &w);
    }
    if (created)
        n->execs++;
    /* identity: the newest exec (or snapshot) wins over a fork, a fork
     * over the exit record and other events' initiating blocks */
    rank = created || snapshot ? 3 : forked ? 2 : 1;
    if (rank < n->rank)
        return;
    n->rank = rank;
    if (story_ev_int(e, F_PROCESS_ID, &v)) {
        n->has_pid = true;
        n->pid = (uint32_t)v;
    }
    set_str(s, &n->image, story_ev_str(e, F_FOLDER_PATH));
    set_str(s, &n->file_name, story_ev_str(e, F_FILE_NAME));
    set_str(s, &n->cmdline, story_ev_str(e, F_PROCESS_COMMAND_LINE));
    set_str(s, &n->user, story_ev_str(e, F_ACCOUNT_NAME));
    if (story_ev_int(e, F_ACCOUNT_UID, &v)) {
        n->has_account_uid = true;
        n->account_uid = v;
    }
    if (story_ev_int(e, F_PROCESS_CREATION_TIME, &v))
        n->start_ns = v;
    if (snapshot)
        n->snapshot = true;
    if (story_ev_str(e, F_IP_UNIQUE_ID) && n->parent_rank < 2) {
        snprintf(n->parent_uid, sizeof(n->parent_uid), "%s", story_ev_str(e, F_IP_UNIQUE_ID));
        n->parent_rank = 2;
    }
}

/* Another event names the node as its initiating process: its block
 * describes the node as it was then (used when nothing better is known). */
static void initiating_block(struct story *s, struct snode *n, const struct story_ev *e)
{
    int64_t v;

    if (!n->first_ts || e->ts < n->first_ts)
        n->first_ts = e->ts;
    if (n->rank == 2) {
        /* forked and never exec'd: a program may rename itself (sshd's
         * "sshd: root@pts/0"); the newest name is the one to show */
        set_str(s, &n->cmdline, story_ev_str(e, F_IP_COMMAND_LINE));
    } else if (n->rank <= 1) {
        n->rank = 1;
        if (story_ev_int(e, F_IP_ID, &v)) {
            n->has_pid = true;
            n->pid = (uint32_t)v;
        }
        set_str(s, &n->image, story_ev_str(e, F_IP_FOLDER_PATH));
        set_str(s, &n->file_name, story_ev_str(e, F_IP_FILE_NAME));
        set_str(s, &n->cmdline, story_ev_str(e, F_IP_COMMAND_LINE));
        set_str(s, &n->user, story_ev_str(e, F_IP_ACCOUNT_NAME));
        if (story_ev_int(e, F_IP_ACCOUNT_UID, &v)) {
            n->has_account_uid = true;
            n->account_uid = v;
        }
        if (story_ev_int(e, F_IP_CREATION_TIME, &v))
            n->start_ns = v;
    }
    if (n->parent_rank < 1 && story_ev_str(e, F_IP_PARENT_UNIQUE_ID)) {
        snprintf(n->parent_uid, sizeof(n->parent_uid), "%s", story_ev_str(e, F_IP_PARENT_UNIQUE_ID));
        n->parent_rank = 1;
    }
}

static void add_kid(struct story *s, struct snode *n, const char *uid, int64_t ts)
{
    for (size_t i = 0; i < n->nkids; i++)
        if (strcmp(n->kids[i].uid, uid) == 0)
            return;
    if (strlen(uid) >= UID_MAX)
        return;
    if (n->nkids >= s->lim.max_nodes) {
        n->kids_dropped++; /* more than could ever be shown */
        return;
    }
    if (!n->kids) {
        n->kids = calloc(s->lim.max_nodes, sizeof(*n->kids));
        if (!n->kids) {
            s->oom = true;
            return;
        }
    }
    snprintf(n->kids[n->nkids].uid, UID_MAX, "%s", uid);
    n->kids[n->nkids].ts = ts;
    n->nkids++;
}

static void note_login(struct story *s, struct snode *n, const struct story_ev *e)
{
    if (n->login_user || !story_ev_is(e, F_ACTION_TYPE, "LogonSuccess") || !story_ev_is(e, F_PROTOCOL, "ssh"))
        return;
    set_str(s, &n->login_user, story_ev_str(e, F_ACCOUNT_NAME));
    set_str(s, &n->login_ip, story_ev_str(e, F_REMOTE_IP));
}

/* ------------------------------------------------------------------ visits */

struct collect {
    struct story_ev **v;
    size_t n, cap;
    bool oom;
};

static int collect_row(const struct store_event_row *row, void *ctx)
{
    struct collect *c = ctx;
    struct story_ev *e;

    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct story_ev **nv = realloc(c->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        c->v = nv;
        c->cap = nc;
    }
    e = story_ev_copy(row);
    if (!e)
        return -ENOMEM;
    c->v[c->n++] = e;
    return 0;
}

static void collect_free(struct collect *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* Reads the events naming uid (tables: mask, 0 all) in [since, until]
 * into c. Returns 0, 1 when the budget of records is spent (nothing
 * read), or -errno. */
static int read_process(struct story *s, const char *uid, unsigned tables, int64_t since, int64_t until,
                        struct collect *c, bool *read_all, char *err, size_t errlen)
{
    struct store_proc_query q = {
        .device_id = s->device_id, .uid = uid, .tables = tables, .since_ns = since, .until_ns = until,
        .around_ns = s->around, .max_keep = s->lim.max_node_events,
    };
    struct store_proc_result res;
    int e;

    if (s->scanned >= s->lim.max_events) {
        s->trunc_events = true;
        return 1;
    }
    q.max_scan = s->lim.max_events - s->scanned;
    e = store_events_of_process(s->st, &q, collect_row, c, &res, err, errlen);
    s->scanned += res.scanned;
    if (e)
        return e;
    if (!res.scan_complete)
        s->trunc_events = true;
    if (!res.kept_all)
        s->trunc_node_events = true;
    *read_all = res.kept_all && res.scan_complete;
    return 0;
}

/* Visits node idx: reads its events in [since, until] and takes from them
 * its identity, its parent, its children and its lines (those in the
 * story's window). Returns 0, 1 when the budget left nothing to read, or
 * -errno; *nevents the events read. */
static int visit(struct story *s, int idx, int64_t since, int64_t until, size_t *nevents, char *err, size_t errlen)
{
    struct collect c = {0};
    struct snode *n = &s->nodes[idx];
    int64_t lo = sat_sub(s->around, s->lim.window_ns), hi = sat_add(s->around, s->lim.window_ns);
    int e;

    e = read_process(s, n->uid, 0, since, until, &c, &n->read_all, err, errlen);
    if (e)
        goto out;
    for (size_t i = 0; i < c.n; i++) {
        const struct story_ev *ev = c.v[i];
        /* no moment yet (the subject, asked with none): take everything,
         * story_build trims it once the moment is known */
        bool in_window = s->around == 0 || (ev->ts >= lo && ev->ts <= hi);
        bool by_it = names(ev, F_IP_UNIQUE_ID, n->uid);
        if (ev->table == SCHEMA_T_PROCESS) {
            const char *puid = story_ev_str(ev, F_PROCESS_UNIQUE_ID);
            if (puid && strcmp(puid, n->uid) == 0) {
                own_process_event(s, n, ev, in_window);
            } else if (by_it && puid) {
                initiating_block(s, n, ev);
                if (in_window)
                    add_kid(s, n, puid, ev->ts);
            }
            continue;
        }
        if (by_it) {
            struct story_words w;
            initiating_block(s, n, ev);
            if (ev->table == SCHEMA_T_LOGON)
                note_login(s, n, ev);
            if (in_window &&
                story_words_event(ev, false, created_before(n, story_ev_str(ev, F_FOLDER_PATH)), &w))
                add_line(s, n, ev->ts, &w);
        } else if (names(ev, F_TARGET_PROCESS_UNIQUE_ID, n->uid)) {
            struct story_words w;
            if (in_window && story_words_event(ev, true, false, &w))
                add_line(s, n, ev->ts, &w);
        }
    }
out:
    *nevents = c.n;
    collect_free(&c);
    return e;
}

/* Adds node uid (parent index or -1) and visits it. Returns its index,
 * -1 when the budget is spent or it has no events (not added), or -errno
 * - 1 (an error: < -1). */
static int add_and_visit(struct story *s, const char *uid, int parent, enum role role, unsigned level,
                         int64_t since, int64_t until, char *err, size_t errlen)
{
    size_t nev = 0;
    int idx, e;

    if (s->n >= s->lim.max_nodes) {
        s->trunc_nodes = true;
        return -1;
    }
    idx = (int)s->n++;
    memset(&s->nodes[idx], 0, sizeof(s->nodes[idx]));
    snprintf(s->nodes[idx].uid, UID_MAX, "%s", uid);
    s->nodes[idx].parent = parent;
    s->nodes[idx].role = role;
    s->nodes[idx].level = level;
    e = visit(s, idx, since, until, &nev, err, errlen);
    if (e < 0 || s->oom) {
        node_clear(&s->nodes[idx]);
        s->n--;
        return e < 0 ? e - 1 : -ENOMEM - 1;
    }
    if (e == 1 || nev == 0) {
        node_clear(&s->nodes[idx]);
        s->n--;
        return -1;
    }
    return idx;
}

static int kid_cmp(const void *a, const void *b)
{
    const struct kid *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return strcmp(x->uid, y->uid);
}

/* Phases 2 and 3: breadth first from node `from`, adding the children it
 * and its new descendants started, with role. */
static int expand(struct story *s, int from, enum role role, char *err, size_t errlen)
{
    int64_t lo = sat_sub(s->around, s->lim.window_ns), hi = sat_add(s->around, s->lim.window_ns);
    size_t head = s->n;
    int cur = from;

    for (;;) {
        struct snode *n = &s->nodes[cur];
        if (n->nkids > 1)
            qsort(n->kids, n->nkids, sizeof(*n->kids), kid_cmp);
        for (size_t i = 0; i < n->nkids; i++) {
            int idx;
            if (find_node(s, n->kids[i].uid) >= 0)
                continue;
            if (n->level + 1 > s->lim.max_depth) {
                s->nodes[cur].not_shown++;
                s->trunc_depth = true;
                continue;
            }
            if (s->n >= s->lim.max_nodes || s->trunc_events) {
                s->nodes[cur].not_shown++;
                s->trunc_nodes = s->trunc_nodes || s->n >= s->lim.max_nodes;
                continue;
            }
            idx = add_and_visit(s, n->kids[i].uid, cur, role, s->nodes[cur].level + 1, lo, hi, err, errlen);
            n = &s->nodes[cur];
            if (idx < -1)
                return idx + 1;
            if (idx < 0)
                s->nodes[cur].not_shown++;
        }
        s->nodes[cur].not_shown += s->nodes[cur].kids_dropped;
        if (s->nodes[cur].kids_dropped)
            s->trunc_nodes = true;
        s->nodes[cur].kids_dropped = 0;
        if (head >= s->n)
            break;
        cur = (int)head++;
    }
    return 0;
}

static void describe_end(struct story *s)
{
    const struct snode *r = &s->nodes[s->root_idx];
    const char *fn = r->file_name ? r->file_name : "?";
    char raw[sizeof(s->end_text)];

    if (strcmp(s->end, "ssh-session") == 0) {
        if (r->login_user && r->login_ip)
            snprintf(raw, sizeof(raw), "an SSH session of %.32s from %.64s", r->login_user,
                     r->login_ip);
        else
            snprintf(raw, sizeof(raw), "an SSH session (sshd, pid %u)", r->pid);
    } else if (strcmp(s->end, "cron") == 0) {
        snprintf(raw, sizeof(raw), "started by cron (%.64s)", fn);
    } else if (strcmp(s->end, "init") == 0) {
        snprintf(raw, sizeof(raw), "started by init (pid 1, %.64s)", fn);
    } else if (strcmp(s->end, "service-manager") == 0) {
        snprintf(raw, sizeof(raw), "started by the service manager (%.64s, pid %u)", fn, r->pid);
    } else if (strcmp(s->end, "container-runtime") == 0) {
        snprintf(raw, sizeof(raw), "started by a container runtime (%.64s)", fn);
    } else if (strcmp(s->end, "console-login") == 0) {
        snprintf(raw, sizeof(raw), "a console login (%.64s)", fn);
    } else if (strcmp(s->end, "limit") == 0) {
        snprintf(raw, sizeof(raw), "the ancestry goes on beyond %u processes (the limit)",
                 s->lim.max_ancestors);
    } else if (strcmp(s->end, "loop") == 0) {
        snprintf(raw, sizeof(raw), "the recorded ancestry loops back on itself (damaged or forged events)");
    } else {
        snprintf(raw, sizeof(raw), "the parent of %.64s (pid %u) is not recorded", fn, r->pid);
    }
    story_words_shorten(raw, sizeof(s->end_text) - 1, s->end_text, sizeof(s->end_text));
}


/* Drops the lines and children of n outside the story's window. */
static void trim_to_window(struct story *s, struct snode *n)
{
    int64_t lo = sat_sub(s->around, s->lim.window_ns), hi = sat_add(s->around, s->lim.window_ns);
    size_t k = 0;

    for (size_t i = 0; i < n->nlines; i++) {
        if (n->lines[i].ts >= lo && n->lines[i].ts <= hi) {
            n->lines[k++] = n->lines[i];
        } else {
            free(n->lines[i].text);
            free(n->lines[i].key);
        }
    }
    n->nlines = k;
    k = 0;
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i].ts >= lo && n->kids[i].ts <= hi)
            n->kids[k++] = n->kids[i];
    n->nkids = k;
}

/* Phase 1: the ancestry of the subject. */
static int walk_up(struct story *s, int64_t until, char *err, size_t errlen)
{
    int cur = s->subject_idx;
    unsigned up = 0;

    for (;;) {
        struct snode *n = &s->nodes[cur];
        const char *stop = story_words_stop(n->file_name, n->has_pid ? n->pid : 0);
        int idx;
        if (stop) {
            s->end = stop;
            break;
        }
        if (!n->parent_uid[0]) {
            s->end = "not-recorded";
            break;
        }
        if (find_node(s, n->parent_uid) >= 0) {
            s->end = "loop";
            break;
        }
        if (up >= s->lim.max_ancestors || s->n >= s->lim.max_nodes) {
            s->end = "limit";
            s->trunc_ancestors = true;
            break;
        }
        idx = add_and_visit(s, n->parent_uid, -1, ROLE_ANCESTOR, 0, 0, until, err, errlen);
        if (idx < -1)
            return idx + 1;
        if (idx < 0) {
            s->end = "not-recorded";
            break;
        }
        s->nodes[cur].parent = idx;
        cur = idx;
        up++;
    }
    s->root_idx = cur;
    /* the login of an SSH session is recorded on the session's parent
     * (the privileged sshd of the connection) */
    if (strcmp(s->end, "ssh-session") == 0 && s->nodes[cur].parent_uid[0] && !s->nodes[cur].login_user) {
        struct collect c = {0};
        int64_t lo = sat_sub(s->around, s->lim.window_ns), hi = sat_add(s->around, s->lim.window_ns);
        bool all;
        int e = read_process(s, s->nodes[cur].parent_uid, SCHEMA_T_LOGON, 0, hi, &c, &all, err, errlen);
        if (e < 0) {
            collect_free(&c);
            return e;
        }
        for (size_t i = 0; i < c.n; i++) {
            struct story_words w;
            if (!names(c.v[i], F_IP_UNIQUE_ID, s->nodes[cur].parent_uid))
                continue;
            note_login(s, &s->nodes[cur], c.v[i]);
            if (c.v[i]->ts >= lo && story_words_event(c.v[i], false, false, &w))
                add_line(s, &s->nodes[cur], c.v[i]->ts, &w);
        }
        collect_free(&c);
    }
    describe_end(s);
    return 0;
}

int story_build(struct store *st, const char *device_id, const char *process_uid, int64_t around_ns,
                const struct story_limits *lim, struct story **out, char *err, size_t errlen)
{
    struct story *s = NULL;
    int idx, e = 0;
    int64_t until;

    *out = NULL;
    if (!device_id || !*device_id || strlen(device_id) >= sizeof(s->device_id)) {
        snprintf(err, errlen, "a device id is required (at most 63 bytes)");
        return -EINVAL;
    }
    if (!process_uid || strlen(process_uid) >= UID_MAX) {
        snprintf(err, errlen, "not a process unique id (expected BOOTID8-PID-TICKS)");
        return -EINVAL;
    }
    if (around_ns < 0) {
        snprintf(err, errlen, "the time must not be before 1970");
        return -EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto oom;
    limits_of(lim, &s->lim);
    s->nodes = calloc(s->lim.max_nodes, sizeof(*s->nodes));
    if (!s->nodes)
        goto oom;
    s->st = st;
    snprintf(s->device_id, sizeof(s->device_id), "%s", device_id);
    snprintf(s->subject, sizeof(s->subject), "%s", process_uid);
    s->around = around_ns;
    until = around_ns ? sat_add(around_ns, s->lim.window_ns) : INT64_MAX;

    idx = add_and_visit(s, process_uid, -1, ROLE_SUBJECT, 0, 0, until, err, errlen);
    if (idx < -1) {
        e = idx + 1;
        goto fail;
    }
    if (idx < 0) {
        snprintf(err, errlen, "no recorded event of process %.48s on this device%s", process_uid,
                 s->trunc_events ? " within the limit of events examined" : "");
        e = -ENOENT;
        goto fail;
    }
    s->subject_idx = idx;
    if (!around_ns) {
        /* around the process itself: its start, else its first event (the
         * events read were the earliest); keep what is in the window */
        struct snode *n = &s->nodes[idx];
        s->around = n->start_ns ? n->start_ns : n->first_ts;
        trim_to_window(s, n);
    }
    e = walk_up(s, sat_add(s->around, s->lim.window_ns), err, errlen);
    if (e)
        goto fail;
    e = expand(s, s->subject_idx, ROLE_DESCENDANT, err, errlen);
    if (e)
        goto fail;
    {
        bool skip_root = strcmp(s->end, "init") == 0 || strcmp(s->end, "service-manager") == 0 ||
                         strcmp(s->end, "cron") == 0 || strcmp(s->end, "container-runtime") == 0;
        for (int a = s->nodes[s->subject_idx].parent; a >= 0 && !e; a = s->nodes[a].parent) {
            if (a == s->root_idx && skip_root)
                break;
            e = expand(s, a, ROLE_RELATIVE, err, errlen);
        }
        if (e)
            goto fail;
    }
    if (s->oom)
        goto oom;
    s->st = NULL;
    *out = s;
    return 0;
oom:
    e = -ENOMEM;
    snprintf(err, errlen, "out of memory building the story");
fail:
    story_free(s);
    return e;
}

/* ------------------------------------------------------------------ alerts */

int story_mark(struct story *s, const char *process_uid, int64_t alert_id, const char *title, const char *severity)
{
    struct snode *n;
    struct salert *na;
    int idx;

    if (!s || !process_uid || !title || !severity)
        return -EINVAL;
    idx = find_node(s, process_uid);
    if (idx < 0)
        return -ENOENT;
    n = &s->nodes[idx];
    for (size_t i = 0; i < n->nalerts; i++)
        if (n->alerts[i].id == alert_id)
            return 0;
    na = realloc(n->alerts, (n->nalerts + 1) * sizeof(*na));
    if (!na)
        return -ENOMEM;
    n->alerts = na;
    na[n->nalerts] = (struct salert){.id = alert_id, .title = strdup(title), .severity = strdup(severity)};
    if (!na[n->nalerts].title || !na[n->nalerts].severity) {
        free(na[n->nalerts].title);
        free(na[n->nalerts].severity);
        return -ENOMEM;
    }
    n->nalerts++;
    return 0;
}

size_t story_node_count(const struct story *s)
{
    return s ? s->n : 0;
}

const char *story_node_uid(const struct story *s, size_t i)
{
    return s && i < s->n ? s->nodes[i].uid : NULL;
}

const char *story_device_id(const struct story *s)
{
    return s ? s->device_id : NULL;
}

int64_t story_time_ns(const struct story *s)
{
    return s ? s->around : 0;
}

/* ------------------------------------------------------------------ JSON */

struct order {
    int *kids;                 /* children of every node, grouped per parent */
    size_t *first, *count;
    const struct story *s;
};

static int start_cmp(const void *a, const void *b, void *ctx)
{
    const struct story *s = ctx;
    const struct snode *x = &s->nodes[*(const int *)a], *y = &s->nodes[*(const int *)b];
    int64_t tx = x->start_ns ? x->start_ns : x->first_ts, ty = y->start_ns ? y->start_ns : y->first_ts;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return strcmp(x->uid, y->uid);
}

static void node_json(const struct story *s, const struct snode *n, unsigned depth, struct jsonw *w)
{
    jsonw_object_begin(w);
    jsonw_kv_str(w, "uid", n->uid);
    jsonw_key(w, "parent");
    if (n->parent >= 0)
        jsonw_str(w, s->nodes[n->parent].uid);
    else
        jsonw_null(w);
    jsonw_kv_uint(w, "depth", depth);
    jsonw_kv_str(w, "role", role_names[n->role]);
    if (n->has_pid)
        jsonw_kv_uint(w, "pid", n->pid);
    jsonw_kv_str_opt(w, "image", n->image);
    jsonw_kv_str_opt(w, "file_name", n->file_name);
    jsonw_kv_str_opt(w, "command_line", n->cmdline);
    jsonw_kv_str_opt(w, "user", n->user);
    if (n->has_account_uid)
        jsonw_kv_int(w, "account_uid", n->account_uid);
    if (n->start_ns)
        jsonw_kv_time(w, "start_time", (uint64_t)n->start_ns);
    if (n->snapshot)
        jsonw_kv_bool(w, "running_at_agent_start", true);
    if (n->exited) {
        jsonw_key(w, "exit");
        jsonw_object_begin(w);
        jsonw_kv_time(w, "time", (uint64_t)n->exit_ns);
        if (n->has_code)
            jsonw_kv_int(w, "code", n->exit_code);
        if (n->has_signal)
            jsonw_kv_int(w, "signal", n->exit_signal);
        jsonw_object_end(w);
    }
    if (n->rank < 2)
        jsonw_kv_bool(w, "start_not_recorded", true);
    if (!n->read_all)
        jsonw_kv_bool(w, "events_truncated", true);
    jsonw_key(w, "lines");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n->nlines; i++) {
        const struct sline *l = &n->lines[i];
        jsonw_object_begin(w);
        jsonw_kv_time(w, "time", (uint64_t)l->ts);
        jsonw_kv_str(w, "kind", l->kind);
        jsonw_kv_str(w, "text", l->text);
        if (l->count > 1)
            jsonw_kv_uint(w, "count", l->count);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    if (n->lines_dropped)
        jsonw_kv_uint(w, "lines_not_shown", n->lines_dropped);
    if (n->not_shown)
        jsonw_kv_uint(w, "children_not_shown", n->not_shown);
    jsonw_key(w, "alerts");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n->nalerts; i++) {
        jsonw_object_begin(w);
        jsonw_kv_int(w, "id", n->alerts[i].id);
        jsonw_kv_str(w, "title", n->alerts[i].title);
        jsonw_kv_str(w, "severity", n->alerts[i].severity);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    jsonw_object_end(w);
}

void story_json(const struct story *s, struct jsonw *w)
{
    int *kids = NULL, *stack = NULL;
    size_t *first = NULL, *count = NULL, *fill = NULL;
    unsigned *depth = NULL;
    size_t sp = 0;

    jsonw_object_begin(w);
    jsonw_kv_str(w, "device_id", s->device_id);
    jsonw_kv_str(w, "process", s->subject);
    jsonw_kv_time(w, "time", (uint64_t)s->around);
    jsonw_kv_str(w, "ancestry_end", s->end ? s->end : "not-recorded");
    jsonw_kv_str(w, "ancestry_end_text", s->end_text);
    jsonw_kv_bool(w, "truncated", s->trunc_nodes || s->trunc_depth || s->trunc_events || s->trunc_node_events ||
                                      s->trunc_lines || s->trunc_ancestors);
    jsonw_key(w, "truncated_by");
    jsonw_array_begin(w);
    if (s->trunc_nodes)
        jsonw_str(w, "nodes");
    if (s->trunc_depth)
        jsonw_str(w, "depth");
    if (s->trunc_ancestors)
        jsonw_str(w, "ancestors");
    if (s->trunc_lines)
        jsonw_str(w, "lines");
    if (s->trunc_node_events)
        jsonw_str(w, "events_per_process");
    if (s->trunc_events)
        jsonw_str(w, "events");
    jsonw_array_end(w);
    jsonw_key(w, "limits");
    jsonw_object_begin(w);
    jsonw_kv_uint(w, "max_nodes", s->lim.max_nodes);
    jsonw_kv_uint(w, "max_ancestors", s->lim.max_ancestors);
    jsonw_kv_uint(w, "max_depth", s->lim.max_depth);
    jsonw_kv_uint(w, "max_lines", s->lim.max_lines);
    jsonw_kv_uint(w, "max_node_events", s->lim.max_node_events);
    jsonw_kv_uint(w, "max_events", s->lim.max_events);
    jsonw_kv_uint(w, "window_seconds", (uint64_t)(s->lim.window_ns / 1000000000));
    jsonw_object_end(w);
    jsonw_kv_uint(w, "events_examined", s->scanned);
    jsonw_key(w, "nodes");
    jsonw_array_begin(w);
    if (s->n) {
        kids = calloc(s->n, sizeof(*kids));
        stack = calloc(s->n, sizeof(*stack));
        first = calloc(s->n, sizeof(*first));
        count = calloc(s->n, sizeof(*count));
        fill = calloc(s->n, sizeof(*fill));
        depth = calloc(s->n, sizeof(*depth));
    }
    if (s->n && (!kids || !stack || !first || !count || !fill || !depth)) {
        w->failed = true; /* the writer reports it as out of memory */
        goto out;
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->nodes[i].parent >= 0)
            count[s->nodes[i].parent]++;
    for (size_t i = 1; i < s->n; i++)
        first[i] = first[i - 1] + count[i - 1];
    for (size_t i = 0; i < s->n; i++)
        if (s->nodes[i].parent >= 0) {
            size_t p = (size_t)s->nodes[i].parent;
            kids[first[p] + fill[p]++] = (int)i;
        }
    for (size_t i = 0; i < s->n; i++)
        if (count[i] > 1)
            qsort_r(kids + first[i], count[i], sizeof(int), start_cmp, (void *)s);
    /* depth first from every root (one, unless a walk was cut), children by start */
    for (size_t r = 0; r < s->n; r++) {
        if (s->nodes[r].parent >= 0)
            continue;
        stack[sp++] = (int)r;
        depth[r] = 0;
        while (sp) {
            int i = stack[--sp];
            node_json(s, &s->nodes[i], depth[i], w);
            for (size_t k = count[i]; k-- > 0;) {
                int c = kids[first[i] + k];
                depth[c] = depth[i] + 1;
                if (sp < s->n)
                    stack[sp++] = c;
            }
        }
    }
out:
    jsonw_array_end(w);
    jsonw_object_end(w);
    free(kids);
    free(stack);
    free(first);
    free(count);
    free(fill);
    free(depth);
}
