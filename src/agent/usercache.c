/*
 * usercache.c — see usercache.h. Names are interned in a list that is only
 * freed with the cache, so pointers handed out stay valid after a refresh.
 */
#include "agent/usercache.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uthash.h>

struct user_entry {
    uint32_t uid;
    const char *name; /* interned, or NULL: no such user */
    UT_hash_handle hh;
};

struct interned {
    struct interned *next;
    char name[];
};

struct usercache {
    struct user_entry *by_uid;
    struct interned *names;
    char *passwd_path;
    struct timespec passwd_mtime;
};

static void passwd_mtime(const char *path, struct timespec *out)
{
    struct stat st;
    if (stat(path, &st) == 0)
        *out = st.st_mtim;
    else
        memset(out, 0, sizeof(*out));
}

struct usercache *usercache_new(const char *passwd_path)
{
    struct usercache *uc = calloc(1, sizeof(*uc));
    if (!uc)
        return NULL;
    uc->passwd_path = strdup(passwd_path ? passwd_path : "/etc/passwd");
    if (!uc->passwd_path) {
        free(uc);
        return NULL;
    }
    passwd_mtime(uc->passwd_path, &uc->passwd_mtime);
    return uc;
}

static void clear_entries(struct usercache *uc)
{
    struct user_entry *e, *tmp;
    HASH_ITER(hh, uc->by_uid, e, tmp) {
        HASH_DEL(uc->by_uid, e);
        free(e);
    }
}

void usercache_free(struct usercache *uc)
{
    if (!uc)
        return;
    clear_entries(uc);
    while (uc->names) {
        struct interned *n = uc->names;
        uc->names = n->next;
        free(n);
    }
    free(uc->passwd_path);
    free(uc);
}

/* An interned copy of s (an existing one when the same text is there). */
static const char *intern(struct usercache *uc, const char *s)
{
    size_t n = strlen(s);
    struct interned *i;

    for (i = uc->names; i; i = i->next)
        if (strcmp(i->name, s) == 0)
            return i->name;
    i = malloc(sizeof(*i) + n + 1);
    if (!i)
        return NULL;
    memcpy(i->name, s, n + 1);
    i->next = uc->names;
    uc->names = i;
    return i->name;
}

const char *usercache_name(struct usercache *uc, uint32_t uid)
{
    struct user_entry *e = NULL;
    struct passwd pw, *res = NULL;
    char buf[4096];

    HASH_FIND(hh, uc->by_uid, &uid, sizeof(uid), e);
    if (e)
        return e->name;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->uid = uid;
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        e->name = intern(uc, res->pw_name);
    HASH_ADD(hh, uc->by_uid, uid, sizeof(e->uid), e);
    return e->name;
}

void usercache_refresh(struct usercache *uc)
{
    struct timespec now;

    passwd_mtime(uc->passwd_path, &now);
    if (now.tv_sec == uc->passwd_mtime.tv_sec && now.tv_nsec == uc->passwd_mtime.tv_nsec)
        return;
    uc->passwd_mtime = now;
    clear_entries(uc);
}
