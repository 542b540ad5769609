/*
 * test_sensor.c — the agent against the real kernel.
 *
 * Each case starts the real yamori-agent (sanitizer build; the storms use
 * the release build, whose speed is what zero loss is promised for), does
 * something on the machine, and checks the events the agent printed:
 * exact fields, parent chain and unique ids. Process cases run with both
 * sensor back ends. Everything that writes to system locations does so in
 * a private mount namespace with tmpfs over what it writes.
 *
 * Needs root; every case skips with the reason otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agentproc.h"
#include "check.h"

#define WAIT_MS 30000
static char err[4096];

#define NEED_ROOT()                                                                          \
    do {                                                                                     \
        if (!check_is_root())                                                                \
            SKIP("needs root to load the sensor (running as uid %d)", (int)geteuid());       \
    } while (0)

static struct agentproc *start_agent(const char *sensor, bool release)
{
    char arg[64];
    const char *args[8] = {NULL};
    int n = 0;

    snprintf(arg, sizeof(arg), "--sensor=%s", sensor);
    args[n++] = arg;
    args[n++] = "--no-logons";
    args[n] = NULL;
    return agentproc_start(agentproc_binary(release), args, err, sizeof(err));
}

static char *itoa_buf(long v, char *buf, size_t len)
{
    snprintf(buf, len, "%ld", v);
    return buf;
}

/* A child that waits on a pipe before doing its work, so that the test can
 * read its identity from /proc first. */
struct held_child {
    pid_t pid;
    int release_fd;
};

static void release_child(struct held_child *c)
{
    char x = 'x';
    (void)!write(c->release_fd, &x, 1);
    close(c->release_fd);
}

static void wait_released(int fd)
{
    char x;
    (void)!read(fd, &x, 1);
    close(fd);
}

/* ------------------------------------------------------------------ process events */

static void exec_fields(const char *sensor)
{
    char tmpdir[] = "/tmp/yamori-exec-XXXXXX";
    char child_uid[64], self_uid[64], pidbuf[32], ppidbuf[32], selfbuf[32];
    struct agentproc *a;
    struct held_child c;
    int pfd[2], status;
    json_t *ev;

    NEED_ROOT();
    CHECK(mkdtemp(tmpdir) != NULL);
    a = start_agent(sensor, false);
    CHECK_MSG(a, "%s", err);
    CHECK(pipe(pfd) == 0);
    c.pid = fork();
    if (c.pid == 0) {
        close(pfd[1]);
        wait_released(pfd[0]);
        if (chdir(tmpdir) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(99);
        /* the shell sleeps long enough for /proc to be read by the fallback */
        execl("/bin/sh", "sh", "-c", "sleep 0.3; exit 0", "yamori-argv-marker", (char *)NULL);
        _exit(98);
    }
    close(pfd[0]);
    c.release_fd = pfd[1];
    CHECK(agentproc_unique_id(c.pid, child_uid, sizeof(child_uid)));
    CHECK(agentproc_unique_id(getpid(), self_uid, sizeof(self_uid)));
    release_child(&c);
    waitpid(c.pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessCreated", "ProcessId", itoa_buf(c.pid, pidbuf, 32),
                        "FolderPath", "/usr/bin/dash", NULL);
    CHECK_MSG(ev, "no ProcessCreated for the child %d (%s)", c.pid, sensor);
    char t[512];
    CHECK_STR(agentproc_text(ev, "ProcessCommandLine", t, sizeof(t)), "sh -c sleep 0.3; exit 0 yamori-argv-marker");
    CHECK_STR(agentproc_text(ev, "FileName", t, sizeof(t)), "dash");
    CHECK_STR(agentproc_text(ev, "ProcessCurrentDirectory", t, sizeof(t)), tmpdir);
    CHECK_STR(agentproc_text(ev, "AccountUid", t, sizeof(t)), "65534");
    CHECK_STR(agentproc_text(ev, "AccountName", t, sizeof(t)), "nobody");
    CHECK_STR(agentproc_text(ev, "AccountGid", t, sizeof(t)), "65534");
    CHECK_STR(agentproc_text(ev, "ProcessUniqueId", t, sizeof(t)), child_uid);
    CHECK_STR(agentproc_text(ev, "ProcessArgumentCount", t, sizeof(t)), "4");
    CHECK_STR(agentproc_text(ev, "InitiatingProcessId", t, sizeof(t)), itoa_buf(getpid(), selfbuf, 32));
    CHECK_STR(agentproc_text(ev, "InitiatingProcessUniqueId", t, sizeof(t)), self_uid);
    CHECK_STR(agentproc_text(ev, "InitiatingProcessParentId", t, sizeof(t)), itoa_buf(getppid(), ppidbuf, 32));
    CHECK_STR(agentproc_text(ev, "SensorSource", t, sizeof(t)), sensor);
    CHECK_STR(agentproc_text(ev, "PackageName", t, sizeof(t)), "dash");
    CHECK(json_object_get(ev, "ProcessCreationTime") != NULL);
    /* the shell's own child, sleep, names the shell as its parent */
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessCreated", "FileName", "sleep", "InitiatingProcessId",
                        pidbuf, NULL);
    CHECK_MSG(ev, "no ProcessCreated for sleep under the shell");
    CHECK_STR(agentproc_text(ev, "InitiatingProcessUniqueId", t, sizeof(t)), child_uid);
    CHECK_STR(agentproc_text(ev, "InitiatingProcessParentUniqueId", t, sizeof(t)), self_uid);
    CHECK(agentproc_stop(a) == 0);
    rmdir(tmpdir);
}

static void ebpf_exec_fields(void) { exec_fields("ebpf"); }
static void fallback_exec_fields(void) { exec_fields("fallback"); }

static void exit_codes(const char *sensor)
{
    struct agentproc *a;
    char pidbuf[32], t[64];
    pid_t p1, p2;
    json_t *ev;

    NEED_ROOT();
    a = start_agent(sensor, false);
    CHECK_MSG(a, "%s", err);
    p1 = fork();
    if (p1 == 0)
        _exit(42);
    p2 = fork();
    if (p2 == 0) {
        pause();
        _exit(0);
    }
    waitpid(p1, NULL, 0);
    kill(p2, SIGKILL);
    waitpid(p2, NULL, 0);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessExited", "ProcessId", itoa_buf(p1, pidbuf, 32), NULL);
    CHECK_MSG(ev, "no ProcessExited for %d", p1);
    CHECK_STR(agentproc_text(ev, "ProcessExitCode", t, sizeof(t)), "42");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessExited", "ProcessId", itoa_buf(p2, pidbuf, 32), NULL);
    CHECK_MSG(ev, "no ProcessExited for %d", p2);
    CHECK_STR(agentproc_text(ev, "ProcessExitSignal", t, sizeof(t)), "9");
    /* a forked child that never exec'd is reported as a fork */
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessForked", "ProcessId", itoa_buf(p1, pidbuf, 32), NULL);
    CHECK_MSG(ev, "no ProcessForked for %d", p1);
    CHECK(agentproc_stop(a) == 0);
}

static void ebpf_exit_codes(void) { exit_codes("ebpf"); }
static void fallback_exit_codes(void) { exit_codes("fallback"); }

static void *thread_body(void *arg)
{
    (void)arg;
    usleep(50000);
    return NULL;
}

static void threads_one_exit(const char *sensor)
{
    struct agentproc *a;
    char pidbuf[32];
    pid_t p;
    int n;

    NEED_ROOT();
    a = start_agent(sensor, false);
    CHECK_MSG(a, "%s", err);
    p = fork();
    if (p == 0) {
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&th[i], NULL, thread_body, NULL);
        usleep(10000);
        _exit(3); /* exit_group with threads still running */
    }
    waitpid(p, NULL, 0);
    CHECK(agentproc_wait(a, WAIT_MS, "ActionType", "ProcessExited", "ProcessId", itoa_buf(p, pidbuf, 32), NULL));
    n = agentproc_count(a, 500, "ActionType", "ProcessExited", "ProcessId", pidbuf, NULL);
    CHECK_INT(n, ==, 1);
    /* threads are not processes: no fork event names the child as parent */
    n = agentproc_count(a, 0, "ActionType", "ProcessForked", "InitiatingProcessId", pidbuf, NULL);
    CHECK_INT(n, ==, 0);
    CHECK(agentproc_stop(a) == 0);
}

static void ebpf_threads_one_exit(void) { threads_one_exit("ebpf"); }
static void fallback_threads_one_exit(void) { threads_one_exit("fallback"); }

/* The SHA-256 of a file, as hex, computed here independently of the agent. */
static bool sha256_file(const char *path, char out[65])
{
    unsigned char buf[65536], md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rb");
    size_t n;
    bool ok = f && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

    while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        ok = EVP_DigestUpdate(ctx, buf, n);
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    for (unsigned i = 0; ok && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    if (f)
        fclose(f);
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* A process that has exited before the agent reads its record still gets
 * the SHA-256 of its image and its package. */
static void short_lived_image_hash(const char *sensor)
{
    struct agentproc *a;
    char pidbuf[32], expect[65], t[128];
    pid_t p;
    json_t *ev;

    NEED_ROOT();
    CHECK(sha256_file("/usr/bin/true", expect));
    a = start_agent(sensor, false);
    CHECK_MSG(a, "%s", err);
    p = fork();
    if (p == 0) {
        execl("/usr/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    waitpid(p, NULL, 0);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessCreated", "ProcessId", itoa_buf(p, pidbuf, 32), NULL);
    CHECK_MSG(ev, "no ProcessCreated for %d", p);
    CHECK_MSG(json_object_get(ev, "SHA256"), "no SHA256 (SHA256Skipped: %s)",
              agentproc_text(ev, "SHA256Skipped", t, sizeof(t)));
    CHECK_STR(agentproc_text(ev, "SHA256", t, sizeof(t)), expect);
    CHECK_STR(agentproc_text(ev, "PackageName", t, sizeof(t)), "coreutils");
    CHECK(agentproc_stop(a) == 0);
}

static void ebpf_short_lived_image_hash(void) { short_lived_image_hash("ebpf"); }

/* A process that runs before the agent starts comes with its lineage. */
static void snapshot_lineage(const char *sensor)
{
    struct agentproc *a;
    char pidbuf[32], self_uid[64], t[256];
    pid_t p;
    json_t *ev;

    NEED_ROOT();
    p = fork();
    if (p == 0) {
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(1);
    }
    usleep(100000);
    CHECK(agentproc_unique_id(getpid(), self_uid, sizeof(self_uid)));
    a = start_agent(sensor, false);
    CHECK_MSG(a, "%s", err);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessSnapshot", "ProcessId", itoa_buf(p, pidbuf, 32), NULL);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    CHECK_MSG(ev, "no ProcessSnapshot for %d", p);
    CHECK_STR(agentproc_text(ev, "ProcessCommandLine", t, sizeof(t)), "sleep 30");
    CHECK_STR(agentproc_text(ev, "FolderPath", t, sizeof(t)), "/usr/bin/sleep");
    CHECK_STR(agentproc_text(ev, "InitiatingProcessUniqueId", t, sizeof(t)), self_uid);
    CHECK_STR(agentproc_text(ev, "SensorSource", t, sizeof(t)), "procfs");
    /* and its exit is attributed to the same process */
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessExited", "ProcessId", pidbuf, NULL);
    CHECK_MSG(ev, "no ProcessExited for the snapshot process");
    CHECK_STR(agentproc_text(ev, "FolderPath", t, sizeof(t)), "/usr/bin/sleep");
    CHECK(agentproc_stop(a) == 0);
}

static void ebpf_snapshot_lineage(void) { snapshot_lineage("ebpf"); }
static void fallback_snapshot_lineage(void) { snapshot_lineage("fallback"); }

/* ------------------------------------------------------------------ files */

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd >= 0) {
        (void)!write(fd, text, strlen(text));
        close(fd);
    }
}

static void file_ops_temp(void)
{
    char dir[] = "/tmp/yamori-file-XXXXXX", p1[128], p2[128], p3[128], rel[128], pidbuf[32], t[256];
    struct agentproc *a;
    json_t *ev;
    int fd;

    NEED_ROOT();
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p1, sizeof(p1), "%s/a.txt", dir);
    snprintf(p2, sizeof(p2), "%s/b.txt", dir);
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    itoa_buf(getpid(), pidbuf, sizeof(pidbuf));

    write_file(p1, "one\n", 0644);                       /* create */
    fd = open(p1, O_WRONLY | O_APPEND);                  /* modify: first write only */
    CHECK(fd >= 0);
    CHECK(write(fd, "two\n", 4) == 4);
    CHECK(write(fd, "three\n", 6) == 6);
    close(fd);
    CHECK(rename(p1, p2) == 0);                          /* rename */
    CHECK(chmod(p2, 0750) == 0);                         /* chmod */
    CHECK(chown(p2, 65534, 65534) == 0);                 /* chown */
    {
        struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
        CHECK(utimensat(AT_FDCWD, p2, ts, 0) == 0);      /* timestomp */
    }
    snprintf(p3, sizeof(p3), "%s/hard", dir);
    CHECK(link(p2, p3) == 0);                            /* hard link */
    CHECK(unlink(p3) == 0);
    {
        char cwd[4096];
        CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
        CHECK(chdir(dir) == 0);
        snprintf(rel, sizeof(rel), "./../%s/b.txt", strrchr(dir, '/') + 1);
        CHECK(unlink(rel) == 0);                         /* delete, by a relative path */
        CHECK(chdir(cwd) == 0);
    }
    CHECK(rmdir(dir) == 0);

    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileCreated", "FolderPath", p1, NULL);
    CHECK_MSG(ev, "no FileCreated %s", p1);
    CHECK_STR(agentproc_text(ev, "InitiatingProcessId", t, sizeof(t)), pidbuf);
    CHECK_STR(agentproc_text(ev, "LocationTag", t, sizeof(t)), "temp");
    CHECK_STR(agentproc_text(ev, "FileName", t, sizeof(t)), "a.txt");
    CHECK(agentproc_wait(a, WAIT_MS, "ActionType", "FileModified", "FolderPath", p1, NULL));
    CHECK_INT(agentproc_count(a, 0, "ActionType", "FileModified", "FolderPath", p1, NULL), ==, 1);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileRenamed", "FolderPath", p2, NULL);
    CHECK_MSG(ev, "no FileRenamed to %s", p2);
    CHECK_STR(agentproc_text(ev, "PreviousFolderPath", t, sizeof(t)), p1);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FilePermissionsChanged", "FolderPath", p2, NULL);
    CHECK_MSG(ev, "no FilePermissionsChanged");
    CHECK_STR(agentproc_text(ev, "FileMode", t, sizeof(t)), "0750");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileOwnerChanged", "FolderPath", p2, NULL);
    CHECK_MSG(ev, "no FileOwnerChanged");
    CHECK_STR(agentproc_text(ev, "FileOwnerUid", t, sizeof(t)), "65534");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileTimestampChanged", "FolderPath", p2, NULL);
    CHECK_MSG(ev, "no FileTimestampChanged");
    CHECK_STR(agentproc_text(ev, "FileModificationTimeSet", t, sizeof(t)), "2001-09-09T01:46:40.000000000Z");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileCreated", "FolderPath", p3, NULL);
    CHECK_MSG(ev, "no FileCreated for the hard link %s", p3);
    CHECK_STR(agentproc_text(ev, "LinkType", t, sizeof(t)), "hardlink");
    CHECK_STR(agentproc_text(ev, "LinkTarget", t, sizeof(t)), p2);
    CHECK_MSG(agentproc_wait(a, WAIT_MS, "ActionType", "FileDeleted", "FolderPath", p2, NULL),
              "no FileDeleted for %s (deleted by the relative path %s)", p2, rel);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileDeleted", "FolderPath", dir, NULL);
    CHECK_MSG(ev, "no FileDeleted for the directory");
    CHECK_STR(agentproc_text(ev, "IsDirectory", t, sizeof(t)), "true");
    CHECK(agentproc_stop(a) == 0);
}

/* Writes the way shells and tools really do them: an append through a
 * redirection (the shell moves the descriptor to 1 before writing), a
 * truncating redirection, truncate(1), and a write by a child that inherited
 * the descriptor. */
static void file_writes_as_shells_do(void)
{
    char dir[] = "/tmp/yamori-sh-XXXXXX", a[96], b[96], c[96], d[96], cmd[1024], t[64];
    struct agentproc *a_;
    json_t *ev;

    NEED_ROOT();
    CHECK(mkdtemp(dir) != NULL);
    snprintf(a, sizeof(a), "%s/appended", dir);
    snprintf(b, sizeof(b), "%s/emptied", dir);
    snprintf(c, sizeof(c), "%s/truncated", dir);
    snprintf(d, sizeof(d), "%s/by-child", dir);
    write_file(a, "1\n", 0644);
    write_file(b, "secret\n", 0644);
    write_file(c, "secret\n", 0644);
    write_file(d, "1\n", 0644);
    a_ = start_agent("ebpf", false);
    CHECK_MSG(a_, "%s", err);
    snprintf(cmd, sizeof(cmd), "echo 2 >> %s; : > %s; truncate -s 0 %s; (cat /etc/hostname) >> %s", a, b, c, d);
    CHECK(system(cmd) == 0);
    ev = agentproc_wait(a_, WAIT_MS, "ActionType", "FileModified", "FolderPath", a, NULL);
    CHECK_MSG(ev, "no FileModified for an append through a redirection %s", agentproc_diag(a_));
    ev = agentproc_wait(a_, WAIT_MS, "ActionType", "FileModified", "FolderPath", b, NULL);
    CHECK_MSG(ev, "no FileModified for a truncating redirection");
    CHECK_STR(agentproc_text(ev, "FileTruncated", t, sizeof(t)), "true");
    ev = agentproc_wait(a_, WAIT_MS, "ActionType", "FileModified", "FolderPath", c, NULL);
    CHECK_MSG(ev, "no FileModified for truncate(1)");
    CHECK_STR(agentproc_text(ev, "FileTruncated", t, sizeof(t)), "true");
    ev = agentproc_wait(a_, WAIT_MS, "ActionType", "FileModified", "FolderPath", d, "InitiatingProcessFileName", "cat", NULL);
    CHECK_MSG(ev, "no FileModified by the child that inherited the descriptor");
    CHECK(agentproc_stop(a_) == 0);
    unlink(a);
    unlink(b);
    unlink(c);
    unlink(d);
    rmdir(dir);
}

/* Writes under /etc/cron.d and /root/.ssh in a private mount namespace with
 * tmpfs over /etc and /root: nothing on the machine changes. */
static void file_persistence_namespace(void)
{
    struct agentproc *a;
    char pidbuf[32], t[256];
    pid_t p;
    int status;
    json_t *ev;

    NEED_ROOT();
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    p = fork();
    if (p == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
            _exit(10);
        if (mount("tmpfs", "/etc", "tmpfs", 0, "size=4m") != 0 || mount("tmpfs", "/root", "tmpfs", 0, "size=4m") != 0)
            _exit(11);
        if (mkdir("/etc/cron.d", 0755) != 0 || mkdir("/root/.ssh", 0700) != 0)
            _exit(12);
        write_file("/etc/cron.d/awsd", "@reboot root /usr/lib/runtime\n", 0644);
        write_file("/root/.ssh/authorized_keys", "ssh-ed25519 AAAA attacker\n", 0600);
        write_file("/etc/ld.so.preload", "/tmp/x.so\n", 0644);
        /* what `systemctl enable awsd` does */
        if (mkdir("/etc/systemd", 0755) != 0 || mkdir("/etc/systemd/system", 0755) != 0 ||
            mkdir("/etc/systemd/system/multi-user.target.wants", 0755) != 0)
            _exit(13);
        write_file("/etc/systemd/system/awsd.service", "[Service]\nExecStart=/usr/lib/runtime\n", 0644);
        if (symlink("/etc/systemd/system/awsd.service", "/etc/systemd/system/multi-user.target.wants/awsd.service"))
            _exit(14);
        _exit(0);
    }
    waitpid(p, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sandbox set-up failed: %d", WEXITSTATUS(status));
    itoa_buf(p, pidbuf, sizeof(pidbuf));
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileCreated", "FolderPath", "/etc/cron.d/awsd", NULL);
    CHECK_MSG(ev, "no FileCreated for /etc/cron.d/awsd");
    CHECK_STR(agentproc_text(ev, "LocationTag", t, sizeof(t)), "persistence:cron");
    CHECK_STR(agentproc_text(ev, "InitiatingProcessId", t, sizeof(t)), pidbuf);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileCreated", "FolderPath", "/root/.ssh/authorized_keys", NULL);
    CHECK_MSG(ev, "no FileCreated for authorized_keys");
    CHECK_STR(agentproc_text(ev, "LocationTag", t, sizeof(t)), "persistence:ssh-key");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileCreated", "FolderPath", "/etc/ld.so.preload", NULL);
    CHECK_MSG(ev, "no FileCreated for /etc/ld.so.preload");
    CHECK_STR(agentproc_text(ev, "LocationTag", t, sizeof(t)), "security:ld-preload");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "FileCreated", "FolderPath",
                        "/etc/systemd/system/multi-user.target.wants/awsd.service", NULL);
    CHECK_MSG(ev, "no FileCreated for the systemd wants link");
    CHECK_STR(agentproc_text(ev, "LinkType", t, sizeof(t)), "symlink");
    CHECK_STR(agentproc_text(ev, "LinkTarget", t, sizeof(t)), "/etc/systemd/system/awsd.service");
    CHECK_STR(agentproc_text(ev, "LocationTag", t, sizeof(t)), "persistence:systemd");
    CHECK(agentproc_stop(a) == 0);
}

/* Writes to ordinary data files are filtered in the kernel and counted;
 * the same write to a temp file is reported. */
static void file_filter(void)
{
    char dir[64], data[96], tmpf[96];
    struct agentproc *a;
    json_t *st, *filtered;
    int fd;

    NEED_ROOT();
    snprintf(dir, sizeof(dir), "/var/lib/yamori-test-%d", (int)getpid());
    snprintf(data, sizeof(data), "%s/data.db", dir);
    snprintf(tmpf, sizeof(tmpf), "/tmp/yamori-filter-%d", (int)getpid());
    CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
    write_file(data, "x", 0600);
    write_file(tmpf, "x", 0600);
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    fd = open(data, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "y", 1) == 1);
    close(fd);
    fd = open(tmpf, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "y", 1) == 1);
    close(fd);
    CHECK_MSG(agentproc_wait(a, WAIT_MS, "ActionType", "FileModified", "FolderPath", tmpf, NULL),
              "no FileModified for %s %s", tmpf, agentproc_diag(a));
    CHECK(agentproc_find(a, 1500, "FolderPath", data, NULL) == NULL);
    st = agentproc_status(a);
    CHECK(st != NULL);
    filtered = json_object_get(json_object_get(st, "RecordsFiltered"), "file_modify");
    CHECK_MSG(json_integer_value(filtered) > 0, "the filtered write was not counted");
    json_decref(st);
    CHECK(agentproc_stop(a) == 0);
    unlink(data);
    unlink(tmpf);
    rmdir(dir);
}

/* ------------------------------------------------------------------ network */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static void tcp_pair(int family, const char *addr_text, struct agentproc *a)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    int lfd, cfd, afd;
    char port[16], lport[16], t[128];
    json_t *ev;

    lfd = socket(family, SOCK_STREAM, 0);
    CHECK(lfd >= 0);
    if (family == AF_INET) {
        struct sockaddr_in *s = (void *)&ss;
        s->sin_family = AF_INET;
        inet_pton(AF_INET, addr_text, &s->sin_addr);
        sl = sizeof(*s);
    } else {
        struct sockaddr_in6 *s = (void *)&ss;
        s->sin6_family = AF_INET6;
        inet_pton(AF_INET6, addr_text, &s->sin6_addr);
        sl = sizeof(*s);
    }
    CHECK(bind(lfd, (void *)&ss, sl) == 0 && listen(lfd, 4) == 0);
    CHECK(getsockname(lfd, (void *)&ss, &sl) == 0);
    cfd = socket(family, SOCK_STREAM, 0);
    CHECK(connect(cfd, (void *)&ss, sl) == 0);
    afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0);
    snprintf(port, sizeof(port), "%d", ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                               : ((struct sockaddr_in6 *)&ss)->sin6_port));
    {
        struct sockaddr_storage cs;
        socklen_t csl = sizeof(cs);
        getsockname(cfd, (void *)&cs, &csl);
        snprintf(lport, sizeof(lport), "%d", ntohs(family == AF_INET ? ((struct sockaddr_in *)&cs)->sin_port
                                                                     : ((struct sockaddr_in6 *)&cs)->sin6_port));
    }
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ListeningConnectionCreated", "LocalPort", port, NULL);
    CHECK_MSG(ev, "no ListeningConnectionCreated on %s port %s", addr_text, port);
    CHECK_STR(agentproc_text(ev, "LocalIP", t, sizeof(t)), addr_text);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ConnectionSuccess", "RemotePort", port, "LocalPort", lport, NULL);
    CHECK_MSG(ev, "no ConnectionSuccess to %s port %s", addr_text, port);
    CHECK_STR(agentproc_text(ev, "RemoteIP", t, sizeof(t)), addr_text);
    CHECK_STR(agentproc_text(ev, "Protocol", t, sizeof(t)), "Tcp");
    CHECK_STR(agentproc_text(ev, "RemoteIPType", t, sizeof(t)), "Loopback");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "InboundConnectionAccepted", "LocalPort", port, "RemotePort",
                        lport, NULL);
    CHECK_MSG(ev, "no InboundConnectionAccepted on port %s", port);
    close(afd);
    close(cfd);
    close(lfd);
}

static void net_tcp(void)
{
    struct agentproc *a;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(1)};
    int fd;
    char pidbuf[32], t[64];
    json_t *ev;

    NEED_ROOT();
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    tcp_pair(AF_INET, "127.0.0.1", a);
    tcp_pair(AF_INET6, "::1", a);
    /* a refused connection (port 1 on loopback has no listener here) */
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (void *)&sin, sizeof(sin)) != 0);
    close(fd);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ConnectionFailed", "RemotePort", "1", "InitiatingProcessId",
                        itoa_buf(getpid(), pidbuf, 32), NULL);
    CHECK_MSG(ev, "no ConnectionFailed");
    CHECK_STR(agentproc_text(ev, "ConnectionError", t, sizeof(t)), "ECONNREFUSED");
    CHECK(agentproc_stop(a) == 0);
}

static void net_udp(void)
{
    struct agentproc *a;
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(39999)};
    char pidbuf[32];
    int fd;

    NEED_ROOT();
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    for (int i = 0; i < 5; i++)
        CHECK(sendto(fd, "x", 1, 0, (void *)&dst, sizeof(dst)) == 1);
    close(fd);
    itoa_buf(getpid(), pidbuf, sizeof(pidbuf));
    CHECK(agentproc_wait(a, WAIT_MS, "ActionType", "ConnectionSuccess", "Protocol", "Udp", "RemotePort", "39999",
                         "InitiatingProcessId", pidbuf, NULL));
    /* first datagram per 5-tuple only */
    CHECK_INT(agentproc_count(a, 500, "Protocol", "Udp", "RemotePort", "39999", "InitiatingProcessId", pidbuf, NULL),
              ==, 1);
    CHECK(agentproc_stop(a) == 0);
}

/* ------------------------------------------------------------------ security events */

static void ptrace_attach(void)
{
    struct agentproc *a;
    char tpid[32], apid[32], t[64];
    pid_t target, tracer;
    json_t *ev;

    NEED_ROOT();
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    target = fork();
    if (target == 0) {
        pause();
        _exit(0);
    }
    tracer = fork();
    if (tracer == 0) {
        if (ptrace(PTRACE_ATTACH, target, NULL, NULL) != 0)
            _exit(1);
        waitpid(target, NULL, 0);
        ptrace(PTRACE_DETACH, target, NULL, NULL);
        _exit(0);
    }
    waitpid(tracer, NULL, 0);
    kill(target, SIGKILL);
    waitpid(target, NULL, 0);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "PtraceAttach", "InitiatingProcessId",
                        itoa_buf(tracer, apid, 32), NULL);
    CHECK_MSG(ev, "no PtraceAttach by %d", tracer);
    CHECK_STR(agentproc_text(ev, "TargetProcessId", t, sizeof(t)), itoa_buf(target, tpid, 32));
    CHECK_STR(agentproc_text(ev, "PtraceRequest", t, sizeof(t)), "attach");
    CHECK_STR(agentproc_text(ev, "PtraceResult", t, sizeof(t)), "0");
    CHECK(agentproc_stop(a) == 0);
}

static void setuid_change(void)
{
    struct agentproc *a;
    char pidbuf[32], t[64];
    pid_t p;
    json_t *ev;

    NEED_ROOT();
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    p = fork();
    if (p == 0)
        _exit(setresuid(65534, 65534, 65534) == 0 ? 0 : 1);
    waitpid(p, NULL, 0);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessCredentialsChanged", "InitiatingProcessId",
                        itoa_buf(p, pidbuf, 32), NULL);
    CHECK_MSG(ev, "no ProcessCredentialsChanged");
    CHECK_STR(agentproc_text(ev, "AccountUid", t, sizeof(t)), "0");
    CHECK_STR(agentproc_text(ev, "NewAccountUid", t, sizeof(t)), "65534");
    CHECK_STR(agentproc_text(ev, "NewEffectiveUid", t, sizeof(t)), "65534");
    CHECK(agentproc_stop(a) == 0);
}

/* Fileless execution: an ELF copied into a memfd and executed from it. */
static void memfd_exec(void)
{
    struct agentproc *a;
    char pidbuf[32], t[64];
    pid_t p;
    json_t *ev;

    NEED_ROOT();
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    p = fork();
    if (p == 0) {
        int in = open("/usr/bin/true", O_RDONLY);
        int fd = (int)syscall(SYS_memfd_create, "yamori-memfd-test", 0);
        char buf[65536];
        ssize_t n;
        static char name[] = "true-from-memory";
        char *const argv[] = {name, NULL};
        char *const envp[] = {NULL};
        if (in < 0 || fd < 0)
            _exit(1);
        while ((n = read(in, buf, sizeof(buf))) > 0)
            if (write(fd, buf, (size_t)n) != n)
                _exit(2);
        fexecve(fd, argv, envp);
        _exit(3);
    }
    waitpid(p, NULL, 0);
    itoa_buf(p, pidbuf, sizeof(pidbuf));
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "MemfdCreated", "InitiatingProcessId", pidbuf, NULL);
    CHECK_MSG(ev, "no MemfdCreated");
    CHECK_STR(agentproc_text(ev, "MemfdName", t, sizeof(t)), "yamori-memfd-test");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "ProcessCreated", "ProcessId", pidbuf, NULL);
    CHECK_MSG(ev, "no ProcessCreated for the memfd exec");
    CHECK_STR(agentproc_text(ev, "ProcessImageMemfd", t, sizeof(t)), "true");
    CHECK_STR(agentproc_text(ev, "FolderPath", t, sizeof(t)), "/memfd:yamori-memfd-test");
    CHECK_STR(agentproc_text(ev, "MemfdName", t, sizeof(t)), "yamori-memfd-test");
    CHECK(json_object_get(ev, "PackageName") == NULL);
    CHECK(agentproc_stop(a) == 0);
}

static void bpf_prog_load_event(void)
{
    struct bpf_insn insns[2] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    union bpf_attr attr;
    struct agentproc *a;
    char pidbuf[32], t[64];
    json_t *ev;
    int fd;

    NEED_ROOT();
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insn_cnt = 2;
    attr.insns = (unsigned long)insns;
    attr.license = (unsigned long)"GPL";
    snprintf(attr.prog_name, sizeof(attr.prog_name), "yamori_t");
    fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
    CHECK_MSG(fd >= 0, "bpf(BPF_PROG_LOAD): %s", strerror(errno));
    close(fd);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "BpfProgramLoad", "InitiatingProcessId",
                        itoa_buf(getpid(), pidbuf, 32), NULL);
    CHECK_MSG(ev, "no BpfProgramLoad %s", agentproc_diag(a));
    CHECK_STR(agentproc_text(ev, "BpfProgramName", t, sizeof(t)), "yamori_t");
    CHECK_STR(agentproc_text(ev, "BpfInstructionCount", t, sizeof(t)), "2");
    CHECK(agentproc_stop(a) == 0);
}

/* A module load attempt is reported; a kernel without module support says
 * so in the agent's limitations instead. */
static void module_load(void)
{
    struct agentproc *a;
    char t[1024], pidbuf[32];
    json_t *ev;
    int fd;

    NEED_ROOT();
    a = start_agent("ebpf", false);
    CHECK_MSG(a, "%s", err);
    if (access("/sys/kernel/tracing/events/syscalls/sys_enter_finit_module", F_OK) != 0) {
        agentproc_text(agentproc_started(a), "SensorLimitations", t, sizeof(t));
        agentproc_stop(a);
        CHECK_MSG(strstr(t, "kernel module loads") != NULL, "limitation not reported: %s", t);
        SKIP("this kernel has no module support; the agent reports it as a limitation (checked)");
    }
    fd = open("/dev/null", O_RDONLY);
    (void)syscall(SYS_finit_module, fd, "", 0); /* fails: not a module */
    close(fd);
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "KernelModuleLoad", "InitiatingProcessId",
                        itoa_buf(getpid(), pidbuf, 32), NULL);
    CHECK_MSG(ev, "no KernelModuleLoad");
    CHECK_STR(agentproc_text(ev, "ModuleLoadFailed", t, sizeof(t)), "true");
    CHECK(agentproc_stop(a) == 0);
}

/* ------------------------------------------------------------------ logons */

static void append_line(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) {
        (void)!write(fd, line, strlen(line));
        close(fd);
    }
}

/* sshd lines in the followed log become logon events. */
static void logon_authlog(void)
{
    char log[] = "/tmp/yamori-authlog-XXXXXX", arg[128], t[256];
    const char *args[] = {"--sensor=ebpf", arg, NULL};
    struct agentproc *a;
    json_t *ev;
    int fd;

    NEED_ROOT();
    fd = mkstemp(log);
    CHECK(fd >= 0);
    close(fd);
    append_line(log, "Nov 26 10:00:00 vm sshd[100]: Server listening on 0.0.0.0 port 22.\n");
    snprintf(arg, sizeof(arg), "--auth-log=%s", log);
    a = agentproc_start(agentproc_binary(false), args, err, sizeof(err));
    CHECK_MSG(a, "%s", err);
    append_line(log, "Nov 26 10:12:01 vm sshd[4242]: Failed password for invalid user admin from 203.0.113.9 port 50122 ssh2\n");
    append_line(log, "Nov 26 10:12:09 vm sshd[4243]: Accepted password for root from 203.0.113.9 port 50130 ssh2\n");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "LogonFailed", "AccountName", "admin", NULL);
    CHECK_MSG(ev, "no LogonFailed");
    CHECK_STR(agentproc_text(ev, "RemoteIP", t, sizeof(t)), "203.0.113.9");
    CHECK_STR(agentproc_text(ev, "RemotePort", t, sizeof(t)), "50122");
    CHECK_STR(agentproc_text(ev, "FailureReason", t, sizeof(t)), "InvalidUser");
    CHECK_STR(agentproc_text(ev, "LogonType", t, sizeof(t)), "Network");
    CHECK_STR(agentproc_text(ev, "SensorSource", t, sizeof(t)), "authlog");
    ev = agentproc_wait(a, WAIT_MS, "ActionType", "LogonSuccess", "AccountName", "root", NULL);
    CHECK_MSG(ev, "no LogonSuccess");
    CHECK_STR(agentproc_text(ev, "AuthenticationMethod", t, sizeof(t)), "password");
    CHECK_STR(agentproc_text(ev, "Protocol", t, sizeof(t)), "ssh");
    /* the line written before the agent started is not replayed */
    CHECK(agentproc_find(a, 200, "EventType", "logon", "LogLine",
                         "Nov 26 10:00:00 vm sshd[100]: Server listening on 0.0.0.0 port 22.", NULL) == NULL);
    CHECK(agentproc_stop(a) == 0);
    unlink(log);
}

/* ------------------------------------------------------------------ storms */

struct storm_count {
    long workers[2];
    long seen;
    long expected;
    json_t *lost;   /* the last SensorEventsLost event */
    long lost_exec; /* exec records lost, summed over every report (each
                     * counts the losses since the one before) */
};

static bool count_storm(json_t *ev, void *ctx)
{
    struct storm_count *c = ctx;
    const char *action = json_string_value(json_object_get(ev, "ActionType"));
    json_int_t parent = json_integer_value(json_object_get(ev, "InitiatingProcessId"));

    if (!action)
        return false;
    if (strcmp(action, "SensorEventsLost") == 0) {
        json_decref(c->lost);
        c->lost = json_incref(ev);
        c->lost_exec += (long)json_integer_value(json_object_get(json_object_get(ev, "LostEvents"), "exec"));
        return false;
    }
    if (strcmp(action, "ProcessCreated") == 0 && (parent == c->workers[0] || parent == c->workers[1]))
        c->seen++;
    return c->seen >= c->expected;
}

/* Two parallel loops of fork + exec /bin/true. */
static void run_storm(long per_worker, long workers[2])
{
    for (int w = 0; w < 2; w++) {
        workers[w] = fork();
        if (workers[w] == 0) {
            for (long i = 0; i < per_worker; i++) {
                pid_t p = fork();
                if (p == 0) {
                    execl("/bin/true", "true", (char *)NULL);
                    _exit(127);
                }
                waitpid(p, NULL, 0);
            }
            _exit(0);
        }
    }
}

static void storm_zero_loss(void)
{
    struct storm_count c = {.expected = 20000};
    struct agentproc *a;
    json_t *st;

    NEED_ROOT();
    a = start_agent("ebpf", true);
    CHECK_MSG(a, "%s", err);
    run_storm(10000, c.workers);
    agentproc_stream(a, count_storm, &c, 180000);
    if (c.seen < c.expected) {
        /* a bound for failure: a storm still running is stopped, not awaited */
        kill((pid_t)c.workers[0], SIGKILL);
        kill((pid_t)c.workers[1], SIGKILL);
    }
    waitpid(c.workers[0], NULL, 0);
    waitpid(c.workers[1], NULL, 0);
    st = agentproc_status(a);
    CHECK(st != NULL);
    CHECK_MSG(c.seen == c.expected, "saw %ld of %ld execs", c.seen, c.expected);
    CHECK_MSG(c.lost == NULL, "the agent reported lost events");
    CHECK_INT(json_integer_value(json_object_get(st, "EventsLost")), ==, 0);
    json_decref(st);
    CHECK(agentproc_stop(a) == 0);
}

/* With a one-page ring buffer and a slow consumer the sensor must lose
 * events — and account for every one it lost. */
static void tiny_ring_counts_loss(void)
{
    struct storm_count c = {.expected = 4000};
    const char *args[] = {"--sensor=ebpf", "--no-logons", "--ring-size=4096", "--flush-ms=2000", NULL};
    struct agentproc *a;

    NEED_ROOT();
    a = agentproc_start(agentproc_binary(true), args, err, sizeof(err));
    CHECK_MSG(a, "%s", err);
    run_storm(2000, c.workers);
    waitpid(c.workers[0], NULL, 0);
    waitpid(c.workers[1], NULL, 0);
    /* the loss report comes with the next upkeep, within a few seconds */
    agentproc_stream(a, count_storm, &c, 6000);
    CHECK(agentproc_stop(a) == 0);
    CHECK_MSG(c.lost != NULL, "no SensorEventsLost event although the ring buffer was one page");
    CHECK_MSG(c.lost_exec > 0, "no exec records counted as lost");
    CHECK_MSG(c.seen < c.expected, "saw all %ld execs with a one-page ring", c.seen);
    /* nothing vanished unaccounted: seen + lost covers every exec (a storm
     * that outlasts an upkeep is reported in several events) */
    CHECK_MSG(c.seen + c.lost_exec >= c.expected, "seen %ld + lost %ld < %ld", c.seen, c.lost_exec,
              c.expected);
    json_decref(c.lost);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"ebpf_exec_fields", ebpf_exec_fields},
        {"ebpf_exit_codes", ebpf_exit_codes},
        {"ebpf_threads_one_exit", ebpf_threads_one_exit},
        {"ebpf_snapshot_lineage", ebpf_snapshot_lineage},
        {"ebpf_short_lived_image_hash", ebpf_short_lived_image_hash},
        {"fallback_exec_fields", fallback_exec_fields},
        {"fallback_exit_codes", fallback_exit_codes},
        {"fallback_threads_one_exit", fallback_threads_one_exit},
        {"fallback_snapshot_lineage", fallback_snapshot_lineage},
        {"file_ops_temp", file_ops_temp},
        {"file_persistence_namespace", file_persistence_namespace},
        {"file_writes_as_shells_do", file_writes_as_shells_do},
        {"file_filter", file_filter},
        {"net_tcp", net_tcp},
        {"net_udp", net_udp},
        {"ptrace_attach", ptrace_attach},
        {"setuid_change", setuid_change},
        {"memfd_exec", memfd_exec},
        {"bpf_prog_load_event", bpf_prog_load_event},
        {"module_load", module_load},
        {"logon_authlog", logon_authlog},
        {"storm_zero_loss", storm_zero_loss},
        {"tiny_ring_counts_loss", tiny_ring_counts_loss},
        {NULL, NULL},
    };
    check_set_teardown(agentproc_stop_all);
    return check_main("sensor", cases, argc, argv);
}
