/*
 * storygen.h — the events an agent records during the awsd attack of
 * ../shared/SCENARIO.md (tests/scenarios/awsd_attack.sh), as records of
 * the wire, for the story tests (tests/server/test_story*.c).
 *
 * One machine (boot id f5647a1c): systemd (pid 1) and cron and the SSH
 * listener found running at agent start (ProcessSnapshot); an SSH login
 * of root from 203.0.113.10 (sshd [priv] → sshd root@pts/0 → -bash);
 * `ls` typed first; then `bash awsd_attack.sh` whose every command is a
 * process (fork, exec, exit) or a write of the script itself, with file
 * content snippets as the agent sends them; nohup execs the payload, which
 * connects to 203.0.113.10:4444 three times; and a cron job run by the
 * cron daemon. Times start at storygen_t0 and step 1 ms per event; a
 * process starts (ProcessCreationTime, from its ticks since the boot
 * 900 s before storygen_t0) before its first event.
 *
 * Process ids are fixed (see the STORYGEN_* names) so tests can ask for
 * the story of any of them.
 */
#ifndef YAMORI_TESTS_STORYGEN_H
#define YAMORI_TESTS_STORYGEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/tlv.h"

#define STORYGEN_BOOT "f5647a1c"
/* unique ids: STORYGEN_BOOT-PID-TICKS */
#define STORYGEN_SYSTEMD "f5647a1c-1-5"
#define STORYGEN_CRON "f5647a1c-600-300"
#define STORYGEN_SSHD_LISTENER "f5647a1c-800-310"
#define STORYGEN_SSHD_PRIV "f5647a1c-2000-90000"
#define STORYGEN_SSHD_SESSION "f5647a1c-2005-90010"
#define STORYGEN_LOGIN_BASH "f5647a1c-2006-90020"
#define STORYGEN_LS "f5647a1c-2050-90100"
#define STORYGEN_SCRIPT "f5647a1c-2100-90200"
#define STORYGEN_SYSTEMCTL_STOP "f5647a1c-2101-90210"
#define STORYGEN_NFT "f5647a1c-2103-90230"
#define STORYGEN_CP "f5647a1c-2105-90250"
#define STORYGEN_CAT_UNIT "f5647a1c-2108-90280"
#define STORYGEN_ENABLE "f5647a1c-2109-90290"
#define STORYGEN_PAYLOAD "f5647a1c-2110-90300"
#define STORYGEN_HISTORY "f5647a1c-2113-90330"
#define STORYGEN_CRON_JOB "f5647a1c-3000-95000"
#define STORYGEN_BACKUP "f5647a1c-3001-95010"

/* The Timestamp of the first event (ns since the epoch). */
extern const uint64_t storygen_t0;

/* Appends the scenario's events to out (each a varint length and a
 * record, as ingestgen_event writes them) with Seq from first_seq and
 * times from t0_ns (0: storygen_t0). Returns the number of events. */
size_t storygen_attack(struct tlv_buf *out, uint64_t first_seq, uint64_t t0_ns);

/* Appends a process event of the machine above: action ("ProcessCreated",
 * "ProcessForked", "ProcessExited", "ProcessSnapshot") of process pid/ticks
 * whose parent is ppid/pticks, image path, command line, user root. For
 * hostile and wide trees. */
void storygen_process(struct tlv_buf *out, uint64_t seq, uint64_t ts, const char *action, unsigned pid,
                      unsigned ticks, unsigned ppid, unsigned pticks, const char *image, const char *cmdline);

/* Appends a file event (action, path, LocationTag tag, snippet of
 * snippet_len bytes or NULL) done by process pid/ticks, whose parent is
 * ppid/pticks. For hostile content. */
void storygen_file(struct tlv_buf *out, uint64_t seq, uint64_t ts, const char *action, unsigned pid, unsigned ticks,
                   unsigned ppid, unsigned pticks, const char *path, const char *tag, const char *snippet,
                   size_t snippet_len);

#endif
