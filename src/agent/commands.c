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
 * Progress: before a command runs, the command thread tells the server it
 * started (one short POST .../progress, whose answer also says whether the
 * command was cancelled meanwhile). While it runs, handlers hand reports
 * to command_progress(), which keeps only the newest one for a sender
 * thread of its own; the sender posts at most one per second and remembers
 * when an answer says "cancel", which command_cancelled() reads.
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

/* Every command type this agent runs. A new type: a handler and a line. */
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
    {"scan", scan_command_run},
    {"collect", collect_command},
    {NULL, NULL},
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

struct commands {
    struct channel *c;
    struct command_journal *journal;
    pthread_t thread;
    void *curl;
    uint64_t rng;
    /* progress: the newest unsent report, under pmu */
    pthread_t sender;
    bool sender_started;
    pthread_mutex_t pmu;
    pthread_cond_t pcond;
    char *pending;        /* JSON object text, owned */
    int64_t pending_id;
    bool pstop;
    void *pcurl;          /* the sender's handle */
    int64_t cancel_id;    /* the command the server asked to stop (atomic) */
};

/* ------------------------------------------------------------ progress */

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
        __atomic_store_n(&cm->cancel_id, id, __ATOMIC_RELAXED);
    json_decref(root);
    https_reply_free(&rp);
    return cancel;
}

static void *progress_sender(void *arg)
{
    struct commands *cm = arg;

    for (;;) {
        char *text;
        int64_t id;

        pthread_mutex_lock(&cm->pmu);
        while (!cm->pending && !cm->pstop)
            pthread_cond_wait(&cm->pcond, &cm->pmu);
        if (cm->pstop) {
            pthread_mutex_unlock(&cm->pmu);
            break;
        }
        text = cm->pending;
        id = cm->pending_id;
        cm->pending = NULL;
        pthread_mutex_unlock(&cm->pmu);
        post_progress(cm, &cm->pcurl, id, text);
        free(text);
        if (!channel_sleep(cm->c, PROGRESS_INTERVAL_MS))
            break;
    }
    return NULL;
}

void command_progress(const struct command *cmd, const char *json_object_text)
{
    struct commands *cm = cmd ? cmd->owner : NULL;
    size_t len = json_object_text ? strlen(json_object_text) : 0;
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
    free(cm->pending); /* only the newest matters */
    cm->pending = copy;
    cm->pending_id = cmd->id;
    pthread_cond_signal(&cm->pcond);
    pthread_mutex_unlock(&cm->pmu);
}

bool command_cancelled(const struct command *cmd)
{
    return cmd && cmd->owner && __atomic_load_n(&cmd->owner->cancel_id, __ATOMIC_RELAXED) == cmd->id;
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

/* Posts a result until the server takes it (or refuses it for good).
 * Returns true when done with the command. */
static bool post_result(struct commands *cm, int64_t id, const struct jsonw *body)
{
    char path[96];
    unsigned attempt = 0;

    snprintf(path, sizeof(path), "/api/v1/agent/commands/%" PRId64 "/result", id);
    while (!channel_stopping(cm->c)) {
        struct https_reply rp;
        int e = channel_call(cm->c, &cm->curl, "POST", path, "application/json", body->buf, body->len, 60, &rp);
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
        channel_sleep(cm->c, uploader_backoff_ms(attempt < 10 ? attempt : 10, 1000, 60000, &cm->rng));
        attempt++;
    }
    return false;
}

static void handle(struct commands *cm, json_t *item)
{
    json_t *jid = json_object_get(item, "id"), *jtype = json_object_get(item, "type");
    json_t *jargs = json_object_get(item, "args"), *empty = NULL;
    struct command cmd = {0};
    struct jsonw result;
    enum command_state st;
    int64_t id;

    if (!json_is_integer(jid) || json_integer_value(jid) <= 0) {
        log_warn("the server sent a command without a valid id; ignored");
        return;
    }
    id = json_integer_value(jid);
    st = command_journal_state(cm->journal, id);
    if (st == COMMAND_DONE)
        return; /* answered already */
    jsonw_init(&result);
    if (st == COMMAND_STARTED) {
        jsonw_object_begin(&result);
        jsonw_kv_str(&result, "status", "failed");
        jsonw_key(&result, "output");
        jsonw_null(&result);
        jsonw_kv_str(&result, "error",
                     "the agent stopped while this command ran, before its result was sent; it is not run again");
        jsonw_object_end(&result);
    } else if (!json_is_string(jtype) || !valid_type(json_string_value(jtype)) ||
               (jargs && !json_is_null(jargs) && !json_is_object(jargs))) {
        jsonw_object_begin(&result);
        jsonw_kv_str(&result, "status", "failed");
        jsonw_key(&result, "output");
        jsonw_null(&result);
        jsonw_kv_str(&result, "error", "malformed command: type must be a short lower-case name and args an object");
        jsonw_object_end(&result);
        if (command_journal_mark(cm->journal, id, COMMAND_STARTED) != 0)
            log_warn("cannot record command %" PRId64 " in the journal", id);
    } else {
        /* durable before it runs: never twice */
        if (command_journal_mark(cm->journal, id, COMMAND_STARTED) != 0) {
            log_warn("cannot record command %" PRId64 " in the journal; not running it now", id);
            jsonw_free(&result);
            channel_sleep(cm->c, 5000);
            return;
        }
        if (!jargs || json_is_null(jargs))
            jargs = empty = json_object();
        cmd.id = id;
        cmd.type = json_string_value(jtype);
        cmd.args = jargs;
        cmd.owner = cm;
        if (post_progress(cm, &cm->curl, id, "{\"message\":\"started\"}")) {
            log_info("command %" PRId64 " (%s) was cancelled before it started", id, cmd.type);
            jsonw_object_begin(&result);
            jsonw_kv_str(&result, "status", "failed");
            jsonw_key(&result, "output");
            jsonw_null(&result);
            jsonw_kv_str(&result, "error", "cancelled before it started");
            jsonw_object_end(&result);
        } else {
            log_info("running command %" PRId64 " (%s)", id, cmd.type);
            commands_execute(&cmd, &result);
            channel_update(cm->c, note_run, NULL);
        }
    }
    if (!jsonw_failed(&result) && post_result(cm, id, &result)) {
        if (command_journal_mark(cm->journal, id, COMMAND_DONE) != 0)
            log_warn("cannot record command %" PRId64 " as answered", id);
    }
    json_decref(empty);
    jsonw_free(&result);
}

static void *run(void *arg)
{
    struct commands *cm = arg;
    unsigned attempt = 0;
    char path[64];

    snprintf(path, sizeof(path), "/api/v1/agent/commands?wait=%d", POLL_WAIT_S);
    while (!channel_stopping(cm->c)) {
        struct https_reply rp;
        json_t *root = NULL, *list;
        int e = channel_call(cm->c, &cm->curl, "GET", path, NULL, NULL, 0, POLL_WAIT_S + 30, &rp);

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

/* Stops and joins the progress sender (when it runs) and drops what it
 * had not sent. */
static void stop_sender(struct commands *cm)
{
    pthread_mutex_lock(&cm->pmu);
    cm->pstop = true;
    pthread_cond_signal(&cm->pcond);
    pthread_mutex_unlock(&cm->pmu);
    if (cm->sender_started)
        pthread_join(cm->sender, NULL);
    cm->sender_started = false;
    free(cm->pending);
    cm->pending = NULL;
    https_handle_free(cm->pcurl);
    cm->pcurl = NULL;
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
    e = -pthread_create(&cm->thread, NULL, run, cm);
    if (e) {
        snprintf(err, errlen, "cannot start the command thread: %s", strerror(-e));
        goto fail;
    }
    *out = cm;
    return 0;
fail:
    stop_sender(cm);
    command_journal_free(cm->journal);
    pthread_mutex_destroy(&cm->pmu);
    pthread_cond_destroy(&cm->pcond);
    free(cm);
    return e;
}

void commands_stop(struct commands *cm)
{
    if (!cm)
        return;
    channel_stop(cm->c);
    pthread_join(cm->thread, NULL);
    stop_sender(cm);
    https_handle_free(cm->curl);
    command_journal_free(cm->journal);
    pthread_mutex_destroy(&cm->pmu);
    pthread_cond_destroy(&cm->pcond);
    free(cm);
}
