/*
 * story_print.c — see story_print.h.
 *
 * The nodes come in depth-first order with their depth, so one pass
 * prints the tree: for each depth, whether the node at that depth has a
 * later sibling decides between "│  " and "   " in the lines below it.
 * A node's "last sibling" is found beforehand by remembering, per parent,
 * the index of its last child.
 */
#include "cli/story_print.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_INDENT 64          /* levels drawn; deeper ones are drawn at this level */
#define DEFAULT_WIDTH 100
#define MIN_TEXT 40            /* columns left for a command line, at least */
#define LINE_COLS 1000         /* a line of words (the server keeps them under 480 bytes) */

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Untrusted text for the terminal: control characters (C0, DEL, the C1
 * range as UTF-8) as \xNN, blanks folded, at most max columns (roughly:
 * bytes, counting a UTF-8 sequence once), the middle elided. */
static void put_text(FILE *f, const char *s, size_t max)
{
    char *buf;
    size_t n = 0, cols = 0, len = s ? strlen(s) : 0;

    buf = malloc(len * 4 + 1);
    if (!buf)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' || c == '\t' || c == '\r')
            c = ' ';
        if (c == ' ' && n > 0 && buf[n - 1] == ' ')
            continue;
        if (c < 0x20 || c == 0x7f) {
            n += (size_t)sprintf(buf + n, "\\x%02x", c);
        } else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f) {
            n += (size_t)sprintf(buf + n, "\\x%02x", (unsigned char)s[++i]);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        cols += ((unsigned char)buf[i] & 0xc0) != 0x80;
    if (cols <= max || max < 10) {
        fputs(buf, f);
    } else {
        /* head two thirds, "…", tail; cut on character boundaries */
        size_t head = (max - 1) * 2 / 3, tail = max - 1 - head, hb = 0, tb = n, c;
        for (c = 0; hb < n && c < head; hb++)
            if ((((unsigned char)buf[hb + 1]) & 0xc0) != 0x80)
                c++;
        for (c = 0; tb > hb && c < tail;)
            if ((((unsigned char)buf[--tb]) & 0xc0) != 0x80)
                c++;
        fprintf(f, "%.*s\xe2\x80\xa6%s", (int)hb, buf, buf + tb);
    }
    free(buf);
}

static unsigned terminal_width(void)
{
    struct winsize ws;
    const char *c = getenv("COLUMNS");
    long v = c ? strtol(c, NULL, 10) : 0;

    if (v >= 40 && v <= 1000)
        return (unsigned)v;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return DEFAULT_WIDTH;
}

/* "2026-11-26T10:12:00.123456789Z" → "2026-11-26 10:12:00" */
static void put_time(FILE *f, const char *t)
{
    if (t && strlen(t) >= 19 && t[10] == 'T')
        fprintf(f, "%.10s %.8s", t, t + 11);
    else if (t)
        put_text(f, t, 40);
}

static void put_prefix(FILE *f, const bool *more, unsigned depth)
{
    for (unsigned k = 1; k < depth; k++)
        fputs(more[k] ? "\xe2\x94\x82  " : "   ", f);
}

static void put_body_prefix(FILE *f, const bool *more, unsigned depth, bool has_kids)
{
    put_prefix(f, more, depth + 1);
    fputs(has_kids ? "\xe2\x94\x82 " : "  ", f);
}

static void print_node(FILE *f, json_t *n, unsigned depth, bool *more, bool last, bool has_kids, unsigned width)
{
    const char *name = str(n, "file_name"), *user = str(n, "user"), *cmd = str(n, "command_line");
    json_t *exit = json_object_get(n, "exit"), *v;
    size_t i, text_cols;
    json_t *l;

    /* the header: name, pid, user, start, exit, the subject */
    put_prefix(f, more, depth);
    if (depth > 0)
        fputs(last ? "\xe2\x94\x94\xe2\x94\x80 " : "\xe2\x94\x9c\xe2\x94\x80 ", f);
    put_text(f, name ? name : str(n, "image") ? str(n, "image") : "?", 60);
    if (json_is_integer(json_object_get(n, "pid")))
        fprintf(f, "  pid %lld", (long long)json_integer_value(json_object_get(n, "pid")));
    if (user) {
        fputs("  ", f);
        put_text(f, user, 32);
    }
    if (str(n, "start_time")) {
        fputs("  ", f);
        put_time(f, str(n, "start_time"));
    }
    if (json_is_object(exit)) {
        if (json_is_integer(v = json_object_get(exit, "signal")) && json_integer_value(v))
            fprintf(f, "  killed by signal %lld", (long long)json_integer_value(v));
        else if (json_is_integer(v = json_object_get(exit, "code")))
            fprintf(f, "  exited %lld", (long long)json_integer_value(v));
        else
            fputs("  exited", f);
    }
    if (json_is_true(json_object_get(n, "running_at_agent_start")))
        fputs("  (running when the agent started)", f);
    if (str(n, "role") && strcmp(str(n, "role"), "subject") == 0)
        fputs("  \xe2\x97\x80 this process", f);
    fputc('\n', f);

    text_cols = width > (depth + 1) * 3 + 4 + MIN_TEXT ? width - (depth + 1) * 3 - 4 : MIN_TEXT;
    if (cmd) {
        put_body_prefix(f, more, depth, has_kids);
        fputs("$ ", f);
        put_text(f, cmd, text_cols);
        fputc('\n', f);
    }
    json_array_foreach(json_object_get(n, "alerts"), i, l) {
        put_body_prefix(f, more, depth, has_kids);
        fprintf(f, "\xe2\x9a\xa0 alert %lld, ", (long long)json_integer_value(json_object_get(l, "id")));
        put_text(f, str(l, "severity") ? str(l, "severity") : "?", 20);
        fputs(": ", f);
        put_text(f, str(l, "title") ? str(l, "title") : "", text_cols);
        fputc('\n', f);
    }
    json_array_foreach(json_object_get(n, "lines"), i, l) {
        long long count = json_integer_value(json_object_get(l, "count"));
        put_body_prefix(f, more, depth, has_kids);
        fputs("\xe2\x80\xa2 ", f);
        put_text(f, str(l, "text") ? str(l, "text") : "", LINE_COLS); /* the words are the story: not cut */
        if (count > 1)
            fprintf(f, " (%lld times)", count);
        fputc('\n', f);
    }
    if (json_is_integer(v = json_object_get(n, "lines_not_shown"))) {
        put_body_prefix(f, more, depth, has_kids);
        fprintf(f, "\xe2\x80\xa6 %lld more acts not shown\n", (long long)json_integer_value(v));
    }
    if (json_is_integer(v = json_object_get(n, "children_not_shown"))) {
        put_body_prefix(f, more, depth, has_kids);
        fprintf(f, "\xe2\x80\xa6 %lld more processes it started, not shown\n", (long long)json_integer_value(v));
    }
}

int story_print(FILE *f, json_t *story, const struct story_print_options *opt)
{
    json_t *nodes = json_object_get(story, "nodes"), *n, *last_of = NULL, *cut;
    unsigned width = opt && opt->width ? opt->width : terminal_width();
    bool more[MAX_INDENT + 2] = {false};
    size_t i;

    if (!json_is_object(story) || !json_is_array(nodes))
        return -1;
    if (!(opt && opt->no_header)) {
        fputs("Story of process ", f);
        put_text(f, str(story, "process") ? str(story, "process") : "?", 48);
        fputs(" around ", f);
        put_time(f, str(story, "time"));
        fputc('\n', f);
        if (str(story, "ancestry_end_text")) {
            fputs("Started from: ", f);
            put_text(f, str(story, "ancestry_end_text"), width);
            fputc('\n', f);
        }
        cut = json_object_get(story, "truncated_by");
        if (json_array_size(cut)) {
            json_t *c;
            fputs("Cut short by the limits on: ", f);
            json_array_foreach(cut, i, c) {
                fputs(i ? ", " : "", f);
                put_text(f, json_string_value(c) ? json_string_value(c) : "?", 30);
            }
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    /* per parent, its last child, so each node knows whether it is last */
    last_of = json_object();
    if (!last_of)
        return -1;
    json_array_foreach(nodes, i, n) {
        const char *p = str(n, "parent");
        if (p)
            json_object_set_new(last_of, p, json_integer((json_int_t)i));
    }
    json_array_foreach(nodes, i, n) {
        const char *p = str(n, "parent"), *uid = str(n, "uid");
        long long d = json_integer_value(json_object_get(n, "depth"));
        unsigned depth = d < 0 ? 0 : d > MAX_INDENT ? MAX_INDENT : (unsigned)d;
        bool last = !p || json_integer_value(json_object_get(last_of, p)) == (json_int_t)i;
        bool has_kids = uid && json_object_get(last_of, uid) != NULL;
        more[depth] = !last;
        print_node(f, n, depth, more, last, has_kids, width);
    }
    json_decref(last_of);
    return 0;
}
