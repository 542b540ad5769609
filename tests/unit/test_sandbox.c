/*
 * test_sandbox.c — the test sandbox (tests/lib/sandbox.h) that the tests
 * changing the machine rely on, as root:
 *
 *   - a body's verdict becomes the case's: its failure with its own
 *     file:line and message, its skip, its pass; a body that dies without
 *     a verdict fails the case; a failed setup keeps the body from
 *     running, and the cleanup runs either way;
 *   - what the body writes under a tmpfs, an overlay or the work directory
 *     bound over a directory never reaches the machine: the originals are
 *     untouched afterwards, an overlay's changes land in <dir>/upper, and
 *     the work directory is gone with dir "" again;
 *   - a network namespace of its own has loopback only, up when asked;
 *   - what the body left running, a grandchild included that becomes
 *     the sandbox's only when its parent is killed, is dead when
 *     sandbox_run returns.
 *
 * A broken sandbox would let every sandboxed test pass without running or
 * write to the machine: these cases are what says it does neither.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "check.h"
#include "sandbox.h"

#define TMPFS_MAGIC 0x01021994

static char tree[64];       /* this case's directory on the machine's /tmp */
static char workdir[64];    /* the sandbox's work directory, while the body runs */
static char workname[64];   /* "sbx-<pid>": names the work directory */

/* ------------------------------------------------------------ helpers */

/* Removes this case's directory (check_set_teardown). */
static void teardown(void)
{
    char cmd[128];

    if (tree[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
        (void)!system(cmd);
    }
    tree[0] = '\0';
}

/* Makes this case's directory and the work directory's name. */
static bool make_tree(void)
{
    snprintf(workname, sizeof(workname), "sbx-%d", (int)getpid());
    snprintf(tree, sizeof(tree), "/tmp/yamori-sbxtest.XXXXXX");
    if (mkdtemp(tree))
        return true;
    tree[0] = '\0';
    return false;
}

/* Writes text to tree/rel (tree/rel when rel is relative, else rel). */
static bool put(const char *rel, const char *text)
{
    char path[PATH_MAX];
    FILE *f;
    bool ok;

    snprintf(path, sizeof(path), rel[0] == '/' ? "%s%s" : "%s/%s", rel[0] == '/' ? "" : tree, rel);
    if (!(f = fopen(path, "w")))
        return false;
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* The content of tree/rel (or rel when absolute); "" when it cannot be
 * read. Returns a static buffer. */
static const char *get(const char *rel)
{
    static char buf[256];
    char path[PATH_MAX];
    FILE *f;
    size_t n = 0;

    snprintf(path, sizeof(path), rel[0] == '/' ? "%s%s" : "%s/%s", rel[0] == '/' ? "" : tree, rel);
    if ((f = fopen(path, "r"))) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

static bool exists(const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", tree, rel);
    return access(path, F_OK) == 0;
}

static bool remove_rel(const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", tree, rel);
    return unlink(path) == 0;
}

static bool sub(const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", tree, rel);
    return mkdir(path, 0755) == 0;
}

/* Whether a work directory of this process is still on the machine. */
static bool workdir_left(void)
{
    char pattern[128];
    glob_t g;
    bool left;

    snprintf(pattern, sizeof(pattern), "/tmp/yamori-%s.*", workname);
    left = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    return left;
}

/* What sandbox_run made of the calling case, taken out of it. */
struct verdict {
    bool failed, skipped;
    char msg[sizeof(check_message_)];
};

static struct verdict run(const struct sandbox_options *opt, void (*body)(void))
{
    struct verdict v;

    sandbox_run(opt, body);
    v.failed = check_failed_;
    v.skipped = check_skipped_;
    snprintf(v.msg, sizeof(v.msg), "%s", check_message_);
    check_failed_ = check_skipped_ = false;
    check_message_[0] = '\0';
    return v;
}

/* ------------------------------------------------------------ verdicts */

static void body_passes(void)
{
    CHECK(put("ran", "yes"));
}

static void body_fails(void)
{
    CHECK_MSG(1 + 1 == 3, "a planted failure, number %d", 7);
}

static void body_skips(void)
{
    SKIP("a planted skip");
}

static void body_dies(void)
{
    _exit(3);
}

static void setup_fails(void)
{
    CHECK_MSG(false, "a planted set-up failure");
}

static void cleanup_marks(void)
{
    put("cleaned", "yes");
}

static void verdicts_come_back(void)
{
    struct sandbox_options opt = {.cleanup = cleanup_marks};
    struct verdict v;

    if (!check_is_root())
        SKIP("needs root (namespaces)");
    CHECK(make_tree());
    v = run(&opt, body_passes);
    CHECK_MSG(!v.failed && !v.skipped, "a passing body: %s", v.msg);
    CHECK_STR(get("ran"), "yes");
    CHECK_STR(get("cleaned"), "yes");

    CHECK(remove_rel("cleaned"));
    v = run(&opt, body_fails);
    CHECK_MSG(v.failed, "a failing body passed the case");
    CHECK_MSG(strstr(v.msg, "test_sandbox.c:") && strstr(v.msg, "a planted failure, number 7"), "message: %s", v.msg);
    CHECK_MSG(strncmp(v.msg, "tests/unit/test_sandbox.c:", 26) == 0, "not the body's own place: %s", v.msg);
    CHECK_STR(get("cleaned"), "yes");

    v = run(&opt, body_skips);
    CHECK_MSG(v.skipped && !v.failed, "a skipping body: failed %d, skipped %d", v.failed, v.skipped);
    CHECK_STR(v.msg, "a planted skip");

    v = run(&opt, body_dies);
    CHECK_MSG(v.failed && strstr(v.msg, "died"), "a body that died: failed %d: %s", v.failed, v.msg);

    CHECK(remove_rel("ran") && remove_rel("cleaned"));
    opt.setup = setup_fails;
    v = run(&opt, body_passes);
    CHECK_MSG(v.failed && strstr(v.msg, "a planted set-up failure"), "a failed setup: %s", v.msg);
    CHECK_MSG(!exists("ran"), "the body ran after its setup failed");
    CHECK_MSG(exists("cleaned"), "no cleanup after a failed setup");
}

/* ------------------------------------------------------------ mounts */

static char over[128], lower[128], target[128];

static void body_writes_everywhere(void)
{
    char path[PATH_MAX];
    struct statfs fs;

    /* a tmpfs over a directory: empty, of type tmpfs, written */
    CHECK_MSG(!exists("over/orig"), "the tmpfs does not hide what was there");
    CHECK(statfs(over, &fs) == 0 && fs.f_type == TMPFS_MAGIC);
    CHECK(put("over/new", "from the sandbox"));
    /* an overlay: the original readable, changed and added to */
    CHECK_STR(get("lower/f"), "the original");
    CHECK(put("lower/f", "changed in the sandbox"));
    CHECK(put("lower/g", "added in the sandbox"));
    snprintf(path, sizeof(path), "%s/upper%s/f", workdir, lower);
    CHECK_STR(get(path), "changed in the sandbox");
    /* the work directory: a tmpfs */
    CHECK(strncmp(workdir, "/tmp/yamori-sbx-", 16) == 0);
    CHECK(statfs(workdir, &fs) == 0 && fs.f_type == TMPFS_MAGIC);
}

static void mounts_stay_inside(void)
{
    const char *const tmpfs[] = {over, NULL}, *const overlays[] = {lower, NULL};
    struct sandbox_options opt = {.workdir = workname, .dir = workdir, .dirlen = sizeof(workdir),
                                  .workdir_tmpfs = true, .overlays = overlays, .tmpfs = tmpfs};
    struct verdict v;

    if (!check_is_root())
        SKIP("needs root (namespaces)");
    CHECK(make_tree());
    CHECK(sub("over") && put("over/orig", "the machine's") && sub("lower") && put("lower/f", "the original"));
    snprintf(over, sizeof(over), "%s/over", tree);
    snprintf(lower, sizeof(lower), "%s/lower", tree);
    v = run(&opt, body_writes_everywhere);
    CHECK_MSG(!v.failed && !v.skipped, "%s", v.msg);
    CHECK_STR(get("over/orig"), "the machine's");
    CHECK_MSG(!exists("over/new"), "a file written under the tmpfs reached the machine");
    CHECK_STR(get("lower/f"), "the original");
    CHECK_MSG(!exists("lower/g"), "a file written under the overlay reached the machine");
    CHECK_MSG(!workdir[0], "dir is \"%s\" after the work directory went", workdir);
    CHECK_MSG(!workdir_left(), "the work directory is left");
}

static void body_writes_bound(void)
{
    char path[PATH_MAX];

    CHECK_MSG(!exists("target/orig"), "the work directory is not bound over the target");
    CHECK(put("target/new", "in the work directory"));
    snprintf(path, sizeof(path), "%s/new", workdir);
    CHECK_STR(get(path), "in the work directory");
}

static void workdir_bound_over(void)
{
    struct sandbox_options opt = {.workdir = workname, .dir = workdir, .dirlen = sizeof(workdir),
                                  .workdir_over = target};
    struct verdict v;

    if (!check_is_root())
        SKIP("needs root (namespaces)");
    CHECK(make_tree());
    CHECK(sub("target") && put("target/orig", "the machine's"));
    snprintf(target, sizeof(target), "%s/target", tree);
    v = run(&opt, body_writes_bound);
    CHECK_MSG(!v.failed && !v.skipped, "%s", v.msg);
    CHECK_STR(get("target/orig"), "the machine's");
    CHECK_MSG(!exists("target/new"), "a file written to the bound work directory reached the target");
    CHECK_MSG(!workdir_left(), "the work directory is left");
}

/* ------------------------------------------------------------ network */

static struct stat machine_net;
static bool want_up;

static void body_network(void)
{
    struct stat st;
    struct if_nameindex *ifs;
    struct ifreq ifr = {.ifr_name = "lo"};
    int s, n = 0;
    bool lo = false;

    CHECK(stat("/proc/self/ns/net", &st) == 0);
    CHECK_MSG(st.st_ino != machine_net.st_ino, "the body runs in the machine's network namespace");
    CHECK((ifs = if_nameindex()) != NULL);
    for (struct if_nameindex *i = ifs; i->if_index; i++, n++)
        lo = lo || strcmp(i->if_name, "lo") == 0;
    if_freenameindex(ifs);
    CHECK_MSG(lo && n == 1, "%d interfaces", n);
    CHECK((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0);
    CHECK(ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
    close(s);
    CHECK_MSG(!!(ifr.ifr_flags & IFF_UP) == want_up, "loopback %s", ifr.ifr_flags & IFF_UP ? "up" : "down");
}

static void network_of_its_own(void)
{
    struct sandbox_options opt = {.net = true};
    struct verdict v;

    if (!check_is_root())
        SKIP("needs root (namespaces)");
    CHECK(stat("/proc/self/ns/net", &machine_net) == 0);
    want_up = false;
    v = run(&opt, body_network);
    CHECK_MSG(!v.failed && !v.skipped, "loopback down: %s", v.msg);
    opt.loopback_up = want_up = true;
    v = run(&opt, body_network);
    CHECK_MSG(!v.failed && !v.skipped, "loopback up: %s", v.msg);
}

/* ------------------------------------------------------------ leftovers */

/* Leaves three processes behind: a child that would sleep for an hour,
 * a child that waits forever and its own child, sleeping too — a
 * grandchild that becomes the sandbox's only once its parent is killed.
 * Their pids go to tree/pids. */
static void body_leaves_processes(void)
{
    char text[64];
    int p[2];
    pid_t child, parent, grandchild = 0;

    CHECK(pipe(p) == 0);
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        execlp("sleep", "sleep", "3600", (char *)NULL);
        _exit(127);
    }
    parent = fork();
    CHECK(parent >= 0);
    if (parent == 0) {
        pid_t g = fork();
        if (g == 0) {
            execlp("sleep", "sleep", "3600", (char *)NULL);
            _exit(127);
        }
        (void)!write(p[1], &g, sizeof(g));
        for (;;)
            pause();
    }
    close(p[1]);
    CHECK(read(p[0], &grandchild, sizeof(grandchild)) == sizeof(grandchild) && grandchild > 0);
    close(p[0]);
    snprintf(text, sizeof(text), "%d %d %d", (int)child, (int)parent, (int)grandchild);
    CHECK(put("pids", text));
}

static void leftovers_killed(void)
{
    struct sandbox_options opt = {0};
    struct verdict v;
    int pid[3] = {0};

    if (!check_is_root())
        SKIP("needs root (namespaces)");
    CHECK(make_tree());
    v = run(&opt, body_leaves_processes);
    CHECK_MSG(!v.failed && !v.skipped, "%s", v.msg);
    CHECK(sscanf(get("pids"), "%d %d %d", &pid[0], &pid[1], &pid[2]) == 3);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(pid[i] > 0 && kill(pid[i], 0) != 0 && errno == ESRCH, "%s %d still runs",
                  (const char *[]){"the child", "the grandchild's parent", "the grandchild"}[i], pid[i]);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"verdicts_come_back", verdicts_come_back},
        {"mounts_stay_inside", mounts_stay_inside},
        {"workdir_bound_over", workdir_bound_over},
        {"network_of_its_own", network_of_its_own},
        {"leftovers_killed", leftovers_killed},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("unit/sandbox", cases, argc, argv);
}
