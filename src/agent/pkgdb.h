/*
 * pkgdb.h — which Debian package owns a file, from the dpkg database.
 *
 * The agent adds `PackageName` to every exec event; an executable in a
 * system path that no package owns is worth a look. pkgdb reads dpkg's
 * admin directory (/var/lib/dpkg) once — every info/<pkg>.list and the
 * diversions file — into a compact index: a sorted array of 64-bit hashes
 * of file paths, a parallel array of 16-bit (32-bit when needed) package
 * ids, and a table of interned package names. The ~140,000 paths
 * themselves are not kept. A lookup hashes the path and binary-searches a
 * small bucket of the array: no allocation, no system call.
 *
 * What is indexed:
 *   - Files, under the path where they are on disk. dpkg's diversions are
 *     applied the way dpkg applies them: when package P diverts F to T,
 *     every other package's F is installed at T (so T is owned by the
 *     package that listed F, not by P), and P's own F stays at F. A local
 *     diversion (package ":") diverts every package's F.
 *   - Directories are not: a path that is the parent directory of another
 *     indexed path is dropped (an executable is never a directory, and
 *     directories are shared by many packages). A directory that is empty
 *     in every package that ships it stays in the index; it costs ten bytes
 *     and can never be an exec image.
 *   - Merged /usr: top-level directories of the root that are symbolic
 *     links to directories (/bin -> usr/bin on Debian 12) are detected at
 *     build time, and each listed path is indexed both as listed (/bin/true)
 *     and canonical (/usr/bin/true), the form the kernel reports.
 *
 * A file listed by several packages (Multi-Arch: same, or a file that moved
 * between packages) is reported as owned by the alphabetically first.
 * Hash collisions: with 64-bit hashes and ~150,000 entries, the chance that
 * an unowned path is reported as owned is about 1e-14 per lookup.
 *
 * Package names are returned as dpkg names them in info/, with the
 * architecture qualifier when the package has one ("libc6:amd64"), as
 * `dpkg -S` prints them. A returned name stays valid until pkgdb_free(),
 * across refreshes (names are interned and never freed before).
 *
 * A struct pkgdb is not thread-safe: one thread (the enrichment stage)
 * owns it.
 */
#ifndef YAMORI_AGENT_PKGDB_H
#define YAMORI_AGENT_PKGDB_H

#include <stddef.h>
#include <stdint.h>

struct pkgdb;

struct pkgdb_stats {
    uint64_t entries;        /* indexed paths (hash entries) */
    uint64_t packages;       /* .list files read by the last build */
    uint64_t diversions;     /* diversions applied */
    uint64_t lines;          /* lines read from .list files */
    uint64_t skipped_lines;  /* malformed lines left out (not absolute, "..", too long) */
    uint64_t skipped_files;  /* .list files whose name is not a package name */
    uint64_t dirs_dropped;   /* entries dropped as directories */
    uint64_t memory_bytes;   /* heap held by the index and the name table */
    uint64_t build_ns;       /* duration of the last successful build */
    uint64_t builds;         /* successful builds, the first included */
    uint32_t canon_links;    /* top-level symlinked directories found (/bin, /lib, ...) */
};

/* Builds the index from `admindir` (normally "/var/lib/dpkg"), detecting
 * merged-/usr symlinks under "/". Equivalent to pkgdb_open_at(out,
 * admindir, "/", err, errlen). */
int pkgdb_open(struct pkgdb **out, const char *admindir, char *err, size_t errlen);

/* Builds the index from `admindir`, with `root` as the file system root
 * the packages are installed in: top-level symlinks are looked for under
 * root, and pkgdb_verify() reads files under root. Paths given to and
 * stored by the index are as seen from inside root ("/usr/bin/true").
 * On success stores a new database in *out (free with pkgdb_free()) and
 * returns 0. On failure returns -errno, writes a sentence into err and
 * leaves *out untouched. Missing info/ is an error; a missing diversions
 * file means no diversions; a malformed diversions file is an error. */
int pkgdb_open_at(struct pkgdb **out, const char *admindir, const char *root,
                  char *err, size_t errlen);

/* The package owning the file at `path` (absolute and canonical, as the
 * kernel reports an exec image), or NULL when no package does. Does not
 * allocate. The string stays valid until pkgdb_free(). */
const char *pkgdb_owner(const struct pkgdb *db, const char *path);

/* Rebuilds the index when the dpkg database changed since the last build:
 * compares identity, size and times of status, diversions, the info/ and
 * updates/ directories and of the root directory (five stat calls when
 * nothing changed; dpkg replaces status and the .list files by rename at
 * the end of every run). Returns 0 whether or not it rebuilt (the `builds`
 * counter of pkgdb_get_stats() tells), or -errno with a sentence in err
 * when the rebuild failed: the previous index then stays in use, and later
 * calls return the same error without rereading until the database changes
 * again. Names returned before stay valid. */
int pkgdb_refresh(struct pkgdb *db, char *err, size_t errlen);

enum pkgdb_verdict {
    PKGDB_NO_RECORD = 0,  /* no package owns it, or its package records no checksum for it */
    PKGDB_MATCH,          /* the content has the MD5 its package recorded */
    PKGDB_MISMATCH,       /* the content differs from what its package installed */
};

/* Whether the file at `path` (absolute, canonical) still has the content
 * its owning package installed, from info/<pkg>.md5sums (read now, for
 * this one package; meant for scans, not the exec path). Diverted files
 * are checked against the record of the package they came from.
 * Conffiles are not in md5sums and yield PKGDB_NO_RECORD. Returns 0 and
 * sets *verdict, or -errno with a sentence in err when the md5sums file or
 * the file itself could not be read. */
int pkgdb_verify(struct pkgdb *db, const char *path, enum pkgdb_verdict *verdict,
                 char *err, size_t errlen);

/* "no-record", "match", "mismatch". */
const char *pkgdb_verdict_name(enum pkgdb_verdict v);

void pkgdb_get_stats(const struct pkgdb *db, struct pkgdb_stats *out);

/* Frees the database and every name it returned. Accepts NULL. */
void pkgdb_free(struct pkgdb *db);

#endif
