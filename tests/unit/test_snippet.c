/*
 * test_snippet.c — file content snippets without root: which files are
 * read (never private keys or password hashes), how they are opened (no
 * symbolic link followed, only regular files, only the inode the kernel
 * reported), how much is read, and how the pipeline holds a file event
 * until its writer exits or the delay passes, then sends the complete
 * content. Files live in a temporary directory; a path ending in
 * /.ssh/authorized_keys is a persistence location wherever it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/event_encode.h"
#include "agent/pipeline.h"
#include "agent/snippet.h"
#include "check.h"
#include "common/jsonw.h"

#define TICK 10000000ull
#define WRITER 3999001u /* a pid that does not exist: the file is read in the agent's own tree */

static char dir[64], keys[128];
static json_t *events;

static void teardown(void)
{
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
        dir[0] = '\0';
    }
}

static bool make_dir(void)
{
    char ssh[96];
    snprintf(dir, sizeof(dir), "/tmp/yamori-snippet-XXXXXX");
    if (!mkdtemp(dir))
        return false;
    snprintf(ssh, sizeof(ssh), "%s/.ssh", dir);
    snprintf(keys, sizeof(keys), "%s/.ssh/authorized_keys", dir);
    return mkdir(ssh, 0700) == 0;
}

static bool put(const char *path, const char *text, const char *mode)
{
    FILE *f = fopen(path, mode);
    bool ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = false;
    return ok;
}

/* ------------------------------------------------------------------ the policy */

static void wanted_locations(void)
{
    CHECK(snippet_wanted("/etc/cron.d/awsd", "persistence:cron"));
    CHECK(snippet_wanted("/etc/systemd/system/awsd.service", "persistence:systemd"));
    CHECK(snippet_wanted("/root/.ssh/authorized_keys", "persistence:ssh-key"));
    CHECK(snippet_wanted("/etc/sudoers.d/99-awsd", "security:sudoers"));
    CHECK(snippet_wanted("/etc/yamori/exclusions.conf", "agent:config"));
    CHECK(snippet_wanted("/etc/ssh/ssh_host_ed25519_key.pub", "security:ssh"));
    /* never secrets */
    CHECK(!snippet_wanted("/etc/shadow", "security:accounts"));
    CHECK(!snippet_wanted("/etc/gshadow-", "security:accounts"));
    CHECK(!snippet_wanted("/etc/security/opasswd", "security:pam"));
    CHECK(!snippet_wanted("/etc/ssh/ssh_host_ed25519_key", "security:ssh"));
    CHECK(!snippet_wanted("/etc/yamori/agent.key", "agent:config"));
    CHECK(!snippet_wanted("/etc/yamori/client.pem", "agent:config"));
    /* not a location whose content tells anything */
    CHECK(!snippet_wanted("/tmp/x", "temp"));
    CHECK(!snippet_wanted("/var/lib/yamori/spool/1", "agent:state"));
    CHECK(!snippet_wanted("/usr/lib/runtime", NULL));
    CHECK(!snippet_wanted("relative/path", "persistence:cron"));
}

/* ------------------------------------------------------------------ opening and reading */

static void opens_only_regular_files(void)
{
    char link[128], fifo[128], viadir[160], linkdir[128];
    struct stat sb;
    int fd;

    CHECK(make_dir());
    CHECK(put(keys, "ssh-ed25519 AAAA k@h\n", "w"));
    CHECK(stat(keys, &sb) == 0);
    fd = snippet_open("/proc", 0, 0, keys, sb.st_ino, ((uint32_t)major(sb.st_dev) << 20) | minor(sb.st_dev));
    CHECK_MSG(fd >= 0, "%s", strerror(-fd));
    close(fd);
    /* another inode than the kernel reported: not read */
    CHECK_INT(snippet_open("/proc", 0, 0, keys, sb.st_ino + 1, 0), ==, -ESTALE);
    /* a symbolic link, as the last component or on the way */
    snprintf(link, sizeof(link), "%s/link", dir);
    CHECK(symlink(keys, link) == 0);
    CHECK_INT(snippet_open("/proc", 0, 0, link, 0, 0), ==, -ELOOP);
    snprintf(linkdir, sizeof(linkdir), "%s/sshlink", dir);
    CHECK(symlink(".ssh", linkdir) == 0);
    snprintf(viadir, sizeof(viadir), "%s/authorized_keys", linkdir);
    CHECK_INT(snippet_open("/proc", 0, 0, viadir, 0, 0), ==, -ELOOP);
    /* a fifo would block a reader forever: refused, not read */
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK_INT(snippet_open("/proc", 0, 0, fifo, 0, 0), ==, -EINVAL);
    CHECK_INT(snippet_open("/proc", 0, 0, dir, 0, 0), ==, -EINVAL);
    CHECK_INT(snippet_open("/proc", 0, 0, "/nonexistent/x", 0, 0), ==, -ENOENT);
    CHECK_INT(snippet_open("/proc", 0, 0, "relative", 0, 0), ==, -EINVAL);
    /* through the root of a live process: this one */
    fd = snippet_open("/proc", (uint32_t)getpid(), 0, keys, sb.st_ino, 0);
    CHECK_MSG(fd >= 0, "%s", strerror(-fd));
    close(fd);
}

static void reads_at_most_4k(void)
{
    static char big[6000], buf[SNIPPET_MAX];
    char path[128];
    size_t len;
    bool more;
    int fd;

    CHECK(make_dir());
    snprintf(path, sizeof(path), "%s/f", dir);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(put(path, big, "w"));
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    CHECK_INT(snippet_read(fd, buf, &len, &more), ==, 0);
    CHECK_INT(len, ==, SNIPPET_MAX);
    CHECK(more);
    close(fd);
    big[SNIPPET_MAX] = '\0'; /* exactly 4 KiB: complete */
    CHECK(put(path, big, "w"));
    fd = open(path, O_RDONLY);
    CHECK_INT(snippet_read(fd, buf, &len, &more), ==, 0);
    CHECK_INT(len, ==, SNIPPET_MAX);
    CHECK(!more);
    close(fd);
    CHECK(put(path, "", "w"));
    fd = open(path, O_RDONLY);
    CHECK_INT(snippet_read(fd, buf, &len, &more), ==, 0);
    CHECK_INT(len, ==, 0);
    CHECK(!more);
    close(fd);
}

/* ------------------------------------------------------------------ the pipeline holds the event */

static void collect(void *ctx, struct yam_event *ev)
{
    struct jsonw w;
    struct tlv_buf b;
    (void)ctx;
    jsonw_init(&w);
    tlv_init(&b);
    event_encode(&b, ev, "testhost", 0);
    if (tlv_to_json(b.data, b.len, &w, true) == 0)
        json_array_append_new(events, json_loadb(w.buf, w.len, 0, NULL));
    jsonw_free(&w);
    tlv_free(&b);
}

static struct pipeline *new_pipeline(void)
{
    struct pipeline_options o = {.boot_id = "0badc0de-1111", .device_name = "testhost", .proc_root = "/proc",
                                 .file_snippets = true};
    struct pipeline *p = NULL;
    char err[256];

    json_decref(events);
    events = json_array();
    return pipeline_new(&p, &o, collect, NULL, err, sizeof(err)) == 0 ? p : NULL;
}

struct rec {
    uint8_t b[YS_RECORD_MAX] __attribute__((aligned(8)));
    uint32_t len;
};

static void rec_init(struct rec *r, uint16_t type, size_t fixed, uint64_t ts)
{
    struct ys_hdr *h = (struct ys_hdr *)r->b;
    memset(r, 0, sizeof(*r));
    h->type = type;
    h->version = YS_ABI_VERSION;
    h->source = YS_SRC_EBPF;
    h->ts_ns = ts;
    h->task.tgid = h->task.tid = WRITER;
    h->task.start_ns = 30 * TICK;
    h->task.loginuid = h->task.sessionid = (uint32_t)-1;
    r->len = (uint32_t)fixed;
}

static void feed(struct pipeline *p, struct rec *r)
{
    ((struct ys_hdr *)r->b)->size = (uint16_t)r->len;
    pipeline_on_record(p, r->b, r->len);
}

/* A FILE_CREATE (or type) record for path at ts with the file's inode. */
static void file_rec(struct rec *r, uint16_t type, const char *path, uint64_t ts, bool right_inode)
{
    struct ys_file *f = (struct ys_file *)r->b;
    struct stat sb;
    rec_init(r, type, sizeof(*f), ts);
    if (stat(path, &sb) == 0) {
        f->ino = right_inode ? sb.st_ino : sb.st_ino + 7;
        f->dev = ((uint32_t)major(sb.st_dev) << 20) | minor(sb.st_dev);
    }
    memcpy(r->b + r->len, path, strlen(path));
    f->path.off = (uint16_t)r->len;
    f->path.len = (uint16_t)strlen(path);
    r->len += (uint32_t)strlen(path);
}

static json_t *file_event(const char *action)
{
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
        if (strcmp(json_string_value(json_object_get(e, "ActionType")), action) == 0)
            return e;
    return NULL;
}

static const char *text(json_t *e, const char *k)
{
    const char *s = json_string_value(json_object_get(e, k));
    return s ? s : "(absent)";
}

static void held_until_writer_exits(void)
{
    struct pipeline *p;
    struct rec r;
    struct ys_exit *x = (struct ys_exit *)r.b;
    json_t *e;

    CHECK(make_dir());
    CHECK(put(keys, "ssh-ed25519 AAAAfirst admin@laptop\n", "w"));
    p = new_pipeline();
    CHECK(p);
    /* the record comes at the first write ... */
    file_rec(&r, YS_FILE_MODIFY, keys, 1000 * TICK, true);
    feed(p, &r);
    CHECK_INT(json_array_size(events), ==, 0);
    /* ... the writer goes on writing, then exits */
    CHECK(put(keys, "ssh-ed25519 AAAAsecond awsd@c2\n", "a"));
    rec_init(&r, YS_PROC_EXIT, sizeof(*x), 1000 * TICK + 1000);
    feed(p, &r);
    e = file_event("FileModified");
    CHECK_MSG(e, "no FileModified after the writer's exit");
    CHECK_STR(text(e, "LocationTag"), "persistence:ssh-key");
    CHECK_STR(text(e, "FileContentSnippet"), "ssh-ed25519 AAAAfirst admin@laptop\nssh-ed25519 AAAAsecond awsd@c2\n");
    CHECK(!json_object_get(e, "FileContentSnippetTruncated"));
    /* the file event comes before the exit */
    CHECK_STR(text(json_array_get(events, 0), "ActionType"), "FileModified");
    CHECK_STR(text(json_array_get(events, 1), "ActionType"), "ProcessExited");
    pipeline_free(p);
}

static void held_at_most_the_delay(void)
{
    struct pipeline *p;
    struct rec r;
    struct pipeline_stats stats;
    json_t *e;

    CHECK(make_dir());
    CHECK(put(keys, "ssh-ed25519 AAAAlong awsd@c2\n", "w"));
    p = new_pipeline();
    CHECK(p);
    file_rec(&r, YS_FILE_CREATE, keys, 1000 * TICK, true);
    feed(p, &r);
    CHECK_INT(json_array_size(events), ==, 0);
    /* a record from before the delay ran out changes nothing ... */
    file_rec(&r, YS_FILE_DELETE, "/tmp/other", 1000 * TICK + SNIPPET_DELAY_NS - 1, true);
    feed(p, &r);
    CHECK(!file_event("FileCreated"));
    /* ... one from after it releases the event */
    file_rec(&r, YS_FILE_DELETE, "/tmp/other", 1000 * TICK + SNIPPET_DELAY_NS, true);
    feed(p, &r);
    e = file_event("FileCreated");
    CHECK_MSG(e, "the held event did not come out after the delay");
    CHECK_STR(text(e, "FileContentSnippet"), "ssh-ed25519 AAAAlong awsd@c2\n");
    /* an event whose file is not the one the kernel saw goes at once, without content */
    json_array_clear(events);
    file_rec(&r, YS_FILE_CREATE, keys, 2000 * TICK, false);
    feed(p, &r);
    e = file_event("FileCreated");
    CHECK_MSG(e, "an unreadable file held its event");
    CHECK(!json_object_get(e, "FileContentSnippet"));
    /* pipeline_flush: whatever waits goes out (at shutdown) */
    json_array_clear(events);
    file_rec(&r, YS_FILE_MODIFY, keys, 3000 * TICK, true);
    feed(p, &r);
    CHECK_INT(json_array_size(events), ==, 0);
    pipeline_flush(p);
    CHECK(file_event("FileModified"));
    pipeline_get_stats(p, &stats);
    CHECK_INT(stats.snippets, ==, 2);
    CHECK_INT(stats.snippets_unread, ==, 1);
    pipeline_free(p);
}

/* More waiting events than the bound: the oldest go out, none is lost. */
static void bounded_queue(void)
{
    struct pipeline *p;
    struct rec r;

    CHECK(make_dir());
    CHECK(put(keys, "ssh-ed25519 AAAA x@y\n", "w"));
    p = new_pipeline();
    CHECK(p);
    for (unsigned i = 0; i < SNIPPET_PENDING_MAX + 10; i++) {
        file_rec(&r, YS_FILE_MODIFY, keys, 1000 * TICK + i, true);
        feed(p, &r);
    }
    CHECK_INT(json_array_size(events), ==, 10);
    pipeline_free(p); /* closes what still waits */
    p = new_pipeline();
    CHECK(p);
    for (unsigned i = 0; i < SNIPPET_PENDING_MAX + 10; i++) {
        file_rec(&r, YS_FILE_MODIFY, keys, 1000 * TICK + i, true);
        feed(p, &r);
    }
    pipeline_flush(p);
    CHECK_INT(json_array_size(events), ==, SNIPPET_PENDING_MAX + 10);
    pipeline_free(p);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        {"wanted_locations", wanted_locations},
        {"opens_only_regular_files", opens_only_regular_files},
        {"reads_at_most_4k", reads_at_most_4k},
        {"held_until_writer_exits", held_until_writer_exits},
        {"held_at_most_the_delay", held_at_most_the_delay},
        {"bounded_queue", bounded_queue},
        {NULL, NULL},
    };
    int rc;

    check_set_teardown(teardown);
    rc = check_main("snippet", cases, argc, argv);
    json_decref(events);
    return rc;
}
