/*
 * fanwatch.c — see fanwatch.h. How fanotify events become records:
 *
 *   FAN_CREATE      YS_FILE_CREATE for a regular file. Directories, links,
 *                   device nodes and sockets are not reported: the eBPF back
 *                   end sees only opens that create a regular file.
 *   FAN_MODIFY      YS_FILE_MODIFY for the first modification of a file
 *                   until the next FAN_CLOSE_WRITE of it, which mirrors the
 *                   eBPF back end's "first write after an open for writing".
 *                   Writes through the descriptor that created the file are
 *                   part of the creation and not reported (as in eBPF). A
 *                   file found empty when the event is read was truncated:
 *                   YS_F_TRUNCATED_OP, and the log rule for truncation
 *                   applies. Duplicates are found in an LRU of files keyed by
 *                   the file handle fanotify reports (filesystem id plus
 *                   inode and generation), so a stream of writes costs no
 *                   system call after the first.
 *   FAN_DELETE      YS_FILE_DELETE (files and, with FAN_ONDIR, directories).
 *   FAN_RENAME      YS_FILE_RENAME with both names from one event (5.17+);
 *                   there is no pairing of FAN_MOVED_FROM/FAN_MOVED_TO.
 *   FAN_ATTRIB      YS_FILE_CHMOD, _CHOWN or _UTIMES. fanotify does not say
 *                   which attribute changed, so the file's state (statx) is
 *                   compared with the state seen before, kept in the same
 *                   LRU: permission bits differ, a chmod; owner, a chown;
 *                   access or modification time set to what a read or a
 *                   write cannot produce (before the previous change, after
 *                   this one, before the file's birth), a utimes. The
 *                   previous state is trusted only if it was seen before the
 *                   event was queued, i.e. before the queue was last found
 *                   empty (`epoch`). No difference against a trusted state:
 *                   nothing we report changed (an extended attribute, a link
 *                   count, a touch to "now", which eBPF ignores too). Events
 *                   without a name (link counts) are ignored. Without a
 *                   trusted state, the state seen may already hold this
 *                   change, and it is inferred, marked YS_F_PARTIAL: times
 *                   that cannot be natural (and were not reported before)
 *                   make a utimes; else a change merged into the creation by
 *                   the creating process is part of the creation (its create
 *                   record carries the resulting mode); else all three times
 *                   equal on a file not born in that instant is a touch to
 *                   "now"; else a chmod with the current mode — so a chown or
 *                   a timestomping of an already-old time, in a burst with
 *                   an earlier event on the same file, shows as a chmod.
 *   FAN_Q_OVERFLOW  counted in dropped[YS_FILE_MODIFY] (the type that fills
 *                   the queue); the LRUs are reset.
 *
 * Paths: the directory handle is opened with open_by_handle_at() on a mount
 * of its filesystem and read back from /proc/self/fd; the result is cached
 * per handle (cleared when a directory is renamed, on overflow and when the
 * mount table changes), which also names files of directories removed
 * before their events were read (rm -r). A directory that can be resolved
 * neither way leaves the record with the bare name and YS_F_PARTIAL.
 *
 * fanotify events carry no time: records are stamped when the queue is
 * read. Mount points are opened only while a batch of events is handled,
 * so that the watcher never keeps a filesystem busy.
 */
#include "agent/fanwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent/pathclass.h"
#include "agent/procfs.h"
#include "file_policy.h"

/* Constants newer than some C libraries' headers (values from the kernel's
 * uapi <linux/fanotify.h>). */
#ifndef FAN_REPORT_DIR_FID
#define FAN_REPORT_DIR_FID 0x00000400
#endif
#ifndef FAN_REPORT_NAME
#define FAN_REPORT_NAME 0x00000800
#endif
#ifndef FAN_REPORT_TARGET_FID
#define FAN_REPORT_TARGET_FID 0x00001000
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_MARK_FILESYSTEM
#define FAN_MARK_FILESYSTEM 0x00000100
#endif
#ifndef FAN_EVENT_INFO_TYPE_DFID_NAME
#define FAN_EVENT_INFO_TYPE_DFID_NAME 2
#endif
#ifndef FAN_EVENT_INFO_TYPE_DFID
#define FAN_EVENT_INFO_TYPE_DFID 3
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#endif
#ifndef FAN_EVENT_INFO_TYPE_NEW_DFID_NAME
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

#define FW_MASK (FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_ONDIR)
#define FW_BUF_SIZE (64 * 1024)         /* one read of the queue */
#define FW_FILES 4096                   /* files remembered (modify dedup, attributes) */
#define FW_DIRS 4096                    /* directory paths remembered */
#define FW_KEY_MAX (sizeof(fsid_t) + 2 * sizeof(uint32_t) + MAX_HANDLE_SZ)
#define LRU_NONE UINT32_MAX

/* ------------------------------------------------------------------ LRU */

/* A fixed-capacity map from byte keys to slot numbers, least recently used
 * slot reused first. Values live in arrays of the caller, indexed by slot. */
struct lru_slot {
    uint64_t hash;
    uint32_t prev, next;  /* recency list, most recent first */
    uint32_t hnext;       /* hash chain */
    uint16_t keylen;
    uint8_t key[FW_KEY_MAX];
};

struct lru {
    struct lru_slot *slots;
    uint32_t *buckets;
    uint32_t cap, nbuckets, used, head, tail;
    uint64_t seed;
};

static int lru_init(struct lru *l, uint32_t cap, uint64_t seed)
{
    l->cap = cap;
    l->nbuckets = cap * 2; /* a power of two: cap is one */
    l->seed = seed;
    l->slots = calloc(cap, sizeof(*l->slots));
    l->buckets = malloc(l->nbuckets * sizeof(*l->buckets));
    if (!l->slots || !l->buckets)
        return -ENOMEM;
    memset(l->buckets, 0xff, l->nbuckets * sizeof(*l->buckets));
    l->used = 0;
    l->head = l->tail = LRU_NONE;
    return 0;
}

static void lru_fini(struct lru *l)
{
    free(l->slots);
    free(l->buckets);
}

static void lru_clear(struct lru *l)
{
    memset(l->buckets, 0xff, l->nbuckets * sizeof(*l->buckets));
    l->used = 0;
    l->head = l->tail = LRU_NONE;
}

/* FNV-1a, seeded: collisions cost time only, keys are compared in full. */
static uint64_t lru_hash(const struct lru *l, const uint8_t *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ l->seed;
    for (size_t i = 0; i < len; i++) {
        h ^= key[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void lru_unlink(struct lru *l, uint32_t i)
{
    struct lru_slot *s = &l->slots[i];
    if (s->prev != LRU_NONE)
        l->slots[s->prev].next = s->next;
    else
        l->head = s->next;
    if (s->next != LRU_NONE)
        l->slots[s->next].prev = s->prev;
    else
        l->tail = s->prev;
}

static void lru_push_front(struct lru *l, uint32_t i)
{
    struct lru_slot *s = &l->slots[i];
    s->prev = LRU_NONE;
    s->next = l->head;
    if (l->head != LRU_NONE)
        l->slots[l->head].prev = i;
    l->head = i;
    if (l->tail == LRU_NONE)
        l->tail = i;
}

/* Returns the slot holding key (now the most recent), or LRU_NONE. */
static uint32_t lru_find(struct lru *l, const uint8_t *key, size_t len)
{
    uint64_t h = lru_hash(l, key, len);
    for (uint32_t i = l->buckets[h & (l->nbuckets - 1)]; i != LRU_NONE; i = l->slots[i].hnext) {
        struct lru_slot *s = &l->slots[i];
        if (s->hash == h && s->keylen == len && memcmp(s->key, key, len) == 0) {
            if (l->head != i) {
                lru_unlink(l, i);
                lru_push_front(l, i);
            }
            return i;
        }
    }
    return LRU_NONE;
}

/* Adds key (not present, len <= FW_KEY_MAX) and returns its slot; when
 * full, the least recently used slot is taken over and *evicted is set so
 * that the caller can release its value. */
static uint32_t lru_insert(struct lru *l, const uint8_t *key, size_t len, bool *evicted)
{
    uint32_t i;
    struct lru_slot *s;

    *evicted = false;
    if (l->used < l->cap) {
        i = l->used++;
    } else {
        i = l->tail;
        s = &l->slots[i];
        uint32_t *pp = &l->buckets[s->hash & (l->nbuckets - 1)];
        while (*pp != i)
            pp = &l->slots[*pp].hnext;
        *pp = s->hnext;
        lru_unlink(l, i);
        *evicted = true;
    }
    s = &l->slots[i];
    s->hash = lru_hash(l, key, len);
    s->keylen = (uint16_t)len;
    memcpy(s->key, key, len);
    s->hnext = l->buckets[s->hash & (l->nbuckets - 1)];
    l->buckets[s->hash & (l->nbuckets - 1)] = i;
    lru_push_front(l, i);
    return i;
}

/* ------------------------------------------------------------------ state */

enum fw_modify {
    FW_MOD_NONE,     /* the next modification is reported */
    FW_MOD_DONE,     /* reported, filtered or part of the creation: until close */
    FW_MOD_IGNORED,  /* not a regular file: never */
};

/* What is remembered about one file. */
struct fw_file {
    uint8_t modify;        /* enum fw_modify */
    bool have_attr;        /* the fields below are set */
    bool told;             /* told_* were reported in a utimes record */
    uint64_t epoch;        /* fw->epoch when the state was seen */
    uint32_t mode, uid, gid;
    struct statx_timestamp atime, mtime, ctime;
    struct statx_timestamp told_atime, told_mtime;
};

/* A filesystem of the mount table. */
struct fw_fs {
    uint64_t mnt_id;       /* the mount `path` reaches */
    dev_t dev;
    fsid_t fsid;
    char *path;            /* where it is reachable in our namespace */
    char *fstype;
    int err;               /* 0: marked; -errno: mark refused */
    bool hidden;           /* every mount of it is covered by another mount */
    int mfd;               /* O_PATH descriptor while dispatching, -1 closed, -2 failed */
};

/* A reference to a directory entry in an event: directory handle, name. */
struct fw_ref {
    bool set;
    fsid_t fsid;
    union {
        struct file_handle fh;
        unsigned char raw[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    } h;
    const char *name;      /* in the read buffer; NULL when none was reported */
};

/* One event being handled; facts are looked up once and shared between the
 * bits of a merged event. */
struct fw_event {
    uint64_t mask;
    uint32_t pid;
    struct fw_ref dir, old, new, obj;
    int stat_state;        /* 0 not tried, 1 done, -errno failed */
    struct statx stx;
    bool task_done;
    uint32_t task_flags;
    struct ys_task task;
    char path[YS_PATH_MAX];
    char path2[YS_PATH_MAX];
};

struct fanwatch {
    int fd;
    int mounts_fd;
    uint32_t self_tgid;
    uint64_t mask;
    bool have_target;      /* FAN_REPORT_TARGET_FID and FAN_RENAME (5.17+) */
    struct fanwatch_hooks hooks;
    struct sensor_stats *stats;
    struct fw_fs *fs;
    size_t nfs;
    struct lru file_lru;
    struct fw_file *files;
    struct lru dir_lru;
    char **dirs;
    uint64_t epoch;        /* times the queue was found empty */
    uint64_t now_ns;       /* CLOCK_BOOTTIME of the current read */
    struct timespec now_real;
    struct fw_event ev;
    _Alignas(8) unsigned char rec[sizeof(struct ys_file) + 2 * YS_PATH_MAX];
    _Alignas(8) unsigned char buf[FW_BUF_SIZE];
};

/* ------------------------------------------------------------------ helpers */

static uint32_t kernel_dev(dev_t d)
{
    return ((uint32_t)major(d) << 20) | (uint32_t)minor(d);
}

static int ts_cmp(const struct statx_timestamp *a, const struct statx_timestamp *b)
{
    if (a->tv_sec != b->tv_sec)
        return a->tv_sec < b->tv_sec ? -1 : 1;
    if (a->tv_nsec != b->tv_nsec)
        return a->tv_nsec < b->tv_nsec ? -1 : 1;
    return 0;
}

/* True when a component of the path starts with '.'. */
static bool path_hidden(const char *path)
{
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (*p == '.')
            return true;
        while (*p && *p != '/')
            p++;
    }
    return false;
}

/* The same filesystems by their mount-table names, to skip them without
 * opening them; autofs too, because opening an automount point mounts it
 * (and autofs holds no files: what it mounts appears as its own line). */
static bool skip_fstype(const char *t)
{
    static const char *const names[] = {
        "proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "bpf",
        "devpts", "pipefs", "sockfs", "anon_inodefs", "nsfs", "binfmt_misc", "autofs",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(t, names[i]) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------ mount table */

/* Decodes the octal escapes (\040 for a space, ...) of a mountinfo field. */
static void mi_unescape(char *s)
{
    char *out = s;
    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
            s += 4;
        } else {
            *out++ = *s++;
        }
    }
    *out = '\0';
}

struct mi_line {
    uint64_t mnt_id;
    dev_t dev;
    bool root_is_slash;
    char *path;   /* into the read buffer */
    char *fstype; /* into the read buffer */
};

static int mi_cmp(const void *a, const void *b)
{
    const struct mi_line *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->root_is_slash != y->root_is_slash)
        return x->root_is_slash ? -1 : 1;
    size_t lx = strlen(x->path), ly = strlen(y->path);
    return lx < ly ? -1 : lx > ly;
}

/* Reads all of /proc/self/mountinfo into a NUL-terminated buffer. */
static int mi_read(char **out)
{
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap), *grown;
    int fd = -1, ret = 0;
    ssize_t n;

    if (!buf)
        return -ENOMEM;
    fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ret = -errno;
        goto out;
    }
    for (;;) {
        if (cap - len < 4096) {
            if (cap > (64u << 20)) {
                ret = -EFBIG;
                goto out;
            }
            grown = realloc(buf, cap * 2);
            if (!grown) {
                ret = -ENOMEM;
                goto out;
            }
            buf = grown;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
out:
    if (fd >= 0)
        close(fd);
    if (ret) {
        free(buf);
        return ret;
    }
    *out = buf;
    return 0;
}

/* Splits mountinfo into lines; fields are checked for form, bad lines are
 * skipped. Returns the number of lines in *out (malloc'ed), or -errno. */
static int mi_parse(char *text, struct mi_line **out)
{
    size_t cap = 64, n = 0;
    struct mi_line *v = malloc(cap * sizeof(*v)), *grown;
    char *save = NULL, *line;

    if (!v)
        return -ENOMEM;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sep = strstr(line, " - "), *f[5], *fsave = NULL, *fstype;
        unsigned int maj, min;
        int i;

        if (!sep)
            continue;
        *sep = '\0';
        fstype = strtok_r(sep + 3, " ", &fsave);
        if (!fstype)
            continue;
        fsave = NULL;
        for (i = 0; i < 5; i++) {
            f[i] = strtok_r(i == 0 ? line : NULL, " ", &fsave);
            if (!f[i])
                break;
        }
        if (i < 5 || sscanf(f[2], "%u:%u", &maj, &min) != 2 || f[4][0] != '/')
            continue;
        if (n == cap) {
            grown = realloc(v, cap * 2 * sizeof(*v));
            if (!grown) {
                free(v);
                return -ENOMEM;
            }
            v = grown;
            cap *= 2;
        }
        mi_unescape(f[3]);
        mi_unescape(f[4]);
        mi_unescape(fstype);
        v[n].mnt_id = strtoull(f[0], NULL, 10);
        v[n].dev = makedev(maj, min);
        v[n].root_is_slash = strcmp(f[3], "/") == 0;
        v[n].path = f[4];
        v[n].fstype = fstype;
        n++;
    }
    *out = v;
    return (int)n;
}

/* Whether descriptor fd (opened on a mount point) reaches that mount rather
 * than one stacked over it: by mount id where statx reports it (5.8+), else
 * by device number (which btrfs subvolumes defeat). */
static bool reaches_mount(int fd, uint64_t mnt_id, dev_t dev)
{
    struct statx stx;

    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) != 0)
        return false;
    if (stx.stx_mask & STATX_MNT_ID)
        return stx.stx_mnt_id == mnt_id;
    return makedev(stx.stx_dev_major, stx.stx_dev_minor) == dev;
}

static void fs_free_all(struct fw_fs *fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fs[i].mfd >= 0)
            close(fs[i].mfd);
        free(fs[i].path);
        free(fs[i].fstype);
    }
    free(fs);
}

static void dirs_clear(struct fanwatch *fw)
{
    for (uint32_t i = 0; i < fw->dir_lru.used; i++) {
        free(fw->dirs[i]);
        fw->dirs[i] = NULL;
    }
    lru_clear(&fw->dir_lru);
}

/* Tries the mounts of one filesystem (lines [from, to) of the sorted table)
 * in order of preference; marks the first reachable one. Fills *fs and
 * returns 1, or 0 for a pseudo filesystem, or -ENOMEM. */
static int fs_mark_one(struct fanwatch *fw, const struct mi_line *ml, size_t from, size_t to,
                       struct fw_fs *fs)
{
    struct statfs sfs;
    int fd = -1, ret = 1;

    memset(fs, 0, sizeof(*fs));
    fs->dev = ml[from].dev;
    fs->mfd = -1;
    fs->hidden = true;
    fs->path = strdup(ml[from].path);
    fs->fstype = strdup(ml[from].fstype);
    if (!fs->path || !fs->fstype) {
        ret = -ENOMEM;
        goto out;
    }
    for (size_t i = from; i < to; i++) {
        /* not O_PATH: fanotify_mark() refuses such descriptors (EBADF) */
        fd = open(ml[i].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (reaches_mount(fd, ml[i].mnt_id, ml[i].dev)) {
            char *p = strdup(ml[i].path);
            if (!p) {
                ret = -ENOMEM;
                goto out;
            }
            free(fs->path);
            fs->path = p;
            fs->mnt_id = ml[i].mnt_id;
            fs->hidden = false;
            break;
        }
        close(fd);
        fd = -1;
    }
    if (fs->hidden)
        goto out;
    if (fstatfs(fd, &sfs) != 0) {
        fs->err = -errno;
        goto out;
    }
    if (ys_pseudo_fs_magic((unsigned long)sfs.f_type)) {
        ret = 0;
        goto out;
    }
    memcpy(&fs->fsid, &sfs.f_fsid, sizeof(fs->fsid));
    if (fanotify_mark(fw->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, fw->mask, fd, NULL) != 0)
        fs->err = -errno;
out:
    if (fd >= 0)
        close(fd);
    if (ret != 1) {
        free(fs->path);
        free(fs->fstype);
        fs->path = fs->fstype = NULL;
    }
    return ret;
}

int fanwatch_rescan(struct fanwatch *fw)
{
    char *text = NULL;
    struct mi_line *ml = NULL;
    struct fw_fs *fs = NULL;
    size_t nfs = 0;
    int n, ret;

    ret = mi_read(&text);
    if (ret)
        goto out;
    n = mi_parse(text, &ml);
    if (n < 0) {
        ret = n;
        goto out;
    }
    qsort(ml, (size_t)n, sizeof(*ml), mi_cmp);
    fs = calloc((size_t)n + 1, sizeof(*fs));
    if (!fs) {
        ret = -ENOMEM;
        goto out;
    }
    for (size_t i = 0, j; i < (size_t)n; i = j) {
        for (j = i + 1; j < (size_t)n && ml[j].dev == ml[i].dev; j++)
            ;
        if (skip_fstype(ml[i].fstype))
            continue;
        ret = fs_mark_one(fw, ml, i, j, &fs[nfs]);
        if (ret < 0)
            goto out;
        if (ret == 1)
            nfs++;
    }
    ret = 0;
    /* marks stay on their super blocks; only our view of them changes */
    fs_free_all(fw->fs, fw->nfs);
    fw->fs = fs;
    fw->nfs = nfs;
    fs = NULL;
    dirs_clear(fw);
out:
    if (fs)
        fs_free_all(fs, nfs);
    free(ml);
    free(text);
    return ret;
}

/* Closes the mount descriptors opened during a dispatch. */
static void fs_close_mounts(struct fanwatch *fw)
{
    for (size_t i = 0; i < fw->nfs; i++) {
        if (fw->fs[i].mfd >= 0)
            close(fw->fs[i].mfd);
        fw->fs[i].mfd = -1;
    }
}

/* Opens what handle `r` names, through a mount of its filesystem. Returns
 * a descriptor or -errno (-ESTALE: it no longer exists). */
static int fw_open_handle(struct fanwatch *fw, const struct fw_ref *r, int flags)
{
    int ret = -ESTALE;

    for (size_t i = 0; i < fw->nfs; i++) {
        struct fw_fs *fs = &fw->fs[i];
        int fd;

        if (fs->hidden || fs->err || memcmp(&fs->fsid, &r->fsid, sizeof(fs->fsid)) != 0)
            continue;
        if (fs->mfd == -1) {
            /* not O_PATH: open_by_handle_at() refuses it as mount_fd */
            fs->mfd = open(fs->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fs->mfd >= 0 && !reaches_mount(fs->mfd, fs->mnt_id, fs->dev)) {
                close(fs->mfd);
                fs->mfd = -2;
            } else if (fs->mfd < 0) {
                fs->mfd = -2;
            }
        }
        if (fs->mfd < 0)
            continue;
        fd = open_by_handle_at(fs->mfd, (struct file_handle *)&r->h.fh, flags | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        ret = -errno;
    }
    return ret;
}

/* ------------------------------------------------------------------ paths */

static size_t ref_key(const struct fw_ref *r, uint8_t *key)
{
    size_t len = sizeof(r->fsid) + sizeof(struct file_handle) + r->h.fh.handle_bytes;
    memcpy(key, &r->fsid, sizeof(r->fsid));
    memcpy(key + sizeof(r->fsid), r->h.raw, len - sizeof(r->fsid));
    return len;
}

/* The path of directory `r` into out (YS_PATH_MAX bytes): from the cache,
 * or by opening its handle. Returns 0 or -errno. */
static int fw_dir_path(struct fanwatch *fw, const struct fw_ref *r, char *out)
{
    static const char deleted[] = " (deleted)";
    uint8_t key[FW_KEY_MAX];
    size_t klen = ref_key(r, key);
    char link[64];
    struct stat st;
    uint32_t slot;
    bool evicted;
    ssize_t n;
    int fd, ret = 0;

    slot = lru_find(&fw->dir_lru, key, klen);
    if (slot != LRU_NONE) {
        snprintf(out, YS_PATH_MAX, "%s", fw->dirs[slot]);
        return 0;
    }
    fd = fw_open_handle(fw, r, O_PATH | O_DIRECTORY);
    if (fd < 0)
        return fd;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, out, YS_PATH_MAX - 1);
    if (n <= 0 || out[0] != '/') {
        ret = n < 0 ? -errno : -EINVAL;
        goto out;
    }
    out[n] = '\0';
    /* an unlinked directory reads back as "PATH (deleted)" */
    if ((size_t)n > sizeof(deleted) - 1 && strcmp(out + n - (sizeof(deleted) - 1), deleted) == 0 &&
        fstat(fd, &st) == 0 && st.st_nlink == 0)
        out[n - (sizeof(deleted) - 1)] = '\0';
    slot = lru_insert(&fw->dir_lru, key, klen, &evicted);
    free(fw->dirs[slot]);
    fw->dirs[slot] = strdup(out);
out:
    close(fd);
    return ret;
}

/* The path of the entry `r` names into out (YS_PATH_MAX bytes); returns
 * header flags: YS_F_PATH_TRUNC when it did not fit, YS_F_PARTIAL when the
 * directory could not be resolved (out then holds the bare name). */
static uint32_t fw_ref_path(struct fanwatch *fw, const struct fw_ref *r, char *out)
{
    const char *name = r->name && strcmp(r->name, ".") != 0 ? r->name : NULL;
    size_t dl, nl;

    if (fw_dir_path(fw, r, out) != 0) {
        snprintf(out, YS_PATH_MAX, "%s", name ? name : "");
        return YS_F_PARTIAL;
    }
    if (!name)
        return 0;
    dl = strlen(out);
    nl = strlen(name);
    if (dl == 1)
        dl = 0; /* the root: "/" + name */
    if (dl + 1 + nl > YS_PATH_MAX - 1) {
        if (dl < YS_PATH_MAX - 1) {
            out[dl] = '/';
            memcpy(out + dl + 1, name, YS_PATH_MAX - 2 - dl);
        }
        out[YS_PATH_MAX - 1] = '\0';
        return YS_F_PATH_TRUNC;
    }
    out[dl] = '/';
    memcpy(out + dl + 1, name, nl + 1);
    return 0;
}

/* statx of the object of the event: through its own handle when the event
 * carries one (immune to renames), else by name in its directory. */
static int fw_stat(struct fanwatch *fw, struct fw_event *ev)
{
    const unsigned int want = STATX_BASIC_STATS | STATX_BTIME;
    int fd = -1, ret = 0;

    if (ev->stat_state)
        return ev->stat_state < 0 ? ev->stat_state : 0;
    if (ev->obj.set) {
        fd = fw_open_handle(fw, &ev->obj, O_PATH);
        if (fd < 0) {
            ret = fd;
            fd = -1;
            goto out;
        }
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, want, &ev->stx) != 0)
            ret = -errno;
    } else if (ev->dir.set) {
        bool self = !ev->dir.name || strcmp(ev->dir.name, ".") == 0;
        fd = fw_open_handle(fw, &ev->dir, O_PATH | O_DIRECTORY);
        if (fd < 0) {
            ret = fd;
            fd = -1;
            goto out;
        }
        if (statx(fd, self ? "" : ev->dir.name, (self ? AT_EMPTY_PATH : 0) | AT_SYMLINK_NOFOLLOW,
                  want, &ev->stx) != 0)
            ret = -errno;
    } else {
        ret = -ENOENT;
    }
out:
    if (fd >= 0)
        close(fd);
    ev->stat_state = ret ? ret : 1;
    return ret;
}

/* The remembered state of the event's object (inserted when absent), or
 * NULL when the event carries no handle of it. */
static struct fw_file *fw_file_get(struct fanwatch *fw, struct fw_event *ev, bool insert)
{
    uint8_t key[FW_KEY_MAX];
    size_t klen;
    uint32_t slot;
    bool evicted;

    if (!ev->obj.set)
        return NULL;
    klen = ref_key(&ev->obj, key);
    slot = lru_find(&fw->file_lru, key, klen);
    if (slot != LRU_NONE)
        return &fw->files[slot];
    if (!insert)
        return NULL;
    slot = lru_insert(&fw->file_lru, key, klen, &evicted);
    memset(&fw->files[slot], 0, sizeof(fw->files[slot]));
    return &fw->files[slot];
}

/* Remembers the state just read. */
static void fw_file_observe(struct fanwatch *fw, struct fw_file *f, const struct statx *stx)
{
    f->have_attr = true;
    f->epoch = fw->epoch;
    f->mode = stx->stx_mode;
    f->uid = stx->stx_uid;
    f->gid = stx->stx_gid;
    f->atime = stx->stx_atime;
    f->mtime = stx->stx_mtime;
    f->ctime = stx->stx_ctime;
}

/* ------------------------------------------------------------------ records */

/* Starts a record in fw->rec, zeroed, with the owner unknown (-1) as the
 * eBPF back end does for path operations. */
static struct ys_file *rec_begin(struct fanwatch *fw)
{
    struct ys_file *f = (struct ys_file *)fw->rec;
    memset(f, 0, sizeof(*f));
    f->uid = (uint32_t)-1;
    f->gid = (uint32_t)-1;
    return f;
}

static void rec_inode(struct ys_file *f, const struct statx *stx)
{
    f->ino = stx->stx_ino;
    f->dev = kernel_dev(makedev(stx->stx_dev_major, stx->stx_dev_minor));
    f->mode = stx->stx_mode;
    f->uid = stx->stx_uid;
    f->gid = stx->stx_gid;
}

static void rec_put(struct ys_file *f, uint32_t *pos, struct ys_str *field, const char *s)
{
    size_t len = strlen(s);
    if (len > YS_PATH_MAX - 1)
        len = YS_PATH_MAX - 1;
    memcpy((uint8_t *)f + *pos, s, len);
    field->off = (uint16_t)*pos;
    field->len = (uint16_t)len;
    *pos += (uint32_t)len;
}

/* Finishes the record in fw->rec (header, strings) and hands it over. */
static int rec_emit(struct fanwatch *fw, struct fw_event *ev, uint16_t type, uint32_t flags,
                    const char *path, const char *path2)
{
    struct ys_file *f = (struct ys_file *)fw->rec;
    uint32_t pos = sizeof(*f);

    if (!ev->task_done) {
        ev->task_flags = fw->hooks.task(fw->hooks.ctx, ev->pid, &ev->task);
        ev->task_done = true;
    }
    rec_put(f, &pos, &f->path, path);
    if (path2)
        rec_put(f, &pos, &f->path2, path2);
    f->h.type = type;
    f->h.size = (uint16_t)pos;
    f->h.version = YS_ABI_VERSION;
    f->h.source = YS_SRC_FALLBACK;
    f->h.flags = flags | ev->task_flags;
    f->h.ts_ns = fw->now_ns;
    f->h.task = ev->task;
    fw->hooks.emit(fw->hooks.ctx, f, pos);
    return 1;
}

/* Flags derived from a path and the object's state. */
static uint32_t path_flags(const char *path, const struct statx *stx)
{
    uint32_t flags = path_hidden(path) ? YS_F_HIDDEN : 0;
    if (stx) {
        if (S_ISDIR(stx->stx_mode))
            flags |= YS_F_DIR;
        else if (stx->stx_mode & 0111)
            flags |= YS_F_EXECUTABLE;
    }
    return flags;
}

/* ------------------------------------------------------------------ event kinds */

static int on_create(struct fanwatch *fw, struct fw_event *ev)
{
    const struct statx *stx = NULL;
    struct fw_file *file;
    uint32_t flags, cls;
    struct ys_file *f;

    if ((ev->mask & FAN_ONDIR) || !ev->dir.set)
        return 0;
    if (fw_stat(fw, ev) == 0) {
        if (!S_ISREG(ev->stx.stx_mode))
            return 0;
        stx = &ev->stx;
    }
    /* writes through the creating descriptor belong to the creation */
    file = fw_file_get(fw, ev, true);
    if (file) {
        if (file->modify != FW_MOD_IGNORED)
            file->modify = FW_MOD_DONE;
        if (stx)
            fw_file_observe(fw, file, stx);
    }
    flags = fw_ref_path(fw, &ev->dir, ev->path);
    flags |= path_flags(ev->path, stx);
    cls = pathclass_lookup(ev->path).bits;
    if (!ys_file_keep(YS_FOP_CREATE, cls, flags)) {
        fw->stats->filtered[YS_FILE_CREATE]++;
        return 0;
    }
    if (!stx)
        flags |= YS_F_PARTIAL; /* gone before it could be read */
    f = rec_begin(fw);
    if (stx)
        rec_inode(f, stx);
    f->class_bits = cls;
    return rec_emit(fw, ev, YS_FILE_CREATE, flags, ev->path, NULL);
}

static int on_modify(struct fanwatch *fw, struct fw_event *ev)
{
    const struct statx *stx = NULL;
    enum ys_fop op = YS_FOP_MODIFY;
    struct fw_file *file;
    uint32_t flags, cls;
    struct ys_file *f;

    if ((ev->mask & FAN_ONDIR) || !ev->dir.set)
        return 0;
    file = fw_file_get(fw, ev, true);
    if (file && file->modify != FW_MOD_NONE)
        return 0;
    if (fw_stat(fw, ev) == 0) {
        if (!S_ISREG(ev->stx.stx_mode)) {
            if (file)
                file->modify = FW_MOD_IGNORED;
            return 0;
        }
        stx = &ev->stx;
        if (file)
            fw_file_observe(fw, file, stx);
    }
    if (file)
        file->modify = FW_MOD_DONE;
    flags = fw_ref_path(fw, &ev->dir, ev->path);
    flags |= path_flags(ev->path, stx);
    if (stx && stx->stx_size == 0) {
        op = YS_FOP_TRUNCATE;
        flags |= YS_F_TRUNCATED_OP;
    }
    cls = pathclass_lookup(ev->path).bits;
    if (!ys_file_keep(op, cls, flags)) {
        fw->stats->filtered[YS_FILE_MODIFY]++;
        return 0;
    }
    if (!stx)
        flags |= YS_F_PARTIAL;
    f = rec_begin(fw);
    if (stx)
        rec_inode(f, stx);
    f->class_bits = cls;
    return rec_emit(fw, ev, YS_FILE_MODIFY, flags, ev->path, NULL);
}

static void on_close_write(struct fanwatch *fw, struct fw_event *ev)
{
    struct fw_file *file = fw_file_get(fw, ev, false);
    if (file && file->modify == FW_MOD_DONE)
        file->modify = FW_MOD_NONE;
}

static int on_delete(struct fanwatch *fw, struct fw_event *ev)
{
    uint32_t flags;
    struct ys_file *f;

    if (!ev->dir.set)
        return 0;
    flags = fw_ref_path(fw, &ev->dir, ev->path);
    flags |= path_flags(ev->path, NULL);
    if (ev->mask & FAN_ONDIR)
        flags |= YS_F_DIR;
    f = rec_begin(fw);
    f->class_bits = pathclass_lookup(ev->path).bits;
    return rec_emit(fw, ev, YS_FILE_DELETE, flags, ev->path, NULL);
}

static int on_rename(struct fanwatch *fw, struct fw_event *ev)
{
    uint32_t flags;
    struct ys_file *f;

    if (!ev->old.set || !ev->new.set || !ev->old.name || !ev->new.name)
        return 0;
    flags = fw_ref_path(fw, &ev->old, ev->path);
    flags |= fw_ref_path(fw, &ev->new, ev->path2);
    if (path_hidden(ev->path) || path_hidden(ev->path2))
        flags |= YS_F_HIDDEN;
    if (ev->mask & FAN_ONDIR) {
        flags |= YS_F_DIR;
        dirs_clear(fw); /* cached paths below it are stale now */
    }
    f = rec_begin(fw);
    f->class_bits = pathclass_lookup(ev->path).bits | pathclass_lookup(ev->path2).bits;
    return rec_emit(fw, ev, YS_FILE_RENAME, flags, ev->path, ev->path2);
}

/* An access or modification time that a read or a write cannot have set:
 * after the change itself (or after now), or before `floor`. */
static bool explicit_time(const struct statx_timestamp *t, const struct statx_timestamp *upper,
                          const struct statx_timestamp *floor)
{
    if (ts_cmp(t, upper) > 0)
        return true;
    return floor && ts_cmp(t, floor) < 0;
}

static int on_attrib(struct fanwatch *fw, struct fw_event *ev)
{
    struct statx_timestamp now = {.tv_sec = fw->now_real.tv_sec + 1};
    const struct statx_timestamp *birth = NULL, *floor;
    bool chmod_ = false, chown_ = false, utimes_m = false, utimes_a = false, partial = false;
    struct fw_file *file;
    const struct statx *stx;
    uint32_t flags, cls;
    uint32_t old_uid = 0, old_gid = 0;
    struct ys_file *f;
    int emitted = 0;

    /* without a name the event is about a link count (link, unlink) */
    if (!ev->dir.set || !ev->dir.name)
        return 0;
    if (fw_stat(fw, ev) != 0) {
        fw->stats->errors[YS_FILE_CHMOD]++; /* gone: cannot tell what changed */
        return 0;
    }
    stx = &ev->stx;
    if (stx->stx_mask & STATX_BTIME)
        birth = &stx->stx_btime;
    file = fw_file_get(fw, ev, true);
    if (file && file->have_attr) {
        floor = &file->ctime;
        old_uid = file->uid;
        old_gid = file->gid;
        chmod_ = (file->mode & 07777) != (stx->stx_mode & 07777);
        chown_ = file->uid != stx->stx_uid || file->gid != stx->stx_gid;
        utimes_m = ts_cmp(&file->mtime, &stx->stx_mtime) != 0 &&
                   (explicit_time(&stx->stx_mtime, &stx->stx_ctime, floor) ||
                    (birth && ts_cmp(&stx->stx_mtime, birth) < 0));
        utimes_a = ts_cmp(&file->atime, &stx->stx_atime) != 0 &&
                   (explicit_time(&stx->stx_atime, &now, floor) ||
                    (birth && ts_cmp(&stx->stx_atime, birth) < 0));
    }
    if (!chmod_ && !chown_ && !utimes_m && !utimes_a) {
        bool trusted = file && file->have_attr && file->epoch < fw->epoch;
        bool told_m = file && file->told && ts_cmp(&file->told_mtime, &stx->stx_mtime) == 0;
        bool told_a = file && file->told && ts_cmp(&file->told_atime, &stx->stx_atime) == 0;
        bool fresh = birth && ts_cmp(birth, &stx->stx_ctime) == 0;
        bool all_now = ts_cmp(&stx->stx_atime, &stx->stx_mtime) == 0 &&
                       ts_cmp(&stx->stx_mtime, &stx->stx_ctime) == 0;

        if (trusted) {
            fw_file_observe(fw, file, stx);
            return 0; /* nothing we report changed (xattr, same mode, touch to "now") */
        }
        /* the state seen before may already hold this change: infer it */
        partial = true;
        utimes_m = ts_cmp(&stx->stx_mtime, &stx->stx_ctime) > 0 ||
                   (birth && ts_cmp(&stx->stx_mtime, birth) < 0 && !told_m);
        utimes_a = ts_cmp(&stx->stx_atime, &now) > 0 ||
                   (birth && ts_cmp(&stx->stx_atime, birth) < 0 && !told_a);
        if (!utimes_m && !utimes_a) {
            if ((ev->mask & FAN_CREATE) || (all_now && !fresh)) {
                if (file)
                    fw_file_observe(fw, file, stx);
                return 0; /* part of the creation, or a touch to "now" */
            }
            chmod_ = true;
        }
    }
    if (file) {
        fw_file_observe(fw, file, stx);
        if (utimes_m || utimes_a) {
            file->told = true;
            file->told_atime = stx->stx_atime;
            file->told_mtime = stx->stx_mtime;
        }
    }

    flags = fw_ref_path(fw, &ev->dir, ev->path);
    flags |= path_flags(ev->path, stx);
    if (partial)
        flags |= YS_F_PARTIAL;
    cls = pathclass_lookup(ev->path).bits;
    if (chmod_) {
        f = rec_begin(fw);
        rec_inode(f, stx);
        f->uid = f->gid = (uint32_t)-1;
        f->class_bits = cls;
        emitted += rec_emit(fw, ev, YS_FILE_CHMOD, flags, ev->path, NULL);
    }
    if (chown_) {
        f = rec_begin(fw);
        rec_inode(f, stx);
        /* the new owner; -1 for what did not change, as in eBPF records */
        if (f->uid == old_uid)
            f->uid = (uint32_t)-1;
        if (f->gid == old_gid)
            f->gid = (uint32_t)-1;
        f->class_bits = cls;
        emitted += rec_emit(fw, ev, YS_FILE_CHOWN, flags, ev->path, NULL);
    }
    if (utimes_m || utimes_a) {
        f = rec_begin(fw);
        rec_inode(f, stx);
        f->uid = f->gid = (uint32_t)-1;
        f->class_bits = cls;
        f->atime_sec = utimes_a ? stx->stx_atime.tv_sec : -1;
        f->atime_nsec = utimes_a ? stx->stx_atime.tv_nsec : 0;
        f->mtime_sec = utimes_m ? stx->stx_mtime.tv_sec : -1;
        f->mtime_nsec = utimes_m ? stx->stx_mtime.tv_nsec : 0;
        emitted += rec_emit(fw, ev, YS_FILE_UTIMES, flags, ev->path, NULL);
    }
    return emitted;
}

/* ------------------------------------------------------------------ reading */

/* Copies a file-handle info record (and its name when `named`) into r.
 * Returns 0, or -EINVAL for a record of the wrong form. */
static int parse_fid(const unsigned char *p, size_t len, bool named, struct fw_ref *r)
{
    struct fanotify_event_info_fid info;
    struct file_handle fh;
    const size_t off = sizeof(info);
    size_t hlen;

    if (len < off + sizeof(fh))
        return -EINVAL;
    memcpy(&info, p, sizeof(info));
    memcpy(&fh, p + off, sizeof(fh));
    if (fh.handle_bytes > MAX_HANDLE_SZ)
        return -EINVAL;
    hlen = sizeof(fh) + fh.handle_bytes;
    if (off + hlen > len)
        return -EINVAL;
    memcpy(&r->fsid, &info.fsid, sizeof(r->fsid));
    memcpy(r->h.raw, p + off, hlen);
    r->name = NULL;
    if (named) {
        const char *name = (const char *)p + off + hlen;
        size_t room = len - off - hlen;
        if (room == 0 || !memchr(name, '\0', room) || !name[0] || strchr(name, '/'))
            return -EINVAL;
        r->name = name;
    }
    r->set = true;
    return 0;
}

/* The record type an event would have produced, for counting. */
static uint16_t mask_type(uint64_t mask)
{
    if (mask & FAN_RENAME)
        return YS_FILE_RENAME;
    if (mask & FAN_CREATE)
        return YS_FILE_CREATE;
    if (mask & FAN_DELETE)
        return YS_FILE_DELETE;
    if (mask & FAN_ATTRIB)
        return YS_FILE_CHMOD;
    return YS_FILE_MODIFY;
}

/* Handles one event: `m` is a copy of its header, `raw` the event in the
 * read buffer (only 4-byte aligned, hence the copy). Returns the number of
 * records emitted. */
static int fw_handle(struct fanwatch *fw, const struct fanotify_event_metadata *m,
                     const unsigned char *raw)
{
    const unsigned char *p = raw + m->metadata_len;
    const unsigned char *end = raw + m->event_len;
    struct fw_event *ev = &fw->ev;
    int emitted = 0;

    if (m->fd >= 0)
        close(m->fd);
    if (m->mask & FAN_Q_OVERFLOW) {
        /* at least one event lost; which ones is unknown */
        fw->stats->dropped[YS_FILE_MODIFY]++;
        lru_clear(&fw->file_lru);
        dirs_clear(fw);
        return 0;
    }
    if (m->pid > 0 && (uint32_t)m->pid == fw->self_tgid)
        return 0;
    memset(ev, 0, offsetof(struct fw_event, path));
    ev->mask = m->mask;
    ev->pid = m->pid > 0 ? (uint32_t)m->pid : 0;
    while (p < end) {
        struct fanotify_event_info_header hdr;
        struct fw_ref *r = NULL;
        bool named = false;

        if ((size_t)(end - p) < sizeof(hdr))
            goto bad;
        memcpy(&hdr, p, sizeof(hdr));
        if (hdr.len < sizeof(hdr) || hdr.len > (size_t)(end - p))
            goto bad;
        switch (hdr.info_type) {
        case FAN_EVENT_INFO_TYPE_FID:
            r = &ev->obj;
            break;
        case FAN_EVENT_INFO_TYPE_DFID_NAME:
            r = &ev->dir;
            named = true;
            break;
        case FAN_EVENT_INFO_TYPE_DFID:
            r = &ev->dir;
            break;
        case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
            r = &ev->old;
            named = true;
            break;
        case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
            r = &ev->new;
            named = true;
            break;
        default:
            break; /* pidfd, error records: not used */
        }
        if (r && parse_fid(p, hdr.len, named, r) != 0)
            goto bad;
        p += hdr.len;
    }

    /* the bits of a merged event, in the order they can have happened */
    if (ev->mask & FAN_RENAME)
        emitted += on_rename(fw, ev);
    if (ev->mask & FAN_CREATE)
        emitted += on_create(fw, ev);
    if (ev->mask & FAN_MODIFY)
        emitted += on_modify(fw, ev);
    if (ev->mask & FAN_ATTRIB)
        emitted += on_attrib(fw, ev);
    if (ev->mask & FAN_CLOSE_WRITE)
        on_close_write(fw, ev);
    if (ev->mask & FAN_DELETE)
        emitted += on_delete(fw, ev);
    return emitted;
bad:
    fw->stats->errors[mask_type(m->mask)]++;
    return 0;
}

int fanwatch_dispatch(struct fanwatch *fw, int budget)
{
    int emitted = 0, ret = 0;

    for (int r = 0; r < budget; r++) {
        ssize_t n = read(fw->fd, fw->buf, sizeof(fw->buf));
        size_t off = 0;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                fw->epoch++; /* the queue was empty: see FAN_ATTRIB above */
                break;
            }
            ret = -errno;
            goto out;
        }
        fw->now_ns = procfs_boottime_ns();
        clock_gettime(CLOCK_REALTIME, &fw->now_real);
        while (off + sizeof(struct fanotify_event_metadata) <= (size_t)n) {
            struct fanotify_event_metadata m;

            memcpy(&m, fw->buf + off, sizeof(m));
            if (m.vers != FANOTIFY_METADATA_VERSION || m.metadata_len < sizeof(m) ||
                m.event_len < m.metadata_len || m.event_len > (size_t)n - off) {
                fw->stats->errors[YS_FILE_MODIFY]++;
                break;
            }
            emitted += fw_handle(fw, &m, fw->buf + off);
            off += m.event_len;
        }
    }
    ret = emitted;
out:
    fs_close_mounts(fw);
    return ret;
}

/* ------------------------------------------------------------------ life cycle */

int fanwatch_fd(const struct fanwatch *fw)
{
    return fw->fd;
}

int fanwatch_mounts_fd(const struct fanwatch *fw)
{
    return fw->mounts_fd;
}

int fanwatch_open(struct fanwatch **out, uint32_t self_tgid, const struct fanwatch_hooks *hooks,
                  struct sensor_stats *stats, char *err, size_t errlen)
{
    const unsigned int init_flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_FID |
                                    FAN_REPORT_DIR_FID | FAN_REPORT_NAME;
    struct fanwatch *fw = calloc(1, sizeof(*fw));
    uint64_t seed = 0;
    size_t marked = 0;
    int ret = 0, first_err = 0;

    *out = NULL;
    if (!fw) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    fw->fd = fw->mounts_fd = -1;
    fw->self_tgid = self_tgid;
    fw->hooks = *hooks;
    fw->stats = stats;

    fw->fd = fanotify_init(init_flags | FAN_REPORT_TARGET_FID, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (fw->fd >= 0)
        fw->have_target = true;
    else if (errno == EINVAL)
        fw->fd = fanotify_init(init_flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (fw->fd < 0) {
        ret = -errno;
        if (ret == -ENOSYS)
            snprintf(err, errlen, "fanotify: the kernel is built without it (CONFIG_FANOTIFY)");
        else if (ret == -EINVAL)
            snprintf(err, errlen, "fanotify: the kernel predates directory file handles (5.9)");
        else if (ret == -EPERM)
            snprintf(err, errlen, "fanotify: not permitted (needs CAP_SYS_ADMIN)");
        else if (ret == -EMFILE)
            snprintf(err, errlen, "fanotify: too many groups (raise fs.fanotify.max_user_groups)");
        else
            snprintf(err, errlen, "fanotify_init: %s", strerror(-ret));
        goto out;
    }
    fw->mask = FW_MASK | (fw->have_target ? FAN_RENAME : 0);

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (uint64_t)procfs_boottime_ns();
    fw->files = calloc(FW_FILES, sizeof(*fw->files));
    fw->dirs = calloc(FW_DIRS, sizeof(*fw->dirs));
    if (!fw->files || !fw->dirs || lru_init(&fw->file_lru, FW_FILES, seed) != 0 ||
        lru_init(&fw->dir_lru, FW_DIRS, seed ^ 0x5bd1e995u) != 0) {
        ret = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    fw->mounts_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fw->mounts_fd < 0) {
        ret = -errno;
        snprintf(err, errlen, "cannot open /proc/self/mountinfo: %s", strerror(-ret));
        goto out;
    }
    ret = fanwatch_rescan(fw);
    if (ret) {
        snprintf(err, errlen, "cannot read the mount table: %s", strerror(-ret));
        goto out;
    }
    for (size_t i = 0; i < fw->nfs; i++) {
        if (!fw->fs[i].hidden && !fw->fs[i].err)
            marked++;
        else if (!first_err && fw->fs[i].err)
            first_err = fw->fs[i].err;
    }
    if (marked == 0) {
        ret = first_err ? first_err : -ENOENT;
        snprintf(err, errlen, "fanotify: no filesystem could be marked (%s)", strerror(-ret));
        goto out;
    }
out:
    if (ret) {
        fanwatch_free(fw);
        return ret;
    }
    *out = fw;
    return 0;
}

int fanwatch_limitations(const struct fanwatch *fw, void (*line)(void *ctx, const char *text),
                         void *ctx)
{
    char text[YS_PATH_MAX + 256];
    int lines = 0;

    if (!fw->have_target) {
        line(ctx, "file renames: not reported, the kernel predates FAN_RENAME (5.17)");
        lines++;
    }
    line(ctx, "file events in other mount namespaces: only filesystems also mounted in the "
              "agent's namespace are watched");
    line(ctx, "file attribute changes: fanotify does not say which attribute changed; when the "
              "file's earlier state is unknown, a permission change is reported (marked partial)");
    line(ctx, "file truncation: seen only when the file is still empty when its event is read");
    lines += 3;
    for (size_t i = 0; i < fw->nfs; i++) {
        const struct fw_fs *fs = &fw->fs[i];
        size_t more = 0;
        bool seen = false;

        if (!fs->hidden && !fs->err)
            continue;
        for (size_t j = 0; j < fw->nfs; j++) {
            const struct fw_fs *o = &fw->fs[j];
            if (o->hidden != fs->hidden || o->err != fs->err || strcmp(o->fstype, fs->fstype) != 0)
                continue;
            if (j < i)
                seen = true;
            else if (j > i)
                more++;
        }
        if (seen)
            continue;
        if (fs->hidden)
            snprintf(text, sizeof(text), "file events on %s (%s%s): hidden under another mount",
                     fs->path, fs->fstype, more ? ", and more mounts" : "");
        else
            snprintf(text, sizeof(text), "file events on %s (%s%s): fanotify refused a filesystem mark (%s)",
                     fs->path, fs->fstype, more ? ", and more mounts" : "", strerror(-fs->err));
        line(ctx, text);
        lines++;
    }
    return lines;
}

void fanwatch_free(struct fanwatch *fw)
{
    if (!fw)
        return;
    if (fw->fd >= 0)
        close(fw->fd);
    if (fw->mounts_fd >= 0)
        close(fw->mounts_fd);
    fs_free_all(fw->fs, fw->nfs);
    if (fw->dirs) {
        for (uint32_t i = 0; i < FW_DIRS; i++)
            free(fw->dirs[i]);
        free(fw->dirs);
    }
    free(fw->files);
    lru_fini(&fw->file_lru);
    lru_fini(&fw->dir_lru);
    free(fw);
}
