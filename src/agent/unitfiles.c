/*
 * unitfiles.c — systemd unit files read as files (see unitfiles.h). Three
 * passes over the unit directories: the enablement links of every .wants/,
 * .requires/ and .upholds/ directory, then the unit files (the first
 * directory holding a name wins), then the enabled instances of templates.
 * Each unit file and its drop-ins are parsed line by line for the few
 * settings kept; everything else in them is ignored.
 */
#include "agent/unitfiles.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/hostinv.h"

#define UNIT_FILE_MAX (1u << 20)
#define UNIT_LINE_MAX 4096
#define DROPINS_MAX 64

static const char *const unit_dirs[] = {"/etc/systemd/system", "/run/systemd/system",
                                        "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
                                        "/lib/systemd/system"};
#define N_DIRS (sizeof(unit_dirs) / sizeof(unit_dirs[0]))

static const char *const unit_types[] = {".service", ".socket", ".timer",  ".path",  ".mount", ".automount",
                                         ".swap",    ".target", ".slice", ".scope", ".device", NULL};

struct link {
    char *name;
    char *wanted_by;
};

struct uf {
    const char *root;
    const char *dirs[N_DIRS]; /* the distinct directories present */
    size_t ndirs;
    struct link *links;
    size_t nlinks, caplinks;
    struct unitfile *v;
    size_t n, cap;
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool unit_name(const char *s)
{
    if (s[0] == '.' || strlen(s) > 255)
        return false;
    for (const char *const *t = unit_types; *t; t++)
        if (ends_with(s, *t) && strlen(s) > strlen(*t))
            return true;
    return false;
}

/* root + path into out. */
static bool full_path(const struct uf *u, const char *path, char *out, size_t outlen)
{
    return snprintf(out, outlen, "%s%s", u->root, path) < (int)outlen;
}

/* ------------------------------------------------------------ pass 1: enablement links */

static int cmp_link(const void *a, const void *b)
{
    return strcmp(((const struct link *)a)->name, ((const struct link *)b)->name);
}

static const struct link *find_link(const struct uf *u, const char *name)
{
    struct link key = {.name = (char *)name};
    return u->nlinks ? bsearch(&key, u->links, u->nlinks, sizeof(key), cmp_link) : NULL;
}

static int add_link(struct uf *u, const char *name, const char *wanted_by)
{
    if (u->nlinks == u->caplinks) {
        size_t cap = u->caplinks ? u->caplinks * 2 : 64;
        struct link *p = realloc(u->links, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        u->links = p;
        u->caplinks = cap;
    }
    u->links[u->nlinks].name = strdup(name);
    u->links[u->nlinks].wanted_by = strdup(wanted_by);
    if (!u->links[u->nlinks].name || !u->links[u->nlinks].wanted_by) {
        free(u->links[u->nlinks].name);
        free(u->links[u->nlinks].wanted_by);
        return -ENOMEM;
    }
    u->nlinks++;
    return 0;
}

static int read_links(struct uf *u)
{
    for (size_t i = 0; i < u->ndirs; i++) {
        char dir[PATH_MAX];
        DIR *d;
        struct dirent *de;

        if (!full_path(u, u->dirs[i], dir, sizeof(dir)) || !(d = opendir(dir)))
            continue;
        while ((de = readdir(d))) {
            char sub[PATH_MAX];
            DIR *sd;
            struct dirent *se;
            if (!ends_with(de->d_name, ".wants") && !ends_with(de->d_name, ".requires") &&
                !ends_with(de->d_name, ".upholds"))
                continue;
            if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub) || !(sd = opendir(sub)))
                continue;
            while ((se = readdir(sd)) && u->nlinks < UNITFILES_MAX) {
                if (!unit_name(se->d_name))
                    continue;
                if (add_link(u, se->d_name, de->d_name) != 0) {
                    closedir(sd);
                    closedir(d);
                    return -ENOMEM;
                }
            }
            closedir(sd);
        }
        closedir(d);
    }
    /* the first directory (highest precedence) of a name is kept: a stable
     * sort by name, then drop the later duplicates */
    for (size_t i = 1; i < u->nlinks; i++) { /* insertion sort keeps order; lists are short */
        struct link t = u->links[i];
        size_t j = i;
        while (j > 0 && strcmp(u->links[j - 1].name, t.name) > 0) {
            u->links[j] = u->links[j - 1];
            j--;
        }
        u->links[j] = t;
    }
    {
        size_t w = 0;
        for (size_t i = 0; i < u->nlinks; i++) {
            if (w && strcmp(u->links[w - 1].name, u->links[i].name) == 0) {
                free(u->links[i].name);
                free(u->links[i].wanted_by);
                continue;
            }
            u->links[w++] = u->links[i];
        }
        u->nlinks = w;
    }
    return 0;
}

/* ------------------------------------------------------------ parsing */

struct parsed {
    bool install; /* [Install] names a way to enable it */
};

static void set_str(char **dst, const char *v)
{
    char *c = strdup(v);
    if (!c)
        return;
    free(*dst);
    *dst = c;
}

static void append_schedule(struct unitfile *f, const char *key, const char *val)
{
    size_t n = (f->schedule ? strlen(f->schedule) + 2 : 0) + strlen(key) + 1 + strlen(val) + 1;
    char *s = malloc(n);
    if (!s)
        return;
    snprintf(s, n, "%s%s%s=%s", f->schedule ? f->schedule : "", f->schedule ? ", " : "", key, val);
    free(f->schedule);
    f->schedule = s;
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Parses the unit file (or drop-in) at the full path into f. */
static void parse_file(const char *full, struct unitfile *f, struct parsed *p)
{
    char *buf, *save = NULL, section[32] = "";
    size_t len;

    if (hostinv_read_file(full, UNIT_FILE_MAX, false, &buf, &len, NULL) != 0)
        return;
    /* join continuation lines as systemd does: the backslash becomes a
     * space, the newline goes */
    {
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (buf[i] == '\\' && i + 1 < len && buf[i + 1] == '\n') {
                buf[o++] = ' ';
                i++;
                continue;
            }
            buf[o++] = buf[i];
        }
        buf[o] = '\0';
    }
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *l = trim(line), *eq, *key, *val;
        if (strlen(l) > UNIT_LINE_MAX || !*l || *l == '#' || *l == ';')
            continue;
        if (*l == '[') {
            snprintf(section, sizeof(section), "%.*s", (int)strcspn(l + 1, "]"), l + 1);
            continue;
        }
        if (!(eq = strchr(l, '=')))
            continue;
        *eq = '\0';
        key = trim(l);
        val = trim(eq + 1);
        if (!strcmp(section, "Unit") && !strcmp(key, "Description")) {
            set_str(&f->description, val);
        } else if (!strcmp(section, "Service") && !strcmp(key, "ExecStart")) {
            if (!*val) {
                free(f->exec_start);
                f->exec_start = NULL;
            } else if (!f->exec_start) {
                set_str(&f->exec_start, val);
            }
        } else if (!strcmp(section, "Service") && !strcmp(key, "User")) {
            set_str(&f->user, val);
        } else if (!strcmp(section, "Install") && *val &&
                   (!strcmp(key, "WantedBy") || !strcmp(key, "RequiredBy") || !strcmp(key, "UpheldBy") ||
                    !strcmp(key, "Alias"))) {
            p->install = true;
        } else if (!strcmp(section, "Timer") && !strncmp(key, "On", 2) && *val) {
            append_schedule(f, key, val);
        } else if ((!strcmp(section, "Timer") || !strcmp(section, "Socket") || !strcmp(section, "Path")) &&
                   !strcmp(key, "Unit") && *val) {
            set_str(&f->triggers, val);
        }
    }
    free(buf);
}

/* Applies the drop-ins of dname ("x.service.d") of every directory: by
 * file name, the highest-precedence file of a name. */
static void parse_dropins(const struct uf *u, const char *dname, struct unitfile *f, struct parsed *p)
{
    char *names[DROPINS_MAX];
    size_t nn = 0;

    for (size_t i = 0; i < u->ndirs; i++) {
        char dir[PATH_MAX];
        DIR *d;
        struct dirent *de;
        if (snprintf(dir, sizeof(dir), "%s%s/%s", u->root, u->dirs[i], dname) >= (int)sizeof(dir) ||
            !(d = opendir(dir)))
            continue;
        while ((de = readdir(d)) && nn < DROPINS_MAX) {
            bool dup = false;
            if (!ends_with(de->d_name, ".conf") || de->d_name[0] == '.')
                continue;
            for (size_t k = 0; k < nn && !dup; k++)
                dup = strcmp(strrchr(names[k], '/') + 1, de->d_name) == 0;
            if (dup || asprintf(&names[nn], "%s/%s", dir, de->d_name) < 0)
                continue;
            nn++;
        }
        closedir(d);
    }
    /* sort by file name (the part after the last '/') */
    for (size_t i = 1; i < nn; i++) {
        char *t = names[i];
        size_t j = i;
        while (j > 0 && strcmp(strrchr(names[j - 1], '/'), strrchr(t, '/')) > 0) {
            names[j] = names[j - 1];
            j--;
        }
        names[j] = t;
    }
    for (size_t i = 0; i < nn; i++) {
        parse_file(names[i], f, p);
        free(names[i]);
    }
}

/* ------------------------------------------------------------ pass 2 and 3: units */

static struct unitfile *add_unit(struct uf *u, const char *name)
{
    struct unitfile *f;
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 128;
        struct unitfile *p = realloc(u->v, cap * sizeof(*p));
        if (!p)
            return NULL;
        u->v = p;
        u->cap = cap;
    }
    f = &u->v[u->n];
    memset(f, 0, sizeof(*f));
    if (!(f->name = strdup(name)))
        return NULL;
    u->n++;
    return f;
}

static bool have_unit(const struct uf *u, const char *name)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->v[i].name, name) == 0)
            return true;
    return false;
}

/* Reads the unit name whose file is dir/file (machine paths). instance:
 * the unit is an instance of the template file. */
static int read_unit(struct uf *u, const char *name, const char *dir, const char *file, bool instance)
{
    char path[PATH_MAX], full[PATH_MAX], target[PATH_MAX], dropin[300];
    struct unitfile *f;
    struct parsed p = {0};
    struct stat st;
    const struct link *l;
    ssize_t tl;

    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path) ||
        !full_path(u, path, full, sizeof(full)) || lstat(full, &st) != 0)
        return 0;
    if (!(f = add_unit(u, name)) || !(f->path = strdup(path)))
        return -ENOMEM;
    l = find_link(u, name);
    if (S_ISLNK(st.st_mode) && (tl = readlink(full, target, sizeof(target) - 1)) > 0) {
        const char *b;
        target[tl] = '\0';
        b = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
        if (strcmp(target, "/dev/null") == 0) {
            f->state = "masked";
            return 0;
        }
        if (!instance && strcmp(b, file) != 0) {
            f->state = "alias";
            f->alias_of = strdup(b);
        }
        /* read the file the link names, under root */
        if ((target[0] == '/' ? snprintf(full, sizeof(full), "%s%s", u->root, target)
                              : snprintf(full, sizeof(full), "%s%s/%s", u->root, dir, target)) >= (int)sizeof(full))
            return 0;
    } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
        f->state = "masked";
        return 0;
    } else if (!S_ISREG(st.st_mode)) {
        f->state = "static";
        return 0;
    }
    parse_file(full, f, &p);
    if (instance) {
        snprintf(dropin, sizeof(dropin), "%s.d", file); /* the template's drop-ins */
        parse_dropins(u, dropin, f, &p);
    }
    snprintf(dropin, sizeof(dropin), "%s.d", name);
    parse_dropins(u, dropin, f, &p);
    if (!f->triggers && (ends_with(name, ".timer") || ends_with(name, ".socket") || ends_with(name, ".path"))) {
        char t[300];
        snprintf(t, sizeof(t), "%.*s.service", (int)(strrchr(name, '.') - name), name);
        f->triggers = strdup(t);
    }
    if (!f->state) /* not an alias */
        f->state = l ? "enabled" : p.install ? "disabled" : "static";
    if (l && strcmp(f->state, "enabled") == 0)
        f->wanted_by = strdup(l->wanted_by);
    return 0;
}

static int cmp_unit(const void *a, const void *b)
{
    return strcmp(((const struct unitfile *)a)->name, ((const struct unitfile *)b)->name);
}

int unitfiles_list(const char *root, const char *suffix, struct unitfile **out, size_t *n, char *err,
                   size_t errlen)
{
    struct uf u = {.root = root ? root : ""};
    struct stat seen[N_DIRS];
    int e = 0;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < N_DIRS; i++) {
        char full[PATH_MAX];
        struct stat st;
        bool dup = false;
        if (!full_path(&u, unit_dirs[i], full, sizeof(full)) || stat(full, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        for (size_t k = 0; k < u.ndirs && !dup; k++)
            dup = seen[k].st_dev == st.st_dev && seen[k].st_ino == st.st_ino;
        if (dup)
            continue;
        seen[u.ndirs] = st;
        u.dirs[u.ndirs++] = unit_dirs[i];
    }
    if ((e = read_links(&u)) != 0)
        goto out;
    /* unit files, the first directory of a name wins */
    for (size_t i = 0; i < u.ndirs; i++) {
        char dir[PATH_MAX];
        DIR *d;
        struct dirent *de;
        if (!full_path(&u, u.dirs[i], dir, sizeof(dir)) || !(d = opendir(dir)))
            continue;
        while ((de = readdir(d)) && u.n < UNITFILES_MAX) {
            if (!unit_name(de->d_name) || (suffix && !ends_with(de->d_name, suffix)) || de->d_type == DT_DIR ||
                have_unit(&u, de->d_name))
                continue;
            if ((e = read_unit(&u, de->d_name, u.dirs[i], de->d_name, false)) != 0) {
                closedir(d);
                goto out;
            }
        }
        closedir(d);
    }
    /* enabled instances of templates: "getty@tty1.service" read from "getty@.service" */
    for (size_t k = 0; k < u.nlinks && u.n < UNITFILES_MAX; k++) {
        const char *name = u.links[k].name, *at = strchr(name, '@'), *dot = strrchr(name, '.');
        char tmpl[300];
        if (!at || !dot || dot < at || at[1] == '.' || (suffix && !ends_with(name, suffix)) || have_unit(&u, name))
            continue;
        snprintf(tmpl, sizeof(tmpl), "%.*s@%s", (int)(at - name), name, dot);
        for (size_t i = 0; i < u.ndirs; i++) {
            char full[PATH_MAX];
            struct stat st;
            if (snprintf(full, sizeof(full), "%s%s/%s", u.root, u.dirs[i], tmpl) >= (int)sizeof(full) ||
                lstat(full, &st) != 0)
                continue;
            if ((e = read_unit(&u, name, u.dirs[i], tmpl, true)) != 0)
                goto out;
            break;
        }
    }
    if (u.n)
        qsort(u.v, u.n, sizeof(*u.v), cmp_unit);
    *out = u.v;
    *n = u.n;
    u.v = NULL;
    u.n = 0;
out:
    if (e)
        snprintf(err, errlen, "out of memory while reading unit files");
    unitfiles_free(u.v, u.n);
    for (size_t i = 0; i < u.nlinks; i++) {
        free(u.links[i].name);
        free(u.links[i].wanted_by);
    }
    free(u.links);
    return e;
}

void unitfiles_free(struct unitfile *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].path);
        free(v[i].wanted_by);
        free(v[i].alias_of);
        free(v[i].description);
        free(v[i].exec_start);
        free(v[i].user);
        free(v[i].schedule);
        free(v[i].triggers);
    }
    free(v);
}

const struct unitfile *unitfiles_find(const struct unitfile *v, size_t n, const char *name)
{
    struct unitfile key = {.name = (char *)name};
    return v && n ? bsearch(&key, v, n, sizeof(key), cmp_unit) : NULL;
}
