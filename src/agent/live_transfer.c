/*
 * live_transfer.c — the live commands that move files between the device
 * and the server, and run library scripts: getfile, putfile, run (see
 * live.h, docs/live.md).
 *
 * getfile streams the file from its descriptor (never mapped: it may
 * change) through the collect upload route, hashing what it sends; a file
 * that changes size while being read fails the command, and the server
 * checks what it received against the SHA-256 answered. putfile and run
 * fetch a library file (GET /api/v1/agent/library/<name>?command=<id>)
 * into a new file that nobody else can open, check the SHA-256 the server
 * put in the command's arguments, and only then use it: putfile renames
 * it into the session's directory (relative to a descriptor of that
 * directory, never through a symbolic link, replacing a file only when
 * asked), run executes it with posix_spawn — no shell: the interpreter of
 * its #! line or the ELF file itself, the parameters as argv — in its own
 * process group with a fixed environment, streams its output and kills the
 * group on cancel or timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/channel.h"
#include "agent/commands.h"
#include "agent/live_int.h"
#include "agent/remediate_fs.h"
#include "common/live_grammar.h"
#include "common/log.h"

#define LIBRARY_MAX_BYTES (4ull << 30)   /* a library file fetched by putfile or run */
#define RUN_OUTPUT_MAX (16u << 20)       /* streamed output of one run; the rest is counted, not sent */
#define RUN_DRAIN_MS 2000                /* output still read once the script ended */
#define RUN_DEFAULT_TIMEOUT_S 1800

static const char *arg_str(const struct live_call *call, const char *name)
{
    return json_string_value(json_object_get(call->args, name));
}

static int64_t cmd_id(const struct live_call *call)
{
    return call->cmd ? call->cmd->id : 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

static void hex_of(const unsigned char *d, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* ------------------------------------------------------------ getfile */

/* Whether a file system holds kernel state rather than files (proc, sysfs
 * and the like): getfile refuses them. */
static bool kernel_fs(int64_t t)
{
    static const uint64_t types[] = {
        0x9fa0,     /* proc */
        0x62656572, /* sysfs */
        0x64626720, /* debugfs */
        0x74726163, /* tracefs */
        0x73636673, /* securityfs */
        0x27e0eb,   /* cgroup */
        0x63677270, /* cgroup2 */
        0xcafe4a11, /* bpf */
        0xde5e81e4, /* efivarfs */
        0x62656570, /* configfs */
        0x1cd1,     /* devpts */
        0x6e736673, /* nsfs */
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if ((uint64_t)t == types[i])
            return true;
    return false;
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static bool forbidden_path(const char *p)
{
    return under(p, "/proc") || under(p, "/sys") || under(p, "/dev");
}

struct upload {
    const struct live_call *call;
    int fd;
    uint64_t size, sent, last_report;
    EVP_MD_CTX *md;
    int error;       /* why the read callback aborted */
    char why[256];
};

static size_t upload_read(char *buf, size_t len, void *ctx)
{
    struct upload *u = ctx;
    uint64_t left = u->size - u->sent;
    ssize_t r;

    if (live_cancelled(u->call)) {
        u->error = -ECANCELED;
        return CHANNEL_STREAM_ABORT;
    }
    if (!left)
        return 0;
    do
        r = read(u->fd, buf, len < left ? len : (size_t)left);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        u->error = -errno;
        snprintf(u->why, sizeof(u->why), "cannot read the file: %s", strerror(errno));
        return CHANNEL_STREAM_ABORT;
    }
    if (r == 0) {
        u->error = -ESTALE;
        snprintf(u->why, sizeof(u->why),
                 "the file shrank while being sent (%" PRIu64 " bytes expected, %" PRIu64 " read); try again",
                 u->size, u->sent);
        return CHANNEL_STREAM_ABORT;
    }
    EVP_DigestUpdate(u->md, buf, (size_t)r);
    u->sent += (uint64_t)r;
    if (u->sent == u->size) {
        char probe;
        ssize_t more = read(u->fd, &probe, 1);
        if (more > 0) {
            u->error = -ESTALE;
            snprintf(u->why, sizeof(u->why), "the file grew while being sent (past %" PRIu64 " bytes); try again",
                     u->size);
            return CHANNEL_STREAM_ABORT;
        }
    }
    {
        char progress[160];
        snprintf(progress, sizeof(progress), "{\"bytes\": %" PRIu64 ", \"percent\": %.1f}", u->sent,
                 u->size ? 100.0 * (double)u->sent / (double)u->size : 100.0);
        live_progress(u->call, &u->last_report, progress);
    }
    return (size_t)r;
}

static bool upload_cancelled(void *ctx)
{
    const struct upload *u = ctx;
    return live_cancelled(u->call);
}

int live_getfile(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    const char *path = arg_str(call, "path");
    struct channel *chan;
    struct upload u = {.call = call, .fd = -1};
    struct channel_stream s = {.read = upload_read, .cancelled = upload_cancelled, .ctx = &u};
    struct https_reply rp = {0};
    char real[PATH_MAX], link[64], route[96], hex[65];
    unsigned char dig[EVP_MAX_MD_SIZE];
    void *handle = NULL;
    struct stat st, after;
    struct statfs sf;
    unsigned dn;
    long timeout;
    ssize_t r;
    int e = 0;

    if (forbidden_path(path)) {
        snprintf(err, errlen, "%s is under /proc, /sys or /dev: getfile brings back files, not kernel state", path);
        return -EPERM;
    }
    u.fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (u.fd < 0) {
        e = -errno;
        if (errno == ELOOP)
            snprintf(err, errlen, "%s is a symbolic link; getfile the file it points to", path);
        else if (errno == ENOENT)
            snprintf(err, errlen, "%s does not exist", path);
        else
            snprintf(err, errlen, "%s cannot be opened: %s", path, strerror(errno));
        return e;
    }
    if (fstat(u.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        e = -EINVAL;
        goto out;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", u.fd);
    r = readlink(link, real, sizeof(real) - 1);
    real[r > 0 ? r : 0] = '\0';
    if ((r > 0 && forbidden_path(real)) || fstatfs(u.fd, &sf) != 0 || kernel_fs((int64_t)sf.f_type)) {
        snprintf(err, errlen, "%s is kernel state (under /proc, /sys or /dev, or on such a file system), "
                 "not a file getfile brings back", path);
        e = -EPERM;
        goto out;
    }
    fcntl(u.fd, F_SETFL, fcntl(u.fd, F_GETFL) & ~O_NONBLOCK);
    u.size = (uint64_t)st.st_size;
    u.md = EVP_MD_CTX_new();
    if (!u.md || EVP_DigestInit_ex(u.md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "out of memory");
        e = -ENOMEM;
        goto out;
    }
    s.body_len = u.size;
    timeout = 120 + (long)(u.size >> 16); /* 64 KiB/s at least */
    snprintf(route, sizeof(route), "/api/v1/agent/commands/%" PRId64 "/file", cmd_id(call));
    chan = live_channel_hold();
    if (!chan) {
        snprintf(err, errlen, "no channel to the server to send the file over");
        e = -ENOTCONN;
        goto out;
    }
    e = channel_call_stream(chan, &handle, "POST", route, "application/octet-stream", &s,
                            timeout > 6 * 3600 ? 6 * 3600 : timeout, &rp);
    live_channel_release();
    if (u.error) {
        e = u.error;
        snprintf(err, errlen, "%s", e == -ECANCELED ? "cancelled" : u.why);
        goto out;
    }
    if (e) {
        snprintf(err, errlen, "the file could not be sent: %s", rp.error[0] ? rp.error : strerror(-e));
        goto out;
    }
    if (rp.status != 200) {
        snprintf(err, errlen, "the server refused the file (HTTP %ld): %s", rp.status,
                 rp.error[0] ? rp.error : "no reason given");
        e = rp.status == 413 ? -EFBIG : -EPERM;
        goto out;
    }
    if (fstat(u.fd, &after) != 0 || after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
        snprintf(err, errlen, "the file changed while being sent; what the server received is not one version of "
                 "it: try again");
        e = -ESTALE;
        goto out;
    }
    EVP_DigestFinal_ex(u.md, dig, &dn);
    hex_of(dig, dn, hex);
    jsonw_object_begin(out);
    jsonw_kv_str(out, "path", path);
    jsonw_kv_uint(out, "size", u.sent);
    jsonw_kv_str(out, "sha256", hex);
    jsonw_object_end(out);
    log_info("getfile: %s sent for command %" PRId64 " (%" PRIu64 " bytes, sha256 %s)", path, cmd_id(call), u.sent,
             hex);
out:
    https_reply_free(&rp);
    https_handle_free(handle);
    EVP_MD_CTX_free(u.md);
    if (u.fd >= 0)
        close(u.fd);
    return e;
}

/* ------------------------------------------------------------ fetching a library file */

struct download {
    const struct live_call *call;
    int fd;
    uint64_t bytes, last_report;
    EVP_MD_CTX *md;
    int error;
    char why[256];
};

static int download_write(const char *buf, size_t len, void *ctx)
{
    struct download *d = ctx;

    if (live_cancelled(d->call)) {
        d->error = -ECANCELED;
        return -ECANCELED;
    }
    if (d->bytes + len > LIBRARY_MAX_BYTES) {
        d->error = -EFBIG;
        snprintf(d->why, sizeof(d->why), "the library file is larger than %llu GiB", LIBRARY_MAX_BYTES >> 30);
        return -EFBIG;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(d->fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            d->error = w < 0 ? -errno : -EIO;
            snprintf(d->why, sizeof(d->why), "cannot write the file: %s", strerror(w < 0 ? errno : EIO));
            return d->error;
        }
        done += (size_t)w;
    }
    EVP_DigestUpdate(d->md, buf, len);
    d->bytes += len;
    {
        char progress[96];
        snprintf(progress, sizeof(progress), "{\"bytes\": %" PRIu64 ", \"message\": \"fetching\"}", d->bytes);
        live_progress(d->call, &d->last_report, progress);
    }
    return 0;
}

static bool download_cancelled(void *ctx)
{
    const struct download *d = ctx;
    return live_cancelled(d->call);
}

/* Fetches library file name into fd (empty, open for writing), checks its
 * SHA-256 against want and syncs it. Returns 0 with *bytes, or -errno with
 * err (-EBADMSG: the hash differs). */
static int fetch(const struct live_call *call, const char *name, const char *want, int fd, uint64_t *bytes,
                 char *err, size_t errlen)
{
    struct channel *chan;
    struct download d = {.call = call, .fd = fd};
    struct channel_stream s = {.write = download_write, .cancelled = download_cancelled, .ctx = &d};
    struct https_reply rp = {0};
    unsigned char dig[EVP_MAX_MD_SIZE];
    char route[256], hex[65];
    void *handle = NULL;
    unsigned dn;
    int e;

    d.md = EVP_MD_CTX_new();
    if (!d.md || EVP_DigestInit_ex(d.md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "out of memory");
        e = -ENOMEM;
        goto out;
    }
    snprintf(route, sizeof(route), "/api/v1/agent/library/%s?command=%" PRId64, name, cmd_id(call));
    chan = live_channel_hold();
    if (!chan) {
        snprintf(err, errlen, "no channel to the server to fetch %s over", name);
        e = -ENOTCONN;
        goto out;
    }
    e = channel_call_stream(chan, &handle, "GET", route, NULL, &s, 6 * 3600, &rp);
    live_channel_release();
    if (d.error) {
        e = d.error;
        snprintf(err, errlen, "%s", e == -ECANCELED ? "cancelled" : d.why);
        goto out;
    }
    if (e) {
        snprintf(err, errlen, "%s could not be fetched from the library: %s", name,
                 rp.error[0] ? rp.error : strerror(-e));
        goto out;
    }
    if (rp.status != 200) {
        snprintf(err, errlen, "the server did not give %s (HTTP %ld): %s", name, rp.status,
                 rp.error[0] ? rp.error : "no reason given");
        e = rp.status == 404 ? -ENOENT : -EPERM;
        goto out;
    }
    EVP_DigestFinal_ex(d.md, dig, &dn);
    hex_of(dig, dn, hex);
    if (strcasecmp(hex, want) != 0) {
        snprintf(err, errlen, "%s as fetched has the SHA-256 %s, not %s as the command says; it was not used", name,
                 hex, want);
        e = -EBADMSG;
        goto out;
    }
    if (fsync(fd) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot sync %s: %s", name, strerror(errno));
        goto out;
    }
    *bytes = d.bytes;
out:
    https_reply_free(&rp);
    https_handle_free(handle);
    EVP_MD_CTX_free(d.md);
    return e;
}

/* ------------------------------------------------------------ putfile */

int live_putfile(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    const char *name = arg_str(call, "name"), *want = arg_str(call, "sha256");
    bool overwrite = json_is_true(json_object_get(call->args, "overwrite")), existed = false;
    char tmp[64], path[PATH_MAX];
    unsigned char rnd[8];
    uint64_t bytes = 0;
    struct stat st;
    int dfd, fd = -1, e = 0;

    if (!want) {
        snprintf(err, errlen, "the command names no SHA-256 to check %s against; nothing was written", name);
        return -EINVAL;
    }
    dfd = open(call->cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        e = -errno;
        snprintf(err, errlen, "the session's directory %s cannot be opened: %s", call->cwd, strerror(errno));
        return e;
    }
    snprintf(path, sizeof(path), "%s%s%s", call->cwd, strcmp(call->cwd, "/") ? "/" : "", name);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        existed = true;
        if (S_ISLNK(st.st_mode)) {
            snprintf(err, errlen, "%s is a symbolic link; putfile never writes through one (nothing was written)",
                     path);
            e = -ELOOP;
            goto out;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a regular file (a %s); nothing was written", path,
                     live_type_name(st.st_mode));
            e = -EEXIST;
            goto out;
        }
        if (!overwrite) {
            snprintf(err, errlen, "%s exists; putfile %s -overwrite replaces it", path, name);
            e = -EEXIST;
            goto out;
        }
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        e = -EIO;
        snprintf(err, errlen, "no randomness for a temporary name");
        goto out;
    }
    snprintf(tmp, sizeof(tmp), ".yamori-putfile.%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5], rnd[6], rnd[7]);
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot create a file in %s: %s", call->cwd, strerror(errno));
        goto out;
    }
    e = fetch(call, name, want, fd, &bytes, err, errlen);
    if (e)
        goto out;
    if (overwrite)
        e = renameat(dfd, tmp, dfd, name) == 0 ? 0 : -errno; /* replaces a name, never writes through a link */
    else
        e = renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) == 0 ? 0 : -errno;
    if (e) {
        if (e == -EEXIST)
            snprintf(err, errlen, "%s appeared meanwhile; putfile %s -overwrite replaces it", path, name);
        else
            snprintf(err, errlen, "cannot put %s in place: %s", path, strerror(-e));
        goto out;
    }
    tmp[0] = '\0'; /* renamed: nothing to remove */
    fsync(dfd);
    jsonw_object_begin(out);
    jsonw_kv_str(out, "path", path);
    jsonw_kv_uint(out, "size", bytes);
    jsonw_kv_str(out, "sha256", want);
    jsonw_kv_str(out, "mode", "-rw-------");
    jsonw_kv_bool(out, "replaced", existed);
    jsonw_object_end(out);
    log_info("putfile: %s written for command %" PRId64 " (%" PRIu64 " bytes)", path, cmd_id(call), bytes);
out:
    if (fd >= 0)
        close(fd);
    if (fd >= 0 && tmp[0])
        unlinkat(dfd, tmp, 0);
    close(dfd);
    return e;
}

/* ------------------------------------------------------------ run */

/* How to execute the script at path: argv[0..n) before the script's path
 * (the interpreter and its one argument), or nothing for an ELF file.
 * Returns 0, or -ENOEXEC with err. */
static int interpreter(int fd, const char *name, char *interp, size_t interplen, char *arg, size_t arglen,
                       char *err, size_t errlen)
{
    char head[256];
    ssize_t n = pread(fd, head, sizeof(head) - 1, 0);
    char *p, *end;

    interp[0] = arg[0] = '\0';
    if (n >= 4 && memcmp(head, "\x7f" "ELF", 4) == 0)
        return 0;
    if (n < 2 || head[0] != '#' || head[1] != '!') {
        snprintf(err, errlen, "%s is neither an ELF executable nor a script starting with #!", name);
        return -ENOEXEC;
    }
    head[n] = '\0';
    end = strchr(head, '\n');
    if (!end) {
        snprintf(err, errlen, "the #! line of %s is longer than %zu bytes", name, sizeof(head) - 2);
        return -ENOEXEC;
    }
    *end = '\0';
    p = head + 2;
    p += strspn(p, " \t");
    snprintf(interp, interplen, "%.*s", (int)strcspn(p, " \t"), p);
    p += strcspn(p, " \t");
    p += strspn(p, " \t");
    for (char *t = p + strlen(p); t > p && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r'); t--)
        t[-1] = '\0';
    snprintf(arg, arglen, "%s", p); /* as the kernel does: the rest of the line is one argument */
    if (interp[0] != '/') {
        snprintf(err, errlen, "the #! line of %s does not name an absolute interpreter path", name);
        return -ENOEXEC;
    }
    if (access(interp, X_OK) != 0) {
        snprintf(err, errlen, "the interpreter %s named by the #! line of %s cannot be run: %s", interp, name,
                 strerror(errno));
        return -ENOEXEC;
    }
    return 0;
}

static const char *signal_name(int sig)
{
    static char other[16];
    switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGSEGV: return "SIGSEGV";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    default: snprintf(other, sizeof(other), "signal %d", sig); return other;
    }
}

/* Starts argv with posix_spawn: own process group, stdin /dev/null,
 * stdout and stderr into outfd, only the fixed environment, working in
 * cwd. Returns the pid, or -errno. */
static pid_t spawn(const char *exe, char *const argv[], const char *cwd, int outfd)
{
    static char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin", home_env[] = "HOME=/root",
                lang_env[] = "LANG=C.UTF-8";
    char *const envp[] = {path_env, home_env, lang_env, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, defaults;
    pid_t pid = -1;
    int e;

    sigemptyset(&none);
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -ENOMEM;
    if (posix_spawnattr_init(&at) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -ENOMEM;
    }
    e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    e = e ? e : posix_spawn_file_actions_adddup2(&fa, outfd, 1);
    e = e ? e : posix_spawn_file_actions_adddup2(&fa, outfd, 2);
    e = e ? e : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    e = e ? e : posix_spawn_file_actions_addchdir_np(&fa, cwd);
    e = e ? e : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETSIGDEF);
    e = e ? e : posix_spawnattr_setpgroup(&at, 0);
    e = e ? e : posix_spawnattr_setsigmask(&at, &none);
    e = e ? e : posix_spawnattr_setsigdefault(&at, &defaults);
    e = e ? e : posix_spawn(&pid, exe, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return e ? -e : pid;
}

struct run_state {
    uint64_t output_bytes;
    bool output_truncated;
    int status;        /* waitpid's */
    bool exited;
    const char *killed; /* "cancelled", "timed out", "output refused": why the group was killed */
};

/* Streams the output of pid (its group pgid) from fd until it ended, or
 * kills the group on cancel or timeout. */
static void watch(const struct live_call *call, pid_t pid, int fd, unsigned timeout_s, struct run_state *rs)
{
    uint64_t start = mono_ms(), ended_at = 0, last_report = 0;
    char buf[16384];
    bool eof = false;

    while (!eof || !rs->exited) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        char progress[96];
        int ready;

        snprintf(progress, sizeof(progress), "{\"bytes\": %" PRIu64 ", \"message\": \"running\"}",
                 rs->output_bytes);
        live_progress(call, &last_report, progress); /* its answers bring a cancel */

        if (!rs->killed && (live_cancelled(call) || mono_ms() - start > (uint64_t)timeout_s * 1000ull)) {
            rs->killed = live_cancelled(call) ? "cancelled" : "timed out";
            kill(-pid, SIGKILL);
        }
        if (!rs->exited) {
            pid_t w = waitpid(pid, &rs->status, WNOHANG);
            if (w == pid || (w < 0 && errno == ECHILD)) {
                rs->exited = true;
                ended_at = mono_ms();
            }
        }
        if (eof) {
            if (!rs->exited)
                poll(NULL, 0, 50);
            continue;
        }
        if (rs->exited && mono_ms() - ended_at > RUN_DRAIN_MS)
            break; /* a process it left behind still holds the output open */
        ready = poll(&pfd, 1, 100);
        if (ready <= 0)
            continue;
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            eof = true;
            continue;
        }
        rs->output_bytes += (uint64_t)r;
        if (rs->output_bytes > RUN_OUTPUT_MAX) {
            rs->output_truncated = true;
            continue;
        }
        if (!rs->killed) {
            int e = command_output(call->cmd, buf, (size_t)r);
            if (e) {
                rs->killed = e == -ECANCELED ? "cancelled" : "output refused";
                kill(-pid, SIGKILL);
            }
        }
    }
    if (!rs->exited) {
        waitpid(pid, &rs->status, 0);
        rs->exited = true;
    }
}

int live_run(const struct live_call *call, struct jsonw *out, char *err, size_t errlen)
{
    const char *name = arg_str(call, "script"), *want = arg_str(call, "sha256"), *state = remfs_state_dir();
    const struct live_spec *spec = live_spec_find("run");
    json_t *params = json_object_get(call->args, "parameters");
    char dir[PATH_MAX], path[PATH_MAX + 200], interp[256], iarg[256];
    char *argv[LIVE_MAX_WORDS + 4];
    struct run_state rs = {0};
    uint64_t bytes = 0;
    size_t argc = 0, i;
    int dfd = -1, fd = -1, pipefd[2] = {-1, -1}, e;
    pid_t pid;
    json_t *v;

    if (!want) {
        snprintf(err, errlen, "the command names no SHA-256 to check %s against; nothing was run", name);
        return -EINVAL;
    }
    if (params && (!json_is_array(params) || json_array_size(params) > LIVE_MAX_WORDS)) {
        snprintf(err, errlen, "parameters must be at most %d words", LIVE_MAX_WORDS);
        return -EINVAL;
    }
    snprintf(dir, sizeof(dir), "%s/run.XXXXXX", state && *state ? state : "/var/lib/yamori");
    if (!mkdtemp(dir)) { /* 0700: nobody else can reach the script */
        e = -errno;
        snprintf(err, errlen, "cannot create a private directory for the script: %s", strerror(errno));
        return e;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fd = dfd < 0 ? -1 : openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
    if (fd < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot create the script's file: %s", strerror(errno));
        goto out;
    }
    e = fetch(call, name, want, fd, &bytes, err, errlen);
    if (e)
        goto out;
    e = interpreter(fd, name, interp, sizeof(interp), iarg, sizeof(iarg), err, errlen);
    if (e)
        goto out;
    close(fd); /* no writer left: it can be executed */
    fd = -1;
    if (interp[0]) {
        argv[argc++] = interp;
        if (iarg[0])
            argv[argc++] = iarg;
    }
    argv[argc++] = path;
    json_array_foreach(params, i, v)
        argv[argc++] = (char *)json_string_value(v);
    argv[argc] = NULL;
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot make a pipe for the output: %s", strerror(errno));
        goto out;
    }
    pid = spawn(interp[0] ? interp : path, argv, call->cwd, pipefd[1]);
    if (pid < 0) {
        e = pid;
        snprintf(err, errlen, "cannot start %s: %s", name, strerror(-e));
        goto out;
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    log_info("run: %s started for command %" PRId64 " as pid %d", name, cmd_id(call), (int)pid);
    watch(call, pid, pipefd[0], spec && spec->timeout_s ? spec->timeout_s : RUN_DEFAULT_TIMEOUT_S, &rs);
    if (rs.killed && strcmp(rs.killed, "cancelled") == 0) {
        snprintf(err, errlen, "cancelled: the script's process group was killed");
        e = -ECANCELED;
        goto out;
    }
    if (rs.killed && strcmp(rs.killed, "timed out") == 0) {
        snprintf(err, errlen, "the script ran longer than %u s; its process group was killed",
                 spec && spec->timeout_s ? spec->timeout_s : RUN_DEFAULT_TIMEOUT_S);
        e = -ETIMEDOUT;
        goto out;
    }
    if (rs.killed) {
        snprintf(err, errlen, "the server refused the script's output; its process group was killed");
        e = -EPIPE;
        goto out;
    }
    jsonw_object_begin(out);
    jsonw_kv_str(out, "script", name);
    jsonw_kv_str(out, "sha256", want);
    jsonw_key(out, "exit_code");
    if (WIFEXITED(rs.status))
        jsonw_int(out, WEXITSTATUS(rs.status));
    else
        jsonw_null(out);
    jsonw_key(out, "signal");
    if (WIFSIGNALED(rs.status))
        jsonw_str(out, signal_name(WTERMSIG(rs.status)));
    else
        jsonw_null(out);
    jsonw_kv_uint(out, "output_bytes", rs.output_bytes);
    jsonw_kv_bool(out, "output_truncated", rs.output_truncated);
    jsonw_object_end(out);
out:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (fd >= 0)
        close(fd);
    if (dfd >= 0) {
        unlinkat(dfd, name, 0);
        close(dfd);
    }
    rmdir(dir);
    return e;
}
