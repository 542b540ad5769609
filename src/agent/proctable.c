/*
 * proctable.c — see proctable.h. A uthash table keyed by struct proc_key,
 * a second one keyed by pid, and two doubly linked lists: live entries in
 * creation order (eviction walks it from the oldest end when the table is
 * full) and exited entries in exit order (expiry walks it from the oldest
 * end and stops at the first that must stay).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* uthash's default hash (Jenkins) is slow for the small integer keys used
 * here; a multiply-xorshift mix over 8-byte words is plenty. */
static inline unsigned proctable_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;

    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, p, len);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
    }
    return (unsigned)(h ^ (h >> 32));
}
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = proctable_hash((keyptr), (keylen)))

#include "agent/proctable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct age_list {
    struct proc_entry *oldest, *newest;
};

struct proctable {
    struct proc_entry *by_key;
    struct proc_entry *by_pid;
    struct age_list live, exited;
    char boot8[9];
    uint32_t max_entries;
    uint32_t max_exited;
    struct proctable_stats stats;
};

struct proctable *proctable_new(const char *boot8, uint32_t max_entries, uint32_t max_exited)
{
    struct proctable *pt = calloc(1, sizeof(*pt));
    if (!pt)
        return NULL;
    snprintf(pt->boot8, sizeof(pt->boot8), "%.8s", boot8);
    pt->max_entries = max_entries ? max_entries : 65536;
    pt->max_exited = max_exited ? max_exited : 4096;
    return pt;
}

static void entry_free(struct proc_entry *e)
{
    for (int i = 0; i < PROC_FRAG_MAX; i++)
        free(e->frag[i]);
    free(e->image);
    free(e->cmdline);
    free(e->cwd);
    free(e->tty);
    free(e->cgroup);
    free(e->container_id);
    free(e->memfd_name);
    free(e);
}

static void list_remove(struct age_list *l, struct proc_entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        l->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        l->newest = e->older;
    e->older = e->newer = NULL;
}

static void list_append(struct age_list *l, struct proc_entry *e)
{
    e->older = l->newest;
    e->newer = NULL;
    if (l->newest)
        l->newest->newer = e;
    else
        l->oldest = e;
    l->newest = e;
}

static void remove_entry(struct proctable *pt, struct proc_entry *e)
{
    HASH_DEL(pt->by_key, e);
    if (e->in_pid_index)
        HASH_DELETE(hh_pid, pt->by_pid, e);
    list_remove(e->exited ? &pt->exited : &pt->live, e);
    pt->stats.entries--;
    if (!e->exited)
        pt->stats.live--;
    entry_free(e);
}

void proctable_free(struct proctable *pt)
{
    struct proc_entry *e, *tmp;

    if (!pt)
        return;
    HASH_CLEAR(hh_pid, pt->by_pid);
    HASH_ITER(hh, pt->by_key, e, tmp) {
        HASH_DEL(pt->by_key, e);
        entry_free(e);
    }
    free(pt);
}

struct proc_entry *proctable_get(struct proctable *pt, uint32_t pid, uint64_t start_ticks)
{
    struct proc_key k = {.pid = pid, .pad = 0, .start_ticks = start_ticks};
    struct proc_entry *e = NULL;

    HASH_FIND(hh, pt->by_key, &k, sizeof(k), e);
    return e;
}

struct proc_entry *proctable_by_pid(struct proctable *pt, uint32_t pid)
{
    struct proc_entry *e = NULL;

    HASH_FIND(hh_pid, pt->by_pid, &pid, sizeof(pid), e);
    return e;
}

/* Makes room for one more entry: the oldest exited entry goes first, and
 * only when there is none, the oldest live one (counted). */
static void make_room(struct proctable *pt)
{
    if (pt->stats.entries < pt->max_entries)
        return;
    if (pt->exited.oldest) {
        remove_entry(pt, pt->exited.oldest);
        pt->stats.expired++;
    } else if (pt->live.oldest) {
        pt->stats.evicted_live++;
        remove_entry(pt, pt->live.oldest);
    }
}

struct proc_entry *proctable_add(struct proctable *pt, uint32_t pid, uint64_t start_ticks, bool *created)
{
    struct proc_entry *e = proctable_get(pt, pid, start_ticks);

    if (created)
        *created = false;
    if (e)
        return e;
    make_room(pt);
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->key.pid = pid;
    e->key.start_ticks = start_ticks;
    e->loginuid = (uint32_t)-1;
    e->sessionid = (uint32_t)-1;
    snprintf(e->unique_id, sizeof(e->unique_id), "%s-%u-%llu", pt->boot8, pid,
             (unsigned long long)start_ticks);
    HASH_ADD(hh, pt->by_key, key, sizeof(e->key), e);
    {
        struct proc_entry *prev = proctable_by_pid(pt, pid);
        if (!prev || prev->key.start_ticks <= start_ticks) {
            if (prev) {
                HASH_DELETE(hh_pid, pt->by_pid, prev);
                prev->in_pid_index = false;
            }
            HASH_ADD(hh_pid, pt->by_pid, key.pid, sizeof(e->key.pid), e);
            e->in_pid_index = true;
        }
    }
    list_append(&pt->live, e);
    pt->stats.entries++;
    pt->stats.live++;
    if (created)
        *created = true;
    return e;
}

void proctable_mark_exited(struct proctable *pt, struct proc_entry *e, uint64_t exit_ns)
{
    if (e->exited)
        return;
    list_remove(&pt->live, e);
    e->exited = true;
    e->exit_ns = exit_ns;
    pt->stats.live--;
    list_append(&pt->exited, e);
    /* renderings are rarely needed again once the exit is reported */
    for (int i = 0; i < PROC_FRAG_MAX; i++) {
        free(e->frag[i]);
        e->frag[i] = NULL;
    }
    if (pt->stats.entries - pt->stats.live > pt->max_exited && pt->exited.oldest != e) {
        remove_entry(pt, pt->exited.oldest);
        pt->stats.expired++;
    }
}

unsigned proctable_expire(struct proctable *pt, uint64_t now_ns, uint64_t keep_ns)
{
    unsigned n = 0;

    while (pt->exited.oldest && pt->exited.oldest->exit_ns + keep_ns <= now_ns) {
        remove_entry(pt, pt->exited.oldest);
        pt->stats.expired++;
        n++;
    }
    return n;
}

unsigned proctable_reap(struct proctable *pt, bool (*still_alive)(const struct proc_entry *e, void *ctx),
                        void *ctx, uint64_t now_ns)
{
    struct proc_entry *e, *tmp;
    unsigned n = 0;

    HASH_ITER(hh, pt->by_key, e, tmp) {
        if (!e->exited && !still_alive(e, ctx)) {
            proctable_mark_exited(pt, e, now_ns);
            n++;
        }
    }
    return n;
}

int proctable_set_str(char **field, const char *s, size_t n)
{
    char *copy = NULL;

    if (s) {
        copy = malloc(n + 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    free(*field);
    *field = copy;
    return 0;
}

int proctable_set_image(struct proc_entry *e, const char *path, size_t n)
{
    int err = proctable_set_str(&e->image, path, n);
    const char *slash;

    if (err)
        return err;
    if (!e->image) {
        e->image_name = NULL;
        return 0;
    }
    slash = strrchr(e->image, '/');
    e->image_name = slash ? slash + 1 : e->image;
    return 0;
}

void proctable_get_stats(const struct proctable *pt, struct proctable_stats *out)
{
    *out = pt->stats;
}
