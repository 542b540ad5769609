/*
 * cmd_live.c — `yamori live HOST`: live response from the command line
 * (docs/live.md; the API and this command in docs/api.md, "Live
 * response").
 *
 *   yamori live HOST [--json] [--force]                    the prompt (stdin a terminal)
 *   yamori live HOST [-c LINE]... [-f SCRIPT] [--json] [--force]
 *
 * It opens the device's session (one person at a time: on 409 the server's
 * message names who holds it), runs lines — typed at the prompt
 * (cmd_live_prompt.c), or given with -c in order and then read from -f
 * SCRIPT (standard input when it is not a terminal and nothing else is
 * given; blank lines and # comments skipped) — and closes the session at
 * the end, whatever happened.
 *
 * The server parses every line and is the authority on what runs; the
 * shared grammar (common/live_grammar.h) is used here only to recognise
 * the few words the client acts on itself:
 *
 *   exit, quit        close the session and leave;
 *   cls               clear the terminal;
 *   fg N              sent to the server, then command N is followed here
 *                     (its streamed text, progress, result; Ctrl-C cancels it);
 *   library upload NAME -file LOCALPATH
 *                     PUT the local file to /api/v1/live/library/NAME
 *                     (the server refuses the line itself: it has no file);
 *   getfile PATH      after it succeeded, download the file into the
 *                     current local directory under PATH's base name,
 *                     through a temporary file whose SHA-256 must be the
 *                     one the device reported, renamed when whole; an
 *                     existing file is never replaced unless --force (or
 *                     the word --force ends the getfile line);
 *   -output json      (and --json) print the command's output as JSON
 *                     rather than the server's text.
 *
 * A command is sent without waiting (its id is what matters) and, while it
 * runs, followed with long polls (?offset=K&wait=25; a 503 "ask again" is
 * asked again) that bring its streamed text (findfile, run) as it comes; a
 * terminal shows the command's progress (findfile's; for scan and collect,
 * their action's in the action center) as a bar. Ctrl-C while a command runs cancels it on
 * the device and waits a little for it to end (a script then runs no more
 * lines); SIGTERM or a hang-up closes the session, which ends its
 * commands.
 *
 * Exit status: 0 when every command succeeded; 1 when one did not (the
 * reason on stderr) or the session could not be opened; 2 on misuse.
 */
#include "cli/cmd_live.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define FOLLOW_WAIT_S 25  /* a long poll while following a command */
#define PROGRESS_WAIT_S 2 /* ... while a progress bar is drawn */
#define CANCEL_WAIT_S 15  /* after Ctrl-C, how long to wait for the command to end */
#define LIST_WAIT_S 2     /* completion's `dir`: its answer within this (about twice it in all) */

volatile sig_atomic_t live_cli_interrupted;
volatile sig_atomic_t live_cli_leaving;

static int run(int argc, char **argv);

static const struct cli_command live_command = {
    .name = "live",
    .summary = "live response: an audited shell-like session on one device (commands, files, scripts)",
    .usage = "yamori live HOST [-c LINE]... [-f SCRIPT] [--json] [--force]",
    .run = run,
};
CLI_COMMAND(live_command);

static const char live_help[] =
    "Opens a live response session on HOST (a device id or host name) and runs\n"
    "commands there: at a prompt when standard input is a terminal, otherwise\n"
    "each -c LINE in order, then each line of SCRIPT (-f -: standard input).\n"
    "`help` at the prompt lists the commands your role may run.\n"
    "\n"
    "  -c, --command LINE  run LINE (repeatable; Ctrl-C cancels it and runs no more)\n"
    "  -f, --file SCRIPT   run each non-empty line of SCRIPT that is not a # comment\n"
    "      --json          print each command's output as JSON\n"
    "      --force         getfile may replace a local file of the same name\n"
    "\n"
    "At the prompt: Tab completes command names and the device's paths, the\n"
    "history is kept in ~/.yamori/live_history, Ctrl-C cancels the running\n"
    "command (or clears the line), cls clears the screen, exit, quit or Ctrl-D\n"
    "close the session. `getfile PATH` downloads the file into the current\n"
    "directory; `library upload NAME -file LOCALPATH` (admins) sends a local file\n"
    "to the library.\n"
    "\n"
    "Exit status: 0 when every command succeeded, 1 otherwise, 2 on misuse.\n";

/* ------------------------------------------------------------ small helpers */

static const char *text(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* The message of an error answer, as the server wrote it. */
static const char *server_message(const struct cli_response *r)
{
    json_t *m = json_object_get(json_object_get(r->json, "error"), "message");
    if (json_is_string(m))
        return json_string_value(m);
    return r->body && *r->body ? r->body : "no answer";
}

/* One line on stderr: as is at the prompt, after "yamori live: " in a script. */
static void say(const struct live_cli *lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct live_cli *lv, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    if (!lv->interactive)
        fputs("yamori live: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A request of the session. stop: Ctrl-C abandons it. Returns 0 with *r
 * (whatever the status), -EINTR when interrupted, -1 when no answer came
 * (said). */
static int api(const struct live_cli *lv, const char *method, const char *path, json_t *body, bool stop,
               long timeout_s, struct cli_response *r)
{
    struct cli_transfer t = {.method = method, .path = path, .json = body, .timeout_s = timeout_s};
    char err[600];
    int e;

    if (stop)
        t.stop = &live_cli_interrupted;
    e = cli_transfer(&lv->cfg, &t, r, err, sizeof(err));
    if (e == -EINTR) {
        cli_response_free(r);
        return -EINTR;
    }
    if (e != 0) {
        say(lv, "%s", err);
        cli_response_free(r);
        return -1;
    }
    return 0;
}

static bool ok_status(const struct cli_response *r)
{
    return r->status >= 200 && r->status < 300;
}

static bool ended(const char *state)
{
    return *state && strcmp(state, "running") != 0;
}

/* ------------------------------------------------------------ the session */

/* Takes the device name and the current directory from a session object. */
static void session_take(struct live_cli *lv, json_t *s)
{
    if (*text(s, "device_name"))
        snprintf(lv->host, sizeof(lv->host), "%s", text(s, "device_name"));
    if (*text(s, "cwd"))
        snprintf(lv->cwd, sizeof(lv->cwd), "%s", text(s, "cwd"));
}

/* Opens the session on host. Returns 0, or 1 (an exit status) with why said. */
static int session_open(struct live_cli *lv, const char *host)
{
    json_t *body = json_pack("{s:s}", "device", host), *s;
    struct cli_response r;
    int rc = 1;

    if (!body || api(lv, "POST", "/api/v1/live/sessions", body, false, 0, &r) != 0)
        goto out;
    if (!ok_status(&r)) {
        say(lv, "cannot open a session on %s: %s", host, server_message(&r));
        cli_response_free(&r);
        goto out;
    }
    s = json_object_get(r.json, "session");
    if (!json_is_integer(json_object_get(s, "id"))) {
        say(lv, "cannot open a session on %s: the server's answer has no session id", host);
        cli_response_free(&r);
        goto out;
    }
    lv->session = json_integer_value(json_object_get(s, "id"));
    snprintf(lv->host, sizeof(lv->host), "%s", host);
    snprintf(lv->cwd, sizeof(lv->cwd), "/");
    session_take(lv, s);
    cli_response_free(&r);
    rc = 0;
out:
    json_decref(body);
    return rc;
}

/* Reads the session again (its current directory after a cd). */
static void session_refresh(struct live_cli *lv)
{
    struct cli_response r;
    char path[96];

    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld", lv->session);
    if (api(lv, "GET", path, NULL, false, 30, &r) != 0)
        return;
    if (ok_status(&r))
        session_take(lv, json_object_get(r.json, "session"));
    cli_response_free(&r);
}

static void session_close(struct live_cli *lv)
{
    struct cli_response r;
    char path[96];

    if (!lv->session)
        return;
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld", lv->session);
    if (api(lv, "DELETE", path, NULL, false, 30, &r) != 0)
        return;
    if (!ok_status(&r) && r.status != 404 && r.status != 409)
        say(lv, "could not close session %lld: %s", lv->session, server_message(&r));
    cli_response_free(&r);
    lv->session = 0;
}

/* ------------------------------------------------------------ following a command */

struct follow {
    long long id;
    long long offset;   /* streamed bytes shown */
    bool bar;           /* a progress bar is on the current line */
    bool streamed;      /* some text was streamed */
    bool at_line_start; /* the streamed text ended with a newline */
};

/* The command object of an answer ({"command": {...}}). */
static json_t *command_of(json_t *answer)
{
    json_t *c = json_object_get(answer, "command");
    return json_is_object(c) ? c : NULL;
}

static void bar_end(struct follow *f)
{
    if (f->bar) {
        printf("\r\033[K");
        f->bar = false;
    }
}

/* The progress of running command cmd, when it has some (a new
 * reference, or NULL): the command's own "progress", else that of the
 * action carrying a bridged command (scan, collect), read from the action
 * center. */
static json_t *command_progress(const struct live_cli *lv, json_t *cmd)
{
    json_t *own = json_object_get(cmd, "progress"), *action = json_object_get(cmd, "action_id"), *p = NULL;
    struct cli_transfer t = {.method = "GET", .timeout_s = 10};
    struct cli_response r;
    char path[64], err[600];

    if (json_is_object(own))
        return json_incref(own);
    if (!json_is_integer(action))
        return NULL;
    snprintf(path, sizeof(path), "/api/v1/actions/%lld", (long long)json_integer_value(action));
    t.path = path;
    if (cli_transfer(&lv->cfg, &t, &r, err, sizeof(err)) == 0 && ok_status(&r) &&
        json_is_object(json_object_get(r.json, "progress")))
        p = json_incref(json_object_get(r.json, "progress"));
    cli_response_free(&r);
    return p;
}

/* Prints what cmd brings that is new: streamed text ({"stream": {"offset",
 * "text", "next"}}), the progress bar on a terminal. */
static void follow_show(const struct live_cli *lv, struct follow *f, json_t *cmd)
{
    json_t *stream = json_object_get(cmd, "stream"), *txt = json_object_get(stream, "text");
    json_t *from = json_object_get(stream, "offset"), *next = json_object_get(stream, "next");

    if (json_is_string(txt) && json_is_integer(from) && json_is_integer(next)) {
        long long at = json_integer_value(from), n = (long long)json_string_length(txt);
        const char *s = json_string_value(txt);
        long long skip = f->offset > at ? f->offset - at : 0; /* already shown */

        if (at <= f->offset && skip < n) {
            bar_end(f);
            fwrite(s + skip, 1, (size_t)(n - skip), stdout);
            f->streamed = true;
            f->at_line_start = s[n - 1] == '\n';
        }
        if (at <= f->offset && json_integer_value(next) > f->offset)
            f->offset = json_integer_value(next);
    }
    if (isatty(STDOUT_FILENO) && !ended(text(cmd, "state"))) {
        json_t *progress = command_progress(lv, cmd);
        if (progress) {
            if (f->streamed && !f->at_line_start) {
                putchar('\n');
                f->at_line_start = true;
            }
            cli_progress_draw(progress);
            f->bar = true;
            json_decref(progress);
        }
    }
    fflush(stdout);
}

/* After Ctrl-C: asks the server to cancel the command, then waits (a
 * while, or until another Ctrl-C) for it to end. Returns the command as it
 * last stood (a new reference) or NULL. */
static json_t *follow_cancel(struct live_cli *lv, struct follow *f, json_t *cmd)
{
    struct cli_response r;
    char path[160];
    time_t until = time(NULL) + CANCEL_WAIT_S;
    json_t *last = json_incref(cmd);

    live_cli_interrupted = 0;
    lv->stopped = true;
    bar_end(f);
    if (f->streamed && !f->at_line_start)
        putchar('\n');
    f->at_line_start = true;
    fflush(stdout);
    fprintf(stderr, "^C: cancelling command %lld\n", f->id);
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands/%lld/cancel", lv->session, f->id);
    if (api(lv, "POST", path, NULL, false, 30, &r) != 0)
        return last;
    if (!ok_status(&r) && r.status != 409)
        say(lv, "cannot cancel command %lld: %s", f->id, server_message(&r));
    cli_response_free(&r);
    while (!ended(text(last, "state")) && time(NULL) < until && !live_cli_leaving) {
        snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands/%lld?offset=%lld&wait=%d", lv->session,
                 f->id, f->offset, CANCEL_WAIT_S);
        if (api(lv, "GET", path, NULL, true, CANCEL_WAIT_S + 30, &r) != 0)
            break;
        if (ok_status(&r) && command_of(r.json)) {
            json_decref(last);
            last = json_incref(command_of(r.json));
            follow_show(lv, f, last);
        }
        cli_response_free(&r);
    }
    if (live_cli_interrupted || !ended(text(last, "state")))
        say(lv, "command %lld is still being stopped on the device (`status` shows it)", f->id);
    live_cli_interrupted = 0;
    return last;
}

/* Follows command cmd (an object) until it ends, printing what it streams
 * from byte offset on (*streamed: whether there was any). Returns the
 * ended command (a new reference), or NULL when the server could not be
 * asked (said). */
static json_t *follow(struct live_cli *lv, json_t *cmd, long long offset, bool *streamed)
{
    struct follow f = {.id = json_integer_value(json_object_get(cmd, "id")), .offset = offset, .at_line_start = true};
    json_t *cur = json_incref(cmd);
    struct cli_response r;
    char path[160];

    for (;;) {
        int e;

        follow_show(lv, &f, cur);
        if (ended(text(cur, "state")))
            break;
        if (live_cli_interrupted && live_cli_leaving) {
            json_decref(cur); /* closing the session ends the command */
            return NULL;
        }
        if (live_cli_interrupted) {
            json_t *last = follow_cancel(lv, &f, cur);
            json_decref(cur);
            cur = last;
            break;
        }
        snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands/%lld?offset=%lld&wait=%d", lv->session,
                 f.id, f.offset, f.bar ? PROGRESS_WAIT_S : FOLLOW_WAIT_S);
        e = api(lv, "GET", path, NULL, true, FOLLOW_WAIT_S + 30, &r);
        if (e == -EINTR)
            continue; /* live_cli_interrupted is set: cancel */
        if (e != 0) {
            json_decref(cur);
            return NULL;
        }
        if (r.status == 503) { /* the server's wait ended without an answer: ask again */
            cli_response_free(&r);
            continue;
        }
        if (!ok_status(&r) || !command_of(r.json)) {
            say(lv, "cannot follow command %lld: %s", f.id, server_message(&r));
            cli_response_free(&r);
            json_decref(cur);
            return NULL;
        }
        json_decref(cur);
        cur = json_incref(command_of(r.json));
        cli_response_free(&r);
    }
    bar_end(&f);
    if (f.streamed && !f.at_line_start)
        putchar('\n');
    fflush(stdout);
    *streamed = f.streamed;
    return cur;
}

/* ------------------------------------------------------------ getfile's download */

/* The SHA-256 of the open file f (from its start) as hex. 0 or -errno. */
static int file_sha256(FILE *f, char hex[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t n;
    int e = 0;

    if (!ctx)
        return -ENOMEM;
    if (fseek(f, 0, SEEK_SET) != 0 || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        e = -EIO;
        goto out;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    if (ferror(f) || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        e = -EIO;
        goto out;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
    EVP_MD_CTX_free(ctx);
    return e;
}

/* The local file name for remote path: its base name. 0, or -EINVAL when
 * it has none ("/"). */
static int local_name(const char *remote, char *out, size_t outlen)
{
    const char *base = strrchr(remote, '/');

    base = base ? base + 1 : remote;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..") ||
        snprintf(out, outlen, "%s", base) >= (int)outlen)
        return -EINVAL;
    return 0;
}

/* Downloads what getfile command cmd brought back into the current
 * directory. Returns 0 or 1 (said). */
static int getfile_download(struct live_cli *lv, json_t *cmd, const char *remote, bool force)
{
    json_t *file = json_object_get(cmd, "file"), *output = json_object_get(cmd, "output");
    const char *want = *text(file, "sha256") ? text(file, "sha256") : text(output, "sha256");
    char name[NAME_MAX + 1], tmp[NAME_MAX + 32], path[96], got[65], here[PATH_MAX];
    struct cli_transfer t = {.method = "GET", .path = path, .stop = &live_cli_interrupted, .timeout_s = 3600};
    struct cli_response r = {0};
    char err[600];
    FILE *f = NULL;
    int fd, e, rc = 1;
    long long size;

    if (local_name(remote, name, sizeof(name)) != 0) {
        say(lv, "getfile: %s has no file name to save it under", remote);
        return 1;
    }
    if (strlen(want) != 64) {
        say(lv, "getfile: the server did not say the file's SHA-256; nothing downloaded");
        return 1;
    }
    snprintf(tmp, sizeof(tmp), ".%s.yamori-XXXXXX", name);
    fd = mkstemp(tmp);
    if (fd < 0 || !(f = fdopen(fd, "w+"))) {
        say(lv, "getfile: cannot create a file in the current directory: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return 1;
    }
    snprintf(path, sizeof(path), "/api/v1/live/files/%lld", (long long)json_integer_value(json_object_get(cmd, "id")));
    t.download = f;
    e = cli_transfer(&lv->cfg, &t, &r, err, sizeof(err));
    live_cli_interrupted = 0;
    if (e != 0) {
        lv->stopped = e == -EINTR;
        say(lv, "getfile: %s", e == -EINTR ? "download interrupted" : err);
        goto out;
    }
    if (!ok_status(&r)) {
        say(lv, "getfile: cannot download the file: %s", server_message(&r));
        goto out;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        say(lv, "getfile: cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    size = (long long)ftello(f);
    if (file_sha256(f, got) != 0) {
        say(lv, "getfile: cannot read back %s", tmp);
        goto out;
    }
    if (strcmp(got, want) != 0) {
        say(lv, "getfile: the download's SHA-256 %s is not the device's %s; nothing kept", got, want);
        goto out;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, name, force ? 0 : RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST)
            say(lv, "getfile: %s exists here; not replaced (add --force to the getfile line)", name);
        else
            say(lv, "getfile: cannot save %s: %s", name, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    if (!getcwd(here, sizeof(here)))
        snprintf(here, sizeof(here), ".");
    printf("downloaded to %s/%s (%lld bytes, sha256 %s)\n", strcmp(here, "/") ? here : "", name, size, got);
    rc = 0;
out:
    if (f)
        fclose(f);
    if (tmp[0])
        unlink(tmp);
    cli_response_free(&r);
    return rc;
}

/* ------------------------------------------------------------ library upload */

/* PUTs local file local to the library as name. Returns 0 or 1 (said). */
static int library_upload(struct live_cli *lv, const char *name, const char *local)
{
    struct cli_transfer t = {.method = "PUT", .stop = &live_cli_interrupted, .timeout_s = 3600};
    struct cli_response r = {0};
    char path[480], esc[400], err[600];
    struct stat st;
    FILE *f;
    int e, rc = 1;

    f = fopen(local, "rbe");
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        say(lv, "library upload: cannot read %s: %s", local, !f ? strerror(errno) : "not a regular file");
        if (f)
            fclose(f);
        return 1;
    }
    cli_url_escape(name, esc, sizeof(esc));
    snprintf(path, sizeof(path), "/api/v1/live/library/%s", esc);
    t.path = path;
    t.upload = f;
    t.upload_size = (long long)st.st_size;
    e = cli_transfer(&lv->cfg, &t, &r, err, sizeof(err));
    live_cli_interrupted = 0;
    lv->stopped = e == -EINTR;
    if (e != 0)
        say(lv, "library upload: %s", e == -EINTR ? "interrupted" : err);
    else if (!ok_status(&r))
        say(lv, "%s", server_message(&r));
    else {
        json_t *lf = json_object_get(r.json, "file");
        printf("uploaded %s to the library (%lld bytes, sha256 %s)\n", name, (long long)st.st_size,
               *text(lf, "sha256") ? text(lf, "sha256") : text(r.json, "sha256"));
        rc = 0;
    }
    fclose(f);
    cli_response_free(&r);
    return rc;
}

/* ------------------------------------------------------------ a line */

/* Prints an ended command's result: its output as JSON, or the server's
 * text — except for a table whose rows were streamed already (findfile),
 * where only its other members are shown ("matches: 3"). Returns 0 when
 * it succeeded, else 1 (the error said). */
static int command_result(struct live_cli *lv, json_t *cmd, const char *line, bool as_json, bool streamed)
{
    const char *state = text(cmd, "state"), *txt = text(cmd, "text"), *error = text(cmd, "error");
    json_t *out = json_object_get(cmd, "output");

    if (as_json) {
        if (out && !json_is_null(out)) {
            char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
            if (s)
                printf("%s\n", s);
            free(s);
        }
    } else if (streamed && json_is_array(json_object_get(out, "rows"))) {
        const char *k;
        json_t *v;
        char buf[1024];

        json_object_foreach(out, k, v) {
            if (strcmp(k, "columns") && strcmp(k, "rows") && !json_is_object(v) && !json_is_array(v) &&
                !json_is_null(v))
                printf("%s: %s\n", k, cli_json_text(v, buf, sizeof(buf)));
        }
    } else if (*txt) {
        fputs(txt, stdout);
        if (txt[strlen(txt) - 1] != '\n')
            putchar('\n');
    }
    fflush(stdout);
    if (!strcmp(state, "succeeded"))
        return 0;
    if (lv->interactive)
        say(lv, "%s%s%s", state, *error ? ": " : "", error);
    else
        say(lv, "`%s` %s%s%s", line, state, *error ? ": " : "", error);
    return 1;
}

/* "  a  b " → "a  b" in a malloc'd copy. */
static char *trimmed(const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return strndup(s, n);
}

/* Removes a last word "--force" (the client's, for getfile). */
static bool strip_force(char *line)
{
    size_t n = strlen(line);
    const size_t k = sizeof(" --force") - 1;

    if (n > k && !strcmp(line + n - k, " --force")) {
        line[n - k] = '\0';
        while (n > k && (line[strlen(line) - 1] == ' ' || line[strlen(line) - 1] == '\t'))
            line[strlen(line) - 1] = '\0';
        return true;
    }
    return false;
}

int live_cli_line(struct live_cli *lv, const char *typed)
{
    char *line = trimmed(typed), err[1024], path[96];
    struct live_parsed p = {0};
    const struct live_spec *spec = NULL;
    json_t *body = NULL, *cmd, *done = NULL;
    struct cli_response r = {0};
    bool as_json = lv->json, force = lv->force, parsed = false, streamed = false;
    const char *line_of = "";
    long long follow_id = 0;
    int rc = 1;

    if (!line) {
        say(lv, "out of memory");
        return 1;
    }
    if (!*line) {
        rc = 0;
        goto out;
    }
    if (!strcmp(line, "exit") || !strcmp(line, "quit")) {
        rc = LIVE_CLI_QUIT;
        goto out;
    }
    if (!strcmp(line, "cls")) {
        if (isatty(STDOUT_FILENO))
            printf("\033[H\033[2J");
        fflush(stdout);
        rc = 0;
        goto out;
    }
    if (!strncmp(line, "getfile", 7) && (line[7] == ' ' || line[7] == '\t') && strip_force(line))
        force = true;
    /* the server parses again; this only finds what the client acts on */
    if (live_parse(line, lv->cwd, &p, err, sizeof(err)) == 0) {
        parsed = true;
        spec = p.spec;
        as_json = as_json || p.output == LIVE_OUTPUT_JSON;
        if (!strcmp(spec->name, "library") && !strcmp(text(p.args, "action"), "upload")) {
            if (!*text(p.args, "file"))
                say(lv, "library upload needs the local file: library upload %s -file LOCALPATH", text(p.args, "name"));
            else
                rc = library_upload(lv, text(p.args, "name"), text(p.args, "file"));
            goto out;
        }
        if (!strcmp(spec->name, "getfile") && !p.background) {
            char name[NAME_MAX + 1];
            if (local_name(text(p.args, "path"), name, sizeof(name)) == 0 && !force && access(name, F_OK) == 0) {
                say(lv, "getfile: %s exists in this directory; not replaced (add --force to the getfile line)",
                    name);
                goto out;
            }
        }
        if (!strcmp(spec->name, "fg"))
            follow_id = json_integer_value(json_object_get(p.args, "id"));
    }
    body = json_pack("{s:s}", "line", line);
    /* answered at once (the id is what matters: a wait that fails would lose it), then followed */
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands", lv->session);
    if (!body || api(lv, "POST", path, body, false, 60, &r) != 0)
        goto out;
    if (!ok_status(&r) || !(cmd = command_of(r.json))) {
        say(lv, "%s", server_message(&r));
        goto out;
    }
    if (json_is_true(json_object_get(cmd, "background"))) {
        printf("[%lld] started in the background: %s\n", (long long)json_integer_value(json_object_get(cmd, "id")),
               line);
        rc = 0;
        goto out;
    }
    done = follow(lv, cmd, 0, &streamed);
    if (!done)
        goto out;
    if (follow_id > 0 && !strcmp(text(done, "state"), "succeeded")) {
        /* the server accepted `fg N` and says which: follow N itself, from its first byte */
        json_t *fol = json_object_get(json_object_get(done, "output"), "follow"), *target;
        struct cli_response one;
        char one_path[128];

        fputs(text(done, "text"), stdout);
        if (json_is_integer(fol))
            follow_id = json_integer_value(fol);
        snprintf(one_path, sizeof(one_path), "/api/v1/live/sessions/%lld/commands/%lld?offset=0", lv->session,
                 follow_id);
        if (api(lv, "GET", one_path, NULL, false, 30, &one) != 0)
            goto out;
        if (!ok_status(&one) || !command_of(one.json)) {
            say(lv, "%s", server_message(&one));
            cli_response_free(&one);
            goto out;
        }
        target = follow(lv, command_of(one.json), 0, &streamed);
        cli_response_free(&one);
        if (!target)
            goto out;
        json_decref(done);
        done = target;
        line_of = text(done, "line");
    }
    as_json = as_json || !strcmp(text(done, "output_format"), "json");
    rc = command_result(lv, done, *line_of ? line_of : line, as_json, streamed);
    if (rc == 0 && !strcmp(text(done, "name"), "cd"))
        session_refresh(lv);
    if (rc == 0 && !strcmp(text(done, "name"), "getfile")) /* the path as the server resolved it */
        rc = getfile_download(lv, done, text(json_object_get(done, "args"), "path"), force);
out:
    fflush(stdout); /* a script's reader sees each command's output when it ends */
    json_decref(done);
    json_decref(body);
    cli_response_free(&r);
    if (parsed)
        live_parsed_free(&p);
    free(line);
    return rc;
}

/* ------------------------------------------------------------ completion's listing */

json_t *live_cli_list_dir(struct live_cli *lv, const char *dir)
{
    json_t *body = NULL, *cmd, *rows, *row, *list = NULL;
    struct cli_response r = {0};
    char *line = NULL, path[96];
    size_t i, n = 0;

    /* the directory as one quoted word: '…' with each ' written as '"'"' */
    line = malloc((dir ? strlen(dir) : 0) * 5 + 16);
    if (!line)
        return NULL;
    if (!dir || !*dir) {
        strcpy(line, "dir"); /* the current directory */
    } else {
        n = (size_t)sprintf(line, "dir '");
        for (const char *c = dir; *c; c++) {
            if (*c == '\'') {
                memcpy(line + n, "'\"'\"'", 5);
                n += 5;
            } else {
                line[n++] = *c;
            }
        }
        memcpy(line + n, "'", 2);
    }
    body = json_pack("{s:s}", "line", line);
    snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands", lv->session);
    {
        struct cli_transfer t = {.method = "POST", .path = path, .json = body, .timeout_s = LIST_WAIT_S};
        char err[600];
        if (!body || cli_transfer(&lv->cfg, &t, &r, err, sizeof(err)) != 0 || !ok_status(&r) ||
            !(cmd = command_of(r.json)))
            goto out;
    }
    if (!strcmp(text(cmd, "state"), "running")) {
        struct cli_transfer t = {.method = "GET", .path = path, .timeout_s = LIST_WAIT_S + 1};
        char err[600];

        snprintf(path, sizeof(path), "/api/v1/live/sessions/%lld/commands/%lld?offset=0&wait=%d", lv->session,
                 (long long)json_integer_value(json_object_get(cmd, "id")), LIST_WAIT_S);
        cli_response_free(&r);
        if (cli_transfer(&lv->cfg, &t, &r, err, sizeof(err)) != 0 || !ok_status(&r) || !(cmd = command_of(r.json)))
            goto out;
    }
    if (strcmp(text(cmd, "state"), "succeeded") != 0)
        goto out;
    rows = json_object_get(json_object_get(cmd, "output"), "rows");
    list = json_array();
    json_array_foreach(rows, i, row) {
        const char *name = text(row, "name"), *type = text(row, "type");
        const char *slash = strrchr(name, '/');
        if (slash && slash[1])
            name = slash + 1;
        if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        json_array_append_new(list, json_pack("{s:s, s:b}", "name", name, "dir",
                                              !strcmp(type, "directory") || !strcmp(type, "dir")));
    }
out:
    free(line);
    json_decref(body);
    cli_response_free(&r);
    return list;
}

/* ------------------------------------------------------------ yamori live */

static void on_signal(int sig)
{
    if (sig != SIGINT)
        live_cli_leaving = 1;
    live_cli_interrupted = 1;
}

/* Whether a script goes no further: Ctrl-C, a hang-up, SIGTERM. */
static bool script_stops(const struct live_cli *lv)
{
    return live_cli_leaving || live_cli_interrupted || lv->stopped;
}

/* Runs each line of f (skipping blank lines and # comments). Sets *failed
 * when one fails. Returns LIVE_CLI_QUIT when the script said exit, or
 * when the client is leaving. */
static int run_script(struct live_cli *lv, FILE *f, bool echo, bool *failed)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    while (!script_stops(lv) && (n = getline(&buf, &cap, f)) >= 0) {
        const char *s = buf;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '\n' || *s == '\r' || *s == '#')
            continue;
        if (echo) {
            printf("%s:%s> %s%s", lv->host, lv->cwd, s, buf[n - 1] == '\n' ? "" : "\n");
            fflush(stdout);
        }
        rc = live_cli_line(lv, s);
        if (rc == LIVE_CLI_QUIT)
            break;
        if (rc != 0)
            *failed = true;
        rc = 0;
    }
    free(buf);
    return script_stops(lv) ? LIVE_CLI_QUIT : rc;
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"command", required_argument, NULL, 'c'}, {"file", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},         {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct live_cli lv = {0};
    struct sigaction sa = {0};
    const char *script = NULL, *host;
    const char **lines = NULL;
    size_t nlines = 0;
    bool failed = false, echo;
    char err[600];
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:f:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': {
            const char **nl = realloc(lines, (nlines + 1) * sizeof(*lines));
            if (!nl) {
                free(lines);
                fprintf(stderr, "yamori live: out of memory\n");
                return 1;
            }
            lines = nl;
            lines[nlines++] = optarg;
            break;
        }
        case 'f':
            if (script) {
                free(lines);
                return cli_usage(&live_command);
            }
            script = optarg;
            break;
        case 'j': lv.json = true; break;
        case 'F': lv.force = true; break;
        case 'h':
            free(lines);
            printf("usage: %s\n\n%s", live_command.usage, live_help);
            return 0;
        default: free(lines); return cli_usage(&live_command);
        }
    }
    if (argc - optind != 1 || !*argv[optind]) {
        free(lines);
        return cli_usage(&live_command);
    }
    host = argv[optind];
    lv.interactive = !nlines && !script && isatty(STDIN_FILENO);
    if (!nlines && !script && !lv.interactive)
        script = "-";
    if (cli_config_load(&lv.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori live: %s\n", err);
        goto out;
    }
    sa.sa_handler = on_signal; /* no SA_RESTART: Ctrl-C must interrupt a read or a wait */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (session_open(&lv, host) != 0)
        goto out;
    if (lv.interactive) {
        rc = live_prompt_run(&lv);
        goto close;
    }
    echo = !lv.json && (nlines > 1 || script);
    for (size_t i = 0; i < nlines && !script_stops(&lv); i++) {
        int r;
        if (echo) {
            printf("%s:%s> %s\n", lv.host, lv.cwd, lines[i]);
            fflush(stdout);
        }
        r = live_cli_line(&lv, lines[i]);
        if (r == LIVE_CLI_QUIT)
            goto done;
        if (r != 0)
            failed = true;
    }
    if (script && !script_stops(&lv)) {
        FILE *f = strcmp(script, "-") ? fopen(script, "re") : stdin;
        if (!f) {
            fprintf(stderr, "yamori live: cannot read %s: %s\n", script, strerror(errno));
            failed = true;
        } else {
            run_script(&lv, f, echo, &failed);
            if (f != stdin)
                fclose(f);
        }
    }
done:
    rc = failed || script_stops(&lv) ? 1 : 0;
close:
    session_close(&lv);
out:
    free(lines);
    return rc;
}
