/*
 * snippet.c — see snippet.h.
 */
#include "agent/snippet.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

bool snippet_wanted(const char *path, const char *tag)
{
    static const char *const secret_names[] = {"shadow", "shadow-", "gshadow", "gshadow-", "opasswd", NULL};
    const char *base;

    if (!path || !tag || path[0] != '/')
        return false;
    if (!has_prefix(tag, "persistence:") && !has_prefix(tag, "security:") && strcmp(tag, "agent:config") != 0)
        return false;
    base = strrchr(path, '/') + 1;
    for (const char *const *s = secret_names; *s; s++)
        if (strcmp(base, *s) == 0)
            return false;
    /* private keys (ssh_host_ed25519_key, *.key, *.pem); public keys pass */
    if (ends_with(base, "_key") || ends_with(base, ".key") || ends_with(base, ".pem"))
        return false;
    return true;
}

/* The kernel's encoding of a device number (MAJOR << 20 | MINOR). */
static uint32_t kernel_dev(dev_t d)
{
    return ((uint32_t)major(d) << 20) | (uint32_t)minor(d);
}

/* Opens path inside the directory root without following links. */
static int open_in(int root, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd;

    while (*path == '/')
        path++;
    if (!*path)
        return -EINVAL;
    fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) {
        /* before Linux 5.6: the last component at least is not followed
         * (the inode check below catches a path that led elsewhere) */
        fd = openat(root, path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    }
    return fd < 0 ? -errno : (int)fd;
}

/* Opens the root directory of process pid (0: the agent's). */
static int open_root(const char *proc_root, uint32_t pid)
{
    char p[96];
    int fd;

    if (!pid)
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    else {
        snprintf(p, sizeof(p), "%s/%u/root", proc_root, pid);
        fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    return fd < 0 ? -errno : fd;
}

int snippet_open(const char *proc_root, uint32_t pid, uint32_t ppid, const char *path, uint64_t ino, uint32_t kdev)
{
    uint32_t roots[3] = {pid, ppid, 0};
    int e = -ENOENT;

    if (!path || path[0] != '/')
        return -EINVAL;
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        int root, fd;
        if (i < 2 && (!roots[i] || !proc_root))
            continue;
        root = open_root(proc_root, roots[i]);
        if (root < 0) {
            e = root; /* the process is gone: try the next */
            continue;
        }
        fd = open_in(root, path);
        close(root);
        if (fd < 0) {
            e = fd;
            continue;
        }
        if (fstat(fd, &sb) != 0) {
            e = -errno;
            close(fd);
            continue;
        }
        if (!S_ISREG(sb.st_mode)) {
            close(fd);
            return -EINVAL;
        }
        if (ino && (sb.st_ino != ino || (kdev && kernel_dev(sb.st_dev) != kdev))) {
            /* not the file the kernel reported: another tree's, or replaced */
            e = -ESTALE;
            close(fd);
            continue;
        }
        return fd;
    }
    return e;
}

int snippet_read(int fd, char *buf, size_t *len, bool *truncated)
{
    char extra;
    size_t got = 0;
    ssize_t n;

    *len = 0;
    *truncated = false;
    while (got < SNIPPET_MAX) {
        n = pread(fd, buf + got, SNIPPET_MAX - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *len = got;
    if (got == SNIPPET_MAX) {
        do
            n = pread(fd, &extra, 1, (off_t)got);
        while (n < 0 && errno == EINTR);
        *truncated = n > 0;
    }
    return 0;
}
