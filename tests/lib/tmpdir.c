/*
 * tmpdir.c — see tmpdir.h.
 */
#include "tmpdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

bool tmpdir_make(char *dir, size_t len, const char *name)
{
    int n = snprintf(dir, len, "/tmp/yamori-%s.XXXXXX", name);
    if (n < 0 || (size_t)n >= len || !mkdtemp(dir)) {
        if (len)
            dir[0] = '\0';
        return false;
    }
    return true;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;   /* go on: remove what can be removed */
}

void tmpdir_remove(char *dir)
{
    if (!dir || !dir[0])
        return;
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    dir[0] = '\0';
}
