/*
 * snippet.h — the content of files that matter, for FileContentSnippet.
 *
 * A cron entry, a systemd unit, a sudoers drop-in, authorized_keys or the
 * agent's own exclusion list says what it does only through its content;
 * the server describes such writes with it (the alert story). The agent
 * therefore reads the first SNIPPET_MAX bytes of a file it reports as
 * created, modified or renamed into a persistence, security-configuration
 * or agent-configuration location — never private keys or password hashes
 * (snippet_wanted).
 *
 * The file is opened as the writer sees it: through /proc/PID/root of the
 * writer (or of its parent, when the writer already exited), so a process
 * in a container or a private mount namespace is read in its own tree;
 * with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
 * and O_NOFOLLOW, so no symbolic link is ever followed; and only a regular
 * file whose inode and device are the ones the kernel reported is kept, so
 * a file replaced in between, or a path that names another file in the
 * agent's own tree, is never read in its place.
 *
 * The record comes at the writer's first write, before it finished; the
 * pipeline holds such events (pipeline.c, "pending file events") and reads
 * the open file when the writer exits or after SNIPPET_DELAY_NS, whichever
 * comes first (docs/decisions.md, "File content snippets").
 */
#ifndef YAMORI_AGENT_SNIPPET_H
#define YAMORI_AGENT_SNIPPET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNIPPET_MAX 4096                     /* bytes of content sent */
#define SNIPPET_DELAY_NS (500ull * 1000000)  /* longest an event waits for its writer */
#define SNIPPET_PENDING_MAX 64               /* events waiting at once; more are read at once */

/* Whether a file at path with this LocationTag is one whose content is
 * sent: tags persistence:*, security:* and agent:config, except private
 * keys (*_key, *.key, *.pem), password hashes (shadow, gshadow and their
 * backups, opasswd). */
bool snippet_wanted(const char *path, const char *tag);

/* Opens path (absolute, as the writer named it) read-only in the root of
 * process pid, else of ppid (0: none), else of the agent, under proc_root
 * ("/proc"), without following any symbolic link; keeps it only when it
 * is a regular file with inode ino on kernel device kdev (ino 0: not
 * checked). Returns the descriptor, or -errno (-ENOENT, -ELOOP, -ESTALE
 * for another file, -EINVAL for a file that is not regular). */
int snippet_open(const char *proc_root, uint32_t pid, uint32_t ppid, const char *path, uint64_t ino, uint32_t kdev);

/* Reads up to SNIPPET_MAX bytes from the start of fd into buf (at least
 * SNIPPET_MAX bytes): *len, and *truncated when the file holds more.
 * Returns 0 or -errno. Does not close fd. */
int snippet_read(int fd, char *buf, size_t *len, bool *truncated);

#endif
