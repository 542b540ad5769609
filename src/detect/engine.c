/*
 * engine.c — the engine object: configuration, loading, and compilation
 * into event classes with literal indexes (see detect.h for the life
 * cycle).
 *
 * Compilation resolves correlation references, decides which rules each
 * event class evaluates (Yamori schema: by log source, fieldmap.h; flat
 * schema: one class with every rule), and indexes each class: for every
 * rule, sets of literals one of which must occur for the rule to match
 * (computed over its graph: each child of an AND has its own set, an OR
 * needs the sets of one of its children) go into the per-field literal
 * indexes (tindex.h), and the rule is evaluated only when every set of one
 * alternative had a hit. Rules for which no such set exists are evaluated
 * on every event of the class.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_int.h"
#include "detect/fieldmap.h"
#include "detect/pattern.h"
#include "detect/sigma_parse.h"
#include "detect/tindex.h"

const uint8_t detect_fold[256] = {
#define R(x) x, x + 1, x + 2, x + 3, x + 4, x + 5, x + 6, x + 7
    R(0), R(8), R(16), R(24), R(32), R(40), R(48), R(56),
    64, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 91, 92, 93, 94, 95,
    R(96), R(104), R(112), R(120), R(128), R(136), R(144), R(152), R(160), R(168), R(176),
    R(184), R(192), R(200), R(208), R(216), R(224), R(232), R(240), R(248),
#undef R
};

/* a-z (either case) 0-25, 0-9 26-35, " /-._=:\"'>|&;$,*" 36-51, the other
 * bytes 52 + byte % 12 */
const uint8_t detect_byte_bit[256] = {
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 52, 53, 54, 55, 56, 57, 58, 59,
    36, 61, 43, 63, 49, 53, 47, 44, 56, 57, 51, 59, 50, 38, 39, 37,
    26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 42, 48, 52, 41, 45, 55,
    56,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 59, 60, 61, 62, 40,
    52,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 55, 46, 57, 58, 59,
    60, 61, 62, 63, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 52, 53, 54, 55, 56, 57, 58, 59,
    60, 61, 62, 63, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 52, 53, 54, 55, 56, 57, 58, 59,
    60, 61, 62, 63, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 52, 53, 54, 55,
};

static const char *const diag_names[] = {
    "yaml", "structure", "condition", "modifier", "value", "regex", "placeholder",
    "unsupported", "limit", "correlation", "logsource", "field",
};

const char *detect_diag_kind_name(enum detect_diag_kind kind)
{
    if ((size_t)kind < sizeof(diag_names) / sizeof(diag_names[0]))
        return diag_names[kind];
    return "unknown";
}

void detect_report(detect_diag_fn fn, void *ctx, enum detect_severity sev,
                   enum detect_diag_kind kind, const char *origin, unsigned line, unsigned col,
                   const char *title, const char *id, const char *feature, const char *fmt, ...)
{
    char body[1024], msg[1400];
    struct detect_diag d;
    va_list ap;
    int n;

    if (!fn)
        return;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    n = snprintf(msg, sizeof(msg), "%s", origin ? origin : "(rules)");
    if (line && col && n >= 0 && (size_t)n < sizeof(msg))
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, ":%u:%u", line, col);
    else if (line && n >= 0 && (size_t)n < sizeof(msg))
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, ":%u", line);
    if (n >= 0 && (size_t)n < sizeof(msg))
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", sev == DETECT_ERROR ? "error"
                                                                                 : "warning");
    if (title && n >= 0 && (size_t)n < sizeof(msg))
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": rule '%.120s'", title);
    if (n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", body);
    memset(&d, 0, sizeof(d));
    d.severity = sev;
    d.kind = kind;
    d.origin = origin;
    d.line = line;
    d.col = col;
    d.title = title;
    d.id = id;
    d.feature = feature;
    d.message = msg;
    fn(ctx, &d);
}

/* ------------------------------------------------------------ engine */

void detect_config_default(struct detect_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->schema = DETECT_SCHEMA_YAMORI;
    cfg->time_field = "Timestamp";
    cfg->max_file_bytes = 16u << 20;
    cfg->max_rule_nodes = 200000;
    cfg->max_values = 100000;
    cfg->regex_match_limit = 100000;
    cfg->regex_depth_limit = 2000;
    cfg->corr_max_groups = 10000;
    cfg->corr_max_entries = 4096;
}

struct detect_engine *detect_engine_new(const struct detect_config *cfg, char *err, size_t errlen)
{
    struct detect_engine *eng = calloc(1, sizeof(*eng));
    struct detect_config def;

    if (!eng)
        goto nomem;
    detect_arena_init(&eng->arena, 0);
    detect_strtab_init(&eng->fields);
    detect_strtab_init(&eng->class_keys);
    detect_config_default(&def);
    if (cfg) {
        eng->cfg = *cfg;
        if (cfg->schema != DETECT_SCHEMA_YAMORI && cfg->schema != DETECT_SCHEMA_FLAT) {
            snprintf(err, errlen, "unknown event schema %d", (int)cfg->schema);
            detect_engine_free(eng);
            return NULL;
        }
        /* zero limits mean "the default" */
        if (!eng->cfg.time_field)
            eng->cfg.time_field = def.time_field;
        if (!eng->cfg.max_file_bytes)
            eng->cfg.max_file_bytes = def.max_file_bytes;
        if (!eng->cfg.max_rule_nodes)
            eng->cfg.max_rule_nodes = def.max_rule_nodes;
        if (!eng->cfg.max_values)
            eng->cfg.max_values = def.max_values;
        if (!eng->cfg.regex_match_limit)
            eng->cfg.regex_match_limit = def.regex_match_limit;
        if (!eng->cfg.regex_depth_limit)
            eng->cfg.regex_depth_limit = def.regex_depth_limit;
        if (!eng->cfg.corr_max_groups)
            eng->cfg.corr_max_groups = def.corr_max_groups;
        if (!eng->cfg.corr_max_entries)
            eng->cfg.corr_max_entries = def.corr_max_entries;
    } else {
        eng->cfg = def;
    }
    eng->cfg.time_field = detect_arena_strdup(&eng->arena, eng->cfg.time_field);
    if (!eng->cfg.time_field)
        goto nomem;
    /* deep copy of the placeholders */
    if (eng->cfg.n_placeholders) {
        struct detect_placeholder *ph =
            detect_arena_alloc(&eng->arena, sizeof(*ph) * eng->cfg.n_placeholders);
        if (!ph)
            goto nomem;
        for (size_t i = 0; i < eng->cfg.n_placeholders; i++) {
            const struct detect_placeholder *src = &cfg->placeholders[i];
            if (!src->name || (src->n_values && !src->values)) {
                snprintf(err, errlen, "placeholder %zu has no name or no values", i);
                detect_engine_free(eng);
                return NULL;
            }
            ph[i].name = detect_arena_strdup(&eng->arena, src->name);
            const char **vals =
                detect_arena_alloc(&eng->arena, sizeof(char *) * (src->n_values + 1));
            if (!ph[i].name || !vals)
                goto nomem;
            for (size_t j = 0; j < src->n_values; j++) {
                vals[j] = detect_arena_strdup(&eng->arena, src->values[j] ? src->values[j] : "");
                if (!vals[j])
                    goto nomem;
            }
            ph[i].values = vals;
            ph[i].n_values = src->n_values;
        }
        eng->cfg.placeholders = ph;
    }
    return eng;
nomem:
    snprintf(err, errlen, "out of memory creating the rule engine");
    detect_engine_free(eng);
    return NULL;
}

void detect_engine_free(struct detect_engine *eng)
{
    if (!eng)
        return;
    for (uint32_t i = 0; i < eng->nrules; i++)
        sigma_rule_free(eng->rules[i]);
    free(eng->rules);
    for (uint32_t i = 0; i < eng->nixs; i++)
        tindex_free(eng->ixs[i]);
    for (uint32_t i = 0; eng->classes && i < eng->nclasses; i++)
        free(eng->classes[i].absent);
    free(eng->ixs);
    free(eng->corrs);
    detect_strtab_free(&eng->fields);
    detect_strtab_free(&eng->class_keys);
    detect_arena_free(&eng->arena);
    free(eng);
}

int detect_engine_add(struct detect_engine *eng, const char *origin, const char *text, size_t len,
                      detect_diag_fn fn, void *ctx)
{
    if (!eng || (!text && len))
        return -EINVAL;
    if (eng->compiled) {
        detect_report(fn, ctx, DETECT_ERROR, DETECT_DIAG_STRUCTURE, origin, 0, 0, NULL, NULL,
                      "engine state", "rules cannot be added after the engine is compiled");
        return -EBUSY;
    }
    if (len > eng->cfg.max_file_bytes) {
        detect_report(fn, ctx, DETECT_ERROR, DETECT_DIAG_LIMIT, origin, 0, 0, NULL, NULL,
                      "file size", "the rule text is %zu bytes, more than the limit of %zu",
                      len, eng->cfg.max_file_bytes);
        return -EFBIG;
    }
    return sigma_parse_text(eng, origin ? origin : "(rules)", text ? text : "", len, fn, ctx);
}

size_t detect_engine_rule_count(const struct detect_engine *eng)
{
    return eng ? eng->nrules : 0;
}

const struct detect_rule_info *detect_engine_rule(const struct detect_engine *eng, size_t i)
{
    return eng && i < eng->nrules ? &eng->rules[i]->info : NULL;
}

void detect_engine_stats(const struct detect_engine *eng, struct detect_engine_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!eng)
        return;
    for (uint32_t i = 0; i < eng->nrules; i++) {
        if (eng->rules[i]->corr)
            out->correlations += !eng->rules[i]->dropped;
        else
            out->rules++;
    }
    out->fields = eng->fields.n;
    out->classes = eng->nclasses;
    out->indexed_rules = eng->indexed_rules;
    out->unindexed_rules = eng->unindexed_rules;
    out->index_bytes = eng->index_bytes;
}

int detect_field_id(const struct detect_engine *eng, const char *name, size_t len)
{
    if (!eng || !eng->compiled || !name)
        return -EINVAL;
    int32_t id = detect_strtab_find(&eng->fields, name, len);
    return id < 0 ? -ENOENT : id;
}

/* ------------------------------------------------------------ correlations */

static void rule_report(detect_diag_fn fn, void *ctx, const struct rule *r,
                        enum detect_severity sev, enum detect_diag_kind kind, unsigned line,
                        unsigned col, const char *feature, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

static void rule_report(detect_diag_fn fn, void *ctx, const struct rule *r,
                        enum detect_severity sev, enum detect_diag_kind kind, unsigned line,
                        unsigned col, const char *feature, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    detect_report(fn, ctx, sev, kind, r->info.origin, line ? line : r->info.line, col,
                  r->info.title, r->info.id, feature, "%s", msg);
}

/* Finds the rule a correlation names: by id or name, preferring the
 * correlation's own file. Returns the index, -1 when none, -2 when
 * ambiguous. */
static long find_ref(const struct detect_engine *eng, const struct rule *from, const char *ref)
{
    long found = -1, found_same = -1;
    int n = 0, n_same = 0;
    for (uint32_t i = 0; i < eng->nrules; i++) {
        const struct rule *r = eng->rules[i];
        if (r == from)
            continue;
        if (!((r->info.id && strcmp(r->info.id, ref) == 0) ||
              (r->info.name && strcmp(r->info.name, ref) == 0)))
            continue;
        n++;
        found = i;
        if (strcmp(r->info.origin, from->info.origin) == 0) {
            n_same++;
            found_same = i;
        }
    }
    if (n_same == 1)
        return found_same;
    if (n_same > 1 || n > 1)
        return -2;
    return found;
}

/* The field a group-by (or value_count field) name reads in events of
 * referenced rule `ref`: the alias for that rule, or the name itself. */
static const char *corr_field_name(const struct corr_def *cd, const struct rule *ref,
                                   const char *name, bool *missing)
{
    *missing = false;
    for (uint32_t a = 0; a < cd->naliases; a++) {
        const struct corr_alias *al = &cd->aliases[a];
        if (strcmp(al->name, name) != 0)
            continue;
        for (uint32_t j = 0; j < al->n; j++)
            if ((ref->info.name && strcmp(al->rule_names[j], ref->info.name) == 0) ||
                (ref->info.id && strcmp(al->rule_names[j], ref->info.id) == 0))
                return al->fields[j];
        *missing = true;
        return NULL;
    }
    return name;
}

static int resolve_field_list(struct detect_engine *eng, struct rule *r, const char *const *names,
                              uint32_t n, uint32_t **out, const char *what, detect_diag_fn fn,
                              void *ctx)
{
    struct corr_def *cd = r->corr;
    if (!n)
        return 0;
    uint32_t *ids = detect_arena_alloc(&r->arena, sizeof(*ids) * cd->nrefs * n);
    if (!ids)
        return -ENOMEM;
    for (uint32_t k = 0; k < cd->nrefs; k++) {
        const struct rule *ref = eng->rules[cd->ref_rules[k]];
        for (uint32_t g = 0; g < n; g++) {
            bool missing;
            const char *f = corr_field_name(cd, ref, names[g], &missing);
            if (missing) {
                rule_report(fn, ctx, r, DETECT_ERROR, DETECT_DIAG_CORRELATION, cd->line, cd->col,
                            "correlation aliases",
                            "alias '%s' (in %s) has no field for rule '%s'", names[g], what,
                            cd->refs[k]);
                return -EINVAL;
            }
            if (ref->corr) {
                /* a chained correlation: the value comes from the inner
                 * correlation's group, by position */
                const struct corr_def *in = ref->corr;
                uint32_t pos = UINT32_MAX;
                for (uint32_t j = 0; j < in->ngroup; j++)
                    if (strcmp(in->group[j], f) == 0)
                        pos = j;
                if (pos == UINT32_MAX) {
                    rule_report(fn, ctx, r, DETECT_ERROR, DETECT_DIAG_CORRELATION, cd->line,
                                cd->col, "correlation chain",
                                "%s '%s' is not in the group-by of the correlation rule '%s' "
                                "it references (a chained correlation only sees those)",
                                what, f, cd->refs[k]);
                    return -EINVAL;
                }
                ids[k * n + g] = pos;
            } else {
                int32_t id = detect_strtab_intern(&eng->fields, f, strlen(f));
                if (id < 0)
                    return -ENOMEM;
                ids[k * n + g] = (uint32_t)id;
            }
        }
    }
    *out = ids;
    return 0;
}

/* Whether correlation `from` reaches `target` through references. */
static bool corr_reaches(struct detect_engine *eng, uint32_t from, uint32_t target,
                         uint8_t *seen)
{
    const struct corr_def *cd = eng->rules[from]->corr;
    if (seen[from] || !cd->refs_ok)
        return false;
    seen[from] = 1;
    for (uint32_t k = 0; cd && k < cd->nrefs; k++) {
        uint32_t t = cd->ref_rules[k];
        if (t == target)
            return true;
        if (eng->rules[t]->corr && corr_reaches(eng, t, target, seen))
            return true;
    }
    return false;
}

static int add_feed(struct rule *r, uint32_t corr)
{
    for (uint32_t i = 0; i < r->nfeeds; i++)
        if (r->feeds[i] == corr)
            return 0;
    uint32_t *nf = realloc(r->feeds, sizeof(*nf) * (r->nfeeds + 1));
    if (!nf)
        return -ENOMEM;
    nf[r->nfeeds++] = corr;
    r->feeds = nf;
    return 0;
}

static int resolve_correlations(struct detect_engine *eng, detect_diag_fn fn, void *ctx)
{
    uint8_t *state = NULL;
    int rc = 0;
    bool changed;

    /* references */
    for (uint32_t i = 0; i < eng->nrules; i++) {
        struct rule *r = eng->rules[i];
        struct corr_def *cd = r->corr;
        if (!cd)
            continue;
        cd->ref_rules = detect_arena_alloc(&r->arena, sizeof(uint32_t) * cd->nrefs);
        if (!cd->ref_rules)
            return -ENOMEM;
        for (uint32_t k = 0; k < cd->nrefs && !r->dropped; k++) {
            long t = find_ref(eng, r, cd->refs[k]);
            if (t < 0) {
                rule_report(fn, ctx, r, DETECT_ERROR, DETECT_DIAG_CORRELATION, cd->ref_line[k],
                            cd->ref_col[k], "correlation reference",
                            t == -1 ? "the correlation references '%s', which no loaded rule "
                                      "has as id or name"
                                    : "the correlation reference '%s' is ambiguous: several "
                                      "rules have this id or name",
                            cd->refs[k]);
                r->dropped = true;
                break;
            }
            cd->ref_rules[k] = (uint32_t)t;
            /* temporal_ordered may list a rule twice (A, then A again) */
            if (cd->type == CORR_TEMPORAL_ORDERED)
                continue;
            for (uint32_t j = 0; j < k; j++)
                if (cd->ref_rules[j] == (uint32_t)t)
                    rule_report(fn, ctx, r, DETECT_WARNING, DETECT_DIAG_CORRELATION,
                                cd->ref_line[k], cd->ref_col[k], "correlation reference",
                                "rule '%s' is referenced twice", cd->refs[k]);
        }
        cd->refs_ok = !r->dropped;
    }
    /* cycles */
    state = calloc(eng->nrules ? eng->nrules : 1, 1);
    if (!state)
        return -ENOMEM;
    for (uint32_t i = 0; i < eng->nrules; i++) {
        struct rule *r = eng->rules[i];
        if (!r->corr || r->dropped)
            continue;
        memset(state, 0, eng->nrules);
        if (corr_reaches(eng, i, i, state)) {
            rule_report(fn, ctx, r, DETECT_ERROR, DETECT_DIAG_CORRELATION, r->corr->line,
                        r->corr->col, "correlation cycle",
                        "the correlation references itself through a chain of correlations");
            r->dropped = true;
        }
    }
    /* a correlation over a dropped one is dropped too */
    do {
        changed = false;
        for (uint32_t i = 0; i < eng->nrules; i++) {
            struct rule *r = eng->rules[i];
            if (!r->corr || r->dropped)
                continue;
            for (uint32_t k = 0; k < r->corr->nrefs; k++) {
                if (eng->rules[r->corr->ref_rules[k]]->dropped) {
                    rule_report(fn, ctx, r, DETECT_ERROR, DETECT_DIAG_CORRELATION,
                                r->corr->ref_line[k], r->corr->ref_col[k],
                                "correlation reference",
                                "the correlation references '%s', which could not be compiled",
                                r->corr->refs[k]);
                    r->dropped = changed = true;
                    break;
                }
            }
        }
    } while (changed);
    /* fields, limits */
    for (uint32_t i = 0; i < eng->nrules; i++) {
        struct rule *r = eng->rules[i];
        struct corr_def *cd = r->corr;
        if (!cd || r->dropped)
            continue;
        rc = resolve_field_list(eng, r, cd->group, cd->ngroup, &cd->group_ids, "group-by", fn,
                                ctx);
        if (rc == 0)
            rc = resolve_field_list(eng, r, cd->vfields, cd->nvfield, &cd->vfield_ids, "field",
                                    fn, ctx);
        if (rc == -ENOMEM)
            goto cleanup;
        if (rc < 0) {
            r->dropped = true;
            rc = 0;
            continue;
        }
        if (cd->type == CORR_VALUE_COUNT && cd->threshold > eng->cfg.corr_max_entries) {
            rule_report(fn, ctx, r, DETECT_ERROR, DETECT_DIAG_LIMIT, cd->line, cd->col,
                        "correlation memory",
                        "value_count needs %lld distinct values per group, more than "
                        "corr_max_entries (%u)", (long long)cd->threshold,
                        eng->cfg.corr_max_entries);
            r->dropped = true;
            continue;
        }
        if (cd->type == CORR_EVENT_COUNT && !cd->window_close &&
            cd->threshold > eng->cfg.corr_max_entries)
            rule_report(fn, ctx, r, DETECT_WARNING, DETECT_DIAG_LIMIT, cd->line, cd->col,
                        "correlation memory",
                        "event_count threshold %lld is above corr_max_entries (%u): counted "
                        "in fixed windows from each group's first event, not a sliding window",
                        (long long)cd->threshold, eng->cfg.corr_max_entries);
    }
    for (uint32_t i = 0; i < eng->nrules; i++)
        if (eng->rules[i]->corr && eng->rules[i]->dropped)
            eng->rules[i]->info.active = false;
    /* feeds, slots */
    free(eng->corrs);
    eng->corrs = NULL;
    eng->ncorr = 0;
    for (uint32_t i = 0; i < eng->nrules; i++)
        eng->ncorr += eng->rules[i]->corr && !eng->rules[i]->dropped;
    if (eng->ncorr) {
        eng->corrs = calloc(eng->ncorr, sizeof(*eng->corrs));
        if (!eng->corrs) {
            rc = -ENOMEM;
            goto cleanup;
        }
    }
    uint32_t slot = 0;
    for (uint32_t i = 0; i < eng->nrules; i++) {
        struct rule *r = eng->rules[i];
        if (!r->corr || r->dropped)
            continue;
        r->corr_slot = slot;
        eng->corrs[slot++] = r;
        for (uint32_t k = 0; k < r->corr->nrefs; k++)
            if ((rc = add_feed(eng->rules[r->corr->ref_rules[k]], i)) < 0)
                goto cleanup;
    }
    /* generate: a referenced rule alerts on its own only when asked */
    for (uint32_t i = 0; i < eng->nrules; i++) {
        struct rule *r = eng->rules[i];
        bool gen = false;
        for (uint32_t f = 0; f < r->nfeeds; f++)
            gen |= eng->rules[r->feeds[f]]->corr->generate;
        r->suppressed = r->nfeeds > 0 && !gen;
    }
cleanup:
    free(state);
    return rc;
}

/* ------------------------------------------------------------ triggers */

struct tset {
    bool top;                  /* no literal is necessary */
    uint32_t n;
    struct trig *t;
    uint32_t score;
};

struct tctx {
    struct detect_arena *a;
    const struct rule *r;
    struct tset *memo;
    uint8_t *done;
    const uint8_t *derived;    /* per field id: a value the schema derives */
    uint32_t weak[2];          /* EventType, ActionType: every event of a kind has them */
};

/* Literals that a large share of process events carry: the names of
 * shells and interpreters (they run everything else) and the system's
 * program directories. Such a literal is indexed only when a rule offers
 * nothing better, because as the key of an AND it makes the rule a
 * candidate for most events. */
static bool trig_common_program(const struct trig *t)
{
    static const char *const common[] = {"/sh", "/bash", "/dash", "/zsh", "/ksh", "/mksh", "/busybox",
                                         "/python", "/python3", "/perl", "/env", NULL};
    /* the system's program directories: in most command lines and paths */
    static const char *const dirs[] = {"/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/lib64/", "/usr/libexec/",
                                       "/usr/local/bin/", "/usr/local/sbin/", "/bin/", "/sbin/", "/lib/",
                                       "/lib64/", "/usr/", NULL};
    if (t->kind == TRIG_SUBSTR || t->kind == TRIG_PREFIX)
        for (const char *const *d = dirs; *d; d++)
            if (t->len == strlen(*d) && memcmp(t->lit, *d, t->len) == 0)
                return true;
    for (const char *const *c = common; *c; c++) {
        size_t n = strlen(*c);
        /* endswith /bash; Image: /usr/bin/bash; FileName: bash */
        if (t->kind == TRIG_SUFFIX && t->len == n && memcmp(t->lit, *c, n) == 0)
            return true;
        if (t->kind == TRIG_EXACT && t->len >= n && memcmp(t->lit + t->len - n, *c, n) == 0)
            return true;
        if (t->kind == TRIG_EXACT && t->len == n - 1 && memcmp(t->lit, *c + 1, n - 1) == 0)
            return true;
    }
    return false;
}

static uint32_t tscore(const struct trig *t)
{
    if (t->kind == TRIG_ABSENT)
        return 60; /* as good as a long anchored literal */
    if (trig_common_program(t))
        return 1;
    return pattern_trig_score(t->kind, t->len);
}

static int tset_union(struct tctx *x, struct tset *dst, const struct tset *src)
{
    struct trig *t = detect_arena_alloc(x->a, sizeof(*t) * (dst->n + src->n + 1));
    if (!t)
        return -ENOMEM;
    if (dst->n)
        memcpy(t, dst->t, sizeof(*t) * dst->n);
    if (src->n)
        memcpy(t + dst->n, src->t, sizeof(*t) * src->n);
    dst->t = t;
    dst->n += src->n;
    if (src->score < dst->score)
        dst->score = src->score;
    return 0;
}

/* better: higher score, then fewer literals */
static bool tset_better(const struct tset *a, const struct tset *b)
{
    if (a->top)
        return false;
    if (b->top)
        return true;
    if (a->score != b->score)
        return a->score > b->score;
    return a->n < b->n;
}

static int trig_node(struct tctx *x, uint32_t ni, struct tset *out);

static int trig_fcond_literals(struct tctx *x, const struct fcond *fc, struct tset *out);

/* The literals of one field condition. A value of EventType or ActionType
 * names a kind of event, so it keys a rule only when nothing else does. */
static int trig_fcond(struct tctx *x, const struct fcond *fc, struct tset *out)
{
    int rc = trig_fcond_literals(x, fc, out);
    if (rc == 0 && !out->top && out->n && (fc->field == x->weak[0] || fc->field == x->weak[1]))
        out->score = 2;
    return rc;
}

/* The literals of one value written under `|all` (vms [i, e): the value's
 * variants), one of which is necessary for it to hold. */
static int trig_group(struct tctx *x, const struct fcond *fc, uint32_t i, uint32_t e,
                      struct tset *out)
{
    struct trig t[PATTERN_MAX_TRIGS];
    memset(out, 0, sizeof(*out));
    out->score = UINT32_MAX;
    out->t = detect_arena_alloc(x->a, sizeof(struct trig) * (e - i) * PATTERN_MAX_TRIGS);
    if (!out->t)
        return -ENOMEM;
    for (uint32_t v = i; v < e; v++) {
        int k = pattern_trigs(&fc->vms[v], fc->field, t, PATTERN_MAX_TRIGS);
        if (k <= 0) {
            out->top = true;
            out->n = 0;
            return 0;
        }
        for (int j = 0; j < k; j++) {
            out->t[out->n++] = t[j];
            if (tscore(&t[j]) < out->score)
                out->score = tscore(&t[j]);
        }
    }
    return 0;
}

static int trig_fcond_literals(struct tctx *x, const struct fcond *fc, struct tset *out)
{
    struct trig t[PATTERN_MAX_TRIGS];
    memset(out, 0, sizeof(*out));
    out->score = UINT32_MAX;
    /* a negation, a test an absent field passes, or a value the schema
     * derives per class (Initiated: "true" on every outbound connection)
     * says nothing about literals */
    if (fc->field != FIELD_ANY && !(x->derived && x->derived[fc->field])) {
        /* `Field: null` alone: a candidate only where the field is absent
         * or empty, which for most fields (a package name, a hash) is the
         * rare case worth indexing */
        if (!fc->negate && fc->nvm == 1 && fc->vms[0].kind == VM_NULL) {
            out->t = detect_arena_alloc(x->a, sizeof(struct trig));
            if (!out->t)
                return -ENOMEM;
            out->t[0] = (struct trig){TRIG_ABSENT, fc->field, 0, NULL};
            out->n = 1;
            out->score = tscore(&out->t[0]);
            return 0;
        }
    }
    if (fc->negate || fc->absent_match ||
        (fc->field != FIELD_ANY && x->derived && x->derived[fc->field])) {
        out->top = true;
        return 0;
    }
    uint32_t field = fc->field;
    if (fc->all) {
        /* every value written holds: the literals of the best one (all its
         * variants') suffice */
        struct tset best = {.top = true};
        for (uint32_t i = 0; i < fc->nvm;) {
            uint32_t e = i;
            while (e < fc->nvm && fc->vms[e].group == fc->vms[i].group)
                e++;
            struct tset cand;
            int rc = trig_group(x, fc, i, e, &cand);
            if (rc < 0)
                return rc;
            if (tset_better(&cand, &best))
                best = cand;
            i = e;
        }
        *out = best;
        return 0;
    }
    /* any value may hold: all their literals are needed */
    uint32_t cap = fc->nvm + PATTERN_MAX_TRIGS;
    out->t = detect_arena_alloc(x->a, sizeof(struct trig) * cap);
    if (!out->t)
        return -ENOMEM;
    for (uint32_t i = 0; i < fc->nvm; i++) {
        int k = pattern_trigs(&fc->vms[i], field, t, PATTERN_MAX_TRIGS);
        if (k <= 0) {
            out->top = true;
            out->n = 0;
            return 0;
        }
        if (out->n + (uint32_t)k > cap) {
            uint32_t ncap = (out->n + (uint32_t)k) * 2;
            struct trig *nt = detect_arena_alloc(x->a, sizeof(*nt) * ncap);
            if (!nt)
                return -ENOMEM;
            memcpy(nt, out->t, sizeof(*nt) * out->n);
            out->t = nt;
            cap = ncap;
        }
        for (int j = 0; j < k; j++) {
            out->t[out->n++] = t[j];
            if (tscore(&t[j]) < out->score)
                out->score = tscore(&t[j]);
        }
    }
    return 0;
}

static int cmp_tset_ptr(const void *a, const void *b)
{
    const struct tset *x = *(const struct tset *const *)a, *y = *(const struct tset *const *)b;
    if (tset_better(x, y))
        return -1;
    if (tset_better(y, x))
        return 1;
    return 0;
}

static int trig_node(struct tctx *x, uint32_t ni, struct tset *out)
{
    const struct node *n = &x->r->nodes[ni];
    int rc = 0;

    if (x->done[ni]) {
        *out = x->memo[ni];
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->score = UINT32_MAX;
    switch (n->op) {
    case N_FCOND:
        rc = trig_fcond(x, &x->r->fconds[n->arg], out);
        break;
    case N_TRUE:
    case N_NOT:
        out->top = true;
        break;
    case N_FALSE:
        break;   /* never true: no literal needed, never a candidate */
    case N_AND: {
        bool have = false;
        for (uint32_t i = 0; i < n->nkids; i++) {
            struct tset k;
            if ((rc = trig_node(x, n->kids[i], &k)) < 0)
                return rc;
            if (!have || tset_better(&k, out)) {
                *out = k;
                have = true;
            }
        }
        break;
    }
    case N_OR:
    case N_ATLEAST: {
        /* at least k children are true, so among any nkids-k+1 of them one
         * is: the union of the best nkids-k+1 sets is necessary */
        uint32_t k = n->op == N_OR ? 1 : n->arg;
        uint32_t need = n->nkids - k + 1;
        struct tset *kids = malloc(sizeof(*kids) * n->nkids);
        struct tset **order = malloc(sizeof(*order) * n->nkids);
        if (!kids || !order) {
            free(kids);
            free(order);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < n->nkids && rc == 0; i++) {
            rc = trig_node(x, n->kids[i], &kids[i]);
            order[i] = &kids[i];
        }
        if (rc == 0) {
            qsort(order, n->nkids, sizeof(*order), cmp_tset_ptr);
            for (uint32_t i = 0; i < need && rc == 0; i++) {
                if (order[i]->top) {
                    out->top = true;
                    break;
                }
                rc = tset_union(x, out, order[i]);
            }
        }
        free(kids);
        free(order);
        break;
    }
    default:
        out->top = true;
        break;
    }
    if (rc < 0)
        return rc;
    if (out->top) {
        out->n = 0;
        out->t = NULL;
    }
    x->memo[ni] = *out;
    x->done[ni] = 1;
    return 0;
}

/* The key terms of a rule: its graph read as an OR of ANDs (a disjunctive
 * form), each AND a term of literal sets that are all necessary for that
 * alternative. A rule is a candidate when every set of one of its terms
 * has a hit. Selections joined by AND, values under `|all` and the fields
 * of one selection give a term several sets; `1 of` and OR give several
 * terms. The form is kept small (TKEY_ALTS terms of up to TKEY_SETS sets,
 * the best first); alternatives that do not fit are merged into one term
 * (kmerge). */
#define TKEY_SETS 8

struct kterm {
    uint32_t n;                /* sets, best first; 0: needs nothing */
    struct tset s[TKEY_SETS];
};

struct kdnf {
    bool top;                  /* some alternative needs no literal */
    uint32_t n;                /* terms; 0 (and not top): never true */
    struct kterm t[TKEY_ALTS];
};

/* Adds a necessary set to a term; false when the set can never hold (the
 * term then never does). */
static bool kterm_add(struct kterm *t, const struct tset *s)
{
    if (s->top)
        return true;
    if (s->n == 0)
        return false;
    uint32_t i = t->n < TKEY_SETS ? t->n : TKEY_SETS - 1;
    if (t->n == TKEY_SETS && !tset_better(s, &t->s[i]))
        return true;   /* full, and no better than the worst kept */
    while (i > 0 && tset_better(s, &t->s[i - 1])) {
        t->s[i] = t->s[i - 1];
        i--;
    }
    t->s[i] = *s;
    if (t->n < TKEY_SETS)
        t->n++;
    return true;
}

static void kdnf_top(struct kdnf *d)
{
    d->top = true;
    d->n = 0;
}

/* Alternatives merged into one term (more of them than kept): its sets
 * are unions, each taking one set of every alternative (the first union
 * their best sets, the others their next ones), so that whichever
 * alternative holds, one of the union's literals occurs. Built in buffers
 * that grow by doubling. */
#define KMERGE_SETS 3

struct kmerge {
    struct trig *t[KMERGE_SETS];
    uint32_t n[KMERGE_SETS], cap[KMERGE_SETS], score[KMERGE_SETS];
    bool own[KMERGE_SETS];     /* some alternative gave its own j-th set */
};

static void kmerge_init(struct kmerge *m)
{
    memset(m, 0, sizeof(*m));
    for (int j = 0; j < KMERGE_SETS; j++)
        m->score[j] = UINT32_MAX;
}

static void kmerge_free(struct kmerge *m)
{
    for (int j = 0; j < KMERGE_SETS; j++)
        free(m->t[j]);
}

/* A set the index finds without walking every byte (set_is_cheap). */
static bool set_no_short(const struct tset *s)
{
    for (uint32_t k = 0; k < s->n; k++)
        if (s->t[k].kind == TRIG_SUBSTR && s->t[k].len < 4)
            return false;
    return true;
}

static int kmerge_add(struct kmerge *m, const struct kterm *t)
{
    /* the unions after the first take the term's sets without short
     * substrings (one of those would keep the whole union out of the
     * index), the last one again when it has fewer */
    const struct tset *usable[TKEY_SETS];
    uint32_t nu = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (set_no_short(&t->s[i]))
            usable[nu++] = &t->s[i];
    for (uint32_t j = 0; j < KMERGE_SETS; j++) {
        const struct tset *s = j == 0 || nu == 0 ? &t->s[0] : usable[j < nu ? j : nu - 1];
        m->own[j] |= j < nu;
        if (m->n[j] + s->n > m->cap[j]) {
            uint32_t cap = m->cap[j] ? m->cap[j] : 16;
            while (cap < m->n[j] + s->n)
                cap *= 2;
            struct trig *nt = realloc(m->t[j], sizeof(*nt) * cap);
            if (!nt)
                return -ENOMEM;
            m->t[j] = nt;
            m->cap[j] = cap;
        }
        memcpy(m->t[j] + m->n[j], s->t, sizeof(*s->t) * s->n);
        m->n[j] += s->n;
        if (s->score < m->score[j])
            m->score[j] = s->score;
    }
    return 0;
}

/* The merged term, as the only term of out. */
static int kmerge_end(struct tctx *x, struct kmerge *m, struct kdnf *out)
{
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->n = 1;
    for (uint32_t j = 0; j < KMERGE_SETS && rc == 0; j++) {
        if (j > 0 && !m->own[j])
            continue;   /* the same union as the first */
        struct tset u = {false, m->n[j], NULL, m->score[j]};
        u.t = detect_arena_alloc(x->a, sizeof(*u.t) * (u.n ? u.n : 1));
        if (!u.t) {
            rc = -ENOMEM;
            break;
        }
        memcpy(u.t, m->t[j], sizeof(*u.t) * u.n);
        kterm_add(&out->t[0], &u);
    }
    kmerge_free(m);
    return rc;
}

/* One term for all of d's. */
static int kdnf_merge(struct tctx *x, struct kdnf *d)
{
    struct kmerge m;
    if (d->top || d->n <= 1)
        return 0;
    kmerge_init(&m);
    for (uint32_t i = 0; i < d->n; i++) {
        int rc = kmerge_add(&m, &d->t[i]);
        if (rc < 0) {
            kmerge_free(&m);
            return rc;
        }
    }
    return kmerge_end(x, &m, d);
}

static int rule_dnf(struct tctx *x, uint32_t ni, struct kdnf *out, unsigned depth);

static int kdnf_fcond(struct tctx *x, const struct fcond *fc, struct kdnf *out)
{
    struct tset s;
    int rc;

    memset(out, 0, sizeof(*out));
    out->n = 1;
    if (fc->all && !fc->negate && !fc->absent_match) {
        /* every value written must hold: each is a set of the term */
        bool derived = fc->field != FIELD_ANY && x->derived && x->derived[fc->field];
        for (uint32_t i = 0; i < fc->nvm && !derived;) {
            uint32_t e = i;
            while (e < fc->nvm && fc->vms[e].group == fc->vms[i].group)
                e++;
            if ((rc = trig_group(x, fc, i, e, &s)) < 0)
                return rc;
            if (!s.top && s.n && (fc->field == x->weak[0] || fc->field == x->weak[1]))
                s.score = 2;
            if (!kterm_add(&out->t[0], &s)) {
                out->n = 0;
                return 0;
            }
            i = e;
        }
    } else {
        if ((rc = trig_fcond(x, fc, &s)) < 0)
            return rc;
        if (!kterm_add(&out->t[0], &s))
            out->n = 0;
    }
    if (out->n == 1 && out->t[0].n == 0)
        kdnf_top(out);
    return 0;
}

/* d AND k, in place in d. */
static int kdnf_and(struct tctx *x, struct kdnf *d, struct kdnf *k)
{
    int rc;
    if (k->top)
        return 0;
    if (d->top) {
        *d = *k;
        return 0;
    }
    if (d->n == 0 || k->n == 0) {
        d->n = 0;
        return 0;
    }
    /* too many alternatives: merge the larger side, then the other */
    if (d->n * k->n > TKEY_ALTS && (rc = kdnf_merge(x, k->n >= d->n ? k : d)) < 0)
        return rc;
    if (d->n * k->n > TKEY_ALTS && (rc = kdnf_merge(x, k->n == 1 ? d : k)) < 0)
        return rc;
    struct kdnf r;
    memset(&r, 0, sizeof(r));
    for (uint32_t i = 0; i < d->n; i++)
        for (uint32_t j = 0; j < k->n; j++) {
            struct kterm t = d->t[i];
            bool ok = true;
            for (uint32_t s = 0; s < k->t[j].n && ok; s++)
                ok = kterm_add(&t, &k->t[j].s[s]);
            if (ok)
                r.t[r.n++] = t;
        }
    *d = r;
    return 0;
}

static int rule_dnf(struct tctx *x, uint32_t ni, struct kdnf *out, unsigned depth)
{
    const struct node *n = &x->r->nodes[ni];
    struct kdnf *k = NULL;
    struct tset s;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (depth > DETECT_MAX_EVAL_DEPTH) {
        kdnf_top(out);
        return 0;
    }
    switch (n->op) {
    case N_FCOND:
        return kdnf_fcond(x, &x->r->fconds[n->arg], out);
    case N_FALSE:
        return 0;
    case N_AND:
        if (!(k = malloc(sizeof(*k))))
            return -ENOMEM;
        kdnf_top(out);
        for (uint32_t i = 0; i < n->nkids && rc == 0; i++)
            if ((rc = rule_dnf(x, n->kids[i], k, depth + 1)) == 0)
                rc = kdnf_and(x, out, k);
        free(k);
        return rc;
    case N_OR: {
        /* the children's alternatives, merged once there are too many */
        struct kmerge mg;
        bool merging = false;
        if (!(k = malloc(sizeof(*k))))
            return -ENOMEM;
        kmerge_init(&mg);
        for (uint32_t i = 0; i < n->nkids && rc == 0 && !out->top; i++) {
            if ((rc = rule_dnf(x, n->kids[i], k, depth + 1)) < 0)
                break;
            if (k->top) {
                kdnf_top(out);
                break;
            }
            if (!merging && out->n + k->n <= TKEY_ALTS) {
                for (uint32_t j = 0; j < k->n; j++)
                    out->t[out->n++] = k->t[j];
                continue;
            }
            if (!merging) {
                merging = true;
                for (uint32_t j = 0; j < out->n && rc == 0; j++)
                    rc = kmerge_add(&mg, &out->t[j]);
            }
            for (uint32_t j = 0; j < k->n && rc == 0; j++)
                rc = kmerge_add(&mg, &k->t[j]);
        }
        free(k);
        if (rc == 0 && merging && !out->top)
            return kmerge_end(x, &mg, out);
        kmerge_free(&mg);
        return rc;
    }
    case N_ATLEAST:
        /* k of n: the literal set of the graph (any nkids - k + 1 of them) */
        if ((rc = trig_node(x, ni, &s)) < 0)
            return rc;
        out->n = 1;
        if (!kterm_add(&out->t[0], &s))
            out->n = 0;
        else if (out->t[0].n == 0)
            kdnf_top(out);
        return 0;
    default:   /* N_TRUE, N_NOT */
        kdnf_top(out);
        return 0;
    }
}

/* ------------------------------------------------------------ classes */

struct entries {
    uint32_t field;
    struct tindex_entry *e;
    size_t n, cap;
};

static int push_entry(struct entries **buckets, uint32_t *nb, uint32_t *capb, uint32_t field,
                      const struct trig *t, uint32_t key)
{
    uint32_t b;
    for (b = 0; b < *nb; b++)
        if ((*buckets)[b].field == field)
            break;
    if (b == *nb) {
        if (*nb == *capb) {
            uint32_t cap = *capb ? *capb * 2 : 8;
            struct entries *nbk = realloc(*buckets, sizeof(*nbk) * cap);
            if (!nbk)
                return -ENOMEM;
            *buckets = nbk;
            *capb = cap;
        }
        memset(&(*buckets)[b], 0, sizeof(**buckets));
        (*buckets)[b].field = field;
        (*nb)++;
    }
    struct entries *en = &(*buckets)[b];
    if (en->n == en->cap) {
        size_t cap = en->cap ? en->cap * 2 : 16;
        struct tindex_entry *ne = realloc(en->e, sizeof(*ne) * cap);
        if (!ne)
            return -ENOMEM;
        en->e = ne;
        en->cap = cap;
    }
    en->e[en->n].kind = t->kind;
    en->e[en->n].lit = t->lit;
    en->e[en->n].len = t->len;
    en->e[en->n].key = key;
    en->n++;
    return 0;
}

/* Indexes already built, so that classes selecting the same rules (every
 * class carries the product-only rules, for instance) share one. */
struct ixcache {
    uint32_t field;
    struct tindex_entry *e;
    size_t n;
    struct tindex *ix;
};

struct ixcaches {
    struct ixcache *c;
    uint32_t n, cap;
};

static int shared_index(struct detect_engine *eng, struct ixcaches *cache, struct entries *b,
                        struct tindex **out)
{
    for (uint32_t i = 0; i < cache->n; i++) {
        struct ixcache *c = &cache->c[i];
        bool same = c->n == b->n;
        /* member by member: the entries have padding */
        for (size_t k = 0; same && k < b->n; k++)
            same = c->e[k].kind == b->e[k].kind && c->e[k].len == b->e[k].len &&
                   c->e[k].lit == b->e[k].lit && c->e[k].key == b->e[k].key;
        if (same) {
            *out = c->ix;
            return 0;
        }
    }
    struct tindex *ix;
    int rc = tindex_build(b->e, b->n, &ix);
    if (rc < 0)
        return rc;
    struct tindex **nixs = realloc(eng->ixs, sizeof(*nixs) * (eng->nixs + 1));
    if (!nixs) {
        tindex_free(ix);
        return -ENOMEM;
    }
    eng->ixs = nixs;
    eng->ixs[eng->nixs++] = ix;
    eng->index_bytes += tindex_bytes(ix);
    if (cache->n == cache->cap) {
        uint32_t cap = cache->cap ? cache->cap * 2 : 32;
        struct ixcache *nc = realloc(cache->c, sizeof(*nc) * cap);
        if (!nc)
            return -ENOMEM;
        cache->c = nc;
        cache->cap = cap;
    }
    /* the cache keeps the entries: take them from the bucket */
    cache->c[cache->n].field = b->field;
    cache->c[cache->n].e = b->e;
    cache->c[cache->n].n = b->n;
    cache->c[cache->n].ix = ix;
    cache->n++;
    b->e = NULL;
    *out = ix;
    return 0;
}

/* Bits of a rule's key sets (TKEY): the best set of each term first, then
 * the others, a term at a time, while bits remain; -1: not indexed. */
static void kdnf_bits(const struct kdnf *d, int8_t bits[TKEY_ALTS][TKEY_SETS])
{
    int next = 0;
    memset(bits, -1, sizeof(int8_t) * TKEY_ALTS * TKEY_SETS);
    for (uint32_t j = 0; j < TKEY_SETS; j++)
        for (uint32_t t = 0; t < d->n; t++)
            if (j < d->t[t].n && next < TKEY_BITS)
                bits[t][j] = (int8_t)next++;
}

/* A further set of a term is worth its lookups when the class reads its
 * fields anyway (for the terms' best sets) and its literals are found
 * without walking every byte (4 bytes or more when inside the value). */
static bool set_is_cheap(const struct dclass *c, const uint8_t *scanned, uint32_t nfields,
                         const struct tset *s)
{
    for (uint32_t k = 0; k < s->n; k++) {
        uint32_t field = s->t[k].field;
        if (s->t[k].kind == TRIG_ABSENT)
            continue;
        if (s->t[k].kind == TRIG_SUBSTR && s->t[k].len < 4)
            return false;
        if (field == FIELD_ANY) {
            if (!scanned[nfields])
                return false;
            continue;
        }
        if (c->alias && c->alias[field] >= 0)
            field = (uint32_t)c->alias[field];
        if (!scanned[field])
            return false;
    }
    return true;
}

static int build_class_index(struct detect_engine *eng, struct dclass *c,
                             const struct kdnf *keys, struct ixcaches *cache)
{
    struct entries *buckets = NULL;
    uint32_t nb = 0, capb = 0, nf = eng->fields.n;
    int8_t bits[TKEY_ALTS][TKEY_SETS];
    uint8_t *scanned = NULL;
    int rc = 0;

    c->always = detect_arena_alloc(&eng->arena, sizeof(uint32_t) * (c->nrules ? c->nrules : 1));
    c->need = detect_arena_alloc(&eng->arena, sizeof(*c->need) * (eng->nrules ? eng->nrules : 1));
    scanned = calloc(nf + 1, 1);
    if (!c->always || !c->need || !scanned) {
        rc = -ENOMEM;
        goto cleanup;
    }
    /* the fields the terms' best sets make the class read (the last
     * entry: keywords, in every text field) */
    for (uint32_t i = 0; i < c->nrules; i++) {
        const struct kdnf *d = &keys[c->rules[i]];
        for (uint32_t t = 0; !d->top && t < d->n; t++)
            for (uint32_t k = 0; k < d->t[t].s[0].n; k++) {
                uint32_t field = d->t[t].s[0].t[k].field;
                if (field == FIELD_ANY) {
                    scanned[nf] = 1;
                    for (uint32_t x = 0; x < eng->ntext; x++)
                        scanned[eng->text_ids[x]] = 1;
                    continue;
                }
                if (c->alias && c->alias[field] >= 0)
                    field = (uint32_t)c->alias[field];
                scanned[field] = 1;
            }
    }
    for (uint32_t i = 0; i < c->nrules; i++) {
        uint32_t ri = c->rules[i];
        const struct kdnf *d = &keys[ri];
        struct kneed *need = &c->need[ri];
        if (d->top || eng->cfg.no_index) {
            c->always[c->nalways++] = ri;
            need->n = 1;
            need->alt[0] = 1;
            eng->unindexed_rules++;
            continue;
        }
        eng->indexed_rules++;
        kdnf_bits(d, bits);
        need->n = (uint8_t)d->n;
        need->alt[0] = 0xff;   /* never true (no term): no key ever sets it */
        for (uint32_t t = 0; t < d->n; t++) {
            need->alt[t] = 0;
            for (uint32_t j = 0; j < d->t[t].n; j++) {
                const struct tset *s = &d->t[t].s[j];
                if (bits[t][j] < 0 || (j > 0 && !set_is_cheap(c, scanned, nf, s)))
                    continue;
                uint32_t key = TKEY(ri, bits[t][j], j == 0);
                need->alt[t] |= (uint8_t)(1u << bits[t][j]);
                for (uint32_t k = 0; k < s->n; k++) {
                    uint32_t field = s->t[k].field;
                    if (s->t[k].kind == TRIG_ABSENT) {
                        /* checked per event through event_get, which resolves aliases */
                        struct absent_trig *na = realloc(c->absent,
                                                         sizeof(*na) * (c->nabsent + 1));
                        if (!na) {
                            rc = -ENOMEM;
                            goto cleanup;
                        }
                        c->absent = na;
                        c->absent[c->nabsent++] = (struct absent_trig){field, key};
                        continue;
                    }
                    /* an alias reads another field: index that one, shared */
                    if (field != FIELD_ANY && c->alias && c->alias[field] >= 0)
                        field = (uint32_t)c->alias[field];
                    if ((rc = push_entry(&buckets, &nb, &capb, field, &s->t[k], key)) < 0)
                        goto cleanup;
                }
            }
        }
    }
    /* Yamori events: keywords are searched in the text fields, so their
     * literals join those fields' indexes (one scan per value) */
    if (eng->ntext) {
        uint32_t any = UINT32_MAX;
        for (uint32_t b = 0; b < nb; b++)
            if (buckets[b].field == FIELD_ANY)
                any = b;
        if (any != UINT32_MAX) {
            struct entries kw = buckets[any];
            buckets[any] = buckets[--nb];
            for (uint32_t t = 0; t < eng->ntext && rc == 0; t++)
                for (size_t k = 0; k < kw.n && rc == 0; k++) {
                    struct trig tr = {kw.e[k].kind, eng->text_ids[t], kw.e[k].len, kw.e[k].lit};
                    rc = push_entry(&buckets, &nb, &capb, eng->text_ids[t], &tr, kw.e[k].key);
                }
            free(kw.e);
            if (rc < 0)
                goto cleanup;
        }
    }
    c->fidx = detect_arena_alloc(&eng->arena, sizeof(*c->fidx) * (nb ? nb : 1));
    c->ixbits = detect_arena_alloc(&eng->arena, sizeof(uint64_t) * ((nf + 63) / 64 + 1));
    c->fidx_of = detect_arena_alloc(&eng->arena, sizeof(uint16_t) * (nf ? nf : 1));
    c->fidx_other = detect_arena_alloc(&eng->arena, sizeof(uint32_t) * (nb ? nb : 1));
    if (!c->fidx || !c->ixbits || !c->fidx_of || !c->fidx_other) {
        rc = -ENOMEM;
        goto cleanup;
    }
    for (uint32_t b = 0; b < nb; b++) {
        struct tindex *ix;
        if ((rc = shared_index(eng, cache, &buckets[b], &ix)) < 0)
            goto cleanup;
        c->fidx[c->nfidx].field = buckets[b].field;
        c->fidx[c->nfidx].mapped = buckets[b].field != FIELD_ANY && c->alias &&
                                   c->alias[buckets[b].field] != -1;
        c->fidx[c->nfidx].memo = tindex_walks(ix);
        c->fidx[c->nfidx].ix = ix;
        /* read from the field's slot when the event set it; the others
         * (FIELD_ANY, a field the class maps) are looked at every time */
        uint32_t f = buckets[b].field;
        if (f != FIELD_ANY && !c->fidx[c->nfidx].mapped && c->nfidx <= UINT16_MAX) {
            c->ixbits[f >> 6] |= 1ull << (f & 63);
            c->fidx_of[f] = (uint16_t)c->nfidx;
        } else {
            c->fidx_other[c->nfidx_other++] = c->nfidx;
        }
        c->nfidx++;
    }
cleanup:
    for (uint32_t b = 0; b < nb; b++)
        free(buckets[b].e);
    free(buckets);
    free(scanned);
    return rc;
}

static void logsource_text(const struct rule *r, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s%s%s", r->info.product ? "product: " : "",
             r->info.product ? r->info.product : "",
             r->info.category ? (r->info.product ? ", category: " : "category: ") : "",
             r->info.category ? r->info.category : "",
             r->info.service ? (r->info.product || r->info.category ? ", service: "
                                                                    : "service: ")
                             : "",
             r->info.service ? r->info.service : "");
}

/* Collects the fields a rule reads. */
static bool rule_reads(const struct rule *r, uint32_t id)
{
    for (uint32_t i = 0; i < r->nfconds; i++) {
        const struct fcond *fc = &r->fconds[i];
        if (fc->field == id)
            return true;
        for (uint32_t v = 0; v < fc->nvm; v++)
            if (fc->vms[v].kind == VM_FIELDREF && fc->vms[v].ref == id)
                return true;
    }
    return false;
}

static int build_yamori_classes(struct detect_engine *eng, detect_diag_fn fn, void *ctx)
{
    /* the mapping's fields first, so that every id exists before the
     * per-class alias tables are sized */
    for (size_t c = 0; c < fieldmap_nclasses; c++) {
        const struct fieldmap_class *fc = &fieldmap_classes[c];
        for (const struct fieldmap_alias *a = fc->aliases; a->sigma; a++)
            if (detect_strtab_find(&eng->fields, a->sigma, strlen(a->sigma)) >= 0 &&
                detect_strtab_intern(&eng->fields, a->yamori, strlen(a->yamori)) < 0)
                return -ENOMEM;
        for (const struct fieldmap_derived *d = fc->derived; d->sigma; d++)
            if (detect_strtab_find(&eng->fields, d->sigma, strlen(d->sigma)) >= 0 && d->src &&
                detect_strtab_intern(&eng->fields, d->src, strlen(d->src)) < 0)
                return -ENOMEM;
    }
    size_t ntext = 0;
    while (fieldmap_text_fields[ntext])
        ntext++;
    eng->text_ids = detect_arena_alloc(&eng->arena, sizeof(uint32_t) * ntext);
    if (!eng->text_ids)
        return -ENOMEM;
    for (size_t i = 0; i < ntext; i++) {
        int32_t id = detect_strtab_intern(&eng->fields, fieldmap_text_fields[i],
                                   strlen(fieldmap_text_fields[i]));
        if (id < 0)
            return -ENOMEM;
        eng->text_ids[eng->ntext++] = (uint32_t)id;
    }
    uint32_t nfields = eng->fields.n;
    eng->nclasses = (uint32_t)fieldmap_nclasses;
    eng->classes = detect_arena_alloc(&eng->arena, sizeof(*eng->classes) * eng->nclasses);
    if (!eng->classes)
        return -ENOMEM;
    for (size_t c = 0; c < fieldmap_nclasses; c++) {
        const struct fieldmap_class *fc = &fieldmap_classes[c];
        struct dclass *dc = &eng->classes[c];
        dc->name = fc->name;
        dc->alias = detect_arena_alloc(&eng->arena, sizeof(int32_t) * (nfields ? nfields : 1));
        dc->derived = detect_arena_alloc(&eng->arena, sizeof(struct derive) * 8);
        dc->rules = detect_arena_alloc(&eng->arena,
                                       sizeof(uint32_t) * (eng->nrules ? eng->nrules : 1));
        if (!dc->alias || !dc->derived || !dc->rules)
            return -ENOMEM;
        for (uint32_t f = 0; f < nfields; f++)
            dc->alias[f] = -1;
        for (const struct fieldmap_alias *a = fc->aliases; a->sigma; a++) {
            int32_t s = detect_strtab_find(&eng->fields, a->sigma, strlen(a->sigma));
            int32_t t = detect_strtab_find(&eng->fields, a->yamori, strlen(a->yamori));
            if (s >= 0 && t >= 0 && s != t)
                dc->alias[s] = t;
        }
        for (const struct fieldmap_derived *d = fc->derived; d->sigma && dc->nderived < 8; d++) {
            int32_t s = detect_strtab_find(&eng->fields, d->sigma, strlen(d->sigma));
            if (s < 0)
                continue;
            struct derive *dv = &dc->derived[dc->nderived];
            dv->kind = d->kind == FIELDMAP_CONST ? DERIVE_CONST
                     : d->kind == FIELDMAP_PREFIX_UPPER ? DERIVE_PREFIX_UPPER : DERIVE_IS_IPV6;
            dv->src = d->src
                          ? (uint32_t)detect_strtab_find(&eng->fields, d->src, strlen(d->src))
                          : 0;
            dv->text = d->text;
            dv->text_len = d->text ? (uint32_t)strlen(d->text) : 0;
            dc->alias[s] = -(2 + (int32_t)dc->nderived);
            dc->nderived++;
        }
        dc->mapped = detect_arena_alloc(&eng->arena, sizeof(uint32_t) * (nfields ? nfields : 1));
        if (!dc->mapped)
            return -ENOMEM;
        for (uint32_t f = 0; f < nfields; f++)
            if (dc->alias[f] != -1)
                dc->mapped[dc->nmapped++] = f;
        for (uint32_t i = 0; i < eng->nrules; i++) {
            struct rule *r = eng->rules[i];
            if (r->corr)
                continue;
            if (fieldmap_selects(fc, r->info.product, r->info.category, r->info.service)) {
                dc->rules[dc->nrules++] = i;
                r->info.active = true;
            }
        }
    }
    /* the keys that pick a class */
    eng->class_of_key = detect_arena_alloc(&eng->arena, sizeof(int32_t) * 128);
    if (!eng->class_of_key)
        return -ENOMEM;
    for (size_t c = 0; c < fieldmap_nclasses; c++) {
        const struct fieldmap_class *fc = &fieldmap_classes[c];
        bool logon = fc->event_type && strcmp(fc->event_type, "logon") == 0;
        char key[96];
        for (const char *const *a = fc->action_types; *a; a++) {
            /* a logon's class depends on its Protocol: the ActionType only
             * says "look at the protocol" (-2) */
            int32_t id = detect_strtab_intern(&eng->class_keys, *a, strlen(*a));
            if (id < 0)
                return -ENOMEM;
            if (id >= 128)
                return -E2BIG;
            eng->class_of_key[id] = logon ? -2 : (int32_t)c;
        }
        if (logon && fc->protocol) {
            snprintf(key, sizeof(key), "logon:%s", fc->protocol);
            int32_t id = detect_strtab_intern(&eng->class_keys, key, strlen(key));
            if (id < 0)
                return -ENOMEM;
            if (id >= 128)
                return -E2BIG;
            eng->class_of_key[id] = (int32_t)c;
        }
    }
    eng->class_other = (int32_t)fieldmap_fallback(NULL, 0);
    eng->class_logon_other = (int32_t)fieldmap_fallback("logon", 5);
    /* warnings: rules no event selects, fields the schema never has */
    for (uint32_t i = 0; i < eng->nrules; i++) {
        struct rule *r = eng->rules[i];
        char ls[256];
        if (r->corr)
            continue;
        if (!r->info.active) {
            logsource_text(r, ls, sizeof(ls));
            rule_report(fn, ctx, r, DETECT_WARNING, DETECT_DIAG_LOGSOURCE, 0, 0, "log source",
                        "log source (%s) is not produced by Yamori: the rule loads but no "
                        "Yamori event selects it", ls[0] ? ls : "empty");
            continue;
        }
        for (uint32_t f = 0; f < eng->fields.n; f++) {
            const char *name = detect_strtab_name(&eng->fields, f);
            if (!rule_reads(r, f) || fieldmap_schema_field(name))
                continue;
            bool mapped = false, to_schema = false;
            const char *target = NULL;
            for (size_t c = 0; c < fieldmap_nclasses; c++) {
                const struct fieldmap_class *fc = &fieldmap_classes[c];
                if (!fieldmap_selects(fc, r->info.product, r->info.category, r->info.service) ||
                    !fieldmap_class_field(fc, name))
                    continue;
                mapped = true;
                for (const struct fieldmap_alias *a = fc->aliases; a->sigma; a++)
                    if (strcmp(a->sigma, name) == 0) {
                        target = a->yamori;
                        to_schema |= fieldmap_schema_field(a->yamori);
                    }
                for (const struct fieldmap_derived *d = fc->derived; d->sigma; d++)
                    if (strcmp(d->sigma, name) == 0)
                        to_schema = true;
            }
            if (!mapped && fieldmap_reserved_field(name))
                rule_report(fn, ctx, r, DETECT_WARNING, DETECT_DIAG_FIELD, 0, 0, "field",
                            "field '%s' is reserved in Yamori's schema and events do not "
                            "carry it yet", name);
            else if (!mapped)
                rule_report(fn, ctx, r, DETECT_WARNING, DETECT_DIAG_FIELD, 0, 0, "field",
                            "field '%s' is neither in Yamori's event schema nor mapped for "
                            "this log source: the rule can only match events that carry it",
                            name);
            else if (!to_schema)
                rule_report(fn, ctx, r, DETECT_WARNING, DETECT_DIAG_FIELD, 0, 0, "field",
                            "field '%s' reads '%s', which Yamori events do not carry yet",
                            name, target ? target : "?");
        }
    }
    return 0;
}

static int build_flat_class(struct detect_engine *eng)
{
    eng->nclasses = 1;
    eng->classes = detect_arena_alloc(&eng->arena, sizeof(*eng->classes));
    if (!eng->classes)
        return -ENOMEM;
    struct dclass *dc = &eng->classes[0];
    dc->name = "all";
    dc->rules = detect_arena_alloc(&eng->arena, sizeof(uint32_t) * (eng->nrules ? eng->nrules : 1));
    if (!dc->rules)
        return -ENOMEM;
    for (uint32_t i = 0; i < eng->nrules; i++) {
        if (eng->rules[i]->corr)
            continue;
        dc->rules[dc->nrules++] = i;
        eng->rules[i]->info.active = true;
    }
    eng->class_other = 0;
    eng->class_logon_other = 0;
    return 0;
}

int detect_engine_compile(struct detect_engine *eng, detect_diag_fn fn, void *ctx, char *err,
                          size_t errlen)
{
    struct detect_arena tmp;
    struct kdnf *keys = NULL;
    struct tctx x;
    struct ixcaches cache = {NULL, 0, 0};
    int rc;

    if (!eng)
        return -EINVAL;
    if (eng->compiled) {
        snprintf(err, errlen, "the engine is already compiled");
        return -EBUSY;
    }
    detect_arena_init(&tmp, 0);
    memset(&x, 0, sizeof(x));
    int32_t ids[4];
    ids[0] = detect_strtab_intern(&eng->fields, "ActionType", 10);
    ids[1] = detect_strtab_intern(&eng->fields, "EventType", 9);
    ids[2] = detect_strtab_intern(&eng->fields, "Protocol", 8);
    ids[3] = detect_strtab_intern(&eng->fields, eng->cfg.time_field, strlen(eng->cfg.time_field));
    if (ids[0] < 0 || ids[1] < 0 || ids[2] < 0 || ids[3] < 0) {
        rc = -ENOMEM;
        goto cleanup;
    }
    eng->id_action_type = (uint32_t)ids[0];
    eng->id_event_type = (uint32_t)ids[1];
    eng->id_protocol = (uint32_t)ids[2];
    eng->id_time = (uint32_t)ids[3];
    if ((rc = resolve_correlations(eng, fn, ctx)) < 0)
        goto cleanup;
    rc = eng->cfg.schema == DETECT_SCHEMA_YAMORI ? build_yamori_classes(eng, fn, ctx)
                                                 : build_flat_class(eng);
    if (rc < 0)
        goto cleanup;
    /* the literals each rule needs */
    keys = calloc(eng->nrules ? eng->nrules : 1, sizeof(*keys));
    if (!keys) {
        rc = -ENOMEM;
        goto cleanup;
    }
    x.a = &tmp;
    x.weak[0] = x.weak[1] = UINT32_MAX;
    if (eng->cfg.schema == DETECT_SCHEMA_YAMORI) {
        x.weak[0] = eng->id_event_type;
        x.weak[1] = eng->id_action_type;
        uint8_t *der = detect_arena_alloc(&tmp, eng->fields.n ? eng->fields.n : 1);
        if (!der) {
            rc = -ENOMEM;
            goto cleanup;
        }
        for (size_t c = 0; c < fieldmap_nclasses; c++)
            for (const struct fieldmap_derived *d = fieldmap_classes[c].derived; d->sigma; d++) {
                int32_t id = detect_strtab_find(&eng->fields, d->sigma, strlen(d->sigma));
                if (id >= 0)
                    der[id] = 1;
            }
        x.derived = der;
    }
    for (uint32_t i = 0; i < eng->nrules; i++) {
        struct rule *r = eng->rules[i];
        if (r->corr || !r->info.active)
            continue;
        x.r = r;
        x.memo = calloc(r->nnodes, sizeof(*x.memo));
        x.done = calloc(r->nnodes, 1);
        if (!x.memo || !x.done) {
            free(x.memo);
            free(x.done);
            rc = -ENOMEM;
            goto cleanup;
        }
        rc = rule_dnf(&x, r->root, &keys[i], 0);
        free(x.memo);
        free(x.done);
        if (rc < 0)
            goto cleanup;
        r->indexed = !keys[i].top;
    }
    for (uint32_t c = 0; c < eng->nclasses; c++)
        if ((rc = build_class_index(eng, &eng->classes[c], keys, &cache)) < 0)
            goto cleanup;
    eng->compiled = true;
    rc = 0;
cleanup:
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory compiling the rules");
    else if (rc < 0)
        snprintf(err, errlen, "compiling the rules failed: %s", strerror(-rc));
    free(keys);
    for (uint32_t i = 0; i < cache.n; i++)
        free(cache.c[i].e);
    free(cache.c);
    detect_arena_free(&tmp);
    return rc;
}
