/*
 * live_grammar.c — see live_grammar.h.
 *
 * Three layers, each small:
 *
 *   split_words()  the line into words: quoting, metacharacters, control
 *                  characters, UTF-8, the limits, the trailing `&`;
 *   live_parse()   words against a spec of the table below: positionals
 *                  in order, `-name [value]` options, each value typed
 *                  (paths resolved against the session's directory), then
 *                  the few rules that span parameters (exclusive options,
 *                  a target typed by its kind, run's -parameters as argv);
 *   live_args_check()  the agent's check of the JSON the server built from
 *                  that parse, against the same table.
 *
 * Error sentences never echo more than a few dozen bytes of what was typed,
 * and never list commands: `help` does that, with the role the person has.
 */
#include "common/live_grammar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ table */

#define END {NULL}

static const struct live_param p_none[] = {END};
static const struct live_param p_help[] = {{"command", LIVE_T_STRING, false, NULL}, END};
static const struct live_param p_path[] = {{"path", LIVE_T_PATH, true, NULL}, END};
static const struct live_param p_fg[] = {{"id", LIVE_T_INT, true, NULL}, END};
static const struct live_param p_dir[] = {{"path", LIVE_T_PATH, false, NULL}, END};
static const struct live_param o_dir[] = {{"full_path", LIVE_T_BOOL, false, NULL}, END};
static const struct live_param p_findfile[] = {{"name", LIVE_T_STRING, true, NULL}, END};
static const struct live_param o_findfile[] = {
    {"path", LIVE_T_PATH, false, NULL},
    {"max", LIVE_T_INT, false, NULL},
    END,
};
static const struct live_param o_processes[] = {
    {"pid", LIVE_T_INT, false, NULL},
    {"name", LIVE_T_STRING, false, NULL},
    {"tree", LIVE_T_BOOL, false, NULL},
    END,
};
static const struct live_param p_library[] = {
    {"action", LIVE_T_ENUM, false, "list|upload|delete"},
    {"name", LIVE_T_NAME, false, NULL},
    END,
};
static const struct live_param o_library[] = {{"file", LIVE_T_STRING, false, NULL}, END};
static const struct live_param p_analyze[] = {
    {"kind", LIVE_T_ENUM, true, "file|process"},
    {"target", LIVE_T_STRING, true, NULL}, /* retyped by kind: PATH or INT */
    END,
};
static const struct live_param p_remediate[] = {
    {"type", LIVE_T_ENUM, true, "file|process|service|scheduledtask|persistence"},
    {"id", LIVE_T_STRING, true, NULL}, /* file: PATH, process: INT */
    END,
};
static const struct live_param p_undo[] = {
    {"type", LIVE_T_ENUM, true, "file|service|scheduledtask|persistence"},
    {"id", LIVE_T_STRING, true, NULL}, /* file: PATH */
    END,
};
static const struct live_param o_comment[] = {{"comment", LIVE_T_STRING, false, NULL}, END};
static const struct live_param o_scan[] = {
    {"quick", LIVE_T_BOOL, false, NULL},
    {"full", LIVE_T_BOOL, false, NULL},
    {"path", LIVE_T_PATH, false, NULL},
    END,
};
static const struct live_param p_run[] = {{"script", LIVE_T_NAME, true, NULL}, END};
static const struct live_param o_run[] = {{"parameters", LIVE_T_STRING, false, NULL}, END}; /* stored as argv */
static const struct live_param p_putfile[] = {{"name", LIVE_T_NAME, true, NULL}, END};
static const struct live_param o_putfile[] = {{"overwrite", LIVE_T_BOOL, false, NULL}, END};

/* In the order help lists them. */
static const struct live_spec specs[] = {
    {"help", LIVE_BASIC, LIVE_ON_SERVER, p_help, p_none, 60, false, "help [command]",
     "Lists the commands you may run, or shows one command's usage, the role it needs and where it runs."},
    {"cd", LIVE_BASIC, LIVE_ON_AGENT, p_path, p_none, 600, false, "cd <path>",
     "Changes the session's current directory on the device, after the agent checks that it exists; "
     "relative paths in later commands start from it."},
    {"cls", LIVE_BASIC, LIVE_ON_SERVER, p_none, p_none, 60, false, "cls",
     "Clears the console screen."},
    {"connect", LIVE_BASIC, LIVE_ON_SERVER, p_none, p_none, 60, false, "connect",
     "Shows the device this session is connected to, who holds the session and since when."},
    {"status", LIVE_BASIC, LIVE_ON_SERVER, p_none, p_none, 60, false, "status",
     "Shows the session's commands with their state: running, succeeded, failed, cancelled or timed out."},
    {"jobs", LIVE_BASIC, LIVE_ON_SERVER, p_none, p_none, 60, false, "jobs",
     "Lists the commands running in the background (started with a trailing &), with the ids fg takes."},
    {"fg", LIVE_BASIC, LIVE_ON_SERVER, p_fg, p_none, 1800, false, "fg <id>",
     "Waits for a background command to end and shows its output."},
    {"dir", LIVE_BASIC, LIVE_ON_AGENT, p_dir, o_dir, 600, false, "dir [path] [-full_path]",
     "Lists a directory (the current one by default) with each entry's type, size, owner, mode and "
     "modification time; -full_path shows absolute paths."},
    {"fileinfo", LIVE_BASIC, LIVE_ON_AGENT, p_path, p_none, 600, false, "fileinfo <path>",
     "Shows a file's type, size, owner, mode, times and SHA-256, with what the server knows of it: "
     "the events that created it, the alerts that involve it, when the fleet first saw it."},
    {"findfile", LIVE_BASIC, LIVE_ON_AGENT, p_findfile, o_findfile, 1800, true,
     "findfile <name> [-path <path>] [-max <n>]",
     "Searches for files whose names match a glob (* ? [...]) under a directory (/ by default), "
     "showing matches as they are found, at most -max of them."},
    {"getfile", LIVE_BASIC, LIVE_ON_AGENT, p_path, p_none, 1800, false, "getfile <path>",
     "Brings a file from the device back to the server, checked by its SHA-256, to download from there."},
    {"processes", LIVE_BASIC, LIVE_ON_AGENT, p_none, o_processes, 600, false,
     "processes [-pid <pid> | -name <name>] [-tree]",
     "Lists the running processes with their parent, user, executable and command line; -pid shows one, "
     "-name those whose name matches, -tree shows them as a tree."},
    {"connections", LIVE_BASIC, LIVE_ON_AGENT, p_none, p_none, 600, false, "connections",
     "Lists the TCP and UDP sockets, listening and connected, with the process that owns each."},
    {"services", LIVE_BASIC, LIVE_ON_AGENT, p_none, p_none, 600, false, "services",
     "Lists the services (systemd service units, or init scripts where systemd does not run) with their "
     "state, each with an id remediate can use."},
    {"scheduledtasks", LIVE_BASIC, LIVE_ON_AGENT, p_none, p_none, 600, false, "scheduledtasks",
     "Lists cron entries (system and user crontabs, /etc/cron.d), systemd timers and at jobs, each with "
     "an id remediate can use."},
    {"persistence", LIVE_BASIC, LIVE_ON_AGENT, p_none, p_none, 600, false, "persistence",
     "Lists what starts programs again at boot or logon (units, init and shell start-up files, "
     "ld.so.preload, SSH authorized keys and the like), each with an id remediate can use."},
    {"drivers", LIVE_BASIC, LIVE_ON_AGENT, p_none, p_none, 600, false, "drivers",
     "Lists the loaded kernel modules (Linux's drivers) with their size, users, state and taint."},
    {"library", LIVE_BASIC, LIVE_ON_SERVER, p_library, o_library, 600, false,
     "library [list | upload <name> [-file <local file>] | delete <name>]",
     "Lists the server's library of scripts and files for run and putfile; admins upload and delete them."},
    {"analyze", LIVE_ADVANCED, LIVE_ON_AGENT, p_analyze, p_none, 600, false,
     "analyze file <path> | analyze process <pid>",
     "Gives a verdict on a file or a running process with its reasons: alert indicators, package "
     "ownership, where it runs from, what the server and the fleet have seen of it."},
    {"remediate", LIVE_ADVANCED, LIVE_ON_SERVER, p_remediate, o_comment, 1800, false,
     "remediate file|process|service|scheduledtask|persistence <id> [-comment <text>]",
     "Through the action center, quarantines a file, kills a process, or stops and disables a service, "
     "a scheduled task or a persistence entry."},
    {"undo", LIVE_ADVANCED, LIVE_ON_SERVER, p_undo, o_comment, 1800, false,
     "undo file|service|scheduledtask|persistence <id> [-comment <text>]",
     "Through the action center, undoes a remediation: restores a quarantined file, or puts back a "
     "service, a scheduled task or a persistence entry."},
    {"scan", LIVE_ADVANCED, LIVE_ON_SERVER, p_none, o_scan, 1800, false, "scan [-quick | -full | -path <path>]",
     "Through the action center, runs an antivirus scan: quick (the default, where malware usually "
     "lives), full (every local file system) or one path."},
    {"collect", LIVE_ADVANCED, LIVE_ON_SERVER, p_none, o_comment, 1800, false, "collect [-comment <text>]",
     "Through the action center, builds an investigation package on the device, to download once it ends."},
    {"isolate", LIVE_ADVANCED, LIVE_ON_SERVER, p_none, o_comment, 1800, false, "isolate [-comment <text>]",
     "Through the action center, cuts the device off the network except for its connection to the server."},
    {"release", LIVE_ADVANCED, LIVE_ON_SERVER, p_none, o_comment, 1800, false, "release [-comment <text>]",
     "Through the action center, ends the device's network isolation."},
    {"run", LIVE_ADVANCED, LIVE_ON_AGENT, p_run, o_run, 1800, true, "run <script> [-parameters \"<words>\"]",
     "Runs a script from the library on the device, without a shell, with -parameters as its arguments, "
     "showing its output as it comes."},
    {"putfile", LIVE_ADVANCED, LIVE_ON_AGENT, p_putfile, o_putfile, 600, false, "putfile <name> [-overwrite]",
     "Puts a file from the library into the session's current directory on the device; -overwrite "
     "replaces a file of that name."},
};

#define NSPECS (sizeof(specs) / sizeof(specs[0]))

const struct live_spec *live_spec_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NSPECS; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

void live_spec_each(void (*fn)(const struct live_spec *s, void *ctx), void *ctx)
{
    for (size_t i = 0; i < NSPECS; i++)
        fn(&specs[i], ctx);
}

/* ------------------------------------------------------------------ errors */

static int say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* "<command>: <sentence>. Usage: <usage>" */
static int fail(const struct live_spec *s, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(const struct live_spec *s, char *err, size_t errlen, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return say(err, errlen, "%s: %s. Usage: %s", s->name, msg, s->usage);
}

/* At most SHOWN bytes of s for an error sentence: whole UTF-8 characters,
 * control bytes as '?', "..." when cut. */
#define SHOWN 48
struct shown {
    char s[SHOWN + 4];
};

static const char *show(const char *s, struct shown *b)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0, i = 0;

    while (u[i] && n < SHOWN) {
        size_t l = u[i] < 0x80 ? 1 : u[i] >= 0xf0 ? 4 : u[i] >= 0xe0 ? 3 : 2;
        size_t k;
        if (n + l > SHOWN)
            break;
        for (k = 1; k < l && u[i + k]; k++)
            ;
        if (k < l || (u[i] >= 0x80 && u[i] < 0xc0)) { /* broken: show as '?' */
            b->s[n++] = '?';
            i++;
            continue;
        }
        if (l == 1 && (u[i] < 0x20 || u[i] == 0x7f)) {
            b->s[n++] = '?';
        } else {
            memcpy(b->s + n, u + i, l);
            n += l;
        }
        i += l;
    }
    if (u[i])
        memcpy(b->s + n, "...", 3), n += 3;
    b->s[n] = '\0';
    return b->s;
}

/* ------------------------------------------------------------------ characters */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_meta(char c)
{
    return c != '\0' && strchr(";|&<>$`(){}!\\", c) != NULL;
}

/* The length of the valid UTF-8 character at s[0..n), or 0; *cp is set.
 * Strict as jansson is: no overlong forms, surrogates or code points above
 * U+10FFFF, so every word accepted here becomes a JSON string. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t l;
    uint32_t v;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    l = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (n < l)
        return 0;
    v = s[0] & (0x3f >> (l - 1));
    for (size_t i = 1; i < l; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((l == 3 && v < 0x800) || (l == 4 && v < 0x10000) || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
        return 0;
    *cp = v;
    return l;
}

static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Whether s[0..n) holds a C0 or C1 control character, or DEL. */
static bool has_control(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < n; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return true;
        if (u[i] == 0xc2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ words */

struct word {
    const char *s;   /* NUL-terminated, unquoted */
    size_t len;
    size_t col;      /* 1-based byte column of its first character */
    bool option;     /* starts with an unquoted '-' and a letter */
    bool background; /* the unquoted `&` ending the line */
};

struct words {
    char *buf;
    size_t n;
    struct word w[LIVE_MAX_WORDS];
};

static void words_free(struct words *ws)
{
    free(ws->buf);
    ws->buf = NULL;
    ws->n = 0;
}

/* The character at line[i] inside or outside quotes: its byte length in
 * *l, or -EINVAL for a control character, a newline or broken UTF-8. */
static int take_char(const char *line, size_t n, size_t i, size_t *l, char *err, size_t errlen)
{
    uint32_t cp = 0;

    if (line[i] == '\n' || line[i] == '\r')
        return say(err, errlen, "the line holds a line break (column %zu): live response runs one command "
                   "a line and no shell", i + 1);
    *l = utf8_char((const unsigned char *)line + i, n - i, &cp);
    if (*l == 0)
        return say(err, errlen, "the line is not valid UTF-8 (column %zu)", i + 1);
    if (is_control(cp))
        return say(err, errlen, "the line holds a control character (U+%04X at column %zu); live response "
                   "takes printable text only", (unsigned)cp, i + 1);
    return 0;
}

/* Splits line[0..n) into words. With plain_meta, metacharacters are plain
 * characters (run's -parameters: no shell will ever see them) and `&`
 * means nothing; otherwise they are refused outside quotes, except an `&`
 * alone as the last word. */
static int split_words(const char *line, size_t n, bool plain_meta, struct words *ws, char *err, size_t errlen)
{
    size_t i = 0, o = 0;
    int rc;

    memset(ws, 0, sizeof(*ws));
    ws->buf = malloc(2 * n + 2);
    if (!ws->buf)
        return say(err, errlen, "out of memory");
    for (;;) {
        struct word *w;
        size_t start;
        bool quoted = false;

        while (i < n && is_blank(line[i]))
            i++;
        if (i >= n)
            break;
        if (ws->n == LIVE_MAX_WORDS) {
            rc = say(err, errlen, "there are more than %d words", LIVE_MAX_WORDS);
            goto fail;
        }
        w = &ws->w[ws->n];
        start = o;
        w->col = i + 1;
        w->option = !plain_meta && line[i] == '-' && i + 1 < n &&
                    ((line[i + 1] >= 'a' && line[i + 1] <= 'z') || (line[i + 1] >= 'A' && line[i + 1] <= 'Z'));
        while (i < n && !is_blank(line[i])) {
            size_t l;
            char c = line[i];

            if (c == '\'' || c == '"') {
                size_t open = i++;
                quoted = true;
                for (;;) {
                    if (i >= n) {
                        rc = say(err, errlen, "the quote %c opened at column %zu is not closed", c, open + 1);
                        goto fail;
                    }
                    if (line[i] == c) {
                        i++;
                        break;
                    }
                    if (c == '"' && line[i] == '\\' && i + 1 < n && (line[i + 1] == '"' || line[i + 1] == '\\'))
                        i++;
                    if ((rc = take_char(line, n, i, &l, err, errlen)) < 0)
                        goto fail;
                    memcpy(ws->buf + o, line + i, l);
                    o += l;
                    i += l;
                }
            } else if (!plain_meta && is_meta(c)) {
                size_t j = i + 1;
                while (j < n && is_blank(line[j]))
                    j++;
                if (c == '&' && o == start && !quoted && (i + 1 >= n || is_blank(line[i + 1])) && j >= n) {
                    w->background = true;
                    ws->buf[o++] = '&';
                    i++;
                    break;
                }
                if (c == '&')
                    rc = say(err, errlen, "'&' at column %zu: live response runs no shell; a lone '&' as the "
                             "last word runs the command in the background, and '&' inside quotes is a "
                             "plain character", i + 1);
                else
                    rc = say(err, errlen, "'%c' at column %zu: live response runs no shell, so there are no "
                             "pipes, redirections, variables or command lists; quote it ('...') to use it "
                             "as a plain character", c, i + 1);
                goto fail;
            } else {
                if ((rc = take_char(line, n, i, &l, err, errlen)) < 0)
                    goto fail;
                memcpy(ws->buf + o, line + i, l);
                o += l;
                i += l;
            }
            if (o - start > LIVE_MAX_WORD) {
                rc = say(err, errlen, "the word at column %zu is longer than %d bytes", w->col, LIVE_MAX_WORD);
                goto fail;
            }
        }
        ws->buf[o] = '\0';
        w->s = ws->buf + start;
        w->len = o - start;
        o++;
        ws->n++;
    }
    return 0;
fail:
    words_free(ws);
    return rc;
}

/* ------------------------------------------------------------------ paths and names */

bool live_path_ok(const char *path)
{
    size_t n;

    if (!path || path[0] != '/')
        return false;
    n = strnlen(path, LIVE_MAX_PATH + 1);
    if (n > LIVE_MAX_PATH || has_control(path, n))
        return false;
    if (n == 1)
        return true;
    for (const char *c = path; *c;) {
        const char *e;
        size_t l;
        c++; /* past '/' */
        e = strchr(c, '/');
        l = e ? (size_t)(e - c) : strlen(c);
        if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
            return false; /* "//", a trailing '/', "." or ".." */
        c += l;
    }
    return true;
}

bool live_name_ok(const char *name)
{
    size_t n;

    if (!name || !name[0] || name[0] == '.')
        return false;
    n = strnlen(name, LIVE_MAX_NAME + 1);
    if (n > LIVE_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Appends the components of p to buf (an absolute, normalised path of
 * length *len, "/" as length 0): "." and empty ones vanish, ".." removes
 * the last one and stays at "/". */
static void path_walk(char *buf, size_t *len, const char *p)
{
    while (*p) {
        const char *e;
        size_t l;

        while (*p == '/')
            p++;
        e = strchr(p, '/');
        l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || (l == 1 && p[0] == '.')) {
            /* nothing */
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            while (*len > 0 && buf[*len - 1] != '/')
                (*len)--;
            if (*len > 0)
                (*len)--; /* the '/' before it */
        } else {
            buf[(*len)++] = '/';
            memcpy(buf + *len, p, l);
            *len += l;
        }
        p += l;
    }
}

/* p made absolute against cwd and normalised, as a new JSON string; NULL
 * with a sentence when empty or too long. */
static json_t *path_resolve(const struct live_spec *s, const char *label, const char *cwd, const char *p,
                            char *err, size_t errlen)
{
    /* cwd (<= LIVE_MAX_PATH) and p (<= LIVE_MAX_WORD) never grow when walked */
    char buf[LIVE_MAX_PATH + LIVE_MAX_WORD + 4];
    size_t len = 0;

    if (!p[0]) {
        fail(s, err, errlen, "%s is empty", label);
        return NULL;
    }
    if (strlen(p) > LIVE_MAX_WORD) {
        fail(s, err, errlen, "%s is longer than %d bytes", label, LIVE_MAX_WORD);
        return NULL;
    }
    if (p[0] != '/')
        path_walk(buf, &len, cwd);
    path_walk(buf, &len, p);
    if (len == 0)
        buf[len++] = '/';
    buf[len] = '\0';
    if (len > LIVE_MAX_PATH) {
        fail(s, err, errlen, "%s is longer than %d bytes once made absolute", label, LIVE_MAX_PATH);
        return NULL;
    }
    return json_string(buf);
}

/* ------------------------------------------------------------------ values */

/* "<path>" for a positional, "-max" for an option. */
static const char *label_of(const struct live_param *p, bool positional, char *buf, size_t n)
{
    snprintf(buf, n, positional ? "<%s>" : "-%s", p->name);
    return buf;
}

static bool choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);

    for (const char *c = choices; *c;) {
        const char *e = strchr(c, '|');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (l == n && memcmp(c, v, n) == 0)
            return true;
        c += l + (e ? 1 : 0);
    }
    return false;
}

/* A decimal integer from 0 to 2^31-1, or -1. */
static long long int_parse(const char *v)
{
    long long x = 0;

    if (!v[0])
        return -1;
    for (const char *c = v; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        x = x * 10 + (*c - '0');
        if (x > INT32_MAX)
            return -1;
    }
    return x;
}

/* The JSON value of word v for parameter p (typed as type), or NULL with a
 * sentence. */
static json_t *value_of(const struct live_spec *s, const struct live_param *p, enum live_param_type type,
                        bool positional, const char *v, const char *cwd, char *err, size_t errlen)
{
    char label[80];
    struct shown sh;
    json_t *j = NULL;
    long long x;

    label_of(p, positional, label, sizeof(label));
    switch (type) {
    case LIVE_T_PATH:
        return path_resolve(s, label, cwd, v, err, errlen);
    case LIVE_T_STRING:
        if (positional && !v[0]) {
            fail(s, err, errlen, "%s is empty", label);
            return NULL;
        }
        j = json_string(v);
        break;
    case LIVE_T_NAME:
        if (!live_name_ok(v)) {
            fail(s, err, errlen, "%s '%s' is not a library file name (letters, digits, '.', '_' and '-', not "
                 "starting with '.', at most %d bytes)", label, show(v, &sh), LIVE_MAX_NAME);
            return NULL;
        }
        j = json_string(v);
        break;
    case LIVE_T_INT:
        if ((x = int_parse(v)) < 0) {
            fail(s, err, errlen, "%s takes a whole number from 0 to %d, not '%s'", label, INT32_MAX, show(v, &sh));
            return NULL;
        }
        j = json_integer(x);
        break;
    case LIVE_T_ENUM:
        if (!choice_ok(p->choices, v)) {
            fail(s, err, errlen, "%s is one of %s, not '%s'", label, p->choices, show(v, &sh));
            return NULL;
        }
        j = json_string(v);
        break;
    case LIVE_T_BOOL:
        j = json_true();
        break;
    }
    if (!j)
        say(err, errlen, "out of memory");
    return j;
}

/* ------------------------------------------------------------------ rules spanning parameters */

static bool is(const struct live_spec *s, const char *name)
{
    return strcmp(s->name, name) == 0;
}

static const char *arg_str(json_t *args, const char *name)
{
    return json_string_value(json_object_get(args, name));
}

/* Replaces args[name] (a string) by its value typed as type. */
static int retype(const struct live_spec *s, json_t *args, const char *name, enum live_param_type type,
                  const char *cwd, char *err, size_t errlen)
{
    struct live_param p = {name, type, true, NULL};
    json_t *v = value_of(s, &p, type, true, arg_str(args, name), cwd, err, errlen);

    if (!v)
        return -EINVAL;
    if (json_object_set_new(args, name, v) < 0)
        return say(err, errlen, "out of memory");
    return 0;
}

static int parse_rules(const struct live_spec *s, json_t *args, const char *cwd, char *err, size_t errlen)
{
    const char *kind;
    struct shown sh;

    if (is(s, "help")) {
        const char *c = arg_str(args, "command");
        if (c && !live_spec_find(c))
            return fail(s, err, errlen, "there is no command '%s'; help alone lists them", show(c, &sh));
    } else if (is(s, "processes")) {
        if (json_object_get(args, "pid") && json_object_get(args, "name"))
            return fail(s, err, errlen, "-pid and -name exclude each other");
    } else if (is(s, "library")) {
        const char *a = arg_str(args, "action");
        bool changes = a && strcmp(a, "list") != 0;
        if (changes && !json_object_get(args, "name"))
            return fail(s, err, errlen, "%s needs the name of a library file", a);
        if (!changes && json_object_get(args, "name"))
            return fail(s, err, errlen, "list takes no name");
        if (json_object_get(args, "file") && (!a || strcmp(a, "upload") != 0))
            return fail(s, err, errlen, "-file goes with upload only");
    } else if (is(s, "analyze")) {
        kind = arg_str(args, "kind");
        return retype(s, args, "target", strcmp(kind, "file") == 0 ? LIVE_T_PATH : LIVE_T_INT, cwd, err, errlen);
    } else if (is(s, "remediate") || is(s, "undo")) {
        kind = arg_str(args, "type");
        if (strcmp(kind, "file") == 0)
            return retype(s, args, "id", LIVE_T_PATH, cwd, err, errlen);
        if (strcmp(kind, "process") == 0)
            return retype(s, args, "id", LIVE_T_INT, cwd, err, errlen);
    } else if (is(s, "scan")) {
        int given = !!json_object_get(args, "quick") + !!json_object_get(args, "full") + !!json_object_get(args, "path");
        if (given > 1)
            return fail(s, err, errlen, "-quick, -full and -path exclude each other");
    } else if (is(s, "run")) {
        const char *ps = arg_str(args, "parameters");
        struct words ws;
        json_t *argv;
        char why[256];
        int rc = 0;

        if (!ps)
            return 0;
        if ((rc = split_words(ps, strlen(ps), true, &ws, why, sizeof(why))) < 0)
            return fail(s, err, errlen, "-parameters: %s", why);
        argv = json_array();
        for (size_t i = 0; argv && i < ws.n; i++)
            if (json_array_append_new(argv, json_string(ws.w[i].s)) < 0)
                json_decref(argv), argv = NULL;
        words_free(&ws);
        if (!argv || json_object_set_new(args, "parameters", argv) < 0)
            return say(err, errlen, "out of memory");
    }
    return 0;
}

/* ------------------------------------------------------------------ parse */

static const struct live_param *param_find(const struct live_param *ps, const char *name)
{
    for (; ps->name; ps++)
        if (strcmp(ps->name, name) == 0)
            return ps;
    return NULL;
}

int live_parse(const char *line, const char *cwd, struct live_parsed *out, char *err, size_t errlen)
{
    struct words ws = {0};
    const struct live_spec *s;
    const struct live_param *p;
    struct shown sh;
    size_t n, npos = 0, i;
    bool output_given = false;
    int rc;

    memset(out, 0, sizeof(*out));
    if (err && errlen)
        err[0] = '\0';
    if (!cwd)
        cwd = "/";
    if (!live_path_ok(cwd))
        return say(err, errlen, "the session's current directory '%s' is not an absolute, normalised path",
                   show(cwd, &sh));
    if (!line)
        line = "";
    n = strnlen(line, LIVE_MAX_LINE + 1);
    if (n > LIVE_MAX_LINE)
        return say(err, errlen, "the line is longer than %d bytes", LIVE_MAX_LINE);
    if ((rc = split_words(line, n, false, &ws, err, errlen)) < 0)
        return rc;
    if (ws.n > 0 && ws.w[ws.n - 1].background) {
        out->background = true;
        ws.n--;
        if (ws.n == 0) {
            rc = say(err, errlen, "'&' runs a command in the background, and there is no command before it");
            goto fail;
        }
    }
    if (ws.n == 0) {
        rc = -ENODATA;
        say(err, errlen, "the line is empty");
        goto fail;
    }
    s = live_spec_find(ws.w[0].s);
    if (!s) {
        rc = say(err, errlen, "unknown command '%s'; help lists the commands", show(ws.w[0].s, &sh));
        goto fail;
    }
    out->spec = s;
    out->args = json_object();
    if (!out->args) {
        rc = say(err, errlen, "out of memory");
        goto fail;
    }
    for (i = 1; i < ws.n; i++) {
        const struct word *w = &ws.w[i];
        const struct word *val;
        json_t *v;

        if (!w->option) {
            p = &s->positional[npos];
            if (!p->name) {
                rc = fail(s, err, errlen, "too many arguments (did you mean to quote a name with spaces?)");
                goto fail;
            }
            npos++;
            if (!(v = value_of(s, p, p->type, true, w->s, cwd, err, errlen))) {
                rc = -EINVAL;
                goto fail;
            }
            if (json_object_set_new(out->args, p->name, v) < 0) {
                rc = say(err, errlen, "out of memory");
                goto fail;
            }
            continue;
        }
        /* an option */
        if (strcmp(w->s + 1, "output") == 0) {
            p = NULL;
            if (output_given) {
                rc = fail(s, err, errlen, "-output is given twice");
                goto fail;
            }
            output_given = true;
        } else if (!(p = param_find(s->options, w->s + 1))) {
            rc = fail(s, err, errlen, "unknown option %s", show(w->s, &sh));
            goto fail;
        } else if (json_object_get(out->args, p->name)) {
            rc = fail(s, err, errlen, "-%s is given twice", p->name);
            goto fail;
        }
        if (p && p->type == LIVE_T_BOOL) {
            if (json_object_set_new(out->args, p->name, json_true()) < 0) {
                rc = say(err, errlen, "out of memory");
                goto fail;
            }
            continue;
        }
        if (i + 1 >= ws.n || ws.w[i + 1].option) {
            rc = fail(s, err, errlen, "%s needs a value (quote it if it starts with '-')", w->s);
            goto fail;
        }
        val = &ws.w[++i];
        if (!p) {
            if (strcmp(val->s, "json") == 0) {
                out->output = LIVE_OUTPUT_JSON;
            } else if (strcmp(val->s, "table") == 0) {
                out->output = LIVE_OUTPUT_TABLE;
            } else {
                rc = fail(s, err, errlen, "-output is json or table, not '%s'", show(val->s, &sh));
                goto fail;
            }
            continue;
        }
        if (!(v = value_of(s, p, p->type, false, val->s, cwd, err, errlen))) {
            rc = -EINVAL;
            goto fail;
        }
        if (json_object_set_new(out->args, p->name, v) < 0) {
            rc = say(err, errlen, "out of memory");
            goto fail;
        }
    }
    for (p = s->positional; p->name; p++)
        if (p->required && !json_object_get(out->args, p->name)) {
            rc = fail(s, err, errlen, "<%s> is missing", p->name);
            goto fail;
        }
    for (p = s->options; p->name; p++)
        if (p->required && !json_object_get(out->args, p->name)) {
            rc = fail(s, err, errlen, "-%s is missing", p->name);
            goto fail;
        }
    if ((rc = parse_rules(s, out->args, cwd, err, errlen)) < 0)
        goto fail;
    words_free(&ws);
    return 0;
fail:
    words_free(&ws);
    live_parsed_free(out);
    return rc;
}

void live_parsed_free(struct live_parsed *p)
{
    if (!p)
        return;
    json_decref(p->args);
    memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------ the agent's check */

/* Whether v is a string without NUL or control characters, at most max
 * bytes, non-empty unless empty_ok. */
static bool string_ok(json_t *v, size_t max, bool empty_ok)
{
    const char *s = json_string_value(v);
    size_t n;

    if (!s)
        return false;
    n = json_string_length(v);
    return n == strlen(s) && n <= max && (empty_ok || n > 0) && !has_control(s, n);
}

static bool int_ok(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT32_MAX;
}

static bool value_ok(const struct live_param *p, enum live_param_type type, bool positional, json_t *v)
{
    switch (type) {
    case LIVE_T_PATH:
        return json_is_string(v) && json_string_length(v) == strlen(json_string_value(v)) &&
               live_path_ok(json_string_value(v));
    case LIVE_T_STRING:
        return string_ok(v, LIVE_MAX_WORD, !positional);
    case LIVE_T_NAME:
        return json_is_string(v) && live_name_ok(json_string_value(v)) &&
               json_string_length(v) == strlen(json_string_value(v));
    case LIVE_T_INT:
        return int_ok(v);
    case LIVE_T_BOOL:
        return json_is_boolean(v);
    case LIVE_T_ENUM:
        return string_ok(v, LIVE_MAX_WORD, false) && choice_ok(p->choices, json_string_value(v));
    }
    return false;
}

static bool sha256_ok(json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || strlen(s) != 64 || json_string_length(v) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

static bool argv_ok(json_t *v)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v) || json_array_size(v) > LIVE_MAX_WORDS)
        return false;
    json_array_foreach(v, i, e)
        if (!string_ok(e, LIVE_MAX_WORD, true))
            return false;
    return true;
}

static const char *type_words(enum live_param_type t)
{
    switch (t) {
    case LIVE_T_PATH: return "an absolute, normalised path";
    case LIVE_T_STRING: return "a string of printable text";
    case LIVE_T_NAME: return "a library file name";
    case LIVE_T_INT: return "a whole number from 0 to 2147483647";
    case LIVE_T_BOOL: return "true or false";
    case LIVE_T_ENUM: return "one of its choices";
    }
    return "?";
}

int live_args_check(const char *command, json_t *args, char *err, size_t errlen)
{
    const struct live_spec *s = live_spec_find(command);
    const struct live_param *p;
    struct shown sh;
    const char *key;
    json_t *v;

    if (!s)
        return say(err, errlen, "unknown live command '%s'", command ? show(command, &sh) : "(none)");
    if (s->where != LIVE_ON_AGENT)
        return say(err, errlen, "%s runs on the server, never on the agent", s->name);
    if (args && !json_is_object(args))
        return say(err, errlen, "%s: the arguments are not an object", s->name);
    json_object_foreach(args, key, v) {
        enum live_param_type type;
        bool positional = true;

        if (strcmp(key, "sha256") == 0 && (is(s, "putfile") || is(s, "run"))) {
            if (!sha256_ok(v))
                return say(err, errlen, "%s: sha256 is not 64 hexadecimal digits", s->name);
            continue;
        }
        if (!(p = param_find(s->positional, key))) {
            positional = false;
            p = param_find(s->options, key);
        }
        if (!p)
            return say(err, errlen, "%s: unknown argument '%s'", s->name, show(key, &sh));
        type = p->type;
        if (is(s, "run") && strcmp(key, "parameters") == 0) {
            if (!argv_ok(v))
                return say(err, errlen, "run: parameters is not an array of at most %d strings of printable "
                           "text", LIVE_MAX_WORDS);
            continue;
        }
        if (is(s, "analyze") && strcmp(key, "target") == 0) {
            const char *kind = arg_str(args, "kind");
            if (kind && strcmp(kind, "file") == 0)
                type = LIVE_T_PATH;
            else if (kind && strcmp(kind, "process") == 0)
                type = LIVE_T_INT;
            /* else: the kind itself is refused below or above */
        }
        if (!value_ok(p, type, positional, v))
            return say(err, errlen, "%s: %s must be %s", s->name, key,
                       type == LIVE_T_ENUM ? p->choices : type_words(type));
    }
    for (p = s->positional; p->name; p++)
        if (p->required && !json_object_get(args, p->name))
            return say(err, errlen, "%s: %s is missing", s->name, p->name);
    for (p = s->options; p->name; p++)
        if (p->required && !json_object_get(args, p->name))
            return say(err, errlen, "%s: %s is missing", s->name, p->name);
    if (is(s, "processes") && json_object_get(args, "pid") && json_object_get(args, "name"))
        return say(err, errlen, "processes: pid and name exclude each other");
    return 0;
}
