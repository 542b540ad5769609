/*
 * test_remediate.c — persistence removal and its undo, for real, as root,
 * through the remove_persistence / restore_persistence command handlers:
 * for each kind (cron file, crontab line, systemd unit with its .wants
 * symlink, rc.local line, shell rc line, profile.d file, authorized_keys
 * line by fingerprint and by exact line, ld.so.preload line) the entry is
 * gone afterwards and the undo gives back identical files and links (bytes,
 * mode, owner, times, user xattrs, symlink targets); a second undo is
 * refused; an undo over a file changed since is refused with nothing
 * changed; hostile arguments (relative paths, "..", symlinks, /proc, the
 * wrong place for a kind, huge or missing values, unknown kinds and keys)
 * are refused with nothing changed. Last, SCENARIO.md steps 5-6 on the
 * real attack script (tests/scenarios/awsd_attack.sh): the running payload
 * is killed and quarantined, its cron file, systemd unit with the wants
 * link systemctl made, and SSH key are removed, and undoing all of it gives
 * back each file exactly as the attacker left it.
 *
 * Every case runs in a forked child inside a private mount namespace: a
 * tmpfs on a test directory, overlays over /etc, /root, /usr/lib and /var
 * whose changes land in that tmpfs, and a tmpfs over /run (so no service
 * manager is reachable and only files change); in a network namespace of
 * its own with nothing but a down loopback (the payload reaches nobody);
 * the child is a subreaper and kills what is left when the case ends. The
 * machine's files are never written.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/commands.h"
#include "agent/remediate.h"
#include "check.h"
#include "sandbox.h"

static char root[64];

#define ATTACKER_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxikjHKCwePuq1BhKuXaXa4XXPTfe9Vb5r8OZmqkUvE attacker@evil"
#define ATTACKER_FP "SHA256:6oy61/qnbXLrqFvW+eDqg1lotU8EIe7UF1lbdcvKlD8"
#define OWNER_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhZ6pQq3Qk5Xn8mXvJ0n0b8k3d2Jm4o5Q1Yk2qg0p7x owner@laptop"

/* ------------------------------------------------------------ sandbox */

/* In the sandbox: the removal backups go to <root>/state, on its tmpfs. */
static void state_in_sandbox(void)
{
    static char state[80];

    snprintf(state, sizeof(state), "%s/state", root);
    CHECK_MSG(mkdir(state, 0700) == 0, "cannot make the sandbox: %s: %s", state, strerror(errno));
    remfs_set_state_dir(state);
}

static const char *const overlaid[] = {"/etc", "/root", "/usr/lib", "/var", NULL};
static const char *const emptied[] = {"/run", NULL};

/* Every case runs in a child sandboxed as the top says (the changes under
 * the overlays land in <root>/upper). */
static const struct sandbox_options sandbox = {
    .needs = "mount namespaces, overlays, chown",
    .workdir = "rt", .dir = root, .dirlen = sizeof(root), .workdir_tmpfs = true,
    .overlays = overlaid, .tmpfs = emptied, .net = true,
    .setup = state_in_sandbox,
};

/* ------------------------------------------------------------ helpers */

static void mkdirs(const char *path)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

/* A file with given bytes, mode, owner, odd times and a user xattr. */
static int plant(const char *path, const char *text, mode_t mode, uid_t uid)
{
    struct timespec t[2] = {{1600000001, 111111111}, {1500000002, 222222222}};
    int fd;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if (chown(path, uid, uid) != 0 || chmod(path, mode) != 0)
        return -1;
    if (utimensat(AT_FDCWD, path, t, 0) != 0)
        return -1;
    if (setxattr(path, "user.yamori-test", "kept", 4, 0) != 0) /* changes no time */
        return errno == ENOTSUP ? -2 : -1;
    return 0;
}

struct snap {
    bool exists;
    struct stat st;
    char data[8192];
    ssize_t len;
    char xattr[64];
    ssize_t xlen;
};

static void take(const char *path, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    if (lstat(path, &s->st) != 0)
        return;
    s->exists = true;
    if (S_ISLNK(s->st.st_mode)) {
        s->len = readlink(path, s->data, sizeof(s->data));
        return;
    }
    {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
        s->len = fd >= 0 ? read(fd, s->data, sizeof(s->data)) : -1;
        if (fd >= 0)
            close(fd);
    }
    s->xlen = getxattr(path, "user.yamori-test", s->xattr, sizeof(s->xattr));
}

static const char *differs(const struct snap *a, const struct snap *b)
{
    if (a->exists != b->exists)
        return "existence differs";
    if (!a->exists)
        return NULL;
    if (a->len != b->len || (a->len > 0 && memcmp(a->data, b->data, (size_t)a->len) != 0))
        return "content or target differs";
    if (a->st.st_mode != b->st.st_mode)
        return "mode differs";
    if (a->st.st_uid != b->st.st_uid || a->st.st_gid != b->st.st_gid)
        return "owner differs";
    if (a->st.st_mtim.tv_sec != b->st.st_mtim.tv_sec || a->st.st_mtim.tv_nsec != b->st.st_mtim.tv_nsec)
        return "mtime differs";
    if (!S_ISLNK(a->st.st_mode) &&
        (a->st.st_atim.tv_sec != b->st.st_atim.tv_sec || a->st.st_atim.tv_nsec != b->st.st_atim.tv_nsec))
        return "atime differs";
    if (a->xlen != b->xlen || (a->xlen > 0 && memcmp(a->xattr, b->xattr, (size_t)a->xlen) != 0))
        return "xattr differs";
    return NULL;
}

/* Runs a command through the agent's table; the output or NULL with error. */
static json_t *run(const char *type, json_t *args, char *error, size_t errlen)
{
    struct command cmd = {.id = 7, .type = type, .args = args};
    struct jsonw result;
    json_t *r, *out = NULL;

    jsonw_init(&result);
    commands_execute(&cmd, &result);
    r = json_loadb(result.buf, result.len, 0, NULL);
    jsonw_free(&result);
    json_decref(args);
    error[0] = '\0';
    if (json_is_string(json_object_get(r, "error")))
        snprintf(error, errlen, "%s", json_string_value(json_object_get(r, "error")));
    if (r && strcmp(json_string_value(json_object_get(r, "status")), "succeeded") == 0)
        out = json_incref(json_object_get(r, "output"));
    json_decref(r);
    return out;
}

static json_t *remove_args(const char *kind, const char *path, const char *match)
{
    json_t *a = json_object();
    json_object_set_new(a, "kind", json_string(kind));
    if (path)
        json_object_set_new(a, "path", json_string(path));
    if (match)
        json_object_set_new(a, "match", json_string(match));
    return a;
}

static char *read_text(const char *path)
{
    static char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

/* Removes (kind, path, match), checks gone[] are gone and that the file
 * kept holds no `match` line, undoes, checks everything in watch[] is as
 * before, and that a second undo is refused. */
static void roundtrip(const char *kind, const char *path, const char *match, const char *const *watch,
                      size_t nremoved, const char *line_gone)
{
    struct snap before[8], after;
    char err[1024], id[64];
    json_t *out, *a;
    size_t nw = 0;

    for (; watch[nw]; nw++)
        take(watch[nw], &before[nw]);
    out = run("remove_persistence", remove_args(kind, path, match), err, sizeof(err));
    CHECK_MSG(out, "%s: remove_persistence: %s", kind, err);
    CHECK_MSG(json_array_size(json_object_get(out, "removed")) == nremoved, "%s: removed %zu, expected %zu", kind,
              json_array_size(json_object_get(out, "removed")), nremoved);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(out, "backup_id")));
    json_decref(out);
    if (line_gone) {
        const char *t = read_text(path);
        CHECK_MSG(t && !strstr(t, line_gone), "%s: the line is still in %s", kind, path);
    } else {
        for (size_t i = 0; i < nw; i++) {
            struct stat st;
            CHECK_MSG(lstat(watch[i], &st) != 0, "%s: %s is still there", kind, watch[i]);
        }
    }
    a = json_object();
    json_object_set_new(a, "backup_id", json_string(id));
    out = run("restore_persistence", json_incref(a), err, sizeof(err));
    if (!out)
        json_decref(a);
    CHECK_MSG(out, "%s: restore_persistence: %s", kind, err);
    CHECK(json_array_size(json_object_get(out, "restored")) == nremoved || line_gone);
    json_decref(out);
    for (size_t i = 0; i < nw; i++) {
        const char *why;
        take(watch[i], &after);
        why = differs(&before[i], &after);
        if (why)
            json_decref(a);
        CHECK_MSG(!why, "%s: %s after undo: %s", kind, watch[i], why);
    }
    out = run("restore_persistence", a, err, sizeof(err));
    CHECK_MSG(!out && strstr(err, "restored already"), "%s: a second undo: %s", kind, err);
}

/* ------------------------------------------------------------ cases */

static void body_each_kind(void)
{
    static const char *const cron_file[] = {"/etc/cron.d/yamori-test-awsd", NULL};
    static const char *const crontab[] = {"/etc/crontab", NULL};
    static const char *const unit[] = {"/etc/systemd/system/yamori-test-awsd.service",
                                       "/etc/systemd/system/multi-user.target.wants/yamori-test-awsd.service",
                                       "/etc/systemd/system/timers.target.wants/yamori-test-awsd.service", NULL};
    static const char *const rc_local[] = {"/etc/rc.local", NULL};
    static const char *const bashrc[] = {"/root/.bashrc", NULL};
    static const char *const profile_d[] = {"/etc/profile.d/yamori-test.sh", NULL};
    static const char *const keys[] = {"/root/.ssh/authorized_keys", NULL};
    static const char *const preload[] = {"/etc/ld.so.preload", NULL};
    struct timespec lt[2] = {{1400000000, 5}, {1400000000, 7}};

    int e = plant(cron_file[0], "SHELL=/bin/sh\n@reboot root /usr/lib/runtime\n", 0644, 0);

    if (e == -2)
        SKIP("tmpfs under the overlay has no user xattrs on this kernel (6.6 or later has them)");
    CHECK(e == 0);
    roundtrip("cron_file", cron_file[0], NULL, cron_file, 1, NULL);
    if (check_failed_)
        return;

    CHECK(plant(crontab[0], "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"
                            "@reboot root /usr/lib/runtime\n# end\n", 0644, 0) == 0);
    roundtrip("cron_line", crontab[0], "@reboot root /usr/lib/runtime", crontab, 1, "/usr/lib/runtime");
    if (check_failed_)
        return;

    CHECK(plant(unit[0], "[Unit]\nDescription=awsd\n[Service]\nExecStart=/usr/lib/runtime\n[Install]\n"
                         "WantedBy=multi-user.target\n", 0644, 0) == 0);
    mkdirs("/etc/systemd/system/multi-user.target.wants");
    mkdirs("/etc/systemd/system/timers.target.wants");
    CHECK(symlink(unit[0], unit[1]) == 0);
    CHECK(symlink("../yamori-test-awsd.service", unit[2]) == 0);
    CHECK(lchown(unit[2], 12, 34) == 0 && utimensat(AT_FDCWD, unit[2], lt, AT_SYMLINK_NOFOLLOW) == 0);
    roundtrip("systemd_unit", NULL, "yamori-test-awsd.service", unit, 3, NULL);
    if (check_failed_)
        return;

    CHECK(plant(rc_local[0], "#!/bin/sh -e\n/usr/lib/runtime &\nexit 0\n", 0755, 0) == 0);
    roundtrip("rc_local_line", rc_local[0], "/usr/lib/runtime &", rc_local, 1, "runtime");
    if (check_failed_)
        return;

    CHECK(plant(bashrc[0], "alias ll='ls -l'\n(/usr/lib/runtime &) 2>/dev/null\n", 0644, 0) == 0);
    roundtrip("shell_rc_line", bashrc[0], "(/usr/lib/runtime &) 2>/dev/null", bashrc, 1, "runtime");
    if (check_failed_)
        return;

    CHECK(plant(profile_d[0], "/usr/lib/runtime &\n", 0644, 0) == 0);
    roundtrip("profile_d_file", profile_d[0], NULL, profile_d, 1, NULL);
    if (check_failed_)
        return;

    CHECK(plant(keys[0], OWNER_KEY "\nfrom=\"203.0.113.10\",command=\"echo a b\" " ATTACKER_KEY "\n", 0600, 0) == 0);
    CHECK(chmod("/root/.ssh", 0700) == 0);
    roundtrip("authorized_keys_line", keys[0], ATTACKER_FP, keys, 1, "attacker@evil");
    if (check_failed_)
        return;
    CHECK(plant(keys[0], OWNER_KEY "\n" ATTACKER_KEY, 0600, 1000) == 0); /* the last line without a newline */
    roundtrip("authorized_keys_line", keys[0], ATTACKER_KEY, keys, 1, "attacker@evil");
    if (check_failed_)
        return;

    CHECK(plant(preload[0], "/usr/lib/x86_64-linux-gnu/libyamori-test-evil.so\n", 0644, 0) == 0);
    roundtrip("ld_preload_line", preload[0], "/usr/lib/x86_64-linux-gnu/libyamori-test-evil.so", preload, 1,
              "libyamori");
}

static void each_kind(void)
{
    sandbox_run(&sandbox, body_each_kind);
}

static void body_changed_since(void)
{
    const char *path = "/etc/crontab";
    const char *orig = "SHELL=/bin/sh\n@reboot root /usr/lib/runtime\n";
    char err[1024], id[64];
    json_t *out, *a;
    struct snap mid, later;
    int fd;

    CHECK(plant(path, orig, 0644, 0) != -1); /* with or without the xattr */
    out = run("remove_persistence", remove_args("cron_line", path, "@reboot root /usr/lib/runtime"), err,
              sizeof(err));
    CHECK_MSG(out, "remove: %s", err);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(out, "backup_id")));
    json_decref(out);
    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, "# an admin's edit\n", 18) == 18);
    close(fd);
    take(path, &mid);
    a = json_object();
    json_object_set_new(a, "backup_id", json_string(id));
    out = run("restore_persistence", a, err, sizeof(err));
    CHECK_MSG(!out && strstr(err, "changed since"), "undo over a changed file: %s", err);
    take(path, &later);
    CHECK_MSG(!differs(&mid, &later), "the refused undo changed the file");
}

static void changed_since(void)
{
    sandbox_run(&sandbox, body_changed_since);
}

static void body_hostile(void)
{
    char victim[128], err[1024], huge[5000];
    struct snap before[3], after;
    const char *watch[3] = {"/etc/crontab", "/etc/cron.d/yamori-test-link", NULL};
    struct {
        const char *kind, *path, *match, *says;
    } cases[] = {
        {"cron_file", "etc/cron.d/yamori-test", NULL, "absolute"},
        {"cron_line", "/etc/cron.d/../crontab", "x", "canonical"},
        {"cron_file", "/etc/passwd", NULL, "not a place"},
        {"cron_file", "/etc/cron.d/yamori-test-link", NULL, "symlink"},
        {"cron_line", "/proc/self/environ", "x", "pseudo"},
        {"cron_line", "/etc/crontab", huge, "at most"},
        {"cron_line", "/etc/crontab", "not there", "no line"},
        {"cron_line", "/etc/crontab", NULL, "needs a match"},
        {"cron_file", "/etc/crontab", NULL, "not a place"},
        {"cron_file", "/etc/cron.d/yamori-test-none", "x", "no match"},
        {"systemd_unit", NULL, "../../etc/passwd", "not a unit name"},
        {"systemd_unit", "/etc/systemd/system/a.service", "b.service", "not a unit name"},
        {"systemd_unit", NULL, "yamori-test-missing.service", "no unit file"},
        {"ld_preload_line", "/etc/ld.so.preload.d", "x", "not a place"},
        {"authorized_keys_line", "/home/../root/.ssh/authorized_keys", "x", "canonical"},
        {"rootkit", "/etc/crontab", "x", "unknown kind"},
    };

    memset(huge, 'a', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    snprintf(victim, sizeof(victim), "%s/victim", root);
    CHECK(plant(victim, "do not touch\n", 0644, 0) != -1);
    CHECK(plant("/etc/crontab", "SHELL=/bin/sh\n@reboot root /usr/lib/runtime\n", 0644, 0) != -1);
    mkdirs("/etc/cron.d");
    CHECK(symlink(victim, "/etc/cron.d/yamori-test-link") == 0);
    take(victim, &before[2]);
    for (size_t i = 0; watch[i]; i++)
        take(watch[i], &before[i]);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = run("remove_persistence", remove_args(cases[i].kind, cases[i].path, cases[i].match), err,
                          sizeof(err));
        if (out)
            json_decref(out);
        CHECK_MSG(!out, "case %zu (%s %s) was accepted", i, cases[i].kind, cases[i].path ? cases[i].path : "-");
        CHECK_MSG(strstr(err, cases[i].says), "case %zu: the error does not say '%s': %s", i, cases[i].says, err);
    }
    {
        json_t *a = remove_args("cron_line", "/etc/crontab", "x"), *out;
        json_object_set_new(a, "force", json_true());
        out = run("remove_persistence", a, err, sizeof(err));
        CHECK_MSG(!out && strstr(err, "unknown argument"), "unknown key: %s", err);
        a = json_object();
        json_object_set_new(a, "backup_id", json_string("../../../etc/passwd"));
        out = run("restore_persistence", a, err, sizeof(err));
        CHECK_MSG(!out && strstr(err, "hex"), "hostile id: %s", err);
        a = json_object();
        json_object_set_new(a, "backup_id", json_string("0123456789abcdef0123456789abcdef"));
        out = run("restore_persistence", a, err, sizeof(err));
        CHECK_MSG(!out && strstr(err, "no backup"), "unknown id: %s", err);
    }
    for (size_t i = 0; watch[i]; i++) {
        const char *why;
        take(watch[i], &after);
        why = differs(&before[i], &after);
        CHECK_MSG(!why, "%s changed: %s", watch[i], why);
    }
    take(victim, &after);
    CHECK_MSG(!differs(&before[2], &after), "the symlink's target changed");
}

static void hostile(void)
{
    sandbox_run(&sandbox, body_hostile);
}

/* SCENARIO.md steps 5-6 on the real attack script: the payload running
 * from /usr/lib/runtime is killed and quarantined, the cron file, the
 * systemd unit (and its wants link when systemctl made one) and the SSH
 * key are removed; then every action is undone and each file is back
 * exactly as the attacker left it. */
static void body_scenario(void)
{
    static const char *const watch[] = {"/usr/lib/runtime", "/etc/cron.d/awsd", "/etc/systemd/system/awsd.service",
                                        "/etc/systemd/system/multi-user.target.wants/awsd.service",
                                        "/root/.ssh/authorized_keys", NULL};
    const char *key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyForTheScenarioOnly0000000000000 awsd@c2";
    char self[PATH_MAX], payload[PATH_MAX + 32], script[PATH_MAX], err[1024], qid[64], bids[3][64];
    struct snap before[8], after;
    struct stat pst;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    pid_t pid, running = 0;
    json_t *out, *a;
    int status;

    CHECK(n > 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0'; /* BUILD/san/tests/agent */
    snprintf(payload, sizeof(payload), "%s/../../helpers/runtime_payload", self);
    if (access(payload, X_OK) != 0)
        SKIP("the scenario payload %s is not built (make tests)", payload);
    if (!realpath("tests/scenarios/awsd_attack.sh", script))
        SKIP("run from the repository's top directory: tests/scenarios/awsd_attack.sh not found");

    /* the attack, by the real script, as root, in the sandbox */
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl("/bin/bash", "bash", script, payload, "203.0.113.10", "4444", (char *)NULL);
        _exit(127);
    }
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(stat("/usr/lib/runtime", &pst) == 0);
    for (int i = 0; i < 2000 && !running; i++) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        while (d && (de = readdir(d)) && !running) {
            char exe[300];
            struct stat st;
            snprintf(exe, sizeof(exe), "/proc/%s/exe", de->d_name);
            if (stat(exe, &st) == 0 && st.st_ino == pst.st_ino && st.st_dev == pst.st_dev)
                running = atoi(de->d_name);
        }
        if (d)
            closedir(d);
        if (!running)
            usleep(5000);
    }
    CHECK_MSG(running > 0, "the payload did not start");
    for (size_t i = 0; watch[i]; i++)
        take(watch[i], &before[i]);

    /* remediate */
    a = json_object();
    json_object_set_new(a, "path", json_string("/usr/lib/runtime"));
    out = run("quarantine_file", a, err, sizeof(err));
    CHECK_MSG(out, "quarantine_file: %s", err);
    snprintf(qid, sizeof(qid), "%s", json_string_value(json_object_get(out, "quarantine_id")));
    {
        bool listed = false;
        for (size_t i = 0; i < json_array_size(json_object_get(out, "killed")); i++)
            listed |= json_integer_value(json_array_get(json_object_get(out, "killed"), i)) == running;
        json_decref(out);
        CHECK_MSG(listed, "the payload %d is not in killed", (int)running);
    }
    CHECK(kill(running, 0) != 0 || waitpid(running, &status, WNOHANG) == running);
    out = run("remove_persistence", remove_args("cron_file", "/etc/cron.d/awsd", NULL), err, sizeof(err));
    CHECK_MSG(out, "cron_file: %s", err);
    snprintf(bids[0], sizeof(bids[0]), "%s", json_string_value(json_object_get(out, "backup_id")));
    json_decref(out);
    out = run("remove_persistence", remove_args("systemd_unit", NULL, "awsd.service"), err, sizeof(err));
    CHECK_MSG(out, "systemd_unit: %s", err);
    snprintf(bids[1], sizeof(bids[1]), "%s", json_string_value(json_object_get(out, "backup_id")));
    json_decref(out);
    out = run("remove_persistence", remove_args("authorized_keys_line", "/root/.ssh/authorized_keys", key), err,
              sizeof(err));
    CHECK_MSG(out, "authorized_keys_line: %s", err);
    snprintf(bids[2], sizeof(bids[2]), "%s", json_string_value(json_object_get(out, "backup_id")));
    json_decref(out);
    for (size_t i = 0; watch[i]; i++) {
        struct stat st;
        if (i == 4) {
            const char *t = read_text(watch[i]);
            CHECK_MSG(t && !strstr(t, "awsd@c2"), "the key is still there");
        } else {
            CHECK_MSG(lstat(watch[i], &st) != 0, "%s is still there", watch[i]);
        }
    }

    /* undo everything */
    a = json_object();
    json_object_set_new(a, "quarantine_id", json_string(qid));
    out = run("restore_file", a, err, sizeof(err));
    CHECK_MSG(out, "restore_file: %s", err);
    json_decref(out);
    for (int i = 0; i < 3; i++) {
        a = json_object();
        json_object_set_new(a, "backup_id", json_string(bids[i]));
        out = run("restore_persistence", a, err, sizeof(err));
        CHECK_MSG(out, "restore_persistence %d: %s", i, err);
        json_decref(out);
    }
    for (size_t i = 0; watch[i]; i++) {
        const char *why;
        take(watch[i], &after);
        why = differs(&before[i], &after);
        CHECK_MSG(!why, "%s after undo: %s", watch[i], why);
    }
}

static void scenario(void)
{
    sandbox_run(&sandbox, body_scenario);
}

static void fingerprints(void)
{
    char fp[64];
    CHECK(remediate_key_fingerprint(ATTACKER_KEY, strlen(ATTACKER_KEY), fp, sizeof(fp)) == 0);
    CHECK_STR(fp, ATTACKER_FP);
    {
        const char *opt = "command=\"echo \\\"x y\\\"\",no-pty " ATTACKER_KEY;
        CHECK(remediate_key_fingerprint(opt, strlen(opt), fp, sizeof(fp)) == 0);
        CHECK_STR(fp, ATTACKER_FP);
    }
    CHECK(remediate_key_fingerprint("# a comment", 11, fp, sizeof(fp)) == -EINVAL);
    CHECK(remediate_key_fingerprint("ssh-ed25519 !!!!", 16, fp, sizeof(fp)) == -EINVAL);
}

/* remove_persistence by an autostart entry id (what live response's
 * `remediate scheduledtask awsd` sends): the entry is looked up again on
 * the machine, exactly it goes, the output names it, and the undo gives the
 * file back; a scheduled-task removal of an entry that is not one, and an
 * unknown id, change nothing. */
static void body_by_entry(void)
{
    static const char *const watch[] = {"/etc/cron.d/yamori-entry-awsd", NULL};
    struct snap before, after, preload_before, preload_after;
    char err[1024], id[64];
    json_t *out, *a, *entry;
    const char *why;

    CHECK(plant("/etc/cron.d/yamori-entry-awsd", "@reboot root /usr/lib/runtime\n", 0644, 0) == 0);
    CHECK(plant("/etc/ld.so.preload", "/usr/lib/yamori-entry-hook.so\n", 0644, 0) == 0);
    take(watch[0], &before);
    take("/etc/ld.so.preload", &preload_before);

    out = run("remove_persistence", json_pack("{s:s,s:b}", "entry", "ld.so.preload:1", "scheduled", 1), err,
              sizeof(err));
    CHECK_MSG(!out && strstr(err, "not a scheduled task"), "a preload line as a scheduled task: %s", err);
    out = run("remove_persistence", json_pack("{s:s}", "entry", "yamori-no-such-entry"), err, sizeof(err));
    CHECK_MSG(!out && strstr(err, "no autostart entry"), "an unknown id: %s", err);
    out = run("remove_persistence", json_pack("{s:s,s:s}", "entry", "x", "kind", "cron_file"), err, sizeof(err));
    CHECK_MSG(!out, "an entry with a kind was accepted");
    take("/etc/ld.so.preload", &preload_after);
    CHECK_MSG(!differs(&preload_before, &preload_after), "a refused removal changed /etc/ld.so.preload");

    out = run("remove_persistence", json_pack("{s:s,s:b}", "entry", "yamori-entry-awsd", "scheduled", 1), err,
              sizeof(err));
    CHECK_MSG(out, "remove by entry: %s", err);
    entry = json_object_get(out, "entry");
    CHECK_STR(json_string_value(json_object_get(entry, "category")), "cron");
    CHECK_STR(json_string_value(json_object_get(entry, "source")), "/etc/cron.d/yamori-entry-awsd");
    CHECK_STR(json_string_value(json_object_get(entry, "kind")), "cron_file");
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(out, "backup_id")));
    json_decref(out);
    take(watch[0], &after);
    CHECK_MSG(!after.exists, "the cron file is still there");
    a = json_pack("{s:s}", "backup_id", id);
    out = run("restore_persistence", a, err, sizeof(err));
    CHECK_MSG(out, "undo: %s", err);
    json_decref(out);
    take(watch[0], &after);
    why = differs(&before, &after);
    CHECK_MSG(!why, "after undo: %s", why);
}

static void by_entry(void)
{
    sandbox_run(&sandbox, body_by_entry);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"key_fingerprints", fingerprints},
        {"each_kind_removed_and_undone_exactly", each_kind},
        {"undo_refused_over_a_changed_file", changed_since},
        {"hostile_arguments_change_nothing", hostile},
        {"scenario_attack_remediated_and_undone", scenario},
        {"removed_by_entry_id_and_undone", by_entry},
        {NULL, NULL},
    };
    return check_main("agent/remediate", cases, argc, argv);
}
