/*
 * remediate_fs.h — the careful file operations that quarantine and
 * persistence removal share: checking a path a command names (absolute,
 * canonical, no symlink on the way, not in a pseudo filesystem, not the
 * agent's own), capturing a file's metadata (mode, owner, times in
 * nanoseconds, every extended attribute root can read) and putting it back,
 * SHA-256 of a file, atomic and durable replacement of a file (temp file in
 * the same directory, fsync, rename, fsync of the directory), and the
 * agent's state directory where the quarantine and the backups live.
 *
 * Every path a command gives is resolved with openat2(RESOLVE_NO_SYMLINKS)
 * down to its parent directory, and the last component is used with
 * O_NOFOLLOW / AT_SYMLINK_NOFOLLOW relative to that directory, so a symlink
 * swapped in anywhere on the way is refused rather than followed.
 */
#ifndef YAMORI_AGENT_REMEDIATE_FS_H
#define YAMORI_AGENT_REMEDIATE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/jsonw.h"

struct json_t;

#define REMFS_ID_LEN 32        /* ids are 32 lower-case hex characters */
#define REMFS_MAX_XATTRS 64
#define REMFS_MAX_XATTR_VALUE 65536

/* The agent's state directory (default "/var/lib/yamori"); the command
 * handlers keep the quarantine and the backups below it. Set once at start,
 * before the command thread runs; the string must outlive the agent. */
void remfs_set_state_dir(const char *dir);
const char *remfs_state_dir(void);

/* Checks the form of a path a command names: absolute, at most PATH_MAX-1
 * bytes, no control characters, no empty, "." or ".." component, no
 * trailing slash, not "/" itself, not under /proc, /sys or /dev, not under
 * the agent's state or configuration directory. Returns 0 or -EINVAL with a
 * sentence in err. */
int remfs_check_path(const char *path, char *err, size_t errlen);

/* Opens the directory holding path without following any symlink on the
 * way (openat2 RESOLVE_NO_SYMLINKS); *name points into path at the last
 * component. Returns the directory fd (the caller closes it) or -errno
 * with err. */
int remfs_open_parent(const char *path, const char **name, char *err, size_t errlen);

/* Opens a directory path (no symlink on the way) with O_DIRECTORY.
 * Returns the fd or -errno with err. */
int remfs_open_dir(const char *path, char *err, size_t errlen);

/* Creates dir (one level, mode 0700) when missing and checks that it is a
 * directory owned by root with no access for group or others. Returns 0 or
 * -errno with err. */
int remfs_private_dir(const char *dir, char *err, size_t errlen);

struct remfs_xattr {
    char *name;
    unsigned char *value;
    size_t len;
};

/* What a file's metadata was, to put it back. */
struct remfs_meta {
    mode_t mode; /* permission and type bits as stat gave them */
    uid_t uid;
    gid_t gid;
    int64_t atime_ns, mtime_ns;
    uint64_t size;
    struct remfs_xattr *xattrs;
    size_t nxattrs;
};

/* Reads the metadata of an open regular file (fd) or, with fd < 0, of the
 * symlink dirfd/name (no xattrs for symlinks). Returns 0 or -errno with
 * err; on success the caller frees with remfs_meta_free(). */
int remfs_meta_read(int fd, int dirfd, const char *name, struct remfs_meta *m, char *err, size_t errlen);
void remfs_meta_free(struct remfs_meta *m);

/* Applies owner, mode, xattrs and last times (in that order: chown clears
 * set-id bits) to an open regular file. Returns 0 or -errno with err. */
int remfs_meta_apply(int fd, const struct remfs_meta *m, char *err, size_t errlen);

/* Writes m as JSON members (mode, uid, gid, atime_ns, mtime_ns, size,
 * xattrs) into the object being written. */
void remfs_meta_json(struct jsonw *w, const struct remfs_meta *m);

/* Reads those members back from a JSON object. Returns 0 or -EINVAL with
 * err. The caller frees with remfs_meta_free(). */
int remfs_meta_from_json(struct json_t *o, struct remfs_meta *m, char *err, size_t errlen);

/* SHA-256 of everything readable from fd from offset 0, as 64 lower-case
 * hex characters. Returns 0 or -errno. */
int remfs_sha256_fd(int fd, char hex[65]);

/* Whether s is 64 hex characters (upper or lower case). */
bool remfs_is_sha256(const char *s);

/* Copies in (from offset 0) to out and fsyncs out; hex gets the SHA-256 of
 * what was copied when not NULL. Returns 0 or -errno. */
int remfs_copy_fd(int in, int out, char hex[65]);

/* Reads all of fd (at most max bytes; more is -EFBIG). *buf is
 * NUL-terminated and the caller frees it. Returns 0 or -errno. */
int remfs_read_all(int fd, size_t max, char **buf, size_t *len);

/* Creates a new file in dirfd under a fresh hidden name with mode 0600;
 * the name is written to name (at least 64 bytes). Returns the fd or
 * -errno. */
int remfs_tmpfile(int dirfd, char *name, size_t namelen);

/* Replaces dirfd/name atomically with len bytes of buf carrying metadata
 * m (temp file in dirfd, write, metadata, fsync, rename, fsync of dirfd).
 * With noreplace, refuses (-EEXIST) when name exists. Returns 0 or -errno
 * with err; on failure nothing changed. */
int remfs_replace(int dirfd, const char *name, const void *buf, size_t len, const struct remfs_meta *m,
                  bool noreplace, char *err, size_t errlen);

/* A fresh random id of REMFS_ID_LEN hex characters. Returns 0 or -errno. */
int remfs_new_id(char id[REMFS_ID_LEN + 1]);

/* Whether s is an id of that form. */
bool remfs_is_id(const char *s);

/* Checks a command's arguments: every key is one of allowed (a
 * NULL-terminated list). Returns 0 or -EINVAL with err naming the key. */
int remfs_args_only(struct json_t *args, const char *const *allowed, char *err, size_t errlen);

/* The string argument key: *out is NULL when absent (and not required).
 * Refuses a non-string, an empty string, a NUL inside, or more than max
 * bytes. Returns 0 or -EINVAL with err. */
int remfs_arg_str(struct json_t *args, const char *key, bool required, size_t max, const char **out, char *err,
                  size_t errlen);

/* The current time in nanoseconds since the epoch. */
uint64_t remfs_now_ns(void);

#endif
