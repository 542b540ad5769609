/*
 * sandbox.h — runs a case's body where what it changes cannot reach the
 * machine: in a forked child, in a private mount namespace with tmpfs
 * mounts, overlays or a work directory over the places the body writes,
 * and, when asked, in a network namespace of its own.
 *
 * The body is an ordinary case function (CHECK, SKIP): it runs in the
 * child, and its verdict — failed with its message, skipped with its
 * reason, or passed — becomes the verdict of the case that called
 * sandbox_run(). The child is a subreaper: when the body (and the
 * options' cleanup) is done, whatever it left running, orphans of its
 * children included, is killed and reaped before the verdict is sent, so
 * nothing a case started outlives it. A child that ends without a verdict
 * fails the case; so does a sandbox that cannot be made (this is a test
 * of the machine's own paths: it must not run elsewhere, nor pass
 * silently). The mounts and namespaces end with the child; the work
 * directory is removed by the calling process afterwards.
 *
 * Needs root: without it the case is skipped. Single-threaded use (it
 * forks); stdio buffers are flushed before the fork.
 */
#ifndef YAMORI_TESTS_SANDBOX_H
#define YAMORI_TESTS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* What the child gets, set up in this order. Every list is
 * NULL-terminated and may be NULL. */
struct sandbox_options {
    const char *needs;               /* why the case needs root, for its SKIP line; NULL: "namespaces" */
    const char *workdir;             /* a work directory /tmp/yamori-<workdir>.XXXXXX (mode 0755), made
                                      * before the fork and removed with its contents after; NULL: none */
    char *dir;                       /* receives the work directory's path, "" again once it is removed
                                      * (the body reads it there: the child has a copy) */
    size_t dirlen;
    bool workdir_tmpfs;              /* in the child, a tmpfs (mode 0755) over the work directory: what is
                                      * written there never reaches the disk */
    const char *workdir_over;        /* in the child, the work directory is bound over this directory */
    const char *const *overlays;     /* each directory overlaid, its changes landing in
                                      * <dir>/upper<path> (overlayfs work directory <dir>/work<path>, both
                                      * made mode 0755); needs workdir_tmpfs */
    const char *const *tmpfs;        /* an empty tmpfs over each directory */
    const char *tmpfs_options;       /* their mount options; NULL: "mode=0755" */
    bool net;                        /* a network namespace of its own: nothing but loopback, down */
    bool loopback_up;                /* with net: its loopback up */
    void (*setup)(void);             /* last, in the child: a case function (CHECK) finishing the set-up;
                                      * the body runs only when it passed; NULL: none */
    void (*cleanup)(void);           /* in the child after the body (or a failed setup), before what is
                                      * left running is killed; NULL: none */
};

/* Runs body in a child sandboxed as opt says (see above) and makes its
 * verdict the calling case's. Skips the case without root; fails it when
 * the work directory, the fork, the sandbox or the child fails. */
void sandbox_run(const struct sandbox_options *opt, void (*body)(void));

#endif
