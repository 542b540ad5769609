/*
 * killproc.c — see killproc.h.
 *
 * The identity of a process is read from /proc/PID/stat (start time in
 * clock ticks, parent, flags: PF_KTHREAD marks kernel threads) and the
 * boot id; a pidfd pins the process while it is checked. For a tree, the
 * descendants are found with one walk of /proc (parent links), each
 * pinned and re-checked against the start time seen in the walk, and
 * the root is killed first so it cannot start new children meanwhile.
 */
#include "agent/killproc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#define PF_KTHREAD 0x00200000
#define MAX_TREE 4096
#define UID_MAX_LEN 128

struct proc {
    int pid, ppid;
    unsigned long long start;
    int kthread;
};

static int read_boot8(const char *proc_root, char out[9])
{
    char path[300], buf[64] = "";
    FILE *f;

    snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", proc_root);
    f = fopen(path, "re");
    if (!f)
        return -EIO;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return -EIO;
    }
    fclose(f);
    for (int i = 0; i < 8; i++)
        if (!isxdigit((unsigned char)buf[i]))
            return -EIO;
    memcpy(out, buf, 8);
    out[8] = '\0';
    return 0;
}

/* Reads pid's stat: parent, start ticks, kernel-thread flag. */
static int read_stat(const char *proc_root, int pid, struct proc *p)
{
    char path[300], buf[2048], *close_paren;
    unsigned long flags = 0;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%d/stat", proc_root, pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? -ENOENT : -EIO;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return n == 0 ? -ENOENT : (errno == ESRCH ? -ENOENT : -EIO);
    buf[n] = '\0';
    /* the command name may hold anything, ')' included: the last ')' ends it */
    close_paren = strrchr(buf, ')');
    if (!close_paren)
        return -EIO;
    /* after ") ": state(3) ppid(4) pgrp session tty_nr tpgid flags(9) minflt cminflt majflt cmajflt utime
     * stime cutime cstime priority nice num_threads itrealvalue starttime(22) */
    if (sscanf(close_paren + 2, "%*c %d %*d %*d %*d %*d %lu %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &p->ppid, &flags, &p->start) != 3)
        return -EIO;
    p->pid = pid;
    p->kthread = (flags & PF_KTHREAD) != 0 || pid == 2 || p->ppid == 2;
    return 0;
}

int killproc_identity(const char *proc_root, int pid, char *out, size_t outlen, int *ppid, int *kthread)
{
    struct proc p;
    char boot8[9];
    int e;

    e = read_stat(proc_root, pid, &p);
    if (e)
        return e;
    e = read_boot8(proc_root, boot8);
    if (e)
        return e;
    snprintf(out, outlen, "%s-%d-%llu", boot8, pid, p.start);
    if (ppid)
        *ppid = p.ppid;
    if (kthread)
        *kthread = p.kthread;
    return 0;
}

/* Every process under /proc (pid, parent, start); malloc'd. */
static int walk(struct proc **out, size_t *n)
{
    struct proc *v = NULL;
    size_t len = 0, cap = 0;
    struct dirent *de;
    DIR *d = opendir("/proc");

    *out = NULL;
    *n = 0;
    if (!d)
        return -EIO;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        struct proc p;
        if (*end || pid <= 0 || read_stat("/proc", (int)pid, &p) != 0)
            continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 512;
            struct proc *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap = ncap;
        }
        v[len++] = p;
    }
    closedir(d);
    *out = v;
    *n = len;
    return 0;
}

/* Why pid must not be killed, or NULL. */
static const char *refusal(const struct proc *p)
{
    if (p->pid == 1)
        return "process 1 (init) is never killed";
    if (p->pid == getpid())
        return "that is the Yamori agent itself; it is never killed";
    if (p->kthread)
        return "a kernel thread cannot be killed";
    return NULL;
}

/* SIGKILLs p when it is still the process seen (same start time).
 * 0, -ESRCH (gone or another process now), -errno. */
static int kill_checked(const struct proc *p)
{
    struct proc now;
    int fd = (int)pidfd_open(p->pid, 0), e = 0;

    if (fd < 0)
        return errno == ESRCH ? -ESRCH : -errno;
    if (read_stat("/proc", p->pid, &now) != 0 || now.start != p->start)
        e = -ESRCH;
    else if (pidfd_send_signal(fd, SIGKILL, NULL, 0) != 0)
        e = errno == ESRCH ? -ESRCH : -errno;
    close(fd);
    return e;
}

static void skipped(struct jsonw *w, int pid, const char *reason)
{
    jsonw_object_begin(w);
    jsonw_kv_int(w, "pid", pid);
    jsonw_kv_str(w, "reason", reason);
    jsonw_object_end(w);
}

int killproc_command(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    json_t *jpid = json_object_get(cmd->args, "pid"), *juid = json_object_get(cmd->args, "process_uid");
    json_t *jtree = json_object_get(cmd->args, "tree");
    struct proc root, *all = NULL, *tree = NULL;
    struct jsonw killed, skip;
    const char *why;
    size_t nall = 0, ntree = 0;
    char uid[UID_MAX_LEN];
    int pid, e, fd = -1;
    bool want_tree;

    jsonw_init(&killed);
    jsonw_init(&skip);
    if (!json_is_integer(jpid) || json_integer_value(jpid) < 1 || json_integer_value(jpid) > 4194304) {
        snprintf(err, errlen, "pid: must be a process id");
        e = -EINVAL;
        goto out;
    }
    if (juid && !json_is_null(juid) && (!json_is_string(juid) || json_string_length(juid) >= UID_MAX_LEN)) {
        snprintf(err, errlen, "process_uid: must be a process unique id (text)");
        e = -EINVAL;
        goto out;
    }
    if (jtree && !json_is_null(jtree) && !json_is_boolean(jtree)) {
        snprintf(err, errlen, "tree: must be true or false");
        e = -EINVAL;
        goto out;
    }
    pid = (int)json_integer_value(jpid);
    want_tree = json_is_true(jtree);
    /* pin the process first, then check who it is */
    fd = (int)pidfd_open(pid, 0);
    if (fd < 0 || read_stat("/proc", pid, &root) != 0) {
        snprintf(err, errlen, "no process %d (it exited?); nothing was killed", pid);
        e = -ESRCH;
        goto out;
    }
    if ((why = refusal(&root)) != NULL) {
        snprintf(err, errlen, "refused to kill process %d: %s", pid, why);
        e = -EPERM;
        goto out;
    }
    if (json_is_string(juid)) {
        e = killproc_identity("/proc", pid, uid, sizeof(uid), NULL, NULL);
        if (e) {
            snprintf(err, errlen, "cannot read the identity of process %d; nothing was killed", pid);
            goto out;
        }
        if (strcmp(uid, json_string_value(juid)) != 0) {
            snprintf(err, errlen, "process %d is not %.64s (its pid was reused: it is %s now); nothing was killed", pid,
                     json_string_value(juid), uid);
            e = -ESRCH;
            goto out;
        }
    }
    if (want_tree) {
        /* descendants, breadth first, from one walk */
        e = walk(&all, &nall);
        if (e) {
            snprintf(err, errlen, "cannot list the processes under /proc");
            goto out;
        }
        tree = malloc(MAX_TREE * sizeof(*tree));
        if (!tree) {
            e = -ENOMEM;
            goto out;
        }
        for (size_t head = 0, i; ntree < MAX_TREE && head <= ntree; head++) {
            int parent = head == 0 ? pid : tree[head - 1].pid;
            for (i = 0; i < nall && ntree < MAX_TREE; i++)
                if (all[i].ppid == parent && all[i].pid != pid)
                    tree[ntree++] = all[i];
        }
    }
    jsonw_array_begin(&killed);
    jsonw_array_begin(&skip);
    if (pidfd_send_signal(fd, SIGKILL, NULL, 0) != 0) {
        snprintf(err, errlen, "cannot kill process %d: %s", pid, strerror(errno));
        e = -errno;
        goto out;
    }
    jsonw_int(&killed, pid);
    for (size_t i = 0; i < ntree; i++) {
        if ((why = refusal(&tree[i])) != NULL) {
            skipped(&skip, tree[i].pid, why);
            continue;
        }
        e = kill_checked(&tree[i]);
        if (e == 0)
            jsonw_int(&killed, tree[i].pid);
        else
            skipped(&skip, tree[i].pid, e == -ESRCH ? "exited before it was killed" : strerror(-e));
    }
    jsonw_array_end(&killed);
    jsonw_array_end(&skip);
    if (jsonw_failed(&killed) || jsonw_failed(&skip)) {
        e = -ENOMEM;
        goto out;
    }
    jsonw_object_begin(out);
    jsonw_key(out, "killed");
    jsonw_raw(out, killed.buf, killed.len);
    jsonw_key(out, "skipped");
    jsonw_raw(out, skip.buf, skip.len);
    jsonw_object_end(out);
    e = 0;
out:
    if (fd >= 0)
        close(fd);
    free(all);
    free(tree);
    jsonw_free(&killed);
    jsonw_free(&skip);
    return e;
}
