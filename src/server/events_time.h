/*
 * events_time.h — the times people give when they ask for events: a
 * duration back from now ("90s", "30m", "1h", "7d", "2w") or an RFC 3339
 * time ("2026-11-26T10:12:00Z", with fractions and an offset allowed).
 * No I/O.
 */
#ifndef YAMORI_SERVER_EVENTS_TIME_H
#define YAMORI_SERVER_EVENTS_TIME_H

#include <stdint.h>

/* Parses text into ns since the epoch (a duration counts back from
 * now_ns). Returns 0, or -EINVAL for anything else or out of range. */
int events_parse_time(const char *text, int64_t now_ns, int64_t *out);

#endif
