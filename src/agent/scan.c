/*
 * scan.c — the scanner's driver (see scan.h): options, the two passes
 * (a cheap count for the progress estimate, then the scan), reading each
 * file exactly once (SHA-256 while reading, the bytes kept for YARA when
 * small enough), detecting files that vanish or change under the reader,
 * the CPU throttle, I/O priority, progress and the result object.
 *
 * The throttle compares the thread's CPU time with the wall time of a
 * window of a few seconds and sleeps off the excess: with a budget b, CPU
 * used u since the window started must fit in u / b of wall time. It runs
 * after every file and every 1 MiB read, so overshoot is bounded by one
 * chunk's work.
 */
#include "agent/scan_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define THROTTLE_WINDOW_NS (3ull * 1000000000ull)

#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_CLASS_BE 2
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_WHO_PROCESS 1

uint64_t scan_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool scan_cancelled(struct scan_ctx *c)
{
    if (!c->cancelled && c->o->cancel && atomic_load(c->o->cancel))
        c->cancelled = true;
    return c->cancelled;
}

void scan_throttle(struct scan_ctx *c)
{
    uint64_t wall, cpu, allowed;

    if (c->budget <= 0 || c->pass != SCAN_PASS_SCAN)
        return;
    wall = scan_mono_ns() - c->win_wall_ns;
    cpu = thread_cpu_ns() - c->win_cpu_ns;
    allowed = (uint64_t)((double)cpu / c->budget);
    while (allowed > wall && !scan_cancelled(c)) {
        uint64_t left = allowed - wall, step = left < 100000000ull ? left : 100000000ull;
        struct timespec ts = {(time_t)(step / 1000000000ull), (long)(step % 1000000000ull)};
        nanosleep(&ts, NULL);
        wall = scan_mono_ns() - c->win_wall_ns;
    }
    if (wall >= THROTTLE_WINDOW_NS) {
        c->win_wall_ns = scan_mono_ns();
        c->win_cpu_ns = thread_cpu_ns();
    }
}

static void report(struct scan_ctx *c, const char *current, bool last)
{
    struct scan_progress p;
    uint64_t now = scan_mono_ns();
    double pct = 0;

    if (!c->o->progress || c->pass != SCAN_PASS_SCAN)
        return;
    if (!last && c->last_progress_ns &&
        now - c->last_progress_ns < (uint64_t)c->o->progress_interval_ms * 1000000ull)
        return;
    c->last_progress_ns = now;
    if (c->total_bytes)
        pct = 100.0 * (double)c->bytes / (double)c->total_bytes;
    else if (c->total_files)
        pct = 100.0 * (double)c->files / (double)c->total_files;
    if (pct > 99.0)
        pct = 99.0;
    if (last && !c->cancelled)
        pct = 100.0;
    if (pct < c->last_percent)
        pct = c->last_percent;
    c->last_percent = pct;
    p = (struct scan_progress){
        .files = c->files,
        .bytes = c->bytes,
        .findings = c->nfindings,
        .total_files = c->total_files,
        .total_bytes = c->total_bytes,
        .percent = pct,
        .current = current,
    };
    c->o->progress(c->o->progress_ctx, &p);
}

/* ------------------------------------------------------------ findings */

void scan_add_finding(struct scan_ctx *c, const char *engine, const char *rule, const char *reason,
                      const char *severity)
{
    struct scan_finding *f;

    if (c->nfindings >= SCAN_MAX_FINDINGS) {
        c->findings_dropped++;
        return;
    }
    if (c->nfindings == c->capfindings) {
        size_t cap = c->capfindings ? c->capfindings * 2 : 16;
        struct scan_finding *nv = realloc(c->findings, cap * sizeof(*nv));
        if (!nv) {
            c->findings_dropped++;
            return;
        }
        c->findings = nv;
        c->capfindings = cap;
    }
    f = &c->findings[c->nfindings];
    *f = (struct scan_finding){.engine = engine, .severity = severity};
    f->path = strdup(c->cur_path);
    f->rule = strdup(rule ? rule : "");
    f->reason = strdup(reason);
    snprintf(f->sha256, sizeof(f->sha256), "%s", c->cur_sha ? c->cur_sha : "");
    if (!f->path || !f->rule || !f->reason) {
        free(f->path);
        free(f->rule);
        free(f->reason);
        c->findings_dropped++;
        return;
    }
    c->nfindings++;
}

/* ------------------------------------------------------------ the id set */

static uint64_t mix(uint64_t dev, uint64_t ino)
{
    uint64_t h = dev * 0x9e3779b97f4a7c15ull ^ ino;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

bool scan_idset_add(struct scan_idset *s, uint64_t dev, uint64_t ino)
{
    size_t i;

    if (dev == 0 && ino == 0)
        ino = 1; /* (0, 0) marks an empty slot; no real file has it */
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct scan_idset ns = {calloc(cap * 2, sizeof(uint64_t)), cap, 0};
        if (!ns.v)
            return false;
        for (size_t j = 0; j < s->cap; j++)
            if (s->v[2 * j] || s->v[2 * j + 1])
                scan_idset_add(&ns, s->v[2 * j], s->v[2 * j + 1]);
        free(s->v);
        *s = ns;
    }
    for (i = mix(dev, ino) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->v[2 * i] && !s->v[2 * i + 1])
            break;
        if (s->v[2 * i] == dev && s->v[2 * i + 1] == ino)
            return false;
    }
    s->v[2 * i] = dev;
    s->v[2 * i + 1] = ino;
    s->n++;
    return true;
}

void scan_idset_free(struct scan_idset *s)
{
    free(s->v);
    *s = (struct scan_idset){0};
}

/* ------------------------------------------------------------ one file */

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

void scan_visit_fd(struct scan_ctx *c, int fd, const char *path, const struct stat *st)
{
    EVP_MD_CTX *md = NULL;
    unsigned char dig[32];
    char hex[65] = "";
    uint64_t got = 0, size = (uint64_t)st->st_size;
    bool keep = size <= c->yara_max;
    struct stat after;

    if (c->pass != SCAN_PASS_SCAN || scan_cancelled(c))
        return;
    if ((st->st_nlink > 1 || c->o->kind == SCAN_QUICK) &&
        !scan_idset_add(&c->seen, (uint64_t)st->st_dev, (uint64_t)st->st_ino))
        return; /* the same file under another name: scanned once */
    if (size > c->hash_max) {
        c->too_large++;
        return;
    }
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        c->unreadable++;
        goto out;
    }
    for (;;) {
        ssize_t r;
        if (scan_cancelled(c))
            goto out;
        r = read(fd, c->chunk, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            if (errno == ESTALE || errno == ENOENT)
                c->vanished++;
            else
                c->unreadable++;
            goto out;
        }
        if (r == 0)
            break;
        if (got + (uint64_t)r > size) { /* grew while being read */
            c->bytes += got;
            c->vanished++;
            goto out;
        }
        if (keep)
            memcpy(c->buf + got, c->chunk, (size_t)r);
        EVP_DigestUpdate(md, c->chunk, (size_t)r);
        got += (uint64_t)r;
        if (got % (8ull * CHUNK) == 0)
            report(c, path, false);
        scan_throttle(c);
    }
    c->bytes += got;
    if (got != size || fstat(fd, &after) != 0 || !same_version(st, &after)) {
        c->vanished++; /* shrank, or was written to while being read */
        goto out;
    }
    EVP_DigestFinal_ex(md, dig, NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    c->files++;
    if (!keep)
        c->too_large++;
    c->cur_path = path;
    c->cur_sha = hex;
    scan_engines_check(c, fd, st, keep ? c->buf : NULL, (size_t)got);
    c->cur_path = NULL;
    c->cur_sha = NULL;
out:
    EVP_MD_CTX_free(md);
    report(c, path, false);
    scan_throttle(c);
}

void scan_visit_at(struct scan_ctx *c, int dirfd, const char *name, const char *path, const struct stat *walk)
{
    struct stat st;
    int fd;

    if (scan_cancelled(c))
        return;
    if (c->pass == SCAN_PASS_COUNT) {
        if (walk && (walk->st_nlink > 1 || c->o->kind == SCAN_QUICK) &&
            !scan_idset_add(&c->seen, (uint64_t)walk->st_dev, (uint64_t)walk->st_ino))
            return;
        if (walk) {
            c->total_files++;
            c->total_bytes += (uint64_t)walk->st_size;
        }
        return;
    }
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
            c->vanished++; /* gone, or replaced by a link */
        else
            c->unreadable++;
        report(c, path, false);
        return;
    }
    if (fstat(fd, &st) != 0) {
        c->unreadable++;
    } else if (!S_ISREG(st.st_mode) ||
               (walk && (st.st_dev != walk->st_dev || st.st_ino != walk->st_ino))) {
        if (walk)
            c->vanished++; /* replaced between the listing and the open */
    } else {
        /* no blocking on a FIFO planted as a file later: it is regular here */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        scan_visit_fd(c, fd, path, &st);
    }
    close(fd);
}

/* ------------------------------------------------------------ I/O priority */

static int ioprio_get_self(void)
{
    return (int)syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
}

static void ioprio_set_self(int v)
{
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) != 0) {
        /* not fatal: the scan still runs, at the thread's priority */
    }
}

/* ------------------------------------------------------------ options, result */

int scan_kind_parse(const char *s, enum scan_kind *out)
{
    if (!s)
        return -EINVAL;
    if (strcmp(s, "quick") == 0)
        *out = SCAN_QUICK;
    else if (strcmp(s, "full") == 0)
        *out = SCAN_FULL;
    else if (strcmp(s, "custom") == 0)
        *out = SCAN_CUSTOM;
    else
        return -EINVAL;
    return 0;
}

const char *scan_kind_name(enum scan_kind k)
{
    return k == SCAN_QUICK ? "quick" : k == SCAN_FULL ? "full" : "custom";
}

static bool is_file(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

void scan_default_rules_dir(char *out, size_t outlen)
{
    char exe[PATH_MAX - 64], dir[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n <= 0) {
        snprintf(out, outlen, "/usr/local/share/yamori/yara");
        return;
    }
    exe[n] = '\0';
    snprintf(dir, sizeof(dir), "%s", exe);
    for (int up = 0; up < 6; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            break;
        *slash = '\0';
        if (is_file(dir, "rules/yara/README.md") && is_file(dir, "src/agent/scan.h")) {
            snprintf(out, outlen, "%s/rules/yara", dir);
            return;
        }
    }
    /* <prefix>/sbin/yamori-agent -> <prefix>/share/yamori/yara */
    snprintf(dir, sizeof(dir), "%s", exe);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf(out, outlen, "%s/share/yamori/yara", dir);
}

static void write_result(struct scan_ctx *c, struct jsonw *out)
{
    char eng[64];

    jsonw_object_begin(out);
    jsonw_kv_str(out, "kind", scan_kind_name(c->o->kind));
    jsonw_key(out, "path");
    if (c->o->kind == SCAN_CUSTOM)
        jsonw_str(out, c->o->path);
    else if (c->o->kind == SCAN_FULL)
        jsonw_str(out, "/");
    else
        jsonw_null(out);
    jsonw_kv_uint(out, "files_scanned", c->files);
    jsonw_kv_uint(out, "bytes_scanned", c->bytes);
    jsonw_key(out, "skipped");
    jsonw_object_begin(out);
    jsonw_kv_uint(out, "vanished", c->vanished);
    jsonw_kv_uint(out, "too_large", c->too_large);
    jsonw_kv_uint(out, "unreadable", c->unreadable);
    jsonw_object_end(out);
    jsonw_key(out, "engines");
    jsonw_object_begin(out);
    jsonw_kv_str(out, "yara", c->yara_state);
    snprintf(eng, sizeof(eng), "ok (%zu)", c->niocs);
    jsonw_kv_str(out, "indicators", eng);
    jsonw_kv_str(out, "package", c->pkg_state);
    jsonw_kv_str(out, "clamav", c->clam_state);
    jsonw_object_end(out);
    jsonw_key(out, "findings");
    jsonw_array_begin(out);
    for (size_t i = 0; i < c->nfindings; i++) {
        const struct scan_finding *f = &c->findings[i];
        jsonw_object_begin(out);
        jsonw_kv_str(out, "path", f->path);
        jsonw_kv_str(out, "sha256", f->sha256);
        jsonw_kv_str(out, "engine", f->engine);
        jsonw_kv_str(out, "rule", f->rule);
        jsonw_kv_str(out, "reason", f->reason);
        jsonw_kv_str(out, "severity", f->severity);
        jsonw_object_end(out);
    }
    jsonw_array_end(out);
    jsonw_kv_bool(out, "cancelled", c->cancelled);
    jsonw_kv_uint(out, "duration_ms", (scan_mono_ns() - c->start_ns) / 1000000ull);
    jsonw_object_end(out);
}

/* scan_run, or with fd >= 0 scan_run_fd (o then names the file's path). */
static int run(const struct scan_options *o, int fd, struct jsonw *out, char *err, size_t errlen)
{
    struct scan_ctx c = {.magic = SCAN_MAGIC, .o = o};
    int e = 0, old_prio = -1;

    if (!o || !out) {
        snprintf(err, errlen, "no scan options");
        return -EINVAL;
    }
    if (o->kind != SCAN_QUICK && o->kind != SCAN_FULL && o->kind != SCAN_CUSTOM) {
        snprintf(err, errlen, "unknown scan kind %d", (int)o->kind);
        return -EINVAL;
    }
    if (o->kind == SCAN_CUSTOM && (!o->path || o->path[0] != '/' || strlen(o->path) >= PATH_MAX)) {
        snprintf(err, errlen, "a custom scan needs an absolute path (shorter than %d characters)", PATH_MAX);
        return -EINVAL;
    }
    c.start_ns = scan_mono_ns();
    c.win_wall_ns = c.start_ns;
    c.win_cpu_ns = thread_cpu_ns();
    c.yara_max = o->yara_max_bytes ? o->yara_max_bytes : SCAN_DEFAULT_YARA_MAX_BYTES;
    c.hash_max = o->hash_max_bytes ? o->hash_max_bytes : SCAN_DEFAULT_HASH_MAX_BYTES;
    c.budget = o->cpu_budget == 0 ? SCAN_DEFAULT_CPU_BUDGET : o->cpu_budget;
    if (c.yara_max > (1ull << 32)) {
        snprintf(err, errlen, "the YARA size limit must be at most 4 GiB");
        return -EINVAL;
    }
    c.buf = malloc((size_t)c.yara_max + 1);
    c.chunk = malloc(CHUNK);
    if (!c.buf || !c.chunk) {
        snprintf(err, errlen, "out of memory for the scan buffers (%llu bytes)", (unsigned long long)c.yara_max);
        e = -ENOMEM;
        goto out;
    }
    e = scan_engines_open(&c, err, errlen);
    if (e)
        goto out;

    if (o->io_priority != SCAN_IO_NORMAL) {
        old_prio = ioprio_get_self();
        ioprio_set_self(o->io_priority == SCAN_IO_IDLE ? IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT
                                                      : (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | 7);
    }

    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || lseek(fd, 0, SEEK_SET) != 0) {
            snprintf(err, errlen, "%s is not a regular file that can be read", o->path);
            e = -EINVAL;
            goto out;
        }
        c.total_files = 1;
        c.total_bytes = (uint64_t)st.st_size;
        c.pass = SCAN_PASS_SCAN;
        report(&c, NULL, false);
        scan_visit_fd(&c, fd, o->path, &st);
    } else {
        /* the estimate */
        c.pass = SCAN_PASS_COUNT;
        if (o->kind == SCAN_FULL)
            scan_targets_estimate_full(&c);
        else if ((e = scan_targets_visit(&c, err, errlen)) != 0)
            goto out;

        scan_idset_free(&c.seen); /* the count pass used it too */
        c.pass = SCAN_PASS_SCAN;
        report(&c, NULL, false);
        e = scan_targets_visit(&c, err, errlen);
        if (e)
            goto out;
    }
    scan_cancelled(&c);
    report(&c, NULL, true);
    write_result(&c, out);
    if (jsonw_failed(out)) {
        snprintf(err, errlen, "out of memory writing the scan result");
        e = -ENOMEM;
    }
out:
    if (old_prio >= 0)
        ioprio_set_self(old_prio);
    scan_engines_close(&c);
    for (size_t i = 0; i < c.nfindings; i++) {
        free(c.findings[i].path);
        free(c.findings[i].rule);
        free(c.findings[i].reason);
    }
    free(c.findings);
    scan_idset_free(&c.seen);
    scan_targets_free(&c);
    free(c.buf);
    free(c.chunk);
    return e;
}

int scan_run(const struct scan_options *o, struct jsonw *out, char *err, size_t errlen)
{
    return run(o, -1, out, err, errlen);
}

int scan_run_fd(const struct scan_options *o, int fd, const char *path, struct jsonw *out, char *err,
                size_t errlen)
{
    struct scan_options one;

    if (!o || fd < 0 || !path || path[0] != '/' || strlen(path) >= PATH_MAX) {
        snprintf(err, errlen, "scanning one file needs its descriptor and an absolute path");
        return -EINVAL;
    }
    one = *o;
    one.kind = SCAN_CUSTOM;
    one.path = path;
    return run(&one, fd, out, err, errlen);
}
