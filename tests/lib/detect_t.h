/*
 * detect_t.h — helpers shared by the rule engine's tests (tests/unit/
 * test_detect_*.c): engines from YAML text, events from JSON text, matches
 * and diagnostics collected. Header-only: static functions, each test file
 * uses some of them.
 */
#ifndef YAMORI_TESTS_DETECT_T_H
#define YAMORI_TESTS_DETECT_T_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "detect/detect.h"

#define T_HELPER static __attribute__((unused))
#define T_MAX_DIAGS 64
#define T_MAX_HITS 32

struct t_diag {
    int errors, warnings;
    struct {
        enum detect_severity sev;
        enum detect_diag_kind kind;
        unsigned line, col;
        char feature[128];
        char message[1024];
    } d[T_MAX_DIAGS];
    int n;
};

T_HELPER void t_on_diag(void *ctx, const struct detect_diag *d)
{
    struct t_diag *t = ctx;
    if (d->severity == DETECT_ERROR)
        t->errors++;
    else
        t->warnings++;
    if (t->n < T_MAX_DIAGS) {
        t->d[t->n].sev = d->severity;
        t->d[t->n].kind = d->kind;
        t->d[t->n].line = d->line;
        t->d[t->n].col = d->col;
        snprintf(t->d[t->n].feature, sizeof(t->d[t->n].feature), "%s",
                 d->feature ? d->feature : "");
        snprintf(t->d[t->n].message, sizeof(t->d[t->n].message), "%s", d->message);
        t->n++;
    }
}

/* The first error (or NULL). */
T_HELPER const char *t_first_error(const struct t_diag *t)
{
    for (int i = 0; i < t->n; i++)
        if (t->d[i].sev == DETECT_ERROR)
            return t->d[i].message;
    return NULL;
}

T_HELPER int t_error_index(const struct t_diag *t)
{
    for (int i = 0; i < t->n; i++)
        if (t->d[i].sev == DETECT_ERROR)
            return i;
    return -1;
}

/* An engine with the rules of `yaml` (NULL cfg: defaults, schema given),
 * compiled; NULL when creation or compilation failed. */
T_HELPER struct detect_engine *t_engine_cfg(const struct detect_config *cfg,
                                            const char *yaml, struct t_diag *dg, int *loaded)
{
    char err[256];
    struct detect_engine *eng = detect_engine_new(cfg, err, sizeof(err));
    if (!eng)
        return NULL;
    int n = detect_engine_add(eng, "test.yml", yaml, strlen(yaml), t_on_diag, dg);
    if (loaded)
        *loaded = n;
    if (detect_engine_compile(eng, t_on_diag, dg, err, sizeof(err)) < 0) {
        detect_engine_free(eng);
        return NULL;
    }
    return eng;
}

T_HELPER struct detect_engine *t_engine(enum detect_schema schema, const char *yaml,
                                        struct t_diag *dg, int *loaded)
{
    struct detect_config cfg;
    detect_config_default(&cfg);
    cfg.schema = schema;
    return t_engine_cfg(&cfg, yaml, dg, loaded);
}

struct t_hits {
    int n, ncorr, nsuppressed;
    char title[T_MAX_HITS][128];
    char group[T_MAX_HITS][256];
    uint64_t count[T_MAX_HITS];
    int kind[T_MAX_HITS];
    int nev[T_MAX_HITS];         /* evidence kept (at most 16) */
    int nev_total[T_MAX_HITS];   /* evidence reported */
    char ev_field[T_MAX_HITS][16][64];
    char ev_event_field[T_MAX_HITS][16][64];
    char ev_value[T_MAX_HITS][16][128];
    char ev_pattern[T_MAX_HITS][16][128];
};

T_HELPER int t_on_match(void *ctx, const struct detect_match *m)
{
    struct t_hits *h = ctx;
    if (h->n >= T_MAX_HITS)
        return 0;
    int i = h->n++;
    snprintf(h->title[i], sizeof(h->title[i]), "%s", m->rule->title);
    h->kind[i] = m->kind;
    h->ncorr += m->kind == DETECT_MATCH_CORRELATION;
    h->nsuppressed += m->suppressed;
    snprintf(h->group[i], sizeof(h->group[i]), "%s", m->group ? m->group : "");
    h->count[i] = m->count;
    h->nev[i] = m->n_evidence < 16 ? (int)m->n_evidence : 16;
    h->nev_total[i] = (int)m->n_evidence;
    for (size_t k = 0; k < m->n_evidence && k < 16; k++) {
        const struct detect_evidence *e = &m->evidence[k];
        snprintf(h->ev_field[i][k], 64, "%s", e->field);
        snprintf(h->ev_event_field[i][k], 64, "%s", e->event_field ? e->event_field : "");
        snprintf(h->ev_value[i][k], 128, "%.*s", (int)e->value_len, e->value);
        snprintf(h->ev_pattern[i][k], 128, "%s", e->pattern);
    }
    return 0;
}

/* Matches one JSON event; returns detect_match()'s result (or -EINVAL for
 * bad JSON); hits are appended to h. */
T_HELPER int t_match(struct detect_engine *eng, struct detect_stream *st, const char *json,
                     struct t_hits *h)
{
    char err[256];
    struct detect_event *ev = detect_event_new(eng, err, sizeof(err));
    int rc;
    if (!ev)
        return -ENOMEM;
    rc = detect_event_set_json(ev, json, strlen(json), err, sizeof(err));
    if (rc == 0)
        rc = detect_match(ev, st, t_on_match, h);
    detect_event_free(ev);
    return rc;
}

/* Whether `title` is among the hits. */
T_HELPER bool t_hit(const struct t_hits *h, const char *title)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->title[i], title) == 0)
            return true;
    return false;
}

/* One rule (the detection body given) on one flat JSON event: 1 matched,
 * 0 did not, < 0 the rule did not load (message in dg). */
T_HELPER int t_rule_matches(const char *detection, const char *json, struct t_diag *dg)
{
    char yaml[8192];
    struct t_hits h;
    memset(&h, 0, sizeof(h));
    snprintf(yaml, sizeof(yaml),
             "title: T\nlogsource:\n    product: test\ndetection:\n%s\n", detection);
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, yaml, dg, NULL);
    if (!eng)
        return -ENOMEM;
    if (detect_engine_rule_count(eng) != 1) {
        detect_engine_free(eng);
        return -EINVAL;
    }
    int rc = t_match(eng, NULL, json, &h);
    detect_engine_free(eng);
    if (rc < 0)
        return rc;
    return h.n > 0;
}


#endif
