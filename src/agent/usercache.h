/*
 * usercache.h — user and group names by id, without a lookup per event.
 *
 * Names come from NSS (getpwuid_r), so LDAP or sssd users resolve too, but
 * each id is looked up once: positive and negative answers are cached until
 * /etc/passwd changes (usercache_refresh() checks its mtime). Returned names
 * live as long as the cache, across refreshes (they are interned).
 */
#ifndef YAMORI_AGENT_USERCACHE_H
#define YAMORI_AGENT_USERCACHE_H

#include <stdint.h>

struct usercache;

struct usercache *usercache_new(const char *passwd_path /* "/etc/passwd" */);
void usercache_free(struct usercache *uc);

/* The user name of uid, or NULL when no user has it. */
const char *usercache_name(struct usercache *uc, uint32_t uid);

/* Forgets cached answers when the passwd file changed since the last call. */
void usercache_refresh(struct usercache *uc);

#endif
