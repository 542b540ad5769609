/*
 * detect_int.h — the engine's private data structures, shared by its
 * modules (rule compiler, value patterns, literal index, matcher,
 * correlation). Nothing here is part of the API (detect.h).
 *
 * A compiled rule is a small graph of nodes (and, or, not, "at least k of")
 * over field conditions; a field condition holds the value matchers of one
 * `Field|modifiers: values` line. Field names are interned ids. The engine
 * groups rules into event classes (what a log source selects) and indexes
 * each class by the literals its rules require.
 */
#ifndef YAMORI_DETECT_INT_H
#define YAMORI_DETECT_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detect/arena.h"
#include "detect/detect.h"
#include "detect/strtab.h"

/* ------------------------------------------------------------ limits */

#define DETECT_MAX_VALUE_BYTES   65536u   /* one rule value */
#define DETECT_MAX_REGEX_BYTES   16384u   /* one regular expression */
#define DETECT_MAX_NODES_RULE    65536u   /* condition graph nodes per rule */
#define DETECT_MAX_IDENTIFIERS   4096u    /* search identifiers per rule */
#define DETECT_MAX_VARIANTS      4096u    /* values one rule value may expand to */
#define DETECT_MAX_EVAL_DEPTH    192u     /* nesting of a rule's graph */
#define DETECT_MAX_LITERAL       64u      /* bytes of a literal kept in an index */
#define DETECT_MAX_EVENT_VALUES  65536u   /* values set on one event */
#define DETECT_MAX_CORR_REFS     64u      /* rules one correlation references */
#define DETECT_MAX_GROUP_KEY     1024u    /* bytes of a group-by key kept */

#define FIELD_ANY UINT32_MAX              /* keywords: any field of the event */

/* ------------------------------------------------------------ values */

/* Literals one of which occurs in every match of a regular expression
 * (folded; anchor: the least common byte of each, for pattern_find). */
struct relit_set {
    uint32_t n;
    const uint8_t *const *lit;
    const uint32_t *len;
    const uint32_t *anchor;
};

enum vm_kind {
    VM_GLOB,        /* wildcard pattern: exact, prefix, suffix, contains, general */
    VM_RE,          /* PCRE2 */
    VM_CIDR,        /* IPv4 or IPv6 network */
    VM_NUM,         /* lt, lte, gt, gte */
    VM_TIME,        /* minute, hour, day, week, month, year (+ comparison) */
    VM_NULL,        /* null: absent or empty */
    VM_EXISTS,      /* exists: true/false */
    VM_FIELDREF,    /* equal (prefix, suffix, contains) to another field */
};

enum glob_shape { G_EXACT, G_PREFIX, G_SUFFIX, G_CONTAINS, G_ANY, G_GENERAL };
enum cmp_op { CMP_EQ, CMP_LT, CMP_LTE, CMP_GT, CMP_GTE };
enum time_part { TP_NONE, TP_MINUTE, TP_HOUR, TP_DAY, TP_WEEK, TP_MONTH, TP_YEAR };
enum piece_kind { PC_LIT, PC_ANY1, PC_DASH };

/* A piece of a wildcard segment: literal bytes, one character (`?`), or
 * one of the dashes `windash` accepts (- / en dash, em dash, horizontal bar). */
struct piece {
    uint8_t kind;
    uint32_t off, len;         /* PC_LIT: bytes[off .. off+len) */
};

/* A segment: the pieces between two `*`. */
struct seg {
    uint32_t p0, np;
};

struct vm {
    uint8_t kind;              /* enum vm_kind */
    uint8_t shape;             /* VM_GLOB, VM_FIELDREF: enum glob_shape */
    uint8_t op;                /* VM_NUM, VM_TIME: enum cmp_op */
    uint8_t time_part;         /* VM_TIME */
    bool cased;                /* compare bytes exactly (else ASCII case folded) */
    bool exists;               /* VM_EXISTS: the value */
    bool anch_start, anch_end; /* VM_GLOB: no `*` at the start / end */
    uint8_t family, prefix;    /* VM_CIDR: 4 or 6, prefix bits */
    uint8_t addr[16];          /* VM_CIDR: network (host bits cleared) */
    uint32_t ref;              /* VM_FIELDREF: field id */
    uint32_t group;            /* the value written in the rule this vm comes
                                * from (expansions: base64offset, placeholders) */
    uint32_t lit_len;
    uint32_t anchor;           /* simple shapes: the literal's least common byte */
    const uint8_t *lit;        /* simple shapes: the literal (folded unless cased) */
    const uint8_t *bytes;      /* VM_GLOB: literal storage (folded unless cased) */
    const uint8_t *tbytes;     /* the same, always folded (index literals) */
    const struct piece *pieces;
    const struct seg *segs;
    uint32_t nseg;
    double num;                /* VM_NUM, VM_TIME */
    pcre2_code *re;            /* VM_RE (owned by the rule) */
    uint32_t minlen;           /* VM_RE: no match in fewer bytes (PCRE2's
                                * minimum length, in characters) */
    uint32_t nrelit;           /* VM_RE: mandatory literals, one of which occurs */
    const uint8_t *const *relit;
    const uint32_t *relit_len;
    uint32_t nreq;             /* VM_RE: every such set the expression has, */
    const struct relit_set *req;   /* tried before running it */
    const char *text;          /* the value as the rule wrote it */
    uint64_t need;             /* VM_GLOB: a bit (detect_byte_bit) for each
                                * byte every match contains; 0: not known */
};

/* One `Field|modifiers: values` (or a keyword list). */
struct fcond {
    uint32_t field;            /* field id, or FIELD_ANY for keywords */
    const char *spec;          /* "CommandLine|contains|all" as written */
    const char *field_name;    /* "CommandLine"; NULL for keywords */
    bool all;                  /* values AND-ed (`|all`): every group has a
                                * vm that matches */
    uint32_t ngroups;          /* values as written (vms are in group order) */
    bool negate;               /* `|neq` */
    bool absent_match;         /* result for an absent field, before negate */
    uint32_t nvm;
    struct vm *vms;
    /* A list of values that are all exact, prefix or suffix literals
     * (`Image|endswith: [/whoami, /id, ...]`): the only values that can
     * hold are those whose first (exact, prefix) or last (suffix) byte is
     * the value's, so they are listed by that byte (its low 6 bits, folded
     * unless cased): bucket b is vms dvm[dstart[b] .. dstart[b + 1]), in
     * list order. pattern_fcond builds it for 4 values or more. */
    uint8_t dispatch;          /* enum fcond_dispatch */
    const uint16_t *dstart;    /* 65 entries */
    const uint16_t *dvm;
    unsigned line, col;
};

enum fcond_dispatch { DISPATCH_NONE, DISPATCH_FIRST, DISPATCH_LAST };

/* ------------------------------------------------------------ rules */

enum node_op { N_FCOND, N_AND, N_OR, N_NOT, N_ATLEAST, N_FALSE, N_TRUE };

struct node {
    uint8_t op;
    uint32_t arg;              /* N_FCOND: fcond index; N_ATLEAST: k */
    uint32_t nkids;
    const uint32_t *kids;      /* node indices */
};

enum corr_type { CORR_EVENT_COUNT, CORR_VALUE_COUNT, CORR_TEMPORAL, CORR_TEMPORAL_ORDERED };

/* A correlation condition; each bound is optional, all given ones must hold. */
struct corr_cond {
    bool has_gt, has_gte, has_lt, has_lte, has_eq, has_neq;
    int64_t gt, gte, lt, lte, eq, neq;
};

struct corr_alias {
    const char *name;
    uint32_t n;
    const char **rule_names;   /* referenced rule name -> field */
    const char **fields;
};

struct corr_def {
    enum corr_type type;
    int64_t span_ns;
    uint32_t nrefs;
    const char **refs;         /* as written: name or id */
    unsigned *ref_line, *ref_col;
    uint32_t *ref_rules;       /* resolved rule indices (compile) */
    bool refs_ok;              /* every reference resolved */
    uint32_t ngroup;
    const char **group;        /* group-by names (may be aliases) */
    uint32_t *group_ids;       /* [ref * ngroup + g]: field id per referenced rule */
    uint32_t nvfield;          /* value_count: fields */
    const char **vfields;
    uint32_t *vfield_ids;      /* [ref * nvfield + i] */
    uint32_t naliases;
    struct corr_alias *aliases;
    struct corr_cond cond;
    bool has_cond;
    bool generate;
    bool window_close;         /* the condition has an upper bound: evaluate
                                * when the window closes, not on each event */
    int64_t threshold;         /* lower bound implied by the condition (>= 1) */
    unsigned line, col;
};

struct rule {
    struct detect_rule_info info;
    uint32_t index;
    struct detect_arena arena;        /* everything below lives here */
    /* detection */
    struct node *nodes;
    uint32_t nnodes, root;
    struct fcond *fconds;
    uint32_t nfconds;
    pcre2_code **res;          /* owned regexes */
    uint32_t nres, capres;
    /* correlation (NULL for a detection rule) */
    struct corr_def *corr;
    uint32_t corr_slot;        /* index among correlations (stream state) */
    /* compile */
    uint32_t *feeds;           /* correlations referencing this rule */
    uint32_t nfeeds;
    bool suppressed;
    bool dropped;              /* refused at compile (unresolved reference) */
    bool indexed;              /* some literal is required (else evaluated always) */
};

/* ------------------------------------------------------------ literal index */

/* TRIG_ABSENT: not a literal; the rule is a candidate when the field is
 * absent or empty (a selection `Field: null`). */
enum trig_kind { TRIG_EXACT, TRIG_PREFIX, TRIG_SUFFIX, TRIG_SUBSTR, TRIG_ABSENT };

/* A literal one of whose occurrences is necessary for a rule to match. */
struct trig {
    uint8_t kind;
    uint32_t field;            /* field id or FIELD_ANY */
    uint32_t len;
    const uint8_t *lit;        /* ASCII folded */
};

struct tindex;                 /* tindex.h */

struct findex {
    uint32_t field;            /* field id or FIELD_ANY */
    bool mapped;               /* the class maps or derives it (else an unset
                                * field is absent unless a lookup is set) */
    bool memo;                 /* scans walk: remember them per value */
    struct tindex *ix;
};

/* Derived values of a field in a class (schema mapping). */
enum derive_kind { DERIVE_CONST, DERIVE_PREFIX_UPPER, DERIVE_IS_IPV6 };

struct derive {
    uint8_t kind;
    uint32_t src;              /* field id read */
    const char *text;          /* DERIVE_CONST: the value; PREFIX: the prefix */
    uint32_t text_len;
};

/* What makes a rule a candidate (tindex.h, TKEY): one of its alternatives
 * (terms) has a hit for each of its key sets; alt[t] has bit b for set b. */
#define TKEY_ALTS 4

struct kneed {
    uint8_t n;                 /* alternatives; 0: never a candidate */
    uint8_t alt[TKEY_ALTS];
};

/* The rules one kind of event is matched against, and their index. */
struct dclass {
    const char *name;
    uint32_t *rules;           /* rule indices, ascending */
    uint32_t nrules;
    uint32_t *always;          /* rules without a required literal */
    uint32_t nalways;
    struct kneed *need;        /* per rule: the key sets it needs hit */
    struct findex *fidx;
    uint32_t nfidx;
    uint64_t *ixbits;          /* fields with an index read from their slot
                                * (bit per id; not mapped, not FIELD_ANY) */
    uint16_t *fidx_of;         /* per such field id: its fidx entry */
    uint32_t *fidx_other;      /* the other fidx entries (mapped, FIELD_ANY) */
    uint32_t nfidx_other;
    struct absent_trig {       /* rules that need a field absent or empty */
        uint32_t field, key;   /* key: TKEY(rule, set), tindex.h */
    } *absent;
    uint32_t nabsent;
    int32_t *alias;            /* per field id: >= 0 source field, -1 none,
                                * <= -2 derived value -(2 + i); NULL: none */
    struct derive *derived;
    uint32_t nderived;
    uint32_t *mapped;          /* ids this class maps (alias or derived) */
    uint32_t nmapped;
};

/* ------------------------------------------------------------ engine */

struct detect_engine {
    struct detect_config cfg;
    struct detect_arena arena;        /* config copies, classes, indexes */
    struct detect_strtab fields;
    struct rule **rules;
    uint32_t nrules, caprules;
    bool compiled;
    struct dclass *classes;
    uint32_t nclasses;
    struct detect_strtab class_keys;  /* Yamori: ActionType (logon: "logon:" Protocol) */
    int32_t *class_of_key;     /* key id -> class */
    int32_t class_other;       /* class for events of no known type */
    int32_t class_logon_other;
    uint32_t id_action_type, id_event_type, id_protocol, id_time;
    uint32_t ncorr;
    struct rule **corrs;       /* correlation rules, by corr_slot */
    size_t index_bytes;
    size_t indexed_rules, unindexed_rules;
    uint32_t *text_ids;        /* Yamori: the fields keywords search (fieldmap.h) */
    uint32_t ntext;
    struct tindex **ixs;       /* the distinct literal indexes (classes share them) */
    uint32_t nixs;
};

/* ------------------------------------------------------------ events */

/* A field's value for the current event: tag is the event's gen (even)
 * when the field was resolved as absent, gen + 1 when it holds p[0..len),
 * anything else when it was neither set nor resolved since the last clear. */
struct slot {
    const char *p;
    uint32_t len;
    uint32_t tag;
};

struct evval {
    int32_t id;                /* field id or -1 */
    const char *name;
    uint32_t nlen;
    const char *v;
    uint32_t vlen;
};

struct scratch_block;

/* The keys a scan of a literal index found in a value, remembered per
 * event object: the same few values (a parent's path, a user, a working
 * directory) come back event after event, and a lookup here costs a hash
 * and a compare where the scan walks the value. Two ways per set, by the
 * hash of (index, value); short values with few keys only; a value is
 * kept the second time it is seen. */
#define SCAN_MEMO_SLOTS 1024
#define SCAN_MEMO_BYTES 56
#define SCAN_MEMO_KEYS  32
#define SCAN_MEMO_SEEN  1024

struct scan_memo {
    const struct tindex *ix;   /* NULL: empty */
    uint64_t hash;
    uint64_t used;             /* events counter at the last use */
    uint32_t len, nkeys;
    uint32_t keys[SCAN_MEMO_KEYS];
    char value[SCAN_MEMO_BYTES];
};

/* Field names seen by this event object, in a small direct-mapped cache
 * keyed by their first and last bytes: an event source uses the same few
 * dozen names over and over, and comparing a name with the cached copy is
 * cheaper than hashing it whole. */
#define EVENT_NAME_CACHE 1024
#define EVENT_NAME_MAX   40

struct name_pred {
    int32_t id;                /* field id, -1: not interned, -2: empty */
    uint32_t nlen;
    char name[EVENT_NAME_MAX];
};

struct detect_event {
    const struct detect_engine *eng;
    struct slot *slots;
    uint32_t nslots;
    uint64_t *setbits;               /* fields the caller set (bit per id) */
    uint32_t gen;                    /* even, never 0 (struct slot) */
    bool flat;                       /* the flat schema (values also listed) */
    struct evval *vals;
    uint32_t nvals, capvals;
    struct name_pred *pred;          /* EVENT_NAME_CACHE entries */
    struct scratch_block *scratch;   /* values derived for this event */
    detect_lookup_fn lookup;
    void *lookup_ctx;
    int64_t time_ns;
    bool has_time;
    const struct dclass *cls;
    /* the class of the last ActionType value (most events repeat one of a
     * few), so that classify() compares instead of hashing */
    char last_key[32];
    uint32_t last_key_len;          /* 0: none */
    int32_t last_key_class;
    void *json;                      /* json_t * from detect_event_set_json */
    /* candidates */
    struct scan_memo *memo;          /* SCAN_MEMO_SLOTS */
    uint64_t *memo_seen;             /* SCAN_MEMO_SEEN hashes of values seen once */
    uint32_t *stamp;
    uint16_t *mask;                  /* key sets hit, per rule (tindex.h) */
    uint32_t *cand;
    uint32_t ncand, cur_stamp;
    /* keywords: the detect_byte_mask of each text field's value, valid
     * when tmask_at[i] is the events counter of this match */
    uint64_t *tmask, *tmask_at;
    /* evidence of the match being reported */
    struct detect_evidence *evidence;
    uint32_t nevidence, capevidence;
    /* regex */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    struct detect_event_stats stats;
};

/* Returns the value of field `id` for the event's current class: set,
 * mapped, derived or asked of the lookup callback (detect_event_resolve, the
 * first time per event). */
bool detect_event_resolve(struct detect_event *ev, uint32_t id, const char **p, size_t *len);

static inline bool event_get(struct detect_event *ev, uint32_t id, const char **p, size_t *len)
{
    const struct slot *s = &ev->slots[id];
    if (__builtin_expect(s->tag == ev->gen + 1, 1)) {
        *p = s->p;
        *len = s->len;
        return true;
    }
    if (s->tag == ev->gen)
        return false;
    /* not set, not mapped, no callback to ask: absent */
    if (!ev->lookup && (!ev->cls || !ev->cls->alias || ev->cls->alias[id] == -1))
        return false;
    return detect_event_resolve(ev, id, p, len);
}

/* Copies n bytes into the event's scratch space (stable until clear). */
char *detect_event_scratch(struct detect_event *ev, size_t n);

/* ------------------------------------------------------------ helpers */

/* ASCII lowercase table. */
extern const uint8_t detect_fold[256];

/* A bit (0-63) per byte, the same for both cases of a letter: letters,
 * digits and common punctuation have their own, other bytes share. A value
 * lacking the bit of some byte of a literal cannot contain the literal. */
extern const uint8_t detect_byte_bit[256];

static inline uint64_t detect_byte_mask(const uint8_t *p, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m |= 1ull << detect_byte_bit[p[i]];
    return m;
}

/* Formats a diagnostic and calls fn. */
void detect_report(detect_diag_fn fn, void *ctx, enum detect_severity sev,
                   enum detect_diag_kind kind, const char *origin, unsigned line,
                   unsigned col, const char *title, const char *id,
                   const char *feature, const char *fmt, ...)
    __attribute__((format(printf, 11, 12)));

/* Matching (match.c): evaluates a rule's graph on the event; with
 * `explain`, records the evidence of a true result. */
bool detect_eval_rule(struct detect_event *ev, const struct rule *r, bool explain);

/* One value matcher against one value. */
bool detect_eval_value(struct detect_event *ev, const struct vm *m, const char *v, size_t n);

/* Correlation (correlate.c): feeds a rule match of the current event;
 * corr_tick lets the event's time close windows first. Both add the
 * matches they report to *nmatches and return 0, or what the callback
 * returned when it asked to stop. */
int corr_feed(struct detect_stream *st, struct detect_event *ev, uint32_t rule,
              detect_match_fn fn, void *ctx, int *nmatches);
int corr_tick(struct detect_stream *st, struct detect_event *ev, detect_match_fn fn, void *ctx,
              int *nmatches);
const struct detect_engine *corr_stream_engine(const struct detect_stream *st);

/* Parses an RFC 3339 time ("2026-11-26T10:12:00.123456789Z", offsets
 * accepted) or epoch seconds (with fraction) into ns; false when neither. */
bool detect_parse_time(const char *s, size_t n, int64_t *ns);

#endif
