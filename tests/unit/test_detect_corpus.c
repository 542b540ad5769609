/*
 * test_detect_corpus.c — the SigmaHQ rule corpus (../shared/sigma) against
 * the engine.
 *
 * Every rule file is loaded into an engine on Yamori's schema. The test
 * prints the counts of loaded and refused rules, the refusals grouped by
 * reason, and the warnings by kind (lines starting with "INFO "). It fails
 * when a rule is refused without a clear reason (a diagnostic with a
 * position, a kind and the feature it names), when any Linux rule
 * (rules/linux, rules-threat-hunting/linux, and the rules of
 * rules-emerging-threats whose logsource is product linux) does not load,
 * or when a Linux process_creation, file_event or network_connection rule
 * does not compile to something a Yamori event selects. Skipped, saying
 * so, when the corpus is not there.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "detect/detect.h"

#define CORPUS "../shared/sigma"

struct reason {
    char key[160];
    int n;
    char example[512];
};

struct tally {
    int files, linux_files;
    int refused, unclear, linux_refused;
    int warnings[16];
    struct reason reasons[64];
    int nreasons;
    char first_unclear[1024];
    char first_linux[1024];
    const char *current;       /* file being loaded */
    bool current_linux;
};

static void on_diag(void *ctx, const struct detect_diag *d)
{
    struct tally *t = ctx;
    if (d->severity == DETECT_WARNING) {
        if ((unsigned)d->kind < 16)
            t->warnings[d->kind]++;
        return;
    }
    t->refused++;
    /* clear: where, what kind, which feature, and a sentence about it that
     * names the feature's subject (a quoted modifier, a %placeholder%) */
    bool clear = d->line > 0 && d->feature && d->feature[0] && d->message &&
                 strstr(d->message, ": error: ") && strlen(d->message) > 40 &&
                 strncmp(d->message, d->origin, strlen(d->origin)) == 0;
    const char *q = d->feature ? strpbrk(d->feature, "'%") : NULL;
    if (clear && q) {
        const char *end = strchr(q + 1, *q);
        char subject[128];
        if (end && end - q < (long)sizeof(subject)) {
            snprintf(subject, sizeof(subject), "%.*s", (int)(end - q + 1), q);
            clear = strstr(d->message, subject) != NULL;
        }
    }
    if (!clear) {
        if (!t->unclear)
            snprintf(t->first_unclear, sizeof(t->first_unclear), "%s", d->message);
        t->unclear++;
    }
    if (t->current_linux) {
        if (!t->linux_refused)
            snprintf(t->first_linux, sizeof(t->first_linux), "%s", d->message);
        t->linux_refused++;
    }
    char key[160];
    snprintf(key, sizeof(key), "%s: %s", detect_diag_kind_name(d->kind),
             strncmp(d->feature, "placeholder %", 13) == 0 ? "placeholder without values"
                                                            : d->feature);
    for (int i = 0; i < t->nreasons; i++)
        if (strcmp(t->reasons[i].key, key) == 0) {
            t->reasons[i].n++;
            return;
        }
    if (t->nreasons < 64) {
        struct reason *r = &t->reasons[t->nreasons++];
        snprintf(r->key, sizeof(r->key), "%s", key);
        snprintf(r->example, sizeof(r->example), "%s", d->message);
        r->n = 1;
    }
}

static bool is_linux_file(const char *path, const char *text)
{
    if (strstr(path, "/rules/linux/") || strstr(path, "/rules-threat-hunting/linux/"))
        return true;
    return strstr(path, "/rules-emerging-threats/") && strstr(text, "product: linux");
}

static void load_file(struct detect_engine *eng, struct tally *t, const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f)
        return;
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf)
        return;
    buf[n] = '\0';
    t->files++;
    t->current = path;
    t->current_linux = is_linux_file(path, buf);
    t->linux_files += t->current_linux;
    detect_engine_add(eng, path, buf, n, on_diag, t);
    t->current_linux = false;
    free(buf);
}

static void walk(struct detect_engine *eng, struct tally *t, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char p[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &st) < 0)
            continue;
        size_t l = strlen(e->d_name);
        if (S_ISDIR(st.st_mode))
            walk(eng, t, p);
        else if ((l > 4 && strcmp(e->d_name + l - 4, ".yml") == 0) ||
                 (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0))
            load_file(eng, t, p);
    }
    closedir(d);
}

static void corpus_loads(void)
{
    char err[256];
    struct stat st;
    if (stat(CORPUS "/rules", &st) < 0)
        SKIP("no SigmaHQ corpus at %s (the tests read it from ../shared/sigma)", CORPUS);
    struct tally *t = calloc(1, sizeof(*t));
    CHECK(t);
    struct detect_engine *eng = detect_engine_new(NULL, err, sizeof(err));
    CHECK(eng);
    static const char *const dirs[] = {"rules", "rules-emerging-threats", "rules-threat-hunting",
                                       "rules-placeholder"};
    for (size_t i = 0; i < 4; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", CORPUS, dirs[i]);
        walk(eng, t, p);
    }
    CHECK_INT(detect_engine_compile(eng, on_diag, t, err, sizeof(err)), ==, 0);
    size_t rules = detect_engine_rule_count(eng);
    /* Linux rules of the three event categories Yamori produces must be
     * selected by Yamori events */
    int linux_rules = 0, inactive = 0;
    char first_inactive[512] = "";
    for (size_t i = 0; i < rules; i++) {
        const struct detect_rule_info *r = detect_engine_rule(eng, i);
        bool linux_dir = strstr(r->origin, "/rules/linux/") ||
                         strstr(r->origin, "/rules-threat-hunting/linux/");
        bool is_linux = linux_dir || (r->product && strcmp(r->product, "linux") == 0);
        linux_rules += is_linux;
        bool yamori_category = r->category && (strcmp(r->category, "process_creation") == 0 ||
                                               strcmp(r->category, "file_event") == 0 ||
                                               strcmp(r->category, "network_connection") == 0);
        if (is_linux && yamori_category && !r->active) {
            if (!inactive)
                snprintf(first_inactive, sizeof(first_inactive), "%s:%u %s", r->origin, r->line,
                         r->title);
            inactive++;
        }
    }
    printf("INFO corpus: %d files, %zu rules loaded, %d refused (%d Linux files, %d Linux rules "
           "loaded, %d refused)\n", t->files, rules, t->refused, t->linux_files, linux_rules,
           t->linux_refused);
    for (int i = 0; i < t->nreasons; i++)
        printf("INFO refused %4d x %s (e.g. %s)\n", t->reasons[i].n, t->reasons[i].key,
               t->reasons[i].example);
    for (int k = 0; k < 16; k++)
        if (t->warnings[k])
            printf("INFO warnings %5d x %s\n", t->warnings[k],
                   detect_diag_kind_name((enum detect_diag_kind)k));
    struct detect_engine_stats es;
    detect_engine_stats(eng, &es);
    printf("INFO index: %zu selections by literal, %zu on every event, %zu KiB, %zu fields\n",
           es.indexed_rules, es.unindexed_rules, es.index_bytes / 1024, es.fields);
    detect_engine_free(eng);
    int unclear = t->unclear, linux_refused = t->linux_refused, files = t->files;
    char unclear_msg[1024], linux_msg[1024];
    snprintf(unclear_msg, sizeof(unclear_msg), "%s", t->first_unclear);
    snprintf(linux_msg, sizeof(linux_msg), "%s", t->first_linux);
    free(t);
    CHECK_MSG(files > 1000, "only %d rule files found under %s", files, CORPUS);
    CHECK_MSG(unclear == 0, "%d rules refused without a clear reason, e.g. %s", unclear,
              unclear_msg);
    CHECK_MSG(linux_refused == 0, "%d Linux rules did not load, e.g. %s", linux_refused,
              linux_msg);
    CHECK_MSG(inactive == 0, "%d Linux rules no Yamori event selects, e.g. %s", inactive,
              first_inactive);
    CHECK_MSG(linux_rules > 200, "only %d Linux rules loaded", linux_rules);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"corpus_loads", corpus_loads},
        {NULL, NULL},
    };
    return check_main("detect_corpus", cases, argc, argv);
}
