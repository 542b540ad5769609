/*
 * scan_engines.c — the scanner's engines (see scan.h): YARA rules compiled
 * from every *.yar of the rule directory, SHA-256 indicators (sorted,
 * binary-searched), package ownership through pkgdb, and ClamAV through
 * libclamav when a signature database is present.
 *
 * The rule files themselves contain the strings their rules look for; a
 * scan never reports a YARA match on the rule files it loaded (compared by
 * device and inode), so the agent does not flag its own rule set.
 */
#include "agent/scan_int.h"

#include <clamav.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yara.h>

#include "agent/pkgdb.h"

#define MAX_RULE_FILES 256
#define YARA_TIMEOUT_S 60

static pthread_mutex_t yara_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t clam_once = PTHREAD_ONCE_INIT;
static int clam_init_rc = -1;

/* ------------------------------------------------------------ YARA */

struct compile_err {
    char msg[400];
    int errors;
};

static void compile_cb(int level, const char *file, int line, const YR_RULE *rule, const char *message, void *u)
{
    struct compile_err *ce = u;
    (void)rule;
    if (level != YARA_ERROR_LEVEL_ERROR)
        return;
    if (!ce->errors++)
        snprintf(ce->msg, sizeof(ce->msg), "%s:%d: %s", file ? file : "?", line, message);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int yara_open(struct scan_ctx *c, char *err, size_t errlen)
{
    char dirbuf[4096];
    const char *dir = c->o->rules_dir;
    YR_COMPILER *comp = NULL;
    YR_RULES *rules = NULL;
    struct compile_err ce = {.errors = 0};
    char *names[MAX_RULE_FILES];
    size_t nnames = 0;
    struct dirent *de;
    DIR *d;
    int e = 0;

    if (!dir) {
        scan_default_rules_dir(dirbuf, sizeof(dirbuf));
        dir = dirbuf;
    }
    d = opendir(dir);
    if (!d) {
        snprintf(c->yara_state, sizeof(c->yara_state), "unavailable: no rule set at %.300s (%s)", dir, strerror(errno));
        return 0;
    }
    while ((de = readdir(d)) && nnames < MAX_RULE_FILES) {
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".yar") == 0 && de->d_name[0] != '.')
            if ((names[nnames] = strdup(de->d_name)))
                nnames++;
    }
    closedir(d);
    qsort(names, nnames, sizeof(names[0]), name_cmp);
    if (!nnames) {
        snprintf(c->yara_state, sizeof(c->yara_state), "unavailable: no *.yar file in %.300s", dir);
        goto out;
    }
    c->rule_files = calloc(nnames * 2, sizeof(uint64_t));
    pthread_mutex_lock(&yara_lock);
    e = yr_initialize();
    pthread_mutex_unlock(&yara_lock);
    c->yara_init = e == ERROR_SUCCESS;
    if (e != ERROR_SUCCESS || !c->rule_files) {
        snprintf(err, errlen, "cannot start YARA (error %d)", e);
        e = -ENOMEM;
        goto out;
    }
    if (yr_compiler_create(&comp) != ERROR_SUCCESS) {
        snprintf(err, errlen, "cannot create the YARA compiler");
        e = -ENOMEM;
        goto out;
    }
    yr_compiler_set_callback(comp, compile_cb, &ce);
    for (size_t i = 0; i < nnames; i++) {
        char path[4400];
        struct stat st;
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        f = fopen(path, "re");
        if (!f || fstat(fileno(f), &st) != 0) {
            snprintf(err, errlen, "cannot read the YARA rule file %s: %s", path, strerror(errno));
            e = -errno;
            if (f)
                fclose(f);
            goto out;
        }
        c->rule_files[2 * c->nrule_files] = (uint64_t)st.st_dev;
        c->rule_files[2 * c->nrule_files + 1] = (uint64_t)st.st_ino;
        c->nrule_files++;
        yr_compiler_add_file(comp, f, names[i], path);
        fclose(f);
        if (ce.errors)
            break;
    }
    if (ce.errors) {
        snprintf(err, errlen, "the YARA rule set does not compile: %s", ce.msg);
        e = -EINVAL;
        goto out;
    }
    if (yr_compiler_get_rules(comp, &rules) != ERROR_SUCCESS) {
        snprintf(err, errlen, "cannot build the YARA rules from %s", dir);
        e = -ENOMEM;
        goto out;
    }
    c->yara = (struct YR_RULES *)rules;
    c->yara_rules = rules->num_rules;
    snprintf(c->yara_state, sizeof(c->yara_state), "ok (%u rules)", c->yara_rules);
out:
    if (comp)
        yr_compiler_destroy(comp);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    return e;
}

static const char *meta_str(const YR_RULE *rule, const char *key)
{
    const YR_META *m;
    yr_rule_metas_foreach(rule, m)
    {
        if (m->type == META_TYPE_STRING && strcmp(m->identifier, key) == 0)
            return m->string;
    }
    return NULL;
}

static const char *severity_of(const char *s)
{
    if (s && strcmp(s, "low") == 0)
        return "low";
    if (s && strcmp(s, "medium") == 0)
        return "medium";
    return "high";
}

static int yara_cb(YR_SCAN_CONTEXT *ctx, int message, void *data, void *user)
{
    struct scan_ctx *c = user;
    const YR_RULE *rule = data;
    const char *desc;
    char reason[600];

    (void)ctx;
    if (c->magic != SCAN_MAGIC || message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    desc = meta_str(rule, "description");
    snprintf(reason, sizeof(reason), "matches the YARA rule %s: %s", rule->identifier,
             desc ? desc : "(no description)");
    scan_add_finding(c, "yara", rule->identifier, reason, severity_of(meta_str(rule, "severity")));
    return CALLBACK_CONTINUE;
}

static bool is_rule_file(const struct scan_ctx *c, const struct stat *st)
{
    for (size_t i = 0; i < c->nrule_files; i++)
        if (c->rule_files[2 * i] == (uint64_t)st->st_dev && c->rule_files[2 * i + 1] == (uint64_t)st->st_ino)
            return true;
    return false;
}

/* ------------------------------------------------------------ indicators */

static int hex_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 64);
}

static int iocs_open(struct scan_ctx *c, char *err, size_t errlen)
{
    if (c->o->nindicators > SCAN_MAX_INDICATORS) {
        snprintf(err, errlen, "too many indicators (%zu; at most %d)", c->o->nindicators, SCAN_MAX_INDICATORS);
        return -EINVAL;
    }
    if (!c->o->nindicators)
        return 0;
    c->iocs = calloc(c->o->nindicators, sizeof(*c->iocs));
    if (!c->iocs) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->o->nindicators; i++) {
        const char *s = c->o->indicators[i];
        if (!s || strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64) {
            snprintf(err, errlen, "indicator %zu is not a SHA-256 (64 hexadecimal digits)", i + 1);
            return -EINVAL;
        }
        for (int k = 0; k < 64; k++)
            c->iocs[i][k] = (char)tolower((unsigned char)s[k]);
        c->iocs[i][64] = '\0';
    }
    qsort(c->iocs, c->o->nindicators, sizeof(*c->iocs), hex_cmp);
    c->niocs = c->o->nindicators;
    return 0;
}

/* ------------------------------------------------------------ packages */

static const char *const system_dirs[] = {"/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/libexec/",
                                          "/bin/",     "/sbin/",     "/lib/",     NULL};

static void pkg_open(struct scan_ctx *c)
{
    const char *admin = c->o->dpkg_admindir ? c->o->dpkg_admindir : "/var/lib/dpkg";
    const char *root = c->o->pkg_root ? c->o->pkg_root : "/";
    char err[400];
    int e;

    snprintf(c->pkg_root, sizeof(c->pkg_root), "%s", root);
    while (strlen(c->pkg_root) > 1 && c->pkg_root[strlen(c->pkg_root) - 1] == '/')
        c->pkg_root[strlen(c->pkg_root) - 1] = '\0';
    c->pkg_root_len = strcmp(c->pkg_root, "/") == 0 ? 0 : strlen(c->pkg_root);
    e = pkgdb_open_at(&c->pkg, admin, c->pkg_root, err, sizeof(err));
    if (e)
        snprintf(c->pkg_state, sizeof(c->pkg_state), "unavailable: %s", err);
    else
        snprintf(c->pkg_state, sizeof(c->pkg_state), "ok");
}

static void pkg_check(struct scan_ctx *c, const struct stat *st)
{
    const char *path = c->cur_path, *rel, *owner;
    enum pkgdb_verdict v;
    char reason[700], err[300];
    bool sys = false;

    if (!c->pkg || !(st->st_mode & 0111))
        return;
    if (c->pkg_root_len) {
        if (strncmp(path, c->pkg_root, c->pkg_root_len) != 0 || path[c->pkg_root_len] != '/')
            return;
        rel = path + c->pkg_root_len;
    } else {
        rel = path;
    }
    for (const char *const *d = system_dirs; *d && !sys; d++)
        sys = strncmp(rel, *d, strlen(*d)) == 0;
    if (!sys)
        return;
    owner = pkgdb_owner(c->pkg, rel);
    if (!owner) {
        snprintf(reason, sizeof(reason),
                 "an executable in the system path %s that no installed package owns", rel);
        scan_add_finding(c, "package", "unowned-system-executable", reason, "medium");
        return;
    }
    if (pkgdb_verify(c->pkg, rel, &v, err, sizeof(err)) == 0 && v == PKGDB_MISMATCH) {
        snprintf(reason, sizeof(reason),
                 "its content differs from what the package %s installed (the MD5 in dpkg's record does not match)",
                 owner);
        scan_add_finding(c, "package", "package-file-modified", reason, "high");
    }
}

/* ------------------------------------------------------------ ClamAV */

static void clam_init(void)
{
    clam_init_rc = cl_init(CL_INIT_DEFAULT);
}

static void clam_open(struct scan_ctx *c)
{
    const char *dir = c->o->clamav_dbdir ? c->o->clamav_dbdir : "/var/lib/clamav";
    unsigned int sigs = 0;
    struct stat st;
    cl_error_t rc;

    if (c->o->no_clamav) {
        snprintf(c->clam_state, sizeof(c->clam_state), "unavailable: left out by the scan's options");
        return;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(c->clam_state, sizeof(c->clam_state),
                 "unavailable: no signature database at %.300s (install clamav-freshclam to get one)", dir);
        return;
    }
    pthread_once(&clam_once, clam_init);
    if (clam_init_rc != CL_SUCCESS) {
        snprintf(c->clam_state, sizeof(c->clam_state), "unavailable: libclamav did not start: %s",
                 cl_strerror((cl_error_t)clam_init_rc));
        return;
    }
    c->clam = cl_engine_new();
    if (!c->clam) {
        snprintf(c->clam_state, sizeof(c->clam_state), "unavailable: out of memory");
        return;
    }
    rc = cl_load(dir, c->clam, &sigs, CL_DB_STDOPT);
    if (rc == CL_SUCCESS && sigs == 0)
        rc = CL_EMALFDB;
    if (rc == CL_SUCCESS)
        rc = cl_engine_set_num(c->clam, CL_ENGINE_MAX_FILESIZE, (long long)c->yara_max);
    if (rc == CL_SUCCESS)
        rc = cl_engine_set_num(c->clam, CL_ENGINE_MAX_SCANSIZE, (long long)c->yara_max);
    if (rc == CL_SUCCESS)
        rc = cl_engine_compile(c->clam);
    if (rc != CL_SUCCESS) {
        snprintf(c->clam_state, sizeof(c->clam_state), "unavailable: the signature database at %.300s %s", dir,
                 sigs == 0 ? "holds no signature" : cl_strerror(rc));
        cl_engine_free(c->clam);
        c->clam = NULL;
        return;
    }
    snprintf(c->clam_state, sizeof(c->clam_state), "ok (%u signatures)", sigs);
}

static void clam_check(struct scan_ctx *c, int fd)
{
    struct cl_scan_options opts = {.general = 0, .parse = ~0u, .heuristic = 0, .mail = 0, .dev = 0};
    const char *virname = NULL;
    unsigned long scanned = 0;
    char reason[400];

    if (lseek(fd, 0, SEEK_SET) != 0)
        return;
    if (cl_scandesc(fd, c->cur_path, &virname, &scanned, c->clam, &opts) == CL_VIRUS && virname) {
        snprintf(reason, sizeof(reason), "ClamAV identifies it as %s", virname);
        scan_add_finding(c, "clamav", virname, reason, "high");
    }
}

/* ------------------------------------------------------------ together */

int scan_engines_open(struct scan_ctx *c, char *err, size_t errlen)
{
    int e = iocs_open(c, err, errlen);
    if (!e)
        e = yara_open(c, err, errlen);
    if (e)
        return e;
    pkg_open(c);
    clam_open(c);
    return 0;
}

void scan_engines_close(struct scan_ctx *c)
{
    if (c->yara)
        yr_rules_destroy((YR_RULES *)c->yara);
    if (c->yara_init) {
        pthread_mutex_lock(&yara_lock);
        yr_finalize();
        pthread_mutex_unlock(&yara_lock);
    }
    c->yara = NULL;
    c->yara_init = false;
    free(c->rule_files);
    c->rule_files = NULL;
    free(c->iocs);
    c->iocs = NULL;
    pkgdb_free(c->pkg);
    c->pkg = NULL;
    if (c->clam)
        cl_engine_free(c->clam);
    c->clam = NULL;
}

void scan_engines_check(struct scan_ctx *c, int fd, const struct stat *st, const unsigned char *buf, size_t len)
{
    if (c->niocs && bsearch(c->cur_sha, c->iocs, c->niocs, sizeof(*c->iocs), hex_cmp))
        scan_add_finding(c, "indicator", c->cur_sha,
                         "its SHA-256 is on the indicator list this scan was given", "high");
    if (c->yara && buf && !is_rule_file(c, st))
        yr_rules_scan_mem((YR_RULES *)c->yara, buf, len, SCAN_FLAGS_FAST_MODE, yara_cb, c, YARA_TIMEOUT_S);
    pkg_check(c, st);
    if (c->clam && buf)
        clam_check(c, fd);
}
