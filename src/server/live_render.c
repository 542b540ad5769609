/*
 * live_render.c — a live command's output (one JSON value from the agent,
 * the action center or the server itself) as the text a person reads in
 * a terminal (docs/live.md, "Rendering").
 *
 * The convention: an object with "columns" (the order of a table) and
 * "rows" (objects keyed by column, or arrays in column order) is a table;
 * its other scalar members come first as `name: value` lines, then the
 * table: a header, a rule, one line per row, columns padded to their
 * widest cell; a cell wider than CELL_MAX characters is cut with "…"
 * unless it is in the last column; "truncated": true becomes a note under
 * the table. Any other object is its members, one per line: scalars as
 * `name: value`, multi-line text indented under `name:`, lists as
 * `  - item` lines, a list of objects as a small table, an object as its
 * members indented; deeper nesting as compact JSON. An analysis reads
 * best verdict first, so "verdict" and "reasons" lead, and in a list of
 * objects a "reason" column comes last, so the sentence is never cut. Widths count
 * characters (UTF-8 code points), not bytes; control characters in
 * values are shown escaped (\n, \t, \xNN), so a value cannot move the
 * cursor or forge a line.
 *
 * Pure: no I/O but the memory stream it writes into.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/live.h"

#define CELL_MAX 48      /* characters of a cell that is not in the last column */
#define MAX_COLUMNS 64   /* of a table; more are left out */
#define MAX_DEPTH 3      /* of nested objects shown as indented members */

/* ------------------------------------------------------------ values as text */

/* Appends s (n bytes) to f with control characters escaped. */
static void put_escaped(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

/* A scalar or a compact JSON text of v, escaped, as a malloc'd string
 * (NULL when out of memory). */
static char *cell_text(json_t *v)
{
    char *buf = NULL, *dump = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    switch (json_typeof(v)) {
    case JSON_STRING: put_escaped(f, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: fprintf(f, "%g", json_real_value(v)); break;
    case JSON_TRUE: fputs("true", f); break;
    case JSON_FALSE: fputs("false", f); break;
    case JSON_NULL: fputs("-", f); break;
    default:
        dump = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        if (dump)
            put_escaped(f, dump, strlen(dump));
        free(dump);
        break;
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static bool is_scalar(json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* Characters (UTF-8 code points) in s. */
static size_t width_of(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80)
            w++;
    return w;
}

/* Writes s padded to width characters, or cut to width with "…" when
 * longer and cut is set. */
static void put_cell(FILE *f, const char *s, size_t width, bool cut, bool pad)
{
    size_t w = width_of(s);

    if (cut && w > width) {
        size_t chars = 0;
        const unsigned char *p = (const unsigned char *)s;
        /* width - 1 characters, then the ellipsis */
        for (; *p; p++) {
            if ((*p & 0xc0) != 0x80 && chars++ == width - 1)
                break;
            fputc(*p, f);
        }
        fputs("\xe2\x80\xa6", f);
        return;
    }
    fputs(s, f);
    for (; pad && w < width; w++)
        fputc(' ', f);
}

/* ------------------------------------------------------------ tables */

/* Writes rows under the column names cols (n of them), each line after
 * indent spaces. */
static void put_table(FILE *f, const char *const *cols, size_t n, json_t *rows, int indent)
{
    size_t nrows = json_array_size(rows), width[MAX_COLUMNS];
    char **cells = NULL;

    if (n == 0)
        return;
    cells = calloc(nrows * n + 1, sizeof(*cells));
    if (!cells)
        return;
    for (size_t c = 0; c < n; c++)
        width[c] = width_of(cols[c]);
    for (size_t r = 0; r < nrows; r++) {
        json_t *row = json_array_get(rows, r);
        for (size_t c = 0; c < n; c++) {
            json_t *v = json_is_object(row) ? json_object_get(row, cols[c])
                        : json_is_array(row) ? json_array_get(row, c)
                        : c == 0 ? row : NULL;
            char *t = v ? cell_text(v) : strdup("");
            size_t w;
            cells[r * n + c] = t;
            if (!t)
                continue;
            w = width_of(t);
            if (c + 1 < n && w > CELL_MAX)
                w = CELL_MAX;
            if (w > width[c])
                width[c] = w;
        }
    }
    fprintf(f, "%*s", indent, "");
    for (size_t c = 0; c < n; c++) {
        put_cell(f, cols[c], width[c], c + 1 < n, c + 1 < n);
        fputs(c + 1 < n ? "  " : "\n", f);
    }
    fprintf(f, "%*s", indent, "");
    for (size_t c = 0; c < n; c++) {
        /* the last column's cells are not cut: its rule stops at CELL_MAX */
        size_t w = c + 1 < n || width[c] <= CELL_MAX ? width[c] : CELL_MAX;
        for (size_t i = 0; i < w; i++)
            fputc('-', f);
        fputs(c + 1 < n ? "  " : "\n", f);
    }
    for (size_t r = 0; r < nrows; r++) {
        fprintf(f, "%*s", indent, "");
        for (size_t c = 0; c < n; c++) {
            const char *t = cells[r * n + c] ? cells[r * n + c] : "?";
            put_cell(f, t, width[c], c + 1 < n, c + 1 < n);
            fputs(c + 1 < n ? "  " : "\n", f);
        }
    }
    for (size_t i = 0; i < nrows * n; i++)
        free(cells[i]);
    free(cells);
}

/* A list of objects as a table whose columns are their keys in order of
 * first appearance. */
static void put_object_list(FILE *f, json_t *list, int indent)
{
    const char *cols[MAX_COLUMNS];
    size_t n = 0, i;
    json_t *item;

    json_array_foreach(list, i, item) {
        const char *k;
        json_t *v;
        json_object_foreach(item, k, v) {
            size_t c;
            (void)v;
            for (c = 0; c < n && strcmp(cols[c], k) != 0; c++)
                ;
            if (c == n && n < MAX_COLUMNS)
                cols[n++] = k;
        }
    }
    /* a sentence (an analysis's "reason") goes last, where it is never cut */
    for (size_t c = 0; c + 1 < n; c++)
        if (strcmp(cols[c], "reason") == 0) {
            const char *r = cols[c];
            memmove(&cols[c], &cols[c + 1], (n - c - 1) * sizeof(cols[0]));
            cols[n - 1] = r;
            break;
        }
    put_table(f, cols, n, list, indent);
}

static bool all_objects(json_t *list)
{
    size_t i;
    json_t *v;

    if (json_array_size(list) == 0)
        return false;
    json_array_foreach(list, i, v)
        if (!json_is_object(v))
            return false;
    return true;
}

/* ------------------------------------------------------------ members */

static void put_members(FILE *f, json_t *obj, int indent, int depth, bool table);

/* One member key: v, after indent spaces. */
static void put_member(FILE *f, const char *key, json_t *v, int indent, int depth)
{
    fprintf(f, "%*s", indent, "");
    put_escaped(f, key, strlen(key));
    if (json_is_string(v) && memchr(json_string_value(v), '\n', json_string_length(v))) {
        /* text of several lines: each line indented under the name */
        const char *s = json_string_value(v), *end = s + json_string_length(v);
        fputs(":\n", f);
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
            fprintf(f, "%*s", indent + 2, "");
            put_escaped(f, s, n);
            fputc('\n', f);
            s += n + (nl ? 1 : 0);
        }
        return;
    }
    if (is_scalar(v) || depth >= MAX_DEPTH) {
        char *t = cell_text(v);
        fprintf(f, ": %s\n", t ? t : "?");
        free(t);
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        if (json_array_size(v) == 0) {
            fputs(": (none)\n", f);
            return;
        }
        fputs(":\n", f);
        if (all_objects(v)) {
            put_object_list(f, v, indent + 2);
            return;
        }
        json_array_foreach(v, i, item) {
            char *t = cell_text(item);
            fprintf(f, "%*s- %s\n", indent + 2, "", t ? t : "?");
            free(t);
        }
        return;
    }
    if (json_object_size(v) == 0) {
        fputs(": (none)\n", f);
        return;
    }
    fputs(":\n", f);
    put_members(f, v, indent + 2, depth + 1, false);
}

/* The members of obj, "verdict" and "reasons" first; table: leave out
 * columns, rows and truncated (the table shows them). */
static void put_members(FILE *f, json_t *obj, int indent, int depth, bool table)
{
    static const char *const first[] = {"verdict", "reasons"};
    const char *k;
    json_t *v;

    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
        if ((v = json_object_get(obj, first[i])))
            put_member(f, first[i], v, indent, depth);
    json_object_foreach(obj, k, v) {
        if (strcmp(k, "verdict") == 0 || strcmp(k, "reasons") == 0)
            continue;
        if (table && (strcmp(k, "columns") == 0 || strcmp(k, "rows") == 0 || strcmp(k, "truncated") == 0))
            continue;
        put_member(f, k, v, indent, depth);
    }
}

/* Whether obj follows the table convention. */
static bool is_table(json_t *obj)
{
    json_t *cols = json_object_get(obj, "columns"), *rows = json_object_get(obj, "rows"), *c;
    size_t i;

    if (!json_is_array(cols) || !json_is_array(rows) || json_array_size(cols) == 0)
        return false;
    json_array_foreach(cols, i, c)
        if (!json_is_string(c))
            return false;
    return true;
}

static void put_table_object(FILE *f, json_t *obj)
{
    json_t *cols = json_object_get(obj, "columns"), *rows = json_object_get(obj, "rows");
    const char *names[MAX_COLUMNS];
    size_t n = 0, before = (size_t)ftell(f);

    for (size_t i = 0; i < json_array_size(cols) && n < MAX_COLUMNS; i++)
        names[n++] = json_string_value(json_array_get(cols, i));
    put_members(f, obj, 0, 0, true);
    if ((size_t)ftell(f) > before)
        fputc('\n', f);
    if (json_array_size(rows) == 0)
        fputs("(no rows)\n", f);
    else
        put_table(f, names, n, rows, 0);
    if (json_is_true(json_object_get(obj, "truncated")))
        fputs("(truncated: there was more than this)\n", f);
}

/* ------------------------------------------------------------ entry */

char *live_render(json_t *output, bool as_json)
{
    char *buf = NULL, *dump;
    size_t len = 0;
    FILE *f;

    f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    if (!output || (json_is_object(output) && json_object_size(output) == 0)) {
        /* nothing to show (cls, a command that only did something) */
    } else if (as_json) {
        dump = json_dumps(output, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        if (dump)
            fprintf(f, "%s\n", dump);
        free(dump);
    } else if (json_is_object(output) && is_table(output)) {
        put_table_object(f, output);
    } else if (json_is_object(output)) {
        put_members(f, output, 0, 0, false);
    } else if (json_is_array(output) && all_objects(output)) {
        put_object_list(f, output, 0);
    } else if (json_is_array(output)) {
        size_t i;
        json_t *item;
        json_array_foreach(output, i, item) {
            char *t = cell_text(item);
            fprintf(f, "%s\n", t ? t : "?");
            free(t);
        }
    } else {
        char *t = cell_text(output);
        fprintf(f, "%s\n", t ? t : "?");
        free(t);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
