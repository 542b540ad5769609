/*
 * cmd_live_prompt.c — the interactive prompt of `yamori live`, with libedit
 * (BSD editline; docs/decisions.md, "Dependencies"):
 *
 *   web-1:/root> dir /usr/lib
 *
 * The prompt shows the device and the session's current directory. Lines
 * go to live_cli_line() (cmd_live.c). History: every line entered is
 * saved at once to ~/.yamori/live_history (0600, directory 0700) and
 * loaded at the next start. Tab completes, using the shared grammar's
 * table (common/live_grammar.h): the command name as the first word; an
 * option name after a '-'; the choices of an enum parameter or of
 * -output; and where the grammar expects a PATH (or analyze's and
 * remediate's file target), the device's own names — the client asks the
 * device with a `dir` of the directory part (it shows in the session's
 * command log), waits at most a few seconds, and keeps the answer for
 * CACHE_S seconds. Ctrl-C at the prompt clears the line (SIGINT is only
 * let through while waiting for a key, so one that comes while libedit
 * draws is not lost); Ctrl-D on an empty line, `exit` or `quit` leave (the
 * caller closes the session), as do a hang-up and SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <histedit.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "cli/cmd_live.h"

#define CACHE_S 10        /* how long a directory listing answers completion */
#define HISTORY_SIZE 1000 /* lines kept */

struct prompt {
    struct live_cli *lv;
    sigset_t waiting_mask;            /* the signal mask while waiting for a key (SIGINT &c. open) */
    EditLine *el;
    History *hist;
    char text[LIVE_MAX_PATH + 300];  /* the prompt */
    char history_path[PATH_MAX];      /* "" when there is no home */
    char cache_key[LIVE_MAX_PATH * 2 + 2]; /* cwd, '\n', the directory part typed */
    json_t *cache;                    /* its entries: [{"name", "dir"}] */
    time_t cache_time;
};

/* One completion candidate. */
struct candidate {
    const char *word;
    bool dir; /* a directory: completed with '/' rather than ' ' */
};

/* ------------------------------------------------------------ history */

static void history_path_set(struct prompt *p)
{
    const char *home = getenv("HOME");
    char dir[PATH_MAX];

    p->history_path[0] = '\0';
    if (!home || !*home)
        return;
    if (snprintf(dir, sizeof(dir), "%s/.yamori", home) >= (int)sizeof(dir) - 16)
        return;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return;
    snprintf(p->history_path, sizeof(p->history_path), "%.*s/live_history", PATH_MAX - 16, dir);
}

/* Writes the history (0600, through a temporary file). A failure is said
 * once and the history is not written again. */
static void history_save(struct prompt *p)
{
    char tmp[PATH_MAX + 8];
    HistEvent ev;
    FILE *f;
    int fd;

    if (!p->history_path[0])
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", p->history_path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 || !(f = fdopen(fd, "w"))) {
        fprintf(stderr, "yamori live: cannot write %s: %s (history not kept)\n", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        p->history_path[0] = '\0';
        return;
    }
    if (history(p->hist, &ev, H_SAVE_FP, f) < 0 || fclose(f) != 0 || rename(tmp, p->history_path) != 0) {
        fprintf(stderr, "yamori live: cannot write %s (history not kept)\n", p->history_path);
        unlink(tmp);
        p->history_path[0] = '\0';
    }
}

/* ------------------------------------------------------------ the prompt */

/* libedit's reader of one character. While libedit edits, SIGINT, SIGTERM
 * and SIGHUP are blocked except inside ppoll() here, so a Ctrl-C that
 * comes while libedit draws is not lost: it ends the wait (EINTR), and
 * el_gets() returns NULL with errno EINTR. Bytes are decoded in the
 * locale's encoding (an invalid byte is passed on as itself). */
static int read_key(EditLine *el, wchar_t *wc)
{
    struct prompt *p = NULL;
    mbstate_t mbs;
    int fd = fileno(stdin);

    el_get(el, EL_CLIENTDATA, &p);
    memset(&mbs, 0, sizeof(mbs));
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        unsigned char c;
        ssize_t n;
        size_t k;

        if (live_cli_interrupted || live_cli_leaving) {
            errno = EINTR;
            return -1;
        }
        if (ppoll(&pfd, 1, NULL, &p->waiting_mask) < 0) {
            if (errno == EINTR)
                continue; /* the flags say why */
            return -1;
        }
        n = read(fd, &c, 1);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        k = mbrtowc(wc, (const char *)&c, 1, &mbs);
        if (k == (size_t)-2)
            continue; /* more bytes of this character */
        if (k == (size_t)-1) {
            *wc = c;
            return 1;
        }
        if (k == 0)
            *wc = L'\0';
        return 1;
    }
}

static char *prompt_text(EditLine *el)
{
    struct prompt *p = NULL;

    el_get(el, EL_CLIENTDATA, &p);
    snprintf(p->text, sizeof(p->text), "%s:%s> ", p->lv->host, p->lv->cwd);
    return p->text;
}

/* ------------------------------------------------------------ completion */

static bool needs_quotes(const char *s)
{
    return strpbrk(s, " \t;|&<>$`(){}!\\'\"") != NULL;
}

/* Prints the candidates in columns under the line (directories with '/'). */
static void list_candidates(const struct candidate *c, size_t n)
{
    struct winsize ws;
    size_t width = 0, cols, col = 0;

    for (size_t i = 0; i < n; i++)
        if (strlen(c[i].word) + c[i].dir > width)
            width = strlen(c[i].word) + c[i].dir;
    cols = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
    cols = cols / (width + 2) ? cols / (width + 2) : 1;
    putchar('\n');
    for (size_t i = 0; i < n; i++) {
        int pad = (int)(width - strlen(c[i].word) - c[i].dir);
        bool last = ++col == cols || i + 1 == n;
        printf("%s%s%*s", c[i].word, c[i].dir ? "/" : "", last ? 0 : pad + 2, "");
        if (last) {
            putchar('\n');
            col = 0;
        }
    }
    fflush(stdout);
}

/* Completes word (what is typed of it, after prefix: the directory part
 * of a path, kept as typed) among the candidates. */
static unsigned char complete_among(EditLine *el, const char *prefix, const char *word, const struct candidate *c,
                                    size_t n)
{
    const struct candidate *match[512];
    size_t m = 0, wl = strlen(word), common = 0;

    for (size_t i = 0; i < n && m < 512; i++)
        if (!strncmp(c[i].word, word, wl))
            match[m++] = &c[i];
    if (!m)
        return CC_ERROR;
    if (m == 1) {
        const char *w = match[0]->word;
        const char *end = match[0]->dir ? "/" : " ";
        char buf[LIVE_MAX_PATH * 2 + 8];

        if (!needs_quotes(prefix) && !needs_quotes(w)) {
            snprintf(buf, sizeof(buf), "%s%s", w + wl, end);
            return el_insertstr(el, buf) == 0 ? CC_REFRESH : CC_ERROR;
        }
        /* rewrite the whole word quoted: 'dir part and name' (a name with ' is left alone) */
        if (strchr(prefix, '\'') || strchr(w, '\''))
            return CC_ERROR;
        el_deletestr(el, (int)(strlen(prefix) + wl));
        snprintf(buf, sizeof(buf), "'%s%s%s'%s", prefix, w, match[0]->dir ? "/" : "", match[0]->dir ? "" : " ");
        return el_insertstr(el, buf) == 0 ? CC_REFRESH : CC_ERROR;
    }
    /* several: add what they share, else list them */
    common = strlen(match[0]->word);
    for (size_t i = 1; i < m; i++) {
        size_t k = 0;
        while (k < common && match[i]->word[k] == match[0]->word[k])
            k++;
        common = k;
    }
    if (common > wl) {
        char buf[LIVE_MAX_PATH + 1];
        snprintf(buf, sizeof(buf), "%.*s", (int)(common - wl), match[0]->word + wl);
        if (!needs_quotes(buf) && !needs_quotes(prefix))
            return el_insertstr(el, buf) == 0 ? CC_REFRESH : CC_ERROR;
    }
    {
        struct candidate shown[512];
        for (size_t i = 0; i < m; i++)
            shown[i] = *match[i];
        list_candidates(shown, m);
    }
    return CC_REDISPLAY;
}

struct name_list {
    struct candidate c[64];
    size_t n;
};

static void add_spec_name(const struct live_spec *s, void *ctx)
{
    struct name_list *l = ctx;
    if (l->n < 64)
        l->c[l->n++] = (struct candidate){s->name, false};
}

static unsigned char complete_command(EditLine *el, const char *word)
{
    struct name_list l = {0};

    live_spec_each(add_spec_name, &l);
    l.c[l.n++] = (struct candidate){"exit", false};
    l.c[l.n++] = (struct candidate){"quit", false};
    return complete_among(el, "", word, l.c, l.n);
}

static unsigned char complete_option(EditLine *el, const struct live_spec *s, const char *word)
{
    struct candidate c[32];
    char names[32][LIVE_MAX_NAME + 2];
    size_t n = 0;

    for (const struct live_param *o = s->options; o && o->name && n < 31; o++) {
        snprintf(names[n], sizeof(names[n]), "-%s", o->name);
        c[n] = (struct candidate){names[n], false};
        n++;
    }
    c[n++] = (struct candidate){"-output", false};
    return complete_among(el, "", word, c, n);
}

static unsigned char complete_choices(EditLine *el, const char *choices, const char *word)
{
    char buf[256], *save = NULL;
    struct candidate c[16];
    size_t n = 0;

    snprintf(buf, sizeof(buf), "%s", choices);
    for (char *t = strtok_r(buf, "|", &save); t && n < 16; t = strtok_r(NULL, "|", &save))
        c[n++] = (struct candidate){t, false};
    return complete_among(el, "", word, c, n);
}

/* Completes a path on the device: the entries of the directory part. */
static unsigned char complete_path(EditLine *el, struct prompt *p, const char *word)
{
    const char *slash = strrchr(word, '/');
    char dirpart[LIVE_MAX_PATH + 1], key[sizeof(p->cache_key)];
    struct candidate *c;
    unsigned char rc;
    size_t n, i;
    json_t *e;

    if (*word == '\'' || *word == '"')
        return CC_ERROR; /* quoted words are completed by hand */
    snprintf(dirpart, sizeof(dirpart), "%.*s", slash ? (int)(slash - word + 1) : 0, word);
    snprintf(key, sizeof(key), "%s\n%s", p->lv->cwd, dirpart);
    if (!p->cache || strcmp(key, p->cache_key) != 0 || time(NULL) - p->cache_time > CACHE_S) {
        char dir[LIVE_MAX_PATH + 1];
        json_decref(p->cache);
        snprintf(dir, sizeof(dir), "%s", dirpart);
        if (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
            dir[strlen(dir) - 1] = '\0';
        p->cache = live_cli_list_dir(p->lv, dir);
        p->cache_time = time(NULL);
        snprintf(p->cache_key, sizeof(p->cache_key), "%s", key);
        if (!p->cache)
            return CC_ERROR;
    }
    n = json_array_size(p->cache);
    c = calloc(n ? n : 1, sizeof(*c));
    if (!c)
        return CC_ERROR;
    json_array_foreach(p->cache, i, e) {
        c[i].word = json_string_value(json_object_get(e, "name"));
        c[i].dir = json_is_true(json_object_get(e, "dir"));
    }
    rc = complete_among(el, dirpart, slash ? slash + 1 : word, c, n);
    free(c);
    return rc;
}

/* The words of line (split at blanks; quotes are not interpreted: good
 * enough to know where the cursor is). Returns how many (at most max). */
static size_t split_blanks(char *line, char **words, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    for (char *t = strtok_r(line, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save))
        words[n++] = t;
    return n;
}

static const struct live_param *find_option(const struct live_spec *s, const char *name)
{
    for (const struct live_param *o = s->options; o && o->name; o++)
        if (!strcmp(o->name, name))
            return o;
    return NULL;
}

static unsigned char complete(EditLine *el, int ch)
{
    struct prompt *p = NULL;
    const LineInfo *li = el_line(el);
    char before[LIVE_MAX_LINE + 1], *words[LIVE_MAX_WORDS + 1];
    const struct live_spec *s;
    const struct live_param *o = NULL;
    size_t len = (size_t)(li->cursor - li->buffer), nwords, pos = 0;
    const char *word;

    el_get(el, EL_CLIENTDATA, &p);
    if (len >= sizeof(before))
        return CC_ERROR;
    memcpy(before, li->buffer, len);
    before[len] = '\0';
    word = before + len;
    while (word > before && word[-1] != ' ' && word[-1] != '\t')
        word--;
    {
        char copy[LIVE_MAX_LINE + 1];
        snprintf(copy, sizeof(copy), "%.*s", (int)(word - before), before);
        nwords = split_blanks(copy, words, LIVE_MAX_WORDS); /* the words before the one completed */
        if (nwords == 0)
            return complete_command(el, word);
        s = live_spec_find(words[0]);
        if (!s)
            return CC_ERROR;
        if (*word == '-')
            return complete_option(el, s, word);
        /* the value of an option? */
        if (nwords > 1 && words[nwords - 1][0] == '-') {
            const char *oname = words[nwords - 1] + 1;
            if (!strcmp(oname, "output"))
                return complete_choices(el, "json|table", word);
            o = find_option(s, oname);
            if (o && o->type == LIVE_T_PATH)
                return complete_path(el, p, word);
            if (o && o->type == LIVE_T_ENUM && o->choices)
                return complete_choices(el, o->choices, word);
            if (o && o->type != LIVE_T_BOOL)
                return CC_ERROR;
        }
        /* which positional: the words after the command that are neither options nor their values */
        for (size_t i = 1; i < nwords; i++) {
            if (words[i][0] == '-') {
                const struct live_param *oi = find_option(s, words[i] + 1);
                if (!strcmp(words[i] + 1, "output") || (oi && oi->type != LIVE_T_BOOL))
                    i++; /* its value */
                continue;
            }
            pos++;
        }
        for (size_t i = 0; s->positional && s->positional[i].name; i++) {
            const struct live_param *pp = &s->positional[i];
            if (i != pos)
                continue;
            if (pp->type == LIVE_T_PATH)
                return complete_path(el, p, word);
            if (pp->type == LIVE_T_ENUM && pp->choices)
                return complete_choices(el, pp->choices, word);
            /* analyze file <path>, remediate|undo file <path>: a path typed by its kind */
            if (i == 1 && nwords >= 2 && !strcmp(words[1], "file"))
                return complete_path(el, p, word);
            return CC_ERROR;
        }
    }
    return CC_ERROR;
}

/* ------------------------------------------------------------ the loop */

int live_prompt_run(struct live_cli *lv)
{
    struct prompt p = {.lv = lv};
    sigset_t editing, before;
    HistEvent ev;
    int rc = 0;

    setlocale(LC_CTYPE, ""); /* typed non-ASCII file names, in the terminal's encoding */
    sigemptyset(&editing);
    sigaddset(&editing, SIGINT);
    sigaddset(&editing, SIGTERM);
    sigaddset(&editing, SIGHUP);
    sigprocmask(SIG_BLOCK, NULL, &p.waiting_mask);
    sigdelset(&p.waiting_mask, SIGINT);
    sigdelset(&p.waiting_mask, SIGTERM);
    sigdelset(&p.waiting_mask, SIGHUP);

    p.el = el_init("yamori", stdin, stdout, stderr);
    p.hist = history_init();
    if (!p.el || !p.hist) {
        fprintf(stderr, "yamori live: cannot start the line editor\n");
        rc = 1;
        goto out;
    }
    history(p.hist, &ev, H_SETSIZE, HISTORY_SIZE);
    history(p.hist, &ev, H_SETUNIQUE, 1);
    history_path_set(&p);
    if (p.history_path[0] && access(p.history_path, F_OK) == 0)
        history(p.hist, &ev, H_LOAD, p.history_path);
    el_set(p.el, EL_CLIENTDATA, &p);
    el_set(p.el, EL_EDITOR, "emacs");
    el_set(p.el, EL_PROMPT, prompt_text);
    el_set(p.el, EL_HIST, history, p.hist);
    el_set(p.el, EL_GETCFN, read_key);
    /* the wide form: the narrow one copies the strings and libedit never frees the copies */
    el_wset(p.el, EL_ADDFN, L"yamori-complete", L"complete a command, option or the device's path", complete);
    el_set(p.el, EL_BIND, "^I", "yamori-complete", NULL);
    el_source(p.el, NULL); /* ~/.editrc, as other libedit programs */
    printf("live response on %s (session %lld). `help` lists the commands; exit, quit or Ctrl-D close it.\n",
           lv->host, lv->session);
    for (;;) {
        const char *line;
        char *copy;
        int n = 0, r, e;

        live_cli_interrupted = 0;
        lv->stopped = false;
        sigprocmask(SIG_BLOCK, &editing, &before);
        line = el_gets(p.el, &n);
        e = errno;
        sigprocmask(SIG_SETMASK, &before, NULL); /* what came meanwhile is handled now */
        errno = e;
        if (live_cli_leaving)
            break;
        if (!line && n < 0 && errno == EINTR) {
            putchar('\n'); /* Ctrl-C: the line is dropped, a new prompt */
            continue;
        }
        live_cli_interrupted = 0; /* a Ctrl-C just after Enter is not meant for the new command */
        if (!line || n == 0) {
            putchar('\n'); /* Ctrl-D */
            break;
        }
        copy = strdup(line);
        if (!copy)
            break;
        copy[strcspn(copy, "\r\n")] = '\0';
        if (copy[strspn(copy, " \t")]) {
            history(p.hist, &ev, H_ENTER, copy);
            history_save(&p);
        }
        r = live_cli_line(lv, copy);
        free(copy);
        if (r == LIVE_CLI_QUIT || live_cli_leaving)
            break;
    }
    fflush(stdout);
out:
    json_decref(p.cache);
    if (p.el)
        el_end(p.el);
    if (p.hist)
        history_end(p.hist);
    return rc;
}
