/*
 * remediate_fs.c — the file operations quarantine and persistence removal
 * share (see remediate_fs.h): path checks, symlink-free resolution,
 * metadata capture and re-application, hashing, atomic replacement.
 */
#include "agent/remediate_fs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static const char *state_dir = "/var/lib/yamori";

void remfs_set_state_dir(const char *dir)
{
    if (dir && dir[0] == '/')
        state_dir = dir;
}

const char *remfs_state_dir(void)
{
    return state_dir;
}

uint64_t remfs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Whether path is dir or below it (dir without a trailing slash). */
static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int remfs_check_path(const char *path, char *err, size_t errlen)
{
    static const char *const pseudo[] = {"/proc", "/sys", "/dev"};
    size_t n = path ? strlen(path) : 0;

    if (!path || n == 0) {
        snprintf(err, errlen, "a path is required");
        return -EINVAL;
    }
    if (n >= PATH_MAX) {
        snprintf(err, errlen, "the path is too long (%zu bytes, at most %d)", n, PATH_MAX - 1);
        return -EINVAL;
    }
    if (path[0] != '/') {
        snprintf(err, errlen, "the path must be absolute: %.200s", path);
        return -EINVAL;
    }
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(err, errlen, "the path contains a control character");
            return -EINVAL;
        }
    if (n == 1 || path[n - 1] == '/') {
        snprintf(err, errlen, "the path must name a file, not end with '/': %.200s", path);
        return -EINVAL;
    }
    for (const char *c = path + 1, *slash;; c = slash + 1) {
        size_t len;
        slash = strchr(c, '/');
        len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) {
            snprintf(err, errlen, "the path must be canonical (no '//', '.' or '..'): %.200s", path);
            return -EINVAL;
        }
        if (!slash)
            break;
    }
    for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++)
        if (under(path, pseudo[i])) {
            snprintf(err, errlen, "%.200s is in %s, a pseudo filesystem; refused", path, pseudo[i]);
            return -EINVAL;
        }
    if (under(path, state_dir) || under(path, "/etc/yamori")) {
        snprintf(err, errlen, "%.200s is one of the agent's own files; refused", path);
        return -EINVAL;
    }
    return 0;
}

static int open_nofollow(const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

int remfs_open_dir(const char *path, char *err, size_t errlen)
{
    int fd = open_nofollow(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        snprintf(err, errlen, "cannot open the directory %.200s%s: %s", path,
                 fd == -ELOOP ? " (a symlink is on the way; give the real path)" : "", strerror(-fd));
    return fd;
}

int remfs_open_parent(const char *path, const char **name, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    size_t n;

    if (!slash || !slash[1] || (size_t)(slash - path) >= sizeof(dir)) {
        snprintf(err, errlen, "the path names no file: %.200s", path);
        return -EINVAL;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    *name = slash + 1;
    return remfs_open_dir(dir, err, errlen);
}

int remfs_private_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    int fd;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %.200s: %s", dir, strerror(errno));
        return -errno;
    }
    fd = remfs_open_dir(dir, err, errlen);
    if (fd < 0)
        return fd;
    if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
        close(fd);
        snprintf(err, errlen, "%.200s must be a directory owned by the agent's user with mode 0700", dir);
        return -EPERM;
    }
    close(fd);
    return 0;
}

/* ------------------------------------------------------------ metadata */

void remfs_meta_free(struct remfs_meta *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nxattrs; i++) {
        free(m->xattrs[i].name);
        free(m->xattrs[i].value);
    }
    free(m->xattrs);
    m->xattrs = NULL;
    m->nxattrs = 0;
}

static int read_xattrs(int fd, struct remfs_meta *m, char *err, size_t errlen)
{
    char *names = NULL;
    ssize_t len = flistxattr(fd, NULL, 0);
    int e = 0;

    if (len < 0) {
        if (errno == ENOTSUP)
            return 0;
        snprintf(err, errlen, "cannot list the extended attributes: %s", strerror(errno));
        return -errno;
    }
    if (len == 0)
        return 0;
    names = malloc((size_t)len + 1);
    if (!names)
        return -ENOMEM;
    len = flistxattr(fd, names, (size_t)len);
    if (len < 0) {
        e = -errno;
        snprintf(err, errlen, "cannot list the extended attributes: %s", strerror(errno));
        goto out;
    }
    names[len] = '\0';
    for (char *p = names; p < names + len; p += strlen(p) + 1) {
        struct remfs_xattr *x;
        ssize_t vl = fgetxattr(fd, p, NULL, 0);
        if (vl < 0 || vl > REMFS_MAX_XATTR_VALUE || m->nxattrs >= REMFS_MAX_XATTRS) {
            e = vl < 0 ? -errno : -E2BIG;
            snprintf(err, errlen, "cannot keep the extended attribute %.100s: %s", p,
                     vl < 0 ? strerror(errno) : "too many or too large");
            goto out;
        }
        if (!m->xattrs && !(m->xattrs = calloc(REMFS_MAX_XATTRS, sizeof(*m->xattrs)))) {
            e = -ENOMEM;
            goto out;
        }
        x = &m->xattrs[m->nxattrs];
        x->name = strdup(p);
        x->value = malloc((size_t)vl + 1);
        if (!x->name || !x->value) {
            free(x->name);
            free(x->value);
            e = -ENOMEM;
            goto out;
        }
        m->nxattrs++;
        vl = fgetxattr(fd, p, x->value, (size_t)vl);
        if (vl < 0) {
            e = -errno;
            snprintf(err, errlen, "cannot read the extended attribute %.100s: %s", p, strerror(errno));
            goto out;
        }
        x->len = (size_t)vl;
    }
out:
    if (e == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    free(names);
    return e;
}

int remfs_meta_read(int fd, int dirfd, const char *name, struct remfs_meta *m, char *err, size_t errlen)
{
    struct stat st;
    int e;

    memset(m, 0, sizeof(*m));
    if (fd >= 0 ? fstat(fd, &st) != 0 : fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        snprintf(err, errlen, "cannot stat %.200s: %s", name ? name : "the file", strerror(errno));
        return -errno;
    }
    m->mode = st.st_mode;
    m->uid = st.st_uid;
    m->gid = st.st_gid;
    m->atime_ns = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
    m->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    m->size = (uint64_t)st.st_size;
    if (fd < 0)
        return 0;
    e = read_xattrs(fd, m, err, errlen);
    if (e)
        remfs_meta_free(m);
    return e;
}

static struct timespec ts_of(int64_t ns)
{
    struct timespec t = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    if (t.tv_nsec < 0) {
        t.tv_sec--;
        t.tv_nsec += 1000000000;
    }
    return t;
}

int remfs_meta_apply(int fd, const struct remfs_meta *m, char *err, size_t errlen)
{
    struct timespec times[2] = {ts_of(m->atime_ns), ts_of(m->mtime_ns)};

    if (fchown(fd, m->uid, m->gid) != 0) {
        snprintf(err, errlen, "cannot set the owner %u:%u: %s", (unsigned)m->uid, (unsigned)m->gid, strerror(errno));
        return -errno;
    }
    if (fchmod(fd, m->mode & 07777) != 0) {
        snprintf(err, errlen, "cannot set the mode %04o: %s", (unsigned)(m->mode & 07777), strerror(errno));
        return -errno;
    }
    for (size_t i = 0; i < m->nxattrs; i++)
        if (fsetxattr(fd, m->xattrs[i].name, m->xattrs[i].value, m->xattrs[i].len, 0) != 0) {
            snprintf(err, errlen, "cannot set the extended attribute %.100s: %s", m->xattrs[i].name,
                     strerror(errno));
            return -errno;
        }
    if (futimens(fd, times) != 0) {
        snprintf(err, errlen, "cannot set the times: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

static const char hexd[] = "0123456789abcdef";

void remfs_meta_json(struct jsonw *w, const struct remfs_meta *m)
{
    jsonw_kv_uint(w, "mode", m->mode);
    jsonw_kv_uint(w, "uid", m->uid);
    jsonw_kv_uint(w, "gid", m->gid);
    jsonw_kv_int(w, "atime_ns", m->atime_ns);
    jsonw_kv_int(w, "mtime_ns", m->mtime_ns);
    jsonw_kv_uint(w, "size", m->size);
    jsonw_key(w, "xattrs");
    jsonw_array_begin(w);
    for (size_t i = 0; i < m->nxattrs; i++) {
        char *hex = malloc(m->xattrs[i].len * 2 + 1);
        if (!hex) {
            w->failed = true;
            break;
        }
        for (size_t j = 0; j < m->xattrs[i].len; j++) {
            hex[2 * j] = hexd[m->xattrs[i].value[j] >> 4];
            hex[2 * j + 1] = hexd[m->xattrs[i].value[j] & 15];
        }
        hex[m->xattrs[i].len * 2] = '\0';
        jsonw_object_begin(w);
        jsonw_kv_str(w, "name", m->xattrs[i].name);
        jsonw_kv_str(w, "value_hex", hex);
        jsonw_object_end(w);
        free(hex);
    }
    jsonw_array_end(w);
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int remfs_meta_from_json(json_t *o, struct remfs_meta *m, char *err, size_t errlen)
{
    json_t *xa = json_object_get(o, "xattrs");
    const char *keys[] = {"mode", "uid", "gid", "atime_ns", "mtime_ns", "size"};
    json_int_t v[6];

    memset(m, 0, sizeof(*m));
    for (size_t i = 0; i < 6; i++) {
        json_t *j = json_object_get(o, keys[i]);
        if (!json_is_integer(j) || (i != 3 && i != 4 && json_integer_value(j) < 0)) {
            snprintf(err, errlen, "the record's %s is missing or malformed", keys[i]);
            return -EINVAL;
        }
        v[i] = json_integer_value(j);
    }
    if (v[1] > UINT32_MAX || v[2] > UINT32_MAX || !json_is_array(xa) || json_array_size(xa) > REMFS_MAX_XATTRS) {
        snprintf(err, errlen, "the record's owner or xattrs are malformed");
        return -EINVAL;
    }
    m->mode = (mode_t)v[0];
    m->uid = (uid_t)v[1];
    m->gid = (gid_t)v[2];
    m->atime_ns = v[3];
    m->mtime_ns = v[4];
    m->size = (uint64_t)v[5];
    if (json_array_size(xa) && !(m->xattrs = calloc(json_array_size(xa), sizeof(*m->xattrs))))
        goto nomem;
    for (size_t i = 0; i < json_array_size(xa); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(xa, i), "name"));
        const char *hex = json_string_value(json_object_get(json_array_get(xa, i), "value_hex"));
        struct remfs_xattr *x = &m->xattrs[i];
        size_t hl = hex ? strlen(hex) : 0;
        if (!name || !*name || !hex || hl % 2 || hl / 2 > REMFS_MAX_XATTR_VALUE) {
            snprintf(err, errlen, "the record's extended attribute %zu is malformed", i);
            remfs_meta_free(m);
            return -EINVAL;
        }
        x->name = strdup(name);
        x->value = malloc(hl / 2 + 1);
        m->nxattrs++;
        if (!x->name || !x->value)
            goto nomem;
        for (size_t j = 0; j < hl / 2; j++) {
            int hi = hexval(hex[2 * j]), lo = hexval(hex[2 * j + 1]);
            if (hi < 0 || lo < 0) {
                snprintf(err, errlen, "the record's extended attribute %.100s is malformed", name);
                remfs_meta_free(m);
                return -EINVAL;
            }
            x->value[j] = (unsigned char)(hi << 4 | lo);
        }
        x->len = hl / 2;
    }
    return 0;
nomem:
    remfs_meta_free(m);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

/* ------------------------------------------------------------ content */

static int copy_hash(int in, int out, char hex[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[65536], digest[32];
    unsigned int dl = 0;
    off_t off = 0;
    int e = 0;

    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        e = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = pread(in, buf, sizeof(buf), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = -errno;
            goto out;
        }
        if (n == 0)
            break;
        off += n;
        if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
            e = -EIO;
            goto out;
        }
        for (ssize_t w = 0; out >= 0 && w < n;) {
            ssize_t r = write(out, buf + w, (size_t)(n - w));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                e = r < 0 ? -errno : -EIO;
                goto out;
            }
            w += r;
        }
    }
    if (!EVP_DigestFinal_ex(ctx, digest, &dl) || dl != 32) {
        e = -EIO;
        goto out;
    }
    if (out >= 0 && fsync(out) != 0) {
        e = -errno;
        goto out;
    }
    if (hex) {
        for (int i = 0; i < 32; i++) {
            hex[2 * i] = hexd[digest[i] >> 4];
            hex[2 * i + 1] = hexd[digest[i] & 15];
        }
        hex[64] = '\0';
    }
out:
    EVP_MD_CTX_free(ctx);
    return e;
}

int remfs_sha256_fd(int fd, char hex[65])
{
    return copy_hash(fd, -1, hex);
}

int remfs_copy_fd(int in, int out, char hex[65])
{
    return copy_hash(in, out, hex);
}

bool remfs_is_sha256(const char *s)
{
    size_t i = 0;
    for (; s && s[i]; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return i == 64;
}

int remfs_read_all(int fd, size_t max, char **buf, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);

    *buf = NULL;
    *len = 0;
    if (!b)
        return -ENOMEM;
    for (;;) {
        ssize_t r;
        if (n == cap) {
            char *nb;
            if (cap >= max) {
                free(b);
                return -EFBIG;
            }
            cap = cap * 2 > max ? max : cap * 2;
            nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                return -ENOMEM;
            }
            b = nb;
        }
        r = pread(fd, b + n, cap - n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            free(b);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

int remfs_new_id(char id[REMFS_ID_LEN + 1])
{
    unsigned char r[REMFS_ID_LEN / 2];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -EIO;
    for (size_t i = 0; i < sizeof(r); i++) {
        id[2 * i] = hexd[r[i] >> 4];
        id[2 * i + 1] = hexd[r[i] & 15];
    }
    id[REMFS_ID_LEN] = '\0';
    return 0;
}

bool remfs_is_id(const char *s)
{
    size_t i = 0;
    for (; s && s[i]; i++)
        if (hexval(s[i]) < 0)
            return false;
    return i == REMFS_ID_LEN;
}

int remfs_tmpfile(int dirfd, char *name, size_t namelen)
{
    for (int tries = 0; tries < 10; tries++) {
        char id[REMFS_ID_LEN + 1];
        int fd;
        if (remfs_new_id(id) != 0)
            return -EIO;
        snprintf(name, namelen, ".yamori-%.16s.tmp", id);
        fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : -errno;
    }
    return -EEXIST;
}

int remfs_replace(int dirfd, const char *name, const void *buf, size_t len, const struct remfs_meta *m,
                  bool noreplace, char *err, size_t errlen)
{
    char tmp[64];
    int fd = remfs_tmpfile(dirfd, tmp, sizeof(tmp)), e = 0;

    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file next to %.200s: %s", name, strerror(-fd));
        return fd;
    }
    for (size_t w = 0; w < len;) {
        ssize_t r = write(fd, (const char *)buf + w, len - w);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? -errno : -EIO;
            snprintf(err, errlen, "cannot write next to %.200s: %s", name, strerror(-e));
            goto out;
        }
        w += (size_t)r;
    }
    e = remfs_meta_apply(fd, m, err, errlen);
    if (e)
        goto out;
    if (fsync(fd) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot sync the new %.200s: %s", name, strerror(errno));
        goto out;
    }
    if (renameat2(dirfd, tmp, dirfd, name, noreplace ? RENAME_NOREPLACE : 0) != 0) {
        e = -errno;
        snprintf(err, errlen, "cannot put %.200s in place: %s", name,
                 errno == EEXIST ? "something exists there now" : strerror(errno));
        goto out;
    }
    fsync(dirfd);
out:
    close(fd);
    if (e)
        unlinkat(dirfd, tmp, 0);
    return e;
}

int remfs_args_only(json_t *args, const char *const *allowed, char *err, size_t errlen)
{
    const char *key;
    json_t *v;

    if (!json_is_object(args)) {
        snprintf(err, errlen, "the arguments must be an object");
        return -EINVAL;
    }
    json_object_foreach(args, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            snprintf(err, errlen, "unknown argument '%.64s'", key);
            return -EINVAL;
        }
    }
    return 0;
}

int remfs_arg_str(json_t *args, const char *key, bool required, size_t max, const char **out, char *err,
                  size_t errlen)
{
    json_t *v = json_object_get(args, key);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            snprintf(err, errlen, "the argument '%s' is required", key);
            return -EINVAL;
        }
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, errlen, "the argument '%s' must be a non-empty string of at most %zu bytes", key, max);
        return -EINVAL;
    }
    *out = json_string_value(v);
    return 0;
}
