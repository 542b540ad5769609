/*
 * remediate.c — persistence removal with a backup and its exact undo (see
 * remediate.h), and the remove_persistence / restore_persistence command
 * handlers.
 *
 * A removal is a plan: the list of files and symlinks it changes, each
 * loaded (bytes, metadata, identity) before anything is touched. The
 * backup record of the whole plan is written and synced first; then the
 * plan is applied, each file checked to be still the one that was read.
 * If applying fails part-way, the backup is restored at once and dropped,
 * so a failed removal leaves the machine as it was. Restore skips entries
 * that are already as the backup says (so it also completes the undo of a
 * removal interrupted by a crash).
 */
#include "agent/remediate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "agent/autostart.h"
#include "agent/commands.h"
#include "common/log.h"

#define MANIFEST_MAX (64u << 20)
#define MAX_ENTRIES 256

static const char *const unit_dirs[] = {"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
                                        "/usr/lib/systemd/system"};
#define N_UNIT_DIRS (sizeof(unit_dirs) / sizeof(unit_dirs[0]))

enum kind {
    K_CRON_FILE,
    K_CRON_LINE,
    K_SYSTEMD_UNIT,
    K_RC_LOCAL_LINE,
    K_SHELL_RC_LINE,
    K_PROFILE_D_FILE,
    K_AUTHORIZED_KEYS_LINE,
    K_LD_PRELOAD_LINE,
    K_N
};

static const char *const kind_names[K_N] = {"cron_file",      "cron_line",       "systemd_unit",
                                            "rc_local_line",  "shell_rc_line",   "profile_d_file",
                                            "authorized_keys_line", "ld_preload_line"};

static bool is_line_kind(enum kind k)
{
    return k != K_CRON_FILE && k != K_PROFILE_D_FILE && k != K_SYSTEMD_UNIT;
}

/* One file or symlink the plan changes. */
struct entry {
    char *path;
    bool symlink;
    bool rewritten; /* kept with new content; else removed */
    struct remfs_meta meta;
    dev_t dev;
    ino_t ino;
    char *data; /* the bytes before (files) */
    size_t len;
    char *newdata; /* the bytes after (rewritten files) */
    size_t newlen;
    char target[PATH_MAX]; /* symlinks */
    char sha[65], after_sha[65];
};

struct plan {
    struct entry v[MAX_ENTRIES];
    size_t n;
};

void remediate_result_free(struct remediate_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nitems; i++)
        free(r->items[i]);
    free(r->items);
    r->items = NULL;
    r->nitems = 0;
}

static int result_add(struct remediate_result *r, const char *s, size_t len)
{
    char **nv = realloc(r->items, (r->nitems + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    r->items = nv;
    if (!(r->items[r->nitems] = strndup(s, len)))
        return -ENOMEM;
    r->nitems++;
    return 0;
}

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].path);
        free(p->v[i].data);
        free(p->v[i].newdata);
        remfs_meta_free(&p->v[i].meta);
    }
    p->n = 0;
}

static void sha256_buf(const void *buf, size_t len, char hex[65])
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char d[32];
    unsigned int dl = 0;
    if (!EVP_Digest(buf, len, d, &dl, EVP_sha256(), NULL) || dl != 32)
        memset(d, 0, sizeof(d));
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = hexd[d[i] >> 4];
        hex[2 * i + 1] = hexd[d[i] & 15];
    }
    hex[64] = '\0';
}

/* ------------------------------------------------------------ where */

static bool dir_is(const char *path, const char *dir)
{
    const char *slash = strrchr(path, '/');
    size_t n = strlen(dir);
    return slash && (size_t)(slash - path) == n && strncmp(path, dir, n) == 0;
}

static const char *base(const char *path)
{
    return strrchr(path, '/') + 1;
}

/* Whether path is /root/<rest> or /home/<user>/<rest>. */
static bool in_home(const char *path, const char *rest)
{
    const char *p;
    if (strncmp(path, "/root/", 6) == 0)
        p = path + 6;
    else if (strncmp(path, "/home/", 6) == 0 && (p = strchr(path + 6, '/')) && p > path + 6)
        p++;
    else
        return false;
    return strcmp(p, rest) == 0;
}

static bool place_ok(enum kind k, const char *path)
{
    static const char *const rc[] = {".bashrc",     ".profile",     ".bash_profile", ".bash_login",
                                     ".bash_logout", ".zshrc", NULL};
    switch (k) {
    case K_CRON_FILE:
        return dir_is(path, "/etc/cron.d") || dir_is(path, "/etc/cron.hourly") || dir_is(path, "/etc/cron.daily") ||
               dir_is(path, "/etc/cron.weekly") || dir_is(path, "/etc/cron.monthly");
    case K_CRON_LINE:
        return strcmp(path, "/etc/crontab") == 0 || dir_is(path, "/etc/cron.d") ||
               dir_is(path, "/var/spool/cron/crontabs");
    case K_RC_LOCAL_LINE:
        return strcmp(path, "/etc/rc.local") == 0;
    case K_SHELL_RC_LINE:
        if (!strcmp(path, "/etc/profile") || !strcmp(path, "/etc/bash.bashrc") || !strcmp(path, "/etc/zsh/zshrc"))
            return true;
        for (const char *const *r = rc; *r; r++)
            if (in_home(path, *r))
                return true;
        return false;
    case K_PROFILE_D_FILE:
        return dir_is(path, "/etc/profile.d");
    case K_AUTHORIZED_KEYS_LINE:
        return in_home(path, ".ssh/authorized_keys") || in_home(path, ".ssh/authorized_keys2");
    case K_LD_PRELOAD_LINE:
        return strcmp(path, "/etc/ld.so.preload") == 0;
    case K_SYSTEMD_UNIT:
        for (size_t i = 0; i < N_UNIT_DIRS; i++)
            if (dir_is(path, unit_dirs[i]))
                return true;
        return false;
    default:
        return false;
    }
}

static bool valid_unit(const char *s)
{
    static const char *const suffix[] = {".service", ".timer", ".socket", ".path", NULL};
    size_t n = strlen(s);
    bool ok = false;
    if (n < 3 || n > 255 || s[0] == '.')
        return false;
    for (const char *p = s; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            !strchr(":_.@-\\", *p))
            return false;
    for (const char *const *x = suffix; *x && !ok; x++)
        ok = n > strlen(*x) && strcmp(s + n - strlen(*x), *x) == 0;
    return ok;
}

/* ------------------------------------------------------------ loading */

static struct entry *plan_add(struct plan *p, const char *path, char *err, size_t errlen)
{
    struct entry *e;
    if (p->n >= MAX_ENTRIES) {
        snprintf(err, errlen, "more than %d files would change; refused", MAX_ENTRIES);
        return NULL;
    }
    e = &p->v[p->n];
    memset(e, 0, sizeof(*e));
    if (!(e->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->n++;
    return e;
}

/* Loads the regular file or symlink at path (resolved with no symlink on
 * the way) into a new entry of p. */
static int load(struct plan *p, const char *path, bool allow_symlink, char *err, size_t errlen)
{
    struct entry *en;
    const char *name;
    struct stat st, lst;
    int dirfd, fd = -1, e = 0;

    dirfd = remfs_open_parent(path, &name, err, errlen);
    if (dirfd < 0)
        return dirfd;
    if (fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot find %.200s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(lst.st_mode) && !(allow_symlink && S_ISLNK(lst.st_mode))) {
        e = -EINVAL;
        snprintf(err, errlen, "%.200s is %s, not a regular file; refused", path,
                 S_ISLNK(lst.st_mode) ? "a symlink" : S_ISDIR(lst.st_mode) ? "a directory" : "a special file");
        goto out;
    }
    if (!(en = plan_add(p, path, err, errlen))) {
        e = -ENOMEM;
        goto out;
    }
    en->dev = lst.st_dev;
    en->ino = lst.st_ino;
    if (S_ISLNK(lst.st_mode)) {
        ssize_t n = readlinkat(dirfd, name, en->target, sizeof(en->target) - 1);
        if (n <= 0) {
            e = n < 0 ? -errno : -EINVAL;
            snprintf(err, errlen, "cannot read the symlink %.200s", path);
            goto out;
        }
        en->target[n] = '\0';
        en->symlink = true;
        e = remfs_meta_read(-1, dirfd, name, &en->meta, err, errlen);
        goto out;
    }
    if (lst.st_size > (off_t)REMEDIATE_MAX_FILE) {
        e = -EFBIG;
        snprintf(err, errlen, "%.200s is larger than %u MiB; refused", path, REMEDIATE_MAX_FILE >> 20);
        goto out;
    }
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_ino != lst.st_ino || st.st_dev != lst.st_dev) {
        e = fd < 0 ? -errno : -EAGAIN;
        snprintf(err, errlen, "cannot open %.200s: %s", path, fd < 0 ? strerror(errno) : "it changed meanwhile");
        goto out;
    }
    e = remfs_meta_read(fd, -1, NULL, &en->meta, err, errlen);
    if (e)
        goto out;
    e = remfs_read_all(fd, REMEDIATE_MAX_FILE, &en->data, &en->len);
    if (e) {
        snprintf(err, errlen, "cannot read %.200s: %s", path, strerror(-e));
        goto out;
    }
    sha256_buf(en->data, en->len, en->sha);
out:
    if (fd >= 0)
        close(fd);
    close(dirfd);
    return e;
}

/* ------------------------------------------------------------ lines */

static const char *const key_types[] = {"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-", NULL};

int remediate_key_fingerprint(const char *line, size_t len, char *fp, size_t fplen)
{
    const char *p = line, *end = line + len, *tok[64];
    size_t tlen[64], nt = 0;

    while (p < end && nt < 64) {
        bool quoted = false;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= end || (nt == 0 && *p == '#'))
            break;
        tok[nt] = p;
        while (p < end && (quoted || (*p != ' ' && *p != '\t'))) {
            if (*p == '\\' && p + 1 < end && quoted)
                p++;
            else if (*p == '"')
                quoted = !quoted;
            p++;
        }
        tlen[nt] = (size_t)(p - tok[nt]);
        nt++;
    }
    for (size_t i = 0; i + 1 < nt; i++) {
        bool is_type = false;
        unsigned char blob[8192], digest[32], b64[64];
        unsigned int dl = 0;
        int n, pad = 0;
        for (const char *const *t = key_types; *t && !is_type; t++)
            is_type = tlen[i] > strlen(*t) && strncmp(tok[i], *t, strlen(*t)) == 0;
        if (!is_type || tlen[i + 1] % 4 || tlen[i + 1] == 0 || tlen[i + 1] > 4 * sizeof(blob) / 3)
            continue;
        n = EVP_DecodeBlock(blob, (const unsigned char *)tok[i + 1], (int)tlen[i + 1]);
        if (n <= 0)
            continue;
        pad = (tok[i + 1][tlen[i + 1] - 1] == '=') + (tok[i + 1][tlen[i + 1] - 2] == '=');
        if (!EVP_Digest(blob, (size_t)(n - pad), digest, &dl, EVP_sha256(), NULL) || dl != 32)
            return -EIO;
        n = EVP_EncodeBlock(b64, digest, 32);
        while (n > 0 && b64[n - 1] == '=')
            n--;
        b64[n] = '\0';
        snprintf(fp, fplen, "SHA256:%s", (const char *)b64);
        return 0;
    }
    return -EINVAL;
}

/* Rewrites entry en without the lines matching match; the removed lines go
 * to res. Returns -ENOENT when no line matches. */
static int drop_lines(struct entry *en, enum kind k, const char *match, struct remediate_result *res)
{
    size_t mlen = strlen(match), o = 0;
    bool by_fp = k == K_AUTHORIZED_KEYS_LINE && strncmp(match, "SHA256:", 7) == 0;
    char *out = malloc(en->len + 1);

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < en->len;) {
        const char *line = en->data + i, *nl = memchr(line, '\n', en->len - i);
        size_t len = nl ? (size_t)(nl - line) : en->len - i, full = nl ? len + 1 : len;
        bool hit;
        if (by_fp) {
            char fp[64];
            hit = remediate_key_fingerprint(line, len, fp, sizeof(fp)) == 0 && strcmp(fp, match) == 0;
        } else {
            hit = len == mlen && memcmp(line, match, mlen) == 0;
        }
        if (hit) {
            if (result_add(res, line, len) != 0) {
                free(out);
                return -ENOMEM;
            }
        } else {
            memcpy(out + o, line, full);
            o += full;
        }
        i += full;
    }
    if (!res->nitems) {
        free(out);
        return -ENOENT;
    }
    en->rewritten = true;
    en->newdata = out;
    en->newlen = o;
    sha256_buf(out, o, en->after_sha);
    return 0;
}

/* ------------------------------------------------------------ systemd */

/* Whether systemd is the running service manager (sd_booted()'s test). */
static bool systemd_runs(void)
{
    struct stat st;
    return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* StopUnit(unit, "replace") or, with unit NULL, Reload, on the system bus.
 * A unit systemd does not know is not an error. */
static int systemd_call(const char *unit, char *err, size_t errlen)
{
    sd_bus *bus = NULL;
    sd_bus_error be = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r = sd_bus_open_system(&bus);

    if (r >= 0) {
        if (unit)
            r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                   "org.freedesktop.systemd1.Manager", "StopUnit", &be, &reply, "ss", unit,
                                   "replace");
        else
            r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                   "org.freedesktop.systemd1.Manager", "Reload", &be, &reply, "");
        if (r < 0 && unit && sd_bus_error_has_name(&be, "org.freedesktop.systemd1.NoSuchUnit"))
            r = 0;
    }
    if (r < 0)
        snprintf(err, errlen, "systemd could not %s%s: %s", unit ? "stop " : "reload", unit ? unit : "",
                 be.message ? be.message : strerror(-r));
    sd_bus_message_unref(reply);
    sd_bus_error_free(&be);
    sd_bus_flush_close_unref(bus);
    return r < 0 ? r : 0;
}

/* The unit files named unit (in path's directory only, or in every unit
 * directory) and the symlinks to it in .wants/.requires/.upholds. */
static int plan_unit(struct plan *p, const char *path, const char *unit, char *err, size_t errlen)
{
    char full[PATH_MAX];
    int e;

    for (size_t i = 0; i < N_UNIT_DIRS; i++) {
        int dfd;
        DIR *d;
        struct dirent *de;
        struct stat st;

        if (path && !dir_is(path, unit_dirs[i]))
            continue;
        dfd = open(unit_dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            continue;
        if (fstatat(dfd, unit, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            snprintf(full, sizeof(full), "%s/%s", unit_dirs[i], unit);
            if ((e = load(p, full, true, err, errlen)) != 0) {
                close(dfd);
                return e;
            }
        }
        if (!(d = fdopendir(dfd))) {
            close(dfd);
            continue;
        }
        while ((de = readdir(d))) {
            size_t n = strlen(de->d_name);
            int sub;
            bool dep = (n > 6 && !strcmp(de->d_name + n - 6, ".wants")) ||
                       (n > 9 && !strcmp(de->d_name + n - 9, ".requires")) ||
                       (n > 8 && !strcmp(de->d_name + n - 8, ".upholds"));
            if (!dep)
                continue;
            sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            if (fstatat(sub, unit, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
                snprintf(full, sizeof(full), "%s/%s/%s", unit_dirs[i], de->d_name, unit);
                if ((e = load(p, full, true, err, errlen)) != 0) {
                    close(sub);
                    closedir(d);
                    return e;
                }
            }
            close(sub);
        }
        closedir(d);
    }
    if (!p->n) {
        snprintf(err, errlen, "no unit file %s in the unit directories (/etc/systemd/system, /run/systemd/system, "
                              "/usr/local/lib/systemd/system, /usr/lib/systemd/system)", unit);
        return -ENOENT;
    }
    return 0;
}

/* ------------------------------------------------------------ backup */

static void entry_json(struct jsonw *w, const struct entry *en, size_t i)
{
    char data[32];
    jsonw_object_begin(w);
    jsonw_kv_str(w, "path", en->path);
    jsonw_kv_str(w, "type", en->symlink ? "symlink" : "file");
    jsonw_kv_str(w, "change", en->rewritten ? "rewritten" : "removed");
    if (en->symlink) {
        jsonw_kv_str(w, "target", en->target);
    } else {
        snprintf(data, sizeof(data), "%zu.data", i);
        jsonw_kv_str(w, "data", data);
        jsonw_kv_str(w, "sha256", en->sha);
        if (en->rewritten)
            jsonw_kv_str(w, "after_sha256", en->after_sha);
    }
    remfs_meta_json(w, &en->meta);
    jsonw_object_end(w);
}

static int write_backup(int bfd, const char *id, const char *kind, const char *path, const char *match,
                        const char *action, const struct plan *p, char *err, size_t errlen)
{
    struct remfs_meta own = {.mode = S_IFREG | 0400, .uid = geteuid(), .gid = getegid()};
    struct jsonw w;
    char name[32];
    int e = 0;

    own.atime_ns = own.mtime_ns = (int64_t)remfs_now_ns();
    for (size_t i = 0; i < p->n && !e; i++) {
        if (p->v[i].symlink)
            continue;
        snprintf(name, sizeof(name), "%zu.data", i);
        e = remfs_replace(bfd, name, p->v[i].data, p->v[i].len, &own, true, err, errlen);
    }
    if (e)
        return e;
    jsonw_init(&w);
    jsonw_object_begin(&w);
    jsonw_kv_int(&w, "version", 1);
    jsonw_kv_str(&w, "backup_id", id);
    jsonw_kv_str(&w, "kind", kind);
    jsonw_kv_str_opt(&w, "path", path);
    jsonw_kv_str_opt(&w, "match", match);
    jsonw_kv_str(&w, "action", action ? action : "");
    jsonw_kv_time(&w, "created", remfs_now_ns());
    jsonw_key(&w, "entries");
    jsonw_array_begin(&w);
    for (size_t i = 0; i < p->n; i++)
        entry_json(&w, &p->v[i], i);
    jsonw_array_end(&w);
    jsonw_object_end(&w);
    if (jsonw_failed(&w)) {
        snprintf(err, errlen, "out of memory");
        e = -ENOMEM;
    } else {
        e = remfs_replace(bfd, "manifest.json", w.buf, w.len, &own, true, err, errlen);
    }
    jsonw_free(&w);
    return e;
}

/* Removes the backup directory id (its files, then itself). */
static void drop_backup(int sfd, const char *id)
{
    int bfd = openat(sfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = bfd >= 0 ? fdopendir(bfd) : NULL;
    struct dirent *de;

    if (!d) {
        if (bfd >= 0)
            close(bfd);
        return;
    }
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' || strlen(de->d_name) > 2)
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
    unlinkat(sfd, id, AT_REMOVEDIR);
}

/* ------------------------------------------------------------ apply */

/* Applies one entry of a removal: rewrite or remove, checking the path
 * still holds what was read. */
static int apply(const struct entry *en, char *err, size_t errlen)
{
    const char *name;
    struct stat st;
    int dirfd = remfs_open_parent(en->path, &name, err, errlen), e = 0;

    if (dirfd < 0)
        return dirfd;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_dev != en->dev || st.st_ino != en->ino ||
        (!en->symlink && ((uint64_t)st.st_size != en->len ||
                          (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != en->meta.mtime_ns))) {
        e = -EAGAIN;
        snprintf(err, errlen, "%.200s changed while it was being remediated; nothing was done", en->path);
    } else if (en->rewritten) {
        /* same owner, mode and xattrs; the times say it changed now */
        struct remfs_meta m = en->meta;
        m.atime_ns = m.mtime_ns = (int64_t)remfs_now_ns();
        e = remfs_replace(dirfd, name, en->newdata, en->newlen, &m, false, err, errlen);
    } else if (unlinkat(dirfd, name, 0) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot remove %.200s: %s", en->path, strerror(errno));
    } else {
        fsync(dirfd);
    }
    close(dirfd);
    return e;
}

int remediate_remove(const char *backups, const char *kind, const char *path, const char *match,
                     const char *action, struct remediate_result *res, char *err, size_t errlen)
{
    struct plan *p = calloc(1, sizeof(*p));
    enum kind k = K_N;
    int sfd = -1, bfd = -1, e = 0;
    bool backed_up = false;

    memset(res, 0, sizeof(*res));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < K_N; i++)
        if (kind && strcmp(kind, kind_names[i]) == 0)
            k = (enum kind)i;
    if (k == K_N) {
        snprintf(err, errlen, "unknown kind '%.64s' (cron_file, cron_line, systemd_unit, rc_local_line, "
                              "shell_rc_line, profile_d_file, authorized_keys_line, ld_preload_line)",
                 kind ? kind : "");
        e = -EINVAL;
        goto out;
    }
    if (path && (e = remfs_check_path(path, err, errlen)) != 0)
        goto out;
    if (!path && k != K_SYSTEMD_UNIT) {
        snprintf(err, errlen, "%s needs a path", kind);
        e = -EINVAL;
        goto out;
    }
    if (path && !place_ok(k, path)) {
        snprintf(err, errlen, "%.200s is not a place %s applies to (see docs/wire.md)", path, kind);
        e = -EINVAL;
        goto out;
    }
    if ((is_line_kind(k) || k == K_SYSTEMD_UNIT) && (!match || !*match)) {
        snprintf(err, errlen, "%s needs a match (%s)", kind, k == K_SYSTEMD_UNIT ? "the unit name" : "the line");
        e = -EINVAL;
        goto out;
    }
    if (!is_line_kind(k) && k != K_SYSTEMD_UNIT && match) {
        snprintf(err, errlen, "%s removes a whole file: no match", kind);
        e = -EINVAL;
        goto out;
    }
    if (match && (strlen(match) > REMEDIATE_MAX_MATCH || strchr(match, '\n'))) {
        snprintf(err, errlen, "the match must be one line of at most %d bytes", REMEDIATE_MAX_MATCH);
        e = -EINVAL;
        goto out;
    }
    if (k == K_SYSTEMD_UNIT && (!valid_unit(match) || (path && strcmp(base(path), match) != 0))) {
        snprintf(err, errlen, "'%.100s' is not a unit name (NAME.service, .timer, .socket or .path)%s", match,
                 path ? " matching the path's file name" : "");
        e = -EINVAL;
        goto out;
    }

    /* the plan: everything loaded before anything changes */
    if (k == K_SYSTEMD_UNIT)
        e = plan_unit(p, path, match, err, errlen);
    else
        e = load(p, path, false, err, errlen);
    if (e)
        goto out;
    if (is_line_kind(k)) {
        e = drop_lines(&p->v[0], k, match, res);
        if (e == -ENOENT)
            snprintf(err, errlen, "no line of %.200s matches; nothing was changed", path);
        if (e)
            goto out;
    } else {
        for (size_t i = 0; i < p->n; i++)
            if ((e = result_add(res, p->v[i].path, strlen(p->v[i].path))) != 0)
                goto out;
    }

    /* the backup, durable before the change */
    if ((e = remfs_private_dir(backups, err, errlen)) != 0)
        goto out;
    if ((sfd = remfs_open_dir(backups, err, errlen)) < 0) {
        e = sfd;
        goto out;
    }
    if ((e = remfs_new_id(res->backup_id)) != 0 || mkdirat(sfd, res->backup_id, 0700) != 0) {
        e = e ? e : -errno;
        snprintf(err, errlen, "cannot create a backup in %.200s: %s", backups, strerror(-e));
        goto out;
    }
    bfd = openat(sfd, res->backup_id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    backed_up = true;
    if (bfd < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot open the backup: %s", strerror(errno));
        goto out;
    }
    e = write_backup(bfd, res->backup_id, kind, path, match, action, p, err, errlen);
    if (e)
        goto out;
    fsync(bfd);
    fsync(sfd);

    if (k == K_SYSTEMD_UNIT && systemd_runs() && (e = systemd_call(match, err, errlen)) != 0)
        goto out;
    for (size_t i = 0; i < p->n; i++) {
        e = apply(&p->v[i], err, errlen);
        if (e) {
            /* put back what was done so far, then forget the backup */
            struct remediate_result undo = {{0}};
            char uerr[512];
            if (i > 0 && remediate_restore(backups, res->backup_id, &undo, uerr, sizeof(uerr)) != 0) {
                log_error("removing persistence failed part-way and the undo failed too (%s); backup %s keeps "
                          "what was removed", uerr, res->backup_id);
                backed_up = false; /* keep it */
            }
            remediate_result_free(&undo);
            goto out;
        }
    }
    if (k == K_SYSTEMD_UNIT && systemd_runs() && systemd_call(NULL, err, errlen) != 0)
        log_warn("%s", err); /* the files are gone; systemd forgets the unit at its next reload */
out:
    if (e && backed_up && sfd >= 0)
        drop_backup(sfd, res->backup_id);
    if (e)
        remediate_result_free(res);
    if (bfd >= 0)
        close(bfd);
    if (sfd >= 0)
        close(sfd);
    plan_free(p);
    free(p);
    return e;
}

/* ------------------------------------------------------------ restore */

struct rentry {
    const char *path, *target, *sha, *after;
    bool symlink, rewritten, skip;
    struct remfs_meta meta;
    char *data;
    size_t len;
};

/* Loads and checks one manifest entry; decides whether it needs doing. */
static int restore_check(int bfd, json_t *j, struct rentry *r, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *change = json_string_value(json_object_get(j, "change"));
    const char *data = json_string_value(json_object_get(j, "data"));
    const char *name;
    struct stat st;
    int dirfd, e;

    r->path = json_string_value(json_object_get(j, "path"));
    r->target = json_string_value(json_object_get(j, "target"));
    r->sha = json_string_value(json_object_get(j, "sha256"));
    r->after = json_string_value(json_object_get(j, "after_sha256"));
    r->symlink = type && !strcmp(type, "symlink");
    r->rewritten = change && !strcmp(change, "rewritten");
    if (!r->path || remfs_check_path(r->path, err, errlen) != 0 || !type || !change ||
        (r->symlink ? !r->target : (!data || !r->sha || strchr(data, '/') || (r->rewritten && !r->after)))) {
        snprintf(err, errlen, "the backup's manifest is malformed");
        return -EINVAL;
    }
    if ((e = remfs_meta_from_json(j, &r->meta, err, errlen)) != 0)
        return e;
    if (!r->symlink) {
        char sha[65];
        int fd = openat(bfd, data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || remfs_read_all(fd, REMEDIATE_MAX_FILE, &r->data, &r->len) != 0) {
            if (fd >= 0)
                close(fd);
            snprintf(err, errlen, "the backup's copy of %.200s is unreadable", r->path);
            return -EIO;
        }
        close(fd);
        sha256_buf(r->data, r->len, sha);
        if (strcmp(sha, r->sha) != 0) {
            snprintf(err, errlen, "the backup's copy of %.200s no longer has its SHA-256", r->path);
            return -EIO;
        }
    }
    dirfd = remfs_open_parent(r->path, &name, err, errlen);
    if (dirfd < 0) {
        snprintf(err, errlen, "the directory of %.200s is gone or changed; directories are not recreated", r->path);
        return dirfd;
    }
    e = 0;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (r->rewritten) {
            e = -ENOENT;
            snprintf(err, errlen, "%.200s was removed since; not restored", r->path);
        }
    } else if (r->symlink) {
        char t[PATH_MAX];
        ssize_t n = S_ISLNK(st.st_mode) ? readlinkat(dirfd, name, t, sizeof(t) - 1) : -1;
        if (n >= 0)
            t[n] = '\0';
        if (n >= 0 && !strcmp(t, r->target)) {
            r->skip = true;
        } else {
            e = -EEXIST;
            snprintf(err, errlen, "%.200s exists now; nothing was restored", r->path);
        }
    } else {
        char sha[65] = "";
        /* O_NOATIME: a refused undo must not even change an access time */
        int fd = S_ISREG(st.st_mode) ? openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOATIME)
                                     : -1;
        if (fd < 0 && errno == EPERM)
            fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0) {
            if (remfs_sha256_fd(fd, sha) != 0)
                sha[0] = '\0';
            close(fd);
        }
        if (!strcmp(sha, r->sha))
            r->skip = true; /* as it was: nothing to do */
        else if (!(r->rewritten && !strcmp(sha, r->after))) {
            e = -EEXIST;
            snprintf(err, errlen, "%.200s %s since; nothing was restored", r->path,
                     r->rewritten ? "changed" : "exists again");
        }
    }
    close(dirfd);
    return e;
}

static int restore_symlink(const struct rentry *r, char *err, size_t errlen)
{
    struct timespec t[2] = {{r->meta.atime_ns / 1000000000, r->meta.atime_ns % 1000000000},
                            {r->meta.mtime_ns / 1000000000, r->meta.mtime_ns % 1000000000}};
    const char *name;
    char tmp[64], id[REMFS_ID_LEN + 1];
    int dirfd = remfs_open_parent(r->path, &name, err, errlen), e = 0;

    if (dirfd < 0)
        return dirfd;
    if (remfs_new_id(id) != 0) {
        close(dirfd);
        return -EIO;
    }
    snprintf(tmp, sizeof(tmp), ".yamori-%.16s.tmp", id);
    if (symlinkat(r->target, dirfd, tmp) != 0 || fchownat(dirfd, tmp, r->meta.uid, r->meta.gid, AT_SYMLINK_NOFOLLOW) ||
        utimensat(dirfd, tmp, t, AT_SYMLINK_NOFOLLOW) != 0 || renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE)) {
        e = -errno;
        snprintf(err, errlen, "cannot put the symlink %.200s back: %s", r->path, strerror(errno));
        unlinkat(dirfd, tmp, 0);
    } else {
        fsync(dirfd);
    }
    close(dirfd);
    return e;
}

int remediate_restore(const char *backups, const char *id, struct remediate_result *res, char *err,
                      size_t errlen)
{
    struct rentry *rv = NULL;
    json_t *root = NULL, *entries;
    char *text = NULL;
    size_t len, n = 0;
    struct stat st;
    int sfd = -1, bfd = -1, fd, e = 0;

    memset(res, 0, sizeof(*res));
    if (!remfs_is_id(id)) {
        snprintf(err, errlen, "a backup id is %d lower-case hex characters", REMFS_ID_LEN);
        return -EINVAL;
    }
    snprintf(res->backup_id, sizeof(res->backup_id), "%s", id);
    if ((sfd = remfs_open_dir(backups, err, errlen)) < 0) {
        if (sfd == -ENOENT)
            snprintf(err, errlen, "no backup has the id %s (no backup was ever made here)", id);
        return sfd;
    }
    bfd = openat(sfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (bfd < 0) {
        e = -ENOENT;
        snprintf(err, errlen, "no backup has the id %s", id);
        goto out;
    }
    if (fstatat(bfd, "restored", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        e = -EALREADY;
        snprintf(err, errlen, "backup %s was restored already; it is not restored twice", id);
        goto out;
    }
    fd = openat(bfd, "manifest.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || remfs_read_all(fd, MANIFEST_MAX, &text, &len) != 0 || !(root = json_loadb(text, len, 0, NULL))) {
        if (fd >= 0)
            close(fd);
        e = -EINVAL;
        snprintf(err, errlen, "backup %s has no readable manifest", id);
        goto out;
    }
    close(fd);
    entries = json_object_get(root, "entries");
    n = json_array_size(entries);
    if (!n || n > MAX_ENTRIES || !(rv = calloc(n, sizeof(*rv)))) {
        e = -EINVAL;
        snprintf(err, errlen, "backup %s has a malformed manifest", id);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((e = restore_check(bfd, json_array_get(entries, i), &rv[i], err, errlen)) != 0)
            goto out;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        int dirfd;
        if (!rv[i].skip) {
            if (rv[i].symlink) {
                e = restore_symlink(&rv[i], err, errlen);
            } else if ((dirfd = remfs_open_parent(rv[i].path, &name, err, errlen)) < 0) {
                e = dirfd;
            } else {
                e = remfs_replace(dirfd, name, rv[i].data, rv[i].len, &rv[i].meta, !rv[i].rewritten, err, errlen);
                close(dirfd);
            }
            if (e)
                goto out;
        }
        if ((e = result_add(res, rv[i].path, strlen(rv[i].path))) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    {
        struct remfs_meta own = {.mode = S_IFREG | 0400, .uid = geteuid(), .gid = getegid()};
        char when[64];
        own.atime_ns = own.mtime_ns = (int64_t)remfs_now_ns();
        jsonw_format_time(when, sizeof(when), remfs_now_ns());
        e = remfs_replace(bfd, "restored", when, strlen(when), &own, true, err, errlen);
        if (e)
            goto out;
    }
    if (!strcmp(json_string_value(json_object_get(root, "kind")) ?: "", "systemd_unit") && systemd_runs() &&
        systemd_call(NULL, err, errlen) != 0)
        log_warn("%s", err);
out:
    for (size_t i = 0; rv && i < n; i++) {
        free(rv[i].data);
        remfs_meta_free(&rv[i].meta);
    }
    free(rv);
    if (e)
        remediate_result_free(res);
    json_decref(root);
    free(text);
    if (bfd >= 0)
        close(bfd);
    if (sfd >= 0)
        close(sfd);
    return e;
}

/* ------------------------------------------------------------ commands */

static void backups_path(char *out, size_t n)
{
    snprintf(out, n, "%s/remediation", remfs_state_dir());
}

static void write_result(struct jsonw *out, const struct remediate_result *r, const char *key)
{
    jsonw_object_begin(out);
    jsonw_kv_str(out, "backup_id", r->backup_id);
    jsonw_key(out, key);
    jsonw_array_begin(out);
    for (size_t i = 0; i < r->nitems; i++)
        jsonw_str(out, r->items[i]);
    jsonw_array_end(out);
    jsonw_object_end(out);
}

/* remove_persistence {"entry": id, "scheduled": bool}: the autostart
 * entry the live commands `scheduledtasks` and `persistence` list under
 * that id (autostart.h), looked up again now, removed with its own
 * remove_* arguments; the output also says which entry it was. */
static int remove_entry(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const allowed[] = {"entry", "scheduled", NULL};
    struct autostart_entry *v = NULL;
    const struct autostart_entry *en;
    struct remediate_result r;
    json_t *sched = json_object_get(cmd->args, "scheduled");
    char backups[PATH_MAX], action[64];
    const char *id;
    size_t n = 0;
    int e;

    if ((e = remfs_args_only(cmd->args, allowed, err, errlen)) != 0 ||
        (e = remfs_arg_str(cmd->args, "entry", true, 255, &id, err, errlen)) != 0)
        return e;
    if (sched && !json_is_boolean(sched)) {
        snprintf(err, errlen, "remove_persistence: scheduled must be true or false");
        return -EINVAL;
    }
    e = autostart_list(&v, &n, "", err, errlen);
    if (e)
        return e;
    en = autostart_find(v, n, id);
    if (!en) {
        snprintf(err, errlen, "no autostart entry '%s' on this machine (`persistence` lists them)", id);
        e = -ENOENT;
    } else if (json_is_true(sched) && !en->scheduled) {
        snprintf(err, errlen, "'%s' is a %s entry in %s, not a scheduled task (use `remediate persistence %s`)", id,
                 en->category, en->source, id);
        e = -EINVAL;
    } else if (!en->remove_kind) {
        snprintf(err, errlen, "'%s' (a %s entry in %s) cannot be removed by remediation; edit %s by hand", id,
                 en->category, en->source, en->source);
        e = -EOPNOTSUPP;
    }
    if (e)
        goto out;
    backups_path(backups, sizeof(backups));
    snprintf(action, sizeof(action), "command %lld", (long long)cmd->id);
    e = remediate_remove(backups, en->remove_kind, en->remove_path, en->remove_match, action, &r, err, errlen);
    if (e)
        goto out;
    jsonw_object_begin(out);
    jsonw_kv_str(out, "backup_id", r.backup_id);
    jsonw_key(out, "removed");
    jsonw_array_begin(out);
    for (size_t i = 0; i < r.nitems; i++)
        jsonw_str(out, r.items[i]);
    jsonw_array_end(out);
    jsonw_key(out, "entry");
    jsonw_object_begin(out);
    jsonw_kv_str(out, "id", en->id);
    jsonw_kv_str(out, "category", en->category);
    jsonw_kv_str(out, "source", en->source);
    if (en->command)
        jsonw_kv_str(out, "command", en->command);
    jsonw_kv_str(out, "kind", en->remove_kind);
    jsonw_object_end(out);
    jsonw_object_end(out);
    remediate_result_free(&r);
out:
    autostart_free(v, n);
    return e;
}

int remediate_cmd_remove(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const allowed[] = {"kind", "path", "match", NULL};
    struct remediate_result r;
    const char *kind, *path, *match;
    char backups[PATH_MAX], action[64];
    int e;

    if (json_object_get(cmd->args, "entry"))
        return remove_entry(cmd, out, err, errlen);
    if ((e = remfs_args_only(cmd->args, allowed, err, errlen)) != 0 ||
        (e = remfs_arg_str(cmd->args, "kind", true, 64, &kind, err, errlen)) != 0 ||
        (e = remfs_arg_str(cmd->args, "path", false, PATH_MAX - 1, &path, err, errlen)) != 0 ||
        (e = remfs_arg_str(cmd->args, "match", false, REMEDIATE_MAX_MATCH, &match, err, errlen)) != 0)
        return e;
    backups_path(backups, sizeof(backups));
    snprintf(action, sizeof(action), "command %lld", (long long)cmd->id);
    e = remediate_remove(backups, kind, path, match, action, &r, err, errlen);
    if (e)
        return e;
    write_result(out, &r, "removed");
    remediate_result_free(&r);
    return 0;
}

int remediate_cmd_restore(const struct command *cmd, struct jsonw *out, char *err, size_t errlen)
{
    static const char *const allowed[] = {"backup_id", NULL};
    struct remediate_result r;
    const char *id;
    char backups[PATH_MAX];
    int e;

    if ((e = remfs_args_only(cmd->args, allowed, err, errlen)) != 0 ||
        (e = remfs_arg_str(cmd->args, "backup_id", true, REMFS_ID_LEN, &id, err, errlen)) != 0)
        return e;
    backups_path(backups, sizeof(backups));
    e = remediate_restore(backups, id, &r, err, errlen);
    if (e)
        return e;
    write_result(out, &r, "restored");
    remediate_result_free(&r);
    return 0;
}
