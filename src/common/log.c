/*
 * log.c — see log.h. Messages are written with one write(2) each so that
 * lines from several threads never interleave.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *log_progname = "yamori";
static enum log_level log_min = LOG_LEVEL_INFO;

void log_init(const char *progname, enum log_level min_level)
{
    log_progname = progname;
    log_min = min_level;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"debug: ", "", "warning: ", "error: "};
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s: %s", log_progname, names[level]);

    if (n < 0)
        return;
    if ((size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if ((size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level < log_min)
        return;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}
