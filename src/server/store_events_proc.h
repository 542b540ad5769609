/*
 * store_events_proc.h — the stored events that name one process.
 *
 * Process trees (the alert story, src/server/story.c) are read one
 * process at a time: its own process events (ProcessUniqueId), what it
 * did and whom it started (InitiatingProcessUniqueId), and what was done
 * to it (TargetProcessUniqueId). The event store indexes its blocks by
 * those three ids (events_block.h, "process keys"), so this read opens
 * only the blocks that name the process, in every partition whose time
 * range overlaps the one asked for.
 *
 * Bounded twice: at most max_scan records are examined (a block holds a
 * whole batch, so a busy process's blocks hold many other events), and
 * at most max_keep matching events are kept — those closest in time to
 * `around`, so a process that ran for weeks still shows what it did near
 * the moment that matters. The kept events are handed out oldest first.
 */
#ifndef YAMORI_SERVER_STORE_EVENTS_PROC_H
#define YAMORI_SERVER_STORE_EVENTS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store_events.h"

struct store_proc_query {
    const char *device_id;     /* required */
    const char *uid;           /* ProcessUniqueId text, "f5647a1c-4242-1203311" */
    unsigned tables;           /* SCHEMA_T_* mask; 0: all five */
    int64_t since_ns, until_ns; /* Timestamp range, both included */
    int64_t around_ns;         /* keep the events closest to this time */
    size_t max_keep;           /* 1 .. STORE_EVENTS_MAX_LIMIT */
    size_t max_scan;           /* records examined at most; 0: no bound */
};

struct store_proc_result {
    size_t matched;            /* events naming the process that were seen */
    size_t scanned;            /* records examined */
    bool kept_all;             /* false: more matched than max_keep */
    bool scan_complete;        /* false: stopped at max_scan */
};

/* Calls fn(row, ctx) for each kept event that names q->uid in one of
 * ProcessUniqueId, InitiatingProcessUniqueId or TargetProcessUniqueId
 * (compared as text, not only by key), oldest Timestamp first (Seq breaks
 * ties). Row pointers are valid during the call only; a non-zero return
 * from fn stops and is returned. Fills *res (may be NULL). Returns 0,
 * -EINVAL for a uid that is not a process unique id or a bad range or
 * bound (message in err), -ENOMEM or -EIO. */
int store_events_of_process(struct store *st, const struct store_proc_query *q,
                            int (*fn)(const struct store_event_row *row, void *ctx), void *ctx,
                            struct store_proc_result *res, char *err, size_t errlen);

#endif
