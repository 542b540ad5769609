/*
 * pathclass.h — which file locations matter, and why.
 *
 * One table of path prefixes, each with class bits (bpf/sensor_abi.h,
 * YS_CLASS_*) and a tag a person can read ("persistence:cron",
 * "security:sudoers", "agent:config", ...). The same table fills the eBPF
 * filter's LPM trie and tags events in user space, so the kernel keeps
 * exactly what user space knows how to name. A few locations are not
 * prefixes (a user's ~/.ssh/authorized_keys, ~/.bashrc): they are matched
 * on their last components here; the kernel keeps them because their path
 * has a hidden component.
 */
#ifndef YAMORI_AGENT_PATHCLASS_H
#define YAMORI_AGENT_PATHCLASS_H

#include <stdint.h>

struct pathclass_entry {
    const char *prefix;
    uint32_t bits;
    const char *tag; /* NULL: classified, but not tagged */
};

/* The built-in table, terminated by {NULL, 0, NULL}. */
extern const struct pathclass_entry pathclass_table[];

struct pathclass_result {
    uint32_t bits;
    const char *tag; /* static string or NULL */
};

/* Classifies an absolute, normalised path: the longest matching prefix of
 * the table, then the per-user patterns. */
struct pathclass_result pathclass_lookup(const char *path);

/* Normalises an absolute path in place, lexically: collapses "//", drops
 * "." components and resolves ".." against the components before it (never
 * above "/"). Symbolic links are not followed. */
void pathclass_normalize(char *path);

#endif
