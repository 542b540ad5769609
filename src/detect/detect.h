/*
 * detect.h — Yamori's Sigma rule engine: a library with no I/O.
 *
 * The engine is given rule text and events in memory and says which rules an
 * event matched, with the fields and values that made it match. The server,
 * the CLI (`yamori rule test`), the tests and the fuzzers link the same code.
 *
 * Life cycle:
 *
 *   1. detect_engine_new() with a configuration: the event schema (Yamori's,
 *      docs/events.md, with Sysmon field names mapped onto it; or flat events
 *      with arbitrary field names), placeholder values for `|expand`, limits.
 *   2. detect_engine_add() once per rule file (Sigma 2.x YAML, one or several
 *      documents, detection and correlation rules). Each rule that cannot be
 *      loaded is reported through a diagnostic callback with its line and
 *      column and the unsupported feature or mistake; the others load.
 *   3. detect_engine_compile(): resolves correlation references and builds
 *      the matcher (rules indexed by log source and by the literals they
 *      require). After this the engine is read-only and may be shared by
 *      threads.
 *   4. Per thread, a detect_event (reused for every event: no allocation per
 *      event in the common case); per stream of events in time order, a
 *      detect_stream holding the correlation state (bounded memory).
 *   5. For each event: detect_event_clear(), detect_event_set*(), then
 *      detect_match(), which calls back once per match.
 *
 * docs/rules.md describes the supported Sigma features, the field mapping
 * and what is refused and why.
 */
#ifndef YAMORI_DETECT_H
#define YAMORI_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct detect_engine;
struct detect_event;
struct detect_stream;

/* ------------------------------------------------------------ configuration */

enum detect_schema {
    /* Events follow docs/events.md. Rules may use Sysmon-for-Linux field
     * names (Image, CommandLine, TargetFilename, DestinationIp, ...), which
     * are mapped per event type; a rule's logsource selects the events it is
     * evaluated on (process_creation: ProcessCreated, ...). */
    DETECT_SCHEMA_YAMORI = 0,
    /* Events are flat sets of (name, value) with arbitrary names; rules use
     * those names as written and every rule is tried on every event (the
     * log source is not checked). For `yamori rule test` on any JSON log. */
    DETECT_SCHEMA_FLAT = 1,
};

/* One `%name%` placeholder and the values it expands to (`|expand`). */
struct detect_placeholder {
    const char *name;            /* without the percent signs */
    const char *const *values;   /* each in Sigma wildcard syntax */
    size_t n_values;
};

struct detect_config {
    enum detect_schema schema;
    const struct detect_placeholder *placeholders; /* copied by detect_engine_new() */
    size_t n_placeholders;
    /* Field holding the event time for correlations when the caller did
     * not call detect_event_set_time() (RFC 3339 text or epoch seconds).
     * NULL: "Timestamp". */
    const char *time_field;
    size_t max_file_bytes;       /* rule text per detect_engine_add() call */
    size_t max_rule_nodes;       /* YAML nodes per document */
    uint32_t max_values;         /* values per rule after expansion */
    uint32_t regex_match_limit;  /* PCRE2 match limit per regex and value */
    uint32_t regex_depth_limit;  /* PCRE2 backtracking depth limit */
    /* Evaluate every rule its log source selects on every event, without
     * the literal index: slow, for checking the index against. */
    bool no_index;
    /* Correlation memory bounds, per correlation rule and stream. */
    uint32_t corr_max_groups;    /* tracked group-by values; oldest evicted */
    uint32_t corr_max_entries;   /* timestamps or distinct values per group */
};

/* Fills *cfg with the defaults (Yamori schema, limits as documented in
 * docs/rules.md). */
void detect_config_default(struct detect_config *cfg);

/* ------------------------------------------------------------ diagnostics */

enum detect_severity { DETECT_ERROR = 0, DETECT_WARNING = 1 };

/* What a diagnostic is about; stable, for grouping and tests. */
enum detect_diag_kind {
    DETECT_DIAG_YAML = 0,      /* the text is not valid YAML */
    DETECT_DIAG_STRUCTURE,     /* a rule section is missing or of the wrong type */
    DETECT_DIAG_CONDITION,     /* the condition expression */
    DETECT_DIAG_MODIFIER,      /* unknown modifier or an invalid combination */
    DETECT_DIAG_VALUE,         /* a value a modifier cannot take */
    DETECT_DIAG_REGEX,         /* a regular expression PCRE2 refuses */
    DETECT_DIAG_PLACEHOLDER,   /* `|expand` placeholder without configured values */
    DETECT_DIAG_UNSUPPORTED,   /* a Sigma feature this engine does not implement */
    DETECT_DIAG_LIMIT,         /* a size or nesting limit was exceeded */
    DETECT_DIAG_CORRELATION,   /* a correlation rule cannot be resolved */
    DETECT_DIAG_LOGSOURCE,     /* warning: no event of this schema selects the rule */
    DETECT_DIAG_FIELD,         /* warning: a field the schema never carries */
};

struct detect_diag {
    enum detect_severity severity;
    enum detect_diag_kind kind;
    const char *origin;        /* as given to detect_engine_add() */
    unsigned line, col;        /* 1-based; 0 when unknown */
    const char *title;         /* the rule's title, or NULL */
    const char *id;            /* the rule's id, or NULL */
    const char *feature;       /* short name of the feature or mistake,
                                * e.g. "modifier 'foo'", "placeholder %Servers%" */
    const char *message;       /* "origin:line:col: rule 'title': sentence" */
};

/* Called for each diagnostic; the strings live until it returns. */
typedef void (*detect_diag_fn)(void *ctx, const struct detect_diag *d);

/* Returns a static name for a diagnostic kind ("yaml", "modifier", ...). */
const char *detect_diag_kind_name(enum detect_diag_kind kind);

/* ------------------------------------------------------------ engine */

/* Creates an empty engine. `cfg` NULL means the defaults; its contents are
 * copied. Returns NULL with a message in err when out of memory or when the
 * configuration is invalid. Free with detect_engine_free(). */
struct detect_engine *detect_engine_new(const struct detect_config *cfg,
                                        char *err, size_t errlen);

/* Frees the engine and every rule. Accepts NULL. Events and streams made
 * from it must be freed first. */
void detect_engine_free(struct detect_engine *eng);

/* Loads every Sigma document of `text` (len bytes, need not be
 * NUL-terminated). `origin` names the text in messages (a file name) and is
 * copied. Each document that cannot be loaded is reported to `fn` (may be
 * NULL) as a DETECT_ERROR and skipped; warnings are reported too. Returns
 * the number of rules loaded (>= 0), or -EBUSY after detect_engine_compile(),
 * -EFBIG when the text exceeds max_file_bytes, -E2BIG when it has more than
 * 100000 documents (both also reported to fn), -ENOMEM. */
int detect_engine_add(struct detect_engine *eng, const char *origin,
                      const char *text, size_t len,
                      detect_diag_fn fn, void *ctx);

/* Resolves correlation references, then builds the matcher. A correlation
 * rule whose references cannot be resolved is reported to `fn` and dropped;
 * the others compile. Returns 0, -EBUSY when already compiled, or -ENOMEM
 * (with a message in err). */
int detect_engine_compile(struct detect_engine *eng, detect_diag_fn fn,
                          void *ctx, char *err, size_t errlen);

/* A loaded rule, as reported in matches. Strings are NULL when absent. */
struct detect_rule_info {
    const char *title, *id, *name;
    const char *level, *status, *description, *author;
    const char *product, *category, *service;  /* logsource, lower case */
    const char *const *tags;
    size_t n_tags;
    const char *origin;        /* file it came from */
    unsigned line;             /* line of its document */
    bool correlation;          /* a correlation rule */
    bool active;               /* some event of the schema can select it (a
                                * correlation: its references resolved) */
};

/* Number of rules loaded (detection and correlation), and the i-th one in
 * load order (NULL when i is out of range). The pointer lives as long as
 * the engine. */
size_t detect_engine_rule_count(const struct detect_engine *eng);
const struct detect_rule_info *detect_engine_rule(const struct detect_engine *eng,
                                                  size_t i);

struct detect_engine_stats {
    size_t rules;              /* detection rules loaded */
    size_t correlations;       /* correlation rules loaded and resolved */
    size_t fields;             /* interned field names */
    size_t classes;            /* event classes (log source selections) */
    size_t indexed_rules;      /* rule selections reached through a literal index */
    size_t unindexed_rules;    /* rule selections evaluated on every event of their class */
    size_t index_bytes;        /* memory of the literal indexes */
};
void detect_engine_stats(const struct detect_engine *eng, struct detect_engine_stats *out);

/* The id of a field name that some rule (or the schema mapping) uses, for
 * detect_event_set_id(); -ENOENT when no rule looks at it. Valid after
 * detect_engine_compile(). */
int detect_field_id(const struct detect_engine *eng, const char *name, size_t len);

/* ------------------------------------------------------------ events */

/* Creates a reusable event for a compiled engine. Returns NULL (message in
 * err) when the engine is not compiled or memory is short. */
struct detect_event *detect_event_new(const struct detect_engine *eng,
                                      char *err, size_t errlen);

/* Frees the event. Accepts NULL. */
void detect_event_free(struct detect_event *ev);

/* Forgets every value, the time and the lookup callback: O(values set). */
void detect_event_clear(struct detect_event *ev);

/* Sets field `name` to `value` (vlen bytes; need not be NUL-terminated).
 * Neither is copied: both must stay valid until detect_match() returns.
 * A field set twice keeps the last value. Numbers and booleans are given
 * as their text ("443", "true"); a JSON null is not set at all. Flat
 * events keep fields no rule names, for keyword search; Yamori events
 * search keywords in their text fields (docs/rules.md) and drop fields no
 * rule names. Returns 0, -EINVAL when too many values were set (65536, flat
 * events), -ENOMEM. */
int detect_event_set(struct detect_event *ev, const char *name, size_t nlen,
                     const char *value, size_t vlen);

/* The same with a field id from detect_field_id(); -EINVAL for a bad id. */
int detect_event_set_id(struct detect_event *ev, int id, const char *value, size_t vlen);

/* Parses one JSON object (len bytes) and sets its members: strings as
 * they are, numbers and booleans as their text, nested objects flattened
 * with dots ("a.b"), arrays as "a.0", "a.1" ... and "a" as the compact JSON
 * text; nulls are skipped. The event owns the parsed copy until the next
 * detect_event_clear(). Returns 0, or -EINVAL with a message in err. */
int detect_event_set_json(struct detect_event *ev, const char *text, size_t len,
                          char *err, size_t errlen);

/* The event time (nanoseconds since the epoch) for correlations; without
 * it the configured time field is parsed. */
void detect_event_set_time(struct detect_event *ev, int64_t unix_ns);

/* Asked for a field a rule needs that was not set: return 1 with *value and
 * *vlen set (valid until detect_match() returns), or 0 when the event has
 * no such field. Called at most once per field and event. */
typedef int (*detect_lookup_fn)(void *ctx, const char *name, size_t nlen,
                                const char **value, size_t *vlen);
void detect_event_set_lookup(struct detect_event *ev, detect_lookup_fn fn, void *ctx);

struct detect_event_stats {
    uint64_t events;           /* detect_match() calls */
    uint64_t candidates;       /* rules evaluated */
    uint64_t matches;          /* single-event matches */
    uint64_t regex_limit_hits; /* regex evaluations stopped by a PCRE2 limit
                                * (counted as no match) */
    uint64_t scans;            /* values looked up in a literal index */
    uint64_t scans_remembered; /* of those, answered from the event object's
                                * memo of values it saw before */
};
void detect_event_stats(const struct detect_event *ev, struct detect_event_stats *out);

/* ------------------------------------------------------------ matching */

/* One field condition that held in a match. */
struct detect_evidence {
    const char *field;         /* as the rule wrote it: "CommandLine|contains" */
    const char *event_field;   /* the event field it read: "ProcessCommandLine";
                                * NULL for a keyword that matched another field */
    const char *value;         /* the event's value (value_len bytes) */
    size_t value_len;
    const char *pattern;       /* the rule value that matched, as written */
};

enum detect_match_kind { DETECT_MATCH_RULE = 0, DETECT_MATCH_CORRELATION = 1 };

struct detect_match {
    enum detect_match_kind kind;
    const struct detect_rule_info *rule;
    /* True when the rule is only referenced by correlation rules without
     * `generate: true`: it feeds them but is not an alert of its own. */
    bool suppressed;
    const struct detect_evidence *evidence;  /* DETECT_MATCH_RULE */
    size_t n_evidence;
    /* DETECT_MATCH_CORRELATION: the group ("User=root, DeviceName=h1"),
     * the count that met the condition (events, distinct values or rules)
     * and the times of the first and last event counted. */
    const char *group;
    uint64_t count;
    int64_t first_ns, last_ns;
};

/* Called once per match; strings and arrays live until it returns. A
 * non-zero return stops detect_match() early (it then returns that value if
 * negative, else the number of matches so far). */
typedef int (*detect_match_fn)(void *ctx, const struct detect_match *m);

/* Matches the event against every rule its log source selects, feeds the
 * correlation rules of `st` (may be NULL: no correlation), and reports each
 * match to `fn`. Does not allocate in the common case. Returns the number of
 * matches reported (>= 0) or -EINVAL when `st` belongs to another engine. */
int detect_match(struct detect_event *ev, struct detect_stream *st,
                 detect_match_fn fn, void *ctx);

/* ------------------------------------------------------------ correlation */

/* Creates the correlation state for one stream of events in time order.
 * Returns NULL (message in err) when the engine is not compiled or memory
 * is short. */
struct detect_stream *detect_stream_new(const struct detect_engine *eng,
                                        char *err, size_t errlen);
void detect_stream_free(struct detect_stream *st);

/* Tells the stream that time has reached `now_ns` without an event: windows
 * that closed are evaluated (conditions with an upper bound: lt, lte, eq,
 * neq) and expired groups are released. Returns the number of matches
 * reported, or a negative errno. */
int detect_stream_advance(struct detect_stream *st, int64_t now_ns,
                          detect_match_fn fn, void *ctx);

/* End of input: evaluates every open window as if it had closed. */
int detect_stream_flush(struct detect_stream *st, detect_match_fn fn, void *ctx);

struct detect_stream_stats {
    uint64_t groups;           /* groups tracked now, all correlation rules */
    uint64_t groups_evicted;   /* live groups dropped to stay under corr_max_groups */
    uint64_t entries_evicted;  /* live timestamps/values dropped to stay under
                                * corr_max_entries */
    uint64_t fired;            /* correlation matches */
};
void detect_stream_stats(const struct detect_stream *st, struct detect_stream_stats *out);

#endif
