/*
 * test_pkgdb.c — package ownership from a dpkg database.
 *
 * Most cases build a small dpkg admin directory and a root with merged-/usr
 * symlinks in a temporary directory: list files (one with an architecture
 * qualifier, two Multi-Arch copies of a file), a diversion by a package and
 * a local one, a malformed line and a file that is not a package list, and
 * md5sums. The last case checks this machine's real database.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, pipe2 */
#endif
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/pkgdb.h"

struct fixture {
    char root[64];
    char adm[PATH_MAX];
};

static int write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fputs(content, f);
    return fclose(f) == 0 ? 0 : -errno;
}

static int fx_write(const struct fixture *fx, const char *rel, const char *content)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", fx->root, rel);
    return write_file(path, content);
}

/* Replaces a file the way dpkg does: write "name-new", rename over. */
static int fx_replace(const struct fixture *fx, const char *rel, const char *content)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    int ret;

    snprintf(path, sizeof(path), "%s/%s", fx->root, rel);
    snprintf(tmp, sizeof(tmp), "%s-new", path);
    ret = write_file(tmp, content);
    if (ret)
        return ret;
    return rename(tmp, path) == 0 ? 0 : -errno;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fx_destroy(struct fixture *fx)
{
    if (fx->root[0])
        nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    fx->root[0] = '\0';
}

/* MD5 of s as 32 hex digits. */
static void md5_hex(const char *s, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    EVP_Digest(s, strlen(s), md, &len, EVP_md5(), NULL);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

#define TRUE_BYTES "\177ELF pretend true\n"
#define ENV_BYTES "\177ELF pretend env\n"
#define PGCONFIG_WRAPPER "#!/bin/sh\n# postgresql-common's pg_config\n"
#define PGCONFIG_REAL "\177ELF libpq-dev's pg_config\n"

static int fx_create(struct fixture *fx)
{
    static const char *const dirs[] = {
        "usr", "usr/bin", "usr/sbin", "usr/lib", "usr/lib/x86_64-linux-gnu", "usr/share",
        "var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/info", "var/lib/dpkg/updates", "opt",
    };
    char path[PATH_MAX], md5a[33], md5b[33], md5c[33], md5d[33];
    char text[1024];
    int ret = 0;

    snprintf(fx->root, sizeof(fx->root), "/tmp/yamori-pkgdb.XXXXXX");
    if (!mkdtemp(fx->root)) {
        fx->root[0] = '\0';
        return -errno;
    }
    snprintf(fx->adm, sizeof(fx->adm), "%s/var/lib/dpkg", fx->root);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fx->root, dirs[i]);
        if (mkdir(path, 0755) < 0)
            return -errno;
    }
    /* merged /usr: relative, absolute and dangling links, and a file link */
    static const char *const links[][2] = {
        { "usr/bin", "bin" }, { "/usr/sbin", "sbin" }, { "usr/lib", "lib" },
        { "usr/lib64", "lib64" }, { "boot/vmlinuz-6.1", "vmlinuz" },
    };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fx->root, links[i][1]);
        if (symlink(links[i][0], path) < 0)
            return -errno;
    }

    ret = fx_write(fx, "var/lib/dpkg/status", "Package: coreutils\nStatus: install ok installed\n\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/coreutils.list",
                               "/.\n/bin\n/bin/true\n/bin/cat\n/sbin\n/sbin/chroot\n/usr\n/usr/bin\n"
                               "/usr/bin/env\n/usr/share\n/usr/share/doc\n/usr/share/doc/coreutils\n"
                               "/usr/share/doc/coreutils/copyright\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/libc6:amd64.list",
                               "/.\n/lib\n/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu/libc.so.6\n"
                               "/usr\n/usr/share\n/usr/share/doc\n/usr/share/doc/libc6\n"
                               "relative/line\n/usr/../etc/passwd\n/usr/bin/ok-after-bad");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/zlib1g:i386.list",
                               "/usr/share/doc/zlib1g\n/usr/share/doc/zlib1g/changelog.gz\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/zlib1g:amd64.list",
                               "/usr/share/doc/zlib1g\n/usr/share/doc/zlib1g/changelog.gz\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/libpq-dev.list", "/usr\n/usr/bin\n/usr/bin/pg_config\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/postgresql-common.list",
                               "/usr\n/usr/bin\n/usr/bin/pg_config\n/usr/bin/pg_ctlcluster\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/foo.list", "/usr/bin/foo\n/opt/foo-tool\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/Not_A_Package.list", "/usr/bin/evil\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/coreutils.list-old", "/usr/bin/stale\n");
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/diversions",
                               "/usr/bin/pg_config\n/usr/bin/pg_config.libpq-dev\npostgresql-common\n"
                               "/usr/bin/foo\n/usr/bin/foo.orig\n:\n");
    if (ret)
        return ret;

    /* files on disk and their checksums; true is recorded in its pre-merge form */
    md5_hex(TRUE_BYTES, md5a);
    md5_hex(ENV_BYTES, md5b);
    md5_hex(PGCONFIG_WRAPPER, md5c);
    md5_hex(PGCONFIG_REAL, md5d);
    snprintf(text, sizeof(text), "%s  bin/true\n%s  usr/bin/env\n", md5a, md5b);
    ret = fx_write(fx, "var/lib/dpkg/info/coreutils.md5sums", text);
    snprintf(text, sizeof(text), "%s  usr/bin/pg_config\n", md5c);
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/postgresql-common.md5sums", text);
    snprintf(text, sizeof(text), "%s  usr/bin/pg_config\n", md5d);
    ret = ret ? ret : fx_write(fx, "var/lib/dpkg/info/libpq-dev.md5sums", text);
    ret = ret ? ret : fx_write(fx, "usr/bin/true", TRUE_BYTES);
    ret = ret ? ret : fx_write(fx, "usr/bin/env", ENV_BYTES);
    ret = ret ? ret : fx_write(fx, "usr/bin/cat", "cat\n");
    ret = ret ? ret : fx_write(fx, "usr/bin/pg_config", PGCONFIG_WRAPPER);
    ret = ret ? ret : fx_write(fx, "usr/bin/pg_config.libpq-dev", PGCONFIG_REAL);
    return ret;
}

/* Builds the fixture, opens it, runs body, and always cleans up (a
 * CHECK in body returns from body only). */
static void with_fixture(void (*body)(struct fixture *fx, struct pkgdb **db))
{
    struct fixture fx = { 0 };
    struct pkgdb *db = NULL;
    char err[512] = "";
    int ret = fx_create(&fx);

    if (ret)
        snprintf(err, sizeof(err), "creating the fixture: %s", strerror(-ret));
    else
        ret = pkgdb_open_at(&db, fx.adm, fx.root, err, sizeof(err));
    if (ret)
        check_fail_(__FILE__, __LINE__, "open: %d: %s", ret, err);
    else
        body(&fx, &db);
    pkgdb_free(db);
    fx_destroy(&fx);
}

#define OWNER(db, path) pkgdb_owner(db, path)
#define CHECK_NO_OWNER(db, path) CHECK_MSG(OWNER(db, path) == NULL, "%s owned by %s", path, OWNER(db, path))

static void owner_lookups_body(struct fixture *fxp, struct pkgdb **dbp)
{
    (void)fxp;
    struct pkgdb *db = *dbp;
    struct pkgdb_stats st;

    /* canonical (what the kernel reports) and as listed */
    CHECK_STR(OWNER(db, "/usr/bin/true"), "coreutils");
    CHECK_STR(OWNER(db, "/bin/true"), "coreutils");
    CHECK_STR(OWNER(db, "/usr/bin/env"), "coreutils");
    CHECK_STR(OWNER(db, "/usr/sbin/chroot"), "coreutils"); /* via the absolute link */
    CHECK_STR(OWNER(db, "/usr/lib/x86_64-linux-gnu/libc.so.6"), "libc6:amd64");
    CHECK_STR(OWNER(db, "/usr/share/doc/coreutils/copyright"), "coreutils");
    CHECK_STR(OWNER(db, "/opt/foo-tool"), "foo");
    CHECK_NO_OWNER(db, "/usr/bin/nothing");
    CHECK_NO_OWNER(db, "/usr/bin/tru");
    CHECK_NO_OWNER(db, "/usr/bin/true2");
    CHECK_NO_OWNER(db, "usr/bin/true");
    CHECK_NO_OWNER(db, "");
    CHECK_NO_OWNER(db, "/usr/lib64/ld.so"); /* dangling link: not a mapping */
    /* two Multi-Arch copies of a file: the alphabetically first name */
    CHECK_STR(OWNER(db, "/usr/share/doc/zlib1g/changelog.gz"), "zlib1g:amd64");

    pkgdb_get_stats(db, &st);
    CHECK_INT(st.canon_links, ==, 3);
    CHECK_INT(st.packages, ==, 7);
    CHECK_INT(st.diversions, ==, 2);
    CHECK_INT(st.builds, ==, 1);
    CHECK(st.entries >= 14 && st.entries < 40);
    CHECK(st.memory_bytes > st.entries * 10);
}

static void owner_lookups(void)
{
    with_fixture(owner_lookups_body);
}

static void directories_left_out_body(struct fixture *fxp, struct pkgdb **dbp)
{
    (void)fxp;
    struct pkgdb *db = *dbp;
    struct pkgdb_stats st;

    CHECK_NO_OWNER(db, "/usr");
    CHECK_NO_OWNER(db, "/usr/bin");
    CHECK_NO_OWNER(db, "/bin");
    CHECK_NO_OWNER(db, "/usr/share/doc");
    CHECK_NO_OWNER(db, "/usr/share/doc/coreutils");
    CHECK_NO_OWNER(db, "/usr/share/doc/zlib1g");
    CHECK_NO_OWNER(db, "/lib/x86_64-linux-gnu");
    CHECK_NO_OWNER(db, "/usr/lib/x86_64-linux-gnu");
    CHECK_NO_OWNER(db, "/");
    CHECK_NO_OWNER(db, "/.");
    pkgdb_get_stats(db, &st);
    CHECK(st.dirs_dropped >= 8);
}

static void directories_left_out(void)
{
    with_fixture(directories_left_out_body);
}

static void diversions_body(struct fixture *fxp, struct pkgdb **dbp)
{
    (void)fxp;
    struct pkgdb *db = *dbp;

    /* postgresql-common diverts pg_config: its own copy stays in place, */
    CHECK_STR(OWNER(db, "/usr/bin/pg_config"), "postgresql-common");
    /* libpq-dev's copy went aside */
    CHECK_STR(OWNER(db, "/usr/bin/pg_config.libpq-dev"), "libpq-dev");
    CHECK_STR(OWNER(db, "/usr/bin/pg_ctlcluster"), "postgresql-common");
    /* a local diversion moves every package's copy; the original path is
     * then whatever the administrator put there */
    CHECK_STR(OWNER(db, "/usr/bin/foo.orig"), "foo");
    CHECK_NO_OWNER(db, "/usr/bin/foo");
}

static void diversions(void)
{
    with_fixture(diversions_body);
}

static void malformed_input_body(struct fixture *fx, struct pkgdb **dbp)
{
    struct pkgdb_stats st;
    char err[512] = "", info[PATH_MAX];
    int ret;

    pkgdb_get_stats(*dbp, &st);
    CHECK_INT(st.skipped_files, ==, 1); /* Not_A_Package.list */
    CHECK_INT(st.skipped_lines, ==, 2); /* relative/line, /usr/../etc/passwd */
    CHECK_NO_OWNER(*dbp, "/usr/bin/evil");
    CHECK_NO_OWNER(*dbp, "/usr/bin/stale");
    CHECK_NO_OWNER(*dbp, "/etc/passwd");
    CHECK_STR(OWNER(*dbp, "/usr/bin/ok-after-bad"), "libc6:amd64"); /* and no final newline */
    pkgdb_free(*dbp);
    *dbp = NULL;

    /* a diversions file that is not triples of lines is refused */
    CHECK(fx_write(fx, "var/lib/dpkg/diversions", "/usr/bin/a\n/usr/bin/a.real\n") == 0);
    ret = pkgdb_open_at(dbp, fx->adm, fx->root, err, sizeof(err));
    CHECK_INT(ret, ==, -EINVAL);
    CHECK(*dbp == NULL);
    CHECK_MSG(strstr(err, "diversions") && strstr(err, "multiple of 3"), "err: %s", err);
    CHECK(fx_write(fx, "var/lib/dpkg/diversions", "/usr/bin/a\nnot/absolute\npkg\n") == 0);
    ret = pkgdb_open_at(dbp, fx->adm, fx->root, err, sizeof(err));
    CHECK_INT(ret, ==, -EINVAL);
    CHECK_MSG(strstr(err, "diversions line 2"), "err: %s", err);
    CHECK(fx_write(fx, "var/lib/dpkg/diversions", "/usr/bin/a\n/usr/bin/b\nBad Name\n") == 0);
    ret = pkgdb_open_at(dbp, fx->adm, fx->root, err, sizeof(err));
    CHECK_INT(ret, ==, -EINVAL);
    CHECK_MSG(strstr(err, "diversions line 3"), "err: %s", err);

    /* no info/: not a dpkg system */
    snprintf(info, sizeof(info), "%s/var/lib/dpkg/nothing-here", fx->root);
    ret = pkgdb_open(dbp, info, err, sizeof(err));
    CHECK(ret < 0);
    CHECK(*dbp == NULL);
    CHECK_MSG(strstr(err, "nothing-here"), "err: %s", err);
}

static void malformed_input(void)
{
    with_fixture(malformed_input_body);
}

static void refresh_body(struct fixture *fxp, struct pkgdb **dbp)
{
    struct fixture *fx = fxp;
    struct pkgdb *db = *dbp;
    struct pkgdb_stats st;
    const char *before;
    char err[512] = "";
    int ret;

    before = OWNER(db, "/usr/bin/true");
    CHECK_STR(before, "coreutils");

    /* nothing changed: nothing rebuilt */
    CHECK_INT(pkgdb_refresh(db, err, sizeof(err)), ==, 0);
    pkgdb_get_stats(db, &st);
    CHECK_INT(st.builds, ==, 1);

    /* a package is installed (dpkg writes the list, then replaces status) */
    CHECK(fx_write(fx, "var/lib/dpkg/info/newpkg.list", "/usr\n/usr/bin\n/usr/bin/newtool\n") == 0);
    CHECK(fx_replace(fx, "var/lib/dpkg/status", "Package: newpkg\n\nPackage: coreutils\n\n") == 0);
    CHECK_NO_OWNER(db, "/usr/bin/newtool");
    ret = pkgdb_refresh(db, err, sizeof(err));
    CHECK_MSG(ret == 0, "refresh: %s", err);
    pkgdb_get_stats(db, &st);
    CHECK_INT(st.builds, ==, 2);
    CHECK_INT(st.packages, ==, 8);
    CHECK_STR(OWNER(db, "/usr/bin/newtool"), "newpkg");
    CHECK_STR(before, "coreutils"); /* names survive a rebuild */
    CHECK(OWNER(db, "/usr/bin/true") == before);

    /* a package is removed */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/var/lib/dpkg/info/foo.list", fx->root);
    CHECK(unlink(path) == 0);
    CHECK(fx_replace(fx, "var/lib/dpkg/status", "Package: newpkg\n\n") == 0);
    CHECK_INT(pkgdb_refresh(db, err, sizeof(err)), ==, 0);
    CHECK_NO_OWNER(db, "/usr/bin/foo.orig");
    CHECK_NO_OWNER(db, "/opt/foo-tool");

    /* a rebuild that fails keeps the old index, and is not retried until
     * something changes again */
    CHECK(fx_replace(fx, "var/lib/dpkg/diversions", "/usr/bin/x\n") == 0);
    ret = pkgdb_refresh(db, err, sizeof(err));
    CHECK_INT(ret, ==, -EINVAL);
    CHECK_MSG(strstr(err, "diversions"), "err: %s", err);
    CHECK_STR(OWNER(db, "/usr/bin/newtool"), "newpkg");
    CHECK_STR(OWNER(db, "/usr/bin/pg_config"), "postgresql-common");
    err[0] = '\0';
    ret = pkgdb_refresh(db, err, sizeof(err));
    CHECK_INT(ret, ==, -EINVAL);
    CHECK_MSG(strstr(err, "diversions"), "err: %s", err);
    pkgdb_get_stats(db, &st);
    CHECK_INT(st.builds, ==, 3);

    /* repaired: rebuilt; without diversions libpq-dev's copy is in place */
    CHECK(fx_replace(fx, "var/lib/dpkg/diversions", "") == 0);
    ret = pkgdb_refresh(db, err, sizeof(err));
    CHECK_MSG(ret == 0, "refresh: %s", err);
    pkgdb_get_stats(db, &st);
    CHECK_INT(st.builds, ==, 4);
    CHECK_INT(st.diversions, ==, 0);
    CHECK_STR(OWNER(db, "/usr/bin/pg_config"), "libpq-dev");
    CHECK_NO_OWNER(db, "/usr/bin/pg_config.libpq-dev");
}

static void refresh(void)
{
    with_fixture(refresh_body);
}

#define VERIFY(db, path, want)                                                        \
    do {                                                                              \
        enum pkgdb_verdict v_ = PKGDB_MATCH;                                          \
        int r_ = pkgdb_verify(db, path, &v_, err, sizeof(err));                      \
        CHECK_MSG(r_ == 0, "verify %s: %d %s", path, r_, err);                        \
        CHECK_MSG(v_ == (want), "verify %s: %s, expected %s", path, pkgdb_verdict_name(v_), \
                  pkgdb_verdict_name(want));                                          \
    } while (0)

static void verify_md5sums_body(struct fixture *fxp, struct pkgdb **dbp)
{
    struct fixture *fx = fxp;
    struct pkgdb *db = *dbp;
    enum pkgdb_verdict v;
    char err[512] = "";
    int ret;

    VERIFY(db, "/usr/bin/true", PKGDB_MATCH);        /* recorded as bin/true */
    VERIFY(db, "/usr/bin/env", PKGDB_MATCH);
    VERIFY(db, "/usr/bin/cat", PKGDB_NO_RECORD);     /* owned, no checksum line */
    VERIFY(db, "/usr/bin/nothing", PKGDB_NO_RECORD); /* not owned */
    VERIFY(db, "/opt/foo-tool", PKGDB_NO_RECORD);    /* no md5sums file */
    /* diversions: each copy against its own package's record */
    VERIFY(db, "/usr/bin/pg_config", PKGDB_MATCH);
    VERIFY(db, "/usr/bin/pg_config.libpq-dev", PKGDB_MATCH);

    /* a changed file */
    CHECK(fx_write(fx, "usr/bin/env", "\177ELF pretend enw\n") == 0);
    VERIFY(db, "/usr/bin/env", PKGDB_MISMATCH);
    CHECK(fx_write(fx, "usr/bin/pg_config", PGCONFIG_REAL) == 0); /* swapped copies */
    VERIFY(db, "/usr/bin/pg_config", PKGDB_MISMATCH);

    /* recorded but missing on disk: an error, not a verdict */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/usr/bin/true", fx->root);
    CHECK(unlink(path) == 0);
    ret = pkgdb_verify(db, "/usr/bin/true", &v, err, sizeof(err));
    CHECK_INT(ret, ==, -ENOENT);
    CHECK_MSG(strstr(err, "usr/bin/true"), "err: %s", err);
    CHECK_STR(pkgdb_verdict_name(PKGDB_MISMATCH), "mismatch");
}

static void verify_md5sums(void)
{
    with_fixture(verify_md5sums_body);
}

static void real_database_body(struct pkgdb **dbp)
{
    struct pkgdb_stats st;
    char err[512] = "", tmp[] = "/tmp/yamori-unowned.XXXXXX";
    enum pkgdb_verdict v;
    const char *owner;
    int fd, ret;

    ret = pkgdb_open(dbp, "/var/lib/dpkg", err, sizeof(err));
    CHECK_MSG(ret == 0, "open: %s", err);
    CHECK_STR(OWNER(*dbp, "/usr/bin/true"), "coreutils");
    CHECK_STR(OWNER(*dbp, "/usr/bin/dpkg"), "dpkg");
    fd = mkstemp(tmp);
    CHECK(fd >= 0);
    close(fd);
    owner = OWNER(*dbp, tmp);
    unlink(tmp);
    CHECK_MSG(owner == NULL, "%s owned by %s", tmp, owner);
    CHECK_NO_OWNER(*dbp, "/usr/bin");
    ret = pkgdb_verify(*dbp, "/usr/bin/dpkg", &v, err, sizeof(err));
    CHECK_MSG(ret == 0, "verify: %s", err);
    CHECK_MSG(v == PKGDB_MATCH, "/usr/bin/dpkg: %s", pkgdb_verdict_name(v));
    /* where this machine has postgresql-common's diversion of pg_config,
     * the copy put aside is libpq-dev's */
    if (access("/usr/bin/pg_config.libpq-dev", F_OK) == 0) {
        CHECK_STR(OWNER(*dbp, "/usr/bin/pg_config.libpq-dev"), "libpq-dev");
        ret = pkgdb_verify(*dbp, "/usr/bin/pg_config.libpq-dev", &v, err, sizeof(err));
        CHECK_MSG(ret == 0, "verify: %s", err);
        CHECK_MSG(v == PKGDB_MATCH, "pg_config.libpq-dev: %s", pkgdb_verdict_name(v));
    }
    pkgdb_get_stats(*dbp, &st);
    CHECK(st.entries > 1000);
    CHECK(st.packages > 50);
}

static void real_database(void)
{
    struct pkgdb *db = NULL;

    if (access("/var/lib/dpkg/info", R_OK) != 0 || access("/usr/bin/dpkg", X_OK) != 0)
        SKIP("no dpkg database on this machine");
    real_database_body(&db);
    pkgdb_free(db);
}

static void free_null(void)
{
    pkgdb_free(NULL);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        { "owner_lookups", owner_lookups },
        { "directories_left_out", directories_left_out },
        { "diversions", diversions },
        { "malformed_input", malformed_input },
        { "refresh", refresh },
        { "verify_md5sums", verify_md5sums },
        { "real_database", real_database },
        { "free_null", free_null },
        { NULL, NULL },
    };
    return check_main("pkgdb", cases, argc, argv);
}
