/*
 * check.c — runs test cases and prints one PASS/FAIL/SKIP line per case.
 * See check.h for the contract.
 */
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

bool check_failed_;
bool check_skipped_;
char check_message_[1024];

void check_fail_(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(check_message_, sizeof(check_message_), "%s:%d: ", file, line);
    if (n < 0 || (size_t)n >= sizeof(check_message_))
        n = 0;
    va_start(ap, fmt);
    vsnprintf(check_message_ + n, sizeof(check_message_) - (size_t)n, fmt, ap);
    va_end(ap);
    check_failed_ = true;
}

void check_skip_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(check_message_, sizeof(check_message_), fmt, ap);
    va_end(ap);
    check_skipped_ = true;
}

static void (*teardown)(void);

void check_set_teardown(void (*fn)(void))
{
    teardown = fn;
}

bool check_is_root(void)
{
    return geteuid() == 0;
}

static bool selected(const char *name, int argc, char **argv)
{
    if (argc <= 1)
        return true;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

int check_main(const char *suite, const struct check_case *cases, int argc, char **argv)
{
    int failed = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (const struct check_case *c = cases; c->name; c++) {
        if (!selected(c->name, argc, argv))
            continue;
        check_failed_ = false;
        check_skipped_ = false;
        check_message_[0] = '\0';
        c->fn();
        if (teardown)
            teardown();
        if (check_failed_) {
            printf("FAIL %s/%s: %s\n", suite, c->name, check_message_);
            failed++;
        } else if (check_skipped_) {
            printf("SKIP %s/%s: %s\n", suite, c->name, check_message_);
        } else {
            printf("PASS %s/%s\n", suite, c->name);
        }
    }
    return failed ? 1 : 0;
}
