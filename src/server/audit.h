/*
 * audit.h — the append-only record of who did what.
 *
 * Every login (successful or not), every change of configuration, users,
 * tokens, devices, every action and every live-response command is written
 * here by the module that performs it, before it answers. Entries are
 * never updated or deleted through the API (retention prunes only events).
 */
#ifndef YAMORI_SERVER_AUDIT_H
#define YAMORI_SERVER_AUDIT_H

struct server;
struct principal;

/* Records one entry. who may be NULL (anonymous: a failed login names the
 * attempted user in target); remote_ip may be NULL; action is a dotted
 * verb ("auth.login", "user.create", "device.enroll", "token.revoke");
 * target names the object ("user:ann", "device:web-1"); detail is free
 * text or JSON text (may be NULL). Failures are logged, never fatal:
 * returns 0 or -errno. */
int audit_record(struct server *srv, const struct principal *who, const char *remote_ip, const char *action,
                 const char *target, const char *detail);

#endif
