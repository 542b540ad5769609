/*
 * sandbox.c — see sandbox.h.
 */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"

/* mkdir -p path with mode. Returns 0 or -1 (errno set). */
static int mkdirs(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];

    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* Overlays dir, its changes in <work>/upper<dir>. Returns 0 or -1. */
static int overlay(const char *work, const char *dir)
{
    char up[PATH_MAX], wk[PATH_MAX], opts[3 * PATH_MAX + 64];

    snprintf(up, sizeof(up), "%s/upper%s", work, dir);
    snprintf(wk, sizeof(wk), "%s/work%s", work, dir);
    if (mkdirs(up, 0755) != 0 || mkdirs(wk, 0755) != 0)
        return -1;
    snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", dir, up, wk);
    return mount("overlay", dir, "overlay", 0, opts);
}

/* Brings the loopback of this network namespace up. Returns 0 or -1. */
static int loopback_up(void)
{
    struct ifreq ifr = {.ifr_name = "lo"};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

    if (s < 0)
        return -1;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

/* In the child: the namespaces and mounts opt asks for, in the order
 * sandbox.h gives, dir the work directory ("" without one). Fails the
 * case (check.h) naming the step that failed. */
static void enter(const struct sandbox_options *opt, const char *dir)
{
    char step[PATH_MAX + 64];

    if ((!dir[0] && (opt->workdir_tmpfs || opt->workdir_over)) || (opt->overlays && !opt->workdir_tmpfs)) {
        check_fail_(__FILE__, __LINE__, "cannot make the sandbox: workdir_tmpfs and workdir_over need a workdir, "
                    "overlays need workdir_tmpfs");
        return;
    }
    snprintf(step, sizeof(step), "a private mount namespace");
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        goto fail;
    snprintf(step, sizeof(step), "a tmpfs on %s", dir);
    if (opt->workdir_tmpfs && mount("tmpfs", dir, "tmpfs", 0, "mode=0755") != 0)
        goto fail;
    snprintf(step, sizeof(step), "binding %s over %s", dir, opt->workdir_over ? opt->workdir_over : "");
    if (opt->workdir_over && mount(dir, opt->workdir_over, NULL, MS_BIND, NULL) != 0)
        goto fail;
    for (const char *const *d = opt->overlays; d && *d; d++) {
        snprintf(step, sizeof(step), "an overlay on %s", *d);
        if (overlay(dir, *d) != 0)
            goto fail;
    }
    for (const char *const *d = opt->tmpfs; d && *d; d++) {
        snprintf(step, sizeof(step), "a tmpfs on %s", *d);
        if (mount("tmpfs", *d, "tmpfs", 0, opt->tmpfs_options ? opt->tmpfs_options : "mode=0755") != 0)
            goto fail;
    }
    snprintf(step, sizeof(step), "a network namespace");
    if (opt->net && unshare(CLONE_NEWNET) != 0)
        goto fail;
    snprintf(step, sizeof(step), "its loopback up");
    if (opt->net && opt->loopback_up && loopback_up() != 0)
        goto fail;
    snprintf(step, sizeof(step), "a subreaper");
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        goto fail;
    return;
fail:
    check_fail_(__FILE__, __LINE__, "cannot make the sandbox: %s: %s", step, strerror(errno));
}

/* In the child: kills whatever is left running — every process whose
 * parent is this one, the orphans it adopted as a subreaper among them —
 * and reaps it, round after round until a scan of /proc finds none: a
 * process killed in one round may have had children of its own, which
 * become ours only once it is gone. Only the killed are waited for, so
 * a grandchild that was not ours yet at the scan cannot block the wait. */
static void reap_all(void)
{
    for (int round = 0; round < 1000; round++) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t killed[256];
        size_t n = 0;

        while (d && n < sizeof(killed) / sizeof(killed[0]) && (de = readdir(d))) {
            char path[300], line[256];
            FILE *f;

            if (de->d_name[0] < '1' || de->d_name[0] > '9')
                continue;
            snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
            if (!(f = fopen(path, "r")))
                continue;
            while (fgets(line, sizeof(line), f))
                if (strncmp(line, "PPid:", 5) == 0 && atoi(line + 5) == getpid()) {
                    killed[n] = atoi(de->d_name);
                    kill(killed[n++], SIGKILL);
                }
            fclose(f);
        }
        if (d)
            closedir(d);
        for (size_t i = 0; i < n; i++)
            while (waitpid(killed[i], NULL, 0) < 0 && errno == EINTR)
                ;
        if (n == 0)
            break;
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

void sandbox_run(const struct sandbox_options *opt, void (*body)(void))
{
    char msg[sizeof(check_message_) + 2] = "", dir[64] = "";
    int p[2] = {-1, -1}, status = 0;
    ssize_t n = 0, got;
    pid_t pid;

    if (!check_is_root())
        SKIP("needs root (%s)", opt->needs ? opt->needs : "namespaces");
    if (opt->workdir) {
        if (!tmpdir_make(dir, sizeof(dir), opt->workdir) || chmod(dir, 0755) != 0) {
            check_fail_(__FILE__, __LINE__, "cannot make the work directory /tmp/yamori-%s.*: %s", opt->workdir,
                        strerror(errno));
            goto out;   /* which removes it when it was made */
        }
        if (opt->dir && snprintf(opt->dir, opt->dirlen, "%s", dir) >= (int)opt->dirlen) {
            check_fail_(__FILE__, __LINE__, "the work directory's path %s does not fit %zu bytes", dir, opt->dirlen);
            goto out;
        }
    }
    if (pipe2(p, O_CLOEXEC) != 0) {
        check_fail_(__FILE__, __LINE__, "pipe: %s", strerror(errno));
        goto out;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        check_fail_(__FILE__, __LINE__, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        close(p[0]);
        check_failed_ = check_skipped_ = false;
        check_message_[0] = '\0';
        enter(opt, dir);
        if (!check_failed_ && opt->setup)
            opt->setup();
        if (!check_failed_ && !check_skipped_)
            body();
        if (opt->cleanup)
            opt->cleanup();
        reap_all();
        dprintf(p[1], "%c %s", check_failed_ ? 'F' : check_skipped_ ? 'S' : 'P', check_message_);
        _exit(0);
    }
    close(p[1]);
    p[1] = -1;
    while (n < (ssize_t)sizeof(msg) - 1 && (got = read(p[0], msg + n, sizeof(msg) - 1 - (size_t)n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        n += got;
    }
    msg[n] = '\0';
    waitpid(pid, &status, 0);
    if (n < 2)
        check_fail_(__FILE__, __LINE__, "the sandboxed case died (status %d)", status);
    else if (msg[0] == 'F') {
        snprintf(check_message_, sizeof(check_message_), "%s", msg + 2); /* its file:line already */
        check_failed_ = true;
    } else if (msg[0] == 'S')
        check_skip_("%s", msg + 2);
out:
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    tmpdir_remove(dir);
    if (opt->dir && opt->dirlen)
        opt->dir[0] = '\0';
}
