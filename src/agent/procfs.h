/*
 * procfs.h — what /proc says about a process, as sensor records.
 *
 * Used where the kernel did not hand us the facts: the start-up snapshot of
 * processes that already run, and the fallback back end (proc connector
 * events carry only pids). Everything read here can race with the process
 * exiting; a record built from a vanished process is marked YS_F_PARTIAL,
 * and a process gone before anything could be read yields -ESRCH.
 */
#ifndef YAMORI_AGENT_PROCFS_H
#define YAMORI_AGENT_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sensor_abi.h"

/* Nanoseconds per clock tick of /proc/PID/stat start times. */
uint64_t procfs_ns_per_tick(void);

/* Fills `t` with the identity of process `pid` (tgid) from /proc/PID/stat
 * and /proc/PID/status, and its parent's start time. Returns 0, or -errno
 * (-ESRCH when the process is gone). `root` is the proc mount ("/proc"). */
int procfs_read_task(const char *root, pid_t pid, struct ys_task *t);

/* Builds a YS_PROC_EXEC record for `pid` into buf (at most buflen bytes,
 * buflen >= sizeof(struct ys_exec) + 1024): image from exe, argv from
 * cmdline, cwd, cgroup leaf, tty, image identity from stat(2) of exe.
 * `flags` are OR-ed into the header (YS_F_SNAPSHOT for the snapshot),
 * `source` is YS_SRC_*. `ts_ns` is the record's CLOCK_BOOTTIME time.
 * Returns the record size, or -errno. */
int procfs_exec_record(const char *root, pid_t pid, uint32_t flags, uint8_t source,
                       uint64_t ts_ns, void *buf, size_t buflen);

/* Calls fn for each numeric entry of /proc (every process, threads not
 * included). Stops and returns fn's value when it is non-zero. */
int procfs_for_each_pid(const char *root, int (*fn)(pid_t pid, void *ctx), void *ctx);

/* CLOCK_BOOTTIME now, in nanoseconds. */
uint64_t procfs_boottime_ns(void);

#endif
