/*
 * live_grammar.h — the grammar of live response command lines, shared by
 * the server (which parses what a person typed) and the agent (which
 * checks again what the server sent before running anything).
 *
 * A line is words separated by blanks. A word is plain characters, or
 * '…' (taken literally), or "…" (where \" and \\ are the only escapes);
 * quoted and plain parts join into one word (a"b c"d is `ab cd`). Shell
 * metacharacters outside quotes (; | & < > $ ` ( ) { } ! \ and newlines)
 * are refused with a sentence saying that live response runs no shell —
 * except one `&` as the last word, which runs the command in the
 * background. Control characters are refused everywhere. A line is at
 * most LIVE_MAX_LINE bytes, LIVE_MAX_WORDS words, LIVE_MAX_WORD bytes a
 * word.
 *
 * Every command has a spec (the table in live_grammar.c): its name, the
 * role it needs (basic: analysts; advanced: responders), where it runs
 * (the server alone, or the agent), its positional parameters and its
 * `-name [value]` options, each typed, its timeout, a usage line and a
 * summary for `help`. `-output json|table` is accepted by every command.
 * Parsing gives the command's arguments as a JSON object whose members are
 * the parameter and option names (positional `path`, option `-full_path`
 * as "full_path": true, `-pid 42` as "pid": 42). Path parameters are made
 * absolute against the session's current directory and normalised
 * lexically (no "." or ".." or "//" left); names of library files are
 * plain names ([A-Za-z0-9._-], not starting with '.', at most 128 bytes).
 *
 * Nothing here does I/O. Thread-safe (the table is constant).
 */
#ifndef YAMORI_COMMON_LIVE_GRAMMAR_H
#define YAMORI_COMMON_LIVE_GRAMMAR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define LIVE_MAX_LINE 8192
#define LIVE_MAX_WORDS 64
#define LIVE_MAX_WORD 4096
#define LIVE_MAX_PATH 4095
#define LIVE_MAX_NAME 128

enum live_role { LIVE_BASIC = 1, LIVE_ADVANCED };
enum live_where { LIVE_ON_SERVER = 1, LIVE_ON_AGENT };
enum live_output { LIVE_OUTPUT_TABLE = 0, LIVE_OUTPUT_JSON };

enum live_param_type {
    LIVE_T_PATH = 1, /* a path: made absolute against cwd, normalised */
    LIVE_T_STRING,   /* any word (at most LIVE_MAX_WORD bytes) */
    LIVE_T_NAME,     /* a library file name */
    LIVE_T_INT,      /* a decimal integer from 0 to 2^31-1 */
    LIVE_T_BOOL,     /* an option without a value: true when given */
    LIVE_T_ENUM,     /* one word of a fixed list (choices, '|'-separated) */
};

struct live_param {
    const char *name;         /* JSON member; options are typed -name */
    enum live_param_type type;
    bool required;
    const char *choices;      /* LIVE_T_ENUM: "file|process" */
};

struct live_spec {
    const char *name;          /* "dir" */
    enum live_role role;
    enum live_where where;
    const struct live_param *positional; /* NULL-name terminated */
    const struct live_param *options;    /* NULL-name terminated */
    unsigned timeout_s;        /* the default per-command timeout */
    bool streams;              /* the agent sends output as it goes (findfile, run) */
    const char *usage;         /* "dir [path] [-full_path]" */
    const char *summary;       /* one sentence for help */
};

/* A parsed line. */
struct live_parsed {
    const struct live_spec *spec;
    json_t *args;              /* owned: an object */
    bool background;           /* ended with & */
    enum live_output output;   /* -output */
};

/* The spec of command name, or NULL. */
const struct live_spec *live_spec_find(const char *name);

/* Calls fn for every spec, in the order help lists them. */
void live_spec_each(void (*fn)(const struct live_spec *s, void *ctx), void *ctx);

/* Parses line, resolving relative paths against cwd (absolute, normalised).
 * Returns 0 and fills out (free with live_parsed_free), or -EINVAL with a
 * sentence for a person in err — for a known command followed by its usage
 * ("dir: unknown option -x. Usage: dir [path] [-full_path]"); an empty line
 * is -ENODATA. */
int live_parse(const char *line, const char *cwd, struct live_parsed *out, char *err, size_t errlen);
void live_parsed_free(struct live_parsed *p);

/* The agent's check of what the server sent: command names a command that
 * runs on the agent, and args (an object) holds only its parameters, each
 * of its type (paths absolute and normalised, names plain, ints in range,
 * enums among their choices), every required one present. Returns 0 or
 * -EINVAL with a sentence. */
int live_args_check(const char *command, json_t *args, char *err, size_t errlen);

/* Whether path is absolute and normalised (no "." ".." "//", no trailing
 * '/', except "/" itself), at most LIVE_MAX_PATH bytes, no NUL or control
 * characters. */
bool live_path_ok(const char *path);

/* Whether name is a plain library file name. */
bool live_name_ok(const char *name);

#endif
