/*
 * sigma_parse.h — Sigma rule documents to compiled rules.
 *
 * Reads the YAML tree of each document of a file (ytree), applies Sigma 1
 * collections (`action: global`, `reset`, `repeat`), and turns each
 * detection rule into a graph of nodes over field conditions (pattern.h)
 * and each correlation rule into a correlation definition whose references
 * are resolved later, when the engine compiles. A document that cannot be
 * loaded is reported with its line and column and the feature or mistake,
 * and skipped.
 */
#ifndef YAMORI_DETECT_SIGMA_PARSE_H
#define YAMORI_DETECT_SIGMA_PARSE_H

#include "detect/detect_int.h"

/* Parses every document of text[0..len) and appends the rules that load to
 * eng->rules. Returns the number of rules added, or -ENOMEM / -E2BIG
 * (too many documents, reported to fn). */
int sigma_parse_text(struct detect_engine *eng, const char *origin, const char *text,
                     size_t len, detect_diag_fn fn, void *ctx);

/* Frees a rule (its arena and regexes). Accepts NULL. */
void sigma_rule_free(struct rule *r);

#endif
