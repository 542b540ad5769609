/*
 * file_policy.h — the file filter, once, for the kernel and for user space.
 *
 * Which file records are worth keeping (docs/events.md, "File filter"):
 * bpf/file.bpf.c applies it in the kernel, the fallback back end
 * (src/agent/fanwatch.c) in user space. Both include this header, so the
 * policy cannot drift apart. Plain C with the types of sensor_abi.h.
 */
#ifndef YAMORI_FILE_POLICY_H
#define YAMORI_FILE_POLICY_H

#include "sensor_abi.h"

#ifdef __BPF__
#define YS_POLICY_INLINE static __always_inline
#else
#include <stdbool.h>
#define YS_POLICY_INLINE static inline
#endif

/* What is being decided: a creation, the first write after an open for
 * writing, or an open that truncates. (Deletes, renames, attribute changes
 * and links are always kept.) */
enum ys_fop { YS_FOP_CREATE, YS_FOP_MODIFY, YS_FOP_TRUNCATE };

/* cls: the path's class bits (YS_CLASS_*); flags: YS_F_HIDDEN and
 * YS_F_EXECUTABLE as found for the file. */
YS_POLICY_INLINE bool ys_file_keep(enum ys_fop op, __u32 cls, __u32 flags)
{
    if (cls & YS_CLASS_IGNORE)
        return false;
    if (cls & (YS_CLASS_KEEP_ALL | YS_CLASS_PERSIST | YS_CLASS_SECCONF | YS_CLASS_TEMP | YS_CLASS_AGENT))
        return true;
    if (flags & (YS_F_HIDDEN | YS_F_EXECUTABLE))
        return true;
    if (op == YS_FOP_CREATE && (cls & YS_CLASS_SYSBIN))
        return true;
    if (op == YS_FOP_TRUNCATE && (cls & YS_CLASS_LOG))
        return true;
    return false;
}

/* Pseudo filesystems (by super block magic) whose files are never reported. */
YS_POLICY_INLINE bool ys_pseudo_fs_magic(unsigned long magic)
{
    switch (magic) {
    case 0x9fa0:     /* proc */
    case 0x62656572: /* sysfs */
    case 0x27e0eb:   /* cgroup */
    case 0x63677270: /* cgroup2 */
    case 0x64626720: /* debugfs */
    case 0x74726163: /* tracefs */
    case 0x73636673: /* securityfs */
    case 0xcafe4a11: /* bpf */
    case 0x1cd1:     /* devpts */
    case 0x50495045: /* pipefs */
    case 0x534f434b: /* sockfs */
    case 0x09041934: /* anon inodes */
    case 0x6e736673: /* nsfs */
    case 0x42494e4d: /* binfmt_misc */
        return true;
    }
    return false;
}

#endif
