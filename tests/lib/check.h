/*
 * check.h — the smallest test harness that reads well.
 *
 * A test binary lists its cases with TEST() and runs them from main() with
 * check_main(). Each case prints exactly one line that tests/run counts:
 *
 *     PASS suite/case
 *     FAIL suite/case: file:line: what went wrong
 *     SKIP suite/case: why it could not run here
 *
 * CHECK*() record a failure and return from the case; the remaining cases
 * still run. Cases run in the order given, in the same process, so a case
 * must clean up after itself (use a cleanup label, as everywhere else).
 */
#ifndef YAMORI_TESTS_CHECK_H
#define YAMORI_TESTS_CHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct check_case {
    const char *name;
    void (*fn)(void);
};

/* Set by the CHECK macros; read by check_main(). */
extern bool check_failed_;
extern bool check_skipped_;
extern char check_message_[1024];

void check_fail_(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void check_skip_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs every case of `cases` (terminated by {NULL, NULL}), or only those
 * named on the command line. Returns the process exit status: 0 when no case
 * failed. */
int check_main(const char *suite, const struct check_case *cases, int argc, char **argv);

/* Registers fn to run after every case, passed or failed (to stop what a
 * failed case left running). One function; a later call replaces it. */
void check_set_teardown(void (*fn)(void));

/* Whether the process can load BPF programs and see the real kernel. */
bool check_is_root(void);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            check_fail_(__FILE__, __LINE__, "CHECK(%s)", #cond);             \
            return;                                                          \
        }                                                                    \
    } while (0)

#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (!(cond)) {                                                       \
            check_fail_(__FILE__, __LINE__, __VA_ARGS__);                    \
            return;                                                          \
        }                                                                    \
    } while (0)

#define CHECK_INT(a, op, b)                                                  \
    do {                                                                     \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);      \
        if (!(check_a_ op check_b_)) {                                       \
            check_fail_(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)", #a,   \
                        #op, #b, check_a_, check_b_);                        \
            return;                                                          \
        }                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                      \
    do {                                                                     \
        const char *check_a_ = (a), *check_b_ = (b);                         \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {     \
            check_fail_(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")",   \
                        #a, #b, check_a_ ? check_a_ : "(null)",              \
                        check_b_ ? check_b_ : "(null)");                     \
            return;                                                          \
        }                                                                    \
    } while (0)

#define SKIP(...)                                                            \
    do {                                                                     \
        check_skip_(__VA_ARGS__);                                            \
        return;                                                              \
    } while (0)

#endif
