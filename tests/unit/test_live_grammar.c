/*
 * test_live_grammar.c — the live response grammar: lines typed by a person
 * become a command and typed JSON arguments, or a sentence saying what is
 * wrong; nothing that a shell would interpret gets through; and the agent's
 * re-check accepts exactly what the parser produces for its commands.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/live_grammar.h"

static struct live_parsed P;
static char err_[1024];
static char dumped_[16384];

static void teardown(void)
{
    live_parsed_free(&P);
}

/* The arguments of line parsed in cwd as sorted compact JSON, or NULL
 * (err_ says why). */
static const char *accepts(const char *line, const char *cwd)
{
    char *d;

    live_parsed_free(&P);
    if (live_parse(line, cwd, &P, err_, sizeof(err_)) != 0)
        return NULL;
    d = json_dumps(P.args, JSON_SORT_KEYS | JSON_COMPACT);
    if (!d)
        return NULL;
    snprintf(dumped_, sizeof(dumped_), "%s", d);
    free(d);
    return dumped_;
}

#define ACCEPTS(line, cwd, expect)                                                \
    do {                                                                          \
        const char *a_ = accepts(line, cwd);                                      \
        CHECK_MSG(a_, "'%s' refused: %s", line, err_);                            \
        CHECK_STR(a_, expect);                                                    \
    } while (0)

/* line is refused with -EINVAL, and the sentence holds needle */
#define REFUSES(line, needle)                                                     \
    do {                                                                          \
        int r_;                                                                   \
        live_parsed_free(&P);                                                     \
        r_ = live_parse(line, "/root", &P, err_, sizeof(err_));                   \
        CHECK_MSG(r_ == -EINVAL, "'%s': rc %d (args %s)", line, r_,               \
                  r_ == 0 ? "given" : "none");                                    \
        CHECK_MSG(!P.spec && !P.args, "'%s': refused but output left", line);     \
        CHECK_MSG(strstr(err_, needle), "'%s': error '%s' lacks '%s'", line, err_, \
                  needle);                                                        \
    } while (0)

static void quoting(void)
{
    ACCEPTS("findfile 'a b'", "/", "{\"name\":\"a b\"}");
    ACCEPTS("findfile \"a \\\"b\\\" \\\\c\"", "/", "{\"name\":\"a \\\"b\\\" \\\\c\"}"); /* a "b" \c */
    ACCEPTS("findfile a\"b c\"d", "/", "{\"name\":\"ab cd\"}");
    ACCEPTS("findfile 'it''s'", "/", "{\"name\":\"its\"}");
    ACCEPTS("findfile 'a\\\"b'", "/", "{\"name\":\"a\\\\\\\"b\"}"); /* single quotes: all literal */
    ACCEPTS("findfile \"a\\nb\"", "/", "{\"name\":\"a\\\\nb\"}");   /* \n is no escape: kept */
    ACCEPTS("  findfile\t'x'  ", "/", "{\"name\":\"x\"}");           /* blanks: spaces and tabs */
    ACCEPTS("findfile *.so", "/", "{\"name\":\"*.so\"}");            /* globs are plain */
    ACCEPTS("dir '-x'", "/root", "{\"path\":\"/root/-x\"}");         /* a quoted '-' is no option */
    ACCEPTS("dir /tmp/caf\xc3\xa9", "/", "{\"path\":\"/tmp/caf\xc3\xa9\"}");
    REFUSES("findfile 'abc", "quote ' opened at column 10 is not closed");
    REFUSES("findfile \"abc\\\"", "is not closed");
    REFUSES("findfile ''", "findfile: <name> is empty");
}

static void metacharacters(void)
{
    const char *meta = ";|&<>$`(){}!\\";
    char line[64], want[64];

    for (const char *c = meta; *c; c++) {
        snprintf(line, sizeof(line), "findfile a%cb", *c);
        REFUSES(line, "runs no shell");
        snprintf(line, sizeof(line), "findfile 'a%cb'", *c);
        snprintf(want, sizeof(want), *c == '\\' ? "{\"name\":\"a\\\\b\"}" : "{\"name\":\"a%cb\"}", *c);
        ACCEPTS(line, "/", want);
        snprintf(line, sizeof(line), "findfile \"a%cb\"", *c); /* \b is no escape either */
        ACCEPTS(line, "/", want);
    }
    REFUSES("dir /tmp; rm -rf /", "';' at column 9");
    REFUSES("dir $(id)", "'$' at column 5");
    REFUSES("dir\n", "line break");
    REFUSES("dir 'a\nb'", "line break");
    REFUSES("getfile /etc/passwd | nc x 1", "no shell");
}

static void background(void)
{
    ACCEPTS("dir &", "/", "{}");
    CHECK(P.background);
    CHECK_STR(P.spec->name, "dir");
    ACCEPTS("findfile x -path /usr &   ", "/", "{\"name\":\"x\",\"path\":\"/usr\"}");
    CHECK(P.background);
    ACCEPTS("dir", "/", "{}");
    CHECK(!P.background);
    ACCEPTS("dir '&'", "/", "{\"path\":\"/&\"}"); /* quoted: a plain character */
    CHECK(!P.background);
    ACCEPTS("dir a'&'", "/", "{\"path\":\"/a&\"}");
    CHECK(!P.background);
    REFUSES("dir&", "a lone '&' as the last word");
    REFUSES("dir & x", "'&' at column 5");
    REFUSES("dir & &", "'&' at column 5");
    REFUSES("&", "no command before it");
    REFUSES("dir ''&", "'&'");
}

static void control_characters(void)
{
    REFUSES("dir \x01", "control character (U+0001 at column 5)");
    REFUSES("dir '\x07'", "control character");
    REFUSES("dir \"a\x1b[2J\"", "control character (U+001B");
    REFUSES("dir a\x7f", "U+007F");
    REFUSES("dir a\xc2\x9b" "31m", "U+009B");      /* C1: a terminal's CSI */
    REFUSES("dir 'a\tb'", "U+0009");               /* a tab inside quotes */
    REFUSES("dir a\xff", "not valid UTF-8 (column 6)");
    REFUSES("dir \xc0\xaf", "not valid UTF-8");    /* an overlong '/' */
    REFUSES("dir \xed\xa0\x80", "not valid UTF-8"); /* a surrogate */
}

static void limits(void)
{
    char *line = malloc(LIVE_MAX_LINE + 64);
    char word[LIVE_MAX_WORD + 2];
    size_t n;

    CHECK(line);
    /* the line */
    memset(line, ' ', LIVE_MAX_LINE);
    memcpy(line, "cls", 3);
    line[LIVE_MAX_LINE] = '\0';
    CHECK_MSG(accepts(line, "/"), "%d bytes refused: %s", LIVE_MAX_LINE, err_);
    line[LIVE_MAX_LINE] = ' ';
    line[LIVE_MAX_LINE + 1] = '\0';
    live_parsed_free(&P);
    CHECK_INT(live_parse(line, "/", &P, err_, sizeof(err_)), ==, -EINVAL);
    CHECK_MSG(strstr(err_, "longer than 8192 bytes"), "%s", err_);
    /* the words */
    strcpy(line, "cls");
    for (int i = 1; i < LIVE_MAX_WORDS; i++)
        strcat(line, " x");
    REFUSES(line, "cls: too many arguments"); /* 64 words: split, then too many for cls */
    strcat(line, " x");
    REFUSES(line, "more than 64 words");
    /* a word */
    memset(word, 'a', LIVE_MAX_WORD);
    word[LIVE_MAX_WORD] = '\0';
    snprintf(line, LIVE_MAX_LINE + 64, "findfile %s", word);
    CHECK_MSG(accepts(line, "/"), "a word of %d bytes refused: %s", LIVE_MAX_WORD, err_);
    snprintf(line, LIVE_MAX_LINE + 64, "findfile '%s'a", word);
    REFUSES(line, "word at column 10 is longer than 4096 bytes");
    /* run's parameters: at most 64 words */
    strcpy(line, "run s.sh -parameters '");
    for (int i = 0; i < LIVE_MAX_WORDS; i++)
        strcat(line, "p ");
    strcat(line, "'");
    n = strlen(line);
    CHECK_MSG(accepts(line, "/"), "64 parameters refused: %s", err_);
    CHECK_INT(json_array_size(json_object_get(P.args, "parameters")), ==, 64);
    memcpy(line + n - 1, "q'", 3);
    REFUSES(line, "run: -parameters: there are more than 64 words");
    free(line);
}

/* Every command, with its positionals and options. */
static const struct {
    const char *line;
    const char *args;
} lines[] = {
    {"help", "{}"},
    {"help dir", "{\"command\":\"dir\"}"},
    {"cd ..", "{\"path\":\"/\"}"},
    {"cd /var/log", "{\"path\":\"/var/log\"}"},
    {"cls", "{}"},
    {"connect", "{}"},
    {"status", "{}"},
    {"jobs", "{}"},
    {"fg 3", "{\"id\":3}"},
    {"dir", "{}"},
    {"dir sub -full_path", "{\"full_path\":true,\"path\":\"/root/sub\"}"},
    {"dir -full_path", "{\"full_path\":true}"},
    {"fileinfo a.txt", "{\"path\":\"/root/a.txt\"}"},
    {"findfile '*.so' -path /usr -max 10", "{\"max\":10,\"name\":\"*.so\",\"path\":\"/usr\"}"},
    {"findfile -max 0 x", "{\"max\":0,\"name\":\"x\"}"},
    {"getfile /etc/passwd", "{\"path\":\"/etc/passwd\"}"},
    {"processes", "{}"},
    {"processes -pid 1 -tree", "{\"pid\":1,\"tree\":true}"},
    {"processes -name 'sshd: root'", "{\"name\":\"sshd: root\"}"},
    {"connections", "{}"},
    {"services", "{}"},
    {"scheduledtasks", "{}"},
    {"persistence", "{}"},
    {"drivers", "{}"},
    {"library", "{}"},
    {"library list", "{\"action\":\"list\"}"},
    {"library upload tool.sh -file ./tool.sh", "{\"action\":\"upload\",\"file\":\"./tool.sh\",\"name\":\"tool.sh\"}"},
    {"library delete tool.sh", "{\"action\":\"delete\",\"name\":\"tool.sh\"}"},
    {"analyze file ../etc/passwd", "{\"kind\":\"file\",\"target\":\"/etc/passwd\"}"},
    {"analyze process 42", "{\"kind\":\"process\",\"target\":42}"},
    {"remediate file x -comment 'bad one'", "{\"comment\":\"bad one\",\"id\":\"/root/x\",\"type\":\"file\"}"},
    {"remediate process 7", "{\"id\":7,\"type\":\"process\"}"},
    {"remediate service nginx.service", "{\"id\":\"nginx.service\",\"type\":\"service\"}"},
    {"remediate scheduledtask cron:root:3", "{\"id\":\"cron:root:3\",\"type\":\"scheduledtask\"}"},
    {"remediate persistence p-1", "{\"id\":\"p-1\",\"type\":\"persistence\"}"},
    {"undo file /var/lib/x/../y", "{\"id\":\"/var/lib/y\",\"type\":\"file\"}"},
    {"undo service sshd -comment ''", "{\"comment\":\"\",\"id\":\"sshd\",\"type\":\"service\"}"},
    {"undo scheduledtask t1", "{\"id\":\"t1\",\"type\":\"scheduledtask\"}"},
    {"undo persistence p1", "{\"id\":\"p1\",\"type\":\"persistence\"}"},
    {"scan", "{}"},
    {"scan -quick", "{\"quick\":true}"},
    {"scan -full", "{\"full\":true}"},
    {"scan -path tmp", "{\"path\":\"/root/tmp\"}"},
    {"collect -comment 'case 12'", "{\"comment\":\"case 12\"}"},
    {"isolate", "{}"},
    {"release -comment done", "{\"comment\":\"done\"}"},
    {"run triage.sh", "{\"script\":\"triage.sh\"}"},
    {"run triage.sh -parameters \"-v --out '/tmp/a b' x;y|z \\\"q\\\"\"",
     "{\"parameters\":[\"-v\",\"--out\",\"/tmp/a b\",\"x;y|z\",\"q\"],\"script\":\"triage.sh\"}"},
    {"run s -parameters ''", "{\"parameters\":[],\"script\":\"s\"}"},
    {"putfile tool", "{\"name\":\"tool\"}"},
    {"putfile tool -overwrite", "{\"name\":\"tool\",\"overwrite\":true}"},
};
#define NLINES (sizeof(lines) / sizeof(lines[0]))

static void seen_in_lines(const struct live_spec *s, void *ctx)
{
    size_t n = strlen(s->name);
    bool found = false;

    for (size_t i = 0; i < NLINES; i++)
        if (strncmp(lines[i].line, s->name, n) == 0 && (lines[i].line[n] == ' ' || !lines[i].line[n]))
            found = true;
    if (!found)
        (*(int *)ctx)++, fprintf(stderr, "no test line for %s\n", s->name);
}

static void every_command(void)
{
    int missing = 0;

    for (size_t i = 0; i < NLINES; i++) {
        ACCEPTS(lines[i].line, "/root", lines[i].args);
        CHECK_INT(P.output, ==, LIVE_OUTPUT_TABLE);
        CHECK(!P.background);
    }
    live_spec_each(seen_in_lines, &missing);
    CHECK_INT(missing, ==, 0);
}

static void refused_lines(void)
{
    REFUSES("cd", "cd: <path> is missing. Usage: cd <path>");
    REFUSES("fg", "fg: <id> is missing. Usage: fg <id>");
    REFUSES("fg x", "fg: <id> takes a whole number from 0 to 2147483647, not 'x'");
    REFUSES("fg -1", "fg: <id> takes a whole number from 0 to 2147483647, not '-1'"); /* "-1" is no option */
    REFUSES("fg 2147483648", "whole number");
    REFUSES("findfile", "<name> is missing");
    REFUSES("findfile x -max", "-max needs a value");
    REFUSES("findfile x -max -path /", "-max needs a value (quote it if it starts with '-')");
    REFUSES("findfile x -max 9x", "-max takes a whole number");
    REFUSES("getfile", "getfile: <path> is missing. Usage: getfile <path>");
    REFUSES("processes -pid 1 -name x", "processes: -pid and -name exclude each other. Usage: processes");
    REFUSES("services x", "services: too many arguments");
    REFUSES("library upload", "upload needs the name of a library file");
    REFUSES("library delete", "delete needs the name");
    REFUSES("library list x", "list takes no name");
    REFUSES("library foo", "<action> is one of list|upload|delete, not 'foo'");
    REFUSES("library list -file x", "-file goes with upload only");
    REFUSES("analyze", "<kind> is missing. Usage: analyze file <path> | analyze process <pid>");
    REFUSES("analyze file", "<target> is missing");
    REFUSES("analyze process abc", "analyze: <target> takes a whole number");
    REFUSES("analyze thing x", "<kind> is one of file|process");
    REFUSES("remediate process x", "<id> takes a whole number");
    REFUSES("remediate driver x", "<type> is one of file|process|service|scheduledtask|persistence");
    REFUSES("undo process 1", "<type> is one of file|service|scheduledtask|persistence, not 'process'");
    REFUSES("undo service ''", "<id> is empty");
    REFUSES("scan -quick -full", "scan: -quick, -full and -path exclude each other");
    REFUSES("scan -full -path /", "exclude each other");
    REFUSES("run", "run: <script> is missing");
    REFUSES("run ../x.sh", "<script> '../x.sh' is not a library file name");
    REFUSES("run s -parameters 'a \"b'", "run: -parameters: the quote \" opened at column 3 is not closed");
    REFUSES("putfile", "<name> is missing");
    REFUSES("help nope", "there is no command 'nope'");
    REFUSES("dir -full_path -full_path", "dir: -full_path is given twice");
    REFUSES("dir -x", "dir: unknown option -x. Usage: dir [path] [-full_path]");
    CHECK_STR(err_, "dir: unknown option -x. Usage: dir [path] [-full_path]");
    REFUSES("dir a b", "too many");
    CHECK_STR(err_, "dir: too many arguments (did you mean to quote a name with spaces?). Usage: dir [path] [-full_path]");
    REFUSES("dir ''", "dir: <path> is empty");
}

struct named {
    const char *text;
    int count;
};

static void count_named(const struct live_spec *s, void *ctx)
{
    struct named *n = ctx;

    if (strcmp(s->name, "help") != 0 && strstr(n->text, s->name))
        n->count++;
}

static void unknown_command(void)
{
    struct named named = {err_, 0};

    REFUSES("rm -rf /", "unknown command 'rm'; help lists the commands");
    live_spec_each(count_named, &named);
    CHECK_MSG(named.count == 0, "the error names commands: %s", err_);
    REFUSES("DIR", "unknown command 'DIR'");
    live_parsed_free(&P);
    CHECK_INT(live_parse("   ", "/", &P, err_, sizeof(err_)), ==, -ENODATA);
    CHECK_INT(live_parse("", "/", &P, err_, sizeof(err_)), ==, -ENODATA);
    CHECK(!P.spec && !P.args);
}

static void output_option(void)
{
    ACCEPTS("dir -output json", "/", "{}");
    CHECK_INT(P.output, ==, LIVE_OUTPUT_JSON);
    ACCEPTS("processes -output table -tree", "/", "{\"tree\":true}");
    CHECK_INT(P.output, ==, LIVE_OUTPUT_TABLE);
    ACCEPTS("help -output json dir", "/", "{\"command\":\"dir\"}");
    CHECK_INT(P.output, ==, LIVE_OUTPUT_JSON);
    REFUSES("dir -output xml", "dir: -output is json or table, not 'xml'. Usage: dir");
    REFUSES("dir -output json -output table", "-output is given twice");
    REFUSES("dir -output", "-output needs a value");
}

static void paths(void)
{
    ACCEPTS("dir x", "/root", "{\"path\":\"/root/x\"}");
    ACCEPTS("dir ../etc", "/root", "{\"path\":\"/etc\"}");
    ACCEPTS("dir ./a/./b/.", "/root", "{\"path\":\"/root/a/b\"}");
    ACCEPTS("dir .", "/root", "{\"path\":\"/root\"}");
    ACCEPTS("dir //usr//lib/", "/root", "{\"path\":\"/usr/lib\"}");
    ACCEPTS("dir a/", "/root", "{\"path\":\"/root/a\"}");
    ACCEPTS("dir ../../../..", "/root", "{\"path\":\"/\"}");
    ACCEPTS("dir /../x", "/root", "{\"path\":\"/x\"}");
    ACCEPTS("dir ..", "/", "{\"path\":\"/\"}");
    ACCEPTS("dir a/../../b", "/srv/www", "{\"path\":\"/srv/b\"}");
    ACCEPTS("dir x", NULL, "{\"path\":\"/x\"}"); /* no session directory: "/" */
    ACCEPTS("dir ...", "/", "{\"path\":\"/...\"}"); /* only "." and ".." are special */
    {
        /* a long session directory: a path too long once joined to it, and
         * one that climbs back */
        char cwd[LIVE_MAX_PATH + 1], line[2048], want[64];
        size_t n = 0;
        while (n + 10 <= 4000) {
            memcpy(cwd + n, "/ddddddddd", 10);
            n += 10;
        }
        cwd[n] = '\0';
        CHECK(live_path_ok(cwd));
        memset(line, 0, sizeof(line));
        memcpy(line, "dir ", 4);
        memset(line + 4, 'f', 200);
        live_parsed_free(&P);
        CHECK_INT(live_parse(line, cwd, &P, err_, sizeof(err_)), ==, -EINVAL);
        CHECK_MSG(strstr(err_, "longer than 4095 bytes once made absolute"), "%s", err_);
        snprintf(line, sizeof(line), "dir ");
        for (size_t i = 0; i < n / 10 - 1; i++)
            strcat(line, "../");
        strcat(line, "x");
        snprintf(want, sizeof(want), "{\"path\":\"/ddddddddd/x\"}");
        ACCEPTS(line, cwd, want);
    }
    live_parsed_free(&P);
    CHECK_INT(live_parse("dir x", "root", &P, err_, sizeof(err_)), ==, -EINVAL);
    CHECK_MSG(strstr(err_, "current directory 'root' is not an absolute, normalised path"), "%s", err_);
    CHECK_INT(live_parse("dir x", "/root/", &P, err_, sizeof(err_)), ==, -EINVAL);

    CHECK(live_path_ok("/"));
    CHECK(live_path_ok("/usr/lib"));
    CHECK(live_path_ok("/a/.b/c.."));
    CHECK(!live_path_ok(NULL));
    CHECK(!live_path_ok(""));
    CHECK(!live_path_ok("usr"));
    CHECK(!live_path_ok("/usr/"));
    CHECK(!live_path_ok("//usr"));
    CHECK(!live_path_ok("/usr//lib"));
    CHECK(!live_path_ok("/usr/./lib"));
    CHECK(!live_path_ok("/usr/.."));
    CHECK(!live_path_ok("/."));
    CHECK(!live_path_ok("/a\nb"));
    CHECK(!live_path_ok("/a\xc2\x85"));
}

static void names(void)
{
    char name[LIVE_MAX_NAME + 2], line[256];

    CHECK(live_name_ok("triage.sh"));
    CHECK(live_name_ok("A-b_c.9"));
    CHECK(live_name_ok("x.."));
    CHECK(!live_name_ok(NULL));
    CHECK(!live_name_ok(""));
    CHECK(!live_name_ok("../x"));
    CHECK(!live_name_ok("/x"));
    CHECK(!live_name_ok(".x"));
    CHECK(!live_name_ok(".."));
    CHECK(!live_name_ok("a b"));
    CHECK(!live_name_ok("a/b"));
    CHECK(!live_name_ok("caf\xc3\xa9"));
    memset(name, 'n', LIVE_MAX_NAME);
    name[LIVE_MAX_NAME] = '\0';
    CHECK(live_name_ok(name));
    snprintf(line, sizeof(line), "library delete %s", name);
    CHECK_MSG(accepts(line, "/"), "%s", err_);
    name[LIVE_MAX_NAME] = 'n';
    name[LIVE_MAX_NAME + 1] = '\0';
    CHECK(!live_name_ok(name));
    snprintf(line, sizeof(line), "library delete %s", name);
    REFUSES(line, "is not a library file name");
    REFUSES("library delete ../x", "<name> '../x' is not a library file name");
    REFUSES("library upload /x", "is not a library file name");
    REFUSES("putfile .x", "putfile: <name> '.x' is not a library file name");
    REFUSES("putfile ''", "is not a library file name");
}

static void spec_table(void)
{
    const struct live_spec *s;

    CHECK(!live_spec_find("nope"));
    CHECK(!live_spec_find(NULL));
    CHECK((s = live_spec_find("findfile")) && s->streams && s->timeout_s == 1800 && s->where == LIVE_ON_AGENT);
    CHECK((s = live_spec_find("run")) && s->streams && s->role == LIVE_ADVANCED && s->where == LIVE_ON_AGENT);
    CHECK((s = live_spec_find("dir")) && !s->streams && s->timeout_s == 600 && s->role == LIVE_BASIC);
    CHECK_STR(s->usage, "dir [path] [-full_path]");
    CHECK((s = live_spec_find("help")) && s->where == LIVE_ON_SERVER && s->timeout_s == 60);
    CHECK((s = live_spec_find("analyze")) && s->role == LIVE_ADVANCED && s->where == LIVE_ON_AGENT);
    CHECK_STR(s->usage, "analyze file <path> | analyze process <pid>");
    CHECK((s = live_spec_find("remediate")) && s->where == LIVE_ON_SERVER && s->timeout_s == 1800);
    CHECK((s = live_spec_find("library")) && s->role == LIVE_BASIC && s->where == LIVE_ON_SERVER);
    CHECK((s = live_spec_find("scheduledtasks")) && strstr(s->summary, "cron") && strstr(s->summary, "systemd timers"));
    CHECK((s = live_spec_find("fg")) && s->timeout_s == 1800);
}

/* ---- the agent's re-check */

static json_t *J(const char *text)
{
    return json_loads(text, JSON_ALLOW_NUL, NULL);
}

static int check_json(const char *command, const char *args)
{
    json_t *a = args ? J(args) : NULL;
    int rc = live_args_check(command, a, err_, sizeof(err_));
    json_decref(a);
    return rc;
}

#define CHECK_REFUSED(command, args, needle)                                      \
    do {                                                                          \
        CHECK_MSG(check_json(command, args) == -EINVAL, "%s %s accepted", command, args); \
        CHECK_MSG(strstr(err_, needle), "%s %s: '%s' lacks '%s'", command, args, err_, needle); \
    } while (0)

static void agent_check(void)
{
    const char *sha = "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"";
    char buf[256];
    int agent = 0;

    /* what the parser produces for every agent command passes */
    for (size_t i = 0; i < NLINES; i++) {
        CHECK_MSG(accepts(lines[i].line, "/root"), "%s: %s", lines[i].line, err_);
        if (P.spec->where != LIVE_ON_AGENT)
            continue;
        agent++;
        CHECK_MSG(live_args_check(P.spec->name, P.args, err_, sizeof(err_)) == 0, "%s: %s", lines[i].line, err_);
    }
    CHECK_INT(agent, >=, 20);
    CHECK_INT(check_json("connections", NULL), ==, 0);
    CHECK_INT(check_json("dir", "{\"path\":\"/x\",\"full_path\":false}"), ==, 0);
    snprintf(buf, sizeof(buf), "{\"name\":\"tool\",\"sha256\":%s}", sha);
    CHECK_MSG(check_json("putfile", buf) == 0, "%s", err_);
    snprintf(buf, sizeof(buf), "{\"script\":\"s.sh\",\"parameters\":[\"-v\",\"a b\"],\"sha256\":%s}", sha);
    CHECK_MSG(check_json("run", buf) == 0, "%s", err_);
    CHECK_INT(check_json("analyze", "{\"kind\":\"process\",\"target\":1}"), ==, 0);

    /* refused */
    CHECK_REFUSED("dir", "{\"path\":\"/x\",\"bogus\":1}", "dir: unknown argument 'bogus'");
    CHECK_REFUSED("dir", "{\"path\":3}", "dir: path must be an absolute, normalised path");
    CHECK_REFUSED("dir", "{\"path\":\"x\"}", "absolute, normalised");
    CHECK_REFUSED("dir", "{\"path\":\"/a/../b\"}", "absolute, normalised");
    CHECK_REFUSED("dir", "{\"path\":\"/a/\"}", "absolute, normalised");
    CHECK_REFUSED("dir", "{\"full_path\":\"true\"}", "full_path must be true or false");
    CHECK_REFUSED("cd", "{}", "cd: path is missing");
    CHECK_REFUSED("getfile", "{\"path\":\"/x\",\"sha256\":" "\"00\"}", "unknown argument 'sha256'");
    snprintf(buf, sizeof(buf), "{\"path\":\"/x\",\"sha256\":%s}", sha);
    CHECK_REFUSED("getfile", buf, "unknown argument 'sha256'");
    CHECK_REFUSED("putfile", "{\"name\":\"t\",\"sha256\":\"xyz\"}", "sha256 is not 64 hexadecimal digits");
    CHECK_REFUSED("putfile", "{\"name\":\"../t\"}", "name must be a library file name");
    CHECK_REFUSED("putfile", "{\"name\":\"t\",\"overwrite\":1}", "overwrite must be true or false");
    CHECK_REFUSED("remediate", "{\"type\":\"file\",\"id\":\"/x\"}", "remediate runs on the server, never on the agent");
    CHECK_REFUSED("help", "{}", "runs on the server");
    CHECK_REFUSED("library", "{}", "runs on the server");
    CHECK_REFUSED("rm", "{}", "unknown live command 'rm'");
    CHECK_REFUSED("", "{}", "unknown live command ''");
    CHECK_INT(live_args_check(NULL, NULL, err_, sizeof(err_)), ==, -EINVAL);
    CHECK_REFUSED("processes", "{\"pid\":-1}", "pid must be a whole number from 0 to 2147483647");
    CHECK_REFUSED("processes", "{\"pid\":2147483648}", "pid must be a whole number");
    CHECK_REFUSED("processes", "{\"pid\":1.5}", "pid must be a whole number");
    CHECK_REFUSED("processes", "{\"pid\":1,\"name\":\"x\"}", "pid and name exclude each other");
    CHECK_REFUSED("processes", "{\"name\":\"a\\u001bb\"}", "name must be a string of printable text");
    CHECK_REFUSED("processes", "[]", "not an object");
    CHECK_REFUSED("findfile", "{\"name\":\"\"}", "name must be a string");
    CHECK_REFUSED("findfile", "{\"name\":\"a\\u0000b\"}", "name must be a string");
    CHECK_REFUSED("analyze", "{\"kind\":\"process\",\"target\":\"12\"}", "target must be a whole number");
    CHECK_REFUSED("analyze", "{\"kind\":\"file\",\"target\":12}", "target must be an absolute, normalised path");
    CHECK_REFUSED("analyze", "{\"kind\":\"file\",\"target\":\"etc/passwd\"}", "absolute");
    CHECK_REFUSED("analyze", "{\"kind\":\"disk\",\"target\":\"x\"}", "kind must be file|process");
    CHECK_REFUSED("analyze", "{\"target\":\"/x\"}", "kind is missing");
    CHECK_REFUSED("run", "{\"script\":\"s\",\"parameters\":\"-v\"}", "parameters is not an array");
    CHECK_REFUSED("run", "{\"script\":\"s\",\"parameters\":[1]}", "parameters is not an array");
    CHECK_REFUSED("run", "{\"parameters\":[]}", "script is missing");
    {
        /* 65 parameters */
        json_t *a = json_pack("{s:s}", "script", "s"), *argv = json_array();
        for (int i = 0; i < 65; i++)
            json_array_append_new(argv, json_string("p"));
        json_object_set_new(a, "parameters", argv);
        CHECK_INT(live_args_check("run", a, err_, sizeof(err_)), ==, -EINVAL);
        json_array_remove(argv, 0);
        CHECK_INT(live_args_check("run", a, err_, sizeof(err_)), ==, 0);
        json_decref(a);
    }
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"quoting", quoting},
        {"metacharacters", metacharacters},
        {"background", background},
        {"control_characters", control_characters},
        {"limits", limits},
        {"every_command", every_command},
        {"refused_lines", refused_lines},
        {"unknown_command", unknown_command},
        {"output_option", output_option},
        {"paths", paths},
        {"names", names},
        {"spec_table", spec_table},
        {"agent_check", agent_check},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("live_grammar", cases, argc, argv);
}
