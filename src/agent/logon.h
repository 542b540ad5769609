/*
 * logon.h — turns one authentication log line into a logon record.
 *
 * A pure parser: no I/O, no allocation, no global state. It knows the lines
 * that sshd (OpenSSH 9.x, including the sshd-session / sshd-auth split of
 * 9.8+), sudo 1.9, su (util-linux and shadow-utils) and login (util-linux
 * and shadow-utils) write to syslog, and fills a struct logon_record with
 * the fields docs/events.md lists for `DeviceLogonEvents`. Two entry points:
 * a whole syslog line as found in /var/log/auth.log or /var/log/secure
 * (traditional `Nov 26 10:12:00 host sshd[1234]: ...` or RFC 3339
 * `2026-11-26T10:12:00.123456+00:00 host sshd[1234]: ...`), and the fields
 * of a journal entry (which carry no syslog prefix).
 *
 * What counts as a logon, so that one attempt is not reported twice:
 *
 *  - sshd `Accepted <method> for ...` is a success; `Failed <method> for
 *    ...` is one failed attempt. `Failed none` is not: the "none" method is
 *    the client asking which methods exist, not a credential. `Postponed`
 *    and `Partial` are steps of a multi-factor logon, not results.
 *  - sshd facts about a connection that are not themselves credential
 *    attempts are reported as LogonFailed with `count` 0: `Invalid user X
 *    from ...` (the only trace of a probe that never presents a
 *    credential), `User X from ... not allowed because ...`, `ROOT LOGIN
 *    REFUSED`, and `maximum authentication attempts exceeded`. Rules that
 *    count attempts sum `count`; rules that look for facts see them.
 *  - PAM module lines (`pam_unix(sshd:auth): authentication failure; ...`,
 *    `PAM 2 more authentication failures`, `session opened for user`) are
 *    never records: every service here logs its own line for the same
 *    attempt (sshd `Failed password`, sudo `3 incorrect password attempts`,
 *    su `FAILED SU`, login `FAILED LOGIN`).
 *  - sshd `Connection closed by [authenticating|invalid] user ...`,
 *    `Disconnected from ...`, `Received disconnect ...` are not logons: the
 *    attempts of that connection, if any, were logged as `Failed` lines.
 *  - sudo writes one line per invocation: success (`alice : TTY=... ;
 *    USER=root ; COMMAND=...`) or the refusal (`3 incorrect password
 *    attempts`, `user NOT in sudoers`, ...). The PAM lines in between are
 *    not counted; `N incorrect password attempts` carries count N.
 *  - su: util-linux `(to root) alice on pts/0`, `FAILED SU (to root) alice
 *    on pts/0`; shadow-utils `Successful su for root by alice`, `FAILED su
 *    for root by alice` (its `+ tty a:b` lines repeat the same fact and are
 *    not counted).
 *  - login: util-linux `ROOT LOGIN ON tty1`, `LOGIN ON tty1 BY alice`,
 *    `FAILED LOGIN 1 FROM tty1 FOR alice, Authentication failure`, `FAILED
 *    LOGIN SESSION ...`, `TOO MANY LOGIN TRIES (3) ...`; shadow-utils `ROOT
 *    LOGIN  on '/dev/tty1'`, `'alice' logged in  on '/dev/tty1'` (only with
 *    LOG_OK_LOGINS yes), `FAILED LOGIN (1) on '/dev/tty1' FOR 'alice',
 *    ...`, `TOO MANY LOGIN TRIES (3) on ... FOR 'alice'` (a summary after
 *    the last FAILED line: count 0).
 *  - rsyslog's `message repeated N times: [ ... ]` is unwrapped and the
 *    inner line's count multiplied by N.
 *
 * Names an attacker chooses (an sshd user name, a login name typed at the
 * prompt) are taken from the position the service's own format fixes, not
 * from the first match: `Failed password for invalid user x from 6.6.6.6
 * port 1 ssh2 from 1.2.3.4 port 5 ssh2` reports 1.2.3.4 and user
 * `x from 6.6.6.6 port 1 ssh2`. sudo's PWD and COMMAND are written
 * unescaped by sudo, so a crafted working directory can disguise the fields
 * that follow it; the raw line is always in `line`.
 */
#ifndef YAMORI_AGENT_LOGON_H
#define YAMORI_AGENT_LOGON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest line the parser accepts (and the log sources read) in bytes,
 * without the newline. Longer lines give -E2BIG. */
#define LOGON_LINE_MAX 16384

/* Storage that is always large enough for a line of `len` bytes (or a
 * journal entry whose identifier, pid and message total `len` bytes). */
#define LOGON_STORAGE_SIZE(len) (2 * (size_t)(len) + 256)

enum logon_result {
    LOGON_SUCCESS = 1,          /* ActionType LogonSuccess */
    LOGON_FAILED = 2,           /* ActionType LogonFailed */
};

enum logon_type {
    LOGON_TYPE_NETWORK = 1,     /* sshd */
    LOGON_TYPE_INTERACTIVE = 2, /* login */
    LOGON_TYPE_ELEVATION = 3,   /* sudo, su */
};

enum logon_protocol {
    LOGON_PROTO_SSH = 1,
    LOGON_PROTO_SUDO = 2,
    LOGON_PROTO_SU = 3,
    LOGON_PROTO_LOGIN = 4,
};

/* FailureReason. The names (logon_failure_name) are what events carry. */
enum logon_failure {
    LOGON_FAIL_NONE = 0,
    /* InvalidUser: the account does not exist, or sshd treats it as invalid
     * (it also says "invalid user" for accounts AllowUsers/DenyUsers
     * refuse). */
    LOGON_FAIL_INVALID_USER,
    /* WrongPassword: a password was presented and rejected (sshd `Failed
     * password`, sudo `N incorrect password attempts`). */
    LOGON_FAIL_WRONG_PASSWORD,
    /* KeyRejected: a public key or host key was presented and not accepted
     * (sshd `Failed publickey` / `Failed hostbased`). */
    LOGON_FAIL_KEY_REJECTED,
    /* AuthenticationFailure: the credential was rejected and the service
     * does not say which kind (PAM, keyboard-interactive, su, login). */
    LOGON_FAIL_AUTHENTICATION,
    /* NotInSudoers: sudo `user NOT in sudoers`. */
    LOGON_FAIL_NOT_IN_SUDOERS,
    /* NotAllowed: the account exists but policy forbids this logon (sudo
     * `command not allowed`, `user NOT authorized on host`; sshd `not
     * allowed because ...`, `ROOT LOGIN REFUSED`). */
    LOGON_FAIL_NOT_ALLOWED,
    /* PasswordRequired: sudo -n needed a password (`a password is
     * required`). */
    LOGON_FAIL_PASSWORD_REQUIRED,
    /* MaxAttemptsExceeded: the service gave up after too many failures
     * (sshd MaxAuthTries, login `TOO MANY LOGIN TRIES`). */
    LOGON_FAIL_MAX_ATTEMPTS,
};

/* One logon, as the log said it. Every string is NUL-terminated and points
 * into the caller's storage (or is a static constant); NULL means the line
 * did not say. */
struct logon_record {
    enum logon_result result;
    enum logon_type type;               /* LogonType */
    enum logon_protocol protocol;       /* Protocol */
    enum logon_failure failure;         /* FailureReason; NONE on success */
    const char *account;                /* AccountName (sudo/su: the target) */
    const char *initiating_account;     /* InitiatingAccountName (sudo/su) */
    const char *auth_method;            /* AuthenticationMethod: password,
                                           publickey, keyboard-interactive,
                                           hostbased, gssapi-with-mic, ... */
    const char *auth_submethod;         /* sshd `keyboard-interactive/pam`: pam */
    const char *key_type;               /* sshd: ED25519, RSA, ED25519-CERT, ... */
    const char *key_fingerprint;        /* sshd: SHA256:... */
    const char *remote_ip;              /* RemoteIP, RFC 5952 for IPv6 */
    uint16_t remote_port;               /* RemotePort; 0 when not said */
    const char *remote_host;            /* login FROM host that is no address */
    const char *command;                /* LogonCommand (sudo COMMAND=) */
    const char *tty;                    /* ProcessTty: pts/0, tty1 */
    const char *service;                /* the syslog identifier: sshd,
                                           sshd-session, sudo, su, login */
    uint32_t pid;                       /* InitiatingProcessId; 0 when not said */
    const char *host;                   /* host name of the syslog header
                                           (NULL for journal entries) */
    uint64_t time_us;                   /* the line's own time, microseconds
                                           since the epoch (UTC); 0 = none */
    unsigned int count;                 /* credential attempts this record
                                           stands for (see the top of this
                                           file): 1, N, or 0 for facts */
    const char *line;                   /* LogLine: the raw line (journal:
                                           "ident[pid]: message") */
    size_t line_len;
};

/* The fields of one journal entry the parser uses. Pointers need not be
 * NUL-terminated (lengths say); a field the entry lacks is NULL/0. */
struct logon_journal_entry {
    const char *identifier;             /* SYSLOG_IDENTIFIER */
    size_t identifier_len;
    const char *pid;                    /* _PID (else SYSLOG_PID), decimal */
    size_t pid_len;
    const char *message;                /* MESSAGE */
    size_t message_len;
    uint64_t realtime_us;               /* __REALTIME_TIMESTAMP; 0 = unknown */
};

/* Parses one syslog line (`len` bytes at `line`, a trailing newline
 * allowed; need not be NUL-terminated). On a logon event fills *out, whose
 * strings point into `storage` (at least LOGON_STORAGE_SIZE(len) bytes is
 * always enough), and returns 1. Returns 0 when the line is well formed but
 * no logon event (another program, a PAM line, a disconnect, a syslog line
 * without a tag such as "-- MARK --"). Errors: -E2BIG longer than
 * LOGON_LINE_MAX; -EINVAL no syslog timestamp and host, or a NUL byte in
 * the line; -EBADMSG a logon line whose fields are malformed or cut;
 * -ENOBUFS storage too small. On 0 or an error *out is zeroed.
 * Traditional timestamps have no year and are local time: the year is the
 * newest that does not put the line more than a week after now (a December
 * line read in January is last year's; a "Jan  1" line read on Dec 31 is
 * next year's; Feb 29 goes back to a leap year). */
int logon_parse_line(const char *line, size_t len, struct logon_record *out,
                     char *storage, size_t storage_len);

/* logon_parse_line() with the clock given: `now` decides the year of
 * traditional timestamps. */
int logon_parse_line_at(const char *line, size_t len, time_t now,
                        struct logon_record *out, char *storage, size_t storage_len);

/* Parses one journal entry. Same returns as logon_parse_line(); -EINVAL
 * when identifier or message is missing. `line` in *out is built as
 * "identifier[pid]: message" in storage (LOGON_STORAGE_SIZE of the three
 * lengths summed is enough). */
int logon_parse_journal(const struct logon_journal_entry *e, struct logon_record *out,
                        char *storage, size_t storage_len);

/* Whether `ident` (len bytes) is a syslog identifier this parser reads:
 * sshd, sshd-session, sshd-auth, sudo, su, login. Lets readers skip other
 * programs cheaply and build journal matches. */
int logon_identifier_known(const char *ident, size_t len);

/* The identifiers logon_identifier_known() accepts, NULL-terminated. */
extern const char *const logon_identifiers[];

/* Names as events carry them: "LogonSuccess"/"LogonFailed", "Network"/
 * "Interactive"/"Elevation", "ssh"/"sudo"/"su"/"login", and the
 * FailureReason names above (NULL for LOGON_FAIL_NONE). Static strings. */
const char *logon_action_name(enum logon_result r);
const char *logon_type_name(enum logon_type t);
const char *logon_protocol_name(enum logon_protocol p);
const char *logon_failure_name(enum logon_failure f);

#endif
