/*
 * detection_rules.c — rule sets: every Sigma file under the rule
 * directories compiled into one engine, with what each rule means for an
 * alert, and every file or document that failed, with why.
 *
 * Files: *.yml and *.yaml under each directory, recursively (hidden
 * entries skipped, at most 8 levels, 20000 files), in name order so that a
 * load is reproducible. A file that cannot be read and a document the
 * engine refuses are errors of the set; the other rules load. Correlation
 * rules may reference rules of any loaded file.
 *
 * What a rule means for an alert: Sigma's level becomes the severity
 * (critical -> high, none -> medium); attack.<tactic> tags become
 * REFERENCE.md's tactic names, the category being the first one the rule
 * lists (authors name the main tactic first: the pack files each rule under
 * it); attack.tNNNN[.NNN] tags the techniques; the description's
 * "Next:" paragraph (the pack's convention, rules/README.md) the
 * recommended actions, else a text per tactic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/detection_int.h"

#define MAX_DEPTH 8
#define MAX_FILES 20000
#define MAX_FILE_BYTES (16u << 20)

struct rfile {
    char *path;
    const char *source;
};

struct flist {
    struct rfile *v;
    size_t n, cap;
    uint64_t sig;
    bool truncated;
};

/* ------------------------------------------------------------------ tactics */

static const struct {
    const char *tag, *name, *advice;
} tactics[] = {
    /* kill-chain order: the index is the rank */
    {"reconnaissance", "Reconnaissance", "Find where the scanning comes from and block the address if it is not expected."},
    {"resource-development", "Resource development", "Check what was prepared and whether it reached this device."},
    {"initial-access", "Initial access", "Find how the attacker got in; reset the credentials involved and close the entry point."},
    {"execution", "Execution", "Open the process tree: find what started this command and what it did next; kill the process if it is malicious."},
    {"persistence", "Persistence", "Inspect the entry that was added (file contents, who wrote it) and remove it if it is not legitimate."},
    {"privilege-escalation", "Privilege escalation", "Check which account gained privileges and how; revoke them and look for what ran with them."},
    {"defense-evasion", "Defense evasion", "Restore the security control that was changed and find the process tree that changed it."},
    {"stealth", "Defense evasion", "Restore what was hidden or removed and find the process tree that did it."},
    {"defense-impairment", "Defense evasion", "Restore the security control that was changed and find the process tree that changed it."},
    {"credential-access", "Credential access", "Assume the credentials involved are known to the attacker: reset them and review their recent use."},
    {"discovery", "Discovery", "Find who ran the enumeration and what followed it on this device."},
    {"lateral-movement", "Lateral movement", "Check the other devices involved for the same activity; isolate them if needed."},
    {"collection", "Collection", "Find what data was gathered and whether it left the device."},
    {"command-and-control", "Command and control", "Block the remote address, find the process that connected and isolate the device if it is malicious."},
    {"exfiltration", "Exfiltration", "Find what was sent where; block the destination and assess the data exposed."},
    {"impact", "Impact", "Isolate the device to stop the damage, then assess what was destroyed or encrypted and restore it."},
};

const char *det_tactic_name(const char *tag, int *rank)
{
    if (strncasecmp(tag, "attack.", 7) != 0)
        return NULL;
    tag += 7;
    for (size_t i = 0; i < sizeof(tactics) / sizeof(tactics[0]); i++)
        if (strcasecmp(tag, tactics[i].tag) == 0) {
            if (rank)
                *rank = (int)i;
            return tactics[i].name;
        }
    return NULL;
}

const char *det_tactic_advice(const char *tactic)
{
    if (tactic)
        for (size_t i = 0; i < sizeof(tactics) / sizeof(tactics[0]); i++)
            if (strcmp(tactic, tactics[i].name) == 0)
                return tactics[i].advice;
    return "Review the events of this alert and the process tree around it; resolve the alert with a classification.";
}

/* "attack.t1053.003" -> "T1053.003" (malloc'd), or NULL when not a technique. */
static char *technique_of(const char *tag)
{
    const char *t = tag + 7;
    size_t n, i;
    char *out;

    if (strncasecmp(tag, "attack.", 7) != 0 || (t[0] != 't' && t[0] != 'T'))
        return NULL;
    n = strlen(t);
    if (n < 5 || n > 9)
        return NULL;
    for (i = 1; i < 5; i++)
        if (t[i] < '0' || t[i] > '9')
            return NULL;
    if (n > 5) {
        if (n != 9 || t[5] != '.')
            return NULL;
        for (i = 6; i < 9; i++)
            if (t[i] < '0' || t[i] > '9')
                return NULL;
    }
    out = strdup(t);
    if (out)
        out[0] = 'T';
    return out;
}

static const char *severity_of(const char *level)
{
    static const char *const same[] = {"informational", "low", "medium", "high"};
    if (!level)
        return "medium";
    for (size_t i = 0; i < 4; i++)
        if (strcasecmp(level, same[i]) == 0)
            return same[i];
    if (strcasecmp(level, "critical") == 0)
        return "high";
    return "medium";
}

/* Splits a description at its "Next:" paragraph. */
static int split_description(const char *desc, char **text, char **next)
{
    const char *p = NULL;

    *text = *next = NULL;
    if (!desc)
        return 0;
    if (strncmp(desc, "Next:", 5) == 0)
        p = desc;
    else if ((p = strstr(desc, "\nNext:")))
        p++;
    if (p) {
        const char *s = p + 5;
        size_t n = (size_t)(p - desc);
        while (*s == ' ' || *s == '\t')
            s++;
        while (n && (desc[n - 1] == '\n' || desc[n - 1] == ' '))
            n--;
        *text = strndup(desc, n);
        *next = strdup(s);
        if (*next) {
            size_t m = strlen(*next);
            while (m && ((*next)[m - 1] == '\n' || (*next)[m - 1] == ' '))
                (*next)[--m] = '\0';
        }
    } else {
        *text = strdup(desc);
    }
    if (!*text || (p && !*next)) {
        free(*text);
        free(*next);
        *text = *next = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int rule_meaning(struct det_rule *r, const struct detect_rule_info *info, const char *source)
{
    int ntac = 0, ntech = 0;

    r->info = info;
    r->source = source;
    r->severity = severity_of(info->level);
    for (size_t i = 0; i < info->n_tags; i++) {
        const char *tag = info->tags[i];
        int rank;
        const char *name = det_tactic_name(tag, &rank);
        if (name) {
            bool dup = false;
            for (int k = 0; k < ntac; k++)
                dup |= strcmp(r->tactics[k], name) == 0;
            if (!dup && ntac < DET_MAX_TACTICS) {
                r->tactics[ntac++] = name;
                if (!r->category)
                    r->category = name;
            }
            (void)rank;
            continue;
        }
        if (ntech < ALERT_MAX_TECHNIQUES - 1) {
            char *t = technique_of(tag);
            if (t)
                r->techniques[ntech++] = t;
        }
    }
    if (split_description(info->description, &r->description, &r->recommended) != 0)
        return -ENOMEM;
    if (!r->recommended && !(r->recommended = strdup(det_tactic_advice(r->category))))
        return -ENOMEM;
    return 0;
}

static void rule_free(struct det_rule *r)
{
    for (int i = 0; i < ALERT_MAX_TECHNIQUES && r->techniques[i]; i++)
        free(r->techniques[i]);
    free(r->description);
    free(r->recommended);
}

/* ------------------------------------------------------------------ files */

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool rule_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".yml") == 0) || (n > 5 && strcmp(name + n - 5, ".yaml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the rule files under dir (sorted) to l; -errno when dir cannot be
 * read. */
static int walk(struct flist *l, const char *dir, const char *source, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int e = 0;

    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap ? cap * 2 : 32) * sizeof(*nn));
            if (!nn) {
                e = -ENOMEM;
                goto out;
            }
            names = nn;
            cap = cap ? cap * 2 : 32;
        }
        if (!(names[n] = strdup(de->d_name))) {
            e = -ENOMEM;
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n && !e; i++) {
        char path[4096];
        struct stat sb;
        if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path) || stat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            if (depth < MAX_DEPTH)
                walk(l, path, source, depth + 1); /* an unreadable subdirectory costs only itself */
            l->sig = fnv(l->sig, path, strlen(path) + 1);
            continue;
        }
        if (!S_ISREG(sb.st_mode) || !rule_name(names[i]))
            continue;
        l->sig = fnv(l->sig, path, strlen(path) + 1);
        l->sig = fnv(l->sig, &sb.st_mtim, sizeof(sb.st_mtim));
        l->sig = fnv(l->sig, &sb.st_size, sizeof(sb.st_size));
        l->sig = fnv(l->sig, &sb.st_ino, sizeof(sb.st_ino));
        if (l->n >= MAX_FILES) {
            l->truncated = true;
            continue;
        }
        if (l->n == l->cap) {
            struct rfile *nv = realloc(l->v, (l->cap ? l->cap * 2 : 64) * sizeof(*nv));
            if (!nv) {
                e = -ENOMEM;
                break;
            }
            l->v = nv;
            l->cap = l->cap ? l->cap * 2 : 64;
        }
        if (!(l->v[l->n].path = strdup(path))) {
            e = -ENOMEM;
            break;
        }
        l->v[l->n++].source = source;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return e;
}

static void flist_free(struct flist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Calls fn(dir, ctx) for each directory of a comma-separated list. */
static void each_dir(const char *list, void (*fn)(const char *dir, void *ctx), void *ctx)
{
    const char *p = list;

    while (p && *p) {
        char dir[2048];
        size_t n;
        while (*p == ',' || *p == ' ')
            p++;
        n = strcspn(p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        if (n && n < sizeof(dir)) {
            memcpy(dir, p, n);
            dir[n] = '\0';
            while (n > 1 && dir[n - 1] == '/')
                dir[--n] = '\0';
            fn(dir, ctx);
        }
        p += strcspn(p, ",");
    }
}

struct walk_ctx {
    struct flist *l;
    int e;
    /* missing directories, reported as errors of the set */
    char *missing[16];
    int nmissing;
};

static void walk_custom(const char *dir, void *ctx)
{
    struct walk_ctx *w = ctx;
    int e = walk(w->l, dir, DET_SOURCE_CUSTOM, 0);

    w->l->sig = fnv(w->l->sig, dir, strlen(dir) + 1);
    if (e == -ENOMEM)
        w->e = e;
    else if (e) {
        w->l->sig = fnv(w->l->sig, &e, sizeof(e));
        if (w->nmissing < 16) {
            char msg[2300];
            snprintf(msg, sizeof(msg), "%s: cannot read the rule directory: %s", dir, strerror(-e));
            w->missing[w->nmissing++] = strdup(msg);
        }
    }
}

static int list_files(const char *pack, const char *custom, struct flist *l, struct walk_ctx *w, char *err,
                      size_t errlen)
{
    int e;

    memset(l, 0, sizeof(*l));
    memset(w, 0, sizeof(*w));
    w->l = l;
    l->sig = 1469598103934665603ull;
    e = walk(l, pack, DET_SOURCE_EDR, 0);
    if (e) {
        snprintf(err, errlen, "%s: cannot read the rule pack directory: %s", pack, strerror(-e));
        l->sig = fnv(l->sig, &e, sizeof(e));
        return e;
    }
    each_dir(custom, walk_custom, w);
    if (w->e) {
        snprintf(err, errlen, "out of memory listing rule files");
        return w->e;
    }
    return 0;
}

uint64_t det_rules_signature(const char *pack, const char *custom)
{
    struct flist l;
    struct walk_ctx w;
    char err[64];
    uint64_t sig;

    list_files(pack, custom, &l, &w, err, sizeof(err));
    sig = l.sig;
    flist_free(&l);
    for (int i = 0; i < w.nmissing; i++)
        free(w.missing[i]);
    return sig;
}

/* ------------------------------------------------------------------ loading */

struct load_ctx {
    struct det_error *v;
    size_t n, cap, warnings;
    bool oom;
};

static void add_error(struct load_ctx *c, const char *file, unsigned line, const char *title, const char *id,
                      const char *message)
{
    struct det_error *x;

    if (c->n == c->cap) {
        struct det_error *nv = realloc(c->v, (c->cap ? c->cap * 2 : 16) * sizeof(*nv));
        if (!nv) {
            c->oom = true;
            return;
        }
        c->v = nv;
        c->cap = c->cap ? c->cap * 2 : 16;
    }
    x = &c->v[c->n];
    memset(x, 0, sizeof(*x));
    x->file = file ? strdup(file) : NULL;
    x->title = title ? strdup(title) : NULL;
    x->id = id ? strdup(id) : NULL;
    x->message = strdup(message ? message : "error");
    x->line = line;
    if (!x->message || (file && !x->file) || (title && !x->title) || (id && !x->id)) {
        free(x->file);
        free(x->title);
        free(x->id);
        free(x->message);
        c->oom = true;
        return;
    }
    c->n++;
}

static void on_diag(void *ctx, const struct detect_diag *d)
{
    struct load_ctx *c = ctx;

    if (d->severity != DETECT_ERROR) {
        c->warnings++;
        log_debug("detection: %s", d->message);
        return;
    }
    log_warn("detection: rule refused: %s", d->message);
    add_error(c, d->origin, d->line, d->title, d->id, d->message);
}

/* Reads a whole file (at most MAX_FILE_BYTES). */
static char *read_file(const char *path, size_t *len, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    char *buf = NULL;
    size_t got = 0;

    *err = 0;
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    if (fstat(fd, &sb) != 0) {
        *err = -errno;
        goto out;
    }
    if ((uint64_t)sb.st_size > MAX_FILE_BYTES) {
        *err = -EFBIG;
        goto out;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        *err = -ENOMEM;
        goto out;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *len = got;
out:
    close(fd);
    return buf;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct det_byptr *)a)->info, y = (uintptr_t)((const struct det_byptr *)b)->info;
    return x < y ? -1 : x > y;
}

struct det_rule *det_rule_of(const struct det_ruleset *rs, const struct detect_rule_info *info)
{
    size_t lo = 0, hi = rs->nrules;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((uintptr_t)rs->byptr[mid].info < (uintptr_t)info)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < rs->nrules && rs->byptr[lo].info == info)
        return &rs->rules[rs->byptr[lo].index];
    return NULL;
}

static void ruleset_free(struct det_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->nrules; i++)
        rule_free(&rs->rules[i]);
    free(rs->rules);
    free(rs->byptr);
    for (size_t i = 0; i < rs->nerrors; i++) {
        free(rs->errors[i].file);
        free(rs->errors[i].title);
        free(rs->errors[i].id);
        free(rs->errors[i].message);
    }
    free(rs->errors);
    detect_engine_free(rs->eng);
    free(rs);
}

void det_ruleset_ref(struct det_ruleset *rs)
{
    atomic_fetch_add(&rs->refs, 1);
}

void det_ruleset_unref(struct det_ruleset *rs)
{
    if (rs && atomic_fetch_sub(&rs->refs, 1) == 1)
        ruleset_free(rs);
}

/* The key a rule's hit count is carried over by: its id, else its title. */
static const char *rule_key(const struct detect_rule_info *i)
{
    return i->id ? i->id : i->title ? i->title : "";
}

static void carry_hits(struct det_ruleset *rs, const struct det_ruleset *old)
{
    for (size_t i = 0; old && i < rs->nrules; i++) {
        const char *k = rule_key(rs->rules[i].info);
        for (size_t j = 0; j < old->nrules; j++)
            if (strcmp(k, rule_key(old->rules[j].info)) == 0) {
                atomic_store(&rs->rules[i].hits, atomic_load(&old->rules[j].hits));
                break;
            }
    }
}

/* The source of the file a rule came from. */
static const char *source_of(const struct flist *l, const char *origin)
{
    for (size_t i = 0; origin && i < l->n; i++)
        if (strcmp(l->v[i].path, origin) == 0)
            return l->v[i].source;
    return DET_SOURCE_EDR;
}

int det_ruleset_load(const char *pack, const char *custom, const struct det_ruleset *old, struct det_ruleset **out,
                     char *err, size_t errlen)
{
    struct det_ruleset *rs = NULL;
    struct detect_config cfg;
    struct load_ctx lc = {0};
    struct walk_ctx w;
    struct flist l;
    int e, loaded = 0;

    *out = NULL;
    e = list_files(pack, custom, &l, &w, err, errlen);
    if (e)
        goto out;
    for (int i = 0; i < w.nmissing; i++)
        add_error(&lc, NULL, 0, NULL, NULL, w.missing[i]);
    if (l.truncated) {
        char msg[200];
        snprintf(msg, sizeof(msg), "more than %d rule files: the rest were not loaded", MAX_FILES);
        add_error(&lc, NULL, 0, NULL, NULL, msg);
    }
    rs = calloc(1, sizeof(*rs));
    if (!rs) {
        e = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    atomic_init(&rs->refs, 1);
    rs->signature = l.sig;
    rs->nfiles = l.n;
    detect_config_default(&cfg);
    cfg.corr_max_groups = 1024;  /* per device: bounded memory for many devices */
    cfg.corr_max_entries = 1024;
    rs->eng = detect_engine_new(&cfg, err, errlen);
    if (!rs->eng) {
        e = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        size_t len = 0;
        int fe;
        char *text = read_file(l.v[i].path, &len, &fe);
        if (!text) {
            char msg[4200];
            snprintf(msg, sizeof(msg), "%s: cannot read: %s", l.v[i].path,
                     fe == -EFBIG ? "larger than 16 MiB" : strerror(-fe));
            add_error(&lc, l.v[i].path, 0, NULL, NULL, msg);
            continue;
        }
        fe = detect_engine_add(rs->eng, l.v[i].path, text, len, on_diag, &lc);
        free(text);
        if (fe > 0)
            loaded += fe;
        else if (fe == -ENOMEM) {
            e = fe;
            snprintf(err, errlen, "out of memory loading %s", l.v[i].path);
            goto out;
        }
    }
    e = detect_engine_compile(rs->eng, on_diag, &lc, err, errlen);
    if (e)
        goto out;
    if (lc.oom) {
        e = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rs->nrules = detect_engine_rule_count(rs->eng);
    if (rs->nrules == 0 && lc.n > 0) {
        e = -EINVAL;
        snprintf(err, errlen, "no rule could be loaded (%zu errors, first: %s)", lc.n, lc.v[0].message);
        goto out;
    }
    rs->rules = calloc(rs->nrules ? rs->nrules : 1, sizeof(*rs->rules));
    rs->byptr = calloc(rs->nrules ? rs->nrules : 1, sizeof(*rs->byptr));
    if (!rs->rules || !rs->byptr) {
        e = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < rs->nrules; i++) {
        const struct detect_rule_info *info = detect_engine_rule(rs->eng, i);
        atomic_init(&rs->rules[i].hits, 0);
        if (rule_meaning(&rs->rules[i], info, source_of(&l, info->origin)) != 0) {
            rs->nrules = i + 1; /* free what was set */
            e = -ENOMEM;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        rs->byptr[i].info = info;
        rs->byptr[i].index = i;
    }
    qsort(rs->byptr, rs->nrules, sizeof(*rs->byptr), cmp_ptr);
    for (unsigned id = 0; id < F_MAX_ID; id++) {
        const struct schema_field_info *f = schema_field(id);
        rs->field_ids[id] = f ? detect_field_id(rs->eng, f->name, strlen(f->name)) : -1;
        if (rs->field_ids[id] < 0)
            rs->field_ids[id] = -1;
    }
    carry_hits(rs, old);
    rs->errors = lc.v;
    rs->nerrors = lc.n;
    rs->nwarnings = lc.warnings;
    lc.v = NULL;
    lc.n = 0;
    *out = rs;
    rs = NULL;
    (void)loaded;
    log_info("detection: %zu rules loaded from %zu files, %zu refused", (*out)->nrules, l.n, (*out)->nerrors);
out:
    ruleset_free(rs);
    for (size_t i = 0; i < lc.n; i++) {
        free(lc.v[i].file);
        free(lc.v[i].title);
        free(lc.v[i].id);
        free(lc.v[i].message);
    }
    free(lc.v);
    for (int i = 0; i < w.nmissing; i++)
        free(w.missing[i]);
    flist_free(&l);
    return e;
}
