/*
 * commands.c — the command thread, the table of command types and the
 * journal of command ids (see commands.h).
 *
 * The journal is a text file of lines "<id> started" and "<id> done",
 * appended and synced before a command runs (so a crash never runs it
 * twice) and after its result was accepted. It is compacted to the newest
 * JOURNAL_KEEP ids when it passes JOURNAL_MAX_LINES lines (ids grow, so
 * the newest are the ones the server may still send).
 *
 * Threads: the command thread polls and runs short commands itself; a
 * long command (a `true` in the table) goes to a queue that LONG_WORKERS
 * worker threads take from. The command thread remembers which ids are
 * queued or running on a worker, so a command the server hands out again
 * meanwhile is neither run twice nor answered "not run again". Whoever runs
 * a command marks it started in the journal before, and done after its
 * result was accepted; the journal is shared under jmu. Each thread has its
 * own curl handle (channel_call is thread-safe with one handle per thread).
 *
 * Progress: before a command runs, its thread tells the server it started
 * (one short POST .../progress, whose answer also says whether the command
 * was cancelled meanwhile). While it runs, handlers hand reports to
 * command_progress(), which keeps the newest one per command for a sender
 * thread of its own; the sender posts them about once a second and
 * remembers which commands an answer said "cancel" for, which
 * command_cancelled() reads.
 *
 * Output: command_output() queues a running command's text in a ring of
 * COMMAND_OUTPUT_UNSENT bytes (struct command_stream, one per command,
 * made by execute); a sender thread of that command, started at its first
 * output, posts the ring's front as numbered chunks and frees the space
 * once the server took them. execute waits for the ring to empty (or the
 * server to refuse it, or the agent to stop) before the result is posted,
 * so the server has all the text when the command ends.
 *
 * Stopping: commands_stop makes every command count as cancelled, stops
 * the channel, drops the queue (never started: runs after a restart) and
 * joins the workers for at most STOP_JOIN_S seconds. A worker still in its
 * handler then is detached; it no longer touches the channel (chan_enter
 * refuses), and the struct is left to the ending process.
 */
#include "agent/commands.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agentconf.h"
#include "agent/channel.h"
#include "agent/collect.h"
#include "agent/isolation.h"
#include "agent/killproc.h"
#include "agent/live.h"
#include "agent/quarantine.h"
#include "agent/remediate.h"
#include "agent/scan_command.h"
#include "agent/uploader.h"
#include "common/log.h"

#define JOURNAL_MAX_LINES 4096
#define JOURNAL_KEEP 1024
#define JOURNAL_MAX_BYTES (1u << 20)
#define POLL_WAIT_S 30
#define MAX_COMMANDS 100
#define MAX_TYPE_LEN 64
#define MAX_ERROR_LEN 4000
#define MAX_PROGRESS_BYTES 4096
#define PROGRESS_INTERVAL_MS 1000
#define PROGRESS_TIMEOUT_S 10
#define LONG_WORKERS COMMANDS_LONG_WORKERS /* long commands running at once */
#define LONG_QUEUE_MAX 32  /* long commands waiting for a worker */
#define PROGRESS_SLOTS (LONG_WORKERS + 1) /* commands running at once: the workers' and the command thread's */
#define CANCEL_KEEP 16     /* cancel requests remembered */
#define STOP_JOIN_S 20     /* how long commands_stop waits for the workers */
#define OUTPUT_TIMEOUT_S 60 /* one output request */

/* ------------------------------------------------------------ command types */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ping: the agent's version and clock, to test the channel. */
static int run_ping(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    (void)cmd;
    (void)err;
    (void)errlen;
    jsonw_object_begin(out);
    jsonw_kv_str(out, "agent_version", YAMORI_VERSION);
    jsonw_kv_time(out, "time", now_ns());
    jsonw_object_end(out);
    return 0;
}

/* Every command type this agent runs. A new type: a handler and a line;
 * `true` in the third column runs it on a worker (a long command). */
static const struct command_handler handlers[] = {
    {"ping", run_ping},
    {"isolate", isolation_command_isolate},
    {"release", isolation_command_release},
    {"kill_process", killproc_command},
    {"quarantine_file", quarantine_cmd_file},
    {"restore_file", quarantine_cmd_restore},
    {"quarantine_list", quarantine_cmd_list},
    {"remove_persistence", remediate_cmd_remove},
    {"restore_persistence", remediate_cmd_restore},
    {"scan", scan_command_run, true},
    {"collect", collect_command, true},
    {"live", live_command, true},
    {NULL, NULL, false},
};

const struct command_handler *commands_handler(const char *type)
{
    for (const struct command_handler *h = handlers; type && h->type; h++)
        if (strcmp(h->type, type) == 0)
            return h;
    return NULL;
}

void commands_execute(const struct command *cmd, struct jsonw *result)
{
    const struct command_handler *h = commands_handler(cmd->type);
    struct jsonw out;
    char err[MAX_ERROR_LEN + 1] = "";
    int e;

    jsonw_init(&out);
    if (!h) {
        snprintf(err, sizeof(err), "command type '%.64s' is not supported by this agent version (%s)", cmd->type,
                 YAMORI_VERSION);
        e = -ENOTSUP;
    } else {
        e = h->run(cmd, &out, err, sizeof(err));
        if (!e && (jsonw_failed(&out) || !out.len)) {
            snprintf(err, sizeof(err), "the command's output could not be built");
            e = -ENOMEM;
        }
        if (e && !err[0])
            snprintf(err, sizeof(err), "%s", strerror(-e));
    }
    jsonw_object_begin(result);
    jsonw_kv_str(result, "status", e ? "failed" : "succeeded");
    jsonw_key(result, "output");
    if (e)
        jsonw_null(result);
    else
        jsonw_raw(result, out.buf, out.len);
    jsonw_key(result, "error");
    if (e)
        jsonw_str(result, err);
    else
        jsonw_null(result);
    jsonw_object_end(result);
    jsonw_free(&out);
}

/* ------------------------------------------------------------ the journal */

struct journal_entry {
    int64_t id;
    enum command_state st;
};

struct command_journal {
    char *path;
    int fd;
    struct journal_entry *v; /* sorted by id */
    size_t n, cap;
    size_t lines;
};

static ssize_t find(const struct command_journal *j, int64_t id)
{
    size_t lo = 0, hi = j->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (j->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < j->n && j->v[lo].id == id ? (ssize_t)lo : -(ssize_t)lo - 1;
}

static int set_state(struct command_journal *j, int64_t id, enum command_state st)
{
    ssize_t i = find(j, id);

    if (i >= 0) {
        if (st > j->v[i].st)
            j->v[i].st = st;
        return 0;
    }
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 64;
        struct journal_entry *nv = realloc(j->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        j->v = nv;
        j->cap = cap;
    }
    i = -i - 1;
    memmove(&j->v[i + 1], &j->v[i], (j->n - (size_t)i) * sizeof(j->v[0]));
    j->v[i] = (struct journal_entry){id, st};
    j->n++;
    return 0;
}

enum command_state command_journal_state(const struct command_journal *j, int64_t id)
{
    ssize_t i = find(j, id);
    return i >= 0 ? j->v[i].st : COMMAND_NEW;
}

/* Rewrites the file with the newest JOURNAL_KEEP ids. */
static int compact(struct command_journal *j)
{
    size_t from = j->n > JOURNAL_KEEP ? j->n - JOURNAL_KEEP : 0, len = 0;
    char *buf = malloc((j->n - from) * 40 + 1), tmp[1100];
    int fd, e = 0;

    if (!buf)
        return -ENOMEM;
    for (size_t i = from; i < j->n; i++)
        len += (size_t)sprintf(buf + len, "%" PRId64 " %s\n", j->v[i].id,
                               j->v[i].st == COMMAND_DONE ? "done" : "started");
    snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        e = -errno;
        goto out;
    }
    if (write(fd, buf, len) != (ssize_t)len || fsync(fd) != 0)
        e = -EIO;
    close(fd);
    if (!e && rename(tmp, j->path) != 0)
        e = -errno;
    if (e) {
        unlink(tmp);
        goto out;
    }
    memmove(j->v, j->v + from, (j->n - from) * sizeof(j->v[0]));
    j->n -= from;
    j->lines = j->n;
    close(j->fd);
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (j->fd < 0)
        e = -errno;
out:
    free(buf);
    return e;
}

int command_journal_mark(struct command_journal *j, int64_t id, enum command_state st)
{
    char line[64];
    int n, e;

    e = set_state(j, id, st);
    if (e)
        return e;
    n = snprintf(line, sizeof(line), "%" PRId64 " %s\n", id, st == COMMAND_DONE ? "done" : "started");
    if (j->fd < 0)
        return -EBADF;
    if (write(j->fd, line, (size_t)n) != n || fdatasync(j->fd) != 0)
        return -EIO;
    if (++j->lines > JOURNAL_MAX_LINES)
        return compact(j);
    return 0;
}

int command_journal_open(struct command_journal **out, const char *path, char *err, size_t errlen)
{
    struct command_journal *j = calloc(1, sizeof(*j));
    char *text = NULL;
    struct stat st;
    ssize_t got = 0;
    int fd = -1, e = 0;

    *out = NULL;
    if (!j || !(j->path = strdup(path))) {
        free(j);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    j->fd = -1;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > JOURNAL_MAX_BYTES) {
            snprintf(err, errlen, "%s is not a command journal (a regular file under 1 MiB)", path);
            e = -EINVAL;
            goto fail;
        }
        text = malloc((size_t)st.st_size + 1);
        if (!text) {
            e = -ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        while (got < st.st_size) {
            ssize_t r = read(fd, text + got, (size_t)(st.st_size - got));
            if (r <= 0)
                break;
            got += r;
        }
        text[got] = '\0';
        for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            char *end;
            long long id;
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            else
                break; /* a torn last line: the command it was about was not run yet */
            j->lines++;
            errno = 0;
            id = strtoll(line, &end, 10);
            if (errno || id <= 0 || end == line || *end != ' ')
                continue;
            if (strcmp(end + 1, "started") == 0)
                e = set_state(j, id, COMMAND_STARTED);
            else if (strcmp(end + 1, "done") == 0)
                e = set_state(j, id, COMMAND_DONE);
            if (e) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
        }
        close(fd);
        fd = -1;
    }
    j->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (j->fd < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot open the command journal %s: %s", path, strerror(errno));
        goto fail;
    }
    /* a torn last line would glue onto the next one: start clean */
    if (got > 0 && text[got - 1] != '\n' && text[got - 1] != '\0' && compact(j) != 0) {
        e = -EIO;
        snprintf(err, errlen, "cannot rewrite the command journal %s", path);
        goto fail;
    }
    free(text);
    *out = j;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    free(text);
    command_journal_free(j);
    return e;
}

void command_journal_free(struct command_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->v);
    free(j->path);
    free(j);
}

/* ------------------------------------------------------------ the thread */

/* A long command waiting for (or running on) a worker. */
struct long_job {
    int64_t id;
    char *type;
    json_t *args; /* a reference of its own */
    struct long_job *next;
};

/* The newest unsent progress report of one running command. */
struct progress_slot {
    int64_t id;
    char *text; /* JSON object text, owned; NULL: the slot is free */
};

struct commands {
    struct channel *c;
    pthread_t thread;
    void *curl;    /* the command thread's handle */
    uint64_t rng;  /* the command thread's backoff */
    bool stopping; /* commands_stop began (atomic): every command counts as cancelled */
    /* the journal, shared by the command thread and the workers */
    pthread_mutex_t jmu;
    struct command_journal *journal;
    /* long commands, under wmu */
    pthread_mutex_t wmu;
    pthread_cond_t wcond;
    struct long_job *queue, *queue_tail; /* waiting for a worker, oldest first */
    size_t queued;
    int64_t inflight[LONG_QUEUE_MAX + LONG_WORKERS]; /* ids queued or running on a worker */
    size_t ninflight;
    pthread_t workers[LONG_WORKERS];
    size_t nworkers;
    bool wstop;     /* the workers take no new job */
    bool abandoned; /* commands_stop gave up waiting: workers no longer touch the channel */
    unsigned chan_users; /* workers inside a channel request */
    /* progress, under pmu */
    pthread_t sender;
    bool sender_started;
    pthread_mutex_t pmu;
    pthread_cond_t pcond;
    struct progress_slot pending[PROGRESS_SLOTS];
    bool pstop;
    void *pcurl; /* the sender's handle */
    int64_t cancelled[CANCEL_KEEP]; /* the newest commands the server asked to stop */
    size_t ncancelled;              /* how many were ever recorded (ring index) */
    struct {
        int64_t id;
        atomic_int *flag; /* the running command's cancel flag; NULL: a free entry */
    } running[PROGRESS_SLOTS];
};

/* The streamed output of one running command (see command_output). */
struct command_stream {
    struct commands *cm;
    int64_t id;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char *ring;        /* COMMAND_OUTPUT_UNSENT bytes, allocated at the first output */
    size_t head, len;  /* the unsent bytes: ring[head..head+len) modulo its size */
    uint64_t seq;      /* of the chunk at head */
    pthread_t sender;
    bool started;      /* the sender thread runs */
    bool finish;       /* the command ended: send what is left, then stop */
    int error;         /* the sender gave up: -EPIPE (refused) or -ECANCELED (stopping) */
};

static void stream_init(struct command_stream *st, struct commands *cm, int64_t id);
static void stream_finish(struct command_stream *st);
static bool chan_enter(struct commands *cm);
static void chan_leave(struct commands *cm);

/* ------------------------------------------------------------ progress */

static void note_cancel(struct commands *cm, int64_t id)
{
    pthread_mutex_lock(&cm->pmu);
    cm->cancelled[cm->ncancelled++ % CANCEL_KEEP] = id;
    for (size_t i = 0; i < PROGRESS_SLOTS; i++)
        if (cm->running[i].flag && cm->running[i].id == id)
            atomic_store(cm->running[i].flag, 1);
    pthread_mutex_unlock(&cm->pmu);
}

/* Makes every running command's cancel flag true (the agent stops). */
static void cancel_all(struct commands *cm)
{
    pthread_mutex_lock(&cm->pmu);
    for (size_t i = 0; i < PROGRESS_SLOTS; i++)
        if (cm->running[i].flag)
            atomic_store(cm->running[i].flag, 1);
    pthread_mutex_unlock(&cm->pmu);
}

/* Registers (flag) or forgets (NULL) the cancel flag of running command id. */
static void track_running(struct commands *cm, int64_t id, atomic_int *flag)
{
    bool done = false;

    pthread_mutex_lock(&cm->pmu);
    for (size_t i = 0; i < PROGRESS_SLOTS && !done; i++) {
        if (flag && !cm->running[i].flag) {
            cm->running[i].id = id;
            cm->running[i].flag = flag;
            done = true;
        } else if (!flag && cm->running[i].flag && cm->running[i].id == id) {
            cm->running[i].flag = NULL;
            done = true;
        }
    }
    pthread_mutex_unlock(&cm->pmu);
}

/* Posts one progress report of command id with *handle; returns whether
 * the answer asks to cancel it. Best effort: failures are only logged at
 * debug level. */
static bool post_progress(struct commands *cm, void **handle, int64_t id, const char *text)
{
    struct https_reply rp;
    char path[96];
    json_t *root = NULL;
    bool cancel = false;
    int e;

    snprintf(path, sizeof(path), "/api/v1/agent/commands/%" PRId64 "/progress", id);
    e = channel_call(cm->c, handle, "POST", path, "application/json", text, strlen(text), PROGRESS_TIMEOUT_S, &rp);
    if (!e && rp.status == 200 && rp.body)
        root = json_loadb(rp.body, rp.len, 0, NULL);
    else
        log_debug("progress of command %" PRId64 " not delivered (%ld: %s)", id, rp.status, rp.error);
    cancel = json_is_true(json_object_get(root, "cancel"));
    if (cancel)
        note_cancel(cm, id);
    json_decref(root);
    https_reply_free(&rp);
    return cancel;
}

static void *progress_sender(void *arg)
{
    struct commands *cm = arg;

    for (;;) {
        struct progress_slot out[PROGRESS_SLOTS];
        size_t n = 0;

        pthread_mutex_lock(&cm->pmu);
        for (;;) {
            for (size_t i = 0; i < PROGRESS_SLOTS; i++)
                if (cm->pending[i].text) {
                    out[n++] = cm->pending[i];
                    cm->pending[i] = (struct progress_slot){0, NULL};
                }
            if (n || cm->pstop)
                break;
            pthread_cond_wait(&cm->pcond, &cm->pmu);
        }
        pthread_mutex_unlock(&cm->pmu);
        for (size_t i = 0; i < n; i++) {
            if (!__atomic_load_n(&cm->pstop, __ATOMIC_ACQUIRE))
                post_progress(cm, &cm->pcurl, out[i].id, out[i].text);
            free(out[i].text);
        }
        if (__atomic_load_n(&cm->pstop, __ATOMIC_ACQUIRE) || !channel_sleep(cm->c, PROGRESS_INTERVAL_MS))
            break;
    }
    return NULL;
}

void command_progress(const struct command *cmd, const char *json_object_text)
{
    struct commands *cm = cmd ? cmd->owner : NULL;
    size_t len = json_object_text ? strlen(json_object_text) : 0;
    struct progress_slot *slot = NULL;
    json_t *obj;
    char *copy;

    if (!cm)
        return;
    obj = len && len <= MAX_PROGRESS_BYTES ? json_loadb(json_object_text, len, 0, NULL) : NULL;
    if (!json_is_object(obj)) {
        log_warn("command %" PRId64 " (%s): a progress report must be a JSON object of at most %d bytes; dropped",
                 cmd->id, cmd->type, MAX_PROGRESS_BYTES);
        json_decref(obj);
        return;
    }
    json_decref(obj);
    copy = strdup(json_object_text);
    if (!copy)
        return;
    pthread_mutex_lock(&cm->pmu);
    /* only the newest report of each command matters; at most
     * PROGRESS_SLOTS commands run at once, so a slot is always free */
    for (size_t i = 0; i < PROGRESS_SLOTS && !slot; i++)
        if (cm->pending[i].text && cm->pending[i].id == cmd->id)
            slot = &cm->pending[i];
    for (size_t i = 0; i < PROGRESS_SLOTS && !slot; i++)
        if (!cm->pending[i].text)
            slot = &cm->pending[i];
    if (slot) {
        free(slot->text);
        *slot = (struct progress_slot){cmd->id, copy};
        copy = NULL;
        pthread_cond_signal(&cm->pcond);
    }
    pthread_mutex_unlock(&cm->pmu);
    free(copy);
}

/* Drops the unsent report of a command that ended (its result says more). */
static void drop_progress(struct commands *cm, int64_t id)
{
    pthread_mutex_lock(&cm->pmu);
    for (size_t i = 0; i < PROGRESS_SLOTS; i++)
        if (cm->pending[i].text && cm->pending[i].id == id) {
            free(cm->pending[i].text);
            cm->pending[i] = (struct progress_slot){0, NULL};
        }
    pthread_mutex_unlock(&cm->pmu);
}

bool command_cancelled(const struct command *cmd)
{
    struct commands *cm = cmd ? cmd->owner : NULL;
    bool yes = false;

    if (cmd && cmd->cancel && atomic_load(cmd->cancel))
        return true;
    if (!cm)
        return false;
    if (__atomic_load_n(&cm->stopping, __ATOMIC_ACQUIRE))
        return true;
    pthread_mutex_lock(&cm->pmu);
    for (size_t i = 0; i < CANCEL_KEEP && i < cm->ncancelled && !yes; i++)
        yes = cm->cancelled[i] == cmd->id;
    pthread_mutex_unlock(&cm->pmu);
    return yes;
}

/* ------------------------------------------------------------ the command thread */

static void note_run(struct channel_status *st, void *ctx)
{
    (void)ctx;
    st->commands_run++;
}

static bool valid_type(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > MAX_TYPE_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr("_-.", *p))
            return false;
    return true;
}

static enum command_state journal_state(struct commands *cm, int64_t id)
{
    enum command_state st;
    pthread_mutex_lock(&cm->jmu);
    st = command_journal_state(cm->journal, id);
    pthread_mutex_unlock(&cm->jmu);
    return st;
}

static int journal_mark(struct commands *cm, int64_t id, enum command_state st)
{
    int e;
    pthread_mutex_lock(&cm->jmu);
    e = command_journal_mark(cm->journal, id, st);
    pthread_mutex_unlock(&cm->jmu);
    return e;
}

/* Posts a result with *handle until the server takes it (or refuses it for
 * good). Returns true when done with the command. */
static bool post_result(struct commands *cm, void **handle, uint64_t *rng, int64_t id, const struct jsonw *body)
{
    char path[96];
    unsigned attempt = 0;

    snprintf(path, sizeof(path), "/api/v1/agent/commands/%" PRId64 "/result", id);
    while (!channel_stopping(cm->c)) {
        struct https_reply rp;
        int e = channel_call(cm->c, handle, "POST", path, "application/json", body->buf, body->len, 60, &rp);
        long status = rp.status;

        if (channel_stopping(cm->c)) {
            https_reply_free(&rp);
            break;
        }
        channel_note(cm->c, CHAN_RESULT, e, &rp);
        if (!e && status >= 200 && status < 300) {
            https_reply_free(&rp);
            return true;
        }
        if (!e && status >= 400 && status < 500 && status != 408 && status != 429 && status != 401 &&
            status != 403) {
            log_warn("the server refused the result of command %" PRId64 " (%ld: %s); giving up on it", id, status,
                     rp.error);
            https_reply_free(&rp);
            return true;
        }
        https_reply_free(&rp);
        channel_sleep(cm->c, uploader_backoff_ms(attempt < 10 ? attempt : 10, 1000, 60000, rng));
        attempt++;
    }
    return false;
}

static void failed_result(struct jsonw *result, const char *error)
{
    jsonw_object_begin(result);
    jsonw_kv_str(result, "status", "failed");
    jsonw_key(result, "output");
    jsonw_null(result);
    jsonw_kv_str(result, "error", error);
    jsonw_object_end(result);
}

/* Tells the server command id started (with *handle). Returns true when
 * its answer says the command was cancelled meanwhile: result then holds
 * the failed result and the command must not run. */
static bool announce(struct commands *cm, void **handle, int64_t id, const char *type, struct jsonw *result)
{
    if (!post_progress(cm, handle, id, "{\"message\":\"started\"}"))
        return false;
    log_info("command %" PRId64 " (%s) was cancelled before it started", id, type);
    failed_result(result, "cancelled before it started");
    return true;
}

/* Runs command id through the table; the result body goes into result.
 * Its streamed output, if any, is all sent (or given up) on return. */
static void execute(struct commands *cm, int64_t id, const char *type, json_t *args, struct jsonw *result)
{
    atomic_int flag = 0;
    struct command_stream stream;
    struct command cmd = {.id = id, .type = type, .args = args, .owner = cm, .cancel = &flag, .stream = &stream};

    stream_init(&stream, cm, id);
    track_running(cm, id, &flag);
    if (command_cancelled(&cmd)) /* a stop that began before it was tracked */
        atomic_store(&flag, 1);
    log_info("running command %" PRId64 " (%s)", id, type);
    commands_execute(&cmd, result);
    stream_finish(&stream);
    track_running(cm, id, NULL);
    drop_progress(cm, id);
}

/* Posts the result of command id and, once the server has it, records it
 * as answered. */
static void answer(struct commands *cm, void **handle, uint64_t *rng, int64_t id, const struct jsonw *result)
{
    if (!jsonw_failed(result) && post_result(cm, handle, rng, id, result)) {
        if (journal_mark(cm, id, COMMAND_DONE) != 0)
            log_warn("cannot record command %" PRId64 " as answered", id);
    }
}

/* ------------------------------------------------------------ long commands */

static bool inflight_has(struct commands *cm, int64_t id)
{
    bool yes = false;
    pthread_mutex_lock(&cm->wmu);
    for (size_t i = 0; i < cm->ninflight && !yes; i++)
        yes = cm->inflight[i] == id;
    pthread_mutex_unlock(&cm->wmu);
    return yes;
}

static void job_free(struct long_job *job)
{
    if (!job)
        return;
    json_decref(job->args);
    free(job->type);
    free(job);
}

/* Queues a long command for the workers; false when the queue is full or
 * memory ran out (the server hands the command out again later). */
static bool enqueue(struct commands *cm, int64_t id, const char *type, json_t *args)
{
    struct long_job *job = calloc(1, sizeof(*job));
    bool ok = false;

    if (!job || !(job->type = strdup(type)))
        goto out;
    job->id = id;
    job->args = json_incref(args);
    pthread_mutex_lock(&cm->wmu);
    if (cm->queued < LONG_QUEUE_MAX && cm->ninflight < LONG_QUEUE_MAX + LONG_WORKERS && !cm->wstop) {
        if (cm->queue_tail)
            cm->queue_tail->next = job;
        else
            cm->queue = job;
        cm->queue_tail = job;
        cm->queued++;
        cm->inflight[cm->ninflight++] = id;
        pthread_cond_signal(&cm->wcond);
        ok = true;
        job = NULL;
    }
    pthread_mutex_unlock(&cm->wmu);
out:
    job_free(job);
    return ok;
}

/* A worker enters the channel only while commands_stop has not given up
 * on it (after that, the channel may be freed). */
static bool chan_enter(struct commands *cm)
{
    bool ok;
    pthread_mutex_lock(&cm->wmu);
    ok = !cm->abandoned;
    if (ok)
        cm->chan_users++;
    pthread_mutex_unlock(&cm->wmu);
    return ok;
}

static void chan_leave(struct commands *cm)
{
    pthread_mutex_lock(&cm->wmu);
    cm->chan_users--;
    pthread_cond_broadcast(&cm->wcond);
    pthread_mutex_unlock(&cm->wmu);
}

/* Runs one long command on a worker: journal, "started", the handler, the
 * result, the journal again. */
static void run_job(struct commands *cm, void **handle, uint64_t *rng, struct long_job *job)
{
    struct jsonw result;
    bool cancelled;

    jsonw_init(&result);
    if (journal_mark(cm, job->id, COMMAND_STARTED) != 0) {
        log_warn("cannot record command %" PRId64 " in the journal; not running it now", job->id);
        goto out;
    }
    if (!chan_enter(cm))
        goto out;
    cancelled = announce(cm, handle, job->id, job->type, &result);
    chan_leave(cm);
    if (!cancelled)
        execute(cm, job->id, job->type, job->args, &result);
    if (!chan_enter(cm))
        goto out; /* abandoned while the handler ran: not answered, not run again */
    channel_update(cm->c, note_run, NULL);
    answer(cm, handle, rng, job->id, &result);
    chan_leave(cm);
out:
    jsonw_free(&result);
}

static void *worker(void *arg)
{
    struct commands *cm = arg;
    void *curl = NULL;
    uint64_t rng = cm->rng ^ (uint64_t)(uintptr_t)&curl;

    for (;;) {
        struct long_job *job;

        pthread_mutex_lock(&cm->wmu);
        while (!cm->queue && !cm->wstop)
            pthread_cond_wait(&cm->wcond, &cm->wmu);
        if (cm->wstop) {
            pthread_mutex_unlock(&cm->wmu);
            break;
        }
        job = cm->queue;
        cm->queue = job->next;
        if (!cm->queue)
            cm->queue_tail = NULL;
        cm->queued--;
        pthread_mutex_unlock(&cm->wmu);

        run_job(cm, &curl, &rng, job);

        pthread_mutex_lock(&cm->wmu);
        for (size_t i = 0; i < cm->ninflight; i++)
            if (cm->inflight[i] == job->id) {
                cm->inflight[i] = cm->inflight[--cm->ninflight];
                break;
            }
        pthread_mutex_unlock(&cm->wmu);
        job_free(job);
    }
    https_handle_free(curl);
    return NULL;
}

/* ------------------------------------------------------------ streamed output */

static void stream_init(struct command_stream *st, struct commands *cm, int64_t id)
{
    memset(st, 0, sizeof(*st));
    st->cm = cm;
    st->id = id;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cond, NULL);
}

/* Posts one chunk until the server takes it. Returns 0, -EPIPE when the
 * server refused it for good, -ECANCELED when the agent stops. */
static int post_output(struct command_stream *st, void **handle, uint64_t *rng, const char *chunk, size_t n)
{
    struct commands *cm = st->cm;
    unsigned attempt = 0;
    char path[128];

    snprintf(path, sizeof(path), "/api/v1/agent/commands/%" PRId64 "/output?seq=%" PRIu64, st->id, st->seq);
    for (;;) {
        struct https_reply rp;
        long status;
        int e;

        if (channel_stopping(cm->c) || !chan_enter(cm))
            return -ECANCELED;
        e = channel_call(cm->c, handle, "POST", path, "application/octet-stream", n ? chunk : "", n,
                         OUTPUT_TIMEOUT_S, &rp);
        chan_leave(cm);
        status = rp.status;
        if (!e && status >= 200 && status < 300) {
            json_t *root = rp.body ? json_loadb(rp.body, rp.len, 0, NULL) : NULL;
            if (json_is_true(json_object_get(root, "cancel")))
                note_cancel(cm, st->id);
            json_decref(root);
            https_reply_free(&rp);
            return 0;
        }
        if (!e && status >= 400 && status < 500 && status != 408 && status != 429 && status != 401 &&
            status != 403) {
            log_warn("the server refused the output of command %" PRId64 " (%ld: %s); the rest is not sent",
                     st->id, status, rp.error);
            https_reply_free(&rp);
            return -EPIPE;
        }
        log_debug("output of command %" PRId64 " not delivered (%ld: %s); trying again", st->id, status, rp.error);
        https_reply_free(&rp);
        if (!channel_sleep(cm->c, uploader_backoff_ms(attempt < 10 ? attempt : 10, 500, 30000, rng)))
            return -ECANCELED;
        attempt++;
    }
}

static void *stream_sender(void *arg)
{
    struct command_stream *st = arg;
    uint64_t rng = st->cm->rng ^ (uint64_t)st->id;
    void *curl = NULL;
    char *chunk = malloc(COMMAND_OUTPUT_CHUNK);

    pthread_mutex_lock(&st->mu);
    if (!chunk)
        st->error = -ENOMEM;
    while (!st->error) {
        size_t n, first;
        int e;

        while (!st->len && !st->finish)
            pthread_cond_wait(&st->cond, &st->mu);
        if (!st->len)
            break; /* finished, all sent */
        /* a chunk, once tried, is sent again exactly as it was */
        n = st->len < COMMAND_OUTPUT_CHUNK ? st->len : COMMAND_OUTPUT_CHUNK;
        first = COMMAND_OUTPUT_UNSENT - st->head < n ? COMMAND_OUTPUT_UNSENT - st->head : n;
        memcpy(chunk, st->ring + st->head, first);
        memcpy(chunk + first, st->ring, n - first);
        pthread_mutex_unlock(&st->mu);
        e = post_output(st, &curl, &rng, chunk, n);
        pthread_mutex_lock(&st->mu);
        if (e) {
            st->error = e;
        } else {
            st->head = (st->head + n) % COMMAND_OUTPUT_UNSENT;
            st->len -= n;
            st->seq++;
        }
        pthread_cond_broadcast(&st->cond);
    }
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->mu);
    free(chunk);
    https_handle_free(curl);
    return NULL;
}

int command_output(const struct command *cmd, const void *data, size_t len)
{
    struct command_stream *st = cmd ? cmd->stream : NULL;
    const char *p = data;
    int e = 0;

    if (!cmd)
        return -EINVAL;
    if (command_cancelled(cmd))
        return -ECANCELED;
    if (!st || !cmd->owner || !len)
        return 0;
    pthread_mutex_lock(&st->mu);
    if (!st->ring && !st->error) {
        st->ring = malloc(COMMAND_OUTPUT_UNSENT);
        if (!st->ring)
            st->error = -ENOMEM;
    }
    if (!st->started && !st->error) {
        int r = pthread_create(&st->sender, NULL, stream_sender, st);
        if (r)
            st->error = -r;
        st->started = r == 0;
    }
    while (len && !e) {
        size_t n, at, first;

        while (st->len >= COMMAND_OUTPUT_UNSENT && !st->error && !command_cancelled(cmd)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200000000L; /* a cancel is noticed within 0.2 s */
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&st->cond, &st->mu, &ts);
        }
        if (st->error) {
            e = st->error;
            break;
        }
        if (command_cancelled(cmd)) {
            e = -ECANCELED;
            break;
        }
        n = COMMAND_OUTPUT_UNSENT - st->len < len ? COMMAND_OUTPUT_UNSENT - st->len : len;
        at = (st->head + st->len) % COMMAND_OUTPUT_UNSENT;
        first = COMMAND_OUTPUT_UNSENT - at < n ? COMMAND_OUTPUT_UNSENT - at : n;
        memcpy(st->ring + at, p, first);
        memcpy(st->ring, p + first, n - first);
        st->len += n;
        p += n;
        len -= n;
        pthread_cond_broadcast(&st->cond);
    }
    pthread_mutex_unlock(&st->mu);
    if (!e && command_cancelled(cmd))
        e = -ECANCELED; /* an answer of the sender said so */
    return e;
}

/* The command ended: waits until its output is all sent (or the server
 * refused it, or the agent stops), then frees the stream. */
static void stream_finish(struct command_stream *st)
{
    pthread_mutex_lock(&st->mu);
    st->finish = true;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->mu);
    if (st->started)
        pthread_join(st->sender, NULL);
    if (st->len)
        log_warn("command %" PRId64 ": %zu bytes of its output were not sent", st->id, st->len);
    free(st->ring);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cond);
}

/* ------------------------------------------------------------ polling */

static void handle(struct commands *cm, json_t *item)
{
    json_t *jid = json_object_get(item, "id"), *jtype = json_object_get(item, "type");
    json_t *jargs = json_object_get(item, "args"), *empty = NULL;
    const struct command_handler *h;
    struct jsonw result;
    enum command_state st;
    int64_t id;

    if (!json_is_integer(jid) || json_integer_value(jid) <= 0) {
        log_warn("the server sent a command without a valid id; ignored");
        return;
    }
    id = json_integer_value(jid);
    if (inflight_has(cm, id))
        return; /* queued or running on a worker: the server handed it out again */
    st = journal_state(cm, id);
    if (st == COMMAND_DONE)
        return; /* answered already */
    jsonw_init(&result);
    if (st == COMMAND_STARTED) {
        failed_result(&result,
                      "the agent stopped while this command ran, before its result was sent; it is not run again");
    } else if (!json_is_string(jtype) || !valid_type(json_string_value(jtype)) ||
               (jargs && !json_is_null(jargs) && !json_is_object(jargs))) {
        failed_result(&result, "malformed command: type must be a short lower-case name and args an object");
        if (journal_mark(cm, id, COMMAND_STARTED) != 0)
            log_warn("cannot record command %" PRId64 " in the journal", id);
    } else {
        if (!jargs || json_is_null(jargs))
            jargs = empty = json_object();
        h = commands_handler(json_string_value(jtype));
        if (h && h->long_running) {
            if (!enqueue(cm, id, json_string_value(jtype), jargs))
                log_warn("too many long commands waiting; command %" PRId64 " (%s) waits for the server to send it "
                         "again", id, json_string_value(jtype));
            goto out;
        }
        /* durable before it runs: never twice */
        if (journal_mark(cm, id, COMMAND_STARTED) != 0) {
            log_warn("cannot record command %" PRId64 " in the journal; not running it now", id);
            channel_sleep(cm->c, 5000);
            goto out;
        }
        if (!announce(cm, &cm->curl, id, json_string_value(jtype), &result))
            execute(cm, id, json_string_value(jtype), jargs, &result);
        channel_update(cm->c, note_run, NULL);
    }
    answer(cm, &cm->curl, &cm->rng, id, &result);
out:
    json_decref(empty);
    jsonw_free(&result);
}

static void *run(void *arg)
{
    struct commands *cm = arg;
    unsigned attempt = 0;
    char path[64];

    /* the first poll that reaches the server says this agent just started
     * (docs/wire.md, "Commands"): commands handed to a poll of the previous
     * run that never started are handed out again at once */
    snprintf(path, sizeof(path), "/api/v1/agent/commands?wait=%d&started=1", POLL_WAIT_S);
    while (!channel_stopping(cm->c)) {
        struct https_reply rp;
        json_t *root = NULL, *list;
        int e = channel_call(cm->c, &cm->curl, "GET", path, NULL, NULL, 0, POLL_WAIT_S + 30, &rp);

        if (!e && rp.status == 200)
            snprintf(path, sizeof(path), "/api/v1/agent/commands?wait=%d", POLL_WAIT_S);

        if (channel_stopping(cm->c)) {
            https_reply_free(&rp);
            break;
        }
        channel_note(cm->c, CHAN_POLL, e, &rp);
        if (!e && rp.status == 200 && rp.body)
            root = json_loadb(rp.body, rp.len, 0, NULL);
        list = json_object_get(root, "commands");
        if (!json_is_array(list) || json_array_size(list) > MAX_COMMANDS) {
            if (!e && rp.status == 200)
                log_warn("the server's command list is malformed; polling again later");
            json_decref(root);
            https_reply_free(&rp);
            channel_sleep(cm->c, uploader_backoff_ms(attempt < 10 ? attempt : 10, 1000, 60000, &cm->rng));
            attempt++;
            continue;
        }
        attempt = 0;
        for (size_t i = 0; i < json_array_size(list) && !channel_stopping(cm->c); i++)
            if (json_is_object(json_array_get(list, i)))
                handle(cm, json_array_get(list, i));
        json_decref(root);
        https_reply_free(&rp);
    }
    return NULL;
}

/* ------------------------------------------------------------ start and stop */

/* Stops and joins the progress sender (when it runs) and drops what it
 * had not sent. */
static void stop_sender(struct commands *cm)
{
    pthread_mutex_lock(&cm->pmu);
    __atomic_store_n(&cm->pstop, true, __ATOMIC_RELEASE);
    pthread_cond_signal(&cm->pcond);
    pthread_mutex_unlock(&cm->pmu);
    if (cm->sender_started)
        pthread_join(cm->sender, NULL);
    cm->sender_started = false;
    pthread_mutex_lock(&cm->pmu);
    for (size_t i = 0; i < PROGRESS_SLOTS; i++) {
        free(cm->pending[i].text);
        cm->pending[i] = (struct progress_slot){0, NULL};
    }
    pthread_mutex_unlock(&cm->pmu);
    https_handle_free(cm->pcurl);
    cm->pcurl = NULL;
}

/* Tells the workers to stop, drops the jobs no worker took and joins the
 * workers, waiting at most STOP_JOIN_S seconds in all. Returns how many
 * did not end in time (they were detached and no longer touch the
 * channel). */
static size_t stop_workers(struct commands *cm)
{
    struct timespec deadline;
    struct long_job *job;
    size_t left = 0;

    pthread_mutex_lock(&cm->wmu);
    cm->wstop = true;
    pthread_cond_broadcast(&cm->wcond);
    while ((job = cm->queue)) {
        cm->queue = job->next;
        job_free(job); /* never started: the server hands it out again */
    }
    cm->queue_tail = NULL;
    cm->queued = 0;
    pthread_mutex_unlock(&cm->wmu);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += STOP_JOIN_S;
    for (size_t i = 0; i < cm->nworkers; i++) {
        if (pthread_timedjoin_np(cm->workers[i], NULL, &deadline) != 0) {
            pthread_detach(cm->workers[i]);
            left++;
        }
    }
    cm->nworkers = 0;
    if (left) {
        pthread_mutex_lock(&cm->wmu);
        cm->abandoned = true;
        while (cm->chan_users) /* channel requests end at once once the channel stops */
            pthread_cond_wait(&cm->wcond, &cm->wmu);
        pthread_mutex_unlock(&cm->wmu);
    }
    return left;
}

/* Frees cm once no thread uses it. */
static void commands_free(struct commands *cm)
{
    https_handle_free(cm->curl);
    command_journal_free(cm->journal);
    pthread_mutex_destroy(&cm->jmu);
    pthread_mutex_destroy(&cm->wmu);
    pthread_cond_destroy(&cm->wcond);
    pthread_mutex_destroy(&cm->pmu);
    pthread_cond_destroy(&cm->pcond);
    free(cm);
}

int commands_start(struct commands **out, struct channel *c, const char *state_dir, char *err, size_t errlen)
{
    struct commands *cm = calloc(1, sizeof(*cm));
    char path[1100];
    int e;

    *out = NULL;
    if (!cm) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    cm->c = c;
    pthread_mutex_init(&cm->jmu, NULL);
    pthread_mutex_init(&cm->wmu, NULL);
    pthread_cond_init(&cm->wcond, NULL);
    pthread_mutex_init(&cm->pmu, NULL);
    pthread_cond_init(&cm->pcond, NULL);
    if (getrandom(&cm->rng, sizeof(cm->rng), GRND_NONBLOCK) != (ssize_t)sizeof(cm->rng))
        cm->rng = (uint64_t)time(NULL);
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        e = -errno;
        snprintf(err, errlen, "cannot create the state directory %s: %s", state_dir, strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/commands.journal", state_dir);
    e = command_journal_open(&cm->journal, path, err, errlen);
    if (e)
        goto fail;
    e = -pthread_create(&cm->sender, NULL, progress_sender, cm);
    if (e) {
        snprintf(err, errlen, "cannot start the progress thread: %s", strerror(-e));
        goto fail;
    }
    cm->sender_started = true;
    for (size_t i = 0; i < LONG_WORKERS; i++) {
        e = -pthread_create(&cm->workers[i], NULL, worker, cm);
        if (e) {
            snprintf(err, errlen, "cannot start a command worker: %s", strerror(-e));
            goto fail;
        }
        cm->nworkers++;
    }
    e = -pthread_create(&cm->thread, NULL, run, cm);
    if (e) {
        snprintf(err, errlen, "cannot start the command thread: %s", strerror(-e));
        goto fail;
    }
    *out = cm;
    return 0;
fail:
    stop_workers(cm); /* idle workers: they end at once */
    stop_sender(cm);
    commands_free(cm);
    return e;
}

void commands_stop(struct commands *cm)
{
    size_t left;

    if (!cm)
        return;
    __atomic_store_n(&cm->stopping, true, __ATOMIC_RELEASE); /* long handlers see themselves cancelled */
    cancel_all(cm);
    channel_stop(cm->c);
    pthread_join(cm->thread, NULL);
    left = stop_workers(cm);
    stop_sender(cm);
    if (left) {
        /* they still run their handlers and use cm (never the channel
         * again); their commands are marked started and not answered, so
         * they are not run again. The process is ending: cm is left to it. */
        log_warn("%zu long command(s) did not stop within %d s; left to end with the agent", left, STOP_JOIN_S);
        return;
    }
    commands_free(cm);
}
