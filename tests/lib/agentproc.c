/*
 * agentproc.c — see agentproc.h.
 */
#include "agentproc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct agentproc {
    struct agentproc *next; /* live agents */
    pid_t pid;
    int out_fd;          /* the agent's stdout */
    char err_path[64];   /* its stderr, in a file */
    char status_path[64];
    char state_dir[64];
    char *buf;           /* partial line */
    size_t len, cap;
    json_t *events;      /* kept events (array) */
    json_t *started;
    bool eof;
};

static struct agentproc *live;

const char *agentproc_binary(bool release)
{
    static char path[512];
    const char *dir = getenv(release ? "YAMORI_REL_BIN" : "YAMORI_SAN_BIN");
    snprintf(path, sizeof(path), "%s/yamori-agent", dir ? dir : (release ? "build/rel" : "build/san"));
    return path;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hands every complete line to fn (or keeps it when fn is NULL). Returns
 * true when fn asked to stop. */
static bool take_lines(struct agentproc *a, bool (*fn)(json_t *, void *), void *ctx)
{
    size_t start = 0;
    bool done = false;

    for (size_t i = 0; i < a->len && !done; i++) {
        if (a->buf[i] != '\n')
            continue;
        json_error_t jerr;
        json_t *ev = json_loadb(a->buf + start, i - start, 0, &jerr);
        start = i + 1;
        if (!ev) {
            fprintf(stderr, "agentproc: unparsable line: %s\n", jerr.text);
            continue;
        }
        if (!a->started && json_is_string(json_object_get(ev, "ActionType")) &&
            strcmp(json_string_value(json_object_get(ev, "ActionType")), "AgentStarted") == 0)
            a->started = json_incref(ev);
        if (fn) {
            done = fn(ev, ctx);
            json_decref(ev);
        } else {
            json_array_append_new(a->events, ev);
        }
    }
    memmove(a->buf, a->buf + start, a->len - start);
    a->len -= start;
    return done;
}

/* Reads what is available within timeout_ms (one poll). */
static bool pump(struct agentproc *a, int timeout_ms, bool (*fn)(json_t *, void *), void *ctx)
{
    struct pollfd pfd = {.fd = a->out_fd, .events = POLLIN};
    bool done = false;

    if (a->eof)
        return false;
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return false;
    for (;;) {
        ssize_t n;
        if (a->cap - a->len < 65536) {
            size_t cap = a->cap ? a->cap * 2 : 1 << 20;
            char *nb = realloc(a->buf, cap);
            if (!nb)
                return false;
            a->buf = nb;
            a->cap = cap;
        }
        n = read(a->out_fd, a->buf + a->len, a->cap - a->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                a->eof = true;
            break;
        }
        a->len += (size_t)n;
        if (take_lines(a, fn, ctx)) {
            done = true;
            break;
        }
    }
    return done;
}

struct agentproc *agentproc_start(const char *binary, const char *const *extra_args, char *err, size_t errlen)
{
    struct agentproc *a = calloc(1, sizeof(*a));
    int pipefd[2];
    const char *argv[64];
    int argc = 0;
    long long deadline;

    if (!a)
        return NULL;
    a->events = json_array();
    snprintf(a->err_path, sizeof(a->err_path), "/tmp/yamori-agent-test-%d-%p.err", (int)getpid(), (void *)a);
    snprintf(a->status_path, sizeof(a->status_path), "/tmp/yamori-agent-test-%d-%p.status", (int)getpid(),
             (void *)a);
    snprintf(a->state_dir, sizeof(a->state_dir), "/tmp/yamori-agent-test-%d-%p.state", (int)getpid(),
             (void *)a);
    mkdir(a->state_dir, 0700);
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        free(a);
        return NULL;
    }
    argv[argc++] = binary;
    argv[argc++] = "--stdout";
    argv[argc++] = "--status-file";
    argv[argc++] = a->status_path;
    argv[argc++] = "--state-dir";
    argv[argc++] = a->state_dir;
    for (int i = 0; extra_args && extra_args[i] && argc < 62; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;

    a->pid = fork();
    if (a->pid == 0) {
        int errfd = open(a->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(pipefd[1], 1);
        if (errfd >= 0)
            dup2(errfd, 2);
        execv(binary, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", binary, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    a->out_fd = pipefd[0];
    a->next = live;
    live = a;
    fcntl(a->out_fd, F_SETFL, fcntl(a->out_fd, F_GETFL) | O_NONBLOCK);
    if (a->pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(a->out_fd);
        free(a);
        return NULL;
    }
    deadline = now_ms() + 30000;
    while (!a->started && !a->eof && now_ms() < deadline)
        pump(a, 200, NULL, NULL);
    if (!a->started) {
        char text[1024] = "";
        FILE *f = fopen(a->err_path, "r");
        if (f) {
            size_t n = fread(text, 1, sizeof(text) - 1, f);
            text[n] = '\0';
            fclose(f);
        }
        snprintf(err, errlen, "the agent did not start: %s", text);
        agentproc_stop(a);
        return NULL;
    }
    return a;
}

int agentproc_stop(struct agentproc *a)
{
    int status = -1;

    if (!a)
        return -1;
    for (struct agentproc **pp = &live; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    if (a->pid > 0) {
        kill(a->pid, SIGTERM);
        while (!a->eof)
            if (!pump(a, 5000, NULL, NULL) && !a->eof)
                break;
        if (waitpid(a->pid, &status, 0) < 0)
            status = -1;
    }
    close(a->out_fd);
    unlink(a->err_path);
    unlink(a->status_path);
    {
        char p[128];
        snprintf(p, sizeof(p), "%s/logon.state", a->state_dir);
        unlink(p);
        rmdir(a->state_dir);
    }
    json_decref(a->events);
    json_decref(a->started);
    free(a->buf);
    free(a);
    return status;
}

const char *agentproc_diag(struct agentproc *a)
{
    static char out[2048];
    char lim[512] = "", tail[1024] = "";
    FILE *f;

    if (a->started)
        agentproc_text(a->started, "SensorLimitations", lim, sizeof(lim));
    f = fopen(a->err_path, "r");
    if (f) {
        long size;
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, size > (long)sizeof(tail) - 1 ? size - (long)sizeof(tail) + 1 : 0, SEEK_SET);
        size_t n = fread(tail, 1, sizeof(tail) - 1, f);
        tail[n] = '\0';
        fclose(f);
    }
    for (char *c = tail; *c; c++)
        if (*c == '\n')
            *c = '|';
    snprintf(out, sizeof(out), "[limitations: %s] [stderr: %s] [%zu events kept]", lim, tail,
             json_array_size(a->events));
    return out;
}

const char *agentproc_log_tail(const char *path)
{
    static char buf[700];
    off_t size;
    ssize_t n;
    int fd;

    buf[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return buf;
    size = lseek(fd, 0, SEEK_END);
    n = pread(fd, buf, sizeof(buf) - 1, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = '|';
    return buf;
}

void agentproc_stop_all(void)
{
    while (live)
        agentproc_stop(live);
}

json_t *agentproc_started(struct agentproc *a)
{
    return a->started;
}

const char *agentproc_text(json_t *ev, const char *name, char *buf, size_t buflen)
{
    json_t *v = json_object_get(ev, name);

    buf[0] = '\0';
    if (json_is_string(v))
        snprintf(buf, buflen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, buflen, "%lld", (long long)json_integer_value(v));
    else if (json_is_true(v))
        snprintf(buf, buflen, "true");
    else if (json_is_false(v))
        snprintf(buf, buflen, "false");
    return buf;
}

struct pairs {
    const char *k[16];
    const char *v[16];
    int n;
};

static void collect_pairs(struct pairs *p, va_list ap)
{
    p->n = 0;
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k || p->n == 16)
            break;
        p->k[p->n] = k;
        p->v[p->n] = va_arg(ap, const char *);
        p->n++;
    }
}

static bool matches(json_t *ev, const struct pairs *p)
{
    char buf[8192];
    for (int i = 0; i < p->n; i++) {
        if (!json_object_get(ev, p->k[i]))
            return false;
        if (strcmp(agentproc_text(ev, p->k[i], buf, sizeof(buf)), p->v[i]) != 0)
            return false;
    }
    return true;
}

static json_t *search(struct agentproc *a, const struct pairs *p, size_t from)
{
    for (size_t i = from; i < json_array_size(a->events); i++) {
        json_t *ev = json_array_get(a->events, i);
        if (matches(ev, p))
            return ev;
    }
    return NULL;
}

json_t *agentproc_wait(struct agentproc *a, int timeout_ms, ...)
{
    struct pairs p;
    va_list ap;
    long long deadline = now_ms() + timeout_ms;
    size_t searched = 0;
    json_t *ev;

    va_start(ap, timeout_ms);
    collect_pairs(&p, ap);
    va_end(ap);
    for (;;) {
        ev = search(a, &p, searched);
        if (ev)
            return ev;
        searched = json_array_size(a->events);
        if (now_ms() >= deadline || a->eof)
            return NULL;
        pump(a, 100, NULL, NULL);
    }
}

static void settle(struct agentproc *a, int settle_ms)
{
    long long deadline = now_ms() + settle_ms;
    while (now_ms() < deadline && !a->eof)
        pump(a, 50, NULL, NULL);
}

json_t *agentproc_find(struct agentproc *a, int settle_ms, ...)
{
    struct pairs p;
    va_list ap;

    va_start(ap, settle_ms);
    collect_pairs(&p, ap);
    va_end(ap);
    settle(a, settle_ms);
    return search(a, &p, 0);
}

int agentproc_count(struct agentproc *a, int settle_ms, ...)
{
    struct pairs p;
    va_list ap;
    int n = 0;

    va_start(ap, settle_ms);
    collect_pairs(&p, ap);
    va_end(ap);
    settle(a, settle_ms);
    for (size_t i = 0; i < json_array_size(a->events); i++)
        if (matches(json_array_get(a->events, i), &p))
            n++;
    return n;
}

bool agentproc_stream(struct agentproc *a, bool (*fn)(json_t *ev, void *ctx), void *ctx, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    while (now_ms() < deadline && !a->eof)
        if (pump(a, 100, fn, ctx))
            return true;
    return false;
}

json_t *agentproc_status(struct agentproc *a)
{
    json_error_t jerr;
    return json_load_file(a->status_path, 0, &jerr);
}

bool agentproc_wait_drained(const char *status_path, int seconds, uint64_t *acked)
{
    for (int i = 0; i < seconds * 10; i++) {
        json_t *st = json_load_file(status_path, 0, NULL), *sp = json_object_get(st, "Spool");
        bool done = json_is_object(sp) && json_integer_value(json_object_get(sp, "PendingEvents")) == 0 &&
                    json_integer_value(json_object_get(sp, "AckedSeq")) + 1 ==
                        json_integer_value(json_object_get(sp, "NextSeq"));
        if (done && acked)
            *acked = (uint64_t)json_integer_value(json_object_get(sp, "AckedSeq"));
        json_decref(st);
        if (done)
            return true;
        usleep(100000);
    }
    return false;
}

bool agentproc_unique_id(pid_t pid, char *out, size_t outlen)
{
    char path[64], buf[1024], boot[64] = "";
    unsigned long long start = 0;
    FILE *f;
    char *p;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p)
        return false;
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return false;
    start = strtoull(p, NULL, 10);
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f || !fgets(boot, sizeof(boot), f)) {
        if (f)
            fclose(f);
        return false;
    }
    fclose(f);
    snprintf(out, outlen, "%.8s-%d-%llu", boot, (int)pid, start);
    return true;
}
