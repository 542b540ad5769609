/*
 * tmpdir.h — the temporary directory trees tests work in: made under /tmp
 * with a name that says which test made them, and removed whole at the
 * end, never following a symbolic link out of the tree nor crossing into
 * a file system mounted inside it.
 */
#ifndef YAMORI_TESTS_TMPDIR_H
#define YAMORI_TESTS_TMPDIR_H

#include <stdbool.h>
#include <stddef.h>

/* Makes /tmp/yamori-<name>.XXXXXX (mode 0700) and writes its path to dir
 * (len bytes). Returns false, with dir "", when it cannot. */
bool tmpdir_make(char *dir, size_t len, const char *name);

/* Removes the tree at dir (what it can; a directory another file system
 * is mounted on stays) and empties dir. Nothing for "" or NULL. */
void tmpdir_remove(char *dir);

#endif
