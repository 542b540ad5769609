/*
 * test_fallback.c — the fallback sensor back end (proc connector, /proc,
 * fanotify) against the real kernel: sensor_fallback_open() with a callback
 * that keeps every record, real workloads, and checks of the records they
 * produce — process life cycle with argv, cwd, parent and exit code;
 * threads; credentials; ptrace; file create, modify, chmod, chown, utimes,
 * rename and delete; the file filter; filesystems mounted after start;
 * queue overflow.
 *
 * The binary runs in a private mount namespace, entered in main(), so that
 * the tmpfs it mounts over /etc/cron.d, /var/lib and /var/tmp is seen by
 * nothing else on the machine. The sensor runs in that same namespace:
 * fanotify filesystem marks are per super block, and a tmpfs mounted in a
 * namespace the sensor cannot see would never be marked. Mounting after
 * the sensor started (persistence_on_new_mount) checks that it notices new
 * mounts. /tmp is the machine's root ext4, which the sensor marks like any
 * filesystem; the cases work in directories of their own there and remove
 * them.
 *
 * Needs root; every case skips with the reason otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/procfs.h"
#include "agent/sensor.h"
#include "check.h"

#define WAIT_MS 10000
#define QUIET_MS 300

static bool ns_ready;          /* main() entered a private mount namespace */
static char ns_why[256];

#define NEED_ROOT()                                                                          \
    do {                                                                                     \
        if (!check_is_root())                                                                \
            SKIP("needs root for the proc connector and fanotify (running as uid %d)",      \
                 (int)geteuid());                                                            \
    } while (0)

#define NEED_NS()                                                                            \
    do {                                                                                     \
        if (!ns_ready)                                                                       \
            SKIP("no private mount namespace: %s", ns_why);                                  \
    } while (0)

/* ---------------------------------------------------------------- records */

/* Every record the sensor handed over, copied, checked for form first. */
static struct {
    uint8_t *buf;
    size_t len, cap;
    size_t *off;
    size_t n, ncap;
    char bad[256];
} R;

static void recs_reset(void)
{
    free(R.buf);
    free(R.off);
    memset(&R, 0, sizeof(R));
}

static bool str_ok(const struct ys_str *s, size_t fixed, size_t len)
{
    return s->len == 0 || (s->off >= fixed && (size_t)s->off + s->len <= len);
}

static void collect(void *ctx, const void *rec, size_t len)
{
    const struct ys_hdr *h = rec;
    size_t padded;
    bool ok;

    (void)ctx;
    ok = len >= sizeof(*h) && h->size == len && h->version == YS_ABI_VERSION &&
         h->source == YS_SRC_FALLBACK && h->type > 0 && h->type < YS_TYPE_MAX;
    if (ok && h->type >= YS_FILE_CREATE && h->type <= YS_FILE_UTIMES) {
        const struct ys_file *f = rec;
        ok = len >= sizeof(*f) && str_ok(&f->path, sizeof(*f), len) && str_ok(&f->path2, sizeof(*f), len);
    } else if (ok && h->type == YS_PROC_EXEC) {
        const struct ys_exec *x = rec;
        ok = len >= sizeof(*x) && str_ok(&x->path, sizeof(*x), len) && str_ok(&x->argv, sizeof(*x), len) &&
             str_ok(&x->cwd, sizeof(*x), len) && str_ok(&x->cgroup, sizeof(*x), len) &&
             str_ok(&x->tty, sizeof(*x), len) && str_ok(&x->memfd, sizeof(*x), len);
    } else if (ok) {
        static const size_t sizes[YS_TYPE_MAX] = {
            [YS_PROC_FORK] = sizeof(struct ys_fork), [YS_PROC_EXIT] = sizeof(struct ys_exit),
            [YS_PTRACE] = sizeof(struct ys_ptrace), [YS_CREDS] = sizeof(struct ys_creds),
        };
        ok = sizes[h->type] && len == sizes[h->type];
    }
    if (!ok) {
        if (!R.bad[0])
            snprintf(R.bad, sizeof(R.bad), "malformed record: type %u, size %u, length %zu",
                     len >= sizeof(*h) ? h->type : 0, len >= sizeof(*h) ? h->size : 0, len);
        return;
    }
    padded = (len + 7) & ~(size_t)7; /* records stay 8-byte aligned */
    if (R.len + padded > R.cap) {
        size_t cap = R.cap ? R.cap * 2 : 1 << 20;
        while (cap < R.len + padded)
            cap *= 2;
        uint8_t *b = realloc(R.buf, cap);
        if (!b)
            abort();
        R.buf = b;
        R.cap = cap;
    }
    if (R.n == R.ncap) {
        size_t ncap = R.ncap ? R.ncap * 2 : 4096;
        size_t *o = realloc(R.off, ncap * sizeof(*o));
        if (!o)
            abort();
        R.off = o;
        R.ncap = ncap;
    }
    memcpy(R.buf + R.len, rec, len);
    R.off[R.n++] = R.len;
    R.len += padded;
}

static const struct ys_hdr *rec_at(size_t i)
{
    return (const struct ys_hdr *)(R.buf + R.off[i]);
}

static bool str_eq(const void *rec, struct ys_str s, const char *want)
{
    size_t n = strlen(want);
    return s.len == n && memcmp((const uint8_t *)rec + s.off, want, n) == 0;
}

/* The process a record is about: the child for forks, else the header's. */
static uint32_t rec_pid(const struct ys_hdr *h)
{
    return h->type == YS_PROC_FORK ? ((const struct ys_fork *)h)->child_tgid : h->task.tgid;
}

/* The nth (from 0) record of `type` about process `pid`, or NULL. */
static const void *find_proc(uint16_t type, uint32_t pid, size_t nth)
{
    for (size_t i = 0; i < R.n; i++) {
        const struct ys_hdr *h = rec_at(i);
        if (h->type == type && rec_pid(h) == pid && nth-- == 0)
            return h;
    }
    return NULL;
}

static size_t count_proc(uint16_t type, uint32_t pid)
{
    size_t n = 0;
    for (size_t i = 0; i < R.n; i++) {
        const struct ys_hdr *h = rec_at(i);
        n += h->type == type && rec_pid(h) == pid;
    }
    return n;
}

/* The nth file record of `type` whose path is `path`, or NULL. */
static const struct ys_file *find_file(uint16_t type, const char *path, size_t nth)
{
    for (size_t i = 0; i < R.n; i++) {
        const struct ys_file *f = (const struct ys_file *)rec_at(i);
        if (f->h.type == type && str_eq(f, f->path, path) && nth-- == 0)
            return f;
    }
    return NULL;
}

static size_t count_file(uint16_t type, const char *path)
{
    size_t n = 0;
    while (find_file(type, path, n))
        n++;
    return n;
}

/* ---------------------------------------------------------------- driving the sensor */

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Polls until at least `count` records of `type` about `pid` (path NULL) or
 * about `path` exist, or WAIT_MS passed. */
static bool wait_for(struct sensor *s, uint16_t type, uint32_t pid, const char *path, size_t count)
{
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        size_t have = path ? count_file(type, path) : count_proc(type, pid);
        if (have >= count)
            return true;
        if (elapsed_ms(&t0) > WAIT_MS || sensor_poll(s, 50) < 0)
            return false;
    }
}

/* Polls for `ms`, so that anything still queued is read. */
static void pump_for(struct sensor *s, int ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed_ms(&t0) < ms)
        sensor_poll(s, 20);
}

/* ---------------------------------------------------------------- fixture */

struct fx {
    struct sensor *s;
    char why[512];
    pid_t pid;             /* a child to kill and reap, or 0 */
    int in, out;           /* its stdin (write end), stdout (read end) */
    char dir[PATH_MAX];    /* a directory to remove, or "" */
    const char *mounts[3]; /* tmpfs mounted by the case */
};

static void fx_init(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->in = f->out = -1;
    recs_reset();
}

static bool fx_open(struct fx *f, uint32_t self, bool files)
{
    struct sensor_options opt = {
        .self_tgid = self,
        .enable_file = files,
        .enable_security = true,
    };
    return sensor_fallback_open(&f->s, &opt, collect, NULL, f->why, sizeof(f->why)) == 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* A fresh directory under `parent`, canonical, removed by fx_close(). */
static bool fx_dir(struct fx *f, const char *parent)
{
    char tmpl[PATH_MAX + 32];

    snprintf(tmpl, sizeof(tmpl), "%s/yamori-fb.XXXXXX", parent);
    if (!mkdtemp(tmpl) || !realpath(tmpl, f->dir))
        return false;
    return true;
}

static bool fx_mount(struct fx *f, const char *where)
{
    for (size_t i = 0; i < sizeof(f->mounts) / sizeof(f->mounts[0]); i++) {
        if (!f->mounts[i]) {
            if (mount("yamori-test", where, "tmpfs", 0, "size=64m") != 0)
                return false;
            f->mounts[i] = where;
            return true;
        }
    }
    return false;
}

static void fx_close(struct fx *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
    if (f->in >= 0)
        close(f->in);
    if (f->out >= 0)
        close(f->out);
    sensor_free(f->s);
    if (f->dir[0])
        nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < sizeof(f->mounts) / sizeof(f->mounts[0]); i++)
        if (f->mounts[i])
            umount2(f->mounts[i], MNT_DETACH);
    recs_reset();
}

/* The helper program tests/helpers/fallback_child.c, canonical. */
static const char *helper_path(void)
{
    static char path[PATH_MAX];
    char raw[PATH_MAX + 64], exe[PATH_MAX];
    const char *bin = getenv("YAMORI_SAN_BIN");
    ssize_t n;

    if (bin) {
        snprintf(raw, sizeof(raw), "%s/helpers/fallback_child", bin);
    } else {
        /* BUILD/san/tests/sensor/test_fallback -> BUILD/san/helpers/ */
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
            return NULL;
        exe[n] = '\0';
        for (int i = 0; i < 3; i++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                return NULL;
            *slash = '\0';
        }
        snprintf(raw, sizeof(raw), "%s/helpers/fallback_child", exe);
    }
    if (!realpath(raw, path) || access(path, X_OK) != 0)
        return NULL;
    return path;
}

/* Starts the helper with argv in directory cwd, its stdin and stdout on
 * pipes. Returns its pid, or -1. */
static pid_t spawn(struct fx *f, const char *cwd, const char *const argv[])
{
    const char *helper = helper_path();
    int in[2], out[2];
    pid_t pid;

    if (!helper || pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || (cwd && chdir(cwd) != 0))
            _exit(126);
        execv(helper, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    f->pid = pid;
    f->in = in[1];
    f->out = out[0];
    return pid;
}

/* Lets the helper go on; returns its wait status. */
static int release_and_reap(struct fx *f)
{
    int status = -1;

    if (write(f->in, "x", 1) != 1)
        return -1;
    if (waitpid(f->pid, &status, 0) != f->pid)
        return -1;
    f->pid = 0;
    return status;
}

static uint64_t start_of(pid_t pid)
{
    struct ys_task t;
    return procfs_read_task("/proc", pid, &t) == 0 ? t.start_ns : 0;
}

static char stat_state(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fp = fopen(path, "re");
    if (!fp)
        return 0;
    p = fgets(buf, sizeof(buf), fp);
    fclose(fp);
    if (!p || !(p = strrchr(buf, ')')) || !p[1])
        return 0;
    return p[2];
}

static bool write_file(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    bool ok;

    if (fd < 0)
        return false;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    return close(fd) == 0 && ok;
}

static bool append_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    bool ok;

    if (fd < 0)
        return false;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    return close(fd) == 0 && ok;
}

/* Creates a file the filter keeps (in a temp directory) and waits for its
 * record: everything queued before it has then been handled. */
static bool marker(struct fx *f, const char *tmpdir, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return write_file(path, 0644, "m") && wait_for(f->s, YS_FILE_CREATE, 0, path, 1);
}

/* ---------------------------------------------------------------- cases */

static void limitations_body(struct fx *f)
{
    char text[4096], tiny[8];
    int n, lines = 1;

    CHECK_MSG(fx_open(f, 0, true), "open: %s", f->why);
    CHECK_STR(sensor_name(f->s), "fallback");
    CHECK(sensor_fd(f->s) >= 0);
    n = sensor_limitations(f->s, text, sizeof(text));
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK_INT(n, ==, lines);
    CHECK_MSG(strstr(text, "network events: not available in the fallback back end"), "%s", text);
    CHECK_MSG(strstr(text, "kernel module loads: not available"), "%s", text);
    CHECK_MSG(strstr(text, "memfd_create: not available"), "%s", text);
    CHECK_MSG(strstr(text, "bpf() program loads: not available"), "%s", text);
    CHECK_MSG(!strstr(text, "process events:"), "process events missing: %s", text);
    CHECK_MSG(!strstr(text, "\nfile events: "), "file events missing: %s", text);
    /* a buffer too small for any line gets none, and a terminated string */
    CHECK_INT(sensor_limitations(f->s, tiny, sizeof(tiny)), ==, 0);
    CHECK_STR(tiny, "");
}

static void limitations(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    limitations_body(&f);
    fx_close(&f);
}

static void exec_fork_exit_body(struct fx *f)
{
    static const char argv_bytes[] = "fallback_child\0wait\0" "7";
    const char *const argv[] = {"fallback_child", "wait", "7", NULL};
    const char *helper = helper_path();
    const struct ys_exec *x;
    const struct ys_fork *fk;
    const struct ys_exit *ex;
    uint64_t t0, start;
    pid_t pid;
    int status;

    if (!helper)
        SKIP("tests/helpers/fallback_child is not built next to this test");
    CHECK(fx_dir(f, "/tmp"));
    CHECK_MSG(fx_open(f, 0, false), "open: %s", f->why);
    t0 = procfs_boottime_ns();
    pid = spawn(f, f->dir, argv);
    CHECK(pid > 0);
    CHECK_MSG(wait_for(f->s, YS_PROC_EXEC, (uint32_t)pid, NULL, 1), "no exec record for %d", (int)pid);
    start = start_of(pid);
    CHECK(start > 0);

    fk = find_proc(YS_PROC_FORK, (uint32_t)pid, 0);
    CHECK_MSG(fk, "no fork record for %d", (int)pid);
    CHECK_INT(fk->h.task.tgid, ==, getpid());
    CHECK_INT(fk->child_start_ns, ==, start);
    CHECK_INT(fk->h.flags & YS_F_PARTIAL, ==, 0);
    CHECK(fk->h.ts_ns >= t0 && fk->h.ts_ns <= procfs_boottime_ns());

    x = find_proc(YS_PROC_EXEC, (uint32_t)pid, 0);
    CHECK_INT(x->h.flags & YS_F_PARTIAL, ==, 0);
    CHECK_MSG(str_eq(x, x->path, helper), "image %.*s", (int)x->path.len, (const char *)x + x->path.off);
    CHECK_INT(x->argc, ==, 3);
    CHECK_INT(x->argv.len, ==, sizeof(argv_bytes));
    CHECK(memcmp((const char *)x + x->argv.off, argv_bytes, sizeof(argv_bytes)) == 0);
    CHECK_MSG(str_eq(x, x->cwd, f->dir), "cwd %.*s", (int)x->cwd.len, (const char *)x + x->cwd.off);
    CHECK_INT(x->h.task.tgid, ==, pid);
    CHECK_INT(x->h.task.ppid, ==, getpid());
    CHECK_INT(x->h.task.pstart_ns, ==, start_of(getpid()));
    CHECK_INT(x->h.task.uid, ==, 0);
    CHECK_INT(x->h.task.start_ns, ==, start);
    CHECK_STR(x->h.task.comm, "fallback_child");
    CHECK(x->h.ts_ns >= fk->h.ts_ns);

    status = release_and_reap(f);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    CHECK_MSG(wait_for(f->s, YS_PROC_EXIT, (uint32_t)pid, NULL, 1), "no exit record for %d", (int)pid);
    pump_for(f->s, QUIET_MS);
    CHECK_INT(count_proc(YS_PROC_EXIT, (uint32_t)pid), ==, 1);
    ex = find_proc(YS_PROC_EXIT, (uint32_t)pid, 0);
    CHECK_INT(ex->exit_code, ==, 7 << 8);
    CHECK_INT(ex->h.task.start_ns, ==, start);
    CHECK_INT(ex->h.task.ppid, ==, getpid());
    CHECK_INT(ex->h.flags & YS_F_PARTIAL, ==, 0);
    CHECK(ex->h.ts_ns >= x->h.ts_ns);
    CHECK_INT(count_proc(YS_PROC_FORK, (uint32_t)pid), ==, 1);
    CHECK_INT(count_proc(YS_PROC_EXEC, (uint32_t)pid), ==, 1);
    CHECK_MSG(!R.bad[0], "%s", R.bad);
}

static void exec_fork_exit(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    exec_fork_exit_body(&f);
    fx_close(&f);
}

/* Processes gone before /proc is read still get an exec and one exit. */
static void short_lived_body(struct fx *f)
{
    const char *const argv[] = {"fallback_child", "exit", "5", NULL};

    if (!helper_path())
        SKIP("tests/helpers/fallback_child is not built next to this test");
    CHECK_MSG(fx_open(f, 0, false), "open: %s", f->why);
    for (int i = 0; i < 5; i++) {
        pid_t pid = spawn(f, NULL, argv);
        int status = -1;

        CHECK(pid > 0);
        CHECK(waitpid(pid, &status, 0) == pid);
        f->pid = 0;
        close(f->in);
        close(f->out);
        f->in = f->out = -1;
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5);
        CHECK_MSG(wait_for(f->s, YS_PROC_EXIT, (uint32_t)pid, NULL, 1), "no exit record for %d", (int)pid);
        CHECK_MSG(wait_for(f->s, YS_PROC_EXEC, (uint32_t)pid, NULL, 1), "no exec record for %d", (int)pid);
        pump_for(f->s, 50);
        CHECK_INT(count_proc(YS_PROC_EXIT, (uint32_t)pid), ==, 1);
        CHECK_INT(((const struct ys_exit *)find_proc(YS_PROC_EXIT, (uint32_t)pid, 0))->exit_code, ==, 5 << 8);
    }
    CHECK_MSG(!R.bad[0], "%s", R.bad);
}

static void short_lived(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    short_lived_body(&f);
    fx_close(&f);
}

/* exit() from the main thread while three threads run: one exit record. */
static void threads_one_exit_body(struct fx *f)
{
    const char *const argv[] = {"fallback_child", "threads", "3", "9", NULL};
    char ready;
    pid_t pid;
    int status;

    if (!helper_path())
        SKIP("tests/helpers/fallback_child is not built next to this test");
    CHECK_MSG(fx_open(f, 0, false), "open: %s", f->why);
    pid = spawn(f, NULL, argv);
    CHECK(pid > 0);
    CHECK(read(f->out, &ready, 1) == 1 && ready == 'r');
    CHECK(wait_for(f->s, YS_PROC_EXEC, (uint32_t)pid, NULL, 1));
    status = release_and_reap(f);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 9);
    CHECK_MSG(wait_for(f->s, YS_PROC_EXIT, (uint32_t)pid, NULL, 1), "no exit record for %d", (int)pid);
    pump_for(f->s, QUIET_MS);
    CHECK_INT(count_proc(YS_PROC_EXIT, (uint32_t)pid), ==, 1);
    CHECK_INT(((const struct ys_exit *)find_proc(YS_PROC_EXIT, (uint32_t)pid, 0))->exit_code, ==, 9 << 8);
    CHECK_INT(count_proc(YS_PROC_FORK, (uint32_t)pid), ==, 1); /* threads are no processes */
}

static void threads_one_exit(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    threads_one_exit_body(&f);
    fx_close(&f);
}

/* The main thread ends first (pthread_exit); the process lives on in its
 * threads and ends when one of them calls exit(): one exit record, then. */
static void leader_exits_first_body(struct fx *f)
{
    const char *const argv[] = {"fallback_child", "leader", "3", "11", NULL};
    struct timespec t0;
    char ready;
    pid_t pid;
    int status;

    if (!helper_path())
        SKIP("tests/helpers/fallback_child is not built next to this test");
    CHECK_MSG(fx_open(f, 0, false), "open: %s", f->why);
    pid = spawn(f, NULL, argv);
    CHECK(pid > 0);
    CHECK(read(f->out, &ready, 1) == 1 && ready == 'r');
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (stat_state(pid) != 'Z' && elapsed_ms(&t0) < WAIT_MS)
        sensor_poll(f->s, 20);
    CHECK_MSG(stat_state(pid) == 'Z', "the leader of %d did not end", (int)pid);
    pump_for(f->s, QUIET_MS);
    CHECK_INT(count_proc(YS_PROC_EXIT, (uint32_t)pid), ==, 0); /* it still runs */
    status = release_and_reap(f);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 11);
    CHECK_MSG(wait_for(f->s, YS_PROC_EXIT, (uint32_t)pid, NULL, 1), "no exit record for %d", (int)pid);
    pump_for(f->s, QUIET_MS);
    CHECK_INT(count_proc(YS_PROC_EXIT, (uint32_t)pid), ==, 1);
    CHECK_INT(((const struct ys_exit *)find_proc(YS_PROC_EXIT, (uint32_t)pid, 0))->exit_code, ==, 11 << 8);
}

static void leader_exits_first(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    leader_exits_first_body(&f);
    fx_close(&f);
}

static void uid_change_body(struct fx *f)
{
    const struct ys_creds *g, *u;
    int go[2], status;
    pid_t pid;
    char c = 'x';

    CHECK_MSG(fx_open(f, 0, false), "open: %s", f->why);
    CHECK(pipe2(go, O_CLOEXEC) == 0);
    pid = fork();
    if (pid == 0) {
        close(go[1]);
        if (read(go[0], &c, 1) != 1 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(1);
        _exit(0);
    }
    close(go[0]);
    f->pid = pid;
    f->in = go[1];
    CHECK(pid > 0);
    CHECK(wait_for(f->s, YS_PROC_FORK, (uint32_t)pid, NULL, 1));
    status = release_and_reap(f);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_MSG(wait_for(f->s, YS_CREDS, (uint32_t)pid, NULL, 2), "%zu credential records for %d",
              count_proc(YS_CREDS, (uint32_t)pid), (int)pid);
    CHECK(wait_for(f->s, YS_PROC_EXIT, (uint32_t)pid, NULL, 1));
    CHECK_INT(count_proc(YS_CREDS, (uint32_t)pid), ==, 2);
    g = find_proc(YS_CREDS, (uint32_t)pid, 0);
    u = find_proc(YS_CREDS, (uint32_t)pid, 1);
    /* setgid first: gids change, uids do not */
    CHECK_INT(g->h.task.gid, ==, 0);
    CHECK_INT(g->new_gid, ==, 65534);
    CHECK_INT(g->new_egid, ==, 65534);
    CHECK_INT(g->h.task.uid, ==, 0);
    CHECK_INT(g->new_uid, ==, 0);
    /* then setuid, from the gids set just before */
    CHECK_INT(u->h.task.uid, ==, 0);
    CHECK_INT(u->h.task.euid, ==, 0);
    CHECK_INT(u->new_uid, ==, 65534);
    CHECK_INT(u->new_euid, ==, 65534);
    CHECK_INT(u->h.task.gid, ==, 65534);
    CHECK_INT(u->new_gid, ==, 65534);
    CHECK_INT(u->h.flags & YS_F_PARTIAL, ==, 0);
    /* the exit record carries the identity as it ended */
    CHECK_INT(((const struct ys_exit *)find_proc(YS_PROC_EXIT, (uint32_t)pid, 0))->h.task.uid, ==, 65534);
}

static void uid_change(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    uid_change_body(&f);
    fx_close(&f);
}

/* exec, then setgid and setuid, all before the sensor reads the exec: /proc
 * already shows the new ids when the exec is read, and the changes must
 * still be reported from the ids the process had. */
static void uid_change_after_exec_body(struct fx *f)
{
    const char *const argv[] = {"fallback_child", "setuid", "65534", "4", NULL};
    const struct ys_creds *g, *u;
    const struct ys_exec *x;
    char ready;
    pid_t pid;
    int status;

    if (!helper_path())
        SKIP("tests/helpers/fallback_child is not built next to this test");
    CHECK_MSG(fx_open(f, 0, false), "open: %s", f->why);
    pid = spawn(f, NULL, argv);
    CHECK(pid > 0);
    CHECK(read(f->out, &ready, 1) == 1 && ready == 'r');
    CHECK_MSG(wait_for(f->s, YS_CREDS, (uint32_t)pid, NULL, 2), "%zu credential records for %d",
              count_proc(YS_CREDS, (uint32_t)pid), (int)pid);
    x = find_proc(YS_PROC_EXEC, (uint32_t)pid, 0);
    CHECK(x);
    CHECK_INT(x->h.task.uid, ==, 0); /* as it was at the exec */
    g = find_proc(YS_CREDS, (uint32_t)pid, 0);
    u = find_proc(YS_CREDS, (uint32_t)pid, 1);
    CHECK_INT(g->h.task.gid, ==, 0);
    CHECK_INT(g->new_gid, ==, 65534);
    CHECK_INT(u->h.task.uid, ==, 0);
    CHECK_INT(u->new_uid, ==, 65534);
    status = release_and_reap(f);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 4);
    CHECK(wait_for(f->s, YS_PROC_EXIT, (uint32_t)pid, NULL, 1));
    CHECK_INT(((const struct ys_exit *)find_proc(YS_PROC_EXIT, (uint32_t)pid, 0))->h.task.uid, ==, 65534);
    CHECK_INT(count_proc(YS_CREDS, (uint32_t)pid), ==, 2);
}

static void uid_change_after_exec(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    uid_change_after_exec_body(&f);
    fx_close(&f);
}

static void ptrace_attach_body(struct fx *f)
{
    const struct ys_ptrace *p = NULL;
    struct timespec t0;
    uint64_t start;
    int status;
    pid_t pid;

    CHECK_MSG(fx_open(f, 0, false), "open: %s", f->why);
    pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    CHECK(pid > 0);
    f->pid = pid;
    CHECK(wait_for(f->s, YS_PROC_FORK, (uint32_t)pid, NULL, 1));
    start = start_of(pid);
    CHECK(ptrace(PTRACE_ATTACH, pid, NULL, NULL) == 0);
    CHECK(waitpid(pid, &status, 0) == pid && WIFSTOPPED(status));
    CHECK(ptrace(PTRACE_DETACH, pid, NULL, NULL) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!p && elapsed_ms(&t0) < WAIT_MS) {
        sensor_poll(f->s, 50);
        for (size_t i = 0; i < R.n && !p; i++) {
            const struct ys_ptrace *r = (const struct ys_ptrace *)rec_at(i);
            if (r->h.type == YS_PTRACE && r->target_tgid == (uint32_t)pid)
                p = r;
        }
    }
    CHECK_MSG(p, "no ptrace record for %d", (int)pid);
    CHECK_INT(p->h.task.tgid, ==, getpid());
    CHECK_INT(p->request, ==, PTRACE_ATTACH);
    CHECK_INT(p->target_start_ns, ==, start);
    CHECK_INT(p->result, ==, 0);
}

static void ptrace_attach(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    ptrace_attach_body(&f);
    fx_close(&f);
}

/* The agent's own forks and files are not reported; its children's are. */
static void self_not_reported_body(struct fx *f)
{
    char mine[PATH_MAX + 64], theirs[PATH_MAX + 64];
    int status;
    pid_t pid;

    CHECK(fx_dir(f, "/tmp"));
    CHECK_MSG(fx_open(f, (uint32_t)getpid(), true), "open: %s", f->why);
    snprintf(mine, sizeof(mine), "%s/mine", f->dir);
    snprintf(theirs, sizeof(theirs), "%s/theirs", f->dir);
    CHECK(write_file(mine, 0644, "x"));
    pid = fork();
    if (pid == 0)
        _exit(write_file(theirs, 0644, "y") ? 0 : 1);
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_CREATE, 0, theirs, 1), "no create record for %s", theirs);
    CHECK(wait_for(f->s, YS_PROC_EXIT, (uint32_t)pid, NULL, 1));
    pump_for(f->s, QUIET_MS);
    CHECK_INT(find_file(YS_FILE_CREATE, theirs, 0)->h.task.tgid, ==, pid);
    CHECK_INT(count_file(YS_FILE_CREATE, mine), ==, 0);
    CHECK_INT(count_proc(YS_PROC_FORK, (uint32_t)pid), ==, 0);
}

static void self_not_reported(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    self_not_reported_body(&f);
    fx_close(&f);
}

/* One file through its life under /tmp (TEMP), each step read before the
 * next, so that every attribute change is told from a known earlier state. */
static void file_life_body(struct fx *f)
{
    char a[PATH_MAX + 64], b[PATH_MAX + 64], sub[PATH_MAX + 64];
    const struct timespec old[2] = {{.tv_sec = 978307200}, {.tv_sec = 978307200}};
    const struct ys_file *r;
    struct stat st;

    CHECK(fx_dir(f, "/tmp"));
    CHECK_MSG(fx_open(f, 0, true), "open: %s", f->why);
    snprintf(a, sizeof(a), "%s/a.txt", f->dir);
    snprintf(b, sizeof(b), "%s/b.txt", f->dir);
    snprintf(sub, sizeof(sub), "%s/sub", f->dir);

    CHECK(write_file(a, 0640, "hello"));
    CHECK_MSG(wait_for(f->s, YS_FILE_CREATE, 0, a, 1), "no create record for %s", a);
    CHECK(stat(a, &st) == 0);
    r = find_file(YS_FILE_CREATE, a, 0);
    CHECK_INT(r->h.task.tgid, ==, getpid());
    CHECK(r->class_bits & YS_CLASS_TEMP);
    CHECK_INT(r->mode, ==, S_IFREG | 0640);
    CHECK_INT(r->ino, ==, st.st_ino);
    CHECK_INT(r->uid, ==, 0);
    CHECK_INT(r->h.flags & (YS_F_PARTIAL | YS_F_EXECUTABLE | YS_F_HIDDEN), ==, 0);
    CHECK_INT(count_file(YS_FILE_MODIFY, a), ==, 0); /* the creating write is the creation */

    CHECK(append_file(a, " world"));
    CHECK_MSG(wait_for(f->s, YS_FILE_MODIFY, 0, a, 1), "no modify record for %s", a);
    r = find_file(YS_FILE_MODIFY, a, 0);
    CHECK_INT(r->h.flags & YS_F_TRUNCATED_OP, ==, 0);
    CHECK(append_file(a, "!"));
    CHECK_MSG(wait_for(f->s, YS_FILE_MODIFY, 0, a, 2), "no second modify record for %s", a);

    CHECK(chmod(a, 0700) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_CHMOD, 0, a, 1), "no chmod record for %s", a);
    r = find_file(YS_FILE_CHMOD, a, 0);
    CHECK_INT(r->mode & 07777, ==, 0700);
    CHECK_INT(r->h.flags & YS_F_PARTIAL, ==, 0);
    CHECK(r->h.flags & YS_F_EXECUTABLE);

    CHECK(chown(a, 65534, 65534) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_CHOWN, 0, a, 1), "no chown record for %s", a);
    r = find_file(YS_FILE_CHOWN, a, 0);
    CHECK_INT(r->uid, ==, 65534);
    CHECK_INT(r->gid, ==, 65534);

    CHECK(utimensat(AT_FDCWD, a, old, 0) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_UTIMES, 0, a, 1), "no utimes record for %s", a);
    r = find_file(YS_FILE_UTIMES, a, 0);
    CHECK_INT(r->mtime_sec, ==, 978307200);
    CHECK_INT(r->atime_sec, ==, 978307200);

    CHECK(utimensat(AT_FDCWD, a, NULL, 0) == 0); /* touch: "now" is no timestomping */
    CHECK(rename(a, b) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_RENAME, 0, a, 1), "no rename record for %s", a);
    r = find_file(YS_FILE_RENAME, a, 0);
    CHECK(str_eq(r, r->path2, b));
    CHECK(r->class_bits & YS_CLASS_TEMP);
    CHECK_INT(count_file(YS_FILE_UTIMES, a), ==, 1);
    CHECK_INT(count_file(YS_FILE_CHMOD, a), ==, 1);
    CHECK_INT(count_file(YS_FILE_CHOWN, a), ==, 1);

    CHECK(unlink(b) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_DELETE, 0, b, 1), "no delete record for %s", b);
    CHECK_INT(find_file(YS_FILE_DELETE, b, 0)->h.flags & YS_F_DIR, ==, 0);

    CHECK(mkdir(sub, 0755) == 0);
    CHECK(rmdir(sub) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_DELETE, 0, sub, 1), "no delete record for %s", sub);
    CHECK(find_file(YS_FILE_DELETE, sub, 0)->h.flags & YS_F_DIR);
    CHECK_INT(count_file(YS_FILE_CREATE, sub), ==, 0); /* only regular files, as eBPF */
    CHECK_MSG(!R.bad[0], "%s", R.bad);
}

static void file_life(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    file_life_body(&f);
    fx_close(&f);
}

/* Download, then chmod +x by another process, read in one go afterwards
 * (the state seen at the creation already holds the new mode): the change
 * is still reported. The same by the creating process itself is merged
 * into its creation by fanotify: the create record carries the mode. */
static void chmod_in_burst_body(struct fx *f)
{
    char tool[PATH_MAX + 64], own[PATH_MAX + 64];
    const struct ys_file *r;
    int status;
    pid_t pid;

    CHECK(fx_dir(f, "/tmp"));
    CHECK_MSG(fx_open(f, 0, true), "open: %s", f->why);
    snprintf(tool, sizeof(tool), "%s/tool", f->dir);
    snprintf(own, sizeof(own), "%s/own", f->dir);
    CHECK(write_file(tool, 0644, "#!/bin/sh\n"));
    pid = fork();
    if (pid == 0)
        _exit(chmod(tool, 0755) == 0 ? 0 : 1);
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(write_file(own, 0644, "#!/bin/sh\n"));
    CHECK(chmod(own, 0755) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_CHMOD, 0, tool, 1), "no chmod record for %s", tool);
    r = find_file(YS_FILE_CHMOD, tool, 0);
    CHECK_INT(r->mode & 07777, ==, 0755);
    CHECK_INT(r->h.task.tgid, ==, pid);
    CHECK(find_file(YS_FILE_CREATE, tool, 0));
    CHECK(marker(f, f->dir, "marker"));
    CHECK_INT(count_file(YS_FILE_CHMOD, tool), ==, 1);
    r = find_file(YS_FILE_CREATE, own, 0);
    CHECK(r);
    CHECK_MSG((r->h.flags & YS_F_EXECUTABLE) || find_file(YS_FILE_CHMOD, own, 0),
              "the new mode of %s is reported nowhere", own);
}

static void chmod_in_burst(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    chmod_in_burst_body(&f);
    fx_close(&f);
}

/* Many writes through one descriptor, read as separate events: one
 * record; a new open for writing is a new first write. */
static void modify_once_per_open_body(struct fx *f)
{
    char d[PATH_MAX + 64];
    int fd;

    CHECK(fx_dir(f, "/tmp"));
    CHECK_MSG(fx_open(f, 0, true), "open: %s", f->why);
    snprintf(d, sizeof(d), "%s/log", f->dir);
    CHECK(write_file(d, 0644, ""));
    CHECK(wait_for(f->s, YS_FILE_CREATE, 0, d, 1));
    fd = open(d, O_WRONLY | O_APPEND | O_CLOEXEC);
    CHECK(fd >= 0);
    for (int i = 0; i < 50; i++) {
        if (write(fd, "line\n", 5) != 5)
            break;
        sensor_poll(f->s, 0);
    }
    close(fd);
    CHECK(marker(f, f->dir, "marker1"));
    CHECK_INT(count_file(YS_FILE_MODIFY, d), ==, 1);
    CHECK(append_file(d, "again\n"));
    CHECK(marker(f, f->dir, "marker2"));
    CHECK_INT(count_file(YS_FILE_MODIFY, d), ==, 2);
}

static void modify_once_per_open(void)
{
    struct fx f;
    NEED_ROOT();
    fx_init(&f);
    modify_once_per_open_body(&f);
    fx_close(&f);
}

/* A plain file in an unclassified place (/var/lib, a tmpfs here) is left
 * out and counted; executables, hidden files and deletions there are not. */
static void filter_uninteresting_body(struct fx *f)
{
    const char *plain = "/var/lib/fbtest/data.txt", *exe = "/var/lib/fbtest/run.sh",
               *hidden = "/var/lib/fbtest/.cache", *dir = "/var/lib/fbtest";
    struct sensor_stats before, after;

    CHECK_MSG(fx_mount(f, "/var/lib"), "mount tmpfs on /var/lib: %s", strerror(errno));
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(fx_dir(f, "/tmp"));
    CHECK_MSG(fx_open(f, 0, true), "open: %s", f->why);
    sensor_get_stats(f->s, &before);
    CHECK(write_file(plain, 0644, "data"));
    CHECK(marker(f, f->dir, "marker1"));
    CHECK(append_file(plain, "more"));
    CHECK(write_file(exe, 0755, "#!/bin/sh\n"));
    CHECK(write_file(hidden, 0644, "h"));
    CHECK(marker(f, f->dir, "marker2"));
    sensor_get_stats(f->s, &after);
    CHECK_INT(count_file(YS_FILE_CREATE, plain), ==, 0);
    CHECK_INT(count_file(YS_FILE_MODIFY, plain), ==, 0);
    CHECK(after.filtered[YS_FILE_CREATE] > before.filtered[YS_FILE_CREATE]);
    CHECK(after.filtered[YS_FILE_MODIFY] > before.filtered[YS_FILE_MODIFY]);
    CHECK_MSG(find_file(YS_FILE_CREATE, exe, 0), "executable %s not kept", exe);
    CHECK(find_file(YS_FILE_CREATE, exe, 0)->h.flags & YS_F_EXECUTABLE);
    CHECK_MSG(find_file(YS_FILE_CREATE, hidden, 0), "hidden %s not kept", hidden);
    CHECK(find_file(YS_FILE_CREATE, hidden, 0)->h.flags & YS_F_HIDDEN);
    CHECK(unlink(plain) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_DELETE, 0, plain, 1), "no delete record for %s", plain);
    CHECK_INT(find_file(YS_FILE_DELETE, plain, 0)->class_bits, ==, 0);
}

static void filter_uninteresting(void)
{
    struct fx f;
    NEED_ROOT();
    NEED_NS();
    fx_init(&f);
    filter_uninteresting_body(&f);
    fx_close(&f);
}

/* A filesystem mounted after the sensor started is marked: a cron file
 * written there by another process is reported as persistence. */
static void persistence_on_new_mount_body(struct fx *f)
{
    const char *path = "/etc/cron.d/yamori-fbtest";
    const struct ys_file *r;
    int go[2], status;
    pid_t pid;
    char c;

    CHECK_MSG(fx_open(f, 0, true), "open: %s", f->why);
    CHECK_MSG(fx_mount(f, "/etc/cron.d"), "mount tmpfs on /etc/cron.d: %s", strerror(errno));
    sensor_poll(f->s, 100); /* the mount table changed: the sensor marks it */
    CHECK(pipe2(go, O_CLOEXEC) == 0);
    pid = fork();
    if (pid == 0) {
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        _exit(write_file(path, 0644, "* * * * * root /tmp/x\n") ? 0 : 1);
    }
    close(go[0]);
    f->pid = pid;
    f->in = go[1];
    CHECK(pid > 0);
    /* its fork is read while it lives; it has exited when its file event
     * is read, so its identity comes from the table */
    CHECK(wait_for(f->s, YS_PROC_FORK, (uint32_t)pid, NULL, 1));
    status = release_and_reap(f);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_MSG(wait_for(f->s, YS_FILE_CREATE, 0, path, 1), "no create record for %s", path);
    r = find_file(YS_FILE_CREATE, path, 0);
    CHECK(r->class_bits & YS_CLASS_PERSIST);
    CHECK_INT(r->h.task.tgid, ==, pid);
    CHECK_INT(r->h.flags & YS_F_PARTIAL, ==, 0); /* it exited: identity from the table */
    /* the sensor keeps no mount busy */
    CHECK_MSG(umount2("/etc/cron.d", 0) == 0, "umount /etc/cron.d: %s", strerror(errno));
    f->mounts[0] = NULL;
}

static void persistence_on_new_mount(void)
{
    struct fx f;
    NEED_ROOT();
    NEED_NS();
    fx_init(&f);
    persistence_on_new_mount_body(&f);
    fx_close(&f);
}

/* More events than the fanotify queue holds: the loss is counted. */
static void queue_overflow_counted_body(struct fx *f)
{
    struct sensor_stats st;
    struct timespec t0;
    char buf[64], path[PATH_MAX];
    long max;
    int fd;

    fd = open("/proc/sys/fs/fanotify/max_queued_events", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    memset(buf, 0, sizeof(buf));
    CHECK(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    max = strtol(buf, NULL, 10);
    if (max <= 0 || max > 200000)
        SKIP("fs.fanotify.max_queued_events is %ld: too large to fill in a test", max);
    CHECK_MSG(fx_mount(f, "/var/tmp"), "mount tmpfs on /var/tmp: %s", strerror(errno));
    CHECK(fx_dir(f, "/tmp"));
    CHECK_MSG(fx_open(f, 0, true), "open: %s", f->why);
    for (long i = 0; i < max + 2000; i++) {
        snprintf(path, sizeof(path), "/var/tmp/f%ld", i);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        sensor_poll(f->s, 50);
        sensor_get_stats(f->s, &st);
    } while (st.dropped[YS_FILE_MODIFY] == 0 && elapsed_ms(&t0) < WAIT_MS);
    CHECK_MSG(st.dropped[YS_FILE_MODIFY] > 0, "no loss counted after %ld creations", max + 2000);
    /* and it goes on working */
    CHECK(marker(f, f->dir, "after"));
}

static void queue_overflow_counted(void)
{
    struct fx f;
    NEED_ROOT();
    NEED_NS();
    fx_init(&f);
    queue_overflow_counted_body(&f);
    fx_close(&f);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"limitations", limitations},
        {"exec_fork_exit", exec_fork_exit},
        {"short_lived", short_lived},
        {"threads_one_exit", threads_one_exit},
        {"leader_exits_first", leader_exits_first},
        {"uid_change", uid_change},
        {"uid_change_after_exec", uid_change_after_exec},
        {"ptrace_attach", ptrace_attach},
        {"self_not_reported", self_not_reported},
        {"file_life", file_life},
        {"chmod_in_burst", chmod_in_burst},
        {"modify_once_per_open", modify_once_per_open},
        {"filter_uninteresting", filter_uninteresting},
        {"persistence_on_new_mount", persistence_on_new_mount},
        {"queue_overflow_counted", queue_overflow_counted},
        {NULL, NULL},
    };

    if (check_is_root()) {
        if (unshare(CLONE_NEWNS) != 0)
            snprintf(ns_why, sizeof(ns_why), "unshare(CLONE_NEWNS): %s", strerror(errno));
        else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
            snprintf(ns_why, sizeof(ns_why), "making / private: %s", strerror(errno));
        else
            ns_ready = true;
    }
    return check_main("fallback", cases, argc, argv);
}
