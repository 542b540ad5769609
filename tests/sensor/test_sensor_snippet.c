/*
 * test_sensor_snippet.c — FileContentSnippet from the real agent on the
 * real kernel: what a shell writes into a cron-like path reaches the event
 * whole, however the writer writes it (at once, in parts with a pause, a
 * file larger than the snippet, a writer that keeps running afterwards).
 *
 * Every write happens in a private mount namespace with a tmpfs over /etc,
 * held open by a process that waits until the test is done: nothing on the
 * machine changes, and the agent (in the machine's namespace) must read the
 * file through the writer's — or its parent's — root.
 *
 * Needs root; every case skips with the reason otherwise.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentproc.h"
#include "check.h"

#define WAIT_MS 30000

static char err[4096];
static pid_t holder = -1;
static int release_fd = -1;

#define NEED_ROOT()                                                                          \
    do {                                                                                     \
        if (!check_is_root())                                                                \
            SKIP("needs root to load the sensor (running as uid %d)", (int)geteuid());       \
    } while (0)

static void release_holder(void)
{
    int st;
    if (release_fd >= 0) {
        close(release_fd); /* the holder's read returns: it exits, its namespace goes */
        release_fd = -1;
    }
    if (holder > 0) {
        waitpid(holder, &st, 0);
        holder = -1;
    }
}

static void teardown(void)
{
    release_holder();
    agentproc_stop_all();
}

/* Runs /bin/sh -c script in a new private mount namespace with a tmpfs
 * over /etc (with /etc/cron.d and /etc/sudoers.d in it); the namespace
 * stays until release_holder(). Returns the script's exit status, or -1. */
static int run_sandboxed(const char *script)
{
    int ready[2], hold[2], status = -1;
    char st;

    if (pipe(ready) != 0 || pipe(hold) != 0)
        return -1;
    holder = fork();
    if (holder == 0) {
        pid_t w;
        int ws;
        close(ready[0]);
        close(hold[1]);
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
            _exit(10);
        if (mount("tmpfs", "/etc", "tmpfs", 0, "size=4m") != 0)
            _exit(11);
        if (mkdir("/etc/cron.d", 0755) != 0 || mkdir("/etc/sudoers.d", 0750) != 0)
            _exit(12);
        w = fork();
        if (w == 0) {
            execl("/bin/sh", "sh", "-c", script, (char *)NULL);
            _exit(127);
        }
        if (w < 0 || waitpid(w, &ws, 0) != w)
            _exit(13);
        st = WIFEXITED(ws) ? (char)WEXITSTATUS(ws) : 126;
        (void)!write(ready[1], &st, 1);
        close(ready[1]);
        (void)!read(hold[0], &st, 1); /* until the test is done */
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    release_fd = hold[1];
    if (holder > 0 && read(ready[0], &st, 1) == 1)
        status = (unsigned char)st;
    close(ready[0]);
    return status;
}

static struct agentproc *start_agent(void)
{
    const char *args[] = {"--sensor=ebpf", "--no-logons", NULL};
    return agentproc_start(agentproc_binary(false), args, err, sizeof(err));
}

/* The file event of path with a snippet (any of the write actions). */
static json_t *snippet_event(struct agentproc *a, const char *path)
{
    static const char *const actions[] = {"FileCreated", "FileModified", NULL};
    json_t *ev = NULL;
    for (int waited = 0; !ev && waited < 2; waited++)
        for (const char *const *ac = actions; *ac && !ev; ac++)
            ev = agentproc_wait(a, waited ? WAIT_MS : 0, "ActionType", *ac, "FolderPath", path, NULL);
    return ev;
}

static const char *text(json_t *ev, const char *name)
{
    static char buf[8192];
    return agentproc_text(ev, name, buf, sizeof(buf));
}

static void echo_into_cron_path(void)
{
    struct agentproc *a;
    json_t *ev;

    NEED_ROOT();
    a = start_agent();
    CHECK_MSG(a, "%s", err);
    CHECK_INT(run_sandboxed("echo '@reboot root /usr/lib/runtime 203.0.113.10 4444' > /etc/cron.d/awsd"), ==, 0);
    ev = snippet_event(a, "/etc/cron.d/awsd");
    CHECK_MSG(ev, "no file event for /etc/cron.d/awsd %s", agentproc_diag(a));
    CHECK_STR(text(ev, "LocationTag"), "persistence:cron");
    CHECK_STR(text(ev, "FileContentSnippet"), "@reboot root /usr/lib/runtime 203.0.113.10 4444\n");
    CHECK(json_object_get(ev, "FileContentSnippetTruncated") == NULL);
    release_holder();
    CHECK(agentproc_stop(a) == 0);
}

/* The first write is reported at once; the rest comes after a pause: the
 * event still carries both. */
static void writer_in_parts(void)
{
    struct agentproc *a;
    json_t *ev;

    NEED_ROOT();
    a = start_agent();
    CHECK_MSG(a, "%s", err);
    CHECK_INT(run_sandboxed("exec 3>/etc/cron.d/parts; echo 'SHELL=/bin/sh' >&3; sleep 0.3; "
                            "echo '*/5 * * * * root /usr/lib/runtime' >&3"),
              ==, 0);
    ev = snippet_event(a, "/etc/cron.d/parts");
    CHECK_MSG(ev, "no file event for /etc/cron.d/parts %s", agentproc_diag(a));
    CHECK_STR(text(ev, "FileContentSnippet"), "SHELL=/bin/sh\n*/5 * * * * root /usr/lib/runtime\n");
    release_holder();
    CHECK(agentproc_stop(a) == 0);
}

/* More than 4 KiB: the first 4 KiB, marked truncated. */
static void large_file_is_cut(void)
{
    struct agentproc *a;
    json_t *ev;
    const char *s;

    NEED_ROOT();
    a = start_agent();
    CHECK_MSG(a, "%s", err);
    CHECK_INT(run_sandboxed("i=0; while [ $i -lt 200 ]; do echo \"# comment line number $i of a long cron file\"; "
                            "i=$((i+1)); done > /etc/cron.d/big"),
              ==, 0);
    ev = snippet_event(a, "/etc/cron.d/big");
    CHECK_MSG(ev, "no file event for /etc/cron.d/big %s", agentproc_diag(a));
    s = text(ev, "FileContentSnippet");
    CHECK_INT(strlen(s), ==, 4096);
    CHECK(strncmp(s, "# comment line number 0 of a long cron file\n", 44) == 0);
    CHECK(json_is_true(json_object_get(ev, "FileContentSnippetTruncated")));
    release_holder();
    CHECK(agentproc_stop(a) == 0);
}

/* A writer that keeps running after writing (as the attack script does
 * with its own echo): the event comes after the delay, with the content. */
static void long_lived_writer(void)
{
    struct agentproc *a;
    json_t *ev;

    NEED_ROOT();
    a = start_agent();
    CHECK_MSG(a, "%s", err);
    CHECK_INT(run_sandboxed("exec 3>/etc/sudoers.d/99-awsd; echo 'root ALL=(ALL:ALL) NOPASSWD: ALL' >&3; "
                            "sleep 2"),
              ==, 0);
    ev = snippet_event(a, "/etc/sudoers.d/99-awsd");
    CHECK_MSG(ev, "no file event for the sudoers drop-in %s", agentproc_diag(a));
    CHECK_STR(text(ev, "LocationTag"), "security:sudoers");
    CHECK_STR(text(ev, "FileContentSnippet"), "root ALL=(ALL:ALL) NOPASSWD: ALL\n");
    release_holder();
    CHECK(agentproc_stop(a) == 0);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"echo_into_cron_path", echo_into_cron_path},
        {"writer_in_parts", writer_in_parts},
        {"large_file_is_cut", large_file_is_cut},
        {"long_lived_writer", long_lived_writer},
        {NULL, NULL},
    };
    check_set_teardown(teardown);
    return check_main("sensor_snippet", cases, argc, argv);
}
