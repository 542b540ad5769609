/*
 * store_events_file.h — what the stored events say about one file: which
 * process last created it on a device, and when the fleet first ran
 * content with a given SHA-256. Used by live response's `analyze` and
 * `fileinfo` (live_enrich.c) to add what only the server knows.
 *
 * Both read the hunting tables (the event store's virtual tables), so
 * they open only the partitions of the time range asked for; the fleet
 * question reads every device's process events in that range and is
 * bounded by a budget of SQLite steps: past it the answer says it was
 * cut short instead of taking minutes.
 */
#ifndef YAMORI_SERVER_STORE_EVENTS_FILE_H
#define YAMORI_SERVER_STORE_EVENTS_FILE_H

#include <stdbool.h>
#include <stdint.h>

struct store;

/* The newest event that wrote a file, with its initiating process. */
struct store_file_origin {
    bool found;
    int64_t ts_ns;
    char action[32];          /* FileCreated, FileRenamed, FileModified */
    char image[1024];         /* InitiatingProcessFolderPath */
    char command_line[2048];  /* InitiatingProcessCommandLine (cut) */
    int64_t pid;
    char account[64];
    char process_uid[96];     /* InitiatingProcessUniqueId */
};

/* Fills out with the newest FileCreated or FileRenamed event of path on
 * device_id since since_ns (else the newest FileModified). 0 (found false
 * when none), -EIO. */
int store_events_file_origin(struct store *st, const char *device_id, const char *path, int64_t since_ns,
                             struct store_file_origin *out);

/* When process events with this SHA-256 first ran on the fleet. */
struct store_hash_seen {
    bool found;
    bool cut_short;           /* the step budget ran out: the figures cover part of the range */
    int64_t first_ns;
    int64_t devices;          /* distinct devices */
    int64_t runs;             /* process events */
    char first_device[64];
};

/* Reads every device's process events since since_ns for sha256 (64 hex,
 * lower case). 0, -EINVAL (not a SHA-256), -EIO. */
int store_events_hash_seen(struct store *st, const char *sha256, int64_t since_ns, struct store_hash_seen *out);

#endif
