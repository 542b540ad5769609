/*
 * live.c — the `live` device command (see live.h, docs/live.md "Agent
 * side"): the arguments the server sent are checked strictly (the
 * envelope here, the command's own arguments again with the shared
 * grammar's live_args_check), then one function of the table runs. Also
 * what the live command files share (live_int.h): the channel, the
 * package database, names, modes, hashing, processes running a file.
 */
#include "agent/live.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/live_int.h"
#include "agent/pkgdb.h"
#include "agent/scan.h"
#include "common/live_grammar.h"
#include "common/log.h"

#define HASH_CHUNK (1u << 20)

/* ------------------------------------------------------------ the command */

static const struct {
    const char *name;
    live_fn fn;
} table[] = {
    {"cd", live_cd},
    {"dir", live_dir},
    {"fileinfo", live_fileinfo},
    {"findfile", live_findfile},
    {"getfile", live_getfile},
    {"processes", live_processes},
    {"connections", live_connections},
    {"services", live_services},
    {"scheduledtasks", live_scheduledtasks},
    {"persistence", live_persistence},
    {"drivers", live_drivers},
    {"analyze", live_analyze},
    {"run", live_run},
    {"putfile", live_putfile},
};

static bool hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Checks the envelope {"session", "command", "cwd", "args", "indicators"}. */
static int check_envelope(json_t *a, const char **command, const char **cwd, json_t **args, json_t **indicators,
                          char *err, size_t errlen)
{
    const char *key;
    json_t *v, *s = json_object_get(a, "session"), *c = json_object_get(a, "command");
    json_t *w = json_object_get(a, "cwd");

    json_object_foreach(a, key, v) {
        if (strcmp(key, "session") && strcmp(key, "command") && strcmp(key, "cwd") && strcmp(key, "args") &&
            strcmp(key, "indicators")) {
            snprintf(err, errlen, "live: unknown argument '%.64s' (session, command, cwd, args, indicators)", key);
            return -EINVAL;
        }
    }
    if (!json_is_integer(s) || json_integer_value(s) < 0) {
        snprintf(err, errlen, "live: session must be the session's number");
        return -EINVAL;
    }
    if (!json_is_string(c) || json_string_length(c) == 0 || json_string_length(c) > 64) {
        snprintf(err, errlen, "live: command must be the name of a live command");
        return -EINVAL;
    }
    if (!json_is_string(w) || json_string_length(w) != strlen(json_string_value(w)) ||
        !live_path_ok(json_string_value(w))) {
        snprintf(err, errlen, "live: cwd must be an absolute, normalised path");
        return -EINVAL;
    }
    *args = json_object_get(a, "args");
    if (*args && !json_is_object(*args)) {
        snprintf(err, errlen, "live: args must be an object");
        return -EINVAL;
    }
    *indicators = json_object_get(a, "indicators");
    if (*indicators) {
        size_t i;
        if (strcmp(json_string_value(c), "analyze") != 0) {
            snprintf(err, errlen, "live: indicators are given to analyze only");
            return -EINVAL;
        }
        if (!json_is_array(*indicators) || json_array_size(*indicators) > SCAN_MAX_INDICATORS) {
            snprintf(err, errlen, "live: indicators must be an array of at most %d SHA-256 values",
                     SCAN_MAX_INDICATORS);
            return -EINVAL;
        }
        json_array_foreach(*indicators, i, v)
            if (!hex64(json_string_value(v))) {
                snprintf(err, errlen, "live: indicator %zu is not a SHA-256 (64 hexadecimal digits)", i + 1);
                return -EINVAL;
            }
    }
    *command = json_string_value(c);
    *cwd = json_string_value(w);
    return 0;
}

int live_command(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    const char *command = NULL, *cwd = NULL;
    json_t *args = NULL, *indicators = NULL, *empty = NULL;
    char why[1024] = "";
    live_fn fn = NULL;
    int e;

    if (!json_is_object(cmd->args)) {
        snprintf(err, errlen, "live: the arguments are not an object");
        return -EINVAL;
    }
    e = check_envelope(cmd->args, &command, &cwd, &args, &indicators, err, errlen);
    if (e)
        return e;
    if (!args)
        args = empty = json_object(); /* a command without arguments may leave them out */
    if (!args) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    e = live_args_check(command, args, why, sizeof(why));
    if (e) {
        snprintf(err, errlen, "live: %s", why);
        goto out;
    }
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]) && !fn; i++)
        if (strcmp(table[i].name, command) == 0)
            fn = table[i].fn;
    if (!fn) {
        snprintf(err, errlen, "live: %s is not run by this agent version (%s)", command, YAMORI_VERSION);
        e = -ENOTSUP;
        goto out;
    }
    if (command_cancelled(cmd)) {
        snprintf(err, errlen, "%s: cancelled", command);
        e = -ECANCELED;
        goto out;
    }
    {
        struct live_call call = {.cmd = cmd, .cwd = cwd, .args = args, .indicators = indicators};
        e = fn(&call, out, why, sizeof(why));
    }
    if (e == -ECANCELED && !why[0])
        snprintf(why, sizeof(why), "cancelled");
    if (e)
        snprintf(err, errlen, "%s: %s", command, why[0] ? why : strerror(-e));
out:
    json_decref(empty);
    return e;
}

/* ------------------------------------------------------------ shared state */

/* The channel and how many transfers use it now: live_set_channel waits
 * for them, so the agent can take the channel away (NULL) before freeing
 * it even when a getfile outlived the command thread's stop. */
static pthread_mutex_t chan_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t chan_cond = PTHREAD_COND_INITIALIZER;
static struct channel *live_chan;
static unsigned chan_users;

void live_set_channel(struct channel *c)
{
    pthread_mutex_lock(&chan_mu);
    while (chan_users) /* a transfer on the old channel ends first (at once once it stopped) */
        pthread_cond_wait(&chan_cond, &chan_mu);
    live_chan = c;
    pthread_mutex_unlock(&chan_mu);
}

struct channel *live_channel_hold(void)
{
    struct channel *c;

    pthread_mutex_lock(&chan_mu);
    c = live_chan;
    if (c)
        chan_users++;
    pthread_mutex_unlock(&chan_mu);
    return c;
}

void live_channel_release(void)
{
    pthread_mutex_lock(&chan_mu);
    chan_users--;
    pthread_cond_broadcast(&chan_cond);
    pthread_mutex_unlock(&chan_mu);
}

bool live_cancelled(const struct live_call *call)
{
    return call->cmd && command_cancelled(call->cmd);
}

void live_progress(const struct live_call *call, uint64_t *last, const char *json_object_text)
{
    struct timespec ts;
    uint64_t now;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
    if (*last && now - *last < 1000)
        return;
    *last = now;
    if (call->cmd)
        command_progress(call->cmd, json_object_text);
}

static pthread_mutex_t pkg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pkgdb *pkg_db; /* under pkg_lock */

struct pkgdb *live_pkgdb_acquire(char *err, size_t errlen)
{
    int e;

    pthread_mutex_lock(&pkg_lock);
    if (!pkg_db)
        e = pkgdb_open(&pkg_db, "/var/lib/dpkg", err, errlen);
    else
        e = pkgdb_refresh(pkg_db, err, errlen); /* a failed rebuild keeps the previous index */
    if (e && !pkg_db) {
        pthread_mutex_unlock(&pkg_lock);
        return NULL;
    }
    return pkg_db;
}

void live_pkgdb_release(void)
{
    pthread_mutex_unlock(&pkg_lock);
}

/* ------------------------------------------------------------ names and modes */

void live_mode_text(mode_t m, char *out)
{
    static const char rwx[] = "rwxrwxrwx";

    out[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISFIFO(m) ? 'p' : S_ISSOCK(m) ? 's' : S_ISCHR(m) ? 'c'
             : S_ISBLK(m) ? 'b' : '-';
    for (int i = 0; i < 9; i++)
        out[1 + i] = (m & (0400u >> i)) ? rwx[i] : '-';
    if (m & S_ISUID)
        out[3] = (m & S_IXUSR) ? 's' : 'S';
    if (m & S_ISGID)
        out[6] = (m & S_IXGRP) ? 's' : 'S';
    if (m & S_ISVTX)
        out[9] = (m & S_IXOTH) ? 't' : 'T';
    out[10] = '\0';
}

const char *live_type_name(mode_t m)
{
    if (S_ISREG(m))
        return "file";
    if (S_ISDIR(m))
        return "directory";
    if (S_ISLNK(m))
        return "symlink";
    if (S_ISFIFO(m))
        return "fifo";
    if (S_ISSOCK(m))
        return "socket";
    if (S_ISCHR(m))
        return "char device";
    if (S_ISBLK(m))
        return "block device";
    return "unknown";
}

void live_user_name(uid_t uid, char *out, size_t outlen)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name)
        snprintf(out, outlen, "%s", res->pw_name);
    else
        snprintf(out, outlen, "%u", (unsigned)uid);
}

void live_group_name(gid_t gid, char *out, size_t outlen)
{
    struct group gr, *res = NULL;
    char buf[8192];

    if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res && res->gr_name)
        snprintf(out, outlen, "%s", res->gr_name);
    else
        snprintf(out, outlen, "%u", (unsigned)gid);
}

uint64_t live_ts_ns(const struct timespec *ts)
{
    if (ts->tv_sec < 0)
        return 0;
    return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

size_t live_text_line(const char *s, char *out)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            n += (size_t)sprintf(out + n, "\\x%02x", *p);
        else
            out[n++] = (char)*p;
    }
    out[n++] = '\n';
    out[n] = '\0';
    return n;
}

/* ------------------------------------------------------------ hashing */

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void to_hex(const unsigned char *d, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

int live_hash_fd(int fd, uint64_t max, bool sha1, bool md5, const struct live_call *call, struct live_hashes *out)
{
    EVP_MD_CTX *c256 = EVP_MD_CTX_new(), *c1 = sha1 ? EVP_MD_CTX_new() : NULL, *c5 = md5 ? EVP_MD_CTX_new() : NULL;
    unsigned char *buf = malloc(HASH_CHUNK), d[EVP_MAX_MD_SIZE];
    struct stat before, after;
    unsigned n;
    int e = 0;

    memset(out, 0, sizeof(*out));
    if (!buf || !c256 || (sha1 && !c1) || (md5 && !c5) || EVP_DigestInit_ex(c256, EVP_sha256(), NULL) != 1 ||
        (c1 && EVP_DigestInit_ex(c1, EVP_sha1(), NULL) != 1) || (c5 && EVP_DigestInit_ex(c5, EVP_md5(), NULL) != 1)) {
        e = -ENOMEM;
        goto out;
    }
    if (fstat(fd, &before) != 0) {
        e = -errno;
        goto out;
    }
    if ((uint64_t)before.st_size > max) {
        e = -EFBIG;
        goto out;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        e = -errno;
        goto out;
    }
    for (;;) {
        ssize_t r;
        if (call && live_cancelled(call)) {
            e = -ECANCELED;
            goto out;
        }
        r = read(fd, buf, HASH_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = -errno;
            goto out;
        }
        if (r == 0)
            break;
        out->bytes += (uint64_t)r;
        if (out->bytes > (uint64_t)before.st_size) { /* grew while being read */
            e = -ESTALE;
            goto out;
        }
        EVP_DigestUpdate(c256, buf, (size_t)r);
        if (c1)
            EVP_DigestUpdate(c1, buf, (size_t)r);
        if (c5)
            EVP_DigestUpdate(c5, buf, (size_t)r);
    }
    if (out->bytes != (uint64_t)before.st_size || fstat(fd, &after) != 0 || !same_version(&before, &after)) {
        e = -ESTALE;
        goto out;
    }
    EVP_DigestFinal_ex(c256, d, &n);
    to_hex(d, n, out->sha256);
    if (c1) {
        EVP_DigestFinal_ex(c1, d, &n);
        to_hex(d, n, out->sha1);
    }
    if (c5) {
        EVP_DigestFinal_ex(c5, d, &n);
        to_hex(d, n, out->md5);
    }
out:
    if (e)
        memset(out, 0, sizeof(*out));
    EVP_MD_CTX_free(c256);
    EVP_MD_CTX_free(c1);
    EVP_MD_CTX_free(c5);
    free(buf);
    return e;
}

/* ------------------------------------------------------------ processes */

size_t live_procs_running(dev_t dev, ino_t ino, int *pids, size_t max)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    size_t n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        char path[64], *end;
        long pid = strtol(de->d_name, &end, 10);
        struct stat st;

        if (*end || pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
        if (stat(path, &st) != 0 || st.st_dev != dev || st.st_ino != ino)
            continue;
        if (n < max)
            pids[n] = (int)pid;
        n++;
    }
    closedir(d);
    return n;
}

void live_proc_name(int pid, char *out, size_t outlen)
{
    char path[64];
    ssize_t r;
    int fd;

    out[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/comm", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    r = read(fd, out, outlen - 1);
    close(fd);
    if (r <= 0) {
        out[0] = '\0';
        return;
    }
    out[r] = '\0';
    out[strcspn(out, "\n")] = '\0';
}
