/*
 * log.h — messages for people, on standard error.
 *
 * One line per message: "yamori-agent: warning: what happened". fatal() is
 * for set-up only (configuration, command line); running code reports
 * errors to its caller instead.
 */
#ifndef YAMORI_COMMON_LOG_H
#define YAMORI_COMMON_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Sets the program name printed before each message and the lowest level
 * printed (default: info). */
void log_init(const char *progname, enum log_level min_level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
