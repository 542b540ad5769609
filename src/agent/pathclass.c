/*
 * pathclass.c — see pathclass.h. The table is documented, with the reason
 * for each entry, in docs/events.md ("File filter").
 */
#include "agent/pathclass.h"

#include <stdbool.h>
#include <string.h>

#include "sensor_abi.h"

#define P YS_CLASS_PERSIST
#define S YS_CLASS_SECCONF
#define T YS_CLASS_TEMP
#define B YS_CLASS_SYSBIN
#define L YS_CLASS_LOG
#define A YS_CLASS_AGENT

const struct pathclass_entry pathclass_table[] = {
    /* persistence */
    {"/etc/cron", P, "persistence:cron"},            /* crontab, cron.d, cron.daily, ... */
    {"/etc/anacrontab", P, "persistence:cron"},
    {"/var/spool/cron/", P, "persistence:cron"},     /* user crontabs, atjobs */
    {"/var/spool/at/", P, "persistence:at"},
    {"/etc/systemd/", P, "persistence:systemd"},
    {"/lib/systemd/system/", P, "persistence:systemd"},
    {"/usr/lib/systemd/system/", P, "persistence:systemd"},
    {"/lib/systemd/user/", P, "persistence:systemd"},
    {"/usr/lib/systemd/user/", P, "persistence:systemd"},
    {"/run/systemd/system/", P, "persistence:systemd"},
    {"/run/systemd/transient/", P, "persistence:systemd"},
    {"/etc/rc.local", P, "persistence:rc"},
    {"/etc/rc", P, "persistence:init"},              /* rc0.d .. rc6.d, rcS.d */
    {"/etc/init.d/", P, "persistence:init"},
    {"/etc/init/", P, "persistence:init"},
    {"/etc/profile", P, "persistence:shell"},        /* profile, profile.d/ */
    {"/etc/bash.bashrc", P, "persistence:shell"},
    {"/etc/bash.bash_logout", P, "persistence:shell"},
    {"/etc/zsh/", P, "persistence:shell"},
    {"/etc/environment", P, "persistence:shell"},
    {"/etc/xdg/autostart/", P, "persistence:autostart"},
    {"/etc/udev/rules.d/", P, "persistence:udev"},
    {"/lib/udev/rules.d/", P, "persistence:udev"},
    {"/usr/lib/udev/rules.d/", P, "persistence:udev"},
    {"/etc/modules", P, "persistence:module"},       /* modules, modules-load.d/ */
    {"/etc/modprobe.d/", P, "persistence:module"},
    {"/etc/update-motd.d/", P, "persistence:motd"},
    {"/etc/apt/apt.conf.d/", P, "persistence:package-hook"},
    /* security configuration */
    {"/etc/ld.so.preload", S, "security:ld-preload"},
    {"/etc/ld.so.conf", S, "security:ld-config"},
    {"/etc/sudoers", S, "security:sudoers"},         /* sudoers, sudoers.d/ */
    {"/etc/pam.d/", S, "security:pam"},
    {"/etc/pam.conf", S, "security:pam"},
    {"/etc/security/", S, "security:pam"},
    {"/etc/ssh/", S, "security:ssh"},
    {"/etc/passwd", S, "security:accounts"},
    {"/etc/shadow", S, "security:accounts"},
    {"/etc/group", S, "security:accounts"},
    {"/etc/gshadow", S, "security:accounts"},
    {"/etc/selinux/", S, "security:selinux"},
    {"/etc/apparmor", S, "security:apparmor"},       /* apparmor/, apparmor.d/ */
    {"/etc/audit/", S, "security:audit"},
    {"/etc/nftables.conf", S, "security:firewall"},
    {"/etc/iptables/", S, "security:firewall"},
    {"/etc/ufw/", S, "security:firewall"},
    {"/etc/firewalld/", S, "security:firewall"},
    {"/etc/hosts", S, "security:hosts"},
    /* the agent's own files */
    {"/etc/yamori/", A, "agent:config"},
    {"/var/lib/yamori/", A, "agent:state"},
    {"/usr/sbin/yamori-agent", A, "agent:binary"},
    {"/usr/local/sbin/yamori-agent", A, "agent:binary"},
    /* temp and shared memory */
    {"/tmp/", T, "temp"},
    {"/var/tmp/", T, "temp"},
    {"/dev/shm/", T, "temp"},
    {"/run/shm/", T, "temp"},
    /* system binaries and libraries: creations are kept */
    {"/usr/bin/", B, NULL},
    {"/usr/sbin/", B, NULL},
    {"/usr/lib/", B, NULL},
    {"/usr/lib64/", B, NULL},
    {"/usr/libexec/", B, NULL},
    {"/usr/local/", B, NULL},
    {"/bin/", B, NULL},
    {"/sbin/", B, NULL},
    {"/lib/", B, NULL},
    {"/lib64/", B, NULL},
    {"/opt/", B, NULL},
    {"/boot/", B, NULL},
    /* logs: truncation and deletion are evidence of tampering */
    {"/var/log/", L, "log"},
    {NULL, 0, NULL},
};

/* Per-user locations, matched on the end of the path. */
static const struct {
    const char *suffix;      /* matched at the end, after a '/' */
    const char *contains;    /* or a component sequence anywhere */
    uint32_t bits;
    const char *tag;
} user_patterns[] = {
    {"/.ssh/authorized_keys", NULL, P, "persistence:ssh-key"},
    {"/.ssh/authorized_keys2", NULL, P, "persistence:ssh-key"},
    {"/.bashrc", NULL, P, "persistence:shell-rc"},
    {"/.bash_profile", NULL, P, "persistence:shell-rc"},
    {"/.bash_login", NULL, P, "persistence:shell-rc"},
    {"/.bash_logout", NULL, P, "persistence:shell-rc"},
    {"/.profile", NULL, P, "persistence:shell-rc"},
    {"/.zshrc", NULL, P, "persistence:shell-rc"},
    {"/.zprofile", NULL, P, "persistence:shell-rc"},
    {"/.bash_history", NULL, 0, "history"},
    {"/.zsh_history", NULL, 0, "history"},
    {NULL, "/.config/autostart/", P, "persistence:autostart"},
    {NULL, "/.config/systemd/user/", P, "persistence:systemd"},
    {NULL, "/.ssh/", 0, "ssh"},
};

static bool ends_with(const char *s, size_t slen, const char *suffix)
{
    size_t n = strlen(suffix);
    return slen >= n && memcmp(s + slen - n, suffix, n) == 0;
}

struct pathclass_result pathclass_lookup(const char *path)
{
    struct pathclass_result r = {0, NULL};
    size_t best = 0, plen = strlen(path);

    for (const struct pathclass_entry *e = pathclass_table; e->prefix; e++) {
        size_t n = strlen(e->prefix);
        if (n > best && n <= plen && memcmp(path, e->prefix, n) == 0) {
            best = n;
            r.bits = e->bits;
            r.tag = e->tag;
        }
    }
    for (size_t i = 0; i < sizeof(user_patterns) / sizeof(user_patterns[0]); i++) {
        bool hit = user_patterns[i].suffix ? ends_with(path, plen, user_patterns[i].suffix)
                                           : strstr(path, user_patterns[i].contains) != NULL;
        if (hit) {
            r.bits |= user_patterns[i].bits;
            r.tag = user_patterns[i].tag;
            break;
        }
    }
    return r;
}

void pathclass_normalize(char *path)
{
    char *out = path, *in = path;

    if (*in != '/')
        return;
    while (*in) {
        while (*in == '/')
            in++;
        if (!*in)
            break;
        char *seg = in;
        while (*in && *in != '/')
            in++;
        size_t len = (size_t)(in - seg);
        if (len == 1 && seg[0] == '.')
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > path && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, len);
        out += len;
    }
    if (out == path)
        *out++ = '/';
    *out = '\0';
}
