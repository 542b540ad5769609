/*
 * detection_int.h — what the detection files share (private to
 * src/server/detection*.c): the rule set, the indicator snapshot, and the
 * functions each file offers the others.
 */
#ifndef YAMORI_SERVER_DETECTION_INT_H
#define YAMORI_SERVER_DETECTION_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/schema.h"
#include "detect/detect.h"
#include "server/alert_sink.h"
#include "server/detection.h"
#include "server/store_indicators.h"

#define DET_SOURCE_EDR "EDR"
#define DET_SOURCE_CUSTOM "custom detection"
#define DET_MAX_TACTICS 8

/* What a loaded rule means for an alert. */
struct det_rule {
    const struct detect_rule_info *info;
    const char *source;                       /* DET_SOURCE_* */
    const char *severity;                     /* alert severity */
    const char *category;                     /* first tactic in kill-chain order, or NULL */
    const char *tactics[DET_MAX_TACTICS + 1]; /* REFERENCE names, NULL-terminated */
    char *techniques[ALERT_MAX_TECHNIQUES];   /* "T1053.003", NULL-terminated */
    char *description;                        /* without the "Next:" part */
    char *recommended;                        /* the "Next:" part, or a text per tactic */
    atomic_uint_fast64_t hits;
};

/* A rule file or document that could not be loaded. */
struct det_error {
    char *file, *title, *id, *message;
    unsigned line;
};

/* One compiled engine with its rules; shared by reference (the worker, the
 * API readers); freed when the last reference goes. */
struct det_ruleset {
    atomic_int refs;
    struct detect_engine *eng;
    struct det_rule *rules;
    size_t nrules;
    struct det_byptr {
        const struct detect_rule_info *info;
        size_t index;
    } *byptr;                             /* sorted by address, for det_rule_of */
    struct det_error *errors;
    size_t nerrors, nwarnings, nfiles;
    int field_ids[F_MAX_ID];              /* detect_field_id of each schema field, or -1 */
    uint64_t signature;                   /* of the files it was loaded from */
};

/* ---- detection_rules.c */

/* The signature (names, sizes, times) of every rule file under the pack
 * and the custom directories; changes when a file is added, removed or
 * written. */
uint64_t det_rules_signature(const char *pack, const char *custom);

/* Loads and compiles every rule file. Returns 0 with *out (one reference),
 * or -errno with a message when nothing usable could be loaded. old (may
 * be NULL) gives the hit counts to carry over. */
int det_ruleset_load(const char *pack, const char *custom, const struct det_ruleset *old, struct det_ruleset **out,
                     char *err, size_t errlen);
void det_ruleset_ref(struct det_ruleset *rs);
/* Drops one reference. Accepts NULL. */
void det_ruleset_unref(struct det_ruleset *rs);
/* The rule a match names, or NULL. */
struct det_rule *det_rule_of(const struct det_ruleset *rs, const struct detect_rule_info *info);

/* REFERENCE's tactic name of an ATT&CK tactic tag ("attack.defense-evasion"
 * -> "Defense evasion"), or NULL; and its kill-chain rank. */
const char *det_tactic_name(const char *tag, int *rank);
/* A sensible next step for an alert of this tactic. */
const char *det_tactic_advice(const char *tactic);

/* ---- detection_indicators.c */

struct det_indicator {
    int64_t id;
    int type;                 /* DET_IOC_* */
    bool allow;
    int64_t expires_ms;       /* 0: never */
    char *value;              /* canonical */
    size_t len;
    unsigned char addr[16];   /* DET_IOC_IP: the address, 4 or 16 bytes */
    int family;
    char *title, *severity, *description;
};
enum { DET_IOC_SHA256 = 1, DET_IOC_IP, DET_IOC_DOMAIN, DET_IOC_PATH };

struct det_indicators {
    struct det_indicator *v;
    size_t n;
};

/* Checks and canonicalises an indicator's value of type (text) into out
 * (lower-case hex, canonical address, lower-case domain without the final
 * dot, a normalised absolute path). Returns 0, or -EINVAL with a sentence
 * in err. */
int det_indicator_canonical(const char *type, const char *value, size_t len, char *out, size_t outlen, char *err,
                            size_t errlen);

/* Loads every indicator of st into *out (replacing what it held). */
int det_indicators_load(struct store *st, struct det_indicators *out);
void det_indicators_clear(struct det_indicators *x);

/* The first indicator with action allow (or alert) that the value of an
 * event field of kind type names and that has not expired at now_ms; NULL
 * when none. */
const struct det_indicator *det_indicators_match(const struct det_indicators *x, bool allow, int type,
                                                 const char *value, size_t len, int64_t now_ms);

/* ---- detection_hit.c */

/* One decoded event: each schema field present, as the record carries it
 * (strings not NUL-terminated; integers as unsigned, signed ones still
 * zigzagged). */
struct det_event {
    const char *device_id;
    unsigned table;           /* SCHEMA_T_* */
    uint64_t seq;
    int64_t ts_ns;
    bool has[F_MAX_ID];
    const char *s[F_MAX_ID];
    size_t n[F_MAX_ID];
    uint64_t u[F_MAX_ID];
    uint8_t set[F_MAX_ID];    /* ids present, to clear */
    unsigned nset;
};

/* Builds the alert for a rule match (m, of rule r, found on ev) and hands it
 * to alert_sink_raise(). Returns its result. */
int det_hit_rule(const struct det_event *ev, const struct det_rule *r, const struct detect_match *m);

/* The same for an `alert` indicator that the value of field `field` of ev
 * matched. */
int det_hit_indicator(const struct det_event *ev, const struct det_indicator *ind, unsigned field);

#endif
