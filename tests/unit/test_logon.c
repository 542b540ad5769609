/*
 * test_logon.c — the logon line parser: a table of real-world lines from
 * OpenSSH 9.x, sudo 1.9, util-linux and shadow-utils su/login, each with
 * the fields it must give; lines that are no logon; timestamps (RFC 3339,
 * traditional with the year guessed around New Year); journal entries;
 * and hostile input (huge, binary, cut, too little storage) that must give
 * 0 or an error and never touch memory it does not own (ASan checks).
 */
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/logon.h"

struct expect {
    const char *line;
    int rc;
    enum logon_protocol proto;
    enum logon_result result;
    enum logon_failure failure;
    const char *account;
    const char *initiating;
    const char *method;
    const char *submethod;
    const char *key_type;
    const char *key_fp;
    const char *ip;
    unsigned int port;
    const char *remote_host;
    const char *command;
    const char *tty;
    const char *service;
    unsigned int pid;
    unsigned int count;
};

#define SSH LOGON_PROTO_SSH
#define SUDO LOGON_PROTO_SUDO
#define SU LOGON_PROTO_SU
#define LOGIN LOGON_PROTO_LOGIN
#define OK LOGON_SUCCESS
#define FAIL LOGON_FAILED

static const struct expect table[] = {
    /* ---- sshd: successes */
    { .line = "Nov 26 10:12:00 web1 sshd[1234]: Accepted password for alice from 192.0.2.10 port 52144 ssh2",
      .rc = 1, .proto = SSH, .result = OK, .account = "alice", .method = "password",
      .ip = "192.0.2.10", .port = 52144, .service = "sshd", .pid = 1234, .count = 1 },
    { .line = "Nov 26 10:12:01 web1 sshd[1235]: Accepted publickey for root from 198.51.100.7 port 40022 ssh2: ED25519 SHA256:3oXcJd1TIzSpe7GbqTRrpBfT0CqUfbcH/DdE0f+6N1A",
      .rc = 1, .proto = SSH, .result = OK, .account = "root", .method = "publickey",
      .key_type = "ED25519", .key_fp = "SHA256:3oXcJd1TIzSpe7GbqTRrpBfT0CqUfbcH/DdE0f+6N1A",
      .ip = "198.51.100.7", .port = 40022, .service = "sshd", .pid = 1235, .count = 1 },
    { .line = "2026-11-26T10:13:30.123456+00:00 web1 sshd-session[2201]: Accepted publickey for deploy from 2001:db8::1 port 51234 ssh2: RSA SHA256:h4Jb0Lq3XkY1xg0mYkVY9bM7iQ3l0sHc2ZsJzQ1e9fM",
      .rc = 1, .proto = SSH, .result = OK, .account = "deploy", .method = "publickey",
      .key_type = "RSA", .key_fp = "SHA256:h4Jb0Lq3XkY1xg0mYkVY9bM7iQ3l0sHc2ZsJzQ1e9fM",
      .ip = "2001:db8::1", .port = 51234, .service = "sshd-session", .pid = 2201, .count = 1 },
    { .line = "Nov 26 10:12:08 web1 sshd[1241]: Accepted keyboard-interactive/pam for bob from 192.0.2.20 port 5555 ssh2",
      .rc = 1, .proto = SSH, .result = OK, .account = "bob", .method = "keyboard-interactive",
      .submethod = "pam", .ip = "192.0.2.20", .port = 5555, .service = "sshd", .pid = 1241, .count = 1 },
    { .line = "Nov 26 10:12:08 web1 sshd[1242]: Accepted gssapi-with-mic for carol from 192.0.2.21 port 5556 ssh2",
      .rc = 1, .proto = SSH, .result = OK, .account = "carol", .method = "gssapi-with-mic",
      .ip = "192.0.2.21", .port = 5556, .service = "sshd", .pid = 1242, .count = 1 },
    /* an IPv6 address written long-hand comes out in RFC 5952 form */
    { .line = "Nov 26 10:12:08 web1 sshd[1243]: Accepted password for alice from 2001:DB8:0:0:0:0:0:1 port 2222 ssh2",
      .rc = 1, .proto = SSH, .result = OK, .account = "alice", .method = "password",
      .ip = "2001:db8::1", .port = 2222, .service = "sshd", .pid = 1243, .count = 1 },
    /* a user certificate: the key ID is in the extra text */
    { .line = "Nov 26 10:12:08 web1 sshd[1244]: Accepted publickey for alice from 192.0.2.10 port 50000 ssh2: ED25519-CERT SHA256:AAAAbbbb ID alice@corp (serial 42) CA ED25519 SHA256:CCCCdddd",
      .rc = 1, .proto = SSH, .result = OK, .account = "alice", .method = "publickey",
      .key_type = "ED25519-CERT", .key_fp = "SHA256:AAAAbbbb", .ip = "192.0.2.10", .port = 50000,
      .service = "sshd", .pid = 1244, .count = 1 },

    /* ---- sshd: failures, one per credential presented */
    { .line = "Nov 26 10:12:02 web1 sshd[1236]: Failed password for invalid user admin from 203.0.113.9 port 40000 ssh2",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER, .account = "admin",
      .method = "password", .ip = "203.0.113.9", .port = 40000, .service = "sshd", .pid = 1236, .count = 1 },
    { .line = "Nov 26 10:12:03 web1 sshd[1236]: Failed password for root from 203.0.113.9 port 40001 ssh2",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_WRONG_PASSWORD, .account = "root",
      .method = "password", .ip = "203.0.113.9", .port = 40001, .service = "sshd", .pid = 1236, .count = 1 },
    { .line = "Nov 26 10:12:09 web1 sshd[1242]: Failed publickey for root from 203.0.113.9 port 40005 ssh2: RSA SHA256:abcdefgh",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_KEY_REJECTED, .account = "root",
      .method = "publickey", .key_type = "RSA", .key_fp = "SHA256:abcdefgh", .ip = "203.0.113.9",
      .port = 40005, .service = "sshd", .pid = 1242, .count = 1 },
    { .line = "Nov 26 10:12:09 web1 sshd[1243]: Failed keyboard-interactive/pam for invalid user test from 2.2.2.2 port 111 ssh2",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER, .account = "test",
      .method = "keyboard-interactive", .submethod = "pam", .ip = "2.2.2.2", .port = 111,
      .service = "sshd", .pid = 1243, .count = 1 },
    { .line = "Nov 26 10:12:09 web1 sshd[1244]: Failed keyboard-interactive/pam for bob from 2.2.2.2 port 112 ssh2",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_AUTHENTICATION, .account = "bob",
      .method = "keyboard-interactive", .submethod = "pam", .ip = "2.2.2.2", .port = 112,
      .service = "sshd", .pid = 1244, .count = 1 },
    { .line = "Nov 26 10:12:09 web1 sshd[1245]: Failed password for root from fe80::1%eth0 port 22 ssh2",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_WRONG_PASSWORD, .account = "root",
      .method = "password", .ip = "fe80::1%eth0", .port = 22, .service = "sshd", .pid = 1245, .count = 1 },
    /* rsyslog folds repeats: the count multiplies */
    { .line = "Nov 26 10:12:15 web1 sshd[1237]: message repeated 5 times: [ Failed password for root from 203.0.113.9 port 40001 ssh2]",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_WRONG_PASSWORD, .account = "root",
      .method = "password", .ip = "203.0.113.9", .port = 40001, .service = "sshd", .pid = 1237, .count = 5 },
    /* a user name that repeats sshd's own words cannot move the address */
    { .line = "Nov 26 10:12:16 web1 sshd[1247]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 203.0.113.9 port 40010 ssh2",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER,
      .account = "x from 6.6.6.6 port 1 ssh2", .method = "password", .ip = "203.0.113.9",
      .port = 40010, .service = "sshd", .pid = 1247, .count = 1 },
    { .line = "Nov 26 10:12:16 web1 sshd[1248]: Failed publickey for invalid user y from 6.6.6.6 port 1 ssh2: RSA SHA256:fake from 203.0.113.9 port 40011 ssh2: ED25519 SHA256:real",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER,
      .account = "y from 6.6.6.6 port 1 ssh2: RSA SHA256:fake", .method = "publickey",
      .key_type = "ED25519", .key_fp = "SHA256:real", .ip = "203.0.113.9", .port = 40011,
      .service = "sshd", .pid = 1248, .count = 1 },

    /* ---- sshd: facts about a connection, count 0 */
    { .line = "Nov 26 10:12:04 web1 sshd[1237]: Invalid user oracle from 203.0.113.9 port 40002",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER, .account = "oracle",
      .ip = "203.0.113.9", .port = 40002, .service = "sshd", .pid = 1237, .count = 0 },
    { .line = "Nov 26 10:12:04 web1 sshd[1237]: Invalid user  from 203.0.113.9 port 40012",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER, .account = "",
      .ip = "203.0.113.9", .port = 40012, .service = "sshd", .pid = 1237, .count = 0 },
    { .line = "Nov 26 10:12:04 web1 sshd[1237]: Invalid user guest from 203.0.113.9",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER, .account = "guest",
      .ip = "203.0.113.9", .port = 0, .service = "sshd", .pid = 1237, .count = 0 },
    { .line = "Nov 26 10:12:10 web1 sshd[1243]: error: maximum authentication attempts exceeded for root from 203.0.113.9 port 40006 ssh2 [preauth]",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_MAX_ATTEMPTS, .account = "root",
      .ip = "203.0.113.9", .port = 40006, .service = "sshd", .pid = 1243, .count = 0 },
    { .line = "Nov 26 10:12:10 web1 sshd-auth[1244]: error: maximum authentication attempts exceeded for invalid user admin from 203.0.113.9 port 40007 ssh2 [preauth]",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_MAX_ATTEMPTS, .account = "admin",
      .ip = "203.0.113.9", .port = 40007, .service = "sshd-auth", .pid = 1244, .count = 0 },
    { .line = "Nov 26 10:12:11 web1 sshd[1245]: User mallory from 203.0.113.9 not allowed because not listed in AllowUsers",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_NOT_ALLOWED, .account = "mallory",
      .ip = "203.0.113.9", .service = "sshd", .pid = 1245, .count = 0 },
    { .line = "Nov 26 10:12:11 web1 sshd[1246]: User bob not allowed because account is locked",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_NOT_ALLOWED, .account = "bob",
      .service = "sshd", .pid = 1246, .count = 0 },
    { .line = "Nov 26 10:12:12 web1 sshd[1247]: ROOT LOGIN REFUSED FROM 203.0.113.9 port 40008",
      .rc = 1, .proto = SSH, .result = FAIL, .failure = LOGON_FAIL_NOT_ALLOWED, .account = "root",
      .ip = "203.0.113.9", .port = 40008, .service = "sshd", .pid = 1247, .count = 0 },

    /* ---- sshd: no logon */
    { .line = "Nov 26 10:12:05 web1 sshd[1237]: Connection closed by invalid user oracle 203.0.113.9 port 40002 [preauth]" },
    { .line = "Nov 26 10:12:05 web1 sshd[1238]: Connection closed by authenticating user root 203.0.113.9 port 40003 [preauth]" },
    { .line = "Nov 26 10:12:05 web1 sshd[1238]: Disconnecting authenticating user root 203.0.113.9 port 40003: Too many authentication failures [preauth]" },
    { .line = "Nov 26 10:12:06 web1 sshd[1239]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root" },
    { .line = "Nov 26 10:12:06 web1 sshd[1239]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root" },
    { .line = "Nov 26 10:12:07 web1 sshd[1240]: Failed none for invalid user test from 203.0.113.9 port 40004 ssh2" },
    { .line = "Nov 26 10:12:07 web1 sshd[1251]: Postponed keyboard-interactive for bob from 192.0.2.20 port 5555 ssh2 [preauth]" },
    { .line = "Nov 26 10:12:07 web1 sshd[1252]: Partial publickey for bob from 192.0.2.20 port 5555 ssh2: ED25519 SHA256:abcd" },
    { .line = "Nov 26 10:12:07 web1 sshd[1248]: Received disconnect from 203.0.113.9 port 40011:11: Bye Bye [preauth]" },
    { .line = "Nov 26 10:12:07 web1 sshd[1249]: Disconnected from user alice 192.0.2.10 port 52144" },
    { .line = "Nov 26 10:12:07 web1 sshd[1250]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)" },
    { .line = "Nov 26 10:12:07 web1 sshd[1250]: error: PAM: Authentication failure for root from 203.0.113.9" },
    { .line = "Nov 26 10:12:07 web1 sshd[1250]: Failed to release session: Interrupted system call" },

    /* ---- sudo 1.9 */
    { .line = "Nov 26 10:20:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update",
      .rc = 1, .proto = SUDO, .result = OK, .account = "root", .initiating = "alice",
      .command = "/usr/bin/apt update", .tty = "pts/0", .service = "sudo", .count = 1 },
    { .line = "2026-11-26T10:20:01.000001+01:00 web1 sudo[3100]:    alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
      .rc = 1, .proto = SUDO, .result = FAIL, .failure = LOGON_FAIL_WRONG_PASSWORD, .account = "root",
      .initiating = "alice", .method = "password", .command = "/usr/bin/id", .tty = "pts/0",
      .service = "sudo", .pid = 3100, .count = 3 },
    { .line = "Nov 26 10:20:02 web1 sudo:    alice : 1 incorrect password attempt ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
      .rc = 1, .proto = SUDO, .result = FAIL, .failure = LOGON_FAIL_WRONG_PASSWORD, .account = "root",
      .initiating = "alice", .method = "password", .command = "/usr/bin/id", .tty = "pts/0",
      .service = "sudo", .count = 1 },
    { .line = "Nov 26 10:21:00 web1 sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/bash",
      .rc = 1, .proto = SUDO, .result = FAIL, .failure = LOGON_FAIL_NOT_IN_SUDOERS, .account = "root",
      .initiating = "bob", .command = "/bin/bash", .tty = "pts/1", .service = "sudo", .count = 1 },
    { .line = "Nov 26 10:21:01 web1 sudo:    carol : command not allowed ; TTY=pts/2 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh",
      .rc = 1, .proto = SUDO, .result = FAIL, .failure = LOGON_FAIL_NOT_ALLOWED, .account = "root",
      .initiating = "carol", .command = "/bin/sh", .tty = "pts/2", .service = "sudo", .count = 1 },
    { .line = "Nov 26 10:21:02 web1 sudo:    carol : user NOT authorized on host ; TTY=pts/2 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh",
      .rc = 1, .proto = SUDO, .result = FAIL, .failure = LOGON_FAIL_NOT_ALLOWED, .account = "root",
      .initiating = "carol", .command = "/bin/sh", .tty = "pts/2", .service = "sudo", .count = 1 },
    { .line = "Nov 26 10:21:03 web1 sudo:    alice : a password is required ; TTY=unknown ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/true",
      .rc = 1, .proto = SUDO, .result = FAIL, .failure = LOGON_FAIL_PASSWORD_REQUIRED, .account = "root",
      .initiating = "alice", .command = "/usr/bin/true", .service = "sudo", .count = 1 },
    /* GROUP and a command holding " ; " */
    { .line = "Nov 26 10:21:04 web1 sudo[3101]:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=postgres ; GROUP=postgres ; COMMAND=/bin/sh -c echo a ; echo b",
      .rc = 1, .proto = SUDO, .result = OK, .account = "postgres", .initiating = "alice",
      .command = "/bin/sh -c echo a ; echo b", .tty = "pts/0", .service = "sudo", .pid = 3101, .count = 1 },
    { .line = "Nov 26 10:21:05 web1 sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice" },
    { .line = "Nov 26 10:21:05 web1 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)" },
    { .line = "Nov 26 10:21:05 web1 sudo:    alice : (command continued) --verbose --force" },
    { .line = "Nov 26 10:21:05 web1 sudo:    alice : unable to resolve host web1: Name or service not known" },

    /* ---- su: util-linux and shadow-utils */
    { .line = "Nov 26 10:30:00 web1 su[4000]: (to root) alice on pts/0",
      .rc = 1, .proto = SU, .result = OK, .account = "root", .initiating = "alice", .tty = "pts/0",
      .service = "su", .pid = 4000, .count = 1 },
    { .line = "Nov 26 10:30:05 web1 su[4001]: FAILED SU (to root) alice on pts/0",
      .rc = 1, .proto = SU, .result = FAIL, .failure = LOGON_FAIL_AUTHENTICATION, .account = "root",
      .initiating = "alice", .tty = "pts/0", .service = "su", .pid = 4001, .count = 1 },
    { .line = "Nov 26 10:30:06 web1 su[4002]: (to postgres) root on none",
      .rc = 1, .proto = SU, .result = OK, .account = "postgres", .initiating = "root",
      .service = "su", .pid = 4002, .count = 1 },
    { .line = "Nov 26 10:30:07 web1 su[4003]: Successful su for root by alice",
      .rc = 1, .proto = SU, .result = OK, .account = "root", .initiating = "alice",
      .service = "su", .pid = 4003, .count = 1 },
    { .line = "Nov 26 10:30:08 web1 su[4004]: FAILED su for root by alice",
      .rc = 1, .proto = SU, .result = FAIL, .failure = LOGON_FAIL_AUTHENTICATION, .account = "root",
      .initiating = "alice", .service = "su", .pid = 4004, .count = 1 },
    { .line = "Nov 26 10:30:08 web1 su[4004]: - /dev/pts/0 alice:root" },
    { .line = "Nov 26 10:30:09 web1 su[4005]: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root" },
    { .line = "Nov 26 10:30:09 web1 su[4005]: pam_unix(su-l:session): session opened for user root(uid=0) by alice(uid=1000)" },
    { .line = "Nov 26 10:30:09 web1 runuser[4006]: (to postgres) root on none" },

    /* ---- login: util-linux */
    { .line = "Nov 26 10:40:00 web1 login[5000]: ROOT LOGIN ON tty1",
      .rc = 1, .proto = LOGIN, .result = OK, .account = "root", .tty = "tty1", .service = "login",
      .pid = 5000, .count = 1 },
    { .line = "Nov 26 10:40:01 web1 login[5001]: LOGIN ON tty2 BY alice",
      .rc = 1, .proto = LOGIN, .result = OK, .account = "alice", .tty = "tty2", .service = "login",
      .pid = 5001, .count = 1 },
    { .line = "Nov 26 10:40:02 web1 login[5002]: LOGIN ON pts/3 BY alice FROM 192.0.2.50",
      .rc = 1, .proto = LOGIN, .result = OK, .account = "alice", .tty = "pts/3", .ip = "192.0.2.50",
      .service = "login", .pid = 5002, .count = 1 },
    { .line = "Nov 26 10:41:00 web1 login[5003]: FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure",
      .rc = 1, .proto = LOGIN, .result = FAIL, .failure = LOGON_FAIL_AUTHENTICATION, .account = "root",
      .tty = "tty1", .service = "login", .pid = 5003, .count = 1 },
    { .line = "Nov 26 10:41:01 web1 login[5004]: FAILED LOGIN 2 FROM tty1 FOR (unknown), User not known to the underlying authentication module",
      .rc = 1, .proto = LOGIN, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER, .tty = "tty1",
      .service = "login", .pid = 5004, .count = 1 },
    { .line = "Nov 26 10:41:02 web1 login[5005]: FAILED LOGIN SESSION FROM host.example.com FOR bob, Authentication failure",
      .rc = 1, .proto = LOGIN, .result = FAIL, .failure = LOGON_FAIL_AUTHENTICATION, .account = "bob",
      .remote_host = "host.example.com", .service = "login", .pid = 5005, .count = 1 },
    { .line = "Nov 26 10:41:03 web1 login[5006]: TOO MANY LOGIN TRIES (3) FROM tty1 FOR root, Have exhausted maximum number of retries for service",
      .rc = 1, .proto = LOGIN, .result = FAIL, .failure = LOGON_FAIL_MAX_ATTEMPTS, .account = "root",
      .tty = "tty1", .service = "login", .pid = 5006, .count = 1 },
    { .line = "Nov 26 10:41:03 web1 login[5006]: DIALUP AT ttyS0 BY alice" },

    /* ---- login: shadow-utils */
    { .line = "Nov 26 10:42:00 web1 login[5007]: ROOT LOGIN  on '/dev/tty1'",
      .rc = 1, .proto = LOGIN, .result = OK, .account = "root", .tty = "tty1", .service = "login",
      .pid = 5007, .count = 1 },
    { .line = "Nov 26 10:42:01 web1 login[5008]: ROOT LOGIN  on '/dev/pts/1' from 'host.example.com'",
      .rc = 1, .proto = LOGIN, .result = OK, .account = "root", .tty = "pts/1",
      .remote_host = "host.example.com", .service = "login", .pid = 5008, .count = 1 },
    { .line = "Nov 26 10:42:02 web1 login[5009]: 'alice' logged in  on '/dev/tty3'",
      .rc = 1, .proto = LOGIN, .result = OK, .account = "alice", .tty = "tty3", .service = "login",
      .pid = 5009, .count = 1 },
    { .line = "Nov 26 10:42:03 web1 login[5010]: FAILED LOGIN (1) on '/dev/tty2' FOR 'alice', Authentication failure",
      .rc = 1, .proto = LOGIN, .result = FAIL, .failure = LOGON_FAIL_AUTHENTICATION, .account = "alice",
      .tty = "tty2", .service = "login", .pid = 5010, .count = 1 },
    { .line = "Nov 26 10:42:04 web1 login[5011]: FAILED LOGIN (2) on '/dev/tty2' FOR 'UNKNOWN', User not known to the underlying authentication module",
      .rc = 1, .proto = LOGIN, .result = FAIL, .failure = LOGON_FAIL_INVALID_USER, .tty = "tty2",
      .service = "login", .pid = 5011, .count = 1 },
    { .line = "Nov 26 10:42:05 web1 login[5012]: TOO MANY LOGIN TRIES (3) on '/dev/tty2' FOR 'alice'",
      .rc = 1, .proto = LOGIN, .result = FAIL, .failure = LOGON_FAIL_MAX_ATTEMPTS, .account = "alice",
      .tty = "tty2", .service = "login", .pid = 5012, .count = 0 },
    { .line = "Nov 26 10:42:06 web1 login[5013]: pam_unix(login:session): session opened for user alice(uid=1000) by LOGIN(uid=0)" },

    /* ---- other programs and tag-less lines */
    { .line = "Nov 26 10:45:01 web1 CRON[6000]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)" },
    { .line = "Nov 26 10:45:02 web1 systemd-logind[700]: New session 5 of user alice." },
    { .line = "Nov 26 10:45:03 web1 -- MARK --" },
    { .line = "Nov 26 10:45:04 web1 last message repeated 2 times" },
    { .line = "Nov 26 10:45:05 web1 sshd[abc]: Accepted password for root from 1.2.3.4 port 22 ssh2" },

    /* ---- malformed logon lines */
    { .line = "Nov 26 10:12:00 web1 sshd[1]: Accepted password for root from", .rc = -EBADMSG },
    { .line = "Nov 26 10:12:00 web1 sshd[1]: Accepted password for root from 999.1.1.1 port 22 ssh2", .rc = -EBADMSG },
    { .line = "Nov 26 10:12:00 web1 sshd[1]: Accepted password for root from 1.2.3.4 port 70000 ssh2", .rc = -EBADMSG },
    { .line = "Nov 26 10:12:00 web1 sshd[1]: Invalid user x from nowhere port 1", .rc = -EBADMSG },
    { .line = "Nov 26 10:30:00 web1 su[1]: FAILED SU alice", .rc = -EBADMSG },
    { .line = "Nov 26 10:41:00 web1 login[1]: FAILED LOGIN 1 FROM tty1", .rc = -EBADMSG },
    { .line = "Nov 26 10:20:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice", .rc = -EBADMSG },

    /* ---- no syslog header */
    { .line = "", .rc = -EINVAL },
    { .line = "garbage", .rc = -EINVAL },
    { .line = "sshd[1234]: Accepted password for alice from 192.0.2.10 port 52144 ssh2", .rc = -EINVAL },
    { .line = "Nov 26 10:1", .rc = -EINVAL },
    { .line = "Foo 26 10:12:00 web1 sshd[1]: x", .rc = -EINVAL },
    { .line = "Feb 30 10:12:00 web1 sshd[1]: x", .rc = -EINVAL },
    { .line = "2026-13-26T10:12:00Z web1 sshd[1]: x", .rc = -EINVAL },
    { .line = "2026-11-26T10:12:00 web1 sshd[1]: x", .rc = -EINVAL },
};

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static enum logon_type type_of(enum logon_protocol p)
{
    return p == LOGON_PROTO_SSH ? LOGON_TYPE_NETWORK
           : p == LOGON_PROTO_LOGIN ? LOGON_TYPE_INTERACTIVE
                                    : LOGON_TYPE_ELEVATION;
}

#define FIELD(name, a, b)                                                       \
    do {                                                                        \
        if (!same(a, b)) {                                                      \
            snprintf(why, len, "%s: \"%s\", want \"%s\"", name, (a) ? (a) : "(null)", \
                     (b) ? (b) : "(null)");                                     \
            return false;                                                       \
        }                                                                       \
    } while (0)

#define NUMBER(name, a, b)                                                      \
    do {                                                                        \
        if ((long long)(a) != (long long)(b)) {                                 \
            snprintf(why, len, "%s: %lld, want %lld", name, (long long)(a),     \
                     (long long)(b));                                           \
            return false;                                                       \
        }                                                                       \
    } while (0)

/* Compares every field of r with e; says which differs. */
static bool matches(const struct expect *e, const struct logon_record *r, char *why, size_t len)
{
    NUMBER("result", r->result, e->result);
    NUMBER("protocol", r->protocol, e->proto);
    NUMBER("type", r->type, type_of(e->proto));
    NUMBER("failure", r->failure, e->failure);
    FIELD("account", r->account, e->account);
    FIELD("initiating", r->initiating_account, e->initiating);
    FIELD("method", r->auth_method, e->method);
    FIELD("submethod", r->auth_submethod, e->submethod);
    FIELD("key_type", r->key_type, e->key_type);
    FIELD("key_fingerprint", r->key_fingerprint, e->key_fp);
    FIELD("remote_ip", r->remote_ip, e->ip);
    NUMBER("remote_port", r->remote_port, e->port);
    FIELD("remote_host", r->remote_host, e->remote_host);
    FIELD("command", r->command, e->command);
    FIELD("tty", r->tty, e->tty);
    FIELD("service", r->service, e->service);
    NUMBER("pid", r->pid, e->pid);
    NUMBER("count", r->count, e->count);
    FIELD("host", r->host, "web1");
    FIELD("line", r->line, e->line);
    NUMBER("line_len", r->line_len, strlen(e->line));
    if (r->time_us == 0) {
        snprintf(why, len, "no time");
        return false;
    }
    return true;
}

/* 2026-11-26 12:00:00 UTC; the tests run with TZ=UTC. */
static time_t test_now(void)
{
    struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 26, .tm_hour = 12 };
    return timegm(&tm);
}

static uint64_t utc_us(int y, int mo, int d, int h, int mi, int s, unsigned us)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = s };
    return (uint64_t)timegm(&tm) * 1000000u + us;
}

static void test_table(void)
{
    size_t n = sizeof(table) / sizeof(table[0]);
    char storage[LOGON_STORAGE_SIZE(2048)];
    size_t logons = 0, want_logons = 0;

    for (size_t i = 0; i < n; i++) {
        const struct expect *e = &table[i];
        struct logon_record r;
        char why[512];
        int rc = logon_parse_line_at(e->line, strlen(e->line), test_now(), &r, storage,
                                     sizeof(storage));
        CHECK_MSG(rc == e->rc, "line %zu \"%s\": rc %d, want %d", i, e->line, rc, e->rc);
        if (rc != 1) {
            CHECK_MSG(r.line == NULL && r.account == NULL && r.result == 0,
                      "line %zu: record not cleared on %d", i, rc);
            continue;
        }
        logons++;
        CHECK_MSG(matches(e, &r, why, sizeof(why)), "line %zu \"%s\": %s", i, e->line, why);
    }
    for (size_t i = 0; i < n; i++)
        want_logons += table[i].rc == 1;
    CHECK_INT(logons, ==, want_logons);
    CHECK_INT(logons, >=, 50);
}

/* The same line with a trailing newline (and CRLF) parses the same, and
 * the record's line does not include it. */
static void test_newline(void)
{
    const char *l = "Nov 26 10:12:00 web1 sshd[1234]: Accepted password for alice from 192.0.2.10 port 52144 ssh2\r\n";
    char storage[1024];
    struct logon_record r;

    CHECK_INT(logon_parse_line_at(l, strlen(l), test_now(), &r, storage, sizeof(storage)), ==, 1);
    CHECK_INT(r.line_len, ==, strlen(l) - 2);
    CHECK_STR(r.account, "alice");
    CHECK_INT(r.remote_port, ==, 52144);
}

static void test_rfc3339(void)
{
    static const char *const stamps[] = {
        "2026-11-26T10:12:00.123456+00:00",
        "2026-11-26T10:12:00Z",
        "2026-11-26T11:12:00.5+01:00",
        "2026-11-26T05:12:00.123456789-05:00",
        "2026-11-26T10:42:00+0030",
    };
    uint64_t want[] = {
        utc_us(2026, 11, 26, 10, 12, 0, 123456),
        utc_us(2026, 11, 26, 10, 12, 0, 0),
        utc_us(2026, 11, 26, 10, 12, 0, 500000),
        utc_us(2026, 11, 26, 10, 12, 0, 123456),
        utc_us(2026, 11, 26, 10, 12, 0, 0),
    };
    char line[256], storage[1024];
    struct logon_record r;

    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
        int n = snprintf(line, sizeof(line), "%s web1 su[1]: (to root) alice on pts/0",
                         stamps[i]);
        CHECK_INT(logon_parse_line_at(line, (size_t)n, test_now(), &r, storage, sizeof(storage)), ==, 1);
        CHECK_MSG(r.time_us == want[i], "%s: %llu, want %llu", stamps[i],
                  (unsigned long long)r.time_us, (unsigned long long)want[i]);
    }
}

/* Traditional timestamps: the year comes from "now", careful at New Year. */
static void test_syslog_year(void)
{
    static const struct {
        int now[6];          /* y mo d h mi s, UTC */
        const char *stamp;
        int want[6];
    } cases[] = {
        { { 2026, 11, 26, 12, 0, 0 }, "Nov 26 10:12:00", { 2026, 11, 26, 10, 12, 0 } },
        { { 2026, 11, 26, 12, 0, 0 }, "Nov  6 08:00:00", { 2026, 11, 6, 8, 0, 0 } },
        /* a December line read in January is last year's */
        { { 2027, 1, 1, 0, 0, 30 }, "Dec 31 23:59:58", { 2026, 12, 31, 23, 59, 58 } },
        /* a January line read by a clock still at Dec 31 is next year's */
        { { 2026, 12, 31, 23, 59, 59 }, "Jan  1 00:00:05", { 2027, 1, 1, 0, 0, 5 } },
        /* a few days ahead (clock skew) stays this year */
        { { 2026, 6, 10, 0, 0, 0 }, "Jun 12 00:00:00", { 2026, 6, 12, 0, 0, 0 } },
        /* more than a week ahead is last year's */
        { { 2026, 6, 10, 0, 0, 0 }, "Jul 12 00:00:00", { 2025, 7, 12, 0, 0, 0 } },
        /* Feb 29 goes back to a leap year */
        { { 2027, 3, 1, 0, 0, 0 }, "Feb 29 10:00:00", { 2024, 2, 29, 10, 0, 0 } },
    };
    char line[256], storage[1024];
    struct logon_record r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const int *n = cases[i].now, *w = cases[i].want;
        time_t now = (time_t)(utc_us(n[0], n[1], n[2], n[3], n[4], n[5], 0) / 1000000u);
        uint64_t want = utc_us(w[0], w[1], w[2], w[3], w[4], w[5], 0);
        int len = snprintf(line, sizeof(line), "%s web1 su[1]: (to root) alice on pts/0",
                           cases[i].stamp);
        CHECK_INT(logon_parse_line_at(line, (size_t)len, now, &r, storage, sizeof(storage)), ==, 1);
        CHECK_MSG(r.time_us == want, "\"%s\" at case %zu: %llu, want %llu", cases[i].stamp, i,
                  (unsigned long long)r.time_us, (unsigned long long)want);
    }
}

static void test_journal(void)
{
    char storage[4096];
    struct logon_record r;
    struct logon_journal_entry e;
    const char *msg = "Accepted password for alice from 192.0.2.10 port 52144 ssh2";
    const char *sudo = "    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id";
    char nul[] = "Accepted password for alice\0from 192.0.2.10 port 52144 ssh2";

    memset(&e, 0, sizeof(e));
    e.identifier = "sshd";
    e.identifier_len = 4;
    e.pid = "1234";
    e.pid_len = 4;
    e.message = msg;
    e.message_len = strlen(msg);
    e.realtime_us = 1795688520123456ull;
    CHECK_INT(logon_parse_journal(&e, &r, storage, sizeof(storage)), ==, 1);
    CHECK_INT(r.result, ==, LOGON_SUCCESS);
    CHECK_INT(r.protocol, ==, LOGON_PROTO_SSH);
    CHECK_STR(r.account, "alice");
    CHECK_STR(r.remote_ip, "192.0.2.10");
    CHECK_INT(r.remote_port, ==, 52144);
    CHECK_INT(r.pid, ==, 1234);
    CHECK_INT(r.time_us, ==, 1795688520123456ull);
    CHECK_STR(r.service, "sshd");
    CHECK(r.host == NULL);
    CHECK_STR(r.line, "sshd[1234]: Accepted password for alice from 192.0.2.10 port 52144 ssh2");
    CHECK_INT(r.line_len, ==, strlen(r.line));

    /* sudo's message keeps its padding; a pid that is no number is left out */
    e.identifier = "sudo";
    e.identifier_len = 4;
    e.pid = "x1";
    e.pid_len = 2;
    e.message = sudo;
    e.message_len = strlen(sudo);
    CHECK_INT(logon_parse_journal(&e, &r, storage, sizeof(storage)), ==, 1);
    CHECK_INT(r.protocol, ==, LOGON_PROTO_SUDO);
    CHECK_STR(r.account, "root");
    CHECK_STR(r.initiating_account, "alice");
    CHECK_STR(r.command, "/usr/bin/id");
    CHECK_INT(r.pid, ==, 0);
    CHECK(strncmp(r.line, "sudo: ", 6) == 0);

    /* another program: not ours */
    e.identifier = "CRON";
    e.identifier_len = 4;
    CHECK_INT(logon_parse_journal(&e, &r, storage, sizeof(storage)), ==, 0);
    CHECK(r.line == NULL);

    /* no message, a NUL byte, too long, too little storage */
    e.identifier = "sshd";
    e.message = NULL;
    CHECK_INT(logon_parse_journal(&e, &r, storage, sizeof(storage)), ==, -EINVAL);
    e.message = nul;
    e.message_len = sizeof(nul) - 1;
    CHECK_INT(logon_parse_journal(&e, &r, storage, sizeof(storage)), ==, -EINVAL);
    e.message = msg;
    e.message_len = LOGON_LINE_MAX + 1;
    CHECK_INT(logon_parse_journal(&e, &r, storage, sizeof(storage)), ==, -E2BIG);
    e.message_len = strlen(msg);
    CHECK_INT(logon_parse_journal(&e, &r, storage, 20), ==, -ENOBUFS);
    CHECK_INT(logon_parse_journal(NULL, &r, storage, sizeof(storage)), ==, -EINVAL);
}

/* Every line of the fixture auth.log: how many logons, of which kind. */
static void test_fixture(void)
{
    FILE *f = fopen("tests/fixtures/logon/auth.log", "r");
    char line[4096], storage[LOGON_STORAGE_SIZE(4096)];
    unsigned lines = 0, logons = 0, ok = 0, failed = 0, attempts = 0, errors = 0;
    struct logon_record r;

    CHECK_MSG(f, "cannot open tests/fixtures/logon/auth.log (run from the repository root)");
    while (fgets(line, sizeof(line), f)) {
        int rc = logon_parse_line_at(line, strlen(line), test_now(), &r, storage, sizeof(storage));
        lines++;
        if (rc < 0)
            errors++;
        if (rc != 1)
            continue;
        logons++;
        if (r.result == LOGON_SUCCESS)
            ok++;
        else
            failed++, attempts += r.count;
    }
    fclose(f);
    CHECK_INT(lines, ==, 33);
    CHECK_INT(errors, ==, 0);
    CHECK_INT(logons, ==, 15);
    CHECK_INT(ok, ==, 6);
    CHECK_INT(failed, ==, 9);
    CHECK_INT(attempts, ==, 13);
}

/* Huge, binary and cut lines: 0 or an error, never a crash. */
static void test_hostile(void)
{
    char storage[LOGON_STORAGE_SIZE(LOGON_LINE_MAX + 16)];
    struct logon_record r;
    size_t big = LOGON_LINE_MAX + 10;
    char *huge = malloc(big);
    const char *ok = "Nov 26 10:12:00 web1 sshd[1234]: Accepted password for alice from 192.0.2.10 port 52144 ssh2";
    char bin[] = "Nov 26 10:12:00 web1 sshd[1234]: Accepted password for alice\0 from 192.0.2.10 port 52144 ssh2";
    uint32_t seed = 12345;

    CHECK(huge);
    memset(huge, 'A', big);
    memcpy(huge, ok, strlen(ok));
    CHECK_INT(logon_parse_line_at(huge, big, test_now(), &r, storage, sizeof(storage)), ==, -E2BIG);
    /* just at the limit: parsed, and found malformed ("ssh2AAAA...") */
    CHECK_INT(logon_parse_line_at(huge, LOGON_LINE_MAX, test_now(), &r, storage, sizeof(storage)), ==, -EBADMSG);
    free(huge);

    CHECK_INT(logon_parse_line_at(bin, sizeof(bin) - 1, test_now(), &r, storage, sizeof(storage)), ==, -EINVAL);
    CHECK_INT(logon_parse_line_at(NULL, 10, test_now(), &r, storage, sizeof(storage)), ==, -EINVAL);
    CHECK_INT(logon_parse_line_at(ok, strlen(ok), test_now(), NULL, storage, sizeof(storage)), ==, -EINVAL);

    /* every prefix of every table line: no crash, a sane answer; the
     * buffer is exactly the prefix so ASan sees any read past it */
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        size_t n = strlen(table[i].line);
        for (size_t k = 0; k <= n; k++) {
            char *p = malloc(k ? k : 1);
            int rc;
            CHECK(p);
            memcpy(p, table[i].line, k);
            rc = logon_parse_line_at(p, k, test_now(), &r, storage, sizeof(storage));
            free(p);
            CHECK_MSG(rc == 1 || rc == 0 || rc == -EINVAL || rc == -EBADMSG,
                      "prefix %zu of line %zu: rc %d", k, i, rc);
        }
    }

    /* random byte flips of table lines */
    for (int round = 0; round < 20000; round++) {
        const char *src = table[(size_t)round % (sizeof(table) / sizeof(table[0]))].line;
        size_t n = strlen(src);
        char *p = malloc(n ? n : 1);
        int rc;
        CHECK(p);
        memcpy(p, src, n);
        for (int f = 0; f < 3 && n; f++) {
            seed = seed * 1103515245u + 12345u;
            p[(seed >> 8) % n] = (char)(seed >> 24);
        }
        rc = logon_parse_line_at(p, n, test_now(), &r, storage, sizeof(storage));
        free(p);
        CHECK_MSG(rc == 1 || rc == 0 || rc == -EINVAL || rc == -EBADMSG, "round %d: rc %d",
                  round, rc);
    }
}

/* Too little storage is -ENOBUFS, and nothing is written past it. */
static void test_storage(void)
{
    struct logon_record r;

    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const char *l = table[i].line;
        size_t n = strlen(l), need = LOGON_STORAGE_SIZE(n);
        if (table[i].rc != 1)
            continue;
        for (size_t cap = 0; cap < need; cap += 7) {
            char *st = malloc(cap ? cap : 1);
            int rc;
            CHECK(st);
            rc = logon_parse_line_at(l, n, test_now(), &r, st, cap);
            free(st);
            CHECK_MSG(rc == 1 || rc == -ENOBUFS, "line %zu, storage %zu: rc %d", i, cap, rc);
        }
        {
            char *st = malloc(need);
            CHECK(st);
            int rc = logon_parse_line_at(l, n, test_now(), &r, st, need);
            free(st);
            CHECK_MSG(rc == 1, "line %zu with LOGON_STORAGE_SIZE: rc %d", i, rc);
        }
    }
}

static void test_names(void)
{
    CHECK_STR(logon_action_name(LOGON_SUCCESS), "LogonSuccess");
    CHECK_STR(logon_action_name(LOGON_FAILED), "LogonFailed");
    CHECK_STR(logon_type_name(LOGON_TYPE_NETWORK), "Network");
    CHECK_STR(logon_type_name(LOGON_TYPE_INTERACTIVE), "Interactive");
    CHECK_STR(logon_type_name(LOGON_TYPE_ELEVATION), "Elevation");
    CHECK_STR(logon_protocol_name(LOGON_PROTO_SSH), "ssh");
    CHECK_STR(logon_protocol_name(LOGON_PROTO_SUDO), "sudo");
    CHECK_STR(logon_protocol_name(LOGON_PROTO_SU), "su");
    CHECK_STR(logon_protocol_name(LOGON_PROTO_LOGIN), "login");
    CHECK(logon_failure_name(LOGON_FAIL_NONE) == NULL);
    CHECK_STR(logon_failure_name(LOGON_FAIL_INVALID_USER), "InvalidUser");
    CHECK_STR(logon_failure_name(LOGON_FAIL_WRONG_PASSWORD), "WrongPassword");
    CHECK_STR(logon_failure_name(LOGON_FAIL_KEY_REJECTED), "KeyRejected");
    CHECK_STR(logon_failure_name(LOGON_FAIL_AUTHENTICATION), "AuthenticationFailure");
    CHECK_STR(logon_failure_name(LOGON_FAIL_NOT_IN_SUDOERS), "NotInSudoers");
    CHECK_STR(logon_failure_name(LOGON_FAIL_NOT_ALLOWED), "NotAllowed");
    CHECK_STR(logon_failure_name(LOGON_FAIL_PASSWORD_REQUIRED), "PasswordRequired");
    CHECK_STR(logon_failure_name(LOGON_FAIL_MAX_ATTEMPTS), "MaxAttemptsExceeded");
    CHECK_INT(logon_identifier_known("sshd-session", 12), ==, 1);
    CHECK_INT(logon_identifier_known("sshd-sessionx", 13), ==, 0);
    CHECK_INT(logon_identifier_known("sud", 3), ==, 0);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        { "table", test_table },
        { "newline", test_newline },
        { "rfc3339", test_rfc3339 },
        { "syslog_year", test_syslog_year },
        { "journal", test_journal },
        { "fixture", test_fixture },
        { "hostile", test_hostile },
        { "storage", test_storage },
        { "names", test_names },
        { NULL, NULL },
    };

    /* traditional timestamps are local time: make local time UTC */
    setenv("TZ", "UTC", 1);
    tzset();
    return check_main("logon", cases, argc, argv);
}
