/*
 * story_words.c — what an event or a command means, in one line a person
 * reads (see story_int.h).
 *
 * File events are read through the file's location (LocationTag) and, for
 * persistence and security configuration, through the content the agent
 * sent (FileContentSnippet): a cron file's entries (schedule, user,
 * program), a systemd unit's ExecStart and User, authorized_keys lines,
 * sudoers rules, the agent's exclusion list. Command lines are read for
 * the few programs whose effect the event stream does not show otherwise
 * (systemctl, nft, iptables, setenforce, auditctl, crontab, ...).
 *
 * Every input is untrusted bytes from an agent. Parsing is by hand, over
 * bounded text (a snippet is at most a few KiB), with every piece cut to
 * a fixed size; a line of text never exceeds STORY_LINE_MAX.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "server/story_int.h"

#define PIECE 120       /* bytes of one quoted piece (a path, a program) */
#define MAX_WORDS 64    /* words of a command line or a config line examined */
#define MAX_ENTRIES 3   /* entries named in one line; the rest are counted */

/* ------------------------------------------------------------------ events */

struct story_ev *story_ev_copy(const struct store_event_row *row)
{
    size_t bytes = 0;
    struct story_ev *e;
    char *p;

    for (size_t i = 0; i < row->nvalues; i++)
        if (row->values[i].s)
            bytes += row->values[i].n + 1;
    e = malloc(sizeof(*e) + row->nvalues * sizeof(struct story_val) + bytes);
    if (!e)
        return NULL;
    e->table = row->table;
    e->ts = 0;
    e->seq = 0;
    e->nv = row->nvalues;
    e->v = (struct story_val *)(e + 1);
    p = (char *)(e->v + row->nvalues);
    for (size_t i = 0; i < row->nvalues; i++) {
        const struct store_event_value *v = &row->values[i];
        struct story_val *o = &e->v[i];
        o->id = v->field->id;
        o->i = v->i;
        o->n = v->n;
        o->s = NULL;
        if (v->s) {
            memcpy(p, v->s, v->n);
            p[v->n] = '\0';
            o->s = p;
            p += v->n + 1;
        }
        if (o->id == F_TIMESTAMP)
            e->ts = v->i;
        else if (o->id == F_SEQ)
            e->seq = (uint64_t)v->i;
    }
    return e;
}

static const struct story_val *val(const struct story_ev *e, unsigned id)
{
    for (size_t i = 0; i < e->nv; i++)
        if (e->v[i].id == id)
            return &e->v[i];
    return NULL;
}

const char *story_ev_str(const struct story_ev *e, unsigned id)
{
    const struct story_val *v = val(e, id);
    return v ? v->s : NULL;
}

bool story_ev_int(const struct story_ev *e, unsigned id, int64_t *out)
{
    const struct story_val *v = val(e, id);
    if (!v || v->s)
        return false;
    if (out)
        *out = v->i;
    return true;
}

bool story_ev_is(const struct story_ev *e, unsigned id, const char *s)
{
    const struct story_val *v = val(e, id);
    return v && v->s && v->n == strlen(s) && memcmp(v->s, s, v->n) == 0;
}

/* ------------------------------------------------------------------ text */

struct sb {
    char *buf;
    size_t cap, n;
};

static void sb_add(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (b->n + 1 >= b->cap)
        return;
    va_start(ap, fmt);
    k = vsnprintf(b->buf + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    b->n += (size_t)k < b->cap - b->n ? (size_t)k : b->cap - b->n - 1;
}

char *story_words_shorten(const char *s, size_t max, char *out, size_t outlen)
{
    char tmp[4 * STORY_LINE_MAX];
    size_t n = 0;
    bool blank = false;

    if (outlen == 0)
        return out;
    for (; s && *s && n + 5 < sizeof(tmp); s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            blank = n > 0;
            continue;
        }
        if (blank) {
            tmp[n++] = ' ';
            blank = false;
        }
        if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "\\x%02x", c);
        else
            tmp[n++] = (char)c;
    }
    tmp[n] = '\0';
    if (max >= outlen)
        max = outlen - 1;
    if (n <= max) {
        snprintf(out, outlen, "%s", tmp);
        return out;
    }
    if (max < 8) {
        snprintf(out, outlen, "%.*s", (int)max, tmp);
        return out;
    }
    {
        /* keep two thirds of the head and the tail; "…" is 3 bytes */
        size_t head = (max - 3) * 2 / 3, tail = max - 3 - head;
        while (head > 0 && ((unsigned char)tmp[head] & 0xc0) == 0x80)
            head--; /* do not cut a UTF-8 sequence */
        while (tail > 0 && ((unsigned char)tmp[n - tail] & 0xc0) == 0x80)
            tail--;
        snprintf(out, outlen, "%.*s\xe2\x80\xa6%s", (int)head, tmp, tmp + n - tail);
    }
    return out;
}

/* A piece of untrusted text, short, for a line. */
static const char *piece(const char *s, char *buf)
{
    return story_words_shorten(s ? s : "", PIECE, buf, PIECE + 8);
}

/* The last component of a path. */
static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Splits line[0..n) into words at blanks: start pointers and lengths. */
static size_t split_words(const char *line, size_t n, const char **w, size_t *wl, size_t max)
{
    size_t k = 0, i = 0;

    while (i < n && k < max) {
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= n)
            break;
        w[k] = line + i;
        while (i < n && line[i] != ' ' && line[i] != '\t')
            i++;
        wl[k] = (size_t)(line + i - w[k]);
        k++;
    }
    return k;
}

static bool word_is(const char *w, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(w, s, n) == 0;
}

/* Iterates over the lines of text: *line and *len for each, false at the end. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *s = *p, *e;

    if (s >= end)
        return false;
    e = memchr(s, '\n', (size_t)(end - s));
    if (!e)
        e = end;
    *line = s;
    *len = (size_t)(e - s);
    while (*len && (s[*len - 1] == '\r' || s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
    while (*len && (**line == ' ' || **line == '\t')) {
        (*line)++;
        (*len)--;
    }
    *p = e < end ? e + 1 : end;
    return true;
}

/* "a, b and c" for the parts so far. */
static void add_joined(struct sb *b, size_t i, size_t count)
{
    if (i == 0)
        return;
    sb_add(b, "%s", i + 1 == count ? " and " : ", ");
}

/* ------------------------------------------------------------------ cron */

static void cron_schedule(const char **f, const size_t *fl, size_t nf, struct sb *b)
{
    static const struct {
        const char *word, *text;
    } at[] = {
        {"@reboot", "at boot"},       {"@hourly", "every hour"},   {"@daily", "every day"},
        {"@midnight", "every day"},   {"@weekly", "every week"},   {"@monthly", "every month"},
        {"@yearly", "every year"},    {"@annually", "every year"},
    };
    bool stars = true;

    if (nf == 1) {
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
            if (word_is(f[0], fl[0], at[i].word)) {
                sb_add(b, "%s", at[i].text);
                return;
            }
        sb_add(b, "on the schedule %.*s", (int)(fl[0] < 20 ? fl[0] : 20), f[0]);
        return;
    }
    for (size_t i = 1; i < 5; i++)
        stars = stars && word_is(f[i], fl[i], "*");
    if (stars && word_is(f[0], fl[0], "*")) {
        sb_add(b, "every minute");
        return;
    }
    if (stars && fl[0] > 2 && fl[0] < 6 && memcmp(f[0], "*/", 2) == 0) {
        sb_add(b, "every %.*s minutes", (int)fl[0] - 2, f[0] + 2);
        return;
    }
    if (stars && fl[0] <= 2 && isdigit((unsigned char)f[0][0])) {
        sb_add(b, "every hour");
        return;
    }
    sb_add(b, "on the schedule '");
    for (size_t i = 0; i < 5; i++)
        sb_add(b, "%s%.*s", i ? " " : "", (int)(fl[i] < 16 ? fl[i] : 16), f[i]);
    sb_add(b, "'");
}

/* ", a cron entry that runs P as U at boot" from a cron file's content;
 * user_of_file: the user of a per-user crontab (no user column), or NULL. */
static void describe_cron(const char *snip, size_t n, const char *user_of_file, struct sb *b)
{
    const char *p = snip, *end = snip + n, *line;
    const char *entries[MAX_ENTRIES][7];
    size_t lens[MAX_ENTRIES][7], nf[MAX_ENTRIES], count = 0;
    const char *prog[MAX_ENTRIES], *user[MAX_ENTRIES];
    size_t progl[MAX_ENTRIES], userl[MAX_ENTRIES];
    size_t len;

    while (next_line(&p, end, &line, &len)) {
        const char *w[MAX_WORDS];
        size_t wl[MAX_WORDS], k, sched, need;
        if (!len || line[0] == '#')
            continue;
        k = split_words(line, len, w, wl, MAX_WORDS);
        if (k && memchr(w[0], '=', wl[0]) && w[0][0] != '*' && w[0][0] != '@' && !isdigit((unsigned char)w[0][0]))
            continue; /* SHELL=/bin/sh, PATH=..., MAILTO= */
        sched = k && w[0][0] == '@' ? 1 : 5;
        need = sched + (user_of_file ? 0 : 1) + 1;
        if (k < need)
            continue;
        if (count < MAX_ENTRIES) {
            for (size_t i = 0; i < sched; i++) {
                entries[count][i] = w[i];
                lens[count][i] = wl[i];
            }
            nf[count] = sched;
            if (user_of_file) {
                user[count] = user_of_file;
                userl[count] = strlen(user_of_file);
            } else {
                user[count] = w[sched];
                userl[count] = wl[sched];
            }
            prog[count] = w[need - 1];
            progl[count] = wl[need - 1];
        }
        count++;
    }
    if (count == 0) {
        sb_add(b, ", a cron file without entries");
        return;
    }
    sb_add(b, count == 1 ? ", a cron entry that runs " : ", cron entries that run ");
    for (size_t i = 0; i < count && i < MAX_ENTRIES; i++) {
        char pb[PIECE + 8], tmp[PIECE + 1];
        add_joined(b, i, count < MAX_ENTRIES ? count : MAX_ENTRIES);
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(progl[i] < PIECE ? progl[i] : PIECE), prog[i]);
        sb_add(b, "%s as %.*s ", piece(tmp, pb), (int)(userl[i] < 32 ? userl[i] : 32), user[i]);
        cron_schedule(entries[i], lens[i], nf[i], b);
    }
    if (count > MAX_ENTRIES)
        sb_add(b, " (and %zu more)", count - MAX_ENTRIES);
}

/* ------------------------------------------------------------------ systemd */

/* The value of "Key=" in a unit's content (the first non-empty one). */
static bool unit_value(const char *snip, size_t n, const char *key, char *out, size_t outlen)
{
    const char *p = snip, *end = snip + n, *line;
    size_t len, kl = strlen(key);

    while (next_line(&p, end, &line, &len)) {
        const char *v;
        size_t vl;
        if (len <= kl || memcmp(line, key, kl) != 0)
            continue;
        v = line + kl;
        vl = len - kl;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        if (!vl || *v != '=')
            continue;
        v++;
        vl--;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        if (!vl)
            continue;
        snprintf(out, outlen, "%.*s", (int)(vl < outlen - 1 ? vl : outlen - 1), v);
        return true;
    }
    return false;
}

static void describe_unit(const char *path, const char *snip, size_t n, struct sb *b)
{
    char exec[PIECE + 1], user[64], restart[32], wanted[64], pb[PIECE + 8], pb2[PIECE + 8], when[64];
    const char *dot = strrchr(path, '.');

    if (dot && strcmp(dot, ".timer") == 0) {
        sb_add(b, ", a systemd timer");
        if (unit_value(snip, n, "OnCalendar", when, sizeof(when)))
            sb_add(b, " that fires on '%s'", piece(when, pb));
        else if (unit_value(snip, n, "OnBootSec", when, sizeof(when)))
            sb_add(b, " that fires %s after boot", piece(when, pb));
        if (unit_value(snip, n, "Unit", when, sizeof(when)))
            sb_add(b, " to start %s", piece(when, pb));
        return;
    }
    if (!unit_value(snip, n, "ExecStart", exec, sizeof(exec))) {
        sb_add(b, ", a systemd unit");
        return;
    }
    {
        /* prefixes of ExecStart (@-:+!) and the program alone */
        char *s = exec, *sp;
        while (*s && strchr("@-:+!", *s))
            s++;
        sp = strpbrk(s, " \t");
        if (sp)
            *sp = '\0';
        memmove(exec, s, strlen(s) + 1);
    }
    if (!unit_value(snip, n, "User", user, sizeof(user)))
        snprintf(user, sizeof(user), "root");
    sb_add(b, ", a systemd unit that runs %s as %s", piece(exec, pb), piece(user, pb2));
    if (unit_value(snip, n, "Restart", restart, sizeof(restart))) {
        if (strcmp(restart, "always") == 0)
            sb_add(b, ", restarted whenever it stops");
        else if (strcmp(restart, "no") != 0)
            sb_add(b, ", restarted when it fails");
    }
    if (unit_value(snip, n, "WantedBy", wanted, sizeof(wanted)))
        sb_add(b, ", started at boot once enabled");
}

/* ------------------------------------------------------------------ keys, sudoers, exclusions */

/* The account whose file this is: /root/... → root, /home/NAME/... → NAME. */
static bool owner_of_home(const char *path, char *out, size_t outlen)
{
    if (strncmp(path, "/root/", 6) == 0) {
        snprintf(out, outlen, "root");
        return true;
    }
    if (strncmp(path, "/home/", 6) == 0) {
        const char *e = strchr(path + 6, '/');
        if (e && e > path + 6) {
            snprintf(out, outlen, "%.*s", (int)(e - path - 6 < 32 ? e - path - 6 : 32), path + 6);
            return true;
        }
    }
    return false;
}

static void describe_keys(const char *path, const char *snip, size_t n, bool have_snip, struct sb *b)
{
    const char *p = snip, *end = snip + n, *line, *kt = NULL, *cm = NULL;
    size_t len, ktl = 0, cml = 0, count = 0;
    char owner[40], where[PIECE + 40], pb[PIECE + 8];

    if (owner_of_home(path, owner, sizeof(owner)))
        snprintf(where, sizeof(where), "%s's authorized keys", owner);
    else
        snprintf(where, sizeof(where), "the authorized keys %s", piece(path, pb));
    while (have_snip && next_line(&p, end, &line, &len)) {
        const char *w[MAX_WORDS];
        size_t wl[MAX_WORDS], k;
        if (!len || line[0] == '#')
            continue;
        k = split_words(line, len, w, wl, MAX_WORDS);
        for (size_t i = 0; i + 1 < k; i++) {
            if ((wl[i] > 4 && memcmp(w[i], "ssh-", 4) == 0) || (wl[i] > 6 && memcmp(w[i], "ecdsa-", 6) == 0) ||
                (wl[i] > 3 && memcmp(w[i], "sk-", 3) == 0)) {
                /* the newest key is the last one: files are appended to */
                kt = w[i];
                ktl = wl[i];
                cm = i + 2 < k ? w[i + 2] : NULL;
                cml = i + 2 < k ? (size_t)(line + len - w[i + 2]) : 0;
                count++;
                break;
            }
        }
    }
    if (!count) {
        sb_add(b, "changed %s (%s)", where, piece(path, pb));
        return;
    }
    sb_add(b, "added an SSH key (%.*s \xe2\x80\xa6", (int)(ktl < 40 ? ktl : 40), kt);
    if (cm) {
        char c[PIECE + 1];
        snprintf(c, sizeof(c), "%.*s", (int)(cml < PIECE ? cml : PIECE), cm);
        sb_add(b, " %s", piece(c, pb));
    }
    sb_add(b, ") to %s", where);
    if (count > 1)
        sb_add(b, " (the file holds %zu keys)", count);
}

static void describe_sudoers(const char *path, const char *snip, size_t n, bool have_snip, struct sb *b)
{
    const char *p = snip, *end = snip + n, *line, *who[MAX_ENTRIES];
    size_t len, whol[MAX_ENTRIES], nopw = 0, all = 0;
    char pb[PIECE + 8];
    bool any_nopw = false;

    while (have_snip && next_line(&p, end, &line, &len)) {
        const char *w[MAX_WORDS];
        size_t wl[MAX_WORDS], k;
        bool np = false;
        if (!len || line[0] == '#' || (len > 8 && memcmp(line, "Defaults", 8) == 0) ||
            (len > 6 && memcmp(line + len - 6, "_Alias", 6) == 0))
            continue;
        k = split_words(line, len, w, wl, MAX_WORDS);
        if (k < 2 || memchr(line, '=', len) == NULL)
            continue;
        if (wl[0] > 6 && memcmp(w[0] + wl[0] - 6, "_Alias", 6) == 0)
            continue;
        np = memmem(line, len, "NOPASSWD", 8) != NULL;
        if (np && nopw < MAX_ENTRIES) {
            who[nopw] = w[0];
            whol[nopw] = wl[0];
        }
        if (np) {
            nopw++;
            any_nopw = true;
        } else {
            all++;
        }
    }
    if (any_nopw) {
        sb_add(b, "allowed passwordless sudo for ");
        for (size_t i = 0; i < nopw && i < MAX_ENTRIES; i++) {
            add_joined(b, i, nopw < MAX_ENTRIES ? nopw : MAX_ENTRIES);
            sb_add(b, "%.*s", (int)(whol[i] < 32 ? whol[i] : 32), who[i]);
        }
        if (nopw > MAX_ENTRIES)
            sb_add(b, " and %zu more", nopw - MAX_ENTRIES);
        sb_add(b, " (%s)", piece(path, pb));
        return;
    }
    if (all) {
        sb_add(b, "added sudo rules (%s)", piece(path, pb));
        return;
    }
    sb_add(b, "changed the sudo rules (%s)", piece(path, pb));
}

static void describe_exclusions(const char *path, const char *snip, size_t n, bool have_snip, bool created,
                                struct sb *b)
{
    const char *p = snip, *end = snip + n, *line, *ent[MAX_ENTRIES], *last = NULL;
    size_t len, entl[MAX_ENTRIES], lastl = 0, count = 0;
    char pb[PIECE + 8], tmp[PIECE + 1];

    while (have_snip && next_line(&p, end, &line, &len)) {
        if (!len || line[0] == '#')
            continue;
        if (count < MAX_ENTRIES) {
            ent[count] = line;
            entl[count] = len;
        }
        last = line;
        lastl = len;
        count++;
    }
    if (!count) {
        sb_add(b, "changed the agent's exclusions (%s)", piece(path, pb));
        return;
    }
    sb_add(b, "added ");
    if (created) {
        for (size_t i = 0; i < count && i < MAX_ENTRIES; i++) {
            add_joined(b, i, count < MAX_ENTRIES ? count : MAX_ENTRIES);
            snprintf(tmp, sizeof(tmp), "%.*s", (int)(entl[i] < PIECE ? entl[i] : PIECE), ent[i]);
            sb_add(b, "%s", piece(tmp, pb));
        }
        if (count > MAX_ENTRIES)
            sb_add(b, " and %zu more", count - MAX_ENTRIES);
        sb_add(b, " to the agent's exclusions (%s)", piece(path, pb));
        return;
    }
    /* appended: the newest entry is the last one */
    snprintf(tmp, sizeof(tmp), "%.*s", (int)(lastl < PIECE ? lastl : PIECE), last);
    sb_add(b, "%s to the agent's exclusions (", piece(tmp, pb));
    sb_add(b, "%s", piece(path, pb));
    if (count > 1)
        sb_add(b, ", %zu entries now", count);
    sb_add(b, ")");
}

/* ------------------------------------------------------------------ file events */

static const struct {
    const char *tag, *noun;
} tag_nouns[] = {
    {"persistence:at", "an at job"},
    {"persistence:rc", "a script run at boot (rc.local)"},
    {"persistence:init", "an init script"},
    {"persistence:shell", "a shell start-up file run at every login"},
    {"persistence:shell-rc", "a shell start-up file run at every login"},
    {"persistence:autostart", "a desktop autostart entry"},
    {"persistence:udev", "a udev rule"},
    {"persistence:module", "kernel module configuration"},
    {"persistence:motd", "a script run at every login (motd)"},
    {"persistence:package-hook", "a hook run at every package operation"},
    {"security:ld-preload", "which loads a library into every program"},
    {"security:ld-config", "the library search path"},
    {"security:pam", "the login (PAM) configuration"},
    {"security:ssh", "the SSH configuration"},
    {"security:accounts", "the account database"},
    {"security:selinux", "the SELinux configuration"},
    {"security:apparmor", "the AppArmor configuration"},
    {"security:audit", "the audit configuration"},
    {"security:firewall", "the firewall configuration"},
    {"security:hosts", "the host name table"},
    {"agent:config", "the agent's configuration"},
    {"agent:state", "the agent's state"},
    {"agent:binary", "the agent's program"},
};

static void describe_write(const struct story_ev *e, bool created, struct story_words *out)
{
    struct sb b = {out->text, sizeof(out->text), 0};
    const char *path = story_ev_str(e, F_FOLDER_PATH), *tag = story_ev_str(e, F_LOCATION_TAG);
    const struct story_val *sv = val(e, F_FILE_CONTENT_SNIPPET);
    const char *snip = sv && sv->s ? sv->s : "";
    size_t sn = sv && sv->s ? sv->n : 0;
    bool have = sv && sv->s, trunc = story_ev_int(e, F_FILE_TRUNCATED, NULL);
    char pb[PIECE + 8];
    const char *verb = created ? "created" : "changed";

    if (!path)
        path = story_ev_str(e, F_FILE_NAME);
    if (!path)
        path = "";
    if (!tag)
        tag = "";
    out->from_content = have;
    if (strcmp(tag, "history") == 0 && !created && (trunc || sn == 0)) {
        sb_add(&b, "cleared %s", piece(path, pb));
        return;
    }
    if (strcmp(tag, "log") == 0 && trunc) {
        sb_add(&b, "emptied the log %s", piece(path, pb));
        return;
    }
    if (strcmp(tag, "persistence:ssh-key") == 0) {
        describe_keys(path, snip, sn, have, &b);
        return;
    }
    if (strcmp(tag, "security:sudoers") == 0) {
        describe_sudoers(path, snip, sn, have, &b);
        return;
    }
    if (strcmp(tag, "agent:config") == 0 && strstr(base_name(path), "exclusion")) {
        describe_exclusions(path, snip, sn, have, created, &b);
        return;
    }
    sb_add(&b, "%s %s", verb, piece(path, pb));
    if (strcmp(tag, "persistence:cron") == 0) {
        if (!have) {
            sb_add(&b, ", a cron file (its content was not recorded)");
        } else {
            char user[40];
            bool per_user = strncmp(path, "/var/spool/cron/", 16) == 0;
            snprintf(user, sizeof(user), "%.32s", base_name(path));
            describe_cron(snip, sn, per_user ? user : NULL, &b);
        }
    } else if (strcmp(tag, "persistence:systemd") == 0) {
        if (have)
            describe_unit(path, snip, sn, &b);
        else
            sb_add(&b, ", a systemd unit file (its content was not recorded)");
    } else {
        for (size_t i = 0; i < sizeof(tag_nouns) / sizeof(tag_nouns[0]); i++)
            if (strcmp(tag, tag_nouns[i].tag) == 0) {
                sb_add(&b, ", %s", tag_nouns[i].noun);
                break;
            }
        if (created && story_ev_int(e, F_IS_EXECUTABLE, NULL))
            sb_add(&b, ", an executable file");
        if (!created && trunc)
            sb_add(&b, " (emptied it first)");
    }
    if (have && story_ev_int(e, F_FILE_CONTENT_SNIPPET_TRUNCATED, NULL))
        sb_add(&b, " (content read in part)");
}

static bool describe_file(const struct story_ev *e, bool created, struct story_words *out)
{
    struct sb b = {out->text, sizeof(out->text), 0};
    const char *path = story_ev_str(e, F_FOLDER_PATH), *tag = story_ev_str(e, F_LOCATION_TAG);
    char pb[PIECE + 8], pb2[PIECE + 8];

    out->kind = "file";
    if (!path)
        path = "";
    if (!tag)
        tag = "";
    if (story_ev_is(e, F_ACTION_TYPE, "FileCreated") || story_ev_is(e, F_ACTION_TYPE, "FileModified")) {
        const char *lt = story_ev_str(e, F_LINK_TYPE), *target = story_ev_str(e, F_LINK_TARGET);
        bool is_create = story_ev_is(e, F_ACTION_TYPE, "FileCreated");
        if (lt && target) {
            const char *wants = strstr(path, ".wants/");
            if (wants && strcmp(tag, "persistence:systemd") == 0) {
                const char *dir = path;
                size_t dl;
                for (const char *s = path; s < wants; s++)
                    if (*s == '/')
                        dir = s + 1;
                dl = (size_t)(wants - dir); /* "multi-user.target" */
                sb_add(&b, "linked %s into %.*s.wants, so it starts at boot", piece(target, pb),
                       (int)(dl < 64 ? dl : 64), dir);
            } else {
                sb_add(&b, "created the %s %s \xe2\x86\x92 %s", strcmp(lt, "hardlink") == 0 ? "hard link" : "link",
                       piece(path, pb), piece(target, pb2));
            }
            return true;
        }
        if (story_ev_int(e, F_IS_DIRECTORY, NULL)) {
            if (!is_create)
                return false;
            sb_add(&b, "created the directory %s", piece(path, pb));
            return true;
        }
        out->merge_key = path;
        describe_write(e, created || is_create, out);
        return true;
    }
    if (story_ev_is(e, F_ACTION_TYPE, "FileDeleted")) {
        if (strcmp(tag, "history") == 0)
            sb_add(&b, "deleted the shell history %s", piece(path, pb));
        else if (strcmp(tag, "log") == 0)
            sb_add(&b, "deleted the log %s", piece(path, pb));
        else
            sb_add(&b, "deleted %s", piece(path, pb));
        return true;
    }
    if (story_ev_is(e, F_ACTION_TYPE, "FileRenamed")) {
        const char *prev = story_ev_str(e, F_PREVIOUS_FOLDER_PATH);
        if (story_ev_str(e, F_FILE_CONTENT_SNIPPET) || (tag[0] && strncmp(tag, "temp", 4) != 0)) {
            /* moved into a location that matters: say what it now is */
            struct story_words w = {.kind = "file"};
            describe_write(e, true, &w);
            sb_add(&b, "moved %s into place: %s", piece(prev ? prev : "?", pb), w.text);
            out->from_content = w.from_content;
        } else {
            sb_add(&b, "renamed %s to %s", piece(prev ? prev : "?", pb), piece(path, pb2));
        }
        return true;
    }
    if (story_ev_is(e, F_ACTION_TYPE, "FilePermissionsChanged")) {
        const char *mode = story_ev_str(e, F_FILE_MODE);
        unsigned long m = mode ? strtoul(mode, NULL, 8) : 0;
        if (mode && (m & 0111) && !story_ev_int(e, F_IS_DIRECTORY, NULL))
            sb_add(&b, "made %s executable (mode %.8s)", piece(path, pb), mode);
        else
            sb_add(&b, "changed the permissions of %s to %.8s", piece(path, pb), mode ? mode : "?");
        return true;
    }
    if (story_ev_is(e, F_ACTION_TYPE, "FileOwnerChanged")) {
        int64_t u;
        if (story_ev_int(e, F_FILE_OWNER_UID, &u))
            sb_add(&b, "gave %s to uid %lld", piece(path, pb), (long long)u);
        else
            sb_add(&b, "changed the group of %s", piece(path, pb));
        return true;
    }
    if (story_ev_is(e, F_ACTION_TYPE, "FileTimestampChanged")) {
        sb_add(&b, "set the timestamps of %s", piece(path, pb));
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ other tables */

static const char *proto_text(const char *p)
{
    if (!p)
        return "?";
    if (strcmp(p, "Tcp") == 0)
        return "TCP";
    if (strcmp(p, "Udp") == 0)
        return "UDP";
    return p;
}

static void endpoint(const struct story_ev *e, unsigned ip_id, unsigned port_id, char *out, size_t outlen)
{
    const char *ip = story_ev_str(e, ip_id);
    int64_t port = 0;
    char pb[PIECE + 8];

    story_ev_int(e, port_id, &port);
    piece(ip ? ip : "?", pb);
    if (strchr(pb, ':'))
        snprintf(out, outlen, "[%s]:%lld", pb, (long long)port);
    else
        snprintf(out, outlen, "%s:%lld", pb, (long long)port);
}

static bool describe_network(const struct story_ev *e, struct story_words *out)
{
    struct sb b = {out->text, sizeof(out->text), 0};
    const char *proto = proto_text(story_ev_str(e, F_PROTOCOL)), *err = story_ev_str(e, F_CONNECTION_ERROR);
    char remote[PIECE + 16], local[PIECE + 16], pb[PIECE + 8];

    out->kind = "network";
    endpoint(e, F_REMOTE_IP, F_REMOTE_PORT, remote, sizeof(remote));
    endpoint(e, F_LOCAL_IP, F_LOCAL_PORT, local, sizeof(local));
    if (story_ev_is(e, F_ACTION_TYPE, "ConnectionSuccess"))
        sb_add(&b, "connected to %s (%s)", remote, proto);
    else if (story_ev_is(e, F_ACTION_TYPE, "ConnectionFailed"))
        sb_add(&b, "failed to connect to %s (%s%s%s)", remote, proto, err ? ", " : "", err ? piece(err, pb) : "");
    else if (story_ev_is(e, F_ACTION_TYPE, "InboundConnectionAccepted"))
        sb_add(&b, "accepted a connection from %s on %s (%s)", remote, local, proto);
    else if (story_ev_is(e, F_ACTION_TYPE, "ListeningConnectionCreated"))
        sb_add(&b, "listened on %s (%s)", local, proto);
    else
        return false;
    return true;
}

static bool describe_logon(const struct story_ev *e, struct story_words *out)
{
    struct sb b = {out->text, sizeof(out->text), 0};
    const char *acct = story_ev_str(e, F_ACCOUNT_NAME), *proto = story_ev_str(e, F_PROTOCOL);
    const char *ip = story_ev_str(e, F_REMOTE_IP), *method = story_ev_str(e, F_AUTHENTICATION_METHOD);
    const char *kt = story_ev_str(e, F_AUTHENTICATION_KEY_TYPE), *kf = story_ev_str(e, F_AUTHENTICATION_KEY_FINGERPRINT);
    const char *why = story_ev_str(e, F_FAILURE_REASON), *cmd = story_ev_str(e, F_LOGON_COMMAND);
    const char *by = story_ev_str(e, F_INITIATING_ACCOUNT_NAME);
    bool ok = story_ev_is(e, F_ACTION_TYPE, "LogonSuccess");
    char a[40], pb[PIECE + 8], pb2[PIECE + 8];

    out->kind = "logon";
    snprintf(a, sizeof(a), "%.32s", acct ? acct : "?");
    if (proto && strcmp(proto, "ssh") == 0) {
        sb_add(&b, "%s an SSH login as %s", ok ? "accepted" : "refused", a);
        if (ip)
            sb_add(&b, " from %s", piece(ip, pb));
        if (ok && method) {
            sb_add(&b, " (%s", piece(method, pb));
            if (kt || kf)
                sb_add(&b, ", %s %s", kt ? piece(kt, pb) : "", kf ? piece(kf, pb2) : "");
            sb_add(&b, ")");
        }
    } else if (proto && (strcmp(proto, "sudo") == 0 || strcmp(proto, "su") == 0)) {
        if (ok)
            sb_add(&b, "%s became %s with %s", by ? piece(by, pb) : "someone", a, proto);
        else
            sb_add(&b, "%s was refused %s to %s", by ? piece(by, pb) : "someone", proto, a);
        if (cmd)
            sb_add(&b, " to run %s", piece(cmd, pb2));
    } else {
        sb_add(&b, "%s a login as %s", ok ? "accepted" : "refused", a);
        if (ip)
            sb_add(&b, " from %s", piece(ip, pb));
    }
    if (!ok && why)
        sb_add(&b, " (%s)", piece(why, pb));
    return true;
}

static bool describe_device(const struct story_ev *e, bool as_target, struct story_words *out)
{
    struct sb b = {out->text, sizeof(out->text), 0};
    char pb[PIECE + 8];
    int64_t a = 0, c = 0;

    out->kind = "device";
    if (story_ev_is(e, F_ACTION_TYPE, "PtraceAttach")) {
        if (as_target) {
            const char *by = story_ev_str(e, F_IP_FILE_NAME);
            story_ev_int(e, F_IP_ID, &a);
            sb_add(&b, "was attached to with ptrace by %s (pid %lld)", piece(by ? by : "?", pb), (long long)a);
        } else {
            const char *t = story_ev_str(e, F_TARGET_PROCESS_FILE_NAME);
            story_ev_int(e, F_TARGET_PROCESS_ID, &a);
            sb_add(&b, "attached to %s (pid %lld) with ptrace", piece(t ? t : "?", pb), (long long)a);
        }
        return true;
    }
    if (as_target)
        return false;
    if (story_ev_is(e, F_ACTION_TYPE, "KernelModuleLoad")) {
        const char *p = story_ev_str(e, F_FOLDER_PATH);
        sb_add(&b, "%s the kernel module %s", story_ev_int(e, F_MODULE_LOAD_FAILED, NULL) ? "tried to load" : "loaded",
               piece(p ? p : story_ev_str(e, F_FILE_NAME) ? story_ev_str(e, F_FILE_NAME) : "?", pb));
        return true;
    }
    if (story_ev_is(e, F_ACTION_TYPE, "ProcessCredentialsChanged")) {
        if (story_ev_int(e, F_NEW_EFFECTIVE_UID, &c) || story_ev_int(e, F_NEW_ACCOUNT_UID, &c)) {
            if (!story_ev_int(e, F_PROCESS_EFFECTIVE_UID, &a))
                story_ev_int(e, F_ACCOUNT_UID, &a);
            sb_add(&b, "changed its user from uid %lld to uid %lld", (long long)a, (long long)c);
        } else {
            sb_add(&b, "changed its groups");
        }
        return true;
    }
    if (story_ev_is(e, F_ACTION_TYPE, "MemfdCreated")) {
        const char *n = story_ev_str(e, F_MEMFD_NAME);
        sb_add(&b, "created an in-memory file (memfd:%s)", piece(n ? n : "", pb));
        return true;
    }
    if (story_ev_is(e, F_ACTION_TYPE, "BpfProgramLoad")) {
        const char *n = story_ev_str(e, F_BPF_PROGRAM_NAME);
        sb_add(&b, "loaded a BPF program%s%s", n ? " " : "", n ? piece(n, pb) : "");
        return true;
    }
    return false;
}

bool story_words_event(const struct story_ev *e, bool as_target, bool created, struct story_words *out)
{
    out->text[0] = '\0';
    out->kind = "";
    out->merge_key = NULL;
    out->from_content = false;
    switch (e->table) {
    case SCHEMA_T_FILE: return !as_target && describe_file(e, created, out);
    case SCHEMA_T_NETWORK: return !as_target && describe_network(e, out);
    case SCHEMA_T_LOGON: return !as_target && describe_logon(e, out);
    case SCHEMA_T_DEVICE: return describe_device(e, as_target, out);
    default: return false;
    }
}

/* ------------------------------------------------------------------ commands */

/* The words after argv[0] that are not options, from index from. */
static size_t operands(const char **w, const size_t *wl, size_t k, size_t from, const char **ow, size_t *owl,
                       size_t max)
{
    size_t n = 0;
    for (size_t i = from; i < k && n < max; i++) {
        if (wl[i] && w[i][0] == '-')
            continue;
        ow[n] = w[i];
        owl[n++] = wl[i];
    }
    return n;
}

static bool has_word(const char **w, const size_t *wl, size_t k, const char *s)
{
    for (size_t i = 1; i < k; i++)
        if (word_is(w[i], wl[i], s))
            return true;
    return false;
}

/* "auditd" for "auditd.service", cut to 64 bytes. */
static void unit_name(const char *w, size_t n, char *out, size_t outlen)
{
    if (n > 8 && memcmp(w + n - 8, ".service", 8) == 0)
        n -= 8;
    snprintf(out, outlen, "%.*s", (int)(n < 64 ? n : 64), w);
}

static bool describe_systemctl(const char **ow, const size_t *owl, size_t no, bool now, struct sb *b)
{
    static const struct {
        const char *verb, *text, *now_text;
    } verbs[] = {
        {"stop", "stopped the service", NULL},
        {"start", "started the service", NULL},
        {"restart", "restarted the service", NULL},
        {"disable", "disabled the service", " and stopped it"},
        {"enable", "enabled the service", " and started it"},
        {"mask", "masked the service", " and stopped it"},
        {"kill", "sent a signal to the service", NULL},
    };
    char u[80];

    if (no < 2)
        return false;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (!word_is(ow[0], owl[0], verbs[i].verb))
            continue;
        sb_add(b, "%s%s ", verbs[i].text, no > 2 ? "s" : "");
        for (size_t j = 1; j < no && j <= MAX_ENTRIES; j++) {
            add_joined(b, j - 1, no - 1 < MAX_ENTRIES ? no - 1 : MAX_ENTRIES);
            unit_name(ow[j], owl[j], u, sizeof(u));
            sb_add(b, "%s", u);
        }
        if (no - 1 > MAX_ENTRIES)
            sb_add(b, " and %zu more", no - 1 - MAX_ENTRIES);
        if (strcmp(verbs[i].verb, "enable") == 0)
            sb_add(b, " to start at boot");
        else if (strcmp(verbs[i].verb, "disable") == 0)
            sb_add(b, " so it does not start at boot");
        if (now && verbs[i].now_text)
            sb_add(b, "%s", verbs[i].now_text);
        return true;
    }
    return false;
}

bool story_words_command(const char *file_name, const char *cmdline, struct story_words *out)
{
    struct sb b = {out->text, sizeof(out->text), 0};
    const char *w[MAX_WORDS], *ow[MAX_WORDS];
    size_t wl[MAX_WORDS], owl[MAX_WORDS], k, no;
    char pb[PIECE + 8], tmp[PIECE + 1];

    out->text[0] = '\0';
    out->kind = "process";
    out->merge_key = NULL;
    out->from_content = false;
    if (!file_name || !cmdline)
        return false;
    k = split_words(cmdline, strlen(cmdline), w, wl, MAX_WORDS);
    if (k == 0)
        return false;
    no = operands(w, wl, k, 1, ow, owl, MAX_WORDS);
    if (strcmp(file_name, "systemctl") == 0)
        return describe_systemctl(ow, owl, no, has_word(w, wl, k, "--now"), &b);
    if (strcmp(file_name, "service") == 0 && no >= 2) {
        const char *v[] = {ow[1], ow[0]};
        size_t vl[] = {owl[1], owl[0]};
        return describe_systemctl(v, vl, 2, false, &b);
    }
    if (strcmp(file_name, "nft") == 0) {
        if (no >= 2 && word_is(ow[0], owl[0], "flush") && word_is(ow[1], owl[1], "ruleset")) {
            sb_add(&b, "flushed the firewall");
            return true;
        }
        if (no >= 2 && word_is(ow[0], owl[0], "delete") && word_is(ow[1], owl[1], "table")) {
            sb_add(&b, "deleted a firewall table");
            return true;
        }
        return false;
    }
    if (strcmp(file_name, "iptables") == 0 || strcmp(file_name, "ip6tables") == 0 ||
        strcmp(file_name, "iptables-nft") == 0 || strcmp(file_name, "iptables-legacy") == 0) {
        if (has_word(w, wl, k, "-F") || has_word(w, wl, k, "--flush")) {
            sb_add(&b, "flushed the firewall");
            return true;
        }
        if ((has_word(w, wl, k, "-P") || has_word(w, wl, k, "--policy")) && has_word(w, wl, k, "ACCEPT")) {
            sb_add(&b, "set the firewall to accept by default");
            return true;
        }
        return false;
    }
    if (strcmp(file_name, "ufw") == 0 && no >= 1 && word_is(ow[0], owl[0], "disable")) {
        sb_add(&b, "turned the firewall off");
        return true;
    }
    if (strcmp(file_name, "setenforce") == 0 && no >= 1 &&
        (word_is(ow[0], owl[0], "0") || word_is(ow[0], owl[0], "Permissive") || word_is(ow[0], owl[0], "permissive"))) {
        sb_add(&b, "switched SELinux to permissive mode");
        return true;
    }
    if (strcmp(file_name, "auditctl") == 0) {
        if (has_word(w, wl, k, "-D")) {
            sb_add(&b, "deleted every audit rule");
            return true;
        }
        for (size_t i = 1; i + 1 < k; i++)
            if (word_is(w[i], wl[i], "-e") && word_is(w[i + 1], wl[i + 1], "0")) {
                sb_add(&b, "turned kernel auditing off");
                return true;
            }
        return false;
    }
    if (strcmp(file_name, "crontab") == 0) {
        if (has_word(w, wl, k, "-r"))
            sb_add(&b, "removed a crontab");
        else if (has_word(w, wl, k, "-e"))
            sb_add(&b, "edited a crontab");
        else if (has_word(w, wl, k, "-l"))
            return false;
        else if (no >= 1) {
            snprintf(tmp, sizeof(tmp), "%.*s", (int)(owl[0] < PIECE ? owl[0] : PIECE), ow[0]);
            sb_add(&b, "installed a crontab from %s", piece(tmp, pb));
        } else
            sb_add(&b, "installed a crontab from its input");
        return true;
    }
    if ((strcmp(file_name, "useradd") == 0 || strcmp(file_name, "adduser") == 0) && no >= 1) {
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(owl[no - 1] < 32 ? owl[no - 1] : 32), ow[no - 1]);
        sb_add(&b, "added the user %s", piece(tmp, pb));
        return true;
    }
    if (strcmp(file_name, "chattr") == 0 && k >= 3 && (has_word(w, wl, k, "+i") || has_word(w, wl, k, "+a"))) {
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(owl[no ? no - 1 : 0] < PIECE ? owl[no ? no - 1 : 0] : PIECE),
                 no ? ow[no - 1] : "");
        sb_add(&b, "made %s immutable", piece(tmp, pb));
        return true;
    }
    if ((strcmp(file_name, "curl") == 0 || strcmp(file_name, "wget") == 0)) {
        for (size_t i = 1; i < k; i++)
            if ((wl[i] > 7 && memcmp(w[i], "http://", 7) == 0) || (wl[i] > 8 && memcmp(w[i], "https://", 8) == 0)) {
                snprintf(tmp, sizeof(tmp), "%.*s", (int)(wl[i] < PIECE ? wl[i] : PIECE), w[i]);
                sb_add(&b, "downloaded %s", piece(tmp, pb));
                return true;
            }
        return false;
    }
    if ((strcmp(file_name, "kill") == 0 || strcmp(file_name, "pkill") == 0 || strcmp(file_name, "killall") == 0) &&
        memmem(cmdline, strlen(cmdline), "yamori", 6)) {
        sb_add(&b, "tried to stop the Yamori agent");
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ ancestry */

const char *story_words_stop(const char *file_name, uint32_t pid)
{
    static const struct {
        const char *name, *end;
    } stops[] = {
        {"sshd", "ssh-session"},
        {"cron", "cron"},
        {"crond", "cron"},
        {"anacron", "cron"},
        {"atd", "cron"},
        {"containerd-shim", "container-runtime"},
        {"containerd-shim-runc-v2", "container-runtime"},
        {"containerd", "container-runtime"},
        {"dockerd", "container-runtime"},
        {"runc", "container-runtime"},
        {"crun", "container-runtime"},
        {"conmon", "container-runtime"},
        {"login", "console-login"},
        {"agetty", "console-login"},
    };

    if (pid == 1)
        return "init";
    if (!file_name)
        return NULL;
    if (strcmp(file_name, "systemd") == 0 || strcmp(file_name, "init") == 0)
        return "service-manager";
    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
        if (strcmp(file_name, stops[i].name) == 0)
            return stops[i].end;
    return NULL;
}
