/*
 * store_sqlite_check.c — store_check() for the SQLite store: what
 * `yamori server -n` learns about the database without touching it.
 *
 * A real start opens the database read-write, creating it when missing,
 * and applies the migrations it has not seen. The check must find the
 * same errors and change nothing on disk, not even the -wal and -shm
 * files SQLite makes next to a WAL database when a connection opens it:
 * when both exist (a server has it open, or one ended without cleaning
 * up) it reads through them, read-only; otherwise it opens the file as
 * immutable, which creates nothing and reads the main file alone (all a
 * cleanly closed database has). File permissions are judged for the user
 * the server will open the store as, from the mode bits when that is not
 * this process (no ACLs; the server drops its supplementary groups).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/store_sqlite.h"

extern const struct store_migration_set *const __start_yamori_migrations[] __attribute__((weak));
extern const struct store_migration_set *const __stop_yamori_migrations[] __attribute__((weak));

/* Whether dir and other name the same directory (by inode when both
 * exist, else by name without trailing slashes). */
static bool same_dir(const char *dir, const char *other)
{
    struct stat a, b;
    size_t la = strlen(dir), lb = strlen(other);

    if (stat(dir, &a) == 0 && stat(other, &b) == 0)
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    while (la > 1 && dir[la - 1] == '/')
        la--;
    while (lb > 1 && other[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(dir, other, la) == 0;
}

/* Whether the server, as as says, may access path (stat st) with want
 * (R_OK, W_OK, X_OK bits). A directory handed to it at start counts as
 * its own. */
static bool may(const char *path, const struct stat *st, int want, const struct store_check_as *as)
{
    unsigned bits;

    if (!as || !as->drop)
        return access(path, want) == 0;
    if (as->handed_dir && S_ISDIR(st->st_mode) && same_dir(path, as->handed_dir))
        bits = (st->st_mode >> 6) & 7;
    else if (st->st_uid == as->uid)
        bits = (st->st_mode >> 6) & 7;
    else if (st->st_gid == as->gid)
        bits = (st->st_mode >> 3) & 7;
    else
        bits = st->st_mode & 7;
    return ((unsigned)want & bits) == (unsigned)want;
}

/* "the server" or "the server (as USER)" */
static const char *who(const struct store_check_as *as, char *buf, size_t buflen)
{
    if (as && as->drop && as->user)
        snprintf(buf, buflen, "the server (as %s)", as->user);
    else
        snprintf(buf, buflen, "the server");
    return buf;
}

/* path as an SQLite URI "file:PATH?query", PATH percent-encoded. */
static int file_uri(const char *path, const char *query, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = (size_t)snprintf(out, outlen, "file:");

    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (o + 4 >= outlen)
            return -ENAMETOOLONG;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/-._~", *p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o + strlen(query) + 2 > outlen)
        return -ENAMETOOLONG;
    snprintf(out + o, outlen - o, "?%s", query);
    return 0;
}

/* The migration steps the database db (at path) has not applied, into
 * *pending. 0, or -EIO with err. */
static int count_pending(sqlite3 *db, const char *path, int *pending, char *err, size_t errlen)
{
    const struct store_migration_set *const *start = __start_yamori_migrations;
    const struct store_migration_set *const *stop = __stop_yamori_migrations;
    size_t n = start && stop ? (size_t)(stop - start) : 0;
    sqlite3_stmt *q = NULL;
    bool have_table;
    int rc, e = -EIO;

    *pending = 0;
    /* reading sqlite_master reads the header: a file that is no database fails here */
    rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                            -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto out;
    have_table = rc == SQLITE_ROW;
    sqlite3_finalize(q);
    q = NULL;
    if (have_table &&
        sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE module = ?", -1, &q,
                           NULL) != SQLITE_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int have = 0;
        if (have_table) {
            sqlite3_reset(q);
            sqlite3_bind_text(q, 1, start[i]->module, -1, SQLITE_STATIC);
            if (sqlite3_step(q) != SQLITE_ROW)
                goto out;
            have = sqlite3_column_int(q, 0);
        }
        for (const struct store_migration *m = start[i]->steps; m->sql; m++)
            if (m->version > have)
                (*pending)++;
    }
    e = 0;
out:
    if (e)
        snprintf(err, errlen, "cannot read the database %s: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return e;
}

int store_check(const char *uri, const struct store_check_as *as, char *info, size_t infolen, char *err,
                size_t errlen)
{
    char path[1024], dir[1024], wal[1100], shm[1100], dburi[3200], whom[300];
    struct stat st, dst, wst, sst;
    const char *slash, *denied;
    sqlite3 *db = NULL;
    bool have_wal, have_shm;
    int e = 0, pending = 0;

    info[0] = '\0';
    if (strncmp(uri, "sqlite:", 7) != 0) {
        snprintf(err, errlen, "unsupported store '%s' (this build supports sqlite:PATH)", uri);
        return -EINVAL;
    }
    if (!uri[7] || strlen(uri + 7) >= sizeof(path)) {
        snprintf(err, errlen, "store '%s': expected sqlite:PATH with a path of 1 to %zu bytes", uri, sizeof(path) - 1);
        return -EINVAL;
    }
    snprintf(path, sizeof(path), "%s", uri + 7);
    slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    who(as, whom, sizeof(whom));

    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            e = -errno;
            snprintf(err, errlen, "cannot reach the store %s: %s", path, strerror(errno));
            return e;
        }
        /* created at start: its directory must be there (or be the data
         * directory, made at start) and writable */
        if (as && as->handed_dir && same_dir(dir, as->handed_dir) && stat(dir, &dst) != 0) {
            snprintf(info, infolen, "%s does not exist yet and will be created at first start", path);
            return 0;
        }
        if (stat(dir, &dst) != 0) {
            e = -errno;
            snprintf(err, errlen, "cannot create the database %s: its directory %s: %s", path, dir, strerror(errno));
            return e;
        }
        if (!S_ISDIR(dst.st_mode)) {
            snprintf(err, errlen, "cannot create the database %s: %s is not a directory", path, dir);
            return -ENOTDIR;
        }
        if (!may(dir, &dst, W_OK | X_OK, as)) {
            snprintf(err, errlen, "cannot create the database %s: %s may not write to %s", path, whom, dir);
            return -EACCES;
        }
        snprintf(info, infolen, "%s does not exist yet and will be created at first start", path);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "the store %s is not a file", path);
        return -EINVAL;
    }
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    have_wal = stat(wal, &wst) == 0;
    have_shm = stat(shm, &sst) == 0;
    denied = !may(path, &st, R_OK | W_OK, as)                   ? path
             : have_wal && !may(wal, &wst, R_OK | W_OK, as) ? wal
             : have_shm && !may(shm, &sst, R_OK | W_OK, as) ? shm
                                                            : NULL;
    if (denied) {
        snprintf(err, errlen, "%s may not read and write the database %s%s", whom, denied,
                 as && as->drop ? " (change its owner or mode)" : "");
        return -EACCES;
    }
    if ((!have_wal || !have_shm) &&
        (stat(dir, &dst) != 0 || !may(dir, &dst, W_OK | X_OK, as))) {
        snprintf(err, errlen, "%s may not write to %s, where SQLite keeps the database's -wal and -shm files", whom,
                 dir);
        return -EACCES;
    }
    e = file_uri(path, have_wal && have_shm ? "mode=ro" : "immutable=1", dburi, sizeof(dburi));
    if (e) {
        snprintf(err, errlen, "the store's path is too long: %s", path);
        return e;
    }
    if (sqlite3_open_v2(dburi, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open the database %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        e = -EIO;
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    e = count_pending(db, path, &pending, err, errlen);
    if (e)
        goto out;
    if (pending)
        snprintf(info, infolen, "%s opens; %d migration step%s will be applied at start", path, pending,
                 pending == 1 ? "" : "s");
    else
        snprintf(info, infolen, "%s opens; its schema is up to date", path);
out:
    sqlite3_close(db);
    return e;
}
