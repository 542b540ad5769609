/*
 * live_table.h — writing the table output of the inventory live commands
 * (live_inventory.c, live_tasks.c): {"columns": [...], "rows": [...],
 * "truncated": bool, other members...} as docs/live.md, "Agent side",
 * describes it.
 *
 * Usage: live_table_begin(out, columns); then per row jsonw_object_begin,
 * members, jsonw_object_end; live_table_end(out, truncated); then any
 * other top-level members; jsonw_object_end(out).
 */
#ifndef YAMORI_AGENT_LIVE_TABLE_H
#define YAMORI_AGENT_LIVE_TABLE_H

#include <stdbool.h>

#include "common/jsonw.h"

/* Opens the object, writes "columns" (a NULL-terminated list) and opens "rows". */
void live_table_begin(struct jsonw *out, const char *const *columns);

/* Closes "rows" and writes "truncated"; the object stays open. */
void live_table_end(struct jsonw *out, bool truncated);

/* key: the string v, or null when v is NULL. */
void live_kv_str_null(struct jsonw *out, const char *key, const char *v);

#endif
