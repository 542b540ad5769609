/*
 * story.h — the alert story: the process tree around one process, told
 * from the stored events, in words a person reads.
 *
 * Given a device, a process (its ProcessUniqueId) and a moment, the story
 * is built from the event store alone, so it works for processes that
 * exited long ago and for those the agent found running at start-up
 * (ProcessSnapshot):
 *
 *   - the ancestry: parent by parent (ProcessUniqueId →
 *     InitiatingProcessUniqueId of its process events) up to what started
 *     the chain: an SSH session (sshd), cron, the service manager or init
 *     (pid 1), a container runtime, a console login — or until the chain
 *     is not recorded any further; `ancestry_end` says which;
 *   - everything the process started, level by level (the subject's
 *     subtree), then what its ancestors below the root started (the rest
 *     of the session), as far as the limits allow;
 *   - for each process: pid, image, command line, user, start time, exit,
 *     and lines saying what it did: files it created or changed read
 *     through their content (FileContentSnippet: a cron entry, a systemd
 *     unit, sudoers, authorized_keys, the agent's exclusions), files
 *     deleted or renamed, connections, logons, kernel-level acts, and
 *     what its command line does (stopping a service, flushing the
 *     firewall).
 *
 * Everything is bounded (struct story_limits): processes, depth, lines
 * per process, events examined per process and in all. What a bound cut
 * is flagged, never silently lost. Strings in a story come from agents:
 * untrusted bytes, which the JSON writer escapes.
 *
 * The alerts module marks the processes of its alerts with story_mark()
 * (iterating the story's processes with story_node_count/story_node_uid)
 * before rendering with story_json().
 */
#ifndef YAMORI_SERVER_STORY_H
#define YAMORI_SERVER_STORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct jsonw;
struct story;

struct story_limits {
    size_t max_nodes;         /* processes in the tree (ancestors included) */
    unsigned max_ancestors;   /* parents walked up from the process */
    unsigned max_depth;       /* levels below the process, and below each ancestor */
    size_t max_lines;         /* lines of activity per process */
    size_t max_node_events;   /* events read per process (closest to the moment) */
    size_t max_events;        /* records examined in all (the cost bound) */
    int64_t window_ns;        /* activity and descendants within the moment ± this */
};

#define STORY_DEFAULT_MAX_NODES 400
#define STORY_DEFAULT_MAX_ANCESTORS 32
#define STORY_DEFAULT_MAX_DEPTH 24
#define STORY_DEFAULT_MAX_LINES 40
#define STORY_DEFAULT_MAX_NODE_EVENTS 2000
#define STORY_DEFAULT_MAX_EVENTS 2000000
#define STORY_DEFAULT_WINDOW_NS (24LL * 3600 * 1000000000)

/* The defaults above. */
void story_limits_default(struct story_limits *lim);

/* Builds the story of process process_uid on device device_id around
 * around_ns (UTC ns; 0: around the process's own start, or its first
 * recorded event). lim NULL takes the defaults; a field left 0 takes its
 * default. On success *out is a new story the caller frees with
 * story_free(). Returns 0; -EINVAL when process_uid is not a process
 * unique id or device_id is empty; -ENOENT when the store holds no event
 * of that process on that device; -ENOMEM, -EIO; with a sentence in err. */
int story_build(struct store *st, const char *device_id, const char *process_uid, int64_t around_ns,
                const struct story_limits *lim, struct story **out, char *err, size_t errlen);

/* Writes the story as one JSON object (docs/api.md, "Process story"):
 * device_id, process, time, ancestry_end and its text, truncated flags,
 * and nodes[] — the tree in depth-first order, each with its parent's uid
 * (null for the root), depth, role (ancestor, subject, descendant,
 * relative), pid, image, command_line, user, start_time, exit, lines[]
 * (time, kind, text), alerts[]. */
void story_json(const struct story *s, struct jsonw *w);

/* Frees a story; accepts NULL. */
void story_free(struct story *s);

/* Marks process process_uid of the story with an alert (title and
 * severity are copied; shown in the node's alerts[]). Marking the same
 * alert twice keeps one. Returns 0, -ENOENT when the process is not in the
 * story, -EINVAL for NULL text, -ENOMEM. */
int story_mark(struct story *s, const char *process_uid, int64_t alert_id, const char *title, const char *severity);

/* The processes of the story, for finding the other alerts of the same
 * tree: their count, and the unique id of the i-th (0 <= i < count; NULL
 * beyond). Pointers live as long as the story. */
size_t story_node_count(const struct story *s);
const char *story_node_uid(const struct story *s, size_t i);

/* The device and the moment the story was built for (the process's start
 * when story_build was given 0). */
const char *story_device_id(const struct story *s);
int64_t story_time_ns(const struct story *s);

#endif
