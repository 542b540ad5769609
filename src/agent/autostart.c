/*
 * autostart.c — the list of every autostart entry (see autostart.h). One
 * reader per kind of location, each adding entries through add(), which
 * bounds the list and makes ids unique. Files are read whole (at most
 * AUTOSTART_MAX_FILE) and split into lines; directories are listed in
 * name order so that the list, and the ids made unique by "~2", come out
 * the same on every call. What cannot be read is skipped in silence: an
 * inventory reports what is there.
 *
 * The executable an entry runs (its target) is read from its command the
 * way a shell would start it: past variable assignments and wrappers
 * (nohup, exec, env, setsid, nice, sudo), into `sh -c '…'`, and to the
 * script an interpreter is given; a bare name is looked up in the
 * standard PATH under root. What cannot be read that way has no target.
 */
#include "agent/autostart.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/hostinv.h"
#include "agent/kmodinfo.h"
#include "agent/unitfiles.h"

#define DIR_MAX 4096  /* entries of one directory looked at */
#define USERS_MAX 4096

struct home {
    char *user;
    char *dir; /* "/root", "/home/alice" */
};

struct ctx {
    const char *root;
    struct autostart_entry *v;
    size_t n, cap;
    bool oom;
    struct home *homes;
    size_t nhomes;
    struct kmodinfo_dep *dep;
    bool dep_tried;
};

/* ------------------------------------------------------------ small helpers */

static bool full(const struct ctx *c, const char *path, char *out, size_t outlen)
{
    return snprintf(out, outlen, "%s%s", c->root, path) < (int)outlen;
}

static bool is_regular(const struct ctx *c, const char *path)
{
    char f[PATH_MAX];
    struct stat st;
    return full(c, path, f, sizeof(f)) && lstat(f, &st) == 0 && S_ISREG(st.st_mode);
}

static bool exists(const struct ctx *c, const char *path)
{
    char f[PATH_MAX];
    struct stat st;
    return full(c, path, f, sizeof(f)) && stat(f, &st) == 0 && !S_ISDIR(st.st_mode);
}

static int filter_visible(const struct dirent *de)
{
    return de->d_name[0] != '.';
}

/* The visible names of dir (a machine path) in name order; free with
 * free_names. Returns the count (0 when it cannot be listed). */
static int names_of(const struct ctx *c, const char *dir, struct dirent ***out)
{
    char f[PATH_MAX];
    int n;

    *out = NULL;
    if (!full(c, dir, f, sizeof(f)))
        return 0;
    n = scandir(f, out, filter_visible, alphasort);
    if (n < 0) {
        *out = NULL;
        return 0;
    }
    return n;
}

static void free_names(struct dirent **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* run-parts' rule for names (cron.d and cron.daily): letters, digits, _ and -. */
static bool run_parts_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* A line of a shell file that runs nothing by itself. */
static bool shell_structure(const char *t)
{
    static const char *const words[] = {"fi", "done", "esac", "then", "else", "do", "{", "}", ";;", "exit", NULL};
    char w[16];
    size_t n = strcspn(t, " \t;");

    if (!*t || *t == '#')
        return true;
    {   /* a case arm's pattern alone: "*)", "xterm*|rxvt*)", "*i*) ;;" */
        size_t k = strcspn(t, " \t");
        const char *rest = t + k;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        if (k && t[k - 1] == ')' && !strchr(t, '(') && (!*rest || strcmp(rest, ";;") == 0))
            return true;
    }
    if (n >= sizeof(w))
        return false;
    memcpy(w, t, n);
    w[n] = '\0';
    for (const char *const *x = words; *x; x++)
        if (strcmp(w, *x) == 0) {
            const char *rest = t + n;
            while (*rest == ' ' || *rest == '\t' || *rest == ';')
                rest++;
            /* "exit", "exit 0", "fi", "done < x" is still structure; "fi; /x" is not */
            if (!*rest || *rest == '#' || (strcmp(w, "exit") == 0 && strspn(rest, "0123456789") == strlen(rest)) ||
                (strcmp(w, "done") == 0 && *rest == '<'))
                return true;
        }
    return false;
}

/* ------------------------------------------------------------ the target of a command */

/* The next word of *s (quotes removed, as a shell reads simple words) into
 * w; false at the end. */
static bool next_word(const char **s, char *w, size_t wlen)
{
    const char *p = *s;
    size_t o = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return false;
    while (*p && *p != ' ' && *p != '\t') {
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p && *p != q) {
                if (q == '"' && *p == '\\' && p[1])
                    p++;
                if (o + 1 < wlen)
                    w[o++] = *p;
                p++;
            }
            if (*p)
                p++;
        } else if (strchr(";&|<>()`", *p)) {
            if (o == 0) { /* an operator ends the simple command */
                *s = p;
                w[0] = '\0';
                return false;
            }
            break;
        } else {
            if (*p == '\\' && p[1])
                p++;
            if (o + 1 < wlen)
                w[o++] = *p;
            p++;
        }
    }
    w[o] = '\0';
    *s = p;
    return true;
}

static bool is_assignment(const char *w)
{
    const char *eq = strchr(w, '=');
    if (!eq || eq == w || (!isalpha((unsigned char)w[0]) && w[0] != '_'))
        return false;
    for (const char *p = w; p < eq; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return false;
    return true;
}

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool is_shell(const char *b)
{
    static const char *const sh[] = {"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox", NULL};
    for (const char *const *x = sh; *x; x++)
        if (strcmp(b, *x) == 0)
            return true;
    return false;
}

static bool is_interpreter(const char *b)
{
    static const char *const in[] = {"python", "perl", "ruby", "node", "php", "lua", "tclsh", "awk", NULL};
    if (is_shell(b))
        return true;
    for (const char *const *x = in; *x; x++)
        if (strncmp(b, *x, strlen(*x)) == 0)
            return true;
    return false;
}

/* A bare name looked up in the standard PATH under root. */
static char *lookup_path(const struct ctx *c, const char *name)
{
    static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                       "/sbin",           "/bin",           NULL};
    char p[PATH_MAX];

    if (!*name || strchr(name, '/'))
        return NULL;
    for (const char *const *d = dirs; *d; d++)
        if (snprintf(p, sizeof(p), "%s/%s", *d, name) < (int)sizeof(p) && exists(c, p))
            return strdup(p);
    return NULL;
}

/* Programs and builtins that only test or set up: the command's target is
 * what follows them ("test -x /x && /x", "[ -f F ] && . F"). */
static bool runs_nothing(const char *b)
{
    static const char *const words[] = {"test",  "[",     "[[",    "true",   "false",    ":",      "cd",
                                        "export", "unset", "alias", "set",    "shopt",    "umask",  "ulimit",
                                        "return", "exit",  "local", "readonly", "declare", "typeset", "trap",
                                        "if",    "elif",  "while", "until",  "for",      "case",   "then",
                                        "do",    "else",  "!",     "eval",   "echo",     "printf",
                                        NULL};
    for (const char *const *x = words; *x; x++)
        if (strcmp(b, *x) == 0)
            return true;
    return false;
}

/* Moves *s past the current simple command and its operator (; & | && ||);
 * false at the end of the line. */
static bool next_segment(const char **s)
{
    const char *p = *s;
    char q = 0;

    for (; *p; p++) {
        if (q) {
            if (*p == '\\' && q == '"' && p[1])
                p++;
            else if (*p == q)
                q = 0;
        } else if (*p == '\'' || *p == '"') {
            q = *p;
        } else if (*p == ';' || *p == '&' || *p == '|') {
            while (*p == ';' || *p == '&' || *p == '|')
                p++;
            *s = p;
            return true;
        }
    }
    *s = p;
    return false;
}

static char *cmd_target_depth(const struct ctx *c, const char *cmd, int depth);

/* The target of the simple command at the start of s, or NULL. */
static char *segment_target(const struct ctx *c, const char *s, int depth)
{
    static const char *const wrappers[] = {"nohup", "exec", "env", "setsid", "nice", "sudo", "command", "nocache",
                                           "ionice", "chrt", "timeout", NULL};
    char w[PATH_MAX];
    char *prog = NULL;

    /* the program: past assignments, wrappers and their options */
    for (;;) {
        bool wrapper = false;
        if (!next_word(&s, w, sizeof(w)))
            return NULL;
        if (is_assignment(w))
            continue;
        for (const char *const *x = wrappers; *x && !wrapper; x++)
            wrapper = strcmp(base_of(w), *x) == 0;
        if (wrapper) {
            /* skip the wrapper's options (and timeout's duration, nice's -n N) */
            const char *save = s;
            while (next_word(&s, w, sizeof(w)) && (w[0] == '-' || (isdigit((unsigned char)w[0]))))
                save = s;
            s = save;
            continue;
        }
        break;
    }
    if (strcmp(w, ".") == 0 || strcmp(w, "source") == 0) /* a sourced file */
        return next_word(&s, w, sizeof(w)) && w[0] == '/' ? strdup(w) : NULL;
    if (w[0] == '@' || w[0] == '-' || w[0] == '+' || w[0] == '!' || w[0] == ':') { /* systemd's ExecStart prefixes */
        size_t k = strspn(w, "@-+!:");
        memmove(w, w + k, strlen(w + k) + 1);
    }
    if (runs_nothing(base_of(w)))
        return NULL;
    if (w[0] == '/')
        prog = strdup(w);
    else
        prog = lookup_path(c, w); /* NULL when not installed: an interpreter's script still counts */
    if (is_interpreter(base_of(w))) {
        char w0[64] = "";
        if (strlen(base_of(w)) < sizeof(w0))
            memcpy(w0, base_of(w), strlen(base_of(w)) + 1);
        /* sh -c 'CMD' runs CMD; sh SCRIPT (or python SCRIPT) runs SCRIPT */
        while (next_word(&s, w, sizeof(w))) {
            if (strcmp(w, "-c") == 0 && is_shell(w0)) {
                if (next_word(&s, w, sizeof(w))) {
                    char *inner = cmd_target_depth(c, w, depth + 1);
                    if (inner) {
                        free(prog);
                        return inner;
                    }
                }
                break;
            }
            if (w[0] == '-')
                continue;
            if (w[0] == '/') {
                free(prog);
                return strdup(w);
            }
            break;
        }
    }
    return prog;
}

/* The target of the first simple command of cmd that runs something. */
static char *cmd_target_depth(const struct ctx *c, const char *cmd, int depth)
{
    const char *s = cmd;

    if (!cmd || depth > 2)
        return NULL;
    do {
        char *t = segment_target(c, s, depth);
        if (t)
            return t;
    } while (next_segment(&s));
    return NULL;
}

static char *cmd_target(const struct ctx *c, const char *cmd)
{
    return cmd_target_depth(c, cmd, 0);
}

/* ------------------------------------------------------------ entries */

static bool id_taken(const struct ctx *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].id, id) == 0)
            return true;
    return false;
}

static char *dup_or_null(struct ctx *c, const char *s)
{
    char *d;
    if (!s)
        return NULL;
    if (!(d = strdup(s)))
        c->oom = true;
    return d;
}

/* Adds an entry; target is taken over (malloc'd or NULL). Returns it (to
 * set the removal), or NULL when the list is full or memory ran out. */
static struct autostart_entry *add(struct ctx *c, const char *category, bool scheduled, const char *id,
                                   const char *source, int line, const char *user, const char *schedule,
                                   const char *command, char *target)
{
    struct autostart_entry *e;
    char uid[300];

    if (c->oom || c->n >= AUTOSTART_MAX_ENTRIES) {
        free(target);
        return NULL;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct autostart_entry *p = realloc(c->v, cap * sizeof(*p));
        if (!p) {
            c->oom = true;
            free(target);
            return NULL;
        }
        c->v = p;
        c->cap = cap;
    }
    snprintf(uid, sizeof(uid), "%s", id);
    for (int k = 2; id_taken(c, uid); k++)
        snprintf(uid, sizeof(uid), "%.280s~%d", id, k);
    e = &c->v[c->n];
    memset(e, 0, sizeof(*e));
    e->category = category;
    e->scheduled = scheduled;
    e->line = line;
    e->id = dup_or_null(c, uid);
    e->source = dup_or_null(c, source);
    e->user = dup_or_null(c, user);
    e->schedule = dup_or_null(c, schedule);
    e->command = dup_or_null(c, command);
    e->target = target;
    c->n++;
    return e;
}

static void set_remove(struct ctx *c, struct autostart_entry *e, const char *kind, const char *path,
                       const char *match)
{
    if (!e)
        return;
    e->remove_kind = dup_or_null(c, kind);
    e->remove_path = dup_or_null(c, path);
    e->remove_match = dup_or_null(c, match);
}

/* Calls fn for each line (lines longer than AUTOSTART_MAX_LINE skipped) of
 * the file at the machine path; raw is the line without its newline. */
typedef void (*line_fn)(struct ctx *c, const char *path, char *raw, int lineno, void *arg);

static void each_line(struct ctx *c, const char *path, line_fn fn, void *arg)
{
    char f[PATH_MAX], *buf, *p;
    size_t len;
    int lineno = 0;

    if (!full(c, path, f, sizeof(f)) || hostinv_read_file(f, AUTOSTART_MAX_FILE, false, &buf, &len, NULL) != 0)
        return;
    p = buf;
    while (p < buf + len && !c->oom) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p)), *end = nl ? nl : buf + len;
        lineno++;
        if ((size_t)(end - p) <= AUTOSTART_MAX_LINE && !memchr(p, '\0', (size_t)(end - p))) {
            *end = '\0';
            fn(c, path, p, lineno, arg);
        }
        p = end + 1;
    }
    free(buf);
}

/* ------------------------------------------------------------ users and homes */

static void read_homes(struct ctx *c)
{
    struct dirent **v;
    int n;
    char f[PATH_MAX];
    struct stat st;

    c->homes = calloc(USERS_MAX + 1, sizeof(*c->homes));
    if (!c->homes) {
        c->oom = true;
        return;
    }
    if (full(c, "/root", f, sizeof(f)) && stat(f, &st) == 0 && S_ISDIR(st.st_mode)) {
        c->homes[c->nhomes].user = strdup("root");
        c->homes[c->nhomes].dir = strdup("/root");
        c->nhomes++;
    }
    n = names_of(c, "/home", &v);
    for (int i = 0; i < n && c->nhomes < USERS_MAX; i++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "/home/%s", v[i]->d_name);
        if (!full(c, dir, f, sizeof(f)) || stat(f, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        c->homes[c->nhomes].user = strdup(v[i]->d_name);
        c->homes[c->nhomes].dir = strdup(dir);
        c->nhomes++;
    }
    free_names(v, n);
    for (size_t i = 0; i < c->nhomes; i++)
        if (!c->homes[i].user || !c->homes[i].dir)
            c->oom = true;
}

/* The name of uid in root's /etc/passwd into out, or the number. */
static void user_of_uid(const struct ctx *c, unsigned long uid, char *out, size_t outlen)
{
    char f[PATH_MAX];
    FILE *pw;

    snprintf(out, outlen, "%lu", uid);
    if (!full(c, "/etc/passwd", f, sizeof(f)) || !(pw = fopen(f, "re")))
        return;
    for (struct passwd *p; (p = fgetpwent(pw));)
        if (p->pw_uid == uid) {
            snprintf(out, outlen, "%s", p->pw_name);
            break;
        }
    fclose(pw);
}

/* ------------------------------------------------------------ cron */

/* Splits a cron line into its schedule ("@reboot" or five fields), user
 * (system tables) and command. False for comments, blanks and variable
 * settings. */
static bool cron_split(const char *line, bool with_user, char *sched, size_t slen, char *user, size_t ulen,
                       const char **command)
{
    const char *p = line;
    int fields;
    size_t o = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || *p == '#' || *p == '\r')
        return false;
    {
        size_t k = strcspn(p, " \t=");
        if (p[k] == '=' || (p[k] && p[k + strspn(p + k, " \t")] == '='))
            if (isalpha((unsigned char)*p) || *p == '_')
                return false; /* VAR=value */
    }
    fields = *p == '@' ? 1 : 5;
    for (int f = 0; f < fields; f++) {
        size_t k = strcspn(p, " \t");
        if (!k)
            return false;
        if (o + k + 2 < slen) {
            if (o)
                sched[o++] = ' ';
            memcpy(sched + o, p, k);
            o += k;
        }
        p += k;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    sched[o] = '\0';
    user[0] = '\0';
    if (with_user) {
        size_t k = strcspn(p, " \t");
        if (!k)
            return false;
        snprintf(user, ulen, "%.*s", (int)k, p);
        p += k;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    if (!*p)
        return false;
    *command = p;
    return true;
}

struct cron_file {
    const char *idbase;   /* "crontab", "crontab-alice", "awsd" */
    bool with_user;
    const char *user;     /* user crontabs: the owner */
    bool by_line;         /* ids by line number (else by ordinal) */
    bool whole_file;      /* one entry: cron_file */
    bool removable;
    int count;            /* entries seen so far */
};

static void cron_line(struct ctx *c, const char *path, char *raw, int lineno, void *arg)
{
    struct cron_file *cf = arg;
    char sched[256], user[64], id[300], cmd[AUTOSTART_MAX_LINE + 1];
    const char *command;
    struct autostart_entry *e;

    if (!cron_split(raw, cf->with_user, sched, sizeof(sched), user, sizeof(user), &command))
        return;
    cf->count++;
    snprintf(cmd, sizeof(cmd), "%s", command);
    if (cf->whole_file)
        snprintf(id, sizeof(id), "%s", cf->idbase);
    else
        snprintf(id, sizeof(id), "%s:%d", cf->idbase, cf->by_line ? lineno : cf->count);
    e = add(c, "cron", true, id, path, lineno, cf->with_user ? user : cf->user, sched, trim(cmd),
            cmd_target(c, trim(cmd)));
    if (!cf->removable)
        return;
    if (cf->whole_file)
        set_remove(c, e, "cron_file", path, NULL);
    else
        set_remove(c, e, "cron_line", path, raw);
}

static void count_line(struct ctx *c, const char *path, char *raw, int lineno, void *arg)
{
    char sched[256], user[64];
    const char *command;
    if (cron_split(raw, true, sched, sizeof(sched), user, sizeof(user), &command))
        (*(int *)arg)++;
}

static void read_cron(struct ctx *c)
{
    static const char *const periods[] = {"hourly", "daily", "weekly", "monthly", NULL};
    struct dirent **v;
    int n;

    {
        struct cron_file cf = {.idbase = "crontab", .with_user = true, .by_line = true,
                               .removable = is_regular(c, "/etc/crontab")};
        each_line(c, "/etc/crontab", cron_line, &cf);
    }
    n = names_of(c, "/etc/cron.d", &v);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        int entries = 0;
        struct cron_file cf = {.idbase = v[i]->d_name, .with_user = true};
        if (!run_parts_name(v[i]->d_name))
            continue;
        snprintf(path, sizeof(path), "/etc/cron.d/%s", v[i]->d_name);
        each_line(c, path, count_line, &entries);
        cf.whole_file = entries == 1;
        cf.removable = is_regular(c, path);
        each_line(c, path, cron_line, &cf);
    }
    free_names(v, n);
    n = names_of(c, "/var/spool/cron/crontabs", &v);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], base[300];
        struct cron_file cf = {.idbase = base, .user = v[i]->d_name, .by_line = true};
        snprintf(path, sizeof(path), "/var/spool/cron/crontabs/%s", v[i]->d_name);
        snprintf(base, sizeof(base), "crontab-%s", v[i]->d_name);
        cf.removable = is_regular(c, path);
        each_line(c, path, cron_line, &cf);
    }
    free_names(v, n);
    for (const char *const *p = periods; *p; p++) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/etc/cron.%s", *p);
        n = names_of(c, dir, &v);
        for (int i = 0; i < n; i++) {
            char path[PATH_MAX], id[300];
            struct autostart_entry *e;
            if (!run_parts_name(v[i]->d_name))
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, v[i]->d_name);
            if (!exists(c, path))
                continue;
            snprintf(id, sizeof(id), "cron.%s/%s", *p, v[i]->d_name);
            e = add(c, "cron", true, id, path, 0, "root", *p, path, dup_or_null(c, path));
            if (is_regular(c, path))
                set_remove(c, e, "cron_file", path, NULL);
        }
        free_names(v, n);
    }
}

/* ------------------------------------------------------------ at */

/* at's job file name: queue letter, 5 hex digits of job number, 8 of
 * minutes since 1970. */
static bool at_name(const char *s, unsigned long *job, unsigned long *minutes)
{
    char num[9];
    if (strlen(s) != 14 || !isalpha((unsigned char)s[0]) || strspn(s + 1, "0123456789abcdef") != 13)
        return false;
    memcpy(num, s + 1, 5);
    num[5] = '\0';
    *job = strtoul(num, NULL, 16);
    memcpy(num, s + 6, 8);
    num[8] = '\0';
    *minutes = strtoul(num, NULL, 16);
    return true;
}

static void read_at(struct ctx *c)
{
    struct dirent **v;
    int n = names_of(c, "/var/spool/cron/atjobs", &v);

    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], f[PATH_MAX], id[64], when[40], user[64] = "", delim[128] = "", *buf, *save = NULL;
        char *cmd = NULL;
        size_t len, clen = 0;
        unsigned long job, minutes;
        bool in_body = false;
        time_t t;
        struct tm tm;

        if (!at_name(v[i]->d_name, &job, &minutes))
            continue;
        snprintf(path, sizeof(path), "/var/spool/cron/atjobs/%s", v[i]->d_name);
        if (!full(c, path, f, sizeof(f)) || hostinv_read_file(f, AUTOSTART_MAX_FILE, false, &buf, &len, NULL) != 0)
            continue;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *q;
            if (strncmp(line, "# atrun uid=", 12) == 0) {
                user_of_uid(c, strtoul(line + 12, NULL, 10), user, sizeof(user));
                continue;
            }
            if (!in_body) {
                /* the commands follow: ${SHELL:-/bin/sh} << 'marcinDELIMITER…' */
                if ((q = strstr(line, "<< '")) && strchr(q + 4, '\'')) {
                    snprintf(delim, sizeof(delim), "%.*s", (int)(strchr(q + 4, '\'') - q - 4), q + 4);
                    in_body = true;
                }
                continue;
            }
            if (strcmp(line, delim) == 0)
                break;
            if (strlen(trim(line)) && clen < AUTOSTART_MAX_LINE) {
                char *p = realloc(cmd, clen + strlen(line) + 3);
                if (!p)
                    break;
                cmd = p;
                clen += (size_t)sprintf(cmd + clen, "%s%s", clen ? "; " : "", trim(line));
            }
        }
        t = (time_t)(minutes * 60);
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(id, sizeof(id), "at-%lu", job);
        add(c, "at job", true, id, path, 0, user[0] ? user : NULL, when, cmd ? cmd : "",
            cmd ? cmd_target(c, cmd) : NULL);
        free(cmd);
        free(buf);
    }
    free_names(v, n);
}

/* ------------------------------------------------------------ systemd */

static void read_systemd(struct ctx *c)
{
    struct unitfile *u = NULL;
    size_t n = 0;
    char err[128];

    if (unitfiles_list(c->root, NULL, &u, &n, err, sizeof(err)) != 0) {
        c->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct unitfile *f = &u[i], *svc = f;
        const char *dot = strrchr(f->name, '.');
        bool timer;
        struct autostart_entry *e;

        if (strcmp(f->state, "enabled") != 0 || !dot ||
            (strcmp(dot, ".service") && strcmp(dot, ".timer") && strcmp(dot, ".socket") && strcmp(dot, ".path")))
            continue;
        timer = strcmp(dot, ".timer") == 0;
        if (f->triggers && !f->exec_start)
            svc = unitfiles_find(u, n, f->triggers);
        e = add(c, timer ? "systemd timer" : "systemd unit", timer, f->name, f->path, 0,
                svc && svc->user ? svc->user : "root", f->schedule, svc ? svc->exec_start : NULL,
                svc ? cmd_target(c, svc->exec_start) : NULL);
        set_remove(c, e, "systemd_unit", NULL, f->name);
    }
    unitfiles_free(u, n);
}

/* ------------------------------------------------------------ line files */

struct line_file {
    const char *category;
    const char *idbase;   /* "rc.local", "root-.bashrc" */
    const char *user;
    const char *kind;     /* the remediation kind, or NULL */
    bool shell;           /* command lines of a shell file */
    bool keys;            /* authorized_keys: every key line, the target from command="…" */
    bool modules;         /* module names: the target from modules.dep */
};

static char *key_command_target(const struct ctx *c, const char *line)
{
    const char *p = strstr(line, "command=\"");
    char cmd[AUTOSTART_MAX_LINE + 1];
    size_t o = 0;

    if (!p)
        return NULL;
    for (p += 9; *p && *p != '"' && o + 1 < sizeof(cmd); p++) {
        if (*p == '\\' && p[1])
            p++;
        cmd[o++] = *p;
    }
    cmd[o] = '\0';
    return cmd_target(c, cmd);
}

static char *module_target(struct ctx *c, const char *line)
{
    char name[64];
    const char *p;
    size_t k = strcspn(line, " \t");

    if (!k || k >= sizeof(name))
        return NULL;
    snprintf(name, sizeof(name), "%.*s", (int)k, line);
    if (!c->dep_tried) {
        c->dep_tried = true;
        kmodinfo_dep_load(c->root, NULL, &c->dep);
    }
    p = c->dep ? kmodinfo_dep_path(c->dep, name) : NULL;
    return dup_or_null(c, p);
}

static void line_entry(struct ctx *c, const char *path, char *raw, int lineno, void *arg)
{
    struct line_file *lf = arg;
    char copy[AUTOSTART_MAX_LINE + 1], id[400], *t;
    char *target;
    struct autostart_entry *e;

    snprintf(copy, sizeof(copy), "%s", raw);
    t = trim(copy);
    if (!*t || *t == '#' || (lf->modules && *t == ';') || (lf->shell && shell_structure(t)))
        return;
    if (lf->keys)
        target = key_command_target(c, t);
    else if (lf->modules)
        target = module_target(c, t);
    else if (!lf->shell && t[0] == '/') /* ld.so.preload: the first library */
        target = strndup(t, strcspn(t, " \t:"));
    else
        target = lf->shell ? cmd_target(c, t) : NULL;
    snprintf(id, sizeof(id), "%s:%d", lf->idbase, lineno);
    e = add(c, lf->category, false, id, path, lineno, lf->user, NULL, t, target);
    if (lf->kind && is_regular(c, path))
        set_remove(c, e, lf->kind, path, raw);
}

static void read_line_file(struct ctx *c, const char *path, struct line_file *lf)
{
    each_line(c, path, line_entry, lf);
}

static void read_shell_rc(struct ctx *c)
{
    static const char *const system[] = {"/etc/profile", "/etc/bash.bashrc", "/etc/zsh/zshrc", NULL};
    static const char *const rc[] = {".bashrc", ".profile", ".bash_profile", ".bash_login", ".bash_logout",
                                     ".zshrc", NULL};

    {
        struct line_file lf = {.category = "rc.local", .idbase = "rc.local", .user = "root",
                               .kind = "rc_local_line", .shell = true};
        read_line_file(c, "/etc/rc.local", &lf);
    }
    for (const char *const *s = system; *s; s++) {
        struct line_file lf = {.category = "shell rc", .idbase = base_of(*s), .kind = "shell_rc_line", .shell = true};
        read_line_file(c, *s, &lf);
    }
    for (size_t h = 0; h < c->nhomes; h++)
        for (const char *const *r = rc; *r; r++) {
            char path[PATH_MAX], base[300];
            struct line_file lf = {.category = "shell rc", .idbase = base, .user = c->homes[h].user,
                                   .kind = "shell_rc_line", .shell = true};
            snprintf(path, sizeof(path), "%s/%s", c->homes[h].dir, *r);
            snprintf(base, sizeof(base), "%s-%s", c->homes[h].user, *r);
            read_line_file(c, path, &lf);
        }
}

static void read_keys(struct ctx *c)
{
    static const char *const files[] = {"authorized_keys", "authorized_keys2", NULL};

    for (size_t h = 0; h < c->nhomes; h++)
        for (const char *const *k = files; *k; k++) {
            char path[PATH_MAX], base[300];
            struct line_file lf = {.category = "authorized_keys", .idbase = base, .user = c->homes[h].user,
                                   .kind = "authorized_keys_line", .keys = true};
            snprintf(path, sizeof(path), "%s/.ssh/%s", c->homes[h].dir, *k);
            snprintf(base, sizeof(base), "%s-%s", c->homes[h].user, *k);
            read_line_file(c, path, &lf);
        }
}

static void read_preload_and_modules(struct ctx *c)
{
    struct dirent **v;
    int n;

    {
        struct line_file lf = {.category = "ld.so.preload", .idbase = "ld.so.preload", .kind = "ld_preload_line"};
        read_line_file(c, "/etc/ld.so.preload", &lf);
    }
    {
        struct line_file lf = {.category = "kernel module autoload", .idbase = "modules", .user = "root",
                               .modules = true};
        read_line_file(c, "/etc/modules", &lf);
    }
    n = names_of(c, "/etc/modules-load.d", &v);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], base[300];
        struct line_file lf = {.category = "kernel module autoload", .idbase = base, .user = "root",
                               .modules = true};
        size_t l = strlen(v[i]->d_name);
        if (l < 6 || strcmp(v[i]->d_name + l - 5, ".conf") != 0)
            continue;
        snprintf(path, sizeof(path), "/etc/modules-load.d/%s", v[i]->d_name);
        snprintf(base, sizeof(base), "modules-load.d/%s", v[i]->d_name);
        read_line_file(c, path, &lf);
    }
    free_names(v, n);
}

/* ------------------------------------------------------------ whole files */

static void read_profile_d(struct ctx *c)
{
    struct dirent **v;
    int n = names_of(c, "/etc/profile.d", &v);

    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], id[300];
        struct autostart_entry *e;
        snprintf(path, sizeof(path), "/etc/profile.d/%s", v[i]->d_name);
        if (!exists(c, path))
            continue;
        snprintf(id, sizeof(id), "profile.d/%s", v[i]->d_name);
        e = add(c, "profile.d", false, id, path, 0, NULL, NULL, path, dup_or_null(c, path));
        if (is_regular(c, path))
            set_remove(c, e, "profile_d_file", path, NULL);
    }
    free_names(v, n);
}

static void read_init_scripts(struct ctx *c)
{
    static const char levels[] = "0123456S";
    char seen[256][64];
    size_t nseen = 0;

    for (const char *l = levels; *l; l++) {
        char dir[32];
        struct dirent **v;
        int n;
        snprintf(dir, sizeof(dir), "/etc/rc%c.d", *l);
        n = names_of(c, dir, &v);
        for (int i = 0; i < n; i++) {
            char link[PATH_MAX], f[PATH_MAX], target[PATH_MAX], path[PATH_MAX], id[128], cmd[PATH_MAX + 8];
            const char *name;
            ssize_t tl;
            bool dup = false;
            if (v[i]->d_name[0] != 'S')
                continue;
            snprintf(link, sizeof(link), "%s/%s", dir, v[i]->d_name);
            if (!full(c, link, f, sizeof(f)) || (tl = readlink(f, target, sizeof(target) - 1)) <= 0)
                continue;
            target[tl] = '\0';
            name = base_of(target);
            if (strlen(name) >= 64 || !*name)
                continue;
            for (size_t k = 0; k < nseen && !dup; k++)
                dup = strcmp(seen[k], name) == 0;
            if (dup || nseen == 256)
                continue;
            snprintf(path, sizeof(path), "/etc/init.d/%s", name);
            if (!exists(c, path))
                continue;
            snprintf(seen[nseen++], 64, "%s", name);
            snprintf(id, sizeof(id), "init.d/%s", name);
            snprintf(cmd, sizeof(cmd), "%s start", path);
            add(c, "init script", false, id, path, 0, "root", NULL, cmd, dup_or_null(c, path));
        }
        free_names(v, n);
    }
}

static void read_desktop(struct ctx *c, const char *dir, const char *idprefix, const char *user)
{
    struct dirent **v;
    int n = names_of(c, dir, &v);

    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], f[PATH_MAX], id[400], *buf, *save = NULL, *exec = NULL;
        size_t len, l = strlen(v[i]->d_name);
        bool hidden = false, in_entry = false;
        if (l < 9 || strcmp(v[i]->d_name + l - 8, ".desktop") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, v[i]->d_name);
        if (!full(c, path, f, sizeof(f)) || hostinv_read_file(f, AUTOSTART_MAX_FILE, false, &buf, &len, NULL) != 0)
            continue;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *t = trim(line);
            if (*t == '[')
                in_entry = strncmp(t, "[Desktop Entry]", 15) == 0;
            else if (in_entry && strncmp(t, "Exec=", 5) == 0 && !exec)
                exec = t + 5;
            else if (in_entry && strncmp(t, "Hidden=", 7) == 0)
                hidden = strcmp(trim(t + 7), "true") == 0;
        }
        if (!hidden && exec) {
            snprintf(id, sizeof(id), "%s/%s", idprefix, v[i]->d_name);
            add(c, "xdg autostart", false, id, path, 0, user, NULL, exec, cmd_target(c, exec));
        }
        free(buf);
    }
    free_names(v, n);
}

static void read_xdg(struct ctx *c)
{
    read_desktop(c, "/etc/xdg/autostart", "xdg", NULL);
    for (size_t h = 0; h < c->nhomes; h++) {
        char dir[PATH_MAX], prefix[300];
        snprintf(dir, sizeof(dir), "%s/.config/autostart", c->homes[h].dir);
        snprintf(prefix, sizeof(prefix), "xdg-%s", c->homes[h].user);
        read_desktop(c, dir, prefix, c->homes[h].user);
    }
}

/* ------------------------------------------------------------ udev */

/* The programs of the RUN keys of a rule line joined by "; " into out;
 * false when there is none (RUN{builtin} is not a program). */
static bool udev_runs(const char *line, char *out, size_t outlen)
{
    const char *p = line;
    size_t o = 0;

    out[0] = '\0';
    while ((p = strstr(p, "RUN"))) {
        const char *q = p + 3;
        bool word_start = p == line || p[-1] == ' ' || p[-1] == '\t' || p[-1] == ',';
        bool builtin = false;
        p += 3;
        if (!word_start)
            continue;
        if (*q == '{') {
            builtin = strncmp(q, "{builtin}", 9) == 0;
            q = strchr(q, '}');
            if (!q)
                break;
            q++;
        }
        while (*q == ' ' || *q == '\t')
            q++;
        if (q[0] == '+' && q[1] == '=')
            q += 2;
        else if (q[0] == ':' && q[1] == '=')
            q += 2;
        else if (q[0] == '=' && q[1] != '=')
            q += 1;
        else
            continue;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '"')
            continue;
        {
            const char *end = strchr(q + 1, '"');
            size_t k = end ? (size_t)(end - q - 1) : strlen(q + 1);
            if (!builtin && k && o + k + 3 < outlen) {
                o += (size_t)snprintf(out + o, outlen - o, "%s%.*s", o ? "; " : "", (int)k, q + 1);
            }
            p = end ? end + 1 : q + 1 + k;
        }
    }
    return o > 0;
}

struct udev_file {
    const char *name;
};

static void udev_line(struct ctx *c, const char *path, char *raw, int lineno, void *arg)
{
    struct udev_file *uf = arg;
    char runs[AUTOSTART_MAX_LINE + 1], id[400], *target = NULL, *t = trim(raw);

    if (*t == '#' || !udev_runs(t, runs, sizeof(runs)))
        return;
    {
        char first[PATH_MAX];
        const char *s = runs;
        if (next_word(&s, first, sizeof(first))) {
            if (first[0] == '/')
                target = dup_or_null(c, first);
            else if (first[0] && !strchr(first, '/')) {
                char p[PATH_MAX];
                if (snprintf(p, sizeof(p), "/usr/lib/udev/%s", first) < (int)sizeof(p))
                    target = dup_or_null(c, p);
            }
        }
    }
    snprintf(id, sizeof(id), "udev/%s:%d", uf->name, lineno);
    add(c, "udev rule", false, id, path, lineno, "root", NULL, runs, target);
}

static void read_udev(struct ctx *c)
{
    static const char *const dirs[] = {"/etc/udev/rules.d", "/run/udev/rules.d", "/usr/local/lib/udev/rules.d",
                                       "/usr/lib/udev/rules.d", "/lib/udev/rules.d", NULL};
    struct stat seen[5];
    size_t nseen = 0;
    char **names = NULL;
    size_t nnames = 0;

    for (const char *const *d = dirs; *d; d++) {
        char f[PATH_MAX];
        struct stat st;
        struct dirent **v;
        int n;
        bool dup = false;
        if (!full(c, *d, f, sizeof(f)) || stat(f, &st) != 0)
            continue;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = seen[k].st_dev == st.st_dev && seen[k].st_ino == st.st_ino;
        if (dup)
            continue;
        seen[nseen++] = st;
        n = names_of(c, *d, &v);
        for (int i = 0; i < n && nnames < DIR_MAX; i++) {
            char path[PATH_MAX];
            size_t l = strlen(v[i]->d_name);
            bool masked = false;
            struct udev_file uf = {.name = v[i]->d_name};
            char **grown;
            if (l < 7 || strcmp(v[i]->d_name + l - 6, ".rules") != 0)
                continue;
            for (size_t k = 0; k < nnames && !masked; k++) /* an earlier directory's file of that name wins */
                masked = strcmp(names[k], v[i]->d_name) == 0;
            if (masked || !(grown = realloc(names, (nnames + 1) * sizeof(*names))))
                continue;
            names = grown;
            if (!(names[nnames] = strdup(v[i]->d_name)))
                continue;
            nnames++;
            snprintf(path, sizeof(path), "%s/%s", *d, v[i]->d_name);
            each_line(c, path, udev_line, &uf);
        }
        free_names(v, n);
    }
    for (size_t k = 0; k < nnames; k++)
        free(names[k]);
    free(names);
}

/* ------------------------------------------------------------ the list */

int autostart_list(struct autostart_entry **out, size_t *n, const char *root, char *err, size_t errlen)
{
    struct ctx c = {.root = root ? root : ""};
    int e = 0;

    *out = NULL;
    *n = 0;
    if (c.root[0]) {
        struct stat st;
        if (c.root[0] != '/' || stat(c.root, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%.200s is not a directory to read autostart entries under", c.root);
            return -EINVAL;
        }
    }
    read_homes(&c);
    read_cron(&c);
    read_systemd(&c);
    read_at(&c);
    read_shell_rc(&c);
    read_init_scripts(&c);
    read_profile_d(&c);
    read_xdg(&c);
    read_keys(&c);
    read_preload_and_modules(&c);
    read_udev(&c);
    if (c.oom) {
        snprintf(err, errlen, "out of memory while listing autostart entries");
        e = -ENOMEM;
        autostart_free(c.v, c.n);
    } else {
        *out = c.v;
        *n = c.n;
    }
    for (size_t i = 0; c.homes && i < c.nhomes; i++) {
        free(c.homes[i].user);
        free(c.homes[i].dir);
    }
    free(c.homes);
    kmodinfo_dep_free(c.dep);
    return e;
}

void autostart_free(struct autostart_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].id);
        free(e[i].source);
        free(e[i].user);
        free(e[i].schedule);
        free(e[i].command);
        free(e[i].target);
        free(e[i].remove_kind);
        free(e[i].remove_path);
        free(e[i].remove_match);
    }
    free(e);
}

const struct autostart_entry *autostart_find(const struct autostart_entry *e, size_t n, const char *id)
{
    for (size_t i = 0; e && id && i < n; i++)
        if (strcmp(e[i].id, id) == 0)
            return &e[i];
    return NULL;
}
