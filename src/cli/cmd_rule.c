/*
 * cmd_rule.c — `yamori rule`: try and check Sigma rules offline, with the
 * same engine the server runs.
 *
 *   yamori rule test RULES EVENTS.jsonl [--schema auto|yamori|flat]
 *   yamori rule lint RULES... [--schema yamori|flat]
 *
 * RULES is a rule file or a directory searched recursively for .yml/.yaml.
 * `test` prints every event that matched, with the rule and the fields and
 * values that made it match, then correlation results; events may be
 * Yamori events (docs/events.md) or flat JSON objects with any field names
 * (the schema is guessed from the first event unless given). Both exit 1
 * when a rule cannot be loaded (the message has its line and column) or an
 * event line is not JSON, 2 on misuse, 0 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "detect/detect.h"

#define MAX_RULE_FILE (4u << 20)

struct load {
    struct detect_engine *eng;
    int files, errors, warnings, loaded;
};

static void on_diag(void *ctx, const struct detect_diag *d)
{
    struct load *l = ctx;
    if (d->severity == DETECT_ERROR)
        l->errors++;
    else
        l->warnings++;
    fprintf(stderr, "%s\n", d->message);
}

static int load_file(struct load *l, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long n;
    int loaded;

    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        l->errors++;
        return -errno;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || (unsigned long)n > MAX_RULE_FILE) {
        fprintf(stderr, "%s: larger than %u bytes\n", path, MAX_RULE_FILE);
        fclose(f);
        l->errors++;
        return -EFBIG;
    }
    text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(text);
        fclose(f);
        l->errors++;
        return -EIO;
    }
    fclose(f);
    l->files++;
    loaded = detect_engine_add(l->eng, path, text, (size_t)n, on_diag, l);
    free(text);
    if (loaded > 0)
        l->loaded += loaded;
    return loaded < 0 ? loaded : 0;
}

static bool is_rule_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".yml") == 0) || (n > 5 && strcmp(name + n - 5, ".yaml") == 0);
}

/* Loads a file, or every .yml/.yaml below a directory (sorted, so that
 * diagnostics come in a stable order). */
static void load_path(struct load *l, const char *path, int depth)
{
    struct stat st;
    struct dirent **ents = NULL;
    int n;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        l->errors++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        load_file(l, path);
        return;
    }
    if (depth > 16)
        return;
    n = scandir(path, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        char child[PATH_MAX];
        struct stat cst;
        if (ents[i]->d_name[0] == '.') {
            free(ents[i]);
            continue;
        }
        snprintf(child, sizeof(child), "%s/%s", path, ents[i]->d_name);
        if (stat(child, &cst) == 0 && (S_ISDIR(cst.st_mode) || is_rule_name(ents[i]->d_name)))
            load_path(l, child, depth + 1);
        free(ents[i]);
    }
    free(ents);
}

static int parse_schema(const char *s, int *out)
{
    if (strcmp(s, "auto") == 0)
        *out = -1;
    else if (strcmp(s, "yamori") == 0)
        *out = DETECT_SCHEMA_YAMORI;
    else if (strcmp(s, "flat") == 0)
        *out = DETECT_SCHEMA_FLAT;
    else
        return -EINVAL;
    return 0;
}

/* ------------------------------------------------------------------ test */

struct test_ctx {
    unsigned long line;
    unsigned long matches;
};

static void print_value(const char *v, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    if (n > 200)
        printf("...");
    putchar('"');
}

static int on_match(void *ctx, const struct detect_match *m)
{
    struct test_ctx *t = ctx;

    if (m->suppressed)
        return 0;
    t->matches++;
    if (m->kind == DETECT_MATCH_CORRELATION) {
        printf("correlation: %s [%s] group {%s} count %llu\n", m->rule->title ? m->rule->title : "(untitled)",
               m->rule->level ? m->rule->level : "-", m->group ? m->group : "", (unsigned long long)m->count);
        return 0;
    }
    printf("line %lu: %s [%s]\n", t->line, m->rule->title ? m->rule->title : "(untitled)",
           m->rule->level ? m->rule->level : "-");
    for (size_t i = 0; i < m->n_evidence; i++) {
        const struct detect_evidence *e = &m->evidence[i];
        printf("    %s", e->field ? e->field : "(keyword)");
        if (e->event_field && e->field && strcmp(e->event_field, e->field) != 0)
            printf(" (%s)", e->event_field);
        printf(" = ");
        print_value(e->value ? e->value : "", e->value ? e->value_len : 0);
        if (e->pattern)
            printf("  matched '%s'", e->pattern);
        putchar('\n');
    }
    return 0;
}

/* Guesses the schema from the first line: Yamori events carry EventType and
 * ActionType. */
static int guess_schema(const char *events_path)
{
    FILE *f = fopen(events_path, "r");
    char *line = NULL;
    size_t cap = 0;
    int schema = DETECT_SCHEMA_FLAT;

    if (!f)
        return schema;
    if (getline(&line, &cap, f) > 0 && strstr(line, "\"EventType\"") && strstr(line, "\"ActionType\""))
        schema = DETECT_SCHEMA_YAMORI;
    free(line);
    fclose(f);
    return schema;
}

static int cmd_test(int argc, char **argv, const struct cli_command *cmd)
{
    static const struct option longopts[] = {
        {"schema", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    struct detect_config cfg;
    struct load l = {0};
    struct detect_event *ev = NULL;
    struct detect_stream *st = NULL;
    struct test_ctx t = {0};
    char err[512], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long bad = 0;
    int schema = -1, c, rc = 1;
    FILE *f = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c != 's' || parse_schema(optarg, &schema) != 0)
            return cli_usage(cmd);
    }
    if (argc - optind != 2)
        return cli_usage(cmd);
    if (schema < 0)
        schema = guess_schema(argv[optind + 1]);
    detect_config_default(&cfg);
    cfg.schema = (enum detect_schema)schema;
    l.eng = detect_engine_new(&cfg, err, sizeof(err));
    if (!l.eng) {
        fprintf(stderr, "yamori rule test: %s\n", err);
        return 1;
    }
    load_path(&l, argv[optind], 0);
    if (detect_engine_compile(l.eng, on_diag, &l, err, sizeof(err)) != 0) {
        fprintf(stderr, "yamori rule test: %s\n", err);
        goto out;
    }
    if (l.errors)
        goto out;
    if (l.loaded == 0) {
        fprintf(stderr, "yamori rule test: no rules in %s\n", argv[optind]);
        goto out;
    }
    ev = detect_event_new(l.eng, err, sizeof(err));
    st = detect_stream_new(l.eng, err, sizeof(err));
    if (!ev || !st) {
        fprintf(stderr, "yamori rule test: %s\n", err);
        goto out;
    }
    f = fopen(argv[optind + 1], "r");
    if (!f) {
        fprintf(stderr, "yamori rule test: %s: %s\n", argv[optind + 1], strerror(errno));
        goto out;
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        t.line++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        detect_event_clear(ev);
        if (detect_event_set_json(ev, line, (size_t)n, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s:%lu: %s\n", argv[optind + 1], t.line, err);
            bad++;
            continue;
        }
        detect_match(ev, st, on_match, &t);
    }
    detect_stream_flush(st, on_match, &t);
    printf("%lu events, %lu matches, %d rules (%s schema)%s\n", t.line, t.matches, l.loaded,
           schema == DETECT_SCHEMA_YAMORI ? "yamori" : "flat", bad ? ", some lines were not JSON" : "");
    rc = bad ? 1 : 0;
out:
    if (f)
        fclose(f);
    free(line);
    detect_stream_free(st);
    detect_event_free(ev);
    detect_engine_free(l.eng);
    return rc;
}

static int cmd_lint(int argc, char **argv, const struct cli_command *cmd)
{
    static const struct option longopts[] = {
        {"schema", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    struct detect_config cfg;
    struct load l = {0};
    char err[512];
    int schema = DETECT_SCHEMA_YAMORI, c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c != 's' || parse_schema(optarg, &schema) != 0 || schema < 0)
            return cli_usage(cmd);
    }
    if (optind >= argc)
        return cli_usage(cmd);
    detect_config_default(&cfg);
    cfg.schema = (enum detect_schema)schema;
    l.eng = detect_engine_new(&cfg, err, sizeof(err));
    if (!l.eng) {
        fprintf(stderr, "yamori rule lint: %s\n", err);
        return 1;
    }
    for (int i = optind; i < argc; i++)
        load_path(&l, argv[i], 0);
    detect_engine_compile(l.eng, on_diag, &l, err, sizeof(err));
    printf("%d files, %d rules loaded, %d errors, %d warnings\n", l.files, l.loaded, l.errors, l.warnings);
    detect_engine_free(l.eng);
    return l.errors ? 1 : 0;
}

static int run(int argc, char **argv);

static const struct cli_command rule_command = {
    .name = "rule",
    .summary = "test and lint Sigma rules offline",
    .usage = "yamori rule test RULES EVENTS.jsonl [--schema auto|yamori|flat]\n"
             "       yamori rule lint RULES... [--schema yamori|flat]",
    .run = run,
};
CLI_COMMAND(rule_command);

static int run(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(&rule_command);
    if (strcmp(argv[1], "test") == 0)
        return cmd_test(argc - 1, argv + 1, &rule_command);
    if (strcmp(argv[1], "lint") == 0)
        return cmd_lint(argc - 1, argv + 1, &rule_command);
    if (strcmp(argv[1], "--help") == 0) {
        printf("usage: %s\n", rule_command.usage);
        return 0;
    }
    return cli_usage(&rule_command);
}
