/*
 * test_server_check.c — `yamori server -n`: it reports what a start would
 * fail on in the store and its directories, with a message that names the
 * problem, and it changes nothing on disk: no data directory, database or
 * SQLite -wal/-shm file is created, and an existing database is left byte
 * for byte and time for time as it was. A database a real server made is
 * found up to date, stopped or running; an empty one has every migration
 * step ahead of it. The checks run the real binary as a child (sanitizer
 * build); the server runs as `nobody` as root, so -n judges the files for
 * nobody.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "serverproc.h"
#include "tmpdir.h"

static char dir[64];   /* this case's temporary directory */
static char *before;   /* what was on disk before -n ran */

static void teardown(void)
{
    serverproc_stop_all();
    free(before);
    before = NULL;
    tmpdir_remove(dir);
}

static bool make_dir(void)
{
    return tmpdir_make(dir, sizeof(dir), "check-test");
}

/* Runs `yamori server -n --set data_dir=DATA --set user=nobody ARGS`,
 * standard output and error into out. Returns the exit status (-1 when it
 * did not exit normally). */
static int check_n(const char *data, char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int check_n(const char *data, char *out, size_t outlen, const char *fmt, ...)
{
    char args[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    return serverproc_cli(out, outlen, "server -n --set data_dir=%s --set user=nobody %s", data, args);
}

/* ------------------------------------------------------------ what is on disk */

static char *listing;
static size_t listing_len;

static int list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    char line[1200];
    int n;
    char *nl;

    (void)flag;
    (void)ftw;
    n = snprintf(line, sizeof(line), "%s %o %ld %lld %ld.%09ld %ld.%09ld\n", path, (unsigned)st->st_mode,
                 (long)st->st_uid, (long long)st->st_size, (long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                 (long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
    nl = realloc(listing, listing_len + (size_t)n + 1);
    if (!nl)
        return -1;
    listing = nl;
    memcpy(listing + listing_len, line, (size_t)n + 1);
    listing_len += (size_t)n;
    return 0;
}

/* Every file under root with its mode, owner, size and times, one per
 * line; the caller frees it. */
static char *snapshot(const char *root)
{
    char *out;
    listing = strdup("");
    listing_len = 0;
    if (!listing || nftw(root, list_one, 16, FTW_PHYS) != 0) {
        free(listing);
        listing = NULL;
        return NULL;
    }
    out = listing;
    listing = NULL;
    return out;
}

static bool same_snapshot(const char *root, const char *then)
{
    char *now = snapshot(root);
    bool same = now && then && strcmp(now, then) == 0;
    if (!same)
        fprintf(stderr, "before:\n%s\nafter:\n%s\n", then ? then : "?", now ? now : "?");
    free(now);
    return same;
}

static bool write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    bool ok = fd >= 0 && fchmod(fd, mode) == 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* ------------------------------------------------------------ cases */

static void missing_data_dir_passes_and_creates_nothing(void)
{
    char out[4096], data[128];

    CHECK(make_dir());
    snprintf(data, sizeof(data), "%s/data", dir);
    before = snapshot(dir);
    CHECK(before);
    {
        int rc = check_n(data, out, sizeof(out), "%s", "");
        CHECK_MSG(rc == 0, "rc %d: %s", rc, out);
    }
    CHECK_MSG(strstr(out, "configuration OK") && strstr(out, "will be created at first start"), "%s", out);
    CHECK_MSG(same_snapshot(dir, before), "-n created something in %s", dir);
}

static void bad_store_locations_fail_clearly_and_change_nothing(void)
{
    char out[4096], data[128], path[256];
    int rc;

    CHECK(make_dir());
    snprintf(data, sizeof(data), "%s/data", dir);
    CHECK(mkdir(data, 0750) == 0);
    snprintf(path, sizeof(path), "%s/junk.db", data);
    CHECK(write_text(path, "this is a text file that was put where the database should be, not a database\n", 0666));
    snprintf(path, sizeof(path), "%s/adir.db", data);
    CHECK(mkdir(path, 0755) == 0);
    before = snapshot(dir);
    CHECK(before);

    /* the directory the database would be created in does not exist */
    rc = check_n(data, out, sizeof(out), "--set store=sqlite:%s/nowhere/yamori.db", dir);
    CHECK_MSG(rc == 1, "rc %d: %s", rc, out);
    CHECK_MSG(strstr(out, "cannot create the database") && strstr(out, "/nowhere: No such file or directory"), "%s",
              out);
    /* a back end this build does not have */
    rc = check_n(data, out, sizeof(out), "--set store=postgresql://db.example/yamori");
    CHECK_MSG(rc == 1 && strstr(out, "unsupported store 'postgresql://db.example/yamori'"), "rc %d: %s", rc, out);
    /* a file that is not a database */
    rc = check_n(data, out, sizeof(out), "--set store=sqlite:%s/junk.db", data);
    CHECK_MSG(rc == 1 && strstr(out, "junk.db: file is not a database"), "rc %d: %s", rc, out);
    /* a directory where the file should be */
    rc = check_n(data, out, sizeof(out), "--set store=sqlite:%s/adir.db", data);
    CHECK_MSG(rc == 1 && strstr(out, "adir.db is not a file"), "rc %d: %s", rc, out);
    /* a data directory that start could not create */
    rc = check_n("/nonexistent-yamori-parent/data", out, sizeof(out), "%s", "");
    CHECK_MSG(rc == 1 && strstr(out, "cannot create the data directory /nonexistent-yamori-parent/data"), "rc %d: %s",
              rc, out);

    CHECK_MSG(same_snapshot(dir, before), "-n changed something in %s", dir);
}

static void empty_database_has_every_migration_ahead(void)
{
    char out[4096], data[128], path[256];
    int rc;

    CHECK(make_dir());
    snprintf(data, sizeof(data), "%s/data", dir);
    CHECK(mkdir(data, 0750) == 0);
    snprintf(path, sizeof(path), "%s/yamori.db", data);
    CHECK(write_text(path, "", 0666)); /* SQLite takes an empty file for an empty database */
    before = snapshot(dir);
    CHECK(before);
    rc = check_n(data, out, sizeof(out), "%s", "");
    CHECK_MSG(rc == 0 && strstr(out, "migration steps will be applied at start"), "rc %d: %s", rc, out);
    CHECK_MSG(same_snapshot(dir, before), "-n changed something in %s", dir);
}

static void real_database_found_up_to_date_stopped_and_running(void)
{
    struct serverproc_options opt = {0};
    struct serverproc *s;
    char out[4096], data[128], err[2048], rules[128], set_rules[160];
    const char *sets[] = {set_rules, NULL};
    int rc;

    CHECK(make_dir());
    chmod(dir, 0755); /* the service user reaches data/ inside */
    snprintf(data, sizeof(data), "%s/data", dir);
    /* no rules: the store is the point here, and the server starts sooner */
    snprintf(rules, sizeof(rules), "%s/rules", dir);
    CHECK(mkdir(rules, 0755) == 0);
    snprintf(set_rules, sizeof(set_rules), "rules_dir=%s", rules);
    opt.data_dir = data;
    opt.sets = sets;
    s = serverproc_start(&opt, err, sizeof(err));
    CHECK_MSG(s, "%s", err);
    /* running: read through the server's own -wal and -shm */
    rc = check_n(data, out, sizeof(out), "%s", "");
    CHECK_MSG(rc == 0 && strstr(out, "yamori.db opens; its schema is up to date"), "rc %d: %s", rc, out);
    CHECK_INT(serverproc_stop(s), ==, 0);

    /* stopped: the database alone, and nothing appears next to it */
    before = snapshot(dir);
    CHECK(before);
    CHECK_MSG(!strstr(before, "yamori.db-wal") && !strstr(before, "yamori.db-shm"), "%s", before);
    rc = check_n(data, out, sizeof(out), "%s", "");
    CHECK_MSG(rc == 0 && strstr(out, "yamori.db opens; its schema is up to date"), "rc %d: %s", rc, out);
    CHECK_MSG(same_snapshot(dir, before), "-n changed something in %s", dir);
}

static void database_the_service_user_cannot_write_fails(void)
{
    char out[4096], data[128], path[256];
    struct passwd *nobody = getpwnam("nobody");
    int rc;

    if (geteuid() != 0 || !nobody)
        SKIP("needs root and the user nobody (the server drops to it)");
    CHECK(make_dir());
    snprintf(data, sizeof(data), "%s/data", dir);
    CHECK(mkdir(data, 0750) == 0);
    snprintf(path, sizeof(path), "%s/yamori.db", data);
    CHECK(write_text(path, "", 0600)); /* root's; the server, as nobody, could not open it */
    before = snapshot(dir);
    CHECK(before);
    rc = check_n(data, out, sizeof(out), "%s", "");
    CHECK_MSG(rc == 1 && strstr(out, "the server (as nobody) may not read and write the database") &&
                  strstr(out, "yamori.db"),
              "rc %d: %s", rc, out);
    CHECK_MSG(same_snapshot(dir, before), "-n changed something in %s", dir);
    /* handed to nobody, it passes */
    CHECK(chown(path, nobody->pw_uid, nobody->pw_gid) == 0);
    rc = check_n(data, out, sizeof(out), "%s", "");
    CHECK_MSG(rc == 0 && strstr(out, "configuration OK"), "rc %d: %s", rc, out);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"missing_data_dir_passes_and_creates_nothing", missing_data_dir_passes_and_creates_nothing},
        {"bad_store_locations_fail_clearly_and_change_nothing", bad_store_locations_fail_clearly_and_change_nothing},
        {"empty_database_has_every_migration_ahead", empty_database_has_every_migration_ahead},
        {"real_database_found_up_to_date_stopped_and_running", real_database_found_up_to_date_stopped_and_running},
        {"database_the_service_user_cannot_write_fails", database_the_service_user_cannot_write_fails},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("server/server_check", cases, argc, argv);
}
